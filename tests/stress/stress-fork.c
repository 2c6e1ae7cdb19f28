/*
 * stress-fork.c - fork(2) with every kind of request in flight: a timer, fs
 * writes and reads, a TCP write of 16 MiB partly sent (the peer does not
 * read yet), UDP sends and a receive, an async send and thread-pool work.
 * Three cases fork at three points: before the loop ever ran, after one
 * non-blocking tick, and after a few (mid-transfer).
 *
 * The child calls lure_loop_fork(), closes every inherited handle, sends
 * the inherited async handle once more, then does fresh work of its own on
 * the same loop (stress_work_batch: a timer, fs reads, a TCP connect and
 * echo, pool work) and checks that it all completes.  Inherited requests
 * may be cancelled, never performed: an inherited write that calls back
 * with success in the child is a failure (it sent the parent's bytes).
 *
 * The parent runs its loop to the end: every request calls back exactly
 * once, the peer (a thread reading the other end with plain read(2))
 * receives exactly the bytes written, in order (no second copy from the
 * child), the file holds what was written, each datagram arrives once,
 * and the child exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "stress.h"
#include "stress-work.h"

#define TCP_BYTES (16u << 20)
#define NFS 64u
#define FSBLK 4096u
#define NDGRAM 10u
#define NWORK 4u

static int in_child;

struct fk {
  lure_loop_t loop;
  lure_timer_t timer;
  int timer_fired;
  lure_fs_t wfs[NFS], rfs[NFS];
  int wdone[NFS], rdone[NFS];
  unsigned char *wbuf, *rbuf;
  int fd;
  lure_tcp_t tcp;
  lure_write_t tw;
  int tw_done;
  int peer_fd;
  unsigned char *tbuf;
  lure_udp_t u1, u2;
  lure_udp_send_t us[NDGRAM];
  int us_done[NDGRAM];
  int dgram_seen[NDGRAM];
  unsigned char dbuf[NDGRAM][64];
  char rcv[2048];
  lure_async_t async;
  int async_fired;
  lure_work_t work[NWORK];
  int work_ran[NWORK], work_done[NWORK];
  int closes;
  int child_inherited_cbs;
  /* at the fork: datagrams not yet sent, bytes of the TCP write not yet
   * written; in the child: successes reported for inherited requests */
  size_t udp_unsent_at_fork, tcp_unsent_at_fork;
  unsigned child_udp_ok;
  lure_timer_t reaper;
  pid_t child;
  int child_status, child_reaped, after_reap_ticks;
};

static struct fk *F;

/* The peer: reads the TCP stream with plain read(2) until EOF. */
struct peer {
  int fd;
  size_t got;
  uint64_t sum;
  size_t bad_at;
};

