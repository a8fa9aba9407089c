/*
 * The edge's fair share and its guard of /pay: what spikectl nginx-conf
 * --rate, --burst and --pay-from write, on made-up templates (unit), as
 * spikectl takes its options, and through a real nginx in front of the
 * real instances, with clients on two loopback addresses.
 */
#include "config.h"

#include <check.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "spike.h"
#include "rig_ck.h"

#define GREEDY		"127.0.0.2"	/* the client over its rate */
#define FAIR		"127.0.0.1"	/* a client within it */
#define RATE		10		/* --rate: requests a second */
#define BURST		10		/* --burst */
#define FAIR_BUYS	10
#define FAIR_GAP_MS	150		/* slower than 1000 / RATE */
#define GREEDY_MAX	5000		/* requests, at most, */
#define GREEDY_GAP_MS	1		/* one this often: 100 x RATE */
#define GREEDY_429_MIN	20		/* refusals it must see */
#define FORM		"application/x-www-form-urlencoded"
/* The flag file follows Redis at the instances' next sync. */
#define EDGE_WITHIN_MS	BUDGET_SYNC_MS(CONF_DEFAULT_SYNC_MS, \
			    CONF_DEFAULT_REDIS_TIMEOUT_MS)
#define SIG_HEX		"0123456789abcdef0123456789abcdef" \
			"0123456789abcdef0123456789abcdef"
/* The tight limit of the tests below that need few requests to reach it. */
#define TIGHT_RATE	1
#define TIGHT_BURST	1
#define LIMITED_ROUND	6	/* requests a round, over TIGHT_RATE */
#define ROUNDS_MAX	5	/* rounds too slow to prove a thing, at most */
#define NOTICES_MAX	20	/* notices from the payment service, at most */
#define STR(x)		STR1(x)
#define STR1(x)		#x

extern char **environ;

/* ---- unit: option lines of the template --------------------------------- */

static const char tmpl[] =
    "# top\n"
    "upstream u {\n"
    "\tserver 10.0.0.1:1;\n"
    "}\n"
    "#@rate zone rate=@RATE@r/s;\n"
    "geo $g {\n"
    "\t#@pay-from default 1;\n"
    "\t#@pay-from @ADDR@ 0;\n"
    "}\n"
    "server {\n"
    "\tlocation / {\n"
    "\t\t#@rate limit burst=@BURST@ nodelay;\n"
    "\t}\n"
    "}\n";

static struct conf *
one_instance(void)
{
	static struct conf	 c;

	conf_defaults(&c);
	snprintf(c.instances[0].addr, sizeof(c.instances[0].addr),
	    "10.0.0.1:1");
	c.instances[0].weight = 1;
	c.ninstances = 1;
	return &c;
}

static void
render_eq(const struct ctl_nginx_opts *o, const char *want)
{
	char		 err[256], *out;

	ck_assert_int_eq(ctl_nginx_render_opts(tmpl, one_instance(), "", o,
	    &out, err, sizeof(err)), SPIKE_OK);
	ck_assert_str_eq(out, want);
	free(out);
}

/* Without options an option line is not written at all; with them, filled. */
START_TEST(test_option_lines)
{
	static const char *const addrs[] = { "10.1.0.0/16", "::1" };
	struct ctl_nginx_opts o = { 0 };
	char		 err[256], *out;

	render_eq(&o,
	    "upstream u {\n\tserver 10.0.0.1:1 weight=1;\n}\n"
	    "geo $g {\n}\n"
	    "server {\n\tlocation / {\n\t}\n}\n");
	o.rate = 7;
	o.burst = 3;
	o.pay_from = addrs;
	o.npay_from = 2;
	render_eq(&o,
	    "upstream u {\n\tserver 10.0.0.1:1 weight=1;\n}\n"
	    "zone rate=7r/s;\n"
	    "geo $g {\n\tdefault 1;\n\t10.1.0.0/16 0;\n\t::1 0;\n}\n"
	    "server {\n\tlocation / {\n\t\tlimit burst=3 nodelay;\n\t}\n}\n");
	o.rate = 0;
	render_eq(&o,
	    "upstream u {\n\tserver 10.0.0.1:1 weight=1;\n}\n"
	    "geo $g {\n\tdefault 1;\n\t10.1.0.0/16 0;\n\t::1 0;\n}\n"
	    "server {\n\tlocation / {\n\t}\n}\n");

	ck_assert_int_eq(ctl_nginx_render_opts("upstream u {\n\tserver "
	    "10.0.0.1:1;\n}\n#@limit x;\n", one_instance(), "", &o, &out, err,
	    sizeof(err)), SPIKE_ECONFIG);
	ck_assert_msg(strstr(err, "line 4: unknown option line") != NULL,
	    "%s", err);
	ck_assert_int_eq(ctl_nginx_render_opts("upstream u {\n\tserver "
	    "10.0.0.1:1;\n}\n#@rate x {\n", one_instance(), "", &o, &out, err,
	    sizeof(err)), SPIKE_ECONFIG);
	ck_assert_msg(strstr(err, "line 4: an option line cannot open") !=
	    NULL, "%s", err);
}
END_TEST

