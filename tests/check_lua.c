/*
 * The Lua scripts of src/lua, each on its own against a real redis-server
 * started by the rig (no instances, no nginx): the script text compiled
 * into the binary (lua_scripts.c) is sent with EVAL and the KEYS/ARGV
 * store.c passes.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "spike.h"
#include "rig_ck.h"

#define K		RIG_STOCK_KEY
#define TOTAL		RIG_TOTAL_FIELD
#define SOLD		RIG_SOLD_FIELD
#define EVENTS		K ":events"
#define PENDING		K ":pending"
#define DUE		K ":due"
#define CHANGES		K ":changes"
#define SEQ		K ":seq"
#define ITEMS		K ":items"
#define LIVE		K ":instances"
#define SELF		"127.0.0.1:3001"
#define REQ_TTL		"60"		/* as store.c */
#define RETENTION_MS	"86400000"	/* order_retention_s's default */
#define MAX_LEN		"100000"	/* events_max_len's default */
#define LAST_TTL	"86700"		/* pay timeout + retention, s */
#define LONG_PAY_MS	60000
#define SHORT_PAY_MS	300
#define EXPIRE_ORDERS	300
#define EXPIRE_THREADS	8
#define EXPIRE_BATCH	"7"
#define STORE_BUY_REPLY_TEST	4	/* elements per purchase: buy.lua */
#define STORE_REQ_KEY_MAX_TEST	512	/* ITEMKEY:req:USER:ID, as tested */

/* What buy.lua answered. */
struct buy {
	long long	 status, total, sold, pay_by;
	char		 order[STORE_ORDER_ID_MAX];
	char		 ostatus[16];	/* the order's status, "" for none */
};

/* ---- Redis helpers --------------------------------------------------- */

#define CMD(c, ...)	RIG_CK_CMD(c, __VA_ARGS__)

/* A command whose reply is not needed. */
#define DO(c, ...)	freeReplyObject(CMD(c, __VA_ARGS__))

/* What as_int() makes of a reply neither integer nor numeric string. */
#define NOT_INT		(-999999)
#define SYNC_HEAD	12		/* sync.lua's numbers before addresses */

static long long
as_int(const redisReply *e)
{
	return rig_redis_int(e, NOT_INT);
}

/* A command answering an integer or a numeric string; -1 for nil. */
#define INT(c, ...)	rig_redis_int_free(CMD(c, __VA_ARGS__), NOT_INT)

static long long
sold_of(redisContext *c)
{
	return INT(c, "HGET", K, SOLD);
}

static void
sale(redisContext *c, const char *total, const char *sold)
{
	DO(c, "HSET", K, TOTAL, total, SOLD, sold);
}

/* Redis' own clock in unix ms, as the scripts compute it. */
static long long
redis_ms(redisContext *c)
{
	redisReply	*rep = CMD(c, "TIME");
	long long	 ms;

	ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
	ms = atoll(rep->element[0]->str) * 1000 +
	    atoll(rep->element[1]->str) / 1000;
	freeReplyObject(rep);
	return ms;
}

/* ---- the scripts, called as store.c calls them ------------------------ */

/* A fresh order id of 32 hex digits, as store.c passes one a purchase. */
static const char *
next_order_id(void)
{
	static char		 id[STORE_ORDER_ID_MAX];
	static unsigned long long n;

	snprintf(id, sizeof(id), "%016llx%016llx", 0xfeedULL, ++n);
	return id;
}

/* The stock as the buy script leaves it, for struct buy. */
static void
read_stock(redisContext *c, struct buy *b)
{
	redisReply	*rep;

	rep = CMD(c, "HMGET", K, TOTAL, SOLD);
	b->total = rep->element[0]->type == REDIS_REPLY_NIL ? 0 :
	    as_int(rep->element[0]);
	b->sold = rep->element[1]->type == REDIS_REPLY_NIL ? 0 :
	    as_int(rep->element[1]);
	freeReplyObject(rep);
}

/* One purchase, as a group of one (buy.lua takes a group). */
static struct buy
buy_raw(redisContext *c, const char *req, const char *user, long long pay_ms,
    unsigned int limit)
{
	char		 req_key[160], pay[32], lim[16], id[STORE_ORDER_ID_MAX];
	redisReply	*rep;
	struct buy	 b;

	snprintf(req_key, sizeof(req_key), K ":req:%s:%s", user, req);
	snprintf(pay, sizeof(pay), "%lld", pay_ms);
	snprintf(lim, sizeof(lim), "%u", limit);
	snprintf(id, sizeof(id), "%s", next_order_id());
	rep = CMD(c, "EVAL", lua_buy, "2", EVENTS, req_key, TOTAL, SOLD,
	    REQ_TTL, K, SELF, pay, lim, MAX_LEN, LAST_TTL, user, id, K, K);
	ck_assert_msg(rep->type == REDIS_REPLY_ARRAY && rep->elements == 4,
	    "buy: reply type %d with %zu elements", rep->type,
	    rep->elements);
	b.status = as_int(rep->element[0]);
	ck_assert_int_eq(rep->element[1]->type, REDIS_REPLY_STRING);
	snprintf(b.order, sizeof(b.order), "%s", rep->element[1]->str);
	b.pay_by = as_int(rep->element[2]);
	ck_assert_int_eq(rep->element[3]->type, REDIS_REPLY_STRING);
	snprintf(b.ostatus, sizeof(b.ostatus), "%s", rep->element[3]->str);
	freeReplyObject(rep);
	/* A new order takes the id given; a repeat names an older one. */
	if (b.status == 1 && user[0] != '\0')
		ck_assert_str_eq(b.order, id);
	else
		ck_assert_str_ne(b.order, id);
	read_stock(c, &b);
	return b;
}

/* A buy with a request id never used before. */
static struct buy
buy(redisContext *c, const char *user, long long pay_ms, unsigned int limit)
{
	static unsigned int	 n;
	char			 req[32];

	snprintf(req, sizeof(req), "r%u", ++n);
	return buy_raw(c, req, user, pay_ms, limit);
}

/* pay.lua: *pay_by gets its second element. */
static long long
pay(redisContext *c, const char *user, const char *order, long long *pay_by)
{
	redisReply	*rep;
	long long	 status;

	rep = CMD(c, "EVAL", lua_pay, "2", PENDING, EVENTS, K, user, order,
	    RETENTION_MS, MAX_LEN, K);
	ck_assert_msg(rep->type == REDIS_REPLY_ARRAY && rep->elements == 2,
	    "pay: reply type %d", rep->type);
	status = as_int(rep->element[0]);
	if (pay_by != NULL)
		*pay_by = as_int(rep->element[1]);
	freeReplyObject(rep);
	return status;
}

static long long
expire_batch(redisContext *c, const char *batch)
{
	redisReply	*rep;

	rep = CMD(c, "EVAL", lua_expire, "6", K, PENDING, EVENTS, DUE, CHANGES,
	    SEQ, SOLD, K, batch, RETENTION_MS, MAX_LEN);
	ck_assert_int_eq(rep->type, REDIS_REPLY_INTEGER);
	return rig_redis_int_free(rep, NOT_INT);
}

static long long
expire(redisContext *c)
{
	return expire_batch(c, "200");		/* as store.c */
}

/* Count the stream's entries with event=ev (and order=order if given). */
static long long
events(redisContext *c, const char *ev, const char *order)
{
	redisReply	*rep = CMD(c, "XRANGE", EVENTS, "-", "+");
	long long	 n = 0;

	for (size_t i = 0; i < rep->elements; i++) {
		redisReply	*f = rep->element[i]->element[1];
		bool		 ev_ok = false, order_ok = order == NULL;

		for (size_t j = 0; j + 1 < f->elements; j += 2) {
			if (strcmp(f->element[j]->str, "event") == 0)
				ev_ok = strcmp(f->element[j + 1]->str, ev) == 0;
			if (order != NULL &&
			    strcmp(f->element[j]->str, "order") == 0)
				order_ok = strcmp(f->element[j + 1]->str,
				    order) == 0;
		}
		n += ev_ok && order_ok;
	}
	freeReplyObject(rep);
	return n;
}

/* One order field into buf. */
static char *
field(redisContext *c, const char *order, const char *name, char *buf,
    size_t bufsz)
{
	char	 key[64];

	snprintf(key, sizeof(key), K ":order:%s", order);
	return rig_redis_str_free(CMD(c, "HGET", key, name), buf, bufsz);
}

static long long
user_orders(redisContext *c, const char *user)
{
	char	 key[96];

	snprintf(key, sizeof(key), K ":user:%s", user);
	return INT(c, "ZCARD", key);
}

/*
 * The invariant, read in one script: sold == |pending| + |paid| +
 * anonymous, the pending set is exactly the orders with status pending,
 * and the users' sets hold exactly the pending and paid orders.
 */
