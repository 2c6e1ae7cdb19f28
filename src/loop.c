/*
 * loop.c - loop init/close, lure_run and its phases, liveness, stop, the
 * choice of the wait point and the fd watchers the backends serve.
 *
 * lure_run() below reads as lure(7) lists the phases; keep them in step.
 */
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "stream.h"
#include "udp.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define LURE__HAVE_VALGRIND_H 1
#endif
#endif

static lure_loop_t lure__default_loop_storage;
static lure_loop_t *lure__default_loop_ptr;

/* ---- time ---------------------------------------------------------------- */

void lure__update_time(lure_loop_t *loop) {
  loop->priv->time = lure__hrtime_ns() / 1000000u;
}

void lure__wait_enter(lure_loop_t *loop, int timeout) {
  struct lure__loop_priv *p = loop->priv;
  sigset_t set;

  /* libuv counts only waits that may sleep: a zero timeout is no idle. */
  p->wait_entry = (p->metrics_idle && timeout != 0) ? lure__hrtime_ns() : 0;
  if (p->block_sigprof) {
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    p->wait_blocked =
        pthread_sigmask(SIG_BLOCK, &set, &p->wait_oldmask) == 0;
  }
}

void lure__wait_leave(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;

  if (p->wait_blocked) {
    (void) pthread_sigmask(SIG_SETMASK, &p->wait_oldmask, NULL);
    p->wait_blocked = 0;
  }
  if (p->wait_entry != 0) {
    /* One clock read serves the idle count and the loop's time. */
    uint64_t now = lure__hrtime_ns();

    p->idle_time += now - p->wait_entry;
    p->wait_entry = 0;
    p->time = now / 1000000u;
  } else {
    lure__update_time(loop);
  }
}

/* What is left of a wait of timeout ms begun at start (lure__hrtime_ns)
 * that a wake-up with nothing to report interrupted: ms to wait again, -1
 * for an endless wait, 0 when it is over.  Both wait points go on waiting
 * after such a wake-up, as libuv's does. */
int lure__wait_left(uint64_t start, int timeout) {
  uint64_t spent;

  if (timeout <= 0)
    return timeout;
  spent = (lure__hrtime_ns() - start) / 1000000u;
  return spent >= (uint64_t) timeout ? 0 : timeout - (int) spent;
}

LURE_EXTERN uint64_t lure_metrics_idle_time(lure_loop_t *loop) {
  if (loop == NULL || loop->priv == NULL)
    return 0;
  return loop->priv->idle_time;
}

LURE_EXTERN void lure_update_time(lure_loop_t *loop) {
  if (loop != NULL && loop->priv != NULL)
    lure__update_time(loop);
}

LURE_EXTERN uint64_t lure_now(const lure_loop_t *loop) {
  if (loop == NULL || loop->priv == NULL)
    return 0;
  return loop->priv->time;
}

/* ---- fd watchers ----------------------------------------------------------- */

void lure__io_init(struct lure__io *w, lure__io_cb cb, int fd) {
  w->cb = cb;
  w->fd = fd;
  w->events = 0;
  w->flags = 0;
  w->bdata = NULL;
  lure__queue_init(&w->queue);
}

int lure__io_start(lure_loop_t *loop, struct lure__io *w, unsigned events) {
  unsigned old = w->events;
  int rc;

  if ((old | events) == old && !lure__queue_empty(&w->queue))
    return 0;
  w->events = old | events;
  rc = loop->priv->backend->io_start(loop, w);
  if (rc != 0) {
    w->events = old;
    return rc;
  }
  if (lure__queue_empty(&w->queue))
    lure__queue_insert_tail(&loop->priv->watchers, &w->queue);
  return 0;
}

void lure__io_stop(lure_loop_t *loop, struct lure__io *w, unsigned events) {
  unsigned now = w->events & ~events;

  if (lure__queue_empty(&w->queue))
    return;
  if (now == w->events)
    return;
  w->events = now;
  if (now == 0) {
    loop->priv->backend->io_stop(loop, w);
    lure__queue_remove(&w->queue);
  } else if (loop->priv->backend->io_start(loop, w) != 0) {
    /* Could not narrow the mask: stop entirely rather than report events
     * nobody asked for. */
    w->events = 0;
    loop->priv->backend->io_stop(loop, w);
    lure__queue_remove(&w->queue);
  }
}

void lure__io_close(lure_loop_t *loop, struct lure__io *w) {
  lure__io_stop(loop, w, ~0u);
  if (loop->priv->backend->io_forget != NULL)
    loop->priv->backend->io_forget(loop, w);
}

/* ---- pending --------------------------------------------------------------- */

void lure__pending_add(lure_loop_t *loop, struct lure__pending *p) {
  lure__queue_insert_tail(&loop->priv->pending_queue, &p->queue);
}

/* Run what is deferred now; what those callbacks defer waits for the next
 * round. */
