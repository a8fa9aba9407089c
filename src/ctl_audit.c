/*
 * spikectl audit: how long a pending order may stay past its pay_by, and
 * the books as ctl_redis_audit() found them, in words or JSON.  See
 * spikectl(1), audit, and src/lua/audit.lua for what is checked.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "spike.h"

/*
 * The default grace past pay_by, in milliseconds.  An instance expires
 * overdue orders every SYNC_EXPIRE_MS, counted in steps of sync_ms, so
 * up to SYNC_EXPIRE_MS + sync_ms apart; the call may take
 * redis_timeout_ms; and one more round covers an instance that died
 * between two (another one's takes over).
 */
long long
ctl_audit_grace_ms(const struct conf *conf)
{
	return 2LL * SYNC_EXPIRE_MS + conf->sync_ms + conf->redis_timeout_ms;
}

/* A stored field: its number, or the text as stored, or null if missing. */
static void
json_raw(const char *raw)
{
	const char	*p = raw[0] == '-' ? raw + 1 : raw;

	if (raw[0] == '\0')
		fputs("null", stdout);
	else if (*p != '\0' && strspn(p, "0123456789") == strlen(p))
		fputs(raw, stdout);
	else
		json_print_string(raw);
}

static void
json_kinds(const struct ctl_audit *a)
{
	const struct ctl_audit_kind *k;
	size_t		 i, j, n = 0;

	fputs("\"violations\":[", stdout);
	for (i = 0; i < a->nkinds; i++) {
		if ((k = &a->kinds[i])->count == 0)
			continue;
		fputs(n++ > 0 ? ",{\"kind\":" : "{\"kind\":", stdout);
		json_print_string(k->name);
		printf(",\"count\":%lld,\"listed\":[", k->count);
		for (j = 0; j < k->nitems; j++) {
			fputs(j > 0 ? "," : "", stdout);
			json_print_string(k->items[j]);
		}
		fputs("]}", stdout);
	}
	putchar(']');
}

static void
audit_json(const struct ctl_audit *a, const struct conf *conf,
    const char *conf_path)
{
	fputs("{\"conf\":", stdout);
	json_print_string(conf_path);
	fputs(",\"stock_key\":", stdout);
	json_print_string(conf->stock_key);
	fputs(",\"item\":", stdout);
	json_print_string(a->item);
	printf(",\"ok\":%s,\"total\":", a->violations == 0 ? "true" : "false");
	json_raw(a->total_raw);
	fputs(",\"sold\":", stdout);
	json_raw(a->sold_raw);
	printf(",\"pending\":%lld,\"paid\":%lld,\"expired\":%lld,"
	    "\"anonymous\":%lld,\"orders\":%lld,\"earlier_orders\":%lld,"
	    "\"events\":%lld,\"opened_ms\":%lld,\"now_ms\":%lld,"
	    "\"grace_ms\":%lld,\"took_ms\":%.1f,\"violation_count\":%lld,",
	    a->pending, a->paid, a->expired, a->anonymous, a->orders,
	    a->earlier, a->events, a->opened_ms, a->now_ms, a->grace_ms,
	    a->took_ms, a->violations);
	json_kinds(a);
	fputs("}\n", stdout);
}

static void
audit_text(const struct ctl_audit *a)
{
	const struct ctl_audit_kind *k;
	size_t		 i, j;

	printf("sale %s: books read at one instant in %.1f ms\n"
	    "  total      %s\n  sold       %s\n  pending    %lld\n"
	    "  paid       %lld\n  expired    %lld\n  anonymous  %lld\n"
	    "  orders     %lld (of an earlier sale, not checked: %lld)\n"
	    "  events     %lld\n  grace      %lld ms past pay_by\n",
	    a->item, a->took_ms, a->total_raw[0] ? a->total_raw :
	    "missing", a->sold_raw[0] ? a->sold_raw : "missing", a->pending,
	    a->paid, a->expired, a->anonymous, a->orders, a->earlier,
	    a->events, a->grace_ms);
	for (i = 0; i < a->nkinds; i++) {
		k = &a->kinds[i];
		for (j = 0; j < k->nitems; j++)
			printf("violation %s: %s\n", k->name, k->items[j]);
		if (k->count > (long long)k->nitems)
			printf("violation %s: and %lld more\n", k->name,
			    k->count - (long long)k->nitems);
	}
	if (a->violations == 0)
		printf("ok: the books are right\n");
	else
		printf("%lld violations\n", a->violations);
}

/* Print what audit found, in words or as one line of JSON. */
void
ctl_audit_print(const struct ctl_audit *a, const struct conf *conf,
    const char *conf_path, bool json)
{
	if (json)
		audit_json(a, conf, conf_path);
	else
		audit_text(a);
}
