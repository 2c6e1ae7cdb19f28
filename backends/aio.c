/*
 * aio.c - Linux native AIO for O_DIRECT file I/O when the loop has no ring.
 *
 * Field notes:
 * - Only O_DIRECT.  On a buffered (page-cache) fd, io_submit does the whole
 *   read or write, copy and all, before it returns: the "asynchronous" call
 *   blocks the loop as long as a plain pread would (and RWF_NOWAIT, 4.14,
 *   only turns that into EAGAIN).  O_DIRECT reads and writes go to the block
 *   layer as bios and complete from the interrupt, which is what lets an
 *   event loop overlap them.  Hence the route: no ring, O_DIRECT and a
 *   regular file or block device (fcntl(F_GETFL) and fstat per request,
 *   since fds are reused; O_DIRECT on a pipe is packet mode, and io_submit
 *   of a read on an empty one blocks) -> AIO; everything else -> the
 *   thread pool.  Even O_DIRECT io_submit can sleep: block allocation for
 *   writes into holes or past EOF (ext4 and xfs serialise extending
 *   writes), a full block-layer tag set, pinning user pages.  That is the
 *   price of AIO; io_uring punts such work to its kernel workers instead.
 * - Raw syscalls, no libaio: io_setup, io_submit, io_getevents, io_cancel,
 *   io_destroy.  The ABI is <linux/aio_abi.h>; the iocb (64 bytes) lives in
 *   the request's kbuf while the request is ours, and the kernel writes its
 *   aio_key there at submission.
 * - Kernel versions: PREADV/PWRITEV 2.6.19; IOCB_FLAG_RESFD (completion
 *   posts to an eventfd) 2.6.22; IOCB_CMD_FSYNC/FDSYNC have been in the ABI
 *   since the start but io_submit refuses them with EINVAL before 4.18.  An
 *   fsync refused that way is declined (the thread pool runs fsync(2)) and
 *   the context stops offering fsyncs; one refused after fsyncs have worked
 *   is a file without ->fsync, also declined so that fsync(2) reports it.
 *   Only once one has worked may an fsync wait in the user-space FIFO (a
 *   queued request can no longer be declined).
 *   IOCB_CMD_POLL (4.18) is not used: epoll is the wait point.
 * - Completions: every iocb carries IOCB_FLAG_RESFD with one non-blocking
 *   eventfd per context, watched by epoll like any fd.  Its callback
 *   read(2)s the eventfd, then reaps with io_getevents(min_nr 0, zero
 *   timeout) until a batch comes back short.  A synchronous failure inside
 *   io_submit's ->read_iter/->write_iter (EINVAL for a misaligned O_DIRECT
 *   buffer, offset or length on ext4/xfs) arrives as an event with a
 *   negative res, not as io_submit's return; errors io_submit itself
 *   returns (EBADF, EFAULT, EINVAL for a bad iocb) are reported through the
 *   pending phase, never from inside the call that made the request.
 * - Limits: /proc/sys/fs/aio-max-nr (65536 by default) caps the events of
 *   every context on the system; the kernel charges a context
 *   max(nr_events, 4 * possible CPUs) * 2, so io_setup(256) costs 512 and
 *   about 128 loops fit.  io_setup failures (ENOSYS without CONFIG_AIO,
 *   EPERM from seccomp, EAGAIN past aio-max-nr, ENOMEM) decline requests to
 *   the thread pool; EAGAIN and ENOMEM (and EMFILE/ENFILE for the eventfd)
 *   are retried a second later.  At most 256 iocbs are in flight per
 *   context (well within the ring, so io_submit should never say EAGAIN
 *   for space; if it does, the request waits for the next completion, or
 *   is declined when nothing is in flight); more wait in a user-space FIFO
 *   and go in, in order, as completions free slots.
 * - One iocb per io_submit for new requests: io_submit plugs the block
 *   queue for batches of three or more, holding the first bio back until
 *   the last is built; gathering a tick's requests into one call measured
 *   10-20% fewer IOPS at queue depth 32 here.  Only the FIFO is drained in
 *   batches (the device is busy with the other 256 then).
 * - Alignment: O_DIRECT wants the file offset and the length aligned to
 *   the device's logical block size (512 or 4096), and the buffer address
 *   to its DMA alignment (statx STATX_DIOALIGN reports both since 6.1;
 *   6.18 on virtio-blk took an odd buffer address although it reports 512).
 *   Misaligned requests fail with EINVAL as the event's res, nothing is
 *   lost, and that is what the caller sees.  Short transfers at EOF are
 *   returned as is.
 * - Cancellation: io_cancel only finds iocbs whose driver registered a
 *   cancel callback (USB functionfs, IOCB_CMD_POLL); file reads and writes
 *   never do, so it fails with EINVAL and lure_cancel says EBUSY: the real
 *   result arrives normally.  A successful io_cancel returns EINPROGRESS
 *   and still posts the event to the ring (since Kent Overstreet's 2013
 *   rework, 3.11: "aio: io_cancel() no longer returns the io_event");
 *   before, it returned 0 and wrote the event to its third argument.
 *   Both are handled.  Requests still in the user-space FIFO are always
 *   cancellable.
 * - Stale events: aio_data is (generation << 32 | slot), not the request's
 *   address, so an event for a slot that was released (a pre-3.11 style
 *   cancel) can never reach a request that has been reused.
 * - No ordering: an fsync covers the writes that completed before it was
 *   issued, not those still in flight (as with the thread pool).
 * - fork(): contexts belong to the mm and are not inherited (the child's
 *   io_getevents on the parent's id says EINVAL), and the eventfd is shared
 *   with the parent.  The child forgets both without io_destroy, completes
 *   its copies of in-flight and queued requests with ECANCELED (the parent
 *   owns the I/O), and makes a new context on its next request.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/aio_abi.h>
#include "internal.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

#define LURE__AIO_DEPTH 256     /* io_setup size and in-flight cap */
#define LURE__AIO_BATCH 64      /* events reaped per io_getevents */
/* Wait before retrying a transient io_setup failure. */
#define LURE__AIO_RETRY_NS 1000000000ull

