/*
 * handle.c - what every handle shares: initialisation, the active and
 * referenced states that keep a loop alive, closing and the closing phase,
 * and walking.
 *
 * A handle counts towards lure_loop_alive() while it is both active and
 * referenced; loop->active_handles (public, as in libuv) is that count, kept exact by the
 * four transitions below (start, stop, ref, unref).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include "internal.h"
#include "stream.h"

void lure__handle_init(lure_loop_t *loop, lure_handle_t *h,
                       lure_handle_type type) {
  h->loop = loop;
  h->type = type;
  h->flags = LURE__HANDLE_REF;
  h->close_cb = NULL;
  h->next_closing = NULL;
  lure__queue_insert_tail(&loop->priv->handle_queue, &h->handle_queue);
}

void lure__handle_start(lure_handle_t *h) {
  if (h->flags & LURE__HANDLE_ACTIVE)
    return;
  h->flags |= LURE__HANDLE_ACTIVE;
  if (h->flags & LURE__HANDLE_REF)
    h->loop->active_handles++;
}

void lure__handle_stop(lure_handle_t *h) {
  if (!(h->flags & LURE__HANDLE_ACTIVE))
    return;
  h->flags &= ~LURE__HANDLE_ACTIVE;
  if (h->flags & LURE__HANDLE_REF)
    h->loop->active_handles--;
}

int lure__handle_check(const lure_handle_t *h, lure_handle_type type) {
  if (h == NULL || h->type != type || h->loop == NULL ||
      h->loop->priv == NULL)
    return LURE_EINVAL;
  if (lure__handle_is_closing(h))
    return LURE_EINVAL;
  return 0;
}

LURE_EXTERN void lure_ref(lure_handle_t *h) {
  if (h == NULL || (h->flags & LURE__HANDLE_REF))
    return;
  h->flags |= LURE__HANDLE_REF;
  if ((h->flags & LURE__HANDLE_ACTIVE) && h->loop && h->loop->priv)
    h->loop->active_handles++;
}

LURE_EXTERN void lure_unref(lure_handle_t *h) {
  if (h == NULL || !(h->flags & LURE__HANDLE_REF))
    return;
  h->flags &= ~LURE__HANDLE_REF;
  if ((h->flags & LURE__HANDLE_ACTIVE) && h->loop && h->loop->priv)
    h->loop->active_handles--;
}

LURE_EXTERN int lure_has_ref(const lure_handle_t *h) {
  return h != NULL && (h->flags & LURE__HANDLE_REF) != 0;
}

LURE_EXTERN int lure_is_active(const lure_handle_t *h) {
  return h != NULL && lure__handle_is_active(h);
}

LURE_EXTERN int lure_is_closing(const lure_handle_t *h) {
  return h != NULL && lure__handle_is_closing(h);
}

LURE_EXTERN lure_handle_type lure_handle_get_type(const lure_handle_t *h) {
  return h == NULL ? LURE_UNKNOWN_HANDLE : h->type;
}

LURE_EXTERN lure_loop_t *lure_handle_get_loop(const lure_handle_t *h) {
  return h == NULL ? NULL : h->loop;
}

LURE_EXTERN void *lure_handle_get_data(const lure_handle_t *h) {
  return h == NULL ? NULL : h->data;
}

LURE_EXTERN void lure_handle_set_data(lure_handle_t *h, void *data) {
  if (h != NULL)
    h->data = data;
}

/* The descriptor behind a TCP, pipe, UDP or poll handle, or -1. */
static int lure__handle_fd(const lure_handle_t *h) {
  switch (h->type) {
    case LURE_TCP:
    case LURE_NAMED_PIPE:
    case LURE_TTY:
      return ((const lure_stream_t *) h)->io_watcher.fd;
    case LURE_UDP:
      return ((const lure_udp_t *) h)->io_watcher.fd;
    case LURE_POLL:
      return ((const lure_poll_t *) h)->io_watcher.fd;
    default:
      return -2;
  }
}