static void lure__run_pending(lure_loop_t *loop) {
  struct lure__queue snapshot;
  struct lure__queue *q;
  struct lure__pending *p;

  if (lure__queue_empty(&loop->priv->pending_queue))
    return;
  lure__queue_move(&loop->priv->pending_queue, &snapshot);
  while (!lure__queue_empty(&snapshot)) {
    q = lure__queue_head(&snapshot);
    lure__queue_remove(q);
    p = lure__container_of(q, struct lure__pending, queue);
    p->cb(loop, p);
  }
}

/* ---- options ----------------------------------------------------------------- */

static int lure__parse_backend(const char *name) {
  if (name == NULL)
    return -1;
  if (strcmp(name, "uring") == 0 || strcmp(name, "io_uring") == 0)
    return LURE__BACKEND_URING;
  if (strcmp(name, "epoll") == 0)
    return LURE__BACKEND_EPOLL;
  return -1;
}

/* A decimal number from 0 to max in the environment variable name, into
 * *out; unset, empty or anything else leaves *out as it is. */
static void lure__env_uint(const char *name, unsigned max, unsigned *out) {
  const char *s = getenv(name);
  char *end;
  long n;

  if (s == NULL || *s == '\0')
    return;
  n = strtol(s, &end, 10);
  if (*end == '\0' && n >= 0 && n <= (long) max)
    *out = (unsigned) n;
}

static void lure__read_env(struct lure__loop_priv *p) {
  const char *s;
  unsigned char mask[32];
  long n;
  int which;

  s = getenv("LURE_BACKEND");
  which = lure__parse_backend(s);
  if (which > 0) {
    p->forced_backend = which;
    p->forced_strict = 1;
  }
  /* An unknown opcode name in the environment cannot be reported to anyone;
   * the known names of the list still apply. */
  s = getenv("LURE_URING_DISABLE");
  if (s != NULL) {
    lure__parse_uring_disable_lenient(s, mask);
    memcpy(p->uring_disabled, mask, sizeof(mask));
  }
  s = getenv("LURE_RING_ENTRIES");
  if (s != NULL) {
    n = strtol(s, NULL, 10);
    if (n >= 1 && n <= 32768)
      p->ring_entries = (unsigned) n;
  }
  /* LURE_LOOP_STREAM_WARMUP for programs that cannot call
   * lure_loop_configure: 0..255; anything else is ignored. */
  lure__env_uint("LURE_STREAM_WARMUP", LURE__STREAM_WARMUP_MAX,
                 &p->stream_warmup);
  /* The adaptive router of buffered writes (executor.c): "0" off, "1" on
   * even with a forced wait point; anything else leaves the default. */
  s = getenv("LURE_FS_ADAPT");
  if (s != NULL && (strcmp(s, "0") == 0 || strcmp(s, "1") == 0))
    p->fs_adapt.setting = s[0] - '0';
  /* LURE_LOOP_SINGLE_THREAD for programs that cannot call
   * lure_loop_configure: "1" on, "0" off; anything else is ignored. */
  s = getenv("LURE_SINGLE_THREAD");
  if (s != NULL && (strcmp(s, "0") == 0 || strcmp(s, "1") == 0))
    p->single_thread = s[0] - '0';
  /* LURE_LOOP_BUSY_POLL for programs that cannot call lure_loop_configure
   * (a libuv program built against uv.h): microseconds, 0..1000; anything
   * else is ignored. */
  lure__env_uint("LURE_BUSY_POLL", LURE__BUSY_POLL_MAX_US, &p->busy.us);
}

/* ---- the wait point ------------------------------------------------------------ */

/* Open the wait point: the first of the preference table (executor.c)
 * whose init succeeds.  A forced one (which) is tried first, then those
 * after it in the table, unless it was demanded (strict): its failure is
 * then the answer. */
static int lure__backend_open(lure_loop_t *loop, int which, int strict) {
  const struct lure__backend_ops *const *b = lure__wait_points;
  int rc = LURE_ENOSYS;

  if (which != LURE__BACKEND_AUTO) {
    while (*b != NULL && (*b)->id != which)
      b++;
    if (*b == NULL)
      return LURE_EINVAL;
  }
  for (; *b != NULL; b++) {
    rc = (*b)->init(loop);
    if (rc == 0) {
      loop->priv->backend = *b;
      return 0;
    }
    if ((*b)->id == which && strict)
      return rc;
  }
  return rc;
}

/* Register every started watcher with a freshly opened backend. */
static void lure__watchers_restart(lure_loop_t *loop) {
  struct lure__queue *q;
  struct lure__io *w;

  lure__queue_foreach(q, &loop->priv->watchers) {
    w = lure__container_of(q, struct lure__io, queue);
    w->bdata = NULL;
    /* A watcher the new backend refuses is reported as an error event to
     * its owner on the next poll of the same fd; here it stays listed. */
    (void) loop->priv->backend->io_start(loop, w);
  }
}

