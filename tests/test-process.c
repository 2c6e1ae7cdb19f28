/*
 * test-process.c - child processes: exit codes and signals exactly, the
 * stdio kinds (pipes both ways, inherited descriptors, /dev/null), no
 * descriptor leaking into the child, detached sessions, environment and
 * working directory, synchronous spawn failures, closing before the child
 * exits (no zombie), and every argument error.
 *
 * Most tests run four times (tcase_add_loop_test, _i): bit 0 of _i set
 * means LURE_PIDFD_DISABLE, so that SIGCHLD through lure's signal handles
 * serves the exits instead of a pidfd on the wait point; bit 1 set means
 * LURE_SPAWN_FORK, so that fork(2) starts the child instead of the vfork
 * clone (CLONE_VM | CLONE_VFORK).  Each test runs in its
 * own process (CK_FORK), so the environment and dispositions are its own.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "harness.h"

extern char **environ;

struct exit_rec {
  int calls;
  int64_t status;
  int signal;
  int close_in_cb;
};

static void exit_rec_cb(lure_process_t *p, int64_t status, int sig) {
  struct exit_rec *r = p->data;

  r->calls++;
  r->status = status;
  r->signal = sig;
  /* The handle is no longer active when its callback runs. */
  ck_assert_int_eq(lure_is_active((lure_handle_t *) p), 0);
  if (r->close_in_cb)
    lure_close((lure_handle_t *) p, NULL);
}

static void set_mode(int i) {
  if (i & 1)
    ck_assert_int_eq(setenv("LURE_PIDFD_DISABLE", "1", 1), 0);
  else
    unsetenv("LURE_PIDFD_DISABLE");
  if (i & 2)
    ck_assert_int_eq(setenv("LURE_SPAWN_FORK", "1", 1), 0);
  else
    unsetenv("LURE_SPAWN_FORK");
}

static void sh_options(lure_process_options_t *o, char **argv,
                       const char *script) {
  memset(o, 0, sizeof(*o));
  argv[0] = "sh";
  argv[1] = "-c";
  argv[2] = (char *) script;
  argv[3] = NULL;
  o->file = "/bin/sh";
  o->args = argv;
  o->exit_cb = exit_rec_cb;
}

/* Spawn script, run until it exits, return the record. */
static struct exit_rec run_script(lure_loop_t *loop, const char *script) {
  lure_process_options_t o;
  lure_process_t p;
  struct exit_rec r = { 0, -1, -1, 1 };
  char *argv[4];

  sh_options(&o, argv, script);
  p.data = &r;
  ck_assert_int_eq(lure_spawn(loop, &p, &o), 0);
  ck_assert_int_gt(p.pid, 0);
  ck_assert_int_eq(lure_process_get_pid(&p), p.pid);
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &p), 0);
  ck_assert_int_eq(lure_run(loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 1);
  return r;
}

/* No child of ours is left unreaped. */
static void assert_no_children(void) {
  errno = 0;
  ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
  ck_assert_int_eq(errno, ECHILD);
}

START_TEST(process_exit_status) {
  lure_loop_t loop;
  lure_timer_t wd;
  struct exit_rec r;

  set_mode(_i);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "a child's exit was never seen");
  r = run_script(&loop, "exit 0");
  ck_assert_int_eq(r.status, 0);
  ck_assert_int_eq(r.signal, 0);
  r = run_script(&loop, "exit 42");
  ck_assert_int_eq(r.status, 42);
  ck_assert_int_eq(r.signal, 0);
  r = run_script(&loop, "exit 255");
  ck_assert_int_eq(r.status, 255);
  r = run_script(&loop, "kill -TERM $$");
  ck_assert_int_eq(r.status, 0);
  ck_assert_int_eq(r.signal, SIGTERM);
  r = run_script(&loop, "kill -USR1 $$");
  ck_assert_int_eq(r.signal, SIGUSR1);
  lt_loop_finish(&loop);
  assert_no_children();
}
END_TEST

/* lure_process_kill() on a running child; then ESRCH once it is reaped. */
START_TEST(process_kill) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_process_options_t o;
  lure_process_t p;
  struct exit_rec r = { 0, -1, -1, 0 };
  char *argv[4];

  set_mode(_i);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the killed child's exit was never seen");
  sh_options(&o, argv, "exec sleep 30");
  p.data = &r;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), 0);
  /* Signal 0 checks that it is there. */
  ck_assert_int_eq(lure_process_kill(&p, 0), 0);
  ck_assert_int_eq(lure_kill(p.pid, 0), 0);
  ck_assert_int_eq(lure_process_kill(&p, SIGKILL), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 1);
  ck_assert_int_eq(r.status, 0);
  ck_assert_int_eq(r.signal, SIGKILL);
  ck_assert_int_eq(lure_process_kill(&p, SIGTERM), LURE_ESRCH);
  ck_assert_int_eq(lure_process_kill(&p, 0), LURE_ESRCH);
  lt_loop_finish(&loop);
  assert_no_children();
}
END_TEST

struct reader {
  char buf[4096];
  size_t len;
  int eof;
};

