/*
 * lure-http - a small HTTP/1.1 server written against libuv's API.
 *
 * The same source builds twice: against lure's drop-in <uv.h> (lure-http)
 * and against Debian's libuv (lure-http-libuv), so that one load generator
 * can compare the two libraries on the same server code.  Requests are
 * parsed by libhttp-parser.  See lure-http(1).
 *
 *   lure-http [--host ADDR] [--port N] [--dir DIR] [--threads N] [--quiet]
 *
 * Routes (GET and HEAD):
 *   /plaintext        "Hello, World!"
 *   /file/NAME        the file NAME of --dir (a plain name, no path)
 *   /sleep?ms=N       answers after a timer of N ms (0..60000)
 * Errors: 400 malformed request, 404 unknown route or file, 405 other
 * methods, 413 request head over 8 KiB, 500 a failed file read.
 *
 * Keep-alive and pipelining: the requests of one connection are answered
 * in order, even when a later one (/plaintext) is ready before an earlier
 * one (/sleep, /file); the small answers a read produced leave in one
 * write.
 *
 * --threads N runs N loops, one per thread, each with its own listening
 * socket on the same port (SO_REUSEPORT: UV_TCP_REUSEPORT where <uv.h> has
 * it, else setsockopt on the socket).  The kernel spreads connections over
 * the listeners by a hash of their addresses, which is even only on
 * average (100 connections over 2 loops: 40/60 one run in four), so a loop
 * that accepts a connection while it serves 2 more than the least loaded
 * loop hands it over: a dup of the descriptor goes to that loop's queue
 * (under its lock) and its async handle wakes it, and it opens the
 * descriptor with uv_tcp_open.  A handle belongs to its loop; only the
 * descriptor and uv_async_send cross.  SIGINT or SIGTERM stop the server:
 * every handle is closed, every loop runs dry, and the server prints per
 * loop the connections and requests it served, the process's CPU time and
 * what was still open at exit (which must be nothing).
 */
#include <uv.h>
#include <http_parser.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD_MAX 8192           /* request line and headers, bytes */
#define URL_MAX 2048            /* kept for routing (inside HEAD_MAX) */
#define READ_BUF 16384          /* per connection */
#define FILE_CHUNK (256 * 1024) /* file bodies are read and sent in chunks */
#define CHUNK_CACHE 64          /* idle chunk buffers a loop keeps */
#define MAX_THREADS 64
#define HANDOFF_MAX 64          /* descriptors waiting for one loop */

struct worker;
struct conn;

/* A pending answer, in request order on its connection. */
enum resp_kind { R_BYTES, R_FILE, R_SLEEP };

struct resp {
  struct resp *next;
  struct conn *c;
  enum resp_kind kind;
  int ready;         /* bytes (or the next file chunk) are there to send */
  int close_after;   /* the last answer on this connection */
  int head_only;     /* HEAD: headers, no body */
  char *bytes;       /* R_BYTES / fired R_SLEEP: the whole answer */
  size_t len;
  /* R_FILE */
  uv_fs_t fs;
  uv_write_t wreq;
  uv_file fd;
  int hdr_sent;
  int64_t size, off;
  char hdr[256];
  size_t hdr_len;
  char *body;
  size_t body_len;
  /* R_SLEEP */
  uv_timer_t timer;
  int timer_open;
  uint64_t ms;
};

/* Small answers gathered while a read is parsed, sent in one write. */
struct wbuf {
  uv_write_t req;
  struct conn *c;
  size_t len, cap;
  char data[];
};

struct conn {
  uv_tcp_t tcp;
  struct worker *w;
  struct conn *prev, *next; /* the worker's open connections */
  http_parser parser;
  struct resp *head, *tail; /* answers not yet handed to uv_write */
  struct wbuf *batch;       /* small answers not yet written */
  struct wbuf *spare;       /* a batch buffer to reuse */
  uv_shutdown_t shut;
  int refs;                 /* the handle + live answers + writes */
  int writes;               /* writes in flight */
  int closing;
  int uncounted;            /* handed over: live_conns counts it there */
  int eof;                  /* the client sent EOF */
  int parse_done;           /* no more requests: error or Connection: close */
  int last_sent;            /* the close_after answer left: shut down */
  int err;                  /* status chosen by a parser callback */
  size_t head_bytes;
  size_t url_len;
  char url[URL_MAX];
  char rbuf[READ_BUF];
};

struct worker {
  int id;
  uv_loop_t loop;
  uv_tcp_t server;
  uv_async_t stop;
  uv_thread_t thread;
  uv_sem_t *ready;
  int rc;                 /* startup result */
  int have_stop, have_server;
  struct conn *conns;
  /* Connections handed to this loop by the others (--threads): the queue
   * and closed are under handoff_lock; handoff wakes the loop. */
  uv_async_t handoff;
  int have_handoff;
  uv_mutex_t handoff_lock;
  int handoff_fds[HANDOFF_MAX];
  int handoff_n;
  int handoff_closed;
  /* counters (this loop's thread only; read after it ended) */
  unsigned long accepted;  /* connections this loop served */
  unsigned long handed;    /* accepted here, handed to another loop */
  unsigned long requests;
  long live_conns;         /* also read by the other loops: __atomic */
  long live_resps;
  /* File chunk buffers no answer uses now, kept for the next one: one
   * malloc and free of a chunk per answer lets glibc give the top of its
   * heap back and fault it in again on the next read (measured: that,
   * not the I/O, limited /file). */
  char *chunk_free[CHUNK_CACHE];
  int nchunk_free;
#ifdef LURE_UV_H
  lure_loop_stats_t stats; /* when the loop ended (lure only) */
#endif
};

