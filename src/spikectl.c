/*
 * spikectl: the operator's tool for spike-fcgi(8).  Reads the same
 * spike.conf (conf.c), talks to the same Redis (ctl_redis.c), writes
 * nginx's snippet (ctl_nginx.c) and starts an instance under spawn-fcgi
 * for systemd.  See spikectl(1).
 *
 * Exit status: 0 success, 1 failure or refusal, 2 usage error.  audit:
 * 0 the books are right, 1 a violation, 2 no verdict (usage, config or
 * Redis unreadable).  status: 3 when it read the sale but no configured
 * instance is live (LSB's "not running").
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "spike.h"

#define CTL_OK		0
#define CTL_FAIL	1
#define CTL_USAGE	2
#define CTL_NO_VERDICT	2	/* audit could not read the books */
#define CTL_NOT_LIVE	3	/* status: no configured instance live */

#define CTL_SPIKE_FCGI	SBINDIR "/spike-fcgi"
#define CTL_TOTAL_MAX	1000000000000000LL	/* 10^15 tickets */
#define CTL_SIGN_TTL	300		/* sign: seconds a signature is good */
#define CTL_RATE_MAX	1000000		/* nginx-conf --rate, --burst */
#define CTL_PAY_FROM_MAX	64	/* nginx-conf --pay-from */
#define CTL_NAMES_MAX	64	/* nginx-conf --server-name */
#define CTL_GRACE_MAX	86400	/* audit --grace, seconds */
#define CTL_WAIT_MAX	3600	/* status --wait, seconds */
#define CTL_WAIT_STEP_MS	100	/* status --wait: between looks */

struct ctl {
	const char	*conf_path;
	struct conf	 conf;
	bool		 json;		/* status --json, audit --json */
	const char	*wait;		/* status --wait, as given */
	const char	*grace;		/* audit --grace, as given */
	const char	*audit_redis;	/* audit --redis: this Redis instead */
	bool		 force;		/* init --force */
	const char	*listen;	/* nginx-conf --listen */
	const char	*rate;		/* nginx-conf --rate, as given */
	const char	*burst;		/* nginx-conf --burst */
	const char	*pay_from[CTL_PAY_FROM_MAX];	/* nginx-conf --pay-from */
	size_t		 npay_from;	/* may exceed the array: refused */
	const char	*server_names[CTL_NAMES_MAX]; /* --server-name */
	size_t		 nserver_names;	/* may exceed the array */
	const char	*program;	/* spawn --program */
	const char	*ttl;		/* sign --ttl */
	const char	*order;		/* sign --order */
	const char	*user;		/* spawn --user */
	bool		 local;		/* instances --local */
	const char	*item;		/* --item: init, pause, resume, sign,
					   audit */
	const char	*start;		/* init --start, as given */
	const char	*end;		/* init --end */
	const char	*per_user;	/* init --per-user */
	const char	*items_from;	/* init --items-from FILE */
};

struct ctl_command {
	const char	*name;
	int		 min_args;	/* operands after the options */
	int		 max_args;
	int		 (*run)(struct ctl *, char **args);
};

static int	ctl_errx(int, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: spikectl [-hV] [-c file] command [argument ...]\n"
	    "  -h, --help                      this text\n"
	    "  -V, --version                   spikectl's version\n"
	    "  -c file                         spike.conf, by default\n"
	    "                                  %s\n"
	    "  init TOTAL [--item ITEM] [--start TIME] [--end TIME]\n"
	    "    [--per-user N] [--force]      put a sale of TOTAL tickets on\n"
	    "                                  (TIME: ISO 8601 with a zone,\n"
	    "                                  or +SECONDS from now)\n"
	    "  init TOTAL --items-from FILE [--start TIME] ...\n"
	    "                                  the same for each item FILE\n"
	    "                                  names, one a line\n"
	    "  items [--json]                  every item on sale\n"
	    "  pause [--item ITEM]             stop selling (every item\n"
	    "  resume [--item ITEM]            without --item), sell again\n"
	    "  status [--json] [--wait S]      the sale, instances, orders;\n"
	    "                                  exit 3: no instance is live\n"
	    "                                  (--wait: for up to S seconds)\n"
	    "  check                           config, Redis and the stock hash\n"
	    "  audit [--json] [--grace S] [--redis ADDR] [--item ITEM]\n"
	    "                                  check the sale's books\n"
	    "  nginx-conf [--listen ADDR:PORT] nginx's snippet for the instances\n"
	    "    [--server-name NAME ...]\n"
	    "    [--rate N [--burst B]] [--pay-from ADDR ...]\n"
	    "  instances [--local]             the instance addresses (--local:\n"
	    "                                  those this host can listen on)\n"
	    "  spawn ADDR [--program PATH] [--user NAME]\n"
	    "                                  run instance ADDR under spawn-fcgi\n"
	    "  sign USER [--ttl S] [--order O] [--item ITEM]\n"
	    "                                  a buyer's signature, or with\n"
	    "                                  --order a payment notice's\n",
	    SYSCONFDIR "/spike/spike.conf");
}

/*
 * Say why on stderr, prefixed "spikectl: ", or when stderr is the journal
 * (under systemd: spawn, the generator) with its priority instead: a
 * failure is an error, what still exits 0 a warning.  Returns status.
 */
static int
ctl_errx(int status, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[CONF_ERR_MAX + 256];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_to_journal())
		fprintf(stderr, "%s%s\n", log_journal_prefix(status == CTL_OK ?
		    LOG_WARNING : LOG_ERR), line);
	else
		fprintf(stderr, "spikectl: %s\n", line);
	return status;
}

/* Load spike.conf; returns CTL_OK or CTL_FAIL with FILE:LINE said. */
static int
load_conf(struct ctl *c)
{
	char		 err[CONF_ERR_MAX];
	enum spike_err	 rc;

	rc = conf_load(&c->conf, c->conf_path, err, sizeof(err));
	if (rc == SPIKE_ECONFIG)
		return ctl_errx(CTL_FAIL, "%s", err);
	if (rc != SPIKE_OK)
		return ctl_errx(CTL_FAIL, "%s: %s", c->conf_path,
		    spike_strerror(rc));
	return CTL_OK;
}

/* Connect to the configured Redis; NULL (said why) on failure. */
static struct ctl_redis *
open_redis(struct ctl *c)
{
	struct ctl_redis	*cr;

	if ((cr = ctl_redis_new(&c->conf)) == NULL)
		ctl_errx(CTL_FAIL, "%s", spike_strerror(SPIKE_ENOMEM));
	return cr;
}

/* Parse TOTAL: a whole number from 0 to CTL_TOTAL_MAX. */
static bool
parse_total(const char *s, long long *out)
{
	char	*end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0' && *out <= CTL_TOTAL_MAX;
}

/* ---- init ------------------------------------------------------------- */

/* Describe a stored field for messages: its value or "missing". */
static const char *
raw_or_missing(const char *raw)
{
	return raw[0] != '\0' ? raw : "missing";
}

/*
 * Is --item, if given, an item name (or the default item's, stock_key)?
 * Returns CTL_OK, or CTL_USAGE having said why.
 */
static int
item_arg_valid(const struct ctl *c, const char *cmd)
{
	if (c->item == NULL || strcmp(c->item, c->conf.stock_key) == 0 ||
	    item_name_valid(c->item, strlen(c->item)))
		return CTL_OK;
	return ctl_errx(CTL_USAGE, "%s: --item \"%s\": an item is 1 to %d of "
	    "A-Z a-z 0-9 _ . - (not \".\" or \"..\")", cmd, c->item,
	    ITEM_NAME_MAX);
}

