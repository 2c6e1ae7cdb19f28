/*
 * lure-bench - what each I/O path costs, lure's executors and libuv side by
 * side in one process.
 *
 *   lure-bench fs [--op read|write|randrw] [--bs N] [--depth N] [--direct]
 *                 [--cold] [--file F] [--size N] ...
 *   lure-bench net [--conns N] [--size B] [--bulk [--depth N] | --udp] ...
 *   lure-bench timers | loop | async | work [--depth N] ...
 *   lure-bench quick            the suite `make bench` runs
 *
 * This file holds what is common to every suite: the options, the runner
 * (executors alternate A B A B within each repeat so that drift favours
 * none; --repeat N keeps each executor's median run), the table, the JSON
 * and the gnuplot CDFs.  The suites live in bench-uv.c and bench-net-uv.c,
 * each built once for lure and once for libuv (bench-side.h), with
 * bench-fs.c and bench-net.c; lure-bench(1) explains how to read the
 * output.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lure-bench.h"

#define MAX_EXECUTORS 8
#define MAX_REPEAT 1000
#define MAX_LOADS 4
#define MAX_HOGS 256

/* ---- suites -------------------------------------------------------------- */

struct suite {
  const char *name;
  bench_run_fn lure_fn;
  bench_run_fn uv_fn;
  const char *lure_executors; /* the executors lure offers for it */
  int rate_by_cpu;            /* ops/s per CPU second, not per wall second */
  const char *unit;           /* what one op is */
};

#ifdef HAVE_LIBUV
#define UV(fn) fn
#else
#define UV(fn) NULL
#endif

static const struct suite suites[] = {
  {"fs", bench_lure_fs, UV(bench_uv_fs), "io_uring,aio,threadpool,auto", 0,
   "request"},
  {"net", bench_lure_net, UV(bench_uv_net), "io_uring,epoll", 0,
   "round trip"},
  {"timers", bench_lure_timers, UV(bench_uv_timers), "io_uring,epoll", 1,
   "timer"},
  {"loop", bench_lure_loop, UV(bench_uv_loop), "io_uring,epoll", 0, "tick"},
  {"async", bench_lure_async, UV(bench_uv_async), "io_uring,epoll", 0,
   "round trip"},
  {"work", bench_lure_work, UV(bench_uv_work), "io_uring,epoll", 0,
   "request"},
};

static const struct suite *find_suite(const char *name) {
  size_t i;

  for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
    if (strcmp(suites[i].name, name) == 0)
      return &suites[i];
  return NULL;
}

/* ---- options ------------------------------------------------------------- */

struct options {
  struct bench_params p;
  int ops_set;
  int duration_set;
  int warmup_set;
  int repeat_set;
  int size_set;
  int depth_set;
  int file_set;
  const char *executors;
  const char *json;
  const char *plot;
  int keep;
  unsigned loads[MAX_LOADS];   /* --load: hogs per pass, one table each */
  int nloads;
};

static const char *prog = "lure-bench";
static int progress; /* stderr is a terminal */
static char default_file[64];

static void usage(FILE *f) {
  fprintf(f,
"usage: %s SUBCOMMAND [OPTIONS]\n"
"\n"
"subcommands:\n"
"  fs       4 KiB (--bs) reads or writes at random offsets of a file\n"
"  timers   start --ops timers due at random in 0..--spread ms, fire them all\n"
"  loop     idle ticks per second\n"
"  async    cross-thread wake-ups: a thread pings, the loop answers\n"
"  work     lure_queue_work round trips, --depth in flight\n"
"  net      TCP ping-pong over loopback with a forked server, or --bulk,\n"
"           or UDP ping-pong with --udp\n"
"  quick    the short suite `make bench` runs\n"
"\n"
"options:\n"
"  --executors LIST   comma-separated: io_uring,aio,threadpool,epoll,libuv;\n"
"                     fs also auto (lure's default routing; io_uring forces\n"
"                     the ring for every file request)\n"
"  --ops N            measured operations per run\n"
"  --duration S       seconds per run (suffix ms for milliseconds)\n"
"  --repeat N         runs per executor; the median run is reported\n"
"  --warmup N         operations before measuring starts\n"
"  --json FILE        write the results as JSON\n"
"  --plot FILE        latency CDFs with gnuplot (.svg or .png)\n"
"  --seed N           random offsets and due times (same for every executor)\n"
"  --depth N          requests in flight (fs, work; net --bulk: writes per\n"
"                     connection, default 4)\n"
"  --op OP            fs: read, write or randrw\n"
"  --bs N             fs: block size (suffixes K, M)\n"
"  --file PATH        fs: the data file (default /var/tmp/lure-bench.PID.dat)\n"
"  --size N           fs: file size (default 256M)\n"
"  --direct           fs: O_DIRECT (enables the aio executor)\n"
"  --cold             fs: drop the file's pages before each run\n"
"  --keep             fs: keep a data file this run created\n"
"  --spread MS        timers: latest due time (default 100)\n"
"  --conns N          net: connections, or --udp flows (default 1)\n"
"  --size B           net: message size (default 64; --bulk: 64K; --udp:\n"
"                     12 to 65507)\n"
"  --bulk             net: one-way transfer of --size writes, MB/s\n"
"  --udp              net: UDP ping-pong, one datagram in flight per flow\n"
"  --pin CPU          run everything (servers and threads too) on one CPU\n"
"  --load N[,N...]    run N busy-looping processes (CPU hogs) during the\n"
"                     runs; a list runs the whole job once per figure, e.g.\n"
"                     0,2: idle, then two hogs (default 0)\n"
"  -h, --help         this text\n"
"  -V, --version      lure's and libuv's versions\n",
          prog);
}

static int parse_u64(const char *s, uint64_t *out, int suffixes) {
  char *end;
  unsigned long long v;

  errno = 0;
  v = strtoull(s, &end, 0);
  if (errno != 0 || end == s || *s == '-')
    return -1;
  if (suffixes && *end != '\0') {
    unsigned shift = 0;

    switch (*end) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      default: return -1;
    }
    end++;
    if (*end == 'i' && end[1] == 'B')
      end += 2;
    else if (*end == 'B')
      end++;
    if (v > (UINT64_MAX >> shift))
      return -1;
    v <<= shift;
  }
  if (*end != '\0')
    return -1;
  *out = v;
  return 0;
}