static const char *opt_host = "127.0.0.1";
static int opt_port = 8080;
static const char *opt_dir = NULL;
static int opt_threads = 1;
static int opt_quiet;
static int bound_port;
/* Workers whose loop runs (0 is the main thread); grows while the main
 * thread starts them, read by the running loops: __atomic. */
static int nrunning = 1;
static struct worker workers[MAX_THREADS];
static uv_signal_t sig_int, sig_term;

static const char plaintext_resp[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: lure-http\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "Hello, World!";

/* ---- connection lifetime ------------------------------------------------- */

static void conn_unref(struct conn *c) {
  if (--c->refs == 0) {
    free(c->batch);
    free(c->spare);
    if (!c->uncounted)
      __atomic_sub_fetch(&c->w->live_conns, 1, __ATOMIC_RELAXED);
    free(c);
  }
}

static char *chunk_get(struct worker *w) {
  if (w->nchunk_free > 0)
    return w->chunk_free[--w->nchunk_free];
  return malloc(FILE_CHUNK);
}

static void chunk_put(struct worker *w, char *p) {
  if (p == NULL)
    return;
  if (w->nchunk_free < CHUNK_CACHE)
    w->chunk_free[w->nchunk_free++] = p;
  else
    free(p);
}

static void resp_free(struct resp *r) {
  struct conn *c = r->c;

  free(r->bytes);
  chunk_put(c->w, r->body);
  c->w->live_resps--;
  free(r);
  conn_unref(c);
}

static void on_timer_closed(uv_handle_t *h) {
  resp_free(h->data);
}

static void on_file_closed(uv_fs_t *req) {
  struct resp *r = req->data;

  uv_fs_req_cleanup(req);
  resp_free(r);
}

/* Let an answer go: its timer or its file first, when it has one. */
static void resp_release(struct resp *r) {
  if (r->timer_open) {
    r->timer_open = 0;
    uv_close((uv_handle_t *) &r->timer, on_timer_closed);
  } else if (r->kind == R_FILE && r->fd >= 0) {
    uv_file fd = r->fd;

    r->fd = -1;
    r->fs.data = r;
    if (uv_fs_close(r->c->tcp.loop, &r->fs, fd, on_file_closed) != 0)
      resp_free(r);
  } else {
    resp_free(r);
  }
}

static void on_conn_closed(uv_handle_t *h) {
  conn_unref(h->data);
}

static void conn_close(struct conn *c) {
  struct resp *r, *next;

  if (c->closing)
    return;
  c->closing = 1;
  if (c->prev)
    c->prev->next = c->next;
  else
    c->w->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  /* Answers that wait for nothing go now; an answer with a file request in
   * flight goes when that request completes (its callback sees closing). */
  for (r = c->head; r != NULL; r = next) {
    next = r->next;
    if (r->kind == R_FILE && !r->ready)
      continue;
    resp_release(r);
  }
  c->head = c->tail = NULL;
  uv_close((uv_handle_t *) &c->tcp, on_conn_closed);
}

static void conn_maybe_finish(struct conn *c);

/* ---- writing --------------------------------------------------------------- */

static void on_batch_written(uv_write_t *req, int status) {
  struct wbuf *b = (struct wbuf *) req;
  struct conn *c = b->c;

  c->writes--;
  if (status < 0)
    conn_close(c); /* EPIPE, ECONNRESET, or ECANCELED after a close */
  if (!c->closing && c->spare == NULL) {
    b->len = 0;
    c->spare = b;
  } else {
    free(b);
  }
  conn_maybe_finish(c);
  conn_unref(c);
}

static int batch_append(struct conn *c, const char *p, size_t n) {
  struct wbuf *b = c->batch;

  if (b == NULL) {
    b = c->spare;
    c->spare = NULL;
    if (b == NULL) {
      size_t cap = n > 4096 ? n : 4096;

      b = malloc(sizeof(*b) + cap);
      if (b == NULL)
        return -1;
      b->cap = cap;
      b->c = c;
    }
    b->len = 0;
    c->batch = b;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n;
    struct wbuf *nb = realloc(b, sizeof(*b) + cap);

    if (nb == NULL)
      return -1;
    nb->cap = cap;
    c->batch = b = nb;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

static void batch_flush(struct conn *c) {
  struct wbuf *b = c->batch;
  uv_buf_t buf;

  if (b == NULL || c->closing)
    return;
  c->batch = NULL;
  buf = uv_buf_init(b->data, (unsigned int) b->len);
  if (uv_write(&b->req, (uv_stream_t *) &c->tcp, &buf, 1, on_batch_written)) {
    free(b);
    conn_close(c);
    return;
  }
  c->writes++;
  c->refs++;
}

static void file_read_next(struct resp *r);

static void on_file_written(uv_write_t *req, int status) {
  struct resp *r = req->data;
  struct conn *c = r->c;

  c->writes--;
  if (status < 0 || c->closing) {
    conn_close(c);
    resp_release(r);
  } else {
    r->off += (int64_t) r->body_len;
    r->body_len = 0;
    if (r->off < r->size && !r->head_only)
      file_read_next(r); /* still at the head of the queue */
    else
      resp_release(r);   /* left the queue when its last chunk went */
  }
  conn_maybe_finish(c);
}

/* Hand every answer that is ready, in order, to uv_write. */
static void pump(struct conn *c) {
  struct resp *r;

  while (!c->closing && (r = c->head) != NULL && r->ready) {
    if (r->kind != R_FILE) {
      if (batch_append(c, r->bytes, r->len) != 0) {
        conn_close(c);
        return;
      }
      c->head = r->next;
      if (c->head == NULL)
        c->tail = NULL;
      if (r->close_after)
        c->last_sent = 1;
      resp_release(r);
      if (c->last_sent)
        break;
      continue;
    }
    /* A file chunk: what was gathered goes first, then the chunk. */
    {
      uv_buf_t bufs[2];
      unsigned n = 0;
      int last;

      batch_flush(c);
      if (c->closing)
        return;
      if (!r->hdr_sent) {
        bufs[n++] = uv_buf_init(r->hdr, (unsigned int) r->hdr_len);
        r->hdr_sent = 1;
      }
      if (r->body_len > 0)
        bufs[n++] = uv_buf_init(r->body, (unsigned int) r->body_len);
      r->ready = 0;
      last = r->head_only || r->off + (int64_t) r->body_len >= r->size;
      r->wreq.data = r;
      if (uv_write(&r->wreq, (uv_stream_t *) &c->tcp, bufs, n,
                   on_file_written) != 0) {
        /* Not in the queue's way any more: release it with the rest. */
        r->ready = 1;
        conn_close(c);
        return;
      }
      c->writes++;
      if (!last)
        return; /* the next chunk is read once this one is written */
      c->head = r->next;
      if (c->head == NULL)
        c->tail = NULL;
      if (r->close_after) {
        c->last_sent = 1;
        break;
      }
    }
  }
  batch_flush(c);
  conn_maybe_finish(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  struct conn *c = req->data;

  /* The client reads our last answer, then closes; its EOF (or an error)
   * closes the handle.  A failed shutdown closes it now. */
  if (status < 0 || c->eof)
    conn_close(c);
  conn_unref(c);
}

/* Close (or half-close) a connection that has nothing left to send. */
static void conn_maybe_finish(struct conn *c) {
  if (c->closing || c->writes > 0 || c->batch != NULL || c->head != NULL)
    return;
  if (c->eof) {
    conn_close(c);
  } else if (c->last_sent && c->shut.data == NULL) {
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *) &c->tcp, on_shutdown) != 0)
      conn_close(c);
    else
      c->refs++;
  }
}

/* ---- answers --------------------------------------------------------------- */

static struct resp *resp_new(struct conn *c, enum resp_kind kind) {
  struct resp *r = calloc(1, sizeof(*r));

  if (r == NULL)
    return NULL;
  r->c = c;
  r->kind = kind;
  r->fd = -1;
  c->refs++;
  c->w->live_resps++;
  return r;
}

static void resp_queue(struct conn *c, struct resp *r) {
  if (c->tail)
    c->tail->next = r;
  else
    c->head = r;
  c->tail = r;
}

static const char *reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 413: return "Payload Too Large";
  case 500: return "Internal Server Error";
  default: return "Error";
  }
}

