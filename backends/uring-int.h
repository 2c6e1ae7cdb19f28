/*
 * uring-int.h - what the files of the io_uring backend share: the ring's
 * per-loop state, the user_data tags with their pack/unpack helpers, the
 * SQE and cancel helpers, and the entry points the reaper dispatches to.
 * Never included from src/ (the core reaches the ring only through the
 * tables of src/backend.h).
 *
 *   uring.c          setup, enable, the poll phase, the reaper, the table
 *   uring-probe.c    opcode names, the mask, setup flags and the probe
 *   uring-poll.c     fd watchers as POLL_ADD requests
 *   uring-nest.c     watchers the ring must not hold (listeners), on epoll
 *   uring-fs.c       fs requests (the fs executor table)
 *   uring-bufring.c  provided-buffer rings (and PROVIDE_BUFFERS before 5.19)
 *   uring-stream.c   streams: connect, recv, close (the socket table)
 *   uring-send.c     streams' writes: SEND, SENDMSG, zero copy
 *   uring-udp.c      UDP: readiness receives, SENDMSG chains
 */
#ifndef LURE_URING_INT_H
#define LURE_URING_INT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <liburing.h>
#include "internal.h"

/* ---- per-loop state ---- */

struct lure__bufring;
struct lure__unest;

struct lure__uring {
  struct io_uring ring;
  unsigned fs_inflight;   /* fs requests whose CQE is pending */
  unsigned fs_cap;        /* at most this many, so the CQ cannot overflow */
  struct lure__queue fs_waiting; /* accepted, waiting for room (FIFO) */
  unsigned setup_flags;
  unsigned features;
  int enabled;            /* R_DISABLED rings need enabling by the issuer */
  pid_t issuer;           /* a single issuer's ring: its thread, once
                             enabled (0: none yet, or a shared ring) */
  int no_sockets;         /* no buffer ring here: sockets use readiness */
  int notify_fd;          /* eventfd for lure_backend_fd(), or -1 */
  unsigned batch;         /* CQEs in the batch being dispatched, else 0 */
  /* CQEs reaped that nobody sees: a cancel's own, a poll re-armed or
   * ending after its watcher stopped, a receive cancelled by read_stop.
   * A wait that reaped only those goes on (lure__uring_poll). */
  uint64_t quiet;
  struct lure__bufring *bufring;      /* streams' receives (borrowed ones
                                         always; all before 6.12) */
  struct lure__bufring *bufring_inc;  /* streams' copied receives, 6.12 */
  struct lure__bufring *bufring_small; /* ... before 6.12: small buffers
                                          until a stream fills one */
  int no_small;                       /* that ring could not be made */
  uint64_t recv_bulk;                 /* streams that left it (bulk) */
  uint64_t recv_enobufs;              /* receives ended by a dry ring */
  struct lure__queue udp_dirty;  /* UDP handles with sends to chain */
  int no_multishot;       /* the kernel refused multishot POLL_ADD */
  unsigned char ops[32];  /* supported and not masked */
  struct lure__queue polls;    /* every live poll record */
  struct lure__queue parked;   /* polls waiting for an SQE */
  struct lure__queue stream_parked; /* streams whose ops found no SQE */
  struct lure__unest *nest;    /* LURE__IO_NOHOLD watchers (uring-nest.c) */
  /* Every stream's and UDP handle's ring state (all_link): reachable from
   * the loop, so that a program that exits without closing its handles
   * (libuv allocates nothing per handle) shows no leak to LeakSanitizer. */
  struct lure__queue ustreams;
  struct lure__queue uudps;
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
  /* The POLL_ADD's SQE and its place in the SQ (liburing's sqe_tail when
   * it was taken): while the SQ has not been handed to the kernel, a
   * release turns it into a NOP (see lure__upoll_release). */
  struct io_uring_sqe *sqe;
  unsigned sq_pos;
};

