/*
 * harness.c - the helpers every suite of every test program shares
 * (declared in tests/harness.h): the executor set, loops and watchdogs,
 * time, error names, directories.  The runner (main) is tests/runner.c.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/utsname.h>
#include <linux/io_uring.h>
#include <sys/stat.h>
#include "harness.h"
#include "backend.h"

/* ---- the executor set --------------------------------------------------- */

const char *lt_set(void) {
  const char *s = getenv("LURE_TEST_SET");

  return (s != NULL && *s != '\0') ? s : NULL;
}

int lt_set_is(const char *name) {
  const char *s = lt_set();

  return s != NULL && strcmp(s, name) == 0;
}

int lt_set_ring_path(void) {
  return lt_set_is("uring") || lt_set_is("uring-old") ||
         lt_set_is("uring-single") || lt_set_is("uring-6.1");
}

int lt_kernel_at_least(unsigned major, unsigned minor) {
  struct utsname u;
  unsigned a = 0, b = 0;

  if (uname(&u) != 0 || sscanf(u.release, "%u.%u", &a, &b) != 2)
    return 0;
  return a > major || (a == major && b >= minor);
}

int lt_single_issuer(const lure_loop_t *loop) {
  struct lure__uring_info info;

  if (lure__uring_info(loop, &info) != 0)
    return 0;
  return (info.setup_flags & IORING_SETUP_SINGLE_ISSUER) &&
         (info.setup_flags & IORING_SETUP_DEFER_TASKRUN);
}

const char *lt_set_backend(void) {
  const char *set = lt_set();
  const char *forced = getenv("LURE_BACKEND");

  if (set != NULL) {
    if (lt_set_ring_path() || lt_set_is("uring-masked"))
      return "io_uring";
    if (lt_set_is("epoll") || lt_set_is("nouring"))
      return "epoll";
    return NULL;
  }
  /* Run by hand: only a forced choice is certain (a forced ring that
   * cannot be had fails lure_loop_init()). */
  if (forced != NULL && strcmp(forced, "epoll") == 0)
    return "epoll";
  if (forced != NULL &&
      (strcmp(forced, "uring") == 0 || strcmp(forced, "io_uring") == 0))
    return "io_uring";
  return NULL;
}

int lt_set_is_uring(void) {
  const char *b = lt_set_backend();

  return b != NULL && strcmp(b, "io_uring") == 0;
}

int lt_uring_masked(const char *name) {
  const char *list = getenv("LURE_URING_DISABLE");
  size_t n = strlen(name);
  const char *p;

  if (list == NULL)
    return 0;
  for (p = list; *p != '\0';) {
    size_t len = strcspn(p, ", ");

    if (len == n && strncasecmp(p, name, n) == 0)
      return 1;
    p += len;
    p += strspn(p, ", ");
  }
  return 0;
}

/* ---- loops -------------------------------------------------------------- */

int lt_loop_stream_warmup = -1;

void lt_streams_ring_at_once(void) {
  lt_loop_stream_warmup = 0;
}

void lt_streams_default(void) {
  lt_loop_stream_warmup = -1;
}

int lt_streams_warm(void) {
  const char *e = getenv("LURE_STREAM_WARMUP");

  if (lt_loop_stream_warmup >= 0)
    return lt_loop_stream_warmup > 0;
  return e == NULL || strcmp(e, "0") != 0;
}

void lt_loop_init(lure_loop_t *loop) {
  const char *want = lt_set_backend();
  const char *got;
  int rc;

  memset(loop, 0, sizeof(*loop));
  rc = lure_loop_init(loop);
  ck_assert_msg(rc == 0, "lure_loop_init: %s", lt_err(rc));
  if (lt_loop_stream_warmup >= 0) {
    rc = lure_loop_configure(loop, LURE_LOOP_STREAM_WARMUP,
                             (unsigned) lt_loop_stream_warmup);
    ck_assert_msg(rc == 0, "LURE_LOOP_STREAM_WARMUP: %s", lt_err(rc));
  }
  got = lure_loop_backend(loop);
  ck_assert_ptr_nonnull(got);
  if (want != NULL)
    ck_assert_msg(strcmp(got, want) == 0,
                  "set %s: the loop's wait point is \"%s\", want \"%s\"",
                  lt_set() ? lt_set() : "(none)", got, want);
}

struct lt_walk {
  lure_handle_t *h[256];
  int n;
};

static void lt_walk_cb(lure_handle_t *h, void *arg) {
  struct lt_walk *w = arg;

  if (!lure_is_closing(h) && w->n < (int) LT_ARRAY_SIZE(w->h))
    w->h[w->n++] = h;
}

void lt_loop_finish(lure_loop_t *loop) {
  struct lt_walk w;
  int round;
  int rc;
  int i;

  /* Rounds: a walk sees at most 256 handles at a time. */
  for (round = 0; round < 64; round++) {
    w.n = 0;
    lure_walk(loop, lt_walk_cb, &w);
    if (w.n == 0)
      break;
    for (i = 0; i < w.n; i++)
      ck_assert_int_eq(lure_close(w.h[i], NULL), 0);
  }
  /* Nothing but closing handles (and requests the test left) remain. */
  rc = lure_run(loop, LURE_RUN_DEFAULT);
  ck_assert_msg(rc == 0, "lure_run after closing everything returned %d", rc);
  rc = lure_loop_close(loop);
  ck_assert_msg(rc == 0, "lure_loop_close: %s", lt_err(rc));
}

