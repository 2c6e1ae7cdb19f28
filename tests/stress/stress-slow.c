/*
 * stress-slow.c - a slow reader: a large transfer over TCP and over a pipe
 * (a Unix socket pair) to a reader that keeps stopping and restarting its
 * reads (read_stop then read_start in the same callback, or later from a
 * timer), checked byte for byte and by checksum.  The transfer machinery
 * (stress_transfer) is shared with the EINTR storm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stress.h"
#include "stress-xfer.h"

#define CHUNK (256u * 1024u)

struct xfer {
  int kind;
  int toggle;
  size_t bytes;
  uint64_t id;
  unsigned char *src;
  lure_tcp_t listener;
  union { lure_tcp_t tcp; lure_pipe_t pipe; lure_stream_t s; } w, r;
  lure_connect_t connect;
  lure_write_t *writes;
  unsigned nwrites, writes_done;
  lure_shutdown_t shutdown;
  int shutdown_done;
  lure_timer_t restart;
  char rbuf[65536];
  size_t got;
  uint64_t sum;
  unsigned long reads, stops;
  int eof, closes;
};

static void x_close(lure_handle_t *h) {
  struct xfer *x = h->data;

  x->closes++;
}

static void x_alloc(lure_handle_t *h, size_t suggested, lure_buf_t *buf) {
  struct xfer *x = h->data;

  *buf = lure_buf_init(x->rbuf, sizeof(x->rbuf));
}

static void x_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf);

static void x_restart(lure_timer_t *t) {
  struct xfer *x = t->data;

  SOK(lure_read_start(&x->r.s, x_alloc, x_read));
}

static void x_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct xfer *x = s->data;
  size_t bad;

  if (n == LURE_EOF) {
    SCHECK(x->eof == 0);
    x->eof = 1;
    if (x->got != x->bytes)
      stress_fail(__FILE__, __LINE__, "EOF after %zu bytes of %zu", x->got,
                  x->bytes);
    SCHECK(x->sum == stress_sum(STRESS_SUM_INIT, x->src, x->bytes));
    lure_close((lure_handle_t *) s, x_close);
    if (x->toggle)
      lure_close((lure_handle_t *) &x->restart, x_close);
    return;
  }
  if (n < 0)
    stress_fail(__FILE__, __LINE__, "read: %s after %zu bytes",
                lure_err_name((int) n), x->got);
  if (n == 0)
    return;
  SCHECK(x->got + (size_t) n <= x->bytes);
  bad = stress_verify((unsigned char *) buf->base, (size_t) n, x->id, x->got);
  if (bad != (size_t) n)
    stress_fail(__FILE__, __LINE__, "byte %zu of the stream differs",
                x->got + bad);
  x->sum = stress_sum(x->sum, buf->base, (size_t) n);
  x->got += (size_t) n;
  x->reads++;
  if (x->toggle && x->reads % 3 == 0) {
    SOK(lure_read_stop(s));
    x->stops++;
    if (x->stops % 2)
      SOK(lure_read_start(s, x_alloc, x_read)); /* at once */
    else
      SOK(lure_timer_start(&x->restart, x_restart, 1, 0)); /* later */
  }
}

static void x_shutdown(lure_shutdown_t *req, int status) {
  struct xfer *x = req->handle->data;

  SCHECK(status == 0);
  SCHECK(x->shutdown_done == 0);
  x->shutdown_done = 1;
  lure_close((lure_handle_t *) req->handle, x_close);
}

static void x_written(lure_write_t *w, int status) {
  struct xfer *x = w->handle->data;

  if (status != 0)
    stress_fail(__FILE__, __LINE__, "write %ld: %s", (long) (w - x->writes),
                lure_err_name(status));
  x->writes_done++;
  if (x->writes_done == x->nwrites)
    SOK(lure_shutdown(&x->shutdown, &x->w.s, x_shutdown));
}

static void x_start_writes(struct xfer *x) {
  unsigned i;

  for (i = 0; i < x->nwrites; i++) {
    size_t off = (size_t) i * CHUNK;
    size_t len = x->bytes - off < CHUNK ? x->bytes - off : CHUNK;
    lure_buf_t b = lure_buf_init((char *) x->src + off, (unsigned) len);
    SOK(lure_write(&x->writes[i], &x->w.s, &b, 1, x_written));
  }
}

static void x_connected(lure_connect_t *req, int status) {
  struct xfer *x = req->handle->data;

  SCHECK(status == 0);
  x_start_writes(x);
}

