/*
 * spikectl audit against a real Redis, with books made by four real
 * spike-fcgi instances behind a real nginx: a clean sale (bought, paid,
 * expired, anonymous) audits clean with the right summary, also after
 * init --force has put a new sale on over the old orders, and while
 * buyers buy; each violation, made by corrupting Redis directly, makes it
 * exit 1 naming the key or order; no Redis, or no sale, is no verdict;
 * --redis audits a read-only replica.
 */
#include "config.h"

#include <check.h>

#include <sys/wait.h>

#include <signal.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "rig_ck.h"
#include "rig_private.h"
#include "spike.h"

#define K		RIG_STOCK_KEY
#define EVENTS		RIG_STOCK_KEY ":events"
#define CMD(c, ...)	RIG_CK_CMD(c, __VA_ARGS__)
#define OUT_MAX		65536
#define TAIL_MAX	2048
#define ID_MAX		(QUERY_ORDER_MAX + 1)
#define PAY_TIMEOUT_S	3	/* expired orders in the clean sale */
#define BOOKS_TOTAL	20
#define MID_SALE_TOTAL	10000	/* also the audit's measured size */
#define MID_SALE_CONNS	32

/* What one spikectl audit run printed (stdout and stderr), and its exit. */
struct audit_run {
	int	 status;	/* exit status, or -1 when it did not exit */
	char	 out[OUT_MAX];
	const char *tail;	/* its end, short enough for a Check message */
};

/* The clean books every violation test starts from. */
struct books {
	char	 paid[ID_MAX];		/* user0's order, paid */
	char	 pending[ID_MAX];	/* user1's order, pending */
	char	 other[ID_MAX];		/* user2's order, pending */
};

/* ---- running spikectl audit ------------------------------------------- */

/* spikectl -c conf audit [args...]; the list ends with NULL. */
static void
audit(struct rig *r, struct audit_run *run, ...)
{
	char	*argv[16], log[RIG_PATH_MAX + 16];
	va_list	 ap;
	FILE	*f;
	size_t	 n = 0;
	int	 argc = 0, st = 0;

	argv[argc++] = r->spikectl;
	argv[argc++] = "-c";
	argv[argc++] = r->conf;
	argv[argc++] = "audit";
	va_start(ap, run);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(log, sizeof(log), "%s/audit.log", r->dir);
	unlink(log);
	ck_assert_msg(rig_run(r, argv, log, budget_ms(10000), &st), "%s",
	    r->err);
	run->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	run->out[0] = '\0';
	if ((f = fopen(log, "r")) != NULL) {
		n = fread(run->out, 1, sizeof(run->out) - 1, f);
		fclose(f);
	}
	run->out[n] = '\0';
	run->tail = n > TAIL_MAX ? run->out + n - TAIL_MAX : run->out;
}

/* Audit must exit want, and its output hold each needle (NULL ends). */
static void
audit_says(struct rig *r, int want, ...)
{
	struct audit_run run;
	const char	*needle;
	va_list		 ap;

	audit(r, &run, NULL);
	ck_assert_msg(run.status == want, "audit exited %d, want %d:\n%s",
	    run.status, want, run.tail);
	va_start(ap, want);
	while ((needle = va_arg(ap, const char *)) != NULL)
		ck_assert_msg(strstr(run.out, needle) != NULL, "audit does "
		    "not say \"%s\":\n%s", needle, run.tail);
	va_end(ap);
}

/* The summary line "  NAME  VALUE" of a text audit must read want. */
static void
summary_is(const struct audit_run *run, const char *name, long long want)
{
	char		 pat[64];
	const char	*p;

	snprintf(pat, sizeof(pat), "\n  %s ", name);
	ck_assert_msg((p = strstr(run->out, pat)) != NULL, "no %s in:\n%s",
	    name, run->tail);
	ck_assert_msg(strtoll(p + strlen(pat), NULL, 10) == want,
	    "%s: want %lld in:\n%s", name, want, run->tail);
}

/* ---- buying through nginx --------------------------------------------- */

