/*
 * Integration: operations.  Each instance's /metrics (through nginx's
 * loopback-only /metrics/N) is strict Prometheus text whose counters add
 * up to the requests sent; /healthz follows Redis going and coming back;
 * the public /metrics and /healthz are refused; SIGHUP under load moves
 * stat.log to a new file without losing or tearing a line.
 */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rig_ck.h"
#include "prom.h"

#define METRICS_TYPE	"text/plain; version=0.0.4; charset=utf-8"
#define JSON_TYPE	"application/json; charset=utf-8"
#define STAT_LINE_RE	"^result:-?[0-9]+,localSales:[0-9]+,port:[0-9]+," \
			"user:([A-Za-z0-9_.-]{1,64}|-),us:[0-9]+\n$"
#define BUYS		300
#define BAD_REQUESTS	40
#define UNKNOWN_PATHS	20
#define HEALTH_REDIS_MS	300	/* redis_timeout_ms of the health test */
#define HEALTH_SYNC_MS	100	/* its sync_ms */
/* /healthz follows Redis at a sync, or the next if one was in flight. */
#define HEALTH_MS	(2 * BUDGET_SYNC_MS(HEALTH_SYNC_MS, HEALTH_REDIS_MS))
/* Loads run for a time bound by no timeout of the service. */
#define LOAD_MS		budget_ms(20000)
#define ROTATIONS	6
#define ROTATE_EVERY_MS	150
#define REOPEN_BUYS	20

/* Where every purchase must succeed, a loaded machine must not time out. */
static const struct rig_options patient = {
	.redis_timeout_ms = BUDGET_PATIENT_REDIS_MS
};

/* GET target through nginx; fails the test when nothing comes back. */
static void
get(struct rig *r, const char *target, struct rig_reply *rep)
{
	ck_assert_msg(rig_get(r, target, rep), "GET %s: %s", target, r->err);
}

/* Scrape instance i (0-based) through /metrics/<i+1>, strictly. */
static void
scrape(struct rig *r, int i, struct prom *p)
{
	struct rig_reply rep;
	char		 target[32];

	snprintf(target, sizeof(target), "/metrics/%d", i + 1);
	get(r, target, &rep);
	ck_assert_msg(rep.status == 200, "%s: %d %s", target, rep.status,
	    rep.body);
	ck_assert_str_eq(rep.content_type, METRICS_TYPE);
	ck_assert_msg(prom_parse(p, rep.body), "%s: %s\n%s", target, p->err,
	    rep.body);
	ck_assert_msg(prom_histogram_check(p,
	    "spike_request_duration_seconds"), "%s: %s", target, p->err);
}

static void
scrape_all(struct rig *r, struct prom p[RIG_INSTANCES])
{
	for (int i = 0; i < RIG_INSTANCES; i++)
		scrape(r, i, &p[i]);
}

static void
free_all(struct prom p[RIG_INSTANCES])
{
	for (int i = 0; i < RIG_INSTANCES; i++)
		prom_free(&p[i]);
}

/* name{labels} summed over the instances. */
static double
total(struct prom p[RIG_INSTANCES], const char *name, const char *labels)
{
	double	 sum = 0, v;

	for (int i = 0; i < RIG_INSTANCES; i++) {
		ck_assert_msg(prom_value(&p[i], name, labels, &v),
		    "instance %d: no %s{%s}", i, name, labels);
		sum += v;
	}
	return sum;
}

/* The change of a series, summed over the instances, from a to b. */
static long
change(struct prom a[RIG_INSTANCES], struct prom b[RIG_INSTANCES],
    const char *name, const char *labels)
{
	return (long)(total(b, name, labels) - total(a, name, labels));
}

/* GET prefix0..prefix<n-1> on one connection; each must get status. */
static void
send_n(struct rig *r, const char *prefix, int n, int status)
{
	struct rig_http	 h;
	struct rig_reply rep;
	char		 target[128], err[256];

	rig_http_init(&h, r->http_port);
	for (int k = 0; k < n; k++) {
		snprintf(target, sizeof(target), "%s%d", prefix, k);
		ck_assert_msg(rig_http_request(&h, "GET", target, NULL, NULL,
		    0, &rep, err, sizeof(err)), "%s", err);
		ck_assert_msg(rep.status == status, "GET %s: %d %s, want %d",
		    target, rep.status, rep.body, status);
	}
	rig_http_close(&h);
}

