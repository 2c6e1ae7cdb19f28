/*
 * heap.h - an intrusive binary min-heap, used for timers.
 *
 * Invariants:
 *   1. Shape: the heap is a complete binary tree of nelts nodes.  Node
 *      number i (1-based, breadth first) has children 2i and 2i+1, so the
 *      binary digits of i below the leading 1 spell the path from the root
 *      (0 = left, 1 = right).  Insertion fills slot nelts+1; removal moves
 *      the node in slot nelts into the hole.
 *   2. Order: no node is less than its parent, so h->min is a least node.
 *   3. Links: every node's parent/left/right agree with its neighbours';
 *      the root's parent is NULL.
 *
 * The nodes live inside their owners (struct lure_timer_s embeds one), so
 * the heap never allocates and insert/remove are O(log n) pointer swaps.
 * Ties are the caller's business: the "less" function must be a strict
 * total order (timers compare (due, start_id)) for equal deadlines to come
 * out in a defined order.
 */
#ifndef LURE_HEAP_H
#define LURE_HEAP_H

#include <stddef.h>
#include "lure.h"

struct lure__heap {
  struct lure__heap_node *min;
  unsigned int nelts;
};

typedef int (*lure__heap_less_fn)(const struct lure__heap_node *a,
                                  const struct lure__heap_node *b);

static inline void lure__heap_init(struct lure__heap *h) {
  h->min = NULL;
  h->nelts = 0;
}

static inline struct lure__heap_node *lure__heap_min(const struct lure__heap *h) {
  return h->min;
}

/* Exchange parent p with its child c in the tree (links, not payloads). */
static inline void lure__heap_swap(struct lure__heap *h,
                                   struct lure__heap_node *p,
                                   struct lure__heap_node *c) {
  struct lure__heap_node *sibling;
  struct lure__heap_node t;

  t = *p;
  *p = *c;
  *c = t;
  /* c now carries p's old links (one child slot pointing at c itself), and
   * p carries c's old links (its parent slot pointing at p itself). */
  p->parent = c;
  if (c->left == c) {
    c->left = p;
    sibling = c->right;
  } else {
    c->right = p;
    sibling = c->left;
  }
  if (sibling != NULL)
    sibling->parent = c;
  if (p->left != NULL)
    p->left->parent = p;
  if (p->right != NULL)
    p->right->parent = p;
  if (c->parent == NULL)
    h->min = c;
  else if (c->parent->left == p)
    c->parent->left = c;
  else
    c->parent->right = c;
}

/* Slot pointer of node number n (1-based); every slot on the way exists. */
static inline struct lure__heap_node **lure__heap_slot(struct lure__heap *h,
                                                       unsigned int n,
                                                       struct lure__heap_node **parent) {
  struct lure__heap_node **slot = &h->min;
  unsigned int path = 0;
  unsigned int depth = 0;

  *parent = NULL;
  for (; n >= 2; n >>= 1, depth++)
    path = (path << 1) | (n & 1);
  while (depth-- > 0) {
    *parent = *slot;
    slot = (path & 1) ? &(*slot)->right : &(*slot)->left;
    path >>= 1;
  }
  return slot;
}

static inline void lure__heap_insert(struct lure__heap *h,
                                     struct lure__heap_node *node,
                                     lure__heap_less_fn less) {
  struct lure__heap_node *parent;
  struct lure__heap_node **slot;

  node->left = NULL;
  node->right = NULL;
  slot = lure__heap_slot(h, h->nelts + 1, &parent);
  node->parent = parent;
  *slot = node;
  h->nelts++;
  while (node->parent != NULL && less(node, node->parent))
    lure__heap_swap(h, node->parent, node);
}

static inline void lure__heap_remove(struct lure__heap *h,
                                     struct lure__heap_node *node,
                                     lure__heap_less_fn less) {
  struct lure__heap_node *last;
  struct lure__heap_node *parent;
  struct lure__heap_node **slot;
  struct lure__heap_node *smallest;

  if (h->nelts == 0)
    return;
  slot = lure__heap_slot(h, h->nelts, &parent);
  last = *slot;
  *slot = NULL;
  h->nelts--;
  if (last == node)
    return; /* the last slot itself; unlinked above */

  /* Put the last node into the hole left by node. */
  last->left = node->left;
  last->right = node->right;
  last->parent = node->parent;
  if (last->left != NULL)
    last->left->parent = last;
  if (last->right != NULL)
    last->right->parent = last;
  if (node->parent == NULL)
    h->min = last;
  else if (node->parent->left == node)
    node->parent->left = last;
  else
    node->parent->right = last;

  /* It may belong lower... */
  for (;;) {
    smallest = last;
    if (last->left != NULL && less(last->left, smallest))
      smallest = last->left;
    if (last->right != NULL && less(last->right, smallest))
      smallest = last->right;
    if (smallest == last)
      break;
    lure__heap_swap(h, last, smallest);
  }
  /* ...or higher. */
  while (last->parent != NULL && less(last, last->parent))
    lure__heap_swap(h, last->parent, last);
}

static inline void lure__heap_dequeue(struct lure__heap *h,
                                      lure__heap_less_fn less) {
  lure__heap_remove(h, h->min, less);
}

#endif /* LURE_HEAP_H */
