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
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "internal.h"

#define LURE__EPOLL_BATCH 1024

struct lure__epoll {
  int epfd;
  int nready;   /* events of the batch being dispatched */
  int cursor;   /* next index to dispatch */
  unsigned nwatched; /* watchers registered with epfd */
  struct epoll_event events[LURE__EPOLL_BATCH];
};

/* Marks a watcher as registered with epoll (the backend data needs no
 * memory of its own). */
static char lure__epoll_registered;

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

  if (ep == NULL)
    return;
  close(ep->epfd);
  lure__free(ep);
  loop->priv->backend_data = NULL;
}

static int lure__epoll_io_start(lure_loop_t *loop, struct lure__io *w) {
  struct lure__epoll *ep = loop->priv->backend_data;
  struct epoll_event ev;
  int op = w->bdata != NULL ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

  ev.events = w->events;
  ev.data.ptr = w;
  if (epoll_ctl(ep->epfd, op, w->fd, &ev) != 0)
    return -errno;
  if (op == EPOLL_CTL_ADD)
    ep->nwatched++;
  w->bdata = &lure__epoll_registered;
  return 0;
}

static void lure__epoll_io_stop(lure_loop_t *loop, struct lure__io *w) {
  struct lure__epoll *ep = loop->priv->backend_data;
  struct epoll_event ev;
  int i;

  if (w->bdata == NULL)
    return;
  /* The fd may be closed already (EBADF) or reused: nothing to undo then. */
  (void) epoll_ctl(ep->epfd, EPOLL_CTL_DEL, w->fd, &ev);
  w->bdata = NULL;
  ep->nwatched--;
  for (i = ep->cursor; i < ep->nready; i++)
    if (ep->events[i].data.ptr == w)
      ep->events[i].data.ptr = NULL;
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
  uint64_t spent;
  int left = timeout;
  int n;

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
    if (timeout > 0) {
      spent = (lure__hrtime_ns() - start) / 1000000;
      if (spent >= (uint64_t) timeout)
        break;
      left = timeout - (int) spent;
    }
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
    if (w == NULL)
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
  lure__epoll_poll,
  lure__epoll_fd,
  NULL, /* epoll_ctl takes effect at once: nothing waits for submission */
};
