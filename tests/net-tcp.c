/*
 * net-tcp.c - suite "tcp": echo integrity over TCP (chunk sizes from 1 B to
 * 1 MiB, IPv4 and IPv6), 1,000 concurrent connections, many connections
 * sharing the loop's provided-buffer ring, half-close, refused connect,
 * reset by the peer, zero-copy send with borrowed reads, one port shared
 * by two loops (LURE_TCP_REUSEPORT).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "harness-net.h"

/* ---- echo across chunk sizes ----------------------------------------------- */

static const size_t echo_chunks[] = { 1, 7, 4096, 65536, 1 << 20 };

START_TEST(tcp_echo_chunks) {
  struct lt_net_bulk_opts o;
  struct lt_net_bulk_stats st;

  memset(&o, 0, sizeof(o));
  o.nclients = 1;
  o.chunk = echo_chunks[_i];
  /* 1 MiB echoed in every size but 1 B, which sends 64 KiB (65,536
   * requests of one byte each). */
  o.total = o.chunk == 1 ? 65536 : (size_t) 1 << 20;
  o.window_reqs = 64;
  o.window_bytes = 256 * 1024;
  o.family = AF_INET;
  lt_net_bulk_run(&o, &st);
  printf("tcp_echo_chunks: set %s: %zu bytes in %zu-byte writes (%llu "
         "requests) echoed in %llu ms\n",
         lt_set() ? lt_set() : "(none)", o.total, o.chunk,
         (unsigned long long) st.writes, (unsigned long long) st.ms);
}
END_TEST

START_TEST(tcp_echo_ipv6_split) {
  struct lt_net_bulk_opts o;

  if (!lt_net_have_ipv6()) {
    printf("tcp_echo_ipv6: ::1 cannot be bound here; skipped\n");
    return;
  }
  memset(&o, 0, sizeof(o));
  o.nclients = 4;
  o.chunk = 3000;
  o.total = (size_t) 1 << 20;
  o.window_reqs = 16;
  o.window_bytes = 64 * 1024;
  o.family = AF_INET6;
  o.nodelay = 1;
  o.split = 1;   /* three buffers per request */
  o.rbuf = 1000; /* reads smaller than what arrives */
  lt_net_bulk_run(&o, NULL);
}
END_TEST

/* ---- 1,000 concurrent connections ------------------------------------------ */

START_TEST(tcp_many_connections) {
  struct lt_net_bulk_opts o;
  struct lt_net_bulk_stats st;
  long lim = lt_raise_nofile(4096);

  ck_assert_msg(lim >= 4096, "RLIMIT_NOFILE is %ld and cannot be raised to "
                "4096", lim);
  memset(&o, 0, sizeof(o));
  o.nclients = 1000;
  /* 64 KiB per connection, as the issue asks, also under ASan: the whole
   * run (64 MiB each way) takes a few seconds there on 2 cores. */
  o.total = 64 * 1024;
  o.chunk = 16 * 1024;
  o.window_reqs = 4;
  o.window_bytes = 64 * 1024;
  o.family = AF_INET;
  o.rbuf = 16 * 1024;
  o.watchdog_ms = 40000;
  lt_net_bulk_run(&o, &st);
  printf("tcp_many_connections: set %s: 1000 connections x 64 KiB echoed in "
         "%llu ms\n", lt_set() ? lt_set() : "(none)",
         (unsigned long long) st.ms);
}
END_TEST

/* ---- many connections, one provided-buffer ring ----------------------------- */

/* The loop's buffer ring has 256 buffers of 16 KiB (4 MiB) for all its
 * streams.  200 connections that each send 256 KiB at once (50 MiB, queued
 * while connecting) run it dry over and over; the server checks every
 * stream (id header, then the pattern of that id). */
START_TEST(tcp_bufring_shared) {
  struct lt_net_bulk_opts o;
  struct lt_net_bulk_stats st;

  ck_assert(lt_raise_nofile(1024) >= 1024);
  memset(&o, 0, sizeof(o));
  o.nclients = 200;
  o.total = 256 * 1024;
  o.chunk = 64 * 1024;
  o.window_reqs = 4;
  o.window_bytes = 256 * 1024;
  o.family = AF_INET;
  o.sink = 1;
  o.write_early = 1;
  o.watchdog_ms = 30000;
  lt_net_bulk_run(&o, &st);
  printf("tcp_bufring_shared: set %s: 200 x 256 KiB in %llu ms\n",
         lt_set() ? lt_set() : "(none)", (unsigned long long) st.ms);
}
END_TEST

/* ---- half-close ------------------------------------------------------------------ */

static const char hc_request[] = "request, then the client shuts down";
static const char hc_reply[] = "reply written after the server read EOF";

struct hc {
  struct lt_net_pair p;
  lure_shutdown_t sreq;
  lure_write_t cw;
  lure_write_t sw;
  char srx[128];
  size_t srx_len;
  char crx[128];
  size_t crx_len;
  char log[32];          /* events in order */
  int nlog;
  int shut_status;
  int cw_status;
  int sw_status;
  int server_closed;
  int client_closed;
  char rbuf[64];
};

static void hc_log(struct hc *h, char e) {
  if (h->nlog < (int) sizeof(h->log) - 1)
    h->log[h->nlog++] = e;
}

static void hc_alloc(lure_handle_t *hd, size_t sz, lure_buf_t *buf) {
  struct hc *h = hd->data;

  buf->base = h->rbuf;
  buf->len = 5; /* small reads: several callbacks */
}

static void hc_server_closed(lure_handle_t *hd) {
  struct hc *h = hd->data;

  h->server_closed++;
}

static void hc_client_closed(lure_handle_t *hd) {
  struct hc *h = hd->data;

  h->client_closed++;
}

static void hc_sw_cb(lure_write_t *req, int status) {
  struct hc *h = req->data;

  hc_log(h, 'W');
  h->sw_status = status;
  lure_close((lure_handle_t *) &h->p.server, hc_server_closed);
}

static void hc_server_read(lure_stream_t *s, ssize_t nread,
                           const lure_buf_t *buf) {
  struct hc *h = s->data;
  lure_buf_t b;

  if (nread > 0) {
    ck_assert_msg(h->srx_len + (size_t) nread <= sizeof(h->srx),
                  "server got too much");
    memcpy(h->srx + h->srx_len, buf->base, (size_t) nread);
    h->srx_len += (size_t) nread;
    if (h->nlog == 0 || h->log[h->nlog - 1] != 'D')
      hc_log(h, 'D');
    return;
  }
  if (nread == 0)
    return;
  ck_assert_msg(nread == LURE_EOF, "server read: %s, want EOF", lt_err(nread));
  hc_log(h, 'E');
  /* Half-closed: the server may still write. */
  ck_assert_int_ne(lure_is_writable(s), 0);
  b = lure_buf_init((char *) hc_reply, sizeof(hc_reply) - 1);
  h->sw.data = h;
  ck_assert_int_eq(lure_write(&h->sw, s, &b, 1, hc_sw_cb), 0);
}

static void hc_client_read(lure_stream_t *s, ssize_t nread,
                           const lure_buf_t *buf) {
  struct hc *h = s->data;

  if (nread > 0) {
    ck_assert_msg(h->crx_len + (size_t) nread <= sizeof(h->crx),
                  "client got too much");
    memcpy(h->crx + h->crx_len, buf->base, (size_t) nread);
    h->crx_len += (size_t) nread;
    if (h->nlog == 0 || h->log[h->nlog - 1] != 'r')
      hc_log(h, 'r');
    return;
  }
  if (nread == 0)
    return;
  ck_assert_msg(nread == LURE_EOF, "client read: %s, want EOF", lt_err(nread));
  hc_log(h, 'e');
  lure_close((lure_handle_t *) s, hc_client_closed);
}

static void hc_cw_cb(lure_write_t *req, int status) {
  struct hc *h = req->data;

  hc_log(h, 'w');
  h->cw_status = status;
}

static void hc_shut_cb(lure_shutdown_t *req, int status) {
  struct hc *h = req->data;

  hc_log(h, 'S');
  h->shut_status = status;
  LT_NET_CHECK_EXECUTOR(req, "the client's shutdown");
}

START_TEST(tcp_half_close) {
  struct hc *h = calloc(1, sizeof(*h));
  lure_stream_t *cs;
  lure_buf_t b;
  lure_write_t extra;
  lure_shutdown_t extra_sreq;
  int rc;

  lt_net_pair_open(&h->p, LT_NET_WATCHDOG_MS, "half-close");
  cs = (lure_stream_t *) &h->p.client;
  h->p.client.data = h;
  h->p.server.data = h;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &h->p.server, hc_alloc,
                                   hc_server_read), 0);
  ck_assert_int_eq(lure_read_start(cs, hc_alloc, hc_client_read), 0);
  b = lure_buf_init((char *) hc_request, sizeof(hc_request) - 1);
  h->cw.data = h;
  ck_assert_int_eq(lure_write(&h->cw, cs, &b, 1, hc_cw_cb), 0);
  h->sreq.data = h;
  ck_assert_int_eq(lure_shutdown(&h->sreq, cs, hc_shut_cb), 0);
  /* From the call on: no more writes, no second shutdown, still readable. */
  ck_assert_int_eq(lure_is_writable(cs), 0);
  ck_assert_int_ne(lure_is_readable(cs), 0);
  rc = lure_write(&extra, cs, &b, 1, NULL);
  ck_assert_msg(rc == LURE_EPIPE, "write after lure_shutdown: %s, want EPIPE",
                lt_err(rc));
  rc = lure_shutdown(&extra_sreq, cs, NULL);
  ck_assert_msg(rc == LURE_ENOTCONN, "second lure_shutdown: %s, want ENOTCONN",
                lt_err(rc));

  lt_run(&h->p.loop);

  ck_assert_int_eq(h->cw_status, 0);
  ck_assert_int_eq(h->shut_status, 0);
  ck_assert_int_eq(h->sw_status, 0);
  ck_assert_uint_eq(h->srx_len, sizeof(hc_request) - 1);
  ck_assert(memcmp(h->srx, hc_request, h->srx_len) == 0);
  ck_assert_uint_eq(h->crx_len, sizeof(hc_reply) - 1);
  ck_assert(memcmp(h->crx, hc_reply, h->crx_len) == 0);
  ck_assert_int_eq(h->server_closed, 1);
  ck_assert_int_eq(h->client_closed, 1);
  h->log[h->nlog] = '\0';
  /* w: client write cb, S: shutdown cb, D: server data, E: server EOF,
   * W: reply written, r: client got the reply, e: client EOF.  The server
   * sees the data then EOF; the reply comes after that EOF; the client
   * reads it, then its own EOF. */
  {
    const char *d = strchr(h->log, 'D');
    const char *e = strchr(h->log, 'E');
    const char *w = strchr(h->log, 'w');
    const char *s = strchr(h->log, 'S');
    const char *r = strchr(h->log, 'r');
    const char *ce = strchr(h->log, 'e');

    ck_assert_msg(d && e && w && s && r && ce, "events: %s", h->log);
    ck_assert_msg(d < e && w < s && e < r && r < ce &&
                      strchr(e + 1, 'E') == NULL && strchr(ce + 1, 'e') == NULL,
                  "events out of order: %s", h->log);
  }
  lt_loop_finish(&h->p.loop);
  free(h);
}
END_TEST