static size_t format_head(char *buf, size_t size, int status,
                          const char *type, uint64_t length, int close_after,
                          int keepalive10, const char *extra) {
  int n = snprintf(buf, size,
                   "HTTP/1.1 %d %s\r\nServer: lure-http\r\n"
                   "Content-Type: %s\r\nContent-Length: %llu\r\n%s%s\r\n",
                   status, reason(status), type, (unsigned long long) length,
                   close_after ? "Connection: close\r\n"
                   : keepalive10 ? "Connection: keep-alive\r\n" : "",
                   extra ? extra : "");

  return n < 0 ? 0 : (size_t) n >= size ? size - 1 : (size_t) n;
}

/* Make r a complete answer with a short body (errors, /sleep). */
static int resp_set_bytes(struct resp *r, int status, const char *body,
                          int keepalive10, const char *extra) {
  char head[256];
  size_t hl, bl = strlen(body);

  hl = format_head(head, sizeof(head), status, "text/plain", bl,
                   r->close_after, keepalive10, extra);
  free(r->bytes);
  r->bytes = malloc(hl + bl);
  if (r->bytes == NULL)
    return -1;
  memcpy(r->bytes, head, hl);
  if (!r->head_only)
    memcpy(r->bytes + hl, body, bl);
  r->len = hl + (r->head_only ? 0 : bl);
  r->kind = R_BYTES;
  r->ready = 1;
  return 0;
}

