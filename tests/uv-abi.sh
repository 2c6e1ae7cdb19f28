#!/bin/sh
# uv-abi.sh - the drop-in layer's names against libuv's own header.
#
#   1. Every UV_ constant that lure's uv.h defines has the value it has in
#      Debian's libuv 1.44 uv.h (one program is built against each header;
#      their outputs must be equal).
#   2. Every uv_ function that lure's uv.h names resolves against the
#      shared liblure (a program takes the address of each and links).
#   3. liblure exports no uv_ symbol, so a process can hold both libraries.
#   4. A program that includes <uv.h> through "pkg-config lure-uv"-style
#      flags builds and runs a timer and a loop.
#   5. Loops made through uv.h keep libuv's order behind a full thread pool
#      (LURE_LOOP_LIBUV_DEFAULTS): an fs request made while every pool
#      thread has a job waits, and uv_cancel() takes it back; a loop where
#      the program turned LURE_LOOP_FS_BEHIND_POOL off serves it at once.
# SKIP (77) without libuv1-dev's /usr/include/uv.h (bootstrap.sh installs it).
set -eu
srcdir=${srcdir:-.}
b=${builddir:-.}
CC=${CC:-cc}
UVH=$srcdir/include/lure/uv.h
[ -f /usr/include/uv.h ] || { echo "uv-abi: SKIP: no /usr/include/uv.h"; exit 77; }
lib=$b/.libs/liblure.so
[ -f "$lib" ] || { echo "uv-abi: no $lib" >&2; exit 99; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# cc_lure OUT SRC [FLAG...]: a program built against lure's uv.h and the
# shared liblure of this build.
cc_lure() {
  cc_out=$1 cc_src=$2
  shift 2
  $CC ${CFLAGS:-} ${LDFLAGS:-} -D_GNU_SOURCE "$@" -I"$srcdir/include/lure" -I"$srcdir/include" \
    -o "$cc_out" "$cc_src" -L"$b/.libs" -llure -Wl,-rpath,"$b/.libs"
}

# 1. Constants: object-like UV_ macros of lure's uv.h, minus the ones that
#    only libuv defines differently on purpose (none), header plumbing and
#    the names of later libuv versions that 1.44's header lacks
#    (UV_TCP_REUSEPORT, 1.49; checked against 1.49's value below).
grep -oE '^#define UV_[A-Z0-9_]+ ' "$UVH" | awk '{print $2}' |
  grep -vE '^UV_(EXTERN|ERRNO_MAP|HANDLE_TYPE_MAP|REQ_TYPE_MAP|HANDLE_FIELDS|REQ_FIELDS|STREAM_FIELDS|TCP_REUSEPORT)$' | sort -u >"$tmp/names"
n=$(wc -l <"$tmp/names")
[ "$n" -gt 200 ] || { echo "uv-abi: only $n UV_ constants found in $UVH" >&2; exit 1; }
{
  echo '#include <stdio.h>'
  echo '#include <uv.h>'
  echo 'int main(void) {'
  while read -r c; do
    case $c in
      UV_VERSION_SUFFIX) printf '  printf("%%s [%%s]\\n", "%s", %s);\n' "$c" "$c" ;;
      *) printf '  printf("%%s %%lld\\n", "%s", (long long) (%s));\n' "$c" "$c" ;;
    esac
  done <"$tmp/names"
  echo '  return 0;'
  echo '}'
} >"$tmp/consts.c"
$CC ${CFLAGS:-} ${LDFLAGS:-} -D_GNU_SOURCE -o "$tmp/consts-libuv" "$tmp/consts.c" -luv
cc_lure "$tmp/consts-lure" "$tmp/consts.c"
"$tmp/consts-libuv" >"$tmp/v-libuv"
"$tmp/consts-lure" >"$tmp/v-lure"
if ! diff "$tmp/v-libuv" "$tmp/v-lure" >"$tmp/diff"; then
  echo "uv-abi: constants differ from libuv's (< libuv, > lure):" >&2
  cat "$tmp/diff" >&2
  exit 1
fi
echo "uv-abi: $n UV_ constants have libuv's values"

