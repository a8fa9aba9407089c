#!/bin/sh
# lint-man.sh: the man pages are mandoc-clean and document every key of
# src/spike.conf with its default, and no key that is not there.
# Run by make check with top_srcdir, top_builddir and MANDOC set; a skip counts as a
# failure in this project, so a missing mandoc fails.

top_srcdir=${top_srcdir:-$(dirname "$0")/..}
# The pages are made from man/*.in by make, in the build tree.
top_builddir=${top_builddir:-$top_srcdir}
MANDOC=${MANDOC-$(command -v mandoc)}

conf=$top_srcdir/src/spike.conf
page8=$top_builddir/man/spike-fcgi.8
page5=$top_builddir/man/spike.conf.5
page1=$top_builddir/man/spikectl.1
# Keys and defaults are compared before make fills in the paths: both
# files name them as @sysconfdir@ and the like.
page5_in=$top_srcdir/man/spike.conf.5.in
fail=0

if [ -z "$MANDOC" ]; then
	echo "lint-man: mandoc not found: install the Debian package mandoc" \
	    "and run configure again" >&2
	exit 1
fi

for page in "$page8" "$page5" "$page1"; do
	if [ ! -r "$page" ]; then
		echo "lint-man: $page: cannot read" >&2
		fail=1
		continue
	fi
	out=$("$MANDOC" -Tlint -Wwarning "$page" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
		printf '%s\n' "$out" >&2
		echo "lint-man: $page: mandoc -Tlint -Wwarning failed" \
		    "(exit $rc)" >&2
		fail=1
	fi
done

if [ ! -r "$conf" ] || [ ! -r "$page5_in" ]; then
	echo "lint-man: cannot read $conf or $page5_in" >&2
	exit 1
fi
page5=$page5_in

# Keys set or shown commented out in spike.conf: "key = value", "#key = value".
conf_keys=$(sed -n 's/^#\{0,1\}\([a-z_][a-z_]*\)[ 	]*=.*/\1/p' "$conf" |
    sort -u)
# Keys documented in spike.conf.5: ".It Ic key ...".
page_keys=$(awk '$1 == ".It" && $2 == "Ic" { print $3 }' "$page5" | sort -u)

if [ -z "$conf_keys" ]; then
	echo "lint-man: $conf: no keys found" >&2
	fail=1
fi

for key in $conf_keys; do
	if ! printf '%s\n' "$page_keys" | grep -qx "$key"; then
		echo "lint-man: key '$key' of $conf is not documented in" \
		    "$page5" >&2
		fail=1
	fi
done
for key in $page_keys; do
	if ! printf '%s\n' "$conf_keys" | grep -qx "$key"; then
		echo "lint-man: key '$key' documented in $page5 is not in" \
		    "$conf" >&2
		fail=1
	fi
done

# Each default shown in spike.conf ("#key = value") must appear in that
# key's entry of spike.conf.5.
defaults=$(sed -n 's/^#\([a-z_][a-z_]*\)[ 	]*=[ 	]*\([^ 	]*\).*/\1 \2/p' \
    "$conf")
printf '%s\n' "$defaults" | {
	bad=0
	while read -r key value; do
		[ -n "$key" ] || continue
		entry=$(awk -v k="$key" '
			$1 == ".It" { in_entry = ($2 == "Ic" && $3 == k) }
			$1 == ".El" { in_entry = 0 }
			in_entry' "$page5")
		if ! printf '%s\n' "$entry" | grep -qF -e "$value"; then
			echo "lint-man: default '$key = $value' of $conf is" \
			    "not in its entry of $page5" >&2
			bad=1
		fi
	done
	exit $bad
} || fail=1

exit $fail
