/*
 * Integration: bad input through nginx gets the JSON answer of the table
 * in spike-fcgi(8) and sells nothing, and garbage sent straight to an
 * instance's FastCGI port does not hurt it.
 */
#include "config.h"

#include <sys/socket.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fastcgi.h>

#include "rig_ck.h"

#define FORM		"application/x-www-form-urlencoded"
#define CHARS_10	"Ab0_.-xyz9"
#define USER_64		CHARS_10 CHARS_10 CHARS_10 CHARS_10 CHARS_10 CHARS_10 "wxyz"
#define USER_65		USER_64 "q"
#define BIG_BODY	5000

/* One row of the bad-input table. */
struct bad_row {
	const char	*name;
	const char	*method;
	const char	*target;
	const char	*content_type;
	const char	*body;		/* NULL: none; "" with BIG: generated */
	int		 status;
	int		 code;
	const char	*allow;		/* a 405's Allow header */
};

#define BUY_ALLOW	"GET, POST"

static const struct bad_row bad_rows[] = {
	{ "user of 65 chars", "GET", "/buy/ticket?user=" USER_65, NULL, NULL,
	    400, -3, NULL },
	{ "bad char in user", "GET", "/buy/ticket?user=bad*user", NULL, NULL,
	    400, -3, NULL },
	{ "escaped bad char in user", "GET", "/buy/ticket?user=a%2Fb", NULL,
	    NULL, 400, -3, NULL },
	{ "empty user=", "GET", "/buy/ticket?user=", NULL, NULL, 400, -3,
	    NULL },
	{ "user twice in the query", "GET", "/buy/ticket?user=a&user=b", NULL,
	    NULL, 400, -3, NULL },
	{ "user in query and form body", "POST", "/buy/ticket?user=a", FORM,
	    "user=b", 400, -3, NULL },
	{ "bad user in form body", "POST", "/buy/ticket", FORM, "user=bad*user",
	    400, -3, NULL },
	{ "malformed escape %zz", "GET", "/buy/ticket?user=%zz", NULL, NULL,
	    400, -3, NULL },
	/* Names nginx's $arg_user does not see as user, but a decoder would. */
	{ "alias user%00", "GET", "/buy/ticket?user%00=x", NULL, NULL, 400,
	    -3, NULL },
	{ "alias us%65r", "GET", "/buy/ticket?us%65r=x", NULL, NULL, 400, -3,
	    NULL },
	{ "alias user%00%00%00", "GET", "/buy/ticket?user%00%00%00=x", NULL,
	    NULL, 400, -3, NULL },
	{ "alias user+", "GET", "/buy/ticket?user+=x", NULL, NULL, 400, -3,
	    NULL },
	{ "alias %75ser in a form body", "POST", "/buy/ticket", FORM,
	    "%75ser=x", 400, -3, NULL },
	{ "alias user%00 in a form body", "POST", "/buy/ticket", FORM,
	    "user%00=x", 400, -3, NULL },
	/* nginx's $arg_user matches any case; escaped values it sees raw. */
	{ "USER in capitals", "GET", "/buy/ticket?USER=x", NULL, NULL, 400,
	    -3, NULL },
	{ "User beside user", "GET", "/buy/ticket?User=x&user=y", NULL, NULL,
	    400, -3, NULL },
	{ "escaped value al%69ce", "GET", "/buy/ticket?user=al%69ce", NULL,
	    NULL, 400, -3, NULL },
	{ "order of 33 hex digits", "POST", "/pay", FORM, "user=a&order="
	    "0123456789abcdef0123456789abcdef0", 400, -3, NULL },
	{ "order in capitals", "POST", "/pay", FORM, "user=a&order=ABC", 400,
	    -3, NULL },
	{ "truncated escape", "GET", "/buy/ticket?user=ab%2", NULL, NULL, 400,
	    -3, NULL },
	{ "POST body not a form", "POST", "/buy/ticket", "application/json",
	    "{\"user\":\"x\"}", 400, -3, NULL },
	{ "GET with a form body", "GET", "/buy/ticket", FORM, "user=x", 400,
	    -3, NULL },
	{ "GET with a body and a user", "GET", "/buy/ticket?user=y", FORM,
	    "z", 400, -3, NULL },
	{ "GET /order with a form body", "GET", "/order", FORM, "user=x", 400,
	    -3, NULL },
	{ "unknown path", "GET", "/nope", NULL, NULL, 404, -4, NULL },
	{ "unknown path under /buy", "GET", "/buy/tickets?user=a", NULL, NULL,
	    404, -4, NULL },
	{ "DELETE", "DELETE", "/buy/ticket?user=a", NULL, NULL, 405, -5,
	    BUY_ALLOW },
	{ "PUT", "PUT", "/buy/ticket?user=a", NULL, NULL, 405, -5, BUY_ALLOW },
	{ "ET, the end of GET", "ET", "/buy/ticket?user=a", NULL, NULL, 405,
	    -5, BUY_ALLOW },
	{ "T, the end of GET and POST", "T", "/buy/ticket?user=b", NULL, NULL,
	    405, -5, BUY_ALLOW },
	{ "ST, the end of POST", "ST", "/buy/ticket?user=c", NULL, NULL, 405,
	    -5, BUY_ALLOW },
	{ "OST, the end of POST", "OST", "/buy/ticket", FORM, "user=d", 405,
	    -5, BUY_ALLOW },
	{ "GETX, GET and more", "GETX", "/buy/ticket?user=e", NULL, NULL, 405,
	    -5, BUY_ALLOW },
	{ "GE, the start of GET", "GE", "/buy/ticket?user=f", NULL, NULL, 405,
	    -5, BUY_ALLOW },
	{ "OST on /pay", "OST", "/pay", FORM, "user=a&order=1", 405, -5,
	    "POST" },
	{ "ET on /stock", "ET", "/stock", NULL, NULL, 405, -5, "GET" },
	{ "POST on /order", "POST", "/order?user=a", NULL, NULL, 405, -5,
	    "GET" },
	{ "POST body of 5000 bytes", "POST", "/buy/ticket", FORM, "", 413, -6,
	    NULL },
};

