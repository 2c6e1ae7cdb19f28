/*
 * test-timer.c - timers: order, repeat, again, stop and restart from the
 * callback, due_in, and their argument checks.
 */
#include <stdlib.h>
#include <string.h>
#include "harness.h"

static int order[2048];
static int norder;

static void order_cb(lure_timer_t *h) {
  ck_assert_int_lt(norder, (int) LT_ARRAY_SIZE(order));
  order[norder++] = (int) (intptr_t) h->data;
}

/* Timers with equal timeouts fire in the order they were started; a timer
 * started again goes behind the others. */
START_TEST(timer_equal_timeouts_start_order) {
  enum { N = 10 };
  lure_loop_t loop;
  lure_timer_t t[N];
  int i;

  norder = 0;
  lt_loop_init(&loop);
  for (i = 0; i < N; i++) {
    ck_assert_int_eq(lure_timer_init(&loop, &t[i]), 0);
    t[i].data = (void *) (intptr_t) i;
  }
  /* Started 0..9, but initialised ones started in a scrambled order must
   * not matter: only start order does. */
  for (i = 0; i < N; i++)
    ck_assert_int_eq(lure_timer_start(&t[i], order_cb, 5, 0), 0);
  /* Restart 3: it goes last. */
  ck_assert_int_eq(lure_timer_start(&t[3], order_cb, 5, 0), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(norder, N);
  {
    static const int want[N] = { 0, 1, 2, 4, 5, 6, 7, 8, 9, 3 };

    for (i = 0; i < N; i++)
      ck_assert_msg(order[i] == want[i], "position %d: timer %d, want %d", i,
                    order[i], want[i]);
  }
  lt_loop_finish(&loop);
}
END_TEST

/* Many timers with random timeouts fire sorted by (timeout, start order). */
START_TEST(timer_many_sorted) {
  enum { N = 1000 };
  lure_loop_t loop;
  lure_timer_t *t = calloc(N, sizeof(*t));
  int timeout[N];
  unsigned seed = 12345;
  int i;

  ck_assert_ptr_nonnull(t);
  norder = 0;
  lt_loop_init(&loop);
  for (i = 0; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    timeout[i] = (int) ((seed >> 16) % 30);
    ck_assert_int_eq(lure_timer_init(&loop, &t[i]), 0);
    t[i].data = (void *) (intptr_t) i;
    ck_assert_int_eq(lure_timer_start(&t[i], order_cb, (uint64_t) timeout[i], 0), 0);
  }
  /* Stop every tenth: they must not fire. */
  for (i = 0; i < N; i += 10)
    ck_assert_int_eq(lure_timer_stop(&t[i]), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(norder, N - N / 10);
  for (i = 0; i < norder; i++) {
    ck_assert_int_ne(order[i] % 10, 0);
    if (i > 0) {
      int a = order[i - 1];
      int b = order[i];

      ck_assert_msg(timeout[a] < timeout[b] ||
                    (timeout[a] == timeout[b] && a < b),
                    "timer %d (%d ms) fired before timer %d (%d ms)", a,
                    timeout[a], b, timeout[b]);
    }
  }
  for (i = 0; i < N; i++)
    lure_close((lure_handle_t *) &t[i], NULL);
  lt_loop_finish(&loop);
  free(t);
}
END_TEST

/* Timers armed in order (one duration) and out of order, restarted from
 * the middle of the ordered ones, stopped at both ends: they fire sorted
 * by (timeout, start order), each exactly once (src/timer.c keeps the
 * first kind in a sorted run, the rest in the heap). */
static int seq_of[1200];

START_TEST(timer_run_and_heap_order) {
  enum { N = 1200, ORDERED = 400 };
  lure_loop_t loop;
  lure_timer_t *t = calloc(N, sizeof(*t));
  int timeout[N];
  int stopped[N];
  unsigned seed = 777;
  int seq = 0;
  int i;

  ck_assert_ptr_nonnull(t);
  memset(stopped, 0, sizeof(stopped));
  norder = 0;
  lt_loop_init(&loop);
  for (i = 0; i < N; i++) {
    ck_assert_int_eq(lure_timer_init(&loop, &t[i]), 0);
    t[i].data = (void *) (intptr_t) i;
  }
  /* One duration: each goes behind the last. */
  for (i = 0; i < ORDERED; i++) {
    timeout[i] = 10;
    seq_of[i] = seq++;
    ck_assert_int_eq(lure_timer_start(&t[i], order_cb, 10, 0), 0);
  }
  /* Mixed: some after the last so far, some before it. */
  for (i = ORDERED; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    timeout[i] = (int) ((seed >> 16) % 21);
    seq_of[i] = seq++;
    ck_assert_int_eq(lure_timer_start(&t[i], order_cb, (uint64_t) timeout[i],
                                      0), 0);
  }
  /* Restart ordered ones from the middle, some with a new duration. */
  for (i = 3; i < ORDERED; i += 7) {
    timeout[i] = (i % 2) ? 10 : 25;
    seq_of[i] = seq++;
    ck_assert_int_eq(lure_timer_start(&t[i], order_cb, (uint64_t) timeout[i],
                                      0), 0);
  }
  /* Stop the first and last ordered ones, the last started, and more. */
  stopped[0] = stopped[ORDERED - 1] = stopped[N - 1] = 1;
  for (i = 5; i < N; i += 11)
    stopped[i] = 1;
  for (i = 0; i < N; i++)
    if (stopped[i])
      ck_assert_int_eq(lure_timer_stop(&t[i]), 0);
  {
    int want = 0;

    for (i = 0; i < N; i++)
      want += !stopped[i];
    ck_assert_int_lt(want, (int) LT_ARRAY_SIZE(order));
    ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
    ck_assert_int_eq(norder, want);
  }
  for (i = 0; i < norder; i++) {
    ck_assert_int_eq(stopped[order[i]], 0);
    if (i > 0) {
      int a = order[i - 1];
      int b = order[i];

      ck_assert_msg(timeout[a] < timeout[b] ||
                    (timeout[a] == timeout[b] && seq_of[a] < seq_of[b]),
                    "timer %d (%d ms, start %d) fired before timer %d "
                    "(%d ms, start %d)", a, timeout[a], seq_of[a], b,
                    timeout[b], seq_of[b]);
    }
  }
  for (i = 0; i < N; i++)
    lure_close((lure_handle_t *) &t[i], NULL);
  lt_loop_finish(&loop);
  free(t);
}
END_TEST

static int rep_count;
static void rep_cb(lure_timer_t *h) {
  rep_count++;
  ck_assert_int_ne(lure_is_active((lure_handle_t *) h), 0); /* repeating */
  if (rep_count == 5)
    ck_assert_int_eq(lure_timer_stop(h), 0);
}

START_TEST(timer_repeat) {
  lure_loop_t loop;
  lure_timer_t t;

  rep_count = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  ck_assert_int_eq(lure_timer_start(&t, rep_cb, 1, 2), 0);
  ck_assert_uint_eq(lure_timer_get_repeat(&t), 2);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(rep_count, 5);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &t), 0);
  lt_loop_finish(&loop);
}
END_TEST

