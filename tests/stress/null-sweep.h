/* null-sweep.h - the NULL sweep's table (generated: null-sweep-gen.c, by
 * tests/gen-null-sweep.sh) and what its generated calls use. */
#ifndef NULL_SWEEP_H
#define NULL_SWEEP_H

#include <stddef.h>
#include "lure.h"

#define SW_INT 1 /* returns int: a negative errno is expected for bad input */
#define SW_PTR 2 /* takes at least one pointer (NULL in variant 0) */

struct sw_fn {
  const char *name;
  long (*call)(int variant);
  unsigned flags;
};

extern const struct sw_fn sw_fns[];
extern const unsigned sw_nfns;

/* Variant 1: the live loop of this child, and zero-filled memory for the
 * data pointer at argument position i. */
extern lure_loop_t *sw_loop;
void *sw_zero(int i);

#endif
