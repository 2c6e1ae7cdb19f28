# make check-stress: the stress suite (issue 14), once per executor set.
#
# tests/stress/lure-stress runs the stress cases (loop hand-off between
# threads, fork with requests in flight, seeded close storms, 10k TCP echo
# connections, 1M timers, 100k fs requests in flight, an EINTR storm, a
# slow reader); tests/stress/null-sweep calls every public function of
# lure.h with NULL, zeros and never-initialised handles, each in a forked
# child.  Its call table is generated from include/lure.h at build time by
# tests/gen-null-sweep.sh; tests/stress/null-sweep-exempt.txt lists the
# exemptions, one reason each.  tests/stress.sh runs both on io_uring,
# epoll and no-io_uring (tests/nouring ENOSYS).  Not part of "make check";
# .ci/run runs it.  LURE_STRESS_SEED and LURE_STRESS_SEEDS choose the
# storm seeds.

LURE_STRESS_BINS = tests/stress/lure-stress tests/stress/null-sweep
EXTRA_PROGRAMS = $(LURE_STRESS_BINS)
CLEANFILES += $(LURE_STRESS_BINS) tests/stress/null-sweep-gen.c

tests_stress_lure_stress_SOURCES = \
	tests/stress/stress.h \
	tests/stress/stress-main.c \
	tests/stress/stress-handoff.c \
	tests/stress/stress-fork.c \
	tests/stress/stress-storm.c \
	tests/stress/stress-conns.c \
	tests/stress/stress-timers.c \
	tests/stress/stress-fs.c \
	tests/stress/stress-eintr.c \
	tests/stress/stress-slow.c \
	tests/stress/stress-xfer.h \
	tests/stress/stress-work.h
tests_stress_lure_stress_LDADD = liblure-core.la $(PTHREAD_LIBS)

tests_stress_null_sweep_SOURCES = tests/stress/null-sweep.h \
	tests/stress/null-sweep.c
nodist_tests_stress_null_sweep_SOURCES = tests/stress/null-sweep-gen.c
tests_stress_null_sweep_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/stress
tests_stress_null_sweep_LDADD = liblure-core.la $(PTHREAD_LIBS)

tests/stress/null-sweep-gen.c: $(top_srcdir)/include/lure.h \
		$(top_srcdir)/tests/gen-null-sweep.sh
	@$(MKDIR_P) tests/stress
	$(AM_V_GEN)$(SHELL) $(top_srcdir)/tests/gen-null-sweep.sh \
	  $(top_srcdir)/include/lure.h > $@.tmp && mv $@.tmp $@

EXTRA_DIST += tests/stress.sh tests/gen-null-sweep.sh \
	tests/stress/null-sweep-exempt.txt

check-stress: all
	$(MAKE) $(AM_MAKEFLAGS) $(LURE_STRESS_BINS) tests/nouring tests/lure-backend
	builddir="$(abs_top_builddir)" srcdir="$(abs_top_srcdir)" \
	  $(SHELL) $(top_srcdir)/tests/stress.sh
.PHONY: check-stress
