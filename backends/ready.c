/*
 * ready.c - readiness as a socket executor: an fd watcher on the wait point
 * (POLL_ADD through the ring, or epoll) plus non-blocking system calls, as
 * libuv does everywhere.  It serves every stream and UDP handle when the
 * loop has no ring (or the ring lacks the socket opcodes), pipes and
 * terminals always, IPC pipes always (a descriptor rides on each recvmsg),
 * a ring socket's fallbacks (an accept after EMFILE, a read the ring
 * could not take, a connect that was under way in a forked parent), and
 * every new stream the ring could serve until it moves there: its
 * readiness events and its writes are counted (lure__stream_warm_count),
 * and the end of an event is one of the points where it may move
 * (src/stream.c, lure__stream_warm_move).
 *
 * Field notes:
 * - Reads: up to 32 reads per readiness event, each into a buffer alloc_cb
 *   gave (or a borrowed one); a short read means the socket is drained.
 *   EAGAIN gives the buffer back with a 0-byte read_cb, as libuv does.
 * - Writes: the queue goes out with writev(2) or sendmsg(2) (MSG_NOSIGNAL)
 *   while the socket takes it, the requests behind the head gathered into
 *   the same call (up to LURE__READY_GATHER buffers; a request that
 *   carries a descriptor goes alone); POLLOUT is watched only while bytes
 *   wait.  A burst of small writes from one callback (libuv's
 *   tcp_write_batch: 200,000 writes of 13 bytes) makes at most
 *   LURE__READY_WRITES_PER_TICK direct writes per stream and tick; the
 *   rest wait for the next poll, which finds the socket writable, and
 *   leave in a few gathered writes instead of one system call each.  The
 *   loop remembers only the last stream that wrote: streams that take
 *   turns, one write each (a server answering many connections), all
 *   write at once.  Closing a stream writes what the socket takes of such
 *   held writes (LURE__STREAM_HELD), as libuv's would have gone out inside
 *   uv_write().
 * - Accepts: accept4(2) until EAGAIN, paused while a connection waits for
 *   lure_accept() (libuv's rule).  EMFILE is the core's (stream.c).
 * - Connect: connect(2) is made by the core (its errors are libuv's
 *   semantics); its end is POLLOUT here, read with SO_ERROR.
 * - UDP: one recvmsg(2) per datagram into alloc_cb's buffer, up to 32 per
 *   event; sends with sendmsg(2) in queue order, POLLOUT while some wait.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "internal.h"
#include "stream.h"
#include "udp.h"

/* ---- streams: writes --------------------------------------------------- */

#define LURE__READY_WRITES_PER_TICK 16
#define LURE__READY_GATHER 1024 /* IOV_MAX on Linux */

/* The head request's next bytes, and those of the requests behind it
 * while none carries a descriptor; the head's handle goes with its first
 * byte. */
static ssize_t lure__ready_send(lure_stream_t *s, lure_write_t *head) {
  struct iovec iov[LURE__READY_GATHER];
  unsigned n = lure__stream_write_gather(s, head, iov, LURE__READY_GATHER, 0);

  return lure__stream_sendv(s, iov, n,
                            head->write_index == 0 && head->offset == 0
                                ? head->send_handle
                                : NULL,
                            0);
}

/* Write the queue, in order, while the descriptor takes it; 1 when it
 * stopped because the descriptor is full, or (closing) at an error, which
 * then fails no request: the caller cancels what is left. */
static int lure__ready_write_now(lure_stream_t *s, int closing) {
  lure_write_t *req;
  ssize_t r;

  while (!lure__queue_empty(&s->write_queue)) {
    req = lure__container_of(lure__queue_head(&s->write_queue), lure_write_t,
                             queue);
    r = lure__ready_send(s, req);
    if (r == LURE_EAGAIN || (r < 0 && closing))
      return 1;
    if (r < 0) {
      lure__stream_write_fail(s, req, (int) r);
      continue;
    }
    /* The bytes written, to the requests in order; one left short means
     * the socket took what it could (EAGAIN next time if it is full). */
    (void) lure__stream_write_took(s, req, (size_t) r);
  }
  return 0;
}

static void lure__ready_write_all(lure_stream_t *s) {
  s->stream_flags &= ~(unsigned) LURE__STREAM_HELD;
  if (lure__ready_write_now(s, 0))
    (void) lure__io_start(s->loop, &s->io_watcher, POLLOUT);
  else
    lure__io_stop(s->loop, &s->io_watcher, POLLOUT);
}

