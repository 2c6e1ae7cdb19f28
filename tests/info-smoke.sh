#!/bin/sh
# info-smoke.sh - tools/lure-info names an executor for every kind of
# handle and request lure has, and follows the environment that changes
# the routing: LURE_BACKEND=epoll moves the wait-point rows to epoll,
# LURE_PIDFD_DISABLE moves child exits to SIGCHLD, LURE_URING_DISABLE=statx
# moves stat (and fs poll) to the thread pool, LURE_FS_ADAPT and a forced
# wait point turn the buffered-write router off.  Also checks that --json
# carries the same rows.
set -u
bin=${builddir:-.}/tools/lure-info
[ -x "$bin" ] || { echo "lure-info not built"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# row OUT NAME -> the executor column of operation NAME
row() {
  sed -n "s/^  $2  *\([a-z_]*\( ([^)]*)\)\{0,1\}\).*/\1/p" "$1" | head -n 1
}

expect() { # file name want label
  got=$(row "$1" "$2")
  if [ "$got" != "$3" ]; then
    echo "FAIL $4: $2 is '$got', want '$3'"
    fails=$((fails + 1))
  else
    echo "ok   $4: $2 -> $got"
  fi
}

"$bin" >"$tmp/default" || { echo "lure-info failed"; exit 1; }
for op in process_exit fs_event fs_poll tty_read tty_write random work; do
  [ -n "$(row "$tmp/default" $op)" ] || {
    echo "FAIL default: no row for $op"; fails=$((fails + 1)); }
done

if grep -q '^wait point      io_uring' "$tmp/default"; then
  wp="io_uring (POLL_ADD)"
  LURE_URING_DISABLE=statx "$bin" >"$tmp/nostatx"
  expect "$tmp/nostatx" fs_stat threadpool "statx masked"
  expect "$tmp/nostatx" fs_poll threadpool "statx masked"
  expect "$tmp/default" fs_poll io_uring "ring"
  # The adaptive router of buffered writes: on by default with the ring,
  # off with LURE_FS_ADAPT=0 or a forced wait point (unless =1).
  expect "$tmp/default" fs_write "io_uring (adaptive)" "router on"
  LURE_FS_ADAPT=0 "$bin" >"$tmp/noadapt"
  expect "$tmp/noadapt" fs_write io_uring "LURE_FS_ADAPT=0"
  LURE_BACKEND=uring "$bin" >"$tmp/forced"
  expect "$tmp/forced" fs_write io_uring "forced wait point"
  LURE_BACKEND=uring LURE_FS_ADAPT=1 "$bin" >"$tmp/forced1"
  expect "$tmp/forced1" fs_write "io_uring (adaptive)" "forced, LURE_FS_ADAPT=1"
else
  wp="epoll"
fi
expect "$tmp/default" fs_event "$wp" "default"
expect "$tmp/default" tty_read "$wp" "default"
expect "$tmp/default" random threadpool "default"

LURE_BACKEND=epoll "$bin" >"$tmp/epoll"
expect "$tmp/epoll" fs_event epoll "epoll"
expect "$tmp/epoll" tty_write epoll "epoll"
expect "$tmp/epoll" fs_poll threadpool "epoll"
expect "$tmp/epoll" process_exit "epoll (pidfd)" "epoll"

LURE_BACKEND=epoll LURE_PIDFD_DISABLE=1 "$bin" >"$tmp/sigchld"
expect "$tmp/sigchld" process_exit "epoll (SIGCHLD)" "LURE_PIDFD_DISABLE"
grep -q 'LURE_PIDFD_DISABLE    1' "$tmp/sigchld" || {
  echo "FAIL: the environment section does not show LURE_PIDFD_DISABLE"
  fails=$((fails + 1)); }

"$bin" --json >"$tmp/json"
for op in process_exit fs_event fs_poll tty_read random; do
  grep -q "\"$op\"" "$tmp/json" || {
    echo "FAIL json: no $op"; fails=$((fails + 1)); }
done

[ $fails -eq 0 ] || exit 1
echo "lure-info: all rows present and routed as the environment asks"
