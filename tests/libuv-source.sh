# libuv-source.sh - sourced by tests/check-libuv.sh and tools/bench-libuv.sh:
# find or fetch Debian 12's libuv1 source, the test oracle and the
# benchmark baseline.  Nothing of libuv's is ever committed.
#
#   libuv_source DIR [DIR...]
#
# sets UVSRC: $LIBUV_SRC if set; else the first libuv1-1.44.* folder in
# the DIRs; else fetches it into the first DIR with apt-get source, adding a
# deb-src entry (made from the machine's own deb sources) for that one call
# and removing it after.  Without root it exits 77 (SKIP).  The caller
# defines say and die.

libuv_source_fetch() {
  dest=$1
  list=/etc/apt/sources.list.d/lure-libuv-src.sources
  if [ "$(id -u)" != 0 ]; then
    say "SKIP: fetching libuv's source needs root (or set LIBUV_SRC)"
    exit 77
  fi
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$list"
  elif [ -f /etc/apt/sources.list ]; then
    list=/etc/apt/sources.list.d/lure-libuv-src.list
    grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' >"$list"
  else
    die "no apt sources to derive a deb-src entry from"
  fi
  ok=0
  if apt-get update -qq >/dev/null 2>&1 &&
     (cd "$dest" && apt-get source -qq libuv1 >/dev/null 2>&1); then
    ok=1
  fi
  rm -f "$list"
  apt-get update -qq >/dev/null 2>&1 || true
  [ $ok = 1 ] || die "apt-get source libuv1 failed"
}

libuv_source() {
  if [ -n "${LIBUV_SRC:-}" ]; then
    UVSRC=$LIBUV_SRC
    return
  fi
  for d in "$@"; do
    UVSRC=$(ls -d "$d"/libuv1-1.44.* 2>/dev/null | head -n 1)
    [ -n "$UVSRC" ] && return
  done
  say "fetching Debian's libuv1 source"
  mkdir -p "$1"
  libuv_source_fetch "$1"
  UVSRC=$(ls -d "$1"/libuv1-1.44.* 2>/dev/null | head -n 1)
}
