#!/bin/sh
# diff.sh [START [COUNT]] - the differential run (tests/lure-diff.c): seeds
# START..START+COUNT-1 (default 1 and 200) on every executor variant of
# this host inside one process (uring, uring-masked, uring-old, uring-eagain,
# uring-single, epoll),
# then the same seeds once more where io_uring_setup fails (tests/nouring
# ENOSYS: the fallback a seccomp'd container gets), compared with the
# first run through a digest of each seed's trace.
#
# "make check-diff" runs it with 200 seeds (DIFF_START, DIFF_COUNT);
# tests/diff.test runs a short slice of it in "make check".  A failing
# seed is printed with the command that runs it again, verbose.
# Exit status: 0 all equal, 1 a difference or a broken invariant, 77 when
# no variant can run.
b="${builddir:-.}/tests"
start=${1:-1}
count=${2:-200}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lure-diff.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
export TMPDIR="$tmp"

t0=$(date +%s)
"$b/lure-diff" --start "$start" --count "$count" --digest >"$tmp/ref"
rc=$?
if [ $rc -ne 0 ]; then
  echo "diff.sh: lure-diff failed ($rc): see above" >&2
  exit $rc
fi
t1=$(date +%s)
echo "diff.sh: seeds $start..$((start + count - 1)) agree on every variant ($((t1 - t0)) s)"

if [ ! -x "$b/nouring" ]; then
  echo "diff.sh: tests/nouring not built: the no-io_uring set is left out"
  exit 0
fi
"$b/nouring" ENOSYS "$b/lure-diff" --variants default \
  --start "$start" --count "$count" --digest >"$tmp/nouring"
rc=$?
if [ $rc -eq 77 ]; then
  echo "diff.sh: SKIP of the nouring set: seccomp cannot filter here"
  exit 0
fi
if [ $rc -ne 0 ]; then
  echo "diff.sh: lure-diff under tests/nouring failed ($rc): see above" >&2
  exit 1
fi
if ! cmp -s "$tmp/ref" "$tmp/nouring"; then
  echo "diff.sh: the nouring set differs from the in-process variants:" >&2
  diff "$tmp/ref" "$tmp/nouring" | sed -n 's/^> \([0-9]*\) .*/\1/p' |
    while read -r s; do
      echo "  seed $s; compare:" >&2
      echo "    $b/lure-diff --start $s --count 1 --variants uring --verbose" >&2
      echo "    $b/nouring ENOSYS $b/lure-diff --start $s --count 1 --variants default --verbose" >&2
    done
  exit 1
fi
echo "diff.sh: the nouring set agrees on all $count seeds ($(( $(date +%s) - t1 )) s)"
exit 0
