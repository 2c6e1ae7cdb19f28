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
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <pthread.h>
#include <sys/types.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

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

/* Error codes: negative errno values, as libuv's UV_E* on Linux, plus
 * libuv's own codes for getaddrinfo(3) errors and end of file.  The same
 * names and values as libuv 1.44's uv/errno.h, in its order.  XX(name,
 * message) is expanded once for the enum and once for each of
 * lure_strerror() and lure_err_name(). */
#define LURE_ERRNO_MAP(XX)                                                    \
  XX(E2BIG, "argument list too long")                                         \
  XX(EACCES, "permission denied")                                             \
  XX(EADDRINUSE, "address already in use")                                    \
  XX(EADDRNOTAVAIL, "address not available")                                  \
  XX(EAFNOSUPPORT, "address family not supported")                            \
  XX(EAGAIN, "resource temporarily unavailable")                              \
  XX(EAI_ADDRFAMILY, "address family not supported")                          \
  XX(EAI_AGAIN, "temporary failure")                                          \
  XX(EAI_BADFLAGS, "bad ai_flags value")                                      \
  XX(EAI_BADHINTS, "invalid value for hints")                                 \
  XX(EAI_CANCELED, "request canceled")                                        \
  XX(EAI_FAIL, "permanent failure")                                           \
  XX(EAI_FAMILY, "ai_family not supported")                                   \
  XX(EAI_MEMORY, "out of memory")                                             \
  XX(EAI_NODATA, "no address")                                                \
  XX(EAI_NONAME, "unknown node or service")                                   \
  XX(EAI_OVERFLOW, "argument buffer overflow")                                \
  XX(EAI_PROTOCOL, "resolved protocol is unknown")                            \
  XX(EAI_SERVICE, "service not available for socket type")                    \
  XX(EAI_SOCKTYPE, "socket type not supported")                               \
  XX(EALREADY, "connection already in progress")                              \
  XX(EBADF, "bad file descriptor")                                            \
  XX(EBUSY, "resource busy or locked")                                        \
  XX(ECANCELED, "operation canceled")                                         \
  XX(ECHARSET, "invalid Unicode character")                                   \
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
  XX(EMSGSIZE, "message too long")                                            \
  XX(ENAMETOOLONG, "name too long")                                           \
  XX(ENETDOWN, "network is down")                                             \
  XX(ENETUNREACH, "network is unreachable")                                   \
  XX(ENFILE, "file table overflow")                                           \
  XX(ENOBUFS, "no buffer space available")                                    \
  XX(ENODEV, "no such device")                                                \
  XX(ENOENT, "no such file or directory")                                     \
  XX(ENOMEM, "not enough memory")                                             \
  XX(ENONET, "machine is not on the network")                                 \
  XX(ENOPROTOOPT, "protocol not available")                                   \
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
  XX(EPROTOTYPE, "protocol wrong type for socket")                            \
  XX(ERANGE, "result too large")                                              \
  XX(EROFS, "read-only file system")                                          \
  XX(ESHUTDOWN, "cannot send after transport endpoint shutdown")              \
  XX(ESPIPE, "invalid seek")                                                  \
  XX(ESRCH, "no such process")                                                \
  XX(ETIMEDOUT, "connection timed out")                                       \
  XX(ETXTBSY, "text file is busy")                                            \
  XX(EXDEV, "cross-device link not permitted")                                \
  XX(UNKNOWN, "unknown error")                                                \
  XX(EOF, "end of file")                                                      \
  XX(ENXIO, "no such device or address")                                      \
  XX(EMLINK, "too many links")                                                \
  XX(EHOSTDOWN, "host is down")                                               \
  XX(EREMOTEIO, "remote I/O error")                                           \
  XX(ENOTTY, "inappropriate ioctl for device")                                \
  XX(EFTYPE, "inappropriate file type or format")                             \
  XX(EILSEQ, "illegal byte sequence")                                         \
  XX(ESOCKTNOSUPPORT, "socket type not supported")

/* The codes that are not errno values have libuv's numbers. */
#define LURE__EAI_ADDRFAMILY 3000
#define LURE__EAI_AGAIN 3001
#define LURE__EAI_BADFLAGS 3002
#define LURE__EAI_CANCELED 3003
#define LURE__EAI_FAIL 3004
#define LURE__EAI_FAMILY 3005
#define LURE__EAI_MEMORY 3006
#define LURE__EAI_NODATA 3007
#define LURE__EAI_NONAME 3008
#define LURE__EAI_OVERFLOW 3009
#define LURE__EAI_SERVICE 3010
#define LURE__EAI_SOCKTYPE 3011
#define LURE__EAI_BADHINTS 3013
#define LURE__EAI_PROTOCOL 3014
#define LURE__ECHARSET 4080
#define LURE__EFTYPE 4028
#define LURE__UNKNOWN 4094
#define LURE__EOF 4095
#define LURE__E2BIG E2BIG
#define LURE__EACCES EACCES
#define LURE__EADDRINUSE EADDRINUSE
#define LURE__EADDRNOTAVAIL EADDRNOTAVAIL
#define LURE__EAFNOSUPPORT EAFNOSUPPORT
#define LURE__EAGAIN EAGAIN
#define LURE__EALREADY EALREADY
#define LURE__EBADF EBADF
#define LURE__EBUSY EBUSY
#define LURE__ECANCELED ECANCELED
#define LURE__ECONNABORTED ECONNABORTED
#define LURE__ECONNREFUSED ECONNREFUSED
#define LURE__ECONNRESET ECONNRESET
#define LURE__EDESTADDRREQ EDESTADDRREQ
#define LURE__EEXIST EEXIST
#define LURE__EFAULT EFAULT
#define LURE__EFBIG EFBIG
#define LURE__EHOSTUNREACH EHOSTUNREACH
#define LURE__EINTR EINTR
#define LURE__EINVAL EINVAL
#define LURE__EIO EIO
#define LURE__EISCONN EISCONN
#define LURE__EISDIR EISDIR
#define LURE__ELOOP ELOOP
#define LURE__EMFILE EMFILE
#define LURE__EMSGSIZE EMSGSIZE
#define LURE__ENAMETOOLONG ENAMETOOLONG
#define LURE__ENETDOWN ENETDOWN
#define LURE__ENETUNREACH ENETUNREACH
#define LURE__ENFILE ENFILE
#define LURE__ENOBUFS ENOBUFS
#define LURE__ENODEV ENODEV
#define LURE__ENOENT ENOENT
#define LURE__ENOMEM ENOMEM
#define LURE__ENONET ENONET
#define LURE__ENOPROTOOPT ENOPROTOOPT
#define LURE__ENOSPC ENOSPC
#define LURE__ENOSYS ENOSYS
#define LURE__ENOTCONN ENOTCONN
#define LURE__ENOTDIR ENOTDIR
#define LURE__ENOTEMPTY ENOTEMPTY
#define LURE__ENOTSOCK ENOTSOCK
#define LURE__ENOTSUP ENOTSUP
#define LURE__EOVERFLOW EOVERFLOW
#define LURE__EPERM EPERM
#define LURE__EPIPE EPIPE
#define LURE__EPROTO EPROTO
#define LURE__EPROTONOSUPPORT EPROTONOSUPPORT
#define LURE__EPROTOTYPE EPROTOTYPE
#define LURE__ERANGE ERANGE
#define LURE__EROFS EROFS
#define LURE__ESHUTDOWN ESHUTDOWN
#define LURE__ESPIPE ESPIPE
#define LURE__ESRCH ESRCH
#define LURE__ETIMEDOUT ETIMEDOUT
#define LURE__ETXTBSY ETXTBSY
#define LURE__EXDEV EXDEV
#define LURE__ENXIO ENXIO
#define LURE__EMLINK EMLINK
#define LURE__EHOSTDOWN EHOSTDOWN
#define LURE__EREMOTEIO EREMOTEIO
#define LURE__ENOTTY ENOTTY
#define LURE__EILSEQ EILSEQ
#define LURE__ESOCKTNOSUPPORT ESOCKTNOSUPPORT

