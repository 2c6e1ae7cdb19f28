/*
 * runner.c - the one main() of lure's Check programs (tests/lure-tests,
 * tests/lure-fs-tests, tests/lure-net-tests): the suites of a program
 * register themselves with LT_SUITE (tests/harness.h), and this file runs
 * them.
 *
 * Usage: PROGRAM [--print-backend] [SUITE...]
 *
 *   --print-backend   print the wait point a default loop gets in this
 *                     environment ("io_uring" or "epoll") and exit
 *                     (tests/run-set.sh uses tests/lure-backend first).
 *   -h, --help        the usage and the program's suites.
 *
 * Each suite runs in its own SRunner so that the output carries one Check
 * summary line ("NN%: Checks: N, Failures: N, Errors: N") per suite, then a
 * total for the executor set:
 *
 *   PROGRAM: set S[/ERRNO] (BACKEND), N suites: NN%: Checks: N, Failures: N,
 *   Errors: N, T s
 *
 * on stdout and, when LURE_TESTS_SUMMARY_FD names an open descriptor above 2
 * (tests/run-set.sh passes fd 9 under "make check", AM_TESTS_FD_REDIRECT),
 * there too.  Every test runs in a forked process (Check's default,
 * CK_FORK), so a test may change process-wide state such as
 * LURE_THREADPOOL_SIZE or signal dispositions.  CK_RUN_SUITE and
 * CK_RUN_CASE work as Check documents them.  A SIGPIPE kills the test that
 * provoked it, whatever the caller's disposition: lure promises there is
 * none.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"

#define LT_MAX_SUITES 64

static struct {
  const char *name;
  Suite *(*make)(void);
} lt_suites[LT_MAX_SUITES];
static int lt_nsuites;
static const struct lt_program *lt_program;

void lt_suite_register(const char *name, Suite *(*make)(void)) {
  int i;

  for (i = 0; i < lt_nsuites; i++)
    if (strcmp(lt_suites[i].name, name) == 0) {
      fprintf(stderr, "runner: two suites named \"%s\"\n", name);
      abort();
    }
  if (lt_nsuites == LT_MAX_SUITES) {
    fprintf(stderr, "runner: more than %d suites\n", LT_MAX_SUITES);
    abort();
  }
  lt_suites[lt_nsuites].name = name;
  lt_suites[lt_nsuites].make = make;
  lt_nsuites++;
}

void lt_program_register(const struct lt_program *p) {
  if (lt_program != NULL) {
    fprintf(stderr, "runner: two LT_PROGRAM in one program\n");
    abort();
  }
  lt_program = p;
}

static const char *prog = "lure-tests";

static void usage(FILE *f) {
  int i;

  fprintf(f, "usage: %s [--print-backend] [SUITE...]\nsuites:", prog);
  for (i = 0; i < lt_nsuites; i++)
    fprintf(f, " %s", lt_suites[i].name);
  fprintf(f, "\n");
}

static int print_backend(void) {
  lure_loop_t loop;
  const char *b;

  memset(&loop, 0, sizeof(loop));
  if (lure_loop_init(&loop) != 0) {
    printf("none\n");
    return 1;
  }
  b = lure_loop_backend(&loop);
  printf("%s\n", b ? b : "none");
  lure_loop_close(&loop);
  return 0;
}

static int wanted(const char *name, int argc, char **argv) {
  int i;

  if (argc < 2)
    return 1;
  for (i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return 1;
  return 0;
}

int main(int argc, char **argv) {
  lure_loop_t probe;
  char backend[32] = "no loop";
  char more[512] = "";
  char total[512];
  const char *errno_name = getenv("LURE_NOURING_ERRNO");
  const char *summary_fd;
  const char *set;
  uint64_t start = lure_hrtime();
  int checks = 0;
  int failed = 0;
  int errors = 0;
  int ran = 0;
  int i;
  int j;

  if (argc > 0 && argv[0] != NULL) {
    const char *slash = strrchr(argv[0], '/');

    prog = slash != NULL ? slash + 1 : argv[0];
    if (strncmp(prog, "lt-", 3) == 0) /* a libtool wrapper's program */
      prog += 3;
  }
  for (j = 1; j < argc; j++) {
    int known = 0;

    if (strcmp(argv[j], "--print-backend") == 0)
      return print_backend();
    if (strcmp(argv[j], "-h") == 0 || strcmp(argv[j], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    for (i = 0; i < lt_nsuites; i++)
      if (strcmp(argv[j], lt_suites[i].name) == 0)
        known = 1;
    if (!known) {
      fprintf(stderr, "%s: unknown suite \"%s\"\n", prog, argv[j]);
      usage(stderr);
      return 2;
    }
  }

  signal(SIGPIPE, SIG_DFL);
  set = lt_set() ? lt_set() : "(none)";

  if (lt_program != NULL && lt_program->setup != NULL) {
    int rc = lt_program->setup();

    if (rc != 0)
      return rc;
  }

  /* Say which wait point this run gets, so that the log shows it. */
  memset(&probe, 0, sizeof(probe));
  if (lure_loop_init(&probe) == 0) {
    const char *name = lure_loop_backend(&probe);

    snprintf(backend, sizeof(backend), "%s", name ? name : "(null)");
    lure_loop_close(&probe);
  }
  if (lt_program != NULL && lt_program->describe != NULL)
    lt_program->describe(more, sizeof(more));
  printf("%s: set %s%s%s, backend %s, %s%s%s\n", prog, set,
         errno_name ? "/" : "", errno_name ? errno_name : "", backend,
         lure_version_string(), lt_asan() ? ", ASan" : "", more);
  fflush(stdout);

  for (i = 0; i < lt_nsuites; i++) {
    SRunner *sr;
    TestResult **results;
    int n;
    int k;

    if (!wanted(lt_suites[i].name, argc, argv))
      continue;
    sr = srunner_create(lt_suites[i].make());
    srunner_run_all(sr, CK_ENV);
    n = srunner_ntests_run(sr);
    results = srunner_results(sr);
    for (k = 0; k < n; k++) {
      switch (tr_rtype(results[k])) {
        case CK_FAILURE: failed++; break;
        case CK_ERROR: errors++; break;
        default: break;
      }
    }
    free(results);
    checks += n;
    ran++;
    srunner_free(sr);
    fflush(stdout);
  }

  if (lt_program != NULL && lt_program->teardown != NULL)
    lt_program->teardown();

  snprintf(total, sizeof(total),
           "%s: set %s%s%s (%s), %d suites: %d%%: Checks: %d, "
           "Failures: %d, Errors: %d, %.1f s\n",
           prog, set, errno_name ? "/" : "", errno_name ? errno_name : "",
           backend, ran,
           checks ? (checks - failed - errors) * 100 / checks : 100, checks,
           failed, errors, (double) (lure_hrtime() - start) / 1e9);
  fputs(total, stdout);
  fflush(stdout);
  summary_fd = getenv("LURE_TESTS_SUMMARY_FD");
  if (summary_fd != NULL && *summary_fd != '\0') {
    int fd = atoi(summary_fd);

    if (fd > 2) {
      ssize_t w = write(fd, total, strlen(total)); /* not open: nobody to tell */
      (void) w;
    }
  }
  return (failed == 0 && errors == 0) ? 0 : 1;
}
