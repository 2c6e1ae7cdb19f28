/*
 * test-thread.c - threads and synchronisation: threads run and join, keys
 * are per thread, once runs once, a mutex excludes, read locks share and a
 * write lock excludes, semaphores count, condition variables wake and time
 * out, a barrier has exactly one serial thread, and the documented aborts.
 *
 * Threads record what they saw and the main thread asserts it: a Check
 * failure raised in another thread would end the test process without a
 * clear message.
 */
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include "internal.h"
#include "harness.h"

#define NTHREADS 8

/* ---- threads --------------------------------------------------------------- */

struct run_rec {
  void *arg_seen;
  lure_thread_t self;
  int ran;
};

static void record_cb(void *arg) {
  struct run_rec *r = arg;

  r->arg_seen = arg;
  r->self = lure_thread_self();
  r->ran = 1;
}

START_TEST(thread_create_join) {
  struct run_rec rec[NTHREADS];
  lure_thread_t tid[NTHREADS];
  lure_thread_t me = lure_thread_self();
  int i;
  int j;

  memset(rec, 0, sizeof(rec));
  for (i = 0; i < NTHREADS; i++)
    ck_assert_int_eq(lure_thread_create(&tid[i], record_cb, &rec[i]), 0);
  for (i = 0; i < NTHREADS; i++)
    ck_assert_int_eq(lure_thread_join(&tid[i]), 0);
  for (i = 0; i < NTHREADS; i++) {
    ck_assert_int_eq(rec[i].ran, 1);
    ck_assert_ptr_eq(rec[i].arg_seen, &rec[i]);
    /* The id create gave is the id the thread saw as itself. */
    ck_assert_int_ne(lure_thread_equal(&tid[i], &rec[i].self), 0);
    ck_assert_int_eq(lure_thread_equal(&me, &rec[i].self), 0);
    for (j = 0; j < i; j++)
      ck_assert_int_eq(lure_thread_equal(&rec[j].self, &rec[i].self), 0);
  }
  ck_assert_int_ne(lure_thread_equal(&me, &me), 0);
}
END_TEST

static void noop_cb(void *arg) { (void) arg; }

