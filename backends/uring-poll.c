/*
 * uring-poll.c - fd watchers on the ring: each is a POLL_ADD request with
 * a poll record (struct lure__upoll) that lives until its final CQE.
 *
 * Field notes:
 * - Watchers whose owner drains the fd on every event (the loop's eventfd
 *   and signal pipe) use multishot (5.13); poll handles use one-shot
 *   requests re-armed after each event, because arming re-checks readiness
 *   and so gives libuv's level-triggered behaviour.  A multishot that the
 *   kernel ends (no IORING_CQE_F_MORE), or refuses with EINVAL on kernels
 *   before 5.13, is re-armed as one-shot.
 * - The eventfd is never read through the ring: 6.15.4 regressed on that,
 *   and a non-blocking eventfd read through the ring can come back EAGAIN.
 *   The ring only polls it; the loop read(2)s it.
 * - Closing an fd does not cancel a poll armed on it, and the poll holds
 *   the file.  Watchers are stopped with ASYNC_CANCEL (POLL_REMOVE before
 *   5.5), and their poll record lives until its final CQE, so a late CQE
 *   never touches freed memory.  A POLL_ADD still in the SQ when its
 *   watcher stops is turned into a NOP instead (lure__upoll_release).
 * - A poll that cannot get an SQE (CQ backlog on kernels without NODROP)
 *   is parked in user space and armed in the next poll phase.
 */
#include <errno.h>
#include <poll.h>
#include "uring-int.h"

/* Hidden in the library, set only by tests: the next this many POLL_ADDs
 * are NOPs the kernel completes -EINTR (Linux 6.10). */
unsigned lure__uring_fault_poll_eintr;

static void lure__upoll_arm(lure_loop_t *loop, struct lure__uring *st,
                            struct lure__upoll *up) {
  struct io_uring_sqe *sqe = lure__uring_sqe(loop, st);

  if (sqe == NULL) {
    if (!up->parked) {
      up->parked = 1;
      lure__queue_insert_tail(&st->parked, &up->park_link);
    }
    return;
  }
  if (up->multishot && !st->no_multishot)
    io_uring_prep_poll_multishot(sqe, up->w->fd, up->mask);
  else
    io_uring_prep_poll_add(sqe, up->w->fd, up->mask);
  lure__uring_fault_inject(&lure__uring_fault_poll_eintr, sqe, -EINTR);
  io_uring_sqe_set_data64(sqe, lure__uring_pack(up, LURE__TAG_POLL));
  up->armed = 1;
  up->sqe = sqe;
  up->sq_pos = st->ring.sq.sqe_tail - 1;
}

/* Let go of a poll record: remove it from the kernel, free it once no CQE
 * can name it anymore. */
static void lure__upoll_release(lure_loop_t *loop, struct lure__uring *st,
                                struct lure__upoll *up) {
  struct io_uring_sqe *sqe;

  up->w = NULL;
  if (up->parked) {
    up->parked = 0;
    lure__queue_remove(&up->park_link);
  }
  /* A POLL_ADD that has not left the SQ never will: it becomes a NOP, and
   * the record goes now.  Submitted with the next wait, it would look the
   * fd up only then, and a watcher released in the same tick is most often
   * that of a handle being closed: by then the number may name another
   * thread's new socket, and the poll would hold that socket open (no FIN
   * when its owner closed it; seen as a hang of libuv's tcp_multi_accept2
   * with the ring's accept masked: a stream's read callback got EOF, the
   * poll was armed again before the callback and released by its close,
   * and its peer's server waited for an EOF forever). */
  if (up->armed && lure__uring_sq_pos_unsent(st, up->sq_pos)) {
    io_uring_prep_nop(up->sqe);
    io_uring_sqe_set_data64(up->sqe, LURE__UD_IGNORE);
    up->armed = 0;
  }
  if (!up->armed) {
    lure__queue_remove(&up->link);
    lure__free(up);
    return;
  }
  sqe = lure__uring_sqe(loop, st);
  if (sqe == NULL)
    return; /* the poll fires or is flushed eventually; its CQE frees up */
  /* ASYNC_CANCEL (5.5) where the ring has it: POLL_REMOVE fails with
   * EALREADY when it meets the poll while a wake-up owns it (an event
   * the mask does not take, say), and a poll left armed that way holds
   * its file, whose owner has closed it, until a matching event comes:
   * a socket whose FIN its peer then waits for never sends it.  A cancel
   * marks the poll, and whoever owns it completes it with ECANCELED. */
  if (lure__uring_has_op(st->ops, IORING_OP_ASYNC_CANCEL))
    io_uring_prep_cancel64(sqe, lure__uring_pack(up, LURE__TAG_POLL), 0);
  else
    io_uring_prep_poll_remove(sqe, lure__uring_pack(up, LURE__TAG_POLL));
  io_uring_sqe_set_data64(sqe, LURE__UD_IGNORE);
}