/* The shipped template: every option line is one the renderer knows. */
START_TEST(test_shipped_template)
{
	static const char *const addrs[] = { "192.0.2.0/24" };
	struct ctl_nginx_opts o = { .rate = 5, .burst = 2, .pay_from = addrs,
	    .npay_from = 1 };
	char		 err[256], *out;

	ck_assert_msg(ctl_nginx_render_opts(ctl_nginx_snippet, one_instance(),
	    "", &o, &out, err, sizeof(err)) == SPIKE_OK, "%s", err);
	ck_assert_msg(strstr(out, "\n#@") == NULL && strstr(out, "\t#@") ==
	    NULL && strstr(out, "=@RATE@") == NULL && strstr(out, "@ADDR@ 0") ==
	    NULL, "an option line left");
	ck_assert_msg(strstr(out, "zone=spike_per_client:10m rate=5r/s;\n") !=
	    NULL && strstr(out, "burst=2 nodelay;\n") != NULL &&
	    strstr(out, "\t192.0.2.0/24 0;\n") != NULL, "no limit or geo");
	free(out);
	ck_assert_msg(ctl_nginx_render(ctl_nginx_snippet, one_instance(), "",
	    NULL, &out, err, sizeof(err)) == SPIKE_OK, "%s", err);
	ck_assert_msg(strstr(out, "limit_req ") == NULL &&
	    strstr(out, "limit_req_zone") == NULL &&
	    strstr(out, "default 1;") == NULL, "a limit without options:\n%s",
	    out);
	free(out);
}
END_TEST

/* ---- spikectl's options ------------------------------------------------- */

/* spikectl -c conf nginx-conf ARGS; its exit status, stderr in err. */
static int
nginx_conf(struct rig *r, const char *const *args, char *err, size_t errsz)
{
	char		*argv[16], path[RIG_PATH_MAX + 16];
	posix_spawn_file_actions_t fa;
	pid_t		 pid;
	int		 n = 0, st, fd;
	ssize_t		 len;

	argv[n++] = r->spikectl;
	argv[n++] = "-c";
	argv[n++] = r->conf;
	argv[n++] = "nginx-conf";
	while (*args != NULL && n < 15)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	snprintf(path, sizeof(path), "%s/ctl.err", r->dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, path, O_WRONLY | O_CREAT |
	    O_TRUNC, 0600);
	ck_assert_int_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ),
	    0);
	posix_spawn_file_actions_destroy(&fa);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	err[0] = '\0';
	if ((fd = open(path, O_RDONLY)) != -1) {
		len = read(fd, err, errsz - 1);
		err[len > 0 ? len : 0] = '\0';
		close(fd);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_usage_errors)
{
	static const struct {
		const char	*args[5];
		const char	*says;
	} bad[] = {
		{ { "--rate", "0" }, "--rate \"0\": expected" },
		{ { "--rate", "ten" }, "--rate \"ten\": expected" },
		{ { "--rate", "1000001" }, "from 1 to 1000000" },
		{ { "--rate", "5", "--burst", "-1" }, "--burst \"-1\"" },
		{ { "--burst", "5" }, "--burst needs --rate" },
		{ { "--pay-from", "all" }, "--pay-from \"all\"" },
		{ { "--pay-from", "10.0.0.1/8" }, "no bits set past" },
		{ { "--pay-from", "10.0.0.0/33" }, "--pay-from" },
		{ { "--pay-from", "::1/129" }, "--pay-from" },
		{ { "--pay-from", "1.2.3.4;" }, "--pay-from" },
		{ { "--rate" }, "unknown option" },
	};
	static const char *const good[] = { "--rate", "5", "--pay-from",
	    "10.0.0.0/8", "--pay-from", "fd00::/8", "--pay-from=127.0.0.2",
	    NULL };
	struct rig	 r;
	char		 err[1024];
	size_t		 i;

	ck_assert_msg(rig_init(&r, NULL), "rig: %s", r.err);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(nginx_conf(&r, bad[i].args, err, sizeof(err)),
		    2);
		ck_assert_msg(strstr(err, bad[i].says) != NULL, "%s: no \"%s\" "
		    "in: %s", bad[i].args[0], bad[i].says, err);
	}
	ck_assert_msg(nginx_conf(&r, good, err, sizeof(err)) == 0, "%s", err);
	rig_stop(&r);
}
END_TEST

