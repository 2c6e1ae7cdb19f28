/*
 * net-udp.c - suite "udp": 10,000 datagrams over loopback with a window of
 * 64 in flight, lure_udp_try_send, connect/disconnect and what a connected
 * handle refuses, ICMP errors on a connected handle, recv_stop, truncated
 * and empty datagrams, IPv6.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "net-tests.h"

#define UD_COUNT 10000
#define UD_WINDOW 64
#define UD_TRY 10
#define UD_MAXSZ 1024

struct ud_slot {
  lure_udp_send_t req;
  unsigned char buf[UD_MAXSZ];
  int busy;
};

struct ud {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_udp_t rx;
  lure_udp_t tx;
  struct sockaddr_storage rx_addr;
  int tx_port;
  struct ud_slot slot[UD_WINDOW];
  unsigned window;        /* datagrams in flight (UD_WINDOW, less if the
                             receive buffer could not hold them) */
  uint32_t next_send;
  uint32_t next_expect;
  uint32_t send_cbs;
  int send_err;
  uint32_t send_order_bad;
  uint32_t next_cb;
  uint32_t bad_seq;       /* first datagram out of order (+1), 0 none */
  uint32_t got_seq;
  uint32_t bad_data;
  uint32_t bad_addr;
  uint32_t partial;
  uint32_t recv_errs;
  int first_recv_err;
  int try_rc[UD_TRY];
  int try_sent;
  unsigned char rbuf[65536];
};

static size_t ud_size(uint32_t seq) {
  return 8 + (seq * 37u) % (UD_MAXSZ - 8);
}

static void ud_fill(unsigned char *b, uint32_t seq) {
  size_t n = ud_size(seq);

  memcpy(b, &seq, 4);
  b[4] = (unsigned char) n;
  b[5] = (unsigned char) (n >> 8);
  b[6] = 0x5a;
  b[7] = 0xa5;
  memcpy(b + 8, nt_pat(seq, 0), n - 8);
}

static void ud_pump(struct ud *u);

static void ud_send_cb(lure_udp_send_t *req, int status) {
  struct ud *u = req->handle->data;
  struct ud_slot *s = (struct ud_slot *) req;
  uint32_t seq;

  memcpy(&seq, s->buf, 4);
  if (seq != u->next_cb)
    u->send_order_bad++;
  u->next_cb = seq + 1;
  s->busy = 0;
  u->send_cbs++;
  if (status != 0 && u->send_err == 0)
    u->send_err = status;
  ud_pump(u);
}

static void ud_pump(struct ud *u) {
  while (u->next_send < UD_COUNT &&
         u->next_send - u->next_expect < u->window) {
    struct ud_slot *s = &u->slot[u->next_send % UD_WINDOW];
    lure_buf_t b;
    int rc;

    if (s->busy)
      return; /* its send callback has not come yet */
    ud_fill(s->buf, u->next_send);
    b = lure_buf_init((char *) s->buf, (unsigned int) ud_size(u->next_send));
    s->busy = 1;
    rc = lure_udp_send(&s->req, &u->tx, &b, 1,
                       (struct sockaddr *) &u->rx_addr, ud_send_cb);
    ck_assert_msg(rc == 0, "lure_udp_send #%u: %s", u->next_send, nt_err(rc));
    u->next_send++;
  }
}

static void ud_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct ud *u = h->data;

  ck_assert_uint_ge(sz, 65536);
  buf->base = (char *) u->rbuf;
  buf->len = sizeof(u->rbuf);
}

static void ud_try_phase(struct ud *u) {
  unsigned char b[UD_MAXSZ];
  lure_buf_t bufs[2];
  int i;

  for (i = 0; i < UD_TRY; i++) {
    uint32_t seq = UD_COUNT + (uint32_t) i;
    size_t n = ud_size(seq);

    ud_fill(b, seq);
    /* Two buffers make one datagram. */
    bufs[0] = lure_buf_init((char *) b, 5);
    bufs[1] = lure_buf_init((char *) b + 5, (unsigned int) (n - 5));
    u->try_rc[i] = lure_udp_try_send(&u->tx, bufs, 2,
                                     (struct sockaddr *) &u->rx_addr);
  }
  u->try_sent = 1;
}

