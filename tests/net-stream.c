/*
 * net-stream.c - suite "stream": what the stream API promises beyond moving
 * bytes: write after close and cancelled writes, read_stop/read_start under
 * load, read_stop really stopping, alloc_cb giving no buffer, back-pressure
 * through write_queue_size, lure_try_write.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "harness-net.h"

#define MIB ((size_t) 1 << 20)

/* The peer does not read: this many MiB is far more than loopback socket
 * buffers hold (4 MiB send, up to 32 MiB receive with autotuning, which
 * does not grow a window nobody reads). */
#define FILL_WRITES 48

/* ---- write after close, cancelled writes -------------------------------------- */

struct wac {
  struct lt_net_pair p;
  lure_write_t wr[FILL_WRITES];
  int cbs[FILL_WRITES];
  int status[FILL_WRITES];
  int cb_event[FILL_WRITES];   /* event number of the callback */
  int next;
  int order_bad;
  int events;
  int close_event;
  int closes;
  size_t wqs_at_close_cb;
  lure_shutdown_t sreq;
  int shut_cbs;
  int shut_status;
  int shut_event;
  lure_write_t extra;
  int extra_cbs;
};

static void wac_write_cb(lure_write_t *req, int status) {
  struct wac *w = req->data;
  int i = (int) (req - w->wr);

  if (i != w->next)
    w->order_bad = 1;
  w->next = i + 1;
  w->cbs[i]++;
  w->status[i] = status;
  w->cb_event[i] = ++w->events;
}

static void wac_shut_cb(lure_shutdown_t *req, int status) {
  struct wac *w = req->data;

  w->shut_cbs++;
  w->shut_status = status;
  w->shut_event = ++w->events;
}

static void wac_close_cb(lure_handle_t *h) {
  struct wac *w = h->data;

  w->closes++;
  w->close_event = ++w->events;
  w->wqs_at_close_cb =
      lure_stream_get_write_queue_size((lure_stream_t *) h);
}

static void wac_extra_cb(lure_write_t *req, int status) {
  struct wac *w = req->data;

  w->extra_cbs++;
}

START_TEST(stream_write_after_close) {
  struct wac *w = calloc(1, sizeof(*w));
  lure_stream_t *cs;
  lure_buf_t b = lure_buf_init((char *) lt_net_pat(1, 0), (unsigned int) MIB);
  int done_before;
  int cancelled = 0;
  int rc;
  int i;

  lt_net_pair_open(&w->p, LT_NET_WATCHDOG_MS, "write after close");
  cs = (lure_stream_t *) &w->p.client;
  w->p.client.data = w;
  /* The server never reads: the writes back up. */
  for (i = 0; i < FILL_WRITES; i++) {
    w->wr[i].data = w;
    ck_assert_int_eq(lure_write(&w->wr[i], cs, &b, 1, wac_write_cb), 0);
  }
  ck_assert_int_eq(w->events, 0); /* never from inside lure_write */
  lt_run_for(&w->p.loop, 200);
  done_before = w->next;
  ck_assert_msg(done_before < FILL_WRITES,
                "all %d writes of 1 MiB completed with a peer that does not "
                "read", FILL_WRITES);
  ck_assert_uint_gt(lure_stream_get_write_queue_size(cs), 0);
  /* A shutdown queued behind the writes, then close. */
  w->sreq.data = w;
  ck_assert_int_eq(lure_shutdown(&w->sreq, cs, wac_shut_cb), 0);
  ck_assert_int_eq(lure_close((lure_handle_t *) cs, wac_close_cb), 0);
  ck_assert_int_ne(lure_is_closing((lure_handle_t *) cs), 0);
  /* Calls on a closing handle. */
  w->extra.data = w;
  rc = lure_write(&w->extra, cs, &b, 1, wac_extra_cb);
  ck_assert_msg(rc == LURE_EINVAL, "lure_write on a closing handle: %s, want "
                "EINVAL", lt_err(rc));
  rc = lure_try_write(cs, &b, 1);
  ck_assert_msg(rc == LURE_EINVAL, "lure_try_write on a closing handle: %s",
                lt_err(rc));
  rc = lure_close((lure_handle_t *) cs, wac_close_cb);
  ck_assert_msg(rc == LURE_EINVAL || rc == 0, "second lure_close: %s",
                lt_err(rc));
  lure_close((lure_handle_t *) &w->p.server, NULL);
  lt_run(&w->p.loop);

  ck_assert_int_eq(w->closes, 1);
  ck_assert_int_eq(w->extra_cbs, 0);
  ck_assert_msg(!w->order_bad, "write callbacks out of submission order");
  for (i = 0; i < FILL_WRITES; i++) {
    ck_assert_msg(w->cbs[i] == 1, "write %d: %d callbacks", i, w->cbs[i]);
    ck_assert_msg(w->cb_event[i] < w->close_event,
                  "write %d: callback after the close callback", i);
    if (i < done_before)
      ck_assert_msg(w->status[i] == 0, "write %d (done before close): %s", i,
                    lt_err(w->status[i]));
    else
      ck_assert_msg(w->status[i] == 0 || w->status[i] == LURE_ECANCELED,
                    "write %d (pending at close): %s, want ECANCELED", i,
                    lt_err(w->status[i]));
    if (w->status[i] == LURE_ECANCELED)
      cancelled++;
    else if (cancelled > 0)
      ck_abort_msg("write %d succeeded after an earlier one was cancelled", i);
  }
  ck_assert_msg(cancelled > 0, "no write was cancelled by the close");
  ck_assert_int_eq(w->shut_cbs, 1);
  ck_assert_msg(w->shut_status == LURE_ECANCELED, "shutdown pending at close: "
                "%s, want ECANCELED", lt_err(w->shut_status));
  ck_assert_int_lt(w->shut_event, w->close_event);
  ck_assert_uint_eq(w->wqs_at_close_cb, 0);
  lt_loop_finish(&w->p.loop);
  free(w);
}
END_TEST

/* ---- read_stop / read_start under load ------------------------------------------ */

#define TG_TOTAL ((size_t) 4 << 20)
#define TG_CHUNK ((size_t) 64 * 1024)
#define TG_WINDOW 8
#define TG_RBUF 3000   /* reads smaller than a ring buffer (16 KiB) */

enum { TG_TIMER0, TG_TIMER1, TG_IDLE, TG_PREPARE, TG_CHECK, TG_SAME_CB,
       TG_MODES };
static const char *const tg_names[TG_MODES] = {
  "0 ms timer", "1 ms timer", "idle handle", "prepare handle",
  "check handle", "the same read_cb"
};

struct tg {
  struct lt_net_pair p;
  int mode;
  /* writer */
  lure_write_t wr[TG_WINDOW];
  uint64_t writes;
  uint64_t wcbs;
  size_t queued;
  int write_err;
  lure_shutdown_t sreq;
  int shut;
  /* reader */
  char rbuf[TG_RBUF];
  size_t received;
  uint64_t sum_tx;
  uint64_t sum_rx;
  long bad_at;
  unsigned long reads;
  unsigned long stops;
  unsigned long starts;
  int stopped;
  unsigned long while_stopped;
  int eof;
  int read_err;
  lure_timer_t timer;
  lure_idle_t idle;
  lure_prepare_t prepare;
  lure_check_t check;
};

