/*
 * stock.c: the local quota, its share of what Redis says remains, and
 * its behaviour under many concurrent takers.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "spike.h"
#include "unit.h"

#define HAMMER_THREADS		8
#define HAMMER_QUOTA		10000
#define HAMMER_ATTEMPTS		100000	/* over all the threads */
#define REFILL_SHARE		1000
#define REFILL_ROUNDS		20

/* One stock_share call and the share it must return. */
struct share_case {
	long long	 remaining;
	unsigned int	 weight;
	unsigned int	 weight_sum;
	unsigned int	 buffer_percent;
	long long	 share;
};

/* A taker thread's orders and results. */
struct taker {
	pthread_t	 thread;
	struct stock	*stock;
	long		 attempts;
	bool		 give_back;	/* return every other ticket */
	atomic_bool	*refills_done;	/* for refill_taker_main */
	long		 took;
	long		 gave_back;
};

/* The checker thread's view of taken against quota. */
struct checker {
	pthread_t	 thread;
	struct stock	*stock;
	atomic_bool	*stop;
	long		 samples;
	long		 violations;
	long long	 first_taken;	/* taken at the first violation */
	long long	 first_quota;
};

static struct stock	 stock;

/* Give stock a quota of n, the way the sync thread first fills it. */
static void
fill(struct stock *s, long long n)
{
	stock_init(s);
	ck_assert(stock_refill(s, n, 1, 1, 0));
	ck_assert_int_eq(atomic_load(&s->quota), n);
}

/* ---- single-threaded accounting ----------------------------------------- */

START_TEST(test_init)
{
	stock_init(&stock);
	ck_assert_int_eq(atomic_load(&stock.quota), 0);
	ck_assert_int_eq(atomic_load(&stock.taken), 0);
	ck_assert_int_eq(atomic_load(&stock.sold), 0);
	ck_assert(!atomic_load(&stock.sold_out));
	ck_assert(!atomic_load(&stock.synced));
	ck_assert(!stock_take(&stock));
	ck_assert_int_eq(atomic_load(&stock.taken), 0);
}
END_TEST

START_TEST(test_take_stops_at_quota)
{
	fill(&stock, 3);
	ck_assert(stock_take(&stock));
	ck_assert(stock_take(&stock));
	ck_assert(stock_take(&stock));
	ck_assert(!stock_take(&stock));
	ck_assert(!stock_take(&stock));
	ck_assert_int_eq(atomic_load(&stock.taken), 3);
}
END_TEST

START_TEST(test_give_back)
{
	fill(&stock, 2);
	ck_assert(stock_take(&stock));
	ck_assert(stock_take(&stock));
	ck_assert(!stock_take(&stock));
	stock_give_back(&stock);
	ck_assert_int_eq(atomic_load(&stock.taken), 1);
	ck_assert(stock_take(&stock));
	ck_assert(!stock_take(&stock));
	ck_assert_int_eq(atomic_load(&stock.taken), 2);
}
END_TEST

START_TEST(test_confirm_counts_sales)
{
	fill(&stock, 5);
	ck_assert_int_eq(stock_confirm(&stock), 1);
	ck_assert_int_eq(stock_confirm(&stock), 2);
	ck_assert_int_eq(stock_confirm(&stock), 3);
	ck_assert_int_eq(atomic_load(&stock.sold), 3);
	ck_assert_int_eq(atomic_load(&stock.taken), 0);
}
END_TEST

START_TEST(test_mark_sold_out)
{
	fill(&stock, 5);
	stock_mark_sold_out(&stock);
	ck_assert(atomic_load(&stock.sold_out));
	ck_assert_int_eq(atomic_load(&stock.quota), 5);
}
END_TEST

/* ---- stock_share -------------------------------------------------------- */

