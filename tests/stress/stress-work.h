/* stress-work.h - a batch of mixed work on one loop (a timer, fs reads, a
 * TCP connect with an echo, thread-pool work), for the hand-off and fork
 * cases: set up on a loop, run (anywhere), then checked. */
#ifndef LURE_STRESS_WORK_H
#define LURE_STRESS_WORK_H

#include "stress.h"

struct work_batch;
/* nfs: fs reads queued at once (more than 256 overflows a 256-entry SQ). */
struct work_batch *work_batch_start(lure_loop_t *loop, unsigned nfs);
/* Everything called back once, with the right results; frees the batch. */
void work_batch_check(struct work_batch *b);
/* True when every callback of the batch came (for loops run step by step). */
int work_batch_done(const struct work_batch *b);

#endif
