/*
 * Integration: the two stat logs.  The instances write stat.log and
 * nginx its own edge log (edge_log), in one line format.  The real
 * logrotate, run on the shipped logrotate file with its paths and signals
 * pointed at the rig's, rotates both while a load buys and a sold-out
 * crowd is answered at the edge: no line is lost, each writer ends on
 * its new file, and an instance restarted after nginx reopened its log
 * starts.  stat.log and the sold-out flag are made mode 0640.
 */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rig_ck.h"

#define STAT_LINE_RE	"^result:-?[0-9]+,localSales:[0-9]+," \
			"port:([0-9]+|nginx)," \
			"user:([A-Za-z0-9_.-]{1,64}|-),us:[0-9]+\n$"
#define LOGS_STOCK	500		/* sold out early in the load */
#define LOGS_CONNS	12
#define LOGS_STOCK_READERS 2		/* GET /stock: always an instance */
#define LOGS_LOAD_MS	budget_ms(20000)
#define LOGS_CONF_MAX	8192
#define LOGS_SHIPPED_STAT "/var/log/spike-fcgi/stat.log"
#define LOGS_SHIPPED_EDGE "/var/log/nginx/spike-fcgi-edge.log"
#define LOGS_HUP_MARK	"--signal=HUP"	/* the postrotate line of each */
#define LOGS_USR1_MARK	"--signal=USR1"

/* GET /stock in a loop until told to stop: answers only an instance gives. */
struct stock_reader {
	struct rig	*r;
	pthread_t	 thread;
	atomic_bool	 stop;
	atomic_uint	 answered;
	atomic_uint	 failed;
};

static void *
stock_reader_main(void *arg)
{
	struct stock_reader *sr = arg;
	struct rig_http	 h;
	struct rig_reply rep;
	char		 err[256];

	rig_http_nginx(&h, sr->r);
	while (!atomic_load(&sr->stop)) {
		if (rig_http_request(&h, "GET", "/stock", NULL, NULL, 0, &rep,
		    err, sizeof(err)) && rep.status == 200)
			atomic_fetch_add(&sr->answered, 1);
		else
			atomic_fetch_add(&sr->failed, 1);
	}
	rig_http_close(&h);
	return NULL;
}

/* Whole stat lines in path, failing the test on any other line. */
static long
stat_file_lines(const char *path)
{
	FILE	*f;
	regex_t	 re;
	char	*line = NULL;
	size_t	 cap = 0;
	long	 n = 0;

	ck_assert_int_eq(regcomp(&re, STAT_LINE_RE, REG_EXTENDED | REG_NOSUB),
	    0);
	if ((f = fopen(path, "r")) != NULL) {
		while (getline(&line, &cap, f) != -1) {
			ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0,
			    "%s: not a whole stat line: \"%s\"", path, line);
			n++;
		}
		fclose(f);
	}
	free(line);
	regfree(&re);
	return n;
}

