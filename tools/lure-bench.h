/*
 * lure-bench.h - what the parts of lure-bench share.
 *
 * lure-bench is split by what each part links against:
 *
 *   lure-bench.c   options, the runner (alternation, repeats, medians),
 *                  tables, JSON, gnuplot; neither lure nor libuv specific
 *   bench-hist.c   the log-linear latency histogram and small helpers
 *   bench-fs.c     the fs suite's benchmark file
 *   bench-net.c    the net suite's plumbing: the forked server process, the
 *                  pipe that carries its port and its figures back, the
 *                  header of the --udp datagrams
 *   bench-uv.c     the timers, loop, async, work and fs suites
 *   bench-net-uv.c the net suite's client and server
 *
 * The last two are written once against libuv's API and compiled twice,
 * against lure's uv.h (the bench_lure_ functions below) and against
 * libuv's (the bench_uv_ ones, built only when configure found libuv): see
 * bench-side.h.  Two uv.h never meet in one translation unit: this header
 * includes neither.
 */
#ifndef LURE_BENCH_H
#define LURE_BENCH_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- histogram ----------------------------------------------------------- */

/*
 * Log-linear buckets, as HdrHistogram: values below 2*SUB are exact; above,
 * each power of two [2^e, 2^(e+1)) is cut into SUB equal sub-buckets, so a
 * value is known to within 1/SUB (about 3%) of itself, from 1 ns to 2^64 ns.
 */
#define BENCH_HIST_SUB_BITS 5
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_BUCKETS \
  (2 * BENCH_HIST_SUB + (64 - BENCH_HIST_SUB_BITS - 1) * BENCH_HIST_SUB)

struct bench_hist {
  uint64_t count;
  uint64_t min;
  uint64_t max;
  double sum;
  uint64_t b[BENCH_HIST_BUCKETS];
};

void bench_hist_reset(struct bench_hist *h);
void bench_hist_record(struct bench_hist *h, uint64_t ns);
/* The value (ns) below which a fraction q of the recorded values fall,
 * reported as the middle of its bucket, never above max. */
double bench_hist_quantile(const struct bench_hist *h, double q);
/* Bucket i's range [lo, hi] in ns. */
void bench_hist_bucket_range(unsigned i, uint64_t *lo, uint64_t *hi);

/* ---- parameters and results ---------------------------------------------- */

enum bench_fs_op { BENCH_OP_READ = 0, BENCH_OP_WRITE, BENCH_OP_RANDRW };

struct bench_params {
  const char *suite;       /* "fs", "net", "timers", "loop", "async", "work" */
  uint64_t ops;            /* stop after this many measured ops (0: no cap) */
  double duration;         /* stop after this many seconds (0: no cap) */
  uint64_t warmup;         /* ops run before measuring starts */
  unsigned repeat;
  unsigned depth;          /* requests in flight (fs, work; net --bulk:
                              writes per connection) */
  uint64_t seed;
  /* timers */
  unsigned spread_ms;      /* due times are uniform in [0, spread_ms] */
  /* fs */
  size_t bs;
  int op;                  /* enum bench_fs_op */
  const char *file;
  uint64_t size;
  int cold;
  int direct;
  /* net */
  unsigned conns;          /* connections */
  size_t msg_size;         /* bytes per message (ping-pong) or write (bulk) */
  int bulk;                /* one-way bulk transfer instead of ping-pong */
  int udp;                 /* UDP ping-pong: conns is the number of flows */
  int pin_cpu;             /* the CPU every process and thread runs on, or
                              -1 */
  unsigned load;           /* CPU hogs running during the runs (--load) */
};

