/*
 * dns.c - getaddrinfo/getnameinfo on the thread pool, and the address
 * helpers.  Resolution blocks in libc, so it always runs on the pool
 * (or inline in sync mode, with a NULL callback, as in libuv).
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static int lure__eai_error(int rc) {
  switch (rc) {
    case 0: return 0;
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY: return LURE_EAI_ADDRFAMILY;
#endif
    case EAI_AGAIN: return LURE_EAI_AGAIN;
    case EAI_BADFLAGS: return LURE_EAI_BADFLAGS;
#ifdef EAI_CANCELED
    case EAI_CANCELED: return LURE_EAI_CANCELED;
#endif
    case EAI_FAIL: return LURE_EAI_FAIL;
    case EAI_FAMILY: return LURE_EAI_FAMILY;
    case EAI_MEMORY: return LURE_EAI_MEMORY;
#ifdef EAI_NODATA
    case EAI_NODATA: return LURE_EAI_NODATA;
#endif
    case EAI_NONAME: return LURE_EAI_NONAME;
    case EAI_OVERFLOW: return LURE_EAI_OVERFLOW;
    case EAI_SERVICE: return LURE_EAI_SERVICE;
    case EAI_SOCKTYPE: return LURE_EAI_SOCKTYPE;
    case EAI_SYSTEM: return -errno;
    default: return LURE_EAI_FAIL;
  }
}

static void lure__gai_work(struct lure__work *w) {
  lure_getaddrinfo_t *req = lure__container_of(w, lure_getaddrinfo_t, work_req);

  req->retcode = lure__eai_error(
      getaddrinfo(req->hostname, req->service, req->hints, &req->addrinfo));
}

static void lure__gai_free_args(lure_getaddrinfo_t *req) {
  /* hints, hostname and service share one allocation. */
  lure__free(req->hints);
  req->hints = NULL;
  req->hostname = NULL;
  req->service = NULL;
}

static void lure__gai_done(struct lure__work *w, int status) {
  lure_getaddrinfo_t *req = lure__container_of(w, lure_getaddrinfo_t, work_req);

  lure__req_unregister(req->loop, (lure_req_t *) req);
  req->executor = LURE__EXEC_THREADPOOL;
  lure__gai_free_args(req);
  if (status == LURE_ECANCELED) {
    req->retcode = LURE_EAI_CANCELED;
    req->addrinfo = NULL;
  }
  if (req->cb != NULL)
    req->cb(req, req->retcode, req->addrinfo);
}

LURE_EXTERN int lure_getaddrinfo(lure_loop_t *loop, lure_getaddrinfo_t *req,
                                 lure_getaddrinfo_cb cb, const char *node,
                                 const char *service,
                                 const struct addrinfo *hints) {
  size_t nlen = node != NULL ? strlen(node) + 1 : 0;
  size_t slen = service != NULL ? strlen(service) + 1 : 0;
  char *mem;
  int rc;

  if (loop == NULL || loop->priv == NULL || req == NULL)
    return LURE_EINVAL;
  if (node == NULL && service == NULL)
    return LURE_EINVAL;
  mem = lure__calloc(1, sizeof(struct addrinfo) + nlen + slen);
  if (mem == NULL)
    return LURE_ENOMEM;
  req->type = LURE_GETADDRINFO;
  req->loop = loop;
  req->cb = cb;
  req->addrinfo = NULL;
  req->retcode = 0;
  req->req_flags = 0;
  req->executor = LURE__EXEC_NONE;
  req->hints = (struct addrinfo *) mem;
  if (hints != NULL) {
    req->hints->ai_flags = hints->ai_flags;
    req->hints->ai_family = hints->ai_family;
    req->hints->ai_socktype = hints->ai_socktype;
    req->hints->ai_protocol = hints->ai_protocol;
  } else {
    req->hints->ai_family = AF_UNSPEC;
  }
  mem += sizeof(struct addrinfo);
  req->hostname = node != NULL ? memcpy(mem, node, nlen) : NULL;
  req->service = service != NULL ? memcpy(mem + nlen, service, slen) : NULL;

  if (cb == NULL) {
    lure__gai_work(&req->work_req);
    lure__gai_free_args(req);
    req->executor = LURE__EXEC_INLINE;
    return req->retcode;
  }
  lure__req_register(loop, (lure_req_t *) req);
  rc = lure__work_submit(loop, &req->work_req, lure__gai_work, lure__gai_done);
  if (rc != 0) {
    lure__req_unregister(loop, (lure_req_t *) req);
    lure__gai_free_args(req);
  }
  return rc;
}

LURE_EXTERN void lure_freeaddrinfo(struct addrinfo *ai) {
  if (ai != NULL)
    freeaddrinfo(ai);
}

static void lure__gni_work(struct lure__work *w) {
  lure_getnameinfo_t *req = lure__container_of(w, lure_getnameinfo_t, work_req);
  socklen_t len = req->storage.ss_family == AF_INET6
                      ? sizeof(struct sockaddr_in6)
                      : sizeof(struct sockaddr_in);

  req->retcode = lure__eai_error(
      getnameinfo((struct sockaddr *) &req->storage, len, req->host,
                  sizeof(req->host), req->service, sizeof(req->service),
                  req->flags));
}

