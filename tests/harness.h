/*
 * harness.h - the one test harness of lure's Check programs (issue 11):
 * suite registration, the executor set, and the helpers every suite shares.
 * Prefix lt_ (LT_ for macros); the area helpers use lt_fs_ (harness-fs.h)
 * and lt_net_ (harness-net.h).
 *
 * Every program (tests/lure-tests, tests/lure-fs-tests, tests/lure-net-tests)
 * has the same main() (tests/runner.c) and runs whole once per executor set
 * (tests/run-set.sh, the sets listed in tests/local.mk).  The set is named by
 * LURE_TEST_SET:
 *   "uring"         the ring is the wait point and serves all it can;
 *   "uring-masked"  the ring is the wait point, LURE_URING_DISABLE masks its
 *                   file and socket opcodes (the pool and readiness serve);
 *   "uring-old"     the ring as kernels before 5.19/6.0 run it (multishot
 *                   receive and accept, provided-buffer rings masked);
 *   "epoll"         LURE_BACKEND=epoll;
 *   "nouring"       under tests/nouring: an io_uring call fails (ENOSYS,
 *                   EPERM, ... in LURE_NOURING_ERRNO) and lure must fall
 *                   back to epoll by itself.
 * Every loop a test makes with lt_loop_init() is checked to have the wait
 * point that set promises, so that a suite can never pass on the wrong
 * executor.  NULL (run by hand) checks only what LURE_BACKEND forces.
 *
 * A new suite is one file that ends with
 *
 *   LT_SUITE(name) {
 *     Suite *s = suite_create("name");
 *     ...
 *     return s;
 *   }
 *
 * and one line (the file) in its program's _SOURCES in tests/local.mk.
 * Suites run in link order (the order of _SOURCES); "PROGRAM name..." runs
 * only the suites named.
 */
#ifndef LURE_HARNESS_H
#define LURE_HARNESS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "lure.h"

#define LT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- registration ------------------------------------------------------- */

void lt_suite_register(const char *name, Suite *(*make)(void));

/* Define the suite constructor of a file and register it before main(). */
#define LT_SUITE(name)                                                     \
  static Suite *lt_suite_make_##name(void);                               \
  __attribute__((constructor)) static void lt_suite_reg_##name(void) {    \
    lt_suite_register(#name, lt_suite_make_##name);                       \
  }                                                                       \
  static Suite *lt_suite_make_##name(void)

/* What one program adds to the runner (at most one per program). */
struct lt_program {
  /* Before the first suite (after the arguments were read); a nonzero
   * return ends the run with that exit status. */
  int (*setup)(void);
  /* After the last suite. */
  void (*teardown)(void);
  /* More facts for the first line of the run (", dir ..."). */
  void (*describe)(char *buf, size_t size);
};

void lt_program_register(const struct lt_program *p);

#define LT_PROGRAM(setup, teardown, describe)                              \
  static const struct lt_program lt_program_ = { setup, teardown,          \
                                                 describe };               \
  __attribute__((constructor)) static void lt_program_reg_(void) {         \
    lt_program_register(&lt_program_);                                     \
  }

/* ---- the executor set --------------------------------------------------- */

/* LURE_TEST_SET, or NULL when the program runs by hand. */
const char *lt_set(void);
/* 1 when the set is named and is name. */
int lt_set_is(const char *name);
/* The wait point the set promises: "io_uring", "epoll", or NULL (unknown:
 * run by hand without LURE_BACKEND). */
const char *lt_set_backend(void);
/* 1 when the loops of this run use the ring. */
int lt_set_is_uring(void);
/* 1 when sockets take the ring's path: "uring", "uring-old",
 * "uring-single" and "uring-6.1". */
int lt_set_ring_path(void);
/* 1 when LURE_URING_DISABLE names the ring opcode or feature name. */
int lt_uring_masked(const char *name);
/* 1 when the running kernel is at least major.minor (uname(2)); the fault
 * injection of the faults tests (IORING_NOP_INJECT_RESULT) needs 6.10. */
