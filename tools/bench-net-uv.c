/*
 * bench-net-uv.c - the net suite: a client in this process, an echo (or
 * discard) server in a forked one, both on the library and executor
 * measured.  Written once against libuv's API and built twice (see
 * bench-side.h): against libuv, and against lure's uv.h.
 *
 * Ping-pong: each of --conns connections sends a --size byte message, the
 * server echoes it, and the connection sends the next one once the whole
 * echo is in and its write callback has run (a uv_write_t is never
 * reused before its callback).  Latency runs from the uv_write() call to
 * the read callback that completes the echo; ops are round trips.
 *
 * Bulk: each connection keeps --depth writes of --size bytes in flight,
 * back to back; the server reads and discards.  Latency runs from the
 * uv_write() call to its callback; ops are writes.
 *
 * UDP ping-pong (--udp): the server has one UDP socket and sends every
 * datagram back to its sender; the client has --conns sockets ("flows"),
 * each connected to the server and keeping one --size byte datagram in
 * flight, the next one sent once the echo is in and the send callback has
 * run.  Latency runs from the uv_udp_send() call to the receive callback
 * of the echo; ops are round trips.  Each echo must carry its flow's number
 * and the sequence number due (bench-net.c); one that does not, or does not
 * come back within BENCH_UDP_LOSS_MS, fails the run.
 *
 * On lure, every write must have been served by the executor named
 * ("io_uring": the ring's SEND/RECV path; "epoll": readiness and send/recv
 * syscalls), as lure_req_executor() reports it; otherwise the run fails.
 * UDP sends are checked the same way.  libuv says nothing of how a write
 * was served, and keeps no wait-point counter: its rows have no executor
 * check and no syscalls per op.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "lure-bench.h"
#include "bench-side.h"

#define NET_RBUF 65536
#define NET_STALL_S 10 /* a run with no progress this long has failed */
#define UDP_WATCH_MS 250 /* how often the UDP client looks for lost datagrams */

static int udp_net(const struct bench_params *p, const char *executor,
                   struct bench_result *r);

/* ---- the server (in the forked process) ---------------------------------- */

struct srv_slot {               /* one echo in flight */
  uv_write_t req;
  struct srv_slot *next;        /* the connection's free list */
  size_t cap;
  char *buf;
};

struct srv_conn {
  uv_tcp_t tcp;
  struct srv_ctx *s;
  struct srv_slot *free;
};

struct srv_ctx {
  const struct bench_params *p;
  uv_loop_t *loop;
  uv_tcp_t listener;
  unsigned accepted;
  uint64_t bytes;
  char *rbuf;
  struct bench_net_report *rep;
};

static void srv_close_walk(uv_handle_t *h, void *arg);

static void srv_error(struct srv_ctx *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void srv_error(struct srv_ctx *s, const char *fmt, ...) {
  va_list ap;

  if (s->rep->error[0] == '\0') {
    va_start(ap, fmt);
    vsnprintf(s->rep->error, sizeof(s->rep->error), fmt, ap);
    va_end(ap);
  }
  uv_walk(s->loop, srv_close_walk, s);
}

static void srv_conn_closed(uv_handle_t *h) {
  struct srv_conn *k = h->data;
  struct srv_slot *w;

  while ((w = k->free) != NULL) {
    k->free = w->next;
    free(w->buf);
    free(w);
  }
  free(k);
}

static void srv_close_walk(uv_handle_t *h, void *arg) {
  struct srv_ctx *s = arg;

  if (uv_is_closing(h))
    return;
  uv_close(h, h == (uv_handle_t *) &s->listener ? NULL : srv_conn_closed);
}

static void srv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct srv_conn *k = h->data;

  (void) suggested;
  buf->base = k->s->rbuf;
  buf->len = NET_RBUF;
}

static void srv_written(uv_write_t *req, int status) {
  struct srv_slot *w = (struct srv_slot *) req;
  struct srv_conn *k = req->data;

  w->next = k->free;
  k->free = w;
  if (status < 0 && status != UV_ECANCELED)
    srv_error(k->s, "write: %s", uv_strerror(status));
}

