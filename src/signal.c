/*
 * signal.c - signal handles.
 *
 * One process-wide handler serves every loop.  It walks the global list of
 * started signal handles and writes a message {handle, signum} into the
 * signal pipe of each watching handle's loop; the loop reads the pipe (a
 * watcher on its wait point) and calls the callbacks on its own thread.
 * Several loops watching one signal each get it.
 *
 * The list is guarded by a lock made of a pipe holding one token: taking it
 * is a blocking read(2) and giving it back a write(2), both
 * async-signal-safe, so the handler itself can take it.  Threads changing
 * the list block all signals first, so the handler can never interrupt the
 * holder on the same thread.  The lock pipe is remade in a forked child.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

struct lure__signal_msg {
  lure_signal_t *handle;
  int signum;
};

static pthread_once_t lure__sig_once = PTHREAD_ONCE_INIT;
static int lure__sig_lock_pipe[2] = { -1, -1 };
static lure_signal_t *lure__sig_list;
static unsigned int lure__sig_count[NSIG];

static void lure__sig_lock(void) {
  char c;

  while (read(lure__sig_lock_pipe[0], &c, 1) < 0 && errno == EINTR)
    ;
}

static void lure__sig_unlock(void) {
  char c = 0;

  while (write(lure__sig_lock_pipe[1], &c, 1) < 0 && errno == EINTR)
    ;
}

static int lure__sig_lock_open(void) {
  if (pipe2(lure__sig_lock_pipe, O_CLOEXEC) != 0)
    return -errno;
  lure__sig_unlock();
  return 0;
}

static void lure__sig_atfork_prepare(void);
static void lure__sig_atfork_parent(void);
static void lure__sig_atfork_child(void);

static int lure__sig_init_rc;

static void lure__sig_once_init(void) {
  lure__sig_init_rc = lure__sig_lock_open();
  if (lure__sig_init_rc == 0)
    pthread_atfork(lure__sig_atfork_prepare, lure__sig_atfork_parent,
                   lure__sig_atfork_child);
}

/* Block every signal on this thread and take the lock. */
static void lure__sig_enter(sigset_t *saved) {
  sigset_t all;

  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, saved);
  lure__sig_lock();
}

static void lure__sig_leave(const sigset_t *saved) {
  lure__sig_unlock();
  pthread_sigmask(SIG_SETMASK, saved, NULL);
}

static sigset_t lure__sig_fork_saved;

static void lure__sig_atfork_prepare(void) {
  lure__sig_enter(&lure__sig_fork_saved);
}

static void lure__sig_atfork_parent(void) {
  lure__sig_leave(&lure__sig_fork_saved);
}

static void lure__sig_atfork_child(void) {
  /* The lock pipe is shared with the parent; make our own (held: the
   * parent took the token before fork). */
  close(lure__sig_lock_pipe[0]);
  close(lure__sig_lock_pipe[1]);
  /* Without a new pipe (fd limit) signal handles fail from now on in the
   * child instead of sharing the parent's lock. */
  lure__sig_init_rc = lure__sig_lock_open();
  pthread_sigmask(SIG_SETMASK, &lure__sig_fork_saved, NULL);
}

static void lure__sig_handler(int signum) {
  struct lure__signal_msg msg;
  lure_signal_t *h;
  int saved_errno = errno;
  ssize_t n;

  /* The padding after signum goes into the pipe too: zero it all
   * (memset is async-signal-safe since POSIX.1-2016). */
  memset(&msg, 0, sizeof(msg));
  lure__sig_lock();
  for (h = lure__sig_list; h != NULL; h = h->global_next) {
    if (h->signum != signum)
      continue;
    msg.handle = h;
    msg.signum = signum;
    do
      n = write(h->loop->priv->signal_pipe[1], &msg, sizeof(msg));
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t) sizeof(msg))
      h->caught++;
  }
  lure__sig_unlock();
  errno = saved_errno;
}

/* Loop side: deliver the messages in the signal pipe. */
static void lure__signal_io(lure_loop_t *loop, struct lure__io *w,
                            unsigned revents) {
  struct lure__signal_msg msgs[32];
  lure_signal_t *h;
  lure_signal_t *found;
  sigset_t saved;
  ssize_t n;
  size_t i;

  for (;;) {
    n = read(w->fd, msgs, sizeof(msgs));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    for (i = 0; i < (size_t) n / sizeof(msgs[0]); i++) {
      /* The handle may have been stopped (and freed) since the handler
       * wrote: deliver only to a handle still started on this loop. */
      lure__sig_enter(&saved);
      for (found = lure__sig_list; found != NULL; found = found->global_next)
        if (found == msgs[i].handle)
          break;
      lure__sig_leave(&saved);
      h = found;
      if (h == NULL || h->loop != loop || h->signum != msgs[i].signum)
        continue;
      h->dispatched++;
      if (h->flags & LURE__SIGNAL_ONESHOT)
        lure_signal_stop(h);
      h->signal_cb(h, msgs[i].signum);
    }
    if ((size_t) n < sizeof(msgs))
      return;
  }
}

