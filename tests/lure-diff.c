/*
 * lure-diff.c - differential testing of lure's executors.
 *
 * Usage: lure-diff [--start SEED] [--count N] [--variants V,V,...]
 *                  [--digest] [--verbose] [--timeout SECONDS]
 *
 * For each seed, a generator derives a set of "actors" and their scripts
 * from that seed alone (a splitmix64 stream per actor, so the same seed
 * always gives the same calls in the same order):
 *
 *   timers   2-8 timers started together: one-shot and repeating, stopped
 *            by an earlier timer, re-armed with lure_timer_again, closed
 *            from their own callback or while active;
 *   files    a chain of 8-40 fs requests on two names of a scratch
 *            directory: open (5 flag sets, errors included), write and
 *            read at an offset or at the file position, one to three
 *            buffers, fstat, stat, rename, unlink, ftruncate, fsync,
 *            mkdir, rmdir, close; some requests synchronous (NULL cb);
 *   streams  a TCP connection over loopback, a socketpair opened as two
 *            pipe handles, or a pipe(2) opened as two pipe handles: bursts
 *            of writes (some through lure_try_write first), reads with
 *            read_stop/read_start, then shutdown and EOF on both sides,
 *            or one side closed (or reset) at a random point with writes
 *            in flight;
 *   udp      two sockets on 127.0.0.1: datagrams of 0-2000 bytes (one
 *            too big for UDP in some scripts), send callbacks in order,
 *            receive with recv_stop/recv_start, the sender closed with
 *            sends in flight in some scripts;
 *   errors   a chain of calls that must fail: connects refused (or
 *            closed at once), pipe_connect to a path that is no socket,
 *            stream calls on an unconnected handle, fs calls on the wrong
 *            kind of file, a UDP send to port 0.
 * Streams also use lure_write_zc for some bursts, borrowed reads
 * (lure_read_start_borrowed) on some sides, a shutdown queued behind
 * writes, and immediate-return probes after a shutdown; fs reads, fstat
 * and stat are sometimes cancelled at once (lure_cancel).
 *
 * The same actors run on one loop per variant (an executor set, below).
 * Every actor writes its own trace: which callbacks came, with which
 * status, byte counts and checksums.  Traces are compared per actor, in
 * actor order, against the first variant's; a difference prints the seed,
 * both traces and the command that runs the seed again, and the exit
 * status is 1.  Each run also checks invariants that hold on every
 * executor (received stream bytes are the sent bytes, every callback
 * exactly once, nothing after a close callback); a breach is a line
 * starting with "VIOLATION" in the trace, and fails the seed as well.
 *
 * Variants (--variants; default uring,uring-masked,uring-old,uring-eagain,
 * uring-single,epoll):
 *   uring         the ring for everything the kernel offers
 *   uring-masked  the ring as wait point, socket and file I/O opcodes
 *                 masked (readiness path, thread pool)
 *   uring-old     the ring's socket path of kernels before 5.19/6.0
 *   uring-eagain  the ring, every ring send of a stream or UDP handle
 *                 MSG_DONTWAIT (a count in the library only tests set):
 *                 one that meets a full socket comes back EAGAIN, as 6.18
 *                 did rarely without the flag (seed 198, stop 24), and
 *                 must wait for room and go again, unseen by the caller
 *   uring-single  the ring of a loop configured LURE_LOOP_SINGLE_THREAD:
 *                 a single issuer's, with deferred task work (6.1)
 *   epoll         LURE_BACKEND=epoll: readiness and the thread pool
 *   default       whatever a plain lure_loop_init gives (use it under
 *                 tests/nouring, where io_uring_setup fails)
 * A variant whose executor this host cannot give is reported and left out.
 * --digest prints "SEED HASH" of the first variant's trace per seed, so
 * that runs in different processes (tests/nouring) can be compared
 * (tests/diff.sh does that).
 *
 * WHAT IS COMPARED, AND THE RULES FOR WHAT IS NOT.  These are the
 * differences that are allowed between executors; everything else in the
 * traces must be identical:
 *
 *  R1 Order across actors is not compared: each actor's trace is its own,
 *     and the trace of one actor only holds what that actor's script
 *     orders.  (A timer and a read completing in the same tick may come in
 *     either order on any executor, as in libuv.)
 *  R2 Timers: the order of the first firing of timers started in the same
 *     batch is compared (it is defined by due time, then start order); the
 *     later firings of repeating timers are compared as counts per timer,
 *     since their due times follow the loop's clock at the time they fire.
 *  R3 Stream reads are compared as the concatenation of the bytes per
 *     direction (count, and every byte checked against the sender's), not
 *     as read callbacks: how bytes are split between reads depends on
 *     timing and on the executor's buffers.  lure_try_write may write any
 *     part of its buffer, or return EAGAIN: the rest goes through
 *     lure_write, and only other errors are traced.
 *  R4 When a stream is closed (or reset) with writes in flight, each such
 *     write reports 0 (it reached the kernel before the close) or an
 *     error (ECANCELED, or EPIPE/ECONNRESET on the peer's side): the
 *     trace only holds "writes: ok" if the statuses are a run of 0 then a
 *     run of errors from that set, which is the order writes are made in.
 *     The peer then receives a prefix of the stream (checked byte by
 *     byte) that ends in EOF or ECONNRESET, both traced as "closed": a
 *     close(2) with unread data turns the FIN into a reset, and whether
 *     data is unread at that moment is timing.
 *  R5 UDP: a receive callback with nread == 0 and no address ("nothing
 *     more to read", libuv's meaning) is not traced: whether an executor
 *     reports an empty poll is its own business.  Datagrams are traced in
 *     order with their size and checksum (loopback neither drops nor
 *     reorders the few hundred KiB a script sends).  Sends in flight when
 *     the sender is closed report 0 or ECANCELED; the receiver then gets
 *     an ordered subset of the datagrams whose status was 0 (checked).
 *  R6 Which executor served a request (lure_req_executor) is not traced.
 *  R7 Immediate return codes of the calls are traced as they are: they
 *     must be the same everywhere.
 *  R8 A shutdown asked for inside a write callback, after writes that the
 *     same callback queued and that completed at once, may call back
 *     before those writes do: the write side is shut once no write is
 *     left to send, and callbacks of writes already sent run in the next
 *     round.  libuv 1.44 does the same (uv__drain runs after
 *     uv__write_callbacks took its batch).  The bytes are all sent before
 *     shutdown(2) either way (checked: the peer reads them all).  A
 *     shutdown asked for anywhere else calls back after every write queued
 *     before it (checked).
 *  R9 An fs read, fstat or stat that lure_cancel was called on right
 *     after it was made reports ECANCELED, or its result when it had
 *     already started (a pool thread took it, the ring had it): traced as
 *     "cancelled or done" (lure_cancel must return 0 or EBUSY, checked).
 *     Reads at the file position are never cancelled: whether the
 *     position moved would depend on the race.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lure.h>

#define MAX_ACTORS 12
#define MAX_WRITES 4 /* writes per burst */
#define MAX_BURSTS 6
#define MAX_DGRAMS 40

/* ---- randomness ---------------------------------------------------------- */

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

typedef struct {
  uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *r) {
  r->s += 0x9e3779b97f4a7c15ULL;
  return mix64(r->s);
}

/* 0..n-1 */
static unsigned rn(rng_t *r, unsigned n) {
  return n ? (unsigned) (rnd(r) % n) : 0;
}

/* Byte i of the data stream named by key. */
static void fill(uint64_t key, uint64_t off, unsigned char *p, size_t n) {
  size_t i;
  uint64_t w = 0, wi = UINT64_MAX;

  for (i = 0; i < n; i++) {
    uint64_t pos = off + i;
    if ((pos >> 3) != wi) {
      wi = pos >> 3;
      w = mix64(key ^ (wi * 0x100000001b3ULL));
    }
    p[i] = (unsigned char) (w >> ((pos & 7) * 8));
  }
}

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  size_t i;

  for (i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}
#define FNV0 0xcbf29ce484222325ULL

/* ---- traces --------------------------------------------------------------- */

struct trace {
  char *buf;
  size_t len, cap;
};

