/*
 * test-tty.c - terminal handles under a pseudo terminal (openpty(3)): the
 * slave opened again with a description of its own, the master kept
 * blocking, bytes both ways through the stream calls, the modes and their
 * reset, the window size, and every error a caller can reach.
 *
 * Each test runs in its own process (CK_FORK): lure_tty_reset_mode()'s
 * saved mode is process-wide.
 */
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include "harness.h"

/* A pseudo terminal of 80 columns and 24 rows; both ends close-on-exec. */
static void open_pty(int *master, int *slave) {
  struct winsize ws;

  memset(&ws, 0, sizeof(ws));
  ws.ws_col = 80;
  ws.ws_row = 24;
  ck_assert_msg(openpty(master, slave, NULL, NULL, &ws) == 0,
                "openpty: %s", strerror(errno));
  (void) fcntl(*master, F_SETFD, FD_CLOEXEC);
  (void) fcntl(*slave, F_SETFD, FD_CLOEXEC);
}

/* Typed bytes are not echoed back to the master (which reads them). */
static void no_echo(int slave) {
  struct termios t;

  ck_assert_int_eq(tcgetattr(slave, &t), 0);
  t.c_lflag &= ~(tcflag_t) ECHO;
  ck_assert_int_eq(tcsetattr(slave, TCSANOW, &t), 0);
}

static int fd_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL);

  ck_assert_int_ge(fl, 0);
  return (fl & O_NONBLOCK) != 0;
}

static int fd_open(int fd) {
  return fcntl(fd, F_GETFD) >= 0;
}

/* Read n bytes from a descriptor, waiting at most 5 s in all. */
static void read_exact(int fd, char *buf, size_t n) {
  struct pollfd p = { fd, POLLIN, 0 };
  size_t got = 0;
  ssize_t r;

  while (got < n) {
    ck_assert_int_eq(poll(&p, 1, 5000), 1);
    r = read(fd, buf + got, n - got);
    ck_assert_int_gt(r, 0);
    got += (size_t) r;
  }
}

/* ---- reading and writing through the loop -------------------------------------- */

struct rd {
  char buf[256];
  size_t len;
  size_t want;     /* close the handle once this much arrived (0: never) */
  ssize_t err;     /* the first negative nread */
  int calls;
};

static void rd_alloc(lure_handle_t *h, size_t suggested, lure_buf_t *b) {
  static char slab[4096];

  (void) h;
  (void) suggested;
  b->base = slab;
  b->len = sizeof(slab);
}

static void rd_cb(lure_stream_t *s, ssize_t n, const lure_buf_t *b) {
  struct rd *r = s->data;

  r->calls++;
  if (n < 0) {
    if (r->err == 0)
      r->err = n;
    lure_close((lure_handle_t *) s, NULL);
    return;
  }
  ck_assert_uint_le(r->len + (size_t) n, sizeof(r->buf));
  memcpy(r->buf + r->len, b->base, (size_t) n);
  r->len += (size_t) n;
  if (r->want != 0 && r->len >= r->want)
    ck_assert_int_eq(lure_read_stop(s), 0);
}

static int write_status = 1;
static void wr_cb(lure_write_t *req, int status) {
  (void) req;
  write_status = status;
}

/* The slave is opened again: the handle has a new, non-blocking
 * description, the caller's number names it too, and a duplicate of the
 * old description keeps its blocking mode. */