#define LURE__ERRNO_ENUM(name, _) LURE_##name = -LURE__##name,
typedef enum {
  LURE_ERRNO_MAP(LURE__ERRNO_ENUM)
  LURE_ERRNO_MAX = -4096
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
  /* libuv's options, libuv's values.  int signum (SIGPROF only, as libuv):
   * the signal is blocked while the loop waits. */
  LURE_LOOP_BLOCK_SIGNAL = 0,
  /* No argument: from now on, lure_metrics_idle_time() counts the time the
   * loop spends waiting. */
  LURE_METRICS_IDLE_TIME = 1,
  /* lure's own options start at 256.
   * const char *: "uring" (or "io_uring") or "epoll".  Forces the wait point. */
  LURE_LOOP_BACKEND = 256,
  /* const char *: comma-separated io_uring opcode names to treat as missing,
   * e.g. "read,statx".  NULL or "" clears the mask. */
  LURE_LOOP_URING_DISABLE,
  /* unsigned: submission queue entries of the ring (1..32768). */
  LURE_LOOP_RING_ENTRIES,
  /* int: 1 or 0.  Turns on or off the adaptive router that sends buffered
   * file writes to the ring or the thread pool, whichever is faster now
   * (on by default, unless the wait point was forced). */
  LURE_LOOP_FS_ADAPT,
  /* int: 1 or 0.  While every thread of the pool has a job, an fs request
   * waits in the pool's queue, as in libuv, where lure_cancel() can still
   * take it back, instead of going to the ring or AIO at once (off by
   * default; on in loops made through uv.h). */
  LURE_LOOP_FS_BEHIND_POOL,
  /* No argument: libuv's behaviour where lure's default differs, for every
   * option not set explicitly (today: LURE_LOOP_FS_BEHIND_POOL on).  uv.h's
   * uv_default_loop(), uv_loop_init() and uv_loop_new() ask for it. */
  LURE_LOOP_LIBUV_DEFAULTS,
  /* unsigned: microseconds (0..1000, 0 off, the default).  Before a wait
   * that may sleep, the loop first looks for events without sleeping for
   * up to this long, trading CPU time for wake-up latency. */
  LURE_LOOP_BUSY_POLL,
  /* int: 1 or 0 (0, the default).  A promise that one thread uses the
   * loop: the first that enters the ring (lure_run, mostly).  The ring is
   * then single-issuer with deferred task work (Linux 6.1), which costs
   * less per completion; lure_run from another thread fails with
   * LURE_EEXIST while the loop has operations in that ring (with none, a
   * new ring takes over).  Needs a loop with nothing in flight. */
  LURE_LOOP_SINGLE_THREAD,
  /* unsigned: 0..255 (default 4).  A stream the ring could serve starts
   * on readiness and moves to the ring after this many readiness events
   * and writes; 0: on the ring from the start.  Applies to streams opened
   * later. */
  LURE_LOOP_STREAM_WARMUP
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
typedef struct lure_fs_s lure_fs_t;
typedef struct lure_stream_s lure_stream_t;
typedef struct lure_tcp_s lure_tcp_t;
typedef struct lure_pipe_s lure_pipe_t;
typedef struct lure_udp_s lure_udp_t;
typedef struct lure_write_s lure_write_t;
typedef struct lure_connect_s lure_connect_t;
typedef struct lure_shutdown_s lure_shutdown_t;
typedef struct lure_udp_send_s lure_udp_send_t;
typedef struct lure_getaddrinfo_s lure_getaddrinfo_t;
typedef struct lure_getnameinfo_s lure_getnameinfo_t;
typedef struct lure_buf_s lure_buf_t;

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
typedef void (*lure_fs_cb)(lure_fs_t *req);
typedef void (*lure_alloc_cb)(lure_handle_t *handle, size_t suggested_size,
                              lure_buf_t *buf);
typedef void (*lure_read_cb)(lure_stream_t *stream, ssize_t nread,
                             const lure_buf_t *buf);
typedef void (*lure_write_cb)(lure_write_t *req, int status);
typedef void (*lure_connect_cb)(lure_connect_t *req, int status);
typedef void (*lure_shutdown_cb)(lure_shutdown_t *req, int status);
typedef void (*lure_connection_cb)(lure_stream_t *server, int status);
typedef void (*lure_udp_send_cb)(lure_udp_send_t *req, int status);
typedef void (*lure_udp_recv_cb)(lure_udp_t *handle, ssize_t nread,
                                 const lure_buf_t *buf,
                                 const struct sockaddr *addr, unsigned flags);
typedef void (*lure_getaddrinfo_cb)(lure_getaddrinfo_t *req, int status,
                                    struct addrinfo *res);
typedef void (*lure_getnameinfo_cb)(lure_getnameinfo_t *req, int status,
                                    const char *hostname, const char *service);

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
  unsigned short events;  /* poll(2) mask wanted (POLLRDHUP is the highest
                           * bit lure asks for); 0 = stopped */
  unsigned short flags;
  void *bdata;      /* the backend's per-watcher state */
  struct lure__queue queue;
};

