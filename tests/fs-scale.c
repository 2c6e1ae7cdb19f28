/*
 * fs-scale.c - data integrity under many parallel requests, and the limits
 * of issue 3, section 4: more requests in flight than the ring has entries,
 * nbufs > IOV_MAX, offsets beyond 4 GiB, misaligned O_DIRECT among good
 * requests.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include "harness-fs.h"

/* ---- parallel requests with their own callback --------------------------- */

struct preq {
  lure_fs_t req;
  int calls;
  ssize_t want;
  lure_buf_t bufs[4];
  unsigned nbufs;
  char *mem;
  int64_t off;
  size_t len;
};

static unsigned long pcalls;

static void pcb(lure_fs_t *req) {
  struct preq *p = req->data;

  p->calls++;
  pcalls++;
}

static uint64_t rng_state;

static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}

static void shuffle(unsigned *a, unsigned n) {
  unsigned i;

  for (i = 0; i < n; i++)
    a[i] = i;
  for (i = n - 1; i > 0; i--) {
    unsigned j = (unsigned) (rnd() % (i + 1));
    unsigned t = a[i];

    a[i] = a[j];
    a[j] = t;
  }
}

/* Split [mem, mem+len) into n buffers (the first ones may be short). */
static void split(struct preq *p, unsigned n) {
  size_t left = p->len;
  char *at = p->mem;
  unsigned k;

  p->nbufs = n;
  for (k = 0; k < n; k++) {
    size_t piece = (k == n - 1) ? left : (left / (n - k)) + (k % 2);

    if (piece > left)
      piece = left;
    p->bufs[k] = lure_buf_init(at, (unsigned) piece);
    at += piece;
    left -= piece;
  }
}

static void run_all(struct preq *p, unsigned n, int kind, const char *what) {
  unsigned i;

  pcalls = 0;
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_msg(pcalls == n, "%s: %lu callbacks for %u requests", what,
                pcalls, n);
  for (i = 0; i < n; i++) {
    ck_assert_msg(p[i].calls == 1, "%s #%u: %d callbacks", what, i,
                  p[i].calls);
    ck_assert_msg(p[i].req.result == p[i].want, "%s #%u: result %s, want %zd",
                  what, i, lt_err(p[i].req.result), p[i].want);
    lt_fs_check_executor(&p[i].req, kind, 0, what, __FILE__, __LINE__);
    lure_fs_req_cleanup(&p[i].req);
  }
}

/* ---- integrity, buffered ------------------------------------------------- */

