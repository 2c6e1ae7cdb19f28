/*
 * test-fork.c - a loop used before fork() works in the child after
 * lure_loop_fork(), and goes on working in the parent.
 *
 * The child cannot use Check's assertions (they report to the parent's
 * runner); it runs the same session as the parent and writes a bit mask of
 * what failed into a pipe, which the parent asserts is 0.  alarm() bounds
 * the child.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "harness.h"

enum {
  F_TIMER = 1,
  F_ASYNC = 2,
  F_POLL = 4,
  F_WORK = 8,
  F_SIGNAL = 16,
  F_WATCHDOG = 32,
  F_SETUP = 64,
  F_CLOSE = 128,
  F_BACKEND = 256,
  F_INHERITED_POLL = 512,
  F_INHERITED_ASYNC = 1024,
  F_INHERITED_WORK = 2048,
  F_LOOK = 4096
};

struct session {
  lure_timer_t timer;
  lure_async_t async;
  lure_poll_t poll;
  lure_work_t work;
  lure_timer_t watchdog;
  pthread_t sender;
  pthread_t loop_thread;
  int fds[2];
  int timer_fired;
  int async_fired;
  int poll_fired;
  int work_done;
  int work_other_thread;
  int timed_out;
};

static void s_timer_cb(lure_timer_t *h) {
  struct session *s = h->data;

  s->timer_fired++;
  lure_close((lure_handle_t *) h, NULL);
}

static void s_async_cb(lure_async_t *h) {
  struct session *s = h->data;

  s->async_fired++;
  lure_close((lure_handle_t *) h, NULL);
}

static void s_poll_cb(lure_poll_t *h, int status, int events) {
  struct session *s = h->data;

  if (status == 0 && (events & LURE_READABLE))
    s->poll_fired++;
  lure_close((lure_handle_t *) h, NULL);
}

static void s_work_cb(lure_work_t *req) {
  struct session *s = req->data;

  s->work_other_thread = !pthread_equal(pthread_self(), s->loop_thread);
}

static void s_after_cb(lure_work_t *req, int status) {
  struct session *s = req->data;

  if (status == 0)
    s->work_done++;
}

static void s_watchdog_cb(lure_timer_t *h) {
  struct session *s = h->data;

  s->timed_out = 1;
  lure_stop(h->loop);
}

static void *s_sender(void *arg) {
  struct session *s = arg;

  lt_sleep_ms(10);
  lure_async_send(&s->async);
  return NULL;
}

/* A timer, an async sent from another thread, a poll on a fresh pipe and a
 * work request, all in one lure_run(); returns a mask of what failed. */
static int session_run(lure_loop_t *loop) {
  struct session s;
  int bad = 0;

  memset(&s, 0, sizeof(s));
  s.loop_thread = pthread_self();
  if (pipe(s.fds) != 0)
    return F_SETUP;
  if (lure_timer_init(loop, &s.watchdog) != 0 ||
      lure_timer_start(&s.watchdog, s_watchdog_cb, 10000, 0) != 0)
    return F_SETUP;
  s.watchdog.data = &s;
  lure_unref((lure_handle_t *) &s.watchdog);
  if (lure_timer_init(loop, &s.timer) != 0 ||
      lure_timer_start(&s.timer, s_timer_cb, 5, 0) != 0)
    bad |= F_TIMER;
  s.timer.data = &s;
  if (lure_async_init(loop, &s.async, s_async_cb) != 0)
    bad |= F_ASYNC;
  s.async.data = &s;
  if (lure_poll_init(loop, &s.poll, s.fds[0]) != 0 ||
      lure_poll_start(&s.poll, LURE_READABLE, s_poll_cb) != 0)
    bad |= F_POLL;
  s.poll.data = &s;
  s.work.data = &s;
  if (lure_queue_work(loop, &s.work, s_work_cb, s_after_cb) != 0)
    bad |= F_WORK;
  if (write(s.fds[1], "x", 1) != 1)
    bad |= F_POLL;
  if (pthread_create(&s.sender, NULL, s_sender, &s) != 0)
    return bad | F_SETUP;
  lure_run(loop, LURE_RUN_DEFAULT);
  pthread_join(s.sender, NULL);
  if (s.timed_out)
    bad |= F_WATCHDOG;
  if (s.timer_fired != 1)
    bad |= F_TIMER;
  if (s.async_fired != 1)
    bad |= F_ASYNC;
  if (s.poll_fired != 1)
    bad |= F_POLL;
  if (s.work_done != 1 || !s.work_other_thread)
    bad |= F_WORK;
  /* Close what is left (the watchdog, anything that failed). */
  if (!lure_is_closing((lure_handle_t *) &s.watchdog))
    lure_close((lure_handle_t *) &s.watchdog, NULL);
  if (!lure_is_closing((lure_handle_t *) &s.timer))
    lure_close((lure_handle_t *) &s.timer, NULL);
  if (!lure_is_closing((lure_handle_t *) &s.async))
    lure_close((lure_handle_t *) &s.async, NULL);
  if (!lure_is_closing((lure_handle_t *) &s.poll))
    lure_close((lure_handle_t *) &s.poll, NULL);
  lure_run(loop, LURE_RUN_DEFAULT);
  close(s.fds[0]);
  close(s.fds[1]);
  return bad;
}

