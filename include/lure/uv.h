/*
 * uv.h - lure's libuv drop-in layer.
 *
 * A program written for libuv 1.44 builds against lure unchanged:
 *
 *   cc prog.c $(pkg-config --cflags --libs lure-uv)
 *
 * puts the folder of this file first on the include path, so that the
 * program's #include <uv.h> finds it, and links liblure.  This header holds
 * names only, no behaviour: every uv_X and UV_X of libuv 1.44's uv.h that
 * lure has is mapped onto lure_X and LURE_X, with libuv's values.  Where the
 * shapes differ (libuv's uv_close() and uv_pipe_connect() return void), a
 * static inline wrapper adapts them; the three that make loops also ask
 * for libuv's defaults (LURE_LOOP_LIBUV_DEFAULTS).  liblure exports no uv_
 * symbol, so one process may hold both libraries.
 *
 * A name of libuv's uv.h that lure does not have yet is absent on purpose:
 * using it is a compile error, never a stub that fails at run time.
 * uv_version() and UV_VERSION_* say which libuv API this layer implements
 * (1.44.2); lure_version() says which lure it is.
 */
#ifndef LURE_UV_H
#define LURE_UV_H

/* libuv's uv.h pulls these in; programs rely on them. */
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <termios.h>
#include <pwd.h>
#include <semaphore.h>
#include <pthread.h>
#include <signal.h>

#include <lure.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UV_EXTERN LURE_EXTERN

/* libuv's include guard, for programs that test it, and the field lists
 * libuv's header exposes: a struct that starts with UV_HANDLE_FIELDS (and
 * UV_STREAM_FIELDS) or UV_REQ_FIELDS has the public head of a handle,
 * stream or request, as in libuv. */
#define UV_H
#define UV_HANDLE_FIELDS LURE_HANDLE_FIELDS
#define UV_REQ_FIELDS LURE_REQ_FIELDS
#define UV_STREAM_FIELDS LURE_STREAM_FIELDS

/* ---- version: the libuv API level this layer implements ---------------- */

#define UV_VERSION_MAJOR 1
#define UV_VERSION_MINOR 44
#define UV_VERSION_PATCH 2
#define UV_VERSION_IS_RELEASE 1
#define UV_VERSION_SUFFIX ""
#define UV_VERSION_HEX \
  ((UV_VERSION_MAJOR << 16) | (UV_VERSION_MINOR << 8) | (UV_VERSION_PATCH))

static inline unsigned int uv_version(void) { return UV_VERSION_HEX; }
static inline const char *uv_version_string(void) { return "1.44.2"; }

/* ---- error codes ------------------------------------------------------- */

#define UV_ERRNO_MAP(XX) LURE_ERRNO_MAP(XX)
typedef lure_errno_t uv_errno_t;
#define UV_ERRNO_MAX LURE_ERRNO_MAX

#define UV_E2BIG LURE_E2BIG
#define UV_EACCES LURE_EACCES
#define UV_EADDRINUSE LURE_EADDRINUSE
#define UV_EADDRNOTAVAIL LURE_EADDRNOTAVAIL
#define UV_EAFNOSUPPORT LURE_EAFNOSUPPORT
#define UV_EAGAIN LURE_EAGAIN
#define UV_EAI_ADDRFAMILY LURE_EAI_ADDRFAMILY
#define UV_EAI_AGAIN LURE_EAI_AGAIN
#define UV_EAI_BADFLAGS LURE_EAI_BADFLAGS
#define UV_EAI_BADHINTS LURE_EAI_BADHINTS
#define UV_EAI_CANCELED LURE_EAI_CANCELED
#define UV_EAI_FAIL LURE_EAI_FAIL
#define UV_EAI_FAMILY LURE_EAI_FAMILY
#define UV_EAI_MEMORY LURE_EAI_MEMORY
#define UV_EAI_NODATA LURE_EAI_NODATA
#define UV_EAI_NONAME LURE_EAI_NONAME
#define UV_EAI_OVERFLOW LURE_EAI_OVERFLOW
#define UV_EAI_PROTOCOL LURE_EAI_PROTOCOL
#define UV_EAI_SERVICE LURE_EAI_SERVICE
#define UV_EAI_SOCKTYPE LURE_EAI_SOCKTYPE
#define UV_EALREADY LURE_EALREADY
#define UV_EBADF LURE_EBADF
#define UV_EBUSY LURE_EBUSY
#define UV_ECANCELED LURE_ECANCELED
#define UV_ECHARSET LURE_ECHARSET
#define UV_ECONNABORTED LURE_ECONNABORTED
#define UV_ECONNREFUSED LURE_ECONNREFUSED
#define UV_ECONNRESET LURE_ECONNRESET
#define UV_EDESTADDRREQ LURE_EDESTADDRREQ
#define UV_EEXIST LURE_EEXIST
#define UV_EFAULT LURE_EFAULT
#define UV_EFBIG LURE_EFBIG
#define UV_EHOSTUNREACH LURE_EHOSTUNREACH
#define UV_EINTR LURE_EINTR
#define UV_EINVAL LURE_EINVAL
#define UV_EIO LURE_EIO
#define UV_EISCONN LURE_EISCONN
#define UV_EISDIR LURE_EISDIR
#define UV_ELOOP LURE_ELOOP
#define UV_EMFILE LURE_EMFILE
#define UV_EMSGSIZE LURE_EMSGSIZE
#define UV_ENAMETOOLONG LURE_ENAMETOOLONG
#define UV_ENETDOWN LURE_ENETDOWN
#define UV_ENETUNREACH LURE_ENETUNREACH
#define UV_ENFILE LURE_ENFILE
#define UV_ENOBUFS LURE_ENOBUFS
#define UV_ENODEV LURE_ENODEV
#define UV_ENOENT LURE_ENOENT
#define UV_ENOMEM LURE_ENOMEM
#define UV_ENONET LURE_ENONET
#define UV_ENOPROTOOPT LURE_ENOPROTOOPT
#define UV_ENOSPC LURE_ENOSPC
#define UV_ENOSYS LURE_ENOSYS
#define UV_ENOTCONN LURE_ENOTCONN
#define UV_ENOTDIR LURE_ENOTDIR
#define UV_ENOTEMPTY LURE_ENOTEMPTY
#define UV_ENOTSOCK LURE_ENOTSOCK
#define UV_ENOTSUP LURE_ENOTSUP
#define UV_EOVERFLOW LURE_EOVERFLOW
#define UV_EPERM LURE_EPERM
#define UV_EPIPE LURE_EPIPE
#define UV_EPROTO LURE_EPROTO
#define UV_EPROTONOSUPPORT LURE_EPROTONOSUPPORT
#define UV_EPROTOTYPE LURE_EPROTOTYPE
#define UV_ERANGE LURE_ERANGE
#define UV_EROFS LURE_EROFS
#define UV_ESHUTDOWN LURE_ESHUTDOWN
#define UV_ESPIPE LURE_ESPIPE
#define UV_ESRCH LURE_ESRCH
#define UV_ETIMEDOUT LURE_ETIMEDOUT
#define UV_ETXTBSY LURE_ETXTBSY
#define UV_EXDEV LURE_EXDEV
#define UV_UNKNOWN LURE_UNKNOWN
#define UV_EOF LURE_EOF
#define UV_ENXIO LURE_ENXIO
#define UV_EMLINK LURE_EMLINK
#define UV_EHOSTDOWN LURE_EHOSTDOWN
#define UV_EREMOTEIO LURE_EREMOTEIO
#define UV_ENOTTY LURE_ENOTTY
#define UV_EFTYPE LURE_EFTYPE
#define UV_EILSEQ LURE_EILSEQ
#define UV_ESOCKTNOSUPPORT LURE_ESOCKTNOSUPPORT