static void tg_pump(struct tg *t);

static void tg_write_cb(lure_write_t *req, int status) {
  struct tg *t = req->data;

  t->wcbs++;
  if (status != 0 && t->write_err == 0)
    t->write_err = status;
  if (status == 0)
    tg_pump(t);
}

static void tg_pump(struct tg *t) {
  lure_stream_t *cs = (lure_stream_t *) &t->p.client;
  lure_buf_t b;

  while (t->queued < TG_TOTAL && t->writes - t->wcbs < TG_WINDOW) {
    unsigned i = (unsigned) (t->writes % TG_WINDOW);

    b = lure_buf_init((char *) lt_net_pat(8, t->queued), (unsigned int) TG_CHUNK);
    t->sum_tx = lt_net_sum(t->sum_tx, b.base, b.len);
    t->wr[i].data = t;
    ck_assert_int_eq(lure_write(&t->wr[i], cs, &b, 1, tg_write_cb), 0);
    t->queued += TG_CHUNK;
    t->writes++;
  }
  if (t->queued == TG_TOTAL && !t->shut) {
    t->shut = 1;
    ck_assert_int_eq(lure_shutdown(&t->sreq, cs, NULL), 0);
  }
}

static void tg_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct tg *t = h->data;

  buf->base = t->rbuf;
  buf->len = sizeof(t->rbuf);
}

static void tg_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf);

static void tg_restart(struct tg *t) {
  int rc;

  t->stopped = 0;
  t->starts++;
  rc = lure_read_start((lure_stream_t *) &t->p.server, tg_alloc, tg_read);
  ck_assert_msg(rc == 0, "lure_read_start: %s", lt_err(rc));
}

static void tg_timer_cb(lure_timer_t *h) {
  tg_restart(h->data);
}

static void tg_idle_cb(lure_idle_t *h) {
  lure_idle_stop(h);
  tg_restart(h->data);
}

static void tg_prepare_cb(lure_prepare_t *h) {
  lure_prepare_stop(h);
  tg_restart(h->data);
}

static void tg_check_cb(lure_check_t *h) {
  lure_check_stop(h);
  tg_restart(h->data);
}

static void tg_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct tg *t = s->data;

  if (t->stopped) {
    t->while_stopped++;
    return;
  }
  if (nread > 0) {
    if (t->bad_at < 0) {
      long bad = lt_net_pat_check(8, t->received, buf->base, (size_t) nread);

      if (bad >= 0)
        t->bad_at = (long) t->received + bad;
    }
    t->sum_rx = lt_net_sum(t->sum_rx, buf->base, (size_t) nread);
    t->received += (size_t) nread;
    if (++t->reads % 3 != 0)
      return;
    /* Every third read: stop, and start again from somewhere else. */
    t->stops++;
    t->stopped = 1;
    ck_assert_int_eq(lure_read_stop(s), 0);
    switch (t->mode) {
      case TG_TIMER0:
        lure_timer_start(&t->timer, tg_timer_cb, 0, 0);
        break;
      case TG_TIMER1:
        lure_timer_start(&t->timer, tg_timer_cb, 1, 0);
        break;
      case TG_IDLE:
        lure_idle_start(&t->idle, tg_idle_cb);
        break;
      case TG_PREPARE:
        lure_prepare_start(&t->prepare, tg_prepare_cb);
        break;
      case TG_CHECK:
        lure_check_start(&t->check, tg_check_cb);
        break;
      default:
        tg_restart(t);
        break;
    }
    return;
  }
  if (nread == 0)
    return;
  if (nread == LURE_EOF)
    t->eof++;
  else
    t->read_err = (int) nread;
  lure_close((lure_handle_t *) s, NULL);
  lure_close((lure_handle_t *) &t->p.client, NULL);
  lure_close((lure_handle_t *) &t->timer, NULL);
  lure_close((lure_handle_t *) &t->idle, NULL);
  lure_close((lure_handle_t *) &t->prepare, NULL);
  lure_close((lure_handle_t *) &t->check, NULL);
}

START_TEST(stream_read_toggle) {
  struct tg *t = calloc(1, sizeof(*t));
  char what[128];

  t->mode = _i;
  t->bad_at = -1;
  t->sum_tx = t->sum_rx = LT_NET_SUM_INIT;
  snprintf(what, sizeof(what), "read_stop/read_start from %s",
           tg_names[t->mode]);
  lt_net_pair_open(&t->p, LT_NET_WATCHDOG_MS, what);
  t->p.client.data = t;
  t->p.server.data = t;
  ck_assert_int_eq(lure_timer_init(&t->p.loop, &t->timer), 0);
  ck_assert_int_eq(lure_idle_init(&t->p.loop, &t->idle), 0);
  ck_assert_int_eq(lure_prepare_init(&t->p.loop, &t->prepare), 0);
  ck_assert_int_eq(lure_check_init(&t->p.loop, &t->check), 0);
  t->timer.data = t->idle.data = t->prepare.data = t->check.data = t;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &t->p.server, tg_alloc,
                                   tg_read), 0);
  tg_pump(t);
  lt_run(&t->p.loop);

  printf("stream_read_toggle: set %s: restart from %s: %lu reads, %lu "
         "stops\n", lt_set() ? lt_set() : "(none)", tg_names[t->mode],
         t->reads, t->stops);
  ck_assert_msg(t->while_stopped == 0, "restart from %s: %lu read_cb calls "
                "while stopped", tg_names[t->mode], t->while_stopped);
  ck_assert_msg(t->read_err == 0, "read: %s", lt_err(t->read_err));
  ck_assert_msg(t->write_err == 0, "write: %s", lt_err(t->write_err));
  ck_assert_msg(t->bad_at < 0,
                "set %s: restart from %s: data differs at byte %ld (lost, "
                "duplicated or reordered; %zu bytes received)",
                lt_set() ? lt_set() : "(none)", tg_names[t->mode], t->bad_at,
                t->received);
  ck_assert_msg(t->received == TG_TOTAL, "restart from %s: received %zu of "
                "%zu bytes", tg_names[t->mode], t->received, TG_TOTAL);
  ck_assert(t->sum_rx == t->sum_tx);
  ck_assert_int_eq(t->eof, 1);
  ck_assert_uint_gt(t->stops, 10);
  lt_loop_finish(&t->p.loop);
  free(t);
}
END_TEST

/* ---- read_stop holds data that already arrived -------------------------------- */

struct hold {
  struct lt_net_pair p;
  char rbuf[65536];
  size_t received;
  long bad_at;
  int stopped;
  unsigned long while_stopped;
  int eof;
  lure_write_t wr;
  lure_shutdown_t sreq;
};

static void hold_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct hold *d = h->data;

  buf->base = d->rbuf;
  buf->len = sizeof(d->rbuf);
}

