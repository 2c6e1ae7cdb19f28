/*
 * queue.h - intrusive circular doubly linked lists.
 *
 * A list head is a struct lure__queue whose next and prev point to itself
 * when empty.  Elements embed a struct lure__queue and are recovered with
 * lure__container_of().  Nothing here allocates.
 */
#ifndef LURE_QUEUE_H
#define LURE_QUEUE_H

#include <stddef.h>
#include "lure.h"

#define lure__container_of(ptr, type, member) \
  ((type *) ((char *) (ptr) - offsetof(type, member)))

static inline void lure__queue_init(struct lure__queue *q) {
  q->next = q;
  q->prev = q;
}

static inline int lure__queue_empty(const struct lure__queue *q) {
  return q == q->next;
}

static inline struct lure__queue *lure__queue_head(const struct lure__queue *q) {
  return q->next;
}

static inline void lure__queue_insert_tail(struct lure__queue *h,
                                           struct lure__queue *q) {
  q->next = h;
  q->prev = h->prev;
  q->prev->next = q;
  h->prev = q;
}

static inline void lure__queue_insert_head(struct lure__queue *h,
                                           struct lure__queue *q) {
  q->next = h->next;
  q->prev = h;
  q->next->prev = q;
  h->next = q;
}

static inline void lure__queue_remove(struct lure__queue *q) {
  q->prev->next = q->next;
  q->next->prev = q->prev;
  q->next = q;
  q->prev = q;
}

/* Take every element off h, each left linked to itself (safe to remove
 * again); h becomes empty. */
static inline void lure__queue_unlink_all(struct lure__queue *h) {
  while (!lure__queue_empty(h))
    lure__queue_remove(lure__queue_head(h));
}

/* Move every element of h onto n (which must be empty or uninitialised);
 * h becomes empty. */
static inline void lure__queue_move(struct lure__queue *h,
                                    struct lure__queue *n) {
  if (lure__queue_empty(h)) {
    lure__queue_init(n);
    return;
  }
  n->next = h->next;
  n->prev = h->prev;
  n->next->prev = n;
  n->prev->next = n;
  lure__queue_init(h);
}

#define lure__queue_foreach(q, h) \
  for ((q) = (h)->next; (q) != (h); (q) = (q)->next)

#endif /* LURE_QUEUE_H */