/* Send one table row; describe any difference from the table into msg. */
static bool
check_row(struct rig_http *h, const struct bad_row *row, char *msg,
    size_t msgsz)
{
	struct rig_reply rep;
	char		 err[256], *big = NULL;
	const char	*body = row->body;
	size_t		 len = body ? strlen(body) : 0;
	bool		 ok;

	if (body != NULL && *body == '\0') {
		big = malloc(BIG_BODY);
		memcpy(big, "user=", 5);
		memset(big + 5, 'a', BIG_BODY - 5);
		body = big;
		len = BIG_BODY;
	}
	ok = rig_http_request(h, row->method, row->target, row->content_type,
	    body, len, &rep, err, sizeof(err));
	free(big);
	if (!ok) {
		snprintf(msg, msgsz, "%s: %s", row->name, err);
		return false;
	}
	ok = rep.status == row->status && rep.code == row->code &&
	    strncmp(rep.content_type, "application/json", 16) == 0 &&
	    (row->allow == NULL || strcmp(rep.allow, row->allow) == 0);
	if (!ok)
		snprintf(msg, msgsz, "%s: got %d code %d type \"%s\" allow "
		    "\"%s\" body %.200s; want %d code %d", row->name,
		    rep.status, rep.code, rep.content_type, rep.allow,
		    rep.body, row->status, row->code);
	return ok;
}

START_TEST(test_bad_input)
{
	struct rig	 r;
	struct rig_http	 h;
	char		 all[8192] = "", msg[1024];
	size_t		 n = 0, i;
	bool		 ok = true;

	rig_ck_start(&r, NULL, 100);
	rig_http_init(&h, r.http_port);
	for (i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++)
		if (!check_row(&h, &bad_rows[i], msg, sizeof(msg))) {
			ok = false;
			n += (size_t)snprintf(all + n, sizeof(all) - n,
			    "\n  %s", msg);
		}
	rig_http_close(&h);
	ck_assert_msg(ok, "bad input answered wrongly:%s", all);
	ck_assert_int_eq(rig_ck_sold(&r), 0);
	rig_ck_all_alive(&r);
	rig_stop(&r);
}
END_TEST

START_TEST(test_good_input)
{
	struct rig	 r;
	struct rig_http	 h;
	struct rig_reply rep;
	char		 err[256];
	static const char form[] = "user=alice";

	rig_ck_start(&r, NULL, 100);
	rig_http_init(&h, r.http_port);
	ck_assert_msg(rig_http_request(&h, "POST", "/buy/ticket", FORM, form,
	    sizeof(form) - 1, &rep, err, sizeof(err)), "%s", err);
	ck_assert_msg(rep.status == 200 && rep.code == 1,
	    "POST with a form body: %d %s", rep.status, rep.body);
	ck_assert_msg(rig_http_request(&h, "GET", "/buy/ticket?user=" USER_64
	    "&other=x", NULL, NULL, 0, &rep, err, sizeof(err)), "%s", err);
	ck_assert_msg(rep.status == 200 && rep.code == 1,
	    "GET with a 64-char user: %d %s", rep.status, rep.body);
	ck_assert_msg(rig_http_request(&h, "GET", "/buy/ticket", NULL, NULL, 0,
	    &rep, err, sizeof(err)), "%s", err);
	ck_assert_msg(rep.status == 200 && rep.code == 1,
	    "GET without user: %d %s", rep.status, rep.body);
	ck_assert_msg(strncmp(rep.content_type, "application/json", 16) == 0,
	    "Content-Type %s", rep.content_type);
	rig_http_close(&h);
	ck_assert_int_eq(rig_ck_sold(&r), 3);
	rig_stop(&r);
}
END_TEST

