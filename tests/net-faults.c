/*
 * net-faults.c - suite "faults": the stream paths that only run when
 * something goes wrong (issue 14), on every set.
 *
 *   faults_zc_close       closing a stream while a zero-copy write of 16
 *                         MiB waits on a peer that does not read (item 4):
 *                         with lure_close(), with lure_tcp_close_reset(),
 *                         with both ends of one connection writing and
 *                         closing on the same loop, and with a peer that
 *                         starts reading 100 ms after the close (it must
 *                         get the bytes the kernel took, then EOF).  The
 *                         write callback (LURE_ECANCELED, or 0 if the
 *                         kernel had taken it all) runs before the close
 *                         callback, both run, and lure_run() returns (the
 *                         watchdog fails a close that hangs).  The callback
 *                         scribbles on its buffer, and what reaches the
 *                         peer is checked byte by byte: a callback run
 *                         while the kernel still sends from the pages
 *                         would show.
 *   faults_stash_enomem   the ring keeps bytes the reader did not take in a
 *                         stash; when that allocation fails (a replaced
 *                         allocator fails one realloc), the reader gets
 *                         LURE_ENOMEM, never a silent gap in the stream,
 *                         and the stream reads no more (item 8).
 *   faults_send_no_sqe    stream sends that find no SQE (a fault-injection
 *                         count in the library, only tests set it) on a
 *                         ring of 4 entries with 16 connections writing at
 *                         once: every byte still arrives (item 8).
 *   faults_send_eagain_bulk, faults_send_eagain_last
 *                         ring sends that the kernel answers EAGAIN (a
 *                         count in the library makes the next sends
 *                         MSG_DONTWAIT; 6.18 also does it without, rarely:
 *                         lure-diff's seed 198), or ENOBUFS (the bulk
 *                         test's second run, injected NOPs): the stream
 *                         waits for room and sends again.  No write fails, no byte is
 *                         lost or reordered (8 streams on AF_UNIX and on
 *                         TCP), and a write whose last bytes leave by a
 *                         direct send after that wait still gets its
 *                         callback.
 *   faults_recv_eagain    a ring receive answered EAGAIN (the same count
 *                         for receives) is armed again, not an error.
 *   faults_udp_send_eagain
 *                         the same count for the ring's UDP chains: a send
 *                         answered EAGAIN stays queued, the next chain
 *                         waits for POLLOUT; every callback gets 0 and the
 *                         datagrams arrive in order (AF_UNIX datagram pair
 *                         with a late reader).  Its second run does the
 *                         same with ENOBUFS (another count makes the next
 *                         sends NOPs the kernel completes -ENOBUFS,
 *                         Linux 6.10): libuv retries that too.
 *   faults_direct_send_enobufs, faults_udp_direct_enobufs
 *                         direct send(2)/sendmsg(2) answered ENOBUFS (the
 *                         linker's --wrap, see below): lure_try_write and
 *                         lure_udp_try_send return LURE_EAGAIN, queued
 *                         writes and sends wait for room and go, as in
 *                         libuv.
 *   faults_recv_no_sqe    the same for a receive armed again (after each
 *                         completion on uring-old, after a stop/start on
 *                         uring): it stalled the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "harness-net.h"

/* ---- zero-copy write, then close -------------------------------------------------- */

#define ZCC_LEN ((size_t) 16 << 20)

enum { ZCC_CLOSE, ZCC_RESET, ZCC_BOTH, ZCC_READ_LATER, ZCC_MODES };

static const char *const zcc_names[ZCC_MODES] = {
  "lure_close", "lure_tcp_close_reset", "both ends write and close",
  "lure_close, the peer reads 100 ms later"
};

struct zcc {
  struct lt_net_pair p;
  int mode;
  lure_write_t wr[2];       /* [0] client to server, [1] server to client */
  char *buf[2];
  int wcbs[2];
  int wstatus[2];
  int closes[2];
  int cb_order_bad;         /* a write callback after its close callback */
  uint64_t t_close;
  uint64_t t_closed;
  /* modes but ZCC_BOTH: the server reads what arrived afterwards */
  lure_timer_t later;
  lure_timer_t idle;
  int reading;
  char rbuf[65536];
  size_t received;
  long bad_at;
  int read_end;
};

static lure_stream_t *zcc_end(struct zcc *z, int i) {
  return i == 0 ? (lure_stream_t *) &z->p.client
                : (lure_stream_t *) &z->p.server;
}

static void zcc_write_cb(lure_write_t *req, int status) {
  struct zcc *z = req->data;
  int i = (int) (req - z->wr);

  z->wcbs[i]++;
  z->wstatus[i] = status;
  if (z->closes[i])
    z->cb_order_bad = 1;
  /* The buffer is the caller's again: had the kernel still been sending
   * from it, the peer would see this. */
  memset(z->buf[i], 0xA5, ZCC_LEN);
}

static void zcc_idle_cb(lure_timer_t *t) {
  struct zcc *z = t->data;

  lure_close((lure_handle_t *) &z->p.server, NULL);
  lure_close((lure_handle_t *) t, NULL);
}

static void zcc_alloc(lure_handle_t *h, size_t size, lure_buf_t *buf) {
  struct zcc *z = h->data;

  *buf = lure_buf_init(z->rbuf, sizeof(z->rbuf));
}

static void zcc_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct zcc *z = s->data;

  if (nread > 0) {
    if (z->bad_at < 0) {
      long bad = lt_net_pat_check(31, z->received, buf->base, (size_t) nread);

      if (bad >= 0)
        z->bad_at = (long) z->received + bad;
    }
    z->received += (size_t) nread;
    /* Read until nothing came for 300 ms. */
    lure_timer_again(&z->idle);
    return;
  }
  if (nread < 0 && nread != LURE_ENOBUFS) {
    z->read_end = (int) nread;
    lure_timer_stop(&z->idle);
    zcc_idle_cb(&z->idle);
  }
}

/* The peer starts reading: what the kernel sent from the caller's pages
 * must be the bytes written. */