static void rd_alloc(lure_handle_t *h, size_t size, lure_buf_t *buf) {
  struct reader *r = h->data;

  (void) size;
  buf->base = r->buf + r->len;
  buf->len = sizeof(r->buf) - 1 - r->len;
}

static void rd_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct reader *r = s->data;

  (void) buf;
  if (n > 0) {
    r->len += (size_t) n;
    r->buf[r->len] = '\0';
  } else if (n == LURE_EOF) {
    r->eof = 1;
    lure_close((lure_handle_t *) s, NULL);
  } else if (n < 0) {
    ck_abort_msg("read error %s", lure_err_name((int) n));
  }
}

/* LURE_CREATE_PIPE both ways: what we write to the child's stdin comes
 * back on its stdout; its stderr is a third pipe. */
START_TEST(process_pipes) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_process_options_t o;
  lure_process_t p;
  lure_pipe_t in, out, err;
  lure_stdio_container_t stdio[3];
  lure_write_t wr;
  lure_shutdown_t sh;
  lure_buf_t b = lure_buf_init("ping\n", 5);
  struct exit_rec r = { 0, -1, -1, 1 };
  struct reader ro = { "", 0, 0 };
  struct reader re = { "", 0, 0 };
  char *argv[4];

  set_mode(_i);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the piped child never finished");
  ck_assert_int_eq(lure_pipe_init(&loop, &in, 0), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &out, 0), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &err, 0), 0);
  sh_options(&o, argv, "read line; echo \"got $line\"; echo oops >&2; exit 3");
  stdio[0].flags = LURE_CREATE_PIPE | LURE_READABLE_PIPE;
  stdio[0].data.stream = (lure_stream_t *) &in;
  stdio[1].flags = LURE_CREATE_PIPE | LURE_WRITABLE_PIPE;
  stdio[1].data.stream = (lure_stream_t *) &out;
  stdio[2].flags = LURE_CREATE_PIPE | LURE_WRITABLE_PIPE;
  stdio[2].data.stream = (lure_stream_t *) &err;
  o.stdio = stdio;
  o.stdio_count = 3;
  p.data = &r;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), 0);
  /* Our end of stdin is writable only, of stdout readable only. */
  ck_assert_int_ne(lure_is_writable((lure_stream_t *) &in), 0);
  ck_assert_int_eq(lure_is_readable((lure_stream_t *) &in), 0);
  ck_assert_int_ne(lure_is_readable((lure_stream_t *) &out), 0);
  ck_assert_int_eq(lure_is_writable((lure_stream_t *) &out), 0);
  out.data = &ro;
  err.data = &re;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &out, rd_alloc, rd_read),
                   0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &err, rd_alloc, rd_read),
                   0);
  ck_assert_int_eq(lure_write(&wr, (lure_stream_t *) &in, &b, 1, NULL), 0);
  ck_assert_int_eq(lure_shutdown(&sh, (lure_stream_t *) &in, NULL), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 1);
  ck_assert_int_eq(r.status, 3);
  ck_assert_str_eq(ro.buf, "got ping\n");
  ck_assert_str_eq(re.buf, "oops\n");
  ck_assert_int_eq(ro.eof, 1);
  ck_assert_int_eq(re.eof, 1);
  lt_loop_finish(&loop);
}
END_TEST

/* LURE_INHERIT_FD above 2, stdout and stderr swapped, LURE_IGNORE giving
 * /dev/null, and nothing else open in the child. */
START_TEST(process_inherit_and_leaks) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_process_options_t o;
  lure_process_t p;
  lure_stdio_container_t stdio[5];
  struct exit_rec r = { 0, -1, -1, 1 };
  char *argv[4];
  char buf[256];
  int a[2], c[2];
  ssize_t n;

  set_mode(_i);
  /* What the test process inherited itself (the harness's descriptors)
   * is not lure's to hide: mark it before the loop exists, so that any
   * descriptor the loop makes without close-on-exec still shows. */
  lure_disable_stdio_inheritance();
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the child never finished");
  ck_assert_int_eq(pipe2(a, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(c, O_CLOEXEC), 0);
  /* fd 1 -> c, fd 2 -> a, fd 4 -> a; 0 and 3 ignored (3: closed). */
  sh_options(&o, argv,
             "[ \"$(readlink /proc/$$/fd/0)\" = /dev/null ] || exit 10; "
             "[ -e /proc/$$/fd/3 ] && exit 11; "
             "echo out; echo err >&2; echo four >&4; "
             "i=3; while [ $i -lt 1024 ]; do "
             "[ -e /proc/$$/fd/$i ] && printf '%s ' $i >&2; i=$((i + 1)); "
             "done; "
             "exit 0");
  stdio[0].flags = LURE_IGNORE;
  stdio[1].flags = LURE_INHERIT_FD;
  stdio[1].data.fd = c[1];
  stdio[2].flags = LURE_INHERIT_FD;
  stdio[2].data.fd = a[1];
  stdio[3].flags = LURE_IGNORE;
  stdio[4].flags = LURE_INHERIT_FD;
  stdio[4].data.fd = a[1];
  o.stdio = stdio;
  o.stdio_count = 5;
  p.data = &r;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), 0);
  close(a[1]);
  close(c[1]);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 1);
  ck_assert_int_eq(r.status, 0);
  n = read(c[0], buf, sizeof(buf) - 1);
  ck_assert_int_ge(n, 0);
  buf[n] = '\0';
  ck_assert_str_eq(buf, "out\n");
  n = read(a[0], buf, sizeof(buf) - 1);
  ck_assert_int_ge(n, 0);
  buf[n] = '\0';
  /* The loop's own descriptors (ring, epoll, eventfd, signal pipe, the
   * pidfd, the error pipe) are all close-on-exec. */
  ck_assert_str_eq(buf, "err\nfour\n4 ");
  close(a[0]);
  close(c[0]);
  lt_loop_finish(&loop);
}
END_TEST

