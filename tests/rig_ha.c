/*
 * The rig's high availability: a replica of the rig's Redis and three
 * Sentinels (redis-server --sentinel) watching it, each with its own
 * directory and writable config file in the rig's directory, started and
 * stopped by pid; spike.conf then names the Sentinels instead of Redis.
 * See rig.h.
 *
 * Both Redis servers refuse writes without a fresh replica
 * (min-replicas-to-write 1): with durability = replicas a lone primary
 * can confirm nothing anyway, and refusing the write keeps purchases that
 * were answered 503 off its books.  The price, with one replica, is that a
 * promoted replica sells nothing until the old primary is back as its
 * replica, which the tests do (rig_ha_redis_rejoin).  A full resync
 * starts at once (repl-diskless-sync-delay 0), not after 5 s.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "rig_private.h"

#define HA_IO_TIMEOUT_MS	budget_ms(1000)
#define HA_MAX_LAG_S		10
#define HA_ARGV_MAX		12

/* A command on a fresh connection to addr:port; the reply or NULL. */
static redisReply *
ha_command(const char *addr, int port, int argc, const char **argv)
{
	unsigned int	 ms = HA_IO_TIMEOUT_MS;
	struct timeval	 tv = { ms / 1000, (suseconds_t)(ms % 1000) * 1000 };
	redisContext	*c;
	redisReply	*rep = NULL;

	c = redisConnectWithTimeout(addr, port, tv);
	if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK)
		rep = redisCommandArgv(c, argc, argv, NULL);
	redisFree(c);
	return rep;
}

/* Does addr:port answer PING with PONG? */
static bool
ha_pong(const char *addr, int port)
{
	const char	*argv[] = { "PING" };
	redisReply	*rep = ha_command(addr, port, 1, argv);
	bool		 ok;

	ok = rep != NULL && rep->type == REDIS_REPLY_STATUS &&
	    strcmp(rep->str, "PONG") == 0;
	if (rep != NULL)
		freeReplyObject(rep);
	return ok;
}

/*
 * Start argv (after "ip netns exec NETNS" when netns is given), its
 * output to log, and wait until addr:port answers PING.
 */
