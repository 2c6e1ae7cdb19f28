/*
 * fs-cancel.c - lure_cancel() on fs requests (issue 3, section 3): queued on
 * the pool, in flight on the ring (IORING_OP_ASYNC_CANCEL) or in AIO
 * (io_cancel).  The callback runs exactly once, with LURE_ECANCELED or with
 * the real result; never both; a cancelled request had no effect; an open
 * that completes after a cancel does not leak its fd.  And libuv's order
 * behind a full pool (LURE_LOOP_FS_BEHIND_POOL, uv.h's loops): there every
 * request waits and is cancelled for sure; without it the ring and AIO
 * serve while the pool is full.
 */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "harness-fs.h"

struct creq {
  lure_fs_t req;
  int calls;
  int cancel_rc;
  int index;
  ssize_t result;
  int fd;        /* for close requests */
  char path[PATH_MAX];
  lure_buf_t buf;
};

static void ccb(lure_fs_t *req) {
  struct creq *c = req->data;

  ck_assert_ptr_nonnull(c);
  c->calls++;
  c->result = req->result;
  /* An open that completed: its fd is ours to close. */
  if ((req->fs_type == LURE_FS_OPEN || req->fs_type == LURE_FS_MKSTEMP) &&
      req->result >= 0)
    close((int) req->result);
}

static void check_cancel_rc(int rc, const char *what) {
  ck_assert_msg(rc == 0 || rc == LURE_EBUSY, "lure_cancel(%s) = %s", what,
                lt_err(rc));
}

/* ---- filling the pool ---------------------------------------------------- */

static sem_t block_sem;
static atomic_int block_started;
static int block_done;

static void block_work(lure_work_t *w) {
  (void) w;
  atomic_fetch_add(&block_started, 1);
  while (sem_wait(&block_sem) != 0 && errno == EINTR)
    ;
}

static void block_after(lure_work_t *w, int status) {
  ck_assert_int_eq(status, 0);
  (void) w;
  block_done++;
}

/* Occupy every pool thread until release_pool(). */
static lure_work_t *block_pool(void) {
  unsigned n = lt_fs_facts.pool_size;
  lure_work_t *w = calloc(n, sizeof(*w));
  unsigned i;
  int spins;

  ck_assert_int_eq(sem_init(&block_sem, 0, 0), 0);
  atomic_store(&block_started, 0);
  block_done = 0;
  for (i = 0; i < n; i++)
    ck_assert_int_eq(lure_queue_work(L, &w[i], block_work, block_after), 0);
  for (spins = 0; atomic_load(&block_started) < (int) n && spins < 5000;
       spins++)
    lt_sleep_ms(1);
  ck_assert_msg(atomic_load(&block_started) == (int) n,
                "only %d of %u pool threads took a blocker (pool size?)",
                atomic_load(&block_started), n);
  return w;
}

static void release_pool(lure_work_t *w) {
  unsigned i;

  for (i = 0; i < lt_fs_facts.pool_size; i++)
    sem_post(&block_sem);
  (void) w;
}

static void finish_pool(lure_work_t *w) {
  ck_assert_int_eq(block_done, (int) lt_fs_facts.pool_size);
  sem_destroy(&block_sem);
  free(w);
}

/* ---- operations, by number ----------------------------------------------- */

enum {
  OP_READ, OP_WRITE, OP_STAT, OP_OPEN, OP_OPEN_CREAT, OP_FSYNC, OP_MKDIR,
  OP_UNLINK, OP_CLOSE, OP_SCANDIR, OP_REALPATH, OP_CHMOD, OP_UTIME,
  OP_ACCESS, OP_READLINK, OP_STATFS, OP_DIRECT_READ, OP_COUNT
};

static const char *op_name[OP_COUNT] = {
  "read", "write", "stat", "open", "open-creat", "fsync", "mkdir", "unlink",
  "close", "scandir", "realpath", "chmod", "utime", "access", "readlink",
  "statfs", "direct-read"
};

/* 1 when op goes to the pool on this loop (so a queued one can be
 * cancelled for sure). */
static int op_on_pool(int op) {
  switch (op) {
    case OP_READ: case OP_DIRECT_READ:
      return !lt_fs_ring_has(LT_FS_OP_READ) && !lt_fs_ring_has(LT_FS_OP_READV) &&
             (op != OP_DIRECT_READ || lt_fs.ring);
    case OP_WRITE:
      return !lt_fs_ring_has(LT_FS_OP_WRITE) && !lt_fs_ring_has(LT_FS_OP_WRITEV);
    case OP_STAT: return !lt_fs_ring_has(LT_FS_OP_STATX);
    case OP_OPEN: case OP_OPEN_CREAT: return !lt_fs_ring_has(LT_FS_OP_OPENAT);
    case OP_FSYNC: return !lt_fs_ring_has(LT_FS_OP_FSYNC);
    case OP_MKDIR: return !lt_fs_ring_has(LT_FS_OP_MKDIRAT);
    case OP_UNLINK: return !lt_fs_ring_has(LT_FS_OP_UNLINKAT);
    case OP_CLOSE: return !lt_fs_ring_has(LT_FS_OP_CLOSE);
    default: return 1;
  }
}

struct cenv {
  int direct_fd;
  int rd_fd;
  int wr_fd;
  char *dbuf;        /* aligned, 4096 per request */
  char *rbuf;        /* 4096 per request */
  char data[4096 * 64];
};