static int parse_seconds(const char *s, double *out) {
  char *end;
  double v;

  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || end == s || v < 0)
    return -1;
  if (strcmp(end, "ms") == 0)
    v /= 1000.0;
  else if (strcmp(end, "s") != 0 && *end != '\0')
    return -1;
  *out = v;
  return 0;
}

static void die_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void die_usage(const char *fmt, ...) {
  va_list ap;

  fprintf(stderr, "%s: ", prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(try %s --help)\n", prog);
  exit(2);
}

/* ---- CPU hogs (--load) --------------------------------------------------- */

/*
 * --load N keeps N processes busy in a loop of pure user-space arithmetic
 * while the runs go, as other tenants of a shared host would.  They are
 * forked children that die with lure-bench (PR_SET_PDEATHSIG), are killed
 * by hogs_stop() after the job, from atexit(), and from the handler of
 * SIGINT, SIGTERM and SIGHUP.  With --pin they inherit the CPU.
 */
static volatile pid_t hog_pids[MAX_HOGS];
static volatile int nhogs;

static void hogs_stop(void) {
  int i;

  for (i = 0; i < nhogs; i++)
    if (hog_pids[i] > 0)
      kill(hog_pids[i], SIGKILL);
  for (i = 0; i < nhogs; i++)
    if (hog_pids[i] > 0)
      while (waitpid(hog_pids[i], NULL, 0) < 0 && errno == EINTR)
        ;
  nhogs = 0;
}

/* Kill without waiting: what a signal handler may do. */
static void hogs_kill(void) {
  int i;

  for (i = 0; i < nhogs; i++)
    if (hog_pids[i] > 0)
      kill(hog_pids[i], SIGKILL);
}

/* Start n hogs; 0, or -1 after a message (none left running). */
static int hogs_start(unsigned n) {
  pid_t parent = getpid();
  pid_t pid;
  unsigned i;

  for (i = 0; i < n; i++) {
    pid = fork();
    if (pid < 0) {
      fprintf(stderr, "%s: --load: fork: %s\n", prog, strerror(errno));
      hogs_stop();
      return -1;
    }
    if (pid == 0) {
      volatile uint64_t x = 0;

      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      signal(SIGHUP, SIG_DFL);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent)
        _exit(0); /* the parent died before prctl */
      for (;;)
        x = x * 6364136223846793005u + 1;
    }
    hog_pids[nhogs] = pid;
    nhogs++;
  }
  return 0;
}

/* "N" or "N,N,...": 0..MAX_HOGS each, at most MAX_LOADS. */
static int parse_loads(const char *s, struct options *o) {
  char buf[128];
  char *tok;
  char *save = NULL;
  uint64_t v;

  if (strlen(s) >= sizeof(buf))
    return -1;
  snprintf(buf, sizeof(buf), "%s", s);
  o->nloads = 0;
  for (tok = strtok_r(buf, ",", &save); tok != NULL;
       tok = strtok_r(NULL, ",", &save)) {
    if (o->nloads == MAX_LOADS || parse_u64(tok, &v, 0) != 0 || v > MAX_HOGS)
      return -1;
    o->loads[o->nloads++] = (unsigned) v;
  }
  return o->nloads > 0 ? 0 : -1;
}

/* ---- executors ----------------------------------------------------------- */

static int known_executor(const struct suite *s, const char *name) {
  const char *list = s->lure_executors;
  size_t n = strlen(name);

  if (strcmp(name, "libuv") == 0)
    return 1;
  while (*list) {
    if (strncmp(list, name, n) == 0 && (list[n] == ',' || list[n] == '\0'))
      return 1;
    list = strchr(list, ',');
    if (list == NULL)
      break;
    list++;
  }
  return 0;
}

/* Whether the kernel lets this process set up a Linux AIO context. */
static int has_aio(void) {
  static int known = -1;
  unsigned long ctx = 0;

  if (known < 0) {
    known = syscall(SYS_io_setup, 1, &ctx) == 0;
    if (known)
      syscall(SYS_io_destroy, ctx);
  }
  return known;
}

/* Fill ex[] from --executors, or with all this machine can run.  Returns the
 * count, or -1 after a message. */
static int pick_executors(const struct suite *s, const struct bench_params *p,
                          const char *list, char ex[][16]) {
  static int has_uring = -1;
  char buf[256];
  char *tok;
  char *save = NULL;
  int n = 0;
  int i;

  if (has_uring < 0)
    has_uring = bench_lure_has_uring();
  if (list == NULL) {
    /* Without a ring, lure serves O_DIRECT files with AIO and nothing can
     * force them onto the pool: no threadpool row then. */
#ifdef HAVE_LIBUV
    const char *uv = "libuv";
#else
    const char *uv = "";
#endif

    if (strcmp(s->name, "fs") == 0)
      snprintf(buf, sizeof(buf), "%s%s%s%s", has_uring ? "io_uring," : "",
               p->direct && has_aio() ? "aio," : "",
               !p->direct || has_uring ? "threadpool," : "", uv);
    else
      snprintf(buf, sizeof(buf), "%sepoll,%s", has_uring ? "io_uring," : "",
               uv);
  } else {
    snprintf(buf, sizeof(buf), "%s", list);
  }
  for (tok = strtok_r(buf, ", ", &save); tok != NULL;
       tok = strtok_r(NULL, ", ", &save)) {
    if (!known_executor(s, tok)) {
      fprintf(stderr, "%s: %s: no executor \"%s\" (this suite has: %s,libuv)\n",
              prog, s->name, tok, s->lure_executors);
      return -1;
    }
    if (strcmp(tok, "aio") == 0 && !p->direct) {
      fprintf(stderr, "%s: fs: the aio executor serves O_DIRECT files only: "
              "add --direct\n", prog);
      return -1;
    }
#ifndef HAVE_LIBUV
    if (strcmp(tok, "libuv") == 0) {
      fprintf(stderr, "%s: this lure-bench was built without libuv\n", prog);
      return -1;
    }
#endif
    for (i = 0; i < n; i++)
      if (strcmp(ex[i], tok) == 0)
        break;
    if (i < n)
      continue; /* named twice */
    if (n == MAX_EXECUTORS) {
      fprintf(stderr, "%s: too many executors\n", prog);
      return -1;
    }
    snprintf(ex[n++], 16, "%s", tok);
  }
  if (n == 0) {
    fprintf(stderr, "%s: no executor to run\n", prog);
    return -1;
  }
  return n;
}

