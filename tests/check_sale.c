/*
 * Integration: a sale through the nginx snippet spikectl nginx-conf
 * writes and four real spike-fcgi instances (weights 1:2:3:4) on a real
 * Redis.  Exactly the stock is sold, requests spread by weight, and
 * stat.log has one line per answered request.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "rig_ck.h"

#define SALE_TOTAL	2000
#define SALE_REQUESTS	5000
#define SPREAD_STOCK	100000
#define SPREAD_REQUESTS	4000
#define LOAD_CONNS	32
#define LOAD_DEADLINE_MS budget_ms(60000)	/* bound by no timeout */
#define SPREAD_PERCENT	5

/*
 * Start the whole rig, or fail the test saying why.  Every request must
 * buy here, so Redis gets the time a sanitizer build on a loaded machine
 * may need; timeouts have tests of their own (check_faults).
 */
static void
start(struct rig *r, long long total)
{
	struct rig_options opt = {
		.redis_timeout_ms = BUDGET_PATIENT_REDIS_MS
	};

	rig_ck_start(r, &opt, total);
}

/* Send total GETs over LOAD_CONNS connections; every one must be answered. */
static void
run_load(struct rig *r, struct rig_load *l, unsigned int total, bool unique)
{
	struct rig_load_spec spec = rig_load_plan(r, LOAD_CONNS, total, unique,
	    LOAD_DEADLINE_MS);
	char	 sum[1024];

	ck_assert_msg(rig_load_start(l, &spec), "cannot start load threads");
	rig_load_wait(l);
	ck_assert_msg(l->failed == 0 && l->answered == total,
	    "not every request was answered: %s",
	    rig_load_summary(l, sum, sizeof(sum)));
}

/* Stop the instances with SIGTERM (exit 0, stat.log flushed). */
static void
term_instances(struct rig *r)
{
	ck_assert_msg(rig_instances_term(r, BUDGET_TERM_MS), "%s", r->err);
}

