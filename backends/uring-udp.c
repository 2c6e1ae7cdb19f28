/*
 * uring-udp.c - UDP handles on the ring.
 *
 * Field notes:
 * - Receives are readiness: the handle's io watcher, which is
 *   LURE__IO_NOHOLD (src/udp.c), so the ring watches it through the loop's
 *   epoll instance (uring-nest.c; a multishot POLL_ADD on the socket held
 *   it, and its port, 6-12 ms after a killed process was gone), and on
 *   POLLIN the core's recvmsg(2) loop straight into the alloc_cb buffer
 *   (backends/ready.c), up to 32 datagrams a turn, as libuv does.  Until
 *   stop 23 they were one multishot RECVMSG per handle into a shared
 *   buffer ring of 64 buffers of 68 KiB (a datagram takes a whole
 *   buffer): with more receiving handles than buffers the ring ran dry
 *   every turn, receives ended with ENOBUFS
 *   and waited to be armed again while the sockets overflowed (libuv's
 *   udp_pummel_100v100 received 7 % of what libuv did, 0.08-0.12x), and a
 *   handle that sends to itself paid a failed retry and a re-arm per
 *   datagram (ping_udp1 0.74-0.90x).  Readiness costs no memory per loop
 *   and scales with the handles; the figures are in the stop 23 note.
 * - Sends: the head of the queue goes out at once with sendmsg(2) when
 *   nothing is in the ring; otherwise (socket full, or replies made while a
 *   batch of completions is dispatched) the queue goes to the ring as a
 *   chain of SENDMSGs built just before the next wait.  The chain uses
 *   IOSQE_IO_LINK: each starts after the previous one finished, so
 *   datagrams leave in order.  An error (EMSGSIZE, ECONNREFUSED) fails its
 *   own send and breaks the chain: the sends behind it complete ECANCELED,
 *   stay queued and go with the next chain.  A send that comes back EAGAIN
 *   (no room; the ring polls for room itself, but 6.18 returned EAGAIN to
 *   a stream's send anyway, uring-send.c) or ENOBUFS stays queued
 *   likewise, and the next chain waits for POLLOUT: libuv never reports
 *   either for a send (it retries both), and datagrams keep their order.
 *   Before this, with IOSQE_IO_HARDLINK, the send after a failed one went
 *   on, and an EAGAIN reached the callback.  One chain per handle at a
 *   time.
 * - Closing: sends in the ring complete on their own (a datagram send only
 *   waits for room that frees by itself); the queue behind them is then
 *   tried once with sendmsg(2), as libuv would have sent it inside
 *   lure_udp_send(), and what the socket refuses gets LURE_ECANCELED.  The
 *   close completes (and its fd is closed) after the last CQE.
 */
#include <poll.h>
#include "uring-int.h"
#include "udp.h"

#define LURE__UDP_CHAIN 64

/* Hidden in the library, set only by tests: the next this many SENDMSGs of
 * UDP chains carry MSG_DONTWAIT, so one that finds no room completes
 * -EAGAIN at once, as a stream's send did on 6.18 without it
 * (uring-send.c). */
unsigned lure__uring_fault_udp_dontwait;

/* Hidden in the library, set only by tests: the next this many SENDMSGs of
 * UDP chains are NOPs the kernel completes -ENOBUFS (without sending). */
unsigned lure__uring_fault_udp_enobufs;

int lure__uring_udp_usable(lure_loop_t *loop) {
  struct lure__uring *st;
  static const int need[] = { IORING_OP_SENDMSG };

  if (loop->priv->backend != &lure__backend_uring)
    return 0;
  st = loop->priv->backend_data;
  return lure__uring_has_ops(st->ops, need, sizeof(need) / sizeof(need[0]));
}

static struct lure__uudp *lure__uudp(lure_udp_t *h) {
  struct lure__uudp *uu = h->exec_data;

  if (uu != NULL)
    return uu;
  uu = lure__calloc(1, sizeof(*uu));
  if (uu == NULL)
    return NULL;
  uu->h = h;
  lure__queue_init(&uu->dirty_link);
  lure__uring_track(h->loop, &uu->all_link, 1);
  h->exec_data = uu;
  return uu;
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
  uu->wait_out = 0;
  /* While a batch of completions, or of datagrams received, is dispatched,
   * replies wait for the chain built before the next wait: one
   * io_uring_enter for them all. */
  if (st->batch <= 2 && !(h->udp_flags & LURE__UDP_IN_RECV))
    (void) lure__udp_send_queued(h);
  if (!lure__queue_empty(&h->write_queue) &&
      lure__queue_empty(&uu->dirty_link))
    lure__queue_insert_tail(&st->udp_dirty, &uu->dirty_link);
}

