/*
 * fs-event.c - fs event handles: changes to a file or a directory, as
 * inotify(7) reports them.
 *
 * One inotify instance per loop, made at the first lure_fs_event_start()
 * (IN_NONBLOCK | IN_CLOEXEC) and kept until lure_loop_close().  Its
 * descriptor is an ordinary lure__io watcher on the loop's wait point, so
 * the ring (multishot POLL_ADD) or epoll tells when events are queued; no
 * thread is involved.  The watcher drains the descriptor on every report.
 *
 * inotify gives one watch descriptor (wd) per inode, whatever path names
 * it: two handles on "dir" and "dir/." share a wd, and removing the watch
 * for one would silence the other.  So, as libuv does, a table keyed by wd
 * holds one struct lure__watch per kernel watch with the list of handles
 * on it, and the kernel watch is removed when the last handle leaves.
 * Unlike libuv, each handle keeps its own copy of the path it was started
 * with, so lure_fs_event_getpath() and the file name reported for a watched
 * file are the handle's own even when another path shares its watch.
 *
 * Events map onto libuv's two kinds as libuv 1.44 maps them on Linux:
 * IN_ATTRIB and IN_MODIFY are LURE_CHANGE, any other bit (create, delete,
 * moves, IN_DELETE_SELF, IN_IGNORED, IN_ISDIR, ...) is LURE_RENAME, and
 * one inotify event may be both.  The file name is the entry's name for a
 * watched directory; for a watched file, whose events carry no name, it is
 * the last component of the handle's path.
 *
 * Field notes: the kernel drops a watch by itself when its inode goes
 * (IN_IGNORED follows IN_DELETE_SELF); its entry stays in the table while
 * handles are on it, and inotify_rm_watch() then fails with EINVAL, which
 * is harmless.  Watch descriptors are allocated cyclically by the kernel,
 * so a stale wd is not handed out again soon.  IN_Q_OVERFLOW has wd -1 and
 * matches no watch: it is dropped, as in libuv.  The flags of
 * lure_fs_event_start() change nothing on Linux, as in libuv 1.44:
 * LURE_FS_EVENT_RECURSIVE is accepted and the watch stays one level deep.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include "internal.h"

#define LURE__INOTIFY_MASK                                                    \
  (IN_ATTRIB | IN_CREATE | IN_MODIFY | IN_DELETE | IN_DELETE_SELF |           \
   IN_MOVE_SELF | IN_MOVED_FROM | IN_MOVED_TO)

#define LURE__FS_EVENT_FLAGS                                                  \
  (LURE_FS_EVENT_WATCH_ENTRY | LURE_FS_EVENT_STAT | LURE_FS_EVENT_RECURSIVE)

/* One kernel watch and the handles on it. */
struct lure__watch {
  struct lure__watch *next;    /* chain of its bucket */
  struct lure__queue handles;  /* lure_fs_event_t.watchers */
  int wd;
  int iterating;               /* callbacks of an event are running */
};

struct lure__inotify {
  int fd;
  struct lure__io io;
  struct lure__watch **buckets;
  size_t nbuckets;             /* a power of two */
  size_t count;
};

/* ---- the watch table ------------------------------------------------------ */

static size_t lure__wd_bucket(const struct lure__inotify *in, int wd) {
  return (size_t) (unsigned) wd & (in->nbuckets - 1);
}

static struct lure__watch *lure__watch_find(const struct lure__inotify *in,
                                            int wd) {
  struct lure__watch *w;

  for (w = in->buckets[lure__wd_bucket(in, wd)]; w != NULL; w = w->next)
    if (w->wd == wd)
      return w;
  return NULL;
}

/* Double the buckets when chains grow past two entries on average.  A
 * failed allocation only leaves the chains longer. */
static void lure__watch_grow(struct lure__inotify *in) {
  struct lure__watch **old = in->buckets;
  size_t n = in->nbuckets;
  struct lure__watch *w;
  struct lure__watch *next;
  size_t i;

  in->buckets = lure__calloc(n * 2, sizeof(*in->buckets));
  if (in->buckets == NULL) {
    in->buckets = old;
    return;
  }
  in->nbuckets = n * 2;
  for (i = 0; i < n; i++) {
    for (w = old[i]; w != NULL; w = next) {
      next = w->next;
      w->next = in->buckets[lure__wd_bucket(in, w->wd)];
      in->buckets[lure__wd_bucket(in, w->wd)] = w;
    }
  }
  lure__free(old);
}

static void lure__watch_insert(struct lure__inotify *in,
                               struct lure__watch *w) {
  size_t b;

  if (in->count >= in->nbuckets * 2)
    lure__watch_grow(in);
  b = lure__wd_bucket(in, w->wd);
  w->next = in->buckets[b];
  in->buckets[b] = w;
  in->count++;
}

static void lure__watch_unlink(struct lure__inotify *in,
                               struct lure__watch *w) {
  struct lure__watch **pp = &in->buckets[lure__wd_bucket(in, w->wd)];

  while (*pp != w)
    pp = &(*pp)->next;
  *pp = w->next;
  in->count--;
}

