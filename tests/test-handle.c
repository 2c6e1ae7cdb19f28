/*
 * test-handle.c - what all handles share (close, active, ref, type, data)
 * and the idle, prepare and check watchers.
 */
#include <fcntl.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include "harness.h"

static int close_calls;
static lure_handle_t *closed_last;

static void count_close_cb(lure_handle_t *h) {
  close_calls++;
  closed_last = h;
  /* In its close callback a handle is closing (closed), not active. */
  ck_assert_int_ne(lure_is_closing(h), 0);
  ck_assert_int_eq(lure_is_active(h), 0);
}

/* The close callback runs once, in the closing phase, never from inside
 * lure_close(); the handle may be active when closed. */
/* lure_guess_handle: libuv's answer for each kind of descriptor. */
START_TEST(handle_guess) {
  int fds[2], s;
  int master, slave;
  char path[] = "/tmp/lure-guess-XXXXXX";
  int f = mkstemp(path);

  ck_assert_int_ge(f, 0);
  unlink(path);
  ck_assert_int_eq(lure_guess_handle(f), LURE_FILE);
  close(f);
  ck_assert_int_eq(lure_guess_handle(f), LURE_UNKNOWN_HANDLE);
  ck_assert_int_eq(lure_guess_handle(-1), LURE_UNKNOWN_HANDLE);
  f = open("/dev/null", O_RDONLY);
  ck_assert_int_eq(lure_guess_handle(f), LURE_FILE);
  close(f);
  f = open("/tmp", O_RDONLY | O_DIRECTORY);
  ck_assert_int_eq(lure_guess_handle(f), LURE_UNKNOWN_HANDLE);
  close(f);
  ck_assert_int_eq(pipe(fds), 0);
  ck_assert_int_eq(lure_guess_handle(fds[0]), LURE_NAMED_PIPE);
  ck_assert_int_eq(lure_guess_handle(fds[1]), LURE_NAMED_PIPE);
  close(fds[0]);
  close(fds[1]);
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ck_assert_int_eq(lure_guess_handle(fds[0]), LURE_NAMED_PIPE);
  close(fds[0]);
  close(fds[1]);
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
  ck_assert_int_eq(lure_guess_handle(fds[0]), LURE_UNKNOWN_HANDLE);
  close(fds[0]);
  close(fds[1]);
  s = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_eq(lure_guess_handle(s), LURE_TCP);
  close(s);
  s = socket(AF_INET6, SOCK_STREAM, 0);
  if (s >= 0) {
    ck_assert_int_eq(lure_guess_handle(s), LURE_TCP);
    close(s);
  }
  s = socket(AF_INET, SOCK_DGRAM, 0);
  ck_assert_int_eq(lure_guess_handle(s), LURE_UDP);
  close(s);
  if (openpty(&master, &slave, NULL, NULL, NULL) == 0) {
    ck_assert_int_eq(lure_guess_handle(slave), LURE_TTY);
    close(master);
    close(slave);
  }
}
END_TEST

START_TEST(handle_close) {
  lure_loop_t loop;
  lure_idle_t idle;
  lure_timer_t timer;

  close_calls = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_is_closing((lure_handle_t *) &idle), 0);
  ck_assert_int_eq(lure_close((lure_handle_t *) &idle, count_close_cb), 0);
  ck_assert_int_eq(close_calls, 0);
  ck_assert_int_ne(lure_is_closing((lure_handle_t *) &idle), 0);

  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_timer_start(&timer, NULL, 1, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(close_calls, 1);
  ck_assert_ptr_eq(closed_last, (lure_handle_t *) &idle);
  ck_assert_int_ne(lure_is_closing((lure_handle_t *) &idle), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(close_calls, 1);
  lt_loop_finish(&loop);
}
END_TEST

static void never_timer_cb(lure_timer_t *h) {
  ck_abort_msg("a timer closed while active fired");
}
static void never_idle_cb(lure_idle_t *h) {
  ck_abort_msg("an idle handle closed while active ran");
}

/* Closing an active handle stops it: no callback after lure_close(). */
START_TEST(handle_close_active) {
  lure_loop_t loop;
  lure_idle_t idle;
  lure_timer_t timer;

  close_calls = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_idle_start(&idle, never_idle_cb), 0);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_timer_start(&timer, never_timer_cb, 0, 0), 0);
  ck_assert_int_eq(lure_close((lure_handle_t *) &idle, count_close_cb), 0);
  ck_assert_int_eq(lure_close((lure_handle_t *) &timer, count_close_cb), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &idle), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &timer), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(close_calls, 2);
  ck_assert_int_eq(lure_loop_close(&loop), 0);
}
END_TEST