static void zcc_start_reading(struct zcc *z) {
  if (z->reading)
    return;
  z->reading = 1;
  ck_assert_int_eq(lure_timer_init(&z->p.loop, &z->idle), 0);
  z->idle.data = z;
  ck_assert_int_eq(lure_timer_start(&z->idle, zcc_idle_cb, 300, 300), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &z->p.server, zcc_alloc,
                                   zcc_read), 0);
}

static void zcc_later_cb(lure_timer_t *t) {
  zcc_start_reading(t->data);
  lure_close((lure_handle_t *) t, NULL);
}

static void zcc_close_cb(lure_handle_t *h) {
  struct zcc *z = h->data;
  int i = h == (lure_handle_t *) &z->p.client ? 0 : 1;

  z->closes[i]++;
  z->t_closed = lure_hrtime();
  if (i == 0 && z->mode != ZCC_BOTH)
    zcc_start_reading(z);
}

START_TEST(faults_zc_close) {
  struct zcc *z = calloc(1, sizeof(*z));
  int writers = _i == ZCC_BOTH ? 2 : 1;
  lure_buf_t b;
  size_t off;
  int i;

  ck_assert_ptr_nonnull(z);
  z->mode = _i;
  z->bad_at = -1;
  lt_net_pair_open(&z->p, 15000, "close with a zero-copy write pending");
  z->p.client.data = z;
  z->p.server.data = z;
  for (i = 0; i < writers; i++) {
    z->buf[i] = malloc(ZCC_LEN);
    ck_assert_ptr_nonnull(z->buf[i]);
    /* lt_net_pat() guarantees LT_NET_PAT_MAX contiguous bytes: copy in steps. */
    for (off = 0; off < ZCC_LEN; off += LT_NET_PAT_MAX)
      memcpy(z->buf[i] + off, lt_net_pat(31 + (uint64_t) i, off), LT_NET_PAT_MAX);
    z->wr[i].data = z;
    b = lure_buf_init(z->buf[i], (unsigned int) ZCC_LEN);
    ck_assert_int_eq(lure_write_zc(&z->wr[i], zcc_end(z, i), &b, 1,
                                   zcc_write_cb), 0);
  }
  /* Long enough for the peer's receive buffer to fill: the send waits. */
  lt_run_for(&z->p.loop, 200);
  for (i = 0; i < writers; i++)
    ck_assert_msg(z->wcbs[i] == 0,
                  "%s: the write of %zu bytes to a peer that does not read "
                  "completed (%s) before the close",
                  zcc_names[_i], ZCC_LEN, lt_err(z->wstatus[i]));
  z->t_close = lure_hrtime();
  if (_i == ZCC_RESET)
    ck_assert_int_eq(lure_tcp_close_reset(&z->p.client, zcc_close_cb), 0);
  else
    lure_close((lure_handle_t *) &z->p.client, zcc_close_cb);
  if (_i == ZCC_BOTH)
    lure_close((lure_handle_t *) &z->p.server, zcc_close_cb);
  if (_i == ZCC_READ_LATER) {
    ck_assert_int_eq(lure_timer_init(&z->p.loop, &z->later), 0);
    z->later.data = z;
    ck_assert_int_eq(lure_timer_start(&z->later, zcc_later_cb, 100, 0), 0);
  }
  lt_run(&z->p.loop);

  for (i = 0; i < writers; i++) {
    ck_assert_msg(z->wcbs[i] == 1, "%s: end %d: %d write callbacks",
                  zcc_names[_i], i, z->wcbs[i]);
    ck_assert_msg(z->wstatus[i] == LURE_ECANCELED || z->wstatus[i] == 0,
                  "%s: end %d: write status %s", zcc_names[_i], i,
                  lt_err(z->wstatus[i]));
  }
  ck_assert_int_eq(z->closes[0], 1);
  if (_i == ZCC_BOTH)
    ck_assert_int_eq(z->closes[1], 1);
  ck_assert_msg(!z->cb_order_bad, "a write callback ran after close_cb");
  ck_assert_msg(z->bad_at < 0,
                "%s: the peer got other bytes than written at offset %ld: "
                "the write callback ran while the kernel still sent from "
                "the buffer", zcc_names[_i], z->bad_at);
  /* A peer that reads gets what the kernel took, then the end. */
  if (_i == ZCC_READ_LATER)
    ck_assert_msg(z->read_end == LURE_EOF && z->received > 0,
                  "the peer read %zu bytes, then %s, not EOF", z->received,
                  lt_err(z->read_end));
  if (_i == ZCC_RESET)
    ck_assert_msg(z->read_end == LURE_ECONNRESET,
                  "the peer's read ended with %s, not ECONNRESET",
                  lt_err(z->read_end));
  printf("faults_zc_close: set %s: %s: write %s, closed after %.0f ms, "
         "peer read %zu bytes, then %s\n",
         lt_set() ? lt_set() : "(none)", zcc_names[_i],
         lt_err(z->wstatus[0]), (double) (z->t_closed - z->t_close) / 1e6,
         z->received, z->read_end ? lt_err(z->read_end) : "nothing");
  lt_loop_finish(&z->p.loop);
  for (i = 0; i < writers; i++)
    free(z->buf[i]);
  free(z);
}
END_TEST

/* ---- the read stash cannot allocate ------------------------------------------------ */

#define SE_TOTAL ((size_t) 1 << 20)

static int se_fail_realloc;   /* the next lure realloc fails */
static unsigned se_realloc_failed;

static void *se_malloc(size_t n) { return malloc(n); }
static void *se_calloc(size_t c, size_t n) { return calloc(c, n); }
static void se_free(void *p) { free(p); }
static void *se_realloc(void *p, size_t n) {
  if (se_fail_realloc) {
    se_fail_realloc = 0;
    se_realloc_failed++;
    return NULL;
  }
  return realloc(p, n);
}

struct se {
  struct lt_net_pair p;
  lure_write_t wr;
  lure_shutdown_t sreq;
  char *wbuf;
  char rbuf[65536];
  unsigned allocs;
  size_t received;
  long bad_at;
  int enobufs;
  int enomem;
  int eof;
  int other_err;
};

