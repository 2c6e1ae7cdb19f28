/*
 * timer.c - timers ordered by (due, start_id), on a sorted run and an
 * intrusive min-heap.
 *
 * The key makes timers with equal deadlines fire in the order they were
 * started, as in libuv.  The timers phase runs the timers that were due at
 * the loop's cached time when the phase began, and only those: a timer
 * started (or restarted, even with 0 ms) from a timer callback waits for
 * the next tick instead of starving the rest of the loop.  This is
 * libuv's behaviour since 1.45, which gets it by moving the due timers to
 * a list first; lure gets it in one pass (lure__run_timers), touching
 * each timer once.
 *
 * The run: a timer armed with a due time no earlier than the last one in
 * the run joins the run's end (start_id only grows, so the run stays
 * sorted by the whole key); any other goes into the heap.  The next timer
 * is the lesser of the run's first and the heap's least.  Most programs
 * arm most timers with one duration (a connection's idle timeout, a
 * retry delay, libuv's million_timers), and the loop's time only grows,
 * so those timers arrive in order: starting, stopping and firing one is
 * O(1) in the run where the heap (libuv's only structure) walks
 * O(log n) pointers each time.  Order is the heap's exactly, whichever
 * structure a timer sits in.
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

/* Take an active timer off the run or the heap. */
static void lure__timer_unlink(lure_timer_t *h) {
  struct lure__loop_priv *p = h->loop->priv;
  struct lure__heap_node *n = &h->heap_node;

  if (n->parent != &p->timer_run_mark) {
    lure__heap_remove(&p->timer_heap, n, lure__timer_less);
    return;
  }
  if (n->left != NULL)
    n->left->right = n->right;
  else
    p->timer_run_head = n->right;
  if (n->right != NULL)
    n->right->left = n->left;
  else
    p->timer_run_tail = n->left;
  n->left = n->right = n->parent = NULL;
}

/* Into the run when it keeps the run sorted, else into the heap. */
static void lure__timer_link(struct lure__loop_priv *p, lure_timer_t *h) {
  struct lure__heap_node *n = &h->heap_node;
  struct lure__heap_node *tail = p->timer_run_tail;

  if (tail != NULL &&
      lure__container_of(tail, lure_timer_t, heap_node)->timeout > h->timeout) {
    lure__heap_insert(&p->timer_heap, n, lure__timer_less);
    return;
  }
  n->parent = &p->timer_run_mark;
  n->right = NULL;
  n->left = tail;
  if (tail != NULL)
    tail->right = n;
  else
    p->timer_run_head = n;
  p->timer_run_tail = n;
}

/* The next timer to fire: the lesser of the run's first and the heap's
 * least, or NULL. */
static lure_timer_t *lure__timer_next(const struct lure__loop_priv *p) {
  struct lure__heap_node *r = p->timer_run_head;
  struct lure__heap_node *m = lure__heap_min(&p->timer_heap);

  if (r == NULL && m == NULL)
    return NULL;
  if (m == NULL || (r != NULL && lure__timer_less(r, m)))
    return lure__container_of(r, lure_timer_t, heap_node);
  return lure__container_of(m, lure_timer_t, heap_node);
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
  lure__timer_link(p, h);
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
  const lure_timer_t *t = lure__timer_next(loop->priv);
  uint64_t diff;

  if (t == NULL)
    return -1;
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
 * that was due when the phase began: meeting one first means none of
 * those is left.  A due timer that a callback stops or restarts leaves
 * the run or the heap or gets a new start_id, so it does not fire. */
void lure__run_timers(lure_loop_t *loop) {
  struct lure__loop_priv *p = loop->priv;
  uint64_t now = p->time;
  uint64_t first_new = p->timer_counter;
  lure_timer_t *t;

  while ((t = lure__timer_next(p)) != NULL) {
    if (t->timeout > now || t->start_id >= first_new)
      break;
    lure__timer_unlink(t);
    lure__handle_stop((lure_handle_t *) t);
    if (t->repeat != 0)
      lure__timer_arm(t, t->timer_cb, t->repeat, t->repeat);
    t->timer_cb(t);
  }
}
