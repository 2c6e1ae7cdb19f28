/*
 * net-parity.c - suite "parity": libuv calls that lure added late, each
 * with what it does and every error a caller can reach: lure_udp_open on
 * sockets made elsewhere (bound, connected, unbound, a Unix datagram pair)
 * served by the set's path; the UDP send queue counters while sends wait;
 * lure_udp_using_recvmmsg; source-specific multicast joined and left on
 * loopback, with the kernel's filter by source checked;
 * lure_tcp_simultaneous_accepts and lure_pipe_pending_instances, which
 * change nothing; lure_pipe_chmod, by the socket file's mode; lure_pipe and
 * lure_socketpair, their flags, and their descriptors in pipe handles;
 * lure_try_write2 passing a TCP handle over an IPC pipe.  The test case
 * "libuv-1.44" holds, one test each, the answers that libuv 1.44.2's own
 * test suite expects where lure once gave others.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "harness-net.h"

#define EXPECT(call, want)                                                   \
  do {                                                                       \
    int expect_rc_ = (call);                                                 \
    ck_assert_msg(expect_rc_ == (want), "%s:%d: %s = %s, want %s", __FILE__, \
                  __LINE__, #call, lt_err(expect_rc_), lt_err(want));        \
  } while (0)

static int fd_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL);

  ck_assert_int_ge(fl, 0);
  return (fl & O_NONBLOCK) != 0;
}

static int fd_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFD);

  ck_assert_int_ge(fl, 0);
  return (fl & FD_CLOEXEC) != 0;
}

static void never_conn_cb(lure_stream_t *server, int status) {
  ck_abort_msg("a connection no client made (status %s)", lt_err(status));
}

static socklen_t sa_len(const struct sockaddr_storage *ss) {
  return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                   : sizeof(struct sockaddr_in);
}

static int sa_port(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *) sa)->sin6_port);
  return ntohs(((const struct sockaddr_in *) sa)->sin_port);
}

/* ---- lure_udp_open ------------------------------------------------------- */

/* A handle on an adopted socket and a lure-made peer trade datagrams: the
 * peer sends "ping", the adopted handle answers "pong" to the address it
 * came from.  Whatever the set's path, the adopted socket is served like a
 * lure-made one. */
struct uo {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_udp_t opened;
  lure_udp_t peer;
  lure_udp_send_t ping_req;
  lure_udp_send_t pong_req;
  struct sockaddr_storage opened_addr;
  int ping_status;
  int pong_status;
  int pong_cbs;
  int pings;            /* "ping" datagrams the adopted handle received */
  int pongs;            /* "pong" datagrams the peer received */
  int bad;              /* datagrams with unexpected contents or sender */
  int peer_port;
  int opened_port;
  char rbuf[64];
};

static void uo_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct uo *u = h->data;

  buf->base = u->rbuf;
  buf->len = sizeof(u->rbuf);
}

/* Done once the peer has the answer and its send has called back. */
static void uo_maybe_done(struct uo *u) {
  if (u->pongs == 0 || !u->pong_cbs)
    return;
  lure_close((lure_handle_t *) &u->opened, NULL);
  lure_close((lure_handle_t *) &u->peer, NULL);
}

static void uo_pong_cb(lure_udp_send_t *req, int status) {
  struct uo *u = req->data;

  u->pong_status = status;
  u->pong_cbs++;
  LT_NET_CHECK_EXECUTOR(req, "a send on an adopted UDP socket");
  uo_maybe_done(u);
}

static void uo_ping_cb(lure_udp_send_t *req, int status) {
  struct uo *u = req->data;

  u->ping_status = status;
}

static void uo_opened_recv(lure_udp_t *h, ssize_t n, const lure_buf_t *buf,
                           const struct sockaddr *addr, unsigned flags) {
  struct uo *u = h->data;
  lure_buf_t b = lure_buf_init("pong", 4);

  if (n == 0 && addr == NULL)
    return;
  if (n != 4 || memcmp(buf->base, "ping", 4) != 0 || addr == NULL ||
      sa_port(addr) != u->peer_port) {
    u->bad++;
    return;
  }
  u->pings++;
  u->pong_req.data = u;
  ck_assert_int_eq(lure_udp_send(&u->pong_req, h, &b, 1, addr, uo_pong_cb),
                   0);
}

static void uo_peer_recv(lure_udp_t *h, ssize_t n, const lure_buf_t *buf,
                         const struct sockaddr *addr, unsigned flags) {
  struct uo *u = h->data;

  if (n == 0 && addr == NULL)
    return;
  if (n != 4 || memcmp(buf->base, "pong", 4) != 0 || addr == NULL ||
      sa_port(addr) != u->opened_port) {
    u->bad++;
    return;
  }
  u->pongs++;
  uo_maybe_done(u);
}

static void udp_open_bound(int family) {
  struct uo *u = calloc(1, sizeof(*u));
  struct sockaddr_storage ss;
  lure_buf_t b = lure_buf_init("ping", 4);
  lure_os_fd_t got = -1;
  socklen_t len = sizeof(int);
  int reuse = 0;
  int sock;

  lt_loop_init(&u->loop);
  lt_watchdog(&u->loop, &u->wd, LT_NET_WATCHDOG_MS, "ping-pong on lure_udp_open");
  /* A blocking socket without FD_CLOEXEC, bound as a program would. */
  sock = socket(family, SOCK_DGRAM, 0);
  ck_assert_int_ge(sock, 0);
  lt_net_loopback(family, 0, &ss);
  ck_assert_int_eq(bind(sock, (struct sockaddr *) &ss, sa_len(&ss)), 0);
  ck_assert_int_eq(fd_nonblocking(sock), 0);

  ck_assert_int_eq(lure_udp_init(&u->loop, &u->opened), 0);
  u->opened.data = u;
  EXPECT(lure_udp_open(&u->opened, sock), 0);
  ck_assert_int_eq(fd_nonblocking(sock), 1);
  ck_assert_int_eq(fd_cloexec(sock), 1);
  ck_assert_int_eq(getsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &reuse, &len),
                   0);
  ck_assert_int_eq(reuse, 1);
  EXPECT(lure_fileno((lure_handle_t *) &u->opened, &got), 0);
  ck_assert_int_eq(got, sock);
  u->opened_port = lt_net_udp_port(&u->opened);
  ck_assert_int_ne(u->opened_port, 0);
  EXPECT(lure_udp_open(&u->opened, sock), LURE_EBUSY);

  ck_assert_int_eq(lure_udp_init(&u->loop, &u->peer), 0);
  u->peer.data = u;
  lt_net_loopback(family, 0, &ss);
  ck_assert_int_eq(lure_udp_bind(&u->peer, (struct sockaddr *) &ss, 0), 0);
  u->peer_port = lt_net_udp_port(&u->peer);

  EXPECT(lure_udp_recv_start(&u->opened, uo_alloc, uo_opened_recv), 0);
  /* Bound already: receiving did not bind it again elsewhere. */
  ck_assert_int_eq(lt_net_udp_port(&u->opened), u->opened_port);
  EXPECT(lure_udp_recv_start(&u->peer, uo_alloc, uo_peer_recv), 0);
  lt_net_loopback(family, u->opened_port, &u->opened_addr);
  u->ping_req.data = u;
  EXPECT(lure_udp_send(&u->ping_req, &u->peer, &b, 1,
                       (struct sockaddr *) &u->opened_addr, uo_ping_cb), 0);
  lt_run(&u->loop);

  ck_assert_int_eq(u->bad, 0);
  ck_assert_int_eq(u->pings, 1);
  ck_assert_int_eq(u->pongs, 1);
  ck_assert_int_eq(u->pong_cbs, 1);
  ck_assert_msg(u->ping_status == 0, "ping: %s", lt_err(u->ping_status));
  ck_assert_msg(u->pong_status == 0, "pong: %s", lt_err(u->pong_status));
  lt_loop_finish(&u->loop);
  /* The handle owned the socket and closed it. */
  ck_assert_int_lt(fcntl(sock, F_GETFD), 0);
  free(u);
}

START_TEST(udp_open_bound_ipv4) {
  udp_open_bound(AF_INET);
}
END_TEST

START_TEST(udp_open_bound_ipv6) {
  if (!lt_net_have_ipv6()) {
    printf("udp_open_bound_ipv6: no IPv6 here, skipped\n");
    return;
  }
  udp_open_bound(AF_INET6);
}
END_TEST

/* A socket connected before lure adopted it makes a connected handle: the
 * sends name no address, an address is EISCONN, a second connect EISCONN;
 * disconnecting works as on a handle lure connected. */
struct uoc {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_udp_t opened;
  lure_udp_t peer;
  lure_udp_send_t req;
  int send_status;
  int got;
  int bad;
  char rbuf[64];
};

static void uoc_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct uoc *c = h->data;

  buf->base = c->rbuf;
  buf->len = sizeof(c->rbuf);
}

static void uoc_send_cb(lure_udp_send_t *req, int status) {
  struct uoc *c = req->data;

  c->send_status = status;
}

static void uoc_peer_recv(lure_udp_t *h, ssize_t n, const lure_buf_t *buf,
                          const struct sockaddr *addr, unsigned flags) {
  struct uoc *c = h->data;

  if (n == 0 && addr == NULL)
    return;
  if (n != 2 || buf->base[0] != 'c')
    c->bad++;
  else
    c->got++;
  if (c->got + c->bad == 2)
    lure_udp_recv_stop(h);
}

START_TEST(udp_open_connected) {
  struct uoc *c = calloc(1, sizeof(*c));
  struct sockaddr_storage ss;
  struct sockaddr_storage name;
  struct sockaddr_storage other;
  lure_buf_t b = lure_buf_init("c1", 2);
  lure_buf_t b2 = lure_buf_init("c2", 2);
  int nlen;
  int sock;

  lt_loop_init(&c->loop);
  lt_watchdog(&c->loop, &c->wd, LT_NET_WATCHDOG_MS, "a connected adopted socket");
  ck_assert_int_eq(lure_udp_init(&c->loop, &c->peer), 0);
  c->peer.data = c;
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_udp_bind(&c->peer, (struct sockaddr *) &ss, 0), 0);
  lt_net_loopback(AF_INET, lt_net_udp_port(&c->peer), &ss);
  sock = socket(AF_INET, SOCK_DGRAM, 0);
  ck_assert_int_ge(sock, 0);
  ck_assert_int_eq(connect(sock, (struct sockaddr *) &ss, sa_len(&ss)), 0);

  ck_assert_int_eq(lure_udp_init(&c->loop, &c->opened), 0);
  c->opened.data = c;
  EXPECT(lure_udp_open(&c->opened, sock), 0);
  nlen = (int) sizeof(name);
  EXPECT(lure_udp_getpeername(&c->opened, (struct sockaddr *) &name, &nlen),
         0);
  ck_assert_int_eq(sa_port((struct sockaddr *) &name), lt_net_udp_port(&c->peer));
  c->req.data = c;
  EXPECT(lure_udp_send(&c->req, &c->opened, &b, 1, (struct sockaddr *) &ss,
                       uoc_send_cb), LURE_EISCONN);
  EXPECT(lure_udp_try_send(&c->opened, &b, 1, (struct sockaddr *) &ss),
         LURE_EISCONN);
  lt_net_loopback(AF_INET, 9, &other);
  EXPECT(lure_udp_connect(&c->opened, (struct sockaddr *) &other),
         LURE_EISCONN);
  EXPECT(lure_udp_try_send(&c->opened, &b, 1, NULL), 2);
  EXPECT(lure_udp_send(&c->req, &c->opened, &b2, 1, NULL, uoc_send_cb), 0);
  EXPECT(lure_udp_recv_start(&c->peer, uoc_alloc, uoc_peer_recv), 0);
  lt_run(&c->loop);
  ck_assert_msg(c->send_status == 0, "send: %s", lt_err(c->send_status));
  ck_assert_int_eq(c->bad, 0);
  ck_assert_int_eq(c->got, 2);

  /* Disconnected, it needs an address again. */
  EXPECT(lure_udp_connect(&c->opened, NULL), 0);
  EXPECT(lure_udp_try_send(&c->opened, &b, 1, NULL), LURE_EDESTADDRREQ);
  nlen = (int) sizeof(name);
  EXPECT(lure_udp_getpeername(&c->opened, (struct sockaddr *) &name, &nlen),
         LURE_ENOTCONN);
  EXPECT(lure_udp_try_send(&c->opened, &b, 1, (struct sockaddr *) &ss), 2);
  lt_loop_finish(&c->loop);
  free(c);
}
END_TEST

/* An adopted socket that is not bound yet is bound by the first receive,
 * in its own family, as a lure-made one is. */
static void any_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  static char space[64];

  buf->base = space;
  buf->len = sizeof(space);
}

static void any_recv(lure_udp_t *h, ssize_t n, const lure_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags) {
}

START_TEST(udp_open_unbound) {
  lure_loop_t loop;
  lure_udp_t h;
  struct sockaddr_storage ss;
  int nlen = (int) sizeof(ss);
  int family = lt_net_have_ipv6() ? AF_INET6 : AF_INET;
  int sock = socket(family, SOCK_DGRAM, 0);

  ck_assert_int_ge(sock, 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_udp_init(&loop, &h), 0);
  EXPECT(lure_udp_open(&h, sock), 0);
  EXPECT(lure_udp_getsockname(&h, (struct sockaddr *) &ss, &nlen), 0);
  ck_assert_int_eq(ss.ss_family, family);
  ck_assert_int_eq(sa_port((struct sockaddr *) &ss), 0);
  EXPECT(lure_udp_recv_start(&h, any_alloc, any_recv), 0);
  nlen = (int) sizeof(ss);
  EXPECT(lure_udp_getsockname(&h, (struct sockaddr *) &ss, &nlen), 0);
  ck_assert_int_eq(ss.ss_family, family);
  ck_assert_int_ne(sa_port((struct sockaddr *) &ss), 0);
  lt_loop_finish(&loop);
}
END_TEST

/* A Unix datagram socket (one end of a socketpair): lure cannot bind it to
 * an IP address, so the first receive must not try; it is connected, so
 * sends without an address go to the other end. */
struct uou {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_udp_t h;
  int other;
  int got;
  int bad;
  char rbuf[64];
};

static void uou_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct uou *u = h->data;

  buf->base = u->rbuf;
  buf->len = sizeof(u->rbuf);
}

static void uou_recv(lure_udp_t *h, ssize_t n, const lure_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags) {
  struct uou *u = h->data;
  lure_buf_t b = lure_buf_init("back", 4);

  if (n == 0 && addr == NULL)
    return;
  if (n != 5 || memcmp(buf->base, "hello", 5) != 0) {
    u->bad++;
  } else {
    u->got++;
    EXPECT(lure_udp_try_send(h, &b, 1, NULL), 4);
  }
  lure_close((lure_handle_t *) h, NULL);
}

