/*
 * executor.c - the preference tables: which wait point a loop takes, which
 * executor an fs request goes to, which socket executor a stream or a UDP
 * handle uses.  Each order is written here once; the rest of the core calls
 * the executors only through the tables of src/backend.h.
 *
 * The routing table of lure(7) is what these three lists produce:
 *   - wait point: the ring, else epoll (loop.c walks lure__wait_points);
 *   - fs requests: the ring (when it is the loop's wait point and has the
 *     opcode), Linux AIO (no ring, O_DIRECT at an explicit offset), the
 *     thread pool (everything else); each declines what it cannot serve;
 *   - sockets: the ring's socket path (when the wait point is the ring and
 *     has the opcodes), else readiness.
 *
 * Two exceptions to the fixed order.  The first is libuv's, asked for by
 * LURE_LOOP_FS_BEHIND_POOL (uv.h turns it on): while every thread of the
 * pool has a job, every fs request joins the pool's queue, so that it
 * starts after the jobs before it and lure_cancel() can take it back until
 * then, as libuv's suite (threadpool_cancel_fs) and programs written for
 * libuv expect.  It costs the ring's head start only while the pool is
 * full, where libuv's requests wait too.
 *
 * The second, the adaptive router of buffered
 * writes (issue 12): ext4 and most file systems cannot write to the page
 * cache without blocking, so the ring hands every buffered write to one of
 * its io-wq workers.  On a busy host those workers wait for a CPU like any
 * thread, and lure's own pool has been measured faster then (0.82x libuv
 * on the ring, 1.55x on the pool in one loaded run); on an idle host the
 * ring wins.  So the loop times some buffered writes, submission to
 * completion, on each of the two, and sends buffered writes to the one
 * that is faster now:
 *   - a write in LURE__FS_ADAPT_SAMPLE_EVERY on the executor in favour is
 *     timed (two vDSO clock reads, no system call); after
 *     LURE__FS_ADAPT_WARMUP buffered writes, one every
 *     LURE__FS_ADAPT_PROBE_MS of loop time goes to, and is timed on, the
 *     other, so that its figure stays fresh (every
 *     LURE__FS_ADAPT_PROBE_FIRST_MS until it has
 *     LURE__FS_ADAPT_MIN_SAMPLES samples).  Paced by time, not by count:
 *     at queue depth 1 a probe's latency stalls the whole pipeline, and a
 *     probe sent to a sleeping pool thread on a busy host took
 *     milliseconds; one probe in 64 writes cut the throughput by two
 *     thirds there;
 *   - each executor's figure is an EWMA of its samples (weight 1/8), each
 *     sample cut to twice the figure (one stall is no trend);
 *   - the router switches when the other executor's figure is lower by
 *     LURE__FS_ADAPT_MARGIN percent for LURE__FS_ADAPT_STREAK samples in a
 *     row, both having LURE__FS_ADAPT_MIN_SAMPLES, and not before the
 *     warm-up (a loop that writes little gains nothing from it, and keeps
 *     the fixed route a reader of lure(7) expects).
 * Only buffered writes: O_DIRECT ones go to the block layer and the ring
 * completes them without a worker.  Telling the two apart takes
 * fcntl(F_GETFL); the router does it only for a write it times or sends
 * to the pool, and keeps the answer for the last descriptor for up to 256
 * writes (a descriptor reused or changed by F_SETFL meanwhile costs speed,
 * never correctness: both executors serve both kinds).  The router stands
 * aside (the fixed order applies) when the ring is not the wait point,
 * masks write or writev, or the wait point was forced (LURE_BACKEND,
 * LURE_LOOP_BACKEND), unless LURE_FS_ADAPT=1 or LURE_LOOP_FS_ADAPT asks
 * for it; LURE_FS_ADAPT=0 turns it off.
 */
#include <fcntl.h>
#include <string.h>
#include "internal.h"

const struct lure__backend_ops *const lure__wait_points[] = {
  &lure__backend_uring,
  &lure__backend_epoll,
  NULL
};

