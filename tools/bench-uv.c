/*
 * bench-uv.c - the timers, loop, async, work and fs suites, written once
 * against libuv's API and built twice (see bench-side.h): against libuv,
 * for the "vs libuv" columns, and against lure's uv.h, for lure's rows.
 *
 * On lure the executor a row names is the loop's wait point ("io_uring",
 * the ring, or "epoll") for every suite but fs, where it is the executor
 * that must serve each file request ("io_uring", "aio" or "threadpool"),
 * or "auto", lure's default routing, where any may serve and the row
 * counts which did:
 * bench_lure_open() configures the loop so, and the fs and work suites
 * check lure_req_executor() on every completion; a run whose requests went
 * elsewhere is an error, not a figure.  libuv has one executor, "libuv",
 * and says nothing of how a request was served.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "lure-bench.h"
#include "bench-side.h"

/* ---- the two libraries --------------------------------------------------- */

#ifdef LURE_UV_H

const char *bench_lure_version(void) {
  return lure_version_string();
}

static int configure(uv_loop_t *loop, lure_loop_option opt, const char *v,
                     struct bench_result *r) {
  int rc = lure_loop_configure(loop, opt, v);

  if (rc != 0)
    bench_set_error(r, "lure_loop_configure(%s, \"%s\"): %s",
                    opt == LURE_LOOP_BACKEND ? "LURE_LOOP_BACKEND"
                                             : "LURE_LOOP_URING_DISABLE",
                    v, lure_strerror(rc));
  return rc;
}

static int adapt(uv_loop_t *loop, int on, struct bench_result *r) {
  int rc = lure_loop_configure(loop, LURE_LOOP_FS_ADAPT, on);

  if (rc != 0)
    bench_set_error(r, "lure_loop_configure(LURE_LOOP_FS_ADAPT, %d): %s", on,
                    lure_strerror(rc));
  return rc;
}

