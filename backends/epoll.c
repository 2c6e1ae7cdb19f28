/*
 * epoll.c - the wait point when there is no ring.
 *
 * Field notes:
 * - Chosen when io_uring_setup fails (ENOSYS on old kernels or with
 *   CONFIG_IO_URING=n; EPERM from seccomp profiles such as Docker >= 25's
 *   default or kernel.io_uring_disabled=2; EOPNOTSUPP in some sandboxes;
 *   ENOMEM with a small RLIMIT_MEMLOCK before 5.12), when the ring lacks
 *   POLL_ADD, or when LURE_BACKEND=epoll forces it.
 * - Level-triggered registrations, as libuv's, so a poll handle whose owner
 *   does not drain the fd is told again on the next tick.
 * - The poll(2) bits lure uses internally (POLLIN, POLLOUT, POLLPRI,
 *   POLLERR, POLLHUP, POLLRDHUP) have the same values as their EPOLL*
 *   counterparts on Linux, so masks pass through unchanged.
 * - A watcher stopped by a callback while later events of the same
 *   epoll_wait batch still name it must not be called: io_stop() clears its
 *   entries in the batch being dispatched.
 * - Two watchers on one fd are refused (EEXIST) as libuv refuses them.
 * - A stream or UDP watcher (LURE__IO_PARKABLE) that stops is left
 *   registered ("parked") until the start of the next poll, which
 *   deregisters it then; a restart in between is one EPOLL_CTL_MOD instead
 *   of a DEL now and an ADD later.  That is a connecting stream's life:
 *   its connect callback, called from the writable event, starts reading
 *   (libuv's tcp4_pound_100 made ADD, DEL, ADD, DEL per connection; now
 *   ADD, MOD, DEL).  A parked watcher's events are not dispatched, and
 *   lure__io_close() (io_forget) deregisters it at once, while its fd is
 *   open, so nothing is left that names a closed fd or a freed watcher.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "internal.h"

#define LURE__EPOLL_BATCH 1024
#define LURE__EPOLL_PARK_MAX 1024

struct lure__epoll {
  int epfd;
  int nready;   /* events of the batch being dispatched */
  int cursor;   /* next index to dispatch */
  unsigned nwatched; /* watchers registered with epfd and started */
  unsigned nparked;  /* slots of parked[] used since the last poll */
  /* Parked watchers; a parked watcher's bdata points at its slot, and a
   * slot is NULL once its watcher restarted or was forgotten. */
  struct lure__io *parked[LURE__EPOLL_PARK_MAX];
  struct epoll_event events[LURE__EPOLL_BATCH];
};

/* w->bdata of a watcher registered with epoll and started (the backend
 * data needs no memory of its own); a parked one's points into parked[]. */
static char lure__epoll_registered;

static struct lure__io **lure__epoll_slot(struct lure__epoll *ep,
                                          const struct lure__io *w) {
  uintptr_t b = (uintptr_t) w->bdata;

  if (b < (uintptr_t) &ep->parked[0] ||
      b >= (uintptr_t) &ep->parked[LURE__EPOLL_PARK_MAX])
    return NULL;
  return (struct lure__io **) w->bdata;
}

static int lure__epoll_init(lure_loop_t *loop) {
  struct lure__epoll *ep = lure__calloc(1, sizeof(*ep));

  if (ep == NULL)
    return LURE_ENOMEM;
  ep->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (ep->epfd < 0) {
    int rc = -errno;
    lure__free(ep);
    return rc;
  }
  loop->priv->backend_data = ep;
  return 0;
}

static void lure__epoll_destroy(lure_loop_t *loop, int in_child) {
  struct lure__epoll *ep = loop->priv->backend_data;
  unsigned i;

  if (ep == NULL)
    return;
  /* Parked watchers go with the epoll instance: a later start registers
   * them anew, with whichever backend the loop has then. */
  for (i = 0; i < ep->nparked; i++)
    if (ep->parked[i] != NULL)
      ep->parked[i]->bdata = NULL;
  close(ep->epfd);
  lure__free(ep);
  loop->priv->backend_data = NULL;
}

/* Deregister w now.  The fd may be closed already (EBADF) or reused:
 * nothing to undo then. */
static void lure__epoll_del(struct lure__epoll *ep, struct lure__io *w) {
  struct epoll_event ev;

  (void) epoll_ctl(ep->epfd, EPOLL_CTL_DEL, w->fd, &ev);
  w->bdata = NULL;
}

/* Deregister the parked watcher of another handle on fd, if there is one
 * (two handles may share a descriptor as long as one watches it at a
 * time): 1 when one was found. */
static int lure__epoll_unpark_fd(struct lure__epoll *ep, int fd) {
  unsigned i;
  int found = 0;

  for (i = 0; i < ep->nparked; i++) {
    if (ep->parked[i] != NULL && ep->parked[i]->fd == fd) {
      lure__epoll_del(ep, ep->parked[i]);
      ep->parked[i] = NULL;
      found = 1;
    }
  }
  return found;
}

/* Deregister every watcher still parked (the start of a poll). */
static void lure__epoll_unpark(struct lure__epoll *ep) {
  unsigned i;

  for (i = 0; i < ep->nparked; i++)
    if (ep->parked[i] != NULL)
      lure__epoll_del(ep, ep->parked[i]);
  ep->nparked = 0;
}