START_TEST(tty_init_slave_reopened) {
  lure_loop_t loop;
  lure_tty_t tty;
  lure_os_fd_t fd;
  int master, slave, old;

  open_pty(&master, &slave);
  old = dup(slave);
  ck_assert_int_ge(old, 0);
  ck_assert_int_eq(fd_nonblocking(old), 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_guess_handle(slave), LURE_TTY);
  ck_assert_int_eq(lure_tty_init(&loop, &tty, slave, 1), 0);
  ck_assert_int_eq(tty.type, LURE_TTY);
  ck_assert_int_eq(lure_handle_get_type((lure_handle_t *) &tty), LURE_TTY);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &tty, &fd), 0);
  ck_assert_int_ne(fd, slave);
  ck_assert_int_eq(tty.flags & 0x100000, 0);
  ck_assert_int_ne(fd_nonblocking(fd), 0);
  ck_assert_int_ne(fd_nonblocking(slave), 0); /* dup3'd onto the number */
  ck_assert_int_eq(fd_nonblocking(old), 0);   /* the old description */
  ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  ck_assert_int_ne(lure_is_readable((lure_stream_t *) &tty), 0);
  ck_assert_int_ne(lure_is_writable((lure_stream_t *) &tty), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &tty), 0);
  /* The caller may close its number: the handle has its own. */
  ck_assert_int_eq(close(slave), 0);
  ck_assert_int_eq(lure_tty_set_mode(&tty, LURE_TTY_MODE_RAW), 0);
  ck_assert_int_eq(lure_tty_set_mode(&tty, LURE_TTY_MODE_NORMAL), 0);
  ck_assert_int_eq(lure_close((lure_handle_t *) &tty, NULL), 0);
  ck_assert_int_eq(lure_is_readable((lure_stream_t *) &tty), 0);
  ck_assert_int_eq(lure_is_writable((lure_stream_t *) &tty), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &tty, &fd), LURE_EBADF);
  lt_loop_finish(&loop);
  ck_assert_int_eq(tty.flags & 0x100000, 0);
  close(old);
  close(master);
}
END_TEST

/* The master cannot be opened again: the handle takes it as it is,
 * blocking (libuv's blocking-writes flag, which its tests read). */
START_TEST(tty_init_master_blocking) {
  lure_loop_t loop;
  lure_tty_t tty;
  lure_os_fd_t fd;
  int master, slave;

  open_pty(&master, &slave);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tty_init(&loop, &tty, master, 0), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &tty, &fd), 0);
  ck_assert_int_eq(fd, master);
  ck_assert_int_ne(tty.flags & 0x100000, 0);
  ck_assert_int_eq(fd_nonblocking(master), 0);
  ck_assert_int_ne(lure_is_readable((lure_stream_t *) &tty), 0);
  ck_assert_int_ne(lure_is_writable((lure_stream_t *) &tty), 0);
  /* A second handle on the same descriptor would fight the first while
   * that one reads (libuv refuses a descriptor being watched). */
  {
    lure_tty_t again;
    struct rd r;

    memset(&r, 0, sizeof(r));
    tty.data = &r;
    ck_assert_int_eq(lure_read_start((lure_stream_t *) &tty, rd_alloc, rd_cb),
                     0);
    ck_assert_int_eq(lure_tty_init(&loop, &again, master, 0), LURE_EEXIST);
    ck_assert_int_eq(lure_read_stop((lure_stream_t *) &tty), 0);
  }
  lt_loop_finish(&loop);
  /* Closing the handle closed the descriptor it took. */
  ck_assert_int_eq(fd_open(master), 0);
  close(slave);
}
END_TEST

/* The access mode of the descriptor says which ways the handle goes. */
START_TEST(tty_init_access_modes) {
  lure_loop_t loop;
  lure_tty_t ro, wo;
  char name[64];
  int master, slave, fro, fwo;

  open_pty(&master, &slave);
  ck_assert_int_eq(ttyname_r(slave, name, sizeof(name)), 0);
  fro = open(name, O_RDONLY | O_NOCTTY | O_CLOEXEC);
  fwo = open(name, O_WRONLY | O_NOCTTY | O_CLOEXEC);
  ck_assert_int_ge(fro, 0);
  ck_assert_int_ge(fwo, 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tty_init(&loop, &ro, fro, 0), 0);
  ck_assert_int_eq(lure_tty_init(&loop, &wo, fwo, 1), 0);
  ck_assert_int_ne(lure_is_readable((lure_stream_t *) &ro), 0);
  ck_assert_int_eq(lure_is_writable((lure_stream_t *) &ro), 0);
  ck_assert_int_eq(lure_is_readable((lure_stream_t *) &wo), 0);
  ck_assert_int_ne(lure_is_writable((lure_stream_t *) &wo), 0);
  /* Neither was made blocking: a read-only terminal never writes. */
  ck_assert_int_eq(ro.flags & 0x100000, 0);
  ck_assert_int_eq(wo.flags & 0x100000, 0);
  lt_loop_finish(&loop);
  close(fro);
  close(fwo);
  close(slave);
  close(master);
}
END_TEST

