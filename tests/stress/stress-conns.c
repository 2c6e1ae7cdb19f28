/*
 * stress-conns.c - 10,000 concurrent TCP echo connections with checksums.
 *
 * The echo server runs in a forked child on its own loop (same executor
 * set: the environment and the seccomp filter are inherited), so that each
 * process holds one end of every connection and 10,000 fit in the usual
 * hard limit of descriptors.  RLIMIT_NOFILE is raised to the hard limit;
 * when that is too low for 10,000 the count is scaled down and the number
 * used is printed.  All connections are opened at once; each sends its
 * own byte pattern, the client checks the echo byte for byte and by
 * checksum, and both processes end with the descriptors they started with.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "stress.h"

#define WANTED 10000u
#define MSG 2048u

struct sconn {
  lure_tcp_t tcp;
  char buf[MSG];
  unsigned pending_writes;
  int eof;
};

struct sreq {
  lure_write_t w;
  char *copy;
};

static unsigned nconns;
static unsigned long server_closed, server_bytes;
static lure_tcp_t server;

static void s_alloc(lure_handle_t *h, size_t suggested, lure_buf_t *buf) {
  struct sconn *c = (struct sconn *) h;

  *buf = lure_buf_init(c->buf, sizeof(c->buf));
}

static void s_close(lure_handle_t *h) {
  free(h);
  server_closed++;
  if (server_closed == nconns)
    lure_close((lure_handle_t *) &server, NULL);
}

static void s_written(lure_write_t *w, int status) {
  struct sreq *r = (struct sreq *) w;
  struct sconn *c = (struct sconn *) w->handle;

  SCHECK(status == 0);
  free(r->copy);
  free(r);
  c->pending_writes--;
  if (c->eof && c->pending_writes == 0)
    lure_close((lure_handle_t *) c, s_close);
}

static void s_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct sconn *c = (struct sconn *) s;
  struct sreq *r;
  lure_buf_t b;

  if (n == LURE_EOF) {
    c->eof = 1;
    lure_read_stop(s);
    if (c->pending_writes == 0)
      lure_close((lure_handle_t *) c, s_close);
    return;
  }
  SCHECK(n >= 0);
  if (n == 0)
    return;
  server_bytes += (unsigned long) n;
  r = malloc(sizeof(*r));
  SCHECK(r != NULL);
  r->copy = malloc((size_t) n);
  SCHECK(r->copy != NULL);
  memcpy(r->copy, buf->base, (size_t) n);
  b = lure_buf_init(r->copy, (unsigned) n);
  c->pending_writes++;
  SOK(lure_write(&r->w, s, &b, 1, s_written));
}

static void s_conn(lure_stream_t *srv, int status) {
  struct sconn *c;

  SCHECK(status == 0);
  c = calloc(1, sizeof(*c));
  SCHECK(c != NULL);
  SOK(lure_tcp_init(srv->loop, &c->tcp));
  SOK(lure_accept(srv, (lure_stream_t *) c));
  SOK(lure_read_start((lure_stream_t *) c, s_alloc, s_read));
}

/* The child: echo until nconns connections have come and gone. */
static void server_main(int lfd) {
  lure_loop_t loop;
  int fds;

  alarm(150);
  fds = stress_fd_count();
  SOK(lure_loop_init(&loop));
  SOK(lure_tcp_init(&loop, &server));
  SOK(lure_tcp_open(&server, lfd));
  SOK(lure_listen((lure_stream_t *) &server, 16384, s_conn));
  SOK(lure_run(&loop, LURE_RUN_DEFAULT));
  SCHECK(server_closed == nconns);
  SCHECK(server_bytes == (unsigned long) nconns * MSG);
  SOK(lure_loop_close(&loop));
  /* lfd was closed with the listener. */
  SCHECK(stress_fd_count() == fds - 1);
  _exit(0);
}

/* ---- the client side ---------------------------------------------------- */

struct cconn {
  lure_tcp_t tcp;
  lure_connect_t connect;
  lure_write_t write;
  unsigned id;
  unsigned got;
  uint64_t sum;
  char out[MSG];
  char in[MSG];
  int connected, written, closed;
};

static struct cconn *cl;
static unsigned long c_done, c_closed;

static void c_close(lure_handle_t *h) {
  struct cconn *c = (struct cconn *) h;

  SCHECK(c->closed == 0);
  c->closed = 1;
  c_closed++;
}

