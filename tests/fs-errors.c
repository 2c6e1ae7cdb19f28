/*
 * fs-errors.c - every error path of the fs requests: ENOENT, EEXIST, EBADF,
 * EISDIR, ENOTDIR, ENOTEMPTY, ELOOP, ENAMETOOLONG, EINVAL (O_DIRECT
 * alignment and bad values), EACCES/EPERM with privileges dropped, and bad
 * arguments, which fail at once and never call the callback.  Synchronous
 * (_i == 0) and asynchronous (_i == 1).  EINTR, injected on the ring and
 * on the thread pool's system calls: made again, but a read's.
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
#include "harness-fs.h"

/* A call that must fail at once, with no callback, sync or async. */
#define IMM(call, want)                                                     \
  do {                                                                      \
    unsigned long imm_pre_ = lt_fs.ncb;                                       \
    int imm_rc_ = (call);                                                   \
    ck_assert_msg(imm_rc_ == (want), "%s:%d: %s = %d (%s), want %s",        \
                  __FILE__, __LINE__, #call, imm_rc_, lt_err(imm_rc_),     \
                  lt_err(want));                                           \
    lt_fs_assert_no_callback(imm_pre_, #call);                                \
  } while (0)

START_TEST(fs_err_enoent) {
  lure_fs_t req;
  lure_buf_t b;
  char buf[4];

  lt_fs_begin(_i, 20000);
  b = lure_buf_init(buf, sizeof(buf));
  (void) b;
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path("nope"), O_RDONLY, 0, LT_FS_CB),
        LURE_ENOENT);
  ck_assert_int_eq(lure_fs_get_system_error(&req), ENOENT);
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path("no/dir"), O_RDWR | O_CREAT, 0644,
                           LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_stat(L, &req, lt_fs_path("nope"), LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_lstat(L, &req, lt_fs_path("nope"), LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_unlink(L, &req, lt_fs_path("nope"), LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_rmdir(L, &req, lt_fs_path("nope"), LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_mkdir(L, &req, lt_fs_path("no/dir"), 0755, LT_FS_CB),
        LURE_ENOENT);
  FS_OK(&req, lure_fs_rename(L, &req, lt_fs_path("nope"), lt_fs_path("x"), LT_FS_CB),
        LURE_ENOENT);
  FS_OK(&req, lure_fs_link(L, &req, lt_fs_path("nope"), lt_fs_path("x"), LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_symlink(L, &req, "x", lt_fs_path("no/link"), 0, LT_FS_CB),
        LURE_ENOENT);
  FS_OK(&req, lure_fs_readlink(L, &req, lt_fs_path("nope"), LT_FS_CB), LURE_ENOENT);
  ck_assert_ptr_null(req.ptr);
  FS_OK(&req, lure_fs_realpath(L, &req, lt_fs_path("nope"), LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_scandir(L, &req, lt_fs_path("nope"), 0, LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_opendir(L, &req, lt_fs_path("nope"), LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_statfs(L, &req, lt_fs_path("nope"), LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_access(L, &req, lt_fs_path("nope"), F_OK, LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_chmod(L, &req, lt_fs_path("nope"), 0644, LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_utime(L, &req, lt_fs_path("nope"), 1, 1, LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_lutime(L, &req, lt_fs_path("nope"), 1, 1, LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_chown(L, &req, lt_fs_path("nope"), getuid(), getgid(), LT_FS_CB),
        LURE_ENOENT);
  FS_OK(&req, lure_fs_lchown(L, &req, lt_fs_path("nope"), getuid(), getgid(), LT_FS_CB),
        LURE_ENOENT);
  FS_OK(&req, lure_fs_copyfile(L, &req, lt_fs_path("nope"), lt_fs_path("x"), 0, LT_FS_CB),
        LURE_ENOENT);
  ck_assert(!lt_fs_exists(lt_fs_path("x")));
  {
    char tpl[PATH_MAX];

    snprintf(tpl, sizeof(tpl), "%s", lt_fs_path("no/tXXXXXX"));
    FS_OK(&req, lure_fs_mkdtemp(L, &req, tpl, LT_FS_CB), LURE_ENOENT);
    FS_OK(&req, lure_fs_mkstemp(L, &req, tpl, LT_FS_CB), LURE_ENOENT);
  }
  /* A dangling symlink: stat fails, lstat works. */
  ck_assert_int_eq(symlink("nope", lt_fs_path("dang")), 0);
  FS_OK(&req, lure_fs_stat(L, &req, lt_fs_path("dang"), LT_FS_CB), LURE_ENOENT);
  FS_OK(&req, lure_fs_lstat(L, &req, lt_fs_path("dang"), LT_FS_CB), 0);
  lt_fs_end();
}
END_TEST

START_TEST(fs_err_eexist) {
  lure_fs_t req;
  char buf[8];

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("f"), "keep", 4);
  ck_assert_int_eq(mkdir(lt_fs_path("d"), 0755), 0);
  FS_OK(&req, lure_fs_mkdir(L, &req, lt_fs_path("d"), 0755, LT_FS_CB), LURE_EEXIST);
  FS_OK(&req, lure_fs_mkdir(L, &req, lt_fs_path("f"), 0755, LT_FS_CB), LURE_EEXIST);
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path("f"), O_RDWR | O_CREAT | O_EXCL, 0644,
                           LT_FS_CB), LURE_EEXIST);
  ck_assert_int_eq(lure_fs_get_system_error(&req), EEXIST);
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path("d"), O_RDONLY | O_CREAT | O_EXCL,
                           0644, LT_FS_CB), LURE_EEXIST);
  FS_OK(&req, lure_fs_link(L, &req, lt_fs_path("f"), lt_fs_path("d"), LT_FS_CB), LURE_EEXIST);
  FS_OK(&req, lure_fs_symlink(L, &req, "x", lt_fs_path("f"), 0, LT_FS_CB), LURE_EEXIST);
  FS_OK(&req, lure_fs_copyfile(L, &req, lt_fs_path("d"), lt_fs_path("f"),
                               LURE_FS_COPYFILE_EXCL, LT_FS_CB), LURE_EEXIST);
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("f"), buf, sizeof(buf)), 4);
  ck_assert_int_eq(memcmp(buf, "keep", 4), 0);
  lt_fs_end();
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

  lt_fs_begin(_i, 20000);
  /* Written to bad fds below: initialised, so that memcheck has nothing
   * to say about the pwritev that reaches the kernel. */
  memset(buf, 'x', sizeof(buf));
  b = lure_buf_init(buf, sizeof(buf));
  lt_fs_write_file(lt_fs_path("f"), "data", 4);

  /* An fd number that was closed. */
  fd = open(lt_fs_path("f"), O_RDWR | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  ok = open(lt_fs_path("f"), O_RDONLY | O_CLOEXEC);
  ck_assert_int_ge(ok, 0);
  close(fd);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, 0, LT_FS_CB), LURE_EBADF);
  ck_assert_int_eq(lure_fs_get_system_error(&req), EBADF);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, -1, LT_FS_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_write(L, &req, fd, &b, 1, 0, LT_FS_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_fstat(L, &req, fd, LT_FS_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_fsync(L, &req, fd, LT_FS_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_fdatasync(L, &req, fd, LT_FS_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_ftruncate(L, &req, fd, 0, LT_FS_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_fchmod(L, &req, fd, 0644, LT_FS_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_futime(L, &req, fd, 1, 1, LT_FS_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_fchown(L, &req, fd, getuid(), getgid(), LT_FS_CB),
        LURE_EBADF);
  FS_OK(&req, lure_fs_sendfile(L, &req, fd, ok, 0, 4, LT_FS_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_sendfile(L, &req, ok, fd, 0, 4, LT_FS_CB), LURE_EBADF);
  FS_OK(&req, lure_fs_close(L, &req, fd, LT_FS_CB), LURE_EBADF);
  /* A read-only fd cannot be written (EBADF), a write-only one read. */
  FS_OK(&req, lure_fs_write(L, &req, ok, &b, 1, 0, LT_FS_CB), LURE_EBADF);
  close(ok);
  ok = open(lt_fs_path("f"), O_WRONLY | O_CLOEXEC);
  FS_OK(&req, lure_fs_read(L, &req, ok, &b, 1, 0, LT_FS_CB), LURE_EBADF);
  close(ok);

  /* Negative fds: LURE_EBADF at once. */
  for (k = 0; k < LT_ARRAY_SIZE(bad); k++) {
    int f = bad[k];

    IMM(lure_fs_read(L, &req, f, &b, 1, 0, LT_FS_CB), LURE_EBADF);
    IMM(lure_fs_write(L, &req, f, &b, 1, -1, LT_FS_CB), LURE_EBADF);
    IMM(lure_fs_close(L, &req, f, LT_FS_CB), LURE_EBADF);
    IMM(lure_fs_fstat(L, &req, f, LT_FS_CB), LURE_EBADF);
    IMM(lure_fs_fsync(L, &req, f, LT_FS_CB), LURE_EBADF);
    IMM(lure_fs_fdatasync(L, &req, f, LT_FS_CB), LURE_EBADF);
    IMM(lure_fs_ftruncate(L, &req, f, 0, LT_FS_CB), LURE_EBADF);
    IMM(lure_fs_fchmod(L, &req, f, 0644, LT_FS_CB), LURE_EBADF);
    IMM(lure_fs_futime(L, &req, f, 1, 1, LT_FS_CB), LURE_EBADF);
    IMM(lure_fs_fchown(L, &req, f, 0, 0, LT_FS_CB), LURE_EBADF);
    IMM(lure_fs_sendfile(L, &req, f, 0, 0, 1, LT_FS_CB), LURE_EBADF);
    IMM(lure_fs_sendfile(L, &req, 1, f, 0, 1, LT_FS_CB), LURE_EBADF);
  }
  ck_assert_int_eq(lure_loop_alive(L), 0);
  lt_fs_end();
}
END_TEST

START_TEST(fs_err_eisdir) {
  lure_fs_t req;
  lure_buf_t b;
  char buf[16];
  int fd;

  lt_fs_begin(_i, 20000);
  ck_assert_int_eq(mkdir(lt_fs_path("d"), 0755), 0);
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path("d"), O_WRONLY, 0, LT_FS_CB),
        LURE_EISDIR);
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path("d"), O_RDWR, 0, LT_FS_CB), LURE_EISDIR);
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path("d"), O_WRONLY | O_CREAT, 0644,
                           LT_FS_CB), LURE_EISDIR);
  FS_OK(&req, lure_fs_unlink(L, &req, lt_fs_path("d"), LT_FS_CB), LURE_EISDIR);
  fd = open(lt_fs_path("d"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  b = lure_buf_init(buf, sizeof(buf));
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, 0, LT_FS_CB), LURE_EISDIR);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, -1, LT_FS_CB), LURE_EISDIR);
  close(fd);
  /* A file renamed over a directory. */
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  FS_OK(&req, lure_fs_rename(L, &req, lt_fs_path("f"), lt_fs_path("d"), LT_FS_CB), LURE_EISDIR);
  ck_assert(lt_fs_exists(lt_fs_path("f")));
  lt_fs_end();
}
END_TEST

START_TEST(fs_err_enotdir) {
  lure_fs_t req;
  char tpl[PATH_MAX];

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  ck_assert_int_eq(mkdir(lt_fs_path("d"), 0755), 0);
  FS_OK(&req, lure_fs_stat(L, &req, lt_fs_path("f/x"), LT_FS_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_lstat(L, &req, lt_fs_path("f/x"), LT_FS_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path("f/x"), O_RDONLY, 0, LT_FS_CB),
        LURE_ENOTDIR);
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path("f/x"), O_RDWR | O_CREAT, 0644,
                           LT_FS_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path("f"), O_RDONLY | O_DIRECTORY, 0,
                           LT_FS_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_mkdir(L, &req, lt_fs_path("f/x"), 0755, LT_FS_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_rmdir(L, &req, lt_fs_path("f"), LT_FS_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_unlink(L, &req, lt_fs_path("f/x"), LT_FS_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_scandir(L, &req, lt_fs_path("f"), 0, LT_FS_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_opendir(L, &req, lt_fs_path("f"), LT_FS_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_access(L, &req, lt_fs_path("f/x"), F_OK, LT_FS_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_rename(L, &req, lt_fs_path("d"), lt_fs_path("f"), LT_FS_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_rename(L, &req, lt_fs_path("f/x"), lt_fs_path("y"), LT_FS_CB),
        LURE_ENOTDIR);
  FS_OK(&req, lure_fs_realpath(L, &req, lt_fs_path("f/x"), LT_FS_CB), LURE_ENOTDIR);
  snprintf(tpl, sizeof(tpl), "%s", lt_fs_path("f/tXXXXXX"));
  FS_OK(&req, lure_fs_mkdtemp(L, &req, tpl, LT_FS_CB), LURE_ENOTDIR);
  FS_OK(&req, lure_fs_mkstemp(L, &req, tpl, LT_FS_CB), LURE_ENOTDIR);
  lt_fs_end();
}
END_TEST

START_TEST(fs_err_enotempty) {
  lure_fs_t req;

  lt_fs_begin(_i, 20000);
  ck_assert_int_eq(mkdir(lt_fs_path("d"), 0755), 0);
  lt_fs_write_file(lt_fs_path("d/x"), "x", 1);
  ck_assert_int_eq(mkdir(lt_fs_path("e"), 0755), 0);
  FS_OK(&req, lure_fs_rmdir(L, &req, lt_fs_path("d"), LT_FS_CB), LURE_ENOTEMPTY);
  ck_assert_int_eq(lure_fs_get_system_error(&req), ENOTEMPTY);
  ck_assert(lt_fs_exists(lt_fs_path("d/x")));
  FS_OK(&req, lure_fs_rename(L, &req, lt_fs_path("e"), lt_fs_path("d"), LT_FS_CB),
        LURE_ENOTEMPTY);
  ck_assert(lt_fs_exists(lt_fs_path("e")));
  lt_fs_end();
}
END_TEST

START_TEST(fs_err_eloop_enametoolong) {
  lure_fs_t req;
  char name[300];

  lt_fs_begin(_i, 20000);
  ck_assert_int_eq(symlink("b", lt_fs_path("a")), 0);
  ck_assert_int_eq(symlink("a", lt_fs_path("b")), 0);
  FS_OK(&req, lure_fs_stat(L, &req, lt_fs_path("a"), LT_FS_CB), LURE_ELOOP);
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path("a"), O_RDONLY, 0, LT_FS_CB), LURE_ELOOP);
  FS_OK(&req, lure_fs_realpath(L, &req, lt_fs_path("a"), LT_FS_CB), LURE_ELOOP);
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  ck_assert_int_eq(symlink("f", lt_fs_path("l")), 0);
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path("l"), O_RDONLY | O_NOFOLLOW, 0, LT_FS_CB),
        LURE_ELOOP);
  memset(name, 'n', sizeof(name) - 1);
  name[sizeof(name) - 1] = '\0';
  FS_OK(&req, lure_fs_stat(L, &req, lt_fs_path(name), LT_FS_CB), LURE_ENAMETOOLONG);
  FS_OK(&req, lure_fs_open(L, &req, lt_fs_path(name), O_RDWR | O_CREAT, 0644, LT_FS_CB),
        LURE_ENAMETOOLONG);
  FS_OK(&req, lure_fs_mkdir(L, &req, lt_fs_path(name), 0755, LT_FS_CB),
        LURE_ENAMETOOLONG);
  lt_fs_end();
}
END_TEST

START_TEST(fs_err_einval_values) {
  lure_fs_t req;
  char tpl[PATH_MAX];
  int fd;

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("f"), "data", 4);
  fd = open(lt_fs_path("f"), O_RDWR | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  FS_ERR(&req, lure_fs_ftruncate(L, &req, fd, -1, LT_FS_CB), LURE_EINVAL);
  close(fd);
  /* mkdtemp/mkstemp need a template ending in XXXXXX. */
  snprintf(tpl, sizeof(tpl), "%s", lt_fs_path("tmp-XXX"));
  FS_OK(&req, lure_fs_mkdtemp(L, &req, tpl, LT_FS_CB), LURE_EINVAL);
  FS_OK(&req, lure_fs_mkstemp(L, &req, tpl, LT_FS_CB), LURE_EINVAL);
  snprintf(tpl, sizeof(tpl), "%s", lt_fs_path("tmp-XXXXXXy"));
  FS_OK(&req, lure_fs_mkdtemp(L, &req, tpl, LT_FS_CB), LURE_EINVAL);
  /* Unknown copyfile flags (libuv: EINVAL at once). */
  IMM(lure_fs_copyfile(L, &req, lt_fs_path("f"), lt_fs_path("g"), 0x100, LT_FS_CB), LURE_EINVAL);
  ck_assert(!lt_fs_exists(lt_fs_path("g")));
  lt_fs_end();
}
END_TEST

/* Misaligned O_DIRECT I/O: buffer, offset, length. */
START_TEST(fs_err_direct_einval) {
  lure_fs_t req;
  lure_buf_t b[2];
  char *buf;
  int fd;
  int k;

  if (!lt_fs_facts.direct_ok || !lt_fs_facts.direct_einval)
    return;
  lt_fs_begin(_i, 20000);
  buf = lt_fs_aligned(4096, 3 * 4096);
  memset(buf, 'q', 3 * 4096);
  lt_fs_write_file(lt_fs_path("f"), buf, 2 * 4096);
  fd = open(lt_fs_path("f"), O_RDWR | O_DIRECT | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  for (k = 0; k < 2; k++) {
    int64_t off = k == 0 ? 0 : -1;

    if (k == 1)
      ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    b[0] = lure_buf_init(buf + 1, 4096);
    ck_assert_int_eq(FSK(&req, FX_ANY,
                         lure_fs_read(L, &req, fd, b, 1, off, LT_FS_CB)),
                     LURE_EINVAL);
    lure_fs_req_cleanup(&req);
    ck_assert_int_eq(FSK(&req, FX_ANY,
                         lure_fs_write(L, &req, fd, b, 1, off, LT_FS_CB)),
                     LURE_EINVAL);
    lure_fs_req_cleanup(&req);
    b[0] = lure_buf_init(buf, 100);
    ck_assert_int_eq(FSK(&req, FX_ANY,
                         lure_fs_read(L, &req, fd, b, 1, off, LT_FS_CB)),
                     LURE_EINVAL);
    lure_fs_req_cleanup(&req);
    ck_assert_int_eq(FSK(&req, FX_ANY,
                         lure_fs_write(L, &req, fd, b, 1, off, LT_FS_CB)),
                     LURE_EINVAL);
    lure_fs_req_cleanup(&req);
    /* One misaligned segment of two. */
    b[0] = lure_buf_init(buf, 4096);
    b[1] = lure_buf_init(buf + 4096 + 512 + 7, 4096);
    ck_assert_int_eq(FSK(&req, FX_ANY,
                         lure_fs_read(L, &req, fd, b, 2, off, LT_FS_CB)),
                     LURE_EINVAL);
    lure_fs_req_cleanup(&req);
  }
  b[0] = lure_buf_init(buf, 4096);
  ck_assert_int_eq(FSK(&req, FX_ANY,
                       lure_fs_read(L, &req, fd, b, 1, 1, LT_FS_CB)),
                   LURE_EINVAL);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(FSK(&req, FX_ANY,
                       lure_fs_write(L, &req, fd, b, 1, 4097, LT_FS_CB)),
                   LURE_EINVAL);
  lure_fs_req_cleanup(&req);
  /* Nothing was written by the failures. */
  {
    char *chk = malloc(3 * 4096);

    ck_assert_int_eq(lt_fs_read_file(lt_fs_path("f"), chk, 3 * 4096), 2 * 4096);
    for (k = 0; k < 2 * 4096; k++)
      ck_assert_int_eq(chk[k], 'q');
    free(chk);
  }
  close(fd);
  free(buf);
  lt_fs_end();
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
              lt_err(r_), lt_err(want));                                  \
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

  if (!lt_is_root())
    return; /* cannot drop privileges */
  lt_fs_begin(_i, 20000);
  ck_assert_int_eq(chmod(lt_fs.dir, 0755), 0);
  lt_fs_write_file(lt_fs_path("secret"), "secret", 6);
  ck_assert_int_eq(chmod(lt_fs_path("secret"), 0600), 0);
  ck_assert_int_eq(mkdir(lt_fs_path("priv"), 0700), 0);
  ck_assert_int_eq(mkdir(lt_fs_path("priv/sub"), 0700), 0);
  /* "sub" here is a path through the private directory. */
  ck_assert_int_eq(symlink("priv/sub", lt_fs_path("sub")), 0);
  fflush(NULL);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0)
    eacces_child(lt_fs.dir, lt_fs.async);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status), "EACCES child died (status %#x)", status);
  ck_assert_msg(WEXITSTATUS(status) == 0,
                "EACCES child: check %d failed (see stderr)",
                WEXITSTATUS(status));
  ck_assert(lt_fs_exists(lt_fs_path("secret")));
  lt_fs_end();
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

  lt_fs_begin(_i, 20000);
  cb = LT_FS_CB;
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  p = lt_fs_path("f");
  fd = open(p, O_RDWR | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  b = lure_buf_init(buf, sizeof(buf));
  snprintf(tpl, sizeof(tpl), "%s", lt_fs_path("tXXXXXX"));

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
    IMM(lure_fs_unlink(NULL, &req, lt_fs_path("nope"), cb), LURE_EINVAL);
    IMM(lure_fs_mkdir(NULL, &req, lt_fs_path("nope"), 0755, cb), LURE_EINVAL);
    IMM(lure_fs_scandir(NULL, &req, p, 0, cb), LURE_EINVAL);
    IMM(lure_fs_opendir(NULL, &req, p, cb), LURE_EINVAL);
    IMM(lure_fs_fsync(NULL, &req, fd, cb), LURE_EINVAL);
    IMM(lure_fs_realpath(NULL, &req, p, cb), LURE_EINVAL);
    IMM(lure_fs_copyfile(NULL, &req, p, lt_fs_path("g"), 0, cb), LURE_EINVAL);
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
  ck_assert(!lt_fs_exists(lt_fs_path("nope")));
  ck_assert(!lt_fs_exists(lt_fs_path("g")));
  ck_assert_int_eq(fcntl(fd, F_GETFD) >= 0, 1);
  close(fd);
  /* lure_cancel of nothing. */
  ck_assert_int_eq(lure_cancel(NULL), LURE_EINVAL);
  lt_fs_end();
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
                  __FILE__, __LINE__, #call, nl_r_, lt_err(nl_r_), nl_w_,  \
                  lt_err(nl_w_));                                          \
    ck_assert_msg(req.result == nl_w_, "%s:%d: %s: req.result %zd",         \
                  __FILE__, __LINE__, #call, req.result);                   \
    ck_assert_ptr_null(req.loop);                                           \
    ck_assert_str_eq(lure_req_executor((lure_req_t *) &req), "inline");     \
  } while (0)

/* Ring fs requests the kernel completes -EINTR (a test-only count in the
 * library makes the next fs SQEs NOPs completed with it; Linux 6.10): a
 * write and an fstat go in again and succeed, as libuv retries EINTR; a
 * read reports LURE_EINTR, as libuv's does.  Sets without the ring (or a
 * request another executor served) leave the count unused. */
extern unsigned lure__uring_fault_fs_eintr;

/* Whether the ring served req. */
static int fs_on_ring(const lure_fs_t *req) {
  return strcmp(lure_req_executor((const lure_req_t *) req), "io_uring") == 0;
}

/* Arm one injected EINTR when the ring can serve it; returns whether. */
static int fs_eintr_arm(void) {
  lure__uring_fault_fs_eintr = lt_fs.ring && lt_kernel_at_least(6, 10);
  return (int) lure__uring_fault_fs_eintr;
}

/* Whether req met the injected EINTR: armed, and served by the ring. */
static int fs_eintr_met(const lure_fs_t *req, int armed) {
  int ring = fs_on_ring(req);

  if (armed && ring)
    ck_assert_uint_eq(lure__uring_fault_fs_eintr, 0);
  lure__uring_fault_fs_eintr = 0;
  return armed && ring;
}

START_TEST(fs_err_ring_eintr) {
  static const char data[] = "written after an EINTR";
  char back[sizeof(data)];
  lure_fs_t req;
  lure_buf_t b;
  int fd, armed, met = 0;
  ssize_t r;

  lt_fs_begin(1, 20000);
  fd = (int) FS(&req, lure_fs_open(L, &req, lt_fs_path("f"),
                                   O_RDWR | O_CREAT, 0640, LT_FS_CB));
  ck_assert_int_ge(fd, 0);
  lure_fs_req_cleanup(&req);

  armed = fs_eintr_arm();
  b = lure_buf_init((char *) data, sizeof(data) - 1);
  FS_EQ(&req, lure_fs_write(L, &req, fd, &b, 1, 0, LT_FS_CB),
        sizeof(data) - 1);
  met += fs_eintr_met(&req, armed);
  lure_fs_req_cleanup(&req);

  armed = fs_eintr_arm();
  FS_EQ(&req, lure_fs_fstat(L, &req, fd, LT_FS_CB), 0);
  ck_assert_int_eq((int) req.statbuf.st_size, (int) sizeof(data) - 1);
  met += fs_eintr_met(&req, armed);
  lure_fs_req_cleanup(&req);

  armed = fs_eintr_arm();
  memset(back, 0, sizeof(back));
  b = lure_buf_init(back, sizeof(back) - 1);
  r = FS(&req, lure_fs_read(L, &req, fd, &b, 1, 0, LT_FS_CB));
  if (fs_eintr_met(&req, armed)) {
    met++;
    ck_assert_msg(r == LURE_EINTR, "read after EINTR: %zd (%s), want EINTR",
                  r, lt_err(r));
    lure_fs_req_cleanup(&req);
    r = FS(&req, lure_fs_read(L, &req, fd, &b, 1, 0, LT_FS_CB));
  }
  ck_assert_int_eq((int) r, (int) sizeof(data) - 1);
  ck_assert_int_eq(memcmp(back, data, sizeof(data) - 1), 0);
  lure_fs_req_cleanup(&req);
  FS_OK(&req, lure_fs_close(L, &req, fd, LT_FS_CB), 0);
  printf("fs_err_ring_eintr: set %s: %d of 3 requests met an injected "
         "EINTR\n", lt_set() ? lt_set() : "(none)", met);
  lt_fs_end();
}
END_TEST

/* The same off the ring: lure-fs-tests is linked with -Wl,--wrap=fsync
 * (tests/local.mk), and while eintr_left is not 0 an fsync(2) of eintr_fd
 * fails with EINTR.  A synchronous lure_fs_fsync, and an asynchronous one
 * the thread pool serves, make the call again and succeed. */
int __real_fsync(int fd);
int __wrap_fsync(int fd);

static int eintr_fd = -1;
static unsigned eintr_left;

int __wrap_fsync(int fd) {
  if (fd == eintr_fd && eintr_left > 0) {
    eintr_left--;
    errno = EINTR;
    return -1;
  }
  return __real_fsync(fd);
}

START_TEST(fs_err_pool_eintr) {
  lure_fs_t req;
  int fd, ring;

  lt_fs_begin(_i, 20000);
  fd = (int) FS(&req, lure_fs_open(L, &req, lt_fs_path("f"),
                                   O_RDWR | O_CREAT, 0640, LT_FS_CB));
  ck_assert_int_ge(fd, 0);
  lure_fs_req_cleanup(&req);
  eintr_fd = fd;
  eintr_left = 2;
  FS_EQ(&req, lure_fs_fsync(L, &req, fd, LT_FS_CB), 0);
  ring = fs_on_ring(&req);
  printf("fs_err_pool_eintr: set %s, %s: %s, %u of 2 EINTR left\n",
         lt_set() ? lt_set() : "(none)", _i ? "async" : "sync",
         lure_req_executor((const lure_req_t *) &req), eintr_left);
  ck_assert_uint_eq(eintr_left, ring ? 2 : 0);
  eintr_fd = -1;
  eintr_left = 0;
  lure_fs_req_cleanup(&req);
  FS_OK(&req, lure_fs_close(L, &req, fd, LT_FS_CB), 0);
  lt_fs_end();
}
END_TEST

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

  lt_fs_begin(0, 20000);
  /* Garbage in the request must not matter. */
  memset(&req, 0xdb, sizeof(req));
  NL_OK(fd = lure_fs_open(NULL, &req, lt_fs_path("f"), O_RDWR | O_CREAT, 0644, NULL),
        req.result);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(req.type, LURE_FS);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_OPEN);
  ck_assert_str_eq(req.path, lt_fs_path("f"));
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
  NL_OK(lure_fs_stat(NULL, &req, lt_fs_path("f"), NULL), 0);
  ck_assert_int_eq(req.statbuf.st_size, 5);
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_lstat(NULL, &req, lt_fs_path("f"), NULL), 0);
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_fsync(NULL, &req, fd, NULL), 0);
  NL_OK(lure_fs_fdatasync(NULL, &req, fd, NULL), 0);
  NL_OK(lure_fs_fchmod(NULL, &req, fd, 0640, NULL), 0);
  NL_OK(lure_fs_fchown(NULL, &req, fd, getuid(), getgid(), NULL), 0);
  NL_OK(lure_fs_futime(NULL, &req, fd, 1000, 2000, NULL), 0);
  ck_assert_int_eq(stat(lt_fs_path("f"), &st), 0);
  ck_assert_int_eq(st.st_mode & 07777, 0640);
  ck_assert_int_eq(st.st_mtime, 2000);
  out = open(lt_fs_path("out"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ck_assert_int_ge(out, 0);
  NL_OK(lure_fs_sendfile(NULL, &req, out, fd, 1, 100, NULL), 4);
  close(out);
  NL_OK(lure_fs_ftruncate(NULL, &req, fd, 2, NULL), 0);
  NL_OK(lure_fs_close(NULL, &req, fd, NULL), 0);
  /* A negative descriptor: refused with LURE_EBADF, in req.result too. */
  ck_assert_int_eq(lure_fs_close(NULL, &req, -1, NULL), LURE_EBADF);
  ck_assert_int_eq(req.result, LURE_EBADF);
  NL_OK(lure_fs_open(NULL, &req, lt_fs_path("nope"), O_RDONLY, 0, NULL), LURE_ENOENT);
  lure_fs_req_cleanup(&req);

  NL_OK(lure_fs_access(NULL, &req, lt_fs_path("f"), R_OK, NULL), 0);
  NL_OK(lure_fs_chmod(NULL, &req, lt_fs_path("f"), 0600, NULL), 0);
  NL_OK(lure_fs_chown(NULL, &req, lt_fs_path("f"), getuid(), getgid(), NULL), 0);
  NL_OK(lure_fs_utime(NULL, &req, lt_fs_path("f"), 3000, 4000, NULL), 0);
  NL_OK(lure_fs_rename(NULL, &req, lt_fs_path("f"), lt_fs_path("g"), NULL), 0);
  NL_OK(lure_fs_link(NULL, &req, lt_fs_path("g"), lt_fs_path("h"), NULL), 0);
  NL_OK(lure_fs_symlink(NULL, &req, "g", lt_fs_path("l"), 0, NULL), 0);
  NL_OK(lure_fs_lchown(NULL, &req, lt_fs_path("l"), getuid(), getgid(), NULL), 0);
  NL_OK(lure_fs_lutime(NULL, &req, lt_fs_path("l"), 5000, 6000, NULL), 0);
  NL_OK(lure_fs_readlink(NULL, &req, lt_fs_path("l"), NULL), 0);
  ck_assert_str_eq(req.ptr, "g");
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_realpath(NULL, &req, lt_fs_path("l"), NULL), 0);
  ck_assert_ptr_nonnull(req.ptr);
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_copyfile(NULL, &req, lt_fs_path("g"), lt_fs_path("c"), 0, NULL), 0);
  NL_OK(lure_fs_statfs(NULL, &req, lt_fs_path("g"), NULL), 0);
  sfs = req.ptr;
  ck_assert_ptr_nonnull(sfs);
  ck_assert_uint_gt(sfs->f_bsize, 0);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.ptr);

  NL_OK(lure_fs_mkdir(NULL, &req, lt_fs_path("d"), 0755, NULL), 0);
  lt_fs_write_file(lt_fs_path("d/x"), "x", 1);
  NL_OK(lure_fs_scandir(NULL, &req, lt_fs_path("d"), 0, NULL), 1);
  ck_assert_int_eq(lure_fs_scandir_next(&req, &ent), 0);
  ck_assert_str_eq(ent.name, "x");
  ck_assert_int_eq(lure_fs_scandir_next(&req, &ent), LURE_EOF);
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_opendir(NULL, &req, lt_fs_path("d"), NULL), 0);
  dir = req.ptr;
  lure_fs_req_cleanup(&req);
  dir->dirents = ents;
  dir->nentries = LT_ARRAY_SIZE(ents);
  NL_OK(lure_fs_readdir(NULL, &req, dir, NULL), 1);
  ck_assert_str_eq(ents[0].name, "x");
  lure_fs_req_cleanup(&req);
  NL_OK(lure_fs_closedir(NULL, &req, dir, NULL), 0);
  NL_OK(lure_fs_unlink(NULL, &req, lt_fs_path("d/x"), NULL), 0);
  NL_OK(lure_fs_rmdir(NULL, &req, lt_fs_path("d"), NULL), 0);
  ck_assert(!lt_fs_exists(lt_fs_path("d")));

  snprintf(tpl, sizeof(tpl), "%s", lt_fs_path("tXXXXXX"));
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
  ck_assert_int_eq(lure_fs_stat(NULL, &req, lt_fs_path("g"), null_cb), LURE_EINVAL);
  ck_assert_int_eq(req.result, LURE_EINVAL);
  ck_assert_ptr_null(req.path);
  ck_assert_ptr_null(req.ptr);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(lure_fs_mkstemp(NULL, &req, tpl, null_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_fs_close(NULL, &req, 0, null_cb), LURE_EINVAL);
  lt_fs_end();
}
END_TEST

