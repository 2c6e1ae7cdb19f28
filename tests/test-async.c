/*
 * test-async.c - async handles: coalescing, wake-ups from other threads,
 * no lost wake-up under contention.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "harness.h"

static int calls;

static void count_cb(lure_async_t *h) { calls++; }

static void close_cb_async(lure_async_t *h) {
  calls++;
  lure_close((lure_handle_t *) h, NULL);
}

/* Sends before the loop runs coalesce into one callback. */
START_TEST(async_coalesce_before_run) {
  lure_loop_t loop;
  lure_async_t a;
  lure_async_t b;
  int i;

  calls = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_async_init(&loop, &a, count_cb), 0);
  ck_assert_int_eq(lure_async_init(&loop, &b, count_cb), 0);
  /* An async handle is active (keeps the loop alive) from init on. */
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &a), 0);
  ck_assert_int_ne(lure_loop_alive(&loop), 0);
  for (i = 0; i < 100; i++)
    ck_assert_int_eq(lure_async_send(&a), 0);
  /* Nothing runs inside lure_async_send(). */
  ck_assert_int_eq(calls, 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(calls, 1);
  /* b was never sent: its callback does not run. */
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(calls, 1);
  /* A send after the callback gives another callback. */
  ck_assert_int_eq(lure_async_send(&b), 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_ONCE), 0);
  ck_assert_int_eq(calls, 2);
  lt_loop_finish(&loop);
}
END_TEST

/* A NULL callback is accepted (as in libuv): sends just wake the loop. */
START_TEST(async_null_callback) {
  lure_loop_t loop;
  lure_async_t a;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_async_init(&loop, &a, NULL), 0);
  ck_assert_int_eq(lure_async_send(&a), 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  lt_loop_finish(&loop);
}
END_TEST

static void *sleep_send_thread(void *arg) {
  lt_sleep_ms(30);
  lure_async_send(arg);
  return NULL;
}

