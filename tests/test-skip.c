/*
 * test-skip.c - leave named Check tests out of a run: LURE_TEST_SKIP holds
 * test function names (as START_TEST names them), separated by spaces or
 * commas.  tests/valgrind.sh uses it for the tests that cannot run under
 * valgrind (tests/valgrind-skip.txt says why, test by test); unset, every
 * test runs.
 *
 * The three Check programs are linked with -Wl,--wrap=_tcase_add_test
 * (tests/valgrind.mk), so every tcase_add_test*() of their suites comes
 * here first; no test source changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>

void __real__tcase_add_test(TCase *tc, const TTest *ttest, int sig,
                            int allowed_exit_value, int start, int end);
void __wrap__tcase_add_test(TCase *tc, const TTest *ttest, int sig,
                            int allowed_exit_value, int start, int end);

static int test_skipped(const char *name) {
  const char *list = getenv("LURE_TEST_SKIP");
  size_t n = strlen(name);

  while (list != NULL && *list != '\0') {
    size_t len;
    list += strspn(list, " ,\t\n");
    len = strcspn(list, " ,\t\n");
    if (len == n && strncmp(list, name, n) == 0)
      return 1;
    list += len;
  }
  return 0;
}

void __wrap__tcase_add_test(TCase *tc, const TTest *ttest, int sig,
                            int allowed_exit_value, int start, int end) {
  if (ttest != NULL && ttest->name != NULL && test_skipped(ttest->name)) {
    fprintf(stderr, "skipped (LURE_TEST_SKIP): %s\n", ttest->name);
    return;
  }
  __real__tcase_add_test(tc, ttest, sig, allowed_exit_value, start, end);
}
