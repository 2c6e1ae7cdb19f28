/*
 * udp.c - UDP handles.  A handle picks its socket executor (udp_flags,
 * src/backend.h) when its socket is first used.  Datagrams are received by
 * readiness plus recvmsg(2) on every wait point (on a ring loop the
 * readiness is the ring's multishot POLL_ADD); on a ring loop sends that
 * cannot go at once wait in the ring as ordered SENDMSG chains
 * (backends/uring-udp.c), elsewhere for POLLOUT (backends/ready.c).
 *
 * Sends go out in request order: a send that cannot go now waits on
 * write_queue behind the others, so datagrams never overtake each other.
 * Send callbacks never run inside lure_udp_send(); they run from the pending
 * phase or from the completion that sent them.
 */
#include <fcntl.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "udp.h"

static int lure__udp_socket(lure_udp_t *h, int family) {
  int fd;

  if (h->io_watcher.fd >= 0)
    return 0;
  fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  h->io_watcher.fd = fd;
  return 0;
}

LURE_EXTERN int lure_udp_init_ex(lure_loop_t *loop, lure_udp_t *h,
                                 unsigned int flags) {
  int family = (int) (flags & 0xFF);
  int rc;

  if (loop == NULL || loop->priv == NULL || h == NULL)
    return LURE_EINVAL;
  /* LURE_UDP_RECVMMSG is only a hint: see lure_udp_using_recvmmsg(). */
  if (flags & ~(0xFFu | LURE_UDP_RECVMMSG))
    return LURE_EINVAL;
  if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
    return LURE_EINVAL;
  lure__handle_init(loop, (lure_handle_t *) h, LURE_UDP);
  h->send_queue_size = 0;
  h->send_queue_count = 0;
  h->alloc_cb = NULL;
  h->recv_cb = NULL;
  h->udp_flags = 0;
  h->exec_ops = 0;
  h->exec_data = NULL;
  lure__io_init(&h->io_watcher, lure__sock_ready.udp_io, -1);
  /* A UDP socket owns its port: no request of the wait point may hold it,
   * or a killed server's port stays bound until the kernel tears its ring
   * down, some milliseconds after waitpid(), and a server restarted at
   * once fails to bind (EADDRINUSE), where libuv's port is free (the ring
   * watches it through an epoll instance, backends/uring-nest.c). */
  h->io_watcher.flags = LURE__IO_PARKABLE | LURE__IO_NOHOLD;
  lure__queue_init(&h->write_queue);
  lure__queue_init(&h->write_done_queue);
  lure__queue_init(&h->write_pending.queue);
  if (family != AF_UNSPEC) {
    rc = lure__udp_socket(h, family);
    if (rc != 0) {
      lure__queue_remove(&h->handle_queue);
      return rc;
    }
  }
  return 0;
}

LURE_EXTERN int lure_udp_init(lure_loop_t *loop, lure_udp_t *h) {
  return lure_udp_init_ex(loop, h, AF_UNSPEC);
}

#define LURE__UDP_CHECK(h)                                                    \
  do {                                                                        \
    if ((h) == NULL || (h)->type != LURE_UDP || (h)->loop == NULL ||          \
        (h)->loop->priv == NULL)                                              \
      return LURE_EINVAL;                                                     \
    if (lure__handle_is_closing((const lure_handle_t *) (h)))                 \
      return LURE_EINVAL;                                                     \
  } while (0)

/* Adopt a datagram socket made elsewhere.  As libuv's uv_udp_open: the
 * socket becomes non-blocking and gets SO_REUSEADDR, and a connected socket
 * makes a connected handle.  Nothing is changed on the socket before every
 * check has passed, so a refused socket is left as it was. */
