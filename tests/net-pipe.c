/*
 * net-pipe.c - suite "pipe": Unix domain sockets through pipe handles:
 * echo over a file system path and over an abstract name, the names
 * lure_pipe_getsockname/getpeername report, bind and connect errors, and
 * descriptor passing (lure_write2 of a TCP handle over an ipc pipe made
 * with lure_pipe_open on a socketpair; the receiver accepts it and echoes
 * through it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include "harness-net.h"

/* ---- echo ------------------------------------------------------------------------- */

static void pipe_echo(const char *name) {
  struct lt_net_bulk_opts o;

  memset(&o, 0, sizeof(o));
  o.nclients = 8;
  o.total = 256 * 1024;
  o.chunk = 5000;
  o.window_reqs = 16;
  o.window_bytes = 64 * 1024;
  o.family = AF_UNIX;
  o.pipe_name = name;
  lt_net_bulk_run(&o, NULL);
}

START_TEST(pipe_echo_path) {
  char dir[256];
  char path[300];
  struct stat st;

  lt_tmpdir(dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/echo.sock", dir);
  pipe_echo(path);
  /* The bound handle removed its socket file when it closed. */
  ck_assert_msg(stat(path, &st) != 0 && errno == ENOENT,
                "%s still exists after the server closed", path);
  lt_rmtree(dir);
}
END_TEST

START_TEST(pipe_echo_abstract) {
  char name[64];

  snprintf(name, sizeof(name), "@lure-net-echo-%ld", (long) getpid());
  pipe_echo(name);
}
END_TEST

/* ---- names ------------------------------------------------------------------------ */

struct pn {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_pipe_t server;
  lure_pipe_t accepted;
  lure_pipe_t client;
  lure_connect_t creq;
  int accepted_ok;
  int connected;
  int connect_status;
};

static void pn_conn_cb(lure_stream_t *s, int status) {
  struct pn *p = s->data;

  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(lure_pipe_init(&p->loop, &p->accepted, 0), 0);
  ck_assert_int_eq(lure_accept(s, (lure_stream_t *) &p->accepted), 0);
  p->accepted_ok = 1;
}

static void pn_connect_cb(lure_connect_t *req, int status) {
  struct pn *p = req->data;

  p->connected = 1;
  p->connect_status = status;
}

/* want "@name" is an abstract name, which comes back as libuv gives it:
 * "\0name", the NUL counted in len. */
static void pn_check_name(const char *what, int rc, const char *got,
                          size_t len, const char *want) {
  ck_assert_msg(rc == 0, "%s: %s", what, lt_err(rc));
  if (want[0] == '@') {
    ck_assert_msg(len == strlen(want) && got[0] == '\0' &&
                      memcmp(got + 1, want + 1, len - 1) == 0,
                  "%s: \"\\0%.*s\" (length %zu), want \"\\0%s\"", what,
                  len > 0 ? (int) len - 1 : 0, got + 1, len, want + 1);
    return;
  }
  ck_assert_msg(len == strlen(want) && strcmp(got, want) == 0,
                "%s: \"%s\" (length %zu), want \"%s\"", what, got, len, want);
}

static void pipe_names(const char *name) {
  struct pn *p = calloc(1, sizeof(*p));
  char buf[128];
  char small[4];
  size_t len;
  int rc;
  int i;

  lt_loop_init(&p->loop);
  lt_watchdog(&p->loop, &p->wd, LT_NET_WATCHDOG_MS, "pipe names");
  ck_assert_int_eq(lure_pipe_init(&p->loop, &p->server, 0), 0);
  p->server.data = p;
  len = sizeof(buf);
  rc = lure_pipe_getsockname(&p->server, buf, &len);
  ck_assert_msg(rc == LURE_EBADF, "getsockname without a socket: %s",
                lt_err(rc));
  rc = lure_pipe_bind(&p->server, name);
  ck_assert_msg(rc == 0, "lure_pipe_bind(%s): %s", name, lt_err(rc));
  ck_assert_int_eq(lure_pipe_bind(&p->server, name), LURE_EINVAL); /* again */
  len = sizeof(buf);
  rc = lure_pipe_getsockname(&p->server, buf, &len);
  pn_check_name("server getsockname", rc, buf, len, name);
  /* Too small a buffer: ENOBUFS and the size needed. */
  len = sizeof(small);
  rc = lure_pipe_getsockname(&p->server, small, &len);
  ck_assert_msg(rc == LURE_ENOBUFS, "getsockname into 4 bytes: %s",
                lt_err(rc));
  ck_assert_uint_eq(len, strlen(name) + 1);
  len = sizeof(buf);
  rc = lure_pipe_getpeername(&p->server, buf, &len);
  ck_assert_msg(rc == LURE_ENOTCONN, "getpeername of a bound, unconnected "
                "pipe: %s", lt_err(rc));
  ck_assert_int_eq(lure_listen((lure_stream_t *) &p->server, 8, pn_conn_cb),
                   0);

  ck_assert_int_eq(lure_pipe_init(&p->loop, &p->client, 0), 0);
  p->creq.data = p;
  ck_assert_int_eq(lure_pipe_connect(&p->creq, &p->client, name,
                                     pn_connect_cb), 0);
  for (i = 0; i < 1000 && !(p->connected && p->accepted_ok); i++)
    lure_run(&p->loop, LURE_RUN_ONCE);
  ck_assert_int_eq(p->connect_status, 0);
  ck_assert(p->accepted_ok);

  len = sizeof(buf);
  rc = lure_pipe_getpeername(&p->client, buf, &len);
  pn_check_name("client getpeername", rc, buf, len, name);
  len = sizeof(buf);
  rc = lure_pipe_getsockname(&p->client, buf, &len);
  pn_check_name("client getsockname (unnamed)", rc, buf, len, "");
  len = sizeof(buf);
  rc = lure_pipe_getsockname(&p->accepted, buf, &len);
  pn_check_name("accepted getsockname", rc, buf, len, name);
  len = sizeof(buf);
  rc = lure_pipe_getpeername(&p->accepted, buf, &len);
  pn_check_name("accepted getpeername (unnamed)", rc, buf, len, "");
  lt_loop_finish(&p->loop);
  free(p);
}

START_TEST(pipe_getsockname_getpeername) {
  char dir[256];
  char path[300];
  char abs[64];

  lt_tmpdir(dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/names.sock", dir);
  pipe_names(path);
  snprintf(abs, sizeof(abs), "@lure-net-names-%ld", (long) getpid());
  pipe_names(abs);
  lt_rmtree(dir);
}
END_TEST

/* ---- bind and connect errors ---------------------------------------------------------- */

struct pe {
  int cbs;
  int status;
};

static void pe_connect_cb(lure_connect_t *req, int status) {
  struct pe *e = req->data;

  e->cbs++;
  e->status = status;
}

static void pe_conn_cb(lure_stream_t *s, int status) {
  ck_abort_msg("connection callback of a server that must not listen");
}

static int pe_connect(lure_loop_t *loop, const char *name) {
  lure_pipe_t p;
  lure_connect_t req;
  struct pe e;
  int rc;

  memset(&e, 0, sizeof(e));
  req.data = &e;
  ck_assert_int_eq(lure_pipe_init(loop, &p, 0), 0);
  rc = lure_pipe_connect(&req, &p, name, pe_connect_cb);
  ck_assert_msg(rc == 0, "lure_pipe_connect(%s): %s (failures go to the "
                "callback)", name, lt_err(rc));
  ck_assert_int_eq(e.cbs, 0);
  lt_run(loop);
  ck_assert_int_eq(e.cbs, 1);
  lure_close((lure_handle_t *) &p, NULL);
  lt_run(loop);
  return e.status;
}

/* A shutdown asked for and the stream closed in the same connect
 * callback: the shutdown never runs, its callback gets LURE_ECANCELED
 * before the close callback, on every path (libuv's shutdown_close_pipe;
 * it got EBADF on readiness once the socket left inside lure_close()). */
struct sc {
  lure_pipe_t p;
  lure_connect_t creq;
  lure_shutdown_t sreq;
  int shut_status;
  int shut_cbs;
  int closed;
  int order_bad;
};

static void sc_shut_cb(lure_shutdown_t *req, int status) {
  struct sc *c = req->data;

  c->shut_cbs++;
  c->shut_status = status;
  if (c->closed)
    c->order_bad = 1;
}

static void sc_closed(lure_handle_t *h) {
  ((struct sc *) h->data)->closed++;
}

static void sc_connect_cb(lure_connect_t *req, int status) {
  struct sc *c = req->data;

  ck_assert_int_eq(status, 0);
  c->sreq.data = c;
  ck_assert_int_eq(lure_shutdown(&c->sreq, (lure_stream_t *) &c->p,
                                 sc_shut_cb), 0);
  ck_assert_int_eq(lure_is_closing((lure_handle_t *) &c->p), 0);
  lure_close((lure_handle_t *) &c->p, sc_closed);
}

START_TEST(pipe_shutdown_then_close) {
  lure_loop_t loop;
  lure_timer_t wd;
  struct lt_net_server srv;
  struct sc c;
  char dir[256];
  char path[300];
  int i;

  memset(&srv, 0, sizeof(srv));
  memset(&c, 0, sizeof(c));
  lt_tmpdir(dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/sc.sock", dir);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "shutdown then close");
  lt_net_server_start(&loop, &srv, AF_UNIX, path);
  ck_assert_int_eq(lure_pipe_init(&loop, &c.p, 0), 0);
  c.p.data = &c;
  c.creq.data = &c;
  ck_assert_int_eq(lure_pipe_connect(&c.creq, &c.p, path, sc_connect_cb), 0);
  for (i = 0; i < 1000 && c.closed == 0; i++)
    lure_run(&loop, LURE_RUN_ONCE);
  ck_assert_int_eq(c.closed, 1);
  ck_assert_int_eq(c.shut_cbs, 1);
  ck_assert_msg(c.shut_status == LURE_ECANCELED, "set %s: shutdown: %s",
                lt_set() ? lt_set() : "(none)", lt_err(c.shut_status));
  ck_assert_int_eq(c.order_bad, 0);
  /* The server's side of the connection closes at its EOF. */
  for (i = 0; i < 1000 && srv.closed < 1; i++)
    lure_run(&loop, LURE_RUN_ONCE);
  ck_assert_uint_eq(srv.closed, 1);
  lt_net_server_stop(&srv);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(pipe_bind_connect_errors) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_pipe_t a;
  lure_pipe_t b;
  lure_pipe_t c;
  char dir[256];
  char path[300];
  char missing[300];
  char longname[200];
  char abs[64];
  int rc;

  lt_tmpdir(dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/taken.sock", dir);
  snprintf(missing, sizeof(missing), "%s/no/such/dir.sock", dir);
  snprintf(abs, sizeof(abs), "@lure-net-taken-%ld", (long) getpid());
  memset(longname, 'x', sizeof(longname) - 1);
  longname[0] = '/';
  longname[sizeof(longname) - 1] = '\0';
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "pipe errors");

  ck_assert_int_eq(lure_pipe_init(&loop, &a, 0), 0);
  ck_assert_int_eq(lure_pipe_bind(&a, path), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &b, 0), 0);
  rc = lure_pipe_bind(&b, path);
  ck_assert_msg(rc == LURE_EADDRINUSE, "bind to a taken path: %s",
                lt_err(rc));
  rc = lure_pipe_bind(&b, missing);
  ck_assert_msg(rc == LURE_EACCES, "bind in a missing directory: %s, want "
                "EACCES", lt_err(rc));
  rc = lure_pipe_bind(&b, longname);
  ck_assert_msg(rc == LURE_ENAMETOOLONG, "bind to a 199-byte path: %s",
                lt_err(rc));
  rc = lure_pipe_bind(&b, "");
  ck_assert_msg(rc == LURE_EINVAL, "bind to \"\": %s", lt_err(rc));
  ck_assert_int_eq(lure_pipe_bind(&b, abs), 0);
  /* The abstract name is free again once b's socket is closed. */
  lure_close((lure_handle_t *) &b, NULL);
  lt_run(&loop);
  ck_assert_int_eq(lure_pipe_init(&loop, &b, 0), 0);
  ck_assert_int_eq(lure_pipe_bind(&b, abs), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &c, 0), 0);
  rc = lure_pipe_bind(&c, abs);
  ck_assert_msg(rc == LURE_EADDRINUSE, "bind to a taken abstract name: %s",
                lt_err(rc));
  lure_close((lure_handle_t *) &c, NULL);
  lure_close((lure_handle_t *) &b, NULL);
  lt_run(&loop);
  /* Only a pipe without ipc can listen. */
  ck_assert_int_eq(lure_pipe_init(&loop, &c, 1), 0);
  ck_assert_int_eq(lure_pipe_bind(&c, abs), 0);
  rc = lure_listen((lure_stream_t *) &c, 4, pe_conn_cb);
  ck_assert_msg(rc == LURE_EINVAL, "lure_listen on an ipc pipe: %s",
                lt_err(rc));
  lure_close((lure_handle_t *) &c, NULL);
  lt_run(&loop);

  /* Connect failures reach the callback. */
  rc = pe_connect(&loop, missing);
  ck_assert_msg(rc == LURE_ENOENT, "connect to a missing path: %s, want "
                "ENOENT", lt_err(rc));
  rc = pe_connect(&loop, path); /* bound but not listening */
  ck_assert_msg(rc == LURE_ECONNREFUSED, "connect to a socket nobody "
                "listens on: %s, want ECONNREFUSED", lt_err(rc));
  rc = pe_connect(&loop, "@lure-net-nobody-here");
  ck_assert_msg(rc == LURE_ECONNREFUSED, "connect to an unbound abstract "
                "name: %s, want ECONNREFUSED", lt_err(rc));
  lure_close((lure_handle_t *) &a, NULL);
  lt_loop_finish(&loop);
  lt_rmtree(dir);
}
END_TEST

/* ---- descriptor passing -------------------------------------------------------------- */

#define FP_TOTAL ((size_t) 256 * 1024)

struct fp {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_pipe_t pa;          /* sender's end of the socketpair */
  lure_pipe_t pb;          /* receiver's end */
  lure_tcp_t listener;
  lure_tcp_t orig;         /* accepted here, then sent over pa */
  lure_tcp_t passed;       /* the receiver's handle for it */
  lure_tcp_t extra;        /* a second lure_accept finds nothing */
  lure_tcp_t client;
  lure_connect_t creq;
  lure_write_t w2;
  int w2_status;
  int w2_cbs;
  lure_write_t cw[4];
  lure_shutdown_t csreq;
  /* receiver */
  int pb_reads;
  int pb_bytes;
  char pb_byte;
  int pending_at_read;
  lure_handle_type type_at_read;
  int accept_rc;
  int accept_again_rc;
  int pending_after;
  /* echo through the passed handle */
  size_t echoed;
  int passed_eof;
  int passed_err;
  /* client */
  size_t received;
  long bad_at;
  int client_eof;
  int client_err;
  char rbuf[65536];
  char pbuf[16];
};

/* One echo write and its data, in one allocation. */
struct fp_ew {
  lure_write_t req;
  lure_buf_t buf;
  uint64_t pad;
};

static void fp_echo_write_cb(lure_write_t *req, int status) {
  struct fp *f = req->data;

  if (status != 0 && f->passed_err == 0)
    f->passed_err = status;
  free(req);
}

static void fp_echo_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  size_t n = sz > 65536 ? 65536 : (sz == 0 ? 1 : sz);
  struct fp_ew *w = malloc(sizeof(*w) + n);

  buf->base = w != NULL ? (char *) (w + 1) : NULL;
  buf->len = w != NULL ? n : 0;
}