START_TEST(udp_open_unix_dgram) {
  struct uou *u = calloc(1, sizeof(*u));
  int sv[2];
  char back[16];

  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
  u->other = sv[1];
  lt_loop_init(&u->loop);
  lt_watchdog(&u->loop, &u->wd, LT_NET_WATCHDOG_MS, "a Unix datagram socket");
  ck_assert_int_eq(lure_udp_init(&u->loop, &u->h), 0);
  u->h.data = u;
  EXPECT(lure_udp_open(&u->h, sv[0]), 0);
  EXPECT(lure_udp_recv_start(&u->h, uou_alloc, uou_recv), 0);
  ck_assert_int_eq(send(sv[1], "hello", 5, 0), 5);
  lt_run(&u->loop);
  ck_assert_int_eq(u->bad, 0);
  ck_assert_int_eq(u->got, 1);
  ck_assert_int_eq(recv(sv[1], back, sizeof(back), MSG_DONTWAIT), 4);
  ck_assert_int_eq(memcmp(back, "back", 4), 0);
  lt_loop_finish(&u->loop);
  close(sv[1]);
  free(u);
}
END_TEST

/* Every refusal, and that a refused socket is left as it was (still
 * blocking, still open, still the caller's). */
START_TEST(udp_open_errors) {
  lure_loop_t loop;
  lure_udp_t h;
  lure_udp_t made;
  lure_udp_t closing;
  lure_tcp_t tcp;
  struct sockaddr_in a4;
  lure_os_fd_t used;
  int fds[2];
  int stream;
  int dgram;
  int gone;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_udp_init(&loop, &h), 0);
  ck_assert_int_eq(lure_tcp_init(&loop, &tcp), 0);
  dgram = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(dgram, 0);

  EXPECT(lure_udp_open(NULL, dgram), LURE_EINVAL);
  EXPECT(lure_udp_open((lure_udp_t *) &tcp, dgram), LURE_EINVAL);
  EXPECT(lure_udp_open(&h, -1), LURE_EBADF);
  gone = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(gone, 0);
  close(gone);
  EXPECT(lure_udp_open(&h, gone), LURE_EBADF);

  /* Not a socket, or not a datagram socket. */
  ck_assert_int_eq(pipe(fds), 0);
  EXPECT(lure_udp_open(&h, fds[0]), LURE_ENOTSOCK);
  ck_assert_int_eq(fd_nonblocking(fds[0]), 0);
  stream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(stream, 0);
  EXPECT(lure_udp_open(&h, stream), LURE_EINVAL);
  ck_assert_int_eq(fd_nonblocking(stream), 0);

  /* A handle that has a socket already: lure made it, or it was opened. */
  ck_assert_int_eq(lure_udp_init_ex(&loop, &made, AF_INET), 0);
  EXPECT(lure_udp_open(&made, dgram), LURE_EBUSY);
  /* The socket of another handle of the loop that receives on it (libuv
   * refuses a watched descriptor only). */
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  ck_assert_int_eq(lure_udp_bind(&made, (struct sockaddr *) &a4, 0), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &made, &used), 0);
  ck_assert_int_eq(lure_udp_recv_start(&made, any_alloc, any_recv), 0);
  EXPECT(lure_udp_open(&h, used), LURE_EEXIST);
  /* A closing handle. */
  ck_assert_int_eq(lure_udp_init(&loop, &closing), 0);
  lure_close((lure_handle_t *) &closing, NULL);
  EXPECT(lure_udp_open(&closing, dgram), LURE_EINVAL);

  /* None of that took dgram, or changed it: it still opens. */
  ck_assert_int_eq(fd_nonblocking(dgram), 0);
  EXPECT(lure_udp_open(&h, dgram), 0);
  EXPECT(lure_udp_open(&h, stream), LURE_EBUSY);
  lt_loop_finish(&loop);
  close(stream);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

/* ---- send queue counters, recvmmsg --------------------------------------- */

/*
 * The counters must be visible while sends are queued, on every path.  A
 * UDP socket over loopback never says EAGAIN, a Unix datagram socket whose
 * peer does not read does: one end of a socketpair, adopted with a small
 * send buffer, queues most of SQ_N sends until a poll handle drains the
 * other end.  The counters drop as datagrams leave (callbacks may run in
 * batches after that): the callback of the i-th send sees at most the
 * SQ_N - 1 - i sends behind it.
 */
#define SQ_N 64
#define SQ_LEN 200

struct sq {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_udp_t h;
  lure_poll_t drain;
  int other;
  lure_udp_send_t req[SQ_N];
  char data[SQ_N][SQ_LEN];
  int cbs;
  int errs;
  int mismatch;         /* a getter differed from its public field */
  int too_many;         /* a callback saw more sends queued than could be:
                           more than before, or than those behind it */
  size_t last_count;
  int received;
};

static void sq_check(struct sq *q) {
  if (lure_udp_get_send_queue_size(&q->h) != q->h.send_queue_size ||
      lure_udp_get_send_queue_count(&q->h) != q->h.send_queue_count)
    q->mismatch++;
}

static void sq_send_cb(lure_udp_send_t *req, int status) {
  struct sq *q = req->data;

  if (status != 0)
    q->errs++;
  sq_check(q);
  if (lure_udp_get_send_queue_count(&q->h) > q->last_count ||
      lure_udp_get_send_queue_count(&q->h) > (size_t) (SQ_N - 1 - q->cbs))
    q->too_many++;
  q->last_count = lure_udp_get_send_queue_count(&q->h);
  if (++q->cbs == SQ_N) {
    lure_close((lure_handle_t *) &q->h, NULL);
    lure_close((lure_handle_t *) &q->drain, NULL);
  }
}

static void sq_drain_cb(lure_poll_t *p, int status, int events) {
  struct sq *q = p->data;
  char buf[SQ_LEN];

  while (recv(q->other, buf, sizeof(buf), MSG_DONTWAIT) == SQ_LEN)
    q->received++;
}

START_TEST(udp_send_queue_counters) {
  struct sq *q = calloc(1, sizeof(*q));
  lure_tcp_t tcp;
  int sv[2];
  int sndbuf = 4096;
  size_t count;
  int i;

  lt_loop_init(&q->loop);
  lt_watchdog(&q->loop, &q->wd, LT_NET_WATCHDOG_MS, "send queue counters");
  ck_assert_uint_eq(lure_udp_get_send_queue_size(NULL), 0);
  ck_assert_uint_eq(lure_udp_get_send_queue_count(NULL), 0);
  ck_assert_int_eq(lure_tcp_init(&q->loop, &tcp), 0);
  ck_assert_uint_eq(lure_udp_get_send_queue_count((lure_udp_t *) &tcp), 0);
  ck_assert_int_eq(lure_udp_init(&q->loop, &q->h), 0);
  ck_assert_uint_eq(lure_udp_get_send_queue_size(&q->h), 0);
  ck_assert_uint_eq(lure_udp_get_send_queue_count(&q->h), 0);

  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
  q->other = sv[1];
  EXPECT(lure_udp_open(&q->h, sv[0]), 0);
  EXPECT(lure_send_buffer_size((lure_handle_t *) &q->h, &sndbuf), 0);
  for (i = 0; i < SQ_N; i++) {
    lure_buf_t b = lure_buf_init(q->data[i], SQ_LEN);

    memset(q->data[i], 'a' + i % 26, SQ_LEN);
    q->req[i].data = q;
    EXPECT(lure_udp_send(&q->req[i], &q->h, &b, 1, NULL, sq_send_cb), 0);
    sq_check(q);
  }
  count = lure_udp_get_send_queue_count(&q->h);
  ck_assert_msg(count > 0 && count <= SQ_N, "set %s: %zu of %d sends queued "
                "on a full socket", lt_set() ? lt_set() : "(none)", count,
                SQ_N);
  ck_assert_uint_eq(lure_udp_get_send_queue_size(&q->h), count * SQ_LEN);
  ck_assert_int_eq(q->cbs, 0);
  q->last_count = SQ_N;

  ck_assert_int_eq(lure_poll_init(&q->loop, &q->drain, sv[1]), 0);
  q->drain.data = q;
  ck_assert_int_eq(lure_poll_start(&q->drain, LURE_READABLE, sq_drain_cb), 0);
  lt_run(&q->loop);
  ck_assert_int_eq(q->cbs, SQ_N);
  ck_assert_int_eq(q->errs, 0);
  ck_assert_int_eq(q->mismatch, 0);
  ck_assert_int_eq(q->too_many, 0);
  ck_assert_int_eq(q->last_count, 0);
  ck_assert_uint_eq(q->h.send_queue_size, 0);
  sq_drain_cb(&q->drain, 0, LURE_READABLE);
  ck_assert_int_eq(q->received, SQ_N);
  lt_loop_finish(&q->loop);
  close(sv[1]);
  free(q);
}
END_TEST

/* lure never receives with recvmmsg(2), and says so; libuv's flag that
 * asks for it is accepted. */
START_TEST(udp_using_recvmmsg) {
  lure_loop_t loop;
  lure_udp_t h;
  lure_udp_t hinted;
  lure_udp_t bad;
  lure_tcp_t tcp;
  struct sockaddr_in a4;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tcp_init(&loop, &tcp), 0);
  EXPECT(lure_udp_using_recvmmsg(NULL), LURE_EINVAL);
  EXPECT(lure_udp_using_recvmmsg((lure_udp_t *) &tcp), LURE_EINVAL);
  ck_assert_int_eq(lure_udp_init(&loop, &h), 0);
  EXPECT(lure_udp_using_recvmmsg(&h), 0);
  EXPECT(lure_udp_init_ex(&loop, &hinted, AF_INET | LURE_UDP_RECVMMSG), 0);
  EXPECT(lure_udp_init_ex(&loop, &bad, AF_INET | 0x200), LURE_EINVAL);
  EXPECT(lure_udp_using_recvmmsg(&hinted), 0);
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  EXPECT(lure_udp_bind(&hinted, (struct sockaddr *) &a4, 0), 0);
  EXPECT(lure_udp_recv_start(&hinted, any_alloc, any_recv), 0);
  EXPECT(lure_udp_using_recvmmsg(&hinted), 0);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- lure_udp_set_source_membership -------------------------------------- */

/* A group in the source-specific range 232/8 of this process's own, so
 * that the sets running side by side never hear each other. */
static void ssm_group4(char *buf, size_t size) {
  unsigned pid = (unsigned) getpid();

  snprintf(buf, size, "232.%u.%u.%u", (pid >> 16) & 255, (pid >> 8) & 255,
           pid & 255);
}

static void ssm_group6(char *buf, size_t size) {
  snprintf(buf, size, "ff3e::%x:%x", ((unsigned) getpid() >> 16) & 0xffff,
           (unsigned) getpid() & 0xffff);
}

/* Every argument refused before anything happens: the handle is not even
 * bound. */
