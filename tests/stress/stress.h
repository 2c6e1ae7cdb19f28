/* stress.h - what the cases of lure-stress share (tests/stress/). */
#ifndef LURE_STRESS_H
#define LURE_STRESS_H

#include <stddef.h>
#include <stdint.h>
#include "lure.h"

/* A failed check prints the case, the seed (when the case is seeded), the
 * place and the condition, then ends the process with status 1. */
#define SCHECK(cond)                                                          \
  do {                                                                        \
    if (!(cond))                                                              \
      stress_fail(__FILE__, __LINE__, "%s", #cond);                           \
  } while (0)
/* A lure call that must return 0 (or >= 0). */
#define SOK(call)                                                             \
  do {                                                                        \
    long stress_rc_ = (long) (call);                                          \
    if (stress_rc_ < 0)                                                       \
      stress_fail(__FILE__, __LINE__, "%s: %s", #call,                        \
                  lure_err_name((int) stress_rc_));                           \
  } while (0)

void stress_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* The case running and its seed (0: not seeded), for failure messages. */
extern const char *stress_case_name;
extern uint64_t stress_seed;
extern int stress_seeded;

/* A watchdog thread ends the process (status 1) with a message naming the
 * case and seed when the armed deadline passes: a hang is a failure, never
 * a stuck CI job.  Arm again to move the deadline; 0 disarms. */
void stress_watchdog(unsigned seconds, const char *what);
/* Set by a case: prints its state when the watchdog fires. */
extern void (*stress_dump)(void);

/* Descriptors open in this process (entries of /proc/self/fd). */
int stress_fd_count(void);

/* Seeded generator (splitmix64). */
uint64_t stress_rand(uint64_t *state);
static inline unsigned stress_below(uint64_t *state, unsigned n) {
  return n ? (unsigned) (stress_rand(state) % n) : 0;
}

/* The byte at offset off of stream number id: data that a resend, a loss
 * or a reordering cannot reproduce. */
static inline unsigned char stress_byte(uint64_t id, uint64_t off) {
  uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull ^ (id * 0xBF58476D1CE4E5B9ull);
  return (unsigned char) (x >> 29 ^ x >> 47);
}
void stress_fill(unsigned char *p, size_t n, uint64_t id, uint64_t off);
/* Index of the first byte of p that is not stress_byte(id, off + i), or
 * n when all match. */
size_t stress_verify(const unsigned char *p, size_t n, uint64_t id,
                     uint64_t off);

/* A running checksum (FNV-1a, 64 bits). */
uint64_t stress_sum(uint64_t h, const void *p, size_t n);
#define STRESS_SUM_INIT 0xcbf29ce484222325ull

double stress_now(void);
/* A loopback TCP address with port 0, for bind. */
void stress_any_port(struct sockaddr_in *addr);
/* The bound address of a TCP handle. */
void stress_tcp_addr(lure_tcp_t *t, struct sockaddr_in *addr);

/* Figures for the summary line, filled by the cases. */
struct stress_figures {
  int handoff_cases;
  int fork_cases;
  unsigned storm_seeds;
  uint64_t storm_first_seed;
  unsigned long storm_handles, storm_callbacks;
  unsigned conns;
  unsigned conns_wanted;
  unsigned long timers;
  double timer_bytes;
  unsigned long fs_buffered, fs_direct;
  char fs_direct_note[256];
  unsigned long eintr_signals;
  unsigned long eintr_bytes;
  unsigned long slow_bytes, slow_stops;
};
extern struct stress_figures stress_fig;
extern unsigned stress_nseeds;
extern uint64_t stress_first_seed;

int stress_handoff(void);
int stress_fork(void);
int stress_storm(void);
int stress_conns(void);
int stress_timers(void);
int stress_fs(void);
int stress_eintr(void);
int stress_slow(void);

#endif
