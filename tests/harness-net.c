/*
 * harness-net.c - the helpers of the network suites (tests/net-*.c,
 * declared in tests/harness-net.h): the stream path the set promises, test
 * data, addresses, an echo/sink server and a driver of many bulk clients;
 * and what tests/lure-net-tests adds to the runner (tests/runner.c): the
 * stream path on the first line.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include "harness-net.h"

/* ---- the set -------------------------------------------------------------- */

const char *lt_net_stream_executor(void) {
  if (lt_set_ring_path())
    return "io_uring";
  if (lt_set_is("uring-masked") || lt_set_is("epoll") || lt_set_is("nouring"))
    return "epoll";
  return NULL;
}

void lt_net_check_executor(const void *req, const char *what, const char *file,
                       int line) {
  const char *want = lt_net_stream_executor();
  const char *got = lure_req_executor((const lure_req_t *) req);

  ck_assert_msg(got != NULL, "%s:%d: %s: lure_req_executor() is NULL", file,
                line, what);
  /* A stream the ring could serve waits for readiness while it warms up
   * (LURE_LOOP_STREAM_WARMUP); tests of the move itself check it exactly. */
  if (want != NULL && strcmp(want, "io_uring") == 0 && lt_streams_warm() &&
      strcmp(got, "epoll") == 0)
    return;
  if (want != NULL)
    ck_assert_msg(strcmp(got, want) == 0,
                  "%s:%d: set %s: %s served by \"%s\", want \"%s\"", file,
                  line, lt_set(), what, got, want);
}

/* ---- data ----------------------------------------------------------------- */

#define LT_NET_PAT_PERIOD 1048573u /* a prime, so streams never line up */

static unsigned char *lt_net_table;

static void lt_net_table_init(void) {
  uint64_t x = 0x2545F4914F6CDD1Dull;
  size_t i;

  if (lt_net_table != NULL)
    return;
  lt_net_table = malloc(LT_NET_PAT_PERIOD + LT_NET_PAT_MAX);
  if (lt_net_table == NULL)
    abort();
  for (i = 0; i < LT_NET_PAT_PERIOD; i++) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    lt_net_table[i] = (unsigned char) ((x * 0x2545F4914F6CDD1Dull) >> 56);
  }
  /* The tail repeats the start (overlapping when LT_NET_PAT_MAX > period). */
  for (i = LT_NET_PAT_PERIOD; i < LT_NET_PAT_PERIOD + LT_NET_PAT_MAX; i++)
    lt_net_table[i] = lt_net_table[i - LT_NET_PAT_PERIOD];
}

const unsigned char *lt_net_pat(uint64_t seed, uint64_t off) {
  lt_net_table_init();
  return lt_net_table + (seed % LT_NET_PAT_PERIOD + off % LT_NET_PAT_PERIOD) %
                        LT_NET_PAT_PERIOD;
}

long lt_net_pat_check(uint64_t seed, uint64_t off, const void *p, size_t n) {
  const unsigned char *b = p;
  size_t done = 0;

  while (done < n) {
    size_t k = n - done < LT_NET_PAT_MAX ? n - done : LT_NET_PAT_MAX;
    const unsigned char *want = lt_net_pat(seed, off + done);

    if (memcmp(want, b + done, k) != 0) {
      size_t i;

      for (i = 0; i < k; i++)
        if (want[i] != b[done + i])
          return (long) (done + i);
    }
    done += k;
  }
  return -1;
}

