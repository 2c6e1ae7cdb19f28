#!/usr/bin/env bash
# deb-install.sh - install lure's Debian packages on this machine, build
# programs against them with pkg-config alone, run them, and purge the
# packages again.  "make deb-install-check" runs it after "make deb"; CI
# runs that as a step of its own.  Needs root (apt-get, dpkg).
#
#   tests/deb-install.sh DEBDIR
#
# DEBDIR holds liblure0_*.deb, liblure-dev_*.deb and lure-tools_*.deb.
# srcdir (environment, default .) is the source tree: the README's example
# and the echo server's source are taken from it and copied to a scratch
# directory, and everything is compiled there, with no path into the tree.
#
# What is checked, each step failing the script loudly:
#   - nothing of lure is installed before (no package, no lure.pc that
#     pkg-config finds), so that what follows can only pass through the
#     packages;
#   - apt-get installs the three packages; dpkg -L of each holds what
#     debian/ says it does (printed, summarised);
#   - the README's example, built with "pkg-config --cflags --libs lure",
#     prints what the README says it prints, for a file of a size chosen
#     here, on the default wait point and on epoll; its headers and
#     liblure.so.0 are the packages' files (dpkg -S); the same program
#     linked with the static liblure.a runs too;
#   - the echo server's source, built the same way, echoes a line over TCP;
#   - a small libuv program built with "pkg-config --cflags --libs lure-uv"
#     runs a timer, thread-pool work and an fs request, and links liblure,
#     not libuv;
#   - the installed tools run (lure-info, lure-echo, lure-bench);
#   - apt-get purge removes the packages, and with them anything apt pulled
#     in for them, leaving the installed package set as it was before.
set -euo pipefail

debdir=$(cd "${1:?usage: deb-install.sh DEBDIR}" && pwd)
srcdir=$(cd "${srcdir:-.}" && pwd)
PKGS="liblure0 liblure-dev lure-tools"
T0=$(date +%s)

