/*
 * uring.c - the io_uring ring as the loop's wait point.
 *
 * Field notes (kernel versions from liburing's man pages and io_uring.h):
 * - Setup is tried with the best flags first and fewer on each failure:
 *     SINGLE_ISSUER|DEFER_TASKRUN (6.0/6.1) + R_DISABLED (5.10), so that the
 *       thread that first runs the loop, not the one that created it,
 *       becomes the single issuer: lure_loop_init() and lure_run() may be
 *       called from different threads, as in libuv;
 *     COOP_TASKRUN|TASKRUN_FLAG (5.19);
 *     CQSIZE only (5.5);
 *     nothing (5.1).
 *   SUBMIT_ALL (5.18) rides along on the first two so that one bad SQE does
 *   not stop the rest of a batch.  Every failure of io_uring_setup (ENOSYS,
 *   EPERM from seccomp or kernel.io_uring_disabled, EINVAL for flags this
 *   kernel does not know, ENOMEM from RLIMIT_MEMLOCK before 5.12,
 *   EOPNOTSUPP in some sandboxes) is a reason to fall back, never to abort.
 * - The CQ is four times the SQ: multishot polls post many CQEs per SQE.
 *   If the CQ still overflows, IORING_FEAT_NODROP (5.5) keeps the backlog
 *   in the kernel and io_uring_cq_has_overflow() tells us to flush it with
 *   io_uring_get_events(); -EBUSY from io_uring_enter means "reap first",
 *   not failure.
 * - Opcodes are probed once per ring (IORING_REGISTER_PROBE, 5.6) and the
 *   loop's mask (LURE_URING_DISABLE) is applied to the result.  Without
 *   POLL_ADD the ring cannot wait for the loop's eventfds and declines to be
 *   the wait point (init returns -EOPNOTSUPP; epoll takes over).
 * - SQEs are prepared when a request is made and submitted in the poll
 *   phase together with the wait, in one io_uring_enter.  A full SQ is
 *   flushed early (io_uring_submit) and the request goes in afterwards;
 *   should even that fail (CQ backlog on kernels without NODROP), the poll
 *   is parked in user space and armed in the next poll phase.
 * - Fd watchers are POLL_ADD requests.  Watchers whose owner drains the fd
 *   on every event (the loop's eventfd and signal pipe) use multishot
 *   (5.13); poll handles use one-shot requests re-armed after each event,
 *   because arming re-checks readiness and so gives libuv's level-triggered
 *   behaviour.  A multishot that the kernel ends (no IORING_CQE_F_MORE), or
 *   refuses with EINVAL on kernels before 5.13, is re-armed as one-shot.
 * - The eventfd is never read through the ring: 6.15.4 regressed on that,
 *   and a non-blocking eventfd read through the ring can come back EAGAIN.
 *   The ring only polls it; the loop read(2)s it.
 * - Closing an fd does not cancel a poll armed on it.  Watchers are stopped
 *   with POLL_REMOVE, and their poll record lives until its final CQE, so a
 *   late CQE never touches freed memory.
 * - fork(): the ring's memory is marked MADV_DONTFORK
 *   (io_uring_ring_dontfork), so a child cannot scribble on the parent's
 *   rings; lure_loop_fork() closes the inherited fd and sets up a new ring.
 * - SQPOLL is not used: it costs a kernel thread per loop and does not mix
 *   with SINGLE_ISSUER/DEFER_TASKRUN.
 * - liburing 2.3 (Debian 12) predates some opcodes the running kernel has;
 *   the opcode table below names them by number.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <liburing.h>
#include "internal.h"

/* CQEs with this user_data carry nothing for us (POLL_REMOVE results, and
 * liburing's internal timeout on kernels without EXT_ARG). */
#define LURE__UD_IGNORE 0
/* The low bits of user_data say what it points to (all are 8-aligned). */
#define LURE__UD_TAG_MASK 7u
#define LURE__UD_POLL 0u
#define LURE__UD_FS 1u

/* Opcodes newer than liburing 2.3's header. */
#ifndef LURE__IORING_OP_FTRUNCATE
#define LURE__IORING_OP_FTRUNCATE 55
#endif

