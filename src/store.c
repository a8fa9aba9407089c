/*
 * Redis, the one true count.  One struct store per thread (a hiredis
 * context is not thread-safe).  hiredis errors are translated here, once,
 * into SPIKE_EREDIS with the detail in store_error().
 *
 * The scripts are loaded with SCRIPT LOAD on every new connection and
 * called with EVALSHA; after a Redis restart or SCRIPT FLUSH, EVALSHA
 * answers NOSCRIPT and the script is loaded again (Redis docs, "Scripting
 * with Lua": script cache semantics).
 *
 * The durability policy is kept here too: with fsync, every new link and
 * every sync first checks that Redis fsyncs its AOF before it replies;
 * with replicas, the scripts a buyer is told the outcome of are followed
 * by WAIT on the same link, in the same round trip (Redis docs, WAIT).
 */
#include "config.h"

#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "spike.h"

#define STORE_REQUEST_TTL_S	60	/* or order_retention_s if shorter */
#define STORE_EXPIRE_BATCH	"200"
#define STORE_SHA_LEN		40
#define STORE_BUY_REPLY		4	/* elements per purchase: buy.lua */
#define STORE_REQ_INFIX		":req:"

#define STORE_ORDER_ID_BYTES	16	/* 128 random bits, 32 hex digits */
#define STORE_RANDOM_POOL	4096	/* bytes taken from getrandom at once */

/*
 * ITEMKEY:req:USER:ID with the longest item key, user and request id, and
 * its NUL.  The user is in it so that a request id reused by another
 * user (a FastCGI client may send any REQUEST_ID) is another purchase.
 */
#define STORE_REQ_KEY_MAX	((ITEM_KEY_MAX - 1) + \
				    (sizeof(STORE_REQ_INFIX) - 1) + \
				    QUERY_USER_MAX + 1 + STORE_REQUEST_ID_MAX)

_Static_assert(2 * STORE_ORDER_ID_BYTES < STORE_ORDER_ID_MAX,
    "an order id's hex digits must fit in struct store_order");
_Static_assert(2 * STORE_ORDER_ID_BYTES <= QUERY_ORDER_MAX,
    "the order parameter must take the ids made here");

static const char *const script_text[STORE_SCRIPTS] = {
	[STORE_SCRIPT_BUY] = lua_buy,
	[STORE_SCRIPT_EXPIRE] = lua_expire,
	[STORE_SCRIPT_ORDER] = lua_order,
	[STORE_SCRIPT_PAY] = lua_pay,
	[STORE_SCRIPT_SYNC] = lua_sync,
};

static const char *const script_name[STORE_SCRIPTS] = {
	[STORE_SCRIPT_BUY] = "buy",
	[STORE_SCRIPT_EXPIRE] = "expire",
	[STORE_SCRIPT_ORDER] = "order",
	[STORE_SCRIPT_PAY] = "pay",
	[STORE_SCRIPT_SYNC] = "sync",
};

struct store {
	const struct conf	*conf;
	redisContext		*ctx;
	struct redis_where	 where;		/* of ctx */
	bool			 fresh;	/* connected since the last command */
	bool			 was_up;	/* connected at least once */
	char			 self_id[CONF_ADDR_MAX];
	char			 stock_key[CONF_KEY_MAX];
	char			 live_key[CONF_KEY_MAX + 16];
	char			 pending_key[CONF_KEY_MAX + 16];
	char			 changes_key[CONF_KEY_MAX + 16];
	char			 registry_key[CONF_KEY_MAX + 16]; /* :items */
	char			 seq_key[CONF_KEY_MAX + 16];	/* KEY:seq */
	char			 due_key[CONF_KEY_MAX + 16];	/* KEY:due */
	char			 pay_timeout_ms[16];
	char			 per_user_limit[16];
	char			 request_ttl_s[16];
	char			 retention_ms[24];	/* order_retention_s */
	char			 last_ttl_s[24];	/* KEY:last:USER's */
	char			 events_max_len[16];
	char			 sha[STORE_SCRIPTS][STORE_SHA_LEN + 1];
	char			 nkeys[8];
	char			 req_keys[STORE_BATCH_MAX][STORE_REQ_KEY_MAX];
	char			 order_ids[STORE_BATCH_MAX][STORE_ORDER_ID_MAX];
	unsigned char		 pool[STORE_RANDOM_POOL];	/* unused bytes */
	size_t			 pool_left;	/* at its end */
	long long		 acked;	/* replicas the last WAIT counted */
	char			 wait_ms[16];
	char			 wait_replicas[16];
	char			 error[512];	/* sentinel errors name each one */
};

