/* version.c - the library version, and the small helpers with no better home. */
#include <fcntl.h>
#include <time.h>
#include "internal.h"

#define LURE__STR2(x) #x
#define LURE__STR(x) LURE__STR2(x)

LURE_EXTERN unsigned int lure_version(void) {
  return LURE_VERSION_HEX;
}

LURE_EXTERN const char *lure_version_string(void) {
  return LURE__STR(LURE_VERSION_MAJOR) "." LURE__STR(LURE_VERSION_MINOR) "."
         LURE__STR(LURE_VERSION_PATCH);
}

uint64_t lure__hrtime_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

LURE_EXTERN uint64_t lure_hrtime(void) {
  return lure__hrtime_ns();
}

int lure__cloexec(int fd, int set) {
  int flags = fcntl(fd, F_GETFD);

  if (flags < 0)
    return -errno;
  flags = set ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  return fcntl(fd, F_SETFD, flags) < 0 ? -errno : 0;
}

int lure__nonblock(int fd, int set) {
  int flags = fcntl(fd, F_GETFL);

  if (flags < 0)
    return -errno;
  if (!!(flags & O_NONBLOCK) == !!set)
    return 0;
  flags = set ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}
