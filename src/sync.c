/*
 * The background sync: every sync_ms, announce this instance alive and
 * read Redis's clock, the default item and the items changed since the
 * last look from Redis (one script call, again at once while the change
 * log holds more), then let each changed item's local stock follow, and
 * its edge files.  A quota spent by sales is refilled when those sales
 * come back through the change log (buy.lua writes it), so a sync never
 * walks every item.  Between syncs the thread also wakes at the instant
 * an item opens or closes, by its estimate of Redis's clock, to change
 * the item's edge files then; workers need no wake-up, they compare
 * start_ms and end_ms with the clock themselves.  After anything
 * changed it rebuilds the /items listing (listing.c).  About once a
 * second it also expires overdue orders, which puts their tickets back
 * on sale.  It is also what notices Redis coming
 * back after an outage: while Redis is down, workers answer 503 at once
 * instead of each waiting for its own timeout.  With Sentinel, it also
 * asks every sync_ms which primary the Sentinels name, and when that
 * moved, makes every Redis link of the instance follow.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spike.h"

#define SYNC_CALLS_MAX		64	/* calls in one tick, catching up */
/*
 * Redis reads TIME as the script starts, at the latest when the reply
 * arrives: taking that instant keeps the estimate behind Redis's clock,
 * by at most the round trip, so no item opens early.  The clock follows a call whose round trip
 * is under SYNC_CLOCK_RTT_US, or no longer than the one it follows now,
 * or any call once that one is SYNC_CLOCK_AGE_US old (clocks drift).
 */
#define SYNC_CLOCK_RTT_US	2000
#define SYNC_CLOCK_AGE_US	10000000LL

/* What an item's edge files say; 0 (calloc) is "not known yet". */
enum sync_edge {
	EDGE_UNKNOWN,
	EDGE_NONE,
	EDGE_SHOWS_SOLD_OUT,
	EDGE_SHOWS_NOT_STARTED,
	EDGE_SHOWS_CLOSED,
};

/* An instant an item opens or closes, on Redis's clock. */
struct transition {
	long long	 at_ms;
	struct item	*item;
};

enum store_state {
	STORE_UNKNOWN,
	STORE_UP,
	STORE_DOWN,
};

struct sync_state {
	const struct conf	*conf;
	struct item_table	*items;
	struct item		*default_item;
	struct store		*store;
	struct listing		*listing;
	struct store_item_view	*batch;		/* STORE_SYNC_BATCH */
	unsigned int		 weight;
	long long		 last;		/* the last change read */
	long long		 next_tick_us;
	struct transition	*times;		/* sorted by at_ms */
	size_t			 ntimes;
	size_t			 next_time;	/* first not passed */
	bool			 times_dirty;	/* a start or end moved */
	bool			 listing_dirty;
	bool			 full_logged;	/* table full, said once */
	bool			 clock_set;	/* item_set_clock() called */
	long long		 clock_rtt_us;	/* of the call it follows */
	long long		 clock_at_us;	/* when that call was made */
	long long		 times_done_ms;	/* instants up to it handled */
	unsigned int		 generation;	/* of the link last read */
	bool			 edge_failed;	/* said once, until it works */
	size_t			 edges_unknown;	/* items whose files failed */
	bool			 flag_failed;	/* reported, quiet until it works */
	bool			 sentinel_failed;	/* reported likewise */
	char			 primary[CONF_ADDR_MAX];	/* "" until known */
	unsigned int		 since_expiry;	/* ms since orders expired */
	atomic_int		 state;		/* enum store_state */
	pthread_t		 thread;
	pthread_mutex_t		 lock;		/* only for stopping */
	pthread_cond_t		 cond;
	bool			 stopping;	/* under lock */
	bool			 stopped;	/* under lock: thread done */
};

bool
sync_store_up(const struct sync_state *ss)
{
	return atomic_load_explicit(&ss->state, memory_order_acquire) ==
	    STORE_UP;
}

