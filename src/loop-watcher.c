/*
 * loop-watcher.c - idle, prepare and check handles.
 *
 * The three are the same watcher run at different phases, so they come from
 * one definition.  As in libuv, start puts the handle at the head of its
 * phase's queue, and each phase runs over a snapshot so that callbacks may
 * start or stop watchers (a watcher started during its own phase runs from
 * the next tick on).
 */
#include "internal.h"

#define LURE__LOOP_WATCHER_DEFINE(name, TYPE)                                 \
  LURE_EXTERN int lure_##name##_init(lure_loop_t *loop,                       \
                                     lure_##name##_t *h) {                    \
    if (loop == NULL || loop->priv == NULL || h == NULL)                      \
      return LURE_EINVAL;                                                     \
    lure__handle_init(loop, (lure_handle_t *) h, TYPE);                       \
    h->name##_cb = NULL;                                                      \
    lure__queue_init(&h->queue);                                              \
    return 0;                                                                 \
  }                                                                           \
                                                                              \
  LURE_EXTERN int lure_##name##_start(lure_##name##_t *h,                     \
                                      lure_##name##_cb cb) {                  \
    int rc = lure__handle_check((lure_handle_t *) h, TYPE);                   \
    if (rc != 0)                                                              \
      return rc;                                                              \
    if (cb == NULL)                                                           \
      return LURE_EINVAL;                                                     \
    if (lure__handle_is_active((lure_handle_t *) h))                          \
      return 0;                                                               \
    lure__queue_insert_head(&h->loop->priv->name##_handles, &h->queue);       \
    h->name##_cb = cb;                                                        \
    lure__handle_start((lure_handle_t *) h);                                  \
    return 0;                                                                 \
  }                                                                           \
                                                                              \
  LURE_EXTERN int lure_##name##_stop(lure_##name##_t *h) {                    \
    if (h == NULL || h->type != TYPE || h->loop == NULL)                      \
      return LURE_EINVAL;                                                     \
    if (!lure__handle_is_active((lure_handle_t *) h))                         \
      return 0;                                                               \
    lure__queue_remove(&h->queue);                                            \
    lure__handle_stop((lure_handle_t *) h);                                   \
    return 0;                                                                 \
  }                                                                           \
                                                                              \
  void lure__##name##_close(lure_##name##_t *h) {                             \
    lure_##name##_stop(h);                                                    \
  }                                                                           \
                                                                              \
  void lure__run_##name(lure_loop_t *loop) {                                  \
    struct lure__queue snapshot;                                              \
    struct lure__queue *q;                                                    \
    lure_##name##_t *h;                                                       \
                                                                              \
    lure__queue_move(&loop->priv->name##_handles, &snapshot);                 \
    while (!lure__queue_empty(&snapshot)) {                                   \
      q = lure__queue_head(&snapshot);                                        \
      h = lure__container_of(q, lure_##name##_t, queue);                      \
      lure__queue_remove(q);                                                  \
      lure__queue_insert_tail(&loop->priv->name##_handles, q);                \
      h->name##_cb(h);                                                        \
    }                                                                         \
  }

LURE__LOOP_WATCHER_DEFINE(idle, LURE_IDLE)
LURE__LOOP_WATCHER_DEFINE(prepare, LURE_PREPARE)
LURE__LOOP_WATCHER_DEFINE(check, LURE_CHECK)
