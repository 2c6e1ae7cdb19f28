/*
 * null-sweep.c - call every public function of lure.h with NULL pointers,
 * zeros and never-initialised handles, each call in a forked child with a
 * time limit.  The table of calls is generated from include/lure.h at build
 * time (tests/gen-null-sweep.sh), so a new function is swept the day it is
 * declared.
 *
 * Usage: null-sweep [-x EXEMPT_FILE] [-s SET_NAME] [-t SECONDS] [NAME...]
 *
 * Variant 0: every pointer NULL, every number 0.  Variant 1: a live loop
 * (made in the child, so on the executor set of the environment) for each
 * lure_loop_t *, zero-filled memory for the other data pointers, NULL for
 * strings and callbacks; the loop then runs once (LURE_RUN_NOWAIT) so that
 * anything the call left behind is exercised too.
 *
 * A call fails when the child dies of a signal (crash), outlives the time
 * limit (hang), leaves by exit(), or, in variant 0, when a function that
 * returns int and takes a pointer returns >= 0 for NULL.  Exemptions, one
 * reason each, are read from EXEMPT_FILE.  Exit status 0 when nothing
 * failed, 1 otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "null-sweep.h"

lure_loop_t *sw_loop;

#define SW_ZERO_SIZE 65536
#define SW_MAX_ARGS 16

/* Zero-filled memory, one area per argument position, aligned for any
 * type.  Each call runs in a fresh child, so it is zero at every call. */
