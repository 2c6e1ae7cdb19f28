/*
 * stream.c - streams (TCP and Unix sockets): listen/accept, reads, writes,
 * shutdown and close, with libuv's semantics.
 *
 * Two socket executors move the bytes; a stream picks its table (s->sock,
 * src/backend.h) when its socket is adopted (lure__stream_open), from the
 * preference table of src/executor.c:
 *   - the ring (backends/uring-stream.c and uring-send.c): multishot
 *     accept, multishot recv into a provided-buffer ring (one receive at
 *     a time on an adopted socket), SEND/SENDMSG, when the loop's wait
 *     point is the ring and its probe has those opcodes;
 *   - readiness (backends/ready.c): an fd watcher on the wait point
 *     (POLL_ADD through the ring, or epoll) plus non-blocking syscalls, as
 *     libuv does everywhere; also the fallback of a ring stream whose
 *     operation the ring cannot take.
 * A stream the ring could serve starts on readiness and moves to the ring
 * once it has proved long-lived (lure__stream_warm_move,
 * LURE_LOOP_STREAM_WARMUP).
 * Both deliver through the same functions here (lure__stream_deliver,
 * lure__stream_write_progress, ...), so callbacks, order and errors are the
 * same whichever path serves a stream.  Bytes that arrive while nobody
 * reads wait in the stream's stash, here too.
 *
 * Write callbacks never run inside lure_write(): finished writes wait on
 * write_done_queue and run from the pending phase, from the I/O callback
 * that finished them, or (LURE_ECANCELED) when the handle closes, just
 * before its close callback.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "internal.h"
#include "stream.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

static int lure__stream_read_arm(lure_stream_t *s);

static const lure_buf_t lure__stream_no_buf = { NULL, 0 };

int lure__is_stream(const lure_handle_t *h) {
  return h != NULL && (h->type == LURE_TCP || h->type == LURE_NAMED_PIPE ||
                       h->type == LURE_TTY);
}

void lure__stream_init(lure_loop_t *loop, lure_stream_t *s,
                       lure_handle_type type) {
  lure__handle_init(loop, (lure_handle_t *) s, type);
  s->write_queue_size = 0;
  s->alloc_cb = NULL;
  s->read_cb = NULL;
  lure__io_init(&s->io_watcher, lure__sock_ready.stream_io, -1);
  s->io_watcher.flags = LURE__IO_PARKABLE;
  lure__queue_init(&s->write_queue);
  lure__queue_init(&s->write_done_queue);
  lure__queue_init(&s->write_pending.queue);
  s->write_pending.cb = NULL;
  s->connect_req = NULL;
  s->shutdown_req = NULL;
  s->connection_cb = NULL;
  s->accepted_fds = NULL;
  s->accepted_count = 0;
  s->accepted_cap = 0;
  s->stream_flags = 0;
  s->exec_ops = 0;
  lure__stream_set_sock(s, &lure__sock_ready);
  s->exec_data = NULL;
  s->delayed_error = 0;
  s->pending_fds = NULL;
  s->pending_count = 0;
  s->pending_cap = 0;
}

/* Adopt fd as the stream's socket.  With LURE__OPEN_OWN_SOCKET in flags the
 * fd is one lure made (socket(2) or accept4(2) with SOCK_NONBLOCK and
 * SOCK_CLOEXEC): nothing to check or set, three system calls per
 * connection saved. */
int lure__stream_open(lure_stream_t *s, int fd, unsigned flags) {
  int type = 0;
  socklen_t len = sizeof(type);
  int rc;

  if (s->io_watcher.fd >= 0 && s->io_watcher.fd != fd)
    return LURE_EBUSY;
  if (!(flags & LURE__OPEN_OWN_SOCKET)) {
    rc = lure__nonblock(fd, 1);
    if (rc != 0)
      return rc;
    (void) lure__cloexec(fd, 1);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
      s->stream_flags |= LURE__STREAM_NOT_SOCKET;
  }
  flags &= ~(unsigned) LURE__OPEN_OWN_SOCKET;
  /* Options set before there was a socket (libuv applies them here). */
  if (s->type == LURE_TCP) {
    rc = lure__tcp_apply_options(s, fd);
    if (rc != 0)
      return rc;
  }
  s->io_watcher.fd = fd;
  s->stream_flags |= flags;
  /* IPC pipes receive descriptors with recvmsg(2) per read, which the
   * ring's multishot receive cannot carry: they use readiness, as does
   * anything that is not a socket. */
  if (!(s->stream_flags & LURE__STREAM_NOT_SOCKET) &&
      !(s->type == LURE_NAMED_PIPE && ((lure_pipe_t *) s)->ipc)) {
    const struct lure__sock_ops *ops = lure__sock_pick_stream(s->loop);

    /* A stream the ring could serve starts on readiness and moves once it
     * proves long-lived: a connection that lives for a request or two
     * costs less with a poll and a system call or two than with a
     * receive armed in the kernel and cancelled at close
     * (lure__stream_warm_move). */
    s->stream_flags &= ~(LURE__STREAM_WARMING | LURE__STREAM_WARM_MASK);
    if (ops != &lure__sock_ready && s->loop->priv->stream_warmup > 0) {
      s->stream_flags |= LURE__STREAM_WARMING;
      ops = &lure__sock_ready;
    }
    lure__stream_set_sock(s, ops);
  }
  return 0;
}

void lure__stream_warm_move(lure_stream_t *s) {
  const struct lure__sock_ops *ring;
  unsigned seen = (s->stream_flags & LURE__STREAM_WARM_MASK) >>
                  LURE__STREAM_WARM_SHIFT;

  if (seen < s->loop->priv->stream_warmup ||
      lure__handle_is_closing((lure_handle_t *) s) || s->io_watcher.fd < 0)
    return;
  /* Not while a connect or a shutdown is under way, or bytes wait in the
   * stash, or the pending phase has work for the stream. */
  if (s->connect_req != NULL || s->shutdown_req != NULL ||
      !lure__stream_stash_empty(s) ||
      (s->stream_flags &
       (LURE__STREAM_LISTENING | LURE__STREAM_SHUT_ISSUED | LURE__STREAM_EOF |
        LURE__STREAM_REARM | LURE__STREAM_REKICK)))
    return;
  s->stream_flags &= ~(LURE__STREAM_WARMING | LURE__STREAM_WARM_MASK);
  ring = lure__sock_pick_stream(s->loop);
  if (ring == &lure__sock_ready)
    return;
  /* Readiness keeps nothing but its watcher: a write partly made is
   * recorded in its request, which the ring's send goes on from. */
  lure__io_stop(s->loop, &s->io_watcher, POLLIN | POLLOUT);
  s->stream_flags &= ~(unsigned) LURE__STREAM_HELD;
  lure__stream_set_sock(s, ring);
  if (s->stream_flags & LURE__STREAM_READING) {
    int rc = lure__stream_read_arm(s);

    if (rc != 0)
      lure__stream_deliver(s, rc, &lure__stream_no_buf);
  }
  if (!lure__queue_empty(&s->write_queue) &&
      !lure__handle_is_closing((lure_handle_t *) s)) {
    struct lure__queue *q;

    /* The ring completes them now (lure_req_executor). */
    lure__queue_foreach(q, &s->write_queue)
      lure__container_of(q, lure_write_t, queue)->executor =
          (unsigned char) ring->executor;
    lure__stream_kick_writes(s);
  }
}

int lure__stream_fd(const lure_stream_t *s) {
  return s->io_watcher.fd;
}

/* ---- write completions ---------------------------------------------------- */