static const struct share_case shares[] = {
	{ 1000, 1, 10, 10, 110 },
	{ 1000, 4, 10, 10, 440 },
	{ 10000, 3, 10, 10, 3300 },
	{ 100, 1, 1, 0, 100 },
	{ 100, 1, 1, 1000, 1100 },
	{ 1000, 1, 3, 0, 334 },		/* 333.3 rounds up */
	{ 10, 1, 4, 0, 3 },		/* 2.5 rounds up */
	{ 7, 2, 3, 10, 6 },		/* 5.13 rounds up */
	{ 1, 1, 10, 10, 1 },		/* 0.11: at least 1 */
	{ 1, 1, 1000, 0, 1 },		/* 0.001: at least 1 */
	{ 100, 2, 0, 0, 100 },		/* nobody alive: sum = weight */
	{ 100, 5, 3, 10, 110 },		/* sum < weight: sum = weight */
	{ 0, 1, 10, 10, 0 },		/* nothing remains */
	{ -5, 1, 10, 10, 0 },		/* oversold: nothing remains */
	{ 100, 0, 10, 10, 0 },		/* no weight, no share */
};

START_TEST(test_share)
{
	const struct share_case	*c = &shares[_i];

	ck_assert_int_eq(stock_share(c->remaining, c->weight, c->weight_sum,
	    c->buffer_percent), c->share);
}
END_TEST

/*
 * When the exact share is a whole number it is not rounded up:
 * 395 * 1/6 * 120% is exactly 79, 1 * 4/15 * 375% is exactly 1.
 */
static const struct share_case exact_shares[] = {
	{ 395, 1, 6, 20, 79 },
	{ 395, 3, 9, 20, 158 },
	{ 775, 1, 3, 20, 310 },
	{ 1, 4, 15, 275, 1 },
	{ 2, 8, 15, 275, 4 },
};

START_TEST(test_share_exact_whole)
{
	const struct share_case	*c = &exact_shares[_i];

	ck_assert_int_eq(stock_share(c->remaining, c->weight, c->weight_sum,
	    c->buffer_percent), c->share);
}
END_TEST

/* ---- stock_refill ------------------------------------------------------- */

START_TEST(test_refill_first_fill)
{
	stock_init(&stock);
	ck_assert(stock_refill(&stock, 1000, 1, 10, 10));
	ck_assert_int_eq(atomic_load(&stock.quota), 110);
	ck_assert(atomic_load(&stock.synced));
	ck_assert(!atomic_load(&stock.sold_out));
}
END_TEST

/* Not even the last ticket left in the quota triggers a refill. */
START_TEST(test_refill_only_when_spent)
{
	int	 i;

	stock_init(&stock);
	ck_assert(stock_refill(&stock, 1000, 1, 10, 10));
	ck_assert(!stock_refill(&stock, 1000, 1, 10, 10));
	for (i = 0; i < 109; i++)
		ck_assert(stock_take(&stock));
	ck_assert(!stock_refill(&stock, 1000, 1, 10, 10));
	ck_assert_int_eq(atomic_load(&stock.quota), 110);
}
END_TEST

/* A spent quota grows by a share of what remains, on top of taken. */
START_TEST(test_refill_when_spent)
{
	int	 i;

	stock_init(&stock);
	ck_assert(stock_refill(&stock, 1000, 1, 10, 10));
	for (i = 0; i < 110; i++)
		ck_assert(stock_take(&stock));
	ck_assert(!stock_take(&stock));
	ck_assert(stock_refill(&stock, 500, 1, 10, 10));
	ck_assert_int_eq(atomic_load(&stock.quota), 165);
	ck_assert(stock_take(&stock));
}
END_TEST

START_TEST(test_refill_nothing_remains)
{
	fill(&stock, 3);
	atomic_store(&stock.synced, false);
	ck_assert(!stock_refill(&stock, 0, 1, 1, 10));
	ck_assert(atomic_load(&stock.sold_out));
	ck_assert(atomic_load(&stock.synced));
	ck_assert_int_eq(atomic_load(&stock.quota), 3);
	stock_mark_sold_out(&stock);
	ck_assert(!stock_refill(&stock, -2, 1, 1, 10));
	ck_assert(atomic_load(&stock.sold_out));
}
END_TEST

