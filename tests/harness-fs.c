/*
 * harness-fs.c - the helpers of the file-system suites (tests/fs-*.c,
 * declared in tests/harness-fs.h) and what tests/lure-fs-tests adds to the
 * runner (tests/runner.c): a known thread pool size, the run's directory,
 * and the probes of O_DIRECT and of the kernel's ring.
 *
 * LURE_FS_TESTS_VERBOSE=1 prints the executor and result of every request
 * the tests check.
 *
 * Test files live in a private directory under $LURE_TEST_DIR, else
 * /var/tmp (tmpfs refuses O_DIRECT, and /tmp often is tmpfs); it is removed
 * at the end.  Each test runs in its own process (Check's CK_FORK) and gets
 * its own subdirectory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <liburing.h>
#include "harness-fs.h"

struct lt_fs_facts lt_fs_facts;
struct lt_fs_env lt_fs;
static unsigned long lt_fs_ncb_pre;

/* ---- opcode masks -------------------------------------------------------- */

static const struct {
  int op;
  const char *name;
} op_names[] = {
  { LT_FS_OP_READV, "readv" },         { LT_FS_OP_WRITEV, "writev" },
  { LT_FS_OP_FSYNC, "fsync" },         { LT_FS_OP_OPENAT, "openat" },
  { LT_FS_OP_CLOSE, "close" },         { LT_FS_OP_STATX, "statx" },
  { LT_FS_OP_READ, "read" },           { LT_FS_OP_WRITE, "write" },
  { LT_FS_OP_RENAMEAT, "renameat" },   { LT_FS_OP_UNLINKAT, "unlinkat" },
  { LT_FS_OP_MKDIRAT, "mkdirat" },     { LT_FS_OP_SYMLINKAT, "symlinkat" },
  { LT_FS_OP_LINKAT, "linkat" },       { LT_FS_OP_FTRUNCATE, "ftruncate" },
};

static int op_masked(int op) {
  size_t i;

  for (i = 0; i < LT_ARRAY_SIZE(op_names); i++)
    if (op_names[i].op == op)
      return lt_uring_masked(op_names[i].name);
  return 0;
}

int lt_fs_ring_has(int op) {
  if (!lt_fs.ring || op < 0 || op >= 256)
    return 0;
  if (!(lt_fs_facts.kops[op / 8] & (1u << (op % 8))))
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
    case LURE_FS_OPEN: ring = LT_FS_OP_OPENAT; break;
    case LURE_FS_CLOSE: ring = LT_FS_OP_CLOSE; break;
    case LURE_FS_READ: ring = LT_FS_OP_READ; ring2 = LT_FS_OP_READV; break;
    case LURE_FS_WRITE: ring = LT_FS_OP_WRITE; ring2 = LT_FS_OP_WRITEV; break;
    case LURE_FS_FSYNC:
    case LURE_FS_FDATASYNC: ring = LT_FS_OP_FSYNC; break;
    case LURE_FS_STAT:
    case LURE_FS_LSTAT: ring = LT_FS_OP_STATX; break;
    case LURE_FS_FSTAT: ring = LT_FS_OP_STATX; either = 1; break;
    case LURE_FS_UNLINK:
    case LURE_FS_RMDIR: ring = LT_FS_OP_UNLINKAT; break;
    case LURE_FS_MKDIR: ring = LT_FS_OP_MKDIRAT; break;
    case LURE_FS_RENAME: ring = LT_FS_OP_RENAMEAT; break;
    case LURE_FS_SYMLINK: ring = LT_FS_OP_SYMLINKAT; break;
    case LURE_FS_LINK: ring = LT_FS_OP_LINKAT; break;
    case LURE_FS_FTRUNCATE: ring = LT_FS_OP_FTRUNCATE; break;
    case LURE_FS_MKDTEMP: ring = LT_FS_OP_MKDIRAT; either = 1; break;
    case LURE_FS_MKSTEMP: ring = LT_FS_OP_OPENAT; either = 1; break;
    case LURE_FS_SENDFILE:
    case LURE_FS_COPYFILE:
      /* splice or a chain of ring requests, or the pool: either is fine. */
      return lt_fs.ring ? (A_URING | A_POOL) : A_POOL;
    default:
      return A_POOL;
  }
  if (lt_fs_ring_has(ring) || (ring2 != 0 && lt_fs_ring_has(ring2)))
    return either ? (A_URING | A_POOL) : A_URING;
  return A_POOL;
}

