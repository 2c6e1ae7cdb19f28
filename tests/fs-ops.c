/*
 * fs-ops.c - every lure_fs_* operation, synchronous (_i == 0) and
 * asynchronous (_i == 1), with libuv's results: return values, req->result,
 * req->ptr, req->path, req->statbuf, and the effect on the file system as
 * seen through plain system calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include "harness-fs.h"

static int popen_fd(const char *path, int flags) {
  int fd = open(path, flags | O_CLOEXEC, 0644);

  ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
  return fd;
}

static struct stat pstat(const char *path) {
  struct stat st;

  ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
  return st;
}

static struct stat plstat(const char *path) {
  struct stat st;

  ck_assert_msg(lstat(path, &st) == 0, "lstat %s: %s", path,
                strerror(errno));
  return st;
}

static off_t fpos(int fd) {
  return lseek(fd, 0, SEEK_CUR);
}

/* ---- open / close -------------------------------------------------------- */

START_TEST(fs_open_close) {
  lure_fs_t req;
  int fd;
  struct stat st;
  char buf[16];

  lt_fs_begin(_i, 20000);
  memset(&req, 0, sizeof(req));
  req.data = &fd;
  fd = (int) FS(&req, lure_fs_open(L, &req, lt_fs_path("f"), O_RDWR | O_CREAT, 0640,
                                   LT_FS_CB));
  ck_assert_int_ge(fd, 0);
  ck_assert_ptr_eq(req.data, &fd);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_OPEN);
  ck_assert_ptr_nonnull(lure_fs_get_path(&req));
  ck_assert_str_eq(lure_fs_get_path(&req), lt_fs_path("f"));
  lure_fs_req_cleanup(&req);
  /* libuv opens with O_CLOEXEC. */
  ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  ck_assert_int_eq(fstat(fd, &st), 0);
  ck_assert(S_ISREG(st.st_mode));
  ck_assert_int_eq(st.st_mode & 07777, 0640);
  ck_assert_int_eq(write(fd, "abcdef", 6), 6);
  FS_OK(&req, lure_fs_close(L, &req, fd, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_CLOSE);
  ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
  ck_assert_int_eq(errno, EBADF);

  /* O_RDONLY of the file: reads the data; O_TRUNC empties it. */
  fd = (int) FS(&req, lure_fs_open(L, &req, lt_fs_path("f"), O_RDONLY, 0, LT_FS_CB));
  ck_assert_int_ge(fd, 0);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(read(fd, buf, sizeof(buf)), 6);
  ck_assert_int_eq(memcmp(buf, "abcdef", 6), 0);
  ck_assert_int_lt(write(fd, "x", 1), 0);
  FS_OK(&req, lure_fs_close(L, &req, fd, LT_FS_CB), 0);

  fd = (int) FS(&req, lure_fs_open(L, &req, lt_fs_path("f"), O_WRONLY | O_TRUNC, 0,
                                   LT_FS_CB));
  ck_assert_int_ge(fd, 0);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_size, 0);
  FS_OK(&req, lure_fs_close(L, &req, fd, LT_FS_CB), 0);

  /* O_APPEND: a write at the current position lands at the end. */
  lt_fs_write_file(lt_fs_path("f"), "12345", 5);
  fd = (int) FS(&req, lure_fs_open(L, &req, lt_fs_path("f"), O_WRONLY | O_APPEND, 0,
                                   LT_FS_CB));
  ck_assert_int_ge(fd, 0);
  lure_fs_req_cleanup(&req);
  {
    lure_buf_t b = lure_buf_init((char *) "678", 3);

    FS_OK(&req, lure_fs_write(L, &req, fd, &b, 1, -1, LT_FS_CB), 3);
  }
  FS_OK(&req, lure_fs_close(L, &req, fd, LT_FS_CB), 0);
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("f"), buf, sizeof(buf)), 8);
  ck_assert_int_eq(memcmp(buf, "12345678", 8), 0);

  /* A directory opens read-only (O_DIRECTORY). */
  fd = (int) FS(&req, lure_fs_open(L, &req, lt_fs.dir, O_RDONLY | O_DIRECTORY,
                                   0, LT_FS_CB));
  ck_assert_int_ge(fd, 0);
  lure_fs_req_cleanup(&req);
  FS_OK(&req, lure_fs_close(L, &req, fd, LT_FS_CB), 0);
  lt_fs_end();
}
END_TEST

/* open(2) of a FIFO for reading waits for a writer, whatever serves it (the
 * pool blocks in open(2); the ring must not answer before a writer either).
 */
static int fifo_writer = -1;
static int fifo_open_calls;
static int fifo_writer_was_open;

static void fifo_open_cb(lure_fs_t *req) {
  fifo_open_calls++;
  fifo_writer_was_open = fifo_writer >= 0;
  lt_fs_cb(req);
}

static void fifo_writer_cb(lure_timer_t *t) {
  fifo_writer = open((const char *) t->data, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  ck_assert_int_ge(fifo_writer, 0);
  lure_close((lure_handle_t *) t, NULL);
}

START_TEST(fs_open_fifo_waits_for_writer) {
  lure_fs_t req;
  lure_timer_t t;
  char path[PATH_MAX];
  ssize_t r;

  lt_fs_begin(1, 20000);
  snprintf(path, sizeof(path), "%s", lt_fs_path("fifo"));
  ck_assert_int_eq(mkfifo(path, 0644), 0);
  ck_assert_int_eq(lure_fs_open(L, &req, path, O_RDONLY, 0, fifo_open_cb), 0);
  ck_assert_int_eq(lure_timer_init(L, &t), 0);
  t.data = path;
  ck_assert_int_eq(lure_timer_start(&t, fifo_writer_cb, 100, 0), 0);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(fifo_open_calls, 1);
  r = req.result;
  ck_assert_msg(r >= 0, "open of a FIFO: %s", lt_err(r));
  ck_assert_msg(fifo_writer_was_open,
                "open(O_RDONLY) of a FIFO completed before any writer (%s)",
                lure_req_executor((lure_req_t *) &req));
  /* Blocking mode, as asked (no O_NONBLOCK left over). */
  ck_assert_int_eq(fcntl((int) r, F_GETFL) & O_NONBLOCK, 0);
  lure_fs_req_cleanup(&req);
  close((int) r);
  close(fifo_writer);
  lt_fs_end();
}
END_TEST

/* ---- read / write -------------------------------------------------------- */

START_TEST(fs_read_write_positional) {
  lure_fs_t req;
  lure_buf_t b;
  char buf[64];
  int fd;

  lt_fs_begin(_i, 20000);
  fd = popen_fd(lt_fs_path("f"), O_RDWR | O_CREAT);
  b = lure_buf_init((char *) "hello, world", 12);
  FS_OK(&req, lure_fs_write(L, &req, fd, &b, 1, 0, LT_FS_CB), 12);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_WRITE);
  /* A positional write leaves the file position alone. */
  ck_assert_int_eq(fpos(fd), 0);

  memset(buf, 0, sizeof(buf));
  b = lure_buf_init(buf, 5);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, 7, LT_FS_CB), 5);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_READ);
  ck_assert_int_eq(memcmp(buf, "world", 5), 0);
  ck_assert_int_eq(fpos(fd), 0);

  /* Short read at the end, 0 at and beyond EOF. */
  b = lure_buf_init(buf, sizeof(buf));
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, 0, LT_FS_CB), 12);
  ck_assert_int_eq(memcmp(buf, "hello, world", 12), 0);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, 12, LT_FS_CB), 0);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, 100000, LT_FS_CB), 0);

  /* A write past the end leaves a hole of zeros. */
  b = lure_buf_init((char *) "Z", 1);
  FS_OK(&req, lure_fs_write(L, &req, fd, &b, 1, 20, LT_FS_CB), 1);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_size, 21);
  memset(buf, 'x', sizeof(buf));
  b = lure_buf_init(buf, sizeof(buf));
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, 10, LT_FS_CB), 11);
  ck_assert_int_eq(memcmp(buf, "ld\0\0\0\0\0\0\0\0Z", 11), 0);

  /* A zero-length write and read. */
  b = lure_buf_init(buf, 0);
  FS_OK(&req, lure_fs_write(L, &req, fd, &b, 1, 0, LT_FS_CB), 0);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, 0, LT_FS_CB), 0);
  close(fd);
  lt_fs_end();
}
END_TEST

START_TEST(fs_read_write_current_position) {
  lure_fs_t req;
  lure_buf_t b;
  char buf[64];
  int fd;

  lt_fs_begin(_i, 20000);
  fd = popen_fd(lt_fs_path("f"), O_RDWR | O_CREAT | O_TRUNC);
  b = lure_buf_init((char *) "abc", 3);
  FS_OK(&req, lure_fs_write(L, &req, fd, &b, 1, -1, LT_FS_CB), 3);
  ck_assert_int_eq(fpos(fd), 3);
  b = lure_buf_init((char *) "defg", 4);
  FS_OK(&req, lure_fs_write(L, &req, fd, &b, 1, -1, LT_FS_CB), 4);
  ck_assert_int_eq(fpos(fd), 7);
  b = lure_buf_init((char *) "XY", 2);
  FS_OK(&req, lure_fs_write(L, &req, fd, &b, 1, 0, LT_FS_CB), 2);
  ck_assert_int_eq(fpos(fd), 7);
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("f"), buf, sizeof(buf)), 7);
  ck_assert_int_eq(memcmp(buf, "XYcdefg", 7), 0);

  ck_assert_int_eq(lseek(fd, 2, SEEK_SET), 2);
  b = lure_buf_init(buf, 3);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, -1, LT_FS_CB), 3);
  ck_assert_int_eq(memcmp(buf, "cde", 3), 0);
  ck_assert_int_eq(fpos(fd), 5);
  b = lure_buf_init(buf, 2);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, 0, LT_FS_CB), 2);
  ck_assert_int_eq(memcmp(buf, "XY", 2), 0);
  ck_assert_int_eq(fpos(fd), 5);
  b = lure_buf_init(buf, sizeof(buf));
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, -1, LT_FS_CB), 2);
  ck_assert_int_eq(memcmp(buf, "fg", 2), 0);
  ck_assert_int_eq(fpos(fd), 7);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, -1, LT_FS_CB), 0);
  ck_assert_int_eq(fpos(fd), 7);
  close(fd);
  lt_fs_end();
}
END_TEST