int bench_lure_open(uv_loop_t *loop, const char *executor,
                    struct bench_result *r) {
  const char *want = NULL;
  const char *got;
  int rc;

  memset(loop, 0, sizeof(*loop));
  rc = uv_loop_init(loop);
  if (rc != 0) {
    bench_set_error(r, "lure_loop_init: %s", uv_strerror(rc));
    return -1;
  }
  /* The options set here override LURE_BACKEND and LURE_URING_DISABLE from
   * the environment, so that each executor is the one its name says. */
  if (strcmp(executor, "io_uring") == 0) {
    want = "io_uring";
    if (configure(loop, LURE_LOOP_BACKEND, "io_uring", r) != 0 ||
        configure(loop, LURE_LOOP_URING_DISABLE, "", r) != 0 ||
        adapt(loop, 0, r) != 0)
      goto fail;
    /* Streams on the ring from their first byte, not after a warm-up on
     * readiness (lure's default). */
    rc = lure_loop_configure(loop, LURE_LOOP_STREAM_WARMUP, 0u);
    if (rc != 0) {
      bench_set_error(r, "lure_loop_configure(LURE_LOOP_STREAM_WARMUP, 0): %s",
                      lure_strerror(rc));
      goto fail;
    }
  } else if (strcmp(executor, "auto") == 0) {
    /* What a program gets without asking: the preferred wait point, no
     * mask, the adaptive router of buffered writes on. */
    if (configure(loop, LURE_LOOP_URING_DISABLE, "", r) != 0 ||
        adapt(loop, 1, r) != 0)
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
  uv_loop_close(loop);
  return -1;
}

int bench_lure_has_uring(void) {
  uv_loop_t loop;
  struct bench_result r;
  int ok;

  memset(&r, 0, sizeof(r));
  ok = bench_lure_open(&loop, "io_uring", &r) == 0;
  if (ok)
    bench_lure_close(&loop);
  return ok;
}

#else /* libuv */

const char *bench_uv_version(void) {
  return uv_version_string();
}

int bench_uv_open(uv_loop_t *loop, const char *executor,
                  struct bench_result *r) {
  int rc;

  if (strcmp(executor, "libuv") != 0) {
    bench_set_error(r, "libuv has no executor \"%s\"", executor);
    return -1;
  }
  rc = uv_loop_init(loop);
  if (rc != 0) {
    bench_set_error(r, "uv_loop_init: %s", uv_strerror(rc));
    return -1;
  }
  return 0;
}

#endif /* LURE_UV_H */

void BENCH_SIDE(close)(uv_loop_t *loop) {
  int rc;

  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  if (rc != 0)
    fprintf(stderr, "lure-bench: " API "_loop_close: %s\n", uv_strerror(rc));
}

/* ---- timers -------------------------------------------------------------- */

/*
 * N timers, due at uniform random times in [0, spread] ms from one instant,
 * all fire.  Latency is each timer's lateness: when its callback ran minus
 * when it was due.  ops/s is timers per CPU second (the loop sleeps between
 * due times, so wall time says nothing about cost).
 */
struct timers_ctx {
  uv_timer_t *timers;
  uint32_t *due;
  uint64_t t0;
  uint64_t last;
  struct bench_hist *hist;
};

static void timer_fired(uv_timer_t *t) {
  struct timers_ctx *c = t->loop->data;
  uint64_t now = bench_now_ns();
  uint64_t due = c->t0 + (uint64_t) c->due[t - c->timers] * 1000000u;

  bench_hist_record(c->hist, now > due ? now - due : 0);
  c->last = now;
}

int BENCH_SIDE(timers)(const struct bench_params *p, const char *executor,
                       struct bench_result *r) {
  struct timers_ctx c;
  uv_loop_t loop;
  bench_stats_t s0;
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
  if (BENCH_SIDE(open)(&loop, executor, r) != 0)
    goto out;
  loop.data = &c;
  bench_stats_take(&loop, &s0);
  cpu0 = bench_cpu_seconds();
  uv_update_time(&loop);
  c.t0 = bench_now_ns();
  for (i = 0; i < n; i++) {
    uv_timer_init(&loop, &c.timers[i]);
    rc = uv_timer_start(&c.timers[i], timer_fired, c.due[i], 0);
    if (rc != 0) {
      bench_set_error(r, API "_timer_start: %s", uv_strerror(rc));
      break;
    }
  }
  if (r->error[0] == '\0')
    uv_run(&loop, UV_RUN_DEFAULT);
  r->cpu_seconds = bench_cpu_seconds() - cpu0;
  r->seconds = c.last > c.t0 ? (double) (c.last - c.t0) / 1e9 : 0.0;
  r->ops = r->hist->count;
  bench_wait_calls_since(&loop, &s0, &r->wait_calls, &r->has_wait_calls);
  if (r->error[0] == '\0' && r->ops != n)
    bench_set_error(r, "%llu of %llu timers fired",
                    (unsigned long long) r->ops, (unsigned long long) n);
  for (i = 0; i < n; i++)
    if (c.timers[i].loop != NULL)
      uv_close((uv_handle_t *) &c.timers[i], NULL);
  BENCH_SIDE(close)(&loop);

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
  uv_idle_t idle;
  bench_stats_t s0;
  uint64_t last;
};

static void idle_tick(uv_idle_t *h) {
  struct loop_ctx *c = h->data;
  uint64_t now = bench_now_ns();

  if (c->last != 0 && bench_drive_complete(&c->d, c->last, now))
    bench_stats_take(h->loop, &c->s0);
  if (!bench_drive_may_issue(&c->d, now)) {
    uv_close((uv_handle_t *) h, NULL);
    return;
  }
  c->d.issued++;
  c->last = now;
}

int BENCH_SIDE(loop)(const struct bench_params *p, const char *executor,
                     struct bench_result *r) {
  struct loop_ctx c;
  uv_loop_t loop;

  memset(&c, 0, sizeof(c));
  if (BENCH_SIDE(open)(&loop, executor, r) != 0)
    return -1;
  bench_stats_take(&loop, &c.s0);
  bench_drive_init(&c.d, p, r, bench_now_ns());
  uv_idle_init(&loop, &c.idle);
  c.idle.data = &c;
  uv_idle_start(&c.idle, idle_tick);
  uv_run(&loop, UV_RUN_DEFAULT);
  bench_drive_finish(&c.d);
  bench_wait_calls_since(&loop, &c.s0, &r->wait_calls, &r->has_wait_calls);
  BENCH_SIDE(close)(&loop);
  return r->error[0] ? -1 : 0;
}

/* ---- async --------------------------------------------------------------- */

/*
 * Ping-pong: a thread stamps the time, uv_async_send()s, and sleeps on a
 * semaphore; the loop wakes, and its async callback posts the semaphore.
 * Latency is the thread's round trip; ops/s the round trips (wake-ups) per
 * second.  The way back (sem_post, a futex wake) is the same on both sides.
 */
struct async_ctx {
  struct bench_drive d;
  uv_async_t async;
  sem_t pong;
  atomic_int done;
  atomic_int snap;              /* the loop takes s0 at its next wake-up */
  bench_stats_t s0;
};

static void async_woken(uv_async_t *h) {
  struct async_ctx *c = h->data;

  if (atomic_exchange(&c->snap, 0))
    bench_stats_take(h->loop, &c->s0);
  if (atomic_load(&c->done)) {
    uv_close((uv_handle_t *) h, NULL);
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
    rc = uv_async_send(&c->async);
    if (rc != 0) {
      bench_set_error(c->d.r, API "_async_send: %s", uv_strerror(rc));
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
  uv_async_send(&c->async);
  return NULL;
}

int BENCH_SIDE(async)(const struct bench_params *p, const char *executor,
                      struct bench_result *r) {
  struct async_ctx c;
  uv_loop_t loop;
  pthread_t th;
  int rc;

  memset(&c, 0, sizeof(c));
  if (BENCH_SIDE(open)(&loop, executor, r) != 0)
    return -1;
  c.d.p = p;
  c.d.r = r;
  sem_init(&c.pong, 0, 0);
  uv_async_init(&loop, &c.async, async_woken);
  c.async.data = &c;
  bench_stats_take(&loop, &c.s0);
  rc = pthread_create(&th, NULL, async_pinger, &c);
  if (rc != 0) {
    bench_set_error(r, "pthread_create: %s", strerror(rc));
    uv_close((uv_handle_t *) &c.async, NULL);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (rc == 0)
    pthread_join(th, NULL);
  bench_wait_calls_since(&loop, &c.s0, &r->wait_calls, &r->has_wait_calls);
  BENCH_SIDE(close)(&loop);
  sem_destroy(&c.pong);
  return r->error[0] ? -1 : 0;
}

/* ---- work ---------------------------------------------------------------- */

/*
 * --depth requests of empty work in flight; latency from uv_queue_work()
 * to the after-work callback.  On lure every request must have been served
 * by the thread pool.
 */
struct work_ctx;

struct work_slot {
  uv_work_t req;
  uint64_t t;
  struct work_ctx *c;
};

struct work_ctx {
  struct bench_drive d;
  uv_loop_t *loop;
  bench_stats_t s0;
};

static void work_nothing(uv_work_t *req) {
  (void) req;
}

static void work_done(uv_work_t *req, int status);

static void work_issue(struct work_slot *s) {
  struct work_ctx *c = s->c;
  int rc;

  c->d.issued++;
  s->t = bench_now_ns();
  rc = uv_queue_work(c->loop, &s->req, work_nothing, work_done);
  if (rc != 0) {
    bench_set_error(c->d.r, API "_queue_work: %s", uv_strerror(rc));
    c->d.stop = 1;
  }
}

static void work_done(uv_work_t *req, int status) {
  struct work_slot *s = (struct work_slot *) req;
  struct work_ctx *c = s->c;
  uint64_t now = bench_now_ns();

  if (status != 0) {
    bench_set_error(c->d.r, "work request: %s", uv_strerror(status));
    c->d.stop = 1;
  }
  if (!bench_served_by(req, "threadpool", c->d.r))
    c->d.stop = 1;
  if (bench_drive_complete(&c->d, s->t, now))
    bench_stats_take(c->loop, &c->s0);
  if (bench_drive_may_issue(&c->d, now))
    work_issue(s);
}

int BENCH_SIDE(work)(const struct bench_params *p, const char *executor,
                     struct bench_result *r) {
  struct work_ctx c;
  struct work_slot *slots;
  uv_loop_t loop;
  unsigned i;

  memset(&c, 0, sizeof(c));
  slots = calloc(p->depth, sizeof(*slots));
  if (slots == NULL) {
    bench_set_error(r, "out of memory");
    return -1;
  }
  if (BENCH_SIDE(open)(&loop, executor, r) != 0) {
    free(slots);
    return -1;
  }
  c.loop = &loop;
  bench_stats_take(&loop, &c.s0);
  bench_drive_init(&c.d, p, r, bench_now_ns());
  for (i = 0; i < p->depth && bench_drive_may_issue(&c.d, bench_now_ns());
       i++) {
    slots[i].c = &c;
    work_issue(&slots[i]);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  bench_drive_finish(&c.d);
  bench_wait_calls_since(&loop, &c.s0, &r->wait_calls, &r->has_wait_calls);
  BENCH_SIDE(close)(&loop);
  free(slots);
  if (r->mismatches != 0 && r->error[0] == '\0')
    bench_set_error(r, "lure served %llu work request(s) with %s instead "
                    "of the thread pool", (unsigned long long) r->mismatches,
                    r->mismatch_name);
  return r->error[0] ? -1 : 0;
}

/* ---- fs ------------------------------------------------------------------ */

/*
 * Each run opens the benchmark file (bench-fs.c) synchronously, keeps
 * --depth reads or writes of --bs bytes at random block offsets in flight,
 * and on lure checks for every completion that the executor named served
 * it.
 */
struct fs_ctx;

struct fs_slot {
  uv_fs_t req;
  uv_buf_t buf;
  uint64_t t;
  struct fs_ctx *c;
};

struct fs_ctx {
  struct bench_drive d;
  uv_loop_t *loop;
  uv_file fd;
  const char *want;
  uint64_t rng;
  bench_stats_t s0;
};

static void fs_done(uv_fs_t *req);

static void fs_issue(struct fs_slot *s) {
  struct fs_ctx *c = s->c;
  const struct bench_params *p = c->d.p;
  int64_t off = (int64_t) bench_fs_offset(p, &c->rng);
  int w = bench_fs_is_write(p, &c->rng);
  int rc;

  c->d.issued++;
  s->t = bench_now_ns();
  if (w)
    rc = uv_fs_write(c->loop, &s->req, c->fd, &s->buf, 1, off, fs_done);
  else
    rc = uv_fs_read(c->loop, &s->req, c->fd, &s->buf, 1, off, fs_done);
  if (rc != 0) {
    bench_set_error(c->d.r, API "_fs_%s: %s", w ? "write" : "read",
                    uv_strerror(rc));
    c->d.stop = 1;
  }
}

static void fs_done(uv_fs_t *req) {
  struct fs_slot *s = (struct fs_slot *) req;
  struct fs_ctx *c = s->c;
  struct bench_result *r = c->d.r;
  uint64_t now = bench_now_ns();

  if (req->result != (ssize_t) c->d.p->bs) {
    bench_set_error(r, API "_fs_%s returned %s",
                    req->fs_type == UV_FS_WRITE ? "write" : "read",
                    req->result < 0 ? uv_strerror((int) req->result)
                                    : "a short count");
    c->d.stop = 1;
  }
  if (!bench_served_by(req, c->want, r))
    c->d.stop = 1;
  uv_fs_req_cleanup(req);
  if (bench_drive_complete(&c->d, s->t, now))
    bench_stats_take(c->loop, &c->s0);
  if (bench_drive_may_issue(&c->d, now))
    fs_issue(s);
}

int BENCH_SIDE(fs)(const struct bench_params *p, const char *executor,
                   struct bench_result *r) {
  struct fs_ctx c;
  struct fs_slot *slots;
  uv_loop_t loop;
  uv_fs_t oreq;
  int flags = O_RDWR | (p->direct ? O_DIRECT : 0);
  unsigned i;
  int rc;

  memset(&c, 0, sizeof(c));
  c.want = executor;
  c.rng = p->seed;
  slots = calloc(p->depth, sizeof(*slots));
  if (slots == NULL) {
    bench_set_error(r, "out of memory");
    return -1;
  }
  for (i = 0; i < p->depth; i++) {
    slots[i].c = &c;
    slots[i].buf.len = p->bs;
    slots[i].buf.base = bench_fs_buffer(p->bs);
    if (slots[i].buf.base == NULL) {
      bench_set_error(r, "out of memory");
      goto out;
    }
  }
  if (BENCH_SIDE(open)(&loop, executor, r) != 0)
    goto out;
  c.loop = &loop;
  rc = uv_fs_open(&loop, &oreq, p->file, flags, 0, NULL);
  uv_fs_req_cleanup(&oreq);
  if (rc < 0) {
    bench_set_error(r, API "_fs_open %s: %s", p->file, uv_strerror(rc));
    BENCH_SIDE(close)(&loop);
    goto out;
  }
  c.fd = rc;
  bench_stats_take(&loop, &c.s0);
  bench_drive_init(&c.d, p, r, bench_now_ns());
  for (i = 0; i < p->depth && bench_drive_may_issue(&c.d, bench_now_ns());
       i++)
    fs_issue(&slots[i]);
  uv_run(&loop, UV_RUN_DEFAULT);
  bench_drive_finish(&c.d);
  bench_wait_calls_since(&loop, &c.s0, &r->wait_calls, &r->has_wait_calls);
  uv_fs_close(&loop, &oreq, c.fd, NULL);
  uv_fs_req_cleanup(&oreq);
  BENCH_SIDE(close)(&loop);
  if (r->mismatches != 0) {
    r->error[0] = '\0'; /* this says more than what followed from it */
    bench_set_error(r, "lure served %llu request(s) with %s instead of %s: "
                    "this machine cannot run the %s executor for this test",
                    (unsigned long long) r->mismatches, r->mismatch_name,
                    executor, executor);
  }

out:
  for (i = 0; i < p->depth; i++)
    free(slots[i].buf.base);
  free(slots);
  return r->error[0] ? -1 : 0;
}