static void ud_recv(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  struct ud *u = h->data;
  uint32_t seq;
  size_t n;

  if (nread == 0 && addr == NULL)
    return;
  if (nread < 0) {
    if (u->recv_errs++ == 0)
      u->first_recv_err = (int) nread;
    return;
  }
  if (flags & LURE_UDP_PARTIAL)
    u->partial++;
  if (addr == NULL || addr->sa_family != AF_INET ||
      ntohs(((const struct sockaddr_in *) addr)->sin_port) != u->tx_port)
    u->bad_addr++;
  if (nread < 8) {
    u->bad_data++;
    return;
  }
  memcpy(&seq, buf->base, 4);
  if (seq != u->next_expect && u->bad_seq == 0) {
    u->bad_seq = u->next_expect + 1;
    u->got_seq = seq;
  }
  n = ud_size(seq);
  if ((size_t) nread != n ||
      (size_t) (unsigned char) buf->base[4] + 256u * (unsigned char) buf->base[5] != n ||
      nt_pat_check(seq, 0, buf->base + 8, n - 8) >= 0)
    u->bad_data++;
  u->next_expect = seq + 1;
  if (u->next_expect == UD_COUNT) {
    ud_try_phase(u);
  } else if (u->next_expect == UD_COUNT + UD_TRY) {
    lure_close((lure_handle_t *) &u->rx, NULL);
    lure_close((lure_handle_t *) &u->tx, NULL);
    return;
  }
  ud_pump(u);
}

START_TEST(udp_10k_datagrams) {
  struct ud *u = calloc(1, sizeof(*u));
  struct sockaddr_storage ss;
  uint64_t start;
  int i;

  /* 64 datagrams of up to 1 KiB take about 150 KiB of a receive buffer
   * (truesize ~2.3 KiB each); Linux's default is 208 KiB.  With less, a
   * window of 64 would overflow it, and loss would be the kernel's. */
  u->window = UD_WINDOW;
  {
    FILE *f = fopen("/proc/sys/net/core/rmem_default", "r");
    long rmem = 0;

    if (f != NULL) {
      if (fscanf(f, "%ld", &rmem) != 1)
        rmem = 0;
      fclose(f);
    }
    if (rmem > 0 && rmem / 2560 < UD_WINDOW) {
      u->window = rmem / 2560 > 4 ? (unsigned) (rmem / 2560) : 4;
      printf("udp_10k_datagrams: rmem_default %ld: window %u\n", rmem,
             u->window);
    }
  }
  nt_loop_init(&u->loop);
  nt_watchdog(&u->loop, &u->wd, NT_WATCHDOG_MS, "10,000 UDP datagrams");
  ck_assert_int_eq(lure_udp_init(&u->loop, &u->rx), 0);
  ck_assert_int_eq(lure_udp_init(&u->loop, &u->tx), 0);
  u->rx.data = u->tx.data = u;
  nt_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_udp_bind(&u->rx, (struct sockaddr *) &ss, 0), 0);
  ck_assert_int_eq(lure_udp_bind(&u->tx, (struct sockaddr *) &ss, 0), 0);
  nt_loopback(AF_INET, nt_udp_port(&u->rx), &u->rx_addr);
  u->tx_port = nt_udp_port(&u->tx);
  ck_assert_int_eq(lure_udp_recv_start(&u->rx, ud_alloc, ud_recv), 0);
  ck_assert_int_eq(lure_udp_recv_start(&u->rx, ud_alloc, ud_recv),
                   LURE_EALREADY);
  start = lure_hrtime();
  ud_pump(u);
  nt_run(&u->loop);
  printf("udp_10k_datagrams: set %s: %u datagrams in %llu ms\n",
         nt_set() ? nt_set() : "(none)", u->next_expect,
         (unsigned long long) ((lure_hrtime() - start) / 1000000u));
  ck_assert_msg(u->recv_errs == 0, "%u receive errors, first %s", u->recv_errs,
                nt_err(u->first_recv_err));
  ck_assert_msg(u->bad_seq == 0, "datagram %u missing: got %u instead",
                u->bad_seq - 1, u->got_seq);
  ck_assert_msg(u->bad_data == 0, "%u datagrams with wrong contents",
                u->bad_data);
  ck_assert_msg(u->bad_addr == 0, "%u datagrams from the wrong address",
                u->bad_addr);
  ck_assert_uint_eq(u->partial, 0);
  ck_assert_msg(u->send_err == 0, "send status %s", nt_err(u->send_err));
  ck_assert_uint_eq(u->send_order_bad, 0);
  ck_assert_uint_eq(u->send_cbs, UD_COUNT);
  ck_assert_uint_eq(u->tx.send_queue_size, 0);
  ck_assert_uint_eq(u->tx.send_queue_count, 0);
  ck_assert_int_eq(u->try_sent, 1);
  for (i = 0; i < UD_TRY; i++)
    ck_assert_msg(u->try_rc[i] == (int) ud_size(UD_COUNT + (uint32_t) i),
                  "lure_udp_try_send #%d: %s, want %zu", i,
                  nt_err(u->try_rc[i]), ud_size(UD_COUNT + (uint32_t) i));
  ck_assert_uint_eq(u->next_expect, UD_COUNT + UD_TRY);
  nt_loop_finish(&u->loop);
  free(u);
}
END_TEST

