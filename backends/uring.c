/*
 * uring.c - the io_uring ring as the loop's wait point: setup, enabling,
 * the SQE and cancel helpers, the poll phase (one io_uring_enter submits
 * and waits), the reaper that dispatches each CQE by its tag, and the
 * wait-point table.  The ring's other jobs are in uring-*.c (the list is
 * in uring-int.h).
 *
 * Field notes (kernel versions from liburing's man pages and io_uring.h):
 * - Setup and the probe: uring-probe.c.
 * - The CQ is sixteen times the SQ (uring-probe.c says why).
 *   If the CQ still overflows, IORING_FEAT_NODROP (5.5) keeps the backlog
 *   in the kernel and io_uring_cq_has_overflow() tells us to flush it with
 *   io_uring_get_events(); -EBUSY from io_uring_enter means "reap first",
 *   not failure.
 * - Opcodes are probed once per ring (IORING_REGISTER_PROBE, 5.6) and the
 *   loop's mask (LURE_URING_DISABLE) is applied to the result.  Without
 *   POLL_ADD the ring cannot wait for the loop's eventfds and declines to be
 *   the wait point (init returns -EOPNOTSUPP; epoll takes over).
 * - SQEs are prepared when a request is made and submitted in the poll
 *   phase together with the wait, in one io_uring_enter.  A full SQ is
 *   flushed early (io_uring_submit) and the request goes in afterwards;
 *   should even that fail (CQ backlog on kernels without NODROP), the poll
 *   is parked in user space and armed in the next poll phase.
 * - fork(): the ring's memory is marked MADV_DONTFORK
 *   (io_uring_ring_dontfork), so a child cannot scribble on the parent's
 *   rings; lure_loop_fork() closes the inherited fd and sets up a new ring.
 * - SQPOLL is not used: it costs a kernel thread per loop and does not mix
 *   with SINGLE_ISSUER/DEFER_TASKRUN.
 */
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include "uring-int.h"

/* This thread's id, asked once per thread (lure__uring_init asks again:
 * a forked child's thread inherits its parent's). */
static __thread pid_t lure__tid_cache;

static pid_t lure__tid(void) {
  if (lure__tid_cache == 0)
    lure__tid_cache = (pid_t) syscall(SYS_gettid);
  return lure__tid_cache;
}

int lure__uring_info(const lure_loop_t *loop, struct lure__uring_info *info) {
  const struct lure__uring *st;

  if (loop == NULL || loop->priv == NULL ||
      loop->priv->backend != &lure__backend_uring)
    return LURE_EINVAL;
  st = loop->priv->backend_data;
  memset(info, 0, sizeof(*info));
  info->usable = 1;
  info->setup_flags = st->setup_flags;
  info->features = st->features;
  info->sq_entries = st->ring.sq.ring_entries;
  info->cq_entries = st->ring.cq.ring_entries;
  memcpy(info->ops, st->ops, sizeof(info->ops));
  info->stream_bufs_inc = st->bufring_inc != NULL;
  info->stream_bufs_small = st->bufring_small != NULL;
  info->recv_bulk = st->recv_bulk;
  info->recv_enobufs = st->recv_enobufs;
  return 0;
}

static int lure__uring_init(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;
  struct lure__uring *st;
  int rc;
  int i;

  st = lure__calloc(1, sizeof(*st));
  if (st == NULL)
    return LURE_ENOMEM;
  lure__tid_cache = 0;
  rc = lure__uring_ring_setup(&st->ring, p->ring_entries, p->single_thread,
                              &st->setup_flags, &st->features, st->ops);
  if (rc != 0) {
    lure__free(st);
    return rc;
  }
  for (i = 0; i < 32; i++)
    st->ops[i] &= (unsigned char) ~p->uring_disabled[i];
  if (!lure__uring_has_op(st->ops, IORING_OP_POLL_ADD) ||
      !lure__uring_has_op(st->ops, IORING_OP_POLL_REMOVE)) {
    io_uring_queue_exit(&st->ring);
    lure__free(st);
    return LURE_ENOTSUP;
  }
  rc = lure__uring_try_enter(&st->ring);
  if (rc != 0) {
    io_uring_queue_exit(&st->ring);
    lure__free(st);
    return rc;
  }
  (void) io_uring_ring_dontfork(&st->ring);
  st->enabled = !(st->setup_flags & IORING_SETUP_R_DISABLED);
  st->notify_fd = -1;
  lure__queue_init(&st->polls);
  lure__queue_init(&st->parked);
  lure__queue_init(&st->fs_waiting);
  lure__queue_init(&st->udp_dirty);
  lure__queue_init(&st->stream_parked);
  lure__queue_init(&st->ustreams);
  lure__queue_init(&st->uudps);
  st->fs_cap = st->ring.cq.ring_entries / 2;
  if (st->fs_cap == 0)
    st->fs_cap = 1;
  p->backend_data = st;
  return 0;
}