static int lure__loop_busy(const lure_loop_t *loop) {
  const struct lure__queue *q;
  const struct lure__io *w;

  if (loop->priv->active_reqs != 0)
    return 1;
  lure__queue_foreach(q, &loop->priv->watchers) {
    w = lure__container_of(q, const struct lure__io, queue);
    if (w != &loop->priv->async_io && w != &loop->priv->signal_io &&
        !lure__fs_event_is_io(loop, w))
      return 1;
  }
  /* Streams that read on the ring's path keep operations in it, and lent
   * ring buffers must stay mapped.  (Listeners and receiving UDP handles
   * wait on their watchers, above; UDP sends in the ring are requests.) */
  if (lure__sock_buffers_lent(loop))
    return 1;
  lure__queue_foreach(q, &loop->priv->handle_queue) {
    const lure_handle_t *h =
        lure__container_of(q, const lure_handle_t, handle_queue);

    if (lure__is_stream(h) &&
        lure__stream_sock((const lure_stream_t *) h)->holds_ops &&
        (((const lure_stream_t *) h)->stream_flags & LURE__STREAM_READING))
      return 1;
  }
  return 0;
}

/* Sockets that stopped reading may still have a cancelled operation in the
 * ring; let the ring finish them (their bytes are kept for the next read,
 * no callback runs) before it goes. */
static void lure__loop_drain_ring(lure_loop_t *loop) {
  struct lure__queue *q;
  int left;
  int i;

  for (i = 0; i < 100; i++) {
    left = 0;
    lure__queue_foreach(q, &loop->priv->handle_queue) {
      if (lure__handle_exec_ops(
              lure__container_of(q, const lure_handle_t, handle_queue)) > 0)
        left = 1;
    }
    if (!left)
      return;
    loop->priv->backend->poll(loop, i < 10 ? 0 : 1);
  }
}

/* Close the wait point and open `which`; the caller made sure nothing in
 * flight needs the old one. */
static int lure__loop_reopen_backend(lure_loop_t *loop, int which,
                                     int strict) {
  struct lure__loop_priv *p = loop->priv;
  const struct lure__backend_ops *old = p->backend;
  struct lure__queue *q;
  int rc;

  lure__loop_drain_ring(loop);
  lure__queue_foreach(q, &p->watchers)
    old->io_stop(loop, lure__container_of(q, struct lure__io, queue));
  old->destroy(loop, 0);
  p->backend = NULL;
  /* What the router learned was of the old wait point and mask. */
  lure__fs_adapt_reset(loop);
  rc = lure__backend_open(loop, which, strict);
  if (rc != 0) {
    /* Put back a working wait point; epoll needs no privilege. */
    if (lure__backend_open(loop, LURE__BACKEND_AUTO, 0) != 0)
      (void) lure__backend_open(loop, LURE__BACKEND_EPOLL, 0);
  }
  if (p->backend != NULL)
    lure__watchers_restart(loop);
  lure__queue_foreach(q, &p->handle_queue) {
    lure_handle_t *h = lure__container_of(q, lure_handle_t, handle_queue);
    if (lure__is_stream(h))
      lure__stream_after_fork((lure_stream_t *) h);
    else if (h->type == LURE_UDP)
      lure__udp_after_fork((lure_udp_t *) h);
  }
  return rc;
}

int lure__loop_switch_backend(lure_loop_t *loop, int which, int strict) {
  /* An idle AIO context holds a watcher; with no request left the fs
   * executors' per-loop state can go (it is made again on demand). */
  if (loop->priv->active_reqs == 0)
    lure__fs_executors_close(loop);
  if (lure__loop_busy(loop))
    return LURE_EBUSY;
  return lure__loop_reopen_backend(loop, which, strict);
}

/* lure_run() from another thread than the one a single issuer's ring
 * belongs to (LURE_LOOP_SINGLE_THREAD): if nothing of the loop's is in
 * that ring (the loop was run to the end, say, and is now used here), a
 * new ring takes over and this thread becomes its issuer.  Otherwise the
 * poll phase makes lure_run() return LURE_EEXIST. */
static void lure__loop_rehome(lure_loop_t *loop) {
  const struct lure__backend_ops *b = loop->priv->backend;

  if (b->movable != NULL && b->movable(loop))
    (void) lure__loop_reopen_backend(loop, b->id, 1);
}

/* ---- init and close ---------------------------------------------------------------- */

LURE_EXTERN int lure_loop_init(lure_loop_t *loop) {
  struct lure__loop_priv *p;
  int rc;

  if (loop == NULL)
    return LURE_EINVAL;
  p = lure__calloc(1, sizeof(*p));
  if (p == NULL)
    return LURE_ENOMEM;
  loop->priv = p;
  loop->active_handles = 0;
  p->loop = loop;
  lure__queue_init(&p->handle_queue);
  lure__queue_init(&p->pending_queue);
  lure__queue_init(&p->idle_handles);
  lure__queue_init(&p->prepare_handles);
  lure__queue_init(&p->check_handles);
  lure__queue_init(&p->async_handles);
  lure__queue_init(&p->watchers);
  lure__queue_init(&p->borrowed);
  lure__heap_init(&p->timer_heap);
  p->async_fd = -1;
  p->signal_pipe[0] = -1;
  p->signal_pipe[1] = -1;
  p->emfile_fd = -1;
  p->ring_entries = 256;
  p->stream_warmup = LURE__STREAM_WARMUP_DEFAULT;
  lure__fs_adapt_init(loop);
  p->fs_behind_pool = -1;
  lure__read_env(p);
  lure__update_time(loop);

  rc = lure__backend_open(loop, p->forced_backend, p->forced_strict);
  if (rc != 0)
    goto fail;
  rc = lure__async_loop_init(loop);
  if (rc != 0)
    goto fail_backend;
  rc = lure__wq_loop_init(loop);
  if (rc != 0)
    goto fail_async;
  return 0;

fail_async:
  lure__async_loop_close(loop);
fail_backend:
  p->backend->destroy(loop, 0);
fail:
  lure__free(p);
  loop->priv = NULL;
  return rc;
}

