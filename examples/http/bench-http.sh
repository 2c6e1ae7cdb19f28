#!/bin/bash
# bench-http.sh - wrk against lure-http and lure-http-libuv, in one run, on
# 127.0.0.1 only; every wrk run is bounded by -d.
#
#   bench-http.sh [--quick] [--duration S] [--repeat N] [--no-threads]
#                 [--wrk-threads N]
#                 [--rows NAME,NAME] [--json FILE] [--plot FILE]
#
# Rows (lure and libuv alternate within each row, each row --repeat times;
# the figures are medians):
#   plaintext  c=1, c=100, c=1000, and c=100 pipelined 16 deep (pipeline.lua)
#   plaintext c=1 again, lure's side a server run with LURE_BUSY_POLL=0
#              (plaintext-c1-nobusy: lure-http's loops otherwise spin up
#              to 50 us before they sleep, LURE_LOOP_BUSY_POLL)
#   file 64 KiB c=100
# and, unless --no-threads (or --quick), the scaling rows: lure-http with
# --threads 1 and --threads 2 (and libuv likewise) at c=100, each a fresh
# server stopped with SIGTERM, whose report gives the requests it served
# per CPU-second of the whole server process (getrusage) and the
# connections of each loop.
#
# wrk runs with --wrk-threads threads (default 2: -t2).  With -t1 on this
# 2-CPU machine wrk itself is the limit: it runs at ~98% of its CPU while
# either server has CPU to spare, so requests/s measured wrk (and a faster
# server even cost wrk more per request: fewer answers per wake-up).  With
# -t2 client and server share both CPUs, and the CPU a server does not
# spend is wrk's to use: requests/s then ranks the servers by their cost.
# The table's srv% and wrk% columns show which side was the limit.  The table gives requests/s,
# latency p50 and p99 from wrk --latency, the server's CPU time per request
# (from /proc/PID/stat, µs), how busy each side kept its CPU (srv%: the
# server's CPU time over the run's wall time; wrk%: wrk's, from the
# shell's `times`), and the ratios lure/libuv for requests/s and
# libuv/lure for p99 (above 1, lure is ahead on both).  With wrk% near
# 100 and srv% well below it, the client is the limit: requests/s then
# measures wrk, and cpu us/r is the server's figure to compare.
#
# Environment: builddir (where examples/http is), srcdir (pipeline.lua),
# WRK, GNUPLOT.
set -u
builddir=${builddir:-.}
srcdir=${srcdir:-.}
WRK=${WRK:-wrk}
GNUPLOT=${GNUPLOT:-gnuplot}
duration=3
repeat=1
quick=0
threads_rows=1
json=bench/http.json
plot=bench/http.svg
only_rows=
wrk_threads=2

while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; duration=2; threads_rows=0 ;;
    --duration) duration=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --no-threads) threads_rows=0 ;;
    --rows) only_rows=$2; shift ;;
    --threads) threads_rows=1 ;;
    --wrk-threads) wrk_threads=$2; shift ;;
    --json) json=$2; shift ;;
    --plot) plot=$2; shift ;;
    *) echo "bench-http: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

lure_bin=$builddir/examples/http/lure-http
uv_bin=$builddir/examples/http/lure-http-libuv
lua=$srcdir/examples/http/pipeline.lua
[ -x "$lure_bin" ] || { echo "bench-http: $lure_bin not built (libhttp-parser-dev?)" >&2; exit 1; }
command -v "$WRK" >/dev/null 2>&1 || { echo "bench-http: no wrk (apt-get install wrk)" >&2; exit 1; }
have_uv=0
[ -x "$uv_bin" ] && have_uv=1
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

tmp=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/www"
head -c 65536 /dev/urandom >"$tmp/www/f64k"

# start_server SIDE OUTFILE [ARGS...]: sets SPID and SPORT.
start_server() {
  local side=$1 out=$2 bin
  shift 2
  bin=$lure_bin
  [ "$side" = libuv ] && bin=$uv_bin
  # The server's shell truncates out after we go on: a report left by the
  # previous run in the same file would pass the wait below.
  rm -f "$out"
  # shellcheck disable=SC2086
  env ${SRV_ENV:-} "$bin" --port 0 --dir "$tmp/www" --quiet "$@" >"$out" 2>&1 &
  local pid=$! i=0
  pids="$pids $pid"
  while ! grep -q '^executor:' "$out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 $pid 2>/dev/null; then
      echo "bench-http: $side server did not start:" >&2
      cat "$out" >&2
      exit 1
    fi
    sleep 0.05
  done
  SPID=$pid
  SPORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$out")
}

# CPU ticks (user + system) of a process and its threads.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

