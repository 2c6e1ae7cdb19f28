/*
 * net-errors.c - suite "errors": bad arguments and wrong states return an
 * error (never crash, never call back): NULL requests and handles, handles
 * of the wrong type, closing handles, lure_accept with nothing pending,
 * getpeername on unconnected sockets, reads and writes on unconnected
 * streams, address in use, connect twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "harness-net.h"

static int cb_calls;

static void any_connect_cb(lure_connect_t *req, int status) { cb_calls++; }
static void any_write_cb(lure_write_t *req, int status) { cb_calls++; }
static void any_shutdown_cb(lure_shutdown_t *req, int status) { cb_calls++; }
static void any_conn_cb(lure_stream_t *s, int status) { cb_calls++; }
static void any_alloc(lure_handle_t *h, size_t sz, lure_buf_t *b) {
  static char space[64];

  b->base = space;
  b->len = sizeof(space);
}
static void any_read(lure_stream_t *s, ssize_t n, const lure_buf_t *b) {
  cb_calls++;
}
static void any_send_cb(lure_udp_send_t *req, int status) { cb_calls++; }
static void any_recv(lure_udp_t *h, ssize_t n, const lure_buf_t *b,
                     const struct sockaddr *a, unsigned f) {
  if (n != 0 || a != NULL)
    cb_calls++;
}
static void any_gai_cb(lure_getaddrinfo_t *r, int s, struct addrinfo *a) {
  cb_calls++;
}
static void any_gni_cb(lure_getnameinfo_t *r, int s, const char *h,
                       const char *v) {
  cb_calls++;
}

#define EXPECT(call, want)                                                   \
  do {                                                                       \
    int expect_rc_ = (call);                                                 \
    ck_assert_msg(expect_rc_ == (want), "%s:%d: %s = %s, want %s", __FILE__, \
                  __LINE__, #call, lt_err(expect_rc_), lt_err(want));        \
  } while (0)

/* ---- NULL and wrong-type arguments ------------------------------------------------ */