/* ---- one job: a suite with its parameters, through its executors -------- */

struct job {
  const struct suite *s;
  struct bench_params p;
  char ex[MAX_EXECUTORS][16];
  int nex;
  struct bench_result *runs;   /* [repeat][nex] */
  struct bench_result *med[MAX_EXECUTORS];
  char error[512];
};

static double ops_per_s(const struct job *j, const struct bench_result *r) {
  double t = j->s->rate_by_cpu ? r->cpu_seconds : r->seconds;

  return t > 0 ? (double) r->ops / t : 0.0;
}

static int is_net(const struct job *j) {
  return strcmp(j->s->name, "net") == 0;
}

/* What one op is: bulk net runs count writes, not round trips. */
static const char *unit_of(const struct job *j) {
  return is_net(j) && j->p.bulk ? "write" : j->s->unit;
}

/* net --bulk: payload throughput in MB/s (10^6 bytes). */
static double mb_per_s(const struct job *j, const struct bench_result *r) {
  return r->seconds > 0 ? (double) r->ops * (double) j->p.msg_size /
                              r->seconds / 1e6
                        : 0.0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *) a;
  double y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static void show_progress(const struct job *j, const char *ex, unsigned rep) {
  if (!progress)
    return;
  fprintf(stderr, "\r\033[K%s: %s, run %u of %u...", j->s->name, ex, rep + 1,
          j->p.repeat);
  fflush(stderr);
}

static void end_progress(void) {
  if (progress) {
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
  }
}

/* Run every repeat of every executor, A B A B; keep each one's median run.
 * 0, or -1 with j->error set. */
static int run_job(struct job *j) {
  struct bench_params *p = &j->p;
  struct bench_result *r;
  bench_run_fn fn;
  double rates[MAX_REPEAT];
  double median;
  unsigned rep;
  int e;
  char err[300];

  j->runs = calloc((size_t) p->repeat * (size_t) j->nex, sizeof(*j->runs));
  if (j->runs == NULL) {
    snprintf(j->error, sizeof(j->error), "out of memory");
    return -1;
  }
  if (strcmp(j->s->name, "fs") == 0 &&
      bench_fs_prepare(p, err, sizeof(err)) != 0) {
    snprintf(j->error, sizeof(j->error), "%s", err);
    return -1;
  }
  for (rep = 0; rep < p->repeat; rep++) {
    for (e = 0; e < j->nex; e++) {
      r = &j->runs[rep * (unsigned) j->nex + (unsigned) e];
      r->executor = j->ex[e];
      r->hist = malloc(sizeof(*r->hist));
      if (r->hist == NULL) {
        snprintf(j->error, sizeof(j->error), "out of memory");
        return -1;
      }
      bench_hist_reset(r->hist);
      fn = strcmp(j->ex[e], "libuv") == 0 ? j->s->uv_fn : j->s->lure_fn;
      show_progress(j, j->ex[e], rep);
      if (strcmp(j->s->name, "fs") == 0 &&
          bench_fs_before_run(p, err, sizeof(err)) != 0) {
        end_progress();
        snprintf(j->error, sizeof(j->error), "%s", err);
        return -1;
      }
      if (fn == NULL || fn(p, j->ex[e], r) != 0 || r->ops == 0) {
        end_progress();
        snprintf(j->error, sizeof(j->error), "%s %s: %s", j->s->name,
                 j->ex[e], r->error[0] ? r->error : "no operation completed");
        return -1;
      }
    }
  }
  end_progress();
  /* The median by ops/s; with an even count, the lower of the middle two. */
  for (e = 0; e < j->nex; e++) {
    for (rep = 0; rep < p->repeat; rep++)
      rates[rep] = ops_per_s(j, &j->runs[rep * (unsigned) j->nex + (unsigned) e]);
    qsort(rates, p->repeat, sizeof(rates[0]), cmp_double);
    median = rates[(p->repeat - 1) / 2];
    for (rep = 0; rep < p->repeat; rep++) {
      r = &j->runs[rep * (unsigned) j->nex + (unsigned) e];
      if (ops_per_s(j, r) == median) {
        j->med[e] = r;
        break;
      }
    }
  }
  return 0;
}

static void free_job(struct job *j) {
  size_t i;

  if (j->runs != NULL)
    for (i = 0; i < (size_t) j->p.repeat * (size_t) j->nex; i++)
      free(j->runs[i].hist);
  free(j->runs);
  j->runs = NULL;
}

/* ---- the table ----------------------------------------------------------- */

static const char *op_name(int op) {
  return op == BENCH_OP_WRITE ? "write" : op == BENCH_OP_RANDRW ? "randrw"
                                                                : "read";
}

static void size_text(char *buf, size_t len, uint64_t v) {
  if (v >= (1u << 30) && v % (1u << 30) == 0)
    snprintf(buf, len, "%llu GiB", (unsigned long long) (v >> 30));
  else if (v >= (1u << 20) && v % (1u << 20) == 0)
    snprintf(buf, len, "%llu MiB", (unsigned long long) (v >> 20));
  else if (v >= 1024 && v % 1024 == 0)
    snprintf(buf, len, "%llu KiB", (unsigned long long) (v >> 10));
  else
    snprintf(buf, len, "%llu B", (unsigned long long) v);
}