void *sw_zero(int i) {
  static void *areas[SW_MAX_ARGS + 1];

  if (i < 0 || i > SW_MAX_ARGS)
    abort();
  if (areas[i] == NULL) {
    areas[i] = mmap(NULL, SW_ZERO_SIZE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (areas[i] == MAP_FAILED)
      abort();
  }
  return areas[i];
}

#define EX_SKIP0 1
#define EX_SKIP1 2
#define EX_V0OK 4

struct exemption {
  char name[96];
  unsigned what;
  int used;
};

static struct exemption exempt[512];
static unsigned nexempt;

static int load_exemptions(const char *path) {
  char line[512], name[96], tokens[96];
  FILE *f = fopen(path, "r");
  int bad = 0, lineno = 0;

  if (f == NULL) {
    fprintf(stderr, "null-sweep: %s: %s\n", path, strerror(errno));
    return -1;
  }
  while (fgets(line, sizeof(line), f) != NULL) {
    char *t, *save = NULL;
    unsigned what = 0;

    lineno++;
    if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
      continue;
    if (sscanf(line, "%95s %95s", name, tokens) != 2 ||
        nexempt == sizeof(exempt) / sizeof(exempt[0])) {
      fprintf(stderr, "null-sweep: %s:%d: malformed\n", path, lineno);
      bad = 1;
      continue;
    }
    for (t = strtok_r(tokens, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
      if (strcmp(t, "skip-v0") == 0)
        what |= EX_SKIP0;
      else if (strcmp(t, "skip-v1") == 0)
        what |= EX_SKIP1;
      else if (strcmp(t, "v0-ok") == 0)
        what |= EX_V0OK;
      else {
        fprintf(stderr, "null-sweep: %s:%d: unknown token %s\n", path,
                lineno, t);
        bad = 1;
      }
    }
    /* The reason is the rest of the line: it must be there. */
    {
      const char *r = line + strspn(line, " \t");
      r += strcspn(r, " \t");
      r += strspn(r, " \t");
      r += strcspn(r, " \t");
      r += strspn(r, " \t\r\n");
      if (*r == '\0') {
        fprintf(stderr, "null-sweep: %s:%d: %s has no reason\n", path,
                lineno, name);
        bad = 1;
      }
    }
    snprintf(exempt[nexempt].name, sizeof(exempt[nexempt].name), "%s", name);
    exempt[nexempt].what = what;
    nexempt++;
  }
  fclose(f);
  return bad ? -1 : 0;
}

static unsigned exemption_of(const char *name) {
  unsigned i;

  for (i = 0; i < nexempt; i++)
    if (strcmp(exempt[i].name, name) == 0) {
      exempt[i].used = 1;
      return exempt[i].what;
    }
  return 0;
}

enum { R_NEG = 10, R_NONNEG = 11, R_VOID = 12, R_SETUP = 13 };

/* In the child: make the call; the exit status says what it returned. */
static void child(const struct sw_fn *fn, int variant, unsigned timeout) {
  int fd;
  long r;

  /* Descriptor 0 is what a zero descriptor argument names: make it an
   * anonymous memory file, so that a call that writes, truncates or
   * chmods "fd 0" touches nothing real.  stdout goes to /dev/null
   * (functions that print to a FILE * get NULL or zeroed memory). */
  fd = memfd_create("null-sweep", MFD_CLOEXEC);
  if (fd < 0 || dup2(fd, 0) < 0)
    _exit(R_SETUP);
  close(fd);
  fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (fd < 0 || dup2(fd, 1) < 0)
    _exit(R_SETUP);
  close(fd);
  alarm(timeout);
  if (variant == 1) {
    sw_loop = lure_loop_new();
    if (sw_loop == NULL)
      _exit(R_SETUP);
  }
  r = fn->call(variant);
  if (variant == 1 && strcmp(fn->name, "lure_loop_delete") != 0)
    (void) lure_run(sw_loop, LURE_RUN_NOWAIT);
  if (!(fn->flags & SW_INT))
    _exit(R_VOID);
  _exit(r < 0 ? R_NEG : R_NONNEG);
}

static double now_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  const char *exempt_path = NULL, *set = getenv("LURE_STRESS_SET");
  unsigned timeout = 5, i, calls[2] = {0, 0}, skipped = 0, ok_v0 = 0;
  unsigned crashes = 0, hangs = 0, noerrno = 0, exits = 0, negs = 0;
  double t0 = now_s();
  int opt, v, only = 0;

  while ((opt = getopt(argc, argv, "x:s:t:")) != -1) {
    switch (opt) {
      case 'x': exempt_path = optarg; break;
      case 's': set = optarg; break;
      case 't': timeout = (unsigned) atoi(optarg); break;
      default:
        fprintf(stderr,
                "usage: null-sweep [-x EXEMPT] [-s SET] [-t SEC] [NAME...]\n");
        return 2;
    }
  }
  if (set == NULL)
    set = "?";
  if (exempt_path != NULL && load_exemptions(exempt_path) != 0)
    return 1;
  only = optind < argc;
  if (sw_nfns < 100) {
    fprintf(stderr, "null-sweep: only %u functions parsed from lure.h\n",
            sw_nfns);
    return 1;
  }

  for (i = 0; i < sw_nfns; i++) {
    const struct sw_fn *fn = &sw_fns[i];
    unsigned ex = exemption_of(fn->name);

    if (only) {
      int k, want = 0;
      for (k = optind; k < argc; k++)
        if (strcmp(argv[k], fn->name) == 0)
          want = 1;
      if (!want)
        continue;
    }
    for (v = 0; v < 2; v++) {
      pid_t pid;
      int status = 0;
      double deadline;

      if ((v == 0 && (ex & EX_SKIP0)) || (v == 1 && (ex & EX_SKIP1))) {
        skipped++;
        continue;
      }
      calls[v]++;
      fflush(stdout);
      fflush(stderr);
      pid = fork();
      if (pid < 0) {
        perror("null-sweep: fork");
        return 1;
      }
      if (pid == 0)
        child(fn, v, timeout);
      /* The child's alarm ends a hang; SIGKILL is the backstop for a
       * child that blocked or caught SIGALRM. */
      deadline = now_s() + timeout + 3;
      for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
          break;
        if (w < 0 && errno != EINTR) {
          perror("null-sweep: waitpid");
          return 1;
        }
        if (now_s() > deadline) {
          kill(pid, SIGKILL);
          (void) waitpid(pid, &status, 0);
          status = SIGALRM; /* counted as a hang below */
          break;
        }
        usleep(200);
      }
      if (WIFSIGNALED(status) || status == SIGALRM) {
        int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGALRM;
        if (sig == SIGALRM || sig == SIGKILL) {
          hangs++;
          printf("null-sweep: FAIL %s variant %d: hang (no return in %us)\n",
                 fn->name, v, timeout);
        } else {
          crashes++;
          printf("null-sweep: FAIL %s variant %d: crash (%s)\n", fn->name, v,
                 strsignal(sig));
        }
        continue;
      }
      switch (WEXITSTATUS(status)) {
        case R_NEG:
          negs++;
          break;
        case R_VOID:
          break;
        case R_NONNEG:
          if (v == 0 && (fn->flags & SW_PTR)) {
            if (ex & EX_V0OK) {
              ok_v0++;
            } else {
              noerrno++;
              printf("null-sweep: FAIL %s variant 0: returned >= 0 for NULL "
                     "arguments, not a negative errno\n", fn->name);
            }
          }
          break;
        case R_SETUP:
          printf("null-sweep: FAIL %s variant %d: the child could not set "
                 "up (memfd, /dev/null or lure_loop_new)\n", fn->name, v);
          exits++;
          break;
        default:
          exits++;
          printf("null-sweep: FAIL %s variant %d: the process exited (%d)\n",
                 fn->name, v, WEXITSTATUS(status));
          break;
      }
    }
  }
  for (i = 0; i < nexempt; i++)
    if (!exempt[i].used && !only) {
      printf("null-sweep: FAIL exemption for %s, which lure.h does not "
             "declare\n", exempt[i].name);
      exits++;
    }
  printf("null-sweep set=%s: %u functions from lure.h, %u calls (%u with "
         "NULL/0, %u with a live loop and zeroed handles), %u exempt calls "
         "skipped, %u NULL results allowed by the list; negative errno %u; "
         "crashes %u, hangs %u, no errno %u, other %u; %.1fs\n",
         set, sw_nfns, calls[0] + calls[1], calls[0], calls[1], skipped,
         ok_v0, negs, crashes, hangs, noerrno, exits, now_s() - t0);
  return crashes + hangs + noerrno + exits == 0 ? 0 : 1;
}