LURE_EXTERN int lure_udp_open(lure_udp_t *h, lure_os_sock_t sock) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  int type = 0;
  socklen_t tlen = sizeof(type);
  int on = 1;
  int rc;

  LURE__UDP_CHECK(h);
  if (h->io_watcher.fd >= 0)
    return LURE_EBUSY;
  if (sock < 0 || fcntl(sock, F_GETFL) < 0)
    return LURE_EBADF;
  if (lure__fd_in_use(h->loop, sock))
    return LURE_EEXIST;
  if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0)
    return -errno;
  if (getsockname(sock, (struct sockaddr *) &ss, &len) != 0)
    return -errno;
  /* Datagrams: raw and netlink sockets keep message boundaries too (libuv
   * accepts them).  A TCP socket is refused, which libuv takes as it
   * takes anything; a Unix socket of any type is accepted, as libuv's own
   * tests open one (udp_send_unix). */
  if (type != SOCK_DGRAM && type != SOCK_RAW && ss.ss_family != AF_UNIX)
    return LURE_EINVAL;
  rc = lure__nonblock(sock, 1);
  if (rc != 0)
    return rc;
  (void) lure__cloexec(sock, 1);
  if (setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0)
    return -errno;
  h->io_watcher.fd = sock;
  /* A socket bound to a port must not be bound again by the first send or
   * receive (a raw socket reports its protocol as its port, so it counts as
   * bound); nor can lure pick an address for a family other than IPv4 and
   * IPv6. */
  if (((ss.ss_family == AF_INET &&
        ((struct sockaddr_in *) &ss)->sin_port != 0) ||
       (ss.ss_family == AF_INET6 &&
        ((struct sockaddr_in6 *) &ss)->sin6_port != 0) ||
       (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)))
    h->udp_flags |= LURE__UDP_BOUND;
  len = sizeof(ss);
  if (getpeername(sock, (struct sockaddr *) &ss, &len) == 0)
    h->udp_flags |= LURE__UDP_CONNECTED;
  return 0;
}

LURE_EXTERN int lure_udp_bind(lure_udp_t *h, const struct sockaddr *addr,
                              unsigned int flags) {
  socklen_t len;
  int on = 1;
  int rc;

  LURE__UDP_CHECK(h);
  if (addr == NULL ||
      (flags & ~(unsigned) (LURE_UDP_IPV6ONLY | LURE_UDP_REUSEADDR |
                            LURE_UDP_LINUX_RECVERR)))
    return LURE_EINVAL;
  len = lure__inet_addrlen(addr);
  if (len == 0)
    return LURE_EINVAL;
  if ((flags & LURE_UDP_IPV6ONLY) && addr->sa_family != AF_INET6)
    return LURE_EINVAL;
  rc = lure__udp_socket(h, addr->sa_family);
  if (rc != 0)
    return rc;
  /* Every ICMP error of the socket reported, not only some (libuv's
   * flag): a send after an unreachable port fails with
   * LURE_ECONNREFUSED. */
  if ((flags & LURE_UDP_LINUX_RECVERR) &&
      (addr->sa_family == AF_INET
           ? setsockopt(h->io_watcher.fd, IPPROTO_IP, IP_RECVERR, &on,
                        sizeof(on))
           : setsockopt(h->io_watcher.fd, IPPROTO_IPV6, IPV6_RECVERR, &on,
                        sizeof(on))) != 0)
    return -errno;
  if ((flags & LURE_UDP_REUSEADDR) &&
      setsockopt(h->io_watcher.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)))
    return -errno;
  /* As libuv: only an explicit LURE_UDP_IPV6ONLY touches IPV6_V6ONLY, so
   * an adopted socket (lure_udp_open) keeps its own setting, and a socket
   * lure made has the system's default (net.ipv6.bindv6only). */
  if (flags & LURE_UDP_IPV6ONLY) {
    on = 1;
    if (setsockopt(h->io_watcher.fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
                   sizeof(on)) != 0)
      return -errno;
  }
  if (bind(h->io_watcher.fd, addr, len) != 0)
    return -errno;
  h->udp_flags |= LURE__UDP_BOUND;
  return 0;
}

/* The length of a destination address: IPv4, IPv6, or (as libuv) a Unix
 * address for a handle that has a socket to send it with; 0 if refused. */
static socklen_t lure__udp_addrlen(const lure_udp_t *h,
                                   const struct sockaddr *addr) {
  if (addr->sa_family == AF_UNIX && h->io_watcher.fd >= 0)
    return sizeof(struct sockaddr_un);
  return lure__inet_addrlen(addr);
}

/* Sending or receiving on an unbound socket binds it to the wildcard
 * address, as libuv does. */
