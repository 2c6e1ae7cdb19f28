/*
 * uring.c - the io_uring ring as the loop's wait point.
 *
 * Field notes (kernel versions from liburing's man pages and io_uring.h):
 * - Setup is tried with the best flags first and fewer on each failure:
 *     COOP_TASKRUN|TASKRUN_FLAG (5.19);
 *     CQSIZE only (5.5);
 *     nothing (5.1).
 *   SUBMIT_ALL (5.18) rides along on the first two so that one bad SQE does
 *   not stop the rest of a batch.  Every failure of io_uring_setup (ENOSYS,
 *   EPERM from seccomp or kernel.io_uring_disabled, EINVAL for flags this
 *   kernel does not know, ENOMEM from RLIMIT_MEMLOCK before 5.12,
 *   EOPNOTSUPP in some sandboxes) is a reason to fall back, never to abort.
 *   So is a ring that cannot be entered: init submits one NOP and waits
 *   for it (a seccomp policy may allow io_uring_setup but not
 *   io_uring_enter).
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
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
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
  int no_sockets;         /* no buffer ring here: sockets use readiness */
  int notify_fd;          /* eventfd for lure_backend_fd(), or -1 */
  unsigned batch;         /* CQEs in the batch being dispatched, else 0 */
  struct lure__bufring *bufring;      /* streams' receives */
  struct lure__bufring *udp_bufring;  /* datagrams' receives */
  int no_udp;             /* no datagram buffer ring: UDP uses readiness */
  struct lure__queue udp_dirty;  /* UDP handles with sends to chain */
  int no_multishot;       /* the kernel refused multishot POLL_ADD */
  unsigned char ops[32];  /* supported and not masked */
  struct lure__queue polls;    /* every live poll record */
  struct lure__queue parked;   /* polls waiting for an SQE */
  struct lure__queue stream_parked; /* streams whose ops found no SQE */
};

/* One POLL_ADD in flight (or parked). */
struct lure__upoll {
  struct lure__io *w;     /* NULL once the watcher let go */
  unsigned want;          /* the watcher's mask */
  unsigned mask;          /* the mask armed (may add POLLIN, see io_start) */
  int armed;              /* an SQE was queued; its final CQE is pending */
  int multishot;
  int parked;
  struct lure__queue link;        /* st->polls */
  struct lure__queue park_link;   /* st->parked */
};

static void lure__bufring_free(struct lure__bufring **bp);
static void lure__ustream_unpark(lure_loop_t *loop, struct lure__uring *st);

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

/* Kernel features that the probe cannot report, kept as bits above the
 * opcodes so that LURE_URING_DISABLE can mask them like opcodes and make
 * lure take the paths of the kernels that lack them. */
static const char *const lure__feat_names[] = {
  "recv_multishot",   /* multishot RECV/RECVMSG, Linux 6.0 */
  "accept_multishot", /* multishot ACCEPT, 5.19 */
  "pbuf_ring"         /* provided-buffer rings, 5.19 (else PROVIDE_BUFFERS) */
};

int lure__uring_op_count(void) {
  return (int) (sizeof(lure__op_names) / sizeof(lure__op_names[0]));
}

const char *lure__uring_op_name(int op) {
  if (op >= LURE__FEAT_BASE &&
      op < LURE__FEAT_BASE + (int) (sizeof(lure__feat_names) /
                                    sizeof(lure__feat_names[0])))
    return lure__feat_names[op - LURE__FEAT_BASE];
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
  for (i = 0; i < (int) (sizeof(lure__feat_names) / sizeof(lure__feat_names[0]));
       i++)
    if (strlen(lure__feat_names[i]) == len &&
        strncmp(lure__feat_names[i], name, len) == 0)
      return LURE__FEAT_BASE + i;
  return -1;
}

static int lure__has_op(const unsigned char ops[32], int op) {
  return (ops[op / 8] >> (op % 8)) & 1;
}

static int lure__has_ops(const unsigned char ops[32], const int *need,
                         size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    if (!lure__has_op(ops, need[i]))
      return 0;
  return 1;
}

/* ---- setup ------------------------------------------------------------------- */

/* Not SINGLE_ISSUER (6.0) nor DEFER_TASKRUN (6.1, which requires it).  A
 * SINGLE_ISSUER ring belongs to the first task that enters it (with
 * R_DISABLED, the one that enables it), and io_uring_enter from any other
 * thread fails with EEXIST.  libuv lets a loop be set up in one thread and
 * run in another, or run by one thread and later by another, and lure
 * enters the ring outside lure_run() too (a full SQ is flushed, a TCP
 * connect is submitted at once): a loop then handed to another thread spun
 * at 100% CPU on EEXIST.  Nothing can move the issuer of a live ring, and
 * a new ring cannot take over operations the old one holds.  So the ring
 * is shared-issuer; lure-bench quick showed no difference above its noise
 * on this host (see the commit that made this change). */

static const unsigned lure__setup_ladder[] = {
  IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
      IORING_SETUP_TASKRUN_FLAG,
  IORING_SETUP_CQSIZE,
  0,
};

static void lure__set_bit(unsigned char ops[32], int op) {
  ops[op / 8] |= (unsigned char) (1u << (op % 8));
}

/* The probe does not report features; the kernel's version says which it
 * should have, and a feature the kernel refuses anyway (a backport, an odd
 * build) is dropped at run time when its first use fails with EINVAL. */
static void lure__feat_guess(unsigned char ops[32]) {
  struct utsname u;
  unsigned major = 0;
  unsigned minor = 0;
  unsigned v;

  if (uname(&u) != 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
    return;
  v = major * 100 + minor;
  if (v >= 600)
    lure__set_bit(ops, LURE__FEAT_RECV_MULTISHOT);
  if (v >= 519) {
    lure__set_bit(ops, LURE__FEAT_ACCEPT_MULTISHOT);
    lure__set_bit(ops, LURE__FEAT_PBUF_RING);
  }
}

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
  lure__feat_guess(ops);
  probe = io_uring_get_probe_ring(ring);
  if (probe != NULL) {
    for (op = 0; op <= probe->last_op && op < 256; op++)
      if (io_uring_opcode_supported(probe, op))
        ops[op / 8] |= (unsigned char) (1u << (op % 8));
    io_uring_free_probe(probe);
  }
  return 0;
}

/* A policy may let a ring be set up but not entered (a seccomp filter
 * that denies io_uring_enter alone): such a ring would fail every poll
 * phase.  One NOP, submitted and waited for, proves it usable; any error
 * makes the loop fall back like a failed setup. */
static int lure__ring_try_enter(struct io_uring *ring) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
  struct io_uring_cqe *cqe;
  int rc;

  if (sqe == NULL)
    return LURE_EBUSY;
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data64(sqe, LURE__UD_IGNORE);
  rc = io_uring_submit_and_wait(ring, 1);
  if (rc < 0)
    return rc;
  rc = io_uring_peek_cqe(ring, &cqe);
  if (rc != 0)
    return rc;
  io_uring_cqe_seen(ring, cqe);
  return 0;
}

int lure__uring_probe(struct lure__uring_info *info) {
  struct io_uring ring;
  int rc;

  memset(info, 0, sizeof(*info));
  rc = lure__ring_setup(&ring, 256, &info->setup_flags, &info->features,
                        info->ops);
  if (rc == 0) {
    rc = lure__ring_try_enter(&ring);
    if (rc != 0)
      io_uring_queue_exit(&ring);
  }
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

  st = lure__calloc(1, sizeof(*st));
  if (st == NULL)
    return LURE_ENOMEM;
  rc = lure__ring_setup(&st->ring, p->ring_entries, &st->setup_flags,
                        &st->features, st->ops);
  if (rc != 0) {
    lure__free(st);
    return rc;
  }
  for (i = 0; i < 32; i++)
    st->ops[i] &= (unsigned char) ~p->uring_disabled[i];
  if (!lure__has_op(st->ops, IORING_OP_POLL_ADD) ||
      !lure__has_op(st->ops, IORING_OP_POLL_REMOVE)) {
    io_uring_queue_exit(&st->ring);
    lure__free(st);
    return LURE_ENOTSUP;
  }
  rc = lure__ring_try_enter(&st->ring);
  if (rc != 0) {
    io_uring_queue_exit(&st->ring);
    lure__free(st);
    return rc;
  }
  (void) io_uring_ring_dontfork(&st->ring);
  st->enabled = !(st->setup_flags & IORING_SETUP_R_DISABLED);
  st->notify_fd = -1;
  lure__queue_init(&st->polls);
  lure__queue_init(&st->parked);
  lure__queue_init(&st->fs_waiting);
  lure__queue_init(&st->udp_dirty);
  lure__queue_init(&st->stream_parked);
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
    lure__free(up);
  }
  lure__bufring_free(&st->bufring);
  lure__bufring_free(&st->udp_bufring);
  if (st->notify_fd >= 0)
    close(st->notify_fd);
  if (in_child)
    close(st->ring.ring_fd); /* the mappings were not inherited */
  else
    io_uring_queue_exit(&st->ring);
  lure__free(st);
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
    lure__free(up);
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
    if (up->want == w->events)
      return 0;
    lure__upoll_release(loop, st, up);
    w->bdata = NULL;
  }
  up = lure__calloc(1, sizeof(*up));
  if (up == NULL)
    return LURE_ENOMEM;
  up->w = w;
  up->want = w->events;
  up->mask = w->events;
  up->multishot = (w->flags & LURE__IO_DRAINS) != 0;
  /* A poll for POLLPRI alone is never woken on this kernel (6.18): the
   * socket's wake-up names POLLIN, which the request's mask filters out.
   * Arm it with POLLIN too, as multishot so that unread ordinary data does
   * not make it fire in a loop, and drop the POLLIN-only completions. */
  if ((up->mask & POLLPRI) && !(up->mask & POLLIN)) {
    up->mask |= POLLIN;
    up->multishot = 1;
  }
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
      lure__free(up);
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
    revents = (unsigned) res & (up->want | POLLERR | POLLHUP | POLLNVAL);
    /* Re-arm before the callback, so that a callback that stops or changes
     * the watcher finds a live request to remove. */
    if (!up->armed)
      lure__upoll_arm(loop, st, up);
    if (revents == 0)
      return; /* only the POLLIN we added for a POLLPRI watcher */
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
      /* O_DIRECT at the file position: ext4 completes the I/O
       * asynchronously and the ring then leaves the position where it was
       * (seen on 6.18), so the pool does these. */
      if (req->off < 0) {
        int fl = fcntl(req->file, F_GETFL);
        if (fl >= 0 && (fl & O_DIRECT))
          return -1;
      }
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
      /* The ring first tries an open with O_NONBLOCK added, which for a
       * FIFO returns at once instead of waiting for the other end as
       * open(2) does.  Opens that could be such a FIFO open (read-only or
       * write-only, blocking, not creating a new file) go straight to the
       * ring's workers, where the open blocks like open(2). */
      if (!(req->flags & O_NONBLOCK) && (req->flags & O_ACCMODE) != O_RDWR &&
          !((req->flags & O_CREAT) && (req->flags & O_EXCL)) &&
          !(req->flags & (O_DIRECTORY | O_PATH)))
        sqe->flags |= IOSQE_ASYNC;
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