/* The size of path; -1 when it does not exist. */
static long long
file_size(const char *path)
{
	struct stat	 st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The text of the file at path, in buf; fails the test if it cannot. */
static void
slurp(const char *path, char *buf, size_t bufsz)
{
	FILE	*f;
	size_t	 n;

	ck_assert_msg((f = fopen(path, "r")) != NULL, "%s: cannot read",
	    path);
	n = fread(buf, 1, bufsz - 1, f);
	ck_assert_msg(feof(f), "%s: longer than %zu bytes", path, bufsz - 1);
	buf[n] = '\0';
	fclose(f);
}

/* Write text with every from replaced by to into out; returns how many. */
static int
replace_all(const char *text, const char *from, const char *to, FILE *out)
{
	const char	*p;
	int		 n = 0;

	while ((p = strstr(text, from)) != NULL) {
		fprintf(out, "%.*s%s", (int)(p - text), text, to);
		text = p + strlen(from);
		n++;
	}
	fputs(text, out);
	return n;
}

/*
 * The shipped logrotate file as the rig's: its two log paths the rig's
 * files, each postrotate signal line (systemctl kill of the units) a kill
 * of the rig's processes by pid, the same signal.  Written to conf;
 * fails the test when the shipped file has not exactly one of each.
 */
static void
write_logrotate_conf(struct rig *r, const char *conf)
{
	char		 text[LOGS_CONF_MAX], *mem = NULL, *line, *eol;
	size_t		 len = 0;
	FILE		*f, *m;
	const char	*shipped = getenv("SPIKE_LOGROTATE");
	int		 hup = 0, usr1 = 0;

	ck_assert_msg(shipped != NULL, "SPIKE_LOGROTATE is not set");
	slurp(shipped, text, sizeof(text));
	ck_assert((m = open_memstream(&mem, &len)) != NULL);
	ck_assert_int_eq(replace_all(text, LOGS_SHIPPED_STAT, r->stat_log, m),
	    1);
	fclose(m);
	snprintf(text, sizeof(text), "%s", mem);
	free(mem);
	ck_assert((m = open_memstream(&mem, &len)) != NULL);
	ck_assert_int_eq(replace_all(text, LOGS_SHIPPED_EDGE, r->edge_log, m),
	    1);
	fclose(m);
	ck_assert_msg((f = fopen(conf, "w")) != NULL, "%s", conf);
	for (line = mem; *line != '\0'; line = eol + (*eol != '\0')) {
		eol = line + strcspn(line, "\n");
		if (memmem(line, (size_t)(eol - line), LOGS_HUP_MARK,
		    strlen(LOGS_HUP_MARK)) != NULL && ++hup)
			fprintf(f, "\t\tkill -HUP %d %d %d %d\n",
			    (int)r->inst[0].pid, (int)r->inst[1].pid,
			    (int)r->inst[2].pid, (int)r->inst[3].pid);
		else if (memmem(line, (size_t)(eol - line), LOGS_USR1_MARK,
		    strlen(LOGS_USR1_MARK)) != NULL && ++usr1)
			fprintf(f, "\t\tkill -USR1 %d\n",
			    (int)r->nginx_master.pid);
		else
			fprintf(f, "%.*s\n", (int)(eol - line), line);
	}
	free(mem);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_msg(hup == 1 && usr1 == 1, "the shipped logrotate file has "
	    "%d HUP and %d USR1 postrotate lines, want one each", hup, usr1);
}

/* Run logrotate -f on conf, as the timer runs it, with its own state. */
static void
run_logrotate(struct rig *r, const char *conf)
{
	char		 state[RIG_PATH_MAX + 16], log[RIG_PATH_MAX + 16];
	char		 text[LOGS_CONF_MAX];
	const char	*prog = getenv("LOGROTATE");
	char		*argv[] = { (char *)prog, "-f", "-v", "--state", state,
	    (char *)conf, NULL };
	int		 status;

	ck_assert_msg(prog != NULL && access(prog, X_OK) == 0,
	    "no logrotate (LOGROTATE=%s): run scripts/deps",
	    prog ? prog : "");
	snprintf(state, sizeof(state), "%s/logrotate.state", r->dir);
	snprintf(log, sizeof(log), "%s/logrotate.log", r->dir);
	ck_assert_msg(rig_run(r, argv, log, budget_ms(10000), &status), "%s",
	    r->err);
	slurp(log, text, sizeof(text));
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    strstr(text, "error") == NULL, "logrotate failed:\n%s", text);
}

/* The mode bits and owner of path, which must exist. */
static void
owner_mode(const char *path, uid_t *uid, gid_t *gid, mode_t *mode)
{
	struct stat	 st;

	ck_assert_msg(stat(path, &st) == 0, "%s does not exist", path);
	*uid = st.st_uid;
	*gid = st.st_gid;
	*mode = st.st_mode & 07777;
}

/* Restart instance 0; stat.log keeps its owner and mode. */
static void
restart_first(struct rig *r)
{
	uid_t		 uid, uid2;
	gid_t		 gid, gid2;
	mode_t		 mode, mode2;
	int		 status;

	owner_mode(r->stat_log, &uid, &gid, &mode);
	ck_assert_msg(mode == 0640, "new stat.log is mode %04o", mode);
	ck_assert_msg(rig_instance_kill(r, 0, SIGTERM), "%s", r->err);
	ck_assert_msg(rig_instance_wait(r, 0, BUDGET_TERM_MS, &status, NULL),
	    "%s", r->err);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "instance 0 did not exit cleanly: status %d", status);
	ck_assert_msg(rig_instance_start(r, 0), "restart after nginx's "
	    "reopen: %s", r->err);
	rig_sleep_ms(BUDGET_STAT_MS);
	ck_assert_msg(rig_instance_alive(r, 0), "%s", r->err);
	owner_mode(r->stat_log, &uid2, &gid2, &mode2);
	ck_assert_msg(uid == uid2 && gid == gid2 && mode == mode2,
	    "stat.log changed from %d:%d %04o to %d:%d %04o", (int)uid,
	    (int)gid, mode, (int)uid2, (int)gid2, mode2);
}

/* Rotated files stop growing; the new ones get the lines. */
static void
check_writers_moved(struct rig *r, const char *stat1, const char *edge1)
{
	long long	 s1, e1, s, e;

	rig_sleep_ms(BUDGET_NGINX_STAT_MS);
	s1 = file_size(stat1);
	e1 = file_size(edge1);
	s = file_size(r->stat_log);
	e = file_size(r->edge_log);
	ck_assert_msg(s1 > 0 && e1 > 0, "rotated files: %s %lld bytes, %s "
	    "%lld bytes", stat1, s1, edge1, e1);
	rig_sleep_ms(BUDGET_NGINX_STAT_MS);
	ck_assert_msg(file_size(stat1) == s1, "an instance still writes %s",
	    stat1);
	ck_assert_msg(file_size(edge1) == e1, "nginx still writes %s", edge1);
	ck_assert_msg(file_size(r->stat_log) > s, "no new lines in %s",
	    r->stat_log);
	ck_assert_msg(file_size(r->edge_log) > e, "no new lines in %s",
	    r->edge_log);
}