/* ---- handle and request types ------------------------------------------ */

#define UV_HANDLE_TYPE_MAP(XX)                                                \
  XX(ASYNC, async)                                                            \
  XX(CHECK, check)                                                            \
  XX(FS_EVENT, fs_event)                                                      \
  XX(FS_POLL, fs_poll)                                                        \
  XX(HANDLE, handle)                                                          \
  XX(IDLE, idle)                                                              \
  XX(NAMED_PIPE, pipe)                                                        \
  XX(POLL, poll)                                                              \
  XX(PREPARE, prepare)                                                        \
  XX(PROCESS, process)                                                        \
  XX(STREAM, stream)                                                          \
  XX(TCP, tcp)                                                                \
  XX(TIMER, timer)                                                            \
  XX(TTY, tty)                                                                \
  XX(UDP, udp)                                                                \
  XX(SIGNAL, signal)

#define UV_REQ_TYPE_MAP(XX)                                                   \
  XX(REQ, req)                                                                \
  XX(CONNECT, connect)                                                        \
  XX(WRITE, write)                                                            \
  XX(SHUTDOWN, shutdown)                                                      \
  XX(UDP_SEND, udp_send)                                                      \
  XX(FS, fs)                                                                  \
  XX(WORK, work)                                                              \
  XX(GETADDRINFO, getaddrinfo)                                                \
  XX(GETNAMEINFO, getnameinfo)                                                \
  XX(RANDOM, random)

#define UV_UNKNOWN_HANDLE LURE_UNKNOWN_HANDLE
#define UV_ASYNC LURE_ASYNC
#define UV_CHECK LURE_CHECK
#define UV_FS_EVENT LURE_FS_EVENT
#define UV_FS_POLL LURE_FS_POLL
#define UV_HANDLE LURE_HANDLE
#define UV_IDLE LURE_IDLE
#define UV_NAMED_PIPE LURE_NAMED_PIPE
#define UV_POLL LURE_POLL
#define UV_PREPARE LURE_PREPARE
#define UV_PROCESS LURE_PROCESS
#define UV_STREAM LURE_STREAM
#define UV_TCP LURE_TCP
#define UV_TIMER LURE_TIMER
#define UV_TTY LURE_TTY
#define UV_UDP LURE_UDP
#define UV_SIGNAL LURE_SIGNAL
#define UV_FILE LURE_FILE
#define UV_HANDLE_TYPE_MAX LURE_HANDLE_TYPE_MAX
#define UV_UNKNOWN_REQ LURE_UNKNOWN_REQ
#define UV_REQ LURE_REQ
#define UV_CONNECT LURE_CONNECT
#define UV_WRITE LURE_WRITE
#define UV_SHUTDOWN LURE_SHUTDOWN
#define UV_UDP_SEND LURE_UDP_SEND
#define UV_FS LURE_FS
#define UV_WORK LURE_WORK
#define UV_GETADDRINFO LURE_GETADDRINFO
#define UV_GETNAMEINFO LURE_GETNAMEINFO
#define UV_RANDOM LURE_RANDOM
#define UV_REQ_TYPE_MAX LURE_REQ_TYPE_MAX

/* ---- types ------------------------------------------------------------- */

typedef lure_errno_t uv_errno_t;
typedef lure_handle_type uv_handle_type;
typedef lure_req_type uv_req_type;
typedef lure_run_mode uv_run_mode;
typedef lure_loop_option uv_loop_option;
typedef lure_fs_type uv_fs_type;
typedef lure_timespec_t uv_timespec_t;
typedef lure_stat_t uv_stat_t;
typedef lure_statfs_t uv_statfs_t;
typedef lure_dirent_type_t uv_dirent_type_t;
typedef lure_dirent_t uv_dirent_t;
typedef lure_dir_t uv_dir_t;
typedef lure_file uv_file;
typedef lure_os_fd_t uv_os_fd_t;
typedef lure_os_sock_t uv_os_sock_t;
typedef lure_membership uv_membership;
typedef lure_stdio_flags uv_stdio_flags;
/* libuv names these enums by tag only: enum uv_tcp_flags. */
#define uv_tcp_flags lure_tcp_flags
#define uv_udp_flags lure_udp_flags

