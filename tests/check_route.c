/*
 * route.c: which method each resource takes, decided before any handler
 * runs, so that these tests need neither Redis nor a worker.
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
static struct stock	 stock;
static struct route_ctx	 ctx;

static void
setup(void)
{
	conf_defaults(&conf);
	conf.allow_anonymous = false;	/* no user: 400 before any store */
	stock_init(&stock);		/* not synced: 503 before any store */
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ctx.stock = &stock;
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

Suite *
make_route_suite(void)
{
	Suite	*s = suite_create("route");
	TCase	*tc;

	tc = tcase_create("methods");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_loop_test(tc, test_wrong_methods, 0, NRESOURCES * NWRONG);
	tcase_add_test(tc, test_no_method);
	tcase_add_test(tc, test_right_methods);
	suite_add_tcase(s, tc);
	return s;
}
