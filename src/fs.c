/*
 * fs.c - file system requests: argument checks, routing and completion.
 *
 * Routing, per request (DESIGN.md, lure(7)):
 *   1. cb == NULL: run here, now ("inline"), as libuv's sync mode, with the
 *      thread pool's implementation (lure__fs_exec, backends/pool-fs.c).
 *   2. Otherwise the fs executors of src/executor.c are offered it in turn
 *      (the ring, Linux AIO, the thread pool); each declines what it cannot
 *      serve on this loop.
 * Every executor reports through lure__fs_done() on the loop thread.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <linux/fs.h>
#include "internal.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* ---- results ------------------------------------------------------------ */

void lure__fs_statx_to_stat(const void *buf, lure_stat_t *st) {
  const struct statx *x = buf;

  memset(st, 0, sizeof(*st));
  st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
  st->st_mode = x->stx_mode;
  st->st_nlink = x->stx_nlink;
  st->st_uid = x->stx_uid;
  st->st_gid = x->stx_gid;
  st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
  st->st_ino = x->stx_ino;
  st->st_size = x->stx_size;
  st->st_blksize = x->stx_blksize;
  st->st_blocks = x->stx_blocks;
  st->st_flags = 0;
  st->st_gen = 0;
  st->st_atim.tv_sec = (long) x->stx_atime.tv_sec;
  st->st_atim.tv_nsec = (long) x->stx_atime.tv_nsec;
  st->st_mtim.tv_sec = (long) x->stx_mtime.tv_sec;
  st->st_mtim.tv_nsec = (long) x->stx_mtime.tv_nsec;
  st->st_ctim.tv_sec = (long) x->stx_ctime.tv_sec;
  st->st_ctim.tv_nsec = (long) x->stx_ctime.tv_nsec;
  if (x->stx_mask & STATX_BTIME) {
    st->st_birthtim.tv_sec = (long) x->stx_btime.tv_sec;
    st->st_birthtim.tv_nsec = (long) x->stx_btime.tv_nsec;
  }
  /* Without STATX_BTIME the birth time stays 0, as libuv reports it. */
}

void lure__fs_done(lure_loop_t *loop, lure_fs_t *req, ssize_t result,
                   int executor) {
  if (req->cancel_state == LURE__FS_CANCEL_SURE) {
    result = LURE_ECANCELED;
  } else if (req->cancel_state == LURE__FS_CANCEL_REQUESTED) {
    /* A cancelled open that succeeded anyway: the fd is nobody's, close it
     * and report the cancellation the caller asked for. */
    if (req->fs_type == LURE_FS_OPEN && result >= 0) {
      close((int) result);
      result = LURE_ECANCELED;
    } else if (result == -EINTR || (result <= -512 && result >= -516)) {
      /* A worker interrupted by the cancellation (the kernel's internal
       * ERESTART* codes can leak out of a signalled ring worker). */
      result = LURE_ECANCELED;
    }
  } else if (result <= -512 && result >= -516) {
    result = LURE_EINTR;
  }
  /* A write the adaptive router timed (executor.c): its latency, from
   * submission to here, is a sample for the executor that served it.
   * Failures and cancellations say nothing about speed. */
  if (req->req_flags & LURE__REQ_FS_TIMED) {
    req->req_flags &= (unsigned char) ~LURE__REQ_FS_TIMED;
    if (result >= 0 && req->cancel_state == LURE__FS_CANCEL_NONE)
      lure__fs_adapt_sample(loop, executor,
                            lure__hrtime_ns() - (uint64_t) req->len);
    req->len = 0;
  }
  req->result = result;
  req->executor = (unsigned char) executor;
  lure__req_unregister(loop, (lure_req_t *) req);
  req->cb(req);
}

static void lure__fs_pending_cb(lure_loop_t *loop, struct lure__pending *p) {
  lure_fs_t *req = lure__container_of(p, lure_fs_t, pending);

  lure__fs_done(loop, req, req->result, req->executor);
}

void lure__fs_done_later(lure_loop_t *loop, lure_fs_t *req, ssize_t result,
                         int executor) {
  req->result = result;
  req->executor = (unsigned char) executor;
  req->pending.cb = lure__fs_pending_cb;
  lure__pending_add(loop, &req->pending);
}

