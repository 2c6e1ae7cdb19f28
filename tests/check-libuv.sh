#!/bin/sh
# check-libuv.sh - libuv 1.44's own test suite, run unchanged against lure's
# uv.h (the drop-in layer) and, as the control, against Debian's libuv1.
#
#   make check-libuv                      (from a configured build tree)
#   tests/check-libuv.sh [TEST...]        (the same; only the named tests)
#
# Environment: LIBUV_SRC=DIR uses an unpacked libuv source tree instead of
# fetching one; CHECK_LIBUV_WAITPOINTS="uring epoll uring-ring uring-old
# uring-masked" (the default) picks the lure runs: the ring, epoll, the
# ring with every stream on it from the start (uring-ring), and the ring as
# an older kernel runs it and with its file and socket opcodes masked (the
# same lists as the executor sets of make check, tests/uring-masks.sh);
# "uring-single" may be added (LURE_SINGLE_THREAD=1 for every loop: see
# lure_loop_configure(3); not a default, since libuv lets any thread run
# a loop), and "uring-6.1" (the ring as Debian 12's own kernel offers it);
# CHECK_LIBUV_KEEP=1 keeps the work folder.
#
# What it does, in order:
#   1. Fetches Debian 12's libuv1 source (apt-get source libuv1) into
#      check-libuv/ of the build tree, adding a deb-src entry for that one
#      call and removing it after.  Nothing of libuv's is ever committed.
#   2. Builds libuv's test runner twice from a copy of its test/ folder:
#      against Debian's libuv1 (the control) and against lure's uv.h and
#      the shared liblure (what a user links).  A test file that does not
#      compile against lure uses an API lure lacks: its tests are "blocked"
#      and reported with the first missing name.
#   3. Runs every test alone (the runner's own per-test timeout, plus an
#      outer one), on the control, then on lure with io_uring as the wait
#      point, with epoll, with every stream on the ring from the start
#      (uring-ring: LURE_STREAM_WARMUP=0, where the default lets short
#      connections stay on readiness; libuv's tests are mostly short
#      connections), with the ring of an older kernel (uring-old, its
#      streams on the ring from the start too) and with the
#      ring's file and socket opcodes masked (uring-masked).  Tests
#      run one at a time: they share port 9123 and file names in the
#      current folder.
#   4. Prints pass/fail/skip per test and the totals, and fails when a test
#      that passes on the control does not pass on lure, unless
#      tests/libuv-expected.txt lists it with a reason.
#
# Harness changes, all in the runner's own files, all made on the copy:
#   - test-list.h is regenerated with only the tests (and helpers) whose
#     TEST_IMPL/HELPER_IMPL compiled; the entries are otherwise unchanged.
#   - run-tests.c declares helper functions of its own (ipc_helper, ...)
#     that live in test files; when such a file is blocked, a generated
#     file defines the helper to print that it is blocked and return 1.
#     Only the blocked tests ever call those helpers.
#   - The runner is started with UV_RUN_AS_ROOT=1: CI runs as root, and
#     the control gets the same setting.
set -u

srcdir=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
srcdir=$(cd "$srcdir" && pwd)
top_builddir=${top_builddir:-$PWD}
top_builddir=$(cd "$top_builddir" && pwd)
WORK=$top_builddir/check-libuv
EXPECTED=$srcdir/tests/libuv-expected.txt
WAITPOINTS=${CHECK_LIBUV_WAITPOINTS:-uring epoll uring-ring uring-old uring-masked}
. "$srcdir/tests/uring-masks.sh"
CC=${CC:-cc}
JOBS=${JOBS:-2}

say() { printf 'check-libuv: %s\n' "$*"; }
die() { printf 'check-libuv: ERROR: %s\n' "$*" >&2; exit 99; }

if [ ! -f "$top_builddir/.libs/liblure.so" ]; then
  die "no $top_builddir/.libs/liblure.so: run make first (from the build tree)"
fi

mkdir -p "$WORK"