struct lure__uring {
  struct io_uring ring;
  unsigned fs_inflight;   /* fs requests whose CQE is pending */
  unsigned fs_cap;        /* at most this many, so the CQ cannot overflow */
  struct lure__queue fs_waiting; /* accepted, waiting for room (FIFO) */
  unsigned setup_flags;
  unsigned features;
  int enabled;            /* R_DISABLED rings need enabling by the issuer */
  int no_multishot;       /* the kernel refused multishot POLL_ADD */
  unsigned char ops[32];  /* supported and not masked */
  struct lure__queue polls;    /* every live poll record */
  struct lure__queue parked;   /* polls waiting for an SQE */
};

/* One POLL_ADD in flight (or parked). */
struct lure__upoll {
  struct lure__io *w;     /* NULL once the watcher let go */
  unsigned mask;
  int armed;              /* an SQE was queued; its final CQE is pending */
  int multishot;
  int parked;
  struct lure__queue link;        /* st->polls */
  struct lure__queue park_link;   /* st->parked */
};

/* ---- opcode names ---------------------------------------------------------- */

static const char *const lure__op_names[] = {
  "nop", "readv", "writev", "fsync", "read_fixed", "write_fixed",
  "poll_add", "poll_remove", "sync_file_range", "sendmsg", "recvmsg",
  "timeout", "timeout_remove", "accept", "async_cancel", "link_timeout",
  "connect", "fallocate", "openat", "close", "files_update", "statx",
  "read", "write", "fadvise", "madvise", "send", "recv", "openat2",
  "epoll_ctl", "splice", "provide_buffers", "remove_buffers", "tee",
  "shutdown", "renameat", "unlinkat", "mkdirat", "symlinkat", "linkat",
  "msg_ring", "fsetxattr", "setxattr", "fgetxattr", "getxattr", "socket",
  "uring_cmd", "send_zc", "sendmsg_zc", "read_multishot", "waitid",
  "futex_wait", "futex_wake", "futex_waitv", "fixed_fd_install",
  "ftruncate", "bind", "listen", "recv_zc", "epoll_wait", "readv_fixed",
  "writev_fixed", "pipe"
};

int lure__uring_op_count(void) {
  return (int) (sizeof(lure__op_names) / sizeof(lure__op_names[0]));
}

const char *lure__uring_op_name(int op) {
  if (op < 0 || op >= lure__uring_op_count())
    return NULL;
  return lure__op_names[op];
}

int lure__uring_op_by_name(const char *name, size_t len) {
  int i;

  if (name == NULL)
    return -1;
  for (i = 0; i < lure__uring_op_count(); i++)
    if (strlen(lure__op_names[i]) == len &&
        strncmp(lure__op_names[i], name, len) == 0)
      return i;
  return -1;
}

static int lure__has_op(const unsigned char ops[32], int op) {
  return (ops[op / 8] >> (op % 8)) & 1;
}

/* ---- setup ------------------------------------------------------------------- */

static const unsigned lure__setup_ladder[] = {
  IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
      IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
  IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
      IORING_SETUP_TASKRUN_FLAG,
  IORING_SETUP_CQSIZE,
  0,
};

/* Set up ring with the best flags this kernel takes; fill ops with the
 * probe.  Returns 0 or the negative errno of the last attempt. */
static int lure__ring_setup(struct io_uring *ring, unsigned entries,
                            unsigned *flags_out, unsigned *features_out,
                            unsigned char ops[32]) {
  struct io_uring_params params;
  struct io_uring_probe *probe;
  size_t i;
  int rc = -ENOSYS;
  int op;

  for (i = 0; i < sizeof(lure__setup_ladder) / sizeof(lure__setup_ladder[0]);
       i++) {
    memset(&params, 0, sizeof(params));
    params.flags = lure__setup_ladder[i];
    params.cq_entries = entries * 4;
    rc = io_uring_queue_init_params(entries, ring, &params);
    if (rc == 0)
      break;
    /* Unknown flags give EINVAL; anything else (EPERM, ENOSYS, ENOMEM) will
     * not improve with fewer flags, except ENOMEM, which may. */
    if (rc != -EINVAL && rc != -ENOMEM)
      return rc;
  }
  if (rc != 0)
    return rc;
  *flags_out = params.flags;
  *features_out = params.features;

  memset(ops, 0, 32);
  probe = io_uring_get_probe_ring(ring);
  if (probe != NULL) {
    for (op = 0; op <= probe->last_op && op < 256; op++)
      if (io_uring_opcode_supported(probe, op))
        ops[op / 8] |= (unsigned char) (1u << (op % 8));
    io_uring_free_probe(probe);
  }
  return 0;
}