static void trace_add(struct trace *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void trace_add(struct trace *t, const char *fmt, ...) {
  va_list ap;
  int n;

  for (;;) {
    va_start(ap, fmt);
    n = vsnprintf(t->buf ? t->buf + t->len : NULL,
                  t->buf ? t->cap - t->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0)
      abort();
    if (t->buf != NULL && t->len + (size_t) n + 2 <= t->cap)
      break;
    t->cap = (t->cap + (size_t) n + 2) * 2;
    t->buf = realloc(t->buf, t->cap);
    if (t->buf == NULL)
      abort();
  }
  t->len += (size_t) n;
  t->buf[t->len++] = '\n';
  t->buf[t->len] = '\0';
}

static const char *ename(long rc) {
  static char b[32];

  if (rc >= 0) {
    snprintf(b, sizeof(b), "%ld", rc);
    return b;
  }
  return lure_err_name((int) rc);
}

/* ---- the run -------------------------------------------------------------- */

enum { A_TIMERS, A_FILES, A_STREAM, A_UDP, A_ERRORS };

struct actor {
  int kind;
  int id;
  int done;
  rng_t rng;
  struct trace t;
  struct run *run;
};

struct run {
  lure_loop_t loop;
  uint64_t seed;
  const char *variant;
  char dir[256];
  int nactors;
  struct actor *actors[MAX_ACTORS];
};

static int verbose;

#define VIOLATION(a, ...)                                                      \
  do {                                                                         \
    trace_add(&(a)->t, "VIOLATION " __VA_ARGS__);                              \
  } while (0)

/* ---- timers --------------------------------------------------------------- */

struct dtimer {
  lure_timer_t h;
  struct tgroup *g;
  int idx;
  uint64_t timeout, repeat;
  int max_fires;   /* close at this firing */
  int again_rep;   /* one-shot: on the first firing set_repeat+again */
  int stop_target; /* on the first firing, stop and close this one (-1) */
  int close_active;/* close while still active (no stop first) */
  int fires, closes, stopped;
  int start_closing; /* lure_timer_start on it once it was closing */
};

struct tgroup {
  struct actor a;
  int n, closed;
  struct dtimer t[8];
  int order[8], norder;
};

static void timer_close_cb(lure_handle_t *h) {
  struct dtimer *t = h->data;

  t->closes++;
  if (++t->g->closed == t->g->n)
    t->g->a.done = 1;
}

static void timer_cb(lure_timer_t *h) {
  struct dtimer *t = h->data;
  struct tgroup *g = t->g;
  int rc;

  if (t->closes || lure_is_closing((lure_handle_t *) h))
    VIOLATION(&g->a, "timer %d fired after close", t->idx);
  if (t->stopped)
    VIOLATION(&g->a, "timer %d fired after it was stopped", t->idx);
  t->fires++;
  if (t->fires == 1) {
    g->order[g->norder++] = t->idx;
    if (t->stop_target >= 0) {
      struct dtimer *v = &g->t[t->stop_target];
      trace_add(&g->a.t, "timer %d stops %d: active=%d fired=%d", t->idx,
                v->idx, lure_is_active((lure_handle_t *) &v->h), v->fires);
      rc = lure_timer_stop(&v->h);
      v->stopped = 1;
      trace_add(&g->a.t, "  stop -> %s", ename(rc));
      lure_close((lure_handle_t *) &v->h, timer_close_cb);
    }
    if (t->again_rep) {
      lure_timer_set_repeat(h, (uint64_t) t->again_rep);
      rc = lure_timer_again(h);
      trace_add(&g->a.t, "timer %d again repeat %d -> %s", t->idx,
                t->again_rep, ename(rc));
    }
  }
  if (t->fires == t->max_fires) {
    if (!t->close_active) {
      rc = lure_timer_stop(h);
      if (rc != 0)
        trace_add(&g->a.t, "timer %d stop -> %s", t->idx, ename(rc));
      if (lure_is_active((lure_handle_t *) h))
        VIOLATION(&g->a, "timer %d active after stop", t->idx);
    }
    lure_close((lure_handle_t *) h, timer_close_cb);
    t->start_closing = lure_timer_start(h, timer_cb, 1, 0);
  }
}

static void timers_start(struct run *r, struct tgroup *g) {
  int i, rc;
  rng_t *q = &g->a.rng;

  g->n = 2 + (int) rn(q, 7);
  for (i = 0; i < g->n; i++) {
    struct dtimer *t = &g->t[i];
    t->g = g;
    t->idx = i;
    t->timeout = rn(q, 12);
    t->repeat = rn(q, 3) == 0 ? 1 + rn(q, 4) : 0;
    t->max_fires = t->repeat ? 1 + (int) rn(q, 4) : 1;
    t->again_rep = (!t->repeat && rn(q, 4) == 0) ? 1 + (int) rn(q, 3) : 0;
    if (t->again_rep)
      t->max_fires = 2 + (int) rn(q, 2);
    t->close_active = (int) rn(q, 2);
    t->stop_target = -1;
  }
  /* A timer may stop one that is due strictly later and that nothing else
   * touches: then the order is defined (R2). */
  for (i = 0; i < g->n; i++) {
    int j = (int) rn(q, (unsigned) g->n), k;
    if (rn(q, 3) != 0 || j == i || g->t[j].timeout <= g->t[i].timeout)
      continue;
    for (k = 0; k < g->n; k++)
      if (g->t[k].stop_target == j || g->t[j].stop_target >= 0 ||
          g->t[i].stop_target >= 0)
        break;
    if (k < g->n)
      continue;
    g->t[i].stop_target = j;
  }
  for (i = 0; i < g->n; i++) {
    struct dtimer *t = &g->t[i];
    rc = lure_timer_init(&r->loop, &t->h);
    t->h.data = t;
    if (rc != 0) {
      trace_add(&g->a.t, "timer_init -> %s", ename(rc));
      g->closed++;
      continue;
    }
    if (i == 0)
      trace_add(&g->a.t, "again before start -> %s",
                ename(lure_timer_again(&t->h)));
    rc = lure_timer_start(&t->h, timer_cb, t->timeout, t->repeat);
    trace_add(&g->a.t,
              "timer %d start %" PRIu64 " repeat %" PRIu64
              " fires %d again %d stop %d -> %s due_in %" PRIu64,
              i, t->timeout, t->repeat, t->max_fires, t->again_rep,
              t->stop_target, ename(rc), lure_timer_get_due_in(&t->h));
  }
  if (g->closed == g->n)
    g->a.done = 1;
}

static void timers_end(struct tgroup *g) {
  int i;
  struct trace *t = &g->a.t;
  char line[256];
  size_t n = 0;

  for (i = 0; i < g->n; i++)
    trace_add(t, "timer %d: fires %d closes %d start-while-closing %s", i,
              g->t[i].fires, g->t[i].closes, ename(g->t[i].start_closing));
  line[0] = '\0';
  for (i = 0; i < g->norder && n < sizeof(line) - 8; i++)
    n += (size_t) snprintf(line + n, sizeof(line) - n, " %d", g->order[i]);
  trace_add(t, "first firings:%s", line);
}

/* ---- files ---------------------------------------------------------------- */

enum {
  F_OPEN, F_CLOSE, F_WRITE, F_READ, F_FSTAT, F_STAT, F_RENAME, F_UNLINK,
  F_FTRUNC, F_FSYNC, F_MKDIR, F_RMDIR, F_NOPS
};

static const char *fop_name[] = {
  "open", "close", "write", "read", "fstat", "stat", "rename", "unlink",
  "ftruncate", "fsync", "mkdir", "rmdir"
};

static const int open_flags[] = {
  O_RDWR | O_CREAT, O_RDONLY, O_WRONLY | O_CREAT | O_TRUNC,
  O_RDWR | O_CREAT | O_EXCL, O_RDWR | O_CREAT | O_APPEND
};

struct fchain {
  struct actor a;
  lure_fs_t req;
  int step, nsteps;
  int op, slot, sync;
  lure_file fd[2];
  char name[2][300];
  char dname[300];
  lure_buf_t bufs[3];
  unsigned nbufs;
  unsigned char *data; /* 12000 bytes */
  size_t len;
  int inflight;
  int cancelled; /* lure_cancel was called on the request in flight */
};

static void files_next(struct fchain *c);

static void files_result(struct fchain *c) {
  lure_fs_t *req = &c->req;
  ssize_t res = req->result;
  struct trace *t = &c->a.t;

  if (c->cancelled) {
    /* R9: a cancelled request either was cancelled or had already run */
    c->cancelled = 0;
    trace_add(t, "  -> cancelled or done");
    lure_fs_req_cleanup(req);
    return;
  }
  switch (c->op) {
  case F_OPEN:
    if (res >= 0)
      c->fd[c->slot] = (lure_file) res;
    trace_add(t, "  -> %s", res >= 0 ? "fd" : ename(res));
    break;
  case F_CLOSE:
    c->fd[c->slot] = -1;
    trace_add(t, "  -> %s", ename(res));
    break;
  case F_READ:
    if (res > 0)
      trace_add(t, "  -> %zd sum %016" PRIx64, res,
                fnv(FNV0, c->data, (size_t) res));
    else
      trace_add(t, "  -> %s", ename(res));
    break;
  case F_FSTAT:
  case F_STAT:
    if (res == 0)
      trace_add(t, "  -> 0 size %" PRIu64 " type %o mode %o",
                (uint64_t) req->statbuf.st_size,
                (unsigned) (req->statbuf.st_mode & S_IFMT),
                (unsigned) (req->statbuf.st_mode & 0777));
    else
      trace_add(t, "  -> %s", ename(res));
    break;
  default:
    trace_add(t, "  -> %s", ename(res));
  }
  lure_fs_req_cleanup(req);
}

static void files_cb(lure_fs_t *req) {
  struct fchain *c = req->data;

  if (!c->inflight)
    VIOLATION(&c->a, "fs callback without a request in flight");
  c->inflight = 0;
  files_result(c);
  files_next(c);
}

static void files_end(struct fchain *c) {
  int s, rc;

  for (s = 0; s < 2; s++)
    if (c->fd[s] >= 0) {
      rc = lure_fs_close(&c->a.run->loop, &c->req, c->fd[s], NULL);
      trace_add(&c->a.t, "final close slot %d -> %s", s, ename(rc));
      lure_fs_req_cleanup(&c->req);
      c->fd[s] = -1;
    }
  c->a.done = 1;
}

/* Issue requests until one is asynchronous or the script ends. */
static void files_next(struct fchain *c) {
  lure_loop_t *loop = &c->a.run->loop;
  rng_t *q = &c->a.rng;
  struct trace *t = &c->a.t;
  lure_fs_cb cb;
  int rc, n, fl;
  int64_t off = 0;
  unsigned i;
  size_t part;

  for (;;) {
    if (c->step == c->nsteps) {
      files_end(c);
      return;
    }
    c->step++;
    /* Weighted: file I/O more often than the namespace calls. */
    c->op = (int) rn(q, F_NOPS + 6);
    if (c->op >= F_NOPS)
      c->op = c->op - F_NOPS < 3 ? F_WRITE : F_READ;
    c->slot = (int) rn(q, 2);
    /* An fd operation on a closed slot opens it instead (most of the
     * time: the rest is traced as a skip).  This depends on earlier
     * results, which are compared: the first difference is reported. */
    if (c->op != F_OPEN && c->op <= F_FSYNC && c->op != F_STAT &&
        c->op != F_RENAME && c->op != F_UNLINK && c->fd[c->slot] < 0 &&
        rn(q, 4) != 0)
      c->op = F_OPEN;
    n = (int) rn(q, 2);
    c->sync = rn(q, 5) == 0;
    cb = c->sync ? NULL : files_cb;
    c->req.data = c;
    rc = 0;
    switch (c->op) {
    case F_OPEN:
      fl = (int) rn(q, 5);
      if (c->fd[c->slot] >= 0) {
        trace_add(t, "%d open slot %d: busy, skip", c->step, c->slot);
        continue;
      }
      trace_add(t, "%d%s open %d flags %d", c->step, c->sync ? " sync" : "",
                n, fl);
      rc = lure_fs_open(loop, &c->req, c->name[n], open_flags[fl], 0644, cb);
      break;
    case F_CLOSE:
    case F_WRITE:
    case F_READ:
    case F_FSTAT:
    case F_FTRUNC:
    case F_FSYNC:
      /* the generator's draws do not depend on results: draw first */
      c->len = rn(q, 12000);
      off = rn(q, 3) == 0 ? -1 : (int64_t) rn(q, 20000);
      c->nbufs = 1 + rn(q, 3);
      if (c->op == F_WRITE)
        fill(rnd(q), 0, c->data, c->len);
      if (c->fd[c->slot] < 0) {
        trace_add(t, "%d %s slot %d: not open, skip", c->step,
                  fop_name[c->op], c->slot);
        continue;
      }
      trace_add(t, "%d%s %s slot %d len %zu off %" PRId64 " nbufs %u",
                c->step, c->sync ? " sync" : "", fop_name[c->op], c->slot,
                c->len, off, c->nbufs);
      part = c->len / c->nbufs;
      for (i = 0; i < c->nbufs; i++)
        c->bufs[i] = lure_buf_init((char *) c->data + i * part,
                                   (unsigned) (i + 1 == c->nbufs
                                                   ? c->len - i * part
                                                   : part));
      if (c->op == F_CLOSE)
        rc = lure_fs_close(loop, &c->req, c->fd[c->slot], cb);
      else if (c->op == F_WRITE)
        rc = lure_fs_write(loop, &c->req, c->fd[c->slot], c->bufs, c->nbufs,
                           off, cb);
      else if (c->op == F_READ) {
        memset(c->data, 0, 12000);
        rc = lure_fs_read(loop, &c->req, c->fd[c->slot], c->bufs, c->nbufs,
                          off, cb);
      } else if (c->op == F_FSTAT)
        rc = lure_fs_fstat(loop, &c->req, c->fd[c->slot], cb);
      else if (c->op == F_FTRUNC)
        rc = lure_fs_ftruncate(loop, &c->req, c->fd[c->slot],
                               (int64_t) c->len, cb);
      else
        rc = lure_fs_fsync(loop, &c->req, c->fd[c->slot], cb);
      break;
    case F_STAT:
      trace_add(t, "%d%s stat %d", c->step, c->sync ? " sync" : "", n);
      rc = lure_fs_stat(loop, &c->req, c->name[n], cb);
      break;
    case F_RENAME:
      trace_add(t, "%d%s rename %d %d", c->step, c->sync ? " sync" : "", n,
                !n);
      rc = lure_fs_rename(loop, &c->req, c->name[n], c->name[!n], cb);
      break;
    case F_UNLINK:
      trace_add(t, "%d%s unlink %d", c->step, c->sync ? " sync" : "", n);
      rc = lure_fs_unlink(loop, &c->req, c->name[n], cb);
      break;
    case F_MKDIR:
      trace_add(t, "%d%s mkdir", c->step, c->sync ? " sync" : "");
      rc = lure_fs_mkdir(loop, &c->req, c->dname, 0755, cb);
      break;
    case F_RMDIR:
      trace_add(t, "%d%s rmdir", c->step, c->sync ? " sync" : "");
      rc = lure_fs_rmdir(loop, &c->req, c->dname, cb);
      break;
    }
    if (c->sync) {
      if (rc != c->req.result)
        VIOLATION(&c->a, "sync %s returned %d, result %zd", fop_name[c->op],
                  rc, c->req.result);
      files_result(c);
      continue;
    }
    if (rc < 0) {
      trace_add(t, "  returned %s", ename(rc));
      if (c->op == F_CLOSE)
        c->fd[c->slot] = -1;
      lure_fs_req_cleanup(&c->req);
      continue;
    }
    c->inflight = 1;
    /* Requests without side effects are sometimes cancelled at once. */
    if (((c->op == F_READ && off >= 0) || c->op == F_FSTAT ||
         c->op == F_STAT) && rn(q, 6) == 0) {
      c->cancelled = 1;
      rc = lure_cancel((lure_req_t *) &c->req);
      if (rc != 0 && rc != LURE_EBUSY)
        VIOLATION(&c->a, "lure_cancel -> %s", ename(rc));
    }
    return;
  }
}

static void files_start(struct run *r, struct fchain *c) {
  c->nsteps = 8 + (int) rn(&c->a.rng, 33);
  c->fd[0] = c->fd[1] = -1;
  snprintf(c->name[0], sizeof(c->name[0]), "%s/f%d", r->dir, c->a.id);
  snprintf(c->name[1], sizeof(c->name[1]), "%s/g%d", r->dir, c->a.id);
  snprintf(c->dname, sizeof(c->dname), "%s/d%d", r->dir, c->a.id);
  c->data = malloc(12000);
  if (c->data == NULL)
    abort();
  files_next(c);
}

/* ---- streams -------------------------------------------------------------- */

enum { S_TCP, S_UNIX, S_PIPE };
static const char *skind_name[] = { "tcp", "unix", "pipe" };

enum { END_SHUT, END_CLOSE, END_RESET };

struct side {
  struct spair *p;
  int idx;
  struct trace t; /* this side's own events, in its own order (R1) */
  union {
    lure_tcp_t tcp;
    lure_pipe_t pipe;
  } h;
  lure_stream_t *s;
  int inited, closed_cb, closing;
  /* writing */
  int writer;
  int nbursts, burst, bsize[MAX_BURSTS];
  size_t wsz[MAX_BURSTS][MAX_WRITES];
  int trywrite[MAX_BURSTS];
  int zc[MAX_BURSTS];   /* this burst goes through lure_write_zc */
  int borrowed;         /* reads through lure_read_start_borrowed */
  int probes;           /* immediate-return probes after the shutdown */
  int shut_early;       /* shutdown right after the last burst is queued */
  int shut_issued;
  int in_wcb, shut_from_wcb;
  lure_write_t wreq[MAX_WRITES];
  unsigned char *wbuf[MAX_WRITES];
  int wpending, wissued;
  int statuses[MAX_BURSTS * MAX_WRITES], nstatus;
  uint64_t woff; /* bytes issued */
  int aborted;   /* a write failed: no more bursts */
  int wr_done;
  int end, end_burst; /* END_*, and after which burst for CLOSE/RESET */
  lure_shutdown_t sreq;
  int shut_status, shut_done, shut_cbs;
  /* reading */
  int reader;
  uint64_t rcount;
  int rd_done, rd_end; /* rd_end: 0 EOF, or the error */
  int corrupt;
  unsigned char rbuf[65536];
  uint64_t stop_at;
  lure_timer_t restart;
  int restart_inited;
  int nstops;
};

struct spair {
  struct actor a;
  int kind;
  lure_tcp_t server;
  int server_inited;
  lure_connect_t creq;
  int connected, accepted;
  struct side side[2];
  int handles, closed;
  int early; /* the side that closes early, or -1 */
};

static uint64_t stream_key(struct spair *p, int from) {
  return mix64(p->a.run->seed * 1000003ULL + (uint64_t) p->a.id * 2 +
               (uint64_t) from);
}

static void pair_close_cb(lure_handle_t *h) {
  struct spair *p = h->data;

  if (++p->closed == p->handles)
    p->a.done = 1;
}

static void restart_close_cb(lure_handle_t *h) {
  struct side *sd = h->data;

  if (++sd->p->closed == sd->p->handles)
    sd->p->a.done = 1;
}

static void side_close_cb(lure_handle_t *h) {
  struct side *sd = h->data;

  if (sd->closed_cb++)
    VIOLATION(&sd->p->a, "side %d: close callback twice", sd->idx);
  if (lure_is_readable(sd->s) || lure_is_writable(sd->s))
    trace_add(&sd->t, "side %d: readable %d writable %d after close",
              sd->idx, lure_is_readable(sd->s), lure_is_writable(sd->s));
  if (++sd->p->closed == sd->p->handles)
    sd->p->a.done = 1;
}

static void side_close(struct side *sd, int reset) {
  struct spair *p = sd->p;

  if (sd->closing)
    return;
  sd->closing = 1;
  if (sd->restart_inited)
    lure_close((lure_handle_t *) &sd->restart, restart_close_cb);
  if (reset && p->kind == S_TCP) {
    int rc = lure_tcp_close_reset(&sd->h.tcp, side_close_cb);
    if (rc != 0) {
      trace_add(&sd->t, "side %d close_reset -> %s", sd->idx, ename(rc));
      lure_close((lure_handle_t *) sd->s, side_close_cb);
    }
  } else {
    lure_close((lure_handle_t *) sd->s, side_close_cb);
  }
}

static void side_maybe_close(struct side *sd) {
  if (sd->closing)
    return;
  if ((!sd->writer || (sd->wr_done && sd->shut_done)) &&
      (!sd->reader || sd->rd_done))
    side_close(sd, 0);
}

static void side_issue_burst(struct side *sd);

static void shutdown_cb(lure_shutdown_t *req, int status) {
  struct side *sd = req->data;

  if (sd->closed_cb)
    VIOLATION(&sd->p->a, "side %d: shutdown callback after close", sd->idx);
  sd->shut_cbs++;
  sd->shut_status = status;
  if (sd->wpending != 0 && status == 0 && !sd->shut_from_wcb)
    VIOLATION(&sd->p->a, "side %d: shutdown callback with %d writes pending",
              sd->idx, sd->wpending);
  sd->shut_done = 1;
  side_maybe_close(sd);
}

static void side_writes_done(struct side *sd) {
  int rc;

  if (sd->closing)
    return;
  if (!sd->aborted && sd->burst < sd->nbursts) {
    side_issue_burst(sd);
    return;
  }
  sd->wr_done = 1;
  if (sd->shut_issued) {
    /* shut down with the last burst (shut_early) */
  } else if (sd->aborted) {
    sd->shut_done = 1;
    sd->shut_status = 1; /* none */
  } else {
    sd->shut_issued = 1;
    sd->sreq.data = sd;
    rc = lure_shutdown(&sd->sreq, sd->s, shutdown_cb);
    if (rc != 0) {
      sd->shut_status = rc;
      sd->shut_done = 1;
      sd->shut_cbs = -1;
    } else if (sd->probes && sd->p->early < 0) {
      /* Immediate return codes after a shutdown (R7); these calls must
       * not queue anything, so a 0 here is traced and its callback would
       * be a violation (the request is not counted). */
      lure_shutdown_t s2;
      lure_write_t w2;
      lure_buf_t b2 = lure_buf_init((char *) sd->rbuf, 1);
      s2.data = w2.data = NULL;
      trace_add(&sd->t, "side %d probes: shutdown %s write %s "
                "try_write %s writable %d", sd->idx,
                ename(lure_shutdown(&s2, sd->s, NULL)),
                ename(lure_write(&w2, sd->s, &b2, 1, NULL)),
                ename(lure_try_write(sd->s, &b2, 1)),
                lure_is_writable(sd->s));
    }
  }
  side_maybe_close(sd);
}

static void write_cb(lure_write_t *req, int status) {
  struct side *sd = req->data;

  if (sd->closed_cb)
    VIOLATION(&sd->p->a, "side %d: write callback after close", sd->idx);
  if (sd->nstatus < (int) (sizeof(sd->statuses) / sizeof(sd->statuses[0])))
    sd->statuses[sd->nstatus++] = status;
  if (status < 0 && status != LURE_ECANCELED)
    sd->aborted = 1;
  sd->in_wcb++;
  if (--sd->wpending == 0)
    side_writes_done(sd);
  sd->in_wcb--;
}

static void side_issue_burst(struct side *sd) {
  struct spair *p = sd->p;
  int b = sd->burst++, i, rc, k = 0;
  uint64_t key = stream_key(p, sd->idx);

  for (i = 0; i < sd->bsize[b]; i++) {
    size_t len = sd->wsz[b][i], done = 0;
    unsigned char *buf = sd->wbuf[k];
    lure_buf_t lb;

    fill(key, sd->woff, buf, len);
    sd->woff += len;
    lb = lure_buf_init((char *) buf, (unsigned) len);
    if (i == 0 && sd->trywrite[b]) {
      rc = lure_try_write(sd->s, &lb, 1);
      if (rc >= 0)
        done = (size_t) rc;
      else if (rc != LURE_EAGAIN && p->early < 0)
        trace_add(&sd->t, "side %d try_write -> %s", sd->idx, ename(rc));
      if (done == len)
        continue;
      lb = lure_buf_init((char *) buf + done, (unsigned) (len - done));
    }
    sd->wreq[k].data = sd;
    sd->wpending++;
    if (sd->zc[b])
      rc = lure_write_zc(&sd->wreq[k], sd->s, &lb, 1, write_cb);
    else
      rc = lure_write(&sd->wreq[k], sd->s, &lb, 1, write_cb);
    if (rc != 0) {
      sd->wpending--;
      if (p->early < 0)
        trace_add(&sd->t, "side %d write -> %s", sd->idx, ename(rc));
      sd->aborted = 1;
    }
    k++;
  }
  if (sd->end != END_SHUT && sd->end_burst == b) {
    side_close(sd, sd->end == END_RESET);
    return;
  }
  if (sd->shut_early && sd->end == END_SHUT && sd->burst == sd->nbursts &&
      !sd->aborted && sd->wpending > 0) {
    /* libuv's rule: the shutdown waits for the writes queued before it
     * (R8 for the order of the callbacks) */
    sd->shut_issued = 1;
    sd->shut_from_wcb = sd->in_wcb;
    sd->sreq.data = sd;
    rc = lure_shutdown(&sd->sreq, sd->s, shutdown_cb);
    if (rc != 0) {
      sd->shut_status = rc;
      sd->shut_done = 1;
      sd->shut_cbs = -1;
    }
  }
  if (sd->wpending == 0)
    side_writes_done(sd);
}

static void restart_cb(lure_timer_t *t);
static void read_cb(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf);
static void alloc_cb(lure_handle_t *h, size_t suggested, lure_buf_t *buf);

static int side_read_start(struct side *sd) {
  if (sd->borrowed)
    return lure_read_start_borrowed(sd->s, read_cb);
  return lure_read_start(sd->s, alloc_cb, read_cb);
}

static void alloc_cb(lure_handle_t *h, size_t suggested, lure_buf_t *buf) {
  struct side *sd = h->data;

  *buf = lure_buf_init((char *) sd->rbuf, sizeof(sd->rbuf));
}

static void read_cb(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct side *sd = s->data;
  struct spair *p = sd->p;
  unsigned char exp[4096];
  ssize_t i;

  if (sd->closed_cb)
    VIOLATION(&p->a, "side %d: read callback after close", sd->idx);
  if (sd->rd_done && nread != 0) {
    VIOLATION(&p->a, "side %d: read %zd after the end", sd->idx, nread);
    if (sd->borrowed && nread > 0)
      lure_buf_release(&p->a.run->loop, buf);
    return;
  }
  if (nread == 0) {
    if (sd->borrowed)
      VIOLATION(&p->a, "side %d: a borrowed read of 0 bytes", sd->idx);
    return;
  }
  if (nread < 0) {
    if (sd->borrowed && buf != NULL && buf->base != NULL)
      VIOLATION(&p->a, "side %d: borrowed read error with a buffer", sd->idx);
    sd->rd_done = 1;
    sd->rd_end = (int) nread;
    side_maybe_close(sd);
    return;
  }
  for (i = 0; i < nread && !sd->corrupt; i += 4096) {
    size_t n = (size_t) (nread - i) < sizeof(exp) ? (size_t) (nread - i)
                                                  : sizeof(exp);
    fill(stream_key(p, !sd->idx), sd->rcount + (uint64_t) i, exp, n);
    if (memcmp(exp, buf->base + i, n) != 0) {
      sd->corrupt = 1;
      VIOLATION(&p->a, "side %d: bytes at %" PRIu64 "+ differ from sent",
                sd->idx, sd->rcount + (uint64_t) i);
    }
  }
  sd->rcount += (uint64_t) nread;
  if (sd->borrowed) {
    int rc = lure_buf_release(&p->a.run->loop, buf);
    if (rc != 0)
      VIOLATION(&p->a, "side %d: lure_buf_release -> %s", sd->idx, ename(rc));
  }
  if (sd->stop_at && sd->rcount >= sd->stop_at && !sd->closing) {
    sd->stop_at = sd->stop_at * 2 + 1;
    sd->nstops++;
    lure_read_stop(s);
    if (sd->restart_inited)
      lure_timer_start(&sd->restart, restart_cb, 1, 0);
  }
}

static void restart_cb(lure_timer_t *t) {
  struct side *sd = t->data;
  int rc;

  if (sd->closing || sd->rd_done)
    return;
  rc = side_read_start(sd);
  if (rc != 0)
    trace_add(&sd->t, "side %d read_start again -> %s", sd->idx,
              ename(rc));
}

static void pair_go(struct spair *p) {
  int i, rc;

  for (i = 0; i < 2; i++) {
    struct side *sd = &p->side[i];
    sd->s->data = sd;
    if (sd->reader) {
      rc = side_read_start(sd);
      if (rc != 0) {
        trace_add(&p->a.t, "side %d read_start -> %s", i, ename(rc));
        sd->rd_done = 1;
      }
    }
  }
  for (i = 0; i < 2; i++) {
    struct side *sd = &p->side[i];
    if (sd->closing)
      continue;
    if (sd->writer)
      side_issue_burst(sd);
    else
      side_maybe_close(sd);
  }
}

static void connect_cb(lure_connect_t *req, int status) {
  struct spair *p = req->data;

  trace_add(&p->side[0].t, "connect -> %s", ename(status));
  p->connected = status == 0 ? 1 : -1;
  if (status != 0) {
    side_close(&p->side[0], 0);
    return;
  }
  if (p->accepted)
    pair_go(p);
}

static void connection_cb(lure_stream_t *server, int status) {
  struct spair *p = server->data;
  struct side *sd = &p->side[1];
  int rc;

  trace_add(&sd->t, "connection -> %s", ename(status));
  if (status != 0 || p->accepted)
    return;
  rc = lure_tcp_init(&p->a.run->loop, &sd->h.tcp);
  sd->s = (lure_stream_t *) &sd->h.tcp;
  sd->s->data = sd;
  if (rc == 0) {
    sd->inited = 1;
    p->handles++;
    rc = lure_accept(server, sd->s);
  }
  trace_add(&sd->t, "accept -> %s", ename(rc));
  lure_close((lure_handle_t *) &p->server, pair_close_cb);
  if (rc != 0)
    return;
  p->accepted = 1;
  if (p->connected == 1)
    pair_go(p);
}

static void side_script(struct spair *p, struct side *sd) {
  rng_t *q = &p->a.rng;
  int b, i;

  sd->nbursts = 1 + (int) rn(q, MAX_BURSTS);
  for (b = 0; b < sd->nbursts; b++) {
    sd->bsize[b] = 1 + (int) rn(q, 4);
    sd->trywrite[b] = rn(q, 4) == 0;
    sd->zc[b] = rn(q, 5) == 0;
    for (i = 0; i < sd->bsize[b]; i++)
      sd->wsz[b][i] = rn(q, 4) == 0 ? 1 + rn(q, 64) : 1 + rn(q, 40000);
  }
  sd->end = END_SHUT;
  sd->end_burst = (int) rn(q, (unsigned) sd->nbursts);
  sd->stop_at = rn(q, 2) ? 1 + rn(q, 50000) : 0;
  sd->borrowed = rn(q, 4) == 0;
  sd->probes = rn(q, 2) == 0;
  sd->shut_early = rn(q, 3) == 0;
}

static void stream_start(struct run *r, struct spair *p) {
  rng_t *q = &p->a.rng;
  int i, rc, e;
  lure_os_sock_t socks[2];
  lure_file fds[2];
  struct sockaddr_storage ss;
  int len = sizeof(ss);

  p->kind = (int) rn(q, 3);
  p->early = -1;
  for (i = 0; i < 2; i++) {
    struct side *sd = &p->side[i];
    sd->p = p;
    sd->idx = i;
    side_script(p, sd);
    sd->writer = p->kind != S_PIPE || i == 1;
    sd->reader = p->kind != S_PIPE || i == 0;
    sd->shut_done = 0;
    for (e = 0; e < MAX_WRITES; e++) {
      sd->wbuf[e] = malloc(40000);
      if (sd->wbuf[e] == NULL)
        abort();
    }
  }
  e = (int) rn(q, 4);
  if (e >= 2) {
    p->early = (int) rn(q, 2);
    if (p->kind == S_PIPE)
      p->early = 1;
    p->side[p->early].end = e == 3 && p->kind == S_TCP ? END_RESET : END_CLOSE;
  }
  trace_add(&p->a.t, "stream %s early %d end %d", skind_name[p->kind],
            p->early, p->early >= 0 ? p->side[p->early].end : 0);
  for (i = 0; i < 2; i++) {
    struct side *sd = &p->side[i];
    int b, k;
    uint64_t tot = 0;
    for (b = 0; b < sd->nbursts; b++)
      for (k = 0; k < sd->bsize[b]; k++)
        tot += sd->wsz[b][k];
    if (sd->writer) {
      int nzc = 0;
      for (b = 0; b < sd->nbursts; b++)
        nzc += sd->zc[b];
      trace_add(&p->a.t,
                "side %d script: %d bursts (%d zero-copy), %" PRIu64
                " bytes, borrowed reads %d",
                i, sd->nbursts, nzc, tot, sd->borrowed);
    }
    if (sd->reader && lure_timer_init(&r->loop, &sd->restart) == 0) {
      sd->restart.data = sd;
      sd->restart_inited = 1;
      p->handles++;
    }
  }

  if (p->kind == S_TCP) {
    struct sockaddr_in a;
    lure_ip4_addr("127.0.0.1", 0, &a);
    rc = lure_tcp_init(&r->loop, &p->server);
    p->server.data = p;
    if (rc == 0) {
      p->handles++;
      rc = lure_tcp_bind(&p->server, (struct sockaddr *) &a, 0);
    }
    if (rc == 0)
      rc = lure_listen((lure_stream_t *) &p->server, 8, connection_cb);
    if (rc == 0)
      rc = lure_tcp_getsockname(&p->server, (struct sockaddr *) &ss, &len);
    if (rc == 0) {
      rc = lure_tcp_init(&r->loop, &p->side[0].h.tcp);
      p->side[0].s = (lure_stream_t *) &p->side[0].h.tcp;
      p->side[0].s->data = &p->side[0];
      if (rc == 0) {
        p->side[0].inited = 1;
        p->handles++;
        p->creq.data = p;
        rc = lure_tcp_connect(&p->creq, &p->side[0].h.tcp,
                              (struct sockaddr *) &ss, connect_cb);
      }
    }
    if (rc != 0) {
      trace_add(&p->a.t, "tcp setup -> %s", ename(rc));
      abort();
    }
    return;
  }
  if (p->kind == S_UNIX)
    rc = lure_socketpair(SOCK_STREAM, 0, socks, 0, 0);
  else
    rc = lure_pipe(fds, 0, 0);
  if (rc != 0) {
    trace_add(&p->a.t, "%s -> %s", skind_name[p->kind], ename(rc));
    abort();
  }
  for (i = 0; i < 2; i++) {
    struct side *sd = &p->side[i];
    rc = lure_pipe_init(&r->loop, &sd->h.pipe, 0);
    sd->s = (lure_stream_t *) &sd->h.pipe;
    if (rc == 0) {
      sd->inited = 1;
      p->handles++;
      rc = lure_pipe_open(&sd->h.pipe,
                          p->kind == S_UNIX ? (int) socks[i] : fds[i]);
    }
    if (rc != 0)
      trace_add(&p->a.t, "side %d pipe_open -> %s", i, ename(rc));
  }
  pair_go(p);
}

/* The statuses of a side's writes: all 0, or 0s then errors of R4's set. */
static const char *statuses_class(struct side *sd, int exact) {
  int i, err = 0;

  for (i = 0; i < sd->nstatus; i++) {
    int s = sd->statuses[i];
    if (s == 0) {
      if (err)
        return "VIOLATION 0 after an error";
      continue;
    }
    if (exact)
      return "error";
    if (s != LURE_ECANCELED && s != LURE_EPIPE && s != LURE_ECONNRESET)
      return "unexpected error";
    err = 1;
  }
  return "ok";
}

static void stream_end(struct spair *p) {
  int i;

  for (i = 0; i < 2; i++) {
    struct side *sd = &p->side[i];
    struct side *peer = &p->side[!i];
    /* Is everything about this side defined?  Yes unless a side closed
     * early (R4). */
    int exact = p->early < 0;
    if (sd->writer) {
      const char *cls = statuses_class(sd, exact);
      if (exact)
        trace_add(&p->a.t, "side %d wrote %" PRIu64 ": %s", i, sd->woff,
                  cls);
      else
        trace_add(&p->a.t, "side %d writes: %s", i, cls);
      if (exact && sd->shut_status != 1)
        trace_add(&p->a.t, "side %d shutdown -> %s (%d cb)", i,
                  ename(sd->shut_status), sd->shut_cbs);
      if (!exact && sd->shut_cbs > 1)
        VIOLATION(&p->a, "side %d: %d shutdown callbacks", i, sd->shut_cbs);
    }
    if (sd->reader) {
      if (exact)
        trace_add(&p->a.t, "side %d read %" PRIu64 " end %s", i, sd->rcount,
                  sd->rd_done ? ename(sd->rd_end ? sd->rd_end : LURE_EOF)
                              : "none");
      else if (p->early == i)
        trace_add(&p->a.t, "side %d read: closed early", i);
      else
        trace_add(&p->a.t, "side %d read: prefix%s, end %s", i,
                  sd->rcount <= peer->woff ? "" : " VIOLATION longer",
                  !sd->rd_done ? "VIOLATION none"
                  : (sd->rd_end == LURE_EOF || sd->rd_end == LURE_ECONNRESET)
                      ? "closed"
                      : ename(sd->rd_end));
    }
    if (sd->inited && sd->closed_cb != 1)
      VIOLATION(&p->a, "side %d: %d close callbacks", i, sd->closed_cb);
  }
  for (i = 0; i < 2; i++)
    if (p->side[i].t.buf != NULL) {
      trace_add(&p->a.t, "%.*s", (int) p->side[i].t.len - 1, p->side[i].t.buf);
      free(p->side[i].t.buf);
      p->side[i].t.buf = NULL;
    }
}

/* ---- UDP ------------------------------------------------------------------ */

struct udpa {
  struct actor a;
  lure_udp_t snd, rcv;
  int handles, closed;
  struct sockaddr_in saddr, raddr;
  int n, sent_cbs, early_at, stop_at, big;
  size_t sz[MAX_DGRAMS];
  lure_udp_send_t sreq[MAX_DGRAMS];
  unsigned char *sbuf[MAX_DGRAMS];
  int status[MAX_DGRAMS];
  int got[MAX_DGRAMS], ngot; /* ids received, in order */
  uint64_t gotsum[MAX_DGRAMS];
  size_t gotlen[MAX_DGRAMS];
  unsigned char rbuf[65536];
  lure_timer_t quiet;
  int snd_closing, rcv_closing;
  int expect;
};

static void udp_close_cb(lure_handle_t *h) {
  struct udpa *u = h->data;

  if (++u->closed == u->handles)
    u->a.done = 1;
}

static void udp_finish(struct udpa *u) {
  if (!u->snd_closing) {
    u->snd_closing = 1;
    lure_close((lure_handle_t *) &u->snd, udp_close_cb);
  }
  if (!u->rcv_closing) {
    u->rcv_closing = 1;
    lure_close((lure_handle_t *) &u->rcv, udp_close_cb);
    lure_close((lure_handle_t *) &u->quiet, udp_close_cb);
  }
}

static void udp_quiet_cb(lure_timer_t *t) {
  udp_finish(t->data);
}

/* Every send has called back: how many datagrams should arrive? */
static void udp_check_done(struct udpa *u) {
  int i;

  if (u->sent_cbs < u->n)
    return;
  u->expect = 0;
  for (i = 0; i < u->n; i++)
    u->expect += u->status[i] == 0;
  if (u->ngot >= u->expect) {
    udp_finish(u);
    return;
  }
  /* Datagrams still on their way through loopback; after this much quiet
   * the receiver stops waiting (a loss is then a difference in the trace,
   * and a sign of trouble: loopback does not drop these). */
  lure_timer_start(&u->quiet, udp_quiet_cb, 2000, 0);
}


static void udp_send_cb(lure_udp_send_t *req, int status) {
  struct udpa *u = req->data;
  int id = (int) (req - u->sreq);

  if (u->status[id] != 1)
    VIOLATION(&u->a, "udp send %d: second callback", id);
  if (id != u->sent_cbs)
    VIOLATION(&u->a, "udp send %d called back before %d", id, u->sent_cbs);
  u->status[id] = status;
  u->sent_cbs++;
  udp_check_done(u);
}

static void udp_alloc(lure_handle_t *h, size_t suggested, lure_buf_t *buf) {
  struct udpa *u = h->data;

  *buf = lure_buf_init((char *) u->rbuf, sizeof(u->rbuf));
}

static void udp_restart_cb(lure_timer_t *t);

static void udp_recv_cb(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  struct udpa *u = h->data;
  int id;

  if (u->rcv_closing && u->closed)
    VIOLATION(&u->a, "udp receive after close");
  if (nread == 0 && addr == NULL)
    return; /* R5 */
  if (nread < 0) {
    trace_add(&u->a.t, "udp recv error %s", ename(nread));
    return;
  }
  if (addr == NULL ||
      ((const struct sockaddr_in *) addr)->sin_port != u->saddr.sin_port)
    VIOLATION(&u->a, "udp datagram not from the sender");
  if (u->ngot == MAX_DGRAMS) {
    VIOLATION(&u->a, "udp: more datagrams than sent");
    return;
  }
  /* Identify the datagram: the first 4 bytes are its id when it has them
   * (every datagram of a script with an early close does). */
  if (nread >= 4)
    memcpy(&id, buf->base, 4);
  else
    id = -1;
  u->got[u->ngot] = id;
  u->gotlen[u->ngot] = (size_t) nread;
  u->gotsum[u->ngot] = fnv(FNV0, buf->base, (size_t) nread) ^ flags;
  u->ngot++;
  if (u->stop_at == u->ngot) {
    lure_udp_recv_stop(h);
    lure_timer_start(&u->quiet, udp_restart_cb, 1, 0);
  } else if (u->sent_cbs == u->n && u->ngot >= u->expect) {
    udp_finish(u);
  }
}

static void udp_restart_cb(lure_timer_t *t) {
  struct udpa *u = t->data;
  int rc;

  lure_timer_stop(t);
  rc = lure_udp_recv_start(&u->rcv, udp_alloc, udp_recv_cb);
  if (rc != 0)
    trace_add(&u->a.t, "udp recv_start again -> %s", ename(rc));
  if (u->sent_cbs == u->n)
    udp_check_done(u);
}

static void udp_start(struct run *r, struct udpa *u) {
  rng_t *q = &u->a.rng;
  int i, rc, len;
  lure_buf_t b;
  struct sockaddr_in a;

  u->n = 1 + (int) rn(q, MAX_DGRAMS);
  u->early_at = rn(q, 4) == 0 ? (int) rn(q, (unsigned) u->n) : -1;
  u->stop_at = rn(q, 3) == 0 ? 1 + (int) rn(q, (unsigned) u->n) : 0;
  u->big = rn(q, 4) == 0 ? (int) rn(q, (unsigned) u->n) : -1;
  for (i = 0; i < u->n; i++) {
    u->sz[i] = rn(q, 5) == 0 ? rn(q, 8) : rn(q, 2000);
    if (u->early_at >= 0 && u->sz[i] < 4)
      u->sz[i] = 4;
    if (i == u->big)
      u->sz[i] = 65508; /* over UDP's limit: EMSGSIZE */
    u->sbuf[i] = malloc(u->sz[i] + 4);
    if (u->sbuf[i] == NULL)
      abort();
    fill(rnd(q), 0, u->sbuf[i], u->sz[i]);
    if (u->sz[i] >= 4)
      memcpy(u->sbuf[i], &i, 4);
    u->status[i] = 1;
  }
  trace_add(&u->a.t, "udp %d datagrams, early close at %d, recv_stop at %d, "
            "big %d", u->n, u->early_at, u->stop_at, u->big);
  lure_ip4_addr("127.0.0.1", 0, &a);
  if (lure_udp_init(&r->loop, &u->snd) != 0 ||
      lure_udp_init(&r->loop, &u->rcv) != 0 ||
      lure_timer_init(&r->loop, &u->quiet) != 0)
    abort();
  u->handles = 3;
  u->snd.data = u->rcv.data = u->quiet.data = u;
  rc = lure_udp_bind(&u->snd, (struct sockaddr *) &a, 0);
  if (rc == 0)
    rc = lure_udp_bind(&u->rcv, (struct sockaddr *) &a, 0);
  len = sizeof(u->saddr);
  if (rc == 0)
    rc = lure_udp_getsockname(&u->snd, (struct sockaddr *) &u->saddr, &len);
  len = sizeof(u->raddr);
  if (rc == 0)
    rc = lure_udp_getsockname(&u->rcv, (struct sockaddr *) &u->raddr, &len);
  if (rc == 0)
    rc = lure_udp_recv_start(&u->rcv, udp_alloc, udp_recv_cb);
  if (rc != 0) {
    trace_add(&u->a.t, "udp setup -> %s", ename(rc));
    abort();
  }
  /* Immediate errors (R7). */
  b = lure_buf_init((char *) u->sbuf[0], (unsigned) u->sz[0]);
  trace_add(&u->a.t, "send without address -> %s",
            ename(lure_udp_send(&u->sreq[0], &u->snd, &b, 1, NULL,
                                udp_send_cb)));
  for (i = 0; i < u->n; i++) {
    b = lure_buf_init((char *) u->sbuf[i], (unsigned) u->sz[i]);
    u->sreq[i].data = u;
    rc = lure_udp_send(&u->sreq[i], &u->snd, &b, 1,
                       (struct sockaddr *) &u->raddr, udp_send_cb);
    if (rc != 0) {
      trace_add(&u->a.t, "udp send %d -> %s", i, ename(rc));
      u->status[i] = rc;
      u->sent_cbs++;
    }
    if (i == u->early_at) {
      u->snd_closing = 1;
      lure_close((lure_handle_t *) &u->snd, udp_close_cb);
      break;
    }
  }
  if (u->early_at >= 0)
    u->n = u->early_at + 1;
  udp_check_done(u);
}

static void udp_end(struct udpa *u) {
  int i, j;

  if (u->early_at < 0) {
    for (i = 0; i < u->n; i++)
      trace_add(&u->a.t, "send %d (%zu) -> %s", i, u->sz[i],
                ename(u->status[i]));
    for (i = 0; i < u->ngot; i++)
      trace_add(&u->a.t, "recv %zu %016" PRIx64, u->gotlen[i], u->gotsum[i]);
    return;
  }
  /* R5: statuses 0 then ECANCELED; the receiver's ids are an ordered
   * subset of the sends that reported 0 (up to a datagram that was on its
   * way when the close came: a 0 status is "handed to the kernel"). */
  for (i = 0; i < u->n; i++) {
    if (u->status[i] == 0 && i > 0 && u->status[i - 1] == LURE_ECANCELED)
      VIOLATION(&u->a, "udp send %d: 0 after ECANCELED", i);
    if (u->status[i] != 0 && u->status[i] != LURE_ECANCELED &&
        u->sz[i] < 65508)
      trace_add(&u->a.t, "send %d -> %s", i, ename(u->status[i]));
  }
  for (i = 0, j = 0; i < u->ngot; i++) {
    while (j < u->n && j != u->got[i])
      j++;
    if (j == u->n || u->status[j] != 0) {
      VIOLATION(&u->a, "udp: datagram %d received out of order or not sent",
                u->got[i]);
      break;
    }
    if (u->gotlen[i] != u->sz[j])
      VIOLATION(&u->a, "udp: datagram %d has %zu bytes, sent %zu", j,
                u->gotlen[i], u->sz[j]);
    j++;
  }
  trace_add(&u->a.t, "udp early close: checked");
}

/* ---- error paths ------------------------------------------------------------ */

/* A chain of calls that fail, each made from the previous one's callback
 * (so their order is the script's): connects refused or to no socket,
 * stream calls on handles that are not connected, fs calls on the wrong
 * kind of file.  Every return code and callback status is traced (R7). */
enum {
  E_REFUSED, E_PIPE_NOENT, E_UNCONNECTED, E_FS_EISDIR, E_FS_ENOTDIR,
  E_FS_DIRFD, E_FS_NOENT_DIR, E_UDP_PORT0, E_CONNECT_CLOSE, E_NKINDS
};

struct errs {
  struct actor a;
  int step, nsteps;
  int kind;
  lure_tcp_t tcp;
  lure_pipe_t pipe;
  lure_udp_t udp;
  lure_connect_t creq;
  lure_udp_send_t ureq;
  lure_fs_t req;
  lure_file dfd;
  char dir[300], file[300];
  char buf[64];
  int handles, closed;
};

static void errs_next(struct errs *e);

static void errs_alloc(lure_handle_t *h, size_t suggested, lure_buf_t *buf) {
  struct errs *e = h->data;

  VIOLATION(&e->a, "alloc callback on an unconnected stream");
  *buf = lure_buf_init(e->buf, sizeof(e->buf));
}

static void errs_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct errs *e = s->data;

  VIOLATION(&e->a, "read callback on an unconnected stream: %zd", nread);
}

