/*
 * route.c: which method each resource takes, what CONTENT_LENGTH may say
 * and who may send a body, all decided before any handler reaches for
 * Redis, so that these tests need neither Redis nor a worker.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "spike.h"
#include "unit.h"

/* A resource and the methods its Allow header names. */
struct allowed {
	const char	*path;
	const char	*allow;
};

static const struct allowed resources[] = {
	{ "/buy/ticket",	"GET, POST" },
	{ "/order",		"GET" },
	{ "/pay",		"POST" },
	{ "/stock",		"GET" },
	{ "/healthz",		"GET" },
	{ "/metrics",		"GET" },
};
#define NRESOURCES	(sizeof(resources) / sizeof(resources[0]))

/* Parts of the allowed names, names in other case, longer names. */
static const char *const wrong_methods[] = {
	"", "G", "GE", "ET", "T", "P", "PO", "OS", "OST", "ST", "get", "Get",
	"post", "GETX", "XGET", "POSTX", "GET ", " GET", "GET,", ",", ", ",
	"GET, POST", "GET,POST", "GETPOST", "DELETE", "PUT", "HEAD",
	"OPTIONS",
};
#define NWRONG		(sizeof(wrong_methods) / sizeof(wrong_methods[0]))

static struct conf	 conf;
static struct item_table *items;
static struct item	*dflt;		/* the default item, as main.c adds it */
static struct route_ctx	 ctx;

static void
setup(void)
{
	conf_defaults(&conf);
	conf.allow_anonymous = false;	/* no user: 400 before any store */
	items = item_table_new(16);
	ck_assert_ptr_nonnull(items);
	dflt = item_add(items, conf.stock_key, conf.stock_key);
	ck_assert_ptr_nonnull(dflt);	/* not synced: 503 before any store */
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ctx.items = items;
	ctx.stock = &dflt->stock;
}

static void
teardown(void)
{
	item_table_free(items);
}

static void
handle(const char *method, const char *path, struct route_answer *ans)
{
	struct route_request	 req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	route_handle(&ctx, &req, ans);
}

/* Every resource refuses every wrong method: 405 with its Allow. */
START_TEST(test_wrong_methods)
{
	const struct allowed	*res = &resources[_i / NWRONG];
	const char		*method = wrong_methods[_i % NWRONG];
	struct route_answer	 ans;

	handle(method, res->path, &ans);
	ck_assert_msg(ans.reply.kind == REPLY_BAD_METHOD,
	    "\"%s %s\": kind %d, want 405", method, res->path, ans.reply.kind);
	ck_assert_str_eq(ans.reply.allow, res->allow);
}
END_TEST

START_TEST(test_no_method)
{
	struct route_answer	 ans;

	handle(NULL, "/buy/ticket", &ans);
	ck_assert_int_eq(ans.reply.kind, REPLY_BAD_METHOD);
	ck_assert_str_eq(ans.reply.allow, "GET, POST");
}
END_TEST

/* The named methods pass, each reaching its handler. */
START_TEST(test_right_methods)
{
	static const struct {
		const char	*method, *path;
		enum reply_kind	 kind;
	} ok[] = {
		{ "GET", "/buy/ticket", REPLY_BAD_REQUEST },
		{ "POST", "/buy/ticket", REPLY_BAD_REQUEST },
		{ "GET", "/order", REPLY_BAD_REQUEST },
		{ "POST", "/pay", REPLY_BAD_REQUEST },
		{ "GET", "/stock", REPLY_UNAVAILABLE },
		{ "GET", "/metrics", REPLY_OK },
	};
	struct route_answer	 ans;
	size_t			 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		handle(ok[i].method, ok[i].path, &ans);
		ck_assert_msg(ans.reply.kind == ok[i].kind,
		    "\"%s %s\": kind %d, want %d", ok[i].method, ok[i].path,
		    ans.reply.kind, ok[i].kind);
	}
}
END_TEST

/*
 * CONTENT_LENGTH as a request may give it: a length the body may have, a
 * number over QUERY_BODY_MAX (413), or no length at all (400).
 */
static const char *const lengths_taken[] = { "", "0", "4096", "0004096" };
static const char *const lengths_too_large[] = { "4097",
    "18446744073709551615", "123456789012345678901234567890" };
static const char *const lengths_bad[] = { "-1", "abc", "+1", " 1", "1 ",
    "1x", "0x10", "1e3", "-" };

#define NELEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* The kind of answer route_length_ok() gives, REPLY_OK when it takes it. */
static enum reply_kind
length_answer(const char *content_length)
{
	struct reply	 r;

	memset(&r, 0, sizeof(r));
	r.kind = REPLY_OK;
	ck_assert_msg(route_length_ok(content_length, &r) == (r.kind ==
	    REPLY_OK), "CONTENT_LENGTH \"%s\": result and answer disagree",
	    content_length ? content_length : "(none)");
	return r.kind;
}

START_TEST(test_content_length)
{
	size_t	 i;

	ck_assert_int_eq(length_answer(NULL), REPLY_OK);
	for (i = 0; i < NELEMS(lengths_taken); i++)
		ck_assert_int_eq(length_answer(lengths_taken[i]), REPLY_OK);
	for (i = 0; i < NELEMS(lengths_too_large); i++)
		ck_assert_int_eq(length_answer(lengths_too_large[i]),
		    REPLY_TOO_LARGE);
	for (i = 0; i < NELEMS(lengths_bad); i++)
		ck_assert_msg(length_answer(lengths_bad[i]) ==
		    REPLY_BAD_REQUEST, "CONTENT_LENGTH \"%s\": want 400",
		    lengths_bad[i]);
}
END_TEST