static const struct lure__fs_ops *const lure__fs_executors[] = {
  &lure__fs_uring,
  &lure__fs_aio,
  &lure__fs_pool,
  NULL
};

const struct lure__sock_ops *const lure__sock_executors[] = {
  &lure__sock_uring,
  &lure__sock_ready,
  NULL
};

/* ---- the adaptive router of buffered writes ------------------------------ */

/* Index of an executor's figures: the ring 0, the pool 1. */
static int lure__fs_adapt_index(int executor) {
  return executor == LURE__EXEC_URING ? 0 : 1;
}

void lure__fs_adapt_reset(lure_loop_t *loop) {
  struct lure__fs_adapt *a = &loop->priv->fs_adapt;
  int setting = a->setting;

  memset(a, 0, sizeof(*a));
  a->setting = setting;
  a->pick = LURE__EXEC_URING;
  a->cache_fd = -1;
}

void lure__fs_adapt_init(lure_loop_t *loop) {
  loop->priv->fs_adapt.setting = -1;
  lure__fs_adapt_reset(loop);
}

int lure__fs_adapt_active(const lure_loop_t *loop) {
  const struct lure__loop_priv *p = loop->priv;

  if (p->fs_adapt.setting == 0 ||
      (p->fs_adapt.setting < 0 && p->forced_backend != LURE__BACKEND_AUTO))
    return 0;
  return lure__fs_uring.adapt_usable != NULL &&
         lure__fs_uring.adapt_usable(loop);
}

void lure__fs_adapt_sample(lure_loop_t *loop, int executor, uint64_t ns) {
  struct lure__fs_adapt *a = &loop->priv->fs_adapt;
  int i = lure__fs_adapt_index(executor);
  int cur = lure__fs_adapt_index(a->pick);
  uint64_t mine;
  uint64_t other;

  /* Winsorized: a sample counts for at most twice the figure, so that one
   * stall (a page fault, a preempted worker, writeback) moves the figure
   * by an eighth at most, while a lasting slowdown still doubles it in six
   * samples. */
  if (a->samples[i] != 0 && a->ewma[i] != 0 && ns > 2 * a->ewma[i])
    ns = 2 * a->ewma[i];
  if (a->samples[i] == 0)
    a->ewma[i] = ns;
  else if (ns >= a->ewma[i])
    a->ewma[i] += (ns - a->ewma[i]) >> LURE__FS_ADAPT_SHIFT;
  else
    a->ewma[i] -= (a->ewma[i] - ns) >> LURE__FS_ADAPT_SHIFT;
  a->samples[i]++;
  if (a->writes < LURE__FS_ADAPT_WARMUP ||
      a->samples[0] < LURE__FS_ADAPT_MIN_SAMPLES ||
      a->samples[1] < LURE__FS_ADAPT_MIN_SAMPLES)
    return;
  mine = a->ewma[cur];
  other = a->ewma[1 - cur];
  /* Hysteresis: the other must be faster by the margin, sample after
   * sample; one sample that says otherwise starts the count again. */
  if (other * (100u + LURE__FS_ADAPT_MARGIN) < mine * 100u) {
    if (++a->streak >= LURE__FS_ADAPT_STREAK) {
      a->pick = cur == 0 ? LURE__EXEC_THREADPOOL : LURE__EXEC_URING;
      a->streak = 0;
      a->switches++;
    }
  } else {
    a->streak = 0;
  }
}

/* Whether fd was opened with O_DIRECT, from the one-entry cache or
 * fcntl(F_GETFL).  An fd fcntl cannot read counts as buffered: the
 * executor will report the error. */
static int lure__fs_adapt_direct(struct lure__fs_adapt *a, int fd) {
  int fl;

  if (fd == a->cache_fd && a->cache_uses < 256) {
    a->cache_uses++;
    return a->cache_direct;
  }
  fl = fcntl(fd, F_GETFL);
  a->cache_fd = fd;
  a->cache_uses = 0;
  a->cache_direct = fl >= 0 && (fl & O_DIRECT) != 0;
  return a->cache_direct;
}

