/*
 * test-poll.c - poll handles: readiness of pipes and sockets, level
 * triggering, stop, hang-ups, and the descriptors lure refuses.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "harness.h"

struct poll_rec {
  int count;
  int status;
  int events;
  int all_events;
  int stop_on;  /* stop the handle when count reaches this (0: never) */
};

static void rec_cb(lure_poll_t *h, int status, int events) {
  struct poll_rec *r = h->data;

  r->count++;
  r->status = status;
  r->events = events;
  r->all_events |= events;
  if (r->stop_on != 0 && r->count == r->stop_on)
    ck_assert_int_eq(lure_poll_stop(h), 0);
}

static void make_pipe(int fds[2]) {
  ck_assert_int_eq(pipe(fds), 0);
}

START_TEST(poll_readable) {
  lure_loop_t loop;
  lure_poll_t p;
  lure_timer_t wd;
  struct poll_rec r = { 0, 0, 0, 0, 1 };
  int fds[2];

  make_pipe(fds);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the readable pipe was not reported");
  ck_assert_int_eq(lure_poll_init(&loop, &p, fds[0]), 0);
  p.data = &r;
  ck_assert_int_eq(lure_poll_start(&p, LURE_READABLE, rec_cb), 0);
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &p), 0);
  /* Nothing to read yet: NOWAIT reports nothing. */
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(r.count, 0);
  ck_assert_int_eq(write(fds[1], "x", 1), 1);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.count, 1);
  ck_assert_int_eq(r.status, 0);
  ck_assert_int_eq(r.events, LURE_READABLE);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &p), 0);
  lt_loop_finish(&loop);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

/* lure_poll_init_socket (libuv's uv_poll_init_socket): a socket pair's end
 * becomes readable when its peer writes; a bad socket is refused as by
 * lure_poll_init. */
START_TEST(poll_init_socket) {
  lure_loop_t loop;
  lure_poll_t p, bad;
  lure_timer_t wd;
  struct poll_rec r = { 0, 0, 0, 0, 1 };
  int sv[2];

  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the readable socket was not reported");
  ck_assert_int_eq(lure_poll_init_socket(&loop, &bad, -1), LURE_EBADF);
  ck_assert_int_eq(lure_poll_init_socket(NULL, &bad, sv[0]), LURE_EINVAL);
  ck_assert_int_eq(lure_poll_init_socket(&loop, &p, sv[0]), 0);
  ck_assert_int_ne(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
  p.data = &r;
  ck_assert_int_eq(lure_poll_start(&p, LURE_READABLE, rec_cb), 0);
  ck_assert_int_eq(write(sv[1], "x", 1), 1);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.count, 1);
  ck_assert_int_eq(r.events, LURE_READABLE);
  lt_loop_finish(&loop);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* Two poll handles on one descriptor: the second cannot start while the
 * first is active (LURE_EEXIST, as libuv), and can once it stops. */
START_TEST(poll_same_fd_twice) {
  lure_loop_t loop;
  lure_poll_t a, b;
  struct poll_rec r = { 0, 0, 0, 0, 1 };
  int sv[2];

  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_poll_init(&loop, &a, sv[0]), 0);
  ck_assert_int_eq(lure_poll_init(&loop, &b, sv[0]), 0);
  a.data = b.data = &r;
  ck_assert_int_eq(lure_poll_start(&a, LURE_READABLE, rec_cb), 0);
  ck_assert_int_eq(lure_poll_start(&b, LURE_READABLE, rec_cb), LURE_EEXIST);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &b), 0);
  /* Restarting the active one with other events is no conflict. */
  ck_assert_int_eq(lure_poll_start(&a, LURE_WRITABLE, rec_cb), 0);
  ck_assert_int_eq(lure_poll_stop(&a), 0);
  ck_assert_int_eq(lure_poll_start(&b, LURE_READABLE, rec_cb), 0);
  ck_assert_int_eq(write(sv[1], "x", 1), 1);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.count, 1);
  lure_close((lure_handle_t *) &a, NULL);
  lt_loop_finish(&loop);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