uint64_t lt_net_sum(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  size_t i;

  for (i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* ---- addresses and helpers ------------------------------------------------ */

int lt_net_have_ipv6(void) {
  static int known = -1;
  struct sockaddr_in6 a;
  int fd;

  if (known >= 0)
    return known;
  known = 0;
  fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  memset(&a, 0, sizeof(a));
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  if (bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0)
    known = 1;
  close(fd);
  return known;
}

void lt_net_loopback(int family, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof(*ss));
  if (family == AF_INET6) {
    ck_assert_int_eq(lure_ip6_addr("::1", port, (struct sockaddr_in6 *) ss),
                     0);
  } else {
    ck_assert_int_eq(
        lure_ip4_addr("127.0.0.1", port, (struct sockaddr_in *) ss), 0);
  }
}

int lt_net_free_port(int family, int type) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  int port;
  int fd;

  lt_net_loopback(family, 0, &ss);
  fd = socket(family, type | SOCK_CLOEXEC, 0);
  ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
  ck_assert_msg(bind(fd, (struct sockaddr *) &ss,
                     family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                        : sizeof(struct sockaddr_in)) == 0,
                "bind: %s", strerror(errno));
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &ss, &len), 0);
  port = family == AF_INET6 ? ntohs(((struct sockaddr_in6 *) &ss)->sin6_port)
                            : ntohs(((struct sockaddr_in *) &ss)->sin_port);
  close(fd);
  return port;
}

static int lt_net_port_of(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *) ss)->sin6_port);
  return ntohs(((const struct sockaddr_in *) ss)->sin_port);
}

int lt_net_tcp_port(const lure_tcp_t *h) {
  struct sockaddr_storage ss;
  int len = (int) sizeof(ss);
  int rc = lure_tcp_getsockname(h, (struct sockaddr *) &ss, &len);

  ck_assert_msg(rc == 0, "lure_tcp_getsockname: %s", lt_err(rc));
  return lt_net_port_of(&ss);
}

int lt_net_udp_port(const lure_udp_t *h) {
  struct sockaddr_storage ss;
  int len = (int) sizeof(ss);
  int rc = lure_udp_getsockname(h, (struct sockaddr *) &ss, &len);

  ck_assert_msg(rc == 0, "lure_udp_getsockname: %s", lt_err(rc));
  return lt_net_port_of(&ss);
}

/* ---- the echo / sink server ---------------------------------------------- */

struct lt_net_sconn {
  union {
    lure_tcp_t tcp;
    lure_pipe_t pipe;
  } h;
  struct lt_net_server *srv;
  lure_shutdown_t sreq;
  struct lt_net_idpat in; /* sink mode */
};

struct lt_net_ewrite {
  lure_write_t req;
  lure_buf_t buf;
  struct lt_net_sconn *conn;
  uint64_t pad; /* keeps the data that follows 16-byte aligned */
};

static void lt_net_sconn_close_cb(lure_handle_t *h) {
  struct lt_net_sconn *c = (struct lt_net_sconn *) h;

  c->srv->closed++;
  free(c);
}

static void lt_net_srv_error(struct lt_net_server *srv, int err) {
  srv->errors++;
  if (srv->last_error == 0)
    srv->last_error = err;
}

static void lt_net_sconn_close(struct lt_net_sconn *c) {
  if (!lure_is_closing((lure_handle_t *) &c->h))
    lure_close((lure_handle_t *) &c->h, lt_net_sconn_close_cb);
}

static void lt_net_sconn_alloc(lure_handle_t *h, size_t suggested,
                           lure_buf_t *buf) {
  struct lt_net_sconn *c = (struct lt_net_sconn *) h;
  size_t n = suggested;
  struct lt_net_ewrite *w;

  if (n > c->srv->alloc_max)
    n = c->srv->alloc_max;
  if (n == 0)
    n = 1;
  w = malloc(sizeof(*w) + n);
  if (w == NULL) {
    buf->base = NULL;
    buf->len = 0;
    return;
  }
  buf->base = (char *) (w + 1);
  buf->len = n;
}

static struct lt_net_ewrite *lt_net_ewrite_of(const lure_buf_t *buf) {
  return buf->base != NULL ? (struct lt_net_ewrite *) buf->base - 1 : NULL;
}

static void lt_net_ewrite_cb(lure_write_t *req, int status) {
  struct lt_net_ewrite *w = (struct lt_net_ewrite *) req;

  if (status != 0)
    lt_net_srv_error(w->conn->srv, status);
  free(w);
}

static void lt_net_sshut_cb(lure_shutdown_t *req, int status) {
  struct lt_net_sconn *c = req->data;

  if (status != 0)
    lt_net_srv_error(c->srv, status);
  lt_net_sconn_close(c);
}