/* Route a write: 0 or an error when the router sent it, LURE_ENOTSUP when
 * the fixed order is to decide (not a buffered write the router takes, or
 * the executor it picked declined). */
static int lure__fs_adapt_route(lure_loop_t *loop, lure_fs_t *req) {
  struct lure__fs_adapt *a = &loop->priv->fs_adapt;
  const struct lure__fs_ops *ops;
  uint64_t n;
  uint64_t t0;
  int target;
  int timed;
  int rc;

  if (!lure__fs_adapt_active(loop))
    return LURE_ENOTSUP;
  n = ++a->writes;
  target = a->pick;
  timed = (n % LURE__FS_ADAPT_SAMPLE_EVERY) == 0;
  /* Probes are paced by the loop's time (no clock read): at queue depth
   * one a probe's latency is the whole pipeline's, and a pool thread woken
   * on a busy host can take milliseconds; more often at first, until the
   * other executor has a figure. */
  if (n > LURE__FS_ADAPT_WARMUP && loop->priv->time >= a->next_probe) {
    a->next_probe = loop->priv->time +
                    (a->samples[a->pick == LURE__EXEC_URING ? 1 : 0] <
                             LURE__FS_ADAPT_MIN_SAMPLES
                         ? LURE__FS_ADAPT_PROBE_FIRST_MS
                         : LURE__FS_ADAPT_PROBE_MS);
    target = target == LURE__EXEC_URING ? LURE__EXEC_THREADPOOL
                                        : LURE__EXEC_URING;
    timed = 1;
  }
  /* The fast path: the ring in favour, not timed; no system call. */
  if (target == LURE__EXEC_URING && !timed)
    return LURE_ENOTSUP;
  if (lure__fs_adapt_direct(a, req->file))
    return LURE_ENOTSUP;
  ops = target == LURE__EXEC_URING ? &lure__fs_uring : &lure__fs_pool;
  t0 = timed ? lure__hrtime_ns() : 0;
  rc = ops->submit(loop, req);
  if (rc == 0 && timed) {
    req->len = (int64_t) t0;
    req->req_flags |= LURE__REQ_FS_TIMED;
  }
  return rc;
}

int lure__fs_adapt_info(const lure_loop_t *loop,
                        struct lure__fs_adapt_info *info) {
  const struct lure__fs_adapt *a;

  if (loop == NULL || loop->priv == NULL || info == NULL)
    return LURE_EINVAL;
  a = &loop->priv->fs_adapt;
  info->active = lure__fs_adapt_active(loop);
  info->pick = a->pick;
  info->writes = a->writes;
  info->ewma_ring = a->ewma[0];
  info->ewma_pool = a->ewma[1];
  info->samples_ring = a->samples[0];
  info->samples_pool = a->samples[1];
  info->switches = a->switches;
  info->next_probe = a->next_probe;
  info->streak = a->streak;
  return 0;
}

int lure__fs_adapt_feed(lure_loop_t *loop, int executor, uint64_t ns) {
  if (loop == NULL || loop->priv == NULL ||
      (executor != LURE__EXEC_URING && executor != LURE__EXEC_THREADPOOL))
    return LURE_EINVAL;
  /* As a timed write that completed: the router only counts the writes it
   * routes, so an inactive one learns nothing. */
  if (!lure__fs_adapt_active(loop))
    return LURE_ENOTSUP;
  loop->priv->fs_adapt.writes++;
  lure__fs_adapt_sample(loop, executor, ns);
  return 0;
}

/* ---- fs -------------------------------------------------------------- */

/* LURE_LOOP_FS_BEHIND_POOL, set or from LURE_LOOP_LIBUV_DEFAULTS. */
static int lure__fs_behind_pool(const lure_loop_t *loop) {
  const struct lure__loop_priv *p = loop->priv;

  return p->fs_behind_pool >= 0 ? p->fs_behind_pool : p->libuv_defaults;
}