static void errs_close_cb(lure_handle_t *h) {
  struct errs *e = h->data;

  e->closed++;
  errs_next(e);
}

static void errs_connect_cb(lure_connect_t *req, int status) {
  struct errs *e = req->data;

  trace_add(&e->a.t, "  connect cb -> %s", ename(status));
  if (e->kind == E_CONNECT_CLOSE)
    return; /* closed already; its close callback goes on */
  lure_close((lure_handle_t *) (e->kind == E_REFUSED ? (void *) &e->tcp
                                                     : (void *) &e->pipe),
             errs_close_cb);
}

static void errs_udp_cb(lure_udp_send_t *req, int status) {
  struct errs *e = req->data;

  trace_add(&e->a.t, "  send cb -> %s", ename(status));
  lure_close((lure_handle_t *) &e->udp, errs_close_cb);
}

static void errs_fs_cb(lure_fs_t *req) {
  struct errs *e = req->data;
  ssize_t r = req->result;

  trace_add(&e->a.t, "  fs %d cb -> %s", (int) req->fs_type,
            r >= 0 && e->kind == E_FS_DIRFD && e->dfd < 0 ? "fd" : ename(r));
  if (e->kind == E_FS_DIRFD && e->dfd < 0 && r >= 0) {
    lure_buf_t b = lure_buf_init(e->buf, sizeof(e->buf));
    e->dfd = (lure_file) r;
    lure_fs_req_cleanup(req);
    /* read(2) on a directory: EISDIR everywhere */
    e->req.data = e;
    if (lure_fs_read(&e->a.run->loop, &e->req, e->dfd, &b, 1, -1,
                     errs_fs_cb) != 0)
      errs_next(e);
    return;
  }
  lure_fs_req_cleanup(req);
  if (e->kind == E_FS_DIRFD && e->dfd >= 0) {
    lure_fs_close(&e->a.run->loop, &e->req, e->dfd, NULL);
    lure_fs_req_cleanup(&e->req);
    e->dfd = -1;
  }
  errs_next(e);
}