/* Run the callbacks of the writes finished so far.  A write that finishes
 * while they run (one made by a callback, sent at once) waits for the
 * pending phase: a callback that chains writes gets one per round, so the
 * loop still reaches its timers and its wait point. */
static void lure__stream_run_write_cbs(lure_stream_t *s) {
  struct lure__queue done;
  struct lure__queue *q;
  lure_write_t *req;

  lure__queue_move(&s->write_done_queue, &done);
  while (!lure__queue_empty(&done)) {
    q = lure__queue_head(&done);
    lure__queue_remove(q);
    req = lure__container_of(q, lure_write_t, queue);
    lure__req_unregister(s->loop, (lure_req_t *) req);
    if (req->bufs != req->bufsml)
      lure__free(req->bufs);
    req->bufs = NULL;
    if (req->cb != NULL)
      req->cb(req, req->error);
  }
}

static void lure__stream_shutdown_done(lure_stream_t *s, int status) {
  lure_shutdown_t *req = s->shutdown_req;

  s->shutdown_req = NULL;
  s->stream_flags |= LURE__STREAM_SHUT;
  lure__req_unregister(s->loop, (lure_req_t *) req);
  if (req->cb != NULL)
    req->cb(req, status);
}

/* Shut the write side once every queued write has gone. */
static void lure__stream_maybe_shutdown(lure_stream_t *s) {
  int status = 0;

  /* A closing stream's shutdown ends in the closing phase (ECANCELED, as
   * libuv's); its descriptor may be gone already. */
  if (s->shutdown_req == NULL || !lure__queue_empty(&s->write_queue) ||
      (s->stream_flags & LURE__STREAM_SHUT_ISSUED) ||
      lure__handle_is_closing((lure_handle_t *) s))
    return;
  s->stream_flags |= LURE__STREAM_SHUT_ISSUED;
  /* shutdown(2) never blocks, on either path (see backends/uring-stream.c
   * on why not IORING_OP_SHUTDOWN).  This runs from the pending phase or an
   * I/O callback, never inside lure_shutdown(). */
  if (shutdown(s->io_watcher.fd, SHUT_WR) != 0)
    status = -errno;
  lure__stream_shutdown_done(s, status);
}

static int lure__stream_read_arm(lure_stream_t *s);

static void lure__stream_pending_cb(lure_loop_t *loop, struct lure__pending *p) {
  lure_stream_t *s = lure__container_of(p, lure_stream_t, write_pending);

  if (s->stream_flags & LURE__STREAM_REARM) {
    s->stream_flags &= ~LURE__STREAM_REARM;
    if (!lure__handle_is_closing((lure_handle_t *) s) &&
        s->io_watcher.fd >= 0) {
      if (s->stream_flags & LURE__STREAM_LISTENING) {
        (void) lure__sock_ready.accept(s);
      } else if (s->stream_flags & LURE__STREAM_READING) {
        (void) lure__stream_read_arm(s);
      }
    }
  }
  if (s->stream_flags & LURE__STREAM_REKICK) {
    s->stream_flags &= ~LURE__STREAM_REKICK;
    if (!lure__handle_is_closing((lure_handle_t *) s) &&
        !lure__queue_empty(&s->write_queue) && s->connect_req == NULL &&
        s->io_watcher.fd >= 0)
      lure__stream_kick_writes(s);
  }
  lure__stream_run_write_cbs(s);
  lure__stream_maybe_shutdown(s);
  if (s->stream_flags & LURE__STREAM_WARMING)
    lure__stream_warm_move(s);
}

/* Run finished writes' callbacks now (the caller is an I/O completion in
 * the poll phase), then a shutdown that was waiting for them. */
void lure__stream_write_done_now(lure_stream_t *s) {
  lure__stream_run_write_cbs(s);
  lure__stream_maybe_shutdown(s);
}

/* Run write callbacks (and a due shutdown) in the next pending phase. */
void lure__stream_schedule(lure_stream_t *s) {
  if (!lure__queue_empty(&s->write_pending.queue))
    return;
  s->write_pending.cb = lure__stream_pending_cb;
  lure__pending_add(s->loop, &s->write_pending);
}

/* Account n bytes written for the head request; returns 1 when the request
 * is complete (and moved to the done queue). */
int lure__stream_write_progress(lure_stream_t *s, lure_write_t *req, size_t n) {
  s->write_queue_size -= n;
  while (n > 0 && req->write_index < req->nbufs) {
    size_t left = req->bufs[req->write_index].len - req->offset;

    if (n < left) {
      req->offset += n;
      n = 0;
      break;
    }
    n -= left;
    req->write_index++;
    req->offset = 0;
  }
  /* Zero-length buffers at the end count as written. */
  while (req->write_index < req->nbufs && req->bufs[req->write_index].len == 0)
    req->write_index++;
  if (req->write_index < req->nbufs)
    return 0;
  lure__queue_remove(&req->queue);
  lure__queue_insert_tail(&s->write_done_queue, &req->queue);
  return 1;
}

/* The n bytes one gathered write took, to the head request req and then
 * to the requests behind it, in queue order.  Returns 1 when every request
 * the bytes reached is complete, 0 when the last one is left part-written
 * (the descriptor took what it could). */
int lure__stream_write_took(lure_stream_t *s, lure_write_t *req, size_t n) {
  for (;;) {
    size_t left = lure__stream_write_left(req);
    size_t take = n < left ? n : left;

    n -= take;
    if (!lure__stream_write_progress(s, req, take))
      return 0;
    if (n == 0 || lure__queue_empty(&s->write_queue))
      return 1;
    req = lure__container_of(lure__queue_head(&s->write_queue), lure_write_t,
                             queue);
  }
}

size_t lure__stream_write_left(const lure_write_t *req) {
  size_t left = 0;
  unsigned i;

  for (i = req->write_index; i < req->nbufs; i++)
    left += req->bufs[i].len;
  return left - req->offset;
}

unsigned lure__stream_write_gather(const lure_stream_t *s,
                                   const lure_write_t *head,
                                   struct iovec *iov, unsigned cap,
                                   unsigned alone) {
  const struct lure__queue *q;
  unsigned n = 0;

  for (q = &head->queue; q != &s->write_queue && n < cap; q = q->next) {
    const lure_write_t *req = lure__container_of(q, const lure_write_t, queue);
    int single = req->send_handle != NULL || (req->req_flags & alone) != 0;

    if (req != head && single)
      break;
    n += lure__stream_write_iov(req, iov + n, cap - n);
    if (single)
      break; /* it rides alone */
  }
  return n;
}

unsigned lure__stream_write_iov(const lure_write_t *req, struct iovec *iov,
                                unsigned cap) {
  unsigned n = 0;
  unsigned i;

  for (i = req->write_index; i < req->nbufs && n < cap; i++, n++) {
    iov[n].iov_base = req->bufs[i].base;
    iov[n].iov_len = req->bufs[i].len;
  }
  if (n > 0) {
    iov[0].iov_base = (char *) iov[0].iov_base + req->offset;
    iov[0].iov_len -= req->offset;
  }
  return n;
}

/* Fail the head request with err (its remaining bytes are dropped). */
void lure__stream_write_fail(lure_stream_t *s, lure_write_t *req, int err) {
  s->write_queue_size -= lure__stream_write_left(req);
  req->error = err;
  lure__queue_remove(&req->queue);
  lure__queue_insert_tail(&s->write_done_queue, &req->queue);
}

/* ---- immediate writes ------------------------------------------------------------ */