/* Ask the kernel to cancel the operation tagged user_data.  The target's
 * own CQE reports the outcome (-ECANCELED, -EINTR, or its real result when
 * it won the race); the cancel's CQE is ignored.  LURE_EBUSY when no SQE
 * could be had. */
static int lure__uring_cancel(lure_loop_t *loop, __u64 user_data) {
  struct io_uring_sqe *sqe =
      lure__uring_sqe(loop, (struct lure__uring *) loop->priv->backend_data);

  if (sqe == NULL)
    return LURE_EBUSY;
  io_uring_prep_cancel64(sqe, user_data, 0);
  io_uring_sqe_set_data64(sqe, LURE__UD_IGNORE);
  return 0;
}

/* The SQE tagged user_data if it is still lure's: prepared in the SQ but
 * not yet handed to the kernel, which sees only the entries before the SQ
 * tail that io_uring_submit() publishes (liburing keeps the unpublished
 * ones between sq.sqe_head and sq.sqe_tail; no SQPOLL thread reads ahead
 * here).  NULL when the kernel has it, or when it is linked to its
 * neighbours (a chain must stay whole). */
static struct io_uring_sqe *lure__uring_sqe_unsent(struct lure__uring *st,
                                                   __u64 user_data) {
  struct io_uring_sq *sq = &st->ring.sq;
  struct io_uring_sqe *sqe;
  struct io_uring_sqe *prev = NULL;
  unsigned i;

  if (st->ring.flags & (IORING_SETUP_SQPOLL | IORING_SETUP_SQE128))
    return NULL;
  for (i = sq->sqe_head; i != sq->sqe_tail; i++) {
    sqe = &sq->sqes[i & sq->ring_mask];
    if (sqe->user_data == user_data) {
      if ((sqe->flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK)) ||
          (prev != NULL &&
           (prev->flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK))))
        return NULL;
      return sqe;
    }
    prev = sqe;
  }
  return NULL;
}

int lure__uring_fs_cancel(lure_loop_t *loop, lure_fs_t *req) {
  struct lure__uring *st = loop->priv->backend_data;
  __u64 ud = (__u64) (uintptr_t) req | LURE__UD_FS;
  struct io_uring_sqe *sqe;

  if (!lure__queue_empty(&req->queue)) {
    /* Still in user space: it never reaches the kernel. */
    lure__queue_remove(&req->queue);
    lure__fs_done_later(loop, req, LURE_ECANCELED, LURE__EXEC_URING);
    return 0;
  }
  /* Prepared but not submitted yet: the SQE becomes a NOP with the same
   * tag, so the operation never runs and the request completes, through
   * the NOP's CQE, with LURE_ECANCELED. */
  sqe = lure__uring_sqe_unsent(st, ud);
  if (sqe != NULL) {
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, ud);
    req->cancel_state = LURE__FS_CANCEL_SURE;
    return 0;
  }
  return lure__uring_cancel(loop, ud);
}

/* ---- the poll phase ---------------------------------------------------------------- */

struct lure__sop;
static void lure__sock_complete(lure_loop_t *loop, struct lure__uring *st,
                                struct lure__sop *op, int res,
                                unsigned flags);
#define LURE__UD_SOCK 2u
#define LURE__UD_UDP 3u       /* a UDP handle's multishot RECVMSG */
#define LURE__UD_UDPSEND 4u   /* a lure_udp_send_t's SENDMSG */
struct lure__uudp;
static void lure__uudp_recv_cqe(struct lure__uudp *uu, int res,
                                unsigned flags);