/* A body comes only with POST; with GET it is refused, not ignored. */
START_TEST(test_body_only_with_post)
{
	static const char	*paths[] = { "/buy/ticket", "/order", "/stock",
	    "/healthz", "/metrics" };
	struct route_request	 req;
	struct route_answer	 ans;
	size_t			 i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		memset(&req, 0, sizeof(req));
		req.method = "GET";
		req.path = paths[i];
		req.content_type = "application/x-www-form-urlencoded";
		req.body = "user=x";
		req.body_len = 6;
		route_handle(&ctx, &req, &ans);
		ck_assert_msg(ans.reply.kind == REPLY_BAD_REQUEST &&
		    ans.reply.detail != NULL &&
		    strcmp(ans.reply.detail, "only a POST may have a body") == 0,
		    "GET %s with a body: kind %d (%s), want 400 for the body",
		    paths[i], ans.reply.kind,
		    ans.reply.detail ? ans.reply.detail : "no detail");
	}
}
END_TEST

/* A request with its query string; the answer's code. */
static int
code_of(const char *method, const char *path, const char *query,
    struct route_answer *ans)
{
	struct route_request	 req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.query = query;
	route_handle(&ctx, &req, ans);
	return reply_code(ans->reply.kind);
}

/*
 * An item this instance does not know is not on sale: 404, code -4,
 * from every resource that takes an item, before a user is asked for
 * and before Redis is; a bad item name is a 400 first.
 */
START_TEST(test_item_not_on_sale)
{
	static const struct {
		const char	*method, *path, *query;
		int		 code;
	} cases[] = {
		{ "GET", "/buy/ticket", "item=nope&user=a", -4 },
		{ "POST", "/buy/ticket", "item=nope", -4 },
		{ "GET", "/stock", "item=nope", -4 },
		{ "GET", "/order", "item=nope&user=a", -4 },
		{ "POST", "/pay", "item=nope&user=a&order=1", -4 },
		{ "GET", "/buy/ticket", "item=..&user=a", -3 },
		{ "GET", "/stock", "item=a/b", -3 },
		{ "GET", "/stock", "item=a&item=b", -3 },
	};
	struct route_answer	 ans;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(code_of(cases[i].method, cases[i].path,
		    cases[i].query, &ans) == cases[i].code, "%s %s?%s: code "
		    "%d, want %d", cases[i].method, cases[i].path,
		    cases[i].query, reply_code(ans.reply.kind), cases[i].code);
		ck_assert_int_eq(reply_status(ans.reply.kind),
		    cases[i].code == -4 ? 404 : 400);
	}
	code_of("GET", "/stock", "item=nope", &ans);
	ck_assert_str_eq(ans.reply.detail, "item not on sale");
}
END_TEST

/*
 * /stock?item= answers an item's view from memory, today's members
 * first, then its state by the estimate of Redis's clock and its times;
 * without item (or item=stock_key) it is the default item's.
 */
START_TEST(test_stock_per_item)
{
	struct item		*a;
	struct route_answer	 ans;
	char			 want[192];
	long long		 now = item_redis_now_ms(items);

	ck_assert_ptr_nonnull(a = item_add(items, "A", "ticket_hash_key"
	    ITEM_KEY_INFIX "A"));
	ck_assert_int_eq(code_of("GET", "/stock", "item=A", &ans), -2);
	stock_set_view(&a->stock, 10, 3);
	atomic_store(&a->stock.synced, true);
	atomic_store(&a->start_ms, now + 60000);
	atomic_store(&a->end_ms, now + 120000);
	ck_assert_int_eq(code_of("GET", "/stock", "item=A", &ans), 1);
	snprintf(want, sizeof(want), ",\"total\":10,\"sold\":3,"
	    "\"remaining\":7,\"state\":\"coming\",\"opens_at\":%lld,"
	    "\"closes_at\":%lld", now + 60000, now + 120000);
	ck_assert_str_eq(ans.reply.extra, want);
	atomic_store(&a->start_ms, 0);
	atomic_store(&a->paused, true);
	code_of("GET", "/stock", "item=A", &ans);
	ck_assert_ptr_nonnull(strstr(ans.reply.extra, "\"state\":\"paused\""));
	atomic_store(&a->paused, false);
	code_of("GET", "/stock", "item=A", &ans);
	ck_assert_ptr_nonnull(strstr(ans.reply.extra, "\"state\":\"open\""));
	atomic_store(&a->end_ms, now - 1);
	code_of("GET", "/stock", "item=A", &ans);
	ck_assert_ptr_nonnull(strstr(ans.reply.extra, "\"state\":\"ended\""));

	stock_set_view(&dflt->stock, 5, 5);
	atomic_store(&dflt->stock.synced, true);
	ck_assert_int_eq(code_of("GET", "/stock", NULL, &ans), 1);
	ck_assert_str_eq(ans.reply.extra, ",\"total\":5,\"sold\":5,"
	    "\"remaining\":0,\"state\":\"open\",\"opens_at\":0,"
	    "\"closes_at\":0");
	code_of("GET", "/stock", "item=ticket_hash_key", &ans);
	ck_assert_ptr_nonnull(strstr(ans.reply.extra, "\"total\":5,"));
}
END_TEST

Suite *
make_route_suite(void)
{
	Suite	*s = suite_create("route");
	TCase	*tc;

	tc = tcase_create("methods");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_wrong_methods, 0, NRESOURCES * NWRONG);
	tcase_add_test(tc, test_no_method);
	tcase_add_test(tc, test_right_methods);
	suite_add_tcase(s, tc);

	tc = tcase_create("body");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_content_length);
	tcase_add_test(tc, test_body_only_with_post);
	suite_add_tcase(s, tc);

	tc = tcase_create("items");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_item_not_on_sale);
	tcase_add_test(tc, test_stock_per_item);
	suite_add_tcase(s, tc);
	return s;
}
