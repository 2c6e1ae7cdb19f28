/*
 * test-async.c - async handles: coalescing, wake-ups from other threads,
 * no lost wake-up under contention.
 */
#include <poll.h>
#include <pthread.h>
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

/* ---- a send to a loop that is awake ---------------------------------------- */

/* A send from another thread while the loop runs a callback (awake, not
 * in a wait that may sleep) writes nothing to the eventfd: the loop takes
 * it from memory in its next poll phase (async.c).  It must still be
 * delivered at once, not after the next wake-up (the watchdog's 10 s),
 * and nothing is written to the eventfd for it: no event reaches the wait
 * point, and the loop's descriptor is not readable once the loop is done.
 * An idle handle that stops in its first callback makes the first poll
 * phase end without sleeping, so that the check callback runs; the
 * thread's send comes from there. */
static lure_async_t aw_async;
static lure_check_t aw_check;
static int aw_calls;
static uint64_t aw_start;
static uint64_t aw_events; /* the wait point's events when the send came */

/* Once, so that the first poll phase does not sleep. */
static void idle_once_cb(lure_idle_t *h) {
  ck_assert_int_eq(lure_idle_stop(h), 0);
  lure_close((lure_handle_t *) h, NULL);
}

/* Whether the loop's descriptor polls readable now. */
static int backend_readable(lure_loop_t *loop) {
  struct pollfd pfd;

  pfd.fd = lure_backend_fd(loop);
  pfd.events = POLLIN;
  pfd.revents = 0;
  ck_assert_int_ge(pfd.fd, 0);
  return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static uint64_t aw_wait_events(lure_loop_t *loop) {
  lure_loop_stats_t st;

  ck_assert_int_eq(lure_loop_stats(loop, &st), 0);
  return st.epoll_events + st.cqes_reaped;
}

static void *aw_send_thread(void *arg) {
  (void) arg;
  ck_assert_int_eq(lure_async_send(&aw_async), 0);
  return NULL;
}

static void aw_async_cb(lure_async_t *h) {
  aw_calls++;
  lure_close((lure_handle_t *) h, NULL);
  lure_close((lure_handle_t *) &aw_check, NULL);
}

static void aw_check_cb(lure_check_t *h) {
  pthread_t tid;

  if (aw_calls != 0 || aw_start != 0)
    return;
  aw_events = aw_wait_events(h->loop);
  aw_start = lure_hrtime();
  ck_assert_int_eq(pthread_create(&tid, NULL, aw_send_thread, NULL), 0);
  ck_assert_int_eq(pthread_join(tid, NULL), 0);
}

START_TEST(async_send_to_awake_loop) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_idle_t idle;
  uint64_t ms;

  aw_calls = 0;
  aw_start = 0;
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "a send to an awake loop was not taken");
  ck_assert_int_eq(lure_async_init(&loop, &aw_async, aw_async_cb), 0);
  ck_assert_int_eq(lure_check_init(&loop, &aw_check), 0);
  ck_assert_int_eq(lure_check_start(&aw_check, aw_check_cb), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_idle_start(&idle, idle_once_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(aw_calls, 1);
  ck_assert_uint_ne(aw_start, 0);
  ms = lt_ms_since(aw_start);
  ck_assert_msg(ms < 2000, "the send reached the loop after %llu ms",
                (unsigned long long) ms);
  ck_assert_msg(aw_wait_events(&loop) == aw_events,
                "set %s: %llu events reached the wait point for a send to "
                "an awake loop (it wrote the eventfd)",
                lt_set() ? lt_set() : "(none)",
                (unsigned long long) (aw_wait_events(&loop) - aw_events));
  ck_assert_msg(!backend_readable(&loop), "set %s: the loop's descriptor "
                "is readable: the send to an awake loop wrote the eventfd",
                lt_set() ? lt_set() : "(none)");
  lt_loop_finish(&loop);
}
END_TEST

/* A send that finds the loop awake, then lure_stop() before the poll phase
 * that would take it: lure_run() returns with the send untaken.  Whoever
 * drives the loop from outside (poll(2) on lure_backend_fd(), then a
 * NOWAIT run, as libuv's embed test does) must see the descriptor
 * readable, and the next run delivers the callback once.  (An idle
 * handle lets the first poll phase end, so that the check callback runs;
 * nothing else writes the eventfd.) */
static lure_async_t as_async;
static int as_calls;

static void as_async_cb(lure_async_t *h) {
  as_calls++;
}

static void as_check_cb(lure_check_t *h) {
  ck_assert_int_eq(as_calls, 0);
  ck_assert_int_eq(lure_async_send(&as_async), 0);
  lure_stop(h->loop);
  ck_assert_int_eq(lure_check_stop(h), 0);
}

START_TEST(async_send_then_stop_wakes_backend_fd) {
  lure_loop_t loop;
  lure_check_t check;
  lure_idle_t idle;
  int i;

  as_calls = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_async_init(&loop, &as_async, as_async_cb), 0);
  ck_assert_int_eq(lure_check_init(&loop, &check), 0);
  ck_assert_int_eq(lure_check_start(&check, as_check_cb), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_idle_start(&idle, idle_once_cb), 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(as_calls, 0);
  ck_assert_msg(backend_readable(&loop),
                "set %s: the loop's descriptor is not readable after "
                "lure_run() returned with a send not taken",
                lt_set() ? lt_set() : "(none)");
  for (i = 0; i < 10 && as_calls == 0; i++)
    (void) lure_run(&loop, LURE_RUN_NOWAIT);
  ck_assert_int_eq(as_calls, 1);
  lure_close((lure_handle_t *) &as_async, NULL);
  lure_close((lure_handle_t *) &check, NULL);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(as_calls, 1);
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
  tcase_add_test(tc, async_send_to_awake_loop);
  tcase_add_test(tc, async_send_then_stop_wakes_backend_fd);
  suite_add_tcase(s, tc);
  return s;
}