int lure__uring_probe(struct lure__uring_info *info) {
  struct io_uring ring;
  int rc;

  memset(info, 0, sizeof(*info));
  rc = lure__ring_setup(&ring, 256, &info->setup_flags, &info->features,
                        info->ops);
  if (rc != 0) {
    info->setup_error = rc;
    return rc;
  }
  info->usable = 1;
  info->sq_entries = ring.sq.ring_entries;
  info->cq_entries = ring.cq.ring_entries;
  io_uring_queue_exit(&ring);
  return 0;
}

int lure__uring_info(const lure_loop_t *loop, struct lure__uring_info *info) {
  const struct lure__uring *st;

  if (loop == NULL || loop->priv == NULL ||
      loop->priv->backend != &lure__backend_uring)
    return LURE_EINVAL;
  st = loop->priv->backend_data;
  memset(info, 0, sizeof(*info));
  info->usable = 1;
  info->setup_flags = st->setup_flags;
  info->features = st->features;
  info->sq_entries = st->ring.sq.ring_entries;
  info->cq_entries = st->ring.cq.ring_entries;
  memcpy(info->ops, st->ops, sizeof(info->ops));
  return 0;
}

static int lure__uring_init(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;
  struct lure__uring *st;
  int rc;
  int i;

  st = calloc(1, sizeof(*st));
  if (st == NULL)
    return LURE_ENOMEM;
  rc = lure__ring_setup(&st->ring, p->ring_entries, &st->setup_flags,
                        &st->features, st->ops);
  if (rc != 0) {
    free(st);
    return rc;
  }
  for (i = 0; i < 32; i++)
    st->ops[i] &= (unsigned char) ~p->uring_disabled[i];
  if (!lure__has_op(st->ops, IORING_OP_POLL_ADD) ||
      !lure__has_op(st->ops, IORING_OP_POLL_REMOVE)) {
    io_uring_queue_exit(&st->ring);
    free(st);
    return LURE_ENOTSUP;
  }
  (void) io_uring_ring_dontfork(&st->ring);
  st->enabled = !(st->setup_flags & IORING_SETUP_R_DISABLED);
  lure__queue_init(&st->polls);
  lure__queue_init(&st->parked);
  lure__queue_init(&st->fs_waiting);
  st->fs_cap = st->ring.cq.ring_entries / 2;
  if (st->fs_cap == 0)
    st->fs_cap = 1;
  p->backend_data = st;
  return 0;
}

static void lure__uring_destroy(lure_loop_t *loop, int in_child) {
  struct lure__uring *st = loop->priv->backend_data;
  struct lure__upoll *up;

  if (st == NULL)
    return;
  while (!lure__queue_empty(&st->polls)) {
    up = lure__container_of(lure__queue_head(&st->polls), struct lure__upoll,
                            link);
    lure__queue_remove(&up->link);
    if (up->w != NULL)
      up->w->bdata = NULL;
    free(up);
  }
  if (in_child)
    close(st->ring.ring_fd); /* the mappings were not inherited */
  else
    io_uring_queue_exit(&st->ring);
  free(st);
  loop->priv->backend_data = NULL;
}

/* The issuer is whichever thread first enters the ring. */
static void lure__uring_enable(struct lure__uring *st) {
  if (!st->enabled) {
    /* liburing 2.3 declares io_uring_enable_rings() but does not export it,
     * so register directly. */
    (void) syscall(__NR_io_uring_register, st->ring.ring_fd,
                   IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    st->enabled = 1;
  }
}

/* Count what the kernel consumed from the SQ since `before` was sampled. */
static void lure__uring_account(lure_loop_t *loop, struct lure__uring *st,
                                unsigned before) {
  unsigned after = io_uring_sq_ready(&st->ring);

  if (before > after)
    loop->priv->stats.sqes_submitted += before - after;
}

/* An SQE, flushing a full SQ first.  NULL only if the kernel would not take
 * the flush (CQ backlog on kernels without NODROP). */
static struct io_uring_sqe *lure__uring_sqe(lure_loop_t *loop,
                                            struct lure__uring *st) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
  unsigned before;

  if (sqe != NULL)
    return sqe;
  loop->priv->stats.sq_full++;
  lure__uring_enable(st);
  before = io_uring_sq_ready(&st->ring);
  loop->priv->stats.wait_calls++;
  (void) io_uring_submit(&st->ring);
  lure__uring_account(loop, st, before);
  return io_uring_get_sqe(&st->ring);
}