static void se_alloc(lure_handle_t *h, size_t size, lure_buf_t *buf) {
  struct se *e = h->data;

  /* Disarmed if the path did not stash (readiness reads into the caller's
   * buffer directly: nothing to lose there). */
  se_fail_realloc = 0;
  if (e->allocs++ == 2) {
    /* No buffer this time: the ring keeps the bytes in its stash, whose
     * allocation fails. */
    se_fail_realloc = 1;
    *buf = lure_buf_init(NULL, 0);
    return;
  }
  *buf = lure_buf_init(e->rbuf, sizeof(e->rbuf));
}

static void se_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct se *e = s->data;

  if (nread > 0) {
    if (e->bad_at < 0) {
      long bad = lt_net_pat_check(41, e->received, buf->base, (size_t) nread);

      if (bad >= 0)
        e->bad_at = (long) e->received + bad;
    }
    e->received += (size_t) nread;
    return;
  }
  if (nread == 0)
    return;
  if (nread == LURE_ENOBUFS) {
    e->enobufs++;
    return;
  }
  if (nread == LURE_ENOMEM) {
    /* As after any read error: the stream reads no more. */
    e->enomem++;
    ck_assert(!lure_is_readable(s));
    ck_assert_int_eq(lure_read_start(s, se_alloc, se_read), LURE_ENOTCONN);
  } else if (nread == LURE_EOF)
    e->eof++;
  else
    e->other_err = (int) nread;
  lure_close((lure_handle_t *) s, NULL);
  lure_close((lure_handle_t *) &e->p.client, NULL);
}

static void se_write_cb(lure_write_t *req, int status) {
  (void) req;
  (void) status;
}

START_TEST(faults_stash_enomem) {
  struct se *e = calloc(1, sizeof(*e));
  lure_buf_t b;
  size_t off;

  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(lure_replace_allocator(se_malloc, se_realloc, se_calloc,
                                          se_free), 0);
  e->bad_at = -1;
  e->wbuf = malloc(SE_TOTAL);
  ck_assert_ptr_nonnull(e->wbuf);
  for (off = 0; off < SE_TOTAL; off += LT_NET_PAT_MAX)
    memcpy(e->wbuf + off, lt_net_pat(41, off), LT_NET_PAT_MAX);
  lt_net_pair_open(&e->p, 15000, "read stash out of memory");
  e->p.client.data = e;
  e->p.server.data = e;
  b = lure_buf_init(e->wbuf, (unsigned int) SE_TOTAL);
  ck_assert_int_eq(lure_write(&e->wr, (lure_stream_t *) &e->p.client, &b, 1,
                              se_write_cb), 0);
  ck_assert_int_eq(lure_shutdown(&e->sreq, (lure_stream_t *) &e->p.client,
                                 NULL), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &e->p.server, se_alloc,
                                   se_read), 0);
  lt_run(&e->p.loop);
  se_fail_realloc = 0;

  ck_assert_msg(e->other_err == 0, "read error %s", lt_err(e->other_err));
  ck_assert_msg(e->bad_at < 0,
                "the reader got other bytes than written at offset %ld "
                "(%u failed stash allocations, %d ENOMEM reported): bytes "
                "were lost without an error", e->bad_at, se_realloc_failed,
                e->enomem);
  ck_assert_int_eq(e->enobufs, 1);
  if (se_realloc_failed > 0) {
    /* The stash lost bytes: the reader must hear of it. */
    ck_assert_msg(e->enomem == 1,
                  "a stash allocation failed, the reader got %d ENOMEM "
                  "(%zu of %zu bytes, eof %d)", e->enomem, e->received,
                  SE_TOTAL, e->eof);
    ck_assert_int_eq(e->eof, 0);
    ck_assert_uint_lt(e->received, SE_TOTAL);
  } else {
    ck_assert_int_eq(e->enomem, 0);
    ck_assert_int_eq(e->eof, 1);
    ck_assert_uint_eq(e->received, SE_TOTAL);
  }
  printf("faults_stash_enomem: set %s: %u stash allocations failed, "
         "%zu bytes read, then %s\n", lt_set() ? lt_set() : "(none)",
         se_realloc_failed, e->received,
         e->enomem ? "ENOMEM" : e->eof ? "EOF" : "nothing");
  lt_loop_finish(&e->p.loop);
  ck_assert_int_eq(lure_replace_allocator(malloc, realloc, calloc, free), 0);
  free(e->wbuf);
  free(e);
}
END_TEST

/* ---- stream sends that find no SQE ------------------------------------------------- */

/* Hidden in the library, set only here: the next this many stream sends
 * (lure__uring_fault_send_sqe) or receives (lure__uring_fault_recv_sqe)
 * find no SQE, as when the kernel would not take a flush of a full SQ. */
extern unsigned lure__uring_fault_send_sqe;
extern unsigned lure__uring_fault_recv_sqe;

START_TEST(faults_send_no_sqe) {
  struct lt_net_bulk_opts o;

  memset(&o, 0, sizeof(o));
  o.nclients = 16;
  o.total = (size_t) 2 << 20;
  o.chunk = (size_t) 512 * 1024;
  o.window_reqs = 4;
  o.window_bytes = (size_t) 4 << 20;
  o.family = AF_INET;
  o.sink = 1;
  o.watchdog_ms = 15000;
  /* A ring of 4 entries: the SQ fills many times a tick. */
  ck_assert_int_eq(setenv("LURE_RING_ENTRIES", "4", 1), 0);
  lure__uring_fault_send_sqe = 24;
  lt_net_bulk_run(&o, NULL);
  printf("faults_send_no_sqe: set %s: %u injected faults left unused\n",
         lt_set() ? lt_set() : "(none)", lure__uring_fault_send_sqe);
  if (lt_set_ring_path())
    ck_assert_uint_eq(lure__uring_fault_send_sqe, 0);
  lure__uring_fault_send_sqe = 0;
  unsetenv("LURE_RING_ENTRIES");
}
END_TEST

