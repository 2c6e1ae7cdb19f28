/*
 * backend.h - the contract between the loop core (src/) and the executors
 * (backends/).  Three kinds of tables, each field with its contract:
 *
 *   - the wait point (struct lure__backend_ops): io_uring or epoll, one per
 *     loop, chosen when the loop is made;
 *   - the fs executors (struct lure__fs_ops): the ring, Linux AIO and the
 *     thread pool, offered each asynchronous fs request in turn;
 *   - the socket executors (struct lure__sock_ops): the ring's socket path
 *     and readiness, chosen once per stream or UDP handle.
 *
 * The preference order of each kind is one table in src/executor.c; the
 * core calls an executor only through these tables and never compares
 * table pointers to find out which one it has.  An executor's state hangs
 * off the loop behind one pointer (loop->priv->backend_data for the wait
 * point, aio_data for AIO) or off the handle (exec_data).
 *
 * A backend never runs a phase and never calls a user callback directly:
 * it reports readiness through the watcher's core callback (w->cb), and
 * completions through the core's completion functions (lure__fs_done,
 * lure__stream_deliver, lure__udp_deliver, ...).
 */
#ifndef LURE_BACKEND_H
#define LURE_BACKEND_H

#include <sys/socket.h>
#include "lure.h"

/* ---- the wait point ---------------------------------------------------- */

struct lure__backend_ops {
  /* The name lure_loop_backend() returns: "io_uring" or "epoll". */
  const char *name;

  /* Which one it is, as LURE_BACKEND and LURE_LOOP_BACKEND name it
   * (LURE__BACKEND_URING, LURE__BACKEND_EPOLL). */
  int id;

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

  /* The watcher's fd is about to close, or the watcher to go: drop every
   * trace of it now (a registration io_stop() left for later, see
   * LURE__IO_PARKABLE).  NULL: io_stop() leaves none. */
  void (*io_forget)(lure_loop_t *loop, struct lure__io *w);

  /* The poll phase: submit everything queued, wait at most timeout ms
   * (-1: until something happens; 0: do not block) and dispatch what
   * completed.  One kernel entry per call where the backend can manage it. */
  void (*poll)(lure_loop_t *loop, int timeout);

  /* A descriptor that becomes readable when poll() has work (uv_backend_fd). */
  int (*fd)(const lure_loop_t *loop);

  /* Whether work is prepared but not yet handed to the kernel, or
   * completions wait unreaped: an embedder sleeping on fd() would not be
   * woken for them (lure_backend_timeout).  NULL: never. */
  int (*unsubmitted)(const lure_loop_t *loop);

  /* At the end of lure_run(): hand the kernel what the phases after the
   * poll phase prepared (a released watcher's cancel, say), so
   * that nothing a closed handle left holds its socket open while the
   * loop is not run.  NULL: nothing waits for submission. */
  void (*flush)(lure_loop_t *loop);

  /* lure_run() from this thread: whether the wait point belongs to another
   * thread but holds nothing of the loop's but its watchers, so that a new
   * one opened here can take over (a single issuer's ring,
   * LURE_LOOP_SINGLE_THREAD).  NULL: any thread may use it. */
  int (*movable)(const lure_loop_t *loop);
};

extern const struct lure__backend_ops lure__backend_uring;
extern const struct lure__backend_ops lure__backend_epoll;

/* The wait points in order of preference, NULL-terminated (executor.c). */
extern const struct lure__backend_ops *const lure__wait_points[];

/* ---- fs executors ------------------------------------------------------ */

struct lure__fs_ops {
  /* The executor lure_req_executor() reports (LURE__EXEC_*). */
  int executor;

  /* Take req, an asynchronous fs request already registered with the
   * loop: 0 when the executor took it (it sets req->executor, and
   * lure__fs_done or lure__fs_done_later follows, never from inside this
   * call), LURE_ENOTSUP when it cannot serve this request on this loop
   * (the core offers it to the next executor), another negative errno when
   * the request failed (returned to the caller, no callback). */
  int (*submit)(lure_loop_t *loop, lure_fs_t *req);

  /* lure_cancel() of a request this executor took: 0 when the request will
   * complete with LURE_ECANCELED (unless it finished first), LURE_EBUSY
   * when it is too late. */
  int (*cancel)(lure_loop_t *loop, lure_fs_t *req);

  /* The loop closes (it has no requests left): release the executor's
   * per-loop state.  May be called while the loop lives on, when it is
   * idle (a wait point switch).  NULL: nothing to release. */
  void (*loop_close)(lure_loop_t *loop);

  /* In a forked child, after the new wait point was opened: drop the
   * parent's kernel objects without using them; requests the parent
   * completes are settled with LURE_ECANCELED.  NULL: nothing to do. */
  void (*loop_fork)(lure_loop_t *loop);

