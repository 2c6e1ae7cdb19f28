/*
 * lure-info - tell what lure does on this machine.
 *
 * lure picks its executors at run time: the io_uring ring when the kernel
 * (and the container's seccomp policy, and kernel.io_uring_disabled) lets
 * it set one up, epoll otherwise, and per operation the ring, Linux AIO or
 * the thread pool depending on which opcodes the ring has.  None of that is
 * visible from a version number, so this program asks the same questions a
 * loop asks and prints the answers:
 *
 *   - the kernel release;
 *   - whether io_uring_setup succeeds, and the error when it does not;
 *   - the setup flags and features the ring got, and its sizes;
 *   - for each opcode lure uses, whether the kernel's probe reports it;
 *   - the wait point a loop gets (it creates and closes a real loop, so
 *     LURE_BACKEND and LURE_URING_DISABLE apply exactly as in a program);
 *   - whether Linux AIO takes a context (O_DIRECT files without a ring);
 *   - the thread pool size;
 *   - for each lure operation, the executor that serves it here.
 *
 * A refused ring is information, not a failure: the exit status is 0 then.
 * The only failure is a loop that cannot be created at all.
 *
 * This tool links the library's convenience archive, so it may call the
 * internal lure__ functions declared in src/backend.h and src/internal.h.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <linux/aio_abi.h>

#include "lure.h"
#include "internal.h"

/* ---- names of kernel ABI bits ------------------------------------------ */

/*
 * The values are the kernel's (include/uapi/linux/io_uring.h).  They are
 * spelled out here rather than taken from the installed header because the
 * running kernel is often newer than the headers lure was built against;
 * a bit missing from the table prints as "bit N".
 */
struct bit_name {
  unsigned bit;
  const char *name;
};

static const struct bit_name setup_flag_names[] = {
  {0, "IOPOLL"},          {1, "SQPOLL"},
  {2, "SQ_AFF"},          {3, "CQSIZE"},
  {4, "CLAMP"},           {5, "ATTACH_WQ"},
  {6, "R_DISABLED"},      {7, "SUBMIT_ALL"},
  {8, "COOP_TASKRUN"},    {9, "TASKRUN_FLAG"},
  {10, "SQE128"},         {11, "CQE32"},
  {12, "SINGLE_ISSUER"},  {13, "DEFER_TASKRUN"},
  {14, "NO_MMAP"},        {15, "REGISTERED_FD_ONLY"},
  {16, "NO_SQARRAY"},     {17, "HYBRID_IOPOLL"},
  {18, "CQE_MIXED"},
};

