# Differential testing (issue 14): tests/lure-diff runs seeded call
# sequences on every executor and compares the callback traces; see the
# rules at the top of tests/lure-diff.c.  Included from Makefile.am with
#   include tests/diff.mk
#
#   make check          tests/diff.test: 20 seeds (a start that changes
#                       daily, printed)
#   make check-diff     200 seeds from DIFF_START (default 1); CI runs it
#                       (.ci/run); DIFF_COUNT=N for longer runs

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
