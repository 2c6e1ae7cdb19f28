/*
 * process.c - child processes: lure_spawn(), and the exit of each child
 * seen on the loop's one wait point.
 *
 * Field notes.
 *
 * Spawning is fork(2), then, in the child, only async-signal-safe calls up
 * to execvp(3).  Every descriptor lure makes is close-on-exec, made so
 * atomically, so the child gets the stdio it was given and nothing of
 * lure's.  The parent blocks its signals around fork(2) so that no handler
 * of the program (lure's own writes into a loop's signal pipe) runs in the
 * child before the child has reset the dispositions.
 *
 * A close-on-exec pipe carries the child's failure back: whatever fails in
 * the child before the exec (dup2, chdir, setgid, setuid, execvp) writes
 * its negative errno there and exits 127; end of file means the exec
 * happened.  So lure_spawn() returns ENOENT, EACCES, a bad cwd or a
 * refused uid synchronously, as libuv does, and reaps that child itself:
 * no exit callback, no zombie.  As in libuv the handle is initialised even
 * then, and the streams of LURE_CREATE_PIPE are opened, so the caller
 * closes everything the same way whatever the result.
 *
 * Exits.  Right after fork(2) the parent opens a pidfd (pidfd_open(2),
 * Linux 5.3, called through syscall(2): glibc before 2.36 has no wrapper)
 * and watches it for POLLIN with a lure__io watcher: the ring's POLL_ADD
 * or epoll serves it, whichever is the wait point, with no thread and no
 * signal handler.  A pidfd becomes readable when the child has exited;
 * waitid(P_PIDFD) (Linux 5.4; waitpid(2) on 5.3, which rejects P_PIDFD
 * with EINVAL) then reaps it.  The pid cannot be reused before that reap,
 * so kill(2) on it is safe until then.
 *
 * Where pidfd_open(2) is missing (ENOSYS: kernels before 5.3, some seccomp
 * policies), or LURE_PIDFD_DISABLE is set in the environment (how the tests
 * force this path), an internal signal handle watches SIGCHLD through
 * lure's signal machinery (signal.c: the handler writes into the loop's
 * signal pipe, itself watched on the wait point), and each SIGCHLD sweeps
 * the loop's children with waitid(WNOHANG).  That handle is started before
 * fork(2), so no exit is missed, and stopped when no child needs it.
 *
 * A handle closed before its child exits leaves the child to the loop: it
 * is reaped silently when it exits, so a closed handle leaves no zombie
 * while its loop lives.  A child whose status someone else took (SIGCHLD
 * set to SIG_IGN by the program, or its own waitpid(-1)) makes waitid fail
 * with ECHILD: its handle stops, without an exit callback (there is no
 * status to give), rather than keeping the loop alive for ever.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "internal.h"
#include "stream.h"

extern char **environ;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define LURE__PROCESS_ALL_FLAGS                                               \
  (LURE_PROCESS_SETUID | LURE_PROCESS_SETGID |                                \
   LURE_PROCESS_WINDOWS_VERBATIM_ARGUMENTS | LURE_PROCESS_DETACHED |          \
   LURE_PROCESS_WINDOWS_HIDE | LURE_PROCESS_WINDOWS_HIDE_CONSOLE |            \
   LURE_PROCESS_WINDOWS_HIDE_GUI)

#define LURE__STDIO_KIND                                                      \
  (LURE_CREATE_PIPE | LURE_INHERIT_FD | LURE_INHERIT_STREAM)
#define LURE__STDIO_ALL                                                       \
  (LURE__STDIO_KIND | LURE_READABLE_PIPE | LURE_WRITABLE_PIPE |               \
   LURE_NONBLOCK_PIPE)

/* A child whose handle was closed before it exited. */
struct lure__orphan {
  struct lure__io io;  /* its pidfd, or fd -1 when SIGCHLD serves it */
  pid_t pid;
  struct lure__queue queue;
};

/* The process state of one loop (loop->priv->proc_data), made on the first
 * lure_spawn(). */
struct lure__proc_loop {
  struct lure__queue procs;    /* lure_process_t not reaped yet */
  struct lure__queue orphans;  /* struct lure__orphan */
  lure_signal_t sigchld;       /* internal: the fallback's SIGCHLD handle */
  int sigchld_ready;           /* sigchld initialised */
  struct lure__pending sweep;  /* a sweep due in the pending phase */
  int sweep_queued;
};

