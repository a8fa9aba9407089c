/*
 * Integration: the sale spread over several hosts.  Test hosts are
 * network namespaces the test makes and removes itself (rig_netns.c, as
 * root): app1 runs instances 1 and 2 (weights 1:2), app2 instances 3 and
 * 4 (weights 3:4), edge runs nginx, db Redis (and, for the failover,
 * its replica and three Sentinels), and the test itself buys from cli,
 * so that every request and every Redis call crosses the bridge between
 * hosts and nothing relies on 127.0.0.1.
 *
 * The test process moves onto cli (rig_net_enter) right after making the
 * hosts, before it starts anything: then spikectl, which it runs, and its
 * load threads, which inherit its namespace, reach the other hosts only
 * through their addresses, as an operator's machine and the buyers do.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "rig_ck.h"

#define STOP_MS		budget_ms(5000)	/* a process signalled, gone */
#define POLL_MS		10
#define TOTAL		2000
#define CONNS		8
#define REQUESTS	(20 * TOTAL)	/* unique users, more than enough */
/* Selling a sale of TOTAL under this load: as check_chaos allows. */
#define SELL_MS		budget_ms(30000)
#define LOAD_MS		(3 * SELL_MS)
/*
 * The instances' liveness window, as sync.c and spikectl status use it:
 * 3 x sync_ms, at least a second.
 */
#define LIVE_WINDOW_MS	(3 * CONF_DEFAULT_SYNC_MS < 1000 ? 1000 : \
			    3 * CONF_DEFAULT_SYNC_MS)
/* The dead instances' heartbeats aged out and every survivor synced. */
#define AGE_OUT_MS	(budget_ms(LIVE_WINDOW_MS) + \
			    BUDGET_SYNC_MS(CONF_DEFAULT_SYNC_MS, \
			    CONF_DEFAULT_REDIS_TIMEOUT_MS))
/*
 * nginx leaves a dead upstream after one failed try per worker and
 * retries it after fail_timeout: each try costs a request up to the
 * snippet's fastcgi_connect_timeout (1s), or its fastcgi_read_timeout
 * (10 s) for one sent just before the host died.
 */
#define NGINX_READ_TIMEOUT_MS	10000
#define NGINX_SKIP_MS	budget_ms(NGINX_READ_TIMEOUT_MS + 3 * 1000)

static const char *const roles[] = { "cli", "edge", "app1", "app2", "db" };
#define NROLES		(sizeof(roles) / sizeof(roles[0]))
static const char *const inst_roles[RIG_INSTANCES] = { "app1", "app1",
    "app2", "app2" };

/* ---- helpers ------------------------------------------------------------ */