static const char invariant_lua[] =
    "local p = ARGV[1]\n"
    "local v = redis.call('HMGET', p, ARGV[2], ARGV[3])\n"
    "local n = {pending = 0, paid = 0, expired = 0, other = 0}\n"
    "for _, k in ipairs(redis.call('KEYS', p .. ':order:*')) do\n"
    "  local s = redis.call('HGET', k, 'status')\n"
    "  if n[s] then n[s] = n[s] + 1 else n.other = n.other + 1 end\n"
    "end\n"
    "local active = 0\n"
    "for _, k in ipairs(redis.call('KEYS', p .. ':user:*')) do\n"
    "  active = active + redis.call('ZCARD', k)\n"
    "end\n"
    "return {tonumber(v[2]) or -1, redis.call('ZCARD', p .. ':pending'),\n"
    "  n.pending, n.paid, tonumber(redis.call('GET', p .. ':anonymous')\n"
    "  or '0'), active, n.other}\n";

static void
assert_invariant(redisContext *c)
{
	redisReply	*rep = CMD(c, "EVAL", invariant_lua, "0", K, TOTAL,
			    SOLD);
	long long	 v[7];

	for (size_t i = 0; i < 7; i++)
		v[i] = as_int(rep->element[i]);
	freeReplyObject(rep);
	ck_assert_msg(v[0] == v[2] + v[3] + v[4] && v[1] == v[2] &&
	    v[5] == v[2] + v[3] && v[6] == 0, "invariant broken: sold %lld, "
	    "|pending set| %lld, pending %lld, paid %lld, anonymous %lld, "
	    "in users' sets %lld, other statuses %lld", v[0], v[1], v[2],
	    v[3], v[4], v[5], v[6]);
}

/* ---- set-up ------------------------------------------------------------ */

static struct rig	 rig;

static redisContext *
start(void)
{
	ck_assert_msg(rig_init(&rig, NULL) && rig_redis_start(&rig), "rig: %s",
	    rig.err);
	return rig_ck_redis(&rig);
}

static void
stop(redisContext *c)
{
	redisFree(c);
	rig_stop(&rig);
}

/*
 * A group of purchases in one call is sold in order, each as if alone:
 * the same user twice gets one order, and the stock is never passed.
 */
START_TEST(test_buy_group)
{
	redisContext	*c = start();
	redisReply	*rep;

	sale(c, "2", "0");
	rep = CMD(c, "EVAL", lua_buy, "5", EVENTS, K ":req:ann:g1",
	    K ":req:ann:g2", K ":req:bob:g3", K ":req:cat:g4", TOTAL, SOLD,
	    REQ_TTL, K, SELF, "60000", "1", MAX_LEN, LAST_TTL, "ann", "ann",
	    "bob", "cat", "a1", "a2", "b3", "c4", K, K, K, K, K, K, K, K);
	ck_assert_uint_eq(rep->elements, 16);
	ck_assert_int_eq(as_int(rep->element[0]), 1);	/* ann buys */
	ck_assert_str_eq(rep->element[1]->str, "a1");	/* her id */
	ck_assert_str_eq(rep->element[9]->str, "b3");	/* bob's, in order */
	ck_assert_int_eq(rig_ck_orders_made(c), 2);
	ck_assert_str_eq(rep->element[3]->str, "pending");
	ck_assert_int_eq(as_int(rep->element[4]), 2);	/* ann again: hers */
	ck_assert_str_eq(rep->element[5]->str, rep->element[1]->str);
	ck_assert_str_eq(rep->element[7]->str, "pending");
	ck_assert_int_eq(as_int(rep->element[8]), 1);	/* bob: the last */
	ck_assert_int_eq(as_int(rep->element[12]), 0);	/* cat: sold out */
	ck_assert_str_eq(rep->element[15]->str, "");
	freeReplyObject(rep);
	rep = CMD(c, "HGET", K, SOLD);
	ck_assert_int_eq(as_int(rep), 2);
	freeReplyObject(rep);
	stop(c);
}
END_TEST

/* ---- buy.lua ----------------------------------------------------------- */

/* Exactly the stock: sold < total, never sold <= total (the seed's bug). */
START_TEST(test_buy_sells_exactly_the_stock)
{
	redisContext	*c = start();
	struct buy	 b;
	char		 user[16];
	int		 sold = 0, out = 0;

	sale(c, "5", "0");
	for (int i = 0; i < 8; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		b = buy(c, user, LONG_PAY_MS, 1);
		ck_assert_msg(b.status == 1 || b.status == 0, "status %lld",
		    b.status);
		if (b.status == 1) {
			sold++;
			ck_assert_int_eq(b.sold, sold);
		} else {
			out++;
			ck_assert_str_eq(b.order, "");
			ck_assert_int_eq(b.sold, 5);
		}
		ck_assert_int_eq(b.total, 5);
	}
	ck_assert_int_eq(sold, 5);
	ck_assert_int_eq(out, 3);
	ck_assert_int_eq(sold_of(c), 5);
	/* Anonymous buyers meet the same limit. */
	b = buy(c, "", LONG_PAY_MS, 1);
	ck_assert_int_eq(b.status, 0);
	ck_assert_int_eq(sold_of(c), 5);
	/* The last ticket, exactly. */
	sale(c, "3", "2");
	ck_assert_int_eq(buy(c, "last", LONG_PAY_MS, 1).status, 1);
	ck_assert_int_eq(buy(c, "late", LONG_PAY_MS, 1).status, 0);
	ck_assert_int_eq(sold_of(c), 3);
	/* Nothing to sell at all. */
	sale(c, "0", "0");
	ck_assert_int_eq(buy(c, "nobody", LONG_PAY_MS, 1).status, 0);
	ck_assert_int_eq(sold_of(c), 0);
	ck_assert_int_eq(INT(c, "EXISTS", K ":user:late"), 0);
	ck_assert_int_eq(INT(c, "EXISTS", K ":user:nobody"), 0);
	ck_assert_int_eq(events(c, "created", NULL), 6);
	stop(c);
}
END_TEST