/* Mark Redis down; only the first report of an outage is logged. */
void
sync_report_down(struct sync_state *ss, const char *why)
{
	if (atomic_exchange(&ss->state, STORE_DOWN) != STORE_DOWN)
		log_errorx("redis unavailable, answering 503: %s", why);
}

static void
report_up(struct sync_state *ss)
{
	const struct redis_where *at = store_where(ss->store);
	int	 was = atomic_exchange(&ss->state, STORE_UP);

	if (ss->primary[0] == '\0')
		snprintf(ss->primary, sizeof(ss->primary), "%s", at->addr);
	if (was == STORE_DOWN)
		log_info("redis available again");
	else if (was == STORE_UNKNOWN && at->sentinel[0] == '\0')
		log_info("connected to redis at %s", at->addr);
	else if (was == STORE_UNKNOWN)
		log_info("connected to redis at %s, primary %s as sentinel %s "
		    "names it", at->addr, ss->conf->sentinel_master,
		    at->sentinel);
}

/*
 * With Sentinel: when the primary the Sentinels name is not the one the
 * instance knew, make every Redis link of the process follow it
 * (redis_dial_follow) and say so once; the sync that follows re-reads the
 * stock from it.  When no Sentinel answers nothing changes: links to a
 * primary that is gone fail by themselves.
 */
static void
follow_primary(struct sync_state *ss)
{
	char	 addr[CONF_ADDR_MAX], via[CONF_ADDR_MAX], err[CONF_ERR_MAX];

	if (ss->conf->nsentinels == 0)
		return;
	if (sentinel_primary(ss->conf, addr, sizeof(addr), via, sizeof(via),
	    err, sizeof(err)) != SPIKE_OK) {
		if (!ss->sentinel_failed)
			log_warnx("%s", err);
		ss->sentinel_failed = true;
		return;
	}
	ss->sentinel_failed = false;
	if (ss->primary[0] != '\0' && strcmp(addr, ss->primary) != 0)
		log_info("redis primary is now %s (was %s), as sentinel %s "
		    "names it", addr, ss->primary, via);
	redis_dial_follow(addr);
	snprintf(ss->primary, sizeof(ss->primary), "%s", addr);
}

/*
 * Keep the sold-out flag file in step with Redis, so that nginx answers
 * sold out itself while it exists.  Every instance does it; each acts on
 * the stock it just read, so they agree within sync_ms.  The flag is
 * created as a regular file, never through a link someone placed at its
 * path (safefile.c); unlink(2) removes a link, not what it points to.  A
 * failure is reported once, until the flag can be kept again.
 */
static void
mark_sold_out_flag(struct sync_state *ss, bool sold_out)
{
	const char	*path = ss->conf->sold_out_flag;
	const char	*why = NULL;

	if (*path == '\0')
		return;
	if (!sold_out) {
		if (unlink(path) == -1 && errno != ENOENT)
			why = strerror(errno);
	} else
		why = safefile_create(path);
	if (why != NULL && !ss->flag_failed)
		log_warnx("sold_out_flag %s: %s", path, why);
	ss->flag_failed = why != NULL;
}

/* The edge file an item needs now: what nginx should answer for it. */
static enum sync_edge
edge_wanted(const struct item *it, long long now_ms)
{
	long long	 total, sold;

	switch (item_state_at(it, now_ms)) {
	case ITEM_COMING:
		return EDGE_SHOWS_NOT_STARTED;
	case ITEM_PAUSED:
	case ITEM_ENDED:
		return EDGE_SHOWS_CLOSED;
	case ITEM_OPEN:
		break;
	}
	total = atomic_load_explicit(&it->stock.view_total,
	    memory_order_relaxed);
	sold = atomic_load_explicit(&it->stock.view_sold,
	    memory_order_relaxed);
	return total - sold <= 0 ? EDGE_SHOWS_SOLD_OUT : EDGE_NONE;
}