/* One request through nginx; returns its answer. */
static void
http(struct rig *r, const char *method, const char *target,
    const char *form, struct rig_reply *rep)
{
	struct rig_http	 h;
	char		 err[256];

	rig_http_init(&h, r->http_port);
	ck_assert_msg(rig_http_request(&h, method, target, form ?
	    "application/x-www-form-urlencoded" : NULL, form, form ?
	    strlen(form) : 0, rep, err, sizeof(err)), "%s: %s", target, err);
	rig_http_close(&h);
}

/*
 * Buy for user (NULL: anonymous) until it is sold, waiting out a new
 * sale's first sync; the order id goes into id (may be NULL).
 */
static void
buy(struct rig *r, const char *user, char *id)
{
	struct rig_reply rep;
	char		 target[128];
	const char	*p;
	double		 end = rig_now_ms() + BUDGET_UP_MS;

	snprintf(target, sizeof(target), "/buy/ticket%s%s", user ? "?user=" :
	    "", user ? user : "");
	for (;;) {
		http(r, "GET", target, NULL, &rep);
		if (rep.status == 200 && rep.code == 1)
			break;
		ck_assert_msg(rig_now_ms() < end, "%s: %d %s", target,
		    rep.status, rep.body);
		rig_sleep_ms(20);
	}
	if (id == NULL)
		return;
	ck_assert_msg((p = strstr(rep.body, "\"order\":\"")) != NULL, "%s",
	    rep.body);
	snprintf(id, ID_MAX, "%.*s", QUERY_ORDER_MAX, p + 9);
}

static void
pay(struct rig *r, const char *user, const char *id)
{
	struct rig_reply rep;
	char		 form[128];

	snprintf(form, sizeof(form), "user=%s&order=%s", user, id);
	http(r, "POST", "/pay", form, &rep);
	ck_assert_msg(rep.status == 200 && rep.code == 1, "pay %s: %d %s",
	    user, rep.status, rep.body);
}

/* Wait until the order's status in Redis is want. */
static void
status_wait(redisContext *c, const char *id, const char *want,
    unsigned int timeout_ms)
{
	char		 key[128], got[32] = "";
	double		 end = rig_now_ms() + timeout_ms;

	snprintf(key, sizeof(key), "%s:order:%.32s", K, id);
	for (;;) {
		rig_redis_str_free(CMD(c, "HGET", key, "status"), got,
		    sizeof(got));
		if (strcmp(got, want) == 0)
			return;
		ck_assert_msg(rig_now_ms() < end, "%s is %s, not %s after %u "
		    "ms", key, got, want, timeout_ms);
		rig_sleep_ms(50);
	}
}

/* ---- set-up ----------------------------------------------------------- */

/* The whole rig with a sale of total, spike.conf given extra lines. */
static void
start(struct rig *r, long long total, const char *extra)
{
	struct rig_options opt = { .redis_timeout_ms = BUDGET_PATIENT_REDIS_MS,
	    .conf_extra = extra };

	rig_ck_start(r, &opt, total);
}

/*
 * Clean books to corrupt: user0 bought and paid, user1 and user2 bought,
 * one anonymous purchase; then the instances stop, so nothing changes
 * the books but the test.  Audit must find them right first.
 */
static void
clean_books(struct rig *r, struct books *b)
{
	start(r, BOOKS_TOTAL, NULL);
	buy(r, "user0", b->paid);
	pay(r, "user0", b->paid);
	buy(r, "user1", b->pending);
	buy(r, "user2", b->other);
	buy(r, NULL, NULL);
	ck_assert_msg(rig_instances_term(r, BUDGET_TERM_MS), "%s", r->err);
	audit_says(r, 0, "ok: the books are right", NULL);
}

/* clean_books(), and a connection to Redis to break them with. */
static redisContext *
books_to_break(struct rig *r, struct books *b)
{
	clean_books(r, b);
	return rig_ck_redis(r);
}

/* The end of a test of books_to_break(): c closed, the rig stopped. */
static void
books_done(struct rig *r, redisContext *c)
{
	redisFree(c);
	rig_stop(r);
}

