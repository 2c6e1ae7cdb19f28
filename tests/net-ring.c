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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "net-tests.h"

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
  struct nt_server srv;
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
    NT_CHECK_EXECUTOR(req, "a ping write");
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
    nt_server_stop(&c->pp->srv);
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

  nt_loop_init(&p->loop);
  nt_watchdog(&p->loop, &p->wd, NT_WATCHDOG_MS, "ping-pong");
  p->srv.nodelay = 1;
  nt_server_start(&p->loop, &p->srv, AF_INET, NULL);
  nt_loopback(AF_INET, p->srv.port, &p->addr);
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
  nt_run(&p->loop);

  for (i = 0; i < PP_CONNS; i++) {
    ck_assert_msg(p->c[i].err == 0, "client %u: %s", i, nt_err(p->c[i].err));
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
         nt_set() ? nt_set() : "(none)", lure_loop_backend(&p->loop),
         (unsigned long long) rts, (double) (p->t1 - p->t0) / 1e6,
         (double) rts * 1e9 / (double) (p->t1 - p->t0),
         (unsigned long long) ticks, (unsigned long long) waits, per_rt,
         (unsigned long long) sqes, (unsigned long long) cqes,
         (unsigned long long) epev);
  ck_assert_uint_gt(waits, 0);
  if (nt_set_is("uring")) {
    ck_assert_msg(cqes >= rts, "set uring: only %llu CQEs reaped for %llu "
                  "round trips: the ring's socket path was not used",
                  (unsigned long long) cqes, (unsigned long long) rts);
    ck_assert_msg(per_rt < 1.0, "set uring: %.3f wait calls per round trip "
                  "(10 connections), want < 1.0", per_rt);
  } else if (nt_set_is("epoll") || nt_set_is("nouring")) {
    ck_assert_uint_eq(cqes, 0);
    ck_assert_uint_gt(epev, 0);
  }
  nt_loop_finish(&p->loop);
  free(p);
}
END_TEST

Suite *net_ring_suite(void) {
  Suite *s = suite_create("ring");
  TCase *tc = tcase_create("ring");

  tcase_set_timeout(tc, NT_TCASE_TIMEOUT);
  tcase_add_test(tc, ring_pingpong_stats);
  suite_add_tcase(s, tc);
  return s;
}