struct bench_result {
  const char *executor;
  uint64_t ops;
  double seconds;          /* wall time of the measured part */
  double cpu_seconds;      /* process CPU time (user + system, all threads) */
  uint64_t wait_calls;     /* wait-point syscalls (lure_loop_stats) */
  int has_wait_calls;      /* lure only */
  uint64_t mismatches;     /* requests served by another executor */
  char mismatch_name[32];  /* the executor that served one of them */
  uint64_t served[3];      /* executor "auto": requests the ring, the pool
                              and anything else served */
  char error[256];         /* non-empty: the run failed */
  struct bench_hist *hist;
  /* net: the server process, over its whole life (warm-up included) */
  int has_server;
  uint64_t server_ops;     /* messages it echoed (bulk: --size'd chunks read) */
  double server_cpu_seconds; /* its user + system time, from wait4() */
  uint64_t server_wait_calls;
  int has_server_wait_calls; /* lure servers only */
};

/* A runner: one run of one suite through one executor.  Returns 0, or -1
 * with r->error set. */
typedef int (*bench_run_fn)(const struct bench_params *p, const char *executor,
                            struct bench_result *r);

/* ---- the measuring loop shared by every request-driven suite ------------- */

/*
 * A run issues requests while bench_drive_may_issue() says so and reports
 * each completion to bench_drive_complete(), which records its latency once
 * the warm-up is over.  The run ends when the last request in flight is in.
 */
struct bench_drive {
  const struct bench_params *p;
  struct bench_result *r;
  uint64_t issued;
  uint64_t completed;
  uint64_t t_start;       /* ns, when the warm-up ended */
  uint64_t t_end;         /* ns, the last measured completion */
  double cpu_start;
  int measuring;
  int stop;               /* set on error: issue nothing more */
};

void bench_drive_init(struct bench_drive *d, const struct bench_params *p,
                      struct bench_result *r, uint64_t now);
int bench_drive_may_issue(struct bench_drive *d, uint64_t now);
/* Returns 1 when this completion ended the warm-up (the caller snapshots
 * its own counters then), else 0. */
int bench_drive_complete(struct bench_drive *d, uint64_t t_issue,
                         uint64_t now);
/* Fill r->ops, r->seconds and r->cpu_seconds after the run. */
void bench_drive_finish(struct bench_drive *d);

/* ---- helpers ------------------------------------------------------------- */

