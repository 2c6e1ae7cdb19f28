/*
 * uring-send.c - writes of streams on the ring (the write and sending
 * entries of lure__sock_uring, whose other entries are uring-stream.c).
 *
 * Field notes:
 * - One SEND (one buffer) or SENDMSG (several, or a descriptor to pass) in
 *   flight per stream, always from the head of the write queue, so bytes
 *   leave in submission order; short sends continue from where they
 *   stopped.  Plain requests queued behind the head join its SENDMSG (up
 *   to 64 buffers): small writes left behind a full socket then drain a
 *   batch per wake-up, not one ring round trip each.  MSG_NOSIGNAL: no
 *   SIGPIPE.
 * - A non-blocking send(2) first (sendmsg(2) gathering the requests behind
 *   the head, up to 1024 buffers) when the socket has room, the batch
 *   being dispatched is small (or the queue is longer than a SENDMSG of
 *   the ring takes), and the stream has made fewer than 16 such calls
 *   this tick (lure__ustream_try_send).  A burst of 200,000 writes of 13
 *   bytes (libuv's tcp_write_batch) leaves in 195 sendmsg(2)s.
 * - Zero copy (lure_write_zc) is SEND_ZC / SENDMSG_ZC on TCP: the request
 *   completes at the notification CQE (IORING_CQE_F_NOTIF), and a socket
 *   that answers EOPNOTSUPP gets the bytes as an ordinary send.
 * - A send that finds no SQE even after a flush is parked; the poll phase
 *   kicks the queue again (lure__uring_stream_unpark).
 * - A send can complete -EAGAIN although the ring polls for room itself
 *   (6.18, AF_UNIX, rarely).  Nothing was sent: a one-shot POLL_ADD for
 *   POLLOUT takes the send's slot, and the queue goes again at its CQE
 *   (lure__sop_send_wait).  Failing the request instead let the requests
 *   behind it go, and the peer read their bytes in its place.
 */

#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include "uring-int.h"
#include "stream.h"

/* Direct sends a stream makes per tick before its writes take the ring. */
#define LURE__TRY_SENDS_PER_TICK 16

/* Hidden in the library, set only by tests: the next this many ring sends
 * carry MSG_DONTWAIT, so that a full socket answers them EAGAIN at once
 * (as the kernel sometimes does without it, see lure__sop_send_done). */
unsigned lure__uring_fault_send_dontwait;

/* Hidden in the library, set only by tests: the next this many ring sends
 * are NOPs the kernel completes -ENOBUFS without sending. */
unsigned lure__uring_fault_send_enobufs;

/* Whether the request behind head can share its SENDMSG: plain requests
 * (no descriptor to pass, no zero copy) go out together, in order, so
 * that a queue of small writes left behind a full socket drains in one
 * operation per wake-up instead of one ring round trip each. */
static int lure__ustream_joinable(const lure_write_t *req) {
  return req->send_handle == NULL && !(req->req_flags & LURE__REQ_ZC);
}

/* Fill iov (cap entries) from the head request on, across the queued
 * requests that may join it (lure__ustream_joinable); returns the count. */
static unsigned lure__ustream_gather(lure_stream_t *s, lure_write_t *head,
                                     struct iovec *iov, unsigned cap) {
  return lure__stream_write_gather(s, head, iov, cap, LURE__REQ_ZC);
}

/* Buffers one direct send may gather: IOV_MAX on Linux. */
#define LURE__TRY_GATHER 1024

/* A non-blocking send(2) before falling back to a ring SEND: when the socket
 * has room (the common case for replies) the bytes leave now and the next
 * io_uring_enter only has to wait for input, instead of being woken by the
 * SEND's own completion.  The requests queued behind the head go in the
 * same call (sendmsg(2), up to LURE__TRY_GATHER buffers).  Returns 1 when
 * all it sent went (or the head failed): try again with the next head; 2
 * when the socket took only part (the rest takes the ring); 0 when it did
 * not try or the socket was full. */