START_TEST(fs_read_write_vectored) {
  lure_fs_t req;
  lure_buf_t w[3];
  lure_buf_t r[4];
  lure_buf_t many[7];
  char a[5], b[1], c[3], d[10];
  char big[7][3];
  char out[64];
  int fd;
  int k;

  lt_fs_begin(_i, 20000);
  fd = popen_fd(lt_fs_path("f"), O_RDWR | O_CREAT | O_TRUNC);
  w[0] = lure_buf_init((char *) "0123", 4);
  w[1] = lure_buf_init((char *) "45", 2);
  w[2] = lure_buf_init((char *) "6789ab", 6);
  FS_OK(&req, lure_fs_write(L, &req, fd, w, 3, 10, LT_FS_CB), 12);
  ck_assert_int_eq(fpos(fd), 0);
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("f"), out, sizeof(out)), 22);
  ck_assert_int_eq(memcmp(out + 10, "0123456789ab", 12), 0);

  memset(a, 0, 5); memset(b, 0, 1); memset(c, 0, 3); memset(d, 0, 10);
  r[0] = lure_buf_init(a, 5);
  r[1] = lure_buf_init(b, 1);
  r[2] = lure_buf_init(c, 3);
  r[3] = lure_buf_init(d, 10);
  FS_OK(&req, lure_fs_read(L, &req, fd, r, 4, 10, LT_FS_CB), 12);
  ck_assert_int_eq(memcmp(a, "01234", 5), 0);
  ck_assert_int_eq(memcmp(b, "5", 1), 0);
  ck_assert_int_eq(memcmp(c, "678", 3), 0);
  ck_assert_int_eq(memcmp(d, "9ab", 3), 0);

  /* Vectored at the current position. */
  ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
  w[0] = lure_buf_init((char *) "AB", 2);
  w[1] = lure_buf_init((char *) "CD", 2);
  FS_OK(&req, lure_fs_write(L, &req, fd, w, 2, -1, LT_FS_CB), 4);
  ck_assert_int_eq(fpos(fd), 4);
  ck_assert_int_eq(lseek(fd, 1, SEEK_SET), 1);
  r[0] = lure_buf_init(a, 2);
  r[1] = lure_buf_init(c, 2);
  FS_OK(&req, lure_fs_read(L, &req, fd, r, 2, -1, LT_FS_CB), 4);
  ck_assert_int_eq(memcmp(a, "BC", 2), 0);
  ck_assert_int_eq(memcmp(c, "D\0", 2), 0);
  ck_assert_int_eq(fpos(fd), 5);

  /* More buffers than the request keeps inline (libuv: 4), and the caller
   * may reuse its array as soon as the call returns. */
  for (k = 0; k < 7; k++) {
    big[k][0] = (char) ('a' + k);
    big[k][1] = (char) ('A' + k);
    big[k][2] = (char) ('0' + k);
    many[k] = lure_buf_init(big[k], 3);
  }
  ck_assert_int_eq(lure_fs_write(L, &req, fd, many, 7, 100, LT_FS_CB),
                   lt_fs.async ? 0 : 21);
  for (k = 0; k < 7; k++)
    many[k] = lure_buf_init(NULL, 0);
  if (lt_fs.async) {
    ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
    ck_assert_ptr_eq(lt_fs.last, &req);
  }
  ck_assert_int_eq(req.result, 21);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("f"), out, sizeof(out)), 64);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_size, 121);
  memset(big, 0, sizeof(big));
  for (k = 0; k < 7; k++)
    many[k] = lure_buf_init(big[6 - k], 3);
  ck_assert_int_eq(lure_fs_read(L, &req, fd, many, 7, 100, LT_FS_CB),
                   lt_fs.async ? 0 : 21);
  for (k = 0; k < 7; k++)
    many[k] = lure_buf_init(NULL, 0);
  if (lt_fs.async)
    ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(req.result, 21);
  lure_fs_req_cleanup(&req);
  for (k = 0; k < 7; k++) {
    ck_assert_int_eq(big[6 - k][0], 'a' + k);
    ck_assert_int_eq(big[6 - k][2], '0' + k);
  }
  close(fd);
  lt_fs_end();
}
END_TEST

/* ---- unlink, mkdir, rmdir, mkdtemp, mkstemp ------------------------------ */

START_TEST(fs_unlink) {
  lure_fs_t req;

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  ck_assert_int_eq(symlink("f", lt_fs_path("l")), 0);
  FS_OK(&req, lure_fs_unlink(L, &req, lt_fs_path("l"), LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_UNLINK);
  ck_assert(!lt_fs_exists(lt_fs_path("l")));
  ck_assert(lt_fs_exists(lt_fs_path("f")));
  FS_OK(&req, lure_fs_unlink(L, &req, lt_fs_path("f"), LT_FS_CB), 0);
  ck_assert(!lt_fs_exists(lt_fs_path("f")));
  lt_fs_end();
}
END_TEST

START_TEST(fs_mkdir_rmdir) {
  lure_fs_t req;
  struct stat st;

  lt_fs_begin(_i, 20000);
  FS_OK(&req, lure_fs_mkdir(L, &req, lt_fs_path("d"), 0755, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_MKDIR);
  st = pstat(lt_fs_path("d"));
  ck_assert(S_ISDIR(st.st_mode));
  ck_assert_int_eq(st.st_mode & 07777, 0755);
  FS_OK(&req, lure_fs_mkdir(L, &req, lt_fs_path("d/e"), 0700, LT_FS_CB), 0);
  ck_assert_int_eq(pstat(lt_fs_path("d/e")).st_mode & 07777, 0700);
  /* The umask (022) applies. */
  FS_OK(&req, lure_fs_mkdir(L, &req, lt_fs_path("d/u"), 0777, LT_FS_CB), 0);
  ck_assert_int_eq(pstat(lt_fs_path("d/u")).st_mode & 07777, 0755);
  FS_OK(&req, lure_fs_rmdir(L, &req, lt_fs_path("d/e"), LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_RMDIR);
  ck_assert(!lt_fs_exists(lt_fs_path("d/e")));
  FS_OK(&req, lure_fs_rmdir(L, &req, lt_fs_path("d/u"), LT_FS_CB), 0);
  FS_OK(&req, lure_fs_rmdir(L, &req, lt_fs_path("d"), LT_FS_CB), 0);
  ck_assert(!lt_fs_exists(lt_fs_path("d")));
  lt_fs_end();
}
END_TEST

START_TEST(fs_mkdtemp) {
  lure_fs_t req;
  char tpl[PATH_MAX];
  char made[PATH_MAX];
  const char *path;
  struct stat st;
  size_t n;

  lt_fs_begin(_i, 20000);
  snprintf(tpl, sizeof(tpl), "%s", lt_fs_path("tmp-XXXXXX"));
  n = strlen(tpl);
  FS_EQ(&req, lure_fs_mkdtemp(L, &req, tpl, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_MKDTEMP);
  /* The name made is in req->path; the template is left alone (libuv
   * copies it). */
  path = lure_fs_get_path(&req);
  ck_assert_ptr_nonnull(path);
  ck_assert_ptr_eq(path, req.path);
  ck_assert_uint_eq(strlen(path), n);
  ck_assert_int_eq(strncmp(path, tpl, n - 6), 0);
  ck_assert_str_ne(path + n - 6, "XXXXXX");
  ck_assert_str_eq(tpl + n - 6, "XXXXXX");
  st = pstat(path);
  ck_assert(S_ISDIR(st.st_mode));
  ck_assert_int_eq(st.st_mode & 07777, 0700);
  snprintf(made, sizeof(made), "%s", path);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.path);
  /* A second one gets another name. */
  FS_EQ(&req, lure_fs_mkdtemp(L, &req, tpl, LT_FS_CB), 0);
  ck_assert_str_ne(req.path, made);
  ck_assert(lt_fs_exists(req.path));
  lure_fs_req_cleanup(&req);
  ck_assert(lt_fs_exists(made));
  lt_fs_end();
}
END_TEST

START_TEST(fs_mkstemp) {
  lure_fs_t req;
  char tpl[PATH_MAX];
  const char *path;
  struct stat st;
  size_t n;
  int fd;
  char buf[8];

  lt_fs_begin(_i, 20000);
  snprintf(tpl, sizeof(tpl), "%s", lt_fs_path("tmpf-XXXXXX"));
  n = strlen(tpl);
  fd = (int) FS(&req, lure_fs_mkstemp(L, &req, tpl, LT_FS_CB));
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_MKSTEMP);
  path = lure_fs_get_path(&req);
  ck_assert_ptr_nonnull(path);
  ck_assert_uint_eq(strlen(path), n);
  ck_assert_int_eq(strncmp(path, tpl, n - 6), 0);
  ck_assert_str_ne(path + n - 6, "XXXXXX");
  ck_assert_str_eq(tpl + n - 6, "XXXXXX");
  st = pstat(path);
  ck_assert(S_ISREG(st.st_mode));
  ck_assert_int_eq(st.st_mode & 07777, 0600);
  ck_assert_int_eq(st.st_size, 0);
  ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  ck_assert_int_eq(write(fd, "abc", 3), 3);
  ck_assert_int_eq(lt_fs_read_file(path, buf, sizeof(buf)), 3);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.path);
  FS_OK(&req, lure_fs_close(L, &req, fd, LT_FS_CB), 0);
  lt_fs_end();
}
END_TEST

/* ---- directories --------------------------------------------------------- */

static void make_tree(void) {
  ck_assert_int_eq(mkdir(lt_fs_path("sd"), 0755), 0);
  lt_fs_write_file(lt_fs_path("sd/b"), "b", 1);
  lt_fs_write_file(lt_fs_path("sd/a"), "a", 1);
  ck_assert_int_eq(mkdir(lt_fs_path("sd/c"), 0755), 0);
  ck_assert_int_eq(symlink("a", lt_fs_path("sd/l")), 0);
}

static lure_dirent_type_t tree_type(const char *name) {
  if (strcmp(name, "c") == 0) return LURE_DIRENT_DIR;
  if (strcmp(name, "l") == 0) return LURE_DIRENT_LINK;
  return LURE_DIRENT_FILE;
}

START_TEST(fs_scandir) {
  static const char *want[] = { "a", "b", "c", "l" };
  lure_fs_t req;
  lure_dirent_t ent;
  int k;

  lt_fs_begin(_i, 20000);
  make_tree();
  FS_EQ(&req, lure_fs_scandir(L, &req, lt_fs_path("sd"), 0, LT_FS_CB), 4);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_SCANDIR);
  /* Entries come sorted, without "." and "..", as libuv's. */
  for (k = 0; k < 4; k++) {
    ck_assert_int_eq(lure_fs_scandir_next(&req, &ent), 0);
    ck_assert_ptr_nonnull(ent.name);
    ck_assert_str_eq(ent.name, want[k]);
    ck_assert_int_eq(ent.type, tree_type(ent.name));
  }
  ck_assert_int_eq(lure_fs_scandir_next(&req, &ent), LURE_EOF);
  ck_assert_int_eq(lure_fs_scandir_next(&req, &ent), LURE_EOF);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.ptr);

  /* An empty directory. */
  FS_EQ(&req, lure_fs_scandir(L, &req, lt_fs_path("sd/c"), 0, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_scandir_next(&req, &ent), LURE_EOF);
  lure_fs_req_cleanup(&req);

  /* Cleaned up without reading every entry: no leak (LSan). */
  FS_EQ(&req, lure_fs_scandir(L, &req, lt_fs_path("sd"), 0, LT_FS_CB), 4);
  ck_assert_int_eq(lure_fs_scandir_next(&req, &ent), 0);
  lure_fs_req_cleanup(&req);
  lt_fs_end();
}
END_TEST

