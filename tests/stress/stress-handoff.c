/*
 * stress-handoff.c - a loop handed from thread to thread, as libuv allows
 * (one thread at a time): set up in thread A and run in thread B; run to
 * completion in thread A, given new work, run in thread B; and a loop that
 * moves to a new thread for every one of several rounds.  The work of each
 * round is a timer, more fs reads than a 256-entry ring holds, a TCP
 * connect with an echo, and thread-pool work (stress_work_batch).  Every
 * callback once; a hang (issue 14 item 3: the ring's first thread owns it)
 * is caught by the watchdog.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "stress.h"
#include "stress-work.h"

/* ---- the work batch ---------------------------------------------------- */

#define ECHO_BYTES 65536u
#define FSBLK 512u

struct work_batch {
  lure_loop_t *loop;
  lure_timer_t timer;
  int timer_fired, timer_closed;
  unsigned nfs, fs_done;
  lure_fs_t *fs;
  unsigned char *fsbuf;
  int fd;
  lure_tcp_t listener, client, server;
  lure_connect_t connect;
  lure_write_t cw, sw;
  int connected, client_written, server_written, closes;
  char sbuf[ECHO_BYTES], cbuf[ECHO_BYTES], out[ECHO_BYTES];
  size_t sgot, cgot;
  lure_work_t work[4];
  int work_ran[4], work_done[4];
};

static void b_close(lure_handle_t *h) {
  struct work_batch *b = h->data;

  b->closes++;
}

static void b_timer(lure_timer_t *t) {
  struct work_batch *b = t->data;

  b->timer_fired++;
  lure_close((lure_handle_t *) t, b_close);
}

static void b_fs(lure_fs_t *req) {
  struct work_batch *b = req->data;
  unsigned i = (unsigned) (req - b->fs);

  SCHECK(i < b->nfs);
  if (req->result != (ssize_t) FSBLK)
    stress_fail(__FILE__, __LINE__, "fs read %u: %zd", i, req->result);
  SCHECK(stress_verify(b->fsbuf + (size_t) i * FSBLK, FSBLK, 33,
                       (uint64_t) (i % 64) * FSBLK) == FSBLK);
  lure_fs_req_cleanup(req);
  b->fs_done++;
}

static void b_salloc(lure_handle_t *h, size_t s, lure_buf_t *buf) {
  struct work_batch *b = h->data;

  *buf = lure_buf_init(b->sbuf + b->sgot, (unsigned) (ECHO_BYTES - b->sgot));
}

static void b_calloc(lure_handle_t *h, size_t s, lure_buf_t *buf) {
  struct work_batch *b = h->data;

  *buf = lure_buf_init(b->cbuf + b->cgot, (unsigned) (ECHO_BYTES - b->cgot));
}

static void b_swritten(lure_write_t *w, int status) {
  struct work_batch *b = w->handle->data;

  SCHECK(status == 0);
  b->server_written++;
  lure_close((lure_handle_t *) &b->server, b_close);
}

static void b_sread(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct work_batch *b = s->data;
  lure_buf_t o;

  if (n == 0)
    return;
  SCHECK(n > 0);
  b->sgot += (size_t) n;
  if (b->sgot == ECHO_BYTES) {
    SOK(lure_read_stop(s));
    o = lure_buf_init(b->sbuf, ECHO_BYTES);
    SOK(lure_write(&b->sw, s, &o, 1, b_swritten));
  }
}

static void b_cread(lure_stream_t *s, ssize_t n, const lure_buf_t *buf) {
  struct work_batch *b = s->data;

  if (n == 0)
    return;
  SCHECK(n > 0);
  b->cgot += (size_t) n;
  if (b->cgot == ECHO_BYTES) {
    SCHECK(memcmp(b->cbuf, b->out, ECHO_BYTES) == 0);
    lure_close((lure_handle_t *) s, b_close);
  }
}

