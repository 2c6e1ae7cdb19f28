/*
 * uring-stream.c - streams on the ring (the socket executor table
 * lure__sock_uring, whose writes are uring-send.c and whose UDP half is
 * uring-udp.c).
 *
 * Field notes:
 * - Listeners accept on readiness (backends/ready.c), through the ring's
 *   epoll instance (uring-nest.c): a ring accept would hold the listening
 *   socket past its process's death, and its port with it.
 * - Reads are multishot RECV (6.0) selecting buffers from a loop-owned
 *   provided-buffer ring (PBUF_RING, 5.19); since 6.12 a copying reader's
 *   ring is incremental (IOU_PBUF_RING_INC, see uring-bufring.c), so a
 *   small receive fills a piece of a buffer, not a whole one; before, a
 *   copying reader starts on a ring of small buffers (LURE__BR_SMALL_*,
 *   below) and moves to the ordinary one once it fills one; a borrowing
 *   reader (lure_read_start_borrowed) keeps whole buffers, since it is lent
 *   one.  libuv's contract is kept:
 *   alloc_cb is called when bytes have arrived, the bytes are copied into
 *   the caller's buffer, and the ring buffer goes straight back, so
 *   connections never hold ring buffers between CQEs.  When the ring runs
 *   dry the kernel ends the multishot with -ENOBUFS; we re-arm once the
 *   CQEs before it were consumed (their buffers are back by then).
 * - Bytes that arrive after lure_read_stop() (the multishot is being
 *   cancelled) go to the core all the same (lure__stream_feed), whose
 *   stash keeps what the reader does not take and delivers it first on
 *   the next lure_read_start() (src/stream.c): nothing is lost or
 *   reordered.  If the stash cannot grow, the stream ends with
 *   LURE_ENOMEM and the receive stops (lure__stream_read_ended).
 * - Writes are uring-send.c.
 * - An operation that finds no SQE even after a flush is parked
 *   (lure__ustream_park) and armed again from the next poll phase, if the
 *   stream still wants it.
 * - An adopted or shared socket (LURE__STREAM_ADOPTED, src/stream.h)
 *   receives one read at a time.
 * - TCP connects are IORING_OP_CONNECT, submitted at once so that an error
 *   the kernel reports inline is returned by lure_tcp_connect(), as libuv
 *   does (see lure__uring_stream_connect).  Unix sockets use connect(2).
 * - Closing cancels each operation of the stream by its user_data, and the
 *   handle's close completes (and its fd is closed) only when the last CQE
 *   arrived: the fd number cannot be reused under a live operation, and no
 *   CQE can name freed memory.  Except under a zero-copy send: its
 *   notification waits for the socket to let go of the pages, so the fd
 *   is closed at once (lure__uring_stream_close).  A write whose SEND the
 *   ring holds reports what the kernel did; the writes behind it are
 *   written at once if the socket takes them (libuv would have written
 *   them inside uv_write()).
 */

#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "uring-int.h"
#include "udp.h"
#include "stream.h"

#define LURE__BGID 7
#define LURE__BGID_INC 9
#define LURE__BR_ENTRIES 64
#define LURE__BR_BUFSIZE 65536
/* Kernels with buffer rings but not incremental ones (5.19 to 6.11, among
 * them Debian 12's own 6.1): a copying reader takes 4 KiB buffers from a
 * ring of 512 (2 MiB), so that a tick in which hundreds of connections
 * bring a small request finds a buffer for each (the ordinary ring's 64
 * ran dry at 200 connections: ring_many_small_reads).  A stream whose
 * receive fills a whole small buffer is bulk: its receive is cancelled and
 * armed again on the ordinary ring, 64 KiB a receive. */
#define LURE__BGID_SMALL 11
#define LURE__BR_SMALL_ENTRIES 512
#define LURE__BR_SMALL_SIZE 4096

static struct lure__bufring *lure__bufring_get(lure_loop_t *loop);

static int lure__uring_stream_usable(const lure_loop_t *loop) {
  const struct lure__uring *st;
  static const int need[] = { IORING_OP_RECV, IORING_OP_SEND,
                              IORING_OP_SENDMSG, IORING_OP_ASYNC_CANCEL };

  if (loop->priv->backend != &lure__backend_uring)
    return 0;
  st = loop->priv->backend_data;
  return !st->no_sockets &&
         lure__uring_has_ops(st->ops, need, sizeof(need) / sizeof(need[0]));
}