START_TEST(errors_null_arguments) {
  lure_loop_t loop;
  lure_tcp_t tcp;
  lure_pipe_t pipe;
  lure_udp_t udp;
  lure_timer_t timer;
  lure_write_t wr;
  lure_connect_t creq;
  lure_shutdown_t sreq;
  lure_udp_send_t ureq;
  lure_getaddrinfo_t gai;
  lure_getnameinfo_t gni;
  struct sockaddr_storage ss;
  struct sockaddr_storage name;
  struct sockaddr_un sun;
  lure_buf_t b = lure_buf_init("x", 1);
  char buf[64];
  size_t len;
  int nlen;

  cb_calls = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tcp_init(&loop, &tcp), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &pipe, 0), 0);
  ck_assert_int_eq(lure_udp_init(&loop, &udp), 0);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  lt_net_loopback(AF_INET, 9, &ss);
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;

  /* init */
  EXPECT(lure_tcp_init(NULL, &tcp), LURE_EINVAL);
  EXPECT(lure_tcp_init(&loop, NULL), LURE_EINVAL);
  EXPECT(lure_tcp_init_ex(&loop, NULL, AF_INET), LURE_EINVAL);
  EXPECT(lure_pipe_init(NULL, &pipe, 0), LURE_EINVAL);
  EXPECT(lure_pipe_init(&loop, NULL, 0), LURE_EINVAL);
  EXPECT(lure_udp_init(NULL, &udp), LURE_EINVAL);
  EXPECT(lure_udp_init(&loop, NULL), LURE_EINVAL);

  /* streams */
  EXPECT(lure_listen(NULL, 1, any_conn_cb), LURE_EINVAL);
  EXPECT(lure_listen((lure_stream_t *) &timer, 1, any_conn_cb), LURE_EINVAL);
  EXPECT(lure_accept(NULL, (lure_stream_t *) &tcp), LURE_EINVAL);
  EXPECT(lure_accept((lure_stream_t *) &tcp, NULL), LURE_EINVAL);
  EXPECT(lure_read_start(NULL, any_alloc, any_read), LURE_EINVAL);
  EXPECT(lure_read_start((lure_stream_t *) &tcp, NULL, any_read), LURE_EINVAL);
  EXPECT(lure_read_start((lure_stream_t *) &tcp, any_alloc, NULL), LURE_EINVAL);
  EXPECT(lure_read_start((lure_stream_t *) &udp, any_alloc, any_read),
         LURE_EINVAL);
  EXPECT(lure_read_stop(NULL), LURE_EINVAL);
  EXPECT(lure_write(NULL, (lure_stream_t *) &tcp, &b, 1, any_write_cb),
         LURE_EINVAL);
  EXPECT(lure_write(&wr, NULL, &b, 1, any_write_cb), LURE_EINVAL);
  EXPECT(lure_write(&wr, (lure_stream_t *) &tcp, NULL, 1, any_write_cb),
         LURE_EINVAL);
  EXPECT(lure_write(&wr, (lure_stream_t *) &tcp, &b, 0, any_write_cb),
         LURE_EINVAL);
  EXPECT(lure_write(&wr, (lure_stream_t *) &udp, &b, 1, any_write_cb),
         LURE_EINVAL);
  EXPECT(lure_write2(&wr, NULL, &b, 1, NULL, any_write_cb), LURE_EINVAL);
  EXPECT(lure_write_zc(NULL, (lure_stream_t *) &tcp, &b, 1, any_write_cb),
         LURE_EINVAL);
  EXPECT(lure_try_write(NULL, &b, 1), LURE_EINVAL);
  EXPECT(lure_try_write((lure_stream_t *) &tcp, NULL, 1), LURE_EINVAL);
  EXPECT(lure_try_write((lure_stream_t *) &tcp, &b, 0), LURE_EINVAL);
  EXPECT(lure_shutdown(NULL, (lure_stream_t *) &tcp, any_shutdown_cb),
         LURE_EINVAL);
  EXPECT(lure_shutdown(&sreq, NULL, any_shutdown_cb), LURE_EINVAL);
  EXPECT(lure_is_readable(NULL), 0);
  EXPECT(lure_is_writable(NULL), 0);
  ck_assert_uint_eq(lure_stream_get_write_queue_size(NULL), 0);
  ck_assert_uint_eq(lure_stream_get_write_queue_size((lure_stream_t *) &udp),
                    0);
  EXPECT(lure_stream_set_blocking(NULL, 1), LURE_EINVAL);
  EXPECT(lure_read_start_borrowed(NULL, any_read), LURE_EINVAL);
  EXPECT(lure_read_start_borrowed((lure_stream_t *) &tcp, NULL), LURE_EINVAL);
  EXPECT(lure_buf_release(NULL, &b), LURE_EINVAL);
  EXPECT(lure_buf_release(&loop, NULL), LURE_EINVAL);
  EXPECT(lure_buf_release(&loop, &b), LURE_EINVAL); /* not lent by lure */

  /* TCP */
  EXPECT(lure_tcp_bind(NULL, (struct sockaddr *) &ss, 0), LURE_EINVAL);
  EXPECT(lure_tcp_bind(&tcp, NULL, 0), LURE_EINVAL);
  EXPECT(lure_tcp_bind(&tcp, (struct sockaddr *) &sun, 0), LURE_EINVAL);
  EXPECT(lure_tcp_bind(&tcp, (struct sockaddr *) &ss, LURE_TCP_IPV6ONLY),
         LURE_EINVAL);
  EXPECT(lure_tcp_bind(&tcp, (struct sockaddr *) &ss, 0x80), LURE_EINVAL);
  /* The bit after LURE_TCP_REUSEPORT is not a flag. */
  EXPECT(lure_tcp_bind(&tcp, (struct sockaddr *) &ss, 4), LURE_EINVAL);
  EXPECT(lure_tcp_bind((lure_tcp_t *) &udp, (struct sockaddr *) &ss, 0),
         LURE_EINVAL);
  EXPECT(lure_tcp_connect(NULL, &tcp, (struct sockaddr *) &ss, any_connect_cb),
         LURE_EINVAL);
  EXPECT(lure_tcp_connect(&creq, NULL, (struct sockaddr *) &ss,
                          any_connect_cb), LURE_EINVAL);
  EXPECT(lure_tcp_connect(&creq, &tcp, NULL, any_connect_cb), LURE_EINVAL);
  EXPECT(lure_tcp_connect(&creq, &tcp, (struct sockaddr *) &sun,
                          any_connect_cb), LURE_EINVAL);
  EXPECT(lure_tcp_nodelay(NULL, 1), LURE_EINVAL);
  EXPECT(lure_tcp_keepalive(NULL, 1, 60), LURE_EINVAL);
  EXPECT(lure_tcp_close_reset(NULL, NULL), LURE_EINVAL);
  EXPECT(lure_tcp_init_ex(&loop, &tcp, AF_UNIX), LURE_EINVAL);
  nlen = (int) sizeof(name);
  EXPECT(lure_tcp_getsockname(NULL, (struct sockaddr *) &name, &nlen),
         LURE_EINVAL);
  EXPECT(lure_tcp_getsockname(&tcp, NULL, &nlen), LURE_EINVAL);
  EXPECT(lure_tcp_getsockname(&tcp, (struct sockaddr *) &name, NULL),
         LURE_EINVAL);
  EXPECT(lure_tcp_getpeername(NULL, (struct sockaddr *) &name, &nlen),
         LURE_EINVAL);
  nlen = -1;
  EXPECT(lure_tcp_getsockname(&tcp, (struct sockaddr *) &name, &nlen),
         LURE_EINVAL);
  nlen = (int) sizeof(name);
  EXPECT(lure_tcp_getsockname(&tcp, (struct sockaddr *) &name, &nlen),
         LURE_EBADF); /* no socket yet */

  /* pipes */
  EXPECT(lure_pipe_open(NULL, 0), LURE_EINVAL);
  EXPECT(lure_pipe_open(&pipe, -1), LURE_EBADF);
  EXPECT(lure_pipe_bind(NULL, "@x"), LURE_EINVAL);
  EXPECT(lure_pipe_bind(&pipe, NULL), LURE_EINVAL);
  EXPECT(lure_pipe_connect(NULL, &pipe, "@x", any_connect_cb), LURE_EINVAL);
  EXPECT(lure_pipe_connect(&creq, NULL, "@x", any_connect_cb), LURE_EINVAL);
  EXPECT(lure_pipe_connect(&creq, &pipe, NULL, any_connect_cb), LURE_EINVAL);
  len = sizeof(buf);
  EXPECT(lure_pipe_getsockname(NULL, buf, &len), LURE_EINVAL);
  EXPECT(lure_pipe_getsockname(&pipe, NULL, &len), LURE_EINVAL);
  EXPECT(lure_pipe_getsockname(&pipe, buf, NULL), LURE_EINVAL);
  EXPECT(lure_pipe_getpeername(NULL, buf, &len), LURE_EINVAL);
  EXPECT(lure_pipe_pending_count(NULL), 0);
  EXPECT(lure_pipe_pending_count(&pipe), 0); /* not ipc */
  ck_assert_int_eq(lure_pipe_pending_type(NULL), LURE_UNKNOWN_HANDLE);
  ck_assert_int_eq(lure_pipe_pending_type(&pipe), LURE_UNKNOWN_HANDLE);

  /* UDP */
  EXPECT(lure_udp_bind(NULL, (struct sockaddr *) &ss, 0), LURE_EINVAL);
  EXPECT(lure_udp_bind(&udp, NULL, 0), LURE_EINVAL);
  EXPECT(lure_udp_bind(&udp, (struct sockaddr *) &sun, 0), LURE_EINVAL);
  EXPECT(lure_udp_bind(&udp, (struct sockaddr *) &ss, LURE_UDP_IPV6ONLY),
         LURE_EINVAL);
  EXPECT(lure_udp_connect(NULL, (struct sockaddr *) &ss), LURE_EINVAL);
  EXPECT(lure_udp_connect(&udp, (struct sockaddr *) &sun), LURE_EINVAL);
  EXPECT(lure_udp_send(NULL, &udp, &b, 1, (struct sockaddr *) &ss,
                       any_send_cb), LURE_EINVAL);
  EXPECT(lure_udp_send(&ureq, NULL, &b, 1, (struct sockaddr *) &ss,
                       any_send_cb), LURE_EINVAL);
  EXPECT(lure_udp_send(&ureq, &udp, NULL, 1, (struct sockaddr *) &ss,
                       any_send_cb), LURE_EINVAL);
  EXPECT(lure_udp_send(&ureq, &udp, &b, 0, (struct sockaddr *) &ss,
                       any_send_cb), LURE_EINVAL);
  EXPECT(lure_udp_send(&ureq, &udp, &b, 1, (struct sockaddr *) &sun,
                       any_send_cb), LURE_EINVAL);
  EXPECT(lure_udp_send(&ureq, (lure_udp_t *) &tcp, &b, 1,
                       (struct sockaddr *) &ss, any_send_cb), LURE_EINVAL);
  EXPECT(lure_udp_try_send(NULL, &b, 1, (struct sockaddr *) &ss), LURE_EINVAL);
  EXPECT(lure_udp_try_send(&udp, NULL, 1, (struct sockaddr *) &ss),
         LURE_EINVAL);
  EXPECT(lure_udp_recv_start(NULL, any_alloc, any_recv), LURE_EINVAL);
  EXPECT(lure_udp_recv_start(&udp, NULL, any_recv), LURE_EINVAL);
  EXPECT(lure_udp_recv_start(&udp, any_alloc, NULL), LURE_EINVAL);
  EXPECT(lure_udp_recv_stop(NULL), LURE_EINVAL);
  EXPECT(lure_udp_set_ttl(&udp, 0), LURE_EINVAL);
  EXPECT(lure_udp_set_ttl(&udp, 256), LURE_EINVAL);
  EXPECT(lure_udp_set_ttl(NULL, 1), LURE_EINVAL);
  EXPECT(lure_udp_set_membership(&udp, NULL, NULL, LURE_JOIN_GROUP),
         LURE_EINVAL);
  nlen = (int) sizeof(name);
  EXPECT(lure_udp_getsockname(NULL, (struct sockaddr *) &name, &nlen),
         LURE_EINVAL);
  EXPECT(lure_udp_getpeername(&udp, NULL, &nlen), LURE_EINVAL);

  /* DNS */
  EXPECT(lure_getaddrinfo(NULL, &gai, any_gai_cb, "localhost", NULL, NULL),
         LURE_EINVAL);
  EXPECT(lure_getaddrinfo(&loop, NULL, any_gai_cb, "localhost", NULL, NULL),
         LURE_EINVAL);
  EXPECT(lure_getaddrinfo(&loop, &gai, any_gai_cb, NULL, NULL, NULL),
         LURE_EINVAL);
  EXPECT(lure_getnameinfo(NULL, &gni, any_gni_cb, (struct sockaddr *) &ss, 0),
         LURE_EINVAL);
  EXPECT(lure_getnameinfo(&loop, NULL, any_gni_cb, (struct sockaddr *) &ss, 0),
         LURE_EINVAL);
  EXPECT(lure_getnameinfo(&loop, &gni, any_gni_cb, NULL, 0), LURE_EINVAL);
  EXPECT(lure_getnameinfo(&loop, &gni, any_gni_cb, (struct sockaddr *) &sun,
                          0), LURE_EINVAL);

  /* None of this called back, or left anything running. */
  lure_run(&loop, LURE_RUN_NOWAIT);
  ck_assert_int_eq(cb_calls, 0);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- wrong states ----------------------------------------------------------------------- */