/* ---- fd watchers ------------------------------------------------------------------ */

static void lure__upoll_arm(lure_loop_t *loop, struct lure__uring *st,
                            struct lure__upoll *up) {
  struct io_uring_sqe *sqe = lure__uring_sqe(loop, st);

  if (sqe == NULL) {
    if (!up->parked) {
      up->parked = 1;
      lure__queue_insert_tail(&st->parked, &up->park_link);
    }
    return;
  }
  if (up->multishot && !st->no_multishot)
    io_uring_prep_poll_multishot(sqe, up->w->fd, up->mask);
  else
    io_uring_prep_poll_add(sqe, up->w->fd, up->mask);
  io_uring_sqe_set_data(sqe, up);
  up->armed = 1;
}

/* Let go of a poll record: remove it from the kernel, free it once no CQE
 * can name it anymore. */
static void lure__upoll_release(lure_loop_t *loop, struct lure__uring *st,
                                struct lure__upoll *up) {
  struct io_uring_sqe *sqe;

  up->w = NULL;
  if (up->parked) {
    up->parked = 0;
    lure__queue_remove(&up->park_link);
  }
  if (!up->armed) {
    lure__queue_remove(&up->link);
    free(up);
    return;
  }
  sqe = lure__uring_sqe(loop, st);
  if (sqe == NULL)
    return; /* the poll fires or is flushed eventually; its CQE frees up */
  io_uring_prep_poll_remove(sqe, (__u64) (uintptr_t) up);
  io_uring_sqe_set_data64(sqe, LURE__UD_IGNORE);
}

static int lure__uring_io_start(lure_loop_t *loop, struct lure__io *w) {
  struct lure__uring *st = loop->priv->backend_data;
  struct lure__upoll *up = w->bdata;

  if (up != NULL) {
    if (up->mask == w->events)
      return 0;
    lure__upoll_release(loop, st, up);
    w->bdata = NULL;
  }
  up = calloc(1, sizeof(*up));
  if (up == NULL)
    return LURE_ENOMEM;
  up->w = w;
  up->mask = w->events;
  up->multishot = (w->flags & LURE__IO_DRAINS) != 0;
  lure__queue_insert_tail(&st->polls, &up->link);
  w->bdata = up;
  lure__upoll_arm(loop, st, up);
  return 0;
}

static void lure__uring_io_stop(lure_loop_t *loop, struct lure__io *w) {
  struct lure__uring *st = loop->priv->backend_data;
  struct lure__upoll *up = w->bdata;

  if (up == NULL)
    return;
  w->bdata = NULL;
  lure__upoll_release(loop, st, up);
}

static void lure__upoll_complete(lure_loop_t *loop, struct lure__uring *st,
                                 struct lure__upoll *up, int res,
                                 unsigned flags) {
  struct lure__io *w = up->w;
  unsigned revents;

  if (!(flags & IORING_CQE_F_MORE))
    up->armed = 0;
  if (w == NULL) {
    if (!up->armed) {
      lure__queue_remove(&up->link);
      free(up);
    }
    return;
  }
  if (res == -EINVAL && up->multishot && !st->no_multishot) {
    /* Multishot poll is 5.13+: continue one-shot. */
    st->no_multishot = 1;
    lure__upoll_arm(loop, st, up);
    return;
  }
  if (res < 0) {
    if (res == -ECANCELED) {
      lure__upoll_arm(loop, st, up);
      return;
    }
    revents = res == -EBADF ? POLLNVAL : POLLERR;
  } else {
    revents = (unsigned) res;
    /* Re-arm before the callback, so that a callback that stops or changes
     * the watcher finds a live request to remove. */
    if (!up->armed)
      lure__upoll_arm(loop, st, up);
  }
  w->cb(loop, w, revents);
}


/* ---- file requests ------------------------------------------------------------------ */

