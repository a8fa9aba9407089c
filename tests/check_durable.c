/*
 * Integration: the confirmation policy (durability in spike.conf(5)).
 * fsync: Redis SIGKILLed mid-sale and started again from its AOF keeps
 * every purchase a buyer was told of, and the sale then sells out
 * exactly; a Redis that does not fsync before it replies is refused,
 * saying why once, until it does.  replicas: with a real replica, a
 * purchase is "bought" only once WAIT counted it; without, 503 with the
 * sale left on the primary, and the buyer's retry gets the same order.
 * The same kill with weaker settings gives the figures for the manual:
 * confirmed sales lost, printed on stderr, not checked.
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

#include <hiredis/hiredis.h>

#include "spike.h"
#include "prom.h"
#include "rig_ck.h"

#define REDIS_TIMEOUT_MS	500	/* redis_timeout_ms here */
#define SYNC_MS			100	/* sync_ms here */
#define WAIT_MS			100	/* durability_timeout_ms here */
#define KILL_TOTAL		2000
#define KILL_AFTER_SOLD		600
#define KILL_LOAD_CONNS		16
#define KILL_LOAD_USERS		60000	/* far more than the tickets */
#define RECOVER_STREAK		10	/* weights 1..4: every instance */
#define REFUSED_BUYS		8

#define FSYNC_CONF	"durability = fsync\n"
#define REPLICAS_CONF(n) "durability = replicas\nallow_anonymous = no\n" \
			"durability_replicas = " #n "\n" \
			"durability_timeout_ms = 100\n"
#define FSYNC_REFUSED	"durability fsync: redis has appendfsync everysec"
#define UNCONFIRMED	"not confirmed by replicas"

_Static_assert(WAIT_MS == 100, "REPLICAS_CONF writes WAIT_MS");

/*
 * Redis stays dead long enough for every instance to have found it so at
 * a sync, so that the restart is a reconnect for them all.
 */
#define DEAD_MS		(3 * SYNC_MS)
/*
 * Selling the rest after the restart: instances see Redis again at their
 * next syncs, then sell at the few thousand buys a second an idle
 * machine manages.  No timeout of the service bounds it, only the
 * slowdown factor.
 */
#define SELL_MS		budget_ms(20000)
/* After a kill that forgets the sale, how long the load goes on. */
#define AFTER_MS	budget_ms(1000)
/* Refusing Redis or accepting it again: each instance at its next syncs. */
#define RECOVER_MS	budget_ms(8 * (SYNC_MS + REDIS_TIMEOUT_MS))
/*
 * An unconfirmed purchase is answered within the WAIT of the group in
 * flight and its own, each cut at durability_timeout_ms.
 */
#define UNCONFIRMED_MS	budget_ms(2 * WAIT_MS + BUDGET_LATE_MS)

/* One GET of target through nginx; fails the test without an answer. */
static void
get(struct rig *r, const char *target, struct rig_reply *rep)
{
	ck_assert_msg(rig_get(r, target, rep), "%s: %s", target, r->err);
}

/* GET /buy/ticket?user=user. */
static void
buy(struct rig *r, const char *user, struct rig_reply *rep)
{
	char	 target[96];

	snprintf(target, sizeof(target), "/buy/ticket?user=%s", user);
	get(r, target, rep);
}

/*
 * user buys, retrying a 503 as Retry-After says (a WAIT on a loaded
 * machine may outlast durability_timeout_ms), until code 1.
 */
static void
buy_until_bought(struct rig *r, const char *user)
{
	struct rig_reply rep;
	double		 t0 = rig_now_ms();

	for (buy(r, user, &rep); rep.status == 503; buy(r, user, &rep)) {
		ck_assert_msg(rig_now_ms() - t0 <= RECOVER_MS, "%s: still 503 "
		    "after %u ms: %s", user, RECOVER_MS, rep.body);
		rig_sleep_ms(SYNC_MS);
	}
	ck_assert_msg(rep.status == 200 && rep.code == 1, "%s: %d %s", user,
	    rep.status, rep.body);
}

/* The buy must be a 503 with code -2 and Retry-After: 1. */
static void
assert_503(const struct rig_reply *rep, const char *what)
{
	ck_assert_msg(rep->status == 503 && rep->code == -2, "%s: %d %s",
	    what, rep->status, rep->body);
	ck_assert_msg(rep->retry_after == 1, "%s: Retry-After %d", what,
	    rep->retry_after);
}

