/*
 * reply.c: the whole CGI response for every answer; statlog.c: the stat
 * line format and whole lines from many writers through the rings.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spike.h"
#include "unit.h"

#define CONTENT_TYPE	"Content-Type: application/json; charset=utf-8\r\n"

#define STAT_WRITERS		4
#define STAT_LINES		20000	/* per writer */
#define STAT_LINE_MAX		128

/* A thread appending numbered lines through its own ring. */
struct stat_writer {
	pthread_t		 thread;
	struct statlog_buf	*buf;
	unsigned int		 id;	/* unique over every statlog */
	long			 lines;
};

static char	 buf[4096];
static char	 tmpdir[PATH_MAX];

/* Every response, byte for byte, with its default message. */
static const char *const want_replies[REPLY_KINDS] = {
	[REPLY_BOUGHT] = "Status: 200 OK\r\n" CONTENT_TYPE "\r\n"
	    "{\"code\":1,\"msg\":\"抢票成功\"}\n",
	[REPLY_SOLD_OUT] = "Status: 200 OK\r\n" CONTENT_TYPE "\r\n"
	    "{\"code\":-1,\"msg\":\"已售罄\"}\n",
	[REPLY_UNAVAILABLE] = "Status: 503 Service Unavailable\r\n"
	    CONTENT_TYPE "Retry-After: 1\r\n\r\n"
	    "{\"code\":-2,\"msg\":\"service unavailable\"}\n",
	[REPLY_BAD_REQUEST] = "Status: 400 Bad Request\r\n" CONTENT_TYPE
	    "\r\n{\"code\":-3,\"msg\":\"bad request\"}\n",
	[REPLY_NOT_FOUND] = "Status: 404 Not Found\r\n" CONTENT_TYPE "\r\n"
	    "{\"code\":-4,\"msg\":\"not found\"}\n",
	[REPLY_BAD_METHOD] = "Status: 405 Method Not Allowed\r\n" CONTENT_TYPE
	    "Allow: GET, POST\r\n\r\n"
	    "{\"code\":-5,\"msg\":\"method not allowed\"}\n",
	[REPLY_TOO_LARGE] = "Status: 413 Payload Too Large\r\n" CONTENT_TYPE
	    "\r\n{\"code\":-6,\"msg\":\"request body too large\"}\n",
	[REPLY_NO_ORDER] = "Status: 404 Not Found\r\n" CONTENT_TYPE "\r\n"
	    "{\"code\":-7,\"msg\":\"no such order\"}\n",
	[REPLY_CONFLICT] = "Status: 409 Conflict\r\n" CONTENT_TYPE "\r\n"
	    "{\"code\":-8,\"msg\":\"refused\"}\n",
	[REPLY_HEADERS_TOO_LARGE] = "Status: 431 Request Header Fields Too "
	    "Large\r\n" CONTENT_TYPE "\r\n"
	    "{\"code\":-9,\"msg\":\"request header fields too large\"}\n",
	[REPLY_PAID] = "Status: 200 OK\r\n" CONTENT_TYPE "\r\n"
	    "{\"code\":1,\"msg\":\"支付成功\"}\n",
	[REPLY_OK] = "Status: 200 OK\r\n" CONTENT_TYPE "\r\n"
	    "{\"code\":1,\"msg\":\"ok\"}\n",
	[REPLY_NOT_VERIFIED] = "Status: 403 Forbidden\r\n" CONTENT_TYPE "\r\n"
	    "{\"code\":-12,\"msg\":\"buyer not verified\"}\n",
	[REPLY_PAY_NOT_VERIFIED] = "Status: 403 Forbidden\r\n" CONTENT_TYPE
	    "\r\n{\"code\":-14,\"msg\":\"payment not verified\"}\n",
	[REPLY_NOT_STARTED] = "Status: 403 Forbidden\r\n" CONTENT_TYPE "\r\n"
	    "{\"code\":-10,\"msg\":\"sale not started\"}\n",
	[REPLY_CLOSED] = "Status: 403 Forbidden\r\n" CONTENT_TYPE "\r\n"
	    "{\"code\":-11,\"msg\":\"sale closed\"}\n",
};

