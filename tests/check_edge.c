/*
 * Integration: sold out at the edge.  Once Redis says the sale is over,
 * nginx answers plain purchases itself (stat line "port:nginx") as soon
 * as the instances' next sync has put the flag file there; when tickets
 * come back it lets purchases through again after the next sync; bad
 * input still reaches an instance and gets its 400.  And what nginx
 * refuses itself (a broken request, a method it will not pass, a URI or
 * headers too long, /metrics/N from elsewhere) is the service's JSON with
 * a negative code, with no nginx version; an aborted connection leaves no
 * "uninitialized" warning in nginx's error log.
 */
#include "config.h"

#include <sys/socket.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rig_ck.h"

#define EDGE_STOCK	20
/* The flag file follows Redis at the instances' next sync. */
#define EDGE_WITHIN_MS	BUDGET_SYNC_MS(CONF_DEFAULT_SYNC_MS, \
			    CONF_DEFAULT_REDIS_TIMEOUT_MS)

/* Buy once as a new user; returns the answer's code. */
static int
buy(struct rig *r, struct rig_reply *rep)
{
	static unsigned int	 buyer;
	char			 target[64];

	snprintf(target, sizeof(target), "/buy/ticket?user=edge%u", ++buyer);
	ck_assert_msg(rig_get(r, target, rep), "%s", r->err);
	return rep->code;
}

/*
 * Buy until an answer comes from nginx itself, which has a Content-Length
 * where an instance's answer through nginx is chunked; returns the ms it
 * took.
 */
static double
ms_until_edge_answers(struct rig *r, struct rig_reply *rep)
{
	double		 start = rig_now_ms();

	for (;;) {
		ck_assert_int_eq(buy(r, rep), -1);
		if (!rep->chunked && rep->content_length > 0)
			return rig_now_ms() - start;
		ck_assert_msg(rig_now_ms() - start <= EDGE_WITHIN_MS,
		    "nginx did not answer sold out itself within %u ms",
		    EDGE_WITHIN_MS);
		usleep(10000);
	}
}

START_TEST(test_sold_out_at_the_edge)
{
	struct rig	 r;
	struct rig_reply rep;
	long long	 total = 0, sold = 0;
	double		 ms, start;
	int		 i;

	rig_ck_start(&r, NULL, EDGE_STOCK);
	for (i = 0; i < EDGE_STOCK * 3; i++)
		buy(&r, &rep);
	ck_assert(rig_sale_get(&r, &total, &sold));
	ck_assert_int_eq(sold, EDGE_STOCK);

	ms = ms_until_edge_answers(&r, &rep);
	ck_assert_msg(ms <= EDGE_WITHIN_MS, "edge took %.0f ms", ms);
	/* nginx logs its answers to its edge log (buffered up to 1 s). */
	ck_assert_msg(rig_stat_wait(&r, "port:nginx,user:edge", 1,
	    BUDGET_NGINX_STAT_MS),
	    "no stat line for nginx's own answer");
	ck_assert_msg(access(r.sold_out_flag, F_OK) == 0, "no flag file");
	ck_assert_str_eq(rep.content_type, "application/json; charset=utf-8");

	/* Bad input is not answered at the edge. */
	ck_assert(rig_get(&r, "/buy/ticket?user=bad*user", &rep));
	ck_assert_int_eq(rep.status, 400);
	ck_assert_int_eq(rep.code, -3);

	/* Tickets come back: purchases flow again after the next sync. */
	ck_assert(rig_sale_set(&r, EDGE_STOCK * 2));
	start = rig_now_ms();
	while (buy(&r, &rep) != 1)
		ck_assert_msg(rig_now_ms() - start <= EDGE_WITHIN_MS,
		    "still sold out %.0f ms after tickets came back (limit "
		    "%u ms)", rig_now_ms() - start, EDGE_WITHIN_MS);
	ck_assert_msg(access(r.sold_out_flag, F_OK) == -1,
	    "flag file still there while tickets remain");
	rig_stop(&r);
}
END_TEST

/* ---- nginx's own answers ------------------------------------------------ */

#define RAW_MAX		16384

/*
 * Send req on a new connection from source (NULL: any) to nginx and
 * read its answer until nginx closes; returns it, NUL-terminated.
 */