static void srv_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  struct srv_conn *k = st->data;
  struct srv_ctx *s = k->s;
  struct srv_slot *w;
  uv_buf_t out;
  int rc;

  if (nread < 0) {
    if (nread != UV_EOF)
      srv_error(s, "read: %s", uv_strerror((int) nread));
    else if (!uv_is_closing((uv_handle_t *) st))
      uv_close((uv_handle_t *) st, srv_conn_closed);
    return;
  }
  s->bytes += (uint64_t) nread;
  if (nread == 0 || s->p->bulk)
    return;
  /* Echo a copy: the read buffer is the next read's too. */
  w = k->free;
  if (w != NULL) {
    k->free = w->next;
  } else {
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
      srv_error(s, "out of memory");
      return;
    }
  }
  if (w->cap < (size_t) nread) {
    char *nb = realloc(w->buf, (size_t) nread);

    if (nb == NULL) {
      free(w->buf);
      free(w);
      srv_error(s, "out of memory");
      return;
    }
    w->buf = nb;
    w->cap = (size_t) nread;
  }
  memcpy(w->buf, buf->base, (size_t) nread);
  out = uv_buf_init(w->buf, (unsigned int) nread);
  w->req.data = k;
  rc = uv_write(&w->req, st, &out, 1, srv_written);
  if (rc != 0) {
    w->next = k->free;
    k->free = w;
    srv_error(s, API "_write: %s", uv_strerror(rc));
  }
}

static void srv_connection(uv_stream_t *server, int status) {
  struct srv_ctx *s = server->data;
  struct srv_conn *k;
  int rc;

  if (status < 0) {
    srv_error(s, "accept: %s", uv_strerror(status));
    return;
  }
  k = calloc(1, sizeof(*k));
  if (k == NULL) {
    srv_error(s, "out of memory");
    return;
  }
  k->s = s;
  uv_tcp_init(s->loop, &k->tcp);
  k->tcp.data = k;
  rc = uv_accept(server, (uv_stream_t *) &k->tcp);
  if (rc == 0)
    rc = uv_tcp_nodelay(&k->tcp, 1);
  if (rc == 0)
    rc = uv_read_start((uv_stream_t *) &k->tcp, srv_alloc, srv_read);
  if (rc != 0) {
    uv_close((uv_handle_t *) &k->tcp, srv_conn_closed);
    srv_error(s, "accept: %s", uv_strerror(rc));
    return;
  }
  /* Every connection is in: the loop ends when they have all closed. */
  if (++s->accepted == s->p->conns)
    uv_close((uv_handle_t *) &s->listener, NULL);
}

static int net_serve(const struct bench_params *p, const char *executor,
                     int fd, struct bench_net_report *rep) {
  struct srv_ctx s;
  struct bench_result r;
  struct sockaddr_in addr;
  uv_loop_t loop;
  bench_stats_t s0;
  int namelen = sizeof(addr);
  int rc;

  memset(&s, 0, sizeof(s));
  memset(&r, 0, sizeof(r));
  s.p = p;
  s.rep = rep;
  s.loop = &loop;
  s.rbuf = malloc(NET_RBUF);
  if (s.rbuf == NULL) {
    snprintf(rep->error, sizeof(rep->error), "out of memory");
    return 1;
  }
  if (BENCH_SIDE(open)(&loop, executor, &r) != 0) {
    snprintf(rep->error, sizeof(rep->error), "%s", r.error);
    return 1;
  }
  uv_tcp_init(&loop, &s.listener);
  s.listener.data = &s;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  rc = uv_tcp_bind(&s.listener, (const struct sockaddr *) &addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *) &s.listener, 1024, srv_connection);
  if (rc == 0)
    rc = uv_tcp_getsockname(&s.listener, (struct sockaddr *) &addr,
                            &namelen);
  if (rc != 0) {
    snprintf(rep->error, sizeof(rep->error), "listen on 127.0.0.1: %s",
             uv_strerror(rc));
    uv_close((uv_handle_t *) &s.listener, NULL);
    BENCH_SIDE(close)(&loop);
    return 1;
  }
  bench_stats_take(&loop, &s0);
  bench_net_ready(fd, ntohs(addr.sin_port));
  uv_run(&loop, UV_RUN_DEFAULT);
  bench_wait_calls_since(&loop, &s0, &rep->wait_calls, &rep->has_wait_calls);
  rep->bytes = s.bytes;
  rep->ops = s.bytes / p->msg_size;
  BENCH_SIDE(close)(&loop);
  free(s.rbuf);
  return rep->error[0] ? 1 : 0;
}

/* ---- the client ---------------------------------------------------------- */

struct net_ctx;

struct net_write {              /* bulk: one write in flight */
  uv_write_t req;
  struct net_conn *k;
  uint64_t t;
};

