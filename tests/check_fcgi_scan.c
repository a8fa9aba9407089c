/*
 * fcgi_scan.c: requests built record by record as the FastCGI
 * Specification 1.0 lays them out (sections 3.3, 3.4, 5.1) and scanned
 * with body_max QUERY_BODY_MAX, as the worker does: what libfcgi may read
 * (READY), what it must not (BAD, TOO_LARGE), and how many bytes a
 * request cut short still needs (MORE).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <fastcgi.h>

#include "spike.h"
#include "unit.h"

#define STREAM_MAX	(FCGI_SCAN_WINDOW + 1024)
#define ID		1	/* the request id nginx uses */

/* A connection's bytes as the worker peeks them. */
struct stream {
	unsigned char	 buf[STREAM_MAX];
	size_t		 len;
};

static struct stream	 st;
static struct fcgi_scan	 res;

/* What nginx sends for GET /buy/ticket?user=alice. */
static const char *const nginx_params[][2] = {
	{ "QUERY_STRING", "user=alice" },
	{ "REQUEST_METHOD", "GET" },
	{ "CONTENT_TYPE", "" },
	{ "CONTENT_LENGTH", "" },
	{ "SCRIPT_NAME", "/buy/ticket" },
	{ "REQUEST_URI", "/buy/ticket?user=alice" },
	{ "DOCUMENT_URI", "/buy/ticket" },
	{ "SERVER_PROTOCOL", "HTTP/1.1" },
	{ "REQUEST_ID", "0123456789abcdef0123456789abcdef" },
	{ "REMOTE_ADDR", "127.0.0.1" },
};
#define NGINX_PARAMS	(sizeof(nginx_params) / sizeof(nginx_params[0]))

/* ---- building requests ------------------------------------------------ */

/* Append a record with pad bytes of padding (section 3.3). */
static void
record_pad(unsigned int version, unsigned int type, unsigned int id,
    const void *content, size_t clen, unsigned int pad)
{
	unsigned char	*h = st.buf + st.len;

	ck_assert_uint_le(st.len + FCGI_HEADER_LEN + clen + pad, STREAM_MAX);
	h[0] = (unsigned char)version;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)clen;
	h[6] = (unsigned char)pad;
	h[7] = 0;
	st.len += FCGI_HEADER_LEN;
	if (clen > 0)
		memcpy(st.buf + st.len, content, clen);
	memset(st.buf + st.len + clen, 0, pad);
	st.len += clen + pad;
}

/* Append a version 1 record padded to a multiple of 8, as nginx does. */
static void
record(unsigned int type, unsigned int id, const void *content, size_t clen)
{
	record_pad(FCGI_VERSION_1, type, id, content, clen, (8 - clen % 8) % 8);
}

static void
begin_role(unsigned int id, unsigned int role)
{
	unsigned char	 b[8] = { 0 };

	b[0] = (unsigned char)(role >> 8);
	b[1] = (unsigned char)role;
	b[2] = FCGI_KEEP_CONN;
	record(FCGI_BEGIN_REQUEST, id, b, sizeof(b));
}

static void
begin(void)
{
	begin_role(ID, FCGI_RESPONDER);
}

/* Write a length of a pair, in one byte or four (section 3.4). */
static size_t
length_put(unsigned char *p, uint32_t len)
{
	if (len < 0x80) {
		p[0] = (unsigned char)len;
		return 1;
	}
	p[0] = (unsigned char)(len >> 24 | 0x80);
	p[1] = (unsigned char)(len >> 16);
	p[2] = (unsigned char)(len >> 8);
	p[3] = (unsigned char)len;
	return 4;
}

/* Write a name-value pair at p; returns its length. */
static size_t
pair_put(unsigned char *p, const char *name, const char *value)
{
	size_t	 n = strlen(name), v = strlen(value), at;

	at = length_put(p, (uint32_t)n);
	at += length_put(p + at, (uint32_t)v);
	memcpy(p + at, name, n);
	memcpy(p + at + n, value, v);
	return at + n + v;
}

/* The pairs of nginx_params at p; returns their length. */
static size_t
nginx_pairs(unsigned char *p)
{
	size_t	 i, len = 0;

	for (i = 0; i < NGINX_PARAMS; i++)
		len += pair_put(p + len, nginx_params[i][0],
		    nginx_params[i][1]);
	return len;
}

