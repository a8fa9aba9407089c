/*
 * metrics.c: the exposition is strict Prometheus text (tests/prom.c), the
 * counters count what they are told from any thread, and the whole
 * response fits METRICS_TEXT_MAX.  Counters are process-wide, so every
 * test compares a scrape before with one after.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "spike.h"
#include "unit.h"
#include "prom.h"

#define HEADER		"Status: 200 OK\r\nContent-Type: text/plain; " \
			"version=0.0.4; charset=utf-8\r\n\r\n"
#define THREADS		8
#define THREAD_COUNTS	100000
#define SHARED_COUNTS	50000
#define DIGITS_MAX	20	/* of any value written */

static char	 text[METRICS_TEXT_MAX];

/* Format and parse the exposition; fails the test when it is not valid. */
static void
scrape(struct prom *p, struct stock *s, bool redis_up)
{
	size_t	 len = metrics_format(text, sizeof(text), s, redis_up);

	ck_assert_msg(len > 0, "metrics_format: does not fit");
	ck_assert_msg(strncmp(text, HEADER, strlen(HEADER)) == 0,
	    "headers: %.120s", text);
	ck_assert_msg(prom_parse(p, text + strlen(HEADER)), "%s\n%s", p->err,
	    text);
}

static double
value(const struct prom *p, const char *name, const char *labels)
{
	double	 v = -1;

	ck_assert_msg(prom_value(p, name, labels, &v), "no %s{%s}", name,
	    labels);
	return v;
}

/* The change of name{labels} from a to b. */
static double
delta(const struct prom *a, const struct prom *b, const char *name,
    const char *labels)
{
	return value(b, name, labels) - value(a, name, labels);
}

/* The sync thread's item counts, and the full table, as set. */
START_TEST(test_items)
{
	struct stock	 s;
	struct prom	 p, q;

	stock_init(&s);
	metrics_set_items(3, 2);
	scrape(&p, &s, true);
	ck_assert_double_eq(value(&p, "spike_items", ""), 3);
	ck_assert_double_eq(value(&p, "spike_items_open", ""), 2);
	ck_assert_double_eq(value(&p, "spike_items_full", ""), 0);
	prom_free(&p);
	metrics_items_full();
	scrape(&q, &s, true);
	ck_assert_double_eq(value(&q, "spike_items_full", ""), 1);
	prom_free(&q);
}
END_TEST

START_TEST(test_families)
{
	static const char *const want[][2] = {
		{ "spike_requests_total", "counter" },
		{ "spike_request_duration_seconds", "histogram" },
		{ "spike_local_quota", "gauge" },
		{ "spike_local_taken", "gauge" },
		{ "spike_local_sales_total", "counter" },
		{ "spike_sold_out", "gauge" },
		{ "spike_redis_up", "gauge" },
		{ "spike_redis_calls_total", "counter" },
		{ "spike_redis_errors_total", "counter" },
		{ "spike_redis_reconnects_total", "counter" },
		{ "spike_unconfirmed_total", "counter" },
		{ "spike_fastcgi_refused_total", "counter" },
		{ "spike_purchases_sent_total", "counter" },
		{ "spike_stock_tickets", "gauge" },
		{ "spike_stock_remaining", "gauge" },
		{ "spike_items", "gauge" },
		{ "spike_items_open", "gauge" },
		{ "spike_items_full", "gauge" },
		{ "spike_build_info", "gauge" },
	};
	static const char *const codes[] = { "1", "-1", "-2", "-3", "-4",
	    "-5", "-6", "-7", "-8", "-9" };
	struct stock	 s;
	struct prom	 p;
	char		 labels[64];
	size_t		 i;

	stock_init(&s);
	scrape(&p, &s, true);
	ck_assert_uint_eq(p.nfamilies, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ck_assert_msg(prom_type(&p, want[i][0]) != NULL, "no %s",
		    want[i][0]);
		ck_assert_str_eq(prom_type(&p, want[i][0]), want[i][1]);
	}
	for (i = 0; i < p.nfamilies; i++)
		ck_assert_msg(p.families[i].help, "%s: no HELP",
		    p.families[i].name);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		snprintf(labels, sizeof(labels), "code=\"%s\"", codes[i]);
		value(&p, "spike_requests_total", labels);
	}
	for (i = 0; i < STORE_SCRIPTS; i++) {
		snprintf(labels, sizeof(labels), "script=\"%s\"",
		    store_script_name((enum store_script)i));
		value(&p, "spike_redis_calls_total", labels);
	}
	ck_assert_msg(prom_histogram_check(&p,
	    "spike_request_duration_seconds"), "%s", p.err);
	prom_free(&p);
}
END_TEST

