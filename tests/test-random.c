/*
 * test-random.c - the small calls of libuv's API: lure_random() (on the
 * calling thread and on the thread pool, with cancellation), the dlopen
 * family, lure_replace_allocator(), lure_print_all_handles() and
 * lure_print_active_handles(), the osfhandle identities, and the
 * LURE_UDP_LINUX_RECVERR flag of lure_udp_bind().
 *
 * Each test runs in its own process (CK_FORK): the allocator and the
 * thread pool's size are process-wide.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "harness.h"

static int all_zero(const unsigned char *p, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    if (p[i] != 0)
      return 0;
  return 1;
}

/* ---- lure_random ------------------------------------------------------------------ */

START_TEST(random_sync) {
  unsigned char a[256], b[256];

  memset(a, 0, sizeof(a));
  memset(b, 0, sizeof(b));
  ck_assert_int_eq(lure_random(NULL, NULL, a, sizeof(a), 0, NULL), 0);
  ck_assert_int_eq(lure_random(NULL, NULL, b, sizeof(b), 0, NULL), 0);
  ck_assert(!all_zero(a, sizeof(a)));
  ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
  /* Large requests loop over getrandom(2)'s limit per call. */
  {
    size_t n = 40u << 20;
    unsigned char *big = calloc(1, n);

    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(lure_random(NULL, NULL, big, n, 0, NULL), 0);
    ck_assert(!all_zero(big + n - 256, 256));
    free(big);
  }
  ck_assert_int_eq(lure_random(NULL, NULL, a, 0, 0, NULL), 0);
  ck_assert_int_eq(lure_random(NULL, NULL, NULL, 0, 0, NULL), 0);
}
END_TEST

static void never_cb(lure_random_t *req, int status, void *buf, size_t len) {
  (void) req;
  (void) status;
  (void) buf;
  (void) len;
  ck_abort_msg("the callback of a refused request ran");
}

