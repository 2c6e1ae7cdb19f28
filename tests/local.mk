# tests rules
#
# One Check program, tests/lure-tests, runs whole once per executor set
# (libevent's test.sh model).  Each set is a driver script in TESTS:
#   tests/uring.test           io_uring as the wait point (SKIP without it)
#   tests/epoll.test           LURE_BACKEND=epoll
#   tests/nouring-enosys.test  io_uring_setup fails with ENOSYS (seccomp)
#   tests/nouring-eperm.test   io_uring_setup fails with EPERM (seccomp)
#   tests/nouring-errnos.test  io_uring_setup fails with EINVAL, ENOMEM,
#                              EOPNOTSUPP, EACCES; io_uring_enter or
#                              io_uring_register fails (subset of suites)
#   tests/pitfalls-uring-old.test  suite pitfalls on the ring's pre-5.19
#                              socket path (multishot and pbuf_ring masked)
# The scripts run from the top build directory and find the programs under
# ${builddir:-.}/tests.  tests/lure-backend prints a fresh loop's wait point;
# tests/nouring installs the seccomp filter and execs its arguments.

LURE_TEST_SETS = \
	tests/uring.test \
	tests/epoll.test \
	tests/nouring-enosys.test \
	tests/nouring-eperm.test \
	tests/nouring-errnos.test \
	tests/pitfalls-uring-old.test

EXTRA_DIST += $(LURE_TEST_SETS)

# .test is automake's default test extension; run the scripts with the
# configured shell so that they need no execute bit in a tarball.
TEST_LOG_COMPILER = $(SHELL)

# fd 9 of a test reaches the terminal: the set scripts have lure-tests
# write its total line ("set S, N suites: NN%: Checks: ...") there, so that
# "make check" shows the counts of each executor set, not only PASS/FAIL.
AM_TESTS_FD_REDIRECT = 9>&2

# The scripts that compile programs (tests/uv-abi.sh) use the build's
# compiler and flags, so that a sanitizer build links its runtime.
AM_TESTS_ENVIRONMENT = CC='$(CC)' CFLAGS='$(CFLAGS)' LDFLAGS='$(LDFLAGS)'; \
	export CC CFLAGS LDFLAGS;

# The libuv drop-in layer: uv.h's constants against libuv's own header,
# its functions against the shared liblure, no uv_ symbol exported.
TESTS += tests/uv-abi.sh
EXTRA_DIST += tests/uv-abi.sh

if HAVE_CHECK
TESTS += $(LURE_TEST_SETS)
check_PROGRAMS += tests/lure-tests tests/lure-backend tests/nouring

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
endif