/*
 * Point cr at the item of --item (the default item without it).  Returns
 * CTL_OK, or CTL_USAGE having said why.
 */
static int
use_item(struct ctl *c, struct ctl_redis *cr, const char *cmd)
{
	int	 st;

	if (c->item == NULL)
		return CTL_OK;
	if ((st = item_arg_valid(c, cmd)) != CTL_OK)
		return st;
	if (!ctl_redis_set_item(cr, c->item))
		return ctl_errx(CTL_USAGE, "%s: --item \"%s\": its key is longer "
		    "than %zu bytes", cmd, c->item, (size_t)ITEM_KEY_MAX - 1);
	return CTL_OK;
}

/* The item's name for messages: --item, or the default item's. */
static const char *
item_name(const struct ctl *c)
{
	return c->item != NULL ? c->item : c->conf.stock_key;
}

/* How far ahead "+SECONDS" may reach: ten years. */
#define CTL_AHEAD_MAX	(10LL * 366 * 86400)

/*
 * Turn --start or --end into init.lua's form: "+S", or Unix ms from
 * ISO 8601.  Returns CTL_OK, or CTL_USAGE having said why.
 */
static int
parse_when(const char *opt, const char *given, char *spec, size_t specsz)
{
	long long	 v;

	spec[0] = '\0';
	if (given == NULL)
		return CTL_OK;
	if (given[0] == '+' && parse_total(given + 1, &v) &&
	    v <= CTL_AHEAD_MAX) {
		snprintf(spec, specsz, "+%lld", v);
		return CTL_OK;
	}
	if (given[0] != '+' && ctl_time_parse(given, &v)) {
		snprintf(spec, specsz, "%lld", v);
		return CTL_OK;
	}
	return ctl_errx(CTL_USAGE, "init: %s \"%s\": expected ISO 8601 with "
	    "a zone (2026-12-02T18:00:00Z, 2026-12-02T18:00:00+08:00) or "
	    "+SECONDS from now", opt, given);
}

/* Read init's operand and options into in; CTL_OK or CTL_USAGE. */
static int
init_args(struct ctl *c, const char *total, struct ctl_init *in)
{
	long long	 v;
	int		 st;

	memset(in, 0, sizeof(*in));
	in->force = c->force;
	in->per_user = -1;
	if (!parse_total(total, &in->total))
		return ctl_errx(CTL_USAGE, "init: TOTAL must be a whole number "
		    "from 0 to %lld, not \"%s\"", CTL_TOTAL_MAX, total);
	if ((st = parse_when("--start", c->start, in->start,
	    sizeof(in->start))) != CTL_OK ||
	    (st = parse_when("--end", c->end, in->end, sizeof(in->end))) !=
	    CTL_OK)
		return st;
	if (c->per_user != NULL) {
		if (!parse_total(c->per_user, &v) || v < 1 || v > UINT_MAX)
			return ctl_errx(CTL_USAGE, "init: --per-user \"%s\": "
			    "expected a whole number from 1 to %u",
			    c->per_user, UINT_MAX);
		in->per_user = v;
	}
	return CTL_OK;
}

/* Say why init.lua refused; returns the exit status. */
static int
init_refused(const struct ctl *c, const struct ctl_reset *res)
{
	char	 a[32], b[32];

	switch (res->status) {
	case CTL_INIT_END_FIRST:
		return ctl_errx(CTL_USAGE, "init: %s: --end must be after "
		    "--start", item_name(c));
	case CTL_INIT_START_PAST:
		ctl_time_format(res->start_ms, a, sizeof(a));
		ctl_time_format(res->now_ms, b, sizeof(b));
		return ctl_errx(CTL_USAGE, "init: %s: --start %s is more than "
		    "%d s before Redis's clock (%s): leave --start out to "
		    "open now", item_name(c), a, CTL_START_PAST_MS / 1000, b);
	case CTL_INIT_END_PAST:
		ctl_time_format(res->end_ms, a, sizeof(a));
		return ctl_errx(CTL_USAGE, "init: %s: --end %s is already "
		    "past by Redis's clock", item_name(c), a);
	default:
		return ctl_errx(CTL_FAIL, "init: %s has sold %s of %s tickets: "
		    "not resetting a sale that has sold tickets without "
		    "--force", item_name(c),
		    raw_or_missing(res->before.sold_raw),
		    raw_or_missing(res->before.total_raw));
	}
}

/* Say when the sale opens and closes, by Redis's clock. */
static void
init_times(const struct ctl_reset *res)
{
	char	 t[32];

	if (res->start_ms > res->now_ms) {
		ctl_time_format(res->start_ms, t, sizeof(t));
		printf("  opens at %s (%lld ms from now)\n", t,
		    res->start_ms - res->now_ms);
	}
	if (res->end_ms > 0) {
		ctl_time_format(res->end_ms, t, sizeof(t));
		printf("  closes at %s\n", t);
	}
}

/*
 * One item of an --items-from list on cr's connection: the item of line
 * lineno, or a blank or "#" line, which is skipped.  Returns CTL_OK and
 * counts a new item in *fresh, or an exit status having said why.
 */
static int
init_listed(struct ctl *c, struct ctl_redis *cr, const struct ctl_init *in,
    char *line, unsigned long lineno, long long *fresh)
{
	struct ctl_reset	 res;

	line[strcspn(line, "\r\n")] = '\0';
	if (line[0] == '\0' || line[0] == '#')
		return CTL_OK;
	if (!ctl_redis_set_item(cr, line))
		return ctl_errx(CTL_USAGE, "init: %s:%lu: \"%s\": an item is 1 "
		    "to %d of A-Z a-z 0-9 _ . - (not \".\" or \"..\")",
		    c->items_from, lineno, line, ITEM_NAME_MAX);
	if (ctl_redis_init(cr, in, &res) != SPIKE_OK)
		return ctl_errx(CTL_FAIL, "init: %s:%lu: %s: %s", c->items_from,
		    lineno, line, ctl_redis_error(cr));
	c->item = line;
	if (res.refused)
		return init_refused(c, &res);
	c->item = NULL;
	if (!res.before.exists)
		(*fresh)++;
	return CTL_OK;
}

/*
 * init --items-from FILE: every item FILE names, one a line, put on as
 * init --item would, on one connection; a new item skips the sweep of
 * per-user keys, which it cannot have.  Stops at the first failure.
 */
static int
init_list(struct ctl *c, struct ctl_init *in)
{
	struct ctl_redis	*cr;
	FILE			*f;
	char			 line[ITEM_NAME_MAX + 8];
	unsigned long		 lineno = 0;
	long long		 fresh = 0, done = 0;
	int			 st = CTL_OK;

	if (c->item != NULL)
		return ctl_errx(CTL_USAGE, "init: --item and --items-from "
		    "exclude each other");
	if ((f = fopen(c->items_from, "r")) == NULL)
		return ctl_errx(CTL_FAIL, "init: %s: %s", c->items_from,
		    strerror(errno));
	if ((cr = open_redis(c)) == NULL) {
		fclose(f);
		return CTL_FAIL;
	}
	in->new_unswept = true;
	while (st == CTL_OK && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f))
			st = ctl_errx(CTL_USAGE, "init: %s:%lu: longer than an "
			    "item name", c->items_from, lineno);
		else if ((st = init_listed(c, cr, in, line, lineno,
		    &fresh)) == CTL_OK && line[0] != '\0' && line[0] != '#')
			done++;
	}
	if (st == CTL_OK && ferror(f))
		st = ctl_errx(CTL_FAIL, "init: %s: read error",
		    c->items_from);
	fclose(f);
	ctl_redis_free(cr);
	if (st == CTL_OK)
		printf("%s: %lld items with a sale of %lld tickets each on "
		    "(%lld new)\n", c->items_from, done, in->total, fresh);
	return st;
}