/* One write of iov[0..n) to the stream's descriptor, now: writev(2) when it
 * is not a socket, else send(2) or sendmsg(2) with MSG_NOSIGNAL, carrying
 * the descriptor of send_handle (SCM_RIGHTS) when there is one.  Shared by the
 * queued writes and the immediate ones (lure_try_write2). */
ssize_t lure__stream_sendv(lure_stream_t *s, struct iovec *iov,
                                  unsigned n,
                                  const lure_stream_t *send_handle,
                                  int flags) {
  struct msghdr msg;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct cmsghdr *cm;
  ssize_t r;

  if (s->stream_flags & LURE__STREAM_NOT_SOCKET) {
    do
      r = writev(s->io_watcher.fd, iov, (int) n);
    while (r < 0 && errno == EINTR);
    return lure__send_result(r);
  }
  /* One buffer and no descriptor: send(2) spares the kernel the msghdr
   * and iovec copies (the batch of small writes libuv's tcp_write_batch
   * makes goes this way). */
  if (n == 1 && send_handle == NULL) {
    do
      r = send(s->io_watcher.fd, iov[0].iov_base, iov[0].iov_len,
               MSG_NOSIGNAL | flags);
    while (r < 0 && errno == EINTR);
    return lure__send_result(r);
  }
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = iov;
  msg.msg_iovlen = n;
  if (send_handle != NULL) {
    memset(&ctl, 0, sizeof(ctl));
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof(ctl.buf);
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &send_handle->io_watcher.fd, sizeof(int));
  }
  do
    r = sendmsg(s->io_watcher.fd, &msg, MSG_NOSIGNAL | flags);
  while (r < 0 && errno == EINTR);
  return lure__send_result(r);
}


/* ---- reads --------------------------------------------------------------------- */

/* Hand nread bytes (or an error/EOF) to the user, stopping reads at EOF or
 * on error as libuv does. */
void lure__stream_deliver(lure_stream_t *s, ssize_t nread,
                          const lure_buf_t *buf) {
  lure_buf_t own;

  /* libuv calls alloc_cb before every read(2), so the read that meets the
   * end or an error comes with a buffer of alloc_cb's, which programs free
   * in read_cb.  The ring learns of the end without a buffer: ask alloc_cb
   * for one here, so that a copying reader sees the same pairing on every
   * path (a borrowing reader never gets a buffer with an end). */
  if (nread < 0 && buf->base == NULL && buf->len == 0 &&
      !(s->stream_flags & LURE__STREAM_BORROW) && s->alloc_cb != NULL &&
      (s->stream_flags & LURE__STREAM_READING)) {
    own.base = NULL;
    own.len = 0;
    s->alloc_cb((lure_handle_t *) s, 65536, &own);
    buf = &own;
  }
  /* As libuv: EOF leaves the stream readable (a later read_start reads
   * EOF again), an error makes it neither readable nor writable. */
  if (nread == LURE_EOF)
    s->stream_flags |= LURE__STREAM_EOF;
  else if (nread < 0)
    s->stream_flags &= ~(LURE__STREAM_READABLE | LURE__STREAM_WRITABLE);
  if (nread < 0)
    lure__stream_read_stop_internal(s);
  s->read_cb(s, nread, buf);
}

size_t lure__stream_deliver_copy(lure_stream_t *s, const char *p, size_t n) {
  lure_buf_t buf;
  size_t done = 0;
  size_t k;

  while (done < n && (s->stream_flags & LURE__STREAM_READING) &&
         !lure__handle_is_closing((lure_handle_t *) s)) {
    buf.base = NULL;
    buf.len = 0;
    if (s->stream_flags & LURE__STREAM_BORROW) {
      /* Bytes that waited are lent in a buffer of their own. */
      buf.base = lure__borrow_alloc(s->loop, n - done);
      buf.len = buf.base != NULL ? n - done : 0;
    } else {
      s->alloc_cb((lure_handle_t *) s, n - done, &buf);
    }
    if (buf.base == NULL || buf.len == 0) {
      /* As libuv: the reader keeps reading, and is asked again. */
      s->read_cb(s, LURE_ENOBUFS, &buf);
      break;
    }
    k = buf.len < n - done ? buf.len : n - done;
    memcpy(buf.base, p + done, k);
    done += k;
    s->read_cb(s, (ssize_t) k, &buf);
  }
  return done;
}

/* ---- the stash ------------------------------------------------------------------- */

/* Bytes an executor received while nobody read them (after lure_read_stop(),
 * with the ring's multishot receive still being cancelled) or that the
 * reader's buffers did not take, and an end of stream seen meanwhile: kept
 * here, in order, and delivered from the pending phase once the stream
 * reads again.  Made on first use. */
struct lure__stream_stash {
  lure_stream_t *s;
  char *mem;
  size_t len;
  size_t off;
  /* The stash being handed to the reader (taken out of mem/len while the
   * callbacks run), so that a tail the reader leaves is kept by adopting
   * this block instead of copying it again. */
  char *feeding;
  size_t feeding_len;
  int status;                /* EOF or error seen while not reading */
  int read_err;              /* bytes were lost (LURE_ENOMEM): the end */
  struct lure__pending pending;
};

/* The stash hangs off the socket executor's per-handle state (struct
 * lure__exec_state, src/backend.h): NULL when the executor keeps none. */
static void **lure__stash_slot(const lure_stream_t *s) {
  return s->exec_data != NULL
             ? &((struct lure__exec_state *) s->exec_data)->stash
             : NULL;
}

static struct lure__stream_stash *lure__stash_of(const lure_stream_t *s) {
  void **slot = lure__stash_slot(s);

  return slot != NULL ? *slot : NULL;
}

/* libuv's rule: read_cb never sees a NULL buf; one with a NULL base means
 * no buffer was allocated for this call. */
static const lure_buf_t lure__null_buf = { NULL, 0 };

static struct lure__stream_stash *lure__stash_get(lure_stream_t *s) {
  void **slot = lure__stash_slot(s);
  struct lure__stream_stash *st;

  if (slot == NULL)
    return NULL;
  st = *slot;
  if (st != NULL)
    return st;
  st = lure__calloc(1, sizeof(*st));
  if (st == NULL)
    return NULL;
  st->s = s;
  lure__queue_init(&st->pending.queue);
  *slot = st;
  return st;
}

int lure__stream_stash_empty(const lure_stream_t *s) {
  const struct lure__stream_stash *st = lure__stash_of(s);

  return st == NULL || st->len <= st->off;
}

static int lure__stash_add(lure_stream_t *s, const char *p, size_t n) {
  struct lure__stream_stash *st = lure__stash_get(s);
  char *m;

  if (st == NULL)
    return LURE_ENOMEM;
  if (st->off > 0 && st->off == st->len) {
    st->off = st->len = 0;
  }
  if (st->mem == NULL && st->feeding != NULL && p >= st->feeding &&
      p + n == st->feeding + st->feeding_len) {
    /* The tail of the block being delivered: keep the block, skip what
     * the reader took.  A reader that stops often costs no copy. */
    st->mem = st->feeding;
    st->off = (size_t) (p - st->feeding);
    st->len = st->feeding_len;
    st->feeding = NULL;
    return 0;
  }
  m = lure__realloc(st->mem, st->len + n);
  if (m == NULL)
    return LURE_ENOMEM;
  memcpy(m + st->len, p, n);
  st->mem = m;
  st->len += n;
  return 0;
}

static void lure__stash_deliver(lure_loop_t *loop, struct lure__pending *pe);

