/*
 * stress-eintr.c - an EINTR storm: SIGALRM every 100 us (setitimer, a
 * handler installed without SA_RESTART, so that every blocking call the
 * signal lands in fails with EINTR) while one loop moves a TCP stream and
 * a pipe stream, writes and reads a file through fs requests and fires
 * timers.  Nothing may be lost: every byte arrives in order, every
 * callback comes exactly once, and the signals really came.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>

#include "stress.h"
#include "stress-xfer.h"

#define NFS 2000u
#define FSBLK 4096u
#define NTIMERS 200u

static volatile sig_atomic_t signals;

static void on_alarm(int sig) {
  (void) sig;
  signals++;
}

static lure_fs_t fsreq[NFS];
static unsigned char fsdone[NFS];
static unsigned char *fsdata;
static unsigned long fs_completed;
static int fs_fd, fs_reading;
static lure_loop_t *fs_loop;

static void fs_issue(unsigned i, int reading);

static void on_fs(lure_fs_t *req) {
  unsigned i = (unsigned) (uintptr_t) req->data;

  SCHECK(i < NFS);
  if (req->result != (ssize_t) FSBLK)
    stress_fail(__FILE__, __LINE__, "fs %s %u: result %zd (%s)",
                fs_reading ? "read" : "write", i, req->result,
                req->result < 0 ? lure_err_name((int) req->result) : "short");
  SCHECK(fsdone[i] == (fs_reading ? 1 : 0));
  fsdone[i]++;
  lure_fs_req_cleanup(req);
  if (fs_reading) {
    SCHECK(stress_verify(fsdata + (size_t) i * FSBLK, FSBLK, 9, (uint64_t) i *
                         FSBLK) == FSBLK);
  }
  fs_completed++;
  /* Every write done: read everything back, all at once. */
  if (!fs_reading && fs_completed == NFS) {
    fs_reading = 1;
    memset(fsdata, 0, (size_t) NFS * FSBLK);
    for (i = 0; i < NFS; i++)
      fs_issue(i, 1);
  }
}

static void fs_issue(unsigned i, int reading) {
  lure_buf_t b = lure_buf_init((char *) fsdata + (size_t) i * FSBLK, FSBLK);

  if (reading)
    SOK(lure_fs_read(fs_loop, &fsreq[i], fs_fd, &b, 1, (int64_t) i * FSBLK,
                     on_fs));
  else
    SOK(lure_fs_write(fs_loop, &fsreq[i], fs_fd, &b, 1, (int64_t) i * FSBLK,
                      on_fs));
  fsreq[i].data = (void *) (uintptr_t) i;
}

static lure_timer_t timers[NTIMERS];
static unsigned tfired[NTIMERS];

static void on_timer(lure_timer_t *t) {
  unsigned i = (unsigned) (t - timers);

  SCHECK(i < NTIMERS);
  tfired[i]++;
  lure_close((lure_handle_t *) t, NULL);
}

int stress_eintr(void) {
  struct sigaction sa, old;
  struct itimerval it, off;
  lure_loop_t loop;
  struct xfer *t, *p;
  char path[4096];
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
  int fds = stress_fd_count();
  size_t tcp_bytes = 32u << 20, pipe_bytes = 8u << 20;
  unsigned i;

  stress_watchdog(120, "EINTR storm");
  fsdata = malloc((size_t) NFS * FSBLK);
  SCHECK(fsdata != NULL);
  stress_fill(fsdata, (size_t) NFS * FSBLK, 9, 0);
  snprintf(path, sizeof(path), "%s/lure-stress-eintr.%d", dir, (int) getpid());
  fs_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  SCHECK(fs_fd >= 0);
  unlink(path);

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: interrupted calls fail with EINTR */
  SCHECK(sigaction(SIGALRM, &sa, &old) == 0);

  SOK(lure_loop_init(&loop));
  fs_loop = &loop;
  t = stress_transfer_start(&loop, XFER_TCP, tcp_bytes, 0, 9001);
  p = stress_transfer_start(&loop, XFER_PIPE, pipe_bytes, 0, 9002);
  for (i = 0; i < NFS; i++)
    fs_issue(i, 0);
  for (i = 0; i < NTIMERS; i++) {
    SOK(lure_timer_init(&loop, &timers[i]));
    SOK(lure_timer_start(&timers[i], on_timer, i % 50, 0));
  }

  memset(&it, 0, sizeof(it));
  it.it_interval.tv_usec = 100;
  it.it_value.tv_usec = 100;
  SCHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
  SOK(lure_run(&loop, LURE_RUN_DEFAULT));
  memset(&off, 0, sizeof(off));
  SCHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
  SCHECK(sigaction(SIGALRM, &old, NULL) == 0);

  stress_transfer_finish(t, NULL, NULL);
  stress_transfer_finish(p, NULL, NULL);
  SCHECK(fs_completed == 2 * NFS);
  for (i = 0; i < NFS; i++)
    SCHECK(fsdone[i] == 2);
  for (i = 0; i < NTIMERS; i++)
    SCHECK(tfired[i] == 1);
  SOK(lure_loop_close(&loop));
  close(fs_fd);
  free(fsdata);
  SCHECK(stress_fd_count() == fds);
  /* The storm must have been one: at least a signal a millisecond of a
   * run that takes well over a few. */
  SCHECK(signals > 50);
  stress_fig.eintr_signals = (unsigned long) signals;
  stress_fig.eintr_bytes = tcp_bytes + pipe_bytes + 2ul * NFS * FSBLK;
  printf("lure-stress: eintr: %lu SIGALRMs during %zu MiB over TCP, %zu MiB "
         "over a pipe, %u fs writes + %u reads, %u timers: nothing lost\n",
         (unsigned long) signals, tcp_bytes >> 20, pipe_bytes >> 20, NFS, NFS,
         NTIMERS);
  return 0;
}