/* ---- ring sends the kernel answers EAGAIN ----------------------------------------- */

/* Hidden in the library, set only here: the next this many ring sends carry
 * MSG_DONTWAIT, so one that finds the socket full completes -EAGAIN at once
 * instead of waiting in the ring's own poll. */
extern unsigned lure__uring_fault_send_dontwait;
extern unsigned lure__uring_fault_send_enobufs;

/* Many streams, every ring send of the run able to come back EAGAIN: every
 * write's callback gets 0 and every byte arrives in order (lt_net_bulk_run
 * checks both), on AF_UNIX and TCP.  _i 1: the first 60 ring sends are
 * NOPs the kernel completes -ENOBUFS (Linux 6.10), which libuv retries as
 * EAGAIN: the same must hold. */
START_TEST(faults_send_eagain_bulk) {
  static const int families[] = { AF_UNIX, AF_INET };
  const unsigned all = _i == 0 ? 1000000 : 60;
  unsigned *fault = _i == 0 ? &lure__uring_fault_send_dontwait
                            : &lure__uring_fault_send_enobufs;
  struct lt_net_bulk_opts o;
  char name[64];
  unsigned i, used, armed;

  snprintf(name, sizeof(name), "@lure-faults-eagain-%ld", (long) getpid());
  for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
    memset(&o, 0, sizeof(o));
    o.nclients = 8;
    o.total = (size_t) 4 << 20;
    o.chunk = (size_t) 256 * 1024;
    o.window_reqs = 8;
    o.window_bytes = (size_t) 4 << 20;
    o.family = families[i];
    o.pipe_name = name;
    o.split = 1;
    o.sink = 1;
    o.watchdog_ms = 20000;
    /* A stream's writes leave by direct send(2) while the socket has
     * room, by the ring once it is full: nearly each of these ring sends
     * meets a full socket. */
    armed = _i == 0 || lt_kernel_at_least(6, 10) ? all : 0;
    *fault = armed;
    lt_net_bulk_run(&o, NULL);
    used = armed - *fault;
    *fault = 0;
    printf("faults_send_eagain_bulk: set %s, %s: %u ring sends with "
           "%s\n", lt_set() ? lt_set() : "(none)",
           families[i] == AF_UNIX ? "unix" : "tcp", used,
           _i == 0 ? "MSG_DONTWAIT" : "ENOBUFS");
    if (lt_set_ring_path() && armed > 0)
      ck_assert_uint_gt(used, 0);
    else
      ck_assert_uint_eq(used, 0);
  }
}
END_TEST

/* One write a little larger than an AF_UNIX socket holds, to a peer that
 * starts reading 30 ms later: a direct send takes what fits, the ring's
 * send of the rest comes back EAGAIN, and after the wait for room the rest
 * leaves by a direct send: the write's callback must still come, with 0
 * (it did not: the request sat finished in the done queue, and the loop
 * hung, as lure-diff's seed 198 did once the EAGAIN was handled). */
#define SE1_SEED 61

struct se1 {
  lure_loop_t loop;
  lure_timer_t wd, later;
  lure_pipe_t w, r;
  lure_write_t wr;
  char *wbuf;
  size_t len, received;
  long bad_at;
  char rbuf[65536];
  int wstatus, wcbs, rerr;
};

static void se1_alloc(lure_handle_t *h, size_t size, lure_buf_t *buf) {
  struct se1 *e = h->data;

  (void) size;
  *buf = lure_buf_init(e->rbuf, sizeof(e->rbuf));
}

static void se1_maybe_end(struct se1 *e) {
  if (e->wcbs == 1 && e->received == e->len) {
    lure_close((lure_handle_t *) &e->w, NULL);
    lure_close((lure_handle_t *) &e->r, NULL);
  }
}

static void se1_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct se1 *e = s->data;

  if (nread < 0) {
    e->rerr = (int) nread;
    lure_close((lure_handle_t *) &e->w, NULL);
    lure_close((lure_handle_t *) &e->r, NULL);
    return;
  }
  if (nread > 0 && e->bad_at < 0) {
    long bad = lt_net_pat_check(SE1_SEED, e->received, buf->base,
                                (size_t) nread);
    if (bad >= 0)
      e->bad_at = (long) e->received + bad;
  }
  e->received += (size_t) nread;
  se1_maybe_end(e);
}

static void se1_start_reading(lure_timer_t *t) {
  struct se1 *e = t->data;

  ck_assert_int_eq(lure_read_start((lure_stream_t *) &e->r, se1_alloc,
                                   se1_read), 0);
}

static void se1_write_cb(lure_write_t *req, int status) {
  struct se1 *e = req->data;

  e->wcbs++;
  e->wstatus = status;
  se1_maybe_end(e);
}