/* The file kind of an edge state that has one. */
static enum edge_kind
edge_file(enum sync_edge e)
{
	if (e == EDGE_SHOWS_SOLD_OUT)
		return EDGE_SOLD_OUT;
	return e == EDGE_SHOWS_NOT_STARTED ? EDGE_NOT_STARTED : EDGE_CLOSED;
}

static const char *
edge_show(struct sync_state *ss, struct item *it, enum sync_edge e)
{
	char	 body[128];
	long long start = atomic_load_explicit(&it->start_ms,
		    memory_order_relaxed);

	switch (e) {
	case EDGE_SHOWS_SOLD_OUT:
		snprintf(body, sizeof(body), "{\"code\":-1,\"msg\":\"%s\"}\n",
		    "\xe5\xb7\xb2\xe5\x94\xae\xe7\xbd\x84");
		break;
	case EDGE_SHOWS_NOT_STARTED:
		snprintf(body, sizeof(body), "{\"code\":-10,\"msg\":\"sale not "
		    "started\",\"opens_at\":%lld}\n", start);
		it->edge_opens_ms = start;
		break;
	case EDGE_SHOWS_CLOSED:
		snprintf(body, sizeof(body),
		    "{\"code\":-11,\"msg\":\"sale closed\"}\n");
		break;
	default:
		return NULL;
	}
	return edge_write(ss->conf->edge_dir, edge_file(e), it->name, body);
}

/*
 * Make the item's edge files say what its state says now, touching them
 * only when that changed (or a coming item's opening moved).  Until an
 * item's files are known, the files of every other kind are removed, as
 * an earlier run may have left them.  A failure is logged once, until
 * the files can be kept again.
 */
static void
update_edge(struct sync_state *ss, struct item *it, long long now_ms)
{
	enum sync_edge	 want = edge_wanted(it, now_ms), was = it->edge;
	const char	*why = NULL;
	int		 k;

	if (ss->conf->edge_dir[0] == '\0')
		return;
	if (want == was && (want != EDGE_SHOWS_NOT_STARTED ||
	    it->edge_opens_ms == atomic_load_explicit(&it->start_ms,
	    memory_order_relaxed)))
		return;
	for (k = 0; k < EDGE_KINDS && why == NULL; k++)
		if ((was == EDGE_UNKNOWN || (was != EDGE_NONE &&
		    edge_file(was) == (enum edge_kind)k)) &&
		    (want == EDGE_NONE || edge_file(want) != (enum edge_kind)k))
			why = edge_remove(ss->conf->edge_dir, k, it->name);
	if (why == NULL)
		why = edge_show(ss, it, want);
	if (why != NULL && !ss->edge_failed)
		log_warnx("edge_dir %s: item %s: %s", ss->conf->edge_dir,
		    it->name, why);
	if (why != NULL)
		ss->edge_failed = true;
	if (was == EDGE_UNKNOWN && why == NULL && it->edge_retry)
		ss->edges_unknown--;
	else if (why != NULL && !it->edge_retry)
		ss->edges_unknown++;
	it->edge_retry = why != NULL;
	it->edge = why == NULL ? want : EDGE_UNKNOWN;
	if (ss->edges_unknown == 0)
		ss->edge_failed = false;
	ss->listing_dirty = true;
}

/*
 * Let an item follow its hash as Redis showed it.  The first quota is
 * the weight's share among all configured instances, since the others
 * may not have announced themselves yet; later refills share what
 * remains among those alive.
 */