/* Per-request state, kept in req->kbuf while the request is ours. */
enum {
  LURE__AIO_IDLE = 0,
  LURE__AIO_QUEUED,     /* in the user-space FIFO */
  LURE__AIO_INFLIGHT,   /* submitted, its event not reaped */
  LURE__AIO_REAPED,     /* event reaped, callback about to run */
  LURE__AIO_DEFERRED    /* result decided, waiting for the pending phase */
};

/* What we know of IOCB_CMD_FSYNC/FDSYNC on this kernel. */
enum { LURE__AIO_FSYNC_UNKNOWN = 0, LURE__AIO_FSYNC_OK, LURE__AIO_FSYNC_NO };

struct lure__aio_req {
  struct iocb iocb;
  int64_t result;       /* REAPED / DEFERRED: the result to report */
  uint32_t slot;        /* INFLIGHT */
  uint8_t state;
  uint8_t cancelled;    /* io_cancel said EINPROGRESS */
};

struct lure__aio_slot {
  lure_fs_t *req;       /* NULL when free */
  uint32_t gen;
};

struct lure__aio {
  aio_context_t ctx;    /* 0 when none */
  int efd;              /* -1 when none */
  struct lure__io io;
  int setup_err;        /* last io_setup failure, 0 if none */
  uint64_t retry_at;    /* lure__hrtime_ns() after which to retry setup */
  int fsync_state;
  unsigned inflight;
  unsigned nfree;
  uint16_t freelist[LURE__AIO_DEPTH];
  struct lure__aio_slot slots[LURE__AIO_DEPTH];
  struct lure__queue fifo; /* accepted, waiting for a slot (req->queue) */
};