/* Bytes typed at the master reach the slave handle's reader; bytes the
 * slave handle writes reach the master. */
START_TEST(tty_read_write) {
  lure_loop_t loop;
  lure_tty_t tty;
  lure_timer_t wd;
  lure_write_t w;
  lure_buf_t b = { "from the slave", 14 };
  struct rd r;
  char got[32];
  int master, slave;

  memset(&r, 0, sizeof(r));
  r.want = 6;
  open_pty(&master, &slave);
  no_echo(slave);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the terminal's bytes never came");
  ck_assert_int_eq(lure_tty_init(&loop, &tty, slave, 0), 0);
  tty.data = &r;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &tty, rd_alloc, rd_cb), 0);
  ck_assert_int_ne(lure_is_active((lure_handle_t *) &tty), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &tty, rd_alloc, rd_cb),
                   LURE_EALREADY);
  /* Canonical mode: the line arrives at its end. */
  ck_assert_int_eq(write(master, "hello\n", 6), 6);
  write_status = 1;
  ck_assert_int_eq(lure_write(&w, (lure_stream_t *) &tty, &b, 1, wr_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(write_status, 0);
  ck_assert_uint_eq(r.len, 6);
  ck_assert_int_eq(memcmp(r.buf, "hello\n", 6), 0);
  ck_assert_int_eq(lure_is_active((lure_handle_t *) &tty), 0);
  ck_assert_str_eq(lure_req_executor((lure_req_t *) &w), "epoll");
  read_exact(master, got, 14);
  ck_assert_int_eq(memcmp(got, "from the slave", 14), 0);
  lt_loop_finish(&loop);
  close(master);
}
END_TEST

/* The master end as a handle: its (blocking) writes reach the slave, and
 * it reads what the slave writes. */
START_TEST(tty_master_handle) {
  lure_loop_t loop;
  lure_tty_t tty;
  lure_timer_t wd;
  lure_write_t w;
  lure_buf_t b = { "typed\n", 6 };
  struct rd r;
  char got[8];
  int master, slave;

  memset(&r, 0, sizeof(r));
  r.want = 3;
  open_pty(&master, &slave);
  no_echo(slave);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the master's bytes never came");
  ck_assert_int_eq(lure_tty_init(&loop, &tty, master, 0), 0);
  tty.data = &r;
  write_status = 1;
  ck_assert_int_eq(lure_write(&w, (lure_stream_t *) &tty, &b, 1, wr_cb), 0);
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &tty, rd_alloc, rd_cb), 0);
  ck_assert_int_eq(write(slave, "abc", 3), 3);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(write_status, 0);
  ck_assert_uint_ge(r.len, 3);
  ck_assert_int_eq(memcmp(r.buf, "abc", 3), 0);
  read_exact(slave, got, 6);
  ck_assert_int_eq(memcmp(got, "typed\n", 6), 0);
  lt_loop_finish(&loop);
  close(slave);
}
END_TEST

/* A reader of the slave sees an error once the master has gone (Linux
 * says EIO), and reads stop. */
START_TEST(tty_read_hangup) {
  lure_loop_t loop;
  lure_tty_t tty;
  lure_timer_t wd;
  struct rd r;
  int master, slave;

  memset(&r, 0, sizeof(r));
  open_pty(&master, &slave);
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the hang-up was never reported");
  ck_assert_int_eq(lure_tty_init(&loop, &tty, slave, 0), 0);
  tty.data = &r;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &tty, rd_alloc, rd_cb), 0);
  ck_assert_int_eq(close(master), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_lt(r.err, 0);
  ck_assert_int_ne(lure_is_closing((lure_handle_t *) &tty), 0);
  lt_loop_finish(&loop);
}
END_TEST