/*
 * n buys by users never seen before must each be refused, 503 -2, and
 * say why when why is not NULL.
 */
static void
assert_refused(struct rig *r, unsigned int n, const char *why)
{
	static unsigned int	 buyer;
	struct rig_reply	 rep;
	char			 user[32];

	for (unsigned int k = 0; k < n; k++) {
		snprintf(user, sizeof(user), "refused%u", ++buyer);
		buy(r, user, &rep);
		assert_503(&rep, user);
		ck_assert_msg(why == NULL || strstr(rep.body, why) != NULL,
		    "%s: not \"%s\": %s", user, why, rep.body);
	}
}

/*
 * Buy until RECOVER_STREAK buys in a row succeed, within timeout_ms;
 * returns the tickets bought meanwhile.
 */
static long long
assert_recovers(struct rig *r, unsigned int timeout_ms)
{
	static unsigned int	 buyer;
	struct rig_reply	 rep = { .status = 0 };
	double			 t0 = rig_now_ms();
	unsigned int		 streak = 0;
	long long		 bought = 0;
	char			 user[32];

	while (streak < RECOVER_STREAK) {
		ck_assert_msg(rig_now_ms() - t0 <= timeout_ms, "no recovery "
		    "in %u ms: last %d %s", timeout_ms, rep.status, rep.body);
		snprintf(user, sizeof(user), "recover%u", ++buyer);
		buy(r, user, &rep);
		if (rep.status == 200 && rep.code == 1) {
			streak++;
			bought++;
		} else {
			streak = 0;
			rig_sleep_ms(SYNC_MS / 2);
		}
	}
	return bought;
}

/* Redis's sold count, failing the test if it ever passes total. */
static long long
sold_within(struct rig *r, long long total)
{
	long long	 sold = rig_ck_sold(r);

	ck_assert_msg(sold <= total, "sold %lld of %lld", sold, total);
	return sold;
}

/* Poll until sold >= want or timeout_ms; returns the last sold. */
static long long
wait_sold(struct rig *r, long long total, long long want,
    unsigned int timeout_ms)
{
	double		 end = rig_now_ms() + timeout_ms;
	long long	 sold;

	while ((sold = sold_within(r, total)) < want && rig_now_ms() < end)
		rig_sleep_ms(20);
	return sold;
}

/*
 * Users the load told "bought" for whom GET /order finds no order: the
 * confirmed sales lost.  Counted, not asserted: the figures' version of
 * rig_ck_bought_are_orders().
 */
static unsigned int
count_lost(struct rig *r, struct rig_load *l, unsigned int *told)
{
	struct rig_reply rep;
	char		 target[64];
	unsigned int	 k, lost = 0;

	*told = 0;
	for (k = 0; k < l->spec.total && k < RIG_LOAD_USERS_MAX; k++) {
		if (!rig_load_bought(l, k))
			continue;
		(*told)++;
		snprintf(target, sizeof(target), "/order?user=user%u", k);
		get(r, target, &rep);
		if (rep.status != 200 || rep.code != 1)
			lost++;
	}
	return lost;
}

/* The start of a kill test: the rig and a load of unique users on it. */
static void
start_sale_under_load(struct rig *r, struct rig_load *l,
    const char *conf_extra, const char *redis_extra)
{
	struct rig_options opt = { .redis_timeout_ms = REDIS_TIMEOUT_MS,
	    .sync_ms = SYNC_MS, .conf_extra = conf_extra,
	    .redis_extra = redis_extra };
	struct rig_load_spec spec;
	char		 sum[1024];
	long long	 sold;

	rig_ck_start(r, &opt, KILL_TOTAL);
	spec = rig_load_plan(r, KILL_LOAD_CONNS, KILL_LOAD_USERS, true,
	    2 * SELL_MS);
	ck_assert(rig_load_start(l, &spec));
	sold = wait_sold(r, KILL_TOTAL, KILL_AFTER_SOLD, SELL_MS);
	ck_assert_msg(sold >= KILL_AFTER_SOLD && sold < KILL_TOTAL,
	    "sold %lld before the kill: %s", sold,
	    rig_load_summary(l, sum, sizeof(sum)));
}

