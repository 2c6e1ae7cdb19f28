/*
 * net-ring.c - suite "ring": a ping-pong of 64-byte messages (TCP_NODELAY)
 * over 10 connections on one loop, 1,000 rounds each, measured with
 * lure_loop_stats().  Every set checks the echo and prints the counters;
 * the set "uring" also checks that the ring's socket path is what served
 * it (stream writes report "io_uring", completions were reaped from the
 * ring: at least one per round trip) and that the loop waits less than
 * once per round trip (the target is <= 0.1 at 100 connections; a
 * benchmark measures that, this only guards against a path that enters
 * the kernel once per operation).  The epoll sets check that the epoll
 * wait point served it and the ring reaped nothing.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "harness-net.h"
#include "internal.h"

#define PP_CONNS 10
#define PP_ROUNDS 1000
#define PP_MSG 64

struct pp_client {
  lure_tcp_t tcp;
  lure_connect_t creq;
  struct pp *pp;
  lure_write_t wr[4];
  int busy[4];
  unsigned next_wr;
  unsigned rounds;
  size_t got;              /* bytes of the current echo */
  unsigned char msg[PP_MSG];
  unsigned char rbuf[PP_MSG * 2];
  int bad;
  int err;
  int closed;
};

struct pp {
  lure_loop_t loop;
  lure_timer_t wd;
  struct lt_net_server srv;
  struct sockaddr_storage addr;
  struct pp_client c[PP_CONNS];
  unsigned connected;
  unsigned done;
  unsigned finished;
  int executor_checked;
  lure_loop_stats_t s0;
  lure_loop_stats_t s1;
  uint64_t t0;
  uint64_t t1;
};

static void pp_write_cb(lure_write_t *req, int status) {
  struct pp_client *c = req->data;

  c->busy[req - c->wr] = 0;
  if (status != 0 && c->err == 0)
    c->err = status;
  if (!c->pp->executor_checked) {
    c->pp->executor_checked = 1;
    LT_NET_CHECK_EXECUTOR(req, "a ping write");
  }
}

static void pp_send(struct pp_client *c) {
  unsigned i = c->next_wr++ % 4;
  lure_buf_t b;

  ck_assert_msg(!c->busy[i], "four pings in flight on one connection");
  memset(c->msg, (int) (c->rounds & 0xff), sizeof(c->msg));
  memcpy(c->msg, &c->rounds, sizeof(c->rounds));
  b = lure_buf_init((char *) c->msg, PP_MSG);
  c->busy[i] = 1;
  c->wr[i].data = c;
  ck_assert_int_eq(lure_write(&c->wr[i], (lure_stream_t *) &c->tcp, &b, 1,
                              pp_write_cb), 0);
}

static void pp_close_cb(lure_handle_t *h) {
  struct pp_client *c = h->data;

  c->closed = 1;
  if (++c->pp->done == PP_CONNS)
    lt_net_server_stop(&c->pp->srv);
}

static void pp_start_all(struct pp *p) {
  unsigned i;

  lure_loop_stats(&p->loop, &p->s0);
  p->t0 = lure_hrtime();
  for (i = 0; i < PP_CONNS; i++)
    pp_send(&p->c[i]);
}

static void pp_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct pp_client *c = h->data;

  buf->base = (char *) c->rbuf + c->got;
  buf->len = PP_MSG - c->got;
}

static void pp_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct pp_client *c = s->data;

  if (nread < 0) {
    c->err = (int) nread;
    lure_close((lure_handle_t *) s, pp_close_cb);
    return;
  }
  c->got += (size_t) nread;
  if (c->got < PP_MSG)
    return;
  if (memcmp(c->rbuf, c->msg, PP_MSG) != 0)
    c->bad++;
  c->got = 0;
  if (++c->rounds == PP_ROUNDS) {
    if (++c->pp->finished == PP_CONNS) {
      lure_loop_stats(&c->pp->loop, &c->pp->s1);
      c->pp->t1 = lure_hrtime();
    }
    lure_close((lure_handle_t *) s, pp_close_cb);
    return;
  }
  pp_send(c);
}

static void pp_connect_cb(lure_connect_t *req, int status) {
  struct pp_client *c = req->data;

  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(lure_tcp_nodelay(&c->tcp, 1), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &c->tcp, pp_alloc,
                                   pp_read), 0);
  if (++c->pp->connected == PP_CONNS)
    pp_start_all(c->pp);
}

START_TEST(ring_pingpong_stats) {
  struct pp *p = calloc(1, sizeof(*p));
  uint64_t rts = (uint64_t) PP_CONNS * PP_ROUNDS;
  uint64_t waits;
  uint64_t cqes;
  uint64_t sqes;
  uint64_t ticks;
  uint64_t epev;
  double per_rt;
  unsigned i;

  lt_loop_init(&p->loop);
  lt_watchdog(&p->loop, &p->wd, LT_NET_WATCHDOG_MS, "ping-pong");
  p->srv.nodelay = 1;
  lt_net_server_start(&p->loop, &p->srv, AF_INET, NULL);
  lt_net_loopback(AF_INET, p->srv.port, &p->addr);
  for (i = 0; i < PP_CONNS; i++) {
    struct pp_client *c = &p->c[i];

    c->pp = p;
    ck_assert_int_eq(lure_tcp_init(&p->loop, &c->tcp), 0);
    c->tcp.data = c;
    c->creq.data = c;
    ck_assert_int_eq(lure_tcp_connect(&c->creq, &c->tcp,
                                      (struct sockaddr *) &p->addr,
                                      pp_connect_cb), 0);
  }
  lt_run(&p->loop);

  for (i = 0; i < PP_CONNS; i++) {
    ck_assert_msg(p->c[i].err == 0, "client %u: %s", i, lt_err(p->c[i].err));
    ck_assert_msg(p->c[i].bad == 0, "client %u: %d bad echoes", i, p->c[i].bad);
    ck_assert_uint_eq(p->c[i].rounds, PP_ROUNDS);
  }
  ck_assert_uint_eq(p->srv.errors, 0);
  ck_assert(p->t1 > p->t0);
  waits = p->s1.wait_calls - p->s0.wait_calls;
  cqes = p->s1.cqes_reaped - p->s0.cqes_reaped;
  sqes = p->s1.sqes_submitted - p->s0.sqes_submitted;
  ticks = p->s1.ticks - p->s0.ticks;
  epev = p->s1.epoll_events - p->s0.epoll_events;
  per_rt = (double) waits / (double) rts;
  printf("ring_pingpong_stats: set %s (%s): %llu round trips in %.1f ms "
         "(%.0f/s): %llu ticks, %llu wait calls (%.3f per round trip), %llu "
         "SQEs, %llu CQEs, %llu epoll events\n",
         lt_set() ? lt_set() : "(none)", lure_loop_backend(&p->loop),
         (unsigned long long) rts, (double) (p->t1 - p->t0) / 1e6,
         (double) rts * 1e9 / (double) (p->t1 - p->t0),
         (unsigned long long) ticks, (unsigned long long) waits, per_rt,
         (unsigned long long) sqes, (unsigned long long) cqes,
         (unsigned long long) epev);
  ck_assert_uint_gt(waits, 0);
  if (lt_set_ring_path()) {
    ck_assert_msg(cqes >= rts, "set %s: only %llu CQEs reaped for %llu "
                  "round trips: the ring's socket path was not used",
                  lt_set(), (unsigned long long) cqes,
                  (unsigned long long) rts);
    ck_assert_msg(per_rt < 1.0, "set %s: %.3f wait calls per round trip "
                  "(10 connections), want < 1.0", lt_set(), per_rt);
  } else if (lt_set_is("epoll") || lt_set_is("nouring")) {
    ck_assert_uint_eq(cqes, 0);
    ck_assert_uint_gt(epev, 0);
  }
  lt_loop_finish(&p->loop);
  free(p);
}
END_TEST

/* ---- TCP: answer and close at once ---- */

/*
 * 32 clients connect and send a request together; the server answers each
 * from its read_cb with two lure_write() calls (head and body) and closes
 * the connection right away (HTTP/1.0 style).  Many reads complete in one
 * batch, where the ring path defers the head to a ring SEND and queues the
 * body behind it; libuv writes both inside uv_write(), so every answer
 * must still arrive whole, both write callbacks must report 0, and each
 * client must see the answer and then EOF.
 */
#define WC_CONNS 32
#define WC_ANSWER 3000

struct wc_conn {
  lure_tcp_t tcp;
  lure_write_t wr[2];
  struct wc *w;
};

struct wc_client {
  lure_tcp_t tcp;
  lure_connect_t creq;
  lure_write_t wr;
  struct wc *w;
  size_t got;
  int bad;
  int eof;
  int err;
};

struct wc {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_tcp_t srv;
  struct sockaddr_storage addr;
  struct wc_conn conn[WC_CONNS];
  unsigned accepted;
  struct wc_client cli[WC_CONNS];
  unsigned char answer[WC_ANSWER];
  char rbuf[4096];
  unsigned connected;
  unsigned write_ok;
  unsigned write_bad;
  unsigned closed;
};

