/*
 * lure.h - the whole public API of lure, an event loop library for Linux.
 *
 * lure follows libuv's call shapes and semantics wherever libuv has the same
 * function, with lure_/LURE_ in place of uv_/UV_.  Errors are negative errno
 * values; a call that fails never calls its callback.
 *
 * Everything marked "private" below belongs to lure: read the public fields
 * (data, loop, type, ...), never write the private ones.
 */
#ifndef LURE_H
#define LURE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LURE_EXTERN __attribute__((visibility("default")))
#else
#define LURE_EXTERN
#endif

#define LURE_VERSION_MAJOR 0
#define LURE_VERSION_MINOR 1
#define LURE_VERSION_PATCH 0
#define LURE_VERSION_HEX \
  ((LURE_VERSION_MAJOR << 16) | (LURE_VERSION_MINOR << 8) | LURE_VERSION_PATCH)

/* Error codes: negative errno values, as libuv's UV_E* on Linux. */
#define LURE_ERRNO_MAP(XX)                                                    \
  XX(E2BIG, "argument list too long")                                         \
  XX(EACCES, "permission denied")                                             \
  XX(EADDRINUSE, "address already in use")                                    \
  XX(EADDRNOTAVAIL, "address not available")                                  \
  XX(EAFNOSUPPORT, "address family not supported")                            \
  XX(EAGAIN, "resource temporarily unavailable")                              \
  XX(EALREADY, "connection already in progress")                              \
  XX(EBADF, "bad file descriptor")                                            \
  XX(EBUSY, "resource busy or locked")                                        \
  XX(ECANCELED, "operation canceled")                                         \
  XX(ECONNABORTED, "software caused connection abort")                        \
  XX(ECONNREFUSED, "connection refused")                                      \
  XX(ECONNRESET, "connection reset by peer")                                  \
  XX(EDESTADDRREQ, "destination address required")                            \
  XX(EEXIST, "file already exists")                                           \
  XX(EFAULT, "bad address in system call argument")                           \
  XX(EFBIG, "file too large")                                                 \
  XX(EHOSTUNREACH, "host is unreachable")                                     \
  XX(EINTR, "interrupted system call")                                        \
  XX(EINVAL, "invalid argument")                                              \
  XX(EIO, "i/o error")                                                        \
  XX(EISCONN, "socket is already connected")                                  \
  XX(EISDIR, "illegal operation on a directory")                              \
  XX(ELOOP, "too many symbolic links encountered")                            \
  XX(EMFILE, "too many open files")                                           \
  XX(EMLINK, "too many links")                                                \
  XX(EMSGSIZE, "message too long")                                            \
  XX(ENAMETOOLONG, "name too long")                                           \
  XX(ENETDOWN, "network is down")                                             \
  XX(ENETUNREACH, "network is unreachable")                                   \
  XX(ENFILE, "file table overflow")                                           \
  XX(ENOBUFS, "no buffer space available")                                    \
  XX(ENODEV, "no such device")                                                \
  XX(ENOENT, "no such file or directory")                                     \
  XX(ENOMEM, "not enough memory")                                             \
  XX(ENOSPC, "no space left on device")                                       \
  XX(ENOSYS, "function not implemented")                                      \
  XX(ENOTCONN, "socket is not connected")                                     \
  XX(ENOTDIR, "not a directory")                                              \
  XX(ENOTEMPTY, "directory not empty")                                        \
  XX(ENOTSOCK, "socket operation on non-socket")                              \
  XX(ENOTSUP, "operation not supported on socket")                            \
  XX(EOVERFLOW, "value too large for defined data type")                      \
  XX(EPERM, "operation not permitted")                                        \
  XX(EPIPE, "broken pipe")                                                    \
  XX(EPROTO, "protocol error")                                                \
  XX(EPROTONOSUPPORT, "protocol not supported")                               \
  XX(ERANGE, "result too large")                                              \
  XX(EROFS, "read-only file system")                                          \
  XX(ESPIPE, "invalid seek")                                                  \
  XX(ESRCH, "no such process")                                                \
  XX(ETIMEDOUT, "connection timed out")                                       \
  XX(ETXTBSY, "text file is busy")                                            \
  XX(EXDEV, "cross-device link not permitted")

#define LURE__ERRNO_ENUM(name, _) LURE_##name = -name,
typedef enum {
  LURE_ERRNO_MAP(LURE__ERRNO_ENUM)
  /* End of file: not an errno, the same value as libuv's UV_EOF. */
  LURE_EOF = -4095
} lure_errno_t;
#undef LURE__ERRNO_ENUM

