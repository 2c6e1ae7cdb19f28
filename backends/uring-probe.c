/*
 * uring-probe.c - what this kernel's io_uring offers: the opcode names
 * (for LURE_URING_DISABLE and lure-info), the features the probe cannot
 * report, the setup flags tried in turn, and the probe itself.
 *
 * Field notes:
 * - Setup is tried with the best flags first and fewer on each failure:
 *     SINGLE_ISSUER|DEFER_TASKRUN|R_DISABLED|TASKRUN_FLAG (6.1), for a
 *       loop configured LURE_LOOP_SINGLE_THREAD only;
 *     COOP_TASKRUN|TASKRUN_FLAG (5.19);
 *     CQSIZE only (5.5);
 *     nothing (5.1).
 *   SUBMIT_ALL (5.18) rides along on the first three so that one bad SQE does
 *   not stop the rest of a batch.  Every failure of io_uring_setup (ENOSYS,
 *   EPERM from seccomp or kernel.io_uring_disabled, EINVAL for flags this
 *   kernel does not know, ENOMEM from RLIMIT_MEMLOCK before 5.12,
 *   EOPNOTSUPP in some sandboxes) is a reason to fall back, never to abort.
 *   So is a ring that cannot be entered: init submits one NOP and waits
 *   for it (a seccomp policy may allow io_uring_setup but not
 *   io_uring_enter).
 * - Opcodes are probed once per ring (IORING_REGISTER_PROBE, 5.6); the
 *   loop's mask is applied by uring.c.
 * - liburing 2.3 (Debian 12) predates some opcodes the running kernel has;
 *   the opcode table below names them by number.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include "uring-int.h"

/* ---- opcode names ---------------------------------------------------------- */

static const char *const lure__op_names[] = {
  "nop", "readv", "writev", "fsync", "read_fixed", "write_fixed",
  "poll_add", "poll_remove", "sync_file_range", "sendmsg", "recvmsg",
  "timeout", "timeout_remove", "accept", "async_cancel", "link_timeout",
  "connect", "fallocate", "openat", "close", "files_update", "statx",
  "read", "write", "fadvise", "madvise", "send", "recv", "openat2",
  "epoll_ctl", "splice", "provide_buffers", "remove_buffers", "tee",
  "shutdown", "renameat", "unlinkat", "mkdirat", "symlinkat", "linkat",
  "msg_ring", "fsetxattr", "setxattr", "fgetxattr", "getxattr", "socket",
  "uring_cmd", "send_zc", "sendmsg_zc", "read_multishot", "waitid",
  "futex_wait", "futex_wake", "futex_waitv", "fixed_fd_install",
  "ftruncate", "bind", "listen", "recv_zc", "epoll_wait", "readv_fixed",
  "writev_fixed", "pipe"
};

/* Kernel features that the probe cannot report, kept as bits above the
 * opcodes so that LURE_URING_DISABLE can mask them like opcodes and make
 * lure take the paths of the kernels that lack them. */
static const char *const lure__feat_names[] = {
  "recv_multishot",   /* multishot RECV/RECVMSG, Linux 6.0 */
  "accept_multishot", /* multishot ACCEPT, 5.19 */
  "pbuf_ring",        /* provided-buffer rings, 5.19 (else PROVIDE_BUFFERS) */
  "pbuf_inc"          /* incremental buffer consumption, 6.12 */
};

int lure__uring_op_count(void) {
  return (int) (sizeof(lure__op_names) / sizeof(lure__op_names[0]));
}

const char *lure__uring_op_name(int op) {
  if (op >= LURE__FEAT_BASE &&
      op < LURE__FEAT_BASE + (int) (sizeof(lure__feat_names) /
                                    sizeof(lure__feat_names[0])))
    return lure__feat_names[op - LURE__FEAT_BASE];
  if (op < 0 || op >= lure__uring_op_count())
    return NULL;
  return lure__op_names[op];
}

int lure__uring_op_by_name(const char *name, size_t len) {
  int i;

  if (name == NULL)
    return -1;
  for (i = 0; i < lure__uring_op_count(); i++)
    if (strlen(lure__op_names[i]) == len &&
        strncmp(lure__op_names[i], name, len) == 0)
      return i;
  for (i = 0; i < (int) (sizeof(lure__feat_names) / sizeof(lure__feat_names[0]));
       i++)
    if (strlen(lure__feat_names[i]) == len &&
        strncmp(lure__feat_names[i], name, len) == 0)
      return LURE__FEAT_BASE + i;
  return -1;
}