typedef lure_loop_t uv_loop_t;
typedef lure_handle_t uv_handle_t;
typedef lure_timer_t uv_timer_t;
typedef lure_idle_t uv_idle_t;
typedef lure_prepare_t uv_prepare_t;
typedef lure_check_t uv_check_t;
typedef lure_async_t uv_async_t;
typedef lure_signal_t uv_signal_t;
typedef lure_poll_t uv_poll_t;
typedef lure_req_t uv_req_t;
typedef lure_work_t uv_work_t;
typedef lure_fs_t uv_fs_t;
typedef lure_stream_t uv_stream_t;
typedef lure_tcp_t uv_tcp_t;
typedef lure_pipe_t uv_pipe_t;
typedef lure_udp_t uv_udp_t;
typedef lure_write_t uv_write_t;
typedef lure_connect_t uv_connect_t;
typedef lure_shutdown_t uv_shutdown_t;
typedef lure_udp_send_t uv_udp_send_t;
typedef lure_getaddrinfo_t uv_getaddrinfo_t;
typedef lure_getnameinfo_t uv_getnameinfo_t;
typedef lure_buf_t uv_buf_t;

/* Struct tags: struct uv_tcp_s is struct lure_tcp_s. */
#define uv_loop_s lure_loop_s
#define uv_dir_s lure_dir_s
#define uv_dirent_s lure_dirent_s
#define uv_statfs_s lure_statfs_s
#define uv_handle_s lure_handle_s
#define uv_timer_s lure_timer_s
#define uv_idle_s lure_idle_s
#define uv_prepare_s lure_prepare_s
#define uv_check_s lure_check_s
#define uv_async_s lure_async_s
#define uv_signal_s lure_signal_s
#define uv_poll_s lure_poll_s
#define uv_req_s lure_req_s
#define uv_work_s lure_work_s
#define uv_fs_s lure_fs_s
#define uv_stream_s lure_stream_s
#define uv_tcp_s lure_tcp_s
#define uv_pipe_s lure_pipe_s
#define uv_udp_s lure_udp_s
#define uv_write_s lure_write_s
#define uv_connect_s lure_connect_s
#define uv_shutdown_s lure_shutdown_s
#define uv_udp_send_s lure_udp_send_s
#define uv_getaddrinfo_s lure_getaddrinfo_s
#define uv_getnameinfo_s lure_getnameinfo_s
#define uv_buf_s lure_buf_s
#define uv_poll_event lure_poll_event
#define uv_any_handle lure_any_handle
#define uv_any_req lure_any_req

typedef lure_close_cb uv_close_cb;
typedef lure_walk_cb uv_walk_cb;
typedef lure_timer_cb uv_timer_cb;
typedef lure_idle_cb uv_idle_cb;
typedef lure_prepare_cb uv_prepare_cb;
typedef lure_check_cb uv_check_cb;
typedef lure_async_cb uv_async_cb;
typedef lure_signal_cb uv_signal_cb;
typedef lure_poll_cb uv_poll_cb;
typedef lure_work_cb uv_work_cb;
typedef lure_after_work_cb uv_after_work_cb;
typedef lure_fs_cb uv_fs_cb;
typedef lure_alloc_cb uv_alloc_cb;
typedef lure_read_cb uv_read_cb;
typedef lure_write_cb uv_write_cb;
typedef lure_connect_cb uv_connect_cb;
typedef lure_shutdown_cb uv_shutdown_cb;
typedef lure_connection_cb uv_connection_cb;
typedef lure_udp_send_cb uv_udp_send_cb;
typedef lure_udp_recv_cb uv_udp_recv_cb;
typedef lure_getaddrinfo_cb uv_getaddrinfo_cb;
typedef lure_getnameinfo_cb uv_getnameinfo_cb;

/* ---- constants, libuv's values ----------------------------------------- */

