/*
 * stress-main.c - lure-stress: the stress cases of "make check-stress",
 * written against the public API only, run on the executor set of the
 * environment (tests/stress.sh runs it once per set).
 *
 * Usage: lure-stress [-n SEEDS] [-s FIRST_SEED] [CASE...]
 *   CASE: handoff fork storm conns timers fs eintr slow (default: all)
 *   -n / LURE_STRESS_SEEDS: seeded close storms to run (default 20)
 *   -s / LURE_STRESS_SEED: the first seed (default: from the clock; printed)
 *
 * Every check that fails prints the case, its seed and the condition, and
 * the process exits 1.  At the end one summary line gives the figures.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "stress.h"

const char *stress_case_name = "main";
uint64_t stress_seed;
int stress_seeded;
struct stress_figures stress_fig;
unsigned stress_nseeds = 20;
uint64_t stress_first_seed;

void stress_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;

  fflush(stdout);
  if (stress_seeded)
    fprintf(stderr,
            "lure-stress: FAIL case %s seed %llu (rerun: LURE_STRESS_SEED=%llu"
            " LURE_STRESS_SEEDS=1 lure-stress %s): %s:%d: ",
            stress_case_name, (unsigned long long) stress_seed,
            (unsigned long long) stress_seed, stress_case_name, file, line);
  else
    fprintf(stderr, "lure-stress: FAIL case %s: %s:%d: ", stress_case_name,
            file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  _exit(1);
}

/* ---- watchdog ----------------------------------------------------------- */

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static double wd_deadline;
static const char *wd_what;
static int wd_started;
void (*stress_dump)(void);

static void *wd_main(void *arg) {
  (void) arg;
  pthread_mutex_lock(&wd_lock);
  for (;;) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&wd_cond, &wd_lock, &ts);
    if (wd_deadline > 0 && stress_now() > wd_deadline) {
      if (stress_seeded)
        fprintf(stderr, "lure-stress: FAIL case %s seed %llu: hang: %s did "
                "not finish in time (rerun: LURE_STRESS_SEED=%llu "
                "LURE_STRESS_SEEDS=1)\n", stress_case_name,
                (unsigned long long) stress_seed, wd_what,
                (unsigned long long) stress_seed);
      else
        fprintf(stderr, "lure-stress: FAIL case %s: hang: %s did not finish "
                "in time\n", stress_case_name, wd_what);
      if (stress_dump != NULL)
        stress_dump();
      _exit(1);
    }
  }
  return NULL;
}