struct store *
store_new(const struct conf *conf, const char *self_id)
{
	struct store	*st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	st->conf = conf;
	snprintf(st->self_id, sizeof(st->self_id), "%s", self_id);
	snprintf(st->stock_key, sizeof(st->stock_key), "%s", conf->stock_key);
	snprintf(st->live_key, sizeof(st->live_key), "%s:instances",
	    conf->stock_key);
	snprintf(st->pending_key, sizeof(st->pending_key), "%s:pending",
	    conf->stock_key);
	snprintf(st->changes_key, sizeof(st->changes_key), "%s:changes",
	    conf->stock_key);
	snprintf(st->registry_key, sizeof(st->registry_key), "%s:items",
	    conf->stock_key);
	snprintf(st->seq_key, sizeof(st->seq_key), "%s:seq", conf->stock_key);
	snprintf(st->due_key, sizeof(st->due_key), "%s:due", conf->stock_key);
	snprintf(st->pay_timeout_ms, sizeof(st->pay_timeout_ms), "%llu",
	    (unsigned long long)conf->pay_timeout_s * 1000);
	snprintf(st->per_user_limit, sizeof(st->per_user_limit), "%u",
	    conf->per_user_limit);
	snprintf(st->request_ttl_s, sizeof(st->request_ttl_s), "%u",
	    conf->order_retention_s < STORE_REQUEST_TTL_S ?
	    conf->order_retention_s : STORE_REQUEST_TTL_S);
	snprintf(st->retention_ms, sizeof(st->retention_ms), "%llu",
	    (unsigned long long)conf->order_retention_s * 1000);
	snprintf(st->last_ttl_s, sizeof(st->last_ttl_s), "%llu",
	    (unsigned long long)conf->pay_timeout_s + conf->order_retention_s);
	snprintf(st->events_max_len, sizeof(st->events_max_len), "%u",
	    conf->events_max_len);
	snprintf(st->wait_replicas, sizeof(st->wait_replicas), "%u",
	    conf->durability_replicas);
	snprintf(st->wait_ms, sizeof(st->wait_ms), "%u",
	    conf->durability_timeout_ms);
	return st;
}

static void
store_disconnect(struct store *st)
{
	if (st->ctx != NULL)
		redisFree(st->ctx);
	st->ctx = NULL;
}

void
store_free(struct store *st)
{
	if (st == NULL)
		return;
	store_disconnect(st);
	free(st);
}

const char *
store_error(const struct store *st)
{
	return st->error;
}

/* The primary this store last connected to, and through which Sentinel. */
const struct redis_where *
store_where(const struct store *st)
{
	return &st->where;
}

/* The script's name, as src/lua/ names its file. */
const char *
store_script_name(enum store_script script)
{
	return script_name[script];
}

/* Note why the link failed and drop it; returns SPIKE_EREDIS. */
static enum spike_err
store_fail(struct store *st, const char *what)
{
	if (st->ctx != NULL && st->ctx->err != 0)
		snprintf(st->error, sizeof(st->error), "%s: %s", what,
		    st->ctx->errstr);
	else
		snprintf(st->error, sizeof(st->error), "%s", what);
	store_disconnect(st);
	metrics_redis_error();
	return SPIKE_EREDIS;
}

