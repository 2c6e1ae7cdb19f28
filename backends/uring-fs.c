/*
 * uring-fs.c - fs requests on the ring: the opcode for each request, its
 * SQE, the FIFO of requests waiting for room, completion and cancel; the
 * fs executor table lure__fs_uring.
 *
 * Field notes:
 * - At most half the CQ is in flight for fs requests, so multishot polls
 *   and sockets always find room; the rest wait, in order, in fs_waiting
 *   and go in from the poll phase.
 * - Reads and writes at the file position pass offset -1
 *   (IORING_FEAT_RW_CUR_POS, 5.6); O_DIRECT ones go to the pool (see
 *   lure__uring_fs_opcode).
 * - Stats are STATX into the request's kbuf, converted here on completion.
 * - A request still in fs_waiting is cancelled in user space; one whose
 *   SQE is prepared but not yet published to the kernel becomes a NOP with
 *   the same tag (cancelled for sure); one in the kernel with ASYNC_CANCEL,
 *   its own CQE reporting the outcome.
 * - valgrind does not see what the kernel writes through the ring: under
 *   valgrind only, completed reads and stats are marked defined.
 * - A request that completes -EINTR (not cancelled) goes in again, first
 *   in line, unless it is a read or a close (lure__fs_retries_eintr).
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define LURE__HAVE_VALGRIND_H 1
#endif
#endif
#include "uring-int.h"

/* Hidden in the library, set only by tests: the next this many fs SQEs are
 * NOPs the kernel completes -EINTR (without doing the request). */
unsigned lure__uring_fault_fs_eintr;

/* Opcodes newer than liburing 2.3's header. */
#ifndef LURE__IORING_OP_FTRUNCATE
#define LURE__IORING_OP_FTRUNCATE 55
#endif

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
  lure__uring_fault_inject(&lure__uring_fault_fs_eintr, sqe, -EINTR);
  io_uring_sqe_set_data64(sqe, lure__uring_pack(req, LURE__TAG_FS));
}

/* Move waiting requests into the SQ while there is room in flight. */
void lure__uring_fs_flush_waiting(lure_loop_t *loop,
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

static int lure__uring_fs_submit(lure_loop_t *loop, lure_fs_t *req) {
  struct lure__uring *st;
  struct io_uring_sqe *sqe;
  int op;

  /* Only when the ring is this loop's wait point. */
  if (loop->priv->backend != &lure__backend_uring)
    return LURE_ENOTSUP;
  st = loop->priv->backend_data;
  op = lure__uring_fs_opcode(req);
  if (op < 0 || !lure__uring_has_op(st->ops, op))
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

/* valgrind cannot see what the kernel writes through the ring (it models
 * system calls, not io_uring opcodes): under valgrind only, mark the bytes
 * a ring read or statx filled in as defined, as read(2) and statx(2)
 * would have.  A no-op outside valgrind, and without its header. */
static void lure__uring_fs_wrote(lure_fs_t *req, int res) {
#ifdef LURE__HAVE_VALGRIND_H
  unsigned i;
  size_t left;

  if (!RUNNING_ON_VALGRIND || res < 0)
    return;
  if (req->fs_type == LURE_FS_STAT || req->fs_type == LURE_FS_LSTAT ||
      req->fs_type == LURE_FS_FSTAT) {
    VALGRIND_MAKE_MEM_DEFINED(req->kbuf.bytes, sizeof(req->kbuf.bytes));
  } else if (req->fs_type == LURE_FS_READ && req->bufs != NULL) {
    left = (size_t) res;
    for (i = 0; i < req->nbufs && left > 0; i++) {
      size_t n = req->bufs[i].len < left ? req->bufs[i].len : left;
      VALGRIND_MAKE_MEM_DEFINED(req->bufs[i].base, n);
      left -= n;
    }
  }
#else
  (void) req;
  (void) res;
#endif
}

void lure__uring_fs_complete(lure_loop_t *loop, struct lure__uring *st,
                                    lure_fs_t *req, int res) {
  st->fs_inflight--;
  /* A NOP that replaced the request's SQE (lure__uring_fs_cancel): nothing
   * ran, nothing was written; lure__fs_done reports LURE_ECANCELED. */
  if (req->cancel_state == LURE__FS_CANCEL_SURE) {
    lure__fs_done(loop, req, res, LURE__EXEC_URING);
    return;
  }
  if (res == -EINTR && req->cancel_state == LURE__FS_CANCEL_NONE &&
      lure__fs_retries_eintr(req)) {
    lure__queue_insert_head(&st->fs_waiting, &req->queue);
    lure__uring_fs_flush_waiting(loop, st);
    return;
  }
  lure__uring_fs_wrote(req, res);
  /* The ring's stats come as struct statx, in the request's kbuf; a
   * cancelled stat that finished anyway converts too (lure__fs_done keeps
   * a 0 result). */
  if ((req->fs_type == LURE_FS_STAT || req->fs_type == LURE_FS_LSTAT ||
       req->fs_type == LURE_FS_FSTAT) && res == 0) {
    lure__fs_statx_to_stat(req->kbuf.bytes, &req->statbuf);
    req->ptr = &req->statbuf;
  }
  lure__fs_done(loop, req, res, LURE__EXEC_URING);
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

static int lure__uring_fs_cancel(lure_loop_t *loop, lure_fs_t *req) {
  struct lure__uring *st = loop->priv->backend_data;
  __u64 ud = lure__uring_pack(req, LURE__TAG_FS);
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

/* The adaptive router may weigh the ring against the pool for buffered
 * writes only where the ring is the wait point and neither write nor
 * writev is masked: a mask is the user's choice of executor. */
static int lure__uring_fs_adapt_usable(const lure_loop_t *loop) {
  const struct lure__uring *st;

  if (loop->priv->backend != &lure__backend_uring)
    return 0;
  st = loop->priv->backend_data;
  return lure__uring_has_op(st->ops, IORING_OP_WRITE) &&
         lure__uring_has_op(st->ops, IORING_OP_WRITEV);
}

const struct lure__fs_ops lure__fs_uring = {
  LURE__EXEC_URING,
  lure__uring_fs_submit,
  lure__uring_fs_cancel,
  NULL, /* the ring's fs state goes with the ring */
  NULL,
  lure__uring_fs_adapt_usable,
};
