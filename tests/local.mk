# tests rules: every test program and script of "make check", in one place.
#
# Three Check programs, each run whole once per executor set (libevent's
# test.sh model); each set is a driver script in TESTS:
#
#   tests/lure-tests       the loop, handles, threads, the os utilities
#     tests/uring.test           io_uring as the wait point (SKIP without it)
#     tests/epoll.test           LURE_BACKEND=epoll
#     tests/nouring-enosys.test  io_uring_setup fails with ENOSYS (seccomp)
#     tests/nouring-eperm.test   io_uring_setup fails with EPERM (seccomp)
#     tests/nouring-errnos.test  io_uring_setup fails with EINVAL, ENOMEM,
#                                EOPNOTSUPP, EACCES; io_uring_enter or
#                                io_uring_register fails (subset of suites)
#     tests/pitfalls-uring-old.test  suite pitfalls on the ring's pre-5.19
#                                socket path (multishot and pbuf_ring masked)
#   tests/lure-fs-tests    file system requests
#     tests/fs-uring.test         the ring serves every file opcode it has
#     tests/fs-uring-masked.test  the ring waits, its file opcodes are masked
#     tests/fs-epoll.test         LURE_BACKEND=epoll (AIO and the pool)
#     tests/fs-nouring.test       io_uring_setup fails (tests/nouring)
#   tests/lure-net-tests   TCP, pipes, UDP, DNS
#     tests/net-uring.test         streams on the ring's socket path
#     tests/net-uring-masked.test  the ring waits, socket opcodes masked
#     tests/net-uring-old.test     the ring's path as 5.19/6.0 kernels take it
#     tests/net-epoll.test         LURE_BACKEND=epoll
#     tests/net-nouring.test       io_uring_setup fails (tests/nouring ENOSYS)
#
#   tests/lure-diff        differential testing (issue 14): seeded call
#                          sequences on every executor, callback traces
#                          compared (rules at the top of tests/lure-diff.c)
#     tests/diff.test             20 seeds (a start that changes daily,
#                                 printed); make check-diff runs 200 from
#                                 DIFF_START (default 1), CI runs it
#                                 (.ci/run); DIFF_COUNT=N for longer runs
#
# The scripts run from the top build directory and find the programs under
# ${builddir:-.}/tests.  tests/lure-backend prints a fresh loop's wait point;
# tests/nouring installs the seccomp filter and execs its arguments.
# tests/README.md says how to add a test.

LURE_TEST_SETS = \
	tests/uring.test \
	tests/epoll.test \
	tests/nouring-enosys.test \
	tests/nouring-eperm.test \
	tests/nouring-errnos.test \
	tests/pitfalls-uring-old.test

FS_TEST_DRIVERS = \
	tests/fs-uring.test \
	tests/fs-uring-masked.test \
	tests/fs-epoll.test \
	tests/fs-nouring.test

NET_TEST_DRIVERS = \
	tests/net-uring.test \
	tests/net-uring-masked.test \
	tests/net-uring-old.test \
	tests/net-epoll.test \
	tests/net-nouring.test

EXTRA_DIST += $(LURE_TEST_SETS) $(FS_TEST_DRIVERS) $(NET_TEST_DRIVERS) \
	tests/README.md

# .test is automake's default test extension; run the scripts with the
# configured shell so that they need no execute bit in a tarball.
TEST_LOG_COMPILER = $(SHELL)

# fd 9 of a test reaches the terminal: the set scripts have the programs
# write their total line ("set S, N suites: NN%: Checks: ...") there, so
# that "make check" shows the counts of each executor set, not only
# PASS/FAIL.
AM_TESTS_FD_REDIRECT = 9>&2

# The scripts that compile programs (tests/uv-abi.sh) use the build's
# compiler and flags, so that a sanitizer build links its runtime.
# man/check-man.sh checks every page against the release date and source
# that configure.ac defines.
AM_TESTS_ENVIRONMENT = CC='$(CC)' CFLAGS='$(CFLAGS)' LDFLAGS='$(LDFLAGS)'; \
	LURE_RELEASE_DATE='$(LURE_RELEASE_DATE)'; \
	LURE_MAN_SOURCE='$(LURE_MAN_SOURCE)'; \
	export CC CFLAGS LDFLAGS LURE_RELEASE_DATE LURE_MAN_SOURCE;

# The libuv drop-in layer: uv.h's constants against libuv's own header,
# its functions against the shared liblure, no uv_ symbol exported.
TESTS += tests/uv-abi.sh
EXTRA_DIST += tests/uv-abi.sh

# A program built as a user builds one: the public header alone on its
# include path, linked with the shared liblure (liblure.la), nothing else
# of the tree.  It checks at run time that lure's code came from
# liblure.so.
TESTS += tests/shared-link
check_PROGRAMS += tests/shared-link
tests_shared_link_SOURCES = tests/shared-link.c
tests_shared_link_CPPFLAGS = -I$(top_srcdir)/include
tests_shared_link_LDADD = liblure.la

if HAVE_CHECK
TESTS += $(LURE_TEST_SETS) $(FS_TEST_DRIVERS) $(NET_TEST_DRIVERS)
check_PROGRAMS += tests/lure-tests tests/lure-backend tests/nouring \
	tests/lure-fs-tests tests/lure-net-tests

tests_lure_tests_SOURCES = \
	tests/lure-tests.h \
	tests/lure-tests.c \
	tests/test-loop.c \
	tests/test-timer.c \
	tests/test-handle.c \
	tests/test-async.c \
	tests/test-signal.c \
	tests/test-poll.c \
	tests/test-work.c \
	tests/test-fork.c \
	tests/test-errors.c \
	tests/test-heap.c \
	tests/test-thread.c \
	tests/test-misc.c \
	tests/test-os.c \
	tests/test-fs-event.c \
	tests/test-tty.c \
	tests/test-random.c \
	tests/test-process.c \
	tests/test-pitfalls.c
tests_lure_tests_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_lure_tests_LDADD = liblure-core.la $(CHECK_LIBS) $(PTHREAD_LIBS)

tests_lure_backend_SOURCES = tests/lure-backend.c
tests_lure_backend_LDADD = liblure-core.la $(PTHREAD_LIBS)

tests_nouring_SOURCES = tests/nouring.c

tests_lure_fs_tests_SOURCES = \
	tests/fs-tests.h \
	tests/fs-main.c \
	tests/fs-ops.c \
	tests/fs-errors.c \
	tests/fs-cancel.c \
	tests/fs-scale.c \
	tests/fs-chain.c
tests_lure_fs_tests_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(URING_CFLAGS)
tests_lure_fs_tests_LDADD = liblure-core.la $(CHECK_LIBS) $(URING_LIBS)

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

# Differential testing: see tests/lure-diff.c and tests/diff.sh.
check_PROGRAMS += tests/lure-diff
tests_lure_diff_SOURCES = tests/lure-diff.c
tests_lure_diff_LDADD = liblure-core.la $(PTHREAD_LIBS)

TESTS += tests/diff.test
EXTRA_DIST += tests/diff.sh tests/diff.test

DIFF_START = 1
DIFF_COUNT = 200
if HAVE_CHECK
DIFF_DEPS = tests/lure-diff tests/nouring
else
DIFF_DEPS = tests/lure-diff
endif
check-diff: $(DIFF_DEPS)
	builddir=. $(SHELL) $(srcdir)/tests/diff.sh $(DIFF_START) $(DIFF_COUNT)
.PHONY: check-diff