static void cenv_init(struct cenv *e, int n) {
  int k;

  lt_fs_pattern(e->data, sizeof(e->data), 77);
  lt_fs_write_file(lt_fs_path("data"), e->data, sizeof(e->data));
  e->rd_fd = open(lt_fs_path("data"), O_RDONLY | O_CLOEXEC);
  ck_assert_int_ge(e->rd_fd, 0);
  e->wr_fd = open(lt_fs_path("wfile"), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ck_assert_int_ge(e->wr_fd, 0);
  ck_assert_int_eq(ftruncate(e->wr_fd, 512 * n), 0);
  e->direct_fd = -1;
  if (lt_fs_facts.direct_ok) {
    e->direct_fd = open(lt_fs_path("data"), O_RDONLY | O_DIRECT | O_CLOEXEC);
    ck_assert_int_ge(e->direct_fd, 0);
  }
  e->dbuf = lt_fs_aligned(4096, 4096 * (size_t) n);
  e->rbuf = malloc(4096 * (size_t) n);
  ck_assert_int_eq(mkdir(lt_fs_path("sd"), 0755), 0);
  lt_fs_write_file(lt_fs_path("sd/x"), "x", 1);
  ck_assert_int_eq(symlink("data", lt_fs_path("link")), 0);
  for (k = 0; k < n; k++) {
    char name[64];

    snprintf(name, sizeof(name), "u%d", k);
    lt_fs_write_file(lt_fs_path(name), "u", 1);
    snprintf(name, sizeof(name), "m%d", k);
    (void) name;
  }
}

static void cenv_free(struct cenv *e) {
  close(e->rd_fd);
  close(e->wr_fd);
  if (e->direct_fd >= 0)
    close(e->direct_fd);
  free(e->dbuf);
  free(e->rbuf);
}

static int submit(struct cenv *e, struct creq *c, int op, int k) {
  lure_fs_t *r = &c->req;
  char name[64];

  memset(c, 0, sizeof(*c));
  c->index = k;
  c->fd = -1;
  r->data = c;
  switch (op) {
    case OP_READ:
      c->buf = lure_buf_init(e->rbuf + 4096 * k, 4096);
      return lure_fs_read(L, r, e->rd_fd, &c->buf, 1, 4096 * (k % 64), ccb);
    case OP_DIRECT_READ:
      c->buf = lure_buf_init(e->dbuf + 4096 * k, 4096);
      return lure_fs_read(L, r, e->direct_fd, &c->buf, 1, 4096 * (k % 64),
                          ccb);
    case OP_WRITE:
      lt_fs_pattern(e->rbuf + 4096 * k, 512, 1000 + (uint64_t) k);
      c->buf = lure_buf_init(e->rbuf + 4096 * k, 512);
      return lure_fs_write(L, r, e->wr_fd, &c->buf, 1, 512 * k, ccb);
    case OP_STAT:
      return lure_fs_stat(L, r, lt_fs_path("data"), ccb);
    case OP_OPEN:
      return lure_fs_open(L, r, lt_fs_path("data"), O_RDONLY, 0, ccb);
    case OP_OPEN_CREAT:
      snprintf(name, sizeof(name), "c%d", k);
      snprintf(c->path, sizeof(c->path), "%s", lt_fs_path(name));
      return lure_fs_open(L, r, c->path, O_RDWR | O_CREAT | O_EXCL, 0644,
                          ccb);
    case OP_FSYNC:
      return lure_fs_fsync(L, r, e->wr_fd, ccb);
    case OP_MKDIR:
      snprintf(name, sizeof(name), "m%d", k);
      snprintf(c->path, sizeof(c->path), "%s", lt_fs_path(name));
      return lure_fs_mkdir(L, r, c->path, 0755, ccb);
    case OP_UNLINK:
      snprintf(name, sizeof(name), "u%d", k);
      snprintf(c->path, sizeof(c->path), "%s", lt_fs_path(name));
      return lure_fs_unlink(L, r, c->path, ccb);
    case OP_CLOSE:
      c->fd = open(lt_fs_path("data"), O_RDONLY | O_CLOEXEC);
      ck_assert_int_ge(c->fd, 0);
      return lure_fs_close(L, r, c->fd, ccb);
    case OP_SCANDIR:
      return lure_fs_scandir(L, r, lt_fs_path("sd"), 0, ccb);
    case OP_REALPATH:
      return lure_fs_realpath(L, r, lt_fs_path("link"), ccb);
    case OP_CHMOD:
      snprintf(name, sizeof(name), "u%d", k);
      snprintf(c->path, sizeof(c->path), "%s", lt_fs_path(name));
      return lure_fs_chmod(L, r, c->path, 0600, ccb);
    case OP_UTIME:
      snprintf(name, sizeof(name), "u%d", k);
      snprintf(c->path, sizeof(c->path), "%s", lt_fs_path(name));
      return lure_fs_utime(L, r, c->path, 1000, 1000, ccb);
    case OP_ACCESS:
      return lure_fs_access(L, r, lt_fs_path("data"), R_OK, ccb);
    case OP_READLINK:
      return lure_fs_readlink(L, r, lt_fs_path("link"), ccb);
    case OP_STATFS:
      return lure_fs_statfs(L, r, lt_fs.dir, ccb);
  }
  ck_abort_msg("op %d", op);
  return -1;
}

/* The real result of op, and that a cancelled one had no effect. */
static void check_outcome(struct cenv *e, struct creq *c, int op) {
  ssize_t r = c->result;
  int k = c->index;
  struct stat st;
  const char *what = op_name[op];

  ck_assert_msg(c->calls == 1, "%s #%d: %d callbacks", what, k, c->calls);
  if (c->cancel_rc == LURE_EBUSY)
    ck_assert_msg(r != LURE_ECANCELED,
                  "%s #%d: lure_cancel said EBUSY, the callback ECANCELED",
                  what, k);
  if (r == LURE_ECANCELED) {
    switch (op) {
      case OP_WRITE: {
        char got[512];
        int j;

        ck_assert_int_eq(pread(e->wr_fd, got, 512, 512 * k), 512);
        for (j = 0; j < 512; j++)
          ck_assert_msg(got[j] == 0, "write #%d was cancelled, yet written",
                        k);
        break;
      }
      case OP_MKDIR:
        ck_assert_msg(!lt_fs_exists(c->path),
                      "mkdir #%d was cancelled, yet made", k);
        break;
      case OP_UNLINK:
        ck_assert_msg(lt_fs_exists(c->path),
                      "unlink #%d was cancelled, yet removed", k);
        break;
      case OP_CLOSE:
        ck_assert_msg(fcntl(c->fd, F_GETFD) >= 0,
                      "close #%d was cancelled, yet closed", k);
        close(c->fd);
        break;
      case OP_CHMOD:
        ck_assert_int_eq(stat(c->path, &st), 0);
        ck_assert_msg((st.st_mode & 07777) == 0644,
                      "chmod #%d was cancelled, yet applied", k);
        break;
      case OP_UTIME:
        ck_assert_int_eq(stat(c->path, &st), 0);
        ck_assert_msg(st.st_mtim.tv_sec != 1000,
                      "utime #%d was cancelled, yet applied", k);
        break;
      case OP_SCANDIR: case OP_REALPATH: case OP_READLINK: case OP_STATFS:
        ck_assert_ptr_null(c->req.ptr);
        break;
      default:
        break;
    }
    lure_fs_req_cleanup(&c->req);
    return;
  }
  switch (op) {
    case OP_READ:
      ck_assert_msg(r == 4096, "read #%d: %s", k, lt_err(r));
      ck_assert_int_eq(memcmp(e->rbuf + 4096 * k,
                              e->data + 4096 * (k % 64), 4096), 0);
      break;
    case OP_DIRECT_READ:
      ck_assert_msg(r == 4096, "direct read #%d: %s", k, lt_err(r));
      ck_assert_int_eq(memcmp(e->dbuf + 4096 * k,
                              e->data + 4096 * (k % 64), 4096), 0);
      break;
    case OP_WRITE: {
      char got[512];

      ck_assert_msg(r == 512, "write #%d: %s", k, lt_err(r));
      ck_assert_int_eq(pread(e->wr_fd, got, 512, 512 * k), 512);
      ck_assert_int_eq(memcmp(got, e->rbuf + 4096 * k, 512), 0);
      break;
    }
    case OP_OPEN: case OP_OPEN_CREAT:
      ck_assert_msg(r >= 0, "open #%d: %s", k, lt_err(r));
      break;
    case OP_MKDIR:
      ck_assert_msg(r == 0, "mkdir #%d: %s", k, lt_err(r));
      ck_assert(lt_fs_exists(c->path));
      break;
    case OP_UNLINK:
      ck_assert_msg(r == 0, "unlink #%d: %s", k, lt_err(r));
      ck_assert(!lt_fs_exists(c->path));
      break;
    case OP_CLOSE:
      ck_assert_msg(r == 0, "close #%d: %s", k, lt_err(r));
      break;
    case OP_SCANDIR:
      ck_assert_msg(r == 1, "scandir #%d: %s", k, lt_err(r));
      break;
    case OP_REALPATH: case OP_READLINK:
      ck_assert_msg(r == 0, "%s #%d: %s", what, k, lt_err(r));
      ck_assert_ptr_nonnull(c->req.ptr);
      break;
    case OP_CHMOD:
      ck_assert_msg(r == 0, "chmod #%d: %s", k, lt_err(r));
      ck_assert_int_eq(stat(c->path, &st), 0);
      ck_assert_int_eq(st.st_mode & 07777, 0600);
      break;
    case OP_UTIME:
      ck_assert_msg(r == 0, "utime #%d: %s", k, lt_err(r));
      ck_assert_int_eq(stat(c->path, &st), 0);
      ck_assert_int_eq(st.st_mtim.tv_sec, 1000);
      break;
    default:
      ck_assert_msg(r == 0, "%s #%d: %s", what, k, lt_err(r));
      break;
  }
  lure_fs_req_cleanup(&c->req);
}

/* ---- cancel right after submitting --------------------------------------- */

START_TEST(fs_cancel_immediately) {
  enum { N = 64 };
  int op = _i;
  struct cenv *e = calloc(1, sizeof(*e));
  struct creq *c = calloc(N, sizeof(*c));
  int fds;
  int ncanceled = 0;
  int k;

  if (op == OP_DIRECT_READ && !lt_fs_facts.direct_ok) {
    free(e);
    free(c);
    return;
  }
  lt_fs_begin(1, 20000);
  cenv_init(e, N);
  if (op == OP_DIRECT_READ) {
    /* The AIO path makes its eventfd on first use: not a leak. */
    lure_buf_t b = lure_buf_init(e->dbuf, 4096);
    lure_fs_t req;

    ck_assert_int_eq(FSK(&req, FX_DIRECT, lure_fs_read(L, &req, e->direct_fd,
                                                        &b, 1, 0, LT_FS_CB)),
                     4096);
    lure_fs_req_cleanup(&req);
  }
  fds = lt_count_fds();
  for (k = 0; k < N; k++) {
    ck_assert_int_eq(submit(e, &c[k], op, k), 0);
    c[k].cancel_rc = lure_cancel((lure_req_t *) &c[k].req);
    check_cancel_rc(c[k].cancel_rc, op_name[op]);
    ck_assert_int_eq(c[k].calls, 0);
  }
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  for (k = 0; k < N; k++) {
    if (c[k].result == LURE_ECANCELED)
      ncanceled++;
    check_outcome(e, &c[k], op);
  }
  /* A second run finds nothing and calls nobody twice. */
  ck_assert_int_eq(lure_run(L, LURE_RUN_NOWAIT), 0);
  for (k = 0; k < N; k++)
    ck_assert_int_eq(c[k].calls, 1);
  if (op != OP_CLOSE)
    ck_assert_int_eq(lt_count_fds(), fds);
  printf("  cancel-immediately %-12s %2d of %d cancelled\n", op_name[op],
         ncanceled, N);
  cenv_free(e);
  free(e);
  free(c);
  lt_fs_end();
}
END_TEST

/* ---- requests queued behind a full pool: always cancelled ---------------- */

START_TEST(fs_cancel_queued_on_pool) {
  enum { N = 16 };
  struct cenv *e = calloc(1, sizeof(*e));
  struct creq *c = calloc((size_t) N * OP_COUNT, sizeof(*c));
  int used[OP_COUNT] = { 0 };
  lure_work_t *blockers;
  int fds;
  int op;
  int k;

  lt_fs_begin(1, 20000);
  cenv_init(e, N);
  fds = lt_count_fds();
  blockers = block_pool();
  for (op = 0; op < OP_COUNT; op++) {
    if (!op_on_pool(op) || op == OP_DIRECT_READ)
      continue;
    used[op] = 1;
    for (k = 0; k < N; k++) {
      struct creq *r = &c[op * N + k];

      ck_assert_int_eq(submit(e, r, op, k), 0);
      r->cancel_rc = lure_cancel((lure_req_t *) &r->req);
      ck_assert_msg(r->cancel_rc == 0,
                    "%s #%d queued on the pool: lure_cancel = %s",
                    op_name[op], k, lt_err(r->cancel_rc));
    }
  }
  /* Cancelled before the loop ran: nothing has called back yet. */
  for (k = 0; k < N * OP_COUNT; k++)
    ck_assert_int_eq(c[k].calls, 0);
  release_pool(blockers);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  finish_pool(blockers);
  for (op = 0; op < OP_COUNT; op++) {
    if (!used[op])
      continue;
    for (k = 0; k < N; k++) {
      struct creq *r = &c[op * N + k];

      ck_assert_msg(r->result == LURE_ECANCELED,
                    "%s #%d cancelled while queued: result %s", op_name[op],
                    k, lt_err(r->result));
      ck_assert_str_eq(lure_req_executor((lure_req_t *) &r->req),
                       "threadpool");
      check_outcome(e, r, op);
    }
  }
  ck_assert_int_eq(lt_count_fds(), fds);
  /* The pool works on afterwards. */
  {
    lure_fs_t req;

    lt_fs_pre();
    FS_OK(&req, lure_fs_realpath(L, &req, lt_fs_path("link"), LT_FS_CB), 0);
  }
  cenv_free(e);
  free(e);
  free(c);
  lt_fs_end();
}
END_TEST

/* ---- too late: after the work is done, or after the callback ------------- */

static int self_cancel_rc = 1;

static void self_cancel_cb(lure_fs_t *req) {
  lt_fs_cb(req);
  self_cancel_rc = lure_cancel((lure_req_t *) req);
}

START_TEST(fs_cancel_after_completion) {
  lure_fs_t req;
  int rc;

  lt_fs_begin(1, 20000);
  lt_fs_write_file(lt_fs_path("f"), "abc", 3);
  ck_assert_int_eq(symlink("f", lt_fs_path("l")), 0);

  /* After the callback. */
  FS_EQ(&req, lure_fs_stat(L, &req, lt_fs_path("f"), LT_FS_CB), 0);
  rc = lure_cancel((lure_req_t *) &req);
  ck_assert_msg(rc == LURE_EBUSY || rc == LURE_EINVAL,
                "lure_cancel after the callback = %s", lt_err(rc));
  ck_assert_int_eq(lure_run(L, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(lt_fs.ncb, 1);
  lure_fs_req_cleanup(&req);

  /* From inside its own callback. */
  ck_assert_int_eq(lure_fs_stat(L, &req, lt_fs_path("f"), self_cancel_cb), 0);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lt_fs.ncb, 2);
  ck_assert_int_eq(req.result, 0);
  ck_assert_msg(self_cancel_rc == LURE_EBUSY || self_cancel_rc == LURE_EINVAL,
                "lure_cancel in the callback = %s", lt_err(self_cancel_rc));
  lure_fs_req_cleanup(&req);

  /* The work ran on the pool (chmod has no ring opcode), the callback has
   * not: EBUSY, and the real result. */
  ck_assert_int_eq(lure_fs_chmod(L, &req, lt_fs_path("f"), 0600, LT_FS_CB), 0);
  {
    struct stat st;
    int spins;

    for (spins = 0; spins < 5000; spins++) {
      ck_assert_int_eq(stat(lt_fs_path("f"), &st), 0);
      if ((st.st_mode & 07777) == 0600)
        break;
      lt_sleep_ms(1);
    }
    ck_assert_int_eq(st.st_mode & 07777, 0600);
  }
  rc = lure_cancel((lure_req_t *) &req);
  ck_assert_msg(rc == LURE_EBUSY,
                "lure_cancel of pool work that ran = %s, want EBUSY",
                lt_err(rc));
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lt_fs.ncb, 3);
  ck_assert_int_eq(req.result, 0);
  ck_assert_str_eq(lure_req_executor((lure_req_t *) &req), "threadpool");
  lure_fs_req_cleanup(&req);

  /* A synchronous request is never active. */
  ck_assert_int_eq(lure_fs_stat(L, &req, lt_fs_path("f"), NULL), 0);
  rc = lure_cancel((lure_req_t *) &req);
  ck_assert_msg(rc == LURE_EBUSY || rc == LURE_EINVAL,
                "lure_cancel of a sync request = %s", lt_err(rc));
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(lt_fs.ncb, 3);
  lt_fs_end();
}
END_TEST

/* Cancelling twice: one callback. */
START_TEST(fs_cancel_twice) {
  lure_fs_t req;
  lure_work_t *blockers;
  int rc;

  lt_fs_begin(1, 20000);
  lt_fs_write_file(lt_fs_path("f"), "abc", 3);
  blockers = block_pool();
  ck_assert_int_eq(lure_fs_realpath(L, &req, lt_fs_path("f"), LT_FS_CB), 0);
  ck_assert_int_eq(lure_cancel((lure_req_t *) &req), 0);
  rc = lure_cancel((lure_req_t *) &req);
  ck_assert_msg(rc == 0 || rc == LURE_EBUSY, "second lure_cancel = %s",
                lt_err(rc));
  release_pool(blockers);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  finish_pool(blockers);
  ck_assert_int_eq(lt_fs.ncb, 1);
  ck_assert_int_eq(req.result, LURE_ECANCELED);
  lure_fs_req_cleanup(&req);
  lt_fs_end();
}
END_TEST

/* ---- opens: no fd may leak ----------------------------------------------- */

START_TEST(fs_cancel_open_no_leak) {
  enum { N = 256 };
  struct cenv *e = calloc(1, sizeof(*e));
  struct creq *c = calloc(N, sizeof(*c));
  int fds;
  int k;
  int n = 0;

  lt_fs_begin(1, 20000);
  cenv_init(e, 4);
  fds = lt_count_fds();
  /* Alternate opens of an existing file and creating opens; cancel each at
   * once, or after the next submission, or after two. */
  for (k = 0; k < N; k++) {
    ck_assert_int_eq(submit(e, &c[k], (k & 1) ? OP_OPEN_CREAT : OP_OPEN, k),
                     0);
    if (k % 3 == 0)
      c[k].cancel_rc = lure_cancel((lure_req_t *) &c[k].req);
    if (k >= 1 && k % 3 == 1)
      c[k - 1].cancel_rc = lure_cancel((lure_req_t *) &c[k - 1].req);
    if (k >= 2 && k % 3 == 2)
      c[k - 2].cancel_rc = lure_cancel((lure_req_t *) &c[k - 2].req);
  }
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  for (k = 0; k < N; k++) {
    check_cancel_rc(c[k].cancel_rc, "open");
    ck_assert_int_eq(c[k].calls, 1);
    ck_assert_msg(c[k].result >= 0 || c[k].result == LURE_ECANCELED,
                  "open #%d: %s", k, lt_err(c[k].result));
    if (c[k].result == LURE_ECANCELED)
      n++;
    lure_fs_req_cleanup(&c[k].req);
  }
  ck_assert_msg(lt_count_fds() == fds, "%d fds before, %d after", fds,
                lt_count_fds());
  printf("  cancel-open: %d of %d cancelled\n", n, N);
  cenv_free(e);
  free(e);
  free(c);
  lt_fs_end();
}
END_TEST

/* An open that blocks (a FIFO without a writer) is cancelled in flight;
 * later a writer appears.  Whatever the outcome, no fd leaks. */
struct fifo_ctx {
  lure_fs_t req;
  lure_timer_t t_cancel;
  lure_timer_t t_writer;
  int cancel_rc;
  int calls_at_cancel;
  int writer;
  int calls;
  ssize_t result;
  char path[PATH_MAX];
};

static void fifo_open_cb(lure_fs_t *req) {
  struct fifo_ctx *f = req->data;

  f->calls++;
  f->result = req->result;
  if (req->result >= 0)
    close((int) req->result);
}

static void fifo_cancel_cb(lure_timer_t *t) {
  struct fifo_ctx *f = t->data;

  f->calls_at_cancel = f->calls;
  f->cancel_rc = lure_cancel((lure_req_t *) &f->req);
  lure_close((lure_handle_t *) t, NULL);
}

static void fifo_writer_cb(lure_timer_t *t) {
  struct fifo_ctx *f = t->data;

  /* O_RDWR never blocks on a FIFO and counts as a writer. */
  f->writer = open(f->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  ck_assert_int_ge(f->writer, 0);
  lure_close((lure_handle_t *) t, NULL);
}

START_TEST(fs_cancel_open_blocked_fifo) {
  struct fifo_ctx f;
  int fds;
  int ring_open;

  lt_fs_begin(1, 20000);
  memset(&f, 0, sizeof(f));
  f.writer = -1;
  snprintf(f.path, sizeof(f.path), "%s", lt_fs_path("fifo"));
  ck_assert_int_eq(mkfifo(f.path, 0644), 0);
  ring_open = lt_fs_ring_has(LT_FS_OP_OPENAT);
  fds = lt_count_fds();
  f.req.data = &f;
  ck_assert_int_eq(lure_fs_open(L, &f.req, f.path, O_RDONLY, 0,
                                fifo_open_cb), 0);
  ck_assert_int_eq(lure_timer_init(L, &f.t_cancel), 0);
  f.t_cancel.data = &f;
  ck_assert_int_eq(lure_timer_start(&f.t_cancel, fifo_cancel_cb, 50, 0), 0);
  ck_assert_int_eq(lure_timer_init(L, &f.t_writer), 0);
  f.t_writer.data = &f;
  ck_assert_int_eq(lure_timer_start(&f.t_writer, fifo_writer_cb, 300, 0), 0);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(f.calls, 1);
  if (f.calls_at_cancel == 0) {
    /* Still in flight (the pool blocks in open(2) until a writer comes;
     * the ring may not block at all). */
    check_cancel_rc(f.cancel_rc, "open of a FIFO");
    if (f.cancel_rc == LURE_EBUSY)
      ck_assert_int_ge(f.result, 0);
  } else {
    ck_assert_msg(f.cancel_rc == LURE_EBUSY || f.cancel_rc == LURE_EINVAL,
                  "lure_cancel after the callback: %s", lt_err(f.cancel_rc));
  }
  ck_assert_msg(f.result >= 0 || f.result == LURE_ECANCELED,
                "cancelled open of a FIFO: result %s (cancel %s)",
                lt_err(f.result), lt_err(f.cancel_rc));
  (void) ring_open;
  printf("  cancel-open-fifo: %s the callback, cancel %s, result %s (%s)\n",
         f.calls_at_cancel ? "after" : "before",
         lt_err(f.cancel_rc), lt_err(f.result),
         lure_req_executor((lure_req_t *) &f.req));
  lure_fs_req_cleanup(&f.req);
  ck_assert_int_ge(f.writer, 0);
  close(f.writer);
  ck_assert_msg(lt_count_fds() == fds, "%d fds before, %d after", fds,
                lt_count_fds());
  lt_fs_end();
}
END_TEST

/* ---- a read that blocks (an empty pipe), cancelled in flight ------------- */

struct pipe_ctx {
  lure_fs_t req;
  lure_timer_t t_cancel;
  lure_timer_t t_write;
  int p[2];
  int cancel_rc;
  int calls;
  char buf[16];
  lure_buf_t b;
};

static void pipe_read_cb(lure_fs_t *req) {
  struct pipe_ctx *x = req->data;

  x->calls++;
}

static void pipe_cancel_cb(lure_timer_t *t) {
  struct pipe_ctx *x = t->data;

  x->cancel_rc = lure_cancel((lure_req_t *) &x->req);
  lure_close((lure_handle_t *) t, NULL);
}

static void pipe_write_cb(lure_timer_t *t) {
  struct pipe_ctx *x = t->data;

  ck_assert_int_eq(write(x->p[1], "x", 1), 1);
  lure_close((lure_handle_t *) t, NULL);
}

START_TEST(fs_cancel_read_blocked_pipe) {
  struct pipe_ctx x;
  int ring_read;

  lt_fs_begin(1, 20000);
  memset(&x, 0, sizeof(x));
  ck_assert_int_eq(pipe2(x.p, O_CLOEXEC), 0);
  ring_read = lt_fs_ring_has(LT_FS_OP_READ) || lt_fs_ring_has(LT_FS_OP_READV);
  x.req.data = &x;
  x.b = lure_buf_init(x.buf, sizeof(x.buf));
  ck_assert_int_eq(lure_fs_read(L, &x.req, x.p[0], &x.b, 1, -1,
                                pipe_read_cb), 0);
  ck_assert_int_eq(lure_timer_init(L, &x.t_cancel), 0);
  x.t_cancel.data = &x;
  ck_assert_int_eq(lure_timer_start(&x.t_cancel, pipe_cancel_cb, 50, 0), 0);
  ck_assert_int_eq(lure_timer_init(L, &x.t_write), 0);
  x.t_write.data = &x;
  ck_assert_int_eq(lure_timer_start(&x.t_write, pipe_write_cb, 300, 0), 0);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(x.calls, 1);
  check_cancel_rc(x.cancel_rc, "read of a pipe");
  ck_assert_msg(x.req.result == 1 || x.req.result == LURE_ECANCELED,
                "read of a pipe: %s", lt_err(x.req.result));
  if (x.cancel_rc == LURE_EBUSY)
    ck_assert_int_eq(x.req.result, 1);
  if (ring_read)
    ck_assert_msg(x.cancel_rc == 0 && x.req.result == LURE_ECANCELED,
                  "ring read of an empty pipe: cancel %s, result %s",
                  lt_err(x.cancel_rc), lt_err(x.req.result));
  printf("  cancel-read-pipe: cancel %s, result %s (%s)\n",
         lt_err(x.cancel_rc), lt_err(x.req.result),
         lure_req_executor((lure_req_t *) &x.req));
  lure_fs_req_cleanup(&x.req);
  close(x.p[0]);
  close(x.p[1]);
  lt_fs_end();
}
END_TEST

/* ---- cancelling requests that wait in user space for ring entries -------- */

START_TEST(fs_cancel_waiting_for_sq) {
  enum { N = 2000 };
  struct cenv *e = calloc(1, sizeof(*e));
  struct creq *c = calloc(N, sizeof(*c));
  char *bufs = malloc(4096 * 8);
  int filled[8] = {0};
  int k;
  int n = 0;

  lt_fs_begin_cfg(1, 30000, 8);
  cenv_init(e, 4);
  for (k = 0; k < N; k++) {
    c[k].req.data = &c[k];
    c[k].index = k;
    c[k].buf = lure_buf_init(bufs + 4096 * (k % 8), 4096);
    ck_assert_int_eq(lure_fs_read(L, &c[k].req, e->rd_fd, &c[k].buf, 1,
                                  4096 * (k % 8), ccb), 0);
  }
  /* Every other one, from the back (those certainly still queued). */
  for (k = N - 1; k >= 0; k -= 2) {
    c[k].cancel_rc = lure_cancel((lure_req_t *) &c[k].req);
    check_cancel_rc(c[k].cancel_rc, "read waiting for the ring");
  }
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  for (k = 0; k < N; k++) {
    ck_assert_msg(c[k].calls == 1, "read #%d: %d callbacks", k, c[k].calls);
    if (k % 2 == 0 || c[k].cancel_rc == LURE_EBUSY)
      ck_assert_msg(c[k].result == 4096, "read #%d: %s", k,
                    lt_err(c[k].result));
    else
      ck_assert_msg(c[k].result == 4096 || c[k].result == LURE_ECANCELED,
                    "read #%d: %s", k, lt_err(c[k].result));
    if (c[k].result == LURE_ECANCELED)
      n++;
    lure_fs_req_cleanup(&c[k].req);
  }
  /* Each buffer holds its part of the file once a read into it succeeded
   * (the odd ones may all have been cancelled: on a single issuer's ring
   * nothing is submitted before the loop runs, so every cancel is true). */
  for (k = 0; k < N; k++)
    if (c[k].result == 4096)
      filled[k % 8] = 1;
  for (k = 0; k < 8; k += 2)
    ck_assert_int_eq(filled[k], 1);
  for (k = 0; k < 8; k++)
    if (filled[k])
      ck_assert_int_eq(memcmp(bufs + 4096 * k, e->data + 4096 * k, 4096), 0);
  printf("  cancel-waiting-for-sq: %d of %d cancelled\n", n, N / 2);
  cenv_free(e);
  free(e);
  free(c);
  free(bufs);
  lt_fs_end();
}
END_TEST

/* ---- cancelling an SQE the kernel has not seen --------------------------- */

/* On the ring, a request made and cancelled before the poll phase submits
 * it is a true cancel: its SQE becomes a NOP, the operation never runs
 * (the directory is not made, the pipe gets no byte, the descriptor stays
 * open), and the callback gets LURE_ECANCELED.  A request the kernel has
 * (after a turn of the loop) is cancelled with IORING_OP_ASYNC_CANCEL and
 * may still win; once its callback has run, lure_cancel() says EBUSY. */
START_TEST(fs_cancel_before_submit) {
  struct creq c[4];
  int p[2];
  int keep;
  char byte;
  int k;

  lt_fs_begin(1, 20000);
  if (!lt_fs.ring || !lt_fs_ring_has(LT_FS_OP_MKDIRAT) ||
      !lt_fs_ring_has(LT_FS_OP_WRITE) || !lt_fs_ring_has(LT_FS_OP_CLOSE)) {
    printf("  cancel-before-submit: no ring path here, skipped\n");
    lt_fs_end();
    return;
  }
  memset(c, 0, sizeof(c));
  ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  keep = dup(p[0]);
  ck_assert_int_ge(keep, 0);
  for (k = 0; k < 4; k++)
    c[k].req.data = &c[k];
  ck_assert_int_eq(lure_fs_mkdir(L, &c[0].req, lt_fs_path("never"), 0755, ccb), 0);
  c[1].buf = lure_buf_init("z", 1);
  ck_assert_int_eq(lure_fs_write(L, &c[1].req, p[1], &c[1].buf, 1, -1, ccb),
                   0);
  ck_assert_int_eq(lure_fs_close(L, &c[2].req, keep, ccb), 0);
  for (k = 0; k < 3; k++) {
    ck_assert_ptr_null(lure_req_executor((lure_req_t *) &c[k].req));
    ck_assert_int_eq(lure_cancel((lure_req_t *) &c[k].req), 0);
    /* Asked once: a second cancel is too late. */
    ck_assert_int_eq(lure_cancel((lure_req_t *) &c[k].req), LURE_EBUSY);
  }
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  for (k = 0; k < 3; k++) {
    ck_assert_int_eq(c[k].calls, 1);
    ck_assert_msg(c[k].result == LURE_ECANCELED, "request %d: %s", k,
                  lt_err(c[k].result));
    ck_assert_str_eq(lure_req_executor((lure_req_t *) &c[k].req),
                     "io_uring");
    lure_fs_req_cleanup(&c[k].req);
  }
  ck_assert_int_eq(lt_fs_exists(lt_fs_path("never")), 0);
  ck_assert_int_eq(read(p[0], &byte, 1), -1);
  ck_assert_int_eq(errno, EAGAIN);
  ck_assert_int_ne(fcntl(keep, F_GETFD), -1);

  /* After a turn the kernel has it and has done it: too late. */
  ck_assert_int_eq(lure_fs_mkdir(L, &c[3].req, lt_fs_path("made"), 0755, ccb), 0);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(c[3].calls, 1);
  ck_assert_int_eq(c[3].result, 0);
  ck_assert_int_eq(lure_cancel((lure_req_t *) &c[3].req), LURE_EBUSY);
  ck_assert_int_eq(lt_fs_exists(lt_fs_path("made")), 1);
  lure_fs_req_cleanup(&c[3].req);
  close(keep);
  close(p[0]);
  close(p[1]);
  lt_fs_end();
}
END_TEST

/* ---- LURE_LOOP_FS_BEHIND_POOL: libuv's order behind a full pool ---------- */

/* The option's four ways in: set on; the default (off); on through
 * LURE_LOOP_LIBUV_DEFAULTS (what uv.h's loops ask for); and those defaults
 * overruled by the option set off, which wins. */
enum { BP_ON, BP_DEFAULT, BP_LIBUV, BP_LIBUV_OFF, BP_COUNT };
static const char *bp_name[BP_COUNT] = { "on", "default", "libuv-defaults",
                                         "libuv-defaults, then off" };

START_TEST(fs_behind_full_pool) {
  enum { N = 4 };
  int behind = _i == BP_ON || _i == BP_LIBUV;
  struct cenv *e = calloc(1, sizeof(*e));
  struct creq *c = calloc((size_t) N * OP_COUNT, sizeof(*c));
  int used[OP_COUNT] = { 0 };
  lure_work_t *blockers;
  int nused = 0;
  int pending;
  int spins;
  int fds;
  int op;
  int k;

  lt_fs_begin(1, 20000);
  cenv_init(e, N);
  /* An O_DIRECT read first, so that an AIO context made for it (no ring)
   * is not counted as a leaked descriptor below. */
  if (e->direct_fd >= 0) {
    struct creq r;

    ck_assert_int_eq(submit(e, &r, OP_DIRECT_READ, 0), 0);
    ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.result, 4096);
    lure_fs_req_cleanup(&r.req);
  }
  fds = lt_count_fds();
  /* Bad values: a clear error, the setting unchanged. */
  ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_FS_BEHIND_POOL, 2),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_FS_BEHIND_POOL, -1),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(NULL, LURE_LOOP_FS_BEHIND_POOL, 1),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(NULL, LURE_LOOP_LIBUV_DEFAULTS),
                   LURE_EINVAL);
  if (_i == BP_ON)
    ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_FS_BEHIND_POOL, 1), 0);
  if (_i == BP_LIBUV || _i == BP_LIBUV_OFF)
    ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_LIBUV_DEFAULTS), 0);
  if (_i == BP_LIBUV_OFF)
    ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_FS_BEHIND_POOL, 0), 0);

  blockers = block_pool();
  for (op = 0; op < OP_COUNT; op++) {
    if (op == OP_DIRECT_READ && e->direct_fd < 0)
      continue;
    /* Off, only what the ring or AIO serves says anything. */
    if (!behind && op_on_pool(op))
      continue;
    used[op] = 1;
    for (k = 0; k < N; k++)
      ck_assert_int_eq(submit(e, &c[op * N + k], op, k), 0);
    nused++;
  }
  if (behind) {
    /* Every kind waits in the pool's queue: the loop runs (the ring would
     * have its entries submitted and served by now), nothing calls back,
     * and lure_cancel() takes each back there, as libuv's
     * threadpool_cancel_fs expects from a 10 ms timer. */
    ck_assert_int_eq(nused, OP_COUNT - (e->direct_fd < 0));
    for (spins = 0; spins < 5; spins++) {
      lure_run(L, LURE_RUN_NOWAIT);
      lt_sleep_ms(2);
    }
    for (k = 0; k < N * OP_COUNT; k++)
      ck_assert_int_eq(c[k].calls, 0);
    for (op = 0; op < OP_COUNT; op++) {
      for (k = 0; used[op] && k < N; k++) {
        struct creq *r = &c[op * N + k];

        r->cancel_rc = lure_cancel((lure_req_t *) &r->req);
        ck_assert_msg(r->cancel_rc == 0,
                      "%s #%d behind a full pool (%s): lure_cancel = %s",
                      op_name[op], k, bp_name[_i], lt_err(r->cancel_rc));
      }
    }
    release_pool(blockers);
    ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
    finish_pool(blockers);
  } else {
    /* What the ring or AIO serves here must finish while the pool stays
     * full (on a set that sends every fs request to the pool, that is
     * nothing, and the half above is the test). */
    for (spins = 0; spins < 5000; spins++) {
      pending = 0;
      for (op = 0; op < OP_COUNT; op++)
        for (k = 0; used[op] && k < N; k++)
          pending += c[op * N + k].calls == 0;
      if (pending == 0)
        break;
      lure_run(L, LURE_RUN_NOWAIT);
      lt_sleep_ms(1);
    }
    ck_assert_msg(pending == 0,
                  "%d requests not served while the pool was full (%s)",
                  pending, bp_name[_i]);
    ck_assert_int_eq(atomic_load(&block_started),
                     (int) lt_fs_facts.pool_size);
    ck_assert_int_eq(block_done, 0);
    release_pool(blockers);
    ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
    finish_pool(blockers);
  }
  for (op = 0; op < OP_COUNT; op++) {
    for (k = 0; used[op] && k < N; k++) {
      struct creq *r = &c[op * N + k];
      const char *ex = lure_req_executor((lure_req_t *) &r->req);

      ck_assert_ptr_nonnull(ex);
      if (behind) {
        ck_assert_msg(r->result == LURE_ECANCELED, "%s #%d (%s): result %s",
                      op_name[op], k, bp_name[_i], lt_err(r->result));
        ck_assert_str_eq(ex, "threadpool");
      } else {
        ck_assert_msg(strcmp(ex, "threadpool") != 0,
                      "%s #%d (%s) went to the full pool", op_name[op], k,
                      bp_name[_i]);
      }
      check_outcome(e, r, op);
    }
  }
  ck_assert_int_eq(lt_count_fds(), fds);
  /* With the pool free again, behind or not, a stat goes where the fixed
   * order sends it. */
  {
    struct creq r;

    ck_assert_int_eq(submit(e, &r, OP_STAT, 0), 0);
    ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.result, 0);
    ck_assert_str_eq(lure_req_executor((lure_req_t *) &r.req),
                     op_on_pool(OP_STAT) ? "threadpool" : "io_uring");
    lure_fs_req_cleanup(&r.req);
  }
  cenv_free(e);
  free(e);
  free(c);
  lt_fs_end();
}
END_TEST