START_TEST(test_metrics_count)
{
	static const char *const others[] = { "-1", "-2", "-5", "-6", "-7",
	    "-8" };
	struct prom	 a[RIG_INSTANCES], b[RIG_INSTANCES], c[RIG_INSTANCES];
	struct rig	 r;
	struct rig_reply rep;
	long long	 sale, sold;
	long		 ops, want;
	char		 code[32];

	rig_ck_start(&r, &patient, 100000);
	scrape_all(&r, a);
	send_n(&r, "/buy/ticket?user=m", BUYS, 200);
	send_n(&r, "/buy/ticket?user=%zz", BAD_REQUESTS, 400);
	send_n(&r, "/nowhere/", UNKNOWN_PATHS, 404);
	scrape_all(&r, b);
	ck_assert_int_eq(change(a, b, "spike_requests_total", "code=\"1\""),
	    BUYS);
	ck_assert_int_eq(change(a, b, "spike_requests_total", "code=\"-3\""),
	    BAD_REQUESTS);
	ck_assert_int_eq(change(a, b, "spike_requests_total", "code=\"-4\""),
	    UNKNOWN_PATHS);
	for (size_t k = 0; k < sizeof(others) / sizeof(others[0]); k++) {
		snprintf(code, sizeof(code), "code=\"%s\"", others[k]);
		ck_assert_int_eq(change(a, b, "spike_requests_total", code), 0);
	}
	ck_assert_int_eq(change(a, b, "spike_request_duration_seconds_count",
	    ""), BUYS + BAD_REQUESTS + UNKNOWN_PATHS);
	ck_assert_msg(rig_sale_get(&r, &sale, &sold), "%s", r.err);
	ck_assert_int_eq(sold, BUYS);
	ck_assert_int_eq(total(b, "spike_local_sales_total", ""), BUYS);
	ck_assert_int_ge(change(a, b, "spike_redis_calls_total",
	    "script=\"buy\""), BUYS);
	ck_assert_int_gt(total(b, "spike_redis_calls_total",
	    "script=\"sync\""), 0);
	ck_assert_int_eq(total(b, "spike_redis_up", ""), RIG_INSTANCES);
	ck_assert_int_eq(change(a, b, "spike_redis_errors_total", ""), 0);
	ck_assert_int_le(total(b, "spike_local_taken", ""),
	    total(b, "spike_local_quota", ""));

	/* Scrapes and health checks are not counted, but logged. */
	for (int i = 1; i <= RIG_INSTANCES; i++) {
		snprintf(code, sizeof(code), "/healthz/%d", i);
		get(&r, code, &rep);
		ck_assert_msg(rep.status == 200, "%s: %d", code, rep.status);
	}
	scrape_all(&r, c);
	ck_assert_int_eq(change(b, c, "spike_request_duration_seconds_count",
	    ""), 0);
	ops = 3 * RIG_INSTANCES + RIG_INSTANCES;	/* scrapes, health */
	want = BUYS + BAD_REQUESTS + UNKNOWN_PATHS + ops;
	ck_assert_msg(rig_instances_term(&r, BUDGET_TERM_MS), "%s", r.err);
	ck_assert_int_eq(rig_stat_lines(&r, NULL), want);
	free_all(a);
	free_all(b);
	free_all(c);
	rig_stop(&r);
}
END_TEST

START_TEST(test_public_refused)
{
	static const char *const guarded[] = { "/metrics", "/healthz",
	    "/metrics?x=1", "//metrics", "/%6detrics", "/./healthz" };
	static const char *const unknown[] = { "/metrics/", "/metrics/5" };
	struct rig	 r;
	struct rig_reply rep;
	size_t		 k;

	rig_ck_start(&r, NULL, 1000);
	for (k = 0; k < sizeof(guarded) / sizeof(guarded[0]); k++) {
		get(&r, guarded[k], &rep);
		ck_assert_msg(rep.status == 404 || rep.status == 403,
		    "public %s: %d %s", guarded[k], rep.status, rep.body);
		ck_assert_msg(strstr(rep.body, "# TYPE") == NULL &&
		    strstr(rep.body, "\"ok\"") == NULL, "public %s: %s",
		    guarded[k], rep.body);
	}
	for (k = 0; k < sizeof(unknown) / sizeof(unknown[0]); k++) {
		get(&r, unknown[k], &rep);
		ck_assert_msg(rep.status == 404 && rep.code == -4,
		    "%s: %d %s", unknown[k], rep.status, rep.body);
	}
	ck_assert_msg(rig_instances_term(&r, BUDGET_TERM_MS), "%s", r.err);
	ck_assert_int_eq(rig_stat_lines(&r, NULL), (long)(sizeof(unknown) /
	    sizeof(unknown[0])));
	rig_stop(&r);
}
END_TEST

