#!/bin/sh
# bench-smoke.sh - lure-bench is a benchmark, not a test; this only proves
# that each subcommand runs and that its JSON parses with the fields of
# issue 4: tool, version, kernel, suite, params, and per result executor,
# ops, ops_per_s and lat_us (p50, p90, p99, p999, max); for net also the
# connection count, message size and mode (bulk, udp), MB/s of bulk runs
# and the server process's figures.
#
# Run by `make check` from the build directory.  Exit 77 (skipped) when
# lure-bench was not built.

bench=./tools/lure-bench
if [ ! -x "$bench" ]; then
  echo "bench-smoke: $bench was not built: skipped"
  exit 77
fi

# The data file goes in the build tree rather than /tmp, which may be a
# tmpfs without O_DIRECT.
tmp=$(mktemp -d ./bench-smoke.XXXXXX) || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

fails=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}

if command -v python3 >/dev/null 2>&1; then
  have_python=1
else
  have_python=0
fi

# check_json FILE SUITE: one document of the issue's format (or, for SUITE
# "quick", a {"tool":..., "runs":[...]} holding such documents).  SUITE
# "net" is a TCP run, "net-udp" a net --udp run.
check_json() {
  if [ "$have_python" = 1 ]; then
    python3 - "$1" "$2" <<'EOF'
import json, sys

path, suite = sys.argv[1], sys.argv[2]
executors = {"io_uring", "aio", "threadpool", "epoll", "libuv"}

def check(doc, want, udp=None):
    assert doc["tool"] == "lure-bench", "tool"
    assert isinstance(doc["version"], str) and doc["version"], "version"
    assert isinstance(doc["kernel"], str) and doc["kernel"], "kernel"
    assert doc["suite"] == want, "suite %r, not %r" % (doc["suite"], want)
    assert isinstance(doc["params"], dict), "params"
    assert doc["results"], "no results"
    for r in doc["results"]:
        assert r["executor"] in executors, "executor %r" % r["executor"]
        assert isinstance(r["ops"], int) and r["ops"] > 0, "ops"
        assert r["ops_per_s"] > 0, "ops_per_s"
        lat = r["lat_us"]
        for k in ("p50", "p90", "p99", "p999", "max"):
            assert lat[k] >= 0, k
        assert lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
        if r["executor"] == "libuv":
            assert "syscalls_per_op" not in r, "libuv has no syscall count"
        else:
            assert r["syscalls_per_op"] >= 0, "syscalls_per_op"
        if want == "net":
            p = doc["params"]
            assert p["conns"] >= 1 and p["size"] >= 1, "net params"
            assert isinstance(p["bulk"], bool), "bulk"
            assert isinstance(p["udp"], bool), "udp"
            if udp is not None:
                assert p["udp"] == udp, "udp %r, not %r" % (p["udp"], udp)
            if p["udp"]:
                assert not p["bulk"], "udp and bulk"
            assert r["executor"] in ("io_uring", "epoll", "libuv"), "net executor"
            if p["bulk"]:
                assert r["mb_per_s"] > 0, "mb_per_s"
            else:
                assert "mb_per_s" not in r, "mb_per_s without --bulk"
            srv = r["server"]
            assert srv["ops"] >= r["ops"], "server ops"
            assert srv["cpu_us_per_op"] >= 0, "server cpu"
            assert ("syscalls_per_op" in srv) == (r["executor"] != "libuv"), \
                "server syscalls_per_op"

with open(path) as f:
    doc = json.load(f)
if suite == "quick":
    assert doc["tool"] == "lure-bench"
    seen = set()
    for run in doc["runs"]:
        assert "error" not in run, run.get("error")
        check(run, run["suite"])
        seen.add(run["suite"])
        if run["suite"] == "net" and run["params"]["udp"]:
            seen.add("net-udp")
    for s in ("fs", "net", "net-udp", "timers", "loop", "async", "work"):
        assert s in seen, "no %s run" % s
elif suite == "net-udp":
    check(doc, "net", udp=True)
elif suite == "net":
    check(doc, suite, udp=False)
else:
    check(doc, suite)
EOF
  else
    # Without python: the fields must at least be there.
    case $2 in
      net-udp) want='"suite":"net"' mode='"udp":true' ;;
      net) want='"suite":"net"' mode='"udp":false' ;;
      *) want="\"suite\":\"$2\"" mode='"tool":"lure-bench"' ;;
    esac
    for key in '"tool":"lure-bench"' '"version":' '"kernel":' "$want" \
               "$mode" '"params":{' '"results":[' '"executor":' \
               '"ops":' '"ops_per_s":' '"lat_us":{' '"p50":' '"p90":' \
               '"p99":' '"p999":' '"max":'; do
      grep -qF "$key" "$1" || { echo "no $key in $1"; return 1; }
    done
  fi
}

