/*
 * threadpool.c - the process-wide thread pool and lure_queue_work().
 *
 * The pool is the executor of last resort: user work always, and (once the
 * file requests exist) every file operation that neither the ring nor AIO
 * can take.  It starts on first use with LURE_THREADPOOL_SIZE threads
 * (default 4, clamped to 1..1024).  A finished job is queued on its loop and
 * the loop is woken through an internal async handle, so completions are
 * delivered in that loop's poll phase like any other I/O.
 *
 * Fork: pthread_atfork() holds the pool lock across fork(); the child gets
 * an empty, stopped pool that restarts on its first job (jobs queued in the
 * parent are the parent's).  The first job returns only once every thread
 * has started (as libuv's pool), so a fork right after it never catches a
 * thread inside its start-up (see lure__tp_start).
 *
 * Shutdown (lure_library_shutdown): the threads are joinable so that
 * lure__threadpool_shutdown() can wait until every one of them has left,
 * after finishing the jobs already queued.  A job submitted later starts a
 * new pool, as after fork.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include "internal.h"

enum {
  LURE__WORK_QUEUED = 1,
  LURE__WORK_RUNNING,
  LURE__WORK_DONE,
  LURE__WORK_CANCELED
};

static pthread_once_t lure__tp_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lure__tp_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lure__tp_cond = PTHREAD_COND_INITIALIZER;
static struct lure__queue lure__tp_queue;
static unsigned int lure__tp_nthreads;
/* Jobs queued or running: written under the pool lock, read without it by
 * lure__threadpool_full() (atomics, so that a loop thread may look). */
static unsigned int lure__tp_load;
static int lure__tp_stopping;  /* shutdown asked; workers leave when idle */
static pthread_t lure__tp_tids[1024]; /* lure__threadpool_size() caps at 1024 */

static void lure__tp_prepare(void) {
  pthread_mutex_lock(&lure__tp_mutex);
}

static void lure__tp_parent(void) {
  pthread_mutex_unlock(&lure__tp_mutex);
}

static void lure__tp_child(void) {
  /* The threads do not exist in the child; start over. */
  pthread_mutex_init(&lure__tp_mutex, NULL);
  pthread_cond_init(&lure__tp_cond, NULL);
  lure__queue_init(&lure__tp_queue);
  lure__tp_nthreads = 0;
  lure__tp_load = 0;
  lure__tp_stopping = 0;
}

static void lure__tp_once_init(void) {
  lure__queue_init(&lure__tp_queue);
  pthread_atfork(lure__tp_prepare, lure__tp_parent, lure__tp_child);
}

unsigned int lure__threadpool_size(void) {
  const char *s = getenv("LURE_THREADPOOL_SIZE");
  long n;

  /* A libuv program sizes its pool with UV_THREADPOOL_SIZE: lure's own
   * variable wins when both are set. */
  if (s == NULL || *s == '\0')
    s = getenv("UV_THREADPOOL_SIZE");
  if (s == NULL || *s == '\0')
    return 4;
  n = strtol(s, NULL, 10);
  if (n < 1)
    n = 1;
  if (n > 1024)
    n = 1024;
  return (unsigned int) n;
}

static void *lure__tp_worker(void *arg) {
  struct lure__work *w;
  struct lure__queue *q;
  lure_loop_t *loop;

  /* Started: lure__tp_start() waits for this (see there). */
  sem_post((sem_t *) arg);
  for (;;) {
    pthread_mutex_lock(&lure__tp_mutex);
    while (lure__queue_empty(&lure__tp_queue) && !lure__tp_stopping)
      pthread_cond_wait(&lure__tp_cond, &lure__tp_mutex);
    if (lure__queue_empty(&lure__tp_queue)) {
      /* Stopping, and nothing left to do. */
      pthread_mutex_unlock(&lure__tp_mutex);
      break;
    }
    q = lure__queue_head(&lure__tp_queue);
    lure__queue_remove(q);
    w = lure__container_of(q, struct lure__work, queue);
    w->state = LURE__WORK_RUNNING;
    pthread_mutex_unlock(&lure__tp_mutex);

    w->work(w);
    __atomic_fetch_sub(&lure__tp_load, 1, __ATOMIC_RELAXED);

    loop = w->loop;
    pthread_mutex_lock(&loop->priv->wq_mutex);
    /* Only the loop thread reads state after this, under wq_mutex. */
    w->state = LURE__WORK_DONE;
    lure__queue_insert_tail(&loop->priv->wq, &w->queue);
    pthread_mutex_unlock(&loop->priv->wq_mutex);
    lure_async_send(&loop->priv->wq_async);
  }
  return NULL;
}