struct lure__ustream *lure__ustream(lure_stream_t *s) {
  struct lure__ustream *us = s->exec_data;

  if (us != NULL)
    return us;
  us = lure__calloc(1, sizeof(*us));
  if (us == NULL)
    return NULL;
  us->s = s;
  us->recv_op.kind = LURE__SOP_RECV;
  us->send_op.kind = LURE__SOP_SEND;
  us->connect_op.kind = LURE__SOP_CONNECT;
  us->recv_op.us = us->send_op.us = us;
  us->connect_op.us = us;
  lure__queue_init(&us->starved_link);
  lure__queue_init(&us->park_link);
  lure__uring_track(s->loop, &us->all_link, 0);
  s->exec_data = us;
  return us;
}

/* Fault injection for tests/net-faults.c (hidden; lure never sets them):
 * the next this many stream sends and receives find no SQE, as when the
 * kernel would not take the flush of a full SQ. */
unsigned lure__uring_fault_send_sqe;
unsigned lure__uring_fault_recv_sqe;

static int lure__sop_fault(int kind) {
  unsigned *n = kind == LURE__SOP_SEND   ? &lure__uring_fault_send_sqe
                : kind == LURE__SOP_RECV ? &lure__uring_fault_recv_sqe
                                         : NULL;

  if (n == NULL || *n == 0)
    return 0;
  (*n)--;
  return 1;
}

void lure__ustream_park(lure_stream_t *s, struct lure__ustream *us,
                               unsigned what) {
  struct lure__uring *st = s->loop->priv->backend_data;

  us->parked |= what;
  if (lure__queue_empty(&us->park_link))
    lure__queue_insert_tail(&st->stream_parked, &us->park_link);
}

struct io_uring_sqe *lure__sop_sqe(lure_stream_t *s, struct lure__sop *op) {
  struct lure__uring *st = s->loop->priv->backend_data;
  struct io_uring_sqe *sqe;

  if (lure__sop_fault(op->kind))
    return NULL;
  sqe = lure__uring_sqe(s->loop, st);
  if (sqe == NULL)
    return NULL;
  op->armed = 1;
  s->exec_ops++;
  return sqe;
}

void lure__sop_set(struct io_uring_sqe *sqe, struct lure__sop *op) {
  io_uring_sqe_set_data64(sqe, lure__uring_pack(op, LURE__TAG_SOCK));
}

static void lure__sop_cancel(lure_stream_t *s, struct lure__sop *op) {
  /* Without an SQE it completes eventually on its own. */
  if (op->armed)
    (void) lure__uring_cancel(s->loop, lure__uring_pack(op, LURE__TAG_SOCK));
}

/* ---- connect ---- */

/* A TCP connect as IORING_OP_CONNECT.  libuv returns the errors connect(2)
 * reports at once (ENETUNREACH, EADDRNOTAVAIL, EACCES...) from
 * uv_tcp_connect() itself, and only ECONNREFUSED and later errors through
 * the callback.  So the SQE is submitted now, and if the kernel completed
 * it inline with such an error, its CQE, already in the CQ, is found there
 * and its error returned; that CQE is skipped when the loop reaps it.
 * Returns 0 (the CQE reports the end), a negative errno, or LURE_ENOTSUP
 * when the ring has no CONNECT. */
static int lure__uring_stream_connect(lure_stream_t *s,
                                      const struct sockaddr *addr,
                                      socklen_t len) {
  struct lure__uring *st = s->loop->priv->backend_data;
  struct lure__ustream *us = lure__ustream(s);
  struct io_uring_cqe *cqe;
  struct io_uring_sqe *sqe;
  unsigned head;
  __u64 ud;

  if (us == NULL || !lure__uring_has_op(st->ops, IORING_OP_CONNECT) ||
      us->connect_op.armed)
    return LURE_ENOTSUP;
  sqe = lure__sop_sqe(s, &us->connect_op);
  if (sqe == NULL)
    return LURE_ENOTSUP;
  io_uring_prep_connect(sqe, s->io_watcher.fd, addr, len);
  lure__sop_set(sqe, &us->connect_op);
  ud = sqe->user_data;
  lure__uring_submit_now(s->loop, st);
  /* Look at the CQ without consuming it: the reaper skips this CQE. */
  io_uring_for_each_cqe(&st->ring, head, cqe) {
    if (cqe->user_data != ud)
      continue;
    if (cqe->res < 0 && cqe->res != -ECONNREFUSED) {
      us->connect_op.armed = 0;
      us->connect_stale++;
      return cqe->res;
    }
    break;
  }
  return 0;
}

