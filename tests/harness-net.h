/*
 * harness-net.h - the network area of the test harness (the tests of
 * issue 5, tests/lure-net-tests): helpers lt_net_, on top of
 * tests/harness.h.
 *
 * The program runs once per executor set (tests/run-set.sh), named by
 * LURE_TEST_SET:
 *   "uring"         the ring is the wait point and streams take the ring's
 *                   socket path (multishot accept, multishot recv on the
 *                   loop's provided-buffer ring, SEND/SENDMSG);
 *   "uring-masked"  the ring is the wait point, LURE_URING_DISABLE masks
 *                   recv,send,sendmsg,accept (and the file opcodes):
 *                   streams use readiness (POLL_ADD on the ring) and
 *                   non-blocking syscalls;
 *   "uring-old"     the ring's socket path as 5.19/6.0 kernels take it
 *                   (recv_multishot,accept_multishot,pbuf_ring masked);
 *   "epoll"         LURE_BACKEND=epoll;
 *   "nouring"       under tests/nouring (ENOSYS, EPERM): io_uring_setup
 *                   fails and lure must fall back to epoll by itself.
 * The same assertions run on every set, so behaviour must agree across
 * executors; on top of that, stream requests are checked to have been
 * served by the path the set promises (lure_req_executor()).
 *
 * Every test runs in its own process (Check's CK_FORK), under a watchdog
 * timer on its loop that fails the test instead of letting it hang, and
 * under Check's own timeout as a last resort.  Only loopback addresses
 * (127.0.0.1, ::1) and Unix sockets in a private temporary directory are
 * used.  SIGPIPE keeps its default action: a SIGPIPE kills the test.
 */
#ifndef LURE_HARNESS_NET_H
#define LURE_HARNESS_NET_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include "harness.h"

/* Default per-test watchdog (ms) and Check timeout (s). */
#define LT_NET_WATCHDOG_MS 20000
#define LT_NET_TCASE_TIMEOUT 60.0

/* ---- the set -------------------------------------------------------------- */

/* The executor name lure_req_executor() must give for stream writes and
 * shutdowns: "io_uring" on the ring's socket path, "epoll" on readiness;
 * NULL when run by hand (not checked). */
const char *lt_net_stream_executor(void);
/* Check req's executor against lt_net_stream_executor(). */
void lt_net_check_executor(const void *req, const char *what, const char *file,
                       int line);
#define LT_NET_CHECK_EXECUTOR(req, what) \
  lt_net_check_executor((req), (what), __FILE__, __LINE__)

/* ---- data ----------------------------------------------------------------- */

/* The largest run lt_net_pat() guarantees contiguous. */
#define LT_NET_PAT_MAX ((size_t) 1 << 20)
/* Pointer to the bytes of stream `seed` from offset off on (at least
 * LT_NET_PAT_MAX of them).  Different seeds give different streams. */
const unsigned char *lt_net_pat(uint64_t seed, uint64_t off);
/* The stream a sink client sends (lt_net_bulk_run with sink): an 8-byte
 * little-endian id, then the pattern of seed id + 1.  feed takes the next
 * n bytes and returns how many of them were pattern bytes; bad_at is the
 * first wrong pattern offset, -1 while none. */
struct lt_net_idpat {
  unsigned char hdr[8];
  unsigned hdr_len;
  uint64_t id;
  uint64_t bytes;        /* pattern bytes so far */
  long bad_at;
};
void lt_net_idpat_init(struct lt_net_idpat *s);
size_t lt_net_idpat_feed(struct lt_net_idpat *s, const char *p, size_t n);
/* Index of the first byte of p[0..n) that differs from stream seed at
 * offset off, or -1. */
long lt_net_pat_check(uint64_t seed, uint64_t off, const void *p, size_t n);
/* FNV-1a 64 over a stream, continued from h (start with LT_NET_SUM_INIT). */
#define LT_NET_SUM_INIT 0xcbf29ce484222325ull
uint64_t lt_net_sum(uint64_t h, const void *p, size_t n);

/* ---- addresses and helpers ------------------------------------------------ */