LURE_EXTERN int lure_loop_close(lure_loop_t *loop) {
  struct lure__loop_priv *p;
  struct lure__queue *q;
  lure_handle_t *h;

  if (loop == NULL || loop->priv == NULL)
    return LURE_EINVAL;
  p = loop->priv;
  if (p->active_reqs != 0 || p->closing_handles != NULL)
    return LURE_EBUSY;
  lure__queue_foreach(q, &p->handle_queue) {
    h = lure__container_of(q, lure_handle_t, handle_queue);
    if (!(h->flags & LURE__HANDLE_INTERNAL))
      return LURE_EBUSY;
  }
  lure__process_loop_close(loop);
  lure__fs_executors_close(loop);
  lure__borrow_free_all(loop);
  if (p->emfile_fd >= 0)
    close(p->emfile_fd);
  lure__signal_loop_close(loop);
  lure__fs_event_loop_close(loop);
  lure__wq_loop_close(loop);
  lure__async_loop_close(loop);
  p->backend->destroy(loop, 0);
  lure__free(p);
  loop->priv = NULL;
  if (loop == lure__default_loop_ptr)
    lure__default_loop_ptr = NULL;
  return 0;
}

LURE_EXTERN lure_loop_t *lure_default_loop(void) {
  if (lure__default_loop_ptr != NULL)
    return lure__default_loop_ptr;
  if (lure_loop_init(&lure__default_loop_storage) != 0)
    return NULL;
  lure__default_loop_ptr = &lure__default_loop_storage;
  return lure__default_loop_ptr;
}

int lure__loop_is_default(const lure_loop_t *loop) {
  return loop != NULL && loop == lure__default_loop_ptr;
}

/* What the poll phase has dispatched so far: completions and events. */
static uint64_t lure__events_seen(const struct lure__loop_priv *p) {
  return p->stats.cqes_reaped + p->stats.epoll_events;
}