/* SCRIPT LOAD text into sha; returns SPIKE_OK or SPIKE_EREDIS. */
static enum spike_err
store_load(struct store *st, const char *text, char *sha)
{
	redisReply	*r;
	enum spike_err	 rc = SPIKE_OK;

	if ((r = redisCommand(st->ctx, "SCRIPT LOAD %s", text)) == NULL)
		return store_fail(st, "SCRIPT LOAD");
	if (r->type == REDIS_REPLY_STRING && r->len == STORE_SHA_LEN)
		memcpy(sha, r->str, STORE_SHA_LEN + 1);
	else {
		snprintf(st->error, sizeof(st->error), "SCRIPT LOAD: %s",
		    r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
		metrics_redis_error();
		if (r->type == REDIS_REPLY_ERROR &&
		    redis_dial_error_is_unavailable(r->str))
			store_disconnect(st);
		rc = SPIKE_EREDIS;
	}
	freeReplyObject(r);
	return rc;
}

/* The value of name in a CONFIG GET reply (name, value, ...), or NULL. */
static const char *
config_value(const redisReply *r, const char *name)
{
	size_t	 i;

	for (i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[i]->str, name) == 0)
			return r->element[i + 1]->str;
	return NULL;
}

/*
 * With durability = fsync, does Redis fsync its AOF before it replies
 * (appendonly yes, appendfsync always: Redis docs, "Persistence")?
 * Returns SPIKE_OK, or SPIKE_EREDIS with the link dropped and what is
 * wrong in st->error, so that the instance sells nothing until a later
 * check passes.
 */
static enum spike_err
store_check_fsync(struct store *st)
{
	char		 why[sizeof(st->error)];
	const char	*on, *fsync;
	redisReply	*r;

	if (st->conf->durability != CONF_DURABILITY_FSYNC)
		return SPIKE_OK;
	if ((r = redisCommand(st->ctx, "CONFIG GET append*")) == NULL)
		return store_fail(st, "CONFIG GET");
	if (r->type != REDIS_REPLY_ARRAY)
		snprintf(why, sizeof(why), "durability fsync: CONFIG GET "
		    "refused: %s", r->type == REDIS_REPLY_ERROR ? r->str :
		    "unexpected reply");
	else if ((on = config_value(r, "appendonly")) == NULL ||
	    strcmp(on, "yes") != 0)
		snprintf(why, sizeof(why), "durability fsync: redis has "
		    "appendonly %s", on != NULL ? on : "unset");
	else if ((fsync = config_value(r, "appendfsync")) == NULL ||
	    strcmp(fsync, "always") != 0)
		snprintf(why, sizeof(why), "durability fsync: redis has "
		    "appendfsync %s", fsync != NULL ? fsync : "unset");
	else
		why[0] = '\0';
	freeReplyObject(r);
	if (why[0] == '\0')
		return SPIKE_OK;
	return store_fail(st, why);
}

/*
 * Make sure the link is up, to the primary of the moment (a link made
 * before the primary moved is made again), with the durability policy
 * met and the scripts loaded.
 */
static enum spike_err
store_connect(struct store *st)
{
	char		 err[sizeof(st->error)];
	int		 i;

	if (st->ctx != NULL &&
	    st->where.generation != redis_dial_generation())
		store_disconnect(st);
	if (st->ctx != NULL)
		return SPIKE_OK;
	if ((st->ctx = redis_dial_where(st->conf, &st->where, err,
	    sizeof(err))) == NULL)
		return store_fail(st, err);
	if (store_check_fsync(st) != SPIKE_OK)
		return SPIKE_EREDIS;
	for (i = 0; i < STORE_SCRIPTS; i++)
		if (store_load(st, script_text[i], st->sha[i]) != SPIKE_OK) {
			store_disconnect(st);
			return SPIKE_EREDIS;
		}
	st->fresh = true;
	if (st->was_up)
		metrics_redis_reconnect();
	st->was_up = true;
	return SPIKE_OK;
}

