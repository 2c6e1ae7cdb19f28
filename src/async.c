/*
 * async.c - async handles: wake a loop from any thread.
 *
 * Each loop owns one eventfd, watched by the wait point (POLL_ADD through
 * the ring, or epoll).  lure_async_send() sets the handle's pending flag and
 * writes the eventfd only when the flag was clear, so a burst of sends costs
 * one write and yields one callback (coalescing).  The loop reads the
 * eventfd with a plain read(2), never through the ring (see the eventfd
 * notes in backends/uring-poll.c), and only then clears each handle's flag: a
 * send that finds the flag already set knows that the loop has yet to
 * clear it, so no wake-up is lost.
 */
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "internal.h"

static void lure__async_io(lure_loop_t *loop, struct lure__io *w,
                           unsigned revents) {
  struct lure__queue snapshot;
  struct lure__queue *q;
  lure_async_t *h;
  uint64_t val;

  /* Read, then clear, then scan.  A send that set async_wakeup writes the
   * eventfd; one that found it set skips the write (lure_async_send).  So
   * the flag may be cleared only once the write that set it has been read:
   * cleared first, a send between the clear and the read would set it and
   * write, the read would take that write, and the flag would stay set
   * with no write left to wake the loop; every later send would skip its
   * write (lost wake-ups, seen with 1,048,576 handles: the loop slept
   * until its timer).  A send whose write lands between the read and the
   * clear costs one spurious wake-up; a send that skips before the clear
   * is seen by the scan below, which comes after it. */
  while (read(w->fd, &val, sizeof(val)) < 0 && errno == EINTR)
    ;
  __atomic_store_n(&loop->priv->async_wakeup, 0, __ATOMIC_SEQ_CST);
  loop->priv->async_looked = 0;
  /* Walk a snapshot: callbacks may close (unlink) any async handle. */
  lure__queue_move(&loop->priv->async_handles, &snapshot);
  while (!lure__queue_empty(&snapshot)) {
    q = lure__queue_head(&snapshot);
    h = lure__container_of(q, lure_async_t, queue);
    lure__queue_remove(q);
    lure__queue_insert_tail(&loop->priv->async_handles, q);
    if (__atomic_exchange_n(&h->pending, 0, __ATOMIC_ACQ_REL) == 0)
      continue;
    /* Not for the thread pool's handle: the callbacks of finished work
     * usually queue more, and a worker woken by that may be placed on
     * this CPU, where a spinning loop would only delay it. */
    if (h != &loop->priv->wq_async)
      loop->priv->async_hot = 1;
    if (h->async_cb != NULL)
      h->async_cb(h);
  }
}

static int lure__async_open(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

  if (fd < 0)
    return -errno;
  p->async_fd = fd;
  lure__io_init(&p->async_io, lure__async_io, fd);
  p->async_io.flags = LURE__IO_DRAINS;
  return 0;
}

int lure__async_loop_init(lure_loop_t *loop) {
  int rc = lure__async_open(loop);

  if (rc != 0)
    return rc;
  rc = lure__io_start(loop, &loop->priv->async_io, POLLIN);
  if (rc != 0) {
    close(loop->priv->async_fd);
    loop->priv->async_fd = -1;
  }
  return rc;
}

void lure__async_loop_close(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;

  if (p->async_fd < 0)
    return;
  lure__io_close(loop, &p->async_io);
  close(p->async_fd);
  p->async_fd = -1;
}

/* In the child after fork: the eventfd is shared with the parent.  A
 * handle whose pending flag was set in the parent (a send, or the thread
 * pool's handle with a finished job) was woken through the old eventfd,
 * which the child no longer reads; with its flag still set, every later
 * send would skip the write and the handle would never fire again.  The
 * loop's async_wakeup, also the parent's, may be set too, and while it is
 * set every send skips the write (see lure_async_send).  So the flag is
 * made to say what the new eventfd holds: set, with a write, when a handle
 * is pending (the child's first poll drains it, clears the flag and
 * delivers them); clear, with nothing written, when none is.  Writing
 * always (stop 23) woke the child's first wait for nothing: libuv's
 * fork_signal_to_child, whose child runs the loop once and expects the
 * signal's callback in that run, failed whenever the parent's kill came
 * after the child had entered its wait (4 runs in 6 on a loaded host). */
int lure__async_loop_fork(lure_loop_t *loop) {
  static const uint64_t one = 1;
  struct lure__loop_priv *p = loop->priv;
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct lure__queue *q;
  int wake = 0;

  if (fd < 0)
    return -errno;
  if (p->async_fd >= 0)
    close(p->async_fd);
  p->async_fd = fd;
  p->async_io.fd = fd;
  /* The child has one thread: no send runs while the handles are read. */
  lure__queue_foreach(q, &p->async_handles) {
    if (__atomic_load_n(&lure__container_of(q, lure_async_t, queue)->pending,
                        __ATOMIC_ACQUIRE) != 0)
      wake = 1;
  }
  __atomic_store_n(&p->async_wakeup, wake, __ATOMIC_SEQ_CST);
  p->async_looked = 0;
  if (wake)
    while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
      ;
  return 0;
}

LURE_EXTERN int lure_async_init(lure_loop_t *loop, lure_async_t *h,
                                lure_async_cb async_cb) {
  if (loop == NULL || loop->priv == NULL || h == NULL)
    return LURE_EINVAL;
  lure__handle_init(loop, (lure_handle_t *) h, LURE_ASYNC);
  h->async_cb = async_cb;
  h->pending = 0;
  lure__queue_insert_tail(&loop->priv->async_handles, &h->queue);
  /* An async handle is active from init to close, as in libuv. */
  lure__handle_start((lure_handle_t *) h);
  return 0;
}

LURE_EXTERN int lure_async_send(lure_async_t *h) {
  static const uint64_t one = 1;
  lure_loop_t *loop;
  ssize_t n;

  if (h == NULL || h->type != LURE_ASYNC || h->loop == NULL)
    return LURE_EINVAL;
  /* A send that races lure_close() from another thread is harmless and
   * does nothing, also once the close callback has run (the memory is
   * still the caller's): libuv answers both with 0, and its own async
   * benchmark sends to a handle its loop has just closed.  Nothing of the
   * loop is touched then: it may be gone. */
  if (__atomic_load_n(&h->flags, __ATOMIC_RELAXED) &
      (LURE__HANDLE_CLOSING | LURE__HANDLE_CLOSED))
    return 0;
  if (__atomic_exchange_n(&h->pending, 1, __ATOMIC_ACQ_REL) != 0)
    return 0;
  loop = h->loop;
  /* One write per wake-up of the loop, not one per handle: the loop
   * clears async_wakeup only when it drains the eventfd, just after the
   * read, and scans every handle's flag after that.  A send that finds it
   * set comes before that clear, so the scan after it sees this handle's
   * flag, and the sender that set it writes (or has written) the eventfd
   * that makes the loop drain it.  libuv writes once per handle: with
   * many handles sent to (its million_async), the writes were most of the
   * sender's time.  Nothing of the loop is touched after the write: the
   * loop may be closed by then. */
  if (__atomic_exchange_n(&loop->priv->async_wakeup, 1, __ATOMIC_SEQ_CST) != 0)
    return 0;
  do
    n = write(loop->priv->async_fd, &one, sizeof(one));
  while (n < 0 && errno == EINTR);
  /* EAGAIN means the counter is saturated: the loop is already woken. */
  return 0;
}

void lure__async_close(lure_async_t *h) {
  lure__queue_remove(&h->queue);
}