_Static_assert(sizeof(struct lure__aio_req) <= sizeof(((lure_fs_t *) 0)->kbuf),
               "AIO request state must fit in lure_fs_t.kbuf");
_Static_assert(sizeof(struct iovec) == sizeof(lure_buf_t) &&
                   offsetof(struct iovec, iov_base) ==
                       offsetof(lure_buf_t, base) &&
                   offsetof(struct iovec, iov_len) == offsetof(lure_buf_t, len),
               "lure_buf_t must be layout-compatible with struct iovec");

static inline struct lure__aio_req *lure__aio_req(lure_fs_t *req) {
  return (struct lure__aio_req *) (void *) req->kbuf.bytes;
}

/* ---- raw system calls --------------------------------------------------- */

static int lure__io_setup(unsigned nr, aio_context_t *ctx) {
  return (int) syscall(SYS_io_setup, nr, ctx);
}

static int lure__io_destroy(aio_context_t ctx) {
  return (int) syscall(SYS_io_destroy, ctx);
}

static int lure__io_submit(aio_context_t ctx, long n, struct iocb **iocbs) {
  return (int) syscall(SYS_io_submit, ctx, n, iocbs);
}

static int lure__io_getevents(aio_context_t ctx, long min_nr, long nr,
                              struct io_event *events,
                              struct timespec *timeout) {
  return (int) syscall(SYS_io_getevents, ctx, min_nr, nr, events, timeout);
}

static int lure__io_cancel(aio_context_t ctx, struct iocb *iocb,
                           struct io_event *result) {
  return (int) syscall(SYS_io_cancel, ctx, iocb, result);
}

/* ---- slots --------------------------------------------------------------- */

static void lure__aio_slots_reset(struct lure__aio *a) {
  unsigned i;

  for (i = 0; i < LURE__AIO_DEPTH; i++) {
    a->slots[i].req = NULL;
    a->slots[i].gen++;
    a->freelist[i] = (uint16_t) (LURE__AIO_DEPTH - 1 - i);
  }
  a->nfree = LURE__AIO_DEPTH;
  a->inflight = 0;
}

static uint32_t lure__aio_slot_get(struct lure__aio *a, lure_fs_t *req) {
  uint32_t i = a->freelist[--a->nfree];

  a->slots[i].req = req;
  a->inflight++;
  return i;
}

static void lure__aio_slot_put(struct lure__aio *a, uint32_t i) {
  a->slots[i].req = NULL;
  a->slots[i].gen++;
  a->freelist[a->nfree++] = (uint16_t) i;
  a->inflight--;
}

/* ---- deferred completions ------------------------------------------------ */

static void lure__aio_deferred_cb(lure_loop_t *loop, struct lure__pending *p) {
  lure_fs_t *req = lure__container_of(p, lure_fs_t, pending);
  ssize_t result = (ssize_t) lure__aio_req(req)->result;

  lure__aio_req(req)->state = LURE__AIO_IDLE;
  lure__fs_done(loop, req, result, LURE__EXEC_AIO);
}

/* Complete req with result in the next pending phase. */
static void lure__aio_defer(lure_loop_t *loop, lure_fs_t *req, ssize_t result) {
  struct lure__aio_req *ar = lure__aio_req(req);

  ar->state = LURE__AIO_DEFERRED;
  ar->result = result;
  req->pending.cb = lure__aio_deferred_cb;
  lure__pending_add(loop, &req->pending);
}

/* ---- submission ---------------------------------------------------------- */

static int lure__aio_is_sync(const lure_fs_t *req) {
  return req->fs_type == LURE_FS_FSYNC || req->fs_type == LURE_FS_FDATASYNC;
}