static int queue_error(struct conn *c, int status, int close_after,
                       int head_only, int keepalive10) {
  struct resp *r = resp_new(c, R_BYTES);
  char body[64];

  if (r == NULL)
    return -1;
  r->close_after = close_after;
  r->head_only = head_only;
  snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
  resp_queue(c, r);
  return resp_set_bytes(r, status, body, keepalive10,
                        status == 405 ? "Allow: GET, HEAD\r\n" : NULL);
}

/* A file answer failed before its headers left: an error answer instead. */
static void file_fail(struct resp *r, int status) {
  struct conn *c = r->c;

  if (r->fd >= 0) {
    uv_fs_t req;

    uv_fs_close(c->tcp.loop, &req, r->fd, NULL);
    uv_fs_req_cleanup(&req);
    r->fd = -1;
  }
  if (c->closing) {
    resp_release(r);
    return;
  }
  if (resp_set_bytes(r, status, status == 404 ? "404 Not Found\n"
                                              : "500 Internal Server Error\n",
                     0, NULL) != 0) {
    r->ready = 1;
    conn_close(c);
    return;
  }
  pump(c);
}

static void on_file_read(uv_fs_t *req) {
  struct resp *r = req->data;
  ssize_t n = req->result;

  uv_fs_req_cleanup(req);
  if (r->c->closing) {
    resp_release(r);
    return;
  }
  if (n <= 0) {
    /* An error, or the file shrank under us. */
    if (!r->hdr_sent) {
      file_fail(r, 500);
    } else {
      /* Headers promised more than we have: the client must not take
       * this body as complete. */
      r->ready = 1;
      conn_close(r->c);
    }
    return;
  }
  r->body_len = (size_t) n;
  r->ready = 1;
  pump(r->c);
}

static void file_read_next(struct resp *r) {
  int64_t left = r->size - r->off;
  uv_buf_t b = uv_buf_init(r->body, (unsigned int) (left < FILE_CHUNK
                                                        ? left : FILE_CHUNK));

  r->fs.data = r;
  if (uv_fs_read(r->c->tcp.loop, &r->fs, r->fd, &b, 1, r->off,
                 on_file_read) != 0) {
    r->ready = 1;
    conn_close(r->c);
  }
}

static void on_file_stat(uv_fs_t *req) {
  struct resp *r = req->data;
  int ok = req->result == 0 && S_ISREG(req->statbuf.st_mode);
  uint64_t size = req->statbuf.st_size;

  uv_fs_req_cleanup(req);
  if (r->c->closing) {
    resp_release(r);
    return;
  }
  if (!ok) {
    file_fail(r, 404);
    return;
  }
  r->size = (int64_t) size;
  r->hdr_len = format_head(r->hdr, sizeof(r->hdr), 200,
                           "application/octet-stream", size, r->close_after,
                           0, NULL);
  if (r->head_only || size == 0) {
    r->ready = 1;
    pump(r->c);
    return;
  }
  r->body = chunk_get(r->c->w);
  if (r->body == NULL) {
    file_fail(r, 500);
    return;
  }
  file_read_next(r);
}

static void on_file_open(uv_fs_t *req) {
  struct resp *r = req->data;
  ssize_t fd = req->result;

  uv_fs_req_cleanup(req);
  if (fd >= 0)
    r->fd = (uv_file) fd;
  if (r->c->closing) {
    resp_release(r);
    return;
  }
  if (fd < 0) {
    file_fail(r, fd == UV_ENOENT || fd == UV_ENOTDIR || fd == UV_EACCES ||
                         fd == UV_EISDIR || fd == UV_ELOOP
                     ? 404 : 500);
    return;
  }
  r->fs.data = r;
  if (uv_fs_fstat(r->c->tcp.loop, &r->fs, r->fd, on_file_stat) != 0)
    file_fail(r, 500);
}

/* A plain file name: letters, digits, '.', '-', '_', not starting with a
 * dot.  Nothing else (no '/', no '%', no "..") reaches the file system. */
static int name_ok(const char *name, size_t len) {
  size_t i;

  if (len == 0 || len > 255 || name[0] == '.')
    return 0;
  for (i = 0; i < len; i++) {
    char ch = name[i];

    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_'))
      return 0;
  }
  return 1;
}

static void on_sleep(uv_timer_t *t) {
  struct resp *r = t->data;
  char body[64];

  snprintf(body, sizeof(body), "slept %llu ms\n", (unsigned long long) r->ms);
  if (resp_set_bytes(r, 200, body, 0, NULL) != 0) {
    conn_close(r->c);
    return;
  }
  pump(r->c);
}