/* Tickets back in Redis end the sold-out answers, spent quota or not. */
START_TEST(test_refill_clears_sold_out)
{
	fill(&stock, 3);
	stock_mark_sold_out(&stock);
	ck_assert(!stock_refill(&stock, 5, 1, 1, 0));
	ck_assert(!atomic_load(&stock.sold_out));
	ck_assert_int_eq(atomic_load(&stock.quota), 3);
	stock_mark_sold_out(&stock);
	while (stock_take(&stock))
		;
	ck_assert(stock_refill(&stock, 5, 1, 1, 0));
	ck_assert(!atomic_load(&stock.sold_out));
	ck_assert_int_eq(atomic_load(&stock.quota), 8);
}
END_TEST

/* ---- threads ------------------------------------------------------------ */

/* Take one ticket, giving every other one back if told to. */
static bool
take_one(struct taker *t)
{
	if (!stock_take(t->stock))
		return false;
	if (++t->took % 2 == 0 && t->give_back) {
		stock_give_back(t->stock);
		t->gave_back++;
	}
	return true;
}

static void *
taker_main(void *arg)
{
	struct taker	*t = arg;
	long		 i;

	for (i = 0; i < t->attempts; i++)
		take_one(t);
	return NULL;
}

/*
 * Take until a take fails after the refiller has finished: from then on
 * the quota can no longer grow.
 */
static void *
refill_taker_main(void *arg)
{
	struct taker	*t = arg;
	bool		 finished;

	for (;;) {
		finished = atomic_load(t->refills_done);
		if (take_one(t))
			continue;
		if (finished)
			break;
		sched_yield();
	}
	return NULL;
}

/* Sample taken, then quota (which only grows), until told to stop. */
static void *
checker_main(void *arg)
{
	struct checker	*c = arg;
	long long	 taken, quota;
	bool		 last;

	do {
		last = atomic_load(c->stop);
		taken = atomic_load(&c->stock->taken);
		quota = atomic_load(&c->stock->quota);
		c->samples++;
		if (taken > quota && c->violations++ == 0) {
			c->first_taken = taken;
			c->first_quota = quota;
		}
	} while (!last);
	return NULL;
}

/* Run HAMMER_THREADS takers over stock with a checker alongside. */
static void
hammer(struct taker *takers, bool give_back, struct checker *c)
{
	atomic_bool	 stop;
	int		 i;

	atomic_init(&stop, false);
	*c = (struct checker){ .stock = &stock, .stop = &stop };
	ck_assert_int_eq(pthread_create(&c->thread, NULL, checker_main, c), 0);
	for (i = 0; i < HAMMER_THREADS; i++) {
		takers[i] = (struct taker){ .stock = &stock,
		    .attempts = HAMMER_ATTEMPTS / HAMMER_THREADS,
		    .give_back = give_back };
		ck_assert_int_eq(pthread_create(&takers[i].thread, NULL,
		    taker_main, &takers[i]), 0);
	}
	for (i = 0; i < HAMMER_THREADS; i++)
		ck_assert_int_eq(pthread_join(takers[i].thread, NULL), 0);
	atomic_store(&stop, true);
	ck_assert_int_eq(pthread_join(c->thread, NULL), 0);
}

/* 100,000 attempts on 10,000 tickets: exactly 10,000 succeed. */
START_TEST(test_threads_take_exactly_quota)
{
	struct taker	 takers[HAMMER_THREADS];
	struct checker	 c;
	long		 took = 0;
	int		 i;

	fill(&stock, HAMMER_QUOTA);
	hammer(takers, false, &c);
	for (i = 0; i < HAMMER_THREADS; i++)
		took += takers[i].took;
	ck_assert_int_eq(took, HAMMER_QUOTA);
	ck_assert_int_eq(atomic_load(&stock.taken), HAMMER_QUOTA);
	ck_assert_int_gt(c.samples, 0);
	ck_assert_msg(c.violations == 0, "taken %lld > quota %lld seen %ld "
	    "times", c.first_taken, c.first_quota, c.violations);
}
END_TEST

