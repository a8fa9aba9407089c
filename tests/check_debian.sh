#!/bin/sh
# check_debian.sh: the install of a Debian admin answers on port 80 next to
# Debian's default site (#13, "Done when").
#
# In a temporary directory: this tree configured as a Debian admin would
# (--prefix=/usr --sysconfdir=/etc --localstatedir=/var) in a build
# directory of its own and installed with DESTDIR=$root; a Debian-like
# nginx configuration under $root/etc/nginx (nginx.conf including
# conf.d/*.conf and sites-enabled/*, a default site with "listen 80
# default_server"); the documented nginx step, the installed spikectl's
# nginx-conf --listen 80 --server-name NAME written into conf.d/, and
# "nginx -t" passing before any spike-fcgi directory exists.  Then, in a
# private network namespace (so the machine's own port 80 and nginx are
# never touched): redis-server on 127.0.0.1:6379 as Debian's, spikectl
# init, the instances of the installed spike.conf started as
# spike-fcgi@.service starts them (spikectl -c CONF spawn ADDR, as an
# unprivileged user like the unit's DynamicUser), nginx on port 80.
# GET /buy/ticket for NAME is answered code 1, a request for any other
# name by the default site.  One more instance on a unix socket (mode
# 0660, its group www-data as the documented drop-in Group=www-data makes
# it) is reached by nginx too.
#
# The paths of spike.conf (stat_log, edge_log, sold_out_flag, the socket)
# point into the temporary directory.  Every process is stopped by pid
# and the namespace deleted, even on failure.
#
# Run by make check with top_srcdir, MAKE, REDIS_SERVER, NGINX and
# SPAWN_FCGI set; as root (ip netns, nginx on port 80).  Nothing is skipped.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
MAKE=${MAKE:-make}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
NGINX=${NGINX:-nginx}
# nginx reads $NGINX as sockets handed over by an old master: not ours.
nginx_bin=$NGINX
unset NGINX
CURL=${CURL:-curl}
SLOWDOWN=${SPIKE_TEST_SLOWDOWN:-1}

me=check_debian
name=tickets.example
status=0
pids=
tmp=
ns=

# say, fail, die, stop PID...
. "$top_srcdir/tests/sh-common.sh"

