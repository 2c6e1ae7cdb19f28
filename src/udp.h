/*
 * udp.h - what udp.c shares with the socket executors
 * (backends/uring-udp.c, backends/ready.c).
 */
#ifndef LURE_UDP_H
#define LURE_UDP_H

#include "internal.h"

/* udp_flags */
enum {
  LURE__UDP_RECEIVING = 0x1,
  LURE__UDP_BOUND = 0x2,
  LURE__UDP_CONNECTED = 0x4,
  LURE__UDP_DECIDED = 0x10, /* the socket table below was picked */
  LURE__UDP_REARM = 0x20,   /* after lure_loop_fork: arm the receive when
                               the loop next runs its pending phase */
  LURE__UDP_IN_RECV = 0x40  /* in its recvmsg loop (backends/ready.c):
                               answers sent from recv_cb may wait for the
                               ring's chain (backends/uring-udp.c) */
};

/* udp_flags bits 8-9: the handle's socket table, as its index in
 * lure__sock_executors (src/executor.c), picked when its socket is first
 * used (a field of its own would make the handle bigger). */
#define LURE__UDP_EXEC_SHIFT 8
#define LURE__UDP_EXEC_MASK (3u << LURE__UDP_EXEC_SHIFT)

static inline int lure__udp_decided(const lure_udp_t *h) {
  return (h->udp_flags & LURE__UDP_DECIDED) != 0;
}

static inline const struct lure__sock_ops *lure__udp_sock(const lure_udp_t *h) {
  return lure__sock_executors[(h->udp_flags & LURE__UDP_EXEC_MASK) >>
                              LURE__UDP_EXEC_SHIFT];
}

static inline void lure__udp_set_sock(lure_udp_t *h,
                                      const struct lure__sock_ops *ops) {
  h->udp_flags = (h->udp_flags & ~LURE__UDP_EXEC_MASK) | LURE__UDP_DECIDED |
                 (lure__sock_index(ops) << LURE__UDP_EXEC_SHIFT);
}

/* lure_udp_send_t req_flags: an executor holds the send (a SENDMSG in the
 * ring); closing does not cancel it, its completion settles it. */
#define LURE__REQ_UDP_HELD 0x20

/* udp.c */
/* Send the queue with sendmsg(2), in order, while the socket takes it;
 * 1 when it stopped because the socket is full (or short of buffers). */
int lure__udp_send_queued(lure_udp_t *h);
/* req left the queue with status (bytes or a negative errno); its callback
 * is due. */
void lure__udp_send_done(lure_udp_t *h, lure_udp_send_t *req, ssize_t status);
void lure__udp_run_send_cbs(lure_udp_t *h);
/* Every socket table's udp_recv: POLLIN on the handle's watcher, whose
 * callback (backends/ready.c) makes the recvmsg(2) calls; the core stops
 * it (lure_udp_recv_stop). */
int lure__udp_watch_in(lure_udp_t *h);
/* Fail every queued send no executor holds (closing). */
void lure__udp_cancel_queued(lure_udp_t *h);
void lure__udp_after_fork(lure_udp_t *h);

#endif /* LURE_UDP_H */
