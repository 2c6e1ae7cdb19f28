/*
 * bench-net.c - the net suite's server process: fork it, learn its port,
 * collect its figures.  Nothing here knows lure or libuv; the server's body
 * (bench-net-uv.c, built for each library) is passed in.
 *
 * One pipe carries everything from the server to the client: first the
 * port (an int; 0 when setting up failed), then, when the server is done, a
 * struct bench_net_report.  The server's CPU time comes from wait4(), so it
 * is exactly that process's, whatever ran before in this one.
 *
 * The header of the net --udp datagrams lives here too, so that the two
 * builds of the net suite check their echoes with the same code.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "lure-bench.h"

/* How long the client waits for the server to listen, or to finish once
 * the client has closed its connections. */
#define NET_START_MS 10000
#define NET_FINISH_MS 10000

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  ssize_t n;

  while (len > 0) {
    n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t) n;
  }
  return 0;
}

/* Read len bytes within ms milliseconds: 0, or -1 (EOF, error, time out). */
static int read_all(int fd, void *buf, size_t len, int ms) {
  char *p = buf;
  uint64_t deadline = bench_now_ns() + (uint64_t) ms * 1000000u;
  struct pollfd pfd;
  uint64_t now;
  ssize_t n;
  int rc;

  while (len > 0) {
    now = bench_now_ns();
    if (now >= deadline)
      return -1;
    pfd.fd = fd;
    pfd.events = POLLIN;
    rc = poll(&pfd, 1, (int) ((deadline - now) / 1000000u) + 1);
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0)
      return -1;
    n = read(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t) n;
  }
  return 0;
}

static int ready_sent; /* in the server: the port (or 0) went out */

void bench_net_ready(int fd, int port) {
  ready_sent = 1;
  (void) write_all(fd, &port, sizeof(port));
}

int bench_net_fd_limit(unsigned conns, struct bench_result *r) {
  struct rlimit rl;
  rlim_t want = (rlim_t) conns + 64;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
    return 0;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
    bench_set_error(r, "%u connections need %llu file descriptors, the limit "
                    "is %llu", conns, (unsigned long long) want,
                    (unsigned long long) rl.rlim_max);
    return -1;
  }
  rl.rlim_cur = want;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    bench_set_error(r, "setrlimit(RLIMIT_NOFILE, %llu): %s",
                    (unsigned long long) want, strerror(errno));
    return -1;
  }
  return 0;
}