static void wc_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct wc *w = ((struct wc_conn *) h->data)->w;

  (void) sz;
  buf->base = w->rbuf;
  buf->len = sizeof(w->rbuf);
}

static void wc_write_cb(lure_write_t *req, int status) {
  struct wc *w = req->data;

  if (status == 0)
    w->write_ok++;
  else
    w->write_bad++;
}

static void wc_srv_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct wc_conn *c = s->data;
  lure_buf_t b;

  (void) buf;
  if (nread <= 0 || lure_is_closing((lure_handle_t *) s))
    return;
  b = lure_buf_init((char *) c->w->answer, 100);
  c->wr[0].data = c->w;
  ck_assert_int_eq(lure_write(&c->wr[0], s, &b, 1, wc_write_cb), 0);
  b = lure_buf_init((char *) c->w->answer + 100, WC_ANSWER - 100);
  c->wr[1].data = c->w;
  ck_assert_int_eq(lure_write(&c->wr[1], s, &b, 1, wc_write_cb), 0);
  lure_close((lure_handle_t *) s, NULL);
}

static void wc_connection(lure_stream_t *server, int status) {
  struct wc *w = server->data;
  struct wc_conn *c;

  ck_assert_int_eq(status, 0);
  ck_assert_uint_lt(w->accepted, WC_CONNS);
  c = &w->conn[w->accepted++];
  c->w = w;
  ck_assert_int_eq(lure_tcp_init(&w->loop, &c->tcp), 0);
  c->tcp.data = c;
  ck_assert_int_eq(lure_accept(server, (lure_stream_t *) &c->tcp), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &c->tcp, wc_alloc,
                                   wc_srv_read), 0);
  if (w->accepted == WC_CONNS)
    lure_close((lure_handle_t *) server, NULL);
}

static void wc_cli_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  static char space[8192];

  (void) h;
  (void) sz;
  buf->base = space;
  buf->len = sizeof(space);
}

static void wc_cli_close_cb(lure_handle_t *h) {
  struct wc_client *c = h->data;

  c->w->closed++;
}

static void wc_cli_read(lure_stream_t *s, ssize_t nread,
                        const lure_buf_t *buf) {
  struct wc_client *c = s->data;

  if (nread > 0) {
    if (lt_net_pat_check(7, c->got, buf->base, (size_t) nread) >= 0)
      c->bad++;
    c->got += (size_t) nread;
    return;
  }
  if (nread == LURE_EOF)
    c->eof = 1;
  else if (nread < 0)
    c->err = (int) nread;
  if (nread < 0)
    lure_close((lure_handle_t *) s, wc_cli_close_cb);
}

static void wc_cli_write_cb(lure_write_t *req, int status) {
  (void) req;
  (void) status;
}

/* The requests leave together once every client is connected, so that the
 * server reads many of them in one batch. */
static void wc_connect_cb(lure_connect_t *req, int status) {
  struct wc_client *c = req->data;
  struct wc *w = c->w;
  lure_buf_t b = lure_buf_init("GET /\r\n", 7);
  unsigned i;

  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &c->tcp, wc_cli_alloc,
                                   wc_cli_read), 0);
  if (++w->connected < WC_CONNS)
    return;
  for (i = 0; i < WC_CONNS; i++)
    ck_assert_int_eq(lure_write(&w->cli[i].wr, (lure_stream_t *) &w->cli[i].tcp,
                                &b, 1, wc_cli_write_cb), 0);
}

START_TEST(ring_tcp_answer_then_close) {
  struct wc *w = calloc(1, sizeof(*w));
  struct sockaddr_in a4;
  unsigned i;

  ck_assert_ptr_nonnull(w);
  memcpy(w->answer, lt_net_pat(7, 0), WC_ANSWER);
  lt_loop_init(&w->loop);
  lt_watchdog(&w->loop, &w->wd, LT_NET_WATCHDOG_MS, "answer then close");
  ck_assert_int_eq(lure_tcp_init(&w->loop, &w->srv), 0);
  w->srv.data = w;
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  ck_assert_int_eq(lure_tcp_bind(&w->srv, (struct sockaddr *) &a4, 0), 0);
  ck_assert_int_eq(lure_listen((lure_stream_t *) &w->srv, 128, wc_connection),
                   0);
  lt_net_loopback(AF_INET, lt_net_tcp_port(&w->srv), &w->addr);
  for (i = 0; i < WC_CONNS; i++) {
    struct wc_client *c = &w->cli[i];

    c->w = w;
    ck_assert_int_eq(lure_tcp_init(&w->loop, &c->tcp), 0);
    c->tcp.data = c;
    c->creq.data = c;
    ck_assert_int_eq(lure_tcp_connect(&c->creq, &c->tcp,
                                      (struct sockaddr *) &w->addr,
                                      wc_connect_cb), 0);
  }
  lt_run(&w->loop);

  ck_assert_uint_eq(w->accepted, WC_CONNS);
  ck_assert_uint_eq(w->write_bad, 0);
  ck_assert_uint_eq(w->write_ok, 2 * WC_CONNS);
  ck_assert_uint_eq(w->closed, WC_CONNS);
  for (i = 0; i < WC_CONNS; i++) {
    ck_assert_msg(w->cli[i].err == 0, "client %u: %s", i,
                  lt_err(w->cli[i].err));
    ck_assert_msg(w->cli[i].got == WC_ANSWER && w->cli[i].bad == 0 &&
                      w->cli[i].eof,
                  "client %u: %zu bytes of %d (%d bad), eof %d", i,
                  w->cli[i].got, WC_ANSWER, w->cli[i].bad, w->cli[i].eof);
  }
  lt_loop_finish(&w->loop);
  free(w);
}
END_TEST

/* ---- UDP: a burst answered from one batch of completions ---- */

/*
 * 96 datagrams reach the server before its loop runs, so the ring
 * completes many receives in one batch; the server answers each from its
 * recv_cb.  On the ring those answers leave as SENDMSG chains (IO_LINK):
 * in order, one of them (seq UB_BIG) too large for UDP (LURE_EMSGSIZE for
 * that send only: the chain breaks there, and the sends behind it go with
 * the next one).  Every set checks the order and the results; the set
 * "uring" also checks that the answers went through the ring (SQEs
 * submitted for them, sends reported as "io_uring").
 */
/* 96 small datagrams fit the default receive buffer (rmem_default). */
#define UB_COUNT 96
#define UB_BIG 30
#define UB_BIGSIZE 70000

struct ub_slot {
  lure_udp_send_t req;
  uint32_t seq;
  struct sockaddr_storage to;
};

struct ub {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_udp_t srv;
  lure_udp_t cli;
  struct sockaddr_storage srv_addr;
  struct ub_slot slot[UB_COUNT];
  unsigned char big[UB_BIGSIZE];
  unsigned char rbuf[2048];
  uint32_t srv_got;
  uint32_t srv_bad;
  uint32_t cbs;
  uint32_t cb_order_bad;
  uint32_t next_cb;
  int big_status;
  uint32_t other_err;
  uint32_t cli_got;
  uint32_t cli_next;
  uint32_t cli_bad;
  int executor_checked;
  lure_loop_stats_t s0;
  lure_loop_stats_t s1;
};

static void ub_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct ub *u = h->data;

  (void) sz;
  buf->base = (char *) u->rbuf;
  buf->len = sizeof(u->rbuf);
}

static void ub_send_cb(lure_udp_send_t *req, int status) {
  struct ub *u = req->handle->data;
  struct ub_slot *sl = (struct ub_slot *) req;

  if (sl->seq != u->next_cb)
    u->cb_order_bad++;
  u->next_cb = sl->seq + 1;
  if (sl->seq == UB_BIG)
    u->big_status = status;
  else if (status != 0)
    u->other_err++;
  if (!u->executor_checked) {
    u->executor_checked = 1;
    LT_NET_CHECK_EXECUTOR(req, "a UDP answer");
  }
  if (++u->cbs == UB_COUNT) {
    lure_loop_stats(&u->loop, &u->s1);
    lure_close((lure_handle_t *) &u->srv, NULL);
  }
}

static void ub_srv_recv(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  struct ub *u = h->data;
  struct ub_slot *sl;
  lure_buf_t b;
  uint32_t seq;

  if (nread == 0 && addr == NULL)
    return;
  if (nread != 64 || addr == NULL || (flags & LURE_UDP_PARTIAL)) {
    u->srv_bad++;
    return;
  }
  memcpy(&seq, buf->base, 4);
  if (seq != u->srv_got || seq >= UB_COUNT) {
    u->srv_bad++;
    return;
  }
  if (u->srv_got++ == 0)
    lure_loop_stats(&u->loop, &u->s0);
  sl = &u->slot[seq];
  sl->seq = seq;
  memcpy(&sl->to, addr, sizeof(struct sockaddr_in));
  if (seq == UB_BIG)
    b = lure_buf_init((char *) u->big, UB_BIGSIZE);
  else
    b = lure_buf_init((char *) lt_net_pat(seq, 0), 64);
  ck_assert_int_eq(lure_udp_send(&sl->req, h, &b, 1,
                                 (struct sockaddr *) &sl->to, ub_send_cb), 0);
}