/* ---- shutdown, then the peer's EOF ---------------------------------------------- */

/* A client writes, shuts down and closes as soon as it reads the end of
 * the echo.  The peer can only answer the end of the client's stream once
 * the client's shutdown(2) was done, so the shutdown callback must report
 * 0, never LURE_ECANCELED ("closed before the shutdown is done"), and must
 * run before the close callback. */
#define SR_CLIENTS 100

struct sr_client {
  lure_tcp_t tcp;
  lure_connect_t creq;
  lure_shutdown_t sreq;
  lure_write_t wr;
  int shut_cbs;
  int shut_status;
  int shut_after_close;
  int eof;
  int closed;
  uint64_t id;
  unsigned char hdr[8];
  char rbuf[256];
};

static void sr_close_cb(lure_handle_t *h) {
  struct sr_client *c = h->data;

  c->closed++;
}

static void sr_shut_cb(lure_shutdown_t *req, int status) {
  struct sr_client *c = req->data;

  c->shut_cbs++;
  c->shut_status = status;
  if (c->closed)
    c->shut_after_close = 1;
}

static void sr_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct sr_client *c = h->data;

  buf->base = c->rbuf;
  buf->len = sizeof(c->rbuf);
}

static void sr_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct sr_client *c = s->data;

  if (nread >= 0)
    return;
  c->eof = nread == LURE_EOF;
  lure_close((lure_handle_t *) s, sr_close_cb);
}

static int sr_sink;

static void sr_connect_cb(lure_connect_t *req, int status) {
  struct sr_client *c = req->data;
  lure_buf_t b[2];
  unsigned k;

  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &c->tcp, sr_alloc,
                                   sr_read), 0);
  /* Echo: 100 bytes.  Sink: the id header, then 64 KiB of its pattern. */
  for (k = 0; k < 8; k++)
    c->hdr[k] = (unsigned char) (c->id >> (8 * k));
  b[0] = lure_buf_init((char *) c->hdr, 8);
  b[1] = lure_buf_init((char *) lt_net_pat(c->id + 1, 0), 64 * 1024);
  if (!sr_sink)
    b[0] = lure_buf_init((char *) lt_net_pat(3, 0), 100);
  ck_assert_int_eq(lure_write(&c->wr, (lure_stream_t *) &c->tcp, b,
                              sr_sink ? 2 : 1, NULL), 0);
  c->sreq.data = c;
  ck_assert_int_eq(lure_shutdown(&c->sreq, (lure_stream_t *) &c->tcp,
                                 sr_shut_cb), 0);
}

START_TEST(tcp_shutdown_then_peer_eof) {
  lure_loop_t loop;
  lure_timer_t wd;
  struct lt_net_server srv;
  struct sockaddr_storage ss;
  struct sr_client *c = calloc(SR_CLIENTS, sizeof(*c));
  int cancelled = 0;
  int first = -1;
  int i;

  memset(&srv, 0, sizeof(srv));
  sr_sink = _i;
  srv.sink = _i;
  srv.nresults = SR_CLIENTS;
  srv.results = calloc(SR_CLIENTS, sizeof(*srv.results));
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "shutdown then the peer's EOF");
  lt_net_server_start(&loop, &srv, AF_INET, NULL);
  lt_net_loopback(AF_INET, srv.port, &ss);
  for (i = 0; i < SR_CLIENTS; i++) {
    ck_assert_int_eq(lure_tcp_init(&loop, &c[i].tcp), 0);
    c[i].tcp.data = &c[i];
    c[i].creq.data = &c[i];
    c[i].id = (uint64_t) i;
    ck_assert_int_eq(lure_tcp_connect(&c[i].creq, &c[i].tcp,
                                      (struct sockaddr *) &ss, sr_connect_cb),
                     0);
  }
  /* The server closes its side once the echo is out; stop listening when
   * every client is done. */
  for (i = 0; i < 100000; i++) {
    int j;
    int done = 0;

    for (j = 0; j < SR_CLIENTS; j++)
      done += c[j].closed;
    if (done == SR_CLIENTS)
      break;
    lure_run(&loop, LURE_RUN_ONCE);
  }
  lt_net_server_stop(&srv);
  lt_run(&loop);
  for (i = 0; i < SR_CLIENTS; i++) {
    ck_assert_int_eq(c[i].closed, 1);
    ck_assert_msg(c[i].eof, "client %d: no EOF", i);
    ck_assert_msg(c[i].shut_cbs == 1, "client %d: %d shutdown callbacks", i,
                  c[i].shut_cbs);
    ck_assert_msg(!c[i].shut_after_close,
                  "client %d: shutdown callback after the close callback", i);
    if (c[i].shut_status != 0) {
      if (first < 0)
        first = i;
      cancelled++;
    }
  }
  ck_assert_msg(cancelled == 0,
                "set %s (%s server): %d of %d clients got shutdown status %s "
                "(client %d) although the peer had read their EOF and closed",
                lt_set() ? lt_set() : "(none)", _i ? "sink" : "echo",
                cancelled, SR_CLIENTS,
                lt_err(first >= 0 ? c[first].shut_status : 0), first);
  ck_assert_uint_eq(srv.errors, 0);
  lt_loop_finish(&loop);
  free(srv.results);
  free(c);
}
END_TEST

/* ---- refused connect ------------------------------------------------------------- */

struct refused {
  int cbs;
  int status;
  int write_cbs;
  int write_status;
  int closed;
};

static void refused_connect_cb(lure_connect_t *req, int status) {
  struct refused *r = req->data;

  r->cbs++;
  r->status = status;
}

static void refused_write_cb(lure_write_t *req, int status) {
  struct refused *r = req->data;

  r->write_cbs++;
  r->write_status = status;
}

static void refused_close_cb(lure_handle_t *h) {
  struct refused *r = h->data;

  r->closed++;
}

static void refused_once(int family) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_tcp_t tcp;
  lure_connect_t req;
  struct sockaddr_storage ss;
  struct refused r;
  int rc;

  memset(&r, 0, sizeof(r));
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "refused connect");
  lt_net_loopback(family, lt_net_free_port(family, SOCK_STREAM), &ss);
  ck_assert_int_eq(lure_tcp_init(&loop, &tcp), 0);
  tcp.data = &r;
  req.data = &r;
  rc = lure_tcp_connect(&req, &tcp, (struct sockaddr *) &ss,
                        refused_connect_cb);
  ck_assert_msg(rc == 0, "lure_tcp_connect: %s (a refusal goes to the "
                "callback)", lt_err(rc));
  ck_assert_int_eq(r.cbs, 0); /* never from inside the call */
  lt_run(&loop);
  ck_assert_int_eq(r.cbs, 1);
  ck_assert_msg(r.status == LURE_ECONNREFUSED, "%s: connect status %s, want "
                "ECONNREFUSED", family == AF_INET6 ? "::1" : "127.0.0.1",
                lt_err(r.status));
  ck_assert_int_eq(lure_close((lure_handle_t *) &tcp, refused_close_cb), 0);
  lt_run(&loop);
  ck_assert_int_eq(r.closed, 1);
  ck_assert_int_eq(r.cbs, 1);
  lt_loop_finish(&loop);
}

START_TEST(tcp_refused) {
  refused_once(AF_INET);
  if (lt_net_have_ipv6())
    refused_once(AF_INET6);
}
END_TEST

/* lure_write(3): a stream that is connecting "may already be written: the
 * data goes out once the connection is made, or the writes fail if it is
 * not".  The handle is not closed by the test until both callbacks ran. */
START_TEST(tcp_refused_queued_write) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_tcp_t tcp;
  lure_connect_t req;
  lure_write_t wr;
  lure_buf_t b = lure_buf_init("queued while connecting", 23);
  struct sockaddr_storage ss;
  struct refused r;

  memset(&r, 0, sizeof(r));
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 3000,
              "a write queued on a refused connection (its callback never "
              "came)");
  lt_net_loopback(AF_INET, lt_net_free_port(AF_INET, SOCK_STREAM), &ss);
  ck_assert_int_eq(lure_tcp_init(&loop, &tcp), 0);
  tcp.data = &r;
  req.data = &r;
  wr.data = &r;
  ck_assert_int_eq(lure_tcp_connect(&req, &tcp, (struct sockaddr *) &ss,
                                    refused_connect_cb), 0);
  ck_assert_int_eq(lure_write(&wr, (lure_stream_t *) &tcp, &b, 1,
                              refused_write_cb), 0);
  lt_run(&loop);
  ck_assert_int_eq(r.cbs, 1);
  ck_assert_int_eq(r.status, LURE_ECONNREFUSED);
  ck_assert_int_eq(r.write_cbs, 1);
  ck_assert_msg(r.write_status < 0, "write on a refused connection: status %s",
                lt_err(r.write_status));
  lt_loop_finish(&loop);
}
END_TEST

/* An error connect(2) reports at once (here ENETUNREACH for the broadcast
 * address) is returned by lure_tcp_connect() itself, as libuv returns it,
 * with no callback, on every path (the ring's CONNECT too); the handle then
 * connects normally and closes cleanly. */
static int sync_cbs;

static void sync_connect_cb(lure_connect_t *req, int status) {
  sync_cbs++;
  ck_assert_int_eq(status, 0);
  lure_close((lure_handle_t *) req->handle, NULL);
}