void stress_watchdog(unsigned seconds, const char *what) {
  pthread_mutex_lock(&wd_lock);
  if (!wd_started) {
    pthread_condattr_t a;
    pthread_t t;
    sigset_t all, old;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cond, &a);
    /* The watchdog takes no signal: the EINTR storm's go elsewhere. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&t, NULL, wd_main, NULL) != 0)
      abort();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_detach(t);
    wd_started = 1;
  }
  wd_deadline = seconds ? stress_now() + seconds : 0;
  wd_what = what;
  pthread_mutex_unlock(&wd_lock);
}

/* ---- helpers ------------------------------------------------------------ */

int stress_fd_count(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;

  SCHECK(d != NULL);
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

uint64_t stress_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void stress_fill(unsigned char *p, size_t n, uint64_t id, uint64_t off) {
  size_t i;

  for (i = 0; i < n; i++)
    p[i] = stress_byte(id, off + i);
}

size_t stress_verify(const unsigned char *p, size_t n, uint64_t id,
                     uint64_t off) {
  size_t i;

  for (i = 0; i < n; i++)
    if (p[i] != stress_byte(id, off + i))
      return i;
  return n;
}

uint64_t stress_sum(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  size_t i;

  for (i = 0; i < n; i++)
    h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

double stress_now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

void stress_any_port(struct sockaddr_in *addr) {
  SOK(lure_ip4_addr("127.0.0.1", 0, addr));
}

void stress_tcp_addr(lure_tcp_t *t, struct sockaddr_in *addr) {
  int len = (int) sizeof(*addr);

  SOK(lure_tcp_getsockname(t, (struct sockaddr *) addr, &len));
}

/* ---- main --------------------------------------------------------------- */

static const struct {
  const char *name;
  int (*run)(void);
} cases[] = {
  {"handoff", stress_handoff},
  {"fork", stress_fork},
  {"storm", stress_storm},
  {"conns", stress_conns},
  {"timers", stress_timers},
  {"fs", stress_fs},
  {"eintr", stress_eintr},
  {"slow", stress_slow},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

int main(int argc, char **argv) {
  const char *set = getenv("LURE_STRESS_SET"), *e;
  int want[NCASES], any = 0, opt;
  double t0 = stress_now(), tc;
  lure_loop_t probe;
  char backend[32];
  size_t i;

  setvbuf(stdout, NULL, _IOLBF, 0);
  if ((e = getenv("LURE_STRESS_SEEDS")) != NULL)
    stress_nseeds = (unsigned) strtoul(e, NULL, 0);
  if ((e = getenv("LURE_STRESS_SEED")) != NULL)
    stress_first_seed = strtoull(e, NULL, 0);
  else
    stress_first_seed = (uint64_t) time(NULL) * 1000003u + (uint64_t) getpid();
  while ((opt = getopt(argc, argv, "n:s:")) != -1) {
    switch (opt) {
      case 'n': stress_nseeds = (unsigned) strtoul(optarg, NULL, 0); break;
      case 's': stress_first_seed = strtoull(optarg, NULL, 0); break;
      default:
        fprintf(stderr, "usage: lure-stress [-n SEEDS] [-s SEED] [CASE...]\n");
        return 2;
    }
  }
  memset(want, 0, sizeof(want));
  for (; optind < argc; optind++) {
    for (i = 0; i < NCASES; i++)
      if (strcmp(argv[optind], cases[i].name) == 0)
        want[i] = any = 1;
    if (!any) {
      fprintf(stderr, "lure-stress: unknown case %s\n", argv[optind]);
      return 2;
    }
  }
  SOK(lure_loop_init(&probe));
  snprintf(backend, sizeof(backend), "%s", lure_loop_backend(&probe));
  SOK(lure_loop_close(&probe));
  if (set == NULL)
    set = backend;
  printf("lure-stress set=%s: wait point %s, first storm seed %llu\n", set,
         backend, (unsigned long long) stress_first_seed);

  for (i = 0; i < NCASES; i++) {
    if (any && !want[i])
      continue;
    stress_case_name = cases[i].name;
    stress_seeded = 0;
    tc = stress_now();
    if (cases[i].run() != 0)
      stress_fail(__FILE__, __LINE__, "case returned an error");
    stress_watchdog(0, "");
    stress_dump = NULL;
    printf("lure-stress set=%s: %s passed in %.1fs\n", set, cases[i].name,
           stress_now() - tc);
  }
  stress_case_name = "summary";
  printf("lure-stress set=%s SUMMARY: wait point %s; handoff cases %d; "
         "fork cases %d; storm seeds %u from %llu (%lu handles, %lu "
         "callbacks); TCP echo connections %u of %u; timers %lu (%.0f B "
         "each); fs requests in flight %lu buffered + %lu O_DIRECT (%s); "
         "EINTR storm %lu signals over %lu bytes; slow reader %lu bytes, "
         "%lu read stops; %.1fs\n",
         set, backend, stress_fig.handoff_cases, stress_fig.fork_cases,
         stress_fig.storm_seeds, (unsigned long long) stress_fig.storm_first_seed,
         stress_fig.storm_handles, stress_fig.storm_callbacks,
         stress_fig.conns, stress_fig.conns_wanted, stress_fig.timers,
         stress_fig.timer_bytes, stress_fig.fs_buffered, stress_fig.fs_direct,
         stress_fig.fs_direct_note[0] ? stress_fig.fs_direct_note : "-",
         stress_fig.eintr_signals, stress_fig.eintr_bytes,
         stress_fig.slow_bytes, stress_fig.slow_stops, stress_now() - t0);
  return 0;
}