/* SIGKILL Redis, leave it dead DEAD_MS, start it again from its AOF. */
static void
kill_and_restart(struct rig *r)
{
	ck_assert_msg(rig_redis_kill(r), "%s", r->err);
	rig_sleep_ms(DEAD_MS);
	ck_assert_msg(rig_redis_start(r), "restart: %s", r->err);
}

START_TEST(test_fsync_kill_keeps_every_confirmed_sale)
{
	struct rig	 r;
	struct rig_load	 l;
	redisContext	*c;
	long long	 sold;
	unsigned int	 checked;
	char		 sum[1024];

	start_sale_under_load(&r, &l, FSYNC_CONF, "appendfsync always\n");
	kill_and_restart(&r);
	sold = wait_sold(&r, KILL_TOTAL, KILL_TOTAL, SELL_MS);
	rig_load_stop(&l);
	rig_load_wait(&l);
	rig_load_summary(&l, sum, sizeof(sum));
	ck_assert_msg(sold == KILL_TOTAL, "sold %lld of %d after the "
	    "restart: %s", sold, KILL_TOTAL, sum);
	ck_assert_msg(rig_load_code(&l, 1) <= KILL_TOTAL, "%u told they "
	    "bought %d tickets: %s", rig_load_code(&l, 1), KILL_TOTAL, sum);
	checked = rig_ck_bought_are_orders(&r, &l);
	c = rig_ck_redis(&r);
	ck_assert_int_eq(rig_ck_orders_made(c), KILL_TOTAL);
	redisFree(c);
	ck_assert_int_eq(sold_within(&r, KILL_TOTAL), KILL_TOTAL);
	fprintf(stderr, "durable: fsync, appendfsync always, SIGKILL: "
	    "%u told bought, 0 lost, 503s for %.0f ms\n", checked,
	    rig_load_503_span_ms(&l));
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/*
 * The figures of spike.conf(5): the same kill under weaker settings, and
 * the confirmed sales it lost.  Not a check of the service: a crash of
 * the process is not one of the machine, which everysec may lose a
 * second of.
 */
static void
measure_lost(const char *what, const char *conf_extra,
    const char *redis_extra)
{
	struct rig	 r;
	struct rig_load	 l;
	unsigned int	 told, lost;

	start_sale_under_load(&r, &l, conf_extra, redis_extra);
	kill_and_restart(&r);
	rig_sleep_ms(AFTER_MS);
	rig_load_stop(&l);
	rig_load_wait(&l);
	lost = count_lost(&r, &l, &told);
	fprintf(stderr, "durable: %s, SIGKILL: %u told bought, %u lost\n",
	    what, told, lost);
	rig_stop(&r);
}

START_TEST(test_figures_weaker_settings)
{
	measure_lost("none, appendfsync everysec", NULL,
	    "appendfsync everysec\n");
	measure_lost("none, appendonly no", NULL, "appendonly no\n");
}
END_TEST

/* Every instance's log has needle exactly n times, in the end. */
static void
assert_logged(struct rig *r, const char *needle, long n)
{
	rig_ck_logs_wait(r, needle, n, RECOVER_MS);
	rig_sleep_ms(5 * SYNC_MS);
	for (int i = 0; i < RIG_INSTANCES; i++)
		ck_assert_msg(rig_instance_log_lines(r, i, needle) == n,
		    "instance %d: \"%s\" %ld times, not %ld", i, needle,
		    rig_instance_log_lines(r, i, needle), n);
}

/*
 * spikectl check must pass and, when warning is not NULL, warn of it; when
 * it is NULL, warn of no durability setting.
 */
static void
assert_ctl_check(struct rig *r, const char *warning)
{
	char	 log[RIG_PATH_MAX + 16], line[512];
	char	*argv[] = { r->spikectl, "-c", r->conf, "check", NULL };
	FILE	*f;
	char	 other[512] = "";
	bool	 found = false;
	int	 status;

	snprintf(log, sizeof(log), "%s/check.log", r->dir);
	unlink(log);
	ck_assert_msg(rig_run(r, argv, log, budget_ms(5000), &status), "%s",
	    r->err);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "spikectl check failed: see %s", log);
	ck_assert_msg((f = fopen(log, "r")) != NULL, "%s", log);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (warning != NULL && strstr(line, warning) != NULL)
			found = true;
		else if (strstr(line, "warning: durability") != NULL)
			snprintf(other, sizeof(other), "%s", line);
	}
	fclose(f);
	ck_assert_msg(warning == NULL || found, "spikectl check: no \"%s\"",
	    warning);
	ck_assert_msg(other[0] == '\0', "spikectl check: %s", other);
}