static void describe(const struct job *j, char *buf, size_t len) {
  const struct bench_params *p = &j->p;
  char stop[64];
  char a[32];
  char b[32];

  if (p->ops && p->duration > 0)
    snprintf(stop, sizeof(stop), "%llu ops or %g s",
             (unsigned long long) p->ops, p->duration);
  else if (p->ops)
    snprintf(stop, sizeof(stop), "%llu ops", (unsigned long long) p->ops);
  else
    snprintf(stop, sizeof(stop), "%g s", p->duration);
  if (strcmp(j->s->name, "fs") == 0) {
    size_text(a, sizeof(a), p->bs);
    size_text(b, sizeof(b), p->size);
    snprintf(buf, len, "fs %s, %s blocks, %u in flight, %s, %s file %s; "
             "%s per run", op_name(p->op), a, p->depth,
             p->direct ? "O_DIRECT" : p->cold ? "buffered, cache cold"
                                             : "buffered, cache warm",
             b, p->file, stop);
  } else if (is_net(j) && p->bulk) {
    size_text(a, sizeof(a), p->msg_size);
    snprintf(buf, len, "net bulk: %u connection%s, %s writes, %u in flight "
             "each, server (own process) discards; latency = write to "
             "callback; %s per run", p->conns, p->conns == 1 ? "" : "s", a,
             p->depth, stop);
  } else if (is_net(j) && p->udp) {
    size_text(a, sizeof(a), p->msg_size);
    snprintf(buf, len, "net UDP ping-pong: %u flow%s (a socket each, one "
             "datagram in flight), %s datagrams, echo server (one socket) in "
             "its own process; latency = round trip; %s per run", p->conns,
             p->conns == 1 ? "" : "s", a, stop);
  } else if (is_net(j)) {
    size_text(a, sizeof(a), p->msg_size);
    snprintf(buf, len, "net ping-pong: %u connection%s, %s messages, "
             "TCP_NODELAY, echo server in its own process; latency = round "
             "trip; %s per run", p->conns, p->conns == 1 ? "" : "s", a, stop);
  } else if (strcmp(j->s->name, "timers") == 0) {
    snprintf(buf, len, "timers: %llu timers due at random in 0..%u ms; "
             "latency = lateness, ops/s = timers per CPU second",
             (unsigned long long) p->ops, p->spread_ms);
  } else if (strcmp(j->s->name, "loop") == 0) {
    snprintf(buf, len, "loop: idle ticks, latency = one tick; %s per run",
             stop);
  } else if (strcmp(j->s->name, "async") == 0) {
    snprintf(buf, len, "async: thread -> loop -> thread ping-pong, latency = "
             "round trip; %s per run", stop);
  } else {
    snprintf(buf, len, "work: empty lure_queue_work, %u in flight, latency = "
             "queue to after-work callback; %s per run", p->depth, stop);
  }
}

static void fmt_us(char *buf, size_t len, double ns) {
  double us = ns / 1000.0;

  if (us < 10)
    snprintf(buf, len, "%.2f", us);
  else if (us < 1000)
    snprintf(buf, len, "%.1f", us);
  else
    snprintf(buf, len, "%.0f", us);
}

/* Syscalls per op: three decimals, or two significant digits when small. */
static void fmt_ratio(char *buf, size_t len, double v) {
  if (v == 0 || v >= 0.01)
    snprintf(buf, len, "%.3f", v);
  else
    snprintf(buf, len, "%.2g", v);
}

static int find_ex(const struct job *j, const char *name) {
  int e;

  for (e = 0; e < j->nex; e++)
    if (strcmp(j->ex[e], name) == 0)
      return e;
  return -1;
}

static void print_table(const struct job *j) {
  static const double qs[] = {0.5, 0.9, 0.99, 0.999, 1.0};
  char desc[512];
  char num[32];
  const struct bench_result *r;
  int uv = find_ex(j, "libuv");
  int tp = find_ex(j, "threadpool");
  double rate;
  size_t q;
  int e;

  describe(j, desc, sizeof(desc));
  printf("%s", desc);
  if (j->p.load > 0)
    printf("; %u CPU hog%s running (--load)", j->p.load,
           j->p.load == 1 ? "" : "s");
  else
    printf("; no CPU hogs");
  if (j->p.repeat > 1)
    printf("; median of %u runs", j->p.repeat);
  if (j->p.pin_cpu >= 0)
    printf("; all on CPU %d", j->p.pin_cpu);
  printf("\n");
  printf("%-10s %10s %11s %8s %8s %8s %8s %8s %7s %7s", "executor", "ops",
         "ops/s", "p50", "p90", "p99", "p99.9", "max", "sys/op", "cpu/op");
  if (uv >= 0)
    printf(" %8s", "vs libuv");
  if (tp >= 0)
    printf(" %8s", "vs tpool");
  printf("\n");
  for (e = 0; e < j->nex; e++) {
    r = j->med[e];
    rate = ops_per_s(j, r);
    printf("%-10s %10llu %11.0f", r->executor, (unsigned long long) r->ops,
           rate);
    for (q = 0; q < sizeof(qs) / sizeof(qs[0]); q++) {
      fmt_us(num, sizeof(num), bench_hist_quantile(r->hist, qs[q]));
      printf(" %8s", num);
    }
    if (r->has_wait_calls)
      fmt_ratio(num, sizeof(num), (double) r->wait_calls / (double) r->ops);
    else
      snprintf(num, sizeof(num), "-");
    printf(" %7s", num);
    fmt_us(num, sizeof(num), r->cpu_seconds * 1e9 / (double) r->ops);
    printf(" %7s", num);
    if (uv >= 0) {
      snprintf(num, sizeof(num), "%.2fx", rate / ops_per_s(j, j->med[uv]));
      printf(" %8s", num);
    }
    if (tp >= 0) {
      snprintf(num, sizeof(num), "%.2fx", rate / ops_per_s(j, j->med[tp]));
      printf(" %8s", num);
    }
    printf("\n");
  }
  if (strcmp(j->s->name, "timers") == 0) {
    printf("wall time from the first start to the last callback:");
    for (e = 0; e < j->nex; e++)
      printf("%s %s %.1f ms", e ? "," : "", j->med[e]->executor,
             j->med[e]->seconds * 1e3);
    printf("\n");
  }
  if (is_net(j) && j->p.bulk) {
    printf("throughput (MB/s):");
    for (e = 0; e < j->nex; e++)
      printf("%s %s %.0f", e ? "," : "", j->med[e]->executor,
             mb_per_s(j, j->med[e]));
    printf("\n");
  }
  if (is_net(j)) {
    printf("server process, whole run, per %s:", unit_of(j));
    for (e = 0; e < j->nex; e++) {
      r = j->med[e];
      if (!r->has_server || r->server_ops == 0)
        continue;
      printf("%s %s", e ? ";" : "", r->executor);
      if (r->has_server_wait_calls) {
        fmt_ratio(num, sizeof(num),
                  (double) r->server_wait_calls / (double) r->server_ops);
        printf(" sys %s", num);
      }
      fmt_us(num, sizeof(num),
             r->server_cpu_seconds * 1e9 / (double) r->server_ops);
      printf(" cpu %s", num);
    }
    printf("\n");
  }
  for (e = 0; e < j->nex; e++) {
    uint64_t all;

    r = j->med[e];
    all = r->served[0] + r->served[1] + r->served[2];
    if (strcmp(r->executor, "auto") != 0 || all == 0)
      continue;
    printf("auto: requests served (warm-up included): io_uring %.1f%%, "
           "threadpool %.1f%%", 100.0 * (double) r->served[0] / (double) all,
           100.0 * (double) r->served[1] / (double) all);
    if (r->served[2] != 0)
      printf(", other %.1f%%", 100.0 * (double) r->served[2] / (double) all);
    printf("\n");
  }
  printf("(p50..max and cpu/op in microseconds; sys/op = wait-point syscalls "
         "per %s; vs = ops/s ratio)\n\n", unit_of(j));
  fflush(stdout);
}