static void c_alloc(lure_handle_t *h, size_t suggested, lure_buf_t *buf) {
  struct cconn *c = (struct cconn *) h;

  *buf = lure_buf_init(c->in + c->got, MSG - c->got);
}

static void c_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct cconn *c = (struct cconn *) s;
  size_t bad;

  if (n == 0)
    return;
  if (n < 0)
    stress_fail(__FILE__, __LINE__, "connection %u: read %s after %u bytes",
                c->id, lure_err_name((int) n), c->got);
  bad = stress_verify((unsigned char *) buf->base, (size_t) n, c->id + 100,
                      c->got);
  if (bad != (size_t) n)
    stress_fail(__FILE__, __LINE__, "connection %u: byte %u differs", c->id,
                c->got + (unsigned) bad);
  c->sum = stress_sum(c->sum, buf->base, (size_t) n);
  c->got += (unsigned) n;
  SCHECK(c->got <= MSG);
  if (c->got == MSG) {
    SCHECK(c->sum == stress_sum(STRESS_SUM_INIT, c->out, MSG));
    c_done++;
    lure_close((lure_handle_t *) c, c_close);
  }
}

static void c_written(lure_write_t *w, int status) {
  struct cconn *c = (struct cconn *) w->handle;

  SCHECK(status == 0);
  SCHECK(c->written == 0);
  c->written = 1;
}

static void c_connected(lure_connect_t *req, int status) {
  struct cconn *c = (struct cconn *) req->handle;
  lure_buf_t b = lure_buf_init(c->out, MSG);

  if (status != 0)
    stress_fail(__FILE__, __LINE__, "connection %u: connect: %s", c->id,
                lure_err_name(status));
  SCHECK(c->connected == 0);
  c->connected = 1;
  SOK(lure_read_start((lure_stream_t *) c, c_alloc, c_read));
  SOK(lure_write(&c->write, (lure_stream_t *) c, &b, 1, c_written));
}

int stress_conns(void) {
  struct rlimit rl;
  struct sockaddr_in addr;
  socklen_t alen = sizeof(addr);
  lure_loop_t loop;
  int lfd, status, fds;
  unsigned i;
  pid_t pid;
  double t0;

  SCHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    SCHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
  }
  nconns = WANTED;
  if (rl.rlim_cur < WANTED + 200) {
    nconns = rl.rlim_cur > 300 ? (unsigned) rl.rlim_cur - 200 : 100;
    printf("lure-stress: conns: RLIMIT_NOFILE hard limit %llu: %u "
           "connections instead of %u\n", (unsigned long long) rl.rlim_max,
           nconns, WANTED);
  }
  stress_fig.conns_wanted = WANTED;
  stress_watchdog(150, "10k TCP echo connections");
  fds = stress_fd_count();

  lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  SCHECK(lfd >= 0);
  stress_any_port(&addr);
  SCHECK(bind(lfd, (struct sockaddr *) &addr, sizeof(addr)) == 0);
  SCHECK(listen(lfd, 16384) == 0);
  SCHECK(getsockname(lfd, (struct sockaddr *) &addr, &alen) == 0);
  fflush(stdout);
  pid = fork();
  SCHECK(pid >= 0);
  if (pid == 0)
    server_main(lfd);
  close(lfd);

  t0 = stress_now();
  cl = calloc(nconns, sizeof(*cl));
  SCHECK(cl != NULL);
  SOK(lure_loop_init(&loop));
  for (i = 0; i < nconns; i++) {
    struct cconn *c = &cl[i];
    c->id = i;
    c->sum = STRESS_SUM_INIT;
    stress_fill((unsigned char *) c->out, MSG, i + 100, 0);
    SOK(lure_tcp_init(&loop, &c->tcp));
    SOK(lure_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *) &addr,
                         c_connected));
  }
  SOK(lure_run(&loop, LURE_RUN_DEFAULT));
  SCHECK(c_done == nconns && c_closed == nconns);
  for (i = 0; i < nconns; i++)
    SCHECK(cl[i].connected && cl[i].written && cl[i].closed);
  SOK(lure_loop_close(&loop));
  SCHECK(waitpid(pid, &status, 0) == pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    stress_fail(__FILE__, __LINE__, "the echo server process failed (status "
                "0x%x)", status);
  SCHECK(stress_fd_count() == fds);
  free(cl);
  stress_fig.conns = nconns;
  printf("lure-stress: conns: %u connections x %u bytes echoed and checked "
         "in %.1fs, every descriptor returned\n", nconns, MSG,
         stress_now() - t0);
  return 0;
}