static void
set_appendfsync(struct rig *r, const char *value)
{
	redisContext	*c = rig_ck_redis(r);

	freeReplyObject(RIG_CK_CMD(c, "CONFIG", "SET", "appendfsync", value));
	redisFree(c);
}

START_TEST(test_fsync_refused_until_redis_fsyncs)
{
	struct rig_options opt = { .redis_timeout_ms = REDIS_TIMEOUT_MS,
	    .sync_ms = SYNC_MS, .conf_extra = FSYNC_CONF,
	    .redis_extra = "appendfsync everysec\n" };
	struct rig	 r;
	long long	 bought;

	ck_assert_msg(rig_init(&r, &opt) && rig_redis_start(&r) &&
	    rig_sale_set(&r, 1000) && rig_instances_start(&r) &&
	    rig_nginx_start(&r), "%s", r.err);
	assert_refused(&r, REFUSED_BUYS, NULL);
	assert_logged(&r, FSYNC_REFUSED, 1);
	assert_refused(&r, REFUSED_BUYS, NULL);
	ck_assert_int_eq(rig_ck_sold(&r), 0);
	assert_ctl_check(&r, FSYNC_REFUSED);

	set_appendfsync(&r, "always");
	assert_ctl_check(&r, NULL);
	bought = assert_recovers(&r, RECOVER_MS);
	ck_assert_int_eq(rig_ck_sold(&r), bought);

	/* Changed while the links are up: the next syncs notice. */
	set_appendfsync(&r, "everysec");
	assert_logged(&r, FSYNC_REFUSED, 2);
	assert_refused(&r, REFUSED_BUYS, NULL);
	ck_assert_int_eq(rig_ck_sold(&r), bought);
	rig_ck_all_alive(&r);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

START_TEST(test_fsync_refused_without_aof)
{
	struct rig_options opt = { .redis_timeout_ms = REDIS_TIMEOUT_MS,
	    .sync_ms = SYNC_MS, .conf_extra = FSYNC_CONF,
	    .redis_extra = "appendonly no\nappendfsync always\n" };
	struct rig	 r;

	ck_assert_msg(rig_init(&r, &opt) && rig_redis_start(&r) &&
	    rig_sale_set(&r, 1000) && rig_instances_start(&r) &&
	    rig_nginx_start(&r), "%s", r.err);
	assert_refused(&r, REFUSED_BUYS, NULL);
	assert_logged(&r, "durability fsync: redis has appendonly no", 1);
	ck_assert_int_eq(rig_ck_sold(&r), 0);
	rig_stop(&r);
}
END_TEST

/* The rig with durability = replicas, its sale, and one replica. */
static void
start_with_replica(struct rig *r, struct rig_proc *replica,
    const char *conf_extra)
{
	struct rig_options opt = { .redis_timeout_ms = REDIS_TIMEOUT_MS,
	    .sync_ms = SYNC_MS, .conf_extra = conf_extra };

	rig_ck_start(r, &opt, 1000);
	ck_assert_msg(rig_ha_replica_add(r, replica), "%s", r->err);
}

/* The replica's link to the primary is up again. */
static void
replica_wait(struct rig *r, struct rig_proc *replica)
{
	ck_assert_msg(rig_ha_wait_linked(r, rig_proc_addr(replica),
	    replica->port, r->redis.port, BUDGET_UP_MS), "%s", r->err);
}

/* Stop the replica by pid (SIGTERM, then SIGKILL). */
static void
replica_stop(struct rig_proc *replica)
{
	rig_proc_stop(replica, SIGTERM, BUDGET_TERM_MS);
}

static void
signal_replica(struct rig_proc *replica, int sig)
{
	ck_assert_msg(kill(replica->pid, sig) == 0, "replica: signal %d",
	    sig);
}

/* The id of user's latest order, as the primary has it ("" for none). */
static void
last_order(struct rig *r, const char *user, char *id, size_t idsz)
{
	redisContext	*c = rig_ck_redis(r);
	char		 key[96];

	snprintf(key, sizeof(key), RIG_STOCK_KEY ":last:%s", user);
	rig_redis_str_free(RIG_CK_CMD(c, "GET", key), id, idsz);
	if (strcmp(id, "(nil)") == 0)
		id[0] = '\0';
	redisFree(c);
}

/*
 * The buyer retries, as Retry-After says, until the answer is not a 503
 * (the replica catching up may take more than one WAIT): it must then be
 * code 1, a repeat of order id.
 */
static void
assert_retry_same_order(struct rig *r, const char *user, const char *id)
{
	struct rig_reply rep;
	char		 want[64];
	double		 t0 = rig_now_ms();

	for (buy(r, user, &rep); rep.status == 503; buy(r, user, &rep)) {
		ck_assert_msg(rig_now_ms() - t0 <= RECOVER_MS, "%s: still 503 "
		    "%u ms after the replica came back: %s", user, RECOVER_MS,
		    rep.body);
		rig_sleep_ms(SYNC_MS);
	}
	snprintf(want, sizeof(want), "\"order\":\"%s\"", id);
	ck_assert_msg(rep.status == 200 && rep.code == 1 &&
	    strstr(rep.body, want) != NULL &&
	    strstr(rep.body, "\"repeat\":true") != NULL,
	    "%s's retry: not order %s again: %d %s", user, id, rep.status,
	    rep.body);
}

/*
 * Redis was not reported down: no instance logged it (and the refusals
 * said UNCONFIRMED, not "redis unavailable", which they say while it is
 * down).
 */
static void
assert_not_down(struct rig *r)
{
	for (int i = 0; i < RIG_INSTANCES; i++)
		ck_assert_msg(rig_instance_log_lines(r, i,
		    "redis unavailable") == 0, "instance %d reported Redis "
		    "down", i);
}

/* POST /pay?user=user&order=order through nginx. */
static void
pay(struct rig *r, const char *user, const char *order,
    struct rig_reply *rep)
{
	struct rig_http	 h;
	char		 target[160];

	snprintf(target, sizeof(target), "/pay?user=%s&order=%s", user,
	    order);
	rig_http_init(&h, r->http_port);
	ck_assert_msg(rig_http_request(&h, "POST", target, NULL, NULL, 0, rep,
	    r->err, sizeof(r->err)), "%s: %s", target, r->err);
	rig_http_close(&h);
}

/* The status field of order id on the primary. */
static void
order_status(struct rig *r, const char *id, char *status, size_t statussz)
{
	redisContext	*c = rig_ck_redis(r);
	char		 key[96];

	snprintf(key, sizeof(key), RIG_STOCK_KEY ":order:%s", id);
	rig_redis_str_free(RIG_CK_CMD(c, "HGET", key, "status"), status,
	    statussz);
	redisFree(c);
}

/*
 * A payment WAIT did not confirm is answered 503 though the primary made
 * it; the payment service's retry, once the replica has it, is "paid".
 */
static void
assert_pay_unconfirmed(struct rig *r, struct rig_proc *replica,
    const char *user)
{
	struct rig_reply rep;
	char		 id[64], status[32];
	double		 t0;

	last_order(r, user, id, sizeof(id));
	ck_assert_msg(id[0] != '\0', "%s has no order", user);
	signal_replica(replica, SIGSTOP);
	pay(r, user, id, &rep);
	assert_503(&rep, "a payment, replica stopped");
	ck_assert_msg(strstr(rep.body, UNCONFIRMED) != NULL, "payment: %s",
	    rep.body);
	order_status(r, id, status, sizeof(status));
	ck_assert_str_eq(status, "paid");
	signal_replica(replica, SIGCONT);
	replica_wait(r, replica);
	for (t0 = rig_now_ms(), pay(r, user, id, &rep); rep.status == 503;
	    pay(r, user, id, &rep)) {
		ck_assert_msg(rig_now_ms() - t0 <= RECOVER_MS, "payment still "
		    "503 %u ms after the replica came back", RECOVER_MS);
		rig_sleep_ms(SYNC_MS);
	}
	ck_assert_msg(rep.status == 200 && rep.code == 1 &&
	    strstr(rep.body, "\"status\":\"paid\"") != NULL,
	    "payment retried: %d %s", rep.status, rep.body);
}

START_TEST(test_replicas_unconfirmed_then_same_order)
{
	struct rig	 r;
	struct rig_proc	 replica;
	struct rig_reply rep;
	char		 id[64];

	start_with_replica(&r, &replica, REPLICAS_CONF(1));
	assert_ctl_check(&r, "redis has min-replicas-to-write 0");
	buy_until_bought(&r, "alice");

	signal_replica(&replica, SIGSTOP);
	buy(&r, "bob", &rep);
	assert_503(&rep, "bob, replica stopped");
	ck_assert_msg(rep.ms <= UNCONFIRMED_MS, "unconfirmed after %.0f ms, "
	    "limit %u", rep.ms, UNCONFIRMED_MS);
	last_order(&r, "bob", id, sizeof(id));
	ck_assert_msg(id[0] != '\0', "the primary did not keep bob's sale");
	assert_refused(&r, REFUSED_BUYS, UNCONFIRMED);
	buy(&r, "bob", &rep);
	assert_503(&rep, "bob's retry, replica stopped");
	assert_not_down(&r);

	signal_replica(&replica, SIGCONT);
	replica_wait(&r, &replica);
	assert_retry_same_order(&r, "bob", id);
	assert_recovers(&r, RECOVER_MS);
	assert_pay_unconfirmed(&r, &replica, "alice");
	rig_ck_audit(&r);
	replica_stop(&replica);
	rig_stop(&r);
}
END_TEST

/*
 * Write an order for user as another instance's link would, with the
 * replica stopped: on the primary, not on the replica.
 */
static void
order_elsewhere(struct rig *r, const char *user, const char *id)
{
	redisContext	*c = rig_ck_redis(r);

	rig_ck_order_by_hand(c, user, id, rig_ck_redis_now_ms(c) + 600000);
	redisFree(c);
}

START_TEST(test_replicas_repeat_waits_for_the_order)
{
	static const char id[] = "0123456789abcdef0123456789abcdef";
	struct rig	 r;
	struct rig_proc	 replica;
	struct rig_reply rep;

	start_with_replica(&r, &replica, REPLICAS_CONF(1));
	assert_recovers(&r, RECOVER_MS);
	signal_replica(&replica, SIGSTOP);
	order_elsewhere(&r, "dave", id);
	buy(&r, "dave", &rep);
	assert_503(&rep, "a repeat of an order not on the replica");
	signal_replica(&replica, SIGCONT);
	replica_wait(&r, &replica);
	assert_retry_same_order(&r, "dave", id);
	rig_ck_audit(&r);
	replica_stop(&replica);
	rig_stop(&r);
}
END_TEST

/* Metric name (no labels) summed over the instances' /metrics/N. */
static double
metric_sum(struct rig *r, const char *name)
{
	struct rig_reply rep;
	struct prom	 p;
	char		 target[32];
	double		 sum = 0, v;

	for (int i = 0; i < RIG_INSTANCES; i++) {
		snprintf(target, sizeof(target), "/metrics/%d", i + 1);
		get(r, target, &rep);
		ck_assert_msg(rep.status == 200 && prom_parse(&p, rep.body),
		    "%s: %d %s", target, rep.status, rep.body);
		ck_assert_msg(prom_value(&p, name, "", &v), "%s: no %s",
		    target, name);
		prom_free(&p);
		sum += v;
	}
	return sum;
}

START_TEST(test_replicas_more_than_there_are)
{
	struct rig	 r;
	struct rig_proc	 replica;

	start_with_replica(&r, &replica, REPLICAS_CONF(2));
	assert_ctl_check(&r, "redis has 1 replicas of the 2 needed");
	assert_refused(&r, 3 * REFUSED_BUYS, UNCONFIRMED);
	ck_assert_int_eq(rig_ck_sold(&r), 3 * REFUSED_BUYS);
	assert_not_down(&r);
	/* Sold on the primary, so taken from the local quotas for good. */
	ck_assert_msg(metric_sum(&r, "spike_local_taken") == 3 * REFUSED_BUYS,
	    "tickets the primary sold were given back to the local quotas");
	ck_assert_msg(metric_sum(&r, "spike_unconfirmed_total") ==
	    3 * REFUSED_BUYS, "spike_unconfirmed_total is not %d",
	    3 * REFUSED_BUYS);
	rig_ck_audit(&r);
	replica_stop(&replica);
	rig_stop(&r);
}
END_TEST

/*
 * With min-replicas-to-write on the primary, a primary whose replica went
 * quiet refuses the scripts (NOREPLICAS): no sale is made that no buyer
 * is told of, and selling resumes once the replica is back.  Redis
 * counts a replica good while its last ACK (sent once a second) is at
 * most min-replicas-max-lag whole seconds old: 1 would drop the replica
 * whenever an ACK came a little late across a second's edge.
 */
#define MAX_LAG_S	2	/* min-replicas-max-lag here */
#define NOREPLICAS_MS	budget_ms(3 * MAX_LAG_S * 1000 + RECOVER_MS)

START_TEST(test_replicas_min_replicas_to_write)
{
	struct rig_options opt = { .redis_timeout_ms = REDIS_TIMEOUT_MS,
	    .sync_ms = SYNC_MS, .conf_extra = REPLICAS_CONF(1),
	    .redis_extra = "min-replicas-to-write 1\nmin-replicas-max-lag 2\n" };
	struct rig	 r;
	struct rig_proc	 replica;
	struct rig_reply rep = { .status = 0 };
	double		 t0;
	long long	 sold;
	unsigned int	 k = 0;
	char		 user[32];

	_Static_assert(MAX_LAG_S == 2, "redis_extra writes MAX_LAG_S");
	ck_assert_msg(rig_init(&r, &opt) && rig_redis_start(&r) &&
	    rig_ha_replica_add(&r, &replica) && rig_sale_set(&r, 1000) &&
	    rig_instances_start(&r) && rig_heartbeats_wait(&r, BUDGET_UP_MS) &&
	    rig_nginx_start(&r), "%s", r.err);
	assert_recovers(&r, RECOVER_MS);
	signal_replica(&replica, SIGSTOP);
	for (t0 = rig_now_ms(); strstr(rep.body, "redis unavailable") == NULL;
	    rig_sleep_ms(SYNC_MS)) {
		ck_assert_msg(rig_now_ms() - t0 <= NOREPLICAS_MS, "still "
		    "selling %u ms after the replica stopped: %d %s",
		    NOREPLICAS_MS, rep.status, rep.body);
		snprintf(user, sizeof(user), "lag%u", ++k);
		buy(&r, user, &rep);
		ck_assert_msg(rep.code != 1, "%s bought, replica stopped",
		    user);
	}
	sold = rig_ck_sold(&r);
	assert_refused(&r, REFUSED_BUYS, "redis unavailable");
	ck_assert_int_eq(rig_ck_sold(&r), sold);
	signal_replica(&replica, SIGCONT);
	assert_recovers(&r, NOREPLICAS_MS);
	rig_ck_audit(&r);
	replica_stop(&replica);
	rig_stop(&r);
}
END_TEST

static Suite *
durable_suite(void)
{
	Suite	*s = suite_create("durable");
	TCase	*fsync = tcase_create("fsync");
	TCase	*replicas = tcase_create("replicas");
	TCase	*figures = tcase_create("figures");

	tcase_set_timeout(fsync, budget_ms(60000) / 1000.0);
	tcase_add_test(fsync, test_fsync_kill_keeps_every_confirmed_sale);
	tcase_add_test(fsync, test_fsync_refused_until_redis_fsyncs);
	tcase_add_test(fsync, test_fsync_refused_without_aof);
	suite_add_tcase(s, fsync);
	tcase_set_timeout(replicas, budget_ms(60000) / 1000.0);
	tcase_add_test(replicas, test_replicas_unconfirmed_then_same_order);
	tcase_add_test(replicas, test_replicas_repeat_waits_for_the_order);
	tcase_add_test(replicas, test_replicas_more_than_there_are);
	tcase_add_test(replicas, test_replicas_min_replicas_to_write);
	suite_add_tcase(s, replicas);
	tcase_set_timeout(figures, budget_ms(60000) / 1000.0);
	tcase_add_test(figures, test_figures_weaker_settings);
	suite_add_tcase(s, figures);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(durable_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