START_TEST(faults_send_eagain_last) {
  struct se1 *e = calloc(1, sizeof(*e));
  int sv[2], probe[2];
  size_t cap, off;
  ssize_t n;
  lure_buf_t b;
  char *big;

  ck_assert_ptr_nonnull(e);
  /* What a fresh pair holds: one non-blocking send of 4 MiB. */
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, probe),
                   0);
  big = calloc(1, (size_t) 4 << 20);
  ck_assert_ptr_nonnull(big);
  n = send(probe[0], big, (size_t) 4 << 20, MSG_DONTWAIT);
  ck_assert_int_gt(n, 0);
  cap = (size_t) n;
  free(big);
  close(probe[0]);
  close(probe[1]);

  e->len = cap + 1000;
  e->bad_at = -1;
  e->wbuf = malloc(e->len);
  ck_assert_ptr_nonnull(e->wbuf);
  for (off = 0; off < e->len; off += LT_NET_PAT_MAX)
    memcpy(e->wbuf + off, lt_net_pat(SE1_SEED, off),
           e->len - off < LT_NET_PAT_MAX ? e->len - off : LT_NET_PAT_MAX);
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  lt_loop_init(&e->loop);
  lt_watchdog(&e->loop, &e->wd, 10000,
              "faults_send_eagain_last: the write's callback never came");
  ck_assert_int_eq(lure_pipe_init(&e->loop, &e->w, 0), 0);
  ck_assert_int_eq(lure_pipe_init(&e->loop, &e->r, 0), 0);
  ck_assert_int_eq(lure_pipe_open(&e->w, sv[0]), 0);
  ck_assert_int_eq(lure_pipe_open(&e->r, sv[1]), 0);
  e->w.data = e->r.data = e->later.data = e->wr.data = e;
  ck_assert_int_eq(lure_timer_init(&e->loop, &e->later), 0);
  ck_assert_int_eq(lure_timer_start(&e->later, se1_start_reading, 30, 0), 0);
  lure__uring_fault_send_dontwait = 1;
  b = lure_buf_init(e->wbuf, (unsigned int) e->len);
  ck_assert_int_eq(lure_write(&e->wr, (lure_stream_t *) &e->w, &b, 1,
                              se1_write_cb), 0);
  lt_run(&e->loop);
  printf("faults_send_eagain_last: set %s: socket holds %zu, wrote %zu, "
         "%u MSG_DONTWAIT send left\n", lt_set() ? lt_set() : "(none)", cap,
         e->len, lure__uring_fault_send_dontwait);
  if (lt_set_ring_path())
    ck_assert_uint_eq(lure__uring_fault_send_dontwait, 0);
  lure__uring_fault_send_dontwait = 0;
  ck_assert_int_eq(e->wcbs, 1);
  ck_assert_msg(e->wstatus == 0, "write status %s", lt_err(e->wstatus));
  ck_assert_msg(e->rerr == 0, "read error %s", lt_err(e->rerr));
  ck_assert_uint_eq(e->received, e->len);
  ck_assert_msg(e->bad_at < 0, "other bytes than written at offset %ld",
                e->bad_at);
  lt_loop_finish(&e->loop);
  free(e->wbuf);
  free(e);
}
END_TEST

/* A receive the kernel answers EAGAIN (a count in the library makes the
 * first one MSG_DONTWAIT, armed while nothing has arrived): the stream
 * reads on, the bytes sent 20 ms later arrive, no error reaches read_cb
 * (it got LURE_EAGAIN and the stream ended). */
extern unsigned lure__uring_fault_recv_dontwait;

struct re1 {
  struct lt_net_pair p;
  lure_timer_t later;
  lure_write_t wr;
  char rbuf[4096];
  size_t received;
  long bad_at;
  int err;
};

static void re1_alloc(lure_handle_t *h, size_t size, lure_buf_t *buf) {
  struct re1 *r = h->data;

  (void) size;
  *buf = lure_buf_init(r->rbuf, sizeof(r->rbuf));
}

static void re1_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct re1 *r = s->data;

  if (nread < 0) {
    r->err = (int) nread;
    lure_close((lure_handle_t *) &r->p.client, NULL);
    lure_close((lure_handle_t *) &r->p.server, NULL);
    return;
  }
  if (nread > 0 && r->bad_at < 0) {
    long bad = lt_net_pat_check(71, r->received, buf->base, (size_t) nread);
    if (bad >= 0)
      r->bad_at = (long) r->received + bad;
  }
  r->received += (size_t) nread;
  if (r->received == 100) {
    lure_close((lure_handle_t *) &r->p.client, NULL);
    lure_close((lure_handle_t *) &r->p.server, NULL);
  }
}

static void re1_send(lure_timer_t *t) {
  struct re1 *r = t->data;
  lure_buf_t b = lure_buf_init((char *) lt_net_pat(71, 0), 100);

  if (r->err != 0)
    return; /* the read failed: both handles are closing */
  ck_assert_int_eq(lure_write(&r->wr, (lure_stream_t *) &r->p.client, &b, 1,
                              NULL), 0);
}

START_TEST(faults_recv_eagain) {
  struct re1 *r = calloc(1, sizeof(*r));

  ck_assert_ptr_nonnull(r);
  r->bad_at = -1;
  lt_net_pair_open(&r->p, 10000, "faults_recv_eagain");
  r->p.client.data = r->p.server.data = r->later.data = r;
  lure__uring_fault_recv_dontwait = 1;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &r->p.server, re1_alloc,
                                   re1_read), 0);
  ck_assert_int_eq(lure_timer_init(&r->p.loop, &r->later), 0);
  ck_assert_int_eq(lure_timer_start(&r->later, re1_send, 20, 0), 0);
  lt_run(&r->p.loop);
  printf("faults_recv_eagain: set %s: %u MSG_DONTWAIT receive left\n",
         lt_set() ? lt_set() : "(none)", lure__uring_fault_recv_dontwait);
  if (lt_set_ring_path())
    ck_assert_uint_eq(lure__uring_fault_recv_dontwait, 0);
  lure__uring_fault_recv_dontwait = 0;
  ck_assert_msg(r->err == 0, "read error %s", lt_err(r->err));
  ck_assert_uint_eq(r->received, 100);
  ck_assert_msg(r->bad_at < 0, "other bytes than sent at offset %ld",
                r->bad_at);
  lt_loop_finish(&r->p.loop);
  free(r);
}
END_TEST

/* ---- UDP sends the kernel answers EAGAIN ------------------------------------------- */

/* Hidden in the library, set only here: the next this many SENDMSGs of the
 * ring's UDP chains carry MSG_DONTWAIT, or (the second) are NOPs completed
 * -ENOBUFS without sending. */
extern unsigned lure__uring_fault_udp_dontwait;
extern unsigned lure__uring_fault_udp_enobufs;

/* 400 datagrams over an AF_UNIX datagram pair whose reader starts 30 ms
 * late: its queue holds max_dgram_qlen (10 here), so the sender's direct
 * sends fail, the rest go to the ring as chains, and with MSG_DONTWAIT
 * those come back EAGAIN.  Every send's callback must get 0 (libuv never
 * reports EAGAIN for a send: it waits for room) and the datagrams arrive
 * complete and in order. */
