/*
 * executor.c - the preference tables: which wait point a loop takes, which
 * executor an fs request goes to, which socket executor a stream or a UDP
 * handle uses.  Each order is written here once; the rest of the core calls
 * the executors only through the tables of src/backend.h.
 *
 * The routing table of lure(7) is what these three lists produce:
 *   - wait point: the ring, else epoll (loop.c walks lure__wait_points);
 *   - fs requests: the ring (when it is the loop's wait point and has the
 *     opcode), Linux AIO (no ring, O_DIRECT at an explicit offset), the
 *     thread pool (everything else); each declines what it cannot serve;
 *   - sockets: the ring's socket path (when the wait point is the ring and
 *     has the opcodes), else readiness.
 */
#include "internal.h"

const struct lure__backend_ops *const lure__wait_points[] = {
  &lure__backend_uring,
  &lure__backend_epoll,
  NULL
};

static const struct lure__fs_ops *const lure__fs_executors[] = {
  &lure__fs_uring,
  &lure__fs_aio,
  &lure__fs_pool,
  NULL
};

const struct lure__sock_ops *const lure__sock_executors[] = {
  &lure__sock_uring,
  &lure__sock_ready,
  NULL
};

/* ---- fs -------------------------------------------------------------- */

int lure__fs_route(lure_loop_t *loop, lure_fs_t *req) {
  const struct lure__fs_ops *const *e;
  int rc = LURE_ENOTSUP;

  for (e = lure__fs_executors; *e != NULL; e++) {
    rc = (*e)->submit(loop, req);
    if (rc != LURE_ENOTSUP)
      return rc;
  }
  return rc; /* the pool never declines; kept for a table without it */
}

const struct lure__fs_ops *lure__fs_executor(int executor) {
  const struct lure__fs_ops *const *e;

  for (e = lure__fs_executors; *e != NULL; e++)
    if ((*e)->executor == executor)
      return *e;
  return NULL;
}

void lure__fs_executors_close(lure_loop_t *loop) {
  const struct lure__fs_ops *const *e;

  for (e = lure__fs_executors; *e != NULL; e++)
    if ((*e)->loop_close != NULL)
      (*e)->loop_close(loop);
}

void lure__fs_executors_fork(lure_loop_t *loop) {
  const struct lure__fs_ops *const *e;

  for (e = lure__fs_executors; *e != NULL; e++)
    if ((*e)->loop_fork != NULL)
      (*e)->loop_fork(loop);
}

/* ---- sockets ---------------------------------------------------------- */

unsigned lure__sock_index(const struct lure__sock_ops *ops) {
  unsigned i;

  for (i = 0; lure__sock_executors[i] != NULL; i++)
    if (lure__sock_executors[i] == ops)
      return i;
  return 0; /* not reached: every table is listed */
}

const struct lure__sock_ops *lure__sock_pick_stream(const lure_loop_t *loop) {
  const struct lure__sock_ops *const *e;

  for (e = lure__sock_executors; *e != NULL; e++)
    if ((*e)->stream_usable(loop))
      return *e;
  return &lure__sock_ready;
}

const struct lure__sock_ops *lure__sock_pick_udp(lure_loop_t *loop) {
  const struct lure__sock_ops *const *e;

  for (e = lure__sock_executors; *e != NULL; e++)
    if ((*e)->udp_usable(loop))
      return *e;
  return &lure__sock_ready;
}

int lure__sock_buf_release(lure_loop_t *loop, const char *base) {
  const struct lure__sock_ops *const *e;

  for (e = lure__sock_executors; *e != NULL; e++)
    if ((*e)->buf_release != NULL && (*e)->buf_release(loop, base) == 0)
      return 0;
  return LURE_EINVAL;
}

int lure__sock_buffers_lent(const lure_loop_t *loop) {
  const struct lure__sock_ops *const *e;

  for (e = lure__sock_executors; *e != NULL; e++)
    if ((*e)->buffers_lent != NULL && (*e)->buffers_lent(loop))
      return 1;
  return 0;
}

/* A handle may have left the executor that made its state (a fallback to
 * readiness after the ring made it): every executor frees what it made. */
void lure__sock_stream_free(lure_stream_t *s) {
  const struct lure__sock_ops *const *e;

  for (e = lure__sock_executors; *e != NULL; e++)
    if ((*e)->free != NULL)
      (*e)->free(s);
}

void lure__sock_udp_free(lure_udp_t *h) {
  const struct lure__sock_ops *const *e;

  for (e = lure__sock_executors; *e != NULL; e++)
    if ((*e)->udp_free != NULL)
      (*e)->udp_free(h);
}
