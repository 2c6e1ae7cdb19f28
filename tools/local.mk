# tools rules: lure-info, lure-echo, lure-bench.
#
# The tools link liblure.la, the shared library users get, except
# lure-info: it reads what the ring backend learned (lure__uring_probe(),
# lure__uring_info(): the probe, the setup flags, the loop's own ring),
# which no public call tells, so it links the convenience library.

# lure-info: what lure does on this machine (io_uring, opcodes, executors).
bin_PROGRAMS += tools/lure-info
tools_lure_info_SOURCES = tools/lure-info.c
tools_lure_info_LDADD = liblure-core.la
dist_man1_MANS += man/lure-info.1

# The README's main job: build lure-info and run it.
demo: tools/lure-info$(EXEEXT)
	./tools/lure-info$(EXEEXT)

.PHONY: demo

# lure-echo: the example echo server (TCP and Unix sockets).
bin_PROGRAMS += tools/lure-echo
tools_lure_echo_SOURCES = tools/lure-echo.c
tools_lure_echo_CPPFLAGS = -I$(top_srcdir)/include
tools_lure_echo_LDADD = liblure.la
dist_man1_MANS += man/lure-echo.1
TESTS += tests/echo-smoke.sh tests/info-smoke.sh
EXTRA_DIST += tests/echo-smoke.sh tests/info-smoke.sh

# ---- lure-bench ----

# lure-bench measures lure's executors (io_uring, Linux AIO, the thread pool,
# epoll) and libuv side by side in one process (the net suite forks its
# server).  The suites are written once against libuv's API
# (tools/bench-uv.c, tools/bench-net-uv.c; see tools/bench-side.h) and
# compiled twice, each build a convenience library of its own: against
# lure's uv.h (include/lure first on the include path) for lure's rows, and
# against libuv's own uv.h for the libuv rows.  The libuv build exists only
# when configure found libuv (HAVE_LIBUV); without it lure-bench still runs,
# with lure's executors only.  lure's uv.h names lure_ calls only, so
# lure-bench links liblure.la like a program built against lure.
BENCH_UV_SOURCES = tools/bench-uv.c tools/bench-net-uv.c tools/bench-side.h
noinst_LTLIBRARIES += tools/libbench-lure.la
tools_libbench_lure_la_SOURCES = $(BENCH_UV_SOURCES)
tools_libbench_lure_la_CPPFLAGS = -I$(top_srcdir)/include/lure $(AM_CPPFLAGS)
if HAVE_LIBUV
noinst_LTLIBRARIES += tools/libbench-uv.la
tools_libbench_uv_la_SOURCES = $(BENCH_UV_SOURCES)
tools_libbench_uv_la_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
BENCH_UV_LIB = tools/libbench-uv.la
endif

noinst_PROGRAMS += tools/lure-bench
tools_lure_bench_SOURCES = tools/lure-bench.c tools/lure-bench.h \
	tools/bench-hist.c tools/bench-fs.c tools/bench-net.c
tools_lure_bench_LDADD = tools/libbench-lure.la $(BENCH_UV_LIB) \
	liblure.la $(LIBUV_LIBS) $(PTHREAD_LIBS)
dist_man1_MANS += man/lure-bench.1

# `make check` runs every subcommand with a tiny --ops and checks its JSON.
TESTS += tests/bench-smoke.sh
EXTRA_DIST += tests/bench-smoke.sh

# The quick suite (under two minutes on two cores; the net runs need both
# cores, one for the client and one for the server): tables on stdout,
# bench/results.json and bench/latency.svg; then the short wrk run of
# lure-http against lure-http-libuv (examples/http/local.mk, about 25 s),
# bench/http.json and bench/http.svg.  The data file lives in bench/
# too and is removed afterwards.  Extra options: make bench BENCH_FLAGS=...
BENCH_FLAGS =
bench: tools/lure-bench$(EXEEXT)
	@$(MKDIR_P) bench
	./tools/lure-bench$(EXEEXT) quick --file bench/lure-bench.dat \
	  --size 64M --json bench/results.json --plot bench/latency.svg $(BENCH_FLAGS)
	$(BENCH_HTTP_QUICK)

.PHONY: bench

# libuv 1.44's own benchmarks (test/benchmark-*.c), built against Debian's
# libuv1 and against lure's uv.h, run side by side with lure on both wait
# points: one table, and bench/libuv-bench.json.  A measurement, so not part
# of "make check"; it fetches libuv's source (or reuses check-libuv's copy)
# and takes a few minutes.  See tools/bench-libuv.sh for the environment
# (LIBUV_SRC, BENCH_LIBUV_FULL, ...); only some: make bench-libuv
# BENCH_LIBUV_LIST="ping_pongs async1".
EXTRA_DIST += tools/bench-libuv.sh
BENCH_LIBUV_LIST =
bench-libuv: all
	@$(MKDIR_P) bench
	srcdir="$(srcdir)" top_builddir="$(abs_top_builddir)" CC="$(CC)" \
	  $(SHELL) $(srcdir)/tools/bench-libuv.sh $(BENCH_LIBUV_LIST)

clean-local: clean-bench-libuv
clean-bench-libuv:
	rm -rf bench-libuv
.PHONY: bench-libuv clean-bench-libuv