lure_dirent_type_t lure__dirent_type(unsigned char t) {
  switch (t) {
    case DT_REG: return LURE_DIRENT_FILE;
    case DT_DIR: return LURE_DIRENT_DIR;
    case DT_LNK: return LURE_DIRENT_LINK;
    case DT_FIFO: return LURE_DIRENT_FIFO;
    case DT_SOCK: return LURE_DIRENT_SOCKET;
    case DT_CHR: return LURE_DIRENT_CHAR;
    case DT_BLK: return LURE_DIRENT_BLOCK;
    default: return LURE_DIRENT_UNKNOWN;
  }
}

/* ---- request setup and routing ------------------------------------------------ */

static void lure__fs_init(lure_loop_t *loop, lure_fs_t *req, lure_fs_type type,
                          lure_fs_cb cb) {
  req->type = LURE_FS;
  req->fs_type = type;
  req->loop = loop;
  req->cb = cb;
  req->result = 0;
  req->ptr = NULL;
  req->path = NULL;
  req->new_path = NULL;
  req->bufs = NULL;
  req->nbufs = 0;
  req->off = 0;
  req->len = 0;
  req->file = -1;
  req->out_file = -1;
  req->flags = 0;
  req->mode = 0;
  req->executor = LURE__EXEC_NONE;
  req->req_flags = 0;
  req->cancel_state = LURE__FS_CANCEL_NONE;
  lure__queue_init(&req->queue);
}

/* A call refused after its request was initialised: the error is also the
 * request's result, as a synchronous call would have left it. */
static int lure__fs_refuse(lure_fs_t *req, int err) {
  req->result = err;
  return err;
}

/* Copy path (and new_path) into one allocation owned by the request.  A
 * synchronous call (but mkdtemp's and mkstemp's) uses the caller's strings,
 * which outlive it, as libuv does: a program that skips lure_fs_req_cleanup() after such a call, as
 * libuv lets it, leaks nothing. */
static int lure__fs_paths(lure_fs_t *req, const char *path,
                          const char *new_path) {
  size_t a;
  size_t b = 0;
  char *m;

  if (path == NULL)
    return lure__fs_refuse(req, LURE_EINVAL);
  /* mkdtemp and mkstemp write their result into the path: always a copy. */
  if (req->cb == NULL && req->fs_type != LURE_FS_MKDTEMP &&
      req->fs_type != LURE_FS_MKSTEMP) {
    req->path = path;
    req->new_path = new_path;
    req->req_flags |= LURE__REQ_FS_CALLER_PATH;
    return 0;
  }
  a = strlen(path) + 1;
  if (new_path != NULL)
    b = strlen(new_path) + 1;
  m = lure__malloc(a + b);
  if (m == NULL)
    return lure__fs_refuse(req, LURE_ENOMEM);
  memcpy(m, path, a);
  req->path = m;
  if (new_path != NULL) {
    memcpy(m + a, new_path, b);
    req->new_path = m + a;
  }
  return 0;
}

static int lure__fs_bufs(lure_fs_t *req, const lure_buf_t bufs[],
                         unsigned int nbufs) {
  if (bufs == NULL || nbufs == 0)
    return lure__fs_refuse(req, LURE_EINVAL);
  if (nbufs <= sizeof(req->bufsml) / sizeof(req->bufsml[0])) {
    req->bufs = req->bufsml;
  } else {
    req->bufs = lure__malloc(sizeof(*bufs) * nbufs);
    if (req->bufs == NULL)
      return lure__fs_refuse(req, LURE_ENOMEM);
  }
  memcpy(req->bufs, bufs, sizeof(*bufs) * nbufs);
  req->nbufs = nbufs;
  return 0;
}

/* Undo what setup allocated when the call itself fails. */
static void lure__fs_setup_failed(lure_fs_t *req) {
  if (!(req->req_flags & LURE__REQ_FS_CALLER_PATH))
    lure__free((void *) req->path);
  req->path = NULL;
  req->new_path = NULL;
  if (req->bufs != NULL && req->bufs != req->bufsml)
    lure__free(req->bufs);
  req->bufs = NULL;
}

static int lure__fs_submit(lure_loop_t *loop, lure_fs_t *req) {
  int rc;

  if (req->cb == NULL) {
    lure__fs_exec(req);
    req->executor = LURE__EXEC_INLINE;
    return (int) req->result;
  }

  lure__req_register(loop, (lure_req_t *) req);
  rc = lure__fs_route(loop, req);
  if (rc != 0) {
    lure__req_unregister(loop, (lure_req_t *) req);
    lure__fs_setup_failed(req);
  }
  return rc;
}