/* ---- straight to an instance, as nginx would not send it ---------------- */

#define DIRECT_MAX	1024
#define DIRECT_IO_MS	budget_ms(CONF_DEFAULT_REQUEST_TIMEOUT_MS)

/* One request sent straight to an instance's FastCGI port. */
struct direct_row {
	const char	*name;
	const char	*method;
	const char	*content_length;	/* NULL: no such param */
	int		 status;
	int		 code;
};

static const struct direct_row direct_rows[] = {
	{ "CONTENT_LENGTH -1", "GET", "-1", 400, -3 },
	{ "CONTENT_LENGTH abc", "GET", "abc", 400, -3 },
	{ "CONTENT_LENGTH -1 on a POST", "POST", "-1", 400, -3 },
	{ "CONTENT_LENGTH abc on a POST", "POST", "abc", 400, -3 },
	{ "CONTENT_LENGTH +1", "POST", "+1", 400, -3 },
	{ "CONTENT_LENGTH \" 1\"", "POST", " 1", 400, -3 },
	{ "CONTENT_LENGTH 1x", "POST", "1x", 400, -3 },
	{ "CONTENT_LENGTH 0x10", "POST", "0x10", 400, -3 },
	{ "CONTENT_LENGTH 4097", "POST", "4097", 413, -6 },
	{ "CONTENT_LENGTH of 30 digits", "POST",
	    "123456789012345678901234567890", 413, -6 },
	{ "method get", "get", NULL, 405, -5 },
	{ "method post", "post", "0", 405, -5 },
};

/*
 * Put the record header of FastCGI Specification 1.0, section 3.3, for
 * request 1 at buf; returns the header's length.
 */
static size_t
direct_header(uint8_t *buf, int type, size_t clen, size_t plen)
{
	const uint8_t	 h[FCGI_HEADER_LEN] = { FCGI_VERSION_1, (uint8_t)type,
	    0, 1, (uint8_t)(clen >> 8), (uint8_t)clen, (uint8_t)plen, 0 };

	memcpy(buf, h, sizeof(h));
	return sizeof(h);
}

/*
 * A Responder's request for /buy/ticket?user=direct with row's method and
 * CONTENT_LENGTH, and no body (sections 3.4, 5.1 and 6.2; every name and
 * value under 128 bytes).  Returns its length.
 */
static size_t
direct_request(uint8_t *buf, const struct direct_row *row)
{
	const char	*pairs[] = { "REQUEST_METHOD", row->method,
	    "DOCUMENT_URI", "/buy/ticket", "QUERY_STRING", "user=direct",
	    "CONTENT_LENGTH", row->content_length };
	size_t		 npairs = row->content_length != NULL ? 8 : 6;
	size_t		 off, params, i, nl, vl, pad;

	off = direct_header(buf, FCGI_BEGIN_REQUEST, 8, 0);
	memset(buf + off, 0, 8);
	buf[off + 1] = FCGI_RESPONDER;	/* no FCGI_KEEP_CONN: closed after */
	params = off + 8 + FCGI_HEADER_LEN;
	for (i = 0, off = params; i < npairs; i += 2) {
		nl = strlen(pairs[i]);
		vl = strlen(pairs[i + 1]);
		buf[off++] = (uint8_t)nl;
		buf[off++] = (uint8_t)vl;
		memcpy(buf + off, pairs[i], nl);
		memcpy(buf + off + nl, pairs[i + 1], vl);
		off += nl + vl;
	}
	pad = (8 - (off - params) % 8) % 8;
	direct_header(buf + params - FCGI_HEADER_LEN, FCGI_PARAMS,
	    off - params, pad);
	memset(buf + off, 0, pad);
	off += pad;
	off += direct_header(buf + off, FCGI_PARAMS, 0, 0);
	off += direct_header(buf + off, FCGI_STDIN, 0, 0);
	return off;
}

/* The number after needle in the len bytes at in, or other. */
static int
direct_number(const char *in, size_t len, const char *needle, int other)
{
	const char	*p = memmem(in, len, needle, strlen(needle));

	return p != NULL ? atoi(p + strlen(needle)) : other;
}

/*
 * Send row's request to instance i and read until the instance closes
 * the connection.  Describes any difference from the row into msg.
 */