static int
cmd_init(struct ctl *c, char **args)
{
	struct ctl_redis	*cr;
	struct ctl_init		 in;
	struct ctl_reset	 res;
	enum spike_err		 rc;
	int			 st;

	if ((st = init_args(c, args[0], &in)) != CTL_OK)
		return st;
	if (c->items_from != NULL)
		return init_list(c, &in);
	if ((cr = open_redis(c)) == NULL)
		return CTL_FAIL;
	if ((st = use_item(c, cr, "init")) != CTL_OK) {
		ctl_redis_free(cr);
		return st;
	}
	rc = ctl_redis_init(cr, &in, &res);
	if (rc != SPIKE_OK) {
		ctl_errx(CTL_FAIL, "init: %s", ctl_redis_error(cr));
		ctl_redis_free(cr);
		return CTL_FAIL;
	}
	ctl_redis_free(cr);
	if (res.refused)
		return init_refused(c, &res);
	printf("%s: sale of %lld tickets on (was: total %s, sold %s; "
	    "%lld pending orders ended, %lld per-user keys removed)\n",
	    item_name(c), in.total, raw_or_missing(res.before.total_raw),
	    raw_or_missing(res.before.sold_raw), res.ended, res.removed);
	init_times(&res);
	return CTL_OK;
}

/* ---- items, pause, resume --------------------------------------------- */

static int
cmd_items(struct ctl *c, char **args)
{
	struct ctl_redis	*cr;
	struct ctl_item		*items;
	size_t			 n;
	long long		 now_ms;
	int			 st = CTL_OK;

	(void)args;
	if ((cr = open_redis(c)) == NULL)
		return CTL_FAIL;
	if (ctl_redis_items(cr, &items, &n, &now_ms) != SPIKE_OK)
		st = ctl_errx(CTL_FAIL, "items: %s", ctl_redis_error(cr));
	else
		ctl_items_print(items, n, now_ms, &c->conf, c->json);
	free(items);
	ctl_redis_free(cr);
	return st;
}

/* Pause or resume the item of --item, or every item; says how many. */
static int
pause_resume(struct ctl *c, bool paused)
{
	const char		*cmd = paused ? "pause" : "resume";
	struct ctl_redis	*cr;
	long long		 changed = 0;
	int			 st;

	if ((st = item_arg_valid(c, cmd)) != CTL_OK)
		return st;
	if ((cr = open_redis(c)) == NULL)
		return CTL_FAIL;
	if (ctl_redis_pause(cr, c->item, paused, &changed) != SPIKE_OK)
		st = ctl_errx(CTL_FAIL, "%s: %s", cmd, ctl_redis_error(cr));
	else if (changed < 0)
		st = ctl_errx(CTL_FAIL, "%s: %s: item not on sale (spikectl "
		    "items lists them)", cmd, c->item);
	else {
		printf("%s: %lld item%s %s\n", c->item != NULL ? c->item :
		    "every item", changed, changed == 1 ? "" : "s",
		    paused ? "paused" : "resumed");
		st = CTL_OK;
	}
	ctl_redis_free(cr);
	return st;
}

static int
cmd_pause(struct ctl *c, char **args)
{
	(void)args;
	return pause_resume(c, true);
}

static int
cmd_resume(struct ctl *c, char **args)
{
	(void)args;
	return pause_resume(c, false);
}

/* ---- status ----------------------------------------------------------- */

/* The liveness window of the instances, as sync.c uses it. */
static long long
live_window_ms(const struct conf *conf)
{
	long long	 ms = (long long)conf->sync_ms * 3;

	return ms < 1000 ? 1000 : ms;
}

/* The heartbeat of addr, or NULL. */
static const struct ctl_beat *
find_beat(const struct ctl_status *st, const char *addr)
{
	size_t	 i;

	for (i = 0; i < st->nbeats; i++)
		if (strcmp(st->beats[i].addr, addr) == 0)
			return &st->beats[i];
	return NULL;
}

struct ctl_summary {
	long long	 remaining;
	long long	 paid;
	unsigned int	 live;		/* configured instances alive */
	unsigned int	 live_weight;
};

/* Derive what status shows beyond the raw counts. */
static void
summarize(const struct ctl *c, const struct ctl_status *st,
    struct ctl_summary *sum)
{
	const struct ctl_beat	*b;
	size_t			 i;

	memset(sum, 0, sizeof(*sum));
	if (st->sale.total_ok && st->sale.sold_ok &&
	    st->sale.total > st->sale.sold)
		sum->remaining = st->sale.total - st->sale.sold;
	if (st->sale.sold_ok)
		sum->paid = st->sale.sold - st->pending - st->anonymous;
	for (i = 0; i < c->conf.ninstances; i++) {
		b = find_beat(st, c->conf.instances[i].addr);
		if (b != NULL && b->age_ms <= live_window_ms(&c->conf)) {
			sum->live++;
			sum->live_weight += c->conf.instances[i].weight;
		}
	}
}

/* Write a number that may be missing ("null"). */
static void
json_number(bool ok, long long v)
{
	if (ok)
		printf("%lld", v);
	else
		fputs("null", stdout);
}

static void
json_instance(const struct ctl *c, const char *addr, unsigned int weight,
    const struct ctl_beat *b)
{
	fputs("{\"addr\":", stdout);
	json_print_string(addr);
	printf(",\"configured\":%s,\"weight\":", weight > 0 ? "true" :
	    "false");
	json_number(weight > 0, weight);
	printf(",\"live\":%s,\"heartbeat_age_ms\":", b != NULL &&
	    b->age_ms <= live_window_ms(&c->conf) ? "true" : "false");
	json_number(b != NULL, b != NULL ? b->age_ms : 0);
	putchar('}');
}

static void
json_instances(const struct ctl *c, const struct ctl_status *st)
{
	const struct conf_instance *ci;
	size_t		 i, n = 0;

	fputs("\"instances\":[", stdout);
	for (i = 0; i < c->conf.ninstances; i++, n++) {
		ci = &c->conf.instances[i];
		fputs(n > 0 ? "," : "", stdout);
		json_instance(c, ci->addr, ci->weight, find_beat(st, ci->addr));
	}
	for (i = 0; i < st->nbeats; i++)
		if (conf_find_instance(&c->conf, st->beats[i].addr) == NULL) {
			fputs(n++ > 0 ? "," : "", stdout);
			json_instance(c, st->beats[i].addr, 0, &st->beats[i]);
		}
	putchar(']');
}

