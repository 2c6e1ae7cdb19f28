/*
 * test-loop.c - the loop: phases of a tick, run modes, liveness, stop,
 * sleeping, configuration, statistics, the default loop and the executor
 * the set promises.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <time.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/io_uring.h>
#include "harness.h"

/* ---- signals aimed at the loop's thread ------------------------------------ */

/* SIGALRM every interval_ns, delivered to the calling thread only (a
 * process-wide signal could land on a pool thread), handled by handler;
 * SIGALRM's disposition is restored by lt_sig_aimed_stop(). */
struct lt_sig_aimed {
  timer_t timer;
  struct sigaction old;
};
static void lt_sig_aimed_start(struct lt_sig_aimed *a, void (*handler)(int),
                               long interval_ns) {
  struct sigaction sa;
  struct sigevent sev;
  struct itimerspec its;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  ck_assert_int_eq(sigaction(SIGALRM, &sa, &a->old), 0);
  memset(&sev, 0, sizeof(sev));
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGALRM;
  sev._sigev_un._tid = (pid_t) syscall(SYS_gettid);
  ck_assert_int_eq(timer_create(CLOCK_MONOTONIC, &sev, &a->timer), 0);
  memset(&its, 0, sizeof(its));
  its.it_value.tv_nsec = interval_ns;
  its.it_interval.tv_nsec = interval_ns;
  ck_assert_int_eq(timer_settime(a->timer, 0, &its, NULL), 0);
}
static void lt_sig_aimed_stop(struct lt_sig_aimed *a) {
  ck_assert_int_eq(timer_delete(a->timer), 0);
  ck_assert_int_eq(sigaction(SIGALRM, &a->old, NULL), 0);
}

/* ---- a record of what ran, in order --------------------------------------- */

static char seq[256];
static int nseq;

static void rec(char c) {
  ck_assert_int_lt(nseq, (int) sizeof(seq) - 1);
  seq[nseq++] = c;
  seq[nseq] = '\0';
}

static void rec_reset(void) {
  nseq = 0;
  seq[0] = '\0';
}

/* ---- the executor set -------------------------------------------------------- */

START_TEST(loop_backend_of_set) {
  lure_loop_t loop;
  const char *want = lt_set_backend();
  const char *got;

  lt_loop_init(&loop);
  got = lure_loop_backend(&loop);
  ck_assert_ptr_nonnull(got);
  ck_assert_msg(strcmp(got, "io_uring") == 0 || strcmp(got, "epoll") == 0,
                "unknown backend name \"%s\"", got);
  if (want != NULL)
    ck_assert_str_eq(got, want);
  ck_assert_int_ge(lure_backend_fd(&loop), 0);
  lt_loop_finish(&loop);
}
END_TEST

/* What tests/nouring denies, from LURE_NOURING_ERRNO ("[enter:|register:]
 * ERRNO"): the errno (0 when unknown) and the system call. */
static int nouring_denied(const char *name, long *nr) {
  static const struct {
    const char *name;
    int err;
  } errnos[] = {
    { "ENOSYS", ENOSYS }, { "EPERM", EPERM }, { "EINVAL", EINVAL },
    { "ENOMEM", ENOMEM }, { "EOPNOTSUPP", EOPNOTSUPP }, { "EACCES", EACCES },
  };
  size_t i;

  *nr = __NR_io_uring_setup;
  if (strncmp(name, "enter:", 6) == 0) {
    *nr = __NR_io_uring_enter;
    name += 6;
  } else if (strncmp(name, "register:", 9) == 0) {
    *nr = __NR_io_uring_register;
    name += 9;
  }
  for (i = 0; i < LT_ARRAY_SIZE(errnos); i++)
    if (strcmp(name, errnos[i].name) == 0)
      return errnos[i].err;
  return 0;
}

/* Under the nouring wrapper, the io_uring call it names must fail the way
 * the wrapper says: proof that the fallback was tested for real. */
START_TEST(loop_nouring_filter_active) {
  const char *set = lt_set();
  const char *want = getenv("LURE_NOURING_ERRNO");
  struct io_uring_params params;
  long nr;
  long rc;
  int expect;
  int err;

  if (set == NULL || strcmp(set, "nouring") != 0)
    return; /* only meaningful under tests/nouring */
  ck_assert_ptr_nonnull(want);
  expect = nouring_denied(want, &nr);
  ck_assert_msg(expect != 0, "LURE_NOURING_ERRNO=%s", want);
  memset(&params, 0, sizeof(params));
  errno = 0;
  rc = syscall(__NR_io_uring_setup, 4, &params);
  err = errno;
  if (nr != __NR_io_uring_setup) {
    int fd = (int) rc;

    ck_assert_msg(fd >= 0, "io_uring_setup: %s", strerror(err));
    errno = 0;
    if (nr == __NR_io_uring_enter)
      rc = syscall(__NR_io_uring_enter, fd, 0, 0, 0, NULL, 0);
    else
      rc = syscall(__NR_io_uring_register, fd, 8 /* PROBE */, NULL, 0);
    err = errno;
    close(fd);
  } else if (rc >= 0) {
    close((int) rc);
  }
  ck_assert_msg(rc < 0, "the io_uring call succeeded under the nouring "
                "filter (%s)", want);
  ck_assert_int_eq(err, expect);
}
END_TEST

/* ---- phases -------------------------------------------------------------------- */

static void ph_timer_cb(lure_timer_t *h) { rec('T'); }
static void ph_idle_cb(lure_idle_t *h) { rec('I'); lure_idle_stop(h); }
static void ph_prepare_cb(lure_prepare_t *h) { rec('P'); lure_prepare_stop(h); }
static void ph_check_cb(lure_check_t *h) { rec('C'); lure_check_stop(h); }
static void ph_close_cb(lure_handle_t *h) { rec('X'); }
static void ph_async_cb(lure_async_t *h) {
  rec('A');
  lure_close((lure_handle_t *) h, NULL);
}

/* One tick runs: timers, (pending), idle, prepare, poll, check, closing.
 * A 0 ms timer (T), an idle (I), a prepare (P), an async sent before the run
 * (A, reaped by the poll phase), a check (C) and a handle closed before the
 * run (X) must all happen in the first tick, in that order. */
/* loop->active_handles, libuv's public field: it counts the active and
 * referenced handles, and a program that raises it by hand keeps the loop
 * alive (libuv's loop_update_time test does that). */
static void active_field_timer_cb(lure_timer_t *t) {
  lure_loop_t *loop = t->loop;

  /* The timer has stopped (no repeat): only the hand-made count remains. */
  ck_assert_uint_eq(loop->active_handles, 1);
  loop->active_handles--;
}

START_TEST(loop_active_handles_field) {
  lure_loop_t loop;
  lure_timer_t t;

  lt_loop_init(&loop);
  ck_assert_uint_eq(loop.active_handles, 0);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  ck_assert_uint_eq(loop.active_handles, 0);
  ck_assert_int_eq(lure_timer_start(&t, active_field_timer_cb, 1, 0), 0);
  ck_assert_uint_eq(loop.active_handles, 1);
  lure_unref((lure_handle_t *) &t);
  ck_assert_uint_eq(loop.active_handles, 0);
  lure_ref((lure_handle_t *) &t);
  ck_assert_uint_eq(loop.active_handles, 1);
  /* Raised by hand: lure_run() does not return when the timer stops. */
  loop.active_handles++;
  ck_assert_int_ne(lure_loop_alive(&loop), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_uint_eq(loop.active_handles, 0);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  lure_close((lure_handle_t *) &t, NULL);
  lt_loop_finish(&loop);
}
END_TEST

/* LURE_METRICS_IDLE_TIME (libuv's UV_METRICS_IDLE_TIME): the time spent
 * waiting, in ns; a loop that never sleeps counts none, and a loop without
 * the option counts nothing. */
static void metrics_noop_cb(lure_timer_t *t) {
  (*(int *) t->data)++;
}

START_TEST(loop_metrics_idle_time) {
  lure_loop_t loop;
  lure_timer_t t;
  int n = 0;
  uint64_t idle;

  lt_loop_init(&loop);
  t.data = &n;
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  /* Not configured: nothing counted. */
  ck_assert_int_eq(lure_timer_start(&t, metrics_noop_cb, 20, 0), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_uint_eq(lure_metrics_idle_time(&loop), 0);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_METRICS_IDLE_TIME), 0);
  /* A zero timeout never sleeps. */
  ck_assert_int_eq(lure_timer_start(&t, metrics_noop_cb, 0, 0), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_uint_eq(lure_metrics_idle_time(&loop), 0);
  /* 100 ms of waiting for a timer: at least 80 ms counted. */
  ck_assert_int_eq(lure_timer_start(&t, metrics_noop_cb, 100, 0), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  idle = lure_metrics_idle_time(&loop);
  ck_assert_uint_ge(idle, 80 * 1000000ull);
  ck_assert_uint_lt(idle, 10000 * 1000000ull);
  ck_assert_int_eq(n, 3);
  ck_assert_uint_eq(lure_metrics_idle_time(NULL), 0);
  lure_close((lure_handle_t *) &t, NULL);
  lt_loop_finish(&loop);
}
END_TEST

/* LURE_LOOP_BLOCK_SIGNAL: only SIGPROF, as libuv; while the loop waits the
 * signal is blocked in its thread (read from /proc by another thread),
 * and unblocked again once the wait is over. */
struct sigblk_probe {
  pid_t tid;
  int blocked_during;  /* SIGPROF in SigBlk while the loop waited */
};

static int sigprof_in_sigblk(pid_t tid) {
  char path[64], line[256];
  unsigned long long mask = 0;
  FILE *f;

  snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int) tid);
  f = fopen(path, "r");
  if (f == NULL)
    return -1;
  while (fgets(line, sizeof(line), f) != NULL)
    if (sscanf(line, "SigBlk: %llx", &mask) == 1)
      break;
  fclose(f);
  return (mask >> (SIGPROF - 1)) & 1;
}

static void sigblk_work(lure_work_t *w) {
  struct sigblk_probe *pr = w->data;

  usleep(100 * 1000);  /* the loop is asleep in its 300 ms wait by now */
  pr->blocked_during = sigprof_in_sigblk(pr->tid);
}

static void sigblk_after(lure_work_t *w, int status) {
  (void) w;
  (void) status;
}

static void sigblk_timer_cb(lure_timer_t *t) {
  (void) t;
}

