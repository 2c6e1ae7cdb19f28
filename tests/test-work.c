/*
 * test-work.c - the thread pool through lure_queue_work() and lure_cancel().
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "harness.h"

static pthread_t main_thread;

/* ---- 10,000 work requests ---------------------------------------------------- */

enum { NWORK = 10000 };

struct job {
  lure_work_t req;
  int index;
  atomic_int work_calls;
  int other_thread;
  int after_calls;
  int after_status;
};

static atomic_int work_total;
static int after_total;

static void job_work_cb(lure_work_t *req) {
  struct job *j = (struct job *) req;

  atomic_fetch_add(&j->work_calls, 1);
  j->other_thread = !pthread_equal(pthread_self(), main_thread);
  atomic_fetch_add(&work_total, 1);
}

static void job_after_cb(lure_work_t *req, int status) {
  struct job *j = (struct job *) req;

  ck_assert(pthread_equal(pthread_self(), main_thread));
  j->after_calls++;
  j->after_status = status;
  after_total++;
  /* The request is no longer active in its own after-callback: its
   * memory is the caller's again. */
  ck_assert_int_eq(lure_cancel((lure_req_t *) req), LURE_EBUSY);
}

START_TEST(work_10k) {
  lure_loop_t loop;
  struct job *jobs = calloc(NWORK, sizeof(*jobs));
  lure_loop_stats_t st;
  int i;

  ck_assert_ptr_nonnull(jobs);
  main_thread = pthread_self();
  atomic_store(&work_total, 0);
  after_total = 0;
  lt_loop_init(&loop);
  for (i = 0; i < NWORK; i++) {
    jobs[i].index = i;
    jobs[i].req.data = &jobs[i];
    ck_assert_int_eq(lure_queue_work(&loop, &jobs[i].req, job_work_cb,
                                     job_after_cb), 0);
  }
  ck_assert_int_eq(jobs[0].req.type, LURE_WORK);
  ck_assert_ptr_eq(jobs[0].req.loop, &loop);
  ck_assert_int_ne(lure_loop_alive(&loop), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(after_total, NWORK);
  ck_assert_int_eq(atomic_load(&work_total), NWORK);
  for (i = 0; i < NWORK; i++) {
    ck_assert_msg(atomic_load(&jobs[i].work_calls) == 1,
                  "job %d: work_cb ran %d times", i,
                  atomic_load(&jobs[i].work_calls));
    ck_assert_msg(jobs[i].after_calls == 1, "job %d: after_work_cb ran %d times",
                  i, jobs[i].after_calls);
    ck_assert_int_eq(jobs[i].after_status, 0);
    ck_assert_msg(jobs[i].other_thread, "job %d ran on the loop thread", i);
    ck_assert_ptr_eq(jobs[i].req.data, &jobs[i]);
  }
  ck_assert_pstr_eq(lure_req_executor((lure_req_t *) &jobs[0].req), "threadpool");
  ck_assert_pstr_eq(lure_req_executor((lure_req_t *) &jobs[NWORK - 1].req),
                    "threadpool");
  ck_assert_int_eq(lure_loop_stats(&loop, &st), 0);
  ck_assert_uint_eq(st.threadpool_jobs, NWORK);
  lt_loop_finish(&loop);
  free(jobs);
}
END_TEST

/* Work queued from after-callbacks, a chain of 200. */
static int chain_left;
static void chain_work_cb(lure_work_t *req) {}
static void chain_after_cb(lure_work_t *req, int status) {
  ck_assert_int_eq(status, 0);
  if (--chain_left > 0)
    ck_assert_int_eq(lure_queue_work(req->loop, req, chain_work_cb,
                                     chain_after_cb), 0);
}

START_TEST(work_chain) {
  lure_loop_t loop;
  lure_work_t req;

  chain_left = 200;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_queue_work(&loop, &req, chain_work_cb, chain_after_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(chain_left, 0);
  lt_loop_finish(&loop);
}
END_TEST

/* Two loops share the pool; each gets its own completions. */
static int two_after[2];
static void two_after_cb(lure_work_t *req, int status) {
  ck_assert_int_eq(status, 0);
  two_after[(int) (intptr_t) req->data]++;
}

START_TEST(work_two_loops) {
  lure_loop_t loops[2];
  lure_work_t reqs[2][100];
  int l;
  int i;

  for (l = 0; l < 2; l++) {
    two_after[l] = 0;
    lt_loop_init(&loops[l]);
    for (i = 0; i < 100; i++) {
      reqs[l][i].data = (void *) (intptr_t) l;
      ck_assert_int_eq(lure_queue_work(&loops[l], &reqs[l][i], chain_work_cb,
                                       two_after_cb), 0);
    }
  }
  ck_assert_int_eq(lure_run(&loops[1], LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(two_after[1], 100);
  ck_assert_int_eq(lure_run(&loops[0], LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(two_after[0], 100);
  for (l = 0; l < 2; l++)
    lt_loop_finish(&loops[l]);
}
END_TEST

/* ---- cancel -------------------------------------------------------------------- */

enum { POOL = 2, EXTRA = 6 };

static pthread_mutex_t gate_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open;
static int blockers_started;
static atomic_int extra_ran;
static int blocker_status[POOL];
static int blocker_after[POOL];
static int extra_status[EXTRA];
static int extra_after[EXTRA];

static void blocker_work_cb(lure_work_t *req) {
  pthread_mutex_lock(&gate_mutex);
  blockers_started++;
  pthread_cond_broadcast(&gate_cond);
  while (!gate_open)
    pthread_cond_wait(&gate_cond, &gate_mutex);
  pthread_mutex_unlock(&gate_mutex);
}

static void blocker_after_cb(lure_work_t *req, int status) {
  int i = (int) (intptr_t) req->data;

  blocker_after[i]++;
  blocker_status[i] = status;
}

static void extra_work_cb(lure_work_t *req) {
  atomic_fetch_add(&extra_ran, 1);
}

static void extra_after_cb(lure_work_t *req, int status) {
  int i = (int) (intptr_t) req->data;

  extra_after[i]++;
  extra_status[i] = status;
}

/* Wait (bounded) until n blockers run. */
static void wait_blockers(int n) {
  struct timespec ts;
  int rc = 0;

  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 10;
  pthread_mutex_lock(&gate_mutex);
  while (blockers_started < n && rc == 0)
    rc = pthread_cond_timedwait(&gate_cond, &gate_mutex, &ts);
  pthread_mutex_unlock(&gate_mutex);
  ck_assert_msg(blockers_started >= n, "only %d of %d blockers started",
                blockers_started, n);
}

static void open_gate(void) {
  pthread_mutex_lock(&gate_mutex);
  gate_open = 1;
  pthread_cond_broadcast(&gate_cond);
  pthread_mutex_unlock(&gate_mutex);
}

/* With every pool thread blocked, queued requests can be cancelled: 0, and
 * their after-callback gets LURE_ECANCELED (their work never runs); a
 * running request cannot: LURE_EBUSY. */
START_TEST(work_cancel) {
  lure_loop_t loop;
  lure_work_t blockers[POOL];
  lure_work_t extra[EXTRA];
  lure_timer_t wd;
  int i;

  /* Before the pool's first use in this (forked) process. */
  ck_assert_int_eq(setenv("LURE_THREADPOOL_SIZE", "2", 1), 0);
  gate_open = 0;
  blockers_started = 0;
  atomic_store(&extra_ran, 0);
  memset(blocker_after, 0, sizeof(blocker_after));
  memset(extra_after, 0, sizeof(extra_after));
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 20000, "cancelled work never completed");

  for (i = 0; i < POOL; i++) {
    blockers[i].data = (void *) (intptr_t) i;
    ck_assert_int_eq(lure_queue_work(&loop, &blockers[i], blocker_work_cb,
                                     blocker_after_cb), 0);
  }
  wait_blockers(POOL);
  for (i = 0; i < EXTRA; i++) {
    extra[i].data = (void *) (intptr_t) i;
    ck_assert_int_eq(lure_queue_work(&loop, &extra[i], extra_work_cb,
                                     extra_after_cb), 0);
  }
  /* A pool of 2 has no third thread: nothing of the extra work runs. */
  lt_sleep_ms(20);
  ck_assert_int_eq(atomic_load(&extra_ran), 0);

  /* Cancel all but the last extra request. */
  for (i = 0; i < EXTRA - 1; i++)
    ck_assert_int_eq(lure_cancel((lure_req_t *) &extra[i]), 0);
  /* The after-callback never runs inside lure_cancel(). */
  for (i = 0; i < EXTRA; i++)
    ck_assert_int_eq(extra_after[i], 0);
  /* Running requests cannot be cancelled. */
  for (i = 0; i < POOL; i++)
    ck_assert_int_eq(lure_cancel((lure_req_t *) &blockers[i]), LURE_EBUSY);

  /* The cancellations are delivered while the pool is still blocked. */
  for (i = 0; i < 100 && extra_after[EXTRA - 2] == 0; i++)
    lure_run(&loop, LURE_RUN_ONCE);
  for (i = 0; i < EXTRA - 1; i++) {
    ck_assert_int_eq(extra_after[i], 1);
    ck_assert_int_eq(extra_status[i], LURE_ECANCELED);
    /* Cancelling again (the request is done) fails. */
    ck_assert_int_eq(lure_cancel((lure_req_t *) &extra[i]), LURE_EBUSY);
  }
  ck_assert_int_eq(extra_after[EXTRA - 1], 0);
  ck_assert_int_ne(lure_loop_alive(&loop), 0);

  open_gate();
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  for (i = 0; i < POOL; i++) {
    ck_assert_int_eq(blocker_after[i], 1);
    ck_assert_int_eq(blocker_status[i], 0);
  }
  ck_assert_int_eq(extra_after[EXTRA - 1], 1);
  ck_assert_int_eq(extra_status[EXTRA - 1], 0);
  /* Only the one extra request that was not cancelled ran. */
  ck_assert_int_eq(atomic_load(&extra_ran), 1);
  ck_assert_pstr_eq(lure_req_executor((lure_req_t *) &extra[EXTRA - 1]),
                    "threadpool");
  for (i = 0; i < POOL; i++)
    ck_assert_pstr_eq(lure_req_executor((lure_req_t *) &blockers[i]),
                      "threadpool");
  lt_loop_finish(&loop);
}
END_TEST

/* The loop cannot be closed while work is pending. */
START_TEST(work_loop_close_busy) {
  lure_loop_t loop;
  lure_work_t req;

  ck_assert_int_eq(setenv("LURE_THREADPOOL_SIZE", "1", 1), 0);
  gate_open = 0;
  blockers_started = 0;
  memset(blocker_after, 0, sizeof(blocker_after));
  lt_loop_init(&loop);
  req.data = (void *) (intptr_t) 0;
  ck_assert_int_eq(lure_queue_work(&loop, &req, blocker_work_cb,
                                   blocker_after_cb), 0);
  wait_blockers(1);
  ck_assert_int_eq(lure_loop_close(&loop), LURE_EBUSY);
  open_gate();
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(blocker_after[0], 1);
  ck_assert_int_eq(blocker_status[0], 0);
  ck_assert_int_eq(lure_loop_close(&loop), 0);
}
END_TEST

/* A NULL after-callback is allowed (as in libuv); the work still runs and
 * the loop still waits for it. */
static atomic_int null_after_ran;
static void null_after_work_cb(lure_work_t *req) {
  lt_sleep_ms(10);
  atomic_fetch_add(&null_after_ran, 1);
}

START_TEST(work_null_after_cb) {
  lure_loop_t loop;
  lure_work_t req;

  atomic_store(&null_after_ran, 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_queue_work(&loop, &req, null_after_work_cb, NULL), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(atomic_load(&null_after_ran), 1);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(work_bad_arguments) {
  lure_loop_t loop;
  lure_work_t req;
  lure_req_t plain;

  lt_loop_init(&loop);
  memset(&req, 0, sizeof(req));
  ck_assert_int_eq(lure_queue_work(NULL, &req, chain_work_cb, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_queue_work(&loop, NULL, chain_work_cb, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_queue_work(&loop, &req, NULL, chain_after_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  ck_assert_int_eq(lure_cancel(NULL), LURE_EINVAL);
  memset(&plain, 0, sizeof(plain));
  ck_assert_int_lt(lure_cancel(&plain), 0);
  ck_assert_ptr_null(lure_req_executor(NULL));
  ck_assert_ptr_null(lure_req_executor(&plain));
  lt_loop_finish(&loop);
}
END_TEST

/* Several loops, each in its own thread, share the pool at once: every
 * completion comes back to the loop (and thread) that queued it. */
enum { NLOOPS = 4, PER_LOOP = 2000 };

struct loop_thread {
  lure_loop_t loop;
  lure_work_t reqs[PER_LOOP];
  pthread_t tid;
  pthread_t self; /* as the thread sees itself */
  int after;
  int wrong;
  int ok;
};

static void lt_work_cb(lure_work_t *req) {}

static void lt_after_cb(lure_work_t *req, int status) {
  struct loop_thread *lt = req->data;

  if (status != 0 || req->loop != &lt->loop ||
      !pthread_equal(pthread_self(), lt->self))
    lt->wrong++;
  lt->after++;
}

static void *lt_main(void *arg) {
  struct loop_thread *lt = arg;
  int i;

  lt->self = pthread_self();
  for (i = 0; i < PER_LOOP; i++) {
    lt->reqs[i].data = lt;
    if (lure_queue_work(&lt->loop, &lt->reqs[i], lt_work_cb, lt_after_cb) != 0)
      lt->wrong++;
  }
  lt->ok = lure_run(&lt->loop, LURE_RUN_DEFAULT) == 0;
  return NULL;
}

START_TEST(work_loops_in_threads) {
  struct loop_thread *lts = calloc(NLOOPS, sizeof(*lts));
  int i;

  ck_assert_ptr_nonnull(lts);
  for (i = 0; i < NLOOPS; i++)
    lt_loop_init(&lts[i].loop);
  for (i = 0; i < NLOOPS; i++)
    ck_assert_int_eq(pthread_create(&lts[i].tid, NULL, lt_main, &lts[i]), 0);
  for (i = 0; i < NLOOPS; i++)
    ck_assert_int_eq(pthread_join(lts[i].tid, NULL), 0);
  for (i = 0; i < NLOOPS; i++) {
    ck_assert_int_eq(lts[i].ok, 1);
    ck_assert_int_eq(lts[i].wrong, 0);
    ck_assert_int_eq(lts[i].after, PER_LOOP);
    lt_loop_finish(&lts[i].loop);
  }
  free(lts);
}
END_TEST

/* Out-of-range LURE_THREADPOOL_SIZE values are clamped (1..1024), never a
 * pool of no threads: the work still completes. */
static const char *pool_sizes[] = { "0", "-3", "abc", "", "99999", "1" };
static int ps_after;
static void ps_after_cb(lure_work_t *req, int status) {
  ck_assert_int_eq(status, 0);
  ps_after++;
}

START_TEST(work_pool_size_env) {
  lure_loop_t loop;
  lure_work_t reqs[20];
  lure_timer_t wd;
  int i;

  ck_assert_int_eq(setenv("LURE_THREADPOOL_SIZE", pool_sizes[_i], 1), 0);
  ps_after = 0;
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 20000, "work never completed");
  for (i = 0; i < 20; i++)
    ck_assert_int_eq(lure_queue_work(&loop, &reqs[i], chain_work_cb, ps_after_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(ps_after, 20);
  lt_loop_finish(&loop);
}
END_TEST

/* libuv's UV_THREADPOOL_SIZE sizes the pool when LURE_THREADPOOL_SIZE is
 * unset or empty; lure's own variable wins when both are set.  Seen as the
 * number of blocking jobs that start at once out of 4. */
static const struct {
  const char *lure;
  const char *uv;
  int threads;
} uv_sizes[] = { { NULL, "2", 2 }, { "", "3", 3 }, { "1", "3", 1 } };
static int uvs_after;

static void uvs_after_cb(lure_work_t *req, int status) {
  (void) req;
  ck_assert_int_eq(status, 0);
  uvs_after++;
}

START_TEST(work_pool_size_uv_env) {
  lure_loop_t loop;
  lure_work_t reqs[4];
  int started;
  int i;

  /* Before the pool's first use in this (forked) process. */
  if (uv_sizes[_i].lure == NULL)
    ck_assert_int_eq(unsetenv("LURE_THREADPOOL_SIZE"), 0);
  else
    ck_assert_int_eq(setenv("LURE_THREADPOOL_SIZE", uv_sizes[_i].lure, 1), 0);
  ck_assert_int_eq(setenv("UV_THREADPOOL_SIZE", uv_sizes[_i].uv, 1), 0);
  gate_open = 0;
  blockers_started = 0;
  uvs_after = 0;
  lt_loop_init(&loop);
  for (i = 0; i < 4; i++)
    ck_assert_int_eq(lure_queue_work(&loop, &reqs[i], blocker_work_cb,
                                     uvs_after_cb), 0);
  wait_blockers(uv_sizes[_i].threads);
  lt_sleep_ms(50);
  pthread_mutex_lock(&gate_mutex);
  started = blockers_started;
  pthread_mutex_unlock(&gate_mutex);
  ck_assert_msg(started == uv_sizes[_i].threads,
                "LURE_THREADPOOL_SIZE %s, UV_THREADPOOL_SIZE %s: %d jobs at "
                "once, want %d",
                uv_sizes[_i].lure ? uv_sizes[_i].lure : "unset",
                uv_sizes[_i].uv, started, uv_sizes[_i].threads);
  open_gate();
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(uvs_after, 4);
  ck_assert_int_eq(unsetenv("UV_THREADPOOL_SIZE"), 0);
  lt_loop_finish(&loop);
}
END_TEST

LT_SUITE(work) {
  Suite *s = suite_create("work");
  TCase *tc = lt_tcase("work", 60);

  tcase_add_test(tc, work_10k);
  tcase_add_test(tc, work_chain);
  tcase_add_test(tc, work_two_loops);
  tcase_add_test(tc, work_loops_in_threads);
  tcase_add_test(tc, work_cancel);
  tcase_add_test(tc, work_loop_close_busy);
  tcase_add_test(tc, work_null_after_cb);
  tcase_add_loop_test(tc, work_pool_size_env, 0,
                      (int) LT_ARRAY_SIZE(pool_sizes));
  tcase_add_loop_test(tc, work_pool_size_uv_env, 0,
                      (int) LT_ARRAY_SIZE(uv_sizes));
  tcase_add_test(tc, work_bad_arguments);
  suite_add_tcase(s, tc);
  return s;
}