static void ub_cli_recv(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  struct ub *u = h->data;

  (void) flags;
  if (nread == 0 && addr == NULL)
    return;
  if (u->cli_next == UB_BIG)
    u->cli_next++; /* never sent */
  if (nread != 64 || lt_net_pat_check(u->cli_next, 0, buf->base, 64) >= 0)
    u->cli_bad++;
  u->cli_next++;
  if (++u->cli_got == UB_COUNT - 1)
    lure_close((lure_handle_t *) h, NULL);
}

START_TEST(ring_udp_burst_chain) {
  struct ub *u = calloc(1, sizeof(*u));
  struct sockaddr_in a4;
  uint64_t sqes;
  uint32_t i;

  ck_assert_ptr_nonnull(u);
  lt_loop_init(&u->loop);
  lt_watchdog(&u->loop, &u->wd, LT_NET_WATCHDOG_MS, "udp burst");
  ck_assert_int_eq(lure_udp_init(&u->loop, &u->srv), 0);
  ck_assert_int_eq(lure_udp_init(&u->loop, &u->cli), 0);
  u->srv.data = u;
  u->cli.data = u;
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  ck_assert_int_eq(lure_udp_bind(&u->srv, (struct sockaddr *) &a4, 0), 0);
  ck_assert_int_eq(lure_udp_bind(&u->cli, (struct sockaddr *) &a4, 0), 0);
  lt_net_loopback(AF_INET, lt_net_udp_port(&u->srv), &u->srv_addr);
  ck_assert_int_eq(lure_udp_recv_start(&u->srv, ub_alloc,
                                       ub_srv_recv), 0);
  ck_assert_int_eq(lure_udp_recv_start(&u->cli, ub_alloc, ub_cli_recv), 0);
  for (i = 0; i < UB_COUNT; i++) {
    unsigned char m[64];
    lure_buf_t b;

    memcpy(m, &i, 4);
    memset(m + 4, 0x11, sizeof(m) - 4);
    b = lure_buf_init((char *) m, sizeof(m));
    ck_assert_int_eq(lure_udp_try_send(&u->cli, &b, 1,
                                       (struct sockaddr *) &u->srv_addr), 64);
  }
  lt_run(&u->loop);

  ck_assert_uint_eq(u->srv_bad, 0);
  ck_assert_uint_eq(u->srv_got, UB_COUNT);
  ck_assert_uint_eq(u->cbs, UB_COUNT);
  ck_assert_uint_eq(u->cb_order_bad, 0);
  ck_assert_int_eq(u->big_status, LURE_EMSGSIZE);
  ck_assert_uint_eq(u->other_err, 0);
  ck_assert_uint_eq(u->cli_got, UB_COUNT - 1);
  ck_assert_uint_eq(u->cli_bad, 0);
  sqes = u->s1.sqes_submitted - u->s0.sqes_submitted;
  printf("ring_udp_burst_chain: set %s (%s): %u answers, %llu SQEs, "
         "%llu CQEs, %llu wait calls\n", lt_set() ? lt_set() : "(none)",
         lure_loop_backend(&u->loop), UB_COUNT, (unsigned long long) sqes,
         (unsigned long long) (u->s1.cqes_reaped - u->s0.cqes_reaped),
         (unsigned long long) (u->s1.wait_calls - u->s0.wait_calls));
  /* Without the chains (answers sent inline) the window holds 4 SQEs.
   * With them: 102 on uring; 45 on uring-single, whose deferred task work
   * hands the server fewer datagrams per poll event (50 until waits went
   * on past CQEs nobody sees: fewer ticks, fewer re-arms). */
  if (lt_set_ring_path())
    ck_assert_msg(sqes >= UB_COUNT / 4, "set %s: %llu SQEs for %u answers "
                  "made inside batches: the ring's send chains were not used",
                  lt_set(), (unsigned long long) sqes, UB_COUNT);
  lt_loop_finish(&u->loop);
  free(u);
}
END_TEST

/* ---- UDP: closing with answers queued and in the ring ---- */

/*
 * The same burst, but the server closes itself from the recv_cb of
 * datagram UC_CLOSE_AT, right after queueing its answer: some answers are
 * in the ring by then (chains built before earlier waits), the rest still
 * queued.  Every send callback runs once, in order, before close_cb: a run
 * of 0 (sent) and then LURE_ECANCELED, never a 0 after a cancel, and the
 * client receives exactly the answers reported sent.  The socket has room
 * for all of them, so, as with libuv, none is cancelled.
 */
#define UC_CLOSE_AT 60

struct uc {
  struct ub b;               /* loop, handles, slots, buffers */
  uint32_t next_cb;
  uint32_t order_bad;
  uint32_t sent;             /* callbacks with 0 */
  uint32_t cancelled;        /* callbacks with LURE_ECANCELED */
  uint32_t other;
  uint32_t zero_after_cancel;
  uint32_t after_close;
  int closed;
  uint32_t cli_got;
  lure_timer_t *stop;        /* started once the server has closed */
};

static void uc_send_cb(lure_udp_send_t *req, int status) {
  struct uc *c = req->handle->data;
  struct ub_slot *sl = (struct ub_slot *) req;

  if (c->closed)
    c->after_close++;
  if (sl->seq != c->next_cb)
    c->order_bad++;
  c->next_cb = sl->seq + 1;
  if (status == 0) {
    if (c->cancelled > 0)
      c->zero_after_cancel++;
    c->sent++;
  } else if (status == LURE_ECANCELED) {
    c->cancelled++;
  } else {
    c->other++;
  }
}

static void uc_stop_cb(lure_timer_t *t);

static void uc_close_cb(lure_handle_t *h) {
  struct uc *c = h->data;

  c->closed = 1;
  /* The client listens a little longer for answers still on their way:
   * counted from the server's close, not from before the loop ran (on a
   * loaded host the first tick may come after any fixed delay). */
  ck_assert_int_eq(lure_timer_start(c->stop, uc_stop_cb, 300, 0), 0);
}

static void uc_srv_recv(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  struct uc *c = h->data;
  struct ub_slot *sl;
  lure_buf_t b;
  uint32_t seq;

  (void) flags;
  if (nread != 64 || addr == NULL || lure_is_closing((lure_handle_t *) h))
    return;
  memcpy(&seq, buf->base, 4);
  if (seq >= UB_COUNT)
    return;
  sl = &c->b.slot[seq];
  sl->seq = seq;
  memcpy(&sl->to, addr, sizeof(struct sockaddr_in));
  b = lure_buf_init((char *) lt_net_pat(seq, 0), 64);
  ck_assert_int_eq(lure_udp_send(&sl->req, h, &b, 1,
                                 (struct sockaddr *) &sl->to, uc_send_cb), 0);
  if (seq == UC_CLOSE_AT)
    lure_close((lure_handle_t *) h, uc_close_cb);
}

static void uc_cli_recv(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  struct uc *c = h->data;

  (void) buf;
  (void) flags;
  if (nread == 64 && addr != NULL)
    c->cli_got++;
}

static void uc_stop_cb(lure_timer_t *t) {
  struct uc *c = t->data;

  lure_close((lure_handle_t *) &c->b.cli, NULL);
  lure_close((lure_handle_t *) t, NULL);
}

START_TEST(ring_udp_close_with_chain) {
  struct uc *c = calloc(1, sizeof(*c));
  struct ub *u = &c->b;
  struct sockaddr_in a4;
  lure_timer_t stop;
  uint32_t i;

  ck_assert_ptr_nonnull(c);
  lt_loop_init(&u->loop);
  lt_watchdog(&u->loop, &u->wd, LT_NET_WATCHDOG_MS, "udp close with chain");
  ck_assert_int_eq(lure_udp_init(&u->loop, &u->srv), 0);
  ck_assert_int_eq(lure_udp_init(&u->loop, &u->cli), 0);
  u->srv.data = c;
  u->cli.data = c;
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  ck_assert_int_eq(lure_udp_bind(&u->srv, (struct sockaddr *) &a4, 0), 0);
  ck_assert_int_eq(lure_udp_bind(&u->cli, (struct sockaddr *) &a4, 0), 0);
  lt_net_loopback(AF_INET, lt_net_udp_port(&u->srv), &u->srv_addr);
  ck_assert_int_eq(lure_udp_recv_start(&u->srv, ub_alloc, uc_srv_recv), 0);
  ck_assert_int_eq(lure_udp_recv_start(&u->cli, ub_alloc, uc_cli_recv), 0);
  for (i = 0; i < UB_COUNT; i++) {
    unsigned char m[64];
    lure_buf_t b;

    memcpy(m, &i, 4);
    memset(m + 4, 0x22, sizeof(m) - 4);
    b = lure_buf_init((char *) m, sizeof(m));
    ck_assert_int_eq(lure_udp_try_send(&u->cli, &b, 1,
                                       (struct sockaddr *) &u->srv_addr), 64);
  }
  ck_assert_int_eq(lure_timer_init(&u->loop, &stop), 0);
  stop.data = c;
  c->stop = &stop;
  lt_run(&u->loop);

  printf("ring_udp_close_with_chain: set %s: %u sent, %u cancelled, "
         "client got %u\n", lt_set() ? lt_set() : "(none)", c->sent,
         c->cancelled, c->cli_got);
  ck_assert(c->closed);
  ck_assert_uint_eq(c->after_close, 0);
  ck_assert_uint_eq(c->order_bad, 0);
  ck_assert_uint_eq(c->other, 0);
  ck_assert_uint_eq(c->zero_after_cancel, 0);
  ck_assert_uint_eq(c->sent + c->cancelled, UC_CLOSE_AT + 1);
  ck_assert_uint_eq(c->cli_got, c->sent);
  /* The socket had room for every answer: libuv would have sent each one
   * inside uv_udp_send(), so none may be lost to the close. */
  ck_assert_uint_eq(c->cancelled, 0);
  lt_loop_finish(&u->loop);
  free(c);
}
END_TEST