START_TEST(udp_source_membership_errors) {
  lure_loop_t loop;
  lure_udp_t h;
  lure_udp_t closing;
  lure_tcp_t tcp;
  struct sockaddr_storage ss;
  char g4[32];
  char g6[48];
  int nlen = (int) sizeof(ss);

  ssm_group4(g4, sizeof(g4));
  ssm_group6(g6, sizeof(g6));
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_udp_init(&loop, &h), 0);
  ck_assert_int_eq(lure_tcp_init(&loop, &tcp), 0);
  ck_assert_int_eq(lure_udp_init(&loop, &closing), 0);
  lure_close((lure_handle_t *) &closing, NULL);

  EXPECT(lure_udp_set_source_membership(NULL, g4, NULL, "127.0.0.1",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  EXPECT(lure_udp_set_source_membership((lure_udp_t *) &tcp, g4, NULL,
                                        "127.0.0.1", LURE_JOIN_GROUP),
         LURE_EINVAL);
  EXPECT(lure_udp_set_source_membership(&closing, g4, NULL, "127.0.0.1",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  EXPECT(lure_udp_set_source_membership(&h, NULL, NULL, "127.0.0.1",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  EXPECT(lure_udp_set_source_membership(&h, g4, NULL, NULL, LURE_JOIN_GROUP),
         LURE_EINVAL);
  EXPECT(lure_udp_set_source_membership(&h, g4, NULL, "127.0.0.1",
                                        (lure_membership) 2), LURE_EINVAL);
  EXPECT(lure_udp_set_source_membership(&h, "232.1.2", NULL, "127.0.0.1",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  EXPECT(lure_udp_set_source_membership(&h, "", NULL, "127.0.0.1",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  EXPECT(lure_udp_set_source_membership(&h, g4, NULL, "127.0.0.256",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  EXPECT(lure_udp_set_source_membership(&h, g4, "nowhere", "127.0.0.1",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  /* Families mixed: the group's decides, the others must follow it. */
  EXPECT(lure_udp_set_source_membership(&h, g4, NULL, "::1",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  EXPECT(lure_udp_set_source_membership(&h, g4, "::1", "127.0.0.1",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  EXPECT(lure_udp_set_source_membership(&h, g6, NULL, "127.0.0.1",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  EXPECT(lure_udp_set_source_membership(&h, g6, "127.0.0.1", "::1",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  EXPECT(lure_udp_getsockname(&h, (struct sockaddr *) &ss, &nlen),
         LURE_EBADF);

  /* Well-formed, but refused by the kernel: not a multicast group (the
   * handle is bound by then, as for a join that works). */
  EXPECT(lure_udp_set_source_membership(&h, "127.0.0.1", NULL, "127.0.0.1",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  lt_loop_finish(&loop);
}
END_TEST

/*
 * Join and leave for real, on loopback, and check the kernel filters by
 * source: two receivers bound to the group and one port, one joined for
 * source 127.0.0.1, the other for 127.0.0.2; a sender on 127.0.0.1 sends
 * to the group through the loopback interface.  The first hears it, the
 * second does not; after the first leaves, it hears nothing more.
 */
struct ssm {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_udp_t rx_yes;
  lure_udp_t rx_no;
  lure_udp_t tx;
  lure_udp_send_t req;
  struct sockaddr_storage group;
  int yes;
  int no;
  int bad;
  int send_status;
  char rbuf[64];
};

static void ssm_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct ssm *m = h->data;

  buf->base = m->rbuf;
  buf->len = sizeof(m->rbuf);
}

static void ssm_recv(lure_udp_t *h, ssize_t n, const lure_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags) {
  struct ssm *m = h->data;

  if (n == 0 && addr == NULL)
    return;
  if (n != 3 || memcmp(buf->base, "ssm", 3) != 0)
    m->bad++;
  else if (h == &m->rx_yes)
    m->yes++;
  else
    m->no++;
}

static void ssm_send_cb(lure_udp_send_t *req, int status) {
  struct ssm *m = req->data;

  m->send_status = status;
}

static void ssm_send(struct ssm *m) {
  lure_buf_t b = lure_buf_init("ssm", 3);

  m->req.data = m;
  m->send_status = 1;
  EXPECT(lure_udp_send(&m->req, &m->tx, &b, 1, (struct sockaddr *) &m->group,
                       ssm_send_cb), 0);
  lt_run_for(&m->loop, 200);
  ck_assert_msg(m->send_status == 0, "send to the group: %s",
                lt_err(m->send_status));
}

START_TEST(udp_source_membership_ipv4) {
  struct ssm *m = calloc(1, sizeof(*m));
  struct sockaddr_in a4;
  char g4[32];
  int port = lt_net_free_port(AF_INET, SOCK_DGRAM);

  ssm_group4(g4, sizeof(g4));
  lt_loop_init(&m->loop);
  lt_watchdog(&m->loop, &m->wd, LT_NET_WATCHDOG_MS, "source-specific multicast");
  ck_assert_int_eq(lure_ip4_addr(g4, port, &a4), 0);
  memcpy(&m->group, &a4, sizeof(a4));
  ck_assert_int_eq(lure_udp_init(&m->loop, &m->rx_yes), 0);
  ck_assert_int_eq(lure_udp_init(&m->loop, &m->rx_no), 0);
  ck_assert_int_eq(lure_udp_init(&m->loop, &m->tx), 0);
  m->rx_yes.data = m->rx_no.data = m->tx.data = m;
  EXPECT(lure_udp_bind(&m->rx_yes, (struct sockaddr *) &a4,
                       LURE_UDP_REUSEADDR), 0);
  EXPECT(lure_udp_bind(&m->rx_no, (struct sockaddr *) &a4,
                       LURE_UDP_REUSEADDR), 0);
  EXPECT(lure_udp_set_source_membership(&m->rx_yes, g4, "127.0.0.1",
                                        "127.0.0.1", LURE_JOIN_GROUP), 0);
  EXPECT(lure_udp_set_source_membership(&m->rx_no, g4, "127.0.0.1",
                                        "127.0.0.2", LURE_JOIN_GROUP), 0);
  EXPECT(lure_udp_recv_start(&m->rx_yes, ssm_alloc, ssm_recv), 0);
  EXPECT(lure_udp_recv_start(&m->rx_no, ssm_alloc, ssm_recv), 0);
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  EXPECT(lure_udp_bind(&m->tx, (struct sockaddr *) &a4, 0), 0);
  EXPECT(lure_udp_set_multicast_interface(&m->tx, "127.0.0.1"), 0);
  EXPECT(lure_udp_set_multicast_loop(&m->tx, 1), 0);

  ssm_send(m);
  ck_assert_int_eq(m->bad, 0);
  ck_assert_msg(m->yes == 1, "the receiver joined for 127.0.0.1 got %d "
                "datagrams, want 1", m->yes);
  ck_assert_msg(m->no == 0, "the receiver joined for 127.0.0.2 got %d "
                "datagrams from 127.0.0.1", m->no);

  /* Leaving: the first hears nothing more; leaving twice is the kernel's
   * error. */
  EXPECT(lure_udp_set_source_membership(&m->rx_no, g4, "127.0.0.1",
                                        "127.0.0.2", LURE_LEAVE_GROUP), 0);
  lure_close((lure_handle_t *) &m->rx_no, NULL);
  EXPECT(lure_udp_set_source_membership(&m->rx_yes, g4, "127.0.0.1",
                                        "127.0.0.1", LURE_LEAVE_GROUP), 0);
  ck_assert_int_lt(lure_udp_set_source_membership(&m->rx_yes, g4,
                                                  "127.0.0.1", "127.0.0.1",
                                                  LURE_LEAVE_GROUP), 0);
  ssm_send(m);
  ck_assert_int_eq(m->bad, 0);
  ck_assert_msg(m->yes == 1, "%d datagrams after leaving", m->yes - 1);
  ck_assert_int_eq(m->no, 0);
  lt_loop_finish(&m->loop);
  free(m);
}
END_TEST

/* IPv6: a join and a leave on the loopback interface, named by the zone of
 * interface_addr; an unbound handle is bound to :: by the join. */
START_TEST(udp_source_membership_ipv6) {
  lure_loop_t loop;
  lure_udp_t h;
  struct sockaddr_storage ss;
  int nlen = (int) sizeof(ss);
  char g6[48];

  if (!lt_net_have_ipv6()) {
    printf("udp_source_membership_ipv6: no IPv6 here, skipped\n");
    return;
  }
  ssm_group6(g6, sizeof(g6));
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_udp_init(&loop, &h), 0);
  EXPECT(lure_udp_set_source_membership(&h, g6, "::1%lo", "::1",
                                        LURE_JOIN_GROUP), 0);
  EXPECT(lure_udp_getsockname(&h, (struct sockaddr *) &ss, &nlen), 0);
  ck_assert_int_eq(ss.ss_family, AF_INET6);
  EXPECT(lure_udp_set_source_membership(&h, g6, "::1%lo", "::1",
                                        LURE_LEAVE_GROUP), 0);
  ck_assert_int_lt(lure_udp_set_source_membership(&h, g6, "::1%lo", "::1",
                                                  LURE_LEAVE_GROUP), 0);
  /* Not a multicast group. */
  EXPECT(lure_udp_set_source_membership(&h, "::1", "::1%lo", "::1",
                                        LURE_JOIN_GROUP), LURE_EINVAL);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- lure_tcp_simultaneous_accepts, lure_pipe_pending_instances ---------- */

/* Neither changes anything on Linux (as in libuv on Unix): a server told
 * either way still takes every connection; the pipe calls take anything,
 * NULL included. */
struct sa {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_tcp_t server;
  lure_tcp_t conns[2];
  int accepted;
};

static void sa_conn_cb(lure_stream_t *server, int status) {
  struct sa *a = server->data;

  ck_assert_int_eq(status, 0);
  ck_assert_int_lt(a->accepted, 2);
  ck_assert_int_eq(lure_tcp_init(&a->loop, &a->conns[a->accepted]), 0);
  EXPECT(lure_accept(server, (lure_stream_t *) &a->conns[a->accepted]), 0);
  if (++a->accepted == 2)
    lure_close((lure_handle_t *) server, NULL);
}

START_TEST(tcp_simultaneous_accepts_noop) {
  struct sa *a = calloc(1, sizeof(*a));
  struct sockaddr_storage ss;
  lure_udp_t udp;
  lure_tcp_t closing;
  int fds[2];
  int i;

  lt_loop_init(&a->loop);
  lt_watchdog(&a->loop, &a->wd, LT_NET_WATCHDOG_MS, "simultaneous accepts");
  ck_assert_int_eq(lure_udp_init(&a->loop, &udp), 0);
  ck_assert_int_eq(lure_tcp_init(&a->loop, &closing), 0);
  lure_close((lure_handle_t *) &closing, NULL);
  EXPECT(lure_tcp_simultaneous_accepts(NULL, 1), LURE_EINVAL);
  EXPECT(lure_tcp_simultaneous_accepts((lure_tcp_t *) &udp, 1), LURE_EINVAL);
  EXPECT(lure_tcp_simultaneous_accepts(&closing, 1), LURE_EINVAL);

  ck_assert_int_eq(lure_tcp_init(&a->loop, &a->server), 0);
  a->server.data = a;
  EXPECT(lure_tcp_simultaneous_accepts(&a->server, 0), 0);
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_tcp_bind(&a->server, (struct sockaddr *) &ss, 0), 0);
  ck_assert_int_eq(lure_listen((lure_stream_t *) &a->server, 8, sa_conn_cb),
                   0);
  EXPECT(lure_tcp_simultaneous_accepts(&a->server, 1), 0);
  EXPECT(lure_tcp_simultaneous_accepts(&a->server, 0), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &a->server), 1);
  lt_net_loopback(AF_INET, lt_net_tcp_port(&a->server), &ss);
  for (i = 0; i < 2; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fds[i], 0);
    ck_assert_int_eq(connect(fds[i], (struct sockaddr *) &ss, sa_len(&ss)),
                     0);
  }
  lt_run(&a->loop);
  ck_assert_int_eq(a->accepted, 2);
  lt_loop_finish(&a->loop);
  close(fds[0]);
  close(fds[1]);
  free(a);
}
END_TEST

START_TEST(pipe_pending_instances_noop) {
  lure_loop_t loop;
  lure_pipe_t pipe_h;
  lure_pipe_t ipc;
  lure_tcp_t tcp;
  char dir[256];
  char path[300];

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_pipe_init(&loop, &pipe_h, 0), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &ipc, 1), 0);
  ck_assert_int_eq(lure_tcp_init(&loop, &tcp), 0);
  lure_pipe_pending_instances(NULL, 4);
  lure_pipe_pending_instances((lure_pipe_t *) &tcp, 4);
  lure_pipe_pending_instances(&pipe_h, -1);
  lure_pipe_pending_instances(&pipe_h, 0);
  lure_pipe_pending_instances(&ipc, 1 << 20);
  ck_assert_int_eq(lure_pipe_pending_count(&ipc), 0);
  ck_assert_int_eq(lure_pipe_pending_type(&ipc), LURE_UNKNOWN_HANDLE);
  /* The handles are as they were: the pipe still binds and listens. */
  lt_tmpdir(dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/sock", dir);
  EXPECT(lure_pipe_bind(&pipe_h, path), 0);
  lure_pipe_pending_instances(&pipe_h, 8);
  EXPECT(lure_listen((lure_stream_t *) &pipe_h, 4, never_conn_cb), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &pipe_h), 1);
  lt_loop_finish(&loop);
  lt_rmtree(dir);
}
END_TEST

/* ---- lure_pipe_chmod ----------------------------------------------------- */

static mode_t mode_of(const char *path) {
  struct stat st;

  ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
  ck_assert_msg(S_ISSOCK(st.st_mode), "%s is not a socket", path);
  return st.st_mode & 07777;
}

/* Read and write for everyone are added to the socket file's mode, never
 * taken away; the file is found by the socket's own name, so a socket
 * bound before lure_pipe_open() works too. */
START_TEST(pipe_chmod_modes) {
  lure_loop_t loop;
  lure_pipe_t a;
  lure_pipe_t b;
  char dir[256];
  char pa[300];
  char pb[300];
  struct sockaddr_un sun;
  mode_t old_mask;
  int fd;

  lt_tmpdir(dir, sizeof(dir));
  snprintf(pa, sizeof(pa), "%s/a.sock", dir);
  snprintf(pb, sizeof(pb), "%s/b.sock", dir);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_pipe_init(&loop, &a, 0), 0);
  old_mask = umask(077);
  EXPECT(lure_pipe_bind(&a, pa), 0);
  umask(old_mask);
  ck_assert_int_eq(mode_of(pa), 0700);
  EXPECT(lure_pipe_chmod(&a, LURE_READABLE), 0);
  ck_assert_int_eq(mode_of(pa), 0744);
  EXPECT(lure_pipe_chmod(&a, LURE_WRITABLE), 0);
  ck_assert_int_eq(mode_of(pa), 0766);
  EXPECT(lure_pipe_chmod(&a, LURE_READABLE | LURE_WRITABLE), 0);
  ck_assert_int_eq(mode_of(pa), 0766);
  ck_assert_int_eq(chmod(pa, 0), 0);
  EXPECT(lure_pipe_chmod(&a, LURE_READABLE | LURE_WRITABLE), 0);
  ck_assert_int_eq(mode_of(pa), 0666);
  /* Listening changes nothing to that. */
  ck_assert_int_eq(chmod(pa, 0600), 0);
  EXPECT(lure_listen((lure_stream_t *) &a, 4, never_conn_cb), 0);
  EXPECT(lure_pipe_chmod(&a, LURE_WRITABLE), 0);
  ck_assert_int_eq(mode_of(pa), 0622);

  /* Bound by the program, then adopted. */
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, pb, strlen(pb));
  ck_assert_int_eq(bind(fd, (struct sockaddr *) &sun, sizeof(sun)), 0);
  ck_assert_int_eq(chmod(pb, 0600), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &b, 0), 0);
  EXPECT(lure_pipe_open(&b, fd), 0);
  EXPECT(lure_pipe_chmod(&b, LURE_READABLE), 0);
  ck_assert_int_eq(mode_of(pb), 0644);
  lt_loop_finish(&loop);
  lt_rmtree(dir);
}
END_TEST

START_TEST(pipe_chmod_errors) {
  lure_loop_t loop;
  lure_pipe_t fresh;
  lure_pipe_t bound;
  lure_pipe_t abstract;
  lure_pipe_t paired;
  lure_pipe_t fifo;
  lure_pipe_t closing;
  lure_tcp_t tcp;
  char dir[256];
  char path[300];
  char name[64];
  int sv[2];
  int fds[2];

  lt_tmpdir(dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/s", dir);
  snprintf(name, sizeof(name), "@lure-parity-%d", (int) getpid());
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tcp_init(&loop, &tcp), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &fresh, 0), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &closing, 0), 0);
  lure_close((lure_handle_t *) &closing, NULL);

  /* libuv's answers: no handle and a closing one have no descriptor. */
  EXPECT(lure_pipe_chmod(NULL, LURE_READABLE), LURE_EBADF);
  EXPECT(lure_pipe_chmod((lure_pipe_t *) &tcp, LURE_READABLE), LURE_EINVAL);
  EXPECT(lure_pipe_chmod(&closing, LURE_READABLE), LURE_EBADF);
  EXPECT(lure_pipe_chmod(&fresh, LURE_READABLE), LURE_EBADF);

  ck_assert_int_eq(lure_pipe_init(&loop, &bound, 0), 0);
  EXPECT(lure_pipe_bind(&bound, path), 0);
  ck_assert_int_eq(chmod(path, 0600), 0);
  EXPECT(lure_pipe_chmod(&bound, 0), LURE_EINVAL);
  EXPECT(lure_pipe_chmod(&bound, 4), LURE_EINVAL);
  EXPECT(lure_pipe_chmod(&bound, LURE_READABLE | 8), LURE_EINVAL);
  EXPECT(lure_pipe_chmod(&bound, -1), LURE_EINVAL);
  ck_assert_int_eq(mode_of(path), 0600);

  /* No file to change: an abstract name, a socket never bound. */
  ck_assert_int_eq(lure_pipe_init(&loop, &abstract, 0), 0);
  EXPECT(lure_pipe_bind(&abstract, name), 0);
  EXPECT(lure_pipe_chmod(&abstract, LURE_READABLE), LURE_EINVAL);
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &paired, 0), 0);
  EXPECT(lure_pipe_open(&paired, sv[0]), 0);
  EXPECT(lure_pipe_chmod(&paired, LURE_WRITABLE), LURE_EINVAL);
  /* Not a socket at all. */
  ck_assert_int_eq(pipe(fds), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &fifo, 0), 0);
  EXPECT(lure_pipe_open(&fifo, fds[0]), 0);
  EXPECT(lure_pipe_chmod(&fifo, LURE_READABLE), LURE_ENOTSOCK);
  /* The file went away behind lure's back. */
  ck_assert_int_eq(unlink(path), 0);
  EXPECT(lure_pipe_chmod(&bound, LURE_READABLE), LURE_ENOENT);

  lt_loop_finish(&loop);
  close(sv[1]);
  close(fds[1]);
  lt_rmtree(dir);
}
END_TEST

/* ---- lure_pipe, lure_socketpair ------------------------------------------ */

/* Bytes go from a to b. */
static void pass_bytes(int a, int b, const char *what) {
  char buf[16];
  ssize_t n;

  ck_assert_msg(write(a, "parity", 6) == 6, "%s: write: %s", what,
                strerror(errno));
  do
    n = read(b, buf, sizeof(buf));
  while (n < 0 && errno == EINTR);
  ck_assert_msg(n == 6 && memcmp(buf, "parity", 6) == 0, "%s: read %zd",
                what, n);
}

/* O_NONBLOCK exactly where asked, FD_CLOEXEC always, for every combination
 * of the flags; the descriptors carry bytes. */
START_TEST(pairs_flags) {
  static const int fl[2] = { 0, LURE_NONBLOCK_PIPE };
  lure_file fds[2];
  lure_os_sock_t socks[2];
  char what[64];
  int i;
  int j;

  for (i = 0; i < 2; i++) {
    for (j = 0; j < 2; j++) {
      snprintf(what, sizeof(what), "lure_pipe(%#x, %#x)", fl[i], fl[j]);
      EXPECT(lure_pipe(fds, fl[i], fl[j]), 0);
      ck_assert_msg(fd_nonblocking(fds[0]) == (i == 1), "%s: read end", what);
      ck_assert_msg(fd_nonblocking(fds[1]) == (j == 1), "%s: write end",
                    what);
      ck_assert_msg(fd_cloexec(fds[0]) && fd_cloexec(fds[1]),
                    "%s: not close-on-exec", what);
      pass_bytes(fds[1], fds[0], what);
      close(fds[0]);
      close(fds[1]);

      snprintf(what, sizeof(what), "lure_socketpair(%#x, %#x)", fl[i],
               fl[j]);
      EXPECT(lure_socketpair(SOCK_STREAM, 0, socks, fl[i], fl[j]), 0);
      ck_assert_msg(fd_nonblocking(socks[0]) == (i == 1), "%s: [0]", what);
      ck_assert_msg(fd_nonblocking(socks[1]) == (j == 1), "%s: [1]", what);
      ck_assert_msg(fd_cloexec(socks[0]) && fd_cloexec(socks[1]),
                    "%s: not close-on-exec", what);
      pass_bytes(socks[0], socks[1], what);
      pass_bytes(socks[1], socks[0], what);
      close(socks[0]);
      close(socks[1]);
    }
  }

  /* Datagrams keep their boundaries; SOCK_NONBLOCK in type (socketpair(2)
   * takes it) makes both ends non-blocking. */
  EXPECT(lure_socketpair(SOCK_DGRAM | SOCK_NONBLOCK, 0, socks, 0, 0), 0);
  ck_assert_int_eq(fd_nonblocking(socks[0]), 1);
  ck_assert_int_eq(fd_nonblocking(socks[1]), 1);
  ck_assert_int_eq(send(socks[0], "ab", 2, 0), 2);
  ck_assert_int_eq(send(socks[0], "cde", 3, 0), 3);
  {
    char buf[8];

    ck_assert_int_eq(recv(socks[1], buf, sizeof(buf), 0), 2);
    ck_assert_int_eq(recv(socks[1], buf, sizeof(buf), 0), 3);
  }
  close(socks[0]);
  close(socks[1]);
}
END_TEST

/* The lowest descriptor number not open now: the next one made. */
static int lowest_free_fd(void) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

  ck_assert_int_ge(fd, 0);
  close(fd);
  return fd;
}

START_TEST(pairs_errors) {
  lure_file fds[2] = { -7, -7 };
  lure_os_sock_t socks[2] = { -7, -7 };
  struct rlimit rl;
  struct rlimit low;

  EXPECT(lure_pipe(NULL, 0, 0), LURE_EINVAL);
  EXPECT(lure_pipe(fds, 1, 0), LURE_EINVAL);
  EXPECT(lure_pipe(fds, 0, 0x80), LURE_EINVAL);
  EXPECT(lure_pipe(fds, LURE_NONBLOCK_PIPE | 0x20, 0), LURE_EINVAL);
  EXPECT(lure_pipe(fds, -1, LURE_NONBLOCK_PIPE), LURE_EINVAL);
  EXPECT(lure_socketpair(SOCK_STREAM, 0, NULL, 0, 0), LURE_EINVAL);
  EXPECT(lure_socketpair(SOCK_STREAM, 0, socks, 2, 0), LURE_EINVAL);
  EXPECT(lure_socketpair(SOCK_STREAM, 0, socks, 0, LURE_NONBLOCK_PIPE | 4),
         LURE_EINVAL);
  /* socketpair(2)'s own refusals. */
  EXPECT(lure_socketpair(12345, 0, socks, 0, 0), LURE_EINVAL);
  EXPECT(lure_socketpair(SOCK_STREAM, 5, socks, 0, 0), LURE_EPROTONOSUPPORT);
  /* Out of descriptors. */
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  low = rl;
  low.rlim_cur = (rlim_t) lowest_free_fd();
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
  EXPECT(lure_pipe(fds, LURE_NONBLOCK_PIPE, 0), LURE_EMFILE);
  EXPECT(lure_socketpair(SOCK_STREAM, 0, socks, 0, LURE_NONBLOCK_PIPE),
         LURE_EMFILE);
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
  /* A failed call leaves the array alone. */
  ck_assert_int_eq(fds[0], -7);
  ck_assert_int_eq(fds[1], -7);
  ck_assert_int_eq(socks[0], -7);
  ck_assert_int_eq(socks[1], -7);
}
END_TEST

/* Both ends of a lure_socketpair() as pipe handles: "ping" one way, echoed
 * back the other, on the set's path; and a lure_pipe() as a pair of pipe
 * handles, to EOF. */
struct sp {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_pipe_t a;
  lure_pipe_t b;
  lure_pipe_t r;           /* lure_pipe(): the read end */
  lure_pipe_t w;           /* and the write end */
  lure_write_t wa;
  lure_write_t wb;
  lure_write_t ww;
  char abuf[64];
  char bbuf[64];
  char rbuf[64];
  size_t alen;
  size_t rlen;
  int echoed;
  int r_eof;
  int errs;
};

static void sp_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct sp *p = h->data;

  if (h == (lure_handle_t *) &p->a) {
    buf->base = p->abuf + p->alen;
    buf->len = sizeof(p->abuf) - p->alen;
  } else if (h == (lure_handle_t *) &p->b) {
    buf->base = p->bbuf;
    buf->len = sizeof(p->bbuf) / 2; /* the echo goes in the other half */
  } else {
    buf->base = p->rbuf + p->rlen;
    buf->len = sizeof(p->rbuf) - p->rlen;
  }
}

static void sp_write_cb(lure_write_t *req, int status) {
  struct sp *p = req->data;

  if (status != 0)
    p->errs++;
  if (req == &p->wa)
    LT_NET_CHECK_EXECUTOR(req, "a write on a socketpair end");
  if (req == &p->ww)
    lure_close((lure_handle_t *) &p->w, NULL);
}

static void sp_read_b(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct sp *p = s->data;
  lure_buf_t out;

  if (n <= 0) {
    if (n < 0)
      lure_close((lure_handle_t *) s, NULL);
    return;
  }
  /* Echo what came, as it came: the other side counts to 4. */
  memcpy(p->bbuf + 32, buf->base, (size_t) n);
  out = lure_buf_init(p->bbuf + 32, (unsigned int) n);
  p->wb.data = p;
  EXPECT(lure_write(&p->wb, s, &out, 1, sp_write_cb), 0);
}

static void sp_read_a(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct sp *p = s->data;

  if (n <= 0) {
    if (n < 0)
      p->errs++;
    return;
  }
  p->alen += (size_t) n;
  if (p->alen == 4) {
    p->echoed = memcmp(p->abuf, "ping", 4) == 0;
    lure_close((lure_handle_t *) &p->a, NULL);
    lure_close((lure_handle_t *) &p->b, NULL);
  }
}

static void sp_read_r(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct sp *p = s->data;

  if (n > 0) {
    p->rlen += (size_t) n;
  } else if (n == LURE_EOF) {
    p->r_eof = 1;
    lure_close((lure_handle_t *) s, NULL);
  } else if (n < 0) {
    p->errs++;
    lure_close((lure_handle_t *) s, NULL);
  }
}

START_TEST(pairs_as_pipe_handles) {
  struct sp *p = calloc(1, sizeof(*p));
  lure_os_sock_t socks[2];
  lure_file fds[2];
  lure_buf_t ping = lure_buf_init("ping", 4);
  lure_buf_t data = lure_buf_init("through a pipe", 14);

  lt_loop_init(&p->loop);
  lt_watchdog(&p->loop, &p->wd, LT_NET_WATCHDOG_MS, "pairs as pipe handles");
  EXPECT(lure_socketpair(SOCK_STREAM, 0, socks, LURE_NONBLOCK_PIPE,
                         LURE_NONBLOCK_PIPE), 0);
  ck_assert_int_eq(lure_pipe_init(&p->loop, &p->a, 0), 0);
  ck_assert_int_eq(lure_pipe_init(&p->loop, &p->b, 0), 0);
  p->a.data = p->b.data = p;
  EXPECT(lure_pipe_open(&p->a, socks[0]), 0);
  EXPECT(lure_pipe_open(&p->b, socks[1]), 0);
  EXPECT(lure_read_start((lure_stream_t *) &p->a, sp_alloc, sp_read_a), 0);
  EXPECT(lure_read_start((lure_stream_t *) &p->b, sp_alloc, sp_read_b), 0);
  p->wa.data = p;
  EXPECT(lure_write(&p->wa, (lure_stream_t *) &p->a, &ping, 1, sp_write_cb),
         0);

  EXPECT(lure_pipe(fds, 0, 0), 0);
  ck_assert_int_eq(lure_pipe_init(&p->loop, &p->r, 0), 0);
  ck_assert_int_eq(lure_pipe_init(&p->loop, &p->w, 0), 0);
  p->r.data = p->w.data = p;
  EXPECT(lure_pipe_open(&p->r, fds[0]), 0);
  EXPECT(lure_pipe_open(&p->w, fds[1]), 0);
  ck_assert_int_eq(lure_is_readable((lure_stream_t *) &p->r), 1);
  ck_assert_int_eq(lure_is_writable((lure_stream_t *) &p->r), 0);
  ck_assert_int_eq(lure_is_writable((lure_stream_t *) &p->w), 1);
  EXPECT(lure_read_start((lure_stream_t *) &p->r, sp_alloc, sp_read_r), 0);
  p->ww.data = p;
  EXPECT(lure_write(&p->ww, (lure_stream_t *) &p->w, &data, 1, sp_write_cb),
         0);
  lt_run(&p->loop);

  ck_assert_int_eq(p->errs, 0);
  ck_assert_msg(p->echoed == 1, "the echo through the socketpair: %zu "
                "bytes", p->alen);
  ck_assert_int_eq(p->r_eof, 1);
  ck_assert_uint_eq(p->rlen, 14);
  ck_assert_int_eq(memcmp(p->rbuf, "through a pipe", 14), 0);
  lt_loop_finish(&p->loop);
  free(p);
}
END_TEST

/* ---- lure_try_write2 ----------------------------------------------------- */

/*
 * The server end of a TCP connection travels over an IPC pipe pair with
 * lure_try_write2(), with one byte; the original handle closes at once.
 * The receiving pipe finds it queued when the byte is read
 * (lure_pipe_pending_count, lure_pipe_pending_type), takes it with
 * lure_accept, and writes through it to the client.
 */
struct tw {
  struct lt_net_pair p;
  lure_pipe_t pa;
  lure_pipe_t pb;
  lure_tcp_t passed;
  lure_write_t wreq;
  int try_rc;
  int pending_at_read;
  lure_handle_type type_at_read;
  int accept_rc;
  int pb_bytes;
  char pb_byte;
  char pbuf[8];
  char cbuf[64];
  size_t clen;
  int client_eof;
  int errs;
};

static void tw_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct tw *t = h->data;

  if (h == (lure_handle_t *) &t->pb) {
    buf->base = t->pbuf;
    buf->len = sizeof(t->pbuf);
  } else {
    buf->base = t->cbuf + t->clen;
    buf->len = sizeof(t->cbuf) - t->clen;
  }
}

static void tw_passed_write_cb(lure_write_t *req, int status) {
  struct tw *t = req->data;

  if (status != 0)
    t->errs++;
  /* The client sees EOF when the last descriptor of the connection goes. */
  lure_close((lure_handle_t *) &t->passed, NULL);
}

static void tw_pb_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct tw *t = s->data;
  lure_buf_t out = lure_buf_init("via the passed handle", 21);

  if (n <= 0) {
    if (n < 0)
      lure_close((lure_handle_t *) s, NULL);
    return;
  }
  t->pb_bytes += (int) n;
  t->pb_byte = buf->base[0];
  if (t->pb_bytes != 1)
    return;
  t->pending_at_read = lure_pipe_pending_count(&t->pb);
  t->type_at_read = lure_pipe_pending_type(&t->pb);
  ck_assert_int_eq(lure_tcp_init(&t->p.loop, &t->passed), 0);
  t->passed.data = t;
  t->accept_rc = lure_accept(s, (lure_stream_t *) &t->passed);
  /* Done with the pipe pair (whatever came: a failure ends the test). */
  lure_close((lure_handle_t *) &t->pa, NULL);
  lure_close((lure_handle_t *) &t->pb, NULL);
  if (t->accept_rc != 0)
    return;
  t->wreq.data = t;
  EXPECT(lure_write(&t->wreq, (lure_stream_t *) &t->passed, &out, 1,
                    tw_passed_write_cb), 0);
}

static void tw_client_read(lure_stream_t *s, ssize_t n,
                           const lure_buf_t *buf) {
  struct tw *t = s->data;

  if (n > 0) {
    t->clen += (size_t) n;
    return;
  }
  if (n == LURE_EOF)
    t->client_eof = 1;
  else if (n < 0)
    t->errs++;
  if (n < 0)
    lure_close((lure_handle_t *) s, NULL);
}

START_TEST(try_write2_passes_tcp) {
  struct tw *t = calloc(1, sizeof(*t));
  lure_os_sock_t sv[2];
  lure_buf_t h = lure_buf_init("H", 1);

  lt_net_pair_open(&t->p, LT_NET_WATCHDOG_MS, "passing a handle with try_write2");
  t->p.client.data = t;
  EXPECT(lure_socketpair(SOCK_STREAM, 0, sv, LURE_NONBLOCK_PIPE,
                         LURE_NONBLOCK_PIPE), 0);
  ck_assert_int_eq(lure_pipe_init(&t->p.loop, &t->pa, 1), 0);
  ck_assert_int_eq(lure_pipe_init(&t->p.loop, &t->pb, 1), 0);
  t->pa.data = t->pb.data = t;
  EXPECT(lure_pipe_open(&t->pa, sv[0]), 0);
  EXPECT(lure_pipe_open(&t->pb, sv[1]), 0);
  EXPECT(lure_read_start((lure_stream_t *) &t->pb, tw_alloc, tw_pb_read), 0);
  EXPECT(lure_read_start((lure_stream_t *) &t->p.client, tw_alloc,
                         tw_client_read), 0);

  t->try_rc = lure_try_write2((lure_stream_t *) &t->pa, &h, 1,
                              (lure_stream_t *) &t->p.server);
  ck_assert_msg(t->try_rc == 1, "lure_try_write2 with a TCP handle: %s",
                lt_err(t->try_rc));
  /* The descriptor is on its way: the sender's handle can go now. */
  lure_close((lure_handle_t *) &t->p.server, NULL);
  lt_run(&t->p.loop);

  ck_assert_int_eq(t->errs, 0);
  ck_assert_int_eq(t->pb_bytes, 1);
  ck_assert_int_eq(t->pb_byte, 'H');
  ck_assert_msg(t->pending_at_read == 1, "%d descriptors pending when the "
                "byte was read, want 1", t->pending_at_read);
  ck_assert_int_eq(t->type_at_read, LURE_TCP);
  ck_assert_msg(t->accept_rc == 0, "lure_accept: %s", lt_err(t->accept_rc));
  ck_assert_uint_eq(t->clen, 21);
  ck_assert_int_eq(memcmp(t->cbuf, "via the passed handle", 21), 0);
  ck_assert_int_eq(t->client_eof, 1);
  lt_loop_finish(&t->p.loop);
  free(t);
}
END_TEST

static void tw_any_write_cb(lure_write_t *req, int status) {
  int *calls = req->data;

  ck_assert_int_eq(status, 0);
  (*calls)++;
}

/* Every refusal; LURE_EAGAIN while the socket is full and while writes are
 * queued; then a handle sent to a plain socket arrives with the first
 * byte, as SCM_RIGHTS. */
START_TEST(try_write2_errors) {
  struct lt_net_pair *p = calloc(1, sizeof(*p));
  lure_pipe_t plain;
  lure_pipe_t ipc;
  lure_pipe_t nofd;
  lure_pipe_t closing;
  lure_pipe_t fifo;        /* an IPC pipe handle on a pipe(2) */
  lure_tcp_t fresh;
  lure_udp_t udp;
  lure_write_t wr;
  lure_shutdown_t sreq;
  lure_os_sock_t sv[2];
  lure_os_sock_t pv[2];
  lure_buf_t b = lure_buf_init("x", 1);
  lure_buf_t big;
  struct sockaddr_in a4;
  char *space = malloc(65536);
  int calls = 0;
  int filled = 0;
  int rc;

  ck_assert_ptr_nonnull(space);
  memset(space, 'z', 65536);
  big = lure_buf_init(space, 65536);
  lt_net_pair_open(p, LT_NET_WATCHDOG_MS, "try_write2 errors");
  EXPECT(lure_socketpair(SOCK_STREAM, 0, sv, LURE_NONBLOCK_PIPE, 0), 0);
  EXPECT(lure_socketpair(SOCK_STREAM, 0, pv, 0, 0), 0);
  ck_assert_int_eq(lure_pipe_init(&p->loop, &ipc, 1), 0);
  EXPECT(lure_pipe_open(&ipc, sv[0]), 0);
  ck_assert_int_eq(lure_pipe_init(&p->loop, &plain, 0), 0);
  EXPECT(lure_pipe_open(&plain, pv[0]), 0);
  ck_assert_int_eq(lure_pipe_init(&p->loop, &nofd, 1), 0);
  ck_assert_int_eq(lure_pipe_init(&p->loop, &closing, 1), 0);
  lure_close((lure_handle_t *) &closing, NULL);
  ck_assert_int_eq(lure_tcp_init(&p->loop, &fresh), 0);
  ck_assert_int_eq(lure_udp_init(&p->loop, &udp), 0);
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  ck_assert_int_eq(lure_udp_bind(&udp, (struct sockaddr *) &a4, 0), 0);

  EXPECT(lure_try_write2(NULL, &b, 1, NULL), LURE_EINVAL);
  EXPECT(lure_try_write2((lure_stream_t *) &udp, &b, 1, NULL), LURE_EINVAL);
  EXPECT(lure_try_write2((lure_stream_t *) &ipc, NULL, 1, NULL),
         LURE_EINVAL);
  EXPECT(lure_try_write2((lure_stream_t *) &ipc, &b, 0, NULL), LURE_EINVAL);
  EXPECT(lure_try_write2((lure_stream_t *) &closing, &b, 1, NULL),
         LURE_EINVAL);
  EXPECT(lure_try_write2((lure_stream_t *) &nofd, &b, 1,
                         (lure_stream_t *) &p->client), LURE_EBADF);
  /* A handle travels over an IPC pipe only, and must have a descriptor. */
  EXPECT(lure_try_write2((lure_stream_t *) &plain, &b, 1,
                         (lure_stream_t *) &p->client), LURE_EINVAL);
  EXPECT(lure_try_write2((lure_stream_t *) &p->client, &b, 1,
                         (lure_stream_t *) &p->server), LURE_EINVAL);
  EXPECT(lure_try_write2((lure_stream_t *) &ipc, &b, 1,
                         (lure_stream_t *) &fresh), LURE_EINVAL);
  EXPECT(lure_try_write2((lure_stream_t *) &ipc, &b, 1,
                         (lure_stream_t *) &udp), LURE_EINVAL);
  /* Without a handle, any stream will do. */
  EXPECT(lure_try_write2((lure_stream_t *) &plain, &b, 1, NULL), 1);
  /* An IPC pipe handle on a pipe(2): no way to pass a descriptor, where a
   * plain writev(2) would drop it silently. */
  {
    lure_write_t fw;
    int fds[2];

    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(lure_pipe_init(&p->loop, &fifo, 1), 0);
    EXPECT(lure_pipe_open(&fifo, fds[1]), 0);
    EXPECT(lure_try_write2((lure_stream_t *) &fifo, &b, 1,
                           (lure_stream_t *) &p->client), LURE_ENOTSOCK);
    EXPECT(lure_write2(&fw, (lure_stream_t *) &fifo, &b, 1,
                       (lure_stream_t *) &p->client, tw_any_write_cb),
           LURE_ENOTSOCK);
    EXPECT(lure_try_write2((lure_stream_t *) &fifo, &b, 1, NULL), 1);
    lure_close((lure_handle_t *) &fifo, NULL);
    close(fds[0]);
  }

  /* Full: the kernel's EAGAIN.  Then a queued write: lure's. */
  while ((rc = lure_try_write2((lure_stream_t *) &ipc, &big, 1, NULL)) > 0)
    filled += rc;
  ck_assert_msg(rc == LURE_EAGAIN, "filling the pipe: %s", lt_err(rc));
  ck_assert_int_gt(filled, 0);
  EXPECT(lure_try_write2((lure_stream_t *) &ipc, &b, 1,
                         (lure_stream_t *) &p->client), LURE_EAGAIN);
  wr.data = &calls;
  EXPECT(lure_write(&wr, (lure_stream_t *) &ipc, &b, 1, tw_any_write_cb), 0);
  while (recv(sv[1], space, 65536, MSG_DONTWAIT) > 0)
    ;
  EXPECT(lure_try_write2((lure_stream_t *) &ipc, &b, 1,
                         (lure_stream_t *) &p->client), LURE_EAGAIN);
  while (calls == 0)
    lure_run(&p->loop, LURE_RUN_ONCE);
  while (recv(sv[1], space, 65536, MSG_DONTWAIT) > 0)
    ;

  /* Room again, nothing queued: the handle goes with the byte. */
  EXPECT(lure_try_write2((lure_stream_t *) &ipc, &b, 1,
                         (lure_stream_t *) &p->client), 1);
  {
    union {
      char buf[CMSG_SPACE(sizeof(int))];
      struct cmsghdr align;
    } ctl;
    struct msghdr msg;
    struct iovec iov;
    struct cmsghdr *cm;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char c = 0;
    int got = -1;
    int type = 0;
    socklen_t tlen = sizeof(type);

    memset(&msg, 0, sizeof(msg));
    iov.iov_base = &c;
    iov.iov_len = 1;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof(ctl.buf);
    ck_assert_int_eq(recvmsg(sv[1], &msg, MSG_CMSG_CLOEXEC), 1);
    ck_assert_int_eq(c, 'x');
    cm = CMSG_FIRSTHDR(&msg);
    ck_assert_ptr_nonnull(cm);
    ck_assert_int_eq(cm->cmsg_type, SCM_RIGHTS);
    ck_assert_uint_eq(cm->cmsg_len, CMSG_LEN(sizeof(int)));
    memcpy(&got, CMSG_DATA(cm), sizeof(int));
    ck_assert_int_eq(getsockopt(got, SOL_SOCKET, SO_TYPE, &type, &tlen), 0);
    ck_assert_int_eq(type, SOCK_STREAM);
    ck_assert_int_eq(getsockname(got, (struct sockaddr *) &ss, &len), 0);
    ck_assert_int_eq(sa_port((struct sockaddr *) &ss),
                     lt_net_tcp_port(&p->client));
    close(got);
  }

  /* Shut for writing: EPIPE. */
  EXPECT(lure_shutdown(&sreq, (lure_stream_t *) &ipc, NULL), 0);
  EXPECT(lure_try_write2((lure_stream_t *) &ipc, &b, 1,
                         (lure_stream_t *) &p->client), LURE_EPIPE);
  lt_loop_finish(&p->loop);
  close(sv[1]);
  close(pv[1]);
  free(space);
  free(p);
}
END_TEST

static void fdu_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  (void) s;
  (void) n;
  (void) buf;
}

/* lure_tcp_open, lure_pipe_open and lure_udp_open refuse a descriptor
 * another handle of the loop is watching (listening, reading, receiving:
 * LURE_EEXIST, as libuv's uv__fd_exists), and leave both handles usable.
 * A descriptor another handle merely holds opens (see
 * uv144_stdio_two_handles). */
START_TEST(open_fd_in_use) {
  lure_loop_t loop;
  lure_tcp_t made;
  lure_tcp_t t2;
  lure_pipe_t p1;
  lure_pipe_t p2;
  lure_udp_t u1;
  lure_udp_t u2;
  struct sockaddr_in a4;
  lure_os_fd_t used;
  int sv[2];

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tcp_init(&loop, &made), 0);
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  ck_assert_int_eq(lure_tcp_bind(&made, (struct sockaddr *) &a4, 0), 0);
  ck_assert_int_eq(lure_listen((lure_stream_t *) &made, 4, never_conn_cb), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &made, &used), 0);
  ck_assert_int_eq(lure_tcp_init(&loop, &t2), 0);
  ck_assert_int_eq(lure_tcp_open(&t2, used), LURE_EEXIST);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &t2, &used), LURE_EBADF);

  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &p1, 0), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &p2, 0), 0);
  ck_assert_int_eq(lure_pipe_open(&p1, sv[0]), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &p1, any_alloc,
                                   fdu_read), 0);
  ck_assert_int_eq(lure_pipe_open(&p2, sv[0]), LURE_EEXIST);
  ck_assert_int_eq(lure_pipe_open(&p2, sv[1]), 0);

  ck_assert_int_eq(lure_udp_init(&loop, &u1), 0);
  ck_assert_int_eq(lure_udp_init(&loop, &u2), 0);
  ck_assert_int_eq(lure_udp_bind(&u1, (struct sockaddr *) &a4, 0), 0);
  ck_assert_int_eq(lure_udp_recv_start(&u1, any_alloc, any_recv), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &u1, &used), 0);
  ck_assert_int_eq(lure_udp_open(&u2, used), LURE_EEXIST);
  /* The refused handles took nothing: the loop closes each fd once. */
  lure_close((lure_handle_t *) &made, NULL);
  lure_close((lure_handle_t *) &t2, NULL);
  lure_close((lure_handle_t *) &p1, NULL);
  lure_close((lure_handle_t *) &p2, NULL);
  lure_close((lure_handle_t *) &u1, NULL);
  lure_close((lure_handle_t *) &u2, NULL);
  lt_loop_finish(&loop);
}
END_TEST