/* ---- JSON ---------------------------------------------------------------- */

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char) *s;

    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static const char *kernel_release(void) {
  static struct utsname u;

  if (u.release[0] == '\0' && uname(&u) != 0)
    return "unknown";
  return u.release;
}

static void json_job(FILE *f, const struct job *j, const char *indent) {
  const struct bench_params *p = &j->p;
  const struct bench_result *r;
  unsigned rep;
  int e;

  fprintf(f, "%s{\"tool\":\"lure-bench\",\"version\":", indent);
  json_string(f, bench_lure_version());
  fprintf(f, ",\"kernel\":");
  json_string(f, kernel_release());
  fprintf(f, ",\"suite\":\"%s\",\n%s \"params\":{", j->s->name, indent);
  if (strcmp(j->s->name, "fs") == 0) {
    fprintf(f, "\"op\":\"%s\",\"bs\":%zu,\"depth\":%u,\"direct\":%s,"
            "\"cold\":%s,\"size\":%llu,\"file\":", op_name(p->op), p->bs,
            p->depth, p->direct ? "true" : "false",
            p->cold ? "true" : "false", (unsigned long long) p->size);
    json_string(f, p->file);
    fprintf(f, ",");
  } else if (strcmp(j->s->name, "timers") == 0) {
    fprintf(f, "\"timers\":%llu,\"spread_ms\":%u,",
            (unsigned long long) p->ops, p->spread_ms);
  } else if (strcmp(j->s->name, "work") == 0) {
    fprintf(f, "\"depth\":%u,", p->depth);
  } else if (is_net(j)) {
    fprintf(f, "\"conns\":%u,\"size\":%zu,\"bulk\":%s,\"udp\":%s,",
            p->conns, p->msg_size, p->bulk ? "true" : "false",
            p->udp ? "true" : "false");
    if (p->bulk)
      fprintf(f, "\"depth\":%u,", p->depth);
  }
  if (strcmp(j->s->name, "timers") != 0) {
    if (p->ops)
      fprintf(f, "\"ops\":%llu,", (unsigned long long) p->ops);
    if (p->duration > 0)
      fprintf(f, "\"duration_s\":%g,", p->duration);
    fprintf(f, "\"warmup\":%llu,", (unsigned long long) p->warmup);
  }
  fprintf(f, "\"repeat\":%u,\"seed\":%llu", p->repeat,
          (unsigned long long) p->seed);
  if (p->pin_cpu >= 0)
    fprintf(f, ",\"pin_cpu\":%d", p->pin_cpu);
  fprintf(f, ",\"load\":%u", p->load);
#ifdef HAVE_LIBUV
  if (find_ex(j, "libuv") >= 0) {
    fprintf(f, ",\"libuv\":");
    json_string(f, bench_uv_version());
  }
#endif
  fprintf(f, "},\n%s \"results\":[", indent);
  for (e = 0; e < j->nex; e++) {
    r = j->med[e];
    fprintf(f, "%s\n%s  {\"executor\":\"%s\",\"ops\":%llu,\"ops_per_s\":%.1f,"
            "\"lat_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
            "\"p999\":%.3f,\"max\":%.3f}", e ? "," : "", indent, r->executor,
            (unsigned long long) r->ops, ops_per_s(j, r),
            bench_hist_quantile(r->hist, 0.5) / 1000.0,
            bench_hist_quantile(r->hist, 0.9) / 1000.0,
            bench_hist_quantile(r->hist, 0.99) / 1000.0,
            bench_hist_quantile(r->hist, 0.999) / 1000.0,
            (double) r->hist->max / 1000.0);
    if (r->has_wait_calls)
      fprintf(f, ",\"syscalls_per_op\":%.4f",
              (double) r->wait_calls / (double) r->ops);
    fprintf(f, ",\"cpu_us_per_op\":%.3f",
            r->cpu_seconds * 1e6 / (double) r->ops);
    if (is_net(j) && j->p.bulk)
      fprintf(f, ",\"mb_per_s\":%.1f", mb_per_s(j, r));
    if (p->repeat > 1) {
      /* Every run's rate, in run order: how much the median hides. */
      fprintf(f, ",\"runs_ops_per_s\":[");
      for (rep = 0; rep < p->repeat; rep++)
        fprintf(f, "%s%.1f", rep ? "," : "",
                ops_per_s(j, &j->runs[rep * (unsigned) j->nex + (unsigned) e]));
      fprintf(f, "]");
    }
    if (r->has_server && r->server_ops > 0) {
      fprintf(f, ",\"server\":{\"ops\":%llu,\"cpu_us_per_op\":%.3f",
              (unsigned long long) r->server_ops,
              r->server_cpu_seconds * 1e6 / (double) r->server_ops);
      if (r->has_server_wait_calls)
        fprintf(f, ",\"syscalls_per_op\":%.4f",
                (double) r->server_wait_calls / (double) r->server_ops);
      fprintf(f, "}");
    }
    fprintf(f, "}");
  }
  fprintf(f, "]}");
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");

  if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
    return -1;
  }
  return 0;
}

/* ---- gnuplot ------------------------------------------------------------- */

static int find_in_path(const char *name) {
  const char *path = getenv("PATH");
  char buf[4096];
  const char *end;
  size_t n;

  if (path == NULL)
    path = "/usr/bin:/bin";
  for (; *path; path = *end ? end + 1 : end) {
    end = strchr(path, ':');
    if (end == NULL)
      end = path + strlen(path);
    n = (size_t) (end - path);
    if (n == 0 || n + strlen(name) + 2 > sizeof(buf))
      continue;
    memcpy(buf, path, n);
    buf[n] = '/';
    strcpy(buf + n + 1, name);
    if (access(buf, X_OK) == 0)
      return 1;
  }
  return 0;
}