/* Every call starts here.  The request is initialised before any other
 * argument is looked at, so that a refused request holds no stale
 * pointers and lure_fs_req_cleanup() on it is harmless, as in libuv.  A
 * synchronous call (cb == NULL) needs no loop: it runs on the calling
 * thread and never touches one, so loop may be NULL, as libuv allows.  An
 * asynchronous one needs a live loop. */
#define LURE__FS_START(loop, req, type, cb)                                   \
  do {                                                                        \
    if ((req) == NULL)                                                        \
      return LURE_EINVAL;                                                     \
    lure__fs_init((loop), (req), (type), (cb));                               \
    if ((cb) != NULL && ((loop) == NULL || (loop)->priv == NULL))             \
      return lure__fs_refuse((req), LURE_EINVAL);                             \
  } while (0)

/* Requests that take a path (and maybe a second one). */
static int lure__fs_path_req(lure_loop_t *loop, lure_fs_t *req,
                             lure_fs_type type, const char *path,
                             const char *new_path, int need_new,
                             lure_fs_cb cb) {
  int rc;

  LURE__FS_START(loop, req, type, cb);
  if (path == NULL || (need_new && new_path == NULL))
    return lure__fs_refuse(req, LURE_EINVAL);
  rc = lure__fs_paths(req, path, new_path);
  if (rc != 0)
    return rc;
  return lure__fs_submit(loop, req);
}

/* Requests that take a file descriptor. */
static int lure__fs_fd_req(lure_loop_t *loop, lure_fs_t *req,
                           lure_fs_type type, lure_file file, lure_fs_cb cb) {
  LURE__FS_START(loop, req, type, cb);
  if (file < 0)
    return lure__fs_refuse(req, LURE_EBADF);
  req->file = file;
  return lure__fs_submit(loop, req);
}

LURE_EXTERN lure_buf_t lure_buf_init(char *base, unsigned int len) {
  lure_buf_t b;

  b.base = base;
  b.len = len;
  return b;
}

LURE_EXTERN int lure_fs_open(lure_loop_t *loop, lure_fs_t *req,
                             const char *path, int flags, int mode,
                             lure_fs_cb cb) {
  int rc;

  LURE__FS_START(loop, req, LURE_FS_OPEN, cb);
  if (path == NULL)
    return lure__fs_refuse(req, LURE_EINVAL);
  req->flags = flags;
  req->mode = (unsigned int) mode;
  rc = lure__fs_paths(req, path, NULL);
  if (rc != 0)
    return rc;
  return lure__fs_submit(loop, req);
}

LURE_EXTERN int lure_fs_close(lure_loop_t *loop, lure_fs_t *req,
                              lure_file file, lure_fs_cb cb) {
  return lure__fs_fd_req(loop, req, LURE_FS_CLOSE, file, cb);
}

static int lure__fs_rw_req(lure_loop_t *loop, lure_fs_t *req, lure_fs_type type,
                           lure_file file, const lure_buf_t bufs[],
                           unsigned int nbufs, int64_t offset, lure_fs_cb cb) {
  int rc;

  LURE__FS_START(loop, req, type, cb);
  if (bufs == NULL || nbufs == 0)
    return lure__fs_refuse(req, LURE_EINVAL);
  if (file < 0)
    return lure__fs_refuse(req, LURE_EBADF);
  req->file = file;
  req->off = offset < 0 ? -1 : offset;
  rc = lure__fs_bufs(req, bufs, nbufs);
  if (rc != 0)
    return rc;
  return lure__fs_submit(loop, req);
}

LURE_EXTERN int lure_fs_read(lure_loop_t *loop, lure_fs_t *req, lure_file file,
                             const lure_buf_t bufs[], unsigned int nbufs,
                             int64_t offset, lure_fs_cb cb) {
  return lure__fs_rw_req(loop, req, LURE_FS_READ, file, bufs, nbufs, offset,
                         cb);
}

LURE_EXTERN int lure_fs_write(lure_loop_t *loop, lure_fs_t *req,
                              lure_file file, const lure_buf_t bufs[],
                              unsigned int nbufs, int64_t offset,
                              lure_fs_cb cb) {
  return lure__fs_rw_req(loop, req, LURE_FS_WRITE, file, bufs, nbufs, offset,
                         cb);
}

