/*
 * bench-libuv.c - every lure-bench suite on libuv, in the same process as
 * the lure runs, for the "vs libuv" columns.
 *
 * Compiled only when configure found libuv.  Each function mirrors its lure
 * counterpart in bench-lure.c or bench-fs.c line for line, so that the
 * harness costs the same on both sides.  libuv has no wait-point counter, so
 * its rows carry no syscalls per op.
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

const char *bench_uv_version(void) {
  return uv_version_string();
}

static int uv_open_loop(uv_loop_t *loop, const char *executor,
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

static void uv_close_loop(uv_loop_t *loop) {
  int rc;

  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  if (rc != 0)
    fprintf(stderr, "lure-bench: uv_loop_close: %s\n", uv_strerror(rc));
}

/* ---- timers -------------------------------------------------------------- */

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

int bench_uv_timers(const struct bench_params *p, const char *executor,
                    struct bench_result *r) {
  struct timers_ctx c;
  uv_loop_t loop;
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
  if (uv_open_loop(&loop, executor, r) != 0)
    goto out;
  loop.data = &c;
  cpu0 = bench_cpu_seconds();
  uv_update_time(&loop);
  c.t0 = bench_now_ns();
  for (i = 0; i < n; i++) {
    uv_timer_init(&loop, &c.timers[i]);
    rc = uv_timer_start(&c.timers[i], timer_fired, c.due[i], 0);
    if (rc != 0) {
      bench_set_error(r, "uv_timer_start: %s", uv_strerror(rc));
      break;
    }
  }
  if (r->error[0] == '\0')
    uv_run(&loop, UV_RUN_DEFAULT);
  r->cpu_seconds = bench_cpu_seconds() - cpu0;
  r->seconds = c.last > c.t0 ? (double) (c.last - c.t0) / 1e9 : 0.0;
  r->ops = r->hist->count;
  if (r->error[0] == '\0' && r->ops != n)
    bench_set_error(r, "%llu of %llu timers fired",
                    (unsigned long long) r->ops, (unsigned long long) n);
  for (i = 0; i < n; i++)
    if (c.timers[i].loop != NULL)
      uv_close((uv_handle_t *) &c.timers[i], NULL);
  uv_close_loop(&loop);

out:
  free(c.timers);
  free(c.due);
  return r->error[0] ? -1 : 0;
}

/* ---- loop ---------------------------------------------------------------- */

struct loop_ctx {
  struct bench_drive d;
  uv_idle_t idle;
  uint64_t last;
};

static void idle_tick(uv_idle_t *h) {
  struct loop_ctx *c = h->data;
  uint64_t now = bench_now_ns();

  if (c->last != 0)
    bench_drive_complete(&c->d, c->last, now);
  if (!bench_drive_may_issue(&c->d, now)) {
    uv_close((uv_handle_t *) h, NULL);
    return;
  }
  c->d.issued++;
  c->last = now;
}

int bench_uv_loop(const struct bench_params *p, const char *executor,
                  struct bench_result *r) {
  struct loop_ctx c;
  uv_loop_t loop;

  memset(&c, 0, sizeof(c));
  if (uv_open_loop(&loop, executor, r) != 0)
    return -1;
  bench_drive_init(&c.d, p, r, bench_now_ns());
  uv_idle_init(&loop, &c.idle);
  c.idle.data = &c;
  uv_idle_start(&c.idle, idle_tick);
  uv_run(&loop, UV_RUN_DEFAULT);
  bench_drive_finish(&c.d);
  uv_close_loop(&loop);
  return r->error[0] ? -1 : 0;
}

/* ---- async --------------------------------------------------------------- */

struct async_ctx {
  struct bench_drive d;
  uv_async_t async;
  sem_t pong;
  atomic_int done;
};

static void async_woken(uv_async_t *h) {
  struct async_ctx *c = h->data;

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
  while (bench_drive_may_issue(&c->d, now)) {
    c->d.issued++;
    t = bench_now_ns();
    rc = uv_async_send(&c->async);
    if (rc != 0) {
      bench_set_error(c->d.r, "uv_async_send: %s", uv_strerror(rc));
      break;
    }
    while (sem_wait(&c->pong) != 0)
      ;
    now = bench_now_ns();
    bench_drive_complete(&c->d, t, now);
  }
  bench_drive_finish(&c->d);
  atomic_store(&c->done, 1);
  uv_async_send(&c->async);
  return NULL;
}