/* A provided-buffer ring (uring-bufring.c): streams' and datagrams'. */
struct lure__bufring {
  struct io_uring_buf_ring *br;
  char *bufs;
  unsigned entries;
  unsigned size;
  unsigned bgid;
  int legacy;                  /* IORING_OP_PROVIDE_BUFFERS, no br */
  /* Legacy: the PROVIDE_BUFFERS still in the SQ that the next buffer
   * given back may join (buffers [pend_bid, pend_bid + pend_n); pend_pos
   * its place in the SQ, as liburing's sqe_tail counted it). */
  struct io_uring_sqe *pend_sqe;
  unsigned pend_pos;
  unsigned pend_bid;
  unsigned pend_n;
  lure_loop_t *loop;
  unsigned lent;               /* buffers held by borrowed reads */
  unsigned char *lent_map;     /* which ones */
  /* IOU_PBUF_RING_INC (6.12): the kernel fills each buffer piece by piece,
   * one receive after another, and hands it back (no IORING_CQE_F_BUF_MORE)
   * once full.  used[bid] is how much of buffer bid it filled so far. */
  int inc;
  unsigned *used;
  struct lure__queue starved;  /* streams waiting for a lent buffer back */
};


/* ---- user_data tags ---- */

/* CQEs with this user_data carry nothing for us (POLL_REMOVE and cancel
 * results, and liburing's internal timeout on kernels without EXT_ARG). */
#define LURE__UD_IGNORE 0

/* The low bits of user_data say what it points to; every record is
 * 8-aligned.  The reaper (uring.c) has a case for each; any other value is
 * an internal error. */
enum lure__uring_tag {
  LURE__TAG_POLL = 0,      /* struct lure__upoll: a POLL_ADD (uring-poll.c) */
  LURE__TAG_FS = 1,        /* lure_fs_t (uring-fs.c) */
  LURE__TAG_SOCK = 2,      /* struct lure__sop: a stream op (uring-stream.c) */
  LURE__TAG_UDP_SEND = 3   /* lure_udp_send_t: its SENDMSG (uring-udp.c) */
};
#define LURE__TAG_MASK 7u

static inline __u64 lure__uring_pack(const void *p, enum lure__uring_tag tag) {
  return (__u64) (uintptr_t) p | (__u64) tag;
}
static inline unsigned lure__uring_tag_of(__u64 ud) {
  return (unsigned) (ud & LURE__TAG_MASK);
}
static inline void *lure__uring_ptr_of(__u64 ud) {
  return (void *) (uintptr_t) (ud & ~(__u64) LURE__TAG_MASK);
}

/* ---- faults, for tests only (counts the test programs set) ---- */

/* Tests only: while *left is not 0, the SQE gets MSG_DONTWAIT (one that
 * finds no room or nothing to read completes -EAGAIN at once). */
static inline void lure__uring_fault_dontwait(unsigned *left,
                                              struct io_uring_sqe *sqe) {
  if (*left > 0) {
    (*left)--;
    sqe->msg_flags |= MSG_DONTWAIT;
  }
}

/* Tests only: while *left is not 0, the SQE becomes a NOP that completes
 * with res (IORING_NOP_INJECT_RESULT, Linux 6.10; liburing 2.3 lacks the
 * name): the kernel answers the operation res without doing it. */
#define LURE__NOP_INJECT_RESULT (1u << 0)
static inline void lure__uring_fault_inject(unsigned *left,
                                            struct io_uring_sqe *sqe,
                                            int res) {
  if (*left > 0) {
    (*left)--;
    io_uring_prep_rw(IORING_OP_NOP, sqe, -1, NULL, (unsigned) res, 0);
    sqe->rw_flags = LURE__NOP_INJECT_RESULT;
  }
}

/* ---- opcodes (uring-probe.c) ---- */

static inline int lure__uring_has_op(const unsigned char ops[32], int op) {
  return (ops[op / 8] >> (op % 8)) & 1;
}

static inline int lure__uring_has_ops(const unsigned char ops[32],
                                      const int *need, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    if (!lure__uring_has_op(ops, need[i]))
      return 0;
  return 1;
}

/* A feature the kernel refused at run time (EINVAL on first use). */
static inline void lure__uring_feat_drop(struct lure__uring *st, int feat) {
  st->ops[feat / 8] &= (unsigned char) ~(1u << (feat % 8));
}

/* Set up ring with the best flags this kernel takes (single: a
 * single-issuer ring with deferred task work first, for a loop configured
 * LURE_LOOP_SINGLE_THREAD); fill ops with the probe.  Returns 0 or the
 * negative errno of the last attempt. */
int lure__uring_ring_setup(struct io_uring *ring, unsigned entries,
                           int single, unsigned *flags_out,
                           unsigned *features_out, unsigned char ops[32]);

/* Whether the ring can be entered: one NOP, submitted and waited for (a
 * disabled ring: one empty entry, answered EBADFD). */
