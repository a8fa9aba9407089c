#!/bin/sh
# check_install.sh: what an operator installs, and that it runs.
#
# 1. make install DESTDIR=... of this build: the layout (programs, example
#    spike.conf, man pages, systemd units and generator, logrotate file,
#    nginx example, README.md and the Prometheus examples in the doc
#    directory), an existing spike.conf kept on a second install, and
#    make uninstall leaving only that changed spike.conf.
# 2. A second build installed for real into a temporary prefix, so that
#    the units name programs and files that exist:
#    - systemd-analyze verify of the installed units (skipped, saying so,
#      only when systemd-analyze is absent), and their security exposure;
#    - the generator, run on a spike.conf with a TCP and a unix instance,
#      writes one Wants= link per instance line, and none for a bad file;
#    - each unit's ExecStart, read from the installed unit with %I
#      replaced, started as written against a real redis-server and shown
#      serving a purchase over FastCGI (cgi-fcgi); stopped by pid.  Run
#      as root, it runs as nobody (setpriv), as the unit's DynamicUser
#      does: spike-fcgi refuses root.  A unix socket is mode 0660;
#    - spike-fcgi.service's ExecStart succeeds while an instance is live
#      and fails (spikectl status, exit 3) once none is;
#    - spikectl --help and --version: stdout, exit 0.
# 3. Where configure puts the units and the generator: under any prefix
#    but /usr (systemd's own directories there, from pkg-config), where
#    given, and nowhere with --without-...dir (no directory named "no").
#
# Run by make check with top_srcdir, top_builddir, MAKE, REDIS_SERVER,
# SYSTEMD_ANALYZE and CGI_FCGI set.  A skip counts as a failure in this
# project: nothing here is skipped but the systemd-analyze steps.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
MAKE=${MAKE:-make}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
CGI_FCGI=${CGI_FCGI:-cgi-fcgi}
SYSTEMD_ANALYZE=${SYSTEMD_ANALYZE-$(command -v systemd-analyze)}

me=check_install
status=0
pids=
tmp=

# say, fail, die, stop PID...
. "$top_srcdir/tests/sh-common.sh"

cleanup() {
	rc=$?
	trap - EXIT INT TERM
	# shellcheck disable=SC2086
	[ -n "$pids" ] && stop $pids
	if [ -n "$tmp" ] && [ -z "${KEEP_TMP:-}" ]; then rm -rf "$tmp"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for prog in "$REDIS_SERVER" "$CGI_FCGI"; do
	command -v "$prog" >/dev/null 2>&1 ||
		die "$prog not found: run scripts/deps (packages redis-server, libfcgi-bin)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spike-install.XXXXXX") || die "mktemp"
chmod 755 "$tmp"
# Make run below us, not as part of the make check that runs us.
unset MAKEFLAGS MFLAGS MAKELEVEL

# ---- 1. DESTDIR install of this build --------------------------------
dirs=$($MAKE -s -C "$top_builddir" print-install-dirs) ||
	die "make print-install-dirs failed"
eval "$dirs"
# shellcheck disable=SC2154
say "layout: make install DESTDIR=$tmp/dest (prefix $prefix)"
dest=$tmp/dest
$MAKE -C "$top_builddir" install DESTDIR="$dest" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log" >&2; die "make install DESTDIR failed"; }

# shellcheck disable=SC2154
for f in "$sbindir/spike-fcgi" "$bindir/spikectl" \
	"$systemdsystemgeneratordir/spike-fcgi-generator"; do
	[ -f "$dest$f" ] && [ -x "$dest$f" ] || fail "$f: not installed executable"
done
# shellcheck disable=SC2154
for f in "$sysconfdir/spike/spike.conf" "$mandir/man8/spike-fcgi.8" \
	"$mandir/man5/spike.conf.5" "$mandir/man1/spikectl.1" \
	"$systemdsystemunitdir/spike-fcgi.service" \
	"$systemdsystemunitdir/spike-fcgi@.service" \
	"$systemdsystemunitdir/spike-fcgi-logrotate.service" \
	"$systemdsystemunitdir/spike-fcgi-logrotate.timer" \
	"$logrotatedir/spike-fcgi" \
	"$pkgdatadir/nginx/spike-fcgi.conf"; do
	[ -f "$dest$f" ] || fail "$f: not installed"