static void gp_quote(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fputc('\\', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

/* Latency CDFs of the median runs of one job.  A missing gnuplot is a note,
 * not an error. */
static int plot_job(const struct job *j, const char *out) {
  char dir[] = "/tmp/lure-bench-plot.XXXXXX";
  char data[64];
  char script[64];
  char desc[512];
  const struct bench_result *r;
  const char *ext = strrchr(out, '.');
  uint64_t lo;
  uint64_t hi;
  uint64_t seen;
  unsigned i;
  FILE *f;
  pid_t pid;
  int status;
  int e;
  int rc = -1;

  if (!find_in_path("gnuplot")) {
    fprintf(stderr, "%s: gnuplot not found: %s not drawn\n", prog, out);
    return 0;
  }
  if (mkdtemp(dir) == NULL) {
    fprintf(stderr, "%s: mkdtemp: %s\n", prog, strerror(errno));
    return -1;
  }
  snprintf(data, sizeof(data), "%s/cdf.dat", dir);
  snprintf(script, sizeof(script), "%s/cdf.gp", dir);

  f = fopen(data, "w");
  if (f == NULL)
    goto out;
  for (e = 0; e < j->nex; e++) {
    r = j->med[e];
    fprintf(f, "# %s\n%.4f 0\n", r->executor, (double) r->hist->min / 1000.0);
    seen = 0;
    for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
      if (r->hist->b[i] == 0)
        continue;
      seen += r->hist->b[i];
      bench_hist_bucket_range(i, &lo, &hi);
      if (hi > r->hist->max)
        hi = r->hist->max;
      fprintf(f, "%.4f %.6f\n", (double) hi / 1000.0,
              (double) seen / (double) r->hist->count);
    }
    fprintf(f, "\n\n");
  }
  if (fclose(f) != 0)
    goto out;

  f = fopen(script, "w");
  if (f == NULL)
    goto out;
  if (ext != NULL && strcmp(ext, ".png") == 0)
    fprintf(f, "set terminal png size 960,600 noenhanced\n");
  else
    fprintf(f, "set terminal svg size 960,600 dynamic noenhanced "
            "background rgb \"white\"\n");
  fprintf(f, "set output ");
  gp_quote(f, out);
  describe(j, desc, sizeof(desc));
  fprintf(f, "\nset title ");
  gp_quote(f, desc);
  fprintf(f, " font \",10\"\n"
          "set xlabel \"latency from request to callback (microseconds, "
          "log scale)\"\n"
          "set ylabel \"fraction of %ss at or below\"\n"
          "set logscale x 10\nset grid xtics mxtics ytics\n"
          "set yrange [0:1]\nset key bottom right\n", unit_of(j));
  fprintf(f, "plot ");
  for (e = 0; e < j->nex; e++) {
    fprintf(f, "%s", e ? ", \\\n     " : "");
    gp_quote(f, data);
    fprintf(f, " index %d using 1:2 with steps lw 2 title \"%s\"", e,
            j->med[e]->executor);
  }
  fprintf(f, "\n");
  if (fclose(f) != 0)
    goto out;

  fflush(NULL);
  pid = fork();
  if (pid == 0) {
    execlp("gnuplot", "gnuplot", script, (char *) NULL);
    _exit(127);
  }
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fprintf(stderr, "%s: gnuplot failed; its script was %s\n", prog, script);
    return -1; /* keep the files for a look */
  }
  rc = 0;

out:
  if (rc != 0 && errno != 0)
    fprintf(stderr, "%s: plot: %s\n", prog, strerror(errno));
  unlink(data);
  unlink(script);
  rmdir(dir);
  return rc;
}

/* ---- defaults ------------------------------------------------------------ */

/* Give the job's parameters the suite's defaults where the options said
 * nothing. */
static void apply_defaults(struct job *j, const struct options *o,
                           double def_duration) {
  struct bench_params *p = &j->p;
  int fs = strcmp(j->s->name, "fs") == 0;

  *p = o->p;
  p->suite = j->s->name;
  if (strcmp(j->s->name, "timers") == 0) {
    if (!o->ops_set)
      p->ops = 100000;
    p->duration = 0;
    p->warmup = 0;
  } else {
    if (!o->ops_set && !o->duration_set)
      p->duration = def_duration;
    if (!o->ops_set)
      p->ops = 0;
    if (!o->duration_set && o->ops_set)
      p->duration = 0;
    if (!o->warmup_set)
      p->warmup = fs ? (p->depth * 4 > 100 ? p->depth * 4 : 100) : 1000;
  }
  if (strcmp(j->s->name, "net") == 0) {
    p->msg_size = o->size_set ? (size_t) o->p.size
                              : p->bulk ? (size_t) 65536 : (size_t) 64;
    if (p->bulk && !o->depth_set)
      p->depth = 4;
  }
  if (!o->file_set)
    p->file = default_file;
}

/* ---- quick: the suite of `make bench` ------------------------------------ */

struct quick_item {
  const char *suite;
  double duration;
  unsigned depth;
  int op;
  int direct;
  unsigned conns;     /* net */
  int bulk;           /* net */
  size_t msg_size;    /* net */
  int udp;            /* net */
};

static const struct quick_item quick_items[] = {
  {"fs", 1.0, 1, BENCH_OP_READ, 0},
  {"fs", 1.0, 32, BENCH_OP_READ, 1},
  {"fs", 1.0, 1, BENCH_OP_WRITE, 0},
  {"net", 2.0, 1, 0, 0, 1, 0, 64},
  {"net", 2.0, 1, 0, 0, 100, 0, 64},
  {"net", 1.0, 4, 0, 0, 1, 1, 65536},
  {"net", 0.5, 1, 0, 0, 32, 0, 64, 1},
  {"timers", 0, 1, 0, 0},
  {"loop", 0.5, 1, 0, 0},
  {"async", 0.5, 1, 0, 0},
  {"work", 0.5, 1, 0, 0},
  {"work", 0.5, 32, 0, 0},
};

/* quick applies --executors to each suite as far as the suite has them. */
static const char *quick_executors(const struct job *j, const char *list) {
  static char out[256];
  char buf[256];
  char *tok;
  char *save = NULL;

  if (list == NULL)
    return NULL;
  out[0] = '\0';
  snprintf(buf, sizeof(buf), "%s", list);
  for (tok = strtok_r(buf, ", ", &save); tok != NULL;
       tok = strtok_r(NULL, ", ", &save)) {
    if (!known_executor(j->s, tok) || (strcmp(tok, "aio") == 0 && !j->p.direct))
      continue;
#ifndef HAVE_LIBUV
    if (strcmp(tok, "libuv") == 0)
      continue;
#endif
    if (strlen(out) + strlen(tok) + 2 < sizeof(out))
      snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s",
               out[0] ? "," : "", tok);
  }
  return out;
}

