#!/bin/sh
# stress.sh - "make check-stress": the stress cases (tests/stress/lure-stress)
# and the NULL sweep (tests/stress/null-sweep) once per executor set:
#   uring    io_uring as the wait point (skipped, with the reason printed,
#            when this host cannot set up a ring)
#   epoll    LURE_BACKEND=epoll
#   nouring  io_uring_setup fails with ENOSYS (tests/nouring's seccomp
#            filter), nothing forced: lure must fall back by itself
# Each set prints its summary lines; the script fails when any set fails.
# LURE_STRESS_SEED / LURE_STRESS_SEEDS pass through to lure-stress;
# STRESS_SETS="uring epoll" runs some sets only; STRESS_CASES="storm fork"
# some cases only.
b="${builddir:-.}/tests"
s="${srcdir:-.}/tests"
sets=${STRESS_SETS:-"uring epoll nouring"}
status=0
t0=$(date +%s)

# Each program ends its own hangs (a watchdog thread, alarm(2) in forked
# children); timeout(1) is the backstop so that CI never waits forever.
limit=600
run() {
  timeout -k 10 "$limit" "$@"
}

# The sweep must be able to fail: lure_mutex_lock(NULL) aborts (as libuv's
# does, hence its exemption); without the exemption list the sweep has to
# report it as a crash.
if "$b/stress/null-sweep" -s self-check lure_mutex_lock >/dev/null 2>&1; then
  echo "check-stress: FAIL: null-sweep did not report lure_mutex_lock(NULL)'s abort" >&2
  status=1
else
  echo "check-stress: null-sweep self-check: an unexempted abort is reported"
fi

for set in $sets; do
  t1=$(date +%s)
  unset LURE_BACKEND LURE_URING_DISABLE
  case $set in
    uring)
      backend=$("$b/lure-backend")
      if [ "$backend" != io_uring ]; then
        echo "check-stress: set uring SKIPPED: io_uring is not usable here (a fresh loop gets $backend)"
        continue
      fi
      wrap="env LURE_BACKEND=uring"
      ;;
    epoll)
      wrap="env LURE_BACKEND=epoll"
      ;;
    nouring)
      backend=$("$b/nouring" ENOSYS "$b/lure-backend")
      rc=$?
      if [ $rc -eq 77 ]; then
        echo "check-stress: set nouring SKIPPED: seccomp cannot filter io_uring_setup here"
        continue
      fi
      if [ $rc -ne 0 ] || [ "$backend" != epoll ]; then
        echo "check-stress: set nouring: a loop got \"$backend\" (exit $rc) with io_uring_setup failing" >&2
        status=1
        continue
      fi
      wrap="$b/nouring ENOSYS"
      ;;
    *)
      echo "check-stress: unknown set $set" >&2
      exit 2
      ;;
  esac
  echo "check-stress: ===== set $set ====="
  # shellcheck disable=SC2086
  if ! LURE_STRESS_SET=$set run $wrap "$b/stress/lure-stress" $STRESS_CASES; then
    echo "check-stress: FAIL: set $set: lure-stress" >&2
    status=1
  fi
  # shellcheck disable=SC2086
  if ! LURE_STRESS_SET=$set run $wrap "$b/stress/null-sweep" -t 5 \
      -x "$s/stress/null-sweep-exempt.txt"; then
    echo "check-stress: FAIL: set $set: null-sweep" >&2
    status=1
  fi
  echo "check-stress: set $set took $(( $(date +%s) - t1 ))s"
done
echo "check-stress: all sets took $(( $(date +%s) - t0 ))s"
exit $status