static bool
is_noscript(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/*
 * Is script followed by WAIT?  Only with durability = replicas, and only
 * the scripts whose outcome a buyer is told: buy and pay.
 */
static bool
store_waits(const struct store *st, enum store_script script)
{
	return st->conf->durability == CONF_DURABILITY_REPLICAS &&
	    (script == STORE_SCRIPT_BUY || script == STORE_SCRIPT_PAY);
}

/*
 * Queue the call, and WAIT after it when waits, so that both go in one
 * round trip.  WAIT counts the replicas that have every write this link
 * made so far; it cannot run inside the script (Redis docs, WAIT).
 */
static bool
store_send(struct store *st, bool waits, int argc, const char **argv)
{
	const char	*wait[] = { "WAIT", st->wait_replicas, st->wait_ms };

	if (redisAppendCommandArgv(st->ctx, argc, argv, NULL) != REDIS_OK)
		return false;
	return !waits || redisAppendCommandArgv(st->ctx, 3, wait,
	    NULL) == REDIS_OK;
}

/*
 * Read the WAIT's answer into st->acked: the replicas it counted, or -1
 * for an error reply (its text then in st->error, and the link dropped:
 * a replica refuses WAIT, and a link that only reads would otherwise
 * never hear READONLY).  Returns false when the link broke, which
 * store_fail() has noted.
 */
static bool
store_read_wait(struct store *st)
{
	redisReply	*w;

	if (redisGetReply(st->ctx, (void **)&w) != REDIS_OK) {
		store_fail(st, "WAIT");
		return false;
	}
	st->acked = w->type == REDIS_REPLY_INTEGER ? w->integer : -1;
	if (w->type == REDIS_REPLY_ERROR)
		snprintf(st->error, sizeof(st->error), "WAIT: %s", w->str);
	else
		snprintf(st->error, sizeof(st->error), "WAIT: %lld of %s "
		    "replicas within %s ms", st->acked, st->wait_replicas,
		    st->wait_ms);
	freeReplyObject(w);
	if (st->acked < 0)
		store_disconnect(st);
	return true;
}

/*
 * EVALSHA with argv (argv[1] is the sha), followed by WAIT when
 * store_waits().  Reloads the script on NOSCRIPT and retries once;
 * retries once on a fresh connection when a kept one turns out closed
 * (Redis restarted), but never after a timeout, when the first call may
 * still run, nor once the script has answered.  Returns the reply or
 * NULL.
 */
static redisReply *
store_eval(struct store *st, enum store_script script, int argc,
    const char **argv)
{
	redisReply	*r;
	bool		 was_fresh, waits = store_waits(st, script);
	int		 attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		if (store_connect(st) != SPIKE_OK)
			return NULL;
		was_fresh = st->fresh;
		st->fresh = false;
		argv[1] = st->sha[script];
		metrics_redis_call(script);
		r = NULL;
		if (!store_send(st, waits, argc, argv) ||
		    redisGetReply(st->ctx, (void **)&r) != REDIS_OK) {
			bool timeout = st->ctx->err == REDIS_ERR_IO &&
			    (errno == EAGAIN || errno == EWOULDBLOCK);
			store_fail(st, "EVALSHA");
			if (was_fresh || timeout)
				return NULL;
			continue;
		}
		if (waits && !store_read_wait(st)) {
			freeReplyObject(r);
			return NULL;
		}
		if (!is_noscript(r))
			return r;
		freeReplyObject(r);
		if (store_load(st, script_text[script], st->sha[script]) !=
		    SPIKE_OK)
			return NULL;
	}
	snprintf(st->error, sizeof(st->error), "EVALSHA: gave up after retry");
	return NULL;
}

/*
 * After a call that store_waits(): SPIKE_OK when WAIT counted
 * durability_replicas, else SPIKE_EUNCONFIRMED, counting the n
 * purchases or payments the buyers are not told of.
 */
static enum spike_err
store_confirmed(struct store *st, enum store_script script, size_t n)
{
	if (!store_waits(st, script) ||
	    st->acked >= (long long)st->conf->durability_replicas)
		return SPIKE_OK;
	metrics_unconfirmed((unsigned int)n);
	return SPIKE_EUNCONFIRMED;
}

/* Read element i of an array reply as an integer. */
static long long
reply_int(const redisReply *r, size_t i)
{
	if (i >= r->elements || r->element[i]->type != REDIS_REPLY_INTEGER)
		return 0;
	return r->element[i]->integer;
}

/* Are r's n elements from first integers? */
static bool
is_int_array_at(const redisReply *r, size_t first, size_t n)
{
	size_t	 i;

	if (r->elements < first + n)
		return false;
	for (i = first; i < first + n; i++)
		if (r->element[i]->type != REDIS_REPLY_INTEGER)
			return false;
	return true;
}