/* "KEY:order:ID" into buf. */
static const char *
order_key(char *buf, size_t bufsz, const char *id)
{
	snprintf(buf, bufsz, "%s:order:%.32s", K, id);
	return buf;
}

/* The stream id of the event of kind for order id; fails if none. */
static void
event_of(redisContext *c, const char *kind, const char *id, char *sid,
    size_t sidsz)
{
	redisReply	*rep = CMD(c, "XRANGE", EVENTS, "-", "+");
	const redisReply *e, *f;
	size_t		 i, j;
	bool		 is_kind, is_order;

	sid[0] = '\0';
	for (i = 0; i < rep->elements && sid[0] == '\0'; i++) {
		e = rep->element[i];
		f = e->element[1];
		is_kind = is_order = false;
		for (j = 0; j + 1 < f->elements; j += 2) {
			is_kind |= strcmp(f->element[j]->str, "event") == 0 &&
			    strcmp(f->element[j + 1]->str, kind) == 0;
			is_order |= strcmp(f->element[j]->str, "order") == 0 &&
			    strcmp(f->element[j + 1]->str, id) == 0;
		}
		if (is_kind && is_order)
			snprintf(sid, sidsz, "%s", e->element[0]->str);
	}
	freeReplyObject(rep);
	ck_assert_msg(sid[0] != '\0', "no %s event for %s", kind, id);
}

/* ---- clean books ------------------------------------------------------ */

/*
 * A sale with every kind of order audits clean, and the summary counts
 * them right; a new sale put on over it with init --force audits clean
 * too, its orders counted apart from the earlier ones.
 */
START_TEST(test_clean_sale)
{
	struct rig	 r;
	struct audit_run run;
	redisContext	*c;
	char		 ids[8][ID_MAX], user[16];
	int		 i;

	start(&r, BOOKS_TOTAL, "pay_timeout_s = 3\n");
	c = rig_ck_redis(&r);
	for (i = 0; i < 7; i++) {		/* 0-2 expire, 3-6 are paid */
		snprintf(user, sizeof(user), "user%d", i);
		buy(&r, user, ids[i]);
		if (i >= 3)
			pay(&r, user, ids[i]);
	}
	for (i = 0; i < 3; i++)
		status_wait(c, ids[i], "expired", budget_ms(PAY_TIMEOUT_S *
		    1000 + 3 * SYNC_EXPIRE_MS));
	buy(&r, "user7", ids[7]);		/* pending */
	for (i = 0; i < 2; i++)
		buy(&r, NULL, NULL);
	audit(&r, &run, NULL);
	ck_assert_msg(run.status == 0, "exit %d:\n%s", run.status, run.tail);
	summary_is(&run, "total", BOOKS_TOTAL);
	summary_is(&run, "sold", 1 + 4 + 2);
	summary_is(&run, "pending", 1);
	summary_is(&run, "paid", 4);
	summary_is(&run, "expired", 3);
	summary_is(&run, "anonymous", 2);
	summary_is(&run, "orders", 8);
	summary_is(&run, "events", 8 + 4 + 3);
	audit(&r, &run, "--json", NULL);
	ck_assert_msg(run.status == 0 && strstr(run.out, "\"ok\":true,"
	    "\"total\":20,\"sold\":7,\"pending\":1,\"paid\":4,\"expired\":3,"
	    "\"anonymous\":2,\"orders\":8,\"earlier_orders\":0,\"events\":15,")
	    != NULL, "exit %d:\n%s", run.status, run.tail);

	ck_assert_msg(rig_sale_set(&r, 5), "%s", r.err);
	buy(&r, "user8", NULL);
	buy(&r, "user3", NULL);		/* paid in the last sale */
	audit(&r, &run, NULL);
	ck_assert_msg(run.status == 0, "exit %d:\n%s", run.status, run.tail);
	summary_is(&run, "sold", 2);
	summary_is(&run, "paid", 0);
	summary_is(&run, "pending", 2);
	summary_is(&run, "orders", 2);
	ck_assert_msg(strstr(run.out, "not checked: 8)") != NULL, "%s",
	    run.tail);
	books_done(&r, c);
}
END_TEST

