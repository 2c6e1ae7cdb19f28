#!/bin/bash
# http-smoke.sh - a functional check of lure-http (examples/http), bounded to
# a few seconds: start the server on a free port of 127.0.0.1, check every
# route and error code, keep-alive, pipelined requests answered in order, a
# client that leaves in the middle of a 4 MiB answer, then stop it with
# SIGTERM: it must exit 0 with nothing left open.  The client is bash's
# /dev/tcp.  Done on the ring (the default), on epoll (LURE_BACKEND=epoll),
# with --threads 2, and on lure-http-libuv when it is built, as the oracle
# that the checks themselves are right.
set -u
b=${builddir:-.}/examples/http
bin=$b/lure-http
[ -x "$bin" ] || { echo "lure-http not built"; exit 77; }
tmp=$(mktemp -d)
pid=
server_args=
trap '[ -n "$pid" ] && kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT

mkdir "$tmp/www"
printf 'small-file-body\n' >"$tmp/www/small.txt"
head -c 65536 /dev/urandom >"$tmp/www/f64k"
head -c 4194304 /dev/urandom >"$tmp/www/big"
printf 'secret\n' >"$tmp/secret"

fail() {
  echo "$set_name: FAIL: $*"
  [ -n "$pid" ] && kill -KILL $pid 2>/dev/null
  pid=
  exit 1
}

# send RAW: write RAW (printf %b escapes) on a new connection and print the
# whole answer, read until the server closes (every request list ends with
# "Connection: close").  Bounded by timeout.
send() {
  timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$port"' || exit 1
    printf "%b" "$1" >&3; cat <&3' _ "$1"
}

R='\r\n'
get() { printf 'GET %s HTTP/1.1\\r\\nHost: t\\r\\n%s\\r\\n' "$1" "${2:-}"; }
CLOSE='Connection: close\r\n'

status_of() { head -n 1 | tr -d '\r' | cut -d' ' -f2; }

check_status() { # URL-REQUEST WANT WHAT
  got=$(send "$1" | status_of)
  [ "$got" = "$2" ] || fail "$3: status '$got', want $2"
}

start() {
  # The server's shell opens (and truncates) out after we go on: a report
  # left by the previous run would pass the wait below and give its port.
  rm -f "$tmp/out" "$tmp/err"
  env "$@" "$bin" --port 0 --dir "$tmp/www" --quiet $server_args >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  i=0
  while ! grep -q '^executor:' "$tmp/out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 100 ] && { cat "$tmp/out" "$tmp/err"; fail "server did not start"; }
    kill -0 $pid 2>/dev/null || { cat "$tmp/err"; fail "server exited"; }
    sleep 0.05
  done
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/out")
  [ -n "$port" ] || fail "no port in: $(cat "$tmp/out")"
}

stop() {
  kill -TERM $pid
  wait $pid
  rc=$?
  pid=
  [ $rc -eq 0 ] || { cat "$tmp/out" "$tmp/err"; fail "exit status $rc"; }
  grep -q '^open at exit: 0 connections, 0 responses$' "$tmp/out" ||
    { cat "$tmp/out"; fail "something left open at exit"; }
}

