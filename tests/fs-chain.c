/*
 * fs-chain.c - fs requests made from inside the callbacks of others: one
 * chain through every operation, a request reused from its own callback
 * (the libuv idiom), a fan-out tree, and synchronous calls from a callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "harness-fs.h"

/* ---- one chain through every operation ----------------------------------- */

enum { STEPS = 47 };

struct chain {
  lure_fs_t reqs[STEPS];
  int step;
  int done;
  int fd, fd2, fd3, fd4;
  lure_dir_t *dir;
  lure_dirent_t ents[8];
  char buf[128];
  lure_buf_t b;
  char d[PATH_MAX], f[PATH_MAX], g[PATH_MAX], h[PATH_MAX], s[PATH_MAX];
  char c[PATH_MAX], out[PATH_MAX], tpl_d[PATH_MAX], tpl_s[PATH_MAX];
  char made_d[PATH_MAX], made_s[PATH_MAX];
};

static void chain_cb(lure_fs_t *req);

static void chain_start(struct chain *x) {
  lure_fs_t *r = &x->reqs[x->step];
  int rc = 0;

  r->data = x;
  switch (x->step) {
    case 0: rc = lure_fs_mkdir(L, r, x->d, 0755, chain_cb); break;
    case 1: rc = lure_fs_open(L, r, x->f, O_RDWR | O_CREAT, 0644, chain_cb);
      break;
    case 2:
      x->b = lure_buf_init((char *) "hello chain", 11);
      rc = lure_fs_write(L, r, x->fd, &x->b, 1, 0, chain_cb);
      break;
    case 3: rc = lure_fs_fsync(L, r, x->fd, chain_cb); break;
    case 4: rc = lure_fs_fdatasync(L, r, x->fd, chain_cb); break;
    case 5: rc = lure_fs_ftruncate(L, r, x->fd, 100, chain_cb); break;
    case 6: rc = lure_fs_fstat(L, r, x->fd, chain_cb); break;
    case 7:
      x->b = lure_buf_init(x->buf, sizeof(x->buf));
      rc = lure_fs_read(L, r, x->fd, &x->b, 1, 0, chain_cb);
      break;
    case 8: rc = lure_fs_fchmod(L, r, x->fd, 0600, chain_cb); break;
    case 9: rc = lure_fs_futime(L, r, x->fd, 1e9, 1e9, chain_cb); break;
    case 10: rc = lure_fs_fchown(L, r, x->fd, getuid(), getgid(), chain_cb);
      break;
    case 11: rc = lure_fs_close(L, r, x->fd, chain_cb); break;
    case 12: rc = lure_fs_stat(L, r, x->f, chain_cb); break;
    case 13: rc = lure_fs_rename(L, r, x->f, x->g, chain_cb); break;
    case 14: rc = lure_fs_link(L, r, x->g, x->h, chain_cb); break;
    case 15: rc = lure_fs_symlink(L, r, "g", x->s, 0, chain_cb); break;
    case 16: rc = lure_fs_readlink(L, r, x->s, chain_cb); break;
    case 17: rc = lure_fs_lstat(L, r, x->s, chain_cb); break;
    case 18: rc = lure_fs_realpath(L, r, x->s, chain_cb); break;
    case 19: rc = lure_fs_access(L, r, x->g, R_OK, chain_cb); break;
    case 20: rc = lure_fs_chmod(L, r, x->g, 0644, chain_cb); break;
    case 21: rc = lure_fs_utime(L, r, x->g, 2e9, 2e9, chain_cb); break;
    case 22: rc = lure_fs_lutime(L, r, x->s, 3e8, 3e8, chain_cb); break;
    case 23: rc = lure_fs_chown(L, r, x->g, getuid(), getgid(), chain_cb);
      break;
    case 24: rc = lure_fs_lchown(L, r, x->s, getuid(), getgid(), chain_cb);
      break;
    case 25: rc = lure_fs_copyfile(L, r, x->g, x->c, 0, chain_cb); break;
    case 26: rc = lure_fs_open(L, r, x->c, O_RDONLY, 0, chain_cb); break;
    case 27: rc = lure_fs_open(L, r, x->out, O_WRONLY | O_CREAT, 0644,
                               chain_cb);
      break;
    case 28: rc = lure_fs_sendfile(L, r, x->fd3, x->fd2, 0, 100, chain_cb);
      break;
    case 29: rc = lure_fs_close(L, r, x->fd2, chain_cb); break;
    case 30: rc = lure_fs_close(L, r, x->fd3, chain_cb); break;
    case 31: rc = lure_fs_scandir(L, r, x->d, 0, chain_cb); break;
    case 32: rc = lure_fs_opendir(L, r, x->d, chain_cb); break;
    case 33: rc = lure_fs_readdir(L, r, x->dir, chain_cb); break;
    case 34: rc = lure_fs_closedir(L, r, x->dir, chain_cb); break;
    case 35: rc = lure_fs_statfs(L, r, x->d, chain_cb); break;
    case 36: rc = lure_fs_mkdtemp(L, r, x->tpl_d, chain_cb); break;
    case 37: rc = lure_fs_rmdir(L, r, x->made_d, chain_cb); break;
    case 38: rc = lure_fs_mkstemp(L, r, x->tpl_s, chain_cb); break;
    case 39: rc = lure_fs_close(L, r, x->fd4, chain_cb); break;
    case 40: rc = lure_fs_unlink(L, r, x->made_s, chain_cb); break;
    case 41: rc = lure_fs_unlink(L, r, x->c, chain_cb); break;
    case 42: rc = lure_fs_unlink(L, r, x->g, chain_cb); break;
    case 43: rc = lure_fs_unlink(L, r, x->h, chain_cb); break;
    case 44: rc = lure_fs_unlink(L, r, x->s, chain_cb); break;
    case 45: rc = lure_fs_unlink(L, r, x->out, chain_cb); break;
    case 46: rc = lure_fs_rmdir(L, r, x->d, chain_cb); break;
    default: ck_abort_msg("step %d", x->step);
  }
  ck_assert_msg(rc == 0, "chain step %d: the call returned %s", x->step,
                lt_err(rc));
}