LURE_EXTERN int lure_loop_configure(lure_loop_t *loop, lure_loop_option option,
                                    ...) {
  struct lure__loop_priv *p;
  unsigned char mask[32];
  unsigned char saved[32];
  const char *s;
  unsigned n;
  unsigned old_entries;
  int which;
  int rc = 0;
  va_list ap;

  if (loop == NULL || loop->priv == NULL)
    return LURE_EINVAL;
  p = loop->priv;
  va_start(ap, option);
  switch (option) {
    case LURE_LOOP_BLOCK_SIGNAL:
      /* As libuv: SIGPROF is the one signal this option takes. */
      if (va_arg(ap, int) != SIGPROF) {
        rc = LURE_EINVAL;
        break;
      }
      p->block_sigprof = 1;
      break;

    case LURE_METRICS_IDLE_TIME:
      p->metrics_idle = 1;
      break;

    case LURE_LOOP_BACKEND:
      s = va_arg(ap, const char *);
      which = lure__parse_backend(s);
      if (which < 0) {
        rc = LURE_EINVAL;
        break;
      }
      if (p->backend->id == which) {
        /* Already there: it is forced from now on all the same. */
        p->forced_backend = which;
        p->forced_strict = 1;
        break;
      }
      rc = lure__loop_switch_backend(loop, which, 1);
      if (rc == 0) {
        p->forced_backend = which;
        p->forced_strict = 1;
      }
      break;

    case LURE_LOOP_URING_DISABLE:
      s = va_arg(ap, const char *);
      rc = lure__parse_uring_disable(s, mask);
      if (rc != 0)
        break;
      /* With epoll forced the mask only matters if the ring comes back:
       * store it.  Otherwise the ring is set up again, which needs a loop
       * with nothing in flight. */
      if (p->forced_backend != LURE__BACKEND_EPOLL && lure__loop_busy(loop)) {
        rc = LURE_EBUSY;
        break;
      }
      memcpy(saved, p->uring_disabled, sizeof(saved));
      memcpy(p->uring_disabled, mask, sizeof(mask));
      /* The ring applies the mask to its probe when it is set up, so a new
       * mask takes effect by setting the wait point up again.  Without
       * poll_add the ring declines to be the wait point and epoll serves. */
      if (p->forced_backend != LURE__BACKEND_EPOLL) {
        rc = lure__loop_switch_backend(loop, p->forced_backend,
                                       p->forced_strict);
        if (rc != 0) {
          memcpy(p->uring_disabled, saved, sizeof(saved));
          (void) lure__loop_switch_backend(loop, p->forced_backend,
                                           p->forced_strict);
        }
      }
      break;

    case LURE_LOOP_RING_ENTRIES:
      n = va_arg(ap, unsigned);
      if (n < 1 || n > 32768) {
        rc = LURE_EINVAL;
        break;
      }
      old_entries = p->ring_entries;
      p->ring_entries = n;
      if (p->backend->id == LURE__BACKEND_URING) {
        rc = lure__loop_switch_backend(loop, LURE__BACKEND_URING, 1);
        if (rc != 0)
          p->ring_entries = old_entries;
      }
      break;

    case LURE_LOOP_FS_ADAPT:
      /* int: 1 on (even with a forced wait point), 0 off. */
      n = (unsigned) va_arg(ap, int);
      if (n > 1) {
        rc = LURE_EINVAL;
        break;
      }
      p->fs_adapt.setting = (int) n;
      lure__fs_adapt_reset(loop);
      break;

    case LURE_LOOP_FS_BEHIND_POOL:
      n = (unsigned) va_arg(ap, int);
      if (n > 1) {
        rc = LURE_EINVAL;
        break;
      }
      p->fs_behind_pool = (int) n;
      break;

    case LURE_LOOP_LIBUV_DEFAULTS:
      p->libuv_defaults = 1;
      break;

    case LURE_LOOP_SINGLE_THREAD:
      /* int: 1 or 0.  The ring is set up again with the new flags, which
       * needs a loop with nothing in flight; on epoll it is only stored. */
      n = (unsigned) va_arg(ap, int);
      if (n > 1) {
        rc = LURE_EINVAL;
        break;
      }
      if ((int) n == p->single_thread)
        break;
      if (p->backend->id == LURE__BACKEND_URING) {
        p->single_thread = (int) n;
        rc = lure__loop_switch_backend(loop, LURE__BACKEND_URING, 1);
        if (rc != 0) {
          p->single_thread = !(int) n;
          if (rc != LURE_EBUSY)
            (void) lure__loop_switch_backend(loop, p->forced_backend,
                                             p->forced_strict);
        }
      } else {
        p->single_thread = (int) n;
      }
      break;

    case LURE_LOOP_BUSY_POLL:
      n = va_arg(ap, unsigned);
      if (n > LURE__BUSY_POLL_MAX_US) {
        rc = LURE_EINVAL;
        break;
      }
      memset(&p->busy, 0, sizeof(p->busy));
      p->busy.us = n;
      p->busy.seen = lure__events_seen(p);
      break;

    case LURE_LOOP_STREAM_WARMUP:
      n = va_arg(ap, unsigned);
      if (n > LURE__STREAM_WARMUP_MAX) {
        rc = LURE_EINVAL;
        break;
      }
      p->stream_warmup = n;
      break;

    default:
      rc = LURE_EINVAL;
      break;
  }
  va_end(ap);
  return rc;
}

/* ---- fork ------------------------------------------------------------------------- */

LURE_EXTERN int lure_loop_fork(lure_loop_t *loop) {
  struct lure__loop_priv *p;
  struct lure__queue *q;
  int rc;

  if (loop == NULL || loop->priv == NULL)
    return LURE_EINVAL;
  p = loop->priv;
  /* The ring, the epoll instance, the eventfd and the signal pipe are the
   * parent's kernel objects: drop our references and make new ones. */
  p->backend->destroy(loop, 1);
  p->backend = NULL;
  rc = lure__backend_open(loop, p->forced_backend, p->forced_strict);
  if (rc != 0) {
    if (lure__backend_open(loop, LURE__BACKEND_EPOLL, 0) != 0)
      return rc;
  }
  lure__fs_executors_fork(loop);
  rc = lure__async_loop_fork(loop);
  if (rc == 0)
    rc = lure__signal_loop_fork(loop);
  if (rc == 0)
    rc = lure__wq_loop_fork(loop);
  if (rc == 0)
    rc = lure__fs_event_loop_fork(loop);
  lure__watchers_restart(loop);
  lure__queue_foreach(q, &p->handle_queue) {
    lure_handle_t *h = lure__container_of(q, lure_handle_t, handle_queue);
    if (lure__is_stream(h))
      lure__stream_after_fork((lure_stream_t *) h);
    else if (h->type == LURE_UDP)
      lure__udp_after_fork((lure_udp_t *) h);
  }
  return rc;
}

/* ---- liveness and the run loop ---------------------------------------------------- */

/* Alive: active and referenced handles, active requests, callbacks
 * deferred to the pending phase, or close callbacks still due. */
static int lure__loop_alive(const lure_loop_t *loop) {
  const struct lure__loop_priv *p = loop->priv;

  return loop->active_handles != 0 || p->active_reqs != 0 ||
         !lure__queue_empty(&p->pending_queue) || p->closing_handles != NULL;
}