START_TEST(tcp_connect_error_sync) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_tcp_t tcp;
  lure_tcp_t other;
  lure_connect_t req;
  struct sockaddr_in bad;
  struct lt_net_server srv;
  struct sockaddr_storage ss;
  int i;

  sync_cbs = 0;
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 3000, "connect after a synchronous error");
  ck_assert_int_eq(lure_ip4_addr("255.255.255.255", 80, &bad), 0);
  ck_assert_int_eq(lure_tcp_init(&loop, &tcp), 0);
  for (i = 0; i < 3; i++)
    ck_assert_int_eq(lure_tcp_connect(&req, &tcp, (struct sockaddr *) &bad,
                                      sync_connect_cb), LURE_ENETUNREACH);
  lure_close((lure_handle_t *) &tcp, NULL);
  lt_run_for(&loop, 20);
  ck_assert_int_eq(sync_cbs, 0);

  /* A fresh handle on the same loop connects as usual. */
  memset(&srv, 0, sizeof(srv));
  lt_net_server_start(&loop, &srv, AF_INET, NULL);
  lt_net_loopback(AF_INET, srv.port, &ss);
  ck_assert_int_eq(lure_tcp_init(&loop, &other), 0);
  ck_assert_int_eq(lure_tcp_connect(&req, &other, (struct sockaddr *) &ss,
                                    sync_connect_cb), 0);
  while (sync_cbs == 0 && lure_run(&loop, LURE_RUN_ONCE) != 0)
    ;
  ck_assert_int_eq(sync_cbs, 1);
  lt_net_server_stop(&srv);
  lt_run(&loop);
  lt_loop_finish(&loop);
}
END_TEST

/* Closing a stream whose connect is still under way (the listener's accept
 * queue is full, so the SYN waits for a retry): the connect callback runs
 * once, with LURE_ECANCELED, before the close callback, on every path (on
 * the ring, the CONNECT is cancelled). */
static int pend_connect_cbs;
static int pend_connect_status;
static int pend_closed_before_cb;
static int pend_closes;

static void pend_connect_cb(lure_connect_t *req, int status) {
  (void) req;
  pend_connect_cbs++;
  pend_connect_status = status;
  if (pend_closes > 0)
    pend_closed_before_cb = 1;
}

static void pend_close_cb(lure_handle_t *h) {
  (void) h;
  pend_closes++;
}

START_TEST(tcp_close_while_connecting) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_tcp_t tcp;
  lure_connect_t req;
  struct sockaddr_in a4;
  socklen_t len = sizeof(a4);
  int lfd;
  int fill[8];
  int i;

  pend_connect_cbs = 0;
  pend_closes = 0;
  pend_closed_before_cb = 0;
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(lfd, 0);
  memset(&a4, 0, sizeof(a4));
  a4.sin_family = AF_INET;
  a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(lfd, (struct sockaddr *) &a4, sizeof(a4)), 0);
  ck_assert_int_eq(listen(lfd, 1), 0);
  ck_assert_int_eq(getsockname(lfd, (struct sockaddr *) &a4, &len), 0);
  /* Nobody accepts: the queue fills, later SYNs are dropped. */
  for (i = 0; i < 8; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(fill[i], 0);
    (void) connect(fill[i], (struct sockaddr *) &a4, sizeof(a4));
  }
  usleep(20000);

  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 3000, "close while connecting");
  ck_assert_int_eq(lure_tcp_init(&loop, &tcp), 0);
  ck_assert_int_eq(lure_tcp_connect(&req, &tcp, (struct sockaddr *) &a4,
                                    pend_connect_cb), 0);
  lt_run_for(&loop, 100);
  ck_assert_msg(pend_connect_cbs == 0, "the connect ended (%s) although the "
                "listener's queue was full", lt_err(pend_connect_status));
  lure_close((lure_handle_t *) &tcp, pend_close_cb);
  lt_run(&loop);
  ck_assert_int_eq(pend_connect_cbs, 1);
  ck_assert_int_eq(pend_connect_status, LURE_ECANCELED);
  ck_assert_int_eq(pend_closes, 1);
  ck_assert_int_eq(pend_closed_before_cb, 0);
  lt_loop_finish(&loop);
  for (i = 0; i < 8; i++)
    close(fill[i]);
  close(lfd);
}
END_TEST

/* ---- reset by the peer ------------------------------------------------------------ */

#define RST_WRITES 8
#define RST_CHUNK (64 * 1024)

struct rst {
  struct lt_net_pair p;
  lure_write_t sw[RST_WRITES];
  int sw_status[RST_WRITES];
  int sw_cbs[RST_WRITES];
  int sw_order_bad;
  int sw_next;
  int server_closed;
  size_t received;
  long bad_at;
  int read_status;       /* the first negative nread */
  int reads_after_error;
  lure_write_t cw[2];
  int cw_status[2];
  int cw_cbs[2];
  int cw_rc[2];
  int client_closed;
  char rbuf[16384];
};

static void rst_server_closed(lure_handle_t *h) {
  struct rst *r = h->data;

  r->server_closed++;
}

static void rst_sw_cb(lure_write_t *req, int status) {
  struct rst *r = req->data;
  int i = (int) (req - r->sw);

  if (i != r->sw_next)
    r->sw_order_bad = 1;
  r->sw_next = i + 1;
  r->sw_cbs[i]++;
  r->sw_status[i] = status;
  /* Mid-stream: reset after the first write went out, with the others
   * still queued. */
  if (i == 0 && !lure_is_closing((lure_handle_t *) &r->p.server))
    ck_assert_int_eq(lure_tcp_close_reset(&r->p.server, rst_server_closed), 0);
}

static void rst_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct rst *r = h->data;

  buf->base = r->rbuf;
  buf->len = sizeof(r->rbuf);
}

static void rst_client_closed(lure_handle_t *h) {
  struct rst *r = h->data;

  r->client_closed++;
}

static void rst_cw_cb(lure_write_t *req, int status) {
  struct rst *r = req->data;
  int i = (int) (req - r->cw);

  r->cw_cbs[i]++;
  r->cw_status[i] = status;
}

static void rst_client_read(lure_stream_t *s, ssize_t nread,
                            const lure_buf_t *buf) {
  struct rst *r = s->data;
  lure_buf_t b = lure_buf_init((char *) lt_net_pat(99, 0), 1000);
  int i;

  if (r->read_status != 0) {
    r->reads_after_error++;
    return;
  }
  if (nread > 0) {
    if (r->bad_at < 0) {
      long bad = lt_net_pat_check(5, r->received, buf->base, (size_t) nread);

      if (bad >= 0)
        r->bad_at = (long) r->received + bad;
    }
    r->received += (size_t) nread;
    return;
  }
  if (nread == 0)
    return;
  r->read_status = (int) nread;
  /* Writes after the reset fail (from the call or in the callback), and
   * never raise SIGPIPE (its default action would kill this process). */
  for (i = 0; i < 2; i++) {
    r->cw[i].data = r;
    r->cw_rc[i] = lure_write(&r->cw[i], s, &b, 1, rst_cw_cb);
  }
}

static void rst_close_client(lure_timer_t *t) {
  struct rst *r = t->data;

  lure_close((lure_handle_t *) &r->p.client, rst_client_closed);
  lure_close((lure_handle_t *) t, NULL);
}

START_TEST(tcp_reset_by_peer) {
  struct rst *r = calloc(1, sizeof(*r));
  lure_timer_t later;
  lure_buf_t b;
  int i;

  signal(SIGPIPE, SIG_DFL);
  r->bad_at = -1;
  lt_net_pair_open(&r->p, LT_NET_WATCHDOG_MS, "reset by the peer");
  r->p.client.data = r;
  r->p.server.data = r;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &r->p.client, rst_alloc,
                                   rst_client_read), 0);
  for (i = 0; i < RST_WRITES; i++) {
    b = lure_buf_init((char *) lt_net_pat(5, (uint64_t) i * RST_CHUNK), RST_CHUNK);
    r->sw[i].data = r;
    ck_assert_int_eq(lure_write(&r->sw[i], (lure_stream_t *) &r->p.server, &b,
                                1, rst_sw_cb), 0);
  }
  /* Run until the client saw the error, then a little more for the
   * failed writes' callbacks, then close the client. */
  for (i = 0; i < 100000 && r->read_status == 0; i++)
    lure_run(&r->p.loop, LURE_RUN_ONCE);
  ck_assert_int_eq(lure_timer_init(&r->p.loop, &later), 0);
  later.data = r;
  ck_assert_int_eq(lure_timer_start(&later, rst_close_client, 50, 0), 0);
  lt_run(&r->p.loop);

  ck_assert_int_eq(r->server_closed, 1);
  ck_assert_int_eq(r->client_closed, 1);
  for (i = 0; i < RST_WRITES; i++) {
    ck_assert_msg(r->sw_cbs[i] == 1, "server write %d: %d callbacks", i,
                  r->sw_cbs[i]);
    ck_assert_msg(i == 0 ? r->sw_status[i] == 0
                         : (r->sw_status[i] == 0 ||
                            r->sw_status[i] == LURE_ECANCELED),
                  "server write %d: status %s", i, lt_err(r->sw_status[i]));
  }
  ck_assert_msg(!r->sw_order_bad, "server write callbacks out of order");
  ck_assert_msg(r->bad_at < 0, "client data differs at byte %ld", r->bad_at);
  /* What the server had not sent when it reset is discarded: the client
   * gets some of the stream, then the error. */
  ck_assert_msg(r->received > 0 && r->received <= RST_WRITES * RST_CHUNK,
                "client read %zu bytes before the reset", r->received);
  ck_assert_msg(r->read_status == LURE_ECONNRESET,
                "set %s: the reader got %s after %zu bytes, want ECONNRESET",
                lt_set() ? lt_set() : "(none)", lt_err(r->read_status),
                r->received);
  ck_assert_int_eq(r->reads_after_error, 0);
  for (i = 0; i < 2; i++) {
    int st = r->cw_rc[i] != 0 ? r->cw_rc[i] : r->cw_status[i];

    if (r->cw_rc[i] == 0)
      ck_assert_msg(r->cw_cbs[i] == 1, "client write %d: %d callbacks", i,
                    r->cw_cbs[i]);
    else
      ck_assert_int_eq(r->cw_cbs[i], 0);
    ck_assert_msg(st == LURE_EPIPE || st == LURE_ECONNRESET,
                  "write %d after the reset: %s (call %s), want EPIPE or "
                  "ECONNRESET", i, lt_err(st), lt_err(r->cw_rc[i]));
  }
  lt_loop_finish(&r->p.loop);
  free(r);
}
END_TEST

/* The writer's side: the peer resets while the client keeps writing. */
struct rstw {
  struct lt_net_pair p;
  lure_write_t wr[64];
  int status[64];
  int cbs[64];
  int nwrites;
  int next_cb;
  int order_bad;
  int server_closed;
  int client_closed;
  int failed;
  char rbuf[4096];
};

static void rstw_server_closed(lure_handle_t *h) {
  struct rstw *r = h->data;

  r->server_closed++;
}

static void rstw_client_closed(lure_handle_t *h) {
  struct rstw *r = h->data;

  r->client_closed++;
}

static void rstw_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct rstw *r = h->data;

  buf->base = r->rbuf;
  buf->len = sizeof(r->rbuf);
}

static void rstw_server_read(lure_stream_t *s, ssize_t nread,
                             const lure_buf_t *buf) {
  struct rstw *r = s->data;

  if (nread > 0 && !lure_is_closing((lure_handle_t *) s))
    ck_assert_int_eq(lure_tcp_close_reset((lure_tcp_t *) s,
                                          rstw_server_closed), 0);
  (void) r;
}