void lt_net_idpat_init(struct lt_net_idpat *s) {
  memset(s, 0, sizeof(*s));
  s->bad_at = -1;
}

size_t lt_net_idpat_feed(struct lt_net_idpat *s, const char *p, size_t n) {
  long bad;

  while (n > 0 && s->hdr_len < sizeof(s->hdr)) {
    s->hdr[s->hdr_len++] = (unsigned char) *p++;
    n--;
    if (s->hdr_len == sizeof(s->hdr)) {
      unsigned i;

      s->id = 0;
      for (i = 0; i < 8; i++)
        s->id |= (uint64_t) s->hdr[i] << (8 * i);
    }
  }
  if (n == 0)
    return 0;
  if (s->bad_at < 0) {
    bad = lt_net_pat_check(s->id + 1, s->bytes, p, n);
    if (bad >= 0)
      s->bad_at = (long) s->bytes + bad;
  }
  s->bytes += n;
  return n;
}

static void lt_net_sink_eof(struct lt_net_sconn *c) {
  struct lt_net_server *srv = c->srv;
  struct lt_net_sink_result *r;

  if (c->in.hdr_len < sizeof(c->in.hdr) || c->in.id >= srv->nresults) {
    lt_net_srv_error(srv, LURE_EPROTO);
    return;
  }
  r = &srv->results[c->in.id];
  r->conns++;
  r->bytes = c->in.bytes;
  r->bad_at = c->in.bad_at;
  r->eof = 1;
}

static void lt_net_sconn_read(lure_stream_t *s, ssize_t nread,
                          const lure_buf_t *buf) {
  struct lt_net_sconn *c = (struct lt_net_sconn *) s;
  struct lt_net_ewrite *w = lt_net_ewrite_of(buf);
  int rc;

  if (nread > 0 && !c->srv->sink) {
    w->buf = lure_buf_init(buf->base, (unsigned int) nread);
    w->conn = c;
    c->srv->echoed += (uint64_t) nread;
    rc = lure_write(&w->req, s, &w->buf, 1, lt_net_ewrite_cb);
    if (rc != 0) {
      lt_net_srv_error(c->srv, rc);
      free(w);
      lt_net_sconn_close(c);
    }
    return;
  }
  if (nread > 0)
    (void) lt_net_idpat_feed(&c->in, buf->base, (size_t) nread);
  free(w);
  if (nread == 0)
    return;
  if (nread == LURE_EOF) {
    if (c->srv->sink)
      lt_net_sink_eof(c);
    c->sreq.data = c;
    rc = lure_shutdown(&c->sreq, s, lt_net_sshut_cb);
    if (rc != 0) {
      lt_net_srv_error(c->srv, rc);
      lt_net_sconn_close(c);
    }
    return;
  }
  if (nread < 0) {
    lt_net_srv_error(c->srv, (int) nread);
    lt_net_sconn_close(c);
  }
}

static void lt_net_server_conn_cb(lure_stream_t *server, int status) {
  struct lt_net_server *srv = server->data;
  struct lt_net_sconn *c;
  int rc;

  if (status != 0) {
    lt_net_srv_error(srv, status);
    return;
  }
  c = calloc(1, sizeof(*c));
  ck_assert_ptr_nonnull(c);
  c->srv = srv;
  lt_net_idpat_init(&c->in);
  if (srv->is_pipe)
    rc = lure_pipe_init(srv->loop, &c->h.pipe, 0);
  else
    rc = lure_tcp_init(srv->loop, &c->h.tcp);
  ck_assert_int_eq(rc, 0);
  rc = lure_accept(server, (lure_stream_t *) &c->h);
  if (rc != 0) {
    lt_net_srv_error(srv, rc);
    lt_net_sconn_close(c);
    return;
  }
  srv->accepted++;
  if (srv->nodelay && !srv->is_pipe)
    (void) lure_tcp_nodelay(&c->h.tcp, 1);
  rc = lure_read_start((lure_stream_t *) &c->h, lt_net_sconn_alloc, lt_net_sconn_read);
  if (rc != 0) {
    lt_net_srv_error(srv, rc);
    lt_net_sconn_close(c);
  }
}