/* A callback deferred to the next tick's pending phase. */
struct lure__pending {
  void (*cb)(lure_loop_t *loop, struct lure__pending *p);
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
  /* Handles that are active and referenced: what keeps lure_run() going,
   * with the active requests (libuv's public field of the same name). */
  unsigned int active_handles;
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
  uint64_t busy_polls;    /* LURE_LOOP_BUSY_POLL: spins before a wait */
  uint64_t busy_poll_hits; /* spins that found an event (no sleep) */
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


/* ---- file system requests ---------------------------------------------- */

/* A buffer: the same layout as struct iovec, as libuv's uv_buf_t on Unix. */
struct lure_buf_s {
  char *base;
  size_t len;
};

typedef int lure_file;
typedef int lure_os_fd_t;
typedef int lure_os_sock_t;

typedef enum {
  LURE_FS_UNKNOWN = -1,
  LURE_FS_CUSTOM,
  LURE_FS_OPEN,
  LURE_FS_CLOSE,
  LURE_FS_READ,
  LURE_FS_WRITE,
  LURE_FS_SENDFILE,
  LURE_FS_STAT,
  LURE_FS_LSTAT,
  LURE_FS_FSTAT,
  LURE_FS_FTRUNCATE,
  LURE_FS_UTIME,
  LURE_FS_FUTIME,
  LURE_FS_ACCESS,
  LURE_FS_CHMOD,
  LURE_FS_FCHMOD,
  LURE_FS_FSYNC,
  LURE_FS_FDATASYNC,
  LURE_FS_UNLINK,
  LURE_FS_RMDIR,
  LURE_FS_MKDIR,
  LURE_FS_MKDTEMP,
  LURE_FS_RENAME,
  LURE_FS_SCANDIR,
  LURE_FS_LINK,
  LURE_FS_SYMLINK,
  LURE_FS_READLINK,
  LURE_FS_CHOWN,
  LURE_FS_FCHOWN,
  LURE_FS_REALPATH,
  LURE_FS_COPYFILE,
  LURE_FS_LCHOWN,
  LURE_FS_OPENDIR,
  LURE_FS_READDIR,
  LURE_FS_CLOSEDIR,
  LURE_FS_STATFS,
  LURE_FS_MKSTEMP,
  LURE_FS_LUTIME
} lure_fs_type;

typedef struct {
  long tv_sec;
  long tv_nsec;
} lure_timespec_t;

typedef struct {
  uint64_t st_dev;
  uint64_t st_mode;
  uint64_t st_nlink;
  uint64_t st_uid;
  uint64_t st_gid;
  uint64_t st_rdev;
  uint64_t st_ino;
  uint64_t st_size;
  uint64_t st_blksize;
  uint64_t st_blocks;
  uint64_t st_flags;
  uint64_t st_gen;
  lure_timespec_t st_atim;
  lure_timespec_t st_mtim;
  lure_timespec_t st_ctim;
  lure_timespec_t st_birthtim;
} lure_stat_t;

typedef struct lure_statfs_s {
  uint64_t f_type;
  uint64_t f_bsize;
  uint64_t f_blocks;
  uint64_t f_bfree;
  uint64_t f_bavail;
  uint64_t f_files;
  uint64_t f_ffree;
  uint64_t f_spare[4];
} lure_statfs_t;

typedef enum {
  LURE_DIRENT_UNKNOWN,
  LURE_DIRENT_FILE,
  LURE_DIRENT_DIR,
  LURE_DIRENT_LINK,
  LURE_DIRENT_FIFO,
  LURE_DIRENT_SOCKET,
  LURE_DIRENT_CHAR,
  LURE_DIRENT_BLOCK
} lure_dirent_type_t;

typedef struct lure_dirent_s {
  const char *name;
  lure_dirent_type_t type;
} lure_dirent_t;

typedef struct lure_dir_s {
  lure_dirent_t *dirents;  /* set by the caller: room for nentries */
  size_t nentries;
  /* private */
  void *reserved[4];
  DIR *dir;
} lure_dir_t;

/* lure_fs_open() flags: the open(2) flags under libuv's names, with
 * libuv's values on Linux (0 where Linux has no such flag). */
#define LURE_FS_O_APPEND O_APPEND
#define LURE_FS_O_CREAT O_CREAT
#define LURE_FS_O_DIRECT O_DIRECT
#define LURE_FS_O_DIRECTORY O_DIRECTORY
#define LURE_FS_O_DSYNC O_DSYNC
#define LURE_FS_O_EXCL O_EXCL
#define LURE_FS_O_EXLOCK 0
#define LURE_FS_O_NOATIME O_NOATIME
#define LURE_FS_O_NOCTTY O_NOCTTY
#define LURE_FS_O_NOFOLLOW O_NOFOLLOW
#define LURE_FS_O_NONBLOCK O_NONBLOCK
#define LURE_FS_O_RDONLY O_RDONLY
#define LURE_FS_O_RDWR O_RDWR
#define LURE_FS_O_SYMLINK 0
#define LURE_FS_O_SYNC O_SYNC
#define LURE_FS_O_TRUNC O_TRUNC
#define LURE_FS_O_WRONLY O_WRONLY
/* Windows-only in libuv: 0 here, as in libuv on Linux. */
#define LURE_FS_O_FILEMAP 0
#define LURE_FS_O_RANDOM 0
#define LURE_FS_O_SHORT_LIVED 0
#define LURE_FS_O_SEQUENTIAL 0
#define LURE_FS_O_TEMPORARY 0

/* lure_fs_copyfile() flags, libuv's values. */
#define LURE_FS_COPYFILE_EXCL 0x0001
#define LURE_FS_COPYFILE_FICLONE 0x0002
#define LURE_FS_COPYFILE_FICLONE_FORCE 0x0004
/* lure_fs_symlink() flags (ignored on Linux, as in libuv). */
#define LURE_FS_SYMLINK_DIR 0x0001
#define LURE_FS_SYMLINK_JUNCTION 0x0002

struct lure_fs_s {
  LURE_REQ_FIELDS
  lure_fs_type fs_type;
  lure_loop_t *loop;
  lure_fs_cb cb;
  ssize_t result;
  void *ptr;
  const char *path;
  lure_stat_t statbuf;
  /* private */
  const char *new_path;
  lure_file file;
  int flags;
  unsigned int mode;
  unsigned int nbufs;
  lure_buf_t *bufs;
  int64_t off;
  int64_t len;
  unsigned int uid;
  unsigned int gid;
  double atime;
  double mtime;
  lure_file out_file;
  int cancel_state;
  struct lure__work work_req;
  struct lure__queue queue;
  struct lure__pending pending;
  lure_buf_t bufsml[4];
  /* Space for the kernel's answer (struct statx) or an AIO control block
   * while the request is in flight. */
  union {
    unsigned char bytes[256];
    uint64_t align;
  } kbuf;
};

/* ---- streams, TCP, pipes, UDP, DNS --------------------------------------- */

/* lure_tcp_bind() flags. */
typedef enum lure_tcp_flags {
  LURE_TCP_IPV6ONLY = 1,
  LURE_TCP_REUSEPORT = 2 /* SO_REUSEPORT, as libuv 1.49's UV_TCP_REUSEPORT */
} lure_tcp_flags;
/* lure_udp_bind() / lure_udp_init_ex() flags, and the flags of a receive
 * callback, libuv's values. */
typedef enum lure_udp_flags {
  LURE_UDP_IPV6ONLY = 1,
  LURE_UDP_PARTIAL = 2,
  LURE_UDP_REUSEADDR = 4,
  /* libuv's recvmmsg(2) buffer protocol: lure never receives with
   * recvmmsg(2) (see lure_udp_using_recvmmsg(3)), so a receive callback
   * never sees these two. */
  LURE_UDP_MMSG_CHUNK = 8,
  LURE_UDP_MMSG_FREE = 16,
  /* lure_udp_init_ex(): libuv's hint to receive with recvmmsg(2); accepted,
   * and ignored (see lure_udp_using_recvmmsg(3)). */
  LURE_UDP_RECVMMSG = 256
} lure_udp_flags;
typedef enum { LURE_LEAVE_GROUP = 0, LURE_JOIN_GROUP } lure_membership;
/* libuv's uv_stdio_flags, libuv's values.  lure_pipe() and
 * lure_socketpair() take LURE_NONBLOCK_PIPE; the others describe one
 * descriptor of a child process (lure_stdio_container_t, lure_spawn()). */
typedef enum {
  LURE_IGNORE = 0x00,          /* /dev/null for 0-2, nothing above */
  LURE_CREATE_PIPE = 0x01,     /* a socket pair; data.stream gets our end */
  LURE_INHERIT_FD = 0x02,      /* the child gets data.fd */
  LURE_INHERIT_STREAM = 0x04,  /* the child gets data.stream's descriptor */
  /* With LURE_CREATE_PIPE, as seen from the child. */
  LURE_READABLE_PIPE = 0x10,
  LURE_WRITABLE_PIPE = 0x20,
  LURE_NONBLOCK_PIPE = 0x40,
  LURE_OVERLAPPED_PIPE = 0x40  /* Windows' name for the same bit */
} lure_stdio_flags;

#define LURE_STREAM_FIELDS                                                    \
  size_t write_queue_size;                                                    \
  lure_alloc_cb alloc_cb;                                                     \
  lure_read_cb read_cb;                                                       \
  /* private */                                                               \
  struct lure__io io_watcher;                                                 \
  struct lure__queue write_queue;      /* not yet fully written */            \
  struct lure__queue write_done_queue; /* written, callback due */            \
  struct lure__pending write_pending;                                         \
  lure_connect_t *connect_req;                                                \
  lure_shutdown_t *shutdown_req;                                              \
  lure_connection_cb connection_cb;                                           \
  int *accepted_fds;                                                          \
  unsigned int accepted_count;                                                \
  unsigned int accepted_cap;                                                  \
  unsigned int stream_flags;                                                  \
  unsigned short exec_ops;             /* executor operations in flight */    \
  short delayed_error;                 /* a negative errno, or 0 */           \
  void *exec_data;                     /* the executor's per-stream state */  \
  int *pending_fds;                    /* fds received (pipes with ipc) */    \
  unsigned int pending_count;                                                 \
  unsigned int pending_cap;

struct lure_stream_s {
  LURE_HANDLE_FIELDS
  LURE_STREAM_FIELDS
};

struct lure_tcp_s {
  LURE_HANDLE_FIELDS
  LURE_STREAM_FIELDS
};

struct lure_pipe_s {
  LURE_HANDLE_FIELDS
  LURE_STREAM_FIELDS
  int ipc;
  /* private */
  const char *pipe_fname;
};

struct lure_write_s {
  LURE_REQ_FIELDS
  lure_write_cb cb;
  lure_stream_t *send_handle;
  lure_stream_t *handle;
  /* private */
  struct lure__queue queue;
  unsigned int write_index;
  unsigned int nbufs;
  lure_buf_t *bufs;
  size_t offset;   /* bytes of bufs[write_index] already written */
  int error;
  lure_buf_t bufsml[4];
};

struct lure_connect_s {
  LURE_REQ_FIELDS
  lure_connect_cb cb;
  lure_stream_t *handle;
  /* private: the TCP peer, for a connect the ring submits later (a pipe's
   * connect never goes there) */
  struct sockaddr_in6 addr;
  socklen_t addrlen;
};

struct lure_shutdown_s {
  LURE_REQ_FIELDS
  lure_stream_t *handle;
  lure_shutdown_cb cb;
};

struct lure_udp_s {
  LURE_HANDLE_FIELDS
  size_t send_queue_size;
  size_t send_queue_count;
  /* private */
  lure_alloc_cb alloc_cb;
  lure_udp_recv_cb recv_cb;
  struct lure__io io_watcher;
  struct lure__queue write_queue;
  struct lure__queue write_done_queue;
  struct lure__pending write_pending;
  unsigned int udp_flags;
  unsigned int exec_ops;               /* executor operations in flight */
  void *exec_data;                     /* the executor's per-handle state */
};

struct lure_udp_send_s {
  LURE_REQ_FIELDS
  lure_udp_t *handle;
  lure_udp_send_cb cb;
  /* private */
  struct lure__queue queue;
  struct sockaddr_storage addr;
  ssize_t status;
  /* The send itself: msg_name is addr (or NULL), msg_iov the buffers
   * (bufsml, or allocated for more than 4); a ring SENDMSG reads it until
   * its CQE. */
  struct msghdr msg;
  lure_buf_t bufsml[4];
};

struct lure_getaddrinfo_s {
  LURE_REQ_FIELDS
  lure_loop_t *loop;
  struct addrinfo *addrinfo; /* the result in synchronous mode */
  /* private */
  lure_getaddrinfo_cb cb;
  struct addrinfo *hints;
  char *hostname;
  char *service;
  int retcode;
  struct lure__work work_req;
};

struct lure_getnameinfo_s {
  LURE_REQ_FIELDS
  lure_loop_t *loop;
  char host[NI_MAXHOST];     /* the results in synchronous mode */
  char service[NI_MAXSERV];
  /* private */
  lure_getnameinfo_cb getnameinfo_cb;
  struct sockaddr_storage storage;
  int flags;
  int retcode;
  struct lure__work work_req;
};

/* ---- threads and synchronisation (types) ---------------------------------
 *
 * Thin names over POSIX threads, as libuv's on Unix: each lure_ type is the
 * pthread (or sem_t) type itself, so that a lure_mutex_t may be handed to
 * code that wants a pthread_mutex_t, and LURE_ONCE_INIT is
 * PTHREAD_ONCE_INIT, a valid initializer of a static lure_once_t. */
#include <semaphore.h>

typedef pthread_t lure_thread_t;
typedef pthread_key_t lure_key_t;
typedef pthread_once_t lure_once_t;
typedef pthread_mutex_t lure_mutex_t;
typedef pthread_rwlock_t lure_rwlock_t;
typedef sem_t lure_sem_t;
typedef pthread_cond_t lure_cond_t;
typedef pthread_barrier_t lure_barrier_t;

#define LURE_ONCE_INIT PTHREAD_ONCE_INIT

typedef void (*lure_thread_cb)(void *arg);

typedef enum {
  LURE_THREAD_NO_FLAGS = 0x00,
  LURE_THREAD_HAS_STACK_SIZE = 0x01
} lure_thread_create_flags;

struct lure_thread_options_s {
  unsigned int flags;   /* LURE_THREAD_* */
  size_t stack_size;    /* read when flags has LURE_THREAD_HAS_STACK_SIZE */
  /* libuv reserves the right to add fields; so does lure. */
};
typedef struct lure_thread_options_s lure_thread_options_t;

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
LURE_EXTERN uint64_t lure_metrics_idle_time(lure_loop_t *loop);
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
LURE_EXTERN lure_handle_type lure_guess_handle(lure_file file);
LURE_EXTERN void *lure_handle_get_data(const lure_handle_t *handle);
LURE_EXTERN void lure_handle_set_data(lure_handle_t *handle, void *data);
LURE_EXTERN int lure_fileno(const lure_handle_t *handle, lure_os_fd_t *fd);
LURE_EXTERN int lure_send_buffer_size(lure_handle_t *handle, int *value);
LURE_EXTERN int lure_recv_buffer_size(lure_handle_t *handle, int *value);

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
LURE_EXTERN int lure_poll_init_socket(lure_loop_t *loop, lure_poll_t *handle,
                                     lure_os_sock_t socket);
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


/* Buffers. */
LURE_EXTERN lure_buf_t lure_buf_init(char *base, unsigned int len);

/* File system requests.  A NULL cb runs the request synchronously. */
LURE_EXTERN void lure_fs_req_cleanup(lure_fs_t *req);
LURE_EXTERN int lure_fs_open(lure_loop_t *loop, lure_fs_t *req,
                             const char *path, int flags, int mode,
                             lure_fs_cb cb);
LURE_EXTERN int lure_fs_close(lure_loop_t *loop, lure_fs_t *req,
                              lure_file file, lure_fs_cb cb);
LURE_EXTERN int lure_fs_read(lure_loop_t *loop, lure_fs_t *req, lure_file file,
                             const lure_buf_t bufs[], unsigned int nbufs,
                             int64_t offset, lure_fs_cb cb);
LURE_EXTERN int lure_fs_write(lure_loop_t *loop, lure_fs_t *req,
                              lure_file file, const lure_buf_t bufs[],
                              unsigned int nbufs, int64_t offset,
                              lure_fs_cb cb);
LURE_EXTERN int lure_fs_unlink(lure_loop_t *loop, lure_fs_t *req,
                               const char *path, lure_fs_cb cb);
LURE_EXTERN int lure_fs_mkdir(lure_loop_t *loop, lure_fs_t *req,
                              const char *path, int mode, lure_fs_cb cb);
LURE_EXTERN int lure_fs_mkdtemp(lure_loop_t *loop, lure_fs_t *req,
                                const char *tpl, lure_fs_cb cb);
LURE_EXTERN int lure_fs_mkstemp(lure_loop_t *loop, lure_fs_t *req,
                                const char *tpl, lure_fs_cb cb);
LURE_EXTERN int lure_fs_rmdir(lure_loop_t *loop, lure_fs_t *req,
                              const char *path, lure_fs_cb cb);
LURE_EXTERN int lure_fs_scandir(lure_loop_t *loop, lure_fs_t *req,
                                const char *path, int flags, lure_fs_cb cb);
LURE_EXTERN int lure_fs_scandir_next(lure_fs_t *req, lure_dirent_t *ent);
LURE_EXTERN int lure_fs_opendir(lure_loop_t *loop, lure_fs_t *req,
                                const char *path, lure_fs_cb cb);
LURE_EXTERN int lure_fs_readdir(lure_loop_t *loop, lure_fs_t *req,
                                lure_dir_t *dir, lure_fs_cb cb);
LURE_EXTERN int lure_fs_closedir(lure_loop_t *loop, lure_fs_t *req,
                                 lure_dir_t *dir, lure_fs_cb cb);
LURE_EXTERN int lure_fs_stat(lure_loop_t *loop, lure_fs_t *req,
                             const char *path, lure_fs_cb cb);
LURE_EXTERN int lure_fs_fstat(lure_loop_t *loop, lure_fs_t *req,
                              lure_file file, lure_fs_cb cb);
LURE_EXTERN int lure_fs_lstat(lure_loop_t *loop, lure_fs_t *req,
                              const char *path, lure_fs_cb cb);
LURE_EXTERN int lure_fs_statfs(lure_loop_t *loop, lure_fs_t *req,
                               const char *path, lure_fs_cb cb);
LURE_EXTERN int lure_fs_rename(lure_loop_t *loop, lure_fs_t *req,
                               const char *path, const char *new_path,
                               lure_fs_cb cb);
LURE_EXTERN int lure_fs_fsync(lure_loop_t *loop, lure_fs_t *req,
                              lure_file file, lure_fs_cb cb);
LURE_EXTERN int lure_fs_fdatasync(lure_loop_t *loop, lure_fs_t *req,
                                  lure_file file, lure_fs_cb cb);
LURE_EXTERN int lure_fs_ftruncate(lure_loop_t *loop, lure_fs_t *req,
                                  lure_file file, int64_t offset,
                                  lure_fs_cb cb);
LURE_EXTERN int lure_fs_copyfile(lure_loop_t *loop, lure_fs_t *req,
                                 const char *path, const char *new_path,
                                 int flags, lure_fs_cb cb);
LURE_EXTERN int lure_fs_sendfile(lure_loop_t *loop, lure_fs_t *req,
                                 lure_file out_fd, lure_file in_fd,
                                 int64_t in_offset, size_t length,
                                 lure_fs_cb cb);
LURE_EXTERN int lure_fs_access(lure_loop_t *loop, lure_fs_t *req,
                               const char *path, int mode, lure_fs_cb cb);
LURE_EXTERN int lure_fs_chmod(lure_loop_t *loop, lure_fs_t *req,
                              const char *path, int mode, lure_fs_cb cb);
LURE_EXTERN int lure_fs_fchmod(lure_loop_t *loop, lure_fs_t *req,
                               lure_file file, int mode, lure_fs_cb cb);
LURE_EXTERN int lure_fs_utime(lure_loop_t *loop, lure_fs_t *req,
                              const char *path, double atime, double mtime,
                              lure_fs_cb cb);
LURE_EXTERN int lure_fs_futime(lure_loop_t *loop, lure_fs_t *req,
                               lure_file file, double atime, double mtime,
                               lure_fs_cb cb);
LURE_EXTERN int lure_fs_lutime(lure_loop_t *loop, lure_fs_t *req,
                               const char *path, double atime, double mtime,
                               lure_fs_cb cb);
LURE_EXTERN int lure_fs_link(lure_loop_t *loop, lure_fs_t *req,
                             const char *path, const char *new_path,
                             lure_fs_cb cb);
LURE_EXTERN int lure_fs_symlink(lure_loop_t *loop, lure_fs_t *req,
                                const char *path, const char *new_path,
                                int flags, lure_fs_cb cb);
LURE_EXTERN int lure_fs_readlink(lure_loop_t *loop, lure_fs_t *req,
                                 const char *path, lure_fs_cb cb);
LURE_EXTERN int lure_fs_realpath(lure_loop_t *loop, lure_fs_t *req,
                                 const char *path, lure_fs_cb cb);
LURE_EXTERN int lure_fs_chown(lure_loop_t *loop, lure_fs_t *req,
                              const char *path, uid_t uid, gid_t gid,
                              lure_fs_cb cb);
LURE_EXTERN int lure_fs_fchown(lure_loop_t *loop, lure_fs_t *req,
                               lure_file file, uid_t uid, gid_t gid,
                               lure_fs_cb cb);
LURE_EXTERN int lure_fs_lchown(lure_loop_t *loop, lure_fs_t *req,
                               const char *path, uid_t uid, gid_t gid,
                               lure_fs_cb cb);
LURE_EXTERN lure_fs_type lure_fs_get_type(const lure_fs_t *req);
LURE_EXTERN ssize_t lure_fs_get_result(const lure_fs_t *req);
LURE_EXTERN int lure_fs_get_system_error(const lure_fs_t *req);
LURE_EXTERN void *lure_fs_get_ptr(const lure_fs_t *req);
LURE_EXTERN const char *lure_fs_get_path(const lure_fs_t *req);
LURE_EXTERN lure_stat_t *lure_fs_get_statbuf(lure_fs_t *req);

/* Streams (TCP and pipes). */
LURE_EXTERN int lure_listen(lure_stream_t *stream, int backlog,
                            lure_connection_cb cb);
LURE_EXTERN int lure_accept(lure_stream_t *server, lure_stream_t *client);
LURE_EXTERN int lure_read_start(lure_stream_t *stream, lure_alloc_cb alloc_cb,
                                lure_read_cb read_cb);
LURE_EXTERN int lure_read_stop(lure_stream_t *stream);
LURE_EXTERN int lure_write(lure_write_t *req, lure_stream_t *handle,
                           const lure_buf_t bufs[], unsigned int nbufs,
                           lure_write_cb cb);
LURE_EXTERN int lure_write2(lure_write_t *req, lure_stream_t *handle,
                            const lure_buf_t bufs[], unsigned int nbufs,
                            lure_stream_t *send_handle, lure_write_cb cb);
LURE_EXTERN int lure_try_write(lure_stream_t *handle, const lure_buf_t bufs[],
                               unsigned int nbufs);
LURE_EXTERN int lure_try_write2(lure_stream_t *handle, const lure_buf_t bufs[],
                                unsigned int nbufs, lure_stream_t *send_handle);
LURE_EXTERN int lure_shutdown(lure_shutdown_t *req, lure_stream_t *handle,
                              lure_shutdown_cb cb);
LURE_EXTERN int lure_is_readable(const lure_stream_t *handle);
LURE_EXTERN int lure_is_writable(const lure_stream_t *handle);
LURE_EXTERN size_t lure_stream_get_write_queue_size(const lure_stream_t *stream);
LURE_EXTERN int lure_stream_set_blocking(lure_stream_t *handle, int blocking);

/* Beyond libuv: zero-copy stream I/O. */
LURE_EXTERN int lure_write_zc(lure_write_t *req, lure_stream_t *handle,
                              const lure_buf_t bufs[], unsigned int nbufs,
                              lure_write_cb cb);
LURE_EXTERN int lure_read_start_borrowed(lure_stream_t *stream,
                                         lure_read_cb read_cb);
LURE_EXTERN int lure_buf_release(lure_loop_t *loop, const lure_buf_t *buf);

/* TCP. */
LURE_EXTERN int lure_tcp_init(lure_loop_t *loop, lure_tcp_t *handle);
LURE_EXTERN int lure_tcp_init_ex(lure_loop_t *loop, lure_tcp_t *handle,
                                 unsigned int flags);
LURE_EXTERN int lure_tcp_open(lure_tcp_t *handle, int sock);
LURE_EXTERN int lure_tcp_bind(lure_tcp_t *handle, const struct sockaddr *addr,
                              unsigned int flags);
LURE_EXTERN int lure_tcp_connect(lure_connect_t *req, lure_tcp_t *handle,
                                 const struct sockaddr *addr,
                                 lure_connect_cb cb);
LURE_EXTERN int lure_tcp_nodelay(lure_tcp_t *handle, int enable);
LURE_EXTERN int lure_tcp_keepalive(lure_tcp_t *handle, int enable,
                                   unsigned int delay);
LURE_EXTERN int lure_tcp_getsockname(const lure_tcp_t *handle,
                                     struct sockaddr *name, int *namelen);
LURE_EXTERN int lure_tcp_getpeername(const lure_tcp_t *handle,
                                     struct sockaddr *name, int *namelen);
LURE_EXTERN int lure_tcp_close_reset(lure_tcp_t *handle, lure_close_cb close_cb);
LURE_EXTERN int lure_tcp_simultaneous_accepts(lure_tcp_t *handle, int enable);

/* Pipes (Unix domain sockets). */
LURE_EXTERN int lure_pipe_init(lure_loop_t *loop, lure_pipe_t *handle, int ipc);
LURE_EXTERN int lure_pipe_open(lure_pipe_t *handle, int fd);
LURE_EXTERN int lure_pipe_bind(lure_pipe_t *handle, const char *name);
LURE_EXTERN int lure_pipe_connect(lure_connect_t *req, lure_pipe_t *handle,
                                  const char *name, lure_connect_cb cb);
LURE_EXTERN int lure_pipe_getsockname(const lure_pipe_t *handle, char *buffer,
                                      size_t *size);
LURE_EXTERN int lure_pipe_getpeername(const lure_pipe_t *handle, char *buffer,
                                      size_t *size);
LURE_EXTERN int lure_pipe_pending_count(lure_pipe_t *handle);
LURE_EXTERN lure_handle_type lure_pipe_pending_type(lure_pipe_t *handle);
LURE_EXTERN void lure_pipe_pending_instances(lure_pipe_t *handle, int count);
LURE_EXTERN int lure_pipe_chmod(lure_pipe_t *handle, int flags);
/* Pairs of connected descriptors, not handles: for lure_pipe_open(),
 * lure_tcp_open(), lure_udp_open(), or a child process. */
LURE_EXTERN int lure_pipe(lure_file fds[2], int read_flags, int write_flags);
LURE_EXTERN int lure_socketpair(int type, int protocol,
                                lure_os_sock_t socks[2], int flags0,
                                int flags1);

/* UDP. */
LURE_EXTERN int lure_udp_init(lure_loop_t *loop, lure_udp_t *handle);
LURE_EXTERN int lure_udp_init_ex(lure_loop_t *loop, lure_udp_t *handle,
                                 unsigned int flags);
LURE_EXTERN int lure_udp_open(lure_udp_t *handle, lure_os_sock_t sock);
LURE_EXTERN int lure_udp_bind(lure_udp_t *handle, const struct sockaddr *addr,
                              unsigned int flags);
LURE_EXTERN int lure_udp_connect(lure_udp_t *handle,
                                 const struct sockaddr *addr);
LURE_EXTERN int lure_udp_send(lure_udp_send_t *req, lure_udp_t *handle,
                              const lure_buf_t bufs[], unsigned int nbufs,
                              const struct sockaddr *addr,
                              lure_udp_send_cb send_cb);
LURE_EXTERN int lure_udp_try_send(lure_udp_t *handle, const lure_buf_t bufs[],
                                  unsigned int nbufs,
                                  const struct sockaddr *addr);
LURE_EXTERN int lure_udp_recv_start(lure_udp_t *handle, lure_alloc_cb alloc_cb,
                                    lure_udp_recv_cb recv_cb);
LURE_EXTERN int lure_udp_recv_stop(lure_udp_t *handle);
LURE_EXTERN int lure_udp_set_broadcast(lure_udp_t *handle, int on);
LURE_EXTERN int lure_udp_set_ttl(lure_udp_t *handle, int ttl);
LURE_EXTERN int lure_udp_set_multicast_ttl(lure_udp_t *handle, int ttl);
LURE_EXTERN int lure_udp_set_multicast_loop(lure_udp_t *handle, int on);
LURE_EXTERN int lure_udp_set_multicast_interface(lure_udp_t *handle,
                                                 const char *interface_addr);
LURE_EXTERN int lure_udp_set_membership(lure_udp_t *handle,
                                        const char *multicast_addr,
                                        const char *interface_addr,
                                        lure_membership membership);
LURE_EXTERN int lure_udp_set_source_membership(lure_udp_t *handle,
                                               const char *multicast_addr,
                                               const char *interface_addr,
                                               const char *source_addr,
                                               lure_membership membership);
LURE_EXTERN int lure_udp_getsockname(const lure_udp_t *handle,
                                     struct sockaddr *name, int *namelen);
LURE_EXTERN int lure_udp_getpeername(const lure_udp_t *handle,
                                     struct sockaddr *name, int *namelen);
LURE_EXTERN size_t lure_udp_get_send_queue_size(const lure_udp_t *handle);
LURE_EXTERN size_t lure_udp_get_send_queue_count(const lure_udp_t *handle);
LURE_EXTERN int lure_udp_using_recvmmsg(const lure_udp_t *handle);

/* Name resolution (thread pool) and addresses. */
LURE_EXTERN int lure_getaddrinfo(lure_loop_t *loop, lure_getaddrinfo_t *req,
                                 lure_getaddrinfo_cb cb, const char *node,
                                 const char *service,
                                 const struct addrinfo *hints);
LURE_EXTERN void lure_freeaddrinfo(struct addrinfo *ai);
LURE_EXTERN int lure_getnameinfo(lure_loop_t *loop, lure_getnameinfo_t *req,
                                 lure_getnameinfo_cb cb,
                                 const struct sockaddr *addr, int flags);
LURE_EXTERN int lure_ip4_addr(const char *ip, int port,
                              struct sockaddr_in *addr);
LURE_EXTERN int lure_ip6_addr(const char *ip, int port,
                              struct sockaddr_in6 *addr);
LURE_EXTERN int lure_ip4_name(const struct sockaddr_in *src, char *dst,
                              size_t size);
LURE_EXTERN int lure_ip6_name(const struct sockaddr_in6 *src, char *dst,
                              size_t size);
LURE_EXTERN int lure_inet_pton(int af, const char *src, void *dst);
LURE_EXTERN int lure_inet_ntop(int af, const void *src, char *dst, size_t size);

/* Threads and synchronisation.  Functions that return void abort the
 * process when the underlying pthread call fails, as libuv's do. */
LURE_EXTERN int lure_thread_create(lure_thread_t *tid, lure_thread_cb entry,
                                   void *arg);
LURE_EXTERN int lure_thread_create_ex(lure_thread_t *tid,
                                      const lure_thread_options_t *params,
                                      lure_thread_cb entry, void *arg);
LURE_EXTERN lure_thread_t lure_thread_self(void);
LURE_EXTERN int lure_thread_join(lure_thread_t *tid);
LURE_EXTERN int lure_thread_equal(const lure_thread_t *t1,
                                  const lure_thread_t *t2);
LURE_EXTERN int lure_key_create(lure_key_t *key);
LURE_EXTERN void lure_key_delete(lure_key_t *key);
LURE_EXTERN void *lure_key_get(lure_key_t *key);
LURE_EXTERN void lure_key_set(lure_key_t *key, void *value);
LURE_EXTERN void lure_once(lure_once_t *guard, void (*callback)(void));
LURE_EXTERN int lure_mutex_init(lure_mutex_t *handle);
LURE_EXTERN int lure_mutex_init_recursive(lure_mutex_t *handle);
LURE_EXTERN void lure_mutex_destroy(lure_mutex_t *handle);
LURE_EXTERN void lure_mutex_lock(lure_mutex_t *handle);
LURE_EXTERN int lure_mutex_trylock(lure_mutex_t *handle);
LURE_EXTERN void lure_mutex_unlock(lure_mutex_t *handle);
LURE_EXTERN int lure_rwlock_init(lure_rwlock_t *rwlock);
LURE_EXTERN void lure_rwlock_destroy(lure_rwlock_t *rwlock);
LURE_EXTERN void lure_rwlock_rdlock(lure_rwlock_t *rwlock);
LURE_EXTERN int lure_rwlock_tryrdlock(lure_rwlock_t *rwlock);
LURE_EXTERN void lure_rwlock_rdunlock(lure_rwlock_t *rwlock);
LURE_EXTERN void lure_rwlock_wrlock(lure_rwlock_t *rwlock);
LURE_EXTERN int lure_rwlock_trywrlock(lure_rwlock_t *rwlock);
LURE_EXTERN void lure_rwlock_wrunlock(lure_rwlock_t *rwlock);
LURE_EXTERN int lure_sem_init(lure_sem_t *sem, unsigned int value);
LURE_EXTERN void lure_sem_destroy(lure_sem_t *sem);
LURE_EXTERN void lure_sem_post(lure_sem_t *sem);
LURE_EXTERN void lure_sem_wait(lure_sem_t *sem);
LURE_EXTERN int lure_sem_trywait(lure_sem_t *sem);
LURE_EXTERN int lure_cond_init(lure_cond_t *cond);
LURE_EXTERN void lure_cond_destroy(lure_cond_t *cond);
LURE_EXTERN void lure_cond_signal(lure_cond_t *cond);
LURE_EXTERN void lure_cond_broadcast(lure_cond_t *cond);
LURE_EXTERN void lure_cond_wait(lure_cond_t *cond, lure_mutex_t *mutex);
LURE_EXTERN int lure_cond_timedwait(lure_cond_t *cond, lure_mutex_t *mutex,
                                    uint64_t timeout);
LURE_EXTERN int lure_barrier_init(lure_barrier_t *barrier, unsigned int count);
LURE_EXTERN void lure_barrier_destroy(lure_barrier_t *barrier);
LURE_EXTERN int lure_barrier_wait(lure_barrier_t *barrier);

/* Loops on the heap, and the data and type of loops and requests. */
LURE_EXTERN lure_loop_t *lure_loop_new(void);
LURE_EXTERN void lure_loop_delete(lure_loop_t *loop);
LURE_EXTERN size_t lure_loop_size(void);
LURE_EXTERN void *lure_loop_get_data(const lure_loop_t *loop);
LURE_EXTERN void lure_loop_set_data(lure_loop_t *loop, void *data);
LURE_EXTERN void *lure_req_get_data(const lure_req_t *req);
LURE_EXTERN void lure_req_set_data(lure_req_t *req, void *data);
LURE_EXTERN lure_req_type lure_req_get_type(const lure_req_t *req);
/* ---- OS and process utilities (os.c) --------------------------------------
 * libuv 1.44's portable OS calls with its signatures and buffer rules: a
 * function that fills a caller's buffer takes its size by pointer, writes
 * the string's length (without the terminator) back on success, and on
 * LURE_ENOBUFS writes back the size it needs (with the terminator). */

typedef pid_t lure_pid_t;
typedef uid_t lure_uid_t;
typedef gid_t lure_gid_t;

/* Room for any host name with its terminator (MAXHOSTNAMELEN + 1). */
#define LURE_MAXHOSTNAMESIZE 65
/* Room for any interface name with its terminator (IF_NAMESIZE + 1). */
#define LURE_IF_NAMESIZE 17

/* Scheduling priorities (nice values), libuv's on Linux. */
#define LURE_PRIORITY_LOW 19
#define LURE_PRIORITY_BELOW_NORMAL 10
#define LURE_PRIORITY_NORMAL 0
#define LURE_PRIORITY_ABOVE_NORMAL -7
#define LURE_PRIORITY_HIGH -14
#define LURE_PRIORITY_HIGHEST -20

typedef struct lure_interface_address_s lure_interface_address_t;
typedef struct lure_passwd_s lure_passwd_t;
typedef struct lure_utsname_s lure_utsname_t;
typedef struct lure_env_item_s lure_env_item_t;
typedef struct lure_cpu_info_s lure_cpu_info_t;

struct lure_interface_address_s {
  char *name;
  char phys_addr[6];
  int is_internal;
  union {
    struct sockaddr_in address4;
    struct sockaddr_in6 address6;
  } address;
  union {
    struct sockaddr_in netmask4;
    struct sockaddr_in6 netmask6;
  } netmask;
};

struct lure_passwd_s {
  char *username;
  unsigned long uid;
  unsigned long gid;
  char *shell;
  char *homedir;
};

/* uname(2) without nodename and domainname. */
struct lure_utsname_s {
  char sysname[256];
  char release[256];
  char version[256];
  char machine[256];
};

struct lure_env_item_s {
  char *name;
  char *value;
};

struct lure_cpu_times_s {
  uint64_t user; /* milliseconds */
  uint64_t nice;
  uint64_t sys;
  uint64_t idle;
  uint64_t irq;
};

struct lure_cpu_info_s {
  char *model;
  int speed; /* MHz */
  struct lure_cpu_times_s cpu_times;
};

typedef struct {
  long tv_sec;
  long tv_usec;
} lure_timeval_t;

typedef struct {
  int64_t tv_sec;
  int32_t tv_usec;
} lure_timeval64_t;

typedef struct {
  lure_timeval_t ru_utime; /* user CPU time */
  lure_timeval_t ru_stime; /* system CPU time */
  uint64_t ru_maxrss;      /* maximum resident set size (KiB) */
  uint64_t ru_ixrss;
  uint64_t ru_idrss;
  uint64_t ru_isrss;
  uint64_t ru_minflt;      /* page reclaims (soft page faults) */
  uint64_t ru_majflt;      /* page faults (hard page faults) */
  uint64_t ru_nswap;
  uint64_t ru_inblock;     /* block input operations */
  uint64_t ru_oublock;     /* block output operations */
  uint64_t ru_msgsnd;
  uint64_t ru_msgrcv;
  uint64_t ru_nsignals;
  uint64_t ru_nvcsw;       /* voluntary context switches */
  uint64_t ru_nivcsw;      /* involuntary context switches */
} lure_rusage_t;

/* Process set-up and tear-down. */
LURE_EXTERN char **lure_setup_args(int argc, char **argv);
LURE_EXTERN int lure_get_process_title(char *buffer, size_t size);
LURE_EXTERN int lure_set_process_title(const char *title);
LURE_EXTERN void lure_library_shutdown(void);
LURE_EXTERN void lure_sleep(unsigned int msec);
LURE_EXTERN int lure_exepath(char *buffer, size_t *size);

/* Network interfaces. */
LURE_EXTERN int lure_interface_addresses(lure_interface_address_t **addresses,
                                         int *count);
LURE_EXTERN void lure_free_interface_addresses(
    lure_interface_address_t *addresses, int count);
LURE_EXTERN int lure_if_indextoname(unsigned int ifindex, char *buffer,
                                    size_t *size);
LURE_EXTERN int lure_if_indextoiid(unsigned int ifindex, char *buffer,
                                   size_t *size);
LURE_EXTERN int lure_ip_name(const struct sockaddr *src, char *dst,
                             size_t size);

/* The process, its user and its environment. */
LURE_EXTERN lure_pid_t lure_os_getpid(void);
LURE_EXTERN lure_pid_t lure_os_getppid(void);
LURE_EXTERN int lure_os_getpriority(lure_pid_t pid, int *priority);
LURE_EXTERN int lure_os_setpriority(lure_pid_t pid, int priority);
LURE_EXTERN int lure_os_gethostname(char *buffer, size_t *size);
LURE_EXTERN int lure_os_uname(lure_utsname_t *buffer);
LURE_EXTERN int lure_os_homedir(char *buffer, size_t *size);
LURE_EXTERN int lure_os_tmpdir(char *buffer, size_t *size);
LURE_EXTERN int lure_os_get_passwd(lure_passwd_t *pwd);
LURE_EXTERN void lure_os_free_passwd(lure_passwd_t *pwd);
LURE_EXTERN int lure_os_getenv(const char *name, char *buffer, size_t *size);
LURE_EXTERN int lure_os_setenv(const char *name, const char *value);
LURE_EXTERN int lure_os_unsetenv(const char *name);
LURE_EXTERN int lure_os_environ(lure_env_item_t **envitems, int *count);
LURE_EXTERN void lure_os_free_environ(lure_env_item_t *envitems, int count);
LURE_EXTERN int lure_cwd(char *buffer, size_t *size);
LURE_EXTERN int lure_chdir(const char *dir);
LURE_EXTERN int lure_translate_sys_error(int sys_errno);

/* Resources of the process and of the machine. */
LURE_EXTERN uint64_t lure_get_free_memory(void);
LURE_EXTERN uint64_t lure_get_total_memory(void);
LURE_EXTERN uint64_t lure_get_constrained_memory(void);
LURE_EXTERN int lure_resident_set_memory(size_t *rss);
LURE_EXTERN int lure_uptime(double *uptime);
LURE_EXTERN void lure_loadavg(double avg[3]);
LURE_EXTERN int lure_getrusage(lure_rusage_t *rusage);
LURE_EXTERN int lure_gettimeofday(lure_timeval64_t *tv);
LURE_EXTERN unsigned int lure_available_parallelism(void);
LURE_EXTERN int lure_cpu_info(lure_cpu_info_t **cpu_infos, int *count);
LURE_EXTERN void lure_free_cpu_info(lure_cpu_info_t *cpu_infos, int count);

/* ---- fs events and fs poll (fs-event.c, fs-poll.c) ----------------------
 * libuv 1.44's two ways of watching a path.  An fs event handle asks the
 * kernel (inotify) to report changes as they happen; an fs poll handle
 * compares stat(2) results taken at an interval. */

typedef struct lure_fs_event_s lure_fs_event_t;
typedef struct lure_fs_poll_s lure_fs_poll_t;

/* What changed: the events argument of an fs event callback, libuv's values. */
enum lure_fs_event {
  LURE_RENAME = 1,
  LURE_CHANGE = 2
};

/* lure_fs_event_start() flags, libuv's values.  On Linux, as in libuv
 * 1.44, they change nothing: inotify always reports entry changes, and a
 * directory is watched with its direct entries only. */
enum lure_fs_event_flags {
  LURE_FS_EVENT_WATCH_ENTRY = 1,
  LURE_FS_EVENT_STAT = 2,
  LURE_FS_EVENT_RECURSIVE = 4
};

typedef void (*lure_fs_event_cb)(lure_fs_event_t *handle, const char *filename,
                                 int events, int status);
typedef void (*lure_fs_poll_cb)(lure_fs_poll_t *handle, int status,
                                const lure_stat_t *prev,
                                const lure_stat_t *curr);

struct lure_fs_event_s {
  LURE_HANDLE_FIELDS
  char *path;              /* the path watched while active, else NULL */
  /* private */
  lure_fs_event_cb cb;
  struct lure__queue watchers;  /* the handles of one inotify watch */
  int wd;
};

struct lure_fs_poll_s {
  LURE_HANDLE_FIELDS
  /* private */
  void *poll_ctx;
};

LURE_EXTERN int lure_fs_event_init(lure_loop_t *loop, lure_fs_event_t *handle);
LURE_EXTERN int lure_fs_event_start(lure_fs_event_t *handle,
                                    lure_fs_event_cb cb, const char *path,
                                    unsigned int flags);
LURE_EXTERN int lure_fs_event_stop(lure_fs_event_t *handle);
LURE_EXTERN int lure_fs_event_getpath(lure_fs_event_t *handle, char *buffer,
                                      size_t *size);

LURE_EXTERN int lure_fs_poll_init(lure_loop_t *loop, lure_fs_poll_t *handle);
LURE_EXTERN int lure_fs_poll_start(lure_fs_poll_t *handle, lure_fs_poll_cb cb,
                                   const char *path, unsigned int interval);
LURE_EXTERN int lure_fs_poll_stop(lure_fs_poll_t *handle);
LURE_EXTERN int lure_fs_poll_getpath(lure_fs_poll_t *handle, char *buffer,
                                     size_t *size);

/* ---- terminals, random bytes, shared libraries, the allocator (tty.c,
 * random.c, dl.c, alloc.c) ----------------------------------------------- */

#include <stdio.h>
#include <termios.h>

/* A terminal as a stream: lure_read_start(), lure_write(), lure_try_write(),
 * lure_shutdown(), lure_is_readable() ... take it cast to lure_stream_t.
 * Its bytes always move by readiness (the ring's socket path does not take
 * a terminal). */
typedef struct lure_tty_s lure_tty_t;

typedef enum {
  LURE_TTY_MODE_NORMAL = 0, /* the mode the terminal had */
  LURE_TTY_MODE_RAW = 1,    /* raw input, output processing kept */
  LURE_TTY_MODE_IO = 2      /* cfmakeraw(3): binary-safe both ways */
} lure_tty_mode_t;

typedef enum {
  LURE_TTY_SUPPORTED = 0,
  LURE_TTY_UNSUPPORTED = 1
} lure_tty_vtermstate_t;

struct lure_tty_s {
  LURE_HANDLE_FIELDS
  LURE_STREAM_FIELDS
  /* private */
  struct termios orig_termios;
  int mode;
};

LURE_EXTERN int lure_tty_init(lure_loop_t *loop, lure_tty_t *tty, lure_file fd,
                              int unused_readable);
LURE_EXTERN int lure_tty_set_mode(lure_tty_t *tty, lure_tty_mode_t mode);
LURE_EXTERN int lure_tty_reset_mode(void);
LURE_EXTERN int lure_tty_get_winsize(lure_tty_t *tty, int *width, int *height);
LURE_EXTERN void lure_tty_set_vterm_state(lure_tty_vtermstate_t state);
LURE_EXTERN int lure_tty_get_vterm_state(lure_tty_vtermstate_t *state);

/* Random bytes from getrandom(2): on the thread pool with a callback, on
 * the calling thread without one. */
typedef struct lure_random_s lure_random_t;
typedef void (*lure_random_cb)(lure_random_t *req, int status, void *buf,
                               size_t buflen);

struct lure_random_s {
  LURE_REQ_FIELDS
  lure_loop_t *loop;
  /* private */
  int status;
  void *buf;
  size_t buflen;
  lure_random_cb cb;
  struct lure__work work_req;
};

LURE_EXTERN int lure_random(lure_loop_t *loop, lure_random_t *req, void *buf,
                            size_t buflen, unsigned int flags,
                            lure_random_cb cb);

/* Shared libraries (dlopen(3)); errmsg holds the last error, or NULL. */
typedef struct {
  void *handle;
  char *errmsg;
} lure_lib_t;

LURE_EXTERN int lure_dlopen(const char *filename, lure_lib_t *lib);
LURE_EXTERN void lure_dlclose(lure_lib_t *lib);
LURE_EXTERN int lure_dlsym(lure_lib_t *lib, const char *name, void **ptr);
LURE_EXTERN const char *lure_dlerror(const lure_lib_t *lib);

/* The allocator lure's own allocations go through. */
typedef void *(*lure_malloc_func)(size_t size);
typedef void *(*lure_realloc_func)(void *ptr, size_t size);
typedef void *(*lure_calloc_func)(size_t count, size_t size);
typedef void (*lure_free_func)(void *ptr);

LURE_EXTERN int lure_replace_allocator(lure_malloc_func malloc_func,
                                       lure_realloc_func realloc_func,
                                       lure_calloc_func calloc_func,
                                       lure_free_func free_func);

/* lure_udp_bind() flag, libuv's: IP_RECVERR / IPV6_RECVERR on the socket,
 * so that every ICMP error it draws is reported. */
enum { LURE_UDP_LINUX_RECVERR = 32 };

/* Debugging: one line per handle of the loop, in libuv's format. */
LURE_EXTERN void lure_print_all_handles(lure_loop_t *loop, FILE *stream);
LURE_EXTERN void lure_print_active_handles(lure_loop_t *loop, FILE *stream);

/* Windows' HANDLE and CRT descriptor conversions; on Linux both are the
 * descriptor itself. */

/* ---- processes (process.c) ------------------------------------------------
 * Child processes, libuv's API.  lure_spawn() forks and executes; the
 * child's exit is seen on the loop's one wait point, through a pidfd
 * watched for readability (the ring's POLL_ADD, or epoll), then reaped with
 * waitid(2).  Where pidfd_open(2) is missing (Linux before 5.3), a SIGCHLD
 * handler through lure's signal handles does it. */

typedef struct lure_process_s lure_process_t;
typedef struct lure_process_options_s lure_process_options_t;
typedef struct lure_stdio_container_s lure_stdio_container_t;

typedef void (*lure_exit_cb)(lure_process_t *process, int64_t exit_status,
                             int term_signal);

/* lure_process_options_t.flags, libuv's values. */
typedef enum lure_process_flags {
  LURE_PROCESS_SETUID = (1 << 0),
  LURE_PROCESS_SETGID = (1 << 1),
  /* Windows only in libuv: accepted and ignored. */
  LURE_PROCESS_WINDOWS_VERBATIM_ARGUMENTS = (1 << 2),
  /* A new session (setsid(2)): the child outlives the loop. */
  LURE_PROCESS_DETACHED = (1 << 3),
  /* Windows only in libuv: accepted and ignored. */
  LURE_PROCESS_WINDOWS_HIDE = (1 << 4),
  LURE_PROCESS_WINDOWS_HIDE_CONSOLE = (1 << 5),
  LURE_PROCESS_WINDOWS_HIDE_GUI = (1 << 6)
} lure_process_flags;

/* One descriptor of the child: index i of the array is its fd i. */
struct lure_stdio_container_s {
  lure_stdio_flags flags;
  union {
    lure_stream_t *stream;
    int fd;
  } data;
};

/* libuv's fields, in libuv's order. */
struct lure_process_options_s {
  lure_exit_cb exit_cb;   /* may be NULL */
  const char *file;       /* searched in PATH as execvp(3) does */
  char **args;            /* argv, NULL-terminated; NULL: { file, NULL } */
  char **env;             /* environ of the child; NULL: ours */
  const char *cwd;        /* NULL: ours */
  unsigned int flags;     /* lure_process_flags */
  int stdio_count;
  lure_stdio_container_t *stdio;
  lure_uid_t uid;         /* with LURE_PROCESS_SETUID */
  lure_gid_t gid;         /* with LURE_PROCESS_SETGID */
};

struct lure_process_s {
  LURE_HANDLE_FIELDS
  lure_exit_cb exit_cb;
  int pid;
  /* private */
  int status;                   /* how, between reaping and the callback */
  struct lure__io io_watcher;   /* the pidfd, or fd -1 (SIGCHLD) */
  struct lure__queue queue;     /* the loop's running processes */
  int reaped;                   /* exited and waited for */
};

LURE_EXTERN int lure_spawn(lure_loop_t *loop, lure_process_t *process,
                           const lure_process_options_t *options);
LURE_EXTERN int lure_process_kill(lure_process_t *process, int signum);
LURE_EXTERN int lure_kill(int pid, int signum);
LURE_EXTERN lure_pid_t lure_process_get_pid(const lure_process_t *process);
LURE_EXTERN void lure_disable_stdio_inheritance(void);
/* libuv's descriptor conversions; the identity on Linux. */
LURE_EXTERN lure_os_fd_t lure_get_osfhandle(int fd);
LURE_EXTERN int lure_open_osfhandle(lure_os_fd_t os_fd);

/* ---- any handle, any request ------------------------------------------- */

/* Unions big enough for any handle and any request (libuv's
 * uv_any_handle and uv_any_req), for callers that keep them in one array
 * or pool. */
union lure_any_handle {
  lure_async_t async;
  lure_check_t check;
  lure_fs_event_t fs_event;
  lure_fs_poll_t fs_poll;
  lure_handle_t handle;
  lure_idle_t idle;
  lure_pipe_t pipe;
  lure_poll_t poll;
  lure_prepare_t prepare;
  lure_process_t process;
  lure_stream_t stream;
  lure_tcp_t tcp;
  lure_timer_t timer;
  lure_tty_t tty;
  lure_udp_t udp;
  lure_signal_t signal;
};

union lure_any_req {
  lure_req_t req;
  lure_connect_t connect;
  lure_write_t write;
  lure_shutdown_t shutdown;
  lure_udp_send_t udp_send;
  lure_fs_t fs;
  lure_work_t work;
  lure_getaddrinfo_t getaddrinfo;
  lure_getnameinfo_t getnameinfo;
  lure_random_t random;
};

#ifdef __cplusplus
}
#endif

#endif /* LURE_H */