START_TEST(fs_opendir_readdir_closedir) {
  lure_fs_t req;
  lure_dirent_t ents[3];
  lure_dir_t *dir;
  char seen[8] = { 0 };
  int total = 0;
  int calls = 0;
  ssize_t n;
  int k;

  lt_fs_begin(_i, 20000);
  make_tree();
  FS_EQ(&req, lure_fs_opendir(L, &req, lt_fs_path("sd"), LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_OPENDIR);
  dir = req.ptr;
  ck_assert_ptr_nonnull(dir);
  lure_fs_req_cleanup(&req);
  dir->dirents = ents;
  dir->nentries = 3;
  for (;;) {
    n = FS(&req, lure_fs_readdir(L, &req, dir, LT_FS_CB));
    ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_READDIR);
    ck_assert_int_ge(n, 0);
    ck_assert_int_le(n, 3);
    calls++;
    ck_assert_int_le(calls, 10);
    if (n == 0) {
      lure_fs_req_cleanup(&req);
      break;
    }
    for (k = 0; k < n; k++) {
      const char *name = ents[k].name;

      ck_assert_ptr_nonnull(name);
      ck_assert_msg(strlen(name) == 1 && strchr("abcl", name[0]) != NULL,
                    "readdir gave \"%s\"", name);
      ck_assert_msg(!seen[strchr("abcl", name[0]) - "abcl"],
                    "readdir gave \"%s\" twice", name);
      seen[strchr("abcl", name[0]) - "abcl"] = 1;
      ck_assert_int_eq(ents[k].type, tree_type(name));
      total++;
    }
    lure_fs_req_cleanup(&req);
  }
  ck_assert_int_eq(total, 4);
  ck_assert_int_ge(calls, 3); /* 3 + 1 + the end */
  FS_OK(&req, lure_fs_closedir(L, &req, dir, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_CLOSEDIR);

  /* Open and close without reading. */
  FS_EQ(&req, lure_fs_opendir(L, &req, lt_fs_path("sd/c"), LT_FS_CB), 0);
  dir = req.ptr;
  lure_fs_req_cleanup(&req);
  dir->dirents = ents;
  dir->nentries = 3;
  FS_OK(&req, lure_fs_readdir(L, &req, dir, LT_FS_CB), 0);
  FS_OK(&req, lure_fs_closedir(L, &req, dir, LT_FS_CB), 0);
  lt_fs_end();
}
END_TEST

/* ---- stat ---------------------------------------------------------------- */

static void same_stat(const lure_stat_t *l, const struct stat *s) {
  ck_assert_uint_eq(l->st_dev, (uint64_t) s->st_dev);
  ck_assert_uint_eq(l->st_ino, (uint64_t) s->st_ino);
  ck_assert_uint_eq(l->st_mode, (uint64_t) s->st_mode);
  ck_assert_uint_eq(l->st_nlink, (uint64_t) s->st_nlink);
  ck_assert_uint_eq(l->st_uid, (uint64_t) s->st_uid);
  ck_assert_uint_eq(l->st_gid, (uint64_t) s->st_gid);
  ck_assert_uint_eq(l->st_size, (uint64_t) s->st_size);
  ck_assert_uint_eq(l->st_blocks, (uint64_t) s->st_blocks);
  ck_assert_uint_eq(l->st_blksize, (uint64_t) s->st_blksize);
  ck_assert_int_eq(l->st_mtim.tv_sec, s->st_mtim.tv_sec);
  ck_assert_int_eq(l->st_mtim.tv_nsec, s->st_mtim.tv_nsec);
  ck_assert_int_eq(l->st_atim.tv_sec, s->st_atim.tv_sec);
  ck_assert_int_eq(l->st_ctim.tv_sec, s->st_ctim.tv_sec);
  ck_assert_int_eq(l->st_ctim.tv_nsec, s->st_ctim.tv_nsec);
}

START_TEST(fs_stat_fstat_lstat) {
  lure_fs_t req;
  char data[1234];
  struct stat st;
  int fd;

  lt_fs_begin(_i, 20000);
  lt_fs_pattern(data, sizeof(data), 1);
  lt_fs_write_file(lt_fs_path("f"), data, sizeof(data));
  ck_assert_int_eq(chmod(lt_fs_path("f"), 0640), 0);
  ck_assert_int_eq(symlink("f", lt_fs_path("l")), 0);

  memset(&req.statbuf, 0xa5, sizeof(req.statbuf));
  FS_EQ(&req, lure_fs_stat(L, &req, lt_fs_path("f"), LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_STAT);
  st = pstat(lt_fs_path("f"));
  ck_assert_uint_eq(req.statbuf.st_size, 1234);
  ck_assert_uint_eq(req.statbuf.st_mode, S_IFREG | 0640);
  ck_assert_uint_eq(req.statbuf.st_nlink, 1);
  ck_assert_uint_eq(req.statbuf.st_uid, getuid());
  same_stat(&req.statbuf, &st);
  ck_assert_ptr_eq(lure_fs_get_statbuf(&req), &req.statbuf);
  ck_assert_ptr_eq(req.ptr, &req.statbuf);
  lure_fs_req_cleanup(&req);

  /* stat follows the link; lstat does not. */
  FS_EQ(&req, lure_fs_stat(L, &req, lt_fs_path("l"), LT_FS_CB), 0);
  same_stat(&req.statbuf, &st);
  lure_fs_req_cleanup(&req);
  FS_EQ(&req, lure_fs_lstat(L, &req, lt_fs_path("l"), LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_LSTAT);
  ck_assert(S_ISLNK(req.statbuf.st_mode));
  ck_assert_uint_eq(req.statbuf.st_size, 1); /* strlen("f") */
  {
    struct stat ls = plstat(lt_fs_path("l"));

    same_stat(&req.statbuf, &ls);
  }
  lure_fs_req_cleanup(&req);
  /* lstat of a plain file is its stat. */
  FS_EQ(&req, lure_fs_lstat(L, &req, lt_fs_path("f"), LT_FS_CB), 0);
  same_stat(&req.statbuf, &st);
  lure_fs_req_cleanup(&req);

  fd = popen_fd(lt_fs_path("f"), O_RDONLY);
  FS_EQ(&req, lure_fs_fstat(L, &req, fd, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_FSTAT);
  same_stat(&req.statbuf, &st);
  lure_fs_req_cleanup(&req);
  close(fd);

  FS_EQ(&req, lure_fs_stat(L, &req, lt_fs.dir, LT_FS_CB), 0);
  ck_assert(S_ISDIR(req.statbuf.st_mode));
  lure_fs_req_cleanup(&req);
  lt_fs_end();
}
END_TEST

START_TEST(fs_statfs) {
  lure_fs_t req;
  lure_statfs_t *s;
  struct statfs sf;

  lt_fs_begin(_i, 20000);
  FS_EQ(&req, lure_fs_statfs(L, &req, lt_fs.dir, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_STATFS);
  s = lure_fs_get_ptr(&req);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(statfs(lt_fs.dir, &sf), 0);
  ck_assert_uint_eq(s->f_type, (uint64_t) sf.f_type);
  ck_assert_uint_eq(s->f_bsize, (uint64_t) sf.f_bsize);
  ck_assert_uint_eq(s->f_blocks, (uint64_t) sf.f_blocks);
  ck_assert_uint_eq(s->f_files, (uint64_t) sf.f_files);
  ck_assert_uint_gt(s->f_bfree, 0);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.ptr);
  lt_fs_end();
}
END_TEST

/* ---- rename, fsync, ftruncate -------------------------------------------- */

START_TEST(fs_rename) {
  lure_fs_t req;
  char buf[8];
  ino_t ino;

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("a"), "aaa", 3);
  ino = pstat(lt_fs_path("a")).st_ino;
  FS_OK(&req, lure_fs_rename(L, &req, lt_fs_path("a"), lt_fs_path("b"), LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_RENAME);
  ck_assert(!lt_fs_exists(lt_fs_path("a")));
  ck_assert_int_eq(pstat(lt_fs_path("b")).st_ino, ino);
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("b"), buf, sizeof(buf)), 3);
  /* Over an existing file: replaced. */
  lt_fs_write_file(lt_fs_path("c"), "cccccc", 6);
  FS_OK(&req, lure_fs_rename(L, &req, lt_fs_path("b"), lt_fs_path("c"), LT_FS_CB), 0);
  ck_assert(!lt_fs_exists(lt_fs_path("b")));
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("c"), buf, sizeof(buf)), 3);
  ck_assert_int_eq(memcmp(buf, "aaa", 3), 0);
  /* Directories, with their contents. */
  ck_assert_int_eq(mkdir(lt_fs_path("d"), 0755), 0);
  lt_fs_write_file(lt_fs_path("d/x"), "x", 1);
  FS_OK(&req, lure_fs_rename(L, &req, lt_fs_path("d"), lt_fs_path("e"), LT_FS_CB), 0);
  ck_assert(lt_fs_exists(lt_fs_path("e/x")));
  ck_assert(!lt_fs_exists(lt_fs_path("d")));
  lt_fs_end();
}
END_TEST