int lure__uring_try_enter(struct io_uring *ring);

/* ---- SQEs and cancels (uring.c) ---- */

/* The issuer is whichever thread first enters the ring. */
void lure__uring_enable(struct lure__uring *st);
/* 1 when the ring is a single issuer's and this thread is not it: an
 * io_uring_enter here would fail (EEXIST) or, waiting, return at once. */
int lure__uring_foreign(const struct lure__uring *st);
/* Count what the kernel consumed from the SQ since `before` was sampled. */
void lure__uring_account(lure_loop_t *loop, struct lure__uring *st,
                         unsigned before);
/* An SQE, flushing a full SQ first.  NULL only if the kernel would not take
 * the flush (CQ backlog on kernels without NODROP). */
struct io_uring_sqe *lure__uring_sqe(lure_loop_t *loop, struct lure__uring *st);
/* Hand the SQ to the kernel now, outside the poll phase. */
void lure__uring_submit_now(lure_loop_t *loop, struct lure__uring *st);
/* Ask the kernel to cancel the operation tagged user_data; its own CQE
 * reports the outcome.  LURE_EBUSY when no SQE could be had. */
int lure__uring_cancel(lure_loop_t *loop, __u64 user_data);

/* ---- fd watchers (uring-poll.c) ---- */

int lure__uring_io_start(lure_loop_t *loop, struct lure__io *w);
void lure__uring_io_stop(lure_loop_t *loop, struct lure__io *w);
int lure__uring_nest_start(lure_loop_t *loop, struct lure__uring *st,
                           struct lure__io *w);
int lure__uring_nest_owns(const struct lure__io *w);
void lure__uring_nest_stop(lure_loop_t *loop, struct lure__uring *st,
                           struct lure__io *w);
void lure__uring_nest_free(struct lure__uring *st);
void lure__uring_upoll_complete(lure_loop_t *loop, struct lure__uring *st,
                                struct lure__upoll *up, int res,
                                unsigned flags);
/* Arm the polls parked for want of an SQE (the poll phase). */
void lure__uring_polls_unpark(lure_loop_t *loop, struct lure__uring *st);
/* Free every poll record (the ring goes). */
void lure__uring_polls_free(struct lure__uring *st);

/* ---- fs (uring-fs.c) ---- */

void lure__uring_fs_flush_waiting(lure_loop_t *loop, struct lure__uring *st);
void lure__uring_fs_complete(lure_loop_t *loop, struct lure__uring *st,
                             lure_fs_t *req, int res);

/* ---- buffer rings (uring-bufring.c) ---- */

/* A ring of entries buffers of size bytes for buffer group bgid; NULL when
 * neither a buffer ring nor PROVIDE_BUFFERS works, or memory is short.
 * With inc, a buffer ring registered with IOU_PBUF_RING_INC, or NULL. */
struct lure__bufring *lure__uring_bufring_new(lure_loop_t *loop, unsigned bgid,
                                              unsigned entries, unsigned size,
                                              int populate, int inc);
void lure__uring_bufring_free(struct lure__bufring **bp);
/* Give buffer bid back to the kernel. */
void lure__uring_bufring_put(struct lure__bufring *b, unsigned bid);
/* The bytes of a receive CQE (result res, flags) that selected buffer bid
 * of b.  *back is 1 when the kernel is done with the buffer (give it back
 * with lure__uring_bufring_put once the bytes are read), 0 when it goes on
 * filling it (an incremental ring). */
char *lure__uring_bufring_take(struct lure__bufring *b, unsigned bid, int res,
                               unsigned flags, int *back);

/* Put a handle's ring state on the loop's list (st->ustreams, or st->uudps
 * when udp), through its all_link, if the loop's wait point is the ring
 * (after a fork it may not be); else leave the link on its own. */
void lure__uring_track(lure_loop_t *loop, struct lure__queue *link, int udp);

/* Whether the SQE taken at position pos (liburing's sq.sqe_tail before it
 * was taken) is still in the SQ, not yet handed to the kernel (liburing
 * publishes [sqe_head, sqe_tail) on submit): lure may still change it. */
static inline int lure__uring_sq_pos_unsent(const struct lure__uring *st,
                                            unsigned pos) {
  return pos - st->ring.sq.sqe_head <
         st->ring.sq.sqe_tail - st->ring.sq.sqe_head;
}

/* ---- streams (uring-stream.c, uring-send.c) ---- */

