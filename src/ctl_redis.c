/*
 * spikectl's Redis side: read the sale, the heartbeats and the orders,
 * and put a sale on.  One connection, hiredis used directly; errors are
 * translated here into SPIKE_EREDIS with the detail in ctl_redis_error().
 * Key names follow the Redis layout of spike-fcgi(8) (KEY is stock_key).
 */
#include "config.h"

#include <sys/time.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "spike.h"

#define CTL_KEY_MAX	(CONF_KEY_MAX + 32)
#define CTL_SCAN_COUNT	"1000"
#define CTL_CLOCK_WAIT_MS	100
#define CTL_AUDIT_TIMEOUT_MS	10000
/*
 * An operator's command may wait longer than a buyer: init sweeps a
 * sale's keys, and on a loaded machine 500 ms (redis_timeout_ms's
 * default) is not always enough.
 */
#define CTL_COMMAND_TIMEOUT_MS	5000

struct ctl_redis {
	const struct conf	*conf;
	redisContext		*ctx;
	struct redis_where	 where;		/* of ctx, or being tried */
	char			 item[CONF_KEY_MAX];	/* the default: stock_key */
	char			 key[ITEM_KEY_MAX];	/* its key, K */
	char			 live_key[CTL_KEY_MAX];
	char			 pending_key[ITEM_KEY_MAX + 16];
	char			 anonymous_key[ITEM_KEY_MAX + 16];
	char			 opened_key[ITEM_KEY_MAX + 16];
	char			 error[CONF_ERR_MAX + 640];
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
	ctl_redis_set_item(cr, conf->stock_key);
	return cr;
}

/*
 * Work on item name from now on (init, sale, audit): its key K and the
 * keys under it.  The default item is named stock_key.  Returns false,
 * changing nothing, when name is not an item name.
 */
bool
ctl_redis_set_item(struct ctl_redis *cr, const char *name)
{
	char	 key[ITEM_KEY_MAX];

	if ((strcmp(name, cr->conf->stock_key) != 0 &&
	    !item_name_valid(name, strlen(name))) ||
	    !item_key(cr->conf, name, key, sizeof(key)))
		return false;
	snprintf(cr->item, sizeof(cr->item), "%s", name);
	memcpy(cr->key, key, sizeof(key));
	snprintf(cr->pending_key, sizeof(cr->pending_key), "%s:pending", key);
	snprintf(cr->anonymous_key, sizeof(cr->anonymous_key), "%s:anonymous",
	    key);
	snprintf(cr->opened_key, sizeof(cr->opened_key), "%s:opened", key);
	return true;
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

/* The Redis reached (with Sentinel: the primary, and who named it). */
const struct redis_where *
ctl_redis_where(const struct ctl_redis *cr)
{
	return &cr->where;
}

/* The address for messages: the primary reached, or spike.conf's. */
static const char *
ctl_addr(const struct ctl_redis *cr)
{
	if (cr->where.addr[0] != '\0')
		return cr->where.addr;
	return cr->conf->nsentinels > 0 ? cr->conf->sentinel_master :
	    cr->conf->redis;
}

/* Note why and drop the link; returns SPIKE_EREDIS. */
static enum spike_err
ctl_fail(struct ctl_redis *cr, const char *what)
{
	if (cr->ctx != NULL && cr->ctx->err != 0)
		snprintf(cr->error, sizeof(cr->error), "redis %s: %s: %s",
		    ctl_addr(cr), what, cr->ctx->errstr);
	else
		snprintf(cr->error, sizeof(cr->error), "redis %s: %s",
		    ctl_addr(cr), what);
	if (cr->ctx != NULL)
		redisFree(cr->ctx);
	cr->ctx = NULL;
	return SPIKE_EREDIS;
}

static enum spike_err
ctl_set_timeout(struct ctl_redis *cr, long ms)
{
	struct timeval	 tv = { ms / 1000, ms % 1000 * 1000 };

	if (redisSetTimeout(cr->ctx, tv) != REDIS_OK)
		return ctl_fail(cr, "set timeout");
	return SPIKE_OK;
}

/* Connect on first use (redis_dial); returns SPIKE_OK or SPIKE_EREDIS. */
static enum spike_err
ctl_connect(struct ctl_redis *cr)
{
	char		 err[CONF_ERR_MAX + 256];

	if (cr->ctx != NULL)
		return SPIKE_OK;
	if ((cr->ctx = redis_dial_where(cr->conf, &cr->where, err,
	    sizeof(err))) == NULL)
		return ctl_fail(cr, err);
	if (cr->conf->redis_timeout_ms < CTL_COMMAND_TIMEOUT_MS)
		return ctl_set_timeout(cr, CTL_COMMAND_TIMEOUT_MS);
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
		    ctl_addr(cr), argv[0], r->str);
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
		    "unexpected answer", ctl_addr(cr));
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
	const char	*argv[] = { "HMGET", cr->key, cr->conf->total_field,
			    cr->conf->sold_field };
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
		    "a number", ctl_addr(cr), argv[0], argv[1]);
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
	    ctl_number(cr, 2, anonymous, &st->anonymous) != SPIKE_OK ||
	    ctl_redis_item_count(cr, &st->items) != SPIKE_OK)
		return SPIKE_EREDIS;
	st->where = cr->where;
	return ctl_beats(cr, st);
}

