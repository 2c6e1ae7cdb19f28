/*
 * bench-side.h - one source, two libraries: the convention of bench-uv.c
 * and bench-net-uv.c.
 *
 * Those two files are written against libuv's API (the uv_ names) and are
 * compiled twice (tools/local.mk): once against libuv's own <uv.h>, linking
 * libuv, and once against lure's <uv.h> (include/lure/uv.h), linking lure.
 * The include guard of lure's header, LURE_UV_H, tells one build from the
 * other.  BENCH_SIDE(x) names an entry point after the side it is built
 * for, bench_uv_x or bench_lure_x, as lure-bench.h declares them, so that
 * both builds go into the one lure-bench binary.  Because the figures of
 * the two sides come from the same lines of code, a difference between
 * them is a difference between the libraries, not between two harnesses.
 *
 * What only lure has stays under #ifdef LURE_UV_H in those files, written
 * with lure_ names to make that plain: choosing the executor (the wait
 * point, masked opcodes), the wait-point syscall counter
 * (lure_loop_stats), and which executor served a request
 * (lure_req_executor).  libuv rows therefore carry no syscalls per op and
 * no executor check.
 *
 * Include after <uv.h> and "lure-bench.h".
 */
#ifndef BENCH_SIDE_H
#define BENCH_SIDE_H

#ifdef LURE_UV_H
#define API "lure"             /* the prefix of the names in messages */
#define BENCH_SIDE(name) bench_lure_##name
#else
#define API "uv"
#define BENCH_SIDE(name) bench_uv_##name
#endif

/* Initialize loop for the executor a row names.  On lure: "io_uring" or
 * "epoll" (the wait point; "io_uring" also turns the adaptive router of
 * buffered writes off, so that the ring serves every file request),
 * "threadpool" (the ring with its file opcodes masked, else epoll), "aio"
 * (epoll), "auto" (lure's default routing, the adaptive router on); the
 * loop options set override LURE_BACKEND, LURE_URING_DISABLE and
 * LURE_FS_ADAPT.  On libuv: only "libuv".  0, or -1
 * with r->error set. */
int BENCH_SIDE(open)(uv_loop_t *loop, const char *executor,
                     struct bench_result *r);
/* Run what is left (close callbacks) and close the loop. */
void BENCH_SIDE(close)(uv_loop_t *loop);

/*
 * What only lure can tell, as calls that do nothing on libuv, so that the
 * suites read the same for both: a snapshot of the loop's counters when
 * the warm-up ends, the wait-point syscalls since then, and whether a
 * request was served by the executor a row is for.
 */
#ifdef LURE_UV_H

typedef lure_loop_stats_t bench_stats_t;

static inline void bench_stats_take(uv_loop_t *loop, bench_stats_t *s) {
  lure_loop_stats(loop, s);
}

static inline void bench_wait_calls_since(uv_loop_t *loop,
                                          const bench_stats_t *s0,
                                          uint64_t *calls, int *has) {
  lure_loop_stats_t s1;

  if (lure_loop_stats(loop, &s1) == 0) {
    *calls = s1.wait_calls - s0->wait_calls;
    *has = 1;
  }
}

/* 1 if lure_req_executor() names want (or want is "auto"); else 0,
 * counting the mismatch in r (and naming the first executor found). */
static inline int bench_served_by(const void *req, const char *want,
                                  struct bench_result *r) {
  const char *ex = lure_req_executor((const lure_req_t *) req);

  /* "auto" is lure's own routing: any executor will do, and the row
   * counts which served how many. */
  if (ex != NULL && strcmp(want, "auto") == 0) {
    r->served[strcmp(ex, "io_uring") == 0     ? 0
              : strcmp(ex, "threadpool") == 0 ? 1
                                              : 2]++;
    return 1;
  }
  if (ex != NULL && strcmp(ex, want) == 0)
    return 1;
  if (r->mismatches++ == 0)
    snprintf(r->mismatch_name, sizeof(r->mismatch_name), "%s",
             ex ? ex : "none");
  return 0;
}

#else /* libuv: no counters, one executor */

typedef struct { char none; } bench_stats_t;

static inline void bench_stats_take(uv_loop_t *loop, bench_stats_t *s) {
  (void) loop;
  (void) s;
}

static inline void bench_wait_calls_since(uv_loop_t *loop,
                                          const bench_stats_t *s0,
                                          uint64_t *calls, int *has) {
  (void) loop;
  (void) s0;
  (void) calls;
  (void) has;
}

static inline int bench_served_by(const void *req, const char *want,
                                  struct bench_result *r) {
  (void) req;
  (void) want;
  (void) r;
  return 1;
}

#endif /* LURE_UV_H */

#endif /* BENCH_SIDE_H */
