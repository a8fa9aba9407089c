/*
 * Integration: Redis Sentinel.  A primary, its replica and three real
 * Sentinels (redis-server --sentinel); spike.conf names the Sentinels, not
 * Redis.  The instances find the primary through any Sentinel that
 * answers, follow a failover mid-sale (the primary SIGKILLed, or a
 * coordinated SENTINEL FAILOVER), answer 503 code -2 meanwhile, never a
 * wrong answer, and every buyer told "bought" keeps an order.
 */
#include "config.h"

#include <sys/wait.h>

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "rig_ck.h"

#define FO_TOTAL		1500	/* tickets */
#define FO_KILL_AT		(FO_TOTAL / 10)	/* sold when the primary goes */
#define FO_CONNS		4	/* buyers during the failover */
#define FO_USERS		60000	/* user<k> the first load may use */
#define FO_PAUSE_503_MS		20	/* a buyer told 503 waits, then buys */
/*
 * Buyers at about 100 a second, so that the sale outlasts the switch:
 * what is sold before the instances move is what a switch can lose.
 */
#define FO_PAUSE_MS		40
#define FO_RETRY_CONNS		16	/* buyers after it */
#define FO_DEADLINE_MS		budget_ms(60000)
#define FO_FAILOVER_MS		RIG_HA_FAILOVER_MS
#define FO_ANSWER_MS		budget_ms(10000)

/* spike.conf: confirm a purchase once one replica has it (WAIT 1). */
static const char *
durable_conf(void)
{
	static char	 text[256];

	snprintf(text, sizeof(text), "durability = replicas\n"
	    "allow_anonymous = no\ndurability_replicas = 1\n"
	    "durability_timeout_ms = %u\n",
	    budget_ms(CONF_DEFAULT_DURABILITY_TIMEOUT_MS));
	return text;
}

static void
ha_ck_start(struct rig *r, struct rig_ha *ha, const char *extra,
    long long total)
{
	struct rig_options opt = { .conf_extra = extra };

	ck_assert_msg(rig_ha_start(r, ha, &opt, total), "rig: %s", r->err);
}

/* Sold on the Redis at port. */
static long long
sold_at(struct rig *r, int port)
{
	long long	 total, sold;

	ck_assert_msg(rig_ha_sale_at(r, port, &total, &sold), "%s", r->err);
	return sold;
}

/* Wait until the Redis at port has sold at least want, within_ms. */
static void
wait_sold(struct rig *r, int port, long long want, unsigned int within_ms)
{
	double		 end = rig_now_ms() + within_ms;
	long long	 sold;

	while ((sold = sold_at(r, port)) < want) {
		ck_assert_msg(rig_now_ms() < end, "redis 127.0.0.1:%d sold %lld, "
		    "not %lld, after %u ms", port, sold, want, within_ms);
		rig_sleep_ms(20);
	}
}