static void errs_next(struct errs *e) {
  lure_loop_t *loop = &e->a.run->loop;
  struct trace *t = &e->a.t;
  struct sockaddr_in a;
  lure_buf_t b = lure_buf_init(e->buf, 8);
  int rc;

  for (;;) {
    if (e->step == e->nsteps) {
      e->a.done = 1;
      return;
    }
    e->step++;
    e->kind = (int) rn(&e->a.rng, E_NKINDS);
    e->req.data = e;
    switch (e->kind) {
    case E_CONNECT_CLOSE:
    case E_REFUSED: {
      /* a port that was just bound and closed: nobody listens there */
      struct sockaddr_storage ss;
      socklen_t len = sizeof(ss);
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      lure_ip4_addr("127.0.0.1", 0, &a);
      if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) != 0 ||
          getsockname(fd, (struct sockaddr *) &ss, &len) != 0)
        abort();
      close(fd);
      lure_tcp_init(loop, &e->tcp);
      e->tcp.data = e;
      e->creq.data = e;
      trace_add(t, "%d connect to a closed port%s", e->step,
                e->kind == E_CONNECT_CLOSE ? ", close at once" : "");
      rc = lure_tcp_connect(&e->creq, &e->tcp, (struct sockaddr *) &ss,
                            errs_connect_cb);
      if (rc == 0 && e->kind == E_CONNECT_CLOSE) {
        /* no tick in between: the connect cannot have completed as far
         * as the caller can tell, so it is ECANCELED on every executor */
        lure_close((lure_handle_t *) &e->tcp, errs_close_cb);
        return;
      }
      if (rc == 0)
        return;
      trace_add(t, "  -> %s", ename(rc));
      lure_close((lure_handle_t *) &e->tcp, errs_close_cb);
      return;
    }
    case E_PIPE_NOENT:
      lure_pipe_init(loop, &e->pipe, 0);
      e->pipe.data = e;
      e->creq.data = e;
      trace_add(t, "%d pipe_connect to a path that is no socket", e->step);
      lure_pipe_connect(&e->creq, &e->pipe, e->file, errs_connect_cb);
      return;
    case E_UNCONNECTED:
      lure_tcp_init(loop, &e->tcp);
      e->tcp.data = e;
      {
        lure_write_t w;
        lure_shutdown_t sh;
        trace_add(t, "%d unconnected tcp: read_start %s write %s "
                  "try_write %s shutdown %s readable %d writable %d",
                  e->step,
                  ename(lure_read_start((lure_stream_t *) &e->tcp, errs_alloc,
                                        errs_read)),
                  ename(lure_write(&w, (lure_stream_t *) &e->tcp, &b, 1,
                                   NULL)),
                  ename(lure_try_write((lure_stream_t *) &e->tcp, &b, 1)),
                  ename(lure_shutdown(&sh, (lure_stream_t *) &e->tcp, NULL)),
                  lure_is_readable((lure_stream_t *) &e->tcp),
                  lure_is_writable((lure_stream_t *) &e->tcp));
      }
      lure_close((lure_handle_t *) &e->tcp, errs_close_cb);
      return;
    case E_FS_EISDIR:
      trace_add(t, "%d open a directory for writing", e->step);
      rc = lure_fs_open(loop, &e->req, e->dir, O_WRONLY, 0, errs_fs_cb);
      break;
    case E_FS_ENOTDIR:
      trace_add(t, "%d rmdir a file", e->step);
      rc = lure_fs_rmdir(loop, &e->req, e->file, errs_fs_cb);
      break;
    case E_FS_DIRFD:
      trace_add(t, "%d open a directory, read it", e->step);
      e->dfd = -1;
      rc = lure_fs_open(loop, &e->req, e->dir, O_RDONLY, 0, errs_fs_cb);
      break;
    case E_FS_NOENT_DIR: {
      char path[400];
      snprintf(path, sizeof(path), "%s/none/x", e->dir);
      trace_add(t, "%d stat and unlink under a missing directory", e->step);
      rc = lure_fs_unlink(loop, &e->req, path, NULL);
      trace_add(t, "  sync unlink -> %s", ename(rc));
      lure_fs_req_cleanup(&e->req);
      rc = lure_fs_stat(loop, &e->req, path, errs_fs_cb);
      break;
    }
    case E_UDP_PORT0:
      lure_udp_init(loop, &e->udp);
      e->udp.data = e;
      e->ureq.data = e;
      lure_ip4_addr("127.0.0.1", 0, &a);
      rc = lure_udp_send(&e->ureq, &e->udp, &b, 1, (struct sockaddr *) &a,
                         errs_udp_cb);
      trace_add(t, "%d udp send to port 0 -> %s", e->step, ename(rc));
      if (rc == 0)
        return;
      lure_close((lure_handle_t *) &e->udp, errs_close_cb);
      return;
    default:
      rc = 0;
    }
    if (rc == 0)
      return;
    trace_add(t, "  -> %s", ename(rc));
    lure_fs_req_cleanup(&e->req);
  }
}