/* 1 when ::1 can be bound here. */
int lt_net_have_ipv6(void);
/* Fill ss with 127.0.0.1 (AF_INET) or ::1 (AF_INET6) and port. */
void lt_net_loopback(int family, int port, struct sockaddr_storage *ss);
/* A port of the family with no listener (bind, getsockname, close). */
int lt_net_free_port(int family, int type);
/* Port of a bound TCP / UDP handle. */
int lt_net_tcp_port(const lure_tcp_t *h);
int lt_net_udp_port(const lure_udp_t *h);

/* ---- the echo server ------------------------------------------------------- */

/*
 * A server on the loop: TCP on 127.0.0.1/::1 port 0, or a pipe bound to a
 * name.  Each accepted connection reads with lure_read_start; in echo mode
 * it writes every byte back (one write per read) and, at LURE_EOF, shuts
 * down and closes once the shutdown completed.  In sink mode it checks
 * the stream instead: an 8-byte header (client id, LE) then lt_net_pat(id
 * seed) bytes, recorded in the result array at EOF.
 */
struct lt_net_sink_result {
  uint64_t bytes;        /* pattern bytes received */
  long bad_at;           /* first mismatching offset, -1 none */
  int eof;               /* saw LURE_EOF */
  int conns;             /* connections that named this id */
};

struct lt_net_server {
  union {
    lure_tcp_t tcp;
    lure_pipe_t pipe;
  } h;
  lure_loop_t *loop;
  int is_pipe;
  int sink;              /* sink mode instead of echo */
  int port;
  size_t alloc_max;      /* cap of the read buffer size (default 64 KiB) */
  struct lt_net_sink_result *results;
  unsigned nresults;
  unsigned accepted;
  unsigned closed;
  unsigned errors;       /* unexpected statuses seen */
  int last_error;
  uint64_t echoed;
  int nodelay;
};

/* family: AF_INET, AF_INET6, or AF_UNIX with name the pipe name. */
void lt_net_server_start(lure_loop_t *loop, struct lt_net_server *srv, int family,
                     const char *name);
/* Close the listener (connections close on their own at EOF). */
void lt_net_server_stop(struct lt_net_server *srv);

/* ---- bulk clients --------------------------------------------------------- */

struct lt_net_bulk_opts {
  unsigned nclients;
  size_t total;          /* bytes each client sends */
  size_t chunk;          /* bytes per lure_write */
  unsigned window_reqs;  /* writes in flight per client (<= 256) */
  size_t window_bytes;   /* bytes in flight per client */
  int family;            /* AF_INET, AF_INET6, AF_UNIX */
  const char *pipe_name; /* AF_UNIX: where to connect */
  int sink;              /* the server checks the data (no echo) */
  int write_early;       /* queue the first writes while connecting */
  int nodelay;           /* TCP_NODELAY on both sides */
  int split;             /* each write in three buffers */
  size_t rbuf;           /* client read buffer (default 64 KiB) */
  unsigned watchdog_ms;  /* default LT_NET_WATCHDOG_MS */
};

struct lt_net_bulk_stats {
  uint64_t ms;           /* wall time of the run */
  uint64_t writes;       /* client write requests */
};

/* Run the clients against a fresh server on a fresh loop and check every
 * stream end to end (bytes, order, checksum, callbacks).  */
void lt_net_bulk_run(const struct lt_net_bulk_opts *o, struct lt_net_bulk_stats *st);

/* ---- a connected pair ------------------------------------------------------ */

/* A loop, its watchdog and one TCP connection over 127.0.0.1: client
 * (connected with lure_tcp_connect) and server (accepted); the listener is
 * closed once it accepted.  data of both handles is free for the test. */
struct lt_net_pair {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_tcp_t listener;
  lure_tcp_t server;
  lure_tcp_t client;
  lure_connect_t creq;
  int accepted;
  int connected;
  int connect_status;
};

void lt_net_pair_open(struct lt_net_pair *p, unsigned watchdog_ms, const char *what);

#endif /* LURE_HARNESS_NET_H */