# A latency of wrk's output ("812.00us", "1.20ms", "2.01s") in µs.
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") f = 1; else if (u == "ms") f = 1000; else if (u == "s") f = 1000000;
    else if (u == "m") f = 60000000; else f = 1
    printf "%.1f", n * f }'
}

# run_wrk SIDE PID PORT CONNS PATH DEPTH
#   -> "rps p50us p99us cpu_us_per_req server_cpu% wrk_cpu% [ERR]"
run_wrk() {
  local side=$1 pid=$2 port=$3 conns=$4 path=$5 depth=$6 out=$tmp/wrk.out
  local script=() c0 c1
  [ "$depth" -gt 1 ] && script=(-s "$lua")
  local t0 t1 wrk_cpu wt=$wrk_threads
  [ "$conns" -lt "$wt" ] && wt=$conns # wrk wants a connection per thread
  c0=$(cpu_ticks "$pid")
  t0=$(date +%s%N)
  # bash's `time` gives wrk's CPU (user + system), so that the table shows
  # which side ran out of CPU.
  local TIMEFORMAT='%U %S'
  { time {
    if [ "$depth" -gt 1 ]; then
      "$WRK" -t"$wt" -c"$conns" -d"${duration}s" --timeout 5s --latency "${script[@]}" \
        "http://127.0.0.1:$port$path" -- "$depth" >"$out" 2>&1
    else
      "$WRK" -t"$wt" -c"$conns" -d"${duration}s" --timeout 5s --latency \
        "http://127.0.0.1:$port$path" >"$out" 2>&1
    fi
  } ; } 2>"$tmp/wrk.time"
  wrk_cpu=$(awk '{printf "%.3f", $1 + $2}' "$tmp/wrk.time")
  t1=$(date +%s%N)
  c1=$(cpu_ticks "$pid")
  local rps p50 p99 reqs errs
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p50=$(awk '/Latency Distribution/ {d=1} d && $1=="50%" {print $2; exit}' "$out")
  p99=$(awk '/Latency Distribution/ {d=1} d && $1=="99%" {print $2; exit}' "$out")
  reqs=$(awk '/requests in/ {print $1; exit}' "$out")
  errs=$(awk '/Socket errors|Non-2xx/ {gsub(/,/, ""); s = s $0 "; "} END {print s}' "$out")
  [ -n "$rps" ] || { echo "bench-http: wrk failed:" >&2; cat "$out" >&2; rps=0; }
  local cpu_us="0"
  if [ -n "$reqs" ] && [ "$reqs" -gt 0 ]; then
    cpu_us=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  fi
  local wall srv_pct wrk_pct
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", (b - a) / 1e9}')
  srv_pct=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v w="$wall" 'BEGIN {printf "%.0f", (w > 0 ? t / hz / w * 100 : 0)}')
  wrk_pct=$(awk -v c="${wrk_cpu:-0}" -v w="$wall" 'BEGIN {printf "%.0f", (w > 0 ? c / w * 100 : 0)}')
  echo "$rps $(to_us "${p50:-0}") $(to_us "${p99:-0}") $cpu_us $srv_pct $wrk_pct ${errs:+ERR}"
  [ -n "$errs" ] && echo "bench-http: $side $path c=$conns: $errs" >&2
  return 0
}

median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print 0; else print a[int((NR + 1) / 2)]}'; }

sides="lure"
[ $have_uv = 1 ] && sides="lure libuv"
declare -A srv_pid srv_port
for s in $sides; do
  start_server $s "$tmp/$s.start"
  srv_pid[$s]=$SPID
  srv_port[$s]=$SPORT
done
lure_exec=$(sed -n 's/^executor: //p' "$tmp/lure.start")
uv_exec=""
[ $have_uv = 1 ] && uv_exec=$(sed -n 's/^executor: //p' "$tmp/libuv.start")

# NAME:CONNECTIONS:PATH:DEPTH[:nobusy]; "nobusy": lure's side is a server
# run with LURE_BUSY_POLL=0 (its loops do not spin before they sleep, as
# lure-http's do by default; see lure_loop_configure(3)), libuv's the same
# server as the other rows.
rows="plaintext-c1:1:/plaintext:1 plaintext-c1-nobusy:1:/plaintext:1:nobusy plaintext-c100:100:/plaintext:1 plaintext-c1000:1000:/plaintext:1 plaintext-c100-pipe16:100:/plaintext:16 file64k-c100:100:/file/f64k:1"
if [ -n "$only_rows" ]; then
  keep=""
  for spec in $rows; do
    case ",$only_rows," in *",${spec%%:*},"*) keep="$keep $spec" ;; esac
  done
  rows=$keep