/* A missing or garbage hash sells nothing and writes nothing. */
START_TEST(test_buy_refuses_bad_hash)
{
	static const char *const bad[][2] = {
		{ "abc", "0" }, { "10", "x" }, { "", "0" }, { "10", "" },
	};
	redisContext	*c = start();
	struct buy	 b;
	char		 buf[64];

	b = buy_raw(c, "req1", "alice", LONG_PAY_MS, 1);
	ck_assert_int_eq(b.status, -1);
	ck_assert_str_eq(b.order, "");
	ck_assert_int_eq(INT(c, "DBSIZE"), 0);
	b = buy_raw(c, "req2", "", LONG_PAY_MS, 1);
	ck_assert_int_eq(b.status, -1);
	ck_assert_int_eq(INT(c, "DBSIZE"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		DO(c, "FLUSHALL");
		sale(c, bad[i][0], bad[i][1]);
		b = buy_raw(c, "req3", "alice", LONG_PAY_MS, 1);
		ck_assert_msg(b.status == -1, "total \"%s\" sold \"%s\": "
		    "status %lld", bad[i][0], bad[i][1], b.status);
		ck_assert_int_eq(INT(c, "DBSIZE"), 1);
		ck_assert_str_eq(rig_redis_str_free(CMD(c, "HGET", K, SOLD),
		    buf, sizeof(buf)), bad[i][1]);
	}
	/* Only the total field present. */
	DO(c, "FLUSHALL");
	DO(c, "HSET", K, TOTAL, "10");
	ck_assert_int_eq(buy_raw(c, "req4", "", LONG_PAY_MS, 1).status, -1);
	ck_assert_int_eq(INT(c, "DBSIZE"), 1);
	ck_assert_int_eq(INT(c, "HLEN", K), 1);
	stop(c);
}
END_TEST

/* A retried request gets the order it bought, without a second sale. */
START_TEST(test_buy_request_dedup)
{
	redisContext	*c = start();
	struct buy	 a, b;

	sale(c, "100", "0");
	a = buy_raw(c, "same", "alice", LONG_PAY_MS, 5);
	ck_assert_int_eq(a.status, 1);
	ck_assert_str_ne(a.order, "");
	b = buy_raw(c, "same", "alice", LONG_PAY_MS, 5);
	ck_assert_int_eq(b.status, 2);
	ck_assert_str_eq(b.order, a.order);
	ck_assert_int_eq(b.pay_by, a.pay_by);
	ck_assert_int_eq(b.sold, 1);
	/*
	 * The same request id with another user is another request key
	 * (store.c puts the user in it): bob's own purchase, not alice's.
	 */
	b = buy_raw(c, "same", "bob", LONG_PAY_MS, 5);
	ck_assert_int_eq(b.status, 1);
	ck_assert_str_ne(b.order, a.order);
	ck_assert_int_eq(user_orders(c, "bob"), 1);
	/* With limit 5, a new request by alice is a new order. */
	b = buy_raw(c, "other", "alice", LONG_PAY_MS, 5);
	ck_assert_int_eq(b.status, 1);
	ck_assert_str_ne(b.order, a.order);
	ck_assert_int_eq(sold_of(c), 3);
	/* Anonymous: the request key remembers "" and sells once. */
	ck_assert_int_eq(buy_raw(c, "anon", "", LONG_PAY_MS, 5).status, 1);
	b = buy_raw(c, "anon", "", LONG_PAY_MS, 5);
	ck_assert_int_eq(b.status, 2);
	ck_assert_str_eq(b.order, "");
	ck_assert_int_eq(sold_of(c), 4);
	ck_assert_int_eq(INT(c, "GET", K ":anonymous"), 1);
	/* The request key expires: TTL as store.c passes it. */
	{
		long long ttl = INT(c, "TTL", K ":req:alice:same");

		ck_assert_msg(ttl > 50 && ttl <= 60, "TTL %lld", ttl);
	}
	ck_assert_int_eq(events(c, "created", NULL), 3);
	assert_invariant(c);
	stop(c);
}
END_TEST

/*
 * A repeat answers the order as it stands now: a retry of a request whose
 * order was paid says paid, one whose order expired says expired, and an
 * anonymous repeat has no status.
 */
START_TEST(test_buy_repeat_status)
{
	redisContext	*c = start();
	struct buy	 a, b;

	sale(c, "100", "0");
	a = buy_raw(c, "paid-req", "alice", LONG_PAY_MS, 1);
	ck_assert_str_eq(a.ostatus, "pending");
	ck_assert_int_eq(pay(c, "alice", a.order, NULL), 1);
	b = buy_raw(c, "paid-req", "alice", LONG_PAY_MS, 1);
	ck_assert_int_eq(b.status, 2);
	ck_assert_str_eq(b.order, a.order);
	ck_assert_str_eq(b.ostatus, "paid");
	a = buy_raw(c, "late-req", "bob", SHORT_PAY_MS, 1);
	while (redis_ms(c) <= a.pay_by + 1)
		rig_sleep_ms(10);
	ck_assert_int_eq(expire(c), 1);
	b = buy_raw(c, "late-req", "bob", LONG_PAY_MS, 1);
	ck_assert_int_eq(b.status, 2);
	ck_assert_str_eq(b.order, a.order);
	ck_assert_str_eq(b.ostatus, "expired");
	ck_assert_int_eq(buy_raw(c, "anon-req", "", LONG_PAY_MS, 1).status, 1);
	b = buy_raw(c, "anon-req", "", LONG_PAY_MS, 1);
	ck_assert_int_eq(b.status, 2);
	ck_assert_str_eq(b.ostatus, "");
	ck_assert_int_eq(sold_of(c), 2);
	assert_invariant(c);
	stop(c);
}
END_TEST

START_TEST(test_buy_user_limit_1)
{
	redisContext	*c = start();
	struct buy	 a, b;

	sale(c, "100", "0");
	a = buy(c, "alice", LONG_PAY_MS, 1);
	ck_assert_int_eq(a.status, 1);
	ck_assert_str_eq(a.ostatus, "pending");
	for (int i = 0; i < 3; i++) {
		b = buy(c, "alice", LONG_PAY_MS, 1);
		ck_assert_int_eq(b.status, 2);
		ck_assert_str_eq(b.order, a.order);
		ck_assert_int_eq(b.pay_by, a.pay_by);
		ck_assert_str_eq(b.ostatus, "pending");
	}
	ck_assert_int_eq(sold_of(c), 1);
	ck_assert_int_eq(user_orders(c, "alice"), 1);
	ck_assert_int_eq(rig_ck_orders_made(c), 1);
	ck_assert_int_eq(events(c, "created", NULL), 1);
	/* A paid order still counts against the limit, and says paid. */
	ck_assert_int_eq(pay(c, "alice", a.order, NULL), 1);
	b = buy(c, "alice", LONG_PAY_MS, 1);
	ck_assert_int_eq(b.status, 2);
	ck_assert_str_eq(b.order, a.order);
	ck_assert_str_eq(b.ostatus, "paid");
	ck_assert_int_eq(sold_of(c), 1);
	/* Another user is not limited by alice. */
	ck_assert_int_eq(buy(c, "bob", LONG_PAY_MS, 1).status, 1);
	ck_assert_int_eq(sold_of(c), 2);
	assert_invariant(c);
	stop(c);
}
END_TEST

START_TEST(test_buy_user_limit_2)
{
	redisContext	*c = start();
	struct buy	 a, b, x;
	char		 buf[64];

	sale(c, "100", "0");
	a = buy(c, "alice", LONG_PAY_MS, 2);
	b = buy(c, "alice", LONG_PAY_MS, 2);
	ck_assert_int_eq(a.status, 1);
	ck_assert_int_eq(b.status, 1);
	ck_assert_str_ne(a.order, b.order);
	x = buy(c, "alice", LONG_PAY_MS, 2);
	ck_assert_int_eq(x.status, 2);
	ck_assert_str_eq(x.order, b.order);	/* the latest */
	ck_assert_int_eq(sold_of(c), 2);
	ck_assert_int_eq(user_orders(c, "alice"), 2);
	ck_assert_str_eq(rig_redis_str_free(CMD(c, "GET", K ":last:alice"), buf,
	    sizeof(buf)), b.order);
	ck_assert_int_eq(events(c, "created", NULL), 2);
	assert_invariant(c);
	stop(c);
}
END_TEST

START_TEST(test_buy_anonymous)
{
	redisContext	*c = start();
	struct buy	 b;

	sale(c, "100", "0");
	for (int i = 0; i < 3; i++) {
		b = buy(c, "", LONG_PAY_MS, 1);
		ck_assert_int_eq(b.status, 1);
		ck_assert_str_eq(b.order, "");
		ck_assert_int_eq(b.pay_by, 0);
		ck_assert_int_eq(b.sold, i + 1);
	}
	ck_assert_int_eq(INT(c, "GET", K ":anonymous"), 3);
	ck_assert_int_eq(rig_ck_orders_made(c), 0);
	ck_assert_int_eq(INT(c, "EXISTS", K ":pending"), 0);
	ck_assert_int_eq(INT(c, "EXISTS", EVENTS), 0);
	ck_assert_int_eq(INT(c, "EXISTS", K ":user:"), 0);
	ck_assert_int_eq(INT(c, "EXISTS", K ":last:"), 0);
	/* A named buyer next to them. */
	ck_assert_int_eq(buy(c, "alice", LONG_PAY_MS, 1).status, 1);
	ck_assert_int_eq(INT(c, "GET", K ":anonymous"), 3);
	ck_assert_int_eq(sold_of(c), 4);
	assert_invariant(c);
	stop(c);
}
END_TEST

/* The order hash, the pending score, the user's keys, one event. */
START_TEST(test_buy_order_records)
{
	redisContext	*c = start();
	struct buy	 b;
	redisReply	*rep;
	long long	 before, after, created;
	char		 buf[64], key[64];

	sale(c, "100", "0");
	before = redis_ms(c);
	b = buy(c, "alice", 12345, 1);
	after = redis_ms(c);
	ck_assert_int_eq(b.status, 1);
	ck_assert_int_eq(strlen(b.order), 32);	/* the id store.c gave */
	ck_assert_str_eq(field(c, b.order, "user", buf, sizeof(buf)), "alice");
	ck_assert_str_eq(field(c, b.order, "instance", buf, sizeof(buf)),
	    SELF);
	ck_assert_str_eq(field(c, b.order, "status", buf, sizeof(buf)),
	    "pending");
	ck_assert_str_eq(field(c, b.order, "ended", buf, sizeof(buf)),
	    "(nil)");
	created = atoll(field(c, b.order, "created", buf, sizeof(buf)));
	ck_assert_msg(created >= before && created <= after, "created %lld "
	    "not within [%lld, %lld]", created, before, after);
	ck_assert_int_eq(atoll(field(c, b.order, "pay_by", buf, sizeof(buf))),
	    b.pay_by);
	ck_assert_int_eq(b.pay_by, created + 12345);
	ck_assert_int_eq(INT(c, "ZSCORE", PENDING, b.order), b.pay_by);
	ck_assert_int_eq(INT(c, "ZSCORE", K ":user:alice", b.order), created);
	ck_assert_str_eq(rig_redis_str_free(CMD(c, "GET", K ":last:alice"), buf,
	    sizeof(buf)), b.order);
	/* Exactly one event, "created", with the order's details. */
	rep = CMD(c, "XRANGE", EVENTS, "-", "+");
	ck_assert_int_eq(rep->elements, 1);
	{
		redisReply	*f = rep->element[0]->element[1];
		const char	*want[] = { "event", "created", "order",
				    b.order, "user", "alice", "instance", SELF,
				    "pay_by", NULL, "item", K };

		snprintf(key, sizeof(key), "%lld", b.pay_by);
		want[9] = key;
		ck_assert_int_eq(f->elements, 12);
		for (size_t i = 0; i < 12; i++)
			ck_assert_str_eq(f->element[i]->str, want[i]);
	}
	freeReplyObject(rep);
	/* A repeat adds no event and no order. */
	ck_assert_int_eq(buy(c, "alice", 12345, 1).status, 2);
	ck_assert_int_eq(INT(c, "XLEN", EVENTS), 1);
	ck_assert_int_eq(rig_ck_orders_made(c), 1);
	assert_invariant(c);
	stop(c);
}
END_TEST

/* ---- pay.lua ------------------------------------------------------------ */

START_TEST(test_pay)
{
	redisContext	*c = start();
	struct buy	 b;
	long long	 pay_by = 0;
	char		 buf[64];

	sale(c, "100", "0");
	b = buy(c, "alice", LONG_PAY_MS, 1);
	ck_assert_int_eq(pay(c, "alice", b.order, &pay_by), 1);
	ck_assert_int_eq(pay_by, b.pay_by);
	ck_assert_str_eq(field(c, b.order, "status", buf, sizeof(buf)), "paid");
	ck_assert_msg(atoll(field(c, b.order, "ended", buf, sizeof(buf))) > 0,
	    "no ended time");
	ck_assert_int_eq(INT(c, "ZSCORE", PENDING, b.order), -1);
	ck_assert_int_eq(user_orders(c, "alice"), 1);
	ck_assert_int_eq(events(c, "paid", b.order), 1);
	/* Paid before: same answer, nothing more. */
	pay_by = 0;
	ck_assert_int_eq(pay(c, "alice", b.order, &pay_by), 2);
	ck_assert_int_eq(pay_by, b.pay_by);
	ck_assert_int_eq(events(c, "paid", NULL), 1);
	/* Someone else's order is answered as no order at all. */
	ck_assert_int_eq(pay(c, "bob", b.order, NULL), -7);
	ck_assert_int_eq(pay(c, "alice", "999", NULL), -7);
	ck_assert_int_eq(pay(c, "bob", "999", NULL), -7);
	ck_assert_int_eq(sold_of(c), 1);
	ck_assert_int_eq(INT(c, "XLEN", EVENTS), 2);
	/* bob's pending order refused to alice, untouched. */
	b = buy(c, "bob", LONG_PAY_MS, 1);
	ck_assert_int_eq(pay(c, "alice", b.order, NULL), -7);
	ck_assert_str_eq(field(c, b.order, "status", buf, sizeof(buf)),
	    "pending");
	ck_assert_int_eq(INT(c, "ZSCORE", PENDING, b.order), b.pay_by);
	assert_invariant(c);
	stop(c);
}
END_TEST

/* Past its pay-by time: -9 and nothing changes; after expiry, -9 too. */
START_TEST(test_pay_too_late)
{
	redisContext	*c = start();
	struct buy	 b;
	redisReply	*before, *after;
	long long	 pay_by = 0;
	char		 key[64], buf[64];

	sale(c, "100", "0");
	b = buy(c, "alice", 50, 1);
	snprintf(key, sizeof(key), K ":order:%s", b.order);
	while (redis_ms(c) <= b.pay_by + 1)
		rig_sleep_ms(10);
	before = CMD(c, "HGETALL", key);
	ck_assert_int_eq(pay(c, "alice", b.order, &pay_by), -9);
	ck_assert_int_eq(pay_by, b.pay_by);
	after = CMD(c, "HGETALL", key);
	ck_assert_int_eq(before->elements, after->elements);
	for (size_t i = 0; i < before->elements; i++)
		ck_assert_str_eq(before->element[i]->str,
		    after->element[i]->str);
	freeReplyObject(before);
	freeReplyObject(after);
	ck_assert_int_eq(INT(c, "ZSCORE", PENDING, b.order), b.pay_by);
	ck_assert_int_eq(events(c, "paid", NULL), 0);
	ck_assert_int_eq(INT(c, "XLEN", EVENTS), 1);
	ck_assert_int_eq(sold_of(c), 1);
	ck_assert_int_eq(user_orders(c, "alice"), 1);
	/* Expired: still -9, and the expiry stands. */
	ck_assert_int_eq(expire(c), 1);
	ck_assert_int_eq(pay(c, "alice", b.order, NULL), -9);
	ck_assert_str_eq(field(c, b.order, "status", buf, sizeof(buf)),
	    "expired");
	ck_assert_int_eq(sold_of(c), 0);
	ck_assert_int_eq(events(c, "paid", NULL), 0);
	/* Another user's expired order is no order to them: not -9. */
	ck_assert_int_eq(pay(c, "bob", b.order, NULL), -7);
	assert_invariant(c);
	stop(c);
}
END_TEST

/* ---- expire.lua --------------------------------------------------------- */

START_TEST(test_expire_only_overdue)
{
	redisContext	*c = start();
	struct buy	 due, later, paid;
	char		 buf[64];

	sale(c, "100", "0");
	due = buy(c, "due", SHORT_PAY_MS, 1);
	later = buy(c, "later", LONG_PAY_MS, 1);
	paid = buy(c, "paid", SHORT_PAY_MS, 1);
	ck_assert_int_eq(pay(c, "paid", paid.order, NULL), 1);
	ck_assert_int_eq(expire(c), 0);		/* nothing due yet */
	ck_assert_int_eq(sold_of(c), 3);
	while (redis_ms(c) <= due.pay_by || redis_ms(c) <= paid.pay_by)
		rig_sleep_ms(20);
	ck_assert_int_eq(expire(c), 1);
	ck_assert_str_eq(field(c, due.order, "status", buf, sizeof(buf)),
	    "expired");
	ck_assert_msg(atoll(field(c, due.order, "ended", buf, sizeof(buf))) >=
	    due.pay_by, "ended before pay_by");
	ck_assert_int_eq(INT(c, "ZSCORE", PENDING, due.order), -1);
	ck_assert_int_eq(user_orders(c, "due"), 0);
	ck_assert_int_eq(events(c, "expired", due.order), 1);
	ck_assert_str_eq(field(c, later.order, "status", buf, sizeof(buf)),
	    "pending");
	ck_assert_int_eq(INT(c, "ZSCORE", PENDING, later.order), later.pay_by);
	ck_assert_str_eq(field(c, paid.order, "status", buf, sizeof(buf)),
	    "paid");
	ck_assert_int_eq(user_orders(c, "paid"), 1);
	ck_assert_int_eq(sold_of(c), 2);
	/* Twice: nothing more. */
	ck_assert_int_eq(expire(c), 0);
	ck_assert_int_eq(sold_of(c), 2);
	ck_assert_int_eq(events(c, "expired", NULL), 1);
	/*
	 * A paid order never expires, even if its id were still in the
	 * pending set: the status decides.
	 */
	DO(c, "ZADD", PENDING, "0", paid.order);
	ck_assert_int_eq(expire(c), 0);
	ck_assert_str_eq(field(c, paid.order, "status", buf, sizeof(buf)),
	    "paid");
	ck_assert_int_eq(INT(c, "ZSCORE", PENDING, paid.order), -1);
	ck_assert_int_eq(sold_of(c), 2);
	ck_assert_int_eq(events(c, "expired", paid.order), 0);
	/* Nor does an expired one again. */
	DO(c, "ZADD", PENDING, "0", due.order);
	ck_assert_int_eq(expire(c), 0);
	ck_assert_int_eq(sold_of(c), 2);
	ck_assert_int_eq(events(c, "expired", NULL), 1);
	assert_invariant(c);
	stop(c);
}
END_TEST

/* The batch limit is honoured; the rest waits for the next call. */
START_TEST(test_expire_batch)
{
	redisContext	*c = start();
	struct buy	 b;
	char		 user[16];

	sale(c, "100", "0");
	for (int i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "b%d", i);
		b = buy(c, user, 1, 1);
		ck_assert_int_eq(b.status, 1);
	}
	while (redis_ms(c) <= b.pay_by)
		rig_sleep_ms(5);
	ck_assert_int_eq(expire_batch(c, "4"), 4);
	ck_assert_int_eq(sold_of(c), 6);
	ck_assert_int_eq(expire_batch(c, "4"), 4);
	ck_assert_int_eq(expire_batch(c, "4"), 2);
	ck_assert_int_eq(expire_batch(c, "4"), 0);
	ck_assert_int_eq(sold_of(c), 0);
	assert_invariant(c);
	stop(c);
}
END_TEST