static void lure__aio_prep(struct lure__aio *a, lure_fs_t *req) {
  struct lure__aio_req *ar = lure__aio_req(req);
  struct iocb *cb = &ar->iocb;
  int wr = req->fs_type == LURE_FS_WRITE;

  memset(ar, 0, sizeof(*ar));
  cb->aio_fildes = (uint32_t) req->file;
  cb->aio_flags = IOCB_FLAG_RESFD;
  cb->aio_resfd = (uint32_t) a->efd;
  if (req->fs_type == LURE_FS_FSYNC) {
    cb->aio_lio_opcode = IOCB_CMD_FSYNC;
  } else if (req->fs_type == LURE_FS_FDATASYNC) {
    cb->aio_lio_opcode = IOCB_CMD_FDSYNC;
  } else if (req->nbufs == 1) {
    cb->aio_lio_opcode = wr ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
    cb->aio_buf = (uint64_t) (uintptr_t) req->bufs[0].base;
    cb->aio_nbytes = (uint64_t) req->bufs[0].len;
    cb->aio_offset = req->off;
  } else {
    cb->aio_lio_opcode = wr ? IOCB_CMD_PWRITEV : IOCB_CMD_PREADV;
    cb->aio_buf = (uint64_t) (uintptr_t) req->bufs;
    cb->aio_nbytes = req->nbufs;
    cb->aio_offset = req->off;
  }
}

/* Take a slot for req and stamp the iocb with it. */
static void lure__aio_bind(struct lure__aio *a, lure_fs_t *req) {
  struct lure__aio_req *ar = lure__aio_req(req);
  uint32_t i = lure__aio_slot_get(a, req);

  ar->slot = i;
  ar->state = LURE__AIO_INFLIGHT;
  ar->cancelled = 0;
  ar->iocb.aio_data = ((uint64_t) a->slots[i].gen << 32) | i;
}

static void lure__aio_unbind(struct lure__aio *a, lure_fs_t *req) {
  lure__aio_slot_put(a, lure__aio_req(req)->slot);
  lure__aio_req(req)->state = LURE__AIO_IDLE;
}

/* Submit queued requests while slots are free.  Requests io_submit refuses
 * are completed (deferred) with its error; never declined: they were
 * accepted already. */
static void lure__aio_drain(lure_loop_t *loop, struct lure__aio *a) {
  struct iocb *iocbs[LURE__AIO_BATCH];
  lure_fs_t *reqs[LURE__AIO_BATCH];
  struct lure__queue *q;
  int n;
  int i;
  int r;

  while (a->ctx != 0 && !lure__queue_empty(&a->fifo) && a->nfree > 0) {
    n = 0;
    while (n < LURE__AIO_BATCH && a->nfree > 0 &&
           !lure__queue_empty(&a->fifo)) {
      q = lure__queue_head(&a->fifo);
      lure__queue_remove(q);
      reqs[n] = lure__container_of(q, lure_fs_t, queue);
      lure__aio_bind(a, reqs[n]);
      iocbs[n] = &lure__aio_req(reqs[n])->iocb;
      n++;
    }
    for (i = 0; i < n;) {
      r = lure__io_submit(a->ctx, n - i, iocbs + i);
      if (r > 0) {
        i += r;
        continue;
      }
      if (r == 0)
        errno = EAGAIN;  /* not expected: treat as "no resources" */
      else if (errno == EINTR)
        continue;
      if (errno == EAGAIN && a->inflight > (unsigned) (n - i)) {
        /* Out of kernel resources with others in flight: put the rest
         * back at the head, in order, and retry on the next completion. */
        int j;

        for (j = n - 1; j >= i; j--) {
          lure__aio_unbind(a, reqs[j]);
          lure__aio_req(reqs[j])->state = LURE__AIO_QUEUED;
          lure__queue_insert_head(&a->fifo, &reqs[j]->queue);
        }
        return;
      }
      /* The error belongs to iocbs[i]. */
      lure__aio_unbind(a, reqs[i]);
      lure__aio_defer(loop, reqs[i], -errno);
      i++;
    }
  }
}

