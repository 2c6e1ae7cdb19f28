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

if HAVE_LIBUV
bin_PROGRAMS += examples/http/lure-http-libuv
examples_http_lure_http_libuv_SOURCES = examples/http/lure-http.c
examples_http_lure_http_libuv_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
examples_http_lure_http_libuv_LDADD = $(LIBUV_LIBS) $(HTTP_PARSER_LIBS) $(PTHREAD_LIBS)
endif

# Every route and error code, pipelining and a client that leaves in the
# middle of a 4 MiB answer, on each executor set (a few seconds).
TESTS += examples/http/http-smoke.sh
endif