/* One expirer thread: its own connection, until nothing is left. */
struct expirer {
	pthread_t		 thread;
	int			 port;
	pthread_barrier_t	*go;
	long long		 expired;
	long long		 calls;
	char			 err[128];
};

static void *
expirer_main(void *arg)
{
	struct expirer	*e = arg;
	struct timeval	 tv = { 5, 0 };
	redisContext	*c;
	redisReply	*rep;

	c = redisConnectWithTimeout("127.0.0.1", e->port, tv);
	pthread_barrier_wait(e->go);
	if (c == NULL || c->err) {
		snprintf(e->err, sizeof(e->err), "connect failed");
		redisFree(c);
		return NULL;
	}
	for (;;) {
		rep = redisCommand(c, "EVAL %s 6 %s %s %s %s %s %s %s %s %s "
		    "%s %s", lua_expire, K, PENDING, EVENTS, DUE, CHANGES, SEQ,
		    SOLD, K, EXPIRE_BATCH, RETENTION_MS, MAX_LEN);
		if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
			snprintf(e->err, sizeof(e->err), "EVAL: %.100s",
			    rep ? rep->str : c->errstr);
			if (rep)
				freeReplyObject(rep);
			break;
		}
		e->calls++;
		e->expired += rep->integer;
		if (rep->integer == 0) {
			freeReplyObject(rep);
			break;
		}
		freeReplyObject(rep);
	}
	redisFree(c);
	return NULL;
}

