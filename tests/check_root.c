/*
 * Integration: no root, no symbolic links.  spike-fcgi refuses to run as
 * root and writes nothing then; spikectl spawn as root needs --user and
 * the instance then really runs as that user; a link at stat_log's or
 * sold_out_flag's path stops an instance at start, and a link placed at
 * the flag's path while it runs is never written through.  The tests of
 * what root does need root, as CI has: without it they fail.
 */
#include "config.h"

#include <check.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rig_ck.h"

#define ROOT_STOCK	10
#define ROOT_SYNC_MS	100
#define ROOT_WITHIN_MS	BUDGET_SYNC_MS(ROOT_SYNC_MS, \
			    CONF_DEFAULT_REDIS_TIMEOUT_MS)

static void
need_root(const char *what)
{
	ck_assert_msg(geteuid() == 0, "%s: this test needs root, as CI "
	    "runs it", what);
}

static const struct passwd *
rig_user(void)
{
	const struct passwd *pw = getpwnam(RIG_USER);

	ck_assert_msg(pw != NULL, "no user %s", RIG_USER);
	return pw;
}

/* Does the file at path hold needle? */
static bool
file_has(const char *path, const char *needle)
{
	FILE	*f;
	char	 line[2048];
	bool	 found = false;

	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* The numbers after "Name:" in /proc/pid/status, as one string. */
static void
proc_field(pid_t pid, const char *name, char *out, size_t outsz)
{
	char	 path[64], line[512];
	size_t	 n = strlen(name);
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	ck_assert_msg((f = fopen(path, "r")) != NULL, "%s", path);
	*out = '\0';
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			snprintf(out, outsz, "%s", line + n + 1);
			out[strcspn(out, "\n")] = '\0';
		}
	fclose(f);
}

/* Every one of the four ids in a Uid: or Gid: field is want. */
static bool
all_ids(const char *field, unsigned long want)
{
	unsigned long	 id[4];

	return sscanf(field, "%lu %lu %lu %lu", &id[0], &id[1], &id[2],
	    &id[3]) == 4 && id[0] == want && id[1] == want &&
	    id[2] == want && id[3] == want;
}

/*
 * As root, each instance runs as RIG_USER, real, effective, saved and
 * file-system ids alike, without group 0, and its stat.log is that user's.
 */
START_TEST(test_instances_unprivileged)
{
	const struct passwd *pw = rig_user();
	struct rig	 r;
	struct rig_reply rep;
	struct stat	 st;
	char		 uid[128], gid[128], groups[256];

	need_root("instances run unprivileged");
	rig_ck_start(&r, NULL, ROOT_STOCK);
	for (int i = 0; i < RIG_INSTANCES; i++) {
		proc_field(r.inst[i].pid, "Uid", uid, sizeof(uid));
		proc_field(r.inst[i].pid, "Gid", gid, sizeof(gid));
		proc_field(r.inst[i].pid, "Groups", groups, sizeof(groups));
		ck_assert_msg(all_ids(uid, pw->pw_uid), "instance %d: Uid:%s, "
		    "want %lu (%s)", i, uid, (unsigned long)pw->pw_uid,
		    RIG_USER);
		ck_assert_msg(all_ids(gid, pw->pw_gid), "instance %d: Gid:%s, "
		    "want %lu", i, gid, (unsigned long)pw->pw_gid);
		ck_assert_msg(strstr(groups, " 0 ") == NULL &&
		    strncmp(groups, "\t0", 2) != 0, "instance %d: in group 0: "
		    "Groups:%s", i, groups);
	}
	ck_assert_msg(rig_get(&r, "/buy/ticket?user=unprivileged", &rep),
	    "%s", r.err);
	ck_assert_int_eq(rep.code, 1);
	ck_assert_msg(rig_stat_wait(&r, "user:unprivileged", 1,
	    BUDGET_STAT_MS), "no stat line from an unprivileged instance");
	ck_assert_int_eq(stat(r.stat_log, &st), 0);
	ck_assert_uint_eq(st.st_uid, pw->pw_uid);
	rig_stop(&r);
}
END_TEST

/*
 * spike-fcgi started as root, as the README's old spawn loop did
 * (spawn-fcgi without -u), exits 1 saying how to run it, and creates
 * neither stat.log nor the flag.
 */