START_TEST(fs_fsync_fdatasync) {
  lure_fs_t req;
  int fd;

  lt_fs_begin(_i, 20000);
  fd = popen_fd(lt_fs_path("f"), O_RDWR | O_CREAT);
  ck_assert_int_eq(write(fd, "data", 4), 4);
  FS_OK(&req, lure_fs_fsync(L, &req, fd, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_FSYNC);
  ck_assert_int_eq(write(fd, "more", 4), 4);
  FS_OK(&req, lure_fs_fdatasync(L, &req, fd, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_FDATASYNC);
  close(fd);
  /* A read-only fd and a directory fd sync too. */
  fd = popen_fd(lt_fs_path("f"), O_RDONLY);
  FS_OK(&req, lure_fs_fsync(L, &req, fd, LT_FS_CB), 0);
  close(fd);
  fd = popen_fd(lt_fs.dir, O_RDONLY | O_DIRECTORY);
  FS_OK(&req, lure_fs_fsync(L, &req, fd, LT_FS_CB), 0);
  FS_OK(&req, lure_fs_fdatasync(L, &req, fd, LT_FS_CB), 0);
  close(fd);
  lt_fs_end();
}
END_TEST

START_TEST(fs_ftruncate) {
  lure_fs_t req;
  char data[100];
  char buf[6000];
  int fd;
  int k;

  lt_fs_begin(_i, 20000);
  lt_fs_pattern(data, sizeof(data), 2);
  lt_fs_write_file(lt_fs_path("f"), data, sizeof(data));
  fd = popen_fd(lt_fs_path("f"), O_RDWR);
  FS_OK(&req, lure_fs_ftruncate(L, &req, fd, 10, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_FTRUNCATE);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_size, 10);
  FS_OK(&req, lure_fs_ftruncate(L, &req, fd, 5000, LT_FS_CB), 0);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_size, 5000);
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("f"), buf, sizeof(buf)), 5000);
  ck_assert_int_eq(memcmp(buf, data, 10), 0);
  for (k = 10; k < 5000; k++)
    ck_assert_int_eq(buf[k], 0);
  FS_OK(&req, lure_fs_ftruncate(L, &req, fd, 0, LT_FS_CB), 0);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_size, 0);
  close(fd);
  lt_fs_end();
}
END_TEST

/* ---- copyfile, sendfile -------------------------------------------------- */

static void same_content(const char *a, const char *b, size_t cap) {
  char *x = malloc(cap);
  char *y = malloc(cap);
  size_t nx = lt_fs_read_file(a, x, cap);
  size_t ny = lt_fs_read_file(b, y, cap);

  ck_assert_msg(nx == ny, "%s has %zu bytes, %s %zu", a, nx, b, ny);
  ck_assert_msg(memcmp(x, y, nx) == 0, "%s and %s differ", a, b);
  free(x);
  free(y);
}

START_TEST(fs_copyfile) {
  enum { N = 300000 };
  lure_fs_t req;
  char *data = malloc(N);
  char buf[16];
  ssize_t r;

  lt_fs_begin(_i, 20000);
  lt_fs_pattern(data, N, 3);
  lt_fs_write_file(lt_fs_path("src"), data, N);
  ck_assert_int_eq(chmod(lt_fs_path("src"), 0640), 0);

  /* Plain: content and mode. */
  FS_OK(&req, lure_fs_copyfile(L, &req, lt_fs_path("src"), lt_fs_path("dst"), 0, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_COPYFILE);
  same_content(lt_fs_path("src"), lt_fs_path("dst"), N + 16);
  ck_assert_int_eq(pstat(lt_fs_path("dst")).st_mode & 07777, 0640);

  /* Over a bigger existing file: truncated to the source. */
  lt_fs_write_file(lt_fs_path("big"), data, N);
  lt_fs_write_file(lt_fs_path("big2"), data, 100);
  FS_OK(&req, lure_fs_copyfile(L, &req, lt_fs_path("big2"), lt_fs_path("big"), 0, LT_FS_CB), 0);
  ck_assert_int_eq(pstat(lt_fs_path("big")).st_size, 100);

  /* EXCL on an existing file: EEXIST, the file untouched. */
  lt_fs_write_file(lt_fs_path("keep"), "keep", 4);
  FS_OK(&req, lure_fs_copyfile(L, &req, lt_fs_path("src"), lt_fs_path("keep"),
                               LURE_FS_COPYFILE_EXCL, LT_FS_CB), LURE_EEXIST);
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("keep"), buf, sizeof(buf)), 4);
  ck_assert_int_eq(memcmp(buf, "keep", 4), 0);
  /* EXCL on a new name works. */
  FS_OK(&req, lure_fs_copyfile(L, &req, lt_fs_path("src"), lt_fs_path("new"),
                               LURE_FS_COPYFILE_EXCL, LT_FS_CB), 0);
  same_content(lt_fs_path("src"), lt_fs_path("new"), N + 16);

  /* FICLONE falls back to copying where the file system cannot clone. */
  FS_OK(&req, lure_fs_copyfile(L, &req, lt_fs_path("src"), lt_fs_path("clone"),
                               LURE_FS_COPYFILE_FICLONE, LT_FS_CB), 0);
  same_content(lt_fs_path("src"), lt_fs_path("clone"), N + 16);
  /* FICLONE_FORCE: clones, or says it cannot. */
  r = FS(&req, lure_fs_copyfile(L, &req, lt_fs_path("src"), lt_fs_path("forced"),
                                LURE_FS_COPYFILE_FICLONE_FORCE, LT_FS_CB));
  lure_fs_req_cleanup(&req);
  ck_assert_msg(r == 0 || r == LURE_ENOTSUP || r == LURE_EXDEV,
                "copyfile FICLONE_FORCE: %s", lt_err(r));
  if (r == 0)
    same_content(lt_fs_path("src"), lt_fs_path("forced"), N + 16);

  /* An empty file. */
  lt_fs_write_file(lt_fs_path("empty"), "", 0);
  FS_OK(&req, lure_fs_copyfile(L, &req, lt_fs_path("empty"), lt_fs_path("empty2"), 0, LT_FS_CB),
        0);
  ck_assert_int_eq(pstat(lt_fs_path("empty2")).st_size, 0);

  /* Onto itself: a no-op that keeps the data (libuv). */
  FS_OK(&req, lure_fs_copyfile(L, &req, lt_fs_path("src"), lt_fs_path("src"), 0, LT_FS_CB), 0);
  ck_assert_int_eq(pstat(lt_fs_path("src")).st_size, N);
  free(data);
  lt_fs_end();
}
END_TEST

START_TEST(fs_sendfile) {
  enum { N = 10000 };
  lure_fs_t req;
  char *data = malloc(N);
  char *buf = malloc(N);
  int in;
  int out;

  lt_fs_begin(_i, 20000);
  lt_fs_pattern(data, N, 4);
  lt_fs_write_file(lt_fs_path("in"), data, N);
  in = popen_fd(lt_fs_path("in"), O_RDONLY);
  out = popen_fd(lt_fs_path("out"), O_WRONLY | O_CREAT | O_TRUNC);
  FS_OK(&req, lure_fs_sendfile(L, &req, out, in, 100, 5000, LT_FS_CB), 5000);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_SENDFILE);
  /* in_offset is explicit: the input's position does not move; the output
   * is written at its position. */
  ck_assert_int_eq(fpos(in), 0);
  ck_assert_int_eq(fpos(out), 5000);
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("out"), buf, N), 5000);
  ck_assert_int_eq(memcmp(buf, data + 100, 5000), 0);
  /* Short at the end of the input, 0 beyond it. */
  FS_OK(&req, lure_fs_sendfile(L, &req, out, in, 9000, 5000, LT_FS_CB), 1000);
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("out"), buf, N), 6000);
  ck_assert_int_eq(memcmp(buf + 5000, data + 9000, 1000), 0);
  FS_OK(&req, lure_fs_sendfile(L, &req, out, in, N + 10, 100, LT_FS_CB), 0);
  close(in);
  close(out);
  free(data);
  free(buf);
  lt_fs_end();
}
END_TEST

/* ---- access, chmod, utime ------------------------------------------------ */

START_TEST(fs_access) {
  lure_fs_t req;

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  ck_assert_int_eq(chmod(lt_fs_path("f"), 0644), 0);
  FS_OK(&req, lure_fs_access(L, &req, lt_fs_path("f"), F_OK, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_ACCESS);
  FS_OK(&req, lure_fs_access(L, &req, lt_fs_path("f"), R_OK | W_OK, LT_FS_CB), 0);
  /* No execute bit: EACCES, even for root. */
  FS_OK(&req, lure_fs_access(L, &req, lt_fs_path("f"), X_OK, LT_FS_CB), LURE_EACCES);
  ck_assert_int_eq(chmod(lt_fs_path("f"), 0755), 0);
  FS_OK(&req, lure_fs_access(L, &req, lt_fs_path("f"), X_OK, LT_FS_CB), 0);
  FS_OK(&req, lure_fs_access(L, &req, lt_fs_path("nope"), F_OK, LT_FS_CB), LURE_ENOENT);
  lt_fs_end();
}
END_TEST

START_TEST(fs_chmod_fchmod) {
  lure_fs_t req;
  int fd;

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  FS_OK(&req, lure_fs_chmod(L, &req, lt_fs_path("f"), 0600, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_CHMOD);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_mode & 07777, 0600);
  FS_OK(&req, lure_fs_chmod(L, &req, lt_fs_path("f"), 0751, LT_FS_CB), 0);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_mode & 07777, 0751);
  fd = popen_fd(lt_fs_path("f"), O_RDONLY);
  FS_OK(&req, lure_fs_fchmod(L, &req, fd, 0640, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_FCHMOD);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_mode & 07777, 0640);
  FS_OK(&req, lure_fs_fchmod(L, &req, fd, 0400, LT_FS_CB), 0);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_mode & 07777, 0400);
  close(fd);
  /* A directory. */
  ck_assert_int_eq(mkdir(lt_fs_path("d"), 0755), 0);
  FS_OK(&req, lure_fs_chmod(L, &req, lt_fs_path("d"), 0700, LT_FS_CB), 0);
  ck_assert_int_eq(pstat(lt_fs_path("d")).st_mode & 07777, 0700);
  lt_fs_end();
}
END_TEST