/* Make the context and the eventfd.  0, or a negative errno. */
static int lure__aio_open(lure_loop_t *loop, struct lure__aio *a) {
  aio_context_t ctx = 0;
  int rc;

  if (a->setup_err != 0) {
    if (a->setup_err != -EAGAIN && a->setup_err != -ENOMEM &&
        a->setup_err != -EMFILE && a->setup_err != -ENFILE)
      return a->setup_err;
    if (lure__hrtime_ns() < a->retry_at)
      return a->setup_err;
  }
  if (lure__io_setup(LURE__AIO_DEPTH, &ctx) != 0) {
    rc = -errno;
    goto fail;
  }
  if (a->efd < 0) {
    a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (a->efd < 0) {
      rc = -errno;
      (void) lure__io_destroy(ctx);
      goto fail;
    }
    lure__io_init(&a->io, NULL, a->efd);
  }
  a->ctx = ctx;
  a->setup_err = 0;
  return 0;

fail:
  a->setup_err = rc;
  a->retry_at = lure__hrtime_ns() + LURE__AIO_RETRY_NS;
  return rc;
}

static void lure__aio_io_cb(lure_loop_t *loop, struct lure__io *w,
                            unsigned revents);

static struct lure__aio *lure__aio_get(lure_loop_t *loop) {
  struct lure__aio *a = loop->priv->aio_data;

  if (a != NULL && a->ctx != 0)
    return a;
  if (a == NULL) {
    a = lure__calloc(1, sizeof(*a));
    if (a == NULL)
      return NULL;
    a->efd = -1;
    lure__queue_init(&a->fifo);
    lure__io_init(&a->io, NULL, -1);
    lure__aio_slots_reset(a);
    loop->priv->aio_data = a;
  }
  if (lure__aio_open(loop, a) != 0)
    return NULL;
  a->io.cb = lure__aio_io_cb;
  a->io.flags = LURE__IO_DRAINS;
  if (a->io.events == 0 && lure__io_start(loop, &a->io, POLLIN) != 0) {
    /* Nobody would hear the completions: give the context back. */
    (void) lure__io_destroy(a->ctx);
    a->ctx = 0;
    a->setup_err = -EAGAIN;
    a->retry_at = lure__hrtime_ns() + LURE__AIO_RETRY_NS;
    return NULL;
  }
  return a;
}

/* Take req (0: req->executor becomes AIO and lure__fs_done follows, at the
 * earliest in the next pending phase) or decline it (LURE_ENOTSUP: fs.c
 * hands it to the thread pool). */