START_TEST(test_root_refused)
{
	struct rig	 r;
	struct stat	 st;
	const char	*spawn_fcgi = getenv("SPAWN_FCGI");
	char		 port[16], log[RIG_PATH_MAX + 16];
	char		*argv[] = { (char *)spawn_fcgi, "-n", "-a", "127.0.0.1",
	    "-p", port, "--", r.spike_fcgi, "-c", r.conf, NULL };
	int		 status;

	need_root("spike-fcgi refuses root");
	ck_assert_msg(spawn_fcgi != NULL, "SPAWN_FCGI is not set (run "
	    "through make check)");
	ck_assert_msg(rig_init(&r, NULL), "rig: %s", r.err);
	snprintf(port, sizeof(port), "%d", r.inst[0].port);
	snprintf(log, sizeof(log), "%s/as-root.log", r.dir);
	ck_assert_msg(rig_run(&r, argv, log, BUDGET_UP_MS, &status),
	    "spike-fcgi as root: %s", r.err);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
	    "spike-fcgi as root: wait status 0x%x, want exit 1", status);
	ck_assert_msg(file_has(log, "refusing to run as root") &&
	    file_has(log, "--user"), "no clear refusal in %s", log);
	ck_assert_msg(lstat(r.stat_log, &st) == -1 && errno == ENOENT,
	    "stat.log written by a refused instance");
	ck_assert_msg(lstat(r.sold_out_flag, &st) == -1 && errno == ENOENT,
	    "flag written by a refused instance");
	rig_stop(&r);
}
END_TEST

/* Run spikectl spawn for instance 0 with up to two more arguments. */
static int
spawn_as_root(struct rig *r, const char *a, const char *b, char *log,
    size_t logsz)
{
	char	 addr[32];
	char	*argv[] = { r->spikectl, "-c", r->conf, "spawn", addr,
	    "--program", r->spike_fcgi, (char *)a, (char *)b, NULL };
	int	 status;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", r->inst[0].port);
	snprintf(log, logsz, "%s/spawn-%s.log", r->dir, b ? b : "nouser");
	ck_assert_msg(rig_run(r, argv, log, BUDGET_UP_MS, &status),
	    "spikectl spawn %s %s: %s", a ? a : "", b ? b : "", r->err);
	ck_assert_msg(WIFEXITED(status), "spikectl spawn: status 0x%x",
	    status);
	return WEXITSTATUS(status);
}

/*
 * spikectl spawn as root without --user, or with a root or unknown user,
 * refuses with a clear message and starts nothing.
 */
START_TEST(test_spawn_as_root_needs_user)
{
	struct rig	 r;
	char		 log[RIG_PATH_MAX + 32];
	int		 fd;

	need_root("spikectl spawn as root");
	ck_assert_msg(rig_init(&r, NULL), "rig: %s", r.err);
	ck_assert_int_eq(spawn_as_root(&r, NULL, NULL, log, sizeof(log)), 1);
	ck_assert_msg(file_has(log, "refusing to start an instance as root") &&
	    file_has(log, "--user NAME"), "no clear refusal in %s", log);
	ck_assert_int_eq(spawn_as_root(&r, "--user", "root", log,
	    sizeof(log)), 1);
	ck_assert_msg(file_has(log, "--user root: uid or group 0"),
	    "--user root not refused clearly: see %s", log);
	ck_assert_int_eq(spawn_as_root(&r, "--user", "no-such-user-x", log,
	    sizeof(log)), 1);
	ck_assert_msg(file_has(log, "no such user"), "see %s", log);
	fd = rig_tcp_connect(r.inst[0].port, 1000);
	ck_assert_msg(fd == -1, "something listens on instance 0's port");
	rig_stop(&r);
}
END_TEST

/*
 * Make path a symbolic link to target, which, when content is not NULL,
 * is a file that anyone (so the instance's user too) could write.
 */
static void
plant_link(const char *path, const char *target, const char *content)
{
	FILE	*f;

	if (content != NULL) {
		ck_assert_msg((f = fopen(target, "w")) != NULL, "%s", target);
		fputs(content, f);
		ck_assert_int_eq(fclose(f), 0);
		ck_assert_int_eq(chmod(target, 0666), 0);
	}
	ck_assert_msg(symlink(target, path) == 0, "symlink %s: %s", path,
	    strerror(errno));
}

/*
 * Instance 0 must exit 1 at start, its log naming what and path.  It may
 * get as far as listening (spawn-fcgi binds first) before it exits.
 */
static void
assert_start_refused(struct rig *r, const char *what, const char *path)
{
	char	 log[RIG_PATH_MAX + 32], want[RIG_PATH_MAX + 64];
	int	 status;

	if (rig_instance_start(r, 0)) {
		ck_assert_msg(rig_instance_wait(r, 0, BUDGET_UP_MS, &status,
		    NULL), "instance runs with a link at %s %s", what, path);
	} else {
		ck_assert_msg(r->inst[0].pid == 0, "%s", r->err);
		status = r->inst[0].status;
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
	    "%s link: wait status 0x%x, want exit 1", what, status);
	snprintf(log, sizeof(log), "%s/instance-%d.log", r->dir,
	    r->inst[0].port);
	snprintf(want, sizeof(want), "%s %s: a symbolic link", what, path);
	ck_assert_msg(file_has(log, want), "%s does not say \"%s\"", log,
	    want);
}

