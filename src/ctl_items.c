/*
 * spikectl items: every item on sale, its state by Redis's clock and
 * its stock, as ctl_redis_items() read them, in a table or JSON.  See
 * spikectl(1), items.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "spike.h"

/* coming, open, paused, ended or sold-out, at now_ms of Redis's clock. */
const char *
ctl_item_state(const struct ctl_item *it, long long now_ms)
{
	if (it->paused)
		return "paused";
	if (it->end_ms > 0 && now_ms >= it->end_ms)
		return "ended";
	if (now_ms < it->start_ms)
		return "coming";
	if (it->total_ok && it->sold_ok && it->sold >= it->total)
		return "sold-out";
	return "open";
}

static long long
item_remaining(const struct ctl_item *it)
{
	if (!it->total_ok || !it->sold_ok || it->sold >= it->total)
		return 0;
	return it->total - it->sold;
}

static void
json_number_or_null(bool ok, long long v)
{
	if (ok)
		printf("%lld", v);
	else
		fputs("null", stdout);
}

static void
items_json(const struct ctl_item *items, size_t n, long long now_ms,
    const struct conf *conf)
{
	const struct ctl_item *it;
	size_t		 i;

	printf("{\"now\":%lld,\"items\":[", now_ms);
	for (i = 0; i < n; i++) {
		it = &items[i];
		fputs(i > 0 ? ",{\"item\":" : "{\"item\":", stdout);
		json_print_string(it->name);
		printf(",\"state\":\"%s\",\"total\":", ctl_item_state(it,
		    now_ms));
		json_number_or_null(it->total_ok, it->total);
		fputs(",\"sold\":", stdout);
		json_number_or_null(it->sold_ok, it->sold);
		printf(",\"remaining\":%lld,\"opens_at\":%lld,"
		    "\"closes_at\":%lld,\"per_user\":%lld}",
		    item_remaining(it), it->start_ms, it->end_ms,
		    it->per_user >= 0 ? it->per_user :
		    (long long)conf->per_user_limit);
	}
	fputs("]}\n", stdout);
}

/* A time of the table: ISO 8601 UTC, or what none means. */
static void
table_time(long long ms, const char *none, char *buf, size_t bufsz)
{
	if (ms > 0)
		ctl_time_format(ms, buf, bufsz);
	else
		snprintf(buf, bufsz, "%s", none);
}

/* A number of the table, or "-" when missing. */
static void
table_number(bool ok, long long v, char *buf, size_t bufsz)
{
	if (ok)
		snprintf(buf, bufsz, "%lld", v);
	else
		snprintf(buf, bufsz, "-");
}

static void
items_table(const struct ctl_item *items, size_t n, long long now_ms,
    const struct conf *conf)
{
	const struct ctl_item *it;
	char		 opens[32], closes[32], total[24], sold[24];
	size_t		 i;
	int		 w = 4;

	for (i = 0; i < n; i++)
		if ((int)strlen(items[i].name) > w)
			w = (int)strlen(items[i].name);
	printf("%-*s  %-8s  %10s  %10s  %10s  %-24s  %-24s  %s\n", w, "ITEM",
	    "STATE", "TOTAL", "SOLD", "REMAINING", "OPENS", "CLOSES",
	    "PER_USER");
	for (i = 0; i < n; i++) {
		it = &items[i];
		table_time(it->start_ms, "at init", opens, sizeof(opens));
		table_time(it->end_ms, "never", closes, sizeof(closes));
		table_number(it->total_ok, it->total, total, sizeof(total));
		table_number(it->sold_ok, it->sold, sold, sizeof(sold));
		printf("%-*s  %-8s  %10s  %10s  %10lld  %-24s  %-24s  %lld\n",
		    w, it->name, ctl_item_state(it, now_ms), total, sold,
		    item_remaining(it), opens, closes, it->per_user >= 0 ?
		    it->per_user : (long long)conf->per_user_limit);
	}
	printf("%zu items\n", n);
}

/* Print the items as read at now_ms (Redis's clock). */
void
ctl_items_print(const struct ctl_item *items, size_t n, long long now_ms,
    const struct conf *conf, bool json)
{
	if (json)
		items_json(items, n, now_ms, conf);
	else
		items_table(items, n, now_ms, conf);
}
