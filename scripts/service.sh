# shellcheck shell=bash
# scripts/service.sh: the whole service on this machine, for the scripts
# that run it (scripts/quickstart, scripts/bench). Sourced, not run.
#
# Before sourcing, the script sets:
#   svc_name   its name, the prefix of what it says ("quickstart: ...")
#   root       the source tree
#   run        the run directory (absolute, existing)
#   prefix     where svc_build installs spike-fcgi
# and may define svc_before_stop, called first when it ends, to stop what
# it started itself (a sleep, wrk, perf) before the service goes down.
#
# Then, in this order:
#   svc_traps               stop everything by pid at exit, also on error
#   svc_lock                one script per run directory
#   svc_build               scripts/deps, build, install; sets spike and
#                           spikectl (or svc_use_built VAR: a built binary)
#   svc_ports               free loopback ports: redis_port, ports[], http_port
#   svc_configs             redis.conf, spike.conf, spike-fcgi -t, nginx's
#                           snippet (spikectl nginx-conf) and nginx.conf
#                           (with nginx_extra in its http block; written
#                           by svc_nginx_conf, which bench uses again)
#   svc_start_redis         start Redis and wait for PONG
#   svc_sale TOTAL          put a sale on (spikectl init TOTAL --force)
#   svc_start_front         the four instances (spikectl spawn) and nginx,
#                           wait until ready
# and at any time svc_check_alive, svc_stat, svc_wait_stat_log, rcli,
# free_port.
# The service is set up as an operator sets it up (spikectl(1)): spike.conf
# names the instances and weights, and spikectl does the rest.

: "${svc_name:?}" "${root:?}" "${run:?}" "${prefix:?}"

say() { printf '%s: %s\n' "$svc_name" "$*"; }
die() {
	printf '%s: %s\n' "$svc_name" "$*" >&2
	exit 1
}

# ---- stopping what we started -----------------------------------------
# Every process started here is recorded as "name pid" and stopped by that
# pid: SIGTERM, up to 5 s, then SIGKILL.
names=()
pids=()

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# stop_pids PID...: TERM them, wait up to 5 s, KILL what is left, reap.
stop_pids() {
	local pid left i
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for ((i = 0; i < 50; i++)); do
		left=0
		for pid in "$@"; do
			if alive "$pid"; then left=1; fi
		done
		[ "$left" -eq 0 ] && break
		sleep 0.1
	done
	for pid in "$@"; do
		if alive "$pid"; then
			echo "$svc_name: pid $pid did not stop within 5 s: SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	for pid in "$@"; do
		wait "$pid" 2>/dev/null || true
	done
}

svc_lock_file=
svc_cleanup() {
	local status=$? i front=() back=()
	trap - EXIT INT TERM
	if declare -F svc_before_stop >/dev/null; then svc_before_stop; fi
	if [ "${#pids[@]}" -gt 0 ]; then
		# nginx and the instances first (they flush stat.log and drop their
		# heartbeat from Redis), Redis last.
		local front_names=() back_names=()
		for ((i = 0; i < ${#pids[@]}; i++)); do
			if [ "${names[i]}" = redis ]; then
				back+=("${pids[i]}")
				back_names+=("${names[i]}")
			else
				front+=("${pids[i]}")
				front_names+=("${names[i]}")
			fi
		done
		say "stopping ${front_names[*]} ${back_names[*]}"
		if [ "${#front[@]}" -gt 0 ]; then stop_pids "${front[@]}"; fi
		if [ "${#back[@]}" -gt 0 ]; then stop_pids "${back[@]}"; fi
	fi
	if [ -n "$svc_lock_file" ]; then rm -f "$svc_lock_file"; fi
	if [ "$status" -ne 0 ] && [ "$status" -ne 130 ] && [ "$status" -ne 143 ]; then
		echo "$svc_name: failed (exit $status); logs are in $run" >&2
	fi
	exit "$status"
}

svc_traps() {
	trap svc_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# died NAME PID: say that a process we started has gone, show its log, fail.
died() {
	local log
	case $1 in
	redis) log=$run/redis/redis.log ;;
	nginx) log=$run/nginx/error.log ;;
	spike-fcgi:*) log=$run/instance-${1#spike-fcgi:}.log ;;
	yardstick:*) log=$run/yardstick/yardstick-${1#yardstick:}.log ;;
	nginx:yardstick) log=$run/yardstick/nginx/error.log ;;
	*) log=/dev/null ;;
	esac
	echo "$svc_name: $1 (pid $2) exited; the end of $log:" >&2
	tail -n 10 "$log" >&2 2>/dev/null || true
	exit 1
}

