/*
 * tcp.c - TCP handles: socket creation, bind, listen, connect and the socket
 * options, on top of the stream machinery in stream.c.
 */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include "internal.h"
#include "stream.h"

/* Create the socket on first need, in the family of the first address. */
static int lure__tcp_socket(lure_tcp_t *h, int family) {
  lure_stream_t *s = (lure_stream_t *) h;
  int fd;
  int rc;

  if (s->io_watcher.fd >= 0)
    return 0;
  fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  rc = lure__stream_open(s, fd, LURE__OPEN_OWN_SOCKET);
  if (rc != 0)
    close(fd);
  return rc;
}

LURE_EXTERN int lure_tcp_init_ex(lure_loop_t *loop, lure_tcp_t *h,
                                 unsigned int flags) {
  int family = (int) (flags & 0xFF);
  int rc;

  if (loop == NULL || loop->priv == NULL || h == NULL)
    return LURE_EINVAL;
  if (flags & ~0xFFu)
    return LURE_EINVAL;
  if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
    return LURE_EINVAL;
  lure__stream_init(loop, (lure_stream_t *) h, LURE_TCP);
  if (family != AF_UNSPEC) {
    rc = lure__tcp_socket(h, family);
    if (rc != 0) {
      lure__queue_remove(&h->handle_queue);
      return rc;
    }
  }
  return 0;
}

LURE_EXTERN int lure_tcp_init(lure_loop_t *loop, lure_tcp_t *h) {
  return lure_tcp_init_ex(loop, h, AF_UNSPEC);
}

#define LURE__TCP_CHECK(h)                                                    \
  do {                                                                        \
    if ((h) == NULL || (h)->type != LURE_TCP || (h)->loop == NULL ||          \
        (h)->loop->priv == NULL)                                              \
      return LURE_EINVAL;                                                     \
    if (lure__handle_is_closing((const lure_handle_t *) (h)))                 \
      return LURE_EINVAL;                                                     \
  } while (0)

LURE_EXTERN int lure_tcp_open(lure_tcp_t *h, int sock) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  unsigned flags = 0;

  LURE__TCP_CHECK(h);
  if (sock < 0 || fcntl(sock, F_GETFL) < 0)
    return LURE_EBADF;
  if (h->io_watcher.fd >= 0)
    return LURE_EBUSY;
  if (lure__fd_in_use(h->loop, sock))
    return LURE_EEXIST; /* as libuv: two handles on one fd would fight */
  /* A connected socket is readable and writable from the start. */
  if (getpeername(sock, (struct sockaddr *) &ss, &len) == 0)
    flags = LURE__STREAM_READABLE | LURE__STREAM_WRITABLE;
  return lure__stream_open((lure_stream_t *) h, sock,
                           flags | LURE__STREAM_ADOPTED);
}

LURE_EXTERN int lure_tcp_bind(lure_tcp_t *h, const struct sockaddr *addr,
                              unsigned int flags) {
  socklen_t len;
  int on = 1;
  int rc;

  LURE__TCP_CHECK(h);
  if (addr == NULL ||
      (flags & ~(unsigned) (LURE_TCP_IPV6ONLY | LURE_TCP_REUSEPORT)))
    return LURE_EINVAL;
  len = lure__inet_addrlen(addr);
  if (len == 0)
    return LURE_EINVAL;
  if ((flags & LURE_TCP_IPV6ONLY) && addr->sa_family != AF_INET6)
    return LURE_EINVAL;
  rc = lure__tcp_socket(h, addr->sa_family);
  if (rc != 0)
    return rc;
  if (setsockopt(h->io_watcher.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)))
    return -errno;
  /* One listener per loop on one port: the kernel spreads the incoming
   * connections over the sockets that set SO_REUSEPORT (as libuv 1.49). */
  if ((flags & LURE_TCP_REUSEPORT) &&
      setsockopt(h->io_watcher.fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)))
    return -errno;
  if (addr->sa_family == AF_INET6) {
    on = (flags & LURE_TCP_IPV6ONLY) != 0;
    if (setsockopt(h->io_watcher.fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
                   sizeof(on)) != 0)
      return -errno;
  }
  if (bind(h->io_watcher.fd, addr, len) != 0) {
    /* As libuv: "address in use" is reported by listen/connect. */
    if (errno != EADDRINUSE)
      return -errno;
    h->delayed_error = LURE_EADDRINUSE;
  }
  h->stream_flags |= LURE__STREAM_BOUND;
  return 0;
}

int lure__tcp_listen(lure_tcp_t *h, int backlog, lure_connection_cb cb) {
  int rc;

  if (h->delayed_error != 0)
    return h->delayed_error;
  if (h->stream_flags & LURE__STREAM_LISTENING) {
    h->connection_cb = cb;
    return 0;
  }
  rc = lure__tcp_socket(h, AF_INET);
  if (rc != 0)
    return rc;
  if (listen(h->io_watcher.fd, backlog) != 0)
    return -errno;
  return lure__stream_listen_start((lure_stream_t *) h, cb);
}

