/*
 * Integration: a Redis that needs a password, through the real nginx,
 * four spike-fcgi instances and spikectl, all reading one spike.conf
 * with redis_password_file (and redis_user).  A Redis with requirepass
 * and one with an ACL user limited to AUTH_ACL_COMMANDS (the commands
 * spike-fcgi and spikectl use: the ACL spike-fcgi(8) gives operators)
 * each sell a sale exactly and audit clean.  A password changed on Redis
 * makes buyers get 503 -2 and each instance log the cause once; written
 * into the file, the sale recovers without a restart; so does a command
 * taken from the ACL user and given back.  The password is never in a
 * log, an argv, an environment or spike.conf.
 */
#include "config.h"

#include <check.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "rig_ck.h"
#include "rig_private.h"

#define AUTH_STOCK	150
#define AUTH_BUYERS	400	/* unique users, more than the stock */
#define AUTH_CONNS	8
#define AUTH_PW		"auth-test-pw-5e1f0c9b"
#define AUTH_PW_NEW	"auth-test-pw-rotated-a27d"
#define AUTH_USER	"spike"
#define CMD(c, ...)	RIG_CK_CMD(c, __VA_ARGS__)

/*
 * What spike-fcgi and spikectl (init, check, status, audit) run, the
 * scripts' own commands included: Redis 7 checks those against the
 * caller's ACL too.  The keys are the stock key and KEY:*.
 */
#define AUTH_ACL_COMMANDS \
	"-@all +auth +ping +evalsha +eval +script|load +time +role +wait " \
	"+config|get +info +hmget +hset +hincrby +get +set +incr +del " \
	"+unlink +scan +zadd +zrem +zcard +zrange +zrevrange " \
	"+zrangebyscore +zremrangebyscore +xadd +xrange +xlen +pexpire " \
	"+hget +hdel +hexists +zscore"

/* The file spike.conf names, its path, and the lines naming it. */
struct auth_setup {
	char	 path[RIG_PATH_MAX];
	char	 conf_extra[RIG_PATH_MAX + 128];
	char	 redis_extra[1024];
};

/*
 * Write text as the password file, mode 0600, owned by whom the rig's
 * directory belongs to (the instances' user), replaced whole by rename
 * so that no reader sees half of it.
 */
static void
write_password(struct rig *r, const char *path, const char *text)
{
	char		 tmp[RIG_PATH_MAX + 8];
	struct stat	 st;
	int		 fd;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	ck_assert_msg(stat(r->dir, &st) == 0, "%s: %s", r->dir,
	    strerror(errno));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(fd != -1, "%s: %s", tmp, strerror(errno));
	ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text) &&
	    write(fd, "\n", 1) == 1);
	ck_assert(fchown(fd, st.st_uid, st.st_gid) == 0 && close(fd) == 0);
	ck_assert_msg(rename(tmp, path) == 0, "%s: %s", path,
	    strerror(errno));
}

/*
 * The rig with Redis needing a password: requirepass when user is NULL,
 * else an ACL user with AUTH_ACL_COMMANDS (the default user stays open
 * for the test's own connections).  spikectl init, the instances and
 * nginx all go through spike.conf's password file.
 */
static void
start_auth(struct rig *r, struct auth_setup *a, const char *user)
{
	struct rig_options opt = { .sync_ms = 100 };

	if (user == NULL)
		snprintf(a->redis_extra, sizeof(a->redis_extra),
		    "requirepass %s\n", AUTH_PW);
	else
		snprintf(a->redis_extra, sizeof(a->redis_extra),
		    "user %s on >%s resetkeys ~%s ~%s:* resetchannels %s\n",
		    user, AUTH_PW, RIG_STOCK_KEY, RIG_STOCK_KEY,
		    AUTH_ACL_COMMANDS);
	opt.redis_extra = a->redis_extra;
	opt.redis_password = user == NULL ? AUTH_PW : NULL;
	ck_assert_msg(rig_init(r, &opt), "%s", r->err);
	snprintf(a->path, sizeof(a->path), "%s/redis.password", r->dir);
	write_password(r, a->path, AUTH_PW);
	snprintf(a->conf_extra, sizeof(a->conf_extra),
	    "%s%s%sredis_password_file = %s\n", user ? "redis_user = " : "",
	    user ? user : "", user ? "\n" : "", a->path);
	r->opt.conf_extra = a->conf_extra;
	ck_assert_msg(rig_write_conf(r), "%s", r->err);
	ck_assert_msg(rig_redis_start(r) && rig_sale_set(r, AUTH_STOCK) &&
	    rig_instances_start(r) && rig_heartbeats_wait(r, BUDGET_UP_MS) &&
	    rig_nginx_start(r), "%s", r->err);
}