started() { # NAME PID
	names+=("$1")
	pids+=("$2")
}

# svc_check_alive: fail, showing its log, when a process we started is gone.
svc_check_alive() {
	local j
	for j in "${!pids[@]}"; do
		alive "${pids[j]}" || died "${names[j]}" "${pids[j]}"
	done
}

# svc_lock: one script per run directory ($run/NAME.pid holds its pid).
svc_lock() {
	local lock=$run/$svc_name.pid other
	if [ -f "$lock" ]; then
		other=$(cat "$lock" 2>/dev/null || true)
		if [ -n "$other" ] && alive "$other"; then
			die "another $svc_name (pid $other) is using $run; stop it or set SPIKE_RUN_DIR"
		fi
	fi
	echo "$$" >"$lock"
	svc_lock_file=$lock
}

# ---- build and install ---------------------------------------------------
build_log=$run/build.log
step() { # DESCRIPTION COMMAND...: run COMMAND into build.log, show its tail on failure
	local what=$1
	shift
	say "$what"
	if ! ("$@") >>"$build_log" 2>&1; then
		tail -n 40 "$build_log" >&2
		die "$what failed; the whole output is in $build_log"
	fi
}
do_autoreconf() { cd "$root" && autoreconf -fi; }
do_configure() { mkdir -p "$run/build" && cd "$run/build" && "$root/configure" --prefix="$prefix"; }

# svc_build: install what is missing, build in $run/build, install into
# $prefix; sets spike and spikectl to the installed binaries.
svc_build() {
	"$root/scripts/deps"
	: >"$build_log"
	if [ -f "$root/config.status" ]; then
		die "$root was configured in place; run 'make distclean' there first"
	fi
	step "autoreconf -fi" do_autoreconf
	step "configure --prefix=$prefix (in $run/build)" do_configure
	step "make" make -C "$run/build" -j2
	step "make install" make -C "$run/build" install
	spike=$prefix/sbin/spike-fcgi
	spikectl=$prefix/bin/spikectl
	[ -x "$spike" ] || die "$spike was not installed"
	[ -x "$spikectl" ] || die "$spikectl was not installed"
}

# svc_use_built VAR: instead of svc_build, take the spike-fcgi already
# built that the environment variable VAR names (no scripts/deps, no
# build), and spikectl from SPIKECTL, or else beside it (a build tree's
# src/ holds both).
svc_use_built() {
	spike=${!1}
	[ -x "$spike" ] || die "$1=$spike is not an executable"
	spikectl=${SPIKECTL:-$(dirname "$spike")/spikectl}
	[ -x "$spikectl" ] || die "no spikectl at $spikectl: build it (make) or set SPIKECTL"
	say "using $spike and $spikectl ($1: no build)"
}

# ---- ports ---------------------------------------------------------------
# free_port: sets PORT to a loopback TCP port nothing listens on, not one
# already handed out by this run.
chosen=" "
free_port() {
	local p
	while :; do
		if command -v python3 >/dev/null 2>&1; then
			p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		else
			p=$((10000 + RANDOM % 22000))
			if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
		fi
		case $chosen in *" $p "*) continue ;; esac
		chosen+="$p "
		PORT=$p
		return 0
	done
}

# The seed's layout: four instances, weights 1:2:3:4.
weights=(1 2 3 4)
svc_ports() {
	free_port
	redis_port=$PORT
	ports=()
	for _ in "${weights[@]}"; do
		free_port
		ports+=("$PORT")
	done
	free_port
	http_port=$PORT
}

# ---- configs -------------------------------------------------------------
# The instances write stat.log and the sold-out flag in $run/var.  As root
# they run as $svc_user (spike-fcgi refuses root), who owns that directory
# alone: the rest of $run stays root's.  nginx writes the lines of its own
# answers (sold out at the edge) to its own file, edge_log in spike.conf;
# svc_stat prints both files' lines.
stat_log=$run/var/stat.log
edge_log=$run/nginx/logs/spike-fcgi-edge.log
svc_user=
if [ "$(id -u)" -eq 0 ]; then svc_user=nobody; fi

