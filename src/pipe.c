/*
 * pipe.c - pipe handles: Unix domain stream sockets (and adopted pipe(2)
 * descriptors), with descriptor passing when the handle is made with ipc.
 *
 * A name that starts with '@' is bound in Linux's abstract namespace (the
 * '@' becomes the leading NUL byte), since a C string cannot start with one.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "internal.h"
#include "stream.h"

LURE_EXTERN int lure_pipe_init(lure_loop_t *loop, lure_pipe_t *h, int ipc) {
  if (loop == NULL || loop->priv == NULL || h == NULL)
    return LURE_EINVAL;
  lure__stream_init(loop, (lure_stream_t *) h, LURE_NAMED_PIPE);
  h->ipc = ipc != 0;
  h->pipe_fname = NULL;
  return 0;
}

#define LURE__PIPE_CHECK(h)                                                   \
  do {                                                                        \
    if ((h) == NULL || (h)->type != LURE_NAMED_PIPE || (h)->loop == NULL ||   \
        (h)->loop->priv == NULL)                                              \
      return LURE_EINVAL;                                                     \
    if (lure__handle_is_closing((const lure_handle_t *) (h)))                 \
      return LURE_EINVAL;                                                     \
  } while (0)

LURE_EXTERN int lure_pipe_open(lure_pipe_t *h, int fd) {
  int mode;

  LURE__PIPE_CHECK(h);
  mode = fcntl(fd, F_GETFL);
  if (fd < 0 || mode < 0)
    return LURE_EBADF;
  if (h->io_watcher.fd >= 0)
    return LURE_EBUSY;
  if (lure__fd_in_use(h->loop, fd))
    return LURE_EEXIST; /* as libuv: two handles on one fd would fight */
  mode &= O_ACCMODE;
  return lure__stream_open(
      (lure_stream_t *) h, fd,
      LURE__STREAM_ADOPTED | (mode != O_WRONLY ? LURE__STREAM_READABLE : 0) |
          (mode != O_RDONLY ? LURE__STREAM_WRITABLE : 0));
}

/* Fill sun from name; returns the address length or a negative errno. */
static int lure__pipe_addr(const char *name, struct sockaddr_un *sun) {
  size_t len = strlen(name);

  if (len == 0)
    return LURE_EINVAL;
  memset(sun, 0, sizeof(*sun));
  sun->sun_family = AF_UNIX;
  if (name[0] == '@') {
    if (len > sizeof(sun->sun_path))
      return LURE_ENAMETOOLONG;
    memcpy(sun->sun_path + 1, name + 1, len - 1);
    return (int) (offsetof(struct sockaddr_un, sun_path) + len);
  }
  if (len >= sizeof(sun->sun_path))
    return LURE_ENAMETOOLONG;
  memcpy(sun->sun_path, name, len);
  return (int) (offsetof(struct sockaddr_un, sun_path) + len + 1);
}

static int lure__pipe_socket(lure_pipe_t *h) {
  int fd;
  int rc;

  if (h->io_watcher.fd >= 0)
    return 0;
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  rc = lure__stream_open((lure_stream_t *) h, fd, LURE__OPEN_OWN_SOCKET);
  if (rc != 0)
    close(fd);
  return rc;
}

LURE_EXTERN int lure_pipe_bind(lure_pipe_t *h, const char *name) {
  struct sockaddr_un sun;
  int len;
  int rc;
  char *copy;

  LURE__PIPE_CHECK(h);
  if (name == NULL)
    return LURE_EINVAL;
  if (h->stream_flags & LURE__STREAM_BOUND)
    return LURE_EINVAL;
  len = lure__pipe_addr(name, &sun);
  if (len < 0)
    return len;
  copy = lure__strdup(name);
  if (copy == NULL)
    return LURE_ENOMEM;
  rc = lure__pipe_socket(h);
  if (rc != 0) {
    lure__free(copy);
    return rc;
  }
  if (bind(h->io_watcher.fd, (struct sockaddr *) &sun, (socklen_t) len) != 0) {
    rc = errno == ENOENT ? LURE_EACCES : -errno; /* as libuv */
    lure__free(copy);
    return rc;
  }
  h->pipe_fname = copy;
  h->stream_flags |= LURE__STREAM_BOUND;
  return 0;
}

int lure__pipe_listen(lure_pipe_t *h, int backlog, lure_connection_cb cb) {
  if (h->io_watcher.fd < 0)
    return LURE_EINVAL;
  if (h->ipc)
    return LURE_EINVAL;
  if (listen(h->io_watcher.fd, backlog) != 0)
    return -errno;
  return lure__stream_listen_start((lure_stream_t *) h, cb);
}

