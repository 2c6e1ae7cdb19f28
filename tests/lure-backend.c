/*
 * lure-backend.c - print the wait point a fresh loop gets here ("io_uring"
 * or "epoll"), honouring LURE_BACKEND and LURE_URING_DISABLE.  The
 * executor-set driver (tests/run-set.sh) uses it to decide whether a set
 * can run (SKIP) and to check that a forced or filtered set really got the
 * executor it names.
 */
#include <stdio.h>
#include "lure.h"

int main(void) {
  lure_loop_t loop;
  const char *name;
  int rc;

  rc = lure_loop_init(&loop);
  if (rc != 0) {
    fprintf(stderr, "lure-backend: lure_loop_init: %s (%s)\n",
            lure_strerror(rc), lure_err_name(rc));
    return 1;
  }
  name = lure_loop_backend(&loop);
  printf("%s\n", name != NULL ? name : "(null)");
  rc = lure_loop_close(&loop);
  if (rc != 0) {
    fprintf(stderr, "lure-backend: lure_loop_close: %s\n", lure_err_name(rc));
    return 1;
  }
  return 0;
}