START_TEST(loop_block_signal) {
  lure_loop_t loop;
  lure_timer_t t;
  lure_work_t w;
  struct sigblk_probe pr = { 0, -2 };

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BLOCK_SIGNAL, SIGINT),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BLOCK_SIGNAL, SIGPROF),
                   0);
  pr.tid = (pid_t) syscall(SYS_gettid);
  ck_assert_int_eq(sigprof_in_sigblk(pr.tid), 0);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  ck_assert_int_eq(lure_timer_start(&t, sigblk_timer_cb, 300, 0), 0);
  w.data = &pr;
  ck_assert_int_eq(lure_queue_work(&loop, &w, sigblk_work, sigblk_after), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(pr.blocked_during, 1);
  ck_assert_int_eq(sigprof_in_sigblk(pr.tid), 0);
  lure_close((lure_handle_t *) &t, NULL);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(loop_phase_order) {
  lure_loop_t loop;
  lure_timer_t timer;
  lure_idle_t idle;
  lure_prepare_t prepare;
  lure_check_t check;
  lure_async_t async;
  lure_idle_t doomed;
  lure_loop_stats_t st;

  rec_reset();
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_prepare_init(&loop, &prepare), 0);
  ck_assert_int_eq(lure_check_init(&loop, &check), 0);
  ck_assert_int_eq(lure_async_init(&loop, &async, ph_async_cb), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &doomed), 0);

  /* Started in the reverse of the order they must run in. */
  ck_assert_int_eq(lure_close((lure_handle_t *) &doomed, ph_close_cb), 0);
  ck_assert_int_eq(lure_check_start(&check, ph_check_cb), 0);
  ck_assert_int_eq(lure_async_send(&async), 0);
  ck_assert_int_eq(lure_prepare_start(&prepare, ph_prepare_cb), 0);
  ck_assert_int_eq(lure_idle_start(&idle, ph_idle_cb), 0);
  ck_assert_int_eq(lure_timer_start(&timer, ph_timer_cb, 0, 0), 0);

  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_str_eq(seq, "TIPACX");
  ck_assert_int_eq(lure_loop_stats(&loop, &st), 0);
  ck_assert_uint_eq(st.ticks, 1);
  lt_loop_finish(&loop);
}
END_TEST

/* The same order tick after tick: prepare, the poll phase's completions,
 * check, with a thread-pool completion arriving in whichever tick it does. */
static int pw_done;
static void pw_prepare_cb(lure_prepare_t *h) { rec('P'); }
static void pw_check_cb(lure_check_t *h) {
  rec('C');
  if (pw_done) {
    lure_check_stop(h);
    lure_prepare_stop((lure_prepare_t *) h->data);
  }
}
static void pw_work_cb(lure_work_t *req) { lt_sleep_ms(5); }
static void pw_after_cb(lure_work_t *req, int status) {
  ck_assert_int_eq(status, 0);
  rec('W');
  pw_done = 1;
}

START_TEST(loop_phase_order_work) {
  lure_loop_t loop;
  lure_timer_t timer;
  lure_idle_t idle;
  lure_prepare_t prepare;
  lure_check_t check;
  lure_idle_t doomed;
  lure_work_t work;
  int i;

  rec_reset();
  pw_done = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_prepare_init(&loop, &prepare), 0);
  ck_assert_int_eq(lure_check_init(&loop, &check), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &doomed), 0);
  check.data = &prepare;

  ck_assert_int_eq(lure_queue_work(&loop, &work, pw_work_cb, pw_after_cb), 0);
  ck_assert_int_eq(lure_close((lure_handle_t *) &doomed, ph_close_cb), 0);
  ck_assert_int_eq(lure_check_start(&check, pw_check_cb), 0);
  ck_assert_int_eq(lure_prepare_start(&prepare, pw_prepare_cb), 0);
  ck_assert_int_eq(lure_idle_start(&idle, ph_idle_cb), 0);
  ck_assert_int_eq(lure_timer_start(&timer, ph_timer_cb, 0, 0), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);

  /* seq = "TIP" [W] "CX" ("P" [W] "C")*, with exactly one W in all. */
  ck_assert_msg(strncmp(seq, "TIP", 3) == 0, "sequence %s", seq);
  i = 3;
  if (seq[i] == 'W')
    i++;
  ck_assert_msg(strncmp(seq + i, "CX", 2) == 0, "sequence %s", seq);
  i += 2;
  while (seq[i] != '\0') {
    ck_assert_msg(seq[i] == 'P', "sequence %s at %d", seq, i);
    i++;
    if (seq[i] == 'W')
      i++;
    ck_assert_msg(seq[i] == 'C', "sequence %s at %d", seq, i);
    i++;
  }
  ck_assert_msg(strchr(seq, 'W') != NULL && strchr(seq, 'W') == strrchr(seq, 'W'),
                "sequence %s", seq);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- setImmediate vs setTimeout inside an I/O callback ------------------------- */

static lure_check_t io_check;
static lure_timer_t io_timer;

static void io_check_cb(lure_check_t *h) {
  rec('C');
  lure_close((lure_handle_t *) h, NULL);
}

static void io_timer_cb(lure_timer_t *h) {
  rec('T');
  lure_close((lure_handle_t *) h, NULL);
}

/* From inside an I/O callback, start a check and a 0 ms timer. */
static void io_start_both(lure_loop_t *loop) {
  /* The timer first: order of starting must not matter. */
  ck_assert_int_eq(lure_timer_init(loop, &io_timer), 0);
  ck_assert_int_eq(lure_timer_start(&io_timer, io_timer_cb, 0, 0), 0);
  ck_assert_int_eq(lure_check_init(loop, &io_check), 0);
  ck_assert_int_eq(lure_check_start(&io_check, io_check_cb), 0);
}

static void io_work_cb(lure_work_t *req) {}
static void io_after_work_cb(lure_work_t *req, int status) {
  ck_assert_int_eq(status, 0);
  rec('W');
  io_start_both(req->loop);
}

START_TEST(loop_check_before_timer_in_work_cb) {
  lure_loop_t loop;
  lure_work_t work;

  rec_reset();
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_queue_work(&loop, &work, io_work_cb, io_after_work_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_str_eq(seq, "WCT");
  lt_loop_finish(&loop);
}
END_TEST

static void io_poll_cb(lure_poll_t *h, int status, int events) {
  ck_assert_int_eq(status, 0);
  ck_assert(events & LURE_READABLE);
  rec('R');
  lure_close((lure_handle_t *) h, NULL);
  io_start_both(h->loop);
}

START_TEST(loop_check_before_timer_in_poll_cb) {
  lure_loop_t loop;
  lure_poll_t poll;
  int fds[2];

  rec_reset();
  lt_loop_init(&loop);
  ck_assert_int_eq(pipe(fds), 0);
  ck_assert_int_eq(write(fds[1], "x", 1), 1);
  ck_assert_int_eq(lure_poll_init(&loop, &poll, fds[0]), 0);
  ck_assert_int_eq(lure_poll_start(&poll, LURE_READABLE, io_poll_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_str_eq(seq, "RCT");
  lt_loop_finish(&loop);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

/* ---- sleeping -------------------------------------------------------------------- */

static int sl_fired;
static void sl_timer_cb(lure_timer_t *h) { sl_fired++; }

/* Idle ticks with nothing to wait for cost no wait-point syscall: the ring
 * looks at its SQ flags (IORING_SQ_TASKRUN) and epoll at its watcher
 * count.  And such ticks still see I/O that becomes ready meanwhile: a
 * poll handle on a socketpair gets the readiness that a thread causes
 * while an idle handle keeps every tick's timeout at zero. */
static int it_ticks;
static int it_polled;
static int it_fd;

static void it_idle_cb(lure_idle_t *idle) {
  if (++it_ticks == 2000 || it_polled)
    lure_idle_stop(idle);
}

START_TEST(loop_idle_ticks_no_wait_syscall) {
  lure_loop_t loop;
  lure_idle_t idle;
  lure_loop_stats_t before;
  lure_loop_stats_t after;

  it_ticks = 0;
  it_polled = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_idle_start(&idle, it_idle_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_NOWAIT), 1); /* settle */
  ck_assert_int_eq(lure_loop_stats(&loop, &before), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lure_loop_stats(&loop, &after), 0);
  ck_assert_int_eq(it_ticks, 2000);
  ck_assert_msg(after.wait_calls - before.wait_calls <= 2,
                "%llu wait-point syscalls for %d idle ticks",
                (unsigned long long) (after.wait_calls - before.wait_calls),
                it_ticks);
  lure_close((lure_handle_t *) &idle, NULL);
  lt_loop_finish(&loop);
}
END_TEST

static void it_poll_cb(lure_poll_t *p, int status, int events) {
  char c;

  ck_assert_int_eq(status, 0);
  ck_assert(events & LURE_READABLE);
  ck_assert_int_eq(read(it_fd, &c, 1), 1);
  it_polled = 1;
  lure_poll_stop(p);
}

static void *it_writer(void *arg) {
  int fd = *(int *) arg;

  usleep(20000);
  if (write(fd, "x", 1) != 1)
    abort();
  return NULL;
}

START_TEST(loop_idle_ticks_see_io) {
  lure_loop_t loop;
  lure_idle_t idle;
  lure_poll_t poll;
  lure_timer_t dog;
  pthread_t tid;
  int sv[2];

  it_ticks = -1000000000; /* stop only on the poll */
  it_polled = 0;
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  it_fd = sv[0];
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_idle_start(&idle, it_idle_cb), 0);
  ck_assert_int_eq(lure_poll_init(&loop, &poll, sv[0]), 0);
  ck_assert_int_eq(lure_poll_start(&poll, LURE_READABLE, it_poll_cb), 0);
  ck_assert_int_eq(pthread_create(&tid, NULL, it_writer, &sv[1]), 0);
  lt_watchdog(&loop, &dog, 5000, "readiness never seen by idle ticks");
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(pthread_join(tid, NULL), 0);
  ck_assert_int_eq(it_polled, 1);
  lure_close((lure_handle_t *) &idle, NULL);
  lure_close((lure_handle_t *) &poll, NULL);
  lt_loop_finish(&loop);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* A signal the loop does not watch interrupts its wait (EINTR) but does
 * not end it: the wait goes on for the time left, as libuv's does.  A
 * signal every 2 ms aimed at the loop's thread; one LURE_RUN_ONCE tick
 * still waits for its 40 ms timer and runs it, and the prepare phase runs
 * once.  Then an endless wait (nothing but an async handle) is ended by
 * the send, not by the signals.  The ring's wait used to end the tick at
 * the first signal: ONCE returned with nothing run, and every phase ran
 * once per signal. */
static int ei_signals;
static int ei_prepares;
static int ei_fired;
static void ei_on_signal(int sig) {
  (void) sig;
  ei_signals++;
}
static void ei_prepare_cb(lure_prepare_t *h) {
  (void) h;
  ei_prepares++;
}
static void ei_timer_cb(lure_timer_t *h) {
  (void) h;
  ei_fired++;
}
static void ei_async_cb(lure_async_t *h) {
  (void) h;
  ei_fired++;
}
static void *ei_sender(void *arg) {
  usleep(40000);
  ck_assert_int_eq(lure_async_send(arg), 0);
  return NULL;
}
START_TEST(loop_wait_survives_signals) {
  struct lt_sig_aimed sig;
  lure_loop_t loop;
  lure_timer_t timer;
  lure_prepare_t prep;
  lure_async_t async;
  lure_loop_stats_t before;
  lure_loop_stats_t after;
  pthread_t tid;
  uint64_t start;
  uint64_t ms;

  ei_signals = ei_prepares = ei_fired = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_prepare_init(&loop, &prep), 0);
  ck_assert_int_eq(lure_prepare_start(&prep, ei_prepare_cb), 0);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  lt_sig_aimed_start(&sig, ei_on_signal, 2000000L);
  ck_assert_int_eq(lure_loop_stats(&loop, &before), 0);
  lure_update_time(&loop);
  start = lure_hrtime();
  ck_assert_int_eq(lure_timer_start(&timer, ei_timer_cb, 40, 0), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_ONCE), 1);
  ms = lt_ms_since(start);
  ck_assert_int_eq(lure_loop_stats(&loop, &after), 0);
  ck_assert_msg(ei_fired == 1, "set %s: RUN_ONCE returned after %llu ms and "
                "%d signals without running its timer", lt_set(),
                (unsigned long long) ms, ei_signals);
  ck_assert_int_eq(ei_prepares, 1);
  ck_assert_uint_eq(after.ticks - before.ticks, 1);
  ck_assert_msg(ms >= 38, "the 40 ms timer fired after %llu ms",
                (unsigned long long) ms);
  ck_assert_int_ge(ei_signals, 2);

  /* No timeout at all: only the send ends the wait. */
  ei_fired = 0;
  ei_signals = 0;
  lure_prepare_stop(&prep);
  ck_assert_int_eq(lure_async_init(&loop, &async, ei_async_cb), 0);
  ck_assert_int_eq(pthread_create(&tid, NULL, ei_sender, &async), 0);
  ck_assert_int_eq(lure_loop_stats(&loop, &before), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_ONCE), 1);
  ck_assert_int_eq(lure_loop_stats(&loop, &after), 0);
  ck_assert_int_eq(pthread_join(tid, NULL), 0);
  ck_assert_msg(ei_fired == 1, "set %s: RUN_ONCE returned after %d signals "
                "without the async callback", lt_set(), ei_signals);
  ck_assert_uint_eq(after.ticks - before.ticks, 1);
  ck_assert_int_ge(ei_signals, 2);
  lt_sig_aimed_stop(&sig);
  lure_close((lure_handle_t *) &async, NULL);
  lure_close((lure_handle_t *) &timer, NULL);
  lure_close((lure_handle_t *) &prep, NULL);
  lt_loop_finish(&loop);
}
END_TEST