/* Is the network namespace of pid the one mounted for host h? */
static bool
runs_on(pid_t pid, const struct rig_host *h)
{
	char		 path[64], mounted[RIG_NETNS_MAX + 16];
	struct stat	 a, b;

	snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)pid);
	snprintf(mounted, sizeof(mounted), "/run/netns/%s", h->name);
	return stat(path, &a) == 0 && stat(mounted, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * Is pid the program itself?  "ip netns exec" must exec it in place, so
 * that the pid the rig tracks, signals and reaps is the program's.
 */
static bool
runs_program(pid_t pid, const char *program)
{
	char		 exe[64];
	struct stat	 a, b;

	snprintf(exe, sizeof(exe), "/proc/%ld/exe", (long)pid);
	return stat(exe, &a) == 0 && stat(program, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Does host h's namespace still exist? */
static bool
host_exists(const char *name)
{
	char	 path[128];

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	return access(path, F_OK) == 0;
}

/* The interfaces of the calling thread's namespace, as "lo,eth0,". */
static void
interfaces(char *buf, size_t bufsz)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	size_t		 n = 0;

	buf[0] = '\0';
	for (i = ifs; i != NULL && i->if_index != 0 && n < bufsz; i++)
		n += (size_t)snprintf(buf + n, bufsz - n, "%s,", i->if_name);
	if (ifs != NULL)
		if_freenameindex(ifs);
}

/*
 * Make the hosts, put the rig's parts on them, and move the test onto
 * cli; the machine's own namespace must have gained no interface.
 */
static void
hosts_make(struct rig *r, struct rig_net *net, const struct rig_options *opt)
{
	char	 before[1024], after[1024];

	ck_assert_msg(rig_init(r, opt), "rig: %s", r->err);
	interfaces(before, sizeof(before));
	ck_assert_msg(rig_net_create(r, net, roles, NROLES), "%s", r->err);
	interfaces(after, sizeof(after));
	ck_assert_msg(strcmp(before, after) == 0, "the machine's namespace "
	    "got interfaces: before %s after %s", before, after);
	ck_assert_msg(rig_on_host(r, net, "db", "edge", inst_roles), "%s",
	    r->err);
	ck_assert_msg(rig_net_enter(r, net, rig_net_host(net, "cli")), "%s",
	    r->err);
}

/* Redis with a sale of total, the instances, nginx: each on its host. */
static void
hosts_start(struct rig *r, long long total)
{
	ck_assert_msg(rig_redis_start(r), "%s", r->err);
	ck_assert_msg(rig_sale_set(r, total), "%s", r->err);
	ck_assert_msg(rig_instances_start(r), "%s", r->err);
	ck_assert_msg(rig_heartbeats_wait(r, BUDGET_UP_MS), "%s", r->err);
	ck_assert_msg(rig_nginx_start(r), "%s", r->err);
}

/*
 * Every part runs on its host, by the pid the rig tracks (instances: the
 * rig checked they run spike-fcgi itself when it started them).
 */
static void
ck_placed(struct rig *r)
{
	ck_assert_msg(runs_program(r->redis.pid, r->redis_server) &&
	    runs_program(r->nginx_master.pid, r->nginx), "the rig's pids are "
	    "not redis-server's and nginx's: ip netns exec did not exec them "
	    "in place");
	ck_assert_msg(runs_on(r->redis.pid, r->redis.host), "redis-server "
	    "(pid %ld) is not on %s", (long)r->redis.pid, r->redis.host->name);
	ck_assert_msg(runs_on(r->nginx_master.pid, r->nginx_master.host),
	    "nginx (pid %ld) is not on %s", (long)r->nginx_master.pid,
	    r->nginx_master.host->name);
	for (int i = 0; i < RIG_INSTANCES; i++)
		ck_assert_msg(runs_on(r->inst[i].pid, r->inst[i].host),
		    "instance %d (pid %ld) is not on %s", i,
		    (long)r->inst[i].pid, r->inst[i].host->name);
}

/* Poll Redis until sold >= want or timeout_ms; returns the last sold. */
static long long
wait_sold(struct rig *r, long long want, double timeout_ms)
{
	double		 end = rig_now_ms() + timeout_ms;
	long long	 sold;

	while ((sold = rig_ck_sold(r)) < want && rig_now_ms() < end)
		rig_sleep_ms(10);
	return sold;
}

/* spikectl status --json's live_weight: the weights Redis sees alive. */
static long
live_weight(struct rig *r)
{
	char	 out[RIG_PATH_MAX + 16], text[8192], *p;
	char	*argv[] = { r->spikectl, "-c", r->conf, "status", "--json",
	    NULL };
	int	 status;
	size_t	 n;
	FILE	*f;

	snprintf(out, sizeof(out), "%s/status.json", r->dir);
	unlink(out);
	ck_assert_msg(rig_run(r, argv, out, BUDGET_UP_MS, &status), "%s",
	    r->err);
	ck_assert_msg((f = fopen(out, "r")) != NULL, "%s", out);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    (p = strstr(text, "\"live_weight\":")) != NULL,
	    "spikectl status --json: %s", text);
	return atol(p + 14);
}

/* Wait until Redis sees only live_weight want alive; false on timeout. */
static bool
wait_live_weight(struct rig *r, long want, double timeout_ms)
{
	double	 end = rig_now_ms() + timeout_ms;

	while (live_weight(r) != want)
		if (rig_now_ms() > end)
			return false;
		else
			rig_sleep_ms(100);
	return true;
}

/*
 * Kill host h: its link goes down first, as when a machine loses power
 * (nginx gets no reset for what it sent there), then every process on it
 * is SIGKILLed by pid; nothing may be left running in its namespace.
 */
static void
host_kill(struct rig *r, const struct rig_net *net, const struct rig_host *h)
{
	int	 i, status;

	ck_assert_msg(rig_net_cut(r, net, h), "%s", r->err);
	for (i = 0; i < RIG_INSTANCES; i++)
		if (r->inst[i].host == h)
			ck_assert_msg(rig_instance_kill(r, i, SIGKILL), "%s",
			    r->err);
	for (i = 0; i < RIG_INSTANCES; i++)
		if (r->inst[i].host == h)
			ck_assert_msg(rig_instance_wait(r, i,
			    STOP_MS, &status, NULL), "%s", r->err);
	ck_assert_msg(rig_net_pids(h) == 0, "%d processes still on %s",
	    rig_net_pids(h), h->name);
}

/* Stop everything, remove the hosts, and check they are gone. */
static void
hosts_stop(struct rig *r, struct rig_net *net)
{
	char	 names[RIG_HOSTS_MAX + 1][RIG_NETNS_MAX];
	size_t	 n = 0, i;

	for (i = 0; i < net->nhosts; i++)
		snprintf(names[n++], sizeof(names[0]), "%s",
		    net->hosts[i].name);
	snprintf(names[n++], sizeof(names[0]), "%s", net->bridge);
	rig_stop(r);
	rig_net_remove(net);
	for (i = 0; i < n; i++)
		ck_assert_msg(!host_exists(names[i]), "namespace %s left",
		    names[i]);
}

/*
 * Start load as spec says and wait until the sale is mid-way (a fifth
 * sold, not all); what was sold then.
 */
static long long
load_until_mid_sale(struct rig *r, struct rig_load *load,
    const struct rig_load_spec *spec)
{
	long long	 sold;
	char		 sum[1024];

	ck_assert(rig_load_start(load, spec));
	sold = wait_sold(r, TOTAL / 5, SELL_MS);
	ck_assert_msg(sold >= TOTAL / 5 && sold < TOTAL, "not mid-sale: sold "
	    "%lld of %d; %s", sold, TOTAL, rig_load_summary(load, sum,
	    sizeof(sum)));
	return sold;
}

/*
 * Once the sale has sold what it sold (sold), stop the load: sold ==
 * total, one order per ticket, no more buyers told "bought" than
 * tickets, every one of them (at least one) an order, the books audit
 * clean.  The load's summary into sum; how many buyers were checked.
 */
static unsigned int
ck_sold_out(struct rig *r, struct rig_load *load, long long sold,
    const char *after, char *sum, size_t sumsz)
{
	redisContext	*c;
	unsigned int	 bought, checked;

	rig_load_stop(load);
	rig_load_wait(load);
	rig_load_summary(load, sum, sumsz);
	ck_assert_msg(sold == TOTAL, "sold %lld of %d after %s; %s", sold,
	    TOTAL, after, sum);
	c = rig_ck_redis(r);
	ck_assert_int_eq(rig_ck_orders_made(c), TOTAL);
	redisFree(c);
	bought = rig_load_code(load, 1);
	ck_assert_msg(bought <= TOTAL, "%u told bought, %d tickets; %s",
	    bought, TOTAL, sum);
	checked = rig_ck_bought_are_orders(r, load);
	ck_assert_msg(checked > 0, "nobody was told bought; %s", sum);
	rig_ck_audit(r);
	return checked;
}

/* ---- one app host killed mid-sale ---------------------------------------- */

/*
 * Test 4, phase 1: under load, app1 (instances of weights 1 and 2) dies
 * entirely mid-sale.  The survivors on app2 sell everything: Redis sold
 * == total, one order per ticket, every buyer told "bought" has an order,
 * no more buyers told "bought" than tickets, the books audit clean (all
 * ck_sold_out()); the dead instances' weight
 * leaves Redis's live set within the liveness window; the sale is over
 * within the budget that window and nginx's timeouts allow.
 */
START_TEST(test_app_host_dies)
{
	struct rig	 r;
	struct rig_net	 net;
	struct rig_load	*load = calloc(1, sizeof(*load));
	struct rig_load_spec spec;
	long long	 at_kill, sold;
	unsigned int	 checked;
	double		 killed_ms, sold_out_ms;
	char		 sum[1024];

	ck_assert_ptr_nonnull(load);
	hosts_make(&r, &net, NULL);
	hosts_start(&r, TOTAL);
	ck_placed(&r);
	ck_assert_int_eq(live_weight(&r), 10);

	spec = rig_load_plan(&r, CONNS, REQUESTS, true, LOAD_MS);
	at_kill = load_until_mid_sale(&r, load, &spec);
	host_kill(&r, &net, rig_net_host(&net, "app1"));
	killed_ms = rig_now_ms();

	ck_assert_msg(wait_live_weight(&r, 3 + 4, AGE_OUT_MS), "app1's "
	    "instances still alive in Redis after %u ms", AGE_OUT_MS);
	sold = wait_sold(&r, TOTAL, AGE_OUT_MS + NGINX_SKIP_MS + SELL_MS);
	sold_out_ms = rig_now_ms() - killed_ms;
	checked = ck_sold_out(&r, load, sold, "app1 died", sum, sizeof(sum));
	ck_assert_msg(rig_instance_alive(&r, 2) && rig_instance_alive(&r, 3),
	    "%s", r.err);
	fprintf(stderr, "check_hosts: app1 died at sold %lld of %d; sold out "
	    "%.0f ms later (%u ms allowed); %u buyers told bought, all "
	    "orders; %s\n", at_kill, TOTAL, sold_out_ms, AGE_OUT_MS +
	    NGINX_SKIP_MS + SELL_MS, checked, sum);
	hosts_stop(&r, &net);
	free(load);
}
END_TEST

/* ---- the primary failed over across hosts -------------------------------- */

#define FAILOVER_MS	RIG_HA_FAILOVER_MS
/*
 * While the new primary has no replica (until the old one is back as its
 * replica), every purchase is a 503: the load's users, each waiting a
 * little after a 503 as Retry-After asks, must outlast that.
 */
#define FAILOVER_REQUESTS 65536
#define PAUSE_503_MS	20	/* a buyer told 503 waits, then buys */

/*
 * Test 4, phase 2: the sale on app1 and app2 with durability = replicas
 * (one replica), Redis found through three Sentinels on db, the primary
 * with the server-side settings that go with it (min-replicas-to-write
 * 1, rig_ha.c).  Under load the primary is SIGKILLed mid-sale; once the
 * Sentinels have promoted the replica, the old primary comes back from
 * its AOF as the new one's replica, so that WAIT 1 can succeed again.
 * Every buyer told "bought" is an order on the new primary, sold ==
 * total, one order per ticket, the books audit clean; the seconds of 503
 * buyers saw are reported.
 */
START_TEST(test_failover_across_hosts)
{
	struct rig	 r;
	struct rig_net	 net;
	struct rig_options opt = { .conf_extra =
	    "durability = replicas\nallow_anonymous = no\n" };
	struct rig_load	*load = calloc(1, sizeof(*load));
	struct rig_load_spec spec;
	struct rig_proc	 old;
	static struct rig_ha ha;
	long long	 at_kill, sold;
	unsigned int	 checked;
	char		 sum[1024];

	ck_assert_ptr_nonnull(load);
	hosts_make(&r, &net, &opt);
	ck_assert_msg(rig_ha_on_host(&r, &ha, rig_net_host(&net, "db")), "%s",
	    r.err);
	ck_assert_msg(rig_ha_run(&r, &ha, TOTAL), "%s", r.err);
	ck_placed(&r);
	ck_assert_msg(runs_on(ha.replica.pid, ha.replica.host) &&
	    runs_on(ha.sentinel[0].pid, ha.sentinel[0].host), "the replica "
	    "or a Sentinel is not on db");

	spec = rig_load_plan(&r, CONNS, FAILOVER_REQUESTS, true, LOAD_MS);
	spec.pause_503_ms = PAUSE_503_MS;
	at_kill = load_until_mid_sale(&r, load, &spec);
	ck_assert_msg(rig_redis_kill(&r), "%s", r.err);
	ck_assert_msg(rig_ha_wait_primary(&r, &ha, ha.replica.port,
	    FAILOVER_MS), "%s", r.err);
	ck_assert_msg(rig_ha_redis_rejoin(&r, ha.replica.port), "%s", r.err);
	old = r.redis;		/* the new primary, where the sale is now */
	r.redis = ha.replica;
	ha.replica = old;

	sold = wait_sold(&r, TOTAL, FAILOVER_MS + AGE_OUT_MS + SELL_MS);
	checked = ck_sold_out(&r, load, sold, "the failover", sum,
	    sizeof(sum));
	fprintf(stderr, "check_hosts: primary killed at sold %lld of %d; "
	    "503s for %.1f s; %u buyers told bought, all orders on the new "
	    "primary; %s\n", at_kill, TOTAL, rig_load_503_span_ms(load) /
	    1000, checked, sum);
	rig_ha_stop(&r, &ha);
	hosts_stop(&r, &net);
	free(load);
}
END_TEST

/* ---- each host starts its own instances ---------------------------------- */

/*
 * Run argv on host h to its end; true when it exits 0, its output (at
 * most bufsz - 1 bytes) in buf.
 */
static bool
run_on(struct rig *r, const struct rig_host *h, const char *const *argv,
    char *buf, size_t bufsz)
{
	char	*full[32], out[RIG_PATH_MAX + 16];
	size_t	 n = 0, len;
	int	 status;
	FILE	*f;

	full[n++] = "ip";
	full[n++] = "netns";
	full[n++] = "exec";
	full[n++] = (char *)h->name;
	while (*argv != NULL && n < 31)
		full[n++] = (char *)*argv++;
	full[n] = NULL;
	snprintf(out, sizeof(out), "%s/run-on.out", r->dir);
	unlink(out);
	ck_assert_msg(rig_run(r, full, out, BUDGET_UP_MS, &status), "%s",
	    r->err);
	ck_assert_msg((f = fopen(out, "r")) != NULL, "%s", out);
	len = fread(buf, 1, bufsz - 1, f);
	buf[len] = '\0';
	fclose(f);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Units the generator linked into spike-fcgi.service.wants/ under dir. */
static int
units_wanted(const char *dir)
{
	char		 wants[RIG_PATH_MAX + 64];
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	snprintf(wants, sizeof(wants), "%s/spike-fcgi.service.wants", dir);
	if ((d = opendir(wants)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, "spike-fcgi@", 11) == 0;
	closedir(d);
	return n;
}

/*
 * One spike.conf for every host: on each host, spikectl instances --local
 * lists that host's instance lines only (app1 the two of weights 1 and 2,
 * app2 the other two, edge none), and the systemd generator, which reads
 * it, makes that host's units only.
 */
START_TEST(test_each_host_its_instances)
{
	struct rig	 r;
	struct rig_net	 net;
	char		 want[256], out[4096], gen[RIG_PATH_MAX], dir[RIG_PATH_MAX];
	const char	*top = getenv("top_builddir");
	const char	*host_roles[] = { "app1", "app2", "edge" };
	const char	*argv[] = { NULL, "-c", NULL, "instances", "--local",
	    NULL };
	int		 expect[] = { 2, 2, 0 };
	size_t		 h;

	hosts_make(&r, &net, NULL);
	argv[0] = r.spikectl;
	argv[2] = r.conf;
	ck_assert_msg(top != NULL, "top_builddir is not set (run through make "
	    "check)");
	snprintf(gen, sizeof(gen), "%s/scripts/systemd/spike-fcgi-generator",
	    top);
	setenv("SPIKE_CONF", r.conf, 1);
	setenv("SPIKECTL", r.spikectl, 1);
	for (h = 0; h < 3; h++) {
		const struct rig_host *host = rig_net_host(&net, host_roles[h]);
		const char *gen_argv[] = { "sh", gen, dir, NULL };

		want[0] = '\0';
		for (int i = 0; i < RIG_INSTANCES; i++)
			if (r.inst[i].host == host)
				snprintf(want + strlen(want), sizeof(want) -
				    strlen(want), "%s:%d\n", host->addr,
				    r.inst[i].port);
		ck_assert_msg(run_on(&r, host, argv, out, sizeof(out)),
		    "spikectl instances --local on %s: %s", host->role, out);
		ck_assert_msg(strcmp(out, want) == 0, "instances --local on %s: "
		    "\"%s\", not \"%s\"", host->role, out, want);
		snprintf(dir, sizeof(dir), "%s/units-%s", r.dir, host->role);
		ck_assert_msg(run_on(&r, host, gen_argv, out, sizeof(out)),
		    "the generator on %s: %s", host->role, out);
		ck_assert_msg(units_wanted(dir) == expect[h], "the generator "
		    "on %s made %d units, not %d", host->role,
		    units_wanted(dir), expect[h]);
	}
	hosts_stop(&r, &net);
}
END_TEST

/* ---- nothing left behind ------------------------------------------------- */

/*
 * In a child: make the hosts and start Redis on db, then end as a failed
 * Check assertion does (rig_cleanup(), then _exit) or, with kill_self, by
 * SIGKILL (a Check timeout).  Writes the db namespace's name and Redis's
 * pid to fd first.
 */
static void __attribute__((noreturn))
child_hosts(int fd, bool kill_self)
{
	struct rig	 r;
	struct rig_net	 net;

	if (!rig_init(&r, NULL) || !rig_net_create(&r, &net, roles, NROLES) ||
	    !rig_on_host(&r, &net, "db", NULL, (const char *[]){ NULL, NULL,
	    NULL, NULL }) || !rig_net_enter(&r, &net, rig_net_host(&net,
	    "cli")) || !rig_redis_start(&r)) {
		dprintf(fd, "error %s\n", r.err);
		_exit(1);
	}
	dprintf(fd, "%s %ld\n", r.redis.host->name, (long)r.redis.pid);
	close(fd);
	if (kill_self)
		raise(SIGKILL);
	rig_cleanup();
	_exit(1);
}

/* Run child_hosts; its db host's name and Redis's pid. */
static void
run_child(bool kill_self, char *name, size_t namesz, long *redis_pid)
{
	int	 fds[2], status;
	char	 line[RIG_ERR_MAX];
	pid_t	 pid;
	FILE	*f;

	ck_assert_int_eq(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		child_hosts(fds[1], kill_self);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	ck_assert_msg(fgets(line, sizeof(line), f) != NULL, "child said "
	    "nothing");
	fclose(f);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(strncmp(line, "error", 5) != 0, "child: %s", line);
	ck_assert_int_eq(sscanf(line, "%63s %ld", name, redis_pid), 2);
	(void)namesz;
}

/* Wait until pid is gone (reaped by its parent or by init). */
static bool
gone(long pid, unsigned int timeout_ms)
{
	double	 end = rig_now_ms() + timeout_ms;

	while (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		if (rig_now_ms() > end)
			return false;
		else
			rig_sleep_ms(POLL_MS);
	return true;
}

/*
 * A test that fails removes its hosts and stops what runs on them: after
 * the failure path (rig_cleanup), the namespaces are gone and Redis is
 * dead; after a SIGKILL, its Redis dies with it (PR_SET_PDEATHSIG) and
 * the next test's rig_net_create removes the namespaces it left.
 */
START_TEST(test_hosts_removed_on_failure)
{
	struct rig	 r;
	struct rig_net	 net;
	char		 name[RIG_NETNS_MAX + 32];
	long		 pid;

	run_child(false, name, sizeof(name), &pid);
	ck_assert_msg(!host_exists(name), "%s left after a failure", name);
	ck_assert_msg(gone(pid, STOP_MS), "redis-server %ld on %s "
	    "still runs", pid, name);

	run_child(true, name, sizeof(name), &pid);
	ck_assert_msg(gone(pid, STOP_MS), "redis-server %ld on %s "
	    "outlived its SIGKILLed test", pid, name);
	ck_assert_msg(host_exists(name), "%s: the SIGKILLed test removed it "
	    "after all?", name);
	ck_assert_msg(rig_init(&r, NULL) && rig_net_create(&r, &net, roles,
	    1), "%s", r.err);
	ck_assert_msg(!host_exists(name), "%s, left by a SIGKILLed test, was "
	    "not removed by the next one", name);
	rig_stop(&r);
	rig_net_remove(&net);
}
END_TEST

static Suite *
hosts_suite(void)
{
	Suite	*s = suite_create("hosts");
	TCase	*dies = tcase_create("app_host_dies");	/* CK_RUN_CASE */
	TCase	*left = tcase_create("layout");
	TCase	*failover = tcase_create("failover");

	tcase_set_timeout(dies, 120);
	tcase_add_test(dies, test_app_host_dies);
	suite_add_tcase(s, dies);
	tcase_set_timeout(left, 60);
	tcase_add_test(left, test_each_host_its_instances);
	tcase_add_test(left, test_hosts_removed_on_failure);
	suite_add_tcase(s, left);
	tcase_set_timeout(failover, 120);
	tcase_add_test(failover, test_failover_across_hosts);
	suite_add_tcase(s, failover);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(hosts_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