static void check_time(lure_timespec_t got, long sec, long nsec) {
  long d = got.tv_nsec - nsec;

  ck_assert_int_eq(got.tv_sec, sec);
  ck_assert_msg(d > -2000 && d < 2000, "tv_nsec %ld, want %ld", got.tv_nsec,
                nsec);
}

static void check_ptime(struct timespec got, long sec, long nsec) {
  lure_timespec_t t;

  t.tv_sec = got.tv_sec;
  t.tv_nsec = got.tv_nsec;
  check_time(t, sec, nsec);
}

START_TEST(fs_utime_futime_lutime) {
  lure_fs_t req;
  struct stat st;
  int fd;

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  ck_assert_int_eq(symlink("f", lt_fs_path("l")), 0);

  FS_OK(&req, lure_fs_utime(L, &req, lt_fs_path("f"), 1000000000.25, 1234567890.5,
                            LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_UTIME);
  st = pstat(lt_fs_path("f"));
  check_ptime(st.st_atim, 1000000000, 250000000);
  check_ptime(st.st_mtim, 1234567890, 500000000);
  /* And as lure's stat reports it. */
  FS_EQ(&req, lure_fs_stat(L, &req, lt_fs_path("f"), LT_FS_CB), 0);
  check_time(req.statbuf.st_mtim, 1234567890, 500000000);
  check_time(req.statbuf.st_atim, 1000000000, 250000000);
  lure_fs_req_cleanup(&req);
  /* utime through the link changes the target. */
  FS_OK(&req, lure_fs_utime(L, &req, lt_fs_path("l"), 1300000000, 1300000001, LT_FS_CB),
        0);
  check_ptime(pstat(lt_fs_path("f")).st_mtim, 1300000001, 0);

  fd = popen_fd(lt_fs_path("f"), O_RDONLY);
  FS_OK(&req, lure_fs_futime(L, &req, fd, 1500000000.0, 1600000000.75,
                             LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_FUTIME);
  close(fd);
  st = pstat(lt_fs_path("f"));
  check_ptime(st.st_atim, 1500000000, 0);
  check_ptime(st.st_mtim, 1600000000, 750000000);

  /* lutime changes the link, not its target. */
  FS_OK(&req, lure_fs_lutime(L, &req, lt_fs_path("l"), 1111111111.0, 1222222222.0,
                             LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_LUTIME);
  st = plstat(lt_fs_path("l"));
  check_ptime(st.st_mtim, 1222222222, 0);
  check_ptime(st.st_atim, 1111111111, 0);
  check_ptime(pstat(lt_fs_path("f")).st_mtim, 1600000000, 750000000);
  FS_EQ(&req, lure_fs_lstat(L, &req, lt_fs_path("l"), LT_FS_CB), 0);
  check_time(req.statbuf.st_mtim, 1222222222, 0);
  lure_fs_req_cleanup(&req);
  lt_fs_end();
}
END_TEST

/* ---- links --------------------------------------------------------------- */

START_TEST(fs_link_symlink_readlink_realpath) {
  lure_fs_t req;
  char want[PATH_MAX];
  struct stat st;

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  FS_OK(&req, lure_fs_link(L, &req, lt_fs_path("f"), lt_fs_path("g"), LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_LINK);
  st = pstat(lt_fs_path("f"));
  ck_assert_int_eq(st.st_nlink, 2);
  ck_assert_int_eq(pstat(lt_fs_path("g")).st_ino, st.st_ino);

  FS_OK(&req, lure_fs_symlink(L, &req, "f", lt_fs_path("s"), 0, LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_SYMLINK);
  ck_assert(S_ISLNK(plstat(lt_fs_path("s")).st_mode));
  ck_assert_int_eq(pstat(lt_fs_path("s")).st_ino, st.st_ino);
  /* The DIR flag is ignored on Linux. */
  ck_assert_int_eq(mkdir(lt_fs_path("d"), 0755), 0);
  FS_OK(&req, lure_fs_symlink(L, &req, "d", lt_fs_path("sd"), LURE_FS_SYMLINK_DIR,
                              LT_FS_CB), 0);
  ck_assert(S_ISDIR(pstat(lt_fs_path("sd")).st_mode));
  /* A dangling link. */
  FS_OK(&req, lure_fs_symlink(L, &req, "nowhere/x", lt_fs_path("dang"), 0, LT_FS_CB), 0);
  ck_assert(S_ISLNK(plstat(lt_fs_path("dang")).st_mode));

  FS_EQ(&req, lure_fs_readlink(L, &req, lt_fs_path("s"), LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_READLINK);
  ck_assert_ptr_nonnull(req.ptr);
  ck_assert_str_eq((char *) req.ptr, "f");
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.ptr);
  FS_EQ(&req, lure_fs_readlink(L, &req, lt_fs_path("dang"), LT_FS_CB), 0);
  ck_assert_str_eq((char *) req.ptr, "nowhere/x");
  lure_fs_req_cleanup(&req);

  ck_assert_ptr_nonnull(realpath(lt_fs_path("f"), want));
  FS_EQ(&req, lure_fs_realpath(L, &req, lt_fs_path("s"), LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_REALPATH);
  ck_assert_ptr_nonnull(req.ptr);
  ck_assert_str_eq((char *) req.ptr, want);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.ptr);
  ck_assert_ptr_nonnull(realpath(lt_fs_path("d"), want));
  FS_EQ(&req, lure_fs_realpath(L, &req, lt_fs_path("d/../sd/./"), LT_FS_CB), 0);
  ck_assert_str_eq((char *) req.ptr, want);
  lure_fs_req_cleanup(&req);
  lt_fs_end();
}
END_TEST

START_TEST(fs_chown_fchown_lchown) {
  lure_fs_t req;
  int fd;

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  ck_assert_int_eq(symlink("f", lt_fs_path("l")), 0);
  FS_OK(&req, lure_fs_chown(L, &req, lt_fs_path("f"), getuid(), getgid(), LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_CHOWN);
  fd = popen_fd(lt_fs_path("f"), O_RDONLY);
  FS_OK(&req, lure_fs_fchown(L, &req, fd, getuid(), getgid(), LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_FCHOWN);
  FS_OK(&req, lure_fs_lchown(L, &req, lt_fs_path("l"), getuid(), getgid(), LT_FS_CB), 0);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_LCHOWN);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_uid, getuid());
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_gid, getgid());
  if (lt_is_root()) {
    /* Root can give files away: the change must show. */
    FS_OK(&req, lure_fs_chown(L, &req, lt_fs_path("f"), 65534, 65534, LT_FS_CB), 0);
    ck_assert_int_eq(pstat(lt_fs_path("f")).st_uid, 65534);
    ck_assert_int_eq(pstat(lt_fs_path("f")).st_gid, 65534);
    FS_OK(&req, lure_fs_fchown(L, &req, fd, 0, (gid_t) -1, LT_FS_CB), 0);
    ck_assert_int_eq(pstat(lt_fs_path("f")).st_uid, 0);
    ck_assert_int_eq(pstat(lt_fs_path("f")).st_gid, 65534);
    FS_OK(&req, lure_fs_lchown(L, &req, lt_fs_path("l"), 65534, 65534, LT_FS_CB), 0);
    ck_assert_int_eq(plstat(lt_fs_path("l")).st_uid, 65534);
    ck_assert_int_eq(pstat(lt_fs_path("f")).st_uid, 0);
  }
  close(fd);
  lt_fs_end();
}
END_TEST

/* ---- cleanup and getters ------------------------------------------------- */

START_TEST(fs_getters_cleanup) {
  lure_fs_t req;
  int marker;

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("f"), "abc", 3);

  memset(&req, 0, sizeof(req));
  req.data = &marker;
  FS_EQ(&req, lure_fs_stat(L, &req, lt_fs_path("f"), LT_FS_CB), 0);
  ck_assert_ptr_eq(req.data, &marker);
  ck_assert_int_eq(req.type, LURE_FS);
  ck_assert_ptr_eq(req.loop, L);
  ck_assert_int_eq(req.fs_type, LURE_FS_STAT);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_STAT);
  ck_assert_int_eq(lure_fs_get_result(&req), 0);
  ck_assert_int_eq(lure_fs_get_system_error(&req), 0);
  ck_assert_ptr_eq(lure_fs_get_statbuf(&req), &req.statbuf);
  ck_assert_ptr_eq(lure_fs_get_ptr(&req), &req.statbuf);
  ck_assert_str_eq(lure_fs_get_path(&req), lt_fs_path("f"));
  ck_assert_uint_eq(lure_fs_get_statbuf(&req)->st_size, 3);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.path);
  /* Twice is harmless; so is NULL. */
  lure_fs_req_cleanup(&req);
  lure_fs_req_cleanup(NULL);

  FS_EQ(&req, lure_fs_stat(L, &req, lt_fs_path("missing"), LT_FS_CB), LURE_ENOENT);
  ck_assert_int_eq(lure_fs_get_result(&req), LURE_ENOENT);
  ck_assert_int_eq(lure_fs_get_system_error(&req), ENOENT);
  ck_assert_int_eq(lure_fs_get_type(&req), LURE_FS_STAT);
  lure_fs_req_cleanup(&req);

  /* The caller's path buffer may change after an asynchronous call
   * returns. */
  {
    char path[PATH_MAX];
    int rc;

    snprintf(path, sizeof(path), "%s", lt_fs_path("f"));
    rc = lure_fs_stat(L, &req, path, LT_FS_CB);
    ck_assert_int_eq(rc, 0);
    memset(path, 'z', 40);
    if (lt_fs.async) {
      ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
      ck_assert_ptr_eq(lt_fs.last, &req);
    }
    ck_assert_int_eq(req.result, 0);
    ck_assert_uint_eq(req.statbuf.st_size, 3);
    if (lt_fs.async) {
      /* Asynchronous: the request's own copy. */
      ck_assert_str_eq(lure_fs_get_path(&req), lt_fs_path("f"));
    } else {
      /* Synchronous: the caller's string itself, as libuv. */
      ck_assert_ptr_eq(lure_fs_get_path(&req), path);
    }
    lure_fs_req_cleanup(&req);
    ck_assert_ptr_null(req.path);
  }

  /* Requests that allocate: readlink, realpath, scandir, statfs, mkdtemp.
   * After cleanup ptr (and path) are NULL; LSan checks the rest. */
  ck_assert_int_eq(symlink("f", lt_fs_path("l")), 0);
  FS_EQ(&req, lure_fs_readlink(L, &req, lt_fs_path("l"), LT_FS_CB), 0);
  ck_assert_ptr_eq(lure_fs_get_ptr(&req), req.ptr);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.ptr);
  ck_assert_ptr_null(req.path);
  FS_EQ(&req, lure_fs_realpath(L, &req, lt_fs_path("l"), LT_FS_CB), 0);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.ptr);
  FS_EQ(&req, lure_fs_scandir(L, &req, lt_fs.dir, 0, LT_FS_CB), 2);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.ptr);
  FS_EQ(&req, lure_fs_statfs(L, &req, lt_fs.dir, LT_FS_CB), 0);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.ptr);
  lt_fs_end();
}
END_TEST

