/*
 * stream.h - what stream.c shares with tcp.c, pipe.c and the socket
 * executors (backends/uring-stream.c, backends/ready.c).
 */
#ifndef LURE_STREAM_H
#define LURE_STREAM_H

#include <sys/uio.h>
#include "internal.h"

/* stream_flags */
enum {
  LURE__STREAM_READING = 0x01,
  LURE__STREAM_READABLE = 0x02,
  LURE__STREAM_WRITABLE = 0x04,
  LURE__STREAM_LISTENING = 0x08,
  LURE__STREAM_CONNECTING = 0x10,
  LURE__STREAM_SHUT_ISSUED = 0x20, /* shutdown(2) under way */
  LURE__STREAM_SHUT = 0x40,        /* write side shut */
  LURE__STREAM_EOF = 0x80,         /* read side saw EOF */
  LURE__STREAM_NOT_SOCKET = 0x200, /* a pipe(2) or tty: writev, not sendmsg */
  LURE__STREAM_BOUND = 0x400,
  LURE__STREAM_BORROW = 0x800,    /* read_cb gets lure's buffers */
  LURE__STREAM_NODELAY = 0x1000,   /* TCP: TCP_NODELAY once there is a socket */
  LURE__STREAM_KEEPALIVE = 0x2000, /* TCP: SO_KEEPALIVE likewise */
  LURE__STREAM_REKICK = 0x4000,    /* restart the write queue when the loop
                                      next runs (set after a fork) */
  LURE__STREAM_REARM = 0x100,      /* arm the read or accept when the loop
                                      next runs (set after a fork) */
  /* The fd came from outside (lure_tcp_open, lure_pipe_open, received over
   * IPC) or was sent over IPC: another handle or process may share it,
   * so nothing is taken
   * from it ahead of time, as with libuv's readiness: the ring receives
   * one read at a time (a multishot receive still armed after
   * lure_read_stop() would take bytes another handle on the fd is to
   * read).  Every listener accepts on readiness anyway (stream.c). */
  LURE__STREAM_ADOPTED = 0x8000,
  /* Readiness: writes wait in the queue only because of the per-tick limit
   * of direct writes (backends/ready.c), not because the socket is full;
   * a close writes what the socket takes of them, as libuv's writes would
   * have gone out inside uv_write(). */
  LURE__STREAM_HELD = 0x40000,   /* above the executor bits (16-17) */
  /* On readiness for now, to move to the ring table once it has seen the
   * loop's stream_warmup readiness events (lure__stream_warm); the count
   * so far is bits 20-27. */
  LURE__STREAM_WARMING = 0x80000
};
#define LURE__STREAM_WARM_SHIFT 20
#define LURE__STREAM_WARM_MASK (0xffu << LURE__STREAM_WARM_SHIFT)

/* The keep-alive delay a TCP handle without a socket was given (its
 * pending_cap: only IPC pipes receive descriptors). */
#define lure__tcp_keepalive_delay(s) ((s)->pending_cap)
int lure__tcp_apply_options(lure_stream_t *s, int fd);

/* lure__stream_open() flag, not kept: lure made the fd itself. */
#define LURE__OPEN_OWN_SOCKET 0x80000000u

/* lure_write_t req_flags: send with zero copy when the ring can. */
#define LURE__REQ_ZC 0x10

/* Borrowed buffers outside the ring: malloc'd with a header in front that
 * links them on the loop's list of lent buffers (which is how a release is
 * checked without touching memory that may already be freed). */
#define LURE__BORROW_SIZE 65536
char *lure__borrow_alloc(lure_loop_t *loop, size_t len);
void lure__borrow_free_all(lure_loop_t *loop);

int lure__is_stream(const lure_handle_t *h);
void lure__stream_init(lure_loop_t *loop, lure_stream_t *s,
                       lure_handle_type type);
int lure__stream_open(lure_stream_t *s, int fd, unsigned flags);
int lure__stream_fd(const lure_stream_t *s);
int lure__stream_listen_start(lure_stream_t *s, lure_connection_cb cb);
int lure__stream_connect(lure_stream_t *s, lure_connect_t *req,
                         const struct sockaddr *addr, socklen_t addrlen,
                         lure_connect_cb cb, int defer_errors);
int lure__stream_connect_error(lure_stream_t *s, lure_connect_t *req,
                               lure_connect_cb cb, int err);
void lure__stream_close(lure_stream_t *s);
void lure__stream_finish_close(lure_stream_t *s);
void lure__stream_read_stop_internal(lure_stream_t *s);
void lure__stream_kick_writes(lure_stream_t *s);
void lure__stream_schedule(lure_stream_t *s);
void lure__stream_write_done_now(lure_stream_t *s);