#define UV_LOOP_BLOCK_SIGNAL LURE_LOOP_BLOCK_SIGNAL
#define UV_METRICS_IDLE_TIME LURE_METRICS_IDLE_TIME
#define UV_RUN_DEFAULT LURE_RUN_DEFAULT
#define UV_RUN_ONCE LURE_RUN_ONCE
#define UV_RUN_NOWAIT LURE_RUN_NOWAIT
#define UV_READABLE LURE_READABLE
#define UV_WRITABLE LURE_WRITABLE
#define UV_DISCONNECT LURE_DISCONNECT
#define UV_PRIORITIZED LURE_PRIORITIZED
#define UV_FS_UNKNOWN LURE_FS_UNKNOWN
#define UV_FS_CUSTOM LURE_FS_CUSTOM
#define UV_FS_OPEN LURE_FS_OPEN
#define UV_FS_CLOSE LURE_FS_CLOSE
#define UV_FS_READ LURE_FS_READ
#define UV_FS_WRITE LURE_FS_WRITE
#define UV_FS_SENDFILE LURE_FS_SENDFILE
#define UV_FS_STAT LURE_FS_STAT
#define UV_FS_LSTAT LURE_FS_LSTAT
#define UV_FS_FSTAT LURE_FS_FSTAT
#define UV_FS_FTRUNCATE LURE_FS_FTRUNCATE
#define UV_FS_UTIME LURE_FS_UTIME
#define UV_FS_FUTIME LURE_FS_FUTIME
#define UV_FS_ACCESS LURE_FS_ACCESS
#define UV_FS_CHMOD LURE_FS_CHMOD
#define UV_FS_FCHMOD LURE_FS_FCHMOD
#define UV_FS_FSYNC LURE_FS_FSYNC
#define UV_FS_FDATASYNC LURE_FS_FDATASYNC
#define UV_FS_UNLINK LURE_FS_UNLINK
#define UV_FS_RMDIR LURE_FS_RMDIR
#define UV_FS_MKDIR LURE_FS_MKDIR
#define UV_FS_MKDTEMP LURE_FS_MKDTEMP
#define UV_FS_RENAME LURE_FS_RENAME
#define UV_FS_SCANDIR LURE_FS_SCANDIR
#define UV_FS_LINK LURE_FS_LINK
#define UV_FS_SYMLINK LURE_FS_SYMLINK
#define UV_FS_READLINK LURE_FS_READLINK
#define UV_FS_CHOWN LURE_FS_CHOWN
#define UV_FS_FCHOWN LURE_FS_FCHOWN
#define UV_FS_REALPATH LURE_FS_REALPATH
#define UV_FS_COPYFILE LURE_FS_COPYFILE
#define UV_FS_LCHOWN LURE_FS_LCHOWN
#define UV_FS_OPENDIR LURE_FS_OPENDIR
#define UV_FS_READDIR LURE_FS_READDIR
#define UV_FS_CLOSEDIR LURE_FS_CLOSEDIR
#define UV_FS_STATFS LURE_FS_STATFS
#define UV_FS_MKSTEMP LURE_FS_MKSTEMP
#define UV_FS_LUTIME LURE_FS_LUTIME
#define UV_DIRENT_UNKNOWN LURE_DIRENT_UNKNOWN
#define UV_DIRENT_FILE LURE_DIRENT_FILE
#define UV_DIRENT_DIR LURE_DIRENT_DIR
#define UV_DIRENT_LINK LURE_DIRENT_LINK
#define UV_DIRENT_FIFO LURE_DIRENT_FIFO
#define UV_DIRENT_SOCKET LURE_DIRENT_SOCKET
#define UV_DIRENT_CHAR LURE_DIRENT_CHAR
#define UV_DIRENT_BLOCK LURE_DIRENT_BLOCK
#define UV_LEAVE_GROUP LURE_LEAVE_GROUP
#define UV_JOIN_GROUP LURE_JOIN_GROUP
#define UV_NONBLOCK_PIPE LURE_NONBLOCK_PIPE
#define UV_TCP_IPV6ONLY LURE_TCP_IPV6ONLY
/* Beyond libuv 1.44: libuv 1.49's flag, with its value and meaning (one
 * port shared by the listeners of several loops, SO_REUSEPORT).  A program
 * can test for it with #ifdef. */
#define UV_TCP_REUSEPORT LURE_TCP_REUSEPORT
#define UV_UDP_IPV6ONLY LURE_UDP_IPV6ONLY
#define UV_UDP_PARTIAL LURE_UDP_PARTIAL
#define UV_UDP_REUSEADDR LURE_UDP_REUSEADDR
#define UV_UDP_MMSG_CHUNK LURE_UDP_MMSG_CHUNK
#define UV_UDP_MMSG_FREE LURE_UDP_MMSG_FREE
#define UV_UDP_RECVMMSG LURE_UDP_RECVMMSG
#define UV_FS_O_APPEND LURE_FS_O_APPEND
#define UV_FS_O_CREAT LURE_FS_O_CREAT
#define UV_FS_O_DIRECT LURE_FS_O_DIRECT
#define UV_FS_O_DIRECTORY LURE_FS_O_DIRECTORY
#define UV_FS_O_DSYNC LURE_FS_O_DSYNC
#define UV_FS_O_EXCL LURE_FS_O_EXCL
#define UV_FS_O_EXLOCK LURE_FS_O_EXLOCK
#define UV_FS_O_NOATIME LURE_FS_O_NOATIME
#define UV_FS_O_NOCTTY LURE_FS_O_NOCTTY
#define UV_FS_O_NOFOLLOW LURE_FS_O_NOFOLLOW
#define UV_FS_O_NONBLOCK LURE_FS_O_NONBLOCK
#define UV_FS_O_RDONLY LURE_FS_O_RDONLY
#define UV_FS_O_RDWR LURE_FS_O_RDWR
#define UV_FS_O_SYMLINK LURE_FS_O_SYMLINK
#define UV_FS_O_SYNC LURE_FS_O_SYNC
#define UV_FS_O_TRUNC LURE_FS_O_TRUNC
#define UV_FS_O_WRONLY LURE_FS_O_WRONLY
#define UV_FS_O_FILEMAP LURE_FS_O_FILEMAP
#define UV_FS_O_RANDOM LURE_FS_O_RANDOM
#define UV_FS_O_SHORT_LIVED LURE_FS_O_SHORT_LIVED
#define UV_FS_O_SEQUENTIAL LURE_FS_O_SEQUENTIAL
#define UV_FS_O_TEMPORARY LURE_FS_O_TEMPORARY
#define UV_FS_COPYFILE_EXCL LURE_FS_COPYFILE_EXCL
#define UV_FS_COPYFILE_FICLONE LURE_FS_COPYFILE_FICLONE
#define UV_FS_COPYFILE_FICLONE_FORCE LURE_FS_COPYFILE_FICLONE_FORCE
#define UV_FS_SYMLINK_DIR LURE_FS_SYMLINK_DIR
#define UV_FS_SYMLINK_JUNCTION LURE_FS_SYMLINK_JUNCTION

/* lure reports each entry's type (d_type) in scandir and readdir. */
#define HAVE_DIRENT_TYPES
#define UV__DT_FILE DT_REG
#define UV__DT_DIR DT_DIR
#define UV__DT_LINK DT_LNK
#define UV__DT_FIFO DT_FIFO
#define UV__DT_SOCKET DT_SOCK
#define UV__DT_CHAR DT_CHR
#define UV__DT_BLOCK DT_BLK

