/*
 * error.c - names and messages of lure's error codes.
 *
 * Both tables are generated from LURE_ERRNO_MAP so that the two can never
 * disagree with the header.  Every function returns static strings or
 * writes into the caller's buffer: thread-safe, no allocation.
 */
#include <stdio.h>
#include <string.h>
#include "internal.h"

#define LURE__STRERROR_CASE(name, msg) case LURE_##name: return msg;
#define LURE__ERRNAME_CASE(name, _) case LURE_##name: return #name;

LURE_EXTERN const char *lure_strerror(int err) {
  switch (err) {
    LURE_ERRNO_MAP(LURE__STRERROR_CASE)
    case 0: return "success";
    default: return "unknown error";
  }
}

LURE_EXTERN const char *lure_err_name(int err) {
  switch (err) {
    LURE_ERRNO_MAP(LURE__ERRNAME_CASE)
    case 0: return "OK";
    default: return "UNKNOWN";
  }
}

static char *lure__copy(const char *s, char *buf, size_t buflen) {
  size_t n;

  if (buf == NULL || buflen == 0)
    return buf;
  n = strlen(s);
  if (n >= buflen)
    n = buflen - 1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return buf;
}

/* Is err one of the codes of LURE_ERRNO_MAP (or 0)? */
static int lure__known(int err) {
#define LURE__KNOWN_CASE(name, _) case LURE_##name:
  switch (err) {
    LURE_ERRNO_MAP(LURE__KNOWN_CASE)
    case 0:
      return 1;
    default:
      return 0;
  }
#undef LURE__KNOWN_CASE
}

/* The _r variants have a buffer, so an unknown code is named with its
 * number, as libuv does: "Unknown system error -1337". */
LURE_EXTERN char *lure_strerror_r(int err, char *buf, size_t buflen) {
  if (!lure__known(err) && buf != NULL && buflen > 0) {
    snprintf(buf, buflen, "Unknown system error %d", err);
    return buf;
  }
  return lure__copy(lure_strerror(err), buf, buflen);
}

LURE_EXTERN char *lure_err_name_r(int err, char *buf, size_t buflen) {
  if (!lure__known(err) && buf != NULL && buflen > 0) {
    snprintf(buf, buflen, "Unknown system error %d", err);
    return buf;
  }
  return lure__copy(lure_err_name(err), buf, buflen);
}