/* LURE_INHERIT_STREAM gives the child the stream's descriptor. */
START_TEST(process_inherit_stream) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_process_options_t o;
  lure_process_t p;
  lure_pipe_t ps;
  lure_stdio_container_t stdio[2];
  struct exit_rec r = { 0, -1, -1, 1 };
  char *argv[4];
  char buf[64];
  int sv[2];
  ssize_t n;

  set_mode(_i);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the child never finished");
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &ps, 0), 0);
  ck_assert_int_eq(lure_pipe_open(&ps, sv[1]), 0);
  sh_options(&o, argv, "echo via-stream");
  stdio[0].flags = LURE_IGNORE;
  stdio[1].flags = LURE_INHERIT_STREAM;
  stdio[1].data.stream = (lure_stream_t *) &ps;
  o.stdio = stdio;
  o.stdio_count = 2;
  p.data = &r;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.status, 0);
  n = read(sv[0], buf, sizeof(buf) - 1);
  ck_assert_int_eq(n, 11);
  buf[n] = '\0';
  ck_assert_str_eq(buf, "via-stream\n");
  close(sv[0]);
  lt_loop_finish(&loop);
}
END_TEST

/* env replaces the environment (and PATH with it); cwd is applied. */
START_TEST(process_env_cwd) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_process_options_t o;
  lure_process_t p;
  struct exit_rec r = { 0, -1, -1, 1 };
  char *argv[4];
  char *env[] = { "LURE_T1=one", "LURE_T2=two words", NULL };

  set_mode(_i);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the child never finished");
  sh_options(&o, argv,
             "[ \"$LURE_T1\" = one ] || exit 1; "
             "[ \"$LURE_T2\" = 'two words' ] || exit 2; "
             "[ -z \"$HOME\" ] || exit 3; "
             "[ \"$(pwd -P)\" = / ] || exit 4; exit 0");
  o.env = env;
  o.cwd = "/";
  p.data = &r;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 1);
  ck_assert_int_eq(r.status, 0);
  /* args NULL: argv is { file }; PATH is searched. */
  memset(&o, 0, sizeof(o));
  o.file = "true";
  o.exit_cb = exit_rec_cb;
  r.calls = 0;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 1);
  ck_assert_int_eq(r.status, 0);
  lt_loop_finish(&loop);
}
END_TEST

/* LURE_PROCESS_DETACHED: the child leads a session of its own. */
START_TEST(process_detached) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_process_options_t o;
  lure_process_t p;
  struct exit_rec r = { 0, -1, -1, 1 };
  char *argv[4];
  const char *script = "read a b c d e sid rest < /proc/$$/stat; "
                       "[ \"$sid\" = $$ ] && exit 7; exit 8";

  set_mode(_i);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the child never finished");
  sh_options(&o, argv, script);
  o.flags = LURE_PROCESS_DETACHED | LURE_PROCESS_WINDOWS_HIDE |
            LURE_PROCESS_WINDOWS_HIDE_CONSOLE | LURE_PROCESS_WINDOWS_HIDE_GUI |
            LURE_PROCESS_WINDOWS_VERBATIM_ARGUMENTS;
  p.data = &r;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.status, 7);
  sh_options(&o, argv, script);
  r.calls = 0;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.status, 8);
  lt_loop_finish(&loop);
}
END_TEST

/* Failures in the child before exec come back from lure_spawn(); the
 * handle is initialised, inactive, and closes; the child is reaped. */
static void expect_spawn_error(lure_loop_t *loop, lure_process_options_t *o,
                               int want) {
  lure_process_t p;
  struct exit_rec r = { 0, -1, -1, 0 };

  p.data = &r;
  ck_assert_int_eq(lure_spawn(loop, &p, o), want);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &p), 0);
  ck_assert_int_eq(lure_process_kill(&p, 0), LURE_ESRCH);
  ck_assert_int_eq(lure_close((lure_handle_t *) &p, NULL), 0);
  ck_assert_int_eq(lure_run(loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 0);
  assert_no_children();
}