static void describe(int bad, char *buf, size_t len) {
  snprintf(buf, len, "%s%s%s%s%s%s%s%s%s%s%s%s%s",
           bad & F_TIMER ? " timer" : "", bad & F_ASYNC ? " async" : "",
           bad & F_POLL ? " poll" : "", bad & F_WORK ? " work" : "",
           bad & F_SIGNAL ? " signal" : "",
           bad & F_WATCHDOG ? " watchdog(timed out)" : "",
           bad & F_SETUP ? " setup" : "", bad & F_CLOSE ? " loop_close" : "",
           bad & F_BACKEND ? " backend" : "",
           bad & F_INHERITED_POLL ? " inherited-poll" : "",
           bad & F_INHERITED_ASYNC ? " inherited-async" : "",
           bad & F_INHERITED_WORK ? " inherited-work" : "",
           bad & F_LOOK ? " look-repeated" : "");
}

/* Run in the child: report mask through fd and exit. */
static void child_report(int fd, int bad) {
  ssize_t n = write(fd, &bad, sizeof(bad));

  _exit(n == (ssize_t) sizeof(bad) ? 0 : 1);
}

/* In the parent: wait for the child fork_child() made, close both ends
 * of report[], and fail with what the child reports. */
static void child_wait(pid_t pid, int report[2]) {
  char what[160];
  int status;
  int bad = -1;
  ssize_t n;

  close(report[1]);
  n = read(report[0], &bad, sizeof(bad));
  close(report[0]);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status), "the child died of signal %d",
                WIFSIGNALED(status) ? WTERMSIG(status) : -1);
  ck_assert_int_eq(WEXITSTATUS(status), 0);
  ck_assert_int_eq(n, (ssize_t) sizeof(bad));
  describe(bad, what, sizeof(what));
  ck_assert_msg(bad == 0, "in the child, failed:%s", what);
}

/* fork(), with report[] from pipe(): in the child (0 returned) the read
 * end is closed and a 20 s alarm kills the child if it hangs; Check's own
 * SIGALRM handler would kill the whole process group, so the alarm takes
 * the default action.  In the parent, the child's pid. */
static pid_t fork_child(int report[2]) {
  pid_t pid;

  fflush(NULL);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(report[0]);
    signal(SIGALRM, SIG_DFL);
    alarm(20);
  }
  return pid;
}

/* A poll handle started (and armed) in the parent before fork: the child
 * and the parent each get its events on their own loop.  It reads one byte
 * per event; a wake-up without data (the other process took it) is not
 * counted. */
static int inherited_count;
static void inherited_poll_cb(lure_poll_t *h, int status, int events) {
  char c;

  if (status != 0 || read((int) (intptr_t) h->data, &c, 1) != 1)
    return;
  inherited_count++;
  lure_close((lure_handle_t *) h, NULL);
}

static int child_sig_count;
static void child_sig_cb(lure_signal_t *h, int signum) {
  child_sig_count++;
  lure_close((lure_handle_t *) h, NULL);
}

/* The parent's loop has run a full session (so its ring or epoll, eventfd,
 * thread pool and signal pipe exist); the child re-initialises it and runs
 * the session again, plus a signal. */