/* ---- O_DIRECT ------------------------------------------------------------ */

START_TEST(fs_direct_read_write) {
  lure_fs_t req;
  lure_buf_t b[2];
  unsigned char *w;
  unsigned char *r;
  int fd;

  if (!lt_fs_facts.direct_ok)
    return;
  lt_fs_begin(_i, 20000);
  w = lt_fs_aligned(4096, 16384);
  r = lt_fs_aligned(4096, 16384);
  lt_fs_pattern(w, 16384, 5);
  fd = popen_fd(lt_fs_path("f"), O_RDWR | O_CREAT | O_DIRECT);
  b[0] = lure_buf_init((char *) w, 8192);
  ck_assert_int_eq(FSK(&req, FX_DIRECT,
                       lure_fs_write(L, &req, fd, b, 1, 4096, LT_FS_CB)), 8192);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_size, 12288);
  memset(r, 0, 16384);
  b[0] = lure_buf_init((char *) r, 8192);
  ck_assert_int_eq(FSK(&req, FX_DIRECT,
                       lure_fs_read(L, &req, fd, b, 1, 4096, LT_FS_CB)), 8192);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(memcmp(r, w, 8192), 0);
  /* Vectored, both ways. */
  b[0] = lure_buf_init((char *) w + 8192, 4096);
  b[1] = lure_buf_init((char *) w + 12288, 4096);
  ck_assert_int_eq(FSK(&req, FX_DIRECT,
                       lure_fs_write(L, &req, fd, b, 2, 0, LT_FS_CB)), 8192);
  lure_fs_req_cleanup(&req);
  memset(r, 0, 16384);
  b[0] = lure_buf_init((char *) r + 8192, 4096);
  b[1] = lure_buf_init((char *) r, 8192);
  ck_assert_int_eq(FSK(&req, FX_DIRECT,
                       lure_fs_read(L, &req, fd, b, 2, 0, LT_FS_CB)), 12288);
  lure_fs_req_cleanup(&req);
  /* The file is now w[8192..16384) then w[4096..8192). */
  ck_assert_int_eq(memcmp(r + 8192, w + 8192, 4096), 0);
  ck_assert_int_eq(memcmp(r, w + 12288, 4096), 0);
  ck_assert_int_eq(memcmp(r + 4096, w + 4096, 4096), 0);
  /* At and past the end: 0. */
  b[0] = lure_buf_init((char *) r, 4096);
  ck_assert_int_eq(FSK(&req, FX_DIRECT,
                       lure_fs_read(L, &req, fd, b, 1, 12288, LT_FS_CB)), 0);
  lure_fs_req_cleanup(&req);
  /* At the current position: not AIO's (no offset), but it works. */
  ck_assert_int_eq(lseek(fd, 4096, SEEK_SET), 4096);
  ck_assert_int_eq(FSK(&req, FX_DIRECT_CUR,
                       lure_fs_read(L, &req, fd, b, 1, -1, LT_FS_CB)), 4096);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(fpos(fd), 8192);
  ck_assert_int_eq(memcmp(r, w + 12288, 4096), 0);
  /* A write at the current position moves it too. */
  ck_assert_int_eq(lseek(fd, 12288, SEEK_SET), 12288);
  b[0] = lure_buf_init((char *) w, 4096);
  ck_assert_int_eq(FSK(&req, FX_DIRECT_CUR,
                       lure_fs_write(L, &req, fd, b, 1, -1, LT_FS_CB)), 4096);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(fpos(fd), 16384);
  ck_assert_int_eq(pstat(lt_fs_path("f")).st_size, 16384);
  /* fsync and fdatasync of an O_DIRECT fd. */
  ck_assert_int_eq(FSK(&req, FX_DIRECT_SYNC,
                       lure_fs_fsync(L, &req, fd, LT_FS_CB)), 0);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(FSK(&req, FX_DIRECT_SYNC,
                       lure_fs_fdatasync(L, &req, fd, LT_FS_CB)), 0);
  lure_fs_req_cleanup(&req);
  close(fd);
  free(w);
  free(r);
  lt_fs_end();
}
END_TEST

/* ---- what libuv 1.44's own fs tests check ------------------------------- */

/* scandir of an empty directory: result 0, ptr NULL, scandir_next EOF
 * (libuv's fs_scandir_empty_dir); of a missing one or a file: the error,
 * ptr NULL, and scandir_next returns the error. */
START_TEST(fs_scandir_empty_ptr_null) {
  lure_fs_t req;
  lure_dirent_t ent;

  lt_fs_begin(_i, 20000);
  ck_assert_int_eq(mkdir(lt_fs_path("e"), 0755), 0);
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  memset(&req, 0xdb, sizeof(req));
  FS_EQ(&req, lure_fs_scandir(L, &req, lt_fs_path("e"), 0, LT_FS_CB), 0);
  ck_assert_ptr_null(req.ptr);
  ck_assert_int_eq(lure_fs_scandir_next(&req, &ent), LURE_EOF);
  lure_fs_req_cleanup(&req);
  memset(&req, 0xdb, sizeof(req));
  FS_EQ(&req, lure_fs_scandir(L, &req, lt_fs_path("nope/"), 0, LT_FS_CB), LURE_ENOENT);
  ck_assert_ptr_null(req.ptr);
  ck_assert_int_eq(lure_fs_scandir_next(&req, &ent), LURE_ENOENT);
  lure_fs_req_cleanup(&req);
  FS_EQ(&req, lure_fs_scandir(L, &req, lt_fs_path("f"), 0, LT_FS_CB), LURE_ENOTDIR);
  ck_assert_ptr_null(req.ptr);
  lure_fs_req_cleanup(&req);
  lt_fs_end();
}
END_TEST

/* mkstemp with a bad template: LURE_EINVAL, and req->path is the empty
 * string, not NULL (libuv's fs_mkstemp checks strlen(req.path) == 0). */
START_TEST(fs_mkstemp_bad_template_path_empty) {
  static const char *bad[] = { "f", "XXXXX", "tXXXXXXy", "" };
  lure_fs_t req;
  char tpl[PATH_MAX];
  size_t k;

  lt_fs_begin(_i, 20000);
  for (k = 0; k < LT_ARRAY_SIZE(bad); k++) {
    snprintf(tpl, sizeof(tpl), "%s%s", *bad[k] != '\0' ? lt_fs_path("") : "", bad[k]);
    FS_EQ(&req, lure_fs_mkstemp(L, &req, tpl, LT_FS_CB), LURE_EINVAL);
    ck_assert_ptr_nonnull(req.path);
    ck_assert_msg(req.path[0] == '\0', "mkstemp(\"%s\") left path \"%s\"",
                  tpl, req.path);
    lure_fs_req_cleanup(&req);
    ck_assert_ptr_null(req.path);
  }
  /* A failure past the template (no such directory) clears it too. */
  snprintf(tpl, sizeof(tpl), "%s", lt_fs_path("nope/tXXXXXX"));
  FS_EQ(&req, lure_fs_mkstemp(L, &req, tpl, LT_FS_CB), LURE_ENOENT);
  ck_assert_str_eq(req.path, "");
  lure_fs_req_cleanup(&req);
  lt_fs_end();
}
END_TEST

/* lure_fs_req_cleanup() on an opendir request sets ptr to NULL, as on any
 * other, and leaves the lure_dir_t to closedir. */
START_TEST(fs_opendir_cleanup_ptr_null) {
  lure_fs_t req;
  lure_dirent_t ents[2];
  lure_dir_t *dir;

  lt_fs_begin(_i, 20000);
  ck_assert_int_eq(mkdir(lt_fs_path("d"), 0755), 0);
  lt_fs_write_file(lt_fs_path("d/x"), "x", 1);
  FS_EQ(&req, lure_fs_opendir(L, &req, lt_fs_path("d"), LT_FS_CB), 0);
  dir = req.ptr;
  ck_assert_ptr_nonnull(dir);
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.ptr);
  ck_assert_ptr_null(lure_fs_get_ptr(&req));
  dir->dirents = ents;
  dir->nentries = LT_ARRAY_SIZE(ents);
  FS_EQ(&req, lure_fs_readdir(L, &req, dir, LT_FS_CB), 1);
  ck_assert_str_eq(ents[0].name, "x");
  lure_fs_req_cleanup(&req);
  ck_assert_ptr_null(req.ptr);
  ck_assert_ptr_null(ents[0].name);
  FS_OK(&req, lure_fs_closedir(L, &req, dir, LT_FS_CB), 0);
  lt_fs_end();
}
END_TEST

/* Times are set to the microsecond, as libuv sets them: the nanoseconds
 * a double cannot hold exactly are dropped, not rounded into noise; and a
 * time before 1970 keeps a positive fraction (fs_utime_round). */