LURE_EXTERN int lure_loop_alive(const lure_loop_t *loop) {
  if (loop == NULL || loop->priv == NULL)
    return 0;
  return lure__loop_alive(loop);
}

/* How long the poll phase may block, as the run loop sees it: not at all
 * when stopped, when nothing is active, or when idle handles, deferred
 * callbacks or close callbacks wait; else until the nearest timer. */
static int lure__backend_timeout(const lure_loop_t *loop) {
  const struct lure__loop_priv *p = loop->priv;

  if (p->stop_flag != 0)
    return 0;
  if (loop->active_handles == 0 && p->active_reqs == 0)
    return 0;
  if (!lure__queue_empty(&p->idle_handles))
    return 0;
  if (!lure__queue_empty(&p->pending_queue))
    return 0;
  if (p->closing_handles != NULL)
    return 0;
  return lure__next_timeout(loop);
}

/* For an embedder that waits on lure_backend_fd() itself: as above, but 0
 * while the wait point has work prepared and not yet handed to the kernel
 * (SQEs made since the last poll phase): nothing would wake the fd for
 * them until lure_run() submits them. */
LURE_EXTERN int lure_backend_timeout(const lure_loop_t *loop) {
  if (loop == NULL || loop->priv == NULL)
    return LURE_EINVAL;
  if (loop->priv->backend->unsubmitted != NULL &&
      loop->priv->backend->unsubmitted(loop))
    return 0;
  return lure__backend_timeout(loop);
}

LURE_EXTERN int lure_backend_fd(const lure_loop_t *loop) {
  if (loop == NULL || loop->priv == NULL)
    return LURE_EINVAL;
  return loop->priv->backend->fd(loop);
}

LURE_EXTERN const char *lure_loop_backend(const lure_loop_t *loop) {
  if (loop == NULL || loop->priv == NULL)
    return NULL;
  return loop->priv->backend->name;
}

LURE_EXTERN int lure_loop_stats(const lure_loop_t *loop,
                                lure_loop_stats_t *stats) {
  if (loop == NULL || loop->priv == NULL || stats == NULL)
    return LURE_EINVAL;
  *stats = loop->priv->stats;
  return 0;
}

LURE_EXTERN void lure_stop(lure_loop_t *loop) {
  if (loop != NULL && loop->priv != NULL)
    loop->priv->stop_flag = 1;
}

/*
 * A send on its way.  An async handle that another thread keeps sending
 * to (libuv's async_pummel; a thread that hands work to the loop one item
 * at a time) sets the handle's pending flag, then async_wakeup.  A loop
 * that has just run an async callback reaches its wait sooner than the
 * sender sends again, so it would sleep, the sender would write the
 * eventfd, and each send would cost a context switch both ways.  So, when
 * the callback of a user's async handle ran since the last wait (not the
 * thread pool's: see async.c), the loop first watches async_wakeup for up
 * to LURE__SPIN_NS (a load and a pause, no system call), still awake, so
 * the sender writes nothing: a send seen there is taken from memory
 * (lure__async_take) and the poll phase goes on without sleeping.  The
 * cost of a loop that is not sent to again is one spin of LURE__SPIN_NS
 * per async callback.
 */
#define LURE__SPIN_NS 5000u
#if defined(__x86_64__) || defined(__i386__)
#define LURE__CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define LURE__CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define LURE__CPU_RELAX() ((void) 0)
#endif

static int lure__poll_look(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;
  uint64_t end;

  if (!p->async_hot)
    return 0;
  p->async_hot = 0;
  end = lure__hrtime_ns() + LURE__SPIN_NS;
  while (__atomic_load_n(&p->async_wakeup, __ATOMIC_ACQUIRE) == 0 &&
         lure__hrtime_ns() < end)
    LURE__CPU_RELAX();
  return lure__async_take(loop);
}

/*
 * Busy polling (LURE_LOOP_BUSY_POLL).  Going to sleep in the wait and being
 * woken costs two context switches and, on a virtual machine, exits to the
 * hypervisor: 10-20 us here, more than a request takes to serve.  A server
 * whose next event is that close (one connection in a request-response
 * exchange) answers sooner if the loop looks for it without sleeping.  So,
 * before a wait that may sleep, the loop runs the poll phase with a zero
 * timeout (no system call on the ring while the kernel flags no task work;
 * epoll_wait(0) on epoll) until something arrives or the budget is spent,
 * and only then sleeps, for what is left of the timeout.  The spin never
 * outlasts the wait it replaces.  It backs off where it does not pay:
 *   - a spin that found nothing makes the loop skip the next 1, 3, 7, ...
 *     waits (at most 255) before spinning again, so an idle or slow
 *     traffic loop spins for a tiny fraction of its waits;
 *   - a spin in which the thread was descheduled (two looks more than
 *     LURE__BUSY_GAP_NS apart: another task wanted this CPU) stops, and
 *     the loop does not spin for 1 ms, doubling up to 1 s while it keeps
 *     happening, so that a busy host's other work gets the CPU back; it
 *     found nothing, so it also counts as a miss for the skip above;
 *   - a loop that dispatched more than LURE__BUSY_FEW events since its last
 *     wait that could sleep does not spin: its sleeps are shared by
 *     enough events to be cheap, and a spin would cut its batches smaller.
 * Off by default: a loop that spins shows the CPU time it spent spinning.
 */