START_TEST(test_requests)
{
	struct stock	 s;
	struct prom	 a, b;
	const char	*h = "spike_request_duration_seconds_bucket";

	stock_init(&s);
	scrape(&a, &s, true);
	metrics_count_request(1, 100);
	metrics_count_request(1, 100);
	metrics_count_request(1, 100);
	metrics_count_request(1, 500);		/* on a bound: le is <= */
	metrics_count_request(-3, 700);
	metrics_count_request(-2, 2000000);	/* over the last bound */
	scrape(&b, &s, true);
	ck_assert_msg(prom_histogram_check(&b,
	    "spike_request_duration_seconds"), "%s", b.err);
	ck_assert(delta(&a, &b, "spike_requests_total", "code=\"1\"") == 4);
	ck_assert(delta(&a, &b, "spike_requests_total", "code=\"-3\"") == 1);
	ck_assert(delta(&a, &b, "spike_requests_total", "code=\"-2\"") == 1);
	ck_assert(delta(&a, &b, "spike_requests_total", "code=\"-1\"") == 0);
	ck_assert(delta(&a, &b, h, "le=\"0.0005\"") == 4);
	ck_assert(delta(&a, &b, h, "le=\"0.001\"") == 5);
	ck_assert(delta(&a, &b, h, "le=\"1\"") == 5);
	ck_assert(delta(&a, &b, h, "le=\"+Inf\"") == 6);
	ck_assert(delta(&a, &b, "spike_request_duration_seconds_count", "") ==
	    6);
	ck_assert_double_eq_tol(delta(&a, &b,
	    "spike_request_duration_seconds_sum", ""), 2.0015, 1e-9);
	prom_free(&a);
	prom_free(&b);
}
END_TEST

START_TEST(test_redis)
{
	struct stock	 s;
	struct prom	 a, b;

	stock_init(&s);
	scrape(&a, &s, true);
	metrics_redis_call(STORE_SCRIPT_BUY);
	metrics_redis_call(STORE_SCRIPT_BUY);
	metrics_redis_call(STORE_SCRIPT_SYNC);
	metrics_redis_error();
	metrics_redis_reconnect();
	metrics_fastcgi_refused();
	metrics_purchases_sent(7);
	scrape(&b, &s, true);
	ck_assert(delta(&a, &b, "spike_redis_calls_total",
	    "script=\"buy\"") == 2);
	ck_assert(delta(&a, &b, "spike_redis_calls_total",
	    "script=\"sync\"") == 1);
	ck_assert(delta(&a, &b, "spike_redis_calls_total",
	    "script=\"pay\"") == 0);
	ck_assert(delta(&a, &b, "spike_redis_errors_total", "") == 1);
	ck_assert(delta(&a, &b, "spike_redis_reconnects_total", "") == 1);
	ck_assert(delta(&a, &b, "spike_fastcgi_refused_total", "") == 1);
	ck_assert(delta(&a, &b, "spike_purchases_sent_total", "") == 7);
	prom_free(&a);
	prom_free(&b);
}
END_TEST

START_TEST(test_gauges)
{
	struct stock	 s;
	struct prom	 p;

	stock_init(&s);
	atomic_store(&s.quota, 10);
	atomic_store(&s.taken, 7);
	atomic_store(&s.sold, 5);
	atomic_store(&s.sold_out, true);
	scrape(&p, &s, false);
	ck_assert(value(&p, "spike_local_quota", "") == 10);
	ck_assert(value(&p, "spike_local_taken", "") == 7);
	ck_assert(value(&p, "spike_local_sales_total", "") == 5);
	ck_assert(value(&p, "spike_sold_out", "") == 1);
	ck_assert(value(&p, "spike_redis_up", "") == 0);
	prom_free(&p);
	atomic_store(&s.sold_out, false);
	scrape(&p, &s, true);
	ck_assert(value(&p, "spike_sold_out", "") == 0);
	ck_assert(value(&p, "spike_redis_up", "") == 1);
	prom_free(&p);
}
END_TEST

/*
 * The sale as the last sync saw it: no sample before the first sync (an
 * alert must not read an unknown stock as 0), then total and total - sold,
 * never below 0.
 */
START_TEST(test_sale)
{
	struct stock	 s;
	struct prom	 p;
	double		 v;

	stock_init(&s);
	scrape(&p, &s, true);
	ck_assert_str_eq(prom_type(&p, "spike_stock_remaining"), "gauge");
	ck_assert(!prom_value(&p, "spike_stock_remaining", "", &v));
	ck_assert(!prom_value(&p, "spike_stock_tickets", "", &v));
	prom_free(&p);
	stock_set_view(&s, 100, 30);
	atomic_store(&s.synced, true);
	scrape(&p, &s, true);
	ck_assert(value(&p, "spike_stock_tickets", "") == 100);
	ck_assert(value(&p, "spike_stock_remaining", "") == 70);
	prom_free(&p);
	stock_set_view(&s, 100, 101);	/* total lowered under sold */
	scrape(&p, &s, true);
	ck_assert(value(&p, "spike_stock_remaining", "") == 0);
	prom_free(&p);
}
END_TEST