/* ---- connect / disconnect ---------------------------------------------------------- */

struct uc {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_udp_t rx;
  lure_udp_t tx;
  int tx_port;
  char got[8][32];
  int ngot;
  int bad_addr;
  int send_cbs;
  int send_status;
  char rbuf[2048];
};

static void uc_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct uc *c = h->data;

  buf->base = c->rbuf;
  buf->len = sizeof(c->rbuf);
}

static void uc_recv(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  struct uc *c = h->data;

  if (addr == NULL)
    return;
  if (ntohs(((const struct sockaddr_in *) addr)->sin_port) != c->tx_port)
    c->bad_addr++;
  if (c->ngot < 8 && nread > 0 && nread < 32) {
    memcpy(c->got[c->ngot], buf->base, (size_t) nread);
    c->got[c->ngot][nread] = '\0';
  }
  c->ngot++;
}

static void uc_send_cb(lure_udp_send_t *req, int status) {
  struct uc *c = req->handle->data;

  c->send_cbs++;
  c->send_status = status;
}

static void uc_run_until(struct uc *c, int ngot) {
  int i;

  for (i = 0; i < 1000 && c->ngot < ngot; i++)
    lure_run(&c->loop, LURE_RUN_ONCE);
}

START_TEST(udp_connect_disconnect) {
  struct uc *c = calloc(1, sizeof(*c));
  struct sockaddr_storage ss;
  struct sockaddr_storage rx_addr;
  struct sockaddr_storage peer;
  lure_udp_send_t req;
  lure_buf_t b;
  int len;
  int rc;

  nt_loop_init(&c->loop);
  nt_watchdog(&c->loop, &c->wd, NT_WATCHDOG_MS, "UDP connect/disconnect");
  ck_assert_int_eq(lure_udp_init(&c->loop, &c->rx), 0);
  ck_assert_int_eq(lure_udp_init(&c->loop, &c->tx), 0);
  c->rx.data = c->tx.data = c;
  nt_loopback(AF_INET, 0, &ss);
  ck_assert_int_eq(lure_udp_bind(&c->rx, (struct sockaddr *) &ss, 0), 0);
  ck_assert_int_eq(lure_udp_bind(&c->tx, (struct sockaddr *) &ss, 0), 0);
  nt_loopback(AF_INET, nt_udp_port(&c->rx), &rx_addr);
  c->tx_port = nt_udp_port(&c->tx);
  ck_assert_int_eq(lure_udp_recv_start(&c->rx, uc_alloc, uc_recv), 0);

  len = (int) sizeof(peer);
  rc = lure_udp_getpeername(&c->tx, (struct sockaddr *) &peer, &len);
  ck_assert_msg(rc == LURE_ENOTCONN, "getpeername unconnected: %s",
                nt_err(rc));
  ck_assert_int_eq(lure_udp_connect(&c->tx, NULL), LURE_ENOTCONN);
  ck_assert_int_eq(lure_udp_connect(&c->tx, (struct sockaddr *) &rx_addr), 0);
  ck_assert_int_eq(lure_udp_connect(&c->tx, (struct sockaddr *) &rx_addr),
                   LURE_EISCONN);
  len = (int) sizeof(peer);
  ck_assert_int_eq(lure_udp_getpeername(&c->tx, (struct sockaddr *) &peer,
                                        &len), 0);
  ck_assert_int_eq(len, (int) sizeof(struct sockaddr_in));
  ck_assert(memcmp(&peer, &rx_addr, sizeof(struct sockaddr_in)) == 0);

  /* Connected: an address is refused, NULL goes to the peer. */
  b = lure_buf_init("with addr", 9);
  ck_assert_int_eq(lure_udp_send(&req, &c->tx, &b, 1,
                                 (struct sockaddr *) &rx_addr, uc_send_cb),
                   LURE_EISCONN);
  ck_assert_int_eq(lure_udp_try_send(&c->tx, &b, 1,
                                     (struct sockaddr *) &rx_addr),
                   LURE_EISCONN);
  b = lure_buf_init("connected send", 14);
  ck_assert_int_eq(lure_udp_send(&req, &c->tx, &b, 1, NULL, uc_send_cb), 0);
  ck_assert_int_eq(c->send_cbs, 0); /* never from inside the call */
  uc_run_until(c, 1);
  b = lure_buf_init("connected try", 13);
  ck_assert_int_eq(lure_udp_try_send(&c->tx, &b, 1, NULL), 13);
  uc_run_until(c, 2);
  ck_assert_int_eq(c->ngot, 2);
  ck_assert_str_eq(c->got[0], "connected send");
  ck_assert_str_eq(c->got[1], "connected try");
  ck_assert_int_eq(c->send_cbs, 1);
  ck_assert_int_eq(c->send_status, 0);

  /* Disconnected: NULL is refused, an address works again. */
  ck_assert_int_eq(lure_udp_connect(&c->tx, NULL), 0);
  len = (int) sizeof(peer);
  rc = lure_udp_getpeername(&c->tx, (struct sockaddr *) &peer, &len);
  ck_assert_msg(rc == LURE_ENOTCONN, "getpeername after disconnect: %s",
                nt_err(rc));
  ck_assert_int_eq(lure_udp_connect(&c->tx, NULL), LURE_ENOTCONN);
  ck_assert_int_eq(lure_udp_send(&req, &c->tx, &b, 1, NULL, uc_send_cb),
                   LURE_EDESTADDRREQ);
  ck_assert_int_eq(lure_udp_try_send(&c->tx, &b, 1, NULL), LURE_EDESTADDRREQ);
  b = lure_buf_init("after disconnect", 16);
  ck_assert_int_eq(lure_udp_send(&req, &c->tx, &b, 1,
                                 (struct sockaddr *) &rx_addr, uc_send_cb), 0);
  /* A socket bound to port 0 loses its port when it is disconnected
   * (Linux's udp_disconnect) and gets another when it sends. */
  c->tx_port = nt_udp_port(&c->tx);
  uc_run_until(c, 3);
  ck_assert_int_eq(c->ngot, 3);
  ck_assert_str_eq(c->got[2], "after disconnect");
  ck_assert_int_eq(c->bad_addr, 0);
  ck_assert_int_eq(c->send_cbs, 2);
  ck_assert_int_eq(c->send_status, 0);
  nt_loop_finish(&c->loop);
  free(c);
}
END_TEST