static void
apply_sale(struct sync_state *ss, struct item *it,
    const struct store_sale *sale, unsigned int live_weight, long long now_ms)
{
	unsigned int	 weights;
	long long	 remaining;

	bool		 moved = false, changed;

	remaining = sale->exists ? sale->total - sale->sold : 0;
	if (atomic_exchange(&it->start_ms, sale->start_ms) != sale->start_ms)
		moved = true;
	if (atomic_exchange(&it->end_ms, sale->end_ms) != sale->end_ms)
		moved = true;
	changed = moved || atomic_exchange(&it->paused, sale->paused) !=
	    sale->paused ||
	    atomic_load(&it->stock.view_total) != sale->total ||
	    atomic_load(&it->stock.view_sold) != sale->sold;
	ss->times_dirty |= moved;
	ss->listing_dirty |= changed;
	stock_set_view(&it->stock, sale->total, sale->sold);
	weights = it->filled ? live_weight : conf_total_weight(ss->conf);
	if (weights < ss->weight)
		weights = ss->weight;
	if (stock_refill(&it->stock, remaining, ss->weight, weights,
	    ss->conf->buffer_percent))
		it->filled = true;
	update_edge(ss, it, now_ms);
}

/* The item the change log named, added if new; NULL to skip it. */
static struct item *
changed_item(struct sync_state *ss, const char *name)
{
	char		 key[ITEM_KEY_MAX];
	struct item	*it;

	if ((it = item_find(ss->items, name, strlen(name))) != NULL)
		return it;
	if (!item_name_valid(name, strlen(name)) ||
	    !item_key(ss->conf, name, key, sizeof(key)))
		return NULL;
	if ((it = item_add(ss->items, name, key)) == NULL && !ss->full_logged) {
		log_warnx("items_max %u reached: item %s and later ones are "
		    "not sold here", ss->conf->items_max, name);
		ss->full_logged = true;
		metrics_items_full();
	}
	return it;
}

/* Follow Redis's clock by the call made from before to after (now_us()). */
static void
follow_clock(struct sync_state *ss, long long redis_us, long long before,
    long long after)
{
	long long	 rtt = after - before;

	if (ss->clock_set && rtt >= SYNC_CLOCK_RTT_US &&
	    rtt > ss->clock_rtt_us && after - ss->clock_at_us <
	    SYNC_CLOCK_AGE_US)
		return;
	item_set_clock(ss->items, redis_us, after);
	ss->clock_set = true;
	ss->clock_rtt_us = rtt;
	ss->clock_at_us = after;
}

/*
 * One sync call: heartbeat, the clock, the default item, and up to
 * STORE_SYNC_BATCH changed items.  Returns true when the change log may
 * hold more.
 */
static bool
sync_call(struct sync_state *ss)
{
	struct store_view view = { .items = ss->batch };
	struct item	*it;
	long long	 before = now_us(), after, now_ms;
	size_t		 i;

	if (store_sync(ss->store, ss->last, &view) != SPIKE_OK) {
		sync_report_down(ss, store_error(ss->store));
		return false;
	}
	after = now_us();
	follow_clock(ss, view.redis_us, before, after);
	if (store_where(ss->store)->generation != ss->generation) {
		/* Another primary: its log may hold other changes. */
		ss->generation = store_where(ss->store)->generation;
		ss->last = 0;
		return true;
	}
	report_up(ss);
	now_ms = item_redis_now_ms(ss->items);
	apply_sale(ss, ss->default_item, &view.sale, view.live_weight, now_ms);
	mark_sold_out_flag(ss, !view.exists || view.total - view.sold <= 0);
	for (i = 0; i < view.nitems; i++)
		if ((it = changed_item(ss, view.items[i].name)) != NULL)
			apply_sale(ss, it, &view.items[i].sale,
			    view.live_weight, now_ms);
	if (view.seq < ss->last) {
		/* Redis lost its log (a restart without it): read it all. */
		ss->last = 0;
		return true;
	}
	ss->last = view.last;
	return view.more;
}

/*
 * While edge files fail, try each tick again for every item whose files
 * failed; the walk lasts only while some do.
 */
static void
retry_edges(struct sync_state *ss)
{
	long long	 now_ms = item_redis_now_ms(ss->items);
	size_t		 i, n = item_count(ss->items);
	struct item	*it;

	for (i = 0; i < n && ss->edges_unknown > 0; i++)
		if ((it = item_at(ss->items, i))->edge_retry)
			update_edge(ss, it, now_ms);
}

