/*
 * Integration: chaos.  Faults injected mid-sale through the shipped nginx
 * snippet, four real spike-fcgi instances and a real Redis: SCRIPT FLUSH,
 * an instance SIGKILLed and restarted on its port, nginx reloaded
 * (SIGHUP to its master) and stat.log's disk full.  Each test sells with
 * a user never seen before on every request and checks, at the end, that
 * nothing was oversold (Redis sold <= total) and that every code-1 answer
 * is backed by a sale: it names an order, the order exists in Redis with
 * that user, no order is named twice, and the code-1 answers number
 * Redis's sold count (when every request got an answer).
 */
#define _GNU_SOURCE	/* unshare(2) */
#include "config.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "rig_ck.h"

#define K		RIG_STOCK_KEY
#define CONNS		16
#define RELOAD_5XX_MAX	5	/* nginx reload: the reload instant only */
#define STATFS_SIZE	"size=64k"
/*
 * Selling a sale here takes a few seconds at the few thousand buys a
 * second an idle machine manages: no timeout of the service bounds it,
 * only the slowdown factor.  The load stops after twice that.
 */
#define SELL_MS		budget_ms(30000)
#define LOAD_MS		(2 * SELL_MS)

/* ---- small helpers ------------------------------------------------------ */

/* Poll Redis until sold >= want or timeout_ms; returns the last sold. */
static long long
wait_sold(struct rig *r, long long want, unsigned int timeout_ms)
{
	double		 end = rig_now_ms() + timeout_ms;
	long long	 sold;

	while ((sold = rig_ck_sold(r)) < want && rig_now_ms() < end)
		rig_sleep_ms(10);
	return sold;
}

/* ---- a load that remembers every answer --------------------------------- */

/* One request's answer: HTTP status (-1: no answer), code, order id. */
struct ans {
	short		 status;
	int		 code;
	char		 order[STORE_ORDER_ID_MAX];	/* "": none named */
	bool		 repeat;
};

struct chaos {
	int		 port;
	const char	*nginx_503;
	const char	*prefix;	/* users are <prefix><k> */
	unsigned int	 total;		/* requests at most */
	unsigned int	 deadline_ms;
	double		 start_ms;
	atomic_uint	 next;
	atomic_bool	 stop;
	atomic_uint	 answered;
	atomic_uint	 failed;	/* transport errors */
	atomic_uint	 code1;
	atomic_uint	 status5xx;
	atomic_uint	 nginx_own;
	struct ans	*ans;
	pthread_t	 threads[CONNS];
	char		 first_error[256];
	atomic_flag	 error_taken;
};

/* The order id the answer names into out, or "". */
static void
order_of(const char *body, char *out, size_t outsz)
{
	const char	*p = strstr(body, "\"order\":\"");

	out[0] = '\0';
	if (p != NULL)
		snprintf(out, outsz, "%.*s", (int)strcspn(p + 9, "\""), p + 9);
}

static void *
chaos_thread(void *arg)
{
	struct chaos	*l = arg;
	struct rig_http	 h;
	struct rig_reply rep;
	struct ans	*a;
	char		 target[96], err[256];
	unsigned int	 k;
	double		 end = l->start_ms + l->deadline_ms;

	rig_http_init(&h, l->port);
	while (!atomic_load(&l->stop) && rig_now_ms() < end) {
		if ((k = atomic_fetch_add(&l->next, 1)) >= l->total)
			break;
		a = &l->ans[k];
		snprintf(target, sizeof(target), "/buy/ticket?user=%s%u",
		    l->prefix, k);
		if (!rig_http_request(&h, "GET", target, NULL, NULL, 0, &rep,
		    err, sizeof(err))) {
			a->status = -1;
			atomic_fetch_add(&l->failed, 1);
			if (!atomic_flag_test_and_set(&l->error_taken))
				snprintf(l->first_error,
				    sizeof(l->first_error), "%s", err);
			continue;
		}
		a->status = (short)rep.status;
		a->code = rep.code;
		order_of(rep.body, a->order, sizeof(a->order));
		a->repeat = strstr(rep.body, "\"repeat\":true") != NULL;
		atomic_fetch_add(&l->answered, 1);
		if (rep.status == 200 && rep.code == 1)
			atomic_fetch_add(&l->code1, 1);
		if (rep.status >= 500) {
			atomic_fetch_add(&l->status5xx, 1);
			if (strcmp(rep.body, l->nginx_503) == 0)
				atomic_fetch_add(&l->nginx_own, 1);
		}
	}
	rig_http_close(&h);
	return NULL;
}