START_TEST(errors_states) {
  struct lt_net_pair *p = calloc(1, sizeof(*p));
  lure_loop_t *loop;
  lure_tcp_t fresh;
  lure_tcp_t bound;
  lure_tcp_t other;
  lure_tcp_t busy;
  lure_tcp_t closing;
  lure_tcp_t srv;
  lure_tcp_t cl;
  lure_pipe_t pipe;
  lure_pipe_t ipc;
  lure_udp_t udp;
  lure_write_t wr;
  lure_shutdown_t sreq;
  lure_connect_t creq;
  lure_connect_t creq2;
  lure_udp_send_t ureq;
  struct sockaddr_storage ss;
  struct sockaddr_storage name;
  lure_buf_t b = lure_buf_init("x", 1);
  int nlen;
  int rc;

  cb_calls = 0;
  lt_net_pair_open(p, LT_NET_WATCHDOG_MS, "errors in wrong states");
  loop = &p->loop;

  /* lure_accept with nothing pending. */
  {
    int port;

    ck_assert_int_eq(lure_tcp_init(loop, &srv), 0);
    lt_net_loopback(AF_INET, 0, &ss);
    ck_assert_int_eq(lure_tcp_bind(&srv, (struct sockaddr *) &ss, 0), 0);
    ck_assert_int_eq(lure_listen((lure_stream_t *) &srv, 4, any_conn_cb), 0);
    port = lt_net_tcp_port(&srv);
    ck_assert_int_eq(lure_tcp_init(loop, &cl), 0);
    EXPECT(lure_accept((lure_stream_t *) &srv, (lure_stream_t *) &cl),
           LURE_EAGAIN);
    /* Listening again only replaces the callback. */
    EXPECT(lure_listen((lure_stream_t *) &srv, 4, any_conn_cb), 0);
    /* A second server on the same address: EADDRINUSE from listen. */
    ck_assert_int_eq(lure_tcp_init(loop, &other), 0);
    lt_net_loopback(AF_INET, port, &ss);
    rc = lure_tcp_bind(&other, (struct sockaddr *) &ss, 0);
    ck_assert_msg(rc == 0, "bind to a taken port: %s (reported by listen)",
                  lt_err(rc));
    EXPECT(lure_listen((lure_stream_t *) &other, 4, any_conn_cb),
           LURE_EADDRINUSE);
    lure_close((lure_handle_t *) &other, NULL);
    lure_close((lure_handle_t *) &cl, NULL);
    lure_close((lure_handle_t *) &srv, NULL);
    lure_run(loop, LURE_RUN_NOWAIT);
  }

  /* A handle without a socket. */
  ck_assert_int_eq(lure_tcp_init(loop, &fresh), 0);
  EXPECT(lure_read_start((lure_stream_t *) &fresh, any_alloc, any_read),
         LURE_ENOTCONN);
  EXPECT(lure_write(&wr, (lure_stream_t *) &fresh, &b, 1, any_write_cb),
         LURE_EBADF);
  EXPECT(lure_try_write((lure_stream_t *) &fresh, &b, 1), LURE_EBADF);
  EXPECT(lure_shutdown(&sreq, (lure_stream_t *) &fresh, any_shutdown_cb),
         LURE_ENOTCONN);
  EXPECT(lure_is_readable((lure_stream_t *) &fresh), 0);
  EXPECT(lure_is_writable((lure_stream_t *) &fresh), 0);

  /* Bound, not connected. */
  ck_assert_int_eq(lure_tcp_init(loop, &bound), 0);
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_tcp_bind(&bound, (struct sockaddr *) &ss, 0), 0);
  nlen = (int) sizeof(name);
  EXPECT(lure_tcp_getpeername(&bound, (struct sockaddr *) &name, &nlen),
         LURE_ENOTCONN);
  nlen = (int) sizeof(name);
  EXPECT(lure_tcp_getsockname(&bound, (struct sockaddr *) &name, &nlen), 0);
  ck_assert_int_eq(nlen, (int) sizeof(struct sockaddr_in));
  EXPECT(lure_read_start((lure_stream_t *) &bound, any_alloc, any_read),
         LURE_ENOTCONN);
  EXPECT(lure_write(&wr, (lure_stream_t *) &bound, &b, 1, any_write_cb),
         LURE_EPIPE); /* libuv's answer for a stream that is not writable */
  EXPECT(lure_shutdown(&sreq, (lure_stream_t *) &bound, any_shutdown_cb),
         LURE_ENOTCONN);
  EXPECT(lure_tcp_keepalive(&bound, 1, 0), LURE_EINVAL);
  EXPECT(lure_tcp_keepalive(&bound, 1, 30), 0);
  EXPECT(lure_tcp_nodelay(&bound, 1), 0);

  /* Connected. */
  nlen = (int) sizeof(name);
  EXPECT(lure_tcp_getpeername(&p->client, (struct sockaddr *) &name, &nlen),
         0);
  ck_assert_int_eq(nlen, (int) sizeof(struct sockaddr_in));
  lt_net_loopback(AF_INET, 9, &ss);
  EXPECT(lure_tcp_connect(&creq, &p->client, (struct sockaddr *) &ss,
                          any_connect_cb), LURE_EISCONN);
  EXPECT(lure_listen((lure_stream_t *) &p->client, 4, any_conn_cb) < 0, 1);
  EXPECT(lure_accept((lure_stream_t *) &p->client, (lure_stream_t *) &fresh),
         LURE_EAGAIN);
  EXPECT(lure_is_readable((lure_stream_t *) &p->client), 1);
  EXPECT(lure_is_writable((lure_stream_t *) &p->client), 1);

  /* A connection under way: connecting again is EALREADY. */
  ck_assert_int_eq(lure_tcp_init(loop, &busy), 0);
  lt_net_loopback(AF_INET, lt_net_free_port(AF_INET, SOCK_STREAM), &ss);
  ck_assert_int_eq(lure_tcp_connect(&creq, &busy, (struct sockaddr *) &ss,
                                    any_connect_cb), 0);
  EXPECT(lure_tcp_connect(&creq2, &busy, (struct sockaddr *) &ss,
                          any_connect_cb), LURE_EALREADY);
  lure_close((lure_handle_t *) &busy, NULL); /* connect_cb: ECANCELED */

  /* lure_write2 needs an ipc pipe and a handle with a socket. */
  ck_assert_int_eq(lure_pipe_init(loop, &pipe, 0), 0);
  ck_assert_int_eq(lure_pipe_init(loop, &ipc, 1), 0);
  {
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    ck_assert_int_eq(lure_pipe_open(&pipe, sv[0]), 0);
    ck_assert_int_eq(lure_pipe_open(&ipc, sv[1]), 0);
  }
  EXPECT(lure_pipe_open(&pipe, 0), LURE_EBUSY);
  EXPECT(lure_write2(&wr, (lure_stream_t *) &pipe, &b, 1,
                     (lure_stream_t *) &p->client, any_write_cb), LURE_EINVAL);
  EXPECT(lure_write2(&wr, (lure_stream_t *) &ipc, &b, 1,
                     (lure_stream_t *) &fresh, any_write_cb), LURE_EINVAL);
  EXPECT(lure_read_start_borrowed((lure_stream_t *) &ipc, any_read),
         LURE_ENOTSUP);
  EXPECT(lure_listen((lure_stream_t *) &pipe, 4, any_conn_cb) < 0, 1);

  /* UDP without a peer. */
  ck_assert_int_eq(lure_udp_init(loop, &udp), 0);
  nlen = (int) sizeof(name);
  EXPECT(lure_udp_getpeername(&udp, (struct sockaddr *) &name, &nlen),
         LURE_EBADF);
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_udp_bind(&udp, (struct sockaddr *) &ss, 0), 0);
  nlen = (int) sizeof(name);
  EXPECT(lure_udp_getpeername(&udp, (struct sockaddr *) &name, &nlen),
         LURE_ENOTCONN);
  EXPECT(lure_udp_send(&ureq, &udp, &b, 1, NULL, any_send_cb),
         LURE_EDESTADDRREQ);

  /* Closing handles refuse everything. */
  ck_assert_int_eq(lure_tcp_init(loop, &closing), 0);
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_tcp_bind(&closing, (struct sockaddr *) &ss, 0), 0);
  lure_close((lure_handle_t *) &closing, NULL);
  EXPECT(lure_listen((lure_stream_t *) &closing, 4, any_conn_cb), LURE_EINVAL);
  EXPECT(lure_read_start((lure_stream_t *) &closing, any_alloc, any_read),
         LURE_EINVAL);
  EXPECT(lure_write(&wr, (lure_stream_t *) &closing, &b, 1, any_write_cb),
         LURE_EINVAL);
  EXPECT(lure_shutdown(&sreq, (lure_stream_t *) &closing, any_shutdown_cb),
         LURE_ENOTCONN); /* libuv's answer, not EINVAL */
  EXPECT(lure_tcp_connect(&creq, &closing, (struct sockaddr *) &ss,
                          any_connect_cb), LURE_EINVAL);
  EXPECT(lure_tcp_close_reset(&closing, NULL), LURE_EINVAL);
  lure_close((lure_handle_t *) &udp, NULL);
  EXPECT(lure_udp_send(&ureq, &udp, &b, 1, (struct sockaddr *) &ss,
                       any_send_cb), LURE_EINVAL);
  EXPECT(lure_udp_recv_start(&udp, any_alloc, any_recv), LURE_EINVAL);

  /* close_reset is refused once the orderly end has begun. */
  ck_assert_int_eq(lure_shutdown(&sreq, (lure_stream_t *) &p->client,
                                 any_shutdown_cb), 0);
  EXPECT(lure_tcp_close_reset(&p->client, NULL), LURE_EINVAL);

  lure_run(loop, LURE_RUN_NOWAIT);
  lure_close((lure_handle_t *) &fresh, NULL);
  lure_close((lure_handle_t *) &bound, NULL);
  lure_close((lure_handle_t *) &pipe, NULL);
  lure_close((lure_handle_t *) &ipc, NULL);
  lt_loop_finish(loop);
  /* The connect of busy (ECANCELED) and the shutdown: nothing else. */
  ck_assert_int_eq(cb_calls, 2);
  free(p);
}
END_TEST