static void
get_values(const void *content, size_t clen)
{
	record(FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID, content, clen);
}

/* BEGIN, the nginx parameters in one record and their end. */
static void
nginx_head(void)
{
	unsigned char	 p[1024];

	begin();
	record(FCGI_PARAMS, ID, p, nginx_pairs(p));
	record(FCGI_PARAMS, ID, NULL, 0);
}

/* ---- scanning ------------------------------------------------------- */

static enum fcgi_scan_verdict
scan_len(size_t len)
{
	fcgi_scan_request(st.buf, len, QUERY_BODY_MAX, &res);
	return res.verdict;
}

/* Scan the whole stream: v expected, with a reason unless it is good. */
static void
expect(enum fcgi_scan_verdict v)
{
	enum fcgi_scan_verdict	 got = scan_len(st.len);

	ck_assert_msg(got == v, "verdict %d, expected %d (%s)", got, v,
	    res.why != NULL ? res.why : "no reason");
	if (v == FCGI_SCAN_BAD || v == FCGI_SCAN_TOO_LARGE)
		ck_assert_ptr_nonnull(res.why);
	if (v == FCGI_SCAN_MORE)
		ck_assert_uint_gt(res.need, st.len);
}

/* The first len bytes need more, at least need bytes in all. */
static void
expect_more(size_t len, size_t need)
{
	ck_assert_int_eq(scan_len(len), FCGI_SCAN_MORE);
	ck_assert_uint_eq(res.need, need);
}

/* ---- READY ---------------------------------------------------------- */

START_TEST(test_nginx_get)
{
	nginx_head();
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_READY);
	ck_assert_uint_eq(res.request_id, ID);
	ck_assert_ptr_null(res.why);
	ck_assert_uint_eq(res.end, st.len);
}
END_TEST

/* Every strict prefix waits, and never for more than the request. */
START_TEST(test_nginx_get_prefixes)
{
	size_t	 n;

	nginx_head();
	record(FCGI_STDIN, ID, NULL, 0);
	ck_assert_uint_eq(st.len % 8, 0);
	for (n = 0; n < st.len; n++) {
		ck_assert_msg(scan_len(n) == FCGI_SCAN_MORE,
		    "prefix %zu: verdict %d", n, res.verdict);
		ck_assert_msg(res.need > n && res.need <= st.len,
		    "prefix %zu of %zu: need %zu", n, st.len, res.need);
	}
}
END_TEST

/* MORE counts what the next step needs: a header, or a whole content. */
START_TEST(test_need_exact)
{
	unsigned char	 p[1024];
	size_t		 n, clen;

	n = pair_put(p, "FCGI_MAX_REQS", "");
	get_values(p, n);
	expect_more(FCGI_HEADER_LEN + 1, FCGI_HEADER_LEN + n);
	st.len = 0;
	clen = nginx_pairs(p);
	nginx_head();
	expect_more(3, FCGI_HEADER_LEN);
	expect_more(FCGI_HEADER_LEN, 2 * FCGI_HEADER_LEN);
	expect_more(2 * FCGI_HEADER_LEN + 2, 3 * FCGI_HEADER_LEN);
	expect_more(3 * FCGI_HEADER_LEN, 3 * FCGI_HEADER_LEN + clen);
	expect_more(3 * FCGI_HEADER_LEN + clen - 1, 3 * FCGI_HEADER_LEN + clen);
	expect_more(3 * FCGI_HEADER_LEN + clen, st.len);
}
END_TEST

START_TEST(test_request_id_kept)
{
	begin_role(0x1234, FCGI_RESPONDER);
	record(FCGI_PARAMS, 0x1234, NULL, 0);
	record(FCGI_STDIN, 0x1234, NULL, 0);
	expect(FCGI_SCAN_READY);
	ck_assert_uint_eq(res.request_id, 0x1234);
}
END_TEST

/* libfcgi reads the whole body, so the scan waits for its end. */
START_TEST(test_post_body_two_records)
{
	size_t	 before_end;

	nginx_head();
	record(FCGI_STDIN, ID, "user=alice&", 11);
	record(FCGI_STDIN, ID, "order=12345678", 14);
	before_end = st.len;
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_READY);
	expect_more(before_end, before_end + FCGI_HEADER_LEN);
	expect_more(before_end - 1, before_end + FCGI_HEADER_LEN);
}
END_TEST