static int run_quick(struct options *o) {
  size_t n = sizeof(quick_items) / sizeof(quick_items[0]);
  struct job *jobs = calloc(n, sizeof(*jobs));
  struct job *j;
  char *doc = NULL;
  size_t doclen = 0;
  FILE *f;
  size_t i;
  int first = 1;
  int failed = 0;
  int plotted = 0;

  if (jobs == NULL)
    return 1;
  if (!o->repeat_set)
    o->p.repeat = 3;
  if (!o->size_set)
    o->p.size = 64u << 20;
  f = open_memstream(&doc, &doclen);
  if (f == NULL)
    return 1;
  fprintf(f, "{\"tool\":\"lure-bench\",\"version\":");
  json_string(f, bench_lure_version());
  fprintf(f, ",\"kernel\":");
  json_string(f, kernel_release());
  fprintf(f, ",\"suite\":\"quick\",\n \"runs\":[");

  for (i = 0; i < n; i++) {
    const struct quick_item *q = &quick_items[i];

    j = &jobs[i];
    j->s = find_suite(q->suite);
    o->p.depth = q->depth;
    o->p.op = q->op;
    o->p.direct = q->direct;
    o->p.conns = q->conns ? q->conns : 1;
    o->p.bulk = q->bulk;
    o->p.udp = q->udp;
    apply_defaults(j, o, q->duration);
    if (is_net(j)) {
      /* --size is the fs file's here. */
      j->p.msg_size = q->msg_size;
      j->p.depth = q->depth;
    }
    j->nex = pick_executors(j->s, &j->p, quick_executors(j, o->executors),
                            j->ex);
    if (j->nex < 0) {
      failed = 1;
      continue;
    }
    if (run_job(j) != 0) {
      fprintf(stderr, "%s: %s\n\n", prog, j->error);
      fprintf(f, "%s\n  {\"suite\":\"%s\",\"error\":", first ? "" : ",",
              j->s->name);
      json_string(f, j->error);
      fprintf(f, "}");
      first = 0;
      failed = 1;
      free_job(j);
      continue;
    }
    print_table(j);
    fprintf(f, "%s\n", first ? "" : ",");
    json_job(f, j, "  ");
    first = 0;
    if (o->plot != NULL && !plotted && strcmp(j->s->name, "fs") == 0) {
      if (plot_job(j, o->plot) != 0)
        failed = 1;
      plotted = 1;
    }
    free_job(j);
  }
  fprintf(f, "]}\n");
  fclose(f);
  if (o->json != NULL && write_file(o->json, doc) != 0)
    failed = 1;
  free(doc);
  free(jobs);
  return failed ? 1 : 0;
}

/* ---- main ---------------------------------------------------------------- */