/* Deliver the stash from the next pending phase, if anyone reads. */
static void lure__stash_schedule(lure_stream_t *s) {
  struct lure__stream_stash *st = lure__stash_of(s);

  if (st == NULL || (st->len <= st->off && st->status == 0) ||
      !(s->stream_flags & LURE__STREAM_READING) ||
      lure__handle_is_closing((lure_handle_t *) s) ||
      !lure__queue_empty(&st->pending.queue))
    return;
  st->pending.cb = lure__stash_deliver;
  lure__pending_add(s->loop, &st->pending);
}

int lure__stream_read_ended(const lure_stream_t *s) {
  const struct lure__stream_stash *st = lure__stash_of(s);

  return st != NULL && st->read_err != 0;
}

/* The stash could not grow, so bytes are lost: the stream ends there
 * with LURE_ENOMEM, as after a read error, never with a gap the reader
 * cannot see.  The reader gets it after the bytes kept before (at once if
 * none wait and it reads, else from the pending phase or its next
 * lure_read_start()); the executor's receive stops, and later bytes are
 * dropped (lure__stream_read_ended). */
static void lure__stash_lost(lure_stream_t *s) {
  struct lure__stream_stash *st = lure__stash_of(s);

  if (st != NULL) {
    st->read_err = LURE_ENOMEM;
    st->status = LURE_ENOMEM;
  }
  lure__stream_sock(s)->read_stop(s);
  if ((s->stream_flags & LURE__STREAM_READING) &&
      lure__stream_stash_empty(s)) {
    if (st != NULL)
      st->status = 0;
    lure__stream_deliver(s, LURE_ENOMEM, &lure__null_buf);
    return;
  }
  lure__stash_schedule(s);
}

void lure__stream_feed(lure_stream_t *s, const char *p, size_t n) {
  size_t done;

  if (lure__stream_read_ended(s))
    return; /* bytes before these were lost: the stream has ended */
  /* Bytes already waiting go first: newer ones queue behind them. */
  if (!lure__stream_stash_empty(s)) {
    if (!lure__handle_is_closing((lure_handle_t *) s)) {
      if (lure__stash_add(s, p, n) != 0)
        lure__stash_lost(s);
      else
        lure__stash_schedule(s);
    }
    return;
  }
  /* The reader takes them; what it did not take (it stopped, or had no
   * buffer) is kept for the next read. */
  done = lure__stream_deliver_copy(s, p, n);
  if (done < n && !lure__handle_is_closing((lure_handle_t *) s)) {
    if (lure__stash_add(s, p + done, n - done) != 0)
      lure__stash_lost(s);
    else
      lure__stash_schedule(s);
  }
}

void lure__stream_end(lure_stream_t *s, int status) {
  struct lure__stream_stash *st;

  /* Not now if the reader stopped or bytes still wait: keep it for after
   * them. */
  if (!(s->stream_flags & LURE__STREAM_READING) ||
      !lure__stream_stash_empty(s)) {
    st = lure__stash_get(s);
    if (st != NULL)
      st->status = status;
    return;
  }
  lure__stream_deliver(s, status, &lure__null_buf);
}

static void lure__stash_deliver(lure_loop_t *loop, struct lure__pending *pe) {
  struct lure__stream_stash *st =
      lure__container_of(pe, struct lure__stream_stash, pending);
  lure_stream_t *s = st->s;
  char *mem = st->mem;
  size_t off = st->off;
  size_t len = st->len;

  (void) loop;
  if (!(s->stream_flags & LURE__STREAM_READING))
    return;
  if (mem != NULL && off < len) {
    /* Take the bytes out first: feeding them may stash again. */
    st->mem = NULL;
    st->len = 0;
    st->off = 0;
    st->feeding = mem;
    st->feeding_len = len;
    lure__stream_feed(s, mem + off, len - off);
    if (st->feeding != NULL) /* not adopted back as the stash */
      lure__free(mem);
    st->feeding = NULL;
  }
  /* The end of the stream comes after its bytes. */
  if (st->status != 0 && st->len <= st->off &&
      (s->stream_flags & LURE__STREAM_READING) &&
      !lure__handle_is_closing((lure_handle_t *) s)) {
    int status = st->status;

    st->status = 0;
    lure__stream_deliver(s, status, &lure__null_buf);
  }
}

static void lure__stash_unschedule(lure_stream_t *s) {
  struct lure__stream_stash *st = lure__stash_of(s);

  if (st != NULL)
    lure__queue_remove(&st->pending.queue);
}

static void lure__stash_free(lure_stream_t *s) {
  struct lure__stream_stash *st = lure__stash_of(s);

  if (st == NULL)
    return;
  lure__queue_remove(&st->pending.queue);
  lure__free(st->mem);
  lure__free(st);
  *lure__stash_slot(s) = NULL;
}

/* ---- accept and connect -------------------------------------------------------- */

static int lure__stream_push_accepted(lure_stream_t *s, int fd) {
  if (s->accepted_count == s->accepted_cap) {
    unsigned cap = s->accepted_cap ? s->accepted_cap * 2 : 8;
    int *p = lure__realloc(s->accepted_fds, cap * sizeof(int));

    if (p == NULL)
      return LURE_ENOMEM;
    s->accepted_fds = p;
    s->accepted_cap = cap;
  }
  s->accepted_fds[s->accepted_count++] = fd;
  return 0;
}

/* ---- out of descriptors ---------------------------------------------------------- */

/* libuv's answer to EMFILE on accept, kept as it is: each loop holds one
 * descriptor in reserve (/dev/null, taken when a server starts to
 * listen).  When accept fails for want of descriptors, the spare is given
 * up, the connections waiting in the backlog are accepted and closed at
 * once (their peers see the connection end, rather than wait in a queue
 * nobody can serve), and the spare is taken back. */
static void lure__emfile_reserve(lure_loop_t *loop) {
  int fd;

  if (loop->priv->emfile_fd >= 0)
    return;
  fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fd = open("/", O_RDONLY | O_CLOEXEC);
  loop->priv->emfile_fd = fd;
}

/* Returns 0 when the backlog was emptied (nobody is told, as in libuv),
 * else the error for the connection callback: err itself when the loop
 * has no spare. */
