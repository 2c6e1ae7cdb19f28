/*
 * bench-hist.c - lure-bench's latency histogram, its measuring loop and
 * small helpers.  Nothing here knows lure or libuv.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lure-bench.h"

/* ---- histogram ----------------------------------------------------------- */

#define SUB BENCH_HIST_SUB
#define SUB_BITS BENCH_HIST_SUB_BITS

static unsigned bucket_of(uint64_t v) {
  unsigned e;
  unsigned shift;

  if (v < 2 * SUB)
    return (unsigned) v;
  e = 63u - (unsigned) __builtin_clzll(v);  /* 2^e <= v < 2^(e+1), e > SUB_BITS */
  shift = e - SUB_BITS;                      /* v >> shift is in [SUB, 2*SUB) */
  return 2 * SUB + (shift - 1) * SUB + (unsigned) ((v >> shift) - SUB);
}

void bench_hist_bucket_range(unsigned i, uint64_t *lo, uint64_t *hi) {
  unsigned shift;
  uint64_t m;

  if (i < 2 * SUB) {
    *lo = *hi = i;
    return;
  }
  shift = (i - 2 * SUB) / SUB + 1;
  m = SUB + (i - 2 * SUB) % SUB;
  *lo = m << shift;
  *hi = *lo + ((uint64_t) 1 << shift) - 1;
}

void bench_hist_reset(struct bench_hist *h) {
  memset(h, 0, sizeof(*h));
  h->min = UINT64_MAX;
}

void bench_hist_record(struct bench_hist *h, uint64_t ns) {
  h->b[bucket_of(ns)]++;
  h->count++;
  h->sum += (double) ns;
  if (ns < h->min)
    h->min = ns;
  if (ns > h->max)
    h->max = ns;
}

double bench_hist_quantile(const struct bench_hist *h, double q) {
  uint64_t rank;
  uint64_t seen = 0;
  uint64_t lo;
  uint64_t hi;
  double v;
  unsigned i;

  if (h->count == 0)
    return 0.0;
  if (q >= 1.0)
    return (double) h->max;
  /* The smallest value with at least q*count values at or below it. */
  rank = (uint64_t) (q * (double) h->count);
  if ((double) rank < q * (double) h->count)
    rank++;
  if (rank == 0)
    rank = 1;
  for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
    seen += h->b[i];
    if (seen >= rank)
      break;
  }
  bench_hist_bucket_range(i, &lo, &hi);
  v = ((double) lo + (double) hi) / 2.0;
  if (v > (double) h->max)
    v = (double) h->max;
  if (v < (double) h->min)
    v = (double) h->min;
  return v;
}

/* ---- helpers ------------------------------------------------------------- */

uint64_t bench_now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* Every thread of the process counts: the thread pools' workers do part of
 * the work being measured. */
double bench_cpu_seconds(void) {
  struct rusage ru;

  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0.0;
  return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
         (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
}

/* splitmix64: the same seed gives every executor the same sequence. */
uint64_t bench_rand(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void bench_set_errorv(struct bench_result *r, const char *fmt, va_list ap) {
  if (r->error[0] != '\0')
    return; /* keep the first */
  vsnprintf(r->error, sizeof(r->error), fmt, ap);
  if (r->error[0] == '\0')
    strcpy(r->error, "failed");
}

void bench_set_error(struct bench_result *r, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  bench_set_errorv(r, fmt, ap);
  va_end(ap);
}

/* ---- the measuring loop -------------------------------------------------- */

void bench_drive_init(struct bench_drive *d, const struct bench_params *p,
                      struct bench_result *r, uint64_t now) {
  memset(d, 0, sizeof(*d));
  d->p = p;
  d->r = r;
  if (p->warmup == 0) {
    d->measuring = 1;
    d->t_start = d->t_end = now;
    d->cpu_start = bench_cpu_seconds();
  }
}

int bench_drive_may_issue(struct bench_drive *d, uint64_t now) {
  const struct bench_params *p = d->p;

  if (d->stop)
    return 0;
  if (p->ops != 0 && d->issued >= p->warmup + p->ops)
    return 0;
  if (!d->measuring)
    return 1; /* the warm-up requests, and those in flight when it ends */
  if (p->duration > 0 && (double) (now - d->t_start) >= p->duration * 1e9)
    return 0;
  return 1;
}

int bench_drive_complete(struct bench_drive *d, uint64_t t_issue,
                         uint64_t now) {
  d->completed++;
  if (d->measuring) {
    bench_hist_record(d->r->hist, now > t_issue ? now - t_issue : 0);
    d->t_end = now;
    return 0;
  }
  if (d->completed >= d->p->warmup) {
    d->measuring = 1;
    d->t_start = d->t_end = now;
    d->cpu_start = bench_cpu_seconds();
    return 1;
  }
  return 0;
}

void bench_drive_finish(struct bench_drive *d) {
  struct bench_result *r = d->r;

  r->ops = r->hist->count;
  r->seconds = d->measuring ? (double) (d->t_end - d->t_start) / 1e9 : 0.0;
  r->cpu_seconds = d->measuring ? bench_cpu_seconds() - d->cpu_start : 0.0;
}