/* Stopping a poll handle leaves the loop nothing to report: the next
 * LURE_RUN_ONCE tick still waits for its 20 ms timer, as libuv's does.  On
 * the ring the stop is a POLL_REMOVE, and its CQEs (the remove's own, the
 * poll's -ECANCELED) ended the wait with nothing run. */
static void ps_poll_cb(lure_poll_t *h, int status, int events) {
  (void) h;
  (void) status;
  (void) events;
}
START_TEST(loop_once_after_poll_stop) {
  lure_loop_t loop;
  lure_poll_t poll;
  lure_timer_t timer;
  int sv[2];
  int round;

  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_poll_init(&loop, &poll, sv[0]), 0);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  for (round = 0; round < 10; round++) {
    ck_assert_int_eq(lure_poll_start(&poll, LURE_READABLE, ps_poll_cb), 0);
    ck_assert_int_ge(lure_run(&loop, LURE_RUN_NOWAIT), 0);
    ck_assert_int_eq(lure_poll_stop(&poll), 0);
    ck_assert_int_eq(lt_once_runs_timer(&loop, &timer, 20, "round %d",
                                        round), 0);
  }
  lure_close((lure_handle_t *) &poll, NULL);
  lure_close((lure_handle_t *) &timer, NULL);
  lt_loop_finish(&loop);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* With one 50 ms timer the loop sleeps in its wait point until the timer is
 * due: a handful of ticks, not a spin. */
START_TEST(loop_sleeps_until_timer) {
  lure_loop_t loop;
  lure_timer_t timer;
  lure_loop_stats_t before;
  lure_loop_stats_t after;
  uint64_t start;
  uint64_t ms;

  sl_fired = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_loop_stats(&loop, &before), 0);
  start = lure_hrtime();
  lure_update_time(&loop);
  ck_assert_int_eq(lure_timer_start(&timer, sl_timer_cb, 50, 0), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ms = lt_ms_since(start);
  ck_assert_int_eq(lure_loop_stats(&loop, &after), 0);
  ck_assert_int_eq(sl_fired, 1);
  ck_assert_msg(ms >= 45, "the 50 ms timer fired after %llu ms",
                (unsigned long long) ms);
  ck_assert_msg(after.ticks - before.ticks <= 5, "%llu ticks for one timer",
                (unsigned long long) (after.ticks - before.ticks));
  ck_assert_msg(after.wait_calls - before.wait_calls <= 10,
                "%llu wait calls for one timer",
                (unsigned long long) (after.wait_calls - before.wait_calls));
  ck_assert_uint_ge(after.wait_calls - before.wait_calls, 1);
  lt_loop_finish(&loop);
}
END_TEST

static int ib_count;
static void ib_idle_cb(lure_idle_t *h) {
  if (++ib_count == 100) {
    lure_idle_stop(h);
    lure_close((lure_handle_t *) h->data, NULL);
  }
}
static void ib_timer_cb(lure_timer_t *h) {
  ck_abort_msg("the 10 s timer fired: the loop blocked");
}

/* An active idle handle makes the poll phase non-blocking, even with a 10 s
 * timer pending. */
START_TEST(loop_idle_does_not_block) {
  lure_loop_t loop;
  lure_timer_t timer;
  lure_idle_t idle;
  uint64_t start;
  int i;

  ib_count = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_timer_start(&timer, ib_timer_cb, 10000, 0), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  idle.data = &timer;
  ck_assert_int_eq(lure_idle_start(&idle, ib_idle_cb), 0);

  start = lure_hrtime();
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(ib_count, 1);
  for (i = 0; i < 10; i++)
    ck_assert_int_ne(lure_run(&loop, LURE_RUN_ONCE), 0);
  ck_assert_int_eq(ib_count, 11);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(ib_count, 100);
  ck_assert_msg(lt_ms_since(start) < 5000, "idle runs took %llu ms",
                (unsigned long long) lt_ms_since(start));
  lt_loop_finish(&loop);
}
END_TEST

/* ---- run modes ---------------------------------------------------------------------- */

START_TEST(loop_run_empty) {
  lure_loop_t loop;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_ONCE), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lure_run(&loop, (lure_run_mode) 42), LURE_EINVAL);
  lt_loop_finish(&loop);
}
END_TEST

static int once_count;
static void once_timer_cb(lure_timer_t *h) { once_count++; }

/* ONCE blocks for the timer and runs it before returning (forward
 * progress); it returns 0 once nothing is left, nonzero otherwise. */
START_TEST(loop_run_once) {
  lure_loop_t loop;
  lure_timer_t t1;
  lure_timer_t t2;
  int i;

  once_count = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t1), 0);
  ck_assert_int_eq(lure_timer_start(&t1, once_timer_cb, 20, 0), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_ONCE), 0);
  ck_assert_int_eq(once_count, 1);

  /* A repeating timer: each ONCE runs it once more and says "alive". */
  ck_assert_int_eq(lure_timer_init(&loop, &t2), 0);
  ck_assert_int_eq(lure_timer_start(&t2, once_timer_cb, 20, 20), 0);
  for (i = 0; i < 3; i++) {
    int before = once_count;

    ck_assert_int_ne(lure_run(&loop, LURE_RUN_ONCE), 0);
    /* At least the one it waited for; two if the machine stalled us past
     * the next due time before the wait. */
    ck_assert_int_ge(once_count, before + 1);
    ck_assert_int_le(once_count, before + 2);
  }
  /* NOWAIT does not wait for a timer that is not due. */
  ck_assert_int_eq(lure_timer_start(&t2, once_timer_cb, 10000, 0), 0);
  i = once_count;
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(once_count, i);
  lt_loop_finish(&loop);
}
END_TEST

static int stop_count;
static void stop_timer_cb(lure_timer_t *h) {
  stop_count++;
  if (stop_count == 3)
    lure_stop(h->loop);
  if (stop_count == 6)
    lure_close((lure_handle_t *) h, NULL);
}

/* lure_stop() from a callback ends this lure_run() (nonzero: still alive);
 * the next lure_run() carries on. */
START_TEST(loop_stop) {
  lure_loop_t loop;
  lure_timer_t timer;

  stop_count = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_timer_start(&timer, stop_timer_cb, 1, 1), 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(stop_count, 3);
  ck_assert_int_ne(lure_loop_alive(&loop), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(stop_count, 6);

  /* Stopped before it runs: lure_run() returns at once, nothing runs, and
   * the stop is used up. */
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_timer_start(&timer, stop_timer_cb, 0, 1), 0);
  stop_count = 100;
  lure_stop(&loop);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(stop_count, 100);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_ONCE), 0);
  ck_assert_int_ge(stop_count, 101);
  lt_loop_finish(&loop);
}
END_TEST

static void unref_timer_cb(lure_timer_t *h) {
  ck_abort_msg("an unreferenced timer kept the loop alive");
}

static void never_idle_cb(lure_idle_t *h) {
  ck_abort_msg("this idle callback must not run");
}

/* Unreferenced handles do not keep the loop alive. */
START_TEST(loop_unref) {
  lure_loop_t loop;
  lure_timer_t timer;
  lure_idle_t idle;
  uint64_t start;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_timer_start(&timer, unref_timer_cb, 10000, 0), 0);
  ck_assert_int_ne(lure_loop_alive(&loop), 0);
  lure_unref((lure_handle_t *) &timer);
  ck_assert_int_eq(lure_has_ref((lure_handle_t *) &timer), 0);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &timer), 0);

  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  lure_unref((lure_handle_t *) &idle);
  ck_assert_int_eq(lure_idle_start(&idle, never_idle_cb), 0);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);

  start = lure_hrtime();
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_ONCE), 0);
  ck_assert_msg(lt_ms_since(start) < 5000, "run took %llu ms",
                (unsigned long long) lt_ms_since(start));

  /* ref again: alive again; unref twice then ref once: referenced. */
  lure_ref((lure_handle_t *) &timer);
  ck_assert_int_ne(lure_loop_alive(&loop), 0);
  lure_unref((lure_handle_t *) &timer);
  lure_unref((lure_handle_t *) &timer);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  lure_ref((lure_handle_t *) &timer);
  ck_assert_int_ne(lure_has_ref((lure_handle_t *) &timer), 0);
  ck_assert_int_ne(lure_loop_alive(&loop), 0);
  ck_assert_int_eq(lure_timer_stop(&timer), 0);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  lt_loop_finish(&loop);
}
END_TEST

static void noop_close_cb(lure_handle_t *h) { (*(int *) h->data)++; }

/* lure_loop_alive() follows active handles, requests and closing handles. */
START_TEST(loop_alive) {
  lure_loop_t loop;
  lure_idle_t idle;
  int closed = 0;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_loop_alive(&loop), 0); /* initialised, not active */
  ck_assert_int_eq(lure_idle_start(&idle, never_idle_cb), 0);
  ck_assert_int_ne(lure_loop_alive(&loop), 0);
  ck_assert_int_eq(lure_idle_stop(&idle), 0);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  idle.data = &closed;
  ck_assert_int_eq(lure_close((lure_handle_t *) &idle, noop_close_cb), 0);
  ck_assert_int_ne(lure_loop_alive(&loop), 0); /* a close callback is due */
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(closed, 1);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  lt_loop_finish(&loop);
}
END_TEST

/* lure_loop_close() refuses while a handle is open, even an inactive one. */
START_TEST(loop_close_busy) {
  lure_loop_t loop;
  lure_timer_t timer;
  int closed = 0;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_loop_close(&loop), LURE_EBUSY);
  timer.data = &closed;
  ck_assert_int_eq(lure_close((lure_handle_t *) &timer, noop_close_cb), 0);
  /* Closing but its callback has not run yet. */
  ck_assert_int_eq(lure_loop_close(&loop), LURE_EBUSY);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(closed, 1);
  ck_assert_int_eq(lure_loop_close(&loop), 0);
}
END_TEST