/* Takers that give tickets back: taken is what they kept, never more. */
START_TEST(test_threads_take_and_give_back)
{
	struct taker	 takers[HAMMER_THREADS];
	struct checker	 c;
	long		 took = 0, gave_back = 0;
	int		 i;

	fill(&stock, HAMMER_QUOTA);
	hammer(takers, true, &c);
	for (i = 0; i < HAMMER_THREADS; i++) {
		took += takers[i].took;
		gave_back += takers[i].gave_back;
	}
	ck_assert_int_eq(atomic_load(&stock.taken), took - gave_back);
	ck_assert_int_le(took - gave_back, HAMMER_QUOTA);
	ck_assert_int_gt(took, HAMMER_QUOTA);
	ck_assert_msg(c.violations == 0, "taken %lld > quota %lld seen %ld "
	    "times", c.first_taken, c.first_quota, c.violations);
}
END_TEST

/* Refill REFILL_ROUNDS times, each once the quota is spent. */
static int
refill_rounds(struct stock *s, atomic_bool *done)
{
	int	 i, grew = 0;

	for (i = 0; i < REFILL_ROUNDS; i++) {
		while (atomic_load(&s->taken) < atomic_load(&s->quota))
			sched_yield();
		if (stock_refill(s, REFILL_SHARE, 1, 1, 0))
			grew++;
	}
	atomic_store(done, true);
	return grew;
}

/* The quota grows while takers run; every granted ticket is taken once. */
START_TEST(test_threads_refill_while_taking)
{
	struct taker	 takers[HAMMER_THREADS];
	struct checker	 c;
	atomic_bool	 done, stop;
	long		 took = 0;
	int		 i, grew;

	stock_init(&stock);
	atomic_init(&done, false);
	atomic_init(&stop, false);
	c = (struct checker){ .stock = &stock, .stop = &stop };
	ck_assert_int_eq(pthread_create(&c.thread, NULL, checker_main, &c), 0);
	for (i = 0; i < HAMMER_THREADS; i++) {
		takers[i] = (struct taker){ .stock = &stock,
		    .refills_done = &done };
		ck_assert_int_eq(pthread_create(&takers[i].thread, NULL,
		    refill_taker_main, &takers[i]), 0);
	}
	grew = refill_rounds(&stock, &done);
	for (i = 0; i < HAMMER_THREADS; i++) {
		ck_assert_int_eq(pthread_join(takers[i].thread, NULL), 0);
		took += takers[i].took;
	}
	atomic_store(&stop, true);
	ck_assert_int_eq(pthread_join(c.thread, NULL), 0);
	ck_assert_int_eq(grew, REFILL_ROUNDS);
	ck_assert_int_eq(atomic_load(&stock.quota),
	    REFILL_ROUNDS * REFILL_SHARE);
	ck_assert_int_eq(took, atomic_load(&stock.quota));
	ck_assert_int_eq(c.violations, 0);
}
END_TEST

Suite *
make_stock_suite(void)
{
	Suite	*s = suite_create("stock");
	TCase	*tc;

	tc = tcase_create("accounting");
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_take_stops_at_quota);
	tcase_add_test(tc, test_give_back);
	tcase_add_test(tc, test_confirm_counts_sales);
	tcase_add_test(tc, test_mark_sold_out);
	suite_add_tcase(s, tc);

	tc = tcase_create("share");
	tcase_add_loop_test(tc, test_share, 0,
	    (int)(sizeof(shares) / sizeof(shares[0])));
	tcase_add_loop_test(tc, test_share_exact_whole, 0,
	    (int)(sizeof(exact_shares) / sizeof(exact_shares[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("refill");
	tcase_add_test(tc, test_refill_first_fill);
	tcase_add_test(tc, test_refill_only_when_spent);
	tcase_add_test(tc, test_refill_when_spent);
	tcase_add_test(tc, test_refill_nothing_remains);
	tcase_add_test(tc, test_refill_clears_sold_out);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_threads_take_exactly_quota);
	tcase_add_test(tc, test_threads_take_and_give_back);
	tcase_add_test(tc, test_threads_refill_while_taking);
	suite_add_tcase(s, tc);
	return s;
}