static void
chaos_start(struct chaos *l, struct rig *r, const char *prefix,
    unsigned int total, unsigned int deadline_ms)
{
	memset(l, 0, sizeof(*l));
	atomic_flag_clear(&l->error_taken);
	l->port = r->http_port;
	l->nginx_503 = r->nginx_503;
	l->prefix = prefix;
	l->total = total;
	l->deadline_ms = deadline_ms;
	ck_assert((l->ans = calloc(total, sizeof(*l->ans))) != NULL);
	l->start_ms = rig_now_ms();
	for (int i = 0; i < CONNS; i++)
		ck_assert(pthread_create(&l->threads[i], NULL, chaos_thread,
		    l) == 0);
}

static void
chaos_stop(struct chaos *l)
{
	atomic_store(&l->stop, true);
	for (int i = 0; i < CONNS; i++)
		pthread_join(l->threads[i], NULL);
}

static const char *
chaos_summary(struct chaos *l, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "sent %u answered %u failed %u code-1 %u 5xx %u "
	    "(nginx's own 503 %u)%s%s", atomic_load(&l->next) < l->total ?
	    atomic_load(&l->next) : l->total, atomic_load(&l->answered),
	    atomic_load(&l->failed), atomic_load(&l->code1),
	    atomic_load(&l->status5xx), atomic_load(&l->nginx_own),
	    l->first_error[0] ? "; first error: " : "", l->first_error);
	return buf;
}