#define UE_N 400

struct ue {
  lure_loop_t loop;
  lure_timer_t wd, later;
  lure_udp_t tx, rx;
  lure_udp_send_t req[UE_N];
  unsigned seq[UE_N];
  char rbuf[256];
  unsigned n; /* datagrams the test sends, at most UE_N */
  unsigned cbs, bad_status, next, out_of_order;
  int first_bad;
};

static void ue_maybe_end(struct ue *u) {
  if (u->cbs == u->n && u->next == u->n) {
    lure_close((lure_handle_t *) &u->tx, NULL);
    lure_close((lure_handle_t *) &u->rx, NULL);
  }
}

static void ue_send_cb(lure_udp_send_t *req, int status) {
  struct ue *u = req->data;

  if (status != 0 && u->bad_status++ == 0)
    u->first_bad = status;
  u->cbs++;
  ue_maybe_end(u);
}

static void ue_alloc(lure_handle_t *h, size_t size, lure_buf_t *buf) {
  struct ue *u = h->data;

  (void) size;
  *buf = lure_buf_init(u->rbuf, sizeof(u->rbuf));
}

static void ue_recv(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  struct ue *u = h->data;
  unsigned v;

  (void) addr;
  (void) flags;
  if (nread != (ssize_t) sizeof(v))
    return; /* 0: nothing more this turn */
  memcpy(&v, buf->base, sizeof(v));
  if (v != u->next)
    u->out_of_order++;
  u->next = v + 1;
  ue_maybe_end(u);
}

static void ue_start_reading(lure_timer_t *t) {
  struct ue *u = t->data;

  ck_assert_int_eq(lure_udp_recv_start(&u->rx, ue_alloc, ue_recv), 0);
}

/* An AF_UNIX datagram pair, tx to rx, on a fresh loop; n datagrams to
 * send. */
static struct ue *ue_open(unsigned n, const char *what) {
  struct ue *u = calloc(1, sizeof(*u));
  int sv[2];

  ck_assert_ptr_nonnull(u);
  ck_assert_uint_le(n, UE_N);
  u->n = n;
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
  lt_loop_init(&u->loop);
  lt_watchdog(&u->loop, &u->wd, 10000, what);
  ck_assert_int_eq(lure_udp_init(&u->loop, &u->tx), 0);
  ck_assert_int_eq(lure_udp_init(&u->loop, &u->rx), 0);
  ck_assert_int_eq(lure_udp_open(&u->tx, sv[0]), 0);
  ck_assert_int_eq(lure_udp_open(&u->rx, sv[1]), 0);
  u->tx.data = u->rx.data = u->later.data = u;
  return u;
}

/* Send the n datagrams (each its sequence number), in order. */
static void ue_send_all(struct ue *u) {
  lure_buf_t b;
  unsigned i;

  for (i = 0; i < u->n; i++) {
    u->seq[i] = i;
    u->req[i].data = u;
    b = lure_buf_init((char *) &u->seq[i], sizeof(u->seq[i]));
    ck_assert_int_eq(lure_udp_send(&u->req[i], &u->tx, &b, 1, NULL,
                                   ue_send_cb), 0);
  }
}

/* Every callback 0, every datagram there, in order; then the loop goes. */
static void ue_check_finish(struct ue *u) {
  ck_assert_msg(u->bad_status == 0, "%u sends failed, the first with %s",
                u->bad_status, lt_err(u->first_bad));
  ck_assert_uint_eq(u->cbs, u->n);
  ck_assert_uint_eq(u->next, u->n);
  ck_assert_uint_eq(u->out_of_order, 0);
  lt_loop_finish(&u->loop);
  free(u);
}

/* _i: 0, the sends answered EAGAIN (MSG_DONTWAIT); 1, ENOBUFS (injected
 * through a NOP: 40 of them, so that the chains go on after them). */
START_TEST(faults_udp_send_eagain) {
  struct ue *u = ue_open(UE_N, "faults_udp_send_eagain: sends or datagrams "
                               "missing");
  const unsigned all = _i == 0 ? 1000000 : 40;
  unsigned *fault = _i == 0 ? &lure__uring_fault_udp_dontwait
                            : &lure__uring_fault_udp_enobufs;
  const char *what = _i == 0 ? "MSG_DONTWAIT" : "ENOBUFS";
  unsigned used, armed = 0;

  ck_assert_int_eq(lure_timer_init(&u->loop, &u->later), 0);
  ck_assert_int_eq(lure_timer_start(&u->later, ue_start_reading, 30, 0), 0);
  if (_i == 1 && !lt_kernel_at_least(6, 10)) {
    /* No IORING_NOP_INJECT_RESULT: the NOP would complete 0 as if sent. */
    printf("faults_udp_send_eagain: ENOBUFS run needs Linux 6.10, "
           "not injected\n");
  } else {
    *fault = armed = all;
  }
  ue_send_all(u);
  lt_run(&u->loop);
  used = armed - *fault;
  *fault = 0;
  printf("faults_udp_send_eagain: set %s: %u ring sends with %s, "
         "%u callbacks, %u datagrams\n", lt_set() ? lt_set() : "(none)", used,
         what, u->cbs, u->next);
  if (lt_set_ring_path() && armed > 0)
    ck_assert_uint_gt(used, 0);
  ue_check_finish(u);
}
END_TEST

/* ---- a receive, an accept that find no SQE ---------------------------------------- */

#define RN_TOTAL ((size_t) 16 << 20)

struct rn {
  struct lt_net_pair p;
  lure_write_t wr;
  lure_shutdown_t sreq;
  char *wbuf;
  char rbuf[65536];
  size_t received;
  long bad_at;
  int armed_fault;
  int eof;
  int err;
};

static void rn_alloc(lure_handle_t *h, size_t size, lure_buf_t *buf) {
  struct rn *r = h->data;

  *buf = lure_buf_init(r->rbuf, sizeof(r->rbuf));
}