struct net_conn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  struct net_ctx *c;
  /* ping-pong */
  uv_write_t wreq;
  uint64_t t;                   /* when the message went out */
  size_t got;                   /* bytes of its echo in */
  int writing;                  /* wreq's callback is due */
  int waiting;                  /* the echo is not all in */
  /* bulk */
  struct net_write *w;          /* [depth] */
  unsigned inflight;
  int done;                     /* sends no more */
};

struct net_ctx {
  struct bench_drive d;
  const struct bench_params *p;
  struct bench_result *r;
  uv_loop_t *loop;
  struct net_conn *conns;
  uv_timer_t watchdog;
  uint64_t seen;                /* progress at the watchdog's last look */
  unsigned stalled;             /* its looks without progress */
  unsigned connected;
  unsigned done;
  int finished;
  char *msg;
  char *rbuf;
  const char *want;             /* the executor every write must name */
  bench_stats_t s0;
};

static void net_close_all(struct net_ctx *c) {
  unsigned i;

  for (i = 0; i < c->p->conns; i++)
    if (c->conns[i].c != NULL && !uv_is_closing((uv_handle_t *) &c->conns[i].tcp))
      uv_close((uv_handle_t *) &c->conns[i].tcp, NULL);
  if (!uv_is_closing((uv_handle_t *) &c->watchdog))
    uv_close((uv_handle_t *) &c->watchdog, NULL);
}

static void net_fail(struct net_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void net_fail(struct net_ctx *c, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  bench_set_errorv(c->r, fmt, ap);
  va_end(ap);
  c->d.stop = 1;
  net_close_all(c);
}

/* The measured part is over when the last connection stops sending. */
static void net_conn_done(struct net_conn *k) {
  struct net_ctx *c = k->c;

  if (k->done)
    return;
  k->done = 1;
  if (++c->done < c->p->conns || c->finished)
    return;
  c->finished = 1;
  bench_drive_finish(&c->d);
  bench_wait_calls_since(c->loop, &c->s0, &c->r->wait_calls,
                         &c->r->has_wait_calls);
  net_close_all(c);
}

static void net_check_executor(struct net_ctx *c, const uv_write_t *req) {
  if (!bench_served_by(req, c->want, c->r))
    c->d.stop = 1;
}

static void net_started(struct net_ctx *c);

/* ---- ping-pong ---- */

static void pp_written(uv_write_t *req, int status);

static void pp_send(struct net_conn *k) {
  struct net_ctx *c = k->c;
  uint64_t now = bench_now_ns();
  uv_buf_t buf;
  int rc;

  if (!bench_drive_may_issue(&c->d, now)) {
    net_conn_done(k);
    return;
  }
  c->d.issued++;
  k->t = now;
  k->got = 0;
  k->waiting = 1;
  k->writing = 1;
  buf = uv_buf_init(c->msg, (unsigned int) c->p->msg_size);
  rc = uv_write(&k->wreq, (uv_stream_t *) &k->tcp, &buf, 1, pp_written);
  if (rc != 0) {
    k->writing = 0;
    net_fail(c, API "_write: %s", uv_strerror(rc));
  }
}

static void pp_written(uv_write_t *req, int status) {
  struct net_conn *k = req->data;
  struct net_ctx *c = k->c;

  k->writing = 0;
  if (status < 0) {
    if (!c->d.stop)
      net_fail(c, "write: %s", uv_strerror(status));
    return;
  }
  net_check_executor(c, req);
  if (!k->waiting && !c->d.stop)
    pp_send(k);
  else if (c->d.stop && !k->waiting)
    net_conn_done(k);
}

static void pp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct net_conn *k = h->data;

  (void) suggested;
  buf->base = k->c->rbuf;
  buf->len = NET_RBUF;
}

static void pp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  struct net_conn *k = st->data;
  struct net_ctx *c = k->c;
  uint64_t now;

  (void) buf;
  if (nread == 0)
    return;
  if (nread < 0) {
    if (!c->finished && !c->d.stop)
      net_fail(c, "read: %s", nread == UV_EOF ? "the server hung up"
                                              : uv_strerror((int) nread));
    return;
  }
  k->got += (size_t) nread;
  if (!k->waiting || k->got > c->p->msg_size) {
    net_fail(c, "the server sent more than the echo");
    return;
  }
  if (k->got < c->p->msg_size)
    return;
  now = bench_now_ns();
  k->waiting = 0;
  if (bench_drive_complete(&c->d, k->t, now))
    bench_stats_take(c->loop, &c->s0);
  if (c->d.stop)
    net_conn_done(k);
  else if (!k->writing)
    pp_send(k);
}

/* ---- bulk ---- */

static void bulk_written(uv_write_t *req, int status);