void lt_fs_check_executor(lure_fs_t *req, int kind, int sync, const char *expr,
                        const char *file, int line) {
  const char *got = lure_req_executor((lure_req_t *) req);
  int allowed;
  int rw_op;

  ck_assert_msg(got != NULL, "%s:%d: %s: lure_req_executor() is NULL", file,
                line, expr);
  if (getenv("LURE_FS_TESTS_VERBOSE") != NULL)
    printf("  %s:%d: %s%s -> %s (%s)\n", file, line, expr,
           sync ? " [sync]" : "", got, lt_err(req->result));
  if (sync) {
    ck_assert_msg(strcmp(got, "inline") == 0,
                  "%s:%d: %s (sync): executor \"%s\", want \"inline\"", file,
                  line, expr, got);
    return;
  }
  rw_op = req->fs_type == LURE_FS_WRITE ? LT_FS_OP_WRITE : LT_FS_OP_READ;
  switch (kind) {
    case FX_DIRECT:
      if (!lt_fs.ring)
        allowed = A_AIO;
      else if (lt_fs_ring_has(rw_op) || lt_fs_ring_has(rw_op == LT_FS_OP_READ
                                                       ? LT_FS_OP_READV
                                                       : LT_FS_OP_WRITEV))
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
      allowed = lt_fs_ring_has(LT_FS_OP_FSYNC) ? A_URING : (A_POOL | A_AIO);
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
                line, expr, lt_set() ? lt_set() : "(none)",
                lt_fs.ring ? "io_uring" : "epoll", got, bits_str(allowed));
}

/* ---- running one request ------------------------------------------------- */

void lt_fs_cb(lure_fs_t *req) {
  ck_assert_ptr_nonnull(req);
  ck_assert_msg(req->type == LURE_FS, "callback: req->type %d", req->type);
  ck_assert_msg(req->loop == L, "callback: req->loop is not the loop");
  lt_fs.ncb++;
  lt_fs.last = req;
}

void lt_fs_pre(void) {
  lt_fs_ncb_pre = lt_fs.ncb;
}

void lt_fs_assert_no_callback(unsigned long ncb_before, const char *what) {
  int i;

  for (i = 0; i < 3; i++)
    lure_run(L, LURE_RUN_NOWAIT);
  ck_assert_msg(lt_fs.ncb == ncb_before,
                "%s: the call returned an error, yet its callback ran", what);
}

ssize_t lt_fs_do(lure_fs_t *req, int rc, int kind, const char *expr,
               const char *file, int line) {
  int r;

  if (!lt_fs.async) {
    ck_assert_msg(lt_fs.ncb == lt_fs_ncb_pre, "%s:%d: %s: a callback ran", file,
                  line, expr);
    ck_assert_msg(rc == req->result,
                  "%s:%d: %s (sync) returned %d (%s) but req->result is %zd",
                  file, line, expr, rc, lt_err(rc), req->result);
    ck_assert_msg(req->type == LURE_FS, "%s:%d: %s: req->type %d", file, line,
                  expr, req->type);
    lt_fs_check_executor(req, kind, 1, expr, file, line);
    return rc;
  }
  if (rc < 0) {
    lt_fs_assert_no_callback(lt_fs_ncb_pre, expr);
    return rc;
  }
  ck_assert_msg(rc == 0, "%s:%d: %s returned %d", file, line, expr, rc);
  ck_assert_msg(lt_fs.ncb == lt_fs_ncb_pre,
                "%s:%d: %s: the callback ran inside the call", file, line,
                expr);
  r = lure_run(L, LURE_RUN_DEFAULT);
  ck_assert_msg(r == 0, "%s:%d: %s: lure_run returned %d", file, line, expr,
                r);
  ck_assert_msg(lt_fs.ncb == lt_fs_ncb_pre + 1,
                "%s:%d: %s: %lu callbacks, want 1", file, line, expr,
                lt_fs.ncb - lt_fs_ncb_pre);
  ck_assert_msg(lt_fs.last == req, "%s:%d: %s: callback for another request",
                file, line, expr);
  lt_fs_check_executor(req, kind, 0, expr, file, line);
  return req->result;
}

/* ---- one test's environment ---------------------------------------------- */

static void watchdog_cb(lure_timer_t *t) {
  ck_abort_msg("watchdog: the test did not finish within %lu ms (hung loop?)",
               (unsigned long) (uintptr_t) t->data);
}

void lt_fs_begin_cfg(int async, unsigned watchdog_ms, unsigned ring_entries) {
  const char *want = lt_set_backend();
  const char *got;
  int rc;

  memset(&lt_fs, 0, sizeof(lt_fs));
  lt_fs.async = async;
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
                  "set %s: loop backend is \"%s\", want \"%s\"", lt_set(),
                  got, want);
  lt_fs.ring = strcmp(got, "io_uring") == 0;

  ck_assert_int_eq(lure_timer_init(L, &lt_fs.watchdog), 0);
  lt_fs.watchdog.data = (void *) (uintptr_t) watchdog_ms;
  ck_assert_int_eq(lure_timer_start(&lt_fs.watchdog, watchdog_cb, watchdog_ms,
                                    0), 0);
  lure_unref((lure_handle_t *) &lt_fs.watchdog);

  snprintf(lt_fs.dir, sizeof(lt_fs.dir), "%s/t-XXXXXX", lt_fs_facts.base);
  ck_assert_msg(mkdtemp(lt_fs.dir) != NULL, "mkdtemp %s: %s", lt_fs.dir,
                strerror(errno));
}