/* ---- UDP across a fork and a backend switch ---- */

struct uf {
  lure_loop_t loop;
  lure_udp_t rx;
  lure_udp_t tx;
  struct sockaddr_storage dst;
  char rbuf[256];
  int got;
  char last[64];
};

static void uf_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct uf *u = h->data;

  (void) sz;
  buf->base = u->rbuf;
  buf->len = sizeof(u->rbuf);
}

static void uf_recv(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  struct uf *u = h->data;

  (void) flags;
  if (addr == NULL || nread <= 0 || (size_t) nread >= sizeof(u->last))
    return;
  memcpy(u->last, buf->base, (size_t) nread);
  u->last[nread] = '\0';
  u->got++;
}

/* Send text to rx and run the loop until it arrived (or 2 s passed).  The
 * datagram is sent again every 5 ms: the socket is shared with the other
 * process, whose receive may still be armed in its ring for a moment
 * after it stopped (a multishot receive in the kernel takes datagrams on
 * that process's behalf even while it sleeps in waitpid()). */
static int uf_roundtrip(struct uf *u, const char *text) {
  lure_buf_t b = lure_buf_init((char *) text, (unsigned int) strlen(text));
  int want = u->got + 1;
  uint64_t t0 = lure_hrtime();
  uint64_t sent = 0;

  /* A late copy of an earlier text may arrive first: wait for this one. */
  while ((u->got < want || strcmp(u->last, text) != 0) &&
         lure_hrtime() - t0 < 2000000000ull) {
    if (sent == 0 || lure_hrtime() - sent > 5000000ull) {
      if (lure_udp_try_send(&u->tx, &b, 1, (struct sockaddr *) &u->dst) !=
          (int) strlen(text))
        return -1;
      sent = lure_hrtime();
    }
    lure_run(&u->loop, LURE_RUN_NOWAIT);
  }
  return u->got >= want && strcmp(u->last, text) == 0 ? 0 : -1;
}

static void uf_open(struct uf *u) {
  struct sockaddr_in a4;

  lt_loop_init(&u->loop);
  ck_assert_int_eq(lure_udp_init(&u->loop, &u->rx), 0);
  ck_assert_int_eq(lure_udp_init(&u->loop, &u->tx), 0);
  u->rx.data = u;
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  ck_assert_int_eq(lure_udp_bind(&u->rx, (struct sockaddr *) &a4, 0), 0);
  lt_net_loopback(AF_INET, lt_net_udp_port(&u->rx), &u->dst);
  ck_assert_int_eq(lure_udp_recv_start(&u->rx, uf_alloc, uf_recv), 0);
}

/* A receiving UDP handle keeps working in a forked child after
 * lure_loop_fork(), on the child's own ring (or epoll), and in the parent. */
START_TEST(ring_udp_fork) {
  struct uf *u = calloc(1, sizeof(*u));
  pid_t pid;
  int status;

  ck_assert_ptr_nonnull(u);
  uf_open(u);
  ck_assert_int_eq(uf_roundtrip(u, "before fork"), 0);
  /* Parent and child share the socket, and a datagram goes to whichever
   * receives first: a receive the parent's ring still has armed would
   * take the child's datagrams while the parent waits in waitpid().  So
   * the parent stops receiving (and lets the cancel complete) first. */
  ck_assert_int_eq(lure_udp_recv_stop(&u->rx), 0);
  (void) lure_run(&u->loop, LURE_RUN_NOWAIT);
  (void) lure_run(&u->loop, LURE_RUN_NOWAIT);
  pid = fork();
  ck_assert_int_ne(pid, -1);
  if (pid == 0) {
    int rc = lure_loop_fork(&u->loop);

    /* No Check assertions in the child: the exit status says it all. */
    if (rc != 0)
      _exit(10);
    if (lure_udp_recv_start(&u->rx, uf_alloc, uf_recv) != 0)
      _exit(13);
    if (uf_roundtrip(u, "in the child") != 0)
      _exit(11);
    if (uf_roundtrip(u, "in the child again") != 0)
      _exit(12);
    _exit(0);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "child: status %d (10 fork, 11/12 no datagram, 13 recv_start)", status);
  /* The child read the datagrams it sent; the parent still receives. */
  ck_assert_int_eq(lure_udp_recv_start(&u->rx, uf_alloc, uf_recv), 0);
  ck_assert_int_eq(uf_roundtrip(u, "parent after"), 0);
  lure_close((lure_handle_t *) &u->rx, NULL);
  lure_close((lure_handle_t *) &u->tx, NULL);
  lt_loop_finish(&u->loop);
  free(u);
}
END_TEST

/* The wait point cannot be switched under a socket with an operation in the
 * ring; once it stopped, it can, and the handle receives on the new one. */
START_TEST(ring_udp_switch_backend) {
  struct uf *u = calloc(1, sizeof(*u));
  int i;

  ck_assert_ptr_nonnull(u);
  uf_open(u);
  ck_assert_int_eq(uf_roundtrip(u, "first"), 0);
  if (lt_set_ring_path())
    ck_assert_int_eq(lure_loop_configure(&u->loop, LURE_LOOP_BACKEND, "epoll"),
                     LURE_EBUSY);
  ck_assert_int_eq(lure_udp_recv_stop(&u->rx), 0);
  /* The cancelled receive completes within a few turns. */
  for (i = 0; i < 100; i++) {
    if (lure_loop_configure(&u->loop, LURE_LOOP_BACKEND, "epoll") == 0)
      break;
    lure_run(&u->loop, LURE_RUN_NOWAIT);
  }
  ck_assert_int_lt(i, 100);
  ck_assert_str_eq(lure_loop_backend(&u->loop), "epoll");
  ck_assert_int_eq(lure_udp_recv_start(&u->rx, uf_alloc, uf_recv), 0);
  ck_assert_int_eq(uf_roundtrip(u, "on epoll"), 0);
  lure_close((lure_handle_t *) &u->rx, NULL);
  lure_close((lure_handle_t *) &u->tx, NULL);
  lt_loop_finish(&u->loop);
  free(u);
}
END_TEST

/* A UDP handle that sends to itself from its receive callback (libuv's
 * ping_udp1): with COOP_TASKRUN the multishot receive's completion is
 * posted when the callback's own sendmsg returns, so the next poll phase
 * finds it in the CQ and must not enter the ring for it.  On the ring
 * sets, fewer than one wait call per 4 round trips (each round trip
 * entered the ring once before that rule; a loaded host that leaves the
 * loopback softirq to ksoftirqd may need some).  Every set checks the
 * datagrams. */
#define SP_ROUNDS 5000

struct sp {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_udp_t u;
  struct sockaddr_storage self;
  unsigned rounds;
  int bad;
  unsigned char buf[64];
};

static void sp_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct sp *p = h->data;

  (void) sz;
  buf->base = (char *) p->buf;
  buf->len = sizeof(p->buf);
}

static void sp_send(struct sp *p) {
  lure_buf_t b = lure_buf_init((char *) &p->rounds, sizeof(p->rounds));

  ck_assert_int_eq(lure_udp_try_send(&p->u, &b, 1,
                                     (const struct sockaddr *) &p->self),
                   (int) sizeof(p->rounds));
}

static void sp_recv(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  struct sp *p = h->data;
  unsigned got;

  (void) flags;
  if (nread == 0 && addr == NULL)
    return;
  if (nread != (ssize_t) sizeof(got)) {
    p->bad++;
    lure_close((lure_handle_t *) h, NULL);
    return;
  }
  memcpy(&got, buf->base, sizeof(got));
  if (got != p->rounds)
    p->bad++;
  if (++p->rounds == SP_ROUNDS) {
    lure_close((lure_handle_t *) h, NULL);
    lure_timer_stop(&p->wd);
    return;
  }
  sp_send(p);
}