/*
 * A link at stat_log's path stops the instance at start, and the file it
 * points to, writable as it is, is not written; likewise a link at
 * sold_out_flag's path, whose missing target is not created.
 */
START_TEST(test_symlink_refused_at_start)
{
	struct rig	 r;
	struct stat	 st;
	char		 victim[RIG_PATH_MAX + 16];

	ck_assert_msg(rig_init(&r, NULL), "rig: %s", r.err);
	ck_assert_msg(rig_redis_start(&r) && rig_sale_set(&r, ROOT_STOCK),
	    "rig: %s", r.err);
	snprintf(victim, sizeof(victim), "%s/victim", r.dir);
	plant_link(r.stat_log, victim, "untouched\n");
	assert_start_refused(&r, "stat_log", r.stat_log);
	ck_assert_msg(file_has(victim, "untouched") && stat(victim, &st) == 0 &&
	    st.st_size == 10, "the link's target was written");
	ck_assert_int_eq(unlink(r.stat_log), 0);

	snprintf(victim, sizeof(victim), "%s/victim-flag", r.dir);
	plant_link(r.sold_out_flag, victim, NULL);
	assert_start_refused(&r, "sold_out_flag", r.sold_out_flag);
	ck_assert_msg(lstat(victim, &st) == -1 && errno == ENOENT,
	    "the flag link's target was created");
	ck_assert_int_eq(unlink(r.sold_out_flag), 0);
	ck_assert_msg(rig_instance_start(&r, 0), "without the links: %s",
	    r.err);
	rig_stop(&r);
}
END_TEST

/*
 * A link put in place of the flag while the sale is over is not written
 * through: its missing target is never created, each instance says so
 * once, and buyers are still told sold out.  When tickets come back the
 * instances remove the link itself.
 */
START_TEST(test_flag_symlink_not_followed)
{
	struct rig_options opt = { .sync_ms = ROOT_SYNC_MS };
	struct rig	 r;
	struct rig_reply rep;
	struct stat	 st;
	char		 victim[RIG_PATH_MAX + 16], link[RIG_PATH_MAX + 16];
	char		 target[64];
	double		 end;
	int		 i;

	rig_ck_start(&r, &opt, ROOT_STOCK);
	for (i = 0; i < ROOT_STOCK; i++) {
		snprintf(target, sizeof(target), "/buy/ticket?user=flag%d", i);
		ck_assert_msg(rig_get(&r, target, &rep), "%s", r.err);
		ck_assert_int_eq(rep.code, 1);
	}
	end = rig_now_ms() + ROOT_WITHIN_MS;
	while (lstat(r.sold_out_flag, &st) == -1) {
		ck_assert_msg(rig_now_ms() < end, "no flag once sold out");
		rig_sleep_ms(10);
	}
	snprintf(victim, sizeof(victim), "%s/victim-flag", r.dir);
	snprintf(link, sizeof(link), "%s/link.tmp", r.dir);
	plant_link(link, victim, NULL);
	ck_assert_int_eq(rename(link, r.sold_out_flag), 0);

	rig_ck_logs_wait(&r, "a symbolic link, not followed", 1,
	    ROOT_WITHIN_MS * 2);
	rig_sleep_ms(ROOT_WITHIN_MS);	/* more syncs: said once only */
	for (i = 0; i < RIG_INSTANCES; i++)
		ck_assert_int_eq(rig_instance_log_lines(&r, i,
		    "sold_out_flag"), 1);
	ck_assert_msg(lstat(victim, &st) == -1 && errno == ENOENT,
	    "the flag was created through a link");
	ck_assert_msg(rig_get(&r, "/buy/ticket?user=late", &rep), "%s", r.err);
	ck_assert_int_eq(rep.code, -1);

	ck_assert(rig_sale_set(&r, ROOT_STOCK * 2));
	end = rig_now_ms() + ROOT_WITHIN_MS;
	while (lstat(r.sold_out_flag, &st) == 0) {
		ck_assert_msg(rig_now_ms() < end, "the link stayed once "
		    "tickets came back");
		rig_sleep_ms(10);
	}
	ck_assert_msg(lstat(victim, &st) == -1 && errno == ENOENT,
	    "the link's target appeared");
	rig_stop(&r);
}
END_TEST

static Suite *
root_suite(void)
{
	Suite	*s = suite_create("root");
	TCase	*tc = tcase_create("no root, no links");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_instances_unprivileged);
	tcase_add_test(tc, test_root_refused);
	tcase_add_test(tc, test_spawn_as_root_needs_user);
	tcase_add_test(tc, test_symlink_refused_at_start);
	tcase_add_test(tc, test_flag_symlink_not_followed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(root_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
