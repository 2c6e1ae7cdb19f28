/*
 * fs-main.c - the runner of lure-fs-tests and the helpers its suites share.
 *
 * Usage: lure-fs-tests [--print-backend] [SUITE...]
 *
 * LURE_FS_TESTS_VERBOSE=1 prints the executor and result of every request
 * the tests check.
 *
 *   --print-backend   print the wait point a default loop gets in this
 *                     environment ("io_uring" or "epoll") and exit; the
 *                     drivers use it to skip the ring sets where there is no
 *                     ring.
 *
 * Test files live in a private directory under $LURE_TEST_DIR, else
 * /var/tmp (tmpfs refuses O_DIRECT, and /tmp often is tmpfs); it is removed
 * at the end.  Each test runs in its own process (Check's CK_FORK) and gets
 * its own subdirectory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <liburing.h>
#include "fs-tests.h"

struct fst_facts fst_facts;
struct fst_env fst;
static unsigned long fst_ncb_pre;

/* ---- the set ------------------------------------------------------------- */

const char *fst_set(void) {
  const char *s = getenv("LURE_TEST_SET");

  return (s != NULL && *s != '\0') ? s : NULL;
}

int fst_set_is(const char *s) {
  const char *set = fst_set();

  return set != NULL && strcmp(set, s) == 0;
}

int fst_is_root(void) {
  return geteuid() == 0;
}

/* The wait point a set promises, NULL when run by hand. */
static const char *set_backend(void) {
  const char *set = fst_set();

  if (set == NULL)
    return NULL;
  if (strcmp(set, "uring") == 0 || strcmp(set, "uring-masked") == 0)
    return "io_uring";
  if (strcmp(set, "epoll") == 0 || strcmp(set, "nouring") == 0)
    return "epoll";
  return NULL;
}

/* ---- opcode masks -------------------------------------------------------- */

static const struct {
  int op;
  const char *name;
} op_names[] = {
  { FST_OP_READV, "readv" },         { FST_OP_WRITEV, "writev" },
  { FST_OP_FSYNC, "fsync" },         { FST_OP_OPENAT, "openat" },
  { FST_OP_CLOSE, "close" },         { FST_OP_STATX, "statx" },
  { FST_OP_READ, "read" },           { FST_OP_WRITE, "write" },
  { FST_OP_RENAMEAT, "renameat" },   { FST_OP_UNLINKAT, "unlinkat" },
  { FST_OP_MKDIRAT, "mkdirat" },     { FST_OP_SYMLINKAT, "symlinkat" },
  { FST_OP_LINKAT, "linkat" },       { FST_OP_FTRUNCATE, "ftruncate" },
};

static int op_masked(int op) {
  const char *list = getenv("LURE_URING_DISABLE");
  const char *name = NULL;
  const char *p;
  size_t n;
  size_t i;

  if (list == NULL)
    return 0;
  for (i = 0; i < FST_ARRAY_SIZE(op_names); i++)
    if (op_names[i].op == op)
      name = op_names[i].name;
  if (name == NULL)
    return 0;
  n = strlen(name);
  for (p = list; *p != '\0';) {
    size_t len = strcspn(p, ", ");

    if (len == n && strncasecmp(p, name, n) == 0)
      return 1;
    p += len;
    p += strspn(p, ", ");
  }
  return 0;
}

int fst_ring_has(int op) {
  if (!fst.ring || op < 0 || op >= 256)
    return 0;
  if (!(fst_facts.kops[op / 8] & (1u << (op % 8))))
    return 0;
  return !op_masked(op);
}

/* ---- executors ----------------------------------------------------------- */

enum { A_URING = 1, A_POOL = 2, A_AIO = 4 };

static int exec_bit(const char *name) {
  if (strcmp(name, "io_uring") == 0) return A_URING;
  if (strcmp(name, "threadpool") == 0) return A_POOL;
  if (strcmp(name, "aio") == 0) return A_AIO;
  return 0;
}

static const char *bits_str(int bits) {
  static char buf[64];

  buf[0] = '\0';
  if (bits & A_URING) strcat(buf, "io_uring|");
  if (bits & A_POOL) strcat(buf, "threadpool|");
  if (bits & A_AIO) strcat(buf, "aio|");
  if (buf[0] != '\0')
    buf[strlen(buf) - 1] = '\0';
  return buf;
}

