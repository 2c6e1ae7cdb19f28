# valgrind memcheck on lure's own Check suites (issue 14): see
# tests/valgrind.sh.  Included from Makefile.am with
#   include tests/valgrind.mk (after tests/local.mk, whose programs it extends)
#
#   make check-valgrind                 the uring and epoll sets, and
#                                       10 seeds of tests/lure-diff
#   make check-valgrind VG_SETS=epoll   one set
#
# tests/test-skip.c lets a run leave named tests out (LURE_TEST_SKIP);
# tests/valgrind-skip.txt lists the ones valgrind cannot run, with why;
# tests/valgrind.supp holds the suppressions, each with its reason.

EXTRA_DIST += tests/valgrind.sh tests/valgrind.supp tests/valgrind-skip.txt

if HAVE_CHECK
tests_lure_tests_SOURCES += tests/test-skip.c
tests_lure_fs_tests_SOURCES += tests/test-skip.c
tests_lure_net_tests_SOURCES += tests/test-skip.c
tests_lure_tests_LDFLAGS = -Wl,--wrap=_tcase_add_test
tests_lure_fs_tests_LDFLAGS += -Wl,--wrap=_tcase_add_test
tests_lure_net_tests_LDFLAGS += -Wl,--wrap=_tcase_add_test

VG_SETS = uring epoll diff
check-valgrind: tests/lure-tests tests/lure-fs-tests tests/lure-net-tests \
		tests/lure-backend tests/lure-diff
	@rc=0; for s in $(VG_SETS); do \
	  srcdir="$(srcdir)" builddir=. $(SHELL) $(srcdir)/tests/valgrind.sh $$s; \
	  r=$$?; if test $$r -ne 0 && test $$r -ne 77; then rc=1; fi; \
	done; exit $$rc
else
check-valgrind:
	@echo "check-valgrind: the Check library is missing" >&2; exit 1
endif
.PHONY: check-valgrind