/* The write of lure_write() into an empty queue: at once, unless the same
 * stream has written LURE__READY_WRITES_PER_TICK times in this tick; then
 * the queue waits for the next poll, which finds the socket writable. */
static void lure__ready_write(lure_stream_t *s) {
  struct lure__loop_priv *p = s->loop->priv;

  if (s->stream_flags & LURE__STREAM_WARMING)
    lure__stream_warm_count(s);

  if (p->ready_wr_stream != s || p->ready_wr_tick != p->stats.ticks) {
    p->ready_wr_stream = s;
    p->ready_wr_tick = p->stats.ticks;
    p->ready_wr_n = 0;
  }
  if (++p->ready_wr_n > LURE__READY_WRITES_PER_TICK &&
      lure__io_start(s->loop, &s->io_watcher, POLLOUT) == 0) {
    s->stream_flags |= LURE__STREAM_HELD;
    return;
  }
  lure__ready_write_all(s);
}

/* Closing a ring stream whose head write was in the ring: the writes behind
 * it were queued only because of it, where libuv would have written them
 * inside uv_write().  Write what the socket takes now, in order; what it
 * does not take is cancelled, also after an error (the peer's reset of a
 * socket whose close was under way is no failure of the write: libuv
 * cancels every write pending at uv_close()). */
void lure__stream_close_writes(lure_stream_t *s) {
  /* Not if the descriptor went already (the ring's zero-copy close). */
  if (s->io_watcher.fd >= 0)
    (void) lure__ready_write_now(s, 1);
  while (!lure__queue_empty(&s->write_queue))
    lure__stream_write_fail(
        s, lure__container_of(lure__queue_head(&s->write_queue), lure_write_t,
                              queue),
        LURE_ECANCELED);
}

/* ---- streams: reads ------------------------------------------------------ */

static void lure__ready_take_fds(lure_stream_t *s, struct msghdr *msg) {
  struct cmsghdr *cm;
  int fds[16];
  size_t n;
  size_t i;

  for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
      continue;
    n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    if (n > 16)
      n = 16;
    memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
    for (i = 0; i < n; i++) {
      if (s->pending_count == s->pending_cap) {
        unsigned cap = s->pending_cap ? s->pending_cap * 2 : 4;
        int *p = lure__realloc(s->pending_fds, cap * sizeof(int));
        if (p == NULL) {
          close(fds[i]);
          continue;
        }
        s->pending_fds = p;
        s->pending_cap = cap;
      }
      s->pending_fds[s->pending_count++] = fds[i];
    }
  }
}

static void lure__ready_read(lure_stream_t *s) {
  union {
    char buf[CMSG_SPACE(16 * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct msghdr msg;
  struct iovec iov;
  lure_buf_t buf;
  ssize_t n;
  int count = 32;
  int ipc = s->type == LURE_NAMED_PIPE && ((lure_pipe_t *) s)->ipc;

  while ((s->stream_flags & LURE__STREAM_READING) && count-- > 0) {
    buf.base = NULL;
    buf.len = 0;
    if (s->stream_flags & LURE__STREAM_BORROW) {
      buf.base = lure__borrow_alloc(s->loop, LURE__BORROW_SIZE);
      buf.len = buf.base != NULL ? LURE__BORROW_SIZE : 0;
    } else {
      s->alloc_cb((lure_handle_t *) s, 65536, &buf);
    }
    if (buf.base == NULL || buf.len == 0) {
      s->read_cb(s, LURE_ENOBUFS, &buf);
      return;
    }
    if (ipc) {
      memset(&msg, 0, sizeof(msg));
      iov.iov_base = buf.base;
      iov.iov_len = buf.len;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = ctl.buf;
      msg.msg_controllen = sizeof(ctl.buf);
      do
        n = recvmsg(s->io_watcher.fd, &msg, MSG_CMSG_CLOEXEC);
      while (n < 0 && errno == EINTR);
      if (n >= 0)
        lure__ready_take_fds(s, &msg);
    } else {
      do
        n = read(s->io_watcher.fd, buf.base, buf.len);
      while (n < 0 && errno == EINTR);
    }
    if (n <= 0 && (s->stream_flags & LURE__STREAM_BORROW)) {
      /* Nothing lent: the buffer goes back here and the callback sees
       * none (a borrowed read never reports 0 bytes). */
      int err = n < 0 ? errno : 0;
      static const lure_buf_t none = { NULL, 0 };

      lure_buf_release(s->loop, &buf);
      if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK))
        return;
      lure__stream_deliver(s, n == 0 ? LURE_EOF : -err, &none);
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        s->read_cb(s, 0, &buf); /* gives the buffer back */
        return;
      }
      lure__stream_deliver(s, -errno, &buf);
      return;
    }
    if (n == 0) {
      lure__stream_deliver(s, LURE_EOF, &buf);
      return;
    }
    s->read_cb(s, n, &buf);
    if ((size_t) n < buf.len)
      return; /* drained */
  }
}

