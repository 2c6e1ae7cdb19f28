/*
 * timer.c - timers on an intrusive min-heap keyed (due, start_id).
 *
 * The key makes timers with equal deadlines fire in the order they were
 * started, as in libuv.  The timers phase runs the timers that were due at
 * the loop's cached time when the phase began, and only those: a timer
 * started (or restarted, even with 0 ms) from a timer callback waits for
 * the next tick instead of starving the rest of the loop.  This is
 * libuv's behaviour since 1.45, which gets it by moving the due timers to
 * a list first; lure gets it in one pass over the heap (lure__run_timers),
 * touching each timer once.
 */
#include <limits.h>
#include "internal.h"

static int lure__timer_less(const struct lure__heap_node *a,
                            const struct lure__heap_node *b) {
  const lure_timer_t *ta = lure__container_of(a, lure_timer_t, heap_node);
  const lure_timer_t *tb = lure__container_of(b, lure_timer_t, heap_node);

  if (ta->timeout != tb->timeout)
    return ta->timeout < tb->timeout;
  return ta->start_id < tb->start_id;
}

LURE_EXTERN int lure_timer_init(lure_loop_t *loop, lure_timer_t *h) {
  if (loop == NULL || loop->priv == NULL || h == NULL)
    return LURE_EINVAL;
  lure__handle_init(loop, (lure_handle_t *) h, LURE_TIMER);
  h->timer_cb = NULL;
  h->timeout = 0;
  h->repeat = 0;
  h->start_id = 0;
  return 0;
}

/* Take an active timer off the heap. */
static void lure__timer_unlink(lure_timer_t *h) {
  lure__heap_remove(&h->loop->priv->timer_heap, &h->heap_node,
                    lure__timer_less);
}

static void lure__timer_arm(lure_timer_t *h, lure_timer_cb cb,
                            uint64_t timeout, uint64_t repeat) {
  struct lure__loop_priv *p = h->loop->priv;
  uint64_t due = p->time + timeout;

  if (due < p->time)
    due = UINT64_MAX; /* saturate instead of wrapping into the past */
  h->timer_cb = cb;
  h->timeout = due;
  h->repeat = repeat;
  h->start_id = p->timer_counter++;
  lure__heap_insert(&p->timer_heap, &h->heap_node, lure__timer_less);
  lure__handle_start((lure_handle_t *) h);
}

LURE_EXTERN int lure_timer_start(lure_timer_t *h, lure_timer_cb cb,
                                 uint64_t timeout, uint64_t repeat) {
  int rc = lure__handle_check((lure_handle_t *) h, LURE_TIMER);

  if (rc != 0)
    return rc;
  if (cb == NULL)
    return LURE_EINVAL;
  if (lure__handle_is_active((lure_handle_t *) h)) {
    lure__timer_unlink(h);
    lure__handle_stop((lure_handle_t *) h);
  }
  lure__timer_arm(h, cb, timeout, repeat);
  return 0;
}

LURE_EXTERN int lure_timer_stop(lure_timer_t *h) {
  if (h == NULL || h->type != LURE_TIMER || h->loop == NULL)
    return LURE_EINVAL;
  if (!lure__handle_is_active((lure_handle_t *) h))
    return 0;
  lure__timer_unlink(h);
  lure__handle_stop((lure_handle_t *) h);
  return 0;
}

LURE_EXTERN int lure_timer_again(lure_timer_t *h) {
  int rc = lure__handle_check((lure_handle_t *) h, LURE_TIMER);

  if (rc != 0)
    return rc;
  if (h->timer_cb == NULL)
    return LURE_EINVAL;
  if (h->repeat != 0) {
    lure_timer_stop(h);
    lure__timer_arm(h, h->timer_cb, h->repeat, h->repeat);
  }
  return 0;
}

LURE_EXTERN void lure_timer_set_repeat(lure_timer_t *h, uint64_t repeat) {
  if (h != NULL && h->type == LURE_TIMER)
    h->repeat = repeat;
}

LURE_EXTERN uint64_t lure_timer_get_repeat(const lure_timer_t *h) {
  return (h != NULL && h->type == LURE_TIMER) ? h->repeat : 0;
}

LURE_EXTERN uint64_t lure_timer_get_due_in(const lure_timer_t *h) {
  if (h == NULL || h->type != LURE_TIMER || h->loop == NULL ||
      h->loop->priv == NULL || !lure__handle_is_active((const lure_handle_t *) h))
    return 0;
  if (h->loop->priv->time >= h->timeout)
    return 0;
  return h->timeout - h->loop->priv->time;
}

void lure__timer_close(lure_timer_t *h) {
  lure_timer_stop(h);
}

/* Milliseconds until the nearest timer, 0 if one is due, -1 if none. */
int lure__next_timeout(const lure_loop_t *loop) {
  const struct lure__heap_node *n = lure__heap_min(&loop->priv->timer_heap);
  const lure_timer_t *t;
  uint64_t diff;

  if (n == NULL)
    return -1;
  t = lure__container_of(n, lure_timer_t, heap_node);
  if (t->timeout <= loop->priv->time)
    return 0;
  diff = t->timeout - loop->priv->time;
  return diff > INT_MAX ? INT_MAX : (int) diff;
}

/* The timers phase: the timers due at `now`, the loop's time as the phase
 * begins, in (due, start_id) order, and no others.  A timer armed during
 * the phase (started or restarted by a callback, or a repeat re-armed
 * here) takes a start_id of at least `first_new` and a due time of at
 * least `now` (the loop's time only grows), so it sorts after every timer
 * that was due when the phase began: meeting one at the top of the heap
 * means none of those is left.  A due timer that a callback stops or
 * restarts leaves the heap or gets a new start_id, so it does not fire. */
void lure__run_timers(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;
  uint64_t now = p->time;
  uint64_t first_new = p->timer_counter;
  struct lure__heap_node *n;
  lure_timer_t *t;

  while ((n = lure__heap_min(&p->timer_heap)) != NULL) {
    t = lure__container_of(n, lure_timer_t, heap_node);
    if (t->timeout > now || t->start_id >= first_new)
      break;
    lure__heap_remove(&p->timer_heap, n, lure__timer_less);
    lure__handle_stop((lure_handle_t *) t);
    if (t->repeat != 0)
      lure__timer_arm(t, t->timer_cb, t->repeat, t->repeat);
    t->timer_cb(t);
  }
}
