/*
 * The rig's Redis: redis-server started and stopped by pid, a test's own
 * connections and commands, the sale (through spikectl init) and the
 * instances' heartbeats.  See rig.h.
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

#define REDIS_IO_TIMEOUT_MS	budget_ms(3000)

/*
 * AUTH on c with the rig's redis_password, when it has one.  Returns
 * false with r->err set when Redis refused it.
 */
static bool
redis_auth(struct rig *r, redisContext *c)
{
	const char	*argv[] = { "AUTH", r->opt.redis_password };
	redisReply	*reply;
	bool		 ok;

	if (r->opt.redis_password == NULL)
		return true;
	reply = redisCommandArgv(c, 2, argv, NULL);
	ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
	if (!ok)
		rig_fail(r, "redis AUTH: %s", reply == NULL ? c->errstr :
		    reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
	if (reply != NULL)
		freeReplyObject(reply);
	return ok;
}

/* Run one command on a fresh connection; the reply or NULL (r->err set). */
static redisReply *
redis_argv(struct rig *r, int argc, const char **argv)
{
	struct timeval	 tv = { REDIS_IO_TIMEOUT_MS / 1000,
	    (suseconds_t)(REDIS_IO_TIMEOUT_MS % 1000) * 1000 };
	redisContext	*c;
	redisReply	*reply;

	c = redisConnectWithTimeout(rig_proc_addr(&r->redis), r->redis.port,
	    tv);
	if (c == NULL || c->err) {
		rig_fail(r, "redis connect %s:%d: %s", rig_proc_addr(&r->redis),
		    r->redis.port, c ? c->errstr : "out of memory");
		redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	if (!redis_auth(r, c)) {
		redisFree(c);
		return NULL;
	}
	reply = redisCommandArgv(c, argc, argv, NULL);
	if (reply == NULL)
		rig_fail(r, "redis %s: %s", argv[0], c->errstr);
	else if (reply->type == REDIS_REPLY_ERROR) {
		rig_fail(r, "redis %s: %s", argv[0], reply->str);
		freeReplyObject(reply);
		reply = NULL;
	}
	redisFree(c);
	return reply;
}

/* A connection to 127.0.0.1:port, as rig_redis_open_at gives it. */
redisContext *
rig_redis_open(int port)
{
	return rig_redis_open_at("127.0.0.1", port);
}

/*
 * A connection to addr:port with 5 s timeouts (scaled by the slowdown
 * factor), as hiredis gave it.
 */
redisContext *
rig_redis_open_at(const char *addr, int port)
{
	unsigned int	 ms = budget_ms(5000);
	struct timeval	 tv = { ms / 1000, (suseconds_t)(ms % 1000) * 1000 };
	redisContext	*c;

	c = redisConnectWithTimeout(addr, port, tv);
	if (c != NULL && c->err == 0)
		redisSetTimeout(c, tv);
	return c;
}

/* A connection to the rig's Redis, or NULL (r->err set). */
redisContext *
rig_redis_connect(struct rig *r)
{
	redisContext	*c = rig_redis_open_at(rig_proc_addr(&r->redis),
	    r->redis.port);

	if (c == NULL || c->err) {
		rig_fail(r, "redis connect: %s", c ? c->errstr : "out of memory");
		redisFree(c);
		return NULL;
	}
	if (!redis_auth(r, c)) {
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

/* Does the rig's Redis answer PING?  A rig_ready_fn. */
static bool
redis_up(struct rig *r, const struct rig_proc *p)
{
	(void)p;
	return rig_redis_ping(r);
}

/* Start redis-server on the rig's port and dir; wait until PING answers. */
bool
rig_redis_start(struct rig *r)
{
	char	*argv[] = { (char *)r->redis_server, r->redis_conf, NULL };
	char	 log[RIG_PATH_MAX + 16];

	snprintf(log, sizeof(log), "%s/redis/redis.log", r->dir);
	if ((r->redis.pid = rig_spawn_on(r, r->redis.host, argv, log,
	    false)) == -1) {
		r->redis.pid = 0;
		return false;
	}
	return rig_wait_ready(r, &r->redis, redis_up, "redis-server",
	    "no PONG", log);
}

/* SIGTERM Redis and wait (SIGKILL after 5 s); true if it exited cleanly. */
bool
rig_redis_stop(struct rig *r)
{
	if (!rig_proc_stop(&r->redis, SIGTERM, RIG_STOP_TIMEOUT_MS))
		return rig_fail(r, "redis-server did not stop on SIGTERM");
	return true;
}

/* SIGKILL Redis, as a crash does, and reap it; rig_redis_start() again. */
bool
rig_redis_kill(struct rig *r)
{
	if (r->redis.pid == 0)
		return rig_fail(r, "redis-server is not running");
	if (!rig_proc_stop(&r->redis, SIGKILL, RIG_STOP_TIMEOUT_MS))
		return rig_fail(r, "redis-server did not die on SIGKILL");
	return true;
}

bool
rig_redis_freeze(struct rig *r)
{
	if (r->redis.pid == 0 || kill(r->redis.pid, SIGSTOP) == -1)
		return rig_fail(r, "cannot SIGSTOP redis-server");
	return true;
}

bool
rig_redis_thaw(struct rig *r)
{
	if (r->redis.pid == 0 || kill(r->redis.pid, SIGCONT) == -1)
		return rig_fail(r, "cannot SIGCONT redis-server");
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
	return rig_spikectl(r, NULL, "init", num, "--force", NULL);
}

/*
 * Put item on sale with total tickets, forgetting an earlier sale of it:
 * spikectl init TOTAL --item ITEM --force, opening at start ("+SECONDS"
 * or ISO 8601 as spikectl(1) takes it) or, when NULL, at once.
 */
bool
rig_item_set(struct rig *r, const char *item, long long total,
    const char *start)
{
	char	 num[32];

	snprintf(num, sizeof(num), "%lld", total);
	if (start == NULL)
		return rig_spikectl(r, NULL, "init", num, "--item", item,
		    "--force", NULL);
	return rig_spikectl(r, NULL, "init", num, "--item", item, "--start",
	    start, "--force", NULL);
}

/* The Redis key of item: RIG_STOCK_KEY for the default, else KEY:item:ITEM. */
const char *
rig_item_key(const char *item, char *buf, size_t bufsz)
{
	if (item == NULL || strcmp(item, RIG_STOCK_KEY) == 0)
		snprintf(buf, bufsz, "%s", RIG_STOCK_KEY);
	else
		snprintf(buf, bufsz, "%s:item:%s", RIG_STOCK_KEY, item);
	return buf;
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
	return rig_item_get(r, NULL, total, sold);
}

/* Read total and sold from item's hash (NULL: the default item). */
bool
rig_item_get(struct rig *r, const char *item, long long *total,
    long long *sold)
{
	char		 key[RIG_ITEM_KEY_MAX];
	const char	*argv[] = { "HMGET", rig_item_key(item, key,
	    sizeof(key)), RIG_TOTAL_FIELD, RIG_SOLD_FIELD };
	redisReply	*reply;
	bool		 ok;

	if ((reply = redis_argv(r, 4, argv)) == NULL)
		return false;
	ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
	    reply_number(reply->element[0], total) &&
	    reply_number(reply->element[1], sold);
	freeReplyObject(reply);
	if (!ok)
		return rig_fail(r, "stock hash %s has no numeric %s/%s",
		    key, RIG_TOTAL_FIELD, RIG_SOLD_FIELD);
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

	snprintf(member, sizeof(member), "%s:%d", rig_proc_addr(&r->inst[i]),
	    r->inst[i].port);
	if ((reply = redis_argv(r, 3, argv)) == NULL)
		return false;
	seen = reply->type == REDIS_REPLY_STRING;
	freeReplyObject(reply);
	return seen;
}

/*
 * Wait until every running instance has a heartbeat in Redis, i.e. has
 * synced with it at least once (spike-fcgi(8), Redis layout: KEY:instances).
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
				return rig_fail(r, "instance %s:%d: no "
				    "heartbeat in %s:instances after %u ms",
				    rig_proc_addr(&r->inst[i]), r->inst[i].port, RIG_STOCK_KEY,
				    timeout_ms);
			rig_sleep_ms(20);
		}
	return true;
}