START_TEST(poll_writable) {
  lure_loop_t loop;
  lure_poll_t p;
  lure_timer_t wd;
  struct poll_rec r = { 0, 0, 0, 0, 1 };
  int fds[2];

  make_pipe(fds);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the writable pipe was not reported");
  ck_assert_int_eq(lure_poll_init(&loop, &p, fds[1]), 0);
  p.data = &r;
  ck_assert_int_eq(lure_poll_start(&p, LURE_WRITABLE, rec_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.count, 1);
  ck_assert_int_eq(r.status, 0);
  ck_assert_int_eq(r.events, LURE_WRITABLE);
  lt_loop_finish(&loop);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

/* Level-triggered: data left unread is reported again on every tick. */
START_TEST(poll_level_triggered) {
  lure_loop_t loop;
  lure_poll_t p;
  lure_timer_t wd;
  struct poll_rec r = { 0, 0, 0, 0, 0 };
  int fds[2];
  char buf[8];
  int i;

  make_pipe(fds);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 5000,
                "unread data was reported once only (edge-triggered?)");
  ck_assert_int_eq(lure_poll_init(&loop, &p, fds[0]), 0);
  p.data = &r;
  ck_assert_int_eq(lure_poll_start(&p, LURE_READABLE, rec_cb), 0);
  ck_assert_int_eq(write(fds[1], "xy", 2), 2);
  for (i = 1; i <= 5; i++) {
    ck_assert_int_ne(lure_run(&loop, LURE_RUN_ONCE), 0);
    ck_assert_int_eq(r.count, i);
    ck_assert_int_eq(r.events, LURE_READABLE);
  }
  /* Drained: no more callbacks. */
  ck_assert_int_eq(read(fds[0], buf, sizeof(buf)), 2);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_le(r.count, 6); /* a readiness harvested before the read */
  i = r.count;
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(r.count, i);
  /* New data: reported again. */
  ck_assert_int_eq(write(fds[1], "z", 1), 1);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_ONCE), 0);
  ck_assert_int_eq(r.count, i + 1);
  lt_loop_finish(&loop);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

static void never_poll_cb(lure_poll_t *h, int status, int events) {
  ck_abort_msg("a stopped poll handle got a callback (status %d, events %d)",
               status, events);
}

START_TEST(poll_stop) {
  lure_loop_t loop;
  lure_poll_t p;
  int fds[2];

  make_pipe(fds);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_poll_init(&loop, &p, fds[0]), 0);
  ck_assert_int_eq(lure_poll_start(&p, LURE_READABLE, never_poll_cb), 0);
  ck_assert_int_eq(lure_poll_stop(&p), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &p), 0);
  ck_assert_int_eq(lure_poll_stop(&p), 0);
  ck_assert_int_eq(write(fds[1], "x", 1), 1);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  /* Starting with no events stops too. */
  ck_assert_int_eq(lure_poll_start(&p, LURE_WRITABLE, never_poll_cb), 0);
  ck_assert_int_eq(lure_poll_start(&p, 0, never_poll_cb), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &p), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  lt_loop_finish(&loop);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

/* Two ready handles; whichever is reported first stops the other: the
 * other gets no callback, even if its readiness was already harvested in
 * the same batch. */
struct stopper {
  int *fired;
  lure_poll_t *other;
};

static void stopper_cb(lure_poll_t *h, int status, int events) {
  struct stopper *st = h->data;

  (*st->fired)++;
  ck_assert_int_eq(lure_poll_stop(st->other), 0);
  ck_assert_int_eq(lure_poll_stop(h), 0);
}

