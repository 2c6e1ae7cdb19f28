/*
 * bench-fs.c - the benchmark file, and the fs suite on lure.
 *
 * The file starts with a signature block; lure-bench writes only into files
 * that carry it (or that it creates), and never touches block 0, so pointing
 * --file at someone's data is refused rather than overwritten.
 *
 * Each run opens the file with lure_fs_open (synchronously), keeps --depth
 * reads or writes of --bs bytes at random block offsets in flight, and
 * checks for every completion that the executor lure_req_executor() names is
 * the one the run is for: a run whose requests went elsewhere is an error,
 * not a figure.
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

#include "lure.h"
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

/* ---- the fs suite on lure ------------------------------------------------ */

struct fs_ctx;

struct fs_slot {
  lure_fs_t req;
  lure_buf_t buf;
  uint64_t t;
  struct fs_ctx *c;
};

struct fs_ctx {
  struct bench_drive d;
  lure_loop_t *loop;
  lure_file fd;
  const char *want;
  uint64_t rng;
  lure_loop_stats_t s0;
};

static void fs_done(lure_fs_t *req);

static void fs_issue(struct fs_slot *s) {
  struct fs_ctx *c = s->c;
  const struct bench_params *p = c->d.p;
  int64_t off = (int64_t) bench_fs_offset(p, &c->rng);
  int w = bench_fs_is_write(p, &c->rng);
  int rc;

  c->d.issued++;
  s->t = bench_now_ns();
  if (w)
    rc = lure_fs_write(c->loop, &s->req, c->fd, &s->buf, 1, off, fs_done);
  else
    rc = lure_fs_read(c->loop, &s->req, c->fd, &s->buf, 1, off, fs_done);
  if (rc != 0) {
    bench_set_error(c->d.r, "lure_fs_%s: %s", w ? "write" : "read",
                    lure_strerror(rc));
    c->d.stop = 1;
  }
}

static void fs_done(lure_fs_t *req) {
  struct fs_slot *s = (struct fs_slot *) req;
  struct fs_ctx *c = s->c;
  struct bench_result *r = c->d.r;
  uint64_t now = bench_now_ns();
  const char *ex = lure_req_executor((const lure_req_t *) req);

  if (req->result != (ssize_t) c->d.p->bs) {
    bench_set_error(r, "lure_fs_%s returned %s",
                    req->fs_type == LURE_FS_WRITE ? "write" : "read",
                    req->result < 0 ? lure_strerror((int) req->result)
                                    : "a short count");
    c->d.stop = 1;
  }
  if (ex == NULL || strcmp(ex, c->want) != 0) {
    if (r->mismatches++ == 0)
      snprintf(r->mismatch_name, sizeof(r->mismatch_name), "%s",
               ex ? ex : "none");
    c->d.stop = 1;
  }
  lure_fs_req_cleanup(req);
  if (bench_drive_complete(&c->d, s->t, now))
    lure_loop_stats(c->loop, &c->s0);
  if (bench_drive_may_issue(&c->d, now))
    fs_issue(s);
}

int bench_lure_fs(const struct bench_params *p, const char *executor,
                  struct bench_result *r) {
  struct fs_ctx c;
  struct fs_slot *slots;
  lure_loop_t loop;
  lure_loop_stats_t s1;
  lure_fs_t oreq;
  int flags = O_RDWR | (p->direct ? O_DIRECT : 0);
  unsigned i;
  int rc;

  memset(&c, 0, sizeof(c));
  c.want = executor;
  c.rng = p->seed;
  slots = calloc(p->depth, sizeof(*slots));
  if (slots == NULL) {
    bench_set_error(r, "out of memory");
    return -1;
  }
  for (i = 0; i < p->depth; i++) {
    slots[i].c = &c;
    slots[i].buf.len = p->bs;
    slots[i].buf.base = bench_fs_buffer(p->bs);
    if (slots[i].buf.base == NULL) {
      bench_set_error(r, "out of memory");
      goto out;
    }
  }
  if (bench_lure_open(&loop, executor, r) != 0)
    goto out;
  c.loop = &loop;
  rc = lure_fs_open(&loop, &oreq, p->file, flags, 0, NULL);
  lure_fs_req_cleanup(&oreq);
  if (rc < 0) {
    bench_set_error(r, "lure_fs_open %s: %s", p->file, lure_strerror(rc));
    bench_lure_close(&loop);
    goto out;
  }
  c.fd = rc;
  lure_loop_stats(&loop, &c.s0);
  bench_drive_init(&c.d, p, r, bench_now_ns());
  for (i = 0; i < p->depth && bench_drive_may_issue(&c.d, bench_now_ns());
       i++)
    fs_issue(&slots[i]);
  lure_run(&loop, LURE_RUN_DEFAULT);
  bench_drive_finish(&c.d);
  if (lure_loop_stats(&loop, &s1) == 0) {
    r->wait_calls = s1.wait_calls - c.s0.wait_calls;
    r->has_wait_calls = 1;
  }
  rc = lure_fs_close(&loop, &oreq, c.fd, NULL);
  lure_fs_req_cleanup(&oreq);
  bench_lure_close(&loop);
  if (r->mismatches != 0) {
    r->error[0] = '\0'; /* this says more than what followed from it */
    bench_set_error(r, "lure served %llu request(s) with %s instead of %s: "
                    "this machine cannot run the %s executor for this test",
                    (unsigned long long) r->mismatches, r->mismatch_name,
                    executor, executor);
  }

out:
  for (i = 0; i < p->depth; i++)
    free(slots[i].buf.base);
  free(slots);
  return r->error[0] ? -1 : 0;
}