static int once_count;
static void once_cb(lure_timer_t *h) {
  once_count++;
  /* A one-shot timer is inactive in its own callback. */
  ck_assert_int_eq(lure_is_active((lure_handle_t *) h), 0);
}

START_TEST(timer_again) {
  lure_loop_t loop;
  lure_timer_t t;
  uint64_t due;

  once_count = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  /* Never started: no callback to restart with. */
  ck_assert_int_eq(lure_timer_again(&t), LURE_EINVAL);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &t), 0);

  /* again() restarts with the repeat value as the timeout. */
  ck_assert_int_eq(lure_timer_start(&t, rep_cb, 10000, 50), 0);
  ck_assert_int_eq(lure_timer_again(&t), 0);
  due = lure_timer_get_due_in(&t);
  ck_assert_uint_le(due, 50);
  ck_assert_uint_gt(due, 0);
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &t), 0);

  /* Without a repeat, again() of a stopped timer does nothing. */
  ck_assert_int_eq(lure_timer_stop(&t), 0);
  lure_timer_set_repeat(&t, 0);
  ck_assert_int_eq(lure_timer_again(&t), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &t), 0);

  /* A stopped timer with a repeat starts again and fires. */
  rep_count = 0;
  lure_timer_set_repeat(&t, 1);
  ck_assert_int_eq(lure_timer_again(&t), 0);
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &t), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(rep_count, 5);
  lt_loop_finish(&loop);
}
END_TEST

