/*
 * Integration: faults.  Redis stopped, frozen or down at start-up gives
 * quick 503s and recovery; instances killed mid-sale neither oversell nor
 * undersell; SIGTERM under load exits 0 in time with stat.log complete,
 * and so does SIGTERM while Redis is frozen under a purchase.
 */
#include "config.h"

#include <sys/wait.h>

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spike.h"
#include "rig_ck.h"

#define REDIS_TIMEOUT_MS	300	/* redis_timeout_ms here */
#define SYNC_MS			100	/* sync_ms here */
#define RECOVER_STREAK		10	/* weights 1..4: every instance */
#define KILL_TOTAL		1000
#define KILL_AFTER_SOLD		300
#define TERM_REQUESTS		8000
#define TERM_AFTER		1500

/*
 * SIGTERM while Redis is frozen: a purchase holds its worker (and the
 * committer) past the grace period, since its Redis call may take twice
 * that.  SIGTERM comes once the purchase has had half the time its call
 * outlasts the grace period to reach an instance; each instance must
 * exit before that call could even time out.
 */
#define FROZEN_GRACE_MS		SPIKE_SHUTDOWN_GRACE_MS
#define FROZEN_CALL_MS		(2 * FROZEN_GRACE_MS)	/* redis_timeout_ms */
#define FROZEN_SEND_MS		budget_ms((FROZEN_CALL_MS - FROZEN_GRACE_MS) / 2)
#define FROZEN_EXIT_MS		budget_ms(FROZEN_GRACE_MS + FROZEN_CALL_MS / 2)

/*
 * Without Redis a buy waits at most for the call in flight and its own,
 * each cut at redis_timeout_ms.
 */
#define UNAVAILABLE_MS	budget_ms(2 * REDIS_TIMEOUT_MS + BUDGET_LATE_MS)
/*
 * With Redis back, each instance sees it at its next sync and its links
 * reconnect at their next call; RECOVER_SYNCS syncs also cover one that
 * fails while Redis loads its AOF, and the streak's buys.  Instances
 * that never had Redis load their scripts first: twice that.
 */
#define RECOVER_SYNCS	8
#define RECOVER_MS	budget_ms(RECOVER_SYNCS * (SYNC_MS + REDIS_TIMEOUT_MS))
/*
 * Selling out takes a few seconds here at the few thousand buys a second
 * an idle machine manages (after a kill, nginx skips a dead instance for
 * its fail_timeout, 2 s): no timeout of the service bounds it, only the
 * slowdown factor.
 */
#define SELL_MS		budget_ms(15000)

/*
 * One buy on h by a user never seen before, so that a ticket per user
 * cannot limit it; fails the test when no HTTP answer comes back.
 */
static void
buy(struct rig_http *h, struct rig_reply *rep)
{
	static unsigned int	 buyer;
	char			 err[256], target[64];

	snprintf(target, sizeof(target), "/buy/ticket?user=f%u", ++buyer);
	ck_assert_msg(rig_http_request(h, "GET", target, NULL, NULL, 0, rep,
	    err, sizeof(err)), "%s", err);
}

/*
 * n buys must each be answered 503 code -2 with Retry-After: 1 within
 * UNAVAILABLE_MS, by the instances themselves (stat.log).
 */
static void
assert_unavailable(struct rig *r, unsigned int n)
{
	struct rig_http	 h;
	struct rig_reply rep;
	long		 before = rig_stat_lines(r, "result:-2,");

	rig_http_init(&h, r->http_port);
	for (unsigned int k = 0; k < n; k++) {
		buy(&h, &rep);
		ck_assert_msg(rep.status == 503 && rep.code == -2,
		    "buy %u without Redis: %d %s", k, rep.status, rep.body);
		ck_assert_msg(rep.retry_after == 1, "buy %u: Retry-After %d",
		    k, rep.retry_after);
		ck_assert_msg(rep.ms <= UNAVAILABLE_MS,
		    "buy %u without Redis took %.0f ms, limit %u", k, rep.ms,
		    UNAVAILABLE_MS);
	}
	rig_http_close(&h);
	ck_assert_msg(rig_stat_wait(r, "result:-2,", before + n,
	    BUDGET_STAT_MS),
	    "the 503s did not come from the instances: %s", r->err);
}