LURE_EXTERN int lure_fs_unlink(lure_loop_t *loop, lure_fs_t *req,
                               const char *path, lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_UNLINK, path, NULL, 0, cb);
}

LURE_EXTERN int lure_fs_mkdir(lure_loop_t *loop, lure_fs_t *req,
                              const char *path, int mode, lure_fs_cb cb) {
  int rc;

  LURE__FS_START(loop, req, LURE_FS_MKDIR, cb);
  if (path == NULL)
    return lure__fs_refuse(req, LURE_EINVAL);
  req->mode = (unsigned int) mode;
  rc = lure__fs_paths(req, path, NULL);
  if (rc != 0)
    return rc;
  return lure__fs_submit(loop, req);
}

LURE_EXTERN int lure_fs_mkdtemp(lure_loop_t *loop, lure_fs_t *req,
                                const char *tpl, lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_MKDTEMP, tpl, NULL, 0, cb);
}

LURE_EXTERN int lure_fs_mkstemp(lure_loop_t *loop, lure_fs_t *req,
                                const char *tpl, lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_MKSTEMP, tpl, NULL, 0, cb);
}

LURE_EXTERN int lure_fs_rmdir(lure_loop_t *loop, lure_fs_t *req,
                              const char *path, lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_RMDIR, path, NULL, 0, cb);
}

LURE_EXTERN int lure_fs_scandir(lure_loop_t *loop, lure_fs_t *req,
                                const char *path, int flags, lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_SCANDIR, path, NULL, 0, cb);
}

LURE_EXTERN int lure_fs_scandir_next(lure_fs_t *req, lure_dirent_t *ent) {
  struct dirent **dents;
  struct dirent *d;

  if (req == NULL || ent == NULL || req->fs_type != LURE_FS_SCANDIR)
    return LURE_EINVAL;
  if (req->result < 0)
    return (int) req->result;
  dents = req->ptr;
  if (dents == NULL)
    return LURE_EOF;
  /* The previous entry is done with. */
  if (req->nbufs > 0)
    free(dents[req->nbufs - 1]);
  if (req->nbufs == (unsigned int) req->result) {
    free(dents);
    req->ptr = NULL;
    return LURE_EOF;
  }
  d = dents[req->nbufs++];
  ent->name = d->d_name;
  ent->type = lure__dirent_type(d->d_type);
  return 0;
}

LURE_EXTERN int lure_fs_opendir(lure_loop_t *loop, lure_fs_t *req,
                                const char *path, lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_OPENDIR, path, NULL, 0, cb);
}

static int lure__fs_dir_req(lure_loop_t *loop, lure_fs_t *req,
                            lure_fs_type type, lure_dir_t *dir,
                            lure_fs_cb cb) {
  LURE__FS_START(loop, req, type, cb);
  if (dir == NULL || dir->dir == NULL)
    return lure__fs_refuse(req, LURE_EINVAL);
  if (type == LURE_FS_READDIR && (dir->dirents == NULL || dir->nentries == 0))
    return lure__fs_refuse(req, LURE_EINVAL);
  req->ptr = dir;
  return lure__fs_submit(loop, req);
}

LURE_EXTERN int lure_fs_readdir(lure_loop_t *loop, lure_fs_t *req,
                                lure_dir_t *dir, lure_fs_cb cb) {
  return lure__fs_dir_req(loop, req, LURE_FS_READDIR, dir, cb);
}

LURE_EXTERN int lure_fs_closedir(lure_loop_t *loop, lure_fs_t *req,
                                 lure_dir_t *dir, lure_fs_cb cb) {
  return lure__fs_dir_req(loop, req, LURE_FS_CLOSEDIR, dir, cb);
}

LURE_EXTERN int lure_fs_stat(lure_loop_t *loop, lure_fs_t *req,
                             const char *path, lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_STAT, path, NULL, 0, cb);
}

LURE_EXTERN int lure_fs_fstat(lure_loop_t *loop, lure_fs_t *req,
                              lure_file file, lure_fs_cb cb) {
  return lure__fs_fd_req(loop, req, LURE_FS_FSTAT, file, cb);
}