static void x_conn(lure_stream_t *l, int status) {
  struct xfer *x = l->data;

  SCHECK(status == 0);
  SOK(lure_tcp_init(l->loop, &x->r.tcp));
  x->r.s.data = x;
  SOK(lure_accept(l, &x->r.s));
  SOK(lure_read_start(&x->r.s, x_alloc, x_read));
  lure_close((lure_handle_t *) l, x_close);
}

struct xfer *stress_transfer_start(lure_loop_t *loop, int kind, size_t bytes,
                                   int toggle, uint64_t id) {
  struct xfer *x = calloc(1, sizeof(*x));
  struct sockaddr_in addr;

  SCHECK(x != NULL);
  x->kind = kind;
  x->bytes = bytes;
  x->toggle = toggle;
  x->id = id;
  x->sum = STRESS_SUM_INIT;
  x->src = malloc(bytes);
  SCHECK(x->src != NULL);
  stress_fill(x->src, bytes, id, 0);
  x->nwrites = (unsigned) ((bytes + CHUNK - 1) / CHUNK);
  x->writes = calloc(x->nwrites, sizeof(*x->writes));
  SCHECK(x->writes != NULL);
  SOK(lure_timer_init(loop, &x->restart));
  x->restart.data = x;
  if (kind == XFER_TCP) {
    SOK(lure_tcp_init(loop, &x->listener));
    x->listener.data = x;
    stress_any_port(&addr);
    SOK(lure_tcp_bind(&x->listener, (struct sockaddr *) &addr, 0));
    SOK(lure_listen((lure_stream_t *) &x->listener, 8, x_conn));
    stress_tcp_addr(&x->listener, &addr);
    SOK(lure_tcp_init(loop, &x->w.tcp));
    x->w.s.data = x;
    SOK(lure_tcp_connect(&x->connect, &x->w.tcp, (struct sockaddr *) &addr,
                         x_connected));
  } else {
    lure_os_sock_t sv[2];
    SOK(lure_socketpair(SOCK_STREAM, 0, sv, LURE_NONBLOCK_PIPE,
                        LURE_NONBLOCK_PIPE));
    SOK(lure_pipe_init(loop, &x->w.pipe, 0));
    SOK(lure_pipe_open(&x->w.pipe, sv[0]));
    SOK(lure_pipe_init(loop, &x->r.pipe, 0));
    SOK(lure_pipe_open(&x->r.pipe, sv[1]));
    x->w.s.data = x;
    x->r.s.data = x;
    SOK(lure_read_start(&x->r.s, x_alloc, x_read));
    x_start_writes(x);
  }
  if (!toggle)
    lure_close((lure_handle_t *) &x->restart, x_close);
  return x;
}

/* After the loop ran to its end: everything happened exactly once. */
void stress_transfer_finish(struct xfer *x, unsigned long *reads,
                            unsigned long *stops) {
  SCHECK(x->eof == 1);
  SCHECK(x->got == x->bytes);
  SCHECK(x->writes_done == x->nwrites);
  SCHECK(x->shutdown_done == 1);
  /* writer, reader, restart timer, and the listener for TCP */
  SCHECK(x->closes == 3 + (x->kind == XFER_TCP));
  if (reads != NULL)
    *reads += x->reads;
  if (stops != NULL)
    *stops += x->stops;
  free(x->writes);
  free(x->src);
  free(x);
}

int stress_slow(void) {
  lure_loop_t loop;
  struct xfer *t, *p;
  unsigned long reads = 0;
  int fds = stress_fd_count();
  size_t tcp_bytes = 64u << 20, pipe_bytes = 16u << 20;

  stress_watchdog(120, "slow reader");
  SOK(lure_loop_init(&loop));
  t = stress_transfer_start(&loop, XFER_TCP, tcp_bytes, 1, 7001);
  p = stress_transfer_start(&loop, XFER_PIPE, pipe_bytes, 1, 7002);
  SOK(lure_run(&loop, LURE_RUN_DEFAULT));
  stress_transfer_finish(t, &reads, &stress_fig.slow_stops);
  stress_transfer_finish(p, &reads, &stress_fig.slow_stops);
  SOK(lure_loop_close(&loop));
  SCHECK(stress_fd_count() == fds);
  stress_fig.slow_bytes = tcp_bytes + pipe_bytes;
  printf("lure-stress: slow: %zu MiB over TCP and %zu MiB over a pipe, %lu "
         "reads, %lu read_stop/read_start toggles, checksums equal\n",
         tcp_bytes >> 20, pipe_bytes >> 20, reads, stress_fig.slow_stops);
  return 0;
}