START_TEST(poll_stop_other_same_tick) {
  lure_loop_t loop;
  lure_poll_t a;
  lure_poll_t b;
  struct stopper sa;
  struct stopper sb;
  int fa[2];
  int fb[2];
  int fired = 0;

  make_pipe(fa);
  make_pipe(fb);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_poll_init(&loop, &a, fa[0]), 0);
  ck_assert_int_eq(lure_poll_init(&loop, &b, fb[0]), 0);
  sa.fired = sb.fired = &fired;
  sa.other = &b;
  sb.other = &a;
  a.data = &sa;
  b.data = &sb;
  ck_assert_int_eq(write(fa[1], "x", 1), 1);
  ck_assert_int_eq(write(fb[1], "x", 1), 1);
  ck_assert_int_eq(lure_poll_start(&a, LURE_READABLE, stopper_cb), 0);
  ck_assert_int_eq(lure_poll_start(&b, LURE_READABLE, stopper_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(fired, 1);
  lt_loop_finish(&loop);
  close(fa[0]);
  close(fa[1]);
  close(fb[0]);
  close(fb[1]);
}
END_TEST

/* The write end closed: the reader is told (readable, for EOF, or
 * disconnect when it asked for that). */
START_TEST(poll_pipe_hangup) {
  lure_loop_t loop;
  lure_poll_t p;
  lure_timer_t wd;
  struct poll_rec r = { 0, 0, 0, 0, 1 };
  int fds[2];

  make_pipe(fds);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the hang-up was not reported");
  ck_assert_int_eq(lure_poll_init(&loop, &p, fds[0]), 0);
  p.data = &r;
  ck_assert_int_eq(lure_poll_start(&p, LURE_READABLE | LURE_DISCONNECT, rec_cb), 0);
  close(fds[1]);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.count, 1);
  ck_assert_int_eq(r.status, 0);
  ck_assert(r.events & (LURE_READABLE | LURE_DISCONNECT));
  ck_assert_int_eq(r.events & ~(LURE_READABLE | LURE_DISCONNECT), 0);
  lt_loop_finish(&loop);
  close(fds[0]);
}
END_TEST

/* A stream socket whose peer shut down its writing side reports
 * LURE_DISCONNECT when asked. */
