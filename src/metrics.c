/*
 * The counters behind GET /metrics and their exposition in the Prometheus
 * text format, version 0.0.4 (Prometheus docs, "Exposition formats").
 *
 * Each worker counts in a shard of its own (metrics_bind), so that the
 * request path takes no lock and shares no cache line; every other
 * thread counts in one shared shard.  All counters are atomics updated
 * with relaxed order: a scrape sums the shards and may see a request in
 * one family and not yet in the next, but never a torn value.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "spike.h"

#define METRICS_SHARDS		257	/* the shared one + 256 workers */
#define METRICS_CODE_MIN	(-15)	/* answer codes -15..15 */
#define METRICS_CODES		31
#define METRICS_BUCKETS		11	/* latency bounds below +Inf */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

/* Latency bucket bounds: in microseconds, and as the le label says. */
static const long long bucket_us[METRICS_BUCKETS] = { 500, 1000, 2500,
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000 };
static const char *const bucket_le[METRICS_BUCKETS] = { "0.0005", "0.001",
    "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1" };

struct metrics_shard {
	_Alignas(64) atomic_ullong requests[METRICS_CODES];
	atomic_ullong	 latency[METRICS_BUCKETS + 1];	/* not cumulative */
	atomic_ullong	 latency_us;
	atomic_ullong	 redis_calls[STORE_SCRIPTS];
	atomic_ullong	 redis_errors;
	atomic_ullong	 redis_reconnects;
	atomic_ullong	 unconfirmed;
	atomic_ullong	 fastcgi_refused;
	atomic_ullong	 purchases_sent;
};

/* The shards, summed over. */
struct metrics_sum {
	unsigned long long requests[METRICS_CODES];
	unsigned long long latency[METRICS_BUCKETS + 1];
	unsigned long long latency_us;
	unsigned long long redis_calls[STORE_SCRIPTS];
	unsigned long long redis_errors;
	unsigned long long redis_reconnects;
	unsigned long long unconfirmed;
	unsigned long long fastcgi_refused;
	unsigned long long purchases_sent;
};

/* A response being written into a fixed buffer. */
struct metrics_out {
	char		*buf;
	size_t		 size;
	size_t		 len;
	bool		 full;
};

/* Static storage: zero is a valid state for atomics (C11 7.17.2). */
static struct metrics_shard		 shards[METRICS_SHARDS];
static atomic_ullong			 items_known, items_open;
static atomic_bool			 items_full;
static _Thread_local struct metrics_shard *shard_self;