/* Completion entry points shared by both paths. */
void lure__stream_connection(lure_stream_t *s, int fd_or_error);
void lure__stream_deliver(lure_stream_t *s, ssize_t nread,
                          const lure_buf_t *buf);
/* Bytes that arrived in a buffer of the ring, copied into the reader's
 * alloc_cb buffers while it reads; returns how many it took (the caller
 * keeps the rest). */
size_t lure__stream_deliver_copy(lure_stream_t *s, const char *p, size_t n);
/* Bytes an executor received (read_cb or the stash takes them), and the
 * end of the stream (LURE_EOF or an error), after any bytes that wait. */
void lure__stream_feed(lure_stream_t *s, const char *p, size_t n);
void lure__stream_end(lure_stream_t *s, int status);
/* Whether no stashed bytes wait (a lent buffer must not overtake them). */
int lure__stream_stash_empty(const lure_stream_t *s);
/* Whether bytes were lost (the stash could not grow): the stream has
 * ended with LURE_ENOMEM; an executor drops later bytes and arms no more
 * receives. */
int lure__stream_read_ended(const lure_stream_t *s);
int lure__stream_write_progress(lure_stream_t *s, lure_write_t *req, size_t n);
void lure__stream_write_fail(lure_stream_t *s, lure_write_t *req, int err);
/* A write request's bytes not written yet: their count, and as iovecs
 * (at most cap; returns how many). */
size_t lure__stream_write_left(const lure_write_t *req);
/* n bytes of a gathered write, to req (the head) and the requests behind
 * it; 1 when all the requests they reached are complete. */
int lure__stream_write_took(lure_stream_t *s, lure_write_t *req, size_t n);
unsigned lure__stream_write_iov(const lure_write_t *req, struct iovec *iov,
                                unsigned cap);
/* The iovecs (at most cap) of the head request and of the requests queued
 * behind it that may share its system call: a request that passes a
 * descriptor, or has a req_flags bit of alone, goes by itself. */
unsigned lure__stream_write_gather(const lure_stream_t *s,
                                   const lure_write_t *head,
                                   struct iovec *iov, unsigned cap,
                                   unsigned alone);
/* Closing with the head write in an executor's hands: write what the socket
 * takes now, in order, cancel the rest (backends/ready.c). */
void lure__stream_close_writes(lure_stream_t *s);
void lure__stream_connect_done(lure_stream_t *s, int status);

/* tcp.c / pipe.c */
int lure__tcp_listen(lure_tcp_t *h, int backlog, lure_connection_cb cb);
int lure__pipe_listen(lure_pipe_t *h, int backlog, lure_connection_cb cb);
void lure__pipe_finish_close(lure_pipe_t *h);

void lure__stream_after_fork(lure_stream_t *s);

/* A warming stream (LURE__STREAM_WARMING) counts its readiness events and
 * its writes (backends/ready.c); once it has seen the loop's
 * stream_warmup of them, lure__stream_warm_move() hands it to the ring
 * table, at a point where no readiness call of it is under way (the end of
 * its readiness event, its pending phase). */
static inline void lure__stream_warm_count(lure_stream_t *s) {
  if ((s->stream_flags & LURE__STREAM_WARM_MASK) != LURE__STREAM_WARM_MASK)
    s->stream_flags += 1u << LURE__STREAM_WARM_SHIFT;
}
void lure__stream_warm_move(lure_stream_t *s);

/* One write of iov[0..n) to the stream's descriptor, now (writev(2) or
 * sendmsg(2), with send_handle's descriptor): a byte count or a negative
 * errno. */
ssize_t lure__stream_sendv(lure_stream_t *s, struct iovec *iov, unsigned n,
                           const lure_stream_t *send_handle, int flags);

/* stream_flags bits 16-17: the stream's socket table, as its index in
 * lure__sock_executors (src/executor.c); set when its socket is adopted
 * (a field of its own would make the handle bigger than libuv's). */
#define LURE__STREAM_EXEC_SHIFT 16
#define LURE__STREAM_EXEC_MASK (3u << LURE__STREAM_EXEC_SHIFT)

static inline const struct lure__sock_ops *
lure__stream_sock(const lure_stream_t *s) {
  return lure__sock_executors[(s->stream_flags & LURE__STREAM_EXEC_MASK) >>
                              LURE__STREAM_EXEC_SHIFT];
}

static inline void lure__stream_set_sock(lure_stream_t *s,
                                         const struct lure__sock_ops *ops) {
  s->stream_flags = (s->stream_flags & ~LURE__STREAM_EXEC_MASK) |
                    (lure__sock_index(ops) << LURE__STREAM_EXEC_SHIFT);
}

/* Whether the stream is served by readiness (its table is the default). */
static inline int lure__stream_on_readiness(const lure_stream_t *s) {
  return lure__stream_sock(s) == &lure__sock_ready;
}

#endif /* LURE_STREAM_H */
