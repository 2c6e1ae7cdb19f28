# Network tests (issue 5): one Check program, tests/lure-net-tests, run once
# per executor set by the drivers below.  Included from Makefile.am with
#   include tests/net.mk
#
#   tests/net-uring.test         the ring is the wait point and streams take
#                                its socket path (SKIP without io_uring)
#   tests/net-uring-masked.test  the ring is the wait point, the socket
#                                opcodes are masked: readiness path
#   tests/net-uring-old.test     the ring's socket path as older kernels
#                                take it (5.19/6.0 features masked)
#   tests/net-epoll.test         LURE_BACKEND=epoll
#   tests/net-nouring.test       io_uring_setup fails (tests/nouring ENOSYS)
#
# The drivers find the programs under ${builddir:-.}/tests and use
# tests/lure-backend and tests/nouring from tests/local.mk.

NET_TEST_DRIVERS = \
	tests/net-uring.test \
	tests/net-uring-masked.test \
	tests/net-uring-old.test \
	tests/net-epoll.test \
	tests/net-nouring.test

EXTRA_DIST += $(NET_TEST_DRIVERS)

if HAVE_CHECK
check_PROGRAMS += tests/lure-net-tests
TESTS += $(NET_TEST_DRIVERS)

tests_lure_net_tests_SOURCES = \
	tests/net-tests.h \
	tests/net-main.c \
	tests/net-tcp.c \
	tests/net-stream.c \
	tests/net-udp.c \
	tests/net-pipe.c \
	tests/net-dns.c \
	tests/net-errors.c \
	tests/net-ring.c \
	tests/net-parity.c \
	tests/net-faults.c
tests_lure_net_tests_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_lure_net_tests_LDADD = liblure-core.la $(CHECK_LIBS) $(PTHREAD_LIBS)
endif