say() { printf 'deb-install: %s\n' "$*"; }
die() { printf 'deb-install: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (apt-get install, apt-get purge)"
command -v apt-get >/dev/null || die "no apt-get"

installed_set() {
  dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 ~ /^.i/ { print $2 }' | sort
}
lure_pkgs_present() {
  dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 2>/dev/null |
    awk '$2 ~ /^(liblure|lure-)/ && $1 !~ /^un/ { print $2 }'
}

# ---- before ---------------------------------------------------------------
if [ -n "$(lure_pkgs_present)" ]; then
  die "lure packages are already installed: $(lure_pkgs_present | tr '\n' ' ')(purge them first)"
fi
if pkg-config --exists lure 2>/dev/null; then
  die "pkg-config already finds lure.pc ($(pkg-config --variable=pcfiledir lure)); a 'make install' is in the way"
fi
for f in /usr/local/include/lure.h /usr/local/include/lure/uv.h; do
  [ ! -e "$f" ] || die "$f exists (a 'make install'?): the test would not test the packages"
done
debs=()
for p in $PKGS; do
  f=$(ls "$debdir"/"$p"_*.deb 2>/dev/null | head -n 1) || true
  [ -n "$f" ] || die "no ${p}_*.deb in $debdir"
  debs+=("$f")
done
before=$(installed_set)

tmp=$(mktemp -d /tmp/lure-deb-install.XXXXXX)
echo_pid=
cleanup() {
  local rc=$?
  [ -z "$echo_pid" ] || kill "$echo_pid" 2>/dev/null || true
  rm -rf "$tmp"
  if [ -n "$(lure_pkgs_present)" ]; then
    say "cleanup: apt-get purge -y $PKGS"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $PKGS >/dev/null 2>&1 || true
  fi
  exit $rc
}
trap cleanup EXIT

# ---- install --------------------------------------------------------------
say "apt-get install -y ${debs[*]##*/}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${debs[@]}" ||
  die "apt-get install"
for p in $PKGS; do
  grep -q '^ii' <<<"$(dpkg-query -W -f='${db:Status-Abbrev}' "$p")" || die "$p is not installed after apt-get"
done

# ---- contents -------------------------------------------------------------
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
libdir=/usr/lib/$multiarch
files() { dpkg -L "$1" | while read -r f; do [ -d "$f" ] || echo "$f"; done; }
has() { # has PKG PATH...: each PATH is a file of PKG
  local p=$1 f; shift
  local list
  list=$(files "$p")
  for f; do grep -qx -- "$f" <<<"$list" || die "$p lacks $f"; done
}
summary() {
  local p=$1
  echo "--- dpkg -L $p (files; man pages counted per section) ---"
  files "$p" | grep -v '^/usr/share/man/man[0-9]/' || true
  files "$p" | sed -n 's|^/usr/share/man/\(man[0-9]\)/.*|\1|p' | sort | uniq -c |
    while read -r n s; do echo "/usr/share/man/$s/: $n pages"; done
}
for p in $PKGS; do summary "$p"; done

so=$(files liblure0 | grep "^$libdir/liblure\.so\.[0-9]*$" || true)
[ -n "$so" ] || die "liblure0 has no $libdir/liblure.so.N"
if files liblure0 | grep -v "^$libdir/liblure\.so\.\|^/usr/share/doc/liblure0/\|^/usr/share/lintian/overrides/" | grep .; then
  die "liblure0 holds more than the shared library (above)"
fi
has liblure-dev /usr/include/lure.h /usr/include/lure/uv.h "$libdir/liblure.a" \
  "$libdir/liblure.so" "$libdir/pkgconfig/lure.pc" "$libdir/pkgconfig/lure-uv.pc"
# Every section 3 page of the source tree, and nothing else, in liblure-dev.
want3=$(cd "$srcdir/man" && ls -- *.3 | sort)
got3=$(files liblure-dev | sed -n 's|^/usr/share/man/man3/\(.*\)\.gz$|\1|p' | sort)
[ "$want3" = "$got3" ] || die "liblure-dev's man3 pages differ from man/*.3: $(diff <(echo "$want3") <(echo "$got3") | head -5 | tr '\n' ' ')"
has lure-tools /usr/bin/lure-info /usr/bin/lure-echo /usr/bin/lure-bench /usr/share/man/man7/lure.7.gz
# Each program of lure-tools (lure-http too, when the tree had it) has its
# man1 page.
for b in $(files lure-tools | sed -n 's|^/usr/bin/||p'); do
  has lure-tools "/usr/share/man/man1/$b.1.gz"
done
say "contents as expected: $(files liblure0 | wc -l) + $(files liblure-dev | wc -l) + $(files lure-tools | wc -l) files"

# ---- build against the packages --------------------------------------------
cd "$tmp"
# owner PATH: the package that holds PATH (after resolving symlinks).
owner() { dpkg -S "$1" 2>/dev/null | sed 's/:.*//' | head -n 1; }
# check_build BIN DEPFILE HEADER PKG: BIN was compiled with HEADER from PKG
# and runs with liblure.so.N from liblure0 (BIN dynamic), not from the tree.
check_build() {
  local bin=$1 dep=$2 hdr=$3 lib
  local h
  h=$(tr ' \\' '\n\n' <"$dep" | grep "/$hdr\$" | head -n 1)
  [ -n "$h" ] || die "$bin: $hdr not among the headers it was compiled with"
  h=$(readlink -f "$h")
  [ "$(owner "$h")" = "$4" ] || die "$bin: $hdr came from $h, not from package $4"
  lib=$(ldd "$bin" | awk '$1 ~ /^liblure\.so/ { print $3 }')
  [ -z "$lib" ] || lib=$(readlink -f "$lib")
  [ -n "$lib" ] || die "$bin does not link liblure.so"
  [ "$(owner "$lib")" = liblure0 ] || die "$bin: liblure from $lib, not from liblure0"
  if grep -q "libuv\.so" <<<"$(ldd "$bin")"; then die "$bin links libuv"; fi
}
CC=${CC:-cc}
lure_flags=$(pkg-config --cflags --libs lure) || die "pkg-config lure"
uv_flags=$(pkg-config --cflags --libs lure-uv) || die "pkg-config lure-uv"
say "pkg-config --cflags --libs lure:    $lure_flags"
say "pkg-config --cflags --libs lure-uv: $uv_flags"
case "$lure_flags $uv_flags" in
  *"$srcdir"*) die "pkg-config flags point into the source tree" ;;
esac