void lt_fs_begin(int async, unsigned watchdog_ms) {
  lt_fs_begin_cfg(async, watchdog_ms, 0);
}

void lt_fs_end(void) {
  int rc;

  lure_close((lure_handle_t *) &lt_fs.watchdog, NULL);
  rc = lure_run(L, LURE_RUN_DEFAULT);
  ck_assert_msg(rc == 0, "lure_run at the end returned %d", rc);
  rc = lure_loop_close(L);
  ck_assert_msg(rc == 0, "lure_loop_close: %s (requests left active?)",
                lure_err_name(rc));
  lt_rmtree(lt_fs.dir);
}

const char *lt_fs_path(const char *name) {
  static char bufs[32][PATH_MAX];
  static unsigned k;
  char *b = bufs[k++ % 32];

  snprintf(b, PATH_MAX, "%s/%s", lt_fs.dir, name);
  return b;
}

/* ---- plain helpers ------------------------------------------------------- */

void lt_fs_write_file(const char *path, const void *data, size_t len) {
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

size_t lt_fs_read_file(const char *path, void *buf, size_t cap) {
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

int lt_fs_exists(const char *path) {
  struct stat st;

  return lstat(path, &st) == 0;
}

void lt_fs_pattern(void *buf, size_t len, uint64_t seed) {
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

void *lt_fs_aligned(size_t align, size_t len) {
  void *p = NULL;

  ck_assert_int_eq(posix_memalign(&p, align, len), 0);
  return p;
}

/* ---- probes main() runs once --------------------------------------------- */

static void probe_direct(void) {
  char path[PATH_MAX];
  void *buf;
  int fd;

  snprintf(path, sizeof(path), "%s/direct-probe", lt_fs_facts.base);
  fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  if (posix_memalign(&buf, 4096, 8192) != 0) {
    close(fd);
    return;
  }
  memset(buf, 'd', 8192);
  if (pwrite(fd, buf, 4096, 0) == 4096 && pread(fd, buf, 4096, 0) == 4096) {
    lt_fs_facts.direct_ok = 1;
    errno = 0;
    if (pread(fd, (char *) buf + 1, 4096, 0) < 0 && errno == EINVAL)
      lt_fs_facts.direct_einval = 1;
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
  lt_fs_facts.kernel_ring = 1;
  for (op = 0; op < 256; op++)
    if (io_uring_opcode_supported(p, op))
      lt_fs_facts.kops[op / 8] |= (unsigned char) (1u << (op % 8));
  io_uring_free_probe(p);
}

/* ---- the program's part of the runner ------------------------------------ */

static int fs_setup(void) {
  const char *root;

  umask(022);
  /* A known pool size, so that tests can fill the pool. */
  if (getenv("LURE_THREADPOOL_SIZE") == NULL)
    setenv("LURE_THREADPOOL_SIZE", "4", 1);
  lt_fs_facts.pool_size = (unsigned) atoi(getenv("LURE_THREADPOOL_SIZE"));
  if (lt_fs_facts.pool_size == 0)
    lt_fs_facts.pool_size = 4;

  root = getenv("LURE_TEST_DIR");
  if (root == NULL || *root == '\0')
    root = "/var/tmp";
  snprintf(lt_fs_facts.base, sizeof(lt_fs_facts.base), "%s/lure-fs-XXXXXX",
           root);
  if (mkdtemp(lt_fs_facts.base) == NULL) {
    fprintf(stderr, "lure-fs-tests: mkdtemp %s: %s\n", lt_fs_facts.base,
            strerror(errno));
    return 99;
  }
  /* Others may traverse it (the EACCES test drops privileges). */
  chmod(lt_fs_facts.base, 0711);
  probe_direct();
  probe_kernel_ring();
  return 0;
}

static void fs_teardown(void) {
  lt_rmtree(lt_fs_facts.base);
}

static void fs_describe(char *buf, size_t size) {
  snprintf(buf, size, ", dir %s, O_DIRECT %s%s, kernel ring %s",
           lt_fs_facts.base,
           lt_fs_facts.direct_ok ? "works" : "refused (O_DIRECT tests skip)",
           lt_fs_facts.direct_ok && !lt_fs_facts.direct_einval
               ? " but misalignment is not refused" : "",
           lt_fs_facts.kernel_ring ? "yes" : "no");
}

LT_PROGRAM(fs_setup, fs_teardown, fs_describe)