static int lure__stream_emfile(lure_stream_t *s, int err) {
  lure_loop_t *loop = s->loop;
  int fd;

  if (loop->priv->emfile_fd < 0)
    return err;
  close(loop->priv->emfile_fd);
  loop->priv->emfile_fd = -1;
  for (;;) {
    fd = accept4(s->io_watcher.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      close(fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED)
      continue;
    err = -errno;
    break;
  }
  lure__emfile_reserve(loop);
  return err == LURE_EAGAIN || err == -EWOULDBLOCK ? 0 : err;
}

/* A connection arrived (from accept4 on readiness). */
void lure__stream_connection(lure_stream_t *s, int fd_or_error) {
  if (fd_or_error == LURE_EMFILE || fd_or_error == LURE_ENFILE) {
    fd_or_error = lure__stream_emfile(s, fd_or_error);
    if (fd_or_error == 0)
      return;
  }
  if (fd_or_error < 0) {
    if (s->connection_cb != NULL)
      s->connection_cb(s, fd_or_error);
    return;
  }
  if (lure__stream_push_accepted(s, fd_or_error) != 0) {
    close(fd_or_error);
    if (s->connection_cb != NULL)
      s->connection_cb(s, LURE_ENOMEM);
    return;
  }
  if (s->connection_cb != NULL)
    s->connection_cb(s, 0);
}

void lure__stream_connect_done(lure_stream_t *s, int status) {
  lure_connect_t *req = s->connect_req;

  s->connect_req = NULL;
  s->stream_flags &= ~LURE__STREAM_CONNECTING;
  if (status == 0)
    s->stream_flags |= LURE__STREAM_READABLE | LURE__STREAM_WRITABLE;
  lure__req_unregister(s->loop, (lure_req_t *) req);
  /* A reader started during the connect reads from now on (libuv's was
   * watching already when its connect callback runs). */
  if (status == 0 && (s->stream_flags & LURE__STREAM_READING))
    (void) lure__stream_read_arm(s);
  if (req->cb != NULL)
    req->cb(req, status);
  if (status < 0) {
    /* As libuv: writes queued behind a failed connect are cancelled. */
    while (!lure__queue_empty(&s->write_queue))
      lure__stream_write_fail(
          s, lure__container_of(lure__queue_head(&s->write_queue),
                                lure_write_t, queue),
          LURE_ECANCELED);
    lure__stream_run_write_cbs(s);
    /* A reader started during the connect hears the end, as libuv's does
     * (its read(2) of the failed socket returns 0). */
    if ((s->stream_flags & LURE__STREAM_READING) &&
        !lure__handle_is_closing((lure_handle_t *) s))
      lure__stream_deliver(s, LURE_EOF, &lure__stream_no_buf);
    return;
  }

  /* Writes queued while connecting can go now. */
  if (status == 0 && !lure__queue_empty(&s->write_queue) &&
      !lure__handle_is_closing((lure_handle_t *) s))
    lure__stream_kick_writes(s);
}

static void lure__stream_connect_pending(lure_loop_t *loop,
                                         struct lure__pending *p) {
  lure_stream_t *s = lure__container_of(p, lure_stream_t, write_pending);
  int err = s->delayed_error;

  s->delayed_error = 0;
  lure__stream_connect_done(s, err);
  lure__stream_pending_cb(loop, p);
}

/* The connect ends with err (0 or a negative errno) in the next pending
 * phase, as libuv reports what connect(2) said at once. */
static void lure__stream_connect_later(lure_stream_t *s, int err) {
  s->delayed_error = err;
  lure__queue_remove(&s->write_pending.queue);
  s->write_pending.cb = lure__stream_connect_pending;
  lure__pending_add(s->loop, &s->write_pending);
}

static void lure__stream_connect_begin(lure_stream_t *s, lure_connect_t *req,
                                       lure_connect_cb cb, int executor) {
  req->type = LURE_CONNECT;
  req->cb = cb;
  req->handle = s;
  req->executor = (unsigned char) executor;
  req->req_flags = 0;
  lure__req_register(s->loop, (lure_req_t *) req);
  s->connect_req = req;
  s->stream_flags |= LURE__STREAM_CONNECTING;
}

/* Start a non-blocking connect of the stream's socket to addr. */
int lure__stream_connect(lure_stream_t *s, lure_connect_t *req,
                         const struct sockaddr *addr, socklen_t addrlen,
                         lure_connect_cb cb, int defer_errors) {
  int err;
  int r;

  if (s->connect_req != NULL)
    return LURE_EALREADY;
  if (s->stream_flags & (LURE__STREAM_READABLE | LURE__STREAM_WRITABLE))
    return LURE_EISCONN;
  /* TCP on the ring's path connects with IORING_OP_CONNECT, reporting the
   * same errors at the same point.  Unix sockets keep connect(2): a full
   * listener queue is EAGAIN for libuv, where the ring would wait. */
  if (lure__stream_sock(s)->connect != NULL && !defer_errors) {
    r = lure__stream_sock(s)->connect(s, (const struct sockaddr *) &req->addr, addrlen);
    if (r != LURE_ENOTSUP) {
      if (r == 0)
        lure__stream_connect_begin(s, req, cb, lure__stream_sock(s)->executor);
      return r;
    }
  }
  do
    r = connect(s->io_watcher.fd, addr, addrlen);
  while (r < 0 && errno == EINTR);
  err = r < 0 ? errno : 0;
  /* EAGAIN is not "in progress": a Unix socket's listener has a full
   * queue, or TCP ran out of local ports.  Refused (and for pipes, every
   * error) reach the callback, as in libuv. */
  if (err != 0 && err != EINPROGRESS && err != ECONNREFUSED && !defer_errors)
    return -err;
  lure__stream_connect_begin(s, req, cb, lure__sock_ready.executor);
  if (err != EINPROGRESS) {
    lure__stream_connect_later(s, -err);
    return 0;
  }
  return lure__io_start(s->loop, &s->io_watcher, POLLOUT);
}

/* A connect that fails before it is tried (TCP bound to an address in
 * use): accepted, and its callback gets err in the next pending phase. */
int lure__stream_connect_error(lure_stream_t *s, lure_connect_t *req,
                               lure_connect_cb cb, int err) {
  if (s->connect_req != NULL)
    return LURE_EALREADY;
  if (s->stream_flags & (LURE__STREAM_READABLE | LURE__STREAM_WRITABLE))
    return LURE_EISCONN;
  lure__stream_connect_begin(s, req, cb, lure__stream_sock(s)->executor);
  lure__stream_connect_later(s, err);
  return 0;
}

/* ---- readiness dispatch ---------------------------------------------------------- */

/* Get queued writes moving, on whichever path serves the stream. */
void lure__stream_kick_writes(lure_stream_t *s) {
  lure__stream_sock(s)->write(s);
  if (!lure__queue_empty(&s->write_done_queue) ||
      (s->shutdown_req != NULL && lure__queue_empty(&s->write_queue)))
    lure__stream_schedule(s);
}

/* ---- the public stream calls -------------------------------------------------------- */

#define LURE__STREAM_CHECK(s)                                                 \
  do {                                                                        \
    if (!lure__is_stream((const lure_handle_t *) (s)) ||                      \
        (s)->loop == NULL || (s)->loop->priv == NULL)                         \
      return LURE_EINVAL;                                                     \
    if (lure__handle_is_closing((const lure_handle_t *) (s)))                 \
      return LURE_EINVAL;                                                     \
  } while (0)

LURE_EXTERN int lure_listen(lure_stream_t *s, int backlog,
                            lure_connection_cb cb) {
  LURE__STREAM_CHECK(s);
  /* A NULL callback is allowed, as in libuv: connections then wait for
   * lure_accept() (the first one holds the others back). */
  if (s->type == LURE_TCP)
    return lure__tcp_listen((lure_tcp_t *) s, backlog, cb);
  if (s->type != LURE_NAMED_PIPE)
    return LURE_EINVAL; /* a terminal */
  return lure__pipe_listen((lure_pipe_t *) s, backlog, cb);
}

/* Begin accepting: shared by TCP and pipes once listen(2) succeeded. */
int lure__stream_listen_start(lure_stream_t *s, lure_connection_cb cb) {
  s->connection_cb = cb;
  lure__emfile_reserve(s->loop);
  s->stream_flags |= LURE__STREAM_LISTENING;
  lure__handle_start((lure_handle_t *) s);
  /* Every listener accepts on readiness, and no request of the wait point
   * may hold its socket: when its process dies, its port must be free
   * at once, as libuv's is (a ring accept held it until the kernel tore
   * the ring down, later; backends/uring-nest.c). */
  s->io_watcher.flags |= LURE__IO_NOHOLD;
  lure__stream_set_sock(s, &lure__sock_ready);
  return lure__sock_ready.accept(s);
}

LURE_EXTERN int lure_accept(lure_stream_t *server, lure_stream_t *client) {
  int fd;
  int rc;

  LURE__STREAM_CHECK(server);
  LURE__STREAM_CHECK(client);
  if (client->type == LURE_TTY)
    return LURE_EINVAL;
  if (server->type == LURE_NAMED_PIPE && ((lure_pipe_t *) server)->ipc &&
      server->pending_count > 0) {
    /* A descriptor received over an IPC pipe. */
    fd = server->pending_fds[0];
    rc = lure__stream_open(client, fd,
                           LURE__STREAM_READABLE | LURE__STREAM_WRITABLE |
                               LURE__STREAM_ADOPTED);
    if (rc != 0)
      return rc;
    memmove(server->pending_fds, server->pending_fds + 1,
            (server->pending_count - 1) * sizeof(int));
    server->pending_count--;
    return 0;
  }
  if (server->accepted_count == 0)
    return LURE_EAGAIN;
  if (client->type != server->type)
    return LURE_EINVAL;
  fd = server->accepted_fds[0];
  rc = lure__stream_open(client, fd,
                         LURE__STREAM_READABLE | LURE__STREAM_WRITABLE |
                             LURE__OPEN_OWN_SOCKET);
  if (rc != 0)
    return rc;
  memmove(server->accepted_fds, server->accepted_fds + 1,
          (server->accepted_count - 1) * sizeof(int));
  server->accepted_count--;
  /* The readiness path paused while this one waited. */
  if (server->accepted_count == 0 &&
      lure__stream_on_readiness(server) &&
      (server->stream_flags & LURE__STREAM_LISTENING))
    (void) lure__io_start(server->loop, &server->io_watcher, POLLIN);
  return 0;
}

/* ---- borrowed buffers ---------------------------------------------------------------- */

struct lure__borrow_hdr {
  struct lure__queue link;
  uint64_t pad; /* keeps the data 16-byte aligned */
};

char *lure__borrow_alloc(lure_loop_t *loop, size_t len) {
  struct lure__borrow_hdr *h = lure__malloc(sizeof(*h) + len);

  if (h == NULL)
    return NULL;
  lure__queue_insert_tail(&loop->priv->borrowed, &h->link);
  return (char *) (h + 1);
}

void lure__borrow_free_all(lure_loop_t *loop) {
  struct lure__borrow_hdr *h;

  while (!lure__queue_empty(&loop->priv->borrowed)) {
    h = lure__container_of(lure__queue_head(&loop->priv->borrowed),
                           struct lure__borrow_hdr, link);
    lure__queue_remove(&h->link);
    lure__free(h);
  }
}

LURE_EXTERN int lure_buf_release(lure_loop_t *loop, const lure_buf_t *buf) {
  struct lure__borrow_hdr *h;
  struct lure__queue *q;

  if (loop == NULL || loop->priv == NULL || buf == NULL || buf->base == NULL)
    return LURE_EINVAL;
  if (lure__sock_buf_release(loop, buf->base) == 0)
    return 0;
  /* Only buffers on the loop's list are ours to free; anything else (a
   * second release included) is refused without being dereferenced. */
  lure__queue_foreach(q, &loop->priv->borrowed) {
    h = lure__container_of(q, struct lure__borrow_hdr, link);
    if ((char *) (h + 1) == buf->base) {
      lure__queue_remove(&h->link);
      lure__free(h);
      return 0;
    }
  }
  return LURE_EINVAL;
}

static int lure__read_start(lure_stream_t *s, lure_alloc_cb alloc_cb,
                            lure_read_cb read_cb, int borrow);

/* Set a reading stream's reads going, on whichever path serves it. */
static int lure__stream_read_arm(lure_stream_t *s) {
  struct lure__stream_stash *st = lure__stash_of(s);
  int rc;

  /* After lost bytes the stream only ever reports their loss. */
  if (st != NULL && st->read_err != 0 && st->status == 0)
    st->status = st->read_err;
  lure__stash_schedule(s);
  if (st != NULL && st->read_err != 0)
    return 0;
  rc = lure__stream_sock(s)->read_start(s);

  if (rc == 0 || lure__stream_on_readiness(s))
    return rc;
  return lure__sock_ready.read_start(s);
}

LURE_EXTERN int lure_read_start_borrowed(lure_stream_t *s,
                                         lure_read_cb read_cb) {
  return lure__read_start(s, NULL, read_cb, 1);
}

LURE_EXTERN int lure_read_start(lure_stream_t *s, lure_alloc_cb alloc_cb,
                                lure_read_cb read_cb) {
  return lure__read_start(s, alloc_cb, read_cb, 0);
}

static int lure__read_start(lure_stream_t *s, lure_alloc_cb alloc_cb,
                            lure_read_cb read_cb, int borrow) {
  LURE__STREAM_CHECK(s);
  if ((alloc_cb == NULL && !borrow) || read_cb == NULL)
    return LURE_EINVAL;
  /* Descriptors passed over an IPC pipe need recvmsg(2) per read. */
  if (borrow && s->type == LURE_NAMED_PIPE && ((lure_pipe_t *) s)->ipc)
    return LURE_ENOTSUP;
  /* As libuv 1.44: starting twice is an error (lure_read_stop() first). */
  if (s->stream_flags & LURE__STREAM_READING)
    return LURE_EALREADY;
  /* A connect under way counts as readable, as in libuv. */
  if (s->io_watcher.fd < 0 ||
      !(s->stream_flags & (LURE__STREAM_READABLE | LURE__STREAM_CONNECTING)))
    return LURE_ENOTCONN;
  if (borrow)
    s->stream_flags |= LURE__STREAM_BORROW;
  else
    s->stream_flags &= ~LURE__STREAM_BORROW;
  s->alloc_cb = alloc_cb;
  s->read_cb = read_cb;
  s->stream_flags |= LURE__STREAM_READING;
  lure__handle_start((lure_handle_t *) s);
  /* Reads begin once connected (lure__stream_connect_done): on the ring, a
   * receive armed now would race the CONNECT for the socket's error. */
  if (s->connect_req != NULL)
    return 0;
  return lure__stream_read_arm(s);
}

void lure__stream_read_stop_internal(lure_stream_t *s) {
  if (!(s->stream_flags & LURE__STREAM_READING))
    return;
  s->stream_flags &= ~LURE__STREAM_READING;
  lure__stash_unschedule(s);
  lure__stream_sock(s)->read_stop(s); /* also stops a readiness fallback */
  if (!(s->stream_flags & LURE__STREAM_LISTENING))
    lure__handle_stop((lure_handle_t *) s);
}

LURE_EXTERN int lure_read_stop(lure_stream_t *s) {
  if (!lure__is_stream((const lure_handle_t *) s) || s->loop == NULL)
    return LURE_EINVAL;
  lure__stream_read_stop_internal(s);
  return 0;
}

/* A handle may travel only over an IPC pipe, and must have a descriptor to
 * send (NULL: no handle to send, always fine).  The pipe must be a socket:
 * a pipe(2) cannot carry a descriptor, and writev(2) would drop it without
 * a word. */
static int lure__send_handle_check(const lure_stream_t *s,
                                   const lure_stream_t *send_handle) {
  if (send_handle == NULL)
    return 0;
  if (s->type != LURE_NAMED_PIPE || !((const lure_pipe_t *) s)->ipc ||
      !lure__is_stream((const lure_handle_t *) send_handle) ||
      send_handle->io_watcher.fd < 0)
    return LURE_EINVAL;
  return (s->stream_flags & LURE__STREAM_NOT_SOCKET) ? LURE_ENOTSOCK : 0;
}

/* A handle sent over IPC may be shared from now on (the receiver may read
 * on it too): its reads go one at a time (stream.h).  A listener already
 * accepts on readiness. */
static void lure__stream_share(lure_stream_t *h) {
  if (h == NULL)
    return;
  h->stream_flags |= LURE__STREAM_ADOPTED;
}

static int lure__write_setup(lure_write_t *req, lure_stream_t *s,
                             const lure_buf_t bufs[], unsigned nbufs,
                             lure_stream_t *send_handle, lure_write_cb cb) {
  size_t total = 0;
  unsigned i;
  int rc;

  if (req == NULL || bufs == NULL || nbufs == 0)
    return LURE_EINVAL;
  /* libuv's answers: no socket, EBADF; not writable (never connected,
   * listening, shut down, or after a read error), EPIPE. */
  if (s->io_watcher.fd < 0)
    return LURE_EBADF;
  if (!(s->stream_flags & (LURE__STREAM_WRITABLE | LURE__STREAM_CONNECTING)) ||
      (s->stream_flags & (LURE__STREAM_SHUT | LURE__STREAM_SHUT_ISSUED)) ||
      s->shutdown_req != NULL)
    return LURE_EPIPE;
  rc = lure__send_handle_check(s, send_handle);
  if (rc != 0)
    return rc;
  lure__stream_share(send_handle);
  req->type = LURE_WRITE;
  req->cb = cb;
  req->handle = s;
  req->send_handle = send_handle;
  req->write_index = 0;
  req->offset = 0;
  req->error = 0;
  req->nbufs = nbufs;
  req->req_flags = 0;
  req->executor = (unsigned char) lure__stream_sock(s)->executor;
  if (nbufs <= sizeof(req->bufsml) / sizeof(req->bufsml[0])) {
    req->bufs = req->bufsml;
  } else {
    req->bufs = lure__malloc(nbufs * sizeof(*bufs));
    if (req->bufs == NULL)
      return LURE_ENOMEM;
  }
  memcpy(req->bufs, bufs, nbufs * sizeof(*bufs));
  for (i = 0; i < nbufs; i++)
    total += bufs[i].len;
  s->write_queue_size += total;
  lure__req_register(s->loop, (lure_req_t *) req);
  return 0;
}

LURE_EXTERN int lure_write2(lure_write_t *req, lure_stream_t *s,
                            const lure_buf_t bufs[], unsigned int nbufs,
                            lure_stream_t *send_handle, lure_write_cb cb) {
  int was_empty;
  int rc;

  LURE__STREAM_CHECK(s);
  rc = lure__write_setup(req, s, bufs, nbufs, send_handle, cb);
  if (rc != 0)
    return rc;
  /* The request, not the handle, keeps the loop alive (as in libuv). */
  was_empty = lure__queue_empty(&s->write_queue);
  lure__queue_insert_tail(&s->write_queue, &req->queue);
  if (s->connect_req != NULL)
    return 0; /* goes out once connected */
  if (was_empty)
    lure__stream_kick_writes(s);
  return 0;
}

LURE_EXTERN int lure_write(lure_write_t *req, lure_stream_t *s,
                           const lure_buf_t bufs[], unsigned int nbufs,
                           lure_write_cb cb) {
  return lure_write2(req, s, bufs, nbufs, NULL, cb);
}

LURE_EXTERN int lure_write_zc(lure_write_t *req, lure_stream_t *s,
                              const lure_buf_t bufs[], unsigned int nbufs,
                              lure_write_cb cb) {
  int was_empty;
  int rc;

  LURE__STREAM_CHECK(s);
  rc = lure__write_setup(req, s, bufs, nbufs, NULL, cb);
  if (rc != 0)
    return rc;
  /* The ring sends it with SEND_ZC and calls back once the kernel is done
   * with the pages; elsewhere it is an ordinary (copying) write.  A stream
   * still warming up on readiness has asked for the ring: it moves at the
   * next point where it can (its pending phase, scheduled here). */
  req->req_flags |= LURE__REQ_ZC;
  if (s->stream_flags & LURE__STREAM_WARMING) {
    s->stream_flags |= LURE__STREAM_WARM_MASK;
    lure__stream_schedule(s);
  }
  was_empty = lure__queue_empty(&s->write_queue);
  lure__queue_insert_tail(&s->write_queue, &req->queue);
  if (s->connect_req == NULL && was_empty)
    lure__stream_kick_writes(s);
  return 0;
}

/* As lure_write2(), but now or not at all: what the socket takes at once,
 * the handle's descriptor with the first byte.  Nothing is queued, so a
 * caller that gets LURE_EAGAIN (or a short count) still holds the rest. */
LURE_EXTERN int lure_try_write2(lure_stream_t *s, const lure_buf_t bufs[],
                                unsigned int nbufs,
                                lure_stream_t *send_handle) {
  struct iovec iov[IOV_MAX];
  unsigned n = nbufs > IOV_MAX ? IOV_MAX : nbufs;
  unsigned i;
  int rc;

  LURE__STREAM_CHECK(s);
  if (bufs == NULL || nbufs == 0)
    return LURE_EINVAL;
  /* In libuv's order: connecting or writing, then no socket, then not
   * writable. */
  if (s->connect_req != NULL)
    return LURE_EAGAIN;
  if (s->io_watcher.fd < 0)
    return LURE_EBADF;
  if (!(s->stream_flags & LURE__STREAM_WRITABLE) || s->shutdown_req != NULL ||
      (s->stream_flags & (LURE__STREAM_SHUT | LURE__STREAM_SHUT_ISSUED)))
    return LURE_EPIPE;
  rc = lure__send_handle_check(s, send_handle);
  if (rc != 0)
    return rc;
  /* Bytes must not overtake queued writes. */
  if (!lure__queue_empty(&s->write_queue) || s->connect_req != NULL)
    return LURE_EAGAIN;
  lure__stream_share(send_handle);
  for (i = 0; i < n; i++) {
    iov[i].iov_base = bufs[i].base;
    iov[i].iov_len = bufs[i].len;
  }
  return (int) lure__stream_sendv(s, iov, n, send_handle, 0);
}

LURE_EXTERN int lure_try_write(lure_stream_t *s, const lure_buf_t bufs[],
                               unsigned int nbufs) {
  return lure_try_write2(s, bufs, nbufs, NULL);
}

LURE_EXTERN int lure_shutdown(lure_shutdown_t *req, lure_stream_t *s,
                              lure_shutdown_cb cb) {
  if (!lure__is_stream((const lure_handle_t *) s) || s->loop == NULL ||
      s->loop->priv == NULL || req == NULL)
    return LURE_EINVAL;
  /* libuv says ENOTCONN for a closing stream too. */
  if (lure__handle_is_closing((const lure_handle_t *) s) ||
      s->io_watcher.fd < 0 || !(s->stream_flags & LURE__STREAM_WRITABLE) ||
      (s->stream_flags & (LURE__STREAM_SHUT | LURE__STREAM_SHUT_ISSUED)) ||
      s->shutdown_req != NULL)
    return LURE_ENOTCONN;
  req->type = LURE_SHUTDOWN;
  req->handle = s;
  req->cb = cb;
  req->req_flags = 0;
  req->executor = (unsigned char) lure__stream_sock(s)->executor;
  lure__req_register(s->loop, (lure_req_t *) req);
  s->shutdown_req = req;
  if (lure__queue_empty(&s->write_queue))
    lure__stream_schedule(s);
  return 0;
}

/* As libuv: the state of the stream's two directions, 0 once it closes. */
LURE_EXTERN int lure_is_readable(const lure_stream_t *s) {
  return lure__is_stream((const lure_handle_t *) s) &&
         !lure__handle_is_closing((const lure_handle_t *) s) &&
         (s->stream_flags &
          (LURE__STREAM_READABLE | LURE__STREAM_CONNECTING)) != 0;
}

LURE_EXTERN int lure_is_writable(const lure_stream_t *s) {
  return lure__is_stream((const lure_handle_t *) s) &&
         !lure__handle_is_closing((const lure_handle_t *) s) &&
         (s->stream_flags &
          (LURE__STREAM_WRITABLE | LURE__STREAM_CONNECTING)) != 0 &&
         !(s->stream_flags & (LURE__STREAM_SHUT | LURE__STREAM_SHUT_ISSUED)) &&
         s->shutdown_req == NULL;
}

LURE_EXTERN size_t lure_stream_get_write_queue_size(const lure_stream_t *s) {
  return lure__is_stream((const lure_handle_t *) s) ? s->write_queue_size : 0;
}

LURE_EXTERN int lure_stream_set_blocking(lure_stream_t *s, int blocking) {
  LURE__STREAM_CHECK(s);
  if (s->io_watcher.fd < 0)
    return LURE_EBADF;
  /* A blocking socket cannot be served by readiness without stalling the
   * loop; like libuv, the caller takes that responsibility. */
  return lure__nonblock(s->io_watcher.fd, !blocking);
}

/* ---- fork ------------------------------------------------------------------------------ */

/* In the child after lure_loop_fork(): the new wait point knows nothing of
 * the parent's ring operations; set the stream going again on whichever
 * path the new loop offers.  No I/O on the socket here (it is shared with
 * the parent): only operations that wait for the loop to run. */
void lure__stream_after_fork(lure_stream_t *s) {
  if (lure__stream_sock(s)->forget != NULL) {
    lure__stream_sock(s)->forget(s);
    if (lure__stash_of(s) != NULL)
      lure__queue_init(&lure__stash_of(s)->pending.queue);
    if (s->flags & LURE__HANDLE_CLOSE_WAIT) {
      lure__handle_close_ready((lure_handle_t *) s);
      return;
    }
    if (!lure__stream_sock(s)->stream_usable(s->loop))
      lure__stream_set_sock(s, &lure__sock_ready);
  }
  if (s->io_watcher.fd < 0 || lure__handle_is_closing((lure_handle_t *) s))
    return;
  /* A connect the old ring held: its end is seen as readiness now. */
  if (s->connect_req != NULL &&
      s->connect_req->executor != lure__sock_ready.executor)
    (void) lure__io_start(s->loop, &s->io_watcher, POLLOUT);
  /* Not now either: a ring receive or accept prepared here went to the
   * kernel with the child's first wait even when the child closed the
   * handle before running its loop (the cancel comes after it), and took
   * the parent's bytes or connections.  Arm it when this loop next runs
   * its pending phase; closing the handle first means no receive at all,
   * as with readiness. */
  if (s->stream_flags & (LURE__STREAM_LISTENING | LURE__STREAM_READING)) {
    s->stream_flags |= LURE__STREAM_REARM;
    lure__stream_schedule(s);
  }
  if (s->stream_flags & LURE__STREAM_LISTENING)
    return;
  /* Not now: in a forked child the socket is the parent's too, and the
   * child may only mean to close it (or exec).  Writing the queue here sent
   * the parent's bytes a second time.  The queue restarts when this loop
   * next runs its pending phase; closing the stream first cancels it. */
  if (!lure__queue_empty(&s->write_queue) && s->connect_req == NULL) {
    s->stream_flags |= LURE__STREAM_REKICK;
    lure__stream_schedule(s);
  }
}

/* ---- close ---------------------------------------------------------------------------- */

/* Called from lure_close(): stop everything and cancel what is pending.
 * Callbacks (ECANCELED) run in the closing phase, before close_cb. */
void lure__stream_close(lure_stream_t *s) {
  lure_write_t *req;
  unsigned i;

  int was_listening = (s->stream_flags & LURE__STREAM_LISTENING) != 0;
  int close_now = was_listening;

  lure__stream_read_stop_internal(s);
  s->stream_flags &= ~LURE__STREAM_LISTENING;
  /* A send the ring holds reports what it really did (it may have gone out
   * whole, as libuv's write would have inside lure_write()); the requests
   * behind it are settled when it completes (lure__stream_close_writes), so
   * that the callbacks keep their order. */
  if (s->stream_flags & LURE__STREAM_HELD)
    lure__stream_close_writes(s);
  if (lure__stream_sock(s)->sending == NULL || !lure__stream_sock(s)->sending(s))
    while (!lure__queue_empty(&s->write_queue)) {
      req = lure__container_of(lure__queue_head(&s->write_queue),
                               lure_write_t, queue);
      lure__stream_write_fail(s, req, LURE_ECANCELED);
    }
  lure__stash_unschedule(s);
  /* The executor may want the descriptor gone now too: a zero-copy send
   * on the ring ends only once the socket lets go of the caller's pages. */
  if (lure__stream_sock(s)->close != NULL && lure__stream_sock(s)->close(s))
    close_now = 1;
  lure__io_close(s->loop, &s->io_watcher);
  /* A listener stops listening now, as libuv's uv_close() makes it by
   * closing the descriptor at once: a connect made right after lure_close()
   * is refused instead of landing in the backlog of a socket about to go.
   * Only the descriptor goes (never shutdown(2), which would stop the
   * listen for every process and loop that shares the socket); the ring
   * has its accept and the cancel already (lure__stream_sock(s)->close). */
  if (close_now && s->io_watcher.fd >= 0) {
    if (s->io_watcher.fd > STDERR_FILENO)
      close(s->io_watcher.fd);
    s->io_watcher.fd = -1;
  }
  lure__queue_remove(&s->write_pending.queue);
  for (i = 0; i < s->accepted_count; i++)
    close(s->accepted_fds[i]);
  s->accepted_count = 0;
  for (i = 0; i < s->pending_count; i++)
    close(s->pending_fds[i]);
  s->pending_count = 0;
}

/* The closing phase, just before close_cb: cancelled callbacks, then the
 * descriptor goes (only now, once no ring operation can name it), unless
 * lure__stream_close() closed it already or it is one of fds 0-2. */
void lure__stream_finish_close(lure_stream_t *s) {
  lure_connect_t *creq = s->connect_req;

  if (creq != NULL) {
    s->connect_req = NULL;
    lure__req_unregister(s->loop, (lure_req_t *) creq);
    if (creq->cb != NULL)
      creq->cb(creq, LURE_ECANCELED);
  }
  lure__stream_run_write_cbs(s);
  if (s->shutdown_req != NULL)
    lure__stream_shutdown_done(s, LURE_ECANCELED);
  if (s->io_watcher.fd >= 0) {
    /* As libuv's: a stream never closes the standard descriptors, which
     * the program (or another handle opened on them) still uses. */
    if (s->io_watcher.fd > STDERR_FILENO)
      close(s->io_watcher.fd);
    s->io_watcher.fd = -1;
  }
  lure__stash_free(s); /* before the executor state it hangs off */
  lure__sock_stream_free(s);
  lure__free(s->accepted_fds);
  s->accepted_fds = NULL;
  s->accepted_cap = 0;
  lure__free(s->pending_fds);
  s->pending_fds = NULL;
  s->pending_cap = 0;
  if (s->type == LURE_NAMED_PIPE)
    lure__pipe_finish_close((lure_pipe_t *) s);
}