static void bulk_issue(struct net_write *w) {
  struct net_conn *k = w->k;
  struct net_ctx *c = k->c;
  uv_buf_t buf;
  int rc;

  c->d.issued++;
  k->inflight++;
  w->t = bench_now_ns();
  w->req.data = w;
  buf = uv_buf_init(c->msg, (unsigned int) c->p->msg_size);
  rc = uv_write(&w->req, (uv_stream_t *) &k->tcp, &buf, 1, bulk_written);
  if (rc != 0) {
    k->inflight--;
    net_fail(c, API "_write: %s", uv_strerror(rc));
  }
}

static void bulk_written(uv_write_t *req, int status) {
  struct net_write *w = req->data;
  struct net_conn *k = w->k;
  struct net_ctx *c = k->c;
  uint64_t now = bench_now_ns();

  k->inflight--;
  if (status < 0) {
    if (!c->d.stop)
      net_fail(c, "write: %s", uv_strerror(status));
    return;
  }
  net_check_executor(c, req);
  if (bench_drive_complete(&c->d, w->t, now))
    bench_stats_take(c->loop, &c->s0);
  if (bench_drive_may_issue(&c->d, now))
    bulk_issue(w);
  else if (k->inflight == 0)
    net_conn_done(k);
}

/* ---- setting up ---- */

static void net_watchdog(uv_timer_t *t) {
  struct net_ctx *c = t->data;

  uint64_t progress = c->d.completed + c->connected;

  if (progress != c->seen) {
    c->seen = progress;
    c->stalled = 0;
  } else if (++c->stalled >= NET_STALL_S) {
    net_fail(c, "no progress for %d s (%u of %u connected, %llu of %llu "
             "messages answered)", NET_STALL_S, c->connected, c->p->conns,
             (unsigned long long) c->d.completed,
             (unsigned long long) c->d.issued);
  }
}

static void net_connected(uv_connect_t *req, int status) {
  struct net_conn *k = req->data;
  struct net_ctx *c = k->c;
  int rc;

  if (status < 0) {
    if (!c->d.stop)
      net_fail(c, "connect: %s", uv_strerror(status));
    return;
  }
  rc = uv_tcp_nodelay(&k->tcp, 1);
  if (rc == 0 && !c->p->bulk)
    rc = uv_read_start((uv_stream_t *) &k->tcp, pp_alloc, pp_read);
  if (rc != 0) {
    net_fail(c, "%s", uv_strerror(rc));
    return;
  }
  if (++c->connected == c->p->conns && !c->d.stop)
    net_started(c);
}

/* Every connection is up: start the clock and the traffic. */
static void net_started(struct net_ctx *c) {
  struct net_conn *k;
  unsigned i;
  unsigned j;

  bench_drive_init(&c->d, c->p, c->r, bench_now_ns());
  bench_stats_take(c->loop, &c->s0);
  for (i = 0; i < c->p->conns && !c->d.stop; i++) {
    k = &c->conns[i];
    if (!c->p->bulk) {
      pp_send(k);
      continue;
    }
    for (j = 0; j < c->p->depth && bench_drive_may_issue(&c->d, bench_now_ns());
         j++)
      bulk_issue(&k->w[j]);
    if (k->inflight == 0)
      net_conn_done(k);
  }
}