/* One tick's sync: calls until the change log is read, within reason. */
static void
sync_once(struct sync_state *ss)
{
	int	 calls = 0;

	while (sync_call(ss) && ++calls < SYNC_CALLS_MAX)
		;
	if (ss->edges_unknown > 0 && sync_store_up(ss))
		retry_edges(ss);
}

/* Expire overdue orders about once a second; any instance may. */
static void
expire_orders(struct sync_state *ss)
{
	long long	 expired;

	ss->since_expiry += ss->conf->sync_ms;
	if (ss->since_expiry < SYNC_EXPIRE_MS || !sync_store_up(ss))
		return;
	ss->since_expiry = 0;
	if (store_expire(ss->store, &expired) != SPIKE_OK)
		sync_report_down(ss, store_error(ss->store));
	else if (expired > 0)
		sync_once(ss);
}

/* ms from now on the clock of now.c, which the condition variable uses. */
static void
deadline_after(struct timespec *ts, unsigned int ms)
{
	long long	 at = now_us() + (long long)ms * 1000;

	ts->tv_sec = at / 1000000;
	ts->tv_nsec = (long)(at % 1000000) * 1000;
}

static int
transition_order(const void *a, const void *b)
{
	const struct transition *x = a, *y = b;

	return (x->at_ms > y->at_ms) - (x->at_ms < y->at_ms);
}

/*
 * Rebuild the sorted instants at which items open or close, after an
 * item's start_ms or end_ms moved; those already handled are skipped,
 * but not those that came while the sync was busy.
 */
static void
rebuild_times(struct sync_state *ss)
{
	size_t		 i, n = item_count(ss->items);
	struct transition *t;
	struct item	*it;
	long long	 at[2];
	int		 k;

	ss->times_dirty = false;
	ss->ntimes = ss->next_time = 0;
	if ((t = realloc(ss->times, 2 * n * sizeof(*t) + 1)) == NULL)
		return;		/* edge files then follow at each tick */
	ss->times = t;
	for (i = 0; i < n; i++) {
		it = item_at(ss->items, i);
		at[0] = atomic_load(&it->start_ms);
		at[1] = atomic_load(&it->end_ms);
		for (k = 0; k < 2; k++)
			if (at[k] > ss->times_done_ms)
				t[ss->ntimes++] = (struct transition){
					.at_ms = at[k], .item = it };
	}
	qsort(t, ss->ntimes, sizeof(*t), transition_order);
}

/*
 * The items whose opening or closing instant has come: their edge files
 * change now, and the listing with them.
 */
static void
run_transitions(struct sync_state *ss)
{
	long long	 now_ms = item_redis_now_ms(ss->items);

	if (ss->times_dirty)
		rebuild_times(ss);
	while (ss->next_time < ss->ntimes &&
	    ss->times[ss->next_time].at_ms <= now_ms) {
		update_edge(ss, ss->times[ss->next_time].item, now_ms);
		ss->listing_dirty = true;
		ss->next_time++;
	}
	ss->times_done_ms = now_ms;
	if (ss->listing_dirty) {
		metrics_set_items(item_count(ss->items),
		    listing_build(ss->listing, ss->items, now_ms));
		ss->listing_dirty = false;
	}
}

/* When the thread wakes next: the tick, or an item's instant if sooner. */
static void
next_wake(struct sync_state *ss, struct timespec *ts)
{
	long long	 at = ss->next_tick_us, t;

	if (ss->next_time < ss->ntimes) {
		t = item_local_us(ss->items, ss->times[ss->next_time].at_ms);
		if (t < at)
			at = t;
	}
	ts->tv_sec = at / 1000000;
	ts->tv_nsec = (long)(at % 1000000) * 1000;
}