/* Handle and request types, numbered as libuv's. */
typedef enum {
  LURE_UNKNOWN_HANDLE = 0,
  LURE_ASYNC,
  LURE_CHECK,
  LURE_FS_EVENT,
  LURE_FS_POLL,
  LURE_HANDLE,
  LURE_IDLE,
  LURE_NAMED_PIPE,
  LURE_POLL,
  LURE_PREPARE,
  LURE_PROCESS,
  LURE_STREAM,
  LURE_TCP,
  LURE_TIMER,
  LURE_TTY,
  LURE_UDP,
  LURE_SIGNAL,
  LURE_FILE,
  LURE_HANDLE_TYPE_MAX
} lure_handle_type;

typedef enum {
  LURE_UNKNOWN_REQ = 0,
  LURE_REQ,
  LURE_CONNECT,
  LURE_WRITE,
  LURE_SHUTDOWN,
  LURE_UDP_SEND,
  LURE_FS,
  LURE_WORK,
  LURE_GETADDRINFO,
  LURE_GETNAMEINFO,
  LURE_RANDOM,
  LURE_REQ_TYPE_MAX
} lure_req_type;

typedef enum {
  LURE_RUN_DEFAULT = 0,
  LURE_RUN_ONCE,
  LURE_RUN_NOWAIT
} lure_run_mode;

/* Options for lure_loop_configure(). */
typedef enum {
  /* const char *: "uring" (or "io_uring") or "epoll".  Forces the wait point. */
  LURE_LOOP_BACKEND = 1,
  /* const char *: comma-separated io_uring opcode names to treat as missing,
   * e.g. "read,statx".  NULL or "" clears the mask. */
  LURE_LOOP_URING_DISABLE,
  /* unsigned: submission queue entries of the ring (1..32768). */
  LURE_LOOP_RING_ENTRIES
} lure_loop_option;

/* Events for poll handles, the values of libuv's uv_poll_event. */
enum lure_poll_event {
  LURE_READABLE = 1,
  LURE_WRITABLE = 2,
  LURE_DISCONNECT = 4,
  LURE_PRIORITIZED = 8
};

typedef struct lure_loop_s lure_loop_t;
typedef struct lure_handle_s lure_handle_t;
typedef struct lure_timer_s lure_timer_t;
typedef struct lure_idle_s lure_idle_t;
typedef struct lure_prepare_s lure_prepare_t;
typedef struct lure_check_s lure_check_t;
typedef struct lure_async_s lure_async_t;
typedef struct lure_signal_s lure_signal_t;
typedef struct lure_poll_s lure_poll_t;
typedef struct lure_req_s lure_req_t;
typedef struct lure_work_s lure_work_t;
typedef struct lure_loop_stats_s lure_loop_stats_t;

typedef void (*lure_close_cb)(lure_handle_t *handle);
typedef void (*lure_walk_cb)(lure_handle_t *handle, void *arg);
typedef void (*lure_timer_cb)(lure_timer_t *handle);
typedef void (*lure_idle_cb)(lure_idle_t *handle);
typedef void (*lure_prepare_cb)(lure_prepare_t *handle);
typedef void (*lure_check_cb)(lure_check_t *handle);
typedef void (*lure_async_cb)(lure_async_t *handle);
typedef void (*lure_signal_cb)(lure_signal_t *handle, int signum);
typedef void (*lure_poll_cb)(lure_poll_t *handle, int status, int events);
typedef void (*lure_work_cb)(lure_work_t *req);
typedef void (*lure_after_work_cb)(lure_work_t *req, int status);

/* ---- private building blocks (layout only; not API) -------------------- */

struct lure__queue {
  struct lure__queue *next;
  struct lure__queue *prev;
};

struct lure__heap_node {
  struct lure__heap_node *left;
  struct lure__heap_node *right;
  struct lure__heap_node *parent;
};

struct lure__io;
typedef void (*lure__io_cb)(lure_loop_t *loop, struct lure__io *w,
                            unsigned revents);

/* An fd readiness watcher, served by the loop's wait point. */
struct lure__io {
  lure__io_cb cb;
  int fd;
  unsigned events;  /* poll(2) mask wanted; 0 = stopped */
  unsigned flags;
  void *bdata;      /* the backend's per-watcher state */
  struct lure__queue queue;
};

/* A unit of work for the process-wide thread pool. */
struct lure__work {
  void (*work)(struct lure__work *w);
  void (*done)(struct lure__work *w, int status);
  lure_loop_t *loop;
  struct lure__queue queue;
  int state;
};

/* ---- the loop ----------------------------------------------------------- */

struct lure_loop_s {
  void *data;
  /* private */
  struct lure__loop_priv *priv;
};

