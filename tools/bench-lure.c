/*
 * bench-lure.c - the timers, loop, async and work suites on lure.
 *
 * For these suites the executor named is the loop's wait point: "io_uring"
 * (the ring) or "epoll".  bench-libuv.c has the same suites on libuv; the two
 * files are kept alike on purpose, so that a difference in the figures is a
 * difference in the libraries and not in the harness.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lure.h"
#include "lure-bench.h"

const char *bench_lure_version(void) {
  return lure_version_string();
}

static int configure(lure_loop_t *loop, lure_loop_option opt, const char *v,
                     struct bench_result *r) {
  int rc = lure_loop_configure(loop, opt, v);

  if (rc != 0)
    bench_set_error(r, "lure_loop_configure(%s, \"%s\"): %s",
                    opt == LURE_LOOP_BACKEND ? "LURE_LOOP_BACKEND"
                                             : "LURE_LOOP_URING_DISABLE",
                    v, lure_strerror(rc));
  return rc;
}

int bench_lure_open(lure_loop_t *loop, const char *executor,
                    struct bench_result *r) {
  const char *want = NULL;
  const char *got;
  int rc;

  memset(loop, 0, sizeof(*loop));
  rc = lure_loop_init(loop);
  if (rc != 0) {
    bench_set_error(r, "lure_loop_init: %s", lure_strerror(rc));
    return -1;
  }
  /* The options set here override LURE_BACKEND and LURE_URING_DISABLE from
   * the environment, so that each executor is the one its name says. */
  if (strcmp(executor, "io_uring") == 0) {
    want = "io_uring";
    if (configure(loop, LURE_LOOP_BACKEND, "io_uring", r) != 0 ||
        configure(loop, LURE_LOOP_URING_DISABLE, "", r) != 0)
      goto fail;
  } else if (strcmp(executor, "epoll") == 0 || strcmp(executor, "aio") == 0) {
    want = "epoll";
    if (configure(loop, LURE_LOOP_BACKEND, "epoll", r) != 0)
      goto fail;
  } else if (strcmp(executor, "threadpool") == 0) {
    /* The ring stays the wait point; only its file opcodes are masked, so
     * the file requests go to the pool.  Without a ring, epoll serves and
     * buffered files go to the pool anyway. */
    if (lure_loop_configure(loop, LURE_LOOP_BACKEND, "io_uring") == 0) {
      if (configure(loop, LURE_LOOP_URING_DISABLE, "read,write,readv,writev",
                    r) != 0)
        goto fail;
    } else if (configure(loop, LURE_LOOP_BACKEND, "epoll", r) != 0) {
      goto fail;
    }
  } else {
    bench_set_error(r, "lure has no executor \"%s\"", executor);
    goto fail;
  }
  got = lure_loop_backend(loop);
  if (want != NULL && (got == NULL || strcmp(got, want) != 0)) {
    bench_set_error(r, "asked for the %s wait point, the loop has %s", want,
                    got ? got : "none");
    goto fail;
  }
  return 0;

fail:
  lure_loop_close(loop);
  return -1;
}

void bench_lure_close(lure_loop_t *loop) {
  int rc;

  lure_run(loop, LURE_RUN_DEFAULT);
  rc = lure_loop_close(loop);
  if (rc != 0)
    fprintf(stderr, "lure-bench: lure_loop_close: %s\n", lure_strerror(rc));
}

int bench_lure_has_uring(void) {
  lure_loop_t loop;
  struct bench_result r;
  int ok;

  memset(&r, 0, sizeof(r));
  ok = bench_lure_open(&loop, "io_uring", &r) == 0;
  if (ok)
    bench_lure_close(&loop);
  return ok;
}

static void wait_calls_since(lure_loop_t *loop, const lure_loop_stats_t *s0,
                             struct bench_result *r) {
  lure_loop_stats_t s1;

  if (lure_loop_stats(loop, &s1) == 0) {
    r->wait_calls = s1.wait_calls - s0->wait_calls;
    r->has_wait_calls = 1;
  }
}

/* ---- timers -------------------------------------------------------------- */

/*
 * N timers, due at uniform random times in [0, spread] ms from one instant,
 * all fire.  Latency is each timer's lateness: when its callback ran minus
 * when it was due.  ops/s is timers per CPU second (the loop sleeps between
 * due times, so wall time says nothing about cost).
 */
struct timers_ctx {
  lure_timer_t *timers;
  uint32_t *due;
  uint64_t t0;
  uint64_t last;
  struct bench_hist *hist;
};

static void timer_fired(lure_timer_t *t) {
  struct timers_ctx *c = t->loop->data;
  uint64_t now = bench_now_ns();
  uint64_t due = c->t0 + (uint64_t) c->due[t - c->timers] * 1000000u;

  bench_hist_record(c->hist, now > due ? now - due : 0);
  c->last = now;
}