/* A whole file, or "" (a static empty string) when it cannot be read. */
static char *
read_log(const char *path)
{
	FILE	*f;
	char	*buf;
	long	 size;

	if ((f = fopen(path, "r")) == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	buf = malloc((size_t)size + 1);
	ck_assert(buf != NULL);
	buf[fread(buf, 1, (size_t)size, f)] = '\0';
	fclose(f);
	return buf;
}

/* Does one line of text hold every needle? */
static bool
line_has_all(const char *text, const char *const *needles, size_t n)
{
	const char	*line = text, *eol;
	char		 buf[4096];
	size_t		 i, len;

	for (; *line != '\0'; line = *eol ? eol + 1 : eol) {
		eol = strchr(line, '\n');
		if (eol == NULL)
			eol = line + strlen(line);
		len = (size_t)(eol - line) < sizeof(buf) - 1 ?
		    (size_t)(eol - line) : sizeof(buf) - 1;
		memcpy(buf, line, len);
		buf[len] = '\0';
		for (i = 0; i < n && strstr(buf, needles[i]) != NULL; i++)
			;
		if (i == n)
			return true;
	}
	return false;
}

/* Run spikectl -c conf cmd; its exit status and what it said, in out. */
static int
ctl_run(struct rig *r, const char *conf, const char *cmd, char **out)
{
	char	 log[RIG_PATH_MAX + 32];
	char	*argv[] = { r->spikectl, "-c", (char *)conf, (char *)cmd,
	    NULL };
	int	 status;

	snprintf(log, sizeof(log), "%s.%s", conf, cmd);
	ck_assert_msg(rig_run(r, argv, log, FO_ANSWER_MS, &status), "%s",
	    r->err);
	*out = read_log(log);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Write a spike.conf with the given sentinel lines and master name. */
static void
write_conf(struct rig *r, const char *path, const char *sentinels,
    const char *master)
{
	FILE	*f;

	ck_assert_msg((f = fopen(path, "w")) != NULL, "%s", path);
	fprintf(f, "%ssentinel_master = %s\nstat_log = %s\n"
	    "instance = 127.0.0.1:%d\n", sentinels, master, r->stat_log,
	    r->inst[0].port);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * spikectl check through a dead Sentinel first, then a live one, names
 * the primary and the Sentinel that named it; a name no Sentinel knows,
 * and Sentinels all down, are refused naming each one and why.
 */
static void
check_ctl_resolution(struct rig *r, struct rig_ha *ha, int dead, int dead2)
{
	char	 conf[RIG_PATH_MAX + 32], lines[512], want[256], *out;
	char	 s0[64], d0[64], d1[64];

	snprintf(conf, sizeof(conf), "%s/resolve.conf", r->dir);
	snprintf(d0, sizeof(d0), "127.0.0.1:%d: connect", dead);
	snprintf(d1, sizeof(d1), "127.0.0.1:%d: connect", dead2);
	snprintf(s0, sizeof(s0), "127.0.0.1:%d", ha->sentinel[0].port);
	snprintf(lines, sizeof(lines), "sentinel = 127.0.0.1:%d\n"
	    "sentinel = %s\n", dead, s0);
	write_conf(r, conf, lines, RIG_HA_MASTER);
	ck_assert_msg(ctl_run(r, conf, "check", &out) == 0, "spikectl check: "
	    "%s", out);
	snprintf(want, sizeof(want), "redis 127.0.0.1:%d: reachable (primary "
	    "%s as sentinel %s names it)", r->redis.port, RIG_HA_MASTER, s0);
	ck_assert_msg(strstr(out, want) != NULL, "spikectl check said:\n%s\n"
	    "not: %s", out, want);
	free(out);

	write_conf(r, conf, lines, "nosuch");
	ck_assert_int_eq(ctl_run(r, conf, "check", &out), 1);
	ck_assert_msg(line_has_all(out, (const char *[]){ "no sentinel named "
	    "primary nosuch", d0, "does not know nosuch" }, 3),
	    "spikectl check said:\n%s", out);
	free(out);

	snprintf(lines, sizeof(lines), "sentinel = 127.0.0.1:%d\n"
	    "sentinel = 127.0.0.1:%d\n", dead, dead2);
	write_conf(r, conf, lines, RIG_HA_MASTER);
	ck_assert_int_eq(ctl_run(r, conf, "check", &out), 1);
	ck_assert_msg(line_has_all(out, (const char *[]){ "no sentinel named "
	    "primary " RIG_HA_MASTER, d0, d1 }, 3), "spikectl check said:\n%s",
	    out);
	free(out);
}

/* spikectl status names the primary and the Sentinel that named it. */
static void
check_ctl_status(struct rig *r, struct rig_ha *ha)
{
	char	 want[256], *text;

	ck_assert_int_eq(ctl_run(r, r->conf, "status", &text), 0);
	snprintf(want, sizeof(want), "on redis 127.0.0.1:%d (primary %s as "
	    "sentinel 127.0.0.1:%d names it)", r->redis.port, RIG_HA_MASTER,
	    ha->sentinel[0].port);
	ck_assert_msg(strstr(text, want) != NULL, "spikectl status said:\n%s"
	    "\nnot: %s", text, want);
	free(text);
}

/* Wait until every instance's log has a line holding every needle. */
static void
logs_have(struct rig *r, const char *const *needles, size_t n,
    unsigned int within_ms)
{
	double	 end = rig_now_ms() + within_ms;
	char	 path[RIG_PATH_MAX + 32], *text;
	bool	 found;

	for (int i = 0; i < RIG_INSTANCES; i++) {
		snprintf(path, sizeof(path), "%s/instance-%d.log", r->dir,
		    r->inst[i].port);
		for (;;) {
			text = read_log(path);
			found = line_has_all(text, needles, n);
			ck_assert_msg(found || rig_now_ms() < end, "instance "
			    "%d: no line with \"%s\"...:\n%s", i, needles[0],
			    text);
			free(text);
			if (found)
				break;
			rig_sleep_ms(50);
		}
	}
}

/*
 * Resolution: the instances and spikectl find the primary through a dead
 * first Sentinel; a name nobody knows and no Sentinel at all are refused
 * naming each Sentinel; with every Sentinel down each instance logs which
 * Sentinels it tried, and once the primary dies too answers 503 code -2.
 */
START_TEST(test_resolution)
{
	struct rig	 r;
	struct rig_ha	 ha;
	struct rig_reply rep;
	char		 extra[128], s[RIG_HA_SENTINELS][64];
	int		 dead = rig_free_port(), dead2 = rig_free_port();

	ck_assert(dead > 0 && dead2 > 0 && dead != dead2);
	snprintf(extra, sizeof(extra), "sentinel = 127.0.0.1:%d\n", dead);
	ha_ck_start(&r, &ha, extra, 100);
	ck_assert_msg(rig_get(&r, "/buy/ticket?user=first", &rep), "%s", r.err);
	ck_assert_msg(rep.status == 200 && rep.code == 1, "%d %s", rep.status,
	    rep.body);
	check_ctl_resolution(&r, &ha, dead, dead2);
	check_ctl_status(&r, &ha);
	rig_ck_audit(&r);

	/*
	 * Each Sentinel named with why it failed: "connect: ..." once it is
	 * gone, "Connection reset by peer" when asked while it stopped (the
	 * instance logs the outage once).
	 */
	for (int i = 0; i < RIG_HA_SENTINELS; i++) {
		snprintf(s[i], sizeof(s[i]), "127.0.0.1:%d: ",
		    ha.sentinel[i].port);
		ck_assert(rig_ha_sentinel_stop(&ha, i));
	}
	logs_have(&r, (const char *[]){ "no sentinel named primary "
	    RIG_HA_MASTER, s[0], s[1], s[2] }, 4, FO_ANSWER_MS);
	ck_assert_msg(rig_redis_kill(&r), "%s", r.err);
	rig_ck_logs_wait(&r, "redis unavailable, answering 503", 1,
	    FO_ANSWER_MS);
	ck_assert_msg(rig_get(&r, "/buy/ticket?user=third", &rep), "%s",
	    r.err);
	ck_assert_msg(rep.status == 503 && rep.code == -2 &&
	    rep.retry_after > 0, "no primary: %d %s", rep.status, rep.body);
	rig_ha_stop(&r, &ha);
	rig_stop(&r);
}
END_TEST

/* Wait until sales go on after the failover: the new primary sells. */
static void
wait_selling_again(struct rig *r, int port, struct rig_load *l)
{
	double		 end = rig_now_ms() + FO_FAILOVER_MS;
	long long	 from = sold_at(r, port), now;
	char		 sum[1024];

	while ((now = sold_at(r, port)) == from && now < FO_TOTAL) {
		ck_assert_msg(rig_now_ms() < end && atomic_load(&l->next) <
		    FO_USERS, "no sale on the new primary 127.0.0.1:%d after "
		    "the failover (sold %lld): %s", port, now,
		    rig_load_summary(l, sum, sizeof(sum)));
		rig_sleep_ms(20);
	}
}

/* Every buyer of load l told "bought" has an order; how many, checked. */
static unsigned int
bought_are_orders(struct rig *r, struct rig_load *l)
{
	return rig_ck_bought_are_orders(r, l);
}

/*
 * After the failover: everyone tries again (user<k> from 0: who bought
 * gets the same order, who got 503 buys afresh) until the sale is sold
 * out; then the books of the new primary must be exact.
 */
static void
retry_and_sell_out(struct rig *r, struct rig_load *first, int primary)
{
	struct rig_load_spec spec;
	struct rig_load	 again;
	redisContext	*c;
	char		 sum[1024];
	unsigned int	 users = atomic_load(&first->sent) + 2 * FO_TOTAL;
	long long	 total, sold, orders;
	unsigned int	 checked;

	if (users > RIG_LOAD_USERS_MAX)
		users = RIG_LOAD_USERS_MAX;
	spec = rig_load_plan(r, FO_RETRY_CONNS, users, true, FO_DEADLINE_MS);
	ck_assert(rig_load_start(&again, &spec));
	rig_load_wait(&again);
	ck_assert_msg(rig_ha_sale_at(r, primary, &total, &sold), "%s", r->err);
	ck_assert_msg(sold <= total, "sold %lld of %lld", sold, total);
	ck_assert_msg(sold == total, "the sale did not sell out after the "
	    "failover: sold %lld of %lld; %s", sold, total,
	    rig_load_summary(&again, sum, sizeof(sum)));
	c = rig_redis_open(primary);
	ck_assert(c != NULL && c->err == 0);
	orders = rig_ck_orders_made(c);
	redisFree(c);
	ck_assert_msg(orders == total, "%lld orders for %lld tickets",
	    orders, total);
	checked = bought_are_orders(r, first);
	checked += bought_are_orders(r, &again);
	ck_assert_msg(checked >= FO_TOTAL, "only %u buyers were told bought",
	    checked);
}

/* How the primary goes. */
enum fo_mode {
	FO_KILL,		/* SIGKILL; it comes back as a replica */
	FO_COORDINATED,		/* SENTINEL FAILOVER; Sentinel demotes it */
	FO_SPLIT,		/* SENTINEL FAILOVER, but it stays a primary */
};

static const char *const fo_name[] = { "SIGKILL", "SENTINEL FAILOVER",
    "SENTINEL FAILOVER, old primary kept" };

/*
 * Start the HA rig.  FO_SPLIT's primary cannot be demoted and takes
 * writes without a replica, as one cut off from the rest would until
 * min-replicas-max-lag passed: nothing of its own stops the instances.
 */
static void
fo_start(struct rig *r, struct rig_ha *ha, enum fo_mode mode)
{
	struct rig_options opt = { .conf_extra = durable_conf() };
	FILE		*f;

	ck_assert_msg(rig_ha_init(r, ha, &opt), "rig: %s", r->err);
	if (mode == FO_SPLIT) {
		ck_assert((f = fopen(r->redis_conf, "a")) != NULL);
		fputs("rename-command SLAVEOF \"\"\n"
		    "rename-command REPLICAOF \"\"\nmin-replicas-to-write 0\n",
		    f);
		ck_assert_int_eq(fclose(f), 0);
	}
	ck_assert_msg(rig_ha_run(r, ha, FO_TOTAL), "rig: %s", r->err);
}

/* Make the primary go, and wait until the Sentinels name the replica. */
static void
fo_switch(struct rig *r, struct rig_ha *ha, enum fo_mode mode)
{
	redisContext	*c;
	redisReply	*rep;
	double		 at = rig_now_ms();

	if (mode == FO_KILL)
		ck_assert_msg(rig_redis_kill(r), "%s", r->err);
	else {
		c = rig_redis_open(ha->sentinel[0].port);
		ck_assert(c != NULL && c->err == 0);
		rep = RIG_CK_CMD(c, "SENTINEL", "FAILOVER", RIG_HA_MASTER);
		freeReplyObject(rep);
		redisFree(c);
	}
	ck_assert_msg(rig_ha_wait_primary(r, ha, ha->replica.port,
	    FO_FAILOVER_MS), "%s", r->err);
	fprintf(stderr, "failover: sentinels name the new primary %.1f s "
	    "after the %s\n", (rig_now_ms() - at) / 1000, fo_name[mode]);
}

/*
 * Every instance logs the switch, once; with the old primary still a
 * primary (FO_SPLIT), it sells nothing more once they have, while the
 * load goes on; then an operator brings it back as a replica.
 */
static void
fo_followed(struct rig *r, int old, int new, enum fo_mode mode)
{
	unsigned int	 sync = BUDGET_SYNC_MS(CONF_DEFAULT_SYNC_MS,
			    rig_redis_timeout_ms(r));
	long long	 then;
	char		 needle[128];

	snprintf(needle, sizeof(needle), "redis primary is now 127.0.0.1:%d "
	    "(was 127.0.0.1:%d)", new, old);
	rig_ck_logs_wait(r, needle, 1, FO_ANSWER_MS);
	for (int i = 0; i < RIG_INSTANCES; i++)
		ck_assert_msg(rig_instance_log_lines(r, i, needle) == 1,
		    "instance %d logged the switch more than once", i);
	if (mode != FO_SPLIT)
		return;
	rig_sleep_ms(sync);
	then = sold_at(r, old);
	rig_sleep_ms(2 * sync);
	ck_assert_msg(sold_at(r, old) == then, "the old primary sold %lld "
	    "after every instance had moved (%lld before)", sold_at(r, old),
	    then);
	ck_assert_msg(rig_redis_kill(r), "%s", r->err);
	ck_assert_msg(rig_ha_redis_rejoin(r, new), "%s", r->err);
}

/*
 * A failover mid-sale under load.  FO_KILL: Sentinel promotes the
 * replica; the old primary comes back from its AOF as the new one's
 * replica, so that WAIT 1 can succeed again.  FO_COORDINATED: the old
 * primary stays up and Sentinel demotes it (and kills its clients).
 * FO_SPLIT: as if cut off from the Sentinels, the old primary stays a
 * primary; only the instances' own polling of the Sentinels moves them,
 * and the new primary sells once the old one is back as its replica.
 */
static void
failover_sale(enum fo_mode mode)
{
	struct rig	 r;
	struct rig_ha	 ha;
	struct rig_load_spec spec;
	struct rig_load	 l;
	int		 old, new;

	fo_start(&r, &ha, mode);
	old = r.redis.port;
	new = ha.replica.port;
	spec = rig_load_plan(&r, FO_CONNS, FO_USERS, true, FO_DEADLINE_MS);
	spec.pause_503_ms = FO_PAUSE_503_MS;
	spec.pause_ms = FO_PAUSE_MS;
	ck_assert(rig_load_start(&l, &spec));
	wait_sold(&r, old, FO_KILL_AT, FO_ANSWER_MS);
	fo_switch(&r, &ha, mode);
	if (mode == FO_COORDINATED)
		ck_assert_msg(rig_ha_wait_linked(&r, "127.0.0.1", old, new,
		    FO_FAILOVER_MS), "%s", r.err);
	else if (mode == FO_KILL)
		ck_assert_msg(rig_ha_redis_rejoin(&r, new), "%s", r.err);
	fo_followed(&r, old, new, mode);
	wait_selling_again(&r, new, &l);
	rig_load_stop(&l);
	rig_load_wait(&l);
	fprintf(stderr, "failover (%s): buyers saw 503 for %.1f s; %u told "
	    "bought, %u answered 503\n", fo_name[mode],
	    rig_load_503_span_ms(&l) / 1000, rig_load_code(&l, 1),
	    rig_load_status(&l, 503));
	ck_assert_msg(rig_load_code(&l, 1) > 0 && rig_load_status(&l, 503) > 0,
	    "the load saw no sale or no 503");
	retry_and_sell_out(&r, &l, new);
	rig_ck_audit(&r);
	rig_ha_stop(&r, &ha);
	rig_stop(&r);
}

/* Issue 12, test 2: SIGKILL the primary mid-sale. */
START_TEST(test_primary_killed)
{
	failover_sale(FO_KILL);
}
END_TEST

/* Issue 12, test 3: a coordinated SENTINEL FAILOVER mid-sale. */
START_TEST(test_coordinated_failover)
{
	failover_sale(FO_COORDINATED);
}
END_TEST

/*
 * The old primary is never demoted (nor its clients killed): polling
 * the Sentinels is what moves every link.
 */
START_TEST(test_old_primary_kept)
{
	failover_sale(FO_SPLIT);
}
END_TEST

static Suite *
failover_suite(void)
{
	Suite	*s = suite_create("failover");
	TCase	*tc = tcase_create("resolve");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_resolution);
	suite_add_tcase(s, tc);
	tc = tcase_create("failover");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_primary_killed);
	tcase_add_test(tc, test_coordinated_failover);
	tcase_add_test(tc, test_old_primary_kept);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(failover_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
