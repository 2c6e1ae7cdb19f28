/*
 * net-dns.c - suite "dns": lure_getaddrinfo / lure_getnameinfo in sync
 * (NULL callback) and async (thread pool) mode, for "localhost", for
 * numeric addresses and for a name that cannot exist ("nonexistent.invalid",
 * RFC 6761: with no network here, any LURE_EAI_* failure is right); and the
 * address helpers lure_ip4_addr/ip6_addr/ip4_name/ip6_name/inet_pton/
 * inet_ntop with valid and invalid input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include "harness-net.h"

/* 1 when res holds 127.0.0.1 or ::1 (port, when >= 0, on every entry). */
static int gai_has_loopback(const struct addrinfo *res, int port) {
  const struct addrinfo *ai;
  int found = 0;

  for (ai = res; ai != NULL; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      const struct sockaddr_in *a = (const struct sockaddr_in *) ai->ai_addr;

      if (a->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
        found = 1;
      if (port >= 0)
        ck_assert_int_eq(ntohs(a->sin_port), port);
    } else if (ai->ai_family == AF_INET6) {
      const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) ai->ai_addr;

      if (memcmp(&a->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback))
          == 0)
        found = 1;
      if (port >= 0)
        ck_assert_int_eq(ntohs(a->sin6_port), port);
    }
  }
  return found;
}

/* A resolution failure: a LURE_EAI_* code other than EAI_CANCELED. */
static int gai_is_failure(int status) {
  return status <= LURE_EAI_ADDRFAMILY && status >= LURE_EAI_SOCKTYPE &&
         status != LURE_EAI_CANCELED;
}

START_TEST(dns_getaddrinfo_sync) {
  lure_loop_t loop;
  lure_getaddrinfo_t req;
  struct addrinfo hints;
  const char *ex;
  int rc;

  lt_loop_init(&loop);
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;

  memset(&req, 0, sizeof(req));
  rc = lure_getaddrinfo(&loop, &req, NULL, "localhost", NULL, &hints);
  ck_assert_msg(rc == 0, "getaddrinfo(localhost) sync: %s (%s)", lt_err(rc),
                lure_strerror(rc));
  ck_assert_ptr_nonnull(req.addrinfo);
  ck_assert_msg(gai_has_loopback(req.addrinfo, -1),
                "localhost resolved to neither 127.0.0.1 nor ::1");
  ex = lure_req_executor((lure_req_t *) &req);
  ck_assert_msg(ex != NULL && strcmp(ex, "inline") == 0,
                "sync getaddrinfo executor %s, want inline", ex ? ex : "NULL");
  ck_assert_ptr_eq(req.loop, &loop);
  lure_freeaddrinfo(req.addrinfo);

  /* With a service: its port is on every result. */
  memset(&req, 0, sizeof(req));
  rc = lure_getaddrinfo(&loop, &req, NULL, "localhost", "8080", &hints);
  ck_assert_int_eq(rc, 0);
  ck_assert(gai_has_loopback(req.addrinfo, 8080));
  lure_freeaddrinfo(req.addrinfo);

  /* Numeric hosts, NULL hints. */
  memset(&req, 0, sizeof(req));
  ck_assert_int_eq(lure_getaddrinfo(&loop, &req, NULL, "127.0.0.1", NULL,
                                    NULL), 0);
  ck_assert(gai_has_loopback(req.addrinfo, -1));
  lure_freeaddrinfo(req.addrinfo);
  if (lt_net_have_ipv6()) {
    memset(&req, 0, sizeof(req));
    hints.ai_flags = AI_NUMERICHOST;
    ck_assert_int_eq(lure_getaddrinfo(&loop, &req, NULL, "::1", "1", &hints),
                     0);
    ck_assert(gai_has_loopback(req.addrinfo, 1));
    lure_freeaddrinfo(req.addrinfo);
    hints.ai_flags = 0;
  }

  /* A name that cannot exist. */
  memset(&req, 0, sizeof(req));
  rc = lure_getaddrinfo(&loop, &req, NULL, "nonexistent.invalid", NULL,
                        &hints);
  printf("dns_getaddrinfo_sync: nonexistent.invalid: %s (%s)\n", lt_err(rc),
         lure_strerror(rc));
  ck_assert_msg(gai_is_failure(rc), "getaddrinfo(nonexistent.invalid) sync: "
                "%d (%s), want a LURE_EAI_* error", rc, lt_err(rc));
  ck_assert_ptr_null(req.addrinfo);
  lure_freeaddrinfo(NULL); /* allowed */

  /* A numeric-only request for a name. */
  memset(&req, 0, sizeof(req));
  hints.ai_flags = AI_NUMERICHOST;
  rc = lure_getaddrinfo(&loop, &req, NULL, "localhost", NULL, &hints);
  ck_assert_msg(rc == LURE_EAI_NONAME, "AI_NUMERICHOST with a name: %s, want "
                "EAI_NONAME", lt_err(rc));
  lt_loop_finish(&loop);
}
END_TEST