static void reclose_cb(lure_handle_t *h) {
  close_calls++;
  /* A closed handle cannot be closed again, not even from its callback. */
  ck_assert_int_eq(lure_close(h, count_close_cb), LURE_EINVAL);
}

START_TEST(handle_double_close) {
  lure_loop_t loop;
  lure_check_t check;

  close_calls = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_check_init(&loop, &check), 0);
  ck_assert_int_eq(lure_close((lure_handle_t *) &check, reclose_cb), 0);
  ck_assert_int_eq(lure_close((lure_handle_t *) &check, reclose_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(close_calls, 1);
  ck_assert_int_eq(lure_close((lure_handle_t *) &check, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(close_calls, 1);
  lt_loop_finish(&loop);
}
END_TEST

/* Handles closed by close callbacks are closed on a later tick. */
static lure_idle_t chain[3];
static void chain_close_cb(lure_handle_t *h) {
  int i = (int) (intptr_t) h->data;

  close_calls++;
  if (i + 1 < 3)
    ck_assert_int_eq(lure_close((lure_handle_t *) &chain[i + 1], chain_close_cb), 0);
}

START_TEST(handle_close_from_close_cb) {
  lure_loop_t loop;
  int i;

  close_calls = 0;
  lt_loop_init(&loop);
  for (i = 0; i < 3; i++) {
    ck_assert_int_eq(lure_idle_init(&loop, &chain[i]), 0);
    chain[i].data = (void *) (intptr_t) i;
  }
  ck_assert_int_eq(lure_close((lure_handle_t *) &chain[0], chain_close_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(close_calls, 3);
  ck_assert_int_eq(lure_loop_close(&loop), 0);
}
END_TEST

START_TEST(handle_ref) {
  lure_loop_t loop;
  lure_prepare_t h;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_prepare_init(&loop, &h), 0);
  ck_assert_int_ne(lure_has_ref((lure_handle_t *) &h), 0); /* default */
  lure_unref((lure_handle_t *) &h);
  ck_assert_int_eq(lure_has_ref((lure_handle_t *) &h), 0);
  lure_unref((lure_handle_t *) &h); /* idempotent */
  ck_assert_int_eq(lure_has_ref((lure_handle_t *) &h), 0);
  lure_ref((lure_handle_t *) &h);
  ck_assert_int_ne(lure_has_ref((lure_handle_t *) &h), 0);
  lure_ref((lure_handle_t *) &h);
  ck_assert_int_ne(lure_has_ref((lure_handle_t *) &h), 0);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(handle_type_data_loop) {
  lure_loop_t loop;
  lure_timer_t timer;
  lure_idle_t idle;
  lure_prepare_t prepare;
  lure_check_t check;
  lure_async_t async;
  lure_signal_t sig;
  int x;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_prepare_init(&loop, &prepare), 0);
  ck_assert_int_eq(lure_check_init(&loop, &check), 0);
  ck_assert_int_eq(lure_async_init(&loop, &async, NULL), 0);
  ck_assert_int_eq(lure_signal_init(&loop, &sig), 0);

  ck_assert_int_eq(lure_handle_get_type((lure_handle_t *) &timer), LURE_TIMER);
  ck_assert_int_eq(timer.type, LURE_TIMER);
  ck_assert_int_eq(lure_handle_get_type((lure_handle_t *) &idle), LURE_IDLE);
  ck_assert_int_eq(lure_handle_get_type((lure_handle_t *) &prepare), LURE_PREPARE);
  ck_assert_int_eq(lure_handle_get_type((lure_handle_t *) &check), LURE_CHECK);
  ck_assert_int_eq(lure_handle_get_type((lure_handle_t *) &async), LURE_ASYNC);
  ck_assert_int_eq(lure_handle_get_type((lure_handle_t *) &sig), LURE_SIGNAL);
  ck_assert_str_eq(lure_handle_type_name(LURE_TIMER), "timer");
  ck_assert_str_eq(lure_handle_type_name(LURE_IDLE), "idle");
  ck_assert_str_eq(lure_handle_type_name(LURE_PREPARE), "prepare");
  ck_assert_str_eq(lure_handle_type_name(LURE_CHECK), "check");
  ck_assert_str_eq(lure_handle_type_name(LURE_ASYNC), "async");
  ck_assert_str_eq(lure_handle_type_name(LURE_SIGNAL), "signal");
  ck_assert_str_eq(lure_handle_type_name(LURE_POLL), "poll");
  ck_assert_ptr_null(lure_handle_type_name(LURE_HANDLE_TYPE_MAX));

  ck_assert_uint_eq(lure_handle_size(LURE_TIMER), sizeof(lure_timer_t));
  ck_assert_uint_eq(lure_handle_size(LURE_IDLE), sizeof(lure_idle_t));
  ck_assert_uint_eq(lure_handle_size(LURE_PREPARE), sizeof(lure_prepare_t));
  ck_assert_uint_eq(lure_handle_size(LURE_CHECK), sizeof(lure_check_t));
  ck_assert_uint_eq(lure_handle_size(LURE_ASYNC), sizeof(lure_async_t));
  ck_assert_uint_eq(lure_handle_size(LURE_SIGNAL), sizeof(lure_signal_t));
  ck_assert_uint_eq(lure_handle_size(LURE_POLL), sizeof(lure_poll_t));
  ck_assert_uint_eq(lure_req_size(LURE_WORK), sizeof(lure_work_t));
  ck_assert_str_eq(lure_req_type_name(LURE_WORK), "work");

  ck_assert_ptr_eq(lure_handle_get_loop((lure_handle_t *) &timer), &loop);
  ck_assert_ptr_eq(timer.loop, &loop);
  ck_assert_ptr_eq(check.loop, &loop);
  lure_handle_set_data((lure_handle_t *) &timer, &x);
  ck_assert_ptr_eq(timer.data, &x);
  ck_assert_ptr_eq(lure_handle_get_data((lure_handle_t *) &timer), &x);
  idle.data = &x;
  ck_assert_ptr_eq(lure_handle_get_data((lure_handle_t *) &idle), &x);
  /* The data field is the user's: lure leaves it alone across calls. */
  ck_assert_int_eq(lure_timer_start(&timer, never_timer_cb, 1000, 0), 0);
  ck_assert_int_eq(lure_timer_stop(&timer), 0);
  ck_assert_ptr_eq(timer.data, &x);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- idle, prepare, check -------------------------------------------------------- */

static int w_idle;
static int w_prepare;
static int w_check;
static void w_idle_cb(lure_idle_t *h) { w_idle++; }
static void w_prepare_cb(lure_prepare_t *h) { w_prepare++; }
static void w_check_cb(lure_check_t *h) {
  w_check++;
  if (w_check == 5) {
    /* Stop all three: the loop then has nothing left. */
    lure_idle_stop(((lure_idle_t **) h->data)[0]);
    lure_prepare_stop(((lure_prepare_t **) h->data)[1]);
    lure_check_stop(h);
  }
}

/* Each watcher runs once per tick while active; starting an active one
 * again changes nothing. */
START_TEST(handle_loop_watchers) {
  lure_loop_t loop;
  lure_idle_t idle;
  lure_prepare_t prepare;
  lure_check_t check;
  void *ptrs[2];
  lure_loop_stats_t st;

  w_idle = w_prepare = w_check = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_prepare_init(&loop, &prepare), 0);
  ck_assert_int_eq(lure_check_init(&loop, &check), 0);
  ptrs[0] = &idle;
  ptrs[1] = &prepare;
  check.data = ptrs;
  ck_assert_int_eq(lure_idle_start(&idle, w_idle_cb), 0);
  ck_assert_int_eq(lure_idle_start(&idle, w_idle_cb), 0);
  ck_assert_int_eq(lure_prepare_start(&prepare, w_prepare_cb), 0);
  ck_assert_int_eq(lure_prepare_start(&prepare, w_prepare_cb), 0);
  ck_assert_int_eq(lure_check_start(&check, w_check_cb), 0);
  ck_assert_int_eq(lure_check_start(&check, w_check_cb), 0);
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &idle), 0);
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &prepare), 0);
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &check), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(w_idle, 5);
  ck_assert_int_eq(w_prepare, 5);
  ck_assert_int_eq(w_check, 5);
  ck_assert_int_eq(lure_loop_stats(&loop, &st), 0);
  ck_assert_uint_eq(st.ticks, 5);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &idle), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &prepare), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &check), 0);
  /* Stopping stopped watchers is fine. */
  ck_assert_int_eq(lure_idle_stop(&idle), 0);
  ck_assert_int_eq(lure_prepare_stop(&prepare), 0);
  ck_assert_int_eq(lure_check_stop(&check), 0);
  lt_loop_finish(&loop);
}
END_TEST