/* ---- lure_loop_close() with a request in flight -------------------------- */

START_TEST(fs_loop_close_busy) {
  struct pipe_ctx x;
  int rc;

  lt_fs_begin(1, 20000);
  memset(&x, 0, sizeof(x));
  ck_assert_int_eq(pipe2(x.p, O_CLOEXEC), 0);
  x.req.data = &x;
  x.b = lure_buf_init(x.buf, sizeof(x.buf));
  ck_assert_int_eq(lure_fs_read(L, &x.req, x.p[0], &x.b, 1, -1,
                                pipe_read_cb), 0);
  lure_run(L, LURE_RUN_NOWAIT);
  ck_assert_int_eq(lure_loop_alive(L), 1);
  rc = lure_loop_close(L);
  ck_assert_msg(rc == LURE_EBUSY, "lure_loop_close with a read in flight: %s",
                lt_err(rc));
  ck_assert_int_eq(write(x.p[1], "xy", 2), 2);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(x.calls, 1);
  ck_assert_int_eq(x.req.result, 2);
  lure_fs_req_cleanup(&x.req);
  close(x.p[0]);
  close(x.p[1]);
  lt_fs_end();
}
END_TEST

LT_SUITE(cancel) {
  Suite *s = suite_create("cancel");
  TCase *tc = lt_tcase("cancel", 60);

  tcase_add_loop_test(tc, fs_cancel_immediately, 0, OP_COUNT);
  tcase_add_test(tc, fs_cancel_queued_on_pool);
  tcase_add_test(tc, fs_cancel_after_completion);
  tcase_add_test(tc, fs_cancel_twice);
  tcase_add_test(tc, fs_cancel_open_no_leak);
  tcase_add_test(tc, fs_cancel_open_blocked_fifo);
  tcase_add_test(tc, fs_cancel_read_blocked_pipe);
  tcase_add_test(tc, fs_cancel_waiting_for_sq);
  tcase_add_test(tc, fs_cancel_before_submit);
  tcase_add_test(tc, fs_loop_close_busy);
  tcase_add_loop_test(tc, fs_behind_full_pool, 0, BP_COUNT);
  suite_add_tcase(s, tc);
  return s;
}