done
# The monitoring examples, beside README.md in the doc directory.
# shellcheck disable=SC2154
cmp -s "$top_srcdir/README.md" "$dest$docdir/README.md" ||
	fail "$docdir/README.md: not installed"
for f in prometheus.yml spike-fcgi.rules.yml spike-fcgi.rules.test.yml \
	spike-fcgi.dashboard.json; do
	cmp -s "$top_srcdir/scripts/prometheus/$f" \
		"$dest$docdir/examples/prometheus/$f" ||
		fail "$docdir/examples/prometheus/$f: not installed"
done
unit=$dest$systemdsystemunitdir/spike-fcgi@.service
grep -qx "ExecStart=$bindir/spikectl -c $sysconfdir/spike/spike.conf spawn %I" \
	"$unit" 2>/dev/null || fail "spike-fcgi@.service: unexpected ExecStart"
if grep -l '@[a-z_]*dir@' "$dest$systemdsystemunitdir"/spike-fcgi* \
	"$dest$systemdsystemgeneratordir/spike-fcgi-generator" \
	"$dest$logrotatedir/spike-fcgi" 2>/dev/null; then
	fail "the files above still hold @...dir@ placeholders"
fi
sed "s|@sysconfdir@|$sysconfdir|g" "$top_srcdir/src/spike.conf" |
	cmp -s - "$dest$sysconfdir/spike/spike.conf" ||
	fail "the installed spike.conf is not src/spike.conf with" \
		"@sysconfdir@ made $sysconfdir"
if grep -n '@[a-z_]*@' "$dest$sysconfdir/spike/spike.conf"; then
	fail "the installed spike.conf still holds placeholders (above)"
fi

say "layout: a second install keeps a changed spike.conf"
echo "# changed by the operator" >>"$dest$sysconfdir/spike/spike.conf"
$MAKE -C "$top_builddir" install DESTDIR="$dest" >"$tmp/install2.log" 2>&1 ||
	{ cat "$tmp/install2.log" >&2; die "second make install failed"; }
grep -q '^# changed by the operator$' "$dest$sysconfdir/spike/spike.conf" ||
	fail "make install overwrote an existing spike.conf"

say "layout: make uninstall leaves only the changed spike.conf"
$MAKE -C "$top_builddir" uninstall DESTDIR="$dest" >"$tmp/uninstall.log" 2>&1 ||
	{ cat "$tmp/uninstall.log" >&2; die "make uninstall failed"; }
left=$(cd "$dest" && find . -type f -o -type l)
[ "$left" = ".$sysconfdir/spike/spike.conf" ] ||
	fail "after make uninstall, expected only .$sysconfdir/spike/spike.conf, found: $left"

# ---- 2. a real install into a temporary prefix -----------------------
pfx=$tmp/prefix
say "build and install into $pfx"
mkdir "$tmp/build" || die "mkdir"
(cd "$tmp/build" && "$top_srcdir/configure" -q --prefix="$pfx" \
	${CC:+CC="$CC"} && $MAKE -s install) >"$tmp/build.log" 2>&1 ||
	{ tail -n 40 "$tmp/build.log" >&2; die "configure/make install into $pfx failed"; }
units=$pfx/lib/systemd/system
generator=$pfx/lib/systemd/system-generators/spike-fcgi-generator
spikectl=$pfx/bin/spikectl
conf=$pfx/etc/spike/spike.conf
# The default: under the prefix, not pkg-config's directories (#13, 7).
for f in "$units/spike-fcgi.service" "$units/spike-fcgi@.service" \
	"$generator"; do
	[ -f "$f" ] || fail "configure --prefix=$pfx: no $f"
done

say "spikectl --help and --version"
out=$("$spikectl" --help 2>"$tmp/help.err")
rc=$?
[ $rc -eq 0 ] && [ ! -s "$tmp/help.err" ] ||
	fail "spikectl --help: exit $rc, stderr: $(cat "$tmp/help.err")"
case $out in
usage:\ spikectl*--help*--version*status*nginx-conf*--server-name*) ;;
*) fail "spikectl --help: $out" ;;
esac
# shellcheck disable=SC2154
v=$("$spikectl" --version)
[ "$v" = "spikectl $version" ] ||
	fail "spikectl --version: '$v', want 'spikectl $version'"

if [ -z "$SYSTEMD_ANALYZE" ]; then
	say "SKIP: systemd-analyze not found (Debian package systemd):" \
		"the units are not verified"
