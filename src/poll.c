/*
 * poll.c - poll handles: readiness of a file descriptor the caller owns.
 *
 * Level-triggered, as libuv's: while the fd stays readable the callback
 * keeps coming, once per tick.  The ring serves it with a one-shot POLL_ADD
 * re-armed after each event (arming re-checks readiness, which is what
 * makes it level-triggered); epoll with a level-triggered registration.
 */
#include <sys/stat.h>
#include <fcntl.h>
#include "internal.h"

#define LURE__POLL_ALL \
  (LURE_READABLE | LURE_WRITABLE | LURE_DISCONNECT | LURE_PRIORITIZED)

static void lure__poll_io(lure_loop_t *loop, struct lure__io *w,
                          unsigned revents) {
  lure_poll_t *h = lure__container_of(w, lure_poll_t, io_watcher);
  int events = 0;

  if (revents & (POLLERR | POLLNVAL)) {
    lure_poll_stop(h);
    h->poll_cb(h, LURE_EBADF, 0);
    return;
  }
  /* A hang-up reports every event asked for, so that the reader sees EOF
   * and the writer its error, as libuv does. */
  if (revents & POLLHUP)
    revents |= w->events & (POLLIN | POLLOUT | POLLRDHUP | POLLPRI);
  if (revents & POLLIN)
    events |= LURE_READABLE;
  if (revents & POLLOUT)
    events |= LURE_WRITABLE;
  if (revents & POLLRDHUP)
    events |= LURE_DISCONNECT;
  if (revents & POLLPRI)
    events |= LURE_PRIORITIZED;
  if (events != 0)
    h->poll_cb(h, 0, events);
}

/* A socket is a descriptor here: the same as lure_poll_init(), as libuv's
 * uv_poll_init_socket() on Unix. */
LURE_EXTERN int lure_poll_init_socket(lure_loop_t *loop, lure_poll_t *h,
                                      lure_os_sock_t socket) {
  return lure_poll_init(loop, h, socket);
}

/* Whether a socket listens or is a datagram socket. */
static int lure__sock_owns_port(int fd) {
  int v = 0;
  socklen_t len = sizeof(v);

  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == 0 &&
      v == SOCK_DGRAM)
    return 1;
  v = 0;
  len = sizeof(v);
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v != 0;
}

LURE_EXTERN int lure_poll_init(lure_loop_t *loop, lure_poll_t *h, int fd) {
  struct stat st;
  int rc;

  if (loop == NULL || loop->priv == NULL || h == NULL)
    return LURE_EINVAL;
  if (fd < 0 || fstat(fd, &st) != 0)
    return LURE_EBADF;
  /* Regular files and directories are always "ready"; epoll refuses them
   * with EPERM and so does lure, whichever executor serves the loop. */
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
    return LURE_EPERM;
  rc = lure__nonblock(fd, 1);
  if (rc != 0)
    return rc;
  lure__handle_init(loop, (lure_handle_t *) h, LURE_POLL);
  h->poll_cb = NULL;
  lure__io_init(&h->io_watcher, lure__poll_io, fd);
  /* A socket that owns a port or a name (it listens, or takes datagrams):
   * no request of the wait point may hold it, so that when the process
   * dies the port is free at once, as with libuv (src/stream.c says more
   * for listeners).  Decided here, once: a socket that starts listening
   * after lure_poll_init() is watched like any other. */
  if (S_ISSOCK(st.st_mode) && lure__sock_owns_port(fd))
    h->io_watcher.flags |= LURE__IO_NOHOLD;
  return 0;
}

LURE_EXTERN int lure_poll_start(lure_poll_t *h, int events, lure_poll_cb cb) {
  unsigned mask = 0;
  int rc = lure__handle_check((lure_handle_t *) h, LURE_POLL);

  if (rc != 0)
    return rc;
  if (cb == NULL || (events & ~LURE__POLL_ALL) != 0)
    return LURE_EINVAL;
  lure_poll_stop(h);
  /* As in libuv, starting with no events just stops the handle. */
  if (events == 0)
    return 0;
  if (events & LURE_READABLE)
    mask |= POLLIN;
  if (events & LURE_WRITABLE)
    mask |= POLLOUT;
  if (events & LURE_DISCONNECT)
    mask |= POLLRDHUP;
  if (events & LURE_PRIORITIZED)
    mask |= POLLPRI;
  /* One poll handle per descriptor and loop, as libuv (whose epoll says
   * EEXIST); the ring would watch the same descriptor twice without a
   * word, so the rule is checked here for every wait point.  A walk of the
   * loop's active watchers: poll handles are started rarely. */
  {
    struct lure__queue *q;

    lure__queue_foreach(q, &h->loop->priv->watchers) {
      struct lure__io *w = lure__container_of(q, struct lure__io, queue);

      if (w != &h->io_watcher && w->cb == lure__poll_io &&
          w->fd == h->io_watcher.fd)
        return LURE_EEXIST;
    }
  }
  rc = lure__io_start(h->loop, &h->io_watcher, mask);
  if (rc != 0)
    return rc;
  h->poll_cb = cb;
  lure__handle_start((lure_handle_t *) h);
  return 0;
}

LURE_EXTERN int lure_poll_stop(lure_poll_t *h) {
  if (h == NULL || h->type != LURE_POLL || h->loop == NULL ||
      h->loop->priv == NULL)
    return LURE_EINVAL;
  lure__io_close(h->loop, &h->io_watcher);
  lure__handle_stop((lure_handle_t *) h);
  return 0;
}

void lure__poll_close(lure_poll_t *h) {
  lure_poll_stop(h);
}