static void rn_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct rn *r = s->data;

  if (nread > 0) {
    if (r->bad_at < 0) {
      long bad = lt_net_pat_check(51, r->received, buf->base, (size_t) nread);

      if (bad >= 0)
        r->bad_at = (long) r->received + bad;
    }
    r->received += (size_t) nread;
    if (!r->armed_fault) {
      r->armed_fault = 1;
      /* The next receive the ring arms finds no SQE.  One-shot receives
       * (uring-old) are armed again after each completion; a multishot
       * one only when it ends, so end it: stop and start again. */
      lure__uring_fault_recv_sqe = 1;
      if (lt_set_is("uring")) {
        ck_assert_int_eq(lure_read_stop(s), 0);
        ck_assert_int_eq(lure_read_start(s, rn_alloc, rn_read), 0);
      }
    }
    return;
  }
  if (nread == 0)
    return;
  if (nread == LURE_EOF)
    r->eof++;
  else
    r->err = (int) nread;
  lure_close((lure_handle_t *) s, NULL);
  lure_close((lure_handle_t *) &r->p.client, NULL);
}

static void rn_write_cb(lure_write_t *req, int status) {
  ck_assert_int_eq(status, 0);
}

START_TEST(faults_recv_no_sqe) {
  struct rn *r = calloc(1, sizeof(*r));
  lure_buf_t b;
  size_t off;

  ck_assert_ptr_nonnull(r);
  r->bad_at = -1;
  r->wbuf = malloc(RN_TOTAL);
  ck_assert_ptr_nonnull(r->wbuf);
  for (off = 0; off < RN_TOTAL; off += LT_NET_PAT_MAX)
    memcpy(r->wbuf + off, lt_net_pat(51, off), LT_NET_PAT_MAX);
  lt_net_pair_open(&r->p, 15000, "a receive that finds no SQE");
  r->p.client.data = r;
  r->p.server.data = r;
  b = lure_buf_init(r->wbuf, (unsigned int) RN_TOTAL);
  ck_assert_int_eq(lure_write(&r->wr, (lure_stream_t *) &r->p.client, &b, 1,
                              rn_write_cb), 0);
  ck_assert_int_eq(lure_shutdown(&r->sreq, (lure_stream_t *) &r->p.client,
                                 NULL), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &r->p.server, rn_alloc,
                                   rn_read), 0);
  lt_run(&r->p.loop);
  printf("faults_recv_no_sqe: set %s: %u injected faults left unused\n",
         lt_set() ? lt_set() : "(none)", lure__uring_fault_recv_sqe);
  if (lt_set_ring_path())
    ck_assert_uint_eq(lure__uring_fault_recv_sqe, 0);
  lure__uring_fault_recv_sqe = 0;
  ck_assert_msg(r->err == 0, "read error %s", lt_err(r->err));
  ck_assert_msg(r->bad_at < 0, "data differs at byte %ld", r->bad_at);
  ck_assert_uint_eq(r->received, RN_TOTAL);
  ck_assert_int_eq(r->eof, 1);
  lt_loop_finish(&r->p.loop);
  free(r->wbuf);
  free(r);
}
END_TEST

/* A poll the ring answered -EINTR (the first 3 POLL_ADDs armed are NOPs
 * the kernel completes so, Linux 6.10): nothing happened to the
 * descriptor, and libuv's epoll never reports that, so the poll goes
 * again unseen, and the callback hears only the byte that arrives. */
extern unsigned lure__uring_fault_poll_eintr;

struct pe {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_poll_t poll;
  int calls;
  int status;
  int events;
};

static void pe_cb(lure_poll_t *h, int status, int events) {
  struct pe *x = h->data;

  x->calls++;
  x->status = status;
  x->events = events;
  lure_close((lure_handle_t *) h, NULL);
}

START_TEST(faults_poll_eintr) {
  struct pe *x = calloc(1, sizeof(*x));
  unsigned armed = 0;
  int fds[2];

  ck_assert_ptr_nonnull(x);
  ck_assert_int_eq(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
  lt_loop_init(&x->loop);
  lt_watchdog(&x->loop, &x->wd, 15000, "a poll answered EINTR");
  ck_assert_int_eq(lure_poll_init(&x->loop, &x->poll, fds[0]), 0);
  x->poll.data = x;
  if (lt_set_is_uring() && lt_kernel_at_least(6, 10))
    lure__uring_fault_poll_eintr = armed = 3;
  ck_assert_int_eq(lure_poll_start(&x->poll, LURE_READABLE, pe_cb), 0);
  /* The injected answers come back and the poll goes in again. */
  lure_run(&x->loop, LURE_RUN_NOWAIT);
  lure_run(&x->loop, LURE_RUN_NOWAIT);
  ck_assert_int_eq(x->calls, 0);
  ck_assert_int_eq(write(fds[1], "x", 1), 1);
  lt_run(&x->loop);
  printf("faults_poll_eintr: set %s: %u injected, %u left unused\n",
         lt_set() ? lt_set() : "(none)", armed,
         lure__uring_fault_poll_eintr);
  if (armed > 0)
    ck_assert_uint_eq(lure__uring_fault_poll_eintr, 0);
  lure__uring_fault_poll_eintr = 0;
  ck_assert_int_eq(x->calls, 1);
  ck_assert_int_eq(x->status, 0);
  ck_assert_int_eq(x->events, LURE_READABLE);
  close(fds[0]);
  close(fds[1]);
  lt_loop_finish(&x->loop);
  free(x);
}
END_TEST

/* ---- direct sends answered ENOBUFS ----------------------------------------------- */

/* This program is linked with -Wl,--wrap=send,--wrap=sendmsg
 * (tests/local.mk): while de_left is not 0, a send(2) or sendmsg(2) on
 * de_fd fails with ENOBUFS without sending (the kernel's answer when it has
 * no memory or device queue room for the data now, which loopback never
 * runs out of); every other call goes through to the C library. */
ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __real_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags);

static int de_fd = -1;
static unsigned de_left;