/* Free w once no handle is on it and no callback loop walks it. */
static void lure__watch_maybe_free(struct lure__inotify *in,
                                   struct lure__watch *w) {
  if (w->iterating || !lure__queue_empty(&w->handles))
    return;
  lure__watch_unlink(in, w);
  (void) inotify_rm_watch(in->fd, w->wd);
  lure__free(w);
}

/* ---- reading events -------------------------------------------------------- */

/* The last component of path, as libuv names a watched file. */
static const char *lure__path_basename(const char *path) {
  const char *s = strrchr(path, '/');

  return s == NULL ? path : s + 1;
}

static void lure__inotify_dispatch(struct lure__inotify *in,
                                   const struct inotify_event *e) {
  struct lure__watch *w;
  struct lure__queue todo;
  struct lure__queue *q;
  lure_fs_event_t *h;
  const char *name;
  int events = 0;

  if (e->mask & (IN_ATTRIB | IN_MODIFY))
    events |= LURE_CHANGE;
  if (e->mask & ~(uint32_t) (IN_ATTRIB | IN_MODIFY))
    events |= LURE_RENAME;
  w = lure__watch_find(in, e->wd);
  if (w == NULL)
    return;  /* stopped since the kernel queued it, or IN_Q_OVERFLOW */

  /* A callback may stop or close any handle, this one or another on the
   * same watch, or start new ones.  Take the list aside and put each
   * handle back before calling it: a handle stopped meanwhile has left
   * the private list and is not called, a handle started meanwhile joined
   * the watch's list and waits for the next event.  The watch is kept
   * until the walk is over. */
  w->iterating = 1;
  lure__queue_move(&w->handles, &todo);
  while (!lure__queue_empty(&todo)) {
    q = lure__queue_head(&todo);
    lure__queue_remove(q);
    lure__queue_insert_tail(&w->handles, q);
    h = lure__container_of(q, lure_fs_event_t, watchers);
    name = e->len > 0 ? e->name : lure__path_basename(h->path);
    h->cb(h, name, events, 0);
  }
  w->iterating = 0;
  lure__watch_maybe_free(in, w);
}

static void lure__inotify_read(lure_loop_t *loop, struct lure__io *io,
                               unsigned revents) {
  struct lure__inotify *in = lure__container_of(io, struct lure__inotify, io);
  /* Room for many events; inotify_event's name ends NUL-padded, and
   * NAME_MAX + 1 bytes of name always fit. */
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  const struct inotify_event *e;
  ssize_t n;
  char *p;

  (void) loop;
  (void) revents;
  for (;;) {
    n = read(in->fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;  /* EAGAIN: drained */
    for (p = buf; p < buf + n; p += sizeof(*e) + e->len) {
      e = (const struct inotify_event *) (void *) p;
      lure__inotify_dispatch(in, e);
    }
  }
}

/* ---- the loop's inotify instance ------------------------------------------ */

static int lure__inotify_open(lure_loop_t *loop, struct lure__inotify **out) {
  struct lure__loop_priv *p = loop->priv;
  struct lure__inotify *in = p->inotify;
  int rc;

  if (in != NULL) {
    *out = in;
    return 0;
  }
  in = lure__calloc(1, sizeof(*in));
  if (in == NULL)
    return LURE_ENOMEM;
  in->nbuckets = 16;
  in->buckets = lure__calloc(in->nbuckets, sizeof(*in->buckets));
  if (in->buckets == NULL) {
    lure__free(in);
    return LURE_ENOMEM;
  }
  in->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in->fd < 0) {
    rc = -errno;
    lure__free(in->buckets);
    lure__free(in);
    return rc;
  }
  lure__io_init(&in->io, lure__inotify_read, in->fd);
  in->io.flags = LURE__IO_DRAINS;
  rc = lure__io_start(loop, &in->io, POLLIN);
  if (rc != 0) {
    close(in->fd);
    lure__free(in->buckets);
    lure__free(in);
    return rc;
  }
  p->inotify = in;
  *out = in;
  return 0;
}

/* The loop has no fs event handle left (lure_loop_close refuses while any
 * handle is open), so the table is empty. */
void lure__fs_event_loop_close(lure_loop_t *loop) {
  struct lure__inotify *in = loop->priv->inotify;

  if (in == NULL)
    return;
  lure__io_close(loop, &in->io);
  close(in->fd);
  lure__free(in->buckets);
  lure__free(in);
  loop->priv->inotify = NULL;
}

int lure__fs_event_is_io(const lure_loop_t *loop, const struct lure__io *w) {
  return loop->priv->inotify != NULL && w == &loop->priv->inotify->io;
}

/* ---- the handle ------------------------------------------------------------ */

