#!/bin/sh
# run-set.sh - the one driver of the Check programs' executor sets: runs one
# program on one set.  "make check" runs it as the LOG_COMPILER of the .set
# tests (SET_LOG_COMPILER in tests/local.mk):
#
#   tests/run-set.sh tests/sets/AREA.SET.set [SUITE...]
#   tests/run-set.sh AREA.SET [SUITE...]            (by hand, same thing)
#
# AREA names the program: loop (tests/lure-tests), fs (tests/lure-fs-tests),
# net (tests/lure-net-tests).  SET is one of the sets below; every program
# runs every set.  The script sets the environment of the set, SKIPs (exit
# 77) when this host lacks the executor the set names (a missing executor
# is never a pass), and execs the program, which reads the set from
# LURE_TEST_SET (tests/harness.h).
#
#   uring           io_uring is the wait point (LURE_BACKEND=uring) and
#                   serves every opcode it has; streams warm up on
#                   readiness and move to the ring, as by default
#                   (LURE_LOOP_STREAM_WARMUP)
#   uring-masked    the ring is the wait point, LURE_URING_DISABLE masks its
#                   file opcodes (the thread pool serves files) and its
#                   socket opcodes (streams wait for readiness, POLL_ADD on
#                   the ring, and make non-blocking system calls)
#   uring-old       the ring as kernels before 5.19/6.0 run it: multishot
#                   receive and accept, provided-buffer rings and their
#                   incremental consumption (6.12) masked (one
#                   accept at a time, one-shot receives selecting buffers
#                   that IORING_OP_PROVIDE_BUFFERS handed over)
#   uring-6.1       the ring as Debian 12's own kernel (6.1) offers it:
#                   incremental buffer rings and ftruncate masked (streams
#                   receive whole buffers of the ordinary buffer ring)
#   uring-single    the ring with LURE_SINGLE_THREAD=1: a single issuer's
#                   ring with deferred task work (Linux 6.1; an older
#                   kernel gives the shared ring, and a test says so)
#                   uring-old, uring-6.1 and uring-single are variants of
#                   the ring's own paths: their streams are on the ring
#                   from the start (LURE_STREAM_WARMUP=0)
#   epoll           LURE_BACKEND=epoll (files on the pool and Linux AIO)
#   nouring-enosys  under tests/nouring, io_uring_setup fails with ENOSYS
#   nouring-eperm   ... with EPERM (both as a container policy would);
#                   nothing is forced: lure must fall back to epoll itself
#   nouring-errnos  io_uring refused with every other errno the field shows
#                   (URING-NOTES 1): io_uring_setup failing with EINVAL,
#                   ENOMEM, EOPNOTSUPP, EACCES, and a ring that can be set
#                   up but not entered or registered.  For each, a fresh
#                   loop must pick epoll by itself; the loop program runs its
#                   "loop" suite each time, and where the ring cannot be
#                   entered (another fallback, lure__ring_try_enter) also
#                   "pitfalls"; the fs and net programs run "ops" and "tcp"
#                   on that one.
#
# Under "make check", fd 9 reaches the terminal (AM_TESTS_FD_REDIRECT): the
# programs write their total line ("set S, N suites: NN%: Checks: ...")
# there too.  The script runs from the top build directory and finds the
# programs under ${builddir:-.}/tests; tests/lure-backend prints a fresh
# loop's wait point, tests/nouring installs the seccomp filter and execs
# its arguments.
me=run-set.sh
b="${builddir:-.}/tests"

if [ $# -lt 1 ]; then
  echo "usage: $me tests/sets/AREA.SET.set [SUITE...]" >&2
  exit 99
fi
name=${1##*/}
name=${name%.set}
shift
area=${name%%.*}
set=${name#*.}
case $area in
  loop) prog=lure-tests ;;
  fs) prog=lure-fs-tests ;;
  net) prog=lure-net-tests ;;
  *) echo "$me: $name: unknown program area \"$area\"" >&2; exit 99 ;;
esac
p="$b/$prog"
me="$me $name"

if { true >&9; } 2>/dev/null; then
  LURE_TESTS_SUMMARY_FD=9
  export LURE_TESTS_SUMMARY_FD