/* ---- functions whose shape differs from lure's -------------------------- */

/* libuv's uv_close() returns nothing: lure_close() only fails on a handle
 * that is already closing or was never initialised, where libuv asserts. */
static inline void uv_close(uv_handle_t *handle, uv_close_cb close_cb) {
  (void) lure_close(handle, close_cb);
}

/* libuv's uv_pipe_connect() returns nothing: every failure of the
 * connection itself reaches the callback, in lure as in libuv.  lure_pipe_
 * _connect() returns only argument errors, which libuv does not check. */
static inline void uv_pipe_connect(uv_connect_t *req, uv_pipe_t *handle,
                                   const char *name, uv_connect_cb cb) {
  (void) lure_pipe_connect(req, handle, name, cb);
}

/* A loop made through uv.h behaves as libuv's where lure's default differs
 * (lure_loop_configure(3), LURE_LOOP_LIBUV_DEFAULTS: today, fs requests
 * made while the thread pool is full wait in its queue, cancellable, as in
 * libuv).  An option the program sets itself still wins. */
static inline uv_loop_t *lure__uv_loop(uv_loop_t *loop) {
  if (loop != NULL)
    (void) lure_loop_configure(loop, LURE_LOOP_LIBUV_DEFAULTS);
  return loop;
}

static inline uv_loop_t *uv_default_loop(void) {
  return lure__uv_loop(lure_default_loop());
}

static inline int uv_loop_init(uv_loop_t *loop) {
  int rc = lure_loop_init(loop);

  if (rc == 0)
    (void) lure__uv_loop(loop);
  return rc;
}

static inline uv_loop_t *uv_loop_new(void) {
  return lure__uv_loop(lure_loop_new());
}

/* ---- functions --------------------------------------------------------- */