void lt_net_server_start(lure_loop_t *loop, struct lt_net_server *srv, int family,
                     const char *name) {
  struct sockaddr_storage ss;
  int rc;

  srv->loop = loop;
  if (srv->alloc_max == 0)
    srv->alloc_max = 65536;
  if (family == AF_UNIX) {
    srv->is_pipe = 1;
    ck_assert_int_eq(lure_pipe_init(loop, &srv->h.pipe, 0), 0);
    rc = lure_pipe_bind(&srv->h.pipe, name);
    ck_assert_msg(rc == 0, "lure_pipe_bind(%s): %s", name, lt_err(rc));
  } else {
    ck_assert_int_eq(lure_tcp_init(loop, &srv->h.tcp), 0);
    lt_net_loopback(family, 0, &ss);
    rc = lure_tcp_bind(&srv->h.tcp, (struct sockaddr *) &ss, 0);
    ck_assert_msg(rc == 0, "lure_tcp_bind: %s", lt_err(rc));
  }
  srv->h.tcp.data = srv;
  rc = lure_listen((lure_stream_t *) &srv->h, 4096, lt_net_server_conn_cb);
  ck_assert_msg(rc == 0, "lure_listen: %s", lt_err(rc));
  if (!srv->is_pipe)
    srv->port = lt_net_tcp_port(&srv->h.tcp);
}

void lt_net_server_stop(struct lt_net_server *srv) {
  if (!lure_is_closing((lure_handle_t *) &srv->h))
    lure_close((lure_handle_t *) &srv->h, NULL);
}

/* ---- bulk clients --------------------------------------------------------- */

struct lt_net_bulk;

struct lt_net_client {
  union {
    lure_tcp_t tcp;
    lure_pipe_t pipe;
  } h;
  lure_connect_t creq;
  lure_shutdown_t sreq;
  struct lt_net_bulk *b;
  uint64_t id;
  uint64_t seed;
  size_t queued;         /* pattern bytes handed to lure_write */
  size_t written;        /* pattern bytes whose write completed */
  size_t received;
  size_t inflight;       /* bytes of writes not yet called back */
  uint64_t sum_tx;
  uint64_t sum_rx;
  uint64_t writes;       /* requests made (header included) */
  uint64_t write_cbs;
  int hdr_sent;
  unsigned char hdr[8];
  int connect_cbs;
  int connect_status;
  int shut_called;
  int shut_cbs;
  int shut_status;
  int eof;
  int closed;
  int read_err;
  int write_err;
  int write_order_bad;
  long bad_at;
  lure_write_t *wr;
  size_t *wlen;
  char *rbuf;
};

struct lt_net_bulk {
  const struct lt_net_bulk_opts *o;
  lure_loop_t loop;
  lure_timer_t watchdog;
  struct lt_net_server srv;
  struct lt_net_client *c;
  unsigned done;
  size_t rbuf;
  int executor_checked;
  struct sockaddr_storage addr;
};

static void lt_net_client_close_cb(lure_handle_t *h) {
  struct lt_net_client *c = (struct lt_net_client *) h;

  c->closed++;
  if (++c->b->done == c->b->o->nclients)
    lt_net_server_stop(&c->b->srv);
}

static void lt_net_client_close(struct lt_net_client *c) {
  if (!lure_is_closing((lure_handle_t *) &c->h))
    lure_close((lure_handle_t *) &c->h, lt_net_client_close_cb);
}

static void lt_net_client_shut_cb(lure_shutdown_t *req, int status) {
  struct lt_net_client *c = req->data;

  c->shut_cbs++;
  c->shut_status = status;
  LT_NET_CHECK_EXECUTOR(req, "a stream shutdown");
  if (c->eof)
    lt_net_client_close(c);
}

static void lt_net_client_pump(struct lt_net_client *c);