int bench_lure_timers(const struct bench_params *p, const char *executor,
                      struct bench_result *r) {
  struct timers_ctx c;
  lure_loop_t loop;
  lure_loop_stats_t s0;
  uint64_t n = p->ops;
  uint64_t rng = p->seed;
  uint64_t i;
  double cpu0;
  int rc;

  memset(&c, 0, sizeof(c));
  c.hist = r->hist;
  c.timers = calloc(n, sizeof(*c.timers));
  c.due = calloc(n, sizeof(*c.due));
  if (c.timers == NULL || c.due == NULL) {
    bench_set_error(r, "out of memory for %llu timers", (unsigned long long) n);
    goto out;
  }
  for (i = 0; i < n; i++)
    c.due[i] = (uint32_t) (bench_rand(&rng) % (p->spread_ms + 1u));
  if (bench_lure_open(&loop, executor, r) != 0)
    goto out;
  loop.data = &c;
  lure_loop_stats(&loop, &s0);
  cpu0 = bench_cpu_seconds();
  lure_update_time(&loop);
  c.t0 = bench_now_ns();
  for (i = 0; i < n; i++) {
    lure_timer_init(&loop, &c.timers[i]);
    rc = lure_timer_start(&c.timers[i], timer_fired, c.due[i], 0);
    if (rc != 0) {
      bench_set_error(r, "lure_timer_start: %s", lure_strerror(rc));
      break;
    }
  }
  if (r->error[0] == '\0')
    lure_run(&loop, LURE_RUN_DEFAULT);
  r->cpu_seconds = bench_cpu_seconds() - cpu0;
  r->seconds = c.last > c.t0 ? (double) (c.last - c.t0) / 1e9 : 0.0;
  r->ops = r->hist->count;
  wait_calls_since(&loop, &s0, r);
  if (r->error[0] == '\0' && r->ops != n)
    bench_set_error(r, "%llu of %llu timers fired",
                    (unsigned long long) r->ops, (unsigned long long) n);
  for (i = 0; i < n; i++)
    if (c.timers[i].loop != NULL)
      lure_close((lure_handle_t *) &c.timers[i], NULL);
  bench_lure_close(&loop);

out:
  free(c.timers);
  free(c.due);
  return r->error[0] ? -1 : 0;
}

/* ---- loop ---------------------------------------------------------------- */

/*
 * An idle handle keeps the loop spinning with a zero timeout; every callback
 * is one tick.  Latency is the time from one tick to the next.
 */
struct loop_ctx {
  struct bench_drive d;
  lure_idle_t idle;
  lure_loop_stats_t s0;
  uint64_t last;
};

static void idle_tick(lure_idle_t *h) {
  struct loop_ctx *c = h->data;
  uint64_t now = bench_now_ns();

  if (c->last != 0 && bench_drive_complete(&c->d, c->last, now))
    lure_loop_stats(h->loop, &c->s0);
  if (!bench_drive_may_issue(&c->d, now)) {
    lure_close((lure_handle_t *) h, NULL);
    return;
  }
  c->d.issued++;
  c->last = now;
}

int bench_lure_loop(const struct bench_params *p, const char *executor,
                    struct bench_result *r) {
  struct loop_ctx c;
  lure_loop_t loop;

  memset(&c, 0, sizeof(c));
  if (bench_lure_open(&loop, executor, r) != 0)
    return -1;
  lure_loop_stats(&loop, &c.s0);
  bench_drive_init(&c.d, p, r, bench_now_ns());
  lure_idle_init(&loop, &c.idle);
  c.idle.data = &c;
  lure_idle_start(&c.idle, idle_tick);
  lure_run(&loop, LURE_RUN_DEFAULT);
  bench_drive_finish(&c.d);
  wait_calls_since(&loop, &c.s0, r);
  bench_lure_close(&loop);
  return r->error[0] ? -1 : 0;
}

/* ---- async --------------------------------------------------------------- */

/*
 * Ping-pong: a thread stamps the time, lure_async_send()s, and sleeps on a
 * semaphore; the loop wakes, and its async callback posts the semaphore.
 * Latency is the thread's round trip; ops/s the round trips (wake-ups) per
 * second.  The way back (sem_post, a futex wake) is the same for libuv.
 */
struct async_ctx {
  struct bench_drive d;
  lure_async_t async;
  lure_loop_t *loop;
  sem_t pong;
  atomic_int done;
  atomic_int snap;
  lure_loop_stats_t s0;
};

static void async_woken(lure_async_t *h) {
  struct async_ctx *c = h->data;

  if (atomic_exchange(&c->snap, 0))
    lure_loop_stats(h->loop, &c->s0);
  if (atomic_load(&c->done)) {
    lure_close((lure_handle_t *) h, NULL);
    return;
  }
  sem_post(&c->pong);
}

