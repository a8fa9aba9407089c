# sh-common.sh: what the shell tests share, sourced after they set $me
# and status=0: say, fail (go on, the test fails), die (stop now), and
# stop PID... (SIGTERM, up to 5 s, then SIGKILL; by pid only).

say() { printf '%s: %s\n' "$me" "$*"; }
fail() {
	printf '%s: FAIL: %s\n' "$me" "$*" >&2
	status=1
}
die() {
	printf '%s: FAIL: %s\n' "$me" "$*" >&2
	exit 1
}

stop() {
	for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
	i=0
	while [ $i -lt 50 ]; do
		left=
		for p in "$@"; do
			if kill -0 "$p" 2>/dev/null; then left=1; fi
		done
		[ -z "$left" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	for p in "$@"; do kill -KILL "$p" 2>/dev/null; done
}