static void
raw_answer(struct rig *r, const char *source, const char *req, char *out,
    size_t outsz)
{
	size_t	 len = 0;
	ssize_t	 n;
	int	 fd;

	fd = rig_tcp_connect_from(source, r->http_port, BUDGET_UP_MS);
	ck_assert_msg(fd != -1, "connect to nginx from %s",
	    source ? source : "any");
	ck_assert_msg(rig_send_all(fd, req, strlen(req)), "send");
	while (len < outsz - 1 &&
	    (n = recv(fd, out + len, outsz - 1 - len, 0)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fd);
}

/* A request: head, n 'a's, then tail. */
static char *
long_request(const char *head, size_t n, const char *tail)
{
	char	*req;
	size_t	 h = strlen(head), t = strlen(tail);

	ck_assert((req = malloc(h + n + t + 1)) != NULL);
	memcpy(req, head, h);
	memset(req + h, 'a', n);
	memcpy(req + h + n, tail, t + 1);
	return req;
}

/* The answer is status, JSON with code, and names no nginx version. */
static void
assert_json_answer(const char *what, const char *ans, int status, int code)
{
	char	 line[32], body[64];

	snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
	snprintf(body, sizeof(body), "{\"code\":%d,\"msg\":\"", code);
	ck_assert_msg(strncmp(ans, line, strlen(line)) == 0 &&
	    strstr(ans, "\r\nContent-Type: application/json; "
	    "charset=utf-8\r\n") != NULL && strstr(ans, body) != NULL,
	    "%s: want %d with code %d, got:\n%s", what, status, code, ans);
	ck_assert_msg(strstr(ans, "\r\nServer: nginx\r\n") != NULL &&
	    strstr(ans, "<html") == NULL, "%s: nginx shows itself:\n%s",
	    what, ans);
}

START_TEST(test_nginx_refusals_are_json)
{
	static const struct {
		const char	*what, *req;
		int		 status, code;
	} cases[] = {
		{ "two Host headers", "GET /buy/ticket HTTP/1.1\r\n"
		  "Host: a\r\nHost: b\r\n\r\n", 400, -3 },
		{ "no Host", "GET /buy/ticket HTTP/1.1\r\n\r\n", 400, -3 },
		{ "a broken request line", "BAD\r\n\r\n", 400, -3 },
		{ "TRACE", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405, -5 },
		{ "HTTP/2.0 in HTTP/1 form", "GET / HTTP/2.0\r\nHost: a\r\n"
		  "\r\n", 505, -3 },
		{ "an unknown transfer coding", "POST /pay HTTP/1.1\r\n"
		  "Host: a\r\nTransfer-Encoding: foo\r\n\r\n", 501, -3 },
		{ "an internal page asked for", "GET /.spike/400 HTTP/1.1\r\n"
		  "Host: a\r\nConnection: close\r\n\r\n", 404, -4 },
	};
	struct rig	 r;
	char		*ans, *req;
	size_t		 i;

	ck_assert((ans = malloc(RAW_MAX)) != NULL);
	rig_ck_start(&r, NULL, EDGE_STOCK);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		raw_answer(&r, NULL, cases[i].req, ans, RAW_MAX);
		assert_json_answer(cases[i].what, ans, cases[i].status,
		    cases[i].code);
	}
	/* nginx's default large_client_header_buffers: 4 of 8k. */
	req = long_request("GET /", 9000, " HTTP/1.1\r\nHost: a\r\n\r\n");
	raw_answer(&r, NULL, req, ans, RAW_MAX);
	assert_json_answer("a URI over 8k", ans, 414, -3);
	free(req);
	req = long_request("GET / HTTP/1.1\r\nHost: a\r\nX: ", 9000,
	    "\r\n\r\n");
	raw_answer(&r, NULL, req, ans, RAW_MAX);
	assert_json_answer("a header over 8k", ans, 431, -9);
	free(req);
	/* /metrics/N only from 127.0.0.1: nginx's own deny. */
	raw_answer(&r, "127.0.0.2", "GET /metrics/1 HTTP/1.1\r\nHost: a\r\n"
	    "Connection: close\r\n\r\n", ans, RAW_MAX);
	assert_json_answer("/metrics/1 from 127.0.0.2", ans, 403, -15);
	/* The service's own answers name no version either. */
	raw_answer(&r, NULL, "GET /buy/ticket?user=tokens HTTP/1.1\r\n"
	    "Host: a\r\nConnection: close\r\n\r\n", ans, RAW_MAX);
	assert_json_answer("a purchase", ans, 200, 1);
	rig_stop(&r);
	free(ans);
}
END_TEST

/* Count the lines of nginx's error log holding needle. */
static long
error_log_lines(const struct rig *r, const char *needle)
{
	char	 path[RIG_PATH_MAX + 16], line[4096];
	FILE	*f;
	long	 n = 0;

	snprintf(path, sizeof(path), "%s/error.log", r->nginx_dir);
	ck_assert_msg((f = fopen(path, "r")) != NULL, "%s", path);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

START_TEST(test_aborted_connection_no_warning)
{
	static const char *const aborted[] = {
		"GET /buy/ticket HTTP/1.1\r\nHost: a\r\n",	/* no end */
		"GET /buy/ti",
	};
	struct rig	 r;
	double		 start;
	long		 before;
	size_t		 i;
	int		 fd;

	rig_ck_start(&r, NULL, EDGE_STOCK);
	before = error_log_lines(&r, "prematurely closed");
	for (i = 0; i < sizeof(aborted) / sizeof(aborted[0]); i++) {
		fd = rig_tcp_connect(r.http_port, BUDGET_UP_MS);
		ck_assert(fd != -1);
		ck_assert(rig_send_all(fd, aborted[i], strlen(aborted[i])));
		close(fd);
	}
	/* nginx logs each at info, then writes its access_log line. */
	start = rig_now_ms();
	while (error_log_lines(&r, "prematurely closed") < before + 2) {
		ck_assert_msg(rig_now_ms() - start <= BUDGET_UP_MS,
		    "nginx did not log the aborted connections");
		rig_sleep_ms(10);
	}
	ck_assert_msg(rig_nginx_stop(&r), "%s", r.err);
	ck_assert_msg(error_log_lines(&r, "uninitialized") == 0,
	    "nginx warned of an uninitialized variable (see %s/error.log)",
	    r.nginx_dir);
	rig_stop(&r);
}
END_TEST

static Suite *
edge_suite(void)
{
	Suite	*s = suite_create("edge");
	TCase	*tc = tcase_create("sold out");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sold_out_at_the_edge);
	suite_add_tcase(s, tc);
	tc = tcase_create("nginx's own answers");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_nginx_refusals_are_json);
	tcase_add_test(tc, test_aborted_connection_no_warning);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(edge_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