/* lure_try_write(): what the terminal takes now; nothing for nothing. */
START_TEST(tty_try_write) {
  lure_loop_t loop;
  lure_tty_t tty;
  lure_buf_t b = { "now", 3 };
  lure_buf_t empty = { "", 0 };
  char got[4];
  int master, slave;

  open_pty(&master, &slave);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tty_init(&loop, &tty, slave, 0), 0);
  ck_assert_int_eq(lure_try_write((lure_stream_t *) &tty, &b, 1), 3);
  ck_assert_int_eq(lure_try_write((lure_stream_t *) &tty, &empty, 1), 0);
  read_exact(master, got, 3);
  ck_assert_int_eq(memcmp(got, "now", 3), 0);
  ck_assert_int_eq(lure_try_write((lure_stream_t *) &tty, NULL, 1),
                   LURE_EINVAL);
  lt_loop_finish(&loop);
  close(master);
}
END_TEST

/* A terminal has no write side to shut: the callback says ENOTSOCK, as
 * libuv's does; afterwards it is not writable. */
static int shutdown_status = 1;
static void shut_cb(lure_shutdown_t *req, int status) {
  (void) req;
  shutdown_status = status;
}

START_TEST(tty_shutdown) {
  lure_loop_t loop;
  lure_tty_t tty;
  lure_shutdown_t sreq;
  int master, slave;

  open_pty(&master, &slave);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tty_init(&loop, &tty, slave, 0), 0);
  ck_assert_int_eq(lure_shutdown(&sreq, (lure_stream_t *) &tty, shut_cb), 0);
  ck_assert_int_eq(lure_shutdown(&sreq, (lure_stream_t *) &tty, shut_cb),
                   LURE_ENOTCONN);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(shutdown_status, LURE_ENOTSOCK);
  ck_assert_int_eq(lure_is_writable((lure_stream_t *) &tty), 0);
  lt_loop_finish(&loop);
  close(master);
}
END_TEST

/* ---- modes ------------------------------------------------------------------------- */

static struct termios get_attr(int fd) {
  struct termios t;

  ck_assert_int_eq(tcgetattr(fd, &t), 0);
  return t;
}

