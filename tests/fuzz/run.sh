#!/bin/sh
# tests/fuzz/run.sh: run one libFuzzer target for a number of seconds, for
# `make fuzz`.  Usage: run.sh TARGET SECONDS FUZZDIR [libFuzzer flags...]
# FUZZDIR is the source tree's tests/fuzz: the seed corpus is read from
# FUZZDIR/corpus/NAME and never written.  New inputs go to
# tests/fuzz/out/NAME/corpus in the build tree, a crashing input to
# tests/fuzz/out/NAME/crashes/.  Prints the executions run; on a crash it
# prints the report and a hex dump of the input, and exits 1.
set -eu

target=$1
seconds=$2
fuzzdir=$3
shift 3
name=$(basename "$target")
out=tests/fuzz/out/$name
log=$out/fuzz.log

mkdir -p "$out/corpus" "$out/crashes"
status=0
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$out/crashes/" "$@" \
	"$out/corpus" "$fuzzdir/corpus/$name" >"$log" 2>&1 || status=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
found=$(find "$out/crashes" -type f | head -n 1)
if [ "$status" -ne 0 ] || [ -n "$found" ]; then
	echo "fuzz: $name: FAILED (exit $status) after ${runs:-?} runs:" >&2
	grep -v '^#[0-9]' "$log" | tail -n 60 >&2
	for f in $(find "$out/crashes" -type f); do
		echo "fuzz: $name: input $f:" >&2
		od -A x -t x1z "$f" | head -n 40 >&2
	done
	exit 1
fi
echo "fuzz: $name: ${runs:-?} runs in $seconds s, no crash" \
	"(corpus $(ls "$out/corpus" | wc -l) new inputs)"
