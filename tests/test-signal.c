/*
 * test-signal.c - signal handles: several loops, the right signal to the
 * right handle, one-shot handles, stop, and argument checks.
 *
 * Each test runs in its own process (CK_FORK), so changing dispositions and
 * raising SIGUSR1/SIGUSR2 at ourselves is safe.  A signal is only raised
 * while some handle watches it, so the default action (terminate) never
 * applies.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"
#include "internal.h" /* signal_message_zeroed reads the loop's signal pipe */

struct sig_rec {
  int count;
  int last_signum;
  int close_on;  /* close the handle when count reaches this (0: never) */
};

static void sig_cb(lure_signal_t *h, int signum) {
  struct sig_rec *r = h->data;

  r->count++;
  r->last_signum = signum;
  ck_assert_int_eq(h->signum, signum);
  if (r->close_on != 0 && r->count == r->close_on)
    lure_close((lure_handle_t *) h, NULL);
}

/* Run loop (ONCE at a time) until *count reaches want; bounded. */
static void run_until(lure_loop_t *loop, const int *count, int want) {
  int i;

  for (i = 0; i < 1000 && *count < want; i++)
    lure_run(loop, LURE_RUN_ONCE);
  ck_assert_int_ge(*count, want);
}

/* Two loops watching SIGUSR1 both get it; loop A's SIGUSR2 handle does
 * not. */