/* ---- ICMP errors on a connected handle ------------------------------------------- */

struct ur {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_timer_t tick;
  lure_udp_t u;
  lure_udp_send_t req;
  int busy;
  int sends;
  int refused_recv;
  int refused_send;
  int other;
  char rbuf[2048];
};

static void ur_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct ur *r = h->data;

  buf->base = r->rbuf;
  buf->len = sizeof(r->rbuf);
}

static void ur_done(struct ur *r) {
  lure_close((lure_handle_t *) &r->u, NULL);
  lure_close((lure_handle_t *) &r->tick, NULL);
}

static void ur_recv(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  struct ur *r = h->data;

  if (nread == 0 && addr == NULL)
    return;
  if (nread == LURE_ECONNREFUSED) {
    ck_assert_ptr_null(addr);
    if (r->refused_recv++ == 0 && !lure_is_closing((lure_handle_t *) h))
      ur_done(r);
    return;
  }
  r->other++;
}

static void ur_send_cb(lure_udp_send_t *req, int status) {
  struct ur *r = req->handle->data;

  r->busy = 0;
  if (status == LURE_ECONNREFUSED)
    r->refused_send++;
  else if (status != 0 && status != LURE_ECANCELED)
    r->other++;
}

static void ur_tick(lure_timer_t *t) {
  struct ur *r = t->data;
  lure_buf_t b = lure_buf_init("anyone?", 7);

  if (r->refused_send > 0 || r->sends >= 40) {
    ur_done(r);
    return;
  }
  if (r->busy)
    return;
  r->busy = 1;
  r->sends++;
  ck_assert_int_eq(lure_udp_send(&r->req, &r->u, &b, 1, NULL, ur_send_cb), 0);
}

