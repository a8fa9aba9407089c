/*
 * Integration: items opening and closing by Redis's clock.  Items are
 * set up in Redis as spikectl init does (the item's hash, D:items and
 * the change log), and the four instances must follow: every instance
 * knows a new item within a sync (its /metrics/N counts it), GET /items
 * lists it, and the edge files under edge_dir say what nginx should
 * answer: not-started until start_ms, removed at that instant of Redis's
 * clock (neither early nor late: the instances' clock estimate is
 * right), closed/ITEM at end_ms and while paused, sold-out/ITEM while
 * nothing remains.
 */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "rig_ck.h"

#define K		RIG_STOCK_KEY
#define CMD(c, ...)	RIG_CK_CMD(c, __VA_ARGS__)
#define DO(c, ...)	freeReplyObject(CMD(c, __VA_ARGS__))
#define INT(c, ...)	rig_redis_int_free(CMD(c, __VA_ARGS__), -999)

/* A change reaches every instance at its next sync. */
#define KNOWN_WITHIN_MS	BUDGET_SYNC_MS(CONF_DEFAULT_SYNC_MS, \
			    CONF_DEFAULT_REDIS_TIMEOUT_MS)
/* An opening or closing instant: edge files change within this. */
#define INSTANT_LATE_MS	budget_ms(20)
#define INSTANT_EARLY_MS 2		/* clock estimate's allowed error */
#define OPENS_IN_MS	1500
/*
 * Many items at once, with a slow sync: read STORE_SYNC_BATCH at a time,
 * one sync call per tick would take five ticks (over 4 s) to know them
 * all; catching up within the tick takes one.
 */
#define MANY_ITEMS	4500
#define MANY_SYNC_MS	1000
#define MANY_WITHIN_MS	BUDGET_SYNC_MS(MANY_SYNC_MS, \
			    CONF_DEFAULT_REDIS_TIMEOUT_MS)

/* Put ARGV[2] items "many-NNNN" on sale at once, as init.lua does. */
static const char many_lua[] =
    "for i = 1, tonumber(ARGV[2]) do\n"
    "  local name = string.format('many-%04d', i - 1)\n"
    "  redis.call('HSET', KEYS[1] .. ':item:' .. name, ARGV[1], 5,\n"
    "    '" RIG_SOLD_FIELD "', 0)\n"
    "  redis.call('ZADD', KEYS[1] .. ':items', 0, name)\n"
    "  local s = redis.call('INCR', KEYS[1] .. ':seq')\n"
    "  redis.call('ZADD', KEYS[1] .. ':changes', s, name)\n"
    "end\n"
    "return 1\n";

/* Log a change of name, as every script that writes an item does. */
static void
log_change(redisContext *c, const char *name)
{
	char	 score[32];

	snprintf(score, sizeof(score), "%lld", INT(c, "INCR", K ":seq"));
	DO(c, "ZADD", K ":changes", score, name);
}

/* Put item name on sale as spikectl init does. */
static void
item_init(redisContext *c, const char *name, long long total,
    long long start_ms, long long end_ms)
{
	char	 key[128], t[32], s[32], e[32];

	snprintf(key, sizeof(key), K ":item:%s", name);
	snprintf(t, sizeof(t), "%lld", total);
	snprintf(s, sizeof(s), "%lld", start_ms);
	snprintf(e, sizeof(e), "%lld", end_ms);
	DO(c, "HSET", key, RIG_TOTAL_FIELD, t, RIG_SOLD_FIELD, "0",
	    "start_ms", s, "end_ms", e);
	DO(c, "ZADD", K ":items", s, name);
	log_change(c, name);
}