static void errs_start(struct run *r, struct errs *e) {
  int fd;

  e->nsteps = 2 + (int) rn(&e->a.rng, 6);
  e->dfd = -1;
  snprintf(e->dir, sizeof(e->dir), "%s/d%d", r->dir, e->a.id);
  snprintf(e->file, sizeof(e->file), "%s/f%d", r->dir, e->a.id);
  if (mkdir(e->dir, 0755) != 0 ||
      (fd = open(e->file, O_CREAT | O_WRONLY, 0644)) < 0)
    abort();
  close(fd);
  /* e->file is a regular file: pipe_connect to it is ECONNREFUSED in
   * libuv's terms (a path that is no socket) */
  errs_next(e);
}

/* ---- driver --------------------------------------------------------------- */

static volatile sig_atomic_t alarm_seed_hi, alarm_seed_lo;
static const char *volatile alarm_variant;

static void on_alarm(int sig) {
  char msg[200];
  int n;
  uint64_t s = ((uint64_t) alarm_seed_hi << 32) | (uint64_t) alarm_seed_lo;

  n = snprintf(msg, sizeof(msg),
               "lure-diff: seed %" PRIu64 " variant %s: HANG (timeout); "
               "rerun: lure-diff --start %" PRIu64 " --count 1 --verbose\n",
               s, alarm_variant ? alarm_variant : "?", s);
  if (write(2, msg, (size_t) n) < 0)
    _exit(3);
  _exit(1);
}

