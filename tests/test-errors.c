/*
 * test-errors.c - error codes and their names, and bad arguments: NULL
 * pointers, zeroed (never initialised) handles, closed handles, to every
 * function that takes them.  A bad argument gives a negative errno (or, for
 * functions without a status, a neutral value); it never crashes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"

/* ---- error codes -------------------------------------------------------------- */

START_TEST(errors_codes_and_names) {
  char buf[64];

  /* Every code of the map: the negative errno, its name, its message. */
#define XX(name, msg)                                                         \
  ck_assert_int_eq(LURE_##name, -LURE__##name);                               \
  ck_assert_str_eq(lure_err_name(LURE_##name), #name);                        \
  ck_assert_str_eq(lure_strerror(LURE_##name), msg);                          \
  ck_assert_str_eq(lure_err_name_r(LURE_##name, buf, sizeof(buf)), #name);    \
  ck_assert_str_eq(lure_strerror_r(LURE_##name, buf, sizeof(buf)), msg);
  LURE_ERRNO_MAP(XX)
#undef XX

  ck_assert_int_eq(LURE_EINVAL, -EINVAL);
  ck_assert_int_eq(LURE_ENOTTY, -ENOTTY);
  ck_assert_int_eq(LURE_ESHUTDOWN, -ESHUTDOWN);
  /* libuv's numbers for the codes that are not errno values. */
  ck_assert_int_eq(LURE_EAI_ADDRFAMILY, -3000);
  ck_assert_int_eq(LURE_EAI_SOCKTYPE, -3011);
  ck_assert_int_eq(LURE_EAI_BADHINTS, -3013);
  ck_assert_int_eq(LURE_EAI_PROTOCOL, -3014);
  ck_assert_int_eq(LURE_ECHARSET, -4080);
  ck_assert_int_eq(LURE_EFTYPE, -4028);
  ck_assert_int_eq(LURE_UNKNOWN, -4094);
  ck_assert_str_eq(lure_err_name(LURE_EAI_NONAME), "EAI_NONAME");
  ck_assert_str_eq(lure_err_name(LURE_EINVAL), "EINVAL");
  ck_assert_str_eq(lure_strerror(LURE_EINVAL), "invalid argument");
  ck_assert_str_eq(lure_err_name(LURE_ENOENT), "ENOENT");
  ck_assert_int_eq(LURE_EOF, -4095);
  ck_assert_str_eq(lure_err_name(LURE_EOF), "EOF");
  ck_assert_str_eq(lure_strerror(LURE_EOF), "end of file");
}
END_TEST

START_TEST(errors_unknown_codes) {
  static const int unknown[] = { -9999, 12345, -1000000, 1, -4093, -4096 };
  char buf[64], num[32];
  size_t i;

  for (i = 0; i < LT_ARRAY_SIZE(unknown); i++) {
    const char *name = lure_err_name(unknown[i]);
    const char *msg = lure_strerror(unknown[i]);

    ck_assert_ptr_nonnull(name);
    ck_assert_ptr_nonnull(msg);
    ck_assert_int_gt((int) strlen(name), 0);
    ck_assert_int_gt((int) strlen(msg), 0);
    ck_assert_str_ne(name, "EINVAL");
    ck_assert_str_ne(msg, "invalid argument");
    /* With a buffer, an unknown code is named with its number (libuv's
     * "Unknown system error N"). */
    snprintf(num, sizeof(num), "%d", unknown[i]);
    ck_assert_ptr_eq(lure_err_name_r(unknown[i], buf, sizeof(buf)), buf);
    ck_assert_ptr_nonnull(strstr(buf, num));
    ck_assert_ptr_eq(lure_strerror_r(unknown[i], buf, sizeof(buf)), buf);
    ck_assert_ptr_nonnull(strstr(buf, num));
  }
}
END_TEST

/* The _r variants truncate to the buffer, always terminate, and never write
 * past buflen. */
START_TEST(errors_r_truncation) {
  char buf[16];

  memset(buf, 'Z', sizeof(buf));
  ck_assert_ptr_eq(lure_strerror_r(LURE_EINVAL, buf, 5), buf);
  ck_assert_str_eq(buf, "inva");
  ck_assert_int_eq(buf[5], 'Z');

  memset(buf, 'Z', sizeof(buf));
  ck_assert_ptr_eq(lure_err_name_r(LURE_EINVAL, buf, 4), buf);
  ck_assert_str_eq(buf, "EIN");
  ck_assert_int_eq(buf[4], 'Z');

  memset(buf, 'Z', sizeof(buf));
  lure_strerror_r(LURE_EINVAL, buf, 1);
  ck_assert_int_eq(buf[0], '\0');
  ck_assert_int_eq(buf[1], 'Z');

  /* buflen 0: nothing written at all. */
  memset(buf, 'Z', sizeof(buf));
  lure_strerror_r(LURE_EINVAL, buf, 0);
  lure_err_name_r(LURE_EINVAL, buf, 0);
  ck_assert_int_eq(buf[0], 'Z');

  /* Exactly fitting. */
  memset(buf, 'Z', sizeof(buf));
  lure_err_name_r(LURE_EINVAL, buf, 7);
  ck_assert_str_eq(buf, "EINVAL");
  ck_assert_int_eq(buf[7], 'Z');

  /* NULL buffer: no crash. */
  lure_strerror_r(LURE_EINVAL, NULL, 10);
  lure_err_name_r(LURE_EINVAL, NULL, 10);
}
END_TEST

/* ---- NULL everywhere ------------------------------------------------------------- */

static void dummy_walk_cb(lure_handle_t *h, void *arg) { (void) h; (void) arg; }
static void dummy_timer_cb(lure_timer_t *h) { (void) h; }
static void dummy_idle_cb(lure_idle_t *h) { (void) h; }
static void dummy_prepare_cb(lure_prepare_t *h) { (void) h; }
static void dummy_check_cb(lure_check_t *h) { (void) h; }
static void dummy_async_cb(lure_async_t *h) { (void) h; }
static void dummy_signal_cb(lure_signal_t *h, int s) { (void) h; (void) s; }
static void dummy_poll_cb(lure_poll_t *h, int s, int e) { (void) h; (void) s; (void) e; }
static void dummy_work_cb(lure_work_t *r) { (void) r; }
static void dummy_after_cb(lure_work_t *r, int s) { (void) r; (void) s; }

START_TEST(errors_null_loop) {
  lure_loop_stats_t st;
  lure_timer_t t;
  lure_idle_t i;
  lure_prepare_t p;
  lure_check_t c;
  lure_async_t a;
  lure_signal_t s;
  lure_poll_t po;
  lure_work_t w;

  ck_assert_int_eq(lure_loop_init(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_close(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(NULL, LURE_LOOP_RING_ENTRIES, 8u), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_alive(NULL), 0);
  ck_assert_int_eq(lure_run(NULL, LURE_RUN_DEFAULT), LURE_EINVAL);
  ck_assert_int_eq(lure_run(NULL, LURE_RUN_NOWAIT), LURE_EINVAL);
  lure_stop(NULL);
  ck_assert_uint_eq(lure_now(NULL), 0);
  lure_update_time(NULL);
  ck_assert_int_lt(lure_backend_timeout(NULL), 0);
  ck_assert_int_lt(lure_backend_fd(NULL), 0);
  (void) lure_loop_backend(NULL);
  ck_assert_int_eq(lure_loop_stats(NULL, &st), LURE_EINVAL);
  lure_walk(NULL, dummy_walk_cb, NULL);
  ck_assert_int_eq(lure_loop_fork(NULL), LURE_EINVAL);

  ck_assert_int_eq(lure_timer_init(NULL, &t), LURE_EINVAL);
  ck_assert_int_eq(lure_idle_init(NULL, &i), LURE_EINVAL);
  ck_assert_int_eq(lure_prepare_init(NULL, &p), LURE_EINVAL);
  ck_assert_int_eq(lure_check_init(NULL, &c), LURE_EINVAL);
  ck_assert_int_eq(lure_async_init(NULL, &a, dummy_async_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_init(NULL, &s), LURE_EINVAL);
  ck_assert_int_eq(lure_poll_init(NULL, &po, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_queue_work(NULL, &w, dummy_work_cb, dummy_after_cb),
                   LURE_EINVAL);
}
END_TEST

/* A loop that was closed (or never initialised: zeroed memory) is refused. */
START_TEST(errors_closed_loop) {
  lure_loop_t loop;
  lure_loop_t zero;
  lure_loop_stats_t st;
  lure_timer_t t;
  lure_work_t w;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_loop_close(&loop), 0);
  memset(&zero, 0, sizeof(zero));
  {
    lure_loop_t *bad[2] = { &loop, &zero };
    int k;

    for (k = 0; k < 2; k++) {
      ck_assert_int_eq(lure_loop_close(bad[k]), LURE_EINVAL);
      ck_assert_int_eq(lure_run(bad[k], LURE_RUN_NOWAIT), LURE_EINVAL);
      ck_assert_int_eq(lure_loop_alive(bad[k]), 0);
      ck_assert_int_eq(lure_loop_stats(bad[k], &st), LURE_EINVAL);
      ck_assert_int_eq(lure_loop_configure(bad[k], LURE_LOOP_BACKEND, "epoll"),
                       LURE_EINVAL);
      ck_assert_int_eq(lure_loop_fork(bad[k]), LURE_EINVAL);
      ck_assert_int_eq(lure_timer_init(bad[k], &t), LURE_EINVAL);
      ck_assert_int_eq(lure_queue_work(bad[k], &w, dummy_work_cb, NULL),
                       LURE_EINVAL);
      lure_stop(bad[k]);
      lure_update_time(bad[k]);
      lure_walk(bad[k], dummy_walk_cb, NULL);
    }
  }
}
END_TEST

START_TEST(errors_null_handle) {
  lure_loop_t loop;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_close(NULL, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_is_active(NULL), 0);
  ck_assert_int_eq(lure_is_closing(NULL), 0);
  lure_ref(NULL);
  lure_unref(NULL);
  ck_assert_int_eq(lure_has_ref(NULL), 0);
  (void) lure_handle_get_type(NULL);
  ck_assert_ptr_null(lure_handle_get_loop(NULL));
  ck_assert_ptr_null(lure_handle_get_data(NULL));
  lure_handle_set_data(NULL, &loop);

  ck_assert_int_eq(lure_timer_init(&loop, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_timer_start(NULL, dummy_timer_cb, 1, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_timer_stop(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_timer_again(NULL), LURE_EINVAL);
  lure_timer_set_repeat(NULL, 5);
  ck_assert_uint_eq(lure_timer_get_repeat(NULL), 0);
  ck_assert_uint_eq(lure_timer_get_due_in(NULL), 0);

  ck_assert_int_eq(lure_idle_init(&loop, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_idle_start(NULL, dummy_idle_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_idle_stop(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_prepare_init(&loop, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_prepare_start(NULL, dummy_prepare_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_prepare_stop(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_check_init(&loop, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_check_start(NULL, dummy_check_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_check_stop(NULL), LURE_EINVAL);

  ck_assert_int_eq(lure_async_init(&loop, NULL, dummy_async_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_async_send(NULL), LURE_EINVAL);

  ck_assert_int_eq(lure_signal_init(&loop, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start(NULL, dummy_signal_cb, SIGUSR1), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start_oneshot(NULL, dummy_signal_cb, SIGUSR1),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_signal_stop(NULL), LURE_EINVAL);

  ck_assert_int_eq(lure_poll_init(&loop, NULL, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_poll_start(NULL, LURE_READABLE, dummy_poll_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_poll_stop(NULL), LURE_EINVAL);

  ck_assert_int_eq(lure_queue_work(&loop, NULL, dummy_work_cb, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_cancel(NULL), LURE_EINVAL);
  ck_assert_ptr_null(lure_req_executor(NULL));

  lure_walk(&loop, NULL, NULL);
  ck_assert_int_eq(lure_loop_stats(&loop, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(errors_null_callbacks) {
  lure_loop_t loop;
  lure_timer_t t;
  lure_idle_t i;
  lure_prepare_t p;
  lure_check_t c;
  lure_signal_t s;
  lure_poll_t po;
  lure_work_t w;
  int fds[2];

  ck_assert_int_eq(pipe(fds), 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &i), 0);
  ck_assert_int_eq(lure_prepare_init(&loop, &p), 0);
  ck_assert_int_eq(lure_check_init(&loop, &c), 0);
  ck_assert_int_eq(lure_signal_init(&loop, &s), 0);
  ck_assert_int_eq(lure_poll_init(&loop, &po, fds[0]), 0);
  ck_assert_int_eq(lure_timer_start(&t, NULL, 0, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_idle_start(&i, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_prepare_start(&p, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_check_start(&c, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start(&s, NULL, SIGUSR1), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start_oneshot(&s, NULL, SIGUSR1), LURE_EINVAL);
  ck_assert_int_eq(lure_poll_start(&po, LURE_READABLE, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_queue_work(&loop, &w, NULL, dummy_after_cb), LURE_EINVAL);
  /* A failed call leaves nothing active behind. */
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  lt_loop_finish(&loop);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

/* Handles that were never initialised (zeroed memory) are refused. */
START_TEST(errors_zeroed_handles) {
  lure_timer_t t;
  lure_idle_t i;
  lure_prepare_t p;
  lure_check_t c;
  lure_async_t a;
  lure_signal_t s;
  lure_poll_t po;
  lure_work_t w;

  memset(&t, 0, sizeof(t));
  memset(&i, 0, sizeof(i));
  memset(&p, 0, sizeof(p));
  memset(&c, 0, sizeof(c));
  memset(&a, 0, sizeof(a));
  memset(&s, 0, sizeof(s));
  memset(&po, 0, sizeof(po));
  memset(&w, 0, sizeof(w));
  ck_assert_int_eq(lure_close((lure_handle_t *) &t, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_timer_start(&t, dummy_timer_cb, 1, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_timer_stop(&t), LURE_EINVAL);
  ck_assert_int_eq(lure_timer_again(&t), LURE_EINVAL);
  ck_assert_int_eq(lure_idle_start(&i, dummy_idle_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_idle_stop(&i), LURE_EINVAL);
  ck_assert_int_eq(lure_prepare_start(&p, dummy_prepare_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_prepare_stop(&p), LURE_EINVAL);
  ck_assert_int_eq(lure_check_start(&c, dummy_check_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_check_stop(&c), LURE_EINVAL);
  ck_assert_int_eq(lure_async_send(&a), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start(&s, dummy_signal_cb, SIGUSR1), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_stop(&s), LURE_EINVAL);
  ck_assert_int_eq(lure_poll_start(&po, LURE_READABLE, dummy_poll_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_poll_stop(&po), LURE_EINVAL);
  ck_assert_int_lt(lure_cancel((lure_req_t *) &w), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &t), 0);
  ck_assert_int_eq(lure_is_closing((lure_handle_t *) &t), 0);
}
END_TEST

/* Every operation on a closing, then closed, handle: LURE_EINVAL, and no
 * callback ever. */
static void never_cb_timer(lure_timer_t *h) { ck_abort_msg("timer cb on closed"); }
static void never_cb_idle(lure_idle_t *h) { ck_abort_msg("idle cb on closed"); }
static void never_cb_prepare(lure_prepare_t *h) { ck_abort_msg("prepare cb on closed"); }
static void never_cb_check(lure_check_t *h) { ck_abort_msg("check cb on closed"); }
static void never_cb_async(lure_async_t *h) { ck_abort_msg("async cb on closed"); }
static void never_cb_signal(lure_signal_t *h, int s) { ck_abort_msg("signal cb on closed"); }
static void never_cb_poll(lure_poll_t *h, int s, int e) { ck_abort_msg("poll cb on closed"); }

static int closed_cbs;
static void count_close(lure_handle_t *h) { closed_cbs++; }

START_TEST(errors_closed_handles) {
  lure_loop_t loop;
  lure_timer_t t;
  lure_idle_t i;
  lure_prepare_t p;
  lure_check_t c;
  lure_async_t a;
  lure_signal_t s;
  lure_poll_t po;
  lure_handle_t *all[7];
  int fds[2];
  int round;
  int k;

  closed_cbs = 0;
  ck_assert_int_eq(pipe(fds), 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &i), 0);
  ck_assert_int_eq(lure_prepare_init(&loop, &p), 0);
  ck_assert_int_eq(lure_check_init(&loop, &c), 0);
  ck_assert_int_eq(lure_async_init(&loop, &a, never_cb_async), 0);
  ck_assert_int_eq(lure_signal_init(&loop, &s), 0);
  ck_assert_int_eq(lure_poll_init(&loop, &po, fds[0]), 0);
  all[0] = (lure_handle_t *) &t;
  all[1] = (lure_handle_t *) &i;
  all[2] = (lure_handle_t *) &p;
  all[3] = (lure_handle_t *) &c;
  all[4] = (lure_handle_t *) &a;
  all[5] = (lure_handle_t *) &s;
  all[6] = (lure_handle_t *) &po;
  /* Close them while started. */
  ck_assert_int_eq(lure_timer_start(&t, never_cb_timer, 0, 0), 0);
  ck_assert_int_eq(lure_idle_start(&i, never_cb_idle), 0);
  ck_assert_int_eq(lure_poll_start(&po, LURE_READABLE, never_cb_poll), 0);
  ck_assert_int_eq(write(fds[1], "x", 1), 1);
  ck_assert_int_eq(lure_async_send(&a), 0);
  for (k = 0; k < 7; k++)
    ck_assert_int_eq(lure_close(all[k], count_close), 0);

  for (round = 0; round < 2; round++) {
    /* round 0: closing; round 1: closed (close callbacks ran). */
    for (k = 0; k < 7; k++) {
      ck_assert_int_eq(lure_close(all[k], count_close), LURE_EINVAL);
      ck_assert_int_eq(lure_is_active(all[k]), 0);
      ck_assert_int_ne(lure_is_closing(all[k]), 0);
    }
    ck_assert_int_eq(lure_timer_start(&t, never_cb_timer, 0, 0), LURE_EINVAL);
    ck_assert_int_eq(lure_timer_again(&t), LURE_EINVAL);
    ck_assert_int_eq(lure_idle_start(&i, never_cb_idle), LURE_EINVAL);
    ck_assert_int_eq(lure_prepare_start(&p, never_cb_prepare), LURE_EINVAL);
    ck_assert_int_eq(lure_check_start(&c, never_cb_check), LURE_EINVAL);
    /* Closing or closed: a send does nothing and succeeds, as in libuv. */
    ck_assert_int_eq(lure_async_send(&a), 0);
    ck_assert_int_eq(lure_signal_start(&s, never_cb_signal, SIGUSR1), LURE_EINVAL);
    ck_assert_int_eq(lure_signal_start_oneshot(&s, never_cb_signal, SIGUSR1),
                     LURE_EINVAL);
    ck_assert_int_eq(lure_poll_start(&po, LURE_READABLE, never_cb_poll), LURE_EINVAL);
    ck_assert_int_eq(!!lure_loop_alive(&loop), round == 0);
    ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
    ck_assert_int_eq(closed_cbs, 7);
  }
  ck_assert_int_eq(lure_loop_close(&loop), 0);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

LT_SUITE(errors) {
  Suite *s = suite_create("errors");
  TCase *tc = lt_tcase("errors", 20);

  tcase_add_test(tc, errors_codes_and_names);
  tcase_add_test(tc, errors_unknown_codes);
  tcase_add_test(tc, errors_r_truncation);
  tcase_add_test(tc, errors_null_loop);
  tcase_add_test(tc, errors_closed_loop);
  tcase_add_test(tc, errors_null_handle);
  tcase_add_test(tc, errors_null_callbacks);
  tcase_add_test(tc, errors_zeroed_handles);
  tcase_add_test(tc, errors_closed_handles);
  suite_add_tcase(s, tc);
  return s;
}