int bench_net_start(const struct bench_params *p, const char *executor,
                    bench_net_serve_fn serve, struct bench_net_server *srv,
                    struct bench_result *r) {
  struct bench_net_report rep;
  int fds[2];
  pid_t pid;
  int rc;

  srv->pid = -1;
  srv->fd = -1;
  srv->port = 0;
  if (bench_net_fd_limit(p->conns, r) != 0)
    return -1;
  /* A peer that went away must be an error code, not a signal, on both
   * sides (libuv writes with write(2), which raises SIGPIPE). */
  signal(SIGPIPE, SIG_IGN);
  if (pipe2(fds, O_CLOEXEC) != 0) {
    bench_set_error(r, "pipe: %s", strerror(errno));
    return -1;
  }
  fflush(NULL);
  pid = fork();
  if (pid < 0) {
    bench_set_error(r, "fork: %s", strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    /* The server.  It must not outlive the client, nor run the client's
     * handlers (which remove the fs suite's data file). */
    close(fds[0]);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
      _exit(1);
    memset(&rep, 0, sizeof(rep));
    rc = serve(p, executor, fds[1], &rep);
    if (!ready_sent)
      bench_net_ready(fds[1], 0);
    if (rc != 0 && rep.error[0] == '\0')
      snprintf(rep.error, sizeof(rep.error), "the server failed");
    (void) write_all(fds[1], &rep, sizeof(rep));
    _exit(rc != 0);
  }
  close(fds[1]);
  srv->pid = pid;
  srv->fd = fds[0];
  if (read_all(srv->fd, &srv->port, sizeof(srv->port), NET_START_MS) != 0 ||
      srv->port <= 0) {
    srv->port = 0;
    bench_net_finish(srv, r, 0);
    bench_set_error(r, "the server did not start");
    return -1;
  }
  return 0;
}

int bench_net_finish(struct bench_net_server *srv, struct bench_result *r,
                     int abort) {
  struct bench_net_report rep;
  struct rusage ru;
  uint64_t deadline;
  int status = 0;
  int got = 0;
  pid_t w;

  if (srv->pid <= 0)
    return -1;
  memset(&rep, 0, sizeof(rep));
  /* After a failed client the server may have failed first, and said why;
   * it gets a moment to, then goes. */
  got = read_all(srv->fd, &rep, sizeof(rep),
                 abort ? 200 : NET_FINISH_MS) == 0;
  if (abort)
    kill(srv->pid, SIGKILL);
  close(srv->fd);
  srv->fd = -1;
  deadline = bench_now_ns() + 2000000000u;
  for (;;) {
    w = wait4(srv->pid, &status, WNOHANG, &ru);
    if (w == srv->pid || (w < 0 && errno != EINTR))
      break;
    if (bench_now_ns() >= deadline) {
      kill(srv->pid, SIGKILL);
      w = wait4(srv->pid, &status, 0, &ru);
      break;
    }
    usleep(1000);
  }
  srv->pid = -1;
  if (got && rep.error[0] != '\0') {
    char client[sizeof(r->error)];

    /* The server's failure is the cause; the client's, if any, the
     * consequence. */
    snprintf(client, sizeof(client), "%s", r->error);
    r->error[0] = '\0';
    if (client[0] != '\0')
      bench_set_error(r, "server: %s (client: %s)", rep.error, client);
    else
      bench_set_error(r, "server: %s", rep.error);
    return -1;
  }
  if (abort)
    return -1;
  if (!got) {
    bench_set_error(r, "the server did not finish");
    return -1;
  }
  if (w > 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
    bench_set_error(r, "the server exited with status %d", status);
    return -1;
  }
  r->has_server = 1;
  r->server_ops = rep.ops;
  r->server_wait_calls = rep.wait_calls;
  r->has_server_wait_calls = rep.has_wait_calls;
  if (w > 0)
    r->server_cpu_seconds =
        (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
        (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
  return 0;
}

/* ---- net --udp ----------------------------------------------------------- */

void bench_udp_stamp(char *buf, uint32_t flow, uint64_t seq) {
  memcpy(buf, &flow, sizeof(flow));
  memcpy(buf + sizeof(flow), &seq, sizeof(seq));
}

void bench_udp_peek(const char *buf, uint32_t *flow, uint64_t *seq) {
  memcpy(flow, buf, sizeof(*flow));
  memcpy(seq, buf + sizeof(*flow), sizeof(*seq));
}

int bench_udp_check(const char *buf, size_t len, int partial, size_t want,
                    uint32_t flow, uint64_t seq, char *err, size_t errlen) {
  uint32_t f;
  uint64_t q;

  if (partial || len > want) {
    snprintf(err, errlen, "an echo longer than the %zu bytes sent", want);
    return -1;
  }
  if (len != want) {
    snprintf(err, errlen, "an echo of %zu bytes, not %zu", len, want);
    return -1;
  }
  bench_udp_peek(buf, &f, &q);
  if (f != flow) {
    snprintf(err, errlen, "the echo of flow %u's datagram %llu", f,
             (unsigned long long) q);
    return -1;
  }
  if (q != seq) {
    snprintf(err, errlen, "the echo of datagram %llu where %llu was due "
             "(late, duplicated or corrupted)", (unsigned long long) q,
             (unsigned long long) seq);
    return -1;
  }
  return 0;
}

/* /proc/net/udp has a line per socket: "sl: local rem st tx:rx tr:when
 * retrnsmt uid timeout inode ref pointer drops", addresses in hex as the
 * kernel holds them (so 127.0.0.1 reads as htonl(INADDR_LOOPBACK)). */
void bench_udp_explain_loss(int port, char *err, size_t errlen) {
  FILE *f = fopen("/proc/net/udp", "r");
  char line[512];
  unsigned addr;
  unsigned lport;
  unsigned rxq;
  unsigned long long drops;
  size_t n = strlen(err);

  if (f == NULL)
    return;
  while (fgets(line, sizeof(line), f) != NULL) {
    if (sscanf(line, " %*u: %x:%x %*x:%*x %*x %*x:%x %*x:%*x %*x %*u %*u "
               "%*u %*d %*s %llu", &addr, &lport, &rxq, &drops) != 4 ||
        addr != htonl(INADDR_LOOPBACK) || (int) lport != port)
      continue;
    if (drops > 0)
      snprintf(err + n, errlen - n, "; the server's socket dropped %llu "
               "datagram%s (receive buffer full, see net.core.rmem_default): "
               "try fewer --conns or a smaller --size", drops,
               drops == 1 ? "" : "s");
    else
      snprintf(err + n, errlen - n, "; the server's socket dropped none "
               "(%u bytes wait in it)", rxq);
    break;
  }
  fclose(f);
}