static lure_idle_t many_idle[10];
static int many_calls[10];
static void many_idle_cb(lure_idle_t *h) {
  int i = (int) (intptr_t) h->data;

  many_calls[i]++;
  if (many_calls[i] == 3) {
    /* Close myself and both neighbours: whichever order the phase runs
     * them in, one of them has not run in this tick yet. */
    lure_close((lure_handle_t *) h, NULL);
    if (i > 0 && !lure_is_closing((lure_handle_t *) &many_idle[i - 1]))
      lure_close((lure_handle_t *) &many_idle[i - 1], NULL);
    if (i < 9 && !lure_is_closing((lure_handle_t *) &many_idle[i + 1]))
      lure_close((lure_handle_t *) &many_idle[i + 1], NULL);
  }
}

/* Watchers closing themselves and their neighbours inside the phase do not
 * upset the phase's walk (no crash, no call after close). */
START_TEST(handle_watchers_close_in_phase) {
  lure_loop_t loop;
  int i;

  memset(many_calls, 0, sizeof(many_calls));
  lt_loop_init(&loop);
  for (i = 0; i < 10; i++) {
    ck_assert_int_eq(lure_idle_init(&loop, &many_idle[i]), 0);
    many_idle[i].data = (void *) (intptr_t) i;
    ck_assert_int_eq(lure_idle_start(&many_idle[i], many_idle_cb), 0);
  }
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  /* In tick 3 every other watcher runs and closes its neighbours before
   * their third call. */
  {
    int twos = 0;

    for (i = 0; i < 10; i++) {
      ck_assert_int_ge(many_calls[i], 2);
      ck_assert_int_le(many_calls[i], 3);
      twos += many_calls[i] == 2;
    }
    ck_assert_int_eq(twos, 5);
  }
  ck_assert_int_eq(lure_loop_close(&loop), 0);
}
END_TEST