static void *peer_main(void *arg) {
  struct peer *p = arg;
  static unsigned char buf[1 << 16];
  ssize_t n;

  p->bad_at = (size_t) -1;
  for (;;) {
    n = read(p->fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (p->bad_at == (size_t) -1) {
      size_t k = stress_verify(buf, (size_t) n, 61, p->got);
      if (k != (size_t) n)
        p->bad_at = p->got + k;
    }
    p->sum = stress_sum(p->sum, buf, (size_t) n);
    p->got += (size_t) n;
  }
  return NULL;
}

static void on_close(lure_handle_t *h) {
  F->closes++;
}

static void on_timer(lure_timer_t *t) {
  SCHECK(!in_child);
  F->timer_fired++;
  lure_close((lure_handle_t *) t, on_close);
}

static void on_rfs(lure_fs_t *req) {
  unsigned i = (unsigned) (req - F->rfs);

  if (in_child) { /* done before the fork; the child does nothing more */
    F->child_inherited_cbs++;
    return;
  }
  SCHECK(i < NFS && F->rdone[i] == 0);
  F->rdone[i] = 1;
  SCHECK(req->result == (ssize_t) FSBLK);
  lure_fs_req_cleanup(req);
}

static void on_wfs(lure_fs_t *req) {
  unsigned i = (unsigned) (req - F->wfs);
  lure_buf_t b;

  if (in_child) { /* done before the fork; the child does nothing more */
    F->child_inherited_cbs++;
    return;
  }
  SCHECK(i < NFS && F->wdone[i] == 0);
  F->wdone[i] = 1;
  if (req->result != (ssize_t) FSBLK)
    stress_fail(__FILE__, __LINE__, "fs write %u: %zd", i, req->result);
  lure_fs_req_cleanup(req);
  /* Read the block back once written. */
  b = lure_buf_init((char *) F->rbuf + (size_t) i * FSBLK, FSBLK);
  SOK(lure_fs_read(&F->loop, &F->rfs[i], F->fd, &b, 1, (int64_t) i * FSBLK,
                   on_rfs));
}

static void on_tcp_written(lure_write_t *w, int status) {
  if (in_child) {
    /* Cancelled by the close; success only if it was all written before
     * the fork, else the child sent the parent's bytes again. */
    if (status == 0 && F->tcp_unsent_at_fork != 0)
      stress_fail(__FILE__, __LINE__, "the child completed the parent's TCP "
                  "write, %zu bytes of which were unsent at the fork",
                  F->tcp_unsent_at_fork);
    F->child_inherited_cbs++;
    return;
  }
  SCHECK(F->tw_done == 0);
  F->tw_done = 1;
  if (status != 0)
    stress_fail(__FILE__, __LINE__, "TCP write: %s", lure_err_name(status));
  lure_close((lure_handle_t *) &F->tcp, on_close);
}

static void on_udp_sent(lure_udp_send_t *req, int status) {
  unsigned i = (unsigned) (req - F->us);

  if (in_child) {
    /* A datagram the parent sent before the fork may report its success
     * here too (the request is in both copies of the loop); one that was
     * still queued must be cancelled, not sent. */
    if (status == 0 && ++F->child_udp_ok > NDGRAM - F->udp_unsent_at_fork)
      stress_fail(__FILE__, __LINE__, "the child completed the parent's UDP "
                  "send %u (%zu of %u were unsent at the fork)", i,
                  F->udp_unsent_at_fork, NDGRAM);
    F->child_inherited_cbs++;
    return;
  }
  SCHECK(i < NDGRAM && F->us_done[i] == 0);
  F->us_done[i] = 1;
  SCHECK(status == 0);
}

static void on_ualloc(lure_handle_t *h, size_t s, lure_buf_t *buf) {
  *buf = lure_buf_init(F->rcv, sizeof(F->rcv));
}

static void on_urecv(lure_udp_t *u, ssize_t n, const lure_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags) {
  unsigned i, k, done = 0;

  if (n == 0)
    return;
  SCHECK(!in_child);
  SCHECK(n == 64);
  i = (unsigned char) buf->base[0];
  SCHECK(i < NDGRAM);
  SCHECK(memcmp(buf->base, F->dbuf[i], 64) == 0);
  if (F->dgram_seen[i] != 0)
    stress_fail(__FILE__, __LINE__, "datagram %u received twice", i);
  F->dgram_seen[i] = 1;
  for (k = 0; k < NDGRAM; k++)
    done += (unsigned) F->dgram_seen[k];
  (void) done;
}

/* The parent keeps receiving until the child has exited (and a little
 * more), so that a datagram the child sent again would be seen twice. */
static void on_reaper(lure_timer_t *t) {
  unsigned k, done = 0;

  if (!F->child_reaped) {
    pid_t w = waitpid(F->child, &F->child_status, WNOHANG);
    SCHECK(w == 0 || w == F->child);
    if (w == F->child)
      F->child_reaped = 1;
    return;
  }
  for (k = 0; k < NDGRAM; k++)
    done += (unsigned) F->dgram_seen[k];
  if (done < NDGRAM || ++F->after_reap_ticks < 4)
    return;
  lure_close((lure_handle_t *) &F->u1, on_close);
  lure_close((lure_handle_t *) &F->u2, on_close);
  lure_close((lure_handle_t *) &F->async, on_close);
  lure_close((lure_handle_t *) t, on_close);
}

static void on_async(lure_async_t *a) {
  F->async_fired++;
}

static void on_work(lure_work_t *w) {
  usleep(20000);
  F->work_ran[w - F->work]++;
}

static void on_after_work(lure_work_t *w, int status) {
  unsigned i = (unsigned) (w - F->work);

  if (in_child) { /* done before the fork */
    F->child_inherited_cbs++;
    return;
  }
  SCHECK(status == 0 && F->work_done[i] == 0);
  F->work_done[i] = 1;
}

static void tcp_pair(int *a, int *b) {
  struct sockaddr_in addr;
  socklen_t alen = sizeof(addr);
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  SCHECK(l >= 0);
  stress_any_port(&addr);
  SCHECK(bind(l, (struct sockaddr *) &addr, sizeof(addr)) == 0);
  SCHECK(listen(l, 1) == 0);
  SCHECK(getsockname(l, (struct sockaddr *) &addr, &alen) == 0);
  *a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  SCHECK(*a >= 0);
  SCHECK(connect(*a, (struct sockaddr *) &addr, sizeof(addr)) == 0);
  *b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  SCHECK(*b >= 0);
  close(l);
}

static void close_inherited(lure_handle_t *h, void *arg) {
  if (h == (lure_handle_t *) &F->async || lure_is_closing(h) ||
      h == (lure_handle_t *) &F->reaper)
    return;
  lure_close(h, NULL);
}

static void child_main(void) {
  struct work_batch *b;
  int i;

  in_child = 1;
  alarm(60);
  SOK(lure_loop_fork(&F->loop));
  lure_walk(&F->loop, close_inherited, NULL);
  /* The inherited async handle works in the child (issue 14 item 2). */
  F->async_fired = 0;
  SOK(lure_async_send(&F->async));
  b = work_batch_start(&F->loop, 100);
  /* Inherited fs and pool requests belong to the parent's ring and
   * threads: they stay active here, so the loop runs until the fresh work
   * is done rather than until it has nothing left. */
  for (i = 0; i < 100000 && !(work_batch_done(b) && F->async_fired); i++)
    (void) lure_run(&F->loop, LURE_RUN_ONCE);
  SCHECK(F->async_fired >= 1);
  work_batch_check(b);
  /* The inherited callbacks the child may see are cancellations only, and
   * checked in their callbacks. */
  _exit(0);
}

static int case_ticks;

static void fork_dump(void) {
  unsigned k, w = 0, r = 0, u = 0, d = 0, wk = 0;

  for (k = 0; k < NFS; k++) {
    w += (unsigned) F->wdone[k];
    r += (unsigned) F->rdone[k];
  }
  for (k = 0; k < NDGRAM; k++) {
    u += (unsigned) F->us_done[k];
    d += (unsigned) F->dgram_seen[k];
  }
  for (k = 0; k < NWORK; k++)
    wk += (unsigned) F->work_done[k];
  fprintf(stderr, "lure-stress: fork case after %d ticks, parent state: "
          "timer %d, fs writes %u/%u reads %u/%u, TCP write %d (%zu unsent "
          "at fork, queue now %zu), UDP sends %u/%u received %u/%u, async "
          "%d, work %u/%u, closes %d, child reaped %d status 0x%x\n",
          case_ticks, F->timer_fired, w, NFS, r, NFS, F->tw_done,
          F->tcp_unsent_at_fork,
          lure_stream_get_write_queue_size((lure_stream_t *) &F->tcp), u,
          NDGRAM, d, NDGRAM, F->async_fired, wk, NWORK, F->closes,
          F->child_reaped, F->child_status);
}

static void one_case(int ticks) {
  struct fk *f = calloc(1, sizeof(*f));
  struct peer peer;
  pthread_t pt;
  char path[4096];
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
  struct sockaddr_in a2;
  int len, a, b, status, i;
  unsigned k;
  pid_t pid;
  lure_buf_t buf;

  SCHECK(f != NULL);
  F = f;
  case_ticks = ticks;
  stress_dump = fork_dump;
  SOK(lure_loop_init(&f->loop));
  /* timer */
  SOK(lure_timer_init(&f->loop, &f->timer));
  SOK(lure_timer_start(&f->timer, on_timer, 30, 0));
  /* fs writes (each then read back) */
  snprintf(path, sizeof(path), "%s/lure-stress-fork.%d", dir, (int) getpid());
  f->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  SCHECK(f->fd >= 0);
  unlink(path);
  f->wbuf = malloc(NFS * FSBLK);
  f->rbuf = calloc(NFS, FSBLK);
  SCHECK(f->wbuf != NULL && f->rbuf != NULL);
  stress_fill(f->wbuf, NFS * FSBLK, 62, 0);
  for (k = 0; k < NFS; k++) {
    buf = lure_buf_init((char *) f->wbuf + (size_t) k * FSBLK, FSBLK);
    SOK(lure_fs_write(&f->loop, &f->wfs[k], f->fd, &buf, 1,
                      (int64_t) k * FSBLK, on_wfs));
  }
  /* TCP: 16 MiB to a peer that reads only after the fork */
  tcp_pair(&a, &b);
  f->peer_fd = b;
  f->tbuf = malloc(TCP_BYTES);
  SCHECK(f->tbuf != NULL);
  stress_fill(f->tbuf, TCP_BYTES, 61, 0);
  SOK(lure_tcp_init(&f->loop, &f->tcp));
  SOK(lure_tcp_open(&f->tcp, a));
  buf = lure_buf_init((char *) f->tbuf, TCP_BYTES);
  SOK(lure_write(&f->tw, (lure_stream_t *) &f->tcp, &buf, 1, on_tcp_written));
  /* UDP: u1 sends NDGRAM datagrams to u2, which receives */
  stress_any_port(&a2);
  SOK(lure_udp_init(&f->loop, &f->u1));
  SOK(lure_udp_init(&f->loop, &f->u2));
  SOK(lure_udp_bind(&f->u2, (struct sockaddr *) &a2, 0));
  len = sizeof(a2);
  SOK(lure_udp_getsockname(&f->u2, (struct sockaddr *) &a2, &len));
  SOK(lure_udp_recv_start(&f->u2, on_ualloc, on_urecv));
  for (k = 0; k < NDGRAM; k++) {
    stress_fill(f->dbuf[k], 64, 63 + k, 0);
    f->dbuf[k][0] = (unsigned char) k;
    buf = lure_buf_init((char *) f->dbuf[k], 64);
    SOK(lure_udp_send(&f->us[k], &f->u1, &buf, 1, (struct sockaddr *) &a2,
                      on_udp_sent));
  }
  /* async send pending, pool work in flight */
  SOK(lure_async_init(&f->loop, &f->async, on_async));
  SOK(lure_async_send(&f->async));
  for (k = 0; k < NWORK; k++)
    SOK(lure_queue_work(&f->loop, &f->work[k], on_work, on_after_work));

  for (i = 0; i < ticks; i++)
    (void) lure_run(&f->loop, LURE_RUN_NOWAIT);

  f->udp_unsent_at_fork = lure_udp_get_send_queue_count(&f->u1);
  f->tcp_unsent_at_fork =
      lure_stream_get_write_queue_size((lure_stream_t *) &f->tcp);
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  SCHECK(pid >= 0);
  if (pid == 0)
    child_main();
  f->child = pid;
  SOK(lure_timer_init(&f->loop, &f->reaper));
  SOK(lure_timer_start(&f->reaper, on_reaper, 5, 5));

  memset(&peer, 0, sizeof(peer));
  peer.fd = b;
  peer.sum = STRESS_SUM_INIT;
  SCHECK(pthread_create(&pt, NULL, peer_main, &peer) == 0);
  SOK(lure_run(&f->loop, LURE_RUN_DEFAULT));
  SCHECK(f->child_reaped);
  status = f->child_status;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    stress_fail(__FILE__, __LINE__, "fork case after %d ticks: the child "
                "failed (status 0x%x)", ticks, status);
  /* The child has exited, so its copy of the socket is closed: EOF. */
  SCHECK(pthread_join(pt, NULL) == 0);
  close(b);
  if (peer.got != TCP_BYTES || peer.bad_at != (size_t) -1)
    stress_fail(__FILE__, __LINE__, "fork case after %d ticks: the peer got "
                "%zu bytes for %u written, first wrong byte at %zd", ticks,
                peer.got, TCP_BYTES, (ssize_t) peer.bad_at);
  SCHECK(peer.sum == stress_sum(STRESS_SUM_INIT, f->tbuf, TCP_BYTES));
  SCHECK(f->timer_fired == 1 && f->tw_done == 1 && f->async_fired == 1);
  for (k = 0; k < NFS; k++)
    SCHECK(f->wdone[k] == 1 && f->rdone[k] == 1);
  SCHECK(memcmp(f->wbuf, f->rbuf, NFS * FSBLK) == 0);
  for (k = 0; k < NDGRAM; k++)
    SCHECK(f->us_done[k] == 1 && f->dgram_seen[k] == 1);
  for (k = 0; k < NWORK; k++)
    SCHECK(f->work_ran[k] == 1 && f->work_done[k] == 1);
  SCHECK(f->closes == 6); /* timer, tcp, u1, u2, async, reaper */
  SOK(lure_loop_close(&f->loop));
  close(f->fd);
  free(f->wbuf);
  free(f->rbuf);
  free(f->tbuf);
  free(f);
}

/* ---- receives the child never asked for ------------------------------
 * Data waits in a UDP socket and a TCP socket whose handles are reading
 * when the process forks.  The child only calls lure_loop_fork(), closes
 * every handle, runs its loop once and exits; the parent waits for it, then
 * runs: it must receive every byte and datagram.  A receive armed by the
 * fork hook (the ring's, prepared before the close and submitted with the
 * child's first wait) took them in the child. */

static unsigned steal_dgrams;
static size_t steal_bytes;
static lure_udp_t steal_udp;
static lure_tcp_t steal_tcp;
static char steal_buf[65536];

static void steal_alloc(lure_handle_t *h, size_t s, lure_buf_t *buf) {
  *buf = lure_buf_init(steal_buf, sizeof(steal_buf));
}

static void steal_urecv(lure_udp_t *u, ssize_t n, const lure_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  if (n <= 0)
    return;
  SCHECK(!in_child);
  SCHECK(n == 100);
  SCHECK((unsigned char) buf->base[0] == steal_dgrams);
  steal_dgrams++;
  if (steal_dgrams == 5)
    lure_close((lure_handle_t *) u, NULL);
}

static void steal_read(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  if (n == 0)
    return;
  SCHECK(!in_child);
  SCHECK(n > 0);
  SCHECK(stress_verify((unsigned char *) buf->base, (size_t) n, 77,
                       steal_bytes) == (size_t) n);
  steal_bytes += (size_t) n;
  if (steal_bytes == 4096)
    lure_close((lure_handle_t *) s, NULL);
}

static void steal_timeout(lure_timer_t *t) {
  stress_fail(__FILE__, __LINE__, "after a child that only closed its "
              "handles, the parent received %u of 5 datagrams and %zu of "
              "4096 bytes in 5s (the child took the rest)", steal_dgrams,
              steal_bytes);
}

static void close_all(lure_handle_t *h, void *arg) {
  if (!lure_is_closing(h))
    lure_close(h, NULL);
}

static void steal_case(void) {
  lure_loop_t loop;
  struct sockaddr_in addr;
  unsigned char d[4096];
  int len, s, a, b, status;
  unsigned k;
  pid_t pid;

  steal_dgrams = 0;
  steal_bytes = 0;
  SOK(lure_loop_init(&loop));
  stress_any_port(&addr);
  SOK(lure_udp_init(&loop, &steal_udp));
  SOK(lure_udp_bind(&steal_udp, (struct sockaddr *) &addr, 0));
  len = sizeof(addr);
  SOK(lure_udp_getsockname(&steal_udp, (struct sockaddr *) &addr, &len));
  SOK(lure_udp_recv_start(&steal_udp, steal_alloc, steal_urecv));
  tcp_pair(&a, &b);
  SOK(lure_tcp_init(&loop, &steal_tcp));
  SOK(lure_tcp_open(&steal_tcp, a));
  SOK(lure_read_start((lure_stream_t *) &steal_tcp, steal_alloc, steal_read));
  /* The data is there before the fork (plain calls, not the loop's). */
  s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  SCHECK(s >= 0);
  for (k = 0; k < 5; k++) {
    memset(d, 0, 100);
    d[0] = (unsigned char) k;
    SCHECK(sendto(s, d, 100, 0, (struct sockaddr *) &addr, sizeof(addr)) ==
           100);
  }
  close(s);
  stress_fill(d, sizeof(d), 77, 0);
  SCHECK(write(b, d, sizeof(d)) == (ssize_t) sizeof(d));

  fflush(stdout);
  fflush(stderr);
  pid = fork();
  SCHECK(pid >= 0);
  if (pid == 0) {
    in_child = 1;
    alarm(20);
    SOK(lure_loop_fork(&loop));
    lure_walk(&loop, close_all, NULL);
    SOK(lure_run(&loop, LURE_RUN_DEFAULT));
    _exit(0);
  }
  SCHECK(waitpid(pid, &status, 0) == pid);
  SCHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  {
    lure_timer_t guard;
    SOK(lure_timer_init(&loop, &guard));
    SOK(lure_timer_start(&guard, steal_timeout, 5000, 0));
    lure_unref((lure_handle_t *) &guard);
    SOK(lure_run(&loop, LURE_RUN_DEFAULT));
    lure_close((lure_handle_t *) &guard, NULL);
    SOK(lure_run(&loop, LURE_RUN_DEFAULT));
  }
  if (steal_dgrams != 5 || steal_bytes != sizeof(d))
    stress_fail(__FILE__, __LINE__, "after a child that only closed its "
                "handles, the parent received %u of 5 datagrams and %zu of "
                "%zu bytes", steal_dgrams, steal_bytes, sizeof(d));
  SOK(lure_loop_close(&loop));
  close(b);
}

int stress_fork(void) {
  static const int ticks[] = {0, 1, 4};
  int fds = stress_fd_count();
  unsigned i;

  stress_watchdog(60, "fork with requests in flight");
  for (i = 0; i < sizeof(ticks) / sizeof(ticks[0]); i++) {
    one_case(ticks[i]);
    stress_fig.fork_cases++;
  }
  stress_dump = NULL;
  steal_case();
  stress_fig.fork_cases++;
  SCHECK(stress_fd_count() == fds);
  printf("lure-stress: fork: %d cases (every kind of request in flight, fork "
         "after 0, 1 and 4 ticks; data waiting for reading handles), child "
         "and parent checked\n", stress_fig.fork_cases);
  return 0;
}