/* ---- through nginx -------------------------------------------------------- */

/* Options for a rig whose nginx-conf gets args (at most 8). */
static struct rig_options
with_args(const char *const *args)
{
	struct rig_options o = { 0 };
	size_t		 i;

	for (i = 0; args[i] != NULL && i < RIG_NGINX_ARGS_MAX; i++)
		o.nginx_conf_args[i] = args[i];
	return o;
}

/*
 * The most requests nginx's leaky bucket lets one address through in ms:
 * its burst at once and one more, then rate a second, and one for the
 * rounding of nginx's millisecond clock.  Fewer when the bucket was not
 * empty to begin with.
 */
static double
bucket_allows(unsigned int burst, unsigned int rate, double ms)
{
	return burst + 2 + rate * ms / 1000;
}

/* Is rep nginx's own 429, as the service answers it? */
static bool
is_too_many(const struct rig_reply *rep)
{
	return rep->status == 429 && rep->code == -13 &&
	    rep->retry_after == 1 &&
	    strcmp(rep->content_type, "application/json; charset=utf-8") == 0 &&
	    strstr(rep->body, "\"msg\":\"too many requests\"") != NULL;
}

/* The client over its rate: buys as fast as one connection can. */
struct greedy {
	pthread_t	 thread;
	int		 port;
	atomic_bool	 fair_done;
	double		 deadline;
	unsigned int	 sent, bought, refused, other;
	double		 ms;		/* from its first request to its last */
	bool		 outlasted;	/* still sending when fair was done */
	char		 err[256];
};

static void *
greedy_run(void *arg)
{
	struct greedy	*g = arg;
	struct rig_http	 h;
	struct rig_reply rep;
	char		 target[64];
	double		 start = rig_now_ms();

	rig_http_init(&h, g->port);
	rig_http_from(&h, GREEDY);
	while (g->sent < GREEDY_MAX && rig_now_ms() < g->deadline &&
	    !(atomic_load(&g->fair_done) && g->refused >= GREEDY_429_MIN)) {
		snprintf(target, sizeof(target), "/buy/ticket?user=greedy%u",
		    g->sent++);
		if (!rig_http_request(&h, "GET", target, NULL, NULL, 0, &rep,
		    g->err, sizeof(g->err)))
			break;
		if (rep.status == 200 && rep.code == 1)
			g->bought++;
		else if (is_too_many(&rep))
			g->refused++;
		else if (g->other++ == 0)
			snprintf(g->err, sizeof(g->err), "%d %.200s",
			    rep.status, rep.body);
		rig_sleep_ms(GREEDY_GAP_MS);
	}
	g->outlasted = atomic_load(&g->fair_done);
	g->ms = rig_now_ms() - start;
	rig_http_close(&h);
	return NULL;
}

/*
 * One client over its rate gets 429 -13 (with a stat line each), while
 * another address, within its share, buys every time at full speed; the
 * refused requests sell nothing.
 */