int bench_uv_async(const struct bench_params *p, const char *executor,
                   struct bench_result *r) {
  struct async_ctx c;
  uv_loop_t loop;
  pthread_t th;
  int rc;

  memset(&c, 0, sizeof(c));
  if (uv_open_loop(&loop, executor, r) != 0)
    return -1;
  c.d.p = p;
  c.d.r = r;
  sem_init(&c.pong, 0, 0);
  uv_async_init(&loop, &c.async, async_woken);
  c.async.data = &c;
  rc = pthread_create(&th, NULL, async_pinger, &c);
  if (rc != 0) {
    bench_set_error(r, "pthread_create: %s", strerror(rc));
    uv_close((uv_handle_t *) &c.async, NULL);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (rc == 0)
    pthread_join(th, NULL);
  uv_close_loop(&loop);
  sem_destroy(&c.pong);
  return r->error[0] ? -1 : 0;
}

/* ---- work ---------------------------------------------------------------- */

struct work_ctx;

struct work_slot {
  uv_work_t req;
  uint64_t t;
  struct work_ctx *c;
};

struct work_ctx {
  struct bench_drive d;
  uv_loop_t *loop;
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
    bench_set_error(c->d.r, "uv_queue_work: %s", uv_strerror(rc));
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
  bench_drive_complete(&c->d, s->t, now);
  if (bench_drive_may_issue(&c->d, now))
    work_issue(s);
}

int bench_uv_work(const struct bench_params *p, const char *executor,
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
  if (uv_open_loop(&loop, executor, r) != 0) {
    free(slots);
    return -1;
  }
  c.loop = &loop;
  bench_drive_init(&c.d, p, r, bench_now_ns());
  for (i = 0; i < p->depth && bench_drive_may_issue(&c.d, bench_now_ns());
       i++) {
    slots[i].c = &c;
    work_issue(&slots[i]);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  bench_drive_finish(&c.d);
  uv_close_loop(&loop);
  free(slots);
  return r->error[0] ? -1 : 0;
}

/* ---- fs ------------------------------------------------------------------ */

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
  uint64_t rng;
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
    bench_set_error(c->d.r, "uv_fs_%s: %s", w ? "write" : "read",
                    uv_strerror(rc));
    c->d.stop = 1;
  }
}

static void fs_done(uv_fs_t *req) {
  struct fs_slot *s = (struct fs_slot *) req;
  struct fs_ctx *c = s->c;
  uint64_t now = bench_now_ns();

  if (req->result != (ssize_t) c->d.p->bs) {
    bench_set_error(c->d.r, "uv_fs_%s returned %s",
                    req->fs_type == UV_FS_WRITE ? "write" : "read",
                    req->result < 0 ? uv_strerror((int) req->result)
                                    : "a short count");
    c->d.stop = 1;
  }
  uv_fs_req_cleanup(req);
  bench_drive_complete(&c->d, s->t, now);
  if (bench_drive_may_issue(&c->d, now))
    fs_issue(s);
}

int bench_uv_fs(const struct bench_params *p, const char *executor,
                struct bench_result *r) {
  struct fs_ctx c;
  struct fs_slot *slots;
  uv_loop_t loop;
  uv_fs_t oreq;
  int flags = O_RDWR | (p->direct ? O_DIRECT : 0);
  unsigned i;
  int rc;

  memset(&c, 0, sizeof(c));
  c.rng = p->seed;
  slots = calloc(p->depth, sizeof(*slots));
  if (slots == NULL) {
    bench_set_error(r, "out of memory");
    return -1;
  }
  for (i = 0; i < p->depth; i++) {
    slots[i].c = &c;
    slots[i].buf.base = bench_fs_buffer(p->bs);
    slots[i].buf.len = p->bs;
    if (slots[i].buf.base == NULL) {
      bench_set_error(r, "out of memory");
      goto out;
    }
  }
  if (uv_open_loop(&loop, executor, r) != 0)
    goto out;
  c.loop = &loop;
  rc = uv_fs_open(&loop, &oreq, p->file, flags, 0, NULL);
  uv_fs_req_cleanup(&oreq);
  if (rc < 0) {
    bench_set_error(r, "uv_fs_open %s: %s", p->file, uv_strerror(rc));
    uv_close_loop(&loop);
    goto out;
  }
  c.fd = rc;
  bench_drive_init(&c.d, p, r, bench_now_ns());
  for (i = 0; i < p->depth && bench_drive_may_issue(&c.d, bench_now_ns());
       i++)
    fs_issue(&slots[i]);
  uv_run(&loop, UV_RUN_DEFAULT);
  bench_drive_finish(&c.d);
  uv_fs_close(&loop, &oreq, c.fd, NULL);
  uv_fs_req_cleanup(&oreq);
  uv_close_loop(&loop);

out:
  for (i = 0; i < p->depth; i++)
    free(slots[i].buf.base);
  free(slots);
  return r->error[0] ? -1 : 0;
}
