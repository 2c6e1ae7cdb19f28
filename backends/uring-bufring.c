/*
 * uring-bufring.c - provided-buffer rings: the kernel picks a buffer of the
 * group when bytes arrive, so idle sockets hold none.  One ring for
 * streams' receives, one for datagrams' (uring-stream.c, uring-udp.c).
 *
 * Field notes:
 * - IORING_REGISTER_PBUF_RING (5.19) where the kernel has it (and the mask
 *   does not hide pbuf_ring); else the same buffers handed over with
 *   IORING_OP_PROVIDE_BUFFERS (5.7), submitted with the next wait ahead
 *   of any receive queued after it; buffers given back next to each other
 *   in one tick share an SQE (lure__bufring_provide).
 * - The buffers are one anonymous mapping, page-aligned; the streams' ring
 *   is populated up front (the kernel copies into it on every receive).
 * - Incremental consumption (IOU_PBUF_RING_INC, 6.12): without it every
 *   receive takes a whole buffer, however few bytes it brings, so 64
 *   buffers of 64 KiB serve at most 64 receives between two looks at the
 *   CQ; with a thousand connections sending small requests, most of them
 *   found the ring dry (-ENOBUFS ends a multishot, which must be armed
 *   again) and waited for a later turn: requests per second fell below
 *   libuv's and the 99th percentile doubled.  With it a receive takes what
 *   it fills, the next one goes on from there, and the kernel hands the
 *   buffer back (a CQE without IORING_CQE_F_BUF_MORE) once it is full; we
 *   follow how far each buffer is filled (used[]).  A CQE without bytes
 *   (EOF, an error) leaves its buffer with the kernel: it still sits at the
 *   head of the ring, whatever its flags say (kernels before the fix that
 *   set IORING_CQE_F_BUF_MORE there left it unset), so giving it back would
 *   put it in the ring twice.  Older kernels refuse the flag (EINVAL, it
 *   was padding): the caller then takes an ordinary ring.
 */
#include <string.h>
#include <sys/mman.h>
#include "uring-int.h"

/* Not in liburing 2.3's headers: the kernel's values. */
#define LURE__PBUF_RING_INC 2u
#define LURE__CQE_F_BUF_MORE (1u << 4)

/* struct io_uring_buf_reg as kernels since 6.12 read it: liburing 2.3
 * names the 16 bits after bgid "pad", later ones "flags". */
struct lure__buf_reg {
  uint64_t ring_addr;
  uint32_t ring_entries;
  uint16_t bgid;
  uint16_t flags;
  uint64_t resv[3];
};
_Static_assert(sizeof(struct lure__buf_reg) == sizeof(struct io_uring_buf_reg),
               "io_uring_buf_reg layout");

/* Hand buffers [bid, bid + n) back to the kernel the pre-5.19 way: one
 * IORING_OP_PROVIDE_BUFFERS, submitted with the next wait, ahead of any
 * receive queued after it.  A single buffer next to the range of the
 * PROVIDE_BUFFERS still waiting in the SQ joins it instead: the kernel
 * hands buffers out in the order they were given, so the buffers of one
 * tick mostly come back in a run, and each took an SQE of its own (at
 * 1,000 connections, 3.3 SQEs per request instead of 2). */
static int lure__bufring_provide(struct lure__bufring *b, unsigned bid,
                                 unsigned n) {
  struct lure__uring *st = b->loop->priv->backend_data;
  struct io_uring_sqe *sqe = b->pend_sqe;

  if (sqe != NULL && n == 1 && lure__uring_sq_pos_unsent(st, b->pend_pos)) {
    if (bid == b->pend_bid + b->pend_n) {
      b->pend_n++;
      sqe->fd = (__s32) b->pend_n;
      return 0;
    }
    if (bid + 1 == b->pend_bid) {
      b->pend_bid = bid;
      b->pend_n++;
      sqe->fd = (__s32) b->pend_n;
      sqe->addr = (unsigned long) (b->bufs + (size_t) bid * b->size);
      sqe->off = bid;
      return 0;
    }
  }
  sqe = lure__uring_sqe(b->loop, st);
  if (sqe == NULL)
    return LURE_EAGAIN;
  io_uring_prep_provide_buffers(sqe, b->bufs + (size_t) bid * b->size,
                                (int) b->size, (int) n, (int) b->bgid,
                                (int) bid);
  io_uring_sqe_set_data64(sqe, LURE__UD_IGNORE);
  b->pend_sqe = sqe;
  b->pend_pos = st->ring.sq.sqe_tail - 1;
  b->pend_bid = bid;
  b->pend_n = n;
  return 0;
}