START_TEST(tty_modes) {
  lure_loop_t loop;
  lure_tty_t tty;
  struct termios orig, t;
  lure_os_fd_t fd;
  int master, slave;
  /* At function scope: lt_loop_finish() walks the loop's handles, the
   * watchdog timer among them. */
  struct rd r;
  lure_timer_t wd;

  open_pty(&master, &slave);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tty_init(&loop, &tty, slave, 0), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &tty, &fd), 0);
  orig = get_attr(fd);
  ck_assert_int_ne(orig.c_lflag & ICANON, 0);
  ck_assert_int_ne(orig.c_lflag & ECHO, 0);

  /* The normal mode already: nothing to do. */
  ck_assert_int_eq(lure_tty_set_mode(&tty, LURE_TTY_MODE_NORMAL), 0);

  ck_assert_int_eq(lure_tty_set_mode(&tty, LURE_TTY_MODE_RAW), 0);
  t = get_attr(fd);
  ck_assert_int_eq(t.c_lflag & (ICANON | ECHO | ISIG | IEXTEN), 0);
  ck_assert_int_eq(t.c_iflag & (ICRNL | IXON | BRKINT), 0);
  ck_assert_int_ne(t.c_oflag & OPOST, 0); /* output processing stays */
  ck_assert_int_ne(t.c_oflag & ONLCR, 0);
  ck_assert_int_eq(t.c_cc[VMIN], 1);
  ck_assert_int_eq(t.c_cc[VTIME], 0);
  ck_assert_int_eq(lure_tty_set_mode(&tty, LURE_TTY_MODE_RAW), 0);

  /* IO mode is cfmakeraw(3) of the original. */
  ck_assert_int_eq(lure_tty_set_mode(&tty, LURE_TTY_MODE_IO), 0);
  t = get_attr(fd);
  ck_assert_int_eq(t.c_oflag & OPOST, 0);
  ck_assert_int_eq(t.c_lflag & (ICANON | ECHO), 0);
  ck_assert_int_eq(t.c_cflag & CSIZE, CS8);

  ck_assert_int_eq(lure_tty_set_mode(&tty, LURE_TTY_MODE_NORMAL), 0);
  t = get_attr(fd);
  ck_assert_int_eq(t.c_lflag, orig.c_lflag);
  ck_assert_int_eq(t.c_iflag, orig.c_iflag);
  ck_assert_int_eq(t.c_oflag, orig.c_oflag);

  /* Raw input: a key arrives without its line, unechoed. */
  ck_assert_int_eq(lure_tty_set_mode(&tty, LURE_TTY_MODE_RAW), 0);
  {
    struct pollfd p = { master, POLLIN, 0 };

    memset(&r, 0, sizeof(r));
    r.want = 1;
    tty.data = &r;
    lt_watchdog(&loop, &wd, 10000, "the raw key never came");
    ck_assert_int_eq(lure_read_start((lure_stream_t *) &tty, rd_alloc, rd_cb),
                     0);
    ck_assert_int_eq(write(master, "k", 1), 1);
    ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
    ck_assert_uint_eq(r.len, 1);
    ck_assert_int_eq(r.buf[0], 'k');
    ck_assert_int_eq(poll(&p, 1, 50), 0); /* no echo */
  }

  ck_assert_int_eq(lure_tty_set_mode(&tty, (lure_tty_mode_t) 3), LURE_EINVAL);
  ck_assert_int_eq(lure_tty_set_mode(&tty, (lure_tty_mode_t) -1),
                   LURE_EINVAL);
  lt_loop_finish(&loop);
  close(master);
}
END_TEST

/* The reset puts back the mode of the first terminal that left the
 * normal mode, keeps errno, and may be repeated. */
START_TEST(tty_reset_mode) {
  lure_loop_t loop;
  lure_tty_t a, b;
  struct termios orig, t;
  lure_os_fd_t fd;
  int m1, s1, m2, s2;

  /* Nothing was saved yet: nothing to do. */
  errno = 1234;
  ck_assert_int_eq(lure_tty_reset_mode(), 0);
  ck_assert_int_eq(errno, 1234);

  open_pty(&m1, &s1);
  open_pty(&m2, &s2);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tty_init(&loop, &a, s1, 0), 0);
  ck_assert_int_eq(lure_tty_init(&loop, &b, s2, 0), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &a, &fd), 0);
  orig = get_attr(fd);
  ck_assert_int_eq(lure_tty_set_mode(&a, LURE_TTY_MODE_IO), 0);
  ck_assert_int_eq(lure_tty_set_mode(&b, LURE_TTY_MODE_RAW), 0);
  errno = 4321;
  ck_assert_int_eq(lure_tty_reset_mode(), 0);
  ck_assert_int_eq(lure_tty_reset_mode(), 0);
  ck_assert_int_eq(errno, 4321);
  t = get_attr(fd);
  ck_assert_int_eq(t.c_lflag, orig.c_lflag);
  ck_assert_int_eq(t.c_oflag, orig.c_oflag);
  /* Only the first terminal is saved: the second stays raw. */
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &b, &fd), 0);
  t = get_attr(fd);
  ck_assert_int_eq(t.c_lflag & ICANON, 0);
  lt_loop_finish(&loop);
  close(m1);
  close(m2);
}
END_TEST