static void fp_passed_shut_cb(lure_shutdown_t *req, int status) {
  struct fp *f = req->data;

  lure_close((lure_handle_t *) &f->passed, NULL);
  free(req);
}

static void fp_passed_read(lure_stream_t *s, ssize_t nread,
                           const lure_buf_t *buf) {
  struct fp *f = s->data;
  struct fp_ew *w = buf->base != NULL ? (struct fp_ew *) buf->base - 1 : NULL;

  if (nread > 0) {
    w->buf = lure_buf_init(buf->base, (unsigned int) nread);
    w->req.data = f;
    f->echoed += (size_t) nread;
    ck_assert_int_eq(lure_write(&w->req, s, &w->buf, 1, fp_echo_write_cb), 0);
    return;
  }
  free(w);
  if (nread == 0)
    return;
  if (nread == LURE_EOF) {
    lure_shutdown_t *sr = malloc(sizeof(*sr));

    ck_assert_ptr_nonnull(sr);
    f->passed_eof = 1;
    sr->data = f;
    ck_assert_int_eq(lure_shutdown(sr, s, fp_passed_shut_cb), 0);
    return;
  }
  f->passed_err = (int) nread;
  lure_close((lure_handle_t *) s, NULL);
}

static void fp_pb_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct fp *f = h->data;

  buf->base = f->pbuf;
  buf->len = sizeof(f->pbuf);
}