/* A send from another thread wakes a loop blocked in its wait point. */
START_TEST(async_wakes_blocked_loop) {
  lure_loop_t loop;
  lure_async_t a;
  lure_timer_t wd;
  pthread_t tid;

  calls = 0;
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the async send did not wake the loop");
  ck_assert_int_eq(lure_async_init(&loop, &a, close_cb_async), 0);
  ck_assert_int_eq(pthread_create(&tid, NULL, sleep_send_thread, &a), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(pthread_join(tid, NULL), 0);
  ck_assert_int_eq(calls, 1);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- 4 threads x 10000 sends ---------------------------------------------- */

enum { NTHREADS = 4, NSENDS = 10000 };

static atomic_int sent;
static atomic_int send_errors;
static int stress_calls;
static int stress_seen_all;
static pthread_t stress_tids[NTHREADS];
static atomic_int go;

static void *stress_thread(void *arg) {
  lure_async_t *h = arg;
  int i;

  while (!atomic_load(&go))
    ;
  for (i = 0; i < NSENDS; i++) {
    /* Publish first, then send: a callback that follows this send must
     * see this increment. */
    atomic_fetch_add(&sent, 1);
    if (lure_async_send(h) != 0)
      atomic_fetch_add(&send_errors, 1);
    /* Let the loop thread in now and then, so that sends and callbacks
     * interleave instead of all sends landing before the first callback. */
    if (i % 64 == 63)
      sched_yield();
  }
  return NULL;
}

static void stress_cb(lure_async_t *h) {
  struct timespec ts = { 0, 50000 };
  int i;

  stress_calls++;
  if (atomic_load(&sent) != NTHREADS * NSENDS) {
    /* Linger (sleep 50 us, so that the senders run even on one CPU): sends
     * that land while the callback runs must still give a later callback. */
    nanosleep(&ts, NULL);
    return;
  }
  stress_seen_all = 1;
  /* Every thread has published its last increment, so every thread is at
   * or past its last send: join them (briefly blocking) before closing the
   * handle they send to. */
  for (i = 0; i < NTHREADS; i++)
    ck_assert_int_eq(pthread_join(stress_tids[i], NULL), 0);
  lure_close((lure_handle_t *) h, NULL);
}

START_TEST(async_threads_no_lost_wakeup) {
  lure_loop_t loop;
  lure_async_t a;
  lure_timer_t wd;
  int i;

  atomic_store(&sent, 0);
  atomic_store(&send_errors, 0);
  atomic_store(&go, 0);
  stress_calls = 0;
  stress_seen_all = 0;
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 20000,
                "lost wake-up: the final async sends never gave a callback");
  ck_assert_int_eq(lure_async_init(&loop, &a, stress_cb), 0);
  for (i = 0; i < NTHREADS; i++)
    ck_assert_int_eq(pthread_create(&stress_tids[i], NULL, stress_thread, &a), 0);
  atomic_store(&go, 1);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(stress_seen_all, 1);
  ck_assert_int_eq(atomic_load(&send_errors), 0);
  ck_assert_int_ge(stress_calls, 1);
  ck_assert_int_le(stress_calls, NTHREADS * NSENDS);
  lt_loop_finish(&loop);
}
END_TEST

/* Many handles on one loop, each sent from its own thread: every handle
 * gets at least one callback after its last send. */
enum { NHANDLES = 8 };
static lure_async_t multi[NHANDLES];
static atomic_int multi_sent[NHANDLES];
static int multi_done[NHANDLES];
static pthread_t multi_tids[NHANDLES];
static int multi_open;

static void *multi_thread(void *arg) {
  int i = (int) (intptr_t) arg;
  int k;

  for (k = 0; k < 1000; k++) {
    atomic_fetch_add(&multi_sent[i], 1);
    lure_async_send(&multi[i]);
  }
  return NULL;
}

static void multi_cb(lure_async_t *h) {
  int i = (int) (h - multi);

  ck_assert_int_ge(i, 0);
  ck_assert_int_lt(i, NHANDLES);
  ck_assert_int_eq(multi_done[i], 0);
  if (atomic_load(&multi_sent[i]) == 1000) {
    multi_done[i] = 1;
    ck_assert_int_eq(pthread_join(multi_tids[i], NULL), 0);
    lure_close((lure_handle_t *) h, NULL);
    multi_open--;
  }
}

START_TEST(async_many_handles) {
  lure_loop_t loop;
  lure_timer_t wd;
  int i;

  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 20000, "an async handle missed its last send");
  multi_open = NHANDLES;
  for (i = 0; i < NHANDLES; i++) {
    atomic_store(&multi_sent[i], 0);
    multi_done[i] = 0;
    ck_assert_int_eq(lure_async_init(&loop, &multi[i], multi_cb), 0);
  }
  for (i = 0; i < NHANDLES; i++)
    ck_assert_int_eq(pthread_create(&multi_tids[i], NULL, multi_thread,
                                    (void *) (intptr_t) i), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(multi_open, 0);
  lt_loop_finish(&loop);
}
END_TEST

/*
 * One thread sends to handles picked at random among many, as fast as it
 * can, then once to a last handle.  The loop wakes once per wake-up, not
 * once per handle (lure_async_send skips the write while an earlier one is
 * unread), so the loop must never be left asleep with a handle pending:
 * the last send's callback must come.  This caught the loop clearing its
 * wake-up flag before reading the eventfd: a send between the two set the
 * flag, the read took its write, and every later send skipped its own
 * write while the loop slept (libuv's million_async slept until its
 * timer).
 */
enum { RS_HANDLES = 4096, RS_MS = 300 };
struct rs {
  lure_async_t h[RS_HANDLES];
  lure_async_t last;
  pthread_t tid;
  unsigned long calls;
  unsigned long sends;
  int got_last;
};
static struct rs *rs;

static void rs_cb(lure_async_t *h) {
  (void) h;
  rs->calls++;
}

static void rs_last_cb(lure_async_t *h) {
  int i;

  rs->got_last = 1;
  ck_assert_int_eq(pthread_join(rs->tid, NULL), 0);
  for (i = 0; i < RS_HANDLES; i++)
    lure_close((lure_handle_t *) &rs->h[i], NULL);
  lure_close((lure_handle_t *) h, NULL);
}

static void *rs_thread(void *arg) {
  uint64_t end = lure_hrtime() + (uint64_t) RS_MS * 1000000u;
  unsigned x = 12345;

  (void) arg;
  while (lure_hrtime() < end) {
    int k;

    for (k = 0; k < 256; k++) {
      x = x * 1103515245u + 12345u;
      ck_assert_int_eq(lure_async_send(&rs->h[(x >> 8) % RS_HANDLES]), 0);
      rs->sends++;
    }
  }
  ck_assert_int_eq(lure_async_send(&rs->last), 0);
  return NULL;
}

START_TEST(async_random_sends_no_lost_wakeup) {
  lure_loop_t loop;
  lure_timer_t wd;
  int i;

  rs = calloc(1, sizeof(*rs));
  ck_assert_ptr_nonnull(rs);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 20000,
              "lost wake-up: the loop slept with async handles pending");
  for (i = 0; i < RS_HANDLES; i++)
    ck_assert_int_eq(lure_async_init(&loop, &rs->h[i], rs_cb), 0);
  ck_assert_int_eq(lure_async_init(&loop, &rs->last, rs_last_cb), 0);
  ck_assert_int_eq(pthread_create(&rs->tid, NULL, rs_thread, NULL), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(rs->got_last, 1);
  printf("async_random_sends_no_lost_wakeup: set %s: %lu sends, %lu "
         "callbacks\n", lt_set() ? lt_set() : "(none)", rs->sends, rs->calls);
  ck_assert_uint_gt(rs->calls, 0);
  ck_assert_uint_le(rs->calls, rs->sends);
  lt_loop_finish(&loop);
  free(rs);
}
END_TEST

START_TEST(async_closed) {
  lure_loop_t loop;
  lure_async_t a;

  calls = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_async_init(&loop, &a, count_cb), 0);
  ck_assert_int_eq(lure_async_send(&a), 0);
  /* Closed with a send pending: the callback never runs. */
  ck_assert_int_eq(lure_close((lure_handle_t *) &a, NULL), 0);
  /* Closing: a send does nothing and succeeds, as in libuv. */
  ck_assert_int_eq(lure_async_send(&a), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(calls, 0);
  /* Closed: still nothing, and still 0 (libuv's async benchmark relies on
   * it); the loop is not touched. */
  ck_assert_int_eq(lure_async_send(&a), 0);
  ck_assert_int_eq(lure_async_send(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_async_init(NULL, &a, count_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_async_init(&loop, NULL, count_cb), LURE_EINVAL);
  lt_loop_finish(&loop);
}
END_TEST

/* A send from the handle's own callback gives one more callback, on a later
 * pass, not a loop inside this one. */
static int self_calls;
static void self_send_cb(lure_async_t *h) {
  self_calls++;
  if (self_calls < 3)
    ck_assert_int_eq(lure_async_send(h), 0);
  else
    lure_close((lure_handle_t *) h, NULL);
}

START_TEST(async_send_from_callback) {
  lure_loop_t loop;
  lure_async_t a;
  lure_timer_t wd;

  self_calls = 0;
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "a send from the callback was lost");
  ck_assert_int_eq(lure_async_init(&loop, &a, self_send_cb), 0);
  ck_assert_int_eq(lure_async_send(&a), 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_ONCE), 0);
  ck_assert_int_eq(self_calls, 1);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(self_calls, 3);
  lt_loop_finish(&loop);
}
END_TEST

/* Ping-pong with a thread: each send waits for the callback of the one
 * before, so none coalesce, and every one must give its own callback.
 * The loop looks for the next wake-up before it sleeps (lure(7), the poll
 * phase); a look that swallowed a wake-up, or one that delivered the
 * callback twice, shows here as a hang (the watchdog) or a wrong count. */
enum { PINGS = 20000 };
static lure_async_t ping_h;
static atomic_int ping_acked;
static atomic_int ping_errors;
static int ping_calls;
static pthread_t ping_tid;

static void *ping_thread(void *arg) {
  int i;

  (void) arg;
  for (i = 0; i < PINGS; i++) {
    while (atomic_load(&ping_acked) != i)
      ;
    if (lure_async_send(&ping_h) != 0)
      atomic_fetch_add(&ping_errors, 1);
  }
  return NULL;
}

static void ping_cb(lure_async_t *h) {
  ping_calls++;
  atomic_store(&ping_acked, ping_calls);
  if (ping_calls == PINGS) {
    ck_assert_int_eq(pthread_join(ping_tid, NULL), 0);
    lure_close((lure_handle_t *) h, NULL);
  }
}

START_TEST(async_pingpong_thread) {
  lure_loop_t loop;
  lure_timer_t wd;

  ping_calls = 0;
  atomic_store(&ping_errors, 0);
  atomic_store(&ping_acked, 0);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 30000,
              "async ping-pong: a send was not delivered");
  ck_assert_int_eq(lure_async_init(&loop, &ping_h, ping_cb), 0);
  ck_assert_int_eq(pthread_create(&ping_tid, NULL, ping_thread, NULL), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(ping_calls, PINGS);
  ck_assert_int_eq(atomic_load(&ping_errors), 0);
  lt_loop_finish(&loop);
}
END_TEST

LT_SUITE(async) {
  Suite *s = suite_create("async");
  TCase *tc = lt_tcase("async", 60);

  tcase_add_test(tc, async_coalesce_before_run);
  tcase_add_test(tc, async_null_callback);
  tcase_add_test(tc, async_wakes_blocked_loop);
  tcase_add_test(tc, async_threads_no_lost_wakeup);
  tcase_add_test(tc, async_pingpong_thread);
  tcase_add_test(tc, async_many_handles);
  tcase_add_test(tc, async_random_sends_no_lost_wakeup);
  tcase_add_test(tc, async_send_from_callback);
  tcase_add_test(tc, async_closed);
  suite_add_tcase(s, tc);
  return s;
}