/*
 * Many connections expire the same overdue orders at once: each order is
 * expired once, its ticket returned once, one event each.
 */
START_TEST(test_expire_concurrent)
{
	redisContext		*c = start();
	struct expirer		 ex[EXPIRE_THREADS];
	pthread_barrier_t	 go;
	struct buy		 b;
	redisReply		*rep;
	char			 user[16];
	int			*seen;
	long long		 sum = 0;

	sale(c, "1000", "0");
	for (int i = 0; i < EXPIRE_ORDERS; i++) {
		snprintf(user, sizeof(user), "c%d", i);
		b = buy(c, user, 1, 1);
		ck_assert_int_eq(b.status, 1);
	}
	/* Ten more that are not due. */
	for (int i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "n%d", i);
		ck_assert_int_eq(buy(c, user, LONG_PAY_MS, 1).status, 1);
	}
	while (redis_ms(c) <= b.pay_by)
		rig_sleep_ms(5);
	pthread_barrier_init(&go, NULL, EXPIRE_THREADS);
	for (int i = 0; i < EXPIRE_THREADS; i++) {
		memset(&ex[i], 0, sizeof(ex[i]));
		ex[i].port = rig.redis.port;
		ex[i].go = &go;
		ck_assert(pthread_create(&ex[i].thread, NULL, expirer_main,
		    &ex[i]) == 0);
	}
	for (int i = 0; i < EXPIRE_THREADS; i++) {
		pthread_join(ex[i].thread, NULL);
		ck_assert_msg(ex[i].err[0] == '\0', "expirer %d: %s", i,
		    ex[i].err);
		sum += ex[i].expired;
	}
	pthread_barrier_destroy(&go);
	ck_assert_int_eq(sum, EXPIRE_ORDERS);
	ck_assert_int_eq(sold_of(c), 10);
	ck_assert_int_eq(INT(c, "ZCARD", PENDING), 10);
	/* One "expired" event per order, for the due orders only. */
	ck_assert_ptr_nonnull(seen = calloc(EXPIRE_ORDERS + 11, sizeof(int)));
	rep = CMD(c, "XRANGE", EVENTS, "-", "+");
	for (size_t i = 0; i < rep->elements; i++) {
		redisReply	*f = rep->element[i]->element[1];

		if (strcmp(f->element[1]->str, "expired") != 0)
			continue;
		ck_assert_str_eq(f->element[2]->str, "order");
		ck_assert_str_eq(f->element[4]->str, "user");
		/* Order ids are random: the due ones are told by user cN. */
		const char *who = f->element[5]->str;
		long id = who[0] == 'c' ? atol(who + 1) : -1;

		ck_assert_msg(id >= 0 && id < EXPIRE_ORDERS, "order %s of %s "
		    "expired", f->element[3]->str, who);
		seen[id]++;
	}
	freeReplyObject(rep);
	for (int id = 0; id < EXPIRE_ORDERS; id++)
		ck_assert_msg(seen[id] == 1, "order %d: %d expired events", id,
		    seen[id]);
	free(seen);
	/* Run again from here: nothing left to return. */
	ck_assert_int_eq(expire(c), 0);
	ck_assert_int_eq(sold_of(c), 10);
	assert_invariant(c);
	stop(c);
}
END_TEST

/* Once the order expired, its user may buy again: a new order. */
START_TEST(test_expire_then_buy_again)
{
	redisContext	*c = start();
	struct buy	 a, b;
	char		 buf[64];

	sale(c, "1", "0");
	a = buy(c, "alice", 100, 1);
	ck_assert_int_eq(a.status, 1);
	ck_assert_int_eq(buy(c, "alice", 100, 1).status, 2);
	ck_assert_int_eq(buy(c, "bob", 100, 1).status, 0);	/* sold out */
	while (redis_ms(c) <= a.pay_by)
		rig_sleep_ms(20);
	ck_assert_int_eq(expire(c), 1);
	ck_assert_int_eq(sold_of(c), 0);
	b = buy(c, "alice", LONG_PAY_MS, 1);
	ck_assert_int_eq(b.status, 1);
	ck_assert_str_ne(b.order, a.order);
	ck_assert_str_eq(rig_redis_str_free(CMD(c, "GET", K ":last:alice"), buf,
	    sizeof(buf)), b.order);
	ck_assert_int_eq(user_orders(c, "alice"), 1);
	ck_assert_int_eq(sold_of(c), 1);
	ck_assert_int_eq(events(c, "created", NULL), 2);
	ck_assert_int_eq(events(c, "expired", NULL), 1);
	assert_invariant(c);
	stop(c);
}
END_TEST

/* ---- order.lua ---------------------------------------------------------- */

static redisReply *
order_of(redisContext *c, const char *user)
{
	redisReply	*rep = CMD(c, "EVAL", lua_order, "0", K, user);

	ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
	return rep;
}

static void
expect_order(redisContext *c, const char *user, const char *order,
    const char *status, long long pay_by)
{
	redisReply	*rep = order_of(c, user);

	ck_assert_int_eq(rep->elements, 3);
	ck_assert_str_eq(rep->element[0]->str, order);
	ck_assert_str_eq(rep->element[1]->str, status);
	ck_assert_int_eq(as_int(rep->element[2]), pay_by);
	freeReplyObject(rep);
}

START_TEST(test_order)
{
	redisContext	*c = start();
	struct buy	 a, b;
	redisReply	*rep;

	sale(c, "100", "0");
	rep = order_of(c, "alice");
	ck_assert_int_eq(rep->elements, 0);
	freeReplyObject(rep);
	a = buy(c, "alice", LONG_PAY_MS, 2);
	expect_order(c, "alice", a.order, "pending", a.pay_by);
	b = buy(c, "alice", 100, 2);
	expect_order(c, "alice", b.order, "pending", b.pay_by);	/* latest */
	ck_assert_int_eq(pay(c, "alice", a.order, NULL), 1);
	expect_order(c, "alice", b.order, "pending", b.pay_by);
	while (redis_ms(c) <= b.pay_by)
		rig_sleep_ms(20);
	ck_assert_int_eq(expire(c), 1);
	expect_order(c, "alice", b.order, "expired", b.pay_by);
	/* Others see only their own. */
	rep = order_of(c, "bob");
	ck_assert_int_eq(rep->elements, 0);
	freeReplyObject(rep);
	b = buy(c, "bob", LONG_PAY_MS, 1);
	ck_assert_int_eq(pay(c, "bob", b.order, NULL), 1);
	expect_order(c, "bob", b.order, "paid", b.pay_by);
	stop(c);
}
END_TEST

/* ---- sync.lua ----------------------------------------------------------- */

/* sync.lua from the change last, reading at most batch changed items. */
static redisReply *
sync_from(redisContext *c, const char *self, const char *window,
    const char *last, const char *batch)
{
	redisReply	*rep = CMD(c, "EVAL", lua_sync, "5", K, LIVE, CHANGES,
			    ITEMS, SEQ, TOTAL, SOLD, self, window, last, batch,
			    K);

	ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_ge(rep->elements, SYNC_HEAD);
	return rep;
}

static redisReply *
sync_as(redisContext *c, const char *self, const char *window)
{
	return sync_from(c, self, window, "0", "1000");
}

/* Is addr among the live addresses of a sync reply? */
static bool
live_in(const redisReply *rep, const char *addr)
{
	size_t	 n = (size_t)rep->element[11]->integer;

	for (size_t i = SYNC_HEAD; i < SYNC_HEAD + n; i++)
		if (strcmp(rep->element[i]->str, addr) == 0)
			return true;
	return false;
}