static bool
edge_exists(struct rig *r, const char *kind, const char *name)
{
	char	 path[RIG_PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/%s/%s", r->edge_dir, kind, name);
	return access(path, F_OK) == 0;
}

/* Wait until edge_dir/kind/name exists (or not); false on timeout. */
static bool
edge_wait(struct rig *r, const char *kind, const char *name, bool there,
    double within_ms)
{
	double	 start = rig_now_ms();

	while (edge_exists(r, kind, name) != there) {
		if (rig_now_ms() - start > within_ms)
			return false;
		usleep(2000);
	}
	return true;
}

/* An instance's gauge, read through nginx's /metrics/N. */
static double
gauge(struct rig *r, int i, const char *name)
{
	struct rig_reply rep;
	char		 target[32], *at;

	snprintf(target, sizeof(target), "/metrics/%d", i + 1);
	ck_assert_msg(rig_get(r, target, &rep), "%s", r->err);
	ck_assert_int_eq(rep.status, 200);
	rep.body[rep.body_len < sizeof(rep.body) ? rep.body_len :
	    sizeof(rep.body) - 1] = '\0';
	for (at = rep.body; (at = strstr(at, name)) != NULL; at++)
		if ((at == rep.body || at[-1] == '\n') &&
		    at[strlen(name)] == ' ')
			return atof(at + strlen(name) + 1);
	ck_abort_msg("no %s in /metrics/%d", name, i + 1);
	return -1;
}

/* Wait until GET /items (any instance) holds needle, or not. */
static void
listing_wait(struct rig *r, const char *needle, bool there)
{
	struct rig_reply rep;
	double		 start = rig_now_ms();

	for (;;) {
		ck_assert_msg(rig_get(r, "/items", &rep), "%s", r->err);
		if ((strstr(rep.body, needle) != NULL) == there)
			return;
		ck_assert_msg(rig_now_ms() - start <= KNOWN_WITHIN_MS,
		    "/items %s %s: %s", there ? "lacks" : "still has", needle,
		    rep.body);
		usleep(5000);
	}
}

/*
 * Items written to Redis become known to every instance within a sync,
 * many at once too (the sync reads on until caught up), and the listing
 * shows them.
 */
START_TEST(test_items_reach_every_instance)
{
	struct rig_options opt = { .sync_ms = MANY_SYNC_MS };
	struct rig	 r;
	struct rig_reply rep;
	redisContext	*c;
	char		 count[16];
	double		 start;
	int		 i, known;

	rig_ck_start(&r, &opt, 10);
	c = rig_ck_redis(&r);
	snprintf(count, sizeof(count), "%d", MANY_ITEMS);
	DO(c, "EVAL", many_lua, "1", K, RIG_TOTAL_FIELD, count);
	start = rig_now_ms();
	for (i = 0; i < RIG_INSTANCES; i++)
		while ((known = (int)gauge(&r, i, "spike_items")) !=
		    MANY_ITEMS + 1)
			ck_assert_msg(rig_now_ms() - start <= MANY_WITHIN_MS,
			    "instance %d knows %d items, not %d, after %.0f "
			    "ms", i + 1, known, MANY_ITEMS + 1,
			    rig_now_ms() - start);
	fprintf(stderr, "%d items known to every instance %.0f ms after "
	    "they were written (sync_ms %d)\n", MANY_ITEMS,
	    rig_now_ms() - start, MANY_SYNC_MS);
	ck_assert_int_eq((int)gauge(&r, 0, "spike_items_open"),
	    MANY_ITEMS + 1);
	ck_assert(rig_get(&r, "/items?limit=3", &rep));
	ck_assert_int_eq(rep.status, 200);
	ck_assert_int_eq(rep.code, 1);
	ck_assert_msg(strstr(rep.body, "\"item\":\"many-0000\"") != NULL &&
	    strstr(rep.body, "\"item\":\"many-0002\"") != NULL &&
	    strstr(rep.body, "\"item\":\"many-0003\"") == NULL, "%s",
	    rep.body);
	ck_assert(rig_get(&r, "/items?limit=0", &rep));
	ck_assert_int_eq(rep.status, 400);
	ck_assert_int_eq(rep.code, -3);
	/* An item logged but not registered (removed) is not taken. */
	log_change(c, "unregistered");
	rig_sleep_ms(MANY_WITHIN_MS);
	ck_assert_int_eq((int)gauge(&r, 0, "spike_items"), MANY_ITEMS + 1);
	redisFree(c);
	rig_stop(&r);
}
END_TEST

/*
 * Watch edge_dir/kind/name change to there around Redis's instant at_ms:
 * returns (through early, late) how far before and after it the change
 * could have happened, by Redis TIME read before each look.
 */
static void
watch_instant(struct rig *r, redisContext *c, const char *kind,
    const char *name, bool there, long long at_ms, long long *early,
    long long *late)
{
	long long	 before = 0, now;

	for (;;) {
		now = rig_ck_redis_now_ms(c);
		if (edge_exists(r, kind, name) == there)
			break;
		before = now;
		ck_assert_msg(now <= at_ms + 1000, "%s/%s not %s 1 s after "
		    "its instant", kind, name, there ? "there" : "gone");
	}
	*early = at_ms - before;	/* it was still as before then */
	*late = now - at_ms;
}

/*
 * An item opening and closing by Redis's clock: its not-started file
 * (with opens_at) until start_ms, gone at that instant, closed at end_ms;
 * the listing follows.
 */
START_TEST(test_opens_and_closes_on_time)
{
	struct rig	 r;
	redisContext	*c;
	long long	 start_ms, end_ms, early, late;
	char		 path[RIG_PATH_MAX + 64], body[256], want[128];
	FILE		*f;
	size_t		 n;

	rig_ck_start(&r, NULL, 10);
	c = rig_ck_redis(&r);
	start_ms = rig_ck_redis_now_ms(c) + OPENS_IN_MS;
	end_ms = start_ms + OPENS_IN_MS;
	item_init(c, "timed", 5, start_ms, end_ms);
	ck_assert_msg(edge_wait(&r, "not-started", "timed", true,
	    KNOWN_WITHIN_MS), "no not-started file");
	snprintf(path, sizeof(path), "%s/not-started/timed", r.edge_dir);
	ck_assert((f = fopen(path, "r")) != NULL);
	n = fread(body, 1, sizeof(body) - 1, f);
	fclose(f);
	body[n] = '\0';
	snprintf(want, sizeof(want), "{\"code\":-10,\"msg\":\"sale not "
	    "started\",\"opens_at\":%lld}\n", start_ms);
	ck_assert_str_eq(body, want);
	listing_wait(&r, "\"item\":\"timed\",\"state\":\"coming\"", true);
	ck_assert(!edge_exists(&r, "closed", "timed"));

	watch_instant(&r, c, "not-started", "timed", false, start_ms, &early,
	    &late);
	fprintf(stderr, "opening: not-started/timed gone between %lld ms "
	    "before and %lld ms after start_ms\n", early, late);
	ck_assert_msg(early <= INSTANT_EARLY_MS && late <= INSTANT_LATE_MS,
	    "opened %lld ms early, %lld ms late", -late, late);
	listing_wait(&r, "\"item\":\"timed\",\"state\":\"open\"", true);

	watch_instant(&r, c, "closed", "timed", true, end_ms, &early, &late);
	fprintf(stderr, "closing: closed/timed there between %lld ms before "
	    "and %lld ms after end_ms\n", early, late);
	ck_assert_msg(early <= INSTANT_EARLY_MS && late <= INSTANT_LATE_MS,
	    "closed %lld ms early or %lld ms late", early, late);
	listing_wait(&r, "\"timed\"", false);
	redisFree(c);
	rig_stop(&r);
}
END_TEST

/*
 * Sold out and paused: sold-out/ITEM while nothing remains, closed/ITEM
 * while paused, each removed when that ends; files are 0644.
 */
START_TEST(test_edge_files_follow_state)
{
	struct rig	 r;
	redisContext	*c;
	char		 path[RIG_PATH_MAX + 64];
	struct stat	 st;

	rig_ck_start(&r, NULL, 10);
	c = rig_ck_redis(&r);
	item_init(c, "hot", 3, 0, 0);
	ck_assert(edge_wait(&r, "sold-out", "hot", false, KNOWN_WITHIN_MS));
	DO(c, "HSET", K ":item:hot", RIG_SOLD_FIELD, "3");
	log_change(c, "hot");
	ck_assert_msg(edge_wait(&r, "sold-out", "hot", true, KNOWN_WITHIN_MS),
	    "no sold-out file");
	snprintf(path, sizeof(path), "%s/sold-out/hot", r.edge_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0644);
	DO(c, "HSET", K ":item:hot", "paused", "1");
	log_change(c, "hot");
	ck_assert_msg(edge_wait(&r, "closed", "hot", true, KNOWN_WITHIN_MS),
	    "no closed file while paused");
	ck_assert(edge_wait(&r, "sold-out", "hot", false, KNOWN_WITHIN_MS));
	DO(c, "HSET", K ":item:hot", "paused", "0", RIG_SOLD_FIELD, "1");
	log_change(c, "hot");
	ck_assert_msg(edge_wait(&r, "closed", "hot", false, KNOWN_WITHIN_MS),
	    "closed file stays after resume");
	ck_assert(!edge_exists(&r, "sold-out", "hot"));
	redisFree(c);
	rig_stop(&r);
}
END_TEST

/*
 * A full table: items past items_max are not taken, the instance says so
 * once in its log and in /metrics, and keeps syncing the others.
 */
START_TEST(test_table_full)
{
	struct rig_options opt = { .conf_extra = "items_max = 3\n" };
	struct rig	 r;
	redisContext	*c;
	double		 start;
	int		 i;

	rig_ck_start(&r, &opt, 10);
	c = rig_ck_redis(&r);
	item_init(c, "first", 5, 0, 0);
	item_init(c, "second", 5, 0, 0);
	item_init(c, "third", 5, 0, 0);
	item_init(c, "fourth", 5, 0, 0);
	start = rig_now_ms();
	for (i = 0; i < RIG_INSTANCES; i++)
		while (gauge(&r, i, "spike_items_full") != 1)
			ck_assert_msg(rig_now_ms() - start <= KNOWN_WITHIN_MS,
			    "instance %d: spike_items_full not 1", i + 1);
	ck_assert_int_eq((int)gauge(&r, 0, "spike_items"), 3);
	rig_ck_logs_wait(&r, "items_max 3 reached", 1, KNOWN_WITHIN_MS);
	/* The items it holds still follow Redis; the log says it once. */
	DO(c, "HSET", K ":item:first", RIG_SOLD_FIELD, "5");
	log_change(c, "first");
	log_change(c, "third");
	ck_assert(edge_wait(&r, "sold-out", "first", true, KNOWN_WITHIN_MS));
	for (i = 0; i < RIG_INSTANCES; i++)
		ck_assert_int_eq(rig_instance_log_lines(&r, i,
		    "items_max 3 reached"), 1);
	redisFree(c);
	rig_stop(&r);
}
END_TEST

static Suite *
opening_suite(void)
{
	Suite	*s = suite_create("opening");
	TCase	*tc = tcase_create("opening");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_items_reach_every_instance);
	tcase_add_test(tc, test_opens_and_closes_on_time);
	tcase_add_test(tc, test_edge_files_follow_state);
	tcase_add_test(tc, test_table_full);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(opening_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