else
	say "systemd-analyze verify $units/spike-fcgi.service spike-fcgi@.service" \
		"spike-fcgi-logrotate.service spike-fcgi-logrotate.timer"
	"$SYSTEMD_ANALYZE" verify --man=no "$units/spike-fcgi.service" \
		"$units/spike-fcgi@.service" \
		"$units/spike-fcgi-logrotate.service" \
		"$units/spike-fcgi-logrotate.timer" >"$tmp/verify.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ] || [ -s "$tmp/verify.log" ]; then
		cat "$tmp/verify.log" >&2
		fail "systemd-analyze verify: exit $rc"
	fi
	if "$SYSTEMD_ANALYZE" --help 2>/dev/null | grep -q -- '--offline'; then
		score=$("$SYSTEMD_ANALYZE" security --offline=yes \
			"$units/spike-fcgi@.service" 2>/dev/null |
			sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
		say "systemd-analyze security --offline=yes spike-fcgi@.service: exposure $score"
		case $score in
		0.* | 1.[0-4]) ;;
		*) fail "spike-fcgi@.service exposure '$score', want below 1.5" ;;
		esac
	else
		say "SKIP: this systemd-analyze has no security --offline"
	fi
fi

# ---- the generator --------------------------------------------------
# escape ADDR: the unit instance name systemd would use.
escape() {
	if command -v systemd-escape >/dev/null 2>&1; then
		systemd-escape -- "$1"
	else
		printf '%s\n' "$1" | sed -e 's/\\/\\x5c/g' -e 's/-/\\x2d/g' -e 's|/|-|g'
	fi
}
unescape() {
	if command -v systemd-escape >/dev/null 2>&1; then
		systemd-escape -u -- "$1"
	else
		printf '%s\n' "$1" | sed -e 's|-|/|g' -e 's/\\x2d/-/g' -e 's/\\x5c/\\/g'
	fi
}

# A loopback TCP port no socket uses now (ss when there, else luck),
# below the kernel's ephemeral range, where other tests' rigs take theirs.
pick_port() {
	low=32768
	if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
		read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	fi
	[ "$low" -gt 11024 ] || low=32768
	while :; do
		r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		p=$((10000 + r % (low - 11000)))
		if command -v ss >/dev/null 2>&1 &&
			ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
			continue
		fi
		echo "$p"
		return
	done
}

mkdir -p "$tmp/run" "$tmp/redis" || die "mkdir"
# $as_unit CMD...: run CMD as the unit runs it, unprivileged: as root,
# as nobody/nogroup (setpriv execs CMD in place, so the pid stays the
# instance's), who then owns the run directory (stat.log and the unix
# socket go there, as in the unit's LogsDirectory/RuntimeDirectory).
as_unit=
if [ "$(id -u)" -eq 0 ]; then
	command -v setpriv >/dev/null 2>&1 ||
		die "setpriv not found: install util-linux"
	chown nobody:nogroup "$tmp/run" || die "chown nobody $tmp/run"
	as_unit="setpriv --reuid=nobody --regid=nogroup --clear-groups --"
fi
redis_sock=$tmp/redis/redis.sock
unix_addr=unix:$tmp/run/inst-b.sock

write_conf() { # PORT
	cat >"$conf" <<EOF
# written by tests/check_install.sh
redis = unix:$redis_sock
stat_log = $tmp/run/stat.log
threads = 4
sync_ms = 100
instance = 127.0.0.1:$1 weight=1
instance = $unix_addr weight=2
EOF
}

# run_generator: the generator into $tmp/gen; sets links to its output.
run_generator() {
	rm -rf "$tmp/gen" && mkdir -p "$tmp/gen" "$tmp/gen-early" "$tmp/gen-late"
	"$generator" "$tmp/gen" "$tmp/gen-early" "$tmp/gen-late" 2>"$tmp/gen.log"
}

