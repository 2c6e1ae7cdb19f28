/*
 * debug.c - lure_print_all_handles() and lure_print_active_handles(), and
 * the Windows descriptor conversions that are identities on Linux.
 */
#include <stdio.h>
#include "internal.h"

/* One line per handle, in libuv's format: three flag columns
 * (R referenced, A active, I internal; '-' when not), the type name
 * padded to 8 columns, the address. */
static void lure__print_handles(lure_loop_t *loop, FILE *stream,
                                int only_active) {
  struct lure__queue *q;
  const lure_handle_t *h;
  const char *type;

  if (loop == NULL)
    loop = lure_default_loop();
  if (loop == NULL || loop->priv == NULL)
    return;
  if (stream == NULL)
    stream = stderr;
  lure__queue_foreach(q, &loop->priv->handle_queue) {
    h = lure__container_of(q, const lure_handle_t, handle_queue);
    if (only_active && !lure__handle_is_active(h))
      continue;
    type = h->type == LURE_FILE ? NULL : lure_handle_type_name(h->type);
    fprintf(stream, "[%c%c%c] %-8s %p\n",
            (h->flags & LURE__HANDLE_REF) ? 'R' : '-',
            (h->flags & LURE__HANDLE_ACTIVE) ? 'A' : '-',
            (h->flags & LURE__HANDLE_INTERNAL) ? 'I' : '-',
            type != NULL ? type : "<unknown>", (const void *) h);
  }
}

LURE_EXTERN void lure_print_all_handles(lure_loop_t *loop, FILE *stream) {
  lure__print_handles(loop, stream, 0);
}

LURE_EXTERN void lure_print_active_handles(lure_loop_t *loop, FILE *stream) {
  lure__print_handles(loop, stream, 1);
}

LURE_EXTERN lure_os_fd_t lure_get_osfhandle(int fd) {
  return fd;
}

LURE_EXTERN int lure_open_osfhandle(lure_os_fd_t os_fd) {
  return os_fd;
}
