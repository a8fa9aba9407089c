/*
 * spikectl's Redis side: read the sale, the heartbeats and the orders,
 * and put a sale on.  One connection, hiredis used directly; errors are
 * translated here into SPIKE_EREDIS with the detail in ctl_redis_error().
 * Key names follow the Redis layout of spike-fcgi(8) (KEY is stock_key).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "spike.h"

#define CTL_KEY_MAX	(CONF_KEY_MAX + 32)
#define CTL_SCAN_COUNT	"1000"

struct ctl_redis {
	const struct conf	*conf;
	redisContext		*ctx;
	char			 live_key[CTL_KEY_MAX];
	char			 pending_key[CTL_KEY_MAX];
	char			 anonymous_key[CTL_KEY_MAX];
	char			 error[256];
};

struct ctl_redis *
ctl_redis_new(const struct conf *conf)
{
	struct ctl_redis	*cr;

	if ((cr = calloc(1, sizeof(*cr))) == NULL)
		return NULL;
	cr->conf = conf;
	snprintf(cr->live_key, sizeof(cr->live_key), "%s:instances",
	    conf->stock_key);
	snprintf(cr->pending_key, sizeof(cr->pending_key), "%s:pending",
	    conf->stock_key);
	snprintf(cr->anonymous_key, sizeof(cr->anonymous_key), "%s:anonymous",
	    conf->stock_key);
	return cr;
}

void
ctl_redis_free(struct ctl_redis *cr)
{
	if (cr == NULL)
		return;
	if (cr->ctx != NULL)
		redisFree(cr->ctx);
	free(cr);
}

const char *
ctl_redis_error(const struct ctl_redis *cr)
{
	return cr->error;
}

/* Note why and drop the link; returns SPIKE_EREDIS. */
static enum spike_err
ctl_fail(struct ctl_redis *cr, const char *what)
{
	if (cr->ctx != NULL && cr->ctx->err != 0)
		snprintf(cr->error, sizeof(cr->error), "redis %s: %s: %s",
		    cr->conf->redis, what, cr->ctx->errstr);
	else
		snprintf(cr->error, sizeof(cr->error), "redis %s: %s",
		    cr->conf->redis, what);
	if (cr->ctx != NULL)
		redisFree(cr->ctx);
	cr->ctx = NULL;
	return SPIKE_EREDIS;
}

/* Connect on first use (redis_dial); returns SPIKE_OK or SPIKE_EREDIS. */
static enum spike_err
ctl_connect(struct ctl_redis *cr)
{
	char		 err[sizeof(cr->error)];

	if (cr->ctx != NULL)
		return SPIKE_OK;
	if ((cr->ctx = redis_dial(cr->conf, err, sizeof(err))) == NULL)
		return ctl_fail(cr, err);
	return SPIKE_OK;
}

/*
 * Run one command; returns its reply, or NULL with the error noted (a
 * Redis error reply is an error too).
 */