START_TEST(udp_connected_refused) {
  struct ur *r = calloc(1, sizeof(*r));
  struct sockaddr_storage dst;

  nt_loop_init(&r->loop);
  nt_watchdog(&r->loop, &r->wd, NT_WATCHDOG_MS, "ECONNREFUSED on a connected "
              "UDP handle");
  nt_loopback(AF_INET, nt_free_port(AF_INET, SOCK_DGRAM), &dst);
  ck_assert_int_eq(lure_udp_init(&r->loop, &r->u), 0);
  r->u.data = r;
  ck_assert_int_eq(lure_udp_connect(&r->u, (struct sockaddr *) &dst), 0);
  ck_assert_int_eq(lure_udp_recv_start(&r->u, ur_alloc, ur_recv), 0);
  ck_assert_int_eq(lure_timer_init(&r->loop, &r->tick), 0);
  r->tick.data = r;
  ck_assert_int_eq(lure_timer_start(&r->tick, ur_tick, 0, 50), 0);
  nt_run(&r->loop);
  ck_assert_msg(r->refused_recv + r->refused_send > 0,
                "no LURE_ECONNREFUSED after %d datagrams to a closed port",
                r->sends);
  ck_assert_int_eq(r->other, 0);
  nt_loop_finish(&r->loop);
  free(r);
}
END_TEST

/* ---- recv_stop, truncation, empty datagrams, IPv6 ---------------------------------- */

struct us {
  lure_loop_t loop;
  lure_timer_t wd;
  lure_udp_t rx;
  lure_udp_t tx;
  int family;
  int stopped;
  int while_stopped;
  int got;
  int empties;
  int partials;
  ssize_t last_n;
  char last[128];
  size_t alloc_len;
  char rbuf[2048];
};

static void us_alloc(lure_handle_t *h, size_t sz, lure_buf_t *buf) {
  struct us *s = h->data;

  buf->base = s->rbuf;
  buf->len = s->alloc_len;
}

static void us_recv(lure_udp_t *h, ssize_t nread, const lure_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  struct us *s = h->data;

  if (s->stopped) {
    s->while_stopped++;
    return;
  }
  if (addr == NULL)
    return;
  ck_assert_int_eq(addr->sa_family, s->family);
  s->got++;
  s->last_n = nread;
  if (nread == 0)
    s->empties++;
  if (flags & LURE_UDP_PARTIAL)
    s->partials++;
  if (nread > 0 && (size_t) nread < sizeof(s->last)) {
    memcpy(s->last, buf->base, (size_t) nread);
    s->last[nread] = '\0';
  }
}

