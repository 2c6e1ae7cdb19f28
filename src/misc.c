/*
 * misc.c - loops on the heap, and the accessors of loops and requests.
 *
 * libuv has these for bindings that cannot see struct fields (FFI, other
 * languages) and for programs that size structures at run time; lure keeps
 * the same calls so that the uv.h layer maps them by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include "internal.h"

LURE_EXTERN lure_loop_t *lure_loop_new(void) {
  lure_loop_t *loop;

  /* calloc, not malloc: lure_loop_init() leaves loop->data alone, and a
   * new loop's data should read NULL, not heap garbage. */
  loop = lure__calloc(1, sizeof(*loop));
  if (loop == NULL)
    return NULL;
  if (lure_loop_init(loop) != 0) {
    lure__free(loop);
    return NULL;
  }
  return loop;
}

LURE_EXTERN void lure_loop_delete(lure_loop_t *loop) {
  int is_default;
  int err;

  if (loop == NULL)
    return;
  /* The default loop lives in static storage: close it, never free it.
   * Ask before closing, which forgets that it was the default. */
  is_default = lure__loop_is_default(loop);
  err = lure_loop_close(loop);
  if (err != 0) {
    /* libuv asserts here.  Freeing a loop that still has handles would
     * leave them pointing into freed memory, and returning quietly would
     * leak a live ring; neither is better than stopping at the bug. */
    fprintf(stderr, "lure: lure_loop_delete: lure_loop_close: %s\n",
            lure_strerror(err));
    abort();
  }
  if (!is_default)
    lure__free(loop);
}

LURE_EXTERN size_t lure_loop_size(void) {
  return sizeof(lure_loop_t);
}

LURE_EXTERN void *lure_loop_get_data(const lure_loop_t *loop) {
  return loop == NULL ? NULL : loop->data;
}

LURE_EXTERN void lure_loop_set_data(lure_loop_t *loop, void *data) {
  if (loop != NULL)
    loop->data = data;
}

LURE_EXTERN void *lure_req_get_data(const lure_req_t *req) {
  return req == NULL ? NULL : req->data;
}

LURE_EXTERN void lure_req_set_data(lure_req_t *req, void *data) {
  if (req != NULL)
    req->data = data;
}

LURE_EXTERN lure_req_type lure_req_get_type(const lure_req_t *req) {
  return req == NULL ? LURE_UNKNOWN_REQ : req->type;
}