START_TEST(tty_winsize) {
  lure_loop_t loop;
  lure_tty_t tty;
  struct winsize ws;
  int master, slave;
  int w = -1, h = -1;

  open_pty(&master, &slave);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tty_init(&loop, &tty, slave, 0), 0);
  ck_assert_int_eq(lure_tty_get_winsize(&tty, &w, &h), 0);
  ck_assert_int_eq(w, 80);
  ck_assert_int_eq(h, 24);
  memset(&ws, 0, sizeof(ws));
  ws.ws_col = 132;
  ws.ws_row = 43;
  ck_assert_int_eq(ioctl(master, TIOCSWINSZ, &ws), 0);
  ck_assert_int_eq(lure_tty_get_winsize(&tty, &w, &h), 0);
  ck_assert_int_eq(w, 132);
  ck_assert_int_eq(h, 43);
  ck_assert_int_eq(lure_tty_get_winsize(&tty, NULL, &h), LURE_EINVAL);
  ck_assert_int_eq(lure_tty_get_winsize(&tty, &w, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_tty_get_winsize(NULL, &w, &h), LURE_EINVAL);
  lt_loop_finish(&loop);
  close(master);
}
END_TEST

START_TEST(tty_vterm_state) {
  lure_tty_vtermstate_t st = LURE_TTY_SUPPORTED;

  lure_tty_set_vterm_state(LURE_TTY_UNSUPPORTED);
  lure_tty_set_vterm_state(LURE_TTY_SUPPORTED);
  ck_assert_int_eq(lure_tty_get_vterm_state(&st), LURE_ENOTSUP);
  ck_assert_int_eq(lure_tty_get_vterm_state(NULL), LURE_ENOTSUP);
  ck_assert_int_eq(LURE_TTY_MODE_NORMAL, 0);
  ck_assert_int_eq(LURE_TTY_MODE_RAW, 1);
  ck_assert_int_eq(LURE_TTY_MODE_IO, 2);
}
END_TEST

/* ---- descriptors that are not terminals, and bad arguments ---------------------- */

/* A pipe is taken as it is (libuv takes any stream), made non-blocking;
 * the terminal calls then answer with the kernel's ENOTTY. */
START_TEST(tty_on_pipe) {
  lure_loop_t loop;
  lure_tty_t tty;
  int fds[2];
  int w, h;

  ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tty_init(&loop, &tty, fds[1], 0), 0);
  ck_assert_int_ne(fd_nonblocking(fds[1]), 0);
  ck_assert_int_eq(lure_is_readable((lure_stream_t *) &tty), 0);
  ck_assert_int_ne(lure_is_writable((lure_stream_t *) &tty), 0);
  ck_assert_int_eq(lure_tty_get_winsize(&tty, &w, &h), LURE_ENOTTY);
  ck_assert_int_eq(lure_tty_set_mode(&tty, LURE_TTY_MODE_RAW), LURE_ENOTTY);
  lt_loop_finish(&loop);
  ck_assert_int_eq(fd_open(fds[1]), 0);
  close(fds[0]);
}
END_TEST

/* Descriptors 0-2 that the handle took are never closed by it (libuv). */
START_TEST(tty_stdio_kept) {
  lure_loop_t loop;
  lure_tty_t tty;
  int fds[2];
  int saved;

  ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
  saved = dup(0);
  ck_assert_int_ge(saved, 0);
  ck_assert_int_eq(dup2(fds[0], 0), 0);
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_tty_init(&loop, &tty, 0, 1), 0);
  lt_loop_finish(&loop);
  ck_assert_int_ne(fd_open(0), 0);
  ck_assert_int_eq(dup2(saved, 0), 0);
  close(saved);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