# check_links ADDR...: exactly one link per address, to the template.
check_links() {
	wants=$tmp/gen/spike-fcgi.service.wants
	n=$(ls "$wants" 2>/dev/null | wc -l)
	[ "$n" -eq $# ] || fail "generator: $n links in $wants, want $#"
	for a in "$@"; do
		link=$wants/spike-fcgi@$(escape "$a").service
		if [ ! -L "$link" ]; then
			fail "generator: no link $link"
		elif [ "$(readlink "$link")" != "$units/spike-fcgi@.service" ]; then
			fail "generator: $link points to $(readlink "$link")"
		fi
	done
}

say "generator: no spike.conf, no instance"
rm -f "$conf"
run_generator || fail "generator without spike.conf: exit $?"
[ -e "$tmp/gen/spike-fcgi.service.wants" ] && fail "generator: links without spike.conf"

say "generator: a bad spike.conf makes no instance and says where"
printf 'instance = 127.0.0.1:3001\nthreads = many\n' >"$conf"
if run_generator; then fail "generator: exit 0 on a bad spike.conf"; fi
grep -q "$conf:2:" "$tmp/gen.log" || fail "generator: no FILE:LINE in: $(cat "$tmp/gen.log")"

say "generator: run by systemd, its errors go to the kernel log at <3>"
: >"$tmp/kmsg"
rm -rf "$tmp/gen" && mkdir -p "$tmp/gen"
if SYSTEMD_SCOPE=system SPIKE_GENERATOR_KMSG=$tmp/kmsg \
	"$generator" "$tmp/gen" 2>"$tmp/gen.log"; then
	fail "generator: exit 0 on a bad spike.conf"
fi
[ -s "$tmp/gen.log" ] &&
	fail "generator: wrote to stderr: $(cat "$tmp/gen.log")"
grep -q "^<3>spike-fcgi-generator: spikectl: $conf:2: " "$tmp/kmsg" ||
	fail "generator: no <3> FILE:LINE line in its kmsg: $(cat "$tmp/kmsg")"
grep -qv '^<3>spike-fcgi-generator: ' "$tmp/kmsg" &&
	fail "generator: kernel log lines without <3>: $(cat "$tmp/kmsg")"
[ -e "$tmp/gen/spike-fcgi.service.wants" ] && fail "generator: links for a bad spike.conf"

# ---- Redis and each unit's command line -------------------------------
say "redis-server on $redis_sock"
"$REDIS_SERVER" --port 0 --unixsocket "$redis_sock" --unixsocketperm 777 \
	--dir "$tmp/redis" --save '' --appendonly no --daemonize no \
	--logfile "$tmp/redis/redis.log" &
redis_pid=$!
pids="$pids $redis_pid"

# exec_start UNIT INSTANCE: the unit's ExecStart= with %I replaced.
exec_start() {
	line=$(sed -n 's/^ExecStart=//p' "$units/$1")
	printf '%s\n' "$line" | sed "s|%I|$2|g"
}

# fcgi_get ADDR QUERY: GET /buy/ticket?QUERY from the responder at ADDR.
fcgi_get() {
	case $1 in
	unix:*) to=${1#unix:} ;;
	*) to=$1 ;;
	esac
	env -i REQUEST_METHOD=GET DOCUMENT_URI=/buy/ticket QUERY_STRING="$2" \
		REQUEST_ID="check-install-$2" "$CGI_FCGI" -bind -connect "$to" \
		</dev/null 2>/dev/null
}

# start_unit ADDR: run spike-fcgi@ADDR's command line; sets unit_pid.
start_unit() {
	name=spike-fcgi@$(escape "$1").service
	inst=$(unescape "$(escape "$1")")
	[ "$inst" = "$1" ] || fail "$name: %I is '$inst', not '$1'"
	cmd=$(exec_start spike-fcgi@.service "$inst")
	say "$name: $cmd"
	# shellcheck disable=SC2086
	set -- $cmd
	# shellcheck disable=SC2086
	$as_unit "$@" >"$tmp/unit-$$-$(echo "$inst" | tr -c 'A-Za-z0-9\n' _).log" 2>&1 &
	unit_pid=$!
	pids="$pids $unit_pid"
}

# serving ADDR PID: wait up to 10 s for a purchase to be answered, by a
# user of this instance's own (an answer "code":1 without "repeat").
serving() {
	i=0
	case $1 in
	unix:*) tag=unix ;;
	*) tag=tcp ;;
	esac
	while [ $i -lt 100 ]; do
		if ! kill -0 "$2" 2>/dev/null; then return 1; fi
		out=$(fcgi_get "$1" "user=$tag$i") && case $out in
		*'"repeat"'*) ;;
		*'"code":1'*)
			answer=$out
			return 0
			;;
		esac
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

