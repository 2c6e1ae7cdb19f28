/*
 * uring-nest.c - fd watchers the ring must not hold (LURE__IO_NOHOLD):
 * sockets that own a port, i.e. listening sockets, UDP handles, and poll
 * handles on a socket that listens or takes datagrams.  They are
 * registered with an epoll instance of the loop's own, and the ring
 * watches that instance (one POLL_ADD, armed again after each event); when
 * it is readable, one epoll_wait(2) with a zero timeout says which
 * watchers are ready.
 *
 * Field notes:
 * - Every ring request holds the file it names until its CQE, and when a
 *   process dies (or exits without closing its loop) the kernel cancels
 *   the requests of its rings later, in a worker, after the process is
 *   gone: a listener the ring accepted on stayed bound 5-12 ms after
 *   waitpid() returned on this machine (6.18), so a server restarted at
 *   once by its supervisor failed to bind (EADDRINUSE), and connections
 *   that reached the dead listener in that time were accepted into a ring
 *   nobody reaps.  With libuv (epoll) the port is free when waitpid()
 *   returns: an epoll registration does not hold the file.  libuv's
 *   benchmark runner met it: back-to-back ping_pongs runs failed 3 in 8
 *   with ECONNREFUSED while the last run's helper still held the port.
 * - Level-triggered, as the wait point's own epoll (backends/epoll.c); a
 *   watcher stopped by a callback while later events of the same batch
 *   name it is not called: io_stop clears its entries in the batch.
 * - In a forked child the instance is the parent's too: the child closes
 *   its copy without touching the registrations, and lure_loop_fork()
 *   registers its watchers again in a new ring's new instance.
 */
#include <errno.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "uring-int.h"

#define LURE__NEST_BATCH 64

struct lure__unest {
  int epfd;
  struct lure__io io;  /* the ring's watcher of epfd */
  int nready;          /* events of the batch being dispatched */
  int cursor;          /* next index to dispatch */
  struct epoll_event events[LURE__NEST_BATCH];
};

/* w->bdata of a watcher registered with the nest (it needs no memory). */
static char lure__nest_registered;

static void lure__nest_cb(lure_loop_t *loop, struct lure__io *io,
                          unsigned revents) {
  struct lure__unest *n = lure__container_of(io, struct lure__unest, io);
  struct lure__io *w;
  unsigned ev;
  int ran = 0;

  (void) revents;
  do {
    n->nready = epoll_wait(n->epfd, n->events, LURE__NEST_BATCH, 0);
    if (n->nready <= 0)
      break;
    for (n->cursor = 0; n->cursor < n->nready; n->cursor++) {
      w = n->events[n->cursor].data.ptr;
      if (w == NULL)
        continue; /* stopped by an earlier callback of this batch */
      ev = n->events[n->cursor].events &
           (w->events | POLLERR | POLLHUP | POLLNVAL);
      if (ev != 0) {
        ran = 1;
        w->cb(loop, w, ev);
      }
    }
  } while (n->nready == LURE__NEST_BATCH);
  n->nready = 0;
  /* Readable, but nothing for a watcher any more (the one it was for was
   * stopped before this CQE was reaped): a CQE nobody sees, which does not
   * end the wait (epoll would have said nothing). */
  if (!ran)
    ((struct lure__uring *) loop->priv->backend_data)->quiet++;
}

static struct lure__unest *lure__nest_get(lure_loop_t *loop,
                                          struct lure__uring *st, int *rc) {
  struct lure__unest *n = st->nest;

  if (n != NULL)
    return n;
  n = lure__calloc(1, sizeof(*n));
  if (n == NULL) {
    *rc = LURE_ENOMEM;
    return NULL;
  }
  n->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (n->epfd < 0) {
    *rc = -errno;
    lure__free(n);
    return NULL;
  }
  /* One-shot, armed again after each event: arming checks readiness, so
   * a watcher left ready (level-triggered) makes the instance readable
   * again at the next submit.  A multishot poll would only hear new
   * wake-ups, and epoll does not wake its pollers for what it re-queues. */
  lure__io_init(&n->io, lure__nest_cb, n->epfd);
  n->io.events = POLLIN;
  *rc = lure__uring_io_start(loop, &n->io);
  if (*rc != 0) {
    close(n->epfd);
    lure__free(n);
    return NULL;
  }
  st->nest = n;
  return n;
}

int lure__uring_nest_start(lure_loop_t *loop, struct lure__uring *st,
                           struct lure__io *w) {
  struct lure__unest *n;
  struct epoll_event e;
  int rc = 0;

  n = lure__nest_get(loop, st, &rc);
  if (n == NULL)
    return rc;
  e.events = w->events; /* the poll(2) bits are epoll's on Linux */
  e.data.ptr = w;
  if (epoll_ctl(n->epfd, w->bdata == &lure__nest_registered ? EPOLL_CTL_MOD
                                                             : EPOLL_CTL_ADD,
                w->fd, &e) != 0)
    return -errno;
  w->bdata = &lure__nest_registered;
  return 0;
}

int lure__uring_nest_owns(const struct lure__io *w) {
  return w->bdata == &lure__nest_registered;
}

void lure__uring_nest_stop(lure_loop_t *loop, struct lure__uring *st,
                           struct lure__io *w) {
  struct lure__unest *n = st->nest;
  int i;

  (void) loop;
  w->bdata = NULL;
  if (n == NULL)
    return;
  /* The fd is still open (the watcher's owner stops it before closing);
   * an error here means the kernel already dropped the registration. */
  (void) epoll_ctl(n->epfd, EPOLL_CTL_DEL, w->fd, NULL);
  for (i = n->cursor + 1; i < n->nready; i++)
    if (n->events[i].data.ptr == w)
      n->events[i].data.ptr = NULL;
}

/* With the ring: its watcher's poll record goes with the ring's polls
 * (lure__uring_polls_free), the instance here. */
void lure__uring_nest_free(struct lure__uring *st) {
  if (st->nest == NULL)
    return;
  close(st->nest->epfd);
  lure__free(st->nest);
  st->nest = NULL;
}