/* The implicit bind of an adopted, unbound IPv6 socket keeps the
 * IPV6_V6ONLY the program set (libuv touches it only for
 * LURE_UDP_IPV6ONLY). */
START_TEST(udp_open_keeps_v6only) {
  lure_loop_t loop;
  lure_udp_t h;
  int on = 1;
  int got = 0;
  socklen_t len = sizeof(got);
  int sock;

  if (!lt_net_have_ipv6()) {
    printf("udp_open_keeps_v6only: no IPv6 here, skipped\n");
    return;
  }
  sock = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(sock, 0);
  ck_assert_int_eq(setsockopt(sock, IPPROTO_IPV6, IPV6_V6ONLY, &on,
                              sizeof(on)), 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_udp_init(&loop, &h), 0);
  ck_assert_int_eq(lure_udp_open(&h, sock), 0);
  ck_assert_int_eq(lure_udp_set_ttl(&h, 9), 0);
  /* The first receive binds it to the wildcard address. */
  ck_assert_int_eq(lure_udp_recv_start(&h, any_alloc, any_recv), 0);
  ck_assert_int_eq(getsockopt(sock, IPPROTO_IPV6, IPV6_V6ONLY, &got, &len),
                   0);
  ck_assert_int_eq(got, 1);
  lure_close((lure_handle_t *) &h, NULL);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- libuv 1.44's answers, as its own test suite checks them ------------ */

struct u144 {
  struct lt_net_pair p;
  lure_write_t wr;
  lure_shutdown_t sreq;
  lure_connect_t creq;
  lure_tcp_t extra;
  char buf[64];
  int reads;
  int eofs;
  int errors;
  int last;
  int connects;
  int connect_status;
  int connect_seen_by_read;  /* read_cb ran after connect_cb */
  int readable_at_cb;
  int writable_at_cb;
  int write_rc_at_cb;
  int in_call;
  int conns;
};

/* The loop, its watchdog, and a TCP listener on a free loopback port with
 * connection callback cb; ss gets the listener's address. */
static void u144_listen(struct u144 *u, const char *what, int backlog,
                        lure_connection_cb cb, struct sockaddr_storage *ss) {
  lure_loop_t *loop = &u->p.loop;

  lt_loop_init(loop);
  lt_watchdog(loop, &u->p.wd, LT_NET_WATCHDOG_MS, what);
  ck_assert_int_eq(lure_tcp_init(loop, &u->p.listener), 0);
  lt_net_loopback(AF_INET, 0, ss);
  ck_assert_int_eq(lure_tcp_bind(&u->p.listener, (struct sockaddr *) ss, 0),
                   0);
  ck_assert_int_eq(lure_listen((lure_stream_t *) &u->p.listener, backlog,
                               cb), 0);
  lt_net_loopback(AF_INET, lt_net_tcp_port(&u->p.listener), ss);
}

static void u144_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct u144 *u = h->data;

  (void) sz;
  buf->base = u->buf;
  buf->len = sizeof(u->buf);
}