START_TEST(test_sync)
{
	redisContext	*c = start();
	redisReply	*rep;
	long long	 before, after, beat;
	char		 score[32];

	/* No sale: exists 0, zeros, and still a heartbeat. */
	before = redis_ms(c);
	rep = sync_as(c, "127.0.0.1:1", "1000");
	after = redis_ms(c);
	ck_assert_int_eq(as_int(rep->element[0]), 0);
	ck_assert_int_eq(as_int(rep->element[1]), 0);
	ck_assert_int_eq(as_int(rep->element[2]), 0);
	ck_assert(live_in(rep, "127.0.0.1:1"));
	freeReplyObject(rep);
	beat = INT(c, "ZSCORE", LIVE, "127.0.0.1:1");
	ck_assert_msg(beat >= before && beat <= after, "heartbeat %lld not "
	    "within [%lld, %lld]", beat, before, after);
	/* Garbage is no sale either. */
	sale(c, "ten", "0");
	rep = sync_as(c, "127.0.0.1:1", "1000");
	ck_assert_int_eq(as_int(rep->element[0]), 0);
	freeReplyObject(rep);
	/* A sale; who is alive within the window. */
	sale(c, "100", "7");
	before = redis_ms(c);
	snprintf(score, sizeof(score), "%lld", before - 500);
	DO(c, "ZADD", LIVE, score, "127.0.0.1:2");		/* alive */
	snprintf(score, sizeof(score), "%lld", before - 5000);
	DO(c, "ZADD", LIVE, score, "127.0.0.1:3");		/* silent */
	snprintf(score, sizeof(score), "%lld", before - 200000);
	DO(c, "ZADD", LIVE, score, "127.0.0.1:4");		/* long gone */
	rep = sync_as(c, "127.0.0.1:1", "1000");
	ck_assert_int_eq(as_int(rep->element[0]), 1);
	ck_assert_int_eq(as_int(rep->element[1]), 100);
	ck_assert_int_eq(as_int(rep->element[2]), 7);
	ck_assert_int_eq(as_int(rep->element[11]), 2);	/* two alive */
	ck_assert_int_eq(rep->elements, SYNC_HEAD + 2);
	ck_assert(live_in(rep, "127.0.0.1:1"));
	ck_assert(live_in(rep, "127.0.0.1:2"));
	ck_assert(!live_in(rep, "127.0.0.1:3"));
	freeReplyObject(rep);
	/* Silent ones are kept a while; long-gone ones are pruned. */
	ck_assert_int_ne(INT(c, "ZSCORE", LIVE, "127.0.0.1:3"), -1);
	ck_assert_int_eq(INT(c, "ZSCORE", LIVE, "127.0.0.1:4"), -1);
	/* A wider window sees the silent one too. */
	rep = sync_as(c, "127.0.0.1:1", "10000");
	ck_assert(live_in(rep, "127.0.0.1:3"));
	freeReplyObject(rep);
	stop(c);
}
END_TEST

/* ---- buy.lua over many items ------------------------------------------ */

#define ITEM_A		K ITEM_KEY_INFIX "A"
#define ITEM_B		K ITEM_KEY_INFIX "B"
#define ITEMS_GROUP_MAX	8

/* One purchase of a group over items: the item's name, user, request. */
struct item_buy {
	const char	*item;
	const char	*user;
	const char	*req;
};

/* An item's key as item.c makes it: K itself for the default item. */
static void
key_of(const char *item, char *key, size_t keysz)
{
	if (strcmp(item, K) == 0)
		snprintf(key, keysz, "%s", K);
	else
		snprintf(key, keysz, K ITEM_KEY_INFIX "%s", item);
}

/*
 * A group of n purchases over items, sent as store.c sends it; returns
 * the statuses into status[] and the third element of each answer (the
 * pay_by, or the start of an item not started) into slot[].
 */
static void
buy_items(redisContext *c, const struct item_buy *b, size_t n,
    long long *status, long long *slot)
{
	static char	 keys[ITEMS_GROUP_MAX][ITEM_KEY_MAX];
	static char	 reqs[ITEMS_GROUP_MAX][STORE_REQ_KEY_MAX_TEST];
	static char	 ids[ITEMS_GROUP_MAX][STORE_ORDER_ID_MAX];
	const char	*argv[13 + 5 * ITEMS_GROUP_MAX];
	char		 nkeys[8];
	size_t		 argc = 0, i;
	redisReply	*rep;

	ck_assert_uint_le(n, ITEMS_GROUP_MAX);
	snprintf(nkeys, sizeof(nkeys), "%zu", n + 1);
	argv[argc++] = "EVAL";
	argv[argc++] = lua_buy;
	argv[argc++] = nkeys;
	argv[argc++] = EVENTS;
	for (i = 0; i < n; i++) {
		key_of(b[i].item, keys[i], sizeof(keys[i]));
		ck_assert_int_lt(snprintf(reqs[i], sizeof(reqs[i]),
		    "%s:req:%s:%s", keys[i], b[i].user, b[i].req),
		    sizeof(reqs[i]));
		snprintf(ids[i], sizeof(ids[i]), "%s", next_order_id());
		argv[argc++] = reqs[i];
	}
	argv[argc++] = TOTAL;
	argv[argc++] = SOLD;
	argv[argc++] = REQ_TTL;
	argv[argc++] = K;
	argv[argc++] = SELF;
	argv[argc++] = "60000";
	argv[argc++] = "1";
	argv[argc++] = MAX_LEN;
	argv[argc++] = LAST_TTL;
	for (i = 0; i < n; i++)
		argv[argc++] = b[i].user;
	for (i = 0; i < n; i++)
		argv[argc++] = ids[i];
	for (i = 0; i < n; i++)
		argv[argc++] = keys[i];
	for (i = 0; i < n; i++)
		argv[argc++] = b[i].item;
	rep = redisCommandArgv(c, (int)argc, argv, NULL);
	ck_assert_ptr_nonnull(rep);
	ck_assert_msg(rep->type == REDIS_REPLY_ARRAY &&
	    rep->elements == STORE_BUY_REPLY_TEST * n, "buy: reply type %d "
	    "(%s)", rep->type, rep->type == REDIS_REPLY_ERROR ? rep->str : "");
	for (i = 0; i < n; i++) {
		status[i] = as_int(rep->element[4 * i]);
		slot[i] = as_int(rep->element[4 * i + 2]);
	}
	freeReplyObject(rep);
}

/* The sold field of an item's hash. */
static long long
item_sold(redisContext *c, const char *key)
{
	return INT(c, "HGET", key, SOLD);
}

/*
 * One group over two items and the default: each sells exactly its own
 * total, in order, and the default item's keys stay as they were.
 */
START_TEST(test_items_group_exact)
{
	static const struct item_buy b[] = { { "A", "u1", "1" },
	    { "B", "u1", "2" }, { "A", "u2", "3" }, { "B", "u2", "4" },
	    { "A", "u3", "5" }, { K, "u1", "6" } };
	static const long long want[] = { 1, 1, 1, 0, 0, 1 };
	long long	 status[6], slot[6];
	redisContext	*c = start();

	DO(c, "HSET", ITEM_A, TOTAL, "2", SOLD, "0");
	DO(c, "HSET", ITEM_B, TOTAL, "1", SOLD, "0");
	sale(c, "5", "0");
	buy_items(c, b, 6, status, slot);
	for (size_t i = 0; i < 6; i++)
		ck_assert_msg(status[i] == want[i], "purchase %zu: status "
		    "%lld, want %lld", i, status[i], want[i]);
	ck_assert_int_eq(item_sold(c, ITEM_A), 2);
	ck_assert_int_eq(item_sold(c, ITEM_B), 1);
	ck_assert_int_eq(sold_of(c), 1);
	ck_assert_int_eq(INT(c, "ZCARD", ITEM_A ":pending"), 2);
	ck_assert_int_eq(INT(c, "ZCARD", ITEM_B ":user:u1"), 1);
	ck_assert_int_eq(INT(c, "ZCARD", K ":user:u1"), 1);
	stop(c);
}
END_TEST

/*
 * Before its start an item answers -2 with the start; paused or at its
 * end, -3; neither writes anything.  The per-user limit is the item's
 * own per_user, else the one passed.
 */
START_TEST(test_items_schedule)
{
	static const struct item_buy b[] = { { "A", "u1", "1" },
	    { "B", "u1", "2" }, { K, "u1", "3" } };
	long long	 status[3], slot[3], now, start_ms;
	char		 start_txt[32], end_txt[32];
	redisContext	*c = start();

	now = redis_ms(c);
	start_ms = now + 60000;
	snprintf(start_txt, sizeof(start_txt), "%lld", start_ms);
	snprintf(end_txt, sizeof(end_txt), "%lld", now - 1);
	DO(c, "HSET", ITEM_A, TOTAL, "5", SOLD, "0", "start_ms", start_txt);
	DO(c, "HSET", ITEM_B, TOTAL, "5", SOLD, "0", "paused", "1");
	sale(c, "5", "0");
	DO(c, "HSET", K, "end_ms", end_txt);
	buy_items(c, b, 3, status, slot);
	ck_assert_int_eq(status[0], -2);
	ck_assert_int_eq(slot[0], start_ms);
	ck_assert_int_eq(status[1], -3);
	ck_assert_int_eq(status[2], -3);
	ck_assert_int_eq(item_sold(c, ITEM_A), 0);
	ck_assert_int_eq(item_sold(c, ITEM_B), 0);
	ck_assert_int_eq(sold_of(c), 0);
	ck_assert_int_eq(INT(c, "EXISTS", SEQ), 0);
	ck_assert_int_eq(INT(c, "EXISTS", K ":req:u1:1"), 0);

	/* Resumed, started, end moved out: open, and per_user 2 on B. */
	DO(c, "HSET", ITEM_A, "start_ms", "0");
	DO(c, "HSET", ITEM_B, "paused", "0", "per_user", "2");
	DO(c, "HDEL", K, "end_ms");
	{
		static const struct item_buy again[] = { { "A", "u1", "4" },
		    { "A", "u1", "5" }, { "B", "u1", "6" },
		    { "B", "u1", "7" }, { "B", "u1", "8" } };
		static const long long want[] = { 1, 2, 1, 1, 2 };
		long long st[5], sl[5];

		buy_items(c, again, 5, st, sl);
		for (size_t i = 0; i < 5; i++)
			ck_assert_msg(st[i] == want[i], "purchase %zu: "
			    "status %lld, want %lld", i, st[i], want[i]);
	}
	ck_assert_int_eq(item_sold(c, ITEM_A), 1);
	ck_assert_int_eq(item_sold(c, ITEM_B), 2);
	stop(c);
}
END_TEST