static bool
ha_spawn(struct rig *r, struct rig_proc *p, const char *netns,
    char *const *argv, const char *addr, const char *what, const char *log)
{
	char	*full[HA_ARGV_MAX + 5];
	double	 end = rig_now_ms() + RIG_START_TIMEOUT_MS;
	int	 n = 0;

	if (netns != NULL) {
		full[n++] = "ip";
		full[n++] = "netns";
		full[n++] = "exec";
		full[n++] = (char *)netns;
	}
	for (int i = 0; argv[i] != NULL && i < HA_ARGV_MAX; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	if ((p->pid = rig_spawn(r, full, log, false)) == -1) {
		p->pid = 0;
		return false;
	}
	while (!ha_pong(addr, p->port)) {
		if (rig_proc_exited(p))
			rig_fail(r, "%s: exited at start-up", what);
		else if (rig_now_ms() > end)
			rig_fail(r, "%s: no PONG after %u ms", what,
			    RIG_START_TIMEOUT_MS);
		else {
			rig_sleep_ms(RIG_POLL_MS);
			continue;
		}
		rig_append_tail(r, log);
		return false;
	}
	return true;
}

/*
 * Protected mode, which lets only loopback clients in, as the rig's Redis
 * has it: on a test host (netns) the other hosts are the clients.
 */
static const char *
ha_protected(const char *netns)
{
	return netns != NULL ? "no" : "yes";
}

/*
 * Start redis-server (a Sentinel with sentinel) named name on
 * addr:p->port in netns: its own directory NAME-PORT in the rig's, with a
 * writable config file (Sentinel rewrites its own) of the common lines,
 * then lines; true once it answers PING.
 */
static bool
ha_server_start(struct rig *r, struct rig_proc *p, const char *netns,
    const char *addr, const char *name, const char *lines, bool sentinel)
{
	char	 dir[RIG_PATH_MAX], conf[RIG_PATH_MAX + 32];
	char	 log[RIG_PATH_MAX + 32], text[2048], what[64];
	char	*argv[] = { r->redis_server, conf, sentinel ? "--sentinel" :
	    NULL, NULL };

	snprintf(dir, sizeof(dir), "%s/%s-%d", r->dir, name, p->port);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return rig_fail(r, "mkdir %s: %s", dir, strerror(errno));
	snprintf(conf, sizeof(conf), "%s/%s.conf", dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	snprintf(text, sizeof(text), "port %d\nbind %s\ndir %s\n"
	    "daemonize no\nlogfile %s\nprotected-mode %s\n%s", p->port, addr,
	    dir, log, ha_protected(netns), lines);
	if (!rig_write_file(r, conf, text))
		return false;
	snprintf(what, sizeof(what), "%s on %s:%d", name, addr, p->port);
	return ha_spawn(r, p, netns, argv, addr, what, log);
}

/*
 * Start a replica of primary_addr:primary_port on addr:p->port (p->port
 * set by the caller), with AOF and min-replicas-to-write as the rig's
 * Redis has them.
 */
bool
rig_ha_replica_start(struct rig *r, struct rig_proc *p, const char *netns,
    const char *addr, const char *primary_addr, int primary_port)
{
	char	 lines[512];

	snprintf(lines, sizeof(lines), "save \"\"\nappendonly yes\n"
	    "replicaof %s %d\nreplica-announce-ip %s\n"
	    "min-replicas-to-write 1\nmin-replicas-max-lag %d\n"
	    "repl-diskless-sync-delay 0\n", primary_addr, primary_port, addr,
	    HA_MAX_LAG_S);
	return ha_server_start(r, p, netns, addr, "replica", lines, false);
}

/*
 * Start a Sentinel on addr:p->port watching primary_addr:primary_port as
 * RIG_HA_MASTER, with a quorum of RIG_HA_QUORUM.
 */
bool
rig_ha_sentinel_start(struct rig *r, struct rig_proc *p, const char *netns,
    const char *addr, const char *primary_addr, int primary_port)
{
	char	 lines[512];

	snprintf(lines, sizeof(lines), "sentinel monitor %s %s %d %d\n"
	    "sentinel down-after-milliseconds %s %u\n"
	    "sentinel failover-timeout %s %u\n", RIG_HA_MASTER, primary_addr,
	    primary_port, RIG_HA_QUORUM, RIG_HA_MASTER,
	    RIG_HA_DOWN_AFTER_MS, RIG_HA_MASTER, RIG_HA_FAILOVER_TIMEOUT_MS);
	return ha_server_start(r, p, netns, addr, "sentinel", lines, true);
}

/* An array reply's length, or -1. */
static long
ha_array_len(const char *addr, int port, int argc, const char **argv)
{
	redisReply	*rep = ha_command(addr, port, argc, argv);
	long		 n = -1;

	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY)
		n = (long)rep->elements;
	if (rep != NULL)
		freeReplyObject(rep);
	return n;
}

/* Does every Sentinel know the replica and the other Sentinels? */
static bool
ha_sentinels_ready(struct rig_ha *ha)
{
	const char	*peers[] = { "SENTINEL", "sentinels", RIG_HA_MASTER };
	const char	*replicas[] = { "SENTINEL", "replicas", RIG_HA_MASTER };

	for (int i = 0; i < RIG_HA_SENTINELS; i++)
		if (ha_array_len(rig_proc_addr(&ha->sentinel[i]),
		    ha->sentinel[i].port, 3, peers) != RIG_HA_SENTINELS - 1 ||
		    ha_array_len(rig_proc_addr(&ha->sentinel[i]),
		    ha->sentinel[i].port, 3, replicas) != 1)
			return false;
	return true;
}

/* Wait until cond(ha) holds, up to timeout_ms; false with what in r->err. */
static bool
ha_wait(struct rig *r, struct rig_ha *ha, bool (*cond)(struct rig_ha *),
    const char *what, unsigned int timeout_ms)
{
	double	 end = rig_now_ms() + timeout_ms;

	while (!cond(ha)) {
		if (rig_now_ms() > end)
			return rig_fail(r, "%s after %u ms", what, timeout_ms);
		rig_sleep_ms(50);
	}
	return true;
}

/*
 * Is the rig's Redis writable: is its replica online and, with
 * min-replicas-to-write, counted good?
 */
static bool
ha_primary_has_replica(struct rig *r)
{
	const char	*argv[] = { "INFO", "replication" };
	redisReply	*rep = ha_command(rig_proc_addr(&r->redis), r->redis.port,
			    2, argv);
	bool		 ok;

	ok = rep != NULL && rep->type == REDIS_REPLY_STRING &&
	    strstr(rep->str, "state=online") != NULL &&
	    (strstr(rep->str, "min_slaves_good_slaves:") == NULL ||
	    strstr(rep->str, "min_slaves_good_slaves:1") != NULL);
	if (rep != NULL)
		freeReplyObject(rep);
	return ok;
}

/* Wait until the rig's Redis counts its replica online and good. */
static bool
ha_wait_replica_good(struct rig *r)
{
	double	 end = rig_now_ms() + RIG_START_TIMEOUT_MS;

	while (!ha_primary_has_replica(r)) {
		if (rig_now_ms() > end)
			return rig_fail(r, "redis %s:%d never counted its "
			    "replica good", rig_proc_addr(&r->redis),
			    r->redis.port);
		rig_sleep_ms(50);
	}
	return true;
}

/* Free ports for the replica and the Sentinels, distinct from the rig's. */
static bool
ha_ports(struct rig *r, struct rig_ha *ha)
{
	struct rig_proc	*p[RIG_HA_SENTINELS + 1];
	int		 n = 0, port, i;

	p[0] = &ha->replica;
	for (i = 0; i < RIG_HA_SENTINELS; i++)
		p[i + 1] = &ha->sentinel[i];
	while (n < RIG_HA_SENTINELS + 1) {
		if ((port = rig_free_port()) <= 0)
			return rig_fail(r, "no free loopback port");
		for (i = 0; i < n && p[i]->port != port; i++)
			;
		if (i == n && port != r->redis.port && port != r->http_port)
			p[n++]->port = port;
	}
	return true;
}

/* spike.conf: the test's lines first (a dead sentinel may lead), then ours. */
static bool
ha_conf(struct rig *r, struct rig_ha *ha, const struct rig_options *opt)
{
	size_t	 n;

	n = (size_t)snprintf(ha->conf_extra, sizeof(ha->conf_extra), "%s",
	    opt != NULL && opt->conf_extra != NULL ? opt->conf_extra : "");
	for (int i = 0; i < RIG_HA_SENTINELS && n < sizeof(ha->conf_extra);
	    i++)
		n += (size_t)snprintf(ha->conf_extra + n,
		    sizeof(ha->conf_extra) - n, "sentinel = %s:%d\n",
		    rig_proc_addr(&ha->sentinel[i]), ha->sentinel[i].port);
	if (n < sizeof(ha->conf_extra))
		n += (size_t)snprintf(ha->conf_extra + n,
		    sizeof(ha->conf_extra) - n, "sentinel_master = %s\n",
		    RIG_HA_MASTER);
	if (n >= sizeof(ha->conf_extra))
		return rig_fail(r, "spike.conf's HA lines too long");
	r->opt.conf_extra = ha->conf_extra;
	r->opt.no_redis_line = true;
	return rig_write_conf(r);
}

/* The rig's redis.conf, with the replica settings of the HA rig. */
static bool
ha_redis_conf(struct rig *r)
{
	char	*text = rig_read_file(r->redis_conf), more[256];
	bool	 ok;

	if (text == NULL)
		return rig_fail(r, "cannot read %s", r->redis_conf);
	snprintf(more, sizeof(more), "min-replicas-to-write 1\n"
	    "min-replicas-max-lag %d\nrepl-diskless-sync-delay 0\n",
	    HA_MAX_LAG_S);
	if ((text = realloc(text, strlen(text) + strlen(more) + 1)) == NULL)
		return rig_fail(r, "out of memory");
	strcat(text, more);
	ok = rig_write_file(r, r->redis_conf, text);
	free(text);
	return ok;
}

/* The namespace p runs in (its host's), or NULL for this one. */
static const char *
ha_netns(const struct rig_proc *p)
{
	return p->host != NULL ? p->host->name : NULL;
}

/* The primary's replica is linked and counted, the Sentinels all know. */
static bool
ha_start_redis(struct rig *r, struct rig_ha *ha)
{
	const char	*primary = rig_proc_addr(&r->redis);

	if (!rig_redis_start(r) || !rig_ha_replica_start(r, &ha->replica,
	    ha_netns(&ha->replica), rig_proc_addr(&ha->replica), primary,
	    r->redis.port) || !rig_ha_wait_linked(r,
	    rig_proc_addr(&ha->replica), ha->replica.port, r->redis.port,
	    RIG_START_TIMEOUT_MS))
		return false;
	if (!ha_wait_replica_good(r))
		return false;
	for (int i = 0; i < RIG_HA_SENTINELS; i++)
		if (!rig_ha_sentinel_start(r, &ha->sentinel[i],
		    ha_netns(&ha->sentinel[i]), rig_proc_addr(&ha->sentinel[i]),
		    primary, r->redis.port))
			return false;
	return ha_wait(r, ha, ha_sentinels_ready, "sentinels do not know "
	    "each other and the replica", RIG_START_TIMEOUT_MS);
}

/*
 * rig_init(), and ports and config files for a replica and three
 * Sentinels, spike.conf naming the Sentinels.  Starts nothing: a test may
 * change r->redis_conf before rig_ha_run().
 */
bool
rig_ha_init(struct rig *r, struct rig_ha *ha, const struct rig_options *opt)
{
	memset(ha, 0, sizeof(*ha));
	return rig_init(r, opt) && ha_ports(r, ha) && ha_conf(r, ha, opt) &&
	    ha_redis_conf(r);
}

/*
 * For a rig already placed on test hosts (rig_on_host()): the replica
 * and the Sentinels on host h too, on its ports 6380 and 26379 to 26381
 * (the defaults: a host of their own needs no free port); spike.conf
 * then names the Sentinels at h's address.  Starts nothing: rig_ha_run().
 */
bool
rig_ha_on_host(struct rig *r, struct rig_ha *ha, const struct rig_host *h)
{
	memset(ha, 0, sizeof(*ha));
	ha->replica.host = h;
	ha->replica.port = 6380;
	for (int i = 0; i < RIG_HA_SENTINELS; i++) {
		ha->sentinel[i].host = h;
		ha->sentinel[i].port = 26379 + i;
	}
	return ha_conf(r, ha, &r->opt) && ha_redis_conf(r);
}

/*
 * A replica of the rig's Redis, on its host and a free port, as
 * rig_ha_replica_start() makes them, its link up and the primary
 * counting it good.  Stop it by pid.
 */
bool
rig_ha_replica_add(struct rig *r, struct rig_proc *p)
{
	const char	*addr = rig_proc_addr(&r->redis);

	memset(p, 0, sizeof(*p));
	p->host = r->redis.host;
	if ((p->port = rig_free_port()) <= 0)
		return rig_fail(r, "no free loopback port for a replica");
	return rig_ha_replica_start(r, p, ha_netns(p), addr, addr,
	    r->redis.port) && rig_ha_wait_linked(r, addr, p->port,
	    r->redis.port, RIG_START_TIMEOUT_MS) && ha_wait_replica_good(r);
}

/*
 * Start Redis, its replica and the Sentinels, then a sale of total
 * tickets (none if < 0), the instances and nginx, as rig_start().
 */
bool
rig_ha_run(struct rig *r, struct rig_ha *ha, long long total)
{
	if (!ha_start_redis(r, ha))
		return false;
	if (total >= 0 && !rig_sale_set(r, total))
		return false;
	return rig_instances_start(r) && rig_heartbeats_wait(r, BUDGET_UP_MS) &&
	    rig_nginx_start(r);
}

/* The whole HA rig: rig_ha_init() and rig_ha_run(). */
bool
rig_ha_start(struct rig *r, struct rig_ha *ha, const struct rig_options *opt,
    long long total)
{
	return rig_ha_init(r, ha, opt) && rig_ha_run(r, ha, total);
}

/* Stop the replica and the Sentinels by pid; rig_stop() does the rest. */
void
rig_ha_stop(struct rig *r, struct rig_ha *ha)
{
	(void)r;
	for (int i = 0; i < RIG_HA_SENTINELS; i++)
		rig_proc_stop(&ha->sentinel[i], SIGTERM, RIG_STOP_TIMEOUT_MS);
	rig_proc_stop(&ha->replica, SIGTERM, RIG_STOP_TIMEOUT_MS);
}

/* Stop Sentinel i (SIGTERM, then SIGKILL); true when it is gone. */
bool
rig_ha_sentinel_stop(struct rig_ha *ha, int i)
{
	rig_proc_stop(&ha->sentinel[i], SIGTERM, RIG_STOP_TIMEOUT_MS);
	return ha->sentinel[i].pid == 0;
}

/* The primary's port as the first Sentinel that answers names it, or -1. */
int
rig_ha_primary_port(struct rig *r, struct rig_ha *ha)
{
	const char	*argv[] = { "SENTINEL", "get-master-addr-by-name",
	    RIG_HA_MASTER };
	redisReply	*rep;
	int		 port = -1;

	for (int i = 0; i < RIG_HA_SENTINELS && port == -1; i++) {
		if (ha->sentinel[i].pid == 0)
			continue;
		rep = ha_command(rig_proc_addr(&ha->sentinel[i]),
		    ha->sentinel[i].port, 3, argv);
		if (rep != NULL && rep->type == REDIS_REPLY_ARRAY &&
		    rep->elements == 2 &&
		    rep->element[1]->type == REDIS_REPLY_STRING)
			port = atoi(rep->element[1]->str);
		if (rep != NULL)
			freeReplyObject(rep);
	}
	if (port == -1)
		rig_fail(r, "no sentinel names %s", RIG_HA_MASTER);
	return port;
}

/* What ROLE says first at addr:port ("master", "slave"), into buf. */
static void
ha_role(const char *addr, int port, char *buf, size_t bufsz, int *of_port,
    char *state, size_t statesz)
{
	const char	*argv[] = { "ROLE" };
	redisReply	*rep = ha_command(addr, port, 1, argv);

	snprintf(buf, bufsz, "(no answer)");
	snprintf(state, statesz, "?");
	*of_port = -1;
	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
	    rep->element[0]->type == REDIS_REPLY_STRING)
		snprintf(buf, bufsz, "%s", rep->element[0]->str);
	if (rep != NULL && strcmp(buf, "slave") == 0 && rep->elements >= 4) {
		*of_port = (int)rep->element[2]->integer;
		if (rep->element[3]->type == REDIS_REPLY_STRING)
			snprintf(state, statesz, "%s", rep->element[3]->str);
	}
	if (rep != NULL)
		freeReplyObject(rep);
}