START_TEST(fs_integrity_buffered) {
  enum { N = 256, SLOT = 8192, ROUNDS = 4 };
  struct preq *p = calloc(N, sizeof(*p));
  unsigned perm[N];
  unsigned char *image = calloc(N, SLOT);
  unsigned char *disk = malloc((size_t) N * SLOT);
  int fd;
  int round;
  unsigned i;

  lt_fs_begin(1, 30000);
  rng_state = 0x1234567;
  fd = open(lt_fs_path("f"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(ftruncate(fd, (off_t) N * SLOT), 0);
  for (i = 0; i < N; i++)
    p[i].mem = malloc(SLOT);
  for (round = 0; round < ROUNDS; round++) {
    /* 256 writes in flight, each at a random place in its own slot. */
    shuffle(perm, N);
    for (i = 0; i < N; i++) {
      struct preq *q = &p[i];
      size_t len = 1 + (size_t) (rnd() % SLOT);
      size_t inner = (size_t) (rnd() % (SLOT - len + 1));

      q->len = len;
      q->off = (int64_t) perm[i] * SLOT + (int64_t) inner;
      q->want = (ssize_t) len;
      q->calls = 0;
      lt_fs_pattern(q->mem, len, (uint64_t) round * 100000 + i);
      memcpy(image + q->off, q->mem, len);
      split(q, 1 + (i % 4));
      q->req.data = q;
      ck_assert_int_eq(lure_fs_write(L, &q->req, fd, q->bufs, q->nbufs,
                                     q->off, pcb), 0);
    }
    run_all(p, N, FX_AUTO, "parallel write");

    /* 256 reads in flight, each of a whole slot, cut differently. */
    for (i = 0; i < N; i++) {
      struct preq *q = &p[i];

      q->len = SLOT;
      q->off = (int64_t) perm[i] * SLOT;
      q->want = SLOT;
      q->calls = 0;
      memset(q->mem, 0xee, SLOT);
      split(q, 1 + ((i + 1) % 4));
      q->req.data = q;
      ck_assert_int_eq(lure_fs_read(L, &q->req, fd, q->bufs, q->nbufs,
                                    q->off, pcb), 0);
    }
    run_all(p, N, FX_AUTO, "parallel read");
    for (i = 0; i < N; i++)
      ck_assert_msg(memcmp(p[i].mem, image + p[i].off, SLOT) == 0,
                    "round %d: slot %u read back wrong", round, perm[i]);
    /* And as the kernel sees the file. */
    ck_assert_int_eq(pread(fd, disk, (size_t) N * SLOT, 0), N * SLOT);
    ck_assert_msg(memcmp(disk, image, (size_t) N * SLOT) == 0,
                  "round %d: the file differs from what was written", round);
  }
  for (i = 0; i < N; i++)
    free(p[i].mem);
  close(fd);
  free(p);
  free(image);
  free(disk);
  lt_fs_end();
}
END_TEST

/* ---- integrity, O_DIRECT ------------------------------------------------- */

START_TEST(fs_integrity_direct) {
  enum { N = 256, SLOT = 16384, ROUNDS = 2 };
  struct preq *p;
  unsigned perm[N];
  unsigned char *image;
  int fd;
  int round;
  unsigned i;

  if (!lt_fs_facts.direct_ok)
    return;
  lt_fs_begin(1, 30000);
  p = calloc(N, sizeof(*p));
  image = calloc(N, SLOT);
  rng_state = 0x7654321;
  fd = open(lt_fs_path("f"), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
  ck_assert_int_ge(fd, 0);
  for (i = 0; i < N; i++)
    p[i].mem = lt_fs_aligned(4096, SLOT);
  for (round = 0; round < ROUNDS; round++) {
    shuffle(perm, N);
    for (i = 0; i < N; i++) {
      struct preq *q = &p[i];
      size_t blocks = 1 + (size_t) (rnd() % 4);

      q->len = blocks * 4096;
      q->off = (int64_t) perm[i] * SLOT;
      q->want = (ssize_t) q->len;
      q->calls = 0;
      lt_fs_pattern(q->mem, q->len, (uint64_t) round * 100000 + i + 7);
      memcpy(image + q->off, q->mem, q->len);
      if (blocks >= 2 && (i & 1)) {
        q->nbufs = 2;
        q->bufs[0] = lure_buf_init(q->mem, 4096);
        q->bufs[1] = lure_buf_init(q->mem + 4096, (unsigned) q->len - 4096);
      } else {
        q->nbufs = 1;
        q->bufs[0] = lure_buf_init(q->mem, (unsigned) q->len);
      }
      q->req.data = q;
      ck_assert_int_eq(lure_fs_write(L, &q->req, fd, q->bufs, q->nbufs,
                                     q->off, pcb), 0);
    }
    run_all(p, N, FX_DIRECT, "parallel O_DIRECT write");
    for (i = 0; i < N; i++) {
      struct preq *q = &p[i];

      q->len = SLOT;
      q->off = (int64_t) perm[i] * SLOT;
      q->calls = 0;
      memset(q->mem, 0xee, SLOT);
      q->nbufs = 1;
      q->bufs[0] = lure_buf_init(q->mem, SLOT);
      q->req.data = q;
      ck_assert_int_eq(lure_fs_read(L, &q->req, fd, q->bufs, 1, q->off, pcb),
                       0);
    }
    /* The last slot may end early (the file ends at the last block
     * written there). */
    {
      struct stat st;
      unsigned j;

      ck_assert_int_eq(fstat(fd, &st), 0);
      for (j = 0; j < N; j++) {
        int64_t end = p[j].off + SLOT;

        p[j].want = end <= st.st_size ? SLOT
                                      : (ssize_t) (st.st_size - p[j].off);
      }
    }
    run_all(p, N, FX_DIRECT, "parallel O_DIRECT read");
    for (i = 0; i < N; i++)
      ck_assert_msg(memcmp(p[i].mem, image + p[i].off,
                           (size_t) p[i].want) == 0,
                    "round %d: O_DIRECT slot %u read back wrong", round,
                    perm[i]);
  }
  for (i = 0; i < N; i++)
    free(p[i].mem);
  close(fd);
  free(p);
  free(image);
  lt_fs_end();
}
END_TEST

/* ---- 100,000 reads on a 256-entry ring ----------------------------------- */

static unsigned long big_calls;
static unsigned long big_bad;
static ssize_t big_first_bad;

static void big_cb(lure_fs_t *req) {
  big_calls++;
  if (req->result != 4096) {
    if (big_bad++ == 0)
      big_first_bad = req->result;
  }
}

START_TEST(fs_scale_100k_reads) {
  enum { N = 100000, NB = 16 };
  lure_fs_t *reqs;
  char *data;
  char *bufs;
  lure_buf_t b[NB];
  lure_loop_stats_t st;
  int fd;
  unsigned i;

  lt_fs_begin_cfg(1, 60000, 256);
  data = malloc(NB * 4096);
  bufs = malloc(NB * 4096);
  lt_fs_pattern(data, NB * 4096, 99);
  lt_fs_write_file(lt_fs_path("f"), data, NB * 4096);
  fd = open(lt_fs_path("f"), O_RDONLY | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  reqs = calloc(N, sizeof(*reqs));
  ck_assert_ptr_nonnull(reqs);
  for (i = 0; i < NB; i++)
    b[i] = lure_buf_init(bufs + 4096 * i, 4096);
  big_calls = big_bad = 0;
  for (i = 0; i < N; i++) {
    int rc = lure_fs_read(L, &reqs[i], fd, &b[i % NB], 1,
                          (int64_t) 4096 * (i % NB), big_cb);

    ck_assert_msg(rc == 0, "read #%u: %s", i, lt_err(rc));
  }
  ck_assert_int_eq(big_calls, 0);
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_msg(big_calls == N, "%lu callbacks for %u reads", big_calls,
                (unsigned) N);
  ck_assert_msg(big_bad == 0, "%lu of %u reads failed; first: %s", big_bad,
                (unsigned) N, lt_err(big_first_bad));
  ck_assert_int_eq(memcmp(bufs, data, NB * 4096), 0);
  for (i = 0; i < N; i += 997)
    lt_fs_check_executor(&reqs[i], FX_AUTO, 0, "read of 100k", __FILE__,
                       __LINE__);
  ck_assert_int_eq(lure_loop_stats(L, &st), 0);
  printf("  100k reads: ticks %llu, waits %llu, sqes %llu, cqes %llu, "
         "pool jobs %llu, sq_full %llu, cq_overflow %llu\n",
         (unsigned long long) st.ticks, (unsigned long long) st.wait_calls,
         (unsigned long long) st.sqes_submitted,
         (unsigned long long) st.cqes_reaped,
         (unsigned long long) st.threadpool_jobs,
         (unsigned long long) st.sq_full,
         (unsigned long long) st.cq_overflow);
  for (i = 0; i < N; i++)
    lure_fs_req_cleanup(&reqs[i]);
  close(fd);
  free(reqs);
  free(data);
  free(bufs);
  lt_fs_end();
}
END_TEST

/* Path requests (statx needs room for the kernel's answer) beyond the
 * ring's size, on a tiny ring. */
static unsigned long stat_calls;
static unsigned long stat_bad;

static void stat_cb(lure_fs_t *req) {
  stat_calls++;
  if (req->result != 0 || req->statbuf.st_size != (uint64_t) (uintptr_t)
                                                      req->data)
    stat_bad++;
  lure_fs_req_cleanup(req);
}

START_TEST(fs_scale_stats_small_ring) {
  enum { FILES = 50, N = 10000 };
  lure_fs_t *reqs;
  char names[FILES][PATH_MAX];
  char data[FILES];
  unsigned i;

  lt_fs_begin_cfg(1, 60000, 8);
  memset(data, 's', sizeof(data));
  for (i = 0; i < FILES; i++) {
    char n[32];

    snprintf(n, sizeof(n), "f%u", i);
    snprintf(names[i], PATH_MAX, "%s", lt_fs_path(n));
    lt_fs_write_file(names[i], data, i);
  }
  reqs = calloc(N, sizeof(*reqs));
  stat_calls = stat_bad = 0;
  for (i = 0; i < N; i++) {
    reqs[i].data = (void *) (uintptr_t) (i % FILES);
    ck_assert_int_eq(lure_fs_stat(L, &reqs[i], names[i % FILES], stat_cb), 0);
  }
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(stat_calls, N);
  ck_assert_msg(stat_bad == 0, "%lu of %d stats wrong", stat_bad, N);
  free(reqs);
  lt_fs_end();
}
END_TEST

/* ---- nbufs > IOV_MAX ----------------------------------------------------- */

START_TEST(fs_scale_iov_max) {
  enum { NB = 1500, SZ = 16 };
  lure_fs_t req;
  lure_buf_t *w = calloc(NB, sizeof(*w));
  lure_buf_t *r = calloc(NB, sizeof(*r));
  char *wm = malloc(NB * SZ);
  char *rm = malloc(NB * SZ);
  char *disk = malloc(NB * SZ + 200);
  int fd;
  unsigned i;

  ck_assert_int_gt(NB, IOV_MAX);
  lt_fs_begin(_i, 30000);
  lt_fs_pattern(wm, NB * SZ, 5);
  for (i = 0; i < NB; i++) {
    w[i] = lure_buf_init(wm + SZ * i, SZ);
    /* Read back in the reverse order of memory. */
    r[i] = lure_buf_init(rm + SZ * (NB - 1 - i), SZ);
  }
  fd = open(lt_fs_path("f"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(FSK(&req, FX_ANY,
                       lure_fs_write(L, &req, fd, w, NB, 0, LT_FS_CB)),
                   NB * SZ);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 0);
  ck_assert_int_eq(pread(fd, disk, NB * SZ + 200, 0), NB * SZ);
  ck_assert_int_eq(memcmp(disk, wm, NB * SZ), 0);
  memset(rm, 0, NB * SZ);
  /* As libuv's (fs_write_alotof_bufs): a read is one readv(2) of the
   * first IOV_MAX buffers; the rest takes a second read. */
  ck_assert_int_eq(FSK(&req, FX_ANY,
                       lure_fs_read(L, &req, fd, r, NB, 0, LT_FS_CB)),
                   IOV_MAX * SZ);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(FSK(&req, FX_ANY,
                       lure_fs_read(L, &req, fd, r + IOV_MAX, NB - IOV_MAX,
                                    IOV_MAX * SZ, LT_FS_CB)),
                   (NB - IOV_MAX) * SZ);
  lure_fs_req_cleanup(&req);
  for (i = 0; i < NB; i++)
    ck_assert_msg(memcmp(rm + SZ * (NB - 1 - i), wm + SZ * i, SZ) == 0,
                  "buffer %u read back wrong", i);

  /* At the current position: it moves by the whole amount. */
  ck_assert_int_eq(lseek(fd, 100, SEEK_SET), 100);
  ck_assert_int_eq(FSK(&req, FX_ANY,
                       lure_fs_write(L, &req, fd, w, NB, -1, LT_FS_CB)),
                   NB * SZ);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 100 + NB * SZ);
  ck_assert_int_eq(pread(fd, disk, NB * SZ + 200, 100), NB * SZ);
  ck_assert_int_eq(memcmp(disk, wm, NB * SZ), 0);
  ck_assert_int_eq(lseek(fd, 100, SEEK_SET), 100);
  memset(rm, 0, NB * SZ);
  ck_assert_int_eq(FSK(&req, FX_ANY,
                       lure_fs_read(L, &req, fd, r, NB, -1, LT_FS_CB)),
                   IOV_MAX * SZ);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(FSK(&req, FX_ANY,
                       lure_fs_read(L, &req, fd, r + IOV_MAX, NB - IOV_MAX,
                                    -1, LT_FS_CB)),
                   (NB - IOV_MAX) * SZ);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 100 + NB * SZ);
  for (i = 0; i < NB; i++)
    ck_assert_int_eq(memcmp(rm + SZ * (NB - 1 - i), wm + SZ * i, SZ), 0);
  /* Short at the end: the total stops at EOF. */
  ck_assert_int_eq(FSK(&req, FX_ANY,
                       lure_fs_read(L, &req, fd, r, NB, 100 + NB * SZ - 40,
                                    LT_FS_CB)), 40);
  lure_fs_req_cleanup(&req);
  close(fd);
  free(w);
  free(r);
  free(wm);
  free(rm);
  free(disk);
  lt_fs_end();
}
END_TEST

/* ---- offsets beyond 4 GiB ------------------------------------------------ */

START_TEST(fs_scale_beyond_4g) {
  const int64_t G5 = (int64_t) 5 << 30;
  lure_fs_t req;
  lure_buf_t b;
  char *w = lt_fs_aligned(4096, 4096);
  char *r = lt_fs_aligned(4096, 4096);
  struct stat st;
  int fd;
  int k;

  lt_fs_begin(_i, 30000);
  lt_fs_pattern(w, 4096, 55);
  fd = open(lt_fs_path("sparse"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ck_assert_int_ge(fd, 0);
  b = lure_buf_init(w, 4096);
  FS_OK(&req, lure_fs_write(L, &req, fd, &b, 1, G5, LT_FS_CB), 4096);
  ck_assert_int_eq(fstat(fd, &st), 0);
  ck_assert_int_eq(st.st_size, G5 + 4096);
  FS_EQ(&req, lure_fs_fstat(L, &req, fd, LT_FS_CB), 0);
  ck_assert_uint_eq(req.statbuf.st_size, (uint64_t) G5 + 4096);
  lure_fs_req_cleanup(&req);
  FS_EQ(&req, lure_fs_stat(L, &req, lt_fs_path("sparse"), LT_FS_CB), 0);
  ck_assert_uint_eq(req.statbuf.st_size, (uint64_t) G5 + 4096);
  lure_fs_req_cleanup(&req);
  b = lure_buf_init(r, 4096);
  memset(r, 0, 4096);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, G5, LT_FS_CB), 4096);
  ck_assert_int_eq(memcmp(r, w, 4096), 0);
  /* The same offset modulo 4 GiB is a hole (the offset was not cut to
   * 32 bits), and so is the block before. */
  memset(r, 1, 4096);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, G5 - ((int64_t) 4 << 30),
                           LT_FS_CB), 4096);
  for (k = 0; k < 4096; k++)
    ck_assert_int_eq(r[k], 0);
  memset(r, 1, 4096);
  FS_OK(&req, lure_fs_read(L, &req, fd, &b, 1, G5 - 4096, LT_FS_CB), 4096);
  for (k = 0; k < 4096; k++)
    ck_assert_int_eq(r[k], 0);
  /* At the current position, beyond 4 GiB. */
  ck_assert_int_eq(lseek(fd, G5 + 4096, SEEK_SET), G5 + 4096);
  b = lure_buf_init(w, 4096);
  FS_OK(&req, lure_fs_write(L, &req, fd, &b, 1, -1, LT_FS_CB), 4096);
  ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), G5 + 8192);
  /* ftruncate and sendfile with 64-bit values. */
  FS_OK(&req, lure_fs_ftruncate(L, &req, fd, G5 + 12288, LT_FS_CB), 0);
  ck_assert_int_eq(fstat(fd, &st), 0);
  ck_assert_int_eq(st.st_size, G5 + 12288);
  {
    int out = open(lt_fs_path("out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    ck_assert_int_ge(out, 0);
    FS_OK(&req, lure_fs_sendfile(L, &req, out, fd, G5, 4096, LT_FS_CB), 4096);
    close(out);
    memset(r, 0, 4096);
    ck_assert_int_eq(lt_fs_read_file(lt_fs_path("out"), r, 4096), 4096);
    ck_assert_int_eq(memcmp(r, w, 4096), 0);
  }
  close(fd);

  /* O_DIRECT (AIO without a ring) at 5 GiB + 8 KiB. */
  if (lt_fs_facts.direct_ok) {
    fd = open(lt_fs_path("sparse"), O_RDWR | O_DIRECT | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    lt_fs_pattern(w, 4096, 56);
    b = lure_buf_init(w, 4096);
    ck_assert_int_eq(FSK(&req, FX_DIRECT,
                         lure_fs_write(L, &req, fd, &b, 1, G5 + 8192,
                                       LT_FS_CB)), 4096);
    lure_fs_req_cleanup(&req);
    memset(r, 0, 4096);
    b = lure_buf_init(r, 4096);
    ck_assert_int_eq(FSK(&req, FX_DIRECT,
                         lure_fs_read(L, &req, fd, &b, 1, G5 + 8192, LT_FS_CB)),
                     4096);
    lure_fs_req_cleanup(&req);
    ck_assert_int_eq(memcmp(r, w, 4096), 0);
    memset(r, 1, 4096);
    ck_assert_int_eq(pread(fd, r, 4096, G5 + 8192 - ((int64_t) 4 << 30)),
                     4096);
    for (k = 0; k < 4096; k++)
      ck_assert_int_eq(r[k], 0);
    close(fd);
  }
  free(w);
  free(r);
  lt_fs_end();
}
END_TEST

/* ---- misaligned O_DIRECT among requests in flight ------------------------ */

START_TEST(fs_scale_direct_misaligned_inflight) {
  enum { N = 40 };
  struct preq *p;
  char *data;
  int fd;
  int wfd;
  unsigned i;
  int immediate = 0;

  if (!lt_fs_facts.direct_ok || !lt_fs_facts.direct_einval)
    return;
  lt_fs_begin(1, 30000);
  p = calloc(N, sizeof(*p));
  data = malloc(32 * 4096);
  lt_fs_pattern(data, 32 * 4096, 12);
  lt_fs_write_file(lt_fs_path("f"), data, 32 * 4096);
  fd = open(lt_fs_path("f"), O_RDONLY | O_DIRECT | O_CLOEXEC);
  wfd = open(lt_fs_path("f"), O_WRONLY | O_DIRECT | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_ge(wfd, 0);
  pcalls = 0;
  for (i = 0; i < N; i++) {
    struct preq *q = &p[i];
    int bad = (i % 5 == 4);
    int rc;

    q->mem = lt_fs_aligned(4096, 8192);
    q->req.data = q;
    q->off = 4096 * (int64_t) (i % 32);
    q->want = bad ? LURE_EINVAL : 4096;
    switch (bad ? (int) ((i / 5) % 4) : -1) {
      case 0: /* misaligned buffer */
        q->bufs[0] = lure_buf_init(q->mem + 1, 4096);
        rc = lure_fs_read(L, &q->req, fd, q->bufs, 1, q->off, pcb);
        break;
      case 1: /* misaligned offset */
        q->bufs[0] = lure_buf_init(q->mem, 4096);
        rc = lure_fs_read(L, &q->req, fd, q->bufs, 1, q->off + 100, pcb);
        break;
      case 2: /* misaligned length */
        q->bufs[0] = lure_buf_init(q->mem, 1000);
        rc = lure_fs_read(L, &q->req, fd, q->bufs, 1, q->off, pcb);
        break;
      case 3: /* misaligned write */
        memset(q->mem, 'w', 8192);
        q->bufs[0] = lure_buf_init(q->mem + 3, 4096);
        rc = lure_fs_write(L, &q->req, wfd, q->bufs, 1, q->off, pcb);
        break;
      default:
        q->bufs[0] = lure_buf_init(q->mem, 4096);
        rc = lure_fs_read(L, &q->req, fd, q->bufs, 1, q->off, pcb);
        break;
    }
    if (bad && rc == LURE_EINVAL) {
      /* Refused at once: no callback will come. */
      q->calls = 1;
      q->req.result = LURE_EINVAL;
      immediate++;
      continue;
    }
    ck_assert_msg(rc == 0, "request #%u: %s", i, lt_err(rc));
  }
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(pcalls, N - immediate);
  for (i = 0; i < N; i++) {
    struct preq *q = &p[i];

    ck_assert_msg(q->calls == 1, "request #%u: %d callbacks", i, q->calls);
    ck_assert_msg(q->req.result == q->want, "request #%u: %s, want %s", i,
                  lt_err(q->req.result), lt_err(q->want));
    if (q->want == 4096)
      ck_assert_msg(memcmp(q->mem, data + q->off, 4096) == 0,
                    "request #%u read wrong data", i);
    lure_fs_req_cleanup(&q->req);
    free(q->mem);
  }
  /* The misaligned writes wrote nothing. */
  {
    char *chk = malloc(32 * 4096);

    ck_assert_int_eq(lt_fs_read_file(lt_fs_path("f"), chk, 32 * 4096), 32 * 4096);
    ck_assert_int_eq(memcmp(chk, data, 32 * 4096), 0);
    free(chk);
  }
  close(fd);
  close(wfd);
  free(p);
  free(data);
  lt_fs_end();
}
END_TEST

/* ---- many O_DIRECT requests at once (more than an AIO context holds) ----- */

static unsigned long dmany_calls;
static unsigned long dmany_bad;
static ssize_t dmany_first_bad;

static void dmany_cb(lure_fs_t *req) {
  dmany_calls++;
  if (req->result != 4096 && dmany_bad++ == 0)
    dmany_first_bad = req->result;
}

START_TEST(fs_scale_direct_many) {
  enum { N = 4096, NB = 64 };
  lure_fs_t *reqs;
  char *data;
  char *bufs;
  lure_buf_t b[NB];
  int fd;
  unsigned i;

  if (!lt_fs_facts.direct_ok)
    return;
  lt_fs_begin(1, 60000);
  data = malloc(NB * 4096);
  bufs = lt_fs_aligned(4096, NB * 4096);
  lt_fs_pattern(data, NB * 4096, 31);
  lt_fs_write_file(lt_fs_path("f"), data, NB * 4096);
  fd = open(lt_fs_path("f"), O_RDONLY | O_DIRECT | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  reqs = calloc(N, sizeof(*reqs));
  for (i = 0; i < NB; i++)
    b[i] = lure_buf_init(bufs + 4096 * i, 4096);
  dmany_calls = dmany_bad = 0;
  for (i = 0; i < N; i++) {
    int rc = lure_fs_read(L, &reqs[i], fd, &b[i % NB], 1,
                          (int64_t) 4096 * (i % NB), dmany_cb);

    ck_assert_msg(rc == 0, "O_DIRECT read #%u: %s", i, lt_err(rc));
  }
  ck_assert_int_eq(lure_run(L, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(dmany_calls, N);
  ck_assert_msg(dmany_bad == 0, "%lu of %d O_DIRECT reads failed; first: %s",
                dmany_bad, N, lt_err(dmany_first_bad));
  ck_assert_int_eq(memcmp(bufs, data, NB * 4096), 0);
  for (i = 0; i < N; i += 101)
    lt_fs_check_executor(&reqs[i], FX_DIRECT, 0, "O_DIRECT read of 4096",
                       __FILE__, __LINE__);
  close(fd);
  free(reqs);
  free(data);
  free(bufs);
  lt_fs_end();
}
END_TEST

LT_SUITE(scale) {
  Suite *s = suite_create("scale");
  TCase *tc = lt_tcase("scale", 120);

  tcase_add_test(tc, fs_integrity_buffered);
  tcase_add_test(tc, fs_integrity_direct);
  tcase_add_test(tc, fs_scale_100k_reads);
  tcase_add_test(tc, fs_scale_stats_small_ring);
  tcase_add_loop_test(tc, fs_scale_iov_max, 0, 2);
  tcase_add_loop_test(tc, fs_scale_beyond_4g, 0, 2);
  tcase_add_test(tc, fs_scale_direct_misaligned_inflight);
  tcase_add_test(tc, fs_scale_direct_many);
  suite_add_tcase(s, tc);
  return s;
}