# 1b. The field-list macros: a struct built from them has the layout of the
#     handle, stream or request it mimics.  libuv's header leaves only
#     UV_HANDLE_FIELDS usable (it undefines the private lists the other two
#     expand to), so the stream and request checks run on lure only.
cat >"$tmp/fields.c" <<'CEOF'
#include <stddef.h>
#include <stdio.h>
#include <uv.h>
struct my_handle { UV_HANDLE_FIELDS };
#ifdef LURE_UV_H
struct my_stream { UV_HANDLE_FIELDS UV_STREAM_FIELDS };
struct my_req { UV_REQ_FIELDS };
#endif
int main(void) {
  int ok = sizeof(struct my_handle) == sizeof(uv_handle_t) &&
           offsetof(struct my_handle, data) == offsetof(uv_handle_t, data) &&
           offsetof(struct my_handle, loop) == offsetof(uv_handle_t, loop) &&
           offsetof(struct my_handle, type) == offsetof(uv_handle_t, type);
#ifdef LURE_UV_H
  ok = ok &&
       offsetof(struct my_stream, read_cb) == offsetof(uv_stream_t, read_cb) &&
       offsetof(struct my_stream, write_queue_size) ==
           offsetof(uv_stream_t, write_queue_size) &&
       sizeof(struct my_stream) <= sizeof(uv_stream_t) &&
       sizeof(struct my_req) == sizeof(uv_req_t) &&
       offsetof(struct my_req, type) == offsetof(uv_req_t, type);
#endif
  printf("%s\n", ok ? "same layout" : "layout differs");
  return !ok;
}
CEOF
$CC ${CFLAGS:-} ${LDFLAGS:-} -D_GNU_SOURCE -o "$tmp/fields-libuv" "$tmp/fields.c" -luv
cc_lure "$tmp/fields-lure" "$tmp/fields.c"
"$tmp/fields-libuv" >/dev/null || { echo "uv-abi: the field-list check fails on libuv itself" >&2; exit 99; }
"$tmp/fields-lure" || { echo "uv-abi: UV_HANDLE_FIELDS/UV_STREAM_FIELDS/UV_REQ_FIELDS do not give lure's layout" >&2; exit 1; }
echo "uv-abi: UV_HANDLE_FIELDS, UV_STREAM_FIELDS and UV_REQ_FIELDS give the handle, stream and request layout"

# 1c. Types: every struct and enum tag and every uv_*_t type name libuv's
#     public headers declare is a complete type under lure's uv.h.  One
#     exception: libuv's unix.h also tags uv_buf_t as "struct uv_buf_t"; a
#     tag equal to a typedef name cannot be mapped by a macro, so lure's
#     buffer is "struct uv_buf_s" (as on libuv's Windows) and uv_buf_t.
cat /usr/include/uv.h /usr/include/uv/unix.h /usr/include/uv/linux.h \
    /usr/include/uv/threadpool.h 2>/dev/null |
  grep -ohE '\b(struct|enum) uv_[a-z0-9][a-z0-9_]*|\buv_[a-z0-9][a-z0-9_]*_t\b' |
  grep -vx 'struct uv_buf_t' |
  sort -u >"$tmp/types"
nt=$(wc -l <"$tmp/types")
[ "$nt" -gt 80 ] || { echo "uv-abi: only $nt uv types found in libuv's headers" >&2; exit 99; }
{
  echo '#include <uv.h>'
  echo 'int main(void) {'
  echo '  unsigned long n = 0;'
  sed 's/.*/  n += (unsigned long) sizeof(&);/' "$tmp/types"
  echo '  return n == 0;'
  echo '}'
} >"$tmp/types.c"
if ! $CC ${CFLAGS:-} -D_GNU_SOURCE -fsyntax-only -I"$srcdir/include/lure" -I"$srcdir/include" "$tmp/types.c" 2>"$tmp/types.err"; then
  echo "uv-abi: types libuv declares that lure's uv.h lacks or leaves incomplete:" >&2
  grep -E 'error' "$tmp/types.err" | head -20 >&2
  exit 1
fi
echo "uv-abi: $nt struct/enum tags and uv_*_t types of libuv are complete types"

# libuv 1.49's UV_TCP_REUSEPORT is 2 (enum uv_tcp_flags).
printf '#include <uv.h>\n_Static_assert(UV_TCP_REUSEPORT == 2, "1.49 value");\nint main(void) { return 0; }\n' >"$tmp/later.c"
$CC ${CFLAGS:-} -D_GNU_SOURCE -I"$srcdir/include/lure" -I"$srcdir/include" -c -o "$tmp/later.o" "$tmp/later.c"
echo "uv-abi: UV_TCP_REUSEPORT has libuv 1.49's value"

# 2. Functions: every uv_ name mapped by a macro, and the inline wrappers.
{
  echo '#include <uv.h>'
  echo 'void *fns[] = {'
  grep -oE '^#define uv_[a-z0-9_]+ lure_[a-z0-9_]+$' "$UVH" | awk '{print "  (void *) " $2 ","}' |
    grep -vE '(_s|uv_poll_event|uv_fs_event|uv_fs_event_flags|uv_tcp_flags|uv_udp_flags|uv_process_flags|uv_any_handle|uv_any_req),$'
  echo '  (void *) uv_close, (void *) uv_pipe_connect, (void *) uv_version,'
  echo '  (void *) uv_version_string, (void *) uv_default_loop,'
  echo '  (void *) uv_loop_init, (void *) uv_loop_new, 0 };'
  echo 'int main(void) { return fns[0] == 0; }'
} >"$tmp/fns.c"
cc_lure "$tmp/fns" "$tmp/fns.c" -Werror=implicit-function-declaration
"$tmp/fns"
nf=$(grep -c '(void \*)' "$tmp/fns.c")
echo "uv-abi: $nf uv_ functions resolve in liblure"

# 3. No uv_ symbol in liblure.
if nm -D --defined-only "$lib" | awk '{print $3}' | grep -E '^uv_' >"$tmp/uvsyms"; then
  echo "uv-abi: liblure exports uv_ symbols:" >&2
  cat "$tmp/uvsyms" >&2
  exit 1