int BENCH_SIDE(net)(const struct bench_params *p, const char *executor,
                    struct bench_result *r) {
  struct bench_net_server srv;
  struct net_ctx c;
  struct sockaddr_in addr;
  uv_loop_t loop;
  struct net_conn *k;
  unsigned i;
  unsigned j;
  int rc;

  if (p->udp)
    return udp_net(p, executor, r);
  memset(&c, 0, sizeof(c));
  c.p = p;
  c.r = r;
  c.d.p = p;
  c.d.r = r;
  c.loop = &loop;
  c.want = executor;
  c.conns = calloc(p->conns, sizeof(*c.conns));
  c.msg = malloc(p->msg_size);
  c.rbuf = malloc(NET_RBUF);
  if (c.conns == NULL || c.msg == NULL || c.rbuf == NULL) {
    bench_set_error(r, "out of memory");
    goto out;
  }
  for (i = 0; i < p->msg_size; i++)
    c.msg[i] = (char) ('a' + i % 26);
  if (p->bulk)
    for (i = 0; i < p->conns; i++) {
      c.conns[i].w = calloc(p->depth, sizeof(*c.conns[i].w));
      if (c.conns[i].w == NULL) {
        bench_set_error(r, "out of memory");
        goto out;
      }
      for (j = 0; j < p->depth; j++)
        c.conns[i].w[j].k = &c.conns[i];
    }
  if (bench_net_start(p, executor, net_serve, &srv, r) != 0)
    goto out;
  if (BENCH_SIDE(open)(&loop, executor, r) != 0) {
    bench_net_finish(&srv, r, 1);
    goto out;
  }
  uv_timer_init(&loop, &c.watchdog);
  c.watchdog.data = &c;
  uv_timer_start(&c.watchdog, net_watchdog, 1000, 1000);
  uv_ip4_addr("127.0.0.1", srv.port, &addr);
  for (i = 0; i < p->conns; i++) {
    k = &c.conns[i];
    k->c = &c;
    uv_tcp_init(&loop, &k->tcp);
    k->tcp.data = k;
    k->creq.data = k;
    k->wreq.data = k;
    rc = uv_tcp_connect(&k->creq, &k->tcp, (const struct sockaddr *) &addr,
                        net_connected);
    if (rc != 0) {
      net_fail(&c, API "_tcp_connect: %s", uv_strerror(rc));
      break;
    }
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (!c.finished)
    bench_drive_finish(&c.d);
  BENCH_SIDE(close)(&loop);
  bench_net_finish(&srv, r, r->error[0] != '\0');
  if (r->mismatches != 0)
    bench_set_error(r, "lure served %llu write(s) with %s instead of %s",
                    (unsigned long long) r->mismatches, r->mismatch_name,
                    executor);

out:
  if (c.conns != NULL)
    for (i = 0; i < p->conns; i++)
      free(c.conns[i].w);
  free(c.conns);
  free(c.msg);
  free(c.rbuf);
  return r->error[0] ? -1 : 0;
}

/* ---- UDP ping-pong: the server (in the forked process) ------------------- */

struct usrv_slot {              /* one echo in flight */
  uv_udp_send_t req;
  struct usrv_slot *next;       /* the free list */
  char *buf;                    /* msg_size bytes */
};

struct usrv_ctx {
  const struct bench_params *p;
  uv_loop_t *loop;
  uv_udp_t udp;
  unsigned byes;                /* flows that are done */
  uint64_t echoed;
  uint64_t bytes;
  char *rbuf;
  struct usrv_slot *free;
  struct bench_net_report *rep;
};

static void usrv_error(struct usrv_ctx *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void usrv_error(struct usrv_ctx *s, const char *fmt, ...) {
  va_list ap;

  if (s->rep->error[0] == '\0') {
    va_start(ap, fmt);
    vsnprintf(s->rep->error, sizeof(s->rep->error), fmt, ap);
    va_end(ap);
  }
  if (!uv_is_closing((uv_handle_t *) &s->udp))
    uv_close((uv_handle_t *) &s->udp, NULL);
}

static void usrv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct usrv_ctx *s = h->data;

  (void) suggested;
  buf->base = s->rbuf;
  buf->len = NET_RBUF;
}

static void usrv_sent(uv_udp_send_t *req, int status) {
  struct usrv_slot *w = (struct usrv_slot *) req;
  struct usrv_ctx *s = req->data;

  w->next = s->free;
  s->free = w;
  if (status < 0 && status != UV_ECANCELED)
    usrv_error(s, "send: %s", uv_strerror(status));
}

static void usrv_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                      const struct sockaddr *addr, unsigned flags) {
  struct usrv_ctx *s = h->data;
  struct usrv_slot *w;
  uv_buf_t out;
  uint32_t flow;
  uint64_t seq;
  int rc;

  if (nread < 0) {
    usrv_error(s, "recv: %s", uv_strerror((int) nread));
    return;
  }
  if (addr == NULL)
    return; /* nothing more for now */
  if ((flags & UV_UDP_PARTIAL) || (size_t) nread < BENCH_UDP_HDR) {
    usrv_error(s, "a datagram of %zd bytes%s", nread,
               (flags & UV_UDP_PARTIAL) ? " or more" : "");
    return;
  }
  bench_udp_peek(buf->base, &flow, &seq);
  if (seq == BENCH_UDP_BYE) {
    /* Every flow is done: the loop ends once the socket has closed. */
    if (++s->byes == s->p->conns)
      uv_close((uv_handle_t *) &s->udp, NULL);
    return;
  }
  if ((size_t) nread != s->p->msg_size) {
    usrv_error(s, "a datagram of %zd bytes, not %zu", nread, s->p->msg_size);
    return;
  }
  s->bytes += (uint64_t) nread;
  /* Echo a copy: the receive buffer is the next datagram's too. */
  w = s->free;
  if (w != NULL) {
    s->free = w->next;
  } else {
    w = calloc(1, sizeof(*w));
    if (w == NULL || (w->buf = malloc(s->p->msg_size)) == NULL) {
      free(w);
      usrv_error(s, "out of memory");
      return;
    }
  }
  memcpy(w->buf, buf->base, (size_t) nread);
  out = uv_buf_init(w->buf, (unsigned int) nread);
  w->req.data = s;
  rc = uv_udp_send(&w->req, h, &out, 1, addr, usrv_sent);
  if (rc != 0) {
    w->next = s->free;
    s->free = w;
    usrv_error(s, API "_udp_send: %s", uv_strerror(rc));
    return;
  }
  s->echoed++;
}

