/*
 * The configuration file: "key = value" lines, "#" comments, blank lines.
 * Every error names the file and the line; see spike.conf(5).
 */
#include "config.h"

#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spike.h"

#define CONF_FILE_MAX	(1024 * 1024)

struct conf_line {
	const char	*name;		/* file name, for messages */
	unsigned int	 number;
	char		*err;
	size_t		 errsz;
};

typedef enum spike_err (*conf_setter)(struct conf *, const struct conf_line *,
    const char *value);

struct conf_key {
	const char	*key;
	conf_setter	 set;
};

static enum spike_err	conf_fail(const struct conf_line *, const char *, ...)
			    __attribute__((format(printf, 2, 3)));

/* Record "FILE:LINE: message" in the caller's buffer; returns SPIKE_ECONFIG. */
static enum spike_err
conf_fail(const struct conf_line *at, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	n = snprintf(at->err, at->errsz, "%s:%u: ", at->name, at->number);
	if (n >= 0 && (size_t)n < at->errsz) {
		va_start(ap, fmt);
		vsnprintf(at->err + n, at->errsz - n, fmt, ap);
		va_end(ap);
	}
	return SPIKE_ECONFIG;
}

void
conf_defaults(struct conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	strcpy(conf->redis, "127.0.0.1:6379");
	conf->redis_timeout_ms = CONF_DEFAULT_REDIS_TIMEOUT_MS;
	strcpy(conf->stock_key, "ticket_hash_key");
	strcpy(conf->total_field, "ticket_total_nums");
	strcpy(conf->sold_field, "ticket_sold_nums");
	strcpy(conf->stat_log, "/var/log/spike-fcgi/stat.log");
	strcpy(conf->edge_log, CONF_DEFAULT_EDGE_LOG);
	conf->threads = CONF_DEFAULT_THREADS;
	conf->read_timeout_ms = CONF_DEFAULT_READ_TIMEOUT_MS;
	conf->request_timeout_ms = CONF_DEFAULT_REQUEST_TIMEOUT_MS;
	conf->buffer_percent = 10;
	conf->sync_ms = CONF_DEFAULT_SYNC_MS;
	conf->per_user_limit = 1;
	conf->allow_anonymous = true;
	conf->pay_timeout_s = 300;
	conf->sig_max_ttl_s = CONF_DEFAULT_SIG_MAX_TTL_S;
	conf->durability = CONF_DURABILITY_NONE;
	conf->durability_replicas = 1;
	conf->durability_timeout_ms = CONF_DEFAULT_DURABILITY_TIMEOUT_MS;
	conf->order_retention_s = CONF_DEFAULT_ORDER_RETENTION_S;
	conf->events_max_len = CONF_DEFAULT_EVENTS_MAX_LEN;
	strcpy(conf->edge_dir, CONF_DEFAULT_EDGE_DIR);
	conf->items_max = CONF_DEFAULT_ITEMS_MAX;
}

/* Parse a whole unsigned decimal in [min, max]; returns false otherwise. */
static bool
parse_uint(const char *s, unsigned int min, unsigned int max,
    unsigned int *out)
{
	char		*end;
	unsigned long	 v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = (unsigned int)v;
	return true;
}

static enum spike_err
set_string(const struct conf_line *at, char *dst, size_t dstsz,
    const char *value, const char *what)
{
	if (*value == '\0')
		return conf_fail(at, "%s: empty value", what);
	if ((size_t)snprintf(dst, dstsz, "%s", value) >= dstsz)
		return conf_fail(at, "%s: value longer than %zu bytes", what,
		    dstsz - 1);
	return SPIKE_OK;
}

/*
 * Check an address: "unix:/absolute/path" or "HOST:PORT".  With
 * numeric_host the host must be a dotted IPv4 address, as spawn-fcgi -a
 * takes it, and is written back in canonical form.
 */
static enum spike_err
parse_addr(const struct conf_line *at, const char *value, bool numeric_host,
    char *out, size_t outsz)
{
	char		 host[CONF_ADDR_MAX];
	const char	*colon;
	struct in_addr	 in;
	unsigned int	 port;

	if (strncmp(value, "unix:", 5) == 0) {
		if (value[5] != '/')
			return conf_fail(at, "%s: unix socket path must be "
			    "absolute", value);
		return set_string(at, out, outsz, value, "address");
	}
	colon = strrchr(value, ':');
	if (colon == NULL || colon == value)
		return conf_fail(at, "%s: expected HOST:PORT or unix:PATH",
		    value);
	if (!parse_uint(colon + 1, 1, 65535, &port))
		return conf_fail(at, "%s: bad port", value);
	if ((size_t)(colon - value) >= sizeof(host))
		return conf_fail(at, "%s: host name too long", value);
	memcpy(host, value, colon - value);
	host[colon - value] = '\0';
	if (numeric_host) {
		if (inet_pton(AF_INET, host, &in) != 1)
			return conf_fail(at, "%s: host must be a numeric IPv4 "
			    "address", value);
		inet_ntop(AF_INET, &in, host, sizeof(host));
	}
	if (snprintf(out, outsz, "%s:%u", host, port & 0xffff) >= (int)outsz)
		return conf_fail(at, "%s: address too long", value);
	return SPIKE_OK;
}