static void fp_pb_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct fp *f = s->data;
  int rc;

  if (nread <= 0) {
    if (nread < 0) {
      /* The sender's end closed: done with the pipe. */
      lure_close((lure_handle_t *) s, NULL);
    }
    return;
  }
  f->pb_reads++;
  f->pb_bytes += (int) nread;
  f->pb_byte = buf->base[0];
  if (f->pb_reads > 1)
    return;
  /* The descriptor came with the first byte: it is already queued. */
  f->pending_at_read = lure_pipe_pending_count(&f->pb);
  f->type_at_read = lure_pipe_pending_type(&f->pb);
  if (f->pending_at_read < 1)
    return;
  ck_assert_int_eq(lure_tcp_init(&f->loop, &f->passed), 0);
  f->passed.data = f;
  f->accept_rc = lure_accept(s, (lure_stream_t *) &f->passed);
  f->pending_after = lure_pipe_pending_count(&f->pb);
  ck_assert_int_eq(lure_tcp_init(&f->loop, &f->extra), 0);
  f->accept_again_rc = lure_accept(s, (lure_stream_t *) &f->extra);
  lure_close((lure_handle_t *) &f->extra, NULL);
  if (f->accept_rc != 0)
    return;
  rc = lure_read_start((lure_stream_t *) &f->passed, fp_echo_alloc,
                       fp_passed_read);
  ck_assert_msg(rc == 0, "read_start on the passed handle: %s", lt_err(rc));
}