static void u144_write_cb(lure_write_t *req, int status) {
  (void) req;
  (void) status;
}

static void u144_any_read(lure_stream_t *s, ssize_t n, const lure_buf_t *b) {
  (void) s;
  (void) n;
  (void) b;
}

/* lure_listen with no callback, as libuv takes it (tcp_open_bound,
 * tcp_listen_without_bind, tcp_bind_writable_flags, pipe_bind_error_*):
 * the connection waits for lure_accept(); a listener is neither readable
 * nor writable, and says so as libuv does. */
START_TEST(uv144_listen_null_cb) {
  struct u144 *u = calloc(1, sizeof(*u));
  lure_loop_t *loop = &u->p.loop;
  lure_tcp_t srv;
  lure_tcp_t nobind;
  lure_tcp_t acc;
  lure_pipe_t ps;
  struct sockaddr_storage ss;
  lure_buf_t b = lure_buf_init("PING", 4);
  char dir[256];
  char path[300];
  int c;
  int i;
  int rc = LURE_EAGAIN;

  lt_loop_init(loop);
  lt_watchdog(loop, &u->p.wd, LT_NET_WATCHDOG_MS, "listen without a callback");
  ck_assert_int_eq(lure_tcp_init(loop, &srv), 0);
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_tcp_bind(&srv, (struct sockaddr *) &ss, 0), 0);
  EXPECT(lure_listen((lure_stream_t *) &srv, 8, NULL), 0);
  EXPECT(lure_is_readable((lure_stream_t *) &srv), 0);
  EXPECT(lure_is_writable((lure_stream_t *) &srv), 0);
  EXPECT(lure_write(&u->wr, (lure_stream_t *) &srv, &b, 1, u144_write_cb),
         LURE_EPIPE);
  EXPECT(lure_shutdown(&u->sreq, (lure_stream_t *) &srv, NULL),
         LURE_ENOTCONN);
  EXPECT(lure_read_start((lure_stream_t *) &srv, u144_alloc, u144_any_read),
         LURE_ENOTCONN);
  ck_assert_int_eq(lure_tcp_init(loop, &nobind), 0);
  EXPECT(lure_listen((lure_stream_t *) &nobind, 8, NULL), 0);

  /* A client arrives; with nobody told, it waits to be accepted. */
  c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(c, 0);
  lt_net_loopback(AF_INET, lt_net_tcp_port(&srv), &ss);
  ck_assert_int_eq(connect(c, (struct sockaddr *) &ss, sa_len(&ss)), 0);
  ck_assert_int_eq(lure_tcp_init(loop, &acc), 0);
  for (i = 0; i < 200 && rc == LURE_EAGAIN; i++) {
    lt_run_for(loop, 5);
    rc = lure_accept((lure_stream_t *) &srv, (lure_stream_t *) &acc);
  }
  EXPECT(rc, 0);
  EXPECT(lure_is_writable((lure_stream_t *) &acc), 1);

  /* A pipe server too. */
  lt_tmpdir(dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/s", dir);
  ck_assert_int_eq(lure_pipe_init(loop, &ps, 0), 0);
  ck_assert_int_eq(lure_pipe_bind(&ps, path), 0);
  EXPECT(lure_listen((lure_stream_t *) &ps, 8, NULL), 0);
  lt_loop_finish(loop);
  close(c);
  lt_rmtree(dir);
  free(u);
}
END_TEST