fi
echo "uv-abi: liblure exports no uv_ symbol"

# 4. A small libuv program, unchanged.
cat >"$tmp/prog.c" <<'EOF'
#include <uv.h>
#include <stdio.h>
static int fired, closed;
static void on_close(uv_handle_t *h) { closed++; }
static void on_timer(uv_timer_t *t) { fired++; uv_close((uv_handle_t *) t, on_close); }
int main(void) {
  uv_loop_t *loop = uv_default_loop();
  uv_timer_t t;
  if (uv_timer_init(loop, &t) != 0) return 1;
  if (uv_timer_start(&t, on_timer, 1, 0) != 0) return 2;
  if (uv_run(loop, UV_RUN_DEFAULT) != 0) return 3;
  if (fired != 1 || closed != 1) return 4;
  if (uv_loop_close(loop) != 0) return 5;
  printf("%s %s\n", uv_err_name(UV_EOF), uv_strerror(UV_ENOENT));
  return 0;
}
EOF
cc_lure "$tmp/prog" "$tmp/prog.c"
out=$("$tmp/prog")
[ "$out" = "EOF no such file or directory" ] || { echo "uv-abi: program printed: $out" >&2; exit 1; }
echo "uv-abi: a libuv timer program builds and runs unchanged"

# 5. libuv's order behind a full pool, on the three loops uv.h makes.
cat >"$tmp/order.c" <<'EOF'
#include <uv.h>
#include <stdio.h>
#include <stdlib.h>
static uv_sem_t sem;
static int stat_done, stat_result;
static void block(uv_work_t *w) { (void) w; uv_sem_wait(&sem); }
static void after(uv_work_t *w, int status) { (void) w; (void) status; }
static void on_stat(uv_fs_t *r) { stat_done++; stat_result = (int) r->result; uv_fs_req_cleanup(r); }
/* 0 when the stat made behind a full pool was cancelled, 1 when it ran
 * although the pool was full, 10 or more on any other outcome. */
static int try_loop(uv_loop_t *loop) {
  uv_work_t w[4];
  uv_fs_t st;
  int i, rc;
  if (uv_sem_init(&sem, 0) != 0) return 10;
  for (i = 0; i < 4; i++)
    if (uv_queue_work(loop, &w[i], block, after) != 0) return 11;
  stat_done = 0;
  if (uv_fs_stat(loop, &st, "/", on_stat) != 0) return 12;
  /* The loop runs for 50 ms while the pool stays full: the ring serves
   * the stat in that time; behind the pool it waits. */
  for (i = 0; i < 50 && stat_done == 0; i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    uv_sleep(1);
  }
  if (stat_done == 1) {
    rc = stat_result == 0 ? 1 : 15;
  } else {
    if (uv_cancel((uv_req_t *) &st) != 0) return 17;
    rc = 0;
  }
  for (i = 0; i < 4; i++) uv_sem_post(&sem);
  if (uv_run(loop, UV_RUN_DEFAULT) != 0) return 13;
  if (rc == 0 && (stat_done != 1 || stat_result != UV_ECANCELED)) return 14;
  uv_sem_destroy(&sem);
  return rc;
}
int main(void) {
  uv_loop_t own, *fresh;
  int a, b, c, d;
  a = try_loop(uv_default_loop());
  if (uv_loop_init(&own) != 0) return 20;
  b = try_loop(&own);
  fresh = uv_loop_new();
  if (fresh == NULL) return 21;
  c = try_loop(fresh);
  /* The program's own choice wins over uv.h's, also on the next call. */
  if (lure_loop_configure(uv_default_loop(), LURE_LOOP_FS_BEHIND_POOL, 0) != 0) return 22;
  d = getenv("ORDER_RING") ? try_loop(uv_default_loop()) : -1;
  printf("%d %d %d %d %s\n", a, b, c, d, lure_loop_backend(uv_default_loop()));
  uv_loop_close(&own);
  uv_loop_delete(fresh);
  return 0;
}
EOF
cc_lure "$tmp/order" "$tmp/order.c"
out=$("$tmp/order")
[ "${out% *}" = "0 0 0 -1" ] || { echo "uv-abi: behind a full pool, uv.h's loops gave: $out (want 0 0 0 -1: cancelled)" >&2; exit 1; }
# With the option off, the stat goes to the ring when the ring is the wait
# point (1: served while the pool was full); on epoll, to the pool (0).
out=$(ORDER_RING=1 "$tmp/order")
case $out in
  "0 0 0 1 io_uring") echo "uv-abi: uv.h's loops wait behind a full pool (cancellable); with LURE_LOOP_FS_BEHIND_POOL 0 the ring serves at once" ;;
  "0 0 0 0 epoll") echo "uv-abi: uv.h's loops wait behind a full pool (cancellable); on epoll the pool serves either way" ;;
  *) echo "uv-abi: with LURE_LOOP_FS_BEHIND_POOL 0: $out" >&2; exit 1 ;;
esac