/* A loop can be closed and initialised again in the same memory, many
 * times (no leak of descriptors: the count of open fds stays put). */
START_TEST(loop_init_close_repeat) {
  lure_loop_t loop;
  int fd_before;
  int fd_after;
  int i;

  fd_before = dup(0);
  ck_assert_int_ge(fd_before, 0);
  close(fd_before);
  for (i = 0; i < 50; i++) {
    lt_loop_init(&loop);
    ck_assert_int_eq(lure_loop_close(&loop), 0);
  }
  fd_after = dup(0);
  ck_assert_int_ge(fd_after, 0);
  close(fd_after);
  ck_assert_int_eq(fd_after, fd_before);
}
END_TEST

/* ---- the default loop ------------------------------------------------------------------- */

static int dl_fired;
static void dl_timer_cb(lure_timer_t *h) { dl_fired++; }

START_TEST(loop_default_loop) {
  lure_loop_t *a = lure_default_loop();
  lure_loop_t *b = lure_default_loop();
  lure_timer_t timer;

  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_eq(a, b);
  dl_fired = 0;
  ck_assert_int_eq(lure_timer_init(a, &timer), 0);
  ck_assert_int_eq(lure_timer_start(&timer, dl_timer_cb, 1, 0), 0);
  ck_assert_int_eq(lure_run(a, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(dl_fired, 1);
  ck_assert_int_eq(lure_close((lure_handle_t *) &timer, NULL), 0);
  ck_assert_int_eq(lure_run(a, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lure_loop_close(a), 0);
  /* After closing it, the default loop can be had again. */
  b = lure_default_loop();
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(lure_run(b, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(lure_loop_close(b), 0);
}
END_TEST

/* ---- walk -------------------------------------------------------------------------------- */

struct walk_count {
  int n;
  int types[LURE_HANDLE_TYPE_MAX];
};

static void walk_cb(lure_handle_t *h, void *arg) {
  struct walk_count *c = arg;

  c->n++;
  ck_assert_int_gt(h->type, LURE_UNKNOWN_HANDLE);
  ck_assert_int_lt(h->type, LURE_HANDLE_TYPE_MAX);
  c->types[h->type]++;
}

static int walk_work_done;
static void walk_after_cb(lure_work_t *req, int status) { walk_work_done++; }

static void walk_close_cb(lure_handle_t *h, void *arg) {
  if (!lure_is_closing(h))
    lure_close(h, NULL);
}

/* lure_walk() visits the user's handles, not lure's own (the thread pool's
 * async handle, for one). */
START_TEST(loop_walk) {
  lure_loop_t loop;
  lure_timer_t timers[3];
  lure_idle_t idle;
  lure_async_t async;
  lure_check_t check;
  lure_work_t work;
  struct walk_count c;
  int i;

  lt_loop_init(&loop);
  memset(&c, 0, sizeof(c));
  lure_walk(&loop, walk_cb, &c);
  ck_assert_int_eq(c.n, 0);

  for (i = 0; i < 3; i++)
    ck_assert_int_eq(lure_timer_init(&loop, &timers[i]), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_async_init(&loop, &async, NULL), 0);
  ck_assert_int_eq(lure_check_init(&loop, &check), 0);
  /* Use the thread pool so that its internals certainly exist (the async
   * handle keeps the loop alive: run it ONCE at a time). */
  walk_work_done = 0;
  ck_assert_int_eq(lure_queue_work(&loop, &work, io_work_cb, walk_after_cb), 0);
  for (i = 0; i < 1000 && !walk_work_done; i++)
    ck_assert_int_ne(lure_run(&loop, LURE_RUN_ONCE), 0);
  ck_assert_int_eq(walk_work_done, 1);

  memset(&c, 0, sizeof(c));
  lure_walk(&loop, walk_cb, &c);
  ck_assert_int_eq(c.n, 6);
  ck_assert_int_eq(c.types[LURE_TIMER], 3);
  ck_assert_int_eq(c.types[LURE_IDLE], 1);
  ck_assert_int_eq(c.types[LURE_ASYNC], 1);
  ck_assert_int_eq(c.types[LURE_CHECK], 1);

  /* The walk callback may close the handles it is given. */
  lure_walk(&loop, walk_close_cb, NULL);
  memset(&c, 0, sizeof(c));
  lure_walk(&loop, walk_cb, &c);
  ck_assert_int_eq(c.n, 6); /* closing, still listed until their close cb */
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  memset(&c, 0, sizeof(c));
  lure_walk(&loop, walk_cb, &c);
  ck_assert_int_eq(c.n, 0);
  ck_assert_int_eq(lure_loop_close(&loop), 0);
}
END_TEST

/* ---- time ------------------------------------------------------------------------------ */

START_TEST(loop_time) {
  lure_loop_t loop;
  lure_timer_t timer;
  lure_idle_t idle;
  uint64_t t0;
  uint64_t t1;
  uint64_t h0;
  int to;

  lt_loop_init(&loop);
  h0 = lure_hrtime();
  ck_assert_uint_gt(h0, 0);
  t0 = lure_now(&loop);
  lt_sleep_ms(20);
  ck_assert_uint_eq(lure_now(&loop), t0); /* cached until updated */
  lure_update_time(&loop);
  t1 = lure_now(&loop);
  ck_assert_uint_ge(t1, t0 + 15);
  ck_assert_uint_ge(lure_hrtime() - h0, 15000000u);

  /* The poll timeout: -1 with nothing to wait for, the nearest timer's
   * distance, 0 with an idle handle. */
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_timer_start(&timer, once_timer_cb, 1000, 0), 0);
  /* A fresh loop may have watchers for the kernel that only a tick hands
   * over (as libuv's watcher queue): 0 until then. */
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  to = lure_backend_timeout(&loop);
  ck_assert_int_gt(to, 0);
  ck_assert_int_le(to, 1000);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_idle_start(&idle, never_idle_cb), 0);
  ck_assert_int_eq(lure_backend_timeout(&loop), 0);
  ck_assert_int_eq(lure_idle_stop(&idle), 0);
  ck_assert_int_eq(lure_timer_stop(&timer), 0);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(loop_version) {
  char want[32];

  ck_assert_uint_eq(lure_version(), LURE_VERSION_HEX);
  snprintf(want, sizeof(want), "%d.%d.%d", LURE_VERSION_MAJOR,
           LURE_VERSION_MINOR, LURE_VERSION_PATCH);
  ck_assert_ptr_nonnull(lure_version_string());
  ck_assert_msg(strncmp(lure_version_string(), want, strlen(want)) == 0,
                "version string %s", lure_version_string());
}
END_TEST

/* ---- configure --------------------------------------------------------------------------- */

static int cf_fired;
static void cf_timer_cb(lure_timer_t *h) { cf_fired++; }
static void cf_poll_cb(lure_poll_t *h, int status, int events) {
  ck_assert_int_eq(status, 0);
  ck_assert(events & LURE_READABLE);
  cf_fired++;
  lure_poll_stop(h);
}

/* The loop still serves timers and fd watchers (on the new wait point). */
static void cf_exercise(lure_loop_t *loop) {
  lure_timer_t timer;
  lure_poll_t poll;
  int fds[2];

  cf_fired = 0;
  ck_assert_int_eq(pipe(fds), 0);
  ck_assert_int_eq(lure_timer_init(loop, &timer), 0);
  ck_assert_int_eq(lure_timer_start(&timer, cf_timer_cb, 1, 0), 0);
  ck_assert_int_eq(lure_poll_init(loop, &poll, fds[0]), 0);
  ck_assert_int_eq(lure_poll_start(&poll, LURE_READABLE, cf_poll_cb), 0);
  ck_assert_int_eq(write(fds[1], "x", 1), 1);
  ck_assert_int_eq(lure_run(loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(cf_fired, 2);
  lure_close((lure_handle_t *) &timer, NULL);
  lure_close((lure_handle_t *) &poll, NULL);
  ck_assert_int_eq(lure_run(loop, LURE_RUN_DEFAULT), 0);
  close(fds[0]);
  close(fds[1]);
}

START_TEST(loop_configure_backend) {
  lure_loop_t loop;
  lure_poll_t poll;
  int fds[2];
  int had_ring;

  lt_loop_init(&loop);
  had_ring = strcmp(lure_loop_backend(&loop), "io_uring") == 0;
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, "epoll"), 0);
  ck_assert_str_eq(lure_loop_backend(&loop), "epoll");
  cf_exercise(&loop);
  if (had_ring) {
    /* And back to the ring, under both of its names. */
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, "uring"), 0);
    ck_assert_str_eq(lure_loop_backend(&loop), "io_uring");
    cf_exercise(&loop);
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, "epoll"), 0);
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, "io_uring"), 0);
    ck_assert_str_eq(lure_loop_backend(&loop), "io_uring");
  }

  /* With an active fd watcher the wait point cannot change. */
  ck_assert_int_eq(pipe(fds), 0);
  ck_assert_int_eq(lure_poll_init(&loop, &poll, fds[0]), 0);
  ck_assert_int_eq(lure_poll_start(&poll, LURE_READABLE, cf_poll_cb), 0);
  if (strcmp(lure_loop_backend(&loop), "epoll") == 0)
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, "uring"),
                     LURE_EBUSY);
  else
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, "epoll"),
                     LURE_EBUSY);
  ck_assert_int_eq(lure_poll_stop(&poll), 0);
  lure_close((lure_handle_t *) &poll, NULL);
  lt_loop_finish(&loop);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

START_TEST(loop_configure_bad) {
  lure_loop_t loop;
  const char *before;

  lt_loop_init(&loop);
  before = lure_loop_backend(&loop);
  ck_assert_int_eq(lure_loop_configure(&loop, (lure_loop_option) 0), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, (lure_loop_option) 999), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, "kqueue"),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, ""), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, (const char *) NULL),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE,
                                       "no_such_op"), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE,
                                       "read,no_such_op"), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_RING_ENTRIES, 0u),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_RING_ENTRIES, 32769u),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(NULL, LURE_LOOP_BACKEND, "epoll"),
                   LURE_EINVAL);
  /* A refused option changes nothing. */
  ck_assert_str_eq(lure_loop_backend(&loop), before);
  /* An empty or NULL mask clears it, and is fine on any loop. */
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE, ""), 0);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE,
                                       (const char *) NULL), 0);
  ck_assert_str_eq(lure_loop_backend(&loop), before);
  cf_exercise(&loop);
  lt_loop_finish(&loop);
}
END_TEST

/* Masking poll_add takes away what the ring needs to be the wait point:
 * a loop that was not forced onto the ring falls back to epoll, and still
 * works.  Clearing the mask brings the ring back. */