static void hold_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct hold *d = s->data;

  if (d->stopped) {
    d->while_stopped++;
    return;
  }
  if (nread > 0) {
    if (d->bad_at < 0) {
      long bad = lt_net_pat_check(4, d->received, buf->base, (size_t) nread);

      if (bad >= 0)
        d->bad_at = (long) d->received + bad;
    }
    d->received += (size_t) nread;
    return;
  }
  if (nread == LURE_EOF) {
    d->eof++;
    lure_close((lure_handle_t *) s, NULL);
    lure_close((lure_handle_t *) &d->p.client, NULL);
  }
}

START_TEST(stream_read_stop_holds) {
  struct hold *d = calloc(1, sizeof(*d));
  lure_stream_t *ss;
  lure_buf_t b = lure_buf_init((char *) lt_net_pat(4, 0), 1 << 20);
  int i;

  d->bad_at = -1;
  lt_net_pair_open(&d->p, LT_NET_WATCHDOG_MS, "read_stop holding data");
  ss = (lure_stream_t *) &d->p.server;
  d->p.server.data = d;
  d->p.client.data = d;
  /* Start reading, and stop before anything arrived. */
  ck_assert_int_eq(lure_read_start(ss, hold_alloc, hold_read), 0);
  for (i = 0; i < 3; i++)
    lure_run(&d->p.loop, LURE_RUN_NOWAIT);
  d->stopped = 1;
  ck_assert_int_eq(lure_read_stop(ss), 0);
  ck_assert_int_eq(lure_read_stop(ss), 0); /* again: nothing */
  ck_assert_int_eq(lure_write(&d->wr, (lure_stream_t *) &d->p.client, &b, 1,
                              NULL), 0);
  ck_assert_int_eq(lure_shutdown(&d->sreq, (lure_stream_t *) &d->p.client,
                                 NULL), 0);
  /* 1 MiB and the EOF arrive while the reader is stopped. */
  lt_run_for(&d->p.loop, 150);
  ck_assert_msg(d->while_stopped == 0, "set %s: %lu read_cb calls after "
                "lure_read_stop", lt_set() ? lt_set() : "(none)",
                d->while_stopped);
  ck_assert_uint_eq(d->received, 0);
  d->stopped = 0;
  ck_assert_int_eq(lure_read_start(ss, hold_alloc, hold_read), 0);
  lt_run(&d->p.loop);
  ck_assert_msg(d->bad_at < 0, "data differs at byte %ld", d->bad_at);
  ck_assert_uint_eq(d->received, 1 << 20);
  ck_assert_int_eq(d->eof, 1);
  lt_loop_finish(&d->p.loop);
  free(d);
}
END_TEST

/* ---- alloc_cb with no buffer ------------------------------------------------------- */

struct nob {
  struct lt_net_pair p;
  char rbuf[8192];
  int allocs;
  int enobufs;
  int other_err;
  size_t received;
  long bad_at;
  int eof;
  lure_write_t wr;
  lure_shutdown_t sreq;
};

static void nob_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct nob *n = h->data;

  /* The first three calls give nothing (alternately a NULL base and a
   * zero length). */
  if (n->allocs++ < 3) {
    buf->base = n->allocs % 2 ? NULL : n->rbuf;
    buf->len = n->allocs % 2 ? sizeof(n->rbuf) : 0;
    return;
  }
  buf->base = n->rbuf;
  buf->len = sizeof(n->rbuf);
}

static void nob_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct nob *n = s->data;

  if (nread > 0) {
    if (n->bad_at < 0) {
      long bad = lt_net_pat_check(6, n->received, buf->base, (size_t) nread);

      if (bad >= 0)
        n->bad_at = (long) n->received + bad;
    }
    n->received += (size_t) nread;
    return;
  }
  if (nread == 0)
    return;
  if (nread == LURE_ENOBUFS) {
    n->enobufs++;
    return; /* reading goes on */
  }
  if (nread == LURE_EOF)
    n->eof++;
  else
    n->other_err = (int) nread;
  lure_close((lure_handle_t *) s, NULL);
  lure_close((lure_handle_t *) &n->p.client, NULL);
}

START_TEST(stream_alloc_enobufs) {
  struct nob *n = calloc(1, sizeof(*n));
  lure_buf_t b = lure_buf_init((char *) lt_net_pat(6, 0), 256 * 1024);

  n->bad_at = -1;
  lt_net_pair_open(&n->p, LT_NET_WATCHDOG_MS, "alloc_cb without a buffer");
  n->p.server.data = n;
  ck_assert_int_eq(lure_write(&n->wr, (lure_stream_t *) &n->p.client, &b, 1,
                              NULL), 0);
  ck_assert_int_eq(lure_shutdown(&n->sreq, (lure_stream_t *) &n->p.client,
                                 NULL), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &n->p.server, nob_alloc,
                                   nob_read), 0);
  lt_run(&n->p.loop);
  ck_assert_msg(n->other_err == 0, "read: %s", lt_err(n->other_err));
  ck_assert_int_eq(n->enobufs, 3);
  ck_assert_msg(n->bad_at < 0, "set %s: data differs at byte %ld after %d "
                "LURE_ENOBUFS reads (%zu of %d bytes received): bytes lost or "
                "reordered around the ENOBUFS", lt_set() ? lt_set() : "(none)",
                n->bad_at, n->enobufs, n->received, 256 * 1024);
  ck_assert_uint_eq(n->received, 256 * 1024);
  ck_assert_int_eq(n->eof, 1);
  lt_loop_finish(&n->p.loop);
  free(n);
}
END_TEST

/* ---- back-pressure ------------------------------------------------------------------ */

struct bp {
  struct lt_net_pair p;
  lure_write_t wr[FILL_WRITES];
  int cbs;
  int err;
  size_t last_wqs;
  int wqs_grew;
  char rbuf[65536];
  size_t received;
  int eof;
  lure_shutdown_t sreq;
};

static void bp_write_cb(lure_write_t *req, int status) {
  struct bp *b = req->data;
  size_t wqs = lure_stream_get_write_queue_size(req->handle);

  b->cbs++;
  if (status != 0 && b->err == 0)
    b->err = status;
  if (wqs > b->last_wqs)
    b->wqs_grew = 1;
  b->last_wqs = wqs;
}

static void bp_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct bp *b = h->data;

  buf->base = b->rbuf;
  buf->len = sizeof(b->rbuf);
}

static void bp_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct bp *b = s->data;

  if (nread > 0) {
    b->received += (size_t) nread;
    return;
  }
  if (nread < 0) {
    b->eof = nread == LURE_EOF;
    lure_close((lure_handle_t *) s, NULL);
    lure_close((lure_handle_t *) &b->p.client, NULL);
  }
}

