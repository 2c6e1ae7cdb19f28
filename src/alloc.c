/*
 * alloc.c - the allocator behind lure's own allocations.
 *
 * Every block lure allocates and frees itself goes through lure__malloc()
 * and friends, so that lure_replace_allocator() (libuv's
 * uv_replace_allocator) can route them elsewhere.  Memory the C library
 * allocates for lure (scandir(3) entries, getaddrinfo(3) results) still
 * goes back to the C library.  Replace the allocator before lure allocates
 * anything (before the first loop): a block is always given back to the
 * allocator that made it only if the allocator is not replaced while
 * blocks are out.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static struct {
  lure_malloc_func malloc_fn;
  lure_realloc_func realloc_fn;
  lure_calloc_func calloc_fn;
  lure_free_func free_fn;
} lure__allocator = { malloc, realloc, calloc, free };

LURE_EXTERN int lure_replace_allocator(lure_malloc_func malloc_func,
                                       lure_realloc_func realloc_func,
                                       lure_calloc_func calloc_func,
                                       lure_free_func free_func) {
  if (malloc_func == NULL || realloc_func == NULL || calloc_func == NULL ||
      free_func == NULL)
    return LURE_EINVAL;
  lure__allocator.malloc_fn = malloc_func;
  lure__allocator.realloc_fn = realloc_func;
  lure__allocator.calloc_fn = calloc_func;
  lure__allocator.free_fn = free_func;
  return 0;
}

void *lure__malloc(size_t size) {
  return lure__allocator.malloc_fn(size);
}

void *lure__calloc(size_t count, size_t size) {
  return lure__allocator.calloc_fn(count, size);
}

void *lure__realloc(void *ptr, size_t size) {
  return lure__allocator.realloc_fn(ptr, size);
}

/* errno survives, as with libuv's: callers free on their error paths,
 * after errno was read or before it is. */
void lure__free(void *ptr) {
  int saved;

  if (ptr == NULL)
    return;
  saved = errno;
  lure__allocator.free_fn(ptr);
  errno = saved;
}

char *lure__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = lure__malloc(n);

  if (p != NULL)
    memcpy(p, s, n);
  return p;
}

char *lure__strndup(const char *s, size_t max) {
  size_t n = strnlen(s, max);
  char *p = lure__malloc(n + 1);

  if (p != NULL) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}
