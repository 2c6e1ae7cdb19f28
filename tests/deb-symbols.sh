#!/bin/sh
# deb-symbols.sh - debian/liblure0.symbols must match the library it
# describes, so that the package build's dpkg-gensymbols (check level 4)
# never meets a surprise:
#   1. its "(symver)" lines name exactly the version nodes of src/lure.map;
#   2. its header names the SONAME the built liblure.so has, and the binary
#      package is named after that SONAME (liblure.so.0 -> liblure0), as
#      Debian's library policy asks;
#   3. every symbol the built library exports is in one of those nodes.
# Checks 2 and 3 need the shared library and objdump; without them (a
# static-only build) they are skipped, check 1 still runs.
set -u
srcdir=${srcdir:-.}
builddir=${builddir:-.}
map=$srcdir/src/lure.map
sym=$srcdir/debian/liblure0.symbols
fail=0

for f in "$map" "$sym"; do
  [ -r "$f" ] || { echo "deb-symbols: cannot read $f"; exit 1; }
done

# 1. Version nodes: "NAME {" at the start of a line of the map.
map_nodes=$(sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_.]*\)[[:space:]]*{.*/\1/p' "$map" | sort)
sym_nodes=$(sed -n 's/^[[:space:]]*(symver)\([^[:space:]]*\)[[:space:]].*/\1/p' "$sym" | sort)
if [ -z "$map_nodes" ]; then
  echo "deb-symbols: no version node found in $map"; exit 1
fi
if [ "$map_nodes" != "$sym_nodes" ]; then
  echo "deb-symbols: version nodes differ"
  echo "  src/lure.map:            " $map_nodes
  echo "  debian/liblure0.symbols: " $sym_nodes
  fail=1
else
  echo "deb-symbols: nodes agree:" $map_nodes
fi

# 2. and 3. against the built library.
so=$(ls "$builddir"/.libs/liblure.so.* 2>/dev/null | head -n 1)
if [ -z "$so" ] || ! command -v objdump >/dev/null 2>&1; then
  echo "deb-symbols: no shared liblure or no objdump; checks 2 and 3 skipped"
  exit $fail
fi
soname=$(objdump -p "$so" | sed -n 's/^[[:space:]]*SONAME[[:space:]]*//p')
head=$(sed -n '1s/^\([^[:space:]]*\)[[:space:]]\([^[:space:]]*\).*/\1 \2/p' "$sym")
# liblure.so.0 -> liblure0 (a name ending in a digit would take a dash).
want_pkg=$(printf '%s\n' "$soname" | sed 's/\.so\.\([0-9]*\)$/\1/')
if [ "$head" != "$soname $want_pkg" ]; then
  echo "deb-symbols: header is '$head', the library's SONAME asks for '$soname $want_pkg'"
  fail=1
else
  echo "deb-symbols: header agrees with SONAME $soname"
fi
if [ ! -r "$srcdir/debian/$want_pkg.install" ] ||
   ! grep -q "^Package: $want_pkg\$" "$srcdir/debian/control"; then
  echo "deb-symbols: debian/control or debian/$want_pkg.install lacks package $want_pkg"
  fail=1
fi

# objdump -T: "... DF .text  size  NODE  name" for defined dynamic symbols.
exported=$(objdump -T "$so" | awk '$2 != "*UND*" && $4 != "*UND*" && $NF ~ /^lure/ { print $(NF-1), $NF }')
count=$(printf '%s\n' "$exported" | grep -c .)
bad=$(printf '%s\n' "$exported" | while read -r node name; do
  case " $(echo $map_nodes) " in
    *" $node "*) ;;
    *) echo "$name@$node" ;;
  esac
done)
if [ "$count" -eq 0 ]; then
  echo "deb-symbols: $so exports no lure symbol"; fail=1
elif [ -n "$bad" ]; then
  echo "deb-symbols: exported outside the map's nodes:" $bad; fail=1
else
  echo "deb-symbols: $count exported symbols, all in the map's nodes"
fi
exit $fail