START_TEST(ring_udp_self_ping) {
  struct sp *p = calloc(1, sizeof(*p));
  lure_loop_stats_t s0, s1;
  struct sockaddr_in a4;
  unsigned long long waits;

  ck_assert_ptr_nonnull(p);
  lt_loop_init(&p->loop);
  lt_watchdog(&p->loop, &p->wd, LT_NET_WATCHDOG_MS, "UDP self ping");
  ck_assert_int_eq(lure_udp_init(&p->loop, &p->u), 0);
  p->u.data = p;
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  ck_assert_int_eq(lure_udp_bind(&p->u, (struct sockaddr *) &a4, 0), 0);
  lt_net_loopback(AF_INET, lt_net_udp_port(&p->u), &p->self);
  ck_assert_int_eq(lure_udp_recv_start(&p->u, sp_alloc, sp_recv), 0);
  ck_assert_int_eq(lure_loop_stats(&p->loop, &s0), 0);
  sp_send(p);
  lt_run(&p->loop);
  ck_assert_int_eq(lure_loop_stats(&p->loop, &s1), 0);
  ck_assert_int_eq(p->bad, 0);
  ck_assert_uint_eq(p->rounds, SP_ROUNDS);
  waits = s1.wait_calls - s0.wait_calls;
  printf("ring_udp_self_ping: set %s (%s): %u round trips, %llu wait calls, "
         "%llu CQEs\n", lt_set() ? lt_set() : "(none)",
         lure_loop_backend(&p->loop), p->rounds, waits,
         (unsigned long long) (s1.cqes_reaped - s0.cqes_reaped));
  if (lt_set_is("uring"))
    ck_assert_msg(waits * 4 < SP_ROUNDS, "set uring: %llu wait calls for %u "
                  "round trips, want fewer than one per 4", waits,
                  SP_ROUNDS);
  lt_loop_finish(&p->loop);
  free(p);
}
END_TEST

/* ---- many UDP handles, datagrams waiting for each ---- */

/*
 * 200 UDP handles receive; the test's own socket sends 4 datagrams of
 * 1,000 bytes to each before the loop runs.  Each handle gets its 4 whole
 * and in order, and the loop needs only a few waits for all 800: a handle
 * reads what its socket holds when it is readable, however many other
 * handles are receiving.  (Until stop 23 the ring received datagrams into
 * 64 buffers shared by all handles: 800 datagrams needed 13 or more turns,
 * and under load the sockets overflowed meanwhile.)
 */
#define MU_HANDLES 200
#define MU_PER 4
#define MU_SIZE 1000
#define MU_MAX_WAITS 8

struct mu {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_udp_t u[MU_HANDLES];
  unsigned got[MU_HANDLES];
  unsigned total;
  int bad;
  char buf[2048];
};

static void mu_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct mu *m = h->data;

  (void) sz;
  buf->base = m->buf;
  buf->len = sizeof(m->buf);
}

static void mu_recv(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  struct mu *m = h->data;
  unsigned i = (unsigned) (h - m->u);

  if (nread == 0 && addr == NULL)
    return;
  if (nread != MU_SIZE || (flags & LURE_UDP_PARTIAL) || m->got[i] >= MU_PER ||
      lt_net_pat_check(i, (uint64_t) m->got[i] * MU_SIZE, buf->base,
                       MU_SIZE) >= 0) {
    m->bad++;
    return;
  }
  m->got[i]++;
  if (++m->total == MU_HANDLES * MU_PER) {
    for (i = 0; i < MU_HANDLES; i++)
      lure_close((lure_handle_t *) &m->u[i], NULL);
    lure_timer_stop(&m->wd);
  }
}

START_TEST(ring_udp_many_receivers) {
  struct mu *m = calloc(1, sizeof(*m));
  lure_loop_stats_t s0, s1;
  struct sockaddr_storage to;
  struct sockaddr_in a4;
  unsigned long long waits;
  int fd;
  unsigned i, k;

  ck_assert_ptr_nonnull(m);
  lt_loop_init(&m->loop);
  lt_watchdog(&m->loop, &m->wd, LT_NET_WATCHDOG_MS, "many UDP receivers");
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  for (i = 0; i < MU_HANDLES; i++) {
    ck_assert_int_eq(lure_udp_init(&m->loop, &m->u[i]), 0);
    m->u[i].data = m;
    ck_assert_int_eq(lure_udp_bind(&m->u[i], (struct sockaddr *) &a4, 0), 0);
    ck_assert_int_eq(lure_udp_recv_start(&m->u[i], mu_alloc, mu_recv), 0);
  }
  for (k = 0; k < MU_PER; k++)
    for (i = 0; i < MU_HANDLES; i++) {
      lt_net_loopback(AF_INET, lt_net_udp_port(&m->u[i]), &to);
      ck_assert_int_eq(sendto(fd, lt_net_pat(i, (uint64_t) k * MU_SIZE),
                              MU_SIZE, 0, (struct sockaddr *) &to,
                              sizeof(struct sockaddr_in)), MU_SIZE);
    }
  close(fd);
  ck_assert_int_eq(lure_loop_stats(&m->loop, &s0), 0);
  lt_run(&m->loop);
  ck_assert_int_eq(lure_loop_stats(&m->loop, &s1), 0);
  waits = s1.wait_calls - s0.wait_calls;
  printf("ring_udp_many_receivers: set %s (%s): %u of %u datagrams, "
         "%llu wait calls\n", lt_set() ? lt_set() : "(none)",
         lure_loop_backend(&m->loop), m->total, MU_HANDLES * MU_PER, waits);
  ck_assert_int_eq(m->bad, 0);
  ck_assert_uint_eq(m->total, MU_HANDLES * MU_PER);
  ck_assert_msg(waits <= MU_MAX_WAITS, "set %s: %llu wait calls for %u "
                "datagrams waiting in %u sockets, want at most %u",
                lt_set(), waits, MU_HANDLES * MU_PER, MU_HANDLES,
                MU_MAX_WAITS);
  lt_loop_finish(&m->loop);
  free(m);
}
END_TEST

/* ---- closing in the callback that armed its poll again ---- */

/*
 * libuv's tcp_multi_accept2 with the ring's accept masked (streams wait
 * for readiness through POLL_ADD on the ring): two server loops in their
 * own threads read until EOF and close each connection from the read
 * callback; the client loop connects 20 at a time and closes each at
 * once.  A poll watcher is armed again before its callback runs; when
 * that callback closed the stream, the POLL_ADD still in the SQ went to
 * the kernel with the next wait and looked up an fd number that the
 * other threads had reused by then: the poll held their new socket, its
 * owner's close sent no FIN, and a server waited for an EOF forever (the
 * benchmark hung in every run).  Every connection must end on both sides.
 * Ring sets only (the mask is a ring option).
 */
#define PA_SERVERS 2
#define PA_CLIENTS 20
#define PA_CONNS 4000

struct pa_srv {
  lure_loop_t loop;
  lure_tcp_t listener;
  lure_async_t stop;
  pthread_t tid;
  int port;
  unsigned closed;
  int err;
};

struct pa_cli {
  lure_tcp_t tcp;
  lure_connect_t req;
  struct pa *pa;
};

struct pa {
  lure_loop_t loop;
  lure_timer_t wd;
  struct pa_srv srv[PA_SERVERS];
  struct pa_cli cli[PA_CLIENTS];
  struct sockaddr_storage addr;
  unsigned started;
  unsigned done;
  int err;
};

static const char pa_mask[] = "recv,send,sendmsg,accept";

static void pa_srv_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  static char slab[64];

  (void) h;
  (void) sz;
  buf->base = slab;
  buf->len = sizeof(slab);
}

static void pa_srv_closed(lure_handle_t *h) {
  struct pa_srv *sv = h->loop->data;

  sv->closed++;
  free(h);
}

static void pa_srv_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *b) {
  struct pa_srv *sv = s->loop->data;

  (void) b;
  if (nread == 0)
    return;
  if (nread != LURE_EOF && sv->err == 0)
    sv->err = (int) nread;
  lure_close((lure_handle_t *) s, pa_srv_closed);
}

static void pa_srv_conn(lure_stream_t *server, int status) {
  struct pa_srv *sv = server->loop->data;
  lure_tcp_t *c;

  if (status != 0) {
    if (sv->err == 0)
      sv->err = status;
    return;
  }
  c = malloc(sizeof(*c));
  if (c == NULL || lure_tcp_init(server->loop, c) != 0 ||
      lure_accept(server, (lure_stream_t *) c) != 0 ||
      lure_read_start((lure_stream_t *) c, pa_srv_alloc, pa_srv_read) != 0) {
    if (sv->err == 0)
      sv->err = LURE_EIO;
    return;
  }
}

static void pa_srv_stop(lure_async_t *a) {
  struct pa_srv *sv = a->loop->data;

  lure_close((lure_handle_t *) &sv->listener, NULL);
  lure_close((lure_handle_t *) a, NULL);
}

static void *pa_srv_main(void *arg) {
  struct pa_srv *sv = arg;

  (void) lure_run(&sv->loop, LURE_RUN_DEFAULT);
  return NULL;
}

static void pa_connect(struct pa_cli *c);

static void pa_cli_closed(lure_handle_t *h) {
  struct pa_cli *c = h->data;
  struct pa *pa = c->pa;

  pa->done++;
  if (pa->started < PA_CONNS && pa->err == 0)
    pa_connect(c);
  else if (pa->done == pa->started)
    lure_timer_stop(&pa->wd);
}

