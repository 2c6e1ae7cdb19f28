#!/bin/sh
#
# check-man.sh - the man pages: lint every page, and check that every public
# function of include/lure.h has a page of its own.
#
# "make check" runs it with srcdir set by automake; by hand, from the top of
# the source tree:
#
#     srcdir=. sh man/check-man.sh
#
# It checks, in this order:
#   1. every lure_*() name in include/lure.h has man/<name>.3 (internal
#      lure__*() names excepted);
#   2. every man3 and man7 page is listed exactly once in man/local.mk, so
#      that it is installed and distributed;
#   3. every .so stub points to a page that exists and is not a stub itself;
#   4. every page's .TH line carries the release date and source
#      ("lure-X.Y") that configure.ac defines, the one place they are
#      written (LURE_RELEASE_DATE and LURE_MAN_SOURCE in the environment;
#      "make check" passes them, a run by hand without them skips this);
#   5. "mandoc -Tlint -W warning" says nothing about any page.  A stub always
#      draws mandoc's ".so is fragile" warning, which is the price of the
#      liburing-style alias pages and is the one message ignored; mandoc runs
#      in a directory where man3/ leads to man/, so that it follows the stub
#      and lints what a reader would see;
#   6. groff (through man(1), as lintian's groff-message check runs it)
#      warns about no page, where man(1) is installed.
#
# Exit status: 0 pass, 1 fail, 77 skip (checks 1-4 passed but mandoc is not
# installed), 99 hard error.

srcdir=${srcdir:-.}
top=$(cd "$srcdir" && pwd) || exit 99
mandir=$top/man
header=$top/include/lure.h
mk=$mandir/local.mk
fail=0

if [ ! -r "$header" ] || [ ! -d "$mandir" ] || [ ! -r "$mk" ]; then
	echo "check-man: cannot find the sources under '$srcdir'" >&2
	exit 99
fi

# 1. A page for every public function.
names=$(awk '{
	s = $0
	while (match(s, /lure_[a-z0-9_]+ *\(/)) {
		n = substr(s, RSTART, RLENGTH)
		sub(/ *\($/, "", n)
		if (substr(n, 1, 6) != "lure__")
			print n
		s = substr(s, RSTART + RLENGTH)
	}
}' "$header" | sort -u)
if [ -z "$names" ]; then
	echo "check-man: no function names found in $header" >&2
	exit 99
fi
for n in $names; do
	if [ ! -f "$mandir/$n.3" ]; then
		echo "check-man: $n() has no man page (man/$n.3 is missing)"
		fail=1
	fi
done

# 2. Every page listed once in man/local.mk.
for page in "$mandir"/*.3 "$mandir"/*.7; do
	[ -f "$page" ] || continue
	base=${page##*/}
	re=$(printf '%s\n' "$base" | sed 's/\./\\./g')
	count=$(grep -c -E "man/$re([^A-Za-z0-9_.]|\$)" "$mk")
	if [ "$count" -ne 1 ]; then
		echo "check-man: man/$base is listed $count times in man/local.mk (want 1)"
		fail=1
	fi
done

# 3. Stubs lead to real pages.
is_stub() {
	# A stub is a page whose only line is ".so man3/<name>.3".
	[ "$(wc -l < "$1")" -le 1 ] && grep -q '^\.so man3/[A-Za-z0-9_.-]*\.3$' "$1"
}
for page in "$mandir"/*.3; do
	[ -f "$page" ] || continue
	if is_stub "$page"; then
		target=$(sed -n 's|^\.so man3/||p' "$page")
		if [ ! -f "$mandir/$target" ]; then
			echo "check-man: ${page##*/} points to missing man/$target"
			fail=1
		elif is_stub "$mandir/$target"; then
			echo "check-man: ${page##*/} points to man/$target, itself a stub"
			fail=1
		fi
	elif grep -q '^\.so' "$page"; then
		echo "check-man: ${page##*/}: .so outside a one-line stub"
		fail=1
	fi
done

# 4. One date and one version for every page: the release's.
if [ -n "$LURE_RELEASE_DATE" ] && [ -n "$LURE_MAN_SOURCE" ]; then
	for page in "$mandir"/*.1 "$mandir"/*.3 "$mandir"/*.7; do
		[ -f "$page" ] || continue
		th=$(grep -m 1 '^\.TH ' "$page") || continue # a .so stub
		case $th in
		*" \"$LURE_RELEASE_DATE\" \"$LURE_MAN_SOURCE\" "*) ;;
		*)
			echo "check-man: ${page##*/}: .TH does not carry" \
			    "\"$LURE_RELEASE_DATE\" \"$LURE_MAN_SOURCE\" (configure.ac)"
			fail=1
			;;
		esac
	done
fi

# 5. mandoc lint.
if ! command -v "${MANDOC:-mandoc}" >/dev/null 2>&1; then
	if [ "$fail" -ne 0 ]; then
		exit 1
	fi
	echo "check-man: mandoc not found; lint skipped"
	exit 77
fi
tmp=${TMPDIR:-/tmp}/check-man.$$
rm -rf "$tmp"
mkdir "$tmp" || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM
ln -s "$mandir" "$tmp/man3" || exit 99
for page in "$mandir"/*.1 "$mandir"/*.3 "$mandir"/*.7; do
	[ -f "$page" ] || continue
	out=$(cd "$tmp" && "${MANDOC:-mandoc}" -Tlint -W warning "$page" 2>&1 |
	    grep -v 'WARNING: \.so is fragile, better use ln(1)')
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		fail=1
	fi
done

# 6. groff's warnings, read as lintian's groff-message check reads them (the
# deb build runs lintian with --fail-on warning): man(1) with warnings on,
# at lintian's 120 columns, in an empty environment.  A table that groff
# cannot keep on one page is found here and not only in the deb step.
# Skipped where man(1) is missing; stubs are the page they lead to.
if command -v man >/dev/null 2>&1; then
	for page in "$mandir"/*.1 "$mandir"/*.3 "$mandir"/*.7; do
		[ -f "$page" ] || continue
		is_stub "$page" && continue
		out=$(env -i PATH="$PATH" LC_ALL=C.UTF-8 MANROFFSEQ= MANWIDTH=120 \
		    man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
		if [ -n "$out" ]; then
			echo "check-man: ${page##*/}: groff: $out"
			fail=1
		fi
	done
fi

exit $fail