/* What may serve a request of type t (buffered, FX_AUTO). */
static int auto_allowed(lure_fs_type t) {
  int ring = 0;   /* opcode the ring would use, 0 none */
  int ring2 = 0;
  int either = 0; /* the ring may or may not be used even with the opcode */

  switch (t) {
    case LURE_FS_OPEN: ring = FST_OP_OPENAT; break;
    case LURE_FS_CLOSE: ring = FST_OP_CLOSE; break;
    case LURE_FS_READ: ring = FST_OP_READ; ring2 = FST_OP_READV; break;
    case LURE_FS_WRITE: ring = FST_OP_WRITE; ring2 = FST_OP_WRITEV; break;
    case LURE_FS_FSYNC:
    case LURE_FS_FDATASYNC: ring = FST_OP_FSYNC; break;
    case LURE_FS_STAT:
    case LURE_FS_LSTAT: ring = FST_OP_STATX; break;
    case LURE_FS_FSTAT: ring = FST_OP_STATX; either = 1; break;
    case LURE_FS_UNLINK:
    case LURE_FS_RMDIR: ring = FST_OP_UNLINKAT; break;
    case LURE_FS_MKDIR: ring = FST_OP_MKDIRAT; break;
    case LURE_FS_RENAME: ring = FST_OP_RENAMEAT; break;
    case LURE_FS_SYMLINK: ring = FST_OP_SYMLINKAT; break;
    case LURE_FS_LINK: ring = FST_OP_LINKAT; break;
    case LURE_FS_FTRUNCATE: ring = FST_OP_FTRUNCATE; break;
    case LURE_FS_MKDTEMP: ring = FST_OP_MKDIRAT; either = 1; break;
    case LURE_FS_MKSTEMP: ring = FST_OP_OPENAT; either = 1; break;
    case LURE_FS_SENDFILE:
    case LURE_FS_COPYFILE:
      /* splice or a chain of ring requests, or the pool: either is fine. */
      return fst.ring ? (A_URING | A_POOL) : A_POOL;
    default:
      return A_POOL;
  }
  if (fst_ring_has(ring) || (ring2 != 0 && fst_ring_has(ring2)))
    return either ? (A_URING | A_POOL) : A_URING;
  return A_POOL;
}

void fst_check_executor(lure_fs_t *req, int kind, int sync, const char *expr,
                        const char *file, int line) {
  const char *got = lure_req_executor((lure_req_t *) req);
  int allowed;
  int rw_op;

  ck_assert_msg(got != NULL, "%s:%d: %s: lure_req_executor() is NULL", file,
                line, expr);
  if (getenv("LURE_FS_TESTS_VERBOSE") != NULL)
    printf("  %s:%d: %s%s -> %s (%s)\n", file, line, expr,
           sync ? " [sync]" : "", got, fst_err(req->result));
  if (sync) {
    ck_assert_msg(strcmp(got, "inline") == 0,
                  "%s:%d: %s (sync): executor \"%s\", want \"inline\"", file,
                  line, expr, got);
    return;
  }
  rw_op = req->fs_type == LURE_FS_WRITE ? FST_OP_WRITE : FST_OP_READ;
  switch (kind) {
    case FX_DIRECT:
      if (!fst.ring)
        allowed = A_AIO;
      else if (fst_ring_has(rw_op) || fst_ring_has(rw_op == FST_OP_READ
                                                       ? FST_OP_READV
                                                       : FST_OP_WRITEV))
        allowed = A_URING;
      else
        allowed = A_POOL | A_AIO;
      break;
    case FX_DIRECT_CUR:
      /* lure sends O_DIRECT at the file position to the pool even with a
       * ring: ext4 completes it asynchronously and the ring would leave the
       * position unchanged. */
      allowed = A_POOL;
      break;
    case FX_DIRECT_SYNC:
      allowed = fst_ring_has(FST_OP_FSYNC) ? A_URING : (A_POOL | A_AIO);
      break;
    case FX_ANY:
      allowed = A_URING | A_POOL | A_AIO;
      break;
    default:
      allowed = auto_allowed(req->fs_type);
      break;
  }
  ck_assert_msg((exec_bit(got) & allowed) != 0,
                "%s:%d: %s: set %s, loop %s: executor \"%s\", want %s", file,
                line, expr, fst_set() ? fst_set() : "(none)",
                fst.ring ? "io_uring" : "epoll", got, bits_str(allowed));
}

/* ---- running one request ------------------------------------------------- */