START_TEST(test_one_client_over_its_rate)
{
	static const char *const args[] = { "--rate", "10", "--burst", "10",
	    NULL };
	struct rig_options opt = with_args(args);
	struct rig	 r;
	struct greedy	 g = { 0 };
	struct rig_http	 h;
	struct rig_reply rep;
	char		 target[64];
	double		 max_ms = 0, allowed;
	int		 i;

	rig_ck_start(&r, &opt, 1000);
	ck_assert_msg(rig_nginx_test(&r), "%s", r.err);
	g.port = r.http_port;
	g.deadline = rig_now_ms() + budget_ms(10000);
	ck_assert_int_eq(pthread_create(&g.thread, NULL, greedy_run, &g), 0);
	rig_http_init(&h, r.http_port);
	rig_http_from(&h, FAIR);
	for (i = 0; i < FAIR_BUYS; i++) {
		rig_sleep_ms(FAIR_GAP_MS);
		snprintf(target, sizeof(target), "/buy/ticket?user=fair%d", i);
		ck_assert_msg(rig_http_request(&h, "GET", target, NULL, NULL, 0,
		    &rep, r.err, sizeof(r.err)), "%s", r.err);
		ck_assert_msg(rep.status == 200 && rep.code == 1, "fair buyer "
		    "%d: %d %s (greedy so far: %u refused)", i, rep.status,
		    rep.body, g.refused);
		if (rep.ms > max_ms)
			max_ms = rep.ms;
	}
	rig_http_close(&h);
	atomic_store(&g.fair_done, true);
	pthread_join(g.thread, NULL);

	ck_assert_msg(g.other == 0 && g.err[0] == '\0', "greedy: %u other "
	    "answers: %s", g.other, g.err);
	ck_assert_msg(g.refused >= GREEDY_429_MIN && g.outlasted, "greedy: "
	    "%u of %u refused, %s the fair buyer", g.refused, g.sent,
	    g.outlasted ? "outlasted" : "stopped before");
	allowed = bucket_allows(BURST, RATE, g.ms);
	ck_assert_msg(g.bought >= BURST + 1 && g.bought <= allowed,
	    "greedy bought %u in %.0f ms: want %d to %.0f", g.bought, g.ms,
	    BURST + 1, allowed);
	ck_assert_msg(max_ms <= budget_ms(1000), "the fair buyer waited "
	    "%.0f ms", max_ms);
	ck_assert_int_eq(rig_ck_sold(&r), g.bought + FAIR_BUYS);
	ck_assert_msg(rig_stat_wait(&r, "result:-13,localSales:0,port:nginx,"
	    "user:greedy", g.refused, BUDGET_NGINX_STAT_MS), "%s", r.err);
	ck_assert_int_eq(rig_stat_lines(&r, "result:-13,"), g.refused);
	fprintf(stderr, "limit: greedy %u sent, %u bought, %u refused in "
	    "%.0f ms; fair %d of %d bought, slowest %.1f ms\n", g.sent,
	    g.bought, g.refused, g.ms, FAIR_BUYS, FAIR_BUYS, max_ms);
	rig_stop(&r);
}
END_TEST

/*
 * Sold out: nginx answers plain purchases itself before the limit, so one
 * address far over its rate still gets code -1 every time, signed or not,
 * with its user in the stat line; a purchase the edge does not answer is
 * still limited.
 */
