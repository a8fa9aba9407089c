/*
 * The background sync: every sync_ms, announce this instance alive and
 * read the stock from Redis (one script call), then let the local stock
 * follow.  About once a second it also expires overdue orders, which
 * puts their tickets back on sale.  It is also what notices Redis coming
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

enum store_state {
	STORE_UNKNOWN,
	STORE_UP,
	STORE_DOWN,
};

struct sync_state {
	const struct conf	*conf;
	struct stock		*stock;
	struct store		*store;
	unsigned int		 weight;
	bool			 filled;	/* first quota granted */
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

/*
 * One sync.  The first quota is the weight's share among all configured
 * instances, since the others may not have announced themselves yet;
 * later refills share what remains among those alive.
 */
static void
sync_once(struct sync_state *ss)
{
	struct store_view view;
	unsigned int	 weights;
	long long	 remaining;

	if (store_sync(ss->store, &view) != SPIKE_OK) {
		sync_report_down(ss, store_error(ss->store));
		return;
	}
	report_up(ss);
	stock_set_view(ss->stock, view.total, view.sold);
	remaining = view.exists ? view.total - view.sold : 0;
	mark_sold_out_flag(ss, remaining <= 0);
	weights = ss->filled ? view.live_weight : conf_total_weight(ss->conf);
	if (weights < ss->weight)
		weights = ss->weight;
	if (stock_refill(ss->stock, remaining, ss->weight, weights,
	    ss->conf->buffer_percent))
		ss->filled = true;
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

static void *
sync_main(void *arg)
{
	struct sync_state *ss = arg;
	struct timespec	 until;
	bool		 stopping;

	for (;;) {
		deadline_after(&until, ss->conf->sync_ms);
		pthread_mutex_lock(&ss->lock);
		while (!ss->stopping && pthread_cond_timedwait(&ss->cond,
		    &ss->lock, &until) != ETIMEDOUT)
			;
		stopping = ss->stopping;
		pthread_mutex_unlock(&ss->lock);
		if (stopping)
			break;
		follow_primary(ss);
		sync_once(ss);
		expire_orders(ss);
	}
	store_leave(ss->store);
	pthread_mutex_lock(&ss->lock);
	ss->stopped = true;
	pthread_cond_broadcast(&ss->cond);
	pthread_mutex_unlock(&ss->lock);
	return NULL;
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
	struct item	*default_item = item_find(items, conf->stock_key,
			    strlen(conf->stock_key));

	struct sync_state *ss;
	pthread_condattr_t attr;

	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		return NULL;
	ss->conf = conf;
	ss->stock = &default_item->stock;
	ss->weight = weight;
	atomic_init(&ss->state, STORE_UNKNOWN);
	pthread_mutex_init(&ss->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ss->cond, &attr);
	pthread_condattr_destroy(&attr);
	if ((ss->store = store_new(conf, self_id)) == NULL)
		goto fail;
	sync_once(ss);
	if ((errno = pthread_create(&ss->thread, NULL, sync_main, ss)) != 0)
		goto fail;
	return ss;
fail:
	store_free(ss->store);
	pthread_mutex_destroy(&ss->lock);
	pthread_cond_destroy(&ss->cond);
	free(ss);
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
	store_free(ss->store);
	pthread_mutex_destroy(&ss->lock);
	pthread_cond_destroy(&ss->cond);
	free(ss);
	return true;
}