void fst_cb(lure_fs_t *req) {
  ck_assert_ptr_nonnull(req);
  ck_assert_msg(req->type == LURE_FS, "callback: req->type %d", req->type);
  ck_assert_msg(req->loop == L, "callback: req->loop is not the loop");
  fst.ncb++;
  fst.last = req;
}

void fst_pre(void) {
  fst_ncb_pre = fst.ncb;
}

const char *fst_err(ssize_t r) {
  static char bufs[4][32];
  static int k;
  char *b = bufs[k++ % 4];

  if (r < 0 && r >= -4095)
    return lure_err_name((int) r);
  snprintf(b, 32, "%zd", r);
  return b;
}

void fst_assert_no_callback(unsigned long ncb_before, const char *what) {
  int i;

  for (i = 0; i < 3; i++)
    lure_run(L, LURE_RUN_NOWAIT);
  ck_assert_msg(fst.ncb == ncb_before,
                "%s: the call returned an error, yet its callback ran", what);
}

ssize_t fst_do(lure_fs_t *req, int rc, int kind, const char *expr,
               const char *file, int line) {
  int r;

  if (!fst.async) {
    ck_assert_msg(fst.ncb == fst_ncb_pre, "%s:%d: %s: a callback ran", file,
                  line, expr);
    ck_assert_msg(rc == req->result,
                  "%s:%d: %s (sync) returned %d (%s) but req->result is %zd",
                  file, line, expr, rc, fst_err(rc), req->result);
    ck_assert_msg(req->type == LURE_FS, "%s:%d: %s: req->type %d", file, line,
                  expr, req->type);
    fst_check_executor(req, kind, 1, expr, file, line);
    return rc;
  }
  if (rc < 0) {
    fst_assert_no_callback(fst_ncb_pre, expr);
    return rc;
  }
  ck_assert_msg(rc == 0, "%s:%d: %s returned %d", file, line, expr, rc);
  ck_assert_msg(fst.ncb == fst_ncb_pre,
                "%s:%d: %s: the callback ran inside the call", file, line,
                expr);
  r = lure_run(L, LURE_RUN_DEFAULT);
  ck_assert_msg(r == 0, "%s:%d: %s: lure_run returned %d", file, line, expr,
                r);
  ck_assert_msg(fst.ncb == fst_ncb_pre + 1,
                "%s:%d: %s: %lu callbacks, want 1", file, line, expr,
                fst.ncb - fst_ncb_pre);
  ck_assert_msg(fst.last == req, "%s:%d: %s: callback for another request",
                file, line, expr);
  fst_check_executor(req, kind, 0, expr, file, line);
  return req->result;
}

/* ---- one test's environment ---------------------------------------------- */

static void watchdog_cb(lure_timer_t *t) {
  ck_abort_msg("watchdog: the test did not finish within %lu ms (hung loop?)",
               (unsigned long) (uintptr_t) t->data);
}

void fst_begin_cfg(int async, unsigned watchdog_ms, unsigned ring_entries) {
  const char *want = set_backend();
  const char *got;
  int rc;

  memset(&fst, 0, sizeof(fst));
  fst.async = async;
  rc = lure_loop_init(L);
  ck_assert_msg(rc == 0, "lure_loop_init: %s", lure_err_name(rc));
  if (ring_entries != 0) {
    rc = lure_loop_configure(L, LURE_LOOP_RING_ENTRIES, ring_entries);
    ck_assert_msg(rc == 0, "lure_loop_configure(RING_ENTRIES, %u): %s",
                  ring_entries, lure_err_name(rc));
  }
  got = lure_loop_backend(L);
  ck_assert_ptr_nonnull(got);
  if (want != NULL)
    ck_assert_msg(strcmp(got, want) == 0,
                  "set %s: loop backend is \"%s\", want \"%s\"", fst_set(),
                  got, want);
  fst.ring = strcmp(got, "io_uring") == 0;

  ck_assert_int_eq(lure_timer_init(L, &fst.watchdog), 0);
  fst.watchdog.data = (void *) (uintptr_t) watchdog_ms;
  ck_assert_int_eq(lure_timer_start(&fst.watchdog, watchdog_cb, watchdog_ms,
                                    0), 0);
  lure_unref((lure_handle_t *) &fst.watchdog);

  snprintf(fst.dir, sizeof(fst.dir), "%s/t-XXXXXX", fst_facts.base);
  ck_assert_msg(mkdtemp(fst.dir) != NULL, "mkdtemp %s: %s", fst.dir,
                strerror(errno));
}