/* The opcode that serves req, or -1 when the ring has no way to. */
static int lure__uring_fs_opcode(const lure_fs_t *req) {
  switch (req->fs_type) {
    case LURE_FS_OPEN: return IORING_OP_OPENAT;
    case LURE_FS_CLOSE: return IORING_OP_CLOSE;
    case LURE_FS_READ:
    case LURE_FS_WRITE:
      if (req->nbufs > IOV_MAX)
        return -1; /* the pool splits it; the ring would say EINVAL */
      if (req->nbufs == 1)
        return req->fs_type == LURE_FS_READ ? IORING_OP_READ : IORING_OP_WRITE;
      return req->fs_type == LURE_FS_READ ? IORING_OP_READV : IORING_OP_WRITEV;
    case LURE_FS_FSYNC:
    case LURE_FS_FDATASYNC: return IORING_OP_FSYNC;
    case LURE_FS_STAT:
    case LURE_FS_LSTAT:
    case LURE_FS_FSTAT: return IORING_OP_STATX;
    case LURE_FS_UNLINK:
    case LURE_FS_RMDIR: return IORING_OP_UNLINKAT;
    case LURE_FS_MKDIR: return IORING_OP_MKDIRAT;
    case LURE_FS_RENAME: return IORING_OP_RENAMEAT;
    case LURE_FS_SYMLINK: return IORING_OP_SYMLINKAT;
    case LURE_FS_LINK: return IORING_OP_LINKAT;
    case LURE_FS_FTRUNCATE: return LURE__IORING_OP_FTRUNCATE;
    default: return -1;
  }
}

static void lure__uring_fs_prep(struct io_uring_sqe *sqe, lure_fs_t *req) {
  /* -1 asks for the file position (IORING_FEAT_RW_CUR_POS, 5.6). */
  __u64 off = req->off < 0 ? (__u64) -1 : (__u64) req->off;
  struct statx *stx = (struct statx *) (void *) req->kbuf.bytes;

  switch (req->fs_type) {
    case LURE_FS_OPEN:
      io_uring_prep_openat(sqe, AT_FDCWD, req->path, req->flags | O_CLOEXEC,
                           req->mode);
      break;
    case LURE_FS_CLOSE:
      io_uring_prep_close(sqe, req->file);
      break;
    case LURE_FS_READ:
      if (req->nbufs == 1)
        io_uring_prep_read(sqe, req->file, req->bufs[0].base,
                           (unsigned) req->bufs[0].len, off);
      else
        io_uring_prep_readv(sqe, req->file, (const struct iovec *) req->bufs,
                            req->nbufs, off);
      break;
    case LURE_FS_WRITE:
      if (req->nbufs == 1)
        io_uring_prep_write(sqe, req->file, req->bufs[0].base,
                            (unsigned) req->bufs[0].len, off);
      else
        io_uring_prep_writev(sqe, req->file, (const struct iovec *) req->bufs,
                             req->nbufs, off);
      break;
    case LURE_FS_FSYNC:
      io_uring_prep_fsync(sqe, req->file, 0);
      break;
    case LURE_FS_FDATASYNC:
      io_uring_prep_fsync(sqe, req->file, IORING_FSYNC_DATASYNC);
      break;
    case LURE_FS_STAT:
      io_uring_prep_statx(sqe, AT_FDCWD, req->path, 0,
                          STATX_BASIC_STATS | STATX_BTIME, stx);
      break;
    case LURE_FS_LSTAT:
      io_uring_prep_statx(sqe, AT_FDCWD, req->path, AT_SYMLINK_NOFOLLOW,
                          STATX_BASIC_STATS | STATX_BTIME, stx);
      break;
    case LURE_FS_FSTAT:
      io_uring_prep_statx(sqe, req->file, "", AT_EMPTY_PATH,
                          STATX_BASIC_STATS | STATX_BTIME, stx);
      break;
    case LURE_FS_UNLINK:
      io_uring_prep_unlinkat(sqe, AT_FDCWD, req->path, 0);
      break;
    case LURE_FS_RMDIR:
      io_uring_prep_unlinkat(sqe, AT_FDCWD, req->path, AT_REMOVEDIR);
      break;
    case LURE_FS_MKDIR:
      io_uring_prep_mkdirat(sqe, AT_FDCWD, req->path, req->mode);
      break;
    case LURE_FS_RENAME:
      io_uring_prep_renameat(sqe, AT_FDCWD, req->path, AT_FDCWD,
                             req->new_path, 0);
      break;
    case LURE_FS_SYMLINK:
      io_uring_prep_symlinkat(sqe, req->path, AT_FDCWD, req->new_path);
      break;
    case LURE_FS_LINK:
      io_uring_prep_linkat(sqe, AT_FDCWD, req->path, AT_FDCWD, req->new_path,
                           0);
      break;
    case LURE_FS_FTRUNCATE:
      /* No helper in liburing 2.3: the length travels in the offset. */
      io_uring_prep_rw(LURE__IORING_OP_FTRUNCATE, sqe, req->file, NULL, 0,
                       (__u64) req->off);
      break;
    default:
      break;
  }
  io_uring_sqe_set_data64(sqe, (__u64) (uintptr_t) req | LURE__UD_FS);
}

