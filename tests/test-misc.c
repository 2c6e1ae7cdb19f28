/*
 * test-misc.c - loops on the heap (lure_loop_new, lure_loop_delete,
 * lure_loop_size) and the data and type accessors of loops and requests.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "harness.h"

static int cookie1;
static int cookie2;

static int timer_fired;

static void fire_cb(lure_timer_t *t) {
  timer_fired++;
  lure_close((lure_handle_t *) t, NULL);
}

/* A loop from lure_loop_new() is a working loop, and lure_loop_delete()
 * closes and frees it (ASan/valgrind would see a leak otherwise). */
START_TEST(misc_loop_new_delete) {
  const char *want = lt_set_backend();
  lure_loop_t *loop;
  lure_timer_t t;

  loop = lure_loop_new();
  ck_assert_ptr_nonnull(loop);
  ck_assert_ptr_null(loop->data);
  ck_assert_ptr_null(lure_loop_get_data(loop));
  if (want != NULL)
    ck_assert_str_eq(lure_loop_backend(loop), want);
  ck_assert_int_eq(lure_loop_alive(loop), 0);
  timer_fired = 0;
  ck_assert_int_eq(lure_timer_init(loop, &t), 0);
  ck_assert_int_eq(lure_timer_start(&t, fire_cb, 1, 0), 0);
  ck_assert_int_eq(lure_run(loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(timer_fired, 1);
  lure_loop_delete(loop);
  /* NULL is nothing to delete. */
  lure_loop_delete(NULL);
}
END_TEST

/* Deleting the default loop closes it without freeing its static storage;
 * the next lure_default_loop() makes it again. */
START_TEST(misc_loop_delete_default) {
  lure_loop_t *def = lure_default_loop();
  lure_loop_t *again;

  ck_assert_ptr_nonnull(def);
  lure_loop_delete(def);
  again = lure_default_loop();
  ck_assert_ptr_nonnull(again);
  ck_assert_ptr_eq(again, def);
  ck_assert_int_eq(lure_run(again, LURE_RUN_NOWAIT), 0);
  ck_assert_int_eq(lure_loop_close(again), 0);
}
END_TEST

/* A loop that still has a handle cannot be closed: libuv asserts, lure
 * aborts, rather than free memory the handle points into. */
START_TEST(misc_loop_delete_busy_aborts) {
  lure_loop_t *loop = lure_loop_new();
  lure_idle_t idle;

  ck_assert_ptr_nonnull(loop);
  ck_assert_int_eq(lure_idle_init(loop, &idle), 0);
  lure_loop_delete(loop);
}
END_TEST

/* libuv's getters_setters, in the loop's part: a loop in memory sized by
 * lure_loop_size(). */
START_TEST(misc_loop_size_and_data) {
  lure_loop_t *loop;

  ck_assert_uint_eq(lure_loop_size(), sizeof(lure_loop_t));
  loop = malloc(lure_loop_size());
  ck_assert_ptr_nonnull(loop);
  memset(loop, 0, lure_loop_size());
  ck_assert_int_eq(lure_loop_init(loop), 0);
  lure_loop_set_data(loop, &cookie1);
  ck_assert_ptr_eq(loop->data, &cookie1);
  ck_assert_ptr_eq(lure_loop_get_data(loop), &cookie1);
  loop->data = &cookie2;
  ck_assert_ptr_eq(lure_loop_get_data(loop), &cookie2);
  /* data is the caller's: closing the loop leaves it alone. */
  ck_assert_int_eq(lure_loop_close(loop), 0);
  ck_assert_ptr_eq(loop->data, &cookie2);
  free(loop);
  ck_assert_ptr_null(lure_loop_get_data(NULL));
  lure_loop_set_data(NULL, &cookie1);
}
END_TEST

static void work_cb(lure_work_t *req) { (void) req; }

static int after_calls;

static void after_work_cb(lure_work_t *req, int status) {
  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(lure_req_get_type((lure_req_t *) req), LURE_WORK);
  ck_assert_ptr_eq(lure_req_get_data((lure_req_t *) req), &cookie2);
  after_calls++;
}

START_TEST(misc_req_accessors) {
  lure_loop_t loop;
  lure_fs_t *fs;
  lure_work_t work;

  lt_loop_init(&loop);

  fs = malloc(lure_req_size(LURE_FS));
  ck_assert_ptr_nonnull(fs);
  ck_assert_int_eq(lure_fs_stat(&loop, fs, ".", NULL), 0);
  ck_assert_int_eq(lure_req_get_type((lure_req_t *) fs), LURE_FS);
  ck_assert_int_eq(lure_fs_get_result(fs), 0);
  ck_assert(lure_fs_get_statbuf(fs)->st_mode & S_IFDIR);
  lure_req_set_data((lure_req_t *) fs, &cookie1);
  ck_assert_ptr_eq(fs->data, &cookie1);
  ck_assert_ptr_eq(lure_req_get_data((lure_req_t *) fs), &cookie1);
  fs->data = &cookie2;
  ck_assert_ptr_eq(lure_req_get_data((lure_req_t *) fs), &cookie2);
  lure_fs_req_cleanup(fs);
  free(fs);

  after_calls = 0;
  memset(&work, 0, sizeof(work));
  ck_assert_int_eq(lure_queue_work(&loop, &work, work_cb, after_work_cb), 0);
  ck_assert_int_eq(lure_req_get_type((lure_req_t *) &work), LURE_WORK);
  lure_req_set_data((lure_req_t *) &work, &cookie2);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(after_calls, 1);

  ck_assert_ptr_null(lure_req_get_data(NULL));
  lure_req_set_data(NULL, &cookie1);
  ck_assert_int_eq(lure_req_get_type(NULL), LURE_UNKNOWN_REQ);
  lt_loop_finish(&loop);
}
END_TEST

LT_SUITE(misc) {
  Suite *s = suite_create("misc");
  TCase *tc = lt_tcase("misc", 10);

  tcase_add_test(tc, misc_loop_new_delete);
  tcase_add_test(tc, misc_loop_delete_default);
  tcase_add_test_raise_signal(tc, misc_loop_delete_busy_aborts, SIGABRT);
  tcase_add_test(tc, misc_loop_size_and_data);
  tcase_add_test(tc, misc_req_accessors);
  suite_add_tcase(s, tc);
  return s;
}