static int lure__aio_submit(lure_loop_t *loop, lure_fs_t *req) {
  struct lure__aio *a;
  struct iocb *cb;
  struct stat st;
  int fl;
  int r;

  /* A ring loop's files go to the ring or to the pool (lure(7)). */
  if (loop->priv->backend == &lure__backend_uring)
    return LURE_ENOTSUP;
  switch (req->fs_type) {
    case LURE_FS_READ:
    case LURE_FS_WRITE:
      if (req->off < 0 || req->nbufs < 1 || req->nbufs > IOV_MAX ||
          req->bufs == NULL)
        return LURE_ENOTSUP;
      break;
    case LURE_FS_FSYNC:
    case LURE_FS_FDATASYNC:
      a = loop->priv->aio_data;
      if (a != NULL && a->fsync_state == LURE__AIO_FSYNC_NO)
        return LURE_ENOTSUP;
      break;
    default:
      return LURE_ENOTSUP;
  }
  fl = fcntl(req->file, F_GETFL);
  if (fl < 0 || (fl & O_DIRECT) == 0)
    return LURE_ENOTSUP;  /* a bad fd is the thread pool's to report */
  /* O_DIRECT is also "packet mode" on pipes (3.4), and character devices
   * may take it: AIO would ignore the offset and block in io_submit. */
  if (fstat(req->file, &st) != 0 ||
      !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
    return LURE_ENOTSUP;

  a = lure__aio_get(loop);
  if (a == NULL)
    return LURE_ENOTSUP;

  /* Submitted at once, alone (see the notes on plugging). */
  if (a->nfree == 0 || !lure__queue_empty(&a->fifo)) {
    /* Queue behind the others; an fsync only once we know the kernel
     * takes it, since a queued request can no longer be declined. */
    if (lure__aio_is_sync(req) && a->fsync_state != LURE__AIO_FSYNC_OK)
      return LURE_ENOTSUP;
    lure__aio_prep(a, req);
    lure__aio_req(req)->state = LURE__AIO_QUEUED;
    lure__queue_insert_tail(&a->fifo, &req->queue);
    req->executor = LURE__EXEC_AIO;
    return 0;
  }

  lure__aio_prep(a, req);
  lure__aio_bind(a, req);
  cb = &lure__aio_req(req)->iocb;
  do
    r = lure__io_submit(a->ctx, 1, &cb);
  while (r < 0 && errno == EINTR);
  if (r == 1) {
    if (lure__aio_is_sync(req))
      a->fsync_state = LURE__AIO_FSYNC_OK;
    req->executor = LURE__EXEC_AIO;
    return 0;
  }
  if (r == 0)
    errno = EAGAIN;
  r = -errno;
  lure__aio_unbind(a, req);
  if (lure__aio_is_sync(req) && r == -EINVAL) {
    /* Before 4.18 every fsync iocb is refused; afterwards only those on
     * files without ->fsync.  Either way fsync(2) on the pool answers. */
    if (a->fsync_state != LURE__AIO_FSYNC_OK)
      a->fsync_state = LURE__AIO_FSYNC_NO;
    return LURE_ENOTSUP;
  }
  if (r == -EAGAIN) {
    if (a->inflight == 0)
      return LURE_ENOTSUP;  /* no completion would retry it */
    lure__aio_req(req)->state = LURE__AIO_QUEUED;
    lure__queue_insert_tail(&a->fifo, &req->queue);
    req->executor = LURE__EXEC_AIO;
    return 0;
  }
  req->executor = LURE__EXEC_AIO;
  lure__aio_defer(loop, req, r);
  return 0;
}

/* ---- completion ---------------------------------------------------------- */

static void lure__aio_io_cb(lure_loop_t *loop, struct lure__io *w,
                            unsigned revents) {
  struct lure__aio *a = lure__container_of(w, struct lure__aio, io);
  struct io_event ev[LURE__AIO_BATCH];
  lure_fs_t *done[LURE__AIO_BATCH];
  struct timespec zero = {0, 0};
  struct lure__aio_req *ar;
  struct lure__aio_slot *s;
  lure_fs_t *req;
  uint64_t val;
  uint32_t i;
  int64_t res;
  int ndone;
  int n;
  int k;

  (void) revents;
  while (read(a->efd, &val, sizeof(val)) < 0 && errno == EINTR)
    ;
  do {
    if (a->ctx == 0)
      return;
    n = lure__io_getevents(a->ctx, 0, LURE__AIO_BATCH, ev, &zero);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return;
    }
    /* First settle every reaped event, so that the callbacks below find
     * consistent state (a callback may cancel or submit). */
    ndone = 0;
    for (k = 0; k < n; k++) {
      i = (uint32_t) (ev[k].data & 0xffffffffu);
      if (i >= LURE__AIO_DEPTH)
        continue;
      s = &a->slots[i];
      if (s->req == NULL || s->gen != (uint32_t) (ev[k].data >> 32))
        continue;  /* a slot released by a cancel: stale */
      req = s->req;
      ar = lure__aio_req(req);
      res = ev[k].res;
      if (ar->cancelled && res < 0)
        res = LURE_ECANCELED;
      lure__aio_slot_put(a, i);
      ar->state = LURE__AIO_REAPED;
      ar->result = res;
      done[ndone++] = req;
    }
    /* Refill the kernel before running callbacks. */
    lure__aio_drain(loop, a);
    for (k = 0; k < ndone; k++) {
      req = done[k];
      ar = lure__aio_req(req);
      res = ar->result;
      ar->state = LURE__AIO_IDLE;
      lure__fs_done(loop, req, (ssize_t) res, LURE__EXEC_AIO);
    }
  } while (n == LURE__AIO_BATCH);
}

