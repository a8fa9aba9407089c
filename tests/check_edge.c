/*
 * Integration: sold out at the edge.  Once Redis says the sale is over,
 * nginx answers plain purchases itself (stat line "port:nginx") as soon
 * as the instances' next sync has put the flag file there; when tickets
 * come back it lets purchases through again after the next sync; bad
 * input still reaches an instance and gets its 400.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rig_ck.h"

#define EDGE_STOCK	20
/* The flag file follows Redis at the instances' next sync. */
#define EDGE_WITHIN_MS	BUDGET_SYNC_MS(CONF_DEFAULT_SYNC_MS, \
			    CONF_DEFAULT_REDIS_TIMEOUT_MS)

/* Buy once as a new user; returns the answer's code. */
static int
buy(struct rig *r, struct rig_reply *rep)
{
	static unsigned int	 buyer;
	char			 target[64];

	snprintf(target, sizeof(target), "/buy/ticket?user=edge%u", ++buyer);
	ck_assert_msg(rig_get(r, target, rep), "%s", r->err);
	return rep->code;
}

/*
 * Buy until an answer comes from nginx itself, which has a Content-Length
 * where an instance's answer through nginx is chunked; returns the ms it
 * took.
 */
static double
ms_until_edge_answers(struct rig *r, struct rig_reply *rep)
{
	double		 start = rig_now_ms();

	for (;;) {
		ck_assert_int_eq(buy(r, rep), -1);
		if (!rep->chunked && rep->content_length > 0)
			return rig_now_ms() - start;
		ck_assert_msg(rig_now_ms() - start <= EDGE_WITHIN_MS,
		    "nginx did not answer sold out itself within %u ms",
		    EDGE_WITHIN_MS);
		usleep(10000);
	}
}

START_TEST(test_sold_out_at_the_edge)
{
	struct rig	 r;
	struct rig_reply rep;
	long long	 total = 0, sold = 0;
	double		 ms, start;
	int		 i;

	rig_ck_start(&r, NULL, EDGE_STOCK);
	for (i = 0; i < EDGE_STOCK * 3; i++)
		buy(&r, &rep);
	ck_assert(rig_sale_get(&r, &total, &sold));
	ck_assert_int_eq(sold, EDGE_STOCK);

	ms = ms_until_edge_answers(&r, &rep);
	ck_assert_msg(ms <= EDGE_WITHIN_MS, "edge took %.0f ms", ms);
	/* nginx logs its answers to its edge log (buffered up to 1 s). */
	ck_assert_msg(rig_stat_wait(&r, "port:nginx,user:edge", 1,
	    BUDGET_NGINX_STAT_MS),
	    "no stat line for nginx's own answer");
	ck_assert_msg(access(r.sold_out_flag, F_OK) == 0, "no flag file");
	ck_assert_str_eq(rep.content_type, "application/json; charset=utf-8");

	/* Bad input is not answered at the edge. */
	ck_assert(rig_get(&r, "/buy/ticket?user=bad*user", &rep));
	ck_assert_int_eq(rep.status, 400);
	ck_assert_int_eq(rep.code, -3);

	/* Tickets come back: purchases flow again after the next sync. */
	ck_assert(rig_sale_set(&r, EDGE_STOCK * 2));
	start = rig_now_ms();
	while (buy(&r, &rep) != 1)
		ck_assert_msg(rig_now_ms() - start <= EDGE_WITHIN_MS,
		    "still sold out %.0f ms after tickets came back (limit "
		    "%u ms)", rig_now_ms() - start, EDGE_WITHIN_MS);
	ck_assert_msg(access(r.sold_out_flag, F_OK) == -1,
	    "flag file still there while tickets remain");
	rig_stop(&r);
}
END_TEST

static Suite *
edge_suite(void)
{
	Suite	*s = suite_create("edge");
	TCase	*tc = tcase_create("sold out");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sold_out_at_the_edge);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(edge_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
