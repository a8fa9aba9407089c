/*
 * Integration: Redis stays bounded over a sale that sells out and comes
 * back again and again (#13 defect 8).  With pay_timeout_s 1,
 * order_retention_s RET_S and events_max_len RET_MAX_LEN, RET_CYCLES
 * cycles each sell tickets through nginx to a wave of unique users, one
 * of whom pays, and let the rest expire.  After each cycle spikectl audit
 * finds the books right; from the warm-up cycle on, the keys of each kind
 * (orders, last:, req:), DBSIZE, XLEN and used_memory stay within bounds
 * that one cycle's leftovers would pass, where before retention every
 * cycle added RET_TOTAL orders, RET_TOTAL last: keys and twice as many
 * stream entries.
 */
#include "config.h"

#include <check.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "rig_ck.h"
#include "rig_private.h"

#define K		RIG_STOCK_KEY
#define CMD(c, ...)	RIG_CK_CMD(c, __VA_ARGS__)
#define RET_TOTAL	200
#define RET_CYCLES	8
#define RET_WARM	2	/* cycles before the figures are compared */
#define RET_S		2	/* order_retention_s */
#define RET_MAX_LEN	300	/* events_max_len */
#define RET_NODE	100	/* stream-node-max-entries: MAXLEN ~ slack */
#define RET_CONNS	8
#define RET_BUYERS	(4 * RET_TOTAL)	/* unique users of a wave */
/* Between a connection's requests: a wave spans several refills. */
#define RET_PAUSE_MS	10
#define RET_FIXED_KEYS	8	/* stock, events, pending, instances, ... */
/* used_memory may wander this much once nothing accumulates. */
#define RET_MEMORY_SLACK (128 * 1024)

/* What Redis holds after a cycle. */
struct figures {
	long long	 dbsize, xlen, memory, orders, last, req;
};

/* Keys matching pattern, counted with SCAN. */
static long long
count_keys(redisContext *c, const char *pattern)
{
	char		 cursor[32] = "0";
	redisReply	*rep;
	long long	 n = 0;

	do {
		rep = CMD(c, "SCAN", cursor, "MATCH", pattern, "COUNT",
		    "1000");
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		n += (long long)rep->element[1]->elements;
		freeReplyObject(rep);
	} while (strcmp(cursor, "0") != 0);
	return n;
}

/* used_memory from INFO memory. */
static long long
used_memory(redisContext *c)
{
	redisReply	*rep = CMD(c, "INFO", "memory");
	const char	*at = strstr(rep->str, "used_memory:");
	long long	 n;

	ck_assert(at != NULL);
	n = atoll(at + strlen("used_memory:"));
	freeReplyObject(rep);
	return n;
}

static void
measure(redisContext *c, struct figures *f)
{
	f->dbsize = rig_redis_int_free(CMD(c, "DBSIZE"), -1);
	f->xlen = rig_redis_int_free(CMD(c, "XLEN", K ":events"), -1);
	f->memory = used_memory(c);
	f->orders = count_keys(c, K ":order:*");
	f->last = count_keys(c, K ":last:*");
	f->req = count_keys(c, K ":req:*");
}

/* GET target (or POST form to it); the answer, which must be 200. */
static void
call(struct rig *r, const char *method, const char *target,
    const char *form, struct rig_reply *rep)
{
	struct rig_http	 h;
	char		 err[256];
	bool		 ok;

	rig_http_init(&h, r->http_port);
	ok = rig_http_request(&h, method, target, form ?
	    "application/x-www-form-urlencoded" : NULL, form, form ?
	    strlen(form) : 0, rep, err, sizeof(err));
	rig_http_close(&h);
	ck_assert_msg(ok, "%s %s: %s", method, target, err);
	ck_assert_msg(rep->status == 200 && rep->code == 1, "%s %s: %d %s",
	    method, target, rep->status, rep->body);
}

/* One buyer of the cycle buys and pays: that ticket stays sold. */
static void
buy_and_pay(struct rig *r, int cycle)
{
	struct rig_reply rep;
	char		 target[64], form[128], order[QUERY_ORDER_MAX + 1];
	const char	*at;

	snprintf(target, sizeof(target), "/buy/ticket?user=payer%d", cycle);
	call(r, "GET", target, NULL, &rep);
	at = strstr(rep.body, "\"order\":\"");
	ck_assert_msg(at != NULL, "%s", rep.body);
	snprintf(order, sizeof(order), "%.32s", at + 9);
	snprintf(form, sizeof(form), "user=payer%d&order=%s", cycle, order);
	call(r, "POST", "/pay", form, &rep);
}