static int udp_serve(const struct bench_params *p, const char *executor,
                     int fd, struct bench_net_report *rep) {
  struct usrv_ctx s;
  struct usrv_slot *w;
  struct bench_result r;
  struct sockaddr_in addr;
  uv_loop_t loop;
  bench_stats_t s0;
  int namelen = sizeof(addr);
  int rc;

  memset(&s, 0, sizeof(s));
  memset(&r, 0, sizeof(r));
  s.p = p;
  s.rep = rep;
  s.loop = &loop;
  s.rbuf = malloc(NET_RBUF);
  if (s.rbuf == NULL) {
    snprintf(rep->error, sizeof(rep->error), "out of memory");
    return 1;
  }
  if (BENCH_SIDE(open)(&loop, executor, &r) != 0) {
    snprintf(rep->error, sizeof(rep->error), "%s", r.error);
    free(s.rbuf);
    return 1;
  }
  uv_udp_init(&loop, &s.udp);
  s.udp.data = &s;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  rc = uv_udp_bind(&s.udp, (const struct sockaddr *) &addr, 0);
  if (rc == 0)
    rc = uv_udp_getsockname(&s.udp, (struct sockaddr *) &addr, &namelen);
  if (rc == 0)
    rc = uv_udp_recv_start(&s.udp, usrv_alloc, usrv_recv);
  if (rc != 0) {
    snprintf(rep->error, sizeof(rep->error), "UDP on 127.0.0.1: %s",
             uv_strerror(rc));
    uv_close((uv_handle_t *) &s.udp, NULL);
    BENCH_SIDE(close)(&loop);
    free(s.rbuf);
    return 1;
  }
  bench_stats_take(&loop, &s0);
  bench_net_ready(fd, ntohs(addr.sin_port));
  uv_run(&loop, UV_RUN_DEFAULT);
  bench_wait_calls_since(&loop, &s0, &rep->wait_calls, &rep->has_wait_calls);
  rep->bytes = s.bytes;
  rep->ops = s.echoed;
  BENCH_SIDE(close)(&loop);
  /* Every send has called back by now (the close cancels what is left). */
  while ((w = s.free) != NULL) {
    s.free = w->next;
    free(w->buf);
    free(w);
  }
  free(s.rbuf);
  return rep->error[0] ? 1 : 0;
}

/* ---- UDP ping-pong: the client ------------------------------------------- */

struct udp_ctx;

struct udp_flow {
  uv_udp_t udp;
  uv_udp_send_t sreq;
  struct udp_ctx *c;
  uint32_t id;
  uint64_t seq;                 /* the datagram in flight, or the next one */
  uint64_t t;                   /* when it (or the bye) went out */
  int sending;                  /* sreq's callback is due */
  int waiting;                  /* the echo is not in */
  int done;                     /* sends no more datagrams */
  int bye;                      /* sreq carries the bye */
  char *sbuf;                   /* msg_size bytes: what goes out */
  char *rbuf;                   /* msg_size bytes: the echo */
};

struct udp_ctx {
  struct bench_drive d;
  const struct bench_params *p;
  struct bench_result *r;
  uv_loop_t *loop;
  struct udp_flow *flows;
  uv_timer_t watchdog;
  unsigned done;
  unsigned byes;                /* bye sends called back */
  int finished;
  int port;                     /* the server's */
  char *bufs;
  const char *want;             /* the executors every send may name */
  bench_stats_t s0;
};

static void udp_close_all(struct udp_ctx *c) {
  unsigned i;

  for (i = 0; i < c->p->conns; i++)
    if (c->flows[i].c != NULL && !uv_is_closing((uv_handle_t *) &c->flows[i].udp))
      uv_close((uv_handle_t *) &c->flows[i].udp, NULL);
  if (!uv_is_closing((uv_handle_t *) &c->watchdog))
    uv_close((uv_handle_t *) &c->watchdog, NULL);
}