/* ---- cancellation -------------------------------------------------------- */

static int lure__aio_cancel(lure_loop_t *loop, lure_fs_t *req) {
  struct lure__aio *a = loop->priv->aio_data;
  struct lure__aio_req *ar = lure__aio_req(req);
  struct io_event ev;
  int r;

  if (a == NULL)
    return LURE_EBUSY;
  switch (ar->state) {
    case LURE__AIO_QUEUED:
      lure__queue_remove(&req->queue);
      lure__aio_defer(loop, req, LURE_ECANCELED);
      return 0;

    case LURE__AIO_INFLIGHT:
      if (ar->slot >= LURE__AIO_DEPTH || a->slots[ar->slot].req != req)
        return LURE_EBUSY;
      if (ar->cancelled)
        return 0;  /* already asked; the event is on its way */
      r = lure__io_cancel(a->ctx, &ar->iocb, &ev);
      if (r == 0) {
        /* Pre-3.11: the event came back here and will not be posted.
         * Releasing the slot (new generation) makes any event that did
         * come anyway stale. */
        lure__aio_unbind(a, req);
        lure__aio_defer(loop, req, LURE_ECANCELED);
        lure__aio_drain(loop, a);
        return 0;
      }
      if (errno == EINPROGRESS) {
        ar->cancelled = 1;
        return 0;
      }
      return LURE_EBUSY;  /* EINVAL/EAGAIN: not cancellable, runs on */

    default:
      return LURE_EBUSY;
  }
}

/* ---- loop close and fork ------------------------------------------------- */

static void lure__aio_loop_close(lure_loop_t *loop) {
  struct lure__aio *a = loop->priv->aio_data;

  if (a == NULL)
    return;
  if (a->io.events != 0 || !lure__queue_empty(&a->io.queue))
    lure__io_close(loop, &a->io);
  if (a->efd >= 0)
    close(a->efd);
  /* io_destroy waits for anything still in flight; the loop has no
   * requests left by now, so it returns at once. */
  if (a->ctx != 0)
    (void) lure__io_destroy(a->ctx);
  lure__free(a);
  loop->priv->aio_data = NULL;
}

static void lure__aio_loop_fork(lure_loop_t *loop) {
  struct lure__aio *a = loop->priv->aio_data;
  struct lure__queue *q;
  lure_fs_t *req;
  uint32_t i;

  if (a == NULL)
    return;
  /* The backend was destroyed (or replaced) by lure_loop_fork: drop the
   * watcher without asking it anything. */
  if (!lure__queue_empty(&a->io.queue))
    lure__queue_remove(&a->io.queue);
  a->io.events = 0;
  a->io.bdata = NULL;
  if (a->efd >= 0)
    close(a->efd);
  a->efd = -1;
  a->io.fd = -1;
  /* The parent's context is not ours; do not io_destroy it. */
  a->ctx = 0;
  a->setup_err = 0;

  /* The parent completes these; the child's copies would wait forever. */
  for (i = 0; i < LURE__AIO_DEPTH; i++) {
    req = a->slots[i].req;
    if (req != NULL) {
      lure__aio_slot_put(a, i);
      lure__aio_defer(loop, req, LURE_ECANCELED);
    }
  }
  while (!lure__queue_empty(&a->fifo)) {
    q = lure__queue_head(&a->fifo);
    lure__queue_remove(q);
    lure__aio_defer(loop, lure__container_of(q, lure_fs_t, queue),
                    LURE_ECANCELED);
  }
  lure__aio_slots_reset(a);
}

const struct lure__fs_ops lure__fs_aio = {
  LURE__EXEC_AIO,
  lure__aio_submit,
  lure__aio_cancel,
  lure__aio_loop_close,
  lure__aio_loop_fork,
};