START_TEST(signal_two_loops) {
  lure_loop_t a;
  lure_loop_t b;
  lure_signal_t a1;
  lure_signal_t a2;
  lure_signal_t b1;
  lure_timer_t wda;
  lure_timer_t wdb;
  struct sig_rec ra1 = { 0, 0, 1 };
  struct sig_rec ra2 = { 0, 0, 0 };
  struct sig_rec rb1 = { 0, 0, 1 };

  lt_loop_init(&a);
  lt_loop_init(&b);
  lt_watchdog(&a, &wda, 10000, "loop A never got SIGUSR1");
  lt_watchdog(&b, &wdb, 10000, "loop B never got SIGUSR1");
  ck_assert_int_eq(lure_signal_init(&a, &a1), 0);
  ck_assert_int_eq(lure_signal_init(&a, &a2), 0);
  ck_assert_int_eq(lure_signal_init(&b, &b1), 0);
  a1.data = &ra1;
  a2.data = &ra2;
  b1.data = &rb1;
  ck_assert_int_eq(lure_signal_start(&a1, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(lure_signal_start(&a2, sig_cb, SIGUSR2), 0);
  ck_assert_int_eq(lure_signal_start(&b1, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(a1.signum, SIGUSR1);
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &a1), 0);

  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  /* Nothing runs inside the signal handler. */
  ck_assert_int_eq(ra1.count, 0);
  run_until(&a, &ra1.count, 1);
  ck_assert_int_eq(ra1.last_signum, SIGUSR1);
  ck_assert_int_eq(ra2.count, 0);
  /* B was not running when the signal came: it gets it when it runs. */
  ck_assert_int_eq(rb1.count, 0);
  ck_assert_int_eq(lure_run(&b, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(rb1.count, 1);
  ck_assert_int_eq(rb1.last_signum, SIGUSR1);

  /* Now SIGUSR2: only a2. */
  ra2.close_on = 1;
  ck_assert_int_eq(pthread_kill(pthread_self(), SIGUSR2), 0);
  ck_assert_int_eq(lure_run(&a, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(ra2.count, 1);
  ck_assert_int_eq(ra2.last_signum, SIGUSR2);
  ck_assert_int_eq(ra1.count, 1);
  lt_loop_finish(&a);
  lt_loop_finish(&b);
}
END_TEST

/* Two handles on one loop for the same signal both get it; closing one
 * leaves the other working. */
START_TEST(signal_two_handles_one_loop) {
  lure_loop_t loop;
  lure_signal_t h1;
  lure_signal_t h2;
  lure_timer_t wd;
  struct sig_rec r1 = { 0, 0, 0 };
  struct sig_rec r2 = { 0, 0, 0 };

  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "a signal was not delivered");
  ck_assert_int_eq(lure_signal_init(&loop, &h1), 0);
  ck_assert_int_eq(lure_signal_init(&loop, &h2), 0);
  h1.data = &r1;
  h2.data = &r2;
  ck_assert_int_eq(lure_signal_start(&h1, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(lure_signal_start(&h2, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  run_until(&loop, &r1.count, 1);
  run_until(&loop, &r2.count, 1);
  ck_assert_int_eq(r1.count, 1);
  ck_assert_int_eq(r2.count, 1);

  ck_assert_int_eq(lure_close((lure_handle_t *) &h1, NULL), 0);
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  run_until(&loop, &r2.count, 2);
  ck_assert_int_eq(r1.count, 1);
  ck_assert_int_eq(r2.count, 2);
  lt_loop_finish(&loop);
}
END_TEST

/* A one-shot handle fires once and is inactive afterwards; a regular
 * handle on the same signal keeps the disposition and goes on. */
START_TEST(signal_oneshot) {
  lure_loop_t loop;
  lure_signal_t once;
  lure_signal_t always;
  lure_timer_t wd;
  struct sig_rec ro = { 0, 0, 0 };
  struct sig_rec ra = { 0, 0, 0 };

  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "a signal was not delivered");
  ck_assert_int_eq(lure_signal_init(&loop, &once), 0);
  ck_assert_int_eq(lure_signal_init(&loop, &always), 0);
  once.data = &ro;
  always.data = &ra;
  ck_assert_int_eq(lure_signal_start_oneshot(&once, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(lure_signal_start(&always, sig_cb, SIGUSR1), 0);
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &once), 0);

  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  run_until(&loop, &ra.count, 1);
  run_until(&loop, &ro.count, 1);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &once), 0);
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &always), 0);

  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  run_until(&loop, &ra.count, 2);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(ro.count, 1);

  /* The one-shot handle can be armed again. */
  ck_assert_int_eq(lure_signal_start_oneshot(&once, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  run_until(&loop, &ro.count, 2);
  run_until(&loop, &ra.count, 3);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &once), 0);
  lt_loop_finish(&loop);
}
END_TEST

/* A stopped handle gets nothing; started again it does. */
START_TEST(signal_stop) {
  lure_loop_t loop;
  lure_signal_t h;
  lure_signal_t keep;
  lure_timer_t wd;
  struct sig_rec r = { 0, 0, 0 };
  struct sig_rec rk = { 0, 0, 0 };

  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "a signal was not delivered");
  ck_assert_int_eq(lure_signal_init(&loop, &h), 0);
  ck_assert_int_eq(lure_signal_init(&loop, &keep), 0);
  h.data = &r;
  keep.data = &rk;
  ck_assert_int_eq(lure_signal_start(&keep, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(lure_signal_start(&h, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(lure_signal_stop(&h), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &h), 0);
  ck_assert_int_eq(lure_signal_stop(&h), 0); /* twice is fine */
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  run_until(&loop, &rk.count, 1);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(r.count, 0);

  /* Restart on another signal, then change back: last start wins. */
  ck_assert_int_eq(lure_signal_start(&h, sig_cb, SIGUSR2), 0);
  ck_assert_int_eq(h.signum, SIGUSR2);
  ck_assert_int_eq(lure_signal_start(&h, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(h.signum, SIGUSR1);
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  run_until(&loop, &r.count, 1);
  ck_assert_int_eq(r.last_signum, SIGUSR1);
  lt_loop_finish(&loop);
}
END_TEST

/* Closing a handle with a signal already caught but not yet dispatched:
 * its callback does not run. */
START_TEST(signal_close_pending) {
  lure_loop_t loop;
  lure_signal_t h;
  lure_signal_t keep;
  struct sig_rec r = { 0, 0, 0 };
  struct sig_rec rk = { 0, 0, 1 };

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_signal_init(&loop, &h), 0);
  ck_assert_int_eq(lure_signal_init(&loop, &keep), 0);
  h.data = &r;
  keep.data = &rk;
  ck_assert_int_eq(lure_signal_start(&h, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(lure_signal_start(&keep, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  ck_assert_int_eq(lure_close((lure_handle_t *) &h, NULL), 0);
  run_until(&loop, &rk.count, 1);
  ck_assert_int_eq(r.count, 0);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(signal_bad_arguments) {
  lure_loop_t loop;
  lure_signal_t h;
  lure_idle_t idle;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_signal_init(&loop, &h), 0);
  ck_assert_int_eq(lure_signal_start(&h, sig_cb, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start(&h, sig_cb, -1), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start(&h, sig_cb, NSIG), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start(&h, sig_cb, 1000), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start(&h, sig_cb, SIGKILL), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start(&h, sig_cb, SIGSTOP), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start_oneshot(&h, sig_cb, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start(&h, NULL, SIGUSR1), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start_oneshot(&h, NULL, SIGUSR1), LURE_EINVAL);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &h), 0);
  ck_assert_int_eq(lure_signal_start(NULL, sig_cb, SIGUSR1), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start_oneshot(NULL, sig_cb, SIGUSR1), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_stop(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_init(NULL, &h), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_init(&loop, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_signal_start((lure_signal_t *) &idle, sig_cb, SIGUSR1),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_close((lure_handle_t *) &h, NULL), 0);
  ck_assert_int_eq(lure_signal_start(&h, sig_cb, SIGUSR1), LURE_EINVAL);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lure_signal_start(&h, sig_cb, SIGUSR1), LURE_EINVAL);
  ck_assert_int_eq(lure_signal_start_oneshot(&h, sig_cb, SIGUSR1), LURE_EINVAL);
  lt_loop_finish(&loop);
}
END_TEST

/* A loop running in another thread gets the signal too (the handler runs
 * on whichever thread the kernel picks). */
static void *thread_loop_run(void *arg) {
  lure_run(arg, LURE_RUN_DEFAULT);
  return NULL;
}

START_TEST(signal_loop_in_thread) {
  lure_loop_t main_loop;
  lure_loop_t thread_loop;
  lure_signal_t hm;
  lure_signal_t ht;
  lure_timer_t wdm;
  lure_timer_t wdt;
  struct sig_rec rm = { 0, 0, 1 };
  struct sig_rec rt = { 0, 0, 1 };
  pthread_t tid;

  lt_loop_init(&main_loop);
  lt_loop_init(&thread_loop);
  lt_watchdog(&main_loop, &wdm, 10000, "the main loop never got SIGUSR1");
  lt_watchdog(&thread_loop, &wdt, 10000, "the thread's loop never got SIGUSR1");
  ck_assert_int_eq(lure_signal_init(&main_loop, &hm), 0);
  ck_assert_int_eq(lure_signal_init(&thread_loop, &ht), 0);
  hm.data = &rm;
  ht.data = &rt;
  ck_assert_int_eq(lure_signal_start(&hm, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(lure_signal_start(&ht, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(pthread_create(&tid, NULL, thread_loop_run, &thread_loop), 0);
  lt_sleep_ms(10); /* most likely blocked in its wait point by now */
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  ck_assert_int_eq(lure_run(&main_loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(pthread_join(tid, NULL), 0);
  ck_assert_int_eq(rm.count, 1);
  ck_assert_int_eq(rt.count, 1);
  lt_loop_finish(&main_loop);
  lt_loop_finish(&thread_loop);
}
END_TEST

/* A loop that watched a signal and was closed is out of the picture: the
 * signal still reaches the other loop, and nothing writes to the closed
 * loop's descriptors. */
START_TEST(signal_after_loop_close) {
  lure_loop_t a;
  lure_loop_t b;
  lure_signal_t ha;
  lure_signal_t hb;
  lure_timer_t wd;
  struct sig_rec ra = { 0, 0, 0 };
  struct sig_rec rb = { 0, 0, 1 };

  lt_loop_init(&a);
  lt_loop_init(&b);
  ck_assert_int_eq(lure_signal_init(&a, &ha), 0);
  ha.data = &ra;
  ck_assert_int_eq(lure_signal_start(&ha, sig_cb, SIGUSR1), 0);
  lt_loop_finish(&a); /* closes ha, then the loop */
  lt_watchdog(&b, &wd, 10000, "loop B never got SIGUSR1");
  ck_assert_int_eq(lure_signal_init(&b, &hb), 0);
  hb.data = &rb;
  ck_assert_int_eq(lure_signal_start(&hb, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  ck_assert_int_eq(lure_run(&b, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(rb.count, 1);
  ck_assert_int_eq(ra.count, 0);
  /* The same memory as a new loop, with a new handle: works. */
  lt_loop_init(&a);
  ra.close_on = 1;
  ck_assert_int_eq(lure_signal_init(&a, &ha), 0);
  ck_assert_int_eq(lure_signal_start(&ha, sig_cb, SIGUSR1), 0);
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  ck_assert_int_eq(lure_run(&a, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(ra.count, 1);
  lt_loop_finish(&a);
  lt_loop_finish(&b);
}
END_TEST

/* The handler writes one message per handle into the loop's pipe: a
 * pointer and the signal number, then (LP64) 4 bytes of padding, which it
 * wrote uninitialised (valgrind: "write(buf) points to uninitialised
 * byte(s)"; issue 14, item 9).  Stack garbage is made visible without
 * valgrind: the stack below this frame is filled with 0xA5 first, so the
 * handler's frame starts dirty; the message is read from the pipe before
 * the loop sees it, checked, and put back. */
static void __attribute__((noinline)) dirty_stack(void) {
  volatile unsigned char junk[32768];
  size_t i;

  for (i = 0; i < sizeof(junk); i++)
    junk[i] = 0xA5;
}

static void __attribute__((noinline)) raise_usr1(void) {
  ck_assert_int_eq(raise(SIGUSR1), 0);
}

START_TEST(signal_message_zeroed) {
  lure_loop_t loop;
  lure_signal_t sig;
  struct sig_rec rec;
  unsigned char msg[64];
  size_t head = sizeof(void *) + sizeof(int);
  ssize_t n;
  size_t i;

  memset(&rec, 0, sizeof(rec));
  ck_assert_int_eq(lure_loop_init(&loop), 0);
  ck_assert_int_eq(lure_signal_init(&loop, &sig), 0);
  sig.data = &rec;
  ck_assert_int_eq(lure_signal_start(&sig, sig_cb, SIGUSR1), 0);
  dirty_stack();
  raise_usr1();
  n = read(loop.priv->signal_pipe[0], msg, sizeof(msg));
  ck_assert_int_gt(n, (ssize_t) head);
  for (i = head; i < (size_t) n; i++)
    ck_assert_msg(msg[i] == 0,
                  "byte %zu of the %zd-byte signal message is 0x%02x, not 0: "
                  "the handler wrote uninitialised padding", i, n, msg[i]);
  ck_assert_int_eq(write(loop.priv->signal_pipe[1], msg, (size_t) n), n);
  run_until(&loop, &rec.count, 1);
  ck_assert_int_eq(rec.last_signum, SIGUSR1);
  lure_close((lure_handle_t *) &sig, NULL);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lure_loop_close(&loop), 0);
}
END_TEST

LT_SUITE(signal) {
  Suite *s = suite_create("signal");
  TCase *tc = lt_tcase("signal", 30);

  tcase_add_test(tc, signal_two_loops);
  tcase_add_test(tc, signal_two_handles_one_loop);
  tcase_add_test(tc, signal_oneshot);
  tcase_add_test(tc, signal_stop);
  tcase_add_test(tc, signal_close_pending);
  tcase_add_test(tc, signal_loop_in_thread);
  tcase_add_test(tc, signal_after_loop_close);
  tcase_add_test(tc, signal_bad_arguments);
  tcase_add_test(tc, signal_message_zeroed);
  suite_add_tcase(s, tc);
  return s;
}