static const char *masked_ops = "recv,send,read,write,readv,writev";
static const char *old_ops = "recv_multishot,accept_multishot,pbuf_ring";

/* Hidden in the library, set only by tests (uring-eagain). */
extern unsigned lure__uring_fault_send_dontwait;
extern unsigned lure__uring_fault_udp_dontwait;

static int setup_loop(lure_loop_t *loop, const char *variant) {
  int rc;

  memset(loop, 0, sizeof(*loop));
  rc = lure_loop_init(loop);
  if (rc != 0)
    return rc;
  if (strcmp(variant, "default") == 0)
    return 0;
  if (strcmp(variant, "epoll") == 0)
    rc = lure_loop_configure(loop, LURE_LOOP_BACKEND, "epoll");
  else
    rc = lure_loop_configure(loop, LURE_LOOP_BACKEND, "uring");
  if (rc == 0 && strcmp(variant, "uring-masked") == 0)
    rc = lure_loop_configure(loop, LURE_LOOP_URING_DISABLE, masked_ops);
  if (rc == 0 && strcmp(variant, "uring-old") == 0)
    rc = lure_loop_configure(loop, LURE_LOOP_URING_DISABLE, old_ops);
  if (rc == 0 && strcmp(variant, "uring-single") == 0)
    rc = lure_loop_configure(loop, LURE_LOOP_SINGLE_THREAD, 1);
  if (rc == 0 && strcmp(variant, "uring-eagain") == 0) {
    lure__uring_fault_send_dontwait = UINT_MAX;
    lure__uring_fault_udp_dontwait = UINT_MAX;
  }
  if (rc == 0 && strcmp(variant, "epoll") != 0 &&
      strcmp(lure_loop_backend(loop), "io_uring") != 0)
    rc = LURE_ENOSYS;
  if (rc != 0)
    lure_loop_close(loop);
  return rc;
}