/* pidfd_open(2) answered ENOSYS once: do not ask again. */
static int lure__pidfd_missing;

/* clone(2) refused CLONE_VM once: fork(2) from then on. */
static int lure__vfork_missing;

static struct lure__proc_loop *lure__proc_loop(lure_loop_t *loop) {
  struct lure__proc_loop *pl = loop->priv->proc_data;

  if (pl != NULL)
    return pl;
  pl = calloc(1, sizeof(*pl));
  if (pl == NULL)
    return NULL;
  lure__queue_init(&pl->procs);
  lure__queue_init(&pl->orphans);
  loop->priv->proc_data = pl;
  return pl;
}

/* ---- reaping -------------------------------------------------------------- */

/* Reap pid if it has exited: 1 (with *code and *sig set), 0 while it runs,
 * or a negative errno (ECHILD: its status went elsewhere). */
static int lure__reap(pid_t pid, int pidfd, int64_t *code, int *sig) {
  siginfo_t si;
  int status;
  int r;

  *code = 0;
  *sig = 0;
  memset(&si, 0, sizeof(si));
  do
    r = waitid(pidfd >= 0 ? (idtype_t) P_PIDFD : P_PID,
               pidfd >= 0 ? (id_t) pidfd : (id_t) pid, &si,
               WEXITED | WNOHANG);
  while (r != 0 && errno == EINTR);
  if (r == 0) {
    if (si.si_pid == 0)
      return 0;
    if (si.si_code == CLD_EXITED)
      *code = si.si_status;
    else
      *sig = si.si_status;
    return 1;
  }
  if (errno != EINVAL || pidfd < 0)
    return -errno;
  /* Linux 5.3: pidfd_open(2) but no P_PIDFD. */
  do
    r = waitpid(pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0)
    return 0;
  if (r < 0)
    return -errno;
  if (WIFEXITED(status))
    *code = WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    *sig = WTERMSIG(status);
  return 1;
}

static void lure__sigchld_cb(lure_signal_t *h, int signum);

/* Whether some child of the loop needs SIGCHLD (no pidfd). */
static int lure__sigchld_needed(struct lure__proc_loop *pl) {
  struct lure__queue *q;

  lure__queue_foreach(q, &pl->procs) {
    if (lure__container_of(q, lure_process_t, queue)->io_watcher.fd < 0)
      return 1;
  }
  lure__queue_foreach(q, &pl->orphans) {
    if (lure__container_of(q, struct lure__orphan, queue)->io.fd < 0)
      return 1;
  }
  return 0;
}

/* Start the SIGCHLD handle (want) or stop it when nothing needs it. */
static int lure__sigchld_update(lure_loop_t *loop, int want) {
  struct lure__proc_loop *pl = loop->priv->proc_data;
  int rc;

  if (want || lure__sigchld_needed(pl)) {
    if (!pl->sigchld_ready) {
      rc = lure_signal_init(loop, &pl->sigchld);
      if (rc != 0)
        return rc;
      /* lure's own: not walked, not keeping the loop alive (the process
       * handles do that), closed by lure_loop_close(). */
      pl->sigchld.flags |= LURE__HANDLE_INTERNAL;
      lure_unref((lure_handle_t *) &pl->sigchld);
      pl->sigchld_ready = 1;
    }
    return lure_signal_start(&pl->sigchld, lure__sigchld_cb, SIGCHLD);
  }
  if (pl->sigchld_ready)
    lure_signal_stop(&pl->sigchld);
  return 0;
}

static void lure__orphan_free(lure_loop_t *loop, struct lure__orphan *o) {
  lure__queue_remove(&o->queue);
  if (o->io.fd >= 0) {
    lure__io_close(loop, &o->io);
    close(o->io.fd);
  }
  free(o);
}

/* The child exited: the handle stops, then its callback runs. */
static void lure__process_done(lure_process_t *p, int rc, int64_t code,
                               int sig) {
  lure_loop_t *loop = p->loop;

  if (p->io_watcher.fd >= 0) {
    lure__io_close(loop, &p->io_watcher);
    close(p->io_watcher.fd);
    p->io_watcher.fd = -1;
  }
  lure__queue_remove(&p->queue);
  lure__queue_init(&p->queue);
  p->reaped = 1;
  lure__handle_stop((lure_handle_t *) p);
  (void) lure__sigchld_update(loop, 0);
  if (rc > 0 && p->exit_cb != NULL)
    p->exit_cb(p, code, sig);
}

