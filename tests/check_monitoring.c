/*
 * Integration: monitoring that drops in.  promtool (PROMTOOL, which
 * scripts/deps installs; missing, the test fails) accepts the example
 * scrape config, the alert rules and their unit tests, and every live
 * instance's /metrics as nginx serves it; spike_stock_remaining follows the
 * sale in Redis.  A private Prometheus server (PROMETHEUS, unpacked beside
 * promtool) on the example scrape config, pointed at the rig's nginx,
 * scrapes every instance through /metrics/N and loads the alert rules.
 * The Grafana dashboard is JSON (jq reads it) whose every
 * query promtool accepts and names only series spike-fcgi exports (or
 * Prometheus's up).  And the log: with JOURNAL_STREAM naming stderr, every
 * line of spike-fcgi and spikectl carries its sd-daemon priority and no
 * name or pid; without it, the "PROGRAM[PID]: LEVEL: " lines of before.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spike.h"
#include "rig_ck.h"
#include "rig_private.h"
#include "prom.h"

#define TICKETS		1000
#define BUYS		30
#define PROMTOOL_MS	budget_ms(30000)	/* it starts slowly */
#define RUN_MS		budget_ms(5000)
#define TEXT_MAX	65536
#define STRINGIFY(x)	STRINGIFY1(x)
#define STRINGIFY1(x)	#x
/* The sd-daemon(3) prefix, and the text before it ends a line. */
#define JOURNAL_LINE_RE	"^<[0-7]>[^<]"
#define CLASSIC_LINE_RE	"^spike-fcgi\\[[0-9]+\\]: (info|warning|error): "
#define CTL_CONF_ERROR	"redis = 127.0.0.1:1\nno_such_key = 1\n"

static const struct rig_options patient = {
	.redis_timeout_ms = BUDGET_PATIENT_REDIS_MS
};

/* PROMTOOL from make check, or fail: this project never skips. */
static const char *
promtool(void)
{
	const char	*p = getenv("PROMTOOL");

	ck_assert_msg(p != NULL && *p != '\0' && access(p, X_OK) == 0,
	    "promtool not found (PROMTOOL=\"%s\"): scripts/deps unpacks it "
	    "into /opt/spike-fcgi-tools/bin, or configure PROMTOOL=PATH",
	    p != NULL ? p : "");
	return p;
}