START_TEST(loop_configure_uring_disable) {
  lure_loop_t loop;
  const char *forced = getenv("LURE_BACKEND");

  /* This process only: make the uring set's loop an unforced one (it still
   * gets the ring), the case the fallback is for. */
  if (forced != NULL && strcmp(forced, "epoll") != 0)
    unsetenv("LURE_BACKEND");
  lt_loop_init(&loop);
  if (strcmp(lure_loop_backend(&loop), "io_uring") != 0) {
    /* Without a ring the mask is accepted and changes nothing. */
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE,
                                         "poll_add"), 0);
    ck_assert_str_eq(lure_loop_backend(&loop), "epoll");
    cf_exercise(&loop);
    lt_loop_finish(&loop);
    return;
  }
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE, "statx"), 0);
  ck_assert_str_eq(lure_loop_backend(&loop), "io_uring");
  cf_exercise(&loop);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE,
                                       "read,poll_add"), 0);
  ck_assert_str_eq(lure_loop_backend(&loop), "epoll");
  cf_exercise(&loop);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE, ""), 0);
  ck_assert_str_eq(lure_loop_backend(&loop), "io_uring");
  cf_exercise(&loop);
  lt_loop_finish(&loop);
}
END_TEST

/* A loop forced onto the ring cannot lose it: masking poll_add is refused
 * with an error, and the loop keeps its ring, working.  (Asking for the
 * backend already in use does nothing, so the loop goes to epoll and back
 * to be forced for certain.) */
START_TEST(loop_configure_uring_disable_forced) {
  lure_loop_t loop;
  int rc;

  lt_loop_init(&loop);
  if (strcmp(lure_loop_backend(&loop), "io_uring") != 0) {
    lt_loop_finish(&loop);
    return; /* no ring here */
  }
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, "epoll"), 0);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, "uring"), 0);
  ck_assert_str_eq(lure_loop_backend(&loop), "io_uring");
  rc = lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE, "poll_add");
  ck_assert_msg(rc < 0, "masking poll_add on a forced ring returned %d", rc);
  ck_assert_str_eq(lure_loop_backend(&loop), "io_uring");
  cf_exercise(&loop);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(loop_configure_ring_entries) {
  lure_loop_t loop;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_RING_ENTRIES, 8u), 0);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_RING_ENTRIES, 1u), 0);
  if (lt_set_backend() != NULL)
    ck_assert_str_eq(lure_loop_backend(&loop), lt_set_backend());
  cf_exercise(&loop);
  lt_loop_finish(&loop);
}
END_TEST

/* Switching the wait point keeps timers, async and signal handles working
 * (they do not prevent the switch).  Where the ring cannot be had (the
 * nouring set), forcing it fails with the ring's setup error and the loop
 * keeps epoll. */
static int sw_timer;
static int sw_async;
static int sw_signal;
static void sw_timer_cb(lure_timer_t *h) { sw_timer++; }
static void sw_async_cb(lure_async_t *h) { sw_async++; }
static void sw_signal_cb(lure_signal_t *h, int signum) { sw_signal++; }
static void *sw_thread(void *arg) {
  lt_sleep_ms(10);
  lure_async_send(arg);
  return NULL;
}

START_TEST(loop_configure_switch_keeps_handles) {
  lure_loop_t loop;
  lure_timer_t timer;
  lure_timer_t wd;
  lure_async_t async;
  lure_signal_t sig;
  const char *before;
  const char *other;
  const char *nouring = getenv("LURE_NOURING_ERRNO");
  pthread_t tid;
  int rc;
  int i;

  sw_timer = sw_async = sw_signal = 0;
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "a handle stopped working after the switch");
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_timer_start(&timer, sw_timer_cb, 5, 5), 0);
  ck_assert_int_eq(lure_async_init(&loop, &async, sw_async_cb), 0);
  ck_assert_int_eq(lure_signal_init(&loop, &sig), 0);
  ck_assert_int_eq(lure_signal_start(&sig, sw_signal_cb, SIGUSR1), 0);
  /* Let everything be registered with the first wait point. */
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);

  before = lure_loop_backend(&loop);
  other = strcmp(before, "io_uring") == 0 ? "epoll" : "uring";
  rc = lure_loop_configure(&loop, LURE_LOOP_BACKEND, other);
  if (nouring != NULL) {
    long nr;
    int denied = nouring_denied(nouring, &nr);

    /* A ring that cannot probe its opcodes has no POLL_ADD for the wait
     * point: ENOTSUP; otherwise the errno of the denied call. */
    ck_assert_int_eq(rc, nr == __NR_io_uring_register ? LURE_ENOTSUP
                                                      : -denied);
    ck_assert_str_eq(lure_loop_backend(&loop), "epoll");
  } else if (rc == 0) {
    ck_assert_str_eq(lure_loop_backend(&loop),
                     strcmp(other, "uring") == 0 ? "io_uring" : "epoll");
  } else {
    /* The epoll set on a host without a ring. */
    ck_assert_int_lt(rc, 0);
    ck_assert_str_eq(lure_loop_backend(&loop), before);
  }

  ck_assert_int_eq(pthread_create(&tid, NULL, sw_thread, &async), 0);
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  for (i = 0; i < 1000 && (sw_timer < 2 || sw_async < 1 || sw_signal < 1); i++)
    lure_run(&loop, LURE_RUN_ONCE);
  ck_assert_int_eq(pthread_join(tid, NULL), 0);
  ck_assert_int_ge(sw_timer, 2);
  ck_assert_int_eq(sw_async, 1);
  ck_assert_int_eq(sw_signal, 1);
  lt_loop_finish(&loop);
}
END_TEST

/* What an active fd watcher prevents, per lure_loop_configure(3): anything
 * that sets the ring or the wait point up again (another backend, a ring
 * size while the ring is in use, a new mask unless epoll is forced); and
 * what it does not prevent (a ring size or a mask that need no set-up). */
static void busy_poll_cb(lure_poll_t *h, int status, int events) {
  ck_abort_msg("the busy test's poll handle fired");
}

START_TEST(loop_configure_busy) {
  lure_loop_t loop;
  lure_poll_t poll;
  const char *forced = getenv("LURE_BACKEND");
  int fds[2];

  ck_assert_int_eq(pipe(fds), 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_poll_init(&loop, &poll, fds[0]), 0);
  ck_assert_int_eq(lure_poll_start(&poll, LURE_READABLE, busy_poll_cb), 0);

  if (strcmp(lure_loop_backend(&loop), "io_uring") == 0) {
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_RING_ENTRIES, 16u),
                     LURE_EBUSY);
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE, "read"),
                     LURE_EBUSY);
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, "epoll"),
                     LURE_EBUSY);
    ck_assert_str_eq(lure_loop_backend(&loop), "io_uring");
    /* Force epoll (a real switch), then the same calls need no set-up. */
    ck_assert_int_eq(lure_poll_stop(&poll), 0);
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BACKEND, "epoll"), 0);
    ck_assert_int_eq(lure_poll_start(&poll, LURE_READABLE, busy_poll_cb), 0);
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE, "read"), 0);
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_RING_ENTRIES, 16u), 0);
  } else if (forced != NULL && strcmp(forced, "epoll") == 0) {
    /* Epoll forced by the environment: no ring to set up. */
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE, "read"), 0);
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_RING_ENTRIES, 16u), 0);
  } else {
    /* Epoll because the ring failed, not forced: a new mask would try the
     * ring again. */
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_URING_DISABLE, "read"),
                     LURE_EBUSY);
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_RING_ENTRIES, 16u), 0);
  }
  ck_assert_str_eq(lure_loop_backend(&loop), "epoll");
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &poll), 0);
  lt_loop_finish(&loop);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

/* lure_backend_fd() becomes readable when the loop has work, so that the
 * loop can be embedded in another one (libuv's uv_backend_fd). */
static int bf_calls;
static void bf_async_cb(lure_async_t *h) { bf_calls++; }

START_TEST(loop_backend_fd_readable) {
  lure_loop_t loop;
  lure_async_t async;
  struct pollfd pfd;
  pthread_t tid;
  uint64_t start;
  uint64_t ms;
  int i;

  bf_calls = 0;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_async_init(&loop, &async, bf_async_cb), 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0); /* arm everything */
  pfd.fd = lure_backend_fd(&loop);
  pfd.events = POLLIN;
  pfd.revents = 0;
  ck_assert_int_ge(pfd.fd, 0);
  start = lure_hrtime();
  ck_assert_int_eq(pthread_create(&tid, NULL, sw_thread, &async), 0);
  /* The send comes after 10 ms; a poller must be woken then, not find the
   * descriptor readable only when its own timeout runs out. */
  ck_assert_int_eq(poll(&pfd, 1, 3000), 1);
  ms = lt_ms_since(start);
  ck_assert(pfd.revents & POLLIN);
  ck_assert_msg(ms < 2000, "the backend fd woke its poller only after %llu ms "
                "(the poll timeout), not when the async send came",
                (unsigned long long) ms);
  ck_assert_int_eq(pthread_join(tid, NULL), 0);
  for (i = 0; i < 10 && bf_calls == 0; i++)
    ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(bf_calls, 1);
  lt_loop_finish(&loop);
}
END_TEST

/* libuv's embed test: a loop driven from outside by poll(2) on
 * lure_backend_fd() with lure_backend_timeout(), then a NOWAIT run.  The
 * ring's watcher for async handles is an SQE until a tick submits it: the
 * timeout must be 0 while it is, or the outside poll sleeps through the
 * send. */
static void em_async_cb(lure_async_t *h) {
  (*(int *) h->data)++;
  lure_close((lure_handle_t *) h, NULL);
}

START_TEST(loop_embed) {
  lure_loop_t loop;
  lure_async_t async;
  struct pollfd pfd;
  pthread_t tid;
  uint64_t start;
  int called = 0;
  int to;
  int rc;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_async_init(&loop, &async, em_async_cb), 0);
  async.data = &called;
  start = lure_hrtime();
  ck_assert_int_eq(pthread_create(&tid, NULL, sw_thread, &async), 0);
  while (lure_loop_alive(&loop)) {
    to = lure_backend_timeout(&loop);
    ck_assert_int_ge(to, -1);
    /* Bounded, so that a failure is a message instead of a hang. */
    if (to < 0 || to > 5000)
      to = 5000;
    pfd.fd = lure_backend_fd(&loop);
    pfd.events = POLLIN;
    pfd.revents = 0;
    do
      rc = poll(&pfd, 1, to);
    while (rc < 0 && errno == EINTR);
    ck_assert_int_ge(rc, 0);
    (void) lure_run(&loop, LURE_RUN_NOWAIT);
  }
  ck_assert_int_eq(pthread_join(tid, NULL), 0);
  ck_assert_int_eq(called, 1);
  ck_assert_msg(lt_ms_since(start) < 3000, "the embedding poll slept %llu "
                "ms: lure_backend_timeout() said wait while the loop had "
                "work not handed to the kernel",
                (unsigned long long) lt_ms_since(start));
  lt_loop_finish(&loop);
}
END_TEST

/* libuv's idle_check: an idle callback that stops the only idle handle
 * while a check handle is active and nothing else is.  RUN_ONCE judged
 * whether it may sleep before the idle phase ran, so it must not block
 * (there is nothing to wake it): it returns, still alive. */
static int ic_idle;
static int ic_check;
static void ic_idle_cb(lure_idle_t *h) {
  ic_idle++;
  ck_assert_int_eq(lure_idle_stop(h), 0);
}
static void ic_check_cb(lure_check_t *h) { ic_check++; }
static void ic_close_cb(lure_handle_t *h) { (*(int *) h->data)++; }

