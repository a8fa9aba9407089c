/*
 * The integration test rig: starts and stops the real parts (redis-server,
 * spawn-fcgi + spike-fcgi, nginx), talks HTTP and Redis to them, runs
 * bounded load and reads stat.log.  See rig.h.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "rig.h"

#define TRACK_MAX		64
#define START_TIMEOUT_MS	15000
#define STOP_TIMEOUT_MS		5000
#define IO_TIMEOUT_MS		20000
#define REDIS_IO_TIMEOUT_MS	3000
#define POLL_MS			10

/* Every pid the rig started, killed by pid at exit. */
static struct {
	pid_t	 pid;
	bool	 nginx;		/* its workers must be killed too */
} tracked[TRACK_MAX];
static pid_t	 owner_pid;	/* the process that registered atexit */
static char	 cleanup_dir[RIG_DIR_MAX];

/* ---- errors and small utilities ---------------------------------------- */

/* Record why something failed in r->err; returns false for "return fail()". */
static bool __attribute__((format(printf, 2, 3)))
fail(struct rig *r, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return false;
}

/* Append the last bytes of a log file to r->err, to show why a part died. */
static void
append_tail(struct rig *r, const char *path)
{
	char	 buf[1200];
	size_t	 used = strlen(r->err), n;
	FILE	*f;
	long	 size;

	if ((f = fopen(path, "r")) == NULL)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 :
	    0, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	snprintf(r->err + used, sizeof(r->err) - used, "\n--- tail of %s:\n%s",
	    path, buf);
}

/* Milliseconds on the monotonic clock. */
double
rig_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

void
rig_sleep_ms(unsigned int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Write a whole file; returns false with r->err set on failure. */
static bool
write_file(struct rig *r, const char *path, const char *text)
{
	FILE	*f;
	bool	 ok;

	if ((f = fopen(path, "w")) == NULL)
		return fail(r, "%s: %s", path, strerror(errno));
	ok = fputs(text, f) >= 0;
	if (fclose(f) != 0 || !ok)
		return fail(r, "%s: write failed", path);
	return true;
}

/* Read a whole file into a malloc'd string, or NULL. */
static char *
read_file(const char *path)
{
	FILE	*f;
	char	*buf;
	long	 size;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	if (size < 0 || (buf = malloc((size_t)size + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	buf[fread(buf, 1, (size_t)size, f)] = '\0';
	fclose(f);
	return buf;
}

/* ---- process tracking --------------------------------------------------- */

static void
track_add(pid_t pid, bool nginx)
{
	for (size_t i = 0; i < TRACK_MAX; i++)
		if (tracked[i].pid == 0) {
			tracked[i].pid = pid;
			tracked[i].nginx = nginx;
			return;
		}
}

static void
track_del(pid_t pid)
{
	for (size_t i = 0; i < TRACK_MAX; i++)
		if (tracked[i].pid == pid)
			tracked[i].pid = 0;
}

/*
 * Kill by pid every child of ppid (nginx's workers, which do not die with
 * a SIGKILLed master).  Children are found through /proc/N/stat.
 */
void
rig_kill_children(pid_t ppid)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[300], buf[512], *p;
	FILE		*f;
	long		 parent;

	if ((d = opendir("/proc")) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		if (p == NULL || (p = strrchr(buf, ')')) == NULL)
			continue;
		if (sscanf(p + 1, " %*c %ld", &parent) == 1 && parent == ppid)
			kill((pid_t)atol(e->d_name), SIGKILL);
	}
	closedir(d);
}

/* The state letter of pid from /proc/pid/stat, or 0 when gone. */
static char
proc_state(pid_t pid)
{
	char	 path[64], buf[512], *p;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return 0;
	return p[2];
}

/*
 * SIGKILL nginx's master and its workers by pid.  The master is stopped
 * first, so it cannot fork a replacement for a killed worker meanwhile.
 */
static void
nginx_kill(pid_t master)
{
	double	 end = rig_now_ms() + 2000;
	char	 state;

	kill(master, SIGSTOP);
	while ((state = proc_state(master)) != 0 && state != 'T' &&
	    state != 't' && state != 'Z' && rig_now_ms() < end)
		rig_sleep_ms(1);
	rig_kill_children(master);
	kill(master, SIGKILL);
}

/* Remove one entry of the temporary tree; used by nftw. */
static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Remove the rig's directory, unless RIG_KEEP is set (for debugging). */
static void
remove_tree(const char *dir)
{
	if (dir[0] != '\0' && getenv("RIG_KEEP") == NULL)
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Reap what was reparented to us (the rig is a child subreaper), e.g.
 * nginx workers killed with their master, for up to a second.
 */
static void
reap_orphans(void)
{
	double	 end = rig_now_ms() + 1000;
	pid_t	 pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) != -1 && rig_now_ms() < end)
		if (pid == 0)
			rig_sleep_ms(POLL_MS);
}

/*
 * SIGKILL by pid everything still running that the rig started, then reap
 * it.  Runs at exit and, through rig.h, before a failed Check assertion
 * (Check ends a failed test with _exit(), which skips atexit handlers).
 */
void
rig_cleanup(void)
{
	if (getpid() != owner_pid)
		return;
	for (size_t i = 0; i < TRACK_MAX; i++) {
		pid_t	 pid = tracked[i].pid;

		if (pid == 0)
			continue;
		if (tracked[i].nginx)
			nginx_kill(pid);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		tracked[i].pid = 0;
	}
	reap_orphans();
	if (cleanup_dir[0] != '\0' && getenv("RIG_KEEP") != NULL)
		fprintf(stderr, "rig: kept %s\n", cleanup_dir);
	remove_tree(cleanup_dir);
	cleanup_dir[0] = '\0';
}

/* ---- starting and stopping processes ------------------------------------ */

/*
 * In the child: die with the parent, clean signal state and fds, stdout to
 * out_path and stderr to err_path (appended), exec.
 */
static void __attribute__((noreturn))
child_exec(char *const argv[], const char *out_path, const char *err_path,
    pid_t parent)
{
	struct sigaction sa;
	sigset_t	 none;
	int		 fd, sig;
	long		 maxfd;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(126);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if ((fd = open("/dev/null", O_RDONLY)) != -1 && fd != 0)
		dup2(fd, 0);
	if ((fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0600)) != -1)
		dup2(fd, 1);
	if ((fd = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0600)) != -1)
		dup2(fd, 2);
	maxfd = sysconf(_SC_OPEN_MAX);
	for (fd = 3; fd < (maxfd > 0 && maxfd < 65536 ? maxfd : 4096); fd++)
		close(fd);
	execvp(argv[0], argv);
	dprintf(2, "rig: cannot execute %s: errno %d\n", argv[0], errno);
	_exit(127);
}