/* Reap every child of the loop that SIGCHLD serves and that has exited. */
static void lure__sweep(lure_loop_t *loop) {
  struct lure__proc_loop *pl = loop->priv->proc_data;
  struct lure__queue done;
  struct lure__queue *q;
  struct lure__queue *next;
  lure_process_t *p;
  struct lure__orphan *o;
  int64_t code;
  int sig;
  int rc;

  for (q = pl->orphans.next; q != &pl->orphans; q = next) {
    next = q->next;
    o = lure__container_of(q, struct lure__orphan, queue);
    if (o->io.fd < 0 && lure__reap(o->pid, -1, &code, &sig) != 0)
      lure__orphan_free(loop, o);
  }
  /* Gather first: an exit callback may close or spawn other processes. */
  lure__queue_init(&done);
  for (q = pl->procs.next; q != &pl->procs; q = next) {
    next = q->next;
    p = lure__container_of(q, lure_process_t, queue);
    if (p->io_watcher.fd >= 0)
      continue;
    rc = lure__reap(p->pid, -1, &code, &sig);
    if (rc == 0)
      continue;
    /* Park the outcome in the handle until its turn. */
    p->reaped = rc > 0 ? 1 : -1;
    p->status = rc > 0 ? (sig != 0 ? (sig | 0x10000) : (int) code) : 0;
    lure__queue_remove(q);
    lure__queue_insert_tail(&done, q);
  }
  while (!lure__queue_empty(&done)) {
    q = lure__queue_head(&done);
    p = lure__container_of(q, lure_process_t, queue);
    sig = (p->status & 0x10000) ? (p->status & 0xffff) : 0;
    code = sig != 0 ? 0 : p->status;
    lure__process_done(p, p->reaped > 0 ? 1 : -ECHILD, code, sig);
  }
}

static void lure__sigchld_cb(lure_signal_t *h, int signum) {
  (void) signum;
  lure__sweep(h->loop);
}

static void lure__sweep_pending(lure_loop_t *loop, struct lure__pending *p) {
  struct lure__proc_loop *pl =
      lure__container_of(p, struct lure__proc_loop, sweep);

  pl->sweep_queued = 0;
  lure__sweep(loop);
}

/* A sweep in the next pending phase: for a child that came to SIGCHLD
 * after it was forked, whose signal may have come before the handler. */
static void lure__sweep_later(lure_loop_t *loop) {
  struct lure__proc_loop *pl = loop->priv->proc_data;

  if (pl->sweep_queued)
    return;
  pl->sweep_queued = 1;
  pl->sweep.cb = lure__sweep_pending;
  lure__pending_add(loop, &pl->sweep);
}

/* The pidfd of a running child is readable: it has exited. */
static void lure__process_io(lure_loop_t *loop, struct lure__io *w,
                             unsigned revents) {
  lure_process_t *p = lure__container_of(w, lure_process_t, io_watcher);
  int64_t code;
  int sig;
  int rc;

  (void) loop;
  (void) revents;
  rc = lure__reap(p->pid, w->fd, &code, &sig);
  if (rc != 0)
    lure__process_done(p, rc, code, sig);
}

static void lure__orphan_io(lure_loop_t *loop, struct lure__io *w,
                            unsigned revents) {
  struct lure__orphan *o = lure__container_of(w, struct lure__orphan, io);
  int64_t code;
  int sig;

  (void) revents;
  if (lure__reap(o->pid, w->fd, &code, &sig) != 0)
    lure__orphan_free(loop, o);
}

/* lure_close() of a process handle. */
void lure__process_close(lure_process_t *p) {
  lure_loop_t *loop = p->loop;
  struct lure__orphan *o;
  int fd = p->io_watcher.fd;

  if (!lure__queue_empty(&p->queue) && p->reaped == 0) {
    /* Still running: hand the child to the loop. */
    lure__queue_remove(&p->queue);
    lure__queue_init(&p->queue);
    if (fd >= 0)
      lure__io_close(loop, &p->io_watcher);
    p->io_watcher.fd = -1;
    o = malloc(sizeof(*o));
    if (o != NULL) {
      o->pid = p->pid;
      lure__io_init(&o->io, lure__orphan_io, fd);
      lure__queue_insert_tail(&((struct lure__proc_loop *)
                                    loop->priv->proc_data)->orphans,
                              &o->queue);
      if (fd >= 0 && lure__io_start(loop, &o->io, POLLIN) != 0) {
        close(fd);
        o->io.fd = -1;
      }
    } else if (fd >= 0) {
      close(fd); /* no memory: this one stays a zombie */
    }
    (void) lure__sigchld_update(loop, 0);
  } else if (!lure__queue_empty(&p->queue)) {
    /* Reaped by a sweep, its callback not run yet: it never will. */
    lure__queue_remove(&p->queue);
    lure__queue_init(&p->queue);
  }
  lure__handle_stop((lure_handle_t *) p);
}

