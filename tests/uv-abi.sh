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

# 1. Constants: object-like UV_ macros of lure's uv.h, minus the ones that
#    only libuv defines differently on purpose (none), header plumbing and
#    the names of later libuv versions that 1.44's header lacks
#    (UV_TCP_REUSEPORT, 1.49; checked against 1.49's value below).
grep -oE '^#define UV_[A-Z0-9_]+ ' "$UVH" | awk '{print $2}' |
  grep -vE '^UV_(EXTERN|ERRNO_MAP|HANDLE_TYPE_MAP|REQ_TYPE_MAP|TCP_REUSEPORT)$' | sort -u >"$tmp/names"
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
$CC ${CFLAGS:-} ${LDFLAGS:-} -D_GNU_SOURCE -I"$srcdir/include/lure" -I"$srcdir/include" -o "$tmp/consts-lure" "$tmp/consts.c" -L"$b/.libs" -llure -Wl,-rpath,"$b/.libs"
"$tmp/consts-libuv" >"$tmp/v-libuv"
"$tmp/consts-lure" >"$tmp/v-lure"
if ! diff "$tmp/v-libuv" "$tmp/v-lure" >"$tmp/diff"; then
  echo "uv-abi: constants differ from libuv's (< libuv, > lure):" >&2
  cat "$tmp/diff" >&2
  exit 1
fi
echo "uv-abi: $n UV_ constants have libuv's values"

# libuv 1.49's UV_TCP_REUSEPORT is 2 (enum uv_tcp_flags).
printf '#include <uv.h>\n_Static_assert(UV_TCP_REUSEPORT == 2, "1.49 value");\nint main(void) { return 0; }\n' >"$tmp/later.c"
$CC ${CFLAGS:-} -D_GNU_SOURCE -I"$srcdir/include/lure" -I"$srcdir/include" -c -o "$tmp/later.o" "$tmp/later.c"
echo "uv-abi: UV_TCP_REUSEPORT has libuv 1.49's value"

# 2. Functions: every uv_ name mapped by a macro, and the inline wrappers.
{
  echo '#include <uv.h>'
  echo 'void *fns[] = {'
  grep -oE '^#define uv_[a-z0-9_]+ lure_[a-z0-9_]+$' "$UVH" | awk '{print "  (void *) " $2 ","}' |
    grep -vE '(_s|uv_poll_event|uv_fs_event|uv_fs_event_flags|uv_any_handle|uv_any_req),$'
  echo '  (void *) uv_close, (void *) uv_pipe_connect, (void *) uv_version,'
  echo '  (void *) uv_version_string, 0 };'
  echo 'int main(void) { return fns[0] == 0; }'
} >"$tmp/fns.c"
$CC ${CFLAGS:-} ${LDFLAGS:-} -D_GNU_SOURCE -Werror=implicit-function-declaration -I"$srcdir/include/lure" -I"$srcdir/include" \
  -o "$tmp/fns" "$tmp/fns.c" -L"$b/.libs" -llure -Wl,-rpath,"$b/.libs"
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
$CC ${CFLAGS:-} ${LDFLAGS:-} -D_GNU_SOURCE -I"$srcdir/include/lure" -I"$srcdir/include" -o "$tmp/prog" "$tmp/prog.c" \
  -L"$b/.libs" -llure -Wl,-rpath,"$b/.libs"
out=$("$tmp/prog")
[ "$out" = "EOF no such file or directory" ] || { echo "uv-abi: program printed: $out" >&2; exit 1; }
echo "uv-abi: a libuv timer program builds and runs unchanged"