static bool
is_int_array(const redisReply *r, size_t n)
{
	return r->type == REDIS_REPLY_ARRAY && is_int_array_at(r, 0, n);
}

/*
 * Note a reply that is not the script's answer; returns SPIKE_EREDIS.  A
 * Redis that cannot take the sale now (a demoted primary's READONLY...)
 * also drops the link, so that the next call finds the primary again.
 */
static enum spike_err
store_bad_reply(struct store *st, redisReply *r, const char *what)
{
	snprintf(st->error, sizeof(st->error), "%s: %s", what,
	    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	if (r->type == REDIS_REPLY_ERROR &&
	    redis_dial_error_is_unavailable(r->str))
		store_disconnect(st);
	freeReplyObject(r);
	metrics_redis_error();
	return SPIKE_EREDIS;
}

/* Copy an order id reply element, or "" when it is not one. */
static void
copy_order_id(char *dst, const redisReply *e)
{
	if (e->type == REDIS_REPLY_STRING && e->len < STORE_ORDER_ID_MAX)
		memcpy(dst, e->str, e->len + 1);
	else
		dst[0] = '\0';
}

/* Copy an order status reply element, or "?" when it is not one. */
static void
copy_order_status(struct store_order *o, const redisReply *e)
{
	if (e->type == REDIS_REPLY_STRING && e->len < sizeof(o->status))
		memcpy(o->status, e->str, e->len + 1);
	else
		strcpy(o->status, "?");
}

/*
 * Fill one purchase from its {status, order, pay_by, order_status} in
 * reply r at i (STORE_BUY_REPLY elements).
 */
static bool
read_purchase(const redisReply *r, size_t i, struct store_purchase *p)
{
	static const enum store_buy_result outcome[] = { STORE_CLOSED,
	    STORE_NOT_STARTED, STORE_NO_SALE, STORE_SOLD_OUT, STORE_SOLD,
	    STORE_SOLD_BEFORE };
	long long	 status;

	if (r->element[i]->type != REDIS_REPLY_INTEGER ||
	    r->element[i + 2]->type != REDIS_REPLY_INTEGER)
		return false;
	status = r->element[i]->integer;
	if (status < -3 || status > 2)
		return false;
	p->result = outcome[status + 3];
	copy_order_id(p->order.id, r->element[i + 1]);
	p->order.pay_by = r->element[i + 2]->integer;
	copy_order_status(&p->order, r->element[i + 3]);
	p->opens_at = 0;
	if (p->result == STORE_NOT_STARTED) {	/* its pay_by is the start */
		p->opens_at = p->order.pay_by;
		p->order.pay_by = 0;
	}
	return true;
}

/*
 * Write purchase i's request key, ITEMKEY:req:USER:ID.  Returns false when
 * it does not fit, which would give different purchases one key.
 */
static bool
store_req_key(struct store *st, size_t i, const struct store_purchase *p)
{
	int	 n;

	n = snprintf(st->req_keys[i], sizeof(st->req_keys[i]),
	    "%s" STORE_REQ_INFIX "%s:%s", p->item->key, p->user,
	    p->request_id);
	if (n >= 0 && (size_t)n < sizeof(st->req_keys[i]))
		return true;
	snprintf(st->error, sizeof(st->error), "request key of %d bytes: "
	    "over %zu (user or request id too long)", n,
	    sizeof(st->req_keys[i]) - 1);
	return false;
}

/*
 * Fill the store's random pool from getrandom(2).  A call costs
 * microseconds here whatever its size up to a page, and the committer
 * thread would make one per group of purchases: a pool makes it one per
 * 256 order ids.  Returns false, with the reason in st->error, when the
 * kernel gives no random bytes.
 */
static bool
store_refill(struct store *st)
{
	size_t	 got = 0;
	ssize_t	 r;

	while (got < sizeof(st->pool)) {
		r = getrandom(st->pool + got, sizeof(st->pool) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(st->error, sizeof(st->error),
			    "getrandom: %s", strerror(errno));
			return false;
		}
		got += (size_t)r;
	}
	st->pool_left = sizeof(st->pool);
	return true;
}

/* Take n random bytes from the pool, each handed out once. */
static bool
store_random(struct store *st, unsigned char *dst, size_t n)
{
	size_t	 take;

	while (n > 0) {
		if (st->pool_left == 0 && !store_refill(st))
			return false;
		take = n < st->pool_left ? n : st->pool_left;
		memcpy(dst, st->pool + sizeof(st->pool) - st->pool_left, take);
		st->pool_left -= take;
		dst += take;
		n -= take;
	}
	return true;
}

/*
 * Make n order ids of 32 lowercase hex digits, 128 random bits each: one
 * for each purchase, used if it creates an order.  Unguessable, so that
 * knowing an order id says nothing of another.  Returns false when there
 * are no random bytes.
 */
static bool
store_order_ids(struct store *st, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 raw[STORE_ORDER_ID_BYTES];
	size_t		 i, j;

	for (i = 0; i < n; i++) {
		if (!store_random(st, raw, sizeof(raw)))
			return false;
		for (j = 0; j < sizeof(raw); j++) {
			st->order_ids[i][2 * j] = hex[raw[j] >> 4];
			st->order_ids[i][2 * j + 1] = hex[raw[j] & 0xf];
		}
		st->order_ids[i][2 * sizeof(raw)] = '\0';
	}
	return true;
}

/*
 * Sell tickets to n purchases in one call, each as if alone (see
 * src/lua/buy.lua).  Returns SPIKE_OK with each purchase's outcome
 * filled in, SPIKE_EUNCONFIRMED with them filled in but too few replicas
 * having them (durability = replicas), SPIKE_EINPUT for a request key
 * that does not fit or SPIKE_ESYSTEM without random bytes (nothing sent
 * either way), or SPIKE_EREDIS, for them all.
 */
enum spike_err
store_buy(struct store *st, struct store_purchase *const *p, size_t n)
{
	const char	*argv[13 + 5 * STORE_BATCH_MAX];
	size_t		 i, argc = 0;
	redisReply	*r;

	if (n == 0 || n > STORE_BATCH_MAX)
		return SPIKE_EINPUT;
	if (!store_order_ids(st, n))
		return SPIKE_ESYSTEM;
	argv[argc++] = "EVALSHA";
	argv[argc++] = NULL;
	snprintf(st->nkeys, sizeof(st->nkeys), "%zu", n + 1);
	argv[argc++] = st->nkeys;
	argv[argc++] = st->conf->events_key;
	for (i = 0; i < n; i++) {
		if (!store_req_key(st, i, p[i]))
			return SPIKE_EINPUT;
		argv[argc++] = st->req_keys[i];
	}
	argv[argc++] = st->conf->total_field;
	argv[argc++] = st->conf->sold_field;
	argv[argc++] = st->request_ttl_s;
	argv[argc++] = st->stock_key;
	argv[argc++] = st->self_id;
	argv[argc++] = st->pay_timeout_ms;
	argv[argc++] = st->per_user_limit;
	argv[argc++] = st->events_max_len;
	argv[argc++] = st->last_ttl_s;
	for (i = 0; i < n; i++)
		argv[argc++] = p[i]->user;
	for (i = 0; i < n; i++)
		argv[argc++] = st->order_ids[i];
	for (i = 0; i < n; i++)
		argv[argc++] = p[i]->item->key;
	for (i = 0; i < n; i++)
		argv[argc++] = p[i]->item->name;
	if ((r = store_eval(st, STORE_SCRIPT_BUY, (int)argc, argv)) == NULL)
		return SPIKE_EREDIS;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != STORE_BUY_REPLY * n)
		return store_bad_reply(st, r, "buy");
	for (i = 0; i < n; i++)
		if (!read_purchase(r, STORE_BUY_REPLY * i, p[i]))
			return store_bad_reply(st, r, "buy");
	freeReplyObject(r);
	return store_confirmed(st, STORE_SCRIPT_BUY, n);
}

