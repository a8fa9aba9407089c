/*
 * The local stock: how many tickets this instance may still try to sell
 * before asking Redis, so that a crowd larger than the stock is answered
 * from memory.  Lock-free: workers take with compare-and-swap, the sync
 * thread alone raises the quota.
 */
#include "config.h"

#include "spike.h"

/* Keeps remaining * weight * (100 + buffer) within 64 bits. */
#define STOCK_REMAINING_MAX	1000000000000LL

void
stock_init(struct stock *s)
{
	atomic_init(&s->quota, 0);
	atomic_init(&s->taken, 0);
	atomic_init(&s->sold, 0);
	atomic_init(&s->sold_out, false);
	atomic_init(&s->synced, false);
	atomic_init(&s->view_total, 0);
	atomic_init(&s->view_sold, 0);
}

/* Take one ticket from the quota; returns false when none is left. */
bool
stock_take(struct stock *s)
{
	long long	 taken, quota;

	taken = atomic_load_explicit(&s->taken, memory_order_relaxed);
	do {
		quota = atomic_load_explicit(&s->quota, memory_order_acquire);
		if (taken >= quota)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&s->taken, &taken,
	    taken + 1, memory_order_acq_rel, memory_order_relaxed));
	return true;
}

/* Return a ticket taken for a purchase that did not happen. */
void
stock_give_back(struct stock *s)
{
	atomic_fetch_sub_explicit(&s->taken, 1, memory_order_acq_rel);
}

/* Count a ticket Redis confirmed; returns the instance's sales so far. */
long long
stock_confirm(struct stock *s)
{
	return atomic_fetch_add_explicit(&s->sold, 1,
	    memory_order_relaxed) + 1;
}

void
stock_mark_sold_out(struct stock *s)
{
	atomic_store_explicit(&s->sold_out, true, memory_order_release);
}

/* Publish the sale as Redis last showed it, for GET /stock. */
void
stock_set_view(struct stock *s, long long total, long long sold)
{
	atomic_store_explicit(&s->view_total, total, memory_order_relaxed);
	atomic_store_explicit(&s->view_sold, sold, memory_order_relaxed);
}

/*
 * This instance's share of remaining tickets: weight / weight_sum of it,
 * plus buffer_percent, rounded up so that a last ticket is never
 * nobody's.  Returns 0 only when nothing remains.
 */
long long
stock_share(long long remaining, unsigned int weight, unsigned int weight_sum,
    unsigned int buffer_percent)
{
	unsigned long long	 num, den;

	if (remaining <= 0 || weight == 0)
		return 0;
	if (weight_sum < weight)
		weight_sum = weight;
	/* Integers, not floating point: a whole share must stay whole. */
	if (remaining > STOCK_REMAINING_MAX)
		remaining = STOCK_REMAINING_MAX;
	num = (unsigned long long)remaining * weight * (100 + buffer_percent);
	den = (unsigned long long)weight_sum * 100;
	return (long long)((num + den - 1) / den);
}

/*
 * Called by the sync thread with what Redis says remains.  Clears the
 * sold-out mark when tickets are back and, when the quota is spent,
 * grants a new share of what remains.  Returns true if the quota grew.
 */
bool
stock_refill(struct stock *s, long long remaining, unsigned int weight,
    unsigned int live_weight, unsigned int buffer_percent)
{
	long long	 taken, quota;

	if (remaining <= 0) {
		stock_mark_sold_out(s);
		atomic_store_explicit(&s->synced, true, memory_order_release);
		return false;
	}
	atomic_store_explicit(&s->sold_out, false, memory_order_release);
	atomic_store_explicit(&s->synced, true, memory_order_release);
	taken = atomic_load_explicit(&s->taken, memory_order_acquire);
	quota = atomic_load_explicit(&s->quota, memory_order_acquire);
	if (taken < quota)
		return false;
	quota = taken + stock_share(remaining, weight, live_weight,
	    buffer_percent);
	atomic_store_explicit(&s->quota, quota, memory_order_release);
	return true;
}
