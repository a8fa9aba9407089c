/*
 * Group commit: purchases that reach an instance at the same moment go
 * to Redis in one script call.  The event loop pushes each purchase onto
 * a lock-free stack and goes on; one committer thread takes the whole
 * stack, sells it in calls of up to STORE_BATCH_MAX, and hands each
 * outcome to the purchase's done(), which answers the buyer.  While a
 * call is in flight the next group gathers, so the group grows with the
 * load and an idle instance still sends a lone purchase at once.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>

#include "spike.h"

struct batcher {
	_Atomic(struct batch_item *) head;	/* pushed, not yet taken */
	sem_t			 wake;		/* the committer's */
	atomic_bool		 stopping;
	struct store		*store;		/* the committer's link */
	struct sync_state	*sync;
	bool			 unconfirmed;	/* logged; the committer's */
	pthread_t		 thread;
};

/*
 * Log the first group WAIT did not confirm, and the first confirmed one
 * after it: one line each way, not one per group.  Redis is up all the
 * while; it is not reported down.
 */
static void
note_confirmation(struct batcher *b, enum spike_err rc)
{
	bool	 unconfirmed = rc == SPIKE_EUNCONFIRMED;

	if (unconfirmed == b->unconfirmed || (rc != SPIKE_OK && !unconfirmed))
		return;
	b->unconfirmed = unconfirmed;
	if (unconfirmed)
		log_errorx("purchases not confirmed, answering 503: %s",
		    store_error(b->store));
	else
		log_info("purchases confirmed by replicas again");
}

/*
 * Sell n items in one call and hand each its outcome; an item is not
 * looked at once its done() has it.
 */
static void
commit_group(struct batcher *b, struct batch_item **items, size_t n)
{
	struct store_purchase	*purchases[STORE_BATCH_MAX];
	enum spike_err		 rc;
	size_t			 i;

	if (!sync_store_up(b->sync))
		rc = SPIKE_EREDIS;
	else {
		for (i = 0; i < n; i++)
			purchases[i] = items[i]->purchase;
		rc = store_buy(b->store, purchases, n);
		metrics_purchases_sent((unsigned int)n);
		note_confirmation(b, rc);
		if (rc == SPIKE_EREDIS)
			sync_report_down(b->sync, store_error(b->store));
		else if (rc != SPIKE_OK && rc != SPIKE_EUNCONFIRMED)
			log_errorx("purchases refused: %s",
			    store_error(b->store));
	}
	for (i = 0; i < n; i++)
		items[i]->done(items[i], rc);
}

/*
 * Take everything pushed so far and commit it oldest first, in groups
 * of at most STORE_BATCH_MAX.
 */
static void
commit_pending(struct batcher *b)
{
	struct batch_item	*top, *oldest = NULL, *next;
	struct batch_item	*group[STORE_BATCH_MAX];
	size_t			 n = 0;

	top = atomic_exchange_explicit(&b->head, NULL, memory_order_acquire);
	for (; top != NULL; top = next) {
		next = top->next;
		top->next = oldest;
		oldest = top;
	}
	for (; oldest != NULL; oldest = next) {
		next = oldest->next;
		group[n++] = oldest;
		if (n == STORE_BATCH_MAX || next == NULL) {
			commit_group(b, group, n);
			n = 0;
		}
	}
}

static void *
committer_main(void *arg)
{
	struct batcher	*b = arg;

	for (;;) {
		while (sem_wait(&b->wake) == -1 && errno == EINTR)
			;
		commit_pending(b);
		if (atomic_load(&b->stopping) &&
		    atomic_load(&b->head) == NULL)
			break;
	}
	return NULL;
}

/* Sell item's purchase in the next group; its done() says the outcome. */
void
batcher_submit(struct batcher *b, struct batch_item *item)
{
	struct batch_item	*below;

	/* Once pushed, item->next is the committer's: test the local copy. */
	below = atomic_load_explicit(&b->head, memory_order_relaxed);
	do
		item->next = below;
	while (!atomic_compare_exchange_weak_explicit(&b->head, &below, item,
	    memory_order_release, memory_order_relaxed));
	if (below == NULL)
		sem_post(&b->wake);
}

/* Start the committer with its own Redis link; NULL, errno set, on failure. */
struct batcher *
batcher_start(const struct conf *conf, const char *self_id,
    struct sync_state *sync)
{
	struct batcher	*b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	atomic_init(&b->head, NULL);
	atomic_init(&b->stopping, false);
	b->sync = sync;
	sem_init(&b->wake, 0, 0);
	if ((b->store = store_new(conf, self_id)) == NULL)
		goto fail;
	if ((errno = pthread_create(&b->thread, NULL, committer_main,
	    b)) != 0)
		goto fail;
	return b;
fail:
	store_free(b->store);
	sem_destroy(&b->wake);
	free(b);
	return NULL;
}

/* Commit what is still pushed, then stop; call once nothing submits. */
void
batcher_stop(struct batcher *b)
{
	if (b == NULL)
		return;
	atomic_store(&b->stopping, true);
	sem_post(&b->wake);
	pthread_join(b->thread, NULL);
	store_free(b->store);
	sem_destroy(&b->wake);
	free(b);
}