static void
status_json(const struct ctl *c, const struct ctl_status *st,
    const struct ctl_summary *sum)
{
	const struct ctl_sale *s = &st->sale;
	bool	 both = s->total_ok && s->sold_ok;

	fputs("{\"conf\":", stdout);
	json_print_string(c->conf_path);
	fputs(",\"redis\":", stdout);
	json_print_string(st->where.addr);
	if (st->where.sentinel[0] != '\0') {
		fputs(",\"sentinel_master\":", stdout);
		json_print_string(c->conf.sentinel_master);
		fputs(",\"sentinel\":", stdout);
		json_print_string(st->where.sentinel);
	}
	fputs(",\"stock_key\":", stdout);
	json_print_string(c->conf.stock_key);
	printf(",\"sale\":{\"exists\":%s,\"total\":", s->exists ? "true" :
	    "false");
	json_number(s->total_ok, s->total);
	fputs(",\"sold\":", stdout);
	json_number(s->sold_ok, s->sold);
	fputs(",\"remaining\":", stdout);
	json_number(both, sum->remaining);
	printf("},\"orders\":{\"pending\":%lld,\"paid\":", st->pending);
	json_number(s->sold_ok, sum->paid);
	printf(",\"anonymous\":%lld},\"items\":%lld,", st->anonymous,
	    st->items);
	json_instances(c, st);
	printf(",\"live_instances\":%u,\"live_weight\":%u,"
	    "\"total_weight\":%u,\"live_window_ms\":%lld}\n", sum->live,
	    sum->live_weight, conf_total_weight(&c->conf),
	    live_window_ms(&c->conf));
}

/* Column widths of the instance lines of status. */
struct ctl_columns {
	int	 addr;
	int	 weight;
};

static void
text_instance(const struct ctl *c, const struct ctl_columns *col,
    const char *addr, unsigned int weight, const struct ctl_beat *b)
{
	char	 w[32], beat[64];
	bool	 live = b != NULL && b->age_ms <= live_window_ms(&c->conf);

	if (weight > 0)
		snprintf(w, sizeof(w), "weight %u", weight);
	else
		snprintf(w, sizeof(w), "not in spike.conf");
	if (b != NULL)
		snprintf(beat, sizeof(beat), "heartbeat %lld ms ago",
		    b->age_ms);
	else
		snprintf(beat, sizeof(beat), "no heartbeat");
	printf("  %-*s  %-*s  %-4s  %s\n", col->addr, addr, col->weight, w,
	    live ? "live" : "down", beat);
}

/* Size the columns to the widest address and weight shown. */
static void
text_columns(const struct ctl *c, const struct ctl_status *st,
    struct ctl_columns *col)
{
	char	 w[32];
	size_t	 i;
	int	 n;

	col->addr = col->weight = 0;
	for (i = 0; i < c->conf.ninstances; i++) {
		if ((n = (int)strlen(c->conf.instances[i].addr)) > col->addr)
			col->addr = n;
		n = snprintf(w, sizeof(w), "weight %u",
		    c->conf.instances[i].weight);
		if (n > col->weight)
			col->weight = n;
	}
	for (i = 0; i < st->nbeats; i++)
		if (conf_find_instance(&c->conf, st->beats[i].addr) == NULL) {
			if ((n = (int)strlen(st->beats[i].addr)) > col->addr)
				col->addr = n;
			col->weight = (int)strlen("not in spike.conf");
		}
}

/* End a line naming a Redis: with Sentinel, say which one named it. */
static void
print_sentinel(const struct ctl *c, const struct redis_where *at)
{
	if (at->sentinel[0] != '\0')
		printf(" (primary %s as sentinel %s names it)",
		    c->conf.sentinel_master, at->sentinel);
	putchar('\n');
}

static void
text_sale(const struct ctl *c, const struct ctl_status *st,
    const struct ctl_summary *sum)
{
	const struct ctl_sale *s = &st->sale;

	printf("sale %s on redis %s", c->conf.stock_key, st->where.addr);
	print_sentinel(c, &st->where);
	if (!s->exists) {
		printf("  none: put one on with spikectl init TOTAL\n");
		return;
	}
	printf("  total      %s\n  sold       %s\n",
	    raw_or_missing(s->total_raw), raw_or_missing(s->sold_raw));
	if (s->total_ok && s->sold_ok)
		printf("  remaining  %lld\n", sum->remaining);
	printf("orders\n  pending    %lld\n", st->pending);
	if (s->sold_ok)
		printf("  paid       %lld\n", sum->paid);
	printf("  anonymous  %lld\n", st->anonymous);
}

static void
status_text(const struct ctl *c, const struct ctl_status *st,
    const struct ctl_summary *sum)
{
	const struct conf_instance *ci;
	struct ctl_columns col;
	size_t		 i;

	text_sale(c, st, sum);
	printf("items: %lld registered (spikectl items lists them)\n",
	    st->items);
	text_columns(c, st, &col);
	printf("instances: %u of %zu live, weight %u of %u (heartbeat "
	    "within %lld ms)\n", sum->live, c->conf.ninstances,
	    sum->live_weight, conf_total_weight(&c->conf),
	    live_window_ms(&c->conf));
	for (i = 0; i < c->conf.ninstances; i++) {
		ci = &c->conf.instances[i];
		text_instance(c, &col, ci->addr, ci->weight,
		    find_beat(st, ci->addr));
	}
	for (i = 0; i < st->nbeats; i++)
		if (conf_find_instance(&c->conf, st->beats[i].addr) == NULL)
			text_instance(c, &col, st->beats[i].addr, 0,
			    &st->beats[i]);
}

/*
 * Read the status into st and sum, looking again every CTL_WAIT_STEP_MS
 * for up to wait_ms while no configured instance is live.  Returns
 * CTL_OK or CTL_FAIL, said why.
 */
static int
status_read(struct ctl *c, struct ctl_redis *cr, long long wait_ms,
    struct ctl_status *st, struct ctl_summary *sum)
{
	const struct timespec step = { 0, CTL_WAIT_STEP_MS * 1000000L };
	long long	 waited = 0;

	for (;;) {
		if (ctl_redis_status(cr, st) != SPIKE_OK)
			return ctl_errx(CTL_FAIL, "status: %s",
			    ctl_redis_error(cr));
		summarize(c, st, sum);
		if (sum->live > 0 || waited >= wait_ms)
			return CTL_OK;
		nanosleep(&step, NULL);
		waited += CTL_WAIT_STEP_MS;
	}
}

/*
 * Show the sale, orders and instances.  Returns CTL_OK, CTL_NOT_LIVE when
 * no configured instance is live (after --wait S seconds of looking), or
 * CTL_FAIL when Redis could not tell.
 */
static int
cmd_status(struct ctl *c, char **args)
{
	struct ctl_redis	*cr;
	struct ctl_status	*st;
	struct ctl_summary	 sum;
	long long		 wait_s = 0;
	int			 status;

	(void)args;
	if (c->wait != NULL && (!parse_total(c->wait, &wait_s) ||
	    wait_s > CTL_WAIT_MAX))
		return ctl_errx(CTL_USAGE, "status: --wait \"%s\": expected "
		    "seconds from 0 to %d", c->wait, CTL_WAIT_MAX);
	if ((st = malloc(sizeof(*st))) == NULL)
		return ctl_errx(CTL_FAIL, "%s", spike_strerror(SPIKE_ENOMEM));
	if ((cr = open_redis(c)) == NULL) {
		free(st);
		return CTL_FAIL;
	}
	status = status_read(c, cr, wait_s * 1000, st, &sum);
	if (status == CTL_OK) {
		if (c->json)
			status_json(c, st, &sum);
		else
			status_text(c, st, &sum);
		if (sum.live == 0)
			status = CTL_NOT_LIVE;
	}
	ctl_redis_free(cr);
	free(st);
	return status;
}