static void us_until(struct us *s, int got) {
  int i;

  for (i = 0; i < 1000 && s->got < got; i++)
    lure_run(&s->loop, LURE_RUN_ONCE);
}

static void us_one(int family) {
  struct us *s = calloc(1, sizeof(*s));
  struct sockaddr_storage ss;
  struct sockaddr_storage dst;
  lure_buf_t b;
  char msg[24];
  int i;

  s->family = family;
  s->alloc_len = sizeof(s->rbuf);
  nt_loop_init(&s->loop);
  nt_watchdog(&s->loop, &s->wd, NT_WATCHDOG_MS, "UDP recv_stop");
  ck_assert_int_eq(lure_udp_init_ex(&s->loop, &s->rx, (unsigned) family), 0);
  ck_assert_int_eq(lure_udp_init(&s->loop, &s->tx), 0);
  s->rx.data = s;
  nt_loopback(family, 0, &ss);
  ck_assert_int_eq(lure_udp_bind(&s->rx, (struct sockaddr *) &ss,
                                 family == AF_INET6 ? LURE_UDP_IPV6ONLY : 0),
                   0);
  nt_loopback(family, nt_udp_port(&s->rx), &dst);
  ck_assert_int_eq(lure_udp_recv_start(&s->rx, us_alloc, us_recv), 0);

  /* An empty datagram: nread 0 with an address. */
  b = lure_buf_init("", 0);
  ck_assert_int_eq(lure_udp_try_send(&s->tx, &b, 1, (struct sockaddr *) &dst),
                   0);
  us_until(s, 1);
  ck_assert_int_eq(s->empties, 1);

  /* Truncated: a 10-byte buffer for 100 bytes. */
  s->alloc_len = 10;
  b = lure_buf_init((char *) nt_pat(1, 0), 100);
  ck_assert_int_eq(lure_udp_try_send(&s->tx, &b, 1, (struct sockaddr *) &dst),
                   100);
  us_until(s, 2);
  ck_assert_int_eq(s->last_n, 10);
  ck_assert_int_eq(s->partials, 1);
  s->alloc_len = sizeof(s->rbuf);

  /* Stopped: nothing is delivered; the datagrams wait in the socket. */
  ck_assert_int_eq(lure_udp_recv_stop(&s->rx), 0);
  ck_assert_int_eq(lure_udp_recv_stop(&s->rx), 0);
  s->stopped = 1;
  for (i = 0; i < 5; i++) {
    snprintf(msg, sizeof(msg), "held %d", i);
    b = lure_buf_init(msg, (unsigned int) strlen(msg));
    ck_assert_int_gt(lure_udp_try_send(&s->tx, &b, 1,
                                       (struct sockaddr *) &dst), 0);
  }
  nt_run_for(&s->loop, 100);
  ck_assert_int_eq(s->while_stopped, 0);
  s->stopped = 0;
  ck_assert_int_eq(lure_udp_recv_start(&s->rx, us_alloc, us_recv), 0);
  us_until(s, 7);
  ck_assert_int_eq(s->got, 7);
  ck_assert_str_eq(s->last, "held 4");
  nt_loop_finish(&s->loop);
  free(s);
}

START_TEST(udp_recv_stop_partial_empty) {
  us_one(AF_INET);
  if (nt_have_ipv6())
    us_one(AF_INET6);
  else
    printf("udp_recv_stop_partial_empty: no ::1 here, IPv4 only\n");
}
END_TEST

Suite *net_udp_suite(void) {
  Suite *s = suite_create("udp");
  TCase *tc = tcase_create("udp");

  tcase_set_timeout(tc, NT_TCASE_TIMEOUT);
  tcase_add_test(tc, udp_10k_datagrams);
  tcase_add_test(tc, udp_connect_disconnect);
  tcase_add_test(tc, udp_connected_refused);
  tcase_add_test(tc, udp_recv_stop_partial_empty);
  suite_add_tcase(s, tc);
  return s;
}
