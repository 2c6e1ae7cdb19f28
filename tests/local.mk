# tests rules: every test program and script of "make check", in one place.
#
# One harness (tests/README.md): three Check programs share one main()
# (tests/runner.c), one helper header (tests/harness.h, prefix lt_; the
# area helpers lt_fs_ in tests/harness-fs.h and lt_net_ in
# tests/harness-net.h), and one list of executor sets, which every program
# runs whole (libevent's test.sh model):
#
#   tests/lure-tests       the loop, handles, threads, the os utilities
#   tests/lure-fs-tests    file system requests
#   tests/lure-net-tests   TCP, pipes, UDP, DNS
#
#   sets: uring, uring-masked, uring-old, uring-single, uring-6.1, epoll,
#         nouring-enosys, nouring-eperm, nouring-errnos (what each means:
#         tests/run-set.sh)
#
# Each run is a test tests/sets/AREA.SET.set (AREA loop, fs or net) that
# the one driver, tests/run-set.sh, runs as SET_LOG_COMPILER: it sets the
# environment of the set, SKIPs (77) where this host lacks the executor,
# and execs the program.  A suite registers itself (LT_SUITE): a new suite
# is one new file and one line, its name in the program's _SOURCES below.
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

# One line per program and set (the same sets for every program).
LURE_TEST_SETS = \
	tests/sets/loop.uring.set \
	tests/sets/loop.uring-masked.set \
	tests/sets/loop.uring-old.set \
	tests/sets/loop.uring-single.set \
	tests/sets/loop.uring-6.1.set \
	tests/sets/loop.epoll.set \
	tests/sets/loop.nouring-enosys.set \
	tests/sets/loop.nouring-eperm.set \
	tests/sets/loop.nouring-errnos.set \
	tests/sets/fs.uring.set \
	tests/sets/fs.uring-masked.set \
	tests/sets/fs.uring-old.set \
	tests/sets/fs.uring-single.set \
	tests/sets/fs.uring-6.1.set \
	tests/sets/fs.epoll.set \
	tests/sets/fs.nouring-enosys.set \
	tests/sets/fs.nouring-eperm.set \
	tests/sets/fs.nouring-errnos.set \
	tests/sets/net.uring.set \
	tests/sets/net.uring-masked.set \
	tests/sets/net.uring-old.set \
	tests/sets/net.uring-single.set \
	tests/sets/net.uring-6.1.set \
	tests/sets/net.epoll.set \
	tests/sets/net.nouring-enosys.set \
	tests/sets/net.nouring-eperm.set \
	tests/sets/net.nouring-errnos.set

EXTRA_DIST += $(LURE_TEST_SETS) tests/run-set.sh tests/README.md

# .test is automake's default test extension (tests/diff.test); .set names
# a program and an executor set for tests/run-set.sh.  Both run with the
# configured shell so that they need no execute bit in a tarball.
TEST_EXTENSIONS = .test .set
TEST_LOG_COMPILER = $(SHELL)
SET_LOG_COMPILER = $(SHELL) $(srcdir)/tests/run-set.sh

# fd 9 of a test reaches the terminal: the programs write their total line
# ("set S, N suites: NN%: Checks: ...") there, so that "make check" shows
# the counts of each executor set, not only PASS/FAIL.
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
TESTS += $(LURE_TEST_SETS)
check_PROGRAMS += tests/lure-tests tests/lure-backend tests/nouring \
	tests/lure-fs-tests tests/lure-net-tests

# What every program links: the runner and the shared helpers.
LURE_HARNESS = tests/harness.h tests/harness.c tests/runner.c

# The suites of a program run in the order of its _SOURCES.
tests_lure_tests_SOURCES = $(LURE_HARNESS) \
	tests/test-heap.c \
	tests/test-errors.c \
	tests/test-loop.c \
	tests/test-timer.c \
	tests/test-handle.c \
	tests/test-async.c \
	tests/test-signal.c \
	tests/test-poll.c \
	tests/test-work.c \
	tests/test-fork.c \
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

tests_lure_fs_tests_SOURCES = $(LURE_HARNESS) \
	tests/harness-fs.h \
	tests/harness-fs.c \
	tests/fs-ops.c \
	tests/fs-errors.c \
	tests/fs-cancel.c \
	tests/fs-scale.c \
	tests/fs-chain.c
tests_lure_fs_tests_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(URING_CFLAGS)
tests_lure_fs_tests_LDADD = liblure-core.la $(CHECK_LIBS) $(URING_LIBS)
# fsync(2) answered EINTR on demand (tests/fs-errors.c).
tests_lure_fs_tests_LDFLAGS = -Wl,--wrap=fsync

tests_lure_net_tests_SOURCES = $(LURE_HARNESS) \
	tests/harness-net.h \
	tests/harness-net.c \
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
# send(2) and sendmsg(2) answered ENOBUFS on demand (tests/net-faults.c).
tests_lure_net_tests_LDFLAGS = -Wl,--wrap=send -Wl,--wrap=sendmsg
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