static void rstw_client_read(lure_stream_t *s, ssize_t nread,
                             const lure_buf_t *buf) {
  /* ECONNRESET or EOF, whichever the kernel reports to the read: a write
   * may have taken the connection's error first. */
  if (nread < 0)
    ck_assert_msg(nread == LURE_ECONNRESET || nread == LURE_EOF,
                  "client read: %s", lt_err(nread));
}

static void rstw_cb(lure_write_t *req, int status) {
  struct rstw *r = req->data;
  int i = (int) (req - r->wr);

  if (i != r->next_cb)
    r->order_bad = 1;
  r->next_cb = i + 1;
  r->cbs[i]++;
  r->status[i] = status;
  if (status < 0)
    r->failed++;
  if (r->next_cb == r->nwrites)
    lure_close((lure_handle_t *) &r->p.client, rstw_client_closed);
}

START_TEST(tcp_reset_while_writing) {
  struct rstw *r = calloc(1, sizeof(*r));
  lure_buf_t b;
  int first_fail = -1;
  int i;

  signal(SIGPIPE, SIG_DFL);
  lt_net_pair_open(&r->p, LT_NET_WATCHDOG_MS, "reset while writing");
  r->p.client.data = r;
  r->p.server.data = r;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &r->p.server, rstw_alloc,
                                   rstw_server_read), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &r->p.client, rstw_alloc,
                                   rstw_client_read), 0);
  /* 64 x 1 MiB: far more than the socket buffers hold. */
  r->nwrites = 64;
  for (i = 0; i < r->nwrites; i++) {
    b = lure_buf_init((char *) lt_net_pat(11, 0), 1 << 20);
    r->wr[i].data = r;
    ck_assert_int_eq(lure_write(&r->wr[i], (lure_stream_t *) &r->p.client, &b,
                                1, rstw_cb), 0);
  }
  lt_run(&r->p.loop);
  ck_assert_int_eq(r->server_closed, 1);
  ck_assert_int_eq(r->client_closed, 1);
  ck_assert_msg(!r->order_bad, "write callbacks out of order");
  for (i = 0; i < r->nwrites; i++) {
    ck_assert_msg(r->cbs[i] == 1, "write %d: %d callbacks", i, r->cbs[i]);
    if (r->status[i] < 0 && first_fail < 0)
      first_fail = i;
    if (first_fail >= 0)
      ck_assert_msg(r->status[i] == LURE_EPIPE ||
                        r->status[i] == LURE_ECONNRESET,
                    "write %d (first failure %d): %s, want EPIPE or "
                    "ECONNRESET", i, first_fail, lt_err(r->status[i]));
  }
  ck_assert_msg(first_fail >= 0, "no write failed after the peer's reset");
  lt_loop_finish(&r->p.loop);
  free(r);
}
END_TEST

/* ---- connections accepted later, and never ----------------------------------------- */

/* lure_listen(3): a connection the callback does not accept stays queued
 * and may be accepted later, from any callback; closing the server closes
 * the connections still queued. */
#define AL_CLIENTS 5

struct al {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_timer_t tick;
  lure_tcp_t server;
  lure_tcp_t conn[AL_CLIENTS];
  lure_tcp_t client[AL_CLIENTS];
  lure_connect_t creq[AL_CLIENTS];
  lure_write_t cw[AL_CLIENTS];
  lure_write_t sw[AL_CLIENTS];
  int conn_cbs;
  int accepted;
  int eagain;
  int close_server;      /* second part: never accept, close the server */
  int client_end[AL_CLIENTS];   /* read status that ended each client */
  char reply[AL_CLIENTS][8];
  int reply_len[AL_CLIENTS];
  int ended;
  char rbuf[AL_CLIENTS][64];
};

static void al_conn_cb(lure_stream_t *s, int status) {
  struct al *a = s->data;

  ck_assert_int_eq(status, 0);
  a->conn_cbs++; /* not accepted here */
}

static void al_sconn_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  static char space[64];

  buf->base = space;
  buf->len = sizeof(space);
}

static void al_sconn_read(lure_stream_t *s, ssize_t nread,
                          const lure_buf_t *buf) {
  struct al *a = s->data;
  int i = (int) ((lure_tcp_t *) s - a->conn);
  lure_buf_t b;

  if (nread > 0) {
    /* Answer with the connection's accept order. */
    b = lure_buf_init((char *) "0123456789" + i, 1);
    ck_assert_int_eq(lure_write(&a->sw[i], s, &b, 1, NULL), 0);
    return;
  }
  if (nread < 0)
    lure_close((lure_handle_t *) s, NULL);
}

static void al_tick(lure_timer_t *t) {
  struct al *a = t->data;
  int rc;

  if (a->close_server) {
    lure_close((lure_handle_t *) &a->server, NULL);
    lure_close((lure_handle_t *) t, NULL);
    return;
  }
  /* Accept what waits, one per tick; stop when all are in. */
  if (a->accepted == AL_CLIENTS) {
    rc = lure_accept((lure_stream_t *) &a->server,
                     (lure_stream_t *) &a->client[0]);
    ck_assert_int_ne(rc, 0);
    lure_close((lure_handle_t *) &a->server, NULL);
    lure_close((lure_handle_t *) t, NULL);
    return;
  }
  ck_assert_int_eq(lure_tcp_init(&a->loop, &a->conn[a->accepted]), 0);
  rc = lure_accept((lure_stream_t *) &a->server,
                   (lure_stream_t *) &a->conn[a->accepted]);
  if (rc == LURE_EAGAIN) {
    a->eagain++;
    lure_close((lure_handle_t *) &a->conn[a->accepted], NULL);
    return;
  }
  ck_assert_msg(rc == 0, "late lure_accept: %s", lt_err(rc));
  a->conn[a->accepted].data = a;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &a->conn[a->accepted],
                                   al_sconn_alloc, al_sconn_read), 0);
  a->accepted++;
}

static void al_client_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct al *a = h->data;
  int i = (int) ((lure_tcp_t *) h - a->client);

  buf->base = a->rbuf[i];
  buf->len = sizeof(a->rbuf[i]);
}

static void al_client_read(lure_stream_t *s, ssize_t nread,
                           const lure_buf_t *buf) {
  struct al *a = s->data;
  int i = (int) ((lure_tcp_t *) s - a->client);

  if (nread > 0) {
    if (a->reply_len[i] + nread <= (ssize_t) sizeof(a->reply[i])) {
      memcpy(a->reply[i] + a->reply_len[i], buf->base, (size_t) nread);
      a->reply_len[i] += (int) nread;
    }
    if (!a->close_server) {
      a->ended++;
      lure_close((lure_handle_t *) s, NULL);
    }
    return;
  }
  if (nread < 0) {
    a->client_end[i] = (int) nread;
    a->ended++;
    lure_close((lure_handle_t *) s, NULL);
  }
}

static void al_connect_cb(lure_connect_t *req, int status) {
  struct al *a = req->data;
  int i = (int) (req - a->creq);
  lure_buf_t b = lure_buf_init("?", 1);

  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &a->client[i],
                                   al_client_alloc, al_client_read), 0);
  if (!a->close_server)
    ck_assert_int_eq(lure_write(&a->cw[i], (lure_stream_t *) &a->client[i],
                                &b, 1, NULL), 0);
}

static void accept_later_run(int close_server) {
  struct al *a = calloc(1, sizeof(*a));
  struct sockaddr_storage ss;
  int i;

  a->close_server = close_server;
  lt_loop_init(&a->loop);
  lt_watchdog(&a->loop, &a->wd, LT_NET_WATCHDOG_MS,
              close_server ? "closing a server with queued connections"
                           : "accepting later");
  ck_assert_int_eq(lure_timer_init(&a->loop, &a->tick), 0);
  a->tick.data = a;
  ck_assert_int_eq(lure_tcp_init(&a->loop, &a->server), 0);
  a->server.data = a;
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_tcp_bind(&a->server, (struct sockaddr *) &ss, 0), 0);
  ck_assert_int_eq(lure_listen((lure_stream_t *) &a->server, 16, al_conn_cb),
                   0);
  lt_net_loopback(AF_INET, lt_net_tcp_port(&a->server), &ss);
  for (i = 0; i < AL_CLIENTS; i++) {
    ck_assert_int_eq(lure_tcp_init(&a->loop, &a->client[i]), 0);
    a->client[i].data = a;
    a->creq[i].data = a;
    ck_assert_int_eq(lure_tcp_connect(&a->creq[i], &a->client[i],
                                      (struct sockaddr *) &ss, al_connect_cb),
                     0);
  }
  /* Close: after the first connection was announced (and a little time
   * for the others); accept: one per 5 ms tick. */
  ck_assert_int_eq(lure_timer_start(&a->tick, al_tick, close_server ? 100 : 5,
                                    close_server ? 0 : 5), 0);
  lt_run(&a->loop);
  ck_assert_int_ge(a->conn_cbs, 1);
  ck_assert_int_eq(a->ended, AL_CLIENTS);
  if (close_server) {
    for (i = 0; i < AL_CLIENTS; i++)
      ck_assert_msg(a->client_end[i] == LURE_EOF ||
                        a->client_end[i] == LURE_ECONNRESET,
                    "client %d of a server closed without accepting: %s", i,
                    lt_err(a->client_end[i]));
  } else {
    int seen[AL_CLIENTS] = { 0 };

    ck_assert_int_eq(a->accepted, AL_CLIENTS);
    ck_assert_int_eq(a->conn_cbs, AL_CLIENTS);
    for (i = 0; i < AL_CLIENTS; i++) {
      ck_assert_msg(a->reply_len[i] == 1, "client %d: %d reply bytes (end %s)",
                    i, a->reply_len[i], lt_err(a->client_end[i]));
      ck_assert(a->reply[i][0] >= '0' && a->reply[i][0] < '0' + AL_CLIENTS);
      seen[a->reply[i][0] - '0']++;
    }
    for (i = 0; i < AL_CLIENTS; i++)
      ck_assert_int_eq(seen[i], 1);
  }
  lt_loop_finish(&a->loop);
  free(a);
}

START_TEST(tcp_accept_later) {
  accept_later_run(0);
}
END_TEST

START_TEST(tcp_close_server_with_queued) {
  accept_later_run(1);
}
END_TEST

/* ---- lure_tcp_open on a socket connected elsewhere -------------------------------- */