static redisReply *
ctl_command(struct ctl_redis *cr, int argc, const char **argv)
{
	redisReply	*r;

	if (ctl_connect(cr) != SPIKE_OK)
		return NULL;
	if ((r = redisCommandArgv(cr->ctx, argc, argv, NULL)) == NULL) {
		ctl_fail(cr, argv[0]);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(cr->error, sizeof(cr->error), "redis %s: %s: %s",
		    cr->conf->redis, argv[0], r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* Parse a whole decimal, optionally negative; false when s is not one. */
static bool
parse_ll(const char *s, long long *out)
{
	char	*end;

	if (s == NULL || (*s != '-' && (*s < '0' || *s > '9')))
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0';
}

/* Read a reply element as a whole number: integer, or string holding one. */
static bool
reply_ll(const redisReply *e, long long *out)
{
	if (e->type == REDIS_REPLY_INTEGER) {
		*out = e->integer;
		return true;
	}
	return e->type == REDIS_REPLY_STRING && parse_ll(e->str, out);
}

/* Fill one field of a sale from an HMGET element. */
static void
sale_field(const redisReply *e, bool *ok, long long *v, char *raw,
    bool *exists)
{
	*ok = false;
	raw[0] = '\0';
	if (e->type == REDIS_REPLY_NIL)
		return;
	*exists = true;
	if (e->type == REDIS_REPLY_STRING)
		snprintf(raw, CTL_RAW_MAX, "%s", e->str);
	else if (e->type == REDIS_REPLY_INTEGER)
		snprintf(raw, CTL_RAW_MAX, "%lld", e->integer);
	*ok = reply_ll(e, v);
}

/* Turn the two values of HMGET total sold into a struct ctl_sale. */
static void
sale_from(const redisReply *total, const redisReply *sold,
    struct ctl_sale *sale)
{
	memset(sale, 0, sizeof(*sale));
	sale_field(total, &sale->total_ok, &sale->total, sale->total_raw,
	    &sale->exists);
	sale_field(sold, &sale->sold_ok, &sale->sold, sale->sold_raw,
	    &sale->exists);
}

/* PING; returns SPIKE_OK when Redis answers PONG. */
enum spike_err
ctl_redis_ping(struct ctl_redis *cr)
{
	const char	*argv[] = { "PING" };
	redisReply	*r;
	bool		 pong;

	if ((r = ctl_command(cr, 1, argv)) == NULL)
		return SPIKE_EREDIS;
	pong = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
	freeReplyObject(r);
	if (!pong) {
		snprintf(cr->error, sizeof(cr->error), "redis %s: PING: "
		    "unexpected answer", cr->conf->redis);
		return SPIKE_EREDIS;
	}
	return SPIKE_OK;
}

/* The value of name in a CONFIG GET reply (name, value, ...), or "". */
static const char *
ctl_config_value(const redisReply *r, const char *name)
{
	size_t	 i;

	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	    i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[i]->str, name) == 0)
			return r->element[i + 1]->str;
	return "";
}

/* With fsync: what spike-fcgi refuses to sell without (store.c). */
static void
ctl_fsync_missing(const redisReply *r, char *why, size_t whysz)
{
	const char	*on = ctl_config_value(r, "appendonly");
	const char	*fsync = ctl_config_value(r, "appendfsync");

	if (strcmp(on, "yes") != 0)
		snprintf(why, whysz, "durability fsync: redis has appendonly "
		    "%s: the instances refuse to sell", on);
	else if (strcmp(fsync, "always") != 0)
		snprintf(why, whysz, "durability fsync: redis has appendfsync "
		    "%s: the instances refuse to sell", fsync);
}

/* With replicas: too few of them, or a primary that writes alone. */
static void
ctl_replicas_missing(struct ctl_redis *cr, const redisReply *r, char *why,
    size_t whysz)
{
	const char	*argv[] = { "INFO", "replication" };
	const char	*at;
	redisReply	*info;
	long long	 have = 0;

	if ((info = ctl_command(cr, 2, argv)) != NULL &&
	    info->type == REDIS_REPLY_STRING &&
	    (at = strstr(info->str, "connected_slaves:")) != NULL)
		have = strtoll(at + strlen("connected_slaves:"), NULL, 10);
	if (info != NULL)
		freeReplyObject(info);
	if (have < cr->conf->durability_replicas)
		snprintf(why, whysz, "durability replicas: redis has %lld "
		    "replicas of the %u needed: purchases are answered 503",
		    have, cr->conf->durability_replicas);
	else if (strcmp(ctl_config_value(r, "min-replicas-to-write"),
	    "0") == 0)
		snprintf(why, whysz, "durability replicas: redis has "
		    "min-replicas-to-write 0: alone, it still takes sales "
		    "no buyer is told of (spike.conf(5), HIGH AVAILABILITY)");
}

/*
 * What durability in spike.conf needs of Redis and does not find, as a
 * warning in why ("" when nothing is missing).  Returns SPIKE_OK, or
 * SPIKE_EREDIS when Redis could not be asked (CONFIG refused, say).
 */
enum spike_err
ctl_redis_durability(struct ctl_redis *cr, char *why, size_t whysz)
{
	const char	*argv[] = { "CONFIG", "GET", "*" };
	redisReply	*r;

	why[0] = '\0';
	if (cr->conf->durability == CONF_DURABILITY_NONE)
		return SPIKE_OK;
	if ((r = ctl_command(cr, 3, argv)) == NULL)
		return SPIKE_EREDIS;
	if (cr->conf->durability == CONF_DURABILITY_FSYNC)
		ctl_fsync_missing(r, why, whysz);
	else
		ctl_replicas_missing(cr, r, why, whysz);
	freeReplyObject(r);
	return SPIKE_OK;
}

/* Read the stock hash; a missing hash is SPIKE_OK with exists false. */
enum spike_err
ctl_redis_sale(struct ctl_redis *cr, struct ctl_sale *sale)
{
	const char	*argv[] = { "HMGET", cr->conf->stock_key,
			    cr->conf->total_field, cr->conf->sold_field };
	redisReply	*r;

	if ((r = ctl_command(cr, 4, argv)) == NULL)
		return SPIKE_EREDIS;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		freeReplyObject(r);
		return ctl_fail(cr, "HMGET: unexpected reply");
	}
	sale_from(r->element[0], r->element[1], sale);
	freeReplyObject(r);
	return SPIKE_OK;
}