static void b_cwritten(lure_write_t *w, int status) {
  struct work_batch *b = w->handle->data;

  SCHECK(status == 0);
  b->client_written++;
}

static void b_connected(lure_connect_t *req, int status) {
  struct work_batch *b = req->handle->data;
  lure_buf_t o = lure_buf_init(b->out, ECHO_BYTES);

  SCHECK(status == 0);
  b->connected++;
  SOK(lure_read_start(req->handle, b_calloc, b_cread));
  SOK(lure_write(&b->cw, req->handle, &o, 1, b_cwritten));
}

static void b_conn(lure_stream_t *l, int status) {
  struct work_batch *b = l->data;

  SCHECK(status == 0);
  SOK(lure_tcp_init(l->loop, &b->server));
  b->server.data = b;
  SOK(lure_accept(l, (lure_stream_t *) &b->server));
  SOK(lure_read_start((lure_stream_t *) &b->server, b_salloc, b_sread));
  lure_close((lure_handle_t *) l, b_close);
}

static void b_work(lure_work_t *w) {
  struct work_batch *b = w->data;

  usleep(1000);
  b->work_ran[w - b->work]++;
}

static void b_after_work(lure_work_t *w, int status) {
  struct work_batch *b = w->data;

  SCHECK(status == 0);
  b->work_done[w - b->work]++;
}

struct work_batch *work_batch_start(lure_loop_t *loop, unsigned nfs) {
  struct work_batch *b = calloc(1, sizeof(*b));
  char path[4096];
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
  struct sockaddr_in addr;
  unsigned i;

  SCHECK(b != NULL);
  b->loop = loop;
  b->nfs = nfs;
  /* A file of 64 blocks; read i reads block i % 64. */
  snprintf(path, sizeof(path), "%s/lure-stress-work.%d.%p", dir,
           (int) getpid(), (void *) b);
  b->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  SCHECK(b->fd >= 0);
  unlink(path);
  b->fsbuf = malloc((size_t) (nfs > 64 ? nfs : 64) * FSBLK);
  SCHECK(b->fsbuf != NULL);
  stress_fill(b->fsbuf, 64 * FSBLK, 33, 0);
  SCHECK(pwrite(b->fd, b->fsbuf, 64 * FSBLK, 0) == 64 * FSBLK);
  memset(b->fsbuf, 0, (size_t) nfs * FSBLK);
  b->fs = calloc(nfs, sizeof(*b->fs));
  SCHECK(b->fs != NULL);
  for (i = 0; i < nfs; i++) {
    lure_buf_t buf = lure_buf_init((char *) b->fsbuf + (size_t) i * FSBLK,
                                   FSBLK);
    SOK(lure_fs_read(loop, &b->fs[i], b->fd, &buf, 1,
                     (int64_t) (i % 64) * FSBLK, b_fs));
    b->fs[i].data = b;
  }

  SOK(lure_timer_init(loop, &b->timer));
  b->timer.data = b;
  SOK(lure_timer_start(&b->timer, b_timer, 5, 0));

  stress_fill((unsigned char *) b->out, ECHO_BYTES, 34, 0);
  SOK(lure_tcp_init(loop, &b->listener));
  b->listener.data = b;
  stress_any_port(&addr);
  SOK(lure_tcp_bind(&b->listener, (struct sockaddr *) &addr, 0));
  SOK(lure_listen((lure_stream_t *) &b->listener, 4, b_conn));
  stress_tcp_addr(&b->listener, &addr);
  SOK(lure_tcp_init(loop, &b->client));
  b->client.data = b;
  SOK(lure_tcp_connect(&b->connect, &b->client, (struct sockaddr *) &addr,
                       b_connected));

  for (i = 0; i < 4; i++) {
    b->work[i].data = b;
    SOK(lure_queue_work(loop, &b->work[i], b_work, b_after_work));
  }
  return b;
}

int work_batch_done(const struct work_batch *b) {
  return b->closes == 4 && b->fs_done == b->nfs && b->work_done[0] &&
         b->work_done[1] && b->work_done[2] && b->work_done[3];
}