/* Route one complete request; the answer joins the queue in order. */
static int dispatch(struct conn *c) {
  http_parser *p = &c->parser;
  int keepalive = http_should_keep_alive(p);
  int keepalive10 = keepalive && p->http_major == 1 && p->http_minor == 0;
  int head_only = p->method == HTTP_HEAD;
  int close_after = !keepalive;
  const char *url = c->url;
  size_t ulen = c->url_len, plen;
  const char *q = memchr(url, '?', ulen);
  struct resp *r;

  if (c->closing)
    return 0; /* an earlier answer failed and closed the connection */
  plen = q ? (size_t) (q - url) : ulen;
  c->w->requests++;
  if (p->method != HTTP_GET && p->method != HTTP_HEAD)
    return queue_error(c, 405, close_after, 0, keepalive10);

  if (plen == 10 && memcmp(url, "/plaintext", 10) == 0) {
    if (c->head == NULL && !close_after && !head_only && !keepalive10)
      return batch_append(c, plaintext_resp, sizeof(plaintext_resp) - 1);
    r = resp_new(c, R_BYTES);
    if (r == NULL)
      return -1;
    r->close_after = close_after;
    r->head_only = head_only;
    resp_queue(c, r);
    return resp_set_bytes(r, 200, "Hello, World!", keepalive10, NULL);
  }

  if (plen > 6 && memcmp(url, "/file/", 6) == 0 && opt_dir != NULL &&
      name_ok(url + 6, plen - 6)) {
    char path[4096];

    snprintf(path, sizeof(path), "%s/%.*s", opt_dir, (int) (plen - 6),
             url + 6);
    r = resp_new(c, R_FILE);
    if (r == NULL)
      return -1;
    r->close_after = close_after;
    r->head_only = head_only;
    resp_queue(c, r);
    r->fs.data = r;
    if (uv_fs_open(c->tcp.loop, &r->fs, path, O_RDONLY | O_CLOEXEC, 0,
                   on_file_open) != 0) {
      file_fail(r, 500);
    }
    return 0;
  }

  if (plen == 6 && memcmp(url, "/sleep", 6) == 0) {
    char *end;
    unsigned long ms;

    if (q == NULL || ulen - plen < 5 || memcmp(q, "?ms=", 4) != 0)
      return queue_error(c, 400, close_after, head_only, keepalive10);
    ms = strtoul(q + 4, &end, 10);
    if (end != url + ulen || end == q + 4 || ms > 60000)
      return queue_error(c, 400, close_after, head_only, keepalive10);
    r = resp_new(c, R_SLEEP);
    if (r == NULL)
      return -1;
    r->close_after = close_after;
    r->head_only = head_only;
    r->ms = ms;
    resp_queue(c, r);
    if (uv_timer_init(c->tcp.loop, &r->timer) != 0)
      return -1;
    r->timer.data = r;
    r->timer_open = 1;
    return uv_timer_start(&r->timer, on_sleep, ms, 0);
  }

  return queue_error(c, 404, close_after, head_only, keepalive10);
}

/* ---- parser callbacks ------------------------------------------------------ */

static int head_grow(struct conn *c, size_t len) {
  c->head_bytes += len;
  if (c->head_bytes > HEAD_MAX) {
    c->err = 413;
    return 1;
  }
  return 0;
}

static int on_message_begin(http_parser *p) {
  struct conn *c = p->data;

  c->head_bytes = 0;
  c->url_len = 0;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  struct conn *c = p->data;

  if (head_grow(c, len) || c->url_len + len > URL_MAX) {
    c->err = 413;
    return 1;
  }
  memcpy(c->url + c->url_len, at, len);
  c->url_len += len;
  return 0;
}

static int on_header_bytes(http_parser *p, const char *at, size_t len) {
  (void) at;
  return head_grow(p->data, len);
}

static int on_message_complete(http_parser *p) {
  struct conn *c = p->data;

  if (dispatch(c) != 0) {
    c->err = 500;
    return 1;
  }
  if (c->closing || !http_should_keep_alive(p)) {
    /* Connection: close (or HTTP/1.0): nothing after this request. */
    c->parse_done = 1;
    http_parser_pause(p, 1);
  }
  return 0;
}

static const http_parser_settings parser_settings = {
  .on_message_begin = on_message_begin,
  .on_url = on_url,
  .on_header_field = on_header_bytes,
  .on_header_value = on_header_bytes,
  .on_message_complete = on_message_complete,
};

/* ---- reading --------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct conn *c = h->data;

  (void) suggested;
  *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct conn *c = s->data;

  if (nread < 0) {
    if (nread == UV_EOF && !c->closing) {
      c->eof = 1;
      uv_read_stop(s);
      conn_maybe_finish(c); /* else when the last answer is written */
    } else {
      conn_close(c);
    }
    return;
  }
  if (nread == 0 || c->parse_done || c->closing)
    return; /* after the last request: the rest is read and dropped */
  {
    size_t n = http_parser_execute(&c->parser, &parser_settings, buf->base,
                                   (size_t) nread);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

    (void) n;
    if (c->closing)
      return;
    if (e != HPE_OK && e != HPE_PAUSED) {
      int status = c->err ? c->err : e == HPE_HEADER_OVERFLOW ? 413 : 400;

      c->parse_done = 1;
      if (status == 500 || queue_error(c, status, 1, 0, 0) != 0) {
        conn_close(c);
        return;
      }
    }
  }
  pump(c);
}

/* A connection of w's; counted in w->live_conns unless counted already
 * (a handed-over one is counted when it is queued). */
static struct conn *conn_new(struct worker *w, int counted) {
  struct conn *c = calloc(1, sizeof(*c));

  if (c == NULL) {
    if (counted)
      __atomic_sub_fetch(&w->live_conns, 1, __ATOMIC_RELAXED);
    return NULL;
  }
  c->w = w;
  c->refs = 1;
  uv_tcp_init(&w->loop, &c->tcp);
  c->tcp.data = c;
  if (!counted)
    __atomic_add_fetch(&w->live_conns, 1, __ATOMIC_RELAXED);
  c->next = w->conns;
  if (w->conns)
    w->conns->prev = c;
  w->conns = c;
  return c;
}