static void pa_cli_connected(lure_connect_t *req, int status) {
  struct pa_cli *c = req->data;

  if (status != 0 && c->pa->err == 0)
    c->pa->err = status;
  lure_close((lure_handle_t *) &c->tcp, pa_cli_closed);
}

static void pa_connect(struct pa_cli *c) {
  struct pa *pa = c->pa;
  int rc;

  pa->started++;
  ck_assert_int_eq(lure_tcp_init(&pa->loop, &c->tcp), 0);
  c->tcp.data = c;
  c->req.data = c;
  rc = lure_tcp_connect(&c->req, &c->tcp, (struct sockaddr *) &pa->addr,
                        pa_cli_connected);
  if (rc != 0) {
    if (pa->err == 0)
      pa->err = rc;
    lure_close((lure_handle_t *) &c->tcp, pa_cli_closed);
  }
}

START_TEST(ring_readiness_close_in_callback) {
  struct pa *pa;
  struct sockaddr_in a4;
  unsigned closed = 0;
  int i;

  if (!lt_set_ring_path() && !lt_set_is("uring-masked"))
    return; /* the mask below is the ring's */
  pa = calloc(1, sizeof(*pa));
  ck_assert_ptr_nonnull(pa);
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  for (i = 0; i < PA_SERVERS; i++) {
    struct pa_srv *sv = &pa->srv[i];

    lt_loop_init(&sv->loop);
    sv->loop.data = sv;
    ck_assert_int_eq(lure_loop_configure(&sv->loop, LURE_LOOP_URING_DISABLE,
                                         pa_mask), 0);
    ck_assert_int_eq(lure_tcp_init(&sv->loop, &sv->listener), 0);
    if (i > 0)
      a4.sin_port = htons((uint16_t) pa->srv[0].port);
    ck_assert_int_eq(lure_tcp_bind(&sv->listener, (struct sockaddr *) &a4,
                                   LURE_TCP_REUSEPORT), 0);
    ck_assert_int_eq(lure_listen((lure_stream_t *) &sv->listener, 128,
                                 pa_srv_conn), 0);
    sv->port = lt_net_tcp_port(&sv->listener);
    ck_assert_int_eq(lure_async_init(&sv->loop, &sv->stop, pa_srv_stop), 0);
  }
  for (i = 0; i < PA_SERVERS; i++)
    ck_assert_int_eq(pthread_create(&pa->srv[i].tid, NULL, pa_srv_main,
                                    &pa->srv[i]), 0);
  lt_loop_init(&pa->loop);
  ck_assert_int_eq(lure_loop_configure(&pa->loop, LURE_LOOP_URING_DISABLE,
                                       pa_mask), 0);
  lt_watchdog(&pa->loop, &pa->wd, LT_NET_WATCHDOG_MS, "close in callback");
  lt_net_loopback(AF_INET, pa->srv[0].port, &pa->addr);
  for (i = 0; i < PA_CLIENTS; i++) {
    pa->cli[i].pa = pa;
    pa_connect(&pa->cli[i]);
  }
  lt_run(&pa->loop);
  ck_assert_int_eq(pa->err, 0);
  ck_assert_uint_eq(pa->done, PA_CONNS);
  /* Each server closes a connection when its EOF comes: all must come. */
  for (i = 0; i < 500; i++) {
    unsigned k;

    closed = 0;
    for (k = 0; k < PA_SERVERS; k++)
      closed += __atomic_load_n(&pa->srv[k].closed, __ATOMIC_RELAXED);
    if (closed == PA_CONNS)
      break;
    lt_sleep_ms(20);
  }
  for (i = 0; i < PA_SERVERS; i++)
    ck_assert_int_eq(lure_async_send(&pa->srv[i].stop), 0);
  printf("ring_readiness_close_in_callback: set %s: %u connections, %u "
         "closed by the servers (%u, %u)\n", lt_set() ? lt_set() : "(none)",
         pa->done, closed, pa->srv[0].closed, pa->srv[1].closed);
  ck_assert_msg(closed == PA_CONNS, "the servers saw the end of %u of %u "
                "connections: a socket closed by the client was held open",
                closed, PA_CONNS);
  for (i = 0; i < PA_SERVERS; i++) {
    ck_assert_int_eq(pthread_join(pa->srv[i].tid, NULL), 0);
    ck_assert_int_eq(pa->srv[i].err, 0);
    lt_loop_finish(&pa->srv[i].loop);
  }
  lt_loop_finish(&pa->loop);
  free(pa);
}
END_TEST

/* ---- what the last tick prepared reaches the kernel ---- */

/*
 * A poll handle on one end of a socketpair, armed in the ring; a check
 * callback (an idle handle keeps the poll phase from blocking) closes the
 * handle and the descriptor, and the loop then has
 * nothing left and lure_run() returns.  The poll's cancel was prepared
 * after the poll phase had submitted the SQ: unless lure_run() hands it to
 * the kernel before returning, the armed poll keeps the socket open and
 * the peer never sees its end while the loop is not run again.
 */
struct lf {
  lure_poll_t poll;
  lure_check_t check;
  lure_idle_t idle;         /* keeps the poll phase from blocking */
  int fd;
};

static void lf_idle_cb(lure_idle_t *h) {
  (void) h;
}

static void lf_poll_cb(lure_poll_t *h, int status, int events) {
  (void) h;
  (void) status;
  (void) events;
}

static void lf_check_cb(lure_check_t *c) {
  struct lf *f = c->data;

  lure_close((lure_handle_t *) &f->poll, NULL);
  close(f->fd);
  lure_close((lure_handle_t *) c, NULL);
  lure_close((lure_handle_t *) &f->idle, NULL);
}

START_TEST(ring_last_tick_flushed) {
  lure_loop_t loop;
  struct lf f;
  int sv[2];
  char b;
  ssize_t n;

  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  lt_loop_init(&loop);
  f.fd = sv[0];
  ck_assert_int_eq(lure_poll_init(&loop, &f.poll, sv[0]), 0);
  ck_assert_int_eq(lure_poll_start(&f.poll, LURE_READABLE, lf_poll_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_NOWAIT), 1); /* armed */
  ck_assert_int_eq(lure_check_init(&loop, &f.check), 0);
  f.check.data = &f;
  ck_assert_int_eq(lure_check_start(&f.check, lf_check_cb), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &f.idle), 0);
  ck_assert_int_eq(lure_idle_start(&f.idle, lf_idle_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  /* The loop is not run again: the peer must see the end now. */
  ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
  n = read(sv[1], &b, 1);
  ck_assert_msg(n == 0, "read from the peer: %zd (%s), want 0: the closed "
                "end is still held open", n, n < 0 ? strerror(errno) : "");
  close(sv[1]);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- many connections, small receives: the incremental buffer ring ---- */

/*
 * 200 connections to a lure server; the test's own blocking sockets send
 * 1,000 bytes each (an 8-byte id first, then the pattern of that id), all
 * before the loop runs, 4 rounds.  The kernel receives them into the
 * loop's buffer ring while nobody reaps the CQEs.  Each server stream
 * must get its bytes whole and in order.  Where the loop has the
 * incremental ring (Linux 6.12), no receive may end with ENOBUFS: a round
 * is 200 KB, four of its 64 KiB buffers, so buffers fill, come back and
 * are filled again, receives straddle their ends, and a buffer the kernel
 * still fills is never given back early (the bytes would then be
 * overwritten).  The same run with pbuf_inc masked shows what the test
 * guards against: the 64 whole buffers run dry (set uring only, where the
 * ordinary buffer ring serves it).
 */
#define MR_CONNS 200
#define MR_MSG 1000
#define MR_ROUNDS 4

struct mr_conn {
  lure_tcp_t tcp;
  struct mr *m;
  struct lt_net_idpat in;
  int err;
};

struct mr {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_tcp_t srv;
  struct mr_conn conn[MR_CONNS];
  unsigned accepted;
  uint64_t total;      /* pattern bytes, every connection */
  int srv_err;
  char rbuf[65536];
};

static void mr_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct mr_conn *c = h->data;

  (void) sz;
  buf->base = c->m->rbuf;
  buf->len = sizeof(c->m->rbuf);
}

static void mr_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct mr_conn *c = s->data;

  if (nread < 0) {
    c->err = (int) nread;
    return;
  }
  c->m->total += lt_net_idpat_feed(&c->in, buf->base, (size_t) nread);
}

static void mr_connection(lure_stream_t *server, int status) {
  struct mr *m = server->data;
  struct mr_conn *c;

  if (status != 0 || m->accepted == MR_CONNS) {
    m->srv_err = status != 0 ? status : LURE_EPROTO;
    return;
  }
  c = &m->conn[m->accepted++];
  c->m = m;
  lt_net_idpat_init(&c->in);
  ck_assert_int_eq(lure_tcp_init(&m->loop, &c->tcp), 0);
  c->tcp.data = c;
  ck_assert_int_eq(lure_accept(server, (lure_stream_t *) &c->tcp), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &c->tcp, mr_alloc,
                                   mr_read), 0);
}

/* What one run saw of the ring (zeros off it). */
struct mr_seen {
  int inc_used;     /* the incremental ring served the receives */
  int inc_probed;   /* the kernel has it */
  int small_used;   /* the ring of small buffers served them */
  uint64_t bulk;    /* streams that left it for the ordinary ring */
};