START_TEST(process_spawn_failures) {
  lure_loop_t loop;
  lure_process_options_t o;
  lure_stdio_container_t stdio[4];
  char *argv[4];
  char path[] = "/tmp/lure-proc-XXXXXX";
  int fd;

  set_mode(_i);
  lt_loop_init(&loop);
  sh_options(&o, argv, "exit 0");
  o.file = "lure-program-that-does-not-exist";
  expect_spawn_error(&loop, &o, LURE_ENOENT);
  o.file = "/nonexistent/dir/prog";
  expect_spawn_error(&loop, &o, LURE_ENOENT);
  /* A file without execute permission. */
  fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, "#!/bin/sh\n", 10), 10);
  close(fd);
  ck_assert_int_eq(chmod(path, 0600), 0);
  o.file = path;
  expect_spawn_error(&loop, &o, LURE_EACCES);
  unlink(path);
  /* A working directory that is not there. */
  sh_options(&o, argv, "exit 0");
  o.cwd = "/nonexistent/lure/dir";
  expect_spawn_error(&loop, &o, LURE_ENOENT);
  /* A uid and a gid no kernel takes. */
  sh_options(&o, argv, "exit 0");
  o.flags = LURE_PROCESS_SETUID;
  o.uid = (lure_uid_t) -1;
  expect_spawn_error(&loop, &o, LURE_EINVAL);
  o.flags = LURE_PROCESS_SETGID;
  o.gid = (lure_gid_t) -1;
  expect_spawn_error(&loop, &o, LURE_EINVAL);
  /* An inherited descriptor that is not open. */
  sh_options(&o, argv, "exit 0");
  stdio[0].flags = LURE_IGNORE;
  stdio[1].flags = LURE_IGNORE;
  stdio[2].flags = LURE_IGNORE;
  stdio[3].flags = LURE_INHERIT_FD;
  stdio[3].data.fd = 987;
  o.stdio = stdio;
  o.stdio_count = 4;
  expect_spawn_error(&loop, &o, LURE_EBADF);
  lt_loop_finish(&loop);
}
END_TEST

/* A failed exec still opens the LURE_CREATE_PIPE streams (libuv does):
 * they close like any other. */
START_TEST(process_failure_opens_streams) {
  lure_loop_t loop;
  lure_process_options_t o;
  lure_process_t p;
  lure_pipe_t out;
  lure_stdio_container_t stdio[2];
  char *argv[4];

  set_mode(_i);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_pipe_init(&loop, &out, 0), 0);
  sh_options(&o, argv, "exit 0");
  o.file = "lure-program-that-does-not-exist";
  stdio[0].flags = LURE_IGNORE;
  stdio[1].flags = LURE_CREATE_PIPE | LURE_WRITABLE_PIPE;
  stdio[1].data.stream = (lure_stream_t *) &out;
  o.stdio = stdio;
  o.stdio_count = 2;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), LURE_ENOENT);
  ck_assert_int_ne(lure_is_readable((lure_stream_t *) &out), 0);
  lt_loop_finish(&loop);
  assert_no_children();
}
END_TEST

static void dummy_close_cb(lure_handle_t *h) {
  (*(int *) h->data)++;
}

static void tick_cb(lure_timer_t *t) {
  (void) t;
}

/* Closing a handle before its child exits: no callback ever, the close
 * callback runs, and the loop reaps the child when it exits. */
START_TEST(process_close_before_exit) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_process_options_t o;
  lure_process_t p;
  lure_timer_t tick;
  struct exit_rec r = { 0, -1, -1, 0 };
  char *argv[4];
  int closed = 0;
  pid_t pid;
  int i;

  set_mode(_i);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the loop did not finish");
  sh_options(&o, argv, "sleep 0.2");
  p.data = &r;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), 0);
  pid = p.pid;
  p.data = &closed;
  ck_assert_int_eq(lure_close((lure_handle_t *) &p, dummy_close_cb), 0);
  ck_assert_int_eq(lure_process_kill(&p, 0), LURE_ESRCH);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(closed, 1);
  ck_assert_int_eq(r.calls, 0);
  /* Keep the loop turning (a loop with nothing alive does not poll)
   * until the child is gone: a zombie would still answer kill(2). */
  ck_assert_int_eq(lure_timer_init(&loop, &tick), 0);
  for (i = 0; i < 300 && kill(pid, 0) == 0; i++) {
    ck_assert_int_eq(lure_timer_start(&tick, tick_cb, 10, 0), 0);
    ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  }
  ck_assert_int_eq(kill(pid, 0), -1);
  ck_assert_int_eq(errno, ESRCH);
  assert_no_children();
  lt_loop_finish(&loop);
}
END_TEST

/* An unreferenced process does not keep the loop alive; its exit still
 * comes on a later run. */
START_TEST(process_unref) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_process_options_t o;
  lure_process_t p;
  struct exit_rec r = { 0, -1, -1, 1 };
  char *argv[4];

  set_mode(_i);
  lt_loop_init(&loop);
  sh_options(&o, argv, "sleep 0.1; exit 5");
  p.data = &r;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), 0);
  lure_unref((lure_handle_t *) &p);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 0);
  lure_ref((lure_handle_t *) &p);
  lt_watchdog(&loop, &wd, 10000, "the exit was never seen");
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 1);
  ck_assert_int_eq(r.status, 5);
  lt_loop_finish(&loop);
}
END_TEST

/* Many children at once, on two loops: every exit reaches its own loop
 * (SIGCHLD coalesces; the sweep must not). */