static void fp_w2_cb(lure_write_t *req, int status) {
  struct fp *f = req->data;

  f->w2_cbs++;
  f->w2_status = status;
  /* The peer has its own descriptor now: the sender's handle may go, and
   * so may the sender's end of the pipe. */
  lure_close((lure_handle_t *) &f->orig, NULL);
  lure_close((lure_handle_t *) &f->pa, NULL);
}

static void fp_conn_cb(lure_stream_t *l, int status) {
  struct fp *f = l->data;
  lure_buf_t b = lure_buf_init("F", 1);

  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(lure_tcp_init(&f->loop, &f->orig), 0);
  ck_assert_int_eq(lure_accept(l, (lure_stream_t *) &f->orig), 0);
  lure_close((lure_handle_t *) l, NULL);
  f->w2.data = f;
  ck_assert_int_eq(lure_write2(&f->w2, (lure_stream_t *) &f->pa, &b, 1,
                               (lure_stream_t *) &f->orig, fp_w2_cb), 0);
}

static void fp_client_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct fp *f = h->data;

  buf->base = f->rbuf;
  buf->len = sizeof(f->rbuf);
}

static void fp_client_read(lure_stream_t *s, ssize_t nread,
                           const lure_buf_t *buf) {
  struct fp *f = s->data;

  if (nread > 0) {
    if (f->bad_at < 0) {
      long bad = lt_net_pat_check(31, f->received, buf->base, (size_t) nread);

      if (bad >= 0)
        f->bad_at = (long) f->received + bad;
    }
    f->received += (size_t) nread;
    return;
  }
  if (nread == 0)
    return;
  if (nread == LURE_EOF)
    f->client_eof = 1;
  else
    f->client_err = (int) nread;
  lure_close((lure_handle_t *) s, NULL);
}

