/*
 * thread.c - threads, thread-local keys, once, mutexes, read-write locks,
 * semaphores, condition variables and barriers.
 *
 * Each lure_ type is the POSIX type itself (see lure.h), and each call is a
 * thin wrapper that turns the pthread error number into lure's negative
 * errno convention.  The contract is libuv 1.44's, so that its uv_ names can
 * be mapped onto these one to one:
 *
 *   - Calls that can fail for a reason the caller may handle (init, create,
 *     join, the try* variants, a timed wait) return 0 or a negative errno.
 *   - Calls that return void (lock, unlock, destroy, post, wait, signal)
 *     abort the process when pthread reports an error, because an error
 *     there means a corrupted or misused object and there is no way to
 *     report it.  libuv does the same; lure first writes one line to stderr
 *     naming the call, so that the core dump is not the only clue.
 *
 * Field notes:
 *   - Mutexes are PTHREAD_MUTEX_ERRORCHECK, as in libuv's default (debug)
 *     build: relocking a mutex one already holds, or unlocking one held by
 *     another thread, aborts instead of deadlocking or corrupting silently.
 *     The recursive kind is PTHREAD_MUTEX_RECURSIVE.
 *   - Condition variables wait on CLOCK_MONOTONIC, so that setting the wall
 *     clock does not stretch or cut a lure_cond_timedwait().
 *   - Semaphores are sem_t.  libuv carries its own semaphore for glibc older
 *     than 2.21, whose sem_post could lose wake-ups; lure needs a newer
 *     glibc anyway (io_uring) and does not.
 *   - Threads start at the entry itself, as in libuv (see
 *     lure_thread_create_ex): no trampoline, so no allocation per thread.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include "internal.h"

/* ---- failure --------------------------------------------------------------- */

/* The one way out for a void call whose pthread function failed. */
static void lure__thread_fatal(const char *what, int err) {
  fprintf(stderr, "lure: %s: %s\n", what, strerror(err));
  abort();
}

/* ---- threads ----------------------------------------------------------------- */

/* The smallest stack lure hands to pthread: PTHREAD_STACK_MIN, but at least
 * 8 KiB, which is what a thread needs to take a signal safely on C
 * libraries (musl) whose minimum is smaller.  Same rule as libuv. */
static size_t lure__min_stack_size(void) {
  size_t min = 8192;

#ifdef PTHREAD_STACK_MIN
  if (min < (size_t) PTHREAD_STACK_MIN)
    min = (size_t) PTHREAD_STACK_MIN;
#endif
  return min;
}

/* The stack of a thread created without an explicit size: RLIMIT_STACK
 * rounded down to a page (what the main thread gets), or glibc's 2 MiB
 * default (4 MiB on POWER) when the limit is unlimited, unreadable or below
 * the minimum.  libuv does this so that threads do not get the much smaller
 * default of some C libraries. */