#define LURE__BUSY_GAP_NS 200000u
#define LURE__BUSY_FEW 2u
#define LURE__BUSY_BACKOFF_NS 1000000u
#define LURE__BUSY_BACKOFF_MAX_NS 1000000000u
static int lure__poll_busy(lure_loop_t *loop, int *timeout) {
  struct lure__loop_priv *p = loop->priv;
  uint64_t start;
  uint64_t end;
  uint64_t last;
  uint64_t now;
  uint64_t seen;
  uint64_t left;

  if (p->busy.us == 0)
    return 0;
  /* More than LURE__BUSY_FEW events since the last wait that could sleep:
   * the loop is busy enough that a sleep's cost is shared by them all, and
   * a spin would only cut its batches smaller (lure-http at 100
   * connections: 1.5x the ticks and 10% more CPU per request). */
  seen = lure__events_seen(p);
  left = seen - p->busy.seen;
  p->busy.seen = seen;
  if (left > (uint64_t) LURE__BUSY_FEW)
    return 0;
  if (p->busy.skip > 0) {
    p->busy.skip--;
    return 0;
  }
  start = lure__hrtime_ns();
  if (start < p->busy.off_until)
    return 0;
  if (p->busy.backoff == 0 ||
      start - p->busy.descheduled_at > LURE__BUSY_BACKOFF_MAX_NS)
    p->busy.backoff = LURE__BUSY_BACKOFF_NS;
  end = start + (uint64_t) p->busy.us * 1000u;
  if (*timeout > 0 && end > start + (uint64_t) *timeout * 1000000u)
    end = start + (uint64_t) *timeout * 1000000u;
  p->stats.busy_polls++;
  last = start;
  for (;;) {
    p->backend->poll(loop, 0);
    /* A send to the loop while it spins writes nothing: it is awake. */
    if (lure__events_seen(p) != seen || lure__async_take(loop) ||
        p->wait_error != 0) {
      p->stats.busy_poll_hits++;
      p->busy.misses = 0;
      /* Looking for an event is waiting for it: idle time, up to the look
       * that found it (libuv counts its time in epoll_wait). */
      if (p->metrics_idle)
        p->idle_time += last - start;
      return 1;
    }
    LURE__CPU_RELAX();
    now = lure__hrtime_ns();
    if (now - last > LURE__BUSY_GAP_NS) {
      p->busy.off_until = now + p->busy.backoff;
      p->busy.descheduled_at = now;
      if (p->busy.backoff < LURE__BUSY_BACKOFF_MAX_NS)
        p->busy.backoff *= 2;
      break;
    }
    last = now;
    if (now >= end)
      break;
  }
  /* Found nothing, to its end or until it lost the CPU: a miss either way,
   * so the waits it skips next grow on a busy host too. */
  if (p->busy.misses < 8)
    p->busy.misses++;
  p->busy.skip = (1u << p->busy.misses) - 1;
  if (p->metrics_idle)
    p->idle_time += now - start;
  /* What is left of the wait; none: the poll phase ends as a wait that
   * timed out would. */
  if (*timeout > 0) {
    left = (now - start) / 1000000u;
    if (left >= (uint64_t) *timeout)
      return 1;
    *timeout -= (int) left;
  }
  return 0;
}

/*
 * The poll phase's wait.  Under valgrind (3.19 and others), a thread that
 * sits in io_uring_enter keeps valgrind's global lock, so no other thread
 * of the process runs until the wait ends: the thread pool cannot finish
 * the job the loop waits for, lure_async_send from another thread never
 * gets there, and the process hangs.  Only there, the ring's wait is cut
 * into slices of at most 10 ms until a completion arrives or the timeout
 * is over: the same wait, seen from the callbacks, with the lock let go
 * after each slice that brought nothing (a sched_yield: valgrind switches
 * threads there, not after a call it runs holding the lock), and once at
 * the end of a wait that ended by its timeout in its first slice: a loop
 * whose waits were all that short (a 5 ms repeating timer) otherwise never
 * let another thread run, and a lure_async_send() from one was written
 * only once the loop had stopped.  (epoll_wait is a call valgrind
 * knows to block in.)
 * Outside valgrind RUNNING_ON_VALGRIND is 0 and the wait is one call.
 */