/*
 * The books are read at one instant: audits run while buyers buy every
 * ticket each find them right, and the last one, on MID_SALE_TOTAL
 * orders, says how long the script held Redis.
 */
START_TEST(test_mid_sale)
{
	struct rig	 r;
	struct rig_load	 l;
	struct rig_load_spec spec;
	struct audit_run run;
	unsigned int	 audits = 0;
	char		 sum[1024];
	const char	*took;
	double		 end;

	start(&r, MID_SALE_TOTAL, NULL);
	spec = rig_load_plan(&r, MID_SALE_CONNS, MID_SALE_TOTAL, true,
	    budget_ms(60000));
	ck_assert_msg(rig_load_start(&l, &spec), "cannot start the load");
	end = rig_now_ms() + budget_ms(60000);
	while (l.answered < MID_SALE_TOTAL * 9 / 10 && rig_now_ms() < end) {
		audit(&r, &run, NULL);
		ck_assert_msg(run.status == 0, "audit %u mid-sale, %u answered, "
		    "exit %d:\n%s", audits, l.answered, run.status, run.tail);
		audits++;
	}
	rig_load_wait(&l);
	ck_assert_msg(rig_load_code(&l, 1) == MID_SALE_TOTAL, "%s",
	    rig_load_summary(&l, sum, sizeof(sum)));
	ck_assert_msg(audits >= 2, "only %u audits ran mid-sale", audits);
	audit(&r, &run, NULL);
	ck_assert_msg(run.status == 0, "exit %d:\n%s", run.status, run.tail);
	summary_is(&run, "orders", MID_SALE_TOTAL);
	summary_is(&run, "pending", MID_SALE_TOTAL);
	took = strstr(run.out, "in ");
	printf("check_audit: %u audits mid-sale; on %d orders the script "
	    "took %.12s\n", audits, MID_SALE_TOTAL, took ? took + 3 : "?");
	rig_stop(&r);
}
END_TEST

/* ---- each violation --------------------------------------------------- */

START_TEST(test_oversold)
{
	struct rig	 r;
	struct books	 b;
	redisContext	*c;

	c = books_to_break(&r, &b);
	freeReplyObject(CMD(c, "HINCRBY", K, RIG_SOLD_FIELD, "20"));
	freeReplyObject(CMD(c, "INCRBY", K ":anonymous", "20"));
	audit_says(&r, 1, "violation oversold: " K ": sold 24 > total 20\n",
	    "1 violations", NULL);
	books_done(&r, c);
}
END_TEST

START_TEST(test_sold_mismatch)
{
	struct rig	 r;
	struct books	 b;
	redisContext	*c;

	c = books_to_break(&r, &b);
	freeReplyObject(CMD(c, "HINCRBY", K, RIG_SOLD_FIELD, "-1"));
	audit_says(&r, 1, "violation sold-mismatch: " K ": sold 3 != pending "
	    "2 + paid 1 + anonymous 1 = 4\n", "1 violations", NULL);
	books_done(&r, c);
}
END_TEST

/*
 * The created event of the pending order, or the paid event of the paid
 * one, deleted: audit says no-KIND-event for that order.
 */
static void
ck_event_missing(bool paid)
{
	struct rig	 r;
	struct books	 b;
	redisContext	*c;
	const char	*kind = paid ? "paid" : "created";
	char		 sid[64], key[128], want[256];

	c = books_to_break(&r, &b);
	event_of(c, kind, paid ? b.paid : b.pending, sid, sizeof(sid));
	freeReplyObject(CMD(c, "XDEL", EVENTS, sid));
	snprintf(want, sizeof(want), "violation no-%s-event: %s\n", kind,
	    order_key(key, sizeof(key), paid ? b.paid : b.pending));
	audit_says(&r, 1, want, "1 violations", NULL);
	books_done(&r, c);
}