i=0
while :; do
	[ -S "$redis_sock" ] && break
	kill -0 "$redis_pid" 2>/dev/null || die "redis-server exited: $(tail -n 5 "$tmp/redis/redis.log")"
	[ $i -lt 100 ] || die "redis-server not up after 10 s"
	sleep 0.1
	i=$((i + 1))
done

started=
for attempt in 1 2 3 4 5; do
	port=$(pick_port)
	write_conf "$port"
	say "generator: spike.conf with 127.0.0.1:$port and $unix_addr"
	run_generator || { cat "$tmp/gen.log" >&2; fail "generator: exit $?"; }
	check_links "127.0.0.1:$port" "$unix_addr"
	[ $attempt -eq 1 ] && { "$spikectl" -c "$conf" init 100 ||
		fail "spikectl init 100"; }
	start_unit "127.0.0.1:$port"
	tcp_pid=$unit_pid
	if serving "127.0.0.1:$port" "$tcp_pid"; then
		started=1
		break
	fi
	say "127.0.0.1:$port did not serve (port taken?); another port"
	stop "$tcp_pid"
done
[ -n "$started" ] || die "the TCP instance never served: $(cat "$tmp"/unit-*.log)"
say "127.0.0.1:$port serves: $(printf '%s' "$answer" | tail -n 1)"

start_unit "$unix_addr"
unix_pid=$unit_pid
if serving "$unix_addr" "$unix_pid"; then
	say "$unix_addr serves: $(printf '%s' "$answer" | tail -n 1)"
else
	fail "$unix_addr never served: $(cat "$tmp"/unit-*.log)"
fi
perm=$(stat -c %a "${unix_addr#unix:}" 2>/dev/null)
[ "$perm" = 660 ] || fail "$unix_addr: socket mode $perm, want 660"

umbrella=$(exec_start spike-fcgi.service '')
case $umbrella in
*" status --wait "*) ;;
*) fail "spike-fcgi.service does not wait for a live instance: $umbrella" ;;
esac
say "spike-fcgi.service: $umbrella"
# shellcheck disable=SC2086
$umbrella >"$tmp/umbrella.log" 2>&1 ||
	fail "spike-fcgi.service ExecStart failed: $(cat "$tmp/umbrella.log")"

# The logrotate unit's command on the installed file, in debug mode (it
# rotates nothing) and with a state file of the test's own.
lr=$(exec_start spike-fcgi-logrotate.service '')
say "spike-fcgi-logrotate.service: $lr -d"
# shellcheck disable=SC2086
lr_out=$($lr -d --state "$tmp/logrotate.state" 2>&1) ||
	fail "spike-fcgi-logrotate.service ExecStart -d failed: $lr_out"
case $lr_out in
*error*) fail "logrotate -d on the installed file: $lr_out" ;;
*"rotating pattern: /var/log/spike-fcgi/stat.log "*) ;;
*) fail "logrotate -d: the installed file does not rotate stat.log: $lr_out" ;;
esac

say "spikectl status"
"$spikectl" -c "$conf" status || fail "spikectl status"
json=$("$spikectl" -c "$conf" status --json)
case $json in
*'"live_instances":2,'*) ;;
*) fail "status --json: not 2 live instances: $json" ;;
esac

say "spawn refuses an address that is not an instance line"
"$spikectl" -c "$conf" spawn 127.0.0.1:1 2>"$tmp/spawn.log"
rc=$?
[ $rc -eq 1 ] || fail "spikectl spawn 127.0.0.1:1: exit $rc, want 1"

say "stopping the instances by pid (SIGTERM, exit 0)"
for p in $tcp_pid $unix_pid; do
	kill -TERM "$p"
	wait "$p"
	rc=$?
	[ $rc -eq 0 ] || fail "instance pid $p: exit $rc on SIGTERM, want 0"
done
pids=$redis_pid

# Every instance gone: the umbrella's command fails (after a shorter
# wait here), and so does spikectl status, with 3.
umbrella=$(printf '%s\n' "$umbrella" | sed 's/--wait [0-9]*/--wait 2/')
say "no instance live: $umbrella"
# shellcheck disable=SC2086
$umbrella >"$tmp/umbrella.log" 2>&1
rc=$?
[ $rc -eq 3 ] ||
	fail "spike-fcgi.service ExecStart, no live instance: exit $rc, want 3"