/* Start the threads; called with the pool lock held. */
static int lure__tp_start(void) {
  unsigned int n = lure__threadpool_size();
  unsigned int i;
  unsigned int started;
  pthread_attr_t attr;
  pthread_t tid;
  sigset_t all;
  sigset_t old;
  sem_t sem;
  int err = 0;

  if (sem_init(&sem, 0, 0) != 0)
    return -errno;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_JOINABLE);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  /* Workers inherit a full signal mask: signals are the loops' business. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (i = 0; i < n; i++) {
    err = pthread_create(&tid, &attr, lure__tp_worker, &sem);
    if (err != 0)
      break;
    lure__tp_tids[lure__tp_nthreads] = tid;
    __atomic_store_n(&lure__tp_nthreads, lure__tp_nthreads + 1,
                     __ATOMIC_RELAXED);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  /* Return only once every thread runs its own code, as libuv's pool
   * does: a fork right after the first job must not catch a thread still
   * starting.  One that is may hold a lock of the allocator's, which the
   * child inherits locked: libuv's fork_threadpool_queue_work_simple hung
   * in the child 4 runs in 6 on the ring under AddressSanitizer (the
   * child's new pool threads waited for the allocator lock forever). */
  for (started = 0; started < lure__tp_nthreads; started++)
    while (sem_wait(&sem) != 0 && errno == EINTR)
      ;
  sem_destroy(&sem);
  return lure__tp_nthreads > 0 ? 0 : -err;
}

int lure__work_submit(lure_loop_t *loop, struct lure__work *w,
                      void (*work)(struct lure__work *w),
                      void (*done)(struct lure__work *w, int status)) {
  int rc = 0;

  pthread_once(&lure__tp_once, lure__tp_once_init);
  w->loop = loop;
  w->work = work;
  w->done = done;
  pthread_mutex_lock(&lure__tp_mutex);
  if (lure__tp_nthreads == 0)
    rc = lure__tp_start();
  if (rc == 0) {
    w->state = LURE__WORK_QUEUED;
    __atomic_fetch_add(&lure__tp_load, 1, __ATOMIC_RELAXED);
    lure__queue_insert_tail(&lure__tp_queue, &w->queue);
    pthread_cond_signal(&lure__tp_cond);
  }
  pthread_mutex_unlock(&lure__tp_mutex);
  return rc;
}

void lure__threadpool_shutdown(void) {
  unsigned int n;
  unsigned int i;
  pthread_t self = pthread_self();

  pthread_once(&lure__tp_once, lure__tp_once_init);
  pthread_mutex_lock(&lure__tp_mutex);
  n = lure__tp_nthreads;
  /* A worker cannot wait for itself: from inside a job, leave the pool. */
  for (i = 0; i < n; i++) {
    if (pthread_equal(lure__tp_tids[i], self)) {
      pthread_mutex_unlock(&lure__tp_mutex);
      return;
    }
  }
  lure__tp_stopping = 1;
  pthread_cond_broadcast(&lure__tp_cond);
  pthread_mutex_unlock(&lure__tp_mutex);

  /* The workers finish the queue, then leave; lure__tp_tids[0..n) is not
   * touched meanwhile, since no thread starts while nthreads is not 0. */
  for (i = 0; i < n; i++)
    pthread_join(lure__tp_tids[i], NULL);

  pthread_mutex_lock(&lure__tp_mutex);
  __atomic_store_n(&lure__tp_nthreads, 0, __ATOMIC_RELAXED);
  lure__tp_stopping = 0;
  pthread_mutex_unlock(&lure__tp_mutex);
}