static void lure__uring_destroy(lure_loop_t *loop, int in_child) {
  struct lure__uring *st = loop->priv->backend_data;

  if (st == NULL)
    return;
  /* Handles outlive the ring in a forked child (lure_loop_fork sets up a
   * new one): their states leave the lists, and forget links them to the
   * new ring's. */
  lure__queue_unlink_all(&st->ustreams);
  lure__queue_unlink_all(&st->uudps);
  lure__uring_polls_free(st);
  lure__uring_nest_free(st);
  lure__uring_bufring_free(&st->bufring);
  lure__uring_bufring_free(&st->bufring_inc);
  lure__uring_bufring_free(&st->bufring_small);
  if (st->notify_fd >= 0)
    close(st->notify_fd);
  if (in_child)
    close(st->ring.ring_fd); /* the mappings were not inherited */
  else
    io_uring_queue_exit(&st->ring);
  lure__free(st);
  loop->priv->backend_data = NULL;
}

/* The issuer is whichever thread first enters the ring. */
void lure__uring_enable(struct lure__uring *st) {
  if (!st->enabled) {
    /* liburing 2.3 declares io_uring_enable_rings() but does not export it,
     * so register directly. */
    (void) syscall(__NR_io_uring_register, st->ring.ring_fd,
                   IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    st->enabled = 1;
    if (st->setup_flags & IORING_SETUP_SINGLE_ISSUER)
      st->issuer = lure__tid();
  }
}

/* The kernel answers another thread's io_uring_enter on a single issuer's
 * ring with EEXIST, or (a wait with deferred task work) with 0 at once and
 * nothing run: a loop run there would spin.  So lure asks first. */
int lure__uring_foreign(const struct lure__uring *st) {
  return st->issuer != 0 && st->issuer != lure__tid();
}

/* Count what the kernel consumed from the SQ since `before` was sampled. */
void lure__uring_account(lure_loop_t *loop, struct lure__uring *st,
                                unsigned before) {
  unsigned after = io_uring_sq_ready(&st->ring);

  if (before > after)
    loop->priv->stats.sqes_submitted += before - after;
}

/* An SQE, flushing a full SQ first.  NULL if the kernel would not take
 * the flush (CQ backlog on kernels without NODROP), or if the ring is a
 * single issuer's not yet enabled: the thread queueing may not be the one
 * that will run the loop (every caller parks or queues what it could not
 * put in, and the first poll phase takes it). */
struct io_uring_sqe *lure__uring_sqe(lure_loop_t *loop,
                                            struct lure__uring *st) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
  unsigned before;

  if (sqe != NULL)
    return sqe;
  if (!st->enabled || lure__uring_foreign(st))
    return NULL;
  loop->priv->stats.sq_full++;
  lure__uring_enable(st);
  before = io_uring_sq_ready(&st->ring);
  loop->priv->stats.wait_calls++;
  (void) io_uring_submit(&st->ring);
  lure__uring_account(loop, st, before);
  return io_uring_get_sqe(&st->ring);
}

/* Ask the kernel to cancel the operation tagged user_data.  The target's
 * own CQE reports the outcome (-ECANCELED, -EINTR, or its real result when
 * it won the race); the cancel's CQE is ignored.  LURE_EBUSY when no SQE
 * could be had. */
int lure__uring_cancel(lure_loop_t *loop, __u64 user_data) {
  struct io_uring_sqe *sqe =
      lure__uring_sqe(loop, (struct lure__uring *) loop->priv->backend_data);

  if (sqe == NULL)
    return LURE_EBUSY;
  io_uring_prep_cancel64(sqe, user_data, 0);
  io_uring_sqe_set_data64(sqe, LURE__UD_IGNORE);
  return 0;
}