/* ---- check ------------------------------------------------------------ */

/* Is the sale sane?  Returns CTL_OK, or CTL_FAIL having said why. */
static int
check_sale(const struct ctl *c, const struct ctl_sale *s)
{
	const char	*k = c->conf.stock_key;

	if (!s->exists)
		return ctl_errx(CTL_FAIL, "sale %s: no stock hash: put a sale "
		    "on with spikectl init TOTAL", k);
	if (!s->total_ok)
		return ctl_errx(CTL_FAIL, "sale %s: field %s is %s%s%s, not a "
		    "whole number", k, c->conf.total_field,
		    s->total_raw[0] ? "\"" : "", raw_or_missing(s->total_raw),
		    s->total_raw[0] ? "\"" : "");
	if (!s->sold_ok)
		return ctl_errx(CTL_FAIL, "sale %s: field %s is %s%s%s, not a "
		    "whole number", k, c->conf.sold_field,
		    s->sold_raw[0] ? "\"" : "", raw_or_missing(s->sold_raw),
		    s->sold_raw[0] ? "\"" : "");
	if (s->sold < 0 || s->sold > s->total)
		return ctl_errx(CTL_FAIL, "sale %s: sold %lld is not between 0 "
		    "and total %lld", k, s->sold, s->total);
	printf("sale %s: total %lld, sold %lld, remaining %lld: ok\n", k,
	    s->total, s->sold, s->total - s->sold);
	return CTL_OK;
}

/*
 * Are the key files good, and what is left open without them?  Returns
 * CTL_OK, with a warning on stderr for each hole, or CTL_FAIL having
 * named the key file and its line.
 */
static int
check_keys(const struct ctl *c)
{
	struct keyset	 sets[KEYS_KINDS];
	char		 err[CONF_ERR_MAX];
	enum spike_err	 rc;

	rc = keys_load_all(&c->conf, sets, err, sizeof(err));
	OPENSSL_cleanse(sets, sizeof(sets));
	if (rc != SPIKE_OK)
		return ctl_errx(CTL_FAIL, "%s", rc == SPIKE_ECONFIG ? err :
		    spike_strerror(rc));
	printf("keys: %zu buyer_key, %zu pay_key: ok\n", c->conf.nbuyer_keys,
	    c->conf.npay_keys);
	if (c->conf.nbuyer_keys == 0)
		ctl_errx(CTL_OK, "warning: buyers are not verified: any "
		    "request may name any user (set buyer_key)");
	if (c->conf.nbuyer_keys == 0 && c->conf.allow_anonymous)
		ctl_errx(CTL_OK, "warning: the sale is anonymous: purchases "
		    "without a user make no order and never expire "
		    "(allow_anonymous = no, or set buyer_key)");
	if (c->conf.npay_keys == 0 && c->conf.nbuyer_keys > 0)
		ctl_errx(CTL_OK, "warning: no pay_key: /pay refuses every "
		    "notice, so no order can be paid (set pay_key)");
	else if (c->conf.npay_keys == 0)
		ctl_errx(CTL_OK, "warning: payments are not verified: /pay "
		    "takes anyone's word (set pay_key)");
	return CTL_OK;
}

/*
 * Can the Redis password be read?  Returns CTL_OK, saying so when there
 * is one, or CTL_FAIL having named the file and spike.conf's line.
 */
static int
check_auth(const struct ctl *c)
{
	char	 err[CONF_ERR_MAX];

	if (c->conf.redis_password_file.path[0] == '\0')
		return CTL_OK;
	if (auth_check(&c->conf, err, sizeof(err)) != SPIKE_OK)
		return ctl_errx(CTL_FAIL, "%s", err);
	printf("redis_password_file %s: ok\n",
	    c->conf.redis_password_file.path);
	return CTL_OK;
}

/* Warn when Redis lacks what durability needs; never fails the check. */
static void
check_durability(struct ctl_redis *cr)
{
	char	 why[256];

	if (ctl_redis_durability(cr, why, sizeof(why)) != SPIKE_OK)
		ctl_errx(CTL_OK, "warning: durability not checked: %s",
		    ctl_redis_error(cr));
	else if (why[0] != '\0')
		ctl_errx(CTL_OK, "warning: %s", why);
}

static int
cmd_check(struct ctl *c, char **args)
{
	struct ctl_redis	*cr;
	struct ctl_sale		 sale;
	int			 status;

	(void)args;
	printf("%s: syntax is ok\n", c->conf_path);
	if (check_keys(c) != CTL_OK || check_auth(c) != CTL_OK)
		return CTL_FAIL;
	if ((cr = open_redis(c)) == NULL)
		return CTL_FAIL;
	if (ctl_redis_ping(cr) != SPIKE_OK ||
	    ctl_redis_sale(cr, &sale) != SPIKE_OK)
		status = ctl_errx(CTL_FAIL, "%s", ctl_redis_error(cr));
	else {
		printf("redis %s: reachable", ctl_redis_where(cr)->addr);
		if (c->conf.redis_password_file.path[0] != '\0')
			printf(", AUTH as %s accepted", c->conf.redis_user[0] ?
			    c->conf.redis_user : "default");
		print_sentinel(c, ctl_redis_where(cr));
		status = check_sale(c, &sale);
		check_durability(cr);
	}
	ctl_redis_free(cr);
	return status;
}

/* ---- audit ------------------------------------------------------------ */

/* Is s a Redis address redis_dial() takes: HOST:PORT or unix:PATH? */
static bool
redis_addr_valid(const char *s)
{
	const char	*colon = strrchr(s, ':');
	long long	 port;

	if (strlen(s) >= CONF_ADDR_MAX)
		return false;
	if (strncmp(s, "unix:", 5) == 0)
		return s[5] != '\0';
	return colon != NULL && colon != s && parse_total(colon + 1, &port) &&
	    port >= 1 && port <= 65535;
}

/*
 * Check the sale's books (spikectl(1), audit): exits CTL_OK when they are
 * right, CTL_FAIL listing each violation, CTL_NO_VERDICT when they cannot
 * be read.
 */
static int
cmd_audit(struct ctl *c, char **args)
{
	struct ctl_redis	*cr;
	struct ctl_audit	*a;
	long long		 grace_ms = ctl_audit_grace_ms(&c->conf), s;
	int			 status;

	(void)args;
	if (c->grace != NULL) {
		if (!parse_total(c->grace, &s) || s > CTL_GRACE_MAX)
			return ctl_errx(CTL_NO_VERDICT, "audit: --grace \"%s\": "
			    "expected whole seconds from 0 to %d", c->grace,
			    CTL_GRACE_MAX);
		grace_ms = s * 1000;
	}
	if (c->audit_redis != NULL) {
		if (!redis_addr_valid(c->audit_redis))
			return ctl_errx(CTL_NO_VERDICT, "audit: --redis \"%s\": "
			    "expected HOST:PORT or unix:PATH", c->audit_redis);
		snprintf(c->conf.redis, sizeof(c->conf.redis), "%s",
		    c->audit_redis);
		c->conf.nsentinels = 0;
	}
	if ((a = malloc(sizeof(*a))) == NULL)
		return ctl_errx(CTL_NO_VERDICT, "%s",
		    spike_strerror(SPIKE_ENOMEM));
	if ((cr = open_redis(c)) == NULL) {
		free(a);
		return CTL_NO_VERDICT;
	}
	if (use_item(c, cr, "audit") != CTL_OK)
		status = CTL_NO_VERDICT;
	else if (ctl_redis_audit(cr, grace_ms, a) != SPIKE_OK)
		status = ctl_errx(CTL_NO_VERDICT, "audit: %s",
		    ctl_redis_error(cr));
	else if (!a->exists)
		status = ctl_errx(CTL_NO_VERDICT, "audit: sale %s: no stock "
		    "hash: nothing to audit", item_name(c));
	else {
		ctl_audit_print(a, &c->conf, c->conf_path, c->json);
		status = a->violations == 0 ? CTL_OK : CTL_FAIL;
	}
	ctl_redis_free(cr);
	free(a);
	return status;
}

