/*
 * lure-echo - an echo server on TCP and Unix sockets, written with lure.
 *
 * It is the smallest complete server one can write with the stream API and
 * doubles as an example: every byte a client sends comes back.  The
 * executor is lure's choice (or the environment's: LURE_BACKEND=epoll,
 * LURE_URING_DISABLE=recv,...); the server prints which one serves it.
 *
 *   lure-echo [--host ADDR] [--port N] [--unix PATH] [--quiet]
 *
 * --port 0 picks a free port and prints it ("listening on 127.0.0.1:PORT"),
 * which is how the smoke test finds it.  SIGINT or SIGTERM stop it cleanly:
 * every handle is closed and the loop runs dry.
 */
#include <lure.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct conn {
  union {             /* a TCP connection or a Unix socket one */
    lure_tcp_t tcp;
    lure_pipe_t pipe;
  } u;
  lure_stream_t *s;
  char buf[65536];
};

struct echo_write {
  lure_write_t req;
  char data[];
};

static lure_loop_t loop;
static lure_tcp_t tcp_server;
static lure_pipe_t unix_server;
static int have_tcp;
static int have_unix;
static lure_signal_t sigint_h;
static lure_signal_t sigterm_h;
static int quiet;
static unsigned long nconns;

static void on_close_free(lure_handle_t *h) {
  free(h->data);
}

static void on_alloc(lure_handle_t *h, size_t suggested, lure_buf_t *buf) {
  struct conn *c = h->data;

  (void) suggested;
  buf->base = c->buf;
  buf->len = sizeof(c->buf);
}

static void on_written(lure_write_t *req, int status) {
  struct echo_write *w = (struct echo_write *) req;

  if (status < 0 && status != LURE_ECANCELED && !quiet)
    fprintf(stderr, "lure-echo: write: %s\n", lure_strerror(status));
  free(w);
}

static void on_read(lure_stream_t *s, ssize_t nread, const lure_buf_t *buf) {
  struct echo_write *w;
  lure_buf_t out;

  if (nread < 0) {
    /* EOF or an error: either way the conversation is over. */
    if (nread != LURE_EOF && !quiet)
      fprintf(stderr, "lure-echo: read: %s\n", lure_strerror((int) nread));
    lure_close((lure_handle_t *) s, on_close_free);
    return;
  }
  if (nread == 0)
    return;
  /* The read buffer is reused for the next read, so the echo gets a copy
   * that lives until its write callback. */
  w = malloc(sizeof(*w) + (size_t) nread);
  if (w == NULL) {
    lure_close((lure_handle_t *) s, on_close_free);
    return;
  }
  memcpy(w->data, buf->base, (size_t) nread);
  out = lure_buf_init(w->data, (unsigned int) nread);
  if (lure_write(&w->req, s, &out, 1, on_written) != 0) {
    free(w);
    lure_close((lure_handle_t *) s, on_close_free);
  }
}