LURE_EXTERN int lure_fs_lstat(lure_loop_t *loop, lure_fs_t *req,
                              const char *path, lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_LSTAT, path, NULL, 0, cb);
}

LURE_EXTERN int lure_fs_statfs(lure_loop_t *loop, lure_fs_t *req,
                               const char *path, lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_STATFS, path, NULL, 0, cb);
}

LURE_EXTERN int lure_fs_rename(lure_loop_t *loop, lure_fs_t *req,
                               const char *path, const char *new_path,
                               lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_RENAME, path, new_path, 1, cb);
}

LURE_EXTERN int lure_fs_fsync(lure_loop_t *loop, lure_fs_t *req,
                              lure_file file, lure_fs_cb cb) {
  return lure__fs_fd_req(loop, req, LURE_FS_FSYNC, file, cb);
}

LURE_EXTERN int lure_fs_fdatasync(lure_loop_t *loop, lure_fs_t *req,
                                  lure_file file, lure_fs_cb cb) {
  return lure__fs_fd_req(loop, req, LURE_FS_FDATASYNC, file, cb);
}

LURE_EXTERN int lure_fs_ftruncate(lure_loop_t *loop, lure_fs_t *req,
                                  lure_file file, int64_t offset,
                                  lure_fs_cb cb) {
  LURE__FS_START(loop, req, LURE_FS_FTRUNCATE, cb);
  if (file < 0)
    return lure__fs_refuse(req, LURE_EBADF);
  if (offset < 0)
    return lure__fs_refuse(req, LURE_EINVAL);
  req->file = file;
  req->off = offset;
  return lure__fs_submit(loop, req);
}

LURE_EXTERN int lure_fs_copyfile(lure_loop_t *loop, lure_fs_t *req,
                                 const char *path, const char *new_path,
                                 int flags, lure_fs_cb cb) {
  int rc;

  LURE__FS_START(loop, req, LURE_FS_COPYFILE, cb);
  if (path == NULL || new_path == NULL)
    return lure__fs_refuse(req, LURE_EINVAL);
  if (flags & ~(LURE_FS_COPYFILE_EXCL | LURE_FS_COPYFILE_FICLONE |
                LURE_FS_COPYFILE_FICLONE_FORCE))
    return lure__fs_refuse(req, LURE_EINVAL);
  req->flags = flags;
  rc = lure__fs_paths(req, path, new_path);
  if (rc != 0)
    return rc;
  return lure__fs_submit(loop, req);
}

LURE_EXTERN int lure_fs_sendfile(lure_loop_t *loop, lure_fs_t *req,
                                 lure_file out_fd, lure_file in_fd,
                                 int64_t in_offset, size_t length,
                                 lure_fs_cb cb) {
  LURE__FS_START(loop, req, LURE_FS_SENDFILE, cb);
  if (out_fd < 0 || in_fd < 0)
    return lure__fs_refuse(req, LURE_EBADF);
  if (in_offset < 0)
    return lure__fs_refuse(req, LURE_EINVAL);
  req->file = in_fd;
  req->out_file = out_fd;
  req->off = in_offset;
  req->len = (int64_t) length;
  return lure__fs_submit(loop, req);
}

static int lure__fs_path_mode_req(lure_loop_t *loop, lure_fs_t *req,
                                  lure_fs_type type, const char *path,
                                  int mode, lure_fs_cb cb) {
  int rc;

  LURE__FS_START(loop, req, type, cb);
  if (path == NULL)
    return lure__fs_refuse(req, LURE_EINVAL);
  req->flags = mode;
  req->mode = (unsigned int) mode;
  rc = lure__fs_paths(req, path, NULL);
  if (rc != 0)
    return rc;
  return lure__fs_submit(loop, req);
}

LURE_EXTERN int lure_fs_access(lure_loop_t *loop, lure_fs_t *req,
                               const char *path, int mode, lure_fs_cb cb) {
  return lure__fs_path_mode_req(loop, req, LURE_FS_ACCESS, path, mode, cb);
}

LURE_EXTERN int lure_fs_chmod(lure_loop_t *loop, lure_fs_t *req,
                              const char *path, int mode, lure_fs_cb cb) {
  return lure__fs_path_mode_req(loop, req, LURE_FS_CHMOD, path, mode, cb);
}