struct gai_async {
  int cbs;
  int status;
  struct addrinfo *res;
  const char *executor;
};

static void gai_cb(lure_getaddrinfo_t *req, int status, struct addrinfo *res) {
  struct gai_async *g = req->data;

  g->cbs++;
  g->status = status;
  g->res = res;
  g->executor = lure_req_executor((lure_req_t *) req);
}

START_TEST(dns_getaddrinfo_async) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_getaddrinfo_t req[2];
  struct gai_async g[2];
  struct addrinfo hints;
  char node[32];

  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "async getaddrinfo");
  memset(g, 0, sizeof(g));
  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  /* The strings and hints are copied: change them after the call. */
  snprintf(node, sizeof(node), "localhost");
  req[0].data = &g[0];
  req[1].data = &g[1];
  ck_assert_int_eq(lure_getaddrinfo(&loop, &req[0], gai_cb, node, "80",
                                    &hints), 0);
  memset(node, 'x', sizeof(node) - 1);
  hints.ai_family = AF_UNIX;
  ck_assert_int_eq(lure_getaddrinfo(&loop, &req[1], gai_cb,
                                    "nonexistent.invalid", NULL, NULL), 0);
  ck_assert_int_eq(g[0].cbs + g[1].cbs, 0);
  lt_run(&loop);
  ck_assert_int_eq(g[0].cbs, 1);
  ck_assert_msg(g[0].status == 0, "getaddrinfo(localhost): %s",
                lt_err(g[0].status));
  ck_assert_ptr_nonnull(g[0].res);
  ck_assert(gai_has_loopback(g[0].res, 80));
  ck_assert_str_eq(g[0].executor, "threadpool");
  lure_freeaddrinfo(g[0].res);
  ck_assert_int_eq(g[1].cbs, 1);
  printf("dns_getaddrinfo_async: nonexistent.invalid: %s\n",
         lt_err(g[1].status));
  ck_assert_msg(gai_is_failure(g[1].status), "getaddrinfo(nonexistent."
                "invalid): %d (%s), want a LURE_EAI_* error", g[1].status,
                lt_err(g[1].status));
  ck_assert_ptr_null(g[1].res);
  lt_loop_finish(&loop);
}
END_TEST

struct gni_async {
  int cbs;
  int status;
  char host[NI_MAXHOST];
  char service[NI_MAXSERV];
};

static void gni_cb(lure_getnameinfo_t *req, int status, const char *host,
                   const char *service) {
  struct gni_async *g = req->data;

  g->cbs++;
  g->status = status;
  if (host != NULL)
    snprintf(g->host, sizeof(g->host), "%s", host);
  if (service != NULL)
    snprintf(g->service, sizeof(g->service), "%s", service);
}

START_TEST(dns_getnameinfo) {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_getnameinfo_t req;
  struct gni_async g;
  struct sockaddr_in a;
  struct sockaddr_in6 a6;
  int rc;

  lt_loop_init(&loop);
  lt_watchdog(&loop, &wd, LT_NET_WATCHDOG_MS, "getnameinfo");
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 80, &a), 0);

  /* Sync: the results are in the request. */
  memset(&req, 0, sizeof(req));
  rc = lure_getnameinfo(&loop, &req, NULL, (struct sockaddr *) &a, 0);
  ck_assert_msg(rc == 0, "getnameinfo(127.0.0.1) sync: %s", lt_err(rc));
  ck_assert_msg(req.host[0] != '\0', "getnameinfo(127.0.0.1): empty host");
  ck_assert_msg(req.service[0] != '\0', "getnameinfo(:80): empty service");
  printf("dns_getnameinfo: 127.0.0.1:80 is %s:%s\n", req.host, req.service);
  ck_assert_str_eq(lure_req_executor((lure_req_t *) &req), "inline");

  memset(&req, 0, sizeof(req));
  rc = lure_getnameinfo(&loop, &req, NULL, (struct sockaddr *) &a,
                        NI_NUMERICHOST | NI_NUMERICSERV);
  ck_assert_int_eq(rc, 0);
  ck_assert_str_eq(req.host, "127.0.0.1");
  ck_assert_str_eq(req.service, "80");

  if (lt_net_have_ipv6()) {
    ck_assert_int_eq(lure_ip6_addr("::1", 443, &a6), 0);
    memset(&req, 0, sizeof(req));
    rc = lure_getnameinfo(&loop, &req, NULL, (struct sockaddr *) &a6,
                          NI_NUMERICHOST | NI_NUMERICSERV);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(req.host, "::1");
    ck_assert_str_eq(req.service, "443");
  }

  /* Async. */
  memset(&g, 0, sizeof(g));
  memset(&req, 0, sizeof(req));
  req.data = &g;
  ck_assert_int_eq(lure_getnameinfo(&loop, &req, gni_cb,
                                    (struct sockaddr *) &a, NI_NUMERICSERV),
                   0);
  lt_run(&loop);
  ck_assert_int_eq(g.cbs, 1);
  ck_assert_msg(g.status == 0, "async getnameinfo: %s", lt_err(g.status));
  ck_assert(g.host[0] != '\0');
  ck_assert_str_eq(g.service, "80");
  ck_assert_str_eq(lure_req_executor((lure_req_t *) &req), "threadpool");
  lt_loop_finish(&loop);
}
END_TEST

