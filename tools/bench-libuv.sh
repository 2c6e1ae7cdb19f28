#!/bin/sh
# bench-libuv.sh - libuv 1.44's own benchmarks (test/benchmark-*.c), built
# unchanged against lure's uv.h and against Debian's libuv1, run side by
# side: one table and one JSON file.
#
#   make bench-libuv                      (from a configured build tree)
#   tools/bench-libuv.sh [BENCHMARK...]   (the same; only the named ones)
#
# Environment:
#   LIBUV_SRC=DIR          an unpacked libuv source tree instead of fetching
#   BENCH_LIBUV_FULL=1     libuv's own iteration counts and every benchmark
#                          that builds (the default is the quick set below,
#                          with fewer iterations)
#   BENCH_LIBUV_BUDGET=S   stop starting benchmarks after S seconds of
#                          running (default 200, 3600 with FULL, times
#                          BENCH_LIBUV_REPEAT)
#   BENCH_LIBUV_TIMEOUT=S  the bound of one run (default 20; 120 with FULL)
#   BENCH_LIBUV_REPEAT=N   N rounds: each side's figure is the median of its
#                          N runs, and each ratio the median of the N
#                          rounds' own ratios (default 1); the sides'
#                          order turns each round, so 3, 6, 9 ... give
#                          each side each place equally often
#   BENCH_LIBUV_KEEP=1     keep the logs of each run
#
# What it does, in order:
#   1. Finds libuv's source: LIBUV_SRC, else the copy make check-libuv
#      fetched (check-libuv/libuv1-1.44.*), else fetches Debian 12's libuv1
#      source (apt-get source libuv1) into bench-libuv/ of the build tree,
#      the way tests/check-libuv.sh does.  Nothing of libuv's is committed.
#   2. Builds libuv's benchmark runner twice from one copy of its test/
#      folder: against Debian's libuv1 (the baseline) and against lure's
#      uv.h and the shared liblure.  A benchmark file (or helper file) that
#      does not compile against lure's uv.h uses an API lure lacks: its
#      benchmarks are skipped, and listed with the first missing name.
#   3. Runs each benchmark alone: libuv, lure with LURE_BACKEND=uring and
#      lure with LURE_BACKEND=epoll, one after the other, so that the load
#      of a busy machine falls on all three alike.  With N rounds the order
#      turns each round (libuv uring epoll, then uring epoll libuv, then
#      epoll libuv uring, ...), so that no side always runs first, right
#      after the previous benchmark, or always last: on this host the
#      first run of a sequence is often the fastest (thread_create), and a
#      fixed order gave that edge to libuv in every round.  A multiple of
#      3 rounds puts each side in each place equally often.  Each run has a
#      time bound; the whole run has a time budget, after which the
#      remaining benchmarks are reported as not run.
#   4. Reads the figure each benchmark prints (each has its own format),
#      prints one table with the ratio lure/libuv oriented so that > 1.0
#      means lure is better (for a time, libuv/lure), and writes
#      bench/libuv-bench.json.  It measures; it never fails on a slow
#      figure.  It exits 1 only when a run fails on lure and not on libuv.
#
# Changes made on the copy, the same for both builds:
#   - benchmark-list.h keeps only the benchmarks and helpers whose
#     BENCHMARK_IMPL/HELPER_IMPL compiled against lure (the baseline runs
#     the same set).
#   - task.h: the TCP port (9123) and the pipe names (/tmp/uv-test-sock*)
#     move aside so that a concurrent "make check-libuv" on the same
#     machine does not collide with these runs.
#   - Quick mode (the default) lowers iteration counts and run times, for
#     both builds alike: 5 s runs become 2 s, counts shrink 2-10 times, so
#     that a run still lasts about half a second or more (a run of 0.1 s
#     measured mostly this host's noise: async_pummel_1 at 50,000
#     callbacks moved 75% between libuv's own runs).
#     The figures are rates or times that each benchmark computes from what
#     it did, so they stay comparable between the two sides; they are not
#     comparable with libuv's published figures for its full counts.
#   - A benchmark without helper processes is started as the runner's
#     child part (run-benchmarks NAME NAME) rather than through the runner,
#     which would add a second process and a one-second pause.
set -u

srcdir=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
srcdir=$(cd "$srcdir" && pwd)
top_builddir=${top_builddir:-$PWD}
top_builddir=$(cd "$top_builddir" && pwd)
WORK=$top_builddir/bench-libuv
JSON=$top_builddir/bench/libuv-bench.json
CC=${CC:-cc}
JOBS=${JOBS:-2}
FULL=${BENCH_LIBUV_FULL:-0}
REPEAT=${BENCH_LIBUV_REPEAT:-1}
case $REPEAT in ''|*[!0-9]*|0) echo "bench-libuv: BENCH_LIBUV_REPEAT must be a number >= 1" >&2; exit 2 ;; esac
# The default budget is per repetition: N runs of each side take N times
# as long, and a budget that did not grow cut the table short.
if [ "$FULL" = 1 ]; then
  BUDGET=${BENCH_LIBUV_BUDGET:-$((3600 * REPEAT))}
  RUN_TIMEOUT=${BENCH_LIBUV_TIMEOUT:-120}