LURE_EXTERN int lure_fs_fchmod(lure_loop_t *loop, lure_fs_t *req,
                               lure_file file, int mode, lure_fs_cb cb) {
  LURE__FS_START(loop, req, LURE_FS_FCHMOD, cb);
  if (file < 0)
    return lure__fs_refuse(req, LURE_EBADF);
  req->file = file;
  req->mode = (unsigned int) mode;
  return lure__fs_submit(loop, req);
}

/* Requests that name their file by descriptor (type is one of the f*
 * calls) or by path: check, initialise, copy the path. */
static int lure__fs_fd_or_path_req(lure_loop_t *loop, lure_fs_t *req,
                                   lure_fs_type type, int by_fd,
                                   const char *path, lure_file file,
                                   lure_fs_cb cb) {
  LURE__FS_START(loop, req, type, cb);
  if (by_fd) {
    if (file < 0)
      return lure__fs_refuse(req, LURE_EBADF);
  } else if (path == NULL) {
    return lure__fs_refuse(req, LURE_EINVAL);
  }
  req->file = file;
  return by_fd ? 0 : lure__fs_paths(req, path, NULL);
}

static int lure__fs_utime_req(lure_loop_t *loop, lure_fs_t *req,
                              lure_fs_type type, const char *path,
                              lure_file file, double atime, double mtime,
                              lure_fs_cb cb) {
  int rc = lure__fs_fd_or_path_req(loop, req, type, type == LURE_FS_FUTIME,
                                   path, file, cb);

  if (rc != 0)
    return rc;
  req->atime = atime;
  req->mtime = mtime;
  return lure__fs_submit(loop, req);
}

LURE_EXTERN int lure_fs_utime(lure_loop_t *loop, lure_fs_t *req,
                              const char *path, double atime, double mtime,
                              lure_fs_cb cb) {
  return lure__fs_utime_req(loop, req, LURE_FS_UTIME, path, -1, atime, mtime,
                            cb);
}

LURE_EXTERN int lure_fs_futime(lure_loop_t *loop, lure_fs_t *req,
                               lure_file file, double atime, double mtime,
                               lure_fs_cb cb) {
  return lure__fs_utime_req(loop, req, LURE_FS_FUTIME, NULL, file, atime,
                            mtime, cb);
}

LURE_EXTERN int lure_fs_lutime(lure_loop_t *loop, lure_fs_t *req,
                               const char *path, double atime, double mtime,
                               lure_fs_cb cb) {
  return lure__fs_utime_req(loop, req, LURE_FS_LUTIME, path, -1, atime, mtime,
                            cb);
}

LURE_EXTERN int lure_fs_link(lure_loop_t *loop, lure_fs_t *req,
                             const char *path, const char *new_path,
                             lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_LINK, path, new_path, 1, cb);
}

LURE_EXTERN int lure_fs_symlink(lure_loop_t *loop, lure_fs_t *req,
                                const char *path, const char *new_path,
                                int flags, lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_SYMLINK, path, new_path, 1, cb);
}

LURE_EXTERN int lure_fs_readlink(lure_loop_t *loop, lure_fs_t *req,
                                 const char *path, lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_READLINK, path, NULL, 0, cb);
}

LURE_EXTERN int lure_fs_realpath(lure_loop_t *loop, lure_fs_t *req,
                                 const char *path, lure_fs_cb cb) {
  return lure__fs_path_req(loop, req, LURE_FS_REALPATH, path, NULL, 0, cb);
}

static int lure__fs_chown_req(lure_loop_t *loop, lure_fs_t *req,
                              lure_fs_type type, const char *path,
                              lure_file file, uid_t uid, gid_t gid,
                              lure_fs_cb cb) {
  int rc = lure__fs_fd_or_path_req(loop, req, type, type == LURE_FS_FCHOWN,
                                   path, file, cb);

  if (rc != 0)
    return rc;
  req->uid = uid;
  req->gid = gid;
  return lure__fs_submit(loop, req);
}

LURE_EXTERN int lure_fs_chown(lure_loop_t *loop, lure_fs_t *req,
                              const char *path, uid_t uid, gid_t gid,
                              lure_fs_cb cb) {
  return lure__fs_chown_req(loop, req, LURE_FS_CHOWN, path, -1, uid, gid, cb);
}