static const struct bit_name feature_names[] = {
  {0, "SINGLE_MMAP"},     {1, "NODROP"},
  {2, "SUBMIT_STABLE"},   {3, "RW_CUR_POS"},
  {4, "CUR_PERSONALITY"}, {5, "FAST_POLL"},
  {6, "POLL_32BITS"},     {7, "SQPOLL_NONFIXED"},
  {8, "EXT_ARG"},         {9, "NATIVE_WORKERS"},
  {10, "RSRC_TAGS"},      {11, "CQE_SKIP"},
  {12, "LINKED_FILE"},    {13, "REG_REG_RING"},
  {14, "RECVSEND_BUNDLE"}, {15, "MIN_TIMEOUT"},
  {16, "RW_ATTR"},        {17, "NO_IOWAIT"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The name of one bit, or "bit N" in buf for a bit the table lacks. */
static const char *bit_label(const struct bit_name *tab, size_t n,
                             unsigned bit, char *buf, size_t buflen) {
  size_t i;

  for (i = 0; i < n; i++)
    if (tab[i].bit == bit)
      return tab[i].name;
  snprintf(buf, buflen, "bit %u", bit);
  return buf;
}

/* ---- the opcodes lure uses ---------------------------------------------- */

/*
 * Names as lure__uring_op_by_name() knows them (lower case, IORING_OP_
 * dropped).  The list is the tool's own on purpose: it says what lure means
 * to use, so a name this build of the library does not know shows up as
 * such instead of silently vanishing.
 */
static const char *const used_opcodes[] = {
  "poll_add", "poll_remove", "async_cancel", "read", "write", "readv",
  "writev", "fsync", "openat", "close", "statx", "unlinkat", "renameat",
  "mkdirat", "symlinkat", "linkat", "ftruncate", "accept", "recv", "send",
  "sendmsg", "recvmsg", "send_zc", "sendmsg_zc", "provide_buffers",
  /* Kernel features the probe cannot report: lure infers them from the
   * kernel's version (LURE__FEAT_* in src/backend.h). */
  "recv_multishot", "accept_multishot", "pbuf_ring", "pbuf_inc",
};

/* ---- what the machine said ---------------------------------------------- */

struct machine {
  struct utsname uts;
  int uts_ok;

  /* The kernel's answer on a throwaway ring (lure__uring_probe). */
  struct lure__uring_info probe;

  /* The loop a program would get. */
  int loop_rc;                 /* lure_loop_init's result */
  const char *backend;         /* lure_loop_backend, or NULL */
  struct lure__uring_info ring; /* the loop's own ring, when it has one */
  int has_ring;                /* the loop's wait point is the ring */
  int fs_adapt;                /* its router moves buffered writes */

  /* LURE_URING_DISABLE as the loop applies it: the names it knows are
   * masked, the others ignored (and listed here). */
  unsigned char mask[32];
  char mask_unknown[128];

  int aio_error;                /* 0 when io_setup works, else -errno */
  unsigned pool_size;
  int sysctl_disabled;         /* kernel.io_uring_disabled, -1 if absent */
  int pidfd_error;             /* 0 when pidfd_open(2) works, else -errno */
  int pidfd_disabled;          /* LURE_PIDFD_DISABLE asks for SIGCHLD */
};

static int bit_is_set(const unsigned char map[32], int op) {
  return op >= 0 && op < 256 && (map[op >> 3] & (1u << (op & 7))) != 0;
}

/* What the tool reports for one opcode. */
enum op_state {
  OP_UNKNOWN,   /* this build of lure has no such name */
  OP_NO_RING,   /* io_uring_setup was refused: nothing to probe */
  OP_MISSING,   /* the kernel's probe lacks it */
  OP_MASKED,    /* the kernel has it; LURE_URING_DISABLE masks it */
  OP_YES
};

static enum op_state opcode_state(const struct machine *m, const char *name,
                                  int *opcode) {
  int op = lure__uring_op_by_name(name, strlen(name));

  *opcode = op;
  if (op < 0)
    return OP_UNKNOWN;
  if (!m->probe.usable)
    return OP_NO_RING;
  if (bit_is_set(m->mask, op))
    return OP_MASKED;
  return bit_is_set(m->probe.ops, op) ? OP_YES : OP_MISSING;
}

static const char *op_state_text(enum op_state s) {
  switch (s) {
    case OP_UNKNOWN: return "unknown to this build";
    case OP_NO_RING: return "no ring";
    case OP_MISSING: return "no";
    case OP_MASKED: return "masked (LURE_URING_DISABLE)";
    case OP_YES: return "yes";
  }
  return "?";
}

/*
 * Whether the loop's own ring will take opcode `name`: the loop must have
 * the ring as its wait point, the opcode must be probed and not masked.
 * `why` receives a short reason either way.
 */
static int ring_serves(const struct machine *m, const char *name,
                       char *why, size_t whylen) {
  int op;
  enum op_state s = opcode_state(m, name, &op);

  if (!m->has_ring) {
    snprintf(why, whylen, "%s",
             m->probe.usable ? "the loop's wait point is epoll" : "no ring");
    return 0;
  }
  switch (s) {
    case OP_YES:
      /* The loop's own ring is authoritative where it answered. */
      if (!bit_is_set(m->ring.ops, op)) {
        snprintf(why, whylen, "%s not in the loop's ring", name);
        return 0;
      }
      snprintf(why, whylen, "%s probed", name);
      return 1;
    case OP_MASKED:
      snprintf(why, whylen, "%s masked", name);
      return 0;
    case OP_MISSING:
      snprintf(why, whylen, "%s not in this kernel", name);
      return 0;
    case OP_UNKNOWN:
      snprintf(why, whylen, "%s unknown to this build", name);
      return 0;
    case OP_NO_RING:
      break;
  }
  snprintf(why, whylen, "no ring");
  return 0;
}

/*
 * Read LURE_URING_DISABLE the way lure_loop_init() does: names separated by
 * commas or spaces, each known name masked, unknown names skipped.  The
 * skipped ones are kept for the report, since a loop cannot tell anyone.
 */
static void parse_mask(const char *list, struct machine *m) {
  const char *s = list;
  const char *e;
  size_t used = 0;
  int op;

  while (*s != '\0') {
    while (*s == ',' || *s == ' ')
      s++;
    if (*s == '\0')
      break;
    for (e = s; *e != '\0' && *e != ',' && *e != ' '; e++)
      ;
    op = lure__uring_op_by_name(s, (size_t) (e - s));
    if (op >= 0 && op < 256) {
      m->mask[op >> 3] |= (unsigned char) (1u << (op & 7));
    } else if (used + (size_t) (e - s) + 2 < sizeof(m->mask_unknown)) {
      if (used > 0)
        m->mask_unknown[used++] = ',';
      memcpy(m->mask_unknown + used, s, (size_t) (e - s));
      used += (size_t) (e - s);
      m->mask_unknown[used] = '\0';
    }
    s = e;
  }
}

/* Whether pidfd_open(2) works here (a kernel before 5.3 or a seccomp
 * policy may refuse it): 0, else -errno.  lure_spawn() then watches
 * SIGCHLD instead. */
static int pidfd_check(void) {
#ifdef SYS_pidfd_open
  long fd = syscall(SYS_pidfd_open, (long) getpid(), 0L);

  if (fd < 0)
    return -errno;
  close((int) fd);
  return 0;
#else
  return -ENOSYS;
#endif
}

/*
 * Whether Linux AIO takes a context here (it may be compiled out, blocked
 * by seccomp, or out of fs.aio-max-nr): 0 or a negative errno.  lure asks
 * the same question the first time a loop without a ring meets an O_DIRECT
 * request.
 */
static int aio_check(void) {
  aio_context_t ctx = 0;

  if (syscall(SYS_io_setup, 1, &ctx) != 0)
    return -errno;
  (void) syscall(SYS_io_destroy, ctx);
  return 0;
}

static void gather(struct machine *m) {
  lure_loop_t loop;
  const char *env;
  FILE *f;
  int rc;

  memset(m, 0, sizeof(*m));

  m->uts_ok = uname(&m->uts) == 0;

  /* A refused ring leaves usable = 0 and the errno in setup_error; a
   * probe that fails before it gets that far is reported the same way. */
  rc = lure__uring_probe(&m->probe);
  if (rc < 0 && !m->probe.usable && m->probe.setup_error == 0)
    m->probe.setup_error = rc;
  if (!m->probe.usable)
    memset(m->probe.ops, 0, sizeof(m->probe.ops));

  env = getenv("LURE_URING_DISABLE");
  if (env != NULL)
    parse_mask(env, m);

  m->sysctl_disabled = -1;
  f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
  if (f != NULL) {
    if (fscanf(f, "%d", &m->sysctl_disabled) != 1)
      m->sysctl_disabled = -1;
    fclose(f);
  }

  m->aio_error = aio_check();
  m->pool_size = lure__threadpool_size();
  m->pidfd_error = pidfd_check();
  {
    const char *v = getenv("LURE_PIDFD_DISABLE");

    /* The same reading as src/process.c: set, non-empty and not "0". */
    m->pidfd_disabled = v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
  }

  m->loop_rc = lure_loop_init(&loop);
  if (m->loop_rc == 0) {
    m->backend = lure_loop_backend(&loop);
    if (m->backend != NULL && strcmp(m->backend, "io_uring") == 0 &&
        lure__uring_info(&loop, &m->ring) == 0 && m->ring.usable)
      m->has_ring = 1;
    m->fs_adapt = lure__fs_adapt_active(&loop);
    lure_loop_close(&loop);
  }
}

/* ---- operations and their executors ------------------------------------- */

/* How an operation is routed; place() turns this into an executor. */
enum route {
  ROUTE_LOOP,      /* run by the loop itself in one of its phases */
  ROUTE_WAITPOINT, /* an fd (or eventfd) watched by the loop's wait point */
  ROUTE_POOL,      /* always the thread pool */
  ROUTE_FILE,      /* ring opcode, else thread pool (O_DIRECT: aio, no ring) */
  ROUTE_SOCKET,    /* ring opcode, else epoll readiness + plain syscall */
  ROUTE_DGRAM,     /* the same for UDP handles, with their own opcodes */
  ROUTE_PROCESS    /* a pidfd on the wait point, else SIGCHLD's pipe */
};

enum {
  ROW_PLANNED = 0x01, /* listed before the API exists */
  ROW_AIO = 0x02,     /* without a ring, O_DIRECT I/O goes to Linux AIO */
  ROW_ELSE_READINESS = 0x04, /* without its opcode: readiness, not a copy */
  ROW_ADAPT = 0x08    /* buffered: the adaptive router (src/executor.c) */
};

struct op_row {
  const char *name;    /* the operation, as the API names it */
  const char *api;     /* the lure call that starts it */
  enum route route;
  const char *opcode;  /* io_uring opcode, for ROUTE_FILE/SOCKET/DGRAM */
  const char *opcode_v; /* the vectored opcode used for several buffers */
  unsigned flags;
  const char *note;    /* why, for the fixed routes */
};

/*
 * One row per operation.  The file rows mirror the routing of src/fs.c
 * (the ring takes what its opcode table in backends/uring-fs.c maps and the
 * loop's ring has; without a ring backends/aio.c takes O_DIRECT reads,
 * writes and syncs at explicit offsets; the pool takes the rest).  Socket
 * rows are ROUTE_SOCKET (streams) or ROUTE_DGRAM (UDP) where the ring
 * serves them.
 */
static const struct op_row op_rows[] = {
  {"timer", "lure_timer_start", ROUTE_LOOP, NULL, NULL, 0,
   "timers phase, min-heap"},
  {"idle", "lure_idle_start", ROUTE_LOOP, NULL, NULL, 0, "idle phase"},
  {"prepare", "lure_prepare_start", ROUTE_LOOP, NULL, NULL, 0,
   "prepare phase"},
  {"check", "lure_check_start", ROUTE_LOOP, NULL, NULL, 0, "check phase"},
  {"poll", "lure_poll_start", ROUTE_WAITPOINT, NULL, NULL, 0, "fd readiness"},
  {"async", "lure_async_send", ROUTE_WAITPOINT, NULL, NULL, 0, "eventfd"},
  {"signal", "lure_signal_start", ROUTE_WAITPOINT, NULL, NULL, 0,
   "signal pipe"},
  {"work", "lure_queue_work", ROUTE_POOL, NULL, NULL, 0,
   "user work always runs there"},

  {"fs_open", "lure_fs_open", ROUTE_FILE, "openat", NULL, 0, NULL},
  {"fs_close", "lure_fs_close", ROUTE_FILE, "close", NULL, 0, NULL},
  {"fs_read", "lure_fs_read", ROUTE_FILE, "read", "readv", ROW_AIO, NULL},
  {"fs_write", "lure_fs_write", ROUTE_FILE, "write", "writev",
   ROW_AIO | ROW_ADAPT, NULL},
  {"fs_stat", "lure_fs_stat", ROUTE_FILE, "statx", NULL, 0, NULL},
  {"fs_fstat", "lure_fs_fstat", ROUTE_FILE, "statx", NULL, 0, NULL},
  {"fs_lstat", "lure_fs_lstat", ROUTE_FILE, "statx", NULL, 0, NULL},
  {"fs_fsync", "lure_fs_fsync", ROUTE_FILE, "fsync", NULL, ROW_AIO, NULL},
  {"fs_fdatasync", "lure_fs_fdatasync", ROUTE_FILE, "fsync", NULL, ROW_AIO,
   NULL},
  {"fs_ftruncate", "lure_fs_ftruncate", ROUTE_FILE, "ftruncate", NULL, 0,
   NULL},
  {"fs_rename", "lure_fs_rename", ROUTE_FILE, "renameat", NULL, 0, NULL},
  {"fs_unlink", "lure_fs_unlink", ROUTE_FILE, "unlinkat", NULL, 0, NULL},
  {"fs_rmdir", "lure_fs_rmdir", ROUTE_FILE, "unlinkat", NULL, 0, NULL},
  {"fs_mkdir", "lure_fs_mkdir", ROUTE_FILE, "mkdirat", NULL, 0, NULL},
  {"fs_symlink", "lure_fs_symlink", ROUTE_FILE, "symlinkat", NULL, 0, NULL},
  {"fs_link", "lure_fs_link", ROUTE_FILE, "linkat", NULL, 0, NULL},
  /* No io_uring opcode does these: always the pool. */
  {"tcp_accept", "lure_listen", ROUTE_SOCKET, "accept", NULL, 0, NULL},
  {"stream_read", "lure_read_start", ROUTE_SOCKET, "recv", NULL, 0, NULL},
  {"stream_write", "lure_write", ROUTE_SOCKET, "send", NULL, 0, NULL},
  {"stream_write_zc", "lure_write_zc", ROUTE_SOCKET, "send_zc", NULL, 0, NULL},
  {"stream_shutdown", "lure_shutdown", ROUTE_LOOP, NULL, NULL, 0,
   "shutdown(2) once the writes are out"},
  {"tcp_connect", "lure_tcp_connect", ROUTE_SOCKET, "connect", NULL,
   ROW_ELSE_READINESS, NULL},
  {"pipe_connect", "lure_pipe_connect", ROUTE_WAITPOINT, NULL, NULL, 0,
   "connect(2) + readiness"},
  {"udp_recv", "lure_udp_recv_start", ROUTE_WAITPOINT, NULL, NULL, 0,
   "recvmsg(2) + readiness"},
  {"udp_send", "lure_udp_send", ROUTE_DGRAM, "sendmsg", NULL, 0, NULL},
  {"getaddrinfo", "lure_getaddrinfo", ROUTE_POOL, NULL, NULL, 0,
   "blocking libc call"},
  {"process_exit", "lure_spawn", ROUTE_PROCESS, NULL, NULL, 0, NULL},
  {"fs_event", "lure_fs_event_start", ROUTE_WAITPOINT, NULL, NULL, 0,
   "inotify fd"},
  {"fs_poll", "lure_fs_poll_start", ROUTE_FILE, "statx", NULL, 0, NULL},
  {"tty_read", "lure_read_start", ROUTE_WAITPOINT, NULL, NULL, 0,
   "tty fd readiness, read(2)"},
  {"tty_write", "lure_write", ROUTE_WAITPOINT, NULL, NULL, 0,
   "tty fd readiness, writev(2)"},
  {"random", "lure_random", ROUTE_POOL, NULL, NULL, 0,
   "getrandom(2) may block"},
  {"fs_scandir", "lure_fs_scandir", ROUTE_POOL, NULL, NULL, 0,
   "no io_uring opcode"},
  {"fs_readdir", "lure_fs_readdir", ROUTE_POOL, NULL, NULL, 0,
   "no io_uring opcode"},
  {"fs_copyfile", "lure_fs_copyfile", ROUTE_POOL, NULL, NULL, 0,
   "no io_uring opcode"},
  {"fs_sendfile", "lure_fs_sendfile", ROUTE_POOL, NULL, NULL, 0,
   "no io_uring opcode"},
  {"fs_access", "lure_fs_access", ROUTE_POOL, NULL, NULL, 0,
   "no io_uring opcode"},
  {"fs_chmod", "lure_fs_chmod", ROUTE_POOL, NULL, NULL, 0,
   "no io_uring opcode"},
  {"fs_chown", "lure_fs_chown", ROUTE_POOL, NULL, NULL, 0,
   "no io_uring opcode"},
  {"fs_utime", "lure_fs_utime", ROUTE_POOL, NULL, NULL, 0,
   "no io_uring opcode"},
  {"fs_readlink", "lure_fs_readlink", ROUTE_POOL, NULL, NULL, 0,
   "no io_uring opcode"},
  {"fs_realpath", "lure_fs_realpath", ROUTE_POOL, NULL, NULL, 0,
   "no io_uring opcode"},
  {"fs_statfs", "lure_fs_statfs", ROUTE_POOL, NULL, NULL, 0,
   "no io_uring opcode"},
  {"fs_mkdtemp", "lure_fs_mkdtemp", ROUTE_POOL, NULL, NULL, 0,
   "no io_uring opcode"},
};

struct placement {
  const char *executor; /* "loop", "io_uring", "epoll", "threadpool" */
  const char *via;      /* how the executor serves it, or NULL */
  const char *odirect;  /* the executor for O_DIRECT I/O when it differs */
  char why[128];
};

static void place(const struct machine *m, const struct op_row *row,
                  struct placement *p) {
  memset(p, 0, sizeof(*p));
  switch (row->route) {
    case ROUTE_LOOP:
      p->executor = "loop";
      snprintf(p->why, sizeof(p->why), "%s", row->note);
      return;
    case ROUTE_POOL:
      p->executor = "threadpool";
      snprintf(p->why, sizeof(p->why), "%s", row->note);
      return;
    case ROUTE_WAITPOINT: {
      char why[64];

      if (ring_serves(m, "poll_add", why, sizeof(why))) {
        p->executor = "io_uring";
        p->via = "POLL_ADD";
      } else {
        p->executor = "epoll";
      }
      snprintf(p->why, sizeof(p->why), "%s on the wait point", row->note);
      return;
    }
    case ROUTE_FILE:
      if (ring_serves(m, row->opcode, p->why, sizeof(p->why))) {
        char why_v[64];
        size_t n = strlen(p->why);

        p->executor = "io_uring";
        /* Several buffers take the vectored opcode; say where they go
         * when that differs. */
        if (row->opcode_v != NULL &&
            !ring_serves(m, row->opcode_v, why_v, sizeof(why_v)))
          snprintf(p->why + n, sizeof(p->why) - n,
                   "; several buffers: threadpool (%s)", why_v);
        else if ((row->flags & ROW_ADAPT) && m->fs_adapt) {
          p->via = "adaptive";
          snprintf(p->why + n, sizeof(p->why) - n,
                   "; buffered: ring or threadpool, whichever is faster now");
        }
        return;
      }
      p->executor = "threadpool";
      if ((row->flags & ROW_AIO) && !m->has_ring && m->aio_error == 0)
        p->odirect = "aio";
      return;
    case ROUTE_PROCESS: {
      char why[64];
      const char *wp =
          ring_serves(m, "poll_add", why, sizeof(why)) ? "io_uring" : "epoll";

      p->executor = wp;
      if (m->pidfd_error == 0 && !m->pidfd_disabled) {
        p->via = "pidfd";
        snprintf(p->why, sizeof(p->why), "pidfd on the wait point");
      } else {
        p->via = "SIGCHLD";
        snprintf(p->why, sizeof(p->why), "signal pipe on the wait point (%s)",
                 m->pidfd_disabled ? "LURE_PIDFD_DISABLE"
                                   : lure_err_name(m->pidfd_error));
      }
      return;
    }
    case ROUTE_SOCKET:
    case ROUTE_DGRAM: {
      /* A stream (UDP handle: its sends) takes the ring only when every
       * opcode of its path is there (the socket table lure__sock_uring's usable hooks,
       * backends/uring-stream.c and uring-udp.c); otherwise it uses
       * readiness on the wait point. */
      static const char *const need_stream[] = { "recv", "send", "sendmsg",
                                                 "accept", "async_cancel",
                                                 NULL };
      static const char *const need_dgram[] = { "sendmsg", NULL };
      const char *const *need =
          row->route == ROUTE_DGRAM ? need_dgram : need_stream;
      char why[64];
      size_t i;

      for (i = 0; need[i] != NULL; i++) {
        if (!ring_serves(m, need[i], why, sizeof(why))) {
          p->executor = ring_serves(m, "poll_add", p->why, sizeof(p->why))
                            ? "io_uring" : "epoll";
          p->via = "readiness";
          snprintf(p->why, sizeof(p->why), "%s", why);
          return;
        }
      }
      if (ring_serves(m, row->opcode, p->why, sizeof(p->why))) {
        p->executor = "io_uring";
        return;
      }
      p->executor = "io_uring";
      p->via = (row->flags & ROW_ELSE_READINESS) ? "readiness"
                                                 : "copying fallback";
      return;
    }
  }
}

/* ---- text output -------------------------------------------------------- */

/* Print the names of the bits set in v, wrapped under column 16. */
static void print_bits(const struct bit_name *tab, size_t n, unsigned v) {
  unsigned bit;
  char buf[16];
  const char *name;
  int col = 16;
  int first = 1;

  for (bit = 0; bit < 32; bit++) {
    if (!(v & (1u << bit)))
      continue;
    name = bit_label(tab, n, bit, buf, sizeof(buf));
    if (!first && col + 1 + (int) strlen(name) > 78) {
      printf("\n%16s", "");
      col = 16;
    } else if (!first) {
      putchar(' ');
      col++;
    }
    col += printf("%s", name);
    first = 0;
  }
  printf("%s\n", first ? "(none)" : "");
}

static const char *env_or(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v != NULL ? v : dflt;
}

/* The ring facts worth printing: the loop's own ring when it has one (that
 * is what a program gets), else the probe's throwaway ring. */
static const struct lure__uring_info *shown_ring(const struct machine *m) {
  return m->has_ring ? &m->ring : &m->probe;
}

static void print_text(const struct machine *m) {
  const struct lure__uring_info *r = shown_ring(m);
  size_t i;

  printf("lure-info: what lure does on this machine\n\n");
  if (m->uts_ok)
    printf("kernel          %s %s %s\n", m->uts.sysname, m->uts.release,
           m->uts.machine);
  else
    printf("kernel          (uname failed)\n");
  printf("lure            %s\n", lure_version_string());

  if (m->probe.usable) {
    printf("io_uring        usable\n");
  } else {
    printf("io_uring        not usable: %s (%s)\n",
           lure_strerror(m->probe.setup_error),
           lure_err_name(m->probe.setup_error));
  }
  if (m->sysctl_disabled >= 0)
    printf("  sysctl        kernel.io_uring_disabled = %d\n",
           m->sysctl_disabled);
  if (m->probe.usable) {
    printf("  setup flags   ");
    print_bits(setup_flag_names, COUNT(setup_flag_names), r->setup_flags);
    printf("  features      ");
    print_bits(feature_names, COUNT(feature_names), r->features);
    printf("  entries       sq %u, cq %u\n", r->sq_entries, r->cq_entries);
  }

  if (m->loop_rc == 0)
    printf("wait point      %s\n", m->backend);
  else
    printf("wait point      none: lure_loop_init failed: %s (%s)\n",
           lure_strerror(m->loop_rc), lure_err_name(m->loop_rc));
  if (m->aio_error == 0)
    printf("linux aio       usable (O_DIRECT files when there is no ring)\n");
  else
    printf("linux aio       not usable: %s (%s)\n",
           lure_strerror(m->aio_error), lure_err_name(m->aio_error));
  printf("thread pool     %u threads\n", m->pool_size);

  printf("\nenvironment\n");
  printf("  LURE_BACKEND          %s\n", env_or("LURE_BACKEND", "(unset)"));
  printf("  LURE_URING_DISABLE    %s", env_or("LURE_URING_DISABLE", "(unset)"));
  if (m->mask_unknown[0] != '\0')
    printf("  (ignored, unknown: %s)", m->mask_unknown);
  printf("\n");
  printf("  LURE_RING_ENTRIES     %s\n",
         env_or("LURE_RING_ENTRIES", "(unset)"));
  printf("  LURE_FS_ADAPT         %s\n",
         env_or("LURE_FS_ADAPT", "(unset)"));
  printf("  LURE_THREADPOOL_SIZE  %s\n",
         env_or("LURE_THREADPOOL_SIZE", "(unset)"));
  printf("  LURE_PIDFD_DISABLE    %s\n",
         env_or("LURE_PIDFD_DISABLE", "(unset)"));

  printf("\nio_uring opcodes lure uses (probe), then features (kernel "
         "version)\n");
  if (!m->probe.usable)
    printf("  (none: no ring to probe)\n");
  for (i = 0; m->probe.usable && i < COUNT(used_opcodes); i++) {
    int op;
    enum op_state s = opcode_state(m, used_opcodes[i], &op);

    printf("  %-16s %s\n", used_opcodes[i], op_state_text(s));
  }

  printf("\noperations and the executor that serves them here\n");
  printf("  %-16s %-28s %s\n", "operation", "executor", "why");
  for (i = 0; i < COUNT(op_rows); i++) {
    const struct op_row *row = &op_rows[i];
    struct placement p;
    char exec[64];

    place(m, row, &p);
    if (p.via != NULL)
      snprintf(exec, sizeof(exec), "%s (%s)", p.executor, p.via);
    else if (p.odirect != NULL)
      snprintf(exec, sizeof(exec), "%s (O_DIRECT: %s)", p.executor,
               p.odirect);
    else
      snprintf(exec, sizeof(exec), "%s", p.executor);
    printf("  %-16s %-28s %s%s\n", row->name, exec, p.why,
           (row->flags & ROW_PLANNED) ? " [planned: not implemented yet]"
                                      : "");
  }
}

/* ---- JSON output -------------------------------------------------------- */

static void json_str(const char *s) {
  const unsigned char *p;

  if (s == NULL) {
    fputs("null", stdout);
    return;
  }
  putchar('"');
  for (p = (const unsigned char *) s; *p != '\0'; p++) {
    switch (*p) {
      case '"': fputs("\\\"", stdout); break;
      case '\\': fputs("\\\\", stdout); break;
      case '\n': fputs("\\n", stdout); break;
      case '\t': fputs("\\t", stdout); break;
      default:
        if (*p < 0x20)
          printf("\\u%04x", *p);
        else
          putchar(*p);
    }
  }
  putchar('"');
}

static void json_key(const char *indent, const char *key) {
  fputs(indent, stdout);
  json_str(key);
  fputs(": ", stdout);
}

static void json_bits(const struct bit_name *tab, size_t n, unsigned v) {
  unsigned bit;
  char buf[16];
  int first = 1;

  putchar('[');
  for (bit = 0; bit < 32; bit++) {
    if (!(v & (1u << bit)))
      continue;
    if (!first)
      fputs(", ", stdout);
    json_str(bit_label(tab, n, bit, buf, sizeof(buf)));
    first = 0;
  }
  putchar(']');
}

static void json_env(const char *name, int last) {
  json_key("    ", name);
  json_str(getenv(name));
  fputs(last ? "\n" : ",\n", stdout);
}

static void print_json(const struct machine *m) {
  const struct lure__uring_info *r = shown_ring(m);
  size_t i;

  printf("{\n");
  json_key("  ", "kernel");
  printf("{");
  json_key("", "sysname");
  json_str(m->uts_ok ? m->uts.sysname : NULL);
  json_key(", ", "release");
  json_str(m->uts_ok ? m->uts.release : NULL);
  json_key(", ", "machine");
  json_str(m->uts_ok ? m->uts.machine : NULL);
  printf("},\n");

  json_key("  ", "lure_version");
  json_str(lure_version_string());
  printf(",\n");

  json_key("  ", "io_uring");
  printf("{\n");
  json_key("    ", "usable");
  printf("%s,\n", m->probe.usable ? "true" : "false");
  json_key("    ", "error");
  json_str(m->probe.usable ? NULL : lure_err_name(m->probe.setup_error));
  printf(",\n");
  json_key("    ", "error_message");
  json_str(m->probe.usable ? NULL : lure_strerror(m->probe.setup_error));
  printf(",\n");
  json_key("    ", "sysctl_io_uring_disabled");
  if (m->sysctl_disabled >= 0)
    printf("%d,\n", m->sysctl_disabled);
  else
    printf("null,\n");
  json_key("    ", "setup_flags");
  json_bits(setup_flag_names, COUNT(setup_flag_names),
            m->probe.usable ? r->setup_flags : 0);
  printf(",\n");
  json_key("    ", "features");
  json_bits(feature_names, COUNT(feature_names),
            m->probe.usable ? r->features : 0);
  printf(",\n");
  json_key("    ", "sq_entries");
  printf("%u,\n", m->probe.usable ? r->sq_entries : 0);
  json_key("    ", "cq_entries");
  printf("%u\n", m->probe.usable ? r->cq_entries : 0);
  printf("  },\n");

  json_key("  ", "backend");
  json_str(m->loop_rc == 0 ? m->backend : NULL);
  printf(",\n");
  json_key("  ", "loop_error");
  json_str(m->loop_rc == 0 ? NULL : lure_err_name(m->loop_rc));
  printf(",\n");
  json_key("  ", "aio");
  printf("{");
  json_key("", "usable");
  printf("%s", m->aio_error == 0 ? "true" : "false");
  json_key(", ", "error");
  json_str(m->aio_error == 0 ? NULL : lure_err_name(m->aio_error));
  printf("},\n");
  json_key("  ", "threadpool_size");
  printf("%u,\n", m->pool_size);

  json_key("  ", "environment");
  printf("{\n");
  json_env("LURE_BACKEND", 0);
  json_env("LURE_URING_DISABLE", 0);
  json_env("LURE_RING_ENTRIES", 0);
  json_env("LURE_FS_ADAPT", 0);
  json_env("LURE_THREADPOOL_SIZE", 0);
  json_env("LURE_PIDFD_DISABLE", 1);
  printf("  },\n");
  json_key("  ", "uring_disable_ignored");
  json_str(m->mask_unknown[0] != '\0' ? m->mask_unknown : NULL);
  printf(",\n");

  json_key("  ", "opcodes");
  printf("[\n");
  for (i = 0; i < COUNT(used_opcodes); i++) {
    int op;
    enum op_state s = opcode_state(m, used_opcodes[i], &op);

    printf("    {");
    json_key("", "name");
    json_str(used_opcodes[i]);
    json_key(", ", "opcode");
    if (op >= 0)
      printf("%d", op);
    else
      printf("null");
    json_key(", ", "supported");
    printf("%s", s == OP_YES ? "true" : "false");
    json_key(", ", "state");
    json_str(op_state_text(s));
    printf("}%s\n", i + 1 < COUNT(used_opcodes) ? "," : "");
  }
  printf("  ],\n");

  json_key("  ", "operations");
  printf("[\n");
  for (i = 0; i < COUNT(op_rows); i++) {
    const struct op_row *row = &op_rows[i];
    struct placement p;

    place(m, row, &p);
    printf("    {");
    json_key("", "operation");
    json_str(row->name);
    json_key(", ", "api");
    json_str(row->api);
    json_key(", ", "executor");
    json_str(p.executor);
    json_key(", ", "via");
    json_str(p.via);
    json_key(", ", "o_direct");
    json_str(p.odirect);
    json_key(", ", "status");
    json_str((row->flags & ROW_PLANNED) ? "planned" : "ready");
    json_key(", ", "why");
    json_str(p.why);
    printf("}%s\n", i + 1 < COUNT(op_rows) ? "," : "");
  }
  printf("  ]\n");
  printf("}\n");
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *out) {
  fprintf(out,
          "usage: lure-info [--json | --backend]\n"
          "Print what lure does on this machine: io_uring availability,\n"
          "opcodes, the loop's wait point and the executor of each\n"
          "operation.\n"
          "\n"
          "  --json     the same as one JSON object\n"
          "  --backend  only the wait point a loop gets (io_uring or epoll)\n"
          "  --help     this text\n"
          "\n"
          "Honours LURE_BACKEND, LURE_URING_DISABLE, LURE_RING_ENTRIES and\n"
          "LURE_THREADPOOL_SIZE as every lure program does.\n");
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
    {"json", no_argument, NULL, 'j'},
    {"backend", no_argument, NULL, 'b'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}
  };
  enum { MODE_TEXT, MODE_JSON, MODE_BACKEND } mode = MODE_TEXT;
  struct machine m;
  int c;

  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
      case 'j': mode = MODE_JSON; break;
      case 'b': mode = MODE_BACKEND; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "lure-info: unexpected argument: %s\n", argv[optind]);
    usage(stderr);
    return 2;
  }

  if (mode == MODE_BACKEND) {
    lure_loop_t loop;
    int rc = lure_loop_init(&loop);

    if (rc < 0) {
      fprintf(stderr, "lure-info: lure_loop_init: %s (%s)\n",
              lure_strerror(rc), lure_err_name(rc));
      return 1;
    }
    printf("%s\n", lure_loop_backend(&loop));
    lure_loop_close(&loop);
    return 0;
  }

  gather(&m);
  if (mode == MODE_JSON)
    print_json(&m);
  else
    print_text(&m);
  if (fflush(stdout) != 0)
    return 1;
  /* A refused ring is a finding; only a loop that cannot exist fails. */
  return m.loop_rc == 0 ? 0 : 1;
}