/* Wait until the sale's sold count is want (orders expired). */
static void
sold_wait(struct rig *r, long long want, unsigned int within_ms)
{
	double		 end = rig_now_ms() + within_ms;
	long long	 sold;

	while ((sold = rig_ck_sold(r)) != want) {
		ck_assert_msg(rig_now_ms() < end, "sold %lld, not %lld after "
		    "%u ms", sold, want, within_ms);
		rig_sleep_ms(100);
	}
}

/*
 * A wave of RET_BUYERS unique users through nginx, paced over about a
 * second, so that the instances' quotas are refilled.  It need not sell
 * out (an instance whose quota waits for a refill answers sold out,
 * spike-fcgi(8), "Sync and undersell", and the first orders expire a
 * second later), but it must sell a good part of the stock, each ticket
 * once: Redis's sold count is the paid ones and those bought now.
 */
static void
buy_wave(struct rig *r, long long paid)
{
	struct rig_load_spec spec;
	struct rig_load	 l;
	char		 sum[1024];
	long long	 bought, sold;

	spec = rig_load_plan(r, RET_CONNS, RET_BUYERS, true, budget_ms(60000));
	spec.pause_ms = RET_PAUSE_MS;
	ck_assert_msg(rig_load_start(&l, &spec), "cannot start the load");
	rig_load_wait(&l);
	bought = rig_load_code(&l, 1);
	sold = rig_ck_sold(r);
	printf("check_retention: a wave bought %lld\n", bought);
	rig_load_summary(&l, sum, sizeof(sum));
	ck_assert_msg(bought >= RET_TOTAL / 4, "%s", sum);
	ck_assert_msg(sold <= paid + bought && sold <= RET_TOTAL, "sold %lld "
	    "after %lld paid and %lld bought: %s", sold, paid, bought, sum);
}

/* Compare a cycle's figures with the warm-up cycle's; print them. */
static void
check_bounded(int cycle, const struct figures *f, const struct figures *w)
{
	printf("check_retention: cycle %d: dbsize %lld, orders %lld, "
	    "last %lld, req %lld, xlen %lld, used_memory %lld\n", cycle,
	    f->dbsize, f->orders, f->last, f->req, f->xlen, f->memory);
	ck_assert_msg(f->xlen <= RET_MAX_LEN + RET_NODE, "xlen %lld",
	    f->xlen);
	/* What at most two cycles inside the retention leave. */
	ck_assert_msg(f->orders <= 2 * RET_TOTAL + RET_CYCLES, "orders %lld",
	    f->orders);
	ck_assert_msg(f->last <= 2 * RET_TOTAL + RET_CYCLES, "last %lld",
	    f->last);
	ck_assert_msg(f->req <= 2 * (RET_TOTAL + 1), "req %lld", f->req);
	/*
	 * An order's keys (order, last:, req:, its user's set) for those
	 * two cycles: not relative to the warm-up, whose figure may be
	 * taken just after every order's retention ran out.
	 */
	ck_assert_msg(f->dbsize <= 4 * (2 * RET_TOTAL + RET_CYCLES) +
	    RET_FIXED_KEYS, "dbsize %lld", f->dbsize);
	ck_assert_msg(f->memory <= w->memory + RET_MEMORY_SLACK,
	    "used_memory %lld, at most %lld in the warm-up", f->memory,
	    w->memory);
}

START_TEST(test_bounded_over_cycles)
{
	struct rig	 r;
	struct figures	 f, warm;
	redisContext	*c;
	char		 extra[256];
	struct rig_options opt = {
		.sync_ms = 100,
		.redis_timeout_ms = BUDGET_PATIENT_REDIS_MS,
	};
	int		 cycle;

	snprintf(extra, sizeof(extra), "pay_timeout_s = 1\n"
	    "order_retention_s = %d\nevents_max_len = %d\n", RET_S,
	    RET_MAX_LEN);
	opt.conf_extra = extra;
	rig_ck_start(&r, &opt, RET_TOTAL);
	c = rig_ck_redis(&r);
	memset(&warm, 0, sizeof(warm));
	for (cycle = 0; cycle < RET_CYCLES; cycle++) {
		buy_and_pay(&r, cycle);
		buy_wave(&r, cycle + 1);
		sold_wait(&r, cycle + 1, budget_ms(10000));
		rig_ck_audit(&r);
		/* Past the retention of the orders before the last cycle's. */
		rig_sleep_ms(budget_ms(1000));
		measure(c, &f);
		if (cycle <= RET_WARM && f.memory > warm.memory)
			warm = f;
		if (cycle >= RET_WARM)
			check_bounded(cycle, &f, &warm);
	}
	redisFree(c);
	rig_stop(&r);
}
END_TEST

static Suite *
retention_suite(void)
{
	Suite	*s = suite_create("retention");
	TCase	*tc = tcase_create("retention");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_bounded_over_cycles);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(retention_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
