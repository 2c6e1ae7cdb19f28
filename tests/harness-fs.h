/*
 * harness-fs.h - the file-system area of the test harness (the tests of
 * issue 3, tests/lure-fs-tests): helpers lt_fs_, on top of tests/harness.h.
 *
 * The program runs once per executor set (tests/run-set.sh), named by
 * LURE_TEST_SET: "uring" (the ring serves every opcode it has),
 * "uring-masked" (the ring is the wait point, LURE_URING_DISABLE masks the
 * file opcodes, so the thread pool serves them), "uring-old" (the ring
 * without the 5.19/6.0 socket features: file requests as on "uring"),
 * "epoll" (LURE_BACKEND=epoll) and "nouring" (run under tests/nouring,
 * io_uring_setup fails).  The same
 * assertions run on every set, so results must agree across executors; on
 * top of that every completed request is checked to have been served by the
 * executor the set promises (lure_req_executor()).
 *
 * Most tests of the operations are Check loop tests run twice: _i == 0 makes
 * every call synchronous (NULL callback), _i == 1 asynchronous.  The FS()
 * macros hide the difference: they run the loop until the one callback ran
 * and return the request's result (or the error the call returned).
 */
#ifndef LURE_HARNESS_FS_H
#define LURE_HARNESS_FS_H

#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include "harness.h"

/* ---- the run ------------------------------------------------------------- */

/* Facts main() learned before the tests forked. */
struct lt_fs_facts {
  char base[1024];       /* private directory of this run */
  int direct_ok;         /* O_DIRECT opens and 4 KiB aligned I/O works */
  int direct_einval;     /* ... and a misaligned buffer gets EINVAL */
  int kernel_ring;       /* io_uring_setup works in this process */
  unsigned char kops[32];/* opcodes the kernel's probe reports */
  unsigned pool_size;    /* LURE_THREADPOOL_SIZE as the tests set it */
};
extern struct lt_fs_facts lt_fs_facts;

/* ---- one test's environment ---------------------------------------------- */

struct lt_fs_env {
  lure_loop_t loop;
  lure_timer_t watchdog;
  char dir[2048];        /* private directory of this test */
  int async;             /* LT_FS_CB gives a callback */
  unsigned long ncb;     /* callbacks of lt_fs_cb so far */
  lure_fs_t *last;       /* request of the last lt_fs_cb */
  int ring;              /* the loop's wait point is the ring */
};
extern struct lt_fs_env lt_fs;

#define L (&lt_fs.loop)
#define LT_FS_CB (lt_fs.async ? lt_fs_cb : NULL)

/* Make the loop (checked against the set), the watchdog and the test's
 * directory.  ring_entries != 0 configures LURE_LOOP_RING_ENTRIES first. */
void lt_fs_begin(int async, unsigned watchdog_ms);
void lt_fs_begin_cfg(int async, unsigned watchdog_ms, unsigned ring_entries);
/* Close the watchdog, check that nothing keeps the loop alive and that
 * lure_loop_close() succeeds, remove the directory. */
void lt_fs_end(void);

/* The callback of FS(): counts and remembers the request. */
void lt_fs_cb(lure_fs_t *req);

/* A path inside the test's directory (from a ring of static buffers). */
const char *lt_fs_path(const char *name);

/* Kinds of executor expectation. */
enum {
  FX_AUTO = 0,   /* derived from the request's fs_type */
  FX_DIRECT,     /* read/write with an explicit offset on an O_DIRECT fd */
  FX_DIRECT_CUR, /* O_DIRECT read/write at the current position (no AIO) */
  FX_DIRECT_SYNC,/* fsync/fdatasync of an O_DIRECT fd */
  FX_ANY         /* any executor (nbufs > IOV_MAX, ...) */
};

/* Checks executor of a completed request against the set. */
void lt_fs_check_executor(lure_fs_t *req, int kind, int sync, const char *expr,
                        const char *file, int line);

void lt_fs_pre(void);
ssize_t lt_fs_do(lure_fs_t *req, int rc, int kind, const char *expr,
               const char *file, int line);