/* A server killed while it listens lets its port go with it, as a libuv
 * server does: right after waitpid(), a connect to the port is refused
 * (not taken by the dead listener) and another socket binds and listens on
 * it (SO_REUSEADDR, as servers set).  On the ring, the accept request held
 * the listening socket until the kernel tore the ring down, in a worker,
 * 5-12 ms after the process was gone: the connect succeeded and the bind
 * failed with EADDRINUSE (a server restarted at once by its supervisor
 * could not start).  The child's loop has run a tick, so every request it
 * makes for the listener is in the kernel. */
static void tl_conn_cb(lure_stream_t *server, int status) {
  (void) server;
  (void) status;
}
static void tl_server(int wfd) {
  lure_loop_t loop;
  lure_tcp_t srv;
  struct sockaddr_storage ss;
  int port;

  lt_net_loopback(AF_INET, 0, &ss);
  if (lure_loop_init(&loop) != 0 || lure_tcp_init(&loop, &srv) != 0 ||
      lure_tcp_bind(&srv, (struct sockaddr *) &ss, 0) != 0 ||
      lure_listen((lure_stream_t *) &srv, 128, tl_conn_cb) != 0)
    _exit(2);
  (void) lure_run(&loop, LURE_RUN_NOWAIT);
  port = lt_net_tcp_port(&srv);
  if (write(wfd, &port, sizeof(port)) != (ssize_t) sizeof(port))
    _exit(3);
  (void) lure_run(&loop, LURE_RUN_DEFAULT);
}
START_TEST(tcp_listener_gone_with_process) {
  struct sockaddr_in sin;
  int one = 1;
  int port;
  int fd;

  port = lt_killed_child_port(tl_server);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t) port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  ck_assert_msg(connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0 &&
                    errno == ECONNREFUSED,
                "set %s: a connect to the dead server's port was not refused",
                lt_set() ? lt_set() : "(none)");
  close(fd);
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)),
                   0);
  ck_assert_msg(bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0 &&
                    listen(fd, 1) == 0,
                "set %s: port %d still in use after its server died: %s",
                lt_set() ? lt_set() : "(none)", port, strerror(errno));
  close(fd);
}
END_TEST


/* Two listeners with a connection each waiting: whichever is told first
 * closes both; the other one's callback never runs, although its
 * readiness may already sit in the batch being dispatched (the wait
 * point's, or on the ring the listeners' own epoll instance,
 * backends/uring-nest.c).  Two guards keep it out: the batch forgets a
 * stopped watcher, and a closed listener's watcher callback does nothing
 * (LURE__STREAM_LISTENING cleared); the test fails only if both go. */
struct lo {
  lure_tcp_t l[2];
  int fired;
  int closed;
};

static void lo_closed(lure_handle_t *h) {
  ((struct lo *) h->data)->closed++;
}

static void lo_conn_cb(lure_stream_t *server, int status) {
  struct lo *o = server->data;
  int i;

  (void) status;
  o->fired++;
  for (i = 0; i < 2; i++)
    if (!lure_is_closing((lure_handle_t *) &o->l[i]))
      lure_close((lure_handle_t *) &o->l[i], lo_closed);
}

START_TEST(tcp_listener_closed_by_other) {
  lure_loop_t loop;
  lure_timer_t wd;
  struct lo o;
  struct sockaddr_storage ss;
  int fd[2];
  int i;
  int r;

  memset(&o, 0, sizeof(o));
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "listener closed by another");
  for (i = 0; i < 2; i++) {
    lt_net_loopback(AF_INET, 0, &ss);
    ck_assert_int_eq(lure_tcp_init(&loop, &o.l[i]), 0);
    o.l[i].data = &o;
    ck_assert_int_eq(lure_tcp_bind(&o.l[i], (struct sockaddr *) &ss, 0), 0);
    ck_assert_int_eq(lure_listen((lure_stream_t *) &o.l[i], 8, lo_conn_cb),
                     0);
  }
  /* Both listeners watched before either has a connection. */
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_NOWAIT), 1);
  for (i = 0; i < 2; i++) {
    lt_net_loopback(AF_INET, lt_net_tcp_port(&o.l[i]), &ss);
    fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd[i], 0);
    ck_assert_int_eq(connect(fd[i], (struct sockaddr *) &ss,
                             sizeof(struct sockaddr_in)), 0);
  }
  for (i = 0; i < 1000 && o.closed < 2; i++) {
    r = lure_run(&loop, LURE_RUN_ONCE);
    (void) r;
  }
  ck_assert_int_eq(o.closed, 2);
  ck_assert_int_eq(o.fired, 1);
  close(fd[0]);
  close(fd[1]);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(tcp_open_connected_socket) {
  lure_loop_t loop;
  lure_timer_t wd;
  struct lt_net_server srv;
  lure_tcp_t h;
  struct sockaddr_storage ss;
  lure_write_t wr;
  lure_shutdown_t sreq;
  char got[16];
  int fd;
  int i;

  memset(&srv, 0, sizeof(srv));
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "lure_tcp_open");
  lt_net_server_start(&loop, &srv, AF_INET, NULL);
  lt_net_loopback(AF_INET, srv.port, &ss);
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  /* A blocking connect: the listener's backlog takes it. */
  ck_assert_int_eq(connect(fd, (struct sockaddr *) &ss,
                           sizeof(struct sockaddr_in)), 0);
  ck_assert_int_eq(lure_tcp_init(&loop, &h), 0);
  ck_assert_int_eq(lure_tcp_open(&h, fd), 0);
  ck_assert_int_eq(lure_tcp_open(&h, fd), LURE_EBUSY);
  ck_assert_int_ne(lure_is_readable((lure_stream_t *) &h), 0);
  ck_assert_int_ne(lure_is_writable((lure_stream_t *) &h), 0);
  {
    lure_buf_t b = lure_buf_init("adopted", 7);

    ck_assert_int_eq(lure_write(&wr, (lure_stream_t *) &h, &b, 1, NULL), 0);
    ck_assert_int_eq(lure_shutdown(&sreq, (lure_stream_t *) &h, NULL), 0);
  }
  /* Read the echo back with plain read(2) on the fd after the loop ran
   * (lure made it non-blocking). */
  for (i = 0; i < 1000 && srv.closed < 1; i++)
    lure_run(&loop, LURE_RUN_ONCE);
  ck_assert_int_eq(srv.closed, 1);
  ck_assert_int_eq((int) read(fd, got, sizeof(got)), 7);
  ck_assert(memcmp(got, "adopted", 7) == 0);
  ck_assert_uint_eq(srv.errors, 0);
  lt_net_server_stop(&srv);
  lt_loop_finish(&loop); /* closes h, and with it fd */
}
END_TEST

/* ---- the FIN leaves with lure_close() ------------------------------------------ */

struct cf {
  int peer;
  int closed;
  int eof_at_close_cb; /* what the peer saw when the close callback ran */
};

static int cf_peer_eof(int fd) {
  char c;

  return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

static void cf_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  static char b[64];

  (void) h;
  (void) sz;
  *buf = lure_buf_init(b, sizeof(b));
}

static void cf_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  (void) s;
  (void) nread;
  (void) buf;
}

static void cf_close_cb(lure_handle_t *h) {
  struct cf *c = h->data;

  c->closed++;
  c->eof_at_close_cb = cf_peer_eof(c->peer);
}

/* As with libuv, a stream served by readiness on epoll lets go of its
 * socket inside lure_close(), reading or not: the peer has its EOF before
 * the loop runs again, not only after the tick's last callback.  On the
 * ring's socket path (and for a readiness watcher polled by the ring) the
 * socket goes in the closing phase, once the kernel gave back what it
 * held, by the close callback at the latest; every set checks that. */
static void cf_round(int reading) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_tcp_t h;
  struct cf c;
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  const char *ex = lt_net_stream_executor();
  int lfd;
  int fd;
  int i;

  memset(&c, 0, sizeof(c));
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "close sends the FIN");
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(lfd, 0);
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(bind(lfd, (struct sockaddr *) &ss,
                        sizeof(struct sockaddr_in)), 0);
  ck_assert_int_eq(listen(lfd, 4), 0);
  ck_assert_int_eq(getsockname(lfd, (struct sockaddr *) &ss, &len), 0);
  c.peer = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(c.peer, 0);
  ck_assert_int_eq(connect(c.peer, (struct sockaddr *) &ss,
                           sizeof(struct sockaddr_in)), 0);
  fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  close(lfd);
  ck_assert_int_eq(lure_tcp_init(&loop, &h), 0);
  ck_assert_int_eq(lure_tcp_open(&h, fd), 0);
  h.data = &c;
  if (reading)
    ck_assert_int_eq(lure_read_start((lure_stream_t *) &h, cf_alloc, cf_read),
                     0);
  /* Let a read reach its executor (a receive armed in the ring). */
  for (i = 0; i < 3; i++)
    lure_run(&loop, LURE_RUN_NOWAIT);
  ck_assert_int_eq(cf_peer_eof(c.peer), 0);
  lure_close((lure_handle_t *) &h, cf_close_cb);
  if (ex != NULL && strcmp(ex, "epoll") == 0 &&
      strcmp(lure_loop_backend(&loop), "epoll") == 0)
    ck_assert_msg(cf_peer_eof(c.peer),
                  "set %s, %s: no EOF at the peer right after lure_close()",
                  lt_set() ? lt_set() : "(none)",
                  reading ? "reading" : "not reading");
  for (i = 0; i < 1000 && c.closed == 0; i++)
    lure_run(&loop, LURE_RUN_ONCE);
  ck_assert_int_eq(c.closed, 1);
  ck_assert_msg(c.eof_at_close_cb,
                "set %s: no EOF at the peer when the close callback ran",
                lt_set() ? lt_set() : "(none)");
  close(c.peer);
  lt_loop_finish(&loop);
}

START_TEST(tcp_close_fin_at_once) {
  cf_round(0);
  cf_round(1);
}
END_TEST

/* ---- zero-copy send, borrowed reads ------------------------------------------------ */

#define ZC_TOTAL ((size_t) 8 << 20)
#define ZC_CHUNK ((size_t) 256 * 1024)
#define ZC_SLOTS 4

struct zc {
  struct lt_net_pair p;
  lure_write_t wr[ZC_SLOTS];
  char *slot[ZC_SLOTS];
  size_t slot_len[ZC_SLOTS];
  size_t queued;
  uint64_t writes;
  uint64_t cbs;
  int write_err;
  int order_bad;
  int shut;
  lure_shutdown_t sreq;
  /* receiver */
  lure_buf_t held[512];
  int nheld;
  int max_held;
  lure_timer_t release_timer;
  size_t received;
  long bad_at;
  uint64_t sum_tx;
  uint64_t sum_rx;
  int eof;
  int zero_reads;
  int read_err;
  int release_err;
};

static void zc_pump(struct zc *z);

