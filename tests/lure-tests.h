/*
 * lure-tests.h - what the Check suites of lure-tests share.
 *
 * The whole program runs once per executor set (the tests/SET.test
 * scripts): the set is named by LURE_TEST_SET ("uring", "epoll" or
 * "nouring"), and every loop a test makes with test_loop_init() is checked
 * to have the wait point that set promises, so that a suite can never pass
 * on the wrong executor.
 */
#ifndef LURE_TESTS_H
#define LURE_TESTS_H

#include <check.h>
#include <stdint.h>
#include "lure.h"

/* One constructor per file. */
Suite *loop_suite(void);
Suite *timer_suite(void);
Suite *handle_suite(void);
Suite *async_suite(void);
Suite *signal_suite(void);
Suite *poll_suite(void);
Suite *work_suite(void);
Suite *fork_suite(void);
Suite *errors_suite(void);
Suite *heap_suite(void);
Suite *thread_suite(void);
Suite *misc_suite(void);
Suite *os_suite(void);
Suite *fs_event_suite(void);
Suite *tty_suite(void);
Suite *random_suite(void);
Suite *process_suite(void);
Suite *pitfalls_suite(void);

/* "uring", "epoll", "nouring", or NULL when the program runs by hand. */
const char *test_set(void);

/* The wait point the set promises: "io_uring", "epoll", or NULL (unknown:
 * run by hand without LURE_BACKEND). */
const char *test_expected_backend(void);

/* 1 when the loops of this run use the ring. */
int test_set_is_uring(void);

/* lure_loop_init() that must succeed and give the set's wait point. */
void test_loop_init(lure_loop_t *loop);

/* Close every handle still open, run until their close callbacks ran, and
 * check that lure_loop_close() then succeeds. */
void test_loop_finish(lure_loop_t *loop);

/* A watchdog: an unreferenced timer that fails the test (with msg) when it
 * fires.  It does not keep the loop alive; test_loop_finish() closes it. */
void test_watchdog(lure_loop_t *loop, lure_timer_t *t, uint64_t ms,
                   const char *msg);

/* Milliseconds since start (a lure_hrtime() value). */
uint64_t test_ms_since(uint64_t start);

/* A test case with the given Check timeout in seconds (Check's default of 4 s
 * is too tight under the sanitizers on a loaded machine).
 * CK_TIMEOUT_MULTIPLIER still scales it. */
TCase *test_tcase(const char *name, double timeout);

/* Sleep for ms milliseconds (nanosleep, restarted on EINTR). */
void test_sleep_ms(unsigned ms);

#define TEST_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* LURE_TESTS_H */