void fst_begin(int async, unsigned watchdog_ms) {
  fst_begin_cfg(async, watchdog_ms, 0);
}

void fst_end(void) {
  int rc;

  lure_close((lure_handle_t *) &fst.watchdog, NULL);
  rc = lure_run(L, LURE_RUN_DEFAULT);
  ck_assert_msg(rc == 0, "lure_run at the end returned %d", rc);
  rc = lure_loop_close(L);
  ck_assert_msg(rc == 0, "lure_loop_close: %s (requests left active?)",
                lure_err_name(rc));
  fst_rmtree(fst.dir);
}

const char *P(const char *name) {
  static char bufs[32][PATH_MAX];
  static unsigned k;
  char *b = bufs[k++ % 32];

  snprintf(b, PATH_MAX, "%s/%s", fst.dir, name);
  return b;
}

/* ---- plain helpers ------------------------------------------------------- */

void fst_write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const char *p = data;

  ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
  while (len > 0) {
    ssize_t n = write(fd, p, len);

    ck_assert_msg(n > 0, "write %s: %s", path, strerror(errno));
    p += n;
    len -= (size_t) n;
  }
  close(fd);
}

size_t fst_read_file(const char *path, void *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  size_t got = 0;

  ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
  while (got < cap) {
    ssize_t n = read(fd, (char *) buf + got, cap - got);

    ck_assert_msg(n >= 0, "read %s: %s", path, strerror(errno));
    if (n == 0)
      break;
    got += (size_t) n;
  }
  close(fd);
  return got;
}

int fst_exists(const char *path) {
  struct stat st;

  return lstat(path, &st) == 0;
}

int fst_count_fds(void) {
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

void fst_pattern(void *buf, size_t len, uint64_t seed) {
  unsigned char *p = buf;
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  size_t i;

  for (i = 0; i < len; i++) {
    /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p[i] = (unsigned char) ((x * 0x2545F4914F6CDD1Dull) >> 56);
  }
}

void *fst_aligned(size_t align, size_t len) {
  void *p = NULL;

  ck_assert_int_eq(posix_memalign(&p, align, len), 0);
  return p;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void) st;
  (void) ftw;
  if (flag == FTW_DP || flag == FTW_D)
    rmdir(path);
  else
    unlink(path);
  return 0;
}

