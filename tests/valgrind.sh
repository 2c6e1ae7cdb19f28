#!/bin/sh
# valgrind.sh SET - lure's own Check suites (tests/lure-tests,
# tests/lure-fs-tests, tests/lure-net-tests) under valgrind memcheck on one
# executor set: "uring" (the ring is the wait point) or "epoll"
# (LURE_BACKEND=epoll).  SET "diff" runs the differential generator
# (tests/lure-diff, VG_DIFF_COUNT seeds, default 10, on every variant of
# the host) under memcheck instead.  "make check-valgrind" runs all three.
#
# Each Check test runs in a forked child (CK_FORK, the default); valgrind
# follows fork() by itself, so each test gets its own error report and
# leak check at its exit, in its own log (%p).  A memcheck error in a test
# makes the child exit with --error-exitcode, which Check reports as that
# test's error, and the summary below counts the errors and definite
# leaks of every process from the logs.  Programs the tests exec
# (lure_spawn's children) run natively (--trace-children=no).
#
#   - suppressions: tests/valgrind.supp, each with its reason;
#   - tests valgrind cannot run: tests/valgrind-skip.txt, each with its
#     reason, left out through LURE_TEST_SKIP (tests/test-skip.c);
#   - Check's per-test timeouts are multiplied by CK_TIMEOUT_MULTIPLIER
#     (default 10 here): memcheck runs code 10-50 times slower.
#
# Environment: builddir and srcdir (default .), VALGRIND (default
# valgrind), VG_LOGDIR (default tests/valgrind-SET), VG_PROGRAMS (default:
# the three programs).  Exit status: 0 when every program passed and the
# logs hold no error and no definite leak; 1 otherwise; 77 when valgrind
# or the set is missing here.
set -u
set=${1:?usage: valgrind.sh uring|epoll}
b="${builddir:-.}/tests"
src="${srcdir:-.}"
vg=${VALGRIND:-valgrind}
logdir=${VG_LOGDIR:-$b/valgrind-$set}
programs=${VG_PROGRAMS:-lure-tests lure-fs-tests lure-net-tests}

if ! command -v "$vg" >/dev/null 2>&1; then
  echo "valgrind.sh: SKIP: $vg is not installed (bootstrap.sh installs it)"
  exit 77
fi
unset LURE_BACKEND LURE_URING_DISABLE
case $set in
uring)
  if [ "$("$b/lure-backend")" != io_uring ]; then
    echo "valgrind.sh: SKIP: io_uring is not usable here"
    exit 77
  fi ;;
epoll)
  LURE_BACKEND=epoll
  export LURE_BACKEND ;;
diff)
  programs=lure-diff ;;
*)
  echo "valgrind.sh: unknown set \"$set\"" >&2
  exit 2 ;;
esac
LURE_TEST_SET=$set
export LURE_TEST_SET

# The skip list: "SET TEST reason", SET one of uring, epoll, all.
LURE_TEST_SKIP=$(sed -e 's/#.*//' "$src/tests/valgrind-skip.txt" |
  awk -v s="$set" 's != "diff" && NF >= 2 && ($1 == s || $1 == "all") { print $2 }' |
  tr '\n' ' ')
export LURE_TEST_SKIP
: "${CK_TIMEOUT_MULTIPLIER:=10}"
export CK_TIMEOUT_MULTIPLIER

rm -rf "$logdir"
mkdir -p "$logdir" || exit 99
echo "valgrind.sh: set $set: $(echo "$LURE_TEST_SKIP" | wc -w) test(s) left out (tests/valgrind-skip.txt); logs in $logdir"

status=0
total_err=0
total_def=0
t_all=$(date +%s)
for p in $programs; do
  t0=$(date +%s)
  args=
  if [ "$p" = lure-diff ]; then
    args="--count ${VG_DIFF_COUNT:-10} --timeout 900"
  fi
  # shellcheck disable=SC2086
  "$vg" --max-threads=1200 --error-exitcode=42 --leak-check=full \
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --num-callers=24 --suppressions="$src/tests/valgrind.supp" \
    --log-file="$logdir/$p.%p.log" "$b/$p" $args >"$logdir/$p.out" 2>&1
  rc=$?
  t1=$(date +%s)
  # Every process's own summary line (valgrind prints it at each exit).
  err=$(cat "$logdir/$p".*.log | sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' |
    awk '{ s += $1 } END { print s + 0 }')
  def=$(cat "$logdir/$p".*.log | sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' |
    tr -d , | awk '{ s += $1 } END { print s + 0 }')
  procs=$(ls "$logdir/$p".*.log | wc -l)
  checks=$(grep -o -E 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+|seeds [0-9.]+, .*failed' "$logdir/$p.out" | tail -n 1)
  printf 'valgrind.sh: set %s, %s: %s; %s processes, %s errors, %s bytes definitely lost; exit %s; %s s\n' \
    "$set" "$p" "${checks:-no Check summary}" "$procs" "$err" "$def" "$rc" "$((t1 - t0))"
  total_err=$((total_err + err))
  total_def=$((total_def + def))
  if [ "$rc" -ne 0 ] || [ "$err" -ne 0 ] || [ "$def" -ne 0 ]; then
    status=1
    grep -E ':[FE]:|FAILED|HANG|differs' "$logdir/$p.out" | sed 's/^/  /'
    for f in $(grep -l -E 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]' "$logdir/$p".*.log); do
      echo "  ---- $f"
      grep -v -E '^==[0-9]+== *$' "$f" | head -n 60 | sed 's/^/  /'
    done
  fi
done
printf 'valgrind.sh: set %s total: %s errors, %s bytes definitely lost, %s s\n' \
  "$set" "$total_err" "$total_def" "$(( $(date +%s) - t_all ))"
exit $status
