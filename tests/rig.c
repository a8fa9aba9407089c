/*
 * The integration test rig, its core: set-up and tear-down, the processes
 * it starts (tracked by pid, killed by pid at exit and before a failed
 * Check assertion), running spikectl, and small file helpers.  The parts
 * are in rig_redis.c, rig_instance.c, rig_nginx.c, rig_http.c, rig_load.c
 * and rig_stat.c.  See rig.h.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rig_private.h"

#define TRACK_MAX		64

/* Every pid the rig started, killed by pid at exit. */
static struct {
	pid_t	 pid;
	bool	 nginx;		/* its workers must be killed too */
} tracked[TRACK_MAX];
static pid_t	 owner_pid;	/* the process that registered atexit */
static char	 cleanup_dir[RIG_DIR_MAX];

/* ---- errors and small utilities ---------------------------------------- */

/* Record why something failed in r->err; returns false, for "return
 * rig_fail(...)". */
bool
rig_fail(struct rig *r, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return false;
}

/* Append the last bytes of a log file to r->err, to show why a part died. */
void
rig_append_tail(struct rig *r, const char *path)
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

/* The address p listens on: its test host's, or 127.0.0.1. */
const char *
rig_proc_addr(const struct rig_proc *p)
{
	return p->host != NULL ? p->host->addr : "127.0.0.1";
}

/* Milliseconds on the monotonic clock. */
double
rig_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/*
 * Milliseconds on the wall clock: Redis's TIME on this machine, where the
 * rig runs Redis (the same kernel clock), for comparing with the
 * instants the scripts write.
 */
long long
rig_wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
rig_sleep_ms(unsigned int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Write a whole file; returns false with r->err set on failure. */
bool
rig_write_file(struct rig *r, const char *path, const char *text)
{
	FILE	*f;
	bool	 ok;

	if ((f = fopen(path, "w")) == NULL)
		return rig_fail(r, "%s: %s", path, strerror(errno));
	ok = fputs(text, f) >= 0;
	if (fclose(f) != 0 || !ok)
		return rig_fail(r, "%s: write failed", path);
	return true;
}

/* Read a whole file into a malloc'd string, or NULL. */
char *
rig_read_file(const char *path)
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

/* ---- process tracking -------------------------------------------------- */

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
void
rig_kill_nginx(pid_t master)
{
	double	 end = rig_now_ms() + RIG_STOP_TIMEOUT_MS;
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
	double	 end = rig_now_ms() + RIG_STOP_TIMEOUT_MS;
	pid_t	 pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) != -1 && rig_now_ms() < end)
		if (pid == 0)
			rig_sleep_ms(RIG_POLL_MS);
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
			rig_kill_nginx(pid);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		tracked[i].pid = 0;
	}
	reap_orphans();
	rig_net_cleanup();
	if (cleanup_dir[0] != '\0' && getenv("RIG_KEEP") != NULL)
		fprintf(stderr, "rig: kept %s\n", cleanup_dir);
	remove_tree(cleanup_dir);
	cleanup_dir[0] = '\0';
}

/* ---- starting and stopping processes ----------------------------------- */

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
		rig_fail(r, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		child_exec(argv, out_path, err_path, parent);
	track_add(pid, nginx);
	return pid;
}

/* fork + exec argv with its output to log_path; returns the pid or -1. */
pid_t
rig_spawn(struct rig *r, char *const argv[], const char *log_path,
    bool nginx)
{
	return spawn_io(r, argv, log_path, log_path, nginx);
}

/*
 * rig_spawn in network namespace netns: argv prefixed with "ip netns exec
 * NETNS", which enters the namespace and execs argv in place, so the pid
 * is still argv's own (NULL netns: rig_spawn itself).
 */
