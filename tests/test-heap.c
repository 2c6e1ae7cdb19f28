/*
 * test-heap.c - the timer heap (src/heap.h) alone, against a reference.
 *
 * Random insert/remove/dequeue operations run on the heap and on a sorted
 * array side by side; after every operation the heap's minimum and size
 * must match the reference, and from time to time the whole tree is checked
 * against the three invariants heap.h states (shape, order, links).  Keys
 * come from a small range so that ties are frequent; ties are broken by an
 * id, as timers break them by start order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "heap.h"
#include "harness.h"

#define container_of(p, type, field) \
  ((type *) ((char *) (p) - offsetof(type, field)))

struct item {
  struct lure__heap_node node;
  unsigned key;
  unsigned id;
  int in_heap;
};

static int item_less(const struct lure__heap_node *a,
                     const struct lure__heap_node *b) {
  const struct item *x = container_of(a, struct item, node);
  const struct item *y = container_of(b, struct item, node);

  if (x->key != y->key)
    return x->key < y->key;
  return x->id < y->id;
}

static int item_cmp(const struct item *x, const struct item *y) {
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  if (x->id != y->id)
    return x->id < y->id ? -1 : 1;
  return 0;
}

/* xorshift64*: a fixed, portable sequence for a given seed. */
static uint64_t rng_state;

static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}

/* The reference: pointers to the items in the heap, sorted by (key, id). */
struct ref {
  struct item **v;
  unsigned n;
};