static bool
direct_check(struct rig *r, int i, const struct direct_row *row, char *msg,
    size_t msgsz)
{
	uint8_t		 req[DIRECT_MAX];
	char		 in[DIRECT_MAX + 1];
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, status, code;

	fd = rig_tcp_connect(r->inst[i].port, DIRECT_IO_MS);
	ck_assert_msg(fd != -1, "connect to instance %d failed", i);
	if (rig_send_all(fd, req, direct_request(req, row)))
		while (len < DIRECT_MAX && (n = recv(fd, in + len,
		    DIRECT_MAX - len, 0)) > 0)
			len += (size_t)n;
	close(fd);
	in[len] = '\0';
	status = direct_number(in, len, "Status: ", 0);
	code = direct_number(in, len, "{\"code\":", RIG_CODE_NONE);
	if (status == row->status && code == row->code)
		return true;
	snprintf(msg, msgsz, "%s: got %d code %d; want %d code %d", row->name,
	    status, code, row->status, row->code);
	return false;
}

START_TEST(test_direct_bad_input)
{
	struct rig	 r;
	char		 all[4096] = "", msg[256];
	size_t		 n = 0, k;
	bool		 ok = true;

	rig_ck_start(&r, NULL, 100);
	for (k = 0; k < sizeof(direct_rows) / sizeof(direct_rows[0]); k++)
		if (!direct_check(&r, (int)(k % RIG_INSTANCES),
		    &direct_rows[k], msg, sizeof(msg))) {
			ok = false;
			n += (size_t)snprintf(all + n, sizeof(all) - n,
			    "\n  %s", msg);
		}
	ck_assert_msg(ok, "direct requests answered wrongly:%s", all);
	ck_assert_int_eq(rig_ck_sold(&r), 0);
	rig_ck_all_alive(&r);
	rig_stop(&r);
}
END_TEST

/* Send the three kinds of garbage of the brief to one instance's port. */
static void
send_garbage(struct rig *r, int port)
{
	/* FastCGI 1.0: header {version, type, id, length, padding}. */
	static const uint8_t truncated[] = { 1, 1, 0, 1, 0 };
	static const uint8_t huge_params[] = {
		1, 1, 0, 1, 0, 8, 0, 0,		/* BEGIN_REQUEST */
		0, 1, 1, 0, 0, 0, 0, 0,		/* responder, keep conn */
		1, 4, 0, 1, 0, 8, 0, 0,		/* PARAMS, 8 bytes */
		0xff, 0xff, 0xff, 0xff,		/* name length 2^31-1 */
		0xff, 0xff, 0xff, 0xff,		/* value length 2^31-1 */
		1, 4, 0, 1, 0xff, 0xff, 0, 0,	/* PARAMS, 65535 promised */
		0x80, 0, 0, 0x10, 0x80,
	};
	uint8_t		 noise[4096];
	uint32_t	 x = 2463534242u;

	for (size_t i = 0; i < sizeof(noise); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		noise[i] = (uint8_t)x;
	}
	ck_assert_msg(rig_send_raw(r, port, noise, sizeof(noise)), "%s",
	    r->err);
	ck_assert_msg(rig_send_raw(r, port, truncated, sizeof(truncated)),
	    "%s", r->err);
	ck_assert_msg(rig_send_raw(r, port, huge_params, sizeof(huge_params)),
	    "%s", r->err);
}

START_TEST(test_raw_garbage)
{
	struct rig	 r;
	struct rig_http	 h;
	struct rig_reply rep;
	char		 err[256], needle[64], target[64];
	int		 i, k;

	rig_ck_start(&r, NULL, 1000);
	for (i = 0; i < RIG_INSTANCES; i++)
		send_garbage(&r, r.inst[i].port);
	rig_ck_all_alive(&r);
	/* 20 buys through nginx reach every instance (weights 1:2:3:4). */
	rig_http_init(&h, r.http_port);
	for (k = 0; k < 20; k++) {
		snprintf(target, sizeof(target), "/buy/ticket?user=g%d", k);
		ck_assert_msg(rig_http_request(&h, "GET", target, NULL, NULL,
		    0, &rep, err, sizeof(err)), "%s", err);
		ck_assert_msg(rep.status == 200 && rep.code == 1,
		    "buy %d after garbage: %d %s", k, rep.status, rep.body);
	}
	rig_http_close(&h);
	rig_ck_all_alive(&r);
	ck_assert_int_eq(rig_ck_sold(&r), 20);
	for (i = 0; i < RIG_INSTANCES; i++) {
		snprintf(needle, sizeof(needle), "port:%d,", r.inst[i].port);
		ck_assert_msg(rig_stat_wait(&r, needle, 1, BUDGET_STAT_MS),
		    "instance %d served nothing after garbage: %s", i, r.err);
	}
	rig_stop(&r);
}
END_TEST

static Suite *
input_suite(void)
{
	Suite	*s = suite_create("input");
	TCase	*tc = tcase_create("input");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_good_input);
	tcase_add_test(tc, test_raw_garbage);
	tcase_add_test(tc, test_direct_bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(input_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