static const int want_codes[REPLY_KINDS] = {
	1, -1, -2, -3, -4, -5, -6, -7, -8, -9, 1, 1, -12, -14, -10, -11
};
static const int want_statuses[REPLY_KINDS] = {
	200, 200, 503, 400, 404, 405, 413, 404, 409, 431, 200, 200, 403, 403,
	403, 403
};

/* reply_format for a kind with an optional detail and nothing else. */
static size_t
format_kind(char *out, size_t outsz, enum reply_kind kind, const char *detail)
{
	struct reply	 r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.detail = detail;
	return reply_format(out, outsz, &r);
}

/* ---- reply_format ------------------------------------------------------- */

START_TEST(test_reply_default)
{
	size_t	 n;

	n = format_kind(buf, sizeof(buf), (enum reply_kind)_i, NULL);
	ck_assert_str_eq(buf, want_replies[_i]);
	ck_assert_uint_eq(n, strlen(want_replies[_i]));
}
END_TEST

START_TEST(test_reply_code_and_status)
{
	ck_assert_int_eq(reply_code((enum reply_kind)_i), want_codes[_i]);
	ck_assert_int_eq(reply_status((enum reply_kind)_i), want_statuses[_i]);
}
END_TEST

START_TEST(test_reply_detail_overrides_msg)
{
	ck_assert_uint_gt(format_kind(buf, sizeof(buf), REPLY_BAD_REQUEST,
	    "user given more than once"), 0);
	ck_assert_str_eq(buf, "Status: 400 Bad Request\r\n" CONTENT_TYPE
	    "\r\n{\"code\":-3,\"msg\":\"user given more than once\"}\n");
}
END_TEST

/* The 503 keeps its Retry-After whatever the detail says. */
START_TEST(test_reply_detail_keeps_headers)
{
	ck_assert_uint_gt(format_kind(buf, sizeof(buf), REPLY_UNAVAILABLE,
	    "redis unavailable"), 0);
	ck_assert_str_eq(buf, "Status: 503 Service Unavailable\r\n"
	    CONTENT_TYPE "Retry-After: 1\r\n\r\n"
	    "{\"code\":-2,\"msg\":\"redis unavailable\"}\n");
}
END_TEST

/* RFC 8259, 7: quote, backslash and control characters are escaped. */
START_TEST(test_reply_detail_escaped)
{
	ck_assert_uint_gt(format_kind(buf, sizeof(buf), REPLY_BAD_REQUEST,
	    "say \"hi\" \\ a\nb\tc\r\x01\x1f\x7f \xe5\x94\xae"), 0);
	ck_assert_str_eq(buf, "Status: 400 Bad Request\r\n" CONTENT_TYPE
	    "\r\n{\"code\":-3,\"msg\":\"say \\\"hi\\\" \\\\ a\\u000ab\\u0009c"
	    "\\u000d\\u0001\\u001f\x7f \xe5\x94\xae\"}\n");
}
END_TEST

START_TEST(test_reply_empty_detail)
{
	ck_assert_uint_gt(format_kind(buf, sizeof(buf), REPLY_NOT_FOUND, ""),
	    0);
	ck_assert_str_eq(buf, "Status: 404 Not Found\r\n" CONTENT_TYPE
	    "\r\n{\"code\":-4,\"msg\":\"\"}\n");
}
END_TEST

