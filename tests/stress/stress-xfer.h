/* stress-xfer.h - one stream transfer on a loop, both ends on it, checked
 * byte for byte and by checksum (stress-slow.c); the slow reader and the
 * EINTR storm use it. */
#ifndef LURE_STRESS_XFER_H
#define LURE_STRESS_XFER_H

#include "stress.h"

#define XFER_TCP 1
#define XFER_PIPE 2

struct xfer;
/* Sets up the writer (all its writes queued at once, then a shutdown) and
 * the reader (read_stop/read_start toggled when toggle is set). */
struct xfer *stress_transfer_start(lure_loop_t *loop, int kind, size_t bytes,
                                   int toggle, uint64_t id);
/* Checks that everything happened once, adds the counts, frees. */
void stress_transfer_finish(struct xfer *x, unsigned long *reads,
                            unsigned long *stops);

#endif