/* Hand the SQ to the kernel now, outside the poll phase (a connect whose
 * inline error lure_tcp_connect() returns, a listener's cancel).  With
 * DEFER_TASKRUN the entry also runs the task work waiting (GETEVENTS, no
 * wait): a cancelled poll or accept that a wake-up had claimed lets go of
 * its file only there, and the listener would go on taking connections
 * (or a closed socket stay open) until the next poll phase. */
void lure__uring_submit_now(lure_loop_t *loop, struct lure__uring *st) {
  unsigned before;

  lure__uring_enable(st);
  if (lure__uring_foreign(st))
    return; /* the issuer's next poll phase submits it */
  before = io_uring_sq_ready(&st->ring);
  loop->priv->stats.wait_calls++;
  if (st->setup_flags & IORING_SETUP_DEFER_TASKRUN)
    (void) io_uring_submit_and_get_events(&st->ring);
  else
    (void) io_uring_submit(&st->ring);
  lure__uring_account(loop, st, before);
}

static int lure__uring_movable(const lure_loop_t *loop) {
  const struct lure__uring *st = loop->priv->backend_data;
  const struct lure__queue *q;

  if (!lure__uring_foreign(st) || st->fs_inflight != 0 ||
      !lure__queue_empty(&st->fs_waiting) || lure__sock_buffers_lent(loop))
    return 0;
  lure__queue_foreach(q, &loop->priv->handle_queue) {
    if (lure__handle_exec_ops(
            lure__container_of(q, const lure_handle_t, handle_queue)) > 0)
      return 0;
  }
  return 1;
}

/* ---- the poll phase ---------------------------------------------------------------- */

struct lure__cqe_copy {
  __u64 user_data;
  __s32 res;
  __u32 flags;
};

#define LURE__CQE_BATCH 256

/* One CQE to whoever its tag names. */
static void lure__uring_dispatch(lure_loop_t *loop, struct lure__uring *st,
                                 const struct lure__cqe_copy *c) {
  void *p = lure__uring_ptr_of(c->user_data);

  switch (lure__uring_tag_of(c->user_data)) {
    case LURE__TAG_POLL:
      lure__uring_upoll_complete(loop, st, p, c->res, c->flags);
      break;
    case LURE__TAG_FS:
      lure__uring_fs_complete(loop, st, p, c->res);
      break;
    case LURE__TAG_SOCK:
      lure__uring_sock_complete(loop, st, p, c->res, c->flags);
      break;
    case LURE__TAG_UDP_SEND:
      lure__uring_udp_send_complete(p, c->res);
      break;
    default:
      /* Every SQE lure prepares carries one of the tags above: anything
       * else is memory corruption or a forgotten case, not a condition to
       * run on with. */
      fprintf(stderr, "lure: internal error: CQE with unknown tag %u "
              "(user_data 0x%llx)\n", lure__uring_tag_of(c->user_data),
              (unsigned long long) c->user_data);
      abort();
  }
}

/* With many connections each CQE names records that the kernel's work
 * since the last reap pushed out of the cache: the op, the stream state
 * that holds it, the user's handle, each a pointer read from the one
 * before.  Dispatched one after the other, that is three misses in a row
 * per CQE.  The reaper starts the first load for the whole batch while it
 * copies the CQEs, and while CQE i is dispatched, the next level for the
 * CQEs some places ahead, whose level before is cached by then.  (GCC
 * drops a __builtin_prefetch in some shapes of this loop: check the
 * object for prefetcht0 after changing it.) */
#define LURE__PREFETCH_US 8
#define LURE__PREFETCH_S 4
static inline void lure__uring_prefetch_us(const struct lure__cqe_copy *c) {
  if (lure__uring_tag_of(c->user_data) == LURE__TAG_SOCK) {
    const struct lure__sop *op = lure__uring_ptr_of(c->user_data);
    __builtin_prefetch(op->us);
  }
}
static inline void lure__uring_prefetch_s(const struct lure__cqe_copy *c) {
  if (lure__uring_tag_of(c->user_data) == LURE__TAG_SOCK) {
    const struct lure__sop *op = lure__uring_ptr_of(c->user_data);
    __builtin_prefetch(op->us->s);
  }
}

/* Reap what the CQ holds.  CQEs are copied out and the CQ head advanced
 * before any callback runs, so callbacks that submit never find the CQ
 * holding entries we already saw. */