static int lure__udp_autobind(lure_udp_t *h, int family) {
  struct sockaddr_in6 a6;
  struct sockaddr_in a4;
  int rc;

  if (h->udp_flags & LURE__UDP_BOUND)
    return 0;
  if (h->io_watcher.fd >= 0) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(h->io_watcher.fd, (struct sockaddr *) &ss, &len) == 0)
      family = ss.ss_family;
  }
  if (family == AF_INET6) {
    memset(&a6, 0, sizeof(a6));
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_any;
    rc = lure_udp_bind(h, (struct sockaddr *) &a6, 0);
  } else {
    memset(&a4, 0, sizeof(a4));
    a4.sin_family = AF_INET;
    a4.sin_addr.s_addr = htonl(INADDR_ANY);
    rc = lure_udp_bind(h, (struct sockaddr *) &a4, 0);
  }
  return rc;
}

LURE_EXTERN int lure_udp_connect(lure_udp_t *h, const struct sockaddr *addr) {
  struct sockaddr sa;
  socklen_t len;
  int rc;

  LURE__UDP_CHECK(h);
  if (addr == NULL) {
    /* Disconnect. */
    if (!(h->udp_flags & LURE__UDP_CONNECTED))
      return LURE_ENOTCONN;
    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNSPEC;
    if (connect(h->io_watcher.fd, &sa, sizeof(sa)) != 0 && errno != EAFNOSUPPORT)
      return -errno;
    h->udp_flags &= ~LURE__UDP_CONNECTED;
    return 0;
  }
  len = lure__inet_addrlen(addr);
  if (len == 0)
    return LURE_EINVAL;
  if (h->udp_flags & LURE__UDP_CONNECTED)
    return LURE_EISCONN;
  rc = lure__udp_autobind(h, addr->sa_family);
  if (rc != 0)
    return rc;
  if (connect(h->io_watcher.fd, addr, len) != 0)
    return -errno;
  h->udp_flags |= LURE__UDP_CONNECTED;
  return 0;
}

/* ---- sending ---- */

/* A send's msghdr: its buffers (lure_buf_t has struct iovec's layout)
 * and, unless addr is NULL, its destination. */
static void lure__udp_msg(struct msghdr *msg, const lure_buf_t *bufs,
                          unsigned nbufs, const struct sockaddr *addr,
                          socklen_t addrlen) {
  memset(msg, 0, sizeof(*msg));
  msg->msg_name = (void *) addr;
  msg->msg_namelen = addr != NULL ? addrlen : 0;
  msg->msg_iov = (struct iovec *) bufs;
  msg->msg_iovlen = nbufs;
}