/* Shutdown is not a ring operation: IORING_OP_SHUTDOWN always runs on the
 * ring's workers, so its CQE can arrive after the peer answered the FIN
 * (shutdown(2) never blocks; stream.c calls it directly). */
enum { LURE__SOP_RECV, LURE__SOP_SEND, LURE__SOP_CONNECT };

struct lure__sop {
  int kind;
  int armed;
  int multi;                 /* armed as a multishot */
  struct lure__ustream *us;
} __attribute__((aligned(8)));

struct lure__ustream {
  struct lure__exec_state head; /* first: the core's stash hangs here */
  lure_stream_t *s;
  struct lure__sop recv_op;
  struct lure__sop send_op;
  struct lure__sop connect_op;
  unsigned connect_stale;    /* CONNECT CQEs already reported by the call */
  int recv_canceling;
  struct lure__bufring *recv_br; /* the buffer ring the receive selects from */
  int bulk;                  /* filled a small buffer: receives go to the
                                ordinary ring (uring-stream.c) */
  int send_zc;               /* the send in flight is a SEND_ZC */
  int zc_res;                /* its result, applied at the notification */
  int send_wait;             /* send_op is a POLLOUT after an EAGAIN */
  struct lure__queue all_link;  /* st->ustreams */
  struct lure__queue starved_link;
  struct lure__queue park_link; /* st->stream_parked */
  unsigned parked;           /* LURE__PARK_*: what to arm from there */
  uint64_t try_tick;         /* the tick of the direct sends counted below */
  unsigned try_n;            /* direct send(2)s of that tick */
  /* SENDMSG arguments must stay put until the CQE. */
  struct msghdr msg;
  struct iovec iov[64];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
};

/* What the poll phase arms for a stream whose operation found no SQE even
 * after a flush (the kernel would not take it): see
 * lure__uring_stream_unpark.  Leaving it to the next call instead stalled
 * the stream (lure_write() kicks the queue only when it was empty; a
 * receive that ended was never armed again). */
#define LURE__PARK_SEND 1u
#define LURE__PARK_RECV 2u

/* The ring's state of s (exec_data), made on first use; NULL without
 * memory. */
struct lure__ustream *lure__ustream(lure_stream_t *s);
/* An SQE for op (counted in s->exec_ops, op armed), or NULL when none
 * could be had; then tag it with op. */
struct io_uring_sqe *lure__sop_sqe(lure_stream_t *s, struct lure__sop *op);
void lure__sop_set(struct io_uring_sqe *sqe, struct lure__sop *op);
/* Have the poll phase arm `what` (LURE__PARK_*) again. */
void lure__ustream_park(lure_stream_t *s, struct lure__ustream *us,
                        unsigned what);
/* uring-send.c: the write queue, and the CQEs of its sends. */
void lure__uring_stream_write(lure_stream_t *s);
int lure__uring_stream_sending(const lure_stream_t *s);
void lure__uring_send_complete(lure_stream_t *s, struct lure__ustream *us,
                               int res, unsigned flags);
void lure__uring_sock_complete(lure_loop_t *loop, struct lure__uring *st,
                               struct lure__sop *op, int res, unsigned flags);
/* From the poll phase, before its submit: arm what found no SQE. */
void lure__uring_stream_unpark(lure_loop_t *loop, struct lure__uring *st);

/* ---- UDP (uring-udp.c) ---- */

struct lure__uudp;
int lure__uring_udp_usable(lure_loop_t *loop);
void lure__uring_udp_send(lure_udp_t *h);
void lure__uring_udp_close(lure_udp_t *h);
void lure__uring_udp_forget(lure_udp_t *h);
void lure__uring_udp_free(lure_udp_t *h);
/* A UDP handle's ring state (exec_data), made on first use. */
struct lure__uudp {
  lure_udp_t *h;
  unsigned sends;            /* SENDMSGs in the ring */
  int wait_out;              /* one came back EAGAIN: POLLOUT first */
  struct lure__queue dirty_link;     /* st->udp_dirty */
  struct lure__queue all_link;       /* st->uudps */
} __attribute__((aligned(8)));

void lure__uring_udp_send_complete(lure_udp_send_t *req, int res);
/* Just before a wait: queued sends go to the ring as ordered chains. */
void lure__uring_udp_build_chains(lure_loop_t *loop, struct lure__uring *st);

#endif /* LURE_URING_INT_H */
