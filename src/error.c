/*
 * error.c - names and messages of lure's error codes.
 *
 * Both tables are generated from LURE_ERRNO_MAP so that the two can never
 * disagree with the header.  Every function returns static strings or
 * writes into the caller's buffer: thread-safe, no allocation.
 */
#include <string.h>
#include "internal.h"

#define LURE__STRERROR_CASE(name, msg) case LURE_##name: return msg;
#define LURE__ERRNAME_CASE(name, _) case LURE_##name: return #name;

LURE_EXTERN const char *lure_strerror(int err) {
  switch (err) {
    LURE_ERRNO_MAP(LURE__STRERROR_CASE)
    case LURE_EOF: return "end of file";
    case LURE_EAI_ADDRFAMILY: return "address family not supported";
    case LURE_EAI_AGAIN: return "temporary failure";
    case LURE_EAI_BADFLAGS: return "bad ai_flags value";
    case LURE_EAI_CANCELED: return "request canceled";
    case LURE_EAI_FAIL: return "permanent failure";
    case LURE_EAI_FAMILY: return "ai_family not supported";
    case LURE_EAI_MEMORY: return "out of memory";
    case LURE_EAI_NODATA: return "no address";
    case LURE_EAI_NONAME: return "unknown node or service";
    case LURE_EAI_OVERFLOW: return "argument buffer overflow";
    case LURE_EAI_SERVICE: return "service not available for socket type";
    case LURE_EAI_SOCKTYPE: return "socket type not supported";
    case 0: return "success";
    default: return "unknown error";
  }
}

LURE_EXTERN const char *lure_err_name(int err) {
  switch (err) {
    LURE_ERRNO_MAP(LURE__ERRNAME_CASE)
    case LURE_EOF: return "EOF";
    case LURE_EAI_ADDRFAMILY: return "EAI_ADDRFAMILY";
    case LURE_EAI_AGAIN: return "EAI_AGAIN";
    case LURE_EAI_BADFLAGS: return "EAI_BADFLAGS";
    case LURE_EAI_CANCELED: return "EAI_CANCELED";
    case LURE_EAI_FAIL: return "EAI_FAIL";
    case LURE_EAI_FAMILY: return "EAI_FAMILY";
    case LURE_EAI_MEMORY: return "EAI_MEMORY";
    case LURE_EAI_NODATA: return "EAI_NODATA";
    case LURE_EAI_NONAME: return "EAI_NONAME";
    case LURE_EAI_OVERFLOW: return "EAI_OVERFLOW";
    case LURE_EAI_SERVICE: return "EAI_SERVICE";
    case LURE_EAI_SOCKTYPE: return "EAI_SOCKTYPE";
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

LURE_EXTERN char *lure_strerror_r(int err, char *buf, size_t buflen) {
  return lure__copy(lure_strerror(err), buf, buflen);
}

LURE_EXTERN char *lure_err_name_r(int err, char *buf, size_t buflen) {
  return lure__copy(lure_err_name(err), buf, buflen);
}