/*
 * Buy until RECOVER_STREAK buys in a row succeed; fails the test when that
 * takes longer than timeout_ms.  Returns the tickets bought meanwhile.
 */
static long long
assert_recovers(struct rig *r, unsigned int timeout_ms)
{
	struct rig_http	 h;
	struct rig_reply rep = { .status = 0 };
	double		 t0 = rig_now_ms();
	unsigned int	 streak = 0;
	long long	 bought = 0;

	rig_http_init(&h, r->http_port);
	while (streak < RECOVER_STREAK) {
		ck_assert_msg(rig_now_ms() - t0 <= timeout_ms,
		    "no recovery %u ms after Redis came back: last %d %s",
		    timeout_ms, rep.status, rep.body);
		buy(&h, &rep);
		if (rep.status == 200 && rep.code == 1) {
			streak++;
			bought++;
		} else {
			streak = 0;
			rig_sleep_ms(50);
		}
	}
	rig_http_close(&h);
	return bought;
}

START_TEST(test_redis_stopped)
{
	struct rig_options opt = { .redis_timeout_ms = REDIS_TIMEOUT_MS,
	    .sync_ms = SYNC_MS };
	struct rig	 r;
	struct rig_http	 h;
	struct rig_reply rep;
	long long	 bought;

	rig_ck_start(&r, &opt, 100000);
	rig_http_init(&h, r.http_port);
	buy(&h, &rep);
	rig_http_close(&h);
	ck_assert_msg(rep.code == 1, "first buy: %d %s", rep.status, rep.body);
	ck_assert_msg(rig_redis_stop(&r), "%s", r.err);
	assert_unavailable(&r, 10);
	rig_ck_all_alive(&r);
	ck_assert_msg(rig_redis_start(&r), "Redis restart: %s", r.err);
	bought = 1 + assert_recovers(&r, RECOVER_MS);
	ck_assert_int_eq(rig_ck_sold(&r), bought);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

START_TEST(test_redis_frozen)
{
	struct rig_options opt = { .redis_timeout_ms = REDIS_TIMEOUT_MS,
	    .sync_ms = SYNC_MS };
	struct rig	 r;
	struct rig_http	 h;
	struct rig_reply rep;

	rig_ck_start(&r, &opt, 100000);
	rig_http_init(&h, r.http_port);
	buy(&h, &rep);
	rig_http_close(&h);
	ck_assert_msg(rep.code == 1, "first buy: %d %s", rep.status, rep.body);
	ck_assert_msg(rig_redis_freeze(&r), "%s", r.err);
	assert_unavailable(&r, 6);
	ck_assert_msg(rig_redis_thaw(&r), "%s", r.err);
	assert_recovers(&r, RECOVER_MS);
	rig_ck_all_alive(&r);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

START_TEST(test_start_without_redis)
{
	struct rig_options opt = { .redis_timeout_ms = REDIS_TIMEOUT_MS,
	    .sync_ms = SYNC_MS };
	struct rig	 r;

	ck_assert_msg(rig_init(&r, &opt) && rig_redis_start(&r) &&
	    rig_sale_set(&r, 1000) && rig_redis_stop(&r), "%s", r.err);
	ck_assert_msg(rig_instances_start(&r), "%s", r.err);
	ck_assert_msg(rig_nginx_start(&r), "%s", r.err);
	rig_ck_all_alive(&r);
	assert_unavailable(&r, 5);
	rig_ck_all_alive(&r);
	ck_assert_msg(rig_redis_start(&r), "Redis start: %s", r.err);
	assert_recovers(&r, 2 * RECOVER_MS);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* Poll Redis until sold >= want or timeout_ms; returns the last sold. */
static long long
wait_sold(struct rig *r, long long want, unsigned int timeout_ms)
{
	double		 end = rig_now_ms() + timeout_ms;
	long long	 sold;

	while ((sold = rig_ck_sold(r)) < want && rig_now_ms() < end)
		rig_sleep_ms(20);
	return sold;
}

START_TEST(test_kill_two_mid_sale)
{
	struct rig_options opt = { .sync_ms = SYNC_MS };
	struct rig_load_spec spec;
	struct rig	 r;
	struct rig_load	 l;
	long long	 sold;
	char		 sum[1024];

	rig_ck_start(&r, &opt, KILL_TOTAL);
	spec = rig_load_plan(&r, 16, 100000, true, 2 * SELL_MS);
	ck_assert(rig_load_start(&l, &spec));
	sold = wait_sold(&r, KILL_AFTER_SOLD, SELL_MS);
	ck_assert_msg(sold >= KILL_AFTER_SOLD && sold < KILL_TOTAL,
	    "sold %lld before the kill: %s", sold,
	    rig_load_summary(&l, sum, sizeof(sum)));
	ck_assert_msg(rig_instance_kill(&r, 2, SIGKILL) &&
	    rig_instance_kill(&r, 3, SIGKILL), "%s", r.err);
	ck_assert_msg(rig_instance_wait(&r, 2, BUDGET_TERM_MS, NULL, NULL) &&
	    rig_instance_wait(&r, 3, BUDGET_TERM_MS, NULL, NULL), "%s", r.err);
	sold = wait_sold(&r, KILL_TOTAL, SELL_MS);
	rig_load_stop(&l);
	rig_load_wait(&l);
	sold = rig_ck_sold(&r);
	rig_load_summary(&l, sum, sizeof(sum));
	ck_assert_msg(sold == KILL_TOTAL, "sold %lld of %d: %s", sold,
	    KILL_TOTAL, sum);
	ck_assert_msg(rig_load_code(&l, 1) == sold,
	    "code 1 answers %u, Redis sold %lld: %s", rig_load_code(&l, 1),
	    sold, sum);
	ck_assert_msg(l.failed == 0, "transport errors: %s", sum);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

START_TEST(test_sigterm_under_load)
{
	struct rig_load_spec spec;
	struct rig	 r;
	struct rig_load	 l;
	double		 end, ms = 0;
	int		 status = -1;
	long		 lines;
	char		 sum[1024];

	rig_ck_start(&r, NULL, 1000000);
	spec = rig_load_plan(&r, 16, TERM_REQUESTS, true, 2 * SELL_MS);
	ck_assert(rig_load_start(&l, &spec));
	end = rig_now_ms() + SELL_MS;
	while (atomic_load(&l.answered) < TERM_AFTER && rig_now_ms() < end)
		rig_sleep_ms(10);
	ck_assert_msg(atomic_load(&l.answered) >= TERM_AFTER, "load stalled: "
	    "%s", rig_load_summary(&l, sum, sizeof(sum)));
	ck_assert_msg(rig_instance_kill(&r, 3, SIGTERM), "%s", r.err);
	ck_assert_msg(rig_instance_wait(&r, 3, 2 * BUDGET_TERM_MS, &status,
	    &ms), "%s", r.err);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "SIGTERM under load: wait status 0x%x, want exit 0", status);
	ck_assert_msg(ms <= BUDGET_TERM_MS, "SIGTERM under load: exit took "
	    "%.0f ms, limit %u", ms, BUDGET_TERM_MS);
	rig_load_wait(&l);
	ck_assert_msg(rig_instances_term(&r, BUDGET_TERM_MS), "%s", r.err);
	rig_load_summary(&l, sum, sizeof(sum));
	ck_assert_msg(l.failed == 0 && l.answered == TERM_REQUESTS,
	    "requests lost: %s", sum);
	lines = rig_stat_lines(&r, NULL);
	ck_assert_msg(lines == (long)(l.answered - l.nginx_own),
	    "stat.log has %ld lines for %u answers from instances: %s", lines,
	    l.answered - l.nginx_own, sum);
	ck_assert_msg(rig_ck_sold(&r) == rig_load_code(&l, 1),
	    "Redis sold %lld, code 1 answers %u: %s", rig_ck_sold(&r),
	    rig_load_code(&l, 1), sum);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/*
 * The file a sanitizer wrote for pid, if any: log_path=PREFIX in
 * ASAN_OPTIONS or UBSAN_OPTIONS (as scripts/check-hardening sets them)
 * makes the runtime write PREFIX.PID.  Returns false when there is none.
 */
static bool
sanitizer_report(pid_t pid, char *path, size_t pathsz)
{
	static const char *const vars[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS" };
	const char	*opt, *at;

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if ((opt = getenv(vars[i])) == NULL ||
		    (at = strstr(opt, "log_path=")) == NULL)
			continue;
		at += strlen("log_path=");
		snprintf(path, pathsz, "%.*s.%ld", (int)strcspn(at, ":"), at,
		    (long)pid);
		if (access(path, F_OK) == 0)
			return true;
	}
	return false;
}

/* SIGTERM instance i: exit 0 within FROZEN_EXIT_MS, no sanitizer report. */
static void
assert_frozen_exit(struct rig *r, int i)
{
	pid_t		 pid = r->inst[i].pid;
	int		 status = -1;
	double		 ms = 0;
	char		 report[RIG_PATH_MAX];

	ck_assert_msg(rig_instance_wait(r, i, FROZEN_EXIT_MS, &status, &ms),
	    "SIGTERM with Redis frozen: %s", r->err);
	ck_assert_msg(!sanitizer_report(pid, report, sizeof(report)),
	    "instance %d: sanitizer report %s", i, report);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "instance %d: wait status 0x%x, want exit 0", i, status);
	ck_assert_msg(ms <= FROZEN_EXIT_MS, "instance %d: exit took %.0f ms, "
	    "limit %d", i, ms, FROZEN_EXIT_MS);
}

/*
 * A worker held past the grace period by a purchase Redis never answers
 * must not keep the instance from exiting, nor find freed what it (or
 * the committer) still uses when it wakes up: under the sanitizer build
 * that would be a report.  The lines of the requests answered are in
 * stat.log.
 */
START_TEST(test_sigterm_redis_frozen)
{
	static const char req[] = "GET /buy/ticket?user=frozen HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\n\r\n";
	struct rig_options opt = { .redis_timeout_ms = FROZEN_CALL_MS };
	struct rig	 r;
	struct rig_reply rep;
	long		 held = 0;
	int		 fd, i;

	rig_ck_start(&r, &opt, 1000);
	ck_assert_msg(rig_get(&r, "/buy/ticket?user=warm", &rep) &&
	    rep.code == 1, "first buy: %d %s %s", rep.status, rep.body, r.err);
	ck_assert_msg(rig_redis_freeze(&r), "%s", r.err);
	fd = rig_tcp_connect(r.http_port, FROZEN_EXIT_MS);
	ck_assert_msg(fd != -1 && rig_send_all(fd, req, sizeof(req) - 1),
	    "cannot send the purchase to nginx");
	rig_sleep_ms(FROZEN_SEND_MS);
	for (i = 0; i < RIG_INSTANCES; i++)
		ck_assert_msg(rig_instance_kill(&r, i, SIGTERM), "%s", r.err);
	for (i = 0; i < RIG_INSTANCES; i++) {
		assert_frozen_exit(&r, i);
		held += rig_instance_log_lines(&r, i, "still busy");
	}
	close(fd);
	ck_assert_msg(held > 0, "no worker was held past the grace period");
	ck_assert_int_eq(rig_stat_lines(&r, "user:warm,"), 1);
	ck_assert_int_eq(rig_stat_lines(&r, "user:frozen,"), 0);
	ck_assert_msg(rig_redis_thaw(&r), "%s", r.err);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

static Suite *
faults_suite(void)
{
	Suite	*s = suite_create("faults");
	TCase	*redis = tcase_create("redis");
	TCase	*instances = tcase_create("instances");
	TCase	*shutdown = tcase_create("shutdown");

	tcase_set_timeout(redis, 60);
	tcase_add_test(redis, test_redis_stopped);
	tcase_add_test(redis, test_redis_frozen);
	tcase_add_test(redis, test_start_without_redis);
	suite_add_tcase(s, redis);
	tcase_set_timeout(instances, 60);
	tcase_add_test(instances, test_kill_two_mid_sale);
	tcase_add_test(instances, test_sigterm_under_load);
	suite_add_tcase(s, instances);
	tcase_set_timeout(shutdown, 60);
	tcase_add_test(shutdown, test_sigterm_redis_frozen);
	suite_add_tcase(s, shutdown);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(faults_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
