/*
 * GET /items, the front page's listing: the items coming or open,
 * ordered by opening then name, as JSON.  The sync thread builds the
 * entries after something changed (listing_build) and publishes them
 * as an immutable snapshot, counted by its readers: the mutex guards
 * only the pointer's swap and its taking, never a copy or a build, and
 * the purchase path never takes it.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spike.h"

#define LISTING_ENTRY_MAX	(2 * CONF_KEY_MAX + 192)
#define LISTING_HEAD_MAX	256

struct listing_snap {
	atomic_uint	 refs;		/* the listing's own, and readers' */
	char		*text;		/* the entries, comma-separated */
	size_t		*ends;		/* where each entry ends in text */
	size_t		 n;
};

struct listing {
	pthread_mutex_t	 lock;		/* over current alone */
	struct listing_snap *current;	/* NULL until the first build */
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
	pthread_mutex_init(&l->lock, NULL);
	return l;
}

static void
snap_release(struct listing_snap *s)
{
	if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	free(s->text);
	free(s->ends);
	free(s);
}

void
listing_free(struct listing *l)
{
	if (l == NULL)
		return;
	snap_release(l->current);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* Make s the listing's; the one it replaces goes with its last reader. */
static void
publish(struct listing *l, struct listing_snap *s)
{
	struct listing_snap *old;

	atomic_init(&s->refs, 1);
	pthread_mutex_lock(&l->lock);
	old = l->current;
	l->current = s;
	pthread_mutex_unlock(&l->lock);
	snap_release(old);
}

/* The current snapshot, held until snap_release(); NULL before any. */
static struct listing_snap *
take(struct listing *l)
{
	struct listing_snap *s;

	pthread_mutex_lock(&l->lock);
	if ((s = l->current) != NULL)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&l->lock);
	return s;
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
	struct listing_snap *snap;
	size_t		 n, i, len = 0, open = 0, *ends;
	char		*text;
	int		 w;

	if ((v = collect(t, redis_ms, &n)) == NULL)
		return 0;
	if (n > LISTING_MAX)
		n = LISTING_MAX;
	text = malloc(n * LISTING_ENTRY_MAX + 1);
	ends = calloc(n + 1, sizeof(*ends));
	snap = malloc(sizeof(*snap));
	if (text == NULL || ends == NULL || snap == NULL) {
		free(text);
		free(ends);
		free(snap);
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
	snap->text = text;
	snap->ends = ends;
	snap->n = n;
	publish(l, snap);
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
	struct listing_snap *snap;
	size_t		 body, hlen;
	char		*out;
	int		 n;

	n = snprintf(head, sizeof(head), "Status: 200 OK\r\n"
	    "Content-Type: application/json; charset=utf-8\r\n\r\n"
	    "{\"code\":1,\"msg\":\"ok\",\"now\":%lld,\"items\":[", redis_ms);
	hlen = n > 0 ? (size_t)n : 0;
	snap = take(l);
	if (snap == NULL || limit > snap->n)
		limit = snap == NULL ? 0 : (unsigned int)snap->n;
	body = limit > 0 ? snap->ends[limit - 1] : 0;
	if ((out = malloc(hlen + body + sizeof(tail))) != NULL) {
		memcpy(out, head, hlen);
		if (body > 0)
			memcpy(out + hlen, snap->text, body);
		memcpy(out + hlen + body, tail, sizeof(tail));
		*len = hlen + body + sizeof(tail) - 1;
	}
	snap_release(snap);
	return out;
}