/* Whether every thread of the pool has a job (running or queued), so that a
 * job submitted now would wait in the queue.  A pool not started counts as
 * free.  A glance without the lock: the answer may be a job old, which only
 * moves one request to the other side of the line. */
int lure__threadpool_full(void) {
  unsigned int n = __atomic_load_n(&lure__tp_nthreads, __ATOMIC_RELAXED);

  return n > 0 && __atomic_load_n(&lure__tp_load, __ATOMIC_RELAXED) >= n;
}

int lure__work_cancel(lure_loop_t *loop, struct lure__work *w) {
  int canceled = 0;

  pthread_once(&lure__tp_once, lure__tp_once_init);
  pthread_mutex_lock(&lure__tp_mutex);
  if (w->state == LURE__WORK_QUEUED) {
    lure__queue_remove(&w->queue);
    w->state = LURE__WORK_CANCELED;
    __atomic_fetch_sub(&lure__tp_load, 1, __ATOMIC_RELAXED);
    canceled = 1;
  }
  pthread_mutex_unlock(&lure__tp_mutex);
  if (!canceled)
    return LURE_EBUSY;
  /* Deliver the cancellation through the loop like a completion, so that
   * the callback never runs from inside lure_cancel(). */
  pthread_mutex_lock(&loop->priv->wq_mutex);
  lure__queue_insert_tail(&loop->priv->wq, &w->queue);
  pthread_mutex_unlock(&loop->priv->wq_mutex);
  lure_async_send(&loop->priv->wq_async);
  return 0;
}

/* Loop side: run the after-callbacks of finished jobs. */
static void lure__wq_async_cb(lure_async_t *h) {
  lure_loop_t *loop = h->loop;
  struct lure__queue done;
  struct lure__queue *q;
  struct lure__work *w;
  int status;

  pthread_mutex_lock(&loop->priv->wq_mutex);
  lure__queue_move(&loop->priv->wq, &done);
  pthread_mutex_unlock(&loop->priv->wq_mutex);
  while (!lure__queue_empty(&done)) {
    q = lure__queue_head(&done);
    lure__queue_remove(q);
    w = lure__container_of(q, struct lure__work, queue);
    status = w->state == LURE__WORK_CANCELED ? LURE_ECANCELED : 0;
    if (status == 0)
      loop->priv->stats.threadpool_jobs++;
    w->done(w, status);
  }
}

int lure__wq_loop_init(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;
  int rc;

  rc = pthread_mutex_init(&p->wq_mutex, NULL);
  if (rc != 0)
    return -rc;
  lure__queue_init(&p->wq);
  lure_async_init(loop, &p->wq_async, lure__wq_async_cb);
  p->wq_async.flags |= LURE__HANDLE_INTERNAL;
  lure_unref((lure_handle_t *) &p->wq_async);
  return 0;
}

void lure__wq_loop_close(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;

  lure__handle_stop((lure_handle_t *) &p->wq_async);
  lure__queue_remove(&p->wq_async.queue);
  lure__queue_remove(&p->wq_async.handle_queue);
  pthread_mutex_destroy(&p->wq_mutex);
}

int lure__wq_loop_fork(lure_loop_t *loop) {
  int rc = pthread_mutex_init(&loop->priv->wq_mutex, NULL);

  return -rc;
}

/* ---- lure_queue_work ---- */

static void lure__work_run(struct lure__work *w) {
  lure_work_t *req = lure__container_of(w, lure_work_t, work_req);

  req->work_cb(req);
}

static void lure__work_done(struct lure__work *w, int status) {
  lure_work_t *req = lure__container_of(w, lure_work_t, work_req);

  lure__req_unregister(req->loop, (lure_req_t *) req);
  req->executor = LURE__EXEC_THREADPOOL;
  if (req->after_work_cb != NULL)
    req->after_work_cb(req, status);
}