/* ---- nginx-conf, instances, spawn ------------------------------------- */

/* A listen address nginx takes as one word: no blanks, ';', '{' or '}'. */
static bool
listen_valid(const char *s)
{
	return *s != '\0' && strpbrk(s, " \t\r\n;{}#'\"\\") == NULL;
}

/* Parse a whole number from min to CTL_RATE_MAX. */
static bool
parse_rate(const char *s, unsigned int min, unsigned int *out)
{
	long long	 v;

	if (!parse_total(s, &v) || v < min || v > CTL_RATE_MAX)
		return false;
	*out = (unsigned int)v;
	return true;
}

/*
 * Is s an address or CIDR that nginx's geo takes as it means it: IPv4 or
 * IPv6, with an optional /PREFIX and no bits set past the prefix?
 */
static bool
pay_from_valid(const char *s)
{
	unsigned char	 a[16];
	char		 host[INET6_ADDRSTRLEN];
	const char	*slash = strchr(s, '/');
	size_t		 n = slash ? (size_t)(slash - s) : strlen(s), i, bytes;
	unsigned int	 prefix, bits;
	int		 af = strchr(s, ':') ? AF_INET6 : AF_INET;

	if (n >= sizeof(host))
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(af, host, a) != 1)
		return false;
	bytes = af == AF_INET ? 4 : 16;
	if (slash == NULL)
		return true;
	if (!parse_rate(slash + 1, 0, &prefix) || prefix > bytes * 8)
		return false;
	for (i = 0; i < bytes; i++) {
		bits = prefix > i * 8 ? prefix - (unsigned int)i * 8 : 0;
		if (bits < 8 && (a[i] & (0xffu >> bits)) != 0)
			return false;
	}
	return true;
}

/*
 * Check nginx-conf's --server-name options into o; CTL_OK or CTL_USAGE,
 * said why.  A --listen without one is only warned about: on a port that
 * another server block shares (Debian's default site on port 80), nginx
 * gives this one only the requests for its names.
 */
static int
server_name_options(const struct ctl *c, struct ctl_nginx_opts *o)
{
	size_t	 i;

	if (c->nserver_names > CTL_NAMES_MAX)
		return ctl_errx(CTL_USAGE, "nginx-conf: more than %d "
		    "--server-name", CTL_NAMES_MAX);
	for (i = 0; i < c->nserver_names; i++)
		if (!listen_valid(c->server_names[i]))
			return ctl_errx(CTL_USAGE, "nginx-conf: --server-name "
			    "\"%s\": expected a name nginx takes as one word",
			    c->server_names[i]);
	if (c->listen != NULL && c->nserver_names == 0)
		fprintf(stderr, "spikectl: nginx-conf: warning: --listen "
		    "without --server-name: on a port another server block "
		    "shares, requests reach this one only when it is nginx's "
		    "default there\n");
	o->server_names = c->server_names;
	o->nserver_names = c->nserver_names;
	return CTL_OK;
}

/* Check nginx-conf's options into o; CTL_OK or CTL_USAGE, said why. */
static int
nginx_options(const struct ctl *c, struct ctl_nginx_opts *o)
{
	size_t	 i;

	memset(o, 0, sizeof(*o));
	o->listen = c->listen;
	if (c->listen != NULL && !listen_valid(c->listen))
		return ctl_errx(CTL_USAGE, "nginx-conf: --listen \"%s\": "
		    "expected ADDR:PORT", c->listen);
	if (c->burst != NULL && c->rate == NULL)
		return ctl_errx(CTL_USAGE, "nginx-conf: --burst needs --rate");
	if (c->rate != NULL && !parse_rate(c->rate, 1, &o->rate))
		return ctl_errx(CTL_USAGE, "nginx-conf: --rate \"%s\": expected "
		    "requests a second per client address, a whole number "
		    "from 1 to %d", c->rate, CTL_RATE_MAX);
	o->burst = o->rate;
	if (c->burst != NULL && !parse_rate(c->burst, 0, &o->burst))
		return ctl_errx(CTL_USAGE, "nginx-conf: --burst \"%s\": "
		    "expected a whole number from 0 to %d", c->burst,
		    CTL_RATE_MAX);
	if (c->npay_from > CTL_PAY_FROM_MAX)
		return ctl_errx(CTL_USAGE, "nginx-conf: more than %d "
		    "--pay-from", CTL_PAY_FROM_MAX);
	for (i = 0; i < c->npay_from; i++)
		if (!pay_from_valid(c->pay_from[i]))
			return ctl_errx(CTL_USAGE, "nginx-conf: --pay-from "
			    "\"%s\": expected an IPv4 or IPv6 address or "
			    "ADDR/PREFIX with no bits set past the prefix",
			    c->pay_from[i]);
	o->pay_from = c->pay_from;
	o->npay_from = c->npay_from;
	return server_name_options(c, o);
}

static int
cmd_nginx_conf(struct ctl *c, char **args)
{
	char		 header[CONF_PATH_MAX + 512], err[512], *out;
	struct ctl_nginx_opts opts;
	enum spike_err	 rc;

	(void)args;
	if (nginx_options(c, &opts) != CTL_OK)
		return CTL_USAGE;
	snprintf(header, sizeof(header),
	    "# Generated by spikectl nginx-conf from %s: do not edit;\n"
	    "# change its instance lines and generate it again.  For nginx's\n"
	    "# http context: on Debian, /etc/nginx/conf.d/spike-fcgi.conf.\n",
	    c->conf_path);
	rc = ctl_nginx_render_opts(ctl_nginx_snippet, &c->conf, header, &opts,
	    &out, err, sizeof(err));
	if (rc == SPIKE_ECONFIG)
		return ctl_errx(CTL_FAIL, "nginx-conf: %s", err);
	if (rc != SPIKE_OK)
		return ctl_errx(CTL_FAIL, "nginx-conf: %s", spike_strerror(rc));
	fputs(out, stdout);
	free(out);
	return CTL_OK;
}

/*
 * Can this host listen on instance address addr?  A unix socket, yes; an
 * IPv4 address, when bind(2) to it (port 0) succeeds, i.e. it is one of
 * this host's own.  Returns 1 or 0, or -1 with errno set when it cannot
 * tell.
 */
static int
addr_is_local(const char *addr)
{
	char			 host[CONF_ADDR_MAX];
	const char		*colon = strrchr(addr, ':');
	struct sockaddr_in	 sin;
	int			 fd, rc;

	if (strncmp(addr, "unix:", 5) == 0)
		return 1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - addr) :
	    (int)strlen(addr), addr);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return 0;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 ? 1 :
	    errno == EADDRNOTAVAIL ? 0 : -1;
	close(fd);
	return rc;
}