static void lure__gni_done(struct lure__work *w, int status) {
  lure_getnameinfo_t *req = lure__container_of(w, lure_getnameinfo_t, work_req);

  lure__req_unregister(req->loop, (lure_req_t *) req);
  req->executor = LURE__EXEC_THREADPOOL;
  if (status == LURE_ECANCELED)
    req->retcode = LURE_EAI_CANCELED;
  if (req->getnameinfo_cb != NULL)
    req->getnameinfo_cb(req, req->retcode, req->retcode == 0 ? req->host : NULL,
                        req->retcode == 0 ? req->service : NULL);
}

LURE_EXTERN int lure_getnameinfo(lure_loop_t *loop, lure_getnameinfo_t *req,
                                 lure_getnameinfo_cb cb,
                                 const struct sockaddr *addr, int flags) {
  if (loop == NULL || loop->priv == NULL || req == NULL || addr == NULL)
    return LURE_EINVAL;
  if (addr->sa_family == AF_INET)
    memcpy(&req->storage, addr, sizeof(struct sockaddr_in));
  else if (addr->sa_family == AF_INET6)
    memcpy(&req->storage, addr, sizeof(struct sockaddr_in6));
  else
    return LURE_EINVAL;
  req->type = LURE_GETNAMEINFO;
  req->loop = loop;
  req->getnameinfo_cb = cb;
  req->flags = flags;
  req->retcode = 0;
  req->req_flags = 0;
  req->host[0] = '\0';
  req->service[0] = '\0';
  if (cb == NULL) {
    lure__gni_work(&req->work_req);
    req->executor = LURE__EXEC_INLINE;
    return req->retcode;
  }
  lure__req_register(loop, (lure_req_t *) req);
  {
    int rc = lure__work_submit(loop, &req->work_req, lure__gni_work,
                               lure__gni_done);
    if (rc != 0)
      lure__req_unregister(loop, (lure_req_t *) req);
    return rc;
  }
}

/* ---- addresses ---- */

LURE_EXTERN int lure_ip4_addr(const char *ip, int port,
                              struct sockaddr_in *addr) {
  if (ip == NULL || addr == NULL || port < 0 || port > 65535)
    return LURE_EINVAL;
  memset(addr, 0, sizeof(*addr));
  addr->sin_family = AF_INET;
  addr->sin_port = htons((uint16_t) port);
  return inet_pton(AF_INET, ip, &addr->sin_addr) == 1 ? 0 : LURE_EINVAL;
}

LURE_EXTERN int lure_ip6_addr(const char *ip, int port,
                              struct sockaddr_in6 *addr) {
  char host[INET6_ADDRSTRLEN + 1];
  const char *zone;
  size_t len;

  if (ip == NULL || addr == NULL || port < 0 || port > 65535)
    return LURE_EINVAL;
  memset(addr, 0, sizeof(*addr));
  addr->sin6_family = AF_INET6;
  addr->sin6_port = htons((uint16_t) port);
  /* "fe80::1%eth0": the zone names the interface. */
  zone = strchr(ip, '%');
  if (zone != NULL) {
    len = (size_t) (zone - ip);
    if (len >= sizeof(host))
      return LURE_EINVAL;
    memcpy(host, ip, len);
    host[len] = '\0';
    addr->sin6_scope_id = if_nametoindex(zone + 1);
    ip = host;
  }
  return inet_pton(AF_INET6, ip, &addr->sin6_addr) == 1 ? 0 : LURE_EINVAL;
}

LURE_EXTERN int lure_inet_ntop(int af, const void *src, char *dst, size_t size) {
  if (src == NULL || dst == NULL)
    return LURE_EINVAL;
  if (af != AF_INET && af != AF_INET6)
    return LURE_EAFNOSUPPORT;
  if (inet_ntop(af, src, dst, (socklen_t) size) == NULL)
    return LURE_ENOSPC;
  return 0;
}

LURE_EXTERN int lure_inet_pton(int af, const char *src, void *dst) {
  char host[INET6_ADDRSTRLEN];
  const char *zone;

  if (src == NULL || dst == NULL)
    return LURE_EINVAL;
  if (af != AF_INET && af != AF_INET6)
    return LURE_EAFNOSUPPORT;
  /* As libuv: an IPv6 address may carry a zone ("fe80::1%eth0"), which
   * is ignored here (lure_ip6_addr() turns it into sin6_scope_id). */
  zone = af == AF_INET6 ? strchr(src, '%') : NULL;
  if (zone != NULL) {
    if ((size_t) (zone - src) >= sizeof(host))
      return LURE_EINVAL;
    memcpy(host, src, (size_t) (zone - src));
    host[zone - src] = '\0';
    src = host;
  }
  return inet_pton(af, src, dst) == 1 ? 0 : LURE_EINVAL;
}

LURE_EXTERN int lure_ip4_name(const struct sockaddr_in *src, char *dst,
                              size_t size) {
  if (src == NULL)
    return LURE_EINVAL;
  return lure_inet_ntop(AF_INET, &src->sin_addr, dst, size);
}

LURE_EXTERN int lure_ip6_name(const struct sockaddr_in6 *src, char *dst,
                              size_t size) {
  if (src == NULL)
    return LURE_EINVAL;
  return lure_inet_ntop(AF_INET6, &src->sin6_addr, dst, size);
}