static int sockopt_int(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof(v);

  ck_assert_int_eq(getsockopt(fd, level, name, &v, &len), 0);
  return v;
}

/* TCP_NODELAY and keep-alive set on a handle without a socket are kept for
 * the socket to come (tcp_flags, tcp_oob), with libuv's probe interval
 * and count; turning one off before then is kept too. */
START_TEST(uv144_tcp_options_before_socket) {
  lure_loop_t loop;
  lure_tcp_t h;
  lure_tcp_t off;
  lure_tcp_t opened;
  struct sockaddr_storage ss;
  lure_os_fd_t fd;
  int sock;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tcp_init(&loop, &h), 0);
  EXPECT(lure_tcp_nodelay(&h, 1), 0);
  EXPECT(lure_tcp_keepalive(&h, 1, 77), 0);
  EXPECT(lure_tcp_keepalive(&h, 1, 0), LURE_EINVAL);
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_tcp_bind(&h, (struct sockaddr *) &ss, 0), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &h, &fd), 0);
  ck_assert_int_eq(sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
  ck_assert_int_eq(sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  ck_assert_int_eq(sockopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 77);
  ck_assert_int_eq(sockopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 1);
  ck_assert_int_eq(sockopt_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 10);

  ck_assert_int_eq(lure_tcp_init(&loop, &off), 0);
  EXPECT(lure_tcp_nodelay(&off, 1), 0);
  EXPECT(lure_tcp_nodelay(&off, 0), 0);
  EXPECT(lure_tcp_keepalive(&off, 1, 5), 0);
  EXPECT(lure_tcp_keepalive(&off, 0, 0), 0);
  ck_assert_int_eq(lure_tcp_bind(&off, (struct sockaddr *) &ss, 0), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &off, &fd), 0);
  ck_assert_int_eq(sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
  ck_assert_int_eq(sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);

  /* A socket handed over by lure_tcp_open gets them as well. */
  ck_assert_int_eq(lure_tcp_init(&loop, &opened), 0);
  EXPECT(lure_tcp_nodelay(&opened, 1), 0);
  sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(sock, 0);
  EXPECT(lure_tcp_open(&opened, sock), 0);
  ck_assert_int_eq(sockopt_int(sock, IPPROTO_TCP, TCP_NODELAY), 1);
  lt_loop_finish(&loop);
}
END_TEST

static void u144_ea_read(lure_stream_t *s, ssize_t n, const lure_buf_t *b) {
  (void) s;
  (void) n;
  (void) b;
}

/* A second lure_read_start is EALREADY, as in libuv 1.44 (shutdown_eof,
 * shutdown_simultaneous); after lure_read_stop it starts again. */
START_TEST(uv144_read_start_twice) {
  struct u144 *u = calloc(1, sizeof(*u));
  lure_stream_t *cs;

  lt_net_pair_open(&u->p, LT_NET_WATCHDOG_MS, "read_start twice");
  cs = (lure_stream_t *) &u->p.client;
  u->p.client.data = u;
  EXPECT(lure_read_start(cs, u144_alloc, u144_ea_read), 0);
  EXPECT(lure_read_start(cs, u144_alloc, u144_ea_read), LURE_EALREADY);
  EXPECT(lure_read_start_borrowed(cs, u144_ea_read), LURE_EALREADY);
  EXPECT(lure_read_stop(cs), 0);
  EXPECT(lure_read_start(cs, u144_alloc, u144_ea_read), 0);
  lt_loop_finish(&u->p.loop);
  free(u);
}
END_TEST

static void u144_rc_conn_cb(lure_stream_t *server, int status) {
  struct u144 *u = server->data;
  static lure_buf_t b = { "x", 1 };

  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(lure_tcp_init(server->loop, &u->p.server), 0);
  ck_assert_int_eq(lure_accept(server, (lure_stream_t *) &u->p.server), 0);
  ck_assert_int_eq(lure_write(&u->wr, (lure_stream_t *) &u->p.server, &b, 1,
                              u144_write_cb), 0);
  u->conns++;
}

static void u144_rc_connect_cb(lure_connect_t *req, int status) {
  struct u144 *u = req->data;

  u->connects++;
  u->connect_status = status;
}

static void u144_rc_read(lure_stream_t *s, ssize_t n, const lure_buf_t *b) {
  struct u144 *u = s->data;

  if (n == 0)
    return;
  u->connect_seen_by_read = u->connects;
  u->last = (int) n;
  if (n == 1 && b->base[0] == 'x')
    u->reads++;
  else if (n == LURE_EOF)
    u->eofs++;
  else
    u->errors++;
  lure_close((lure_handle_t *) s, NULL);
}

/* lure_read_start while the connect is under way (tcp_close_accept): the
 * reads begin once connected; when the connect fails, the reader hears
 * EOF after the connect callback, as libuv's read(2) of the socket says. */
START_TEST(uv144_read_during_connect) {
  struct u144 *u = calloc(1, sizeof(*u));
  lure_loop_t *loop = &u->p.loop;
  struct sockaddr_storage ss;

  lt_loop_init(loop);
  lt_watchdog(loop, &u->p.wd, LT_NET_WATCHDOG_MS, "read during connect");
  ck_assert_int_eq(lure_tcp_init(loop, &u->p.listener), 0);
  u->p.listener.data = u;
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_tcp_bind(&u->p.listener, (struct sockaddr *) &ss, 0),
                   0);
  ck_assert_int_eq(lure_listen((lure_stream_t *) &u->p.listener, 4,
                               u144_rc_conn_cb), 0);
  ck_assert_int_eq(lure_tcp_init(loop, &u->p.client), 0);
  u->p.client.data = u;
  u->creq.data = u;
  lt_net_loopback(AF_INET, lt_net_tcp_port(&u->p.listener), &ss);
  EXPECT(lure_tcp_connect(&u->creq, &u->p.client, (struct sockaddr *) &ss,
                          u144_rc_connect_cb), 0);
  EXPECT(lure_is_readable((lure_stream_t *) &u->p.client), 1);
  EXPECT(lure_read_start((lure_stream_t *) &u->p.client, u144_alloc,
                         u144_rc_read), 0);
  while (u->reads + u->errors + u->eofs == 0)
    lure_run(loop, LURE_RUN_ONCE);
  ck_assert_int_eq(u->connects, 1);
  ck_assert_int_eq(u->connect_status, 0);
  ck_assert_msg(u->reads == 1, "read during connect: %s", lt_err(u->last));
  ck_assert_int_eq(u->connect_seen_by_read, 1);

  /* Refused: connect_cb, then EOF. */
  u->connects = 0;
  u->reads = 0;
  ck_assert_int_eq(lure_tcp_init(loop, &u->extra), 0);
  u->extra.data = u;
  lt_net_loopback(AF_INET, lt_net_free_port(AF_INET, SOCK_STREAM), &ss);
  EXPECT(lure_tcp_connect(&u->creq, &u->extra, (struct sockaddr *) &ss,
                          u144_rc_connect_cb), 0);
  EXPECT(lure_read_start((lure_stream_t *) &u->extra, u144_alloc,
                         u144_rc_read), 0);
  while (u->reads + u->errors + u->eofs == 0)
    lure_run(loop, LURE_RUN_ONCE);
  ck_assert_int_eq(u->connects, 1);
  ck_assert_int_eq(u->connect_status, LURE_ECONNREFUSED);
  ck_assert_msg(u->eofs == 1, "read after a refused connect: %s",
                lt_err(u->last));
  ck_assert_int_eq(u->connect_seen_by_read, 1);
  lt_loop_finish(loop);
  free(u);
}
END_TEST

static void u144_err_read(lure_stream_t *s, ssize_t n, const lure_buf_t *b) {
  struct u144 *u = s->data;
  static lure_buf_t x = { "x", 1 };

  (void) b;
  if (n >= 0)
    return;
  u->last = (int) n;
  if (n == LURE_EOF) {
    u->eofs++;
  } else {
    u->errors++;
    u->readable_at_cb = lure_is_readable(s);
    u->writable_at_cb = lure_is_writable(s);
    u->write_rc_at_cb = lure_write(&u->wr, s, &x, 1, u144_write_cb);
  }
  lure_close((lure_handle_t *) s, NULL);
}

/* After a read error the stream is neither readable nor writable
 * (not_readable_nor_writable_on_read_error), and a write is EPIPE. */
START_TEST(uv144_read_error_not_writable) {
  struct u144 *u = calloc(1, sizeof(*u));

  lt_net_pair_open(&u->p, LT_NET_WATCHDOG_MS, "read error");
  u->p.client.data = u;
  EXPECT(lure_read_start((lure_stream_t *) &u->p.client, u144_alloc,
                         u144_err_read), 0);
  EXPECT(lure_tcp_close_reset(&u->p.server, NULL), 0);
  lt_run(&u->p.loop);
  ck_assert_msg(u->errors == 1, "want a read error, got %s", lt_err(u->last));
  ck_assert_int_eq(u->readable_at_cb, 0);
  ck_assert_int_eq(u->writable_at_cb, 0);
  EXPECT(u->write_rc_at_cb, LURE_EPIPE);
  lt_loop_finish(&u->p.loop);
  free(u);
}
END_TEST

static void u144_eof_read(lure_stream_t *s, ssize_t n, const lure_buf_t *b) {
  struct u144 *u = s->data;

  (void) b;
  if (n >= 0)
    return;
  u->last = (int) n;
  if (n != LURE_EOF) {
    u->errors++;
    lure_close((lure_handle_t *) s, NULL);
    return;
  }
  ck_assert_int_eq(lure_is_readable(s), 1);
  ck_assert_int_eq(lure_is_writable(s), 1);
  if (++u->eofs == 3) {
    lure_close((lure_handle_t *) s, NULL);
    ck_assert_int_eq(lure_is_readable(s), 0);
    ck_assert_int_eq(lure_is_writable(s), 0);
  } else {
    ck_assert_int_eq(lure_read_start(s, u144_alloc, u144_eof_read), 0);
  }
}

/* EOF leaves the stream readable, and reading again reads EOF again
 * (readable_on_eof); a closing stream is neither readable nor writable. */
START_TEST(uv144_readable_on_eof) {
  struct u144 *u = calloc(1, sizeof(*u));

  lt_net_pair_open(&u->p, LT_NET_WATCHDOG_MS, "readable on EOF");
  u->p.client.data = u;
  EXPECT(lure_read_start((lure_stream_t *) &u->p.client, u144_alloc,
                         u144_eof_read), 0);
  EXPECT(lure_shutdown(&u->sreq, (lure_stream_t *) &u->p.server, NULL), 0);
  lt_run_for(&u->p.loop, 300);
  ck_assert_msg(u->eofs == 3 && u->errors == 0, "%d EOFs, %d errors (%s)",
                u->eofs, u->errors, lt_err(u->last));
  lt_loop_finish(&u->p.loop);
  free(u);
}
END_TEST

static int u144_counting_allocs;

static void u144_counting_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  u144_counting_allocs++;
  u144_alloc(h, sz, buf);
}

static void u144_end_buf_read(lure_stream_t *s, ssize_t n,
                              const lure_buf_t *b) {
  struct u144 *u = s->data;

  if (n >= 0)
    return;
  u->last = (int) n;
  /* The end comes with the buffer alloc_cb gave, as libuv's does. */
  ck_assert_ptr_eq(b->base, u->buf);
  if (n == LURE_EOF)
    u->eofs++;
  else
    u->errors++;
  lure_close((lure_handle_t *) s, NULL);
}

/* libuv calls alloc_cb before each read(2), so the read that meets the end
 * of the stream, or a reset, brings a buffer of alloc_cb's, which programs
 * free in read_cb (tcp_rst: alloc_cb once, then ECONNRESET).  The ring
 * learns of the end without a buffer; lure asks alloc_cb for one. */
START_TEST(uv144_end_comes_with_alloc_buffer) {
  struct u144 *u = calloc(1, sizeof(*u));

  lt_net_pair_open(&u->p, LT_NET_WATCHDOG_MS, "end with an alloc_cb buffer");
  u->p.client.data = u;
  u144_counting_allocs = 0;
  EXPECT(lure_read_start((lure_stream_t *) &u->p.client, u144_counting_alloc,
                         u144_end_buf_read), 0);
  EXPECT(lure_tcp_close_reset(&u->p.server, NULL), 0);
  lt_run(&u->p.loop);
  ck_assert_msg(u->errors == 1, "want a reset, got %s", lt_err(u->last));
  ck_assert_int_ge(u144_counting_allocs, 1);
  lt_loop_finish(&u->p.loop);
  free(u);

  u = calloc(1, sizeof(*u));
  lt_net_pair_open(&u->p, LT_NET_WATCHDOG_MS, "EOF with an alloc_cb buffer");
  u->p.client.data = u;
  u144_counting_allocs = 0;
  EXPECT(lure_read_start((lure_stream_t *) &u->p.client, u144_counting_alloc,
                         u144_end_buf_read), 0);
  EXPECT(lure_shutdown(&u->sreq, (lure_stream_t *) &u->p.server, NULL), 0);
  lt_run_for(&u->p.loop, 300);
  ck_assert_msg(u->eofs == 1, "want EOF, got %s", lt_err(u->last));
  ck_assert_int_ge(u144_counting_allocs, 1);
  lt_loop_finish(&u->p.loop);
  free(u);
}
END_TEST

static void u144_inuse_connect_cb(lure_connect_t *req, int status) {
  struct u144 *u = req->data;

  ck_assert_int_eq(u->in_call, 0);
  u->connects++;
  u->connect_status = status;
  lure_close((lure_handle_t *) req->handle, NULL);
}