static int
cmp_order(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The books: nothing oversold, every code-1 answer names an order of its
 * own user in Redis, no order named twice; returns Redis's sold count.
 * When exact, every request was answered and code-1 answers == sold.
 */
static long long
assert_books(struct rig *r, struct chaos *l, long long total, bool exact)
{
	redisContext	*c = rig_ck_redis(r);
	redisReply	*rep;
	const char	**orders;
	long long	 sold;
	unsigned int	 n = atomic_load(&l->next), k, m = 0;
	char		 key[64], user[96], sum[512];

	if (n > l->total)
		n = l->total;
	chaos_summary(l, sum, sizeof(sum));
	sold = rig_ck_sold(r);
	ck_assert_msg(sold <= total, "oversold: Redis sold %lld of %lld: %s",
	    sold, total, sum);
	ck_assert((orders = calloc(n + 1, sizeof(*orders))) != NULL);
	for (k = 0; k < n; k++) {
		if (l->ans[k].status != 200 || l->ans[k].code != 1)
			continue;
		ck_assert_msg(l->ans[k].order[0] != '\0', "code 1 for %s%u "
		    "names no order", l->prefix, k);
		/* "repeat":true is fine: nginx retried a request on another
		 * instance after the first bought and died (same REQUEST_ID). */
		orders[m++] = l->ans[k].order;
		snprintf(key, sizeof(key), K ":order:%s", l->ans[k].order);
		redisAppendCommand(c, "HGET %s user", key);
	}
	for (k = 0; k < n; k++) {
		if (l->ans[k].status != 200 || l->ans[k].code != 1)
			continue;
		ck_assert_msg(redisGetReply(c, (void **)&rep) == REDIS_OK,
		    "redis: %s", c->errstr);
		snprintf(user, sizeof(user), "%s%u", l->prefix, k);
		ck_assert_msg(rep->type == REDIS_REPLY_STRING &&
		    strcmp(rep->str, user) == 0, "order %s (code 1 for %s) "
		    "in Redis has user %s", l->ans[k].order, user,
		    rep->type == REDIS_REPLY_STRING ? rep->str : "(none)");
		freeReplyObject(rep);
	}
	redisFree(c);
	qsort(orders, m, sizeof(*orders), cmp_order);
	for (k = 1; k < m; k++)
		ck_assert_msg(strcmp(orders[k], orders[k - 1]) != 0, "order "
		    "%s named by two code-1 answers", orders[k]);
	free(orders);
	ck_assert_msg(m == atomic_load(&l->code1), "%u code-1 records, %u "
	    "counted", m, atomic_load(&l->code1));
	if (exact) {
		ck_assert_msg(l->failed == 0, "requests unanswered: %s", sum);
		ck_assert_msg(sold == (long long)m, "Redis sold %lld, code-1 "
		    "answers %u: %s", sold, m, sum);
	} else
		ck_assert_msg((long long)m <= sold && sold <= (long long)m +
		    atomic_load(&l->failed), "Redis sold %lld, code-1 answers "
		    "%u, unanswered %u: %s", sold, m, atomic_load(&l->failed),
		    sum);
	return sold;
}

/* ---- 1. SCRIPT FLUSH mid-sale ------------------------------------------- */

/*
 * SCRIPT LOAD calls Redis has served (INFO commandstats; "script|load"
 * in Redis 7, "script" with all its subcommands before), to show that
 * the instances loaded their scripts again after each flush.
 */
static long long
script_loads(redisContext *c)
{
	redisReply	*rep = redisCommand(c, "INFO commandstats");
	const char	*p;
	long long	 n = -1;

	ck_assert_msg(rep != NULL && rep->type == REDIS_REPLY_STRING,
	    "INFO commandstats: %s", rep ? rep->str : c->errstr);
	if ((p = strstr(rep->str, "cmdstat_script|load:calls=")) != NULL)
		n = atoll(p + strlen("cmdstat_script|load:calls="));
	else if ((p = strstr(rep->str, "cmdstat_script:calls=")) != NULL)
		n = atoll(p + strlen("cmdstat_script:calls="));
	freeReplyObject(rep);
	ck_assert_msg(n >= 0, "INFO commandstats names no SCRIPT LOAD");
	return n;
}

#define FLUSH_TOTAL	20000
#define FLUSHES		5

START_TEST(test_script_flush)
{
	struct rig_options opt = { .sync_ms = 100 };
	struct rig	 r;
	struct chaos	 l;
	redisContext	*c;
	redisReply	*rep;
	long long	 sold, at_last_flush = 0, loads0, loads1;
	char		 sum[512];

	rig_ck_start(&r, &opt, FLUSH_TOTAL);
	c = rig_ck_redis(&r);
	loads0 = script_loads(c);
	chaos_start(&l, &r, "sf", FLUSH_TOTAL * 4, LOAD_MS);
	for (int f = 0; f < FLUSHES; f++) {
		sold = wait_sold(&r, (long long)FLUSH_TOTAL * (f + 1) /
		    (FLUSHES + 2), SELL_MS);
		rep = redisCommand(c, "SCRIPT FLUSH");
		ck_assert_msg(rep != NULL && rep->type == REDIS_REPLY_STATUS,
		    "SCRIPT FLUSH: %s", rep ? rep->str : c->errstr);
		freeReplyObject(rep);
		at_last_flush = rig_ck_sold(&r);
	}
	ck_assert_msg(at_last_flush < FLUSH_TOTAL, "the sale ended (%lld) "
	    "before the last SCRIPT FLUSH", at_last_flush);
	sold = wait_sold(&r, FLUSH_TOTAL, SELL_MS);
	chaos_stop(&l);
	chaos_summary(&l, sum, sizeof(sum));
	loads1 = script_loads(c);
	redisFree(c);
	fprintf(stderr, "SCRIPT FLUSH x%d mid-sale: SCRIPT LOAD calls %lld "
	    "before the sale, %lld after; %s\n", FLUSHES, loads0, loads1, sum);
	ck_assert_msg(loads1 > loads0, "no SCRIPT LOAD after %d flushes "
	    "(%lld before, %lld after)", FLUSHES, loads0, loads1);
	ck_assert_msg(l.status5xx == 0, "5xx after SCRIPT FLUSH: %s", sum);
	sold = assert_books(&r, &l, FLUSH_TOTAL, true);
	ck_assert_msg(sold == FLUSH_TOTAL, "sold %lld of %d: %s", sold,
	    FLUSH_TOTAL, sum);
	free(l.ans);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* ---- 2. an instance SIGKILLed and restarted ----------------------------- */

#define KILL_TOTAL	40000
#define KILL_AT		5000
#define KILLED		3	/* weight 4: the biggest quota */

START_TEST(test_kill_restart)
{
	struct rig_options opt = { .sync_ms = 100 };
	struct rig	 r;
	struct chaos	 l;
	long long	 sold, at_restart;
	long		 before, after;
	char		 sum[512], port[32];

	rig_ck_start(&r, &opt, KILL_TOTAL);
	snprintf(port, sizeof(port), ",port:%d,", r.inst[KILLED].port);
	chaos_start(&l, &r, "kr", KILL_TOTAL * 4, LOAD_MS);
	sold = wait_sold(&r, KILL_AT, SELL_MS);
	ck_assert_msg(sold >= KILL_AT && sold < KILL_TOTAL, "sold %lld "
	    "before the kill", sold);
	ck_assert_msg(rig_instance_kill(&r, KILLED, SIGKILL), "%s", r.err);
	ck_assert_msg(rig_instance_wait(&r, KILLED, BUDGET_TERM_MS, NULL, NULL),
	    "%s", r.err);
	rig_sleep_ms(300);	/* the others sell on without it meanwhile */
	before = rig_stat_lines_both(&r, "result:1,", port);
	ck_assert_msg(rig_instance_start(&r, KILLED), "restart: %s", r.err);
	at_restart = rig_ck_sold(&r);
	ck_assert_msg(at_restart < KILL_TOTAL, "the sale ended (%lld) before "
	    "the restart", at_restart);
	sold = wait_sold(&r, KILL_TOTAL, SELL_MS);
	chaos_stop(&l);
	chaos_summary(&l, sum, sizeof(sum));
	sold = assert_books(&r, &l, KILL_TOTAL, true);
	ck_assert_msg(sold == KILL_TOTAL, "sold %lld of %d: %s", sold,
	    KILL_TOTAL, sum);
	ck_assert_msg(rig_instance_alive(&r, KILLED), "%s", r.err);
	ck_assert_msg(rig_stat_wait(&r, NULL, 1, BUDGET_STAT_MS), "%s",
	    r.err);
	rig_sleep_ms(BUDGET_STAT_MS);	/* the last lines flushed */
	after = rig_stat_lines_both(&r, "result:1,", port);
	fprintf(stderr, "SIGKILL + restart of instance %d: sold %lld at the "
	    "end; it logged %ld sales after its restart at %lld; %s\n",
	    KILLED, sold, after - before, at_restart, sum);
	ck_assert_msg(after > before, "the restarted instance sold nothing "
	    "(%ld code-1 lines before its restart, %ld after): %s", before,
	    after, sum);
	free(l.ans);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* ---- 3. nginx reloaded mid-sale ----------------------------------------- */

#define RELOAD_TOTAL	40000
#define RELOADS		2

START_TEST(test_nginx_reload)
{
	struct rig_options opt = { .sync_ms = 100 };
	struct rig	 r;
	struct chaos	 l;
	long long	 sold, at_last = 0;
	char		 sum[512];

	rig_ck_start(&r, &opt, RELOAD_TOTAL);
	chaos_start(&l, &r, "nr", RELOAD_TOTAL * 4, LOAD_MS);
	for (int k = 0; k < RELOADS; k++) {
		wait_sold(&r, (long long)RELOAD_TOTAL * (k + 1) / (RELOADS + 3),
		    SELL_MS);
		ck_assert_msg(kill(r.nginx_master.pid, SIGHUP) == 0,
		    "SIGHUP nginx: %s", strerror(errno));
		at_last = rig_ck_sold(&r);
		rig_sleep_ms(300);
	}
	ck_assert_msg(at_last < RELOAD_TOTAL, "the sale ended (%lld) before "
	    "the last reload", at_last);
	sold = wait_sold(&r, RELOAD_TOTAL, SELL_MS);
	chaos_stop(&l);
	chaos_summary(&l, sum, sizeof(sum));
	fprintf(stderr, "nginx reload x%d mid-sale: %s\n", RELOADS, sum);
	ck_assert_msg(l.status5xx <= RELOAD_5XX_MAX, "more than %d 5xx "
	    "around %d reloads: %s", RELOAD_5XX_MAX, RELOADS, sum);
	/*
	 * An old worker closes its idle keep-alive client connections as it
	 * leaves: a request sent on one at that instant sees a reset or EOF
	 * (HTTP's keep-alive race, nginx's, not the service's), at most once
	 * per client connection and reload.  Such a request may have bought:
	 * the books then allow sold up to code-1 answers + unanswered.
	 */
	ck_assert_msg(l.failed <= CONNS * RELOADS, "more than %d requests "
	    "unanswered around %d reloads: %s", CONNS * RELOADS, RELOADS, sum);
	sold = assert_books(&r, &l, RELOAD_TOTAL, l.failed == 0);
	ck_assert_msg(sold == RELOAD_TOTAL, "sold %lld of %d: %s", sold,
	    RELOAD_TOTAL, sum);
	ck_assert_msg(rig_get(&r, "/stock", &(struct rig_reply){ 0 }), "%s",
	    r.err);
	free(l.ans);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* ---- 4. stat.log's disk full -------------------------------------------- */

#define FULL_TOTAL	20000

START_TEST(test_statlog_disk_full)
{
	struct rig_options opt = { .sync_ms = 100 };
	struct rig	 r;
	struct chaos	 l;
	struct stat	 st;
	char		 mnt[RIG_PATH_MAX - 16], sum[512];
	long long	 sold;

	/*
	 * A tiny tmpfs in a mount namespace of this test process alone, so
	 * that it vanishes with the test whatever happens.  That takes
	 * CAP_SYS_ADMIN (root, as CI runs); without it there is no disk to
	 * fill, and a test that cannot run fails.
	 */
	ck_assert_msg(unshare(CLONE_NEWNS) == 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0,
	    "stat.log disk full: cannot make a private mount namespace (%s); "
	    "this test needs root (CAP_SYS_ADMIN), as CI has", strerror(errno));
	ck_assert_msg(rig_init(&r, &opt), "rig: %s", r.err);
	ck_assert((size_t)snprintf(mnt, sizeof(mnt), "%s/full", r.dir) <
	    sizeof(mnt));
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	ck_assert_msg(mount("tmpfs", mnt, "tmpfs", 0, STATFS_SIZE) == 0,
	    "stat.log disk full: cannot mount a %s tmpfs on %s: %s",
	    STATFS_SIZE, mnt, strerror(errno));
	snprintf(r.stat_log, sizeof(r.stat_log), "%s/stat.log", mnt);
	ck_assert_msg(rig_write_conf(&r) && rig_redis_start(&r) &&
	    rig_sale_set(&r, FULL_TOTAL) && rig_instances_start(&r) &&
	    rig_heartbeats_wait(&r, BUDGET_UP_MS) && rig_nginx_start(&r),
	    "rig: %s",
	    r.err);
	chaos_start(&l, &r, "df", FULL_TOTAL * 4, LOAD_MS);
	sold = wait_sold(&r, FULL_TOTAL, SELL_MS);
	chaos_stop(&l);
	chaos_summary(&l, sum, sizeof(sum));
	ck_assert_msg(stat(r.stat_log, &st) == 0 && st.st_size > 0 &&
	    st.st_size <= 64 * 1024, "stat.log on the full disk: %s",
	    strerror(errno));
	ck_assert_msg(l.status5xx == 0, "5xx with stat.log's disk full: %s",
	    sum);
	sold = assert_books(&r, &l, FULL_TOTAL, true);
	ck_assert_msg(sold == FULL_TOTAL, "sold %lld of %d with stat.log's "
	    "disk full: %s", sold, FULL_TOTAL, sum);
	fprintf(stderr, "stat.log disk full (tmpfs %s): stat.log %lld bytes, "
	    "sold %lld; %s\n", STATFS_SIZE, (long long)st.st_size, sold, sum);
	ck_assert_msg(rig_instances_term(&r, BUDGET_TERM_MS), "%s", r.err);
	for (int i = 0; i < RIG_INSTANCES; i++) {
		long	 n = rig_instance_log_lines(&r, i, "stat.log: lines lost");

		ck_assert_msg(n == 1, "instance %d reported the full disk %ld "
		    "times, want once", i, n);
	}
	rig_ck_audit(&r);
	rig_stop(&r);	/* the mount point itself stays, removed below */
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
	rmdir(r.dir);
	free(l.ans);
}
END_TEST

static Suite *
chaos_suite(void)
{
	Suite	*s = suite_create("chaos");
	TCase	*tc = tcase_create("chaos");
	TCase	*full = tcase_create("disk_full");	/* CK_RUN_CASE */

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_script_flush);
	tcase_add_test(tc, test_kill_restart);
	tcase_add_test(tc, test_nginx_reload);
	suite_add_tcase(s, tc);
	tcase_set_timeout(full, 90);
	tcase_add_test(full, test_statlog_disk_full);
	suite_add_tcase(s, full);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(chaos_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