run_set() {
  set_name=$1
  shift
  start "$@"
  exec_name=$(sed -n 's/^executor: //p' "$tmp/out")

  # /plaintext: headers and body.
  out=$(send "$(get /plaintext "$CLOSE")")
  [ "$(printf '%s' "$out" | status_of)" = 200 ] || fail "/plaintext: $out"
  case $out in *$'\r\n\r\nHello, World!') ;; *) fail "/plaintext body: $out" ;; esac
  printf '%s' "$out" | grep -q $'^Content-Length: 13\r$' || fail "/plaintext length"

  # /file/NAME: the bytes of the file, 64 KiB and 4 MiB (several chunks).
  for f in f64k big small.txt; do
    send "$(get /file/$f "$CLOSE")" >"$tmp/got"
    size=$(wc -c <"$tmp/www/$f")
    tail -c "$size" "$tmp/got" | cmp -s - "$tmp/www/$f" || fail "/file/$f: body differs"
    [ "$(wc -c <"$tmp/got")" -lt $((size + 200)) ] || fail "/file/$f: too long"
    grep -aq $'^Content-Length: '"$size"$'\r$' "$tmp/got" || fail "/file/$f: length"
  done
  # HEAD: the headers only.
  out=$(send "HEAD /file/small.txt HTTP/1.1${R}Host: t${R}${CLOSE}${R}")
  printf '%s' "$out" | grep -q $'^Content-Length: 16\r$' || fail "HEAD: $out"
  case $out in *small-file-body*) fail "HEAD sent a body" ;; esac

  # /sleep?ms=N: a timer.
  t0=$(date +%s%N)
  out=$(send "$(get '/sleep?ms=200' "$CLOSE")")
  t1=$(date +%s%N)
  case $out in *'slept 200 ms'*) ;; *) fail "/sleep: $out" ;; esac
  [ $(((t1 - t0) / 1000000)) -ge 190 ] || fail "/sleep answered after $(((t1 - t0) / 1000000)) ms"

  # Errors.
  check_status "$(get /nothing "$CLOSE")" 404 "unknown route"
  check_status "$(get /file/missing "$CLOSE")" 404 "missing file"
  check_status "$(get /file/../secret "$CLOSE")" 404 "path traversal"
  check_status "$(get /file/%2e%2e%2fsecret "$CLOSE")" 404 "encoded traversal"
  check_status "$(get /file/.hidden "$CLOSE")" 404 "dot file"
  check_status "$(get '/sleep?ms=abc' "$CLOSE")" 400 "bad sleep"
  check_status "$(get '/sleep' "$CLOSE")" 400 "sleep without ms"
  check_status "GARBAGE${R}${R}" 400 "malformed request line"
  check_status "GET /plaintext HTTP/1.1${R}Bad Header Line${R}${R}" 400 "malformed header"
  big=$(head -c 9000 /dev/zero | tr '\0' a)
  check_status "GET /plaintext HTTP/1.1${R}X-Big: $big${R}${R}" 413 "oversized header"
  check_status "GET /$big HTTP/1.1${R}${R}" 413 "oversized URL"
  check_status "POST /plaintext HTTP/1.1${R}Content-Length: 3${R}${CLOSE}${R}abc" 405 "POST"
  # HTTP/1.0 without keep-alive: answered and closed.
  check_status "GET /plaintext HTTP/1.0${R}${R}" 200 "HTTP/1.0"

  # Pipelining: five requests in one write, answered in request order,
  # though the first (a timer) is ready last.
  out=$(send "$(get '/sleep?ms=100')$(get /plaintext)$(get /file/small.txt)$(get /nothing)$(get /plaintext "$CLOSE")")
  order=$(printf '%s' "$out" | grep -ao 'slept 100 ms\|Hello, World!\|small-file-body\|404 Not Found$' | tr '\n' ',')
  [ "$order" = "slept 100 ms,Hello, World!,small-file-body,404 Not Found,Hello, World!," ] ||
    fail "pipelined answers out of order: $order"
  # Keep-alive: two requests in two writes on one connection.
  out=$(timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$port"'
    printf "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n" >&3; sleep 0.2
    printf "GET /file/small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" >&3
    cat <&3')
  [ "$(printf '%s' "$out" | grep -ao 'HTTP/1.1 200' | wc -l)" = 2 ] || fail "keep-alive: $out"
  # Clients that leave in the middle of an answer: 4 MiB files and a
  # pending timer, closed unread or after a few bytes.
  for i in 1 2 3 4; do
    timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$port"'
      printf "GET /file/big HTTP/1.1\r\nHost: t\r\n\r\nGET /sleep?ms=300 HTTP/1.1\r\nHost: t\r\n\r\nGET /file/big HTTP/1.1\r\nHost: t\r\n\r\n" >&3
      if [ '"$i"' -gt 2 ]; then head -c 100000 <&3 >/dev/null; fi
      exec 3>&-' || fail "disconnecting client $i"
  done
  sleep 0.4
  kill -0 $pid 2>/dev/null || fail "server died after disconnects"
  check_status "$(get /plaintext "$CLOSE")" 200 "after disconnects"
  reqs=$(sed -n 's/^total: [0-9]* connections, \([0-9]*\) requests.*/\1/p' "$tmp/out")
  stop
  grep -q '^total: ' "$tmp/out" || fail "no report"
  echo "$set_name: ok ($exec_name, port $port): $(grep '^total:' "$tmp/out" | cut -d, -f1-2)"
}