/* Connecting from an address in use: lure_tcp_connect() accepts it and
 * the callback gets EADDRINUSE (tcp_bind_error_addrinuse_connect);
 * getsockname says EADDRINUSE meanwhile. */
START_TEST(uv144_connect_from_address_in_use) {
  struct u144 *u = calloc(1, sizeof(*u));
  lure_loop_t *loop = &u->p.loop;
  struct sockaddr_storage ss;
  struct sockaddr_storage name;
  int nlen = (int) sizeof(name);

  u144_listen(u, "connect from an address in use", 4, never_conn_cb, &ss);
  ck_assert_int_eq(lure_tcp_init(loop, &u->p.client), 0);
  EXPECT(lure_tcp_bind(&u->p.client, (struct sockaddr *) &ss, 0), 0);
  u->creq.data = u;
  lt_net_loopback(AF_INET, lt_net_free_port(AF_INET, SOCK_STREAM), &ss);
  u->in_call = 1;
  EXPECT(lure_tcp_connect(&u->creq, &u->p.client, (struct sockaddr *) &ss,
                          u144_inuse_connect_cb), 0);
  u->in_call = 0;
  EXPECT(lure_tcp_getsockname(&u->p.client, (struct sockaddr *) &name, &nlen),
         LURE_EADDRINUSE);
  lure_close((lure_handle_t *) &u->p.listener, NULL);
  lt_run(loop);
  ck_assert_int_eq(u->connects, 1);
  EXPECT(u->connect_status, LURE_EADDRINUSE);
  lt_loop_finish(loop);
  free(u);
}
END_TEST

static void u144_refused_connect_cb(lure_connect_t *req, int status) {
  struct u144 *u = req->data;

  u->connects++;
  u->connect_status = status;
  lure_close((lure_handle_t *) req->handle, NULL);
}

/* A listener closed by lure_close() stops listening at once, as libuv's
 * does: a connect made right after, to its address, is refused rather
 * than completed into the backlog of the closing socket
 * (tcp_close_accept: on the ring, IORING_OP_CONNECT completed with 0). */
START_TEST(uv144_closed_listener_refuses) {
  struct u144 *u = calloc(1, sizeof(*u));
  lure_loop_t *loop = &u->p.loop;
  struct sockaddr_storage ss;

  u144_listen(u, "connect to a closed listener", 4, never_conn_cb, &ss);
  lure_close((lure_handle_t *) &u->p.listener, NULL);
  ck_assert_int_eq(lure_tcp_init(loop, &u->p.client), 0);
  u->creq.data = u;
  EXPECT(lure_tcp_connect(&u->creq, &u->p.client, (struct sockaddr *) &ss,
                          u144_refused_connect_cb), 0);
  lt_run(loop);
  ck_assert_int_eq(u->connects, 1);
  EXPECT(u->connect_status, LURE_ECONNREFUSED);
  lt_loop_finish(loop);
  free(u);
}
END_TEST

static void u144_shared_conn_cb(lure_stream_t *server, int status) {
  struct u144 *u = server->data;

  u->conns++;
  if (status == 0 && lure_tcp_init(server->loop, &u->extra) == 0 &&
      lure_accept(server, (lure_stream_t *) &u->extra) == 0)
    lure_close((lure_handle_t *) &u->extra, NULL);
  lure_close((lure_handle_t *) server, NULL);
}

static void u144_shared_connect_cb(lure_connect_t *req, int status) {
  struct u144 *u = req->data;

  u->connects++;
  u->connect_status = status;
  lure_close((lure_handle_t *) req->handle, NULL);
}

/* Closing one handle of a listening socket that another handle shares (a
 * dup, as after fork or a listener passed over IPC) closes only that
 * descriptor: the socket goes on listening for the other (libuv's
 * tcp_multi_accept benchmark passes one listener to several loops). */
START_TEST(uv144_close_shared_listener) {
  struct u144 *u = calloc(1, sizeof(*u));
  lure_loop_t *loop = &u->p.loop;
  struct sockaddr_storage ss;
  lure_os_fd_t fd = -1;

  u144_listen(u, "shared listener", 4, never_conn_cb, &ss);
  EXPECT(lure_fileno((lure_handle_t *) &u->p.listener, &fd), 0);
  ck_assert_int_eq(lure_tcp_init(loop, &u->p.server), 0);
  EXPECT(lure_tcp_open(&u->p.server, dup(fd)), 0);
  u->p.server.data = u;
  EXPECT(lure_listen((lure_stream_t *) &u->p.server, 4, u144_shared_conn_cb),
         0);
  /* One turn so that both listeners are armed, then close the first. */
  (void) lure_run(loop, LURE_RUN_NOWAIT);
  lure_close((lure_handle_t *) &u->p.listener, NULL);
  ck_assert_int_eq(lure_tcp_init(loop, &u->p.client), 0);
  u->creq.data = u;
  EXPECT(lure_tcp_connect(&u->creq, &u->p.client, (struct sockaddr *) &ss,
                          u144_shared_connect_cb), 0);
  lt_run(loop);
  ck_assert_int_eq(u->connects, 1);
  EXPECT(u->connect_status, 0);
  ck_assert_int_eq(u->conns, 1);
  lt_loop_finish(loop);
  free(u);
}
END_TEST

/* ---- two handles on one standard descriptor ---- */

struct sd {
  lure_pipe_t a;
  lure_pipe_t b;
  lure_pipe_t c;
  lure_write_t wr;
  char buf[64];
  size_t got;
  int reads_a;
  int reads_b;
  int writes;
};

static void sd_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct sd *d = h->data;

  (void) sz;
  buf->base = d->buf + d->got;
  buf->len = sizeof(d->buf) - 1 - d->got;
}

static void sd_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct sd *d = s->data;

  (void) buf;
  if (n <= 0)
    return;
  d->got += (size_t) n;
  if (s == (lure_stream_t *) &d->a)
    d->reads_a++;
  else
    d->reads_b++;
  lure_read_stop(s);
}

static void sd_write_cb(lure_write_t *req, int status) {
  struct sd *d = req->data;

  EXPECT(status, 0);
  d->writes++;
}

/* libuv's stdio_over_pipes helper: two pipe handles on fd 0 both open (a
 * descriptor another handle holds without watching it is not refused),
 * one reads, stops in its callback, then the other reads the next bytes
 * (nothing was taken ahead of time for the first); a third handle is
 * refused while one reads.  Closing them leaves fd 0 open: a stream never
 * closes fds 0-2, as libuv's. */
START_TEST(uv144_stdio_two_handles) {
  struct sd *d = calloc(1, sizeof(*d));
  lure_loop_t loop;
  lure_timer_t wd;
  lure_buf_t b;
  char back[8];
  int saved;
  int sv[2];

  ck_assert_ptr_nonnull(d);
  saved = dup(0);
  ck_assert_int_ge(saved, 0);
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ck_assert_int_eq(dup2(sv[0], 0), 0);
  close(sv[0]);

  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "two handles on fd 0");
  ck_assert_int_eq(lure_pipe_init(&loop, &d->a, 0), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &d->b, 0), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &d->c, 0), 0);
  d->a.data = d->b.data = d->c.data = d;
  EXPECT(lure_pipe_open(&d->a, 0), 0);
  EXPECT(lure_pipe_open(&d->b, 0), 0);
  EXPECT(lure_read_start((lure_stream_t *) &d->a, sd_alloc, sd_read), 0);
  EXPECT(lure_pipe_open(&d->c, 0), LURE_EEXIST);

  ck_assert_int_eq(write(sv[1], "one", 3), 3);
  while (d->reads_a == 0)
    (void) lure_run(&loop, LURE_RUN_ONCE);
  EXPECT(lure_read_start((lure_stream_t *) &d->b, sd_alloc, sd_read), 0);
  ck_assert_int_eq(write(sv[1], "two", 3), 3);
  while (d->reads_b == 0)
    (void) lure_run(&loop, LURE_RUN_ONCE);
  ck_assert_int_eq(d->reads_a, 1);
  ck_assert_int_eq((int) d->got, 6);
  ck_assert(memcmp(d->buf, "onetwo", 6) == 0);

  b = lure_buf_init("back", 4);
  d->wr.data = d;
  EXPECT(lure_write(&d->wr, (lure_stream_t *) &d->b, &b, 1, sd_write_cb), 0);
  lt_run(&loop);
  ck_assert_int_eq(d->writes, 1);
  ck_assert_int_eq(read(sv[1], back, sizeof(back)), 4);
  ck_assert(memcmp(back, "back", 4) == 0);

  lure_close((lure_handle_t *) &d->a, NULL);
  lure_close((lure_handle_t *) &d->b, NULL);
  lure_close((lure_handle_t *) &d->c, NULL);
  lt_loop_finish(&loop);
  /* fd 0 is still the socket. */
  ck_assert_int_ne(fcntl(0, F_GETFD), -1);
  ck_assert_int_eq(write(0, "x", 1), 1);
  ck_assert_int_eq(read(sv[1], back, 1), 1);
  ck_assert_int_eq(back[0], 'x');
  ck_assert_int_eq(dup2(saved, 0), 0);
  close(saved);
  close(sv[1]);
  free(d);
}
END_TEST

/* ---- a listening socket two processes share ---- */

static void sl_close_free(lure_handle_t *h) {
  free(h);
}

static void sl_conn_cb(lure_stream_t *server, int status) {
  int *accepted = server->data;
  lure_tcp_t *c;

  if (status != 0)
    return;
  c = malloc(sizeof(*c));
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(lure_tcp_init(server->loop, c), 0);
  EXPECT(lure_accept(server, (lure_stream_t *) c), 0);
  lure_close((lure_handle_t *) c, sl_close_free);
  if (++*accepted == 4)
    lure_close((lure_handle_t *) server, NULL);
}

/* A listener lure did not make (lure_tcp_open), shared with a forked
 * process that listens on it too but does not run its loop: every
 * connection still reaches this process, as with libuv's readiness.  A
 * multishot accept armed in the other process took them all (exclusive
 * wake-ups), which starved the helper of libuv's ipc_listen_* tests. */
START_TEST(uv144_shared_listener_not_starved) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_tcp_t server;
  struct sockaddr_in a4;
  socklen_t len = sizeof(a4);
  int accepted = 0;
  int ready[2];
  int done[2];
  int clients[4];
  int lsock;
  int status;
  pid_t pid;
  char c;
  int i;

  lsock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(lsock, 0);
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  ck_assert_int_eq(bind(lsock, (struct sockaddr *) &a4, sizeof(a4)), 0);
  ck_assert_int_eq(listen(lsock, 16), 0);
  ck_assert_int_eq(getsockname(lsock, (struct sockaddr *) &a4, &len), 0);
  ck_assert_int_eq(pipe(ready), 0);
  ck_assert_int_eq(pipe(done), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    lure_loop_t cl;
    lure_tcp_t cs;
    int child_accepted = 0;

    if (lure_loop_init(&cl) != 0 || lure_tcp_init(&cl, &cs) != 0 ||
        lure_tcp_open(&cs, lsock) != 0)
      _exit(10);
    cs.data = &child_accepted;
    if (lure_listen((lure_stream_t *) &cs, 16, sl_conn_cb) != 0)
      _exit(11);
    (void) lure_run(&cl, LURE_RUN_NOWAIT);
    (void) lure_run(&cl, LURE_RUN_NOWAIT);
    if (write(ready[1], "r", 1) != 1)
      _exit(12);
    /* Listening, but not running the loop until the parent is done. */
    if (read(done[0], &c, 1) != 1)
      _exit(13);
    _exit(0);
  }
  ck_assert_int_eq(read(ready[0], &c, 1), 1);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "shared listener");
  ck_assert_int_eq(lure_tcp_init(&loop, &server), 0);
  EXPECT(lure_tcp_open(&server, lsock), 0);
  server.data = &accepted;
  EXPECT(lure_listen((lure_stream_t *) &server, 16, sl_conn_cb), 0);
  (void) lure_run(&loop, LURE_RUN_NOWAIT);
  for (i = 0; i < 4; i++) {
    clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(clients[i], 0);
    ck_assert_int_eq(connect(clients[i], (struct sockaddr *) &a4,
                             sizeof(a4)), 0);
  }
  for (i = 0; i < 40 && accepted < 4; i++)
    lt_run_for(&loop, 50);
  ck_assert_int_eq(write(done[1], "d", 1), 1);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "child: status %d", status);
  ck_assert_msg(accepted == 4, "this process accepted %d of 4 connections",
                accepted);
  for (i = 0; i < 4; i++)
    close(clients[i]);
  close(ready[0]);
  close(ready[1]);
  close(done[0]);
  close(done[1]);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- a listener sent over IPC while the ring accepts on it ---- */

struct si {
  lure_pipe_t ipc;
  lure_tcp_t server;
  char buf[16];
  int got_server;
  int accepted;
  int writes;
};

static void si_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct si *x = h->data;

  (void) sz;
  buf->base = x->buf;
  buf->len = sizeof(x->buf);
}

static void si_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct si *x = s->data;

  (void) buf;
  if (n <= 0 || x->got_server)
    return;
  ck_assert_int_eq(lure_pipe_pending_count(&x->ipc), 1);
  ck_assert_int_eq(lure_pipe_pending_type(&x->ipc), LURE_TCP);
  ck_assert_int_eq(lure_tcp_init(s->loop, &x->server), 0);
  EXPECT(lure_accept(s, (lure_stream_t *) &x->server), 0);
  x->server.data = &x->accepted;
  EXPECT(lure_listen((lure_stream_t *) &x->server, 16, sl_conn_cb), 0);
  x->got_server = 1;
  lure_read_stop(s);
}

static void si_write_cb(lure_write_t *req, int status) {
  int *writes = req->data;

  if (status == 0)
    ++*writes;
}

/* libuv's ipc_listen_before_write: a process listens (on the ring: a
 * multishot accept), sends the listener over IPC and goes on listening
 * without running its loop for a while; the receiver listens too and must
 * get the connections.  Sending the listener turns the sender's accept
 * into readiness, as libuv's, instead of leaving a multishot accept that
 * the kernel gives every connection to. */