# run NAME SUITE ARGS...: run lure-bench ARGS, then check its JSON.
run() {
  name=$1
  suite=$2
  shift 2
  echo "== lure-bench $*"
  if ! "$bench" "$@" --json "$tmp/$name.json"; then
    fail "lure-bench $*"
    return
  fi
  check_json "$tmp/$name.json" "$suite" || fail "JSON of lure-bench $*"
}

few="--ops 200 --warmup 20"
data="--file $tmp/data --size 1M"

run timers timers timers --ops 500 --spread 5
run loop loop loop $few
run async async async $few
run work1 work work $few
run work8 work work $few --depth 8
run fs-read fs fs $few $data
run fs-write fs fs $few $data --op write
run fs-randrw fs fs $few $data --op randrw --depth 4
run fs-repeat fs fs --ops 50 --warmup 5 $data --repeat 2
run net1 net net $few
run net8 net net $few --conns 8 --size 100
run net-bulk net net $few --bulk --conns 2 --size 16K
run net-udp net-udp net $few --udp
run net-udp8 net-udp net $few --udp --conns 8 --size 100
run net-pin net net $few --pin 0
grep -qF '"pin_cpu":0' "$tmp/net-pin.json" || fail "net --pin 0: no pin_cpu"

# O_DIRECT needs a file system that has it (an old tmpfs does not); quick
# has an O_DIRECT suite too.
if dd if=/dev/zero of="$tmp/probe" bs=4096 count=1 oflag=direct \
     >/dev/null 2>&1; then
  rm -f "$tmp/probe"
  run fs-direct fs fs $few $data --direct --depth 8
  run quick quick quick --ops 100 --warmup 10 --repeat 1 $data \
    --plot "$tmp/latency.svg"
  if command -v gnuplot >/dev/null 2>&1 && [ ! -s "$tmp/latency.svg" ]; then
    fail "quick --plot drew nothing"
  fi
else
  echo "bench-smoke: no O_DIRECT in $tmp: fs --direct and quick not run"
fi
if [ -e "$tmp/data" ]; then
  fail "the data file lure-bench created was left behind"
fi

# Bad usage exits 2.
"$bench" net --conns 0 >/dev/null 2>&1
[ $? = 2 ] || fail "net --conns 0 should exit 2"
"$bench" net --udp --bulk >/dev/null 2>&1
[ $? = 2 ] || fail "net --udp --bulk should exit 2"
"$bench" net --udp --size 8 >/dev/null 2>&1
[ $? = 2 ] || fail "net --udp --size 8 (below the header) should exit 2"
"$bench" fs --executors aio $data >/dev/null 2>&1
[ $? = 2 ] || fail "aio without --direct should exit 2"
"$bench" net --pin 100000 >/dev/null 2>&1
[ $? = 2 ] || fail "net --pin 100000 should exit 2"
"$bench" nosuch >/dev/null 2>&1
[ $? = 2 ] || fail "an unknown subcommand should exit 2"

# A file that is not lure-bench's is never written to.
echo precious >"$tmp/precious"
"$bench" fs --ops 10 --op write --file "$tmp/precious" --size 1M \
  >/dev/null 2>&1
[ $? = 1 ] || fail "lure-bench should refuse a foreign --file"
[ "$(cat "$tmp/precious")" = precious ] || fail "a foreign --file was changed"

if [ "$fails" -ne 0 ]; then
  echo "bench-smoke: $fails failure(s)"
  exit 1
fi
echo "bench-smoke: all subcommands ran and their JSON has the fields"
exit 0
