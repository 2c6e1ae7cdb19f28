# tools rules

# lure-info: what lure does on this machine (io_uring, opcodes, executors).
# It links the convenience library rather than liblure.la so that it may
# call internal functions such as lure__uring_probe().
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
tools_lure_echo_LDADD = liblure-core.la $(PTHREAD_LIBS)
dist_man1_MANS += man/lure-echo.1
TESTS += tests/echo-smoke.sh tests/info-smoke.sh
EXTRA_DIST += tests/echo-smoke.sh tests/info-smoke.sh