static int lure__signal_loop_open(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;
  int rc;

  if (p->signal_pipe[0] >= 0)
    return 0;
  if (pipe2(p->signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    return -errno;
  lure__io_init(&p->signal_io, lure__signal_io, p->signal_pipe[0]);
  p->signal_io.flags = LURE__IO_DRAINS;
  rc = lure__io_start(loop, &p->signal_io, POLLIN);
  if (rc != 0) {
    close(p->signal_pipe[0]);
    close(p->signal_pipe[1]);
    p->signal_pipe[0] = p->signal_pipe[1] = -1;
  }
  return rc;
}

void lure__signal_loop_close(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;

  if (p->signal_pipe[0] < 0)
    return;
  lure__io_close(loop, &p->signal_io);
  close(p->signal_pipe[0]);
  close(p->signal_pipe[1]);
  p->signal_pipe[0] = p->signal_pipe[1] = -1;
}

int lure__signal_loop_fork(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;
  int fds[2];

  if (p->signal_pipe[0] < 0)
    return 0;
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
    return -errno;
  close(p->signal_pipe[0]);
  close(p->signal_pipe[1]);
  p->signal_pipe[0] = fds[0];
  p->signal_pipe[1] = fds[1];
  p->signal_io.fd = fds[0];
  return 0;
}

LURE_EXTERN int lure_signal_init(lure_loop_t *loop, lure_signal_t *h) {
  int rc;

  if (loop == NULL || loop->priv == NULL || h == NULL)
    return LURE_EINVAL;
  pthread_once(&lure__sig_once, lure__sig_once_init);
  if (lure__sig_init_rc != 0)
    return lure__sig_init_rc;
  rc = lure__signal_loop_open(loop);
  if (rc != 0)
    return rc;
  lure__handle_init(loop, (lure_handle_t *) h, LURE_SIGNAL);
  h->signal_cb = NULL;
  h->signum = 0;
  h->global_next = NULL;
  h->caught = 0;
  h->dispatched = 0;
  return 0;
}

static int lure__signal_start(lure_signal_t *h, lure_signal_cb cb, int signum,
                              int oneshot) {
  struct sigaction sa;
  sigset_t saved;
  int rc = lure__handle_check((lure_handle_t *) h, LURE_SIGNAL);

  if (rc != 0)
    return rc;
  if (cb == NULL || signum <= 0 || signum >= NSIG || signum == SIGKILL ||
      signum == SIGSTOP)
    return LURE_EINVAL;
  if (lure__handle_is_active((lure_handle_t *) h)) {
    if (h->signum == signum) {
      h->signal_cb = cb;
      if (oneshot)
        h->flags |= LURE__SIGNAL_ONESHOT;
      else
        h->flags &= ~LURE__SIGNAL_ONESHOT;
      return 0;
    }
    lure_signal_stop(h);
  }

  lure__sig_enter(&saved);
  if (lure__sig_count[signum] == 0) {
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = lure__sig_handler;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(signum, &sa, NULL) != 0) {
      rc = -errno;
      lure__sig_leave(&saved);
      return rc;
    }
  }
  lure__sig_count[signum]++;
  h->signum = signum;
  h->signal_cb = cb;
  h->global_next = lure__sig_list;
  lure__sig_list = h;
  if (oneshot)
    h->flags |= LURE__SIGNAL_ONESHOT;
  else
    h->flags &= ~LURE__SIGNAL_ONESHOT;
  lure__sig_leave(&saved);
  lure__handle_start((lure_handle_t *) h);
  return 0;
}

LURE_EXTERN int lure_signal_start(lure_signal_t *h, lure_signal_cb cb,
                                  int signum) {
  return lure__signal_start(h, cb, signum, 0);
}

LURE_EXTERN int lure_signal_start_oneshot(lure_signal_t *h, lure_signal_cb cb,
                                          int signum) {
  return lure__signal_start(h, cb, signum, 1);
}

LURE_EXTERN int lure_signal_stop(lure_signal_t *h) {
  struct sigaction sa;
  lure_signal_t **pp;
  sigset_t saved;

  if (h == NULL || h->type != LURE_SIGNAL || h->loop == NULL)
    return LURE_EINVAL;
  if (!lure__handle_is_active((lure_handle_t *) h))
    return 0;
  lure__sig_enter(&saved);
  for (pp = &lure__sig_list; *pp != NULL; pp = &(*pp)->global_next) {
    if (*pp == h) {
      *pp = h->global_next;
      break;
    }
  }
  h->global_next = NULL;
  if (--lure__sig_count[h->signum] == 0) {
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(h->signum, &sa, NULL);
  }
  lure__sig_leave(&saved);
  lure__handle_stop((lure_handle_t *) h);
  return 0;
}

void lure__signal_close(lure_signal_t *h) {
  lure_signal_stop(h);
}