/* Run a command expected to answer a whole number (nil counts as 0). */
static enum spike_err
ctl_number(struct ctl_redis *cr, int argc, const char **argv, long long *out)
{
	redisReply	*r;
	bool		 ok;

	if ((r = ctl_command(cr, argc, argv)) == NULL)
		return SPIKE_EREDIS;
	*out = 0;
	ok = r->type == REDIS_REPLY_NIL || reply_ll(r, out);
	freeReplyObject(r);
	if (!ok) {
		snprintf(cr->error, sizeof(cr->error), "redis %s: %s %s: not "
		    "a number", cr->conf->redis, argv[0], argv[1]);
		return SPIKE_EREDIS;
	}
	return SPIKE_OK;
}

/* Redis' own clock in unix milliseconds, as the instances' heartbeats. */
static enum spike_err
ctl_time_ms(struct ctl_redis *cr, long long *now)
{
	const char	*argv[] = { "TIME" };
	redisReply	*r;
	long long	 s = 0, us = 0;
	bool		 ok;

	if ((r = ctl_command(cr, 1, argv)) == NULL)
		return SPIKE_EREDIS;
	ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    reply_ll(r->element[0], &s) && reply_ll(r->element[1], &us);
	freeReplyObject(r);
	if (!ok)
		return ctl_fail(cr, "TIME: unexpected reply");
	*now = s * 1000 + us / 1000;
	return SPIKE_OK;
}

/* The newest heartbeats of KEY:instances, with their age. */
static enum spike_err
ctl_beats(struct ctl_redis *cr, struct ctl_status *st)
{
	char		 last[16];
	const char	*argv[] = { "ZREVRANGE", cr->live_key, "0", last,
			    "WITHSCORES" };
	redisReply	*r, *m;
	long long	 now = 0, score;
	size_t		 i;

	snprintf(last, sizeof(last), "%d", CTL_BEATS_MAX - 1);
	if ((r = ctl_command(cr, 5, argv)) == NULL)
		return SPIKE_EREDIS;
	/* Read the clock after the beats, so that none is newer than it. */
	if (ctl_time_ms(cr, &now) != SPIKE_OK) {
		freeReplyObject(r);
		return SPIKE_EREDIS;
	}
	st->nbeats = 0;
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	    i += 2) {
		m = r->element[i];
		if (m->type != REDIS_REPLY_STRING ||
		    !reply_ll(r->element[i + 1], &score))
			continue;
		snprintf(st->beats[st->nbeats].addr,
		    sizeof(st->beats[st->nbeats].addr), "%s", m->str);
		st->beats[st->nbeats++].age_ms = now - score;
	}
	freeReplyObject(r);
	return SPIKE_OK;
}

/* Everything spikectl status shows. */
enum spike_err
ctl_redis_status(struct ctl_redis *cr, struct ctl_status *st)
{
	const char	*pending[] = { "ZCARD", cr->pending_key };
	const char	*anonymous[] = { "GET", cr->anonymous_key };

	memset(st, 0, sizeof(*st));
	if (ctl_redis_sale(cr, &st->sale) != SPIKE_OK ||
	    ctl_number(cr, 2, pending, &st->pending) != SPIKE_OK ||
	    ctl_number(cr, 2, anonymous, &st->anonymous) != SPIKE_OK)
		return SPIKE_EREDIS;
	return ctl_beats(cr, st);
}

/* EVAL init.lua with phase and arg (see src/lua/init.lua). */
static redisReply *
ctl_init_eval(struct ctl_redis *cr, const char *phase, const char *arg)
{
	const struct conf *c = cr->conf;
	const char	*argv[] = { "EVAL", lua_init, "4", c->stock_key,
			    cr->pending_key, c->events_key, cr->anonymous_key,
			    c->total_field, c->sold_field, phase, arg,
			    c->stock_key };

	return ctl_command(cr, 12, argv);
}