/* Move waiting requests into the SQ while there is room in flight. */
static void lure__uring_fs_flush_waiting(lure_loop_t *loop,
                                         struct lure__uring *st) {
  struct io_uring_sqe *sqe;
  lure_fs_t *req;

  while (!lure__queue_empty(&st->fs_waiting) && st->fs_inflight < st->fs_cap) {
    sqe = lure__uring_sqe(loop, st);
    if (sqe == NULL)
      return;
    req = lure__container_of(lure__queue_head(&st->fs_waiting), lure_fs_t,
                             queue);
    lure__queue_remove(&req->queue);
    lure__uring_fs_prep(sqe, req);
    st->fs_inflight++;
  }
}

int lure__uring_fs_submit(lure_loop_t *loop, lure_fs_t *req) {
  struct lure__uring *st = loop->priv->backend_data;
  struct io_uring_sqe *sqe;
  int op = lure__uring_fs_opcode(req);

  if (op < 0 || !lure__has_op(st->ops, op))
    return LURE_ENOTSUP;
  req->executor = LURE__EXEC_URING;
  /* FIFO: behind anything already waiting, and never more in flight than
   * the CQ can hold. */
  if (!lure__queue_empty(&st->fs_waiting) || st->fs_inflight >= st->fs_cap ||
      (sqe = lure__uring_sqe(loop, st)) == NULL) {
    lure__queue_insert_tail(&st->fs_waiting, &req->queue);
    return 0;
  }
  lure__uring_fs_prep(sqe, req);
  st->fs_inflight++;
  return 0;
}

static void lure__uring_fs_complete(lure_loop_t *loop, struct lure__uring *st,
                                    lure_fs_t *req, int res) {
  st->fs_inflight--;
  lure__fs_done(loop, req, res, LURE__EXEC_URING);
}

int lure__uring_fs_cancel(lure_loop_t *loop, lure_fs_t *req) {
  struct lure__uring *st = loop->priv->backend_data;
  struct io_uring_sqe *sqe;

  if (!lure__queue_empty(&req->queue)) {
    /* Still in user space: it never reaches the kernel. */
    lure__queue_remove(&req->queue);
    lure__fs_done_later(loop, req, LURE_ECANCELED, LURE__EXEC_URING);
    return 0;
  }
  sqe = lure__uring_sqe(loop, st);
  if (sqe == NULL)
    return LURE_EBUSY;
  /* The target's own CQE reports the outcome (-ECANCELED, -EINTR, or its
   * real result when it won the race); the cancel's CQE is ignored. */
  io_uring_prep_cancel64(sqe, (__u64) (uintptr_t) req | LURE__UD_FS, 0);
  io_uring_sqe_set_data64(sqe, LURE__UD_IGNORE);
  return 0;
}

/* ---- the poll phase ---------------------------------------------------------------- */

struct lure__cqe_copy {
  __u64 user_data;
  __s32 res;
  __u32 flags;
};

#define LURE__CQE_BATCH 256

/* Reap what the CQ holds.  CQEs are copied out and the CQ head advanced
 * before any callback runs, so callbacks that submit never find the CQ
 * holding entries we already saw. */