START_TEST(process_many_two_loops) {
  lure_loop_t a, b;
  lure_timer_t wda, wdb;
  lure_process_options_t o;
  lure_process_t pa[16], pb[16];
  struct exit_rec ra[16], rb[16];
  char *argv[4];
  char scripts[16][32];
  int i;

  set_mode(_i);
  lt_loop_init(&a);
  lt_loop_init(&b);
  lt_watchdog(&a, &wda, 20000, "loop A missed exits");
  lt_watchdog(&b, &wdb, 20000, "loop B missed exits");
  for (i = 0; i < 16; i++) {
    snprintf(scripts[i], sizeof(scripts[i]), "exit %d", i + 1);
    sh_options(&o, argv, scripts[i]);
    memset(&ra[i], 0, sizeof(ra[i]));
    memset(&rb[i], 0, sizeof(rb[i]));
    ra[i].close_in_cb = rb[i].close_in_cb = 1;
    pa[i].data = &ra[i];
    pb[i].data = &rb[i];
    ck_assert_int_eq(lure_spawn(&a, &pa[i], &o), 0);
    ck_assert_int_eq(lure_spawn(&b, &pb[i], &o), 0);
  }
  ck_assert_int_eq(lure_run(&a, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lure_run(&b, LURE_RUN_DEFAULT), 0);
  for (i = 0; i < 16; i++) {
    ck_assert_int_eq(ra[i].calls, 1);
    ck_assert_int_eq(rb[i].calls, 1);
    ck_assert_int_eq(ra[i].status, i + 1);
    ck_assert_int_eq(rb[i].status, i + 1);
  }
  lt_loop_finish(&a);
  lt_loop_finish(&b);
  assert_no_children();
}
END_TEST

/* Root only: the child runs as another user and group. */
START_TEST(process_setuid_setgid) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_process_options_t o;
  lure_process_t p;
  struct exit_rec r = { 0, -1, -1, 1 };
  char *argv[4];

  if (geteuid() != 0)
    return;
  set_mode(_i);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the child never finished");
  sh_options(&o, argv,
             "[ \"$(id -u)\" = 65534 ] || exit 1; "
             "[ \"$(id -g)\" = 65533 ] || exit 2; "
             "[ \"$(id -G)\" = 65533 ] || exit 3; exit 0");
  o.flags = LURE_PROCESS_SETUID | LURE_PROCESS_SETGID;
  o.uid = 65534;
  o.gid = 65533;
  o.cwd = "/";
  p.data = &r;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 1);
  ck_assert_int_eq(r.status, 0);
  lt_loop_finish(&loop);
}
END_TEST

/* The PATH search: the PATH of the child's environment (options->env when
 * given), "/bin:/usr/bin" when that has none, EACCES only when nothing
 * runnable was found, and a script without "#!" run by /bin/sh, as
 * execvp(3) does. */
static void write_prog(const char *dir, const char *name, const char *text,
                       mode_t mode) {
  char path[256];
  int fd;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t) strlen(text));
  close(fd);
  ck_assert_int_eq(chmod(path, mode), 0);
}

static int64_t run_path(lure_loop_t *loop, const char *file, char **env,
                        int want_rc) {
  lure_process_options_t o;
  lure_process_t p;
  struct exit_rec r = { 0, -1, -1, 1 };

  memset(&o, 0, sizeof(o));
  o.file = file;
  o.env = env;
  o.exit_cb = exit_rec_cb;
  p.data = &r;
  ck_assert_int_eq(lure_spawn(loop, &p, &o), want_rc);
  if (want_rc != 0) {
    lure_close((lure_handle_t *) &p, NULL);
    ck_assert_int_eq(lure_run(loop, LURE_RUN_DEFAULT), 0);
    ck_assert_int_eq(r.calls, 0);
    return -1;
  }
  ck_assert_int_eq(lure_run(loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 1);
  return r.status;
}

START_TEST(process_path_search) {
  lure_loop_t loop;
  lure_timer_t wd;
  char d1[] = "/tmp/lure-path1-XXXXXX";
  char d2[] = "/tmp/lure-path2-XXXXXX";
  char path_env[128];
  char *env[3];
  char **before;
  char rm[128];

  set_mode(_i);
  before = environ;
  ck_assert_ptr_nonnull(mkdtemp(d1));
  ck_assert_ptr_nonnull(mkdtemp(d2));
  /* d1 holds a copy that may not run; d2 one that may. */
  write_prog(d1, "lure-probe", "#!/bin/sh\nexit 4\n", 0600);
  write_prog(d2, "lure-probe", "#!/bin/sh\nexit 5\n", 0700);
  write_prog(d2, "lure-noshebang", "exit 6\n", 0700);
  write_prog(d1, "lure-noexec", "#!/bin/sh\nexit 7\n", 0600);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "a child never finished");
  snprintf(path_env, sizeof(path_env), "PATH=/nonexistent/lure::%s:%s", d1,
           d2);
  env[0] = path_env;
  env[1] = "LURE_PATH_TEST=1";
  env[2] = NULL;
  /* A missing directory and an empty element are skipped; the copy that
   * may not run is passed over for the next. */
  ck_assert_int_eq(run_path(&loop, "lure-probe", env, 0), 5);
  ck_assert_int_eq(run_path(&loop, "lure-noshebang", env, 0), 6);
  /* Only a copy that may not run: EACCES, not ENOENT. */
  ck_assert_int_eq(run_path(&loop, "lure-noexec", env, LURE_EACCES), -1);
  ck_assert_int_eq(run_path(&loop, "lure-missing-prog", env, LURE_ENOENT),
                   -1);
  ck_assert_int_eq(run_path(&loop, "", env, LURE_ENOENT), -1);
  /* The child's environment without PATH: /bin:/usr/bin. */
  env[0] = "LURE_PATH_TEST=1";
  env[1] = NULL;
  ck_assert_int_eq(run_path(&loop, "true", env, 0), 0);
  ck_assert_int_eq(run_path(&loop, "lure-probe", env, LURE_ENOENT), -1);
  /* The parent's environment was never the child's to change. */
  ck_assert_ptr_eq(environ, before);
  ck_assert_ptr_null(getenv("LURE_PATH_TEST"));
  lt_loop_finish(&loop);
  snprintf(rm, sizeof(rm), "rm -rf %s %s", d1, d2);
  ck_assert_int_eq(system(rm), 0);
  assert_no_children();
}
END_TEST