# svc_configs: write the configs of Redis, the instances and nginx for the
# chosen ports; nginx_extra (nginx config text, empty unless set) goes into
# nginx's http block after the snippet spikectl nginx-conf writes.
nginx_extra=
svc_configs() {
	local extra=$nginx_extra snippet=$run/nginx/spike-fcgi.conf i
	rm -rf "$run/redis" "$run/nginx" "$run"/instance-*.log
	rm -f "$stat_log" "$edge_log" "$run/spike.conf"
	mkdir -p "$run/redis" "$run/nginx/logs" "$run/nginx/tmp" "$run/var"
	if [ -n "$svc_user" ]; then
		chown "$svc_user:" "$run/var" || die "chown $svc_user $run/var"
		setpriv --reuid="$svc_user" --regid="$(id -g "$svc_user")" \
			--clear-groups -- test -w "$run/var" -a -x "$run/var" ||
			die "$svc_user cannot write in $run/var: every directory above it must be searchable (chmod o+x), or set SPIKE_RUN_DIR"
	fi

	cat >"$run/redis/redis.conf" <<EOF
# Written by scripts/$svc_name: a private, throw-away Redis.
bind 127.0.0.1
port $redis_port
dir $run/redis
pidfile $run/redis/redis.pid
logfile $run/redis/redis.log
daemonize no
save ""
appendonly no
EOF

	{
		echo "# Written by scripts/$svc_name; see spike.conf(5)."
		echo "redis = 127.0.0.1:$redis_port"
		echo "stat_log = $stat_log"
		echo "edge_log = $edge_log"
		echo "sold_out_flag = $run/var/sold-out"
		echo "edge_dir = $run/var/edge"
		for i in "${!ports[@]}"; do
			echo "instance = 127.0.0.1:${ports[i]} weight=${weights[i]}"
		done
	} >"$run/spike.conf"
	"$spike" -t -c "$run/spike.conf" >"$run/spike-t.log" 2>&1 ||
		die "spike-fcgi -t rejects $run/spike.conf: $(cat "$run/spike-t.log")"

	# nginx's snippet for these instances, as an operator makes it.
	"$spikectl" -c "$run/spike.conf" nginx-conf --listen "127.0.0.1:$http_port" \
		>"$snippet" 2>"$run/nginx/spikectl.log" ||
		die "spikectl nginx-conf failed: $(cat "$run/nginx/spikectl.log")"

	svc_nginx_conf "$run/nginx" "$snippet" "$extra"
}

# svc_nginx_conf DIR SNIPPET [EXTRA]: DIR/nginx.conf, an nginx of its own
# (pid, logs and temp files in DIR) serving SNIPPET, with EXTRA in its
# http block.  worker_connections covers a crowd of 1,000 clients on one
# worker plus a connection to an instance for each.
svc_nginx_conf() {
	local dir=$1 snippet=$2 extra=${3:-} m nginx_v temp_paths user_line
	mkdir -p "$dir/logs" "$dir/tmp"
	nginx_v=$(nginx -V 2>&1 || true)
	temp_paths=""
	for m in client_body proxy fastcgi uwsgi scgi; do
		case $nginx_v in *"--without-http_${m}_module"*) continue ;; esac
		temp_paths+="	${m}_temp_path $dir/tmp/$m;
"
	done
	user_line=""
	if [ "$(id -u)" -eq 0 ]; then user_line="user root;"; fi

	cat >"$dir/nginx.conf" <<EOF
# Written by scripts/$svc_name: a private nginx in front of the instances.
daemon off;
worker_processes 2;
worker_rlimit_nofile 8192;
$user_line
pid $dir/nginx.pid;
error_log $dir/error.log;

events {
	worker_connections 4096;
}

http {
	access_log off;
$temp_paths
	include $snippet;
${extra:+$extra
}}
EOF
}

# ---- start ---------------------------------------------------------------
rcli() { redis-cli -h 127.0.0.1 -p "$redis_port" "$@"; }

