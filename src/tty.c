/*
 * tty.c - terminals as streams, and their modes.
 *
 * A terminal handle is a stream (stream.c does its reads, writes and
 * shutdown) whose bytes always move by readiness: its descriptor is
 * watched through the loop's one wait point (POLL_ADD on the ring, epoll
 * otherwise) and read(2)/writev(2) run when it is ready.  The ring's
 * socket path (multishot recv, SEND) does not apply to a terminal.
 *
 * O_NONBLOCK belongs to the open file description, which a terminal
 * usually shares with other processes (the shell, `prog | cat`).  So, as
 * libuv does, lure_tty_init() opens the terminal again by its name when
 * the descriptor is the slave side of a terminal, to get a description of
 * its own that it may make non-blocking, and puts the new description
 * under the caller's number too (dup3), so that the caller's descriptor
 * no longer shares the old one either.  The master side of a pseudo
 * terminal cannot be opened again (opening /dev/ptmx makes a new pair):
 * it is left as it is, blocking, and its writes block (libuv's "blocking
 * writes", the handle flag of the same value, which libuv's tests read).
 *
 * lure_tty_reset_mode() may run in a signal handler: it touches only the
 * saved termios of the first terminal put in a non-normal mode, under a
 * test-and-set lock that it never waits for (LURE_EBUSY if it is held).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <termios.h>
#include "internal.h"
#include "stream.h"

/* The saved mode for lure_tty_reset_mode(), and its lock. */
static int lure__tty_saved_fd = -1;
static struct termios lure__tty_saved;
static char lure__tty_lock;

static int lure__tty_trylock(void) {
  return !__atomic_test_and_set(&lure__tty_lock, __ATOMIC_ACQUIRE);
}

static void lure__tty_unlock(void) {
  __atomic_clear(&lure__tty_lock, __ATOMIC_RELEASE);
}

static int lure__tcsetattr(int fd, int how, const struct termios *t) {
  int rc;

  do
    rc = tcsetattr(fd, how, t);
  while (rc != 0 && errno == EINTR);
  return rc != 0 ? -errno : 0;
}

/* The slave side of a pseudo terminal (or a real terminal) answers
 * TIOCGPTN with an error; only a master knows its pty number. */
static int lure__tty_is_slave(int fd) {
  int n;

  return ioctl(fd, TIOCGPTN, &n) != 0;
}

/* A new description of the terminal behind fd, or -1. */
static int lure__tty_reopen(int fd, int mode) {
  char path[256];
  int newfd;

  if (!lure__tty_is_slave(fd) || ttyname_r(fd, path, sizeof(path)) != 0)
    return -1;
  do
    newfd = open(path, mode | O_NOCTTY | O_CLOEXEC);
  while (newfd < 0 && errno == EINTR);
  return newfd;
}

LURE_EXTERN int lure_tty_init(lure_loop_t *loop, lure_tty_t *tty, lure_file fd,
                              int unused_readable) {
  lure_handle_type type;
  unsigned flags;
  int blocking = 0;
  int saved_flags;
  int newfd = -1;
  int mode;
  int rc;

  (void) unused_readable; /* as libuv: the access mode of fd says it */
  if (loop == NULL || loop->priv == NULL || tty == NULL)
    return LURE_EINVAL;
  /* Files (and character devices other than terminals) have no
   * readiness to wait for; libuv refuses them, a closed fd included. */
  type = lure_guess_handle(fd);
  if (type == LURE_FILE || type == LURE_UNKNOWN_HANDLE)
    return LURE_EINVAL;
  do
    saved_flags = fcntl(fd, F_GETFL);
  while (saved_flags < 0 && errno == EINTR);
  if (saved_flags < 0)
    return -errno;
  mode = saved_flags & O_ACCMODE;

  if (type == LURE_TTY) {
    newfd = lure__tty_reopen(fd, mode);
    if (newfd < 0) {
      if (mode != O_RDONLY)
        blocking = 1;
    } else {
      /* The caller's number now names the new description too. */
      if (dup3(newfd, fd, O_CLOEXEC) < 0 && errno != EINVAL) {
        rc = -errno;
        close(newfd);
        return rc;
      }
      fd = newfd;
    }
  }
  /* Not reopened: the handle takes the caller's descriptor, which no other
   * handle of the loop may be working on. */
  if (newfd < 0 && lure__fd_in_use(loop, fd))
    return LURE_EEXIST;
  if (!blocking) {
    rc = lure__nonblock(fd, 1);
    if (rc != 0) {
      if (newfd >= 0)
        close(newfd);
      return rc;
    }
  }

  lure__stream_init(loop, (lure_stream_t *) tty, LURE_TTY);
  tty->mode = LURE_TTY_MODE_NORMAL;
  memset(&tty->orig_termios, 0, sizeof(tty->orig_termios));
  if (blocking)
    tty->flags |= LURE__HANDLE_BLOCKING_WRITES;
  flags = LURE__OPEN_OWN_SOCKET | LURE__STREAM_NOT_SOCKET;
  if (mode != O_WRONLY)
    flags |= LURE__STREAM_READABLE;
  if (mode != O_RDONLY)
    flags |= LURE__STREAM_WRITABLE;
  /* fd is set up already (non-blocking or deliberately not); the stream
   * adopts it as it is.  This cannot fail for a fresh handle. */
  (void) lure__stream_open((lure_stream_t *) tty, fd, flags);
  return 0;
}