#define MR_BULK (256 * 1024)

/* One run; mask_inc adds pbuf_inc to LURE_URING_DISABLE for its loop.
 * After the rounds of small messages, the first client sends MR_BULK more
 * bytes.  Returns the ENOBUFS count (0 off the ring). */
static uint64_t mr_run(int mask_inc, struct mr_seen *seen) {
  struct mr *m = calloc(1, sizeof(*m));
  struct lure__uring_info info;
  const char *old = getenv("LURE_URING_DISABLE");
  char *saved = old != NULL ? strdup(old) : NULL;
  char mask[512];
  int fds[MR_CONNS];
  struct sockaddr_storage addr;
  uint64_t enobufs = 0;
  unsigned i;
  unsigned r;

  ck_assert_ptr_nonnull(m);
  if (mask_inc) {
    snprintf(mask, sizeof(mask), "%s%spbuf_inc", old != NULL ? old : "",
             old != NULL && *old != '\0' ? "," : "");
    setenv("LURE_URING_DISABLE", mask, 1);
  }
  lt_loop_init(&m->loop);
  if (saved != NULL)
    setenv("LURE_URING_DISABLE", saved, 1);
  else
    unsetenv("LURE_URING_DISABLE");
  free(saved);
  lt_watchdog(&m->loop, &m->wd, LT_NET_WATCHDOG_MS, "many small reads");
  ck_assert_int_eq(lure_tcp_init(&m->loop, &m->srv), 0);
  m->srv.data = m;
  lt_net_loopback(AF_INET, 0, &addr);
  ck_assert_int_eq(lure_tcp_bind(&m->srv, (struct sockaddr *) &addr, 0), 0);
  ck_assert_int_eq(lure_listen((lure_stream_t *) &m->srv, MR_CONNS + 8,
                               mr_connection), 0);
  lt_net_loopback(AF_INET, lt_net_tcp_port(&m->srv), &addr);
  for (i = 0; i < MR_CONNS; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fds[i], 0);
    ck_assert_int_eq(connect(fds[i], (struct sockaddr *) &addr,
                             sizeof(struct sockaddr_in)), 0);
  }
  while (m->accepted < MR_CONNS && m->srv_err == 0)
    (void) lure_run(&m->loop, LURE_RUN_ONCE);
  ck_assert_int_eq(m->srv_err, 0);
  for (r = 0; r < MR_ROUNDS; r++) {
    for (i = 0; i < MR_CONNS; i++) {
      unsigned char msg[8 + MR_MSG];
      size_t off = 0;

      if (r == 0) {
        unsigned k;

        for (k = 0; k < 8; k++)
          msg[off++] = (unsigned char) ((uint64_t) i >> (8 * k));
      }
      memcpy(msg + off, lt_net_pat((uint64_t) i + 1, (uint64_t) r * MR_MSG),
             MR_MSG);
      off += MR_MSG;
      ck_assert_int_eq(send(fds[i], msg, off, 0), (ssize_t) off);
    }
    while (m->total < (uint64_t) (r + 1) * MR_CONNS * MR_MSG) {
      for (i = 0; i < m->accepted; i++)
        ck_assert_msg(m->conn[i].err == 0, "connection %u: %s", i,
                      lt_err(m->conn[i].err));
      (void) lure_run(&m->loop, LURE_RUN_ONCE);
    }
  }
  /* A bulk transfer on one connection, the client's socket non-blocking
   * so that the loop reads while it sends. */
  {
    uint64_t sent = 0;
    uint64_t want = (uint64_t) MR_ROUNDS * MR_CONNS * MR_MSG + MR_BULK;
    ssize_t n;

    ck_assert_int_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    while (m->total < want) {
      if (sent < MR_BULK) {
        n = send(fds[0], lt_net_pat(1, (uint64_t) MR_ROUNDS * MR_MSG + sent),
                 MR_BULK - sent, 0);
        if (n > 0)
          sent += (uint64_t) n;
        else
          ck_assert_msg(errno == EAGAIN, "send: %s", strerror(errno));
      }
      for (i = 0; i < m->accepted; i++)
        ck_assert_msg(m->conn[i].err == 0, "connection %u: %s", i,
                      lt_err(m->conn[i].err));
      (void) lure_run(&m->loop, sent < MR_BULK ? LURE_RUN_NOWAIT
                                               : LURE_RUN_ONCE);
    }
  }
  for (i = 0; i < MR_CONNS; i++) {
    struct mr_conn *c = &m->conn[i];

    ck_assert_int_eq(c->err, 0);
    ck_assert_uint_eq(c->in.hdr_len, 8);
    ck_assert_uint_lt(c->in.id, MR_CONNS);
    ck_assert_uint_eq(c->in.bytes, (uint64_t) MR_ROUNDS * MR_MSG +
                                       (c->in.id == 0 ? MR_BULK : 0));
    ck_assert_msg(c->in.bad_at < 0,
                  "connection %u (id %llu): byte %ld is wrong", i,
                  (unsigned long long) c->in.id, c->in.bad_at);
  }
  memset(seen, 0, sizeof(*seen));
  if (lure__uring_info(&m->loop, &info) == 0) {
    enobufs = info.recv_enobufs;
    seen->inc_used = info.stream_bufs_inc;
    seen->inc_probed = (info.ops[LURE__FEAT_PBUF_INC / 8] >>
                        (LURE__FEAT_PBUF_INC % 8)) & 1;
    seen->small_used = info.stream_bufs_small;
    seen->bulk = info.recv_bulk;
  }
  for (i = 0; i < MR_CONNS; i++) {
    close(fds[i]);
    lure_close((lure_handle_t *) &m->conn[i].tcp, NULL);
  }
  lure_close((lure_handle_t *) &m->srv, NULL);
  lt_loop_finish(&m->loop);
  free(m);
  return enobufs;
}

START_TEST(ring_many_small_reads) {
  struct mr_seen inc;
  struct mr_seen plain;
  uint64_t e_inc = mr_run(0, &inc);
  uint64_t e_plain = mr_run(1, &plain);

  printf("ring_many_small_reads: set %s: %d connections x %d rounds, then "
         "%d KiB on one: incremental ring %s, %llu ENOBUFS, small ring %s, "
         "%llu bulk; pbuf_inc masked: small ring %s, %llu ENOBUFS, "
         "%llu bulk\n",
         lt_set() ? lt_set() : "(none)", MR_CONNS, MR_ROUNDS, MR_BULK / 1024,
         inc.inc_used ? "used" : "not used", (unsigned long long) e_inc,
         inc.small_used ? "used" : "not used", (unsigned long long) inc.bulk,
         plain.small_used ? "used" : "not used",
         (unsigned long long) e_plain, (unsigned long long) plain.bulk);
  ck_assert_int_eq(plain.inc_used, 0);
  /* Where the ring has buffer rings (not uring-old's kernels, nor the
   * masked set's readiness): with the incremental ring where the kernel
   * has it (6.12), else with the 512 small buffers, 200 small receives at
   * once find a buffer each, and the connection that then brings 256 KiB
   * leaves the small ring for the ordinary one.  With the ordinary ring
   * alone (64 buffers, as before) this run saw hundreds of ENOBUFS. */
  if (lt_set_is("uring") || lt_set_is("uring-6.1") ||
      lt_set_is("uring-single")) {
    if (inc.inc_probed && !lt_set_is("uring-6.1"))
      ck_assert_int_eq(inc.inc_used, 1);
    ck_assert_int_eq(plain.small_used, 1);
    ck_assert_uint_eq(e_plain, 0);
    ck_assert_uint_eq(plain.bulk, 1);
    if (!inc.inc_used) {
      ck_assert_int_eq(inc.small_used, 1);
      ck_assert_uint_eq(e_inc, 0);
      ck_assert_uint_eq(inc.bulk, 1);
    }
  }
  if (inc.inc_used) {
    ck_assert_uint_eq(e_inc, 0);
    ck_assert_int_eq(inc.small_used, 0);
  }
  /* Debian 12's kernel (6.1) has no incremental ring: the set masks it. */
  if (lt_set_is("uring-6.1"))
    ck_assert_int_eq(inc.inc_used, 0);
}
END_TEST

/* ---- the ring's per-handle states stay reachable from the loop ---- */

/*
 * A stream's or UDP handle's ring state is allocated per handle (libuv
 * allocates nothing per handle).  A program that exits without closing its
 * handles, with the handles themselves out of scope, showed LeakSanitizer
 * a leak that libuv does not have (libuv's connect_unspecified under ASan).
 * Each state is now on a list of the loop's ring: checked here for two
 * streams and a UDP handle, in a child after lure_loop_fork() (the new
 * ring's lists), and empty again once the handles are closed.
 */
#include "../backends/uring-int.h"

/* ---- pre-5.19 buffers given back in runs ---- */