START_TEST(random_errors) {
  lure_loop_t loop;
  lure_random_t req;
  char buf[16];

  lt_loop_init(&loop);
  /* libuv's order: the size, then the flags. */
  ck_assert_int_eq(lure_random(&loop, &req, buf, (size_t) -1, 1, never_cb),
                   LURE_E2BIG);
  ck_assert_int_eq(lure_random(NULL, NULL, buf, 0x80000001u, 0, NULL),
                   LURE_E2BIG);
  ck_assert_int_eq(lure_random(&loop, &req, buf, sizeof(buf), 1, never_cb),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_random(NULL, NULL, buf, sizeof(buf), ~0u, NULL),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_random(NULL, NULL, NULL, 4, 0, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_random(NULL, &req, buf, sizeof(buf), 0, never_cb),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_random(&loop, NULL, buf, sizeof(buf), 0, never_cb),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_loop_alive(&loop), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  lt_loop_finish(&loop);
}
END_TEST

struct rnd_rec {
  int calls;
  int status;
  void *buf;
  size_t len;
};

static void rec_cb(lure_random_t *req, int status, void *buf, size_t len) {
  struct rnd_rec *r = req->data;

  r->calls++;
  r->status = status;
  r->buf = buf;
  r->len = len;
}

START_TEST(random_async) {
  lure_loop_t loop;
  lure_random_t req;
  lure_timer_t wd;
  struct rnd_rec r;
  unsigned char buf[128];

  memset(&r, 0, sizeof(r));
  memset(buf, 0, sizeof(buf));
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the random request never completed");
  ck_assert_uint_eq(lure_req_size(LURE_RANDOM), sizeof(lure_random_t));
  ck_assert_str_eq(lure_req_type_name(LURE_RANDOM), "random");
  req.data = &r;
  ck_assert_int_eq(lure_random(&loop, &req, buf, sizeof(buf), 0, rec_cb), 0);
  ck_assert_int_eq(req.type, LURE_RANDOM);
  ck_assert_int_eq(lure_req_get_type((lure_req_t *) &req), LURE_RANDOM);
  ck_assert_ptr_eq(req.loop, &loop);
  /* The callback never runs inside the call; the request keeps the loop
   * alive. */
  ck_assert_int_eq(r.calls, 0);
  ck_assert_int_ne(lure_loop_alive(&loop), 0);
  ck_assert_ptr_null(lure_req_executor((lure_req_t *) &req));
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 1);
  ck_assert_int_eq(r.status, 0);
  ck_assert_ptr_eq(r.buf, buf);
  ck_assert_uint_eq(r.len, sizeof(buf));
  ck_assert(!all_zero(buf, sizeof(buf)));
  ck_assert_str_eq(lure_req_executor((lure_req_t *) &req), "threadpool");
  /* Done: too late to cancel. */
  ck_assert_int_eq(lure_cancel((lure_req_t *) &req), LURE_EBUSY);

  /* An empty request completes too. */
  memset(&r, 0, sizeof(r));
  ck_assert_int_eq(lure_random(&loop, &req, buf, 0, 0, rec_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(r.calls, 1);
  ck_assert_int_eq(r.status, 0);
  ck_assert_uint_eq(r.len, 0);
  lt_loop_finish(&loop);
}
END_TEST

/* With the pool's one thread blocked, a queued random request is taken
 * back: LURE_ECANCELED in its callback, its buffer untouched. */
static pthread_mutex_t gate_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open;
static int blocker_started;

static void blocker_cb(lure_work_t *req) {
  (void) req;
  pthread_mutex_lock(&gate_mutex);
  blocker_started = 1;
  pthread_cond_broadcast(&gate_cond);
  while (!gate_open)
    pthread_cond_wait(&gate_cond, &gate_mutex);
  pthread_mutex_unlock(&gate_mutex);
}

static void blocker_after(lure_work_t *req, int status) {
  (void) req;
  ck_assert_int_eq(status, 0);
}

START_TEST(random_cancel) {
  lure_loop_t loop;
  lure_work_t blocker;
  lure_random_t req;
  lure_timer_t wd;
  struct rnd_rec r;
  unsigned char buf[32];

  ck_assert_int_eq(setenv("LURE_THREADPOOL_SIZE", "1", 1), 0);
  memset(&r, 0, sizeof(r));
  memset(buf, 0, sizeof(buf));
  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 20000, "the cancelled request never completed");
  ck_assert_int_eq(lure_queue_work(&loop, &blocker, blocker_cb, blocker_after),
                   0);
  pthread_mutex_lock(&gate_mutex);
  while (!blocker_started)
    pthread_cond_wait(&gate_cond, &gate_mutex);
  pthread_mutex_unlock(&gate_mutex);
  req.data = &r;
  ck_assert_int_eq(lure_random(&loop, &req, buf, sizeof(buf), 0, rec_cb), 0);
  ck_assert_int_eq(lure_cancel((lure_req_t *) &req), 0);
  ck_assert_int_eq(r.calls, 0);
  ck_assert_int_eq(lure_cancel((lure_req_t *) &req), LURE_EBUSY);
  while (r.calls == 0)
    lure_run(&loop, LURE_RUN_ONCE);
  ck_assert_int_eq(r.status, LURE_ECANCELED);
  ck_assert_ptr_eq(r.buf, buf);
  ck_assert_uint_eq(r.len, sizeof(buf));
  ck_assert(all_zero(buf, sizeof(buf)));
  pthread_mutex_lock(&gate_mutex);
  gate_open = 1;
  pthread_cond_broadcast(&gate_cond);
  pthread_mutex_unlock(&gate_mutex);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- the dlopen family -------------------------------------------------------------- */

START_TEST(dl_open_sym_close) {
  lure_lib_t lib;
  void *p = NULL;
  size_t (*len)(const char *);

  memset(&lib, 0, sizeof(lib));
  ck_assert_str_eq(lure_dlerror(&lib), "no error");
  ck_assert_int_eq(lure_dlopen("libc.so.6", &lib), 0);
  ck_assert_ptr_nonnull(lib.handle);
  ck_assert_ptr_null(lib.errmsg);
  ck_assert_int_eq(lure_dlsym(&lib, "strlen", &p), 0);
  ck_assert_ptr_nonnull(p);
  len = (size_t (*)(const char *)) p;
  ck_assert_uint_eq(len("lure"), 4);
  /* A missing symbol: -1, and the loader's message names it. */
  ck_assert_int_eq(lure_dlsym(&lib, "lure_no_such_symbol", &p), -1);
  ck_assert_ptr_null(p);
  ck_assert_ptr_nonnull(strstr(lure_dlerror(&lib), "lure_no_such_symbol"));
  /* A later success leaves the message alone, as libuv does. */
  ck_assert_int_eq(lure_dlsym(&lib, "strlen", &p), 0);
  lure_dlclose(&lib);
  ck_assert_ptr_null(lib.handle);
  ck_assert_ptr_null(lib.errmsg);
  ck_assert_str_eq(lure_dlerror(&lib), "no error");
  lure_dlclose(&lib); /* twice: nothing left to do */

  /* NULL names the program itself. */
  ck_assert_int_eq(lure_dlopen(NULL, &lib), 0);
  ck_assert_int_eq(lure_dlsym(&lib, "malloc", &p), 0);
  lure_dlclose(&lib);
}
END_TEST

START_TEST(dl_errors) {
  const char *path = "/nonexistent/lure-test-library.so";
  lure_lib_t lib;
  const char *m1;
  void *p;

  ck_assert_int_eq(lure_dlopen(path, &lib), -1);
  ck_assert_ptr_null(lib.handle);
  m1 = lure_dlerror(&lib);
  ck_assert_ptr_nonnull(strstr(m1, path));
  /* The same message twice in a row. */
  ck_assert_str_eq(lure_dlerror(&lib), m1);
  lure_dlclose(&lib);
  ck_assert_str_eq(lure_dlerror(&lib), "no error");

  ck_assert_int_eq(lure_dlopen(path, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_dlsym(NULL, "strlen", &p), LURE_EINVAL);
  ck_assert_int_eq(lure_dlopen("libc.so.6", &lib), 0);
  ck_assert_int_eq(lure_dlsym(&lib, NULL, &p), LURE_EINVAL);
  ck_assert_int_eq(lure_dlsym(&lib, "strlen", NULL), LURE_EINVAL);
  lure_dlclose(&lib);
  lure_dlclose(NULL);
  ck_assert_str_eq(lure_dlerror(NULL), "no error");
}
END_TEST

/* ---- lure_replace_allocator ---------------------------------------------------------- */

static atomic_long live_blocks;
static atomic_long calls;

static void *count_malloc(size_t n) {
  void *p = malloc(n);

  atomic_fetch_add(&calls, 1);
  if (p != NULL)
    atomic_fetch_add(&live_blocks, 1);
  return p;
}

static void *count_calloc(size_t c, size_t n) {
  void *p = calloc(c, n);

  atomic_fetch_add(&calls, 1);
  if (p != NULL)
    atomic_fetch_add(&live_blocks, 1);
  return p;
}

static void *count_realloc(void *old, size_t n) {
  void *p = realloc(old, n);

  atomic_fetch_add(&calls, 1);
  if (old == NULL && p != NULL)
    atomic_fetch_add(&live_blocks, 1);
  return p;
}

static void count_free(void *p) {
  if (p != NULL)
    atomic_fetch_sub(&live_blocks, 1);
  errno = EIO; /* lure keeps errno whatever free does */
  free(p);
}

START_TEST(alloc_replace) {
  lure_loop_t *loop;
  lure_cpu_info_t *ci;
  lure_env_item_t *env;
  lure_fs_t req;
  lure_lib_t lib;
  int n;

  ck_assert_int_eq(lure_replace_allocator(NULL, realloc, calloc, free),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_replace_allocator(malloc, NULL, calloc, free),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_replace_allocator(malloc, realloc, NULL, free),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_replace_allocator(malloc, realloc, calloc, NULL),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_replace_allocator(count_malloc, count_realloc,
                                          count_calloc, count_free), 0);

  loop = lure_loop_new();
  ck_assert_ptr_nonnull(loop);
  ck_assert_int_gt(atomic_load(&calls), 0);
  ck_assert_int_gt(atomic_load(&live_blocks), 0);
  ck_assert_int_eq(lure_cpu_info(&ci, &n), 0);
  lure_free_cpu_info(ci, n);
  ck_assert_int_eq(lure_os_environ(&env, &n), 0);
  lure_os_free_environ(env, n);
  ck_assert_int_eq(lure_fs_readlink(NULL, &req, "/proc/self/exe", NULL), 0);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(lure_fs_realpath(NULL, &req, "/proc/self/exe", NULL), 0);
  lure_fs_req_cleanup(&req);
  ck_assert_int_eq(lure_dlopen("/nonexistent.so", &lib), -1);
  errno = 0;
  lure_dlclose(&lib);
  ck_assert_int_eq(errno, 0);
  lure_loop_delete(loop); /* closes it first */
  /* Every block lure made went back through the same allocator. */
  ck_assert_int_eq(atomic_load(&live_blocks), 0);
  ck_assert_int_eq(lure_replace_allocator(malloc, realloc, calloc, free), 0);
}
END_TEST

/* ---- lure_print_all_handles / lure_print_active_handles ------------------------------ */

static void nop_timer(lure_timer_t *t) {
  (void) t;
}

/* The printed lines of one call. */
static char *print_to_string(lure_loop_t *loop, int active) {
  char *s = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&s, &n);

  ck_assert_ptr_nonnull(f);
  if (active)
    lure_print_active_handles(loop, f);
  else
    lure_print_all_handles(loop, f);
  fclose(f);
  return s;
}

START_TEST(print_handles) {
  lure_loop_t loop;
  lure_timer_t t;
  lure_idle_t idle;
  char line[128];
  char *s;
  char *p;

  lt_loop_init(&loop);
  ck_assert_int_eq(lure_timer_init(&loop, &t), 0);
  ck_assert_int_eq(lure_timer_start(&t, nop_timer, 100000, 0), 0);
  ck_assert_int_eq(lure_idle_init(&loop, &idle), 0);
  lure_unref((lure_handle_t *) &idle);

  s = print_to_string(&loop, 0);
  snprintf(line, sizeof(line), "[RA-] timer    %p\n", (void *) &t);
  ck_assert_msg(strstr(s, line) != NULL, "no \"%s\" in:\n%s", line, s);
  snprintf(line, sizeof(line), "[---] idle     %p\n", (void *) &idle);
  ck_assert_msg(strstr(s, line) != NULL, "no \"%s\" in:\n%s", line, s);
  /* Every line has the format: three flag columns, a padded name. */
  for (p = s; *p != '\0'; p = strchr(p, '\n') + 1) {
    ck_assert_int_eq(p[0], '[');
    ck_assert(p[1] == 'R' || p[1] == '-');
    ck_assert(p[2] == 'A' || p[2] == '-');
    ck_assert(p[3] == 'I' || p[3] == '-');
    ck_assert_int_eq(p[4], ']');
    ck_assert_ptr_nonnull(strchr(p, '\n'));
  }
  free(s);

  s = print_to_string(&loop, 1);
  snprintf(line, sizeof(line), "[RA-] timer    %p\n", (void *) &t);
  ck_assert_ptr_nonnull(strstr(s, line));
  snprintf(line, sizeof(line), "%p", (void *) &idle);
  ck_assert_ptr_null(strstr(s, line));
  free(s);

  /* A closing handle is still listed until its close callback ran. */
  lure_close((lure_handle_t *) &idle, NULL);
  s = print_to_string(&loop, 0);
  snprintf(line, sizeof(line), "%p", (void *) &idle);
  ck_assert_ptr_nonnull(strstr(s, line));
  free(s);
  lt_loop_finish(&loop);

  /* NULL stream: standard error; NULL loop: the default loop. */
  lure_print_all_handles(NULL, stderr);
  lure_print_active_handles(NULL, NULL);
}
END_TEST

START_TEST(osfhandle_identity) {
  ck_assert_int_eq(lure_get_osfhandle(0), 0);
  ck_assert_int_eq(lure_get_osfhandle(17), 17);
  ck_assert_int_eq(lure_get_osfhandle(-1), -1);
  ck_assert_int_eq(lure_open_osfhandle(5), 5);
  ck_assert_int_eq(lure_open_osfhandle(-1), -1);
}
END_TEST

/* ---- LURE_UDP_LINUX_RECVERR --------------------------------------------------------- */

static int send_calls;
static int send_status[2];
static void send_cb(lure_udp_send_t *req, int status) {
  (void) req;
  send_status[send_calls++] = status;
}

START_TEST(udp_recverr) {
  lure_loop_t loop;
  lure_udp_t u4, u6, plain;
  lure_udp_send_t s1, s2;
  lure_timer_t wd;
  struct sockaddr_in a4, closed;
  struct sockaddr_in6 a6;
  lure_os_fd_t fd;
  lure_buf_t b = { "ping", 4 };
  int on = 0;
  socklen_t len = sizeof(on);
  int probe;

  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, 10000, "the sends never completed");
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 0, &a4), 0);
  ck_assert_int_eq(lure_udp_init(&loop, &u4), 0);
  ck_assert_int_eq(lure_udp_bind(&u4, (const struct sockaddr *) &a4,
                                 LURE_UDP_LINUX_RECVERR),
                   0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &u4, &fd), 0);
  ck_assert_int_eq(getsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, &len), 0);
  ck_assert_int_eq(on, 1);

  /* Without the flag, the socket keeps the kernel's default (off). */
  ck_assert_int_eq(lure_udp_init(&loop, &plain), 0);
  ck_assert_int_eq(lure_udp_bind(&plain, (const struct sockaddr *) &a4, 0), 0);
  ck_assert_int_eq(lure_fileno((lure_handle_t *) &plain, &fd), 0);
  ck_assert_int_eq(getsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, &len), 0);
  ck_assert_int_eq(on, 0);

  /* IPv6, where the host has it. */
  probe = socket(AF_INET6, SOCK_DGRAM, 0);
  if (probe >= 0) {
    close(probe);
    ck_assert_int_eq(lure_ip6_addr("::1", 0, &a6), 0);
    ck_assert_int_eq(lure_udp_init(&loop, &u6), 0);
    if (lure_udp_bind(&u6, (const struct sockaddr *) &a6,
                      LURE_UDP_LINUX_RECVERR) == 0) {
      ck_assert_int_eq(lure_fileno((lure_handle_t *) &u6, &fd), 0);
      ck_assert_int_eq(getsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, &len),
                       0);
      ck_assert_int_eq(on, 1);
    }
  }

  /* As libuv 1.44: lure_udp_init_ex() does not take the flag. */
  {
    lure_udp_t x;

    ck_assert_int_eq(lure_udp_init_ex(&loop, &x,
                                      AF_INET | LURE_UDP_LINUX_RECVERR),
                     LURE_EINVAL);
  }

  /* Sends to a closed port complete, with 0 or the refusal the ICMP
   * error now reports. */
  probe = socket(AF_INET, SOCK_DGRAM, 0);
  ck_assert_int_ge(probe, 0);
  len = sizeof(closed);
  memset(&closed, 0, sizeof(closed));
  closed.sin_family = AF_INET;
  closed.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(probe, (struct sockaddr *) &closed, len), 0);
  ck_assert_int_eq(getsockname(probe, (struct sockaddr *) &closed, &len), 0);
  close(probe); /* the port is closed now */
  send_calls = 0;
  ck_assert_int_eq(lure_udp_send(&s1, &u4, &b, 1,
                                 (const struct sockaddr *) &closed, send_cb),
                   0);
  ck_assert_int_eq(lure_udp_send(&s2, &u4, &b, 1,
                                 (const struct sockaddr *) &closed, send_cb),
                   0);
  while (send_calls < 2)
    ck_assert_int_ge(lure_run(&loop, LURE_RUN_ONCE), 0);
  ck_assert(send_status[0] == 0 || send_status[0] == LURE_ECONNREFUSED);
  ck_assert(send_status[1] == 0 || send_status[1] == LURE_ECONNREFUSED);
  lt_loop_finish(&loop);
}
END_TEST

LT_SUITE(random) {
  Suite *s = suite_create("random");
  TCase *tc = lt_tcase("random", 30);

  tcase_add_test(tc, random_sync);
  tcase_add_test(tc, random_errors);
  tcase_add_test(tc, random_async);
  tcase_add_test(tc, random_cancel);
  tcase_add_test(tc, dl_open_sym_close);
  tcase_add_test(tc, dl_errors);
  tcase_add_test(tc, alloc_replace);
  tcase_add_test(tc, print_handles);
  tcase_add_test(tc, osfhandle_identity);
  tcase_add_test(tc, udp_recverr);
  suite_add_tcase(s, tc);
  return s;
}
