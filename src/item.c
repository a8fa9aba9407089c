/*
 * The items on sale, as this instance knows them: a table the sync
 * thread fills from Redis (sync.c) and workers read without a lock.
 * Open addressing with linear probing over twice the capacity in
 * slots; an item is published by one release store of its pointer, and
 * none is ever removed or moved, so a reader that found one may keep it.
 * Also the instance's estimate of Redis's clock, by which sales open.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spike.h"

struct item_table {
	size_t			 capacity;	/* items it takes at most */
	size_t			 mask;		/* slots - 1 */
	_Atomic(struct item *)	*slots;
	struct item		**added;	/* in the order added */
	atomic_size_t		 count;
	atomic_llong		 clock_offset_us;	/* Redis's minus ours */
};

/* An item name: 1 to 64 of [A-Za-z0-9_.-], and not "." or "..". */
bool
item_name_valid(const char *name, size_t len)
{
	size_t	 i;
	char	 c;

	if (len == 0 || len > ITEM_NAME_MAX)
		return false;
	if (strspn(name, ".") >= len)
		return false;	/* a path in nginx's edge_dir */
	for (i = 0; i < len; i++) {
		c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		    c == '-'))
			return false;
	}
	return true;
}

/*
 * The Redis key of item name: stock_key for the default item (named
 * stock_key), else "STOCK_KEY:item:NAME".  Returns false if it does not
 * fit in keysz.
 */
bool
item_key(const struct conf *conf, const char *name, char *key, size_t keysz)
{
	int	 n;

	if (strcmp(name, conf->stock_key) == 0)
		n = snprintf(key, keysz, "%s", conf->stock_key);
	else
		n = snprintf(key, keysz, "%s" ITEM_KEY_INFIX "%s",
		    conf->stock_key, name);
	return n >= 0 && (size_t)n < keysz;
}

/* FNV-1a: short keys, no adversary choosing names the table holds. */
static size_t
item_hash(const char *name, size_t len)
{
	unsigned long long	 h = 14695981039346656037ULL;
	size_t			 i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

/* Redis's clock minus the monotonic one, first guessed from the wall. */
static long long
wall_offset_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - now_us();
}

struct item_table *
item_table_new(size_t capacity)
{
	struct item_table *t;
	size_t		 slots = 2;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	while (slots < 2 * capacity)
		slots *= 2;
	t->capacity = capacity;
	t->mask = slots - 1;
	t->slots = calloc(slots, sizeof(*t->slots));
	t->added = calloc(capacity, sizeof(*t->added));
	if (t->slots == NULL || t->added == NULL) {
		item_table_free(t);
		return NULL;
	}
	atomic_init(&t->count, 0);
	atomic_init(&t->clock_offset_us, wall_offset_us());
	return t;
}

void
item_table_free(struct item_table *t)
{
	size_t	 i, n;

	if (t == NULL)
		return;
	n = atomic_load(&t->count);
	for (i = 0; i < n; i++)
		free(t->added[i]);
	free(t->added);
	free(t->slots);
	free(t);
}

/* The item named by len bytes of name, or NULL.  Any thread. */
struct item *
item_find(struct item_table *t, const char *name, size_t len)
{
	size_t		 i = item_hash(name, len) & t->mask;
	struct item	*it;

	while ((it = atomic_load_explicit(&t->slots[i],
	    memory_order_acquire)) != NULL) {
		if (strncmp(it->name, name, len) == 0 && it->name[len] == '\0')
			return it;
		i = (i + 1) & t->mask;
	}
	return NULL;
}

/*
 * The item named name, added with its key if new: by the sync thread
 * alone.  Returns NULL when the table is full or memory is short.
 */
struct item *
item_add(struct item_table *t, const char *name, const char *key)
{
	size_t		 len = strlen(name), n, i;
	struct item	*it;

	if ((it = item_find(t, name, len)) != NULL)
		return it;
	n = atomic_load_explicit(&t->count, memory_order_relaxed);
	if (n >= t->capacity || len >= sizeof(it->name) ||
	    strlen(key) >= ITEM_KEY_MAX || (it = calloc(1, sizeof(*it))) == NULL)
		return NULL;
	memcpy(it->name, name, len + 1);
	strcpy(it->key, key);
	stock_init(&it->stock);
	atomic_init(&it->start_ms, 0);
	atomic_init(&it->end_ms, 0);
	atomic_init(&it->paused, false);
	t->added[n] = it;
	atomic_store_explicit(&t->count, n + 1, memory_order_release);
	i = item_hash(name, len) & t->mask;
	while (atomic_load_explicit(&t->slots[i], memory_order_relaxed))
		i = (i + 1) & t->mask;
	atomic_store_explicit(&t->slots[i], it, memory_order_release);
	return it;
}

size_t
item_count(const struct item_table *t)
{
	return atomic_load_explicit(&t->count, memory_order_acquire);
}

/* The i-th item added, i below item_count(). */
struct item *
item_at(struct item_table *t, size_t i)
{
	return t->added[i];
}

enum item_state
item_state_at(const struct item *it, long long redis_ms)
{
	long long	 end = atomic_load_explicit(&it->end_ms,
			    memory_order_relaxed);

	if (atomic_load_explicit(&it->paused, memory_order_relaxed))
		return ITEM_PAUSED;
	if (end > 0 && redis_ms >= end)
		return ITEM_ENDED;
	if (redis_ms < atomic_load_explicit(&it->start_ms,
	    memory_order_relaxed))
		return ITEM_COMING;
	return ITEM_OPEN;
}

const char *
item_state_name(enum item_state s)
{
	static const char *const names[] = {
		[ITEM_COMING] = "coming",
		[ITEM_OPEN] = "open",
		[ITEM_PAUSED] = "paused",
		[ITEM_ENDED] = "ended",
	};

	return names[s];
}

/*
 * Redis's clock read as redis_us no later than ours read local_us
 * (now_us()): from now on item_redis_now_ms() follows it.
 */
void
item_set_clock(struct item_table *t, long long redis_us, long long local_us)
{
	atomic_store_explicit(&t->clock_offset_us, redis_us - local_us,
	    memory_order_relaxed);
}

/* Redis's clock now, in milliseconds, as this instance estimates it. */
long long
item_redis_now_ms(const struct item_table *t)
{
	return (now_us() + atomic_load_explicit(&t->clock_offset_us,
	    memory_order_relaxed)) / 1000;
}

/* When, on the clock of now_us(), Redis's clock will read redis_ms. */
long long
item_local_us(const struct item_table *t, long long redis_ms)
{
	return redis_ms * 1000 - atomic_load_explicit(&t->clock_offset_us,
	    memory_order_relaxed);
}