struct lure_loop_stats_s {
  uint64_t ticks;         /* loop iterations (one per phase cycle) */
  uint64_t wait_calls;    /* io_uring_enter (or epoll_wait) calls */
  uint64_t sqes_submitted;
  uint64_t cqes_reaped;   /* completions reaped from the ring */
  uint64_t epoll_events;  /* readiness events from epoll_wait */
  uint64_t threadpool_jobs; /* thread-pool jobs completed for this loop */
  uint64_t sq_full;       /* times a full submission queue was flushed early */
  uint64_t cq_overflow;   /* times the completion queue overflowed */
};

/* ---- handles ------------------------------------------------------------ */

#define LURE_HANDLE_FIELDS                                                    \
  void *data;                                                                 \
  lure_loop_t *loop;                                                          \
  lure_handle_type type;                                                      \
  /* private */                                                               \
  unsigned int flags;                                                         \
  lure_close_cb close_cb;                                                     \
  struct lure__queue handle_queue;                                            \
  lure_handle_t *next_closing;

struct lure_handle_s {
  LURE_HANDLE_FIELDS
};

struct lure_timer_s {
  LURE_HANDLE_FIELDS
  /* private */
  lure_timer_cb timer_cb;
  struct lure__heap_node heap_node;
  struct lure__queue ready_queue;
  uint64_t timeout;
  uint64_t repeat;
  uint64_t start_id;
};

#define LURE__LOOP_WATCHER_FIELDS(kind)                                       \
  LURE_HANDLE_FIELDS                                                          \
  lure_##kind##_cb kind##_cb;                                                 \
  struct lure__queue queue;

struct lure_idle_s { LURE__LOOP_WATCHER_FIELDS(idle) };
struct lure_prepare_s { LURE__LOOP_WATCHER_FIELDS(prepare) };
struct lure_check_s { LURE__LOOP_WATCHER_FIELDS(check) };

struct lure_async_s {
  LURE_HANDLE_FIELDS
  /* private */
  lure_async_cb async_cb;
  struct lure__queue queue;
  int pending;
};

struct lure_signal_s {
  LURE_HANDLE_FIELDS
  lure_signal_cb signal_cb;
  int signum;
  /* private */
  struct lure_signal_s *global_next;
  unsigned int caught;
  unsigned int dispatched;
};

struct lure_poll_s {
  LURE_HANDLE_FIELDS
  /* private */
  lure_poll_cb poll_cb;
  struct lure__io io_watcher;
};

/* ---- requests ----------------------------------------------------------- */

#define LURE_REQ_FIELDS                                                       \
  void *data;                                                                 \
  lure_req_type type;                                                         \
  /* private */                                                               \
  unsigned char executor;                                                     \
  unsigned char req_flags;                                                    \
  void *reserved[2];

struct lure_req_s {
  LURE_REQ_FIELDS
};

struct lure_work_s {
  LURE_REQ_FIELDS
  lure_loop_t *loop;
  /* private */
  lure_work_cb work_cb;
  lure_after_work_cb after_work_cb;
  struct lure__work work_req;
};

/* ---- functions ---------------------------------------------------------- */

/* Version and time. */
LURE_EXTERN unsigned int lure_version(void);
LURE_EXTERN const char *lure_version_string(void);
LURE_EXTERN uint64_t lure_hrtime(void);

/* Errors. */
LURE_EXTERN const char *lure_strerror(int err);
LURE_EXTERN char *lure_strerror_r(int err, char *buf, size_t buflen);
LURE_EXTERN const char *lure_err_name(int err);
LURE_EXTERN char *lure_err_name_r(int err, char *buf, size_t buflen);

/* The loop. */
LURE_EXTERN int lure_loop_init(lure_loop_t *loop);
LURE_EXTERN int lure_loop_close(lure_loop_t *loop);
LURE_EXTERN lure_loop_t *lure_default_loop(void);
LURE_EXTERN int lure_loop_configure(lure_loop_t *loop, lure_loop_option option,
                                    ...);
LURE_EXTERN int lure_loop_alive(const lure_loop_t *loop);
LURE_EXTERN int lure_run(lure_loop_t *loop, lure_run_mode mode);
LURE_EXTERN void lure_stop(lure_loop_t *loop);
LURE_EXTERN uint64_t lure_now(const lure_loop_t *loop);
LURE_EXTERN void lure_update_time(lure_loop_t *loop);
LURE_EXTERN int lure_backend_timeout(const lure_loop_t *loop);
LURE_EXTERN int lure_backend_fd(const lure_loop_t *loop);
LURE_EXTERN const char *lure_loop_backend(const lure_loop_t *loop);
LURE_EXTERN int lure_loop_stats(const lure_loop_t *loop,
                                lure_loop_stats_t *stats);