static void on_signal(int sig) {
  const char *path = bench_fs_created_path();

  hogs_kill();
  if (path != NULL)
    unlink(path);
  signal(sig, SIG_DFL);
  raise(sig);
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
    {"executors", required_argument, NULL, 'e'},
    {"ops", required_argument, NULL, 'n'},
    {"duration", required_argument, NULL, 't'},
    {"repeat", required_argument, NULL, 'r'},
    {"warmup", required_argument, NULL, 'w'},
    {"json", required_argument, NULL, 'j'},
    {"plot", required_argument, NULL, 'p'},
    {"seed", required_argument, NULL, 'S'},
    {"depth", required_argument, NULL, 'd'},
    {"op", required_argument, NULL, 'o'},
    {"bs", required_argument, NULL, 'b'},
    {"file", required_argument, NULL, 'f'},
    {"size", required_argument, NULL, 's'},
    {"direct", no_argument, NULL, 'D'},
    {"cold", no_argument, NULL, 'C'},
    {"keep", no_argument, NULL, 'k'},
    {"spread", required_argument, NULL, 'P'},
    {"conns", required_argument, NULL, 'c'},
    {"bulk", no_argument, NULL, 'B'},
    {"udp", no_argument, NULL, 'U'},
    {"pin", required_argument, NULL, 'I'},
    {"load", required_argument, NULL, 'L'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0}
  };
  struct options o;
  struct job job;
  const char *cmd;
  uint64_t v;
  char *doc = NULL;
  size_t doclen = 0;
  FILE *f;
  int c;
  int rc = 0;

  memset(&o, 0, sizeof(o));
  o.p.repeat = 1;
  o.p.depth = 1;
  o.p.seed = 42;
  o.p.bs = 4096;
  o.p.size = 256u << 20;
  o.p.spread_ms = 100;
  o.p.op = BENCH_OP_READ;
  o.p.conns = 1;
  o.p.pin_cpu = -1;
  snprintf(default_file, sizeof(default_file), "/var/tmp/lure-bench.%ld.dat",
           (long) getpid());

  while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
    switch (c) {
      case 'e': o.executors = optarg; break;
      case 'n':
        if (parse_u64(optarg, &o.p.ops, 1) != 0 || o.p.ops == 0)
          die_usage("--ops wants a positive count, not \"%s\"", optarg);
        o.ops_set = 1;
        break;
      case 't':
        if (parse_seconds(optarg, &o.p.duration) != 0 || o.p.duration <= 0)
          die_usage("--duration wants seconds, not \"%s\"", optarg);
        o.duration_set = 1;
        break;
      case 'r':
        if (parse_u64(optarg, &v, 0) != 0 || v < 1 || v > MAX_REPEAT)
          die_usage("--repeat wants 1 to 1000, not \"%s\"", optarg);
        o.p.repeat = (unsigned) v;
        o.repeat_set = 1;
        break;
      case 'w':
        if (parse_u64(optarg, &o.p.warmup, 1) != 0)
          die_usage("--warmup wants a count, not \"%s\"", optarg);
        o.warmup_set = 1;
        break;
      case 'j': o.json = optarg; break;
      case 'p': o.plot = optarg; break;
      case 'S':
        if (parse_u64(optarg, &o.p.seed, 0) != 0)
          die_usage("--seed wants a number, not \"%s\"", optarg);
        break;
      case 'd':
        if (parse_u64(optarg, &v, 0) != 0 || v < 1 || v > 65536)
          die_usage("--depth wants 1 to 65536, not \"%s\"", optarg);
        o.p.depth = (unsigned) v;
        o.depth_set = 1;
        break;
      case 'o':
        if (strcmp(optarg, "read") == 0)
          o.p.op = BENCH_OP_READ;
        else if (strcmp(optarg, "write") == 0)
          o.p.op = BENCH_OP_WRITE;
        else if (strcmp(optarg, "randrw") == 0)
          o.p.op = BENCH_OP_RANDRW;
        else
          die_usage("--op wants read, write or randrw, not \"%s\"", optarg);
        break;
      case 'b':
        if (parse_u64(optarg, &v, 1) != 0 || v < 512 || v > (64u << 20) ||
            v % 512 != 0)
          die_usage("--bs wants a multiple of 512 up to 64M, not \"%s\"",
                    optarg);
        o.p.bs = (size_t) v;
        break;
      case 'f': o.p.file = optarg; o.file_set = 1; break;
      case 's':
        if (parse_u64(optarg, &o.p.size, 1) != 0 || o.p.size == 0)
          die_usage("--size wants a size, not \"%s\"", optarg);
        o.size_set = 1;
        break;
      case 'D': o.p.direct = 1; break;
      case 'C': o.p.cold = 1; break;
      case 'k': o.keep = 1; break;
      case 'P':
        if (parse_u64(optarg, &v, 0) != 0 || v > 86400000)
          die_usage("--spread wants milliseconds, not \"%s\"", optarg);
        o.p.spread_ms = (unsigned) v;
        break;
      case 'c':
        if (parse_u64(optarg, &v, 0) != 0 || v < 1 || v > 10000)
          die_usage("--conns wants 1 to 10000, not \"%s\"", optarg);
        o.p.conns = (unsigned) v;
        break;
      case 'B': o.p.bulk = 1; break;
      case 'U': o.p.udp = 1; break;
      case 'I':
        if (parse_u64(optarg, &v, 0) != 0 || v >= CPU_SETSIZE)
          die_usage("--pin wants a CPU number, not \"%s\"", optarg);
        o.p.pin_cpu = (int) v;
        break;
      case 'L':
        if (parse_loads(optarg, &o) != 0)
          die_usage("--load wants up to %d counts of 0 to %d, comma-separated, "
                    "not \"%s\"", MAX_LOADS, MAX_HOGS, optarg);
        break;
      case 'h': usage(stdout); return 0;
      case 'V':
#ifdef HAVE_LIBUV
        printf("lure-bench (lure %s, libuv %s)\n", bench_lure_version(),
               bench_uv_version());
#else
        printf("lure-bench (lure %s, built without libuv)\n",
               bench_lure_version());
#endif
        return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind >= argc) {
    usage(stderr);
    return 2;
  }
  if (optind + 1 < argc)
    die_usage("one subcommand at a time: unexpected \"%s\"", argv[optind + 1]);
  cmd = argv[optind];
  if (o.p.udp && strcmp(cmd, "net") != 0)
    die_usage("--udp is an option of net");
  if (strcmp(cmd, "net") == 0 && o.p.udp) {
    if (o.p.bulk)
      die_usage("net: --udp is ping-pong, not --bulk");
    if (o.size_set && (o.p.size < BENCH_UDP_HDR || o.p.size > BENCH_UDP_MAX))
      die_usage("net --udp: --size wants %d to %d bytes (its flow and "
                "sequence number, up to the largest UDP datagram)",
                BENCH_UDP_HDR, BENCH_UDP_MAX);
    /* Each flow has a buffer for its datagram and one for the echo. */
    if ((uint64_t) o.p.conns * (o.size_set ? o.p.size : 64) > (64u << 20))
      die_usage("net --udp: --conns times --size may not pass 64M");
  } else if (strcmp(cmd, "net") == 0) {
    if (o.size_set && o.p.size > (16u << 20))
      die_usage("net: --size wants a message size up to 16M");
  } else if (o.p.size % o.p.bs != 0) {
    die_usage("--size must be a multiple of --bs");
  }
  if (o.p.pin_cpu >= 0) {
    /* Inherited by the forked servers and the thread pools: every
     * executor, and libuv, runs on the same CPU. */
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(o.p.pin_cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
      die_usage("--pin %d: %s", o.p.pin_cpu, strerror(errno));
  }
  progress = isatty(2);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGHUP, on_signal);
  if (!o.keep)
    atexit(bench_fs_cleanup);
  atexit(hogs_stop);
  if (o.nloads == 0)
    o.loads[o.nloads++] = 0;

  if (strcmp(cmd, "quick") == 0) {
    if (o.nloads > 1 || o.loads[0] != 0)
      die_usage("--load is not an option of quick");
    return run_quick(&o);
  }
  if (o.nloads > 1 && (o.json != NULL || o.plot != NULL))
    die_usage("--json and --plot take one --load figure, not a list");

  memset(&job, 0, sizeof(job));
  job.s = find_suite(cmd);
  if (job.s == NULL)
    die_usage("no subcommand \"%s\"", cmd);
  apply_defaults(&job, &o,
                 strcmp(cmd, "fs") == 0 || strcmp(cmd, "net") == 0 ? 2.0
                                                                 : 1.0);
  job.nex = pick_executors(job.s, &job.p, o.executors, job.ex);
  if (job.nex < 0)
    return 2;
  for (c = 0; c < o.nloads; c++) {
    if (c > 0) {
      free_job(&job);
      memset(job.med, 0, sizeof(job.med));
    }
    job.p.load = o.loads[c];
    if (hogs_start(job.p.load) != 0)
      return 1;
    rc = run_job(&job);
    hogs_stop();
    if (rc != 0) {
      fprintf(stderr, "%s: %s\n", prog, job.error);
      free_job(&job);
      return 1;
    }
    print_table(&job);
  }
  if (o.json != NULL) {
    f = open_memstream(&doc, &doclen);
    if (f == NULL)
      return 1;
    json_job(f, &job, "");
    fprintf(f, "\n");
    fclose(f);
    if (write_file(o.json, doc) != 0)
      rc = 1;
    free(doc);
  }
  if (o.plot != NULL && plot_job(&job, o.plot) != 0)
    rc = 1;
  free_job(&job);
  return rc;
}