pid_t
rig_spawn_netns(struct rig *r, const char *netns, char *const argv[],
    const char *log_path, bool nginx)
{
	char	*full[64];
	size_t	 n = 0, i;

	if (netns == NULL)
		return rig_spawn(r, argv, log_path, nginx);
	full[n++] = "ip";
	full[n++] = "netns";
	full[n++] = "exec";
	full[n++] = (char *)netns;
	for (i = 0; argv[i] != NULL && n < 63; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	return rig_spawn(r, full, log_path, nginx);
}

/* rig_spawn on test host host (rig_netns.c); NULL: here. */
pid_t
rig_spawn_on(struct rig *r, const struct rig_host *host, char *const argv[],
    const char *log_path, bool nginx)
{
	return rig_spawn_netns(r, host != NULL ? host->name : NULL, argv,
	    log_path, nginx);
}

/*
 * Run argv to its end, its output to log_path, for at most timeout_ms
 * (then it is SIGKILLed); true when it exited in time, its wait status
 * then in *status.
 */
bool
rig_run(struct rig *r, char *const argv[], const char *log_path,
    unsigned int timeout_ms, int *status)
{
	struct rig_proc	 p = { 0 };

	if ((p.pid = rig_spawn(r, argv, log_path, false)) == -1)
		return false;
	if (!rig_proc_wait(&p, timeout_ms)) {
		rig_proc_stop(&p, SIGKILL, RIG_STOP_TIMEOUT_MS);
		return rig_fail(r, "%s: still running after %u ms", argv[0],
		    timeout_ms);
	}
	*status = p.status;
	return true;
}

/* Has p exited?  Reaps it and records its status if so. */
bool
rig_proc_exited(struct rig_proc *p)
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
bool
rig_proc_wait(struct rig_proc *p, unsigned int timeout_ms)
{
	double	 end = rig_now_ms() + timeout_ms;

	while (!rig_proc_exited(p)) {
		if (rig_now_ms() > end)
			return false;
		rig_sleep_ms(RIG_POLL_MS);
	}
	return true;
}

/* Signal p, wait up to timeout_ms, then SIGKILL it; true if it left by sig. */
bool
rig_proc_stop(struct rig_proc *p, int sig, unsigned int timeout_ms)
{
	if (p->pid == 0)
		return true;
	kill(p->pid, sig);
	kill(p->pid, SIGCONT);
	if (rig_proc_wait(p, timeout_ms))
		return true;
	kill(p->pid, SIGKILL);
	rig_proc_wait(p, RIG_STOP_TIMEOUT_MS);
	return false;
}

/* Describe a wait status for messages. */
const char *
rig_status_str(int status, char *buf, size_t bufsz)
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
 * Wait until ready(r, p) says that p, just started, serves; false, with
 * r->err saying "WHAT (pid N): ..." and the end of log_path, when it exits
 * first or is still not ready after RIG_START_TIMEOUT_MS ("AWAITED after
 * N ms").
 */
bool
rig_wait_ready(struct rig *r, struct rig_proc *p, rig_ready_fn ready,
    const char *what, const char *awaited, const char *log_path)
{
	double	 end = rig_now_ms() + RIG_START_TIMEOUT_MS;
	pid_t	 pid = p->pid;
	char	 st[64];

	while (!ready(r, p)) {
		if (rig_proc_exited(p))
			rig_fail(r, "%s (pid %ld): exited at start-up (%s)", what,
			    (long)pid, rig_status_str(p->status, st,
			    sizeof(st)));
		else if (rig_now_ms() > end)
			rig_fail(r, "%s (pid %ld): %s after %u ms", what,
			    (long)pid, awaited, RIG_START_TIMEOUT_MS);
		else {
			rig_sleep_ms(RIG_POLL_MS);
			continue;
		}
		rig_append_tail(r, log_path);
		return false;
	}
	return true;
}

/*
 * Run spikectl -c spike.conf with the arguments that follow (a NULL ends
 * them), its stdout to out_path, or with its stderr to spikectl.log in the
 * rig's directory when out_path is NULL, and wait for it.  True when it
 * exits 0; otherwise r->err says why, with the end of what it said.
 */
bool
rig_spikectl(struct rig *r, const char *out_path, ...)
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
	if (!rig_proc_wait(&p, RIG_START_TIMEOUT_MS)) {
		rig_proc_stop(&p, SIGKILL, RIG_STOP_TIMEOUT_MS);
		rig_fail(r, "spikectl %s: still running after %u ms", argv[3],
		    RIG_START_TIMEOUT_MS);
	} else if (!WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0)
		rig_fail(r, "spikectl %s: %s", argv[3],
		    rig_status_str(p.status, st, sizeof(st)));
	else
		return true;
	rig_append_tail(r, log);
	return false;
}

/* ---- set-up ------------------------------------------------------------ */

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
		return rig_fail(r, "environment variable %s is not set (run "
		    "through make check, which sets it)", var);
	if (strchr(v, '/') != NULL) {
		if (access(v, X_OK) == 0 && strlen(v) < bufsz) {
			snprintf(buf, bufsz, "%s", v);
			return true;
		}
		return rig_fail(r, "%s=%s is not an executable file: %s", var, v,
		    strerror(errno));
	}
	path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	for (dir = strtok_r(path, ":", &save); dir != NULL && !found;
	    dir = strtok_r(NULL, ":", &save))
		found = (size_t)snprintf(buf, bufsz, "%s/%s", dir, v) < bufsz &&
		    access(buf, X_OK) == 0;
	free(path);
	if (!found)
		return rig_fail(r, "%s=%s was not found in PATH: install it (see "
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
			return rig_fail(r, "no free loopback port: %s",
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

/*
 * redis.conf: no RDB, but AOF, so a restart on the same dir keeps the
 * sale.  On a test host Redis binds the host's address and serves the
 * other hosts: protected mode, which only lets loopback clients in
 * without a password, is off there (the namespaces are the test's own).
 * Then the test's own lines (rig_options.redis_extra).
 */
bool
rig_write_redis_conf(struct rig *r)
{
	char	 text[2048], dir[RIG_PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/redis", r->dir);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return rig_fail(r, "mkdir %s: %s", dir, strerror(errno));
	snprintf(r->redis_conf, sizeof(r->redis_conf), "%s/redis.conf",
	    r->dir);
	if ((size_t)snprintf(text, sizeof(text),
	    "port %d\nbind %s\ndir %s\ndaemonize no\nsave \"\"\n"
	    "appendonly yes\nlogfile %s/redis.log\nprotected-mode %s\n%s",
	    r->redis.port, rig_proc_addr(&r->redis), dir, dir,
	    r->redis.host != NULL ? "no" : "yes", r->opt.redis_extra != NULL ?
	    r->opt.redis_extra : "") >= sizeof(text))
		return rig_fail(r, "redis.conf longer than %zu bytes",
		    sizeof(text));
	return rig_write_file(r, r->redis_conf, text);
}

/*
 * The redis_timeout_ms the instances get: the test's choice (or the
 * default) scaled by the slowdown factor, since a slow build's Redis call
 * takes that much longer.  Budgets derived from the test's choice with
 * budget_ms() scale alike.
 */
unsigned int
rig_redis_timeout_ms(const struct rig *r)
{
	return budget_ms(r->opt.redis_timeout_ms ? r->opt.redis_timeout_ms :
	    CONF_DEFAULT_REDIS_TIMEOUT_MS);
}

/* Write spike.conf for the rig's Redis, stat.log and instances. */
bool
rig_write_conf(struct rig *r)
{
	char	 text[4096];
	size_t	 n;

	n = (size_t)snprintf(text, sizeof(text),
	    "# written by the integration test rig\n");
	if (r->opt.redis_lines != NULL)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s",
		    r->opt.redis_lines);
	else if (!r->opt.no_redis_line)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "redis = %s:%d\n", rig_proc_addr(&r->redis), r->redis.port);
	n += (size_t)snprintf(text + n, sizeof(text) - n,
	    "stat_log = %s\nedge_log = %s\nsold_out_flag = %s\n"
	    "edge_dir = %s\n", r->stat_log, r->edge_log, r->sold_out_flag,
	    r->edge_dir);
	if (r->opt.threads)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "threads = %u\n", r->opt.threads);
	if (r->opt.sync_ms)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "sync_ms = %u\n", r->opt.sync_ms);
	n += (size_t)snprintf(text + n, sizeof(text) - n,
	    "redis_timeout_ms = %u\n", rig_redis_timeout_ms(r));
	if (r->opt.buffer_percent)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "buffer_percent = %u\n", r->opt.buffer_percent);
	if (r->opt.request_timeout_ms)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "request_timeout_ms = %u\n", r->opt.request_timeout_ms);
	for (int i = 0; i < RIG_INSTANCES; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "instance = %s:%d weight=%u\n", rig_proc_addr(&r->inst[i]),
		    r->inst[i].port, r->inst[i].weight);
	if (r->opt.conf_extra != NULL)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s",
		    r->opt.conf_extra);
	if (n >= sizeof(text))
		return rig_fail(r, "spike.conf longer than %zu bytes",
		    sizeof(text));
	return rig_write_file(r, r->conf, text);
}