/*
 * The worker stops after QUERY_BODY_MAX + 1 bytes: libfcgi reads no more,
 * but all of those must have come, or read(2) would wait for them.
 */
START_TEST(test_body_over_max_ready_early)
{
	static unsigned char	 body[5000];
	size_t			 head, enough;

	nginx_head();
	head = st.len;
	memset(body, 'x', sizeof(body));
	record(FCGI_STDIN, ID, body, sizeof(body));
	enough = head + FCGI_HEADER_LEN + QUERY_BODY_MAX + 1;
	ck_assert_int_eq(scan_len(enough), FCGI_SCAN_READY);
	ck_assert_uint_eq(res.end, enough);
	expect_more(enough - 1, enough);
	expect_more(head + FCGI_HEADER_LEN, enough);
	expect_more(head + FCGI_HEADER_LEN - 1, head + FCGI_HEADER_LEN);
}
END_TEST

/* A body of exactly QUERY_BODY_MAX bytes: its end must still be seen. */
START_TEST(test_body_at_max_needs_end)
{
	static unsigned char	 body[QUERY_BODY_MAX];
	static unsigned char	 more[1] = { 'x' };
	size_t			 after;

	nginx_head();
	memset(body, 'x', sizeof(body));
	record(FCGI_STDIN, ID, body, sizeof(body));
	after = st.len;
	expect(FCGI_SCAN_MORE);
	ck_assert_uint_eq(res.need, after + FCGI_HEADER_LEN);
	record(FCGI_STDIN, ID, more, sizeof(more));
	expect_more(after + FCGI_HEADER_LEN, after + FCGI_HEADER_LEN + 1);
	ck_assert_int_eq(scan_len(after + FCGI_HEADER_LEN + 1),
	    FCGI_SCAN_READY);
}
END_TEST

/* The nginx pairs cut into records of 1, 2, ... 7 bytes. */
START_TEST(test_params_many_records)
{
	unsigned char	 p[1024];
	size_t		 len, at, cut;

	len = nginx_pairs(p);
	begin();
	for (at = 0, cut = 1; at < len; at += cut, cut = cut % 7 + 1)
		record(FCGI_PARAMS, ID, p + at, len - at < cut ? len - at : cut);
	record(FCGI_PARAMS, ID, NULL, 0);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_READY);
}
END_TEST

/*
 * A pair with four-byte lengths cut inside each length: a length half
 * read at the end of a record goes on in the next one.
 */
START_TEST(test_pair_split_in_lengths)
{
	static unsigned char	 p[8 + 200 + 300];
	static const size_t	 cuts[] = { 2, 4, 2, 100, 400 };
	size_t			 i, at = 0;

	length_put(p, 200);
	length_put(p + 4, 300);
	memset(p + 8, 'n', 200);
	memset(p + 208, 'v', 300);
	begin();
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		record(FCGI_PARAMS, ID, p + at, cuts[i]);
		at += cuts[i];
	}
	ck_assert_uint_eq(at, sizeof(p));
	record(FCGI_PARAMS, ID, NULL, 0);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_READY);
}
END_TEST

/* A length of 65536 cut over two records is still seen whole. */
START_TEST(test_split_length_too_large)
{
	static const unsigned char	 p[] = { 0x00, 0x80, 0x01, 0x00, 0x00 };

	begin();
	record(FCGI_PARAMS, ID, p, 3);
	record(FCGI_PARAMS, ID, p + 3, 2);
	expect(FCGI_SCAN_TOO_LARGE);
}
END_TEST

/* One record of 65535 bytes: the most nginx sends, and allowed. */
START_TEST(test_params_at_max)
{
	static unsigned char	 p[FCGI_SCAN_PARAMS_MAX];
	size_t			 at;

	at = length_put(p, 10);
	at += length_put(p + at, FCGI_SCAN_PARAMS_MAX - 4 - 1 - 10);
	memset(p + at, 'a', sizeof(p) - at);
	begin();
	record(FCGI_PARAMS, ID, p, sizeof(p));
	record(FCGI_PARAMS, ID, NULL, 0);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_READY);
}
END_TEST