START_TEST(stream_backpressure) {
  struct bp *b = calloc(1, sizeof(*b));
  lure_stream_t *cs;
  lure_buf_t buf = lure_buf_init((char *) lt_net_pat(2, 0), (unsigned int) MIB);
  size_t wqs;
  size_t prev = 0;
  int i;

  lt_net_pair_open(&b->p, LT_NET_WATCHDOG_MS, "back-pressure");
  cs = (lure_stream_t *) &b->p.client;
  b->p.server.data = b;
  b->last_wqs = (size_t) -1;
  ck_assert_uint_eq(lure_stream_get_write_queue_size(cs), 0);
  for (i = 0; i < FILL_WRITES; i++) {
    b->wr[i].data = b;
    ck_assert_int_eq(lure_write(&b->wr[i], cs, &buf, 1, bp_write_cb), 0);
    wqs = lure_stream_get_write_queue_size(cs);
    ck_assert_uint_eq(wqs, cs->write_queue_size);
    ck_assert_uint_le(wqs, (size_t) (i + 1) * MIB);
    ck_assert_msg(i < 8 || wqs > prev, "write %d: write_queue_size %zu did "
                  "not grow (was %zu) with a peer that does not read", i, wqs,
                  prev);
    prev = wqs;
  }
  lt_run_for(&b->p.loop, 200);
  wqs = lure_stream_get_write_queue_size(cs);
  ck_assert_msg(wqs > 0, "write_queue_size is 0 with %d MiB written to a "
                "peer that does not read", FILL_WRITES);
  ck_assert_uint_le(wqs, (size_t) (FILL_WRITES - b->cbs) * MIB);
  ck_assert_int_lt(b->cbs, FILL_WRITES);
  /* The peer reads: the queue drains. */
  b->last_wqs = wqs;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &b->p.server, bp_alloc,
                                   bp_read), 0);
  ck_assert_int_eq(lure_shutdown(&b->sreq, cs, NULL), 0);
  lt_run(&b->p.loop);
  ck_assert_msg(b->err == 0, "write: %s", lt_err(b->err));
  ck_assert_int_eq(b->cbs, FILL_WRITES);
  ck_assert_msg(!b->wqs_grew, "write_queue_size grew while draining");
  ck_assert_uint_eq(b->last_wqs, 0);
  ck_assert_uint_eq(b->received, (size_t) FILL_WRITES * MIB);
  ck_assert_int_eq(b->eof, 1);
  lt_loop_finish(&b->p.loop);
  free(b);
}
END_TEST

/* ---- lure_try_write --------------------------------------------------------------- */

struct tw {
  struct lt_net_pair p;
  char rbuf[65536];
  size_t received;
  long bad_at;
  int eof;
};

static void tw_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct tw *t = h->data;

  buf->base = t->rbuf;
  buf->len = sizeof(t->rbuf);
}

static void tw_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct tw *t = s->data;

  if (nread > 0) {
    if (t->bad_at < 0) {
      long bad = lt_net_pat_check(12, t->received, buf->base, (size_t) nread);

      if (bad >= 0)
        t->bad_at = (long) t->received + bad;
    }
    t->received += (size_t) nread;
    return;
  }
  if (nread < 0) {
    t->eof = nread == LURE_EOF;
    lure_close((lure_handle_t *) s, NULL);
    /* The client stays open for the checks that follow. */
    lure_stop(s->loop);
  }
}

START_TEST(stream_try_write) {
  struct tw *t = calloc(1, sizeof(*t));
  lure_stream_t *cs;
  lure_buf_t b[2];
  lure_write_t wr;
  lure_shutdown_t sreq;
  size_t sent = 0;
  int rc;
  int i;

  t->bad_at = -1;
  lt_net_pair_open(&t->p, LT_NET_WATCHDOG_MS, "lure_try_write");
  cs = (lure_stream_t *) &t->p.client;
  t->p.server.data = t;
  /* Two buffers at once. */
  b[0] = lure_buf_init((char *) lt_net_pat(12, 0), 10);
  b[1] = lure_buf_init((char *) lt_net_pat(12, 10), 20);
  rc = lure_try_write(cs, b, 2);
  ck_assert_msg(rc == 30, "lure_try_write of 30 bytes: %s", lt_err(rc));
  sent = 30;
  /* Until the socket is full (the peer does not read yet). */
  for (i = 0; i < 100000; i++) {
    b[0] = lure_buf_init((char *) lt_net_pat(12, sent), 65536);
    rc = lure_try_write(cs, b, 1);
    if (rc == LURE_EAGAIN)
      break;
    ck_assert_msg(rc > 0 && rc <= 65536, "lure_try_write: %s", lt_err(rc));
    sent += (size_t) rc;
  }
  ck_assert_msg(rc == LURE_EAGAIN, "lure_try_write never reported EAGAIN "
                "(%zu bytes sent)", sent);
  /* A queued write makes lure_try_write refuse, to keep the order. */
  b[0] = lure_buf_init((char *) lt_net_pat(12, sent), 65536);
  ck_assert_int_eq(lure_write(&wr, cs, b, 1, NULL), 0);
  sent += 65536;
  b[0] = lure_buf_init((char *) lt_net_pat(12, sent), 100);
  rc = lure_try_write(cs, b, 1);
  ck_assert_msg(rc == LURE_EAGAIN, "lure_try_write behind a queued write: %s, "
                "want EAGAIN", lt_err(rc));
  ck_assert_int_eq(lure_shutdown(&sreq, cs, NULL), 0);
  rc = lure_try_write(cs, b, 1);
  ck_assert_msg(rc == LURE_EPIPE || rc == LURE_EAGAIN,
                "lure_try_write after lure_shutdown: %s, want EPIPE (or "
                "EAGAIN while writes are queued)", lt_err(rc));
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &t->p.server, tw_alloc,
                                   tw_read), 0);
  lt_run(&t->p.loop);
  ck_assert_msg(t->bad_at < 0, "data differs at byte %ld", t->bad_at);
  ck_assert_uint_eq(t->received, sent);
  ck_assert_int_eq(t->eof, 1);
  /* Once the write side is shut: EPIPE. */
  rc = lure_try_write(cs, b, 1);
  ck_assert_msg(rc == LURE_EPIPE, "lure_try_write on a shut-down stream: %s, "
                "want EPIPE", lt_err(rc));
  lt_loop_finish(&t->p.loop);
  free(t);
}
END_TEST

/* lure_try_write right after lure_shutdown, with nothing queued: the
 * writing side "has been shut down with lure_shutdown(3)" (EPIPE), as
 * lure_write returns EPIPE from the call on. */
START_TEST(stream_try_write_after_shutdown_call) {
  struct lt_net_pair *p = calloc(1, sizeof(*p));
  lure_stream_t *cs;
  lure_shutdown_t sreq;
  lure_buf_t b = lure_buf_init("x", 1);
  int rc;

  lt_net_pair_open(p, LT_NET_WATCHDOG_MS, "lure_try_write after lure_shutdown");
  cs = (lure_stream_t *) &p->client;
  ck_assert_int_eq(lure_shutdown(&sreq, cs, NULL), 0);
  rc = lure_try_write(cs, &b, 1);
  ck_assert_msg(rc == LURE_EPIPE, "set %s: lure_try_write after "
                "lure_shutdown: %s, want EPIPE (the byte would go out "
                "although lure_write refuses)",
                lt_set() ? lt_set() : "(none)", lt_err(rc));
  lt_loop_finish(&p->loop);
  free(p);
}
END_TEST

/* ---- a stream that only wrote lets the loop end ------------------------------------- */

