/*
 * internal.h - lure's private structures and the functions the core files
 * share.  Never installed.  Internal functions are named lure__*.
 */
#ifndef LURE_INTERNAL_H
#define LURE_INTERNAL_H

#include <poll.h>
#include <stdint.h>
#include <pthread.h>
#include "lure.h"
#include "queue.h"
#include "heap.h"
#include "backend.h"

#ifndef POLLRDHUP
#define POLLRDHUP 0x2000
#endif

/* Handle flags. */
enum {
  LURE__HANDLE_CLOSING = 0x01,  /* lure_close() called */
  LURE__HANDLE_CLOSED = 0x02,   /* close callback ran */
  LURE__HANDLE_ACTIVE = 0x04,
  LURE__HANDLE_REF = 0x08,
  LURE__HANDLE_INTERNAL = 0x10, /* lure's own; not walked, not counted */
  LURE__HANDLE_CLOSE_WAIT = 0x20, /* closing, ring operations outstanding */
  LURE__SIGNAL_ONESHOT = 0x100,
  LURE__SIGNAL_ONESHOT_FIRED = 0x200,
  /* A terminal whose descriptor stays blocking (tty.c); libuv's value,
   * which its tests read from the handle's flags. */
  LURE__HANDLE_BLOCKING_WRITES = 0x100000
};

/* lure__io flags. */
enum {
  /* The owner drains the fd on every event, so an edge-style (multishot)
   * registration loses nothing. */
  LURE__IO_DRAINS = 0x01,
  /* The fd is lure's own and every way the watcher goes ends in
   * lure__io_close() while the fd is still open (streams and UDP handles):
   * a stopped watcher may stay registered until the next poll, where a
   * restart in between becomes one mask change (backends/epoll.c). */
  LURE__IO_PARKABLE = 0x02,
  /* No request of the wait point may hold the fd's file: a listening
   * socket, which must let its port go when its process dies, as libuv's
   * does (the ring watches it through an epoll instance,
   * backends/uring-nest.c). */
  LURE__IO_NOHOLD = 0x04
};

/* Executors, as lure_req_executor() names them. */
enum {
  LURE__EXEC_NONE = 0,
  LURE__EXEC_URING,
  LURE__EXEC_AIO,
  LURE__EXEC_THREADPOOL,
  LURE__EXEC_INLINE,
  LURE__EXEC_EPOLL
};

/* Request flags. */
enum {
  LURE__REQ_ACTIVE = 0x01,
  LURE__REQ_CANCELED = 0x02,
  /* An fs request whose path and new_path are the caller's strings (a
   * synchronous call), not a copy lure_fs_req_cleanup() frees. */
  LURE__REQ_FS_CALLER_PATH = 0x04,
  /* A buffered write the adaptive router timed: req->len holds the
   * lure__hrtime_ns() of its submission (executor.c, lure__fs_done). */
  LURE__REQ_FS_TIMED = 0x08
};

/* Backend choice. */
enum { LURE__BACKEND_AUTO = 0, LURE__BACKEND_URING, LURE__BACKEND_EPOLL };

/* The adaptive router of buffered writes (executor.c): where they go now,
 * and what each of its two contenders, the ring and the thread pool, has
 * lately taken from submission to completion. */
struct lure__fs_adapt {
  int setting;                 /* LURE_FS_ADAPT / LURE_LOOP_FS_ADAPT: 1 on,
                                  0 off, -1 unset (on unless a wait point
                                  was forced) */
  unsigned char pick;          /* LURE__EXEC_URING or LURE__EXEC_THREADPOOL */
  unsigned streak;             /* samples in a row that favoured the other */
  uint64_t writes;             /* buffered writes offered to the router */
  uint64_t ewma[2];            /* ns: [0] the ring, [1] the pool */
  uint64_t samples[2];
  uint64_t switches;
  uint64_t next_probe;         /* loop time (ms) from which a write probes */
  int cache_fd;                /* the last fd classified, or -1 */
  int cache_direct;            /* whether it had O_DIRECT */
  unsigned cache_uses;         /* uses since it was classified */
};

/* LURE_LOOP_BUSY_POLL's largest budget, microseconds. */
#define LURE__BUSY_POLL_MAX_US 1000u

/* LURE_LOOP_STREAM_WARMUP: the default, and the largest (the count lives
 * in 8 bits of a stream's flags, src/stream.h). */