static void on_connection(lure_stream_t *server, int status) {
  struct conn *c;
  int rc;

  if (status < 0) {
    if (!quiet)
      fprintf(stderr, "lure-echo: accept: %s\n", lure_strerror(status));
    return;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return;
  if (server->type == LURE_TCP) {
    lure_tcp_init(&loop, &c->u.tcp);
    c->s = (lure_stream_t *) &c->u.tcp;
  } else {
    lure_pipe_init(&loop, &c->u.pipe, 0);
    c->s = (lure_stream_t *) &c->u.pipe;
  }
  c->s->data = c;
  rc = lure_accept(server, c->s);
  if (rc == 0 && server->type == LURE_TCP)
    rc = lure_tcp_nodelay(&c->u.tcp, 1);
  if (rc == 0)
    rc = lure_read_start(c->s, on_alloc, on_read);
  if (rc != 0) {
    if (!quiet)
      fprintf(stderr, "lure-echo: %s\n", lure_strerror(rc));
    lure_close((lure_handle_t *) c->s, on_close_free);
    return;
  }
  nconns++;
}

static void close_walk(lure_handle_t *h, void *arg) {
  (void) arg;
  if (!lure_is_closing(h))
    lure_close(h, (h->type == LURE_TCP || h->type == LURE_NAMED_PIPE) &&
                          h != (lure_handle_t *) &tcp_server &&
                          h != (lure_handle_t *) &unix_server
                      ? on_close_free : NULL);
}

static void on_signal(lure_signal_t *h, int signum) {
  (void) h;
  if (!quiet)
    fprintf(stderr, "lure-echo: signal %d, %lu connections served\n", signum,
            nconns);
  lure_walk(&loop, close_walk, NULL);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: lure-echo [--host ADDR] [--port N] [--unix PATH] [--quiet]\n"
          "  --host ADDR  address to listen on (default 127.0.0.1; IPv6 too)\n"
          "  --port N     TCP port (default 7000; 0 picks a free one)\n"
          "  --unix PATH  also (or only, with --port -1) listen on a Unix "
          "socket;\n"
          "               a leading '@' names an abstract socket\n"
          "  --quiet      print nothing but the listening lines\n");
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  const char *unix_path = NULL;
  struct sockaddr_storage ss;
  char name[128];
  int port = 7000;
  int namelen;
  int rc;
  int i;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
      host = argv[++i];
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--unix") == 0 && i + 1 < argc) {
      unix_path = argv[++i];
    } else if (strcmp(argv[i], "--quiet") == 0) {
      quiet = 1;
    } else if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }

  rc = lure_loop_init(&loop);
  if (rc != 0) {
    fprintf(stderr, "lure-echo: lure_loop_init: %s\n", lure_strerror(rc));
    return 1;
  }

  if (port >= 0) {
    if (lure_ip4_addr(host, port, (struct sockaddr_in *) &ss) != 0 &&
        lure_ip6_addr(host, port, (struct sockaddr_in6 *) &ss) != 0) {
      fprintf(stderr, "lure-echo: bad address %s\n", host);
      return 2;
    }
    lure_tcp_init(&loop, &tcp_server);
    rc = lure_tcp_bind(&tcp_server, (struct sockaddr *) &ss, 0);
    if (rc == 0)
      rc = lure_listen((lure_stream_t *) &tcp_server, 1024, on_connection);
    if (rc != 0) {
      fprintf(stderr, "lure-echo: listen on %s:%d: %s\n", host, port,
              lure_strerror(rc));
      return 1;
    }
    namelen = sizeof(ss);
    lure_tcp_getsockname(&tcp_server, (struct sockaddr *) &ss, &namelen);
    if (ss.ss_family == AF_INET6) {
      lure_ip6_name((struct sockaddr_in6 *) &ss, name, sizeof(name));
      port = ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
    } else {
      lure_ip4_name((struct sockaddr_in *) &ss, name, sizeof(name));
      port = ntohs(((struct sockaddr_in *) &ss)->sin_port);
    }
    printf("listening on %s:%d\n", name, port);
    have_tcp = 1;
  }
  if (unix_path != NULL) {
    lure_pipe_init(&loop, &unix_server, 0);
    rc = lure_pipe_bind(&unix_server, unix_path);
    if (rc == 0)
      rc = lure_listen((lure_stream_t *) &unix_server, 1024, on_connection);
    if (rc != 0) {
      fprintf(stderr, "lure-echo: listen on %s: %s\n", unix_path,
              lure_strerror(rc));
      return 1;
    }
    printf("listening on unix:%s\n", unix_path);
    have_unix = 1;
  }
  if (!have_tcp && !have_unix) {
    usage(stderr);
    return 2;
  }
  printf("executor: %s\n", lure_loop_backend(&loop));
  fflush(stdout);

  lure_signal_init(&loop, &sigint_h);
  lure_signal_start(&sigint_h, on_signal, SIGINT);
  lure_signal_init(&loop, &sigterm_h);
  lure_signal_start(&sigterm_h, on_signal, SIGTERM);

  lure_run(&loop, LURE_RUN_DEFAULT);
  rc = lure_loop_close(&loop);
  return rc == 0 ? 0 : 1;
}