LURE_EXTERN int lure_tcp_connect(lure_connect_t *req, lure_tcp_t *h,
                                 const struct sockaddr *addr,
                                 lure_connect_cb cb) {
  socklen_t len;
  int rc;

  LURE__TCP_CHECK(h);
  if (req == NULL || addr == NULL)
    return LURE_EINVAL;
  len = lure__inet_addrlen(addr);
  if (len == 0)
    return LURE_EINVAL;
  rc = lure__tcp_socket(h, addr->sa_family);
  if (rc != 0)
    return rc;
  /* lure__inet_addrlen() allowed only AF_INET and AF_INET6. */
  memcpy(&req->addr, addr, len);
  req->addrlen = len;
  /* Bound to an address in use: as libuv, the connect is not tried and
   * the callback gets EADDRINUSE in the next tick's pending phase. */
  if (h->delayed_error != 0)
    return lure__stream_connect_error((lure_stream_t *) h, req, cb,
                                      h->delayed_error);
  return lure__stream_connect((lure_stream_t *) h, req, addr, len, cb, 0);
}

static int lure__tcp_set_nodelay(int fd, int on) {
  return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) ? -errno
                                                                     : 0;
}

/* As libuv: the first probe after delay seconds idle, then one a second,
 * and the connection is dropped after 10 unanswered. */
static int lure__tcp_set_keepalive(int fd, int on, unsigned int delay) {
  int d = (int) delay;
  int intvl = 1;
  int cnt = 10;

  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)))
    return -errno;
  if (!on)
    return 0;
  if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &d, sizeof(d)) ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)))
    return -errno;
  return 0;
}

/* The options a handle was given before it had a socket, applied to fd
 * as it becomes the handle's (lure__stream_open). */
int lure__tcp_apply_options(lure_stream_t *s, int fd) {
  int rc;

  if (s->stream_flags & LURE__STREAM_NODELAY) {
    rc = lure__tcp_set_nodelay(fd, 1);
    if (rc != 0)
      return rc;
  }
  if (s->stream_flags & LURE__STREAM_KEEPALIVE)
    return lure__tcp_set_keepalive(fd, 1, lure__tcp_keepalive_delay(s));
  return 0;
}

/* Without a socket the setting is kept for the socket to come, as in
 * libuv (a socket lure makes, lure_tcp_open's or lure_accept's). */
LURE_EXTERN int lure_tcp_nodelay(lure_tcp_t *h, int enable) {
  int rc;

  LURE__TCP_CHECK(h);
  if (h->io_watcher.fd >= 0) {
    rc = lure__tcp_set_nodelay(h->io_watcher.fd, enable != 0);
    if (rc != 0)
      return rc;
  }
  if (enable)
    h->stream_flags |= LURE__STREAM_NODELAY;
  else
    h->stream_flags &= ~LURE__STREAM_NODELAY;
  return 0;
}

LURE_EXTERN int lure_tcp_keepalive(lure_tcp_t *h, int enable,
                                   unsigned int delay) {
  int rc;

  LURE__TCP_CHECK(h);
  if (enable && (delay == 0 || delay > INT_MAX))
    return LURE_EINVAL;
  if (h->io_watcher.fd >= 0) {
    rc = lure__tcp_set_keepalive(h->io_watcher.fd, enable != 0, delay);
    if (rc != 0)
      return rc;
  }
  if (enable) {
    h->stream_flags |= LURE__STREAM_KEEPALIVE;
    lure__tcp_keepalive_delay(h) = delay;
  } else {
    h->stream_flags &= ~LURE__STREAM_KEEPALIVE;
  }
  return 0;
}

/* libuv's switch for Windows, where a server may have several AcceptEx
 * posted at once.  On Unix it changes nothing in libuv, nor here: readiness
 * accepts in a loop while connections wait, and the ring's multishot accept
 * posts each connection as it comes. */
LURE_EXTERN int lure_tcp_simultaneous_accepts(lure_tcp_t *h, int enable) {
  LURE__TCP_CHECK(h);
  (void) enable;
  return 0;
}

static int lure__tcp_name(const lure_tcp_t *h, struct sockaddr *name,
                          int *namelen, int peer) {
  socklen_t len;

  if (h == NULL || h->type != LURE_TCP || name == NULL || namelen == NULL ||
      *namelen < 0)
    return LURE_EINVAL;
  if (h->io_watcher.fd < 0)
    return LURE_EBADF;
  if (h->delayed_error != 0)
    return h->delayed_error;
  len = (socklen_t) *namelen;
  if ((peer ? getpeername(h->io_watcher.fd, name, &len)
            : getsockname(h->io_watcher.fd, name, &len)) != 0)
    return -errno;
  *namelen = (int) len;
  return 0;
}

LURE_EXTERN int lure_tcp_getsockname(const lure_tcp_t *h, struct sockaddr *name,
                                     int *namelen) {
  return lure__tcp_name(h, name, namelen, 0);
}

LURE_EXTERN int lure_tcp_getpeername(const lure_tcp_t *h, struct sockaddr *name,
                                     int *namelen) {
  return lure__tcp_name(h, name, namelen, 1);
}

LURE_EXTERN int lure_tcp_close_reset(lure_tcp_t *h, lure_close_cb close_cb) {
  struct linger l = { 1, 0 };

  LURE__TCP_CHECK(h);
  if (h->shutdown_req != NULL ||
      (h->stream_flags & (LURE__STREAM_SHUT | LURE__STREAM_SHUT_ISSUED)))
    return LURE_EINVAL;
  if (h->io_watcher.fd >= 0 &&
      setsockopt(h->io_watcher.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) != 0)
    return -errno;
  return lure_close((lure_handle_t *) h, close_cb);
}