/* The whole of a small file, or "" when it cannot be read. */
static const char *
slurp(const char *path, long from)
{
	static char	 text[TEXT_MAX];
	FILE		*f;
	size_t		 n = 0;

	text[0] = '\0';
	if ((f = fopen(path, "r")) == NULL)
		return text;
	if (fseek(f, from, SEEK_SET) == 0)
		n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static long
file_size(const char *path)
{
	struct stat	 st;

	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/*
 * Run argv with its output to log (emptied first); the exit status, or
 * -1 when it did not end in time.  With journal, JOURNAL_STREAM names
 * log's device and inode, as systemd names the stream it gives a unit.
 */
static int
run(struct rig *r, char *const argv[], const char *log, bool journal)
{
	struct stat	 st;
	char		 stream[64];
	int		 fd, status;

	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(fd != -1 && fstat(fd, &st) == 0, "%s: %s", log,
	    strerror(errno));
	close(fd);
	snprintf(stream, sizeof(stream), "%ju:%ju", (uintmax_t)st.st_dev,
	    (uintmax_t)st.st_ino);
	if (journal)
		setenv("JOURNAL_STREAM", stream, 1);
	if (!rig_run(r, argv, log, RUN_MS, &status))
		status = -1;
	unsetenv("JOURNAL_STREAM");
	return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Run promtool with args; fails the test with its output unless exit 0. */
static void
promtool_ok(struct rig *r, char *const args[])
{
	char		*argv[8] = { (char *)promtool() };
	char		 log[RIG_PATH_MAX + 32];
	const char	*output;
	int		 i, status;

	for (i = 0; args[i] != NULL && i < 6; i++)
		argv[i + 1] = args[i];
	snprintf(log, sizeof(log), "%s/promtool.log", r->dir);
	status = run(r, argv, log, false);
	/* Read before a failing assertion removes the rig's directory. */
	output = slurp(log, 0);
	ck_assert_msg(status == 0, "promtool %s %s %s: exit %d\n%s", args[0],
	    args[1], args[2], status, output);
}

/* The example's path in the source tree. */
static const char *
example(const char *name)
{
	static char	 path[2][RIG_PATH_MAX];
	static int	 k;
	const char	*top = getenv("top_srcdir");

	k = !k;
	snprintf(path[k], sizeof(path[k]), "%s/scripts/prometheus/%s",
	    top != NULL ? top : ".", name);
	return path[k];
}

START_TEST(test_examples)
{
	struct rig	 r;

	ck_assert_msg(rig_init(&r, &patient), "%s", r.err);
	promtool_ok(&r, (char *[]){ "check", "config",
	    (char *)example("prometheus.yml"), NULL });
	promtool_ok(&r, (char *[]){ "check", "rules",
	    (char *)example("spike-fcgi.rules.yml"), NULL });
	promtool_ok(&r, (char *[]){ "test", "rules",
	    (char *)example("spike-fcgi.rules.test.yml"), NULL });
	rig_stop(&r);
}
END_TEST

/* JQ from make check, or fail. */
static const char *
jq(void)
{
	const char	*p = getenv("JQ");

	ck_assert_msg(p != NULL && *p != '\0' && access(p, X_OK) == 0,
	    "jq not found (JQ=\"%s\"): scripts/deps installs it", p != NULL ?
	    p : "");
	return p;
}

/*
 * Every spike_ name in expr is a family of the exposition p, a histogram
 * named with its _bucket, _sum or _count.
 */
static void
names_exported(const struct prom *p, const char *expr)
{
	static const char *const parts[] = { "_bucket", "_sum", "_count" };
	const char	*s = expr;
	char		 name[PROM_NAME_MAX];
	size_t		 n, k, len;

	while ((s = strstr(s, "spike_")) != NULL) {
		n = strspn(s, "abcdefghijklmnopqrstuvwxyz_");
		snprintf(name, sizeof(name), "%.*s", (int)n, s);
		s += n;
		if (prom_type(p, name) != NULL)
			continue;
		for (k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
			len = strlen(parts[k]);
			if (n > len && strcmp(name + n - len, parts[k]) == 0) {
				name[n - len] = '\0';
				break;
			}
		}
		ck_assert_msg(prom_type(p, name) != NULL && strcmp(prom_type(p,
		    name), "histogram") == 0, "dashboard: %s is not exported: "
		    "%s", name, expr);
	}
}

START_TEST(test_dashboard)
{
	static char	 exposition[METRICS_TEXT_MAX];
	struct rig	 r;
	struct stock	 s;
	struct prom	 p;
	char		 exprs[RIG_PATH_MAX + 32], rules[RIG_PATH_MAX + 32];
	char		 line[2048];
	char		*check[] = { (char *)jq(), "-e",
	    "type == \"object\" and (.panels | length) > 0",
	    (char *)example("spike-fcgi.dashboard.json"), NULL };
	char		*extract[] = { "/bin/sh", "-c",
	    "exec \"$0\" -r '.. | .expr? // empty' \"$1\"", (char *)jq(),
	    (char *)example("spike-fcgi.dashboard.json"), NULL };
	const char	*output;
	FILE		*in, *out;
	size_t		 len;
	int		 n = 0, status;

	ck_assert_msg(rig_init(&r, &patient), "%s", r.err);
	stock_init(&s);
	atomic_store(&s.synced, true);
	len = metrics_format(exposition, sizeof(exposition), &s, true);
	ck_assert(len > 0 && prom_parse(&p, strstr(exposition, "\r\n\r\n") +
	    4));
	snprintf(exprs, sizeof(exprs), "%s/exprs.txt", r.dir);
	snprintf(rules, sizeof(rules), "%s/dashboard.rules.yml", r.dir);
	status = run(&r, check, exprs, false);
	output = slurp(exprs, 0);
	ck_assert_msg(status == 0, "jq: the dashboard is not JSON with "
	    "panels: exit %d\n%s", status, output);
	status = run(&r, extract, exprs, false);
	ck_assert_int_eq(status, 0);

	/* Each query as a recording rule, for promtool to parse. */
	ck_assert((in = fopen(exprs, "r")) != NULL);
	ck_assert((out = fopen(rules, "w")) != NULL);
	fputs("groups:\n  - name: dashboard\n    rules:\n", out);
	while (fgets(line, sizeof(line), in) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		ck_assert_msg(strchr(line, '\'') == NULL, "%s", line);
		names_exported(&p, line);
		fprintf(out, "      - record: dashboard:query%d\n"
		    "        expr: '%s'\n", ++n, line);
	}
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
	ck_assert_int_ge(n, 10);
	promtool_ok(&r, (char *[]){ "check", "rules", rules, NULL });
	prom_free(&p);
	rig_stop(&r);
}
END_TEST

/* GET /metrics/<i+1> through nginx into path; returns the body. */
static const char *
scrape(struct rig *r, int i, const char *path, struct prom *p)
{
	static struct rig_reply rep;
	char		 target[32];
	FILE		*f;

	snprintf(target, sizeof(target), "/metrics/%d", i + 1);
	ck_assert_msg(rig_get(r, target, &rep), "%s: %s", target, r->err);
	ck_assert_msg(rep.status == 200, "%s: %d", target, rep.status);
	ck_assert_msg((f = fopen(path, "w")) != NULL, "%s", path);
	ck_assert_uint_eq(fwrite(rep.body, 1, rep.body_len, f), rep.body_len);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_msg(prom_parse(p, rep.body), "%s: %s", target, p->err);
	return rep.body;
}

/*
 * Copy the example name into dir, with each edits[k][0] in its text
 * replaced by edits[k][1].
 */
static void
copy_example(const char *name, const char *dir, const char *const edits[][2],
    size_t nedits)
{
	static char	 text[2 * TEXT_MAX];
	char		 path[RIG_PATH_MAX + 64], *at;
	size_t		 k, from, to;
	FILE		*f;

	snprintf(text, sizeof(text), "%s", slurp(example(name), 0));
	ck_assert_msg(*text != '\0', "%s: empty", example(name));
	for (k = 0; k < nedits; k++) {
		from = strlen(edits[k][0]);
		to = strlen(edits[k][1]);
		for (at = text; (at = strstr(at, edits[k][0])) != NULL;
		    at += to) {
			ck_assert(strlen(text) + to - from < sizeof(text));
			memmove(at + to, at + from, strlen(at + from) + 1);
			memcpy(at, edits[k][1], to);
		}
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert((f = fopen(path, "w")) != NULL);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* GET target from the Prometheus at port; the JSON body, or fails. */
static const char *
prometheus_get(int port, const char *target)
{
	static struct rig_reply rep;
	struct rig_http	 h;
	char		 err[256];
	bool		 ok;

	rig_http_init(&h, port);
	ok = rig_http_request(&h, "GET", target, NULL, NULL, 0, &rep, err,
	    sizeof(err));
	rig_http_close(&h);
	if (!ok || rep.status != 200)
		return "";
	return rep.body;
}

/* How many times needle is in text. */
static int
count(const char *text, const char *needle)
{
	int	 n = 0;

	while ((text = strstr(text, needle)) != NULL) {
		n++;
		text += strlen(needle);
	}
	return n;
}

/*
 * The example scrape config as it is, but for nginx's address and a
 * scrape and evaluation every second: Prometheus finds every instance at
 * /metrics/N, labels it 127.0.0.1:PORT/metrics/N, and evaluates each
 * alert rule.
 */
START_TEST(test_scrape_config)
{
	static const char *const alerts[] = { "SpikeRedisDown",
	    "SpikeInstanceDown", "SpikeSaleStalled", "SpikeHigh5xxRate" };
	const char	*prometheus = getenv("PROMETHEUS");
	struct rig	 r;
	struct rig_proc	 server = { 0 };
	char		 dir[RIG_PATH_MAX + 32], conf[RIG_PATH_MAX + 64];
	char		 data[RIG_PATH_MAX + 64], log[RIG_PATH_MAX + 64];
	char		 nginx[64], listen[64], flag[RIG_PATH_MAX + 64];
	char		 want[128];
	const char	*body = "";
	double		 end;
	int		 port, i;

	ck_assert_msg(prometheus != NULL && *prometheus != '\0' &&
	    access(prometheus, X_OK) == 0, "prometheus not found "
	    "(PROMETHEUS=\"%s\"): scripts/deps unpacks it into "
	    "/opt/spike-fcgi-tools/bin", prometheus != NULL ? prometheus : "");
	rig_ck_start(&r, &patient, TICKETS);
	snprintf(nginx, sizeof(nginx), "127.0.0.1:%d", r.http_port);
	{
		const char *const edits[][2] = { { "127.0.0.1:80", nginx },
		    { "_interval: 15s", "_interval: 1s" } };

		snprintf(dir, sizeof(dir), "%s/prometheus", r.dir);
		ck_assert_int_eq(mkdir(dir, 0700), 0);
		copy_example("prometheus.yml", dir, edits, 2);
		copy_example("spike-fcgi.rules.yml", dir, edits, 0);
	}
	port = rig_free_port();
	snprintf(conf, sizeof(conf), "--config.file=%s/prometheus.yml", dir);
	snprintf(data, sizeof(data), "--storage.tsdb.path=%s/data", dir);
	snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d",
	    port);
	snprintf(log, sizeof(log), "%s/prometheus.log", dir);
	snprintf(flag, sizeof(flag), "--log.level=warn");
	server.pid = rig_spawn(&r, (char *[]){ (char *)prometheus, conf, data,
	    listen, flag, NULL }, log, false);
	ck_assert_msg(server.pid > 0, "%s", r.err);

	/* Every instance up, by the label the relabelling made. */
	end = rig_now_ms() + budget_ms(30000);
	for (;;) {
		body = prometheus_get(port, "/api/v1/query?query=up");
		if (count(body, "\"value\":[") == RIG_INSTANCES &&
		    count(body, "\"1\"]") == RIG_INSTANCES)
			break;
		if (rig_now_ms() > end)
			break;
		rig_sleep_ms(200);
	}
	for (i = 1; i <= RIG_INSTANCES; i++) {
		snprintf(want, sizeof(want), "\"instance\":\"%s/metrics/%d\"",
		    nginx, i);
		ck_assert_msg(strstr(body, want) != NULL, "up: no %s in %s\n%s",
		    want, body, slurp(log, 0));
	}
	ck_assert_msg(count(body, "\"1\"]") == RIG_INSTANCES, "up: %s",
	    body);
	body = prometheus_get(port,
	    "/api/v1/query?query=spike_stock_remaining");
	ck_assert_msg(count(body, "\"" STRINGIFY(TICKETS) "\"]") ==
	    RIG_INSTANCES, "spike_stock_remaining: %s", body);

	/* Each alert rule loaded and evaluated without error. */
	end = rig_now_ms() + budget_ms(10000);
	while (count(body = prometheus_get(port, "/api/v1/rules"),
	    "\"health\":\"ok\"") < 4 && rig_now_ms() < end)
		rig_sleep_ms(200);
	for (i = 0; i < 4; i++)
		ck_assert_msg(strstr(body, alerts[i]) != NULL, "rules: no %s: "
		    "%s", alerts[i], body);
	ck_assert_msg(count(body, "\"health\":\"ok\"") == 4, "rules: %s",
	    body);
	ck_assert(rig_proc_stop(&server, SIGTERM, RIG_STOP_TIMEOUT_MS));
	rig_stop(&r);
}
END_TEST

/* Every instance's spike_stock_remaining is left, within a sync or two. */
static void
remaining_wait(struct rig *r, long long left)
{
	char		 path[RIG_PATH_MAX + 32];
	struct prom	 p;
	double		 v = -1, end = rig_now_ms() + 2 * BUDGET_SYNC_MS(
			    CONF_DEFAULT_SYNC_MS, BUDGET_PATIENT_REDIS_MS);
	int		 i;

	snprintf(path, sizeof(path), "%s/metrics.txt", r->dir);
	for (i = 0; i < RIG_INSTANCES; i++) {
		for (;;) {
			scrape(r, i, path, &p);
			prom_value(&p, "spike_stock_remaining", "", &v);
			prom_free(&p);
			if (v == left || rig_now_ms() > end)
				break;
			rig_sleep_ms(50);
		}
		ck_assert_msg(v == left, "instance %d: spike_stock_remaining "
		    "%g, Redis has %lld left", i, v, left);
	}
}

START_TEST(test_live_metrics)
{
	struct rig	 r;
	struct rig_reply rep;
	struct prom	 p;
	char		 path[RIG_PATH_MAX + 32], target[64], version[64];
	char		*argv[] = { "/bin/sh", "-c",
	    "exec \"$0\" check metrics <\"$1\"", (char *)promtool(), path,
	    NULL };
	char		 log[RIG_PATH_MAX + 32];
	const char	*output;
	int		 i, status;

	rig_ck_start(&r, &patient, TICKETS);
	remaining_wait(&r, TICKETS);
	for (i = 0; i < BUYS; i++) {
		snprintf(target, sizeof(target), "/buy/ticket?user=mon%d", i);
		ck_assert_msg(rig_get(&r, target, &rep), "%s", r.err);
		ck_assert_int_eq(rep.code, 1);
	}
	remaining_wait(&r, TICKETS - BUYS);
	snprintf(path, sizeof(path), "%s/metrics.txt", r.dir);
	snprintf(log, sizeof(log), "%s/promtool.log", r.dir);
	snprintf(version, sizeof(version), "version=\"%s\"", PACKAGE_VERSION);
	for (i = 0; i < RIG_INSTANCES; i++) {
		double	 v = 0;

		scrape(&r, i, path, &p);
		ck_assert_msg(prom_value(&p, "spike_build_info", version, &v) &&
		    v == 1, "instance %d: no spike_build_info{%s} 1", i,
		    version);
		ck_assert_msg(prom_value(&p, "spike_stock_tickets", "", &v) &&
		    v == TICKETS, "instance %d: spike_stock_tickets %g", i, v);
		prom_free(&p);
		status = run(&r, argv, log, false);
		output = slurp(log, 0);
		ck_assert_msg(status == 0 && *output == '\0',
		    "promtool check metrics /metrics/%d: exit %d\n%s", i + 1,
		    status, output);
	}
	rig_stop(&r);
}
END_TEST

/* Each line of text matches re; returns how many lines there are. */
static int
lines_match(const char *text, const char *re, const char *what)
{
	regex_t		 rx;
	char		 line[1024];
	const char	*nl;
	int		 n = 0;

	ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
	for (; *text != '\0'; text = nl + 1, n++) {
		ck_assert_msg((nl = strchr(text, '\n')) != NULL,
		    "%s: unterminated line: %s", what, text);
		snprintf(line, sizeof(line), "%.*s", (int)(nl - text), text);
		ck_assert_msg(regexec(&rx, line, 0, NULL, 0) == 0,
		    "%s: line not like %s: %s", what, re, line);
	}
	regfree(&rx);
	return n;
}

/* Wait until instance i's log from offset holds needle. */
static const char *
log_wait(struct rig *r, const char *log, long from, const char *needle)
{
	double		 end = rig_now_ms() + BUDGET_UP_MS;
	const char	*text;

	while (strstr(text = slurp(log, from), needle) == NULL &&
	    rig_now_ms() < end)
		rig_sleep_ms(20);
	ck_assert_msg(strstr(text, needle) != NULL, "%s: no \"%s\" in:\n%s",
	    log, needle, text);
	(void)r;
	return text;
}

/*
 * An instance restarted with JOURNAL_STREAM naming its log: start-up at
 * <6>, a refused FastCGI stream at <4>, shutdown at <6>, nothing else and
 * no name or pid; the instances started without it kept the old lines.
 */
START_TEST(test_journal_instance)
{
	static const char garbage[] = "GET / HTTP/1.0\r\n\r\n";
	struct rig	 r;
	struct stat	 st;
	char		 log[RIG_PATH_MAX + 32], stream[64];
	const char	*text;
	long		 from;
	int		 status;

	rig_ck_start(&r, &patient, TICKETS);
	snprintf(log, sizeof(log), "%s/instance-%d.log", r.dir, r.inst[0].port);
	text = slurp(log, 0);
	ck_assert_int_gt(lines_match(text, CLASSIC_LINE_RE, log), 0);
	ck_assert_msg(strstr(text, ": info: serving on ") != NULL, "%s", text);

	snprintf(log, sizeof(log), "%s/instance-%d.log", r.dir, r.inst[1].port);
	ck_assert(rig_instance_kill(&r, 1, SIGTERM));
	ck_assert_msg(rig_instance_wait(&r, 1, BUDGET_TERM_MS, &status, NULL),
	    "%s", r.err);
	from = file_size(log);
	ck_assert_int_eq(stat(log, &st), 0);
	snprintf(stream, sizeof(stream), "%ju:%ju", (uintmax_t)st.st_dev,
	    (uintmax_t)st.st_ino);
	setenv("JOURNAL_STREAM", stream, 1);
	ck_assert_msg(rig_instance_start(&r, 1), "%s", r.err);
	unsetenv("JOURNAL_STREAM");
	log_wait(&r, log, from, "<6>serving on ");
	ck_assert_msg(rig_send_raw(&r, r.inst[1].port, garbage,
	    sizeof(garbage) - 1), "%s", r.err);
	log_wait(&r, log, from, "<4>closed the FastCGI connection");
	ck_assert(rig_instance_kill(&r, 1, SIGTERM));
	ck_assert_msg(rig_instance_wait(&r, 1, BUDGET_TERM_MS, &status, NULL),
	    "%s", r.err);
	text = log_wait(&r, log, from, "<6>stopped after ");
	ck_assert_int_ge(lines_match(text, JOURNAL_LINE_RE, log), 3);
	ck_assert_msg(strstr(text, "spike-fcgi[") == NULL && strstr(text,
	    "info:") == NULL, "name, pid or level in journal lines:\n%s", text);
	rig_stop(&r);
}
END_TEST

/*
 * A fatal configuration error is <3> and names FILE:LINE, from spike-fcgi
 * and from spikectl; stderr that is not the stream JOURNAL_STREAM names,
 * or no JOURNAL_STREAM, gives the old lines, with "error".
 */
START_TEST(test_journal_fatal)
{
	struct rig	 r;
	char		 conf[RIG_PATH_MAX + 32], log[RIG_PATH_MAX + 32];
	char		 want[RIG_PATH_MAX + 64];
	char		*fcgi[] = { NULL, "-t", "-c", conf, NULL };
	char		*ctl[] = { NULL, "-c", conf, "spawn", "127.0.0.1:1",
	    NULL };
	const char	*text;
	FILE		*f;

	ck_assert_msg(rig_init(&r, &patient), "%s", r.err);
	fcgi[0] = r.spike_fcgi;
	ctl[0] = r.spikectl;
	snprintf(conf, sizeof(conf), "%s/bad.conf", r.dir);
	snprintf(log, sizeof(log), "%s/fatal.log", r.dir);
	ck_assert((f = fopen(conf, "w")) != NULL);
	fputs(CTL_CONF_ERROR, f);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(want, sizeof(want), "<3>%s:2: ", conf);

	ck_assert_int_eq(run(&r, fcgi, log, true), 1);
	text = slurp(log, 0);
	ck_assert_msg(strncmp(text, want, strlen(want)) == 0, "%s", text);
	ck_assert_int_eq(lines_match(text, JOURNAL_LINE_RE, log), 1);
	ck_assert_int_eq(run(&r, ctl, log, true), 1);
	text = slurp(log, 0);
	ck_assert_msg(strncmp(text, want, strlen(want)) == 0, "%s", text);

	snprintf(want, sizeof(want), ": error: %s:2: ", conf);
	ck_assert_int_eq(run(&r, fcgi, log, false), 1);
	text = slurp(log, 0);
	ck_assert_int_eq(lines_match(text, CLASSIC_LINE_RE, log), 1);
	ck_assert_msg(strstr(text, want) != NULL, "%s", text);
	setenv("JOURNAL_STREAM", "1:1", 1);	/* some other stream */
	ck_assert_int_eq(run(&r, fcgi, log, false), 1);
	unsetenv("JOURNAL_STREAM");
	ck_assert_int_eq(lines_match(slurp(log, 0), CLASSIC_LINE_RE, log), 1);
	snprintf(want, sizeof(want), "spikectl: %s:2: ", conf);
	ck_assert_int_eq(run(&r, ctl, log, false), 1);
	text = slurp(log, 0);
	ck_assert_msg(strncmp(text, want, strlen(want)) == 0, "%s", text);
	rig_stop(&r);
}
END_TEST

static Suite *
monitoring_suite(void)
{
	Suite	*s = suite_create("monitoring");
	TCase	*prom = tcase_create("promtool");
	TCase	*journal = tcase_create("journal");

	tcase_set_timeout(prom, 120);
	tcase_add_test(prom, test_examples);
	tcase_add_test(prom, test_dashboard);
	tcase_add_test(prom, test_live_metrics);
	tcase_add_test(prom, test_scrape_config);
	suite_add_tcase(s, prom);
	tcase_set_timeout(journal, 60);
	tcase_add_test(journal, test_journal_instance);
	tcase_add_test(journal, test_journal_fatal);
	suite_add_tcase(s, journal);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(monitoring_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