else
  BUDGET=${BENCH_LIBUV_BUDGET:-$((200 * REPEAT))}
  RUN_TIMEOUT=${BENCH_LIBUV_TIMEOUT:-20}
fi

# The quick set: one or two of each kind, two to three minutes for the
# three sides on two cores (a run that hangs costs its whole time bound).
QUICK="sizes loop_count loop_count_timed million_timers million_async
async1 async_pummel_1 queue_work fs_stat getaddrinfo thread_create spawn
ping_pongs ping_udp1 tcp_write_batch tcp_pump1_client pipe_pump1_client
tcp4_pound_100 pipe_pound_100 tcp_multi_accept2 udp_pummel_1v1
udp_timed_pummel_10v10"

say() { printf 'bench-libuv: %s\n' "$*"; }
die() { printf 'bench-libuv: ERROR: %s\n' "$*" >&2; exit 99; }

if [ ! -f "$top_builddir/.libs/liblure.so" ]; then
  die "no $top_builddir/.libs/liblure.so: run make first (from the build tree)"
fi
mkdir -p "$WORK" "$top_builddir/bench"

# ---- 1. libuv's source ---------------------------------------------------
. "$srcdir/tests/libuv-source.sh"
libuv_source "$WORK" "$top_builddir/check-libuv"
[ -f "$UVSRC/test/run-benchmarks.c" ] || die "no libuv benchmark runner in ${UVSRC:-?}/test"
[ -f /usr/include/uv.h ] || die "Debian's libuv1-dev is missing (./bootstrap.sh installs it)"
UVVER=$(basename "$UVSRC" | sed 's/^libuv1-//')
say "libuv source: $UVSRC"

# ---- 2. one patched copy, two runners ------------------------------------
SRC=$WORK/src
rm -rf "$SRC"
mkdir -p "$SRC"
cp -R "$UVSRC/test/." "$SRC/"

# patch FILE OLD NEW: replace a fixed string once in the copy; the string
# must be there (a different libuv would silently change what is measured).
patch_copy() {
  grep -qF -- "$2" "$SRC/$1" || die "$1: \"$2\" not found; this libuv differs from 1.44"
  awk -v old="$2" -v new="$3" '
    !done && (i = index($0, old)) > 0 {
      $0 = substr($0, 1, i - 1) new substr($0, i + length(old)); done = 1
    }
    { print }' "$SRC/$1" >"$SRC/$1.tmp" && mv "$SRC/$1.tmp" "$SRC/$1"
}

patch_copy task.h '#define TEST_PORT 9123' '#define TEST_PORT 9223'
patch_copy task.h '"/tmp/uv-test-sock"' '"/tmp/lure-bench-libuv-sock"'
patch_copy task.h '"/tmp/uv-test-sock2"' '"/tmp/lure-bench-libuv-sock2"'
patch_copy task.h '"/tmp/uv-test-sock3"' '"/tmp/lure-bench-libuv-sock3"'
if [ "$FULL" != 1 ]; then
  patch_copy benchmark-async.c '#define NUM_PINGS (1000 * 1000)' '#define NUM_PINGS (50 * 1000)'
  patch_copy benchmark-async-pummel.c '#define NUM_PINGS               (1000 * 1000)' '#define NUM_PINGS (250 * 1000)'
  patch_copy benchmark-fs-stat.c '#define NUM_SYNC_REQS         (10 * 1e5)' '#define NUM_SYNC_REQS (5 * 1e5)'
  patch_copy benchmark-fs-stat.c '#define NUM_ASYNC_REQS        (1 * (int) 1e5)' '#define NUM_ASYNC_REQS (3 * (int) 1e4)'
  patch_copy benchmark-getaddrinfo.c '#define TOTAL_CALLS 10000' '#define TOTAL_CALLS 5000'
  patch_copy benchmark-loop-count.c '#define NUM_TICKS (2 * 1000 * 1000)' '#define NUM_TICKS (500 * 1000)'
  patch_copy benchmark-loop-count.c 'uv_timer_start(&timer_handle, timer_cb, 5000, 0);' 'uv_timer_start(&timer_handle, timer_cb, 2000, 0);'
  patch_copy benchmark-loop-count.c 'ticks / 5.0' 'ticks / 2.0'
  patch_copy benchmark-million-async.c 'timeout = 5000;' 'timeout = 2000;'
  patch_copy benchmark-million-timers.c '#define NUM_TIMERS (10 * 1000 * 1000)' '#define NUM_TIMERS (1000 * 1000)'
  patch_copy benchmark-multi-accept.c '#define NUM_CONNECTS  (250 * 1000)' '#define NUM_CONNECTS (20 * 1000)'
  patch_copy benchmark-ping-pongs.c '#define TIME 5000' '#define TIME 2000'
  patch_copy benchmark-ping-udp.c '#define TIME 5000' '#define TIME 2000'
  patch_copy benchmark-pound.c 'uv_now(loop) - start < 10000' 'uv_now(loop) - start < 2000'
  patch_copy benchmark-pump.c '#define STATS_COUNT                 5' '#define STATS_COUNT 2'
  patch_copy benchmark-queue-work.c 'timeout = 5000;' 'timeout = 2000;'
  patch_copy benchmark-spawn.c 'static int N = 1000;' 'static int N = 500;'
  patch_copy benchmark-tcp-write-batch.c '#define NUM_WRITE_REQS  (1000 * 1000)' '#define NUM_WRITE_REQS (200 * 1000)'
  patch_copy benchmark-thread.c '#define NUM_THREADS (20 * 1000)' '#define NUM_THREADS (10 * 1000)'
  patch_copy benchmark-udp-pummel.c '#define TEST_DURATION 5000' '#define TEST_DURATION 2000'
  patch_copy benchmark-udp-pummel.c 'packet_counter = (unsigned int) 1e6;' 'packet_counter = (unsigned int) 1e5;'
