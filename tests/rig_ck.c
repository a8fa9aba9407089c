/*
 * The rig's calls as Check assertions (rig_ck.h).
 */
#include "config.h"

#include <check.h>

#include <stdio.h>
#include <stdlib.h>

#include <hiredis/hiredis.h>

#include "rig_ck.h"
#include "rig_private.h"

/* Start the whole rig: Redis with a sale of total, instances, nginx. */
void
rig_ck_start(struct rig *r, const struct rig_options *opt, long long total)
{
	ck_assert_msg(rig_start(r, opt, total), "rig: %s", r->err);
}

/* Every instance must still run; fails naming the dead one. */
void
rig_ck_all_alive(struct rig *r)
{
	for (int i = 0; i < RIG_INSTANCES; i++)
		ck_assert_msg(rig_instance_alive(r, i), "%s", r->err);
}

/* Redis's sold count. */
long long
rig_ck_sold(struct rig *r)
{
	long long	 total, sold;

	ck_assert_msg(rig_sale_get(r, &total, &sold), "%s", r->err);
	return sold;
}

/* Orders made: the KEY:order:ID hashes of the rig's sale. */
long long
rig_ck_orders_made(redisContext *c)
{
	redisReply	*rep = RIG_CK_CMD(c, "KEYS", RIG_STOCK_KEY ":order:*");
	long long	 n;

	ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
	n = (long long)rep->elements;
	freeReplyObject(rep);
	return n;
}

/* Wait until every instance has logged needle want times, within_ms. */
void
rig_ck_logs_wait(struct rig *r, const char *needle, long want,
    double within_ms)
{
	double	 end = rig_now_ms() + within_ms;

	for (int i = 0; i < RIG_INSTANCES; i++)
		while (rig_instance_log_lines(r, i, needle) < want) {
			ck_assert_msg(rig_now_ms() < end, "instance %d: not "
			    "%ld lines with \"%s\"", i, want, needle);
			rig_sleep_ms(20);
		}
}

/* A connection of the test's own to the rig's Redis. */
redisContext *
rig_ck_redis(struct rig *r)
{
	redisContext	*c = rig_redis_connect(r);

	ck_assert_msg(c != NULL, "%s", r->err);
	return c;
}

/* One command; fails on a transport error or an error reply. */
redisReply *
rig_ck_cmd(redisContext *c, const char **argv, size_t argc)
{
	char		 err[RIG_ERR_MAX];
	redisReply	*rep;

	rep = rig_redis_argv(c, argv, argc, err, sizeof(err));
	ck_assert_msg(rep != NULL, "%s", err);
	return rep;
}

/*
 * Every user the load told "bought" (code 1) still has an order: GET
 * /order?user=[&item=] through nginx answers code 1 for each.  Returns how many
 * were checked.
 */
unsigned int
rig_ck_bought_are_orders(struct rig *r, struct rig_load *l)
{
	struct rig_http	 h;
	struct rig_reply rep;
	char		 target[256], err[256];
	const char	*prefix = l->spec.prefix ? l->spec.prefix : "user";
	unsigned int	 k, checked = 0;
	int		 n;

	ck_assert_msg(atomic_load(&l->bought_forgotten) == 0, "%u buyers past "
	    "the %u users a load remembers", atomic_load(&l->bought_forgotten),
	    RIG_LOAD_USERS_MAX);
	rig_http_nginx(&h, r);
	for (k = 0; k < l->spec.total && k < RIG_LOAD_USERS_MAX; k++) {
		if (!rig_load_bought(l, k))
			continue;
		n = snprintf(target, sizeof(target), "/order?user=%s%u", prefix,
		    k);
		if (l->spec.item != NULL)
			snprintf(target + n, sizeof(target) - (size_t)n,
			    "&item=%s", l->spec.item);
		ck_assert_msg(rig_http_request(&h, "GET", target, NULL, NULL, 0,
		    &rep, err, sizeof(err)), "%s: %s", target, err);
		ck_assert_msg(rep.status == 200 && rep.code == 1, "%s%u was "
		    "told it bought, but %s answers %d: %s", prefix, k, target,
		    rep.status, rep.body);
		checked++;
	}
	rig_http_close(&h);
	return checked;
}

/*
 * The sale's books must be right: spikectl audit (spikectl(1)) exits 0,
 * or the test fails with what it said.
 */
void
rig_ck_audit(struct rig *r)
{
	char	 out[RIG_PATH_MAX + 16], said[8192];
	size_t	 n = 0;
	FILE	*f;

	snprintf(out, sizeof(out), "%s/audit.out", r->dir);
	if (rig_spikectl(r, out, "audit", NULL))
		return;
	if ((f = fopen(out, "r")) != NULL) {
		n = fread(said, 1, sizeof(said) - 1, f);
		fclose(f);
	}
	said[n] = '\0';
	ck_abort_msg("%s\n%s", r->err, said);
}

/* Redis's clock in milliseconds (TIME), as the scripts read it. */
long long
rig_ck_redis_now_ms(redisContext *c)
{
	redisReply	*rep = RIG_CK_CMD(c, "TIME");
	long long	 ms;

	ck_assert_msg(rep->type == REDIS_REPLY_ARRAY && rep->elements == 2,
	    "redis TIME: not two numbers");
	ms = atoll(rep->element[0]->str) * 1000 +
	    atoll(rep->element[1]->str) / 1000;
	freeReplyObject(rep);
	return ms;
}

/*
 * Write order id of user, made now and pending until pay_by_ms, whole as
 * buy.lua writes one (the order, the pending set, the user's active
 * orders and last order, the created event, one more sold), in one
 * MULTI, as another instance's link would.
 */
void
rig_ck_order_by_hand(redisContext *c, const char *user, const char *id,
    long long pay_by_ms)
{
	char	 order[96], active[96], last[96], pay_by[32], now[32];

	snprintf(order, sizeof(order), RIG_STOCK_KEY ":order:%s", id);
	snprintf(active, sizeof(active), RIG_STOCK_KEY ":user:%s", user);
	snprintf(last, sizeof(last), RIG_STOCK_KEY ":last:%s", user);
	snprintf(now, sizeof(now), "%lld", rig_ck_redis_now_ms(c));
	snprintf(pay_by, sizeof(pay_by), "%lld", pay_by_ms);
	freeReplyObject(RIG_CK_CMD(c, "MULTI"));
	freeReplyObject(RIG_CK_CMD(c, "HINCRBY", RIG_STOCK_KEY,
	    RIG_SOLD_FIELD, "1"));
	freeReplyObject(RIG_CK_CMD(c, "HSET", order, "user", user, "created",
	    now, "status", "pending", "pay_by", pay_by));
	freeReplyObject(RIG_CK_CMD(c, "ZADD", RIG_STOCK_KEY ":pending", pay_by,
	    id));
	freeReplyObject(RIG_CK_CMD(c, "ZADD", active, now, id));
	freeReplyObject(RIG_CK_CMD(c, "SET", last, id));
	freeReplyObject(RIG_CK_CMD(c, "XADD", RIG_STOCK_KEY ":events", "*",
	    "event", "created", "order", id, "user", user, "pay_by", pay_by));
	freeReplyObject(RIG_CK_CMD(c, "EXEC"));
}