LURE_EXTERN int lure_queue_work(lure_loop_t *loop, lure_work_t *req,
                                lure_work_cb work_cb,
                                lure_after_work_cb after_work_cb) {
  int rc;

  if (loop == NULL || loop->priv == NULL || req == NULL || work_cb == NULL)
    return LURE_EINVAL;
  req->type = LURE_WORK;
  req->loop = loop;
  req->work_cb = work_cb;
  req->after_work_cb = after_work_cb;
  req->executor = LURE__EXEC_NONE;
  req->req_flags = 0;
  lure__req_register(loop, (lure_req_t *) req);
  rc = lure__work_submit(loop, &req->work_req, lure__work_run,
                         lure__work_done);
  if (rc != 0)
    lure__req_unregister(loop, (lure_req_t *) req);
  return rc;
}

/* ---- requests in general ---- */

LURE_EXTERN int lure_cancel(lure_req_t *req) {
  lure_work_t *work;

  if (req == NULL)
    return LURE_EINVAL;
  switch (req->type) {
    case LURE_WORK:
      work = (lure_work_t *) req;
      if (work->loop == NULL || work->loop->priv == NULL)
        return LURE_EINVAL;
      if (!(req->req_flags & LURE__REQ_ACTIVE))
        return LURE_EBUSY;
      return lure__work_cancel(work->loop, &work->work_req);
    case LURE_FS:
      return lure__fs_cancel((lure_fs_t *) req);
    case LURE_GETADDRINFO: {
      lure_getaddrinfo_t *g = (lure_getaddrinfo_t *) req;
      if (!(req->req_flags & LURE__REQ_ACTIVE) || g->loop == NULL)
        return LURE_EBUSY;
      return lure__work_cancel(g->loop, &g->work_req);
    }
    case LURE_GETNAMEINFO: {
      lure_getnameinfo_t *g = (lure_getnameinfo_t *) req;
      if (!(req->req_flags & LURE__REQ_ACTIVE) || g->loop == NULL)
        return LURE_EBUSY;
      return lure__work_cancel(g->loop, &g->work_req);
    }
    case LURE_RANDOM:
      return lure__random_cancel((lure_random_t *) req);
    default:
      return LURE_EINVAL;
  }
}

LURE_EXTERN const char *lure_req_executor(const lure_req_t *req) {
  /* Named once the request has been served, as the man page promises. */
  if (req == NULL || (req->req_flags & LURE__REQ_ACTIVE))
    return NULL;
  switch (req->executor) {
    case LURE__EXEC_URING: return "io_uring";
    case LURE__EXEC_AIO: return "aio";
    case LURE__EXEC_THREADPOOL: return "threadpool";
    case LURE__EXEC_INLINE: return "inline";
    case LURE__EXEC_EPOLL: return "epoll";
    default: return NULL;
  }
}

LURE_EXTERN const char *lure_req_type_name(lure_req_type type) {
  switch (type) {
    case LURE_REQ: return "req";
    case LURE_CONNECT: return "connect";
    case LURE_WRITE: return "write";
    case LURE_SHUTDOWN: return "shutdown";
    case LURE_UDP_SEND: return "udp_send";
    case LURE_FS: return "fs";
    case LURE_WORK: return "work";
    case LURE_GETADDRINFO: return "getaddrinfo";
    case LURE_GETNAMEINFO: return "getnameinfo";
    case LURE_RANDOM: return "random";
    default: return NULL;
  }
}

LURE_EXTERN size_t lure_req_size(lure_req_type type) {
  switch (type) {
    case LURE_REQ: return sizeof(lure_req_t);
    case LURE_WORK: return sizeof(lure_work_t);
    case LURE_FS: return sizeof(lure_fs_t);
    case LURE_CONNECT: return sizeof(lure_connect_t);
    case LURE_WRITE: return sizeof(lure_write_t);
    case LURE_SHUTDOWN: return sizeof(lure_shutdown_t);
    case LURE_UDP_SEND: return sizeof(lure_udp_send_t);
    case LURE_GETADDRINFO: return sizeof(lure_getaddrinfo_t);
    case LURE_GETNAMEINFO: return sizeof(lure_getnameinfo_t);
    case LURE_RANDOM: return sizeof(lure_random_t);
    default: return (size_t) -1;
  }
}