uint64_t bench_now_ns(void);
double bench_cpu_seconds(void);
uint64_t bench_rand(uint64_t *state);
void bench_set_error(struct bench_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void bench_set_errorv(struct bench_result *r, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* ---- the benchmark file (bench-fs.c) ------------------------------------- */

/* Create or check the file; 0 or -1 with a message in err. */
int bench_fs_prepare(const struct bench_params *p, char *err, size_t errlen);
/* Before every run: warm the page cache, or drop it with --cold. */
int bench_fs_before_run(const struct bench_params *p, char *err,
                        size_t errlen);
/* Remove the file if this process created it (and --keep was not given). */
void bench_fs_cleanup(void);
/* The file this process created, or NULL: for a signal handler's unlink. */
const char *bench_fs_created_path(void);
/* The offset of the next request: a random block, never block 0 (which
 * holds the file's signature). */
uint64_t bench_fs_offset(const struct bench_params *p, uint64_t *rng);
/* Whether the next request of a randrw run writes. */
int bench_fs_is_write(const struct bench_params *p, uint64_t *rng);
/* A buffer of bs bytes aligned for O_DIRECT, filled with data. */
void *bench_fs_buffer(size_t bs);

/* ---- the net suite's server process (bench-net.c) ------------------------ */

/*
 * Each net run forks a server that uses the same library and executor as
 * the client, so that the two ends never share a loop (nor a CPU, on a
 * machine with two).  The server listens on 127.0.0.1 port 0, reports the
 * port through a pipe, serves until every connection the client made has
 * closed, then writes its figures to the pipe and exits.
 */
struct bench_net_report {     /* what the server writes when it is done */
  uint64_t ops;               /* messages echoed, or chunks read (bulk) */
  uint64_t bytes;
  uint64_t wait_calls;
  int has_wait_calls;
  char error[256];            /* non-empty: the server failed */
};

/* The server's body, run in the child: set up, call ready(fd, port) once
 * listening (or with port 0 after a failure, with rep->error set), serve,
 * fill rep.  Returns the exit status. */
typedef int (*bench_net_serve_fn)(const struct bench_params *p,
                                  const char *executor, int fd,
                                  struct bench_net_report *rep);
void bench_net_ready(int fd, int port);

struct bench_net_server {
  int pid;
  int fd;                     /* the pipe's read end */
  int port;
};

/* Fork the server; 0 with srv->port set, or -1 with r->error set. */
int bench_net_start(const struct bench_params *p, const char *executor,
                    bench_net_serve_fn serve, struct bench_net_server *srv,
                    struct bench_result *r);
/* Wait for the server to finish (killing it after a few seconds, or at once
 * with abort set, after the client failed), and put its report into r.
 * 0, or -1 with r->error set. */
int bench_net_finish(struct bench_net_server *srv, struct bench_result *r,
                     int abort);
/* Allow this process conns connections (raise RLIMIT_NOFILE if need be).
 * 0, or -1 with r->error set. */
int bench_net_fd_limit(unsigned conns, struct bench_result *r);

/* ---- net --udp: what the datagrams carry (bench-net.c) ------------------- */

/*
 * Every datagram starts with its flow's number and its sequence number in
 * that flow (host order: both ends are on this machine), so that the client
 * can tell the echo it waits for from a stray, late or duplicated one.
 * When a flow has sent its last datagram it sends a "bye", the header alone
 * with the sequence number BENCH_UDP_BYE; the server stops once every flow
 * has said it, as the TCP server stops once every connection has closed.
 */
#define BENCH_UDP_HDR 12          /* uint32_t flow, uint64_t seq */
#define BENCH_UDP_MAX 65507       /* the largest UDP payload over IPv4 */
#define BENCH_UDP_BYE UINT64_MAX
/* A datagram whose echo has not come back after this long was lost (or the
 * machine is stalled that long): the run fails rather than hang. */
#define BENCH_UDP_LOSS_MS 2000

void bench_udp_stamp(char *buf, uint32_t flow, uint64_t seq);
void bench_udp_peek(const char *buf, uint32_t *flow, uint64_t *seq);
/* Whether the echo of len bytes in buf (partial: cut to fit the buffer) is
 * the want-byte datagram seq of flow: 0, or -1 with a message in err. */
int bench_udp_check(const char *buf, size_t len, int partial, size_t want,
                    uint32_t flow, uint64_t seq, char *err, size_t errlen);
/* After a loss: append to err (of errlen bytes, holding a message) what
 * the kernel says of the server's socket, bound to 127.0.0.1:port. */
void bench_udp_explain_loss(int port, char *err, size_t errlen);

/* ---- lure side (bench-uv.c and bench-net-uv.c on lure's uv.h) ------------ */

const char *bench_lure_version(void);
/* Whether a lure loop can be set up with an io_uring wait point here. */
int bench_lure_has_uring(void);
int bench_lure_timers(const struct bench_params *, const char *,
                      struct bench_result *);
int bench_lure_loop(const struct bench_params *, const char *,
                    struct bench_result *);
int bench_lure_async(const struct bench_params *, const char *,
                     struct bench_result *);
int bench_lure_work(const struct bench_params *, const char *,
                    struct bench_result *);
int bench_lure_fs(const struct bench_params *, const char *,
                  struct bench_result *);
int bench_lure_net(const struct bench_params *, const char *,
                   struct bench_result *);

/* ---- libuv side (bench-uv.c and bench-net-uv.c on libuv's uv.h) ---------- */

#ifdef HAVE_LIBUV
const char *bench_uv_version(void);
int bench_uv_timers(const struct bench_params *, const char *,
                    struct bench_result *);
int bench_uv_loop(const struct bench_params *, const char *,
                  struct bench_result *);
int bench_uv_async(const struct bench_params *, const char *,
                   struct bench_result *);
int bench_uv_work(const struct bench_params *, const char *,
                  struct bench_result *);
int bench_uv_fs(const struct bench_params *, const char *,
                struct bench_result *);
int bench_uv_net(const struct bench_params *, const char *,
                 struct bench_result *);
#endif

#endif /* LURE_BENCH_H */