static void conn_serve(struct conn *c) {
  c->w->accepted++;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  uv_tcp_nodelay(&c->tcp, 1);
  if (uv_read_start((uv_stream_t *) &c->tcp, on_alloc, on_read) != 0)
    conn_close(c);
}

/* The loop serving the fewest connections, if w serves 2 more than it
 * (the one just accepted counted), else NULL. */
static struct worker *handoff_target(struct worker *w) {
  struct worker *best = NULL;
  long mine = __atomic_load_n(&w->live_conns, __ATOMIC_RELAXED);
  long least = mine;
  int running = __atomic_load_n(&nrunning, __ATOMIC_ACQUIRE);
  int i;

  for (i = 0; i < running; i++) {
    long n = __atomic_load_n(&workers[i].live_conns, __ATOMIC_RELAXED);

    if (&workers[i] != w && n < least) {
      least = n;
      best = &workers[i];
    }
  }
  return best != NULL && mine >= least + 2 ? best : NULL;
}

/* Give the connection c (accepted on w) to the loop t: 0, or -1 when it
 * stays here (t stopping, its queue full, no descriptor left). */
static int handoff(struct conn *c, struct worker *t) {
  uv_os_fd_t fd;
  int copy;
  int rc = -1;

  if (uv_fileno((uv_handle_t *) &c->tcp, &fd) != 0)
    return -1;
  copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0)
    return -1;
  uv_mutex_lock(&t->handoff_lock);
  if (!t->handoff_closed && t->handoff_n < HANDOFF_MAX) {
    t->handoff_fds[t->handoff_n++] = copy;
    /* Counted there from now, and no longer here, so that the next
     * accepts (here or there) see the loads as they will be. */
    __atomic_add_fetch(&t->live_conns, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&c->w->live_conns, 1, __ATOMIC_RELAXED);
    c->uncounted = 1;
    /* Under the lock: t closes its async handle only after it set
     * handoff_closed under this lock, so the handle is open here. */
    uv_async_send(&t->handoff);
    rc = 0;
  }
  uv_mutex_unlock(&t->handoff_lock);
  if (rc != 0) {
    close(copy);
    return -1;
  }
  c->w->handed++;
  conn_close(c); /* closes our descriptor; the copy keeps the socket */
  return 0;
}

static void on_handoff(uv_async_t *a) {
  struct worker *w = a->data;
  int fds[HANDOFF_MAX];
  int n, i;

  uv_mutex_lock(&w->handoff_lock);
  n = w->handoff_n;
  memcpy(fds, w->handoff_fds, (size_t) n * sizeof(fds[0]));
  w->handoff_n = 0;
  uv_mutex_unlock(&w->handoff_lock);
  for (i = 0; i < n; i++) {
    struct conn *c = conn_new(w, 1);

    if (c == NULL) {
      close(fds[i]);
      continue;
    }
    if (uv_tcp_open(&c->tcp, fds[i]) != 0) {
      close(fds[i]);
      conn_close(c);
      continue;
    }
    conn_serve(c);
  }
}

/* Stop taking connections from the other loops; close what waits. */
static void handoff_close(struct worker *w) {
  uv_mutex_lock(&w->handoff_lock);
  w->handoff_closed = 1;
  while (w->handoff_n > 0) {
    close(w->handoff_fds[--w->handoff_n]);
    __atomic_sub_fetch(&w->live_conns, 1, __ATOMIC_RELAXED);
  }
  uv_mutex_unlock(&w->handoff_lock);
  if (!uv_is_closing((uv_handle_t *) &w->handoff))
    uv_close((uv_handle_t *) &w->handoff, NULL);
}

static void on_connection(uv_stream_t *server, int status) {
  struct worker *w = server->data;
  struct worker *t;
  struct conn *c;

  if (status < 0) {
    if (!opt_quiet)
      fprintf(stderr, "lure-http: accept: %s\n", uv_strerror(status));
    return;
  }
  c = conn_new(w, 0);
  if (c == NULL)
    return;
  if (uv_accept(server, (uv_stream_t *) &c->tcp) != 0) {
    conn_close(c);
    return;
  }
  if (opt_threads > 1 && (t = handoff_target(w)) != NULL &&
      handoff(c, t) == 0)
    return;
  conn_serve(c);
}

/* ---- loops, threads, stopping ---------------------------------------------- */

static void worker_stop(struct worker *w) {
  if (w->have_handoff)
    handoff_close(w);
  while (w->conns != NULL)
    conn_close(w->conns);
  if (w->have_server && !uv_is_closing((uv_handle_t *) &w->server))
    uv_close((uv_handle_t *) &w->server, NULL);
  if (w->have_stop && !uv_is_closing((uv_handle_t *) &w->stop))
    uv_close((uv_handle_t *) &w->stop, NULL);
}

static void on_stop(uv_async_t *a) {
  worker_stop(a->data);
}

