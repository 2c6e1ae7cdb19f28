/*
 * bench-fs.c - the fs suite's benchmark file, for lure and libuv alike (the
 * suite itself is in bench-uv.c).
 *
 * The file starts with a signature block; lure-bench writes only into files
 * that carry it (or that it creates), and never touches block 0, so pointing
 * --file at someone's data is refused rather than overwritten.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lure-bench.h"

#define SIGNATURE "lure-bench data file v1\n"
#define CHUNK (1u << 20)

static char *created_path;

static int has_signature(int fd) {
  char buf[sizeof(SIGNATURE) - 1];

  return pread(fd, buf, sizeof(buf), 0) == (ssize_t) sizeof(buf) &&
         memcmp(buf, SIGNATURE, sizeof(buf)) == 0;
}

static void fill(char *buf, size_t len, uint64_t *rng) {
  size_t i;
  uint64_t v;

  for (i = 0; i + 8 <= len; i += 8) {
    v = bench_rand(rng);
    memcpy(buf + i, &v, 8);
  }
}

void *bench_fs_buffer(size_t bs) {
  void *mem = NULL;
  uint64_t rng = 12345;

  if (posix_memalign(&mem, 4096, bs < 4096 ? 4096 : bs) != 0)
    return NULL;
  fill(mem, bs, &rng);
  return mem;
}

int bench_fs_prepare(const struct bench_params *p, char *err, size_t errlen) {
  struct stat st;
  char *buf;
  uint64_t rng = 1;
  uint64_t off;
  size_t n;
  ssize_t w;
  int fd;

  if (p->size < 2 * (uint64_t) p->bs) {
    snprintf(err, errlen, "--size must hold at least two blocks of --bs");
    return -1;
  }
  fd = open(p->file, O_RDWR);
  if (fd >= 0) {
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !has_signature(fd)) {
      snprintf(err, errlen,
               "%s exists and is not a lure-bench data file; refusing to "
               "use it (remove it or choose another --file)", p->file);
      close(fd);
      return -1;
    }
    if ((uint64_t) st.st_size == p->size)
      goto direct_check;
    close(fd); /* another size: make it again */
  } else if (errno != ENOENT) {
    snprintf(err, errlen, "%s: %s", p->file, strerror(errno));
    return -1;
  }

  fd = open(p->file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    snprintf(err, errlen, "%s: %s", p->file, strerror(errno));
    return -1;
  }
  if (created_path == NULL)
    created_path = strdup(p->file);
  buf = bench_fs_buffer(CHUNK);
  if (buf == NULL) {
    close(fd);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (off = 0; off < p->size; off += n) {
    n = p->size - off < CHUNK ? (size_t) (p->size - off) : CHUNK;
    fill(buf, n, &rng);
    if (off == 0)
      memcpy(buf, SIGNATURE, sizeof(SIGNATURE) - 1);
    w = pwrite(fd, buf, n, (off_t) off);
    if (w != (ssize_t) n) {
      snprintf(err, errlen, "writing %s: %s", p->file,
               w < 0 ? strerror(errno) : "short write");
      free(buf);
      close(fd);
      return -1;
    }
  }
  free(buf);
  if (fsync(fd) != 0) {
    snprintf(err, errlen, "fsync %s: %s", p->file, strerror(errno));
    close(fd);
    return -1;
  }

direct_check:
  close(fd);
  if (p->direct) {
    fd = open(p->file, O_RDONLY | O_DIRECT);
    if (fd < 0) {
      snprintf(err, errlen, "%s: O_DIRECT: %s (the file system may not "
               "support it)", p->file, strerror(errno));
      return -1;
    }
    close(fd);
  }
  return 0;
}

int bench_fs_before_run(const struct bench_params *p, char *err,
                        size_t errlen) {
  char *buf;
  ssize_t n;
  off_t off = 0;
  int fd;

  fd = open(p->file, O_RDWR);
  if (fd < 0) {
    snprintf(err, errlen, "%s: %s", p->file, strerror(errno));
    return -1;
  }
  /* Write back what the previous run dirtied, so that no run pays for
   * another's writeback. */
  if (p->op != BENCH_OP_READ || p->cold)
    fdatasync(fd);
  if (p->cold) {
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* clean pages only */
  } else if (!p->direct) {
    buf = malloc(CHUNK);
    if (buf != NULL) {
      while ((n = pread(fd, buf, CHUNK, off)) > 0)
        off += n;
      free(buf);
    }
  }
  close(fd);
  return 0;
}

const char *bench_fs_created_path(void) {
  return created_path;
}

void bench_fs_cleanup(void) {
  if (created_path != NULL) {
    unlink(created_path);
    free(created_path);
    created_path = NULL;
  }
}

uint64_t bench_fs_offset(const struct bench_params *p, uint64_t *rng) {
  uint64_t blocks = p->size / p->bs;

  return (1 + bench_rand(rng) % (blocks - 1)) * (uint64_t) p->bs;
}

int bench_fs_is_write(const struct bench_params *p, uint64_t *rng) {
  if (p->op == BENCH_OP_RANDRW)
    return (int) (bench_rand(rng) >> 63);
  return p->op == BENCH_OP_WRITE;
}