static void zc_write_cb(lure_write_t *req, int status) {
  struct zc *z = req->data;
  unsigned i = (unsigned) (req - z->wr);

  if (i != z->cbs % ZC_SLOTS)
    z->order_bad = 1;
  z->cbs++;
  if (status != 0 && z->write_err == 0)
    z->write_err = status;
  if (z->cbs == 1)
    LT_NET_CHECK_EXECUTOR(req, "lure_write_zc");
  /* The buffer is the caller's again: scribble on it.  Had lure called
   * back before the kernel let go of the pages, the peer would see this. */
  memset(z->slot[i], 0xA5, z->slot_len[i]);
  if (status == 0)
    zc_pump(z);
}

static void zc_pump(struct zc *z) {
  lure_stream_t *s = (lure_stream_t *) &z->p.client;
  lure_buf_t b[2];

  while (z->queued < ZC_TOTAL && z->writes - z->cbs < ZC_SLOTS) {
    unsigned i = (unsigned) (z->writes % ZC_SLOTS);
    size_t n = ZC_TOTAL - z->queued < ZC_CHUNK ? ZC_TOTAL - z->queued
                                                : ZC_CHUNK;
    size_t half = n / 3;

    memcpy(z->slot[i], lt_net_pat(21, z->queued), n);
    z->slot_len[i] = n;
    z->sum_tx = lt_net_sum(z->sum_tx, z->slot[i], n);
    z->wr[i].data = z;
    /* Odd requests in two buffers (SENDMSG_ZC), even ones in one
     * (SEND_ZC). */
    if (z->writes % 2) {
      b[0] = lure_buf_init(z->slot[i], (unsigned int) half);
      b[1] = lure_buf_init(z->slot[i] + half, (unsigned int) (n - half));
      ck_assert_int_eq(lure_write_zc(&z->wr[i], s, b, 2, zc_write_cb), 0);
    } else {
      b[0] = lure_buf_init(z->slot[i], (unsigned int) n);
      ck_assert_int_eq(lure_write_zc(&z->wr[i], s, b, 1, zc_write_cb), 0);
    }
    z->queued += n;
    z->writes++;
  }
  if (z->queued == ZC_TOTAL && !z->shut) {
    z->shut = 1;
    ck_assert_int_eq(lure_shutdown(&z->sreq, s, NULL), 0);
  }
}

static void zc_release_all(lure_timer_t *t) {
  struct zc *z = t->data;
  int i;
  int rc;

  for (i = 0; i < z->nheld; i++) {
    rc = lure_buf_release(&z->p.loop, &z->held[i]);
    if (rc != 0 && z->release_err == 0)
      z->release_err = rc;
  }
  z->nheld = 0;
}

static void zc_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct zc *z = s->data;

  if (nread > 0) {
    if (z->bad_at < 0) {
      long bad = lt_net_pat_check(21, z->received, buf->base, (size_t) nread);

      if (bad >= 0)
        z->bad_at = (long) z->received + bad;
    }
    z->sum_rx = lt_net_sum(z->sum_rx, buf->base, (size_t) nread);
    z->received += (size_t) nread;
    /* Keep the buffer a while: released in a batch from a timer. */
    ck_assert_int_lt(z->nheld, (int) LT_ARRAY_SIZE(z->held));
    z->held[z->nheld++] = *buf;
    if (z->nheld > z->max_held)
      z->max_held = z->nheld;
    if (!lure_is_active((lure_handle_t *) &z->release_timer))
      lure_timer_start(&z->release_timer, zc_release_all, 0, 0);
    return;
  }
  if (nread == 0) {
    z->zero_reads++;
    return;
  }
  ck_assert_ptr_null(buf->base);
  if (nread == LURE_EOF)
    z->eof++;
  else
    z->read_err = (int) nread;
  lure_close((lure_handle_t *) s, NULL);
  lure_close((lure_handle_t *) &z->p.client, NULL);
}

START_TEST(tcp_zerocopy_borrowed) {
  struct zc *z = calloc(1, sizeof(*z));
  int i;

  z->bad_at = -1;
  z->sum_tx = z->sum_rx = LT_NET_SUM_INIT;
  for (i = 0; i < ZC_SLOTS; i++) {
    z->slot[i] = malloc(ZC_CHUNK);
    ck_assert_ptr_nonnull(z->slot[i]);
  }
  lt_net_pair_open(&z->p, LT_NET_WATCHDOG_MS, "zero-copy send with borrowed reads");
  z->p.client.data = z;
  z->p.server.data = z;
  ck_assert_int_eq(lure_timer_init(&z->p.loop, &z->release_timer), 0);
  z->release_timer.data = z;
  ck_assert_int_eq(lure_read_start_borrowed((lure_stream_t *) &z->p.server,
                                            zc_read), 0);
  zc_pump(z);
  lt_run(&z->p.loop);
  zc_release_all(&z->release_timer);
  ck_assert_msg(z->write_err == 0, "zero-copy write: %s", lt_err(z->write_err));
  ck_assert_msg(!z->order_bad, "write callbacks out of order");
  ck_assert_uint_eq(z->cbs, z->writes);
  ck_assert_msg(z->read_err == 0, "borrowed read: %s", lt_err(z->read_err));
  ck_assert_int_eq(z->eof, 1);
  ck_assert_int_eq(z->zero_reads, 0);
  ck_assert_msg(z->bad_at < 0, "data differs at byte %ld", z->bad_at);
  ck_assert_uint_eq(z->received, ZC_TOTAL);
  ck_assert(z->sum_rx == z->sum_tx);
  ck_assert_msg(z->release_err == 0, "lure_buf_release: %s",
                lt_err(z->release_err));
  printf("tcp_zerocopy_borrowed: set %s: at most %d buffers borrowed at once\n",
         lt_set() ? lt_set() : "(none)", z->max_held);
  lt_loop_finish(&z->p.loop);
  for (i = 0; i < ZC_SLOTS; i++)
    free(z->slot[i]);
  free(z);
}
END_TEST

/* ---- one port, one listener per loop (LURE_TCP_REUSEPORT) ------------------ */

#define RP_CLIENTS 64

struct rp_loop {
  lure_loop_t loop;
  lure_tcp_t server;
  lure_tcp_t conn[RP_CLIENTS];
  int accepted;
};

static void rp_conn_cb(lure_stream_t *server, int status) {
  struct rp_loop *l = server->data;
  lure_tcp_t *c;

  ck_assert_msg(status == 0, "connection callback: %s", lt_err(status));
  ck_assert_int_lt(l->accepted, RP_CLIENTS);
  c = &l->conn[l->accepted];
  ck_assert_int_eq(lure_tcp_init(&l->loop, c), 0);
  ck_assert_int_eq(lure_accept(server, (lure_stream_t *) c), 0);
  l->accepted++;
}

/* Two loops listen on one port, each with its own socket and its own
 * accept (multishot on the ring); the kernel spreads 64 connections over
 * both (all 64 on one listener has a chance of 2^-63).  A third listener
 * without the flag is refused: EADDRINUSE, from listen as libuv does. */
START_TEST(tcp_reuseport_two_loops) {
  struct rp_loop *l = calloc(2, sizeof(*l));
  struct sockaddr_storage ss;
  lure_tcp_t plain;
  int fds[RP_CLIENTS];
  uint64_t start;
  int port = 0;
  int i;

  ck_assert_ptr_nonnull(l);
  for (i = 0; i < 2; i++) {
    lt_loop_init(&l[i].loop);
    ck_assert_int_eq(lure_tcp_init(&l[i].loop, &l[i].server), 0);
    l[i].server.data = &l[i];
    lt_net_loopback(AF_INET, port, &ss);
    ck_assert_int_eq(lure_tcp_bind(&l[i].server, (struct sockaddr *) &ss,
                                   LURE_TCP_REUSEPORT), 0);
    ck_assert_int_eq(lure_listen((lure_stream_t *) &l[i].server, RP_CLIENTS,
                                 rp_conn_cb), 0);
    if (port == 0)
      port = lt_net_tcp_port(&l[i].server);
  }
  ck_assert_int_eq(lure_tcp_init(&l[1].loop, &plain), 0);
  lt_net_loopback(AF_INET, port, &ss);
  ck_assert_int_eq(lure_tcp_bind(&plain, (struct sockaddr *) &ss, 0), 0);
  ck_assert_int_eq(lure_listen((lure_stream_t *) &plain, 4, rp_conn_cb),
                   LURE_EADDRINUSE);
  lure_close((lure_handle_t *) &plain, NULL);

  for (i = 0; i < RP_CLIENTS; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fds[i], 0);
    ck_assert_msg(connect(fds[i], (struct sockaddr *) &ss,
                          sizeof(struct sockaddr_in)) == 0,
                  "connect %d: %s", i, strerror(errno));
  }
  start = lure_hrtime();
  while (l[0].accepted + l[1].accepted < RP_CLIENTS) {
    ck_assert_msg(lure_hrtime() - start < 10000000000ull,
                  "accepted %d + %d of %d in 10 s", l[0].accepted,
                  l[1].accepted, RP_CLIENTS);
    lure_run(&l[0].loop, LURE_RUN_NOWAIT);
    lure_run(&l[1].loop, LURE_RUN_NOWAIT);
  }
  printf("tcp_reuseport_two_loops: set %s: loop 0 accepted %d, loop 1 %d\n",
         lt_set() ? lt_set() : "(none)", l[0].accepted, l[1].accepted);
  ck_assert_int_gt(l[0].accepted, 0);
  ck_assert_int_gt(l[1].accepted, 0);
  for (i = 0; i < RP_CLIENTS; i++)
    close(fds[i]);
  lt_loop_finish(&l[0].loop);
  lt_loop_finish(&l[1].loop);
  free(l);
}
END_TEST

/* ---- a burst of small writes in one callback ------------------------------------ */

/* 2000 writes of 13 bytes each, queued in one go (libuv's tcp_write_batch):
 * the bytes arrive whole and in order, every callback comes once, in
 * order, with status 0.  On the ring's socket path only the first few of
 * a tick leave by send(2); the rest queue behind one ring send and leave
 * in SENDMSGs of many buffers, so the write queue holds most of the burst
 * when lure_write() returns. */
#define WB_REQS 2000
#define WB_LEN 13

struct wb {
  struct lt_net_pair p;
  lure_write_t w[WB_REQS];
  unsigned char data[WB_REQS * WB_LEN];
  unsigned char rx[WB_REQS * WB_LEN];
  size_t got;
  unsigned cbs;
  int out_of_order;
  int bad_status;
  int eof;
  uint64_t tick_done; /* the loop's tick count at the last write callback */
};

static uint64_t wb_ticks(lure_loop_t *loop) {
  lure_loop_stats_t st;

  ck_assert_int_eq(lure_loop_stats(loop, &st), 0);
  return st.ticks;
}