/*
 * Pay user's order of item (see src/lua/pay.lua).  Returns SPIKE_OK with
 * the outcome in *result, SPIKE_EUNCONFIRMED with it but too few replicas
 * having it (durability = replicas), or SPIKE_EREDIS.
 */
enum spike_err
store_pay(struct store *st, const struct item *item, const char *user,
    const char *order_id, enum store_pay_result *result,
    struct store_order *order)
{
	char		 pending[ITEM_KEY_MAX + sizeof(":pending")];
	const char	*argv[] = { "EVALSHA", NULL, "2", pending,
			    st->conf->events_key, item->key, user,
			    order_id, st->retention_ms, st->events_max_len,
			    item->name };
	redisReply	*r;

	snprintf(pending, sizeof(pending), "%s:pending", item->key);
	if ((r = store_eval(st, STORE_SCRIPT_PAY, 11, argv)) == NULL)
		return SPIKE_EREDIS;
	if (!is_int_array(r, 2))
		return store_bad_reply(st, r, "pay");
	switch (reply_int(r, 0)) {
	case 1:
		*result = STORE_PAID;
		break;
	case 2:
		*result = STORE_PAID_BEFORE;
		break;
	case -7:
		*result = STORE_NO_ORDER;
		break;
	default:
		*result = STORE_TOO_LATE;
		break;
	}
	snprintf(order->id, sizeof(order->id), "%s", order_id);
	strcpy(order->status, *result == STORE_PAID ||
	    *result == STORE_PAID_BEFORE ? "paid" : "pending");
	order->pay_by = reply_int(r, 1);
	freeReplyObject(r);
	return store_confirmed(st, STORE_SCRIPT_PAY, 1);
}