fi

CORE="run-benchmarks.c runner.c runner-unix.c"
PARTS=$(cd "$SRC" && ls benchmark-*.c echo-server.c blackhole-server.c)
CFLAGS_B="-g -O2 -pthread -D_GNU_SOURCE -Wno-all -Wno-extra"

# first_missing ERRFILE DIR: the first name the compiler did not know, from
# the first error.  For "field 'x' has incomplete type" the missing name is
# the field's type, read from the source line.
first_missing() {
  e=$(grep -m1 ' error: ' "$1")
  [ -n "$e" ] || { echo "see $(basename "$1")"; return; }
  case $e in
    *"has incomplete type"*|*"storage size of"*)
      loc=$(printf '%s' "$e" | cut -d: -f1,2)
      f=${loc%%:*} l=${loc#*:}
      t=$(sed -n "${l}p" "$2/$f" | grep -oE '(union |struct )?uv_[a-z0-9_]+' | head -n 1)
      echo "${t:-$(printf '%s' "$e" | sed 's/.* error: //')}" ;;
    *"has no member named"*)
      printf '%s\n' "$e" | sed "s/.*has no member named '\\([^']*\\)'.*/member \\1/" ;;
    *)
      n=$(printf '%s' "$e" | grep -oE "'[A-Za-z_][A-Za-z0-9_]*'" | head -n 1 | tr -d "'")
      echo "${n:-$(printf '%s' "$e" | sed 's/.* error: //')}" ;;
  esac
}