/* lure_loop_close(): the children still running are left alone (reaping
 * them would block); their pidfds and lure's SIGCHLD handle go. */
void lure__process_loop_close(lure_loop_t *loop) {
  struct lure__proc_loop *pl = loop->priv->proc_data;
  struct lure__orphan *o;
  int64_t code;
  int sig;

  if (pl == NULL)
    return;
  while (!lure__queue_empty(&pl->orphans)) {
    o = lure__container_of(lure__queue_head(&pl->orphans),
                           struct lure__orphan, queue);
    (void) lure__reap(o->pid, o->io.fd, &code, &sig);
    lure__orphan_free(loop, o);
  }
  if (pl->sweep_queued)
    lure__queue_remove(&pl->sweep.queue);
  if (pl->sigchld_ready) {
    lure_signal_stop(&pl->sigchld);
    lure__queue_remove(&pl->sigchld.handle_queue);
  }
  free(pl);
  loop->priv->proc_data = NULL;
}

/* ---- spawning ------------------------------------------------------------- */

/* Make the child's side of one stdio entry: fds[1] for the child, fds[0]
 * for our end of a new socket pair. */
static int lure__stdio_prepare(const lure_stdio_container_t *c, int fds[2]) {
  lure_stream_t *s;
  int pair[2];

  if (((unsigned) c->flags & ~(unsigned) LURE__STDIO_ALL) != 0)
    return LURE_EINVAL;
  switch (c->flags & LURE__STDIO_KIND) {
    case LURE_IGNORE:
      return 0;
    case LURE_CREATE_PIPE:
      s = c->data.stream;
      if (s == NULL || s->type != LURE_NAMED_PIPE || s->loop == NULL ||
          lure__handle_is_closing((lure_handle_t *) s))
        return LURE_EINVAL;
      if (s->io_watcher.fd >= 0)
        return LURE_EBUSY;
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        return -errno;
      fds[0] = pair[0];
      fds[1] = pair[1];
      return 0;
    case LURE_INHERIT_FD:
      if (c->data.fd < 0)
        return LURE_EINVAL;
      fds[1] = c->data.fd;
      return 0;
    case LURE_INHERIT_STREAM:
      s = c->data.stream;
      if (s == NULL || !lure__is_stream((lure_handle_t *) s) ||
          s->io_watcher.fd < 0)
        return LURE_EINVAL;
      fds[1] = s->io_watcher.fd;
      return 0;
    default:
      return LURE_EINVAL;
  }
}

/* What the child gets: everything it reads, and scratch space of its own.
 * On the vfork path the child shares the parent's memory, so it writes only
 * here (fds, shargv, pathbuf) and on its own stack. */
struct lure__child_args {
  const lure_process_options_t *o;
  char **argv;
  char **envp;      /* the child's environment: o->env, or environ */
  int n;            /* descriptor slots */
  int *fds;         /* n: the descriptor each slot gets, or -1; scratch */
  char **shargv;    /* argc + 2 slots, for a script without #! */
  char *pathbuf;    /* LURE__PATH_BUF bytes, for the PATH search */
  int errfd;
};

#define LURE__PATH_BUF 4096
#define LURE__CHILD_STACK (64 * 1024)

/* Under AddressSanitizer the child's code is not instrumented: it runs on
 * a stack ASan does not know, and exits or execs from deep inside it, which
 * would leave that stack's shadow poisoned for the next child mapped at the
 * same address (a false "stack-buffer-overflow" in the child, seen as a
 * spawn that "succeeded").  The parent unpoisons the mapping as well. */
#if defined(__SANITIZE_ADDRESS__)
#define LURE__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LURE__ASAN 1
#endif
#endif
#ifdef LURE__ASAN
#include <sanitizer/asan_interface.h>
#define LURE__CHILD_CODE __attribute__((no_sanitize_address))
#define LURE__UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define LURE__CHILD_CODE
#define LURE__UNPOISON(p, n) ((void) 0)
#endif

