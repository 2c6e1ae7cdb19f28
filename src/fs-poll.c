/*
 * fs-poll.c - fs poll handles: changes to a path, found by comparing
 * stat(2) results taken at an interval, as libuv's uv_fs_poll.
 *
 * Each started period of a handle has a context: an internal timer (not
 * walked, not referenced) and an fs stat request.  The stat is an ordinary
 * lure_fs_stat(): with a ring whose probe has IORING_OP_STATX it is a
 * statx on the ring, else it runs on the thread pool; either way its
 * completion comes back through the loop's one wait point.  When a stat
 * finishes, the timer is armed for the rest of the interval (measured from
 * when that stat was asked), and when the timer fires the next stat goes.
 *
 * libuv's rules, kept here:
 *  - the first successful stat is the reference and is not reported;
 *  - after that, the callback runs when one of the fields libuv compares
 *    differs (ctime, mtime, birthtime, size, mode, uid, gid, ino, dev,
 *    flags, gen), with the previous and the new stat;
 *  - an error is reported once per distinct error, with the last good stat
 *    as prev and zeroes as curr; a success after an error is reported
 *    even when nothing changed;
 *  - stopping with a stat in flight lets it finish: its context is freed
 *    then.  A new start meanwhile makes a new context, and the old one is
 *    kept on the handle's chain ("previous") until its stat has come back,
 *    so that closing the handle waits for every context to go.
 *
 * lure_close() on a handle with contexts left keeps the handle in the
 * closing state (LURE__HANDLE_CLOSE_WAIT, counted as a request, as a ring
 * socket waiting for its last CQE is) until the last context is freed.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

struct lure__fs_poll_ctx {
  lure_fs_poll_t *parent;
  /* 0 before the first stat, 1 after a good one, else the last error. */
  int busy_polling;
  unsigned int interval;       /* ms, at least 1 */
  uint64_t start_time;         /* loop time when the last stat was asked */
  lure_fs_poll_cb poll_cb;
  lure_timer_t timer;
  lure_fs_t fs_req;
  lure_stat_t statbuf;         /* the last good stat */
  struct lure__fs_poll_ctx *previous; /* an older context still in flight */
  char path[];
};

static const lure_stat_t lure__zero_stat;

static void lure__fs_poll_stat_cb(lure_fs_t *req);

/* The fields libuv compares: atime and nlink changes are not reported. */
static int lure__stat_same(const lure_stat_t *a, const lure_stat_t *b) {
  return a->st_ctim.tv_nsec == b->st_ctim.tv_nsec &&
         a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
         a->st_birthtim.tv_nsec == b->st_birthtim.tv_nsec &&
         a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
         a->st_birthtim.tv_sec == b->st_birthtim.tv_sec &&
         a->st_size == b->st_size && a->st_mode == b->st_mode &&
         a->st_uid == b->st_uid && a->st_gid == b->st_gid &&
         a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
         a->st_flags == b->st_flags && a->st_gen == b->st_gen;
}

/* The timer of ctx has closed: unlink ctx from its handle's chain and free
 * it; the last one of a closing handle lets the close complete. */
static void lure__fs_poll_timer_closed(lure_handle_t *timer) {
  struct lure__fs_poll_ctx *ctx =
      lure__container_of((lure_timer_t *) timer, struct lure__fs_poll_ctx,
                         timer);
  lure_fs_poll_t *h = ctx->parent;
  struct lure__fs_poll_ctx **pp = (struct lure__fs_poll_ctx **) &h->poll_ctx;

  while (*pp != ctx)
    pp = &(*pp)->previous;
  *pp = ctx->previous;
  lure__free(ctx);
  if (h->poll_ctx == NULL)
    lure__handle_close_ready((lure_handle_t *) h);
}

/* Whether ctx is the current period of a started handle. */
static int lure__fs_poll_ctx_live(const struct lure__fs_poll_ctx *ctx) {
  const lure_fs_poll_t *h = ctx->parent;

  return h->poll_ctx == ctx && lure__handle_is_active((const lure_handle_t *) h) &&
         !lure__handle_is_closing((const lure_handle_t *) h);
}

static void lure__fs_poll_timer_cb(lure_timer_t *timer) {
  struct lure__fs_poll_ctx *ctx =
      lure__container_of(timer, struct lure__fs_poll_ctx, timer);
  int rc;

  ctx->start_time = lure_now(ctx->timer.loop);
  rc = lure_fs_stat(ctx->timer.loop, &ctx->fs_req, ctx->path,
                    lure__fs_poll_stat_cb);
  if (rc != 0) {
    /* The request was refused (out of memory): treat it as a stat that
     * failed, which reports the error once and tries again later.  libuv
     * aborts here. */
    ctx->fs_req.result = rc;
    lure__fs_poll_stat_cb(&ctx->fs_req);
  }
}

