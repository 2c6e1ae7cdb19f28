/*
 * backend.h - the contract between the loop core (src/) and the executors
 * that serve as its wait point (backends/).
 *
 * A backend is one file exporting one const struct lure__backend_ops.  Its
 * state hangs off the loop behind one pointer, loop->priv->backend_data.
 * lure_loop_init() walks a preference table (io_uring, then epoll) and takes
 * the first backend whose init() succeeds, unless one is forced.
 *
 * A backend never runs a phase and never calls a user callback directly:
 * it reports readiness through the watcher's core callback (w->cb), which is
 * how the core's handles (poll, async, signal, thread-pool completions) learn
 * of events.
 */
#ifndef LURE_BACKEND_H
#define LURE_BACKEND_H

#include "lure.h"

struct lure__backend_ops {
  /* The name lure_loop_backend() returns: "io_uring" or "epoll". */
  const char *name;

  /* Create the kernel objects for loop and store them in
   * loop->priv->backend_data.  Returns 0, or a negative errno, in which case
   * nothing is left allocated and the core tries the next backend. */
  int (*init)(lure_loop_t *loop);

  /* Release everything init() made.  in_child != 0 after fork(): the kernel
   * objects are shared with the parent, so only close descriptors and free
   * memory; never write to shared mappings. */
  void (*destroy)(lure_loop_t *loop, int in_child);

  /* Watch w->fd for w->events (a poll(2) mask), or change the mask of a
   * watched fd.  Readiness is reported by calling w->cb(loop, w, revents)
   * from poll().  Returns 0 or a negative errno (the watcher is then not
   * watched). */
  int (*io_start)(lure_loop_t *loop, struct lure__io *w);

  /* Stop watching w.  After it returns, poll() reports nothing for w, even
   * events already harvested in the current batch. */
  void (*io_stop)(lure_loop_t *loop, struct lure__io *w);

  /* The poll phase: submit everything queued, wait at most timeout ms
   * (-1: until something happens; 0: do not block) and dispatch what
   * completed.  One kernel entry per call where the backend can manage it. */
  void (*poll)(lure_loop_t *loop, int timeout);

  /* A descriptor that becomes readable when poll() has work (uv_backend_fd). */
  int (*fd)(const lure_loop_t *loop);
};

extern const struct lure__backend_ops lure__backend_uring;
extern const struct lure__backend_ops lure__backend_epoll;

/* What the ring backend learned at setup, for lure-info and routing. */
struct lure__uring_info {
  int usable;            /* 1 when io_uring_setup succeeded */
  int setup_error;       /* the negative errno of the last failed attempt */
  unsigned setup_flags;  /* IORING_SETUP_* obtained */
  unsigned features;     /* IORING_FEAT_* reported */
  unsigned sq_entries;
  unsigned cq_entries;
  unsigned char ops[32]; /* bitmap of supported IORING_OP_*, after the mask */
};

/* Fill info for loop when its backend is the ring; returns -EINVAL when it
 * is not.  lure__uring_probe() does the same on a throwaway ring. */
int lure__uring_info(const lure_loop_t *loop, struct lure__uring_info *info);
int lure__uring_probe(struct lure__uring_info *info);
/* Opcode names (lower case, without IORING_OP_) for the mask and lure-info.
 * Returns the opcode, or -1 for an unknown name. */
int lure__uring_op_by_name(const char *name, size_t len);
/* Features the probe cannot report, as pseudo-opcodes above the real ones
 * (names recv_multishot, accept_multishot, pbuf_ring). */
#define LURE__FEAT_BASE 248
#define LURE__FEAT_RECV_MULTISHOT (LURE__FEAT_BASE + 0)
#define LURE__FEAT_ACCEPT_MULTISHOT (LURE__FEAT_BASE + 1)
#define LURE__FEAT_PBUF_RING (LURE__FEAT_BASE + 2)
const char *lure__uring_op_name(int op);
int lure__uring_op_count(void);

#endif /* LURE_BACKEND_H */
