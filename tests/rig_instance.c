/*
 * The rig's spike-fcgi instances: each started as an operator's unit
 * starts it (spikectl spawn), signalled, waited for and stopped by pid.
 * See rig.h.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "rig_private.h"

/* Does p accept connections on its port?  A rig_ready_fn. */
static bool
port_open(struct rig *r, const struct rig_proc *p)
{
	int	 fd;

	(void)r;
	if ((fd = rig_tcp_connect_to(NULL, rig_proc_addr(p), p->port,
	    1000)) == -1)
		return false;
	close(fd);
	return true;
}

/* Where instance i's stdout and stderr go. */
void
rig_instance_log(struct rig *r, int i, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s/instance-%d.log", r->dir, r->inst[i].port);
}

/*
 * Is p spike-fcgi itself (the same file as SPIKE_FCGI)?  spikectl spawn
 * execs spawn-fcgi -n, which binds the port and execs spike-fcgi in
 * place, so the pid the rig tracks, signals and reaps must become the
 * responder's.  A rig_ready_fn.
 */
static bool
runs_responder(struct rig *r, const struct rig_proc *p)
{
	char		 exe[64];
	struct stat	 a, b;

	snprintf(exe, sizeof(exe), "/proc/%ld/exe", (long)p->pid);
	return stat(exe, &a) == 0 && stat(r->spike_fcgi, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * The user instances run as: RIG_USER when the tests run as root, since
 * spike-fcgi refuses root; NULL (the tests' own user) otherwise.
 */
const char *
rig_instance_user(void)
{
	return geteuid() == 0 ? RIG_USER : NULL;
}

/*
 * Start instance i as an operator's unit does: spikectl spawn ADDR, with
 * --user RIG_USER as root.
 */
bool
rig_instance_start(struct rig *r, int i)
{
	char	 addr[32], log[RIG_PATH_MAX + 32], what[64];
	char	*argv[] = { r->spikectl, "-c", r->conf, "spawn", addr,
	    "--program", r->spike_fcgi, NULL, NULL, NULL };

	if (r->inst[i].pid != 0)
		return rig_fail(r, "instance %d is running already", i);
	snprintf(addr, sizeof(addr), "%s:%d", rig_proc_addr(&r->inst[i]),
	    r->inst[i].port);
	if (rig_instance_user() != NULL) {
		argv[7] = "--user";
		argv[8] = (char *)rig_instance_user();
	}
	rig_instance_log(r, i, log, sizeof(log));
	snprintf(what, sizeof(what), "spike-fcgi on %s", addr);
	if ((r->inst[i].pid = rig_spawn_on(r, r->inst[i].host, argv, log,
	    false)) == -1) {
		r->inst[i].pid = 0;
		return false;
	}
	return rig_wait_ready(r, &r->inst[i], port_open, what,
	    "port not accepting", log) &&
	    rig_wait_ready(r, &r->inst[i], runs_responder, what,
	    "not running SPIKE_FCGI (spikectl spawn must exec it in place)",
	    log);
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
		return rig_fail(r, "cannot signal instance %d", i);
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

	if (!rig_proc_wait(p, timeout_ms)) {
		char	 log[RIG_PATH_MAX + 32];

		rig_fail(r, "instance %s:%d still running after %u ms",
		    rig_proc_addr(p), p->port, timeout_ms);
		rig_instance_log(r, i, log, sizeof(log));
		rig_append_tail(r, log);
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

	if (r->inst[i].pid != 0 && !rig_proc_exited(&r->inst[i]))
		return true;
	rig_fail(r, "instance %s:%d is not running (%s)",
	    rig_proc_addr(&r->inst[i]), r->inst[i].port, rig_status_str(r->inst[i].status, st, sizeof(st)));
	rig_instance_log(r, i, log, sizeof(log));
	rig_append_tail(r, log);
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
			ok = rig_fail(r, "instance %s:%d ended on SIGTERM "
			    "with %s, not exit status 0",
			    rig_proc_addr(&r->inst[i]), r->inst[i].port,
			    rig_status_str(status, st, sizeof(st)));
	}
	return ok;
}