START_TEST(poll_socket_disconnect) {
  lure_loop_t loop;
  lure_poll_t p;
  lure_timer_t wd;
  struct poll_rec r = { 0, 0, 0, 0, 1 };
  int sv[2];

  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the peer's shutdown was not reported");
  ck_assert_int_eq(lure_poll_init(&loop, &p, sv[0]), 0);
  p.data = &r;
  ck_assert_int_eq(lure_poll_start(&p, LURE_READABLE | LURE_DISCONNECT, rec_cb), 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(r.count, 0);
  ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.count, 1);
  ck_assert_int_eq(r.status, 0);
  ck_assert(r.events & LURE_DISCONNECT);
  lt_loop_finish(&loop);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* Changing the events of a started handle takes effect. */
START_TEST(poll_change_events) {
  lure_loop_t loop;
  lure_poll_t p;
  lure_timer_t wd;
  struct poll_rec r = { 0, 0, 0, 0, 1 };
  int sv[2];

  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "a poll event was not reported");
  ck_assert_int_eq(lure_poll_init(&loop, &p, sv[0]), 0);
  p.data = &r;
  /* Writable, not readable. */
  ck_assert_int_eq(lure_poll_start(&p, LURE_READABLE | LURE_WRITABLE, rec_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.count, 1);
  ck_assert_int_eq(r.events, LURE_WRITABLE);
  /* Readable only: nothing until data comes. */
  r.count = 0;
  r.events = 0;
  ck_assert_int_eq(lure_poll_start(&p, LURE_WRITABLE, rec_cb), 0);
  ck_assert_int_eq(lure_poll_start(&p, LURE_READABLE, rec_cb), 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(r.count, 0);
  ck_assert_int_eq(write(sv[1], "x", 1), 1);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.count, 1);
  ck_assert_int_eq(r.events, LURE_READABLE);
  lt_loop_finish(&loop);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* A handle closed while watching, then a new handle on the same fd: the
 * new one gets the events, the old one nothing. */
START_TEST(poll_close_and_reuse_fd) {
  lure_loop_t loop;
  lure_poll_t old;
  lure_poll_t p;
  lure_timer_t wd;
  struct poll_rec r = { 0, 0, 0, 0, 1 };
  int fds[2];

  make_pipe(fds);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the new poll handle got nothing");
  ck_assert_int_eq(lure_poll_init(&loop, &old, fds[0]), 0);
  ck_assert_int_eq(lure_poll_start(&old, LURE_READABLE, never_poll_cb), 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0); /* armed */
  ck_assert_int_eq(lure_close((lure_handle_t *) &old, NULL), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);

  ck_assert_int_eq(lure_poll_init(&loop, &p, fds[0]), 0);
  p.data = &r;
  ck_assert_int_eq(lure_poll_start(&p, LURE_READABLE, rec_cb), 0);
  ck_assert_int_eq(write(fds[1], "x", 1), 1);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.count, 1);
  lt_loop_finish(&loop);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

/* Many ready descriptors at once, more than a small ring's submission
 * queue (and completion queue) holds: every one is reported, once; the
 * ring counts its early flushes. */
enum { NPIPES = 200 };
static int many_count[NPIPES];

static void many_cb(lure_poll_t *h, int status, int events) {
  int i = (int) (intptr_t) h->data;

  ck_assert_int_eq(status, 0);
  ck_assert(events & LURE_READABLE);
  many_count[i]++;
  lure_poll_stop(h);
}

START_TEST(poll_many) {
  lure_loop_t loop;
  lure_poll_t *p = calloc(NPIPES, sizeof(*p));
  int (*fds)[2] = calloc(NPIPES, sizeof(*fds));
  static const unsigned entries[] = { 1, 8, 256 };
  lure_loop_stats_t st;
  lure_timer_t wd;
  int i;

  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_nonnull(fds);
  lt_loop_init(&loop);
  /* A small ring, so the submission queue fills and must be flushed. */
  ck_assert_int_eq(lure_loop_configure(&loop, LURE_LOOP_RING_ENTRIES,
                                       entries[_i]), 0);
  lt_watchdog(&loop, &wd, 10000, "a ready descriptor was never reported");
  for (i = 0; i < NPIPES; i++) {
    many_count[i] = 0;
    make_pipe(fds[i]);
    ck_assert_int_eq(write(fds[i][1], "x", 1), 1);
    ck_assert_int_eq(lure_poll_init(&loop, &p[i], fds[i][0]), 0);
    p[i].data = (void *) (intptr_t) i;
    ck_assert_int_eq(lure_poll_start(&p[i], LURE_READABLE, many_cb), 0);
  }
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  for (i = 0; i < NPIPES; i++)
    ck_assert_msg(many_count[i] == 1, "pipe %d reported %d times", i,
                  many_count[i]);
  ck_assert_int_eq(lure_loop_stats(&loop, &st), 0);
  if (strcmp(lure_loop_backend(&loop), "io_uring") == 0 && entries[_i] < NPIPES)
    ck_assert_uint_gt(st.sq_full, 0);
  lt_loop_finish(&loop);
  for (i = 0; i < NPIPES; i++) {
    close(fds[i][0]);
    close(fds[i][1]);
  }
  free(fds);
  free(p);
}
END_TEST

START_TEST(poll_bad_fds) {
  lure_loop_t loop;
  lure_poll_t p;
  FILE *f;
  int fd;
  int rc;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_poll_init(&loop, &p, -1), LURE_EBADF);
  ck_assert_int_eq(lure_poll_init(&loop, &p, -12345), LURE_EBADF);
  /* A number that is not an open descriptor. */
  fd = open("/dev/null", O_RDONLY);
  ck_assert_int_ge(fd, 0);
  close(fd);
  ck_assert_int_eq(lure_poll_init(&loop, &p, fd), LURE_EBADF);
  ck_assert_int_eq(lure_poll_init(&loop, &p, 1 << 20), LURE_EBADF);

  /* A regular file is always ready: refused with EPERM, as epoll does,
   * whichever executor serves the loop (at init or at start). */
  f = tmpfile();
  ck_assert_ptr_nonnull(f);
  rc = lure_poll_init(&loop, &p, fileno(f));
  if (rc == 0) {
    rc = lure_poll_start(&p, LURE_READABLE, never_poll_cb);
    lure_close((lure_handle_t *) &p, NULL);
  }
  ck_assert_int_eq(rc, LURE_EPERM);
  fclose(f);
  lt_loop_finish(&loop);
}
END_TEST

START_TEST(poll_bad_arguments) {
  lure_loop_t loop;
  lure_poll_t p;
  lure_idle_t idle;
  int fds[2];

  make_pipe(fds);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_poll_init(NULL, &p, fds[0]), LURE_EINVAL);
  ck_assert_int_eq(lure_poll_init(&loop, NULL, fds[0]), LURE_EINVAL);
  ck_assert_int_eq(lure_poll_init(&loop, &p, fds[0]), 0);
  ck_assert_int_eq(lure_poll_start(&p, LURE_READABLE, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_poll_start(&p, 0x100, never_poll_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_poll_start(&p, -1, never_poll_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &p), 0);
  ck_assert_int_eq(lure_poll_start(NULL, LURE_READABLE, never_poll_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_poll_stop(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  ck_assert_int_eq(lure_poll_start((lure_poll_t *) &idle, LURE_READABLE,
                                   never_poll_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_close((lure_handle_t *) &p, NULL), 0);
  ck_assert_int_eq(lure_poll_start(&p, LURE_READABLE, never_poll_cb), LURE_EINVAL);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(lure_poll_start(&p, LURE_READABLE, never_poll_cb), LURE_EINVAL);
  ck_assert_int_eq(write(fds[1], "x", 1), 1);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  lt_loop_finish(&loop);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

/* The read end closed under a writer: an error condition, reported as
 * LURE_EBADF with no events, and the handle stops (as libuv does). */
START_TEST(poll_error_condition) {
  lure_loop_t loop;
  lure_poll_t p;
  lure_timer_t wd;
  struct poll_rec r = { 0, 0, 0, 0, 0 };
  int fds[2];

  make_pipe(fds);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the error condition was not reported");
  ck_assert_int_eq(lure_poll_init(&loop, &p, fds[1]), 0);
  p.data = &r;
  close(fds[0]);
  ck_assert_int_eq(lure_poll_start(&p, LURE_WRITABLE, rec_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.count, 1);
  ck_assert_int_eq(r.status, LURE_EBADF);
  ck_assert_int_eq(r.events, 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &p), 0);
  lt_loop_finish(&loop);
  close(fds[1]);
}
END_TEST

/* A connected TCP pair on loopback (sv[0] accepted, sv[1] connected), or
 * 0 when this host has no loopback. */
static int tcp_pair(int sv[2]) {
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int lfd;

  lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(lfd, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
    close(lfd);
    return 0;
  }
  ck_assert_int_eq(listen(lfd, 1), 0);
  ck_assert_int_eq(getsockname(lfd, (struct sockaddr *) &sa, &len), 0);
  sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(sv[1], 0);
  ck_assert_int_eq(connect(sv[1], (struct sockaddr *) &sa, sizeof(sa)), 0);
  sv[0] = accept(lfd, NULL, NULL);
  ck_assert_int_ge(sv[0], 0);
  close(lfd);
  return 1;
}

/* Out-of-band data on a TCP connection is LURE_PRIORITIZED. */
START_TEST(poll_prioritized) {
  lure_loop_t loop;
  lure_poll_t p;
  lure_timer_t wd;
  struct poll_rec r = { 0, 0, 0, 0, 1 };
  int sv[2];

  if (!tcp_pair(sv))
    return; /* no loopback here: nothing to test */
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 3000, "out-of-band data was not reported");
  ck_assert_int_eq(lure_poll_init(&loop, &p, sv[0]), 0);
  p.data = &r;
  ck_assert_int_eq(lure_poll_start(&p, LURE_PRIORITIZED, rec_cb), 0);
  ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(r.count, 0);
  ck_assert_int_eq(send(sv[1], "!", 1, MSG_OOB), 1);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.count, 1);
  ck_assert_int_eq(r.status, 0);
  ck_assert(r.events & LURE_PRIORITIZED);
  lt_loop_finish(&loop);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* Ordinary data does not wake a LURE_PRIORITIZED watcher, on a Unix pair
 * (_i 0) or a TCP one (_i 1).  On the ring this needs care twice: a
 * socket's data wakes its waiters with POLLPRI among the bits, which the
 * ring passes on as they are (epoll reads the readiness again), and the
 * poll for POLLPRI also asks for POLLIN (the kernel wants that to report
 * POLLPRI), so the data completes it with nothing for the watcher.  That
 * CQE must not end a LURE_RUN_ONCE tick either: the tick goes on to its
 * timer, as libuv's does. */
START_TEST(poll_prioritized_ignores_data) {
  lure_loop_t loop;
  lure_poll_t p;
  lure_timer_t timer;
  struct poll_rec r = { 0, 0, 0, 0, 0 };
  char buf[64];
  int sv[2];
  int round;

  if (_i == 0)
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  else if (!tcp_pair(sv))
    return; /* no loopback here */
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_poll_init(&loop, &p, sv[0]), 0);
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  p.data = &r;
  ck_assert_int_eq(lure_poll_start(&p, LURE_PRIORITIZED, rec_cb), 0);
  for (round = 0; round < 5; round++) {
    ck_assert_int_ne(lure_run(&loop, LURE_RUN_NOWAIT), 0);
    ck_assert_int_eq(write(sv[1], "data", 4), 4);
    ck_assert_int_ne(lt_once_runs_timer(&loop, &timer, 20, "%s, round %d",
                                        _i == 0 ? "unix" : "tcp", round), 0);
    ck_assert_msg(r.count == 0, "set %s, %s, round %d: ordinary data called "
                  "the watcher with events %d", lt_set(),
                  _i == 0 ? "unix" : "tcp", round, r.events);
    ck_assert_int_eq(read(sv[0], buf, sizeof(buf)), 4);
  }
  lure_close((lure_handle_t *) &p, NULL);
  lure_close((lure_handle_t *) &timer, NULL);
  lt_loop_finish(&loop);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* A poll handle on a socket that owns a port (_i 0: a TCP listener, 1: a
 * UDP socket) lets it go with its process, as with libuv: right after
 * waitpid() another socket binds the port.  On the ring the poll was a
 * POLL_ADD that held the socket until the kernel tore the ring down, some
 * milliseconds after the process was gone: the bind failed (EADDRINUSE)
 * 10 of 10 times.  Such watchers go through an epoll instance the ring
 * watches (backends/uring-nest.c). */
static int pg_kind;

static void pg_cb(lure_poll_t *h, int status, int events) {
  (void) h;
  (void) status;
  (void) events;
}

static int pg_socket(int port) {
  struct sockaddr_in sa;
  int one = 1;
  int fd;

  fd = socket(AF_INET, pg_kind == 0 ? SOCK_STREAM : SOCK_DGRAM, 0);
  if (fd < 0)
    return -1;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t) port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if ((pg_kind == 0 &&
       setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) ||
      bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 ||
      (pg_kind == 0 && listen(fd, 8) != 0)) {
    close(fd);
    return -1;
  }
  return fd;
}

static void pg_server(int wfd) {
  lure_loop_t loop;
  lure_poll_t p;
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int fd = pg_socket(0);
  int port;

  if (fd < 0 || getsockname(fd, (struct sockaddr *) &sa, &len) != 0 ||
      lure_loop_init(&loop) != 0 || lure_poll_init(&loop, &p, fd) != 0 ||
      lure_poll_start(&p, LURE_READABLE, pg_cb) != 0)
    _exit(2);
  (void) lure_run(&loop, LURE_RUN_NOWAIT);
  port = ntohs(sa.sin_port);
  if (write(wfd, &port, sizeof(port)) != (ssize_t) sizeof(port))
    _exit(3);
  (void) lure_run(&loop, LURE_RUN_DEFAULT);
}

START_TEST(poll_port_gone_with_process) {
  int port;
  int fd;

  pg_kind = _i;
  port = lt_killed_child_port(pg_server);
  fd = pg_socket(port);
  ck_assert_msg(fd >= 0, "set %s, %s: port %d still in use after its "
                "server died: %s", lt_set(), _i == 0 ? "tcp" : "udp", port,
                strerror(errno));
  close(fd);
}
END_TEST

LT_SUITE(poll) {
  Suite *s = suite_create("poll");
  TCase *tc = lt_tcase("poll", 30);

  tcase_add_test(tc, poll_readable);
  tcase_add_test(tc, poll_writable);
  tcase_add_test(tc, poll_init_socket);
  tcase_add_test(tc, poll_same_fd_twice);
  tcase_add_test(tc, poll_level_triggered);
  tcase_add_test(tc, poll_stop);
  tcase_add_test(tc, poll_stop_other_same_tick);
  tcase_add_test(tc, poll_pipe_hangup);
  tcase_add_test(tc, poll_socket_disconnect);
  tcase_add_test(tc, poll_change_events);
  tcase_add_test(tc, poll_error_condition);
  tcase_add_test(tc, poll_prioritized);
  tcase_add_loop_test(tc, poll_prioritized_ignores_data, 0, 2);
  tcase_add_loop_test(tc, poll_port_gone_with_process, 0, 2);
  tcase_add_test(tc, poll_close_and_reuse_fd);
  tcase_add_loop_test(tc, poll_many, 0, 3);
  tcase_add_test(tc, poll_bad_fds);
  tcase_add_test(tc, poll_bad_arguments);
  suite_add_tcase(s, tc);
  return s;
}