static void lt_net_client_write_cb(lure_write_t *req, int status) {
  struct lt_net_client *c = req->data;
  const struct lt_net_bulk_opts *o = c->b->o;
  unsigned idx = (unsigned) (req - c->wr);

  if (idx != c->write_cbs % o->window_reqs)
    c->write_order_bad = 1;
  if (status != 0 && c->write_err == 0)
    c->write_err = status;
  /* The sink header is the first request; it is not pattern data. */
  if (status == 0 && !(o->sink && c->write_cbs == 0))
    c->written += c->wlen[idx];
  c->inflight -= c->wlen[idx];
  c->write_cbs++;
  if (!c->b->executor_checked) {
    LT_NET_CHECK_EXECUTOR(req, "a stream write");
    c->b->executor_checked = 1;
  }
  if (status == 0 && !lure_is_closing((lure_handle_t *) &c->h))
    lt_net_client_pump(c);
}

static void lt_net_client_pump(struct lt_net_client *c) {
  const struct lt_net_bulk_opts *o = c->b->o;
  lure_stream_t *s = (lure_stream_t *) &c->h;
  lure_buf_t buf;
  lure_buf_t bufs[3];
  unsigned nb;
  unsigned idx;
  int rc;

  while (c->writes - c->write_cbs < o->window_reqs &&
         c->inflight < o->window_bytes &&
         (c->queued < o->total || (o->sink && !c->hdr_sent))) {
    idx = (unsigned) (c->writes % o->window_reqs);
    if (o->sink && !c->hdr_sent) {
      buf = lure_buf_init((char *) c->hdr, sizeof(c->hdr));
      c->wlen[idx] = sizeof(c->hdr);
      c->hdr_sent = 1;
    } else {
      size_t n = o->total - c->queued;

      if (n > o->chunk)
        n = o->chunk;
      buf = lure_buf_init((char *) lt_net_pat(c->seed, c->queued),
                          (unsigned int) n);
      c->sum_tx = lt_net_sum(c->sum_tx, buf.base, n);
      c->wlen[idx] = n;
      c->queued += n;
    }
    nb = 1;
    bufs[0] = buf;
    if (o->split && buf.len >= 3) {
      /* One request in three buffers (writev semantics). */
      size_t a = buf.len / 3;

      bufs[0] = lure_buf_init(buf.base, (unsigned int) a);
      bufs[1] = lure_buf_init(buf.base + a, (unsigned int) a);
      bufs[2] = lure_buf_init(buf.base + 2 * a, (unsigned int) (buf.len - 2 * a));
      nb = 3;
    }
    c->inflight += c->wlen[idx];
    c->wr[idx].data = c;
    rc = lure_write(&c->wr[idx], s, bufs, nb, lt_net_client_write_cb);
    ck_assert_msg(rc == 0, "client %u: lure_write: %s", (unsigned) c->id,
                  lt_err(rc));
    c->writes++;
  }
  if (c->queued == o->total && (!o->sink || c->hdr_sent) && !c->shut_called) {
    c->shut_called = 1;
    c->sreq.data = c;
    rc = lure_shutdown(&c->sreq, s, lt_net_client_shut_cb);
    ck_assert_msg(rc == 0, "client %u: lure_shutdown: %s", (unsigned) c->id,
                  lt_err(rc));
  }
}

static void lt_net_client_alloc(lure_handle_t *h, size_t suggested,
                            lure_buf_t *buf) {
  struct lt_net_client *c = (struct lt_net_client *) h;

  buf->base = c->rbuf;
  buf->len = c->b->rbuf;
}

static void lt_net_client_read(lure_stream_t *s, ssize_t nread,
                           const lure_buf_t *buf) {
  struct lt_net_client *c = (struct lt_net_client *) s;

  if (nread > 0) {
    if (c->b->o->sink) {
      c->read_err = LURE_EPROTO; /* a sink sends nothing */
      lt_net_client_close(c);
      return;
    }
    if (c->bad_at < 0) {
      long bad = lt_net_pat_check(c->seed, c->received, buf->base, (size_t) nread);

      if (bad >= 0)
        c->bad_at = (long) c->received + bad;
    }
    c->sum_rx = lt_net_sum(c->sum_rx, buf->base, (size_t) nread);
    c->received += (size_t) nread;
    return;
  }
  if (nread == 0)
    return;
  if (nread == LURE_EOF) {
    c->eof++;
    /* Close once our own shutdown reported too (tcp_shutdown_race checks
     * what a close at EOF does to it). */
    if (c->shut_cbs > 0 || !c->shut_called)
      lt_net_client_close(c);
    return;
  }
  c->read_err = (int) nread;
  lt_net_client_close(c);
}