/*
 * Print the instance addresses, one a line; with --local only those of
 * this host, so that every host of a sale spread over several can read
 * the same spike.conf and start its own instances (the systemd
 * generator does).
 */
static int
cmd_instances(struct ctl *c, char **args)
{
	const char	*addr;
	size_t		 i;
	int		 local = 1;

	(void)args;
	for (i = 0; i < c->conf.ninstances; i++) {
		addr = c->conf.instances[i].addr;
		if (c->local && (local = addr_is_local(addr)) == -1)
			return ctl_errx(CTL_FAIL, "instances: %s: %s", addr,
			    strerror(errno));
		if (local)
			printf("%s\n", addr);
	}
	return CTL_OK;
}

/*
 * Check --user NAME for spawn and find its primary group.  As root, the
 * instance must run as NAME (spike-fcgi refuses root), which must not be
 * root.  Otherwise only root can change users, so NAME may only be the
 * user spikectl runs as, and nothing changes.  Returns CTL_OK with *change
 * set when spawn-fcgi must switch to NAME and GROUP.
 */
static int
spawn_user(const char *user, char *group, size_t groupsz, bool *change)
{
	struct passwd	*pw;
	struct group	*gr;

	*change = geteuid() == 0;
	if (user == NULL)
		return *change ? ctl_errx(CTL_FAIL, "spawn: refusing to start "
		    "an instance as root: add --user NAME (an unprivileged "
		    "user) or run spikectl as that user") : CTL_OK;
	if ((pw = getpwnam(user)) == NULL)
		return ctl_errx(CTL_FAIL, "spawn: --user %s: no such user",
		    user);
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
		return ctl_errx(CTL_FAIL, "spawn: --user %s: uid or group 0: "
		    "choose an unprivileged user", user);
	if (!*change && pw->pw_uid != geteuid())
		return ctl_errx(CTL_FAIL, "spawn: --user %s: only root can "
		    "start an instance as another user", user);
	if ((gr = getgrgid(pw->pw_gid)) != NULL)
		snprintf(group, groupsz, "%s", gr->gr_name);
	else
		snprintf(group, groupsz, "%lu", (unsigned long)pw->pw_gid);
	return CTL_OK;
}

/*
 * Become the instance ADDR: exec spawn-fcgi in the foreground (-n), which
 * binds ADDR and execs spike-fcgi (the installed one, or --program) on it,
 * so systemd's main process is the responder itself.  As root, spawn-fcgi
 * binds, then becomes --user (-u, -g its primary group; a unix socket is
 * given to that user too).  A unix socket is made mode 0660: only the
 * instance's user and group may connect, so nginx's worker user must be
 * in that group (spike-fcgi(8), Unix sockets).
 */
static int
cmd_spawn(struct ctl *c, char **args)
{
	char		 host[CONF_ADDR_MAX], group[64], *colon, *argv[16];
	const char	*addr = args[0];
	const char	*program = c->program ? c->program : CTL_SPIKE_FCGI;
	bool		 change;
	int		 n = 0;

	if (conf_find_instance(&c->conf, addr) == NULL)
		return ctl_errx(CTL_FAIL, "spawn: %s: no \"instance = %s\" "
		    "line in %s", addr, addr, c->conf_path);
	if (access(program, X_OK) == -1)
		return ctl_errx(CTL_FAIL, "spawn: %s: %s", program,
		    strerror(errno));
	if (spawn_user(c->user, group, sizeof(group), &change) != CTL_OK)
		return CTL_FAIL;
	argv[n++] = SPAWN_FCGI_PATH;
	argv[n++] = "-n";
	snprintf(host, sizeof(host), "%s", addr);
	if (strncmp(host, "unix:", 5) == 0) {
		argv[n++] = "-s";
		argv[n++] = host + 5;
		argv[n++] = "-M";
		argv[n++] = "0660";
	} else {
		colon = strrchr(host, ':');
		*colon = '\0';
		argv[n++] = "-a";
		argv[n++] = host;
		argv[n++] = "-p";
		argv[n++] = colon + 1;
	}
	if (change) {
		argv[n++] = "-u";
		argv[n++] = (char *)c->user;
		argv[n++] = "-g";
		argv[n++] = group;
	}
	argv[n++] = "--";
	argv[n++] = (char *)program;
	argv[n++] = "-c";
	argv[n++] = (char *)c->conf_path;
	argv[n] = NULL;
	fflush(stdout);
	execvp(argv[0], argv);
	return ctl_errx(CTL_FAIL, "spawn: cannot execute %s: %s", argv[0],
	    strerror(errno));
}

/* ---- sign ------------------------------------------------------------- */

/*
 * The signed subject (spike-fcgi(8), Signatures): "USER" or, with
 * --order, "ORDER.USER"; for an item other than the default one,
 * "ITEM:" before either.  False when it does not fit.
 */
static bool
sign_subject(const struct ctl *c, const char *user, char *subject,
    size_t subjectsz)
{
	const char	*item = c->item;
	int		 n;

	if (item != NULL && strcmp(item, c->conf.stock_key) == 0)
		item = NULL;
	n = snprintf(subject, subjectsz, "%s%s%s%s%s", item ? item : "",
	    item ? ":" : "", c->order ? c->order : "", c->order ? "." : "",
	    user);
	return n > 0 && (size_t)n < subjectsz;
}

/*
 * Print a signature good for --ttl seconds (CTL_SIGN_TTL by default):
 * a buyer's, "EXP.MAC" over "USER.EXP" with the first buyer_key, or with
 * --order a payment notice's, over "ORDER.USER.EXP" with the first
 * pay_key.  See spike-fcgi(8), Signatures.
 */
static int
cmd_sign(struct ctl *c, char **args)
{
	const char	*user = args[0];
	enum keys_kind	 kind = c->order != NULL ? KEYS_PAY : KEYS_BUYER;
	const char	*what = kind == KEYS_PAY ? "pay_key" : "buyer_key";
	struct keyset	 set;
	char		 subject[SIG_SUBJECT_MAX], out[SIG_TEXT_MAX + 1];
	char		 err[CONF_ERR_MAX], *end;
	long		 ttl = CTL_SIGN_TTL;
	bool		 ok;
	int		 st;

	if (!query_user_valid(user, strlen(user)))
		return ctl_errx(CTL_USAGE, "sign: \"%s\": a user is 1 to %d "
		    "of A-Z a-z 0-9 _ . -", user, QUERY_USER_MAX);
	if (c->order != NULL && !query_order_valid(c->order,
	    strlen(c->order)))
		return ctl_errx(CTL_USAGE, "sign: --order \"%s\": not an "
		    "order id", c->order);
	if ((st = item_arg_valid(c, "sign")) != CTL_OK)
		return st;
	if (c->ttl != NULL && (*c->ttl < '0' || *c->ttl > '9' ||
	    (ttl = strtol(c->ttl, &end, 10)) < 1 ||
	    ttl > (long)c->conf.sig_max_ttl_s || *end != '\0'))
		return ctl_errx(CTL_USAGE, "sign: --ttl \"%s\": seconds from 1 "
		    "to %u (sig_max_ttl_s)", c->ttl, c->conf.sig_max_ttl_s);
	if (keys_load(&c->conf, kind, &set, err, sizeof(err)) != SPIKE_OK)
		return ctl_errx(CTL_FAIL, "sign: %s", err);
	if (set.n == 0)
		return ctl_errx(CTL_FAIL, "sign: no %s in %s", what,
		    c->conf_path);
	if (!sign_subject(c, user, subject, sizeof(subject))) {
		OPENSSL_cleanse(&set, sizeof(set));
		return ctl_errx(CTL_USAGE, "sign: the subject is longer than "
		    "%d characters", SIG_SUBJECT_MAX - 1);
	}
	ok = sig_mint(&set.keys[0], subject, (long long)time(NULL) + ttl, out,
	    sizeof(out));
	OPENSSL_cleanse(&set, sizeof(set));
	if (!ok)
		return ctl_errx(CTL_FAIL, "sign: libcrypto failed");
	printf("%s\n", out);
	return CTL_OK;
}

