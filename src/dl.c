/*
 * dl.c - shared libraries: dlopen(3) and dlsym(3) with the error kept in
 * the lure_lib_t, as libuv's uv_dlopen() family.
 *
 * These four keep libuv's error convention, not lure's: a failure returns
 * -1 and leaves dlerror(3)'s message in lib->errmsg (lure_dlerror() reads
 * it), since the loader has no errno to give.  Only a NULL argument, which
 * libuv does not check, is LURE_EINVAL.
 */
#include <dlfcn.h>
#include <string.h>
#include "internal.h"

/* Take the loader's pending message into lib; -1 if there was one. */
static int lure__dl_take_error(lure_lib_t *lib) {
  const char *msg;

  lure__free(lib->errmsg);
  lib->errmsg = NULL;
  msg = dlerror();
  if (msg == NULL)
    return 0;
  lib->errmsg = lure__strdup(msg);
  return -1;
}

LURE_EXTERN int lure_dlopen(const char *filename, lure_lib_t *lib) {
  if (lib == NULL)
    return LURE_EINVAL;
  (void) dlerror(); /* forget an older message */
  lib->errmsg = NULL;
  lib->handle = dlopen(filename, RTLD_LAZY);
  return lib->handle != NULL ? 0 : lure__dl_take_error(lib);
}

LURE_EXTERN void lure_dlclose(lure_lib_t *lib) {
  if (lib == NULL)
    return;
  lure__free(lib->errmsg);
  lib->errmsg = NULL;
  if (lib->handle != NULL) {
    /* A failing dlclose(3) has nobody to tell: the handle is gone either
     * way. */
    (void) dlclose(lib->handle);
    lib->handle = NULL;
  }
}

LURE_EXTERN int lure_dlsym(lure_lib_t *lib, const char *name, void **ptr) {
  if (lib == NULL || name == NULL || ptr == NULL)
    return LURE_EINVAL;
  (void) dlerror();
  *ptr = dlsym(lib->handle, name);
  /* A symbol may be NULL; only the loader's message says it failed. */
  return *ptr != NULL ? 0 : lure__dl_take_error(lib);
}

LURE_EXTERN const char *lure_dlerror(const lure_lib_t *lib) {
  if (lib == NULL || lib->errmsg == NULL)
    return "no error";
  return lib->errmsg;
}