static enum spike_err
set_redis(struct conf *conf, const struct conf_line *at, const char *value)
{
	return parse_addr(at, value, false, conf->redis, sizeof(conf->redis));
}

#define CONF_UINT_SETTER(name, field, min, max)				\
static enum spike_err							\
name(struct conf *conf, const struct conf_line *at, const char *value)	\
{									\
	if (!parse_uint(value, min, max, &conf->field))			\
		return conf_fail(at, "%s: %s must be a whole number "	\
		    "from %u to %u", value, #field, min, max);		\
	return SPIKE_OK;						\
}

CONF_UINT_SETTER(set_redis_timeout_ms, redis_timeout_ms, 1, 60000)
CONF_UINT_SETTER(set_threads, threads, 1, 256)
CONF_UINT_SETTER(set_read_timeout_ms, read_timeout_ms, 10, 60000)
CONF_UINT_SETTER(set_request_timeout_ms, request_timeout_ms, 10, 600000)
CONF_UINT_SETTER(set_buffer_percent, buffer_percent, 0, 1000)
CONF_UINT_SETTER(set_sync_ms, sync_ms, 10, 10000)
CONF_UINT_SETTER(set_per_user_limit, per_user_limit, 1, 1000)
CONF_UINT_SETTER(set_pay_timeout_s, pay_timeout_s, 1, 86400)
CONF_UINT_SETTER(set_sig_max_ttl_s, sig_max_ttl_s, 1, CONF_SIG_MAX_TTL_S_MAX)
CONF_UINT_SETTER(set_durability_replicas, durability_replicas, 1, 16)
CONF_UINT_SETTER(set_durability_timeout_ms, durability_timeout_ms, 1, 60000)
CONF_UINT_SETTER(set_order_retention_s, order_retention_s, 1,
    CONF_ORDER_RETENTION_S_MAX)
CONF_UINT_SETTER(set_events_max_len, events_max_len, 1,
    CONF_EVENTS_MAX_LEN_MAX)
CONF_UINT_SETTER(set_items_max, items_max, 1, CONF_ITEMS_MAX_MAX)

#define CONF_STRING_SETTER(name, field)					\
static enum spike_err							\
name(struct conf *conf, const struct conf_line *at, const char *value)	\
{									\
	return set_string(at, conf->field, sizeof(conf->field), value,	\
	    #field);							\
}

CONF_STRING_SETTER(set_stock_key, stock_key)
CONF_STRING_SETTER(set_total_field, total_field)
CONF_STRING_SETTER(set_sold_field, sold_field)
CONF_STRING_SETTER(set_stat_log, stat_log)
CONF_STRING_SETTER(set_edge_log, edge_log)
CONF_STRING_SETTER(set_sold_out_flag, sold_out_flag)
CONF_STRING_SETTER(set_edge_dir, edge_dir)
CONF_STRING_SETTER(set_events_key, events_key)

static enum spike_err
set_durability(struct conf *conf, const struct conf_line *at,
    const char *value)
{
	if (strcmp(value, "none") == 0)
		conf->durability = CONF_DURABILITY_NONE;
	else if (strcmp(value, "fsync") == 0)
		conf->durability = CONF_DURABILITY_FSYNC;
	else if (strcmp(value, "replicas") == 0)
		conf->durability = CONF_DURABILITY_REPLICAS;
	else
		return conf_fail(at, "%s: durability must be none, fsync or "
		    "replicas", value);
	return SPIKE_OK;
}

/* "HOST:PORT" of one Sentinel; one line each, like instance. */
static enum spike_err
set_sentinel(struct conf *conf, const struct conf_line *at, const char *value)
{
	char	 addr[CONF_ADDR_MAX];
	size_t	 i;

	if (strncmp(value, "unix:", 5) == 0)
		return conf_fail(at, "%s: a sentinel is HOST:PORT", value);
	if (parse_addr(at, value, false, addr, sizeof(addr)) != SPIKE_OK)
		return SPIKE_ECONFIG;
	for (i = 0; i < conf->nsentinels; i++)
		if (strcmp(conf->sentinels[i], addr) == 0)
			return conf_fail(at, "duplicate sentinel %s", addr);
	if (conf->nsentinels == CONF_SENTINELS_MAX)
		return conf_fail(at, "more than %d sentinels",
		    CONF_SENTINELS_MAX);
	memcpy(conf->sentinels[conf->nsentinels++], addr, sizeof(addr));
	return SPIKE_OK;
}

/* The name Sentinel knows the primary by: 1 to 127 of A-Za-z0-9._- */
static enum spike_err
set_sentinel_master(struct conf *conf, const struct conf_line *at,
    const char *value)
{
	if (value[strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-")] != '\0')
		return conf_fail(at, "%s: sentinel_master may hold only "
		    "letters, digits, '.', '_' and '-'", value);
	return set_string(at, conf->sentinel_master,
	    sizeof(conf->sentinel_master), value, "sentinel_master");
}

/* An ACL user name: printable, no blank (AUTH takes it as one word). */
static enum spike_err
set_redis_user(struct conf *conf, const struct conf_line *at,
    const char *value)
{
	const unsigned char *p;

	for (p = (const unsigned char *)value; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return conf_fail(at, "redis_user may hold only "
			    "printable characters, no blank");
	return set_string(at, conf->redis_user, sizeof(conf->redis_user),
	    value, "redis_user");
}

/*
 * The file holding Redis's password: an absolute path, read by
 * redis_dial.c on every new link, which names this line when it will
 * not do.  The password itself is never in spike.conf.
 */
static enum spike_err
set_redis_password_file(struct conf *conf, const struct conf_line *at,
    const char *value)
{
	if (*value != '/')
		return conf_fail(at, "%s: redis_password_file must be an "
		    "absolute path", value);
	conf->redis_password_file.line = at->number;
	return set_string(at, conf->redis_password_file.path,
	    sizeof(conf->redis_password_file.path), value,
	    "redis_password_file");
}

static enum spike_err
set_allow_anonymous(struct conf *conf, const struct conf_line *at,
    const char *value)
{
	if (strcmp(value, "yes") == 0)
		conf->allow_anonymous = true;
	else if (strcmp(value, "no") == 0)
		conf->allow_anonymous = false;
	else
		return conf_fail(at, "%s: allow_anonymous must be yes or no",
		    value);
	return SPIKE_OK;
}

/*
 * A key file: an absolute path, given at most CONF_KEYFILES_MAX times
 * (the current key, then the previous one).  Its contents are read by
 * keys.c, which names this line when the file will not do.
 */
static enum spike_err
add_keyfile(const struct conf_line *at, struct conf_keyfile *files,
    size_t *n, const char *value, const char *what)
{
	struct conf_keyfile	*kf;

	if (*value != '/')
		return conf_fail(at, "%s: %s must be an absolute path", value,
		    what);
	if (*n == CONF_KEYFILES_MAX)
		return conf_fail(at, "%s given more than %d times (the current "
		    "key and the previous one)", what, CONF_KEYFILES_MAX);
	kf = &files[*n];
	kf->line = at->number;
	if (set_string(at, kf->path, sizeof(kf->path), value, what))
		return SPIKE_ECONFIG;
	(*n)++;
	return SPIKE_OK;
}

static enum spike_err
set_buyer_key(struct conf *conf, const struct conf_line *at, const char *value)
{
	return add_keyfile(at, conf->buyer_keys, &conf->nbuyer_keys, value,
	    "buyer_key");
}

static enum spike_err
set_pay_key(struct conf *conf, const struct conf_line *at, const char *value)
{
	return add_keyfile(at, conf->pay_keys, &conf->npay_keys, value,
	    "pay_key");
}

/* "ADDR [weight=W]": one instance of the sale. */
static enum spike_err
set_instance(struct conf *conf, const struct conf_line *at, const char *value)
{
	struct conf_instance	 inst;
	char			 addr[CONF_ADDR_MAX];
	const char		*rest;
	size_t			 len, i;
	enum spike_err		 err;

	len = strcspn(value, " \t");
	if (len >= sizeof(addr))
		return conf_fail(at, "instance address too long");
	memcpy(addr, value, len);
	addr[len] = '\0';
	if ((err = parse_addr(at, addr, true, inst.addr, sizeof(inst.addr))))
		return err;
	rest = value + len + strspn(value + len, " \t");
	inst.weight = 1;
	if (*rest != '\0' && (strncmp(rest, "weight=", 7) != 0 ||
	    !parse_uint(rest + 7, 1, 1000, &inst.weight)))
		return conf_fail(at, "%s: expected weight=W with W from 1 to "
		    "1000", rest);
	for (i = 0; i < conf->ninstances; i++)
		if (strcmp(conf->instances[i].addr, inst.addr) == 0)
			return conf_fail(at, "duplicate instance %s", inst.addr);
	if (conf->ninstances == CONF_INSTANCES_MAX)
		return conf_fail(at, "more than %d instances",
		    CONF_INSTANCES_MAX);
	conf->instances[conf->ninstances++] = inst;
	return SPIKE_OK;
}

static const struct conf_key conf_keys[] = {
	{ "redis",		set_redis },
	{ "redis_timeout_ms",	set_redis_timeout_ms },
	{ "redis_user",		set_redis_user },
	{ "redis_password_file",	set_redis_password_file },
	{ "sentinel",		set_sentinel },
	{ "sentinel_master",	set_sentinel_master },
	{ "durability",		set_durability },
	{ "durability_replicas",	set_durability_replicas },
	{ "durability_timeout_ms",	set_durability_timeout_ms },
	{ "stock_key",		set_stock_key },
	{ "total_field",	set_total_field },
	{ "sold_field",		set_sold_field },
	{ "stat_log",		set_stat_log },
	{ "edge_log",		set_edge_log },
	{ "sold_out_flag",	set_sold_out_flag },
	{ "edge_dir",		set_edge_dir },
	{ "items_max",		set_items_max },
	{ "threads",		set_threads },
	{ "read_timeout_ms",	set_read_timeout_ms },
	{ "request_timeout_ms",	set_request_timeout_ms },
	{ "buffer_percent",	set_buffer_percent },
	{ "sync_ms",		set_sync_ms },
	{ "per_user_limit",	set_per_user_limit },
	{ "allow_anonymous",	set_allow_anonymous },
	{ "pay_timeout_s",	set_pay_timeout_s },
	{ "sig_max_ttl_s",	set_sig_max_ttl_s },
	{ "events_key",		set_events_key },
	{ "events_max_len",	set_events_max_len },
	{ "order_retention_s",	set_order_retention_s },
	{ "instance",		set_instance },
	{ "buyer_key",		set_buyer_key },
	{ "pay_key",		set_pay_key },
};
#define CONF_NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))

static char *
trim(char *s)
{
	char	*end;

	s += strspn(s, " \t\r");
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* Cut a trailing comment: a '#' at the start or after blank space. */
static void
strip_comment(char *s)
{
	char	*p;

	for (p = s; (p = strchr(p, '#')) != NULL; p++)
		if (p == s || p[-1] == ' ' || p[-1] == '\t') {
			*p = '\0';
			return;
		}
}

static enum spike_err
parse_line(struct conf *conf, const struct conf_line *at, char *line,
    unsigned int seen[CONF_NKEYS])
{
	char	*eq, *key, *value;
	size_t	 i;

	strip_comment(line);
	line = trim(line);
	if (*line == '\0')
		return SPIKE_OK;
	if ((eq = strchr(line, '=')) == NULL)
		return conf_fail(at, "expected \"key = value\"");
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	for (i = 0; i < CONF_NKEYS; i++) {
		if (strcmp(key, conf_keys[i].key) != 0)
			continue;
		if (seen[i] != 0 && conf_keys[i].set != set_instance &&
		    conf_keys[i].set != set_sentinel &&
		    conf_keys[i].set != set_buyer_key &&
		    conf_keys[i].set != set_pay_key)
			return conf_fail(at, "%s given twice", key);
		if (seen[i] == 0)
			seen[i] = at->number;
		if (*value == '\0')
			return conf_fail(at, "%s: empty value", key);
		return conf_keys[i].set(conf, at, value);
	}
	return conf_fail(at, "unknown key \"%.64s\"", key);
}

/* The first line that gave key, or 0. */
static unsigned int
seen_at(const unsigned int seen[CONF_NKEYS], const char *key)
{
	size_t	 i;

	for (i = 0; i < CONF_NKEYS; i++)
		if (strcmp(conf_keys[i].key, key) == 0)
			return seen[i];
	return 0;
}

/* The keys that only make sense together, each refusal at its line. */
static enum spike_err
check_together(const struct conf *conf, struct conf_line *at,
    const unsigned int seen[CONF_NKEYS])
{
	if ((at->number = seen_at(seen, "redis")) != 0 && conf->nsentinels > 0)
		return conf_fail(at, "redis and sentinel lines exclude each "
		    "other: with Sentinel, Sentinel names the primary");
	if ((at->number = seen_at(seen, "sentinel")) != 0 &&
	    conf->sentinel_master[0] == '\0')
		return conf_fail(at, "sentinel lines need a sentinel_master "
		    "line");
	if ((at->number = seen_at(seen, "sentinel_master")) != 0 &&
	    conf->nsentinels == 0)
		return conf_fail(at, "sentinel_master needs sentinel lines");
	if ((at->number = seen_at(seen, "redis_user")) != 0 &&
	    conf->redis_password_file.path[0] == '\0')
		return conf_fail(at, "redis_user needs a redis_password_file "
		    "line: AUTH sends a user with its password");
	if (conf->durability != CONF_DURABILITY_REPLICAS)
		return SPIKE_OK;
	if (conf->allow_anonymous) {
		at->number = seen_at(seen, "durability");
		return conf_fail(at, "durability = replicas needs "
		    "allow_anonymous = no: an anonymous purchase answered 503 "
		    "may still be sold, and no retry can find it again");
	}
	if (conf->durability_timeout_ms <= conf->redis_timeout_ms / 2)
		return SPIKE_OK;
	if ((at->number = seen_at(seen, "durability_timeout_ms")) == 0)
		at->number = seen_at(seen, "durability");
	return conf_fail(at, "durability_timeout_ms (%u) must be at most half "
	    "of redis_timeout_ms (%u): WAIT is a Redis command, and must "
	    "answer before the link times out", conf->durability_timeout_ms,
	    conf->redis_timeout_ms);
}

/*
 * Parse the text of a configuration file over the defaults already in
 * conf.  Returns SPIKE_OK, or SPIKE_ECONFIG with "NAME:LINE: why" in err.
 */
enum spike_err
conf_parse(struct conf *conf, const char *name, const char *text, char *err,
    size_t errsz)
{
	struct conf_line at = { name, 0, err, errsz };
	unsigned int	 seen[CONF_NKEYS] = { 0 };
	char		*copy, *line, *next;
	enum spike_err	 rc = SPIKE_OK;

	if ((copy = strdup(text)) == NULL)
		return SPIKE_ENOMEM;
	snprintf(conf->source, sizeof(conf->source), "%s", name);
	for (line = copy; line != NULL && rc == SPIKE_OK; line = next) {
		at.number++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		rc = parse_line(conf, &at, line, seen);
	}
	free(copy);
	if (rc == SPIKE_OK)
		rc = check_together(conf, &at, seen);
	if (rc == SPIKE_OK && conf->ninstances == 0) {
		snprintf(err, errsz, "%s: no \"instance\" line", name);
		rc = SPIKE_ECONFIG;
	}
	if (rc == SPIKE_OK && conf->events_key[0] == '\0')
		snprintf(conf->events_key, sizeof(conf->events_key),
		    "%s:events", conf->stock_key);
	return rc;
}

/* Read at most CONF_FILE_MAX bytes of path into a new string. */
static enum spike_err
read_file(const char *path, char **out, char *err, size_t errsz)
{
	char	*buf;
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return SPIKE_ECONFIG;
	}
	if ((buf = malloc(CONF_FILE_MAX + 1)) == NULL) {
		close(fd);
		return SPIKE_ENOMEM;
	}
	while ((n = read(fd, buf + len, CONF_FILE_MAX + 1 - len)) > 0)
		len += n;
	close(fd);
	if (n == -1 || len > CONF_FILE_MAX || memchr(buf, '\0', len)) {
		snprintf(err, errsz, "%s: %s", path, n == -1 ?
		    strerror(errno) : "not a text file of at most 1 MiB");
		free(buf);
		return SPIKE_ECONFIG;
	}
	buf[len] = '\0';
	*out = buf;
	return SPIKE_OK;
}

/* Load path over the defaults; errors go to err as for conf_parse. */
enum spike_err
conf_load(struct conf *conf, const char *path, char *err, size_t errsz)
{
	char		*text;
	enum spike_err	 rc;

	conf_defaults(conf);
	if ((rc = read_file(path, &text, err, errsz)) != SPIKE_OK)
		return rc;
	rc = conf_parse(conf, path, text, err, errsz);
	free(text);
	return rc;
}

const struct conf_instance *
conf_find_instance(const struct conf *conf, const char *addr)
{
	size_t	 i;

	for (i = 0; i < conf->ninstances; i++)
		if (strcmp(conf->instances[i].addr, addr) == 0)
			return &conf->instances[i];
	return NULL;
}

unsigned int
conf_total_weight(const struct conf *conf)
{
	unsigned int	 sum = 0;
	size_t		 i;

	for (i = 0; i < conf->ninstances; i++)
		sum += conf->instances[i].weight;
	return sum;
}