/* Many arguments: the child's scratch space grows with them (the script
 * fallback copies argv), and every one arrives. */
START_TEST(process_many_args) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_process_options_t o;
  lure_process_t p;
  struct exit_rec r = { 0, -1, -1, 1 };
  char dir[] = "/tmp/lure-args-XXXXXX";
  char prog[64];
  enum { N = 20000 };
  char **argv = calloc(N + 2, sizeof(char *));
  char rm[64];
  int i;

  set_mode(_i);
  ck_assert_ptr_nonnull(argv);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  /* No "#!": the /bin/sh fallback gets every argument too. */
  write_prog(dir, "count", "[ $# = 20000 ] && [ \"$1\" = a ] && "
                           "[ \"${20000}\" = a ] && exit 9; exit 1\n", 0700);
  snprintf(prog, sizeof(prog), "%s/count", dir);
  argv[0] = prog;
  for (i = 1; i <= N; i++)
    argv[i] = "a";
  argv[N + 1] = NULL;
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the child never finished");
  memset(&o, 0, sizeof(o));
  o.file = prog;
  o.args = argv;
  o.exit_cb = exit_rec_cb;
  p.data = &r;
  ck_assert_int_eq(lure_spawn(&loop, &p, &o), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 1);
  ck_assert_int_eq(r.status, 9);
  lt_loop_finish(&loop);
  free(argv);
  snprintf(rm, sizeof(rm), "rm -rf %s", dir);
  ck_assert_int_eq(system(rm), 0);
}
END_TEST

/* Which start the child gets: the vfork clone runs no pthread_atfork(3)
 * handler (the child shares the parent's memory and runs no code of the
 * program's), fork(2) under LURE_SPAWN_FORK runs them as fork does. */
static int atfork_calls;
static int atfork_registered;

static void atfork_prepare(void) {
  atfork_calls++;
}

START_TEST(process_start_path) {
  lure_loop_t loop;
  lure_timer_t wd;

  set_mode(_i);
  if (!atfork_registered++)
    ck_assert_int_eq(pthread_atfork(atfork_prepare, NULL, NULL), 0);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the child never finished");
  atfork_calls = 0;
  ck_assert_int_eq(run_script(&loop, "exit 3").status, 3);
  ck_assert_int_eq(atfork_calls, (_i & 2) ? 1 : 0);
  lt_loop_finish(&loop);
}
END_TEST

struct walk_rec {
  int processes;
};

static void walk_cb(lure_handle_t *h, void *arg) {
  if (h->type == LURE_PROCESS)
    ((struct walk_rec *) arg)->processes++;
}