static void lt_watchdog_cb(lure_timer_t *t) {
  ck_abort_msg("watchdog: %s (set %s)", (const char *) t->data,
               lt_set() ? lt_set() : "(none)");
}

void lt_watchdog(lure_loop_t *loop, lure_timer_t *t, uint64_t ms,
                 const char *what) {
  ck_assert_int_eq(lure_timer_init(loop, t), 0);
  t->data = (void *) what;
  ck_assert_int_eq(lure_timer_start(t, lt_watchdog_cb, ms, 0), 0);
  lure_unref((lure_handle_t *) t);
}

void lt_run(lure_loop_t *loop) {
  (void) lure_run(loop, LURE_RUN_DEFAULT);
}

static void lt_stop_cb(lure_timer_t *t) {
  lure_stop(t->loop);
}

static void lt_close_free(lure_handle_t *h) {
  free(h);
}

void lt_run_for(lure_loop_t *loop, unsigned ms) {
  lure_timer_t *t = calloc(1, sizeof(*t));
  uint64_t start = lure_hrtime();

  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(lure_timer_init(loop, t), 0);
  ck_assert_int_eq(lure_timer_start(t, lt_stop_cb, ms, 0), 0);
  /* lure_stop ends the run at the end of the tick; loop until the timer
   * fired (other handles may end a run early too). */
  while (lure_is_active((lure_handle_t *) t) &&
         (lure_hrtime() - start) / 1000000u < (uint64_t) ms + 5000)
    (void) lure_run(loop, LURE_RUN_DEFAULT);
  lure_close((lure_handle_t *) t, lt_close_free);
  (void) lure_run(loop, LURE_RUN_NOWAIT);
}

/* ---- time --------------------------------------------------------------- */

uint64_t lt_ms_since(uint64_t start) {
  return (lure_hrtime() - start) / 1000000u;
}

void lt_sleep_ms(unsigned ms) {
  struct timespec ts;

  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long) (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

TCase *lt_tcase(const char *name, double timeout) {
  TCase *tc = tcase_create(name);

  tcase_set_timeout(tc, timeout);
  return tc;
}

/* ---- the process -------------------------------------------------------- */

const char *lt_err(ssize_t r) {
  static char bufs[8][64];
  static unsigned next;
  char *b = bufs[next++ % 8];

  if (r == LURE_EOF)
    return "EOF";
  if (r < 0 && r >= -4095) {
    snprintf(b, 64, "%s", lure_err_name((int) r));
    return b;
  }
  snprintf(b, 64, "%zd", r);
  return b;
}

void lt_tmpdir(char *buf, size_t size) {
  const char *root = getenv("TMPDIR");

  /* Unix socket paths must fit sun_path (108 bytes). */
  if (root == NULL || *root == '\0' || strlen(root) > 60)
    root = "/tmp";
  snprintf(buf, size, "%s/lure-t-XXXXXX", root);
  ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp %s: %s", buf, strerror(errno));
}

static int lt_rm_one(const char *path, const struct stat *st, int flag,
                     struct FTW *ftw) {
  (void) st;
  (void) ftw;
  if (flag == FTW_DP || flag == FTW_D)
    rmdir(path);
  else
    unlink(path);
  return 0;
}

void lt_rmtree(const char *path) {
  if (path == NULL || path[0] == '\0')
    return;
  chmod(path, 0700);
  (void) nftw(path, lt_rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

int lt_is_root(void) {
  return geteuid() == 0;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define LT_ASAN 1
#endif

int lt_asan(void) {
#ifdef LT_ASAN
  return 1;
#else
  return 0;
#endif
}

long lt_raise_nofile(long want) {
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return -1;
  if ((long) rl.rlim_cur >= want)
    return (long) rl.rlim_cur;
  if (rl.rlim_max != RLIM_INFINITY && (long) rl.rlim_max < want) {
    rl.rlim_max = (rlim_t) want; /* works as root */
  }
  rl.rlim_cur = (rlim_t) want;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    (void) getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    (void) setrlimit(RLIMIT_NOFILE, &rl);
  }
  (void) getrlimit(RLIMIT_NOFILE, &rl);
  return (long) rl.rlim_cur;
}

int lt_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;

  ck_assert_ptr_nonnull(d);
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the DIR's own */
}

int lt_killed_child_port(void (*child)(int wfd)) {
  int pfd[2];
  int port = 0;
  int status;
  pid_t pid;

  ck_assert_int_eq(pipe(pfd), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(pfd[0]);
    child(pfd[1]);
    _exit(4);
  }
  close(pfd[1]);
  ck_assert_msg(read(pfd[0], &port, sizeof(port)) == (ssize_t) sizeof(port),
                "the child server did not start");
  close(pfd[0]);
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFSIGNALED(status));
  return port;
}

static int lt_once_fired;

static void lt_once_timer_cb(lure_timer_t *t) {
  (void) t;
  lt_once_fired++;
}

int lt_once_runs_timer(lure_loop_t *loop, lure_timer_t *t, uint64_t ms,
                       const char *fmt, ...) {
  char what[160];
  va_list ap;
  uint64_t start;
  int rc;

  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  lt_once_fired = 0;
  start = lure_hrtime();
  ck_assert_int_eq(lure_timer_start(t, lt_once_timer_cb, ms, 0), 0);
  rc = lure_run(loop, LURE_RUN_ONCE);
  ck_assert_msg(lt_once_fired == 1, "set %s, %s: RUN_ONCE returned after "
                "%llu ms without its timer", lt_set() ? lt_set() : "(none)",
                what, (unsigned long long) lt_ms_since(start));
  return rc;
}