static void on_signal(uv_signal_t *s, int signum) {
  int i;

  (void) signum;
  for (i = 1; i < nrunning; i++)
    uv_async_send(&workers[i].stop);
  uv_close((uv_handle_t *) &sig_int, NULL);
  uv_close((uv_handle_t *) &sig_term, NULL);
  worker_stop(&workers[0]);
  (void) s;
}

/* The loop and the listening socket of one worker, on its own thread. */
static int worker_listen(struct worker *w, int port) {
  struct sockaddr_storage ss;
  unsigned flags = 0;
  int rc;

  rc = uv_loop_init(&w->loop);
  if (rc != 0) {
    fprintf(stderr, "lure-http: loop init: %s\n", uv_strerror(rc));
    exit(1);
  }
#ifdef LURE_UV_H
  /* This thread alone initializes, runs and closes the handles of this
   * loop (other threads only uv_async_send to it): lure can give it a
   * single issuer's ring, which costs less per request.  The environment
   * (LURE_SINGLE_THREAD=0) cannot undo a call, so it is asked for here
   * only when the environment does not say otherwise. */
  {
    const char *e = getenv("LURE_SINGLE_THREAD");

    if (e == NULL || strcmp(e, "0") != 0) {
      rc = uv_loop_configure(&w->loop, LURE_LOOP_SINGLE_THREAD, 1);
      if (rc != 0)
        return rc;
    }
  }
  /* A server answers a lone client sooner, and at less CPU per request,
   * when its loop looks for the next request for a moment before it
   * sleeps (LURE_LOOP_BUSY_POLL; lure stops spinning where it does not
   * pay: many events per wait, spins that find nothing, a busy CPU).  The
   * environment (LURE_BUSY_POLL, 0 turns it off) has the last word. */
  if (getenv("LURE_BUSY_POLL") == NULL) {
    rc = uv_loop_configure(&w->loop, LURE_LOOP_BUSY_POLL, 50u);
    if (rc != 0)
      return rc;
  }
#endif
  rc = uv_async_init(&w->loop, &w->stop, on_stop);
  if (rc != 0)
    return rc;
  w->have_stop = 1;
  w->stop.data = w;
  if (opt_threads > 1) {
    rc = uv_mutex_init(&w->handoff_lock);
    if (rc != 0)
      return rc;
    rc = uv_async_init(&w->loop, &w->handoff, on_handoff);
    if (rc != 0) {
      uv_mutex_destroy(&w->handoff_lock);
      return rc;
    }
    w->have_handoff = 1;
    w->handoff.data = w;
  }
  if (uv_ip4_addr(opt_host, port, (struct sockaddr_in *) &ss) != 0 &&
      uv_ip6_addr(opt_host, port, (struct sockaddr_in6 *) &ss) != 0)
    return UV_EINVAL;
  rc = uv_tcp_init_ex(&w->loop, &w->server, ss.ss_family);
  if (rc != 0)
    return rc;
  w->have_server = 1;
  w->server.data = w;
  if (opt_threads > 1) {
#ifdef UV_TCP_REUSEPORT
    flags |= UV_TCP_REUSEPORT;
#else
    /* libuv before 1.49: the same socket option by hand. */
    uv_os_fd_t fd;
    int on = 1;

    rc = uv_fileno((uv_handle_t *) &w->server, &fd);
    if (rc != 0)
      return rc;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0)
      return uv_translate_sys_error(errno);
#endif
  }
  rc = uv_tcp_bind(&w->server, (struct sockaddr *) &ss, flags);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *) &w->server, 1024, on_connection);
  return rc;
}

static void worker_thread(void *arg) {
  struct worker *w = arg;

  w->rc = worker_listen(w, bound_port);
  if (w->rc != 0)
    worker_stop(w); /* closes what was opened; the loop runs dry below */
  uv_sem_post(w->ready);
  uv_run(&w->loop, UV_RUN_DEFAULT);
#ifdef LURE_UV_H
  (void) lure_loop_stats(&w->loop, &w->stats);
#endif
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: lure-http [--host ADDR] [--port N] [--dir DIR] "
          "[--threads N] [--quiet]\n"
          "  --host ADDR   address to listen on (default 127.0.0.1)\n"
          "  --port N      TCP port (default 8080; 0 picks a free one)\n"
          "  --dir DIR     directory that /file/NAME serves\n"
          "  --threads N   loops, one per thread, sharing the port (1..%d)\n"
          "  --quiet       print nothing but the start and exit reports\n",
          MAX_THREADS);
}