# build NAME INCLUDE-FLAGS LIBS: compile the copy into $WORK/NAME.
build() {
  name=$1 incs=$2 libs=$3
  d=$WORK/$name
  rm -rf "$d"
  mkdir -p "$d/obj"
  (cd "$SRC" && printf '%s\n' $PARTS $CORE | grep -vx run-benchmarks.c |
    LC_ALL=C xargs -P "$JOBS" -n 1 sh -c '
      f=$1; o='"$d"'/obj/${f%.c}.o
      '"$CC $CFLAGS_B -Werror=implicit-function-declaration $incs"' -c "$f" -o "$o" 2>"${o%.o}.err" || rm -f "$o"' sh)
  for f in $CORE; do
    [ "$f" = run-benchmarks.c ] && continue
    [ -f "$d/obj/${f%.c}.o" ] || { sed 's/^/    /' "$d/obj/${f%.c}.err" | head -n 20; die "$name: runner file $f does not build"; }
  done
  for f in $PARTS; do
    [ -f "$d/obj/${f%.c}.o" ] && continue
    printf '%s\t%s\n' "$f" "$(first_missing "$d/obj/${f%.c}.err" "$SRC")"
  done >"$d/blocked.txt"
  nm --defined-only "$d"/obj/*.o 2>/dev/null |
    awk '$3 ~ /^run_(benchmark|helper)_/ {print $3}' | sort -u >"$d/defined.txt"
}

# filter_list DEFINED: benchmark-list.h with only what DEFINED has.
filter_list() {
  awk -v defs="$1" '
    BEGIN { while ((getline s < defs) > 0) have[s] = 1 }
    /^[ \t]*(BENCHMARK_DECLARE|BENCHMARK_ENTRY|BENCHMARK_HELPER|HELPER_DECLARE)[ \t]*\(/ {
      line = $0
      sub(/^[ \t]*/, "", line)
      kind = line; sub(/[ \t]*\(.*/, "", kind)
      args = line; sub(/^[^(]*\(/, "", args); sub(/\).*/, "", args)
      gsub(/[ \t]/, "", args)
      split(args, a, ",")
      if (kind == "HELPER_DECLARE") ok = ("run_helper_" a[1]) in have
      else if (kind == "BENCHMARK_HELPER")
        ok = (("run_benchmark_" a[1]) in have) && (("run_helper_" a[2]) in have)
      else ok = ("run_benchmark_" a[1]) in have
      if (!ok) next
    }
    { print }' "$SRC/benchmark-list.h"
}

# link NAME LIBS: the runner of NAME with the common benchmark list.
link_runner() {
  name=$1 libs=$2 incs=$3
  d=$WORK/$name
  cp "$WORK/benchmark-list.h" "$d/benchmark-list.h"
  # run-benchmarks.c includes "benchmark-list.h" from its own folder: a
  # copy of it next to the filtered list picks that one.
  cp "$SRC/run-benchmarks.c" "$d/run-benchmarks.c"
  (cd "$d" && LC_ALL=C $CC $CFLAGS_B $incs -I"$SRC" -c run-benchmarks.c -o obj/run-benchmarks.o) ||
    die "$name: run-benchmarks.c with the filtered list does not build"
  # Objects of benchmarks the other side could not build stay out.
  objs=""
  for o in "$d"/obj/*.o; do
    f=$(basename "$o" .o).c
    if [ "$f" != run-benchmarks.c ] && grep -q "^$f	" "$WORK/lure/blocked.txt"; then
      continue
    fi
    objs="$objs $o"
  done
  # shellcheck disable=SC2086
  $CC -pthread -o "$d/run-benchmarks" $objs $libs -lutil -lm 2>"$d/link.err" ||
    { cat "$d/link.err"; die "$name: the runner does not link"; }
}

say "building libuv's benchmarks against Debian's libuv1 and against lure's uv.h"
build libuv "" "-luv"
LURE_INCS="-I$srcdir/include/lure -I$srcdir/include"
LURE_LIBS="-L$top_builddir/.libs -llure -Wl,-rpath,$top_builddir/.libs"
build lure "$LURE_INCS" "$LURE_LIBS"
[ -s "$WORK/libuv/blocked.txt" ] && { cat "$WORK/libuv/blocked.txt"; die "libuv's benchmarks do not build against libuv itself"; }
# Both runners run what lure can build: the symbols both sides define.
comm -12 "$WORK/libuv/defined.txt" "$WORK/lure/defined.txt" >"$WORK/defined.txt"
filter_list "$WORK/defined.txt" >"$WORK/benchmark-list.h"
link_runner libuv "-luv" ""
link_runner lure "$LURE_LIBS" "$LURE_INCS"

# Benchmarks that the list names and the lure runner lacks, each with the
# file that stopped it (found through the baseline's objects).
all=$(sed -n 's/^[ \t]*BENCHMARK_ENTRY[ \t]*(\([a-z0-9_]*\)).*/\1/p' "$SRC/benchmark-list.h")
built=$(sed -n 's/^[ \t]*BENCHMARK_ENTRY[ \t]*(\([a-z0-9_]*\)).*/\1/p' "$WORK/benchmark-list.h")
: >"$WORK/skipped.txt"
for b in $all; do
  printf '%s\n' $built | grep -qx "$b" && continue
  # The benchmark's own file, or its helper's when the benchmark built.
  why="" file=""
  for sym in "run_benchmark_$b" $(sed -n "s/^[ \t]*BENCHMARK_HELPER[ \t]*($b,[ \t]*\([a-z0-9_]*\)).*/run_helper_\1/p" "$SRC/benchmark-list.h"); do
    for o in "$WORK"/libuv/obj/*.o; do
      if nm --defined-only "$o" 2>/dev/null | awk '{print $3}' | grep -qx "$sym"; then
        f=$(basename "$o" .o).c
        w=$(awk -F'\t' -v f="$f" '$1 == f {print $2}' "$WORK/lure/blocked.txt")
        if [ -n "$w" ]; then file=$f why=$w; break 2; fi
      fi
    done
  done
  printf '%s\t%s\t%s\n' "$b" "${file:-?}" "${why:-not built}" >>"$WORK/skipped.txt"
done

# ---- 3. run --------------------------------------------------------------
if [ $# -gt 0 ]; then
  SELECTED=$*
elif [ "$FULL" = 1 ]; then
  SELECTED=$all
else
  SELECTED=$QUICK
fi

# Which wait points this host has: a forced io_uring that the kernel
# refuses gives an epoll loop, and that column would lie.
SIDES="libuv uring epoll"
have_uring=1
if [ -x "$top_builddir/tools/lure-info" ] &&
   [ "$(LURE_BACKEND=uring "$top_builddir/tools/lure-info" --backend 2>/dev/null)" != io_uring ]; then
  have_uring=0
  say "io_uring is not usable here: the lure io_uring column stays empty"
fi

# Helper processes: a benchmark with helpers runs through the runner.
(cd "$WORK" && ./libuv/run-benchmarks --list 2>/dev/null) >"$WORK/list.txt"

RES=$WORK/results.tsv
: >"$RES"
rm -rf "$WORK/logs" "$WORK/run"
mkdir -p "$WORK/logs" "$WORK/run"
start=$(date +%s)

# port_listened PORT: whether a TCP socket listens on PORT (IPv4 or IPv6).
port_listened() {
  awk -v p="$(printf ':%04X' "$1")" '
    FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
    END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# run_one BENCH SIDE N: one run; appends "bench side n status" to $RES.st
# and leaves the output in logs/.
run_one() {
  b=$1 side=$2 n=$3
  log=$WORK/logs/$b.$side.$n.log
  case $side in
    libuv) runner=$WORK/libuv/run-benchmarks; envs="" ;;
    uring) runner=$WORK/lure/run-benchmarks; envs="LURE_BACKEND=uring" ;;
    epoll) runner=$WORK/lure/run-benchmarks; envs="LURE_BACKEND=epoll" ;;
  esac
  left=$((BUDGET - ($(date +%s) - start)))
  t=$RUN_TIMEOUT
  [ $left -lt $t ] && t=$left
  [ $t -lt 5 ] && t=5
  if grep -q "^$b .*(helpers:" "$WORK/list.txt"; then
    set -- "$runner" "$b"
  else
    set -- "$runner" "$b" "$b"
  fi
  # The previous run's helper server may still hold TEST_PORT a moment
  # after its runner ended: a new helper then cannot listen, and the
  # client's connections are refused until the old one is gone, each
  # counted in the pound rate as if it were a connection (seen on both
  # sides: 20-23k "conns/s" with ~40,000 failed, against 14-16k with none).
  # Wait for the port to be free.
  i=0
  while port_listened 9223 && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  # A fresh folder, and no socket file left by the previous run (the
  # runner removes them itself, its child part does not).
  rm -rf "$WORK/run" /tmp/lure-bench-libuv-sock /tmp/lure-bench-libuv-sock2 /tmp/lure-bench-libuv-sock3
  mkdir -p "$WORK/run"
  # Through a shell of its own, whose stderr is the log: when a run
  # crashes, that shell's "Aborted" goes to the log, not to the table.
  # shellcheck disable=SC2086
  sh -c 'cd "$1" && shift && "$@"; exit $?' sh "$WORK/run" \
    env UV_RUN_AS_ROOT=1 $envs timeout -k 5 "$t" "$@" >"$log" 2>&1 </dev/null
  rc=$?
  if [ $rc = 124 ] || [ $rc = 137 ]; then st=timeout
  elif [ $rc != 0 ]; then st="fail"
  elif grep -qE '\([1-9][0-9]* failed\)' "$log"; then st="conns-failed"
  else st=ok
  fi
  printf '%s\t%s\t%s\t%s\n' "$b" "$side" "$n" "$st" >>"$RES.st"
  if [ $st = ok ]; then
    parse_log "$b" <"$log" | sed "s/^/$b	$side	$n	/" >>"$RES"
  fi
}

# parse_log BENCH: the figures in one run's output, one per line:
# row, value, unit, higher|lower.  Each benchmark prints its own format;
# numbers from libuv's fmt() carry thousands separators.
parse_log() {
  awk -v b="$1" '
    function between(s, a, z,   i, t) {
      i = index(s, a); if (!i) return ""
      t = substr(s, i + length(a)); i = index(t, z); if (!i) return ""
      return substr(t, 1, i - 1)
    }
    function out(row, v, unit, dir) {
      if (v ~ /^[0-9]+(\.[0-9]+)?$/) printf "%s\t%s\t%s\t%s\n", row, v, unit, dir
    }
    {
      sub(/^# /, "")
      while (match($0, /[0-9],[0-9][0-9][0-9]/)) $0 = substr($0, 1, RSTART) substr($0, RSTART + 2)
    }
    b == "sizes" && /^uv_[a-z_]+_t: [0-9]+ bytes$/ { r = $1; sub(/:$/, "", r); out("sizes:" r, $2, "bytes", "lower") }
    b == "loop_count" && /^loop_count: .* ticks in / { out(b, between($0, "(", "/s)"), "ticks/s", "higher") }
    b == "loop_count_timed" && /^loop_count: .* ticks \(/ { out(b, between($0, "(", " ticks/s)"), "ticks/s", "higher") }
    b == "ping_pongs" && /^ping_pongs: [0-9]+ roundtrips\/s/ { out(b, $2, "roundtrips/s", "higher") }
    b ~ /^ping_udp/ && /^ping_pongs: .* pingers, ~ / { out(b, between($0, "~ ", " roundtrips/s"), "roundtrips/s", "higher") }
    b == "tcp_write_batch" && / write requests in / { out(b, between($0, " in ", "s."), "s", "lower") }
    b ~ /_pump[0-9]+_client$/ && $1 ~ /_pump[0-9]+_client:$/ { out(b, $2, "gbit/s", "higher") }
    b ~ /_pound_/ && $1 ~ /-conn-pound-[0-9]+:$/ { out(b, $2, "conns/s", "higher") }
    b ~ /^tcp_multi_accept/ && /^accept[0-9]+: / { out(b, $2, "accepts/s", "higher") }
    b ~ /pummel_[0-9]+v[0-9]+$/ && /^udp_pummel_[0-9]+v[0-9]+: / { out(b, between($0, ": ", "/s received"), "recv/s", "higher") }
    b == "getaddrinfo" && /^getaddrinfo: / { out(b, $2, "req/s", "higher") }
    # "N stats (sync): 1.23s (R/s)", "N stats (K concurrent): ...": the
    # rate follows the "): ".  Rows: sync, 1 and 8 concurrent requests
    # (fmt() runs out of its static buffer after 16 levels, so the lines of
    # 16 to 32 have no readable rate).
    b == "fs_stat" && / stats \(sync\): / {
      out("fs_stat:sync", between(substr($0, index($0, "): ")), "(", "/s)"), "stats/s", "higher")
    }
    b == "fs_stat" && / stats \([0-9]+ concurrent\): / {
      k = between($0, "(", " concurrent")
      v = between(substr($0, index($0, "): ")), "(", "/s)")
      if (k == 1 || k == 8) out("fs_stat:" k "conc", v, "stats/s", "higher")
    }
    b ~ /^async[0-9]+$/ && /^async[0-9]+: / { out(b, between($0, "(", "/sec)"), "pings/s", "higher") }
    b ~ /^async_pummel_/ && /^async_pummel_[0-9]+: / { out(b, between($0, "(", "/sec)"), "callbacks/s", "higher") }
    b == "queue_work" && / async jobs in / { out(b, between($0, "(", "/s)"), "jobs/s", "higher") }
    b == "million_async" && / async events in / { out(b, between($0, "(", "/s,"), "events/s", "higher") }
    b == "million_timers" && /^[0-9.]+ seconds total$/ { out(b, $1, "s", "lower") }
    b == "spawn" && /^spawn: / { out(b, $2, "spawns/s", "higher") }
    b == "thread_create" && / threads created in / { out(b, between($0, "(", "/s)"), "threads/s", "higher") }'
}

# rotated_sides N: the sides in round N's order, turned N - 1 places.
rotated_sides() {
  printf '%s\n' $SIDES | awk -v n="$1" '
    { s[NR - 1] = $0 }
    END { for (i = 0; i < NR; i++) printf "%s%s", s[(i + n - 1) % NR], (i < NR - 1 ? " " : "\n") }'
}

: >"$RES.st"
nsel=$(printf '%s\n' $SELECTED | grep -c .)
say "running $nsel benchmarks, each on libuv, lure io_uring, lure epoll (budget ${BUDGET}s, ${RUN_TIMEOUT}s a run)"
for b in $SELECTED; do
  if ! printf '%s\n' $all | grep -qx "$b"; then
    say "no benchmark named $b"
    printf '%s\t-\t0\tunknown\n' "$b" >>"$RES.st"
    continue
  fi
  if ! printf '%s\n' $built | grep -qx "$b"; then
    continue  # listed with the skipped ones
  fi
  if [ $(($(date +%s) - start)) -ge "$BUDGET" ]; then
    printf '%s\t-\t0\tbudget\n' "$b" >>"$RES.st"
    continue
  fi
  printf '  %-28s' "$b"
  n=1
  while [ $n -le "$REPEAT" ]; do
    for side in $(rotated_sides "$n"); do
      if [ $side = uring ] && [ $have_uring = 0 ]; then
        printf '%s\t%s\t%s\tn/a\n' "$b" "$side" "$n" >>"$RES.st"
        continue
      fi
      run_one "$b" $side $n
      printf ' %s' "$(awk -F'\t' -v b="$b" -v s=$side -v n=$n '$1 == b && $2 == s && $3 == n {r = $4} END {print s ":" r}' "$RES.st")"
    done
    n=$((n + 1))
  done
  printf '\n'
done
elapsed=$(($(date +%s) - start))

# ---- 4. report -----------------------------------------------------------
# One line per figure: the median of each side's values, or the run's
# status when it gave none.  A ratio is the median of the rounds' own
# ratios: round n runs libuv, lure io_uring and lure epoll one right after
# the other (in turned order), so its three runs meet the same load of
# this shared host,
# while the median of each side alone may take its libuv and its lure
# figures from different rounds, minutes apart.  With one round the two
# are the same.
awk -F'\t' -v stf="$RES.st" -v json="$JSON" -v ver="$UVVER" \
    -v mode="$([ "$FULL" = 1 ] && echo full || echo quick)" \
    -v repeat="$REPEAT" -v elapsed="$elapsed" -v skf="$WORK/skipped.txt" \
    -v kernel="$(uname -r)" -v date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return a[int((n + 1) / 2)]
  }
  # The spread of the runs of one side, (max - min) / median, in percent: how
  # far that side moves against itself on this host (shown for libuv, so
  # that a ratio can be read against the noise of the baseline itself).
  function spread(list,   n, a, i, lo, hi, m) {
    n = split(list, a, " ")
    if (n < 2) return ""
    lo = hi = a[1] + 0
    for (i = 2; i <= n; i++) { if (a[i] + 0 < lo) lo = a[i] + 0; if (a[i] + 0 > hi) hi = a[i] + 0 }
    m = median(list) + 0
    return m > 0 ? sprintf("%.0f", (hi - lo) / m * 100) : ""
  }
  function show(v) { return v >= 100 ? sprintf("%.0f", v) : sprintf("%.2f", v) }
  function jnum(v) { return v == "" ? "null" : v }
  function jstr(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
  # A side that gave no figure: its worst status for the benchmark.
  function status(b, s) {
    if ((b SUBSEP s) in st) return st[b, s]
    if ((b SUBSEP "-") in st) return st[b, "-"] == "budget" ? "not run" : st[b, "-"]
    return "-"
  }
  BEGIN {
    while ((getline l < stf) > 0) {
      split(l, f, "\t")
      if (!((f[1]) in seen)) { seen[f[1]] = 1; order[++nb] = f[1] }
      if (!((f[1] SUBSEP f[2]) in st) || st[f[1], f[2]] == "ok") st[f[1], f[2]] = f[4]
    }
  }
  {
    key = $4
    if (!(key in rseen)) { rseen[key] = 1; rows[$1] = rows[$1] " " key; unit[key] = $6; dir[key] = $7 }
    vals[key, $2] = vals[key, $2] " " $5
    rv[key, $2, $3] = $5
  }
  # The ratio of side s to libuv in each round that has both figures
  # (oriented: > 1 is lure better), as a list.
  function round_ratios(key, s,   n, l, a, b) {
    l = ""
    for (n = 1; n <= repeat; n++) {
      if (!((key SUBSEP "libuv" SUBSEP n) in rv) || !((key SUBSEP s SUBSEP n) in rv)) continue
      a = rv[key, "libuv", n] + 0; b = rv[key, s, n] + 0
      if (a <= 0 || b <= 0) continue
      l = l " " sprintf("%.4f", dir[key] == "lower" ? a / b : b / a)
    }
    return l
  }
  function jlist(l,   n, a, i, o) {
    n = split(l, a, " "); o = ""
    for (i = 1; i <= n; i++) o = o (i > 1 ? ", " : "") sprintf("%.2f", a[i])
    return "[" o "]"
  }
  END {
    nsides = split("libuv uring epoll", side, " ")
    printf "\nlibuv %s benchmarks (%s mode%s), %s on libuv, lure io_uring, lure epoll\n", ver, mode,
      (repeat > 1 ? ", median of " repeat : ""), "each run alone"
    printf "%-26s %-12s %12s %12s %12s %9s %9s %9s\n", "benchmark", "unit", "libuv", "lure-uring", "lure-epoll", "uring/uv", "epoll/uv", "uv spread"
    nj = 0
    for (i = 1; i <= nb; i++) {
      b = order[i]
      nr = split(rows[b], r, " ")
      if (nr == 0) { nr = 1; r[1] = b; unit[b] = "-"; nofig = 1 } else nofig = 0
      for (k = 1; k <= nr; k++) {
        key = r[k]
        line = sprintf("%-26s %-12s", key, unit[key])
        delete v
        for (s = 1; s <= nsides; s++) {
          v[s] = (key SUBSEP side[s]) in vals ? median(vals[key, side[s]]) : ""
          line = line sprintf(" %12s", v[s] != "" ? show(v[s]) : (status(b, side[s]) == "ok" ? "no figure" : status(b, side[s])))
        }
        for (s = 2; s <= nsides; s++) {
          ratio[s] = ""
          rl[s] = nofig ? "" : round_ratios(key, side[s])
          if (rl[s] != "")
            ratio[s] = sprintf("%.2f", median(rl[s]))
          line = line sprintf(" %9s", ratio[s] != "" ? ratio[s] : "-")
        }
        sp = (key SUBSEP "libuv") in vals ? spread(vals[key, "libuv"]) : ""
        line = line sprintf(" %9s", sp != "" ? sp "%" : "-")
        print line
        js[++nj] = sprintf("    {\"name\": %s, \"benchmark\": %s, \"unit\": %s, \"better\": %s, \"libuv\": %s, \"lure_uring\": %s, \"lure_epoll\": %s, \"ratio_uring\": %s, \"ratio_epoll\": %s, \"round_ratios_uring\": %s, \"round_ratios_epoll\": %s, \"libuv_spread_percent\": %s, \"status\": {\"libuv\": %s, \"uring\": %s, \"epoll\": %s}}",
          jstr(key), jstr(b), nofig ? "null" : jstr(unit[key]), nofig ? "null" : jstr(dir[key]),
          jnum(v[1]), jnum(v[2]), jnum(v[3]), jnum(ratio[2]), jnum(ratio[3]), jlist(rl[2]), jlist(rl[3]), jnum(sp),
          jstr(status(b, "libuv")), jstr(status(b, "uring")), jstr(status(b, "epoll")))
      }
    }
    printf "(ratio > 1.00: lure better; for a time, libuv/lure; %s; uv spread: (max - min) / median of the libuv runs; ran %ds)\n",
      (repeat > 1 ? "ratio: the median of the " repeat " per-round ratios (a round runs the three sides back to back, in an order that turns each round)" : "one round"), elapsed
    ns = 0
    while ((getline l < skf) > 0) { split(l, f, "\t"); sk[++ns] = sprintf("    {\"benchmark\": %s, \"file\": %s, \"missing\": %s}", jstr(f[1]), jstr(f[2]), jstr(f[3])) }
    printf "{\n  \"libuv_version\": %s,\n  \"mode\": %s,\n  \"repeat\": %d,\n  \"ratio\": \"median of the per-round ratios\",\n  \"kernel\": %s,\n  \"date\": %s,\n  \"seconds\": %d,\n  \"higher_ratio_is_better\": true,\n  \"results\": [\n", jstr(ver), jstr(mode), repeat, jstr(kernel), jstr(date), elapsed >json
    for (i = 1; i <= nj; i++) printf "%s%s\n", js[i], i < nj ? "," : "" >json
    printf "  ],\n  \"skipped\": [\n" >json
    for (i = 1; i <= ns; i++) printf "%s%s\n", sk[i], i < ns ? "," : "" >json
    printf "  ]\n}\n" >json
  }' "$RES"

if [ -s "$WORK/skipped.txt" ]; then
  printf '\nskipped: these do not build against lure'"'"'s uv.h (file, first missing name)\n'
  awk -F'\t' '{ printf "  %-28s %-26s %s\n", $1, $2, $3 }' "$WORK/skipped.txt"
fi
nb=$(awk -F'\t' '$4 == "budget"' "$RES.st" | wc -l)
[ "$nb" -gt 0 ] && say "$nb benchmarks not run: the ${BUDGET}s budget ran out (BENCH_LIBUV_BUDGET)"
say "JSON: $JSON"

# A run that fails on lure and not on libuv is a bug worth a non-zero exit;
# slow figures never are.
bad=$(awk -F'\t' '
  $2 == "libuv" { base[$1] = base[$1] == "" || base[$1] == "ok" ? $4 : base[$1] }
  $2 == "uring" || $2 == "epoll" { if ($4 != "ok" && $4 != "n/a") lure[$1] = lure[$1] " " $2 ":" $4 }
  END { for (b in lure) if (base[b] == "ok") print b lure[b] }' "$RES.st")
if [ "${BENCH_LIBUV_KEEP:-0}" != 1 ]; then
  rm -rf "$WORK/run"
  [ -z "$bad" ] && rm -rf "$WORK/logs"
fi
if [ -n "$bad" ]; then
  say "runs that fail on lure and not on libuv (logs in $WORK/logs):"
  printf '%s\n' "$bad" | sed 's/^/    /'
  exit 1
fi
exit 0