/*
 * Read user's latest order of item (see src/lua/order.lua).  Returns
 * SPIKE_OK with *found telling whether there is one, or SPIKE_EREDIS.
 */
enum spike_err
store_find_order(struct store *st, const struct item *item, const char *user,
    bool *found, struct store_order *order)
{
	const char	*argv[] = { "EVALSHA", NULL, "0", item->key, user };
	redisReply	*r;

	if ((r = store_eval(st, STORE_SCRIPT_ORDER, 5, argv)) == NULL)
		return SPIKE_EREDIS;
	if (r->type != REDIS_REPLY_ARRAY ||
	    (r->elements != 0 && r->elements != 3))
		return store_bad_reply(st, r, "order");
	*found = r->elements == 3;
	if (*found) {
		copy_order_id(order->id, r->element[0]);
		copy_order_status(order, r->element[1]);
		order->pay_by = reply_int(r, 2);
	}
	freeReplyObject(r);
	return SPIKE_OK;
}

/*
 * Expire overdue orders, returning their tickets (see
 * src/lua/expire.lua).  Returns SPIKE_OK with the count, or SPIKE_EREDIS.
 */
enum spike_err
store_expire(struct store *st, long long *expired)
{
	const char	*argv[] = { "EVALSHA", NULL, "6", st->stock_key,
			    st->pending_key, st->conf->events_key,
			    st->due_key, st->changes_key, st->seq_key,
			    st->conf->sold_field, st->stock_key,
			    STORE_EXPIRE_BATCH, st->retention_ms,
			    st->events_max_len };
	redisReply	*r;

	if ((r = store_eval(st, STORE_SCRIPT_EXPIRE, 14, argv)) == NULL)
		return SPIKE_EREDIS;
	if (r->type != REDIS_REPLY_INTEGER)
		return store_bad_reply(st, r, "expire");
	*expired = r->integer;
	freeReplyObject(r);
	return SPIKE_OK;
}

/* Sum the configured weights of the n live addresses from r[first]. */
static unsigned int
live_weight(const struct conf *conf, const redisReply *r, size_t first,
    size_t n)
{
	const struct conf_instance *inst;
	unsigned int		 sum = 0;
	size_t			 i;

	for (i = first; i < first + n && i < r->elements; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING)
			continue;
		if ((inst = conf_find_instance(conf, r->element[i]->str)))
			sum += inst->weight;
	}
	return sum;
}

/*
 * Read an item's six numbers from r[i...] (exists, total, sold,
 * start_ms, end_ms, paused), as sync.lua gives them.
 */