static void fp_connect_cb(lure_connect_t *req, int status) {
  struct fp *f = req->data;
  lure_stream_t *cs = (lure_stream_t *) &f->client;
  int i;

  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(lure_read_start(cs, fp_client_alloc, fp_client_read), 0);
  for (i = 0; i < 4; i++) {
    lure_buf_t b = lure_buf_init((char *) lt_net_pat(31, (uint64_t) i * (FP_TOTAL / 4)),
                                 (unsigned int) (FP_TOTAL / 4));

    f->cw[i].data = f;
    ck_assert_int_eq(lure_write(&f->cw[i], cs, &b, 1, NULL), 0);
  }
  ck_assert_int_eq(lure_shutdown(&f->csreq, cs, NULL), 0);
}

START_TEST(pipe_pass_tcp_handle) {
  struct fp *f = calloc(1, sizeof(*f));
  struct sockaddr_storage ss;
  int sv[2];
  int rc;

  f->bad_at = -1;
  f->accept_rc = 1;
  lt_loop_init(&f->loop);
  lt_watchdog(&f->loop, &f->wd, LT_NET_WATCHDOG_MS, "passing a TCP handle");
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ck_assert_int_eq(lure_pipe_init(&f->loop, &f->pa, 1), 0);
  ck_assert_int_eq(lure_pipe_init(&f->loop, &f->pb, 1), 0);
  ck_assert_int_eq(lure_pipe_open(&f->pa, sv[0]), 0);
  ck_assert_int_eq(lure_pipe_open(&f->pb, sv[1]), 0);
  f->pa.data = f->pb.data = f;
  rc = lure_read_start((lure_stream_t *) &f->pb, fp_pb_alloc, fp_pb_read);
  ck_assert_msg(rc == 0, "read_start on the ipc pipe: %s", lt_err(rc));

  ck_assert_int_eq(lure_tcp_init(&f->loop, &f->listener), 0);
  f->listener.data = f;
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_tcp_bind(&f->listener, (struct sockaddr *) &ss, 0), 0);
  ck_assert_int_eq(lure_listen((lure_stream_t *) &f->listener, 4, fp_conn_cb),
                   0);
  lt_net_loopback(AF_INET, lt_net_tcp_port(&f->listener), &ss);
  ck_assert_int_eq(lure_tcp_init(&f->loop, &f->client), 0);
  f->client.data = f;
  f->creq.data = f;
  ck_assert_int_eq(lure_tcp_connect(&f->creq, &f->client,
                                    (struct sockaddr *) &ss, fp_connect_cb),
                   0);
  lt_run(&f->loop);

  ck_assert_int_eq(f->w2_cbs, 1);
  ck_assert_msg(f->w2_status == 0, "lure_write2: %s", lt_err(f->w2_status));
  ck_assert_int_eq(f->pb_bytes, 1);
  ck_assert_int_eq(f->pb_byte, 'F');
  ck_assert_msg(f->pending_at_read == 1,
                "set %s: lure_pipe_pending_count() is %d in the read_cb of "
                "the byte that carried the descriptor, want 1",
                lt_set() ? lt_set() : "(none)", f->pending_at_read);
  ck_assert_msg(f->type_at_read == LURE_TCP, "pending type %d, want LURE_TCP",
                (int) f->type_at_read);
  ck_assert_msg(f->accept_rc == 0, "lure_accept of the descriptor: %s",
                lt_err(f->accept_rc));
  ck_assert_int_eq(f->pending_after, 0);
  ck_assert_msg(f->accept_again_rc == LURE_EAGAIN, "second lure_accept: %s, "
                "want EAGAIN", lt_err(f->accept_again_rc));
  ck_assert_msg(f->passed_err == 0, "passed handle: %s", lt_err(f->passed_err));
  ck_assert_int_eq(f->passed_eof, 1);
  ck_assert_uint_eq(f->echoed, FP_TOTAL);
  ck_assert_msg(f->client_err == 0, "client read: %s", lt_err(f->client_err));
  ck_assert_msg(f->bad_at < 0, "echo differs at byte %ld", f->bad_at);
  ck_assert_uint_eq(f->received, FP_TOTAL);
  ck_assert_int_eq(f->client_eof, 1);
  lt_loop_finish(&f->loop);
  free(f);
}
END_TEST

