/*
 * random.c - lure_random(): bytes from the kernel's CSPRNG.
 *
 * getrandom(2) with no flags blocks only until the pool is first
 * initialised (early boot), which is why, as in libuv, a request with a
 * callback runs on the thread pool; without a callback it runs on the
 * calling thread.  getrandom(2) returns at most 32 MiB per call and may be
 * interrupted, so it is called in a loop.  A kernel without it (before
 * 3.17, or a seccomp policy that says ENOSYS) gets /dev/urandom instead.
 */
#include <fcntl.h>
#include <unistd.h>
#include <sys/random.h>
#include "internal.h"

static int lure__random_urandom(char *p, size_t len) {
  ssize_t n;
  int fd;
  int rc = 0;

  do
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return -errno;
  while (len > 0) {
    n = read(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rc = n < 0 ? -errno : LURE_EIO;
      break;
    }
    p += n;
    len -= (size_t) n;
  }
  close(fd);
  return rc;
}

/* Fill buf; 0 or a negative errno. */
static int lure__random_fill(void *buf, size_t len) {
  char *p = buf;
  ssize_t n;

  while (len > 0) {
    n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == ENOSYS || errno == EPERM)
        return lure__random_urandom(p, len);
      return -errno;
    }
    p += n;
    len -= (size_t) n;
  }
  return 0;
}

static void lure__random_work(struct lure__work *w) {
  lure_random_t *req = lure__container_of(w, lure_random_t, work_req);

  req->status = lure__random_fill(req->buf, req->buflen);
}

static void lure__random_done(struct lure__work *w, int status) {
  lure_random_t *req = lure__container_of(w, lure_random_t, work_req);

  lure__req_unregister(req->loop, (lure_req_t *) req);
  req->executor = LURE__EXEC_THREADPOOL;
  if (status == 0)
    status = req->status;
  req->cb(req, status, req->buf, req->buflen);
}

LURE_EXTERN int lure_random(lure_loop_t *loop, lure_random_t *req, void *buf,
                            size_t buflen, unsigned int flags,
                            lure_random_cb cb) {
  int rc;

  /* libuv's checks, in its order. */
  if (buflen > 0x80000000u)
    return LURE_E2BIG;
  if (flags != 0)
    return LURE_EINVAL;
  if (buf == NULL && buflen > 0)
    return LURE_EINVAL;
  if (cb == NULL)
    return lure__random_fill(buf, buflen);
  if (loop == NULL || loop->priv == NULL || req == NULL)
    return LURE_EINVAL;
  req->type = LURE_RANDOM;
  req->loop = loop;
  req->status = 0;
  req->buf = buf;
  req->buflen = buflen;
  req->cb = cb;
  req->executor = LURE__EXEC_NONE;
  req->req_flags = 0;
  lure__req_register(loop, (lure_req_t *) req);
  rc = lure__work_submit(loop, &req->work_req, lure__random_work,
                         lure__random_done);
  if (rc != 0)
    lure__req_unregister(loop, (lure_req_t *) req);
  return rc;
}

/* lure_cancel() for random requests: still queued, or too late. */
int lure__random_cancel(lure_random_t *req) {
  if (!(req->req_flags & LURE__REQ_ACTIVE) || req->loop == NULL)
    return LURE_EBUSY;
  return lure__work_cancel(req->loop, &req->work_req);
}