/*
 * The change log: one INCR of K:seq and one ZADD to K:changes per item
 * that sold in the call, none for an item that sold nothing; the due set
 * holds each item with orders at its earliest pay_by (LT); the created
 * and paid events name their item.
 */
START_TEST(test_items_change_log_due_events)
{
	static const struct item_buy b[] = { { "A", "u1", "1" },
	    { "A", "u2", "2" }, { "B", "u1", "3" }, { "B", "u2", "4" },
	    { "A", "u3", "5" } };
	long long	 status[5], slot[5], seq, due_a;
	char		 order[STORE_ORDER_ID_MAX];
	redisContext	*c = start();
	redisReply	*rep;

	DO(c, "HSET", ITEM_A, TOTAL, "3", SOLD, "0");
	DO(c, "HSET", ITEM_B, TOTAL, "0", SOLD, "0");
	buy_items(c, b, 5, status, slot);
	ck_assert_int_eq(status[0], 1);
	ck_assert_int_eq(status[2], 0);		/* B: nothing to sell */
	seq = INT(c, "GET", SEQ);
	ck_assert_int_eq(seq, 1);		/* A once, B not */
	ck_assert_int_eq(INT(c, "ZSCORE", CHANGES, "A"), 1);
	ck_assert_int_eq(INT(c, "ZCARD", CHANGES), 1);
	due_a = INT(c, "ZSCORE", DUE, "A");
	ck_assert_int_eq(due_a, slot[0]);	/* the earliest pay_by */
	ck_assert_int_eq(INT(c, "ZCARD", DUE), 1);

	/* A later order does not move the due score later. */
	{
		static const struct item_buy later[] = { { "A", "u9", "9" } };
		long long st[1], sl[1];

		DO(c, "HSET", ITEM_A, TOTAL, "4");
		buy_items(c, later, 1, st, sl);
		ck_assert_int_eq(st[0], 1);
		ck_assert_int_ge(sl[0], due_a);
		ck_assert_int_eq(INT(c, "ZSCORE", DUE, "A"), due_a);
		ck_assert_int_eq(INT(c, "GET", SEQ), 2);
	}

	/* The created events name A; a payment's event names it too. */
	rep = CMD(c, "XRANGE", EVENTS, "-", "+");
	for (size_t i = 0; i < rep->elements; i++) {
		redisReply *f = rep->element[i]->element[1];
		bool named = false;

		for (size_t j = 0; j + 1 < f->elements; j += 2)
			named |= strcmp(f->element[j]->str, "item") == 0 &&
			    strcmp(f->element[j + 1]->str, "A") == 0;
		ck_assert_msg(named, "event %zu without item A", i);
	}
	freeReplyObject(rep);
	rig_redis_str_free(CMD(c, "GET", ITEM_A ":last:u1"), order,
	    sizeof(order));
	rep = CMD(c, "EVAL", lua_pay, "2", ITEM_A ":pending", EVENTS, ITEM_A,
	    "u1", order, RETENTION_MS, MAX_LEN, "A");
	ck_assert_int_eq(as_int(rep->element[0]), 1);
	freeReplyObject(rep);
	rep = CMD(c, "XREVRANGE", EVENTS, "+", "-", "COUNT", "1");
	{
		redisReply *f = rep->element[0]->element[1];
		bool paid = false, named = false;

		for (size_t j = 0; j + 1 < f->elements; j += 2) {
			paid |= strcmp(f->element[j + 1]->str, "paid") == 0;
			named |= strcmp(f->element[j]->str, "item") == 0 &&
			    strcmp(f->element[j + 1]->str, "A") == 0;
		}
		ck_assert(paid && named);
	}
	freeReplyObject(rep);
	stop(c);
}
END_TEST

/*
 * A retry of a request that bought (same request key) gets its ticket
 * after the item closed, and so does its user's repeat: the repeat is
 * checked before the schedule.
 */
START_TEST(test_items_repeat_after_close)
{
	static const struct item_buy first[] = { { "A", "u1", "r1" } };
	static const struct item_buy retry[] = { { "A", "u1", "r1" },
	    { "A", "u1", "r2" }, { "A", "u2", "r3" } };
	long long	 status[3], slot[3], pay_by;
	redisContext	*c = start();

	DO(c, "HSET", ITEM_A, TOTAL, "5", SOLD, "0");
	buy_items(c, first, 1, status, slot);
	ck_assert_int_eq(status[0], 1);
	pay_by = slot[0];
	DO(c, "HSET", ITEM_A, "paused", "1");
	buy_items(c, retry, 3, status, slot);
	ck_assert_int_eq(status[0], 2);		/* the same request */
	ck_assert_int_eq(slot[0], pay_by);
	ck_assert_int_eq(status[1], 2);		/* the same user */
	ck_assert_int_eq(status[2], -3);	/* a new buyer: closed */
	ck_assert_int_eq(item_sold(c, ITEM_A), 1);
	stop(c);
}
END_TEST

/*
 * store_buy itself (the argv store.c builds) over a group mixing the
 * default item and two others, one of them not started: each purchase
 * is sold or refused by its own item, the request keys are each item's,
 * and a not-started answer carries the start in opens_at.
 */
START_TEST(test_items_store_buy)
{
	static const char *const names[] = { K, "A", "B", "A" };
	struct item	 items[3];
	struct store_purchase p[4], *pp[4];
	struct conf	 conf;
	struct store	*st;
	long long	 start_ms;
	char		 start_txt[32], req[4][16];
	redisContext	*c = start();

	conf_defaults(&conf);
	snprintf(conf.redis, sizeof(conf.redis), "127.0.0.1:%d",
	    rig.redis.port);
	snprintf(conf.events_key, sizeof(conf.events_key), "%s", EVENTS);
	memset(items, 0, sizeof(items));
	for (size_t i = 0; i < 3; i++) {
		snprintf(items[i].name, sizeof(items[i].name), "%s", names[i]);
		ck_assert(item_key(&conf, names[i], items[i].key,
		    sizeof(items[i].key)));
	}
	ck_assert_str_eq(items[0].key, K);
	ck_assert_str_eq(items[1].key, ITEM_A);
	start_ms = redis_ms(c) + 60000;
	snprintf(start_txt, sizeof(start_txt), "%lld", start_ms);
	sale(c, "1", "0");
	DO(c, "HSET", ITEM_A, TOTAL, "1", SOLD, "0");
	DO(c, "HSET", ITEM_B, TOTAL, "9", SOLD, "0", "start_ms", start_txt);
	ck_assert_ptr_nonnull(st = store_new(&conf, SELF));
	for (size_t i = 0; i < 4; i++) {
		memset(&p[i], 0, sizeof(p[i]));
		p[i].item = &items[i < 3 ? i : 1];
		snprintf(req[i], sizeof(req[i]), "q%zu", i);
		p[i].request_id = req[i];
		p[i].user = i == 3 ? "u4" : "u1";
		pp[i] = &p[i];
	}
	ck_assert_msg(store_buy(st, pp, 4) == SPIKE_OK, "%s", store_error(st));
	ck_assert_int_eq(p[0].result, STORE_SOLD);
	ck_assert_int_eq(p[1].result, STORE_SOLD);
	ck_assert_int_eq(p[2].result, STORE_NOT_STARTED);
	ck_assert_int_eq(p[2].opens_at, start_ms);
	ck_assert_int_eq(p[3].result, STORE_SOLD_OUT);	/* A had one */
	ck_assert_int_eq(INT(c, "EXISTS", K ":req:u1:q0"), 1);
	ck_assert_int_eq(INT(c, "EXISTS", ITEM_A ":req:u1:q1"), 1);
	ck_assert_int_eq(INT(c, "ZCARD", K ":changes"), 2);
	store_free(st);
	stop(c);
}
END_TEST

/* Register item name with its hash and log the change, as init.lua does. */
static void
item_init(redisContext *c, const char *name, const char *total,
    const char *start_ms, const char *end_ms)
{
	char		 key[128];
	long long	 seq;
	char		 score[32];

	snprintf(key, sizeof(key), "%s:item:%s", K, name);
	DO(c, "HSET", key, TOTAL, total, SOLD, "0", "start_ms", start_ms,
	    "end_ms", end_ms);
	DO(c, "ZADD", ITEMS, start_ms, name);
	seq = INT(c, "INCR", SEQ);
	snprintf(score, sizeof(score), "%lld", seq);
	DO(c, "ZADD", CHANGES, score, name);
}