static void print_report(void) {
  uv_rusage_t ru;
  unsigned long conns = 0, reqs = 0;
  long live_c = 0, live_r = 0;
  double cpu;
  int i;

  for (i = 0; i < opt_threads; i++) {
    printf("loop %d: %lu connections, %lu requests, %lu handed over\n", i,
           workers[i].accepted, workers[i].requests, workers[i].handed);
#ifdef LURE_UV_H
    /* What the loop cost the kernel: entries, SQEs, CQEs, CQ overflows
     * (lure_loop_stats); per request, the figures that a ring too small
     * or an operation submitted again show at once. */
    {
      const lure_loop_stats_t *st = &workers[i].stats;
      double r = workers[i].requests > 0 ? (double) workers[i].requests : 1;

      printf("loop %d ring: %llu ticks, %llu waits, %llu SQEs, %llu CQEs, "
             "%llu CQ overflows; per request %.2f waits, %.2f SQEs, "
             "%.2f CQEs\n", i, (unsigned long long) st->ticks,
             (unsigned long long) st->wait_calls,
             (unsigned long long) st->sqes_submitted,
             (unsigned long long) st->cqes_reaped,
             (unsigned long long) st->cq_overflow, st->wait_calls / r,
             st->sqes_submitted / r, st->cqes_reaped / r);
      if (st->busy_polls > 0)
        printf("loop %d busy polling: %llu spins, %llu found an event\n", i,
               (unsigned long long) st->busy_polls,
               (unsigned long long) st->busy_poll_hits);
    }
#endif
    conns += workers[i].accepted;
    reqs += workers[i].requests;
    live_c += workers[i].live_conns;
    live_r += workers[i].live_resps;
  }
  if (uv_getrusage(&ru) != 0)
    memset(&ru, 0, sizeof(ru));
  cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
        ru.ru_stime.tv_usec / 1e6;
  printf("total: %lu connections, %lu requests, cpu %.3f s (user %.3f, "
         "sys %.3f), %.0f requests per cpu-second\n",
         conns, reqs, cpu, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
         ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
         cpu > 0 ? reqs / cpu : 0.0);
  printf("open at exit: %ld connections, %ld responses\n", live_c, live_r);
  fflush(stdout);
}

int main(int argc, char **argv) {
  struct sockaddr_storage ss;
  uv_sem_t ready;
  char name[64];
  int namelen;
  int rc, i, started;
  int status = 0;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
      opt_host = argv[++i];
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      opt_port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      opt_dir = argv[++i];
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      opt_threads = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--quiet") == 0) {
      opt_quiet = 1;
    } else if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (opt_port < 0 || opt_port > 65535 || opt_threads < 1 ||
      opt_threads > MAX_THREADS) {
    usage(stderr);
    return 2;
  }
  if (opt_dir != NULL) {
    struct stat st;

    if (stat(opt_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
      fprintf(stderr, "lure-http: --dir %s: not a directory\n", opt_dir);
      return 2;
    }
  }

  /* A write to a connection the client reset must fail with EPIPE, not
   * kill the server (libuv leaves SIGPIPE to the program). */
  signal(SIGPIPE, SIG_IGN);

  /* Loop 0 runs on the main thread and holds the signal handles. */
  workers[0].id = 0;
  rc = worker_listen(&workers[0], opt_port);
  if (rc != 0) {
    /* Nothing runs yet: exit without the loop's cleanup. */
    fprintf(stderr, "lure-http: listen on %s:%d: %s\n", opt_host, opt_port,
            uv_strerror(rc));
    return 1;
  }
  namelen = sizeof(ss);
  uv_tcp_getsockname(&workers[0].server, (struct sockaddr *) &ss, &namelen);
  if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *) &ss, name, sizeof(name));
    bound_port = ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
  } else {
    uv_ip4_name((struct sockaddr_in *) &ss, name, sizeof(name));
    bound_port = ntohs(((struct sockaddr_in *) &ss)->sin_port);
  }

  uv_sem_init(&ready, 0);
  for (started = 1; started < opt_threads; started++) {
    struct worker *w = &workers[started];

    w->id = started;
    w->ready = &ready;
    rc = uv_thread_create(&w->thread, worker_thread, w);
    if (rc != 0)
      break;
    uv_sem_wait(&ready);
    if (w->rc != 0) {
      rc = w->rc;
      started++; /* its thread ends by itself: join it */
      break;
    }
    __atomic_store_n(&nrunning, started + 1, __ATOMIC_RELEASE);
  }
  uv_sem_destroy(&ready);

  uv_signal_init(&workers[0].loop, &sig_int);
  uv_signal_init(&workers[0].loop, &sig_term);
  if (rc != 0) {
    fprintf(stderr, "lure-http: loop %d: %s\n", started - 1,
            uv_strerror(rc));
    status = 1;
    on_signal(NULL, 0);
  } else {
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    printf("listening on %s:%d\n", name, bound_port);
    printf("threads: %d\n", opt_threads);
#ifdef LURE_UV_H
    printf("executor: lure %s\n", lure_loop_backend(&workers[0].loop));
#else
    printf("executor: libuv %s\n", uv_version_string());
#endif
    fflush(stdout);
  }

  uv_run(&workers[0].loop, UV_RUN_DEFAULT);
#ifdef LURE_UV_H
  (void) lure_loop_stats(&workers[0].loop, &workers[0].stats);
#endif
  for (i = 1; i < started; i++) {
    uv_thread_join(&workers[i].thread);
    if (uv_loop_close(&workers[i].loop) != 0) {
      fprintf(stderr, "lure-http: loop %d did not close\n", i);
      status = 1;
    }
  }
  if (uv_loop_close(&workers[0].loop) != 0) {
    fprintf(stderr, "lure-http: loop 0 did not close\n");
    status = 1;
  }
  print_report();
  for (i = 0; i < started; i++) {
    while (workers[i].nchunk_free > 0)
      free(workers[i].chunk_free[--workers[i].nchunk_free]);
    if (workers[i].have_handoff)
      uv_mutex_destroy(&workers[i].handoff_lock);
  }
  return status;
}