/* Run call (a lure_fs_* call whose cb argument is LT_FS_CB) to completion. */
#define FSK(req, kind, call) \
  (lt_fs_pre(), lt_fs_do((req), (call), (kind), #call, __FILE__, __LINE__))
#define FS(req, call) FSK(req, FX_AUTO, call)
/* Same, then check the result equals want. */
#define FS_EQ(req, call, want)                                              \
  do {                                                                      \
    ssize_t fs_eq_r_ = FS(req, call);                                       \
    ssize_t fs_eq_w_ = (ssize_t) (want);                                    \
    ck_assert_msg(fs_eq_r_ == fs_eq_w_, "%s:%d: %s = %zd (%s), want %zd (%s)",\
                  __FILE__, __LINE__, #call, fs_eq_r_,                      \
                  lt_err(fs_eq_r_), fs_eq_w_, lt_err(fs_eq_w_));          \
  } while (0)
/* FS_EQ then lure_fs_req_cleanup(). */
#define FS_OK(req, call, want)                                              \
  do {                                                                      \
    FS_EQ(req, call, want);                                                 \
    lure_fs_req_cleanup(req);                                               \
  } while (0)

/* A call that must end in error want, either at once (an argument lure
 * refuses up front: no callback) or as the request's result. */
#define FS_ERR(req, call, want)                                             \
  do {                                                                      \
    unsigned long fs_err_pre_ = lt_fs.ncb;                                    \
    int fs_err_rc_ = (call);                                                \
    ssize_t fs_err_r_ = fs_err_rc_;                                         \
    if (fs_err_rc_ < 0) {                                                   \
      lt_fs_assert_no_callback(fs_err_pre_, #call);                           \
    } else if (lt_fs.async) {                                                 \
      ck_assert_int_eq(fs_err_rc_, 0);                                      \
      ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);                   \
      ck_assert_int_eq(lt_fs.ncb, fs_err_pre_ + 1);                           \
      fs_err_r_ = (req)->result;                                            \
    }                                                                       \
    ck_assert_msg(fs_err_r_ == (want), "%s:%d: %s = %s, want %s", __FILE__, \
                  __LINE__, #call, lt_err(fs_err_r_), lt_err(want));      \
    lure_fs_req_cleanup(req);                                               \
  } while (0)

/* After a call that returned an error: run the loop a little and check
 * that no callback ran. */
void lt_fs_assert_no_callback(unsigned long ncb_before, const char *what);

/* ---- plain file helpers (no lure) ---------------------------------------- */
void lt_fs_write_file(const char *path, const void *data, size_t len);
/* Returns the length read (at most cap). */
size_t lt_fs_read_file(const char *path, void *buf, size_t cap);
int lt_fs_exists(const char *path);
/* Fill buf with a pattern determined by seed. */
void lt_fs_pattern(void *buf, size_t len, uint64_t seed);
/* An aligned buffer (free with free()). */
void *lt_fs_aligned(size_t align, size_t len);

/* Executors of the set for one fs request kind (for tests that check by
 * hand): 1 when the ring serves opcode op on this loop. */
int lt_fs_ring_has(int op);

/* Opcodes, by number (liburing 2.3 predates some). */
enum {
  LT_FS_OP_READV = 1,
  LT_FS_OP_WRITEV = 2,
  LT_FS_OP_FSYNC = 3,
  LT_FS_OP_OPENAT = 18,
  LT_FS_OP_CLOSE = 19,
  LT_FS_OP_STATX = 21,
  LT_FS_OP_READ = 22,
  LT_FS_OP_WRITE = 23,
  LT_FS_OP_RENAMEAT = 35,
  LT_FS_OP_UNLINKAT = 36,
  LT_FS_OP_MKDIRAT = 37,
  LT_FS_OP_SYMLINKAT = 38,
  LT_FS_OP_LINKAT = 39,
  LT_FS_OP_FTRUNCATE = 55
};

#endif /* LURE_HARNESS_FS_H */