/* Executor operations in flight for a socket handle (0 for other types). */
unsigned lure__handle_exec_ops(const lure_handle_t *h) {
  if (lure__is_stream(h))
    return ((const lure_stream_t *) h)->exec_ops;
  if (h->type == LURE_UDP)
    return ((const lure_udp_t *) h)->exec_ops;
  return 0;
}

/* Whether h works on its descriptor now, libuv's "being watched": a
 * readiness watcher is started (reading, listening, connecting, a write
 * that waits for POLLOUT, a started poll handle, a UDP receive), or the
 * executor holds operations that name it.  A closing handle counts when it is
 * going to close the descriptor in the closing phase (streams on fds 0-2
 * never do, as libuv's). */
static int lure__handle_watching(const lure_handle_t *h, int fd) {
  const struct lure__io *w;

  if (lure__handle_exec_ops(h) > 0)
    return 1;
  if (lure__is_stream(h)) {
    const lure_stream_t *s = (const lure_stream_t *) h;

    if (lure__handle_is_closing(h))
      return fd > STDERR_FILENO;
    if (s->stream_flags & (LURE__STREAM_READING | LURE__STREAM_LISTENING |
                           LURE__STREAM_CONNECTING))
      return 1;
    w = &s->io_watcher;
  } else if (h->type == LURE_UDP) {
    if (lure__handle_is_closing(h))
      return 1;
    w = &((const lure_udp_t *) h)->io_watcher;
  } else {
    w = &((const lure_poll_t *) h)->io_watcher;
  }
  return !lure__queue_empty(&w->queue);
}

/* Adopting a descriptor that another handle of the loop is watching would
 * give it two watchers (epoll refuses the second, the ring would serve
 * both); as libuv (uv__fd_exists), a descriptor another handle merely
 * holds may be opened again: the standard descriptors are the usual case
 * (two pipe handles on fd 1), and closing a stream never closes those. */
int lure__fd_in_use(lure_loop_t *loop, int fd) {
  struct lure__queue *q;
  lure_handle_t *h;

  lure__queue_foreach(q, &loop->priv->handle_queue) {
    h = lure__container_of(q, lure_handle_t, handle_queue);
    if (lure__handle_fd(h) == fd && lure__handle_watching(h, fd))
      return 1;
  }
  return 0;
}

LURE_EXTERN int lure_fileno(const lure_handle_t *h, lure_os_fd_t *fd) {
  int f;

  if (h == NULL || fd == NULL || h->loop == NULL)
    return LURE_EINVAL;
  f = lure__handle_fd(h);
  if (f == -2)
    return LURE_EINVAL;
  if (f < 0 || (h->flags & (LURE__HANDLE_CLOSING | LURE__HANDLE_CLOSED)))
    return LURE_EBADF;
  *fd = f;
  return 0;
}

/* SO_SNDBUF / SO_RCVBUF: *value 0 reads the size (Linux reports twice what
 * was set: the kernel's bookkeeping is included), anything else sets it. */
static int lure__sockbuf(lure_handle_t *h, int *value, int opt) {
  socklen_t len = sizeof(*value);
  int f;

  if (h == NULL || value == NULL || h->loop == NULL || *value < 0)
    return LURE_EINVAL;
  f = lure__handle_fd(h);
  if (f == -2 || h->type == LURE_POLL)
    return LURE_EINVAL;
  if (f < 0 || (h->flags & (LURE__HANDLE_CLOSING | LURE__HANDLE_CLOSED)))
    return LURE_EBADF;
  if (*value == 0)
    return getsockopt(f, SOL_SOCKET, opt, value, &len) != 0 ? -errno : 0;
  return setsockopt(f, SOL_SOCKET, opt, value, len) != 0 ? -errno : 0;
}

LURE_EXTERN int lure_send_buffer_size(lure_handle_t *h, int *value) {
  return lure__sockbuf(h, value, SO_SNDBUF);
}

LURE_EXTERN int lure_recv_buffer_size(lure_handle_t *h, int *value) {
  return lure__sockbuf(h, value, SO_RCVBUF);
}