START_TEST(handle_watchers_bad_arguments) {
  lure_loop_t loop;
  lure_idle_t idle;
  lure_prepare_t prepare;
  lure_check_t check;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_prepare_init(&loop, &prepare), 0);
  ck_assert_int_eq(lure_check_init(&loop, &check), 0);
  ck_assert_int_eq(lure_idle_start(&idle, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_prepare_start(&prepare, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_check_start(&check, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &idle), 0);
  /* Wrong types. */
  ck_assert_int_eq(lure_idle_start((lure_idle_t *) &check, w_idle_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_check_start((lure_check_t *) &prepare, w_check_cb),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_prepare_stop((lure_prepare_t *) &idle), LURE_EINVAL);
  /* Closed. */
  lure_close((lure_handle_t *) &idle, NULL);
  lure_close((lure_handle_t *) &prepare, NULL);
  lure_close((lure_handle_t *) &check, NULL);
  ck_assert_int_eq(lure_idle_start(&idle, w_idle_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_prepare_start(&prepare, w_prepare_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_check_start(&check, w_check_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lure_idle_start(&idle, w_idle_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_prepare_start(&prepare, w_prepare_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_check_start(&check, w_check_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  lt_loop_finish(&loop);
}
END_TEST

LT_SUITE(handle) {
  Suite *s = suite_create("handle");
  TCase *tc = lt_tcase("handle", 20);

  tcase_add_test(tc, handle_close);
  tcase_add_test(tc, handle_guess);
  tcase_add_test(tc, handle_close_active);
  tcase_add_test(tc, handle_double_close);
  tcase_add_test(tc, handle_close_from_close_cb);
  tcase_add_test(tc, handle_ref);
  tcase_add_test(tc, handle_type_data_loop);
  tcase_add_test(tc, handle_loop_watchers);
  tcase_add_test(tc, handle_watchers_close_in_phase);
  tcase_add_test(tc, handle_watchers_bad_arguments);
  suite_add_tcase(s, tc);
  return s;
}