# ---- 1. libuv's source ---------------------------------------------------
. "$srcdir/tests/libuv-source.sh"
libuv_source "$WORK"
[ -f "$UVSRC/test/runner.c" ] || die "no libuv test folder in ${UVSRC:-?}"
[ -f /usr/include/uv.h ] || die "Debian's libuv1-dev is missing (./bootstrap.sh installs it)"
say "libuv source: $UVSRC"

# ---- 2. the two runners ---------------------------------------------------
RUNNER="run-tests.c runner.c runner-unix.c echo-server.c blackhole-server.c"
CFLAGS_T="-g -O1 -pthread -D_GNU_SOURCE -Wno-all -Wno-extra"

# build NAME INCLUDE-FLAGS LIBS: compile every file into $WORK/NAME; print
# the blocked files into $WORK/NAME/blocked.txt.
build() {
  name=$1 incs=$2 libs=$3
  d=$WORK/$name
  rm -rf "$d"
  mkdir -p "$d/obj"
  cp -R "$UVSRC/test/." "$d/"
  # Compile each file on its own; a file that fails is blocked.
  (cd "$d" && ls test-*.c $RUNNER |
    xargs -P "$JOBS" -n 1 sh -c '
      f=$1; o=obj/${f%.c}.o
      if ! '"$CC $CFLAGS_T -Werror=implicit-function-declaration $incs"' -c "$f" -o "$o" 2>"obj/${f%.c}.err"; then
        rm -f "$o"
      fi' sh)
  (cd "$d" &&
    for f in test-*.c $RUNNER; do
      [ -f "obj/${f%.c}.o" ] && continue
      why=$(grep -m1 -oE "(implicit declaration of function|unknown type name|undeclared|has no member named|storage size of)[^[]*" "obj/${f%.c}.err" | head -n 1)
      if grep -q '"\.\./src/' "$f"; then
        why="tests libuv's own internals (it includes libuv's src/), not its API"
      fi
      printf '%s\t%s\n' "$f" "${why:-see obj/${f%.c}.err}"
    done >blocked.txt)
  for f in $RUNNER; do
    [ -f "$d/obj/${f%.c}.o" ] || { sed 's/^/    /' "$d/obj/${f%.c}.err" | head -n 20; die "$name: runner file $f does not build"; }
  done
  # The tests and helpers that exist, by their TEST_IMPL/HELPER_IMPL symbol.
  nm --defined-only "$d"/obj/*.o | awk '$3 ~ /^run_(test|helper|benchmark)_/ {print $3}' |
    sort -u >"$d/defined.txt"
  # test-list.h with only what compiled.
  awk -v defs="$d/defined.txt" '
    BEGIN { while ((getline s < defs) > 0) have[s] = 1 }
    /^[ \t]*(TEST_DECLARE|TEST_ENTRY|TEST_ENTRY_CUSTOM|HELPER_DECLARE|TEST_HELPER|HELPER_ENTRY)[ \t]*\(/ {
      line = $0
      sub(/^[ \t]*/, "", line)
      kind = line; sub(/[ \t]*\(.*/, "", kind)
      args = line; sub(/^[^(]*\(/, "", args); sub(/\).*/, "", args)
      gsub(/[ \t]/, "", args)
      n = split(args, a, ",")
      if (kind == "HELPER_DECLARE") ok = ("run_helper_" a[1]) in have
      else if (kind == "TEST_HELPER" || kind == "HELPER_ENTRY")
        ok = (("run_test_" a[1]) in have) && (("run_helper_" a[2]) in have)
      else ok = ("run_test_" a[1]) in have
      if (!ok) next
    }
    { print }' "$UVSRC/test/test-list.h" >"$d/test-list.h"
  (cd "$d" && $CC $CFLAGS_T $incs -c run-tests.c -o obj/run-tests.o) ||
    die "$name: run-tests.c with the filtered list does not build"
  # Link; helpers that run-tests.c names but a blocked file would define
  # get a generated body that says so.
  objs=$(cd "$d" && ls obj/*.o | tr '\n' ' ')
  : >"$d/blocked-helpers.c"
  if ! (cd "$d" && $CC -pthread -o run-tests $objs $libs -lutil -lm 2>link.err); then
    for sym in $(grep -oE "undefined reference to \`[a-z_0-9]+'" "$d/link.err" | sed "s/.*\`//; s/'//" | sort -u); do
      printf '#include <stdio.h>\nint %s(void) { fprintf(stderr, "%s: its test file is blocked\\n"); return 1; }\n' "$sym" "$sym" >>"$d/blocked-helpers.c"
    done
    (cd "$d" && $CC $CFLAGS_T -c blocked-helpers.c -o obj/zz-blocked-helpers.o &&
      $CC -pthread -o run-tests $objs obj/zz-blocked-helpers.o $libs -lutil -lm) ||
      { cat "$d/link.err"; die "$name: the runner does not link"; }
  fi
  (cd "$d" && UV_RUN_AS_ROOT=1 ./run-tests --list 2>/dev/null) | awk 'NF {print $1}' |
    grep -vE '_helper|^(tcp4|tcp6|udp4|pipe)_echo_server$' | sort -u >"$d/tests.txt"
}

# The control depends on libuv alone: a runner built from the same source
# and the same libuv1 is kept (its stamp names both).
stamp="$UVSRC $(dpkg-query -W -f='${Version}' libuv1-dev 2>/dev/null)"
if [ -x "$WORK/control/run-tests" ] && [ "$(cat "$WORK/control/stamp" 2>/dev/null)" = "$stamp" ]; then
  say "control runner (Debian's libuv1) already built"
else
  say "building the control runner (Debian's libuv1)"
  build control "" "-luv"
  printf '%s\n' "$stamp" >"$WORK/control/stamp"
fi
say "building the lure runner (lure's uv.h, shared liblure)"
build lure "-I$srcdir/include/lure -I$srcdir/include" \
  "-L$top_builddir/.libs -llure -Wl,-rpath,$top_builddir/.libs"

# ---- 3. run --------------------------------------------------------------
if [ $# -gt 0 ]; then
  printf '%s\n' "$@" | sort -u >"$WORK/selected.txt"
else
  cp "$WORK/control/tests.txt" "$WORK/selected.txt"
fi

# run NAME OUTFILE [ENV...]: each selected test alone, in a scratch folder.
run_all() {
  name=$1 out=$2; shift 2
  d=$WORK/$name
  : >"$out"
  scratch=$WORK/run-$(basename "$out" .txt)
  while read -r t; do
    if ! grep -qx "$t" "$d/tests.txt"; then
      printf '%s blocked\n' "$t" >>"$out"
      continue
    fi
    # libuv's tests expect to start in its source folder: some open
    # test/fixtures/... by relative path.
    rm -rf "$scratch"; mkdir -p "$scratch/test"
    cp -R "$UVSRC/test/fixtures" "$scratch/test/"
    log=$WORK/logs/$(basename "$out" .txt)/$t.log
    mkdir -p "$(dirname "$log")"
    # stdin is /dev/null: threadpool_cancel_fs asks for close(0) and
    # ftruncate(0, 0), which libuv cancels and the ring runs (it serves fs
    # requests at once); a stdin redirected from a file would be emptied.
    (cd "$scratch" && env UV_RUN_AS_ROOT=1 "$@" timeout -k 5 90 "$d/run-tests" "$t" </dev/null >"$log" 2>&1)
    rc=$?
    if grep -q '^ok .* # SKIP' "$log"; then r=skip
    elif [ $rc = 0 ] && grep -q '^ok ' "$log"; then r=pass
    elif [ $rc = 124 ] || [ $rc = 137 ]; then r=timeout
    else r=fail
    fi
    printf '%s %s\n' "$t" "$r" >>"$out"
  done <"$WORK/selected.txt"
  rm -rf "$scratch"
}

rm -rf "$WORK/logs"
say "running $(wc -l <"$WORK/selected.txt") tests on the control"
run_all control "$WORK/result-control.txt"
for wp in $WAITPOINTS; do
  say "running them on lure, wait point $wp"
  case $wp in
    uring-old) env="LURE_BACKEND=uring LURE_URING_DISABLE=$URING_OLD LURE_STREAM_WARMUP=0" ;;
    uring-masked) env="LURE_BACKEND=uring LURE_URING_DISABLE=$URING_FILE_OPS,$URING_SOCKET_OPS" ;;
    # Not in the default list: every loop a single issuer's ring
    # (LURE_SINGLE_THREAD=1), a promise libuv's tests do not all keep.
    uring-single) env="LURE_BACKEND=uring LURE_SINGLE_THREAD=1" ;;
    uring-6.1) env="LURE_BACKEND=uring LURE_URING_DISABLE=$URING_61" ;;
    # The ring as this kernel offers it, streams on the ring from the start
    # (LURE_STREAM_WARMUP=0): multishot receives into buffer rings for
    # every connection, however short.
    uring-ring) env="LURE_BACKEND=uring LURE_STREAM_WARMUP=0" ;;
    *) env="LURE_BACKEND=$wp" ;;
  esac
  # shellcheck disable=SC2086
  run_all lure "$WORK/result-$wp.txt" $env
done

# ---- 4. report -----------------------------------------------------------
expected_reason() {
  [ -f "$EXPECTED" ] || return 1
  awk -v t="$1" '$1 == t { $1 = ""; sub(/^ /, ""); print; found = 1; exit } END { exit !found }' "$EXPECTED"
}

bad=0
printf '\n%-44s %-8s' test control
for wp in $WAITPOINTS; do printf ' %-12s' "$wp"; done
printf '\n'
while read -r t; do
  c=$(awk -v t="$t" '$1 == t {print $2}' "$WORK/result-control.txt")
  line=$(printf '%-44s %-8s' "$t" "$c")
  verdict=""
  for wp in $WAITPOINTS; do
    r=$(awk -v t="$t" '$1 == t {print $2}' "$WORK/result-$wp.txt")
    line="$line $(printf ' %-12s' "$r")"
    if [ "$c" = pass ] && [ "$r" != pass ] && [ "$r" != blocked ]; then
      verdict=regress
    fi
  done
  if [ -n "$verdict" ]; then
    if reason=$(expected_reason "$t"); then
      line="$line  expected: $reason"
    else
      line="$line  FAILS ON LURE"
      bad=$((bad + 1))
    fi
  fi
  printf '%s\n' "$line"
done <"$WORK/selected.txt"

count() { awk -v r="$2" '$2 == r' "$1" | wc -l; }
printf '\n'
say "control (Debian libuv1 $(basename "$UVSRC" | sed 's/libuv1-//')): $(count "$WORK/result-control.txt" pass) passed, $(count "$WORK/result-control.txt" fail) failed, $(count "$WORK/result-control.txt" timeout) timed out, $(count "$WORK/result-control.txt" skip) skipped"
ctl_pass=$(awk '$2 == "pass" {print $1}' "$WORK/result-control.txt")
for wp in $WAITPOINTS; do
  f=$WORK/result-$wp.txt
  lp=0; lb=0
  for t in $ctl_pass; do
    r=$(awk -v t="$t" '$1 == t {print $2}' "$f")
    [ "$r" = pass ] && lp=$((lp + 1))
    [ "$r" = blocked ] && lb=$((lb + 1))
  done
  say "lure $wp: $(count "$f" pass) passed, $(count "$f" fail) failed, $(count "$f" timeout) timed out, $(count "$f" skip) skipped, $(count "$f" blocked) blocked by missing API; of the $(printf '%s\n' $ctl_pass | grep -c .) control passes: $lp pass, $lb blocked"
done
nblk=$(wc -l <"$WORK/lure/blocked.txt")
say "$nblk test files do not build against lure's uv.h (first missing name each):"
sed 's/^/    /' "$WORK/lure/blocked.txt"
if [ $bad -gt 0 ]; then
  say "FAIL: $bad tests pass on libuv and fail on lure (logs in $WORK/logs)"
  exit 1
fi
say "PASS: every test that passes on libuv and builds against lure passes on lure"
[ "${CHECK_LIBUV_KEEP:-0}" = 1 ] || rm -rf "$WORK/logs" "$WORK"/run-*
exit 0