static void lure__uudp_send_complete(lure_udp_send_t *req, int res);
static void lure__uudp_build_chains(lure_loop_t *loop, struct lure__uring *st);

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
  int counted = 0;

  for (rounds = 0; rounds < 64; rounds++) {
    /* A backlog is counted here, once per reap that finds one: liburing's
     * peek flushes the backlog itself (an io_uring_enter with GETEVENTS)
     * when the CQ is empty, so the branch below rarely sees it. */
    if (!counted && io_uring_cq_has_overflow(&st->ring)) {
      counted = 1;
      loop->priv->stats.cq_overflow++;
    }
    n = io_uring_peek_batch_cqe(&st->ring, cqes, LURE__CQE_BATCH);
    if (n == 0) {
      if (io_uring_cq_has_overflow(&st->ring)) {
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
    st->batch = n;
    for (i = 0; i < n; i++) {
      if (copy[i].user_data == LURE__UD_IGNORE ||
          copy[i].user_data == LIBURING_UDATA_TIMEOUT)
        continue;
      switch (copy[i].user_data & LURE__UD_TAG_MASK) {
        case LURE__UD_SOCK:
          lure__sock_complete(
              loop, st,
              (struct lure__sop *) (uintptr_t) (copy[i].user_data & ~(__u64) LURE__UD_TAG_MASK),
              copy[i].res, copy[i].flags);
          break;
        case LURE__UD_UDP:
          lure__uudp_recv_cqe(
              (struct lure__uudp *) (uintptr_t) (copy[i].user_data & ~(__u64) LURE__UD_TAG_MASK),
              copy[i].res, copy[i].flags);
          break;
        case LURE__UD_UDPSEND:
          lure__uudp_send_complete(
              (lure_udp_send_t *) (uintptr_t) (copy[i].user_data & ~(__u64) LURE__UD_TAG_MASK),
              copy[i].res);
          break;
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

/* Whether an io_uring_enter(GETEVENTS) now would post nothing: the ring
 * has TASKRUN_FLAG (5.19), so the kernel raises IORING_SQ_TASKRUN in the
 * SQ flags whenever task work waits to post completions (socket readiness,
 * io-wq results, timeouts), and no CQE waits in the kernel's overflow
 * list.  Without TASKRUN_FLAG the answer is always "maybe": enter. */
static int lure__uring_nothing_pending(struct lure__uring *st) {
  unsigned flags;

  if (!(st->setup_flags & IORING_SETUP_TASKRUN_FLAG))
    return 0;
  flags = IO_URING_READ_ONCE(*st->ring.sq.kflags);
  return (flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) == 0;
}

static void lure__uring_poll(lure_loop_t *loop, int timeout) {
  struct lure__uring *st = loop->priv->backend_data;
  struct __kernel_timespec ts;
  struct io_uring_cqe *cqe;
  struct lure__upoll *up;
  unsigned before;
  int rc;

  lure__uring_enable(st);
  if (st->notify_fd >= 0) {
    uint64_t v;
    (void) read(st->notify_fd, &v, sizeof(v)); /* we are looking now */
  }
  while (!lure__queue_empty(&st->parked)) {
    up = lure__container_of(lure__queue_head(&st->parked), struct lure__upoll,
                            park_link);
    lure__queue_remove(&up->park_link);
    up->parked = 0;
    lure__upoll_arm(loop, st, up);
    if (up->parked)
      break; /* still no room */
  }
  lure__ustream_unpark(loop, st);
  /* A send that found no room again goes after this submit: no sleeping. */
  if (!lure__queue_empty(&st->stream_parked))
    timeout = 0;

  lure__uring_fs_flush_waiting(loop, st);
  st->batch = 0;
  lure__uudp_build_chains(loop, st);

  before = io_uring_sq_ready(&st->ring);
  if (timeout == 0 && before == 0 &&
      !(st->setup_flags & IORING_SETUP_DEFER_TASKRUN) &&
      (io_uring_cq_ready(&st->ring) > 0 || lure__uring_nothing_pending(st))) {
    /* Nothing to submit, and completions waiting or none that only a
     * kernel entry would produce: no syscall needed. */
    lure__update_time(loop);
    lure__uring_reap(loop, st);
    return;
  }

  loop->priv->stats.wait_calls++;
  lure__wait_enter(loop, timeout);
  if (timeout == 0) {
    rc = io_uring_submit_and_get_events(&st->ring);
  } else if (timeout < 0) {
    rc = io_uring_submit_and_wait(&st->ring, 1);
  } else {
    ts.tv_sec = timeout / 1000;
    ts.tv_nsec = (long long) (timeout % 1000) * 1000000;
    rc = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
  }
  lure__wait_leave(loop);
  lure__uring_account(loop, st, before);
  /* The wait may have lasted: callbacks of this poll phase and the check
   * phase see the time after it (a timer started there counts from now):
   * lure__wait_leave() updated it. */
  /* -ETIME (timeout), -EINTR (signal), -EAGAIN/-EBUSY (reap first) mean:
   * reap what is there; the next tick submits what is left.  -EBADR: a
   * kernel without NODROP dropped CQEs; they are gone, count it and go on.
   * Anything else (EEXIST from a ring whose issuer is another task,
   * EBADF, EFAULT, EINVAL, ENOMEM, a seccomp policy's EPERM/ENOSYS...)
   * would fail the same way on every tick, with nothing reaped: the loop
   * would spin.  lure_run() returns it instead. */
  if (rc == -EBADR)
    loop->priv->stats.cq_overflow++;
  else if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN &&
           rc != -EBUSY)
    loop->priv->wait_error = rc;
  lure__uring_reap(loop, st);
  st->batch = 0;
}

/* lure_backend_timeout(): whether the ring holds work that only the next
 * poll phase hands to the kernel (SQEs, parked polls, UDP sends to chain)
 * or completions not yet reaped.  An embedder that sleeps on
 * lure_backend_fd() would never be woken for those. */
int lure__uring_unsubmitted(const lure_loop_t *loop) {
  struct lure__uring *st;

  if (loop->priv->backend != &lure__backend_uring)
    return 0;
  st = loop->priv->backend_data;
  return io_uring_sq_ready(&st->ring) > 0 ||
         io_uring_cq_ready(&st->ring) > 0 ||
         !lure__queue_empty(&st->parked) ||
         !lure__queue_empty(&st->stream_parked) ||
         !lure__queue_empty(&st->udp_dirty);
}

/* For tests: the CQEs waiting in the CQ, and whether the kernel holds more
 * in its overflow backlog (IORING_SQ_CQ_OVERFLOW).  -EINVAL off the ring. */
int lure__uring_cq_state(const lure_loop_t *loop, unsigned *ready,
                         unsigned *entries, int *overflow) {
  const struct lure__uring *st;

  if (loop->priv->backend != &lure__backend_uring)
    return LURE_EINVAL;
  st = loop->priv->backend_data;
  *ready = io_uring_cq_ready(&st->ring);
  *entries = st->ring.cq.ring_entries;
  *overflow = io_uring_cq_has_overflow(&st->ring);
  return 0;
}

/* lure_backend_fd(): the ring fd polls readable when completions wait,
 * except with DEFER_TASKRUN, where completions only exist once the issuer
 * enters the ring: a waiter on the fd would sleep through them.  Such a
 * ring gets an eventfd registered on first request (the kernel signals it
 * for each completion it queues) and the poll phase drains it. */
static int lure__uring_fd(const lure_loop_t *loop) {
  struct lure__uring *st = loop->priv->backend_data;
  int fd;

  if (!(st->setup_flags & IORING_SETUP_DEFER_TASKRUN))
    return st->ring.ring_fd;
  if (st->notify_fd >= 0)
    return st->notify_fd;
  fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0)
    return -errno;
  if (io_uring_register_eventfd(&st->ring, fd) != 0) {
    close(fd);
    return st->ring.ring_fd;
  }
  st->notify_fd = fd;
  return fd;
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

/*
 * Field notes for the socket path:
 * - Accept is multishot (5.19); a CQE without IORING_CQE_F_MORE ends it and
 *   it is re-armed while the stream listens.
 * - Reads are multishot RECV (6.0) selecting buffers from one loop-owned
 *   provided-buffer ring (PBUF_RING, 5.19).  libuv's contract is kept:
 *   alloc_cb is called when bytes have arrived, the bytes are copied into
 *   the caller's buffer, and the ring buffer goes straight back, so
 *   connections never hold ring buffers between CQEs.  When the ring runs
 *   dry the kernel ends the multishot with -ENOBUFS; we re-arm once the
 *   CQEs before it were consumed (their buffers are back by then).
 * - Bytes that arrive after lure_read_stop() (the multishot is being
 *   cancelled) or that did not fit the caller's buffer before it stopped
 *   reading are kept in a per-stream stash and delivered first on the next
 *   lure_read_start(): nothing is lost or reordered.  If the stash cannot
 *   grow, the stream ends with LURE_ENOMEM (lure__stash_lost).
 * - Writes: one SEND (one buffer) or SENDMSG (several, or a descriptor to
 *   pass) in flight per stream, always for the head of the write queue, so
 *   bytes leave in submission order; short sends continue from where they
 *   stopped.  MSG_NOSIGNAL: no SIGPIPE.
 * - TCP connects are IORING_OP_CONNECT, submitted at once so that an error
 *   the kernel reports inline is returned by lure_tcp_connect(), as libuv
 *   does (see lure__uring_stream_connect).  Unix sockets use connect(2).
 * - Closing cancels each operation of the stream by its user_data, and the
 *   handle's close completes (and its fd is closed) only when the last CQE
 *   arrived: the fd number cannot be reused under a live operation, and no
 *   CQE can name freed memory.  Except under a zero-copy send: its
 *   notification waits for the socket to let go of the pages, so the fd
 *   is closed at once (lure__uring_stream_close).  A write whose SEND the
 *   ring holds reports what the kernel did; the writes behind it are
 *   written at once if the socket takes them (libuv would have written
 *   them inside uv_write()).
 */

#include <sys/mman.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "stream.h"

#define LURE__BGID 7
#define LURE__BR_ENTRIES 64
#define LURE__BR_BUFSIZE 65536

/* Shutdown is not a ring operation: IORING_OP_SHUTDOWN always runs on the
 * ring's workers, so its CQE can arrive after the peer answered the FIN
 * (shutdown(2) never blocks; stream.c calls it directly). */
enum { LURE__SOP_ACCEPT, LURE__SOP_RECV, LURE__SOP_SEND, LURE__SOP_CONNECT };

struct lure__sop {
  int kind;
  int armed;
  int multi;                 /* armed as a multishot */
  struct lure__ustream *us;
} __attribute__((aligned(8)));

struct lure__ustream {
  lure_stream_t *s;
  struct lure__sop accept_op;
  struct lure__sop recv_op;
  struct lure__sop send_op;
  struct lure__sop connect_op;
  unsigned connect_stale;    /* CONNECT CQEs already reported by the call */
  int recv_canceling;
  int send_zc;               /* the send in flight is a SEND_ZC */
  int zc_res;                /* its result, applied at the notification */
  struct lure__queue starved_link;
  struct lure__queue park_link; /* st->stream_parked */
  unsigned parked;           /* LURE__PARK_*: what to arm from there */
  /* SENDMSG arguments must stay put until the CQE. */
  struct msghdr msg;
  struct iovec iov[64];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  /* Bytes received but not yet handed to the user. */
  char *stash;
  size_t stash_len;
  size_t stash_off;
  int stash_status;          /* EOF or error seen while not reading */
  int read_err;              /* bytes were lost (LURE_ENOMEM): the end */
  struct lure__pending stash_pending;
};

/* The loop's provided-buffer ring, made on first use. */
struct lure__bufring {
  struct io_uring_buf_ring *br;
  char *bufs;
  unsigned entries;
  unsigned size;
  unsigned bgid;
  int legacy;                  /* IORING_OP_PROVIDE_BUFFERS, no br */
  lure_loop_t *loop;
  unsigned lent;               /* buffers held by borrowed reads */
  unsigned char *lent_map;     /* which ones */
  struct lure__queue starved;  /* streams waiting for a lent buffer back */
};

static struct lure__bufring *lure__bufring_get(lure_loop_t *loop);

int lure__uring_stream_usable(const lure_loop_t *loop) {
  const struct lure__uring *st;
  static const int need[] = { IORING_OP_RECV, IORING_OP_SEND,
                              IORING_OP_SENDMSG, IORING_OP_ACCEPT,
                              IORING_OP_ASYNC_CANCEL };

  if (loop->priv->backend != &lure__backend_uring)
    return 0;
  st = loop->priv->backend_data;
  return !st->no_sockets &&
         lure__has_ops(st->ops, need, sizeof(need) / sizeof(need[0]));
}

static struct lure__ustream *lure__ustream(lure_stream_t *s) {
  struct lure__ustream *us = s->ring;

  if (us != NULL)
    return us;
  us = lure__calloc(1, sizeof(*us));
  if (us == NULL)
    return NULL;
  us->s = s;
  us->accept_op.kind = LURE__SOP_ACCEPT;
  us->recv_op.kind = LURE__SOP_RECV;
  us->send_op.kind = LURE__SOP_SEND;
  us->connect_op.kind = LURE__SOP_CONNECT;
  us->accept_op.us = us->recv_op.us = us->send_op.us = us;
  us->connect_op.us = us;
  lure__queue_init(&us->stash_pending.queue);
  lure__queue_init(&us->starved_link);
  lure__queue_init(&us->park_link);
  s->ring = us;
  return us;
}

/* Fault injection for tests/net-faults.c (hidden; lure never sets them):
 * the next this many stream sends, receives, accepts find no SQE, as when
 * the kernel would not take the flush of a full SQ. */
unsigned lure__uring_fault_send_sqe;
unsigned lure__uring_fault_recv_sqe;
unsigned lure__uring_fault_accept_sqe;

static int lure__sop_fault(int kind) {
  unsigned *n = kind == LURE__SOP_SEND     ? &lure__uring_fault_send_sqe
                : kind == LURE__SOP_RECV   ? &lure__uring_fault_recv_sqe
                : kind == LURE__SOP_ACCEPT ? &lure__uring_fault_accept_sqe
                                           : NULL;

  if (n == NULL || *n == 0)
    return 0;
  (*n)--;
  return 1;
}

/* What the poll phase arms for a stream whose operation found no SQE even
 * after a flush (the kernel would not take it): see lure__ustream_unpark.
 * Leaving it to the next call instead stalled the stream (lure_write()
 * kicks the queue only when it was empty; a receive or accept that ended
 * was never armed again). */
#define LURE__PARK_SEND 1u
#define LURE__PARK_RECV 2u
#define LURE__PARK_ACCEPT 4u

static void lure__ustream_park(lure_stream_t *s, struct lure__ustream *us,
                               unsigned what) {
  struct lure__uring *st = s->loop->priv->backend_data;

  us->parked |= what;
  if (lure__queue_empty(&us->park_link))
    lure__queue_insert_tail(&st->stream_parked, &us->park_link);
}

static struct io_uring_sqe *lure__sop_sqe(lure_stream_t *s,
                                          struct lure__sop *op) {
  struct lure__uring *st = s->loop->priv->backend_data;
  struct io_uring_sqe *sqe;

  if (lure__sop_fault(op->kind))
    return NULL;
  sqe = lure__uring_sqe(s->loop, st);

  if (sqe == NULL)
    return NULL;
  op->armed = 1;
  s->ring_ops++;
  return sqe;
}

static void lure__sop_set(struct io_uring_sqe *sqe, struct lure__sop *op) {
  io_uring_sqe_set_data64(sqe, (__u64) (uintptr_t) op | LURE__UD_SOCK);
}

static void lure__sop_cancel(lure_stream_t *s, struct lure__sop *op) {
  /* Without an SQE it completes eventually on its own. */
  if (op->armed)
    (void) lure__uring_cancel(s->loop, (__u64) (uintptr_t) op | LURE__UD_SOCK);
}

/* ---- accept ---- */

static void lure__feat_drop(struct lure__uring *st, int feat) {
  st->ops[feat / 8] &= (unsigned char) ~(1u << (feat % 8));
}

static int lure__sop_arm_accept(lure_stream_t *s, struct lure__ustream *us) {
  struct lure__uring *st = s->loop->priv->backend_data;
  struct io_uring_sqe *sqe = lure__sop_sqe(s, &us->accept_op);

  if (sqe == NULL) {
    lure__ustream_park(s, us, LURE__PARK_ACCEPT);
    return 0;
  }
  /* Before 5.19: one accept at a time, armed again after each. */
  us->accept_op.multi = lure__has_op(st->ops, LURE__FEAT_ACCEPT_MULTISHOT);
  if (us->accept_op.multi)
    io_uring_prep_multishot_accept(sqe, s->io_watcher.fd, NULL, NULL,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC);
  else
    io_uring_prep_accept(sqe, s->io_watcher.fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
  lure__sop_set(sqe, &us->accept_op);
  return 0;
}

int lure__uring_stream_accept(lure_stream_t *s) {
  struct lure__ustream *us = lure__ustream(s);

  if (us == NULL)
    return LURE_ENOMEM;
  if (us->accept_op.armed)
    return 0;
  return lure__sop_arm_accept(s, us);
}

/* The listener goes on with readiness (stream.c clears its ring flag): the
 * accept is cancelled and not armed again. */
void lure__uring_stream_accept_stop(lure_stream_t *s) {
  struct lure__ustream *us = s->ring;

  if (us != NULL && us->accept_op.armed)
    lure__sop_cancel(s, &us->accept_op);
}

/* ---- connect ---- */

/* A TCP connect as IORING_OP_CONNECT.  libuv returns the errors connect(2)
 * reports at once (ENETUNREACH, EADDRNOTAVAIL, EACCES...) from
 * uv_tcp_connect() itself, and only ECONNREFUSED and later errors through
 * the callback.  So the SQE is submitted now, and if the kernel completed
 * it inline with such an error, its CQE, already in the CQ, is found there
 * and its error returned; that CQE is skipped when the loop reaps it.
 * Returns 0 (the CQE reports the end), a negative errno, or LURE_ENOTSUP
 * when the ring has no CONNECT. */
int lure__uring_stream_connect(lure_stream_t *s, const struct sockaddr *addr,
                               socklen_t len) {
  struct lure__uring *st = s->loop->priv->backend_data;
  struct lure__ustream *us = lure__ustream(s);
  struct io_uring_cqe *cqe;
  struct io_uring_sqe *sqe;
  unsigned head;
  unsigned tail;
  unsigned before;
  __u64 ud;

  if (us == NULL || !lure__has_op(st->ops, IORING_OP_CONNECT) ||
      us->connect_op.armed)
    return LURE_ENOTSUP;
  sqe = lure__sop_sqe(s, &us->connect_op);
  if (sqe == NULL)
    return LURE_ENOTSUP;
  io_uring_prep_connect(sqe, s->io_watcher.fd, addr, len);
  lure__sop_set(sqe, &us->connect_op);
  ud = sqe->user_data;
  lure__uring_enable(st);
  before = io_uring_sq_ready(&st->ring);
  s->loop->priv->stats.wait_calls++;
  (void) io_uring_submit(&st->ring);
  lure__uring_account(s->loop, st, before);
  head = *st->ring.cq.khead;
  tail = io_uring_smp_load_acquire(st->ring.cq.ktail);
  for (; head != tail; head++) {
    cqe = &st->ring.cq.cqes[head & *st->ring.cq.kring_mask];
    if (cqe->user_data != ud)
      continue;
    if (cqe->res < 0 && cqe->res != -ECONNREFUSED) {
      us->connect_op.armed = 0;
      us->connect_stale++;
      return cqe->res;
    }
    break;
  }
  return 0;
}

/* ---- reads ---- */

/* Hand buffers [bid, bid + n) back to the kernel the pre-5.19 way: one
 * IORING_OP_PROVIDE_BUFFERS, submitted with the next wait, ahead of any
 * receive queued after it. */
static int lure__bufring_provide(struct lure__bufring *b, unsigned bid,
                                 unsigned n) {
  struct lure__uring *st = b->loop->priv->backend_data;
  struct io_uring_sqe *sqe = lure__uring_sqe(b->loop, st);

  if (sqe == NULL)
    return LURE_EAGAIN;
  io_uring_prep_provide_buffers(sqe, b->bufs + (size_t) bid * b->size,
                                (int) b->size, (int) n, (int) b->bgid,
                                (int) bid);
  io_uring_sqe_set_data64(sqe, LURE__UD_IGNORE);
  return 0;
}

/* Make and register a provided-buffer ring of entries x size bytes (5.19),
 * or, where the kernel has none (or the mask hides pbuf_ring), provide the
 * same buffers with IORING_OP_PROVIDE_BUFFERS (5.7).  NULL when neither
 * works or memory is short. */
static struct lure__bufring *lure__bufring_new(lure_loop_t *loop,
                                               unsigned bgid, unsigned entries,
                                               unsigned size, int populate) {
  struct lure__uring *st = loop->priv->backend_data;
  struct io_uring_buf_reg reg;
  struct lure__bufring *b;
  unsigned i;

  b = lure__calloc(1, sizeof(*b));
  if (b == NULL)
    return NULL;
  b->entries = entries;
  b->size = size;
  b->bgid = bgid;
  b->loop = loop;
  lure__queue_init(&b->starved);
  /* Page-aligned (and, for streams, populated): the kernel copies into
   * these on every receive. */
  b->bufs = mmap(NULL, (size_t) b->entries * b->size, PROT_READ | PROT_WRITE,
                 MAP_ANONYMOUS | MAP_PRIVATE | (populate ? MAP_POPULATE : 0),
                 -1, 0);
  if (b->bufs == MAP_FAILED)
    b->bufs = NULL;
  b->lent_map = lure__calloc(b->entries, 1);
  if (b->bufs == NULL || b->lent_map == NULL)
    goto fail;
  if (lure__has_op(st->ops, LURE__FEAT_PBUF_RING)) {
    b->br = mmap(NULL, b->entries * sizeof(struct io_uring_buf),
                 PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (b->br == MAP_FAILED)
      b->br = NULL;
  }
  if (b->br != NULL) {
    io_uring_buf_ring_init(b->br);
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (unsigned long) b->br;
    reg.ring_entries = b->entries;
    reg.bgid = (__u16) bgid;
    if (io_uring_register_buf_ring(&st->ring, &reg, 0) == 0) {
      for (i = 0; i < b->entries; i++)
        io_uring_buf_ring_add(b->br, b->bufs + (size_t) i * b->size, b->size,
                              (unsigned short) i,
                              io_uring_buf_ring_mask(b->entries), (int) i);
      io_uring_buf_ring_advance(b->br, (int) b->entries);
      return b;
    }
    munmap(b->br, b->entries * sizeof(struct io_uring_buf));
    b->br = NULL;
  }
  if (lure__has_op(st->ops, IORING_OP_PROVIDE_BUFFERS) &&
      lure__bufring_provide(b, 0, b->entries) == 0) {
    b->legacy = 1;
    return b;
  }

fail:
  if (b->bufs != NULL)
    munmap(b->bufs, (size_t) b->entries * b->size);
  lure__free(b->lent_map);
  lure__free(b);
  return NULL;
}

static struct lure__bufring *lure__bufring_get(lure_loop_t *loop) {
  struct lure__uring *st = loop->priv->backend_data;

  if (st->bufring == NULL && !st->no_sockets) {
    st->bufring = lure__bufring_new(loop, LURE__BGID, LURE__BR_ENTRIES,
                                    LURE__BR_BUFSIZE, 1);
    /* No buffer rings here: sockets use readiness. */
    if (st->bufring == NULL)
      st->no_sockets = 1;
  }
  return st->bufring;
}

static void lure__bufring_free(struct lure__bufring **bp) {
  struct lure__bufring *b = *bp;

  if (b == NULL)
    return;
  if (b->br != NULL)
    munmap(b->br, b->entries * sizeof(struct io_uring_buf));
  munmap(b->bufs, (size_t) b->entries * b->size);
  lure__free(b->lent_map);
  lure__free(b);
  *bp = NULL;
}

static void lure__bufring_put(struct lure__bufring *b, unsigned bid) {
  if (b->legacy) {
    (void) lure__bufring_provide(b, bid, 1);
    return;
  }
  io_uring_buf_ring_add(b->br, b->bufs + (size_t) bid * b->size, b->size,
                        (unsigned short) bid,
                        io_uring_buf_ring_mask(b->entries), 0);
  io_uring_buf_ring_advance(b->br, 1);
}

static int lure__sop_arm_recv(lure_stream_t *s, struct lure__ustream *us) {
  struct lure__uring *st = s->loop->priv->backend_data;
  struct io_uring_sqe *sqe = lure__sop_sqe(s, &us->recv_op);

  if (sqe == NULL) {
    lure__ustream_park(s, us, LURE__PARK_RECV);
    return 0;
  }
  /* Before 6.0, and on an adopted fd (stream.h): one receive at a time,
   * armed again after each while reading; the buffer
   * is still the kernel's pick from the group, taken only when bytes
   * arrive, so idle connections hold none.  The length is explicit:
   * kernels before 5.16 read at most sqe->len bytes even with a selected
   * buffer. */
  us->recv_op.multi = lure__has_op(st->ops, LURE__FEAT_RECV_MULTISHOT) &&
                      !(s->stream_flags & LURE__STREAM_ADOPTED);
  if (us->recv_op.multi)
    io_uring_prep_recv_multishot(sqe, s->io_watcher.fd, NULL, 0, 0);
  else
    io_uring_prep_recv(sqe, s->io_watcher.fd, NULL, st->bufring->size, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = LURE__BGID;
  lure__sop_set(sqe, &us->recv_op);
  return 0;
}

static int lure__stash_add(struct lure__ustream *us, const char *p, size_t n) {
  char *m;

  if (us->stash_off > 0 && us->stash_off == us->stash_len) {
    us->stash_off = us->stash_len = 0;
  }
  m = lure__realloc(us->stash, us->stash_len + n);
  if (m == NULL)
    return LURE_ENOMEM;
  memcpy(m + us->stash_len, p, n);
  us->stash = m;
  us->stash_len += n;
  return 0;
}

/* Hand bytes to the user through alloc_cb/read_cb while they read; keep
 * the rest.  Returns 0 when all was delivered or kept. */
static void lure__stash_deliver(lure_loop_t *loop, struct lure__pending *pe);

/* libuv's rule: read_cb never sees a NULL buf; one with a NULL base means
 * no buffer was allocated for this call. */
static const lure_buf_t lure__null_buf = { NULL, 0 };

/* Deliver the stash from the next pending phase, if anyone reads. */
static void lure__stash_schedule(lure_stream_t *s, struct lure__ustream *us) {
  if ((us->stash_len <= us->stash_off && us->stash_status == 0) ||
      !(s->stream_flags & LURE__STREAM_READING) ||
      lure__handle_is_closing((lure_handle_t *) s) ||
      !lure__queue_empty(&us->stash_pending.queue))
    return;
  us->stash_pending.cb = lure__stash_deliver;
  lure__pending_add(s->loop, &us->stash_pending);
}

/* The stash could not grow, so bytes are lost: the stream ends there
 * with LURE_ENOMEM, as after a read error, never with a gap the reader
 * cannot see.  The reader gets it after the bytes kept before (at once if
 * none wait and it reads, else from the pending phase or its next
 * lure_read_start()); the receive stops, and later bytes are dropped. */
static void lure__stash_lost(lure_stream_t *s, struct lure__ustream *us) {
  us->read_err = LURE_ENOMEM;
  us->stash_status = LURE_ENOMEM;
  if (us->recv_op.armed && !us->recv_canceling) {
    us->recv_canceling = 1;
    lure__sop_cancel(s, &us->recv_op);
  }
  if ((s->stream_flags & LURE__STREAM_READING) &&
      us->stash_len <= us->stash_off) {
    us->stash_status = 0;
    lure__stream_deliver(s, LURE_ENOMEM, &lure__null_buf);
    return;
  }
  lure__stash_schedule(s, us);
}

static void lure__stream_feed(lure_stream_t *s, struct lure__ustream *us,
                              const char *p, size_t n) {
  size_t done;

  if (us->read_err != 0)
    return; /* bytes before these were lost: the stream has ended */
  /* Bytes already waiting go first: newer ones queue behind them. */
  if (us->stash_len > us->stash_off) {
    if (!lure__handle_is_closing((lure_handle_t *) s)) {
      if (lure__stash_add(us, p, n) != 0)
        lure__stash_lost(s, us);
      else
        lure__stash_schedule(s, us);
    }
    return;
  }
  /* The core hands them to the reader; what it did not take (the reader
   * stopped, or had no buffer) is kept for the next read. */
  done = lure__stream_deliver_copy(s, p, n);
  if (done < n && !lure__handle_is_closing((lure_handle_t *) s)) {
    if (lure__stash_add(us, p + done, n - done) != 0)
      lure__stash_lost(s, us);
    else
      lure__stash_schedule(s, us);
  }
}

static void lure__stash_deliver(lure_loop_t *loop, struct lure__pending *pe) {
  struct lure__ustream *us =
      lure__container_of(pe, struct lure__ustream, stash_pending);
  char *mem = us->stash;
  size_t off = us->stash_off;
  size_t len = us->stash_len;

  if (!(us->s->stream_flags & LURE__STREAM_READING))
    return;
  if (mem != NULL && off < len) {
    /* Take the stash out first: feeding it may stash again. */
    us->stash = NULL;
    us->stash_len = 0;
    us->stash_off = 0;
    lure__stream_feed(us->s, us, mem + off, len - off);
    lure__free(mem);
  }
  /* The end of the stream comes after its bytes. */
  if (us->stash_status != 0 && us->stash_len <= us->stash_off &&
      (us->s->stream_flags & LURE__STREAM_READING) &&
      !lure__handle_is_closing((lure_handle_t *) us->s)) {
    int status = us->stash_status;

    us->stash_status = 0;
    lure__stream_deliver(us->s, status, &lure__null_buf);
  }
}

int lure__uring_stream_read(lure_stream_t *s) {
  struct lure__ustream *us = lure__ustream(s);

  if (us == NULL || lure__bufring_get(s->loop) == NULL)
    return LURE_ENOTSUP;
  /* After lost bytes the stream only ever reports their loss. */
  if (us->read_err != 0 && us->stash_status == 0)
    us->stash_status = us->read_err;
  lure__stash_schedule(s, us);
  if (us->recv_op.armed || us->read_err != 0)
    return 0; /* still armed, or its cancellation is under way: re-armed
                 from its final CQE if we are reading by then */
  return lure__sop_arm_recv(s, us);
}

void lure__uring_stream_read_stop(lure_stream_t *s) {
  struct lure__ustream *us = s->ring;

  lure__io_stop(s->loop, &s->io_watcher, POLLIN);
  if (us == NULL)
    return;
  lure__queue_remove(&us->stash_pending.queue);
  if (us->recv_op.armed && !us->recv_canceling) {
    us->recv_canceling = 1;
    lure__sop_cancel(s, &us->recv_op);
  }
}

static void lure__sop_recv_done(lure_stream_t *s, struct lure__ustream *us,
                                int res, unsigned flags) {
  struct lure__uring *st = s->loop->priv->backend_data;
  struct lure__bufring *b = st->bufring;
  int reading;

  if (!(flags & IORING_CQE_F_MORE)) {
    us->recv_op.armed = 0;
    us->recv_canceling = 0;
    if (res == -EINVAL && us->recv_op.multi) {
      /* A kernel without multishot receive: one at a time from now on. */
      lure__feat_drop(st, LURE__FEAT_RECV_MULTISHOT);
      if ((s->stream_flags & LURE__STREAM_READING) &&
          !lure__handle_is_closing((lure_handle_t *) s))
        (void) lure__sop_arm_recv(s, us);
      return;
    }
  }
  if (us->read_err != 0) {
    /* Bytes were lost before these: drop them, arm nothing. */
    if (flags & IORING_CQE_F_BUFFER)
      lure__bufring_put(b, flags >> IORING_CQE_BUFFER_SHIFT);
    return;
  }
  if (res > 0) {
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
    char *data = b->bufs + (size_t) bid * b->size;

    if ((s->stream_flags & LURE__STREAM_BORROW) &&
        (s->stream_flags & LURE__STREAM_READING) &&
        us->stash_len <= us->stash_off &&
        !lure__handle_is_closing((lure_handle_t *) s)) {
      /* Zero copy: the ring buffer itself is lent until
       * lure_buf_release(). */
      lure_buf_t lent;

      lent.base = data;
      lent.len = (size_t) res;
      b->lent++;
      b->lent_map[bid] = 1;
      lure__stream_deliver(s, res, &lent);
    } else {
      lure__stream_feed(s, us, data, (size_t) res);
      lure__bufring_put(b, bid);
    }
  } else if (flags & IORING_CQE_F_BUFFER) {
    lure__bufring_put(b, flags >> IORING_CQE_BUFFER_SHIFT);
  }
  if (lure__handle_is_closing((lure_handle_t *) s) || us->read_err != 0)
    return;
  reading = (s->stream_flags & LURE__STREAM_READING) != 0;
  if (res == 0 || (res < 0 && res != -ENOBUFS && res != -ECANCELED &&
                   res != -EINTR)) {
    int status = res == 0 ? LURE_EOF : res;

    /* Not now if the reader stopped or bytes still wait: keep it for
     * after them. */
    if (!reading || us->stash_len > us->stash_off)
      us->stash_status = status;
    else
      lure__stream_deliver(s, status, &lure__null_buf);
    return;
  }
  /* Data, an empty buffer ring, or a cancelled read: go on if still
   * reading and the multishot ended.  A ring emptied by borrowed buffers
   * is refilled only by lure_buf_release(): wait for that instead of
   * spinning on -ENOBUFS. */
  if (!us->recv_op.armed && (s->stream_flags & LURE__STREAM_READING)) {
    if (res == -ENOBUFS && b->lent > 0) {
      if (lure__queue_empty(&us->starved_link))
        lure__queue_insert_tail(&b->starved, &us->starved_link);
      return;
    }
    (void) lure__sop_arm_recv(s, us);
  }
}

int lure__uring_buffers_lent(const lure_loop_t *loop) {
  const struct lure__uring *st;

  if (loop->priv->backend != &lure__backend_uring)
    return 0;
  st = loop->priv->backend_data;
  return st->bufring != NULL && st->bufring->lent > 0;
}

int lure__uring_buf_release(lure_loop_t *loop, const char *base) {
  struct lure__uring *st;
  struct lure__bufring *b;
  struct lure__ustream *us;
  size_t off;

  if (loop->priv->backend != &lure__backend_uring)
    return LURE_EINVAL;
  st = loop->priv->backend_data;
  b = st->bufring;
  if (b == NULL || base < b->bufs ||
      base >= b->bufs + (size_t) b->entries * b->size)
    return LURE_EINVAL;
  off = (size_t) (base - b->bufs);
  if (off % b->size != 0 || b->lent == 0 || !b->lent_map[off / b->size])
    return LURE_EINVAL;
  b->lent_map[off / b->size] = 0;
  b->lent--;
  lure__bufring_put(b, (unsigned) (off / b->size));
  /* Streams that ran dry may read again. */
  while (!lure__queue_empty(&b->starved)) {
    us = lure__container_of(lure__queue_head(&b->starved),
                            struct lure__ustream, starved_link);
    lure__queue_remove(&us->starved_link);
    if (!us->recv_op.armed && (us->s->stream_flags & LURE__STREAM_READING) &&
        us->read_err == 0 &&
        !lure__handle_is_closing((lure_handle_t *) us->s))
      (void) lure__sop_arm_recv(us->s, us);
  }
  return 0;
}

/* ---- writes ---- */

/* One non-blocking send(2) before falling back to a ring SEND: when the
 * socket has room (the common case for replies) the bytes leave now and the
 * next io_uring_enter only has to wait for input, instead of being woken by
 * the SEND's own completion.  Returns 1 when req finished (or failed). */
static int lure__ustream_try_send(lure_stream_t *s, lure_write_t *req) {
  struct lure__uring *st = s->loop->priv->backend_data;
  ssize_t r;

  if (req->send_handle != NULL || req->nbufs - req->write_index != 1)
    return 0;
  /* Replies made while a batch of several completions is dispatched go
   * through the ring instead: they leave together with the next wait, one
   * io_uring_enter for the whole batch instead of a send(2) each. */
  if (st->batch > 2)
    return 0;
  do
    r = send(s->io_watcher.fd, req->bufs[req->write_index].base + req->offset,
             req->bufs[req->write_index].len - req->offset,
             MSG_DONTWAIT | MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    lure__stream_write_fail(s, req, -errno);
    return 1;
  }
  return lure__stream_write_progress(s, req, (size_t) r);
}

void lure__uring_stream_write(lure_stream_t *s) {
  struct lure__ustream *us = lure__ustream(s);
  struct io_uring_sqe *sqe;
  struct cmsghdr *cm;
  lure_write_t *req;
  unsigned n = 0;
  unsigned i;
  int zc;

  if (us == NULL || us->send_op.armed)
    return;
  while (!lure__queue_empty(&s->write_queue)) {
    req = lure__container_of(lure__queue_head(&s->write_queue), lure_write_t,
                             queue);
    /* Skip empty buffers; a request of nothing but is complete. */
    if (lure__stream_write_progress(s, req, 0))
      continue;
    /* Zero copy exists for TCP only: AF_UNIX answers EOPNOTSUPP, and the
     * request is then an ordinary send, as lure_write_zc(3) promises. */
    zc = (req->req_flags & LURE__REQ_ZC) && req->send_handle == NULL &&
         s->type == LURE_TCP &&
         lure__has_op(((struct lure__uring *) s->loop->priv->backend_data)->ops,
                      req->nbufs - req->write_index == 1 ? IORING_OP_SEND_ZC
                                                         : IORING_OP_SENDMSG_ZC);
    if (!zc && lure__ustream_try_send(s, req))
      continue;
    sqe = lure__sop_sqe(s, &us->send_op);
    if (sqe == NULL) {
      lure__ustream_park(s, us, LURE__PARK_SEND);
      return;
    }
    us->send_zc = zc;
    if (zc && req->nbufs - req->write_index == 1) {
      io_uring_prep_send_zc(sqe, s->io_watcher.fd,
                            req->bufs[req->write_index].base + req->offset,
                            req->bufs[req->write_index].len - req->offset,
                            MSG_NOSIGNAL, 0);
    } else if (req->nbufs - req->write_index == 1 &&
        !(req->send_handle != NULL && req->write_index == 0 &&
          req->offset == 0)) {
      io_uring_prep_send(sqe, s->io_watcher.fd,
                         req->bufs[req->write_index].base + req->offset,
                         req->bufs[req->write_index].len - req->offset,
                         MSG_NOSIGNAL);
    } else {
      for (i = req->write_index; i < req->nbufs && n < 64; i++, n++) {
        us->iov[n].iov_base = req->bufs[i].base;
        us->iov[n].iov_len = req->bufs[i].len;
      }
      us->iov[0].iov_base = (char *) us->iov[0].iov_base + req->offset;
      us->iov[0].iov_len -= req->offset;
      memset(&us->msg, 0, sizeof(us->msg));
      us->msg.msg_iov = us->iov;
      us->msg.msg_iovlen = n;
      if (req->send_handle != NULL && req->write_index == 0 &&
          req->offset == 0) {
        memset(&us->ctl, 0, sizeof(us->ctl));
        us->msg.msg_control = us->ctl.buf;
        us->msg.msg_controllen = sizeof(us->ctl.buf);
        cm = CMSG_FIRSTHDR(&us->msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &req->send_handle->io_watcher.fd, sizeof(int));
      }
      if (zc)
        io_uring_prep_sendmsg_zc(sqe, s->io_watcher.fd, &us->msg, MSG_NOSIGNAL);
      else
        io_uring_prep_sendmsg(sqe, s->io_watcher.fd, &us->msg, MSG_NOSIGNAL);
    }
    lure__sop_set(sqe, &us->send_op);
    return;
  }
}

/* From the poll phase, before its submit: arm what found no SQE, if the
 * stream still wants it. */
static void lure__ustream_unpark(lure_loop_t *loop, struct lure__uring *st) {
  struct lure__queue q;
  struct lure__ustream *us;
  lure_stream_t *s;
  unsigned what;

  (void) loop;
  /* Streams that find no room again go back on the list: take it first. */
  lure__queue_move(&st->stream_parked, &q);
  while (!lure__queue_empty(&q)) {
    us = lure__container_of(lure__queue_head(&q), struct lure__ustream,
                            park_link);
    lure__queue_remove(&us->park_link);
    s = us->s;
    what = us->parked;
    us->parked = 0;
    if (lure__handle_is_closing((lure_handle_t *) s))
      continue;
    if ((what & LURE__PARK_ACCEPT) && !us->accept_op.armed &&
        (s->stream_flags & LURE__STREAM_LISTENING))
      (void) lure__sop_arm_accept(s, us);
    if ((what & LURE__PARK_RECV) && !us->recv_op.armed &&
        us->read_err == 0 && (s->stream_flags & LURE__STREAM_READING))
      (void) lure__sop_arm_recv(s, us);
    if (what & LURE__PARK_SEND)
      lure__stream_kick_writes(s);
  }
}

int lure__uring_stream_sending(const lure_stream_t *s) {
  const struct lure__ustream *us = s->ring;

  return us != NULL && us->send_op.armed;
}

static void lure__sop_send_done(lure_stream_t *s, struct lure__ustream *us,
                                int res) {
  lure_write_t *req;

  us->send_op.armed = 0;
  if (lure__queue_empty(&s->write_queue))
    return;
  req = lure__container_of(lure__queue_head(&s->write_queue), lure_write_t,
                           queue);
  if (res < 0) {
    lure__stream_write_fail(s, req, res == -EAGAIN ? LURE_EAGAIN : res);
  } else {
    /* A descriptor rides on the first byte only. */
    if (res > 0 && req->send_handle != NULL)
      req->send_handle = NULL;
    if (!lure__stream_write_progress(s, req, (size_t) res) &&
        lure__handle_is_closing((lure_handle_t *) s))
      lure__stream_write_fail(s, req, LURE_ECANCELED);
  }
  if (lure__handle_is_closing((lure_handle_t *) s)) {
    /* The rest goes now if the socket takes it; the callbacks run in the
     * closing phase. */
    lure__stream_close_writes(s);
    return;
  }
  /* Next request out first, then the callbacks (they may close us). */
  lure__uring_stream_write(s);
  lure__stream_write_done_now(s);
}

/* ---- close ---- */

/* How long the kernel may keep a closed stream's zero-copy bytes when the
 * peer neither acknowledges them nor opens its window (TCP_USER_TIMEOUT). */
#define LURE__ZC_CLOSE_MS 2000

/* Returns 1 when stream.c must close the descriptor now: a zero-copy send
 * is still the kernel's.  Its notification comes only once the socket no
 * longer holds the caller's pages, and a peer that does not read keeps
 * them there for as long as the descriptor is open; waiting for the
 * notification before closing the descriptor (as for every other
 * operation) never ended, and two such ends on one loop held each other
 * (issue 14, item 4).  So the kernel gets the send and its cancel now,
 * then the descriptor goes, as libuv's uv_close() closes it at once: the
 * bytes already taken still leave and the FIN follows them, but no longer
 * than LURE__ZC_CLOSE_MS without progress (the connection is then
 * dropped); lure_tcp_close_reset() drops them at once.  The ring holds
 * the file until the cancel lands, so the descriptor's number may be
 * reused meanwhile without harm.  The write callback and close_cb still
 * wait for the notification. */
int lure__uring_stream_close(lure_stream_t *s) {
  struct lure__ustream *us = s->ring;
  struct lure__uring *st = s->loop->priv->backend_data;
  int zc;
  unsigned before;
  unsigned ms = LURE__ZC_CLOSE_MS;

  if (us == NULL)
    return 0;
  lure__queue_remove(&us->stash_pending.queue);
  lure__queue_remove(&us->park_link);
  zc = us->send_zc && us->send_op.armed && s->type == LURE_TCP;
  if (us->accept_op.armed)
    lure__sop_cancel(s, &us->accept_op);
  if (!us->recv_canceling)
    lure__sop_cancel(s, &us->recv_op);
  lure__sop_cancel(s, &us->send_op);
  lure__sop_cancel(s, &us->connect_op);
  if (!us->accept_op.armed && !zc)
    return 0;
  /* A listener is closed at once too (stream.c closes its descriptor right
   * after this, as libuv's uv_close() does), so the kernel gets the
   * accept, if it still waits in the SQ, and its cancel now, while the
   * descriptor still names the listener.  The cancel of a waiting accept
   * completes inline, and with it the ring's hold on the socket goes. */
  lure__uring_enable(st);
  before = io_uring_sq_ready(&st->ring);
  s->loop->priv->stats.wait_calls++;
  (void) io_uring_submit(&st->ring);
  lure__uring_account(s->loop, st, before);
  /* Only if the kernel took every SQE that may name the descriptor. */
  if (!zc || io_uring_sq_ready(&st->ring) != 0)
    return 0;
  (void) setsockopt(s->io_watcher.fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms,
                    sizeof(ms));
  return 1;
}

/* In a forked child: the parent's ring operations are not ours. */
void lure__uring_stream_forget(lure_stream_t *s) {
  struct lure__ustream *us = s->ring;

  s->ring_ops = 0;
  if (us == NULL)
    return;
  us->accept_op.armed = 0;
  us->recv_op.armed = 0;
  us->send_op.armed = 0;
  us->connect_op.armed = 0;
  us->connect_stale = 0;
  us->recv_canceling = 0;
  us->send_zc = 0;
  lure__queue_init(&us->stash_pending.queue);
  lure__queue_init(&us->starved_link);
  lure__queue_init(&us->park_link);
  us->parked = 0;
}

void lure__uring_stream_free(lure_stream_t *s) {
  struct lure__ustream *us = s->ring;

  if (us == NULL)
    return;
  lure__queue_remove(&us->starved_link);
  lure__queue_remove(&us->park_link);
  lure__free(us->stash);
  lure__free(us);
  s->ring = NULL;
}

/* ---- UDP ----------------------------------------------------------------------------- */

/*
 * Field notes for the UDP path:
 * - Receives are one multishot RECVMSG per handle (6.0) selecting buffers
 *   from a second provided-buffer ring: a datagram takes a whole buffer
 *   (io_uring_recvmsg_out, the peer's address, then the payload), so each
 *   holds 64 KiB of payload, more than any UDP datagram carries.  The
 *   datagram is copied into the alloc_cb buffer (LURE_UDP_PARTIAL when it
 *   does not fit, as recvmsg(2) would truncate it) and the ring buffer goes
 *   straight back.
 * - Datagrams that complete after lure_udp_recv_stop() (the multishot is
 *   being cancelled) wait in a per-handle list and are delivered first on
 *   the next lure_udp_recv_start(), so none is lost, repeated or reordered.
 * - Sends: the head of the queue goes out at once with sendmsg(2) when
 *   nothing is in the ring; otherwise (socket full, or replies made while a
 *   batch of completions is dispatched) the queue goes to the ring as a
 *   chain of SENDMSGs built just before the next wait.  The chain uses
 *   IOSQE_IO_HARDLINK: each starts after the previous one finished, so
 *   datagrams leave in order, and an error (EMSGSIZE, ECONNREFUSED) fails
 *   only its own send.  One chain per handle at a time.
 * - Closing cancels the receive.  Sends in the ring complete on their own
 *   (a datagram send only waits for room that frees by itself); the queue
 *   behind them is then tried once with sendmsg(2), as libuv would have
 *   sent it inside lure_udp_send(), and what the socket refuses gets
 *   LURE_ECANCELED.  The close completes (and its fd is closed) after the
 *   last CQE.
 */

#include "udp.h"

#define LURE__UDP_BGID 8
#define LURE__UDP_BR_ENTRIES 64
#define LURE__UDP_BR_BUFSIZE (65536 + 4096)
#define LURE__UDP_CHAIN 64

struct lure__udgram {
  struct lure__udgram *next;
  ssize_t nread;             /* bytes, or a negative errno to report */
  unsigned flags;
  socklen_t addrlen;
  struct sockaddr_storage addr;
  char data[];
};

struct lure__uudp {
  lure_udp_t *h;
  int recv_armed;            /* its final CQE is pending */
  int recv_canceling;
  int recv_multi;            /* armed as a multishot */
  unsigned sends;            /* SENDMSGs in the ring */
  struct msghdr rmsg;        /* the multishot RECVMSG's layout */
  /* A one-shot RECVMSG (before 6.0): the kernel writes the peer's address
   * and the flags here, the payload into the selected buffer. */
  struct msghdr omsg;
  struct iovec oiov;
  struct sockaddr_storage oaddr;
  struct lure__udgram *stash;        /* received, not yet delivered */
  struct lure__udgram **stash_tail;
  struct lure__pending stash_pending;
  struct lure__queue dirty_link;     /* st->udp_dirty */
} __attribute__((aligned(8)));

int lure__uring_udp_usable(lure_loop_t *loop) {
  struct lure__uring *st;
  static const int need[] = { IORING_OP_RECVMSG, IORING_OP_SENDMSG,
                              IORING_OP_ASYNC_CANCEL };

  if (loop->priv->backend != &lure__backend_uring)
    return 0;
  st = loop->priv->backend_data;
  if (st->no_udp ||
      !lure__has_ops(st->ops, need, sizeof(need) / sizeof(need[0])))
    return 0;
  if (st->udp_bufring == NULL) {
    st->udp_bufring = lure__bufring_new(loop, LURE__UDP_BGID,
                                        LURE__UDP_BR_ENTRIES,
                                        LURE__UDP_BR_BUFSIZE, 0);
    if (st->udp_bufring == NULL) {
      st->no_udp = 1;
      return 0;
    }
  }
  return 1;
}

static struct lure__uudp *lure__uudp(lure_udp_t *h) {
  struct lure__uudp *uu = h->ring;

  if (uu != NULL)
    return uu;
  uu = lure__calloc(1, sizeof(*uu));
  if (uu == NULL)
    return NULL;
  uu->h = h;
  uu->stash_tail = &uu->stash;
  uu->rmsg.msg_namelen = sizeof(struct sockaddr_storage);
  lure__queue_init(&uu->stash_pending.queue);
  lure__queue_init(&uu->dirty_link);
  h->ring = uu;
  return uu;
}

/* ---- receiving ---- */

static int lure__uudp_arm_recv(lure_udp_t *h, struct lure__uudp *uu) {
  struct lure__uring *st = h->loop->priv->backend_data;
  struct io_uring_sqe *sqe = lure__uring_sqe(h->loop, st);

  if (sqe == NULL)
    return LURE_EAGAIN;
  uu->recv_multi = lure__has_op(st->ops, LURE__FEAT_RECV_MULTISHOT);
  if (uu->recv_multi) {
    io_uring_prep_recvmsg_multishot(sqe, h->io_watcher.fd, &uu->rmsg, 0);
  } else {
    memset(&uu->omsg, 0, sizeof(uu->omsg));
    uu->oiov.iov_base = NULL;
    uu->oiov.iov_len = st->udp_bufring->size;
    uu->omsg.msg_name = &uu->oaddr;
    uu->omsg.msg_namelen = sizeof(uu->oaddr);
    uu->omsg.msg_iov = &uu->oiov;
    uu->omsg.msg_iovlen = 1;
    io_uring_prep_recvmsg(sqe, h->io_watcher.fd, &uu->omsg, 0);
  }
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = LURE__UDP_BGID;
  io_uring_sqe_set_data64(sqe, (__u64) (uintptr_t) uu | LURE__UD_UDP);
  uu->recv_armed = 1;
  h->ring_ops++;
  return 0;
}

static int lure__uudp_receiving(const lure_udp_t *h) {
  return (h->udp_flags & LURE__UDP_RECEIVING) &&
         !lure__handle_is_closing((const lure_handle_t *) h);
}

static void lure__uudp_stash_add(struct lure__uudp *uu, ssize_t nread,
                                 const char *data, size_t len,
                                 const void *addr, socklen_t addrlen,
                                 unsigned flags) {
  struct lure__udgram *d = lure__malloc(sizeof(*d) + len);

  if (d == NULL)
    return; /* out of memory: the datagram is dropped, as a full socket
               buffer would */
  d->next = NULL;
  d->nread = nread;
  d->flags = flags;
  if (addrlen > sizeof(d->addr))
    addrlen = sizeof(d->addr);
  d->addrlen = addrlen;
  if (addrlen > 0)
    memcpy(&d->addr, addr, addrlen);
  if (len > 0)
    memcpy(d->data, data, len);
  *uu->stash_tail = d;
  uu->stash_tail = &d->next;
}

static void lure__uudp_stash_deliver(lure_loop_t *loop,
                                     struct lure__pending *pe);

static void lure__uudp_stash_schedule(struct lure__uudp *uu) {
  if (uu->stash == NULL || !lure__uudp_receiving(uu->h) ||
      !lure__queue_empty(&uu->stash_pending.queue))
    return;
  uu->stash_pending.cb = lure__uudp_stash_deliver;
  lure__pending_add(uu->h->loop, &uu->stash_pending);
}

static void lure__uudp_stash_deliver(lure_loop_t *loop,
                                     struct lure__pending *pe) {
  struct lure__uudp *uu =
      lure__container_of(pe, struct lure__uudp, stash_pending);
  struct lure__udgram *d;

  (void) loop;
  while ((d = uu->stash) != NULL && lure__uudp_receiving(uu->h)) {
    if (lure__udp_deliver(uu->h, d->nread, d->data,
                           d->addrlen ? (struct sockaddr *) &d->addr : NULL,
                           d->flags) != 0) {
      lure__uudp_stash_schedule(uu); /* try again next tick */
      return;
    }
    /* recv_cb may have closed the handle; the stash lives until free. */
    if (uu->stash != d)
      return;
    uu->stash = d->next;
    if (uu->stash == NULL)
      uu->stash_tail = &uu->stash;
    lure__free(d);
  }
}

static void lure__uudp_feed(lure_udp_t *h, struct lure__uudp *uu,
                            ssize_t nread, const char *data,
                            const struct sockaddr *addr, socklen_t addrlen,
                            unsigned flags) {
  if (lure__handle_is_closing((lure_handle_t *) h))
    return;
  /* Behind datagrams already waiting, or while the reader stopped. */
  if (uu->stash != NULL || !(h->udp_flags & LURE__UDP_RECEIVING)) {
    lure__uudp_stash_add(uu, nread, data, nread > 0 ? (size_t) nread : 0,
                         addr, addrlen, flags);
    lure__uudp_stash_schedule(uu);
    return;
  }
  if (lure__udp_deliver(h, nread, data, addr, flags) != 0) {
    lure__uudp_stash_add(uu, nread, data, (size_t) nread, addr, addrlen,
                         flags);
    lure__uudp_stash_schedule(uu);
  }
}

static void lure__uudp_recv_done(lure_udp_t *h, struct lure__uudp *uu,
                                 int res, unsigned flags) {
  struct lure__uring *st = h->loop->priv->backend_data;
  struct lure__bufring *b = st->udp_bufring;
  struct io_uring_recvmsg_out *out;

  if (!(flags & IORING_CQE_F_MORE)) {
    uu->recv_armed = 0;
    uu->recv_canceling = 0;
    if (res == -EINVAL && uu->recv_multi) {
      /* A kernel without multishot receive: one at a time from now on. */
      lure__feat_drop(st, LURE__FEAT_RECV_MULTISHOT);
      if (lure__uudp_receiving(h))
        (void) lure__uudp_arm_recv(h, uu);
      return;
    }
  }
  if (!uu->recv_multi) {
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;

    /* An empty datagram may come without a buffer. */
    if (res >= 0)
      lure__uudp_feed(h, uu, res,
                      (flags & IORING_CQE_F_BUFFER)
                          ? b->bufs + (size_t) bid * b->size : NULL,
                      (const struct sockaddr *) &uu->oaddr,
                      uu->omsg.msg_namelen,
                      (uu->omsg.msg_flags & MSG_TRUNC) ? LURE_UDP_PARTIAL : 0);
    if (flags & IORING_CQE_F_BUFFER)
      lure__bufring_put(b, bid);
  } else if (flags & IORING_CQE_F_BUFFER) {
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
    char *mem = b->bufs + (size_t) bid * b->size;

    if (res >= 0 &&
        (out = io_uring_recvmsg_validate(mem, res, &uu->rmsg)) != NULL) {
      socklen_t alen = out->namelen;
      unsigned uflags = (out->flags & MSG_TRUNC) ? LURE_UDP_PARTIAL : 0;

      if (alen > uu->rmsg.msg_namelen)
        alen = uu->rmsg.msg_namelen;
      lure__uudp_feed(h, uu,
                      (ssize_t) io_uring_recvmsg_payload_length(
                          out, res, &uu->rmsg),
                      io_uring_recvmsg_payload(out, &uu->rmsg),
                      (const struct sockaddr *) io_uring_recvmsg_name(out),
                      alen, uflags);
    }
    lure__bufring_put(b, bid);
  }
  if (lure__handle_is_closing((lure_handle_t *) h))
    return;
  /* An error (ECONNREFUSED on a connected socket after an ICMP) ends the
   * multishot: report it in order, then go on receiving. */
  if (res < 0 && res != -ENOBUFS && res != -ECANCELED && res != -EINTR)
    lure__uudp_feed(h, uu, res, NULL, NULL, 0, 0);
  if (!uu->recv_armed && lure__uudp_receiving(h))
    (void) lure__uudp_arm_recv(h, uu);
}

int lure__uring_udp_recv(lure_udp_t *h) {
  struct lure__uudp *uu = lure__uudp(h);

  if (uu == NULL)
    return LURE_ENOMEM;
  lure__uudp_stash_schedule(uu);
  if (uu->recv_armed)
    return 0; /* still armed, or its cancellation is under way: re-armed
                 from its final CQE if we are receiving by then */
  return lure__uudp_arm_recv(h, uu);
}

void lure__uring_udp_recv_stop(lure_udp_t *h) {
  struct lure__uudp *uu = h->ring;

  if (uu == NULL)
    return;
  lure__queue_remove(&uu->stash_pending.queue);
  if (uu->recv_armed && !uu->recv_canceling) {
    uu->recv_canceling = 1;
    (void) lure__uring_cancel(h->loop, (__u64) (uintptr_t) uu | LURE__UD_UDP);
  }
}

/* ---- sending ---- */

void lure__uring_udp_send(lure_udp_t *h) {
  struct lure__uring *st = h->loop->priv->backend_data;
  struct lure__uudp *uu = lure__uudp(h);

  if (uu == NULL) {
    while (!lure__queue_empty(&h->write_queue))
      lure__udp_send_done(h,
                          lure__container_of(lure__queue_head(&h->write_queue),
                                             lure_udp_send_t, queue),
                          LURE_ENOMEM);
    return;
  }
  if (uu->sends > 0)
    return; /* the chain in the ring goes first; its end sends the rest */
  /* While a batch of completions is dispatched, replies wait for the chain
   * built before the next wait: one io_uring_enter for them all. */
  if (st->batch <= 2)
    (void) lure__udp_send_queued(h);
  if (!lure__queue_empty(&h->write_queue) &&
      lure__queue_empty(&uu->dirty_link))
    lure__queue_insert_tail(&st->udp_dirty, &uu->dirty_link);
}

/* Just before a wait: queued sends go to the ring as one ordered chain per
 * handle. */
static void lure__uudp_build_chains(lure_loop_t *loop, struct lure__uring *st) {
  struct io_uring_sqe *sqe;
  struct io_uring_sqe *prev;
  struct lure__queue *q;
  struct lure__uudp *uu;
  lure_udp_send_t *req;
  lure_udp_t *h;
  unsigned room;

  while (!lure__queue_empty(&st->udp_dirty)) {
    uu = lure__container_of(lure__queue_head(&st->udp_dirty),
                            struct lure__uudp, dirty_link);
    lure__queue_remove(&uu->dirty_link);
    h = uu->h;
    if (uu->sends > 0 || lure__handle_is_closing((lure_handle_t *) h))
      continue;
    prev = NULL;
    room = 0;
    lure__queue_foreach(q, &h->write_queue) {
      req = lure__container_of(q, lure_udp_send_t, queue);
      if (prev == NULL) {
        /* The whole chain goes in one submission: a chain split by an
         * early flush would be two chains, free to overtake each other. */
        sqe = lure__uring_sqe(loop, st);
        room = io_uring_sq_space_left(&st->ring);
      } else {
        sqe = room > 0 && uu->sends < LURE__UDP_CHAIN
                  ? io_uring_get_sqe(&st->ring) : NULL;
        room--;
      }
      if (sqe == NULL)
        break;
      memset(&req->msg, 0, sizeof(req->msg));
      req->msg.msg_name = req->addrlen ? &req->addr : NULL;
      req->msg.msg_namelen = req->addrlen;
      req->msg.msg_iov = (struct iovec *) req->bufs;
      req->msg.msg_iovlen = req->nbufs;
      io_uring_prep_sendmsg(sqe, h->io_watcher.fd, &req->msg, MSG_NOSIGNAL);
      io_uring_sqe_set_data64(sqe, (__u64) (uintptr_t) req | LURE__UD_UDPSEND);
      if (prev != NULL)
        prev->flags |= IOSQE_IO_HARDLINK;
      prev = sqe;
      req->req_flags |= LURE__REQ_UDP_RING;
      uu->sends++;
      h->ring_ops++;
    }
  }
}

static void lure__uudp_op_done(lure_udp_t *h) {
  h->ring_ops--;
  if (h->ring_ops == 0 && (h->flags & LURE__HANDLE_CLOSE_WAIT))
    lure__handle_close_ready((lure_handle_t *) h);
}

/* Closing: what libuv would have sent inside lure_udp_send() (the ring
 * path holds replies made during a batch for the next wait) goes out now,
 * in order, while the socket takes it; the rest is cancelled. */
static void lure__uudp_close_queue(lure_udp_t *h) {
  (void) lure__udp_send_queued(h);
  lure__udp_cancel_queued(h);
}

static void lure__uudp_send_complete(lure_udp_send_t *req, int res) {
  lure_udp_t *h = req->handle;
  struct lure__uudp *uu = h->ring;

  req->req_flags &= (unsigned char) ~LURE__REQ_UDP_RING;
  uu->sends--;
  lure__udp_send_done(h, req, res == -EINTR ? LURE_ECANCELED : res);
  if (lure__handle_is_closing((lure_handle_t *) h)) {
    /* Callbacks run in the closing phase, in order: the chain's, then the
     * queue's (see lure__uring_udp_close). */
    if (uu->sends == 0)
      lure__uudp_close_queue(h);
  } else {
    if (uu->sends == 0)
      lure__uring_udp_send(h); /* the rest of the queue */
    lure__udp_run_send_cbs(h);  /* they may close the handle */
  }
  lure__uudp_op_done(h);
}

static void lure__uudp_recv_cqe(struct lure__uudp *uu, int res,
                                unsigned flags) {
  lure_udp_t *h = uu->h;

  lure__uudp_recv_done(h, uu, res, flags);
  if (!(flags & IORING_CQE_F_MORE))
    lure__uudp_op_done(h);
}

/* ---- close, fork, free ---- */

void lure__uring_udp_close(lure_udp_t *h) {
  struct lure__uudp *uu = h->ring;

  if (uu == NULL) {
    lure__udp_cancel_queued(h);
    return;
  }
  lure__queue_remove(&uu->stash_pending.queue);
  lure__queue_remove(&uu->dirty_link);
  if (uu->recv_armed && !uu->recv_canceling) {
    uu->recv_canceling = 1;
    (void) lure__uring_cancel(h->loop, (__u64) (uintptr_t) uu | LURE__UD_UDP);
  }
  /* Sends the ring holds are not cancelled: the kernel has them, and a
   * datagram send only waits for room that frees by itself.  The close
   * completes after their CQEs; the queue behind them is settled then. */
  if (uu->sends == 0)
    lure__uudp_close_queue(h);
}

void lure__uring_udp_forget(lure_udp_t *h) {
  struct lure__uudp *uu = h->ring;
  struct lure__queue *q;
  lure_udp_send_t *req;

  h->ring_ops = 0;
  if (uu == NULL)
    return;
  uu->recv_armed = 0;
  uu->recv_canceling = 0;
  uu->sends = 0;
  lure__queue_init(&uu->stash_pending.queue);
  lure__queue_init(&uu->dirty_link);
  lure__queue_foreach(q, &h->write_queue) {
    req = lure__container_of(q, lure_udp_send_t, queue);
    req->req_flags &= (unsigned char) ~LURE__REQ_UDP_RING;
  }
}

void lure__uring_udp_free(lure_udp_t *h) {
  struct lure__uudp *uu = h->ring;
  struct lure__udgram *d;

  if (uu == NULL)
    return;
  lure__queue_remove(&uu->stash_pending.queue);
  lure__queue_remove(&uu->dirty_link);
  while ((d = uu->stash) != NULL) {
    uu->stash = d->next;
    lure__free(d);
  }
  lure__free(uu);
  h->ring = NULL;
}

/* ---- completions ---- */

static void lure__sock_complete(lure_loop_t *loop, struct lure__uring *st,
                                struct lure__sop *op, int res,
                                unsigned flags) {
  struct lure__ustream *us = op->us;
  lure_stream_t *s = us->s;
  int final = !(flags & IORING_CQE_F_MORE);

  switch (op->kind) {
    case LURE__SOP_ACCEPT:
      if (final)
        op->armed = 0;
      if (final && res == -EINVAL && op->multi) {
        /* A kernel without multishot accept: one at a time from now on. */
        lure__feat_drop(st, LURE__FEAT_ACCEPT_MULTISHOT);
        res = -EAGAIN;
      }
      if (!lure__handle_is_closing((lure_handle_t *) s)) {
        if (res >= 0)
          lure__stream_connection(s, res);
        else if (res != -ECANCELED && res != -EINTR && res != -EAGAIN)
          lure__stream_connection(s, res);
        /* Out of descriptors, the ring's accept fails again at once,
         * connection or not: stream.c waits for readiness first. */
        if (!op->armed && !lure__handle_is_closing((lure_handle_t *) s) &&
            (s->stream_flags & LURE__STREAM_LISTENING) &&
            (s->stream_flags & LURE__STREAM_RING) && res != -EMFILE &&
            res != -ENFILE)
          (void) lure__sop_arm_accept(s, us);
      } else if (res >= 0) {
        close(res);
      }
      break;
    case LURE__SOP_RECV:
      lure__sop_recv_done(s, us, res, flags);
      break;
    case LURE__SOP_CONNECT:
      if (us->connect_stale > 0) {
        us->connect_stale--; /* lure_tcp_connect() returned it */
        break;
      }
      op->armed = 0;
      /* A closing stream's connect callback runs in the closing phase. */
      if (!lure__handle_is_closing((lure_handle_t *) s) &&
          s->connect_req != NULL)
        lure__stream_connect_done(s, res);
      break;
    case LURE__SOP_SEND:
      if (us->send_zc) {
        /* SEND_ZC posts the result (with F_MORE when a notification
         * follows), then IORING_CQE_F_NOTIF once the kernel let go of the
         * pages: only then may the caller reuse the buffer. */
        if (!(flags & IORING_CQE_F_NOTIF)) {
          us->zc_res = res;
          if (flags & IORING_CQE_F_MORE)
            break;
        }
        us->send_zc = 0;
        if (us->zc_res == -EOPNOTSUPP &&
            !lure__handle_is_closing((lure_handle_t *) s) &&
            !lure__queue_empty(&s->write_queue)) {
          /* A socket without zero copy after all: send it plainly. */
          lure_write_t *head = lure__container_of(
              lure__queue_head(&s->write_queue), lure_write_t, queue);

          head->req_flags &= ~LURE__REQ_ZC;
          op->armed = 0;
          lure__uring_stream_write(s);
          break;
        }
        lure__sop_send_done(s, us, us->zc_res);
        break;
      }
      lure__sop_send_done(s, us, res);
      break;
  }
  if (final) {
    s->ring_ops--;
    if (s->ring_ops == 0 && (s->flags & LURE__HANDLE_CLOSE_WAIT))
      lure__handle_close_ready((lure_handle_t *) s);
  }
}