START_TEST(test_sold_out_edge_before_the_limit)
{
	static const char *const args[] = { "--rate", STR(TIGHT_RATE),
	    "--burst", STR(TIGHT_BURST), NULL };
	static const char *const targets[] = {
		"/buy/ticket",
		"/buy/ticket?user=late",
		"/buy/ticket?user=signed&sig=1900000000." SIG_HEX,
		"/buy/ticket?sig=12." SIG_HEX "&user=signed2",
	};
	struct rig_options opt = with_args(args);
	struct rig	 r;
	struct rig_http	 h;
	struct rig_reply rep;
	double		 start, ms = 0, allowed;
	int		 i, round, passed;

	rig_ck_start(&r, &opt, 0);
	start = rig_now_ms();
	while (access(r.sold_out_flag, F_OK) == -1) {
		ck_assert_msg(rig_now_ms() - start <= EDGE_WITHIN_MS,
		    "no flag file within %u ms", EDGE_WITHIN_MS);
		rig_sleep_ms(10);
	}
	rig_http_init(&h, r.http_port);
	for (i = 0; i < 200; i++) {
		ck_assert_msg(rig_http_request(&h, "GET", targets[i % 4], NULL,
		    NULL, 0, &rep, r.err, sizeof(r.err)), "%s", r.err);
		ck_assert_msg(rep.status == 200 && rep.code == -1 &&
		    !rep.chunked && rep.content_length > 0, "%s: %d %s",
		    targets[i % 4], rep.status, rep.body);
	}
	ck_assert_msg(rig_stat_wait(&r, "result:-1,localSales:0,port:nginx,"
	    "user:signed,", 50, BUDGET_NGINX_STAT_MS), "%s", r.err);
	ck_assert_msg(rig_stat_wait(&r, "port:nginx,user:signed2,", 50,
	    BUDGET_NGINX_STAT_MS), "%s", r.err);
	ck_assert_msg(rig_stat_wait(&r, "port:nginx,user:-,", 50,
	    BUDGET_NGINX_STAT_MS), "%s", r.err);
	ck_assert_int_eq(rig_stat_lines(&r, "port:nginx,"), 200);
	ck_assert_int_eq(rig_stat_lines(&r, "result:-13,"), 0);

	/*
	 * Not a plain purchase: an instance's, and over the limit.  Fewer
	 * get through than the bucket allows in the time they took; a round
	 * too slow for the bound to refuse any is sent again.
	 */
	for (round = 0;; round++) {
		ck_assert_msg(round < ROUNDS_MAX, "%d rounds of %d requests, "
		    "each too slow (the last %.0f ms) to show a limit of "
		    "--rate %d --burst %d", ROUNDS_MAX, LIMITED_ROUND, ms,
		    TIGHT_RATE, TIGHT_BURST);
		start = rig_now_ms();
		for (i = passed = 0; i < LIMITED_ROUND; i++) {
			ck_assert_msg(rig_http_request(&h, "GET",
			    "/buy/ticket?user=late&x=1", NULL, NULL, 0, &rep,
			    r.err, sizeof(r.err)), "%s", r.err);
			ck_assert_msg(is_too_many(&rep) || (rep.status == 200 &&
			    rep.code == -1), "%d %s", rep.status, rep.body);
			passed += !is_too_many(&rep);
		}
		ms = rig_now_ms() - start;
		allowed = bucket_allows(TIGHT_BURST, TIGHT_RATE, ms);
		ck_assert_msg(passed <= allowed, "%d of %d not refused in %.0f "
		    "ms over --rate %d --burst %d: want at most %.1f", passed,
		    LIMITED_ROUND, ms, TIGHT_RATE, TIGHT_BURST, allowed);
		if (allowed < LIMITED_ROUND)
			break;
	}
	rig_http_close(&h);
	rig_stop(&r);
}
END_TEST

/* The status of order id in Redis. */
static void
order_status(struct rig *r, const char *id, char *buf, size_t bufsz)
{
	redisContext	*c = rig_ck_redis(r);
	char		 key[128];

	snprintf(key, sizeof(key), "%s:order:%s", RIG_STOCK_KEY, id);
	rig_redis_str_free(RIG_CK_CMD(c, "HGET", key, "status"), buf, bufsz);
	redisFree(c);
}

/* POST /pay from source; the answer in rep. */
static void
pay_from(struct rig *r, const char *source, const char *target,
    const char *form, struct rig_reply *rep)
{
	struct rig_http	 h;

	rig_http_init(&h, r->http_port);
	rig_http_from(&h, source);
	ck_assert_msg(rig_http_request(&h, "POST", target, FORM, form,
	    strlen(form), rep, r->err, sizeof(r->err)), "%s", r->err);
	rig_http_close(&h);
}

/*
 * With --pay-from, /pay (in any spelling) from another address is 403
 * -14 from nginx, before the limit, and pays nothing; from a listed one
 * it reaches an instance, however many notices come.
 */
