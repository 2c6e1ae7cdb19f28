#!/bin/sh
# deb-build.sh - build lure's Debian packages (liblure0, liblure-dev,
# lure-tools) and check them with lintian.  "make deb" calls it.
#
#   tools/deb-build.sh TREE
#
# TREE is a clean, unconfigured copy of the distribution ("make deb" makes
# it with "make distdir" under build-deb/): dpkg-buildpackage wants a tree
# that was never configured in place, and writes the .debs, .buildinfo and
# .changes into TREE's parent directory, which is where they are left.
#
# Environment:
#   DEB_BUILD_OPTIONS  passed on; default "nocheck parallel=2": the test
#                      suite takes minutes and CI runs it in its own steps.
#                      LURE_DEB_CHECK=1 keeps dh_auto_test ("parallel=2").
#   LURE_DEB_LINTIAN=0 skips lintian (it runs by default and fails the
#                      build on any error or warning not overridden in
#                      debian/*.lintian-overrides).
set -eu

tree=${1:?usage: deb-build.sh TREE}
[ -f "$tree/debian/control" ] || { echo "deb-build: $tree has no debian/control" >&2; exit 1; }
for tool in dpkg-buildpackage dh; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "deb-build: $tool not found; install the packaging tools with" >&2
    echo "deb-build:   ./bootstrap.sh --deb   (as root), or apt-get install debhelper dpkg-dev lintian" >&2
    exit 1
  }
done

# Every file of debian/ must have reached the copy (tools/deb.mk lists them
# in EXTRA_DIST); one left out would be missing from the packages silently.
if [ -n "${srcdir:-}" ] && [ -d "$srcdir/debian" ]; then
  want=$(cd "$srcdir/debian" && find . -type f | sort)
  got=$(cd "$tree/debian" && find . -type f | sort)
  if [ "$want" != "$got" ]; then
    echo "deb-build: debian/ of the source and of $tree differ (EXTRA_DIST in tools/deb.mk?):" >&2
    printf "%s\n" "$want" >"$tree.want"; printf "%s\n" "$got" >"$tree.got"
    diff "$tree.want" "$tree.got" >&2 || true
    exit 1
  fi
fi

# The changelog's version must be configure's: a release that bumps one
# and forgets the other fails here rather than shipping a mislabelled .deb.
cl_version=$(cd "$tree" && dpkg-parsechangelog -SVersion)
ac_version=$(sed -n 's/^PACKAGE_VERSION=.\([^'\''"]*\).*/\1/p' "$tree/configure" | head -n 1)
if [ "$cl_version" != "$ac_version" ]; then
  echo "deb-build: debian/changelog says $cl_version, configure says $ac_version" >&2
  exit 1
fi

if [ -z "${DEB_BUILD_OPTIONS+set}" ]; then
  if [ "${LURE_DEB_CHECK:-0}" = 1 ]; then
    DEB_BUILD_OPTIONS="parallel=2"
  else
    DEB_BUILD_OPTIONS="nocheck parallel=2"
  fi
fi
export DEB_BUILD_OPTIONS
echo "deb-build: dpkg-buildpackage -us -uc -b in $tree (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS)"
(cd "$tree" && dpkg-buildpackage -us -uc -b)

out=$(cd "$tree/.." && pwd)
changes=$(ls "$out"/lure_"$cl_version"_*.changes)
echo "deb-build: packages in $out:"
(cd "$out" && ls -l ./*.deb)

if [ "${LURE_DEB_LINTIAN:-1}" = 1 ]; then
  command -v lintian >/dev/null 2>&1 || {
    echo "deb-build: lintian not found (./bootstrap.sh --deb installs it)" >&2; exit 1; }
  echo "deb-build: lintian --fail-on error,warning --display-info $(basename "$changes")"
  lintian --fail-on error,warning --display-info "$changes"
  echo "deb-build: lintian passed"
fi
