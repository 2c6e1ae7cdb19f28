#!/bin/sh
# echo-smoke.sh - start tools/lure-echo on a free TCP port and a Unix socket,
# echo a line over TCP with bash's /dev/tcp, stop it with SIGTERM and check
# that it exits 0 and removes its socket file.  Done for the default
# executor and for epoll.  (The Check suites test Unix sockets in depth.)
set -u
bin=${builddir:-.}/tools/lure-echo
[ -x "$bin" ] || { echo "lure-echo not built"; exit 77; }
command -v bash >/dev/null 2>&1 || { echo "no bash"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run_set() {
  set_name=$1
  shift
  # The server's shell opens (and truncates) out after we go on: a report
  # left by the previous run would pass the wait below and give its port.
  rm -f "$tmp/out"
  env "$@" "$bin" --port 0 --unix "$tmp/echo.sock" --quiet >"$tmp/out" 2>&1 &
  pid=$!
  i=0
  while ! grep -q '^executor:' "$tmp/out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "$set_name: server did not start"; cat "$tmp/out"; kill $pid; return 1; }
    sleep 0.05
  done
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/out")
  exec_name=$(sed -n 's/^executor: //p' "$tmp/out")
  reply=$(bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf 'hello lure\n' >&3; IFS= read -r line <&3; printf '%s' \"\$line\"")
  if [ "$reply" != "hello lure" ]; then
    echo "$set_name ($exec_name): TCP echo gave '$reply'"; kill $pid; return 1
  fi
  kill -TERM $pid
  wait $pid
  rc=$?
  if [ $rc -ne 0 ]; then echo "$set_name: exit status $rc"; return 1; fi
  [ -e "$tmp/echo.sock" ] && { echo "$set_name: socket file left behind"; return 1; }
  echo "$set_name: ok (executor $exec_name, port $port)"
  return 0
}

run_set default || exit 1
run_set epoll LURE_BACKEND=epoll || exit 1
exit 0