/* As in libuv, what keeps a loop alive is a reading (or listening)
 * stream and pending requests; a connected stream whose writes and
 * shutdown have completed, and that does not read, is not active. */
struct wo {
  struct lt_net_pair p;
  lure_write_t wr;
  lure_shutdown_t sreq;
  int write_cbs;
  int shut_cbs;
  char rbuf[256];
  size_t received;
  int eof;
};

static void wo_write_cb(lure_write_t *req, int status) {
  struct wo *w = req->data;

  ck_assert_int_eq(status, 0);
  w->write_cbs++;
}

static void wo_shut_cb(lure_shutdown_t *req, int status) {
  struct wo *w = req->data;

  ck_assert_int_eq(status, 0);
  w->shut_cbs++;
}

static void wo_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct wo *w = h->data;

  buf->base = w->rbuf;
  buf->len = sizeof(w->rbuf);
}

static void wo_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct wo *w = s->data;

  if (nread > 0)
    w->received += (size_t) nread;
  else if (nread < 0) {
    w->eof = nread == LURE_EOF;
    lure_close((lure_handle_t *) s, NULL);
  }
}

START_TEST(stream_written_not_reading_is_inactive) {
  struct wo *w = calloc(1, sizeof(*w));
  lure_stream_t *cs;
  lure_buf_t b = lure_buf_init("hello", 5);

  lt_net_pair_open(&w->p, 3000,
               "lure_run with only a stream left whose write and shutdown "
               "completed and that does not read (it stays active)");
  cs = (lure_stream_t *) &w->p.client;
  w->p.server.data = w;
  w->wr.data = w;
  w->sreq.data = w;
  ck_assert_int_eq(lure_is_active((lure_handle_t *) cs), 0);
  ck_assert_int_eq(lure_write(&w->wr, cs, &b, 1, wo_write_cb), 0);
  ck_assert_int_eq(lure_shutdown(&w->sreq, cs, wo_shut_cb), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &w->p.server, wo_alloc,
                                   wo_read), 0);
  lt_run(&w->p.loop);
  ck_assert_int_eq(w->write_cbs, 1);
  ck_assert_int_eq(w->shut_cbs, 1);
  ck_assert_uint_eq(w->received, 5);
  ck_assert_int_eq(w->eof, 1);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) cs), 0);
  lt_loop_finish(&w->p.loop);
  free(w);
}
END_TEST

/* ---- a write callback that chains the next write -------------------------------------- */

/* libuv's tcp_write_ready: each write callback makes the next 1-byte write.
 * The socket takes each at once, but its callback must not run in the same
 * loop turn (lure used to run the whole chain inside the first callback,
 * tens of thousands of sends, while timers and reads starved).  A 0 ms
 * timer started by the first callback runs in the next tick's timers
 * phase: it must find the chain still running, and the reader on the same
 * loop must have had bytes before the chain ended. */
#define WC_N 20000

struct wc {
  struct lt_net_pair p;
  lure_write_t wr;
  lure_shutdown_t sreq;
  lure_timer_t t;
  char rbuf[65536];
  int writes;            /* write callbacks */
  int at_timer;          /* write callbacks when the timer ran, -1 before */
  size_t received;
  size_t received_at_end; /* bytes read when the last callback ran */
  int eof;
};

static void wc_write_cb(lure_write_t *req, int status);

static void wc_timer_cb(lure_timer_t *h) {
  struct wc *w = h->data;

  w->at_timer = w->writes;
  lure_close((lure_handle_t *) h, NULL);
}

static void wc_write(struct wc *w) {
  lure_buf_t b = lure_buf_init("P", 1);

  ck_assert_int_eq(lure_write(&w->wr, (lure_stream_t *) &w->p.client, &b, 1,
                              wc_write_cb), 0);
}

static void wc_write_cb(lure_write_t *req, int status) {
  struct wc *w = req->data;

  ck_assert_int_eq(status, 0);
  w->writes++;
  if (w->writes == 1) {
    ck_assert_int_eq(lure_timer_init(&w->p.loop, &w->t), 0);
    w->t.data = w;
    ck_assert_int_eq(lure_timer_start(&w->t, wc_timer_cb, 0, 0), 0);
  }
  if (w->writes < WC_N) {
    wc_write(w);
    return;
  }
  w->received_at_end = w->received;
  ck_assert_int_eq(lure_shutdown(&w->sreq, (lure_stream_t *) &w->p.client,
                                 NULL), 0);
}

static void wc_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct wc *w = h->data;

  buf->base = w->rbuf;
  buf->len = sizeof(w->rbuf);
}

static void wc_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct wc *w = s->data;

  if (nread > 0) {
    w->received += (size_t) nread;
  } else if (nread < 0) {
    w->eof = nread == LURE_EOF;
    lure_close((lure_handle_t *) s, NULL);
    lure_close((lure_handle_t *) &w->p.client, NULL);
  }
}

START_TEST(stream_write_cb_chain_yields) {
  struct wc *w = calloc(1, sizeof(*w));

  ck_assert_ptr_nonnull(w);
  lt_net_pair_open(&w->p, LT_NET_WATCHDOG_MS, "a chain of writes from write "
               "callbacks");
  w->p.server.data = w;
  w->wr.data = w;
  w->at_timer = -1;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &w->p.server, wc_alloc,
                                   wc_read), 0);
  wc_write(w);
  lt_run(&w->p.loop);
  ck_assert_int_eq(w->writes, WC_N);
  ck_assert_msg(w->at_timer >= 1 && w->at_timer < WC_N / 2,
                "a 0 ms timer started by the first write callback ran after "
                "%d of %d chained writes", w->at_timer, WC_N);
  ck_assert_msg(w->received_at_end > 0, "the reader on the same loop got "
                "nothing while %d chained writes ran", WC_N);
  ck_assert_uint_eq(w->received, WC_N);
  ck_assert_int_eq(w->eof, 1);
  lt_loop_finish(&w->p.loop);
  free(w);
}
END_TEST

/* ---- writes of many buffers ---------------------------------------------------------- */

/* writev semantics across the iovec limits of each path (64 per
 * sendmsg in lure, IOV_MAX 1024 in the kernel): a request of 1,500
 * buffers of odd sizes, one of 70 with empty buffers among them, and one
 * of nothing but empty buffers. */
#define MB_N1 1500
#define MB_N2 70

struct mb {
  struct lt_net_pair p;
  lure_buf_t bufs1[MB_N1];
  lure_buf_t bufs2[MB_N2];
  lure_buf_t empty[3];
  lure_write_t wr[3];
  int status[3];
  int cbs[3];
  int order[3];
  int ncb;
  size_t total;
  char rbuf[65536];
  size_t received;
  long bad_at;
  int eof;
  lure_shutdown_t sreq;
};

static void mb_write_cb(lure_write_t *req, int status) {
  struct mb *m = req->data;
  int i = (int) (req - m->wr);

  m->cbs[i]++;
  m->status[i] = status;
  m->order[m->ncb++ % 3] = i;
}

static void mb_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct mb *m = h->data;

  buf->base = m->rbuf;
  buf->len = sizeof(m->rbuf);
}