fi
case " $rows" in
*:nobusy*)
  SRV_ENV=LURE_BUSY_POLL=0 start_server lure "$tmp/lure-nobusy.start"
  srv_pid[lure-nobusy]=$SPID
  srv_port[lure-nobusy]=$SPORT ;;
esac

echo "lure-http vs lure-http-libuv, wrk -t$wrk_threads (-t1 at c=1) -d${duration}s --latency on 127.0.0.1, median of $repeat"
echo "lure: $lure_exec; libuv: ${uv_exec:-not built}; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %-6s %11s %10s %10s %9s %5s %5s %9s %8s\n' row side "req/s" "p50 us" "p99 us" "cpu us/r" "srv%" "wrk%" "vs libuv" "p99 x"
mkdir -p "$(dirname "$json")"
rowjson=""
datfile=$tmp/plot.dat
: >"$datfile"
for spec in $rows; do
  IFS=: read -r name conns path depth variant <<<"$spec"
  # The server each side's figures come from.
  declare -A key=([lure]=lure [libuv]=libuv)
  [ "$variant" = nobusy ] && key[lure]=lure-nobusy
  # Warm-up: the page cache, the servers' first allocations (--quick: the
  # file row only).
  if [ $quick = 0 ] || [ "${path#/file}" != "$path" ]; then
    for s in $sides; do
      timeout 5 "$WRK" -t1 -c"$conns" -d1s "http://127.0.0.1:${srv_port[${key[$s]}]}$path" >/dev/null 2>&1
    done
  fi
  for s in $sides; do : >"$tmp/$name.$s"; done
  for r in $(seq 1 "$repeat"); do
    for s in $sides; do
      run_wrk $s "${srv_pid[${key[$s]}]}" "${srv_port[${key[$s]}]}" "$conns" "$path" "$depth" >>"$tmp/$name.$s"
    done
  done
  for s in $sides; do
    f=$tmp/$name.$s
    rps=$(cut -d' ' -f1 "$f" | median)
    p50=$(cut -d' ' -f2 "$f" | median)
    # wrk sometimes prints a 99th percentile of 0.00us for pipelined runs
    # (its own defect): such runs give no p99, and the median is over the
    # others (0 when none is left, shown as "-" in the ratio).
    p99=$(cut -d' ' -f3 "$f" | awk '$1 > 0' | median)
    cpu=$(cut -d' ' -f4 "$f" | median)
    spct=$(cut -d' ' -f5 "$f" | median)
    wpct=$(cut -d' ' -f6 "$f" | median)
    err=$(grep -c ERR "$f")
    eval "r_$s=\$rps; p50_$s=\$p50; p99_$s=\$p99; cpu_$s=\$cpu; err_$s=\$err; spct_$s=\$spct; wpct_$s=\$wpct"
  done
  ratio="-" p99x="-"
  if [ $have_uv = 1 ]; then
    ratio=$(awk -v a="$r_lure" -v b="$r_libuv" 'BEGIN {printf (b > 0 ? "%.2fx" : "-"), a / b}')
    p99x=$(awk -v a="$p99_lure" -v b="$p99_libuv" 'BEGIN {printf (a > 0 && b > 0 ? "%.2fx" : "-"), b / a}')
  fi
  for s in $sides; do
    eval "rps=\$r_$s; p50=\$p50_$s; p99=\$p99_$s; cpu=\$cpu_$s; spct=\$spct_$s; wpct=\$wpct_$s"
    if [ $s = lure ]; then
      printf '%-22s %-6s %11.0f %10.1f %10.1f %9s %5s %5s %9s %8s\n' "$name" $s "$rps" "$p50" "$p99" "$cpu" "$spct" "$wpct" "$ratio" "$p99x"
    else
      printf '%-22s %-6s %11.0f %10.1f %10.1f %9s %5s %5s\n' "" $s "$rps" "$p50" "$p99" "$cpu" "$spct" "$wpct"
    fi
  done
  j="{\"row\": \"$name\", \"path\": \"$path\", \"connections\": $conns, \"pipeline\": $depth"
  for s in $sides; do
    eval "j=\"\$j, \\\"$s\\\": {\\\"requests_per_s\\\": \$r_$s, \\\"p50_us\\\": \$p50_$s, \\\"p99_us\\\": \$p99_$s, \\\"server_cpu_us_per_request\\\": \$cpu_$s, \\\"server_cpu_percent\\\": \$spct_$s, \\\"wrk_cpu_percent\\\": \$wpct_$s, \\\"runs_with_errors\\\": \$err_$s}\""
  done
  # "-" (no figure: wrk printed a 99th percentile of 0.00us, which its
  # pipelined runs sometimes do, or a side had no requests) is null in JSON.
  jr=${ratio%x} jp=${p99x%x}
  [ "$jr" = "-" ] && jr=null
  [ "$jp" = "-" ] && jp=null
  [ $have_uv = 1 ] && j="$j, \"ratio_requests\": $jr, \"ratio_p99\": $jp"
  j="$j}"
  rowjson="${rowjson:+$rowjson,
    }$j"
  echo "$name ${r_lure} ${r_libuv:-0}" >>"$datfile"
