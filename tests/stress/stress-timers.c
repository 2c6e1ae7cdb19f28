/*
 * stress-timers.c - one million timers on one loop: every one fires once,
 * in the exact order of (timeout, start order); the memory each costs is
 * reported.
 */
#include <stdio.h>
#include <stdlib.h>

#include "stress.h"

#define NTIMERS 1000000ul

static lure_timer_t *timers;
static uint32_t *timeouts;
static unsigned long fired, closed;
static long last_index = -1;

static void on_timer(lure_timer_t *t) {
  long i = (long) (t - timers);

  SCHECK(i >= 0 && (unsigned long) i < NTIMERS);
  SCHECK(t->data == NULL); /* fires once */
  t->data = t;
  if (last_index >= 0) {
    uint32_t a = timeouts[last_index], b = timeouts[i];
    if (!(a < b || (a == b && last_index < i)))
      stress_fail(__FILE__, __LINE__,
                  "timer %ld (timeout %u) fired after timer %ld (timeout %u)",
                  i, b, last_index, a);
  }
  last_index = i;
  fired++;
}

static void on_close(lure_handle_t *h) {
  closed++;
}

int stress_timers(void) {
  lure_loop_t loop;
  uint64_t seed = stress_first_seed ^ 0x7131;
  size_t rss0 = 0, rss1 = 0;
  unsigned long i;
  int fds = stress_fd_count();
  double t0 = stress_now(), t1, t2, t3;

  stress_watchdog(120, "1M timers");
  SOK(lure_loop_init(&loop));
  timeouts = malloc(NTIMERS * sizeof(*timeouts));
  SCHECK(timeouts != NULL);
  for (i = 0; i < NTIMERS; i++)
    timeouts[i] = stress_below(&seed, 200); /* 0..199 ms: many ties */
  SOK(lure_resident_set_memory(&rss0));
  timers = calloc(NTIMERS, sizeof(*timers));
  SCHECK(timers != NULL);
  for (i = 0; i < NTIMERS; i++) {
    SOK(lure_timer_init(&loop, &timers[i]));
    SOK(lure_timer_start(&timers[i], on_timer, timeouts[i], 0));
  }
  SOK(lure_resident_set_memory(&rss1));
  t1 = stress_now();
  stress_fig.timer_bytes = (double) (rss1 - rss0) / (double) NTIMERS;
  SOK(lure_run(&loop, LURE_RUN_DEFAULT));
  SCHECK(fired == NTIMERS);
  t2 = stress_now();
  for (i = 0; i < NTIMERS; i++)
    lure_close((lure_handle_t *) &timers[i], on_close);
  SOK(lure_run(&loop, LURE_RUN_DEFAULT));
  SCHECK(closed == NTIMERS);
  t3 = stress_now();
  SOK(lure_loop_close(&loop));
  SCHECK(stress_fd_count() == fds);
  printf("lure-stress: timers: %lu fired in order, %.0f B resident per "
         "timer (sizeof(lure_timer_t) = %zu); start %.2fs, run %.2fs, close "
         "%.2fs\n", fired, stress_fig.timer_bytes, sizeof(lure_timer_t),
         t1 - t0, t2 - t1, t3 - t2);
  stress_fig.timers = fired;
  free(timers);
  free(timeouts);
  return 0;
}