static size_t lure__default_stack_size(void) {
#if defined(__PPC__) || defined(__ppc__) || defined(__powerpc__)
  const size_t fallback = (size_t) 4 << 20;
#else
  const size_t fallback = (size_t) 2 << 20;
#endif
  struct rlimit lim;
  rlim_t page;

  if (getrlimit(RLIMIT_STACK, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
    return fallback;
  page = (rlim_t) getpagesize();
  lim.rlim_cur -= lim.rlim_cur % page;
  if (lim.rlim_cur > (rlim_t) SIZE_MAX ||
      lim.rlim_cur < (rlim_t) lure__min_stack_size())
    return fallback;
  return (size_t) lim.rlim_cur;
}

LURE_EXTERN int lure_thread_create(lure_thread_t *tid, lure_thread_cb entry,
                                   void *arg) {
  lure_thread_options_t params;

  params.flags = LURE_THREAD_NO_FLAGS;
  params.stack_size = 0;
  return lure_thread_create_ex(tid, &params, entry, arg);
}

size_t lure__thread_stack_size(const lure_thread_options_t *params) {
  size_t stack_size = 0;
  size_t page;

  /* libuv reads params unconditionally; a NULL here means "no options". */
  if (params != NULL && (params->flags & LURE_THREAD_HAS_STACK_SIZE))
    stack_size = params->stack_size;
  if (stack_size == 0)
    return lure__default_stack_size();

  /* pthread wants a whole number of pages, and no less than its minimum:
   * round up, as libuv does, rather than fail. */
  page = (size_t) getpagesize();
  if (stack_size > SIZE_MAX - (page - 1))
    return 0;
  stack_size = (stack_size + page - 1) & ~(page - 1);
  if (stack_size < lure__min_stack_size())
    stack_size = lure__min_stack_size();
  return stack_size;
}

LURE_EXTERN int lure_thread_create_ex(lure_thread_t *tid,
                                      const lure_thread_options_t *params,
                                      lure_thread_cb entry, void *arg) {
  /* The entry is started as it is, as libuv does: void (*)(void *) and
   * void *(*)(void *) are called alike on every ABI Linux runs, and the
   * return value pthread_join() could read is never asked for.  (A
   * trampoline needed its arguments on the heap: a malloc here, a free in
   * the new thread, and an ENOMEM path libuv does not have.) */
  union {
    lure_thread_cb in;
    void *(*out)(void *);
  } f;
  pthread_attr_t attr;
  size_t stack_size;
  int err;

  if (tid == NULL || entry == NULL)
    return LURE_EINVAL;
  stack_size = lure__thread_stack_size(params);
  if (stack_size == 0)
    return LURE_EINVAL;

  f.in = entry;
  err = pthread_attr_init(&attr);
  if (err == 0) {
    err = pthread_attr_setstacksize(&attr, stack_size);
    if (err == 0)
      err = pthread_create(tid, &attr, f.out, arg);
    pthread_attr_destroy(&attr);
  }
  return -err;
}

LURE_EXTERN lure_thread_t lure_thread_self(void) {
  return pthread_self();
}

LURE_EXTERN int lure_thread_join(lure_thread_t *tid) {
  if (tid == NULL)
    return LURE_EINVAL;
  return -pthread_join(*tid, NULL);
}

LURE_EXTERN int lure_thread_equal(const lure_thread_t *t1,
                                  const lure_thread_t *t2) {
  if (t1 == NULL || t2 == NULL)
    return 0;
  return pthread_equal(*t1, *t2);
}

/* ---- thread-local keys and once ------------------------------------------------ */

LURE_EXTERN int lure_key_create(lure_key_t *key) {
  if (key == NULL)
    return LURE_EINVAL;
  return -pthread_key_create(key, NULL);
}

LURE_EXTERN void lure_key_delete(lure_key_t *key) {
  int err = key == NULL ? EINVAL : pthread_key_delete(*key);

  if (err != 0)
    lure__thread_fatal("lure_key_delete", err);
}

LURE_EXTERN void *lure_key_get(lure_key_t *key) {
  if (key == NULL)
    return NULL;
  return pthread_getspecific(*key);
}

LURE_EXTERN void lure_key_set(lure_key_t *key, void *value) {
  int err = key == NULL ? EINVAL : pthread_setspecific(*key, value);

  if (err != 0)
    lure__thread_fatal("lure_key_set", err);
}

LURE_EXTERN void lure_once(lure_once_t *guard, void (*callback)(void)) {
  int err = guard == NULL || callback == NULL ? EINVAL
                                              : pthread_once(guard, callback);

  if (err != 0)
    lure__thread_fatal("lure_once", err);
}

/* ---- mutexes --------------------------------------------------------------------- */

static int lure__mutex_init_kind(lure_mutex_t *mutex, int kind) {
  pthread_mutexattr_t attr;
  int err;

  if (mutex == NULL)
    return LURE_EINVAL;
  err = pthread_mutexattr_init(&attr);
  if (err != 0)
    return -err;
  err = pthread_mutexattr_settype(&attr, kind);
  if (err == 0)
    err = pthread_mutex_init(mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  return -err;
}

LURE_EXTERN int lure_mutex_init(lure_mutex_t *mutex) {
  return lure__mutex_init_kind(mutex, PTHREAD_MUTEX_ERRORCHECK);
}

LURE_EXTERN int lure_mutex_init_recursive(lure_mutex_t *mutex) {
  return lure__mutex_init_kind(mutex, PTHREAD_MUTEX_RECURSIVE);
}

LURE_EXTERN void lure_mutex_destroy(lure_mutex_t *mutex) {
  int err = mutex == NULL ? EINVAL : pthread_mutex_destroy(mutex);

  if (err != 0)
    lure__thread_fatal("lure_mutex_destroy", err);
}

LURE_EXTERN void lure_mutex_lock(lure_mutex_t *mutex) {
  int err = mutex == NULL ? EINVAL : pthread_mutex_lock(mutex);

  if (err != 0)
    lure__thread_fatal("lure_mutex_lock", err);
}

LURE_EXTERN int lure_mutex_trylock(lure_mutex_t *mutex) {
  int err;

  if (mutex == NULL)
    return LURE_EINVAL;
  err = pthread_mutex_trylock(mutex);
  if (err == 0)
    return 0;
  /* EAGAIN: a recursive mutex whose count would overflow. */
  if (err == EBUSY || err == EAGAIN)
    return LURE_EBUSY;
  lure__thread_fatal("lure_mutex_trylock", err);
  return LURE_EINVAL;
}

LURE_EXTERN void lure_mutex_unlock(lure_mutex_t *mutex) {
  int err = mutex == NULL ? EINVAL : pthread_mutex_unlock(mutex);

  if (err != 0)
    lure__thread_fatal("lure_mutex_unlock", err);
}

/* ---- read-write locks ------------------------------------------------------------- */

LURE_EXTERN int lure_rwlock_init(lure_rwlock_t *rwlock) {
  if (rwlock == NULL)
    return LURE_EINVAL;
  return -pthread_rwlock_init(rwlock, NULL);
}

LURE_EXTERN void lure_rwlock_destroy(lure_rwlock_t *rwlock) {
  int err = rwlock == NULL ? EINVAL : pthread_rwlock_destroy(rwlock);

  if (err != 0)
    lure__thread_fatal("lure_rwlock_destroy", err);
}

LURE_EXTERN void lure_rwlock_rdlock(lure_rwlock_t *rwlock) {
  int err = rwlock == NULL ? EINVAL : pthread_rwlock_rdlock(rwlock);

  if (err != 0)
    lure__thread_fatal("lure_rwlock_rdlock", err);
}

/* Both try variants: EBUSY is "held the other way"; EAGAIN is "too many
 * readers" (rdlock) and is reported the same, as libuv does. */
static int lure__rwlock_try_result(const char *what, int err) {
  if (err == 0)
    return 0;
  if (err == EBUSY || err == EAGAIN)
    return LURE_EBUSY;
  lure__thread_fatal(what, err);
  return LURE_EINVAL;
}

LURE_EXTERN int lure_rwlock_tryrdlock(lure_rwlock_t *rwlock) {
  if (rwlock == NULL)
    return LURE_EINVAL;
  return lure__rwlock_try_result("lure_rwlock_tryrdlock",
                                 pthread_rwlock_tryrdlock(rwlock));
}

LURE_EXTERN void lure_rwlock_rdunlock(lure_rwlock_t *rwlock) {
  int err = rwlock == NULL ? EINVAL : pthread_rwlock_unlock(rwlock);

  if (err != 0)
    lure__thread_fatal("lure_rwlock_rdunlock", err);
}

LURE_EXTERN void lure_rwlock_wrlock(lure_rwlock_t *rwlock) {
  int err = rwlock == NULL ? EINVAL : pthread_rwlock_wrlock(rwlock);

  if (err != 0)
    lure__thread_fatal("lure_rwlock_wrlock", err);
}

LURE_EXTERN int lure_rwlock_trywrlock(lure_rwlock_t *rwlock) {
  if (rwlock == NULL)
    return LURE_EINVAL;
  return lure__rwlock_try_result("lure_rwlock_trywrlock",
                                 pthread_rwlock_trywrlock(rwlock));
}

LURE_EXTERN void lure_rwlock_wrunlock(lure_rwlock_t *rwlock) {
  int err = rwlock == NULL ? EINVAL : pthread_rwlock_unlock(rwlock);

  if (err != 0)
    lure__thread_fatal("lure_rwlock_wrunlock", err);
}

/* ---- semaphores --------------------------------------------------------------------- */

LURE_EXTERN int lure_sem_init(lure_sem_t *sem, unsigned int value) {
  if (sem == NULL)
    return LURE_EINVAL;
  /* sem_init() says EINVAL for a value above SEM_VALUE_MAX; saying so here
   * keeps errno untouched. */
  if (value > (unsigned int) SEM_VALUE_MAX)
    return LURE_EINVAL;
  if (sem_init(sem, 0, value) != 0)
    return -errno;
  return 0;
}

LURE_EXTERN void lure_sem_destroy(lure_sem_t *sem) {
  if (sem == NULL)
    lure__thread_fatal("lure_sem_destroy", EINVAL);
  if (sem_destroy(sem) != 0)
    lure__thread_fatal("lure_sem_destroy", errno);
}

LURE_EXTERN void lure_sem_post(lure_sem_t *sem) {
  if (sem == NULL)
    lure__thread_fatal("lure_sem_post", EINVAL);
  /* EOVERFLOW (the count at SEM_VALUE_MAX) aborts too, as in libuv. */
  if (sem_post(sem) != 0)
    lure__thread_fatal("lure_sem_post", errno);
}

LURE_EXTERN void lure_sem_wait(lure_sem_t *sem) {
  int r;

  if (sem == NULL)
    lure__thread_fatal("lure_sem_wait", EINVAL);
  /* A signal handler interrupts sem_wait() even with SA_RESTART. */
  do
    r = sem_wait(sem);
  while (r != 0 && errno == EINTR);
  if (r != 0)
    lure__thread_fatal("lure_sem_wait", errno);
}

LURE_EXTERN int lure_sem_trywait(lure_sem_t *sem) {
  int saved = errno;
  int r;

  if (sem == NULL)
    return LURE_EINVAL;
  do
    r = sem_trywait(sem);
  while (r != 0 && errno == EINTR);
  if (r == 0)
    return 0;
  if (errno == EAGAIN) {
    errno = saved;
    return LURE_EAGAIN;
  }
  lure__thread_fatal("lure_sem_trywait", errno);
  return LURE_EINVAL;
}

/* ---- condition variables ------------------------------------------------------------- */

LURE_EXTERN int lure_cond_init(lure_cond_t *cond) {
  pthread_condattr_t attr;
  int err;

  if (cond == NULL)
    return LURE_EINVAL;
  err = pthread_condattr_init(&attr);
  if (err != 0)
    return -err;
  err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (err == 0)
    err = pthread_cond_init(cond, &attr);
  pthread_condattr_destroy(&attr);
  return -err;
}

LURE_EXTERN void lure_cond_destroy(lure_cond_t *cond) {
  int err = cond == NULL ? EINVAL : pthread_cond_destroy(cond);

  if (err != 0)
    lure__thread_fatal("lure_cond_destroy", err);
}

LURE_EXTERN void lure_cond_signal(lure_cond_t *cond) {
  int err = cond == NULL ? EINVAL : pthread_cond_signal(cond);

  if (err != 0)
    lure__thread_fatal("lure_cond_signal", err);
}

LURE_EXTERN void lure_cond_broadcast(lure_cond_t *cond) {
  int err = cond == NULL ? EINVAL : pthread_cond_broadcast(cond);

  if (err != 0)
    lure__thread_fatal("lure_cond_broadcast", err);
}

LURE_EXTERN void lure_cond_wait(lure_cond_t *cond, lure_mutex_t *mutex) {
  int err = cond == NULL || mutex == NULL ? EINVAL
                                          : pthread_cond_wait(cond, mutex);

  if (err != 0)
    lure__thread_fatal("lure_cond_wait", err);
}

LURE_EXTERN int lure_cond_timedwait(lure_cond_t *cond, lure_mutex_t *mutex,
                                    uint64_t timeout) {
  struct timespec now;
  struct timespec ts;
  uint64_t deadline;
  int err;

  if (cond == NULL || mutex == NULL)
    return LURE_EINVAL;
  /* timeout is relative, in nanoseconds; pthread wants an absolute time
   * on the clock the condition variable was made with (monotonic).  A
   * timeout so long that the sum overflows waits "forever". */
  clock_gettime(CLOCK_MONOTONIC, &now);
  deadline = (uint64_t) now.tv_sec * 1000000000u + (uint64_t) now.tv_nsec;
  if (timeout > UINT64_MAX - deadline)
    deadline = UINT64_MAX;
  else
    deadline += timeout;
  ts.tv_sec = (time_t) (deadline / 1000000000u);
  ts.tv_nsec = (long) (deadline % 1000000000u);

  err = pthread_cond_timedwait(cond, mutex, &ts);
  if (err == 0)
    return 0;
  if (err == ETIMEDOUT)
    return LURE_ETIMEDOUT;
  lure__thread_fatal("lure_cond_timedwait", err);
  return LURE_EINVAL;
}

/* ---- barriers -------------------------------------------------------------------------- */

LURE_EXTERN int lure_barrier_init(lure_barrier_t *barrier, unsigned int count) {
  if (barrier == NULL)
    return LURE_EINVAL;
  return -pthread_barrier_init(barrier, NULL, count);
}

LURE_EXTERN void lure_barrier_destroy(lure_barrier_t *barrier) {
  int err = barrier == NULL ? EINVAL : pthread_barrier_destroy(barrier);

  if (err != 0)
    lure__thread_fatal("lure_barrier_destroy", err);
}

LURE_EXTERN int lure_barrier_wait(lure_barrier_t *barrier) {
  int r;

  if (barrier == NULL)
    return LURE_EINVAL;
  r = pthread_barrier_wait(barrier);
  if (r == PTHREAD_BARRIER_SERIAL_THREAD)
    return 1;
  if (r != 0)
    lure__thread_fatal("lure_barrier_wait", r);
  return 0;
}