/* spikectl check: its exit (true for 0) and what it printed, in out. */
static bool
spikectl_check(struct rig *r, char *out, size_t outsz)
{
	char	 path[RIG_PATH_MAX + 16];
	char	*text;
	bool	 ok;

	snprintf(path, sizeof(path), "%s/check.out", r->dir);
	ok = rig_spikectl(r, path, "check", NULL);
	text = rig_read_file(path);
	snprintf(out, outsz, "%s\n%s", text ? text : "", ok ? "" : r->err);
	free(text);
	return ok;
}

/* Does the file at path hold needle (NUL bytes read as spaces)? */
static bool
file_has(const char *path, const char *needle)
{
	char	 buf[65536];
	size_t	 n, i;
	FILE	*f;

	if ((f = fopen(path, "r")) == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	for (i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/*
 * Neither password in any instance's log, argv or environment, in
 * spikectl's log or in spike.conf.
 */
static void
password_nowhere(struct rig *r)
{
	const char	*pws[] = { AUTH_PW, AUTH_PW_NEW };
	char		 path[RIG_PATH_MAX + 32];
	size_t		 k;

	for (k = 0; k < 2; k++) {
		ck_assert_msg(!file_has(r->conf, pws[k]), "in spike.conf");
		snprintf(path, sizeof(path), "%s/spikectl.log", r->dir);
		ck_assert_msg(!file_has(path, pws[k]), "in spikectl.log");
		for (int i = 0; i < RIG_INSTANCES; i++) {
			ck_assert_msg(rig_instance_log_lines(r, i, pws[k]) == 0,
			    "instance %d logged the password", i);
			snprintf(path, sizeof(path), "/proc/%d/cmdline",
			    (int)r->inst[i].pid);
			ck_assert_msg(file_has(path, "spike-fcgi"), "%s", path);
			ck_assert_msg(!file_has(path, pws[k]), "in %s", path);
			snprintf(path, sizeof(path), "/proc/%d/environ",
			    (int)r->inst[i].pid);
			ck_assert_msg(!file_has(path, pws[k]), "in %s", path);
		}
	}
}

/* Sell the whole stock to unique users through nginx; audit clean. */
static void
sell_exactly(struct rig *r)
{
	struct rig_load_spec spec;
	struct rig_load	 l;
	char		 sum[1024];

	spec = rig_load_plan(r, AUTH_CONNS, AUTH_BUYERS, true,
	    budget_ms(60000));
	ck_assert_msg(rig_load_start(&l, &spec), "cannot start the load");
	rig_load_wait(&l);
	rig_load_summary(&l, sum, sizeof(sum));
	ck_assert_msg(rig_load_code(&l, 1) == AUTH_STOCK, "%s", sum);
	ck_assert_msg(rig_load_5xx(&l) == 0, "%s", sum);
	ck_assert_int_eq(rig_ck_sold(r), AUTH_STOCK);
	ck_assert_int_eq(rig_ck_bought_are_orders(r, &l), AUTH_STOCK);
	rig_ck_audit(r);
}

/*
 * A Redis with requirepass serves a sale exactly; check says AUTH works.
 * With CREDENTIALS_DIRECTORY holding redis-password, as systemd's
 * LoadCredential= makes it, that copy is read instead of the file.
 */
START_TEST(test_requirepass_sale)
{
	struct rig		 r;
	struct auth_setup	 a;
	char			 out[8192], creds[RIG_PATH_MAX];
	char			 copy[RIG_PATH_MAX + 32];

	start_auth(&r, &a, NULL);
	ck_assert_msg(spikectl_check(&r, out, sizeof(out)), "%s", out);
	ck_assert_msg(strstr(out, "AUTH as default accepted") != NULL, "%s",
	    out);
	sell_exactly(&r);
	password_nowhere(&r);

	write_password(&r, a.path, AUTH_PW_NEW);
	ck_assert(!spikectl_check(&r, out, sizeof(out)));
	snprintf(creds, sizeof(creds), "%s/credentials", r.dir);
	ck_assert(mkdir(creds, 0700) == 0);
	snprintf(copy, sizeof(copy), "%s/redis-password", creds);
	write_password(&r, copy, AUTH_PW);
	ck_assert(setenv("CREDENTIALS_DIRECTORY", creds, 1) == 0);
	ck_assert_msg(spikectl_check(&r, out, sizeof(out)), "%s", out);
	ck_assert(unsetenv("CREDENTIALS_DIRECTORY") == 0);
	rig_stop(&r);
}
END_TEST

/*
 * An ACL user with only AUTH_ACL_COMMANDS on the sale's keys serves a
 * sale exactly, spikectl init, check, status and audit included; the
 * same Redis refuses that user anything else.
 */
START_TEST(test_acl_user_sale)
{
	struct rig		 r;
	struct auth_setup	 a;
	char			 out[8192], path[RIG_PATH_MAX + 16];
	redisContext		*c;
	redisReply		*rep;

	start_auth(&r, &a, AUTH_USER);
	ck_assert_msg(spikectl_check(&r, out, sizeof(out)), "%s", out);
	ck_assert_msg(strstr(out, "AUTH as " AUTH_USER " accepted") != NULL,
	    "%s", out);
	snprintf(path, sizeof(path), "%s/status.out", r.dir);
	ck_assert_msg(rig_spikectl(&r, path, "status", NULL), "%s", r.err);
	sell_exactly(&r);
	c = rig_ck_redis(&r);
	freeReplyObject(CMD(c, "AUTH", AUTH_USER, AUTH_PW));
	rep = redisCommand(c, "FLUSHALL");
	ck_assert_msg(rep != NULL && rep->type == REDIS_REPLY_ERROR &&
	    strncmp(rep->str, "NOPERM", 6) == 0, "FLUSHALL allowed");
	freeReplyObject(rep);
	rep = redisCommand(c, "SET other-key 1");
	ck_assert_msg(rep != NULL && rep->type == REDIS_REPLY_ERROR,
	    "a key outside the sale allowed");
	freeReplyObject(rep);
	redisFree(c);
	password_nowhere(&r);
	rig_stop(&r);
}
END_TEST

/* GET /buy/ticket for user until the answer has status; its code. */
static int
buy_until(struct rig *r, const char *user, int status, double within_ms)
{
	struct rig_reply rep;
	char		 target[128];
	double		 end = rig_now_ms() + within_ms;

	snprintf(target, sizeof(target), "/buy/ticket?user=%s", user);
	for (;;) {
		ck_assert_msg(rig_get(r, target, &rep), "%s", r->err);
		if (rep.status == status)
			return rep.code;
		ck_assert_msg(rig_now_ms() < end, "GET %s: %d %.200s, not %d "
		    "within %.0f ms", target, rep.status, rep.body, status,
		    within_ms);
		rig_sleep_ms(50);
	}
}

/*
 * Redis's password changes and its clients are dropped: the instances'
 * new links get WRONGPASS, buyers get 503 -2, each instance says why
 * once, and spikectl check fails saying so.  The new password written
 * into the file, the same instances sell again.
 */
START_TEST(test_wrong_password_recovers)
{
	struct rig		 r;
	struct auth_setup	 a;
	char			 out[8192];
	pid_t			 pids[RIG_INSTANCES];
	redisContext		*c;
	int			 i;

	start_auth(&r, &a, NULL);
	ck_assert_int_eq(buy_until(&r, "before", 200, 0), 1);
	for (i = 0; i < RIG_INSTANCES; i++)
		pids[i] = r.inst[i].pid;
	c = rig_ck_redis(&r);
	freeReplyObject(CMD(c, "CONFIG", "SET", "requirepass", AUTH_PW_NEW));
	freeReplyObject(CMD(c, "CLIENT", "KILL", "TYPE", "normal"));
	redisFree(c);
	r.opt.redis_password = AUTH_PW_NEW;

	ck_assert_int_eq(buy_until(&r, "during", 503, BUDGET_UP_MS), -2);
	rig_ck_logs_wait(&r, "WRONGPASS", 1, BUDGET_UP_MS);
	ck_assert_msg(!spikectl_check(&r, out, sizeof(out)), "%s", out);
	ck_assert_msg(strstr(out, "AUTH as default, password from ") !=
	    NULL && strstr(out, "WRONGPASS") != NULL, "%s", out);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(buy_until(&r, "during", 503, 0), -2);

	write_password(&r, a.path, AUTH_PW_NEW);
	ck_assert_int_eq(buy_until(&r, "after", 200, BUDGET_UP_MS), 1);
	rig_ck_logs_wait(&r, "redis available again", 1, BUDGET_UP_MS);
	for (i = 0; i < RIG_INSTANCES; i++) {
		ck_assert_msg(rig_instance_alive(&r, i) &&
		    r.inst[i].pid == pids[i], "instance %d restarted", i);
		ck_assert_int_eq(rig_instance_log_lines(&r, i, "WRONGPASS"),
		    1);
	}
	ck_assert_msg(spikectl_check(&r, out, sizeof(out)), "%s", out);
	rig_ck_audit(&r);
	password_nowhere(&r);
	rig_stop(&r);
}
END_TEST

/*
 * The ACL user loses EVALSHA: buyers get 503 -2 and each instance logs
 * NOPERM once; given it back, the same instances sell again.
 */
START_TEST(test_acl_noperm_recovers)
{
	struct rig		 r;
	struct auth_setup	 a;
	redisContext		*c;
	int			 i;

	start_auth(&r, &a, AUTH_USER);
	ck_assert_int_eq(buy_until(&r, "before", 200, 0), 1);
	c = rig_ck_redis(&r);
	freeReplyObject(CMD(c, "ACL", "SETUSER", AUTH_USER, "-evalsha"));
	ck_assert_int_eq(buy_until(&r, "during", 503, BUDGET_UP_MS), -2);
	rig_ck_logs_wait(&r, "NOPERM", 1, BUDGET_UP_MS);
	freeReplyObject(CMD(c, "ACL", "SETUSER", AUTH_USER, "+evalsha"));
	redisFree(c);
	ck_assert_int_eq(buy_until(&r, "after", 200, BUDGET_UP_MS), 1);
	rig_ck_logs_wait(&r, "redis available again", 1, BUDGET_UP_MS);
	for (i = 0; i < RIG_INSTANCES; i++)
		ck_assert_int_eq(rig_instance_log_lines(&r, i, "NOPERM"), 1);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/*
 * A password file that will not do stops spike-fcgi at start and fails
 * spikectl check, naming spike.conf's line: readable by others, empty,
 * missing.
 */
START_TEST(test_bad_password_file)
{
	struct rig	 r;
	char		 out[8192], path[RIG_PATH_MAX];
	char		 extra[RIG_PATH_MAX + 64];
	char		 want[RIG_PATH_MAX + 64];
	double		 ms;
	int		 status;

	ck_assert_msg(rig_init(&r, NULL), "%s", r.err);
	snprintf(path, sizeof(path), "%s/redis.password", r.dir);
	write_password(&r, path, AUTH_PW);
	snprintf(extra, sizeof(extra), "redis_password_file = %s\n", path);
	r.opt.conf_extra = extra;
	ck_assert_msg(rig_write_conf(&r), "%s", r.err);
	snprintf(want, sizeof(want), "redis_password_file %s: ", path);

	ck_assert(chmod(path, 0644) == 0);
	ck_assert(!spikectl_check(&r, out, sizeof(out)));
	ck_assert_msg(strstr(out, want) != NULL && strstr(out, "spike.conf:")
	    != NULL && strstr(out, "mode 0644") != NULL, "%s", out);
	if (rig_instance_start(&r, 0))
		ck_assert_msg(rig_instance_wait(&r, 0, BUDGET_UP_MS, &status,
		    &ms) && WIFEXITED(status) && WEXITSTATUS(status) != 0,
		    "spike-fcgi runs");
	ck_assert_msg(rig_instance_log_lines(&r, 0, "mode 0644") == 1,
	    "spike-fcgi did not say why it stopped");
	write_password(&r, path, "");
	ck_assert(!spikectl_check(&r, out, sizeof(out)));
	ck_assert_msg(strstr(out, want) != NULL && strstr(out, "empty") !=
	    NULL, "%s", out);
	ck_assert(unlink(path) == 0);
	ck_assert(!spikectl_check(&r, out, sizeof(out)));
	ck_assert_msg(strstr(out, "No such file") != NULL, "%s", out);
	rig_stop(&r);
}
END_TEST

static Suite *
auth_suite(void)
{
	Suite	*s = suite_create("auth");
	TCase	*tc = tcase_create("redis-auth");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_requirepass_sale);
	tcase_add_test(tc, test_acl_user_sale);
	tcase_add_test(tc, test_wrong_password_recovers);
	tcase_add_test(tc, test_acl_noperm_recovers);
	tcase_add_test(tc, test_bad_password_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(auth_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