"$spikectl" -c "$conf" status >"$tmp/status.log" 2>&1
rc=$?
[ $rc -eq 3 ] || fail "spikectl status with no live instance: exit $rc, want 3"
grep -q 'instances: 0 of 2 live' "$tmp/status.log" ||
	fail "spikectl status: $(cat "$tmp/status.log")"

# ---- 3. where configure puts the units and the generator -------------
# dirs_of NAME CONFIGURE-ARGS...: configure in $tmp/cfg-NAME, then eval
# its install directories.
dirs_of() {
	d=$tmp/cfg-$1
	shift
	mkdir -p "$d" && (cd "$d" && "$top_srcdir/configure" -q "$@" \
		${CC:+CC="$CC"}) >"$d.log" 2>&1 ||
		{ tail -n 20 "$d.log" >&2; fail "configure $*"; return 1; }
	eval "$($MAKE -s -C "$d" print-install-dirs)"
}

sd_units=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)
sd_gen=$(pkg-config --variable=systemdsystemgeneratordir systemd 2>/dev/null)
say "configure --prefix=/usr: systemd's directories (${sd_units:-none})"
if dirs_of usr --prefix=/usr; then
	[ "$systemdsystemunitdir" = "${sd_units:-/usr/lib/systemd/system}" ] ||
		fail "--prefix=/usr: units in $systemdsystemunitdir"
	sd_gen=${sd_gen:-/usr/lib/systemd/system-generators}
	[ "$systemdsystemgeneratordir" = "$sd_gen" ] ||
		fail "--prefix=/usr: generator in $systemdsystemgeneratordir"
fi
say "configure --prefix=/opt/spike: under the prefix"
if dirs_of opt --prefix=/opt/spike; then
	[ "$systemdsystemunitdir" = /opt/spike/lib/systemd/system ] ||
		fail "--prefix=/opt/spike: units in $systemdsystemunitdir"
	[ "$systemdsystemgeneratordir" = \
		/opt/spike/lib/systemd/system-generators ] ||
		fail "--prefix=/opt/spike: generator in" \
			"$systemdsystemgeneratordir"
fi
say "configure --with-systemdsystemunitdir=/srv/u: there"
if dirs_of given --prefix=/opt/spike --with-systemdsystemunitdir=/srv/u \
	--with-systemdsystemgeneratordir=/srv/g; then
	[ "$systemdsystemunitdir" = /srv/u ] &&
		[ "$systemdsystemgeneratordir" = /srv/g ] ||
		fail "given directories not used: $systemdsystemunitdir" \
			"$systemdsystemgeneratordir"
fi
if (cd "$tmp" && "$top_srcdir/configure" -q --with-systemdsystemunitdir=rel) \
	>"$tmp/cfg-rel.log" 2>&1; then
	fail "configure took a relative --with-systemdsystemunitdir"
fi

# installed_systemd NAME: what make install-data put under $tmp/dest-NAME
# of the systemd units and generator, and any directory named "no".
installed_systemd() {
	rm -rf "$tmp/dest-$1"
	$MAKE -s -C "$tmp/cfg-$1" install-data DESTDIR="$tmp/dest-$1" \
		>"$tmp/install-$1.log" 2>&1 ||
		{
			cat "$tmp/install-$1.log" >&2
			fail "make install-data ($1)"
		}
	(cd "$tmp/dest-$1" && find . \( -name 'spike-fcgi*.service' -o \
		-name spike-fcgi-generator -o -name no \) -print | sort)
}
say "configure --without-systemdsystemunitdir: no units, no generator"
if dirs_of nounits --prefix=/opt/spike --without-systemdsystemunitdir; then
	got=$(installed_systemd nounits)
	[ -z "$got" ] || fail "--without-systemdsystemunitdir installed: $got"
fi
say "configure --without-systemdsystemgeneratordir: the units alone"
if dirs_of nogen --prefix=/opt/spike --without-systemdsystemgeneratordir; then
	got=$(installed_systemd nogen | tr '\n' ' ')
	u=./opt/spike/lib/systemd/system
	want="$u/spike-fcgi-logrotate.service $u/spike-fcgi.service"
	want="$want $u/spike-fcgi@.service "
	[ "$got" = "$want" ] ||
		fail "--without-systemdsystemgeneratordir installed: $got"
fi

[ $status -eq 0 ] && say "PASS"
exit $status