#define uv_accept lure_accept
#define uv_async_init lure_async_init
#define uv_async_send lure_async_send
#define uv_backend_fd lure_backend_fd
#define uv_backend_timeout lure_backend_timeout
#define uv_buf_init lure_buf_init
#define uv_cancel lure_cancel
#define uv_check_init lure_check_init
#define uv_check_start lure_check_start
#define uv_check_stop lure_check_stop
#define uv_err_name lure_err_name
#define uv_err_name_r lure_err_name_r
#define uv_fileno lure_fileno
#define uv_freeaddrinfo lure_freeaddrinfo
#define uv_fs_access lure_fs_access
#define uv_fs_chmod lure_fs_chmod
#define uv_fs_chown lure_fs_chown
#define uv_fs_close lure_fs_close
#define uv_fs_closedir lure_fs_closedir
#define uv_fs_copyfile lure_fs_copyfile
#define uv_fs_fchmod lure_fs_fchmod
#define uv_fs_fchown lure_fs_fchown
#define uv_fs_fdatasync lure_fs_fdatasync
#define uv_fs_fstat lure_fs_fstat
#define uv_fs_fsync lure_fs_fsync
#define uv_fs_ftruncate lure_fs_ftruncate
#define uv_fs_futime lure_fs_futime
#define uv_fs_get_path lure_fs_get_path
#define uv_fs_get_ptr lure_fs_get_ptr
#define uv_fs_get_result lure_fs_get_result
#define uv_fs_get_statbuf lure_fs_get_statbuf
#define uv_fs_get_system_error lure_fs_get_system_error
#define uv_fs_get_type lure_fs_get_type
#define uv_fs_lchown lure_fs_lchown
#define uv_fs_link lure_fs_link
#define uv_fs_lstat lure_fs_lstat
#define uv_fs_lutime lure_fs_lutime
#define uv_fs_mkdir lure_fs_mkdir
#define uv_fs_mkdtemp lure_fs_mkdtemp
#define uv_fs_mkstemp lure_fs_mkstemp
#define uv_fs_open lure_fs_open
#define uv_fs_opendir lure_fs_opendir
#define uv_fs_read lure_fs_read
#define uv_fs_readdir lure_fs_readdir
#define uv_fs_readlink lure_fs_readlink
#define uv_fs_realpath lure_fs_realpath
#define uv_fs_rename lure_fs_rename
#define uv_fs_req_cleanup lure_fs_req_cleanup
#define uv_fs_rmdir lure_fs_rmdir
#define uv_fs_scandir lure_fs_scandir
#define uv_fs_scandir_next lure_fs_scandir_next
#define uv_fs_sendfile lure_fs_sendfile
#define uv_fs_stat lure_fs_stat
#define uv_fs_statfs lure_fs_statfs
#define uv_fs_symlink lure_fs_symlink
#define uv_fs_unlink lure_fs_unlink
#define uv_fs_utime lure_fs_utime
#define uv_fs_write lure_fs_write
#define uv_getaddrinfo lure_getaddrinfo
#define uv_getnameinfo lure_getnameinfo
#define uv_handle_get_data lure_handle_get_data
#define uv_handle_get_loop lure_handle_get_loop
#define uv_guess_handle lure_guess_handle
#define uv_handle_get_type lure_handle_get_type
#define uv_handle_set_data lure_handle_set_data
#define uv_handle_size lure_handle_size
#define uv_handle_type_name lure_handle_type_name
#define uv_has_ref lure_has_ref
#define uv_hrtime lure_hrtime
#define uv_idle_init lure_idle_init
#define uv_idle_start lure_idle_start
#define uv_idle_stop lure_idle_stop
#define uv_inet_ntop lure_inet_ntop
#define uv_inet_pton lure_inet_pton
#define uv_ip4_addr lure_ip4_addr
#define uv_ip4_name lure_ip4_name
#define uv_ip6_addr lure_ip6_addr
#define uv_ip6_name lure_ip6_name
#define uv_is_active lure_is_active
#define uv_is_closing lure_is_closing
#define uv_is_readable lure_is_readable
#define uv_is_writable lure_is_writable
#define uv_listen lure_listen
#define uv_loop_alive lure_loop_alive
#define uv_loop_close lure_loop_close
#define uv_loop_configure lure_loop_configure
#define uv_metrics_idle_time lure_metrics_idle_time
#define uv_loop_fork lure_loop_fork
#define uv_now lure_now
#define uv_pipe lure_pipe
#define uv_pipe_bind lure_pipe_bind
#define uv_pipe_chmod lure_pipe_chmod
#define uv_pipe_getpeername lure_pipe_getpeername
#define uv_pipe_getsockname lure_pipe_getsockname
#define uv_pipe_init lure_pipe_init
#define uv_pipe_open lure_pipe_open
#define uv_pipe_pending_count lure_pipe_pending_count
#define uv_pipe_pending_instances lure_pipe_pending_instances
#define uv_pipe_pending_type lure_pipe_pending_type
#define uv_poll_init lure_poll_init
#define uv_poll_init_socket lure_poll_init_socket
#define uv_poll_start lure_poll_start
#define uv_poll_stop lure_poll_stop
#define uv_prepare_init lure_prepare_init
#define uv_prepare_start lure_prepare_start
#define uv_prepare_stop lure_prepare_stop
#define uv_queue_work lure_queue_work
#define uv_read_start lure_read_start
#define uv_read_stop lure_read_stop
#define uv_recv_buffer_size lure_recv_buffer_size
#define uv_ref lure_ref
#define uv_req_size lure_req_size
#define uv_req_type_name lure_req_type_name
#define uv_run lure_run
#define uv_send_buffer_size lure_send_buffer_size
#define uv_shutdown lure_shutdown
#define uv_signal_init lure_signal_init
#define uv_signal_start lure_signal_start
#define uv_signal_start_oneshot lure_signal_start_oneshot
#define uv_signal_stop lure_signal_stop
#define uv_socketpair lure_socketpair
#define uv_stop lure_stop
#define uv_stream_get_write_queue_size lure_stream_get_write_queue_size
#define uv_stream_set_blocking lure_stream_set_blocking
#define uv_strerror lure_strerror
#define uv_strerror_r lure_strerror_r
#define uv_tcp_bind lure_tcp_bind
#define uv_tcp_close_reset lure_tcp_close_reset
#define uv_tcp_connect lure_tcp_connect
#define uv_tcp_getpeername lure_tcp_getpeername
#define uv_tcp_getsockname lure_tcp_getsockname
#define uv_tcp_init lure_tcp_init
#define uv_tcp_init_ex lure_tcp_init_ex
#define uv_tcp_keepalive lure_tcp_keepalive
#define uv_tcp_nodelay lure_tcp_nodelay
#define uv_tcp_open lure_tcp_open
#define uv_tcp_simultaneous_accepts lure_tcp_simultaneous_accepts
#define uv_timer_again lure_timer_again
#define uv_timer_get_due_in lure_timer_get_due_in
#define uv_timer_get_repeat lure_timer_get_repeat
#define uv_timer_init lure_timer_init
#define uv_timer_set_repeat lure_timer_set_repeat
#define uv_timer_start lure_timer_start
#define uv_timer_stop lure_timer_stop
#define uv_try_write lure_try_write
#define uv_try_write2 lure_try_write2
#define uv_udp_bind lure_udp_bind
#define uv_udp_connect lure_udp_connect
#define uv_udp_get_send_queue_count lure_udp_get_send_queue_count
#define uv_udp_get_send_queue_size lure_udp_get_send_queue_size
#define uv_udp_getpeername lure_udp_getpeername
#define uv_udp_getsockname lure_udp_getsockname
#define uv_udp_init lure_udp_init
#define uv_udp_init_ex lure_udp_init_ex
#define uv_udp_open lure_udp_open
#define uv_udp_recv_start lure_udp_recv_start
#define uv_udp_recv_stop lure_udp_recv_stop
#define uv_udp_send lure_udp_send
#define uv_udp_set_broadcast lure_udp_set_broadcast
#define uv_udp_set_membership lure_udp_set_membership
#define uv_udp_set_multicast_interface lure_udp_set_multicast_interface
#define uv_udp_set_multicast_loop lure_udp_set_multicast_loop
#define uv_udp_set_multicast_ttl lure_udp_set_multicast_ttl
#define uv_udp_set_source_membership lure_udp_set_source_membership
#define uv_udp_set_ttl lure_udp_set_ttl
#define uv_udp_try_send lure_udp_try_send
#define uv_udp_using_recvmmsg lure_udp_using_recvmmsg
#define uv_unref lure_unref
#define uv_update_time lure_update_time
#define uv_walk lure_walk
#define uv_write lure_write
#define uv_write2 lure_write2

/* ---- threads and synchronisation (pthread wrappers) -------------------- */

typedef lure_thread_t uv_thread_t;
typedef lure_key_t uv_key_t;
typedef lure_once_t uv_once_t;
typedef lure_mutex_t uv_mutex_t;
typedef lure_rwlock_t uv_rwlock_t;
typedef lure_sem_t uv_sem_t;
typedef lure_cond_t uv_cond_t;
typedef lure_barrier_t uv_barrier_t;
typedef lure_thread_cb uv_thread_cb;
typedef lure_thread_create_flags uv_thread_create_flags;
typedef lure_thread_options_t uv_thread_options_t;
#define uv_thread_options_s lure_thread_options_s
#define UV_ONCE_INIT LURE_ONCE_INIT
#define UV_THREAD_NO_FLAGS LURE_THREAD_NO_FLAGS
#define UV_THREAD_HAS_STACK_SIZE LURE_THREAD_HAS_STACK_SIZE