START_TEST(loop_idle_stop_once_returns) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_idle_t idle;
  lure_check_t check;
  int closed = 0;

  ic_idle = ic_check = 0;
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 5000, "RUN_ONCE blocked after the idle handle "
                "stopped itself");
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_idle_start(&idle, ic_idle_cb), 0);
  ck_assert_int_eq(lure_check_init(&loop, &check), 0);
  ck_assert_int_eq(lure_check_start(&check, ic_check_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_ONCE), 1);
  ck_assert_int_eq(ic_idle, 1);
  ck_assert_int_eq(ic_check, 1);
  idle.data = check.data = &closed;
  ck_assert_int_eq(lure_close((lure_handle_t *) &idle, ic_close_cb), 0);
  ck_assert_int_eq(lure_close((lure_handle_t *) &check, ic_close_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_ONCE), 0);
  ck_assert_int_eq(closed, 2);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- statistics ------------------------------------------------------------------------ */

static void st_async_cb(lure_async_t *h) {
  (*(int *) h->data)++;
  lure_close((lure_handle_t *) h, NULL);
}

static void *st_thread(void *arg) {
  lt_sleep_ms(20);
  lure_async_send(arg);
  return NULL;
}

START_TEST(loop_stats) {
  lure_loop_t loop;
  lure_async_t async;
  lure_loop_stats_t st;
  pthread_t tid;
  int called = 0;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_loop_stats(&loop, &st), 0);
  ck_assert_uint_eq(st.ticks, 0);
  ck_assert_int_eq(lure_async_init(&loop, &async, st_async_cb), 0);
  async.data = &called;
  ck_assert_int_eq(pthread_create(&tid, NULL, st_thread, &async), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(pthread_join(tid, NULL), 0);
  ck_assert_int_eq(called, 1);

  ck_assert_int_eq(lure_loop_stats(&loop, &st), 0);
  ck_assert_uint_gt(st.ticks, 0);
  ck_assert_uint_gt(st.wait_calls, 0);
  if (strcmp(lure_loop_backend(&loop), "io_uring") == 0) {
    ck_assert_uint_gt(st.sqes_submitted, 0);
    ck_assert_uint_gt(st.cqes_reaped, 0);
  } else {
    ck_assert_uint_gt(st.epoll_events, 0);
    ck_assert_uint_eq(st.sqes_submitted, 0);
    ck_assert_uint_eq(st.cqes_reaped, 0);
  }
  ck_assert_int_eq(lure_loop_stats(&loop, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_stats(NULL, &st), LURE_EINVAL);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- busy polling (LURE_LOOP_BUSY_POLL) ------------------------------------ */

static int bp_fired;
static void bp_timer_cb(lure_timer_t *h) {
  bp_fired++;
  if (bp_fired == 20 || h->repeat == 0) {
    lure_timer_stop(h);
    lure_close((lure_handle_t *) h, NULL);
  }
}

/* Runs one timer of ms (repeat: 20 times) and returns the loop's stats. */
static void bp_run_timer(lure_loop_t *loop, uint64_t ms, uint64_t repeat,
                         lure_loop_stats_t *st, uint64_t *took_ms) {
  lure_timer_t *timer = malloc(sizeof(*timer));
  uint64_t start;

  ck_assert_ptr_nonnull(timer);
  bp_fired = 0;
  ck_assert_int_eq(lure_timer_init(loop, timer), 0);
  lure_update_time(loop);
  start = lure_hrtime();
  ck_assert_int_eq(lure_timer_start(timer, bp_timer_cb, ms, repeat), 0);
  ck_assert_int_eq(lure_run(loop, LURE_RUN_DEFAULT), 0);
  *took_ms = lt_ms_since(start);
  ck_assert_int_eq(bp_fired, repeat ? 20 : 1);
  ck_assert_int_eq(lure_loop_stats(loop, st), 0);
  free(timer);
}

/* Out of range budgets are refused and change nothing; without the option
 * the loop never spins. */
START_TEST(loop_busy_poll_bad) {
  lure_loop_t loop;
  lure_loop_stats_t st;
  uint64_t ms;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BUSY_POLL, 1001u),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BUSY_POLL, 4000000000u),
                   LURE_EINVAL);
  bp_run_timer(&loop, 3, 0, &st, &ms);
  ck_assert_uint_eq(st.busy_polls, 0);
  ck_assert_uint_eq(st.busy_poll_hits, 0);
  /* Turned on, then off again: no spin either. */
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BUSY_POLL, 1000u), 0);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BUSY_POLL, 0u), 0);
  bp_run_timer(&loop, 3, 0, &st, &ms);
  ck_assert_uint_eq(st.busy_polls, 0);
  lt_loop_finish(&loop);
}
END_TEST

/* A wait for a timer spins first (nothing to find: no hit), never past the
 * timer's due time, and the timer fires on time.  Spins that find nothing
 * back off: 20 waits in a row make a handful of spins, not 20. */
START_TEST(loop_busy_poll_timer) {
  lure_loop_t loop;
  lure_loop_stats_t st;
  uint64_t ms;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BUSY_POLL, 1000u), 0);
  bp_run_timer(&loop, 5, 0, &st, &ms);
  ck_assert_uint_ge(st.busy_polls, 1);
  ck_assert_uint_eq(st.busy_poll_hits, 0);
  ck_assert_msg(ms >= 4, "the 5 ms timer fired after %llu ms",
                (unsigned long long) ms);
  lt_loop_finish(&loop);

  /* A timeout shorter than the budget: the spin ends with it. */
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BUSY_POLL, 1000u), 0);
  bp_run_timer(&loop, 1, 1, &st, &ms);
  ck_assert_uint_ge(st.busy_polls, 1);
  ck_assert_msg(st.busy_polls <= 6,
                "%llu spins in 20 waits that found nothing: no back-off",
                (unsigned long long) st.busy_polls);
  ck_assert_uint_eq(st.busy_poll_hits, 0);
  ck_assert_msg(ms >= 19, "20 timeouts of 1 ms took %llu ms",
                (unsigned long long) ms);
  lt_loop_finish(&loop);
}
END_TEST

/* A spin that loses its CPU found nothing too: it counts as a miss, so the
 * waits skipped after it grow as after any empty spin.  The loss is made
 * without a busy host: a timer signal aimed at the loop's thread every
 * 500 us runs a handler that holds the thread 300 us, so every spin sees a
 * gap between two looks (the loop's "descheduled" case).  20 waits of a
 * 5 ms timer, a 1000 us budget: spins at waits 1, 3, 7 and 15.  When a lost
 * CPU only paused spinning (1, 2, 4, 8 ... ms) and left the skip alone, the
 * 5 ms waits outlasted the pauses: 7 spins (CI met this on a loaded host:
 * loop_busy_poll_timer's bound failed). */
static void bp_hold_cpu(int sig) {
  struct timespec t0;
  struct timespec t;
  int saved = errno;

  (void) sig;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do
    clock_gettime(CLOCK_MONOTONIC, &t);
  while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) <
         300000L);
  errno = saved;
}
START_TEST(loop_busy_poll_descheduled) {
  struct lt_sig_aimed sig;
  lure_loop_t loop;
  lure_loop_stats_t st;
  uint64_t ms;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BUSY_POLL, 1000u), 0);
  lt_sig_aimed_start(&sig, bp_hold_cpu, 500000L);
  bp_run_timer(&loop, 5, 5, &st, &ms);
  lt_sig_aimed_stop(&sig);
  ck_assert_uint_ge(st.busy_polls, 1);
  ck_assert_msg(st.busy_polls <= 5,
                "set %s: %llu spins in 20 waits whose spins all lost the "
                "CPU: a lost CPU does not count as a miss", lt_set(),
                (unsigned long long) st.busy_polls);
  ck_assert_msg(ms >= 95, "20 timeouts of 5 ms took %llu ms",
                (unsigned long long) ms);
  lt_loop_finish(&loop);
}
END_TEST

/* An event that is there when the wait begins is taken by the spin, without
 * sleeping: the prepare callback (the last phase before the poll) writes a
 * byte to a socket a poll handle watches, so the spin's first look finds
 * it, on every wait point.  Ten rounds, the budget set again before each
 * (which also clears what the loop learnt from earlier spins): ten spins,
 * ten hits, and each round's callback ran once. */
static int bp_fd;
static void bp_prepare_cb(lure_prepare_t *h) {
  (void) h;
  ck_assert_int_eq(write(bp_fd, "x", 1), 1);
}
static int bp_reads;
static void bp_poll_cb(lure_poll_t *h, int status, int events) {
  char c;

  ck_assert_int_eq(status, 0);
  ck_assert(events & LURE_READABLE);
  ck_assert_int_eq(read(*(int *) h->data, &c, 1), 1);
  bp_reads++;
}
START_TEST(loop_busy_poll_hit) {
  lure_loop_t loop;
  lure_loop_stats_t st;
  lure_prepare_t prep;
  lure_poll_t poll;
  int sv[2];
  int round;

  lt_loop_init(&loop);
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  bp_fd = sv[1];
  bp_reads = 0;
  ck_assert_int_eq(lure_poll_init(&loop, &poll, sv[0]), 0);
  poll.data = &sv[0];
  ck_assert_int_eq(lure_poll_start(&poll, LURE_READABLE, bp_poll_cb), 0);
  ck_assert_int_eq(lure_prepare_init(&loop, &prep), 0);
  for (round = 0; round < 10; round++) {
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BUSY_POLL, 1000u),
                     0);
    ck_assert_int_eq(lure_prepare_start(&prep, bp_prepare_cb), 0);
    ck_assert_int_eq(lure_run(&loop, LURE_RUN_ONCE), 1);
    lure_prepare_stop(&prep);
    ck_assert_int_eq(bp_reads, round + 1);
  }
  ck_assert_int_eq(lure_loop_stats(&loop, &st), 0);
  ck_assert_msg(st.busy_polls == 10 && st.busy_poll_hits == 10,
                "set %s: %llu spins, %llu hits in 10 rounds", lt_set(),
                (unsigned long long) st.busy_polls,
                (unsigned long long) st.busy_poll_hits);
  lure_close((lure_handle_t *) &poll, NULL);
  lure_close((lure_handle_t *) &prep, NULL);
  lt_loop_finish(&loop);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* A loop that meets several events per wait does not spin: its sleeps are
 * shared by them, and a spin would only cut its batches smaller.  The
 * prepare callback writes a byte to each of 3 sockets that poll handles
 * watch, 10 rounds with the budget set once: the first wait spins (nothing
 * was dispatched before it) and takes the 3 events; every later wait
 * follows 3 events and does not spin.  Without that rule: 10 spins. */