/* Add h's watch; h is inactive and h->path is its own copy. */
static int lure__fs_event_watch(struct lure__inotify *in, lure_fs_event_t *h) {
  struct lure__watch *w;
  int wd;

  wd = inotify_add_watch(in->fd, h->path, LURE__INOTIFY_MASK);
  if (wd < 0)
    return -errno;
  w = lure__watch_find(in, wd);
  if (w == NULL) {
    w = lure__malloc(sizeof(*w));
    if (w == NULL) {
      /* No handle of this loop is on wd (it is not in the table), so
       * the watch just added can go again. */
      (void) inotify_rm_watch(in->fd, wd);
      return LURE_ENOMEM;
    }
    w->wd = wd;
    w->iterating = 0;
    lure__queue_init(&w->handles);
    lure__watch_insert(in, w);
  }
  lure__queue_insert_tail(&w->handles, &h->watchers);
  h->wd = wd;
  lure__handle_start((lure_handle_t *) h);
  return 0;
}

LURE_EXTERN int lure_fs_event_init(lure_loop_t *loop, lure_fs_event_t *h) {
  if (loop == NULL || loop->priv == NULL || h == NULL)
    return LURE_EINVAL;
  lure__handle_init(loop, (lure_handle_t *) h, LURE_FS_EVENT);
  h->path = NULL;
  h->cb = NULL;
  h->wd = -1;
  lure__queue_init(&h->watchers);
  return 0;
}

LURE_EXTERN int lure_fs_event_start(lure_fs_event_t *h, lure_fs_event_cb cb,
                                    const char *path, unsigned int flags) {
  struct lure__inotify *in = NULL;
  int rc = lure__handle_check((lure_handle_t *) h, LURE_FS_EVENT);

  if (rc != 0)
    return rc;
  if (cb == NULL || path == NULL || (flags & ~LURE__FS_EVENT_FLAGS) != 0)
    return LURE_EINVAL;
  if (lure__handle_is_active((lure_handle_t *) h))
    return LURE_EINVAL;
  rc = lure__inotify_open(h->loop, &in);
  if (rc != 0)
    return rc;
  h->path = lure__strdup(path);
  if (h->path == NULL)
    return LURE_ENOMEM;
  h->cb = cb;
  rc = lure__fs_event_watch(in, h);
  if (rc != 0) {
    lure__free(h->path);
    h->path = NULL;
  }
  return rc;
}

LURE_EXTERN int lure_fs_event_stop(lure_fs_event_t *h) {
  struct lure__inotify *in;
  struct lure__watch *w;

  if (h == NULL || h->type != LURE_FS_EVENT || h->loop == NULL ||
      h->loop->priv == NULL)
    return LURE_EINVAL;
  if (!lure__handle_is_active((lure_handle_t *) h))
    return 0;
  in = h->loop->priv->inotify;
  w = lure__watch_find(in, h->wd);
  lure__queue_remove(&h->watchers);
  if (w != NULL)
    lure__watch_maybe_free(in, w);
  lure__handle_stop((lure_handle_t *) h);
  lure__free(h->path);
  h->path = NULL;
  h->wd = -1;
  return 0;
}

LURE_EXTERN int lure_fs_event_getpath(lure_fs_event_t *h, char *buffer,
                                      size_t *size) {
  size_t len;

  if (h == NULL || h->type != LURE_FS_EVENT || size == NULL)
    return LURE_EINVAL;
  if (!lure__handle_is_active((lure_handle_t *) h)) {
    *size = 0;
    return LURE_EINVAL;
  }
  len = strlen(h->path);
  if (len < *size && buffer == NULL)
    return LURE_EINVAL;
  return lure__copy_out(h->path, len, buffer, size);
}

void lure__fs_event_close(lure_fs_event_t *h) {
  lure_fs_event_stop(h);
}

/* After fork the descriptor is the parent's too: events read here would
 * be lost to it, and watches removed here would vanish for it.  Take a new
 * instance and watch every started handle's path again; the wds change. */
int lure__fs_event_loop_fork(lure_loop_t *loop) {
  struct lure__inotify *in = loop->priv->inotify;
  struct lure__queue all;
  struct lure__queue *q;
  struct lure__watch *w;
  struct lure__watch *next;
  lure_fs_event_t *h;
  size_t i;
  int fd;
  int rc = 0;
  int err;

  if (in == NULL)
    return 0;
  fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0)
    rc = -errno;
  lure__queue_init(&all);
  for (i = 0; i < in->nbuckets; i++) {
    for (w = in->buckets[i]; w != NULL; w = next) {
      next = w->next;
      while (!lure__queue_empty(&w->handles)) {
        q = lure__queue_head(&w->handles);
        lure__queue_remove(q);
        lure__queue_insert_tail(&all, q);
      }
      lure__free(w);
    }
    in->buckets[i] = NULL;
  }
  in->count = 0;
  /* Never close the parent's descriptor number under the watcher before a
   * new one exists: keep the old one when inotify_init1 failed. */
  if (fd >= 0) {
    close(in->fd);
    in->fd = fd;
    in->io.fd = fd;
  }
  while (!lure__queue_empty(&all)) {
    q = lure__queue_head(&all);
    lure__queue_remove(q);
    h = lure__container_of(q, lure_fs_event_t, watchers);
    lure__handle_stop((lure_handle_t *) h);
    err = fd >= 0 ? lure__fs_event_watch(in, h) : rc;
    if (err != 0) {
      lure__free(h->path);
      h->path = NULL;
      h->wd = -1;
      if (rc == 0)
        rc = err;
    }
  }
  return rc;
}
