# examples/http rules (issue 12): included from Makefile.am with
#   include examples/http/local.mk
#
# lure-http, a small HTTP/1.1 server written against libuv's API, built
# twice from one source: against lure's drop-in uv.h (include/lure first on
# the include path) as lure-http, and against Debian's libuv as
# lure-http-libuv when configure found libuv.  Both parse with
# libhttp-parser; without it neither is built.  Like lure-echo, lure-http
# links the convenience library, so it needs no installed liblure.

EXTRA_DIST += examples/http/http-smoke.sh examples/http/bench-http.sh \
	examples/http/pipeline.lua

if HAVE_HTTP_PARSER
bin_PROGRAMS += examples/http/lure-http
examples_http_lure_http_SOURCES = examples/http/lure-http.c
examples_http_lure_http_CPPFLAGS = -I$(top_srcdir)/include/lure $(AM_CPPFLAGS)
examples_http_lure_http_LDADD = liblure-core.la $(HTTP_PARSER_LIBS) $(PTHREAD_LIBS)
dist_man1_MANS += man/lure-http.1

# The libuv build is the benchmark's baseline and the smoke test's oracle:
# built, never installed (a lure package ships no libuv program).
if HAVE_LIBUV
noinst_PROGRAMS += examples/http/lure-http-libuv
examples_http_lure_http_libuv_SOURCES = examples/http/lure-http.c
examples_http_lure_http_libuv_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
examples_http_lure_http_libuv_LDADD = $(LIBUV_LIBS) $(HTTP_PARSER_LIBS) $(PTHREAD_LIBS)
endif

# Every route and error code, pipelining and a client that leaves in the
# middle of a 4 MiB answer, on each executor set (a few seconds).
TESTS += examples/http/http-smoke.sh
endif

# make bench-http: wrk against lure-http and lure-http-libuv in one run
# (127.0.0.1 only, each wrk run bounded by -d; about a minute): the table,
# bench/http.json and bench/http.svg.  Extra options:
#   make bench-http BENCH_HTTP_FLAGS="--repeat 3 --duration 5"
# make bench runs the short version (--quick: 2 s per run, no thread rows)
# after lure-bench.
BENCH_HTTP_FLAGS =
BENCH_HTTP_RUN = builddir=. srcdir="$(srcdir)" WRK="$(WRK)" GNUPLOT="$(GNUPLOT)" \
	bash $(srcdir)/examples/http/bench-http.sh --json bench/http.json \
	--plot bench/http.svg
if HAVE_HTTP_PARSER
BENCH_HTTP_PROGS = examples/http/lure-http$(EXEEXT)
if HAVE_LIBUV
BENCH_HTTP_PROGS += examples/http/lure-http-libuv$(EXEEXT)
endif
bench-http: $(BENCH_HTTP_PROGS)
	@$(MKDIR_P) bench
	$(BENCH_HTTP_RUN) $(BENCH_HTTP_FLAGS)
BENCH_HTTP_QUICK = $(BENCH_HTTP_RUN) --quick
else
bench-http:
	@echo "bench-http: lure-http is not built (no libhttp-parser-dev)" >&2; exit 1
BENCH_HTTP_QUICK = @echo "bench: lure-http not built, no HTTP rows"
endif
bench: $(BENCH_HTTP_PROGS)
.PHONY: bench-http