/* EVAL init.lua with phase and arg for the item (see src/lua/init.lua). */
static redisReply *
ctl_init_eval(struct ctl_redis *cr, const char *phase, const char *arg,
    const struct ctl_init *in)
{
	const struct conf *c = cr->conf;
	char		 retention[24], max_len[16], per_user[24], past[24];
	const char	*argv[] = { "EVAL", lua_init, "5", cr->key,
			    cr->pending_key, c->events_key, cr->anonymous_key,
			    cr->opened_key, c->total_field, c->sold_field,
			    phase, arg, cr->key, retention, max_len, cr->item,
			    c->stock_key, in->start, in->end, per_user, past };

	snprintf(retention, sizeof(retention), "%llu",
	    (unsigned long long)c->order_retention_s * 1000);
	snprintf(max_len, sizeof(max_len), "%u", c->events_max_len);
	if (in->per_user >= 0)
		snprintf(per_user, sizeof(per_user), "%lld", in->per_user);
	else
		per_user[0] = '\0';
	snprintf(past, sizeof(past), "%d", CTL_START_PAST_MS);
	return ctl_command(cr, 21, argv);
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
	char		 cursor[32] = "0", quoted[2 * ITEM_KEY_MAX + 2];
	char		 pattern[sizeof(quoted) + 32];
	const char	*argv[] = { "SCAN", cursor, "MATCH", pattern, "COUNT",
			    CTL_SCAN_COUNT };
	redisReply	*r;
	enum spike_err	 rc;

	glob_quote(quoted, sizeof(quoted), cr->key);
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

/*
 * Read init.lua's "close" answer {status, total, sold, ended, now,
 * start_ms, end_ms}; now, Redis's clock at the close, goes into
 * *closed_ms.
 */
static enum spike_err
ctl_closed(struct ctl_redis *cr, redisReply *r, struct ctl_reset *res,
    long long *closed_ms)
{
	long long	 status = 0;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 7 ||
	    !reply_ll(r->element[0], &status) ||
	    !reply_ll(r->element[3], &res->ended) ||
	    !reply_ll(r->element[4], closed_ms) ||
	    !reply_ll(r->element[5], &res->start_ms) ||
	    !reply_ll(r->element[6], &res->end_ms)) {
		freeReplyObject(r);
		return ctl_fail(cr, "init: unexpected reply");
	}
	sale_from(r->element[1], r->element[2], &res->before);
	res->now_ms = *closed_ms;
	res->status = (int)status;
	res->refused = status != 1;
	freeReplyObject(r);
	return SPIKE_OK;
}

/*
 * Wait until Redis's clock is past ms, so that the sale opens (KEY:opened)
 * in a later millisecond than any order of the sale before it was made:
 * audit tells the two apart by that.  A clock that stands still longer
 * than CTL_CLOCK_WAIT_MS is let be.
 */
static enum spike_err
ctl_clock_past(struct ctl_redis *cr, long long ms)
{
	const struct timespec pause = { 0, 1000000 };
	long long	 now;
	int		 waited;

	for (waited = 0; waited < CTL_CLOCK_WAIT_MS; waited++) {
		if (ctl_time_ms(cr, &now) != SPIKE_OK)
			return SPIKE_EREDIS;
		if (now > ms)
			break;
		nanosleep(&pause, NULL);
	}
	return SPIKE_OK;
}

/*
 * Put the item's sale on as in asks (spikectl init).  Refuses, with
 * res->refused and why in res->status (enum ctl_init_status), when the
 * sale has sold tickets and force is false, or its times make no sale.
 * Otherwise: close the sale and end its pending orders, unlink K:user:*
 * and K:last:*, then open it with the new total and times.
 */
enum spike_err
ctl_redis_init(struct ctl_redis *cr, const struct ctl_init *in,
    struct ctl_reset *res)
{
	struct ctl_init	 opened = *in;
	char		 num[32];
	redisReply	*r;
	long long	 closed_ms = 0;
	enum spike_err	 rc;