/* LURE_URING_DISABLE and LURE_LOOP_URING_DISABLE: a list of names
 * separated by commas or spaces. */
int lure__parse_uring_disable(const char *list, unsigned char mask[32]) {
  const char *s = list;
  const char *e;
  int op;

  memset(mask, 0, 32);
  if (list == NULL)
    return 0;
  while (*s != '\0') {
    while (*s == ',' || *s == ' ')
      s++;
    if (*s == '\0')
      break;
    e = s;
    while (*e != '\0' && *e != ',' && *e != ' ')
      e++;
    op = lure__uring_op_by_name(s, (size_t) (e - s));
    if (op < 0)
      return LURE_EINVAL;
    mask[op / 8] |= (unsigned char) (1u << (op % 8));
    s = e;
  }
  return 0;
}

void lure__parse_uring_disable_lenient(const char *list,
                                       unsigned char mask[32]) {
  const char *s = list;
  const char *e;
  int op;

  memset(mask, 0, 32);
  while (s != NULL && *s != '\0') {
    while (*s == ',' || *s == ' ')
      s++;
    e = s;
    while (*e != '\0' && *e != ',' && *e != ' ')
      e++;
    if (e > s) {
      op = lure__uring_op_by_name(s, (size_t) (e - s));
      if (op >= 0)
        mask[op / 8] |= (unsigned char) (1u << (op % 8));
    }
    s = e;
  }
}

/* SINGLE_ISSUER (6.0) and DEFER_TASKRUN (6.1, which requires it) only for
 * a loop whose owner promised one thread (LURE_LOOP_SINGLE_THREAD).  Such
 * a ring belongs to the first task that enters it (with R_DISABLED, the
 * one that enables it: uring.c does that at the first entry, not at
 * setup, so a loop may be set up in one thread and used in another), and
 * io_uring_enter from any other thread fails with EEXIST.  Task work then
 * runs only when the issuer enters, in one batch, with no task-work
 * interrupt of whatever the thread was doing: lure-http at 100 wrk
 * connections spent ~8% less server CPU per request (10 alternating
 * rounds; at 1,000 connections no difference above this host's noise).
 * libuv lets a loop be run by one thread and later by another, and nothing
 * can move the issuer of a live ring, nor can a new ring take over the
 * operations the old one holds: so the default ring stays shared-issuer. */
static const unsigned lure__setup_single =
    IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL |
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
    IORING_SETUP_R_DISABLED | IORING_SETUP_TASKRUN_FLAG;

static const unsigned lure__setup_ladder[] = {
  IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
      IORING_SETUP_TASKRUN_FLAG,
  IORING_SETUP_CQSIZE,
  0,
};

static void lure__set_bit(unsigned char ops[32], int op) {
  ops[op / 8] |= (unsigned char) (1u << (op % 8));
}

/* The probe does not report features; the kernel's version says which it
 * should have, and a feature the kernel refuses anyway (a backport, an odd
 * build) is dropped at run time when its first use fails with EINVAL. */