/* ---- address helpers ----------------------------------------------------------------- */

START_TEST(dns_address_helpers) {
  struct sockaddr_in a;
  struct sockaddr_in6 a6;
  struct in_addr in;
  struct in6_addr in6;
  char text[INET6_ADDRSTRLEN];
  char tiny[4];
  unsigned lo = if_nametoindex("lo");
  static const char *const bad4[] = {
    "256.0.0.1", "1.2.3", "1.2.3.4.5", "abc", "", " 1.2.3.4", "1.2.3.4 ",
    "::1", "1.2.3.-4"
  };
  static const char *const bad6[] = {
    ":::", "1::2::3", "12345::", "g::1", "", "1.2.3.4", "::1::", "%lo"
  };
  size_t i;

  /* lure_ip4_addr */
  memset(&a, 0xff, sizeof(a));
  ck_assert_int_eq(lure_ip4_addr("127.0.0.1", 8080, &a), 0);
  ck_assert_int_eq(a.sin_family, AF_INET);
  ck_assert_int_eq(ntohs(a.sin_port), 8080);
  ck_assert_uint_eq(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
  ck_assert_int_eq(lure_ip4_addr("0.0.0.0", 0, &a), 0);
  ck_assert_int_eq(lure_ip4_addr("255.255.255.255", 65535, &a), 0);
  ck_assert_int_eq(ntohs(a.sin_port), 65535);
  for (i = 0; i < LT_ARRAY_SIZE(bad4); i++)
    ck_assert_msg(lure_ip4_addr(bad4[i], 1, &a) == LURE_EINVAL,
                  "lure_ip4_addr(\"%s\") accepted", bad4[i]);
  ck_assert_int_eq(lure_ip4_addr("1.2.3.4", -1, &a), LURE_EINVAL);
  ck_assert_int_eq(lure_ip4_addr("1.2.3.4", 65536, &a), LURE_EINVAL);
  ck_assert_int_eq(lure_ip4_addr(NULL, 1, &a), LURE_EINVAL);
  ck_assert_int_eq(lure_ip4_addr("1.2.3.4", 1, NULL), LURE_EINVAL);

  /* lure_ip6_addr */
  ck_assert_int_eq(lure_ip6_addr("::1", 443, &a6), 0);
  ck_assert_int_eq(a6.sin6_family, AF_INET6);
  ck_assert_int_eq(ntohs(a6.sin6_port), 443);
  ck_assert(memcmp(&a6.sin6_addr, &in6addr_loopback, 16) == 0);
  ck_assert_uint_eq(a6.sin6_scope_id, 0);
  ck_assert_int_eq(lure_ip6_addr("2001:db8::7", 1, &a6), 0);
  ck_assert_int_eq(lure_ip6_addr("::ffff:192.0.2.1", 1, &a6), 0);
  ck_assert_int_eq(lure_ip6_addr("fe80::1%lo", 1, &a6), 0);
  ck_assert_uint_eq(a6.sin6_scope_id, lo);
  ck_assert_int_eq(lure_ip6_addr("fe80::1%no-such-if0", 1, &a6), 0);
  ck_assert_uint_eq(a6.sin6_scope_id, 0);
  for (i = 0; i < LT_ARRAY_SIZE(bad6); i++)
    ck_assert_msg(lure_ip6_addr(bad6[i], 1, &a6) == LURE_EINVAL,
                  "lure_ip6_addr(\"%s\") accepted", bad6[i]);
  ck_assert_int_eq(lure_ip6_addr("::1", 70000, &a6), LURE_EINVAL);
  ck_assert_int_eq(lure_ip6_addr(NULL, 1, &a6), LURE_EINVAL);
  ck_assert_int_eq(lure_ip6_addr("::1", 1, NULL), LURE_EINVAL);

  /* lure_ip4_name / lure_ip6_name */
  ck_assert_int_eq(lure_ip4_addr("192.0.2.33", 9, &a), 0);
  ck_assert_int_eq(lure_ip4_name(&a, text, sizeof(text)), 0);
  ck_assert_str_eq(text, "192.0.2.33");
  ck_assert_int_eq(lure_ip4_name(&a, text, 11), 0); /* exactly enough */
  ck_assert_int_eq(lure_ip4_name(&a, text, 10), LURE_ENOSPC);
  ck_assert_int_eq(lure_ip4_name(&a, tiny, sizeof(tiny)), LURE_ENOSPC);
  ck_assert_int_eq(lure_ip4_name(NULL, text, sizeof(text)), LURE_EINVAL);
  ck_assert_int_eq(lure_ip4_name(&a, NULL, sizeof(text)), LURE_EINVAL);
  ck_assert_int_eq(lure_ip6_addr("2001:0db8:0000:0000:0000:0000:0000:0001", 1,
                                 &a6), 0);
  ck_assert_int_eq(lure_ip6_name(&a6, text, sizeof(text)), 0);
  ck_assert_str_eq(text, "2001:db8::1");
  ck_assert_int_eq(lure_ip6_name(&a6, tiny, sizeof(tiny)), LURE_ENOSPC);
  ck_assert_int_eq(lure_ip6_name(NULL, text, sizeof(text)), LURE_EINVAL);

  /* lure_inet_pton / lure_inet_ntop */
  ck_assert_int_eq(lure_inet_pton(AF_INET, "10.1.2.3", &in), 0);
  ck_assert_uint_eq(ntohl(in.s_addr), 0x0a010203u);
  ck_assert_int_eq(lure_inet_pton(AF_INET, "10.1.2", &in), LURE_EINVAL);
  ck_assert_int_eq(lure_inet_pton(AF_INET, "::1", &in), LURE_EINVAL);
  ck_assert_int_eq(lure_inet_pton(AF_INET6, "::1", &in6), 0);
  ck_assert(memcmp(&in6, &in6addr_loopback, 16) == 0);
  ck_assert_int_eq(lure_inet_pton(AF_INET6, "1.2.3.4", &in6), LURE_EINVAL);
  ck_assert_int_eq(lure_inet_pton(AF_UNIX, "1.2.3.4", &in), LURE_EAFNOSUPPORT);
  ck_assert_int_eq(lure_inet_pton(AF_INET, NULL, &in), LURE_EINVAL);
  ck_assert_int_eq(lure_inet_pton(AF_INET, "1.2.3.4", NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_inet_pton(AF_INET6, "2001:0db8:0000::0001", &in6), 0);
  ck_assert_int_eq(lure_inet_ntop(AF_INET6, &in6, text, sizeof(text)), 0);
  ck_assert_str_eq(text, "2001:db8::1");
  ck_assert_int_eq(lure_inet_ntop(AF_INET6, &in6, tiny, sizeof(tiny)),
                   LURE_ENOSPC);
  ck_assert_int_eq(lure_inet_ntop(AF_INET, &in, text, sizeof(text)), 0);
  ck_assert_str_eq(text, "10.1.2.3");
  ck_assert_int_eq(lure_inet_ntop(AF_INET, &in, text, 0), LURE_ENOSPC);
  ck_assert_int_eq(lure_inet_ntop(AF_UNIX, &in, text, sizeof(text)),
                   LURE_EAFNOSUPPORT);
  ck_assert_int_eq(lure_inet_ntop(AF_INET, NULL, text, sizeof(text)),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_inet_ntop(AF_INET, &in, NULL, sizeof(text)),
                   LURE_EINVAL);
}
END_TEST

LT_SUITE(dns) {
  Suite *s = suite_create("dns");
  TCase *tc = tcase_create("dns");

  tcase_set_timeout(tc, LT_NET_TCASE_TIMEOUT);
  tcase_add_test(tc, dns_getaddrinfo_sync);
  tcase_add_test(tc, dns_getaddrinfo_async);
  tcase_add_test(tc, dns_getnameinfo);
  tcase_add_test(tc, dns_address_helpers);
  suite_add_tcase(s, tc);
  return s;
}
