#!/bin/bash
# bench-smoke.sh: scripts/bench runs end to end in a short mode (1 s a
# path, a burst of 2,000 tickets, then the same over 100 items) on the
# spike-fcgi just built, in a temporary run directory, passes its checks of the books and appends one
# line of JSON with every field. The figures themselves are not judged.
# Run by make check with top_srcdir and SPIKE_FCGI set.
set -euo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
SPIKE_FCGI=${SPIKE_FCGI:-${top_builddir:-.}/src/spike-fcgi}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# As root the instances run as nobody, who must reach the run directory.
chmod 755 "$tmp"

fail() {
	echo "bench-smoke: $*" >&2
	exit 1
}

[ -x "$SPIKE_FCGI" ] || fail "no spike-fcgi at $SPIKE_FCGI"

out=$tmp/results.jsonl
status=0
SPIKE_RUN_DIR=$tmp/run SPIKE_BENCH_FCGI=$SPIKE_FCGI \
	"$top_srcdir/scripts/bench" --short --duration 1 --burst-tickets 2000 \
	--out "$out" >"$tmp/bench.out" 2>&1 || status=$?
cat "$tmp/bench.out"
[ "$status" -eq 0 ] || fail "scripts/bench exited $status"

[ -f "$out" ] || fail "no $out was written"
[ "$(wc -l <"$out")" -eq 1 ] || fail "$out should hold one line, not $(wc -l <"$out")"
line=$(cat "$out")
case $line in
"{"*"}") ;;
*) fail "not a JSON object: $line" ;;
esac

# Every member the bench promises, once for each path where it belongs.
for field in time commit dirty mode duration_s connections wrk_threads cpus \
	loadavg ceiling rps_start rps_end ceiling_plain_rps buy sold_out burst tickets crowd seconds \
	buy_signed vs_buy durability fsync_vs_none replicas_vs_none \
	items_burst items tickets_each sell_out_ms median \
	to_sold_out_s p99_target_ms ok problems; do
	case $line in
	*"\"$field\":"*) ;;
	*) fail "no \"$field\" in $line" ;;
	esac
done
for field in rps ratio p50_ms p99_ms max_ms requests socket_errors others_cpu_pct answers; do
	n=$(grep -o "\"$field\":" <<<"$line" | wc -l)
	[ "$n" -eq 6 ] || fail "\"$field\" appears $n times, not once for each of the 6 paths"
done
case $line in
*'"mode":"short"'*'"duration_s":1,'*) ;;
*) fail "the line does not say mode short, 1 s: $line" ;;
esac
case $line in
*'"ok":true,"problems":[]}') ;;
*) fail "the run reports problems: $line" ;;
esac
grep -q '"tickets":2000,"crowd":20000,"sold":2000,' <<<"$line" ||
	fail "the burst did not sell exactly its 2000 tickets: $line"
grep -q '"items":100,"tickets_each":20,"crowd":20000,"sold":2000,' <<<"$line" ||
	fail "the burst over 100 items did not sell exactly their 2000 tickets: $line"

echo "bench-smoke: ok"