/* One datagram now (ENOBUFS is LURE_EAGAIN: lure__send_result). */
static ssize_t lure__udp_sendmsg(lure_udp_t *h, const struct msghdr *msg) {
  ssize_t r;

  do
    r = sendmsg(h->io_watcher.fd, msg, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  return lure__send_result(r);
}

/* Run the callbacks of the sends finished so far; a send that finishes
 * while they run (made by a callback) waits for the pending phase, so a
 * chain of sends cannot starve timers and receives. */
void lure__udp_run_send_cbs(lure_udp_t *h) {
  lure_udp_send_t *req;
  struct lure__queue done;
  struct lure__queue *q;

  lure__queue_move(&h->write_done_queue, &done);
  while (!lure__queue_empty(&done)) {
    q = lure__queue_head(&done);
    lure__queue_remove(q);
    req = lure__container_of(q, lure_udp_send_t, queue);
    lure__req_unregister(h->loop, (lure_req_t *) req);
    if (req->msg.msg_iov != (struct iovec *) req->bufsml)
      lure__free(req->msg.msg_iov);
    req->msg.msg_iov = NULL;
    if (req->cb != NULL)
      req->cb(req, (int) (req->status < 0 ? req->status : 0));
  }
}

static const struct lure__sock_ops *lure__udp_exec(lure_udp_t *h);

static void lure__udp_pending_cb(lure_loop_t *loop, struct lure__pending *p) {
  lure_udp_t *h = lure__container_of(p, lure_udp_t, write_pending);

  if (h->udp_flags & LURE__UDP_REARM) {
    h->udp_flags &= ~(unsigned) LURE__UDP_REARM;
    if ((h->udp_flags & LURE__UDP_RECEIVING) &&
        !lure__handle_is_closing((lure_handle_t *) h) &&
        h->io_watcher.fd >= 0 &&
        (lure__udp_exec(h) == &lure__sock_ready ||
         lure__udp_sock(h)->udp_recv(h) != 0))
      (void) lure__sock_ready.udp_recv(h);
  }
  lure__udp_run_send_cbs(h);
}

static void lure__udp_schedule(lure_udp_t *h) {
  if (!lure__queue_empty(&h->write_pending.queue))
    return;
  h->write_pending.cb = lure__udp_pending_cb;
  lure__pending_add(h->loop, &h->write_pending);
}

static size_t lure__udp_bytes(const lure_buf_t *bufs, unsigned nbufs) {
  size_t n = 0;
  unsigned i;

  for (i = 0; i < nbufs; i++)
    n += bufs[i].len;
  return n;
}

void lure__udp_send_done(lure_udp_t *h, lure_udp_send_t *req,
                         ssize_t status) {
  req->status = status;
  h->send_queue_size -= lure__udp_bytes((const lure_buf_t *) req->msg.msg_iov,
                                        (unsigned) req->msg.msg_iovlen);
  h->send_queue_count--;
  lure__queue_remove(&req->queue);
  lure__queue_insert_tail(&h->write_done_queue, &req->queue);
  if (lure__queue_empty(&h->write_queue) &&
      !(h->udp_flags & LURE__UDP_RECEIVING))
    lure__handle_stop((lure_handle_t *) h);
}

void lure__udp_cancel_queued(lure_udp_t *h) {
  struct lure__queue *q = lure__queue_head(&h->write_queue);
  lure_udp_send_t *req;

  while (q != &h->write_queue) {
    req = lure__container_of(q, lure_udp_send_t, queue);
    q = q->next;
    if (!(req->req_flags & LURE__REQ_UDP_HELD))
      lure__udp_send_done(h, req, LURE_ECANCELED);
  }
}

int lure__udp_send_queued(lure_udp_t *h) {
  lure_udp_send_t *req;
  ssize_t r;

  while (!lure__queue_empty(&h->write_queue)) {
    req = lure__container_of(lure__queue_head(&h->write_queue),
                             lure_udp_send_t, queue);
    r = lure__udp_sendmsg(h, &req->msg);
    if (r == LURE_EAGAIN)
      return 1;
    lure__udp_send_done(h, req, r);
  }
  return 0;
}

/* The handle's socket executor: settled on first use, for the handle's
 * life (until a fork or a backend switch). */
static const struct lure__sock_ops *lure__udp_exec(lure_udp_t *h) {
  if (!lure__udp_decided(h))
    lure__udp_set_sock(h, lure__sock_pick_udp(h->loop));
  return lure__udp_sock(h);
}

LURE_EXTERN int lure_udp_send(lure_udp_send_t *req, lure_udp_t *h,
                              const lure_buf_t bufs[], unsigned int nbufs,
                              const struct sockaddr *addr,
                              lure_udp_send_cb send_cb) {
  lure_buf_t *copy;
  socklen_t len = 0;
  int was_empty;
  int rc;

  LURE__UDP_CHECK(h);
  if (req == NULL || bufs == NULL || nbufs == 0)
    return LURE_EINVAL;
  if (addr != NULL) {
    if (h->udp_flags & LURE__UDP_CONNECTED)
      return LURE_EISCONN;
    len = lure__udp_addrlen(h, addr);
    if (len == 0)
      return LURE_EINVAL;
  } else if (!(h->udp_flags & LURE__UDP_CONNECTED)) {
    return LURE_EDESTADDRREQ;
  }
  rc = lure__udp_autobind(h, addr != NULL ? addr->sa_family : AF_INET);
  if (rc != 0)
    return rc;
  if (nbufs <= sizeof(req->bufsml) / sizeof(req->bufsml[0])) {
    copy = req->bufsml;
  } else {
    copy = lure__malloc(nbufs * sizeof(*bufs));
    if (copy == NULL)
      return LURE_ENOMEM;
  }
  memcpy(copy, bufs, nbufs * sizeof(*bufs));
  req->type = LURE_UDP_SEND;
  req->handle = h;
  req->cb = send_cb;
  if (addr != NULL)
    memcpy(&req->addr, addr, len);
  lure__udp_msg(&req->msg, copy, nbufs,
                addr != NULL ? (struct sockaddr *) &req->addr : NULL, len);
  req->status = 0;
  req->req_flags = 0;
  req->executor = (unsigned char) lure__udp_exec(h)->executor;
  lure__req_register(h->loop, (lure_req_t *) req);
  h->send_queue_size += lure__udp_bytes(bufs, nbufs);
  h->send_queue_count++;
  was_empty = lure__queue_empty(&h->write_queue);
  lure__queue_insert_tail(&h->write_queue, &req->queue);
  lure__handle_start((lure_handle_t *) h);
  /* Readiness sends at once only into an empty queue (a queue means the
   * socket is full and POLLOUT is watched). */
  if (was_empty || lure__udp_sock(h) != &lure__sock_ready)
    lure__udp_sock(h)->udp_send(h);
  if (!lure__queue_empty(&h->write_done_queue))
    lure__udp_schedule(h);
  return 0;
}

LURE_EXTERN int lure_udp_try_send(lure_udp_t *h, const lure_buf_t bufs[],
                                  unsigned int nbufs,
                                  const struct sockaddr *addr) {
  struct msghdr msg;
  socklen_t len = 0;
  ssize_t r;
  int rc;

  LURE__UDP_CHECK(h);
  if (bufs == NULL || nbufs == 0)
    return LURE_EINVAL;
  if (addr != NULL) {
    if (h->udp_flags & LURE__UDP_CONNECTED)
      return LURE_EISCONN;
    len = lure__udp_addrlen(h, addr);
    if (len == 0)
      return LURE_EINVAL;
  } else if (!(h->udp_flags & LURE__UDP_CONNECTED)) {
    return LURE_EDESTADDRREQ;
  }
  if (!lure__queue_empty(&h->write_queue))
    return LURE_EAGAIN;
  rc = lure__udp_autobind(h, addr != NULL ? addr->sa_family : AF_INET);
  if (rc != 0)
    return rc;
  lure__udp_msg(&msg, bufs, nbufs, addr, len);
  r = lure__udp_sendmsg(h, &msg);
  return (int) r;
}

/* ---- receiving ---- */

int lure__udp_watch_in(lure_udp_t *h) {
  return lure__io_start(h->loop, &h->io_watcher, POLLIN);
}

LURE_EXTERN int lure_udp_recv_start(lure_udp_t *h, lure_alloc_cb alloc_cb,
                                    lure_udp_recv_cb recv_cb) {
  int rc;

  LURE__UDP_CHECK(h);
  if (alloc_cb == NULL || recv_cb == NULL)
    return LURE_EINVAL;
  if (h->udp_flags & LURE__UDP_RECEIVING)
    return LURE_EALREADY;
  rc = lure__udp_autobind(h, AF_INET);
  if (rc != 0)
    return rc;
  h->alloc_cb = alloc_cb;
  h->recv_cb = recv_cb;
  h->udp_flags |= LURE__UDP_RECEIVING;
  rc = lure__udp_exec(h)->udp_recv(h);
  if (rc != 0 && lure__udp_sock(h) != &lure__sock_ready)
    rc = lure__sock_ready.udp_recv(h);
  if (rc != 0) {
    h->udp_flags &= ~LURE__UDP_RECEIVING;
    return rc;
  }
  lure__handle_start((lure_handle_t *) h);
  return 0;
}

LURE_EXTERN int lure_udp_recv_stop(lure_udp_t *h) {
  if (h == NULL || h->type != LURE_UDP || h->loop == NULL)
    return LURE_EINVAL;
  if (!(h->udp_flags & LURE__UDP_RECEIVING))
    return 0;
  h->udp_flags &= ~LURE__UDP_RECEIVING;
  lure__io_stop(h->loop, &h->io_watcher, POLLIN);
  if (lure__udp_decided(h) && lure__udp_sock(h)->udp_recv_stop != NULL)
    lure__udp_sock(h)->udp_recv_stop(h);
  if (lure__queue_empty(&h->write_queue))
    lure__handle_stop((lure_handle_t *) h);
  return 0;
}

/* ---- options ---- */

static int lure__udp_family(const lure_udp_t *h) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);

  if (getsockname(h->io_watcher.fd, (struct sockaddr *) &ss, &len) != 0)
    return AF_INET;
  return ss.ss_family;
}