/* Poll /healthz/<i+1> until it answers status; fails after HEALTH_MS. */
static void
health_wait(struct rig *r, int i, int status, struct rig_reply *rep)
{
	double	 end = rig_now_ms() + HEALTH_MS;
	char	 target[32];

	snprintf(target, sizeof(target), "/healthz/%d", i + 1);
	for (;;) {
		get(r, target, rep);
		if (rep->status == status)
			break;
		ck_assert_msg(rig_now_ms() < end, "%s: still %d %s after %u "
		    "ms, want %d", target, rep->status, rep->body, HEALTH_MS,
		    status);
		rig_sleep_ms(50);
	}
	ck_assert_str_eq(rep->content_type, JSON_TYPE);
}

START_TEST(test_healthz_follows_redis)
{
	struct rig_options opt = { .redis_timeout_ms = HEALTH_REDIS_MS,
	    .sync_ms = HEALTH_SYNC_MS };
	struct prom	 p[RIG_INSTANCES];
	struct rig	 r;
	struct rig_reply rep;
	int		 i;

	rig_ck_start(&r, &opt, 1000);
	for (i = 0; i < RIG_INSTANCES; i++) {
		health_wait(&r, i, 200, &rep);
		ck_assert_str_eq(rep.body, "{\"code\":1,\"msg\":\"ok\"}\n");
	}
	ck_assert_msg(rig_redis_stop(&r), "%s", r.err);
	for (i = 0; i < RIG_INSTANCES; i++) {
		health_wait(&r, i, 503, &rep);
		ck_assert_msg(rep.code == -2 && rep.retry_after == 1,
		    "instance %d without Redis: %s, Retry-After %d", i,
		    rep.body, rep.retry_after);
		ck_assert_msg(strstr(rep.body, "redis") != NULL, "%s",
		    rep.body);
	}
	scrape_all(&r, p);
	ck_assert_int_eq(total(p, "spike_redis_up", ""), 0);
	ck_assert_int_ge(total(p, "spike_redis_errors_total", ""),
	    RIG_INSTANCES);
	free_all(p);
	ck_assert_msg(rig_redis_start(&r), "%s", r.err);
	for (i = 0; i < RIG_INSTANCES; i++)
		health_wait(&r, i, 200, &rep);
	scrape_all(&r, p);
	ck_assert_int_eq(total(p, "spike_redis_up", ""), RIG_INSTANCES);
	ck_assert_int_ge(total(p, "spike_redis_reconnects_total", ""),
	    RIG_INSTANCES);
	free_all(p);
	for (i = 0; i < RIG_INSTANCES; i++)
		ck_assert_msg(rig_instance_alive(&r, i), "%s", r.err);
	rig_stop(&r);
}
END_TEST

/*
 * Lines of path; every one must match STAT_LINE_RE, newline included, so
 * a line torn between two files fails.
 */
static long
stat_file_lines(const char *path)
{
	regex_t	 re;
	FILE	*f;
	char	*line = NULL;
	size_t	 cap = 0;
	long	 n = 0;

	ck_assert_int_eq(regcomp(&re, STAT_LINE_RE, REG_EXTENDED | REG_NOSUB),
	    0);
	ck_assert_msg((f = fopen(path, "r")) != NULL, "cannot open %s", path);
	while (getline(&line, &cap, f) != -1) {
		ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0,
		    "%s:%ld: malformed: %s", path, n + 1, line);
		n++;
	}
	free(line);
	fclose(f);
	regfree(&re);
	return n;
}

static void
hup_all(struct rig *r)
{
	for (int i = 0; i < RIG_INSTANCES; i++)
		ck_assert_msg(rig_instance_kill(r, i, SIGHUP), "%s", r->err);
}