#define LURE__STREAM_WARMUP_DEFAULT 4u
#define LURE__STREAM_WARMUP_MAX 255u

struct lure__loop_priv {
  lure_loop_t *loop;
  int block_sigprof;           /* LURE_LOOP_BLOCK_SIGNAL */
  int metrics_idle;            /* LURE_METRICS_IDLE_TIME */
  int wait_blocked;            /* lure__wait_enter blocked the signal */
  sigset_t wait_oldmask;
  uint64_t wait_entry;         /* ns when the counted wait began, or 0 */
  uint64_t idle_time;          /* ns spent waiting, counted */
  unsigned int active_reqs;
  struct lure__queue handle_queue;
  struct lure__queue pending_queue;
  struct lure__queue idle_handles;
  struct lure__queue prepare_handles;
  struct lure__queue check_handles;
  struct lure__queue async_handles;
  struct lure__queue watchers;  /* io watchers with events != 0 */
  lure_handle_t *closing_handles;
  struct lure__heap timer_heap;
  /* Timers armed in (due, start_id) order, in that order (timer.c): the
   * first and last, linked through heap_node.left/right, each marked by
   * heap_node.parent == &timer_run_mark. */
  struct lure__heap_node *timer_run_head;
  struct lure__heap_node *timer_run_tail;
  struct lure__heap_node timer_run_mark;
  uint64_t timer_counter;
  uint64_t time;                /* ms, CLOCK_MONOTONIC, updated per tick */
  int stop_flag;
  int wait_error;               /* the wait point failed; lure_run returns it */

  const struct lure__backend_ops *backend;
  void *backend_data;

  /* One eventfd wakes the loop for every async handle of the loop,
   * including the thread pool's completion handle. */
  int async_fd;
  struct lure__io async_io;
  /* Set by lure_async_send() (and in a forked child), cleared by the loop
   * just before it scans the handles' flags (async.c): a zero-timeout
   * tick whose only watcher is the eventfd may skip the syscall while it
   * is clear. */
  int async_wakeup;
  /* The loop runs and will read async_wakeup before any wait that may
   * sleep: a send need not write the eventfd (async.c). */
  int async_awake;
  /* The tick whose poll phase scanned the handles' flags (async.c). */
  uint64_t async_tick;
  /* For the poll phase's spin before sleeping (loop.c, lure__poll_look):
   * a user's async callback ran since the last wait. */
  int async_hot;

  /* Thread-pool completions waiting for the loop thread. */
  pthread_mutex_t wq_mutex;
  struct lure__queue wq;
  lure_async_t wq_async;

  /* Signals: the process-wide handler writes to this pipe. */
  int signal_pipe[2];
  struct lure__io signal_io;

  /* Options. */
  int forced_backend;
  int forced_strict;            /* a forced backend that fails is an error */
  unsigned int ring_entries;
  /* LURE_LOOP_STREAM_WARMUP: readiness events and writes a stream the
   * ring could serve makes on readiness before it moves to the ring (0: on
   * the ring from the start; src/stream.c, lure__stream_warm_move). */
  unsigned int stream_warmup;
  /* Ring opcodes masked (LURE_URING_DISABLE, LURE_LOOP_URING_DISABLE): an
   * option of the loop, kept here because it outlives the ring it applies
   * to (the ring is set up again when it changes). */
  unsigned char uring_disabled[32];

  /* Linux AIO context for O_DIRECT files when there is no ring
   * (backends/aio.c); NULL until first used. */
  void *aio_data;

  /* Buffers lent by borrowed reads on the readiness path. */
  struct lure__queue borrowed;

  /* A descriptor held in reserve for accept's EMFILE (stream.c), or -1. */
  int emfile_fd;

  lure_loop_stats_t stats;

  /* Buffered writes: the ring or the pool, whichever is faster now. */
  struct lure__fs_adapt fs_adapt;

  /* Readiness streams' direct writes in this tick (backends/ready.c): the
   * last stream that wrote, only compared, never followed. */
  const void *ready_wr_stream;
  uint64_t ready_wr_tick;
  unsigned int ready_wr_n;