static int lure__udp_opt(lure_udp_t *h, int v4level, int v4opt, int v6level,
                         int v6opt, int val) {
  int rc;

  /* As libuv: the options apply to a socket there is; they make none. */
  if (h->io_watcher.fd < 0)
    return LURE_EBADF;
  if (lure__udp_family(h) == AF_INET6)
    rc = setsockopt(h->io_watcher.fd, v6level, v6opt, &val, sizeof(val));
  else
    rc = setsockopt(h->io_watcher.fd, v4level, v4opt, &val, sizeof(val));
  return rc == 0 ? 0 : -errno;
}

LURE_EXTERN int lure_udp_set_broadcast(lure_udp_t *h, int on) {
  int v = on != 0;

  LURE__UDP_CHECK(h);
  if (h->io_watcher.fd < 0)
    return LURE_EBADF;
  return setsockopt(h->io_watcher.fd, SOL_SOCKET, SO_BROADCAST, &v, sizeof(v))
             ? -errno : 0;
}

LURE_EXTERN int lure_udp_set_ttl(lure_udp_t *h, int ttl) {
  LURE__UDP_CHECK(h);
  if (ttl < 1 || ttl > 255)
    return LURE_EINVAL;
  return lure__udp_opt(h, IPPROTO_IP, IP_TTL, IPPROTO_IPV6,
                       IPV6_UNICAST_HOPS, ttl);
}