static int lure__ustream_try_send(lure_stream_t *s, struct lure__ustream *us,
                                  lure_write_t *req) {
  struct lure__uring *st = s->loop->priv->backend_data;
  const unsigned ring_cap = sizeof(us->iov) / sizeof(us->iov[0]);
  struct iovec iov[LURE__TRY_GATHER];
  unsigned n;
  ssize_t r;

  if (req->send_handle != NULL)
    return 0;
  /* A burst of writes on one stream within one tick (a producer queueing
   * many small writes in one callback, pipelined replies) takes the ring
   * after the first few calls: the rest queue behind one SEND and leave
   * gathered (here at the next tick, or in the ring's SENDMSG when the
   * socket is full), instead of a send(2) each, which also hands the peer
   * fewer, larger segments. */
  if (us->try_tick != s->loop->priv->stats.ticks) {
    us->try_tick = s->loop->priv->stats.ticks;
    us->try_n = 0;
  }
  if (us->try_n >= LURE__TRY_SENDS_PER_TICK)
    return 0;
  /* Replies made while a batch of several completions is dispatched go
   * through the ring instead: they leave together with the next wait, one
   * io_uring_enter for the whole batch instead of a send(2) each.  Not a
   * queue longer than a SENDMSG of the ring takes. */
  if (st->batch > 2) {
    if (lure__ustream_gather(s, req, iov, ring_cap + 1) <= ring_cap)
      return 0;
  }
  n = lure__ustream_gather(s, req, iov, LURE__TRY_GATHER);
  us->try_n++;
  r = lure__stream_sendv(s, iov, n, NULL, MSG_DONTWAIT);
  if (r == LURE_EAGAIN)
    return 0;
  if (r < 0) {
    lure__stream_write_fail(s, req, (int) r);
    return 1;
  }
  return lure__stream_write_took(s, req, (size_t) r) ? 1 : 2;
}

/* Whether a request queued behind head could join its send. */
static int lure__ustream_has_joiner(const lure_stream_t *s,
                                    const lure_write_t *head) {
  const struct lure__queue *q = head->queue.next;

  return lure__ustream_joinable(head) && q != &s->write_queue &&
         lure__ustream_joinable(
             lure__container_of(q, const lure_write_t, queue));
}

void lure__uring_stream_write(lure_stream_t *s) {
  struct lure__ustream *us = lure__ustream(s);
  struct io_uring_sqe *sqe;
  struct cmsghdr *cm;
  lure_write_t *req;
  unsigned n;
  int tried = 0; /* 2: a direct send found the socket full */
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
         lure__uring_has_op(((struct lure__uring *) s->loop->priv->backend_data)->ops,
                      req->nbufs - req->write_index == 1 ? IORING_OP_SEND_ZC
                                                         : IORING_OP_SENDMSG_ZC);
    if (!zc && tried == 0) {
      tried = lure__ustream_try_send(s, us, req);
      if (tried == 1) {
        tried = 0;
        continue;
      }
      if (tried == 2)
        continue; /* the head moved on; the socket is full */
    }
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
               !lure__ustream_has_joiner(s, req) &&
               !(req->send_handle != NULL && req->write_index == 0 &&
                 req->offset == 0)) {
      io_uring_prep_send(sqe, s->io_watcher.fd,
                         req->bufs[req->write_index].base + req->offset,
                         req->bufs[req->write_index].len - req->offset,
                         MSG_NOSIGNAL);
    } else {
      /* A zero-copy head or one with a descriptor is not joinable: it
       * goes alone. */
      n = lure__ustream_gather(s, req, us->iov,
                               sizeof(us->iov) / sizeof(us->iov[0]));
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
    lure__uring_fault_dontwait(&lure__uring_fault_send_dontwait, sqe);
    lure__uring_fault_inject(&lure__uring_fault_send_enobufs, sqe, -ENOBUFS);
    lure__sop_set(sqe, &us->send_op);
    return;
  }
}

int lure__uring_stream_sending(const lure_stream_t *s) {
  const struct lure__ustream *us = s->exec_data;

  return us != NULL && us->send_op.armed;
}

/* A send the kernel answered EAGAIN: wait for POLLOUT in the send's slot
 * (a one-shot POLL_ADD tagged as the send), then send again.  Without an
 * SQE the poll phase sends again (a parked send). */