static void	out_printf(struct metrics_out *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* From now on, count the calling thread in worker shard thread. */
void
metrics_bind(unsigned int thread)
{
	shard_self = thread < METRICS_SHARDS - 1 ? &shards[thread + 1] :
	    &shards[0];
}

static struct metrics_shard *
shard(void)
{
	return shard_self != NULL ? shard_self : &shards[0];
}

static void
bump(atomic_ullong *counter, unsigned long long n)
{
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

/* Count one answered request by its code, and how long it took. */
void
metrics_count_request(int code, long long us)
{
	struct metrics_shard	*s = shard();
	int			 b;

	if (code >= METRICS_CODE_MIN && code < METRICS_CODE_MIN + METRICS_CODES)
		bump(&s->requests[code - METRICS_CODE_MIN], 1);
	if (us < 0)
		us = 0;
	for (b = 0; b < METRICS_BUCKETS && us > bucket_us[b]; b++)
		;
	bump(&s->latency[b], 1);
	bump(&s->latency_us, (unsigned long long)us);
}

void
metrics_redis_call(enum store_script script)
{
	bump(&shard()->redis_calls[script], 1);
}

void
metrics_redis_error(void)
{
	bump(&shard()->redis_errors, 1);
}

void
metrics_redis_reconnect(void)
{
	bump(&shard()->redis_reconnects, 1);
}

/* Count n purchases or payments Redis made that WAIT did not confirm. */
void
metrics_unconfirmed(unsigned int n)
{
	bump(&shard()->unconfirmed, n);
}

void
metrics_fastcgi_refused(void)
{
	bump(&shard()->fastcgi_refused, 1);
}

/* Count the n purchases one group commit sent to Redis in a call. */
void
metrics_purchases_sent(unsigned int n)
{
	bump(&shard()->purchases_sent, n);
}

static unsigned long long
load(atomic_ullong *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

static void
sum_shards(struct metrics_sum *t)
{
	struct metrics_shard	*s;
	size_t			 i, k;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < METRICS_SHARDS; i++) {
		s = &shards[i];
		for (k = 0; k < METRICS_CODES; k++)
			t->requests[k] += load(&s->requests[k]);
		for (k = 0; k <= METRICS_BUCKETS; k++)
			t->latency[k] += load(&s->latency[k]);
		t->latency_us += load(&s->latency_us);
		for (k = 0; k < STORE_SCRIPTS; k++)
			t->redis_calls[k] += load(&s->redis_calls[k]);
		t->redis_errors += load(&s->redis_errors);
		t->redis_reconnects += load(&s->redis_reconnects);
		t->unconfirmed += load(&s->unconfirmed);
		t->fastcgi_refused += load(&s->fastcgi_refused);
		t->purchases_sent += load(&s->purchases_sent);
	}
}

static void
out_printf(struct metrics_out *o, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len)
		o->full = true;
	else
		o->len += (size_t)n;
}

/* The HELP and TYPE lines that open a metric family. */
static void
family(struct metrics_out *o, const char *name, const char *type,
    const char *help)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One series per answer code of reply.c, in the order it lists them. */
static void
write_requests(struct metrics_out *o, const struct metrics_sum *t)
{
	bool	 seen[METRICS_CODES] = { false };
	int	 kind, code;

	family(o, "spike_requests_total", "counter", "Requests answered, by "
	    "the answer's code; /metrics and /healthz are not counted.");
	for (kind = 0; kind < REPLY_KINDS; kind++) {
		code = reply_code((enum reply_kind)kind) - METRICS_CODE_MIN;
		if (code < 0 || code >= METRICS_CODES || seen[code])
			continue;
		seen[code] = true;
		out_printf(o, "spike_requests_total{code=\"%d\"} %llu\n",
		    code + METRICS_CODE_MIN, t->requests[code]);
	}
}

/* Buckets are cumulative; +Inf is their total, which is also _count. */
static void
write_latency(struct metrics_out *o, const struct metrics_sum *t)
{
	unsigned long long	 below = 0;
	int			 b;

	family(o, "spike_request_duration_seconds", "histogram", "Time from "
	    "reading a request to writing its answer (us: in stat.log).");
	for (b = 0; b < METRICS_BUCKETS; b++) {
		below += t->latency[b];
		out_printf(o, "spike_request_duration_seconds_bucket"
		    "{le=\"%s\"} %llu\n", bucket_le[b], below);
	}
	below += t->latency[METRICS_BUCKETS];
	out_printf(o, "spike_request_duration_seconds_bucket{le=\"+Inf\"} "
	    "%llu\nspike_request_duration_seconds_sum %llu.%06llu\n"
	    "spike_request_duration_seconds_count %llu\n", below,
	    t->latency_us / 1000000, t->latency_us % 1000000, below);
}

static void
write_stock(struct metrics_out *o, struct stock *s, bool redis_up)
{
	family(o, "spike_local_quota", "gauge", "Tickets this instance may "
	    "take in all until its next refill; quota - taken are left.");
	out_printf(o, "spike_local_quota %lld\n", atomic_load_explicit(
	    &s->quota, memory_order_relaxed));
	family(o, "spike_local_taken", "gauge", "Tickets taken from the local "
	    "quota: sold, or being sold now.");
	out_printf(o, "spike_local_taken %lld\n", atomic_load_explicit(
	    &s->taken, memory_order_relaxed));
	family(o, "spike_local_sales_total", "counter", "Tickets this "
	    "instance sold: localSales in stat.log.");
	out_printf(o, "spike_local_sales_total %lld\n", atomic_load_explicit(
	    &s->sold, memory_order_relaxed));
	family(o, "spike_sold_out", "gauge", "1 while Redis said sold out and "
	    "purchases are answered from memory.");
	out_printf(o, "spike_sold_out %d\n", atomic_load_explicit(
	    &s->sold_out, memory_order_relaxed) ? 1 : 0);
	family(o, "spike_redis_up", "gauge", "1 while Redis answers, 0 after "
	    "a failed call until a sync succeeds.");
	out_printf(o, "spike_redis_up %d\n", redis_up ? 1 : 0);
}

/*
 * The sale as this instance's last sync read it from Redis.  Before the
 * first sync the instance knows nothing: the families have no sample, so
 * that an alert on them sees no value rather than a false 0.
 */
static void
write_sale(struct metrics_out *o, struct stock *s)
{
	long long	 total, sold;

	family(o, "spike_stock_tickets", "gauge", "Tickets of the sale (its "
	    "total), as the last sync read them from Redis.");
	family(o, "spike_stock_remaining", "gauge", "Tickets not sold yet "
	    "(total - sold), as the last sync read them from Redis.");
	if (!atomic_load_explicit(&s->synced, memory_order_acquire))
		return;
	total = atomic_load_explicit(&s->view_total, memory_order_relaxed);
	sold = atomic_load_explicit(&s->view_sold, memory_order_relaxed);
	out_printf(o, "spike_stock_tickets %lld\n", total);
	out_printf(o, "spike_stock_remaining %lld\n", total > sold ?
	    total - sold : 0);
}

/* Constant 1, labelled with what runs: a version can be told by a query. */
static void
write_build_info(struct metrics_out *o)
{
	family(o, "spike_build_info", "gauge", "Always 1; the version label "
	    "is the version of spike-fcgi that answers.");
	out_printf(o, "spike_build_info{version=\"%s\"} 1\n", SPIKE_VERSION);
}

static void
write_redis(struct metrics_out *o, const struct metrics_sum *t)
{
	int	 k;

	family(o, "spike_redis_calls_total", "counter", "Script calls "
	    "(EVALSHA) sent to Redis, by script.");
	for (k = 0; k < STORE_SCRIPTS; k++)
		out_printf(o, "spike_redis_calls_total{script=\"%s\"} %llu\n",
		    store_script_name((enum store_script)k),
		    t->redis_calls[k]);
	family(o, "spike_redis_errors_total", "counter", "Redis calls and "
	    "connection attempts that failed or got an error reply.");
	out_printf(o, "spike_redis_errors_total %llu\n", t->redis_errors);
	family(o, "spike_redis_reconnects_total", "counter", "Connections to "
	    "Redis made again after one was lost.");
	out_printf(o, "spike_redis_reconnects_total %llu\n",
	    t->redis_reconnects);
	family(o, "spike_purchases_sent_total", "counter", "Purchases sent "
	    "to Redis by the group commit; divided by the buy script's "
	    "calls, the purchases per call.");
	out_printf(o, "spike_purchases_sent_total %llu\n",
	    t->purchases_sent);
	family(o, "spike_unconfirmed_total", "counter", "Purchases and "
	    "payments Redis made but fewer than durability_replicas "
	    "acknowledged: answered 503.");
	out_printf(o, "spike_unconfirmed_total %llu\n", t->unconfirmed);
}

/* The sync thread's count of the items known, and of those open. */
void
metrics_set_items(size_t known, size_t open)
{
	atomic_store_explicit(&items_known, known, memory_order_relaxed);
	atomic_store_explicit(&items_open, open, memory_order_relaxed);
}

/* The item table is full: items past items_max are not sold here. */
void
metrics_items_full(void)
{
	atomic_store_explicit(&items_full, true, memory_order_relaxed);
}

static void
write_items(struct metrics_out *o)
{
	family(o, "spike_items", "gauge", "Items this instance knows, the "
	    "default one included.");
	out_printf(o, "spike_items %llu\n", atomic_load(&items_known));
	family(o, "spike_items_open", "gauge", "Items open for sale now: "
	    "started, not ended, not paused (sold out ones included).");
	out_printf(o, "spike_items_open %llu\n", atomic_load(&items_open));
	family(o, "spike_items_full", "gauge", "1 when items_max was reached "
	    "and later items are not sold by this instance.");
	out_printf(o, "spike_items_full %d\n",
	    atomic_load(&items_full) ? 1 : 0);
}

static void
write_fastcgi(struct metrics_out *o, const struct metrics_sum *t)
{
	family(o, "spike_fastcgi_refused_total", "counter", "Connections "
	    "closed unread: a FastCGI stream that was malformed, too large "
	    "or too slow.");
	out_printf(o, "spike_fastcgi_refused_total %llu\n",
	    t->fastcgi_refused);
}

/*
 * Write the whole response to GET /metrics into buf: a CGI response
 * (RFC 3875, 6.2) with the exposition as its body.  Returns the length,
 * or 0 if buf is too small.
 */
size_t
metrics_format(char *buf, size_t bufsz, struct stock *stock, bool redis_up)
{
	struct metrics_out	 o = { buf, bufsz, 0, false };
	struct metrics_sum	 t;

	sum_shards(&t);
	out_printf(&o, "Status: 200 OK\r\nContent-Type: "
	    METRICS_CONTENT_TYPE "\r\n\r\n");
	write_requests(&o, &t);
	write_latency(&o, &t);
	write_stock(&o, stock, redis_up);
	write_sale(&o, stock);
	write_redis(&o, &t);
	write_fastcgi(&o, &t);
	write_items(&o);
	write_build_info(&o);
	return o.full ? 0 : o.len;
}