/* 65536 bytes of pairs over two records: refused from the header. */
START_TEST(test_params_over_max)
{
	static unsigned char	 p[FCGI_SCAN_PARAMS_MAX];
	static const unsigned char	 empty[2] = { 0, 0 };
	size_t			 at, second;

	at = length_put(p, 10);
	at += length_put(p + at, FCGI_SCAN_PARAMS_MAX - 4 - 1 - 10 - 2);
	memset(p + at, 'a', sizeof(p) - at - 2);
	begin();
	record(FCGI_PARAMS, ID, p, sizeof(p) - 2);
	second = st.len;
	record(FCGI_PARAMS, ID, empty, 2);
	ck_assert_int_eq(scan_len(second + FCGI_HEADER_LEN + 2), FCGI_SCAN_MORE);
	st.len = second;
	record(FCGI_PARAMS, ID, p, 3);
	ck_assert_int_eq(scan_len(second + FCGI_HEADER_LEN),
	    FCGI_SCAN_TOO_LARGE);
}
END_TEST

/* ---- parameters over the limit ---------------------------------------- */

/* Name and value lengths that libfcgi adds in an int. */
static const uint32_t	 huge[][2] = {
	{ 0x40000000, 0x40000000 },
	{ 0x7fffffff, 1 },
	{ 0x00ffffff, 0x00ffffff },
	{ 0x7fffffff, 0x7fffffff },
	{ 30000, 40000 },
};

START_TEST(test_huge_pair)
{
	unsigned char	 p[8];

	p[0] = 0x80 | (unsigned char)(huge[_i][0] >> 24);
	p[1] = (unsigned char)(huge[_i][0] >> 16);
	p[2] = (unsigned char)(huge[_i][0] >> 8);
	p[3] = (unsigned char)huge[_i][0];
	p[4] = 0x80 | (unsigned char)(huge[_i][1] >> 24);
	p[5] = (unsigned char)(huge[_i][1] >> 16);
	p[6] = (unsigned char)(huge[_i][1] >> 8);
	p[7] = (unsigned char)huge[_i][1];
	nginx_head();
	st.len -= FCGI_HEADER_LEN;	/* no end of PARAMS yet */
	record(FCGI_PARAMS, ID, p, sizeof(p));
	expect(FCGI_SCAN_TOO_LARGE);
}
END_TEST

/* ---- management records (section 4) ---------------------------------- */

START_TEST(test_get_values_before_begin)
{
	unsigned char	 p[64];

	get_values(p, pair_put(p, "FCGI_MPXS_CONNS", ""));
	nginx_head();
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_READY);
	ck_assert_uint_eq(res.request_id, ID);
}
END_TEST

/*
 * One GET_VALUES anywhere in a request; a second is refused, since
 * libfcgi writes each answer at once and a peer that reads none could
 * block the worker.
 */
START_TEST(test_get_values_between_records)
{
	unsigned char	 p[64];
	size_t		 n = pair_put(p, "FCGI_MAX_CONNS", "");

	begin();
	record(FCGI_PARAMS, ID, "\x01\x01" "ab", 4);
	record(FCGI_PARAMS, ID, NULL, 0);
	record(FCGI_STDIN, ID, "x", 1);
	get_values(p, n);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_READY);
	ck_assert_uint_eq(res.params, 1);
	ck_assert_uint_eq(res.end, st.len);
	st.len = 0;
	begin();
	get_values(p, n);
	record(FCGI_PARAMS, ID, "\x01\x01" "ab", 4);
	get_values(p, n);
	record(FCGI_PARAMS, ID, NULL, 0);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

static const unsigned char	 overflowing[8] = {
	0xc0, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00,
};