#define uv_barrier_destroy lure_barrier_destroy
#define uv_barrier_init lure_barrier_init
#define uv_barrier_wait lure_barrier_wait
#define uv_cond_broadcast lure_cond_broadcast
#define uv_cond_destroy lure_cond_destroy
#define uv_cond_init lure_cond_init
#define uv_cond_signal lure_cond_signal
#define uv_cond_timedwait lure_cond_timedwait
#define uv_cond_wait lure_cond_wait
#define uv_key_create lure_key_create
#define uv_key_delete lure_key_delete
#define uv_key_get lure_key_get
#define uv_key_set lure_key_set
#define uv_loop_delete lure_loop_delete
#define uv_loop_get_data lure_loop_get_data
#define uv_loop_set_data lure_loop_set_data
#define uv_loop_size lure_loop_size
#define uv_mutex_destroy lure_mutex_destroy
#define uv_mutex_init lure_mutex_init
#define uv_mutex_init_recursive lure_mutex_init_recursive
#define uv_mutex_lock lure_mutex_lock
#define uv_mutex_trylock lure_mutex_trylock
#define uv_mutex_unlock lure_mutex_unlock
#define uv_once lure_once
#define uv_req_get_data lure_req_get_data
#define uv_req_get_type lure_req_get_type
#define uv_req_set_data lure_req_set_data
#define uv_rwlock_destroy lure_rwlock_destroy
#define uv_rwlock_init lure_rwlock_init
#define uv_rwlock_rdlock lure_rwlock_rdlock
#define uv_rwlock_rdunlock lure_rwlock_rdunlock
#define uv_rwlock_tryrdlock lure_rwlock_tryrdlock
#define uv_rwlock_trywrlock lure_rwlock_trywrlock
#define uv_rwlock_wrlock lure_rwlock_wrlock
#define uv_rwlock_wrunlock lure_rwlock_wrunlock
#define uv_sem_destroy lure_sem_destroy
#define uv_sem_init lure_sem_init
#define uv_sem_post lure_sem_post
#define uv_sem_trywait lure_sem_trywait
#define uv_sem_wait lure_sem_wait
#define uv_thread_create lure_thread_create
#define uv_thread_create_ex lure_thread_create_ex
#define uv_thread_equal lure_thread_equal
#define uv_thread_join lure_thread_join
#define uv_thread_self lure_thread_self

/* ---- OS and process utilities ------------------------------------------ */

typedef lure_pid_t uv_pid_t;
typedef lure_uid_t uv_uid_t;
typedef lure_gid_t uv_gid_t;
typedef lure_interface_address_t uv_interface_address_t;
typedef lure_passwd_t uv_passwd_t;
typedef lure_utsname_t uv_utsname_t;
typedef lure_env_item_t uv_env_item_t;
typedef lure_cpu_info_t uv_cpu_info_t;
typedef lure_timeval_t uv_timeval_t;
typedef lure_timeval64_t uv_timeval64_t;
typedef lure_rusage_t uv_rusage_t;
#define uv_interface_address_s lure_interface_address_s
#define uv_passwd_s lure_passwd_s
#define uv_utsname_s lure_utsname_s
#define uv_env_item_s lure_env_item_s
#define uv_cpu_info_s lure_cpu_info_s
#define uv_cpu_times_s lure_cpu_times_s
#define UV_MAXHOSTNAMESIZE LURE_MAXHOSTNAMESIZE
#define UV_IF_NAMESIZE LURE_IF_NAMESIZE
#define UV_PRIORITY_LOW LURE_PRIORITY_LOW
#define UV_PRIORITY_BELOW_NORMAL LURE_PRIORITY_BELOW_NORMAL
#define UV_PRIORITY_NORMAL LURE_PRIORITY_NORMAL
#define UV_PRIORITY_ABOVE_NORMAL LURE_PRIORITY_ABOVE_NORMAL
#define UV_PRIORITY_HIGH LURE_PRIORITY_HIGH
#define UV_PRIORITY_HIGHEST LURE_PRIORITY_HIGHEST

#define uv_available_parallelism lure_available_parallelism
#define uv_chdir lure_chdir
#define uv_cpu_info lure_cpu_info
#define uv_cwd lure_cwd
#define uv_exepath lure_exepath
#define uv_free_cpu_info lure_free_cpu_info
#define uv_free_interface_addresses lure_free_interface_addresses
#define uv_get_constrained_memory lure_get_constrained_memory
#define uv_get_free_memory lure_get_free_memory
#define uv_get_process_title lure_get_process_title
#define uv_get_total_memory lure_get_total_memory
#define uv_getrusage lure_getrusage
#define uv_gettimeofday lure_gettimeofday
#define uv_if_indextoiid lure_if_indextoiid
#define uv_if_indextoname lure_if_indextoname
#define uv_interface_addresses lure_interface_addresses
#define uv_ip_name lure_ip_name
#define uv_library_shutdown lure_library_shutdown
#define uv_loadavg lure_loadavg
#define uv_os_environ lure_os_environ
#define uv_os_free_environ lure_os_free_environ
#define uv_os_free_passwd lure_os_free_passwd
#define uv_os_get_passwd lure_os_get_passwd
#define uv_os_getenv lure_os_getenv
#define uv_os_gethostname lure_os_gethostname
#define uv_os_getpid lure_os_getpid
#define uv_os_getppid lure_os_getppid
#define uv_os_getpriority lure_os_getpriority
#define uv_os_homedir lure_os_homedir
#define uv_os_setenv lure_os_setenv
#define uv_os_setpriority lure_os_setpriority
#define uv_os_tmpdir lure_os_tmpdir
#define uv_os_uname lure_os_uname
#define uv_os_unsetenv lure_os_unsetenv
#define uv_resident_set_memory lure_resident_set_memory
#define uv_set_process_title lure_set_process_title
#define uv_setup_args lure_setup_args
#define uv_sleep lure_sleep
#define uv_translate_sys_error lure_translate_sys_error
#define uv_uptime lure_uptime