# --threads 2: one listener per loop on one port; every connection is
# served by one of them (files too), and both loops report.
run_threads() {
  set_name="threads 2${1:+ ($1)}"
  shift
  server_args="--threads 2"
  start "$@"
  server_args=
  grep -q '^threads: 2$' "$tmp/out" || fail "threads line"
  # Odd connections ask for a file: with epoll it is read on the shared
  # thread pool, whose completions must reach the loop that asked.
  for i in $(seq 1 24); do
    if [ $((i % 2)) = 1 ]; then
      out=$(send "$(get /file/small.txt "$CLOSE")")
      case $out in *small-file-body*) ;; *) fail "connection $i: $out" ;; esac
    else
      out=$(send "$(get /plaintext "$CLOSE")")
      case $out in *'Hello, World!') ;; *) fail "connection $i: $out" ;; esac
    fi
  done
  stop
  grep -q '^loop 1: ' "$tmp/out" || fail "no loop 1 in the report"
  [ "$(sed -n 's/^total: \([0-9]*\) connections.*/\1/p' "$tmp/out")" = 24 ] ||
    fail "connections: $(cat "$tmp/out")"
  echo "$set_name: ok: $(grep '^loop' "$tmp/out" | tr '\n' ' ')"
}

# --threads 2 with 20 connections open at once: the kernel's SO_REUSEPORT
# hash alone splits them 9/11 or worse one run in two; the loops hand
# connections over so that each serves 10 +- 1.  Every connection gets its
# answer, then all close.
run_balance() {
  set_name="balance${1:+ ($1)}"
  shift
  server_args="--threads 2"
  start "$@"
  server_args=
  timeout 20 bash -c '
    for i in $(seq 1 20); do
      exec {fd}<>/dev/tcp/127.0.0.1/'"$port"' || exit 1
      fds="$fds $fd"
    done
    for fd in $fds; do
      printf "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n" >&$fd || exit 1
    done
    for fd in $fds; do
      IFS= read -r line <&$fd || exit 1
      case $line in "HTTP/1.1 200 OK"*) ;; *) exit 1 ;; esac
    done
    for fd in $fds; do exec {fd}>&-; done' || fail "20 connections at once"
  stop
  set -- $(sed -n 's/^loop [0-9]*: \([0-9]*\) connections.*/\1/p' "$tmp/out")
  [ $# = 2 ] && [ $(($1 + $2)) = 20 ] || fail "connections: $(cat "$tmp/out")"
  d=$(($1 - $2))
  [ ${d#-} -le 2 ] || fail "unbalanced: $1 and $2 connections"
  echo "$set_name: ok: $1 and $2 connections ($(sed -n 's/^loop \([0-9]*\): .*, \([0-9]*\) handed over$/\2 from loop \1/p' "$tmp/out" | tr '\n' ' '))"
}

run_set "lure (default)" || exit 1
run_set "lure epoll" LURE_BACKEND=epoll || exit 1
run_threads "" || exit 1
run_threads epoll LURE_BACKEND=epoll || exit 1
run_balance "" || exit 1
run_balance epoll LURE_BACKEND=epoll || exit 1
if [ -x "$b/lure-http-libuv" ]; then
  bin=$b/lure-http-libuv
  run_set "libuv (oracle)" || exit 1
  run_balance "libuv (oracle)" || exit 1

fi
exit 0