  /* LURE_LOOP_FS_BEHIND_POOL: 1 on, 0 off, -1 unset (then libuv_defaults
   * decides); libuv_defaults is LURE_LOOP_LIBUV_DEFAULTS. */
  int fs_behind_pool;
  int libuv_defaults;

  /* LURE_LOOP_SINGLE_THREAD: 1 when the owner promised that one thread
   * uses the loop; the ring is then single-issuer with deferred task work
   * (backends/uring-probe.c). */
  int single_thread;

  /* LURE_LOOP_BUSY_POLL (loop.c, lure__poll_busy): the budget in
   * microseconds (0: off), and what the spins taught the loop. */
  struct {
    unsigned int us;
    unsigned int skip;         /* waits left to pass without spinning */
    unsigned int misses;       /* spins in a row that found nothing */
    uint64_t off_until;        /* ns: descheduled in a spin; none before */
    uint64_t backoff;          /* ns of the next such pause */
    uint64_t descheduled_at;   /* ns of the last one */
    uint64_t seen;             /* events dispatched by the last spin's start */
  } busy;

  /* fs event handles: the loop's inotify instance and its watches
   * (fs-event.c); NULL until the first lure_fs_event_start(). */
  struct lure__inotify *inotify;

  /* Child processes (process.c); NULL until the first lure_spawn(). */
  void *proc_data;
};

#define lure__priv(loop) ((loop)->priv)

/* ---- handles (handle.c) ---- */
void lure__handle_init(lure_loop_t *loop, lure_handle_t *h,
                       lure_handle_type type);
void lure__handle_start(lure_handle_t *h);
void lure__handle_stop(lure_handle_t *h);
/* Validate a handle pointer handed to an API call of the given type. */
int lure__handle_check(const lure_handle_t *h, lure_handle_type type);
void lure__run_closing_handles(lure_loop_t *loop);
/* Whether a TCP, pipe, UDP or poll handle of loop works on fd. */
int lure__fd_in_use(lure_loop_t *loop, int fd);
unsigned lure__handle_exec_ops(const lure_handle_t *h);
void lure__handle_close_ready(lure_handle_t *h);

static inline int lure__handle_is_active(const lure_handle_t *h) {
  return (h->flags & LURE__HANDLE_ACTIVE) != 0;
}
static inline int lure__handle_is_closing(const lure_handle_t *h) {
  return (h->flags & (LURE__HANDLE_CLOSING | LURE__HANDLE_CLOSED)) != 0;
}

static inline void lure__req_register(lure_loop_t *loop, lure_req_t *req) {
  req->req_flags |= LURE__REQ_ACTIVE;
  loop->priv->active_reqs++;
}
static inline void lure__req_unregister(lure_loop_t *loop, lure_req_t *req) {
  req->req_flags &= (unsigned char) ~LURE__REQ_ACTIVE;
  loop->priv->active_reqs--;
}

/* ---- per-type close/fork hooks ---- */
void lure__timer_close(lure_timer_t *h);
void lure__idle_close(lure_idle_t *h);
void lure__prepare_close(lure_prepare_t *h);
void lure__check_close(lure_check_t *h);
void lure__async_close(lure_async_t *h);
void lure__signal_close(lure_signal_t *h);
void lure__poll_close(lure_poll_t *h);
void lure__udp_close(lure_udp_t *h);
void lure__udp_finish_close(lure_udp_t *h);
void lure__process_close(lure_process_t *h);
void lure__process_loop_close(lure_loop_t *loop);

/* ---- phases ---- */
void lure__run_timers(lure_loop_t *loop);
int lure__next_timeout(const lure_loop_t *loop);
void lure__run_idle(lure_loop_t *loop);
void lure__run_prepare(lure_loop_t *loop);
void lure__run_check(lure_loop_t *loop);
void lure__update_time(lure_loop_t *loop);
/* A string into a caller's buffer under libuv's size rules (src/os.c). */
int lure__copy_out(const char *s, size_t len, char *buffer, size_t *size);
/* A backend calls these right around its blocking wait (epoll_wait,
 * io_uring_enter), with the timeout it waits for: they apply
 * LURE_LOOP_BLOCK_SIGNAL and count LURE_METRICS_IDLE_TIME; the second also
 * updates the loop's time. */
void lure__wait_enter(lure_loop_t *loop, int timeout);
void lure__wait_leave(lure_loop_t *loop);
int lure__wait_left(uint64_t start, int timeout);
void lure__pending_add(lure_loop_t *loop, struct lure__pending *p);