static void lure__fs_poll_stat_cb(lure_fs_t *req) {
  struct lure__fs_poll_ctx *ctx =
      lure__container_of(req, struct lure__fs_poll_ctx, fs_req);
  lure_fs_poll_t *h = ctx->parent;
  uint64_t interval;
  uint64_t spent;
  int result = (int) req->result;

  if (lure__fs_poll_ctx_live(ctx)) {
    if (result != 0) {
      if (ctx->busy_polling != result) {
        ctx->busy_polling = result;
        ctx->poll_cb(h, result, &ctx->statbuf, &lure__zero_stat);
      }
    } else {
      if (ctx->busy_polling < 0 ||
          (ctx->busy_polling > 0 && !lure__stat_same(&ctx->statbuf,
                                                      &req->statbuf)))
        ctx->poll_cb(h, 0, &ctx->statbuf, &req->statbuf);
      ctx->statbuf = req->statbuf;
      ctx->busy_polling = 1;
    }
  }
  lure_fs_req_cleanup(req);

  /* The callback may have stopped, restarted or closed the handle. */
  if (!lure__fs_poll_ctx_live(ctx)) {
    lure_close((lure_handle_t *) &ctx->timer, lure__fs_poll_timer_closed);
    return;
  }
  /* Keep the period: take off what the stat took. */
  interval = ctx->interval;
  spent = lure_now(ctx->timer.loop) - ctx->start_time;
  interval -= spent % interval;
  (void) lure_timer_start(&ctx->timer, lure__fs_poll_timer_cb, interval, 0);
}

LURE_EXTERN int lure_fs_poll_init(lure_loop_t *loop, lure_fs_poll_t *h) {
  if (loop == NULL || loop->priv == NULL || h == NULL)
    return LURE_EINVAL;
  lure__handle_init(loop, (lure_handle_t *) h, LURE_FS_POLL);
  h->poll_ctx = NULL;
  return 0;
}

LURE_EXTERN int lure_fs_poll_start(lure_fs_poll_t *h, lure_fs_poll_cb cb,
                                   const char *path, unsigned int interval) {
  struct lure__fs_poll_ctx *ctx;
  lure_loop_t *loop;
  size_t len;
  int rc = lure__handle_check((lure_handle_t *) h, LURE_FS_POLL);

  if (rc != 0)
    return rc;
  if (cb == NULL || path == NULL)
    return LURE_EINVAL;
  /* As libuv: starting a started handle does nothing. */
  if (lure__handle_is_active((lure_handle_t *) h))
    return 0;
  loop = h->loop;
  len = strlen(path);
  ctx = lure__calloc(1, sizeof(*ctx) + len + 1);
  if (ctx == NULL)
    return LURE_ENOMEM;
  ctx->parent = h;
  ctx->poll_cb = cb;
  ctx->interval = interval != 0 ? interval : 1;
  ctx->start_time = lure_now(loop);
  memcpy(ctx->path, path, len + 1);
  /* The stat first: its callback never runs inside the call, and a
   * refusal leaves nothing to undo but the allocation. */
  rc = lure_fs_stat(loop, &ctx->fs_req, ctx->path, lure__fs_poll_stat_cb);
  if (rc != 0) {
    lure__free(ctx);
    return rc;
  }
  (void) lure_timer_init(loop, &ctx->timer);
  ctx->timer.flags |= LURE__HANDLE_INTERNAL;
  lure_unref((lure_handle_t *) &ctx->timer);
  ctx->previous = h->poll_ctx;
  h->poll_ctx = ctx;
  lure__handle_start((lure_handle_t *) h);
  return 0;
}

LURE_EXTERN int lure_fs_poll_stop(lure_fs_poll_t *h) {
  struct lure__fs_poll_ctx *ctx;

  if (h == NULL || h->type != LURE_FS_POLL || h->loop == NULL ||
      h->loop->priv == NULL)
    return LURE_EINVAL;
  if (!lure__handle_is_active((lure_handle_t *) h))
    return 0;
  ctx = h->poll_ctx;
  /* A running timer means no stat is in flight: the context can go now.
   * Otherwise the stat's callback sees the handle stopped and closes the
   * timer itself. */
  if (lure__handle_is_active((lure_handle_t *) &ctx->timer))
    lure_close((lure_handle_t *) &ctx->timer, lure__fs_poll_timer_closed);
  lure__handle_stop((lure_handle_t *) h);
  return 0;
}

LURE_EXTERN int lure_fs_poll_getpath(lure_fs_poll_t *h, char *buffer,
                                     size_t *size) {
  struct lure__fs_poll_ctx *ctx;
  size_t len;

  if (h == NULL || h->type != LURE_FS_POLL || size == NULL)
    return LURE_EINVAL;
  if (!lure__handle_is_active((lure_handle_t *) h)) {
    *size = 0;
    return LURE_EINVAL;
  }
  ctx = h->poll_ctx;
  len = strlen(ctx->path);
  if (len < *size && buffer == NULL)
    return LURE_EINVAL;
  return lure__copy_out(ctx->path, len, buffer, size);
}

int lure__fs_poll_close(lure_fs_poll_t *h) {
  lure_fs_poll_stop(h);
  return h->poll_ctx != NULL;
}