static void mb_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct mb *m = s->data;

  if (nread > 0) {
    if (m->bad_at < 0) {
      long bad = lt_net_pat_check(17, m->received, buf->base, (size_t) nread);

      if (bad >= 0)
        m->bad_at = (long) m->received + bad;
    }
    m->received += (size_t) nread;
    return;
  }
  if (nread < 0) {
    m->eof = nread == LURE_EOF;
    lure_close((lure_handle_t *) s, NULL);
    lure_close((lure_handle_t *) &m->p.client, NULL);
  }
}

START_TEST(stream_write_many_buffers) {
  struct mb *m = calloc(1, sizeof(*m));
  lure_stream_t *cs;
  size_t off = 0;
  int i;

  m->bad_at = -1;
  lt_net_pair_open(&m->p, LT_NET_WATCHDOG_MS, "writes of many buffers");
  cs = (lure_stream_t *) &m->p.client;
  m->p.server.data = m;
  for (i = 0; i < MB_N1; i++) {
    size_t n = 1 + ((size_t) i * 7919u) % 2000;

    m->bufs1[i] = lure_buf_init((char *) lt_net_pat(17, off), (unsigned int) n);
    off += n;
  }
  for (i = 0; i < MB_N2; i++) {
    size_t n = (i % 5 == 0) ? 0 : 1 + ((size_t) i * 104729u) % 3000;

    m->bufs2[i] = lure_buf_init((char *) lt_net_pat(17, off), (unsigned int) n);
    off += n;
  }
  for (i = 0; i < 3; i++)
    m->empty[i] = lure_buf_init((char *) lt_net_pat(17, off), 0);
  m->total = off;
  for (i = 0; i < 3; i++)
    m->wr[i].data = m;
  ck_assert_int_eq(lure_write(&m->wr[0], cs, m->bufs1, MB_N1, mb_write_cb), 0);
  ck_assert_int_eq(lure_write(&m->wr[1], cs, m->bufs2, MB_N2, mb_write_cb), 0);
  ck_assert_int_eq(lure_write(&m->wr[2], cs, m->empty, 3, mb_write_cb), 0);
  /* The arrays are copied: scribbling on them now changes nothing. */
  memset(m->bufs1, 0, sizeof(m->bufs1));
  memset(m->bufs2, 0, sizeof(m->bufs2));
  ck_assert_int_eq(lure_shutdown(&m->sreq, cs, NULL), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &m->p.server, mb_alloc,
                                   mb_read), 0);
  lt_run(&m->p.loop);
  for (i = 0; i < 3; i++) {
    ck_assert_msg(m->cbs[i] == 1, "write %d: %d callbacks", i, m->cbs[i]);
    ck_assert_msg(m->status[i] == 0, "write %d: %s", i, lt_err(m->status[i]));
    ck_assert_int_eq(m->order[i], i);
  }
  ck_assert_msg(m->bad_at < 0, "set %s: data differs at byte %ld of %zu",
                lt_set() ? lt_set() : "(none)", m->bad_at, m->total);
  ck_assert_uint_eq(m->received, m->total);
  ck_assert_int_eq(m->eof, 1);
  lt_loop_finish(&m->p.loop);
  free(m);
}
END_TEST

/* ---- borrowed buffers go back once ------------------------------------------------- */

/* lure_read_start_borrowed(3): a buffer "must be given back with
 * lure_buf_release() ... exactly once"; a second release is refused with
 * LURE_EINVAL ("or it was already released").  Checked while another
 * buffer is still lent, so that the loop has lent buffers outstanding. */
struct dr {
  struct lt_net_pair p;
  lure_buf_t held[2];
  int nheld;
  size_t received;
  lure_write_t wr[2];
};

static void dr_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct dr *d = s->data;

  if (nread <= 0)
    return;
  ck_assert_int_lt(d->nheld, 2);
  d->held[d->nheld++] = *buf;
  d->received += (size_t) nread;
}

START_TEST(stream_borrowed_double_release) {
  struct dr *d = calloc(1, sizeof(*d));
  lure_buf_t b1 = lure_buf_init("first", 5);
  lure_buf_t b2 = lure_buf_init("second", 6);
  lure_buf_t copy;
  int rc;
  int i;

  lt_net_pair_open(&d->p, LT_NET_WATCHDOG_MS, "double lure_buf_release");
  d->p.server.data = d;
  ck_assert_int_eq(lure_read_start_borrowed((lure_stream_t *) &d->p.server,
                                            dr_read), 0);
  ck_assert_int_eq(lure_write(&d->wr[0], (lure_stream_t *) &d->p.client, &b1,
                              1, NULL), 0);
  for (i = 0; i < 1000 && d->nheld < 1; i++)
    lure_run(&d->p.loop, LURE_RUN_ONCE);
  ck_assert_int_eq(lure_write(&d->wr[1], (lure_stream_t *) &d->p.client, &b2,
                              1, NULL), 0);
  for (i = 0; i < 1000 && d->nheld < 2; i++)
    lure_run(&d->p.loop, LURE_RUN_ONCE);
  ck_assert_int_eq(d->nheld, 2);
  ck_assert_uint_eq(d->received, 11);
  ck_assert_int_eq(lure_buf_release(&d->p.loop, &d->held[0]), 0);
  /* A copy of a lent buffer that is not at its start is not one lure
   * lent either. */
  copy = d->held[1];
  copy.base += 1;
  rc = lure_buf_release(&d->p.loop, &copy);
  ck_assert_msg(rc == LURE_EINVAL, "release of base+1: %s", lt_err(rc));
  rc = lure_buf_release(&d->p.loop, &d->held[0]);
  ck_assert_msg(rc == LURE_EINVAL,
                "set %s: second lure_buf_release of the same buffer (another "
                "one still lent): %s, want EINVAL",
                lt_set() ? lt_set() : "(none)", lt_err(rc));
  ck_assert_int_eq(lure_buf_release(&d->p.loop, &d->held[1]), 0);
  lt_loop_finish(&d->p.loop);
  free(d);
}
END_TEST

/* ---- fork: the child does no I/O on inherited streams ----------------------- */

/* A stream with queued data the peer has not read yet; the process forks
 * and the child only calls lure_loop_fork() and exits.  The socket is the
 * parent's too: the child must not send any of the queued bytes (the fork
 * hook once restarted the write queue there, and the peer got parts of the
 * stream twice).  The peer then reads everything and checks it byte for
 * byte against what the parent wrote. */
#define FORK_WRITES 32

struct fw {
  struct lt_net_pair p;
  lure_write_t wr[FORK_WRITES];
  int cbs;
  int err;
  char rbuf[65536];
  size_t received;
  long bad_at;
  uint64_t sum;
  int eof;
  lure_shutdown_t sreq;
};

static void fw_write_cb(lure_write_t *req, int status) {
  struct fw *f = req->data;

  f->cbs++;
  if (status != 0 && f->err == 0)
    f->err = status;
}

static void fw_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct fw *f = h->data;

  buf->base = f->rbuf;
  buf->len = sizeof(f->rbuf);
}