/* Make and register a provided-buffer ring of entries x size bytes (5.19),
 * or, where the kernel has none (or the mask hides pbuf_ring), provide the
 * same buffers with IORING_OP_PROVIDE_BUFFERS (5.7).  NULL when neither
 * works or memory is short. */
struct lure__bufring *lure__uring_bufring_new(lure_loop_t *loop,
                                               unsigned bgid, unsigned entries,
                                               unsigned size, int populate,
                                               int inc) {
  struct lure__uring *st = loop->priv->backend_data;
  struct lure__buf_reg reg;
  struct lure__bufring *b;
  unsigned i;

  b = lure__calloc(1, sizeof(*b));
  if (b == NULL)
    return NULL;
  b->entries = entries;
  b->size = size;
  b->bgid = bgid;
  b->loop = loop;
  lure__queue_init(&b->starved);
  /* Page-aligned (and, for streams, populated): the kernel copies into
   * these on every receive. */
  b->bufs = mmap(NULL, (size_t) b->entries * b->size, PROT_READ | PROT_WRITE,
                 MAP_ANONYMOUS | MAP_PRIVATE | (populate ? MAP_POPULATE : 0),
                 -1, 0);
  if (b->bufs == MAP_FAILED)
    b->bufs = NULL;
  b->lent_map = lure__calloc(b->entries, 1);
  if (b->bufs == NULL || b->lent_map == NULL)
    goto fail;
  if (inc) {
    /* Only a registered buffer ring consumes incrementally. */
    b->used = lure__calloc(b->entries, sizeof(*b->used));
    if (b->used == NULL || !lure__uring_has_op(st->ops, LURE__FEAT_PBUF_RING))
      goto fail;
    b->inc = 1;
  }
  if (lure__uring_has_op(st->ops, LURE__FEAT_PBUF_RING)) {
    b->br = mmap(NULL, b->entries * sizeof(struct io_uring_buf),
                 PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (b->br == MAP_FAILED)
      b->br = NULL;
  }
  if (b->br != NULL) {
    io_uring_buf_ring_init(b->br);
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (unsigned long) b->br;
    reg.ring_entries = b->entries;
    reg.bgid = (uint16_t) bgid;
    reg.flags = inc ? (uint16_t) LURE__PBUF_RING_INC : 0;
    if (io_uring_register_buf_ring(&st->ring, (struct io_uring_buf_reg *) &reg,
                                   0) == 0) {
      for (i = 0; i < b->entries; i++)
        io_uring_buf_ring_add(b->br, b->bufs + (size_t) i * b->size, b->size,
                              (unsigned short) i,
                              io_uring_buf_ring_mask(b->entries), (int) i);
      io_uring_buf_ring_advance(b->br, (int) b->entries);
      return b;
    }
    munmap(b->br, b->entries * sizeof(struct io_uring_buf));
    b->br = NULL;
  }
  if (inc)
    goto fail;
  if (lure__uring_has_op(st->ops, IORING_OP_PROVIDE_BUFFERS) &&
      lure__bufring_provide(b, 0, b->entries) == 0) {
    b->legacy = 1;
    return b;
  }

fail:
  if (b->bufs != NULL)
    munmap(b->bufs, (size_t) b->entries * b->size);
  lure__free(b->lent_map);
  lure__free(b->used);
  lure__free(b);
  return NULL;
}

void lure__uring_bufring_free(struct lure__bufring **bp) {
  struct lure__bufring *b = *bp;

  if (b == NULL)
    return;
  if (b->br != NULL)
    munmap(b->br, b->entries * sizeof(struct io_uring_buf));
  munmap(b->bufs, (size_t) b->entries * b->size);
  lure__free(b->lent_map);
  lure__free(b->used);
  lure__free(b);
  *bp = NULL;
}

void lure__uring_bufring_put(struct lure__bufring *b, unsigned bid) {
  if (b->legacy) {
    (void) lure__bufring_provide(b, bid, 1);
    return;
  }
  if (b->inc)
    b->used[bid] = 0;
  io_uring_buf_ring_add(b->br, b->bufs + (size_t) bid * b->size, b->size,
                        (unsigned short) bid,
                        io_uring_buf_ring_mask(b->entries), 0);
  io_uring_buf_ring_advance(b->br, 1);
}

char *lure__uring_bufring_take(struct lure__bufring *b, unsigned bid, int res,
                               unsigned flags, int *back) {
  char *p = b->bufs + (size_t) bid * b->size;

  if (!b->inc) {
    *back = 1;
    return p;
  }
  p += b->used[bid];
  *back = 0;
  if (res > 0) {
    b->used[bid] += (unsigned) res;
    *back = !(flags & LURE__CQE_F_BUF_MORE);
  }
  return p;
}