static int stop_count;
static void stop_self_cb(lure_timer_t *h) {
  stop_count++;
  ck_assert_int_eq(lure_timer_stop(h), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) h), 0);
  ck_assert_uint_eq(lure_timer_get_due_in(h), 0);
}

/* A repeating timer stopped from its callback fires once and lets the loop
 * end. */
START_TEST(timer_stop_in_callback) {
  lure_loop_t loop;
  lure_timer_t t;

  stop_count = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  ck_assert_int_eq(lure_timer_start(&t, stop_self_cb, 1, 1), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(stop_count, 1);
  lt_loop_finish(&loop);
}
END_TEST

static lure_timer_t *victim;
static int victim_fired;
static void victim_cb(lure_timer_t *h) { victim_fired++; }
static void killer_cb(lure_timer_t *h) {
  /* Stop a timer that is due in this very tick. */
  ck_assert_int_eq(lure_timer_stop(victim), 0);
}

/* A timer stopped by another timer's callback in the same tick does not
 * fire, even though it was already due. */
START_TEST(timer_stop_other_same_tick) {
  lure_loop_t loop;
  lure_timer_t a;
  lure_timer_t b;

  victim_fired = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &a), 0);
  ck_assert_int_eq(lure_timer_init(&loop, &b), 0);
  victim = &b;
  ck_assert_int_eq(lure_timer_start(&a, killer_cb, 5, 0), 0);
  ck_assert_int_eq(lure_timer_start(&b, victim_cb, 5, 0), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(victim_fired, 0);
  lt_loop_finish(&loop);
}
END_TEST

static int restart_count;
static int restart_limit;
static void restart_cb(lure_timer_t *h) {
  restart_count++;
  if (restart_count < restart_limit)
    ck_assert_int_eq(lure_timer_start(h, restart_cb, 0, 0), 0);
}

/* A timer restarted with 0 ms from its own callback fires again on a later
 * tick, not in a loop inside this one. */