START_TEST(fork_child_loop) {
  lure_loop_t loop;
  lure_signal_t sig;
  lure_poll_t inherited;
  char what[160];
  pid_t pid;
  int report[2];
  int pp[2];
  int bad;

  ck_assert_int_eq(pipe(report), 0);
  ck_assert_int_eq(pipe(pp), 0);
  lt_loop_init(&loop);
  bad = session_run(&loop);
  describe(bad, what, sizeof(what));
  ck_assert_msg(bad == 0, "parent before fork failed:%s", what);
  ck_assert_int_eq(lure_signal_init(&loop, &sig), 0);
  ck_assert_int_eq(lure_signal_start(&sig, child_sig_cb, SIGUSR1), 0);
  lure_unref((lure_handle_t *) &sig);
  ck_assert_int_eq(lure_poll_init(&loop, &inherited, pp[0]), 0);
  inherited.data = (void *) (intptr_t) pp[0];
  ck_assert_int_eq(lure_poll_start(&inherited, LURE_READABLE, inherited_poll_cb), 0);
  lure_unref((lure_handle_t *) &inherited);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_NOWAIT), 0); /* arm it */

  pid = fork_child(report);
  if (pid == 0) {
    const char *want = lt_set_backend();
    int rc;

    bad = 0;
    if (lure_loop_fork(&loop) != 0)
      child_report(report[1], F_SETUP);
    if (want != NULL && strcmp(lure_loop_backend(&loop), want) != 0)
      bad |= F_BACKEND;
    bad |= session_run(&loop);
    /* The signal handle inherited from the parent's loop still works. */
    lure_ref((lure_handle_t *) &sig);
    kill(getpid(), SIGUSR1);
    lure_run(&loop, LURE_RUN_DEFAULT);
    if (child_sig_count != 1)
      bad |= F_SIGNAL;
    /* The poll handle inherited from the parent's loop still works. */
    inherited_count = 0;
    lure_ref((lure_handle_t *) &inherited);
    if (write(pp[1], "c", 1) != 1)
      bad |= F_SETUP;
    lure_run(&loop, LURE_RUN_DEFAULT);
    if (inherited_count != 1)
      bad |= F_INHERITED_POLL;
    rc = lure_loop_close(&loop);
    if (rc != 0)
      bad |= F_CLOSE;
    child_report(report[1], bad);
  }
  child_wait(pid, report);

  /* The parent's loop goes on working, its signal handle too. */
  bad = session_run(&loop);
  describe(bad, what, sizeof(what));
  ck_assert_msg(bad == 0, "parent after fork failed:%s", what);
  child_sig_count = 0;
  lure_ref((lure_handle_t *) &sig);
  ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(child_sig_count, 1);
  /* And the parent's poll handle, armed before the fork. */
  inherited_count = 0;
  lure_ref((lure_handle_t *) &inherited);
  ck_assert_int_eq(write(pp[1], "p", 1), 1);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(inherited_count, 1);
  lt_loop_finish(&loop);
  close(pp[0]);
  close(pp[1]);
}
END_TEST

/* A loop made in the child from scratch works too, while the parent's loop
 * is left alone (the child never touches it beyond not using it). */
START_TEST(fork_new_loop_in_child) {
  lure_loop_t parent;
  pid_t pid;
  int report[2];
  int bad;
  char what[160];

  ck_assert_int_eq(pipe(report), 0);
  lt_loop_init(&parent);
  ck_assert_int_eq(session_run(&parent), 0);
  pid = fork_child(report);
  if (pid == 0) {
    lure_loop_t loop;

    if (lure_loop_init(&loop) != 0)
      child_report(report[1], F_SETUP);
    bad = session_run(&loop);
    if (lure_loop_close(&loop) != 0)
      bad |= F_CLOSE;
    child_report(report[1], bad);
  }
  child_wait(pid, report);
  bad = session_run(&parent);
  describe(bad, what, sizeof(what));
  ck_assert_msg(bad == 0, "parent after fork failed:%s", what);
  lt_loop_finish(&parent);
}
END_TEST

/* An async send and a finished thread-pool job, both still pending (not
 * yet seen by the loop) when the process forks.  In the child the loop's
 * wake-ups must still work: the inherited async handle fires for the send
 * and again for a new send, the inherited job's after_work_cb runs, and
 * new work and async handles call back (the pending flags once outlived the
 * parent's eventfd, and every later send was swallowed). */
static int pend_async_count;
static atomic_int pend_work_ran;
static int pend_work_done;
static lure_async_t *pend_async_handle;

static void pend_async_cb(lure_async_t *h) {
  pend_async_count++;
  if (pend_async_count == 2)
    lure_close((lure_handle_t *) h, NULL);
}

static void pend_work_cb(lure_work_t *req) {
  atomic_store(&pend_work_ran, 1);
}

static void pend_after_cb(lure_work_t *req, int status) {
  if (status == 0)
    pend_work_done++;
}

static int pend_timed_out;