static int de_fail(int fd) {
  if (fd != de_fd || de_left == 0)
    return 0;
  de_left--;
  errno = ENOBUFS;
  return 1;
}

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags) {
  return de_fail(fd) ? -1 : __real_send(fd, buf, len, flags);
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags) {
  return de_fail(fd) ? -1 : __real_sendmsg(fd, msg, flags);
}

static int de_fileno(const void *h) {
  lure_os_fd_t fd = -1;

  ck_assert_int_eq(lure_fileno((const lure_handle_t *) h, &fd), 0);
  return fd;
}

/* A stream: lure_try_write() answered ENOBUFS returns LURE_EAGAIN (libuv's
 * uv_try_write does), and a lure_write() whose direct sends are answered
 * ENOBUFS twice waits for room and sends: its callback gets 0 and the peer
 * the bytes. */
struct ds {
  struct lt_net_pair p;
  lure_write_t wr;
  char rbuf[64];
  size_t got;
  int wcbs, wstatus;
};

static const char ds_msg[] = "bytes behind two ENOBUFS";

static void ds_write_cb(lure_write_t *req, int status) {
  struct ds *d = req->data;

  d->wcbs++;
  d->wstatus = status;
}

static void ds_alloc(lure_handle_t *h, size_t size, lure_buf_t *buf) {
  struct ds *d = h->data;

  (void) size;
  *buf = lure_buf_init(d->rbuf + d->got, (unsigned) (sizeof(d->rbuf) - d->got));
}

static void ds_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct ds *d = s->data;

  (void) buf;
  if (nread > 0)
    d->got += (size_t) nread;
  if (nread < 0 || d->got >= sizeof(ds_msg) - 1) {
    lure_close((lure_handle_t *) &d->p.client, NULL);
    lure_close((lure_handle_t *) &d->p.server, NULL);
  }
}

START_TEST(faults_direct_send_enobufs) {
  struct ds *d = calloc(1, sizeof(*d));
  lure_buf_t b;
  char one = 'x';

  ck_assert_ptr_nonnull(d);
  lt_net_pair_open(&d->p, 10000, "a write behind direct ENOBUFS");
  d->p.client.data = d->p.server.data = d->wr.data = d;
  de_fd = de_fileno(&d->p.client);
  de_left = 1;
  b = lure_buf_init(&one, 1);
  ck_assert_int_eq(lure_try_write((lure_stream_t *) &d->p.client, &b, 1),
                   LURE_EAGAIN);
  ck_assert_uint_eq(de_left, 0);
  de_left = 2;
  b = lure_buf_init((char *) ds_msg, sizeof(ds_msg) - 1);
  ck_assert_int_eq(lure_write(&d->wr, (lure_stream_t *) &d->p.client, &b, 1,
                              ds_write_cb), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &d->p.server, ds_alloc,
                                   ds_read), 0);
  lt_run(&d->p.loop);
  printf("faults_direct_send_enobufs: set %s: %u of 2 direct ENOBUFS left\n",
         lt_set() ? lt_set() : "(none)", de_left);
  ck_assert_uint_lt(de_left, 2);
  de_fd = -1;
  de_left = 0;
  ck_assert_int_eq(d->wcbs, 1);
  ck_assert_msg(d->wstatus == 0, "write callback got %s", lt_err(d->wstatus));
  ck_assert_uint_eq(d->got, sizeof(ds_msg) - 1);
  ck_assert_int_eq(memcmp(d->rbuf, ds_msg, sizeof(ds_msg) - 1), 0);
  lt_loop_finish(&d->p.loop);
  free(d);
}
END_TEST

/* UDP: lure_udp_try_send() answered ENOBUFS returns LURE_EAGAIN (libuv's
 * uv_udp_try_send does), and lure_udp_send()s whose direct sendmsg(2)s are
 * answered ENOBUFS twice stay queued and go: every callback 0, every
 * datagram in order. */
START_TEST(faults_udp_direct_enobufs) {
  struct ue *u = ue_open(3, "UDP sends behind direct ENOBUFS");
  unsigned one = 99;
  lure_buf_t b;

  de_fd = de_fileno(&u->tx);
  de_left = 1;
  b = lure_buf_init((char *) &one, sizeof(one));
  ck_assert_int_eq(lure_udp_try_send(&u->tx, &b, 1, NULL), LURE_EAGAIN);
  ck_assert_uint_eq(de_left, 0);
  de_left = 2;
  ue_send_all(u);
  ck_assert_int_eq(lure_udp_recv_start(&u->rx, ue_alloc, ue_recv), 0);
  lt_run(&u->loop);
  printf("faults_udp_direct_enobufs: set %s: %u of 2 direct ENOBUFS left, "
         "%u callbacks, %u datagrams\n", lt_set() ? lt_set() : "(none)",
         de_left, u->cbs, u->next);
  ck_assert_uint_lt(de_left, 2);
  de_fd = -1;
  de_left = 0;
  ue_check_finish(u);
}
END_TEST

LT_SUITE(faults) {
  Suite *s = suite_create("faults");
  TCase *tc = tcase_create("faults");

  /* The ring's own stream paths: streams on the ring from the start. */
  tcase_add_checked_fixture(tc, lt_streams_ring_at_once,
                            lt_streams_default);

  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_loop_test(tc, faults_zc_close, 0, ZCC_MODES);
  tcase_add_test(tc, faults_stash_enomem);
  tcase_add_test(tc, faults_send_no_sqe);
  tcase_add_loop_test(tc, faults_send_eagain_bulk, 0, 2);
  tcase_add_test(tc, faults_send_eagain_last);
  tcase_add_test(tc, faults_recv_eagain);
  tcase_add_loop_test(tc, faults_udp_send_eagain, 0, 2);
  tcase_add_test(tc, faults_recv_no_sqe);
  tcase_add_test(tc, faults_direct_send_enobufs);
  tcase_add_test(tc, faults_udp_direct_enobufs);
  tcase_add_test(tc, faults_poll_eintr);
  suite_add_tcase(s, tc);
  return s;
}