static void udp_fail(struct udp_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void udp_fail(struct udp_ctx *c, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  bench_set_errorv(c->r, fmt, ap);
  va_end(ap);
  c->d.stop = 1;
  udp_close_all(c);
}

/* As in the TCP mode: every send is served by the row's executor, the
 * loop's wait point (UDP handles take the ring's path on a ring loop). */
static void udp_check_executor(struct udp_ctx *c, const uv_udp_send_t *req) {
  if (!bench_served_by(req, c->want, c->r))
    c->d.stop = 1;
}

static void udp_sent(uv_udp_send_t *req, int status);

static void udp_send(struct udp_flow *f, size_t len) {
  uv_buf_t buf = uv_buf_init(f->sbuf, (unsigned int) len);
  int rc;

  f->sending = 1;
  /* Connected: no address. */
  rc = uv_udp_send(&f->sreq, &f->udp, &buf, 1, NULL, udp_sent);
  if (rc != 0) {
    f->sending = 0;
    udp_fail(f->c, API "_udp_send: %s", uv_strerror(rc));
  }
}

/* A flow is done: the measured part is over when the last one is.  Then it
 * says bye to the server, and closes once the bye has gone. */
static void udp_flow_done(struct udp_flow *f) {
  struct udp_ctx *c = f->c;

  if (f->done)
    return;
  f->done = 1;
  if (++c->done == c->p->conns && !c->finished) {
    c->finished = 1;
    bench_drive_finish(&c->d);
    bench_wait_calls_since(c->loop, &c->s0, &c->r->wait_calls,
                           &c->r->has_wait_calls);
  }
  if (c->r->error[0] != '\0')
    return; /* everything is closing */
  f->bye = 1;
  f->t = bench_now_ns();
  bench_udp_stamp(f->sbuf, f->id, BENCH_UDP_BYE);
  udp_send(f, BENCH_UDP_HDR);
}

static void udp_ping(struct udp_flow *f) {
  struct udp_ctx *c = f->c;
  uint64_t now = bench_now_ns();

  if (!bench_drive_may_issue(&c->d, now)) {
    udp_flow_done(f);
    return;
  }
  c->d.issued++;
  f->t = now;
  f->waiting = 1;
  bench_udp_stamp(f->sbuf, f->id, f->seq);
  udp_send(f, c->p->msg_size);
}

static void udp_sent(uv_udp_send_t *req, int status) {
  struct udp_flow *f = req->data;
  struct udp_ctx *c = f->c;

  f->sending = 0;
  if (status < 0) {
    if (!c->d.stop)
      udp_fail(c, "send: %s", uv_strerror(status));
    return;
  }
  udp_check_executor(c, req);
  if (f->bye) {
    uv_close((uv_handle_t *) &f->udp, NULL);
    if (++c->byes == c->p->conns)
      uv_close((uv_handle_t *) &c->watchdog, NULL);
    return;
  }
  if (!f->waiting && !c->d.stop)
    udp_ping(f);
  else if (c->d.stop && !f->waiting)
    udp_flow_done(f);
}

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct udp_flow *f = h->data;

  (void) suggested;
  /* Each flow its own buffer, so that no two receives ever share one. */
  buf->base = f->rbuf;
  buf->len = f->c->p->msg_size;
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags) {
  struct udp_flow *f = h->data;
  struct udp_ctx *c = f->c;
  char err[160];
  uint64_t now;

  if (nread < 0) {
    if (!c->d.stop)
      udp_fail(c, "recv on flow %u: %s", f->id, uv_strerror((int) nread));
    return;
  }
  if (addr == NULL)
    return; /* nothing more for now */
  if (!f->waiting) {
    udp_fail(c, "flow %u: a datagram of %zd bytes when no echo was due",
             f->id, nread);
    return;
  }
  if (bench_udp_check(buf->base, (size_t) nread,
                      (flags & UV_UDP_PARTIAL) != 0, c->p->msg_size, f->id,
                      f->seq, err, sizeof(err)) != 0) {
    udp_fail(c, "flow %u: %s", f->id, err);
    return;
  }
  now = bench_now_ns();
  f->waiting = 0;
  f->seq++;
  if (bench_drive_complete(&c->d, f->t, now))
    bench_stats_take(c->loop, &c->s0);
  if (f->sending)
    return; /* udp_sent() goes on */
  if (c->d.stop)
    udp_flow_done(f);
  else
    udp_ping(f);
}

