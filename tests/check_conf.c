/*
 * conf.c: the configuration file, parsed from memory and loaded from
 * files.  Every refusal is checked against its whole "NAME:LINE: " message.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spike.h"
#include "unit.h"

/* One configuration text and the whole message it must be refused with. */
struct conf_refusal {
	const char	*text;
	const char	*message;
};

static struct conf	 conf;
static char		 err[CONF_ERR_MAX];
static char		 tmpdir[PATH_MAX];

/* Parse text as "t.conf" over the defaults, as conf_load would. */
static enum spike_err
parse_text(const char *text)
{
	conf_defaults(&conf);
	err[0] = '\0';
	return conf_parse(&conf, "t.conf", text, err, sizeof(err));
}

/* Parse text and require it to be refused with exactly message. */
static void
expect_refusal(const char *text, const char *message)
{
	enum spike_err	 rc;

	rc = parse_text(text);
	ck_assert_msg(rc == SPIKE_ECONFIG, "accepted (rc %d): \"%s\"", rc,
	    text);
	ck_assert_msg(strcmp(err, message) == 0,
	    "\"%s\":\n got \"%s\"\nwant \"%s\"", text, err, message);
}

/* Unchecked fixture: a private directory for the files conf_load reads. */
static void
make_tmpdir(void)
{
	unit_tmpdir_make(tmpdir, sizeof(tmpdir), "check_conf");
}

static void
remove_tmpdir(void)
{
	unit_tmpdir_remove(tmpdir);
}

