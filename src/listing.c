/*
 * GET /items, the front page's listing: the items coming or open,
 * ordered by opening then name, as JSON.  The sync thread builds the
 * entries after something changed (listing_build) and publishes them
 * under a read-write lock that only /items readers and the sync thread
 * take, never the purchase path; a reader copies what it needs out.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spike.h"

#define LISTING_ENTRY_MAX	(2 * CONF_KEY_MAX + 192)
#define LISTING_HEAD_MAX	256

struct listing {
	pthread_rwlock_t lock;
	char		*text;		/* the entries, comma-separated */
	size_t		*ends;		/* where each entry ends in text */
	size_t		 n;
};

/* One listed item, as the builder sorts it. */
struct listed {
	struct item	*item;
	long long	 opens_at;
	enum item_state	 state;
};

struct listing *
listing_new(void)
{
	struct listing	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	pthread_rwlock_init(&l->lock, NULL);
	return l;
}

void
listing_free(struct listing *l)
{
	if (l == NULL)
		return;
	pthread_rwlock_destroy(&l->lock);
	free(l->text);
	free(l->ends);
	free(l);
}

static int
listed_order(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;

	if (x->opens_at != y->opens_at)
		return x->opens_at < y->opens_at ? -1 : 1;
	return strcmp(x->item->name, y->item->name);
}

/* One entry's JSON, with a comma before it unless first. */
static int
format_entry(char *buf, size_t bufsz, const struct listed *e, bool first)
{
	char		 name[2 * CONF_KEY_MAX];
	long long	 total, sold, remaining;

	json_escape(name, sizeof(name), e->item->name);
	total = atomic_load(&e->item->stock.view_total);
	sold = atomic_load(&e->item->stock.view_sold);
	remaining = total > sold ? total - sold : 0;
	return snprintf(buf, bufsz, "%s{\"item\":\"%s\",\"state\":\"%s\","
	    "\"total\":%lld,\"sold\":%lld,\"remaining\":%lld,"
	    "\"opens_at\":%lld,\"closes_at\":%lld}", first ? "" : ",", name,
	    item_state_name(e->state), total, sold, remaining, e->opens_at,
	    atomic_load(&e->item->end_ms));
}

/* The items coming or open at redis_ms, sorted; their count in *n. */
static struct listed *
collect(struct item_table *t, long long redis_ms, size_t *n)
{
	size_t		 i, count = item_count(t);
	struct listed	*v;
	enum item_state	 state;

	*n = 0;
	if ((v = calloc(count + 1, sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < count; i++) {
		state = item_state_at(item_at(t, i), redis_ms);
		if ((state != ITEM_COMING && state != ITEM_OPEN) ||
		    atomic_load(&item_at(t, i)->stock.view_total) <= 0)
			continue;	/* closed, or no sale in its hash */
		v[*n].item = item_at(t, i);
		v[*n].opens_at = atomic_load(&v[*n].item->start_ms);
		v[(*n)++].state = state;
	}
	qsort(v, *n, sizeof(*v), listed_order);
	return v;
}

/*
 * Rebuild the listing from the items as they stand at redis_ms and
 * publish it: by the sync thread.  Returns how many items are open.
 */
size_t
listing_build(struct listing *l, struct item_table *t, long long redis_ms)
{
	struct listed	*v;
	size_t		 n, i, len = 0, open = 0, *ends;
	char		*text;
	int		 w;

	if ((v = collect(t, redis_ms, &n)) == NULL)
		return 0;
	if (n > LISTING_MAX)
		n = LISTING_MAX;
	text = malloc(n * LISTING_ENTRY_MAX + 1);
	ends = calloc(n + 1, sizeof(*ends));
	if (text == NULL || ends == NULL) {
		free(text);
		free(ends);
		free(v);
		return 0;
	}
	text[0] = '\0';
	for (i = 0; i < n; i++) {
		w = format_entry(text + len, LISTING_ENTRY_MAX, &v[i], i == 0);
		if (w > 0 && w < LISTING_ENTRY_MAX)
			len += (size_t)w;
		ends[i] = len;
	}
	for (i = 0; i < item_count(t); i++)
		open += item_state_at(item_at(t, i), redis_ms) == ITEM_OPEN;
	free(v);
	pthread_rwlock_wrlock(&l->lock);
	free(l->text);
	free(l->ends);
	l->text = text;
	l->ends = ends;
	l->n = n;
	pthread_rwlock_unlock(&l->lock);
	return open;
}

/*
 * The whole response to GET /items with at most limit entries, "now"
 * being redis_ms: a CGI response (RFC 3875, 6.2) in memory the caller
 * frees, its length in *len.  NULL when memory is short.
 */
char *
listing_answer(struct listing *l, unsigned int limit, long long redis_ms,
    size_t *len)
{
	char		 head[LISTING_HEAD_MAX];
	static const char tail[] = "]}\n";
	size_t		 body, hlen;
	char		*out;
	int		 n;

	n = snprintf(head, sizeof(head), "Status: 200 OK\r\n"
	    "Content-Type: application/json; charset=utf-8\r\n\r\n"
	    "{\"code\":1,\"msg\":\"ok\",\"now\":%lld,\"items\":[", redis_ms);
	hlen = n > 0 ? (size_t)n : 0;
	pthread_rwlock_rdlock(&l->lock);
	if (limit > l->n)
		limit = (unsigned int)l->n;
	body = limit > 0 ? l->ends[limit - 1] : 0;
	if ((out = malloc(hlen + body + sizeof(tail))) != NULL) {
		memcpy(out, head, hlen);
		if (body > 0)
			memcpy(out + hlen, l->text, body);
		memcpy(out + hlen + body, tail, sizeof(tail));
		*len = hlen + body + sizeof(tail) - 1;
	}
	pthread_rwlock_unlock(&l->lock);
	return out;
}