static void pend_watchdog_cb(lure_timer_t *h) {
  pend_timed_out = 1;
  lure_stop(h->loop);
}

static void *pend_sender(void *arg) {
  lt_sleep_ms(10);
  lure_async_send(pend_async_handle);
  return NULL;
}

START_TEST(fork_pending_wakeups) {
  lure_loop_t loop;
  lure_async_t a;
  lure_work_t w;
  lure_work_t w2;
  lure_timer_t wd;
  pthread_t t;
  pid_t pid;
  int report[2];
  int bad;
  int i;

  ck_assert_int_eq(pipe(report), 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_async_init(&loop, &a, pend_async_cb), 0);
  lure_unref((lure_handle_t *) &a);
  pend_async_handle = &a;
  ck_assert_int_eq(lure_async_send(&a), 0);
  ck_assert_int_eq(lure_queue_work(&loop, &w, pend_work_cb, pend_after_cb), 0);
  /* Let the pool finish the job and post it to the loop (which does not
   * run until after the fork). */
  for (i = 0; i < 1000 && !atomic_load(&pend_work_ran); i++)
    lt_sleep_ms(1);
  ck_assert(atomic_load(&pend_work_ran));
  lt_sleep_ms(50);

  pid = fork_child(report);
  if (pid == 0) {
    bad = 0;
    if (lure_loop_fork(&loop) != 0)
      child_report(report[1], F_SETUP);
    /* Nothing else wakes the loop here: the pool's completion must. */
    if (lure_timer_init(&loop, &wd) != 0 ||
        lure_timer_start(&wd, pend_watchdog_cb, 5000, 0) != 0)
      child_report(report[1], F_SETUP);
    lure_unref((lure_handle_t *) &wd);
    if (lure_queue_work(&loop, &w2, pend_work_cb, pend_after_cb) != 0)
      child_report(report[1], F_SETUP);
    lure_run(&loop, LURE_RUN_DEFAULT);
    /* The new job, and what was pending at the fork, were delivered. */
    if (pend_work_done != 2)
      bad |= F_WORK;
    if (pend_async_count != 1)
      bad |= F_INHERITED_ASYNC;
    /* The inherited async handle wakes the child's loop for a new send. */
    lure_ref((lure_handle_t *) &a);
    if (lure_timer_start(&wd, pend_watchdog_cb, 5000, 0) != 0)
      bad |= F_SETUP;
    if (pthread_create(&t, NULL, pend_sender, NULL) != 0)
      child_report(report[1], bad | F_SETUP);
    lure_run(&loop, LURE_RUN_DEFAULT);
    pthread_join(t, NULL);
    if (pend_async_count != 2)
      bad |= F_ASYNC;
    if (pend_timed_out)
      bad |= F_WATCHDOG;
    lure_close((lure_handle_t *) &wd, NULL);
    if (!lure_is_closing((lure_handle_t *) &a))
      lure_close((lure_handle_t *) &a, NULL);
    /* (A job that never called back would keep the loop alive.) */
    lure_run(&loop, bad == 0 ? LURE_RUN_DEFAULT : LURE_RUN_NOWAIT);
    if (bad == 0 && lure_loop_close(&loop) != 0)
      bad |= F_CLOSE;
    child_report(report[1], bad);
  }
  child_wait(pid, report);
  /* The parent gets its own wake-ups as before. */
  lure_ref((lure_handle_t *) &a);
  for (i = 0; i < 100 && (pend_async_count < 1 || pend_work_done < 1); i++)
    lure_run(&loop, LURE_RUN_ONCE);
  ck_assert_int_eq(pend_async_count, 1);
  ck_assert_int_eq(pend_work_done, 1);
  ck_assert_int_eq(pend_timed_out, 0);
  lure_close((lure_handle_t *) &a, NULL);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(fork_bad_arguments) {
  ck_assert_int_eq(lure_loop_fork(NULL), LURE_EINVAL);
}
END_TEST

/* A loop with an unreferenced async handle that has run once, then
 * fork_child(): the setup of the tests below. */
static pid_t fork_primed(lure_loop_t *loop, lure_async_t *a, int report[2]) {
  ck_assert_int_eq(pipe(report), 0);
  lt_loop_init(loop);
  ck_assert_int_eq(lure_async_init(loop, a, NULL), 0);
  lure_unref((lure_handle_t *) a);
  ck_assert_int_eq(lure_run(loop, LURE_RUN_NOWAIT), 0);
  return fork_child(report);
}

/* A forked child's loop whose async handles were not pending starts with
 * its wake-up flag clear and nothing written to its new eventfd, and from
 * then on waits as usual: 100 ticks of a 1 ms timer cost about one wait
 * each.  (A look per tick would be tens of zero-time
 * epoll_wait calls per tick on the epoll sets; the ring's look makes no
 * system call while the kernel holds no work, so there the count is the
 * same either way.) */
static int look_ticks;
static void look_timer_cb(lure_timer_t *h) {
  if (++look_ticks == 100)
    lure_close((lure_handle_t *) h, NULL);
}

START_TEST(fork_flag_without_write) {
  lure_loop_t loop;
  lure_async_t a;
  lure_timer_t t;
  lure_loop_stats_t before;
  lure_loop_stats_t after;
  pid_t pid;
  int report[2];
  int bad;

  pid = fork_primed(&loop, &a, report);
  if (pid == 0) {
    bad = 0;
    if (lure_loop_fork(&loop) != 0 || lure_timer_init(&loop, &t) != 0 ||
        lure_timer_start(&t, look_timer_cb, 1, 1) != 0 ||
        lure_loop_stats(&loop, &before) != 0)
      child_report(report[1], F_SETUP);
    lure_run(&loop, LURE_RUN_DEFAULT);
    if (look_ticks != 100 || lure_loop_stats(&loop, &after) != 0)
      bad |= F_TIMER;
    else if (after.wait_calls - before.wait_calls >
             2 * (after.ticks - before.ticks) + 200)
      bad |= F_LOOK;
    lure_close((lure_handle_t *) &a, NULL);
    lure_run(&loop, LURE_RUN_DEFAULT);
    if (lure_loop_close(&loop) != 0)
      bad |= F_CLOSE;
    child_report(report[1], bad);
  }
  child_wait(pid, report);
  lure_close((lure_handle_t *) &a, NULL);
  lt_loop_finish(&loop);
}
END_TEST

/* The child's first wait is not woken for nothing: libuv's
 * fork_signal_to_child runs the child's loop once (UV_RUN_ONCE) and
 * expects the callback of what its parent sends in that one run.  Here
 * the parent writes to a pipe 100 ms after the fork; the child's one
 * LURE_RUN_ONCE must be the run that sees it.  (lure_loop_fork wrote the
 * new eventfd every time in stop 23: the run returned at once, before the
 * write, with the poll callback not called.) */
static int first_poll_events;
static void first_poll_cb(lure_poll_t *h, int status, int events) {
  (void) status;
  if (events & LURE_READABLE)
    first_poll_events++;
  lure_poll_stop(h);
}

START_TEST(fork_first_wait_not_woken) {
  lure_loop_t loop;
  lure_async_t a;
  lure_poll_t pl;
  pid_t pid;
  int report[2], p[2];
  int bad;

  ck_assert_int_eq(pipe(p), 0);
  pid = fork_primed(&loop, &a, report);
  if (pid == 0) {
    bad = 0;
    if (lure_loop_fork(&loop) != 0 || lure_poll_init(&loop, &pl, p[0]) != 0 ||
        lure_poll_start(&pl, LURE_READABLE, first_poll_cb) != 0)
      child_report(report[1], F_SETUP);
    lure_run(&loop, LURE_RUN_ONCE);
    if (first_poll_events != 1)
      bad |= F_POLL;
    lure_close((lure_handle_t *) &pl, NULL);
    lure_close((lure_handle_t *) &a, NULL);
    lure_run(&loop, LURE_RUN_DEFAULT);
    if (lure_loop_close(&loop) != 0)
      bad |= F_CLOSE;
    child_report(report[1], bad);
  }
  lt_sleep_ms(100);
  ck_assert_int_eq(write(p[1], "x", 1), 1);
  child_wait(pid, report);
  close(p[0]);
  close(p[1]);
  lure_close((lure_handle_t *) &a, NULL);
  lt_loop_finish(&loop);
}
END_TEST

LT_SUITE(fork) {
  Suite *s = suite_create("fork");
  TCase *tc = lt_tcase("fork", 60);

  tcase_add_test(tc, fork_child_loop);
  tcase_add_test(tc, fork_new_loop_in_child);
  tcase_add_test(tc, fork_pending_wakeups);
  tcase_add_test(tc, fork_flag_without_write);
  tcase_add_test(tc, fork_first_wait_not_woken);
  tcase_add_test(tc, fork_bad_arguments);
  suite_add_tcase(s, tc);
  return s;
}