START_TEST(tty_bad_arguments) {
  lure_loop_t loop;
  lure_tty_t tty;
  lure_tty_t client;
  lure_timer_t timer;
  char path[] = "/tmp/lure-tty-XXXXXX";
  int master, slave, fd;

  lt_loop_init(&loop);
  open_pty(&master, &slave);
  ck_assert_int_eq(lure_tty_init(NULL, &tty, slave, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_tty_init(&loop, NULL, slave, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_tty_init(&loop, &tty, -1, 0), LURE_EINVAL);
  /* A regular file, a character device that is not a terminal, a closed
   * descriptor: no readiness to wait for. */
  fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  unlink(path);
  ck_assert_int_eq(lure_tty_init(&loop, &tty, fd, 0), LURE_EINVAL);
  close(fd);
  ck_assert_int_eq(lure_tty_init(&loop, &tty, fd, 0), LURE_EINVAL);
  fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(lure_tty_init(&loop, &tty, fd, 0), LURE_EINVAL);
  close(fd);

  /* The terminal calls want a terminal handle that is not closing. */
  ck_assert_int_eq(lure_timer_init(&loop, &timer), 0);
  ck_assert_int_eq(lure_tty_set_mode((lure_tty_t *) &timer,
                                     LURE_TTY_MODE_RAW), LURE_EINVAL);
  ck_assert_int_eq(lure_tty_set_mode(NULL, LURE_TTY_MODE_RAW), LURE_EINVAL);

  ck_assert_int_eq(lure_tty_init(&loop, &tty, slave, 0), 0);
  /* A terminal neither listens nor accepts. */
  ck_assert_int_eq(lure_listen((lure_stream_t *) &tty, 1, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_tty_init(&loop, &client, master, 0), 0);
  ck_assert_int_eq(lure_accept((lure_stream_t *) &tty,
                               (lure_stream_t *) &client), LURE_EINVAL);
  ck_assert_int_eq(lure_close((lure_handle_t *) &tty, NULL), 0);
  ck_assert_int_eq(lure_tty_set_mode(&tty, LURE_TTY_MODE_RAW), LURE_EINVAL);
  {
    int w, h;

    ck_assert_int_eq(lure_tty_get_winsize(&tty, &w, &h), LURE_EINVAL);
  }
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &tty, rd_alloc, rd_cb),
                   LURE_EINVAL);
  lt_loop_finish(&loop);
}
END_TEST

/* The handle is counted and walked like the others. */
static void count_walk(lure_handle_t *h, void *arg) {
  if (h->type == LURE_TTY)
    (*(int *) arg)++;
}

START_TEST(tty_walk_and_sizes) {
  lure_loop_t loop;
  lure_tty_t tty;
  int master, slave;
  int n = 0;
  struct rd r;

  memset(&r, 0, sizeof(r));
  open_pty(&master, &slave);
  lt_loop_init(&loop);
  ck_assert_uint_eq(lure_handle_size(LURE_TTY), sizeof(lure_tty_t));
  ck_assert_str_eq(lure_handle_type_name(LURE_TTY), "tty");
  ck_assert_int_eq(lure_tty_init(&loop, &tty, slave, 0), 0);
  lure_walk(&loop, count_walk, &n);
  ck_assert_int_eq(n, 1);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  tty.data = &r;
  ck_assert_int_eq(lure_read_start((lure_stream_t *) &tty, rd_alloc, rd_cb), 0);
  ck_assert_int_ne(lure_loop_alive(&loop), 0);
  lure_unref((lure_handle_t *) &tty);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  lure_ref((lure_handle_t *) &tty);
  ck_assert_int_eq(lure_read_stop((lure_stream_t *) &tty), 0);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  lt_loop_finish(&loop);
  close(master);
}
END_TEST

LT_SUITE(tty) {
  Suite *s = suite_create("tty");
  TCase *tc = lt_tcase("tty", 30);

  tcase_add_test(tc, tty_init_slave_reopened);
  tcase_add_test(tc, tty_init_master_blocking);
  tcase_add_test(tc, tty_init_access_modes);
  tcase_add_test(tc, tty_read_write);
  tcase_add_test(tc, tty_master_handle);
  tcase_add_test(tc, tty_read_hangup);
  tcase_add_test(tc, tty_try_write);
  tcase_add_test(tc, tty_shutdown);
  tcase_add_test(tc, tty_modes);
  tcase_add_test(tc, tty_reset_mode);
  tcase_add_test(tc, tty_winsize);
  tcase_add_test(tc, tty_vterm_state);
  tcase_add_test(tc, tty_on_pipe);
  tcase_add_test(tc, tty_stdio_kept);
  tcase_add_test(tc, tty_bad_arguments);
  tcase_add_test(tc, tty_walk_and_sizes);
  suite_add_tcase(s, tc);
  return s;
}