int lure__uring_io_start(lure_loop_t *loop, struct lure__io *w) {
  struct lure__uring *st = loop->priv->backend_data;
  struct lure__upoll *up = w->bdata;

  if (w->flags & LURE__IO_NOHOLD)
    return lure__uring_nest_start(loop, st, w);
  if (up != NULL) {
    if (up->want == w->events)
      return 0;
    lure__upoll_release(loop, st, up);
    w->bdata = NULL;
  }
  up = lure__calloc(1, sizeof(*up));
  if (up == NULL)
    return LURE_ENOMEM;
  up->w = w;
  up->want = w->events;
  up->mask = w->events;
  up->multishot = (w->flags & LURE__IO_DRAINS) != 0;
  /* A poll for POLLPRI alone is never woken on this kernel (6.18): the
   * socket's wake-up names POLLIN, which the request's mask filters out.
   * Arm it with POLLIN too, as multishot so that unread ordinary data does
   * not make it fire in a loop, and drop the POLLIN-only completions. */
  if ((up->mask & POLLPRI) && !(up->mask & POLLIN)) {
    up->mask |= POLLIN;
    up->multishot = 1;
  }
  lure__queue_insert_tail(&st->polls, &up->link);
  w->bdata = up;
  lure__upoll_arm(loop, st, up);
  return 0;
}

void lure__uring_io_stop(lure_loop_t *loop, struct lure__io *w) {
  struct lure__uring *st = loop->priv->backend_data;
  struct lure__upoll *up = w->bdata;

  if (up == NULL)
    return;
  if (lure__uring_nest_owns(w)) {
    lure__uring_nest_stop(loop, st, w);
    return;
  }
  w->bdata = NULL;
  lure__upoll_release(loop, st, up);
}

/* A poll completes with the mask of the wake-up that ended it, not with
 * the file's readiness read again (epoll reads it again before it
 * reports): a socket that receives ordinary data wakes its waiters with
 * POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND (sock_def_readable, TCP and
 * Unix alike), so the ring says POLLPRI for every chunk of data.  A
 * LURE_PRIORITIZED watcher, which libuv calls only for urgent data, asks
 * the file itself, with poll(2) and no wait.  Other bits stay as the ring
 * gave them: a readiness that is gone by the callback is one libuv
 * documents for poll handles too (the user reads EAGAIN). */
static unsigned lure__upoll_real_pri(int fd, unsigned revents) {
  struct pollfd pfd;
  int rc;

  pfd.fd = fd;
  pfd.events = POLLPRI;
  pfd.revents = 0;
  do
    rc = poll(&pfd, 1, 0);
  while (rc < 0 && errno == EINTR);
  if (rc >= 0 && !(pfd.revents & POLLPRI))
    revents &= ~(unsigned) POLLPRI;
  return revents;
}

void lure__uring_upoll_complete(lure_loop_t *loop, struct lure__uring *st,
                                 struct lure__upoll *up, int res,
                                 unsigned flags) {
  struct lure__io *w = up->w;
  unsigned revents;

  if (!(flags & IORING_CQE_F_MORE))
    up->armed = 0;
  if (w == NULL) {
    st->quiet++;
    if (!up->armed) {
      lure__queue_remove(&up->link);
      lure__free(up);
    }
    return;
  }
  if (res == -EINVAL && up->multishot && !st->no_multishot) {
    /* Multishot poll is 5.13+: continue one-shot. */
    st->no_multishot = 1;
    lure__upoll_arm(loop, st, up);
    return;
  }
  if (res < 0) {
    /* Cancelled (by a POLL_REMOVE that raced a change of mask), or
     * interrupted: nothing happened to the descriptor, and epoll, which
     * libuv waits on, never reports either per descriptor.  Armed again,
     * unseen by the watcher. */
    if (res == -ECANCELED || res == -EINTR || res == -EAGAIN) {
      st->quiet++;
      lure__upoll_arm(loop, st, up);
      return;
    }
    revents = res == -EBADF ? POLLNVAL : POLLERR;
  } else {
    revents = (unsigned) res & (up->want | POLLERR | POLLHUP | POLLNVAL);
    if (revents & POLLPRI)
      revents = lure__upoll_real_pri(w->fd, revents);
    /* Re-arm before the callback, so that a callback that stops or changes
     * the watcher finds a live request to remove. */
    if (!up->armed)
      lure__upoll_arm(loop, st, up);
    if (revents == 0) {
      /* Nothing the watcher asked for: the POLLIN added for a POLLPRI
       * watcher, or a POLLPRI that was not there.  Unseen, and it does not
       * end the wait (epoll never reports it). */
      st->quiet++;
      return;
    }
  }
  w->cb(loop, w, revents);
}



void lure__uring_polls_unpark(lure_loop_t *loop, struct lure__uring *st) {
  struct lure__upoll *up;

  while (!lure__queue_empty(&st->parked)) {
    up = lure__container_of(lure__queue_head(&st->parked), struct lure__upoll,
                            park_link);
    lure__queue_remove(&up->park_link);
    up->parked = 0;
    lure__upoll_arm(loop, st, up);
    if (up->parked)
      break; /* still no room */
  }
}

void lure__uring_polls_free(struct lure__uring *st) {
  struct lure__upoll *up;

  while (!lure__queue_empty(&st->polls)) {
    up = lure__container_of(lure__queue_head(&st->polls), struct lure__upoll,
                            link);
    lure__queue_remove(&up->link);
    if (up->w != NULL)
      up->w->bdata = NULL;
    lure__free(up);
  }
}
