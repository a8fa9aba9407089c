#!/bin/sh
# The one hostile stream that kills an instance, inside libfcgi (see the
# libfcgi_length_overflow case of tests/check_hostile.c and BUGS in
# spike-fcgi(8)).  Listed in XFAIL_TESTS: it is expected to fail until
# libfcgi is fixed, and make check reports it when it starts passing.
# Under ASan the abort is an expected allocation report: keep it out of
# the sanitizer logs that scripts/check-hardening fails on.
expected=${TMPDIR:-/tmp}/spike-hostile-libfcgi
if [ -n "${ASAN_OPTIONS:-}" ]; then
	ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$expected"
	export ASAN_OPTIONS
fi
if [ -n "${UBSAN_OPTIONS:-}" ]; then
	UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$expected"
	export UBSAN_OPTIONS
fi
CK_RUN_CASE=libfcgi_length_overflow exec "${top_builddir:-.}/tests/check_hostile"