static void lt_net_client_connect_cb(lure_connect_t *req, int status) {
  struct lt_net_client *c = req->data;
  int rc;

  c->connect_cbs++;
  c->connect_status = status;
  if (status != 0) {
    lt_net_client_close(c);
    return;
  }
  if (c->b->o->nodelay && !c->b->srv.is_pipe)
    (void) lure_tcp_nodelay(&c->h.tcp, 1);
  rc = lure_read_start((lure_stream_t *) &c->h, lt_net_client_alloc,
                       lt_net_client_read);
  ck_assert_msg(rc == 0, "client %u: lure_read_start: %s", (unsigned) c->id,
                lt_err(rc));
  if (!c->b->o->write_early)
    lt_net_client_pump(c);
}

static void lt_net_client_start(struct lt_net_bulk *b, struct lt_net_client *c) {
  const struct lt_net_bulk_opts *o = b->o;
  unsigned i;
  int rc;

  c->b = b;
  c->bad_at = -1;
  c->seed = c->id + 1;
  c->sum_tx = LT_NET_SUM_INIT;
  c->sum_rx = LT_NET_SUM_INIT;
  for (i = 0; i < 8; i++)
    c->hdr[i] = (unsigned char) (c->id >> (8 * i));
  c->wr = calloc(o->window_reqs, sizeof(*c->wr));
  c->wlen = calloc(o->window_reqs, sizeof(*c->wlen));
  c->rbuf = malloc(b->rbuf);
  ck_assert(c->wr != NULL && c->wlen != NULL && c->rbuf != NULL);
  c->creq.data = c;
  if (o->family == AF_UNIX) {
    ck_assert_int_eq(lure_pipe_init(&b->loop, &c->h.pipe, 0), 0);
    rc = lure_pipe_connect(&c->creq, &c->h.pipe, o->pipe_name,
                           lt_net_client_connect_cb);
  } else {
    ck_assert_int_eq(lure_tcp_init(&b->loop, &c->h.tcp), 0);
    rc = lure_tcp_connect(&c->creq, &c->h.tcp, (struct sockaddr *) &b->addr,
                          lt_net_client_connect_cb);
  }
  ck_assert_msg(rc == 0, "client %u: connect: %s", (unsigned) c->id,
                lt_err(rc));
  if (o->write_early)
    lt_net_client_pump(c);
}

static struct lt_net_bulk *lt_net_bulk_current;

static void lt_net_bulk_watchdog_cb(lure_timer_t *t) {
  struct lt_net_bulk *b = lt_net_bulk_current;
  unsigned i;
  unsigned connected = 0;
  unsigned eof = 0;
  uint64_t rx = 0;
  uint64_t tx = 0;

  for (i = 0; i < b->o->nclients; i++) {
    connected += b->c[i].connect_cbs > 0;
    eof += b->c[i].eof > 0;
    rx += b->c[i].received;
    tx += b->c[i].written;
  }
  ck_abort_msg("watchdog (set %s): %u clients x %zu bytes (chunk %zu) not "
               "done after %u ms: %u connected, %u closed, %u saw EOF, "
               "server accepted %u closed %u errors %u; tx %llu rx %llu "
               "echoed %llu",
               lt_set() ? lt_set() : "(none)", b->o->nclients, b->o->total,
               b->o->chunk, b->o->watchdog_ms ? b->o->watchdog_ms
                                              : LT_NET_WATCHDOG_MS,
               connected, b->done, eof, b->srv.accepted, b->srv.closed,
               b->srv.errors, (unsigned long long) tx,
               (unsigned long long) rx, (unsigned long long) b->srv.echoed);
  (void) t;
}