static void
read_sale(const redisReply *r, size_t i, struct store_sale *sale)
{
	sale->exists = reply_int(r, i) == 1;
	sale->total = reply_int(r, i + 1);
	sale->sold = reply_int(r, i + 2);
	sale->start_ms = reply_int(r, i + 3);
	sale->end_ms = reply_int(r, i + 4);
	sale->paused = reply_int(r, i + 5) == 1;
}

/*
 * The changed items of a sync reply, from r[i], seven elements each;
 * false when one is malformed.
 */
static bool
read_changes(const redisReply *r, size_t i, struct store_view *view)
{
	struct store_item_view *iv;

	view->nitems = 0;
	for (; i + STORE_SYNC_ITEM_FIELDS <= r->elements;
	    i += STORE_SYNC_ITEM_FIELDS) {
		if (view->nitems >= STORE_SYNC_BATCH ||
		    !is_int_array_at(r, i + 1, STORE_SYNC_ITEM_FIELDS - 1))
			return false;
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    r->element[i]->len >= sizeof(iv->name))
			continue;	/* no item's name: not one to sell */
		iv = &view->items[view->nitems++];
		memcpy(iv->name, r->element[i]->str, r->element[i]->len + 1);
		read_sale(r, i + 1, &iv->sale);
	}
	return i == r->elements;
}

/*
 * Heartbeat, read Redis's clock, the default item and the items changed
 * after the change last (see src/lua/sync.lua).  With durability =
 * fsync, check first that Redis still fsyncs (CONFIG SET may have changed
 * it since the link was made): the sync is what marks Redis up, so the
 * instance sells only while the check passes.  Returns SPIKE_OK with the
 * view filled in (view->items must hold STORE_SYNC_BATCH), or
 * SPIKE_EREDIS.
 */
enum spike_err
store_sync(struct store *st, long long last, struct store_view *view)
{
	char		 window[16], from[24], batch[16];
	const char	*argv[] = { "EVALSHA", NULL, "5", st->stock_key,
			    st->live_key, st->changes_key, st->registry_key,
			    st->seq_key, st->conf->total_field,
			    st->conf->sold_field, st->self_id, window, from,
			    batch, st->stock_key };
	unsigned int	 ms = st->conf->sync_ms * 3;
	size_t		 nlive;
	redisReply	*r;

	snprintf(window, sizeof(window), "%u", ms < 1000 ? 1000 : ms);
	snprintf(from, sizeof(from), "%lld", last);
	snprintf(batch, sizeof(batch), "%d", STORE_SYNC_BATCH);
	if (st->ctx != NULL && store_check_fsync(st) != SPIKE_OK)
		return SPIKE_EREDIS;
	if ((r = store_eval(st, STORE_SCRIPT_SYNC, 15, argv)) == NULL)
		return SPIKE_EREDIS;
	if (!is_int_array(r, STORE_SYNC_HEAD))
		return store_bad_reply(st, r, "sync");
	read_sale(r, 0, &view->sale);
	view->exists = view->sale.exists;
	view->total = view->sale.total;
	view->sold = view->sale.sold;
	view->redis_us = reply_int(r, 6) * 1000000 + reply_int(r, 7);
	view->seq = reply_int(r, 8);
	view->last = reply_int(r, 9);
	view->more = reply_int(r, 10) == 1;
	nlive = (size_t)reply_int(r, 11);
	view->live_weight = live_weight(st->conf, r, STORE_SYNC_HEAD, nlive);
	if (nlive > r->elements - STORE_SYNC_HEAD ||
	    !read_changes(r, STORE_SYNC_HEAD + nlive, view))
		return store_bad_reply(st, r, "sync");
	freeReplyObject(r);
	return SPIKE_OK;
}

/* Say goodbye, so that the others take over this instance's share now. */
void
store_leave(struct store *st)
{
	redisReply	*r;

	if (store_connect(st) != SPIKE_OK)
		return;
	r = redisCommand(st->ctx, "ZREM %s %s", st->live_key, st->self_id);
	if (r != NULL)
		freeReplyObject(r);
}