LURE_EXTERN int lure_udp_set_multicast_ttl(lure_udp_t *h, int ttl) {
  LURE__UDP_CHECK(h);
  if (ttl < 0 || ttl > 255)
    return LURE_EINVAL;
  return lure__udp_opt(h, IPPROTO_IP, IP_MULTICAST_TTL, IPPROTO_IPV6,
                       IPV6_MULTICAST_HOPS, ttl);
}

LURE_EXTERN int lure_udp_set_multicast_loop(lure_udp_t *h, int on) {
  LURE__UDP_CHECK(h);
  return lure__udp_opt(h, IPPROTO_IP, IP_MULTICAST_LOOP, IPPROTO_IPV6,
                       IPV6_MULTICAST_LOOP, on != 0);
}

LURE_EXTERN int lure_udp_set_multicast_interface(lure_udp_t *h,
                                                 const char *interface_addr) {
  struct in_addr a4;
  struct in6_addr a6;
  unsigned idx = 0;

  LURE__UDP_CHECK(h);
  if (h->io_watcher.fd < 0)
    return LURE_EBADF;
  if (lure__udp_family(h) == AF_INET6) {
    if (interface_addr != NULL && inet_pton(AF_INET6, interface_addr, &a6) != 1)
      return LURE_EINVAL;
    return setsockopt(h->io_watcher.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx,
                      sizeof(idx)) ? -errno : 0;
  }
  a4.s_addr = htonl(INADDR_ANY);
  if (interface_addr != NULL && inet_pton(AF_INET, interface_addr, &a4) != 1)
    return LURE_EINVAL;
  return setsockopt(h->io_watcher.fd, IPPROTO_IP, IP_MULTICAST_IF, &a4,
                    sizeof(a4)) ? -errno : 0;
}

LURE_EXTERN int lure_udp_set_membership(lure_udp_t *h,
                                        const char *multicast_addr,
                                        const char *interface_addr,
                                        lure_membership membership) {
  struct ip_mreq m4;
  struct ipv6_mreq m6;
  int rc;

  LURE__UDP_CHECK(h);
  if (multicast_addr == NULL ||
      (membership != LURE_JOIN_GROUP && membership != LURE_LEAVE_GROUP))
    return LURE_EINVAL;
  memset(&m4, 0, sizeof(m4));
  memset(&m6, 0, sizeof(m6));
  if (inet_pton(AF_INET, multicast_addr, &m4.imr_multiaddr) == 1) {
    rc = lure__udp_autobind(h, AF_INET);
    if (rc != 0)
      return rc;
    m4.imr_interface.s_addr = htonl(INADDR_ANY);
    if (interface_addr != NULL &&
        inet_pton(AF_INET, interface_addr, &m4.imr_interface) != 1)
      return LURE_EINVAL;
    return setsockopt(h->io_watcher.fd, IPPROTO_IP,
                      membership == LURE_JOIN_GROUP ? IP_ADD_MEMBERSHIP
                                                    : IP_DROP_MEMBERSHIP,
                      &m4, sizeof(m4)) ? -errno : 0;
  }
  if (inet_pton(AF_INET6, multicast_addr, &m6.ipv6mr_multiaddr) == 1) {
    rc = lure__udp_autobind(h, AF_INET6);
    if (rc != 0)
      return rc;
    return setsockopt(h->io_watcher.fd, IPPROTO_IPV6,
                      membership == LURE_JOIN_GROUP ? IPV6_ADD_MEMBERSHIP
                                                    : IPV6_DROP_MEMBERSHIP,
                      &m6, sizeof(m6)) ? -errno : 0;
  }
  return LURE_EINVAL;
}

