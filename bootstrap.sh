#!/bin/sh
# bootstrap.sh - prepare a fresh checkout: install the Debian packages the
# build, tests and tools need (when run as root), then autoreconf and
# configure.  Arguments are passed to ./configure.  Safe to run again.
# --deb (taken out, not passed on) also installs the Debian packaging tools
# that "make deb" needs.
set -e
cd "$(dirname "$0")"

PKGS="build-essential autoconf automake libtool pkg-config liburing-dev check \
libuv1-dev mandoc gnuplot-nox strace libhttp-parser-dev wrk valgrind"

# --deb: the tools of "make deb" (tools/deb-build.sh) as well.
for arg; do
  shift
  if [ "$arg" = --deb ]; then
    PKGS="$PKGS debhelper dpkg-dev lintian"
  else
    set -- "$@" "$arg"
  fi
done

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done

if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
  else
    echo "bootstrap: missing Debian packages:$missing" >&2
    echo "bootstrap: run as root, or: sudo apt-get install$missing" >&2
    exit 1
  fi
fi

mkdir -p m4
autoreconf -fi
# When run from the source tree, configure here; a VPATH build calls
# "$srcdir/configure" itself.
./configure "$@"