/* Rotate stat.log under load: every answer has one whole line. */
START_TEST(test_sighup_under_load)
{
	struct rig_load_spec spec;
	struct rig	 r;
	struct rig_load	 l;
	char		 path[RIG_PATH_MAX + 16], sum[1024];
	long		 lines, rotated;
	double		 end;
	int		 k;

	rig_ck_start(&r, NULL, 10000000);
	spec = rig_load_plan(&r, 16, 10000000, true, 3 * LOAD_MS);
	ck_assert(rig_load_start(&l, &spec));
	end = rig_now_ms() + LOAD_MS;
	while (atomic_load(&l.answered) < 500 && rig_now_ms() < end)
		rig_sleep_ms(10);
	for (k = 1; k <= ROTATIONS; k++) {
		snprintf(path, sizeof(path), "%s.%d", r.stat_log, k);
		ck_assert_msg(rename(r.stat_log, path) == 0, "rotation %d: "
		    "no new stat.log after the last SIGHUP", k);
		hup_all(&r);
		rig_sleep_ms(ROTATE_EVERY_MS);
	}
	rig_load_stop(&l);
	rig_load_wait(&l);
	ck_assert_msg(rig_instances_term(&r, BUDGET_TERM_MS), "%s", r.err);
	rig_load_summary(&l, sum, sizeof(sum));
	ck_assert_msg(l.failed == 0 && l.nginx_own == 0, "%s", sum);
	lines = stat_file_lines(r.stat_log);
	ck_assert_msg(lines > 0, "nothing in stat.log after the last SIGHUP");
	for (k = 1; k <= ROTATIONS; k++) {
		snprintf(path, sizeof(path), "%s.%d", r.stat_log, k);
		lines += rotated = stat_file_lines(path);
		ck_assert_msg(k == 1 || rotated > 0, "%s is empty", path);
	}
	ck_assert_msg(lines == (long)l.answered, "stat.log and rotated "
	    "files: %ld lines for %u answers: %s", lines, l.answered, sum);
	rig_stop(&r);
}
END_TEST

/* A path that cannot be opened keeps the old file, with one warning. */
START_TEST(test_sighup_reopen_fails)
{
	struct rig	 r;
	char		 old[RIG_PATH_MAX + 16];

	rig_ck_start(&r, &patient, 1000);
	snprintf(old, sizeof(old), "%s.1", r.stat_log);
	ck_assert_int_eq(rename(r.stat_log, old), 0);
	ck_assert_int_eq(mkdir(r.stat_log, 0700), 0);
	hup_all(&r);
	rig_ck_logs_wait(&r, "cannot reopen", 1,
	    BUDGET_STAT_MS);
	hup_all(&r);
	rig_sleep_ms(BUDGET_STAT_MS);	/* handled, and not logged again */
	send_n(&r, "/buy/ticket?user=a", REOPEN_BUYS, 200);
	ck_assert_int_eq(rmdir(r.stat_log), 0);
	hup_all(&r);
	rig_ck_logs_wait(&r, "reopened", 1,
	    BUDGET_STAT_MS);
	send_n(&r, "/buy/ticket?user=b", REOPEN_BUYS, 200);
	ck_assert_msg(rig_instances_term(&r, BUDGET_TERM_MS), "%s", r.err);
	for (int i = 0; i < RIG_INSTANCES; i++)
		ck_assert_int_eq(rig_instance_log_lines(&r, i, "cannot reopen"), 1);
	ck_assert_int_eq(stat_file_lines(old), REOPEN_BUYS);
	ck_assert_int_eq(stat_file_lines(r.stat_log), REOPEN_BUYS);
	rig_stop(&r);
}
END_TEST

static Suite *
ops_suite(void)
{
	Suite	*s = suite_create("ops");
	TCase	*http = tcase_create("http");
	TCase	*rotate = tcase_create("rotate");

	tcase_set_timeout(http, 60);
	tcase_add_test(http, test_metrics_count);
	tcase_add_test(http, test_public_refused);
	tcase_add_test(http, test_healthz_follows_redis);
	suite_add_tcase(s, http);
	tcase_set_timeout(rotate, 90);
	tcase_add_test(rotate, test_sighup_under_load);
	tcase_add_test(rotate, test_sighup_reopen_fails);
	suite_add_tcase(s, rotate);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(ops_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