static void fw_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct fw *f = s->data;
  size_t off;
  size_t n;
  long bad;

  if (nread > 0) {
    f->sum = lt_net_sum(f->sum, buf->base, (size_t) nread);
    /* Stream 21 is FORK_WRITES runs of lt_net_pat(21, 0..MIB). */
    for (off = 0; f->bad_at < 0 && off < (size_t) nread; off += n) {
      size_t at = f->received + off;

      n = MIB - at % MIB;
      if (n > (size_t) nread - off)
        n = (size_t) nread - off;
      bad = lt_net_pat_check(21, at % MIB, buf->base + off, n);
      if (bad >= 0)
        f->bad_at = (long) (at + (size_t) bad);
    }
    f->received += (size_t) nread;
    return;
  }
  if (nread < 0) {
    f->eof = nread == LURE_EOF;
    lure_close((lure_handle_t *) s, NULL);
    lure_close((lure_handle_t *) &f->p.client, NULL);
  }
}

START_TEST(stream_fork_no_child_writes) {
  struct fw *f = calloc(1, sizeof(*f));
  lure_stream_t *cs;
  lure_buf_t buf = lure_buf_init((char *) lt_net_pat(21, 0), (unsigned int) MIB);
  uint64_t want = LT_NET_SUM_INIT;
  pid_t pid;
  int status;
  int i;

  lt_net_pair_open(&f->p, LT_NET_WATCHDOG_MS, "fork with queued writes");
  cs = (lure_stream_t *) &f->p.client;
  f->p.server.data = f;
  f->bad_at = -1;
  f->sum = LT_NET_SUM_INIT;
  for (i = 0; i < FORK_WRITES; i++) {
    f->wr[i].data = f;
    ck_assert_int_eq(lure_write(&f->wr[i], cs, &buf, 1, fw_write_cb), 0);
    want = lt_net_sum(want, buf.base, buf.len);
  }
  /* Part of it goes out (the socket buffers fill), the rest waits. */
  lt_run_for(&f->p.loop, 100);
  ck_assert_msg(lure_stream_get_write_queue_size(cs) > 0,
                "every byte left before the fork: the test proves nothing");
  /* The peer takes a little, so that the socket has room at the fork. */
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &f->p.server, fw_alloc,
                                   fw_read), 0);
  while (f->received < 2 * MIB)
    lure_run(&f->p.loop, LURE_RUN_ONCE);
  ck_assert_int_eq(lure_read_stop((lure_stream_t *) &f->p.server), 0);
  fflush(NULL);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    lure_loop_fork(&f->p.loop);
    _exit(0);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &f->p.server, fw_alloc,
                                   fw_read), 0);
  ck_assert_int_eq(lure_shutdown(&f->sreq, cs, NULL), 0);
  lt_run(&f->p.loop);
  ck_assert_msg(f->err == 0, "write: %s", lt_err(f->err));
  ck_assert_int_eq(f->cbs, FORK_WRITES);
  ck_assert_msg(f->received == (size_t) FORK_WRITES * MIB && f->bad_at < 0 &&
                    f->sum == want,
                "set %s: the peer got %zu bytes for %zu written, first wrong "
                "byte at %ld: the child sent queued data again",
                lt_set() ? lt_set() : "(none)", f->received,
                (size_t) FORK_WRITES * MIB, f->bad_at);
  ck_assert_int_eq(f->eof, 1);
  lt_loop_finish(&f->p.loop);
  free(f);
}
END_TEST

/* ---- small writes queued behind a full socket -------------------------- */

/* Thousands of small writes (1 to 97 bytes, some in two buffers with an
 * empty one between) queued behind a write that fills the socket, to a
 * peer that starts reading only then: every byte arrives once and in
 * order, every callback comes with status 0 in the order of the writes,
 * and the queue size returns to 0.  On the ring the small writes leave
 * gathered into SENDMSGs of up to 64 buffers; a mistake in spreading a
 * send's count over the requests it covered loses, repeats or reorders
 * bytes or callbacks here. */
#define SW_N 3000
#define SW_BIG ((size_t) 4 * MIB)

struct sw {
  struct lt_net_pair p;
  lure_write_t big;
  lure_buf_t big_parts[4];
  lure_write_t wr[SW_N];
  lure_buf_t bufs[SW_N][3];
  char rbuf[65536];
  size_t total;
  size_t received;
  long bad_at;
  int next_cb;
  int order_bad;
  int status_bad;
  int eof;
};

static void sw_write_cb(lure_write_t *req, int status) {
  struct sw *w = req->data;
  int idx = req == &w->big ? -1 : (int) (req - w->wr);

  if (status != 0)
    w->status_bad++;
  /* The big write first (-1), then the small ones 0, 1, 2, ... */
  if (idx != w->next_cb - 1)
    w->order_bad++;
  w->next_cb++;
}

static void sw_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct sw *w = h->data;

  (void) sz;
  buf->base = w->rbuf;
  buf->len = sizeof(w->rbuf);
}

static void sw_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct sw *w = s->data;

  if (nread > 0) {
    if (w->bad_at < 0) {
      long bad = lt_net_pat_check(21, w->received, buf->base, (size_t) nread);

      if (bad >= 0)
        w->bad_at = (long) w->received + bad;
    }
    w->received += (size_t) nread;
    return;
  }
  if (nread < 0) {
    w->eof = nread == LURE_EOF;
    lure_close((lure_handle_t *) s, NULL);
    lure_close((lure_handle_t *) &w->p.client, NULL);
  }
}

START_TEST(stream_small_writes_behind_full_socket) {
  struct sw *w = calloc(1, sizeof(*w));
  lure_stream_t *cs;
  lure_shutdown_t sreq;
  size_t off;
  int i;

  ck_assert_ptr_nonnull(w);
  w->bad_at = -1;
  lt_net_pair_open(&w->p, LT_NET_WATCHDOG_MS, "small writes");
  cs = (lure_stream_t *) &w->p.client;
  w->p.server.data = w;
  /* 4 MiB of pattern 21 in 1 MiB pieces of one request: more than the
   * socket takes while the peer does not read. */
  for (i = 0; i < 4; i++)
    w->big_parts[i] = lure_buf_init(
        (char *) lt_net_pat(21, (uint64_t) i * MIB), (unsigned int) MIB);
  w->big.data = w;
  ck_assert_int_eq(lure_write(&w->big, cs, w->big_parts, 4, sw_write_cb), 0);
  off = SW_BIG;
  for (i = 0; i < SW_N; i++) {
    size_t len = 1 + (size_t) (i * 37 % 97);
    const char *p = (const char *) lt_net_pat(21, off);
    unsigned nb = 1;

    w->wr[i].data = w;
    if (i % 7 == 3 && len > 1) {
      /* two buffers with an empty one between */
      w->bufs[i][0] = lure_buf_init((char *) p, (unsigned int) (len / 2));
      w->bufs[i][1] = lure_buf_init((char *) p, 0);
      w->bufs[i][2] = lure_buf_init((char *) p + len / 2,
                                    (unsigned int) (len - len / 2));
      nb = 3;
    } else {
      w->bufs[i][0] = lure_buf_init((char *) p, (unsigned int) len);
    }
    ck_assert_int_eq(lure_write(&w->wr[i], cs, w->bufs[i], nb, sw_write_cb),
                     0);
    off += len;
  }
  w->total = off;
  /* Let the loop push what the socket takes; the small writes wait. */
  lt_run_for(&w->p.loop, 100);
  ck_assert_msg(lure_stream_get_write_queue_size(cs) > 0,
                "set %s: nothing queued behind %zu bytes to a peer that does "
                "not read", lt_set() ? lt_set() : "(none)", SW_BIG);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &w->p.server, sw_alloc,
                                   sw_read), 0);
  ck_assert_int_eq(lure_shutdown(&sreq, cs, NULL), 0);
  lt_run(&w->p.loop);
  ck_assert_int_eq(w->status_bad, 0);
  ck_assert_int_eq(w->next_cb, SW_N + 1);
  ck_assert_msg(w->order_bad == 0, "set %s: %d write callbacks out of order",
                lt_set() ? lt_set() : "(none)", w->order_bad);
  ck_assert_msg(w->bad_at < 0, "set %s: byte %ld differs", lt_set() ?
                lt_set() : "(none)", w->bad_at);
  ck_assert_uint_eq(w->received, w->total);
  ck_assert_int_eq(w->eof, 1);
  ck_assert_uint_eq(lure_stream_get_write_queue_size(cs), 0);
  lt_loop_finish(&w->p.loop);
  free(w);
}
END_TEST