/*
 * Rotate both files under load with the shipped logrotate file: lines
 * across old and new files equal the answers given.
 */
START_TEST(test_rotate_under_load)
{
	struct rig_load_spec spec;
	struct stock_reader sr[LOGS_STOCK_READERS];
	struct rig	 r;
	struct rig_load	 l;
	char		 conf[RIG_PATH_MAX + 32], stat1[RIG_PATH_MAX + 8];
	char		 edge1[RIG_PATH_MAX + 8], sum[1024];
	long		 lines, answers;
	int		 i;

	umask(022);
	rig_ck_start(&r, NULL, LOGS_STOCK);
	snprintf(conf, sizeof(conf), "%s/logrotate.conf", r.dir);
	snprintf(stat1, sizeof(stat1), "%s.1", r.stat_log);
	snprintf(edge1, sizeof(edge1), "%s.1", r.edge_log);
	spec = rig_load_plan(&r, LOGS_CONNS, 10000000, true, 3 * LOGS_LOAD_MS);
	ck_assert(rig_load_start(&l, &spec));
	for (i = 0; i < LOGS_STOCK_READERS; i++) {
		memset(&sr[i], 0, sizeof(sr[i]));
		sr[i].r = &r;
		ck_assert(pthread_create(&sr[i].thread, NULL,
		    stock_reader_main, &sr[i]) == 0);
	}
	/* Both writers busy: the crowd at the edge, /stock at instances. */
	ck_assert_msg(rig_stat_wait(&r, "port:nginx", 200, LOGS_LOAD_MS), "%s",
	    r.err);
	write_logrotate_conf(&r, conf);
	run_logrotate(&r, conf);
	check_writers_moved(&r, stat1, edge1);
	restart_first(&r);
	rig_sleep_ms(BUDGET_NGINX_STAT_MS);

	rig_load_stop(&l);
	for (i = 0; i < LOGS_STOCK_READERS; i++)
		atomic_store(&sr[i].stop, true);
	rig_load_wait(&l);
	answers = (long)atomic_load(&l.answered);
	for (i = 0; i < LOGS_STOCK_READERS; i++) {
		pthread_join(sr[i].thread, NULL);
		ck_assert_int_eq(atomic_load(&sr[i].failed), 0);
		answers += (long)atomic_load(&sr[i].answered);
	}
	rig_load_summary(&l, sum, sizeof(sum));
	ck_assert_msg(l.failed == 0 && l.nginx_own == 0, "%s", sum);
	ck_assert_msg(rig_instances_term(&r, BUDGET_TERM_MS), "%s", r.err);
	ck_assert_msg(rig_nginx_stop(&r), "%s", r.err);
	lines = stat_file_lines(r.stat_log) + stat_file_lines(stat1) +
	    stat_file_lines(r.edge_log) + stat_file_lines(edge1);
	ck_assert_msg(lines == answers, "%ld stat lines in the four files for "
	    "%ld answers: %s", lines, answers, sum);
	ck_assert_int_eq(rig_ck_sold(&r), LOGS_STOCK);
	rig_stop(&r);
}
END_TEST

/* stat.log and the sold-out flag are created 0640, not 0644. */
START_TEST(test_modes)
{
	struct rig	 r;
	struct rig_reply rep;
	uid_t		 uid;
	gid_t		 gid;
	mode_t		 mode;
	double		 end;

	umask(022);
	rig_ck_start(&r, NULL, 1);
	ck_assert_msg(rig_get(&r, "/buy/ticket?user=ann", &rep), "%s", r.err);
	ck_assert_int_eq(rep.code, 1);
	end = rig_now_ms() + BUDGET_UP_MS;
	while (access(r.sold_out_flag, F_OK) != 0 && rig_now_ms() < end)
		rig_sleep_ms(20);
	owner_mode(r.sold_out_flag, &uid, &gid, &mode);
	ck_assert_msg(mode == 0640, "sold-out flag is mode %04o", mode);
	owner_mode(r.stat_log, &uid, &gid, &mode);
	ck_assert_msg(mode == 0640, "stat.log is mode %04o", mode);
	rig_stop(&r);
}
END_TEST

static Suite *
logs_suite(void)
{
	Suite	*s = suite_create("logs");
	TCase	*tc = tcase_create("logs");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_modes);
	tcase_add_test(tc, test_rotate_under_load);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(logs_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