/* ---- reads ---- */

static struct lure__bufring *lure__bufring_get(lure_loop_t *loop) {
  struct lure__uring *st = loop->priv->backend_data;

  if (st->bufring == NULL && !st->no_sockets) {
    st->bufring = lure__uring_bufring_new(loop, LURE__BGID, LURE__BR_ENTRIES,
                                          LURE__BR_BUFSIZE, 1, 0);
    /* No buffer rings here: sockets use readiness. */
    if (st->bufring == NULL)
      st->no_sockets = 1;
  }
  return st->bufring;
}

/* The ring a receive of s selects from: the incremental one for a copying
 * reader where the kernel has it, else the loop's ordinary one. */
static struct lure__bufring *lure__bufring_for(lure_stream_t *s) {
  struct lure__uring *st = s->loop->priv->backend_data;

  if (!(s->stream_flags & LURE__STREAM_BORROW) &&
      lure__uring_has_op(st->ops, LURE__FEAT_PBUF_INC)) {
    if (st->bufring_inc == NULL) {
      st->bufring_inc = lure__uring_bufring_new(
          s->loop, LURE__BGID_INC, LURE__BR_ENTRIES, LURE__BR_BUFSIZE, 1, 1);
      /* A kernel that refuses the flag (a backport without it). */
      if (st->bufring_inc == NULL)
        lure__uring_feat_drop(st, LURE__FEAT_PBUF_INC);
    }
    if (st->bufring_inc != NULL)
      return st->bufring_inc;
  }
  if (!(s->stream_flags & LURE__STREAM_BORROW) &&
      lure__uring_has_op(st->ops, LURE__FEAT_PBUF_RING) && !st->no_small &&
      s->exec_data != NULL &&
      !((struct lure__ustream *) s->exec_data)->bulk) {
    if (st->bufring_small == NULL) {
      st->bufring_small = lure__uring_bufring_new(
          s->loop, LURE__BGID_SMALL, LURE__BR_SMALL_ENTRIES,
          LURE__BR_SMALL_SIZE, 1, 0);
      /* Handed over by PROVIDE_BUFFERS (the registration failed), every
       * small buffer given back would cost an SQE: not worth it. */
      if (st->bufring_small != NULL && st->bufring_small->legacy)
        lure__uring_bufring_free(&st->bufring_small);
      if (st->bufring_small == NULL)
        st->no_small = 1;
    }
    if (st->bufring_small != NULL)
      return st->bufring_small;
  }
  return lure__bufring_get(s->loop);
}

/* Hidden in the library, set only by tests: the next this many receives
 * carry MSG_DONTWAIT, so one that finds nothing to read completes -EAGAIN
 * at once, as a send did on 6.18 without it (uring-send.c). */
unsigned lure__uring_fault_recv_dontwait;