  /* Whether this executor serves buffered writes (write and writev) on
   * this loop now, so that the adaptive router of executor.c may compare
   * it with the pool.  NULL: it does not compete. */
  int (*adapt_usable)(const lure_loop_t *loop);
};

extern const struct lure__fs_ops lure__fs_uring;  /* backends/uring-fs.c */
extern const struct lure__fs_ops lure__fs_aio;    /* backends/aio.c */
extern const struct lure__fs_ops lure__fs_pool;   /* backends/pool-fs.c */

/* Run an fs request's system call(s) on the calling thread, setting
 * req->result (and ptr/statbuf): the pool's worker, and the core's
 * synchronous mode (a NULL callback), backends/pool-fs.c. */
void lure__fs_exec(lure_fs_t *req);

/* Whether an fs request that ended in EINTR is made again: every one but a
 * read or a close, whose EINTR the caller sees, as in libuv's fs work.  The
 * pool (lure__fs_exec) and the ring (uring-fs.c) both follow it. */
static inline int lure__fs_retries_eintr(const lure_fs_t *req) {
  return req->fs_type != LURE_FS_READ && req->fs_type != LURE_FS_CLOSE;
}

/* executor.c: offer req to the fs executors in order of preference;
 * returns what the first that did not decline returned. */
int lure__fs_route(lure_loop_t *loop, lure_fs_t *req);
/* The table of the executor that took a request (req->executor), or NULL. */
const struct lure__fs_ops *lure__fs_executor(int executor);
/* Every fs executor's loop_close / loop_fork hook. */
void lure__fs_executors_close(lure_loop_t *loop);
void lure__fs_executors_fork(lure_loop_t *loop);

/* ---- socket executors --------------------------------------------------- */

/* A stream or a UDP handle picks its table once, when its socket is opened
 * (streams) or first used (UDP), and keeps it until a fork or a wait-point
 * switch; an operation its executor cannot take (no SQE, no buffer ring)
 * falls back to readiness.  Completions go to the core through
 * lure__stream_connection, lure__stream_deliver(_copy),
 * lure__stream_write_progress/_fail, lure__stream_connect_done,
 * lure__udp_deliver and lure__udp_send_done. */
struct lure__sock_ops {
  /* The executor reported for the handle's requests (LURE__EXEC_*). */
  int executor;

  /* Reads hold operations in the kernel (the wait point cannot go away
   * under them). */
  int holds_ops;

  /* Whether this loop can serve a stream (a socket) with this table. */
  int (*stream_usable)(const lure_loop_t *loop);
  /* Start taking connections: 0, or a negative errno.  Only readiness
   * has one: every listener accepts on readiness, with its watcher marked
   * LURE__IO_NOHOLD (no request may hold a listening socket in the kernel,
   * src/stream.c).  NULL elsewhere. */
  int (*accept)(lure_stream_t *s);
  /* Connect the socket: 0 (lure__stream_connect_done follows), a negative
   * errno for the caller (libuv's synchronous errors), or LURE_ENOTSUP
   * (the core uses connect(2) and readiness).  NULL: always the latter. */
  int (*connect)(lure_stream_t *s, const struct sockaddr *addr,
                 socklen_t len);
  /* Start or stop reads (the stream's READING flag is set or cleared by
   * the core).  read_start: 0, or a negative errno (readiness then). */
  int (*read_start)(lure_stream_t *s);
  void (*read_stop)(lure_stream_t *s);
  /* Get the write queue moving. */
  void (*write)(lure_stream_t *s);
  /* Whether the head write is in the executor's hands (NULL: never). */
  int (*sending)(const lure_stream_t *s);
  /* lure_close(): cancel what the executor holds; the close completes
   * when exec_ops drops to 0 (lure__handle_close_ready).  Returns 1 when
   * the core must close the descriptor now rather than in the closing
   * phase (readiness, whose watcher the core has just taken out, so that
   * the peer gets the FIN inside lure_close() as with libuv; the ring's
   * zero-copy send, whose end waits for the socket to let go of the
   * caller's pages), else 0.  NULL: nothing held, close in the closing
   * phase. */
  int (*close)(lure_stream_t *s);
  /* In a forked child or after a wait-point switch: the operations the
   * executor held belong to the old kernel objects; forget them.  NULL:
   * nothing held. */
  void (*forget)(lure_stream_t *s);
  /* The closing phase: free the per-handle state (exec_data) if this
   * executor made it.  NULL: none. */
  void (*free)(lure_stream_t *s);

  /* UDP, with the same meanings. */
  int (*udp_usable)(lure_loop_t *loop);
  int (*udp_recv)(lure_udp_t *h);
  void (*udp_recv_stop)(lure_udp_t *h);
  /* Send the queue (the core calls readiness only when the queue was
   * empty; a socket executor that holds sends gets every call). */
  void (*udp_send)(lure_udp_t *h);
  /* Closing: settle the queue, now or when the executor's sends end. */
  void (*udp_close)(lure_udp_t *h);
  void (*udp_forget)(lure_udp_t *h);
  void (*udp_free)(lure_udp_t *h);

