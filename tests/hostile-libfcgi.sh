#!/bin/sh
# The one hostile stream that kills an instance, inside libfcgi (see the
# libfcgi_length_overflow case of tests/check_hostile.c and BUGS in
# spike-fcgi(8)).  Listed in XFAIL_TESTS: it is expected to fail until
# libfcgi is fixed, and make check reports it when it starts passing.
CK_RUN_CASE=libfcgi_length_overflow exec "${top_builddir:-.}/tests/check_hostile"