static int lure__epoll_io_start(lure_loop_t *loop, struct lure__io *w) {
  struct lure__epoll *ep = loop->priv->backend_data;
  struct lure__io **slot = lure__epoll_slot(ep, w);
  struct epoll_event ev;
  int op = w->bdata != NULL ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  int rc;

  ev.events = w->events;
  ev.data.ptr = w;
  rc = epoll_ctl(ep->epfd, op, w->fd, &ev);
  if (rc != 0 && errno == EEXIST && lure__epoll_unpark_fd(ep, w->fd))
    rc = epoll_ctl(ep->epfd, op, w->fd, &ev);
  if (rc != 0)
    return -errno;
  if (slot != NULL)
    *slot = NULL; /* back from parked: the next poll leaves it alone */
  if (w->bdata != &lure__epoll_registered)
    ep->nwatched++;
  w->bdata = &lure__epoll_registered;
  return 0;
}

static void lure__epoll_io_stop(lure_loop_t *loop, struct lure__io *w) {
  struct lure__epoll *ep = loop->priv->backend_data;
  int i;

  if (w->bdata != &lure__epoll_registered)
    return;
  ep->nwatched--;
  if ((w->flags & LURE__IO_PARKABLE) && ep->nparked < LURE__EPOLL_PARK_MAX) {
    ep->parked[ep->nparked] = w;
    w->bdata = &ep->parked[ep->nparked++];
  } else {
    lure__epoll_del(ep, w);
  }
  for (i = ep->cursor; i < ep->nready; i++)
    if (ep->events[i].data.ptr == w)
      ep->events[i].data.ptr = NULL;
}

static void lure__epoll_io_forget(lure_loop_t *loop, struct lure__io *w) {
  struct lure__epoll *ep = loop->priv->backend_data;
  struct lure__io **slot = lure__epoll_slot(ep, w);

  if (slot == NULL)
    return;
  *slot = NULL;
  lure__epoll_del(ep, w);
}

/* Whether epoll_wait with a zero timeout could only return nothing: no
 * descriptor is watched, or the only one is the loop's async eventfd and
 * no lure_async_send() has written it since the loop last drained it (a
 * send that races this check is seen by the next tick; a tick that may
 * sleep always asks epoll). */
static int lure__epoll_nothing_to_see(lure_loop_t *loop,
                                      const struct lure__epoll *ep) {
  if (ep->nwatched == 0)
    return 1;
  return ep->nwatched == 1 && loop->priv->async_io.bdata != NULL &&
         __atomic_load_n(&loop->priv->async_wakeup, __ATOMIC_SEQ_CST) == 0;
}

static void lure__epoll_poll(lure_loop_t *loop, int timeout) {
  struct lure__epoll *ep = loop->priv->backend_data;
  struct lure__io *w;
  unsigned revents;
  uint64_t start = 0;
  int left = timeout;
  int n;

  if (ep->nparked != 0)
    lure__epoll_unpark(ep);
  if (timeout == 0 && lure__epoll_nothing_to_see(loop, ep)) {
    lure__update_time(loop);
    return;
  }
  loop->priv->stats.wait_calls++;
  lure__wait_enter(loop, timeout);
  if (timeout > 0)
    start = lure__hrtime_ns();
  /* A signal caught while waiting makes epoll_wait fail with EINTR before
   * the signal pipe's readiness is seen: wait again for the time left, as
   * libuv does, so that a LURE_RUN_ONCE tick does not end with nothing
   * done (the handler's message is in the pipe, which polls readable at
   * once). */
  for (;;) {
    n = epoll_wait(ep->epfd, ep->events, LURE__EPOLL_BATCH, left);
    if (n >= 0 || errno != EINTR || left == 0)
      break;
    left = lure__wait_left(start, timeout);
    if (left == 0)
      break;
    loop->priv->stats.wait_calls++;
  }
  /* The wait may have lasted: callbacks of this poll phase and the check
   * phase see the time after it (a timer started there counts from now). */
  lure__wait_leave(loop);
  if (n <= 0)
    return; /* timeout, or EINTR with no time left */
  loop->priv->stats.epoll_events += (uint64_t) n;
  ep->nready = n;
  for (ep->cursor = 0; ep->cursor < ep->nready;) {
    struct epoll_event *e = &ep->events[ep->cursor++];

    w = e->data.ptr;
    /* Cleared by io_stop during this batch, or parked since. */
    if (w == NULL || w->bdata != &lure__epoll_registered)
      continue;
    revents = e->events & (w->events | POLLERR | POLLHUP);
    if (revents != 0)
      w->cb(loop, w, revents);
    /* The callback may have closed the loop's backend (lure_loop_configure
     * is refused while watchers are busy, so ep is still ours). */
  }
  ep->nready = 0;
  ep->cursor = 0;
}

static int lure__epoll_fd(const lure_loop_t *loop) {
  const struct lure__epoll *ep = loop->priv->backend_data;

  return ep->epfd;
}

const struct lure__backend_ops lure__backend_epoll = {
  "epoll",
  LURE__BACKEND_EPOLL,
  lure__epoll_init,
  lure__epoll_destroy,
  lure__epoll_io_start,
  lure__epoll_io_stop,
  lure__epoll_io_forget,
  lure__epoll_poll,
  lure__epoll_fd,
  NULL, /* epoll_ctl takes effect at once: nothing waits for submission */
  NULL,
  NULL, /* movable: any thread may wait on an epoll instance */
};