void lt_net_bulk_run(const struct lt_net_bulk_opts *o, struct lt_net_bulk_stats *st) {
  struct lt_net_bulk *b = calloc(1, sizeof(*b));
  uint64_t start;
  unsigned bad = 0;
  unsigned first_bad = 0;
  char why[512] = "";
  unsigned i;

  ck_assert_ptr_nonnull(b);
  ck_assert(o->window_reqs > 0 && o->window_reqs <= 4096);
  b->o = o;
  b->rbuf = o->rbuf ? o->rbuf : 65536;
  lt_net_bulk_current = b;
  lt_loop_init(&b->loop);
  ck_assert_int_eq(lure_timer_init(&b->loop, &b->watchdog), 0);
  ck_assert_int_eq(lure_timer_start(&b->watchdog, lt_net_bulk_watchdog_cb,
                                    o->watchdog_ms ? o->watchdog_ms
                                                   : LT_NET_WATCHDOG_MS, 0), 0);
  lure_unref((lure_handle_t *) &b->watchdog);

  b->srv.sink = o->sink;
  b->srv.nodelay = o->nodelay;
  if (o->sink) {
    b->srv.results = calloc(o->nclients, sizeof(*b->srv.results));
    b->srv.nresults = o->nclients;
    ck_assert_ptr_nonnull(b->srv.results);
  }
  lt_net_server_start(&b->loop, &b->srv, o->family, o->pipe_name);
  if (o->family != AF_UNIX)
    lt_net_loopback(o->family, b->srv.port, &b->addr);

  b->c = calloc(o->nclients, sizeof(*b->c));
  ck_assert_ptr_nonnull(b->c);
  start = lure_hrtime();
  for (i = 0; i < o->nclients; i++) {
    b->c[i].id = i;
    lt_net_client_start(b, &b->c[i]);
  }
  lt_run(&b->loop);
  if (st != NULL) {
    st->ms = (lure_hrtime() - start) / 1000000u;
    st->writes = 0;
    for (i = 0; i < o->nclients; i++)
      st->writes += b->c[i].writes;
  }

  for (i = 0; i < o->nclients; i++) {
    struct lt_net_client *c = &b->c[i];
    char m[256] = "";

    if (c->connect_cbs != 1 || c->connect_status != 0)
      snprintf(m, sizeof(m), "connect_cb x%d status %s", c->connect_cbs,
               lt_err(c->connect_status));
    else if (c->write_cbs != c->writes)
      snprintf(m, sizeof(m), "%llu writes but %llu write callbacks",
               (unsigned long long) c->writes,
               (unsigned long long) c->write_cbs);
    else if (c->write_err != 0)
      snprintf(m, sizeof(m), "write status %s", lt_err(c->write_err));
    else if (c->write_order_bad)
      snprintf(m, sizeof(m), "write callbacks out of submission order");
    else if (c->written != o->total)
      snprintf(m, sizeof(m), "wrote %zu of %zu", c->written, o->total);
    else if (c->read_err != 0)
      snprintf(m, sizeof(m), "read error %s after %zu bytes",
               lt_err(c->read_err), c->received);
    else if (c->eof != 1)
      snprintf(m, sizeof(m), "EOF seen %d times", c->eof);
    else if (c->closed != 1)
      snprintf(m, sizeof(m), "close_cb x%d", c->closed);
    else if (!o->sink && c->bad_at >= 0)
      snprintf(m, sizeof(m), "echo differs at byte %ld (received %zu)",
               c->bad_at, c->received);
    else if (!o->sink && c->received != o->total)
      snprintf(m, sizeof(m), "received %zu of %zu echoed bytes", c->received,
               o->total);
    else if (!o->sink && c->sum_rx != c->sum_tx)
      snprintf(m, sizeof(m), "checksum %016llx, sent %016llx",
               (unsigned long long) c->sum_rx,
               (unsigned long long) c->sum_tx);
    else if (o->sink && b->srv.results[i].conns != 1)
      snprintf(m, sizeof(m), "server saw the stream %d times",
               b->srv.results[i].conns);
    else if (o->sink && b->srv.results[i].bad_at >= 0)
      snprintf(m, sizeof(m), "server: data differs at byte %ld",
               b->srv.results[i].bad_at);
    else if (o->sink && b->srv.results[i].bytes != o->total)
      snprintf(m, sizeof(m), "server received %llu of %zu bytes",
               (unsigned long long) b->srv.results[i].bytes, o->total);
    else if (c->shut_cbs != 1 || c->shut_status != 0)
      snprintf(m, sizeof(m), "shutdown_cb x%d status %s", c->shut_cbs,
               lt_err(c->shut_status));
    if (m[0] != '\0') {
      if (bad++ == 0) {
        first_bad = i;
        snprintf(why, sizeof(why), "%s", m);
      }
    }
  }
  ck_assert_msg(bad == 0,
                "set %s: %u of %u clients (%zu bytes, chunk %zu) failed; "
                "client %u: %s",
                lt_set() ? lt_set() : "(none)", bad, o->nclients, o->total,
                o->chunk, first_bad, why);
  ck_assert_msg(b->srv.errors == 0, "server: %u unexpected statuses, first %s",
                b->srv.errors, lt_err(b->srv.last_error));
  ck_assert_uint_eq(b->srv.accepted, o->nclients);
  ck_assert_uint_eq(b->srv.closed, o->nclients);
  if (!o->sink)
    ck_assert_uint_eq(b->srv.echoed, (uint64_t) o->nclients * o->total);

  lt_loop_finish(&b->loop);
  for (i = 0; i < o->nclients; i++) {
    free(b->c[i].wr);
    free(b->c[i].wlen);
    free(b->c[i].rbuf);
  }
  free(b->c);
  free(b->srv.results);
  lt_net_bulk_current = NULL;
  free(b);
}

