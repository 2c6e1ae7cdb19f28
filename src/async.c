/*
 * async.c - async handles: wake a loop from any thread.
 *
 * Each loop owns one eventfd, watched by the wait point (POLL_ADD through
 * the ring, or epoll).  lure_async_send() sets the handle's pending flag,
 * then the loop's async_wakeup, and writes the eventfd only when both were
 * clear and the loop may be asleep, so a burst of sends costs one write
 * and yields one callback (coalescing).  The loop reads the eventfd with a
 * plain read(2), never through the ring (see the eventfd notes in
 * backends/uring-poll.c), and only then clears each handle's flag: a send
 * that finds the flag already set knows that the loop has yet to clear
 * it, so no wake-up is lost.
 *
 * A loop that is awake (inside lure_run(), not in a wait that may sleep:
 * async_awake) needs no write: it looks at async_wakeup itself in every
 * poll phase (lure__async_take) and once more after it clears
 * async_awake, just before a wait that may sleep (lure__async_sleep_ok).
 * A send that finds async_awake set skips the write(2); a loop that
 * another thread keeps sending to (libuv's async_pummel) then takes every
 * send from memory, and the sender makes no system call.  The thread
 * pool's own handle always writes (see lure_async_send).  The two sides are a store-load pair
 * (the send: set async_wakeup, read async_awake; the loop: clear
 * async_awake, read async_wakeup), all sequentially consistent, so at
 * least one of them sees the other: either the send writes, or the loop
 * does not sleep.  lure_run() clears async_awake on its way out and writes
 * the eventfd for a send it has not taken, so a loop run by NOWAIT from
 * another event loop's readiness of lure_backend_fd() is woken as before.
 */
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "internal.h"

/* Add one to the eventfd fd: wake whoever waits on it.  EAGAIN means the
 * counter is saturated: the waiter is already woken. */
static void lure__async_wake(int fd) {
  static const uint64_t one = 1;

  while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
    ;
}

/* Clear async_wakeup, then run the callback of every handle whose flag is
 * set.  The clear is an exchange: reading the value the senders' own
 * exchanges wrote, it orders each sender's pending flag before the scan.
 * A send that skipped its write before the clear is seen by the scan,
 * which comes after it; one after the clear sets async_wakeup again.
 * Once per tick: a send from a callback gives its callback on a later
 * tick, as in libuv, even when the eventfd, read after the flags were
 * taken from memory, says so in the same poll phase (async_wakeup stays
 * set for the next one). */
static void lure__async_dispatch(lure_loop_t *loop) {
  struct lure__queue snapshot;
  struct lure__queue *q;
  lure_async_t *h;

  if (loop->priv->async_tick == loop->priv->stats.ticks)
    return;
  loop->priv->async_tick = loop->priv->stats.ticks;
  (void) __atomic_exchange_n(&loop->priv->async_wakeup, 0, __ATOMIC_SEQ_CST);
  /* Walk a snapshot: callbacks may close (unlink) any async handle. */
  lure__queue_move(&loop->priv->async_handles, &snapshot);
  while (!lure__queue_empty(&snapshot)) {
    q = lure__queue_head(&snapshot);
    h = lure__container_of(q, lure_async_t, queue);
    lure__queue_remove(q);
    lure__queue_insert_tail(&loop->priv->async_handles, q);
    /* A look first: a handle not sent to is only read, so a scan of many
     * (libuv's million_async: 1,048,576) does not take every handle's
     * cache line from the thread that sends to them.  A flag set before
     * the clear above is seen here (the clear read what its sender's
     * exchange wrote); one set after it sets async_wakeup again. */
    if (__atomic_load_n(&h->pending, __ATOMIC_RELAXED) == 0 ||
        __atomic_exchange_n(&h->pending, 0, __ATOMIC_ACQ_REL) == 0)
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

static void lure__async_io(lure_loop_t *loop, struct lure__io *w,
                           unsigned revents) {
  uint64_t val;

  (void) revents;
  /* Read, then clear, then scan.  A send that set async_wakeup while the
   * loop slept writes the eventfd; one that found it set skips the write
   * (lure_async_send).  Cleared before the read, a send between the clear
   * and the read would set it and write, the read would take that write,
   * and the flag would stay set with no write left: the loop would not
   * wake for it (seen with 1,048,576 handles before the loop looked at
   * the flag itself before sleeping; lure__async_sleep_ok now catches
   * that too).  A send whose write lands between the read and the clear
   * costs one spurious wake-up. */
  while (read(w->fd, &val, sizeof(val)) < 0 && errno == EINTR)
    ;
  lure__async_dispatch(loop);
}

/* The poll phase: sends that found the loop awake wrote nothing; take them
 * from memory.  1 when callbacks were looked for. */
int lure__async_take(lure_loop_t *loop) {
  if (__atomic_load_n(&loop->priv->async_wakeup, __ATOMIC_ACQUIRE) == 0)
    return 0;
  lure__async_dispatch(loop);
  return 1;
}

/* Just before a wait that may sleep: from now on a send writes the
 * eventfd.  0 when a send came first, whose callbacks have run: the wait
 * must not sleep then. */
int lure__async_sleep_ok(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;

  __atomic_store_n(&p->async_awake, 0, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&p->async_wakeup, __ATOMIC_SEQ_CST) == 0)
    return 1;
  __atomic_store_n(&p->async_awake, 1, __ATOMIC_RELAXED);
  lure__async_dispatch(loop);
  return 0;
}

/* lure_run() begins (awake = 1) or ends (awake = 0).  On the way out, a
 * send the loop has not taken is written to the eventfd, so that the next
 * lure_run(), or whoever polls lure_backend_fd(), sees it. */
void lure__async_set_awake(lure_loop_t *loop, int awake) {
  struct lure__loop_priv *p = loop->priv;

  if (awake) {
    __atomic_store_n(&p->async_awake, 1, __ATOMIC_RELAXED);
    return;
  }
  __atomic_store_n(&p->async_awake, 0, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&p->async_wakeup, __ATOMIC_SEQ_CST) != 0 &&
      p->async_fd >= 0)
    lure__async_wake(p->async_fd);
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
  if (wake)
    lure__async_wake(fd);
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
  lure_loop_t *loop;

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
   * clears async_wakeup just before it scans every handle's flag.  A send
   * that finds it set comes before that clear, so the scan after it sees
   * this handle's flag, and whoever set it either wrote (or will write)
   * the eventfd or found the loop awake, which takes it from memory.
   * libuv writes once per handle: with many handles sent to (its
   * million_async), the writes were most of the sender's time.  Nothing
   * of the loop is touched after the write: the loop may be closed by
   * then. */
  if (__atomic_exchange_n(&loop->priv->async_wakeup, 1, __ATOMIC_SEQ_CST) != 0)
    return 0;
  /* The loop is awake: it reads async_wakeup before it may sleep (see the
   * top of this file).  Not for the thread pool's handle, whose worker
   * writes as before: libuv's queue_work (one job at a time) ran 8%
   * slower on epoll when the loop took finished jobs from memory and went
   * on without sleeping (6 alternating rounds: 25-28k against 27-30k jobs
   * per second); with the write, as fast as before. */
  if (h != &loop->priv->wq_async &&
      __atomic_load_n(&loop->priv->async_awake, __ATOMIC_SEQ_CST) != 0)
    return 0;
  lure__async_wake(loop->priv->async_fd);
  return 0;
}

void lure__async_close(lure_async_t *h) {
  lure__queue_remove(&h->queue);
}