static void wb_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct wb *b = h->data;

  (void) sz;
  buf->base = (char *) b->rx + b->got;
  buf->len = sizeof(b->rx) - b->got;
  if (buf->len == 0) {
    static char spare[64];
    buf->base = spare;
    buf->len = sizeof(spare);
  }
}

static void wb_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct wb *b = s->data;

  (void) buf;
  if (nread > 0) {
    ck_assert_uint_le(b->got + (size_t) nread, sizeof(b->rx));
    b->got += (size_t) nread;
    return;
  }
  if (nread == LURE_EOF) {
    b->eof = 1;
    lure_close((lure_handle_t *) s, NULL);
  }
}

static void wb_write_cb(lure_write_t *req, int status) {
  struct wb *b = req->data;

  if (status != 0)
    b->bad_status++;
  if (req != &b->w[b->cbs])
    b->out_of_order++;
  if (++b->cbs == WB_REQS)
    b->tick_done = wb_ticks(&b->p.loop);
  if (b->cbs == WB_REQS &&
      !lure_is_closing((lure_handle_t *) &b->p.client))
    lure_close((lure_handle_t *) &b->p.client, NULL);
}

START_TEST(tcp_write_burst) {
  struct wb *b = calloc(1, sizeof(*b));
  lure_buf_t buf;
  uint64_t tick0;
  size_t queued;
  unsigned i;

  ck_assert_ptr_nonnull(b);
  memcpy(b->data, lt_net_pat(7, 0), sizeof(b->data));
  lt_net_pair_open(&b->p, LT_NET_WATCHDOG_MS, "a burst of small writes");
  b->p.client.data = b;
  b->p.server.data = b;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &b->p.server, wb_alloc,
                                   wb_read), 0);
  for (i = 0; i < WB_REQS; i++) {
    b->w[i].data = b;
    buf = lure_buf_init((char *) b->data + i * WB_LEN, WB_LEN);
    ck_assert_int_eq(lure_write(&b->w[i], (lure_stream_t *) &b->p.client,
                                &buf, 1, wb_write_cb), 0);
  }
  queued = b->p.client.write_queue_size;
  ck_assert_msg(queued >= (size_t) (WB_REQS - 16) * WB_LEN,
                "set %s: %zu bytes queued after the burst, want at least "
                "%zu: more than 16 writes of one tick made one system call "
                "each", lt_set(), queued, (size_t) (WB_REQS - 16) * WB_LEN);
  /* Closed at once: the writes the tick held back still go out (libuv's
   * would have gone out inside uv_write()), none is cancelled. */
  if (_i == 1)
    lure_close((lure_handle_t *) &b->p.client, NULL);
  tick0 = wb_ticks(&b->p.loop);
  lt_run(&b->p.loop);
  ck_assert_uint_eq(b->cbs, WB_REQS);
  /* The held writes leave gathered, many requests per system call: the
   * whole burst (26 KB, which the socket takes) is written within a few
   * ticks, not one tick per ring SENDMSG of 64 or per send(2) of 16. */
  ck_assert_msg(b->tick_done - tick0 <= 6,
                "set %s: the burst took %llu ticks to write, want at most 6",
                lt_set(), (unsigned long long) (b->tick_done - tick0));
  ck_assert_int_eq(b->bad_status, 0);
  ck_assert_int_eq(b->out_of_order, 0);
  ck_assert_int_eq(b->eof, 1);
  ck_assert_uint_eq(b->got, sizeof(b->data));
  ck_assert(memcmp(b->rx, b->data, sizeof(b->data)) == 0);
  lt_loop_finish(&b->p.loop);
  free(b);
}
END_TEST

/* ---- streams warm up on readiness, then move to the ring -------------------- */

#define WU_ROUNDS 12
#define WU_MSG 1000

struct wu {
  struct lt_net_pair p;
  lure_write_t wr[WU_ROUNDS];
  lure_write_t echo[WU_ROUNDS];
  const char *exec[WU_ROUNDS];   /* the client's writes, at their callback */
  char sbuf[WU_MSG];             /* the server's copy of the message */
  size_t sgot;
  size_t cgot;
  int round;
  int bad;
  int err;
};

/* A connected pair whose loop has the given warm-up (-1: the set's). */
static void wu_pair_open(struct lt_net_pair *p, int warmup, const char *what) {
  lt_loop_stream_warmup = warmup;
  lt_net_pair_open(p, LT_NET_WATCHDOG_MS, what);
  lt_loop_stream_warmup = -1;
}

static void wu_alloc(lure_handle_t *h, size_t suggested, lure_buf_t *buf) {
  static char b[WU_MSG];

  (void) h;
  (void) suggested;
  *buf = lure_buf_init(b, sizeof(b));
}

static void wu_echo_cb(lure_write_t *req, int status) {
  struct wu *w = req->data;

  if (status != 0 && w->err == 0)
    w->err = status;
}

static void wu_client_write_cb(lure_write_t *req, int status) {
  struct wu *w = req->data;

  if (status != 0 && w->err == 0)
    w->err = status;
  w->exec[req - w->wr] = lure_req_executor((const lure_req_t *) req);
}

static void wu_send(struct wu *w) {
  lure_buf_t b = lure_buf_init((char *) lt_net_pat(7, (uint64_t) w->round *
                                                         WU_MSG),
                               WU_MSG);

  w->wr[w->round].data = w;
  ck_assert_int_eq(lure_write(&w->wr[w->round], (lure_stream_t *) &w->p.client,
                              &b, 1, wu_client_write_cb),
                   0);
}

/* The server gathers a whole message, then echoes it. */
static void wu_server_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct wu *w = s->data;
  lure_buf_t b;
  size_t take;

  if (n <= 0)
    return;
  take = (size_t) n;
  if (w->sgot + take > WU_MSG)
    take = WU_MSG - w->sgot;
  memcpy(w->sbuf + w->sgot, buf->base, take);
  w->sgot += take;
  if (w->sgot < WU_MSG)
    return;
  w->sgot = 0;
  b = lure_buf_init(w->sbuf, WU_MSG);
  w->echo[w->round].data = w;
  ck_assert_int_eq(lure_write(&w->echo[w->round], s, &b, 1, wu_echo_cb), 0);
}

/* The client checks the echo; a whole message sends the next one. */
static void wu_client_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct wu *w = s->data;

  if (n <= 0)
    return;
  if (lt_net_pat_check(7, (uint64_t) w->round * WU_MSG + w->cgot, buf->base,
                       (size_t) n) >= 0)
    w->bad = 1;
  w->cgot += (size_t) n;
  if (w->cgot < WU_MSG)
    return;
  w->cgot = 0;
  if (++w->round == WU_ROUNDS) {
    lure_stop(&w->p.loop);
    return;
  }
  wu_send(w);
}

/* WU_ROUNDS ping-pongs on a pair whose loop has the given warm-up (-1: the
 * set's); the executors of the client's writes go to w->exec. */
static struct wu *wu_run(int warmup) {
  struct wu *w = calloc(1, sizeof(*w));

  ck_assert_ptr_nonnull(w);
  wu_pair_open(&w->p, warmup, "warm-up ping-pong");
  w->p.client.data = w;
  w->p.server.data = w;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &w->p.server, wu_alloc,
                                   wu_server_read), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &w->p.client, wu_alloc,
                                   wu_client_read), 0);
  wu_send(w);
  lt_run(&w->p.loop);
  ck_assert_int_eq(w->round, WU_ROUNDS);
  ck_assert_msg(!w->bad, "an echo differs from what was sent");
  ck_assert_msg(w->err == 0, "a write failed: %s", lt_err(w->err));
  return w;
}

static void wu_finish(struct wu *w) {
  lt_loop_finish(&w->p.loop);
  free(w);
}

/* What the client's writes reported, as "e" (epoll) and "u" (io_uring). */
static void wu_trace(const struct wu *w, char *out) {
  int i;

  for (i = 0; i < WU_ROUNDS; i++) {
    ck_assert_ptr_nonnull(w->exec[i]);
    out[i] = strcmp(w->exec[i], "io_uring") == 0 ? 'u'
             : strcmp(w->exec[i], "epoll") == 0  ? 'e'
                                                 : '?';
  }
  out[WU_ROUNDS] = '\0';
}

/* Stopping a read leaves the loop nothing to report: one LURE_RUN_ONCE
 * tick after it still waits for its 20 ms timer and runs it, as libuv's
 * does (epoll never reports a watcher it no longer has).  On the ring the
 * stop cancels a receive (or, while the stream warms up, a poll), and the
 * CQEs of that cancel ended the wait: ONCE returned at once with nothing
 * run, 20 rounds of 20.  10 rounds with the set's warm-up, 10 on the ring
 * from the start. */
static void ors_read_cb(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  (void) s;
  (void) n;
  (void) buf;
}
START_TEST(tcp_once_after_read_stop) {
  struct lt_net_pair *p = malloc(sizeof(*p));
  lure_timer_t timer;
  int warmup;
  int round;

  ck_assert_ptr_nonnull(p);
  for (warmup = -1; warmup <= 0; warmup++) {
    wu_pair_open(p, warmup, "RUN_ONCE after read_stop");
    ck_assert_int_eq(lure_timer_init(&p->loop, &timer), 0);
    for (round = 0; round < 10; round++) {
      ck_assert_int_eq(lure_read_start((lure_stream_t *) &p->client,
                                       wu_alloc, ors_read_cb), 0);
      ck_assert_int_ge(lure_run(&p->loop, LURE_RUN_NOWAIT), 0);
      ck_assert_int_eq(lure_read_stop((lure_stream_t *) &p->client), 0);
      ck_assert_int_ge(lt_once_runs_timer(&p->loop, &timer, 20,
                                          "warm-up %d, round %d", warmup,
                                          round), 0);
    }
    lure_close((lure_handle_t *) &timer, NULL);
    lt_loop_finish(&p->loop);
  }
  free(p);
}
END_TEST

START_TEST(tcp_warmup_pingpong) {
  struct wu *w = wu_run(-1);
  char t[WU_ROUNDS + 1];
  int i;

  wu_trace(w, t);
  printf("tcp_warmup_pingpong: set %s: client writes %s\n", lt_set(), t);
  if (!lt_set_ring_path()) {
    ck_assert_msg(strchr(t, 'u') == NULL, "set %s: %s", lt_set(), t);
  } else if (!lt_streams_warm()) {
    ck_assert_msg(strchr(t, 'e') == NULL, "set %s, warm-up 0: %s", lt_set(),
                  t);
  } else {
    /* Each round is a write and a readiness event: by the fifth write the
     * stream has made 4 of them and moved, and it never moves back. */
    ck_assert_msg(t[0] == 'e', "set %s: the first write (of a fresh stream) "
                  "was not on readiness: %s", lt_set(), t);
    for (i = 4; i < WU_ROUNDS; i++)
      ck_assert_msg(t[i] == 'u', "set %s: write %d not on the ring: %s",
                    lt_set(), i + 1, t);
    for (i = 1; i < WU_ROUNDS; i++)
      ck_assert_msg(!(t[i - 1] == 'u' && t[i] == 'e'),
                    "set %s: back to readiness: %s", lt_set(), t);
  }
  wu_finish(w);
}
END_TEST