/* fork + exec argv, stdout to out_path, stderr to err_path; the pid or -1. */
static pid_t
spawn_io(struct rig *r, char *const argv[], const char *out_path,
    const char *err_path, bool nginx)
{
	pid_t	 parent = getpid(), pid;

	if ((pid = fork()) == -1) {
		fail(r, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		child_exec(argv, out_path, err_path, parent);
	track_add(pid, nginx);
	return pid;
}

/* fork + exec argv with its output to log_path; returns the pid or -1. */
static pid_t
spawn(struct rig *r, char *const argv[], const char *log_path, bool nginx)
{
	return spawn_io(r, argv, log_path, log_path, nginx);
}

/* Has p exited?  Reaps it and records its status if so. */
static bool
proc_exited(struct rig_proc *p)
{
	int	 status;

	if (p->pid == 0)
		return true;
	if (waitpid(p->pid, &status, WNOHANG) != p->pid)
		return false;
	track_del(p->pid);
	p->status = status;
	p->pid = 0;
	return true;
}

/* Wait until p exits, up to timeout_ms; true when it did. */
static bool
proc_wait(struct rig_proc *p, unsigned int timeout_ms)
{
	double	 end = rig_now_ms() + timeout_ms;

	while (!proc_exited(p)) {
		if (rig_now_ms() > end)
			return false;
		rig_sleep_ms(POLL_MS);
	}
	return true;
}

/* Signal p, wait up to timeout_ms, then SIGKILL it; true if it left by sig. */
static bool
proc_stop(struct rig_proc *p, int sig, unsigned int timeout_ms)
{
	if (p->pid == 0)
		return true;
	kill(p->pid, sig);
	kill(p->pid, SIGCONT);
	if (proc_wait(p, timeout_ms))
		return true;
	kill(p->pid, SIGKILL);
	proc_wait(p, STOP_TIMEOUT_MS);
	return false;
}

/* Describe a wait status for messages. */
static const char *
status_str(int status, char *buf, size_t bufsz)
{
	if (WIFEXITED(status))
		snprintf(buf, bufsz, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, bufsz, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, bufsz, "wait status 0x%x", status);
	return buf;
}

/*
 * Run spikectl -c spike.conf with the arguments that follow (a NULL ends
 * them), its stdout to out_path, or with its stderr to spikectl.log in the
 * rig's directory when out_path is NULL, and wait for it.  True when it
 * exits 0; otherwise r->err says why, with the end of what it said.
 */
static bool __attribute__((sentinel))
run_spikectl(struct rig *r, const char *out_path, ...)
{
	char		*argv[16], log[RIG_PATH_MAX + 16], st[64];
	struct rig_proc	 p = { 0 };
	va_list		 ap;
	int		 n = 0;

	argv[n++] = r->spikectl;
	argv[n++] = "-c";
	argv[n++] = r->conf;
	va_start(ap, out_path);
	while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	snprintf(log, sizeof(log), "%s/spikectl.log", r->dir);
	if ((p.pid = spawn_io(r, argv, out_path ? out_path : log, log,
	    false)) == -1)
		return false;
	if (!proc_wait(&p, START_TIMEOUT_MS)) {
		proc_stop(&p, SIGKILL, STOP_TIMEOUT_MS);
		fail(r, "spikectl %s: still running after %d ms", argv[3],
		    START_TIMEOUT_MS);
	} else if (!WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0)
		fail(r, "spikectl %s: %s", argv[3],
		    status_str(p.status, st, sizeof(st)));
	else
		return true;
	append_tail(r, log);
	return false;
}

/* ---- sockets ------------------------------------------------------------ */

static void
loopback(struct sockaddr_in *sin, int port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* A free loopback port: bind 127.0.0.1:0, read it back, close. */
int
rig_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t	 len = sizeof(sin);
	int		 fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	loopback(&sin, 0);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* Bound every send and recv on fd; no Nagle delay for small requests. */
static void
set_timeouts(int fd, unsigned int ms)
{
	struct timeval	 tv = { ms / 1000, (long)(ms % 1000) * 1000 };
	int		 one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Connect to 127.0.0.1:port; returns the fd or -1 (errno set). */
int
rig_tcp_connect(int port, unsigned int io_timeout_ms)
{
	struct sockaddr_in sin;
	int		 fd, saved;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	set_timeouts(fd, io_timeout_ms);
	loopback(&sin, port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Send all of data; MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE. */
bool
rig_send_all(int fd, const void *data, size_t len)
{
	const char	*p = data;
	ssize_t		 n;

	while (len > 0) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Wait until p accepts connections on its port, or exits. */
static bool
wait_port(struct rig *r, struct rig_proc *p, const char *what,
    const char *log_path)
{
	double	 end = rig_now_ms() + START_TIMEOUT_MS;
	char	 st[64];
	int	 fd;

	for (;;) {
		if (proc_exited(p)) {
			fail(r, "%s exited at start-up (%s)", what,
			    status_str(p->status, st, sizeof(st)));
			append_tail(r, log_path);
			return false;
		}
		if ((fd = rig_tcp_connect(p->port, 1000)) != -1) {
			close(fd);
			return true;
		}
		if (rig_now_ms() > end) {
			fail(r, "%s: port %d not accepting after %d ms", what,
			    p->port, START_TIMEOUT_MS);
			append_tail(r, log_path);
			return false;
		}
		rig_sleep_ms(POLL_MS);
	}
}

/* ---- set-up ------------------------------------------------------------- */

/*
 * The program named by environment variable var, which must be set and
 * executable (a bare name is looked up in PATH), as a path into buf.
 * False with r->err set.
 */
static bool
find_program(struct rig *r, const char *var, char *buf, size_t bufsz)
{
	const char	*v = getenv(var);
	char		*path, *dir, *save = NULL;
	bool		 found = false;

	if (v == NULL || *v == '\0')
		return fail(r, "environment variable %s is not set (run "
		    "through make check, which sets it)", var);
	if (strchr(v, '/') != NULL) {
		if (access(v, X_OK) == 0 && strlen(v) < bufsz) {
			snprintf(buf, bufsz, "%s", v);
			return true;
		}
		return fail(r, "%s=%s is not an executable file: %s", var, v,
		    strerror(errno));
	}
	path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	for (dir = strtok_r(path, ":", &save); dir != NULL && !found;
	    dir = strtok_r(NULL, ":", &save))
		found = (size_t)snprintf(buf, bufsz, "%s/%s", dir, v) < bufsz &&
		    access(buf, X_OK) == 0;
	free(path);
	if (!found)
		return fail(r, "%s=%s was not found in PATH: install it (see "
		    "scripts/deps)", var, v);
	return true;
}

/* Find the programs named by make check's environment. */
static bool
find_programs(struct rig *r)
{
	return find_program(r, "SPIKE_FCGI", r->spike_fcgi,
	    sizeof(r->spike_fcgi)) &&
	    find_program(r, "SPIKECTL", r->spikectl, sizeof(r->spikectl)) &&
	    find_program(r, "REDIS_SERVER", r->redis_server,
	    sizeof(r->redis_server)) &&
	    find_program(r, "NGINX", r->nginx, sizeof(r->nginx));
}

/* Pick distinct free ports for Redis, nginx and the instances. */
static bool
pick_ports(struct rig *r)
{
	int	 ports[RIG_INSTANCES + 2];
	size_t	 n = 0, i;

	while (n < RIG_INSTANCES + 2) {
		int	 p = rig_free_port();

		if (p <= 0)
			return fail(r, "no free loopback port: %s",
			    strerror(errno));
		for (i = 0; i < n && ports[i] != p; i++)
			;
		if (i == n)
			ports[n++] = p;
	}
	r->redis.port = ports[0];
	r->http_port = ports[1];
	for (i = 0; i < RIG_INSTANCES; i++)
		r->inst[i].port = ports[i + 2];
	return true;
}

/* redis.conf: no RDB, but AOF, so a restart on the same dir keeps the sale. */
static bool
write_redis_conf(struct rig *r)
{
	char	 text[2048], dir[RIG_PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/redis", r->dir);
	if (mkdir(dir, 0700) == -1)
		return fail(r, "mkdir %s: %s", dir, strerror(errno));
	snprintf(r->redis_conf, sizeof(r->redis_conf), "%s/redis.conf",
	    r->dir);
	snprintf(text, sizeof(text),
	    "port %d\nbind 127.0.0.1\ndir %s\ndaemonize no\nsave \"\"\n"
	    "appendonly yes\nlogfile %s/redis.log\nprotected-mode yes\n",
	    r->redis.port, dir, dir);
	return write_file(r, r->redis_conf, text);
}

/* Write spike.conf for the rig's Redis, stat.log and instances. */
bool
rig_write_conf(struct rig *r)
{
	char	 text[4096];
	size_t	 n;

	n = (size_t)snprintf(text, sizeof(text),
	    "# written by the integration test rig\nredis = 127.0.0.1:%d\n"
	    "stat_log = %s\nsold_out_flag = %s\n", r->redis.port, r->stat_log,
	    r->sold_out_flag);
	if (r->opt.threads)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "threads = %u\n", r->opt.threads);
	if (r->opt.sync_ms)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "sync_ms = %u\n", r->opt.sync_ms);
	if (r->opt.redis_timeout_ms)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "redis_timeout_ms = %u\n", r->opt.redis_timeout_ms);
	if (r->opt.buffer_percent)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "buffer_percent = %u\n", r->opt.buffer_percent);
	if (r->opt.request_timeout_ms)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "request_timeout_ms = %u\n", r->opt.request_timeout_ms);
	for (int i = 0; i < RIG_INSTANCES; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "instance = 127.0.0.1:%d weight=%u\n", r->inst[i].port,
		    r->inst[i].weight);
	return write_file(r, r->conf, text);
}

/*
 * Once per process: clean up at exit, and become a child subreaper so that
 * nginx workers orphaned by a killed master can be reaped here.
 */
static void
register_cleanup(struct rig *r)
{
	if (owner_pid != getpid()) {
		owner_pid = getpid();
		prctl(PR_SET_CHILD_SUBREAPER, 1);
		atexit(rig_cleanup);
	}
	snprintf(cleanup_dir, sizeof(cleanup_dir), "%s", r->dir);
}

/*
 * Make the private directory, find the programs, pick ports and write the
 * configuration files.  Starts nothing.
 */
bool
rig_init(struct rig *r, const struct rig_options *opt)
{
	const char	*tmp = getenv("TMPDIR");

	memset(r, 0, sizeof(*r));
	if (opt != NULL)
		r->opt = *opt;
	if (!find_programs(r))
		return false;
	snprintf(r->dir, sizeof(r->dir), "%s/spike-rig.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(r->dir) == NULL)
		return fail(r, "mkdtemp %s: %s", r->dir, strerror(errno));
	register_cleanup(r);
	snprintf(r->conf, sizeof(r->conf), "%s/spike.conf", r->dir);
	snprintf(r->stat_log, sizeof(r->stat_log), "%s/stat.log", r->dir);
	snprintf(r->sold_out_flag, sizeof(r->sold_out_flag), "%s/sold-out",
	    r->dir);
	snprintf(r->nginx_dir, sizeof(r->nginx_dir), "%s/nginx", r->dir);
	for (int i = 0; i < RIG_INSTANCES; i++)
		r->inst[i].weight = RIG_WEIGHT(i);
	return pick_ports(r) && write_redis_conf(r) && rig_write_conf(r);
}

/* rig_init, then Redis with a sale of total tickets (none if < 0), the
 * four instances (alive in Redis) and nginx. */
bool
rig_start(struct rig *r, const struct rig_options *opt, long long total)
{
	if (!rig_init(r, opt) || !rig_redis_start(r))
		return false;
	if (total >= 0 && !rig_sale_set(r, total))
		return false;
	return rig_instances_start(r) && rig_heartbeats_wait(r, 10000) &&
	    rig_nginx_start(r);
}

/* Stop everything gracefully (SIGKILL on timeout) and remove the dir. */
void
rig_stop(struct rig *r)
{
	rig_nginx_stop(r);
	for (int i = 0; i < RIG_INSTANCES; i++)
		proc_stop(&r->inst[i], SIGTERM, STOP_TIMEOUT_MS);
	proc_stop(&r->redis, SIGTERM, STOP_TIMEOUT_MS);
	remove_tree(r->dir);
	cleanup_dir[0] = '\0';
}

/* ---- Redis -------------------------------------------------------------- */

/* Run one command on a fresh connection; the reply or NULL (r->err set). */
static redisReply *
redis_argv(struct rig *r, int argc, const char **argv)
{
	struct timeval	 tv = { REDIS_IO_TIMEOUT_MS / 1000, 0 };
	redisContext	*c;
	redisReply	*reply;

	c = redisConnectWithTimeout("127.0.0.1", r->redis.port, tv);
	if (c == NULL || c->err) {
		fail(r, "redis connect 127.0.0.1:%d: %s", r->redis.port,
		    c ? c->errstr : "out of memory");
		redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	reply = redisCommandArgv(c, argc, argv, NULL);
	if (reply == NULL)
		fail(r, "redis %s: %s", argv[0], c->errstr);
	else if (reply->type == REDIS_REPLY_ERROR) {
		fail(r, "redis %s: %s", argv[0], reply->str);
		freeReplyObject(reply);
		reply = NULL;
	}
	redisFree(c);
	return reply;
}

/* A connection to 127.0.0.1:port with 5 s timeouts, as hiredis gave it. */
redisContext *
rig_redis_open(int port)
{
	struct timeval	 tv = { 5, 0 };
	redisContext	*c;

	c = redisConnectWithTimeout("127.0.0.1", port, tv);
	if (c != NULL && c->err == 0)
		redisSetTimeout(c, tv);
	return c;
}

/* A connection to the rig's Redis, or NULL (r->err set). */
redisContext *
rig_redis_connect(struct rig *r)
{
	redisContext	*c = rig_redis_open(r->redis.port);

	if (c == NULL || c->err) {
		fail(r, "redis connect: %s", c ? c->errstr : "out of memory");
		redisFree(c);
		return NULL;
	}
	return c;
}

/* One command on c; the reply, or NULL (err set) on any error. */
redisReply *
rig_redis_argv(redisContext *c, const char **argv, size_t argc, char *err,
    size_t errsz)
{
	redisReply	*rep;

	rep = redisCommandArgv(c, (int)argc, argv, NULL);
	if (rep == NULL) {
		snprintf(err, errsz, "redis %s: %s", argv[0], c->errstr);
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		snprintf(err, errsz, "redis %s: %s", argv[0], rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

/* A reply or element as an integer (integer or numeric string), or other. */
long long
rig_redis_int(const redisReply *e, long long other)
{
	if (e->type == REDIS_REPLY_INTEGER)
		return e->integer;
	if (e->type == REDIS_REPLY_STRING)
		return atoll(e->str);
	return other;
}

/* rig_redis_int() of a reply, -1 for nil; frees the reply. */
long long
rig_redis_int_free(redisReply *rep, long long other)
{
	long long	 v;

	v = rep->type == REDIS_REPLY_NIL ? -1 : rig_redis_int(rep, other);
	freeReplyObject(rep);
	return v;
}

/* A string reply into buf, "(nil)" for anything else; frees the reply. */
char *
rig_redis_str_free(redisReply *rep, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s", rep->type == REDIS_REPLY_STRING ?
	    rep->str : "(nil)");
	freeReplyObject(rep);
	return buf;
}

/* True when Redis answers PING with PONG (not LOADING). */
bool
rig_redis_ping(struct rig *r)
{
	const char	*argv[] = { "PING" };
	redisReply	*reply = redis_argv(r, 1, argv);
	bool		 ok;

	ok = reply != NULL && reply->type == REDIS_REPLY_STATUS &&
	    strcmp(reply->str, "PONG") == 0;
	if (reply != NULL)
		freeReplyObject(reply);
	return ok;
}

/* Start redis-server on the rig's port and dir; wait until PING answers. */
bool
rig_redis_start(struct rig *r)
{
	char	*argv[] = { (char *)r->redis_server, r->redis_conf, NULL };
	char	 log[RIG_PATH_MAX + 16], st[64];
	double	 end = rig_now_ms() + START_TIMEOUT_MS;

	snprintf(log, sizeof(log), "%s/redis/redis.log", r->dir);
	if ((r->redis.pid = spawn(r, argv, log, false)) == -1) {
		r->redis.pid = 0;
		return false;
	}
	while (!rig_redis_ping(r)) {
		if (proc_exited(&r->redis)) {
			fail(r, "redis-server exited at start-up (%s)",
			    status_str(r->redis.status, st, sizeof(st)));
			append_tail(r, log);
			return false;
		}
		if (rig_now_ms() > end) {
			append_tail(r, log);
			return false;
		}
		rig_sleep_ms(20);
	}
	return true;
}

/* SIGTERM Redis and wait (SIGKILL after 5 s); true if it exited cleanly. */
bool
rig_redis_stop(struct rig *r)
{
	if (!proc_stop(&r->redis, SIGTERM, STOP_TIMEOUT_MS))
		return fail(r, "redis-server did not stop on SIGTERM");
	return true;
}

bool
rig_redis_freeze(struct rig *r)
{
	if (r->redis.pid == 0 || kill(r->redis.pid, SIGSTOP) == -1)
		return fail(r, "cannot SIGSTOP redis-server");
	return true;
}

bool
rig_redis_thaw(struct rig *r)
{
	if (r->redis.pid == 0 || kill(r->redis.pid, SIGCONT) == -1)
		return fail(r, "cannot SIGCONT redis-server");
	return true;
}

/*
 * Put a sale of total tickets on, forgetting any earlier one, as an
 * operator does: spikectl init TOTAL --force, which also ends the pending
 * orders and sweeps the per-user keys of the last sale.
 */
bool
rig_sale_set(struct rig *r, long long total)
{
	char	 num[32];

	snprintf(num, sizeof(num), "%lld", total);
	return run_spikectl(r, NULL, "init", num, "--force", NULL);
}

/* Parse a bulk-string number out of a reply element; false if not one. */
static bool
reply_number(const redisReply *e, long long *out)
{
	char	*end;

	if (e->type == REDIS_REPLY_INTEGER) {
		*out = e->integer;
		return true;
	}
	if (e->type != REDIS_REPLY_STRING)
		return false;
	*out = strtoll(e->str, &end, 10);
	return end != e->str && *end == '\0';
}

/* Read total and sold from the stock hash. */
bool
rig_sale_get(struct rig *r, long long *total, long long *sold)
{
	const char	*argv[] = { "HMGET", RIG_STOCK_KEY, RIG_TOTAL_FIELD,
	    RIG_SOLD_FIELD };
	redisReply	*reply;
	bool		 ok;

	if ((reply = redis_argv(r, 4, argv)) == NULL)
		return false;
	ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
	    reply_number(reply->element[0], total) &&
	    reply_number(reply->element[1], sold);
	freeReplyObject(reply);
	if (!ok)
		return fail(r, "stock hash %s has no numeric %s/%s",
		    RIG_STOCK_KEY, RIG_TOTAL_FIELD, RIG_SOLD_FIELD);
	return true;
}

/* Is instance i's heartbeat in KEY:instances? */
static bool
heartbeat_seen(struct rig *r, int i)
{
	char		 member[32];
	const char	*argv[] = { "ZSCORE", RIG_STOCK_KEY ":instances", member };
	redisReply	*reply;
	bool		 seen;

	snprintf(member, sizeof(member), "127.0.0.1:%d", r->inst[i].port);
	if ((reply = redis_argv(r, 3, argv)) == NULL)
		return false;
	seen = reply->type == REDIS_REPLY_STRING;
	freeReplyObject(reply);
	return seen;
}

/*
 * Wait until every running instance has a heartbeat in Redis, i.e. has
 * synced with it at least once (see DESIGN: KEY:instances).
 */
bool
rig_heartbeats_wait(struct rig *r, unsigned int timeout_ms)
{
	double	 end = rig_now_ms() + timeout_ms;
	int	 i;

	for (i = 0; i < RIG_INSTANCES; i++)
		while (!heartbeat_seen(r, i)) {
			if (!rig_instance_alive(r, i))
				return false;
			if (rig_now_ms() > end)
				return fail(r, "instance 127.0.0.1:%d: no "
				    "heartbeat in %s:instances after %u ms",
				    r->inst[i].port, RIG_STOCK_KEY,
				    timeout_ms);
			rig_sleep_ms(20);
		}
	return true;
}

/* ---- instances ---------------------------------------------------------- */

/* Where instance i's stdout and stderr go. */
static void
instance_log(struct rig *r, int i, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s/instance-%d.log", r->dir, r->inst[i].port);
}

/* Is pid running the program at path (the same file)? */
static bool
proc_runs(pid_t pid, const char *path)
{
	char		 exe[64];
	struct stat	 a, b;

	snprintf(exe, sizeof(exe), "/proc/%ld/exe", (long)pid);
	return stat(exe, &a) == 0 && stat(path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * spikectl spawn execs spawn-fcgi -n, which binds the port and execs
 * spike-fcgi in place: wait until the pid the rig tracks is the
 * responder's, so that signals and exit statuses are spike-fcgi's own.
 */
static bool
wait_responder(struct rig *r, int i, const char *log)
{
	struct rig_proc	*p = &r->inst[i];
	double		 end = rig_now_ms() + START_TIMEOUT_MS;

	while (!proc_runs(p->pid, r->spike_fcgi)) {
		if (proc_exited(p) || rig_now_ms() > end) {
			fail(r, "instance 127.0.0.1:%d: pid %ld is not %s: "
			    "spikectl spawn did not exec it in place", p->port,
			    (long)p->pid, r->spike_fcgi);
			append_tail(r, log);
			return false;
		}
		rig_sleep_ms(POLL_MS);
	}
	return true;
}

/* Start instance i as an operator's unit does: spikectl spawn ADDR. */
bool
rig_instance_start(struct rig *r, int i)
{
	char	 addr[32], log[RIG_PATH_MAX + 32], what[64];
	char	*argv[] = { r->spikectl, "-c", r->conf, "spawn", addr,
	    "--program", r->spike_fcgi, NULL };

	if (r->inst[i].pid != 0)
		return fail(r, "instance %d is running already", i);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", r->inst[i].port);
	instance_log(r, i, log, sizeof(log));
	snprintf(what, sizeof(what), "spike-fcgi on %s", addr);
	if ((r->inst[i].pid = spawn(r, argv, log, false)) == -1) {
		r->inst[i].pid = 0;
		return false;
	}
	return wait_port(r, &r->inst[i], what, log) &&
	    wait_responder(r, i, log);
}

bool
rig_instances_start(struct rig *r)
{
	for (int i = 0; i < RIG_INSTANCES; i++)
		if (!rig_instance_start(r, i))
			return false;
	return true;
}

/* Signal instance i and note when, for rig_instance_wait. */
bool
rig_instance_kill(struct rig *r, int i, int sig)
{
	if (r->inst[i].pid == 0 || kill(r->inst[i].pid, sig) == -1)
		return fail(r, "cannot signal instance %d", i);
	r->inst[i].signal_ms = rig_now_ms();
	return true;
}

/*
 * Wait up to timeout_ms for instance i to exit; its wait status and the
 * time since the last rig_instance_kill go to *status and *ms.
 */
bool
rig_instance_wait(struct rig *r, int i, unsigned int timeout_ms,
    int *status, double *ms)
{
	struct rig_proc	*p = &r->inst[i];
	double		 since = p->signal_ms ? p->signal_ms : rig_now_ms();

	if (!proc_wait(p, timeout_ms)) {
		char	 log[RIG_PATH_MAX + 32];

		fail(r, "instance 127.0.0.1:%d still running after %u ms",
		    p->port, timeout_ms);
		instance_log(r, i, log, sizeof(log));
		append_tail(r, log);
		return false;
	}
	if (status != NULL)
		*status = p->status;
	if (ms != NULL)
		*ms = rig_now_ms() - since;
	p->signal_ms = 0;
	return true;
}

/* True while instance i runs; reaps it (recording why) once it died. */
bool
rig_instance_alive(struct rig *r, int i)
{
	char	 st[64], log[RIG_PATH_MAX + 32];

	if (r->inst[i].pid != 0 && !proc_exited(&r->inst[i]))
		return true;
	fail(r, "instance 127.0.0.1:%d is not running (%s)", r->inst[i].port,
	    status_str(r->inst[i].status, st, sizeof(st)));
	instance_log(r, i, log, sizeof(log));
	append_tail(r, log);
	return false;
}

/*
 * SIGTERM every running instance and wait up to timeout_ms for each; true
 * only when all exited with status 0 (which also flushes stat.log).
 */
bool
rig_instances_term(struct rig *r, unsigned int timeout_ms)
{
	int	 status, i;
	char	 st[64];
	bool	 ok = true;

	for (i = 0; i < RIG_INSTANCES; i++)
		if (r->inst[i].pid != 0)
			rig_instance_kill(r, i, SIGTERM);
	for (i = 0; i < RIG_INSTANCES && ok; i++) {
		if (r->inst[i].signal_ms == 0)
			continue;
		if (!rig_instance_wait(r, i, timeout_ms, &status, NULL))
			ok = false;
		else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			ok = fail(r, "instance 127.0.0.1:%d ended on SIGTERM "
			    "with %s, not exit status 0", r->inst[i].port,
			    status_str(status, st, sizeof(st)));
	}
	return ok;
}

/* ---- nginx -------------------------------------------------------------- */

/*
 * The body of nginx's own "return 503 '...'" in the snippet, which tells
 * nginx's answer apart from the instances'.
 */
static bool
read_nginx_503(struct rig *r, const char *path)
{
	char		*text = read_file(path);
	const char	*p, *end;

	if (text == NULL)
		return fail(r, "%s: cannot read", path);
	if ((p = strstr(text, "return 503 '")) == NULL ||
	    (end = strchr(p + 12, '\'')) == NULL) {
		free(text);
		return fail(r, "%s: no \"return 503 '...'\" of nginx's own",
		    path);
	}
	snprintf(r->nginx_503, sizeof(r->nginx_503), "%.*s",
	    (int)(end - p - 12), p + 12);
	free(text);
	return true;
}

/*
 * Write nginx's snippet to path as an operator does: spikectl nginx-conf
 * --listen on the rig's HTTP port, from spike.conf's instances, weights,
 * stat_log and sold_out_flag.
 */
static bool
write_snippet(struct rig *r, const char *path)
{
	char	 listen[32];

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", r->http_port);
	if (unlink(path) == -1 && errno != ENOENT)
		return fail(r, "unlink %s: %s", path, strerror(errno));
	return run_spikectl(r, path, "nginx-conf", "--listen", listen, NULL) &&
	    read_nginx_503(r, path);
}

/* Write nginx.conf (main context) around the snippet spikectl writes. */
static bool
write_nginx_conf(struct rig *r)
{
	char	 text[8192], snippet[RIG_PATH_MAX + 32], conf[RIG_PATH_MAX + 32];
	const char *d = r->nginx_dir;

	if (mkdir(d, 0700) == -1 && errno != EEXIST)
		return fail(r, "mkdir %s: %s", d, strerror(errno));
	snprintf(snippet, sizeof(snippet), "%s/spike-fcgi.conf", d);
	if (!write_snippet(r, snippet))
		return false;
	snprintf(text, sizeof(text),
	    "%s"
	    "daemon off;\nmaster_process on;\nworker_processes 2;\n"
	    "pid %s/nginx.pid;\nerror_log %s/error.log info;\n"
	    "events { worker_connections 1024; }\n"
	    "http {\n\taccess_log off;\n"
	    "\tclient_body_temp_path %s/client_body_temp;\n"
	    "\tfastcgi_temp_path %s/fastcgi_temp;\n"
	    "\tproxy_temp_path %s/proxy_temp;\n"
	    "\tuwsgi_temp_path %s/uwsgi_temp;\n"
	    "\tscgi_temp_path %s/scgi_temp;\n"
	    "\tinclude %s;\n}\n",
	    geteuid() == 0 ? "user root;\n" : "", d, d, d, d, d, d, d,
	    snippet);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", d);
	return write_file(r, conf, text);
}

/* Does nginx answer HTTP?  A request without Host gets nginx's own 400,
 * so no instance sees the probe. */
static bool
nginx_answers(int port)
{
	static const char probe[] = "GET / HTTP/1.1\r\n\r\n";
	char	 buf[16];
	int	 fd;
	ssize_t	 n;

	if ((fd = rig_tcp_connect(port, 1000)) == -1)
		return false;
	n = rig_send_all(fd, probe, sizeof(probe) - 1) ?
	    recv(fd, buf, sizeof(buf), 0) : -1;
	close(fd);
	return n >= 9 && memcmp(buf, "HTTP/1.1 ", 9) == 0;
}

/* Start nginx with the rig's config; wait until it answers HTTP. */
bool
rig_nginx_start(struct rig *r)
{
	char	 conf[RIG_PATH_MAX + 32], err[RIG_PATH_MAX + 32], prefix[RIG_PATH_MAX + 2];
	char	 log[RIG_PATH_MAX + 32], st[64];
	char	*argv[] = { (char *)r->nginx, "-p", prefix, "-c", conf, "-e",
	    err, NULL };
	double	 end = rig_now_ms() + START_TIMEOUT_MS;

	if (!write_nginx_conf(r))
		return false;
	snprintf(prefix, sizeof(prefix), "%s/", r->nginx_dir);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", r->nginx_dir);
	snprintf(err, sizeof(err), "%s/error.log", r->nginx_dir);
	snprintf(log, sizeof(log), "%s/stderr.log", r->nginx_dir);
	if ((r->nginx_master.pid = spawn(r, argv, log, true)) == -1) {
		r->nginx_master.pid = 0;
		return false;
	}
	r->nginx_master.port = r->http_port;
	while (!nginx_answers(r->http_port)) {
		if (proc_exited(&r->nginx_master) || rig_now_ms() > end) {
			fail(r, "nginx did not come up on 127.0.0.1:%d (%s)",
			    r->http_port, r->nginx_master.pid ? "timeout" :
			    status_str(r->nginx_master.status, st, sizeof(st)));
			append_tail(r, err);
			return false;
		}
		rig_sleep_ms(20);
	}
	return true;
}

/* SIGQUIT, then SIGTERM, then SIGKILL (workers by pid too). */
bool
rig_nginx_stop(struct rig *r)
{
	struct rig_proc	*p = &r->nginx_master;

	if (p->pid == 0)
		return true;
	kill(p->pid, SIGQUIT);
	if (proc_wait(p, STOP_TIMEOUT_MS))
		return true;
	kill(p->pid, SIGTERM);
	if (proc_wait(p, STOP_TIMEOUT_MS))
		return true;
	nginx_kill(p->pid);
	proc_wait(p, STOP_TIMEOUT_MS);
	return fail(r, "nginx did not stop on SIGQUIT/SIGTERM");
}

/* ---- HTTP client -------------------------------------------------------- */

void
rig_http_init(struct rig_http *h, int port)
{
	h->port = port;
	h->fd = -1;
	h->inlen = 0;
}

void
rig_http_close(struct rig_http *h)
{
	if (h->fd != -1)
		close(h->fd);
	h->fd = -1;
	h->inlen = 0;
}

/* Read more bytes into h->in; false on EOF, error or a full buffer. */
static bool
http_fill(struct rig_http *h)
{
	ssize_t	 n;

	if (h->inlen >= sizeof(h->in))
		return false;
	do
		n = recv(h->fd, h->in + h->inlen, sizeof(h->in) - h->inlen, 0);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return false;
	h->inlen += (size_t)n;
	return true;
}

static void
http_consume(struct rig_http *h, size_t n)
{
	memmove(h->in, h->in + n, h->inlen - n);
	h->inlen -= n;
}

/* Move n body bytes from the connection into rep->body (truncating). */
static bool
http_take(struct rig_http *h, size_t n, struct rig_reply *rep)
{
	while (n > 0) {
		size_t	 k, room;

		if (h->inlen == 0 && !http_fill(h))
			return false;
		k = h->inlen < n ? h->inlen : n;
		room = sizeof(rep->body) - 1 - rep->body_len;
		memcpy(rep->body + rep->body_len, h->in, k < room ? k : room);
		rep->body_len += k < room ? k : room;
		http_consume(h, k);
		n -= k;
	}
	rep->body[rep->body_len] = '\0';
	return true;
}

/* Take one CRLF-terminated line off the connection into buf. */
static bool
http_line(struct rig_http *h, char *buf, size_t bufsz)
{
	char	*eol;
	size_t	 len;

	while ((eol = memchr(h->in, '\n', h->inlen)) == NULL)
		if (!http_fill(h))
			return false;
	len = (size_t)(eol - h->in) + 1;
	snprintf(buf, bufsz, "%.*s", (int)(len > 1 && eol[-1] == '\r' ?
	    len - 2 : len - 1), h->in);
	http_consume(h, len);
	return true;
}

/* Decode a chunked body (RFC 9112 section 7.1). */
static bool
http_chunked(struct rig_http *h, struct rig_reply *rep)
{
	char	 line[256];
	long	 size;

	for (;;) {
		if (!http_line(h, line, sizeof(line)))
			return false;
		size = strtol(line, NULL, 16);
		if (size < 0)
			return false;
		if (size == 0)
			break;
		if (!http_take(h, (size_t)size, rep) ||
		    !http_line(h, line, sizeof(line)))
			return false;
	}
	do
		if (!http_line(h, line, sizeof(line)))
			return false;
	while (line[0] != '\0');
	return true;
}

/* Note one header of interest; sets *close for "Connection: close". */
static void
http_header(char *line, struct rig_reply *rep, bool *close_after)
{
	char	*v = strchr(line, ':');

	if (v == NULL)
		return;
	*v++ = '\0';
	while (*v == ' ' || *v == '\t')
		v++;
	if (strcasecmp(line, "Content-Length") == 0)
		rep->content_length = atol(v);
	else if (strcasecmp(line, "Transfer-Encoding") == 0)
		rep->chunked = strcasestr(v, "chunked") != NULL;
	else if (strcasecmp(line, "Retry-After") == 0)
		rep->retry_after = atoi(v);
	else if (strcasecmp(line, "Content-Type") == 0)
		snprintf(rep->content_type, sizeof(rep->content_type), "%s", v);
	else if (strcasecmp(line, "Allow") == 0)
		snprintf(rep->allow, sizeof(rep->allow), "%s", v);
	else if (strcasecmp(line, "Connection") == 0)
		*close_after = strcasestr(v, "close") != NULL;
}

/* The integer after "code": in a JSON body, or RIG_CODE_NONE. */
static int
json_code(const char *body)
{
	const char	*p = strstr(body, "\"code\"");
	char		*end;
	long		 v;

	if (p == NULL)
		return RIG_CODE_NONE;
	p += 6;
	while (isspace((unsigned char)*p))
		p++;
	if (*p++ != ':')
		return RIG_CODE_NONE;
	v = strtol(p, &end, 10);
	return end == p ? RIG_CODE_NONE : (int)v;
}

/* Read status line, headers and body of one answer. */
static bool
http_read(struct rig_http *h, const char *method, struct rig_reply *rep,
    bool *close_after)
{
	char	 line[1024];

	if (!http_line(h, line, sizeof(line)) ||
	    sscanf(line, "HTTP/1.%*d %d", &rep->status) != 1)
		return false;
	while (http_line(h, line, sizeof(line)) && line[0] != '\0')
		http_header(line, rep, close_after);
	if (line[0] != '\0')
		return false;
	if (strcmp(method, "HEAD") == 0 || rep->status == 204 ||
	    rep->status == 304)
		return true;
	if (rep->chunked)
		return http_chunked(h, rep);
	if (rep->content_length >= 0)
		return http_take(h, (size_t)rep->content_length, rep);
	*close_after = true;
	while (http_fill(h) || h->inlen > 0)
		if (!http_take(h, h->inlen, rep))
			break;
	return true;
}

/* Empty an answer: no status, no code, headers absent. */
static void
reply_reset(struct rig_reply *rep)
{
	rep->status = 0;
	rep->code = RIG_CODE_NONE;
	rep->content_length = -1;
	rep->retry_after = -1;
	rep->chunked = false;
	rep->content_type[0] = rep->allow[0] = rep->body[0] = '\0';
	rep->body_len = 0;
	rep->ms = 0;
}

/*
 * Send one request on the keep-alive connection (connecting if needed)
 * and read its answer into *rep.  On failure the connection is closed and
 * err says why.
 */
bool
rig_http_request(struct rig_http *h, const char *method, const char *target,
    const char *content_type, const char *body, size_t body_len,
    struct rig_reply *rep, char *err, size_t errsz)
{
	char	 head[1024];
	int	 n;
	bool	 close_after = false;
	double	 t0 = rig_now_ms();

	reply_reset(rep);
	errno = 0;
	if (h->fd == -1 && (h->fd = rig_tcp_connect(h->port, IO_TIMEOUT_MS)) == -1) {
		snprintf(err, errsz, "connect 127.0.0.1:%d: %s", h->port,
		    strerror(errno));
		return false;
	}
	n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: 127.0.0.1"
	    "\r\n%s%s%s", method, target, content_type ? "Content-Type: " : "",
	    content_type ? content_type : "", content_type ? "\r\n" : "");
	if (body != NULL || strcmp(method, "POST") == 0)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
		    "Content-Length: %zu\r\n", body ? body_len : 0);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
	if (!rig_send_all(h->fd, head, (size_t)n) ||
	    (body != NULL && !rig_send_all(h->fd, body, body_len)) ||
	    !http_read(h, method, rep, &close_after)) {
		snprintf(err, errsz, "%s %.80s: %s", method, target,
		    errno ? strerror(errno) : "bad or truncated answer");
		rig_http_close(h);
		return false;
	}
	rep->ms = rig_now_ms() - t0;
	rep->code = json_code(rep->body);
	if (close_after)
		rig_http_close(h);
	return true;
}

/* One GET through nginx on a fresh connection. */
bool
rig_get(struct rig *r, const char *target, struct rig_reply *rep)
{
	struct rig_http	 h;
	bool		 ok;

	rig_http_init(&h, r->http_port);
	ok = rig_http_request(&h, "GET", target, NULL, NULL, 0, rep, r->err,
	    sizeof(r->err));
	rig_http_close(&h);
	return ok;
}

/* Connect to 127.0.0.1:port, send the bytes and close at once. */
bool
rig_send_raw(struct rig *r, int port, const void *data, size_t len)
{
	int	 fd;

	if ((fd = rig_tcp_connect(port, 5000)) == -1)
		return fail(r, "connect 127.0.0.1:%d: %s", port,
		    strerror(errno));
	if (!rig_send_all(fd, data, len) && errno != ECONNRESET &&
	    errno != EPIPE) {
		close(fd);
		return fail(r, "send to 127.0.0.1:%d: %s", port,
		    strerror(errno));
	}
	close(fd);
	return true;
}

/* ---- load --------------------------------------------------------------- */

/* Count one answer by status and code; track the slowest. */
static void
load_count(struct rig_load *l, const struct rig_reply *rep)
{
	unsigned int	 ms = (unsigned int)rep->ms, prev;

	atomic_fetch_add(&l->answered, 1);
	if (rep->status >= 0 && rep->status < 600)
		atomic_fetch_add(&l->by_status[rep->status], 1);
	if (rep->code != RIG_CODE_NONE && rep->code >= RIG_CODE_MIN &&
	    rep->code < RIG_CODE_MIN + RIG_CODE_SLOTS)
		atomic_fetch_add(&l->by_code[rep->code - RIG_CODE_MIN], 1);
	else
		atomic_fetch_add(&l->code_other, 1);
	if (rep->status == 503 && l->spec.nginx_503 != NULL &&
	    strcmp(rep->body, l->spec.nginx_503) == 0)
		atomic_fetch_add(&l->nginx_own, 1);
	prev = atomic_load(&l->max_ms);
	while (ms > prev && !atomic_compare_exchange_weak(&l->max_ms, &prev,
	    ms))
		;
}

/* One load thread: its own connection, requests until done or told. */
static void *
load_thread(void *arg)
{
	struct rig_load	*l = arg;
	struct rig_http	 h;
	struct rig_reply rep;
	char		 target[64], err[256];
	unsigned int	 k;
	double		 end = l->start_ms + l->spec.deadline_ms;

	rig_http_init(&h, l->spec.port);
	while (!atomic_load(&l->stop) && rig_now_ms() < end) {
		if ((k = atomic_fetch_add(&l->next, 1)) >= l->spec.total)
			break;
		if (l->spec.unique_users)
			snprintf(target, sizeof(target),
			    "/buy/ticket?user=user%u", k);
		else
			snprintf(target, sizeof(target), "/buy/ticket");
		atomic_fetch_add(&l->sent, 1);
		if (rig_http_request(&h, "GET", target, NULL, NULL, 0, &rep,
		    err, sizeof(err)))
			load_count(l, &rep);
		else {
			atomic_fetch_add(&l->failed, 1);
			if (!atomic_flag_test_and_set(&l->error_taken))
				snprintf(l->first_error,
				    sizeof(l->first_error), "%s", err);
		}
	}
	rig_http_close(&h);
	return NULL;
}

/* A load through the rig's nginx. */
struct rig_load_spec
rig_load_plan(const struct rig *r, unsigned int conns, unsigned int total,
    bool unique_users, unsigned int deadline_ms)
{
	struct rig_load_spec spec = { r->http_port, r->nginx_503, conns, total,
	    unique_users, deadline_ms };

	return spec;
}

/* Start spec->conns threads sending spec->total GETs in all. */
bool
rig_load_start(struct rig_load *l, const struct rig_load_spec *spec)
{
	memset(l, 0, sizeof(*l));
	atomic_flag_clear(&l->error_taken);
	l->spec = *spec;
	if (l->spec.conns > RIG_LOAD_THREADS_MAX)
		l->spec.conns = RIG_LOAD_THREADS_MAX;
	l->start_ms = rig_now_ms();
	for (l->nthreads = 0; l->nthreads < l->spec.conns; l->nthreads++)
		if (pthread_create(&l->threads[l->nthreads], NULL, load_thread,
		    l) != 0) {
			rig_load_stop(l);
			rig_load_wait(l);
			return false;
		}
	return true;
}

void
rig_load_stop(struct rig_load *l)
{
	atomic_store(&l->stop, true);
}

void
rig_load_wait(struct rig_load *l)
{
	for (unsigned int i = 0; i < l->nthreads; i++)
		pthread_join(l->threads[i], NULL);
	l->nthreads = 0;
}

unsigned int
rig_load_code(struct rig_load *l, int code)
{
	if (code < RIG_CODE_MIN || code >= RIG_CODE_MIN + RIG_CODE_SLOTS)
		return 0;
	return atomic_load(&l->by_code[code - RIG_CODE_MIN]);
}

unsigned int
rig_load_status(struct rig_load *l, int status)
{
	return status >= 0 && status < 600 ?
	    atomic_load(&l->by_status[status]) : 0;
}

unsigned int
rig_load_5xx(struct rig_load *l)
{
	unsigned int	 n = 0;

	for (int s = 500; s < 600; s++)
		n += atomic_load(&l->by_status[s]);
	return n;
}

/* What a load run counted, for failure messages. */
const char *
rig_load_summary(struct rig_load *l, char *buf, size_t bufsz)
{
	size_t	 n;
	int	 code, s;

	n = (size_t)snprintf(buf, bufsz, "sent %u answered %u failed %u "
	    "nginx-503 %u max %u ms; codes:", atomic_load(&l->sent),
	    atomic_load(&l->answered), atomic_load(&l->failed),
	    atomic_load(&l->nginx_own), atomic_load(&l->max_ms));
	for (code = RIG_CODE_MIN; code < RIG_CODE_MIN + RIG_CODE_SLOTS &&
	    n < bufsz; code++)
		if (rig_load_code(l, code) > 0)
			n += (size_t)snprintf(buf + n, bufsz - n, " %d:%u", code,
			    rig_load_code(l, code));
	for (s = 100; s < 600 && n < bufsz; s++)
		if (rig_load_status(l, s) > 0)
			n += (size_t)snprintf(buf + n, bufsz - n, " http%d:%u",
			    s, rig_load_status(l, s));
	if (l->first_error[0] != '\0' && n < bufsz)
		snprintf(buf + n, bufsz - n, "; first error: %s",
		    l->first_error);
	return buf;
}

/* ---- stat.log ----------------------------------------------------------- */

/* Lines of the file at path containing needle (all if NULL); 0 if none. */
static long
file_lines(const char *path, const char *needle)
{
	FILE	*f;
	char	*line = NULL;
	size_t	 cap = 0;
	long	 n = 0;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (getline(&line, &cap, f) != -1)
		if (needle == NULL || strstr(line, needle) != NULL)
			n++;
	free(line);
	fclose(f);
	return n;
}

/* Lines of instance i's stdout and stderr log containing needle. */
long
rig_instance_log_lines(struct rig *r, int i, const char *needle)
{
	char	 log[RIG_PATH_MAX + 32];

	instance_log(r, i, log, sizeof(log));
	return file_lines(log, needle);
}

/* Lines of stat.log containing needle (all lines when NULL); 0 if none. */
long
rig_stat_lines(struct rig *r, const char *needle)
{
	return file_lines(r->stat_log, needle);
}

/* Lines written by instance i ("port:P" field). */
long
rig_stat_port_lines(struct rig *r, int i)
{
	char	 needle[32];

	snprintf(needle, sizeof(needle), ",port:%d,", r->inst[i].port);
	return rig_stat_lines(r, needle);
}

/* Poll stat.log until at least want lines contain needle. */
bool
rig_stat_wait(struct rig *r, const char *needle, long want,
    unsigned int timeout_ms)
{
	double	 end = rig_now_ms() + timeout_ms;
	long	 n;

	while ((n = rig_stat_lines(r, needle)) < want) {
		if (rig_now_ms() > end)
			return fail(r, "stat.log: %ld lines with \"%s\" after "
			    "%u ms, want %ld", n, needle ? needle : "",
			    timeout_ms, want);
		rig_sleep_ms(20);
	}
	return true;
}