int lt_kernel_at_least(unsigned major, unsigned minor);
/* 1 when loop's wait point is a single issuer's ring with deferred task
 * work (LURE_LOOP_SINGLE_THREAD on a kernel that has it, 6.1). */
int lt_single_issuer(const lure_loop_t *loop);

/* ---- loops -------------------------------------------------------------- */

/* lure_loop_init() that must succeed and give the set's wait point; with
 * lt_loop_stream_warmup >= 0, the loop's LURE_LOOP_STREAM_WARMUP is set
 * to it. */
void lt_loop_init(lure_loop_t *loop);
extern int lt_loop_stream_warmup;
/* A checked fixture for suites about the ring's own stream paths: their
 * loops put streams on the ring from the start (warm-up 0). */
void lt_streams_ring_at_once(void);
void lt_streams_default(void); /* its teardown */
/* Whether a fresh stream of this test's loops starts on readiness when the
 * ring could serve it (LURE_LOOP_STREAM_WARMUP above 0, the default). */
int lt_streams_warm(void);
/* Close every handle still open, run until their close callbacks ran, and
 * check that lure_loop_close() then succeeds. */
void lt_loop_finish(lure_loop_t *loop);
/* A watchdog: an unreferenced timer that fails the test (with what) when it
 * fires.  It does not keep the loop alive; lt_loop_finish() closes it. */
void lt_watchdog(lure_loop_t *loop, lure_timer_t *t, uint64_t ms,
                 const char *what);
/* Run until nothing is alive; a watchdog guards against hangs. */
void lt_run(lure_loop_t *loop);
/* Run the loop for about ms milliseconds (a referenced timer stops it). */
void lt_run_for(lure_loop_t *loop, unsigned ms);
/* One LURE_RUN_ONCE tick with t (initialised) started for ms milliseconds:
 * the test fails unless the timer ran in that tick, with the message
 * "set S, <fmt...>: RUN_ONCE returned after N ms without its timer".  For
 * the tests of CQEs nobody sees: such a CQE must not end the tick.
 * Returns lure_run()'s value. */
int lt_once_runs_timer(lure_loop_t *loop, lure_timer_t *t, uint64_t ms,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- time --------------------------------------------------------------- */

/* Milliseconds since start (a lure_hrtime() value). */
uint64_t lt_ms_since(uint64_t start);
/* Sleep for ms milliseconds (nanosleep, restarted on EINTR). */
void lt_sleep_ms(unsigned ms);
/* A test case with the given Check timeout in seconds (Check's default of
 * 4 s is too tight under the sanitizers on a loaded machine).
 * CK_TIMEOUT_MULTIPLIER still scales it. */
TCase *lt_tcase(const char *name, double timeout);

/* ---- the process -------------------------------------------------------- */

/* An error name for messages: "0", "42", "ENOENT", "EOF" (a ring of
 * static buffers: a few may be used in one message). */
const char *lt_err(ssize_t r);
/* A fresh private directory under $TMPDIR (short enough for Unix socket
 * paths) or /tmp; remove it with lt_rmtree(). */
void lt_tmpdir(char *buf, size_t size);
/* rm -rf */
void lt_rmtree(const char *path);
/* 1 when the process runs as root. */
int lt_is_root(void);
/* 1 when built with AddressSanitizer. */
int lt_asan(void);
/* Raise RLIMIT_NOFILE to at least want; returns the soft limit. */
long lt_raise_nofile(long want);
/* Number of open descriptors of this process. */
int lt_count_fds(void);
/* A server that dies: child(wfd) runs in a forked process, sets up what it
 * serves, writes an int (its port) to wfd and runs until killed (it
 * _exit()s with a code >= 2 when it fails first).  The parent reads the
 * int, SIGKILLs the child, reaps it with waitpid() and returns the int, so
 * that the caller looks at the port right after its server died. */
int lt_killed_child_port(void (*child)(int wfd));

#endif /* LURE_HARNESS_H */