/* A detail too long for the message is cut, and the JSON still closes. */
START_TEST(test_reply_long_detail)
{
	char	 detail[1000];
	size_t	 n;

	memset(detail, 'x', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	n = format_kind(buf, sizeof(buf), REPLY_BAD_REQUEST, detail);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_lt(n, 400);
	ck_assert_str_eq(buf + n - 3, "\"}\n");
	ck_assert_ptr_nonnull(strstr(buf, "{\"code\":-3,\"msg\":\"xxxx"));
}
END_TEST

/* A 405 names the methods of its resource; extra members close the object. */
START_TEST(test_reply_allow_and_extra)
{
	struct reply	 r;

	memset(&r, 0, sizeof(r));
	r.kind = REPLY_BAD_METHOD;
	r.allow = "POST";
	ck_assert_uint_gt(reply_format(buf, sizeof(buf), &r), 0);
	ck_assert_str_eq(buf, "Status: 405 Method Not Allowed\r\n" CONTENT_TYPE
	    "Allow: POST\r\n\r\n{\"code\":-5,\"msg\":\"method not allowed\"}\n");
	memset(&r, 0, sizeof(r));
	r.kind = REPLY_BOUGHT;
	snprintf(r.extra, sizeof(r.extra), ",\"order\":\"7\",\"pay_by\":99");
	ck_assert_uint_gt(reply_format(buf, sizeof(buf), &r), 0);
	ck_assert_str_eq(buf, "Status: 200 OK\r\n" CONTENT_TYPE "\r\n"
	    "{\"code\":1,\"msg\":\"抢票成功\",\"order\":\"7\",\"pay_by\":99}\n");
}
END_TEST

START_TEST(test_reply_buffer_too_small)
{
	char	 small[256];
	size_t	 n = strlen(want_replies[REPLY_BOUGHT]);

	ck_assert_uint_lt(n, sizeof(small));
	ck_assert_uint_eq(format_kind(small, n, REPLY_BOUGHT, NULL), 0);
	ck_assert_uint_eq(format_kind(small, 10, REPLY_BOUGHT, NULL), 0);
	ck_assert_uint_eq(format_kind(NULL, 0, REPLY_BOUGHT, NULL), 0);
	ck_assert_uint_eq(format_kind(small, n + 1, REPLY_BOUGHT, NULL), n);
	ck_assert_str_eq(small, want_replies[REPLY_BOUGHT]);
}
END_TEST

/* ---- statlog_format ----------------------------------------------------- */

START_TEST(test_statlog_format)
{
	static const char want[] =
	    "result:1,localSales:5,port:3001,user:alice,us:42\n";

	ck_assert_int_eq(statlog_format(buf, sizeof(buf), 1, 5, "3001",
	    "alice", 42), (int)strlen(want));
	ck_assert_str_eq(buf, want);
}
END_TEST

START_TEST(test_statlog_format_no_user)
{
	ck_assert_int_gt(statlog_format(buf, sizeof(buf), -4, 0, "3002", "",
	    7), 0);
	ck_assert_str_eq(buf, "result:-4,localSales:0,port:3002,user:-,us:7\n");
}
END_TEST

START_TEST(test_statlog_format_unix_socket)
{
	ck_assert_int_gt(statlog_format(buf, sizeof(buf), -2, 12345,
	    "/run/spike/a.sock", "bob", 1500000), 0);
	ck_assert_str_eq(buf, "result:-2,localSales:12345,"
	    "port:/run/spike/a.sock,user:bob,us:1500000\n");
}
END_TEST

START_TEST(test_statlog_format_too_small)
{
	static const char want[] =
	    "result:1,localSales:5,port:3001,user:alice,us:42\n";
	char	 small[sizeof(want)];

	ck_assert_int_eq(statlog_format(small, sizeof(want) - 1, 1, 5,
	    "3001", "alice", 42), 0);
	ck_assert_int_eq(statlog_format(small, sizeof(want), 1, 5, "3001",
	    "alice", 42), (int)sizeof(want) - 1);
	ck_assert_str_eq(small, want);
}
END_TEST

/* ---- the stat.log file -------------------------------------------------- */

/* Why the last statlog_open failed. */
static const char *why;

/* Unchecked fixture: a private directory for the stat.log files. */
static void
make_tmpdir(void)
{
	unit_tmpdir_make(tmpdir, sizeof(tmpdir), "check_statlog");
}

static void
remove_tmpdir(void)
{
	unit_tmpdir_remove(tmpdir);
}

static void
tmp_path(char *path, size_t pathsz, const char *name)
{
	ck_assert_int_lt(snprintf(path, pathsz, "%s/%s", tmpdir, name),
	    (int)pathsz);
}

/* Read the whole of path into buf (NUL-terminated); returns its length. */
static size_t
read_small_file(const char *path)
{
	FILE	*f;
	size_t	 n;

	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n;
}

/* Line seq of writer id: its port, user and us all derive from both. */
static int
stat_line(char *line, size_t linesz, unsigned int id, long seq)
{
	char	 port[16], user[16];

	snprintf(port, sizeof(port), "%u", 3001 + id);
	snprintf(user, sizeof(user), "w%u", id);
	return statlog_format(line, linesz, 1, seq, port, user,
	    seq * 7 + id);
}

static void *
stat_writer_main(void *arg)
{
	struct stat_writer	*w = arg;
	char			 line[STAT_LINE_MAX];
	long			 seq;
	int			 n;

	for (seq = 0; seq < w->lines; seq++) {
		n = stat_line(line, sizeof(line), w->id, seq);
		statlog_append(w->buf, line, (size_t)n);
	}
	return NULL;
}

/*
 * Check that path holds exactly lines_each lines from each of nwriters
 * writers, every line whole and well-formed, each writer's lines in order.
 */
static void
check_stat_file(const char *path, unsigned int nwriters, long lines_each)
{
	char	 want[STAT_LINE_MAX], *line = NULL;
	long	 next[16] = { 0 }, total = 0, seq;
	unsigned int id;
	size_t	 cap = 0;
	ssize_t	 len;
	FILE	*f;

	ck_assert_uint_le(nwriters, 16);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while ((len = getline(&line, &cap, f)) != -1) {
		total++;
		ck_assert_msg(sscanf(line, "result:1,localSales:%ld,port:%*u,"
		    "user:w%u,", &seq, &id) == 2 && id < nwriters,
		    "line %ld malformed: %s", total, line);
		ck_assert_msg(seq == next[id], "line %ld: writer %u line %ld, "
		    "want %ld", total, id, seq, next[id]);
		stat_line(want, sizeof(want), id, seq);
		ck_assert_msg(strcmp(line, want) == 0, "line %ld torn: %s",
		    total, line);
		next[id]++;
	}
	free(line);
	fclose(f);
	ck_assert_int_eq(total, (long)nwriters * lines_each);
	for (id = 0; id < nwriters; id++)
		ck_assert_int_eq(next[id], lines_each);
}

/* Start one writer thread per ring of log, ids from first_id on. */
static void
start_writers(struct stat_writer *w, struct statlog *log, unsigned int n,
    unsigned int first_id, long lines)
{
	unsigned int	 i;

	for (i = 0; i < n; i++) {
		w[i] = (struct stat_writer){ .id = first_id + i,
		    .lines = lines };
		ck_assert_ptr_nonnull(w[i].buf = statlog_writer(log, i));
		ck_assert_int_eq(pthread_create(&w[i].thread, NULL,
		    stat_writer_main, &w[i]), 0);
	}
}

static void
join_writers(struct stat_writer *w, unsigned int n)
{
	unsigned int	 i;

	for (i = 0; i < n; i++)
		ck_assert_int_eq(pthread_join(w[i].thread, NULL), 0);
}

/* 4 threads, 20,000 lines each, rings far smaller than their output. */
START_TEST(test_statlog_threads)
{
	struct stat_writer	 w[STAT_WRITERS];
	struct statlog		*log;
	char			 path[PATH_MAX + 64];

	tmp_path(path, sizeof(path), "threads.log");
	ck_assert_ptr_nonnull(log = statlog_open(path, STAT_WRITERS, &why));
	start_writers(w, log, STAT_WRITERS, 0, STAT_LINES);
	join_writers(w, STAT_WRITERS);
	statlog_close(log);
	check_stat_file(path, STAT_WRITERS, STAT_LINES);
}
END_TEST

/* Two instances' stat logs on one file, as O_APPEND allows. */
START_TEST(test_statlog_shared_file)
{
	struct stat_writer	 w[4];
	struct statlog		*a, *b;
	char			 path[PATH_MAX + 64];

	tmp_path(path, sizeof(path), "shared.log");
	ck_assert_ptr_nonnull(a = statlog_open(path, 2, &why));
	ck_assert_ptr_nonnull(b = statlog_open(path, 2, &why));
	start_writers(w, a, 2, 0, STAT_LINES / 2);
	start_writers(w + 2, b, 2, 2, STAT_LINES / 2);
	join_writers(w, 4);
	statlog_close(a);
	statlog_close(b);
	check_stat_file(path, 4, STAT_LINES / 2);
}
END_TEST

START_TEST(test_statlog_flush_now)
{
	static const char line[] = "result:1,localSales:1,port:3001,"
	    "user:a,us:1\n";
	struct statlog	*log;
	char		 path[PATH_MAX + 64];

	tmp_path(path, sizeof(path), "flush.log");
	ck_assert_ptr_nonnull(log = statlog_open(path, 1, &why));
	statlog_append(statlog_writer(log, 0), line, strlen(line));
	statlog_flush(log);
	read_small_file(path);
	ck_assert_str_eq(buf, line);
	statlog_close(log);
	read_small_file(path);
	ck_assert_str_eq(buf, line);
}
END_TEST

/* Without statlog_flush the background thread writes within ~100 ms. */
START_TEST(test_statlog_background_flush)
{
	static const char line[] = "result:-1,localSales:0,port:3001,"
	    "user:-,us:3\n";
	struct timespec	 tick = { 0, 10 * 1000000L };
	struct statlog	*log;
	char		 path[PATH_MAX + 64];
	int		 i;

	tmp_path(path, sizeof(path), "background.log");
	ck_assert_ptr_nonnull(log = statlog_open(path, 1, &why));
	statlog_append(statlog_writer(log, 0), line, strlen(line));
	for (i = 0; i < 200 && read_small_file(path) == 0; i++)
		nanosleep(&tick, NULL);
	ck_assert_str_eq(buf, line);
	statlog_close(log);
}
END_TEST

/* The file is appended to, never truncated. */
START_TEST(test_statlog_appends)
{
	static const char line[] = "result:1,localSales:1,port:3001,"
	    "user:a,us:1\n";
	struct statlog	*log;
	char		 path[PATH_MAX + 64];
	FILE		*f;

	tmp_path(path, sizeof(path), "append.log");
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("earlier line\n", f);
	fclose(f);
	ck_assert_ptr_nonnull(log = statlog_open(path, 1, &why));
	statlog_append(statlog_writer(log, 0), line, strlen(line));
	statlog_close(log);
	read_small_file(path);
	ck_assert_str_eq(buf, "earlier line\nresult:1,localSales:1,"
	    "port:3001,user:a,us:1\n");
}
END_TEST

START_TEST(test_statlog_writers)
{
	struct statlog	*log;
	char		 path[PATH_MAX + 64];

	tmp_path(path, sizeof(path), "writers.log");
	ck_assert_ptr_nonnull(log = statlog_open(path, 2, &why));
	ck_assert_ptr_nonnull(statlog_writer(log, 0));
	ck_assert_ptr_nonnull(statlog_writer(log, 1));
	ck_assert_ptr_ne(statlog_writer(log, 0), statlog_writer(log, 1));
	ck_assert_ptr_null(statlog_writer(log, 2));
	statlog_append(NULL, "x\n", 2);
	statlog_close(log);
	statlog_close(NULL);
	ck_assert_uint_eq(read_small_file(path), 0);
}
END_TEST

START_TEST(test_statlog_open_refused)
{
	char	 path[PATH_MAX + 64];

	tmp_path(path, sizeof(path), "refused.log");
	ck_assert_ptr_null(statlog_open(path, 0, &why));
	ck_assert_ptr_null(statlog_open(path, 257, &why));
	tmp_path(path, sizeof(path), "no/such/dir.log");
	ck_assert_ptr_null(statlog_open(path, 1, &why));
	ck_assert_str_eq(why, strerror(ENOENT));
}
END_TEST

/*
 * A symbolic link at the stat.log path is refused, dangling or not, and
 * nothing is written or created through it.
 */
START_TEST(test_statlog_symlink_refused)
{
	char		 path[PATH_MAX + 64], target[PATH_MAX + 64];
	struct statlog	*log;
	struct stat	 st;

	tmp_path(target, sizeof(target), "root-only.file");
	tmp_path(path, sizeof(path), "link.log");
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_ptr_null(statlog_open(path, 1, &why));
	ck_assert_msg(strstr(why, "symbolic link") != NULL, "why: %s", why);
	ck_assert_msg(lstat(target, &st) == -1 && errno == ENOENT,
	    "a dangling link's target was created");
	ck_assert_ptr_nonnull(log = statlog_open(target, 1, &why));
	statlog_close(log);
	ck_assert_ptr_null(statlog_open(path, 1, &why));
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_ptr_null(safefile_check(target));
	ck_assert_ptr_nonnull(safefile_check(path));
}
END_TEST

/* A FIFO or a directory at the path is refused at once, never waited on. */
START_TEST(test_statlog_not_regular_refused)
{
	char	 path[PATH_MAX + 64];

	tmp_path(path, sizeof(path), "fifo.log");
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_ptr_null(statlog_open(path, 1, &why));
	ck_assert_str_eq(why, "not a regular file");
	tmp_path(path, sizeof(path), "dir.log");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_ptr_null(statlog_open(path, 1, &why));
	ck_assert_str_eq(why, "not a regular file");
	ck_assert_str_eq(safefile_check(path), "not a regular file");
}
END_TEST

/*
 * The sold-out flag is created as a regular file, and never through a
 * link: a link to a file that does not exist leaves it missing, a link to
 * one that does leaves it as it was.
 */
START_TEST(test_flag_create_never_follows)
{
	char		 flag[PATH_MAX + 64], target[PATH_MAX + 64];
	struct stat	 st;
	FILE		*f;

	tmp_path(flag, sizeof(flag), "sold-out");
	ck_assert_ptr_null(safefile_create(flag));
	ck_assert_ptr_null(safefile_create(flag));
	ck_assert_int_eq(lstat(flag, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(unlink(flag), 0);

	tmp_path(target, sizeof(target), "victim");
	ck_assert_int_eq(symlink(target, flag), 0);
	ck_assert_ptr_nonnull(safefile_create(flag));
	ck_assert_msg(lstat(target, &st) == -1 && errno == ENOENT,
	    "the flag was created through a link");
	ck_assert_ptr_nonnull(f = fopen(target, "w"));
	fputs("precious\n", f);
	fclose(f);
	ck_assert_msg(strstr(safefile_create(flag), "symbolic link") != NULL,
	    "a link to an existing file taken for the flag");
	read_small_file(target);
	ck_assert_str_eq(buf, "precious\n");
}
END_TEST

Suite *
make_reply_suite(void)
{
	Suite	*s = suite_create("reply");
	TCase	*tc;

	tc = tcase_create("format");
	tcase_add_loop_test(tc, test_reply_default, 0, REPLY_KINDS);
	tcase_add_loop_test(tc, test_reply_code_and_status, 0, REPLY_KINDS);
	tcase_add_test(tc, test_reply_allow_and_extra);
	tcase_add_test(tc, test_reply_detail_overrides_msg);
	tcase_add_test(tc, test_reply_detail_keeps_headers);
	tcase_add_test(tc, test_reply_detail_escaped);
	tcase_add_test(tc, test_reply_empty_detail);
	tcase_add_test(tc, test_reply_long_detail);
	tcase_add_test(tc, test_reply_buffer_too_small);
	suite_add_tcase(s, tc);
	return s;
}

Suite *
make_statlog_suite(void)
{
	Suite	*s = suite_create("statlog");
	TCase	*tc;

	tc = tcase_create("format");
	tcase_add_test(tc, test_statlog_format);
	tcase_add_test(tc, test_statlog_format_no_user);
	tcase_add_test(tc, test_statlog_format_unix_socket);
	tcase_add_test(tc, test_statlog_format_too_small);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
	tcase_add_test(tc, test_statlog_threads);
	tcase_add_test(tc, test_statlog_shared_file);
	tcase_add_test(tc, test_statlog_flush_now);
	tcase_add_test(tc, test_statlog_background_flush);
	tcase_add_test(tc, test_statlog_appends);
	tcase_add_test(tc, test_statlog_writers);
	tcase_add_test(tc, test_statlog_open_refused);
	tcase_add_test(tc, test_statlog_symlink_refused);
	tcase_add_test(tc, test_statlog_not_regular_refused);
	tcase_add_test(tc, test_flag_create_never_follows);
	suite_add_tcase(s, tc);
	return s;
}