LURE_EXTERN int lure_pipe_connect(lure_connect_t *req, lure_pipe_t *h,
                                  const char *name, lure_connect_cb cb) {
  struct sockaddr_un sun;
  int len;
  int rc;

  LURE__PIPE_CHECK(h);
  if (req == NULL || name == NULL)
    return LURE_EINVAL;
  len = lure__pipe_addr(name, &sun);
  if (len < 0)
    return len;
  rc = lure__pipe_socket(h);
  if (rc != 0)
    return rc;
  /* Every failure reaches the callback, as with libuv's uv_pipe_connect. */
  return lure__stream_connect((lure_stream_t *) h, req,
                              (struct sockaddr *) &sun, (socklen_t) len, cb, 1);
}

static int lure__pipe_name(const lure_pipe_t *h, char *buffer, size_t *size,
                           int peer) {
  struct sockaddr_un sun;
  socklen_t len = sizeof(sun);
  size_t n;

  if (h == NULL || h->type != LURE_NAMED_PIPE || buffer == NULL ||
      size == NULL)
    return LURE_EINVAL;
  if (h->io_watcher.fd < 0)
    return LURE_EBADF;
  memset(&sun, 0, sizeof(sun));
  if ((peer ? getpeername(h->io_watcher.fd, (struct sockaddr *) &sun, &len)
            : getsockname(h->io_watcher.fd, (struct sockaddr *) &sun, &len)) != 0)
    return -errno;
  /* As libuv: an abstract name comes as it is, its leading NUL included
   * in *size and no NUL added after it (it may hold NULs of its own); a
   * path comes NUL-terminated, *size not counting the NUL. */
  if (len <= offsetof(struct sockaddr_un, sun_path)) {
    n = 0;
  } else if (sun.sun_path[0] == '\0') {
    n = len - offsetof(struct sockaddr_un, sun_path);
  } else {
    n = strnlen(sun.sun_path, sizeof(sun.sun_path));
  }
  if (n + 1 > *size) {
    *size = n + 1;
    return LURE_ENOBUFS;
  }
  memcpy(buffer, sun.sun_path, n);
  if (n == 0 || sun.sun_path[0] != '\0')
    buffer[n] = '\0';
  *size = n;
  return 0;
}

LURE_EXTERN int lure_pipe_getsockname(const lure_pipe_t *h, char *buffer,
                                      size_t *size) {
  return lure__pipe_name(h, buffer, size, 0);
}

LURE_EXTERN int lure_pipe_getpeername(const lure_pipe_t *h, char *buffer,
                                      size_t *size) {
  return lure__pipe_name(h, buffer, size, 1);
}

LURE_EXTERN int lure_pipe_pending_count(lure_pipe_t *h) {
  if (h == NULL || h->type != LURE_NAMED_PIPE || !h->ipc)
    return 0;
  return (int) h->pending_count;
}

LURE_EXTERN lure_handle_type lure_pipe_pending_type(lure_pipe_t *h) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  struct stat st;
  int type = 0;
  socklen_t tlen = sizeof(type);
  int fd;

  if (h == NULL || h->type != LURE_NAMED_PIPE || !h->ipc ||
      h->pending_count == 0)
    return LURE_UNKNOWN_HANDLE;
  fd = h->pending_fds[0];
  if (getsockname(fd, (struct sockaddr *) &ss, &len) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0) {
    if (fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)))
      return LURE_NAMED_PIPE;
    return LURE_FILE;
  }
  if (ss.ss_family == AF_UNIX)
    return LURE_NAMED_PIPE;
  if (type == SOCK_DGRAM)
    return LURE_UDP;
  return LURE_TCP;
}

/* Open the socket file of a bound pipe to others, as libuv's uv_pipe_chmod:
 * read and/or write permission for user, group and others is added to the
 * mode the file has (never taken away).  The name comes from getsockname(2),
 * so that a socket bound before lure_pipe_open() has it too. */