/* The child's failure: its errno to the parent, then exit 127. */
LURE__CHILD_CODE
static void lure__child_fail(int errfd) {
  int e = -errno;
  ssize_t n;

  do
    n = write(errfd, &e, sizeof(e));
  while (n < 0 && errno == EINTR);
  _exit(127);
}

/* execve(2), and for a file the kernel cannot run (ENOEXEC: a script
 * without #!) /bin/sh on it, as execvp(3) does. */
LURE__CHILD_CODE
static void lure__child_execve(const char *path,
                               const struct lure__child_args *a) {
  int i;

  execve(path, a->argv, a->envp);
  if (errno != ENOEXEC)
    return;
  a->shargv[0] = "/bin/sh";
  a->shargv[1] = (char *) path;
  i = 1;
  if (a->argv[0] != NULL)
    for (; a->argv[i] != NULL; i++)
      a->shargv[i + 1] = a->argv[i];
  a->shargv[i + 1] = NULL;
  execve("/bin/sh", a->shargv, a->envp);
  errno = ENOEXEC;
}

/* execvp(3) with an explicit environment, whose PATH is searched (libuv
 * sets environ and calls execvp(3); the vfork path must not touch the
 * parent's environ).  The same search as glibc's: no PATH means
 * "/bin:/usr/bin", an empty element the working directory; EACCES is
 * remembered, a missing directory skipped, any other error final. */
LURE__CHILD_CODE
static void lure__child_exec(const struct lure__child_args *a) {
  const char *file = a->o->file;
  const char *path = NULL;
  const char *p;
  const char *end;
  size_t flen = strlen(file);
  size_t dlen;
  int eacces = 0;
  char **e;

  if (file[0] == '\0') {
    errno = ENOENT;
    return;
  }
  if (strchr(file, '/') != NULL) {
    lure__child_execve(file, a);
    return;
  }
  for (e = a->envp; e != NULL && *e != NULL; e++)
    if (strncmp(*e, "PATH=", 5) == 0) {
      path = *e + 5;
      break;
    }
  if (path == NULL)
    path = "/bin:/usr/bin";
  errno = ENOENT;
  for (p = path;; p = end + 1) {
    end = strchrnul(p, ':');
    dlen = (size_t) (end - p);
    if (dlen + flen + 2 <= LURE__PATH_BUF) {
      memcpy(a->pathbuf, p, dlen);
      if (dlen > 0)
        a->pathbuf[dlen++] = '/';
      memcpy(a->pathbuf + dlen, file, flen + 1);
      lure__child_execve(a->pathbuf, a);
      switch (errno) {
        case EACCES:
          eacces = 1;
          break;
        case ENOENT:
        case ENOTDIR:
        case ESTALE:
        case ENODEV:
        case ETIMEDOUT:
          break;
        default:
          return;
      }
    }
    if (*end == '\0')
      break;
  }
  if (eacces)
    errno = EACCES;
}

/* In the child, between clone/fork and exec: async-signal-safe calls only,
 * and on the vfork path no write to memory but its own (struct
 * lure__child_args says which) and no glibc call that acts on the whole
 * process: setgroups/setgid/setuid are raw system calls, which change this
 * task only, not the parent's threads. */