/* lure_write_zc on a Unix socket: AF_UNIX has no zero-copy send (the ring
 * answers SEND_ZC with EOPNOTSUPP), and the man page promises an ordinary
 * write wherever zero copy is not available.  One request in one buffer
 * (SEND_ZC) and one in two (SENDMSG_ZC). */
struct pzc {
  lure_write_t wr[2];
  int cbs;
  int status[2];
};

static void pzc_write_cb(lure_write_t *req, int status) {
  struct pzc *z = req->data;

  z->status[req == &z->wr[0] ? 0 : 1] = status;
  z->cbs++;
}

START_TEST(pipe_write_zc) {
  static char rbuf[65536];
  lure_loop_t loop;
  lure_timer_t wd;
  lure_pipe_t pa;
  struct pzc z;
  lure_buf_t b[2];
  size_t got = 0;
  ssize_t n;
  long bad;
  int sv[2];

  memset(&z, 0, sizeof(z));
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "pipe write_zc");
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &pa, 0), 0);
  ck_assert_int_eq(lure_pipe_open(&pa, sv[0]), 0);
  z.wr[0].data = z.wr[1].data = &z;
  b[0] = lure_buf_init((char *) lt_net_pat(5, 0), 20000);
  ck_assert_int_eq(lure_write_zc(&z.wr[0], (lure_stream_t *) &pa, b, 1,
                                 pzc_write_cb), 0);
  b[0] = lure_buf_init((char *) lt_net_pat(5, 20000), 7000);
  b[1] = lure_buf_init((char *) lt_net_pat(5, 27000), 13000);
  ck_assert_int_eq(lure_write_zc(&z.wr[1], (lure_stream_t *) &pa, b, 2,
                                 pzc_write_cb), 0);
  while (z.cbs < 2 && lure_run(&loop, LURE_RUN_ONCE) > 0)
    ;
  ck_assert_int_eq(z.cbs, 2);
  ck_assert_msg(z.status[0] == 0 && z.status[1] == 0,
                "set %s: lure_write_zc on a Unix socket: %s, %s",
                lt_set() ? lt_set() : "(none)", lt_err(z.status[0]),
                lt_err(z.status[1]));
  while (got < 40000) {
    n = recv(sv[1], rbuf, sizeof(rbuf), MSG_DONTWAIT);
    if (n <= 0)
      break;
    bad = lt_net_pat_check(5, got, rbuf, (size_t) n);
    ck_assert_msg(bad < 0, "byte %ld differs", (long) got + bad);
    got += (size_t) n;
  }
  ck_assert_uint_eq(got, 40000);
  close(sv[1]);
  lt_loop_finish(&loop);
}
END_TEST

LT_SUITE(pipe) {
  Suite *s = suite_create("pipe");
  TCase *tc = tcase_create("pipe");

  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_test(tc, pipe_echo_path);
  tcase_add_test(tc, pipe_echo_abstract);
  tcase_add_test(tc, pipe_getsockname_getpeername);
  tcase_add_test(tc, pipe_bind_connect_errors);
  tcase_add_test(tc, pipe_shutdown_then_close);
  tcase_add_test(tc, pipe_pass_tcp_handle);
  tcase_add_test(tc, pipe_write_zc);
  suite_add_tcase(s, tc);
  return s;
}