/* One series, 1, labelled with the version that -V prints. */
START_TEST(test_build_info)
{
	struct stock	 s;
	struct prom	 p;
	char		 labels[64];
	size_t		 i, n = 0;

	stock_init(&s);
	scrape(&p, &s, true);
	snprintf(labels, sizeof(labels), "version=\"%s\"", PACKAGE_VERSION);
	ck_assert(value(&p, "spike_build_info", labels) == 1);
	for (i = 0; i < p.nsamples; i++)
		n += strcmp(p.samples[i].name, "spike_build_info") == 0;
	ck_assert_uint_eq(n, 1);
	prom_free(&p);
}
END_TEST

/* A worker (bound to its shard) or another thread (the shared one). */
static void *
counter_thread(void *arg)
{
	long	 shard = (long)arg;
	int	 k, n = shard >= 0 ? THREAD_COUNTS : SHARED_COUNTS;

	if (shard >= 0)
		metrics_bind((unsigned int)shard);
	for (k = 0; k < n; k++)
		metrics_count_request(-1, 1);
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t	 t[THREADS + 2];
	struct stock	 s;
	struct prom	 a, b;
	long		 i;

	stock_init(&s);
	scrape(&a, &s, true);
	for (i = 0; i < THREADS + 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, counter_thread,
		    (void *)(i < THREADS ? i : -1)), 0);
	for (i = 0; i < THREADS + 2; i++)
		pthread_join(t[i], NULL);
	scrape(&b, &s, true);
	ck_assert(delta(&a, &b, "spike_requests_total", "code=\"-1\"") ==
	    THREADS * THREAD_COUNTS + 2 * SHARED_COUNTS);
	ck_assert(delta(&a, &b, "spike_request_duration_seconds_count", "") ==
	    THREADS * THREAD_COUNTS + 2 * SHARED_COUNTS);
	prom_free(&a);
	prom_free(&b);
}
END_TEST

/* Exactly-sized buffers, and room for every value at its widest. */
START_TEST(test_fits)
{
	struct stock	 s;
	struct prom	 p;
	size_t		 len;

	stock_init(&s);
	atomic_store(&s.synced, true);	/* every series there */
	len = metrics_format(text, sizeof(text), &s, true);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_eq(metrics_format(text, len, &s, true), 0);
	ck_assert_uint_eq(metrics_format(text, len + 1, &s, true), len);
	ck_assert_uint_eq(strlen(text), len);
	ck_assert(prom_parse(&p, text + strlen(HEADER)));
	ck_assert_msg(len + p.nsamples * DIGITS_MAX < METRICS_TEXT_MAX,
	    "%zu bytes and %zu values may not fit %d", len, p.nsamples,
	    METRICS_TEXT_MAX);
	prom_free(&p);
}
END_TEST

/* The parser itself refuses what the format does not allow. */
START_TEST(test_parser_strict)
{
	static const char *const bad[] = {
		"",
		"x 1\n",				/* no TYPE */
		"# TYPE x gauge\nx 1",			/* no newline */
		"# TYPE x gauge\n\nx 1\n",		/* empty line */
		"# TYPE x gauge\nx 1 123\n",		/* timestamp */
		"# TYPE x gauge\nx  1\n",		/* two spaces */
		"# TYPE x gauge\nx inf\n",		/* not +Inf */
		"# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",
		"# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n",
		"# TYPE x gauge\nx{a=1} 1\n",
		"# TYPE x gauge\n# TYPE x counter\nx 1\n",
		"# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a=\"b\"} 1\n",
		"# TYPE x gauge\n# a remark\nx 1\n",
		"# TYPE x sometype\nx 1\n",
		"# TYPE h histogram\nh 1\n",
	};
	static const char good[] = "# HELP x a \\\\ b\n# TYPE x counter\n"
	    "x{a=\"q\\\"\",b=\"\"} 1.5e3\n# TYPE h histogram\n"
	    "h_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\n"
	    "h_count 2\n";
	static const char unsorted[] = "# TYPE h histogram\n"
	    "h_bucket{le=\"0.1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\n"
	    "h_count 2\n";
	struct prom	 p;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!prom_parse(&p, bad[i]), "accepted: %s", bad[i]);
		prom_free(&p);
	}
	ck_assert_msg(prom_parse(&p, good), "%s", p.err);
	ck_assert_msg(prom_histogram_check(&p, "h"), "%s", p.err);
	prom_free(&p);
	ck_assert_msg(prom_parse(&p, unsorted), "%s", p.err);
	ck_assert(!prom_histogram_check(&p, "h"));
	prom_free(&p);
}
END_TEST

Suite *
make_metrics_suite(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc = tcase_create("exposition");

	tcase_add_test(tc, test_families);
	tcase_add_test(tc, test_items);
	tcase_add_test(tc, test_requests);
	tcase_add_test(tc, test_redis);
	tcase_add_test(tc, test_gauges);
	tcase_add_test(tc, test_sale);
	tcase_add_test(tc, test_build_info);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_fits);
	tcase_add_test(tc, test_parser_strict);
	suite_add_tcase(s, tc);
	return s;
}