/* A call refused for its arguments leaves the request initialised (path,
 * ptr, bufs NULL), so that lure_fs_req_cleanup() on it is harmless, as
 * libuv's tests assume (fs_copyfile, fs_read_write_null_arguments). */
START_TEST(fs_refused_req_is_clean) {
  lure_fs_t req;
  lure_buf_t b;
  int fd;

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  fd = open(lt_fs_path("f"), O_RDWR | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);

  memset(&req, 0xdb, sizeof(req));
  IMM(lure_fs_copyfile(L, &req, lt_fs_path("f"), lt_fs_path("g"), -1, LT_FS_CB), LURE_EINVAL);
  ck_assert_int_eq(req.type, LURE_FS);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_COPYFILE);
  ck_assert_int_eq(req.result, LURE_EINVAL);
  ck_assert_ptr_null(req.path);
  ck_assert_ptr_null(req.ptr);
  lure_fs_req_cleanup(&req);
  ck_assert(!lt_fs_exists(lt_fs_path("g")));

  memset(&req, 0xdb, sizeof(req));
  IMM(lure_fs_write(L, &req, fd, NULL, 0, -1, LT_FS_CB), LURE_EINVAL);
  ck_assert_ptr_null(req.path);
  ck_assert_ptr_null(req.new_path);
  ck_assert_ptr_null(req.ptr);
  ck_assert_ptr_null(req.bufs);
  lure_fs_req_cleanup(&req);
  b = lure_buf_init(NULL, 0);
  memset(&req, 0xdb, sizeof(req));
  IMM(lure_fs_read(L, &req, fd, &b, 0, -1, LT_FS_CB), LURE_EINVAL);
  ck_assert_ptr_null(req.bufs);
  lure_fs_req_cleanup(&req);
  memset(&req, 0xdb, sizeof(req));
  IMM(lure_fs_open(L, &req, NULL, O_RDONLY, 0, LT_FS_CB), LURE_EINVAL);
  ck_assert_ptr_null(req.path);
  lure_fs_req_cleanup(&req);
  memset(&req, 0xdb, sizeof(req));
  IMM(lure_fs_fstat(L, &req, -1, LT_FS_CB), LURE_EBADF);
  ck_assert_int_eq(req.result, LURE_EBADF);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(lure_loop_alive(L), 0);
  close(fd);
  lt_fs_end();
}
END_TEST

LT_SUITE(errors) {
  Suite *s = suite_create("errors");
  TCase *tc = lt_tcase("errors", 60);

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
  tcase_add_test(tc, fs_err_ring_eintr);
  tcase_add_loop_test(tc, fs_err_pool_eintr, 0, 2);
  tcase_add_loop_test(tc, fs_refused_req_is_clean, 0, 2);
  suite_add_tcase(s, tc);
  return s;
}