START_TEST(test_pay_only_from_the_payment_service)
{
	static const char *const args[] = { "--pay-from", "127.0.0.2",
	    "--pay-from", "fd00::/8", "--rate", STR(TIGHT_RATE), "--burst",
	    STR(TIGHT_BURST), NULL };
	/* Notices from elsewhere: from 127.0.0.1, more than a second's worth. */
	static const struct {
		const char	*source, *target;
	} refused[] = {
		{ "127.0.0.1", "/pay" },
		{ "127.0.0.3", "/p%61y" },
		{ "127.0.0.1", "//pay" },
		{ "127.0.0.1", "/p%61y" },
		{ "127.0.0.1", "/pay" },
	};
	struct rig_options opt = with_args(args);
	struct rig	 r;
	struct rig_reply rep;
	char		 order[64], form[160], status[32];
	const char	*p;
	double		 start, ms = 0;
	int		 i, n, round;

	rig_ck_start(&r, &opt, 10);
	ck_assert_msg(rig_nginx_test(&r), "%s", r.err);
	ck_assert(rig_get(&r, "/buy/ticket?user=payer", &rep));
	ck_assert_msg(rep.code == 1 && (p = strstr(rep.body, "\"order\":\"")) !=
	    NULL, "%s", rep.body);
	snprintf(order, sizeof(order), "%.*s", (int)strcspn(p + 9, "\""),
	    p + 9);
	snprintf(form, sizeof(form), "user=payer&order=%s", order);

	/*
	 * Each is refused 403 -14 and none 429: were they counted by the
	 * limit, more came from 127.0.0.1 than its bucket lets through in
	 * the time they took.  A round too slow for that is sent again.
	 */
	for (round = 0;; round++) {
		ck_assert_msg(round < ROUNDS_MAX, "%d rounds of notices, each "
		    "too slow (the last %.0f ms) to go over --rate %d --burst "
		    "%d", ROUNDS_MAX, ms, TIGHT_RATE, TIGHT_BURST);
		start = rig_now_ms();
		for (i = n = 0; i < (int)(sizeof(refused) / sizeof(refused[0]));
		    i++) {
			pay_from(&r, refused[i].source, refused[i].target, form,
			    &rep);
			ck_assert_msg(rep.status == 403 && rep.code == -14 &&
			    strstr(rep.body, "payment not verified") != NULL &&
			    strcmp(rep.content_type,
			    "application/json; charset=utf-8") == 0,
			    "%s from %s: %d %s", refused[i].target,
			    refused[i].source, rep.status, rep.body);
			n += strcmp(refused[i].source, "127.0.0.1") == 0;
		}
		ms = rig_now_ms() - start;
		if (n > bucket_allows(TIGHT_BURST, TIGHT_RATE, ms))
			break;
	}
	order_status(&r, order, status, sizeof(status));
	ck_assert_str_eq(status, "pending");
	ck_assert_msg(rig_stat_wait(&r, "result:-14,localSales:0,port:nginx,",
	    (long)((round + 1) * (sizeof(refused) / sizeof(refused[0]))),
	    BUDGET_NGINX_STAT_MS), "%s", r.err);

	start = rig_now_ms();
	pay_from(&r, "127.0.0.2", "/pay", form, &rep);
	ck_assert_msg(rep.status == 200 && rep.code == 1 && rep.chunked,
	    "from the payment service: %d %s", rep.status, rep.body);
	order_status(&r, order, status, sizeof(status));
	ck_assert_str_eq(status, "paid");
	/*
	 * The payment service is not held to a client's rate: it sends
	 * more notices than the bucket would let through in their time.
	 */
	for (n = 1; n <= bucket_allows(TIGHT_BURST, TIGHT_RATE,
	    rig_now_ms() - start); n++) {
		ck_assert_msg(n < NOTICES_MAX, "%d notices took %.0f ms: too "
		    "slow to go over --rate %d --burst %d", n,
		    rig_now_ms() - start, TIGHT_RATE, TIGHT_BURST);
		pay_from(&r, "127.0.0.2", "/pay", form, &rep);
		ck_assert_msg(rep.status == 200 && rep.code == 1 &&
		    rep.chunked, "notice %d from the payment service: %d %s",
		    n, rep.status, rep.body);
	}
	rig_stop(&r);
}
END_TEST

static Suite *
limit_suite(void)
{
	Suite	*s = suite_create("limit");
	TCase	*unit = tcase_create("render");
	TCase	*live = tcase_create("live");

	tcase_add_test(unit, test_option_lines);
	tcase_add_test(unit, test_shipped_template);
	suite_add_tcase(s, unit);
	tcase_set_timeout(live, 90);
	tcase_add_test(live, test_usage_errors);
	tcase_add_test(live, test_one_client_over_its_rate);
	tcase_add_test(live, test_sold_out_edge_before_the_limit);
	tcase_add_test(live, test_pay_only_from_the_payment_service);
	suite_add_tcase(s, live);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(limit_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