int lure__fs_route(lure_loop_t *loop, lure_fs_t *req) {
  const struct lure__fs_ops *const *e;
  int rc = LURE_ENOTSUP;

  /* libuv's order: behind a pool whose every thread has a job, a request
   * waits its turn, and lure_cancel() can take it back until then. */
  if (lure__fs_behind_pool(loop) && lure__threadpool_full())
    return lure__fs_pool.submit(loop, req);
  if (req->fs_type == LURE_FS_WRITE) {
    rc = lure__fs_adapt_route(loop, req);
    if (rc != LURE_ENOTSUP)
      return rc;
  }
  for (e = lure__fs_executors; *e != NULL; e++) {
    rc = (*e)->submit(loop, req);
    if (rc != LURE_ENOTSUP)
      return rc;
  }
  return rc; /* the pool never declines; kept for a table without it */
}

const struct lure__fs_ops *lure__fs_executor(int executor) {
  const struct lure__fs_ops *const *e;

  for (e = lure__fs_executors; *e != NULL; e++)
    if ((*e)->executor == executor)
      return *e;
  return NULL;
}

void lure__fs_executors_close(lure_loop_t *loop) {
  const struct lure__fs_ops *const *e;

  for (e = lure__fs_executors; *e != NULL; e++)
    if ((*e)->loop_close != NULL)
      (*e)->loop_close(loop);
}

void lure__fs_executors_fork(lure_loop_t *loop) {
  const struct lure__fs_ops *const *e;

  for (e = lure__fs_executors; *e != NULL; e++)
    if ((*e)->loop_fork != NULL)
      (*e)->loop_fork(loop);
}

/* ---- sockets ---------------------------------------------------------- */

unsigned lure__sock_index(const struct lure__sock_ops *ops) {
  unsigned i;

  for (i = 0; lure__sock_executors[i] != NULL; i++)
    if (lure__sock_executors[i] == ops)
      return i;
  return 0; /* not reached: every table is listed */
}

const struct lure__sock_ops *lure__sock_pick_stream(const lure_loop_t *loop) {
  const struct lure__sock_ops *const *e;

  for (e = lure__sock_executors; *e != NULL; e++)
    if ((*e)->stream_usable(loop))
      return *e;
  return &lure__sock_ready;
}

const struct lure__sock_ops *lure__sock_pick_udp(lure_loop_t *loop) {
  const struct lure__sock_ops *const *e;

  for (e = lure__sock_executors; *e != NULL; e++)
    if ((*e)->udp_usable(loop))
      return *e;
  return &lure__sock_ready;
}

int lure__sock_buf_release(lure_loop_t *loop, const char *base) {
  const struct lure__sock_ops *const *e;

  for (e = lure__sock_executors; *e != NULL; e++)
    if ((*e)->buf_release != NULL && (*e)->buf_release(loop, base) == 0)
      return 0;
  return LURE_EINVAL;
}

int lure__sock_buffers_lent(const lure_loop_t *loop) {
  const struct lure__sock_ops *const *e;

  for (e = lure__sock_executors; *e != NULL; e++)
    if ((*e)->buffers_lent != NULL && (*e)->buffers_lent(loop))
      return 1;
  return 0;
}

/* A handle may have left the executor that made its state (a fallback to
 * readiness after the ring made it): every executor frees what it made. */
void lure__sock_stream_free(lure_stream_t *s) {
  const struct lure__sock_ops *const *e;

  for (e = lure__sock_executors; *e != NULL; e++)
    if ((*e)->free != NULL)
      (*e)->free(s);
}

void lure__sock_udp_free(lure_udp_t *h) {
  const struct lure__sock_ops *const *e;

  for (e = lure__sock_executors; *e != NULL; e++)
    if ((*e)->udp_free != NULL)
      (*e)->udp_free(h);
}