static void *
sync_main(void *arg)
{
	struct sync_state *ss = arg;
	struct timespec	 until;
	bool		 stopping;

	for (;;) {
		next_wake(ss, &until);
		pthread_mutex_lock(&ss->lock);
		while (!ss->stopping && pthread_cond_timedwait(&ss->cond,
		    &ss->lock, &until) != ETIMEDOUT)
			;
		stopping = ss->stopping;
		pthread_mutex_unlock(&ss->lock);
		if (stopping)
			break;
		if (now_us() >= ss->next_tick_us) {
			ss->next_tick_us = now_us() +
			    (long long)ss->conf->sync_ms * 1000;
			follow_primary(ss);
			sync_once(ss);
			expire_orders(ss);
		}
		run_transitions(ss);
	}
	store_leave(ss->store);
	pthread_mutex_lock(&ss->lock);
	ss->stopped = true;
	pthread_cond_broadcast(&ss->cond);
	pthread_mutex_unlock(&ss->lock);
	return NULL;
}

/* The /items listing this thread keeps. */
struct listing *
sync_listing(struct sync_state *ss)
{
	return ss->listing;
}

/* Free what sync_start() made. */
static void
sync_free(struct sync_state *ss)
{
	store_free(ss->store);
	listing_free(ss->listing);
	free(ss->batch);
	free(ss->times);
	pthread_mutex_destroy(&ss->lock);
	pthread_cond_destroy(&ss->cond);
	free(ss);
}

/*
 * Sync once now, so that an instance starts with its quota when Redis
 * is up, then keep syncing in a thread.  Returns NULL with errno set on
 * failure.
 */
struct sync_state *
sync_start(const struct conf *conf, const char *self_id, unsigned int weight,
    struct item_table *items)
{
	struct sync_state *ss;
	pthread_condattr_t attr;
	char		 path[CONF_PATH_MAX + 32];
	const char	*why;

	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		return NULL;
	ss->conf = conf;
	ss->items = items;
	ss->default_item = item_find(items, conf->stock_key,
	    strlen(conf->stock_key));
	ss->weight = weight;
	atomic_init(&ss->state, STORE_UNKNOWN);
	pthread_mutex_init(&ss->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ss->cond, &attr);
	pthread_condattr_destroy(&attr);
	ss->batch = calloc(STORE_SYNC_BATCH, sizeof(*ss->batch));
	ss->listing = listing_new();
	if (ss->batch == NULL || ss->listing == NULL ||
	    (ss->store = store_new(conf, self_id)) == NULL)
		goto fail;
	if (conf->edge_dir[0] != '\0' &&
	    (why = edge_prepare(conf->edge_dir, path, sizeof(path))) != NULL) {
		log_warnx("edge_dir %s: %s", path, why);
		ss->edge_failed = true;
	}
	sync_once(ss);
	run_transitions(ss);
	ss->next_tick_us = now_us() + (long long)conf->sync_ms * 1000;
	if ((errno = pthread_create(&ss->thread, NULL, sync_main, ss)) != 0)
		goto fail;
	return ss;
fail:
	sync_free(ss);
	return NULL;
}

/*
 * Stop syncing, remove this instance from the live set and free, giving
 * the thread up to timeout_ms to finish the Redis calls it is in.
 * Returns false when it has not: it is left to run, holding what it
 * uses, and the heartbeat ages out instead.
 */
bool
sync_stop(struct sync_state *ss, unsigned int timeout_ms)
{
	struct timespec	 until;
	bool		 stopped;

	if (ss == NULL)
		return true;
	deadline_after(&until, timeout_ms);
	pthread_mutex_lock(&ss->lock);
	ss->stopping = true;
	pthread_cond_broadcast(&ss->cond);
	while (!ss->stopped && pthread_cond_timedwait(&ss->cond, &ss->lock,
	    &until) != ETIMEDOUT)
		;
	stopped = ss->stopped;
	pthread_mutex_unlock(&ss->lock);
	if (!stopped)
		return false;
	pthread_join(ss->thread, NULL);
	sync_free(ss);
	return true;
}