#define STEP_EQ(want)                                                       \
  ck_assert_msg(r == (ssize_t) (want), "chain step %d: result %s, want %s", \
                x->step, lt_err(r), lt_err(want))

static void chain_cb(lure_fs_t *req) {
  struct chain *x = req->data;
  ssize_t r = req->result;
  lure_fs_t sync;

  ck_assert_ptr_eq(req, &x->reqs[x->step]);
  lt_fs_check_executor(req, FX_AUTO, 0, "chain", __FILE__, __LINE__);
  switch (x->step) {
    case 1: ck_assert_int_ge(r, 0); x->fd = (int) r; break;
    case 2: STEP_EQ(11); break;
    case 6: STEP_EQ(0); ck_assert_uint_eq(req->statbuf.st_size, 100); break;
    case 7:
      STEP_EQ(100);
      ck_assert_int_eq(memcmp(x->buf, "hello chain\0\0", 13), 0);
      break;
    case 12:
      STEP_EQ(0);
      ck_assert_uint_eq(req->statbuf.st_mode & 07777, 0600);
      ck_assert_int_eq(req->statbuf.st_mtim.tv_sec, 1000000000);
      /* A synchronous request from inside a callback. */
      ck_assert_int_eq(lure_fs_stat(L, &sync, x->f, NULL), 0);
      ck_assert_uint_eq(sync.statbuf.st_size, 100);
      lt_fs_check_executor(&sync, FX_AUTO, 1, "sync in a callback", __FILE__,
                         __LINE__);
      lure_fs_req_cleanup(&sync);
      break;
    case 16: STEP_EQ(0); ck_assert_str_eq((char *) req->ptr, "g"); break;
    case 17: STEP_EQ(0); ck_assert(S_ISLNK(req->statbuf.st_mode)); break;
    case 18: {
      const char *p = req->ptr;

      STEP_EQ(0);
      ck_assert_ptr_nonnull(p);
      ck_assert_str_eq(p + strlen(p) - 2, "/g");
      break;
    }
    case 26: ck_assert_int_ge(r, 0); x->fd2 = (int) r; break;
    case 27: ck_assert_int_ge(r, 0); x->fd3 = (int) r; break;
    case 28: STEP_EQ(100); break;
    case 31: {
      lure_dirent_t e;
      int n = 0;

      STEP_EQ(5);
      while (lure_fs_scandir_next(req, &e) == 0)
        n++;
      ck_assert_int_eq(n, 5);
      break;
    }
    case 32:
      STEP_EQ(0);
      x->dir = req->ptr;
      ck_assert_ptr_nonnull(x->dir);
      x->dir->dirents = x->ents;
      x->dir->nentries = 8;
      break;
    case 33: STEP_EQ(5); break;
    case 35: STEP_EQ(0); ck_assert_ptr_nonnull(req->ptr); break;
    case 36:
      STEP_EQ(0);
      snprintf(x->made_d, sizeof(x->made_d), "%s", req->path);
      break;
    case 38:
      ck_assert_int_ge(r, 0);
      x->fd4 = (int) r;
      snprintf(x->made_s, sizeof(x->made_s), "%s", req->path);
      break;
    default: STEP_EQ(0); break;
  }
  lure_fs_req_cleanup(req);
  if (++x->step == STEPS) {
    x->done = 1;
    return;
  }
  chain_start(x);
}