static void lure__uring_reap(lure_loop_t *loop, struct lure__uring *st) {
  struct io_uring_cqe *cqes[LURE__CQE_BATCH];
  struct lure__cqe_copy copy[LURE__CQE_BATCH];
  unsigned n;
  unsigned i;
  int rounds;
  int counted = 0;

  for (rounds = 0; rounds < 64; rounds++) {
    /* A backlog is counted here, once per reap that finds one: liburing's
     * peek flushes the backlog itself (an io_uring_enter with GETEVENTS)
     * when the CQ is empty, so the branch below rarely sees it. */
    if (!counted && io_uring_cq_has_overflow(&st->ring)) {
      counted = 1;
      loop->priv->stats.cq_overflow++;
    }
    n = io_uring_peek_batch_cqe(&st->ring, cqes, LURE__CQE_BATCH);
    if (n == 0) {
      if (io_uring_cq_has_overflow(&st->ring)) {
        loop->priv->stats.wait_calls++;
        (void) io_uring_get_events(&st->ring);
        continue;
      }
      break;
    }
    for (i = 0; i < n; i++) {
      copy[i].user_data = cqes[i]->user_data;
      copy[i].res = cqes[i]->res;
      copy[i].flags = cqes[i]->flags;
      __builtin_prefetch(lure__uring_ptr_of(copy[i].user_data));
    }
    io_uring_cq_advance(&st->ring, n);
    loop->priv->stats.cqes_reaped += n;
    st->batch = n;
    for (i = 0; i < n; i++) {
      if (i + LURE__PREFETCH_US < n)
        lure__uring_prefetch_us(&copy[i + LURE__PREFETCH_US]);
      if (i + LURE__PREFETCH_S < n)
        lure__uring_prefetch_s(&copy[i + LURE__PREFETCH_S]);
      if (copy[i].user_data == LURE__UD_IGNORE ||
          copy[i].user_data == LIBURING_UDATA_TIMEOUT) {
        st->quiet++;
        continue;
      }
      lure__uring_dispatch(loop, st, &copy[i]);
    }
    if (n < LURE__CQE_BATCH && !io_uring_cq_has_overflow(&st->ring))
      break;
  }
}

/* Whether an io_uring_enter(GETEVENTS) now would post nothing: the ring
 * has TASKRUN_FLAG (5.19), so the kernel raises IORING_SQ_TASKRUN in the
 * SQ flags whenever task work waits to post completions (socket readiness,
 * io-wq results, timeouts), and no CQE waits in the kernel's overflow
 * list.  Without TASKRUN_FLAG the answer is always "maybe": enter. */
static int lure__uring_nothing_pending(struct lure__uring *st) {
  unsigned flags;

  if (!(st->setup_flags & IORING_SETUP_TASKRUN_FLAG))
    return 0;
  flags = IO_URING_READ_ONCE(*st->ring.sq.kflags);
  return (flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) == 0;
}

/* Reap, and say whether the tick ends: something ran, or a re-arm found
 * no SQE and is parked for the next poll phase (lure__uring_polls_unpark).
 * A reap of only CQEs nobody sees (st->quiet: a cancel's own CQE, a
 * stopped watcher's last one) does not end it.  SQEs queued by the
 * re-arms go in with the next entry. */
static int lure__uring_reap_ends_tick(lure_loop_t *loop,
                                      struct lure__uring *st) {
  uint64_t reaped = loop->priv->stats.cqes_reaped;
  uint64_t quiet = st->quiet;

  lure__uring_reap(loop, st);
  st->batch = 0;
  return loop->priv->stats.cqes_reaped - reaped != st->quiet - quiet ||
         !lure__queue_empty(&st->parked) ||
         !lure__queue_empty(&st->stream_parked) ||
         !lure__queue_empty(&st->udp_dirty);
}