LURE_EXTERN const char *lure_handle_type_name(lure_handle_type type) {
  switch (type) {
    case LURE_ASYNC: return "async";
    case LURE_CHECK: return "check";
    case LURE_FS_EVENT: return "fs_event";
    case LURE_FS_POLL: return "fs_poll";
    case LURE_HANDLE: return "handle";
    case LURE_IDLE: return "idle";
    case LURE_NAMED_PIPE: return "pipe";
    case LURE_POLL: return "poll";
    case LURE_PREPARE: return "prepare";
    case LURE_PROCESS: return "process";
    case LURE_STREAM: return "stream";
    case LURE_TCP: return "tcp";
    case LURE_TIMER: return "timer";
    case LURE_TTY: return "tty";
    case LURE_UDP: return "udp";
    case LURE_SIGNAL: return "signal";
    case LURE_FILE: return "file";
    default: return NULL;
  }
}

LURE_EXTERN size_t lure_handle_size(lure_handle_type type) {
  switch (type) {
    case LURE_ASYNC: return sizeof(lure_async_t);
    case LURE_CHECK: return sizeof(lure_check_t);
    case LURE_HANDLE: return sizeof(lure_handle_t);
    case LURE_IDLE: return sizeof(lure_idle_t);
    case LURE_POLL: return sizeof(lure_poll_t);
    case LURE_PREPARE: return sizeof(lure_prepare_t);
    case LURE_TIMER: return sizeof(lure_timer_t);
    case LURE_SIGNAL: return sizeof(lure_signal_t);
    case LURE_STREAM: return sizeof(lure_stream_t);
    case LURE_TCP: return sizeof(lure_tcp_t);
    case LURE_NAMED_PIPE: return sizeof(lure_pipe_t);
    case LURE_TTY: return sizeof(lure_tty_t);
    case LURE_UDP: return sizeof(lure_udp_t);
    case LURE_FS_EVENT: return sizeof(lure_fs_event_t);
    case LURE_FS_POLL: return sizeof(lure_fs_poll_t);
    case LURE_PROCESS: return sizeof(lure_process_t);
    default: return (size_t) -1;
  }
}

LURE_EXTERN int lure_close(lure_handle_t *h, lure_close_cb close_cb) {
  int wait = 0;

  if (h == NULL || h->loop == NULL || h->loop->priv == NULL)
    return LURE_EINVAL;
  if (h->flags & (LURE__HANDLE_CLOSING | LURE__HANDLE_CLOSED))
    return LURE_EINVAL;

  h->flags |= LURE__HANDLE_CLOSING;
  h->close_cb = close_cb;

  switch (h->type) {
    case LURE_TIMER: lure__timer_close((lure_timer_t *) h); break;
    case LURE_IDLE: lure__idle_close((lure_idle_t *) h); break;
    case LURE_PREPARE: lure__prepare_close((lure_prepare_t *) h); break;
    case LURE_CHECK: lure__check_close((lure_check_t *) h); break;
    case LURE_ASYNC: lure__async_close((lure_async_t *) h); break;
    case LURE_SIGNAL: lure__signal_close((lure_signal_t *) h); break;
    case LURE_POLL: lure__poll_close((lure_poll_t *) h); break;
    case LURE_TCP:
    case LURE_NAMED_PIPE:
    case LURE_TTY: lure__stream_close((lure_stream_t *) h); break;
    case LURE_UDP: lure__udp_close((lure_udp_t *) h); break;
    case LURE_FS_EVENT: lure__fs_event_close((lure_fs_event_t *) h); break;
    case LURE_FS_POLL: wait = lure__fs_poll_close((lure_fs_poll_t *) h); break;
    case LURE_PROCESS: lure__process_close((lure_process_t *) h); break;
    default: break;
  }
  lure__handle_stop(h);

  /* Ring operations still name this handle's fd and memory: the close
   * completes when the last of them has posted its CQE.  An fs poll handle
   * waits the same way for the stats it has in flight.  Until then the
   * loop stays alive (counted as a request). */
  if (wait || lure__handle_exec_ops(h) > 0) {
    h->flags |= LURE__HANDLE_CLOSE_WAIT;
    h->loop->priv->active_reqs++;
    return 0;
  }

  /* The close callback runs in the closing phase, never from inside
   * lure_close(): the caller may still be using the handle. */
  h->next_closing = h->loop->priv->closing_handles;
  h->loop->priv->closing_handles = h;
  return 0;
}