/*
 * Wait until every running Sentinel names port, on the rig's Redis's
 * host, as the primary and that Redis says it is one (ROLE master).
 */
bool
rig_ha_wait_primary(struct rig *r, struct rig_ha *ha, int port,
    unsigned int timeout_ms)
{
	const char	*argv[] = { "SENTINEL", "get-master-addr-by-name",
	    RIG_HA_MASTER };
	double		 end = rig_now_ms() + timeout_ms;
	char		 role[32], state[32];
	redisReply	*rep;
	int		 named, of;

	for (;;) {
		named = 0;
		for (int i = 0; i < RIG_HA_SENTINELS; i++) {
			rep = ha_command(rig_proc_addr(&ha->sentinel[i]),
			    ha->sentinel[i].port, 3, argv);
			if (ha->sentinel[i].pid == 0 || (rep != NULL &&
			    rep->type == REDIS_REPLY_ARRAY &&
			    rep->elements == 2 &&
			    rep->element[1]->type == REDIS_REPLY_STRING &&
			    atoi(rep->element[1]->str) == port))
				named++;
			if (rep != NULL)
				freeReplyObject(rep);
		}
		ha_role(rig_proc_addr(&r->redis), port, role, sizeof(role),
		    &of, state, sizeof(state));
		if (named == RIG_HA_SENTINELS && strcmp(role, "master") == 0)
			return true;
		if (rig_now_ms() > end)
			return rig_fail(r, "after %u ms, %d of %d sentinels name "
			    "%s:%d the primary, whose ROLE is %s", timeout_ms,
			    named, RIG_HA_SENTINELS, rig_proc_addr(&r->redis),
			    port, role);
		rig_sleep_ms(50);
	}
}