/* ---- threads (thread.c) ---- */
/* The stack size lure_thread_create_ex() gives pthread for params: the
 * requested size rounded up to a page and to the minimum, or the default
 * when none is asked; 0 when the request cannot be rounded (too large). */
size_t lure__thread_stack_size(const lure_thread_options_t *params);

/* ---- the default loop (loop.c) ---- */
/* 1 when loop is the initialized default loop of lure_default_loop(). */
int lure__loop_is_default(const lure_loop_t *loop);

/* ---- io watchers (loop.c) ---- */
void lure__io_init(struct lure__io *w, lure__io_cb cb, int fd);
int lure__io_start(lure_loop_t *loop, struct lure__io *w, unsigned events);
void lure__io_stop(lure_loop_t *loop, struct lure__io *w, unsigned events);
void lure__io_close(lure_loop_t *loop, struct lure__io *w);

/* ---- async (async.c) ---- */
int lure__async_loop_init(lure_loop_t *loop);
void lure__async_loop_close(lure_loop_t *loop);
int lure__async_loop_fork(lure_loop_t *loop);
int lure__async_take(lure_loop_t *loop);
int lure__async_sleep_ok(lure_loop_t *loop);
void lure__async_set_awake(lure_loop_t *loop, int awake);

/* ---- signals (signal.c) ---- */
void lure__signal_loop_close(lure_loop_t *loop);
int lure__signal_loop_fork(lure_loop_t *loop);

/* ---- thread pool (threadpool.c) ---- */
int lure__wq_loop_init(lure_loop_t *loop);
void lure__wq_loop_close(lure_loop_t *loop);
int lure__wq_loop_fork(lure_loop_t *loop);
int lure__work_submit(lure_loop_t *loop, struct lure__work *w,
                      void (*work)(struct lure__work *w),
                       void (*done)(struct lure__work *w, int status));
/* 0 when w was still queued (done will run with -ECANCELED), else -EBUSY. */
int lure__work_cancel(lure_loop_t *loop, struct lure__work *w);
unsigned int lure__threadpool_size(void);
int lure__threadpool_full(void);
/* Finish the queued jobs and join every worker (lure_library_shutdown). */
void lure__threadpool_shutdown(void);

/* ---- file system requests (fs.c) ---- */

/* fs request cancel_state values. */
enum {
  LURE__FS_CANCEL_NONE = 0,
  LURE__FS_CANCEL_REQUESTED = 1, /* asked for; the operation may still win */
  LURE__FS_CANCEL_SURE = 2       /* the operation never runs: whatever
                                    completes the request, it reports
                                    LURE_ECANCELED */
};

/* Called by an executor, on the loop thread, when an fs request it accepted
 * has finished: result is the syscall's return value or a negative errno.
 * Post-processes (stat conversion, cancelled opens), unregisters the
 * request and runs its callback. */
void lure__fs_done(lure_loop_t *loop, lure_fs_t *req, ssize_t result,
                   int executor);
/* The same, deferred to the next pending phase: for executors that settle a
 * request inside the call that made it (the callback must not run there). */
void lure__fs_done_later(lure_loop_t *loop, lure_fs_t *req, ssize_t result,
                         int executor);
/* ---- the adaptive router of buffered writes (executor.c) ---- */

/* The tuning, fixed (lure(7), ROUTING): a write in SAMPLE_EVERY on the
 * executor in favour is timed; after WARMUP buffered writes, the first
 * write once PROBE_MS of loop time have passed goes to the other
 * (PROBE_FIRST_MS while the other has fewer than MIN_SAMPLES); a switch
 * needs MIN_SAMPLES of each and
 * STREAK samples in a row with the other faster by MARGIN percent.  The
 * EWMA weighs a new sample 1/2^SHIFT. */
#define LURE__FS_ADAPT_SAMPLE_EVERY 8u
#define LURE__FS_ADAPT_PROBE_MS 200u
#define LURE__FS_ADAPT_PROBE_FIRST_MS 20u
#define LURE__FS_ADAPT_WARMUP 2048u
#define LURE__FS_ADAPT_MIN_SAMPLES 8u
#define LURE__FS_ADAPT_STREAK 16u
#define LURE__FS_ADAPT_MARGIN 25u
#define LURE__FS_ADAPT_SHIFT 3u
/* Start state (loop init, env) and forget what was learned (a new wait
 * point or mask). */