/* Argument errors: a negative errno, never a crash. */
START_TEST(process_bad_arguments) {
  lure_loop_t loop;
  lure_process_options_t o;
  lure_process_t p;
  lure_pipe_t pipe_h;
  lure_tcp_t tcp;
  lure_timer_t timer;
  lure_stdio_container_t stdio[3];
  struct walk_rec w = { 0 };
  char *argv[4];
  int sv[2];

  lt_loop_init(&loop);
  sh_options(&o, argv, "exit 0");
  ck_assert_int_eq(lure_spawn(NULL, &p, &o), LURE_EINVAL);
  ck_assert_int_eq(lure_spawn(&loop, NULL, &o), LURE_EINVAL);
  /* From here on the handle is initialised and closes. */
  ck_assert_int_eq(lure_spawn(&loop, &p, NULL), LURE_EINVAL);
  lure_walk(&loop, walk_cb, &w);
  ck_assert_int_eq(w.processes, 1);
  ck_assert_int_eq(lure_close((lure_handle_t *) &p, NULL), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);

#define EXPECT(rc)                                                            \
  do {                                                                        \
    ck_assert_int_eq(lure_spawn(&loop, &p, &o), (rc));                        \
    ck_assert_int_eq(lure_is_active((lure_handle_t *) &p), 0);                \
    ck_assert_int_eq(lure_close((lure_handle_t *) &p, NULL), 0);              \
    ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);                   \
    sh_options(&o, argv, "exit 0");                                           \
  } while (0)

  o.file = NULL;
  EXPECT(LURE_EINVAL);
  o.flags = 1u << 7;
  EXPECT(LURE_EINVAL);
  o.stdio_count = -1;
  EXPECT(LURE_EINVAL);
  o.stdio_count = 1;
  o.stdio = NULL;
  EXPECT(LURE_EINVAL);
  o.stdio = stdio;
  o.stdio_count = 1;
  stdio[0].flags = LURE_CREATE_PIPE;
  stdio[0].data.stream = NULL;
  EXPECT(LURE_EINVAL);
  /* A pipe stream and nothing else. */
  ck_assert_int_eq(lure_tcp_init(&loop, &tcp), 0);
  o.stdio = stdio;
  o.stdio_count = 1;
  stdio[0].flags = LURE_CREATE_PIPE | LURE_READABLE_PIPE;
  stdio[0].data.stream = (lure_stream_t *) &tcp;
  EXPECT(LURE_EINVAL);
  /* A pipe that already has a descriptor. */
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &pipe_h, 0), 0);
  ck_assert_int_eq(lure_pipe_open(&pipe_h, sv[0]), 0);
  o.stdio = stdio;
  o.stdio_count = 1;
  stdio[0].flags = LURE_CREATE_PIPE | LURE_READABLE_PIPE;
  stdio[0].data.stream = (lure_stream_t *) &pipe_h;
  EXPECT(LURE_EBUSY);
  /* Two kinds at once; unknown bits; a negative fd; a stream without a
   * descriptor; a handle that is not a stream. */
  o.stdio = stdio;
  o.stdio_count = 1;
  stdio[0].flags = LURE_CREATE_PIPE | LURE_INHERIT_FD;
  stdio[0].data.fd = 1;
  EXPECT(LURE_EINVAL);
  o.stdio = stdio;
  o.stdio_count = 1;
  stdio[0].flags = 0x100;
  EXPECT(LURE_EINVAL);
  o.stdio = stdio;
  o.stdio_count = 1;
  stdio[0].flags = LURE_INHERIT_FD;
  stdio[0].data.fd = -1;
  EXPECT(LURE_EINVAL);
  o.stdio = stdio;
  o.stdio_count = 1;
  stdio[0].flags = LURE_INHERIT_STREAM;
  stdio[0].data.stream = (lure_stream_t *) &tcp;
  EXPECT(LURE_EINVAL);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  o.stdio = stdio;
  o.stdio_count = 1;
  stdio[0].flags = LURE_INHERIT_STREAM;
  stdio[0].data.stream = (lure_stream_t *) &timer;
  EXPECT(LURE_EINVAL);
  o.stdio = stdio;
  o.stdio_count = 1;
  stdio[0].flags = LURE_INHERIT_STREAM;
  stdio[0].data.stream = NULL;
  EXPECT(LURE_EINVAL);
#undef EXPECT

  /* The descriptor of the failed CREATE_PIPE was not taken. */
  ck_assert_int_eq(fcntl(sv[1], F_GETFD), FD_CLOEXEC);
  close(sv[1]);

  /* kill: bad handles and signals. */
  ck_assert_int_eq(lure_process_kill(NULL, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_process_kill((lure_process_t *) &timer, 0),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_kill(getpid(), -1), LURE_EINVAL);
  ck_assert_int_eq(lure_kill(getpid(), 4096), LURE_EINVAL);
  ck_assert_int_eq(lure_kill(0x3fffffff, 0), LURE_ESRCH);
  ck_assert_int_eq(lure_kill(getpid(), 0), 0);
  ck_assert_int_eq(lure_process_get_pid(NULL), 0);
  ck_assert_int_eq(lure_handle_size(LURE_PROCESS), sizeof(lure_process_t));
  ck_assert_str_eq(lure_handle_type_name(LURE_PROCESS), "process");
  ck_assert_int_eq(lure_get_osfhandle(5), 5);
  ck_assert_int_eq(lure_open_osfhandle(5), 5);
  lt_loop_finish(&loop);
}
END_TEST