static void *async_pinger(void *arg) {
  struct async_ctx *c = arg;
  uint64_t t;
  uint64_t now = bench_now_ns();
  int rc;

  bench_drive_init(&c->d, c->d.p, c->d.r, now);
  if (c->d.measuring)
    atomic_store(&c->snap, 1);
  while (bench_drive_may_issue(&c->d, now)) {
    c->d.issued++;
    t = bench_now_ns();
    rc = lure_async_send(&c->async);
    if (rc != 0) {
      bench_set_error(c->d.r, "lure_async_send: %s", lure_strerror(rc));
      break;
    }
    while (sem_wait(&c->pong) != 0)
      ;
    now = bench_now_ns();
    if (bench_drive_complete(&c->d, t, now))
      atomic_store(&c->snap, 1);
  }
  bench_drive_finish(&c->d);
  atomic_store(&c->done, 1);
  lure_async_send(&c->async);
  return NULL;
}

int bench_lure_async(const struct bench_params *p, const char *executor,
                     struct bench_result *r) {
  struct async_ctx c;
  lure_loop_t loop;
  pthread_t th;
  int rc;

  memset(&c, 0, sizeof(c));
  if (bench_lure_open(&loop, executor, r) != 0)
    return -1;
  c.d.p = p;
  c.d.r = r;
  sem_init(&c.pong, 0, 0);
  lure_async_init(&loop, &c.async, async_woken);
  c.async.data = &c;
  lure_loop_stats(&loop, &c.s0);
  rc = pthread_create(&th, NULL, async_pinger, &c);
  if (rc != 0) {
    bench_set_error(r, "pthread_create: %s", strerror(rc));
    lure_close((lure_handle_t *) &c.async, NULL);
  }
  lure_run(&loop, LURE_RUN_DEFAULT);
  if (rc == 0)
    pthread_join(th, NULL);
  wait_calls_since(&loop, &c.s0, r);
  bench_lure_close(&loop);
  sem_destroy(&c.pong);
  return r->error[0] ? -1 : 0;
}

/* ---- work ---------------------------------------------------------------- */

/*
 * --depth requests of empty work in flight; latency from lure_queue_work()
 * to the after-work callback.  Every request must have been served by the
 * thread pool.
 */
struct work_slot {
  lure_work_t req;
  uint64_t t;
  struct work_ctx *c;
};

struct work_ctx {
  struct bench_drive d;
  lure_loop_t *loop;
  lure_loop_stats_t s0;
};

static void work_nothing(lure_work_t *req) {
  (void) req;
}

static void work_done(lure_work_t *req, int status);

static void work_issue(struct work_slot *s) {
  struct work_ctx *c = s->c;
  int rc;

  c->d.issued++;
  s->t = bench_now_ns();
  rc = lure_queue_work(c->loop, &s->req, work_nothing, work_done);
  if (rc != 0) {
    bench_set_error(c->d.r, "lure_queue_work: %s", lure_strerror(rc));
    c->d.stop = 1;
  }
}

static void work_done(lure_work_t *req, int status) {
  struct work_slot *s = (struct work_slot *) req;
  struct work_ctx *c = s->c;
  uint64_t now = bench_now_ns();
  const char *ex = lure_req_executor((const lure_req_t *) req);

  if (status != 0) {
    bench_set_error(c->d.r, "work request: %s", lure_strerror(status));
    c->d.stop = 1;
  }
  if (ex == NULL || strcmp(ex, "threadpool") != 0) {
    if (c->d.r->mismatches++ == 0)
      snprintf(c->d.r->mismatch_name, sizeof(c->d.r->mismatch_name), "%s",
               ex ? ex : "none");
    c->d.stop = 1;
  }
  if (bench_drive_complete(&c->d, s->t, now))
    lure_loop_stats(c->loop, &c->s0);
  if (bench_drive_may_issue(&c->d, now))
    work_issue(s);
}

int bench_lure_work(const struct bench_params *p, const char *executor,
                    struct bench_result *r) {
  struct work_ctx c;
  struct work_slot *slots;
  lure_loop_t loop;
  unsigned i;

  memset(&c, 0, sizeof(c));
  slots = calloc(p->depth, sizeof(*slots));
  if (slots == NULL) {
    bench_set_error(r, "out of memory");
    return -1;
  }
  if (bench_lure_open(&loop, executor, r) != 0) {
    free(slots);
    return -1;
  }
  c.loop = &loop;
  lure_loop_stats(&loop, &c.s0);
  bench_drive_init(&c.d, p, r, bench_now_ns());
  for (i = 0; i < p->depth && bench_drive_may_issue(&c.d, bench_now_ns());
       i++) {
    slots[i].c = &c;
    work_issue(&slots[i]);
  }
  lure_run(&loop, LURE_RUN_DEFAULT);
  bench_drive_finish(&c.d);
  wait_calls_since(&loop, &c.s0, r);
  bench_lure_close(&loop);
  free(slots);
  if (r->mismatches != 0 && r->error[0] == '\0')
    bench_set_error(r, "lure served %llu work request(s) with %s instead "
                    "of the thread pool", (unsigned long long) r->mismatches,
                    r->mismatch_name);
  return r->error[0] ? -1 : 0;
}