/* A datagram or its echo lost ends the run, with what the kernel knows. */
static void udp_watchdog(uv_timer_t *t) {
  struct udp_ctx *c = t->data;
  uint64_t now = bench_now_ns();
  uint64_t limit = (uint64_t) BENCH_UDP_LOSS_MS * 1000000u;
  struct udp_flow *f;
  char msg[256];
  unsigned i;

  for (i = 0; i < c->p->conns; i++) {
    f = &c->flows[i];
    if ((!f->sending && !f->waiting) || now - f->t < limit)
      continue;
    if (f->sending)
      snprintf(msg, sizeof(msg), "flow %u: the send of %s did not call back "
               "within %d ms", f->id, f->bye ? "its bye" : "a datagram",
               BENCH_UDP_LOSS_MS);
    else
      snprintf(msg, sizeof(msg), "flow %u: no echo of datagram %llu within "
               "%d ms: lost", f->id, (unsigned long long) f->seq,
               BENCH_UDP_LOSS_MS);
    bench_udp_explain_loss(c->port, msg, sizeof(msg));
    udp_fail(c, "%s", msg);
    return;
  }
}

static int udp_net(const struct bench_params *p, const char *executor,
                   struct bench_result *r) {
  struct bench_net_server srv;
  struct udp_ctx c;
  struct sockaddr_in local;
  struct sockaddr_in addr;
  uv_loop_t loop;
  struct udp_flow *f;
  unsigned i;
  size_t j;
  int rc;

  memset(&c, 0, sizeof(c));
  c.p = p;
  c.r = r;
  c.d.p = p;
  c.d.r = r;
  c.loop = &loop;
  c.flows = calloc(p->conns, sizeof(*c.flows));
  c.bufs = malloc(2 * p->msg_size * p->conns);
  if (c.flows == NULL || c.bufs == NULL) {
    bench_set_error(r, "out of memory");
    goto out;
  }
  for (i = 0; i < p->conns; i++) {
    f = &c.flows[i];
    f->id = i;
    f->sbuf = c.bufs + 2 * p->msg_size * i;
    f->rbuf = f->sbuf + p->msg_size;
    for (j = BENCH_UDP_HDR; j < p->msg_size; j++)
      f->sbuf[j] = (char) ('a' + j % 26);
  }
  if (bench_net_start(p, executor, udp_serve, &srv, r) != 0)
    goto out;
  if (BENCH_SIDE(open)(&loop, executor, r) != 0) {
    bench_net_finish(&srv, r, 1);
    goto out;
  }
#ifdef LURE_UV_H
  /* bench_lure_open() made the wait point the row's executor. */
  c.want = lure_loop_backend(&loop);
#else
  c.want = executor;
#endif
  c.port = srv.port;
  uv_timer_init(&loop, &c.watchdog);
  c.watchdog.data = &c;
  uv_timer_start(&c.watchdog, udp_watchdog, UDP_WATCH_MS, UDP_WATCH_MS);
  uv_ip4_addr("127.0.0.1", 0, &local);
  uv_ip4_addr("127.0.0.1", srv.port, &addr);
  for (i = 0; i < p->conns; i++) {
    f = &c.flows[i];
    f->c = &c;
    uv_udp_init(&loop, &f->udp);
    f->udp.data = f;
    f->sreq.data = f;
    rc = uv_udp_bind(&f->udp, (const struct sockaddr *) &local, 0);
    if (rc == 0)
      rc = uv_udp_connect(&f->udp, (const struct sockaddr *) &addr);
    if (rc == 0)
      rc = uv_udp_recv_start(&f->udp, udp_alloc, udp_recv);
    if (rc != 0) {
      udp_fail(&c, "UDP flow %u: %s", i, uv_strerror(rc));
      break;
    }
  }
  if (r->error[0] == '\0') {
    /* Every flow is ready: start the clock and the traffic. */
    bench_drive_init(&c.d, p, r, bench_now_ns());
    bench_stats_take(&loop, &c.s0);
    for (i = 0; i < p->conns && !c.d.stop; i++)
      udp_ping(&c.flows[i]);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (!c.finished)
    bench_drive_finish(&c.d);
  BENCH_SIDE(close)(&loop);
  bench_net_finish(&srv, r, r->error[0] != '\0');
  if (r->mismatches != 0)
    bench_set_error(r, "lure served %llu send(s) with %s instead of %s",
                    (unsigned long long) r->mismatches, r->mismatch_name,
                    c.want);

out:
  free(c.flows);
  free(c.bufs);
  return r->error[0] ? -1 : 0;
}