void work_batch_check(struct work_batch *b) {
  int i;

  SCHECK(b->timer_fired == 1);
  SCHECK(b->fs_done == b->nfs);
  SCHECK(b->connected == 1 && b->client_written == 1 &&
         b->server_written == 1);
  SCHECK(b->sgot == ECHO_BYTES && b->cgot == ECHO_BYTES);
  SCHECK(b->closes == 4); /* timer, listener, server, client */
  for (i = 0; i < 4; i++)
    SCHECK(b->work_ran[i] == 1 && b->work_done[i] == 1);
  close(b->fd);
  free(b->fs);
  free(b->fsbuf);
  free(b);
}

/* ---- the hand-offs ------------------------------------------------------ */

struct job {
  lure_loop_t *loop;
  struct work_batch *batch;
  int setup, run;
  unsigned nfs;
};

static void *job_main(void *arg) {
  struct job *j = arg;

  if (j->setup)
    j->batch = work_batch_start(j->loop, j->nfs);
  if (j->run)
    SOK(lure_run(j->loop, LURE_RUN_DEFAULT));
  return NULL;
}

static void in_thread(struct job *j) {
  pthread_t t;

  SCHECK(pthread_create(&t, NULL, job_main, j) == 0);
  SCHECK(pthread_join(t, NULL) == 0);
}

int stress_handoff(void) {
  lure_loop_t loop;
  struct job j;
  int fds = stress_fd_count(), round;

  stress_watchdog(60, "a loop handed to another thread");

  /* 1. Set up in thread A, run in thread B. */
  SOK(lure_loop_init(&loop));
  memset(&j, 0, sizeof(j));
  j.loop = &loop;
  j.nfs = 300;
  j.setup = 1;
  in_thread(&j);                 /* A */
  j.setup = 0;
  j.run = 1;
  in_thread(&j);                 /* B */
  work_batch_check(j.batch);
  SOK(lure_loop_close(&loop));
  stress_fig.handoff_cases++;

  /* 2. Set up and run to completion in A; new work; run in B. */
  SOK(lure_loop_init(&loop));
  j.setup = 1;
  j.run = 1;
  in_thread(&j);                 /* A */
  work_batch_check(j.batch);
  j.batch = work_batch_start(&loop, 300); /* main thread */
  j.setup = 0;
  in_thread(&j);                 /* B */
  work_batch_check(j.batch);
  SOK(lure_loop_close(&loop));
  stress_fig.handoff_cases++;

  /* 3. Every round in a new thread, set up by the one before. */
  SOK(lure_loop_init(&loop));
  j.batch = work_batch_start(&loop, 40);
  for (round = 0; round < 4; round++) {
    struct work_batch *prev = j.batch;
    j.setup = 0;
    j.run = 1;
    in_thread(&j);
    work_batch_check(prev);
    j.batch = work_batch_start(&loop, 40 + 100 * (unsigned) round);
  }
  j.setup = 0;
  in_thread(&j);
  work_batch_check(j.batch);
  SOK(lure_loop_close(&loop));
  stress_fig.handoff_cases++;

  /* 4. The default loop too: set up in main, run in a thread, then run in
   * main again with new work. */
  j.loop = lure_default_loop();
  SCHECK(j.loop != NULL);
  j.batch = work_batch_start(j.loop, 260);
  in_thread(&j);
  work_batch_check(j.batch);
  j.batch = work_batch_start(j.loop, 260);
  SOK(lure_run(j.loop, LURE_RUN_DEFAULT));
  work_batch_check(j.batch);
  SOK(lure_loop_close(j.loop));
  stress_fig.handoff_cases++;

  SCHECK(stress_fd_count() == fds);
  printf("lure-stress: handoff: %d cases (set up in A, run in B; run in A, "
         "new work, run in B; a new thread each round; the default loop)\n",
         stress_fig.handoff_cases);
  return 0;
}