/* ---- a connected pair ------------------------------------------------------ */


static void lt_net_pair_conn_cb(lure_stream_t *l, int status) {
  struct lt_net_pair *p = l->data;

  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(lure_tcp_init(&p->loop, &p->server), 0);
  ck_assert_int_eq(lure_accept(l, (lure_stream_t *) &p->server), 0);
  p->server.data = p;
  p->accepted = 1;
  lure_close((lure_handle_t *) &p->listener, NULL);
  if (p->connected)
    lure_stop(&p->loop);
}

static void lt_net_pair_connect_cb(lure_connect_t *req, int status) {
  struct lt_net_pair *p = req->data;

  p->connect_status = status;
  p->connected = 1;
  if (p->accepted)
    lure_stop(&p->loop);
}

void lt_net_pair_open(struct lt_net_pair *p, unsigned watchdog_ms, const char *what) {
  struct sockaddr_storage ss;
  int i;

  memset(p, 0, sizeof(*p));
  lt_loop_init(&p->loop);
  lt_watchdog(&p->loop, &p->wd, watchdog_ms, what);
  ck_assert_int_eq(lure_tcp_init(&p->loop, &p->listener), 0);
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_tcp_bind(&p->listener, (struct sockaddr *) &ss, 0), 0);
  p->listener.data = p;
  ck_assert_int_eq(lure_listen((lure_stream_t *) &p->listener, 16,
                               lt_net_pair_conn_cb), 0);
  lt_net_loopback(AF_INET, lt_net_tcp_port(&p->listener), &ss);
  ck_assert_int_eq(lure_tcp_init(&p->loop, &p->client), 0);
  p->client.data = p;
  p->creq.data = p;
  ck_assert_int_eq(lure_tcp_connect(&p->creq, &p->client,
                                    (struct sockaddr *) &ss, lt_net_pair_connect_cb),
                   0);
  for (i = 0; i < 1000 && !(p->accepted && p->connected); i++)
    lure_run(&p->loop, LURE_RUN_ONCE);
  ck_assert_msg(p->accepted && p->connected, "the pair did not connect");
  ck_assert_int_eq(p->connect_status, 0);
}

/* ---- the program's part of the runner ------------------------------------ */

static void net_describe(char *buf, size_t size) {
  snprintf(buf, size, ", stream path %s",
           lt_net_stream_executor() ? lt_net_stream_executor()
                                    : "(not checked)");
}

LT_PROGRAM(NULL, NULL, net_describe)