static void lure__sop_send_wait(lure_stream_t *s, struct lure__ustream *us) {
  struct io_uring_sqe *sqe = lure__sop_sqe(s, &us->send_op);

  if (sqe == NULL) {
    lure__ustream_park(s, us, LURE__PARK_SEND);
    return;
  }
  us->send_wait = 1;
  io_uring_prep_poll_add(sqe, s->io_watcher.fd, POLLOUT);
  lure__sop_set(sqe, &us->send_op);
}

static void lure__sop_send_done(lure_stream_t *s, struct lure__ustream *us,
                                int res) {
  lure_write_t *req;

  us->send_op.armed = 0;
  if (lure__queue_empty(&s->write_queue))
    return;
  req = lure__container_of(lure__queue_head(&s->write_queue), lure_write_t,
                           queue);
  if (res == -EAGAIN || res == -ENOBUFS) {
    /* Nothing was sent: the socket is full (ENOBUFS: no memory for it
     * now, which libuv treats as EAGAIN too).  The ring arms its own poll
     * for a send that finds no room, yet a send can still come back
     * EAGAIN (seen on 6.18 with an AF_UNIX stream whose reader had
     * stopped: 1 run in 20 of lure-diff's seed 198, and the request
     * failed with the bytes behind it already queued, so the peer read
     * the next request's bytes in its place).  It is never the caller's
     * error: wait for room and send again; a closing stream writes what
     * the socket takes now. */
    if (lure__handle_is_closing((lure_handle_t *) s))
      lure__stream_close_writes(s);
    else
      lure__sop_send_wait(s, us);
    return;
  }
  if (res < 0) {
    /* A closing stream's writes that did not complete were cancelled by
     * the close, whatever ended the send (libuv fails every write pending
     * at uv_close() with ECANCELED): the peer's reset of a socket closed
     * at once (a readiness stream, as libuv closes it) can beat the
     * cancel of the SEND. */
    lure__stream_write_fail(s, req,
                            lure__handle_is_closing((lure_handle_t *) s)
                                ? LURE_ECANCELED
                                : res);
  } else {
    /* A descriptor rides on the first byte only. */
    if (res > 0 && req->send_handle != NULL)
      req->send_handle = NULL;
    /* The bytes of a gathered send cover the head request, then the ones
     * that joined it, in queue order. */
    if (!lure__stream_write_took(s, req, (size_t) res) &&
        lure__handle_is_closing((lure_handle_t *) s))
      lure__stream_write_fail(
          s,
          lure__container_of(lure__queue_head(&s->write_queue), lure_write_t,
                             queue),
          LURE_ECANCELED);
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

/* A CQE of the stream's SEND or SENDMSG (zero copy or not), from
 * lure__uring_sock_complete. */
void lure__uring_send_complete(lure_stream_t *s, struct lure__ustream *us,
                               int res, unsigned flags) {
  if (us->send_wait) {
    /* The POLLOUT of lure__sop_send_wait: the socket has room (or an
     * error, which the next send reports), or the poll was cancelled by
     * a close. */
    us->send_wait = 0;
    us->send_op.armed = 0;
    if (lure__handle_is_closing((lure_handle_t *) s)) {
      lure__stream_close_writes(s);
      return;
    }
    /* A direct send may finish requests here: their callbacks too. */
    lure__uring_stream_write(s);
    lure__stream_write_done_now(s);
    return;
  }
  if (us->send_zc) {
    /* SEND_ZC posts the result (with F_MORE when a notification
     * follows), then IORING_CQE_F_NOTIF once the kernel let go of the
     * pages: only then may the caller reuse the buffer. */
    if (!(flags & IORING_CQE_F_NOTIF)) {
      us->zc_res = res;
      if (flags & IORING_CQE_F_MORE)
        return;
    }
    us->send_zc = 0;
    if (us->zc_res == -EOPNOTSUPP &&
        !lure__handle_is_closing((lure_handle_t *) s) &&
        !lure__queue_empty(&s->write_queue)) {
      /* A socket without zero copy after all: send it plainly. */
      lure_write_t *head = lure__container_of(
          lure__queue_head(&s->write_queue), lure_write_t, queue);

      head->req_flags &= ~LURE__REQ_ZC;
      us->send_op.armed = 0;
      lure__uring_stream_write(s);
      return;
    }
    lure__sop_send_done(s, us, us->zc_res);
    return;
  }
  lure__sop_send_done(s, us, res);
}