void fst_rmtree(const char *path) {
  if (path[0] == '\0')
    return;
  chmod(path, 0700);
  nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

TCase *fst_tcase(const char *name, double timeout) {
  TCase *tc = tcase_create(name);

  tcase_set_timeout(tc, timeout);
  return tc;
}

void fst_sleep_ms(unsigned ms) {
  struct timespec ts;

  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long) (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* ---- probes main() runs once --------------------------------------------- */

static void probe_direct(void) {
  char path[PATH_MAX];
  void *buf;
  int fd;

  snprintf(path, sizeof(path), "%s/direct-probe", fst_facts.base);
  fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  if (posix_memalign(&buf, 4096, 8192) != 0) {
    close(fd);
    return;
  }
  memset(buf, 'd', 8192);
  if (pwrite(fd, buf, 4096, 0) == 4096 && pread(fd, buf, 4096, 0) == 4096) {
    fst_facts.direct_ok = 1;
    errno = 0;
    if (pread(fd, (char *) buf + 1, 4096, 0) < 0 && errno == EINVAL)
      fst_facts.direct_einval = 1;
  }
  free(buf);
  close(fd);
  unlink(path);
}

static void probe_kernel_ring(void) {
  struct io_uring_probe *p = io_uring_get_probe();
  int op;

  if (p == NULL)
    return;
  fst_facts.kernel_ring = 1;
  for (op = 0; op < 256; op++)
    if (io_uring_opcode_supported(p, op))
      fst_facts.kops[op / 8] |= (unsigned char) (1u << (op % 8));
  io_uring_free_probe(p);
}

/* ---- the runner ---------------------------------------------------------- */

static const struct {
  const char *name;
  Suite *(*make)(void);
} suites[] = {
  { "ops", fs_ops_suite },
  { "errors", fs_errors_suite },
  { "cancel", fs_cancel_suite },
  { "scale", fs_scale_suite },
  { "chain", fs_chain_suite },
};

static void usage(FILE *f) {
  size_t i;

  fprintf(f, "usage: lure-fs-tests [--print-backend] [SUITE...]\nsuites:");
  for (i = 0; i < FST_ARRAY_SIZE(suites); i++)
    fprintf(f, " %s", suites[i].name);
  fprintf(f, "\n");
}

static int print_backend(void) {
  lure_loop_t loop;
  const char *b;

  memset(&loop, 0, sizeof(loop));
  if (lure_loop_init(&loop) != 0) {
    printf("none\n");
    return 1;
  }
  b = lure_loop_backend(&loop);
  printf("%s\n", b ? b : "none");
  lure_loop_close(&loop);
  return 0;
}

int main(int argc, char **argv) {
  const char *root;
  const char *summary_fd;
  char total[256];
  int checks = 0;
  int failed = 0;
  int errors = 0;
  size_t i;
  int j;

  for (j = 1; j < argc; j++) {
    int known = 0;

    if (strcmp(argv[j], "--print-backend") == 0)
      return print_backend();
    if (strcmp(argv[j], "-h") == 0 || strcmp(argv[j], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    for (i = 0; i < FST_ARRAY_SIZE(suites); i++)
      if (strcmp(argv[j], suites[i].name) == 0)
        known = 1;
    if (!known) {
      fprintf(stderr, "lure-fs-tests: unknown suite \"%s\"\n", argv[j]);
      usage(stderr);
      return 2;
    }
  }

  umask(022);
  /* A known pool size, so that tests can fill the pool. */
  if (getenv("LURE_THREADPOOL_SIZE") == NULL)
    setenv("LURE_THREADPOOL_SIZE", "4", 1);
  fst_facts.pool_size = (unsigned) atoi(getenv("LURE_THREADPOOL_SIZE"));
  if (fst_facts.pool_size == 0)
    fst_facts.pool_size = 4;

  root = getenv("LURE_TEST_DIR");
  if (root == NULL || *root == '\0')
    root = "/var/tmp";
  snprintf(fst_facts.base, sizeof(fst_facts.base), "%s/lure-fs-XXXXXX", root);
  if (mkdtemp(fst_facts.base) == NULL) {
    fprintf(stderr, "lure-fs-tests: mkdtemp %s: %s\n", fst_facts.base,
            strerror(errno));
    return 99;
  }
  /* Others may traverse it (the EACCES test drops privileges). */
  chmod(fst_facts.base, 0711);
  probe_direct();
  probe_kernel_ring();

  printf("lure-fs-tests: set %s, dir %s, O_DIRECT %s%s, kernel ring %s\n",
         fst_set() ? fst_set() : "(none)", fst_facts.base,
         fst_facts.direct_ok ? "works" : "refused (O_DIRECT tests skip)",
         fst_facts.direct_ok && !fst_facts.direct_einval
             ? " but misalignment is not refused" : "",
         fst_facts.kernel_ring ? "yes" : "no");
  fflush(stdout);

  for (i = 0; i < FST_ARRAY_SIZE(suites); i++) {
    SRunner *sr;
    TestResult **results;
    int n;
    int k;
    int wanted = argc < 2;

    for (j = 1; j < argc; j++)
      if (strcmp(argv[j], suites[i].name) == 0)
        wanted = 1;
    if (!wanted)
      continue;
    sr = srunner_create(suites[i].make());
    srunner_run_all(sr, CK_ENV);
    n = srunner_ntests_run(sr);
    results = srunner_results(sr);
    for (k = 0; k < n; k++) {
      if (tr_rtype(results[k]) == CK_FAILURE)
        failed++;
      else if (tr_rtype(results[k]) == CK_ERROR)
        errors++;
    }
    free(results);
    checks += n;
    srunner_free(sr);
    fflush(stdout);
  }

  fst_rmtree(fst_facts.base);
  snprintf(total, sizeof(total),
           "lure-fs-tests: set %s: %d%%: Checks: %d, Failures: %d, "
           "Errors: %d\n", fst_set() ? fst_set() : "(none)",
           checks ? (checks - failed - errors) * 100 / checks : 100, checks,
           failed, errors);
  fputs(total, stdout);
  fflush(stdout);
  /* The set scripts pass the terminal's fd under "make check" (fd 9), so
   * that each set's totals show there, as the other programs' do. */
  summary_fd = getenv("LURE_TESTS_SUMMARY_FD");
  if (summary_fd != NULL && *summary_fd != '\0' && atoi(summary_fd) > 2) {
    ssize_t w = write(atoi(summary_fd), total, strlen(total));

    (void) w;
  }
  return (failed == 0 && errors == 0) ? 0 : 1;
}