/*
 * Write a signing key of len random bytes to NAME in the rig's directory,
 * mode 0600 and owned by the directory's owner (who the instances run
 * as), and keep a copy in key for the test to sign with.  Its path goes
 * to path.
 */
bool
rig_write_key(struct rig *r, const char *name, size_t len, struct key *key,
    char *path, size_t pathsz)
{
	struct stat	 st;
	int		 fd;

	memset(key, 0, sizeof(*key));
	if (len > sizeof(key->bytes) || getrandom(key->bytes, len, 0) !=
	    (ssize_t)len)
		return rig_fail(r, "key %s: no %zu random bytes", name, len);
	key->len = len;
	snprintf(path, pathsz, "%s/%s", r->dir, name);
	unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		return rig_fail(r, "%s: %s", path, strerror(errno));
	if (write(fd, key->bytes, len) != (ssize_t)len ||
	    stat(r->dir, &st) == -1 || fchown(fd, st.st_uid, st.st_gid) == -1) {
		close(fd);
		return rig_fail(r, "%s: %s", path, strerror(errno));
	}
	close(fd);
	return true;
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
 * As root, give the rig's directory to the user the instances run as
 * (rig_instance_user()), so that they can write stat.log and the flag in
 * it; it stays mode 0700.  The rig, as root, still writes there.
 */
static bool
give_dir(struct rig *r)
{
	const char	*user = rig_instance_user();
	struct passwd	*pw;

	if (user == NULL)
		return true;
	if ((pw = getpwnam(user)) == NULL)
		return rig_fail(r, "no user %s to run the instances as", user);
	if (chown(r->dir, pw->pw_uid, pw->pw_gid) == -1)
		return rig_fail(r, "chown %s %s: %s", user, r->dir,
		    strerror(errno));
	return true;
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
		return rig_fail(r, "mkdtemp %s: %s", r->dir, strerror(errno));
	register_cleanup(r);
	if (!give_dir(r))
		return false;
	snprintf(r->conf, sizeof(r->conf), "%s/spike.conf", r->dir);
	snprintf(r->stat_log, sizeof(r->stat_log), "%s/stat.log", r->dir);
	snprintf(r->edge_log, sizeof(r->edge_log), "%s/edge.log", r->dir);
	snprintf(r->sold_out_flag, sizeof(r->sold_out_flag), "%s/sold-out",
	    r->dir);
	snprintf(r->edge_dir, sizeof(r->edge_dir), "%s/edge", r->dir);
	snprintf(r->nginx_dir, sizeof(r->nginx_dir), "%s/nginx", r->dir);
	for (int i = 0; i < RIG_INSTANCES; i++)
		r->inst[i].weight = RIG_WEIGHT(i);
	return pick_ports(r) && rig_write_redis_conf(r) && rig_write_conf(r);
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
	return rig_instances_start(r) && rig_heartbeats_wait(r, BUDGET_UP_MS) &&
	    rig_nginx_start(r);
}

/* Stop everything gracefully (SIGKILL on timeout) and remove the dir. */
void
rig_stop(struct rig *r)
{
	rig_nginx_stop(r);
	for (int i = 0; i < RIG_INSTANCES; i++)
		rig_proc_stop(&r->inst[i], SIGTERM, RIG_STOP_TIMEOUT_MS);
	rig_proc_stop(&r->redis, SIGTERM, RIG_STOP_TIMEOUT_MS);
	remove_tree(r->dir);
	cleanup_dir[0] = '\0';
}