/* Source-specific multicast (RFC 4607): receive a group's datagrams from
 * one source only.  Every address is checked before the handle is bound,
 * so a call refused for its arguments leaves the handle as it was. */
static int lure__udp_source_membership4(lure_udp_t *h, struct in_addr group,
                                        const char *interface_addr,
                                        const char *source_addr, int join) {
  struct ip_mreq_source m;
  int rc;

  memset(&m, 0, sizeof(m));
  m.imr_multiaddr = group;
  m.imr_interface.s_addr = htonl(INADDR_ANY);
  if (inet_pton(AF_INET, source_addr, &m.imr_sourceaddr) != 1)
    return LURE_EINVAL;
  if (interface_addr != NULL &&
      inet_pton(AF_INET, interface_addr, &m.imr_interface) != 1)
    return LURE_EINVAL;
  rc = lure__udp_autobind(h, AF_INET);
  if (rc != 0)
    return rc;
  return setsockopt(h->io_watcher.fd, IPPROTO_IP,
                    join ? IP_ADD_SOURCE_MEMBERSHIP
                         : IP_DROP_SOURCE_MEMBERSHIP,
                    &m, sizeof(m)) ? -errno : 0;
}

/* IPv6 names the interface by index: interface_addr is read for its zone
 * ("fe80::1%eth0", "::1%lo"), as libuv does; without one the kernel picks
 * the interface by its routes. */
static int lure__udp_source_membership6(lure_udp_t *h,
                                        const char *multicast_addr,
                                        const char *interface_addr,
                                        const char *source_addr, int join) {
  struct group_source_req gsr;
  struct sockaddr_in6 a6;
  int rc;

  memset(&gsr, 0, sizeof(gsr));
  if (lure_ip6_addr(multicast_addr, 0, &a6) != 0)
    return LURE_EINVAL;
  memcpy(&gsr.gsr_group, &a6, sizeof(a6));
  if (lure_ip6_addr(source_addr, 0, &a6) != 0)
    return LURE_EINVAL;
  memcpy(&gsr.gsr_source, &a6, sizeof(a6));
  if (interface_addr != NULL) {
    if (lure_ip6_addr(interface_addr, 0, &a6) != 0)
      return LURE_EINVAL;
    gsr.gsr_interface = a6.sin6_scope_id;
  }
  rc = lure__udp_autobind(h, AF_INET6);
  if (rc != 0)
    return rc;
  return setsockopt(h->io_watcher.fd, IPPROTO_IPV6,
                    join ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP,
                    &gsr, sizeof(gsr)) ? -errno : 0;
}

LURE_EXTERN int lure_udp_set_source_membership(lure_udp_t *h,
                                               const char *multicast_addr,
                                               const char *interface_addr,
                                               const char *source_addr,
                                               lure_membership membership) {
  struct in_addr group;

  LURE__UDP_CHECK(h);
  if (multicast_addr == NULL || source_addr == NULL ||
      (membership != LURE_JOIN_GROUP && membership != LURE_LEAVE_GROUP))
    return LURE_EINVAL;
  if (inet_pton(AF_INET, multicast_addr, &group) == 1)
    return lure__udp_source_membership4(h, group, interface_addr, source_addr,
                                        membership == LURE_JOIN_GROUP);
  return lure__udp_source_membership6(h, multicast_addr, interface_addr,
                                      source_addr,
                                      membership == LURE_JOIN_GROUP);
}