static int bp_many_fd[3];
static void bp_many_prepare_cb(lure_prepare_t *h) {
  int i;

  (void) h;
  for (i = 0; i < 3; i++)
    ck_assert_int_eq(write(bp_many_fd[i], "x", 1), 1);
}
static void bp_many_poll_cb(lure_poll_t *h, int status, int events) {
  char buf[16];
  ssize_t n;

  ck_assert_int_eq(status, 0);
  ck_assert(events & LURE_READABLE);
  while ((n = read(*(int *) h->data, buf, sizeof(buf))) > 0)
    bp_reads += (int) n;
}
START_TEST(loop_busy_poll_many_events) {
  lure_loop_t loop;
  lure_loop_stats_t st;
  lure_prepare_t prep;
  lure_poll_t poll[3];
  int sv[3][2];
  int round;
  int i;

  lt_loop_init(&loop);
  bp_reads = 0;
  for (i = 0; i < 3; i++) {
    ck_assert_int_eq(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]), 0);
    bp_many_fd[i] = sv[i][1];
    ck_assert_int_eq(lure_poll_init(&loop, &poll[i], sv[i][0]), 0);
    poll[i].data = &sv[i][0];
    ck_assert_int_eq(lure_poll_start(&poll[i], LURE_READABLE, bp_many_poll_cb),
                     0);
  }
  ck_assert_int_eq(lure_prepare_init(&loop, &prep), 0);
  ck_assert_int_eq(lure_prepare_start(&prep, bp_many_prepare_cb), 0);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BUSY_POLL, 1000u), 0);
  for (round = 0; round < 10; round++)
    ck_assert_int_eq(lure_run(&loop, LURE_RUN_ONCE), 1);
  lure_prepare_stop(&prep);
  ck_assert_int_eq(lure_loop_stats(&loop, &st), 0);
  ck_assert_msg(st.busy_polls >= 1 && st.busy_polls <= 2,
                "set %s: %llu spins (%llu hits) in 10 waits after 3 events "
                "each", lt_set(), (unsigned long long) st.busy_polls,
                (unsigned long long) st.busy_poll_hits);
  ck_assert_uint_eq(st.busy_poll_hits, st.busy_polls);
  ck_assert_int_ge(bp_reads, 27);
  for (i = 0; i < 3; i++)
    lure_close((lure_handle_t *) &poll[i], NULL);
  lure_close((lure_handle_t *) &prep, NULL);
  lt_loop_finish(&loop);
  for (i = 0; i < 3; i++) {
    close(sv[i][0]);
    close(sv[i][1]);
  }
}
END_TEST

/* A spin is the loop waiting: with LURE_METRICS_IDLE_TIME on, its time
 * counts as idle, as a wait in the kernel does (libuv counts its time in
 * epoll_wait).  A 1 ms timer and a budget of 1000 us: the spin lasts the
 * whole wait (it found nothing, so no sleep follows), and the idle time
 * must grow; it stayed 0 when spins were not counted. */
START_TEST(loop_busy_poll_idle_time) {
  lure_loop_t loop;
  lure_loop_stats_t st;
  uint64_t ms;
  uint64_t idle;
  int attempt;

  /* The spin needs the timer still ahead when the poll phase begins: a
   * host that stalls the thread for the millisecond first (the sanitizers
   * on a loaded CI machine did, in 1 run of many) leaves nothing to spin
   * for, and no spin at all is counted.  Such an attempt is made again on
   * a fresh loop; an attempt that spun is the one checked. */
  for (attempt = 0; attempt < 5; attempt++) {
    lt_loop_init(&loop);
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_METRICS_IDLE_TIME), 0);
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BUSY_POLL, 1000u),
                     0);
    bp_run_timer(&loop, 1, 0, &st, &ms);
    if (st.busy_polls > 0)
      break;
    lt_loop_finish(&loop);
  }
  ck_assert_uint_eq(st.busy_polls, 1);
  ck_assert_uint_eq(st.busy_poll_hits, 0);
  idle = lure_metrics_idle_time(&loop);
  ck_assert_msg(idle > 0 && idle < 1000000000u,
                "set %s: a wait of 1 ms spent spinning counted %llu ns idle",
                lt_set(), (unsigned long long) idle);
  lt_loop_finish(&loop);
}
END_TEST

/* LURE_BUSY_POLL sets the budget of every new loop (a libuv program built
 * against uv.h has no other way); a value out of range or not a number is
 * ignored. */
START_TEST(loop_busy_poll_env) {
  static const struct {
    const char *value;
    int spins;
  } cases[] = { { "300", 1 }, { "0", 0 }, { "1001", 0 }, { "abc", 0 },
                { "50x", 0 }, { "-5", 0 }, { "", 0 } };
  lure_loop_t loop;
  lure_loop_stats_t st;
  uint64_t ms;
  size_t i;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    ck_assert_int_eq(setenv("LURE_BUSY_POLL", cases[i].value, 1), 0);
    lt_loop_init(&loop);
    /* 20 ms: under valgrind the first run of the loop's code can take
     * 3 ms, and a timer due by the poll phase leaves no wait to spin in. */
    bp_run_timer(&loop, 20, 0, &st, &ms);
    ck_assert_msg((st.busy_polls > 0) == cases[i].spins,
                  "LURE_BUSY_POLL=\"%s\": %llu spins", cases[i].value,
                  (unsigned long long) st.busy_polls);
    /* lure_loop_configure wins over the environment. */
    ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_BUSY_POLL, 0u), 0);
    bp_run_timer(&loop, 3, 0, &st, &ms);
    lt_loop_finish(&loop);
  }
  ck_assert_int_eq(unsetenv("LURE_BUSY_POLL"), 0);
}
END_TEST

static void st_work_cb(lure_work_t *req) {}

START_TEST(loop_stats_threadpool_jobs) {
  lure_loop_t loop;
  lure_work_t work[10];
  lure_loop_stats_t st;
  int i;

  lt_loop_init(&loop);
  for (i = 0; i < 10; i++)
    ck_assert_int_eq(lure_queue_work(&loop, &work[i], st_work_cb, NULL), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lure_loop_stats(&loop, &st), 0);
  ck_assert_uint_eq(st.threadpool_jobs, 10);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- a loop run by another thread ------------------------------------------------ */

/* libuv lets a loop be set up in one thread and run in another, or run in
 * one and later in another (never two at once).  A ring made
 * SINGLE_ISSUER belonged to the first thread that entered it, and every
 * io_uring_enter of the second failed with EEXIST, which the poll phase
 * dropped: lure_run spun at 100% CPU and nothing completed.  Each test runs
 * the loop in a second thread under a watchdog that stops it, so a spin
 * fails instead of hanging. */
struct xt {
  lure_loop_t loop;
  lure_timer_t wd;
  int timed_out;
  int done;
  int failed;
  int status;
  int run_rc;
  lure_run_mode run_mode; /* xt_thread's, LURE_RUN_DEFAULT unless set */
  lure_work_t work;
  lure_fs_t fs[300];
  lure_tcp_t tcp;
  lure_connect_t creq;
};

static void xt_wd_cb(lure_timer_t *t) {
  struct xt *x = t->data;

  x->timed_out = 1;
  lure_stop(t->loop);
}

static void *xt_thread(void *arg) {
  struct xt *x = arg;

  x->run_rc = lure_run(&x->loop, x->run_mode);
  return NULL;
}

/* Run x's loop to the end in a new thread, under a 5 s watchdog. */
static void xt_run_elsewhere(struct xt *x) {
  pthread_t t;

  x->wd.data = x;
  ck_assert_int_eq(lure_timer_start(&x->wd, xt_wd_cb, 5000, 0), 0);
  ck_assert_int_eq(pthread_create(&t, NULL, xt_thread, x), 0);
  ck_assert_int_eq(pthread_join(t, NULL), 0);
  ck_assert_msg(!x->timed_out, "the loop run by a second thread made no "
                "progress in 5 s (done %d)", x->done);
  ck_assert_int_eq(lure_timer_stop(&x->wd), 0);
}

static struct xt *xt_new(void) {
  struct xt *x = calloc(1, sizeof(*x));

  lt_loop_init(&x->loop);
  ck_assert_int_eq(lure_timer_init(&x->loop, &x->wd), 0);
  lure_unref((lure_handle_t *) &x->wd);
  return x;
}

static void xt_work_cb(lure_work_t *req) {
}

static void xt_after_cb(lure_work_t *req, int status) {
  struct xt *x = req->data;

  x->done++;
  x->status = status;
}

static void xt_timer_cb(lure_timer_t *t) {
  lure_close((lure_handle_t *) t, NULL);
}

START_TEST(loop_run_in_second_thread_after_first) {
  struct xt *x = xt_new();
  lure_timer_t t;

  /* Thread one runs the loop (and enters its ring) to the end. */
  ck_assert_int_eq(lure_timer_init(&x->loop, &t), 0);
  ck_assert_int_eq(lure_timer_start(&t, xt_timer_cb, 1, 0), 0);
  ck_assert_int_eq(lure_run(&x->loop, LURE_RUN_DEFAULT), 0);
  /* Thread two gives it work. */
  x->work.data = x;
  ck_assert_int_eq(lure_queue_work(&x->loop, &x->work, xt_work_cb,
                                   xt_after_cb), 0);
  xt_run_elsewhere(x);
  ck_assert_int_eq(x->done, 1);
  ck_assert_int_eq(x->status, 0);
  /* And back to the first thread. */
  ck_assert_int_eq(lure_queue_work(&x->loop, &x->work, xt_work_cb,
                                   xt_after_cb), 0);
  ck_assert_int_eq(lure_run(&x->loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(x->done, 2);
  lt_loop_finish(&x->loop);
  free(x);
}
END_TEST

static void xt_fs_cb(lure_fs_t *req) {
  struct xt *x = req->data;

  if (req->result != 0)
    x->failed++;
  x->done++;
  lure_fs_req_cleanup(req);
}

START_TEST(loop_run_in_second_thread_fs_queued) {
  struct xt *x = xt_new();
  size_t i;

  /* More requests than the SQ holds: queueing them flushes the SQ from
   * this thread. */
  for (i = 0; i < LT_ARRAY_SIZE(x->fs); i++) {
    x->fs[i].data = x;
    ck_assert_int_eq(lure_fs_stat(&x->loop, &x->fs[i], ".", xt_fs_cb), 0);
  }
  xt_run_elsewhere(x);
  ck_assert_int_eq(x->done, (int) LT_ARRAY_SIZE(x->fs));
  ck_assert_int_eq(x->failed, 0);
  lt_loop_finish(&x->loop);
  free(x);
}
END_TEST

static void xt_connect_cb(lure_connect_t *req, int status) {
  struct xt *x = req->data;

  x->done++;
  x->status = status;
  lure_close((lure_handle_t *) req->handle, NULL);
}

START_TEST(loop_run_in_second_thread_connect) {
  struct xt *x = xt_new();
  struct sockaddr_in sin;
  socklen_t len = sizeof(sin);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  ck_assert_int_ge(lfd, 0);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(lfd, (struct sockaddr *) &sin, sizeof(sin)), 0);
  ck_assert_int_eq(listen(lfd, 8), 0);
  ck_assert_int_eq(getsockname(lfd, (struct sockaddr *) &sin, &len), 0);
  /* The connect starts in this thread (on the ring, it is submitted at
   * once); the loop runs in another. */
  ck_assert_int_eq(lure_tcp_init(&x->loop, &x->tcp), 0);
  x->creq.data = x;
  ck_assert_int_eq(lure_tcp_connect(&x->creq, &x->tcp,
                                    (struct sockaddr *) &sin, xt_connect_cb),
                   0);
  xt_run_elsewhere(x);
  if (lt_single_issuer(&x->loop)) {
    /* LURE_LOOP_SINGLE_THREAD: the connect went to the kernel from this
     * thread, which made it the ring's issuer, and is still there: the
     * second thread's lure_run() fails at once, and this one finishes. */
    ck_assert_int_eq(x->run_rc, LURE_EEXIST);
    ck_assert_int_eq(x->done, 0);
    ck_assert_int_eq(lure_run(&x->loop, LURE_RUN_DEFAULT), 0);
  }
  ck_assert_int_eq(x->done, 1);
  ck_assert_int_eq(x->status, 0);
  close(lfd);
  lt_loop_finish(&x->loop);
  free(x);
}
END_TEST

/* LURE_LOOP_SINGLE_THREAD: the argument is checked; on the ring (Linux
 * 6.1) the loop gets a single issuer's ring with deferred task work, and
 * back; elsewhere the setting is stored.  A loop with operations in the
 * ring cannot change its ring (LURE_EBUSY). */
START_TEST(loop_configure_single_thread) {
  lure_loop_t loop;
  lure_tcp_t srv;
  struct sockaddr_in sin;
  int want = lt_set_is_uring() && lt_kernel_at_least(6, 1);

  lt_loop_init(&loop);
  /* The set's LURE_SINGLE_THREAD=1 reached a fresh loop. */
  if (lt_set_is("uring-single"))
    ck_assert_int_eq(lt_single_issuer(&loop), want);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_SINGLE_THREAD, 2),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_SINGLE_THREAD, -1),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_SINGLE_THREAD, 0), 0);
  ck_assert_int_eq(lt_single_issuer(&loop), 0);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_SINGLE_THREAD, 1), 0);
  ck_assert_int_eq(lt_single_issuer(&loop), want);
  if (lt_set_backend() != NULL)
    ck_assert_str_eq(lure_loop_backend(&loop), lt_set_backend());
  cf_exercise(&loop);
  ck_assert_int_eq(lt_single_issuer(&loop), want);

  /* A listener keeps an accept (or a poll) in the ring. */
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(lure_tcp_init(&loop, &srv), 0);
  ck_assert_int_eq(lure_tcp_bind(&srv, (struct sockaddr *) &sin, 0), 0);
  ck_assert_int_eq(lure_listen((lure_stream_t *) &srv, 8, NULL), 0);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_SINGLE_THREAD, 0),
                   lt_set_is_uring() ? LURE_EBUSY : 0);
  if (lt_set_is_uring())
    ck_assert_int_eq(lt_single_issuer(&loop), want);
  lure_close((lure_handle_t *) &srv, NULL);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_SINGLE_THREAD, 0), 0);
  ck_assert_int_eq(lt_single_issuer(&loop), 0);
  cf_exercise(&loop);
  lt_loop_finish(&loop);
}
END_TEST

