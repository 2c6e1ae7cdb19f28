/*
 * uring-udp.c - UDP handles on the ring.
 *
 * Field notes:
 * - Receives are one multishot RECVMSG per handle (6.0) selecting buffers
 *   from a second provided-buffer ring: a datagram takes a whole buffer
 *   (io_uring_recvmsg_out, the peer's address, then the payload), so each
 *   holds 64 KiB of payload, more than any UDP datagram carries.  The
 *   datagram is copied into the alloc_cb buffer (LURE_UDP_PARTIAL when it
 *   does not fit, as recvmsg(2) would truncate it) and the ring buffer goes
 *   straight back.
 * - Datagrams that complete after lure_udp_recv_stop() (the multishot is
 *   being cancelled) go to the core all the same (lure__udp_feed), whose
 *   stash keeps them for the next lure_udp_recv_start() (src/udp.c), so
 *   none is lost, repeated or reordered.
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
#include <string.h>
#include "uring-int.h"
#include "udp.h"

#define LURE__UDP_BGID 8
#define LURE__UDP_BR_ENTRIES 64
#define LURE__UDP_BR_BUFSIZE (65536 + 4096)
#define LURE__UDP_CHAIN 64

struct lure__uudp {
  struct lure__exec_state head; /* first: the core's stash hangs here */
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
      !lure__uring_has_ops(st->ops, need, sizeof(need) / sizeof(need[0])))
    return 0;
  if (st->udp_bufring == NULL) {
    st->udp_bufring = lure__uring_bufring_new(loop, LURE__UDP_BGID,
                                              LURE__UDP_BR_ENTRIES,
                                              LURE__UDP_BR_BUFSIZE, 0, 0);
    if (st->udp_bufring == NULL) {
      st->no_udp = 1;
      return 0;
    }
  }
  return 1;
}

static struct lure__uudp *lure__uudp(lure_udp_t *h) {
  struct lure__uudp *uu = h->exec_data;

  if (uu != NULL)
    return uu;
  uu = lure__calloc(1, sizeof(*uu));
  if (uu == NULL)
    return NULL;
  uu->h = h;
  uu->rmsg.msg_namelen = sizeof(struct sockaddr_storage);
  lure__queue_init(&uu->dirty_link);
  h->exec_data = uu;
  return uu;
}

/* ---- receiving ---- */

static int lure__uudp_arm_recv(lure_udp_t *h, struct lure__uudp *uu) {
  struct lure__uring *st = h->loop->priv->backend_data;
  struct io_uring_sqe *sqe = lure__uring_sqe(h->loop, st);

  if (sqe == NULL)
    return LURE_EAGAIN;
  uu->recv_multi = lure__uring_has_op(st->ops, LURE__FEAT_RECV_MULTISHOT);
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
  io_uring_sqe_set_data64(sqe, lure__uring_pack(uu, LURE__TAG_UDP));
  uu->recv_armed = 1;
  h->exec_ops++;
  return 0;
}

static int lure__uudp_receiving(const lure_udp_t *h) {
  return (h->udp_flags & LURE__UDP_RECEIVING) &&
         !lure__handle_is_closing((const lure_handle_t *) h);
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
      lure__uring_feat_drop(st, LURE__FEAT_RECV_MULTISHOT);
      if (lure__uudp_receiving(h))
        (void) lure__uudp_arm_recv(h, uu);
      return;
    }
  }
  if (!uu->recv_multi) {
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;

    /* An empty datagram may come without a buffer. */
    if (res >= 0)
      lure__udp_feed(h, res,
                     (flags & IORING_CQE_F_BUFFER)
                         ? b->bufs + (size_t) bid * b->size : NULL,
                     (const struct sockaddr *) &uu->oaddr,
                     uu->omsg.msg_namelen,
                     (uu->omsg.msg_flags & MSG_TRUNC) ? LURE_UDP_PARTIAL : 0);
    if (flags & IORING_CQE_F_BUFFER)
      lure__uring_bufring_put(b, bid);
  } else if (flags & IORING_CQE_F_BUFFER) {
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
    char *mem = b->bufs + (size_t) bid * b->size;

    if (res >= 0 &&
        (out = io_uring_recvmsg_validate(mem, res, &uu->rmsg)) != NULL) {
      socklen_t alen = out->namelen;
      unsigned uflags = (out->flags & MSG_TRUNC) ? LURE_UDP_PARTIAL : 0;

      if (alen > uu->rmsg.msg_namelen)
        alen = uu->rmsg.msg_namelen;
      lure__udp_feed(h,
                     (ssize_t) io_uring_recvmsg_payload_length(
                         out, res, &uu->rmsg),
                     io_uring_recvmsg_payload(out, &uu->rmsg),
                     (const struct sockaddr *) io_uring_recvmsg_name(out),
                     alen, uflags);
    }
    lure__uring_bufring_put(b, bid);
  }
  if (lure__handle_is_closing((lure_handle_t *) h))
    return;
  /* An error (ECONNREFUSED on a connected socket after an ICMP) ends the
   * multishot: report it in order, then go on receiving. */
  if (res < 0 && res != -ENOBUFS && res != -ECANCELED && res != -EINTR)
    lure__udp_feed(h, res, NULL, NULL, 0, 0);
  if (!uu->recv_armed && lure__uudp_receiving(h))
    (void) lure__uudp_arm_recv(h, uu);
}

int lure__uring_udp_recv(lure_udp_t *h) {
  struct lure__uudp *uu = lure__uudp(h);

  if (uu == NULL)
    return LURE_ENOMEM;
  if (uu->recv_armed)
    return 0; /* still armed, or its cancellation is under way: re-armed
                 from its final CQE if we are receiving by then */
  return lure__uudp_arm_recv(h, uu);
}

void lure__uring_udp_recv_stop(lure_udp_t *h) {
  struct lure__uudp *uu = h->exec_data;

  if (uu == NULL)
    return;
  if (uu->recv_armed && !uu->recv_canceling) {
    uu->recv_canceling = 1;
    (void) lure__uring_cancel(h->loop, lure__uring_pack(uu, LURE__TAG_UDP));
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
      io_uring_sqe_set_data64(sqe, lure__uring_pack(req, LURE__TAG_UDP_SEND));
      if (prev != NULL)
        prev->flags |= IOSQE_IO_HARDLINK;
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

void lure__uring_udp_recv_cqe(struct lure__uudp *uu, int res,
                                unsigned flags) {
  lure_udp_t *h = uu->h;

  lure__uudp_recv_done(h, uu, res, flags);
  if (!(flags & IORING_CQE_F_MORE))
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
  if (uu->recv_armed && !uu->recv_canceling) {
    uu->recv_canceling = 1;
    (void) lure__uring_cancel(h->loop, lure__uring_pack(uu, LURE__TAG_UDP));
  }
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
  uu->recv_armed = 0;
  uu->recv_canceling = 0;
  uu->sends = 0;
  lure__queue_init(&uu->dirty_link);
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
  lure__free(uu);
  h->exec_data = NULL;
}