/* ---- a stopped stream closed and freed, its number reused at once -------- */

/* On epoll a stream that stops reading stays registered until the next
 * poll (backends/epoll.c, parked), so that a restart in between is one
 * mask change.  Closing it must drop that registration at once: here a
 * stream on one end of a socketpair stops reading and closes in its read
 * callback, and its close callback frees it, as programs do.  The close
 * callback also makes a new socketpair, puts one end on the freed number
 * and reads from it through a new handle.  The next poll must neither
 * touch the freed handle (AddressSanitizer, in CI, sees a read of it) nor
 * drop the new handle's registration of the same number (the data would
 * never arrive). */
struct reuse {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_pipe_t *a;     /* heap: freed by its close callback */
  lure_pipe_t b;
  int asv[2];
  int bsv[2];
  int old_fd;
  int new_fd;
  int a_closed;
  int got;
  char rbuf[64];
};

static struct reuse *reuse_cur;

static void reuse_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  (void) h;
  (void) sz;
  buf->base = reuse_cur->rbuf;
  buf->len = sizeof(reuse_cur->rbuf);
}

static void reuse_b_read(lure_stream_t *s, ssize_t nread,
                         const lure_buf_t *buf) {
  struct reuse *r = reuse_cur;

  (void) buf;
  if (nread <= 0)
    return;
  r->got += (int) nread;
  lure_close((lure_handle_t *) s, NULL);
  lure_close((lure_handle_t *) &r->wd, NULL);
}

static void reuse_a_closed(lure_handle_t *h) {
  struct reuse *r = reuse_cur;
  lure_os_fd_t fd;

  memset(h, 0xa5, sizeof(lure_pipe_t));
  free(h);
  r->a_closed = 1;
  /* The old number is free (closed by lure_close), and the new socket
   * takes it. */
  ck_assert_int_eq(fcntl(r->old_fd, F_GETFD), -1);
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
                              r->bsv), 0);
  if (r->bsv[1] == r->old_fd) {
    r->bsv[1] = r->bsv[0];
    r->bsv[0] = r->old_fd;
  } else if (r->bsv[0] != r->old_fd) {
    ck_assert_int_eq(dup3(r->bsv[0], r->old_fd, O_CLOEXEC), r->old_fd);
    close(r->bsv[0]);
    r->bsv[0] = r->old_fd;
  }
  ck_assert_int_eq(lure_pipe_init(&r->loop, &r->b, 0), 0);
  ck_assert_int_eq(lure_pipe_open(&r->b, r->bsv[0]), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &r->b, &fd), 0);
  r->new_fd = (int) fd;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &r->b, reuse_alloc,
                                   reuse_b_read), 0);
  ck_assert_int_eq(write(r->bsv[1], "late", 4), 4);
}

static void reuse_a_read(lure_stream_t *s, ssize_t nread,
                         const lure_buf_t *buf) {
  (void) buf;
  if (nread <= 0)
    return;
  ck_assert_int_eq(lure_read_stop(s), 0);
  lure_close((lure_handle_t *) s, reuse_a_closed);
}

START_TEST(stream_stopped_close_fd_reused) {
  struct reuse *r = calloc(1, sizeof(*r));
  lure_os_fd_t fd;

  ck_assert_ptr_nonnull(r);
  reuse_cur = r;
  lt_loop_init(&r->loop);
  lt_watchdog(&r->loop, &r->wd, LT_NET_WATCHDOG_MS,
              "a stopped stream's number reused");
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
                              r->asv), 0);
  r->a = malloc(sizeof(*r->a));
  ck_assert_ptr_nonnull(r->a);
  ck_assert_int_eq(lure_pipe_init(&r->loop, r->a, 0), 0);
  ck_assert_int_eq(lure_pipe_open(r->a, r->asv[0]), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) r->a, &fd), 0);
  r->old_fd = (int) fd;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) r->a, reuse_alloc,
                                   reuse_a_read), 0);
  ck_assert_int_eq(write(r->asv[1], "x", 1), 1);
  lt_run(&r->loop);
  ck_assert_int_eq(r->a_closed, 1);
  /* The case this test is for: the new socket got the old number. */
  ck_assert_int_eq(r->new_fd, r->old_fd);
  ck_assert_int_eq(r->got, 4);
  close(r->asv[1]);
  close(r->bsv[1]);
  lt_loop_finish(&r->loop);
  free(r);
}
END_TEST

LT_SUITE(stream) {
  Suite *s = suite_create("stream");
  TCase *tc;

  tc = tcase_create("close");
  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_test(tc, stream_write_after_close);
  suite_add_tcase(s, tc);

  tc = tcase_create("read");
  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_loop_test(tc, stream_read_toggle, 0, TG_MODES);
  tcase_add_test(tc, stream_read_stop_holds);
  tcase_add_test(tc, stream_alloc_enobufs);
  tcase_add_test(tc, stream_borrowed_double_release);
  suite_add_tcase(s, tc);

  tc = tcase_create("write");
  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_test(tc, stream_backpressure);
  tcase_add_test(tc, stream_write_many_buffers);
  tcase_add_test(tc, stream_try_write);
  tcase_add_test(tc, stream_try_write_after_shutdown_call);
  tcase_add_test(tc, stream_written_not_reading_is_inactive);
  tcase_add_test(tc, stream_write_cb_chain_yields);
  tcase_add_test(tc, stream_fork_no_child_writes);
  tcase_add_test(tc, stream_small_writes_behind_full_socket);
  tcase_add_test(tc, stream_stopped_close_fd_reused);
  suite_add_tcase(s, tc);
  return s;
}