static void lure__uring_poll(lure_loop_t *loop, int timeout) {
  struct lure__uring *st = loop->priv->backend_data;
  struct __kernel_timespec ts;
  struct io_uring_cqe *cqe;
  uint64_t start = 0;
  unsigned before;
  int left;
  int rc;

  lure__uring_enable(st);
  if (lure__uring_foreign(st)) {
    /* LURE_LOOP_SINGLE_THREAD was promised, and this is not the thread
     * that first entered the ring: lure_run() returns LURE_EEXIST. */
    loop->priv->wait_error = LURE_EEXIST;
    return;
  }
  if (st->notify_fd >= 0) {
    uint64_t v;
    (void) read(st->notify_fd, &v, sizeof(v)); /* we are looking now */
  }
  lure__uring_polls_unpark(loop, st);
  lure__uring_stream_unpark(loop, st);
  /* A stream operation that found no room again goes after this submit:
   * no sleeping. */
  if (!lure__queue_empty(&st->stream_parked))
    timeout = 0;

  lure__uring_fs_flush_waiting(loop, st);
  st->batch = 0;
  lure__uring_udp_build_chains(loop, st);

  before = io_uring_sq_ready(&st->ring);
  /* Nothing to submit, and either completions already posted or (for a
   * tick that may not block) none that only a kernel entry would produce:
   * no syscall needed.  Posted completions end the poll phase whatever the
   * timeout: with COOP_TASKRUN, task work runs when a callback's own
   * system call returns (a datagram sent to ourselves, a reply on
   * loopback), and its CQE is in the ring before the wait.  With
   * DEFER_TASKRUN only an entry posts them, and TASKRUN_FLAG still says
   * whether one would (the kernel raises it when it queues task work). */
  if (before == 0 &&
      (io_uring_cq_ready(&st->ring) > 0 ||
       (timeout == 0 && lure__uring_nothing_pending(st)))) {
    lure__update_time(loop);
    /* Unless all of them were CQEs nobody sees (a cancel's, a stopped
     * watcher's, a poll's with nothing its watcher asked for), posted by
     * a callback's system call: then the tick waits as if they had never
     * come.  (Before, LURE_RUN_ONCE returned here with nothing run.) */
    if (lure__uring_reap_ends_tick(loop, st) || timeout == 0)
      return;
    before = io_uring_sq_ready(&st->ring);
  }

  left = timeout;
  if (timeout > 0)
    start = lure__hrtime_ns();
  for (;;) {
    loop->priv->stats.wait_calls++;
    lure__wait_enter(loop, left);
    if (left == 0) {
      rc = io_uring_submit_and_get_events(&st->ring);
    } else if (left < 0) {
      rc = io_uring_submit_and_wait(&st->ring, 1);
    } else {
      ts.tv_sec = left / 1000;
      ts.tv_nsec = (long long) (left % 1000) * 1000000;
      rc = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
    }
    lure__wait_leave(loop);
    lure__uring_account(loop, st, before);
    /* Whatever the kernel posted ends the wait, as an event ends libuv's,
     * unless nobody sees it (a cancel's own CQE, a stopped watcher's last
     * one: libuv's epoll never reports those).  A signal caught while
     * waiting (one the loop does not watch: a watched one's pipe completes
     * a poll) ends it with nothing at all.  In both cases the wait goes
     * on for the time left, as libuv's does, so that a LURE_RUN_ONCE tick
     * does not end with nothing run and the other phases do not run once
     * per signal.  The return value does not tell a signal: -EINTR from a
     * wait alone, but the count of SQEs when the same entry submitted
     * some (liburing 2.3 returns that count, not -ETIME); the CQ and the
     * clock do.  A failure the next tick must see ends the wait. */
    if (timeout == 0 || (rc < 0 && rc != -EINTR && rc != -ETIME))
      break;
    if (io_uring_cq_ready(&st->ring) > 0 &&
        lure__uring_reap_ends_tick(loop, st))
      break;
    left = lure__wait_left(start, timeout);
    if (left == 0)
      break;
    before = io_uring_sq_ready(&st->ring);
  }
  /* The wait may have lasted: callbacks of this poll phase and the check
   * phase see the time after it (a timer started there counts from now):
   * lure__wait_leave() updated it. */
  /* -ETIME (timeout), -EINTR (signal), -EAGAIN/-EBUSY (reap first) mean:
   * reap what is there; the next tick submits what is left.  -EBADR: a
   * kernel without NODROP dropped CQEs; they are gone, count it and go on.
   * Anything else (EEXIST from a ring whose issuer is another task,
   * EBADF, EFAULT, EINVAL, ENOMEM, a seccomp policy's EPERM/ENOSYS...)
   * would fail the same way on every tick, with nothing reaped: the loop
   * would spin.  lure_run() returns it instead. */
  if (rc == -EBADR)
    loop->priv->stats.cq_overflow++;
  else if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN &&
           rc != -EBUSY)
    loop->priv->wait_error = rc;
  lure__uring_reap(loop, st);
  st->batch = 0;
}