/* Wait until addr:port is a replica of primary_port, its link up. */
bool
rig_ha_wait_linked(struct rig *r, const char *addr, int port,
    int primary_port, unsigned int timeout_ms)
{
	double	 end = rig_now_ms() + timeout_ms;
	char	 role[32], state[32];
	int	 of;

	for (;;) {
		ha_role(addr, port, role, sizeof(role), &of, state,
		    sizeof(state));
		if (strcmp(role, "slave") == 0 && of == primary_port &&
		    strcmp(state, "connected") == 0)
			return true;
		if (rig_now_ms() > end)
			return rig_fail(r, "%s:%d is not a connected replica of "
			    "port %d after %u ms: ROLE %s of %d, %s", addr, port,
			    primary_port, timeout_ms, role, of, state);
		rig_sleep_ms(50);
	}
}

/*
 * Restart the rig's Redis, killed, from its AOF as a replica of the new
 * primary on primary_port, as an operator brings a failed primary back.
 * (Sentinel would convert it too, but only after it has reported itself
 * a primary for some seconds.)
 */
bool
rig_ha_redis_rejoin(struct rig *r, int primary_port)
{
	const char	*addr = rig_proc_addr(&r->redis);
	char		 port[16], log[RIG_PATH_MAX + 16];
	char		*argv[] = { r->redis_server, r->redis_conf, "--replicaof",
	    (char *)addr, port, NULL };

	if (r->redis.pid != 0)
		return rig_fail(r, "redis-server is running already");
	snprintf(port, sizeof(port), "%d", primary_port);
	snprintf(log, sizeof(log), "%s/redis/redis.log", r->dir);
	return ha_spawn(r, &r->redis, ha_netns(&r->redis), argv, addr,
	    "redis-server (rejoining)", log) && rig_ha_wait_linked(r, addr,
	    r->redis.port, primary_port, RIG_START_TIMEOUT_MS);
}

/* Total and sold as the Redis on port holds them. */
bool
rig_ha_sale_at(struct rig *r, int port, long long *total, long long *sold)
{
	const char	*argv[] = { "HMGET", RIG_STOCK_KEY, RIG_TOTAL_FIELD,
	    RIG_SOLD_FIELD };
	const char	*addr = rig_proc_addr(&r->redis);
	redisReply	*rep = ha_command(addr, port, 4, argv);
	bool		 ok;

	ok = rep != NULL && rep->type == REDIS_REPLY_ARRAY &&
	    rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_STRING &&
	    rep->element[1]->type == REDIS_REPLY_STRING;
	if (ok) {
		*total = atoll(rep->element[0]->str);
		*sold = atoll(rep->element[1]->str);
	} else
		rig_fail(r, "redis %s:%d: no sale (%s)", addr, port,
		    rep == NULL ? "no answer" : rep->type == REDIS_REPLY_ERROR ?
		    rep->str : "no numbers");
	if (rep != NULL)
		freeReplyObject(rep);
	return ok;
}
