/*
 * fs-errors.c - every error path of the fs requests: ENOENT, EEXIST, EBADF,
 * EISDIR, ENOTDIR, ENOTEMPTY, ELOOP, ENAMETOOLONG, EINVAL (O_DIRECT
 * alignment and bad values), EACCES/EPERM with privileges dropped, and bad
 * arguments, which fail at once and never call the callback.  Synchronous
 * (_i == 0) and asynchronous (_i == 1).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "fs-tests.h"

/* A call that must fail at once, with no callback, sync or async. */
#define IMM(call, want)                                                     \
  do {                                                                      \
    unsigned long imm_pre_ = fst.ncb;                                       \
    int imm_rc_ = (call);                                                   \
    ck_assert_msg(imm_rc_ == (want), "%s:%d: %s = %d (%s), want %s",        \
                  __FILE__, __LINE__, #call, imm_rc_, fst_err(imm_rc_),     \
                  fst_err(want));                                           \
    fst_assert_no_callback(imm_pre_, #call);                                \
  } while (0)

START_TEST(fs_err_enoent) {
  lure_fs_t req;
  lure_buf_t b;
  char buf[4];

  fst_begin(_i, 20000);
  b = lure_buf_init(buf, sizeof(buf));
  (void) b;
  FS_OK(&req, lure_fs_open(L, &req, P("nope"), O_RDONLY, 0, FST_CB),
        LURE_ENOENT);
  ck_assert_int_eq(lure_fs_get_system_error(&req), ENOENT);
  FS_OK(&req, lure_fs_open(L, &req, P("no/dir"), O_RDWR | O_CREAT, 0644,
                           FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_stat(L, &req, P("nope"), FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_lstat(L, &req, P("nope"), FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_unlink(L, &req, P("nope"), FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_rmdir(L, &req, P("nope"), FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_mkdir(L, &req, P("no/dir"), 0755, FST_CB),
        LURE_ENOENT);
  FS_OK(&req, lure_fs_rename(L, &req, P("nope"), P("x"), FST_CB),
        LURE_ENOENT);
  FS_OK(&req, lure_fs_link(L, &req, P("nope"), P("x"), FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_symlink(L, &req, "x", P("no/link"), 0, FST_CB),
        LURE_ENOENT);
  FS_OK(&req, lure_fs_readlink(L, &req, P("nope"), FST_CB), LURE_ENOENT);
  ck_assert_ptr_null(req.ptr);
  FS_OK(&req, lure_fs_realpath(L, &req, P("nope"), FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_scandir(L, &req, P("nope"), 0, FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_opendir(L, &req, P("nope"), FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_statfs(L, &req, P("nope"), FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_access(L, &req, P("nope"), F_OK, FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_chmod(L, &req, P("nope"), 0644, FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_utime(L, &req, P("nope"), 1, 1, FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_lutime(L, &req, P("nope"), 1, 1, FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_chown(L, &req, P("nope"), getuid(), getgid(), FST_CB),
        LURE_ENOENT);
  FS_OK(&req, lure_fs_lchown(L, &req, P("nope"), getuid(), getgid(), FST_CB),
        LURE_ENOENT);
  FS_OK(&req, lure_fs_copyfile(L, &req, P("nope"), P("x"), 0, FST_CB),
        LURE_ENOENT);
  ck_assert(!fst_exists(P("x")));
  {
    char tpl[PATH_MAX];

    snprintf(tpl, sizeof(tpl), "%s", P("no/tXXXXXX"));
    FS_OK(&req, lure_fs_mkdtemp(L, &req, tpl, FST_CB), LURE_ENOENT);
    FS_OK(&req, lure_fs_mkstemp(L, &req, tpl, FST_CB), LURE_ENOENT);
  }
  /* A dangling symlink: stat fails, lstat works. */
  ck_assert_int_eq(symlink("nope", P("dang")), 0);
  FS_OK(&req, lure_fs_stat(L, &req, P("dang"), FST_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_lstat(L, &req, P("dang"), FST_CB), 0);
  fst_end();
}
END_TEST

START_TEST(fs_err_eexist) {
  lure_fs_t req;
  char buf[8];

  fst_begin(_i, 20000);
  fst_write_file(P("f"), "keep", 4);
  ck_assert_int_eq(mkdir(P("d"), 0755), 0);
  FS_OK(&req, lure_fs_mkdir(L, &req, P("d"), 0755, FST_CB), LURE_EEXIST);
  FS_OK(&req, lure_fs_mkdir(L, &req, P("f"), 0755, FST_CB), LURE_EEXIST);
  FS_OK(&req, lure_fs_open(L, &req, P("f"), O_RDWR | O_CREAT | O_EXCL, 0644,
                           FST_CB), LURE_EEXIST);
  ck_assert_int_eq(lure_fs_get_system_error(&req), EEXIST);
  FS_OK(&req, lure_fs_open(L, &req, P("d"), O_RDONLY | O_CREAT | O_EXCL,
                           0644, FST_CB), LURE_EEXIST);
  FS_OK(&req, lure_fs_link(L, &req, P("f"), P("d"), FST_CB), LURE_EEXIST);
  FS_OK(&req, lure_fs_symlink(L, &req, "x", P("f"), 0, FST_CB), LURE_EEXIST);
  FS_OK(&req, lure_fs_copyfile(L, &req, P("d"), P("f"),
                               LURE_FS_COPYFILE_EXCL, FST_CB), LURE_EEXIST);
  ck_assert_int_eq(fst_read_file(P("f"), buf, sizeof(buf)), 4);
  ck_assert_int_eq(memcmp(buf, "keep", 4), 0);
  fst_end();
}
END_TEST

START_TEST(fs_err_ebadf) {
  static const int bad[] = { -1, -2, -1000, INT_MIN };
  lure_fs_t req;
  lure_buf_t b;
  char buf[16];
  int fd;
  int ok;
  size_t k;

  fst_begin(_i, 20000);
  /* Written to bad fds below: initialised, so that memcheck has nothing
   * to say about the pwritev that reaches the kernel. */
  memset(buf, 'x', sizeof(buf));
  b = lure_buf_init(buf, sizeof(buf));
  fst_write_file(P("f"), "data", 4);

  /* An fd number that was closed. */
  fd = open(P("f"), O_RDWR | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  ok = open(P("f"), O_RDONLY | O_CLOEXEC);
  ck_assert_int_ge(ok, 0);
  close(fd);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, 0, FST_CB), LURE_EBADF);
  ck_assert_int_eq(lure_fs_get_system_error(&req), EBADF);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, -1, FST_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_write(L, &req, fd, &b, 1, 0, FST_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_fstat(L, &req, fd, FST_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_fsync(L, &req, fd, FST_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_fdatasync(L, &req, fd, FST_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_ftruncate(L, &req, fd, 0, FST_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_fchmod(L, &req, fd, 0644, FST_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_futime(L, &req, fd, 1, 1, FST_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_fchown(L, &req, fd, getuid(), getgid(), FST_CB),
        LURE_EBADF);
  FS_OK(&req, lure_fs_sendfile(L, &req, fd, ok, 0, 4, FST_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_sendfile(L, &req, ok, fd, 0, 4, FST_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_close(L, &req, fd, FST_CB), LURE_EBADF);
  /* A read-only fd cannot be written (EBADF), a write-only one read. */
  FS_OK(&req, lure_fs_write(L, &req, ok, &b, 1, 0, FST_CB), LURE_EBADF);
  close(ok);
  ok = open(P("f"), O_WRONLY | O_CLOEXEC);
  FS_OK(&req, lure_fs_read(L, &req, ok, &b, 1, 0, FST_CB), LURE_EBADF);
  close(ok);

  /* Negative fds: LURE_EBADF at once. */
  for (k = 0; k < FST_ARRAY_SIZE(bad); k++) {
    int f = bad[k];

    IMM(lure_fs_read(L, &req, f, &b, 1, 0, FST_CB), LURE_EBADF);
    IMM(lure_fs_write(L, &req, f, &b, 1, -1, FST_CB), LURE_EBADF);
    IMM(lure_fs_close(L, &req, f, FST_CB), LURE_EBADF);
    IMM(lure_fs_fstat(L, &req, f, FST_CB), LURE_EBADF);
    IMM(lure_fs_fsync(L, &req, f, FST_CB), LURE_EBADF);
    IMM(lure_fs_fdatasync(L, &req, f, FST_CB), LURE_EBADF);
    IMM(lure_fs_ftruncate(L, &req, f, 0, FST_CB), LURE_EBADF);
    IMM(lure_fs_fchmod(L, &req, f, 0644, FST_CB), LURE_EBADF);
    IMM(lure_fs_futime(L, &req, f, 1, 1, FST_CB), LURE_EBADF);
    IMM(lure_fs_fchown(L, &req, f, 0, 0, FST_CB), LURE_EBADF);
    IMM(lure_fs_sendfile(L, &req, f, 0, 0, 1, FST_CB), LURE_EBADF);
    IMM(lure_fs_sendfile(L, &req, 1, f, 0, 1, FST_CB), LURE_EBADF);
  }
  ck_assert_int_eq(lure_loop_alive(L), 0);
  fst_end();
}
END_TEST

START_TEST(fs_err_eisdir) {
  lure_fs_t req;
  lure_buf_t b;
  char buf[16];
  int fd;

  fst_begin(_i, 20000);
  ck_assert_int_eq(mkdir(P("d"), 0755), 0);
  FS_OK(&req, lure_fs_open(L, &req, P("d"), O_WRONLY, 0, FST_CB),
        LURE_EISDIR);
  FS_OK(&req, lure_fs_open(L, &req, P("d"), O_RDWR, 0, FST_CB), LURE_EISDIR);
  FS_OK(&req, lure_fs_open(L, &req, P("d"), O_WRONLY | O_CREAT, 0644,
                           FST_CB), LURE_EISDIR);
  FS_OK(&req, lure_fs_unlink(L, &req, P("d"), FST_CB), LURE_EISDIR);
  fd = open(P("d"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  b = lure_buf_init(buf, sizeof(buf));
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, 0, FST_CB), LURE_EISDIR);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, -1, FST_CB), LURE_EISDIR);
  close(fd);
  /* A file renamed over a directory. */
  fst_write_file(P("f"), "x", 1);
  FS_OK(&req, lure_fs_rename(L, &req, P("f"), P("d"), FST_CB), LURE_EISDIR);
  ck_assert(fst_exists(P("f")));
  fst_end();
}
END_TEST

START_TEST(fs_err_enotdir) {
  lure_fs_t req;
  char tpl[PATH_MAX];

  fst_begin(_i, 20000);
  fst_write_file(P("f"), "x", 1);
  ck_assert_int_eq(mkdir(P("d"), 0755), 0);
  FS_OK(&req, lure_fs_stat(L, &req, P("f/x"), FST_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_lstat(L, &req, P("f/x"), FST_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_open(L, &req, P("f/x"), O_RDONLY, 0, FST_CB),
        LURE_ENOTDIR);
  FS_OK(&req, lure_fs_open(L, &req, P("f/x"), O_RDWR | O_CREAT, 0644,
                           FST_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_open(L, &req, P("f"), O_RDONLY | O_DIRECTORY, 0,
                           FST_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_mkdir(L, &req, P("f/x"), 0755, FST_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_rmdir(L, &req, P("f"), FST_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_unlink(L, &req, P("f/x"), FST_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_scandir(L, &req, P("f"), 0, FST_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_opendir(L, &req, P("f"), FST_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_access(L, &req, P("f/x"), F_OK, FST_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_rename(L, &req, P("d"), P("f"), FST_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_rename(L, &req, P("f/x"), P("y"), FST_CB),
        LURE_ENOTDIR);
  FS_OK(&req, lure_fs_realpath(L, &req, P("f/x"), FST_CB), LURE_ENOTDIR);
  snprintf(tpl, sizeof(tpl), "%s", P("f/tXXXXXX"));
  FS_OK(&req, lure_fs_mkdtemp(L, &req, tpl, FST_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_mkstemp(L, &req, tpl, FST_CB), LURE_ENOTDIR);
  fst_end();
}
END_TEST

START_TEST(fs_err_enotempty) {
  lure_fs_t req;

  fst_begin(_i, 20000);
  ck_assert_int_eq(mkdir(P("d"), 0755), 0);
  fst_write_file(P("d/x"), "x", 1);
  ck_assert_int_eq(mkdir(P("e"), 0755), 0);
  FS_OK(&req, lure_fs_rmdir(L, &req, P("d"), FST_CB), LURE_ENOTEMPTY);
  ck_assert_int_eq(lure_fs_get_system_error(&req), ENOTEMPTY);
  ck_assert(fst_exists(P("d/x")));
  FS_OK(&req, lure_fs_rename(L, &req, P("e"), P("d"), FST_CB),
        LURE_ENOTEMPTY);
  ck_assert(fst_exists(P("e")));
  fst_end();
}
END_TEST

START_TEST(fs_err_eloop_enametoolong) {
  lure_fs_t req;
  char name[300];

  fst_begin(_i, 20000);
  ck_assert_int_eq(symlink("b", P("a")), 0);
  ck_assert_int_eq(symlink("a", P("b")), 0);
  FS_OK(&req, lure_fs_stat(L, &req, P("a"), FST_CB), LURE_ELOOP);
  FS_OK(&req, lure_fs_open(L, &req, P("a"), O_RDONLY, 0, FST_CB), LURE_ELOOP);
  FS_OK(&req, lure_fs_realpath(L, &req, P("a"), FST_CB), LURE_ELOOP);
  fst_write_file(P("f"), "x", 1);
  ck_assert_int_eq(symlink("f", P("l")), 0);
  FS_OK(&req, lure_fs_open(L, &req, P("l"), O_RDONLY | O_NOFOLLOW, 0, FST_CB),
        LURE_ELOOP);
  memset(name, 'n', sizeof(name) - 1);
  name[sizeof(name) - 1] = '\0';
  FS_OK(&req, lure_fs_stat(L, &req, P(name), FST_CB), LURE_ENAMETOOLONG);
  FS_OK(&req, lure_fs_open(L, &req, P(name), O_RDWR | O_CREAT, 0644, FST_CB),
        LURE_ENAMETOOLONG);
  FS_OK(&req, lure_fs_mkdir(L, &req, P(name), 0755, FST_CB),
        LURE_ENAMETOOLONG);
  fst_end();
}
END_TEST

START_TEST(fs_err_einval_values) {
  lure_fs_t req;
  char tpl[PATH_MAX];
  int fd;

  fst_begin(_i, 20000);
  fst_write_file(P("f"), "data", 4);
  fd = open(P("f"), O_RDWR | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  FS_ERR(&req, lure_fs_ftruncate(L, &req, fd, -1, FST_CB), LURE_EINVAL);
  close(fd);
  /* mkdtemp/mkstemp need a template ending in XXXXXX. */
  snprintf(tpl, sizeof(tpl), "%s", P("tmp-XXX"));
  FS_OK(&req, lure_fs_mkdtemp(L, &req, tpl, FST_CB), LURE_EINVAL);
  FS_OK(&req, lure_fs_mkstemp(L, &req, tpl, FST_CB), LURE_EINVAL);
  snprintf(tpl, sizeof(tpl), "%s", P("tmp-XXXXXXy"));
  FS_OK(&req, lure_fs_mkdtemp(L, &req, tpl, FST_CB), LURE_EINVAL);
  /* Unknown copyfile flags (libuv: EINVAL at once). */
  IMM(lure_fs_copyfile(L, &req, P("f"), P("g"), 0x100, FST_CB), LURE_EINVAL);
  ck_assert(!fst_exists(P("g")));
  fst_end();
}
END_TEST

/* Misaligned O_DIRECT I/O: buffer, offset, length. */
START_TEST(fs_err_direct_einval) {
  lure_fs_t req;
  lure_buf_t b[2];
  char *buf;
  int fd;
  int k;

  if (!fst_facts.direct_ok || !fst_facts.direct_einval)
    return;
  fst_begin(_i, 20000);
  buf = fst_aligned(4096, 3 * 4096);
  memset(buf, 'q', 3 * 4096);
  fst_write_file(P("f"), buf, 2 * 4096);
  fd = open(P("f"), O_RDWR | O_DIRECT | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  for (k = 0; k < 2; k++) {
    int64_t off = k == 0 ? 0 : -1;

    if (k == 1)
      ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    b[0] = lure_buf_init(buf + 1, 4096);
    ck_assert_int_eq(FSK(&req, FX_ANY,
                         lure_fs_read(L, &req, fd, b, 1, off, FST_CB)),
                     LURE_EINVAL);
    lure_fs_req_cleanup(&req);
    ck_assert_int_eq(FSK(&req, FX_ANY,
                         lure_fs_write(L, &req, fd, b, 1, off, FST_CB)),
                     LURE_EINVAL);
    lure_fs_req_cleanup(&req);
    b[0] = lure_buf_init(buf, 100);
    ck_assert_int_eq(FSK(&req, FX_ANY,
                         lure_fs_read(L, &req, fd, b, 1, off, FST_CB)),
                     LURE_EINVAL);
    lure_fs_req_cleanup(&req);
    ck_assert_int_eq(FSK(&req, FX_ANY,
                         lure_fs_write(L, &req, fd, b, 1, off, FST_CB)),
                     LURE_EINVAL);
    lure_fs_req_cleanup(&req);
    /* One misaligned segment of two. */
    b[0] = lure_buf_init(buf, 4096);
    b[1] = lure_buf_init(buf + 4096 + 512 + 7, 4096);
    ck_assert_int_eq(FSK(&req, FX_ANY,
                         lure_fs_read(L, &req, fd, b, 2, off, FST_CB)),
                     LURE_EINVAL);
    lure_fs_req_cleanup(&req);
  }
  b[0] = lure_buf_init(buf, 4096);
  ck_assert_int_eq(FSK(&req, FX_ANY,
                       lure_fs_read(L, &req, fd, b, 1, 1, FST_CB)),
                   LURE_EINVAL);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(FSK(&req, FX_ANY,
                       lure_fs_write(L, &req, fd, b, 1, 4097, FST_CB)),
                   LURE_EINVAL);
  lure_fs_req_cleanup(&req);
  /* Nothing was written by the failures. */
  {
    char *chk = malloc(3 * 4096);

    ck_assert_int_eq(fst_read_file(P("f"), chk, 3 * 4096), 2 * 4096);
    for (k = 0; k < 2 * 4096; k++)
      ck_assert_int_eq(chk[k], 'q');
    free(chk);
  }
  close(fd);
  free(buf);
  fst_end();
}
END_TEST

/* ---- EACCES / EPERM with privileges dropped ------------------------------ */

static void acc_cb(lure_fs_t *req) {
  (*(int *) req->data)++;
}

/* In the child: run one request sync or async on loop; returns the result,
 * or a value no syscall returns when the protocol broke. */
static ssize_t child_run(lure_loop_t *loop, lure_fs_t *req, int async,
                         int rc) {
  int calls = *(int *) req->data;

  if (!async)
    return rc;
  if (rc != 0)
    return rc;
  if (lure_run(loop, LURE_RUN_DEFAULT) != 0)
    return -100000;
  if (*(int *) req->data != calls + 1)
    return -100001;
  return req->result;
}

#define CHILD_EXPECT(n, call, want)                                         \
  do {                                                                      \
    ssize_t r_ = child_run(&loop, &req, async, (call));                     \
    if (r_ != (want)) {                                                     \
      fprintf(stderr, "EACCES child: %s = %zd (%s), want %s\n", #call, r_,  \
              fst_err(r_), fst_err(want));                                  \
      _exit(n);                                                             \
    }                                                                       \
    lure_fs_req_cleanup(&req);                                              \
  } while (0)

static void eacces_child(const char *dir, int async) {
  lure_loop_t loop;
  lure_fs_t req;
  char secret[PATH_MAX];
  char sub[PATH_MAX];
  char priv[PATH_MAX];
  char newd[PATH_MAX];
  int calls = 0;
  lure_fs_cb cb = async ? acc_cb : NULL;

  snprintf(secret, sizeof(secret), "%s/secret", dir);
  snprintf(sub, sizeof(sub), "%s/sub", dir);
  snprintf(priv, sizeof(priv), "%s/priv", dir);
  snprintf(newd, sizeof(newd), "%s/newdir", dir);
  if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
    perror("EACCES child: dropping privileges");
    _exit(50);
  }
  if (getuid() != 65534 || geteuid() != 65534)
    _exit(51);
  memset(&loop, 0, sizeof(loop));
  if (lure_loop_init(&loop) != 0)
    _exit(52);
  memset(&req, 0, sizeof(req));
  req.data = &calls;
  CHILD_EXPECT(1, lure_fs_open(&loop, &req, secret, O_RDONLY, 0, cb),
               LURE_EACCES);
  CHILD_EXPECT(2, lure_fs_open(&loop, &req, secret, O_WRONLY, 0, cb),
               LURE_EACCES);
  CHILD_EXPECT(3, lure_fs_access(&loop, &req, secret, R_OK, cb), LURE_EACCES);
  CHILD_EXPECT(4, lure_fs_stat(&loop, &req, secret, cb), 0);
  CHILD_EXPECT(5, lure_fs_mkdir(&loop, &req, newd, 0755, cb), LURE_EACCES);
  CHILD_EXPECT(6, lure_fs_unlink(&loop, &req, secret, cb), LURE_EACCES);
  CHILD_EXPECT(7, lure_fs_scandir(&loop, &req, priv, 0, cb), LURE_EACCES);
  CHILD_EXPECT(8, lure_fs_opendir(&loop, &req, priv, cb), LURE_EACCES);
  CHILD_EXPECT(9, lure_fs_stat(&loop, &req, sub, cb), LURE_EACCES);
  CHILD_EXPECT(10, lure_fs_chmod(&loop, &req, secret, 0666, cb), LURE_EPERM);
  CHILD_EXPECT(11, lure_fs_chown(&loop, &req, secret, 65534, 65534, cb),
               LURE_EPERM);
  CHILD_EXPECT(12, lure_fs_utime(&loop, &req, secret, 1, 1, cb), LURE_EPERM);
  CHILD_EXPECT(13, lure_fs_copyfile(&loop, &req, secret, "/dev/null", 0, cb),
               LURE_EACCES);
  CHILD_EXPECT(14, lure_fs_rename(&loop, &req, secret, newd, cb),
               LURE_EACCES);
  if (lure_loop_close(&loop) != 0)
    _exit(60);
  _exit(0);
}

START_TEST(fs_err_eacces) {
  pid_t pid;
  int status;

  if (!fst_is_root())
    return; /* cannot drop privileges */
  fst_begin(_i, 20000);
  ck_assert_int_eq(chmod(fst.dir, 0755), 0);
  fst_write_file(P("secret"), "secret", 6);
  ck_assert_int_eq(chmod(P("secret"), 0600), 0);
  ck_assert_int_eq(mkdir(P("priv"), 0700), 0);
  ck_assert_int_eq(mkdir(P("priv/sub"), 0700), 0);
  /* "sub" here is a path through the private directory. */
  ck_assert_int_eq(symlink("priv/sub", P("sub")), 0);
  fflush(NULL);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0)
    eacces_child(fst.dir, fst.async);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status), "EACCES child died (status %#x)", status);
  ck_assert_msg(WEXITSTATUS(status) == 0,
                "EACCES child: check %d failed (see stderr)",
                WEXITSTATUS(status));
  ck_assert(fst_exists(P("secret")));
  fst_end();
}
END_TEST

/* ---- bad arguments ------------------------------------------------------- */

START_TEST(fs_bad_args) {
  lure_fs_t req;
  lure_buf_t b;
  lure_dir_t dir;
  lure_dirent_t ent;
  char buf[8];
  char tpl[PATH_MAX];
  int fd;
  lure_fs_cb cb;
  const char *p;

  fst_begin(_i, 20000);
  cb = FST_CB;
  fst_write_file(P("f"), "x", 1);
  p = P("f");
  fd = open(p, O_RDWR | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  b = lure_buf_init(buf, sizeof(buf));
  snprintf(tpl, sizeof(tpl), "%s", P("tXXXXXX"));

  /* NULL request. */
  IMM(lure_fs_open(L, NULL, p, O_RDONLY, 0, cb), LURE_EINVAL);
  IMM(lure_fs_close(L, NULL, fd, cb), LURE_EINVAL);
  IMM(lure_fs_read(L, NULL, fd, &b, 1, 0, cb), LURE_EINVAL);
  IMM(lure_fs_write(L, NULL, fd, &b, 1, 0, cb), LURE_EINVAL);
  IMM(lure_fs_unlink(L, NULL, p, cb), LURE_EINVAL);
  IMM(lure_fs_mkdir(L, NULL, p, 0755, cb), LURE_EINVAL);
  IMM(lure_fs_mkdtemp(L, NULL, tpl, cb), LURE_EINVAL);
  IMM(lure_fs_mkstemp(L, NULL, tpl, cb), LURE_EINVAL);
  IMM(lure_fs_rmdir(L, NULL, p, cb), LURE_EINVAL);
  IMM(lure_fs_scandir(L, NULL, p, 0, cb), LURE_EINVAL);
  IMM(lure_fs_opendir(L, NULL, p, cb), LURE_EINVAL);
  IMM(lure_fs_stat(L, NULL, p, cb), LURE_EINVAL);
  IMM(lure_fs_fstat(L, NULL, fd, cb), LURE_EINVAL);
  IMM(lure_fs_lstat(L, NULL, p, cb), LURE_EINVAL);
  IMM(lure_fs_statfs(L, NULL, p, cb), LURE_EINVAL);
  IMM(lure_fs_rename(L, NULL, p, p, cb), LURE_EINVAL);
  IMM(lure_fs_fsync(L, NULL, fd, cb), LURE_EINVAL);
  IMM(lure_fs_fdatasync(L, NULL, fd, cb), LURE_EINVAL);
  IMM(lure_fs_ftruncate(L, NULL, fd, 0, cb), LURE_EINVAL);
  IMM(lure_fs_copyfile(L, NULL, p, p, 0, cb), LURE_EINVAL);
  IMM(lure_fs_sendfile(L, NULL, fd, fd, 0, 1, cb), LURE_EINVAL);
  IMM(lure_fs_access(L, NULL, p, F_OK, cb), LURE_EINVAL);
  IMM(lure_fs_chmod(L, NULL, p, 0644, cb), LURE_EINVAL);
  IMM(lure_fs_fchmod(L, NULL, fd, 0644, cb), LURE_EINVAL);
  IMM(lure_fs_utime(L, NULL, p, 1, 1, cb), LURE_EINVAL);
  IMM(lure_fs_futime(L, NULL, fd, 1, 1, cb), LURE_EINVAL);
  IMM(lure_fs_lutime(L, NULL, p, 1, 1, cb), LURE_EINVAL);
  IMM(lure_fs_link(L, NULL, p, p, cb), LURE_EINVAL);
  IMM(lure_fs_symlink(L, NULL, p, p, 0, cb), LURE_EINVAL);
  IMM(lure_fs_readlink(L, NULL, p, cb), LURE_EINVAL);
  IMM(lure_fs_realpath(L, NULL, p, cb), LURE_EINVAL);
  IMM(lure_fs_chown(L, NULL, p, 0, 0, cb), LURE_EINVAL);
  IMM(lure_fs_fchown(L, NULL, fd, 0, 0, cb), LURE_EINVAL);
  IMM(lure_fs_lchown(L, NULL, p, 0, 0, cb), LURE_EINVAL);

  /* NULL loop: refused with a callback only (a synchronous call needs no
   * loop, as in libuv; fs_null_loop_sync tests that). */
  if (cb != NULL) {
    IMM(lure_fs_open(NULL, &req, p, O_RDONLY, 0, cb), LURE_EINVAL);
    IMM(lure_fs_close(NULL, &req, fd, cb), LURE_EINVAL);
    IMM(lure_fs_read(NULL, &req, fd, &b, 1, 0, cb), LURE_EINVAL);
    IMM(lure_fs_write(NULL, &req, fd, &b, 1, 0, cb), LURE_EINVAL);
    IMM(lure_fs_stat(NULL, &req, p, cb), LURE_EINVAL);
    IMM(lure_fs_fstat(NULL, &req, fd, cb), LURE_EINVAL);
    IMM(lure_fs_unlink(NULL, &req, P("nope"), cb), LURE_EINVAL);
    IMM(lure_fs_mkdir(NULL, &req, P("nope"), 0755, cb), LURE_EINVAL);
    IMM(lure_fs_scandir(NULL, &req, p, 0, cb), LURE_EINVAL);
    IMM(lure_fs_opendir(NULL, &req, p, cb), LURE_EINVAL);
    IMM(lure_fs_fsync(NULL, &req, fd, cb), LURE_EINVAL);
    IMM(lure_fs_realpath(NULL, &req, p, cb), LURE_EINVAL);
    IMM(lure_fs_copyfile(NULL, &req, p, P("g"), 0, cb), LURE_EINVAL);
    IMM(lure_fs_sendfile(NULL, &req, fd, fd, 0, 1, cb), LURE_EINVAL);
  }

  /* NULL paths. */
  IMM(lure_fs_open(L, &req, NULL, O_RDONLY, 0, cb), LURE_EINVAL);
  IMM(lure_fs_unlink(L, &req, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_mkdir(L, &req, NULL, 0755, cb), LURE_EINVAL);
  IMM(lure_fs_mkdtemp(L, &req, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_mkstemp(L, &req, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_rmdir(L, &req, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_scandir(L, &req, NULL, 0, cb), LURE_EINVAL);
  IMM(lure_fs_opendir(L, &req, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_stat(L, &req, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_lstat(L, &req, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_statfs(L, &req, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_rename(L, &req, NULL, p, cb), LURE_EINVAL);
  IMM(lure_fs_rename(L, &req, p, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_copyfile(L, &req, NULL, p, 0, cb), LURE_EINVAL);
  IMM(lure_fs_copyfile(L, &req, p, NULL, 0, cb), LURE_EINVAL);
  IMM(lure_fs_access(L, &req, NULL, F_OK, cb), LURE_EINVAL);
  IMM(lure_fs_chmod(L, &req, NULL, 0644, cb), LURE_EINVAL);
  IMM(lure_fs_utime(L, &req, NULL, 1, 1, cb), LURE_EINVAL);
  IMM(lure_fs_lutime(L, &req, NULL, 1, 1, cb), LURE_EINVAL);
  IMM(lure_fs_link(L, &req, NULL, p, cb), LURE_EINVAL);
  IMM(lure_fs_link(L, &req, p, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_symlink(L, &req, NULL, p, 0, cb), LURE_EINVAL);
  IMM(lure_fs_symlink(L, &req, p, NULL, 0, cb), LURE_EINVAL);
  IMM(lure_fs_readlink(L, &req, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_realpath(L, &req, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_chown(L, &req, NULL, 0, 0, cb), LURE_EINVAL);
  IMM(lure_fs_lchown(L, &req, NULL, 0, 0, cb), LURE_EINVAL);

  /* Buffers: none, NULL. */
  IMM(lure_fs_read(L, &req, fd, &b, 0, 0, cb), LURE_EINVAL);
  IMM(lure_fs_write(L, &req, fd, &b, 0, 0, cb), LURE_EINVAL);
  IMM(lure_fs_read(L, &req, fd, NULL, 1, 0, cb), LURE_EINVAL);
  IMM(lure_fs_write(L, &req, fd, NULL, 1, -1, cb), LURE_EINVAL);

  /* Directory streams. */
  IMM(lure_fs_readdir(L, &req, NULL, cb), LURE_EINVAL);
  IMM(lure_fs_closedir(L, &req, NULL, cb), LURE_EINVAL);
  memset(&dir, 0, sizeof(dir));
  IMM(lure_fs_readdir(L, &req, &dir, cb), LURE_EINVAL); /* never opened */
  ck_assert_int_eq(lure_fs_scandir_next(NULL, &ent), LURE_EINVAL);

  /* Nothing was left behind, nothing was done. */
  ck_assert_int_eq(lure_loop_alive(L), 0);
  ck_assert(!fst_exists(P("nope")));
  ck_assert(!fst_exists(P("g")));
  ck_assert_int_eq(fcntl(fd, F_GETFD) >= 0, 1);
  close(fd);
  /* lure_cancel of nothing. */
  ck_assert_int_eq(lure_cancel(NULL), LURE_EINVAL);
  fst_end();
}
END_TEST

/* libuv runs a call without a callback when loop is NULL: the request
 * runs on the calling thread and needs no loop (libuv's own fs tests call
 * that way throughout).  Every call is synchronous here, on every set. */
static void null_cb(lure_fs_t *req) {
  (void) req;
  ck_abort_msg("a refused call ran its callback");
}

#define NL_OK(call, want)                                                   \
  do {                                                                      \
    int nl_r_ = (call);                                                     \
    ssize_t nl_w_ = (ssize_t) (want);                                       \
    ck_assert_msg(nl_r_ == nl_w_, "%s:%d: %s = %d (%s), want %zd (%s)",     \
                  __FILE__, __LINE__, #call, nl_r_, fst_err(nl_r_), nl_w_,  \
                  fst_err(nl_w_));                                          \
    ck_assert_msg(req.result == nl_w_, "%s:%d: %s: req.result %zd",         \
                  __FILE__, __LINE__, #call, req.result);                   \
    ck_assert_ptr_null(req.loop);                                           \
    ck_assert_str_eq(lure_req_executor((lure_req_t *) &req), "inline");     \
  } while (0)

START_TEST(fs_null_loop_sync) {
  lure_fs_t req;
  lure_buf_t b;
  lure_dir_t *dir;
  lure_dirent_t ents[4];
  lure_dirent_t ent;
  lure_statfs_t *sfs;
  char buf[32];
  char tpl[PATH_MAX];
  struct stat st;
  int fd;
  int out;

  fst_begin(0, 20000);
  /* Garbage in the request must not matter. */
  memset(&req, 0xdb, sizeof(req));
  NL_OK(fd = lure_fs_open(NULL, &req, P("f"), O_RDWR | O_CREAT, 0644, NULL),
        req.result);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(req.type, LURE_FS);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_OPEN);
  ck_assert_str_eq(req.path, P("f"));
  ck_assert_ptr_null(req.ptr);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.path);

  b = lure_buf_init("hello", 5);
  NL_OK(lure_fs_write(NULL, &req, fd, &b, 1, -1, NULL), 5);
  lure_fs_req_cleanup(&req);
  memset(buf, 0, sizeof(buf));
  b = lure_buf_init(buf, sizeof(buf));
  NL_OK(lure_fs_read(NULL, &req, fd, &b, 1, 0, NULL), 5);
  lure_fs_req_cleanup(&req);
  ck_assert_str_eq(buf, "hello");
  NL_OK(lure_fs_fstat(NULL, &req, fd, NULL), 0);
  ck_assert_ptr_eq(req.ptr, &req.statbuf);
  ck_assert_int_eq(req.statbuf.st_size, 5);
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_stat(NULL, &req, P("f"), NULL), 0);
  ck_assert_int_eq(req.statbuf.st_size, 5);
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_lstat(NULL, &req, P("f"), NULL), 0);
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_fsync(NULL, &req, fd, NULL), 0);
  NL_OK(lure_fs_fdatasync(NULL, &req, fd, NULL), 0);
  NL_OK(lure_fs_fchmod(NULL, &req, fd, 0640, NULL), 0);
  NL_OK(lure_fs_fchown(NULL, &req, fd, getuid(), getgid(), NULL), 0);
  NL_OK(lure_fs_futime(NULL, &req, fd, 1000, 2000, NULL), 0);
  ck_assert_int_eq(stat(P("f"), &st), 0);
  ck_assert_int_eq(st.st_mode & 07777, 0640);
  ck_assert_int_eq(st.st_mtime, 2000);
  out = open(P("out"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ck_assert_int_ge(out, 0);
  NL_OK(lure_fs_sendfile(NULL, &req, out, fd, 1, 100, NULL), 4);
  close(out);
  NL_OK(lure_fs_ftruncate(NULL, &req, fd, 2, NULL), 0);
  NL_OK(lure_fs_close(NULL, &req, fd, NULL), 0);
  /* A negative descriptor: refused with LURE_EBADF, in req.result too. */
  ck_assert_int_eq(lure_fs_close(NULL, &req, -1, NULL), LURE_EBADF);
  ck_assert_int_eq(req.result, LURE_EBADF);
  NL_OK(lure_fs_open(NULL, &req, P("nope"), O_RDONLY, 0, NULL), LURE_ENOENT);
  lure_fs_req_cleanup(&req);

  NL_OK(lure_fs_access(NULL, &req, P("f"), R_OK, NULL), 0);
  NL_OK(lure_fs_chmod(NULL, &req, P("f"), 0600, NULL), 0);
  NL_OK(lure_fs_chown(NULL, &req, P("f"), getuid(), getgid(), NULL), 0);
  NL_OK(lure_fs_utime(NULL, &req, P("f"), 3000, 4000, NULL), 0);
  NL_OK(lure_fs_rename(NULL, &req, P("f"), P("g"), NULL), 0);
  NL_OK(lure_fs_link(NULL, &req, P("g"), P("h"), NULL), 0);
  NL_OK(lure_fs_symlink(NULL, &req, "g", P("l"), 0, NULL), 0);
  NL_OK(lure_fs_lchown(NULL, &req, P("l"), getuid(), getgid(), NULL), 0);
  NL_OK(lure_fs_lutime(NULL, &req, P("l"), 5000, 6000, NULL), 0);
  NL_OK(lure_fs_readlink(NULL, &req, P("l"), NULL), 0);
  ck_assert_str_eq(req.ptr, "g");
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_realpath(NULL, &req, P("l"), NULL), 0);
  ck_assert_ptr_nonnull(req.ptr);
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_copyfile(NULL, &req, P("g"), P("c"), 0, NULL), 0);
  NL_OK(lure_fs_statfs(NULL, &req, P("g"), NULL), 0);
  sfs = req.ptr;
  ck_assert_ptr_nonnull(sfs);
  ck_assert_uint_gt(sfs->f_bsize, 0);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.ptr);

  NL_OK(lure_fs_mkdir(NULL, &req, P("d"), 0755, NULL), 0);
  fst_write_file(P("d/x"), "x", 1);
  NL_OK(lure_fs_scandir(NULL, &req, P("d"), 0, NULL), 1);
  ck_assert_int_eq(lure_fs_scandir_next(&req, &ent), 0);
  ck_assert_str_eq(ent.name, "x");
  ck_assert_int_eq(lure_fs_scandir_next(&req, &ent), LURE_EOF);
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_opendir(NULL, &req, P("d"), NULL), 0);
  dir = req.ptr;
  lure_fs_req_cleanup(&req);
  dir->dirents = ents;
  dir->nentries = FST_ARRAY_SIZE(ents);
  NL_OK(lure_fs_readdir(NULL, &req, dir, NULL), 1);
  ck_assert_str_eq(ents[0].name, "x");
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_closedir(NULL, &req, dir, NULL), 0);
  NL_OK(lure_fs_unlink(NULL, &req, P("d/x"), NULL), 0);
  NL_OK(lure_fs_rmdir(NULL, &req, P("d"), NULL), 0);
  ck_assert(!fst_exists(P("d")));

  snprintf(tpl, sizeof(tpl), "%s", P("tXXXXXX"));
  NL_OK(lure_fs_mkdtemp(NULL, &req, tpl, NULL), 0);
  ck_assert_int_eq(rmdir(req.path), 0);
  lure_fs_req_cleanup(&req);
  NL_OK(fd = lure_fs_mkstemp(NULL, &req, tpl, NULL), req.result);
  ck_assert_int_ge(fd, 0);
  close(fd);
  lure_fs_req_cleanup(&req);

  /* With a callback a loop is needed: refused, no callback, and the
   * request holds nothing to free. */
  memset(&req, 0xdb, sizeof(req));
  ck_assert_int_eq(lure_fs_stat(NULL, &req, P("g"), null_cb), LURE_EINVAL);
  ck_assert_int_eq(req.result, LURE_EINVAL);
  ck_assert_ptr_null(req.path);
  ck_assert_ptr_null(req.ptr);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(lure_fs_mkstemp(NULL, &req, tpl, null_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_fs_close(NULL, &req, 0, null_cb), LURE_EINVAL);
  fst_end();
}
END_TEST

/* A call refused for its arguments leaves the request initialised (path,
 * ptr, bufs NULL), so that lure_fs_req_cleanup() on it is harmless, as
 * libuv's tests assume (fs_copyfile, fs_read_write_null_arguments). */
START_TEST(fs_refused_req_is_clean) {
  lure_fs_t req;
  lure_buf_t b;
  int fd;

  fst_begin(_i, 20000);
  fst_write_file(P("f"), "x", 1);
  fd = open(P("f"), O_RDWR | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);

  memset(&req, 0xdb, sizeof(req));
  IMM(lure_fs_copyfile(L, &req, P("f"), P("g"), -1, FST_CB), LURE_EINVAL);
  ck_assert_int_eq(req.type, LURE_FS);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_COPYFILE);
  ck_assert_int_eq(req.result, LURE_EINVAL);
  ck_assert_ptr_null(req.path);
  ck_assert_ptr_null(req.ptr);
  lure_fs_req_cleanup(&req);
  ck_assert(!fst_exists(P("g")));

  memset(&req, 0xdb, sizeof(req));
  IMM(lure_fs_write(L, &req, fd, NULL, 0, -1, FST_CB), LURE_EINVAL);
  ck_assert_ptr_null(req.path);
  ck_assert_ptr_null(req.new_path);
  ck_assert_ptr_null(req.ptr);
  ck_assert_ptr_null(req.bufs);
  lure_fs_req_cleanup(&req);
  b = lure_buf_init(NULL, 0);
  memset(&req, 0xdb, sizeof(req));
  IMM(lure_fs_read(L, &req, fd, &b, 0, -1, FST_CB), LURE_EINVAL);
  ck_assert_ptr_null(req.bufs);
  lure_fs_req_cleanup(&req);
  memset(&req, 0xdb, sizeof(req));
  IMM(lure_fs_open(L, &req, NULL, O_RDONLY, 0, FST_CB), LURE_EINVAL);
  ck_assert_ptr_null(req.path);
  lure_fs_req_cleanup(&req);
  memset(&req, 0xdb, sizeof(req));
  IMM(lure_fs_fstat(L, &req, -1, FST_CB), LURE_EBADF);
  ck_assert_int_eq(req.result, LURE_EBADF);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(lure_loop_alive(L), 0);
  close(fd);
  fst_end();
}
END_TEST

Suite *fs_errors_suite(void) {
  Suite *s = suite_create("errors");
  TCase *tc = fst_tcase("errors", 60);

  tcase_add_loop_test(tc, fs_err_enoent, 0, 2);
  tcase_add_loop_test(tc, fs_err_eexist, 0, 2);
  tcase_add_loop_test(tc, fs_err_ebadf, 0, 2);
  tcase_add_loop_test(tc, fs_err_eisdir, 0, 2);
  tcase_add_loop_test(tc, fs_err_enotdir, 0, 2);
  tcase_add_loop_test(tc, fs_err_enotempty, 0, 2);
  tcase_add_loop_test(tc, fs_err_eloop_enametoolong, 0, 2);
  tcase_add_loop_test(tc, fs_err_einval_values, 0, 2);
  tcase_add_loop_test(tc, fs_err_direct_einval, 0, 2);
  tcase_add_loop_test(tc, fs_err_eacces, 0, 2);
  tcase_add_loop_test(tc, fs_bad_args, 0, 2);
  tcase_add_test(tc, fs_null_loop_sync);
  tcase_add_loop_test(tc, fs_refused_req_is_clean, 0, 2);
  suite_add_tcase(s, tc);
  return s;
}
