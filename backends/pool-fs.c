/*
 * pool-fs.c - the thread pool as an fs executor: every file system request
 * as its system call(s), run on a pool thread for an asynchronous request
 * (the executor of last resort: it never declines) or on the calling
 * thread for the core's synchronous mode (lure__fs_exec, a NULL callback).
 *
 * Field notes:
 * - Reads and writes follow libuv: one readv(2) of at most IOV_MAX
 *   buffers per read; a write goes on after a short transfer until every
 *   buffer is written.  pread/pwrite when an offset is given.
 * - sendfile(2) falls back to a read/write copy where the kernel refuses
 *   the pair of descriptors (EINVAL, ENOSYS), as libuv's emulation does.
 * - copyfile tries FICLONE first when asked, then copy_file_range/sendfile
 *   and a plain copy.
 * - The pool itself (threads, queue, fork safety) is src/threadpool.c,
 *   shared with lure_queue_work().
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

/* ---- the system calls -------------------------------------- */

static ssize_t lure__fs_rw(lure_fs_t *req, int is_write) {
  struct iovec *iov = (struct iovec *) req->bufs;
  unsigned int left = req->nbufs;
  int64_t off = req->off;
  ssize_t total = 0;
  ssize_t n;
  size_t done;
  unsigned int chunk;

  /* As libuv: a read is one readv(2) of at most IOV_MAX buffers, and may
   * return less; a write goes on after a short transfer (a pipe, a signal
   * in the middle) until every buffer is written or an error comes, in
   * chunks of IOV_MAX buffers.  The buffers are the request's own copy, so
   * the one written in part is advanced in place. */
  while (left > 0) {
    chunk = left > IOV_MAX ? IOV_MAX : left;
    do {
      if (is_write)
        n = off < 0 ? writev(req->file, iov, (int) chunk)
                    : pwritev(req->file, iov, (int) chunk, off);
      else
        n = off < 0 ? readv(req->file, iov, (int) chunk)
                    : preadv(req->file, iov, (int) chunk, off);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
      return total > 0 ? total : -errno;
    total += n;
    if (off >= 0)
      off += n;
    if (!is_write || n == 0)
      break;
    done = (size_t) n;
    while (left > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      iov++;
      left--;
    }
    if (left > 0) {
      iov->iov_base = (char *) iov->iov_base + done;
      iov->iov_len -= done;
    }
  }
  return total;
}

static ssize_t lure__fs_stat_sync(lure_fs_t *req, int dirfd, const char *path,
                                  int flags) {
  struct statx x;

  if (statx(dirfd, path, flags, STATX_BASIC_STATS | STATX_BTIME, &x) != 0)
    return -errno;
  lure__fs_statx_to_stat(&x, &req->statbuf);
  req->ptr = &req->statbuf;
  return 0;
}

static int lure__fs_scandir_filter(const struct dirent *d) {
  return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

static int lure__fs_scandir_sort(const struct dirent **a,
                                 const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static ssize_t lure__fs_readdir_sync(lure_fs_t *req) {
  lure_dir_t *dir = req->ptr;
  struct dirent *d;
  size_t n = 0;
  char *name;

  if (dir == NULL || dir->dir == NULL || dir->dirents == NULL)
    return LURE_EINVAL;
  while (n < dir->nentries) {
    errno = 0;
    d = readdir(dir->dir);
    if (d == NULL) {
      if (errno != 0) {
        int err = -errno;
        while (n > 0)
          lure__free((char *) dir->dirents[--n].name);
        return err;
      }
      break;
    }
    if (!lure__fs_scandir_filter(d))
      continue;
    name = lure__strdup(d->d_name);
    if (name == NULL) {
      while (n > 0)
        lure__free((char *) dir->dirents[--n].name);
      return LURE_ENOMEM;
    }
    dir->dirents[n].name = name;
    dir->dirents[n].type = lure__dirent_type(d->d_type);
    n++;
  }
  return (ssize_t) n;
}

static ssize_t lure__fs_copy_data(int in, int out, uint64_t size) {
  char buf[65536];
  ssize_t n;
  ssize_t w;
  ssize_t off;
  uint64_t done = 0;

  /* copy_file_range first (in-kernel, may reflink); plain copy otherwise. */
  while (done < size) {
    n = copy_file_range(in, NULL, out, NULL, (size_t) (size - done), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      break;
    if (n == 0)
      return 0;
    done += (uint64_t) n;
  }
  if (done >= size)
    return 0;
  if (errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
      errno != EOPNOTSUPP && errno != EPERM)
    return -errno;
  for (;;) {
    n = read(in, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      return 0;
    for (off = 0; off < n; off += w) {
      w = write(out, buf + off, (size_t) (n - off));
      if (w < 0 && errno == EINTR) {
        w = 0;
        continue;
      }
      if (w < 0)
        return -errno;
    }
  }
}

/* Copy by hand what sendfile(2) refuses to copy (an output opened with
 * O_APPEND, file systems without splice support): read at the offset,
 * write at the output's position, as many bytes as were asked for or up to
 * the end of the input. */
static ssize_t lure__fs_sendfile_emul(lure_fs_t *req) {
  char buf[65536];
  int64_t off = req->off;
  uint64_t left = (uint64_t) req->len;
  ssize_t total = 0;
  ssize_t n;
  ssize_t w;
  ssize_t done;

  while (left > 0) {
    n = pread(req->file, buf, left < sizeof(buf) ? (size_t) left : sizeof(buf),
              (off_t) off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return total > 0 ? total : -errno;
    if (n == 0)
      break;
    for (done = 0; done < n; done += w) {
      w = write(req->out_file, buf + done, (size_t) (n - done));
      if (w < 0 && errno == EINTR) {
        w = 0;
        continue;
      }
      if (w < 0)
        return total + done > 0 ? total + done : -errno;
    }
    total += n;
    off += n;
    left -= (uint64_t) n;
  }
  return total;
}

static ssize_t lure__fs_sendfile_sync(lure_fs_t *req) {
  off_t off = (off_t) req->off;
  ssize_t r;

  do
    r = sendfile(req->out_file, req->file, &off, (size_t) req->len);
  while (r < 0 && errno == EINTR);
  if (r >= 0)
    return r;
  /* The errors by which sendfile(2) says "not between these two", as
   * libuv reads them: it then copies by hand. */
  if (errno == EINVAL || errno == EIO || errno == ENOTSOCK || errno == EXDEV)
    return lure__fs_sendfile_emul(req);
  return -errno;
}

static ssize_t lure__fs_copyfile_sync(lure_fs_t *req) {
  struct stat sst;
  struct stat dst_st;
  int in;
  int out;
  int oflags;
  ssize_t rc = 0;

  in = open(req->path, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return -errno;
  if (fstat(in, &sst) != 0) {
    rc = -errno;
    close(in);
    return rc;
  }
  oflags = O_WRONLY | O_CREAT | O_CLOEXEC;
  if (req->flags & LURE_FS_COPYFILE_EXCL)
    oflags |= O_EXCL;
  out = open(req->new_path, oflags, sst.st_mode & 07777);
  if (out < 0) {
    rc = -errno;
    close(in);
    return rc;
  }
  /* Copying a file onto itself is a no-op, as in libuv. */
  if (fstat(out, &dst_st) == 0 && dst_st.st_dev == sst.st_dev &&
      dst_st.st_ino == sst.st_ino) {
    close(in);
    close(out);
    return 0;
  }
  if (ftruncate(out, 0) != 0) {
    rc = -errno;
    goto out;
  }
  if (req->flags & (LURE_FS_COPYFILE_FICLONE | LURE_FS_COPYFILE_FICLONE_FORCE)) {
    if (ioctl(out, FICLONE, in) == 0)
      goto mode;
    if (req->flags & LURE_FS_COPYFILE_FICLONE_FORCE) {
      rc = (errno == ENOTTY || errno == EOPNOTSUPP || errno == EINVAL)
               ? LURE_ENOTSUP : -errno;
      goto out;
    }
  }
  rc = lure__fs_copy_data(in, out, (uint64_t) sst.st_size);
  if (rc != 0)
    goto out;
mode:
  if (fchmod(out, sst.st_mode & 07777) != 0)
    rc = -errno;
out:
  close(in);
  if (close(out) != 0 && rc == 0)
    rc = -errno;
  if (rc != 0)
    unlink(req->new_path);
  return rc;
}

/* mkstemp: the template must end in XXXXXX (checked here, so that the
 * error does not depend on the C library).  On failure the path becomes
 * the empty string, as libuv leaves it: no half-made name survives. */
static ssize_t lure__fs_mkstemp_sync(lure_fs_t *req) {
  char *path = (char *) req->path;
  size_t len = strlen(path);
  ssize_t r;

  if (len < 6 || strcmp(path + len - 6, "XXXXXX") != 0) {
    r = LURE_EINVAL;
  } else {
    r = mkostemp(path, O_CLOEXEC);
    r = r < 0 ? -errno : r;
  }
  if (r < 0)
    path[0] = '\0';
  return r;
}

/* Seconds as a double to a timespec.  The fraction keeps whole
 * microseconds only, as libuv does: a double near today's times cannot
 * hold nanoseconds anyway, and a time read back then compares equal on
 * both libraries. */
static void lure__fs_timespec(double t, struct timespec *ts) {
  ts->tv_sec = (time_t) t;
  ts->tv_nsec = (long) ((t - (double) ts->tv_sec) * 1e9);
  ts->tv_nsec -= ts->tv_nsec % 1000;
  if (ts->tv_nsec < 0) {
    ts->tv_sec--;
    ts->tv_nsec += 1000000000L;
  }
}

static ssize_t lure__fs_utime_sync(lure_fs_t *req) {
  struct timespec ts[2];
  int rc;

  lure__fs_timespec(req->atime, &ts[0]);
  lure__fs_timespec(req->mtime, &ts[1]);
  if (req->fs_type == LURE_FS_FUTIME)
    rc = futimens(req->file, ts);
  else
    rc = utimensat(AT_FDCWD, req->path, ts,
                   req->fs_type == LURE_FS_LUTIME ? AT_SYMLINK_NOFOLLOW : 0);
  return rc == 0 ? 0 : -errno;
}

#define LURE__SYSRET(expr) ((expr) < 0 ? (ssize_t) -errno : 0)

static void lure__fs_exec_once(lure_fs_t *req) {
  ssize_t r;
  struct dirent **dents;
  struct statfs sfs;
  lure_statfs_t *out;
  lure_dir_t *dir;
  char *s;
  int n;

  switch (req->fs_type) {
    case LURE_FS_OPEN:
      r = open(req->path, req->flags | O_CLOEXEC, req->mode);
      r = r < 0 ? -errno : r;
      break;
    case LURE_FS_CLOSE:
      r = close(req->file);
      /* EINTR after close(2) still closed the fd on Linux. */
      r = (r < 0 && errno != EINTR && errno != EINPROGRESS) ? -errno : 0;
      break;
    case LURE_FS_READ:
      r = lure__fs_rw(req, 0);
      break;
    case LURE_FS_WRITE:
      r = lure__fs_rw(req, 1);
      break;
    case LURE_FS_SENDFILE:
      r = lure__fs_sendfile_sync(req);
      break;
    case LURE_FS_STAT:
      r = lure__fs_stat_sync(req, AT_FDCWD, req->path, 0);
      break;
    case LURE_FS_LSTAT:
      r = lure__fs_stat_sync(req, AT_FDCWD, req->path, AT_SYMLINK_NOFOLLOW);
      break;
    case LURE_FS_FSTAT:
      r = lure__fs_stat_sync(req, req->file, "", AT_EMPTY_PATH);
      break;
    case LURE_FS_FTRUNCATE:
      r = LURE__SYSRET(ftruncate(req->file, (off_t) req->off));
      break;
    case LURE_FS_UTIME:
    case LURE_FS_FUTIME:
    case LURE_FS_LUTIME:
      r = lure__fs_utime_sync(req);
      break;
    case LURE_FS_ACCESS:
      r = LURE__SYSRET(access(req->path, req->flags));
      break;
    case LURE_FS_CHMOD:
      r = LURE__SYSRET(chmod(req->path, req->mode));
      break;
    case LURE_FS_FCHMOD:
      r = LURE__SYSRET(fchmod(req->file, req->mode));
      break;
    case LURE_FS_FSYNC:
      r = LURE__SYSRET(fsync(req->file));
      break;
    case LURE_FS_FDATASYNC:
      r = LURE__SYSRET(fdatasync(req->file));
      break;
    case LURE_FS_UNLINK:
      r = LURE__SYSRET(unlink(req->path));
      break;
    case LURE_FS_RMDIR:
      r = LURE__SYSRET(rmdir(req->path));
      break;
    case LURE_FS_MKDIR:
      r = LURE__SYSRET(mkdir(req->path, req->mode));
      break;
    case LURE_FS_MKDTEMP:
      r = mkdtemp((char *) req->path) == NULL ? -errno : 0;
      break;
    case LURE_FS_MKSTEMP:
      r = lure__fs_mkstemp_sync(req);
      break;
    case LURE_FS_RENAME:
      r = LURE__SYSRET(rename(req->path, req->new_path));
      break;
    case LURE_FS_SCANDIR:
      n = scandir(req->path, &dents, lure__fs_scandir_filter,
                  lure__fs_scandir_sort);
      if (n < 0) {
        r = -errno;
      } else {
        /* An empty directory leaves ptr NULL, as libuv does. */
        if (n == 0) {
          free(dents);
          dents = NULL;
        }
        req->ptr = dents;
        req->nbufs = 0; /* scandir_next's cursor */
        r = n;
      }
      break;
    case LURE_FS_LINK:
      r = LURE__SYSRET(link(req->path, req->new_path));
      break;
    case LURE_FS_SYMLINK:
      r = LURE__SYSRET(symlink(req->path, req->new_path));
      break;
    case LURE_FS_READLINK: {
      size_t cap = 256;

      for (;;) {
        s = lure__malloc(cap);
        if (s == NULL) {
          r = LURE_ENOMEM;
          break;
        }
        r = readlink(req->path, s, cap);
        if (r < 0) {
          r = -errno;
          lure__free(s);
          break;
        }
        if ((size_t) r < cap) {
          s[r] = '\0';
          req->ptr = s;
          r = 0;
          break;
        }
        lure__free(s);
        cap *= 2;
        if (cap > (size_t) 1 << 20) {
          r = LURE_ENAMETOOLONG;
          break;
        }
      }
      break;
    }
    case LURE_FS_REALPATH:
      s = realpath(req->path, NULL);
      if (s == NULL) {
        r = -errno;
      } else {
        req->ptr = s;
        r = 0;
      }
      break;
    case LURE_FS_CHOWN:
      r = LURE__SYSRET(chown(req->path, req->uid, req->gid));
      break;
    case LURE_FS_FCHOWN:
      r = LURE__SYSRET(fchown(req->file, req->uid, req->gid));
      break;
    case LURE_FS_LCHOWN:
      r = LURE__SYSRET(lchown(req->path, req->uid, req->gid));
      break;
    case LURE_FS_COPYFILE:
      r = lure__fs_copyfile_sync(req);
      break;
    case LURE_FS_OPENDIR:
      dir = lure__malloc(sizeof(*dir));
      if (dir == NULL) {
        r = LURE_ENOMEM;
        break;
      }
      memset(dir, 0, sizeof(*dir));
      dir->dir = opendir(req->path);
      if (dir->dir == NULL) {
        r = -errno;
        lure__free(dir);
        break;
      }
      req->ptr = dir;
      r = 0;
      break;
    case LURE_FS_READDIR:
      r = lure__fs_readdir_sync(req);
      break;
    case LURE_FS_CLOSEDIR:
      dir = req->ptr;
      r = LURE__SYSRET(closedir(dir->dir));
      lure__free(dir);
      req->ptr = NULL;
      break;
    case LURE_FS_STATFS:
      if (statfs(req->path, &sfs) != 0) {
        r = -errno;
        break;
      }
      out = lure__calloc(1, sizeof(*out));
      if (out == NULL) {
        r = LURE_ENOMEM;
        break;
      }
      out->f_type = (uint64_t) sfs.f_type;
      out->f_bsize = (uint64_t) sfs.f_bsize;
      out->f_blocks = sfs.f_blocks;
      out->f_bfree = sfs.f_bfree;
      out->f_bavail = sfs.f_bavail;
      out->f_files = sfs.f_files;
      out->f_ffree = sfs.f_ffree;
      req->ptr = out;
      r = 0;
      break;
    default:
      r = LURE_ENOSYS;
      break;
  }
  req->result = r;
}

/* One request, as libuv runs it: a call a signal interrupted (EINTR) is
 * made again (lure__fs_retries_eintr). */
void lure__fs_exec(lure_fs_t *req) {
  do
    lure__fs_exec_once(req);
  while (req->result == LURE_EINTR && lure__fs_retries_eintr(req));
}

/* ---- thread pool glue -------------------------------------------------------- */

static void lure__fs_work(struct lure__work *w) {
  lure__fs_exec(lure__container_of(w, lure_fs_t, work_req));
}

static void lure__fs_work_done(struct lure__work *w, int status) {
  lure_fs_t *req = lure__container_of(w, lure_fs_t, work_req);

  lure__fs_done(req->loop, req,
                status == LURE_ECANCELED ? LURE_ECANCELED : req->result,
                LURE__EXEC_THREADPOOL);
}

/* ---- the executor table ------------------------------------------------ */

static int lure__pool_fs_submit(lure_loop_t *loop, lure_fs_t *req) {
  req->executor = LURE__EXEC_THREADPOOL;
  return lure__work_submit(loop, &req->work_req, lure__fs_work,
                           lure__fs_work_done);
}

static int lure__pool_fs_cancel(lure_loop_t *loop, lure_fs_t *req) {
  return lure__work_cancel(loop, &req->work_req);
}

const struct lure__fs_ops lure__fs_pool = {
  LURE__EXEC_THREADPOOL,
  lure__pool_fs_submit,
  lure__pool_fs_cancel,
  NULL,
  NULL,
};