/* ---- fs events and fs poll --------------------------------------------- */

typedef lure_fs_event_t uv_fs_event_t;
typedef lure_fs_poll_t uv_fs_poll_t;
typedef lure_fs_event_cb uv_fs_event_cb;
typedef lure_fs_poll_cb uv_fs_poll_cb;
#define uv_fs_event_s lure_fs_event_s
#define uv_fs_poll_s lure_fs_poll_s
#define uv_fs_event lure_fs_event
#define uv_fs_event_flags lure_fs_event_flags
#define UV_RENAME LURE_RENAME
#define UV_CHANGE LURE_CHANGE
#define UV_FS_EVENT_WATCH_ENTRY LURE_FS_EVENT_WATCH_ENTRY
#define UV_FS_EVENT_STAT LURE_FS_EVENT_STAT
#define UV_FS_EVENT_RECURSIVE LURE_FS_EVENT_RECURSIVE

#define uv_fs_event_getpath lure_fs_event_getpath
#define uv_fs_event_init lure_fs_event_init
#define uv_fs_event_start lure_fs_event_start
#define uv_fs_event_stop lure_fs_event_stop
#define uv_fs_poll_getpath lure_fs_poll_getpath
#define uv_fs_poll_init lure_fs_poll_init
#define uv_fs_poll_start lure_fs_poll_start
#define uv_fs_poll_stop lure_fs_poll_stop

/* ---- terminals, random bytes, shared libraries, the allocator ---------- */

typedef lure_tty_t uv_tty_t;
typedef lure_tty_mode_t uv_tty_mode_t;
typedef lure_tty_vtermstate_t uv_tty_vtermstate_t;
typedef lure_random_t uv_random_t;
typedef lure_random_cb uv_random_cb;
typedef lure_lib_t uv_lib_t;
typedef lure_malloc_func uv_malloc_func;
typedef lure_realloc_func uv_realloc_func;
typedef lure_calloc_func uv_calloc_func;
typedef lure_free_func uv_free_func;
#define uv_tty_s lure_tty_s
#define uv_random_s lure_random_s
#define UV_TTY_MODE_NORMAL LURE_TTY_MODE_NORMAL
#define UV_TTY_MODE_RAW LURE_TTY_MODE_RAW
#define UV_TTY_MODE_IO LURE_TTY_MODE_IO
#define UV_TTY_SUPPORTED LURE_TTY_SUPPORTED
#define UV_TTY_UNSUPPORTED LURE_TTY_UNSUPPORTED
#define UV_UDP_LINUX_RECVERR LURE_UDP_LINUX_RECVERR

#define uv_dlclose lure_dlclose
#define uv_dlerror lure_dlerror
#define uv_dlopen lure_dlopen
#define uv_dlsym lure_dlsym
#define uv_get_osfhandle lure_get_osfhandle
#define uv_open_osfhandle lure_open_osfhandle
#define uv_print_active_handles lure_print_active_handles
#define uv_print_all_handles lure_print_all_handles
#define uv_random lure_random
#define uv_replace_allocator lure_replace_allocator
#define uv_tty_get_vterm_state lure_tty_get_vterm_state
#define uv_tty_get_winsize lure_tty_get_winsize
#define uv_tty_init lure_tty_init
#define uv_tty_reset_mode lure_tty_reset_mode
#define uv_tty_set_mode lure_tty_set_mode
#define uv_tty_set_vterm_state lure_tty_set_vterm_state

/* ---- processes ---------------------------------------------------------- */

typedef lure_process_t uv_process_t;
typedef lure_process_options_t uv_process_options_t;
typedef lure_stdio_container_t uv_stdio_container_t;
#define uv_process_flags lure_process_flags
typedef lure_exit_cb uv_exit_cb;
#define uv_process_s lure_process_s
#define uv_process_options_s lure_process_options_s
#define uv_stdio_container_s lure_stdio_container_s
#define UV_IGNORE LURE_IGNORE
#define UV_CREATE_PIPE LURE_CREATE_PIPE
#define UV_INHERIT_FD LURE_INHERIT_FD
#define UV_INHERIT_STREAM LURE_INHERIT_STREAM
#define UV_READABLE_PIPE LURE_READABLE_PIPE
#define UV_WRITABLE_PIPE LURE_WRITABLE_PIPE
#define UV_OVERLAPPED_PIPE LURE_OVERLAPPED_PIPE
#define UV_PROCESS_SETUID LURE_PROCESS_SETUID
#define UV_PROCESS_SETGID LURE_PROCESS_SETGID
#define UV_PROCESS_WINDOWS_VERBATIM_ARGUMENTS \
  LURE_PROCESS_WINDOWS_VERBATIM_ARGUMENTS
#define UV_PROCESS_DETACHED LURE_PROCESS_DETACHED
#define UV_PROCESS_WINDOWS_HIDE LURE_PROCESS_WINDOWS_HIDE
#define UV_PROCESS_WINDOWS_HIDE_CONSOLE LURE_PROCESS_WINDOWS_HIDE_CONSOLE
#define UV_PROCESS_WINDOWS_HIDE_GUI LURE_PROCESS_WINDOWS_HIDE_GUI

#define uv_disable_stdio_inheritance lure_disable_stdio_inheritance
#define uv_kill lure_kill
#define uv_process_get_pid lure_process_get_pid
#define uv_process_kill lure_process_kill
#define uv_spawn lure_spawn

#ifdef __cplusplus
}
#endif

#endif /* LURE_UV_H */