START_TEST(fs_chain_every_operation) {
  struct chain *x = calloc(1, sizeof(*x));

  lt_fs_begin(1, 20000);
  snprintf(x->d, PATH_MAX, "%s", lt_fs_path("d"));
  snprintf(x->f, PATH_MAX, "%s", lt_fs_path("d/f"));
  snprintf(x->g, PATH_MAX, "%s", lt_fs_path("d/g"));
  snprintf(x->h, PATH_MAX, "%s", lt_fs_path("d/h"));
  snprintf(x->s, PATH_MAX, "%s", lt_fs_path("d/s"));
  snprintf(x->c, PATH_MAX, "%s", lt_fs_path("d/c"));
  snprintf(x->out, PATH_MAX, "%s", lt_fs_path("d/out"));
  snprintf(x->tpl_d, PATH_MAX, "%s", lt_fs_path("d/tXXXXXX"));
  snprintf(x->tpl_s, PATH_MAX, "%s", lt_fs_path("d/sXXXXXX"));
  chain_start(x);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_msg(x->done, "the chain stopped at step %d", x->step);
  ck_assert(!lt_fs_exists(x->d));
  free(x);
  lt_fs_end();
}
END_TEST

/* ---- a request reused from its own callback ------------------------------ */

struct reader {
  lure_fs_t req;
  int fd;
  char chunk[100];
  lure_buf_t b;
  char *got;
  size_t len;
  int reads;
};

static void reader_cb(lure_fs_t *req) {
  struct reader *r = req->data;
  ssize_t n = req->result;

  ck_assert_msg(n >= 0, "read: %s", lt_err(n));
  r->reads++;
  lure_fs_req_cleanup(req);
  if (n == 0)
    return;
  memcpy(r->got + r->len, r->chunk, (size_t) n);
  r->len += (size_t) n;
  req->data = r;
  ck_assert_int_eq(lure_fs_read(L, req, r->fd, &r->b, 1, -1, reader_cb), 0);
}

START_TEST(fs_chain_reuse_request) {
  enum { N = 10050 };
  struct reader r;
  char *data = malloc(N);

  lt_fs_begin(1, 20000);
  lt_fs_pattern(data, N, 8);
  lt_fs_write_file(lt_fs_path("f"), data, N);
  memset(&r, 0, sizeof(r));
  r.got = malloc(N);
  r.fd = open(lt_fs_path("f"), O_RDONLY | O_CLOEXEC);
  ck_assert_int_ge(r.fd, 0);
  r.b = lure_buf_init(r.chunk, sizeof(r.chunk));
  r.req.data = &r;
  ck_assert_int_eq(lure_fs_read(L, &r.req, r.fd, &r.b, 1, -1, reader_cb), 0);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.len, N);
  ck_assert_int_eq(r.reads, N / 100 + 2); /* 100 full, 1 short, 1 EOF */
  ck_assert_int_eq(memcmp(r.got, data, N), 0);
  close(r.fd);
  free(r.got);
  free(data);
  lt_fs_end();
}
END_TEST