static unsigned ref_find(const struct ref *r, const struct item *it) {
  unsigned lo = 0;
  unsigned hi = r->n;

  while (lo < hi) {
    unsigned mid = lo + (hi - lo) / 2;

    if (item_cmp(r->v[mid], it) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static void ref_insert(struct ref *r, struct item *it) {
  unsigned i = ref_find(r, it);

  memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof(r->v[0]));
  r->v[i] = it;
  r->n++;
}

static void ref_remove(struct ref *r, struct item *it) {
  unsigned i = ref_find(r, it);

  ck_assert_uint_lt(i, r->n);
  ck_assert_ptr_eq(r->v[i], it);
  memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(r->v[0]));
  r->n--;
}

/* Check the subtree at n; returns its node count.  depth is n's depth. */
static unsigned check_subtree(const struct lure__heap_node *n,
                              const struct lure__heap_node *parent,
                              unsigned depth, unsigned *max_depth) {
  unsigned count = 1;

  ck_assert_ptr_eq(n->parent, parent);
  if (parent != NULL)
    ck_assert_msg(!item_less(n, parent), "order: a node is less than its parent");
  if (depth > *max_depth)
    *max_depth = depth;
  /* A complete tree never has a right child without a left one. */
  if (n->right != NULL)
    ck_assert_ptr_nonnull(n->left);
  if (n->left != NULL)
    count += check_subtree(n->left, n, depth + 1, max_depth);
  if (n->right != NULL)
    count += check_subtree(n->right, n, depth + 1, max_depth);
  return count;
}

static void check_heap(const struct lure__heap *h) {
  unsigned max_depth = 0;
  unsigned count;
  unsigned expect_depth = 0;
  unsigned n;

  if (h->nelts == 0) {
    ck_assert_ptr_null(h->min);
    return;
  }
  ck_assert_ptr_nonnull(h->min);
  count = check_subtree(h->min, NULL, 0, &max_depth);
  ck_assert_uint_eq(count, h->nelts);
  /* Shape: nelts nodes in a complete tree have depth floor(log2(nelts)). */
  for (n = h->nelts; n > 1; n >>= 1)
    expect_depth++;
  ck_assert_uint_eq(max_depth, expect_depth);
}

static void check_min(const struct lure__heap *h, const struct ref *r) {
  ck_assert_uint_eq(h->nelts, r->n);
  if (r->n == 0)
    ck_assert_ptr_null(lure__heap_min(h));
  else
    ck_assert_ptr_eq(lure__heap_min(h), &r->v[0]->node);
}

START_TEST(heap_empty) {
  struct lure__heap h;
  struct item a;

  lure__heap_init(&h);
  ck_assert_ptr_null(lure__heap_min(&h));
  ck_assert_uint_eq(h.nelts, 0);
  /* Dequeue and remove on an empty heap do nothing. */
  lure__heap_dequeue(&h, item_less);
  ck_assert_uint_eq(h.nelts, 0);

  memset(&a, 0, sizeof(a));
  a.key = 7;
  lure__heap_insert(&h, &a.node, item_less);
  ck_assert_ptr_eq(lure__heap_min(&h), &a.node);
  ck_assert_uint_eq(h.nelts, 1);
  check_heap(&h);
  lure__heap_remove(&h, &a.node, item_less);
  ck_assert_ptr_null(lure__heap_min(&h));
  ck_assert_uint_eq(h.nelts, 0);
}
END_TEST

/* Ascending, descending and all-equal insertions all come out sorted. */
START_TEST(heap_sort_patterns) {
  enum { N = 1000 };
  struct lure__heap h;
  struct item *items = calloc(N, sizeof(*items));
  unsigned pattern;
  unsigned i;

  ck_assert_ptr_nonnull(items);
  for (pattern = 0; pattern < 3; pattern++) {
    lure__heap_init(&h);
    for (i = 0; i < N; i++) {
      items[i].id = i;
      items[i].key = pattern == 0 ? i : pattern == 1 ? N - i : 5;
      lure__heap_insert(&h, &items[i].node, item_less);
    }
    check_heap(&h);
    for (i = 0; i < N; i++) {
      struct item *m = container_of(lure__heap_min(&h), struct item, node);
      unsigned want = pattern == 1 ? N - 1 - i : i;

      /* Equal keys come out in id (insertion) order. */
      ck_assert_uint_eq(m->id, want);
      lure__heap_dequeue(&h, item_less);
    }
    ck_assert_uint_eq(h.nelts, 0);
    ck_assert_ptr_null(lure__heap_min(&h));
  }
  free(items);
}
END_TEST

/* Removing nodes from every position of a small heap keeps it valid. */
START_TEST(heap_remove_each_position) {
  enum { N = 33 };
  struct lure__heap h;
  struct item items[N];
  unsigned victim;
  unsigned i;

  for (victim = 0; victim < N; victim++) {
    struct ref r;
    struct item *v[N];

    r.v = v;
    r.n = 0;
    lure__heap_init(&h);
    memset(items, 0, sizeof(items));
    for (i = 0; i < N; i++) {
      items[i].id = i;
      items[i].key = (i * 7) % 11;
      lure__heap_insert(&h, &items[i].node, item_less);
      ref_insert(&r, &items[i]);
    }
    lure__heap_remove(&h, &items[victim].node, item_less);
    ref_remove(&r, &items[victim]);
    check_heap(&h);
    check_min(&h, &r);
    while (r.n > 0) {
      lure__heap_dequeue(&h, item_less);
      ref_remove(&r, r.v[0]);
      check_heap(&h);
      check_min(&h, &r);
    }
  }
}
END_TEST

static void random_ops(uint64_t seed, unsigned nops, unsigned nitems,
                       unsigned key_range) {
  struct lure__heap h;
  struct item *items = calloc(nitems, sizeof(*items));
  struct item **in = calloc(nitems, sizeof(*in)); /* items in the heap */
  struct item **out = calloc(nitems, sizeof(*out)); /* items not in it */
  struct ref r;
  unsigned nin = 0;
  unsigned nout = nitems;
  unsigned next_id = 0;
  unsigned op;
  unsigned i;

  ck_assert_ptr_nonnull(items);
  ck_assert_ptr_nonnull(in);
  ck_assert_ptr_nonnull(out);
  r.v = calloc(nitems, sizeof(*r.v));
  ck_assert_ptr_nonnull(r.v);
  r.n = 0;
  for (i = 0; i < nitems; i++)
    out[i] = &items[i];
  rng_state = seed;
  lure__heap_init(&h);

  for (op = 0; op < nops; op++) {
    unsigned dice = (unsigned) (rng() % 100);
    struct item *it;

    if (nin == 0 || (nout > 0 && dice < 50)) {
      /* Insert a random free item with a fresh id. */
      i = (unsigned) (rng() % nout);
      it = out[i];
      out[i] = out[--nout];
      it->key = (unsigned) (rng() % key_range);
      it->id = next_id++;
      it->in_heap = 1;
      in[nin++] = it;
      lure__heap_insert(&h, &it->node, item_less);
      ref_insert(&r, it);
    } else if (dice < 80) {
      /* Remove a random item, wherever it sits in the tree. */
      i = (unsigned) (rng() % nin);
      it = in[i];
      in[i] = in[--nin];
      it->in_heap = 0;
      out[nout++] = it;
      lure__heap_remove(&h, &it->node, item_less);
      ref_remove(&r, it);
    } else {
      /* Dequeue the minimum. */
      it = r.v[0];
      ck_assert_ptr_eq(lure__heap_min(&h), &it->node);
      lure__heap_dequeue(&h, item_less);
      ref_remove(&r, it);
      for (i = 0; i < nin; i++)
        if (in[i] == it)
          break;
      ck_assert_uint_lt(i, nin);
      in[i] = in[--nin];
      it->in_heap = 0;
      out[nout++] = it;
    }
    if (h.nelts != r.n ||
        (r.n > 0 && lure__heap_min(&h) != &r.v[0]->node) ||
        (r.n == 0 && lure__heap_min(&h) != NULL))
      ck_abort_msg("seed %llu: op %u: heap min/size differ from the reference",
                   (unsigned long long) seed, op);
    if (op % 997 == 0)
      check_heap(&h);
  }
  check_heap(&h);
  /* Drain: what is left comes out in reference order. */
  while (r.n > 0) {
    ck_assert_ptr_eq(lure__heap_min(&h), &r.v[0]->node);
    lure__heap_dequeue(&h, item_less);
    ref_remove(&r, r.v[0]);
  }
  ck_assert_uint_eq(h.nelts, 0);
  free(r.v);
  free(out);
  free(in);
  free(items);
}

START_TEST(heap_random_small) {
  /* Small heaps hit the root and the last-slot cases often. */
  random_ops(0x1234567ull + (uint64_t) _i, 20000, 8, 4);
}
END_TEST

START_TEST(heap_random_large) {
  random_ops(0x9e3779b97f4a7c15ull, 100000, 2000, 100);
}
END_TEST

LT_SUITE(heap) {
  Suite *s = suite_create("heap");
  TCase *tc = lt_tcase("heap", 60);

  tcase_add_test(tc, heap_empty);
  tcase_add_test(tc, heap_sort_patterns);
  tcase_add_test(tc, heap_remove_each_position);
  tcase_add_loop_test(tc, heap_random_small, 0, 4);
  tcase_add_test(tc, heap_random_large);
  suite_add_tcase(s, tc);
  return s;
}