static void rm_scratch(const char *dir) {
  char p[400];
  int i;
  const char *pre[] = { "f", "g", "d" };

  for (i = 0; i < MAX_ACTORS * 3; i++) {
    snprintf(p, sizeof(p), "%s/%s%d", dir, pre[i % 3], i / 3);
    if (unlink(p) != 0)
      rmdir(p);
  }
  rmdir(dir);
}

static void free_actor(struct actor *a) {
  int i, k;

  if (a->kind == A_FILES)
    free(((struct fchain *) a)->data);
  if (a->kind == A_STREAM)
    for (i = 0; i < 2; i++)
      for (k = 0; k < MAX_WRITES; k++)
        free(((struct spair *) a)->side[i].wbuf[k]);
  if (a->kind == A_UDP) {
    struct udpa *u = (struct udpa *) a;
    for (i = 0; i < MAX_DGRAMS; i++)
      free(u->sbuf[i]);
  }
  free(a->t.buf);
  free(a);
}

/* Run seed on variant; return the trace (malloc'd), NULL if the variant
 * cannot run here. */
static char *run_seed(uint64_t seed, const char *variant, int timeout,
                      int *nops) {
  struct run r;
  rng_t g = { seed };
  int i, rc;
  struct trace all = { 0 };
  const char *tmp = getenv("TMPDIR");
  static const size_t sizes[] = { sizeof(struct tgroup), sizeof(struct fchain),
                                  sizeof(struct spair), sizeof(struct udpa),
                                  sizeof(struct errs) };

  memset(&r, 0, sizeof(r));
  rc = setup_loop(&r.loop, variant);
  if (rc != 0)
    return NULL;
  r.seed = seed;
  r.variant = variant;
  snprintf(r.dir, sizeof(r.dir), "%s/lure-diff.%d.%s",
           tmp && *tmp ? tmp : "/tmp", (int) getpid(), variant);
  rm_scratch(r.dir);
  if (mkdir(r.dir, 0700) != 0) {
    perror(r.dir);
    exit(2);
  }
  alarm_seed_hi = (sig_atomic_t) (seed >> 32);
  alarm_seed_lo = (sig_atomic_t) (seed & 0xffffffffu);
  alarm_variant = variant;
  alarm((unsigned) timeout);

  /* The actors: 1 timer group, 1-3 file chains, 1-3 stream pairs, 0-2 UDP
   * pairs, in an order drawn from the seed. */
  r.nactors = 0;
  {
    int nf = 1 + (int) rn(&g, 3), ns = 1 + (int) rn(&g, 3);
    int nu = (int) rn(&g, 3), kinds[MAX_ACTORS], n = 0, j;
    kinds[n++] = A_TIMERS;
    for (j = 0; j < nf; j++)
      kinds[n++] = A_FILES;
    for (j = 0; j < ns; j++)
      kinds[n++] = A_STREAM;
    for (j = 0; j < nu; j++)
      kinds[n++] = A_UDP;
    if (rn(&g, 2))
      kinds[n++] = A_ERRORS;
    for (j = n - 1; j > 0; j--) {
      int k = (int) rn(&g, (unsigned) j + 1), x = kinds[j];
      kinds[j] = kinds[k];
      kinds[k] = x;
    }
    for (j = 0; j < n; j++) {
      struct actor *a = calloc(1, sizes[kinds[j]]);
      if (a == NULL)
        abort();
      a->kind = kinds[j];
      a->id = j;
      a->rng.s = mix64(seed * 31 + (uint64_t) j);
      a->run = &r;
      r.actors[r.nactors++] = a;
    }
  }
  for (i = 0; i < r.nactors; i++) {
    struct actor *a = r.actors[i];
    switch (a->kind) {
    case A_TIMERS: timers_start(&r, (struct tgroup *) a); break;
    case A_FILES: files_start(&r, (struct fchain *) a); break;
    case A_STREAM: stream_start(&r, (struct spair *) a); break;
    case A_UDP: udp_start(&r, (struct udpa *) a); break;
    case A_ERRORS: errs_start(&r, (struct errs *) a); break;
    }
  }
  rc = lure_run(&r.loop, LURE_RUN_DEFAULT);
  alarm(0);
  lure__uring_fault_send_dontwait = 0;
  lure__uring_fault_udp_dontwait = 0;
  for (i = 0; i < r.nactors; i++) {
    struct actor *a = r.actors[i];
    static const char *kn[] = { "timers", "files", "stream", "udp",
                                "errors" };
    /* Operations: the calls each script made that start something (a
     * timer start, an fs request, a write, a shutdown, a send, a connect,
     * a close), as a measure of a seed's size. */
    switch (a->kind) {
    case A_TIMERS:
      timers_end((struct tgroup *) a);
      *nops += 2 * ((struct tgroup *) a)->n;
      break;
    case A_FILES: *nops += ((struct fchain *) a)->nsteps; break;
    case A_STREAM: {
      struct spair *p = (struct spair *) a;
      stream_end(p);
      *nops += p->side[0].nstatus + p->side[1].nstatus + 6;
      break;
    }
    case A_UDP:
      udp_end((struct udpa *) a);
      *nops += ((struct udpa *) a)->n + 3;
      break;
    case A_ERRORS: *nops += ((struct errs *) a)->nsteps; break;
    }
    if (!a->done)
      VIOLATION(a, "actor did not finish (lure_run returned %s)", ename(rc));
    trace_add(&all, "== actor %d %s", i, kn[a->kind]);
    if (a->t.buf != NULL)
      trace_add(&all, "%.*s", (int) a->t.len - 1, a->t.buf);
  }
  rc = lure_loop_close(&r.loop);
  if (rc != 0)
    trace_add(&all, "VIOLATION lure_loop_close -> %s", ename(rc));
  for (i = 0; i < r.nactors; i++)
    free_actor(r.actors[i]);
  rm_scratch(r.dir);
  return all.buf != NULL ? all.buf : strdup("");
}