static void lure__feat_guess(unsigned char ops[32]) {
  struct utsname u;
  unsigned major = 0;
  unsigned minor = 0;
  unsigned v;

  if (uname(&u) != 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
    return;
  v = major * 100 + minor;
  if (v >= 612)
    lure__set_bit(ops, LURE__FEAT_PBUF_INC);
  if (v >= 600)
    lure__set_bit(ops, LURE__FEAT_RECV_MULTISHOT);
  if (v >= 519) {
    lure__set_bit(ops, LURE__FEAT_ACCEPT_MULTISHOT);
    lure__set_bit(ops, LURE__FEAT_PBUF_RING);
  }
}

/* The CQ's size (IORING_SETUP_CQSIZE, 5.5).  Each multishot receive,
 * accept and poll may post a CQE per wake-up, and one io_uring_enter runs
 * every wake-up's task work at once: a server's CQ must hold about two
 * CQEs per connection that was ready (its receive, then its send's).  A
 * CQ that overflows keeps the rest in the kernel (NODROP, 5.5) but ends
 * the multishot operations that found it full, and each goes in again.
 * lure-http at 1,000 wrk connections with the CQ at four times a 256-entry
 * SQ overflowed every few ticks, submitted 1.85 SQEs per request instead
 * of 1.0, and spent ~20% more CPU per request than with sixteen times
 * (4,096 CQEs, 64 KiB); see the commit that made it so.  The kernel takes
 * up to 65,536.  Should the kernel refuse the memory (RLIMIT_MEMLOCK
 * before 5.12), four times, then twice. */
#define LURE__CQ_MAX 65536u

static unsigned lure__cq_big(unsigned entries) {
  unsigned long cq = (unsigned long) entries * 16;

  return cq > LURE__CQ_MAX ? LURE__CQ_MAX : (unsigned) cq;
}

static unsigned lure__cq_less(unsigned entries, unsigned cq) {
  unsigned long four = (unsigned long) entries * 4;

  if (cq > four && four <= LURE__CQ_MAX)
    return (unsigned) four;
  if (cq > entries * 2u && entries * 2u <= LURE__CQ_MAX)
    return entries * 2u;
  return 0;
}

int lure__uring_ring_setup(struct io_uring *ring, unsigned entries,
                           int single, unsigned *flags_out,
                           unsigned *features_out, unsigned char ops[32]) {
  struct io_uring_params params;
  struct io_uring_probe *probe;
  size_t i = 0;
  unsigned cq;
  int rc = -ENOSYS;
  int op;

  for (; i <= sizeof(lure__setup_ladder) / sizeof(lure__setup_ladder[0]);
       i++) {
    if (i == 0 && !single)
      continue;
    for (cq = lure__cq_big(entries); cq != 0; cq = lure__cq_less(entries, cq)) {
      memset(&params, 0, sizeof(params));
      params.flags = i == 0 ? lure__setup_single : lure__setup_ladder[i - 1];
      params.cq_entries = cq;
      rc = io_uring_queue_init_params(entries, ring, &params);
      /* ENOMEM: the ring's memory counts against RLIMIT_MEMLOCK before
       * 5.12; a smaller CQ may fit. */
      if (rc != -ENOMEM || !(params.flags & IORING_SETUP_CQSIZE))
        break;
    }
    if (rc == 0)
      break;
    /* Unknown flags give EINVAL; anything else (EPERM, ENOSYS, ENOMEM) will
     * not improve with fewer flags, except ENOMEM, which may. */
    if (rc != -EINVAL && rc != -ENOMEM)
      return rc;
  }
  if (rc != 0)
    return rc;
  *flags_out = params.flags;
  *features_out = params.features;

  memset(ops, 0, 32);
  lure__feat_guess(ops);
  probe = io_uring_get_probe_ring(ring);
  if (probe != NULL) {
    for (op = 0; op <= probe->last_op && op < 256; op++)
      if (io_uring_opcode_supported(probe, op))
        ops[op / 8] |= (unsigned char) (1u << (op % 8));
    io_uring_free_probe(probe);
  }
  return 0;
}

/* A policy may let a ring be set up but not entered (a seccomp filter
 * that denies io_uring_enter alone): such a ring would fail every poll
 * phase.  One NOP, submitted and waited for, proves it usable; any error
 * makes the loop fall back like a failed setup. */
int lure__uring_try_enter(struct io_uring *ring) {
  struct io_uring_sqe *sqe;
  struct io_uring_cqe *cqe;
  long r;
  int rc;

  /* A ring set up disabled (R_DISABLED) must not be entered yet: entering
   * would not make this thread its issuer, but the kernel's answer, EBADFD,
   * already proves that a policy lets io_uring_enter through. */
  if (ring->flags & IORING_SETUP_R_DISABLED) {
    r = syscall(__NR_io_uring_enter, ring->ring_fd, 0, 0, 0, NULL, 0);
    if (r < 0 && errno != EBADFD)
      return -errno;
    return 0;
  }
  sqe = io_uring_get_sqe(ring);
  if (sqe == NULL)
    return LURE_EBUSY;
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data64(sqe, LURE__UD_IGNORE);
  rc = io_uring_submit_and_wait(ring, 1);
  if (rc < 0)
    return rc;
  rc = io_uring_peek_cqe(ring, &cqe);
  if (rc != 0)
    return rc;
  io_uring_cqe_seen(ring, cqe);
  return 0;
}

int lure__uring_probe(struct lure__uring_info *info) {
  struct io_uring ring;
  int rc;

  memset(info, 0, sizeof(*info));
  rc = lure__uring_ring_setup(&ring, 256, 0, &info->setup_flags,
                              &info->features, info->ops);
  if (rc == 0) {
    rc = lure__uring_try_enter(&ring);
    if (rc != 0)
      io_uring_queue_exit(&ring);
  }
  if (rc != 0) {
    info->setup_error = rc;
    return rc;
  }
  info->usable = 1;
  info->sq_entries = ring.sq.ring_entries;
  info->cq_entries = ring.cq.ring_entries;
  io_uring_queue_exit(&ring);
  return 0;
}