	memset(res, 0, sizeof(*res));
	if ((r = ctl_init_eval(cr, "close", in->force ? "force" : "",
	    in)) == NULL)
		return SPIKE_EREDIS;
	if ((rc = ctl_closed(cr, r, res, &closed_ms)) != SPIKE_OK ||
	    res->refused)
		return rc;
	/* A sweep SCANs every key: 10,000 new items would take minutes. */
	if ((!in->new_unswept || res->before.exists) &&
	    ((rc = ctl_sweep(cr, "user", &res->removed)) != SPIKE_OK ||
	    (rc = ctl_sweep(cr, "last", &res->removed)) != SPIKE_OK ||
	    (rc = ctl_clock_past(cr, closed_ms)) != SPIKE_OK))
		return rc;
	/* The times as "close" resolved them, so +S counts from then. */
	snprintf(opened.start, sizeof(opened.start), "%lld", res->start_ms);
	snprintf(opened.end, sizeof(opened.end), "%lld", res->end_ms);
	snprintf(num, sizeof(num), "%lld", in->total);
	if ((r = ctl_init_eval(cr, "open", num, &opened)) == NULL)
		return SPIKE_EREDIS;
	freeReplyObject(r);
	return SPIKE_OK;
}

/* Copy a reply element that is a string or a number into buf. */
static void
reply_text(const redisReply *e, char *buf, size_t bufsz)
{
	if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS)
		snprintf(buf, bufsz, "%s", e->str);
	else if (e->type == REDIS_REPLY_INTEGER)
		snprintf(buf, bufsz, "%lld", e->integer);
	else
		buf[0] = '\0';
}

/* Read one {kind, count, {item...}} of audit.lua into k. */
static bool
audit_kind(const redisReply *e, struct ctl_audit_kind *k)
{
	const redisReply *items;
	size_t		 i;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 3 ||
	    e->element[0]->type != REDIS_REPLY_STRING ||
	    !reply_ll(e->element[1], &k->count) ||
	    e->element[2]->type != REDIS_REPLY_ARRAY)
		return false;
	snprintf(k->name, sizeof(k->name), "%s", e->element[0]->str);
	items = e->element[2];
	for (k->nitems = 0, i = 0; i < items->elements &&
	    k->nitems < CTL_AUDIT_LISTED; i++)
		reply_text(items->element[i], k->items[k->nitems++],
		    sizeof(k->items[0]));
	return true;
}

/* Read audit.lua's answer (see its header) into a. */
static bool
audit_from(const redisReply *r, struct ctl_audit *a)
{
	long long	*counts[] = { &a->pending, &a->paid, &a->expired,
			    &a->anonymous, &a->orders, &a->earlier,
			    &a->events };
	long long	 exists = 0;
	size_t		 i, first = 5 + sizeof(counts) / sizeof(counts[0]);

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    !reply_ll(r->element[0], &exists) ||
	    !reply_ll(r->element[1], &a->now_ms))
		return false;
	a->exists = exists == 1;
	if (!a->exists)
		return true;
	if (r->elements < first || r->elements - first > CTL_AUDIT_KINDS ||
	    !reply_ll(r->element[2], &a->opened_ms))
		return false;
	reply_text(r->element[3], a->total_raw, sizeof(a->total_raw));
	reply_text(r->element[4], a->sold_raw, sizeof(a->sold_raw));
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (!reply_ll(r->element[5 + i], counts[i]))
			return false;
	for (a->nkinds = 0, i = first; i < r->elements; i++) {
		if (!audit_kind(r->element[i], &a->kinds[a->nkinds]))
			return false;
		a->violations += a->kinds[a->nkinds++].count;
	}
	return true;
}

/*
 * Check the sale's books with audit.lua, one read-only script, so they
 * are read at one instant even mid-sale.  It takes longer than any other
 * call (100 ms and more for 10,000 orders), so it waits
 * CTL_AUDIT_TIMEOUT_MS when redis_timeout_ms is shorter.  Returns
 * SPIKE_OK with the findings in *a (a->exists false without a stock
 * hash), SPIKE_EREDIS when Redis cannot be read.
 */