START_TEST(thread_errors) {
  lure_thread_t tid;
  lure_thread_t me = lure_thread_self();
  lure_thread_options_t o;

  ck_assert_int_eq(lure_thread_create(NULL, noop_cb, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_thread_create(&tid, NULL, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_thread_join(NULL), LURE_EINVAL);
  /* Joining oneself is pthread's EDEADLK, which has no LURE_ name (nor
   * a UV_ one): the negative errno value itself. */
  ck_assert_int_eq(lure_thread_join(&me), -EDEADLK);
  ck_assert_int_eq(lure_thread_equal(NULL, &me), 0);
  /* A stack size that cannot be rounded up to a page. */
  o.flags = LURE_THREAD_HAS_STACK_SIZE;
  o.stack_size = SIZE_MAX;
  ck_assert_int_eq(lure_thread_create_ex(&tid, &o, noop_cb, NULL),
                   LURE_EINVAL);
  /* One that rounds but cannot be mapped. */
  o.stack_size = SIZE_MAX / 2;
  ck_assert_int_lt(lure_thread_create_ex(&tid, &o, noop_cb, NULL), 0);
  /* NULL options are "no options". */
  ck_assert_int_eq(lure_thread_create_ex(&tid, NULL, noop_cb, NULL), 0);
  ck_assert_int_eq(lure_thread_join(&tid), 0);
}
END_TEST

static void stack_cb(void *arg) {
  pthread_attr_t attr;
  size_t *got = arg;

  *got = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstacksize(&attr, got);
    pthread_attr_destroy(&attr);
  }
}

static size_t stack_of(const lure_thread_options_t *o) {
  lure_thread_t tid;
  size_t got = 0;

  ck_assert_int_eq(lure_thread_create_ex(&tid, o, stack_cb, &got), 0);
  ck_assert_int_eq(lure_thread_join(&tid), 0);
  return got;
}

/* The size rounds as libuv's does, and the thread really gets at least it
 * (glibc may hand out a larger cached stack, never a smaller one). */
START_TEST(thread_stack_size) {
  lure_thread_options_t o;
  size_t page = (size_t) getpagesize();
  size_t min = 8192;
  size_t def;
  size_t want;
  struct rlimit lim;
  static const size_t asks[] = {
    42, 1024 * 1024, 1234567, 8 * 1024 * 1024, 3 * 4096 + 1
  };
  size_t i;

#ifdef PTHREAD_STACK_MIN
  if (min < (size_t) PTHREAD_STACK_MIN)
    min = (size_t) PTHREAD_STACK_MIN;
#endif
  /* The default follows RLIMIT_STACK, else glibc's 2 MiB. */
  ck_assert_int_eq(getrlimit(RLIMIT_STACK, &lim), 0);
  if (lim.rlim_cur == RLIM_INFINITY ||
      lim.rlim_cur - lim.rlim_cur % page < min)
    def = (size_t) 2 << 20;
  else
    def = (size_t) (lim.rlim_cur - lim.rlim_cur % page);
#if defined(__PPC__) || defined(__ppc__) || defined(__powerpc__)
  if (def == (size_t) 2 << 20)
    def = (size_t) 4 << 20;
#endif
  ck_assert_uint_eq(lure__thread_stack_size(NULL), def);
  o.flags = LURE_THREAD_NO_FLAGS;
  o.stack_size = 12345; /* ignored without the flag */
  ck_assert_uint_eq(lure__thread_stack_size(&o), def);
  o.flags = LURE_THREAD_HAS_STACK_SIZE;
  o.stack_size = 0;     /* 0 with the flag: the default too */
  ck_assert_uint_eq(lure__thread_stack_size(&o), def);
  ck_assert_uint_ge(stack_of(NULL), def);

  for (i = 0; i < LT_ARRAY_SIZE(asks); i++) {
    o.stack_size = asks[i];
    want = (asks[i] + page - 1) / page * page;
    if (want < min)
      want = min;
    ck_assert_uint_eq(lure__thread_stack_size(&o), want);
    ck_assert_uint_eq(want % page, 0);
    ck_assert_uint_ge(stack_of(&o), want);
  }
  /* Below the minimum and unaligned: the minimum. */
  o.stack_size = min - 42;
  ck_assert_uint_eq(lure__thread_stack_size(&o), min);
  o.stack_size = min / 2 - 42;
  ck_assert_uint_eq(lure__thread_stack_size(&o), min);
  ck_assert_uint_ge(stack_of(&o), min);
  o.stack_size = SIZE_MAX;
  ck_assert_uint_eq(lure__thread_stack_size(&o), 0);
}
END_TEST

/* ---- keys and once ----------------------------------------------------------- */

static lure_key_t tls_key;

struct key_rec {
  void *initial;
  void *after_set;
  void *after_clear;
};

static void key_cb(void *arg) {
  struct key_rec *r = arg;

  r->initial = lure_key_get(&tls_key);
  lure_key_set(&tls_key, r);
  /* Let the other threads set theirs before reading ours back. */
  lt_sleep_ms(20);
  r->after_set = lure_key_get(&tls_key);
  lure_key_set(&tls_key, NULL);
  r->after_clear = lure_key_get(&tls_key);
}

START_TEST(thread_key_per_thread) {
  struct key_rec rec[4];
  lure_thread_t tid[4];
  char mine[] = "main";
  int i;

  ck_assert_int_eq(lure_key_create(NULL), LURE_EINVAL);
  ck_assert_ptr_null(lure_key_get(NULL));
  ck_assert_int_eq(lure_key_create(&tls_key), 0);
  ck_assert_ptr_null(lure_key_get(&tls_key));
  lure_key_set(&tls_key, mine);
  ck_assert_ptr_eq(lure_key_get(&tls_key), mine);
  for (i = 0; i < 4; i++)
    ck_assert_int_eq(lure_thread_create(&tid[i], key_cb, &rec[i]), 0);
  for (i = 0; i < 4; i++)
    ck_assert_int_eq(lure_thread_join(&tid[i]), 0);
  for (i = 0; i < 4; i++) {
    ck_assert_ptr_null(rec[i].initial);
    ck_assert_ptr_eq(rec[i].after_set, &rec[i]);
    ck_assert_ptr_null(rec[i].after_clear);
  }
  /* The threads' values never reached this one. */
  ck_assert_ptr_eq(lure_key_get(&tls_key), mine);
  lure_key_delete(&tls_key);
}
END_TEST

static lure_once_t once_guard = LURE_ONCE_INIT;
static atomic_int once_calls;
static lure_barrier_t once_start;

static void once_body(void) {
  /* Widen the window in which a second caller could slip in. */
  lt_sleep_ms(20);
  atomic_fetch_add(&once_calls, 1);
}

static void once_cb(void *arg) {
  int *seen = arg;

  lure_barrier_wait(&once_start);
  lure_once(&once_guard, once_body);
  /* lure_once returns only after the body has run, in every caller. */
  *seen = atomic_load(&once_calls);
}

START_TEST(thread_once) {
  lure_thread_t tid[NTHREADS];
  int seen[NTHREADS];
  int i;

  ck_assert_int_eq(lure_barrier_init(&once_start, NTHREADS), 0);
  for (i = 0; i < NTHREADS; i++)
    ck_assert_int_eq(lure_thread_create(&tid[i], once_cb, &seen[i]), 0);
  for (i = 0; i < NTHREADS; i++)
    ck_assert_int_eq(lure_thread_join(&tid[i]), 0);
  for (i = 0; i < NTHREADS; i++)
    ck_assert_int_eq(seen[i], 1);
  lure_once(&once_guard, once_body);
  ck_assert_int_eq(atomic_load(&once_calls), 1);
  lure_barrier_destroy(&once_start);
}
END_TEST

/* ---- mutexes ---------------------------------------------------------------------- */

static lure_mutex_t count_mutex;
static volatile long counter;

#define INCREMENTS 100000

static void count_cb(void *arg) {
  long tmp;
  int i;

  (void) arg;
  for (i = 0; i < INCREMENTS; i++) {
    lure_mutex_lock(&count_mutex);
    /* A read-modify-write split in two, so that a lost update shows. */
    tmp = counter;
    if ((i & 1023) == 0)
      sched_yield();
    counter = tmp + 1;
    lure_mutex_unlock(&count_mutex);
  }
}

START_TEST(thread_mutex_excludes) {
  lure_thread_t tid[NTHREADS];
  int i;

  counter = 0;
  ck_assert_int_eq(lure_mutex_init(&count_mutex), 0);
  for (i = 0; i < NTHREADS; i++)
    ck_assert_int_eq(lure_thread_create(&tid[i], count_cb, NULL), 0);
  for (i = 0; i < NTHREADS; i++)
    ck_assert_int_eq(lure_thread_join(&tid[i]), 0);
  ck_assert_int_eq(counter, (long) NTHREADS * INCREMENTS);
  lure_mutex_destroy(&count_mutex);
}
END_TEST

static lure_mutex_t try_mutex;

static void trylock_cb(void *arg) {
  int *rc = arg;

  rc[0] = lure_mutex_trylock(&try_mutex);
  if (rc[0] == 0)
    lure_mutex_unlock(&try_mutex);
}

static int trylock_from_thread(void) {
  lure_thread_t tid;
  int rc = 99;

  ck_assert_int_eq(lure_thread_create(&tid, trylock_cb, &rc), 0);
  ck_assert_int_eq(lure_thread_join(&tid), 0);
  return rc;
}

START_TEST(thread_mutex_trylock) {
  ck_assert_int_eq(lure_mutex_init(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_mutex_trylock(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_mutex_init(&try_mutex), 0);
  ck_assert_int_eq(lure_mutex_trylock(&try_mutex), 0);
  /* Held: busy for another thread and for the holder itself. */
  ck_assert_int_eq(trylock_from_thread(), LURE_EBUSY);
  ck_assert_int_eq(lure_mutex_trylock(&try_mutex), LURE_EBUSY);
  lure_mutex_unlock(&try_mutex);
  ck_assert_int_eq(trylock_from_thread(), 0);
  lure_mutex_lock(&try_mutex);
  ck_assert_int_eq(trylock_from_thread(), LURE_EBUSY);
  lure_mutex_unlock(&try_mutex);
  lure_mutex_destroy(&try_mutex);
}
END_TEST

START_TEST(thread_mutex_recursive) {
  ck_assert_int_eq(lure_mutex_init_recursive(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_mutex_init_recursive(&try_mutex), 0);
  lure_mutex_lock(&try_mutex);
  lure_mutex_lock(&try_mutex);
  ck_assert_int_eq(lure_mutex_trylock(&try_mutex), 0);
  ck_assert_int_eq(trylock_from_thread(), LURE_EBUSY);
  lure_mutex_unlock(&try_mutex);
  lure_mutex_unlock(&try_mutex);
  /* Still held once. */
  ck_assert_int_eq(trylock_from_thread(), LURE_EBUSY);
  lure_mutex_unlock(&try_mutex);
  ck_assert_int_eq(trylock_from_thread(), 0);
  lure_mutex_destroy(&try_mutex);
}
END_TEST

/* A plain mutex is error-checking: locking it twice from one thread aborts
 * (libuv's debug build does the same) instead of hanging for ever. */
START_TEST(thread_mutex_relock_aborts) {
  lure_mutex_t m;

  ck_assert_int_eq(lure_mutex_init(&m), 0);
  lure_mutex_lock(&m);
  lure_mutex_lock(&m);
}
END_TEST

START_TEST(thread_mutex_unlock_unowned_aborts) {
  lure_mutex_t m;

  ck_assert_int_eq(lure_mutex_init(&m), 0);
  lure_mutex_unlock(&m);
}
END_TEST

/* ---- read-write locks -------------------------------------------------------------- */

static lure_rwlock_t rw;

static void rw_try_cb(void *arg) {
  int *rc = arg;

  rc[0] = lure_rwlock_tryrdlock(&rw);
  if (rc[0] == 0)
    lure_rwlock_rdunlock(&rw);
  rc[1] = lure_rwlock_trywrlock(&rw);
  if (rc[1] == 0)
    lure_rwlock_wrunlock(&rw);
}

static void rw_try_from_thread(int *rd, int *wr) {
  lure_thread_t tid;
  int rc[2] = { 99, 99 };

  ck_assert_int_eq(lure_thread_create(&tid, rw_try_cb, rc), 0);
  ck_assert_int_eq(lure_thread_join(&tid), 0);
  *rd = rc[0];
  *wr = rc[1];
}

START_TEST(thread_rwlock_trylock) {
  int rd;
  int wr;

  ck_assert_int_eq(lure_rwlock_init(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_rwlock_tryrdlock(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_rwlock_trywrlock(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_rwlock_init(&rw), 0);

  rw_try_from_thread(&rd, &wr);
  ck_assert_int_eq(rd, 0);
  ck_assert_int_eq(wr, 0);

  /* A reader lets readers in and keeps writers out. */
  lure_rwlock_rdlock(&rw);
  rw_try_from_thread(&rd, &wr);
  ck_assert_int_eq(rd, 0);
  ck_assert_int_eq(wr, LURE_EBUSY);
  ck_assert_int_eq(lure_rwlock_trywrlock(&rw), LURE_EBUSY);
  lure_rwlock_rdunlock(&rw);

  /* A writer keeps both out. */
  ck_assert_int_eq(lure_rwlock_trywrlock(&rw), 0);
  rw_try_from_thread(&rd, &wr);
  ck_assert_int_eq(rd, LURE_EBUSY);
  ck_assert_int_eq(wr, LURE_EBUSY);
  lure_rwlock_wrunlock(&rw);

  lure_rwlock_wrlock(&rw);
  rw_try_from_thread(&rd, &wr);
  ck_assert_int_eq(rd, LURE_EBUSY);
  ck_assert_int_eq(wr, LURE_EBUSY);
  lure_rwlock_wrunlock(&rw);

  ck_assert_int_eq(lure_rwlock_tryrdlock(&rw), 0);
  lure_rwlock_rdunlock(&rw);
  lure_rwlock_destroy(&rw);
}
END_TEST

/* Readers share: four readers meet at a barrier while all hold the read
 * lock, which could never happen if one excluded another (the test would
 * hang and time out). */
static lure_barrier_t readers_meet;

static void reader_meet_cb(void *arg) {
  (void) arg;
  lure_rwlock_rdlock(&rw);
  lure_barrier_wait(&readers_meet);
  lure_rwlock_rdunlock(&rw);
}

START_TEST(thread_rwlock_readers_share) {
  lure_thread_t tid[4];
  int i;

  ck_assert_int_eq(lure_rwlock_init(&rw), 0);
  ck_assert_int_eq(lure_barrier_init(&readers_meet, 4), 0);
  for (i = 0; i < 4; i++)
    ck_assert_int_eq(lure_thread_create(&tid[i], reader_meet_cb, NULL), 0);
  for (i = 0; i < 4; i++)
    ck_assert_int_eq(lure_thread_join(&tid[i]), 0);
  lure_barrier_destroy(&readers_meet);
  lure_rwlock_destroy(&rw);
}
END_TEST

/* A writer excludes: writers keep two fields equal, changing them in two
 * steps; readers must never see them differ. */
static volatile long rw_a;
static volatile long rw_b;
static atomic_int rw_torn;

static void rw_writer_cb(void *arg) {
  int i;

  (void) arg;
  for (i = 0; i < 20000; i++) {
    lure_rwlock_wrlock(&rw);
    rw_a = rw_a + 1;
    if ((i & 255) == 0)
      sched_yield();
    rw_b = rw_b + 1;
    lure_rwlock_wrunlock(&rw);
  }
}

static void rw_reader_cb(void *arg) {
  int i;

  (void) arg;
  for (i = 0; i < 20000; i++) {
    lure_rwlock_rdlock(&rw);
    if (rw_a != rw_b)
      atomic_fetch_add(&rw_torn, 1);
    lure_rwlock_rdunlock(&rw);
  }
}

START_TEST(thread_rwlock_writer_excludes) {
  lure_thread_t tid[6];
  int i;

  rw_a = rw_b = 0;
  ck_assert_int_eq(lure_rwlock_init(&rw), 0);
  for (i = 0; i < 6; i++)
    ck_assert_int_eq(lure_thread_create(&tid[i],
                                        i < 3 ? rw_writer_cb : rw_reader_cb,
                                        NULL), 0);
  for (i = 0; i < 6; i++)
    ck_assert_int_eq(lure_thread_join(&tid[i]), 0);
  ck_assert_int_eq(atomic_load(&rw_torn), 0);
  ck_assert_int_eq(rw_a, 3 * 20000);
  ck_assert_int_eq(rw_b, 3 * 20000);
  lure_rwlock_destroy(&rw);
}
END_TEST

/* ---- semaphores ---------------------------------------------------------------------- */

START_TEST(thread_sem_counts) {
  lure_sem_t sem;

  ck_assert_int_eq(lure_sem_init(NULL, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_sem_init(&sem, UINT_MAX), LURE_EINVAL);
  ck_assert_int_eq(lure_sem_trywait(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_sem_init(&sem, 3), 0);
  lure_sem_wait(&sem);
  lure_sem_wait(&sem);
  ck_assert_int_eq(lure_sem_trywait(&sem), 0);
  ck_assert_int_eq(lure_sem_trywait(&sem), LURE_EAGAIN);
  lure_sem_post(&sem);
  lure_sem_post(&sem);
  ck_assert_int_eq(lure_sem_trywait(&sem), 0);
  ck_assert_int_eq(lure_sem_trywait(&sem), 0);
  ck_assert_int_eq(lure_sem_trywait(&sem), LURE_EAGAIN);
  lure_sem_destroy(&sem);
}
END_TEST

struct sem_wait_rec {
  lure_sem_t sem;
  atomic_int woke;
};

static void sem_waiter_cb(void *arg) {
  struct sem_wait_rec *r = arg;

  lure_sem_wait(&r->sem);
  atomic_fetch_add(&r->woke, 1);
}

/* A wait blocks until a post, and one post releases one waiter. */
START_TEST(thread_sem_blocks) {
  struct sem_wait_rec r;
  lure_thread_t tid[3];
  int i;

  ck_assert_int_eq(lure_sem_init(&r.sem, 0), 0);
  atomic_init(&r.woke, 0);
  for (i = 0; i < 3; i++)
    ck_assert_int_eq(lure_thread_create(&tid[i], sem_waiter_cb, &r), 0);
  lt_sleep_ms(50);
  ck_assert_int_eq(atomic_load(&r.woke), 0);
  lure_sem_post(&r.sem);
  lt_sleep_ms(50);
  ck_assert_int_eq(atomic_load(&r.woke), 1);
  lure_sem_post(&r.sem);
  lure_sem_post(&r.sem);
  for (i = 0; i < 3; i++)
    ck_assert_int_eq(lure_thread_join(&tid[i]), 0);
  ck_assert_int_eq(atomic_load(&r.woke), 3);
  ck_assert_int_eq(lure_sem_trywait(&r.sem), LURE_EAGAIN);
  lure_sem_destroy(&r.sem);
}
END_TEST

/* ---- condition variables ---------------------------------------------------------------- */

struct cond_rec {
  lure_mutex_t mutex;
  lure_cond_t cond;
  int go;
  int waiting;
  int woke;
  int timed_rc;
  int use_timed;
};

static void cond_waiter_cb(void *arg) {
  struct cond_rec *c = arg;
  int rc = 0;

  lure_mutex_lock(&c->mutex);
  c->waiting++;
  lure_cond_broadcast(&c->cond); /* tell the main thread */
  while (!c->go && rc == 0) {
    if (c->use_timed)
      rc = lure_cond_timedwait(&c->cond, &c->mutex, UINT64_MAX);
    else
      lure_cond_wait(&c->cond, &c->mutex);
  }
  if (rc != 0)
    c->timed_rc = rc;
  c->woke++;
  lure_mutex_unlock(&c->mutex);
}

static void cond_run(int use_timed, int use_broadcast) {
  struct cond_rec c;
  lure_thread_t tid[4];
  int n = use_broadcast ? 4 : 1;
  int i;

  memset(&c, 0, sizeof(c));
  c.use_timed = use_timed;
  ck_assert_int_eq(lure_mutex_init(&c.mutex), 0);
  ck_assert_int_eq(lure_cond_init(&c.cond), 0);
  for (i = 0; i < n; i++)
    ck_assert_int_eq(lure_thread_create(&tid[i], cond_waiter_cb, &c), 0);
  lure_mutex_lock(&c.mutex);
  while (c.waiting < n)
    lure_cond_wait(&c.cond, &c.mutex);
  ck_assert_int_eq(c.woke, 0);
  c.go = 1;
  if (use_broadcast)
    lure_cond_broadcast(&c.cond);
  else
    lure_cond_signal(&c.cond);
  lure_mutex_unlock(&c.mutex);
  for (i = 0; i < n; i++)
    ck_assert_int_eq(lure_thread_join(&tid[i]), 0);
  ck_assert_int_eq(c.woke, n);
  /* UINT64_MAX does not overflow into a deadline in the past. */
  ck_assert_int_eq(c.timed_rc, 0);
  lure_cond_destroy(&c.cond);
  lure_mutex_destroy(&c.mutex);
}

START_TEST(thread_cond_signal) { cond_run(0, 0); }
END_TEST

START_TEST(thread_cond_broadcast) { cond_run(0, 1); }
END_TEST

START_TEST(thread_cond_timedwait_signalled) {
  cond_run(1, 0);
  cond_run(1, 1);
}
END_TEST

START_TEST(thread_cond_timedwait_times_out) {
  lure_mutex_t m;
  lure_cond_t c;
  uint64_t timeout = 100 * 1000 * 1000; /* 100 ms */
  uint64_t t0;
  uint64_t elapsed;
  int rc;

  ck_assert_int_eq(lure_cond_init(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_mutex_init(&m), 0);
  ck_assert_int_eq(lure_cond_init(&c), 0);
  ck_assert_int_eq(lure_cond_timedwait(NULL, &m, 1), LURE_EINVAL);
  ck_assert_int_eq(lure_cond_timedwait(&c, NULL, 1), LURE_EINVAL);
  lure_mutex_lock(&m);
  t0 = lure_hrtime();
  rc = lure_cond_timedwait(&c, &m, timeout);
  elapsed = lure_hrtime() - t0;
  /* The mutex is held again on return: trylock by the owner is busy. */
  ck_assert_int_eq(lure_mutex_trylock(&m), LURE_EBUSY);
  lure_mutex_unlock(&m);
  ck_assert_int_eq(rc, LURE_ETIMEDOUT);
  /* The monotonic deadline is never early; allow slack for a busy host. */
  ck_assert_uint_ge(elapsed, timeout);
  ck_assert_uint_le(elapsed, 10 * timeout);
  /* A zero timeout is an immediate time-out. */
  lure_mutex_lock(&m);
  ck_assert_int_eq(lure_cond_timedwait(&c, &m, 0), LURE_ETIMEDOUT);
  lure_mutex_unlock(&m);
  lure_cond_destroy(&c);
  lure_mutex_destroy(&m);
}
END_TEST

/* ---- barriers ----------------------------------------------------------------------------- */

struct barrier_rec {
  lure_barrier_t *barrier;
  atomic_int *arrived;
  int arrived_after;
  int rc;
};

static void barrier_cb(void *arg) {
  struct barrier_rec *r = arg;

  atomic_fetch_add(r->arrived, 1);
  r->rc = lure_barrier_wait(r->barrier);
  r->arrived_after = atomic_load(r->arrived);
}

START_TEST(thread_barrier_one_serial) {
  lure_barrier_t barrier;
  struct barrier_rec rec[NTHREADS];
  lure_thread_t tid[NTHREADS];
  atomic_int arrived;
  int round;
  int serial;
  int i;

  ck_assert_int_eq(lure_barrier_init(NULL, 2), LURE_EINVAL);
  ck_assert_int_eq(lure_barrier_init(&barrier, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_barrier_wait(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_barrier_init(&barrier, NTHREADS), 0);
  /* Twice, to see that the barrier resets after each round. */
  for (round = 0; round < 2; round++) {
    atomic_init(&arrived, 0);
    for (i = 0; i < NTHREADS; i++) {
      rec[i].barrier = &barrier;
      rec[i].arrived = &arrived;
      rec[i].rc = -1;
      ck_assert_int_eq(lure_thread_create(&tid[i], barrier_cb, &rec[i]), 0);
      /* Stagger the arrivals. */
      if (i == NTHREADS / 2)
        lt_sleep_ms(30);
    }
    for (i = 0; i < NTHREADS; i++)
      ck_assert_int_eq(lure_thread_join(&tid[i]), 0);
    serial = 0;
    for (i = 0; i < NTHREADS; i++) {
      ck_assert(rec[i].rc == 0 || rec[i].rc == 1);
      serial += rec[i].rc;
      /* No one left before everyone arrived. */
      ck_assert_int_eq(rec[i].arrived_after, NTHREADS);
    }
    ck_assert_int_eq(serial, 1);
  }
  lure_barrier_destroy(&barrier);

  /* A barrier of one: its only waiter is the serial thread. */
  ck_assert_int_eq(lure_barrier_init(&barrier, 1), 0);
  ck_assert_int_eq(lure_barrier_wait(&barrier), 1);
  lure_barrier_destroy(&barrier);
}
END_TEST

/* libuv's barrier_serial_thread: the serial thread may destroy the
 * barrier as soon as its wait returns, while the others may still be
 * leaving theirs. */
static void serial_destroys_cb(void *arg) {
  lure_barrier_t *b = arg;

  if (lure_barrier_wait(b) > 0)
    lure_barrier_destroy(b);
}

START_TEST(thread_barrier_serial_destroys) {
  lure_barrier_t barrier;
  lure_thread_t tid[4];
  int i;

  ck_assert_int_eq(lure_barrier_init(&barrier, 5), 0);
  for (i = 0; i < 4; i++)
    ck_assert_int_eq(lure_thread_create(&tid[i], serial_destroys_cb,
                                        &barrier), 0);
  if (lure_barrier_wait(&barrier) > 0)
    lure_barrier_destroy(&barrier);
  for (i = 0; i < 4; i++)
    ck_assert_int_eq(lure_thread_join(&tid[i]), 0);
}
END_TEST

LT_SUITE(thread) {
  Suite *s = suite_create("thread");
  TCase *tc = lt_tcase("thread", 30);
  TCase *ab = lt_tcase("thread-aborts", 10);

  tcase_add_test(tc, thread_create_join);
  tcase_add_test(tc, thread_errors);
  tcase_add_test(tc, thread_stack_size);
  tcase_add_test(tc, thread_key_per_thread);
  tcase_add_test(tc, thread_once);
  tcase_add_test(tc, thread_mutex_excludes);
  tcase_add_test(tc, thread_mutex_trylock);
  tcase_add_test(tc, thread_mutex_recursive);
  tcase_add_test(tc, thread_rwlock_trylock);
  tcase_add_test(tc, thread_rwlock_readers_share);
  tcase_add_test(tc, thread_rwlock_writer_excludes);
  tcase_add_test(tc, thread_sem_counts);
  tcase_add_test(tc, thread_sem_blocks);
  tcase_add_test(tc, thread_cond_signal);
  tcase_add_test(tc, thread_cond_broadcast);
  tcase_add_test(tc, thread_cond_timedwait_signalled);
  tcase_add_test(tc, thread_cond_timedwait_times_out);
  tcase_add_test(tc, thread_barrier_one_serial);
  tcase_add_test(tc, thread_barrier_serial_destroys);
  suite_add_tcase(s, tc);

  /* The documented aborts.  They need Check's fork mode (its default). */
  tcase_add_test_raise_signal(ab, thread_mutex_relock_aborts, SIGABRT);
  tcase_add_test_raise_signal(ab, thread_mutex_unlock_unowned_aborts,
                              SIGABRT);
  suite_add_tcase(s, ab);
  return s;
}
