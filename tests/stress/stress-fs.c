/*
 * stress-fs.c - 100,000 fs requests in flight on one loop: buffered writes
 * then buffered reads of 256-byte blocks, and O_DIRECT reads of one logical
 * block each, every one checked for its result and its bytes, every
 * callback exactly once.
 *
 * The directory: LURE_STRESS_DIR, else TMPDIR, else /var/tmp, else the
 * current one.  A directory whose file system refuses O_DIRECT (tmpfs) is
 * passed over for the O_DIRECT half, and the summary says so; when none
 * takes O_DIRECT that half is skipped with the reason printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stress.h"

#define NREQ 100000u
#define BLK 256u

static lure_fs_t *reqs;
static unsigned char *done;
static unsigned long completed;
static unsigned char *data;
static size_t blk;
static int phase_write;

static void on_fs(lure_fs_t *req) {
  unsigned i = (unsigned) (uintptr_t) req->data;

  SCHECK(i < NREQ);
  SCHECK(done[i] == 0);
  done[i] = 1;
  if (req->result != (ssize_t) blk)
    stress_fail(__FILE__, __LINE__, "request %u: result %zd (%s), not %zu", i,
                req->result,
                req->result < 0 ? lure_err_name((int) req->result) : "short",
                blk);
  if (!phase_write) {
    size_t bad = stress_verify(data + (size_t) i * blk, blk, 1,
                               (uint64_t) i * blk);
    if (bad != blk)
      stress_fail(__FILE__, __LINE__, "request %u: byte %zu differs", i, bad);
  }
  completed++;
  lure_fs_req_cleanup(req);
}

/* Issue NREQ reads (or writes) of blk bytes at offset i * blk, all before
 * the loop runs, then run it to the end. */
static void batch(lure_loop_t *loop, int fd, int write) {
  unsigned i;
  lure_buf_t b;

  memset(done, 0, NREQ);
  completed = 0;
  phase_write = write;
  for (i = 0; i < NREQ; i++) {
    b = lure_buf_init((char *) data + (size_t) i * blk, (unsigned) blk);
    reqs[i].data = (void *) (uintptr_t) i;
    if (write)
      SOK(lure_fs_write(loop, &reqs[i], fd, &b, 1, (int64_t) i * blk, on_fs));
    else
      SOK(lure_fs_read(loop, &reqs[i], fd, &b, 1, (int64_t) i * blk, on_fs));
    /* lure_fs_* may reset data; set it again after the call. */
    reqs[i].data = (void *) (uintptr_t) i;
  }
  SOK(lure_run(loop, LURE_RUN_DEFAULT));
  SCHECK(completed == NREQ);
}

static int try_direct(const char *dir, char *path, size_t size) {
  int fd;

  snprintf(path, size, "%s/lure-stress-direct.%d", dir, (int) getpid());
  fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  close(fd);
  return 0;
}

int stress_fs(void) {
  const char *cands[4], *dir = NULL, *ddir = NULL;
  char path[4096], dpath[4096], note[200] = "";
  lure_loop_t loop;
  unsigned i, n = 0;
  int fd, fds = stress_fd_count(), rc;
  size_t total;
  void *mem;

  stress_watchdog(240, "100k fs requests");
  if (getenv("LURE_STRESS_DIR") != NULL)
    cands[n++] = getenv("LURE_STRESS_DIR");
  if (getenv("TMPDIR") != NULL)
    cands[n++] = getenv("TMPDIR");
  cands[n++] = "/var/tmp";
  cands[n++] = ".";
  for (i = 0; i < n && dir == NULL; i++)
    if (access(cands[i], W_OK) == 0)
      dir = cands[i];
  SCHECK(dir != NULL);
  for (i = 0; i < n && ddir == NULL; i++) {
    if (access(cands[i], W_OK) != 0)
      continue;
    rc = try_direct(cands[i], dpath, sizeof(dpath));
    if (rc == 0) {
      ddir = cands[i];
    } else {
      unlink(dpath);
      snprintf(note + strlen(note), sizeof(note) - strlen(note),
               "%s refuses O_DIRECT (%s); ", cands[i], lure_err_name(rc));
    }
  }

  reqs = calloc(NREQ, sizeof(*reqs));
  done = malloc(NREQ);
  SCHECK(reqs != NULL && done != NULL);
  SOK(lure_loop_init(&loop));

  /* Buffered: 100k writes in flight, then 100k reads in flight. */
  blk = BLK;
  total = (size_t) NREQ * blk;
  data = malloc(total);
  SCHECK(data != NULL);
  stress_fill(data, total, 1, 0);
  snprintf(path, sizeof(path), "%s/lure-stress-fs.%d", dir, (int) getpid());
  fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  SCHECK(fd >= 0);
  batch(&loop, fd, 1);
  memset(data, 0, total);
  batch(&loop, fd, 0);
  stress_fig.fs_buffered = NREQ;
  close(fd);
  unlink(path);
  free(data);

  /* O_DIRECT: the file written with plain writes, then 100k reads of one
   * logical block each, at once. */
  if (ddir != NULL) {
    blk = 512;
    fd = open(dpath, O_RDWR | O_DIRECT | O_CLOEXEC);
    SCHECK(fd >= 0);
    total = (size_t) NREQ * 4096;
    SCHECK(posix_memalign(&mem, 4096, total) == 0);
    data = mem;
    /* The block size the device takes: 512, else 4096. */
    stress_fill(data, 4096, 1, 0);
    if (pwrite(fd, data, 512, 0) != 512) {
      SCHECK(errno == EINVAL);
      blk = 4096;
    }
    total = (size_t) NREQ * blk;
    stress_fill(data, total, 1, 0);
    SCHECK(pwrite(fd, data, total, 0) == (ssize_t) total);
    SCHECK(fsync(fd) == 0);
    memset(data, 0, total);
    batch(&loop, fd, 0);
    stress_fig.fs_direct = NREQ;
    close(fd);
    free(data);
    snprintf(stress_fig.fs_direct_note, sizeof(stress_fig.fs_direct_note),
             "%sO_DIRECT in %s, %zu-byte blocks; buffered in %s", note, ddir,
             blk, dir);
  } else {
    snprintf(stress_fig.fs_direct_note, sizeof(stress_fig.fs_direct_note),
             "%sO_DIRECT half SKIPPED: no directory takes O_DIRECT", note);
    printf("lure-stress: fs: O_DIRECT half skipped: %s\n", note);
  }
  unlink(dpath);
  SOK(lure_loop_close(&loop));
  free(reqs);
  free(done);
  SCHECK(stress_fd_count() == fds);
  printf("lure-stress: fs: %s\n", stress_fig.fs_direct_note);
  return 0;
}
