/*
 * uring-probe.c - what this kernel's io_uring offers: the opcode names
 * (for LURE_URING_DISABLE and lure-info), the features the probe cannot
 * report, the setup flags tried in turn, and the probe itself.
 *
 * Field notes:
 * - Setup is tried with the best flags first and fewer on each failure:
 *     COOP_TASKRUN|TASKRUN_FLAG (5.19);
 *     CQSIZE only (5.5);
 *     nothing (5.1).
 *   SUBMIT_ALL (5.18) rides along on the first two so that one bad SQE does
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
#include <string.h>
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

/* Not SINGLE_ISSUER (6.0) nor DEFER_TASKRUN (6.1, which requires it).  A
 * SINGLE_ISSUER ring belongs to the first task that enters it (with
 * R_DISABLED, the one that enables it), and io_uring_enter from any other
 * thread fails with EEXIST.  libuv lets a loop be set up in one thread and
 * run in another, or run by one thread and later by another, and lure
 * enters the ring outside lure_run() too (a full SQ is flushed, a TCP
 * connect is submitted at once): a loop then handed to another thread spun
 * at 100% CPU on EEXIST.  Nothing can move the issuer of a live ring, and
 * a new ring cannot take over operations the old one holds.  So the ring
 * is shared-issuer; lure-bench quick showed no difference above its noise
 * on this host (see the commit that made this change). */

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

int lure__uring_ring_setup(struct io_uring *ring, unsigned entries,
                           unsigned *flags_out, unsigned *features_out,
                           unsigned char ops[32]) {
  struct io_uring_params params;
  struct io_uring_probe *probe;
  size_t i;
  int rc = -ENOSYS;
  int op;

  for (i = 0; i < sizeof(lure__setup_ladder) / sizeof(lure__setup_ladder[0]);
       i++) {
    memset(&params, 0, sizeof(params));
    params.flags = lure__setup_ladder[i];
    params.cq_entries = entries * 4;
    rc = io_uring_queue_init_params(entries, ring, &params);
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
  struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
  struct io_uring_cqe *cqe;
  int rc;

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
  rc = lure__uring_ring_setup(&ring, 256, &info->setup_flags,
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