/* ---- streams: accept, connect, dispatch ---------------------------------- */

static void lure__ready_accept(lure_stream_t *s) {
  int fd;

  while (s->stream_flags & LURE__STREAM_LISTENING) {
    /* Like libuv, stop taking connections while the user has not accepted
     * the last one. */
    if (s->accepted_count > 0) {
      lure__io_stop(s->loop, &s->io_watcher, POLLIN);
      return;
    }
    fd = accept4(s->io_watcher.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      if (errno == ECONNABORTED)
        continue;
      lure__stream_connection(s, -errno);
      return;
    }
    lure__stream_connection(s, fd);
  }
}

static void lure__ready_connect_end(lure_stream_t *s) {
  int err = 0;
  socklen_t len = sizeof(err);

  if (getsockopt(s->io_watcher.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  if (err == EINPROGRESS)
    return;
  /* POLLOUT stays only for a readiness stream with writes to make; a ring
   * stream sends through its own SEND requests. */
  if (lure__queue_empty(&s->write_queue) || !lure__stream_on_readiness(s))
    lure__io_stop(s->loop, &s->io_watcher, POLLOUT);
  lure__stream_connect_done(s, -err);
}

static void lure__ready_stream_io(lure_loop_t *loop, struct lure__io *w,
                            unsigned revents) {
  lure_stream_t *s = lure__container_of(w, lure_stream_t, io_watcher);

  if (s->connect_req != NULL) {
    lure__ready_connect_end(s);
    if (lure__handle_is_closing((lure_handle_t *) s))
      return;
    revents &= ~POLLOUT;
  }
  if (s->stream_flags & LURE__STREAM_LISTENING) {
    if (revents & (POLLIN | POLLERR | POLLHUP))
      lure__ready_accept(s);
    return;
  }
  if ((revents & (POLLIN | POLLERR | POLLHUP)) &&
      (s->stream_flags & LURE__STREAM_READING))
    lure__ready_read(s);
  if (lure__handle_is_closing((lure_handle_t *) s) || s->io_watcher.fd < 0)
    return;
  if ((revents & (POLLOUT | POLLERR | POLLHUP)) &&
      lure__stream_on_readiness(s) &&
      !lure__queue_empty(&s->write_queue) && s->connect_req == NULL) {
    lure__ready_write_all(s);
    lure__stream_write_done_now(s);
  }
  if (s->stream_flags & LURE__STREAM_WARMING) {
    lure__stream_warm_count(s);
    lure__stream_warm_move(s);
  }
}

/* ---- UDP ------------------------------------------------------------------ */

/* Readiness: send queued datagrams while the socket takes them, and wait
 * for room for the rest. */
static void lure__ready_udp_flush(lure_udp_t *h) {
  if (lure__udp_send_queued(h))
    (void) lure__io_start(h->loop, &h->io_watcher, POLLOUT);
  else
    lure__io_stop(h->loop, &h->io_watcher, POLLOUT);
}

static void lure__ready_udp_recv_loop(lure_udp_t *h) {
  struct sockaddr_storage peer;
  struct msghdr msg;
  lure_buf_t buf;
  ssize_t n;
  int count = 32;

  while ((h->udp_flags & LURE__UDP_RECEIVING) && count-- > 0) {
    buf.base = NULL;
    buf.len = 0;
    h->alloc_cb((lure_handle_t *) h, 65536, &buf);
    if (buf.base == NULL || buf.len == 0) {
      h->recv_cb(h, LURE_ENOBUFS, &buf, NULL, 0);
      return;
    }
    memset(&msg, 0, sizeof(msg));
    memset(&peer, 0, sizeof(peer));
    msg.msg_name = &peer;
    msg.msg_namelen = sizeof(peer);
    msg.msg_iov = (struct iovec *) &buf;
    msg.msg_iovlen = 1;
    do
      n = recvmsg(h->io_watcher.fd, &msg, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        h->recv_cb(h, 0, &buf, NULL, 0); /* nothing more: buffer back */
      else
        h->recv_cb(h, -errno, &buf, NULL, 0);
      return;
    }
    h->recv_cb(h, n, &buf, (struct sockaddr *) &peer,
               (msg.msg_flags & MSG_TRUNC) ? LURE_UDP_PARTIAL : 0);
  }
}

/* Up to 32 datagrams a turn, as libuv reads them, with the handle flagged
 * so that a ring handle's replies made meanwhile wait for one chain
 * (LURE__UDP_IN_RECV, backends/uring-udp.c). */
static void lure__ready_udp_recv_now(lure_udp_t *h) {
  h->udp_flags |= LURE__UDP_IN_RECV;
  lure__ready_udp_recv_loop(h);
  h->udp_flags &= ~(unsigned) LURE__UDP_IN_RECV;
}

static void lure__ready_udp_io(lure_loop_t *loop, struct lure__io *w,
                         unsigned revents) {
  lure_udp_t *h = lure__container_of(w, lure_udp_t, io_watcher);

  if (revents & (POLLIN | POLLERR))
    lure__ready_udp_recv_now(h);
  if (lure__handle_is_closing((lure_handle_t *) h))
    return;
  /* A handle of the ring's table receives here too, but its sends are the
   * ring's (the head of its queue may be a SENDMSG in flight); it watches
   * POLLOUT only after a send came back EAGAIN (uring-udp.c). */
  if ((revents & POLLOUT) && lure__udp_sock(h) != &lure__sock_ready) {
    lure__io_stop(loop, w, POLLOUT);
    lure__udp_sock(h)->udp_send(h);
    lure__udp_run_send_cbs(h);
    return;
  }
  if ((revents & (POLLOUT | POLLERR)) &&
      lure__udp_sock(h) == &lure__sock_ready &&
      !lure__queue_empty(&h->write_queue)) {
    lure__ready_udp_flush(h);
    lure__udp_run_send_cbs(h);
  }
}

/* ---- the table ------------------------------------------------------------- */

static int lure__ready_usable(const lure_loop_t *loop) {
  (void) loop;
  return 1;
}

static int lure__ready_udp_usable(lure_loop_t *loop) {
  (void) loop;
  return 1;
}

static int lure__ready_watch_in(lure_stream_t *s) {
  return lure__io_start(s->loop, &s->io_watcher, POLLIN);
}

static void lure__ready_read_stop(lure_stream_t *s) {
  lure__io_stop(s->loop, &s->io_watcher, POLLIN);
}

/* Nothing names the descriptor but the watcher, which lure__stream_close()
 * takes out of the wait point first: it goes at once, as libuv's does, so
 * the peer sees the FIN inside the callback that closed the stream rather
 * than after the tick's last callback. */
static int lure__ready_close(lure_stream_t *s) {
  (void) s;
  return 1;
}

const struct lure__sock_ops lure__sock_ready = {
  LURE__EXEC_EPOLL,
  0,                        /* holds_ops */
  lure__ready_usable,
  lure__ready_watch_in,     /* accept: POLLIN on the listener */
  NULL,                     /* connect: connect(2) in the core */
  lure__ready_watch_in,     /* read_start */
  lure__ready_read_stop,
  lure__ready_write,
  NULL,                     /* sending: a write is never held */
  lure__ready_close,
  NULL,                     /* forget */
  NULL,                     /* free */
  lure__ready_udp_usable,
  lure__udp_watch_in,
  NULL,                     /* udp_recv_stop: the core stops POLLIN */
  lure__ready_udp_flush,
  lure__udp_cancel_queued,  /* udp_close */
  NULL,                     /* udp_forget */
  NULL,                     /* udp_free */
  NULL,                     /* buf_release: borrowed buffers are the core's */
  NULL,                     /* buffers_lent */
  lure__ready_stream_io,
  lure__ready_udp_io,
};