static void check_ptime_exact(struct timespec got, long sec, long nsec) {
  ck_assert_int_eq(got.tv_sec, sec);
  ck_assert_int_eq(got.tv_nsec, nsec);
}

START_TEST(fs_utime_microseconds) {
  lure_fs_t req;
  struct stat st;
  int fd;

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("f"), "x", 1);
  ck_assert_int_eq(symlink("f", lt_fs_path("l")), 0);
  FS_OK(&req, lure_fs_utime(L, &req, lt_fs_path("f"), 12345.678901234, 23456.0000019,
                            LT_FS_CB), 0);
  st = pstat(lt_fs_path("f"));
  if (st.st_mtim.tv_nsec == 0)
    return; /* a file system without sub-second times */
  check_ptime_exact(st.st_atim, 12345, 678901000);
  check_ptime_exact(st.st_mtim, 23456, 1000);
  FS_OK(&req, lure_fs_utime(L, &req, lt_fs_path("f"), -14245440.25, -0.5, LT_FS_CB), 0);
  st = pstat(lt_fs_path("f"));
  check_ptime_exact(st.st_atim, -14245441, 750000000);
  check_ptime_exact(st.st_mtim, -1, 500000000);
  fd = popen_fd(lt_fs_path("f"), O_RDONLY);
  FS_OK(&req, lure_fs_futime(L, &req, fd, 1.0000009, 2.1234567, LT_FS_CB), 0);
  close(fd);
  st = pstat(lt_fs_path("f"));
  check_ptime_exact(st.st_atim, 1, 0);
  check_ptime_exact(st.st_mtim, 2, 123456000);
  FS_OK(&req, lure_fs_lutime(L, &req, lt_fs_path("l"), 3.9999999, 4.0000011, LT_FS_CB),
        0);
  st = plstat(lt_fs_path("l"));
  check_ptime_exact(st.st_atim, 3, 999999000);
  check_ptime_exact(st.st_mtim, 4, 1000);
  lt_fs_end();
}
END_TEST

/* sendfile(2) refuses an output opened with O_APPEND (EINVAL); libuv then
 * copies by hand, and so does lure.  And 0 bytes past the end of the
 * input (fs_async_sendfile_nodata). */
START_TEST(fs_sendfile_append_and_nodata) {
  lure_fs_t req;
  char buf[64];
  int in;
  int out;

  lt_fs_begin(_i, 20000);
  lt_fs_write_file(lt_fs_path("in"), "0123456789", 10);
  lt_fs_write_file(lt_fs_path("out"), "ab", 2);
  in = popen_fd(lt_fs_path("in"), O_RDONLY);
  out = popen_fd(lt_fs_path("out"), O_WRONLY | O_APPEND);
  FS_OK(&req, lure_fs_sendfile(L, &req, out, in, 1, 131072, LT_FS_CB), 9);
  ck_assert_int_eq(fpos(in), 0);
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("out"), buf, sizeof(buf)), 11);
  ck_assert_int_eq(memcmp(buf, "ab123456789", 11), 0);
  FS_OK(&req, lure_fs_sendfile(L, &req, out, in, 4, 3, LT_FS_CB), 3);
  ck_assert_int_eq(lt_fs_read_file(lt_fs_path("out"), buf, sizeof(buf)), 14);
  ck_assert_int_eq(memcmp(buf + 11, "456", 3), 0);
  close(in);
  close(out);

  lt_fs_write_file(lt_fs_path("empty"), "", 0);
  in = popen_fd(lt_fs_path("empty"), O_RDWR);
  out = popen_fd(lt_fs_path("out2"), O_WRONLY | O_CREAT);
  FS_OK(&req, lure_fs_sendfile(L, &req, out, in, 1, 131072, LT_FS_CB), 0);
  ck_assert_int_eq(pstat(lt_fs_path("out2")).st_size, 0);
  close(in);
  close(out);
  lt_fs_end();
}
END_TEST

/* ---- the executor table on a kernel that has every opcode ---------------- */

/* On the uring set, the ring must serve every file opcode the kernel
 * probes; this check is not relative to lure's own probe. */
START_TEST(fs_uring_set_has_file_opcodes) {
  static const int ops[] = { LT_FS_OP_OPENAT, LT_FS_OP_CLOSE, LT_FS_OP_READ,
                             LT_FS_OP_WRITE, LT_FS_OP_READV, LT_FS_OP_WRITEV,
                             LT_FS_OP_FSYNC, LT_FS_OP_STATX, LT_FS_OP_UNLINKAT,
                             LT_FS_OP_RENAMEAT, LT_FS_OP_MKDIRAT,
                             LT_FS_OP_SYMLINKAT, LT_FS_OP_LINKAT };
  size_t k;

  if (!lt_set_is("uring"))
    return;
  lt_fs_begin(1, 20000);
  ck_assert_msg(lt_fs_facts.kernel_ring, "uring set without a kernel ring");
  for (k = 0; k < LT_ARRAY_SIZE(ops); k++)
    ck_assert_msg(lt_fs_ring_has(ops[k]), "kernel lacks io_uring opcode %d",
                  ops[k]);
  lt_fs_end();
}
END_TEST

/* ---- the adaptive router of buffered writes (issue 12) -------------------- */

/*
 * The router (src/executor.c) sends buffered writes to the ring or the
 * pool, whichever has lately been faster, and probes the other now and
 * then.  These tests feed it latencies
 * through its test hook (lure__fs_adapt_feed) and then check where real
 * writes go, with lure_req_executor() as the judge; on sets where the ring
 * does not serve writes (epoll, nouring, uring-masked) the router must
 * stand aside.  Self-contained: internal.h for the hook and the tuning.
 */
#include "internal.h"

static lure_fs_t adapt_req;

/* One buffered write of 4 KiB at block k, run to completion; returns the
 * executor that served it. */
static const char *adapt_write(int fd, unsigned k) {
  char buf[4096];
  lure_buf_t b = lure_buf_init(buf, sizeof(buf));
  unsigned long pre = lt_fs.ncb;
  const char *ex;

  lt_fs_pattern(buf, sizeof(buf), k);
  ck_assert_int_eq(lure_fs_write(L, &adapt_req, fd, &b, 1,
                                 (int64_t) k * 4096, lt_fs_cb), 0);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lt_fs.ncb, pre + 1);
  ck_assert_int_eq(adapt_req.result, 4096);
  ex = lure_req_executor((lure_req_t *) &adapt_req);
  ck_assert_ptr_nonnull(ex);
  lure_fs_req_cleanup(&adapt_req);
  return ex;
}

static struct lure__fs_adapt_info adapt_info(void) {
  struct lure__fs_adapt_info in;

  memset(&in, 0xa5, sizeof(in));
  ck_assert_int_eq(lure__fs_adapt_info(L, &in), 0);
  return in;
}

/* Whether the router has two executors to choose between on this set. */
static int adapt_expected(void) {
  return lt_fs.ring && lt_fs_ring_has(LT_FS_OP_WRITE) && lt_fs_ring_has(LT_FS_OP_WRITEV);
}

/* Feed n samples to each executor, alternately; returns how many samples
 * were fed when pick first differed from the pick before (0: never). */
static unsigned adapt_feed(unsigned n, uint64_t ring_ns, uint64_t pool_ns) {
  int pick0 = adapt_info().pick;
  unsigned i;

  for (i = 0; i < n; i++) {
    ck_assert_int_eq(lure__fs_adapt_feed(L, LURE__EXEC_URING, ring_ns), 0);
    if (adapt_info().pick != pick0)
      return 2 * i + 1;
    ck_assert_int_eq(lure__fs_adapt_feed(L, LURE__EXEC_THREADPOOL, pool_ns),
                     0);
    if (adapt_info().pick != pick0)
      return 2 * i + 2;
  }
  return 0;
}