/* lure_fileno, lure_send_buffer_size, lure_recv_buffer_size: every error,
 * and that a size set is the size the socket has. */
START_TEST(errors_fileno_bufsize) {
  lure_loop_t loop;
  lure_tcp_t tcp;
  lure_udp_t udp;
  lure_timer_t timer;
  lure_pipe_t pipe_h;
  lure_poll_t poll_h;
  struct sockaddr_in a4;
  lure_os_fd_t fd = -7;
  int fds[2];
  int v;
  int got;
  socklen_t len = sizeof(got);

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tcp_init(&loop, &tcp), 0);
  ck_assert_int_eq(lure_udp_init(&loop, &udp), 0);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);

  /* Bad arguments. */
  ck_assert_int_eq(lure_fileno(NULL, &fd), LURE_EINVAL);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &tcp, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &timer, &fd), LURE_EINVAL);
  v = 0;
  ck_assert_int_eq(lure_send_buffer_size(NULL, &v), LURE_EINVAL);
  ck_assert_int_eq(lure_recv_buffer_size((lure_handle_t *) &udp, NULL),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_recv_buffer_size((lure_handle_t *) &timer, &v),
                   LURE_EINVAL);
  v = -1;
  ck_assert_int_eq(lure_send_buffer_size((lure_handle_t *) &udp, &v),
                   LURE_EINVAL);
  ck_assert_int_eq(fd, -7);

  /* No socket yet. */
  v = 0;
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &tcp, &fd), LURE_EBADF);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &udp, &fd), LURE_EBADF);
  ck_assert_int_eq(lure_send_buffer_size((lure_handle_t *) &tcp, &v),
                   LURE_EBADF);
  ck_assert_int_eq(fd, -7);

  /* With a socket: the descriptor is the socket, sizes round-trip (Linux
   * doubles what it is given). */
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  ck_assert_int_eq(lure_udp_bind(&udp, (struct sockaddr *) &a4, 0), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &udp, &fd), 0);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len), 0);
  v = 0;
  ck_assert_int_eq(lure_recv_buffer_size((lure_handle_t *) &udp, &v), 0);
  ck_assert_int_eq(v, got);
  v = 65536;
  ck_assert_int_eq(lure_recv_buffer_size((lure_handle_t *) &udp, &v), 0);
  ck_assert_int_eq(v, 65536);
  v = 0;
  ck_assert_int_eq(lure_recv_buffer_size((lure_handle_t *) &udp, &v), 0);
  ck_assert_int_eq(v, 2 * 65536);
  v = 32768;
  ck_assert_int_eq(lure_send_buffer_size((lure_handle_t *) &udp, &v), 0);
  v = 0;
  ck_assert_int_eq(lure_send_buffer_size((lure_handle_t *) &udp, &v), 0);
  ck_assert_int_eq(v, 2 * 32768);
  ck_assert_int_eq(lure_tcp_bind(&tcp, (struct sockaddr *) &a4, 0), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &tcp, &fd), 0);
  len = sizeof(got);
  ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &got, &len), 0);
  ck_assert_int_eq(got, SOCK_STREAM);

  /* A pipe handle on a pipe(2): a descriptor, but no socket options; a poll
   * handle: a descriptor, no buffer sizes. */
  ck_assert_int_eq(pipe(fds), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &pipe_h, 0), 0);
  ck_assert_int_eq(lure_pipe_open(&pipe_h, fds[0]), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &pipe_h, &fd), 0);
  ck_assert_int_eq(fd, fds[0]);
  v = 0;
  ck_assert_int_eq(lure_recv_buffer_size((lure_handle_t *) &pipe_h, &v),
                   LURE_ENOTSOCK);
  ck_assert_int_eq(lure_poll_init(&loop, &poll_h, fds[1]), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &poll_h, &fd), 0);
  ck_assert_int_eq(fd, fds[1]);
  ck_assert_int_eq(lure_send_buffer_size((lure_handle_t *) &poll_h, &v),
                   LURE_EINVAL);

  /* Closing: EBADF. */
  lure_close((lure_handle_t *) &udp, NULL);
  lure_close((lure_handle_t *) &tcp, NULL);
  lure_close((lure_handle_t *) &pipe_h, NULL);
  lure_close((lure_handle_t *) &poll_h, NULL);
  lure_close((lure_handle_t *) &timer, NULL);
  fd = -7;
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &udp, &fd), LURE_EBADF);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &poll_h, &fd), LURE_EBADF);
  ck_assert_int_eq(lure_recv_buffer_size((lure_handle_t *) &tcp, &v),
                   LURE_EBADF);
  ck_assert_int_eq(fd, -7);
  lt_loop_finish(&loop);
  close(fds[1]);
}
END_TEST

LT_SUITE(errors) {
  Suite *s = suite_create("errors");
  TCase *tc = tcase_create("errors");

  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_test(tc, errors_null_arguments);
  tcase_add_test(tc, errors_states);
  tcase_add_test(tc, errors_fileno_bufsize);
  suite_add_tcase(s, tc);
  return s;
}