START_TEST(test_order_without_event)
{
	ck_event_missing(false);
}
END_TEST

START_TEST(test_paid_without_event)
{
	ck_event_missing(true);
}
END_TEST

/* A created event whose order is gone: a confirmed sale was lost. */
START_TEST(test_event_without_order)
{
	struct rig	 r;
	struct books	 b;
	redisContext	*c;
	char		 key[128], want[256];

	c = books_to_break(&r, &b);
	freeReplyObject(CMD(c, "DEL", order_key(key, sizeof(key), b.other)));
	snprintf(want, sizeof(want), "violation event-without-order: %s: "
	    "created %s, no %s\n", EVENTS, b.other, key);
	audit_says(&r, 1, want, "violation sold-mismatch: ", NULL);
	books_done(&r, c);
}
END_TEST

/* Instances stopped, so no expiry: a pending order long past pay_by. */
START_TEST(test_overdue)
{
	struct rig	 r;
	struct books	 b;
	redisContext	*c;
	struct audit_run run;
	char		 key[128], want[256], past[32];

	c = books_to_break(&r, &b);
	snprintf(past, sizeof(past), "%lld", rig_ck_redis_now_ms(c) - 60000);
	order_key(key, sizeof(key), b.pending);
	freeReplyObject(CMD(c, "HSET", key, "pay_by", past));
	freeReplyObject(CMD(c, "ZADD", K ":pending", past, b.pending));
	snprintf(want, sizeof(want), "violation overdue: %s: pending ", key);
	audit_says(&r, 1, want, "1 violations", NULL);
	/* Within a grace of 100 s it is not overdue yet. */
	audit(&r, &run, "--grace", "100", NULL);
	ck_assert_msg(run.status == 0, "exit %d:\n%s", run.status, run.tail);
	books_done(&r, c);
}
END_TEST

/*
 * user1 with two active orders while per_user_limit is 1, the second
 * made whole (hash, sets, event, sold): only the limit is broken.
 */
START_TEST(test_over_limit)
{
	struct rig	 r;
	struct books	 b;
	redisContext	*c;
	const char	*id = "0123456789abcdef0123456789abcdef";

	c = books_to_break(&r, &b);
	rig_ck_order_by_hand(c, "user1", id, rig_ck_redis_now_ms(c) + 600000);
	audit_says(&r, 1, "violation over-limit: user user1: 2 pending or "
	    "paid orders, limit 1\n", "1 violations", NULL);
	books_done(&r, c);
}
END_TEST

/* KEY:user:USER no longer holds the user's pending order. */
START_TEST(test_user_set)
{
	struct rig	 r;
	struct books	 b;
	redisContext	*c;
	char		 key[128], want[256];

	c = books_to_break(&r, &b);
	freeReplyObject(CMD(c, "ZREM", K ":user:user2", b.other));
	snprintf(want, sizeof(want), "violation user-set: %s: pending, not "
	    "in %s:user:user2\n", order_key(key, sizeof(key), b.other), K);
	audit_says(&r, 1, want, "1 violations", NULL);
	books_done(&r, c);
}
END_TEST

/* A pending order that left KEY:pending would never expire. */
START_TEST(test_pending_set)
{
	struct rig	 r;
	struct books	 b;
	redisContext	*c;
	char		 key[128], want[256];

	c = books_to_break(&r, &b);
	freeReplyObject(CMD(c, "ZREM", K ":pending", b.pending));
	snprintf(want, sizeof(want), "violation pending-set: %s: status "
	    "pending, not in %s:pending\n", order_key(key, sizeof(key),
	    b.pending), K);
	audit_says(&r, 1, want, "1 violations", NULL);
	books_done(&r, c);
}
END_TEST

START_TEST(test_bad_status)
{
	struct rig	 r;
	struct books	 b;
	redisContext	*c;
	char		 key[128], want[256];

	c = books_to_break(&r, &b);
	freeReplyObject(CMD(c, "HSET", order_key(key, sizeof(key), b.paid),
	    "status", "refunded"));
	snprintf(want, sizeof(want), "violation bad-status: %s: status "
	    "refunded\n", key);
	audit_says(&r, 1, want, NULL);
	books_done(&r, c);
}
END_TEST