START_TEST(fs_adapt_follows_latency) {
  struct lure__fs_adapt_info in;
  unsigned char want[4096];
  unsigned char got[4096];
  unsigned n;
  unsigned k;
  unsigned probes = 0;
  unsigned pooled = 0;
  int fd;

  lt_fs_begin(1, 60000);
  /* The uring sets force the wait point, which turns the router off by
   * default (fs_adapt_forced checks that): turn it on by name here. */
  ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_FS_ADAPT, 1), 0);
  fd = popen_fd(lt_fs_path("w"), O_RDWR | O_CREAT);
  in = adapt_info();
  ck_assert_int_eq(in.active, adapt_expected());
  ck_assert_int_eq(in.pick, LURE__EXEC_URING);
  ck_assert_uint_eq(in.switches, 0);
  /* Bad input is an error, never a crash. */
  ck_assert_int_eq(lure__fs_adapt_feed(L, LURE__EXEC_AIO, 1000), LURE_EINVAL);
  ck_assert_int_eq(lure__fs_adapt_feed(NULL, LURE__EXEC_URING, 1000),
                   LURE_EINVAL);
  ck_assert_int_eq(lure__fs_adapt_info(L, NULL), LURE_EINVAL);

  if (!in.active) {
    /* Nothing to choose between: the hook is refused, the pool serves
     * buffered writes as the fixed order says, nothing is counted. */
    ck_assert_int_eq(lure__fs_adapt_feed(L, LURE__EXEC_URING, 1000000),
                     LURE_ENOTSUP);
    for (k = 1; k <= 70; k++)
      ck_assert_str_eq(adapt_write(fd, k), "threadpool");
    in = adapt_info();
    ck_assert_uint_eq(in.writes, 0);
    ck_assert_uint_eq(in.switches, 0);
    ck_assert_int_eq(in.pick, LURE__EXEC_URING);
    close(fd);
    lt_fs_end();
    return;
  }

  /* Equal figures through the warm-up: no switch. */
  ck_assert_uint_eq(adapt_feed(LURE__FS_ADAPT_WARMUP, 100000, 100000), 0);
  /* The pool 10% faster, inside the margin: still none. */
  ck_assert_uint_eq(adapt_feed(1000, 110000, 100000), 0);
  in = adapt_info();
  ck_assert_uint_eq(in.switches, 0);
  ck_assert_int_eq(in.pick, LURE__EXEC_URING);

  /* The ring ten times slower: the router moves to the pool, but only
   * after STREAK samples in a row have said so. */
  n = adapt_feed(1000, 1000000, 100000);
  ck_assert_msg(n != 0, "the router never left a ring 10x slower");
  ck_assert_uint_ge(n, LURE__FS_ADAPT_STREAK);
  in = adapt_info();
  ck_assert_int_eq(in.pick, LURE__EXEC_THREADPOOL);
  ck_assert_uint_eq(in.switches, 1);
  ck_assert_uint_gt(in.ewma_ring, in.ewma_pool);

  /* Real writes now go to the pool, but for the probes, paced by the
   * loop's time, which go to the ring; lure_req_executor() tells which.
   * The first write is a probe (none has been sent yet), and two pauses
   * of PROBE_MS make two more due. */
  for (k = 1; k <= 60; k++) {
    const char *ex;
    int probe;

    if (k % 20 == 0) {
      lt_sleep_ms(LURE__FS_ADAPT_PROBE_MS + 5);
      lure_update_time(L);
    }
    in = adapt_info();
    probe = in.writes + 1 > LURE__FS_ADAPT_WARMUP &&
            lure_now(L) >= in.next_probe;
    ex = adapt_write(fd, k);
    if (in.pick == LURE__EXEC_URING)
      ck_assert_str_eq(ex, probe ? "threadpool" : "io_uring");
    else
      ck_assert_str_eq(ex, probe ? "io_uring" : "threadpool");
    probes += probe;
    pooled += strcmp(ex, "threadpool") == 0;
  }
  ck_assert_uint_ge(probes, 3);
  ck_assert_uint_ge(pooled, 30);
  /* And what they wrote is in the file, whoever wrote it. */
  for (k = 1; k <= 60; k++) {
    lt_fs_pattern(want, sizeof(want), k);
    ck_assert_int_eq(pread(fd, got, sizeof(got), (off_t) k * 4096), 4096);
    ck_assert_int_eq(memcmp(want, got, sizeof(got)), 0);
  }

  /* Back to the ring when it is the faster one again, with the same
   * hysteresis. */
  in = adapt_info();
  if (in.pick == LURE__EXEC_THREADPOOL) {
    n = adapt_feed(1000, 10000, 1000000);
    ck_assert_msg(n != 0, "the router never came back to a faster ring");
    ck_assert_uint_ge(n, LURE__FS_ADAPT_STREAK);
  }
  in = adapt_info();
  ck_assert_int_eq(in.pick, LURE__EXEC_URING);
  ck_assert_uint_ge(in.switches, 2);

  /* A short spell of a slower ring that ends before the streak is long
   * enough leaves the router where it was: even figures first, then the
   * ring slow for a few samples, then fast again. */
  ck_assert_uint_eq(adapt_feed(300, 100000, 100000), 0);
  n = (unsigned) adapt_info().switches;
  for (k = 0; k < 6; k++)
    ck_assert_int_eq(lure__fs_adapt_feed(L, LURE__EXEC_URING, 1000000), 0);
  in = adapt_info();
  ck_assert_uint_gt(in.streak, 0);
  ck_assert_uint_lt(in.streak, LURE__FS_ADAPT_STREAK);
  for (k = 0; k < 100 && adapt_info().streak != 0; k++)
    ck_assert_int_eq(lure__fs_adapt_feed(L, LURE__EXEC_URING, 10000), 0);
  in = adapt_info();
  ck_assert_uint_eq(in.streak, 0);
  ck_assert_uint_eq(in.switches, n);
  ck_assert_int_eq(in.pick, LURE__EXEC_URING);
  close(fd);
  lt_fs_end();
}
END_TEST

/* The router never overrides the user's choice: LURE_LOOP_FS_ADAPT 0, a
 * forced wait point, a masked write opcode, LURE_FS_ADAPT=0. */
START_TEST(fs_adapt_forced) {
  struct lure__fs_adapt_info in;
  lure_loop_t other;
  unsigned i;
  int fd;

  lt_fs_begin(1, 60000);
  fd = popen_fd(lt_fs_path("w"), O_RDWR | O_CREAT);
  ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_FS_ADAPT, 2), LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_FS_ADAPT, -1),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_configure(NULL, LURE_LOOP_FS_ADAPT, 1),
                   LURE_EINVAL);
  /* On: active only where there are two executors. */
  ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_FS_ADAPT, 1), 0);
  ck_assert_int_eq(adapt_info().active, adapt_expected());
  if (!adapt_expected()) {
    ck_assert_str_eq(adapt_write(fd, 1), "threadpool");
    close(fd);
    lt_fs_end();
    return;
  }
  /* Off: feeding is refused and even a "slow" ring keeps the writes. */
  ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_FS_ADAPT, 0), 0);
  ck_assert_int_eq(adapt_info().active, 0);
  ck_assert_int_eq(lure__fs_adapt_feed(L, LURE__EXEC_URING, 1000000),
                   LURE_ENOTSUP);
  for (i = 1; i <= 40; i++)
    ck_assert_str_eq(adapt_write(fd, i), "io_uring");
  ck_assert_uint_eq(adapt_info().writes, 0);

  /* On again, switched to the pool; then "write" masked: the router
   * stands aside and the mask decides. */
  ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_FS_ADAPT, 1), 0);
  ck_assert_int_eq(adapt_info().active, 1);
  ck_assert_uint_eq(adapt_feed(LURE__FS_ADAPT_WARMUP, 100000, 100000), 0);
  ck_assert_uint_ne(adapt_feed(1000, 1000000, 100000), 0);
  ck_assert_int_eq(adapt_info().pick, LURE__EXEC_THREADPOOL);
  ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_URING_DISABLE, "write"),
                   0);
  in = adapt_info();
  ck_assert_int_eq(in.active, 0);
  ck_assert_uint_eq(in.switches, 0); /* a new mask: learned afresh */
  ck_assert_str_eq(adapt_write(fd, 1), "threadpool");
  ck_assert_int_eq(lure_loop_configure(L, LURE_LOOP_URING_DISABLE, ""), 0);
  ck_assert_int_eq(adapt_info().active, 1);

  /* A loop whose wait point was forced keeps the ring for writes, unless
   * the router is asked for by name. */
  ck_assert_int_eq(lure_loop_init(&other), 0);
  ck_assert_int_eq(lure_loop_configure(&other, LURE_LOOP_BACKEND, "io_uring"),
                   0);
  ck_assert_int_eq(lure__fs_adapt_feed(&other, LURE__EXEC_URING, 1000),
                   LURE_ENOTSUP);
  ck_assert_int_eq(lure_loop_configure(&other, LURE_LOOP_FS_ADAPT, 1), 0);
  ck_assert_int_eq(lure__fs_adapt_feed(&other, LURE__EXEC_URING, 1000), 0);
  ck_assert_int_eq(lure_loop_close(&other), 0);

  /* LURE_FS_ADAPT=0 in the environment turns it off for new loops. */
  ck_assert_int_eq(setenv("LURE_FS_ADAPT", "0", 1), 0);
  ck_assert_int_eq(lure_loop_init(&other), 0);
  unsetenv("LURE_FS_ADAPT");
  ck_assert_int_eq(lure__fs_adapt_feed(&other, LURE__EXEC_URING, 1000),
                   LURE_ENOTSUP);
  ck_assert_int_eq(lure_loop_close(&other), 0);
  close(fd);
  lt_fs_end();
}
END_TEST

LT_SUITE(ops) {
  Suite *s = suite_create("ops");
  TCase *tc = lt_tcase("ops", 60);

  /* _i: 0 synchronous, 1 asynchronous. */
  tcase_add_loop_test(tc, fs_open_close, 0, 2);
  tcase_add_test(tc, fs_open_fifo_waits_for_writer);
  tcase_add_loop_test(tc, fs_read_write_positional, 0, 2);
  tcase_add_loop_test(tc, fs_read_write_current_position, 0, 2);
  tcase_add_loop_test(tc, fs_read_write_vectored, 0, 2);
  tcase_add_loop_test(tc, fs_unlink, 0, 2);
  tcase_add_loop_test(tc, fs_mkdir_rmdir, 0, 2);
  tcase_add_loop_test(tc, fs_mkdtemp, 0, 2);
  tcase_add_loop_test(tc, fs_mkstemp, 0, 2);
  tcase_add_loop_test(tc, fs_scandir, 0, 2);
  tcase_add_loop_test(tc, fs_opendir_readdir_closedir, 0, 2);
  tcase_add_loop_test(tc, fs_stat_fstat_lstat, 0, 2);
  tcase_add_loop_test(tc, fs_statfs, 0, 2);
  tcase_add_loop_test(tc, fs_rename, 0, 2);
  tcase_add_loop_test(tc, fs_fsync_fdatasync, 0, 2);
  tcase_add_loop_test(tc, fs_ftruncate, 0, 2);
  tcase_add_loop_test(tc, fs_copyfile, 0, 2);
  tcase_add_loop_test(tc, fs_sendfile, 0, 2);
  tcase_add_loop_test(tc, fs_access, 0, 2);
  tcase_add_loop_test(tc, fs_chmod_fchmod, 0, 2);
  tcase_add_loop_test(tc, fs_utime_futime_lutime, 0, 2);
  tcase_add_loop_test(tc, fs_link_symlink_readlink_realpath, 0, 2);
  tcase_add_loop_test(tc, fs_chown_fchown_lchown, 0, 2);
  tcase_add_loop_test(tc, fs_getters_cleanup, 0, 2);
  tcase_add_loop_test(tc, fs_direct_read_write, 0, 2);
  tcase_add_loop_test(tc, fs_scandir_empty_ptr_null, 0, 2);
  tcase_add_loop_test(tc, fs_mkstemp_bad_template_path_empty, 0, 2);
  tcase_add_loop_test(tc, fs_opendir_cleanup_ptr_null, 0, 2);
  tcase_add_loop_test(tc, fs_utime_microseconds, 0, 2);
  tcase_add_loop_test(tc, fs_sendfile_append_and_nodata, 0, 2);
  tcase_add_test(tc, fs_uring_set_has_file_opcodes);
  tcase_add_test(tc, fs_adapt_follows_latency);
  tcase_add_test(tc, fs_adapt_forced);
  suite_add_tcase(s, tc);
  return s;
}