fi

# The wait point a fresh loop gets here, run through the wrapper "$@".
backend() {
  if [ -x "$b/lure-backend" ]; then
    "$@" "$b/lure-backend"
  else
    "$@" "$p" --print-backend
  fi
}

# SKIP unless a fresh, unforced loop gets the ring here.
need_ring() {
  got=$(backend env -u LURE_BACKEND) || got=none
  if [ "$got" != io_uring ]; then
    echo "$me: SKIP: io_uring is not usable here (a fresh loop gets $got)"
    exit 77
  fi
}

# An io_uring call fails under tests/nouring with errno $1 (77 passes on:
# seccomp filters cannot be installed here); a fresh loop must get epoll.
need_fallback() {
  got=$(backend "$b/nouring" "$1")
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "$me: nouring $1 lure-backend exited $rc" >&2
    exit $rc
  fi
  if [ "$got" != epoll ]; then
    echo "$me: with io_uring refused ($1) a loop got \"$got\", not epoll" >&2
    exit 1
  fi
}

. "$(dirname "$0")/uring-masks.sh"

unset LURE_BACKEND LURE_URING_DISABLE LURE_TEST_SET LURE_SINGLE_THREAD
unset LURE_STREAM_WARMUP
case $set in
  uring|uring-old|uring-6.1)
    [ "$set" = uring-old ] && LURE_URING_DISABLE=$URING_OLD && export LURE_URING_DISABLE
    [ "$set" = uring-6.1 ] && LURE_URING_DISABLE=$URING_61 && export LURE_URING_DISABLE
    [ "$set" != uring ] && LURE_STREAM_WARMUP=0 && export LURE_STREAM_WARMUP
    need_ring
    got=$(backend env LURE_BACKEND=uring)
    if [ "$got" != io_uring ]; then
      echo "$me: LURE_BACKEND=uring gave \"$got\"" >&2
      exit 1
    fi
    LURE_BACKEND=uring LURE_TEST_SET=$set exec "$p" "$@"
    ;;
  uring-single)
    need_ring
    LURE_STREAM_WARMUP=0 LURE_SINGLE_THREAD=1 LURE_BACKEND=uring \
      LURE_TEST_SET=$set exec "$p" "$@"
    ;;
  uring-masked)
    LURE_URING_DISABLE=$URING_FILE_OPS,$URING_SOCKET_OPS
    export LURE_URING_DISABLE
    need_ring
    LURE_BACKEND=uring LURE_TEST_SET=$set exec "$p" "$@"
    ;;
  epoll)
    got=$(backend env LURE_BACKEND=epoll) || {
      echo "$me: lure-backend failed" >&2
      exit 99
    }
    if [ "$got" != epoll ]; then
      echo "$me: LURE_BACKEND=epoll gave \"$got\"" >&2
      exit 1
    fi
    LURE_BACKEND=epoll LURE_TEST_SET=epoll exec "$p" "$@"
    ;;
  nouring-enosys|nouring-eperm)
    mode=ENOSYS
    [ "$set" = nouring-eperm ] && mode=EPERM
    need_fallback $mode
    LURE_TEST_SET=nouring exec "$b/nouring" $mode "$p" "$@"
    ;;
  nouring-errnos)
    status=0
    for mode in EINVAL ENOMEM EOPNOTSUPP EACCES enter:EPERM register:EPERM; do
      case $area:$mode in
        loop:enter:EPERM) suites="loop pitfalls" ;;
        loop:*) suites=loop ;;
        fs:enter:EPERM) suites=ops ;;
        net:enter:EPERM) suites=tcp ;;
        *) continue ;;
      esac
      [ $# -gt 0 ] && suites="$*"
      (need_fallback "$mode") || {
        rc=$?
        [ $rc -eq 77 ] && exit 77
        status=1
        continue
      }
      LURE_TEST_SET=nouring "$b/nouring" "$mode" "$p" $suites || status=1
    done
    exit $status
    ;;
  *)
    echo "$me: unknown set \"$set\"" >&2
    exit 99
    ;;
esac