static void lure__uring_reap(lure_loop_t *loop, struct lure__uring *st) {
  struct io_uring_cqe *cqes[LURE__CQE_BATCH];
  struct lure__cqe_copy copy[LURE__CQE_BATCH];
  unsigned n;
  unsigned i;
  int rounds;

  for (rounds = 0; rounds < 64; rounds++) {
    n = io_uring_peek_batch_cqe(&st->ring, cqes, LURE__CQE_BATCH);
    if (n == 0) {
      if (io_uring_cq_has_overflow(&st->ring)) {
        loop->priv->stats.cq_overflow++;
        loop->priv->stats.wait_calls++;
        (void) io_uring_get_events(&st->ring);
        continue;
      }
      break;
    }
    for (i = 0; i < n; i++) {
      copy[i].user_data = cqes[i]->user_data;
      copy[i].res = cqes[i]->res;
      copy[i].flags = cqes[i]->flags;
    }
    io_uring_cq_advance(&st->ring, n);
    loop->priv->stats.cqes_reaped += n;
    for (i = 0; i < n; i++) {
      if (copy[i].user_data == LURE__UD_IGNORE ||
          copy[i].user_data == LIBURING_UDATA_TIMEOUT)
        continue;
      switch (copy[i].user_data & LURE__UD_TAG_MASK) {
        case LURE__UD_FS:
          lure__uring_fs_complete(
              loop, st,
              (lure_fs_t *) (uintptr_t) (copy[i].user_data & ~(__u64) LURE__UD_TAG_MASK),
              copy[i].res);
          break;
        default:
          lure__upoll_complete(
              loop, st, (struct lure__upoll *) (uintptr_t) copy[i].user_data,
              copy[i].res, copy[i].flags);
          break;
      }
    }
    if (n < LURE__CQE_BATCH && !io_uring_cq_has_overflow(&st->ring))
      break;
  }
}

static void lure__uring_poll(lure_loop_t *loop, int timeout) {
  struct lure__uring *st = loop->priv->backend_data;
  struct __kernel_timespec ts;
  struct io_uring_cqe *cqe;
  struct lure__upoll *up;
  unsigned before;
  int rc;

  lure__uring_enable(st);
  while (!lure__queue_empty(&st->parked)) {
    up = lure__container_of(lure__queue_head(&st->parked), struct lure__upoll,
                            park_link);
    lure__queue_remove(&up->park_link);
    up->parked = 0;
    lure__upoll_arm(loop, st, up);
    if (up->parked)
      break; /* still no room */
  }

  lure__uring_fs_flush_waiting(loop, st);

  before = io_uring_sq_ready(&st->ring);
  if (timeout == 0 && before == 0 && io_uring_cq_ready(&st->ring) > 0 &&
      !(st->setup_flags & IORING_SETUP_DEFER_TASKRUN)) {
    /* Nothing to submit and completions waiting: no syscall needed. */
    lure__uring_reap(loop, st);
    return;
  }

  loop->priv->stats.wait_calls++;
  if (timeout == 0) {
    rc = io_uring_submit_and_get_events(&st->ring);
  } else if (timeout < 0) {
    rc = io_uring_submit_and_wait(&st->ring, 1);
  } else {
    ts.tv_sec = timeout / 1000;
    ts.tv_nsec = (long long) (timeout % 1000) * 1000000;
    rc = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
  }
  lure__uring_account(loop, st, before);
  /* -ETIME (timeout), -EINTR (signal), -EAGAIN/-EBUSY (reap first) and
   * -EBADR (a pre-NODROP kernel dropped CQEs) all mean: reap what is
   * there; the next tick submits what is left. */
  (void) rc;
  lure__uring_reap(loop, st);
}

static int lure__uring_fd(const lure_loop_t *loop) {
  const struct lure__uring *st = loop->priv->backend_data;

  return st->ring.ring_fd;
}

const struct lure__backend_ops lure__backend_uring = {
  "io_uring",
  lure__uring_init,
  lure__uring_destroy,
  lure__uring_io_start,
  lure__uring_io_stop,
  lure__uring_poll,
  lure__uring_fd,
};

/* ---- sockets ------------------------------------------------------------------------- */

#include "stream.h"

int lure__uring_stream_usable(const lure_loop_t *loop) {
  return 0;
}
int lure__uring_stream_accept(lure_stream_t *s) { return LURE_ENOTSUP; }
int lure__uring_stream_read(lure_stream_t *s) { return LURE_ENOTSUP; }
void lure__uring_stream_read_stop(lure_stream_t *s) {}
void lure__uring_stream_write(lure_stream_t *s) {}
int lure__uring_stream_shutdown(lure_stream_t *s) { return LURE_ENOTSUP; }
void lure__uring_stream_close(lure_stream_t *s) {}