static int lure__udp_name(const lure_udp_t *h, struct sockaddr *name,
                          int *namelen, int peer) {
  socklen_t len;

  if (h == NULL || h->type != LURE_UDP || name == NULL || namelen == NULL ||
      *namelen < 0)
    return LURE_EINVAL;
  if (h->io_watcher.fd < 0)
    return LURE_EBADF;
  len = (socklen_t) *namelen;
  if ((peer ? getpeername(h->io_watcher.fd, name, &len)
            : getsockname(h->io_watcher.fd, name, &len)) != 0)
    return -errno;
  *namelen = (int) len;
  return 0;
}

LURE_EXTERN int lure_udp_getsockname(const lure_udp_t *h, struct sockaddr *name,
                                     int *namelen) {
  return lure__udp_name(h, name, namelen, 0);
}

LURE_EXTERN int lure_udp_getpeername(const lure_udp_t *h, struct sockaddr *name,
                                     int *namelen) {
  return lure__udp_name(h, name, namelen, 1);
}

LURE_EXTERN size_t lure_udp_get_send_queue_size(const lure_udp_t *h) {
  return h != NULL && h->type == LURE_UDP ? h->send_queue_size : 0;
}

LURE_EXTERN size_t lure_udp_get_send_queue_count(const lure_udp_t *h) {
  return h != NULL && h->type == LURE_UDP ? h->send_queue_count : 0;
}

/* libuv answers 1 when it receives a handle's datagrams with recvmmsg(2),
 * many per system call.  lure never does: it makes one recvmsg(2) per
 * datagram straight into the buffer that alloc_cb gave, where recvmmsg
 * would carve one buffer up (libuv's UV_UDP_MMSG_CHUNK and
 * UV_UDP_MMSG_FREE, flags that lure's recv_cb never gets). */
LURE_EXTERN int lure_udp_using_recvmmsg(const lure_udp_t *h) {
  if (h == NULL || h->type != LURE_UDP || h->loop == NULL)
    return LURE_EINVAL;
  return 0;
}

/* ---- close ---- */

void lure__udp_close(lure_udp_t *h) {
  h->udp_flags &= ~LURE__UDP_RECEIVING;
  lure__io_close(h->loop, &h->io_watcher);
  lure__queue_remove(&h->write_pending.queue);
  if (lure__udp_decided(h))
    lure__udp_sock(h)->udp_close(h); /* settles the queue, now or after the executor */
  else
    lure__udp_cancel_queued(h);
}

void lure__udp_finish_close(lure_udp_t *h) {
  lure__udp_run_send_cbs(h);
  if (h->io_watcher.fd >= 0) {
    close(h->io_watcher.fd);
    h->io_watcher.fd = -1;
  }
  lure__sock_udp_free(h);
}

/* After lure_loop_fork() or a backend switch: the ring operations belonged
 * to the old wait point; start again on whichever path the new one offers. */
void lure__udp_after_fork(lure_udp_t *h) {
  if (lure__udp_decided(h) && lure__udp_sock(h)->udp_forget != NULL) {
    lure__udp_sock(h)->udp_forget(h);
    if (h->flags & LURE__HANDLE_CLOSE_WAIT) {
      lure__udp_cancel_queued(h);
      lure__handle_close_ready((lure_handle_t *) h);
      return;
    }
  }
  h->udp_flags &= ~(unsigned) (LURE__UDP_DECIDED | LURE__UDP_EXEC_MASK);
  if (h->io_watcher.fd < 0 || lure__handle_is_closing((lure_handle_t *) h))
    return;
  if (lure__udp_exec(h) != &lure__sock_ready)
    lure__io_stop(h->loop, &h->io_watcher, POLLIN | POLLOUT);
  /* Not now: in a forked child the socket is the parent's too.  Watch it
   * when this loop next runs its pending phase, so that a child which
   * closes the handle before running its loop never arms anything. */
  if (h->udp_flags & LURE__UDP_RECEIVING) {
    h->udp_flags |= LURE__UDP_REARM;
    lure__udp_schedule(h);
  }
  if (!lure__queue_empty(&h->write_queue)) {
    lure__udp_sock(h)->udp_send(h);
    if (!lure__queue_empty(&h->write_done_queue))
      lure__udp_schedule(h);
  }
}
