/*
 * net-tests.h - what the suites of lure-net-tests (the network tests of
 * issue 5) share.
 *
 * The program runs once per executor set (tests/net-*.test), named by
 * LURE_TEST_SET:
 *   "uring"         the ring is the wait point and streams take the ring's
 *                   socket path (multishot accept, multishot recv on the
 *                   loop's provided-buffer ring, SEND/SENDMSG);
 *   "uring-masked"  the ring is the wait point, LURE_URING_DISABLE masks
 *                   recv,send,sendmsg,accept: streams use readiness
 *                   (POLL_ADD on the ring) and non-blocking syscalls;
 *   "epoll"         LURE_BACKEND=epoll;
 *   "nouring"       under tests/nouring ENOSYS: io_uring_setup fails and
 *                   lure must fall back to epoll by itself.
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
#ifndef LURE_NET_TESTS_H
#define LURE_NET_TESTS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "lure.h"

Suite *net_tcp_suite(void);
Suite *net_stream_suite(void);
Suite *net_udp_suite(void);
Suite *net_pipe_suite(void);
Suite *net_dns_suite(void);
Suite *net_errors_suite(void);
Suite *net_ring_suite(void);
Suite *net_parity_suite(void);
Suite *net_faults_suite(void);

#define NT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Default per-test watchdog (ms) and Check timeout (s). */
#define NT_WATCHDOG_MS 20000
#define NT_TCASE_TIMEOUT 60.0

/* ---- the set -------------------------------------------------------------- */

/* LURE_TEST_SET, or NULL when run by hand. */
const char *nt_set(void);
int nt_set_is(const char *name);
int nt_set_ring_path(void);
/* The wait point the set promises ("io_uring", "epoll"), NULL by hand. */
const char *nt_set_backend(void);
/* The executor name lure_req_executor() must give for stream writes and
 * shutdowns: "io_uring" on the ring's socket path, "epoll" on readiness;
 * NULL when run by hand (not checked). */
const char *nt_stream_executor(void);
/* Check req's executor against nt_stream_executor(). */
void nt_check_executor(const void *req, const char *what, const char *file,
                       int line);
#define NT_CHECK_EXECUTOR(req, what) \
  nt_check_executor((req), (what), __FILE__, __LINE__)

/* ---- loops ---------------------------------------------------------------- */

/* lure_loop_init, checked against the set's wait point. */
void nt_loop_init(lure_loop_t *loop);
/* Close every handle still open, run the loop until they are gone, and
 * check lure_loop_close() succeeds. */
void nt_loop_finish(lure_loop_t *loop);
/* An unreferenced timer that fails the test after ms. */
void nt_watchdog(lure_loop_t *loop, lure_timer_t *t, uint64_t ms,
                 const char *what);
/* Run until nothing is alive; the watchdog guards against hangs. */
void nt_run(lure_loop_t *loop);
/* Run the loop for about ms milliseconds (a referenced timer stops it). */
void nt_run_for(lure_loop_t *loop, unsigned ms);

/* ---- data ----------------------------------------------------------------- */

/* The largest run nt_pat() guarantees contiguous. */
#define NT_PAT_MAX ((size_t) 1 << 20)
/* Pointer to the bytes of stream `seed` from offset off on (at least
 * NT_PAT_MAX of them).  Different seeds give different streams. */
const unsigned char *nt_pat(uint64_t seed, uint64_t off);
/* Index of the first byte of p[0..n) that differs from stream seed at
 * offset off, or -1. */
long nt_pat_check(uint64_t seed, uint64_t off, const void *p, size_t n);
/* FNV-1a 64 over a stream, continued from h (start with NT_SUM_INIT). */
#define NT_SUM_INIT 0xcbf29ce484222325ull
uint64_t nt_sum(uint64_t h, const void *p, size_t n);

/* ---- addresses and helpers ------------------------------------------------ */

/* 1 when ::1 can be bound here. */
int nt_have_ipv6(void);
/* Fill ss with 127.0.0.1 (AF_INET) or ::1 (AF_INET6) and port. */
void nt_loopback(int family, int port, struct sockaddr_storage *ss);
/* A port of the family with no listener (bind, getsockname, close). */
int nt_free_port(int family, int type);
/* Port of a bound TCP / UDP handle. */
int nt_tcp_port(const lure_tcp_t *h);
int nt_udp_port(const lure_udp_t *h);
/* A fresh private directory (removed by nt_rmdir_all). */
void nt_tmpdir(char *buf, size_t size);
void nt_rmdir_all(const char *dir);
/* An error name for messages: "0", "42", "ECONNRESET", "EOF". */
const char *nt_err(ssize_t r);
/* Raise RLIMIT_NOFILE to at least want; returns the soft limit. */
long nt_raise_nofile(long want);
/* 1 when built with AddressSanitizer. */
int nt_asan(void);

/* ---- the echo server ------------------------------------------------------- */

/*
 * A server on the loop: TCP on 127.0.0.1/::1 port 0, or a pipe bound to a
 * name.  Each accepted connection reads with lure_read_start; in echo mode
 * it writes every byte back (one write per read) and, at LURE_EOF, shuts
 * down and closes once the shutdown completed.  In sink mode it checks
 * the stream instead: an 8-byte header (client id, LE) then nt_pat(id
 * seed) bytes, recorded in the result array at EOF.
 */
struct nt_sink_result {
  uint64_t bytes;        /* pattern bytes received */
  long bad_at;           /* first mismatching offset, -1 none */
  int eof;               /* saw LURE_EOF */
  int conns;             /* connections that named this id */
};

struct nt_server {
  union {
    lure_tcp_t tcp;
    lure_pipe_t pipe;
  } h;
  lure_loop_t *loop;
  int is_pipe;
  int sink;              /* sink mode instead of echo */
  int port;
  size_t alloc_max;      /* cap of the read buffer size (default 64 KiB) */
  struct nt_sink_result *results;
  unsigned nresults;
  unsigned accepted;
  unsigned closed;
  unsigned errors;       /* unexpected statuses seen */
  int last_error;
  uint64_t echoed;
  int nodelay;
};

/* family: AF_INET, AF_INET6, or AF_UNIX with name the pipe name. */
void nt_server_start(lure_loop_t *loop, struct nt_server *srv, int family,
                     const char *name);
/* Close the listener (connections close on their own at EOF). */
void nt_server_stop(struct nt_server *srv);

/* ---- bulk clients --------------------------------------------------------- */

struct nt_bulk_opts {
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
  unsigned watchdog_ms;  /* default NT_WATCHDOG_MS */
};

struct nt_bulk_stats {
  uint64_t ms;           /* wall time of the run */
  uint64_t writes;       /* client write requests */
};

/* Run the clients against a fresh server on a fresh loop and check every
 * stream end to end (bytes, order, checksum, callbacks).  */
void nt_bulk_run(const struct nt_bulk_opts *o, struct nt_bulk_stats *st);

/* ---- a connected pair ------------------------------------------------------ */

/* A loop, its watchdog and one TCP connection over 127.0.0.1: client
 * (connected with lure_tcp_connect) and server (accepted); the listener is
 * closed once it accepted.  data of both handles is free for the test. */
struct nt_pair {
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

void nt_pair_open(struct nt_pair *p, unsigned watchdog_ms, const char *what);

#endif /* LURE_NET_TESTS_H */