#define LURE__TTY_CHECK(t)                                                    \
  do {                                                                        \
    if (lure__handle_check((const lure_handle_t *) (t), LURE_TTY) != 0)       \
      return LURE_EINVAL;                                                     \
  } while (0)

LURE_EXTERN int lure_tty_set_mode(lure_tty_t *tty, lure_tty_mode_t mode) {
  struct termios t;
  int fd;
  int rc;

  LURE__TTY_CHECK(tty);
  if (mode != LURE_TTY_MODE_NORMAL && mode != LURE_TTY_MODE_RAW &&
      mode != LURE_TTY_MODE_IO)
    return LURE_EINVAL;
  if (tty->mode == (int) mode)
    return 0;
  fd = tty->io_watcher.fd;
  if (fd < 0)
    return LURE_EBADF;
  if (tty->mode == LURE_TTY_MODE_NORMAL) {
    /* Leaving the normal mode: remember it, for the way back and, for the
     * first terminal of the process, for lure_tty_reset_mode(). */
    do
      rc = tcgetattr(fd, &tty->orig_termios);
    while (rc != 0 && errno == EINTR);
    if (rc != 0)
      return -errno;
    while (!lure__tty_trylock())
      ; /* held only by a reset in a signal handler, for one call */
    if (lure__tty_saved_fd < 0) {
      lure__tty_saved = tty->orig_termios;
      lure__tty_saved_fd = fd;
    }
    lure__tty_unlock();
  }
  t = tty->orig_termios;
  if (mode == LURE_TTY_MODE_RAW) {
    /* Keys arrive one by one and unechoed, signals keys included; output
     * still turns \n into \r\n. */
    t.c_iflag &= ~(tcflag_t) (BRKINT | ICRNL | INPCK | ISTRIP | IXON);
    t.c_oflag |= ONLCR;
    t.c_cflag |= CS8;
    t.c_lflag &= ~(tcflag_t) (ECHO | ICANON | IEXTEN | ISIG);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
  } else if (mode == LURE_TTY_MODE_IO) {
    cfmakeraw(&t);
  }
  /* After the output queued so far has gone. */
  rc = lure__tcsetattr(fd, TCSADRAIN, &t);
  if (rc == 0)
    tty->mode = (int) mode;
  return rc;
}

/* Async-signal-safe: no allocation, no lock waited for, errno kept. */
LURE_EXTERN int lure_tty_reset_mode(void) {
  int saved_errno = errno;
  int rc = 0;

  if (!lure__tty_trylock())
    return LURE_EBUSY; /* interrupted lure_tty_set_mode() */
  if (lure__tty_saved_fd >= 0)
    rc = lure__tcsetattr(lure__tty_saved_fd, TCSANOW, &lure__tty_saved);
  lure__tty_unlock();
  errno = saved_errno;
  return rc;
}

LURE_EXTERN int lure_tty_get_winsize(lure_tty_t *tty, int *width,
                                     int *height) {
  struct winsize ws;
  int rc;

  LURE__TTY_CHECK(tty);
  if (width == NULL || height == NULL)
    return LURE_EINVAL;
  if (tty->io_watcher.fd < 0)
    return LURE_EBADF;
  do
    rc = ioctl(tty->io_watcher.fd, TIOCGWINSZ, &ws);
  while (rc != 0 && errno == EINTR);
  if (rc != 0)
    return -errno;
  *width = ws.ws_col;
  *height = ws.ws_row;
  return 0;
}

/* The virtual terminal state is a Windows console matter: setting it does
 * nothing here, and asking for it is LURE_ENOTSUP, as in libuv. */
LURE_EXTERN void lure_tty_set_vterm_state(lure_tty_vtermstate_t state) {
  (void) state;
}

LURE_EXTERN int lure_tty_get_vterm_state(lure_tty_vtermstate_t *state) {
  (void) state;
  return LURE_ENOTSUP;
}

