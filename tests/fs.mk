# File-system tests (issue 3): one Check program, run once per executor set
# by the drivers below.  Included from Makefile.am with
#   include tests/fs.mk

FS_TEST_DRIVERS = \
	tests/fs-uring.test \
	tests/fs-uring-masked.test \
	tests/fs-epoll.test \
	tests/fs-nouring.test

EXTRA_DIST += $(FS_TEST_DRIVERS)

if HAVE_CHECK
check_PROGRAMS += tests/lure-fs-tests
TESTS += $(FS_TEST_DRIVERS)
endif

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