LURE_EXTERN int lure_fs_fchown(lure_loop_t *loop, lure_fs_t *req,
                               lure_file file, uid_t uid, gid_t gid,
                               lure_fs_cb cb) {
  return lure__fs_chown_req(loop, req, LURE_FS_FCHOWN, NULL, file, uid, gid,
                            cb);
}

LURE_EXTERN int lure_fs_lchown(lure_loop_t *loop, lure_fs_t *req,
                               const char *path, uid_t uid, gid_t gid,
                               lure_fs_cb cb) {
  return lure__fs_chown_req(loop, req, LURE_FS_LCHOWN, path, -1, uid, gid, cb);
}

LURE_EXTERN void lure_fs_req_cleanup(lure_fs_t *req) {
  struct dirent **dents;
  lure_dir_t *dir;
  size_t i;

  if (req == NULL || req->type != LURE_FS)
    return;
  /* mkdtemp/mkstemp results live in the path buffer until now. */
  if (!(req->req_flags & LURE__REQ_FS_CALLER_PATH))
    lure__free((void *) req->path);
  req->req_flags &= (unsigned char) ~LURE__REQ_FS_CALLER_PATH;
  req->path = NULL;
  req->new_path = NULL;
  if (req->fs_type == LURE_FS_SCANDIR && req->ptr != NULL && req->result > 0) {
    dents = req->ptr;
    /* Entries before the cursor were freed by scandir_next. */
    for (i = req->nbufs > 0 ? req->nbufs - 1 : 0; i < (size_t) req->result; i++)
      free(dents[i]);
    free(dents);
    req->ptr = NULL;
  }
  if (req->fs_type == LURE_FS_READDIR && req->ptr != NULL && req->result > 0) {
    dir = req->ptr;
    for (i = 0; i < (size_t) req->result; i++) {
      lure__free((char *) dir->dirents[i].name);
      dir->dirents[i].name = NULL;
    }
  }
  if (req->bufs != NULL && req->bufs != req->bufsml)
    lure__free(req->bufs);
  req->bufs = NULL;
  /* ptr owns memory for readlink, realpath and statfs; opendir's belongs
   * to closedir (the caller took it before cleaning up), readdir's to the
   * caller, stat's is statbuf.  Either way ptr is NULL afterwards, as
   * libuv leaves it. */
  if (req->fs_type == LURE_FS_READLINK || req->fs_type == LURE_FS_STATFS)
    lure__free(req->ptr);
  else if (req->fs_type == LURE_FS_REALPATH)
    free(req->ptr); /* realpath(3) allocated it with the C library's */
  req->ptr = NULL;
}

/* ---- getters ------------------------------------------------------------------ */

LURE_EXTERN lure_fs_type lure_fs_get_type(const lure_fs_t *req) {
  return req == NULL ? LURE_FS_UNKNOWN : req->fs_type;
}

LURE_EXTERN ssize_t lure_fs_get_result(const lure_fs_t *req) {
  return req == NULL ? 0 : req->result;
}

LURE_EXTERN int lure_fs_get_system_error(const lure_fs_t *req) {
  if (req == NULL || req->result >= 0)
    return 0;
  return (int) -req->result;
}

LURE_EXTERN void *lure_fs_get_ptr(const lure_fs_t *req) {
  return req == NULL ? NULL : req->ptr;
}

LURE_EXTERN const char *lure_fs_get_path(const lure_fs_t *req) {
  return req == NULL ? NULL : req->path;
}

LURE_EXTERN lure_stat_t *lure_fs_get_statbuf(lure_fs_t *req) {
  return req == NULL ? NULL : &req->statbuf;
}

/* ---- cancellation ---------------------------------------------------------------- */

int lure__fs_cancel(lure_fs_t *req) {
  const struct lure__fs_ops *ops;
  lure_loop_t *loop = req->loop;
  int rc;

  if (loop == NULL || loop->priv == NULL)
    return LURE_EINVAL;
  if (!(req->req_flags & LURE__REQ_ACTIVE))
    return LURE_EBUSY;
  if (req->cancel_state != LURE__FS_CANCEL_NONE)
    return LURE_EBUSY;
  ops = lure__fs_executor(req->executor);
  rc = ops != NULL ? ops->cancel(loop, req) : LURE_EBUSY;
  if (rc == 0 && req->cancel_state == LURE__FS_CANCEL_NONE)
    req->cancel_state = LURE__FS_CANCEL_REQUESTED;
  return rc;
}