/* Log a change of name without registering it, as a removed item's. */
static void
log_change(redisContext *c, const char *name)
{
	char	 score[32];

	snprintf(score, sizeof(score), "%lld", INT(c, "INCR", SEQ));
	DO(c, "ZADD", CHANGES, score, name);
}

/* The changed items of a sync reply, names joined by spaces. */
static void
changed_names(const redisReply *rep, char *buf, size_t bufsz)
{
	size_t	 i = SYNC_HEAD + (size_t)rep->element[11]->integer;

	buf[0] = '\0';
	for (; i + 7 <= rep->elements; i += 7)
		snprintf(buf + strlen(buf), bufsz - strlen(buf), "%s%s",
		    buf[0] ? " " : "", rep->element[i]->str);
}

/*
 * The change log: the first read from 0 names every registered item with
 * its numbers; a read from the last change names none; a later change
 * names only its item; a logged item not registered is skipped, but the
 * cursor passes it; Redis's TIME and D:seq come back.
 */
START_TEST(test_sync_changes)
{
	redisContext	*c = start();
	redisReply	*rep;
	char		 names[256], last[32];
	long long	 before = redis_ms(c), at;
	size_t		 i;

	item_init(c, "a", "10", "0", "0");
	item_init(c, "b", "20", "1900000000000", "1900000060000");
	log_change(c, "gone");
	rep = sync_as(c, SELF, "1000");
	at = as_int(rep->element[6]) * 1000 + as_int(rep->element[7]) / 1000;
	ck_assert_msg(at >= before && at <= redis_ms(c), "TIME %lld", at);
	ck_assert_int_eq(as_int(rep->element[8]), 3);	/* D:seq */
	ck_assert_int_eq(as_int(rep->element[9]), 3);	/* last read */
	ck_assert_int_eq(as_int(rep->element[10]), 0);	/* no more */
	changed_names(rep, names, sizeof(names));
	ck_assert_str_eq(names, "a b");
	i = SYNC_HEAD + (size_t)as_int(rep->element[11]) + 7 + 1; /* b's */
	ck_assert_int_eq(as_int(rep->element[i]), 1);
	ck_assert_int_eq(as_int(rep->element[i + 1]), 20);
	ck_assert_int_eq(as_int(rep->element[i + 2]), 0);
	ck_assert_int_eq(as_int(rep->element[i + 3]), 1900000000000LL);
	ck_assert_int_eq(as_int(rep->element[i + 4]), 1900000060000LL);
	ck_assert_int_eq(as_int(rep->element[i + 5]), 0);
	freeReplyObject(rep);
	/* Nothing changed since: nothing named. */
	rep = sync_from(c, SELF, "1000", "3", "1000");
	changed_names(rep, names, sizeof(names));
	ck_assert_str_eq(names, "");
	ck_assert_int_eq(as_int(rep->element[9]), 3);
	freeReplyObject(rep);
	/* b paused: b alone, paused 1. */
	DO(c, "HSET", K ":item:b", "paused", "1");
	log_change(c, "b");
	rep = sync_from(c, SELF, "1000", "3", "1000");
	changed_names(rep, names, sizeof(names));
	ck_assert_str_eq(names, "b");
	ck_assert_int_eq(as_int(rep->element[rep->elements - 1]), 1);
	snprintf(last, sizeof(last), "%lld", as_int(rep->element[9]));
	ck_assert_str_eq(last, "4");
	freeReplyObject(rep);
	stop(c);
}
END_TEST

/*
 * A read is bounded: with more changed items than the batch, it names
 * the batch and says more; reading on from its last names the rest.
 */
START_TEST(test_sync_bounded)
{
	redisContext	*c = start();
	redisReply	*rep;
	char		 name[16], names[256], last[32] = "0";
	int		 i, seen = 0, calls = 0;
	long long	 more = 1;

	for (i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "i%d", i);
		item_init(c, name, "5", "0", "0");
	}
	while (more) {
		rep = sync_from(c, SELF, "1000", last, "3");
		changed_names(rep, names, sizeof(names));
		more = as_int(rep->element[10]);
		seen += *names ? (int)(strlen(names) + 1) / 3 : 0;
		snprintf(last, sizeof(last), "%lld", as_int(rep->element[9]));
		ck_assert_msg(++calls <= 4, "calls %d", calls);
		freeReplyObject(rep);
	}
	ck_assert_int_eq(seen, 7);
	ck_assert_int_eq(calls, 3);	/* 3 + 3 + 1 */
	stop(c);
}
END_TEST

/*
 * expire.lua walks the due set: an item's overdue order expires under
 * the item's key, its ticket comes back, the event names the item, the
 * due entry follows the next pending order (or goes), and the change log
 * names the item.
 */
START_TEST(test_expire_due_items)
{
	redisContext	*c = start();
	char		 past[32], later[32];
	long long	 now = redis_ms(c), seq;
	redisReply	*rep;

	snprintf(past, sizeof(past), "%lld", now - 1000);
	snprintf(later, sizeof(later), "%lld", now + 600000);
	DO(c, "HSET", K ":item:x", TOTAL, "10", SOLD, "2");
	DO(c, "HSET", K ":item:x:order:o1", "user", "u1", "status", "pending");
	DO(c, "HSET", K ":item:x:order:o2", "user", "u2", "status", "pending");
	DO(c, "ZADD", K ":item:x:pending", past, "o1");
	DO(c, "ZADD", K ":item:x:pending", later, "o2");
	DO(c, "ZADD", K ":item:x:user:u1", past, "o1");
	DO(c, "ZADD", DUE, past, "x");
	DO(c, "ZADD", DUE, later, "notdue");
	ck_assert_int_eq(expire(c), 1);
	ck_assert_int_eq(INT(c, "HGET", K ":item:x", SOLD), 1);
	rep = CMD(c, "HGET", K ":item:x:order:o1", "status");
	ck_assert_str_eq(rep->str, "expired");
	freeReplyObject(rep);
	ck_assert_int_eq(INT(c, "ZCARD", K ":item:x:user:u1"), 0);
	ck_assert_int_eq(INT(c, "ZSCORE", DUE, "x"), now + 600000);
	seq = INT(c, "GET", SEQ);
	ck_assert_int_eq(INT(c, "ZSCORE", CHANGES, "x"), seq);
	rep = CMD(c, "XREVRANGE", EVENTS, "+", "-", "COUNT", "1");
	ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
	ck_assert_int_eq(rep->element[0]->element[1]->elements, 8);
	ck_assert_str_eq(rep->element[0]->element[1]->element[6]->str, "item");
	ck_assert_str_eq(rep->element[0]->element[1]->element[7]->str, "x");
	freeReplyObject(rep);
	/* Nothing due now: nothing expires, nothing logged. */
	ck_assert_int_eq(expire(c), 0);
	ck_assert_int_eq(INT(c, "GET", SEQ), seq);
	/* Once o2 is gone (paid), x leaves the due set. */
	DO(c, "ZREM", K ":item:x:pending", "o2");
	DO(c, "ZADD", DUE, past, "x");
	ck_assert_int_eq(expire(c), 0);
	ck_assert_int_eq(INT(c, "ZSCORE", DUE, "x"), -1);
	stop(c);
}
END_TEST

static Suite *
lua_suite(void)
{
	Suite	*s = suite_create("lua");
	TCase	*tc;

	tc = tcase_create("buy");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_buy_sells_exactly_the_stock);
	tcase_add_test(tc, test_buy_group);
	tcase_add_test(tc, test_buy_refuses_bad_hash);
	tcase_add_test(tc, test_buy_request_dedup);
	tcase_add_test(tc, test_buy_repeat_status);
	tcase_add_test(tc, test_buy_user_limit_1);
	tcase_add_test(tc, test_buy_user_limit_2);
	tcase_add_test(tc, test_buy_anonymous);
	tcase_add_test(tc, test_buy_order_records);
	suite_add_tcase(s, tc);

	tc = tcase_create("items");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_items_group_exact);
	tcase_add_test(tc, test_items_schedule);
	tcase_add_test(tc, test_items_change_log_due_events);
	tcase_add_test(tc, test_items_repeat_after_close);
	tcase_add_test(tc, test_items_store_buy);
	suite_add_tcase(s, tc);

	tc = tcase_create("pay");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_pay);
	tcase_add_test(tc, test_pay_too_late);
	suite_add_tcase(s, tc);

	tc = tcase_create("expire");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_expire_only_overdue);
	tcase_add_test(tc, test_expire_batch);
	tcase_add_test(tc, test_expire_concurrent);
	tcase_add_test(tc, test_expire_then_buy_again);
	suite_add_tcase(s, tc);

	tc = tcase_create("order_sync");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_sync);
	tcase_add_test(tc, test_sync_changes);
	tcase_add_test(tc, test_sync_bounded);
	tcase_add_test(tc, test_expire_due_items);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(lua_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