/* ---- a tree: each callback makes 8 more ---------------------------------- */

enum { FAN = 8, DEPTH = 3 };

struct fan {
  lure_fs_t reqs[1 + FAN + FAN * FAN + FAN * FAN * FAN];
  int level[1 + FAN + FAN * FAN + FAN * FAN * FAN];
  int used;
  int calls;
  int kinds;
};

static void fan_cb(lure_fs_t *req);

static void fan_issue(struct fan *t, int level, int k) {
  int i = t->used++;
  lure_fs_t *r = &t->reqs[i];
  int rc;

  t->level[i] = level;
  r->data = t;
  /* A different kind of request at each place. */
  switch ((k + level) % 4) {
    case 0: rc = lure_fs_stat(L, r, lt_fs_path("f"), fan_cb); break;
    case 1: rc = lure_fs_access(L, r, lt_fs_path("f"), F_OK, fan_cb); break;
    case 2: rc = lure_fs_lstat(L, r, lt_fs_path("f"), fan_cb); break;
    default: rc = lure_fs_realpath(L, r, lt_fs_path("f"), fan_cb); break;
  }
  ck_assert_int_eq(rc, 0);
}

static void fan_cb(lure_fs_t *req) {
  struct fan *t = req->data;
  int i = (int) (req - t->reqs);
  int k;

  ck_assert_int_eq(req->result, 0);
  t->calls++;
  lure_fs_req_cleanup(req);
  if (t->level[i] < DEPTH)
    for (k = 0; k < FAN; k++)
      fan_issue(t, t->level[i] + 1, k);
}

START_TEST(fs_chain_fan_out) {
  struct fan *t = calloc(1, sizeof(*t));

  lt_fs_begin(1, 20000);
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  fan_issue(t, 0, 0);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(t->calls, 1 + FAN + FAN * FAN + FAN * FAN * FAN);
  ck_assert_int_eq(t->used, t->calls);
  free(t);
  lt_fs_end();
}
END_TEST

/* ---- from other callbacks: a timer and pool work ------------------------- */

static lure_fs_t from_timer_req;
static lure_fs_t from_work_req;

static void from_timer(lure_timer_t *h) {
  ck_assert_int_eq(lure_fs_stat(L, &from_timer_req, lt_fs_path("f"), lt_fs_cb), 0);
  lure_close((lure_handle_t *) h, NULL);
}

static void noop_work(lure_work_t *w) {
  (void) w;
}

static void after_work(lure_work_t *w, int status) {
  (void) w;
  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(lure_fs_stat(L, &from_work_req, lt_fs_path("f"), lt_fs_cb), 0);
}

START_TEST(fs_chain_from_other_callbacks) {
  lure_timer_t t;
  lure_work_t w;

  lt_fs_begin(1, 20000);
  lt_fs_write_file(lt_fs_path("f"), "xy", 2);
  ck_assert_int_eq(lure_timer_init(L, &t), 0);
  ck_assert_int_eq(lure_timer_start(&t, from_timer, 5, 0), 0);
  ck_assert_int_eq(lure_queue_work(L, &w, noop_work, after_work), 0);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lt_fs.ncb, 2);
  ck_assert_int_eq(from_timer_req.result, 0);
  ck_assert_int_eq(from_work_req.result, 0);
  ck_assert_uint_eq(from_timer_req.statbuf.st_size, 2);
  ck_assert_uint_eq(from_work_req.statbuf.st_size, 2);
  lure_fs_req_cleanup(&from_timer_req);
  lure_fs_req_cleanup(&from_work_req);
  lt_fs_end();
}
END_TEST

LT_SUITE(chain) {
  Suite *s = suite_create("chain");
  TCase *tc = lt_tcase("chain", 60);

  tcase_add_test(tc, fs_chain_every_operation);
  tcase_add_test(tc, fs_chain_reuse_request);
  tcase_add_test(tc, fs_chain_fan_out);
  tcase_add_test(tc, fs_chain_from_other_callbacks);
  suite_add_tcase(s, tc);
  return s;
}