/*
 * Without buffer rings (before 5.19, the uring-old set) a buffer goes back
 * to the kernel with an IORING_OP_PROVIDE_BUFFERS; each took an SQE of its
 * own, a third of the SQEs at 1,000 connections (3.3 per request instead
 * of 2).  A buffer next to the range of the PROVIDE_BUFFERS still in the SQ
 * now joins it, above or below.  Here on a loop whose ring has
 * pbuf_ring masked: 5, 6, 7, 8 make one SQE; 3 starts another, 4 and 2
 * join it; 40 a third.  The SQEs must name those ranges.
 */
START_TEST(ring_legacy_buffers_in_runs) {
  static const unsigned order[] = { 5, 6, 7, 8, 3, 4, 2, 40 };
  lure_loop_t loop;
  struct lure__uring *st;
  struct lure__bufring *b;
  struct io_uring_sqe *sqe;
  unsigned before;
  unsigned head;
  unsigned i;

  lt_loop_init(&loop);
  if (!lt_set_is_uring()) {
    lt_loop_finish(&loop);
    return; /* no ring in this set: nothing gives buffers back */
  }
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE,
                                       "pbuf_ring,pbuf_inc"), 0);
  st = loop.priv->backend_data;
  b = lure__uring_bufring_new(&loop, 13, 64, 4096, 0, 0);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(b->legacy, 1);
  lure__uring_submit_now(&loop, st); /* the first 64 go to the kernel */
  ck_assert_uint_eq(io_uring_sq_ready(&st->ring), 0);
  before = st->ring.sq.sqe_tail;
  for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
    lure__uring_bufring_put(b, order[i]);
  ck_assert_msg(st->ring.sq.sqe_tail - before == 3,
                "8 buffers in 3 runs took %u SQEs",
                st->ring.sq.sqe_tail - before);
  head = before & st->ring.sq.ring_mask;
  sqe = &st->ring.sq.sqes[head];
  ck_assert_int_eq(sqe->opcode, IORING_OP_PROVIDE_BUFFERS);
  ck_assert_int_eq(sqe->fd, 4);
  ck_assert_uint_eq(sqe->off, 5);
  ck_assert_uint_eq(sqe->addr, (unsigned long) (b->bufs + 5 * 4096));
  sqe = &st->ring.sq.sqes[(before + 1) & st->ring.sq.ring_mask];
  ck_assert_int_eq(sqe->fd, 3);
  ck_assert_uint_eq(sqe->off, 2);
  ck_assert_uint_eq(sqe->addr, (unsigned long) (b->bufs + 2 * 4096));
  sqe = &st->ring.sq.sqes[(before + 2) & st->ring.sq.ring_mask];
  ck_assert_int_eq(sqe->fd, 1);
  ck_assert_uint_eq(sqe->off, 40);
  /* Once submitted, a buffer next to a run starts a new SQE. */
  lure__uring_submit_now(&loop, st);
  before = st->ring.sq.sqe_tail;
  lure__uring_bufring_put(b, 41);
  ck_assert_uint_eq(st->ring.sq.sqe_tail - before, 1);
  lure__uring_submit_now(&loop, st);
  lure__uring_bufring_free(&b);
  lt_loop_finish(&loop);
}
END_TEST

static int rs_on_list(const struct lure__queue *h, const struct lure__queue *n) {
  const struct lure__queue *q;

  lure__queue_foreach(q, h)
    if (q == n)
      return 1;
  return 0;
}

static int rs_count(const struct lure__queue *h) {
  const struct lure__queue *q;
  int n = 0;

  lure__queue_foreach(q, h)
    n++;
  return n;
}

/* 0 when both streams and the UDP handle have their state on the loop's
 * lists (and nothing else is there), else which one is missing. */
static int rs_check(lure_loop_t *loop, lure_stream_t *a, lure_stream_t *b,
                    lure_udp_t *u) {
  struct lure__uring *st = loop->priv->backend_data;
  struct lure__ustream *ua = a->exec_data, *ub = b->exec_data;
  struct lure__uudp *uu = u->exec_data;

  if (ua == NULL || !rs_on_list(&st->ustreams, &ua->all_link))
    return 1;
  if (ub == NULL || !rs_on_list(&st->ustreams, &ub->all_link))
    return 2;
  if (uu == NULL || !rs_on_list(&st->uudps, &uu->all_link))
    return 3;
  if (rs_count(&st->ustreams) != 2 || rs_count(&st->uudps) != 1)
    return 4;
  return 0;
}

struct rs {
  struct lt_net_pair p;
  lure_udp_t udp;
  lure_udp_send_t sreq;
  lure_write_t wr;
  char rbuf[256];
  int got, sent;
};

static void rs_alloc(lure_handle_t *h, size_t size, lure_buf_t *buf) {
  struct rs *r = h->data;

  (void) size;
  *buf = lure_buf_init(r->rbuf, sizeof(r->rbuf));
}

static void rs_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct rs *r = s->data;

  (void) buf;
  if (nread > 0)
    r->got += (int) nread;
}

static void rs_sent(lure_udp_send_t *req, int status) {
  struct rs *r = req->data;

  r->sent = status == 0 ? 1 : -1;
}

START_TEST(ring_states_reachable) {
  struct rs *r = calloc(1, sizeof(*r));
  struct sockaddr_in sin;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  lure_buf_t b;
  pid_t pid;
  int status, rc;

  ck_assert_ptr_nonnull(r);
  if (!lt_set_ring_path()) {
    printf("ring_states_reachable: set %s: no ring path, nothing to check\n",
           lt_set() ? lt_set() : "(none)");
    free(r);
    return;
  }
  lt_net_pair_open(&r->p, 10000, "ring_states_reachable");
  r->p.client.data = r->p.server.data = r->udp.data = r->sreq.data = r;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &r->p.server, rs_alloc,
                                   rs_read), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &r->p.client, rs_alloc,
                                   rs_read), 0);
  b = lure_buf_init("ping", 4);
  ck_assert_int_eq(lure_write(&r->wr, (lure_stream_t *) &r->p.client, &b, 1,
                              NULL), 0);
  ck_assert_int_eq(lure_udp_init(&r->p.loop, &r->udp), 0);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(lure_udp_bind(&r->udp, (struct sockaddr *) &sin, 0), 0);
  ck_assert_int_eq(lure_udp_getsockname(&r->udp, (struct sockaddr *) &ss,
                                        &len), 0);
  ck_assert_int_eq(lure_udp_send(&r->sreq, &r->udp, &b, 1,
                                 (struct sockaddr *) &ss, rs_sent), 0);
  while (r->got < 4 || r->sent == 0)
    lure_run(&r->p.loop, LURE_RUN_ONCE);
  ck_assert_int_eq(r->sent, 1);
  rc = rs_check(&r->p.loop, (lure_stream_t *) &r->p.client,
                (lure_stream_t *) &r->p.server, &r->udp);
  ck_assert_msg(rc == 0, "set %s: ring state %d not on the loop's lists",
                lt_set(), rc);

  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    alarm(10);
    if (lure_loop_fork(&r->p.loop) != 0)
      _exit(10);
    if (strcmp(lure_loop_backend(&r->p.loop), "io_uring") != 0)
      _exit(0); /* the child fell back: nothing on a ring to check */
    _exit(rs_check(&r->p.loop, (lure_stream_t *) &r->p.client,
                   (lure_stream_t *) &r->p.server, &r->udp));
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "set %s: after lure_loop_fork the child's ring state %d is "
                "not on the new ring's lists (status %d)", lt_set(),
                WIFEXITED(status) ? WEXITSTATUS(status) : -1, status);

  lure_close((lure_handle_t *) &r->udp, NULL);
  lure_close((lure_handle_t *) &r->p.client, NULL);
  lure_close((lure_handle_t *) &r->p.server, NULL);
  lure_run(&r->p.loop, LURE_RUN_DEFAULT);
  {
    struct lure__uring *st = r->p.loop.priv->backend_data;

    ck_assert_int_eq(rs_count(&st->ustreams), 0);
    ck_assert_int_eq(rs_count(&st->uudps), 0);
  }
  lt_loop_finish(&r->p.loop);
  free(r);
}
END_TEST

LT_SUITE(ring) {
  Suite *s = suite_create("ring");
  TCase *tc = tcase_create("ring");

  /* The ring's own stream paths: streams on the ring from the start. */
  tcase_add_checked_fixture(tc, lt_streams_ring_at_once,
                            lt_streams_default);

  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_test(tc, ring_pingpong_stats);
  tcase_add_test(tc, ring_tcp_answer_then_close);
  tcase_add_test(tc, ring_udp_burst_chain);
  tcase_add_test(tc, ring_udp_close_with_chain);
  tcase_add_test(tc, ring_udp_fork);
  tcase_add_test(tc, ring_udp_switch_backend);
  tcase_add_test(tc, ring_udp_self_ping);
  tcase_add_test(tc, ring_udp_many_receivers);
  tcase_add_test(tc, ring_readiness_close_in_callback);
  tcase_add_test(tc, ring_last_tick_flushed);
  tcase_add_test(tc, ring_many_small_reads);
  tcase_add_test(tc, ring_states_reachable);
  tcase_add_test(tc, ring_legacy_buffers_in_runs);
  suite_add_tcase(s, tc);
  return s;
}