/* Write len bytes to name in the fixture directory; path gets its path. */
static void
write_file(char *path, size_t pathsz, const char *name, const char *text,
    size_t len)
{
	FILE	*f;

	ck_assert_int_lt(snprintf(path, pathsz, "%s/%s", tmpdir, name),
	    (int)pathsz);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* ---- defaults and accepted files --------------------------------------- */

START_TEST(test_defaults)
{
	memset(&conf, 0xa5, sizeof(conf));
	conf_defaults(&conf);
	ck_assert_str_eq(conf.redis, "127.0.0.1:6379");
	ck_assert_uint_eq(conf.redis_timeout_ms, 500);
	ck_assert_str_eq(conf.stock_key, "ticket_hash_key");
	ck_assert_str_eq(conf.total_field, "ticket_total_nums");
	ck_assert_str_eq(conf.sold_field, "ticket_sold_nums");
	ck_assert_str_eq(conf.stat_log, "/var/log/spike-fcgi/stat.log");
	ck_assert_str_eq(conf.edge_log, "/var/log/nginx/spike-fcgi-edge.log");
	ck_assert_uint_eq(conf.threads, 64);
	ck_assert_uint_eq(conf.read_timeout_ms, 500);
	ck_assert_uint_eq(conf.buffer_percent, 10);
	ck_assert_uint_eq(conf.sync_ms, 200);
	ck_assert_uint_eq(conf.ninstances, 0);
}
END_TEST

/* One instance line alone leaves every other key at its default. */
START_TEST(test_minimal_file_keeps_defaults)
{
	ck_assert_int_eq(parse_text("instance = 127.0.0.1:3001\n"), SPIKE_OK);
	ck_assert_str_eq(conf.redis, "127.0.0.1:6379");
	ck_assert_uint_eq(conf.threads, 64);
	ck_assert_uint_eq(conf.sync_ms, 200);
	ck_assert_uint_eq(conf.ninstances, 1);
	ck_assert_str_eq(conf.instances[0].addr, "127.0.0.1:3001");
	ck_assert_uint_eq(conf.instances[0].weight, 1);
}
END_TEST

START_TEST(test_every_key)
{
	static const char text[] =
	    "redis = unix:/run/redis/redis.sock\n"
	    "redis_timeout_ms = 750\n"
	    "stock_key = sale:42\n"
	    "total_field = total\n"
	    "sold_field = sold\n"
	    "stat_log = /srv/log/stat.log\n"
	    "edge_log = /srv/log/edge.log\n"
	    "threads = 32\n"
	    "buffer_percent = 25\n"
	    "sync_ms = 150\n"
	    "instance = 127.0.0.1:3001 weight=3\n"
	    "instance = unix:/run/spike/b.sock weight=1000\n"
	    "instance = 10.1.2.3:3003\n";

	ck_assert_int_eq(parse_text(text), SPIKE_OK);
	ck_assert_str_eq(conf.redis, "unix:/run/redis/redis.sock");
	ck_assert_uint_eq(conf.redis_timeout_ms, 750);
	ck_assert_str_eq(conf.stock_key, "sale:42");
	ck_assert_str_eq(conf.total_field, "total");
	ck_assert_str_eq(conf.sold_field, "sold");
	ck_assert_str_eq(conf.stat_log, "/srv/log/stat.log");
	ck_assert_str_eq(conf.edge_log, "/srv/log/edge.log");
	ck_assert_uint_eq(conf.threads, 32);
	ck_assert_uint_eq(conf.buffer_percent, 25);
	ck_assert_uint_eq(conf.sync_ms, 150);
	ck_assert_uint_eq(conf.ninstances, 3);
	ck_assert_str_eq(conf.instances[0].addr, "127.0.0.1:3001");
	ck_assert_uint_eq(conf.instances[0].weight, 3);
	ck_assert_str_eq(conf.instances[1].addr, "unix:/run/spike/b.sock");
	ck_assert_uint_eq(conf.instances[1].weight, 1000);
	ck_assert_str_eq(conf.instances[2].addr, "10.1.2.3:3003");
	ck_assert_uint_eq(conf.instances[2].weight, 1);
}
END_TEST

START_TEST(test_numeric_lower_bounds)
{
	ck_assert_int_eq(parse_text("redis_timeout_ms = 1\nthreads = 1\n"
	    "buffer_percent = 0\nsync_ms = 10\n"
	    "instance = 127.0.0.1:1 weight=1\n"), SPIKE_OK);
	ck_assert_uint_eq(conf.redis_timeout_ms, 1);
	ck_assert_uint_eq(conf.threads, 1);
	ck_assert_uint_eq(conf.buffer_percent, 0);
	ck_assert_uint_eq(conf.sync_ms, 10);
	ck_assert_str_eq(conf.instances[0].addr, "127.0.0.1:1");
}
END_TEST

START_TEST(test_numeric_upper_bounds)
{
	ck_assert_int_eq(parse_text("redis_timeout_ms = 60000\n"
	    "threads = 256\nbuffer_percent = 1000\nsync_ms = 10000\n"
	    "instance = 127.0.0.1:65535 weight=1000\n"), SPIKE_OK);
	ck_assert_uint_eq(conf.redis_timeout_ms, 60000);
	ck_assert_uint_eq(conf.threads, 256);
	ck_assert_uint_eq(conf.buffer_percent, 1000);
	ck_assert_uint_eq(conf.sync_ms, 10000);
	ck_assert_str_eq(conf.instances[0].addr, "127.0.0.1:65535");
	ck_assert_uint_eq(conf.instances[0].weight, 1000);
}
END_TEST

/* A redis host need not be numeric: hiredis resolves it. */
START_TEST(test_redis_host_name)
{
	ck_assert_int_eq(parse_text("redis = redis.example:6380\n"
	    "instance = 127.0.0.1:3001\n"), SPIKE_OK);
	ck_assert_str_eq(conf.redis, "redis.example:6380");
}
END_TEST

/* '#' starts a comment at the start of a line or after blank space only. */
START_TEST(test_comments_and_blank_lines)
{
	static const char text[] =
	    "# whole-line comment\n"
	    "\n"
	    "   # indented comment\n"
	    "   \t  \n"
	    "threads = 8 # trailing comment\n"
	    "sync_ms = 50\t# after a tab\n"
	    "stock_key = sale#1\n"
	    "instance = 127.0.0.1:3001 weight=2 # two\n"
	    "#instance = 127.0.0.1:3002\n";

	ck_assert_int_eq(parse_text(text), SPIKE_OK);
	ck_assert_uint_eq(conf.threads, 8);
	ck_assert_uint_eq(conf.sync_ms, 50);
	ck_assert_str_eq(conf.stock_key, "sale#1");
	ck_assert_uint_eq(conf.ninstances, 1);
	ck_assert_uint_eq(conf.instances[0].weight, 2);
}
END_TEST

START_TEST(test_spacing_around_equals)
{
	ck_assert_int_eq(parse_text("threads=8\n\tsync_ms\t=\t60  \n"
	    "instance   =   127.0.0.1:3001\tweight=4"), SPIKE_OK);
	ck_assert_uint_eq(conf.threads, 8);
	ck_assert_uint_eq(conf.sync_ms, 60);
	ck_assert_uint_eq(conf.instances[0].weight, 4);
}
END_TEST

START_TEST(test_crlf)
{
	ck_assert_int_eq(parse_text("# made on Windows\r\nthreads = 8\r\n"
	    "\r\nstock_key = k # c\r\n"
	    "instance = 127.0.0.1:3001 weight=2\r\n"), SPIKE_OK);
	ck_assert_uint_eq(conf.threads, 8);
	ck_assert_str_eq(conf.stock_key, "k");
	ck_assert_str_eq(conf.instances[0].addr, "127.0.0.1:3001");
	ck_assert_uint_eq(conf.instances[0].weight, 2);
}
END_TEST

/* No '\r' leaks into a message, and line numbers count CRLF lines. */
START_TEST(test_crlf_error_line)
{
	expect_refusal("threads = 8\r\n\r\nsync_ms = 9x\r\n",
	    "t.conf:3: 9x: sync_ms must be a whole number from 10 to 10000");
}
END_TEST

/* Instance addresses are kept in canonical form: no leading zeros. */
START_TEST(test_instance_port_canonical)
{
	ck_assert_int_eq(parse_text("instance = 127.0.0.1:03001\n"),
	    SPIKE_OK);
	ck_assert_str_eq(conf.instances[0].addr, "127.0.0.1:3001");
}
END_TEST

/* ---- refusals ----------------------------------------------------------- */

static const struct conf_refusal refusals[] = {
	/* unknown keys and lines that are not "key = value" */
	{ "foo = 1\n", "t.conf:1: unknown key \"foo\"" },
	{ "threads = 4\n\n# c\nThreads = 5\n",
	  "t.conf:4: unknown key \"Threads\"" },
	{ "= 5\n", "t.conf:1: unknown key \"\"" },
	{ "# c\nthreads 4\n", "t.conf:2: expected \"key = value\"" },
	{ "instance 127.0.0.1:3001\n", "t.conf:1: expected \"key = value\"" },
	/* empty values */
	{ "stock_key =\n", "t.conf:1: stock_key: empty value" },
	{ "threads = # nothing\n", "t.conf:1: threads: empty value" },
	{ "instance = \r\n", "t.conf:1: instance: empty value" },
	{ "redis =\t\n", "t.conf:1: redis: empty value" },
	/* redis_timeout_ms 1..60000 */
	{ "redis_timeout_ms = 0",
	  "t.conf:1: 0: redis_timeout_ms must be a whole number from 1 to "
	  "60000" },
	{ "redis_timeout_ms = 60001",
	  "t.conf:1: 60001: redis_timeout_ms must be a whole number from 1 "
	  "to 60000" },
	{ "redis_timeout_ms = 5ms",
	  "t.conf:1: 5ms: redis_timeout_ms must be a whole number from 1 to "
	  "60000" },
	/* threads 1..256 */
	{ "threads = 0", "t.conf:1: 0: threads must be a whole number from 1 "
	  "to 256" },
	{ "threads = 257", "t.conf:1: 257: threads must be a whole number "
	  "from 1 to 256" },
	{ "threads = -1", "t.conf:1: -1: threads must be a whole number "
	  "from 1 to 256" },
	{ "threads = +4", "t.conf:1: +4: threads must be a whole number "
	  "from 1 to 256" },
	{ "threads = 4294967297", "t.conf:1: 4294967297: threads must be a "
	  "whole number from 1 to 256" },
	{ "threads = 99999999999999999999999", "t.conf:1: "
	  "99999999999999999999999: threads must be a whole number from 1 "
	  "to 256" },
	/* buffer_percent 0..1000 */
	{ "buffer_percent = 1001", "t.conf:1: 1001: buffer_percent must be "
	  "a whole number from 0 to 1000" },
	{ "buffer_percent = 1.5", "t.conf:1: 1.5: buffer_percent must be a "
	  "whole number from 0 to 1000" },
	{ "buffer_percent = ten", "t.conf:1: ten: buffer_percent must be a "
	  "whole number from 0 to 1000" },
	/* sync_ms 10..10000 */
	{ "sync_ms = 9", "t.conf:1: 9: sync_ms must be a whole number from "
	  "10 to 10000" },
	{ "sync_ms = 10001", "t.conf:1: 10001: sync_ms must be a whole "
	  "number from 10 to 10000" },
	{ "sync_ms = 0x10", "t.conf:1: 0x10: sync_ms must be a whole number "
	  "from 10 to 10000" },
	/* a key given twice; instance is the one repeatable key */
	{ "threads = 4\nthreads = 4\n", "t.conf:2: threads given twice" },
	{ "redis = 127.0.0.1:6379\n\nredis = 127.0.0.1:6380\n",
	  "t.conf:3: redis given twice" },
	{ "stat_log = /a\nstat_log = /b\n", "t.conf:2: stat_log given twice" },
	{ "edge_log =\n", "t.conf:1: edge_log: empty value" },
	/* redis addresses */
	{ "redis = 127.0.0.1\n", "t.conf:1: 127.0.0.1: expected HOST:PORT "
	  "or unix:PATH" },
	{ "redis = :6379\n", "t.conf:1: :6379: expected HOST:PORT or "
	  "unix:PATH" },
	{ "redis = 127.0.0.1:\n", "t.conf:1: 127.0.0.1:: bad port" },
	{ "redis = 127.0.0.1:0\n", "t.conf:1: 127.0.0.1:0: bad port" },
	{ "redis = 127.0.0.1:65536\n", "t.conf:1: 127.0.0.1:65536: bad port" },
	{ "redis = localhost:redis\n", "t.conf:1: localhost:redis: bad port" },
	{ "redis = unix:redis.sock\n", "t.conf:1: unix:redis.sock: unix "
	  "socket path must be absolute" },
	/* instance hosts must be numeric IPv4, as spawn-fcgi -a takes them */
	{ "instance = localhost:3001\n", "t.conf:1: localhost:3001: host "
	  "must be a numeric IPv4 address" },
	{ "instance = 127.1:3001\n", "t.conf:1: 127.1:3001: host must be a "
	  "numeric IPv4 address" },
	{ "instance = ::1:3001\n", "t.conf:1: ::1:3001: host must be a "
	  "numeric IPv4 address" },
	/* glibc's inet_pton refuses leading zeros: not a duplicate, an error */
	{ "instance = 127.0.0.1:3001\ninstance = 127.000.000.001:3001\n",
	  "t.conf:2: 127.000.000.001:3001: host must be a numeric IPv4 "
	  "address" },
	/* instance ports */
	{ "instance = 127.0.0.1\n", "t.conf:1: 127.0.0.1: expected HOST:PORT "
	  "or unix:PATH" },
	{ "instance = 127.0.0.1:0\n", "t.conf:1: 127.0.0.1:0: bad port" },
	{ "instance = 127.0.0.1:65536\n", "t.conf:1: 127.0.0.1:65536: bad "
	  "port" },
	{ "instance = 127.0.0.1:fcgi weight=2\n", "t.conf:1: "
	  "127.0.0.1:fcgi: bad port" },
	/* weights 1..1000 */
	{ "instance = 127.0.0.1:3001 weight=0\n", "t.conf:1: weight=0: "
	  "expected weight=W with W from 1 to 1000" },
	{ "instance = 127.0.0.1:3001 weight=1001\n", "t.conf:1: weight=1001: "
	  "expected weight=W with W from 1 to 1000" },
	{ "instance = 127.0.0.1:3001 weight=x\n", "t.conf:1: weight=x: "
	  "expected weight=W with W from 1 to 1000" },
	{ "instance = 127.0.0.1:3001 wait=3\n", "t.conf:1: wait=3: "
	  "expected weight=W with W from 1 to 1000" },
	{ "instance = 127.0.0.1:3001 weight=\n", "t.conf:1: weight=: "
	  "expected weight=W with W from 1 to 1000" },
	{ "instance = 127.0.0.1:3001 weight=2 extra\n", "t.conf:1: weight=2 "
	  "extra: expected weight=W with W from 1 to 1000" },
	/* duplicates, compared in canonical form */
	{ "instance = 127.0.0.1:3001\ninstance = 127.0.0.1:3001 weight=2\n",
	  "t.conf:2: duplicate instance 127.0.0.1:3001" },
	{ "instance = 127.0.0.1:3001\ninstance = 127.0.0.1:03001\n",
	  "t.conf:2: duplicate instance 127.0.0.1:3001" },
	{ "instance = unix:/run/a.sock\ninstance = 127.0.0.1:3001\n"
	  "instance = unix:/run/a.sock\n",
	  "t.conf:3: duplicate instance unix:/run/a.sock" },
	/* unix sockets must be absolute paths */
	{ "instance = unix:run/a.sock\n", "t.conf:1: unix:run/a.sock: unix "
	  "socket path must be absolute" },
	{ "instance = unix:\n", "t.conf:1: unix:: unix socket path must be "
	  "absolute" },
	/* no instance at all */
	{ "", "t.conf: no \"instance\" line" },
	{ "threads = 4\n# instance = 127.0.0.1:3001\n",
	  "t.conf: no \"instance\" line" },
};

START_TEST(test_refusal)
{
	expect_refusal(refusals[_i].text, refusals[_i].message);
}
END_TEST

START_TEST(test_value_too_long)
{
	char	 text[CONF_KEY_MAX + 64];

	snprintf(text, sizeof(text), "stock_key = %0*d\n", CONF_KEY_MAX, 0);
	expect_refusal(text, "t.conf:1: stock_key: value longer than 127 "
	    "bytes");
}
END_TEST

START_TEST(test_too_many_instances)
{
	char	 text[(CONF_INSTANCES_MAX + 1) * 40];
	size_t	 len = 0;
	int	 i;

	for (i = 0; i <= CONF_INSTANCES_MAX; i++)
		len += snprintf(text + len, sizeof(text) - len,
		    "instance = 127.0.0.1:%d\n", 3001 + i);
	expect_refusal(text, "t.conf:65: more than 64 instances");
	ck_assert_uint_eq(conf.ninstances, CONF_INSTANCES_MAX);
}
END_TEST

/* The first error stops the parse: later lines are not read. */
START_TEST(test_first_error_wins)
{
	expect_refusal("instance = 127.0.0.1:3001\nthreads = 0\nfoo = 1\n",
	    "t.conf:2: 0: threads must be a whole number from 1 to 256");
}
END_TEST

/* ---- files -------------------------------------------------------------- */

START_TEST(test_load_file)
{
	static const char text[] = "threads = 4\n"
	    "instance = 127.0.0.1:3001 weight=2\n"
	    "instance = 127.0.0.1:3002 weight=3\n";
	char	 path[PATH_MAX + 64];

	write_file(path, sizeof(path), "ok.conf", text, strlen(text));
	ck_assert_int_eq(conf_load(&conf, path, err, sizeof(err)), SPIKE_OK);
	ck_assert_uint_eq(conf.threads, 4);
	ck_assert_uint_eq(conf.ninstances, 2);
	ck_assert_uint_eq(conf_total_weight(&conf), 5);
}
END_TEST

/* conf_load starts over from the defaults, whatever conf held. */
START_TEST(test_load_resets_to_defaults)
{
	static const char text[] = "instance = 127.0.0.1:3001\n";
	char	 path[PATH_MAX + 64];

	write_file(path, sizeof(path), "min.conf", text, strlen(text));
	conf_defaults(&conf);
	conf.threads = 99;
	conf.ninstances = 5;
	ck_assert_int_eq(conf_load(&conf, path, err, sizeof(err)), SPIKE_OK);
	ck_assert_uint_eq(conf.threads, 64);
	ck_assert_uint_eq(conf.ninstances, 1);
}
END_TEST

START_TEST(test_load_error_names_file)
{
	static const char text[] = "instance = 127.0.0.1:3001\nfoo = 1\n";
	char	 path[PATH_MAX + 64], want[PATH_MAX + 128];

	write_file(path, sizeof(path), "bad.conf", text, strlen(text));
	snprintf(want, sizeof(want), "%s:2: unknown key \"foo\"", path);
	ck_assert_int_eq(conf_load(&conf, path, err, sizeof(err)),
	    SPIKE_ECONFIG);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_load_missing_file)
{
	char	 path[PATH_MAX + 64], want[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	ck_assert_int_eq(conf_load(&conf, path, err, sizeof(err)),
	    SPIKE_ECONFIG);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_load_binary_file)
{
	static const char text[] = "instance = 127.0.0.1:3001\n\0\n";
	char	 path[PATH_MAX + 64], want[PATH_MAX + 128];

	write_file(path, sizeof(path), "nul.conf", text, sizeof(text) - 1);
	snprintf(want, sizeof(want), "%s: not a text file of at most 1 MiB",
	    path);
	ck_assert_int_eq(conf_load(&conf, path, err, sizeof(err)),
	    SPIKE_ECONFIG);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_load_huge_file)
{
	char	 path[PATH_MAX + 64], want[PATH_MAX + 128];
	char	*text;
	size_t	 len = 1024 * 1024 + 1;

	ck_assert_ptr_nonnull(text = malloc(len));
	memset(text, '\n', len);
	write_file(path, sizeof(path), "huge.conf", text, len);
	free(text);
	snprintf(want, sizeof(want), "%s: not a text file of at most 1 MiB",
	    path);
	ck_assert_int_eq(conf_load(&conf, path, err, sizeof(err)),
	    SPIKE_ECONFIG);
	ck_assert_str_eq(err, want);
}
END_TEST

/* ---- lookups ------------------------------------------------------------ */

static const char lookup_text[] =
    "instance = 127.0.0.1:3001 weight=1000\n"
    "instance = unix:/run/spike/b.sock weight=3\n"
    "instance = 10.0.0.2:3002\n";

START_TEST(test_find_instance)
{
	const struct conf_instance *inst;

	ck_assert_int_eq(parse_text(lookup_text), SPIKE_OK);
	ck_assert_ptr_nonnull(inst = conf_find_instance(&conf,
	    "unix:/run/spike/b.sock"));
	ck_assert_ptr_eq(inst, &conf.instances[1]);
	ck_assert_uint_eq(inst->weight, 3);
	ck_assert_ptr_nonnull(inst = conf_find_instance(&conf,
	    "10.0.0.2:3002"));
	ck_assert_uint_eq(inst->weight, 1);
}
END_TEST

START_TEST(test_find_instance_missing)
{
	ck_assert_int_eq(parse_text(lookup_text), SPIKE_OK);
	ck_assert_ptr_null(conf_find_instance(&conf, "127.0.0.1:3002"));
	ck_assert_ptr_null(conf_find_instance(&conf, "127.0.0.1:300"));
	ck_assert_ptr_null(conf_find_instance(&conf, "unix:/run/spike/b"));
	ck_assert_ptr_null(conf_find_instance(&conf, ""));
}
END_TEST

START_TEST(test_total_weight)
{
	ck_assert_int_eq(parse_text(lookup_text), SPIKE_OK);
	ck_assert_uint_eq(conf_total_weight(&conf), 1004);
	conf_defaults(&conf);
	ck_assert_uint_eq(conf_total_weight(&conf), 0);
}
END_TEST

/* ---- orders: per_user_limit, allow_anonymous, pay_timeout_s, events_key -- */

START_TEST(test_orders_defaults)
{
	conf_defaults(&conf);
	ck_assert_uint_eq(conf.per_user_limit, 1);
	ck_assert(conf.allow_anonymous);
	ck_assert_uint_eq(conf.pay_timeout_s, 300);
	ck_assert_int_eq(parse_text("instance = 127.0.0.1:3001\n"), SPIKE_OK);
	ck_assert_uint_eq(conf.per_user_limit, 1);
	ck_assert(conf.allow_anonymous);
	ck_assert_uint_eq(conf.pay_timeout_s, 300);
	ck_assert_str_eq(conf.events_key, "ticket_hash_key:events");
}
END_TEST

START_TEST(test_orders_keys)
{
	ck_assert_int_eq(parse_text("per_user_limit = 3\n"
	    "allow_anonymous = no\npay_timeout_s = 900\n"
	    "events_key = billing:stream\ninstance = 127.0.0.1:3001\n"),
	    SPIKE_OK);
	ck_assert_uint_eq(conf.per_user_limit, 3);
	ck_assert(!conf.allow_anonymous);
	ck_assert_uint_eq(conf.pay_timeout_s, 900);
	ck_assert_str_eq(conf.events_key, "billing:stream");
	ck_assert_int_eq(parse_text("allow_anonymous = yes # say so\n"
	    "instance = 127.0.0.1:3001\n"), SPIKE_OK);
	ck_assert(conf.allow_anonymous);
}
END_TEST

START_TEST(test_orders_bounds)
{
	ck_assert_int_eq(parse_text("per_user_limit = 1\npay_timeout_s = 1\n"
	    "instance = 127.0.0.1:3001\n"), SPIKE_OK);
	ck_assert_uint_eq(conf.per_user_limit, 1);
	ck_assert_uint_eq(conf.pay_timeout_s, 1);
	ck_assert_int_eq(parse_text("per_user_limit = 1000\n"
	    "pay_timeout_s = 86400\ninstance = 127.0.0.1:3001\n"), SPIKE_OK);
	ck_assert_uint_eq(conf.per_user_limit, 1000);
	ck_assert_uint_eq(conf.pay_timeout_s, 86400);
}
END_TEST

/* The events key follows the stock key unless given. */
START_TEST(test_events_key_follows_stock_key)
{
	ck_assert_int_eq(parse_text("stock_key = sale:42\n"
	    "instance = 127.0.0.1:3001\n"), SPIKE_OK);
	ck_assert_str_eq(conf.events_key, "sale:42:events");
	/* Given before or after the stock key, the explicit value wins. */
	ck_assert_int_eq(parse_text("events_key = ev\nstock_key = sale:42\n"
	    "instance = 127.0.0.1:3001\n"), SPIKE_OK);
	ck_assert_str_eq(conf.events_key, "ev");
	ck_assert_int_eq(parse_text("stock_key = sale:42\nevents_key = ev\n"
	    "instance = 127.0.0.1:3001\n"), SPIKE_OK);
	ck_assert_str_eq(conf.events_key, "ev");
}
END_TEST

/* The longest stock key there may be still gets "<stock_key>:events". */
START_TEST(test_events_key_of_longest_stock_key)
{
	char	 text[CONF_KEY_MAX + 64], want[CONF_KEY_MAX + 16];

	snprintf(text, sizeof(text), "stock_key = %0*d\n"
	    "instance = 127.0.0.1:3001\n", CONF_KEY_MAX - 1, 7);
	snprintf(want, sizeof(want), "%0*d:events", CONF_KEY_MAX - 1, 7);
	ck_assert_int_eq(parse_text(text), SPIKE_OK);
	ck_assert_uint_eq(strlen(conf.stock_key), CONF_KEY_MAX - 1);
	ck_assert_str_eq(conf.events_key, want);
}
END_TEST

static const struct conf_refusal orders_refusals[] = {
	/* per_user_limit 1..1000 */
	{ "per_user_limit = 0\n", "t.conf:1: 0: per_user_limit must be a "
	  "whole number from 1 to 1000" },
	{ "instance = 127.0.0.1:3001\nper_user_limit = 1001\n", "t.conf:2: "
	  "1001: per_user_limit must be a whole number from 1 to 1000" },
	{ "per_user_limit = two\n", "t.conf:1: two: per_user_limit must be a "
	  "whole number from 1 to 1000" },
	{ "per_user_limit = -1\n", "t.conf:1: -1: per_user_limit must be a "
	  "whole number from 1 to 1000" },
	/* pay_timeout_s 1..86400 */
	{ "pay_timeout_s = 0\n", "t.conf:1: 0: pay_timeout_s must be a whole "
	  "number from 1 to 86400" },
	{ "# c\n\npay_timeout_s = 86401\n", "t.conf:3: 86401: pay_timeout_s "
	  "must be a whole number from 1 to 86400" },
	{ "pay_timeout_s = 5m\n", "t.conf:1: 5m: pay_timeout_s must be a "
	  "whole number from 1 to 86400" },
	/* allow_anonymous yes or no, exactly */
	{ "instance = 127.0.0.1:3001\nallow_anonymous = maybe\n", "t.conf:2: "
	  "maybe: allow_anonymous must be yes or no" },
	{ "allow_anonymous = Yes\n", "t.conf:1: Yes: allow_anonymous must be "
	  "yes or no" },
	{ "allow_anonymous = true\n", "t.conf:1: true: allow_anonymous must "
	  "be yes or no" },
	{ "allow_anonymous = 1\n", "t.conf:1: 1: allow_anonymous must be yes "
	  "or no" },
	{ "allow_anonymous = no no\n", "t.conf:1: no no: allow_anonymous "
	  "must be yes or no" },
	{ "allow_anonymous =\n", "t.conf:1: allow_anonymous: empty value" },
	/* events_key */
	{ "events_key = # none\n", "t.conf:1: events_key: empty value" },
	/* given twice */
	{ "per_user_limit = 1\nper_user_limit = 2\n", "t.conf:2: "
	  "per_user_limit given twice" },
	{ "allow_anonymous = no\nallow_anonymous = no\n", "t.conf:2: "
	  "allow_anonymous given twice" },
	{ "pay_timeout_s = 1\n\npay_timeout_s = 1\n", "t.conf:3: "
	  "pay_timeout_s given twice" },
	{ "events_key = a\nevents_key = b\n", "t.conf:2: events_key given "
	  "twice" },
};

START_TEST(test_orders_refusal)
{
	expect_refusal(orders_refusals[_i].text, orders_refusals[_i].message);
}
END_TEST

/* A refusal in a file names that file and the line. */
START_TEST(test_orders_error_names_file)
{
	static const char text[] = "instance = 127.0.0.1:3001\n"
	    "per_user_limit = 2\nallow_anonymous = sometimes\n";
	char	 path[PATH_MAX + 64], want[PATH_MAX + 128];

	write_file(path, sizeof(path), "orders.conf", text, strlen(text));
	snprintf(want, sizeof(want), "%s:3: sometimes: allow_anonymous must be "
	    "yes or no", path);
	ck_assert_int_eq(conf_load(&conf, path, err, sizeof(err)),
	    SPIKE_ECONFIG);
	ck_assert_str_eq(err, want);
}
END_TEST

/* ---- high availability: durability and Sentinel ------------------------ */

#define HA_INSTANCE	"instance = 127.0.0.1:3001\n"

START_TEST(test_ha_defaults)
{
	ck_assert_int_eq(parse_text(HA_INSTANCE), SPIKE_OK);
	ck_assert_int_eq(conf.durability, CONF_DURABILITY_NONE);
	ck_assert_uint_eq(conf.durability_replicas, 1);
	ck_assert_uint_eq(conf.durability_timeout_ms,
	    CONF_DEFAULT_DURABILITY_TIMEOUT_MS);
	ck_assert_uint_eq(conf.nsentinels, 0);
	ck_assert_str_eq(conf.sentinel_master, "");
}
END_TEST

START_TEST(test_ha_keys)
{
	ck_assert_int_eq(parse_text(HA_INSTANCE "durability = replicas\n"
	    "allow_anonymous = no\n"
	    "durability_replicas = 2\ndurability_timeout_ms = 250\n"
	    "redis_timeout_ms = 1000\nsentinel = 198.18.0.4:26379\n"
	    "sentinel = db.example:26380\nsentinel_master = sale-1.a_b\n"),
	    SPIKE_OK);
	ck_assert_int_eq(conf.durability, CONF_DURABILITY_REPLICAS);
	ck_assert_uint_eq(conf.durability_replicas, 2);
	ck_assert_uint_eq(conf.durability_timeout_ms, 250);
	ck_assert_uint_eq(conf.nsentinels, 2);
	ck_assert_str_eq(conf.sentinels[0], "198.18.0.4:26379");
	ck_assert_str_eq(conf.sentinels[1], "db.example:26380");
	ck_assert_str_eq(conf.sentinel_master, "sale-1.a_b");
	ck_assert_int_eq(parse_text(HA_INSTANCE "allow_anonymous = no\n"
	    "durability = replicas\ndurability_timeout_ms = 250\n"), SPIKE_OK);
	ck_assert_int_eq(parse_text(HA_INSTANCE "durability = fsync\n"),
	    SPIKE_OK);
	ck_assert_int_eq(conf.durability, CONF_DURABILITY_FSYNC);
}
END_TEST

static const struct conf_refusal ha_refusals[] = {
	{ HA_INSTANCE "durability = always\n", "t.conf:2: always: durability "
	  "must be none, fsync or replicas" },
	{ HA_INSTANCE "durability_replicas = 0\n", "t.conf:2: 0: "
	  "durability_replicas must be a whole number from 1 to 16" },
	{ HA_INSTANCE "allow_anonymous = no\ndurability = replicas\n"
	  "durability_timeout_ms = 251\n", "t.conf:4: durability_timeout_ms "
	  "(251) must be at most half of redis_timeout_ms (500): WAIT is a "
	  "Redis command, and must answer before the link times out" },
	{ HA_INSTANCE "redis_timeout_ms = 199\ndurability = replicas\n"
	  "allow_anonymous = no\n", "t.conf:3: durability_timeout_ms (100) "
	  "must be at most half of redis_timeout_ms (199): WAIT is a Redis "
	  "command, and must answer before the link times out" },
	{ HA_INSTANCE "\ndurability = replicas\n", "t.conf:3: durability = "
	  "replicas needs allow_anonymous = no: an anonymous purchase "
	  "answered 503 may still be sold, and no retry can find it again" },
	{ HA_INSTANCE "sentinel = 127.0.0.1:26379\nsentinel_master = m\n"
	  "redis = 127.0.0.1:6379\n", "t.conf:4: redis and sentinel lines "
	  "exclude each other: with Sentinel, Sentinel names the primary" },
	{ HA_INSTANCE "\nsentinel = 127.0.0.1:26379\n", "t.conf:3: sentinel "
	  "lines need a sentinel_master line" },
	{ HA_INSTANCE "sentinel_master = m\n", "t.conf:2: sentinel_master "
	  "needs sentinel lines" },
	{ HA_INSTANCE "sentinel = unix:/run/s.sock\n", "t.conf:2: "
	  "unix:/run/s.sock: a sentinel is HOST:PORT" },
	{ HA_INSTANCE "sentinel = 127.0.0.1\n", "t.conf:2: 127.0.0.1: "
	  "expected HOST:PORT or unix:PATH" },
	{ HA_INSTANCE "sentinel = h:1\nsentinel = h:1\n", "t.conf:3: "
	  "duplicate sentinel h:1" },
	{ HA_INSTANCE "sentinel_master = a b\n", "t.conf:2: a b: "
	  "sentinel_master may hold only letters, digits, '.', '_' and '-'" },
	{ HA_INSTANCE "sentinel_master = a\nsentinel_master = a\n",
	  "t.conf:3: sentinel_master given twice" },
};

START_TEST(test_ha_refusal)
{
	expect_refusal(ha_refusals[_i].text, ha_refusals[_i].message);
}
END_TEST

START_TEST(test_too_many_sentinels)
{
	char	 text[4096];
	size_t	 len;
	int	 i;

	len = (size_t)snprintf(text, sizeof(text), "%ssentinel_master = m\n",
	    HA_INSTANCE);
	for (i = 0; i <= CONF_SENTINELS_MAX; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		    "sentinel = 127.0.0.1:%d\n", 26379 + i);
	expect_refusal(text, "t.conf:11: more than 8 sentinels");
}
END_TEST

/* ---- Redis authentication and retention -------------------------------- */

START_TEST(test_auth_retention_defaults)
{
	ck_assert_int_eq(parse_text(HA_INSTANCE), SPIKE_OK);
	ck_assert_str_eq(conf.redis_user, "");
	ck_assert_str_eq(conf.redis_password_file.path, "");
	ck_assert_uint_eq(conf.order_retention_s, 86400);
	ck_assert_uint_eq(conf.events_max_len, 100000);
}
END_TEST

START_TEST(test_auth_retention_keys)
{
	ck_assert_int_eq(parse_text(HA_INSTANCE "redis_user = spike\n"
	    "redis_password_file = /etc/spike/redis.password\n"
	    "order_retention_s = 31536000\nevents_max_len = 1\n"), SPIKE_OK);
	ck_assert_str_eq(conf.redis_user, "spike");
	ck_assert_str_eq(conf.redis_password_file.path,
	    "/etc/spike/redis.password");
	ck_assert_uint_eq(conf.redis_password_file.line, 3);
	ck_assert_uint_eq(conf.order_retention_s, 31536000);
	ck_assert_uint_eq(conf.events_max_len, 1);
	ck_assert_int_eq(parse_text(HA_INSTANCE "redis_password_file = /p\n"
	    "order_retention_s = 1\nevents_max_len = 1000000000\n"), SPIKE_OK);
	ck_assert_uint_eq(conf.order_retention_s, 1);
	ck_assert_uint_eq(conf.events_max_len, 1000000000);
}
END_TEST

static const struct conf_refusal auth_refusals[] = {
	{ HA_INSTANCE "redis_user = spike\n", "t.conf:2: redis_user needs a "
	  "redis_password_file line: AUTH sends a user with its password" },
	{ "redis_password_file = redis.password\n", "t.conf:1: "
	  "redis.password: redis_password_file must be an absolute path" },
	{ "redis_user = sp\tike\n", "t.conf:1: redis_user may hold only "
	  "printable characters, no blank" },
	{ "redis_password_file = /a\nredis_password_file = /b\n", "t.conf:2: "
	  "redis_password_file given twice" },
	{ "order_retention_s = 0\n", "t.conf:1: 0: order_retention_s must be "
	  "a whole number from 1 to 31536000" },
	{ "events_max_len = 0\n", "t.conf:1: 0: events_max_len must be a "
	  "whole number from 1 to 1000000000" },
	{ "events_max_len = 1000000001\n", "t.conf:1: 1000000001: "
	  "events_max_len must be a whole number from 1 to 1000000000" },
};

START_TEST(test_auth_refusal)
{
	expect_refusal(auth_refusals[_i].text, auth_refusals[_i].message);
}
END_TEST

/* auth.c: the password file as written, read into pw, or why not. */
static enum spike_err
read_password(const char *text, size_t len, mode_t mode,
    struct auth_password *pw)
{
	char	 path[PATH_MAX + 64], conf_text[PATH_MAX + 128];

	write_file(path, sizeof(path), "redis.password", text, len);
	ck_assert_int_eq(chmod(path, mode), 0);
	snprintf(conf_text, sizeof(conf_text), HA_INSTANCE
	    "redis_password_file = %s\n", path);
	ck_assert_int_eq(parse_text(conf_text), SPIKE_OK);
	err[0] = '\0';
	return auth_read_password(&conf, pw, err, sizeof(err));
}

START_TEST(test_password_file)
{
	struct auth_password pw;

	ck_assert_int_eq(read_password("s3cret\n", 7, 0600, &pw), SPIKE_OK);
	ck_assert_str_eq(pw.text, "s3cret");
	ck_assert_uint_eq(pw.len, 6);
	ck_assert_int_eq(read_password("s3 cret\r\n", 9, 0400, &pw),
	    SPIKE_OK);
	ck_assert_str_eq(pw.text, "s3 cret");
	ck_assert_int_eq(read_password("s3cret", 6, 0600, &pw), SPIKE_OK);
	ck_assert_str_eq(pw.text, "s3cret");

	ck_assert_int_eq(read_password("s3cret\n", 7, 0640, &pw),
	    SPIKE_ECONFIG);
	ck_assert_msg(strstr(err, "t.conf:2: redis_password_file ") == err &&
	    strstr(err, ": mode 0640 lets group or others read or write it: "
	    "chmod 600 it") != NULL && strstr(err, "s3cret") == NULL, "%s",
	    err);
	ck_assert_int_eq(read_password("\n", 1, 0600, &pw), SPIKE_ECONFIG);
	ck_assert_msg(strstr(err, ": empty") != NULL, "%s", err);
	ck_assert_int_eq(read_password("one\ntwo\n", 8, 0600, &pw),
	    SPIKE_ECONFIG);
	ck_assert_msg(strstr(err, ": more than one line") != NULL &&
	    strstr(err, "two") == NULL, "%s", err);
	ck_assert_int_eq(read_password("a\0b", 3, 0600, &pw), SPIKE_ECONFIG);
}
END_TEST

/* A password of AUTH_PASSWORD_MAX bytes is taken; one more is not. */
START_TEST(test_password_file_long)
{
	static char	 text[AUTH_PASSWORD_MAX + 2];
	struct auth_password pw;

	memset(text, 'p', sizeof(text));
	ck_assert_int_eq(read_password(text, AUTH_PASSWORD_MAX, 0600, &pw),
	    SPIKE_OK);
	ck_assert_uint_eq(pw.len, AUTH_PASSWORD_MAX);
	ck_assert_int_eq(read_password(text, AUTH_PASSWORD_MAX + 1, 0600,
	    &pw), SPIKE_ECONFIG);
	ck_assert_msg(strstr(err, "longer than a password may be") != NULL,
	    "%s", err);
}
END_TEST

/* systemd's credential, when there is one, is read instead of the file. */
START_TEST(test_password_credential)
{
	struct auth_password pw;
	char		 dir[PATH_MAX + 64], path[PATH_MAX + 64];

	snprintf(dir, sizeof(dir), "%s/creds", tmpdir);
	ck_assert(mkdir(dir, 0700) == 0 || errno == EEXIST);
	write_file(path, sizeof(path), "creds/redis-password", "fromcred\n",
	    9);
	ck_assert_int_eq(chmod(path, 0400), 0);
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", dir, 1), 0);
	ck_assert_int_eq(read_password("fromfile\n", 9, 0600, &pw), SPIKE_OK);
	ck_assert_str_eq(pw.text, "fromcred");
	ck_assert_str_eq(pw.source, path);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(read_password("fromfile\n", 9, 0600, &pw), SPIKE_OK);
	ck_assert_str_eq(pw.text, "fromfile");
	ck_assert_int_eq(unsetenv("CREDENTIALS_DIRECTORY"), 0);
}
END_TEST

Suite *
make_conf_suite(void)
{
	Suite	*s = suite_create("conf");
	TCase	*tc;

	tc = tcase_create("accepted");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_minimal_file_keeps_defaults);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_numeric_lower_bounds);
	tcase_add_test(tc, test_numeric_upper_bounds);
	tcase_add_test(tc, test_redis_host_name);
	tcase_add_test(tc, test_comments_and_blank_lines);
	tcase_add_test(tc, test_spacing_around_equals);
	tcase_add_test(tc, test_crlf);
	tcase_add_test(tc, test_instance_port_canonical);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_add_loop_test(tc, test_refusal, 0,
	    (int)(sizeof(refusals) / sizeof(refusals[0])));
	tcase_add_test(tc, test_crlf_error_line);
	tcase_add_test(tc, test_value_too_long);
	tcase_add_test(tc, test_too_many_instances);
	tcase_add_test(tc, test_first_error_wins);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_load_resets_to_defaults);
	tcase_add_test(tc, test_load_error_names_file);
	tcase_add_test(tc, test_load_missing_file);
	tcase_add_test(tc, test_load_binary_file);
	tcase_add_test(tc, test_load_huge_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("lookups");
	tcase_add_test(tc, test_find_instance);
	tcase_add_test(tc, test_find_instance_missing);
	tcase_add_test(tc, test_total_weight);
	suite_add_tcase(s, tc);

	tc = tcase_create("orders");
	tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
	tcase_add_test(tc, test_orders_defaults);
	tcase_add_test(tc, test_orders_keys);
	tcase_add_test(tc, test_orders_bounds);
	tcase_add_test(tc, test_events_key_follows_stock_key);
	tcase_add_test(tc, test_events_key_of_longest_stock_key);
	tcase_add_loop_test(tc, test_orders_refusal, 0,
	    (int)(sizeof(orders_refusals) / sizeof(orders_refusals[0])));
	tcase_add_test(tc, test_orders_error_names_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("high availability");
	tcase_add_test(tc, test_ha_defaults);
	tcase_add_test(tc, test_ha_keys);
	tcase_add_loop_test(tc, test_ha_refusal, 0,
	    (int)(sizeof(ha_refusals) / sizeof(ha_refusals[0])));
	tcase_add_test(tc, test_too_many_sentinels);
	suite_add_tcase(s, tc);

	tc = tcase_create("redis auth and retention");
	tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
	tcase_add_test(tc, test_auth_retention_defaults);
	tcase_add_test(tc, test_auth_retention_keys);
	tcase_add_loop_test(tc, test_auth_refusal, 0,
	    (int)(sizeof(auth_refusals) / sizeof(auth_refusals[0])));
	tcase_add_test(tc, test_password_file);
	tcase_add_test(tc, test_password_file_long);
	tcase_add_test(tc, test_password_credential);
	suite_add_tcase(s, tc);
	return s;
}