# 1. The README's example: the first C block after "## Example".
awk '/^## Example/ { on = 1 } on && /^```c$/ { code = 1; next }
     code && /^```$/ { exit } code { print }' "$srcdir/README.md" >example.c
grep -q 'lure_run' example.c || die "no C example found in README.md"
# shellcheck disable=SC2086
$CC -Wall -Werror -o example example.c -MD -MF example.d $lure_flags || die "compiling README's example"
check_build ./example example.d lure.h liblure-dev
# The example reads argv[1]: a file of a size chosen at random here.
size=$(( (RANDOM % 3000) + 100 ))
head -c "$size" /dev/urandom >data
run_example() { # run_example LABEL BIN [ENV...]
  local label=$1 bin=$2 out
  shift 2
  out=$(env "$@" "$bin" "$tmp/data") || die "$label: exit status $?"
  printf '%s\n' "$out" | sed "s/^/  $label| /"
  grep -Eq '^wait point: (io_uring|epoll)$' <<<"$out" || die "$label: no 'wait point:' line"
  grep -qx '100 ms later' <<<"$out" || die "$label: no '100 ms later' line"
  grep -Eq "^read $size bytes \\(executor: (io_uring|aio|threadpool)\\)\$" <<<"$out" ||
    die "$label: no 'read $size bytes (executor: ...)' line"
  [ "$(printf '%s\n' "$out" | wc -l)" = 3 ] || die "$label: not three lines of output"
  last_out=$out
}
run_example example ./example
run_example example-epoll ./example LURE_BACKEND=epoll
grep -qx "wait point: epoll" <<<"$last_out" || die "example-epoll: the wait point is not epoll"
grep -q "(executor: threadpool)" <<<"$last_out" || die "example-epoll: the read did not go to the thread pool"
grep -qx 'wait point: epoll' <<<"$(./example "$tmp/data")" && [ -z "${LURE_BACKEND:-}" ] &&
  say "note: no io_uring here (the example waits on epoll)"
./example "$tmp/no-such-file" 2>err.txt >/dev/null || die "example on a missing file: exit status $?"
grep -q '^open: ' err.txt || die "example on a missing file: no 'open:' error"

# The same program against the static library (pkg-config --static).
static_libs=$(pkg-config --static --libs lure | sed 's/-llure\b/-l:liblure.a/')
# shellcheck disable=SC2086
$CC -o example-static example.c $(pkg-config --cflags lure) $static_libs || die "static link"
if grep -q liblure <<<"$(ldd example-static)"; then die "example-static still links liblure.so"; fi
run_example example-static ./example-static

# 2. The echo server's source, wherever the tree keeps it.
echo_src=$(find "$srcdir" -path "$srcdir/build*" -prune -o -type f -name lure-echo.c -print | head -n 1)
[ -n "$echo_src" ] || die "lure-echo.c not found under $srcdir"
cp "$echo_src" echo.c
# shellcheck disable=SC2086
$CC -Wall -o echo-server echo.c -MD -MF echo.d $lure_flags || die "compiling $echo_src"
check_build ./echo-server echo.d lure.h liblure-dev
echo_test() { # echo_test LABEL BIN [ENV...]
  local label=$1 bin=$2 port reply i=0
  shift 2
  env "$@" "$bin" --port 0 >"$label.out" 2>&1 &
  echo_pid=$!
  until grep -q '^listening on 127\.0\.0\.1:' "$label.out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$echo_pid" 2>/dev/null; then
      cat "$label.out"; die "$label: server did not start"
    fi
    sleep 0.05
  done
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$label.out")
  msg="lure deb $label $RANDOM"
  reply=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf '%s\n' '$msg' >&3; IFS= read -r line <&3; printf '%s' \"\$line\"") || true
  kill -TERM "$echo_pid"
  wait "$echo_pid" || die "$label: exit status $? after SIGTERM"
  echo_pid=
  [ "$reply" = "$msg" ] || die "$label: sent '$msg', got '$reply'"
  say "$label: echoed '$msg' on port $port ($(sed -n 's/^executor: //p' "$label.out"))"
}
echo_test echo-server ./echo-server
echo_test echo-server-epoll ./echo-server LURE_BACKEND=epoll

# 3. A libuv program, unchanged: #include <uv.h> through lure-uv.
cat >uvprog.c <<'EOT'
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

static uv_timer_t timer;
static uv_work_t work;
static uv_fs_t stat_req;
static long worked;

static void work_cb(uv_work_t *req) {
  long n = (long) (size_t) req->data, i;
  for (i = 1; i <= n; i++)
    worked += i;
}

static void after_work_cb(uv_work_t *req, int status) {
  printf("work %d: %ld\n", status, worked);
}

static void stat_cb(uv_fs_t *req) {
  if (req->result < 0)
    printf("stat: %s\n", uv_err_name((int) req->result));
  else
    printf("stat: %llu bytes\n", (unsigned long long) req->statbuf.st_size);
  uv_fs_req_cleanup(req);
}

static void timer_cb(uv_timer_t *t) {
  printf("timer after %s\n", uv_is_active((uv_handle_t *) t) ? "active" : "one shot");
  uv_close((uv_handle_t *) t, NULL);
}

int main(int argc, char **argv) {
  uv_loop_t *loop = uv_default_loop();

  if (argc < 3)
    return 2;
  work.data = (void *) (size_t) atol(argv[2]);
  uv_timer_init(loop, &timer);
  uv_timer_start(&timer, timer_cb, 20, 0);
  uv_queue_work(loop, &work, work_cb, after_work_cb);
  uv_fs_stat(loop, &stat_req, argv[1], stat_cb);
  if (uv_run(loop, UV_RUN_DEFAULT) != 0)
    return 3;
  printf("%s %s\n", uv_err_name(UV_ENOENT), uv_strerror(UV_EOF));
  return uv_loop_close(loop) == 0 ? 0 : 4;
}
EOT
# shellcheck disable=SC2086
$CC -Wall -Werror -o uvprog uvprog.c -MD -MF uvprog.d $uv_flags || die "compiling the uv.h program"
check_build ./uvprog uvprog.d uv.h liblure-dev
if grep -q " uv_" <<<"$(nm -D --undefined-only uvprog)"; then die "uvprog asks for uv_ symbols"; fi
n=$(( (RANDOM % 1000) + 10 ))
out=$(./uvprog "$tmp/data" "$n") || die "uvprog: exit status $?"
printf '%s\n' "$out" | sed 's/^/  uvprog| /'
expect=$(printf 'stat: %s bytes\nwork 0: %s\ntimer after one shot\nENOENT end of file' "$size" $(( n * (n + 1) / 2 )))
[ "$(printf '%s\n' "$out" | sort)" = "$(printf '%s\n' "$expect" | sort)" ] ||
  die "uvprog: expected (in any order): $(printf '%s' "$expect" | tr '\n' '|')"

# 4. The installed tools.
lure-info >info.txt || die "lure-info: exit status $?"
say "lure-info: $(grep -ci 'uring' info.txt) lines mention io_uring"
echo_test lure-echo /usr/bin/lure-echo
lure-bench timers --ops 300 --spread 5 --json bench.json >/dev/null || die "lure-bench timers"
grep -q '"tool":"lure-bench"' bench.json || die "lure-bench wrote no JSON"
grep -q '"executor":"libuv"' bench.json || die "lure-bench has no libuv row (built without libuv)"
say "lure-bench: timers ran, with a libuv row"

# ---- purge ----------------------------------------------------------------
cd /
say "apt-get purge -y $PKGS"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $PKGS || die "apt-get purge"
left=$(lure_pkgs_present)
[ -z "$left" ] || die "still installed after purge: $left"
# Anything apt installed for the packages (their dependencies) goes too.
extra=$(comm -13 <(echo "$before") <(installed_set))
if [ -n "$extra" ]; then
  say "purging what apt pulled in: $(echo $extra)"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $extra || die "apt-get purge of the dependencies"
fi
[ "$before" = "$(installed_set)" ] || die "the installed package set differs from before: $(diff <(echo "$before") <(installed_set) | tr '\n' ' ')"
for f in /usr/include/lure.h /usr/include/lure "$so" /usr/bin/lure-info /usr/share/man/man7/lure.7.gz; do
  [ ! -e "$f" ] || die "$f is still there after the purge"
done
if dpkg -l | grep -E '^[a-z]+ +(liblure|lure-)'; then die "dpkg -l still lists lure packages"; fi
say "purged; dpkg -l lists no lure package"
say "passed in $(( $(date +%s) - T0 ))s"
