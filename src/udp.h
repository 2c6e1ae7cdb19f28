/*
 * udp.h - what udp.c shares with the ring's UDP path in backends/uring.c.
 */
#ifndef LURE_UDP_H
#define LURE_UDP_H

#include "internal.h"

/* udp_flags */
enum {
  LURE__UDP_RECEIVING = 0x1,
  LURE__UDP_BOUND = 0x2,
  LURE__UDP_CONNECTED = 0x4,
  LURE__UDP_RING = 0x8,     /* datagrams move through ring operations */
  LURE__UDP_DECIDED = 0x10, /* LURE__UDP_RING was settled */
  LURE__UDP_REARM = 0x20    /* after lure_loop_fork: arm the ring receive
                               when the loop next runs its pending phase */
};

/* lure_udp_send_t req_flags: a SENDMSG for it is in the ring. */
#define LURE__REQ_UDP_RING 0x20

/* udp.c */
/* Send the queue with sendmsg(2), in order, while the socket takes it;
 * 1 when it stopped because the socket is full (or short of buffers). */
int lure__udp_send_queued(lure_udp_t *h);
/* req left the queue with status (bytes or a negative errno); its callback
 * is due. */
void lure__udp_send_done(lure_udp_t *h, lure_udp_send_t *req, ssize_t status);
void lure__udp_run_send_cbs(lure_udp_t *h);
/* A datagram that arrived in a buffer of the ring (nread bytes at data), or
 * an error (nread < 0), handed to alloc_cb/recv_cb.  Returns -1 when
 * alloc_cb gave no buffer (recv_cb got LURE_ENOBUFS; the caller keeps the
 * datagram), else 0. */
int lure__udp_deliver(lure_udp_t *h, ssize_t nread, const char *data,
                      const struct sockaddr *addr, unsigned flags);
/* Fail every queued send the ring does not hold (closing). */
void lure__udp_cancel_queued(lure_udp_t *h);
void lure__udp_after_fork(lure_udp_t *h);

/* The ring's UDP path (backends/uring.c).  usable: the loop's wait point is
 * the ring, RECVMSG/SENDMSG/ASYNC_CANCEL are probed and not masked, and the
 * datagram buffer ring could be registered.  recv returns 0 when the ring
 * took the multishot receive or a negative errno (the caller then uses
 * readiness).  send hands the queue to the ring: the head may go out now
 * with sendmsg(2), the rest as ordered SENDMSGs with the next wait. */
int lure__uring_udp_usable(lure_loop_t *loop);
int lure__uring_udp_recv(lure_udp_t *h);
void lure__uring_udp_recv_stop(lure_udp_t *h);
void lure__uring_udp_send(lure_udp_t *h);
void lure__uring_udp_close(lure_udp_t *h);
void lure__uring_udp_forget(lure_udp_t *h);
void lure__uring_udp_free(lure_udp_t *h);

#endif /* LURE_UDP_H */