/* ---- main ------------------------------------------------------------- */

static const struct ctl_command commands[] = {
	{ "init",	1, 1, cmd_init },
	{ "items",	0, 0, cmd_items },
	{ "pause",	0, 0, cmd_pause },
	{ "resume",	0, 0, cmd_resume },
	{ "status",	0, 0, cmd_status },
	{ "check",	0, 0, cmd_check },
	{ "audit",	0, 0, cmd_audit },
	{ "nginx-conf",	0, 0, cmd_nginx_conf },
	{ "instances",	0, 0, cmd_instances },
	{ "spawn",	1, 1, cmd_spawn },
	{ "sign",	1, 1, cmd_sign },
};
#define CTL_NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

/*
 * Is args[*i] option name of command want, which takes a value ("--name
 * VALUE" or "--name=VALUE")?  Then sets *value and steps *i past it.
 */
static bool
take_value(const char *cmd, const char *want, const char *name, int argc,
    char **args, int *i, const char **value)
{
	const char	*a = args[*i];
	size_t		 n = strlen(name);

	if (strcmp(cmd, want) != 0 || strncmp(a, name, n) != 0)
		return false;
	if (a[n] == '=')
		*value = a + n + 1;
	else if (a[n] == '\0' && *i + 1 < argc)
		*value = args[++*i];
	else
		return false;
	return true;
}

/* Take one of nginx-conf's options at args[*i]; returns whether it was. */
static bool
take_nginx_option(struct ctl *c, const char *cmd, int argc, char **args,
    int *i)
{
	const char	*v;

	if (take_value(cmd, "nginx-conf", "--listen", argc, args, i,
	    &c->listen) || take_value(cmd, "nginx-conf", "--rate", argc, args,
	    i, &c->rate) || take_value(cmd, "nginx-conf", "--burst", argc,
	    args, i, &c->burst))
		return true;
	if (take_value(cmd, "nginx-conf", "--server-name", argc, args, i,
	    &v)) {
		if (c->nserver_names < CTL_NAMES_MAX)
			c->server_names[c->nserver_names] = v;
		c->nserver_names++;
		return true;
	}
	if (!take_value(cmd, "nginx-conf", "--pay-from", argc, args, i, &v))
		return false;
	if (c->npay_from < CTL_PAY_FROM_MAX)
		c->pay_from[c->npay_from] = v;
	c->npay_from++;
	return true;
}

/* Take --item (and init's --start, --end, --per-user) at args[*i]. */
static bool
take_item_option(struct ctl *c, const char *cmd, int argc, char **args,
    int *i)
{
	static const char *const with_item[] = { "init", "pause", "resume",
	    "sign", "audit" };
	size_t		 k;

	for (k = 0; k < sizeof(with_item) / sizeof(with_item[0]); k++)
		if (take_value(cmd, with_item[k], "--item", argc, args, i,
		    &c->item))
			return true;
	return take_value(cmd, "init", "--start", argc, args, i, &c->start) ||
	    take_value(cmd, "init", "--items-from", argc, args, i,
	    &c->items_from) ||
	    take_value(cmd, "init", "--end", argc, args, i, &c->end) ||
	    take_value(cmd, "init", "--per-user", argc, args, i,
	    &c->per_user);
}

/*
 * Take the command's --options out of args (anywhere after the command),
 * leaving its operands in order.  Returns the number of operands, or -1
 * for an option the command does not know.
 */
static int
take_options(struct ctl *c, const char *cmd, int argc, char **args)
{
	const char	*a;
	bool		 operands_only = false;
	int		 i, n = 0;

	for (i = 0; i < argc; i++) {
		a = args[i];
		if (!operands_only && strcmp(a, "--") == 0)
			operands_only = true;
		else if (operands_only || a[0] != '-' || a[1] == '\0')
			args[n++] = args[i];
		else if ((strcmp(cmd, "status") == 0 ||
		    strcmp(cmd, "audit") == 0 || strcmp(cmd, "items") == 0) &&
		    strcmp(a, "--json") == 0)
			c->json = true;
		else if (take_item_option(c, cmd, argc, args, &i))
			continue;
		else if (take_value(cmd, "audit", "--grace", argc, args, &i,
		    &c->grace) || take_value(cmd, "audit", "--redis", argc,
		    args, &i, &c->audit_redis) || take_value(cmd, "status",
		    "--wait", argc, args, &i, &c->wait))
			continue;
		else if (strcmp(cmd, "init") == 0 && strcmp(a, "--force") == 0)
			c->force = true;
		else if (strcmp(cmd, "instances") == 0 &&
		    strcmp(a, "--local") == 0)
			c->local = true;
		else if (take_value(cmd, "spawn", "--user", argc, args, &i,
		    &c->user))
			continue;
		else if (!take_nginx_option(c, cmd, argc, args, &i) &&
		    !take_value(cmd, "spawn", "--program", argc, args, &i,
		    &c->program) && !take_value(cmd, "sign", "--ttl", argc,
		    args, &i, &c->ttl) && !take_value(cmd, "sign", "--order",
		    argc, args, &i, &c->order))
			return -1;
	}
	return n;
}

/* Find and run a command; returns the exit status. */
static int
run_command(struct ctl *c, int argc, char **argv)
{
	const struct ctl_command *cmd = NULL;
	size_t			 i;
	int			 n;

	for (i = 0; i < CTL_NCOMMANDS; i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL) {
		ctl_errx(CTL_USAGE, "unknown command \"%s\"", argv[0]);
		usage(stderr);
		return CTL_USAGE;
	}
	n = take_options(c, cmd->name, argc - 1, argv + 1);
	if (n < cmd->min_args || n > cmd->max_args) {
		ctl_errx(CTL_USAGE, "%s: %s", cmd->name, n < 0 ?
		    "unknown option" : "wrong number of arguments");
		usage(stderr);
		return CTL_USAGE;
	}
	/* A config audit cannot read is no verdict, not a violation. */
	if (load_conf(c) != CTL_OK)
		return cmd->run == cmd_audit ? CTL_NO_VERDICT : CTL_FAIL;
	return cmd->run(c, argv + 1);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "version",	no_argument,	NULL,	'V' },
		{ NULL,		0,		NULL,	0 }
	};
	static struct ctl	 c;
	int			 ch;

	c.conf_path = SYSCONFDIR "/spike/spike.conf";
	while ((ch = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			c.conf_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		case 'V':
			printf("spikectl %s\n", SPIKE_VERSION);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return CTL_USAGE;
	}
	return run_command(&c, argc - optind, argv + optind);
}