LURE__CHILD_CODE
static int lure__child(void *arg) {
  const struct lure__child_args *a = arg;
  const lure_process_options_t *o = a->o;
  int *fds = a->fds;
  int n = a->n;
  int errfd = a->errfd;
  struct sigaction sa;
  sigset_t none;
  int use;
  int fl;
  int i;

  /* Default dispositions for the classic signals (the realtime ones are
   * glibc's own).  Caught signals would be reset by the exec anyway; this
   * undoes the ignored ones, SIGPIPE above all, and keeps the program's
   * handlers from running in a child that shares its memory. */
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (i = 1; i < 32; i++) {
    if (i == SIGKILL || i == SIGSTOP)
      continue;
    if (sigaction(i, &sa, NULL) != 0)
      lure__child_fail(errfd);
  }

  if (o->flags & LURE_PROCESS_DETACHED)
    setsid();

  /* The error pipe must survive the dup2() calls below. */
  if (errfd < n) {
    use = fcntl(errfd, F_DUPFD_CLOEXEC, n);
    if (use < 0)
      _exit(127);
    errfd = use;
  }
  /* A source below its own slot may be the target of an earlier slot (the
   * swap of stdout and stderr): move those out of the way first. */
  for (i = 0; i < n; i++) {
    use = fds[i];
    if (use < 0 || use >= i)
      continue;
    fds[i] = fcntl(use, F_DUPFD_CLOEXEC, n);
    if (fds[i] < 0)
      lure__child_fail(errfd);
  }
  for (i = 0; i < n; i++) {
    use = fds[i];
    if (use < 0) {
      if (i >= 3)
        continue;
      /* LURE_IGNORE on 0-2: /dev/null, as libuv. */
      use = open("/dev/null", i == 0 ? O_RDONLY : O_RDWR);
      if (use < 0)
        lure__child_fail(errfd);
      if (use != i) {
        if (dup2(use, i) < 0)
          lure__child_fail(errfd);
        close(use);
      }
      continue;
    }
    if (use == i) {
      if (fcntl(i, F_SETFD, 0) != 0)
        lure__child_fail(errfd);
    } else if (dup2(use, i) < 0) {
      lure__child_fail(errfd);
    }
    /* The standard descriptors are blocking, as programs expect. */
    if (i <= 2) {
      fl = fcntl(i, F_GETFL);
      if (fl >= 0 && (fl & O_NONBLOCK))
        (void) fcntl(i, F_SETFL, fl & ~O_NONBLOCK);
    }
  }

  if (o->cwd != NULL && chdir(o->cwd) != 0)
    lure__child_fail(errfd);
  if (o->flags & (LURE_PROCESS_SETUID | LURE_PROCESS_SETGID)) {
    /* Drop the supplementary groups root had; fails harmlessly when we
     * are not root. */
    (void) syscall(SYS_setgroups, 0, NULL);
  }
  if ((o->flags & LURE_PROCESS_SETGID) &&
      syscall(SYS_setgid, (long) o->gid) != 0)
    lure__child_fail(errfd);
  if ((o->flags & LURE_PROCESS_SETUID) &&
      syscall(SYS_setuid, (long) o->uid) != 0)
    lure__child_fail(errfd);
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
    lure__child_fail(errfd);
  lure__child_exec(a);
  lure__child_fail(errfd);
  return 127;
}