START_TEST(test_get_values_overflow_before_begin)
{
	get_values(overflowing, sizeof(overflowing));
	nginx_head();
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

START_TEST(test_get_values_overflow_in_stdin)
{
	nginx_head();
	record(FCGI_STDIN, ID, "user=", 5);
	get_values(overflowing, sizeof(overflowing));
	record(FCGI_STDIN, ID, "alice", 5);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

/* A pair that runs past the end of its GET_VALUES record. */
START_TEST(test_get_values_pair_cut)
{
	static const unsigned char	 p[] = { 0x02, 0x01, 'a', 'b' };

	get_values(p, sizeof(p));
	nginx_head();
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

/*
 * libfcgi would read their content into the request's stream, even
 * when it reads as well-formed pairs.
 */
START_TEST(test_management_with_content)
{
	unsigned char	 p[64];
	size_t		 n = pair_put(p, "FCGI_MAX_CONNS", "");

	record(FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, p, n);
	nginx_head();
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	nginx_head();
	record(FCGI_STDOUT, FCGI_NULL_REQUEST_ID, p, n);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

/*
 * libfcgi leaks the 48 bytes it allocates for every management record
 * but GET_VALUES, even an empty one: 2,000 of them in 16 KB leaked
 * 96,000 bytes.
 */
START_TEST(test_management_empty)
{
	record(FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, NULL, 0);
	nginx_head();
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	nginx_head();
	record(FCGI_ABORT_REQUEST, FCGI_NULL_REQUEST_ID, NULL, 0);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

/*
 * libfcgi answers GET_VALUES in a 64-byte buffer, an entry for each
 * known name and no bound: a fourth FCGI_MAX_REQS smashed its stack.
 */
START_TEST(test_get_values_four_names)
{
	unsigned char	 p[128];
	size_t		 n = 0;
	int		 i;

	for (i = 0; i < 3; i++)
		n += pair_put(p + n, "FCGI_MAX_REQS", "");
	get_values(p, n);
	nginx_head();
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_READY);
	st.len = 0;
	n += pair_put(p + n, "FCGI_MAX_REQS", "");
	get_values(p, n);
	nginx_head();
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

/* ---- malformed streams ------------------------------------------------ */

/*
 * libfcgi never skips the padding of BEGIN_REQUEST nor that of the empty
 * PARAMS record: SetReaderType() forgets it, so the padding is read as
 * the next header.  nginx pads neither.
 */
START_TEST(test_padding_libfcgi_skips_not)
{
	static const unsigned char	 b[8] = { 0, FCGI_RESPONDER };

	record_pad(FCGI_VERSION_1, FCGI_BEGIN_REQUEST, ID, b, sizeof(b), 8);
	record(FCGI_PARAMS, ID, NULL, 0);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	begin();
	record_pad(FCGI_VERSION_1, FCGI_PARAMS, ID, NULL, 0, 8);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

START_TEST(test_version_2)
{
	begin();
	record_pad(2, FCGI_PARAMS, ID, NULL, 0, 0);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	record_pad(2, FCGI_BEGIN_REQUEST, ID, "\0\1\1\0\0\0\0\0", 8, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

START_TEST(test_record_before_begin)
{
	record(FCGI_PARAMS, ID, NULL, 0);
	nginx_head();
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

START_TEST(test_second_begin)
{
	begin();
	record(FCGI_PARAMS, ID, NULL, 0);
	begin_role(2, FCGI_RESPONDER);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	begin();
	begin();
	expect(FCGI_SCAN_BAD);
}
END_TEST

START_TEST(test_begin_malformed)
{
	static const unsigned char	 b[16] = { 0, FCGI_RESPONDER };

	begin_role(FCGI_NULL_REQUEST_ID, FCGI_RESPONDER);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	record(FCGI_BEGIN_REQUEST, ID, b, 16);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	record(FCGI_BEGIN_REQUEST, ID, b, 7);
	expect(FCGI_SCAN_BAD);
	st.len = FCGI_HEADER_LEN;	/* the header alone says so */
	expect(FCGI_SCAN_BAD);
}
END_TEST

START_TEST(test_role_not_responder)
{
	begin_role(ID, FCGI_AUTHORIZER);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	begin_role(ID, FCGI_FILTER);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	begin_role(ID, 0x0101);
	expect(FCGI_SCAN_BAD);
}
END_TEST

START_TEST(test_stdin_during_params)
{
	unsigned char	 p[64];

	begin();
	record(FCGI_PARAMS, ID, p, pair_put(p, "REQUEST_METHOD", "GET"));
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

/* After the end of PARAMS only STDIN records belong to the request. */
START_TEST(test_params_after_end)
{
	unsigned char	 p[64];

	nginx_head();
	record(FCGI_PARAMS, ID, p, pair_put(p, "QUERY_STRING", "user=eve"));
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	nginx_head();
	record(FCGI_ABORT_REQUEST, ID, NULL, 0);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

START_TEST(test_other_request_id)
{
	begin();
	record(FCGI_PARAMS, ID + 1, NULL, 0);
	record(FCGI_STDIN, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	nginx_head();
	record(FCGI_STDIN, ID + 1, NULL, 0);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	nginx_head();
	record(FCGI_STDIN, 0x0100 | ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

START_TEST(test_params_end_inside_pair)
{
	static const unsigned char	 in_length[] = { 0x03, 0x80, 0x00 };
	static const unsigned char	 in_value[] = { 0x01, 0x05, 'a', 'b' };
	static const unsigned char	 name_only[] = { 0x01 };

	begin();
	record(FCGI_PARAMS, ID, in_length, sizeof(in_length));
	record(FCGI_PARAMS, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	begin();
	record(FCGI_PARAMS, ID, in_value, sizeof(in_value));
	record(FCGI_PARAMS, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
	st.len = 0;
	begin();
	record(FCGI_PARAMS, ID, name_only, sizeof(name_only));
	record(FCGI_PARAMS, ID, NULL, 0);
	expect(FCGI_SCAN_BAD);
}
END_TEST

START_TEST(test_empty_stream)
{
	expect_more(0, FCGI_HEADER_LEN);
	ck_assert_uint_eq(res.request_id, 0);
}
END_TEST

/*
 * One content byte and 255 of padding a record: a request that would
 * not end within FCGI_SCAN_WINDOW is refused, not waited for.
 */
START_TEST(test_padding_past_window)
{
	static const unsigned char	 zero[1] = { 0 };

	begin();
	while (st.len < FCGI_SCAN_WINDOW)
		record_pad(FCGI_VERSION_1, FCGI_PARAMS, ID, zero, 1, 255);
	ck_assert_int_eq(scan_len(FCGI_SCAN_WINDOW / 2), FCGI_SCAN_MORE);
	ck_assert_int_eq(scan_len(FCGI_SCAN_WINDOW), FCGI_SCAN_BAD);
	ck_assert_ptr_nonnull(res.why);
}
END_TEST

Suite *
make_fcgi_scan_suite(void)
{
	Suite	*s = suite_create("fcgi_scan");
	TCase	*tc;

	tc = tcase_create("ready");
	tcase_add_test(tc, test_nginx_get);
	tcase_add_test(tc, test_nginx_get_prefixes);
	tcase_add_test(tc, test_need_exact);
	tcase_add_test(tc, test_request_id_kept);
	tcase_add_test(tc, test_post_body_two_records);
	tcase_add_test(tc, test_body_over_max_ready_early);
	tcase_add_test(tc, test_body_at_max_needs_end);
	tcase_add_test(tc, test_params_many_records);
	tcase_add_test(tc, test_pair_split_in_lengths);
	tcase_add_test(tc, test_params_at_max);
	tcase_add_test(tc, test_empty_stream);
	suite_add_tcase(s, tc);

	tc = tcase_create("too_large");
	tcase_add_loop_test(tc, test_huge_pair, 0,
	    (int)(sizeof(huge) / sizeof(huge[0])));
	tcase_add_test(tc, test_split_length_too_large);
	tcase_add_test(tc, test_params_over_max);
	suite_add_tcase(s, tc);

	tc = tcase_create("management");
	tcase_add_test(tc, test_get_values_before_begin);
	tcase_add_test(tc, test_get_values_between_records);
	tcase_add_test(tc, test_get_values_overflow_before_begin);
	tcase_add_test(tc, test_get_values_overflow_in_stdin);
	tcase_add_test(tc, test_get_values_pair_cut);
	tcase_add_test(tc, test_management_with_content);
	tcase_add_test(tc, test_management_empty);
	tcase_add_test(tc, test_get_values_four_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad");
	tcase_add_test(tc, test_version_2);
	tcase_add_test(tc, test_padding_libfcgi_skips_not);
	tcase_add_test(tc, test_record_before_begin);
	tcase_add_test(tc, test_second_begin);
	tcase_add_test(tc, test_begin_malformed);
	tcase_add_test(tc, test_role_not_responder);
	tcase_add_test(tc, test_stdin_during_params);
	tcase_add_test(tc, test_params_after_end);
	tcase_add_test(tc, test_other_request_id);
	tcase_add_test(tc, test_params_end_inside_pair);
	tcase_add_test(tc, test_padding_past_window);
	suite_add_tcase(s, tc);
	return s;
}