START_TEST(timer_restart_from_callback_once) {
  lure_loop_t loop;
  lure_timer_t t;
  lure_loop_stats_t st;
  int i;

  restart_count = 0;
  restart_limit = 1 << 30;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  ck_assert_int_eq(lure_timer_start(&t, restart_cb, 0, 0), 0);
  for (i = 1; i <= 10; i++) {
    int before = restart_count;
    uint64_t ticks;

    ck_assert_int_ne(lure_run(&loop, LURE_RUN_ONCE), 0);
    ck_assert_int_eq(lure_loop_stats(&loop, &st), 0);
    ticks = st.ticks;
    ck_assert_uint_eq(ticks, (uint64_t) i);
    /* Once in the timers phase, and at most once more in ONCE's
     * forward-progress pass after the poll. */
    ck_assert_int_ge(restart_count, before + 1);
    ck_assert_int_le(restart_count, before + 2);
  }
  ck_assert_int_eq(lure_timer_stop(&t), 0);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(timer_restart_from_callback_default) {
  lure_loop_t loop;
  lure_timer_t t;
  lure_loop_stats_t st;

  restart_count = 0;
  restart_limit = 100;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  ck_assert_int_eq(lure_timer_start(&t, restart_cb, 0, 0), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(restart_count, 100);
  ck_assert_int_eq(lure_loop_stats(&loop, &st), 0);
  ck_assert_uint_ge(st.ticks, 100); /* one fire per tick */
  lt_loop_finish(&loop);
}
END_TEST

/* The timers phase runs the timers that were due when it began, and only
 * those.  A's callback moves the loop's time past C's deadline, restarts
 * B (due, not yet fired) with 0 ms, and starts D with 0 ms: in that phase
 * only A fires; B, C and D fire later, C before the restarted B and D. */
static lure_timer_t snap_t[4];
static char snap_order[8];
static int snap_n;
static int snap_at_check = -1;

static void snap_cb(lure_timer_t *h) {
  snap_order[snap_n++] = (char) ('A' + (h - snap_t));
  if (h == &snap_t[0]) {
    lt_sleep_ms(40);
    lure_update_time(h->loop);
    ck_assert_int_eq(lure_timer_start(&snap_t[1], snap_cb, 0, 0), 0);
    ck_assert_int_eq(lure_timer_start(&snap_t[3], snap_cb, 0, 0), 0);
  }
}

static void snap_check_cb(lure_check_t *c) {
  if (snap_at_check < 0)
    snap_at_check = snap_n;
  lure_check_stop(c);
}

START_TEST(timer_phase_snapshot) {
  lure_loop_t loop;
  lure_check_t chk;
  int i;

  snap_n = 0;
  snap_at_check = -1;
  memset(snap_order, 0, sizeof(snap_order));
  lt_loop_init(&loop);
  for (i = 0; i < 4; i++)
    ck_assert_int_eq(lure_timer_init(&loop, &snap_t[i]), 0);
  ck_assert_int_eq(lure_check_init(&loop, &chk), 0);
  ck_assert_int_eq(lure_check_start(&chk, snap_check_cb), 0);
  ck_assert_int_eq(lure_timer_start(&snap_t[0], snap_cb, 0, 0), 0);
  ck_assert_int_eq(lure_timer_start(&snap_t[1], snap_cb, 0, 0), 0);
  ck_assert_int_eq(lure_timer_start(&snap_t[2], snap_cb, 30, 0), 0);
  /* Due at the loop's time now. */
  lt_sleep_ms(2);
  lure_update_time(&loop);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_msg(snap_at_check == 1, "the first timers phase fired \"%s\"",
                snap_order);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_str_eq(snap_order, "ACBD");
  lure_close((lure_handle_t *) &chk, NULL);
  lt_loop_finish(&loop);
}
END_TEST

/* Starting an active timer moves it: it fires once, at the new time. */
START_TEST(timer_start_twice) {
  lure_loop_t loop;
  lure_timer_t t;

  once_count = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  ck_assert_int_eq(lure_timer_start(&t, once_cb, 10000, 0), 0);
  ck_assert_int_eq(lure_timer_start(&t, once_cb, 1, 0), 0);
  ck_assert_uint_le(lure_timer_get_due_in(&t), 1);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(once_count, 1);
  /* Stopping a stopped timer is fine. */
  ck_assert_int_eq(lure_timer_stop(&t), 0);
  ck_assert_int_eq(lure_timer_stop(&t), 0);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(timer_due_in_and_repeat) {
  lure_loop_t loop;
  lure_timer_t t;
  uint64_t due;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  ck_assert_uint_eq(lure_timer_get_due_in(&t), 0);
  ck_assert_uint_eq(lure_timer_get_repeat(&t), 0);
  lure_timer_set_repeat(&t, 123);
  ck_assert_uint_eq(lure_timer_get_repeat(&t), 123);
  ck_assert_int_eq(lure_timer_start(&t, once_cb, 1000, 7), 0);
  ck_assert_uint_eq(lure_timer_get_repeat(&t), 7);
  due = lure_timer_get_due_in(&t);
  ck_assert_uint_gt(due, 0);
  ck_assert_uint_le(due, 1000);
  lure_timer_set_repeat(&t, 9);
  ck_assert_uint_eq(lure_timer_get_repeat(&t), 9);
  ck_assert_int_eq(lure_timer_stop(&t), 0);
  ck_assert_uint_eq(lure_timer_get_due_in(&t), 0);
  /* A huge timeout saturates instead of wrapping into the past. */
  ck_assert_int_eq(lure_timer_start(&t, once_cb, UINT64_MAX, 0), 0);
  ck_assert_uint_gt(lure_timer_get_due_in(&t), 1000000);
  lure_unref((lure_handle_t *) &t);
  once_count = 0;
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(once_count, 0);
  lt_loop_finish(&loop);
}
END_TEST

static void close_self_cb(lure_timer_t *h) {
  (*(int *) h->data)++;
  ck_assert_int_eq(lure_close((lure_handle_t *) h, NULL), 0);
}

START_TEST(timer_close_in_callback) {
  lure_loop_t loop;
  lure_timer_t t;
  int fired = 0;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  t.data = &fired;
  ck_assert_int_eq(lure_timer_start(&t, close_self_cb, 1, 1), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(fired, 1);
  ck_assert_int_ne(lure_is_closing((lure_handle_t *) &t), 0);
  ck_assert_int_eq(lure_loop_close(&loop), 0);
}
END_TEST

START_TEST(timer_bad_arguments) {
  lure_loop_t loop;
  lure_timer_t t;
  lure_idle_t idle;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  ck_assert_int_eq(lure_timer_start(&t, NULL, 1, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &t), 0);
  ck_assert_int_eq(lure_timer_start(NULL, once_cb, 1, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_timer_init(NULL, &t), LURE_EINVAL);
  ck_assert_int_eq(lure_timer_init(&loop, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_timer_stop(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_timer_again(NULL), LURE_EINVAL);
  /* A handle of another type. */
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_timer_start((lure_timer_t *) &idle, once_cb, 1, 0),
                   LURE_EINVAL);

  /* Closing, then closed. */
  ck_assert_int_eq(lure_close((lure_handle_t *) &t, NULL), 0);
  ck_assert_int_eq(lure_timer_start(&t, once_cb, 1, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_timer_again(&t), LURE_EINVAL);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lure_timer_start(&t, once_cb, 1, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &t), 0);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  lt_loop_finish(&loop);
}
END_TEST

/* libuv's timer_from_check: the poll phase waits 50 ms for a timer; the
 * check callback that follows stops it and starts it again for 50 ms, and
 * starts a prepare handle.  The loop's time was updated when the wait
 * returned, so the new timer counts from after the wait: the next tick
 * runs the prepare callback, and only a later one the timer. */
static int fc_prepare;
static int fc_check;
static int fc_timer;
static lure_timer_t fc_t;
static lure_prepare_t fc_p;
static lure_check_t fc_c;

static void fc_prepare_cb(lure_prepare_t *h) {
  ck_assert_int_eq(lure_prepare_stop(h), 0);
  ck_assert_int_eq(fc_check, 1);
  ck_assert_int_eq(fc_timer, 0);
  fc_prepare++;
}

static void fc_timer_cb(lure_timer_t *h) {
  ck_assert_int_eq(fc_prepare, 1);
  ck_assert_int_eq(fc_check, 1);
  fc_timer++;
}

static void fc_check_cb(lure_check_t *h) {
  ck_assert_int_eq(lure_check_stop(h), 0);
  ck_assert_int_eq(lure_timer_stop(&fc_t), 0); /* before it ran */
  ck_assert_int_eq(lure_timer_start(&fc_t, fc_timer_cb, 50, 0), 0);
  ck_assert_int_eq(lure_prepare_start(&fc_p, fc_prepare_cb), 0);
  fc_check++;
}

START_TEST(timer_from_check) {
  lure_loop_t loop;

  fc_prepare = fc_check = fc_timer = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_prepare_init(&loop, &fc_p), 0);
  ck_assert_int_eq(lure_check_init(&loop, &fc_c), 0);
  ck_assert_int_eq(lure_check_start(&fc_c, fc_check_cb), 0);
  ck_assert_int_eq(lure_timer_init(&loop, &fc_t), 0);
  ck_assert_int_eq(lure_timer_start(&fc_t, fc_timer_cb, 50, 0), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(fc_prepare, 1);
  ck_assert_int_eq(fc_check, 1);
  ck_assert_int_eq(fc_timer, 1);
  lt_loop_finish(&loop);
}
END_TEST

LT_SUITE(timer) {
  Suite *s = suite_create("timer");
  TCase *tc = lt_tcase("timer", 30);

  tcase_add_test(tc, timer_equal_timeouts_start_order);
  tcase_add_test(tc, timer_many_sorted);
  tcase_add_test(tc, timer_run_and_heap_order);
  tcase_add_test(tc, timer_repeat);
  tcase_add_test(tc, timer_phase_snapshot);
  tcase_add_test(tc, timer_again);
  tcase_add_test(tc, timer_stop_in_callback);
  tcase_add_test(tc, timer_stop_other_same_tick);
  tcase_add_test(tc, timer_restart_from_callback_once);
  tcase_add_test(tc, timer_restart_from_callback_default);
  tcase_add_test(tc, timer_start_twice);
  tcase_add_test(tc, timer_due_in_and_repeat);
  tcase_add_test(tc, timer_close_in_callback);
  tcase_add_test(tc, timer_bad_arguments);
  tcase_add_test(tc, timer_from_check);
  suite_add_tcase(s, tc);
  return s;
}