/* An environment switch is on when set, not empty and not "0". */
static int lure__env_on(const char *name) {
  const char *v = getenv(name);

  return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

static int lure__pidfd_wanted(void) {
  return !lure__pidfd_missing && !lure__env_on("LURE_PIDFD_DISABLE");
}

/* LURE_SPAWN_FORK on: fork(2) instead of the vfork clone. */
static int lure__spawn_fork_wanted(void) {
  return lure__vfork_missing || lure__env_on("LURE_SPAWN_FORK");
}

/* Start the child: clone(2) with CLONE_VM | CLONE_VFORK on a stack of its
 * own (no page tables copied, nothing for the parent to fault back in
 * afterwards; the calling thread waits until the child has exec'd or
 * died), else fork(2). */
static pid_t lure__start_child(struct lure__child_args *a, char *stack_top) {
  pid_t pid;

  if (!lure__spawn_fork_wanted()) {
    pid = clone(lure__child, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, a);
    if (pid >= 0 || (errno != ENOSYS && errno != EINVAL && errno != EPERM))
      return pid;
    /* A policy that refuses CLONE_VM for processes: fork from now on. */
    lure__vfork_missing = 1;
  }
  pid = fork();
  if (pid == 0)
    _exit(lure__child(a));
  return pid;
}

/* Fork and exec; *pidfd gets the child's pidfd or -1.  Returns 0 when the
 * exec happened, else the child's errno (the child is reaped) or fork's. */
static int lure__fork_exec(const lure_process_options_t *o, char **argv,
                           int n, int (*pipes)[2], int use_pidfd,
                           pid_t *pid_out, int *pidfd) {
  struct lure__child_args a;
  sigset_t all;
  sigset_t saved;
  int errpipe[2];
  int status;
  int err = 0;
  size_t argc = 0;
  size_t size;
  char *mem;
  ssize_t r;
  pid_t pid;
  int i;

  *pidfd = -1;
  while (argv[argc] != NULL)
    argc++;
  /* One mapping: the child's stack, then its scratch space. */
  size = LURE__CHILD_STACK + (size_t) n * sizeof(int) +
         (argc + 2) * sizeof(char *) + LURE__PATH_BUF;
  size = (size + 4095) & ~(size_t) 4095;
  mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED)
    return LURE_ENOMEM;
  LURE__UNPOISON(mem, size);
  a.o = o;
  a.argv = argv;
  a.envp = o->env != NULL ? o->env : environ;
  a.n = n;
  a.shargv = (char **) (mem + LURE__CHILD_STACK);
  a.pathbuf = (char *) (a.shargv + argc + 2);
  a.fds = (int *) (a.pathbuf + LURE__PATH_BUF);
  for (i = 0; i < n; i++)
    a.fds[i] = pipes[i][1];
  if (pipe2(errpipe, O_CLOEXEC) != 0) {
    err = -errno;
    munmap(mem, size);
    return err;
  }
  a.errfd = errpipe[1];
  /* Everything blocked but the faults a broken program raises. */
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  sigdelset(&all, SIGTRAP);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  sigdelset(&all, SIGILL);
  sigdelset(&all, SIGSYS);
  sigdelset(&all, SIGABRT);
  pthread_sigmask(SIG_BLOCK, &all, &saved);
  pid = lure__start_child(&a, mem + LURE__CHILD_STACK);
  if (pid < 0)
    err = -errno;
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  close(errpipe[1]);
  munmap(mem, size);
  if (pid < 0) {
    close(errpipe[0]);
    return err;
  }
  /* Before anything else can reap it. */
  if (use_pidfd) {
    *pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
    if (*pidfd < 0 && errno == ENOSYS)
      lure__pidfd_missing = 1;
    if (*pidfd >= 0)
      (void) lure__cloexec(*pidfd, 1); /* pidfds are; be sure */
  }
  do
    r = read(errpipe[0], &err, sizeof(err));
  while (r < 0 && errno == EINTR);
  close(errpipe[0]);
  if (r == 0) {
    *pid_out = pid;
    return 0;
  }
  if (r != (ssize_t) sizeof(err) || err >= 0)
    err = LURE_EPIPE; /* the child died before it could tell */
  /* The child exits at once after writing: reap it here. */
  do
    r = waitpid(pid, &status, 0);
  while (r < 0 && errno == EINTR);
  if (*pidfd >= 0) {
    close(*pidfd);
    *pidfd = -1;
  }
  return err;
}