/* Just before a wait: queued sends go to the ring as one ordered chain per
 * handle. */
void lure__uring_udp_build_chains(lure_loop_t *loop, struct lure__uring *st) {
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
      io_uring_prep_sendmsg(sqe, h->io_watcher.fd, &req->msg, MSG_NOSIGNAL);
      lure__uring_fault_dontwait(&lure__uring_fault_udp_dontwait, sqe);
      lure__uring_fault_inject(&lure__uring_fault_udp_enobufs, sqe, -ENOBUFS);
      io_uring_sqe_set_data64(sqe, lure__uring_pack(req, LURE__TAG_UDP_SEND));
      if (prev != NULL)
        prev->flags |= IOSQE_IO_LINK;
      prev = sqe;
      req->req_flags |= LURE__REQ_UDP_HELD;
      uu->sends++;
      h->exec_ops++;
    }
  }
}

static void lure__uudp_op_done(lure_udp_t *h) {
  h->exec_ops--;
  if (h->exec_ops == 0 && (h->flags & LURE__HANDLE_CLOSE_WAIT))
    lure__handle_close_ready((lure_handle_t *) h);
}

/* Closing: what libuv would have sent inside lure_udp_send() (the ring
 * path holds replies made during a batch for the next wait) goes out now,
 * in order, while the socket takes it; the rest is cancelled. */
static void lure__uudp_close_queue(lure_udp_t *h) {
  (void) lure__udp_send_queued(h);
  lure__udp_cancel_queued(h);
}

void lure__uring_udp_send_complete(lure_udp_send_t *req, int res) {
  lure_udp_t *h = req->handle;
  struct lure__uudp *uu = h->exec_data;

  req->req_flags &= (unsigned char) ~LURE__REQ_UDP_HELD;
  uu->sends--;
  /* Not sent: EAGAIN (no room), ENOBUFS (the same for a datagram: libuv
   * retries both, it never reports them to a send's callback), or
   * ECANCELED (the chain broke at an earlier send's error).  The request
   * stays queued in its place and goes with the next chain, after POLLOUT
   * for an EAGAIN or ENOBUFS. */
  if (res == -EAGAIN || res == -ENOBUFS)
    uu->wait_out = 1;
  else if (res != -ECANCELED)
    lure__udp_send_done(h, req, res == -EINTR ? LURE_ECANCELED : res);
  if (lure__handle_is_closing((lure_handle_t *) h)) {
    /* Callbacks run in the closing phase, in order: the chain's, then the
     * queue's (see lure__uring_udp_close). */
    if (uu->sends == 0)
      lure__uudp_close_queue(h);
  } else {
    if (uu->sends == 0) {
      /* The rest of the queue: now, or once the socket has room (the
       * handle's io watcher, backends/ready.c, calls udp_send then). */
      if (!uu->wait_out ||
          lure__io_start(h->loop, &h->io_watcher, POLLOUT) != 0)
        lure__uring_udp_send(h);
    }
    lure__udp_run_send_cbs(h);  /* they may close the handle */
  }
  lure__uudp_op_done(h);
}

/* ---- close, fork, free ---- */

void lure__uring_udp_close(lure_udp_t *h) {
  struct lure__uudp *uu = h->exec_data;

  if (uu == NULL) {
    lure__udp_cancel_queued(h);
    return;
  }
  lure__queue_remove(&uu->dirty_link);
  /* Sends the ring holds are not cancelled: the kernel has them, and a
   * datagram send only waits for room that frees by itself.  The close
   * completes after their CQEs; the queue behind them is settled then. */
  if (uu->sends == 0)
    lure__uudp_close_queue(h);
}

void lure__uring_udp_forget(lure_udp_t *h) {
  struct lure__uudp *uu = h->exec_data;
  struct lure__queue *q;
  lure_udp_send_t *req;

  h->exec_ops = 0;
  if (uu == NULL)
    return;
  uu->sends = 0;
  uu->wait_out = 0;
  lure__queue_init(&uu->dirty_link);
  lure__uring_track(h->loop, &uu->all_link, 1);
  lure__queue_foreach(q, &h->write_queue) {
    req = lure__container_of(q, lure_udp_send_t, queue);
    req->req_flags &= (unsigned char) ~LURE__REQ_UDP_HELD;
  }
}

void lure__uring_udp_free(lure_udp_t *h) {
  struct lure__uudp *uu = h->exec_data;

  if (uu == NULL)
    return;
  lure__queue_remove(&uu->dirty_link);
  lure__queue_remove(&uu->all_link);
  lure__free(uu);
  h->exec_data = NULL;
}
