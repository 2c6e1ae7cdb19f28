/*
 * shared-link.c - a program built as a user of lure builds one: <lure.h>
 * alone on its include path, linked with the shared liblure and nothing
 * else of the tree (tests/local.mk).  It runs a loop with a timer, a
 * thread-pool job and an fs request, and checks that lure's code came
 * from liblure.so, not from a static copy.  Exit 77 (SKIP) when the build
 * made no shared library (configure --disable-shared).
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <lure.h>

static int timer_fired;
static int work_ran;
static int work_done;
static int stat_done;

static void on_timer(lure_timer_t *t) {
  timer_fired = 1;
  lure_close((lure_handle_t *) t, NULL);
}

static void work(lure_work_t *req) {
  (void) req;
  work_ran = 1;
}

static void after_work(lure_work_t *req, int status) {
  (void) req;
  work_done = status == 0;
}

static void on_stat(lure_fs_t *req) {
  stat_done = req->result == 0;
  lure_fs_req_cleanup(req);
}

int main(void) {
  lure_loop_t loop;
  lure_timer_t timer;
  lure_work_t wreq;
  lure_fs_t freq;
  Dl_info info;
  const char *wait_point;
  int rc;

  if (dladdr((void *) lure_loop_init, &info) == 0 || info.dli_fname == NULL) {
    fprintf(stderr, "shared-link: dladdr found no object for lure_loop_init\n");
    return 1;
  }
  if (strstr(info.dli_fname, "liblure.so") == NULL) {
    printf("shared-link: SKIP: lure_loop_init comes from %s, not liblure.so "
           "(no shared library built?)\n", info.dli_fname);
    return 77;
  }
  rc = lure_loop_init(&loop);
  if (rc != 0) {
    fprintf(stderr, "shared-link: lure_loop_init: %s\n", lure_strerror(rc));
    return 1;
  }
  if (lure_timer_init(&loop, &timer) != 0 ||
      lure_timer_start(&timer, on_timer, 1, 0) != 0 ||
      lure_queue_work(&loop, &wreq, work, after_work) != 0 ||
      lure_fs_stat(&loop, &freq, "/", on_stat) != 0) {
    fprintf(stderr, "shared-link: a request was refused\n");
    return 1;
  }
  rc = lure_run(&loop, LURE_RUN_DEFAULT);
  if (rc != 0 || !timer_fired || !work_ran || !work_done || !stat_done) {
    fprintf(stderr, "shared-link: run %d, timer %d, work %d/%d, stat %d\n",
            rc, timer_fired, work_ran, work_done, stat_done);
    return 1;
  }
  wait_point = lure_loop_backend(&loop);
  if (lure_loop_close(&loop) != 0) {
    fprintf(stderr, "shared-link: lure_loop_close failed\n");
    return 1;
  }
  printf("shared-link: lure %s from %s, wait point %s\n",
         lure_version_string(), info.dli_fname, wait_point);
  return 0;
}