START_TEST(tcp_warmup_settings) {
  lure_loop_t loop;
  struct wu *w;
  char t[WU_ROUNDS + 1];

  /* Out of range: refused, and nothing changes. */
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_STREAM_WARMUP, 256u),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_STREAM_WARMUP, 255u),
                   0);
  lt_loop_finish(&loop);
  ck_assert_int_eq(lure_loop_configure(NULL, LURE_LOOP_STREAM_WARMUP, 0u),
                   LURE_EINVAL);

  /* 255: twelve round trips stay on readiness. */
  w = wu_run(255);
  wu_trace(w, t);
  ck_assert_msg(strchr(t, 'u') == NULL, "set %s, warm-up 255: %s", lt_set(),
                t);
  wu_finish(w);

  /* 0: on the ring from the first write, where the ring serves sockets. */
  w = wu_run(0);
  wu_trace(w, t);
  if (lt_set_ring_path())
    ck_assert_msg(strchr(t, 'e') == NULL, "set %s, warm-up 0: %s", lt_set(),
                  t);
  else
    ck_assert_msg(strchr(t, 'u') == NULL, "set %s, warm-up 0: %s", lt_set(),
                  t);
  wu_finish(w);
}
END_TEST

/* The move with writes queued: the client queues WM_WRITES writes at once
 * (far more than the socket takes); with a warm-up of 2 it moves in the
 * pending phase that runs the first write's callback, with the rest of
 * the queue (the head partly written) handed to the ring.  The server
 * checks every byte. */
#define WM_WRITES 256
#define WM_CHUNK ((size_t) 64 * 1024)

struct wm {
  struct lt_net_pair p;
  lure_write_t wr[WM_WRITES];
  const char *exec[WM_WRITES];
  int cbs;
  int order_bad;
  int err;
  uint64_t got;
  long bad_at;
};

static void wm_write_cb(lure_write_t *req, int status) {
  struct wm *m = req->data;
  int i = (int) (req - m->wr);

  if (i != m->cbs)
    m->order_bad = 1;
  m->cbs++;
  if (status != 0 && m->err == 0)
    m->err = status;
  m->exec[i] = lure_req_executor((const lure_req_t *) req);
  if (m->cbs == WM_WRITES && m->got == (uint64_t) WM_WRITES * WM_CHUNK)
    lure_stop(&m->p.loop);
}

static void wm_alloc(lure_handle_t *h, size_t suggested, lure_buf_t *buf) {
  static char b[65536];

  (void) h;
  (void) suggested;
  *buf = lure_buf_init(b, sizeof(b));
}

static void wm_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct wm *m = s->data;
  long at;

  if (n <= 0)
    return;
  at = lt_net_pat_check(11, m->got, buf->base, (size_t) n);
  if (at >= 0 && m->bad_at < 0)
    m->bad_at = (long) m->got + at;
  m->got += (uint64_t) n;
  if (m->cbs == WM_WRITES && m->got == (uint64_t) WM_WRITES * WM_CHUNK)
    lure_stop(&m->p.loop);
}

START_TEST(tcp_warmup_moves_while_writing) {
  struct wm *m = calloc(1, sizeof(*m));
  lure_stream_t *cs;
  int first_ring = -1;
  int i;

  ck_assert_ptr_nonnull(m);
  m->bad_at = -1;
  wu_pair_open(&m->p, 2, "move while writing");
  cs = (lure_stream_t *) &m->p.client;
  m->p.server.data = m;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &m->p.server, wm_alloc,
                                   wm_read), 0);
  for (i = 0; i < WM_WRITES; i++) {
    lure_buf_t b = lure_buf_init(
        (char *) lt_net_pat(11, (uint64_t) i * WM_CHUNK), WM_CHUNK);

    m->wr[i].data = m;
    ck_assert_int_eq(lure_write(&m->wr[i], cs, &b, 1, wm_write_cb), 0);
  }
  lt_run(&m->p.loop);
  ck_assert_msg(m->got == (uint64_t) WM_WRITES * WM_CHUNK,
                "the server got %llu of %llu bytes", (unsigned long long) m->got,
                (unsigned long long) WM_WRITES * WM_CHUNK);
  ck_assert_msg(m->bad_at < 0, "byte %ld differs from what was sent",
                m->bad_at);
  ck_assert_int_eq(m->cbs, WM_WRITES);
  ck_assert_msg(!m->order_bad, "write callbacks out of order");
  ck_assert_msg(m->err == 0, "a write failed: %s", lt_err(m->err));
  for (i = 0; i < WM_WRITES; i++)
    if (first_ring < 0 && strcmp(m->exec[i], "io_uring") == 0)
      first_ring = i;
  printf("tcp_warmup_moves_while_writing: set %s: first write on the ring: "
         "%d of %d\n", lt_set(), first_ring + 1, WM_WRITES);
  if (lt_set_ring_path()) {
    ck_assert_msg(strcmp(m->exec[0], "epoll") == 0,
                  "set %s: the first write was served by %s", lt_set(),
                  m->exec[0]);
    ck_assert_msg(first_ring > 0 && first_ring < WM_WRITES / 2,
                  "set %s: the stream did not move while writing (first "
                  "write on the ring: %d)", lt_set(), first_ring);
    for (i = first_ring; i < WM_WRITES; i++)
      ck_assert_msg(strcmp(m->exec[i], "io_uring") == 0,
                    "set %s: write %d served by %s after the move", lt_set(),
                    i, m->exec[i]);
  } else {
    ck_assert_int_eq(first_ring, -1);
  }
  lt_loop_finish(&m->p.loop);
  free(m);
}
END_TEST

/* lure_write_zc() on a stream still on readiness asks for the ring: with a
 * warm-up of 255 (never reached here), the stream moves in the pending
 * phase after the call, so the next write is the ring's. */
struct wz {
  struct lt_net_pair p;
  lure_write_t wr[2];
  const char *exec[2];
  int cbs;
  int err;
  uint64_t got;
};

static void wz_write_cb(lure_write_t *req, int status) {
  struct wz *z = req->data;

  z->exec[req - z->wr] = lure_req_executor((const lure_req_t *) req);
  z->cbs++;
  if (status != 0 && z->err == 0)
    z->err = status;
}

static void wz_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct wz *z = s->data;

  (void) buf;
  if (n > 0)
    z->got += (uint64_t) n;
}

START_TEST(tcp_warmup_zc_asks_for_ring) {
  struct wz *z = calloc(1, sizeof(*z));
  lure_stream_t *cs;
  lure_buf_t b = lure_buf_init((char *) lt_net_pat(3, 0), 4096);
  int i;

  ck_assert_ptr_nonnull(z);
  wu_pair_open(&z->p, 255, "zero copy asks for the ring");
  cs = (lure_stream_t *) &z->p.client;
  z->p.server.data = z;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &z->p.server, wm_alloc,
                                   wz_read), 0);
  for (i = 0; i < 2; i++) {
    z->wr[i].data = z;
    ck_assert_int_eq(lure_write_zc(&z->wr[i], cs, &b, 1, wz_write_cb), 0);
    while (z->cbs == i)
      ck_assert_int_ge(lure_run(&z->p.loop, LURE_RUN_ONCE), 0);
  }
  while (z->got < 2 * 4096)
    ck_assert_int_ge(lure_run(&z->p.loop, LURE_RUN_ONCE), 0);
  ck_assert_msg(z->err == 0, "a write failed: %s", lt_err(z->err));
  printf("tcp_warmup_zc_asks_for_ring: set %s: %s, then %s\n", lt_set(),
         z->exec[0], z->exec[1]);
  ck_assert_str_eq(z->exec[0], "epoll");
  ck_assert_str_eq(z->exec[1], lt_set_ring_path() ? "io_uring" : "epoll");
  lt_loop_finish(&z->p.loop);
  free(z);
}
END_TEST

LT_SUITE(tcp) {
  Suite *s = suite_create("tcp");
  TCase *tc;

  tc = tcase_create("echo");
  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_loop_test(tc, tcp_echo_chunks, 0, (int) LT_ARRAY_SIZE(echo_chunks));
  tcase_add_test(tc, tcp_echo_ipv6_split);
  suite_add_tcase(s, tc);

  tc = tcase_create("scale");
  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_test(tc, tcp_many_connections);
  tcase_add_test(tc, tcp_bufring_shared);
  tcase_add_test(tc, tcp_reuseport_two_loops);
  suite_add_tcase(s, tc);

  tc = tcase_create("ends");
  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_test(tc, tcp_half_close);
  tcase_add_loop_test(tc, tcp_write_burst, 0, 2);
  tcase_add_loop_test(tc, tcp_shutdown_then_peer_eof, 0, 2);
  tcase_add_test(tc, tcp_refused);
  tcase_add_test(tc, tcp_refused_queued_write);
  tcase_add_test(tc, tcp_connect_error_sync);
  tcase_add_test(tc, tcp_close_while_connecting);
  tcase_add_test(tc, tcp_reset_by_peer);
  tcase_add_test(tc, tcp_reset_while_writing);
  tcase_add_test(tc, tcp_accept_later);
  tcase_add_test(tc, tcp_close_server_with_queued);
  tcase_add_test(tc, tcp_open_connected_socket);
  tcase_add_test(tc, tcp_listener_gone_with_process);
  tcase_add_test(tc, tcp_close_fin_at_once);
  tcase_add_test(tc, tcp_listener_closed_by_other);
  suite_add_tcase(s, tc);

  tc = tcase_create("warmup");
  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_test(tc, tcp_warmup_pingpong);
  tcase_add_test(tc, tcp_warmup_settings);
  tcase_add_test(tc, tcp_warmup_moves_while_writing);
  tcase_add_test(tc, tcp_warmup_zc_asks_for_ring);
  tcase_add_test(tc, tcp_once_after_read_stop);
  suite_add_tcase(s, tc);

  tc = tcase_create("zerocopy");
  /* Zero copy is the ring's: streams on the ring from the start. */
  tcase_add_checked_fixture(tc, lt_streams_ring_at_once, lt_streams_default);
  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_test(tc, tcp_zerocopy_borrowed);
  suite_add_tcase(s, tc);
  return s;
}