/* Copy a glob pattern's literal prefix, escaping glob characters. */
static void
glob_quote(char *dst, size_t dstsz, const char *src)
{
	size_t	 o = 0;

	for (; *src != '\0' && o + 3 < dstsz; src++) {
		if (strchr("*?[]\\", *src) != NULL)
			dst[o++] = '\\';
		dst[o++] = *src;
	}
	dst[o] = '\0';
}

/* UNLINK the string keys of a SCAN reply's key array; counts them. */
static enum spike_err
ctl_unlink(struct ctl_redis *cr, const redisReply *keys, long long *removed)
{
	const char	**argv;
	redisReply	*r;
	size_t		 i, n = 1;

	if (keys->elements == 0)
		return SPIKE_OK;
	if ((argv = calloc(keys->elements + 1, sizeof(*argv))) == NULL)
		return SPIKE_ENOMEM;
	argv[0] = "UNLINK";
	for (i = 0; i < keys->elements; i++)
		if (keys->element[i]->type == REDIS_REPLY_STRING)
			argv[n++] = keys->element[i]->str;
	r = n > 1 ? ctl_command(cr, (int)n, argv) : NULL;
	free(argv);
	if (n > 1 && r == NULL)
		return SPIKE_EREDIS;
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		*removed += r->integer;
	if (r != NULL)
		freeReplyObject(r);
	return SPIKE_OK;
}

/*
 * Remove every key KEY:<part>:* with SCAN and UNLINK, a batch at a time,
 * so Redis never blocks on one big call.
 */
static enum spike_err
ctl_sweep(struct ctl_redis *cr, const char *part, long long *removed)
{
	char		 cursor[32] = "0", quoted[2 * CONF_KEY_MAX + 2];
	char		 pattern[sizeof(quoted) + 32];
	const char	*argv[] = { "SCAN", cursor, "MATCH", pattern, "COUNT",
			    CTL_SCAN_COUNT };
	redisReply	*r;
	enum spike_err	 rc;

	glob_quote(quoted, sizeof(quoted), cr->conf->stock_key);
	snprintf(pattern, sizeof(pattern), "%s:%s:*", quoted, part);
	do {
		if ((r = ctl_command(cr, 6, argv)) == NULL)
			return SPIKE_EREDIS;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			return ctl_fail(cr, "SCAN: unexpected reply");
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		rc = ctl_unlink(cr, r->element[1], removed);
		freeReplyObject(r);
		if (rc != SPIKE_OK)
			return rc;
	} while (strcmp(cursor, "0") != 0);
	return SPIKE_OK;
}

/* Read init.lua's "close" answer {status, total, sold, ended}. */
static enum spike_err
ctl_closed(struct ctl_redis *cr, redisReply *r, struct ctl_reset *res)
{
	long long	 status = 0;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
	    !reply_ll(r->element[0], &status) ||
	    !reply_ll(r->element[3], &res->ended)) {
		freeReplyObject(r);
		return ctl_fail(cr, "init: unexpected reply");
	}
	sale_from(r->element[1], r->element[2], &res->before);
	res->refused = status == 0;
	freeReplyObject(r);
	return SPIKE_OK;
}

/*
 * Put a sale of total tickets on (spikectl init).  Refuses, with
 * res->refused, when the sale has sold tickets and force is false.
 * Otherwise: close the sale and end its pending orders, unlink
 * KEY:user:* and KEY:last:*, then open it with the new total.
 */
enum spike_err
ctl_redis_init(struct ctl_redis *cr, long long total, bool force,
    struct ctl_reset *res)
{
	char		 num[32];
	redisReply	*r;
	enum spike_err	 rc;

	memset(res, 0, sizeof(*res));
	if ((r = ctl_init_eval(cr, "close", force ? "force" : "")) == NULL)
		return SPIKE_EREDIS;
	if ((rc = ctl_closed(cr, r, res)) != SPIKE_OK || res->refused)
		return rc;
	if ((rc = ctl_sweep(cr, "user", &res->removed)) != SPIKE_OK ||
	    (rc = ctl_sweep(cr, "last", &res->removed)) != SPIKE_OK)
		return rc;
	snprintf(num, sizeof(num), "%lld", total);
	if ((r = ctl_init_eval(cr, "open", num)) == NULL)
		return SPIKE_EREDIS;
	freeReplyObject(r);
	return SPIKE_OK;
}