/* lure_disable_stdio_inheritance() marks inherited descriptors. */
START_TEST(process_disable_stdio_inheritance) {
  int fds[2];

  ck_assert_int_eq(pipe(fds), 0);
  ck_assert_int_eq(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, 0);
  lure_disable_stdio_inheritance();
  ck_assert_int_eq(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ck_assert_int_eq(fcntl(fds[1], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

/* A program's own SIGCHLD handle still gets its signal alongside lure's
 * (the SIGCHLD path shares the signal machinery). */
static void chld_cb(lure_signal_t *h, int signum) {
  (*(int *) h->data)++;
  ck_assert_int_eq(signum, SIGCHLD);
  lure_close((lure_handle_t *) h, NULL);
}

START_TEST(process_user_sigchld) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_signal_t sig;
  struct exit_rec r;
  int got = 0;

  set_mode(_i);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "SIGCHLD or the exit was never seen");
  ck_assert_int_eq(lure_signal_init(&loop, &sig), 0);
  sig.data = &got;
  ck_assert_int_eq(lure_signal_start(&sig, chld_cb, SIGCHLD), 0);
  r = run_script(&loop, "exit 9");
  ck_assert_int_eq(r.status, 9);
  /* The signal may trail the pidfd's readiness by a tick. */
  while (got == 0)
    ck_assert_int_ge(lure_run(&loop, LURE_RUN_ONCE), 0);
  ck_assert_int_eq(got, 1);
  lt_loop_finish(&loop);
}
END_TEST

/* A listening socket sent to another holder over an IPC pipe stays
 * listening when the sender closes its handle (no shutdown(2) of a shared
 * socket): what libuv's ipc_listen_* tests do across two processes. */
struct ipc_rec {
  lure_tcp_t *into;
  int accepted;
};

static void ipc_alloc(lure_handle_t *h, size_t size, lure_buf_t *buf) {
  static char space[64];

  (void) h;
  (void) size;
  buf->base = space;
  buf->len = sizeof(space);
}

static void ipc_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct ipc_rec *r = s->data;

  (void) buf;
  if (n <= 0 || lure_pipe_pending_count((lure_pipe_t *) s) == 0)
    return;
  ck_assert_int_eq(lure_pipe_pending_type((lure_pipe_t *) s), LURE_TCP);
  ck_assert_int_eq(lure_accept(s, (lure_stream_t *) r->into), 0);
  r->accepted = 1;
  lure_read_stop(s);
}

static void no_conn_cb(lure_stream_t *server, int status) {
  (void) server;
  (void) status;
}

START_TEST(process_shared_listener_close) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_tcp_t server, copy;
  lure_pipe_t a, b;
  lure_write_t wr;
  lure_buf_t buf = lure_buf_init("x", 1);
  struct sockaddr_in addr;
  struct ipc_rec r = { &copy, 0 };
  socklen_t len = sizeof(addr);
  lure_os_fd_t fd;
  int sv[2];
  int c;
  int i;

  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the listener never crossed the pipe");
  ck_assert_int_eq(lure_tcp_init(&loop, &server), 0);
  ck_assert_int_eq(lure_tcp_init(&loop, &copy), 0);
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &addr), 0);
  ck_assert_int_eq(lure_tcp_bind(&server, (struct sockaddr *) &addr, 0), 0);
  ck_assert_int_eq(lure_listen((lure_stream_t *) &server, 8, no_conn_cb), 0);
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &a, 1), 0);
  ck_assert_int_eq(lure_pipe_init(&loop, &b, 1), 0);
  ck_assert_int_eq(lure_pipe_open(&a, sv[0]), 0);
  ck_assert_int_eq(lure_pipe_open(&b, sv[1]), 0);
  b.data = &r;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &b, ipc_alloc, ipc_read),
                   0);
  ck_assert_int_eq(lure_write2(&wr, (lure_stream_t *) &a, &buf, 1,
                               (lure_stream_t *) &server, NULL), 0);
  for (i = 0; i < 1000 && !r.accepted; i++)
    lure_run(&loop, LURE_RUN_ONCE);
  ck_assert_int_eq(r.accepted, 1);
  ck_assert_int_eq(lure_close((lure_handle_t *) &server, NULL), 0);
  lure_run(&loop, LURE_RUN_NOWAIT);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &copy, &fd), 0);
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &addr, &len), 0);
  c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(c, 0);
  ck_assert_int_eq(connect(c, (struct sockaddr *) &addr, len), 0);
  close(c);
  lt_loop_finish(&loop);
}
END_TEST

LT_SUITE(process) {
  Suite *s = suite_create("process");
  TCase *tc = lt_tcase("process", 60);

  tcase_add_loop_test(tc, process_exit_status, 0, 4);
  tcase_add_loop_test(tc, process_kill, 0, 4);
  tcase_add_loop_test(tc, process_pipes, 0, 4);
  tcase_add_loop_test(tc, process_inherit_and_leaks, 0, 4);
  tcase_add_loop_test(tc, process_inherit_stream, 0, 4);
  tcase_add_loop_test(tc, process_env_cwd, 0, 4);
  tcase_add_loop_test(tc, process_detached, 0, 4);
  tcase_add_loop_test(tc, process_spawn_failures, 0, 4);
  tcase_add_loop_test(tc, process_failure_opens_streams, 0, 4);
  tcase_add_loop_test(tc, process_close_before_exit, 0, 4);
  tcase_add_loop_test(tc, process_unref, 0, 4);
  tcase_add_loop_test(tc, process_many_two_loops, 0, 4);
  tcase_add_loop_test(tc, process_setuid_setgid, 0, 4);
  tcase_add_loop_test(tc, process_user_sigchld, 0, 4);
  tcase_add_loop_test(tc, process_path_search, 0, 4);
  tcase_add_loop_test(tc, process_many_args, 0, 4);
  tcase_add_loop_test(tc, process_start_path, 0, 4);
  tcase_add_test(tc, process_bad_arguments);
  tcase_add_test(tc, process_disable_stdio_inheritance);
  tcase_add_test(tc, process_shared_listener_close);
  suite_add_tcase(s, tc);
  return s;
}