  /* lure_buf_release() of a buffer this executor lent: 0, or LURE_EINVAL
   * when it is not one of its own.  NULL: it lends none of its own. */
  int (*buf_release)(lure_loop_t *loop, const char *base);
  /* Whether buffers of its own are lent out.  NULL: never. */
  int (*buffers_lent)(const lure_loop_t *loop);

  /* Readiness only: the watcher callbacks of stream and UDP handles (a
   * stream on another executor still uses readiness for its fallbacks). */
  void (*stream_io)(lure_loop_t *loop, struct lure__io *w, unsigned revents);
  void (*udp_io)(lure_loop_t *loop, struct lure__io *w, unsigned revents);
};

extern const struct lure__sock_ops lure__sock_uring; /* uring-stream.c */
extern const struct lure__sock_ops lure__sock_ready; /* ready-stream.c */

/* executor.c: the socket executors in order of preference (NULL-ended);
 * a handle keeps its table as an index into this list. */
extern const struct lure__sock_ops *const lure__sock_executors[];
unsigned lure__sock_index(const struct lure__sock_ops *ops);

/* The first member of every socket executor's per-handle state
 * (exec_data): the core's stash of bytes that arrived while nobody read
 * them (src/stream.c).  Only an executor with state
 * of its own delivers data late, so the stash needs no field in the
 * handle, which stays libuv's size. */
struct lure__exec_state {
  void *stash;
};

/* executor.c: the socket table for a new stream or UDP handle of loop. */
const struct lure__sock_ops *lure__sock_pick_stream(const lure_loop_t *loop);
const struct lure__sock_ops *lure__sock_pick_udp(lure_loop_t *loop);
/* Every socket executor's buf_release / buffers_lent / free hook. */
int lure__sock_buf_release(lure_loop_t *loop, const char *base);
int lure__sock_buffers_lent(const lure_loop_t *loop);
void lure__sock_stream_free(lure_stream_t *s);
void lure__sock_udp_free(lure_udp_t *h);

/* ---- for tests and lure-info: what the ring backend knows -------------- */

/* Tests: CQEs ready in the CQ, its size, and the overflow flag
 * (backends/uring.c); LURE_EINVAL off the ring. */
int lure__uring_cq_state(const lure_loop_t *loop, unsigned *ready,
                         unsigned *entries, int *overflow);


/* What the ring backend learned at setup, for lure-info. */
struct lure__uring_info {
  int usable;            /* 1 when io_uring_setup succeeded */
  int setup_error;       /* the negative errno of the last failed attempt */
  unsigned setup_flags;  /* IORING_SETUP_* obtained */
  unsigned features;     /* IORING_FEAT_* reported */
  unsigned sq_entries;
  unsigned cq_entries;
  unsigned char ops[32]; /* bitmap of supported IORING_OP_*, after the mask */
  int stream_bufs_inc;   /* streams' copied receives use an incremental
                            buffer ring (IOU_PBUF_RING_INC) */
  int stream_bufs_small; /* ... or, before 6.12, the ring of small buffers */
  uint64_t recv_bulk;    /* streams moved from it to the ordinary ring */
  uint64_t recv_enobufs; /* stream receives ended by an empty buffer ring */
};

/* Fill info for loop when its backend is the ring; returns -EINVAL when it
 * is not.  lure__uring_probe() does the same on a throwaway ring. */
int lure__uring_info(const lure_loop_t *loop, struct lure__uring_info *info);
int lure__uring_probe(struct lure__uring_info *info);
/* Opcode names (lower case, without IORING_OP_) for the mask and lure-info.
 * Returns the opcode, or -1 for an unknown name. */
int lure__uring_op_by_name(const char *name, size_t len);
/* Features the probe cannot report, as pseudo-opcodes above the real ones
 * (names recv_multishot, accept_multishot, pbuf_ring, pbuf_inc). */
#define LURE__FEAT_BASE 248
#define LURE__FEAT_RECV_MULTISHOT (LURE__FEAT_BASE + 0)
#define LURE__FEAT_ACCEPT_MULTISHOT (LURE__FEAT_BASE + 1)
#define LURE__FEAT_PBUF_RING (LURE__FEAT_BASE + 2)
#define LURE__FEAT_PBUF_INC (LURE__FEAT_BASE + 3)
const char *lure__uring_op_name(int op);
int lure__uring_op_count(void);
/* Parse a LURE_URING_DISABLE list into an opcode mask (backends/
 * uring-probe.c): LURE_EINVAL for an unknown name.  The lenient form
 * skips unknown names (the environment, where nobody hears the error). */
int lure__parse_uring_disable(const char *list, unsigned char mask[32]);
void lure__parse_uring_disable_lenient(const char *list,
                                       unsigned char mask[32]);

#endif /* LURE_BACKEND_H */