LURE_EXTERN void lure_walk(lure_loop_t *loop, lure_walk_cb walk_cb, void *arg);
LURE_EXTERN int lure_loop_fork(lure_loop_t *loop);

/* Handles, any type. */
LURE_EXTERN int lure_close(lure_handle_t *handle, lure_close_cb close_cb);
LURE_EXTERN int lure_is_active(const lure_handle_t *handle);
LURE_EXTERN int lure_is_closing(const lure_handle_t *handle);
LURE_EXTERN void lure_ref(lure_handle_t *handle);
LURE_EXTERN void lure_unref(lure_handle_t *handle);
LURE_EXTERN int lure_has_ref(const lure_handle_t *handle);
LURE_EXTERN lure_handle_type lure_handle_get_type(const lure_handle_t *handle);
LURE_EXTERN const char *lure_handle_type_name(lure_handle_type type);
LURE_EXTERN size_t lure_handle_size(lure_handle_type type);
LURE_EXTERN lure_loop_t *lure_handle_get_loop(const lure_handle_t *handle);
LURE_EXTERN void *lure_handle_get_data(const lure_handle_t *handle);
LURE_EXTERN void lure_handle_set_data(lure_handle_t *handle, void *data);

/* Timers. */
LURE_EXTERN int lure_timer_init(lure_loop_t *loop, lure_timer_t *handle);
LURE_EXTERN int lure_timer_start(lure_timer_t *handle, lure_timer_cb cb,
                                 uint64_t timeout, uint64_t repeat);
LURE_EXTERN int lure_timer_stop(lure_timer_t *handle);
LURE_EXTERN int lure_timer_again(lure_timer_t *handle);
LURE_EXTERN void lure_timer_set_repeat(lure_timer_t *handle, uint64_t repeat);
LURE_EXTERN uint64_t lure_timer_get_repeat(const lure_timer_t *handle);
LURE_EXTERN uint64_t lure_timer_get_due_in(const lure_timer_t *handle);

/* Idle, prepare and check handles. */
LURE_EXTERN int lure_idle_init(lure_loop_t *loop, lure_idle_t *handle);
LURE_EXTERN int lure_idle_start(lure_idle_t *handle, lure_idle_cb cb);
LURE_EXTERN int lure_idle_stop(lure_idle_t *handle);
LURE_EXTERN int lure_prepare_init(lure_loop_t *loop, lure_prepare_t *handle);
LURE_EXTERN int lure_prepare_start(lure_prepare_t *handle, lure_prepare_cb cb);
LURE_EXTERN int lure_prepare_stop(lure_prepare_t *handle);
LURE_EXTERN int lure_check_init(lure_loop_t *loop, lure_check_t *handle);
LURE_EXTERN int lure_check_start(lure_check_t *handle, lure_check_cb cb);
LURE_EXTERN int lure_check_stop(lure_check_t *handle);

/* Async wake-ups. */
LURE_EXTERN int lure_async_init(lure_loop_t *loop, lure_async_t *handle,
                                lure_async_cb async_cb);
LURE_EXTERN int lure_async_send(lure_async_t *handle);

/* Signals. */
LURE_EXTERN int lure_signal_init(lure_loop_t *loop, lure_signal_t *handle);
LURE_EXTERN int lure_signal_start(lure_signal_t *handle, lure_signal_cb cb,
                                  int signum);
LURE_EXTERN int lure_signal_start_oneshot(lure_signal_t *handle,
                                          lure_signal_cb cb, int signum);
LURE_EXTERN int lure_signal_stop(lure_signal_t *handle);

/* fd readiness. */
LURE_EXTERN int lure_poll_init(lure_loop_t *loop, lure_poll_t *handle, int fd);
LURE_EXTERN int lure_poll_start(lure_poll_t *handle, int events,
                                lure_poll_cb cb);
LURE_EXTERN int lure_poll_stop(lure_poll_t *handle);

/* Requests and the thread pool. */
LURE_EXTERN int lure_queue_work(lure_loop_t *loop, lure_work_t *req,
                                lure_work_cb work_cb,
                                lure_after_work_cb after_work_cb);
LURE_EXTERN int lure_cancel(lure_req_t *req);
LURE_EXTERN const char *lure_req_executor(const lure_req_t *req);
LURE_EXTERN const char *lure_req_type_name(lure_req_type type);
LURE_EXTERN size_t lure_req_size(lure_req_type type);

#ifdef __cplusplus
}
#endif

#endif /* LURE_H */