static int lure__sop_arm_recv(lure_stream_t *s, struct lure__ustream *us) {
  struct lure__uring *st = s->loop->priv->backend_data;
  struct lure__bufring *br = lure__bufring_for(s);
  struct io_uring_sqe *sqe;

  if (br == NULL)
    return LURE_ENOMEM; /* cannot happen: read() made the ring */
  sqe = lure__sop_sqe(s, &us->recv_op);
  if (sqe == NULL) {
    lure__ustream_park(s, us, LURE__PARK_RECV);
    return 0;
  }
  /* Before 6.0, and on an adopted fd (src/stream.h): one receive at a
   * time, armed again after each while reading; the buffer is still the
   * kernel's pick from the group, taken only when bytes arrive, so idle
   * connections hold none.  The length is explicit: kernels before 5.16
   * read at most sqe->len bytes even with a selected buffer. */
  us->recv_op.multi = lure__uring_has_op(st->ops, LURE__FEAT_RECV_MULTISHOT) &&
                      !(s->stream_flags & LURE__STREAM_ADOPTED);
  if (us->recv_op.multi)
    io_uring_prep_recv_multishot(sqe, s->io_watcher.fd, NULL, 0, 0);
  else
    io_uring_prep_recv(sqe, s->io_watcher.fd, NULL, br->size, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = (uint16_t) br->bgid;
  lure__uring_fault_dontwait(&lure__uring_fault_recv_dontwait, sqe);
  us->recv_br = br;
  lure__sop_set(sqe, &us->recv_op);
  return 0;
}

static int lure__uring_stream_read(lure_stream_t *s) {
  struct lure__ustream *us = lure__ustream(s);

  if (us == NULL || lure__bufring_for(s) == NULL)
    return LURE_ENOTSUP;
  if (us->recv_op.armed)
    return 0; /* still armed, or its cancellation is under way: re-armed
                 from its final CQE if we are reading by then */
  return lure__sop_arm_recv(s, us);
}

static void lure__uring_stream_read_stop(lure_stream_t *s) {
  struct lure__ustream *us = s->exec_data;

  lure__io_stop(s->loop, &s->io_watcher, POLLIN);
  if (us == NULL)
    return;
  if (us->recv_op.armed && !us->recv_canceling) {
    us->recv_canceling = 1;
    lure__sop_cancel(s, &us->recv_op);
  }
}

static void lure__sop_recv_done(lure_stream_t *s, struct lure__ustream *us,
                                int res, unsigned flags) {
  struct lure__uring *st = s->loop->priv->backend_data;
  struct lure__bufring *b = us->recv_br;
  unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
  char *data = NULL;
  int back = 0;

  if (b != NULL && (flags & IORING_CQE_F_BUFFER))
    data = lure__uring_bufring_take(b, bid, res, flags, &back);
  if (res == -ENOBUFS)
    st->recv_enobufs++;
  if (!(flags & IORING_CQE_F_MORE)) {
    us->recv_op.armed = 0;
    us->recv_canceling = 0;
    if (res == -EINVAL && us->recv_op.multi) {
      /* A kernel without multishot receive: one at a time from now on. */
      lure__uring_feat_drop(st, LURE__FEAT_RECV_MULTISHOT);
      if ((s->stream_flags & LURE__STREAM_READING) &&
          !lure__handle_is_closing((lure_handle_t *) s))
        (void) lure__sop_arm_recv(s, us);
      return;
    }
  }
  /* A receive cancelled or interrupted (read_stop, the move to bulk
   * buffers) delivers nothing; only a closing stream waits for it. */
  if ((res == -ECANCELED || res == -EINTR || res == -EAGAIN) &&
      !lure__handle_is_closing((lure_handle_t *) s))
    st->quiet++;
  if (lure__stream_read_ended(s)) {
    /* Bytes were lost before these: drop them, arm nothing. */
    if (back)
      lure__uring_bufring_put(b, bid);
    return;
  }
  if (res > 0 && data != NULL) {
    /* Only a whole buffer is lent: not one of the incremental ring's. */
    if (!b->inc && (s->stream_flags & LURE__STREAM_BORROW) &&
        (s->stream_flags & LURE__STREAM_READING) &&
        lure__stream_stash_empty(s) &&
        !lure__handle_is_closing((lure_handle_t *) s)) {
      /* Zero copy: the ring buffer itself is lent until
       * lure_buf_release(). */
      lure_buf_t lent;

      lent.base = data;
      lent.len = (size_t) res;
      b->lent++;
      b->lent_map[bid] = 1;
      lure__stream_deliver(s, res, &lent);
    } else {
      lure__stream_feed(s, data, (size_t) res);
      if (back)
        lure__uring_bufring_put(b, bid);
    }
    /* A small buffer filled: bulk from now on.  The multishot ends here
     * (its last CQEs still come, in order) and is armed again below, on
     * the ordinary ring, from its final CQE. */
    if (b == st->bufring_small && res == (int) b->size && !us->bulk) {
      us->bulk = 1;
      st->recv_bulk++;
      if (us->recv_op.armed && !us->recv_canceling) {
        us->recv_canceling = 1;
        lure__sop_cancel(s, &us->recv_op);
      }
    }
  } else if (back) {
    lure__uring_bufring_put(b, bid);
  }
  if (lure__handle_is_closing((lure_handle_t *) s) ||
      lure__stream_read_ended(s))
    return;
  /* -EAGAIN is no end either: nothing was read, the receive goes again
   * (the ring polls for input itself; a send came back EAGAIN anyway on
   * 6.18, see uring-send.c). */
  if (res == 0 || (res < 0 && res != -ENOBUFS && res != -ECANCELED &&
                   res != -EINTR && res != -EAGAIN)) {
    /* Kept for after the bytes that wait, or for the next read. */
    lure__stream_end(s, res == 0 ? LURE_EOF : res);
    return;
  }
  /* Data, an empty buffer ring, EAGAIN or a cancelled read: go on if still
   * reading and the multishot ended.  A ring emptied by borrowed buffers
   * is refilled only by lure_buf_release(): wait for that instead of
   * spinning on -ENOBUFS. */
  if (!us->recv_op.armed && (s->stream_flags & LURE__STREAM_READING)) {
    if (res == -ENOBUFS && b != NULL && b->lent > 0) {
      if (lure__queue_empty(&us->starved_link))
        lure__queue_insert_tail(&b->starved, &us->starved_link);
      return;
    }
    (void) lure__sop_arm_recv(s, us);
  }
}

static int lure__uring_buffers_lent(const lure_loop_t *loop) {
  const struct lure__uring *st;

  if (loop->priv->backend != &lure__backend_uring)
    return 0;
  st = loop->priv->backend_data;
  return st->bufring != NULL && st->bufring->lent > 0;
}

static int lure__uring_buf_release(lure_loop_t *loop, const char *base) {
  struct lure__uring *st;
  struct lure__bufring *b;
  struct lure__ustream *us;
  size_t off;

  if (loop->priv->backend != &lure__backend_uring)
    return LURE_EINVAL;
  st = loop->priv->backend_data;
  b = st->bufring;
  if (b == NULL || base < b->bufs ||
      base >= b->bufs + (size_t) b->entries * b->size)
    return LURE_EINVAL;
  off = (size_t) (base - b->bufs);
  if (off % b->size != 0 || b->lent == 0 || !b->lent_map[off / b->size])
    return LURE_EINVAL;
  b->lent_map[off / b->size] = 0;
  b->lent--;
  lure__uring_bufring_put(b, (unsigned) (off / b->size));
  /* Streams that ran dry may read again. */
  while (!lure__queue_empty(&b->starved)) {
    us = lure__container_of(lure__queue_head(&b->starved),
                            struct lure__ustream, starved_link);
    lure__queue_remove(&us->starved_link);
    if (!us->recv_op.armed && (us->s->stream_flags & LURE__STREAM_READING) &&
        !lure__stream_read_ended(us->s) &&
        !lure__handle_is_closing((lure_handle_t *) us->s))
      (void) lure__sop_arm_recv(us->s, us);
  }
  return 0;
}

/* From the poll phase, before its submit: arm what found no SQE, if the
 * stream still wants it (and still has the ring for it). */
void lure__uring_stream_unpark(lure_loop_t *loop, struct lure__uring *st) {
  struct lure__queue q;
  struct lure__ustream *us;
  lure_stream_t *s;
  unsigned what;

  (void) loop;
  /* Streams that find no room again go back on the list: take it first. */
  lure__queue_move(&st->stream_parked, &q);
  while (!lure__queue_empty(&q)) {
    us = lure__container_of(lure__queue_head(&q), struct lure__ustream,
                            park_link);
    lure__queue_remove(&us->park_link);
    s = us->s;
    what = us->parked;
    us->parked = 0;
    if (lure__handle_is_closing((lure_handle_t *) s) ||
        lure__stream_sock(s) != &lure__sock_uring)
      continue;
    if ((what & LURE__PARK_RECV) && !us->recv_op.armed &&
        !lure__stream_read_ended(s) &&
        (s->stream_flags & LURE__STREAM_READING))
      (void) lure__sop_arm_recv(s, us);
    if (what & LURE__PARK_SEND)
      lure__stream_kick_writes(s);
  }
}

/* ---- close ---- */

/* How long the kernel may keep a closed stream's zero-copy bytes when the
 * peer neither acknowledges them nor opens its window (TCP_USER_TIMEOUT). */
#define LURE__ZC_CLOSE_MS 2000

/* Returns 1 when stream.c must close the descriptor now: a zero-copy send
 * is still the kernel's.  Its notification comes only once the socket no
 * longer holds the caller's pages, and a peer that does not read keeps
 * them there for as long as the descriptor is open; waiting for the
 * notification before closing the descriptor (as for every other
 * operation) never ended, and two such ends on one loop held each other
 * (issue 14, item 4).  So the kernel gets the send and its cancel now,
 * then the descriptor goes, as libuv's uv_close() closes it at once: the
 * bytes already taken still leave and the FIN follows them, but no longer
 * than LURE__ZC_CLOSE_MS without progress (the connection is then
 * dropped); lure_tcp_close_reset() drops them at once.  The ring holds
 * the file until the cancel lands, so the descriptor's number may be
 * reused meanwhile without harm.  The write callback and close_cb still
 * wait for the notification. */
static int lure__uring_stream_close(lure_stream_t *s) {
  struct lure__ustream *us = s->exec_data;
  struct lure__uring *st = s->loop->priv->backend_data;
  unsigned ms = LURE__ZC_CLOSE_MS;
  int zc;

  if (us == NULL)
    return 0;
  lure__queue_remove(&us->park_link);
  us->parked = 0;
  zc = us->send_zc && us->send_op.armed && s->type == LURE_TCP;
  if (!us->recv_canceling)
    lure__sop_cancel(s, &us->recv_op);
  lure__sop_cancel(s, &us->send_op);
  lure__sop_cancel(s, &us->connect_op);
  if (!zc)
    return 0;
  lure__uring_submit_now(s->loop, st);
  /* Only if the kernel took every SQE that may name the descriptor. */
  if (io_uring_sq_ready(&st->ring) != 0)
    return 0;
  (void) setsockopt(s->io_watcher.fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms,
                    sizeof(ms));
  return 1;
}

/* In a forked child: the parent's ring operations are not ours. */
static void lure__uring_stream_forget(lure_stream_t *s) {
  struct lure__ustream *us = s->exec_data;

  s->exec_ops = 0;
  if (us == NULL)
    return;
  us->recv_op.armed = 0;
  us->send_op.armed = 0;
  us->connect_op.armed = 0;
  us->connect_stale = 0;
  us->recv_canceling = 0;
  us->send_zc = 0;
  us->send_wait = 0;
  lure__queue_init(&us->starved_link);
  lure__queue_init(&us->park_link);
  lure__uring_track(s->loop, &us->all_link, 0);
  us->parked = 0;
}

static void lure__uring_stream_free(lure_stream_t *s) {
  struct lure__ustream *us = s->exec_data;

  if (us == NULL)
    return;
  lure__queue_remove(&us->starved_link);
  lure__queue_remove(&us->park_link);
  lure__queue_remove(&us->all_link);
  lure__free(us);
  s->exec_data = NULL;
}

/* ---- completions ---- */

void lure__uring_sock_complete(lure_loop_t *loop, struct lure__uring *st,
                                struct lure__sop *op, int res,
                                unsigned flags) {
  struct lure__ustream *us = op->us;
  lure_stream_t *s = us->s;
  int final = !(flags & IORING_CQE_F_MORE);

  switch (op->kind) {
    case LURE__SOP_RECV:
      lure__sop_recv_done(s, us, res, flags);
      break;
    case LURE__SOP_CONNECT:
      if (us->connect_stale > 0) {
        us->connect_stale--; /* lure_tcp_connect() returned it */
        break;
      }
      op->armed = 0;
      /* A closing stream's connect callback runs in the closing phase. */
      if (!lure__handle_is_closing((lure_handle_t *) s) &&
          s->connect_req != NULL)
        lure__stream_connect_done(s, res);
      break;
    case LURE__SOP_SEND:
      lure__uring_send_complete(s, us, res, flags);
      break;
  }
  if (final) {
    s->exec_ops--;
    if (s->exec_ops == 0 && (s->flags & LURE__HANDLE_CLOSE_WAIT))
      lure__handle_close_ready((lure_handle_t *) s);
  }
}

/* ---- the table ---- */

const struct lure__sock_ops lure__sock_uring = {
  LURE__EXEC_URING,
  1, /* holds_ops: multishot receives stay in the ring */
  lure__uring_stream_usable,
  NULL, /* accept: listeners accept on readiness (uring-nest.c) */
  lure__uring_stream_connect,
  lure__uring_stream_read,
  lure__uring_stream_read_stop,
  lure__uring_stream_write,
  lure__uring_stream_sending,
  lure__uring_stream_close,
  lure__uring_stream_forget,
  lure__uring_stream_free,
  lure__uring_udp_usable,
  lure__udp_watch_in,        /* udp_recv: readiness, as ready.c's */
  NULL,                     /* udp_recv_stop: the core stops POLLIN */
  lure__uring_udp_send,
  lure__uring_udp_close,
  lure__uring_udp_forget,
  lure__uring_udp_free,
  lure__uring_buf_release,
  lure__uring_buffers_lent,
  NULL,
  NULL,
};