done

for s in "${!srv_pid[@]}"; do
  kill -TERM "${srv_pid[$s]}" 2>/dev/null
  wait "${srv_pid[$s]}" 2>/dev/null
done

# Scaling: a fresh server per configuration, stopped with SIGTERM; its
# report gives requests per CPU-second and the connections per loop.
scalejson=""
if [ $threads_rows = 1 ]; then
  echo
  echo "one loop per thread (SO_REUSEPORT), /plaintext c=100, wrk -t1 -d${duration}s; server CPU from its getrusage at exit"
  printf '%-6s %-8s %11s %12s %12s %s\n' side threads "req/s" "req/cpu-s" "vs 1 thread" "connections per loop, each run"
  for r in $(seq 1 "$repeat"); do
    for s in $sides; do
      for t in 1 2; do
        start_server $s "$tmp/scale.out" --threads $t
        pid=$SPID port=$SPORT
        timeout 5 "$WRK" -t1 -c100 -d1s "http://127.0.0.1:$port/plaintext" >/dev/null 2>&1
        "$WRK" -t1 -c100 -d"${duration}s" "http://127.0.0.1:$port/plaintext" >"$tmp/wrk.out" 2>&1
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk.out")
        per=$(sed -n 's/.* \([0-9]*\) requests per cpu-second$/\1/p' "$tmp/scale.out")
        loops=$(sed -n 's/^loop \([0-9]*\): \([0-9]*\) connections.*/\2/p' "$tmp/scale.out" | tr '\n' ' ')
        echo "${rps:-0} ${per:-0} $loops" >>"$tmp/scale.$s.$t"
      done
    done
  done
  for s in $sides; do
    base=""
    for t in 1 2; do
      f=$tmp/scale.$s.$t
      rps=$(cut -d' ' -f1 "$f" | median)
      per=$(cut -d' ' -f2 "$f" | median)
      # The connections per loop of every run, and the worst balance.
      loops=$(cut -d' ' -f3- "$f" | tr '\n' '/' | sed 's/ *\/ */ \/ /g; s/ \/ $//')
      bal=$(awk '{mn = $3; mx = $3; for (i = 4; i <= NF; i++) {if ($i < mn) mn = $i; if ($i > mx) mx = $i}
        b = (mx > 0 ? mn / mx : 1); if (NR == 1 || b < w) w = b} END {printf "%.2f", w}' "$f")
      [ -z "$base" ] && base=$per
      vs=$(awk -v a="$per" -v b="$base" 'BEGIN {printf (b > 0 ? "%.2fx" : "-"), a / b}')
      printf '%-6s %-8s %11.0f %12s %12s %s (min/max %s)\n' $s $t "$rps" "$per" "$vs" "$loops" "$bal"
      sj="{\"side\": \"$s\", \"threads\": $t, \"requests_per_s\": $rps, \"requests_per_cpu_s\": $per, \"ratio_per_cpu_vs_1_thread\": ${vs%x}, \"worst_loop_balance_min_over_max\": $bal, \"connections_per_loop\": \"$loops\"}"
      scalejson="${scalejson:+$scalejson,
    }$sj"
    done
  done
fi

{
  echo "{"
  echo "  \"tool\": \"bench-http.sh\", \"wrk\": \"-t$wrk_threads -d${duration}s --latency\", \"repeat\": $repeat,"
  echo "  \"lure_executor\": \"$lure_exec\", \"libuv\": \"$uv_exec\", \"cpus\": $(nproc),"
  echo "  \"rows\": ["
  echo "    $rowjson"
  echo "  ],"
  echo "  \"threads\": ["
  echo "    $scalejson"
  echo "  ]"
  echo "}"
} >"$json"
echo "wrote $json"

if command -v "$GNUPLOT" >/dev/null 2>&1 && [ -n "$plot" ]; then
  "$GNUPLOT" <<EOF 2>/dev/null && echo "wrote $plot"
set terminal svg size 900,480 dynamic
set output "$plot"
set title "lure-http vs lure-http-libuv (wrk -t$wrk_threads -d${duration}s, 127.0.0.1)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "requests/s"
set yrange [0:*]
set xtics rotate by -20
set key top right
plot "$datfile" using 2:xtic(1) title "lure ($lure_exec)", '' using 3 title "libuv"
EOF
fi
exit 0