START_TEST(test_exact_sale)
{
	struct rig	 r;
	struct rig_load	 l;
	long long	 total = 0, sold = 0;
	char		 sum[1024];

	start(&r, SALE_TOTAL);
	run_load(&r, &l, SALE_REQUESTS, true);
	rig_load_summary(&l, sum, sizeof(sum));
	ck_assert_msg(rig_load_5xx(&l) == 0, "5xx answers: %s", sum);
	ck_assert_msg(rig_sale_get(&r, &total, &sold), "%s", r.err);
	ck_assert_msg(total == SALE_TOTAL && sold == SALE_TOTAL,
	    "Redis total %lld sold %lld, want %d sold: %s", total, sold,
	    SALE_TOTAL, sum);
	ck_assert_msg(rig_load_code(&l, 1) == SALE_TOTAL,
	    "code 1 answers %u, want %d: %s", rig_load_code(&l, 1),
	    SALE_TOTAL, sum);
	ck_assert_msg(rig_load_code(&l, -1) == SALE_REQUESTS - SALE_TOTAL,
	    "the rest must be sold out (code -1): %s", sum);
	term_instances(&r);
	/* Sold-out answers nginx gave itself reach stat.log too. */
	rig_stat_wait(&r, NULL, SALE_REQUESTS, BUDGET_NGINX_STAT_MS);
	ck_assert_int_eq(rig_stat_lines(&r, NULL), SALE_REQUESTS);
	ck_assert_int_eq(rig_stat_lines(&r, "result:1,"), SALE_TOTAL);
	ck_assert_int_eq(rig_stat_lines(&r, "result:-1,"),
	    SALE_REQUESTS - SALE_TOTAL);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

START_TEST(test_weight_spread)
{
	struct rig	 r;
	struct rig_load	 l;
	unsigned int	 wsum = 0;
	long		 want[RIG_INSTANCES], got[RIG_INSTANCES];
	char		 sum[1024], msg[512];
	size_t		 n = 0;
	bool		 ok = true;
	int		 i;

	start(&r, SPREAD_STOCK);
	for (i = 0; i < RIG_INSTANCES; i++)
		wsum += r.inst[i].weight;
	ck_assert_msg(wsum == 10 && r.inst[0].weight == 1 &&
	    r.inst[3].weight == 4, "the rig's weights are not 1:2:3:4");
	run_load(&r, &l, SPREAD_REQUESTS, false);
	ck_assert_msg(rig_load_code(&l, 1) == SPREAD_REQUESTS,
	    "every request must buy: %s", rig_load_summary(&l, sum,
	    sizeof(sum)));
	term_instances(&r);
	ck_assert_int_eq(rig_stat_lines(&r, NULL), SPREAD_REQUESTS);
	for (i = 0; i < RIG_INSTANCES; i++) {
		want[i] = (long)SPREAD_REQUESTS * r.inst[i].weight / wsum;
		got[i] = rig_stat_port_lines(&r, i);
		ok = ok && labs(got[i] - want[i]) * 100 <=
		    want[i] * SPREAD_PERCENT;
		n += (size_t)snprintf(msg + n, sizeof(msg) - n,
		    " port %d weight %u: %ld lines, want %ld;", r.inst[i].port,
		    r.inst[i].weight, got[i], want[i]);
	}
	ck_assert_msg(ok, "spread not within %d %% of the weights:%s",
	    SPREAD_PERCENT, msg);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/*
 * The default item's schedule, set in its hash: before its start a
 * purchase is 403, code -10, with opens_at; paused, 403, code -11;
 * nothing is sold meanwhile, and each refusal has its stat line.  Redis
 * has the last word (buy.lua checks by its own clock), so nothing sells
 * whether or not the instances have synced the change yet; what they
 * answer follows it within a sync.  An item not
 * on sale is 404, code -4; naming the default item is the default item.
 */
START_TEST(test_default_item_schedule)
{
	struct rig		 r;
	struct rig_reply	 a;
	struct redisContext	*c;
	long long		 start_ms, total = 0, sold = 0;
	char			 start_txt[32], want[64];
	double			 until;

	start(&r, 10);
	c = rig_ck_redis(&r);
	start_ms = rig_ck_redis_now_ms(c) + 3600000;
	snprintf(start_txt, sizeof(start_txt), "%lld", start_ms);
	freeReplyObject(RIG_CK_CMD(c, "HSET", RIG_STOCK_KEY, "start_ms",
	    start_txt));
	ck_assert(rig_get(&r, "/buy/ticket?user=early", &a));
	ck_assert_msg(a.status == 403 && a.code == -10, "%d %s", a.status,
	    a.body);
	snprintf(want, sizeof(want), "\"opens_at\":%lld}", start_ms);
	ck_assert_msg(strstr(a.body, want) != NULL, "%s", a.body);

	/* Until the instances sync, they still say -10 themselves. */
	freeReplyObject(RIG_CK_CMD(c, "HSET", RIG_STOCK_KEY, "start_ms", "0",
	    "paused", "1"));
	until = rig_now_ms() + BUDGET_UP_MS;
	do
		ck_assert(rig_get(&r, "/buy/ticket?user=paused", &a));
	while (a.code == -10 && rig_now_ms() < until);
	ck_assert_msg(a.status == 403 && a.code == -11, "%d %s", a.status,
	    a.body);

	ck_assert(rig_get(&r, "/buy/ticket?item=nope&user=x", &a));
	ck_assert_msg(a.status == 404 && a.code == -4, "%d %s", a.status,
	    a.body);
	ck_assert(rig_get(&r, "/stock?item=nope", &a));
	ck_assert_msg(a.status == 404 && a.code == -4, "%d %s", a.status,
	    a.body);

	/* Resumed: sells again once every instance has seen it. */
	freeReplyObject(RIG_CK_CMD(c, "HDEL", RIG_STOCK_KEY, "paused"));
	until = rig_now_ms() + BUDGET_UP_MS;
	do
		ck_assert(rig_get(&r, "/buy/ticket?item=" RIG_STOCK_KEY
		    "&user=later", &a));
	while (a.code == -11 && rig_now_ms() < until);
	ck_assert_msg(a.status == 200 && a.code == 1, "%d %s", a.status,
	    a.body);
	ck_assert_msg(rig_sale_get(&r, &total, &sold), "%s", r.err);
	ck_assert_int_eq(sold, 1);
	redisFree(c);
	term_instances(&r);
	/*
	 * A refusal may be nginx's own (the instances publish the item's
	 * state at the edge), whose line reaches its log a flush later.
	 */
	ck_assert_msg(rig_stat_wait(&r, "result:1,", 1, BUDGET_STAT_MS),
	    "%s", r.err);
	ck_assert_msg(rig_stat_wait(&r, "result:-10,", 1,
	    BUDGET_NGINX_STAT_MS), "%s", r.err);
	ck_assert_msg(rig_stat_wait(&r, "result:-11,", 1,
	    BUDGET_NGINX_STAT_MS), "%s", r.err);
	ck_assert_msg(rig_stat_wait(&r, "result:-4,", 2,
	    BUDGET_NGINX_STAT_MS), "%s", r.err);
	ck_assert_int_eq(rig_stat_lines(&r, "result:-4,"), 2);
	rig_stop(&r);
}
END_TEST

static Suite *
sale_suite(void)
{
	Suite	*s = suite_create("sale");
	TCase	*tc = tcase_create("sale");

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_exact_sale);
	tcase_add_test(tc, test_weight_spread);
	tcase_add_test(tc, test_default_item_schedule);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(sale_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