void lure__fs_adapt_init(lure_loop_t *loop);
void lure__fs_adapt_reset(lure_loop_t *loop);
/* Whether the router chooses for this loop now. */
int lure__fs_adapt_active(const lure_loop_t *loop);
/* A timed write completed on executor after ns (lure__fs_done). */
void lure__fs_adapt_sample(lure_loop_t *loop, int executor, uint64_t ns);

/* Tests only: what the router knows, and a way to feed it a sample
 * (counted as one routed buffered write as well). */
struct lure__fs_adapt_info {
  int active;
  int pick;                    /* LURE__EXEC_URING or LURE__EXEC_THREADPOOL */
  uint64_t writes;
  uint64_t ewma_ring;
  uint64_t ewma_pool;
  uint64_t samples_ring;
  uint64_t samples_pool;
  uint64_t switches;
  uint64_t next_probe;         /* lure_now() from which a write probes */
  unsigned streak;
};
int lure__fs_adapt_info(const lure_loop_t *loop,
                        struct lure__fs_adapt_info *info);
int lure__fs_adapt_feed(lure_loop_t *loop, int executor, uint64_t ns);

/* lure_cancel() for fs requests. */
int lure__fs_cancel(lure_fs_t *req);
/* Fill a lure_stat_t from the struct statx the kernel wrote into buf. */
void lure__fs_statx_to_stat(const void *statx_buf, lure_stat_t *st);

/* The type of a directory entry as lure names it (d_type of readdir). */
lure_dirent_type_t lure__dirent_type(unsigned char t);

/* ---- fs events and fs poll (fs-event.c, fs-poll.c) ---- */
void lure__fs_event_close(lure_fs_event_t *h);
/* Close the loop's inotify instance (lure_loop_close). */
void lure__fs_event_loop_close(lure_loop_t *loop);
/* After fork: a new inotify instance of the child's own, every active
 * handle's watch added to it again.  The first error is returned; a handle
 * whose path cannot be watched any more is stopped. */
int lure__fs_event_loop_fork(lure_loop_t *loop);
/* Whether w is the loop's inotify watcher (internal, like the async one). */
int lure__fs_event_is_io(const lure_loop_t *loop, const struct lure__io *w);
/* Stop h; returns 1 when a stat of it is still in flight, in which case
 * the close completes (lure__handle_close_ready) when it has finished. */
int lure__fs_poll_close(lure_fs_poll_t *h);

/* ---- misc ---- */

/* The allocator of lure_replace_allocator() (alloc.c): every block lure
 * allocates and frees itself goes through these.  lure__free() keeps
 * errno. */
void *lure__malloc(size_t size);
void *lure__calloc(size_t count, size_t size);
void *lure__realloc(void *ptr, size_t size);
void lure__free(void *ptr);
char *lure__strdup(const char *s);
char *lure__strndup(const char *s, size_t max);

/* lure_cancel() for random requests (random.c). */
int lure__random_cancel(lure_random_t *req);

/* A send system call's result (send, sendmsg, writev) as lure returns it:
 * the count, or -errno, with ENOBUFS (no memory or queue room for the data
 * now) as -EAGAIN, as libuv takes it: the send waits for POLLOUT and goes
 * again instead of failing.  Streams (stream.c) and UDP (udp.c). */
static inline ssize_t lure__send_result(ssize_t r) {
  if (r >= 0)
    return r;
  return errno == ENOBUFS ? -EAGAIN : -errno;
}

/* The length of an AF_INET or AF_INET6 address, 0 for any other family. */
static inline socklen_t lure__inet_addrlen(const struct sockaddr *addr) {
  if (addr->sa_family == AF_INET)
    return sizeof(struct sockaddr_in);
  if (addr->sa_family == AF_INET6)
    return sizeof(struct sockaddr_in6);
  return 0;
}
uint64_t lure__hrtime_ns(void);
int lure__cloexec(int fd, int set);
int lure__nonblock(int fd, int set);
/* Environment and option parsing shared by loop.c and lure-info. */
int lure__loop_switch_backend(lure_loop_t *loop, int which, int strict);

#endif /* LURE_INTERNAL_H */
