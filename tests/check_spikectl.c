/*
 * spikectl: its nginx transform on made-up templates (unit), then the
 * real binary against a real Redis, four real spike-fcgi instances and a
 * real nginx run on its own output (the rig starts every integration test
 * through init, spawn and nginx-conf; check_sale judges the spread by
 * weight): init refuses a live sale without --force, status matches what
 * was sold, nginx-conf names every instance with its weight, check
 * catches a bad stock hash and an unreachable Redis, a bad config says
 * FILE:LINE, exit codes hold.
 */
#include "config.h"

#include <check.h>

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "rig_ck.h"
#include "spike.h"

#define K		RIG_STOCK_KEY
#define OUT_MAX		65536

/* What one spikectl run printed, and its exit status. */
struct ctl_run {
	int	 status;	/* exit status, or -1 when it did not exit */
	char	 out[OUT_MAX];
	char	 err[OUT_MAX];
};

/* ---- small helpers ------------------------------------------------------ */

/* Read a whole small file into buf; "" when it cannot. */
static void
slurp(const char *path, char *buf, size_t bufsz)
{
	FILE	*f;
	size_t	 n = 0;

	buf[0] = '\0';
	if ((f = fopen(path, "r")) == NULL)
		return;
	n = fread(buf, 1, bufsz - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void
spit(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static const char *
spikectl_path(void)
{
	const char	*p = getenv("SPIKECTL");

	ck_assert_msg(p != NULL && access(p, X_OK) == 0,
	    "SPIKECTL is not set to an executable (run through make check)");
	return p;
}

/*
 * Run argv (NULL-terminated) with stdout and stderr into files of dir;
 * fills run.  The child dies with us.
 */
static void
run_argv(const char *dir, char *const argv[], struct ctl_run *run)
{
	char	 out[RIG_PATH_MAX + 16], err[RIG_PATH_MAX + 16];
	pid_t	 pid;
	int	 st, fd;

	snprintf(out, sizeof(out), "%s/run.out", dir);
	snprintf(err, sizeof(err), "%s/run.err", dir);
	ck_assert_msg((pid = fork()) != -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		unsetenv("NGINX");	/* nginx reads it as inherited sockets */
		if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1)
			dup2(fd, 1);
		if ((fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1)
			dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	run->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	slurp(out, run->out, sizeof(run->out));
	slurp(err, run->err, sizeof(run->err));
}

/* spikectl -c conf ARGS...; the argument list ends with NULL. */
static void
ctl(const char *dir, const char *conf, struct ctl_run *run, ...)
{
	char	*argv[16];
	va_list	 ap;
	int	 n = 0;

	argv[n++] = (char *)spikectl_path();
	if (conf != NULL) {
		argv[n++] = "-c";
		argv[n++] = (char *)conf;
	}
	va_start(ap, run);
	while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	run_argv(dir, argv, run);
}

/* One Redis command on the rig's Redis; the reply (caller frees). */
static redisReply *
rcmd(struct rig *r, const char *fmt, ...)
{
	struct timeval	 tv = { 3, 0 };
	redisContext	*c;
	redisReply	*rep;
	va_list		 ap;

	c = redisConnectWithTimeout("127.0.0.1", r->redis.port, tv);
	ck_assert_msg(c != NULL && c->err == 0, "redis connect");
	va_start(ap, fmt);
	rep = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_msg(rep != NULL, "redis %s: %s", fmt, c->errstr);
	redisFree(c);
	return rep;
}

/* Run a Redis command whose reply does not matter but must not fail. */
static void
rdo(struct rig *r, const char *fmt, ...)
{
	struct timeval	 tv = { 3, 0 };
	redisContext	*c;
	redisReply	*rep;
	va_list		 ap;

	c = redisConnectWithTimeout("127.0.0.1", r->redis.port, tv);
	ck_assert_msg(c != NULL && c->err == 0, "redis connect");
	va_start(ap, fmt);
	rep = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_msg(rep != NULL && rep->type != REDIS_REPLY_ERROR,
	    "redis %s: %s", fmt, rep ? rep->str : c->errstr);
	freeReplyObject(rep);
	redisFree(c);
}

/* A string or integer reply as text ("(nil)" for nil). */
static void
rget(struct rig *r, char *buf, size_t bufsz, const char *fmt, const char *a,
    const char *b)
{
	redisReply	*rep = rcmd(r, fmt, a, b);

	if (rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_STATUS)
		snprintf(buf, bufsz, "%s", rep->str);
	else if (rep->type == REDIS_REPLY_INTEGER)
		snprintf(buf, bufsz, "%lld", rep->integer);
	else
		snprintf(buf, bufsz, "(nil)");
	freeReplyObject(rep);
}

static void
start_redis(struct rig *r)
{
	ck_assert_msg(rig_init(r, NULL), "rig: %s", r->err);
	ck_assert_msg(rig_redis_start(r), "rig: %s", r->err);
}

/* ---- a small JSON reader ------------------------------------------------ */

static const char *json_skip(const char *);

static const char *
json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* Skip a JSON string at p (at its quote); NULL when malformed. */
static const char *
json_skip_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if (*p == '\0' || (unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\' && *++p == '\0')
			return NULL;
	}
	return p + 1;
}

static const char *
json_skip_number(const char *p)
{
	const char	*start;

	if (*p == '-')
		p++;
	start = p;
	while (isdigit((unsigned char)*p))
		p++;
	if (p == start || (start[0] == '0' && p - start > 1))
		return NULL;
	return p;
}

/* Skip an object or array at p; NULL when malformed. */
static const char *
json_skip_container(const char *p)
{
	char	 close = *p == '{' ? '}' : ']';
	bool	 object = *p == '{';

	p = json_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (object) {
			if ((p = json_skip_string(json_ws(p))) == NULL)
				return NULL;
			if (*(p = json_ws(p)) != ':')
				return NULL;
			p++;
		}
		if ((p = json_skip(p)) == NULL)
			return NULL;
		p = json_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

/* Skip one JSON value at p (after blanks); NULL when malformed. */
static const char *
json_skip(const char *p)
{
	p = json_ws(p);
	if (*p == '{' || *p == '[')
		return json_skip_container(p);
	if (*p == '"')
		return json_skip_string(p);
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	return json_skip_number(p);
}

static bool
json_valid(const char *doc)
{
	const char	*end = json_skip(doc);

	return end != NULL && *json_ws(end) == '\0';
}

/* Step into member key of the object at p, or element key (a number). */
static const char *
json_step(const char *p, const char *key, size_t keylen)
{
	long	 index = isdigit((unsigned char)key[0]) ? atol(key) : -1;
	bool	 object = *(p = json_ws(p)) == '{';
	const char *k;

	if (*p != '{' && *p != '[')
		return NULL;
	p = json_ws(p + 1);
	for (long i = 0; *p != '}' && *p != ']'; i++) {
		if (object) {
			k = p + 1;
			p = json_ws(json_skip_string(p)) + 1;
			if ((size_t)(strchr(k, '"') - k) == keylen &&
			    strncmp(k, key, keylen) == 0)
				return json_ws(p);
		} else if (i == index)
			return json_ws(p);
		p = json_ws(json_skip(p));
		if (*p == ',')
			p = json_ws(p + 1);
	}
	return NULL;
}

/* The value at a dotted path ("sale.sold", "instances.0.weight"), or NULL. */
static const char *
json_at(const char *doc, const char *path)
{
	const char	*p = doc, *dot;
	size_t		 len;

	while (p != NULL && *path != '\0') {
		dot = strchr(path, '.');
		len = dot != NULL ? (size_t)(dot - path) : strlen(path);
		p = json_step(p, path, len);
		path += len + (dot != NULL);
	}
	return p;
}

/* The number at path; fails the test when there is none. */
static long long
json_ll(const char *doc, const char *path)
{
	const char	*p = json_at(doc, path);

	ck_assert_msg(p != NULL && (isdigit((unsigned char)*p) || *p == '-'),
	    "no number at %s in %s", path, doc);
	return atoll(p);
}

static bool
json_is(const char *doc, const char *path, const char *literal)
{
	const char	*p = json_at(doc, path);

	return p != NULL && strncmp(p, literal, strlen(literal)) == 0;
}

/* ---- unit: the nginx transform ---------------------------------------- */

static const char tmpl_small[] =
    "# The seed: 10.0.0.1:1 and 10.0.0.1:2.\n"
    "upstream u {\n"
    "\tserver 10.0.0.1:1 weight=1 max_fails=1;\n"
    "\tserver 10.0.0.1:2 weight=2 max_fails=1;\n"
    "\tkeepalive 2;\n"
    "}\n"
    "map $n $a {\n"
    "\t1 10.0.0.1:1;\n"
    "\t2 10.0.0.1:2;\n"
    "}\n"
    "server {\n"
    "\tlisten 127.0.0.1:8080;\n"
    "\t# instance 10.0.0.1:1 is the first\n"
    "\tlocation = /m/1 { fastcgi_pass 10.0.0.1:1; }\n"
    "\tlocation = /m/2 { fastcgi_pass 10.0.0.1:2; }\n"
    "\tlocation ~ ^/x/([1-2])$ { return 200 '{\"n\":1..2}'; }\n"
    "\tlocation /h/1 {\n"
    "\t\tallow 127.0.0.1;\n"
    "\t\tfastcgi_pass 10.0.0.1:1;\n"
    "\t}\n"
    "\tlocation /h/2 {\n"
    "\t\tallow 127.0.0.1;\n"
    "\t\tfastcgi_pass 10.0.0.1:2;\n"
    "\t}\n"
    "}\n";

static const char want_small[] =
    "# HEADER\n"
    "upstream u {\n"
    "\tserver 127.0.0.1:5001 weight=7 max_fails=1;\n"
    "\tserver unix:/run/s-b.sock weight=2 max_fails=1;\n"
    "\tserver 127.0.0.1:5003 weight=1 max_fails=1;\n"
    "\tkeepalive 2;\n"
    "}\n"
    "map $n $a {\n"
    "\t1 127.0.0.1:5001;\n"
    "\t2 unix:/run/s-b.sock;\n"
    "\t3 127.0.0.1:5003;\n"
    "}\n"
    "server {\n"
    "\tlisten [::1]:9999;\n"
    "\tlocation = /m/1 { fastcgi_pass 127.0.0.1:5001; }\n"
    "\tlocation = /m/2 { fastcgi_pass unix:/run/s-b.sock; }\n"
    "\tlocation = /m/3 { fastcgi_pass 127.0.0.1:5003; }\n"
    "\tlocation ~ ^/x/([1-3])$ { return 200 '{\"n\":1..3}'; }\n"
    "\tlocation /h/1 {\n"
    "\t\tallow 127.0.0.1;\n"
    "\t\tfastcgi_pass 127.0.0.1:5001;\n"
    "\t}\n"
    "\tlocation /h/2 {\n"
    "\t\tallow 127.0.0.1;\n"
    "\t\tfastcgi_pass unix:/run/s-b.sock;\n"
    "\t}\n"
    "\tlocation /h/3 {\n"
    "\t\tallow 127.0.0.1;\n"
    "\t\tfastcgi_pass 127.0.0.1:5003;\n"
    "\t}\n"
    "}\n";

static void
parse_conf(struct conf *c, const char *text)
{
	char	 err[CONF_ERR_MAX];

	conf_defaults(c);
	ck_assert_msg(conf_parse(c, "test.conf", text, err, sizeof(err)) ==
	    SPIKE_OK, "%s", err);
}

START_TEST(test_render_exact)
{
	struct conf	 c;
	char		*out, err[256];

	parse_conf(&c, "instance = 127.0.0.1:5001 weight=7\n"
	    "instance = unix:/run/s-b.sock weight=2\n"
	    "instance = 127.0.0.1:5003\n");
	ck_assert_int_eq(ctl_nginx_render(tmpl_small, &c, "# HEADER\n",
	    "[::1]:9999", &out, err, sizeof(err)), SPIKE_OK);
	ck_assert_str_eq(out, want_small);
	free(out);
}
END_TEST

START_TEST(test_render_keeps_listen_and_adds_weight)
{
	static const char tmpl[] =
	    "upstream u {\n\tserver 10.0.0.1:1;\n\tserver 10.0.0.1:2;\n}\n"
	    "server {\n\tlisten 127.0.0.1:8080;\n}\n";
	struct conf	 c;
	char		*out, err[256];

	parse_conf(&c, "instance = 127.0.0.1:5001 weight=3\n");
	ck_assert_int_eq(ctl_nginx_render(tmpl, &c, "", NULL, &out, err,
	    sizeof(err)), SPIKE_OK);
	ck_assert_str_eq(out, "upstream u {\n"
	    "\tserver 127.0.0.1:5001 weight=3;\n}\n"
	    "server {\n\tlisten 127.0.0.1:8080;\n}\n");
	free(out);
}
END_TEST

/* --server-name replaces the names of a server_name line, only there. */
START_TEST(test_render_server_names)
{
	static const char tmpl[] =
	    "upstream u {\n\tserver 10.0.0.1:1;\n}\n"
	    "server {\n\tlisten 127.0.0.1:8080;\n"
	    "\t# server_name in a comment\n\tserver_name localhost;\n}\n";
	static const char *const names[] = { "a.example", "*.b.example" };
	struct ctl_nginx_opts opts = { .listen = "80", .server_names = names,
	    .nserver_names = 2 };
	struct conf	 c;
	char		*out, err[256];

	parse_conf(&c, "instance = 127.0.0.1:5001 weight=3\n");
	ck_assert_int_eq(ctl_nginx_render_opts(tmpl, &c, "", &opts, &out,
	    err, sizeof(err)), SPIKE_OK);
	ck_assert_str_eq(out, "upstream u {\n"
	    "\tserver 127.0.0.1:5001 weight=3;\n}\n"
	    "server {\n\tlisten 80;\n\t# server_name in a comment\n"
	    "\tserver_name a.example *.b.example localhost 127.0.0.1;\n}\n");
	free(out);
	opts.nserver_names = 0;
	ck_assert_int_eq(ctl_nginx_render_opts(tmpl, &c, "", &opts, &out,
	    err, sizeof(err)), SPIKE_OK);
	ck_assert_msg(strstr(out, "\tserver_name localhost;\n") != NULL,
	    "%s", out);
	free(out);
}
END_TEST

START_TEST(test_render_many_instances)
{
	struct conf	 c;
	char		 text[4096], *out, err[256];
	size_t		 n = 0;
	int		 i;

	for (i = 1; i <= 23; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "instance = 127.0.0.1:%d weight=%d\n", 6000 + i, i);
	parse_conf(&c, text);
	ck_assert_int_eq(ctl_nginx_render(tmpl_small, &c, "", NULL, &out, err,
	    sizeof(err)), SPIKE_OK);
	ck_assert_msg(strstr(out, "^/x/((?:[1-9]|1[0-9]|2[0-3]))$") != NULL,
	    "no class for 1..23 in:\n%s", out);
	ck_assert_msg(strstr(out, "\tserver 127.0.0.1:6023 weight=23 "
	    "max_fails=1;\n") != NULL, "no 23rd server in:\n%s", out);
	ck_assert_msg(strstr(out, "location /h/23 {") != NULL &&
	    strstr(out, "\t23 127.0.0.1:6023;\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "10.0.0.1") == NULL, "a seed is left:\n%s",
	    out);
	free(out);
}
END_TEST

START_TEST(test_render_errors)
{
	struct conf	 c;
	char		*out, err[256];

	parse_conf(&c, "instance = 127.0.0.1:5001\n");
	ck_assert_int_eq(ctl_nginx_render("server {\n}\n", &c, "", NULL, &out,
	    err, sizeof(err)), SPIKE_ECONFIG);
	ck_assert_ptr_null(out);
	ck_assert_msg(strstr(err, "no upstream") != NULL, "%s", err);
	ck_assert_int_eq(ctl_nginx_render("upstream u {\n\tserver 10.0.0.1:1;\n"
	    "\tserver 10.0.0.1:2;\n}\nset $x \"10.0.0.1:1 10.0.0.1:2\";\n", &c,
	    "", NULL, &out, err, sizeof(err)), SPIKE_ECONFIG);
	ck_assert_msg(strstr(err, "line 5") != NULL, "%s", err);
	ck_assert_int_eq(ctl_nginx_render("upstream u {\n\tserver 10.0.0.1:1;\n"
	    "}\n", &c, "", "127.0.0.1:1", &out, err, sizeof(err)),
	    SPIKE_ECONFIG);
	ck_assert_msg(strstr(err, "listen") != NULL, "%s", err);
	ck_assert_int_eq(ctl_nginx_render("upstream u {\n\tserver 10.0.0.1:1;\n",
	    &c, "", NULL, &out, err, sizeof(err)), SPIKE_ECONFIG);
	ck_assert_msg(strstr(err, "unbalanced") != NULL, "%s", err);
}
END_TEST

/* ---- init ------------------------------------------------------------- */

START_TEST(test_init_refuses_live_sale)
{
	struct rig	 r;
	struct ctl_run	 run;
	long long	 total, sold;

	start_redis(&r);
	ctl(r.dir, r.conf, &run, "init", "100", NULL);
	ck_assert_msg(run.status == 0, "init on an empty Redis: %d %s",
	    run.status, run.err);
	ck_assert(rig_sale_get(&r, &total, &sold));
	ck_assert(total == 100 && sold == 0);

	ctl(r.dir, r.conf, &run, "init", "200", NULL);
	ck_assert_msg(run.status == 0, "init with nothing sold: %s", run.err);

	rdo(&r, "HSET %s %s 200 %s 7", K, RIG_TOTAL_FIELD, RIG_SOLD_FIELD);
	ctl(r.dir, r.conf, &run, "init", "50", NULL);
	ck_assert_int_eq(run.status, 1);
	ck_assert_msg(strstr(run.err, "sold 7 of 200") != NULL &&
	    strstr(run.err, "--force") != NULL, "message: %s", run.err);
	ck_assert(rig_sale_get(&r, &total, &sold));
	ck_assert_msg(total == 200 && sold == 7, "a refused init changed "
	    "the sale: %lld/%lld", total, sold);

	rdo(&r, "HSET %s %s abc", K, RIG_SOLD_FIELD);
	ctl(r.dir, r.conf, &run, "init", "50", NULL);
	ck_assert_msg(run.status == 1, "init over a non-number sold: %d",
	    run.status);

	ctl(r.dir, r.conf, &run, "init", "50", "--force", NULL);
	ck_assert_msg(run.status == 0, "init --force: %s", run.err);
	ck_assert(rig_sale_get(&r, &total, &sold));
	ck_assert(total == 50 && sold == 0);
	rig_stop(&r);
}
END_TEST

START_TEST(test_init_force_clears_orders)
{
	struct rig	 r;
	struct ctl_run	 run;
	char		 v[64];
	redisReply	*rep;

	start_redis(&r);
	rdo(&r, "HSET %s %s 10 %s 3", K, RIG_TOTAL_FIELD, RIG_SOLD_FIELD);
	rdo(&r, "HSET %s:order:1 user alice status pending pay_by 1", K);
	rdo(&r, "HSET %s:order:2 user bob status paid pay_by 1", K);
	rdo(&r, "ZADD %s:pending 1 1", K);
	rdo(&r, "ZADD %s:user:alice 1 1", K);
	rdo(&r, "ZADD %s:user:bob 1 2", K);
	rdo(&r, "SET %s:last:alice 1", K);
	rdo(&r, "SET %s:last:bob 2", K);
	rdo(&r, "SET %s:anonymous 1", K);
	rdo(&r, "SET other:user:carol 1");

	ctl(r.dir, r.conf, &run, "init", "500", "--force", NULL);
	ck_assert_msg(run.status == 0, "init --force: %s", run.err);
	ck_assert_msg(strstr(run.out, "1 pending orders ended, 4 per-user "
	    "keys removed") != NULL, "output: %s", run.out);
	rget(&r, v, sizeof(v), "HGET %s:order:%s status", K, "1");
	ck_assert_str_eq(v, "expired");
	rget(&r, v, sizeof(v), "HGET %s:order:%s status", K, "2");
	ck_assert_str_eq(v, "paid");
	rget(&r, v, sizeof(v), "EXISTS %s:%s", K, "pending");
	ck_assert_str_eq(v, "0");
	rget(&r, v, sizeof(v), "EXISTS %s:%s", K, "anonymous");
	ck_assert_str_eq(v, "0");
	rget(&r, v, sizeof(v), "EXISTS %s:%s", K, "user:alice");
	ck_assert_str_eq(v, "0");
	rget(&r, v, sizeof(v), "EXISTS %s:%s", K, "last:bob");
	ck_assert_str_eq(v, "0");
	rget(&r, v, sizeof(v), "EXISTS %s%s", "other:user:", "carol");
	ck_assert_str_eq(v, "1");
	rep = rcmd(&r, "XRANGE %s:events - +", K);
	ck_assert_msg(rep->type == REDIS_REPLY_ARRAY && rep->elements == 1,
	    "want one expired event");
	freeReplyObject(rep);
	rget(&r, v, sizeof(v), "HGET %s %s", K, RIG_TOTAL_FIELD);
	ck_assert_str_eq(v, "500");
	rig_stop(&r);
}
END_TEST

/* ---- status ------------------------------------------------------------ */

/* Buy n tickets through nginx: with users u<k> when unique, else anonymous. */
static void
buy(struct rig *r, unsigned int n, bool unique)
{
	struct rig_load	 l;
	struct rig_load_spec spec = rig_load_plan(r, 8, n, unique, 30000);
	char		 sum[1024];

	ck_assert(rig_load_start(&l, &spec));
	rig_load_wait(&l);
	ck_assert_msg(rig_load_code(&l, 1) == n, "not all bought: %s",
	    rig_load_summary(&l, sum, sizeof(sum)));
}

/* POST /pay for user's latest order, found with GET /order. */
static void
pay_one(struct rig *r, const char *user)
{
	struct rig_http	 h;
	struct rig_reply rep;
	char		 target[128], form[160], err[256];
	char		 order[STORE_ORDER_ID_MAX];
	const char	*p;

	rig_http_init(&h, r->http_port);
	snprintf(target, sizeof(target), "/order?user=%s", user);
	ck_assert_msg(rig_http_request(&h, "GET", target, NULL, NULL, 0, &rep,
	    err, sizeof(err)) && rep.status == 200, "GET %s: %s %s", target,
	    err, rep.body);
	ck_assert((p = strstr(rep.body, "\"order\":\"")) != NULL);
	snprintf(order, sizeof(order), "%.*s", (int)strcspn(p + 9, "\""),
	    p + 9);
	snprintf(form, sizeof(form), "user=%s&order=%s", user, order);
	ck_assert_msg(rig_http_request(&h, "POST", "/pay",
	    "application/x-www-form-urlencoded", form, strlen(form), &rep, err,
	    sizeof(err)) && rep.status == 200, "POST /pay %s: %s %s", form, err,
	    rep.body);
	rig_http_close(&h);
}

START_TEST(test_status_matches_sales)
{
	struct rig	 r;
	struct ctl_run	 run;
	long long	 total, sold;
	int		 i;
	char		 path[64];

	rig_ck_start(&r, NULL, 1000);
	buy(&r, 200, true);
	buy(&r, 100, false);
	pay_one(&r, "user7");
	ck_assert(rig_sale_get(&r, &total, &sold));
	ck_assert_int_eq(sold, 300);

	ctl(r.dir, r.conf, &run, "status", "--json", NULL);
	ck_assert_msg(run.status == 0, "status --json: %s", run.err);
	ck_assert_msg(json_valid(run.out), "not JSON: %s", run.out);
	fprintf(stderr, "spikectl status --json after the sale:\n%s", run.out);
	ck_assert(json_is(run.out, "sale.exists", "true"));
	ck_assert_int_eq(json_ll(run.out, "sale.total"), 1000);
	ck_assert_int_eq(json_ll(run.out, "sale.sold"), sold);
	ck_assert_int_eq(json_ll(run.out, "sale.remaining"), 1000 - sold);
	ck_assert_int_eq(json_ll(run.out, "orders.pending"), 199);
	ck_assert_int_eq(json_ll(run.out, "orders.paid"), 1);
	ck_assert_int_eq(json_ll(run.out, "orders.anonymous"), 100);
	ck_assert_int_eq(json_ll(run.out, "live_instances"), RIG_INSTANCES);
	ck_assert_int_eq(json_ll(run.out, "live_weight"), 10);
	for (i = 0; i < RIG_INSTANCES; i++) {
		snprintf(path, sizeof(path), "instances.%d.weight", i);
		ck_assert_int_eq(json_ll(run.out, path), r.inst[i].weight);
		snprintf(path, sizeof(path), "instances.%d.live", i);
		ck_assert_msg(json_is(run.out, path, "true"), "%s", run.out);
		snprintf(path, sizeof(path), "instances.%d.heartbeat_age_ms",
		    i);
		ck_assert_msg(json_ll(run.out, path) >= 0 &&
		    json_ll(run.out, path) < BUDGET_SYNC_MS(
		    CONF_DEFAULT_SYNC_MS, CONF_DEFAULT_REDIS_TIMEOUT_MS),
		    "%s", run.out);
	}

	ctl(r.dir, r.conf, &run, "status", NULL);
	ck_assert_msg(run.status == 0, "status: %s", run.err);
	ck_assert_msg(strstr(run.out, "  sold       300\n") != NULL &&
	    strstr(run.out, "  remaining  700\n") != NULL &&
	    strstr(run.out, "  paid       1\n") != NULL &&
	    strstr(run.out, "instances: 4 of 4 live, weight 10 of 10") != NULL,
	    "status:\n%s", run.out);
	fprintf(stderr, "spikectl status after the sale:\n%s", run.out);
	rig_stop(&r);
}
END_TEST

/* ---- nginx-conf -------------------------------------------------------- */

START_TEST(test_nginx_conf_names_instances)
{
	struct rig	 r;
	struct rig_reply rep;
	char		 path[RIG_PATH_MAX + 32], text[OUT_MAX], line[128];
	int		 i;

	rig_ck_start(&r, NULL, 10);
	snprintf(path, sizeof(path), "%s/spike-fcgi.conf", r.nginx_dir);
	slurp(path, text, sizeof(text));
	ck_assert_msg(strstr(text, "# Generated by spikectl nginx-conf") !=
	    NULL, "the rig's nginx does not run spikectl's snippet:\n%s",
	    text);
	ck_assert_msg(strstr(text, "127.0.0.1:3001") == NULL &&
	    strstr(text, "/var/log/spike-fcgi") == NULL,
	    "a seed address or path is left:\n%s", text);
	for (i = 0; i < RIG_INSTANCES; i++) {
		snprintf(line, sizeof(line), "\tserver 127.0.0.1:%d weight=%u ",
		    r.inst[i].port, r.inst[i].weight);
		ck_assert_msg(strstr(text, line) != NULL, "no \"%s\" in:\n%s",
		    line, text);
	}
	ck_assert_msg(strstr(text, r.edge_log) != NULL, "edge_log %s is not "
	    "nginx's:\n%s", r.edge_log, text);
	ck_assert_msg(strstr(text, r.stat_log) == NULL, "nginx names the "
	    "instances' stat_log %s:\n%s", r.stat_log, text);
	ck_assert_msg(rig_nginx_test(&r), "%s", r.err);
	ck_assert_msg(rig_get(&r, "/buy/ticket?user=ann", &rep), "%s", r.err);
	ck_assert_int_eq(rep.code, 1);
	rig_stop(&r);
}
END_TEST

/* ---- unit: times ---------------------------------------------------------- */

START_TEST(test_time_parse)
{
	static const struct {
		const char	*text;
		long long	 ms;
	} good[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2026-12-02T18:00:00Z", 1796234400000LL },
		{ "2026-12-02T18:00:00+08:00", 1796205600000LL },
		{ "2026-12-02T10:00:00-00:30", 1796207400000LL },
		{ "2026-12-02T18:00:00.25Z", 1796234400250LL },
		{ "2028-02-29T23:59:59.999999Z", 1835481599999LL },
	};
	static const char *const bad[] = {
		"2026-12-02T18:00:00", "2026-12-02 18:00:00Z",
		"2026-13-02T18:00:00Z", "2027-02-29T00:00:00Z",
		"2026-12-02T24:00:00Z", "2026-12-02T18:00:00+8:00",
		"2026-12-02T18:00:00.Z", "2026-12-02T18:00:00Zx", "",
		"1969-12-31T23:59:59Z", "+60", "2026-12-02T18:00:60Z",
	};
	char		 buf[40];
	long long	 ms;
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(ctl_time_parse(good[i].text, &ms) &&
		    ms == good[i].ms, "%s: %lld, want %lld", good[i].text, ms,
		    good[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!ctl_time_parse(bad[i], &ms), "\"%s\" taken",
		    bad[i]);
	ctl_time_format(1796234400250LL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-12-02T18:00:00.250Z");
	ctl_time_format(1835481599999LL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2028-02-29T23:59:59.999Z");
	ck_assert(ctl_time_parse(buf, &ms) && ms == 1835481599999LL);
}
END_TEST

/* The snippet names spike.conf's edge_dir and the default item. */
START_TEST(test_render_edge_dir_and_default_item)
{
	struct conf	 c;
	char		 err[CONF_ERR_MAX], *out;

	conf_defaults(&c);
	snprintf(c.edge_dir, sizeof(c.edge_dir), "/srv/edge");
	snprintf(c.stock_key, sizeof(c.stock_key), "sale:42");
	ck_assert_int_eq(ctl_nginx_render(ctl_nginx_snippet, &c, "", NULL,
	    &out, err, sizeof(err)), SPIKE_OK);
	ck_assert_msg(strstr(out, "/run/spike-fcgi/edge") == NULL &&
	    strstr(out, "-f /srv/edge/not-started/$spike_item") != NULL &&
	    strstr(out, "-f /srv/edge/closed/$spike_item") != NULL &&
	    strstr(out, "alias /srv/edge/not-started/;") != NULL,
	    "edge_dir not written in:\n%s", out);
	ck_assert_msg(strstr(out, "ticket_hash_key") == NULL &&
	    strstr(out, "\"\" \"sale:42\";") != NULL &&
	    strstr(out, "\"sale:42\" 1;") != NULL,
	    "the default item is not stock_key's:\n%s", out);
	free(out);
	snprintf(c.stock_key, sizeof(c.stock_key), "a\"b/$c");
	ck_assert_int_eq(ctl_nginx_render(ctl_nginx_snippet, &c, "", NULL,
	    &out, err, sizeof(err)), SPIKE_OK);
	ck_assert_msg(strstr(out, "a\"b") == NULL &&
	    strstr(out, "\"\" \"no edge answer\";") != NULL,
	    "an unsafe stock_key reached nginx:\n%s", out);
	free(out);
}
END_TEST

/* ---- items: init, items, pause, resume ---------------------------------- */

/* A whole-number reply of a Redis command (nil: -1). */
static long long
rll(struct rig *r, const char *fmt, const char *a, const char *b)
{
	redisReply	*rep = rcmd(r, fmt, a, b);
	long long	 v = -1;

	if (rep->type == REDIS_REPLY_INTEGER)
		v = rep->integer;
	else if (rep->type == REDIS_REPLY_STRING)
		v = atoll(rep->str);
	freeReplyObject(rep);
	return v;
}

/* Redis's clock, ms. */
static long long
redis_ms(struct rig *r)
{
	redisReply	*rep = rcmd(r, "TIME");
	long long	 ms;

	ck_assert(rep->type == REDIS_REPLY_ARRAY && rep->elements == 2);
	ms = atoll(rep->element[0]->str) * 1000 +
	    atoll(rep->element[1]->str) / 1000;
	freeReplyObject(rep);
	return ms;
}

#define IK	K ":item:"

/* The change log names item at the last D:seq: its latest change. */
static void
expect_logged(struct rig *r, const char *item, long long seq_before)
{
	long long	 seq = rll(r, "GET %s", K ":seq", NULL);

	ck_assert_msg(seq > seq_before, "%s: D:seq %lld, was %lld", item, seq,
	    seq_before);
	ck_assert_msg(rll(r, "ZSCORE %s %s", K ":changes", item) == seq,
	    "%s: not logged at D:seq %lld", item, seq);
}

START_TEST(test_init_items)
{
	struct rig	 r;
	struct ctl_run	 run;
	char		 iso[40], buf[64];
	long long	 before, now, start, at;

	start_redis(&r);
	before = redis_ms(&r);
	ctl(r.dir, r.conf, &run, "init", "50", "--item", "A", "--start", "+60",
	    "--end", "+3600", "--per-user", "3", NULL);
	now = redis_ms(&r);
	ck_assert_msg(run.status == 0, "init --item A: %d %s", run.status,
	    run.err);
	start = rll(&r, "HGET %s %s", IK "A", "start_ms");
	ck_assert_msg(start >= before + 60000 && start <= now + 60000,
	    "start_ms %lld not 60 s after Redis's %lld..%lld", start, before,
	    now);
	ck_assert_int_eq(rll(&r, "HGET %s %s", IK "A", "end_ms"),
	    start + 3540000);
	ck_assert_int_eq(rll(&r, "HGET %s %s", IK "A", RIG_TOTAL_FIELD), 50);
	ck_assert_int_eq(rll(&r, "HGET %s %s", IK "A", RIG_SOLD_FIELD), 0);
	ck_assert_int_eq(rll(&r, "HGET %s %s", IK "A", "paused"), 0);
	ck_assert_int_eq(rll(&r, "HGET %s %s", IK "A", "per_user"), 3);
	ck_assert_int_eq(rll(&r, "ZSCORE %s %s", K ":items", "A"), start);
	ck_assert_msg(rll(&r, "EXISTS %s", IK "A:opened", NULL) == 1 &&
	    rll(&r, "EXISTS %s", K ":opened", NULL) == 0, "A's keys are not "
	    "under %sA", IK);
	/* Both phases log: the close, then the open. */
	ck_assert_int_eq(rll(&r, "GET %s", K ":seq", NULL), 2);
	expect_logged(&r, "A", 1);

	/* An ISO 8601 start, exact; no --per-user drops the item's own. */
	at = (now / 1000 + 7200) * 1000;
	ctl_time_format(at, iso, sizeof(iso));
	before = rll(&r, "GET %s", K ":seq", NULL);
	ctl(r.dir, r.conf, &run, "init", "20", "--item", "A", "--start", iso,
	    NULL);
	ck_assert_msg(run.status == 0, "init --start %s: %s", iso, run.err);
	ck_assert_int_eq(rll(&r, "HGET %s %s", IK "A", "start_ms"), at);
	ck_assert_int_eq(rll(&r, "HGET %s %s", IK "A", "end_ms"), 0);
	ck_assert_int_eq(rll(&r, "HEXISTS %s %s", IK "A", "per_user"), 0);
	ck_assert_int_eq(rll(&r, "ZSCORE %s %s", K ":items", "A"), at);
	expect_logged(&r, "A", before);
	/* +08:00 names the same instant. */
	ctl_time_format(at + 8 * 3600000LL, buf, sizeof(buf));
	snprintf(buf + strlen(buf) - 1, sizeof(buf) - strlen(buf) + 1,
	    "+08:00");
	ctl(r.dir, r.conf, &run, "init", "20", "--item", "B", "--start", buf,
	    NULL);
	ck_assert_msg(run.status == 0, "init --start %s: %s", buf, run.err);
	ck_assert_int_eq(rll(&r, "HGET %s %s", IK "B", "start_ms"), at);

	/* The default item: its keys as today, registered too. */
	ctl(r.dir, r.conf, &run, "init", "10", NULL);
	ck_assert_msg(run.status == 0, "init: %s", run.err);
	ck_assert_int_eq(rll(&r, "HGET %s %s", K, "start_ms"), 0);
	ck_assert_int_eq(rll(&r, "ZSCORE %s %s", K ":items", K), 0);
	rig_stop(&r);
}
END_TEST

/* A refused init: exit 2 with why, and nothing changed or logged. */
static void
expect_init_refused(struct rig *r, const char *why, const char *opt,
    const char *value, const char *opt2, const char *value2)
{
	struct ctl_run	 run;
	long long	 seq = rll(r, "GET %s", K ":seq", NULL);

	ctl(r->dir, r->conf, &run, "init", "5", "--item", "C", opt, value,
	    opt2, value2, NULL);
	ck_assert_msg(run.status == 2 && strstr(run.err, why) != NULL,
	    "init %s %s: exit %d, want 2 saying \"%s\": %s", opt, value,
	    run.status, why, run.err);
	ck_assert_int_eq(rll(r, "GET %s", K ":seq", NULL), seq);
	ck_assert_int_eq(rll(r, "EXISTS %s", IK "C", NULL), 0);
	ck_assert_int_eq(rll(r, "ZSCORE %s %s", K ":items", "C"), -1);
}

START_TEST(test_init_items_refused)
{
	struct rig	 r;
	struct ctl_run	 run;

	start_redis(&r);
	expect_init_refused(&r, "--end must be after --start", "--start",
	    "+600", "--end", "+60");
	expect_init_refused(&r, "before Redis's clock", "--start",
	    "2020-01-01T00:00:00Z", NULL, NULL);
	expect_init_refused(&r, "already past", "--end",
	    "2020-01-01T00:00:00Z", NULL, NULL);
	expect_init_refused(&r, "expected ISO 8601", "--start",
	    "2026-12-02T18:00:00", NULL, NULL);
	expect_init_refused(&r, "expected ISO 8601", "--end", "+1h", NULL,
	    NULL);
	expect_init_refused(&r, "--per-user \"0\"", "--per-user", "0", NULL,
	    NULL);
	ctl(r.dir, r.conf, &run, "init", "5", "--item", "..", NULL);
	ck_assert_msg(run.status == 2 && strstr(run.err, "an item is 1 to 64")
	    != NULL, "init --item ..: %d %s", run.status, run.err);
	ctl(r.dir, r.conf, &run, "init", "5", "--item", "a/b", NULL);
	ck_assert_int_eq(run.status, 2);
	ctl(r.dir, r.conf, &run, "init", "5", "--start", NULL);
	ck_assert_int_eq(run.status, 2);
	ck_assert_int_eq(rll(&r, "EXISTS %s", K ":seq", NULL), 0);
	rig_stop(&r);
}
END_TEST

START_TEST(test_items_pause_resume)
{
	struct rig	 r;
	struct ctl_run	 run;
	long long	 seq;

	start_redis(&r);
	ctl(r.dir, r.conf, &run, "init", "10", NULL);
	ctl(r.dir, r.conf, &run, "init", "5", "--item", "soon", "--start",
	    "+600", NULL);
	ctl(r.dir, r.conf, &run, "init", "3", "--item", "now", NULL);
	ck_assert_msg(run.status == 0, "init: %s", run.err);
	rdo(&r, "HSET %s %s 3", IK "now", RIG_SOLD_FIELD);
	ctl(r.dir, r.conf, &run, "items", "--json", NULL);
	ck_assert_msg(run.status == 0 && json_valid(run.out), "items --json: "
	    "%d %s%s", run.status, run.out, run.err);
	/* By start, then name: the default and "now" (0), then "soon". */
	ck_assert_msg(json_is(run.out, "items.0.item", "\"now\"") &&
	    json_is(run.out, "items.0.state", "\"sold-out\"") &&
	    json_is(run.out, "items.1.item", "\"" K "\"") &&
	    json_is(run.out, "items.1.state", "\"open\"") &&
	    json_is(run.out, "items.2.item", "\"soon\"") &&
	    json_is(run.out, "items.2.state", "\"coming\"") &&
	    json_at(run.out, "items.3") == NULL, "items: %s", run.out);
	ck_assert_int_eq(json_ll(run.out, "items.0.remaining"), 0);
	ck_assert_int_eq(json_ll(run.out, "items.1.remaining"), 10);
	ck_assert_int_eq(json_ll(run.out, "items.2.opens_at"),
	    rll(&r, "HGET %s %s", IK "soon", "start_ms"));
	ctl(r.dir, r.conf, &run, "items", NULL);
	ck_assert_msg(run.status == 0 && strstr(run.out, "3 items") != NULL &&
	    strstr(run.out, "coming") != NULL, "items: %s", run.out);

	seq = rll(&r, "GET %s", K ":seq", NULL);
	ctl(r.dir, r.conf, &run, "pause", "--item", "soon", NULL);
	ck_assert_msg(run.status == 0 && strstr(run.out, "1 item paused"),
	    "pause: %d %s%s", run.status, run.out, run.err);
	ck_assert_int_eq(rll(&r, "HGET %s %s", IK "soon", "paused"), 1);
	expect_logged(&r, "soon", seq);
	seq = rll(&r, "GET %s", K ":seq", NULL);
	ctl(r.dir, r.conf, &run, "pause", "--item", "soon", NULL);
	ck_assert_msg(run.status == 0 && strstr(run.out, "0 items paused"),
	    "pause again: %s", run.out);
	ck_assert_int_eq(rll(&r, "GET %s", K ":seq", NULL), seq);
	ctl(r.dir, r.conf, &run, "items", "--json", NULL);
	ck_assert_msg(json_is(run.out, "items.2.state", "\"paused\""), "%s",
	    run.out);

	ctl(r.dir, r.conf, &run, "pause", NULL);
	ck_assert_msg(run.status == 0 && strstr(run.out, "2 items paused"),
	    "pause all: %s", run.out);
	ck_assert_int_eq(rll(&r, "HGET %s %s", K, "paused"), 1);
	ck_assert_int_eq(rll(&r, "HGET %s %s", IK "now", "paused"), 1);
	ctl(r.dir, r.conf, &run, "resume", NULL);
	ck_assert_msg(run.status == 0 && strstr(run.out, "3 items resumed"),
	    "resume all: %s", run.out);
	ck_assert_int_eq(rll(&r, "HGET %s %s", IK "soon", "paused"), 0);
	expect_logged(&r, "soon", seq);

	ctl(r.dir, r.conf, &run, "pause", "--item", "nosuch", NULL);
	ck_assert_msg(run.status == 1 && strstr(run.err, "not on sale"),
	    "pause unknown: %d %s", run.status, run.err);
	ctl(r.dir, r.conf, &run, "resume", "--item", "../x", NULL);
	ck_assert_int_eq(run.status, 2);
	ctl(r.dir, r.conf, &run, "status", "--json", NULL);
	ck_assert_int_eq(json_ll(run.out, "items"), 3);
	rig_stop(&r);
}
END_TEST

/* spikectl sign with args signs subject with key: same MAC, same exp. */
static void
expect_signed(struct rig *r, const struct key *key, const char *subject,
    const char *a1, const char *a2, const char *a3, const char *a4)
{
	struct ctl_run	 run;
	char		 want[SIG_TEXT_MAX + 1];
	long long	 exp;

	ctl(r->dir, r->conf, &run, "sign", "u1", a1, a2, a3, a4, NULL);
	ck_assert_msg(run.status == 0, "sign %s %s: %d %s", a1, a2,
	    run.status, run.err);
	exp = atoll(run.out);
	ck_assert(sig_mint(key, subject, exp, want, sizeof(want)));
	ck_assert_msg(strncmp(run.out, want, strlen(want)) == 0,
	    "sign %s %s %s %s: %s, not over \"%s\" (%s)", a1, a2, a3, a4,
	    run.out, subject, want);
}

START_TEST(test_sign_item)
{
	struct rig	 r;
	struct key	 buyer, pay;
	struct ctl_run	 run;
	char		 bpath[RIG_PATH_MAX + 16], ppath[RIG_PATH_MAX + 16];
	char		 extra[2 * RIG_PATH_MAX + 64];

	ck_assert_msg(rig_init(&r, NULL), "rig: %s", r.err);
	ck_assert_msg(rig_write_key(&r, "buyer.key", 32, &buyer, bpath,
	    sizeof(bpath)) && rig_write_key(&r, "pay.key", 32, &pay, ppath,
	    sizeof(ppath)), "%s", r.err);
	snprintf(extra, sizeof(extra), "buyer_key = %s\npay_key = %s\n",
	    bpath, ppath);
	r.opt.conf_extra = extra;
	ck_assert_msg(rig_write_conf(&r), "%s", r.err);
	expect_signed(&r, &buyer, "u1", NULL, NULL, NULL, NULL);
	expect_signed(&r, &buyer, "u1", "--item", K, NULL, NULL);
	expect_signed(&r, &buyer, "A:u1", "--item", "A", NULL, NULL);
	expect_signed(&r, &pay, "0f.u1", "--order", "0f", NULL, NULL);
	expect_signed(&r, &pay, "A:0f.u1", "--order", "0f", "--item", "A");
	ctl(r.dir, r.conf, &run, "sign", "u1", "--item", ".", NULL);
	ck_assert_int_eq(run.status, 2);
	rig_stop(&r);
}
END_TEST

/* 10,000 items: items and pause read and write them all within a second. */
#define MANY_ITEMS	10000

START_TEST(test_items_many)
{
	struct timeval	 tv = { 5, 0 };
	struct rig	 r;
	struct ctl_run	 run;
	redisContext	*c;
	redisReply	*rep;
	char		 path[RIG_PATH_MAX + 16], *doc;
	double		 start, items_ms, pause_ms;
	int		 i;

	start_redis(&r);
	c = redisConnectWithTimeout("127.0.0.1", r.redis.port, tv);
	ck_assert_msg(c != NULL && c->err == 0, "redis connect");
	for (i = 0; i < MANY_ITEMS; i++) {
		redisAppendCommand(c, "HSET " IK "it%05d %s 100 %s 3 start_ms 0",
		    i, RIG_TOTAL_FIELD, RIG_SOLD_FIELD);
		redisAppendCommand(c, "ZADD %s 0 it%05d", K ":items", i);
	}
	for (i = 0; i < 2 * MANY_ITEMS; i++) {
		ck_assert(redisGetReply(c, (void **)&rep) == REDIS_OK);
		freeReplyObject(rep);
	}
	redisFree(c);
	start = rig_now_ms();
	ctl(r.dir, r.conf, &run, "items", "--json", NULL);
	items_ms = rig_now_ms() - start;
	ck_assert_msg(run.status == 0, "items: %d %s", run.status, run.err);
	/* The whole answer is longer than run.out: read its file. */
	snprintf(path, sizeof(path), "%s/run.out", r.dir);
	ck_assert((doc = malloc(MANY_ITEMS * 256)) != NULL);
	slurp(path, doc, MANY_ITEMS * 256);
	ck_assert_msg(json_valid(doc) && json_at(doc, "items.9999") != NULL &&
	    json_at(doc, "items.10000") == NULL &&
	    json_is(doc, "items.9999.item", "\"it09999\"") &&
	    json_ll(doc, "items.9999.remaining") == 97, "not the %d items",
	    MANY_ITEMS);
	free(doc);
	start = rig_now_ms();
	ctl(r.dir, r.conf, &run, "pause", NULL);
	pause_ms = rig_now_ms() - start;
	ck_assert_msg(run.status == 0 && strstr(run.out, "10000 items paused"),
	    "pause: %s%s", run.out, run.err);
	ck_assert_msg(items_ms < budget_ms(1000) && pause_ms < budget_ms(1000),
	    "%d items: items took %.0f ms, pause %.0f ms (budget %u ms)",
	    MANY_ITEMS, items_ms, pause_ms, budget_ms(1000));
	rig_stop(&r);
}
END_TEST

/* audit --item: the item's books, its events told by their "item". */
START_TEST(test_audit_item)
{
	struct rig	 r;
	struct ctl_run	 run;

	start_redis(&r);
	ctl(r.dir, r.conf, &run, "init", "10", NULL);
	ctl(r.dir, r.conf, &run, "init", "10", "--item", "A", NULL);
	ck_assert_msg(run.status == 0, "init: %s", run.err);
	ctl(r.dir, r.conf, &run, "audit", "--item", "A", NULL);
	ck_assert_msg(run.status == 0 && strstr(run.out, "sale A:") != NULL,
	    "audit --item A: %d %s%s", run.status, run.out, run.err);
	/* A created event of A's for an order A does not have. */
	rdo(&r, "XADD %s * event created order 0a user u item A",
	    K ":events");
	ctl(r.dir, r.conf, &run, "audit", "--item", "A", NULL);
	ck_assert_msg(run.status == 1 && strstr(run.out,
	    "event-without-order") != NULL, "audit --item A: %d %s",
	    run.status, run.out);
	ctl(r.dir, r.conf, &run, "audit", NULL);
	ck_assert_msg(run.status == 0, "the default item audits A's event: "
	    "%s", run.out);
	/* An entry without "item" is the default item's. */
	rdo(&r, "XADD %s * event created order 0b user u", K ":events");
	ctl(r.dir, r.conf, &run, "audit", NULL);
	ck_assert_msg(run.status == 1, "audit: %s", run.out);
	ctl(r.dir, r.conf, &run, "audit", "--item", "B", NULL);
	ck_assert_msg(run.status == 2 && strstr(run.err, "no stock hash"),
	    "audit of no item: %d %s", run.status, run.err);
	rig_stop(&r);
}
END_TEST

/* ---- nginx answers per item at the edge ---------------------------------- */

/* Write an edge file as the instances do: kind/item under edge_dir. */
static void
edge_file(struct rig *r, const char *kind, const char *item, const char *text)
{
	char	 path[RIG_PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s", r->edge_dir);
	ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/%s", r->edge_dir, kind);
	ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
	chmod(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", r->edge_dir, kind, item);
	spit(path, text);
	chmod(path, 0644);
}

/* Lines of the file at path holding needle. */
static int
lines_with(const char *path, const char *needle)
{
	static char	 text[1 << 20];
	const char	*p;
	int		 n = 0;

	slurp(path, text, sizeof(text));
	for (p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/*
 * GET target: nginx answers it itself with status and body (the file's
 * text), JSON, and an edge-log line of result for user.
 */
static void
expect_edge(struct rig *r, const char *target, int status, const char *body,
    int result, const char *user)
{
	struct rig_reply rep;
	char		 line[128];

	ck_assert_msg(rig_get(r, target, &rep), "%s", r->err);
	ck_assert_msg(rep.status == status && strcmp(rep.body, body) == 0,
	    "%s: %d %s, want %d %s", target, rep.status, rep.body, status,
	    body);
	ck_assert_str_eq(rep.content_type, "application/json; charset=utf-8");
	snprintf(line, sizeof(line), "result:%d,localSales:0,port:nginx,"
	    "user:%s,", result, user);
	ck_assert_msg(rig_stat_wait(r, line, 1, BUDGET_NGINX_STAT_MS),
	    "%s: %s", target, r->err);
}

START_TEST(test_nginx_edge_per_item)
{
	static const char sold[] = "{\"code\":-1,\"msg\":\"已售罄\"}\n";
	static const char closed[] = "{\"code\":-11,\"msg\":\"sale closed\"}\n";
	char		 secret[RIG_PATH_MAX + 32], target[256], coming[128];
	struct rig	 r;
	struct rig_reply rep;
	struct ctl_run	 run;
	size_t		 i;
	static const char *const outside[] = {
		"..", "%2e%2e", "..%2F..%2Fsecret", "../../secret", ".",
		"a/b", "",
	};

	/*
	 * Redis says what the files say (as the instances, which keep
	 * them, would write them): sold out, coming, paused, and the
	 * default item paused.
	 */
	rig_ck_start(&r, NULL, 10);
	ctl(r.dir, r.conf, &run, "init", "0", "--item", "gone", NULL);
	ctl(r.dir, r.conf, &run, "init", "5", "--item", "later.html",
	    "--start", "+3600", NULL);
	ctl(r.dir, r.conf, &run, "init", "5", "--item", "stopped", NULL);
	ctl(r.dir, r.conf, &run, "pause", "--item", "stopped", NULL);
	ctl(r.dir, r.conf, &run, "pause", "--item", K, NULL);
	ck_assert_msg(run.status == 0, "pause: %s", run.err);
	snprintf(coming, sizeof(coming), "{\"code\":-10,\"msg\":\"sale not "
	    "started\",\"opens_at\":%lld}\n", rll(&r, "HGET %s %s",
	    IK "later.html", "start_ms"));
	edge_file(&r, "sold-out", "gone", sold);
	edge_file(&r, "not-started", "later.html", coming);
	edge_file(&r, "closed", "stopped", closed);
	expect_edge(&r, "/buy/ticket?item=gone&user=e1", 200, sold, -1, "e1");
	expect_edge(&r, "/buy/ticket?user=e2&item=later.html", 403, coming,
	    -10, "e2");
	snprintf(target, sizeof(target), "/buy/ticket?sig=1.%064d&item="
	    "stopped&user=e3", 0);
	expect_edge(&r, target, 403, closed, -11, "e3");
	/* No item, or item=K: the default item's files. */
	edge_file(&r, "closed", K, closed);
	expect_edge(&r, "/buy/ticket?user=e4", 403, closed, -11, "e4");
	expect_edge(&r, "/buy/ticket?item=" K "&user=e5", 403, closed, -11,
	    "e5");
	/* Closed wins over sold out, as the instances check it first. */
	edge_file(&r, "sold-out", "stopped", sold);
	expect_edge(&r, "/buy/ticket?item=stopped&user=e6", 403, closed, -11,
	    "e6");

	/* Not plain, or another item: an instance answers (its stat line). */
	ck_assert(rig_get(&r, "/buy/ticket?item=gone&user=e7&x=1", &rep));
	ck_assert(rig_get(&r, "/buy/ticket?item=gone&item=gone&user=e8",
	    &rep));
	ck_assert_msg(rep.status == 400 && strstr(rep.body, "more than once"),
	    "item twice: %d %s", rep.status, rep.body);
	ck_assert(rig_get(&r, "/buy/ticket?item=open&user=e9", &rep));
	ck_assert(rig_get(&r, "/buy/ticket?item=gone&user=bad*", &rep));
	ck_assert_msg(rep.status == 400, "bad user: %d %s", rep.status,
	    rep.body);
	/* Names that would reach outside edge_dir are never looked up. */
	snprintf(secret, sizeof(secret), "%s/secret", r.dir);
	spit(secret, "SECRET\n");
	chmod(secret, 0644);
	for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		snprintf(target, sizeof(target), "/buy/ticket?item=%s&user=o%zu",
		    outside[i], i);
		ck_assert(rig_get(&r, target, &rep));
		ck_assert_msg(strstr(rep.body, "SECRET") == NULL, "%s: %d %s",
		    target, rep.status, rep.body);
	}
	ck_assert(rig_get(&r, "/.spike-edge/sold-out/gone", &rep));
	ck_assert_msg(rep.status == 404, "the edge location is not internal: "
	    "%d %s", rep.status, rep.body);
	ck_assert(rig_get(&r, "/buy/ticket?user=e10", &rep));
	/* Every edge answer above, none of the others, in the edge log. */
	ck_assert_msg(rig_stat_wait(&r, "user:e7,", 1, BUDGET_STAT_MS) &&
	    rig_stat_wait(&r, "user:e9,", 1, BUDGET_STAT_MS),
	    "%s", r.err);
	/* nginx flushes its edge log within BUDGET_NGINX_STAT_MS. */
	rig_sleep_ms(BUDGET_NGINX_STAT_MS);
	ck_assert_int_eq(lines_with(r.edge_log, "user:e7,") +
	    lines_with(r.edge_log, "user:e8,") +
	    lines_with(r.edge_log, "user:e9,"), 0);
	ck_assert_msg(lines_with(r.edge_log, ",user:o") == 0, "nginx answered "
	    "a name outside edge_dir itself");
	ck_assert_int_eq(lines_with(r.stat_log, "user:e1,") +
	    lines_with(r.stat_log, "user:e2,") +
	    lines_with(r.stat_log, "user:e3,") +
	    lines_with(r.stat_log, "user:e5,"), 0);
	ck_assert_msg(rig_nginx_test(&r), "%s", r.err);
	rig_stop(&r);
}
END_TEST

/* ---- check -------------------------------------------------------------- */

/* spikectl check: want its exit status, and needle in what it said. */
static void
expect_check(struct rig *r, int want, const char *needle)
{
	struct ctl_run	 run;

	ctl(r->dir, r->conf, &run, "check", NULL);
	ck_assert_msg(run.status == want, "check: exit %d, want %d: %s%s",
	    run.status, want, run.out, run.err);
	ck_assert_msg(strstr(run.out, needle) != NULL ||
	    strstr(run.err, needle) != NULL, "check: no \"%s\" in: %s%s",
	    needle, run.out, run.err);
}

START_TEST(test_check)
{
	struct rig	 r;

	start_redis(&r);
	expect_check(&r, 1, "no stock hash");
	rdo(&r, "HSET %s %s 10 %s 4", K, RIG_TOTAL_FIELD, RIG_SOLD_FIELD);
	expect_check(&r, 0, "total 10, sold 4, remaining 6: ok");
	expect_check(&r, 0, "syntax is ok");
	rdo(&r, "HSET %s %s 11", K, RIG_SOLD_FIELD);
	expect_check(&r, 1, "sold 11 is not between 0 and total 10");
	rdo(&r, "HSET %s %s -1", K, RIG_SOLD_FIELD);
	expect_check(&r, 1, "sold -1 is not between");
	rdo(&r, "HSET %s %s 1.5", K, RIG_SOLD_FIELD);
	expect_check(&r, 1, "ticket_sold_nums is \"1.5\", not a whole number");
	rdo(&r, "HSET %s %s 3 %s ten", K, RIG_SOLD_FIELD, RIG_TOTAL_FIELD);
	expect_check(&r, 1, "ticket_total_nums is \"ten\"");
	rdo(&r, "HDEL %s %s", K, RIG_SOLD_FIELD);
	rdo(&r, "HSET %s %s 10", K, RIG_TOTAL_FIELD);
	expect_check(&r, 1, "ticket_sold_nums is missing");
	rdo(&r, "HSET %s %s 0", K, RIG_SOLD_FIELD);
	expect_check(&r, 0, "ok");
	ck_assert(rig_redis_stop(&r));
	expect_check(&r, 1, "redis 127.0.0.1:");
	rig_stop(&r);
}
END_TEST

START_TEST(test_unreachable_redis)
{
	struct rig	 r;
	struct ctl_run	 run;

	ck_assert_msg(rig_init(&r, NULL), "rig: %s", r.err);
	ctl(r.dir, r.conf, &run, "status", NULL);
	ck_assert_int_eq(run.status, 1);
	ck_assert_msg(strstr(run.err, "redis 127.0.0.1:") != NULL, "%s",
	    run.err);
	ctl(r.dir, r.conf, &run, "init", "5", NULL);
	ck_assert_int_eq(run.status, 1);
	rig_stop(&r);
}
END_TEST

/* ---- config and usage errors -------------------------------------------- */

START_TEST(test_bad_config_and_usage)
{
	static const char *const cmds[][3] = {
		{ "status", NULL, NULL }, { "check", NULL, NULL },
		{ "init", "5", NULL }, { "nginx-conf", NULL, NULL },
		{ "instances", NULL, NULL }, { "spawn", "127.0.0.1:3001", NULL },
	};
	struct rig	 r;
	struct ctl_run	 run;
	char		 bad[RIG_PATH_MAX + 16], where[RIG_PATH_MAX + 32];
	char		 addr[32];
	size_t		 i;

	ck_assert_msg(rig_init(&r, NULL), "rig: %s", r.err);
	snprintf(bad, sizeof(bad), "%s/bad.conf", r.dir);
	spit(bad, "# bad\ninstance = 127.0.0.1:3001\nthreads = many\n");
	snprintf(where, sizeof(where), "%s:3:", bad);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		ctl(r.dir, bad, &run, cmds[i][0], cmds[i][1], NULL);
		ck_assert_msg(run.status == 1 && strstr(run.err, where) != NULL,
		    "%s: exit %d, want 1 naming %s: %s", cmds[i][0], run.status,
		    where, run.err);
	}
	ctl(r.dir, "/nonexistent/spike.conf", &run, "status", NULL);
	ck_assert_int_eq(run.status, 1);

	ctl(r.dir, r.conf, &run, "instances", NULL);
	ck_assert_int_eq(run.status, 0);
	ck_assert_int_eq(strncmp(run.out, "127.0.0.1:", 10), 0);
	ctl(r.dir, r.conf, &run, "spawn", "127.0.0.1:1", NULL);
	ck_assert_msg(run.status == 1 && strstr(run.err, "no \"instance = "
	    "127.0.0.1:1\" line") != NULL, "spawn: %d %s", run.status, run.err);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", r.inst[0].port);
	ctl(r.dir, r.conf, &run, "spawn", addr, "--program",
	    "/nonexistent/spike-fcgi", NULL);
	ck_assert_msg(run.status == 1 && strstr(run.err,
	    "/nonexistent/spike-fcgi: No such file") != NULL,
	    "spawn --program: %d %s", run.status, run.err);
	ctl(r.dir, r.conf, &run, "spawn", addr, "--program", NULL);
	ck_assert_int_eq(run.status, 2);
	ctl(r.dir, r.conf, &run, "status", "--program", "x", NULL);
	ck_assert_int_eq(run.status, 2);

	ctl(r.dir, NULL, &run, NULL);
	ck_assert_int_eq(run.status, 2);
	ctl(r.dir, r.conf, &run, "frobnicate", NULL);
	ck_assert_int_eq(run.status, 2);
	ctl(r.dir, r.conf, &run, "status", "--yaml", NULL);
	ck_assert_int_eq(run.status, 2);
	ctl(r.dir, r.conf, &run, "init", NULL);
	ck_assert_int_eq(run.status, 2);
	ctl(r.dir, r.conf, &run, "init", "ten", NULL);
	ck_assert_int_eq(run.status, 2);
	ctl(r.dir, r.conf, &run, "init", "5", "6", NULL);
	ck_assert_int_eq(run.status, 2);
	ctl(r.dir, r.conf, &run, "nginx-conf", "--listen", "a b", NULL);
	ck_assert_int_eq(run.status, 2);
	ctl(r.dir, r.conf, &run, "nginx-conf", "--server-name", "a;b", NULL);
	ck_assert_int_eq(run.status, 2);
	ctl(r.dir, r.conf, &run, "status", "--wait", "forever", NULL);
	ck_assert_int_eq(run.status, 2);
	ctl(r.dir, r.conf, &run, "-h", NULL);
	ck_assert_int_eq(run.status, 0);
	ctl(r.dir, r.conf, &run, "--help", NULL);
	ck_assert_msg(run.status == 0 && strncmp(run.out, "usage: spikectl",
	    15) == 0 && run.err[0] == '\0', "--help: %d %s%s", run.status,
	    run.out, run.err);
	ctl(r.dir, r.conf, &run, "--version", NULL);
	ck_assert_msg(run.status == 0 && strcmp(run.out, "spikectl "
	    SPIKE_VERSION "\n") == 0, "--version: %d %s%s", run.status,
	    run.out, run.err);
	rig_stop(&r);
}
END_TEST

static Suite *
spikectl_suite(void)
{
	Suite	*s = suite_create("spikectl");
	TCase	*unit = tcase_create("render");
	TCase	*live = tcase_create("live");

	tcase_add_test(unit, test_render_exact);
	tcase_add_test(unit, test_render_keeps_listen_and_adds_weight);
	tcase_add_test(unit, test_render_many_instances);
	tcase_add_test(unit, test_render_server_names);
	tcase_add_test(unit, test_render_errors);
	tcase_add_test(unit, test_render_edge_dir_and_default_item);
	tcase_add_test(unit, test_time_parse);
	suite_add_tcase(s, unit);
	tcase_set_timeout(live, 90);
	tcase_add_test(live, test_init_refuses_live_sale);
	tcase_add_test(live, test_init_force_clears_orders);
	tcase_add_test(live, test_status_matches_sales);
	tcase_add_test(live, test_nginx_conf_names_instances);
	tcase_add_test(live, test_check);
	tcase_add_test(live, test_unreachable_redis);
	tcase_add_test(live, test_bad_config_and_usage);
	tcase_add_test(live, test_init_items);
	tcase_add_test(live, test_init_items_refused);
	tcase_add_test(live, test_items_pause_resume);
	tcase_add_test(live, test_sign_item);
	tcase_add_test(live, test_audit_item);
	tcase_add_test(live, test_items_many);
	tcase_add_test(live, test_nginx_edge_per_item);
	suite_add_tcase(s, live);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(spikectl_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