/* lure_backend_timeout(): whether the ring holds work that only the next
 * poll phase hands to the kernel (SQEs, parked polls, UDP sends to chain)
 * or completions not yet reaped.  An embedder that sleeps on
 * lure_backend_fd() would never be woken for those. */
static int lure__uring_unsubmitted(const lure_loop_t *loop) {
  struct lure__uring *st;

  st = loop->priv->backend_data;
  return io_uring_sq_ready(&st->ring) > 0 ||
         io_uring_cq_ready(&st->ring) > 0 ||
         !lure__queue_empty(&st->parked) ||
         !lure__queue_empty(&st->stream_parked) ||
         !lure__queue_empty(&st->udp_dirty);
}

void lure__uring_track(lure_loop_t *loop, struct lure__queue *link, int udp) {
  struct lure__uring *st = loop->priv->backend_data;

  lure__queue_init(link);
  if (loop->priv->backend == &lure__backend_uring)
    lure__queue_insert_tail(udp ? &st->uudps : &st->ustreams, link);
}

/* A poll record lives until its final CQE, and the kernel's poll holds a
 * reference to the file: a socket whose watcher was released after the
 * last tick's poll phase (a check or close callback; its cancel still in
 * the SQ) stayed open, FIN unsent, for as long as the loop was not run
 * again (test ring_last_tick_flushed). */
static void lure__uring_flush(lure_loop_t *loop) {
  struct lure__uring *st = loop->priv->backend_data;

  if (st != NULL && io_uring_sq_ready(&st->ring) > 0)
    lure__uring_submit_now(loop, st);
}

/* For tests: the CQEs waiting in the CQ, and whether the kernel holds more
 * in its overflow backlog (IORING_SQ_CQ_OVERFLOW).  -EINVAL off the ring. */
int lure__uring_cq_state(const lure_loop_t *loop, unsigned *ready,
                         unsigned *entries, int *overflow) {
  const struct lure__uring *st;

  if (loop->priv->backend != &lure__backend_uring)
    return LURE_EINVAL;
  st = loop->priv->backend_data;
  *ready = io_uring_cq_ready(&st->ring);
  *entries = st->ring.cq.ring_entries;
  *overflow = io_uring_cq_has_overflow(&st->ring);
  return 0;
}

/* lure_backend_fd(): the ring fd polls readable when completions wait,
 * except with DEFER_TASKRUN, where completions only exist once the issuer
 * enters the ring: a waiter on the fd would sleep through them.  Such a
 * ring gets an eventfd registered on first request (the kernel signals it
 * for each completion it queues) and the poll phase drains it.  Work the
 * kernel queued before that request signalled nothing: if the ring says
 * some waits (task work flagged, or completions posted), the eventfd is
 * written once at registration, or its first poller would sleep through
 * it (a lure_async_send() just before lure_run() returned, then
 * lure_backend_fd()). */
static int lure__uring_fd(const lure_loop_t *loop) {
  static const uint64_t one = 1;
  struct lure__uring *st = loop->priv->backend_data;
  int fd;

  if (!(st->setup_flags & IORING_SETUP_DEFER_TASKRUN))
    return st->ring.ring_fd;
  if (st->notify_fd >= 0)
    return st->notify_fd;
  fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0)
    return -errno;
  if (io_uring_register_eventfd(&st->ring, fd) != 0) {
    close(fd);
    return st->ring.ring_fd;
  }
  st->notify_fd = fd;
  if (io_uring_cq_ready(&st->ring) > 0 || !lure__uring_nothing_pending(st))
    (void) write(fd, &one, sizeof(one));
  return fd;
}

const struct lure__backend_ops lure__backend_uring = {
  "io_uring",
  LURE__BACKEND_URING,
  lure__uring_init,
  lure__uring_destroy,
  lure__uring_io_start,
  lure__uring_io_stop,
  NULL, /* io_forget: io_stop leaves nothing behind */
  lure__uring_poll,
  lure__uring_fd,
  lure__uring_unsubmitted,
  lure__uring_flush,
  lure__uring_movable,
};