LURE_EXTERN int lure_pipe_chmod(lure_pipe_t *h, int flags) {
  struct sockaddr_un sun;
  socklen_t len = sizeof(sun);
  char path[sizeof(sun.sun_path) + 1];
  size_t n;
  struct stat st;
  mode_t want = 0;

  /* No handle, or one that is closing, has no descriptor to name the file
   * by: LURE_EBADF, as libuv (whose uv_close() drops the descriptor at
   * once) answers both. */
  if (h == NULL)
    return LURE_EBADF;
  if (h->type == LURE_NAMED_PIPE && h->loop != NULL &&
      lure__handle_is_closing((const lure_handle_t *) h))
    return LURE_EBADF;
  LURE__PIPE_CHECK(h);
  if (h->io_watcher.fd < 0)
    return LURE_EBADF;
  if (flags == 0 || (flags & ~(LURE_READABLE | LURE_WRITABLE)))
    return LURE_EINVAL;
  memset(&sun, 0, sizeof(sun));
  if (getsockname(h->io_watcher.fd, (struct sockaddr *) &sun, &len) != 0)
    return -errno;
  /* Not bound, or bound in the abstract namespace: there is no file. */
  if (sun.sun_family != AF_UNIX ||
      len <= offsetof(struct sockaddr_un, sun_path) || sun.sun_path[0] == '\0')
    return LURE_EINVAL;
  /* A name that fills sun_path comes without its NUL. */
  n = strnlen(sun.sun_path, len - offsetof(struct sockaddr_un, sun_path));
  memcpy(path, sun.sun_path, n);
  path[n] = '\0';
  if (flags & LURE_READABLE)
    want |= S_IRUSR | S_IRGRP | S_IROTH;
  if (flags & LURE_WRITABLE)
    want |= S_IWUSR | S_IWGRP | S_IWOTH;
  if (stat(path, &st) != 0)
    return -errno;
  if ((st.st_mode & want) == want)
    return 0;
  return chmod(path, (st.st_mode & 07777) | want) != 0 ? -errno : 0;
}

/* ---- pairs of descriptors ---- */

/* Both ends of a lure_pipe() or lure_socketpair() are close-on-exec, made so
 * atomically: a child that another thread forks and executes in between
 * must not inherit an end, or the other end never sees EOF.  O_NONBLOCK is
 * set atomically too when both ends want it, else on the end that does. */
static int lure__pair_flags_bad(int flags) {
  return (flags & ~LURE_NONBLOCK_PIPE) != 0;
}

static int lure__pair_finish(int made[2], int out[2], int flags0, int flags1,
                             int nonblock_done) {
  int rc = 0;

  if (!nonblock_done) {
    if (flags0 & LURE_NONBLOCK_PIPE)
      rc = lure__nonblock(made[0], 1);
    if (rc == 0 && (flags1 & LURE_NONBLOCK_PIPE))
      rc = lure__nonblock(made[1], 1);
    if (rc != 0) {
      close(made[0]);
      close(made[1]);
      return rc;
    }
  }
  out[0] = made[0];
  out[1] = made[1];
  return 0;
}

LURE_EXTERN int lure_pipe(lure_file fds[2], int read_flags, int write_flags) {
  int made[2];
  int flags = O_CLOEXEC;

  if (fds == NULL || lure__pair_flags_bad(read_flags) ||
      lure__pair_flags_bad(write_flags))
    return LURE_EINVAL;
  if (read_flags & write_flags & LURE_NONBLOCK_PIPE)
    flags |= O_NONBLOCK;
  if (pipe2(made, flags) != 0)
    return -errno;
  return lure__pair_finish(made, fds, read_flags, write_flags,
                           (flags & O_NONBLOCK) != 0);
}

/* type and protocol go to socketpair(2) as they are (AF_UNIX), as in libuv:
 * SOCK_NONBLOCK in type makes both ends non-blocking. */
LURE_EXTERN int lure_socketpair(int type, int protocol,
                                lure_os_sock_t socks[2], int flags0,
                                int flags1) {
  int made[2];

  if (socks == NULL || lure__pair_flags_bad(flags0) ||
      lure__pair_flags_bad(flags1))
    return LURE_EINVAL;
  type |= SOCK_CLOEXEC;
  if (flags0 & flags1 & LURE_NONBLOCK_PIPE)
    type |= SOCK_NONBLOCK;
  if (socketpair(AF_UNIX, type, protocol, made) != 0)
    return -errno;
  return lure__pair_finish(made, socks, flags0, flags1,
                           (type & SOCK_NONBLOCK) != 0);
}

/* The number of server instances of a Windows named pipe; a Unix socket
 * has no such thing, and libuv ignores the call there too. */
LURE_EXTERN void lure_pipe_pending_instances(lure_pipe_t *h, int count) {
  (void) h;
  (void) count;
}

void lure__pipe_finish_close(lure_pipe_t *h) {
  /* libuv removes the socket file of a bound pipe when it closes. */
  if (h->pipe_fname != NULL) {
    if (h->pipe_fname[0] != '@')
      unlink(h->pipe_fname);
    lure__free((void *) h->pipe_fname);
    h->pipe_fname = NULL;
  }
}