LURE_EXTERN int lure_spawn(lure_loop_t *loop, lure_process_t *process,
                           const lure_process_options_t *options) {
  int storage[8][2];
  int (*pipes)[2] = storage;
  struct lure__proc_loop *pl;
  char *argv0[2];
  char **argv;
  unsigned sflags;
  int use_pidfd;
  int pidfd = -1;
  pid_t pid = 0;
  int n;
  int i;
  int rc;
  int err;

  if (loop == NULL || loop->priv == NULL || process == NULL)
    return LURE_EINVAL;
  /* From here on the handle is initialised whatever happens, as libuv's:
   * the caller closes it. */
  lure__handle_init(loop, (lure_handle_t *) process, LURE_PROCESS);
  process->exit_cb = NULL;
  process->pid = 0;
  process->reaped = 0;
  process->status = 0;
  lure__io_init(&process->io_watcher, lure__process_io, -1);
  lure__queue_init(&process->queue);

  if (options == NULL || options->file == NULL ||
      (options->flags & ~(unsigned) LURE__PROCESS_ALL_FLAGS) != 0 ||
      options->stdio_count < 0 ||
      (options->stdio_count > 0 && options->stdio == NULL))
    return LURE_EINVAL;
  pl = lure__proc_loop(loop);
  if (pl == NULL)
    return LURE_ENOMEM;

  n = options->stdio_count < 3 ? 3 : options->stdio_count;
  if (n > (int) (sizeof(storage) / sizeof(storage[0]))) {
    pipes = malloc((size_t) n * sizeof(*pipes));
    if (pipes == NULL)
      return LURE_ENOMEM;
  }
  for (i = 0; i < n; i++)
    pipes[i][0] = pipes[i][1] = -1;
  for (i = 0; i < options->stdio_count; i++) {
    rc = lure__stdio_prepare(&options->stdio[i], pipes[i]);
    if (rc != 0)
      goto fail;
  }

  argv = options->args;
  if (argv == NULL) {
    argv0[0] = (char *) options->file;
    argv0[1] = NULL;
    argv = argv0;
  }

  use_pidfd = lure__pidfd_wanted();
  if (!use_pidfd) {
    /* The handler must be in place before the child can exit. */
    rc = lure__sigchld_update(loop, 1);
    if (rc != 0)
      goto fail;
  }
  err = lure__fork_exec(options, argv, n, pipes, use_pidfd, &pid, &pidfd);
  if (err == 0) {
    process->pid = pid;
    process->exit_cb = options->exit_cb;
    lure__queue_insert_tail(&pl->procs, &process->queue);
    lure__handle_start((lure_handle_t *) process);
    if (pidfd >= 0) {
      process->io_watcher.fd = pidfd;
      if (lure__io_start(loop, &process->io_watcher, POLLIN) != 0) {
        close(pidfd);
        process->io_watcher.fd = -1;
      }
    }
    if (process->io_watcher.fd < 0 && use_pidfd) {
      /* No pidfd after all (a descriptor limit, an old kernel): SIGCHLD,
       * and a sweep in case the child's signal came first. */
      (void) lure__sigchld_update(loop, 1);
      lure__sweep_later(loop);
    }
  }
  if (!use_pidfd || err != 0)
    (void) lure__sigchld_update(loop, 0);

  /* Our ends of the socket pairs go to their streams even when the exec
   * failed, as libuv does: the caller closes them like any other. */
  rc = 0;
  for (i = 0; i < options->stdio_count; i++) {
    const lure_stdio_container_t *c = &options->stdio[i];

    if ((c->flags & LURE__STDIO_KIND) != LURE_CREATE_PIPE)
      continue;
    close(pipes[i][1]);
    pipes[i][1] = -1;
    sflags = 0;
    /* What the child writes we read, and the other way round. */
    if (c->flags & LURE_WRITABLE_PIPE)
      sflags |= LURE__STREAM_READABLE;
    if (c->flags & LURE_READABLE_PIPE)
      sflags |= LURE__STREAM_WRITABLE;
    if (rc == 0)
      rc = lure__stream_open(c->data.stream, pipes[i][0], sflags);
    if (rc != 0)
      close(pipes[i][0]);
    pipes[i][0] = -1;
  }
  if (pipes != storage)
    free(pipes);
  return err != 0 ? err : rc;

fail:
  for (i = 0; i < options->stdio_count; i++) {
    if ((options->stdio[i].flags & LURE__STDIO_KIND) != LURE_CREATE_PIPE)
      continue;
    if (pipes[i][0] >= 0)
      close(pipes[i][0]);
    if (pipes[i][1] >= 0)
      close(pipes[i][1]);
  }
  if (pipes != storage)
    free(pipes);
  return rc;
}

/* ---- signals and small calls ---------------------------------------------- */

LURE_EXTERN int lure_process_kill(lure_process_t *process, int signum) {
  if (process == NULL || process->type != LURE_PROCESS ||
      process->loop == NULL)
    return LURE_EINVAL;
  /* Not started, already reaped, or closed (its child handed to the
   * loop, maybe reaped and its pid reused): nothing of ours to signal. */
  if (process->pid <= 0 || process->reaped ||
      lure__queue_empty(&process->queue))
    return LURE_ESRCH;
  return lure_kill(process->pid, signum);
}

LURE_EXTERN int lure_kill(int pid, int signum) {
  return kill(pid, signum) != 0 ? -errno : 0;
}

LURE_EXTERN lure_pid_t lure_process_get_pid(const lure_process_t *process) {
  return process == NULL ? 0 : process->pid;
}

/* Mark every descriptor close-on-exec: those the program inherited and
 * does not know of must not reach the children it spawns. */
LURE_EXTERN void lure_disable_stdio_inheritance(void) {
  struct rlimit rl;
  struct dirent *de;
  DIR *d;
  long fd;
  long max;

  if (syscall(SYS_close_range, 0U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
    return;
  /* Before Linux 5.11: each open descriptor, as /proc lists them. */
  d = opendir("/proc/self/fd");
  if (d != NULL) {
    while ((de = readdir(d)) != NULL) {
      if (de->d_name[0] < '0' || de->d_name[0] > '9')
        continue;
      fd = strtol(de->d_name, NULL, 10);
      if (fd != dirfd(d))
        (void) lure__cloexec((int) fd, 1);
    }
    closedir(d);
    return;
  }
  max = 1024;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < 65536)
    max = (long) rl.rlim_cur;
  for (fd = 0; fd < max; fd++)
    (void) lure__cloexec((int) fd, 1);
}