static void show_diff(const char *a, const char *b) {
  /* Print the first differing line with a little context. */
  const char *pa = a, *pb = b;
  int line = 1;

  while (*pa && *pb) {
    const char *ea = strchr(pa, '\n'), *eb = strchr(pb, '\n');
    size_t la = ea ? (size_t) (ea - pa) : strlen(pa);
    size_t lb = eb ? (size_t) (eb - pb) : strlen(pb);
    if (la != lb || memcmp(pa, pb, la) != 0)
      break;
    pa += la + (ea != NULL);
    pb += lb + (eb != NULL);
    line++;
  }
  fprintf(stderr, "  first difference at line %d:\n    - %.*s\n    + %.*s\n",
          line, (int) strcspn(pa, "\n"), pa, (int) strcspn(pb, "\n"), pb);
}

int main(int argc, char **argv) {
  uint64_t start = 1, count = 20, s;
  const char *variants =
      "uring,uring-masked,uring-old,uring-eagain,uring-single,epoll";
  char *vlist[8], *vs, *tok;
  int nv = 0, i, digest = 0, timeout = 60, failed = 0, nops = 0;
  int ran[8] = { 0 };

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--start") == 0 && i + 1 < argc)
      start = strtoull(argv[++i], NULL, 0);
    else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
      count = strtoull(argv[++i], NULL, 0);
    else if (strcmp(argv[i], "--variants") == 0 && i + 1 < argc)
      variants = argv[++i];
    else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
      timeout = atoi(argv[++i]);
    else if (strcmp(argv[i], "--digest") == 0)
      digest = 1;
    else if (strcmp(argv[i], "--verbose") == 0)
      verbose = 1;
    else {
      fprintf(stderr,
              "usage: lure-diff [--start SEED] [--count N] "
              "[--variants V,...] [--digest] [--verbose] [--timeout S]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  vs = strdup(variants);
  for (tok = strtok(vs, ","); tok != NULL && nv < 8; tok = strtok(NULL, ","))
    vlist[nv++] = tok;

  for (s = start; s < start + count; s++) {
    char *ref = NULL;
    int refv = -1, bad = 0;
    for (i = 0; i < nv; i++) {
      int ops = 0;
      char *t = run_seed(s, vlist[i], timeout, &ops);
      if (t == NULL)
        continue;
      ran[i]++;
      nops += ops;
      if (verbose)
        printf("---- seed %" PRIu64 " %s ----\n%s", s, vlist[i], t);
      if (strstr(t, "VIOLATION") != NULL) {
        fprintf(stderr, "lure-diff: seed %" PRIu64 " %s: invariant broken:\n",
                s, vlist[i]);
        fputs(t, stderr);
        bad = 1;
      }
      if (ref == NULL) {
        ref = t;
        refv = i;
        continue;
      }
      if (strcmp(ref, t) != 0) {
        fprintf(stderr, "lure-diff: seed %" PRIu64 ": %s differs from %s\n", s,
                vlist[i], vlist[refv]);
        show_diff(ref, t);
        if (!verbose)
          fprintf(stderr, "---- %s ----\n%s---- %s ----\n%s", vlist[refv], ref,
                  vlist[i], t);
        bad = 1;
      }
      free(t);
    }
    if (ref == NULL) {
      fprintf(stderr, "lure-diff: no variant can run here\n");
      return 77;
    }
    if (digest)
      printf("%" PRIu64 " %016" PRIx64 "\n", s, fnv(FNV0, ref, strlen(ref)));
    free(ref);
    if (bad) {
      failed++;
      fprintf(stderr, "lure-diff: seed %" PRIu64 " FAILED; rerun: lure-diff "
              "--start %" PRIu64 " --count 1 --variants %s --verbose\n",
              s, s, variants);
    }
  }
  fprintf(stderr, "lure-diff: seeds %" PRIu64 "..%" PRIu64 ", %d operations "
          "per seed on average; runs:", start, start + count - 1,
          (int) (nops / (int) (count ? count : 1) /
                 (nv ? nv : 1)));
  for (i = 0; i < nv; i++)
    fprintf(stderr, " %s %d", vlist[i], ran[i]);
  fprintf(stderr, "; %d seed(s) failed\n", failed);
  free(vs);
  return failed ? 1 : 0;
}