static void lure__poll_wait(lure_loop_t *loop, int timeout) {
  struct lure__loop_priv *p = loop->priv;

#ifdef LURE__HAVE_VALGRIND_H
  if (timeout != 0 && p->backend->id == LURE__BACKEND_URING &&
      RUNNING_ON_VALGRIND) {
    uint64_t end = lure__hrtime_ns() + (uint64_t) (timeout > 0 ? timeout : 0) *
                                           1000000u;
    int yielded = 0;
    for (;;) {
      uint64_t reaped = p->stats.cqes_reaped;
      uint64_t now;
      int slice = 10;

      if (timeout > 0) {
        now = lure__hrtime_ns();
        if (now < end && (end - now) / 1000000u < 10)
          slice = (int) ((end - now + 999999u) / 1000000u);
      }
      p->backend->poll(loop, slice);
      if (p->stats.cqes_reaped != reaped || p->wait_error != 0)
        return;
      if (timeout > 0 && lure__hrtime_ns() >= end) {
        if (!yielded)
          sched_yield();
        return;
      }
      /* valgrind hands the lock over on a yield, not on a sync call. */
      sched_yield();
      yielded = 1;
    }
  }
#endif
  p->backend->poll(loop, timeout);
}

/* The poll phase: async sends taken from memory, busy polling, the spin
 * for a send on its way, then the wait. */
static void lure__poll_phase(lure_loop_t *loop, int timeout) {
  struct lure__loop_priv *p = loop->priv;

  /* Sends that found the loop awake wrote nothing (async.c): their
   * callbacks run here, and the wait then only looks. */
  if (lure__async_take(loop))
    timeout = 0;
  if (timeout != 0 && lure__poll_busy(loop, &timeout))
    return;
  if (timeout != 0 && lure__poll_look(loop))
    timeout = 0;
  /* From here a send writes the eventfd; one that came first has run and
   * the wait only looks. */
  if (timeout != 0 && !lure__async_sleep_ok(loop))
    timeout = 0;
  lure__poll_wait(loop, timeout);
  __atomic_store_n(&p->async_awake, 1, __ATOMIC_RELAXED);
}

/*
 * One tick per iteration, phases in the order lure(7) lists them:
 *   1 update time, 2 timers, 3 pending, 4 idle, 5 prepare, 6 poll (the
 *   wait point updates the time when its wait returns), 7 pending again
 *   (at most 8 rounds), 8 check, 9 closing; then the alive test.
 */
LURE_EXTERN int lure_run(lure_loop_t *loop, lure_run_mode mode) {
  struct lure__loop_priv *p;
  int timeout;
  int can_sleep;
  int i;
  int r;

  if (loop == NULL || loop->priv == NULL)
    return LURE_EINVAL;
  if (mode != LURE_RUN_DEFAULT && mode != LURE_RUN_ONCE &&
      mode != LURE_RUN_NOWAIT)
    return LURE_EINVAL;
  p = loop->priv;
  if (p->single_thread)
    lure__loop_rehome(loop);
  lure__async_set_awake(loop, 1);

  r = lure__loop_alive(loop);
  if (!r)
    lure__update_time(loop);

  while (r != 0 && p->stop_flag == 0) {
    p->stats.ticks++;
    lure__update_time(loop);                 /* 1 */
    lure__run_timers(loop);                  /* 2 */

    /* Judged before the pending and idle phases run: an idle callback that
     * stops the last idle handle must not turn this tick's poll into an
     * endless wait for ONCE (libuv's rule). */
    can_sleep = lure__queue_empty(&p->pending_queue) &&
                lure__queue_empty(&p->idle_handles);

    lure__run_pending(loop);                 /* 3 */
    lure__run_idle(loop);                    /* 4 */
    lure__run_prepare(loop);                 /* 5 */

    timeout = 0;
    if ((mode == LURE_RUN_ONCE && can_sleep) || mode == LURE_RUN_DEFAULT)
      timeout = lure__backend_timeout(loop);
    lure__poll_phase(loop, timeout);         /* 6 */

    /* Callbacks deferred during the poll phase (writes and sends that
     * finished at once) run now, a bounded number of rounds: what their
     * callbacks defer in turn waits for the next tick, so a callback that
     * chains work cannot starve timers and I/O. */
    for (i = 0; i < 8 && !lure__queue_empty(&p->pending_queue); i++)
      lure__run_pending(loop);               /* 7 */

    lure__run_check(loop);                   /* 8 */
    lure__run_closing_handles(loop);         /* 9 */

    if (p->wait_error != 0) {
      /* The wait point failed in a way another tick would not mend (an
       * io_uring_enter error other than EINTR/EAGAIN/EBUSY/ETIME): say so
       * instead of spinning on it. */
      r = p->wait_error;
      p->wait_error = 0;
      break;
    }

    if (mode == LURE_RUN_ONCE) {
      /* ONCE promises progress: timers that fell due while we waited run
       * now, as in libuv. */
      lure__update_time(loop);
      lure__run_timers(loop);
    }
    r = lure__loop_alive(loop);
    if (mode == LURE_RUN_ONCE || mode == LURE_RUN_NOWAIT)
      break;
  }
  if (p->backend->flush != NULL)
    p->backend->flush(loop);
  lure__async_set_awake(loop, 0);
  /* lure_stop() applies to one lure_run() call. */
  p->stop_flag = 0;
  return r;
}