/* ---- a replica -------------------------------------------------------- */

/*
 * audit --redis reads the books from a read-only replica, which allows
 * the script: with the primary stopped it finds them right there.
 */
START_TEST(test_replica)
{
	struct rig	 r;
	struct books	 b;
	struct rig_proc	 rp = { 0 };
	struct audit_run run;
	char		 addr[32];

	clean_books(&r, &b);
	ck_assert_msg(rig_ha_replica_add(&r, &rp), "%s", r.err);
	ck_assert_msg(rig_redis_stop(&r), "%s", r.err);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", rp.port);
	audit(&r, &run, "--redis", addr, NULL);
	rig_proc_stop(&rp, SIGTERM, BUDGET_TERM_MS);
	ck_assert_msg(run.status == 0, "exit %d:\n%s", run.status, run.tail);
	summary_is(&run, "sold", 4);
	summary_is(&run, "orders", 3);
	rig_stop(&r);
}
END_TEST

/* ---- no verdict ------------------------------------------------------- */

/* Redis gone: exit 2 saying so, never 0 (and never 1, a violation). */
START_TEST(test_redis_unreachable)
{
	struct rig	 r;
	struct books	 b;

	clean_books(&r, &b);
	ck_assert_msg(rig_redis_stop(&r), "%s", r.err);
	audit_says(&r, 2, "spikectl: audit: redis ", NULL);
	rig_stop(&r);
}
END_TEST

START_TEST(test_no_sale)
{
	struct rig	 r;
	struct books	 b;
	redisContext	*c;

	c = books_to_break(&r, &b);
	freeReplyObject(CMD(c, "DEL", K));
	audit_says(&r, 2, "no stock hash: nothing to audit", NULL);
	books_done(&r, c);
}
END_TEST

/* --redis names the Redis audited: a dead one is no verdict, a bad one too. */
START_TEST(test_bad_redis_option)
{
	struct rig	 r;
	struct books	 b;
	struct audit_run run;
	char		 addr[32];

	clean_books(&r, &b);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", rig_free_port());
	audit(&r, &run, "--redis", addr, NULL);
	ck_assert_msg(run.status == 2 && strstr(run.out, addr) != NULL,
	    "exit %d:\n%s", run.status, run.tail);
	audit(&r, &run, "--redis", "localhost", NULL);
	ck_assert_msg(run.status == 2 && strstr(run.out, "expected HOST:PORT")
	    != NULL, "exit %d:\n%s", run.status, run.tail);
	rig_stop(&r);
}
END_TEST

static Suite *
audit_suite(void)
{
	Suite	*s = suite_create("audit");
	TCase	*clean = tcase_create("clean");
	TCase	*bad = tcase_create("violations");
	TCase	*none = tcase_create("no verdict");

	tcase_set_timeout(clean, 90);
	tcase_add_test(clean, test_clean_sale);
	tcase_add_test(clean, test_mid_sale);
	suite_add_tcase(s, clean);
	tcase_set_timeout(bad, 60);
	tcase_add_test(bad, test_oversold);
	tcase_add_test(bad, test_sold_mismatch);
	tcase_add_test(bad, test_order_without_event);
	tcase_add_test(bad, test_paid_without_event);
	tcase_add_test(bad, test_event_without_order);
	tcase_add_test(bad, test_overdue);
	tcase_add_test(bad, test_over_limit);
	tcase_add_test(bad, test_user_set);
	tcase_add_test(bad, test_pending_set);
	tcase_add_test(bad, test_bad_status);
	suite_add_tcase(s, bad);
	tcase_set_timeout(none, 60);
	tcase_add_test(none, test_redis_unreachable);
	tcase_add_test(none, test_no_sale);
	tcase_add_test(none, test_bad_redis_option);
	tcase_add_test(none, test_replica);
	suite_add_tcase(s, none);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(audit_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