enum spike_err
ctl_redis_audit(struct ctl_redis *cr, long long grace_ms, struct ctl_audit *a)
{
	const struct conf *c = cr->conf;
	char		 limit[16], grace[32], listed[16], max_len[16];
	char		 quoted[2 * ITEM_KEY_MAX + 2];
	char		 orders[sizeof(quoted) + 16], users[sizeof(quoted) + 16];
	const char	*is_default = strcmp(cr->item, c->stock_key) == 0 ?
			    "1" : "0";
	const char	*argv[] = { "EVAL", lua_audit, "5", cr->key,
			    c->events_key, cr->pending_key, cr->anonymous_key,
			    cr->opened_key, c->total_field, c->sold_field,
			    cr->key, limit, grace, listed, orders, users,
			    max_len, cr->item, is_default };
	redisReply	*r;
	double		 start;
	bool		 ok;

	memset(a, 0, sizeof(*a));
	snprintf(a->item, sizeof(a->item), "%s", cr->item);
	a->grace_ms = grace_ms;
	snprintf(limit, sizeof(limit), "%u", c->per_user_limit);
	snprintf(grace, sizeof(grace), "%lld", grace_ms);
	snprintf(listed, sizeof(listed), "%d", CTL_AUDIT_LISTED);
	snprintf(max_len, sizeof(max_len), "%u", c->events_max_len);
	glob_quote(quoted, sizeof(quoted), cr->key);
	snprintf(orders, sizeof(orders), "%s:order:*", quoted);
	snprintf(users, sizeof(users), "%s:user:*", quoted);
	if (ctl_connect(cr) != SPIKE_OK)
		return SPIKE_EREDIS;
	if (c->redis_timeout_ms < CTL_AUDIT_TIMEOUT_MS &&
	    ctl_set_timeout(cr, CTL_AUDIT_TIMEOUT_MS) != SPIKE_OK)
		return SPIKE_EREDIS;
	start = (double)now_us();
	if ((r = ctl_command(cr, 19, argv)) == NULL)
		return SPIKE_EREDIS;
	a->took_ms = ((double)now_us() - start) / 1000.0;
	ok = audit_from(r, a);
	freeReplyObject(r);
	if (!ok)
		return ctl_fail(cr, "audit: unexpected reply");
	return SPIKE_OK;
}

/* The number of items in the registry D:items (spikectl status). */
enum spike_err
ctl_redis_item_count(struct ctl_redis *cr, long long *n)
{
	char		 key[CTL_KEY_MAX];
	const char	*argv[] = { "ZCARD", key };

	snprintf(key, sizeof(key), "%s:items", cr->conf->stock_key);
	return ctl_number(cr, 2, argv, n);
}

/*
 * Pause (paused true) or resume the item name, or every item when name
 * is NULL, with pause.lua.  *changed: how many items changed, -1 when
 * the item named is not on sale.
 */
enum spike_err
ctl_redis_pause(struct ctl_redis *cr, const char *name, bool paused,
    long long *changed)
{
	const struct conf *c = cr->conf;
	const char	*argv[] = { "EVAL", lua_pause, "0", c->stock_key,
			    paused ? "1" : "0", name != NULL ? name : "",
			    c->total_field };

	return ctl_number(cr, 7, argv, changed);
}

/* A field of items.lua's answer as a number; false when missing. */
static bool
item_field(const redisReply *e, long long *v)
{
	return e->type != REDIS_REPLY_NIL && reply_ll(e, v);
}

/* Read one {name, total, sold, start_ms, end_ms, paused, per_user}. */
static bool
item_from(const redisReply *e, struct ctl_item *it)
{
	long long	 paused = 0;

	memset(it, 0, sizeof(*it));
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 7 ||
	    e->element[0]->type != REDIS_REPLY_STRING)
		return false;
	snprintf(it->name, sizeof(it->name), "%s", e->element[0]->str);
	it->total_ok = item_field(e->element[1], &it->total);
	it->sold_ok = item_field(e->element[2], &it->sold);
	item_field(e->element[3], &it->start_ms);
	item_field(e->element[4], &it->end_ms);
	item_field(e->element[5], &paused);
	it->paused = paused == 1;
	if (!item_field(e->element[6], &it->per_user))
		it->per_user = -1;
	return true;
}

/*
 * Every item on sale, read at one instant by items.lua: a new array
 * in *items (free it) of *n, and Redis's clock then in *now_ms.
 */
enum spike_err
ctl_redis_items(struct ctl_redis *cr, struct ctl_item **items, size_t *n,
    long long *now_ms)
{
	const struct conf *c = cr->conf;
	const char	*argv[] = { "EVAL", lua_items, "0", c->stock_key,
			    c->total_field, c->sold_field };
	redisReply	*r;
	size_t		 i;

	*items = NULL;
	*n = 0;
	if ((r = ctl_command(cr, 6, argv)) == NULL)
		return SPIKE_EREDIS;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    !reply_ll(r->element[0], now_ms)) {
		freeReplyObject(r);
		return ctl_fail(cr, "items: unexpected reply");
	}
	if (r->elements > 1 &&
	    (*items = calloc(r->elements - 1, sizeof(**items))) == NULL) {
		freeReplyObject(r);
		return SPIKE_ENOMEM;
	}
	for (i = 1; i < r->elements; i++)
		if (item_from(r->element[i], &(*items)[*n]))
			(*n)++;
	freeReplyObject(r);
	return SPIKE_OK;
}