# svc_sale TOTAL: put a sale of TOTAL tickets on, forgetting any earlier
# one (its pending orders end, every user may buy again).
svc_sale() {
	local out
	out=$("$spikectl" -c "$run/spike.conf" init "$1" --force 2>&1) ||
		die "spikectl init $1 --force: $out"
	say "$out"
}

svc_start_redis() {
	local i
	say "redis-server on 127.0.0.1:$redis_port"
	redis-server "$run/redis/redis.conf" </dev/null >"$run/redis/stdout.log" 2>&1 &
	started redis $!
	for ((i = 0; ; i++)); do
		if [ "$(rcli ping 2>/dev/null || true)" = PONG ]; then break; fi
		alive "${pids[-1]}" || died redis "${pids[-1]}"
		[ "$i" -lt 100 ] || die "redis-server does not answer after 10 s; see $run/redis/redis.log"
		sleep 0.1
	done
}

# svc_spawn PORT: start the instance on 127.0.0.1:PORT as its unit does
# (as root, with --user $svc_user), its output appended to its log.
svc_spawn() {
	"$spikectl" -c "$run/spike.conf" spawn "127.0.0.1:$1" --program "$spike" \
		${svc_user:+--user "$svc_user"} </dev/null >>"$run/instance-$1.log" 2>&1 &
	started "spike-fcgi:$1" $!
}

# svc_start_front: the instances, each as its systemd unit starts it
# (spikectl spawn, which execs spawn-fcgi -n, which execs spike-fcgi in
# place; as root with --user $svc_user), then nginx. Ready when nginx
# takes connections and all four instances have announced themselves in
# Redis (their heartbeat in ticket_hash_key:instances); then every recorded instance pid must be
# spike-fcgi itself, which is what the scripts signal and sample.
svc_start_front() {
	local i p live
	for i in "${!ports[@]}"; do
		p=${ports[i]}
		say "spike-fcgi on 127.0.0.1:$p (weight ${weights[i]})"
		: >"$run/instance-$p.log"
		svc_spawn "$p"
	done

	say "nginx on 127.0.0.1:$http_port"
	nginx -p "$run/nginx/" -c "$run/nginx/nginx.conf" -e "$run/nginx/error.log" \
		</dev/null >"$run/nginx/stdout.log" 2>&1 &
	started nginx $!

	for ((i = 0; ; i++)); do
		svc_check_alive
		live=$(rcli ZCARD ticket_hash_key:instances 2>/dev/null || echo 0)
		if [ "$live" = "${#ports[@]}" ] &&
			(exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null; then
			break
		fi
		[ "$i" -lt 100 ] ||
			die "not ready after 10 s (instances in Redis: $live of ${#ports[@]}); see the logs in $run"
		sleep 0.1
	done
	svc_check_responders
}

# svc_check_responders: each instance's recorded pid runs $spike.
svc_check_responders() {
	local j want
	want=$(stat -L -c %d:%i "$spike")
	for j in "${!pids[@]}"; do
		case ${names[j]} in spike-fcgi:*) ;; *) continue ;; esac
		[ "$(stat -L -c %d:%i "/proc/${pids[j]}/exe" 2>/dev/null)" = "$want" ] ||
			die "${names[j]}: pid ${pids[j]} is not $spike (spikectl spawn did not exec it in place)"
	done
}

# svc_stat: the stat lines of both writers, the instances' stat.log and
# nginx's edge log, one after the other (either may not exist yet).
svc_stat() {
	cat "$stat_log" "$edge_log" 2>/dev/null || true
}

# svc_wait_stat_log [LINES]: the instances flush stat.log every 100 ms,
# nginx its edge log every second: wait (up to 5 s) until both have LINES
# lines together, or without LINES until they stop growing for 1.2 s;
# fail when the instances wrote no stat.log.
svc_wait_stat_log() {
	local want=${1:-} last=-1 same=0 i n
	for ((i = 0; i < 50 && same < 12; i++)); do
		sleep 0.1
		n=$(svc_stat | wc -l)
		if [ -n "$want" ] && [ "$n" -ge "$want" ]; then break; fi
		if [ "$n" -eq "$last" ]; then same=$((same + 1)); else same=0; fi
		last=$n
	done
	[ -f "$stat_log" ] || die "no $stat_log was written"
}