cleanup() {
	rc=$?
	trap - EXIT INT TERM
	# shellcheck disable=SC2086
	[ -n "$pids" ] && stop $pids
	# Anything left in the namespace (a child the pids missed), by pid.
	if [ -n "$ns" ]; then
		# shellcheck disable=SC2046
		stop $(ip netns pids "$ns" 2>/dev/null)
		ip netns del "$ns" 2>/dev/null
	fi
	if [ -n "$tmp" ] && [ -z "${KEEP_TMP:-}" ]; then rm -rf "$tmp"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" -eq 0 ] || die "needs root (ip netns add, nginx on port 80)"
for prog in "$REDIS_SERVER" "$nginx_bin" "$CURL" ip setpriv; do
	command -v "$prog" >/dev/null 2>&1 ||
		die "$prog not found: run scripts/deps"
done
id www-data >/dev/null 2>&1 || die "no user www-data (Debian's nginx user)"

# within TENTHS CMD...: run CMD every 0.1 s until it succeeds, for up to
# TENTHS tenths of a second times SPIKE_TEST_SLOWDOWN.
within() {
	n=$(($1 * ${SLOWDOWN%.*}))
	shift
	i=0
	while ! "$@"; do
		[ $i -lt "$n" ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spike-debian.XXXXXX") || die "mktemp"
chmod 755 "$tmp"
root=$tmp/root
unset MAKEFLAGS MFLAGS MAKELEVEL

# ---- install as a Debian admin would ----------------------------------
say "configure --prefix=/usr --sysconfdir=/etc --localstatedir=/var," \
	"make install DESTDIR=$root"
mkdir "$tmp/build" || die "mkdir"
(cd "$tmp/build" && "$top_srcdir/configure" -q --prefix=/usr \
	--sysconfdir=/etc --localstatedir=/var ${CC:+CC="$CC"} &&
	$MAKE -s && $MAKE -s install DESTDIR="$root") >"$tmp/build.log" 2>&1 ||
	{ tail -n 40 "$tmp/build.log" >&2; die "build or install failed"; }
spikectl=$root/usr/bin/spikectl
program=$root/usr/sbin/spike-fcgi
conf=$root/etc/spike/spike.conf
for f in "$spikectl" "$program" "$conf" \
	"$root/lib/systemd/system/spike-fcgi@.service"; do
	[ -f "$f" ] || die "not installed: $f"
done
units=$root/lib/systemd/system
unit_cmd=$(sed -n 's/^ExecStart=//p' "$units/spike-fcgi@.service")
[ "$unit_cmd" = "/usr/bin/spikectl -c /etc/spike/spike.conf spawn %I" ] ||
	fail "spike-fcgi@.service runs '$unit_cmd'"

# The installed spike.conf, its paths moved into $tmp (what the unit's
# LogsDirectory and RuntimeDirectory would be), and one unix instance.
logdir=$tmp/var/log/spike-fcgi
edge_log=$tmp/var/log/nginx/spike-fcgi-edge.log
rundir=$tmp/run/spike-fcgi
sock=unix:$rundir/e.sock
sed -e "s|^#*stat_log = .*|stat_log = $logdir/stat.log|" \
	-e "s|^#*sold_out_flag = .*|sold_out_flag = $rundir/sold-out|" \
	-e "s|^#*edge_log = .*|edge_log = $edge_log|" \
	"$conf" >"$conf.new" && mv "$conf.new" "$conf" || die "edit $conf"
echo "instance = $sock weight=1" >>"$conf"
grep -q "^stat_log = $logdir/stat.log$" "$conf" &&
	grep -q "^sold_out_flag = $rundir/sold-out$" "$conf" ||
	die "$conf: stat_log or sold_out_flag not found to set"
grep -q '^edge_log = ' "$conf" ||
	fail "$conf documents no edge_log: nginx's edge log still needs" \
		"the instances' log directory (#13 defect 1)"
mkdir -p "$tmp/var/log/nginx" || die "mkdir"

# ---- nginx as Debian ships it, and the documented step ---------------
ngx=$root/etc/nginx
mkdir -p "$ngx/conf.d" "$ngx/sites-available" "$ngx/sites-enabled" \
	"$root/var/www/html" "$tmp/nginx" || die "mkdir"
echo "debian default page" >"$root/var/www/html/index.html"
cat >"$ngx/nginx.conf" <<EOF
user www-data;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
daemon off;
events { worker_connections 128; }
http {
	sendfile on;
	default_type application/octet-stream;
	access_log $tmp/nginx/access.log;
	error_log $tmp/nginx/error.log info;
	client_body_temp_path $tmp/nginx/body;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	proxy_temp_path $tmp/nginx/proxy;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	include $ngx/conf.d/*.conf;
	include $ngx/sites-enabled/*;
}
EOF
cat >"$ngx/sites-available/default" <<EOF
server {
	listen 80 default_server;
	root $root/var/www/html;
	index index.html;
	server_name _;
	location / {
		try_files \$uri \$uri/ =404;
	}
}
EOF
ln -s "$ngx/sites-available/default" "$ngx/sites-enabled/default"

say "spikectl nginx-conf --listen 80 --server-name $name > conf.d"
"$spikectl" -c "$conf" nginx-conf --listen 80 --server-name "$name" \
	>"$ngx/conf.d/spike-fcgi.conf" 2>"$tmp/nginx-conf.err" ||
	die "nginx-conf: $(cat "$tmp/nginx-conf.err")"

ns=spk$$-deb
ip netns add "$ns" || { ns=; die "ip netns add"; }
ip netns exec "$ns" ip link set lo up || die "lo up in $ns"
# inns CMD...: CMD in the namespace.  Not for "&": a function run in the
# background is a subshell, whose pid is not CMD's; those call "ip netns
# exec" themselves, which execs CMD in place.
inns() { ip netns exec "$ns" "$@"; }

say "nginx -t before any spike-fcgi directory exists"
[ -e "$logdir" ] || [ -e "$rundir" ] && die "$logdir or $rundir exists"
inns "$nginx_bin" -t -c "$ngx/nginx.conf" -e "$tmp/nginx/error.log" \
	>"$tmp/nginx-t.log" 2>&1 ||
	fail "nginx -t before spike-fcgi ran: $(cat "$tmp/nginx-t.log")"

# ---- Redis, the sale, the instances ----------------------------------
say "redis-server on 127.0.0.1:6379 in $ns"
mkdir "$tmp/redis" || die "mkdir"
ip netns exec "$ns" "$REDIS_SERVER" --port 6379 --bind 127.0.0.1 \
	--dir "$tmp/redis" \
	--save '' --appendonly no --daemonize no \
	--logfile "$tmp/redis/redis.log" &
pids="$pids $!"
# status exits 1 while Redis does not answer (3: no instance live).
redis_ping() {
	inns "$spikectl" -c "$conf" status >/dev/null 2>&1
	[ $? -ne 1 ]
}
within 100 redis_ping || die "Redis not up: $(tail -n 5 "$tmp/redis/redis.log")"
inns "$spikectl" -c "$conf" init 1000 || fail "spikectl init 1000"

# The unit's LogsDirectory and RuntimeDirectory: made by systemd for the
# dynamic user, here for nobody, who runs the instances.
mkdir -p "$logdir" "$rundir" && chown nobody:nogroup "$logdir" "$rundir" &&
	chmod 755 "$logdir" "$rundir" || die "mkdir $logdir $rundir"
# spawn ADDR GROUP: the unit's command line, as nobody:GROUP.
spawn() {
	say "spikectl -c $conf spawn $1 --program $program (as nobody:$2)"
	ip netns exec "$ns" setpriv --reuid=nobody --regid="$2" \
		--clear-groups -- \
		"$spikectl" -c "$conf" spawn "$1" --program "$program" \
		>"$tmp/inst-$(echo "$1" | tr -c 'A-Za-z0-9\n' _).log" 2>&1 &
	pids="$pids $!"
}
for addr in $(inns "$spikectl" -c "$conf" instances --local); do
	case $addr in
	unix:*) spawn "$addr" www-data ;;
	*) spawn "$addr" nogroup ;;
	esac
done
all_live() {
	inns "$spikectl" -c "$conf" status --json >"$tmp/status.json" 2>&1 &&
		grep -q '"live_instances":5,' "$tmp/status.json"
}
within 100 all_live || fail "not 5 live instances: $(cat "$tmp/status.json")"
perm=$(stat -c '%a %G' "${sock#unix:}" 2>/dev/null)
[ "$perm" = "660 www-data" ] || fail "$sock: mode and group '$perm'"

# ---- nginx on port 80 ------------------------------------------------
say "nginx on port 80 in $ns"
ip netns exec "$ns" "$nginx_bin" -c "$ngx/nginx.conf" \
	-e "$tmp/nginx/error.log" >"$tmp/nginx/stderr.log" 2>&1 &
nginx_pid=$!
pids="$pids $nginx_pid"
# get HOST PATH: the body nginx answers for HOST; status in $tmp/code.
get() {
	inns "$CURL" -s -o "$tmp/body" -w '%{http_code}' -H "Host: $1" \
		"http://127.0.0.1$2" >"$tmp/code" 2>/dev/null
	cat "$tmp/body" 2>/dev/null
}
nginx_up() { get other.example / >/dev/null && [ "$(cat "$tmp/code")" = 200 ]; }
within 100 nginx_up || die "nginx not up: $(cat "$tmp/nginx/error.log")"

say "GET /buy/ticket for $name"
out=$(get "$name" "/buy/ticket?user=debian1")
case $out in
*'"code":1,'*) say "answered: $out" ;;
*) fail "GET /buy/ticket for $name: $(cat "$tmp/code") $out" ;;
esac
say "the same with the port in Host"
out=$(get "$name:80" "/buy/ticket?user=debian2")
case $out in
*'"code":1,'*) ;;
*) fail "GET /buy/ticket for $name:80: $(cat "$tmp/code") $out" ;;
esac
say "another name: Debian's default site"
out=$(get www.example /)
[ "$out" = "debian default page" ] && [ "$(cat "$tmp/code")" = 200 ] ||
	fail "GET / for www.example: $(cat "$tmp/code") $out"
out=$(get www.example "/buy/ticket?user=debian3")
[ "$(cat "$tmp/code")" = 404 ] || fail "GET /buy/ticket for" \
	"www.example reached the service: $(cat "$tmp/code") $out"
say "this machine's scrape, as the example prometheus.yml makes it"
out=$(get 127.0.0.1:80 /metrics/1)
case $out in
*spike_build_info*) ;;
*) fail "GET /metrics/1 for 127.0.0.1:80: $(cat "$tmp/code") $out" ;;
esac
say "the unix-socket instance (0660, group www-data) through nginx"
out=$(get "$name" /healthz/5)
[ "$(cat "$tmp/code")" = 200 ] ||
	fail "GET /healthz/5 (the unix instance): $(cat "$tmp/code") $out"

# shellcheck disable=SC2086
stop $pids
pids=
left=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
[ -z "$left" ] || fail "processes left in $ns after stopping ours: $left"
[ $status -eq 0 ] && say "PASS"
exit $status