START_TEST(uv144_listener_sent_over_ipc) {
  struct si *x = calloc(1, sizeof(*x));
  lure_loop_t loop;
  lure_timer_t wd;
  struct sockaddr_in a4;
  socklen_t len = sizeof(a4);
  int ready[2];
  int done[2];
  int addr_pipe[2];
  int clients[4];
  int sv[2];
  int status;
  pid_t pid;
  char c;
  int i;

  ck_assert_ptr_nonnull(x);
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ck_assert_int_eq(pipe(ready), 0);
  ck_assert_int_eq(pipe(done), 0);
  ck_assert_int_eq(pipe(addr_pipe), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    lure_loop_t cl;
    lure_tcp_t ls;
    lure_pipe_t ch;
    lure_write_t wr;
    lure_buf_t b = lure_buf_init("h", 1);
    int child_accepted = 0;
    int writes = 0;
    int spins;

    close(sv[0]);
    if (lure_loop_init(&cl) != 0 || lure_tcp_init(&cl, &ls) != 0 ||
        lure_pipe_init(&cl, &ch, 1) != 0 || lure_pipe_open(&ch, sv[1]) != 0)
      _exit(10);
    if (lure_ip4_addr("127.0.0.1", 0, &a4) != 0 ||
        lure_tcp_bind(&ls, (struct sockaddr *) &a4, 0) != 0)
      _exit(11);
    ls.data = &child_accepted;
    if (lure_listen((lure_stream_t *) &ls, 16, sl_conn_cb) != 0)
      _exit(12);
    (void) lure_run(&cl, LURE_RUN_NOWAIT);
    wr.data = &writes;
    if (lure_write2(&wr, (lure_stream_t *) &ch, &b, 1, (lure_stream_t *) &ls,
                    si_write_cb) != 0)
      _exit(13);
    for (spins = 0; writes == 0 && spins < 1000; spins++)
      (void) lure_run(&cl, LURE_RUN_NOWAIT);
    (void) lure_run(&cl, LURE_RUN_NOWAIT);
    if (writes != 1)
      _exit(14);
    if (getsockname(ls.io_watcher.fd, (struct sockaddr *) &a4, &len) != 0 ||
        write(addr_pipe[1], &a4, sizeof(a4)) != (ssize_t) sizeof(a4) ||
        write(ready[1], "r", 1) != 1)
      _exit(15);
    /* Still listening, but not running the loop until the parent is done. */
    if (read(done[0], &c, 1) != 1)
      _exit(16);
    _exit(child_accepted == 0 ? 0 : 17);
  }
  close(sv[1]);
  ck_assert_int_eq(read(ready[0], &c, 1), 1);
  ck_assert_int_eq(read(addr_pipe[0], &a4, sizeof(a4)), (ssize_t) sizeof(a4));
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "listener sent over IPC");
  ck_assert_int_eq(lure_pipe_init(&loop, &x->ipc, 1), 0);
  x->ipc.data = x;
  EXPECT(lure_pipe_open(&x->ipc, sv[0]), 0);
  EXPECT(lure_read_start((lure_stream_t *) &x->ipc, si_alloc, si_read), 0);
  for (i = 0; i < 400 && !x->got_server; i++)
    (void) lure_run(&loop, LURE_RUN_ONCE);
  ck_assert(x->got_server);
  (void) lure_run(&loop, LURE_RUN_NOWAIT);
  for (i = 0; i < 4; i++) {
    clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(clients[i], 0);
    ck_assert_int_eq(connect(clients[i], (struct sockaddr *) &a4,
                             sizeof(a4)), 0);
  }
  for (i = 0; i < 40 && x->accepted < 4; i++)
    lt_run_for(&loop, 50);
  ck_assert_int_eq(write(done[1], "d", 1), 1);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "child: status %d", status);
  ck_assert_msg(x->accepted == 4, "the receiver accepted %d of 4 connections",
                x->accepted);
  for (i = 0; i < 4; i++)
    close(clients[i]);
  close(ready[0]);
  close(ready[1]);
  close(done[0]);
  close(done[1]);
  close(addr_pipe[0]);
  close(addr_pipe[1]);
  lure_close((lure_handle_t *) &x->ipc, NULL);
  lt_loop_finish(&loop);
  free(x);
}
END_TEST

static void u144_emfile_read(lure_stream_t *s, ssize_t n,
                             const lure_buf_t *b) {
  struct u144 *u = s->data;

  (void) b;
  if (n >= 0)
    return;
  u->last = (int) n;
  if (n == LURE_EOF)
    u->eofs++;
  else
    u->errors++;
  lure_close((lure_handle_t *) s, NULL);
  lure_close((lure_handle_t *) &u->p.listener, NULL);
}

static void u144_emfile_connect_cb(lure_connect_t *req, int status) {
  struct u144 *u = req->data;

  u->connects++;
  u->connect_status = status;
  ck_assert_int_eq(lure_read_start(req->handle, u144_alloc, u144_emfile_read),
                   0);
}

/* Out of descriptors, the server drops the connection instead of telling
 * its callback (libuv's emfile: a spare descriptor is given up, the
 * connection accepted and closed, the spare taken back); the client sees
 * its connection end. */
START_TEST(uv144_emfile_drops_connection) {
  struct u144 *u = calloc(1, sizeof(*u));
  lure_loop_t *loop = &u->p.loop;
  struct sockaddr_storage ss;
  struct rlimit rl;
  int first;
  int last;
  int fd;

  lt_loop_init(loop);
  lt_watchdog(loop, &u->p.wd, LT_NET_WATCHDOG_MS, "EMFILE on accept");
  ck_assert_int_eq(lure_tcp_init(loop, &u->p.listener), 0);
  ck_assert_int_eq(lure_tcp_init(loop, &u->p.client), 0);
  u->p.client.data = u;
  lt_net_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_tcp_bind(&u->p.listener, (struct sockaddr *) &ss, 0),
                   0);
  ck_assert_int_eq(lure_listen((lure_stream_t *) &u->p.listener, 8,
                               never_conn_cb), 0);
  /* Use every descriptor up but one, for the client's socket. */
  first = dup(0);
  ck_assert_int_ge(first, 0);
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  rl.rlim_cur = (rlim_t) first + 64;
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
  last = first;
  while ((fd = dup(0)) >= 0)
    last = fd;
  ck_assert_int_eq(errno, EMFILE);
  close(last);
  u->creq.data = u;
  lt_net_loopback(AF_INET, lt_net_tcp_port(&u->p.listener), &ss);
  EXPECT(lure_tcp_connect(&u->creq, &u->p.client, (struct sockaddr *) &ss,
                          u144_emfile_connect_cb), 0);
  lt_run(loop);
  for (fd = first; fd < last; fd++)
    close(fd);
  ck_assert_int_eq(u->connects, 1);
  EXPECT(u->connect_status, 0);
  ck_assert_msg(u->eofs + u->errors == 1, "the client's read: %d EOF, "
                "%d errors", u->eofs, u->errors);
  lt_loop_finish(loop);
  free(u);
}
END_TEST

/* UDP options need a socket: EBADF without one, as libuv (udp_no_autobind);
 * none is made for them. */
START_TEST(uv144_udp_options_ebadf) {
  lure_loop_t loop;
  lure_udp_t h;
  lure_udp_t made;
  lure_os_fd_t fd;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_udp_init(&loop, &h), 0);
  EXPECT(lure_udp_set_multicast_ttl(&h, 32), LURE_EBADF);
  EXPECT(lure_udp_set_broadcast(&h, 1), LURE_EBADF);
  EXPECT(lure_udp_set_ttl(&h, 1), LURE_EBADF);
  EXPECT(lure_udp_set_multicast_loop(&h, 1), LURE_EBADF);
  EXPECT(lure_udp_set_multicast_interface(&h, "0.0.0.0"), LURE_EBADF);
  EXPECT(lure_udp_set_ttl(&h, 0), LURE_EINVAL);
  EXPECT(lure_fileno((lure_handle_t *) &h, &fd), LURE_EBADF);
  ck_assert_int_eq(lure_udp_init_ex(&loop, &made, AF_INET), 0);
  EXPECT(lure_udp_set_multicast_ttl(&made, 32), 0);
  EXPECT(lure_udp_set_broadcast(&made, 1), 0);
  EXPECT(lure_udp_set_ttl(&made, 1), 0);
  EXPECT(lure_udp_set_multicast_loop(&made, 1), 0);
  EXPECT(lure_udp_set_multicast_interface(&made, "0.0.0.0"), 0);
  lt_loop_finish(&loop);
}
END_TEST

static void u144_unix_send_cb(lure_udp_send_t *req, int status) {
  int *st = req->data;

  *st = status;
}

/* lure_udp_open takes a Unix socket, even a listening stream one as
 * libuv's udp_send_unix does, and lure_udp_send a Unix address: here a
 * datagram reaches a socket bound to a path. */
START_TEST(uv144_udp_unix_address) {
  lure_loop_t loop;
  lure_udp_t h;
  lure_udp_t odd;
  lure_udp_send_t req;
  lure_udp_send_t req2;
  struct sockaddr_un sun;
  lure_buf_t b = lure_buf_init("PING", 4);
  char dir[96];
  char got[8];
  int st = 1;
  int st2 = 1;
  int rx;
  int tx;
  int ls;

  lt_tmpdir(dir, sizeof(dir));
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/d", dir);
  rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(rx, 0);
  ck_assert_int_eq(bind(rx, (struct sockaddr *) &sun, sizeof(sun)), 0);
  tx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(tx, 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_udp_init(&loop, &h), 0);
  EXPECT(lure_udp_open(&h, tx), 0);
  req.data = &st;
  EXPECT(lure_udp_send(&req, &h, &b, 1, (struct sockaddr *) &sun,
                       u144_unix_send_cb), 0);

  /* libuv's case: a listening Unix stream socket. */
  snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/l", dir);
  ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(ls, 0);
  ck_assert_int_eq(bind(ls, (struct sockaddr *) &sun, sizeof(sun)), 0);
  ck_assert_int_eq(listen(ls, 1), 0);
  ck_assert_int_eq(lure_udp_init(&loop, &odd), 0);
  EXPECT(lure_udp_open(&odd, ls), 0);
  req2.data = &st2;
  EXPECT(lure_udp_send(&req2, &odd, &b, 1, (struct sockaddr *) &sun,
                       u144_unix_send_cb), 0);
  lt_run(&loop);
  EXPECT(st, 0);
  ck_assert_msg(st2 < 0, "a send on a listening stream socket: %s",
                lt_err(st2));
  ck_assert_int_eq(recv(rx, got, sizeof(got), MSG_DONTWAIT), 4);
  ck_assert_int_eq(memcmp(got, "PING", 4), 0);
  lt_loop_finish(&loop);
  close(rx);
  lt_rmtree(dir);
}
END_TEST

/* An abstract name comes back as libuv gives it: "\0name", its length
 * counting the leading NUL (pipe_getsockname_abstract, which binds with
 * the whole sockaddr_un, so the name is padded with NULs). */
START_TEST(uv144_pipe_abstract_name) {
  lure_loop_t loop;
  lure_pipe_t p;
  struct sockaddr_un sun;
  char name[] = "\0lure-abstract-u144";
  char buf[256];
  size_t len = sizeof(buf);
  int sock;

  snprintf(name + 1, sizeof(name) - 1, "lure-abs-%05d", (int) getpid() % 100000);
  sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(sock, 0);
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, name, sizeof(name));
  ck_assert_int_eq(bind(sock, (struct sockaddr *) &sun, sizeof(sun)), 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_pipe_init(&loop, &p, 0), 0);
  EXPECT(lure_pipe_open(&p, sock), 0);
  EXPECT(lure_pipe_getsockname(&p, buf, &len), 0);
  ck_assert_uint_eq(len, sizeof(sun.sun_path));
  ck_assert_int_eq(memcmp(buf, name, sizeof(name)), 0);
  len = 10;
  EXPECT(lure_pipe_getsockname(&p, buf, &len), LURE_ENOBUFS);
  ck_assert_uint_eq(len, sizeof(sun.sun_path) + 1);
  lt_loop_finish(&loop);
}
END_TEST

/* An IPv6 zone is accepted by lure_inet_pton (ip6_pton) and becomes the
 * scope of lure_ip6_addr. */
START_TEST(uv144_ip6_zone) {
  struct in6_addr a;
  struct in6_addr want;
  struct in_addr a4;
  struct sockaddr_in6 s6;

  ck_assert_int_eq(inet_pton(AF_INET6, "fe80::1", &want), 1);
  EXPECT(lure_inet_pton(AF_INET6, "fe80::1%en1", &a), 0);
  ck_assert_int_eq(memcmp(&a, &want, sizeof(a)), 0);
  EXPECT(lure_inet_pton(AF_INET6, "fe80::1%%%%", &a), 0);
  EXPECT(lure_inet_pton(AF_INET6, "fe80::1%en1:1.2.3.4", &a), 0);
  EXPECT(lure_inet_pton(AF_INET6, "::ffff:1.2.3.4%x", &a), 0);
  EXPECT(lure_inet_pton(AF_INET6, ":::1%en1", &a), LURE_EINVAL);
  EXPECT(lure_inet_pton(AF_INET6, "abcde::1%en1", &a), LURE_EINVAL);
  EXPECT(lure_inet_pton(AF_INET6, "%en1", &a), LURE_EINVAL);
  EXPECT(lure_inet_pton(AF_INET, "1.2.3.4%en1", &a4), LURE_EINVAL);
  EXPECT(lure_ip6_addr("fe80::1%lo", 80, &s6), 0);
  ck_assert_uint_eq(s6.sin6_scope_id, if_nametoindex("lo"));
  ck_assert_int_eq(memcmp(&s6.sin6_addr, &want, sizeof(want)), 0);
  EXPECT(lure_ip6_addr("fe80::1%no-such-if0", 80, &s6), 0);
  ck_assert_uint_eq(s6.sin6_scope_id, 0);
}
END_TEST

LT_SUITE(parity) {
  Suite *s = suite_create("parity");
  TCase *tc = tcase_create("parity");

  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_test(tc, udp_open_bound_ipv4);
  tcase_add_test(tc, udp_open_bound_ipv6);
  tcase_add_test(tc, udp_open_connected);
  tcase_add_test(tc, udp_open_unbound);
  tcase_add_test(tc, udp_open_unix_dgram);
  tcase_add_test(tc, udp_open_errors);
  tcase_add_test(tc, open_fd_in_use);
  tcase_add_test(tc, udp_open_keeps_v6only);
  tcase_add_test(tc, udp_send_queue_counters);
  tcase_add_test(tc, udp_using_recvmmsg);
  tcase_add_test(tc, udp_source_membership_errors);
  tcase_add_test(tc, udp_source_membership_ipv4);
  tcase_add_test(tc, udp_source_membership_ipv6);
  tcase_add_test(tc, tcp_simultaneous_accepts_noop);
  tcase_add_test(tc, pipe_pending_instances_noop);
  tcase_add_test(tc, pipe_chmod_modes);
  tcase_add_test(tc, pipe_chmod_errors);
  tcase_add_test(tc, pairs_flags);
  tcase_add_test(tc, pairs_errors);
  tcase_add_test(tc, pairs_as_pipe_handles);
  tcase_add_test(tc, try_write2_passes_tcp);
  tcase_add_test(tc, try_write2_errors);
  suite_add_tcase(s, tc);

  tc = tcase_create("libuv-1.44");
  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_test(tc, uv144_listen_null_cb);
  tcase_add_test(tc, uv144_tcp_options_before_socket);
  tcase_add_test(tc, uv144_read_start_twice);
  tcase_add_test(tc, uv144_read_during_connect);
  tcase_add_test(tc, uv144_read_error_not_writable);
  tcase_add_test(tc, uv144_readable_on_eof);
  tcase_add_test(tc, uv144_end_comes_with_alloc_buffer);
  tcase_add_test(tc, uv144_connect_from_address_in_use);
  tcase_add_test(tc, uv144_closed_listener_refuses);
  tcase_add_test(tc, uv144_close_shared_listener);
  tcase_add_test(tc, uv144_stdio_two_handles);
  tcase_add_test(tc, uv144_shared_listener_not_starved);
  tcase_add_test(tc, uv144_listener_sent_over_ipc);
  tcase_add_test(tc, uv144_emfile_drops_connection);
  tcase_add_test(tc, uv144_udp_options_ebadf);
  tcase_add_test(tc, uv144_udp_unix_address);
  tcase_add_test(tc, uv144_pipe_abstract_name);
  tcase_add_test(tc, uv144_ip6_zone);
  suite_add_tcase(s, tc);
  return s;
}