/* A single issuer's ring belongs to the thread that first entered it.
 * Another thread's lure_run() returns LURE_EEXIST at once while the loop
 * has operations in that ring (the kernel would refuse them, or return
 * from every wait at once: a spin), and the loop goes on in its own
 * thread.  Once nothing of the loop's is in the ring, another thread may
 * run it: a new ring takes over. */
static void st_read_alloc(lure_handle_t *h, size_t size, lure_buf_t *buf) {
  static char b[64];

  (void) h;
  (void) size;
  *buf = lure_buf_init(b, sizeof(b));
}

static void st_read_cb(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct xt *x = s->data;

  (void) buf;
  if (n > 0)
    x->done += (int) n;
}

static void st_run_timer_cb(lure_timer_t *t) {
  struct xt *x = t->data;

  x->status = 7;
  lure_close((lure_handle_t *) t, NULL);
}

START_TEST(loop_single_thread_other_thread) {
  struct xt *x = xt_new();
  lure_pipe_t conn;
  lure_timer_t t;
  lure_stream_t *c = (lure_stream_t *) &conn;
  int fds[2];
  uint64_t t0;

  ck_assert_int_eq(lure_loop_configure(&x->loop, LURE_LOOP_SINGLE_THREAD, 1),
                   0);
  /* The stream below is on the ring from the start (no readiness first). */
  ck_assert_int_eq(
      lure_loop_configure(&x->loop, LURE_LOOP_STREAM_WARMUP, 0u), 0);
  if (!lt_single_issuer(&x->loop)) {
    /* Not the ring, or a kernel before 6.1: nothing is bound to a thread. */
    ck_assert(!lt_set_is_uring() || !lt_kernel_at_least(6, 1));
    lt_loop_finish(&x->loop);
    free(x);
    return;
  }
  /* This thread runs the loop first, with a stream reading: its receive
   * stays in the ring. */
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ck_assert_int_eq(lure_pipe_init(&x->loop, &conn, 0), 0);
  ck_assert_int_eq(lure_pipe_open(&conn, fds[0]), 0);
  conn.data = x;
  ck_assert_int_eq(lure_read_start(c, st_read_alloc, st_read_cb), 0);
  ck_assert_int_gt(lure_run(&x->loop, LURE_RUN_NOWAIT), 0);
  /* Another thread: LURE_EEXIST, at once, nothing run.  Where streams
   * wait for readiness (uring-masked) the ring holds only polls, which a
   * new ring arms again: that thread takes the loop over. */
  t0 = lure_hrtime();
  x->run_mode = LURE_RUN_NOWAIT;
  xt_run_elsewhere(x);
  if (lt_set_ring_path())
    ck_assert_int_eq(x->run_rc, LURE_EEXIST);
  else
    ck_assert_int_gt(x->run_rc, 0);
  ck_assert_msg(lt_ms_since(t0) < 2000, "the second thread's lure_run took "
                "%llu ms", (unsigned long long) lt_ms_since(t0));
  x->run_mode = LURE_RUN_DEFAULT;
  /* Here it goes on: the byte arrives. */
  ck_assert_int_eq(write(fds[1], "ab", 2), 2);
  t0 = lure_hrtime();
  while (x->done < 2) {
    ck_assert_int_ge(lure_run(&x->loop, LURE_RUN_ONCE), 0);
    ck_assert_msg(lt_ms_since(t0) < 5000, "the issuer's loop stalled");
  }
  ck_assert_int_eq(x->done, 2);
  /* Nothing left in the ring: the other thread may now run it. */
  lure_close((lure_handle_t *) &conn, NULL);
  ck_assert_int_eq(lure_run(&x->loop, LURE_RUN_DEFAULT), 0);
  close(fds[1]);
  ck_assert_int_eq(lure_timer_init(&x->loop, &t), 0);
  t.data = x;
  ck_assert_int_eq(lure_timer_start(&t, st_run_timer_cb, 1, 0), 0);
  x->run_rc = -1;
  xt_run_elsewhere(x);
  ck_assert_int_eq(x->run_rc, 0);
  ck_assert_int_eq(x->status, 7);
  ck_assert_int_eq(lt_single_issuer(&x->loop), 1);
  lt_loop_finish(&x->loop); /* this thread again: nothing in the ring */
  free(x);
}
END_TEST

/* io_uring_enter failing for good (here a seccomp policy installed after
 * the ring was made): lure_run reports the error instead of spinning on it
 * with nothing reaped.  x86_64 only (the filter names its syscall). */
START_TEST(loop_enter_error_returned) {
#if defined(__x86_64__) && !defined(__ILP32__)
  struct sock_filter f[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { (unsigned short) LT_ARRAY_SIZE(f), f };
  struct xt *x;
  int rc;

  if (!lt_set_is_uring())
    return;
  x = xt_new();
  x->work.data = x;
  ck_assert_int_eq(lure_queue_work(&x->loop, &x->work, xt_work_cb,
                                   xt_after_cb), 0);
  ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
  ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
  x->wd.data = x;
  ck_assert_int_eq(lure_timer_start(&x->wd, xt_wd_cb, 3000, 0), 0);
  rc = lure_run(&x->loop, LURE_RUN_DEFAULT);
  ck_assert_msg(!x->timed_out, "lure_run spun on a failing io_uring_enter "
                "(returned %d after the watchdog)", rc);
  ck_assert_int_eq(rc, LURE_EPERM);
  /* (The process keeps the filter: the loop is left as it is.) */
#endif
}
END_TEST

LT_SUITE(loop) {
  Suite *s = suite_create("loop");
  TCase *tc;

  tc = lt_tcase("backend", 20);
  tcase_add_test(tc, loop_backend_of_set);
  tcase_add_test(tc, loop_nouring_filter_active);
  suite_add_tcase(s, tc);

  tc = lt_tcase("phases", 20);
  tcase_add_test(tc, loop_phase_order);
  tcase_add_test(tc, loop_active_handles_field);
  tcase_add_test(tc, loop_metrics_idle_time);
  tcase_add_test(tc, loop_block_signal);
  tcase_add_test(tc, loop_phase_order_work);
  tcase_add_test(tc, loop_check_before_timer_in_work_cb);
  tcase_add_test(tc, loop_check_before_timer_in_poll_cb);
  suite_add_tcase(s, tc);

  tc = lt_tcase("sleep", 30);
  tcase_add_test(tc, loop_sleeps_until_timer);
  tcase_add_test(tc, loop_wait_survives_signals);
  tcase_add_test(tc, loop_once_after_poll_stop);
  tcase_add_test(tc, loop_idle_ticks_no_wait_syscall);
  tcase_add_test(tc, loop_idle_ticks_see_io);
  tcase_add_test(tc, loop_idle_does_not_block);
  suite_add_tcase(s, tc);

  tc = lt_tcase("threads", 30);
  tcase_add_test(tc, loop_run_in_second_thread_after_first);
  tcase_add_test(tc, loop_run_in_second_thread_fs_queued);
  tcase_add_test(tc, loop_run_in_second_thread_connect);
  tcase_add_test(tc, loop_single_thread_other_thread);
  tcase_add_test(tc, loop_enter_error_returned);
  suite_add_tcase(s, tc);

  tc = lt_tcase("run", 20);
  tcase_add_test(tc, loop_run_empty);
  tcase_add_test(tc, loop_run_once);
  tcase_add_test(tc, loop_stop);
  tcase_add_test(tc, loop_unref);
  tcase_add_test(tc, loop_alive);
  tcase_add_test(tc, loop_close_busy);
  tcase_add_test(tc, loop_init_close_repeat);
  tcase_add_test(tc, loop_default_loop);
  tcase_add_test(tc, loop_walk);
  tcase_add_test(tc, loop_time);
  tcase_add_test(tc, loop_idle_stop_once_returns);
  tcase_add_test(tc, loop_version);
  suite_add_tcase(s, tc);

  tc = lt_tcase("configure", 20);
  tcase_add_test(tc, loop_configure_backend);
  tcase_add_test(tc, loop_configure_bad);
  tcase_add_test(tc, loop_busy_poll_bad);
  tcase_add_test(tc, loop_busy_poll_timer);
  tcase_add_test(tc, loop_busy_poll_descheduled);
  tcase_add_test(tc, loop_busy_poll_hit);
  tcase_add_test(tc, loop_busy_poll_many_events);
  tcase_add_test(tc, loop_busy_poll_idle_time);
  tcase_add_test(tc, loop_busy_poll_env);
  tcase_add_test(tc, loop_configure_uring_disable);
  tcase_add_test(tc, loop_configure_uring_disable_forced);
  tcase_add_test(tc, loop_configure_ring_entries);
  tcase_add_test(tc, loop_configure_single_thread);
  tcase_add_test(tc, loop_configure_switch_keeps_handles);
  tcase_add_test(tc, loop_configure_busy);
  tcase_add_test(tc, loop_backend_fd_readable);
  tcase_add_test(tc, loop_embed);
  suite_add_tcase(s, tc);

  tc = lt_tcase("stats", 20);
  tcase_add_test(tc, loop_stats);
  tcase_add_test(tc, loop_stats_threadpool_jobs);
  suite_add_tcase(s, tc);
  return s;
}