/* The ring's last operation on a closing handle finished. */
void lure__handle_close_ready(lure_handle_t *h) {
  if (!(h->flags & LURE__HANDLE_CLOSE_WAIT))
    return;
  h->flags &= ~LURE__HANDLE_CLOSE_WAIT;
  h->loop->priv->active_reqs--;
  h->next_closing = h->loop->priv->closing_handles;
  h->loop->priv->closing_handles = h;
}

/* The closing phase.  Handles closed by these callbacks wait for the next
 * tick, as in libuv. */
void lure__run_closing_handles(lure_loop_t *loop) {
  lure_handle_t *h = loop->priv->closing_handles;
  lure_handle_t *next;

  loop->priv->closing_handles = NULL;
  while (h != NULL) {
    next = h->next_closing;
    h->flags &= ~LURE__HANDLE_CLOSING;
    h->flags |= LURE__HANDLE_CLOSED;
    if (lure__is_stream(h))
      lure__stream_finish_close((lure_stream_t *) h);
    else if (h->type == LURE_UDP)
      lure__udp_finish_close((lure_udp_t *) h);
    lure__queue_remove(&h->handle_queue);
    if (h->close_cb != NULL)
      h->close_cb(h);
    h = next;
  }
}

LURE_EXTERN void lure_walk(lure_loop_t *loop, lure_walk_cb walk_cb, void *arg) {
  struct lure__queue snapshot;
  struct lure__queue *q;
  lure_handle_t *h;

  if (loop == NULL || loop->priv == NULL || walk_cb == NULL)
    return;
  /* Walk a private copy so that the callback may close handles. */
  lure__queue_move(&loop->priv->handle_queue, &snapshot);
  while (!lure__queue_empty(&snapshot)) {
    q = lure__queue_head(&snapshot);
    h = lure__container_of(q, lure_handle_t, handle_queue);
    lure__queue_remove(q);
    lure__queue_insert_tail(&loop->priv->handle_queue, q);
    if (!(h->flags & LURE__HANDLE_INTERNAL))
      walk_cb(h, arg);
  }
}

/* What kind of handle suits a descriptor, by fstat(2) and, for a socket,
 * its type and family: libuv's uv_guess_handle() answers, including its
 * quirk that character devices other than terminals are files. */
LURE_EXTERN lure_handle_type lure_guess_handle(lure_file file) {
  struct stat st;
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  int type;
  socklen_t tlen = sizeof(type);

  if (file < 0)
    return LURE_UNKNOWN_HANDLE;
  if (isatty(file))
    return LURE_TTY;
  if (fstat(file, &st) != 0)
    return LURE_UNKNOWN_HANDLE;
  if (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))
    return LURE_FILE;
  if (S_ISFIFO(st.st_mode))
    return LURE_NAMED_PIPE;
  if (!S_ISSOCK(st.st_mode))
    return LURE_UNKNOWN_HANDLE;
  if (getsockopt(file, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0)
    return LURE_UNKNOWN_HANDLE;
  memset(&ss, 0, sizeof(ss));
  if (getsockname(file, (struct sockaddr *) &ss, &len) != 0)
    return LURE_UNKNOWN_HANDLE;
  if (ss.ss_family == AF_UNIX)
    return type == SOCK_STREAM ? LURE_NAMED_PIPE : LURE_UNKNOWN_HANDLE;
  if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
    if (type == SOCK_STREAM)
      return LURE_TCP;
    if (type == SOCK_DGRAM)
      return LURE_UDP;
  }
  return LURE_UNKNOWN_HANDLE;
}
