/*
 * Integration: hostile FastCGI streams sent straight to one instance's
 * port (truncated records, huge lengths, thousands of params, a stream
 * that never ends, clients sending a byte at a time, hundreds of idle
 * connections) while a crowd buys through nginx.  The instance must keep
 * serving, never crash, and exit with status 0 on SIGTERM afterwards.
 *
 * The FastCGI client here follows the FastCGI Specification 1.0:
 * records of section 3.3, name-value pairs of section 3.4, a Responder's
 * BEGIN_REQUEST, PARAMS, STDIN and END_REQUEST of sections 5 and 6.2.
 */
#include "config.h"

#include <check.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fastcgi.h>
#include <hiredis/hiredis.h>

#include "rig_ck.h"

#define SALE_TOTAL	1000000		/* never sold out here */
#define TARGET		3		/* the attacked instance: weight 4 */
#define LOAD_CONNS	8
#define REQ_MAX		(128 * 1024)
#define SLOW_CLIENTS	4
#define SLOW_BYTE_MS	10
#define IDLE_CONNS	200
#define IDLE_THREADS	0	/* the default */
#define IDLE_HOLD_MS	12000		/* longer than nginx's read timeout */
#define TRICKLE_LIMIT_MS	1000	/* request_timeout_ms of that test */
#define TRICKLE_BYTE_MS	50
#define ENDLESS_LIMIT_MS	1000	/* request_timeout_ms of that test */

/*
 * Time budgets, from the instances' timeouts (the defaults, but where a
 * test sets request_timeout_ms) and budget.h's lateness, each scaled by
 * SPIKE_TEST_SLOWDOWN.
 */
#define READ_MS		CONF_DEFAULT_READ_TIMEOUT_MS
/*
 * Any request is answered once a worker is free (IDLE_CONNS silent
 * connections hold every worker for READ_MS, a round for each
 * CONF_DEFAULT_THREADS of them) and Redis has answered or timed out.
 */
#define ANSWER_MS	budget_ms((IDLE_CONNS / CONF_DEFAULT_THREADS + 1) * \
			    READ_MS + CONF_DEFAULT_REDIS_TIMEOUT_MS)
#define LOAD_MAX_MS	ANSWER_MS	/* no buy through nginx waits longer */
/*
 * An endless request is answered within its request_timeout_ms and let
 * go within as long again (conn_drain): the client sends for that long.
 */
#define ENDLESS_MS	budget_ms(2 * ENDLESS_LIMIT_MS + BUDGET_LATE_MS)
/*
 * A trickle is cut at request_timeout_ms; the client sees it a byte or
 * two later.
 */
#define TRICKLE_CUT_MS	budget_ms(TRICKLE_LIMIT_MS + 2 * TRICKLE_BYTE_MS + \
			    BUDGET_LATE_MS)
#define REFUSED_MORE	20		/* bad streams sent in a row */
#define REFUSED_LOGGED	"closed the FastCGI connection of 127.0.0.1:"
#define DIE_MS		100	/* from closing its sockets to its exit */

/* A direct FastCGI answer. */
struct answer {
	bool	 sent;			/* the whole request was sent */
	bool	 ended;			/* END_REQUEST seen */
	bool	 closed;		/* the instance closed the connection */
	bool	 eof;			/* then the end, not a reset */
	char	 fault[80];		/* why sending or reading failed */
	int	 status;		/* from "Status: NNN", 0 if none */
	int	 code;			/* from {"code":N, RIG_CODE_NONE if none */
	char	 out[4096];		/* STDOUT content */
	size_t	 outlen;
	double	 ms;
};

/* ---- a FastCGI client --------------------------------------------------- */

/* Append a record header (section 3.3) to buf at *off. */
static void
put_header(uint8_t *buf, size_t *off, int type, int id, size_t clen,
    unsigned int plen)
{
	uint8_t	*h = buf + *off;

	h[0] = FCGI_VERSION_1;
	h[1] = (uint8_t)type;
	h[2] = (uint8_t)(id >> 8);
	h[3] = (uint8_t)id;
	h[4] = (uint8_t)(clen >> 8);
	h[5] = (uint8_t)clen;
	h[6] = (uint8_t)plen;
	h[7] = 0;
	*off += FCGI_HEADER_LEN;
}

/* Append a whole record with its content and zero padding. */
static void
put_record(uint8_t *buf, size_t *off, int type, const void *content,
    size_t clen)
{
	unsigned int	 plen = (unsigned int)((8 - clen % 8) % 8);

	put_header(buf, off, type, 1, clen, plen);
	if (clen > 0)
		memcpy(buf + *off, content, clen);
	memset(buf + *off + clen, 0, plen);
	*off += clen + plen;
}

/* Append a name-value pair (section 3.4) to buf at *off. */
static void
put_length(uint8_t *buf, size_t *off, uint32_t len)
{
	if (len < 0x80) {
		buf[(*off)++] = (uint8_t)len;
		return;
	}
	buf[(*off)++] = (uint8_t)(0x80 | len >> 24);
	buf[(*off)++] = (uint8_t)(len >> 16);
	buf[(*off)++] = (uint8_t)(len >> 8);
	buf[(*off)++] = (uint8_t)len;
}

static void
put_pair(uint8_t *buf, size_t *off, const char *name, const char *value)
{
	size_t	 nlen = strlen(name), vlen = strlen(value);

	put_length(buf, off, (uint32_t)nlen);
	put_length(buf, off, (uint32_t)vlen);
	memcpy(buf + *off, name, nlen);
	memcpy(buf + *off + nlen, value, vlen);
	*off += nlen + vlen;
}

/* BEGIN_REQUEST for a Responder; keep_conn as FCGI_KEEP_CONN asks. */
static void
put_begin(uint8_t *buf, size_t *off, bool keep_conn)
{
	uint8_t	 body[8] = { 0, FCGI_RESPONDER, keep_conn ? FCGI_KEEP_CONN : 0 };

	put_record(buf, off, FCGI_BEGIN_REQUEST, body, sizeof(body));
}

/*
 * A whole request as nginx would send it: the params of the snippet, the
 * body if any, each stream ended by an empty record.  Returns its length.
 */
static size_t
build_request(uint8_t *buf, const char *method, const char *uri,
    const char *query, const char *body)
{
	uint8_t	 params[2048];
	char	 clen[32];
	size_t	 off = 0, p = 0;

	put_begin(buf, &off, false);
	put_pair(params, &p, "REQUEST_METHOD", method);
	put_pair(params, &p, "DOCUMENT_URI", uri);
	put_pair(params, &p, "QUERY_STRING", query);
	put_pair(params, &p, "REMOTE_ADDR", "127.0.0.1");
	if (body != NULL) {
		snprintf(clen, sizeof(clen), "%zu", strlen(body));
		put_pair(params, &p, "CONTENT_TYPE",
		    "application/x-www-form-urlencoded");
		put_pair(params, &p, "CONTENT_LENGTH", clen);
	}
	put_record(buf, &off, FCGI_PARAMS, params, p);
	put_record(buf, &off, FCGI_PARAMS, NULL, 0);
	if (body != NULL && *body != '\0')
		put_record(buf, &off, FCGI_STDIN, body, strlen(body));
	put_record(buf, &off, FCGI_STDIN, NULL, 0);
	return off;
}

/*
 * GET /buy/ticket?query as a FastCGI client other than nginx may send
 * it, with a REQUEST_ID of its choosing.  Returns its length.
 */
static size_t
build_buy_with_id(uint8_t *buf, const char *query, const char *request_id)
{
	uint8_t	 params[2048];
	size_t	 off = 0, p = 0;

	put_begin(buf, &off, false);
	put_pair(params, &p, "REQUEST_METHOD", "GET");
	put_pair(params, &p, "DOCUMENT_URI", "/buy/ticket");
	put_pair(params, &p, "QUERY_STRING", query);
	put_pair(params, &p, "REMOTE_ADDR", "127.0.0.1");
	put_pair(params, &p, "REQUEST_ID", request_id);
	put_record(buf, &off, FCGI_PARAMS, params, p);
	put_record(buf, &off, FCGI_PARAMS, NULL, 0);
	put_record(buf, &off, FCGI_STDIN, NULL, 0);
	return off;
}

/* The integer after "code": in text, or RIG_CODE_NONE. */
static int
answer_code(const char *text)
{
	const char	*p = strstr(text, "\"code\":");

	return p != NULL ? atoi(p + 7) : RIG_CODE_NONE;
}

/* Read exactly len bytes; false on EOF, error or timeout. */
static bool
recv_all(int fd, uint8_t *buf, size_t len, struct answer *a)
{
	ssize_t	 n;

	while (len > 0) {
		n = recv(fd, buf, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			a->closed = n == 0 || errno == ECONNRESET;
			snprintf(a->fault, sizeof(a->fault), "recv: %s",
			    n == 0 ? "end of stream" : strerror(errno));
			return false;
		}
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* Read records until END_REQUEST, EOF or the socket's timeout. */
static void
read_answer(int fd, struct answer *a)
{
	uint8_t	 h[FCGI_HEADER_LEN], content[65535 + 255];
	size_t	 clen, k;

	while (recv_all(fd, h, sizeof(h), a)) {
		clen = (size_t)h[4] << 8 | h[5];
		if (!recv_all(fd, content, clen + h[6], a))
			break;
		if (h[1] == FCGI_END_REQUEST) {
			a->ended = true;
			break;
		}
		if (h[1] != FCGI_STDOUT)
			continue;
		k = clen < sizeof(a->out) - 1 - a->outlen ? clen :
		    sizeof(a->out) - 1 - a->outlen;
		memcpy(a->out + a->outlen, content, k);
		a->outlen += k;
	}
	a->out[a->outlen] = '\0';
	if (strncmp(a->out, "Status: ", 8) == 0)
		a->status = atoi(a->out + 8);
	else if (a->ended)
		a->status = 200;	/* CGI: no Status header means 200 */
	if (strstr(a->out, "\r\n\r\n") != NULL)
		a->code = answer_code(strstr(a->out, "\r\n\r\n"));
}

/* After END_REQUEST: does the stream end cleanly, not with a reset? */
static void
read_end(int fd, struct answer *a)
{
	uint8_t	 c;
	ssize_t	 n;

	while ((n = recv(fd, &c, 1, 0)) == -1 && errno == EINTR)
		;
	a->eof = n == 0;
	if (n != 0)
		snprintf(a->fault, sizeof(a->fault), "after the answer: %s",
		    n > 0 ? "more bytes" : strerror(errno));
}

/* A new connection for an exchange; -1 with a->fault set on failure. */
static int
exchange_open(int port, unsigned int timeout_ms, struct answer *a)
{
	int	 fd;

	memset(a, 0, sizeof(*a));
	a->code = RIG_CODE_NONE;
	a->ms = rig_now_ms();
	if ((fd = rig_tcp_connect(port, timeout_ms)) == -1)
		snprintf(a->fault, sizeof(a->fault), "connect: %s",
		    strerror(errno));
	return fd;
}

static bool
exchange_send(int fd, const uint8_t *data, size_t len, struct answer *a)
{
	if (!(a->sent = rig_send_all(fd, data, len)))
		snprintf(a->fault, sizeof(a->fault), "send: %s",
		    strerror(errno));
	return a->sent;
}

/*
 * Read the answer, even when sending failed (what came before a reset
 * can still be read), and close.  Returns whether it ended.
 */
static bool
exchange_close(int fd, struct answer *a)
{
	read_answer(fd, a);
	if (a->ended && a->sent)
		read_end(fd, a);
	close(fd);
	a->ms = rig_now_ms() - a->ms;
	return a->ended;
}

/* Send req on a new connection and read the answer. */
static bool
exchange(int port, const uint8_t *req, size_t len, unsigned int timeout_ms,
    struct answer *a)
{
	int	 fd;

	if ((fd = exchange_open(port, timeout_ms, a)) == -1)
		return false;
	(void)exchange_send(fd, req, len, a);
	return exchange_close(fd, a);
}

/*
 * As exchange(), but a peer still sending when the answer comes: all
 * but the last tail bytes first, then, once the answer is there and
 * CONN_LINGER_MS later, the tail.
 */
static bool
exchange_tail_late(int port, const uint8_t *req, size_t len, size_t tail,
    struct answer *a)
{
	struct pollfd	 pfd = { .events = POLLIN };
	int		 fd;

	if ((pfd.fd = fd = exchange_open(port, ANSWER_MS, a)) == -1)
		return false;
	if (exchange_send(fd, req, len - tail, a)) {
		if (poll(&pfd, 1, (int)ANSWER_MS) != 1)
			snprintf(a->fault, sizeof(a->fault), "no answer "
			    "while sending");
		else {
			rig_sleep_ms(CONN_LINGER_MS);
			(void)exchange_send(fd, req + len - tail, tail, a);
		}
	}
	return exchange_close(fd, a);
}

/* GET /buy/ticket?user=U straight to instance i. */
static bool
direct_buy(struct rig *r, int i, const char *user, unsigned int timeout_ms,
    struct answer *a)
{
	uint8_t	 req[4096];
	char	 query[128];

	snprintf(query, sizeof(query), "user=%s", user);
	return exchange(r->inst[i].port, req, build_request(req, "GET",
	    "/buy/ticket", query, NULL), timeout_ms, a);
}

/* ---- the rig around each test ------------------------------------------- */

/* VmRSS of pid in KiB, or -1. */
static long
rss_kib(pid_t pid)
{
	char	 path[64], line[256];
	long	 kib = -1;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void
start(struct rig *r, unsigned int threads)
{
	struct rig_options opt = { .threads = threads };

	rig_ck_start(r, &opt, SALE_TOTAL);
}

/* A crowd buying through nginx, one new user per request, until stopped. */
static void
crowd_start(struct rig *r, struct rig_load *l)
{
	struct rig_load_spec spec = rig_load_plan(r, LOAD_CONNS, 1000000,
	    true, 120000);

	ck_assert_msg(rig_load_start(l, &spec), "cannot start load threads");
}

/*
 * Stop the crowd; true when every request was answered by an instance,
 * none slower than LOAD_MAX_MS: a purchase, or the instance's own 503 when
 * Redis was slow on a loaded machine (not what these tests are about), but
 * never nginx's 503, which means no instance answered.  sum gets the
 * figures.
 */
static bool
crowd_stop(struct rig_load *l, char *sum, size_t sumsz)
{
	unsigned int	 bought, redis_503;

	rig_load_stop(l);
	rig_load_wait(l);
	rig_load_summary(l, sum, sumsz);
	bought = rig_load_code(l, 1);
	redis_503 = rig_load_status(l, 503) - l->nginx_own;
	return bought > 0 && l->failed == 0 && l->nginx_own == 0 &&
	    bought + redis_503 == l->answered &&
	    rig_load_code(l, -2) == redis_503 &&
	    l->max_ms <= LOAD_MAX_MS;
}

static void
crowd_check(struct rig_load *l, const char *during)
{
	char	 sum[1024];

	ck_assert_msg(crowd_stop(l, sum, sizeof(sum)), "%s: buys through "
	    "nginx failed or took over %u ms: %s", during, LOAD_MAX_MS, sum);
}

/*
 * The attacked instance runs and answers a good request at once: a
 * purchase, or 503 if Redis was slow (see crowd_stop).
 */
static void
target_serves(struct rig *r, const char *after)
{
	struct answer	 a;
	char		 user[64];
	static unsigned int n;

	ck_assert_msg(rig_instance_alive(r, TARGET), "after %s: %s", after,
	    r->err);
	snprintf(user, sizeof(user), "direct%u", n++);
	ck_assert_msg(direct_buy(r, TARGET, user, ANSWER_MS, &a) &&
	    ((a.status == 200 && a.code == 1) ||
	    (a.status == 503 && a.code == -2)),
	    "after %s: a direct buy got status %d code %d in %.0f ms "
	    "(ended %d): %.200s", after, a.status, a.code, a.ms, a.ended,
	    a.out);
}

/* SIGTERM everything: each instance exits 0 within BUDGET_TERM_MS. */
static void
finish(struct rig *r)
{
	ck_assert_msg(rig_instances_term(r, BUDGET_TERM_MS), "%s", r->err);
	rig_stop(r);
}

/* ---- truncated records -------------------------------------------------- */

/* Send len bytes on a fresh connection and close it (after hold_ms). */
static void
send_and_close(struct rig *r, const uint8_t *data, size_t len,
    unsigned int hold_ms)
{
	int	 fd;

	ck_assert_msg((fd = rig_tcp_connect(r->inst[TARGET].port,
	    ANSWER_MS)) != -1, "connect: %s", strerror(errno));
	(void)rig_send_all(fd, data, len);
	if (hold_ms > 0)
		rig_sleep_ms(hold_ms);
	close(fd);
}

START_TEST(test_truncated)
{
	struct rig	 r;
	struct rig_load	 l;
	uint8_t		 req[4096], bad[64];
	size_t		 len, cut, off;

	start(&r, 0);
	crowd_start(&r, &l);
	len = build_request(req, "POST", "/buy/ticket", "",
	    "user=truncated");
	/* Every prefix of a good request, closed at once. */
	for (cut = 1; cut < len; cut++)
		send_and_close(&r, req, cut, 0);
	/* Some prefixes held open a moment, then closed. */
	for (cut = 1; cut < len; cut += len / 8)
		send_and_close(&r, req, cut, 100);
	/* A record promising 65535 bytes and padding, cut short. */
	off = 0;
	put_begin(bad, &off, true);
	put_header(bad, &off, FCGI_PARAMS, 1, 0xffff, 0xff);
	memset(bad + off, 'x', 16);
	send_and_close(&r, bad, off + 16, 0);
	/* A bad version, an unknown type, a STDIN before any PARAMS. */
	off = 0;
	put_header(bad, &off, FCGI_PARAMS, 1, 0, 0);
	bad[0] = 9;
	send_and_close(&r, bad, off, 0);
	off = 0;
	put_begin(bad, &off, false);
	put_header(bad, &off, 200, 1, 0, 0);
	send_and_close(&r, bad, off, 0);
	off = 0;
	put_begin(bad, &off, false);
	put_record(bad, &off, FCGI_STDIN, "user=x", 6);
	send_and_close(&r, bad, off, 0);
	crowd_check(&l, "truncated records");
	target_serves(&r, "truncated records");
	finish(&r);
}
END_TEST

/* ---- huge lengths --------------------------------------------------------- */

/* A request whose one PARAMS record holds a pair with these lengths. */
static size_t
huge_pair_request(uint8_t *buf, uint32_t nlen, uint32_t vlen, size_t fill)
{
	uint8_t	 params[64];
	size_t	 off = 0, p = 0;

	put_begin(buf, &off, false);
	put_length(params, &p, nlen);
	put_length(params, &p, vlen);
	memset(params + p, 'A', fill);
	put_record(buf, &off, FCGI_PARAMS, params, p + fill);
	put_record(buf, &off, FCGI_PARAMS, NULL, 0);
	put_record(buf, &off, FCGI_STDIN, NULL, 0);
	return off;
}

START_TEST(test_huge_lengths)
{
	static const struct {
		uint32_t	 nlen, vlen;
	} pairs[] = {
		{ 0x7fffffff, 0x7fffffff },	/* each refused by libfcgi */
		{ 0x7fffffff, 1 },
		{ 1, 0x7fffffff },
		{ 0x00ffffff, 0x00ffffff },
	};
	/* Digits over the limit are too large; anything else is no length. */
	static const struct {
		const char	*value;
		int		 status;
	} lengths[] = { { "99999999999999999999999", 413 },
	    { "18446744073709551616", 413 }, { "4097", 413 }, { "-1", 400 },
	    { "1e9", 400 }, { " 12", 400 } };
	struct rig	 r;
	struct rig_load	 l;
	struct answer	 a;
	uint8_t		*req;
	size_t		 len, off, p, i;
	long		 rss0, rss1;

	start(&r, 0);
	ck_assert((req = malloc(REQ_MAX)) != NULL);
	crowd_start(&r, &l);
	rss0 = rss_kib(r.inst[TARGET].pid);
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		len = huge_pair_request(req, pairs[i].nlen, pairs[i].vlen, 8);
		(void)exchange(r.inst[TARGET].port, req, len, ANSWER_MS, &a);
		rig_sleep_ms(budget_ms(DIE_MS));	/* if it does */
		ck_assert_msg(rig_instance_alive(&r, TARGET),
		    "pair lengths %#x/%#x: %s", pairs[i].nlen, pairs[i].vlen,
		    r.err);
	}
	/* CONTENT_LENGTH past any integer: refused without reading. */
	for (i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		uint8_t	 params[256];

		off = p = 0;
		put_begin(req, &off, false);
		put_pair(params, &p, "REQUEST_METHOD", "POST");
		put_pair(params, &p, "DOCUMENT_URI", "/buy/ticket");
		put_pair(params, &p, "CONTENT_TYPE",
		    "application/x-www-form-urlencoded");
		put_pair(params, &p, "CONTENT_LENGTH", lengths[i].value);
		put_record(req, &off, FCGI_PARAMS, params, p);
		put_record(req, &off, FCGI_PARAMS, NULL, 0);
		put_record(req, &off, FCGI_STDIN, "user=huge", 9);
		put_record(req, &off, FCGI_STDIN, NULL, 0);
		ck_assert_msg(exchange(r.inst[TARGET].port, req, off, ANSWER_MS,
		    &a), "CONTENT_LENGTH %s: no answer in %.0f ms",
		    lengths[i].value, a.ms);
		ck_assert_msg(a.status == lengths[i].status,
		    "CONTENT_LENGTH %s: status %d, want %d", lengths[i].value,
		    a.status, lengths[i].status);
	}
	/* A full-size PARAMS record: 65535 bytes of one value, 255 padding. */
	off = p = 0;
	put_begin(req, &off, false);
	put_header(req, &off, FCGI_PARAMS, 1, 0xffff, 0xff);
	put_length(req, &off, 1);
	put_length(req, &off, 0xffff - 5 - 1);
	req[off++] = 'X';
	memset(req + off, 'v', 0xffff - 6 + 0xff);
	off += 0xffff - 6 + 0xff;
	put_record(req, &off, FCGI_PARAMS, NULL, 0);
	put_record(req, &off, FCGI_STDIN, NULL, 0);
	ck_assert_msg(exchange(r.inst[TARGET].port, req, off, ANSWER_MS, &a) &&
	    a.status == 404, "full-size PARAMS record: status %d in %.0f ms",
	    a.status, a.ms);
	rss1 = rss_kib(r.inst[TARGET].pid);
	crowd_check(&l, "huge lengths");
	target_serves(&r, "huge lengths");
	fprintf(stderr, "hostile: huge lengths: RSS %ld -> %ld KiB\n", rss0,
	    rss1);
	free(req);
	finish(&r);
}
END_TEST

/* ---- thousands of params ------------------------------------------------ */

/* A GET whose params are count HTTP_X_HEADER_k pairs and the usual ones. */
static size_t
many_params_request(uint8_t *req, int count)
{
	uint8_t		 params[60000];
	char		 name[32];
	size_t		 off = 0, p = 0;
	int		 k;

	put_begin(req, &off, false);
	for (k = 0; k < count; k++) {
		snprintf(name, sizeof(name), "HTTP_X_HEADER_%d", k);
		put_pair(params, &p, name, "some value");
		if (p > sizeof(params) - 64) {
			put_record(req, &off, FCGI_PARAMS, params, p);
			p = 0;
		}
	}
	put_pair(params, &p, "REQUEST_METHOD", "GET");
	put_pair(params, &p, "DOCUMENT_URI", "/buy/ticket");
	put_pair(params, &p, "QUERY_STRING", "user=manyparams");
	put_record(req, &off, FCGI_PARAMS, params, p);
	put_record(req, &off, FCGI_PARAMS, NULL, 0);
	put_record(req, &off, FCGI_STDIN, NULL, 0);
	return off;
}

/*
 * 2,000 params fit the 64 KiB that nginx can send and are served; 20,000
 * (over 500 KiB) are answered 431 as soon as the limit is passed.
 */
START_TEST(test_many_params)
{
	struct rig	 r;
	struct rig_load	 l;
	struct answer	 a;
	uint8_t		*req;
	size_t		 len;

	start(&r, 0);
	ck_assert((req = malloc(1024 * 1024)) != NULL);
	crowd_start(&r, &l);
	len = many_params_request(req, 2000);
	ck_assert_msg(exchange(r.inst[TARGET].port, req, len, ANSWER_MS, &a),
	    "2000 params: no answer in %.0f ms: %s", a.ms, a.fault);
	ck_assert_msg((a.status == 200 && a.code == 1) ||
	    (a.status == 503 && a.code == -2),
	    "2000 params: status %d code %d: %.300s", a.status, a.code, a.out);
	/*
	 * Answered while it is still sending, the client must be able to
	 * send the rest, then read the whole answer and the end of the
	 * stream, never a reset.  Its last 8 KiB wait for the answer, so
	 * that however the kernel buffers the 600 KB, the client is still
	 * sending when the instance answers.
	 */
	len = many_params_request(req, 20000);
	(void)exchange_tail_late(r.inst[TARGET].port, req, len, 8192, &a);
	ck_assert_msg(a.sent && a.ended && a.eof, "20000 params: sent %d, "
	    "answer ended %d, then end of stream %d, after %.0f ms: %s",
	    a.sent, a.ended, a.eof, a.ms, a.fault);
	ck_assert_msg(a.status == 431 && a.code == -9,
	    "20000 params: status %d code %d: %.300s", a.status, a.code,
	    a.out);
	/* Answered without libfcgi, but recorded like any other answer. */
	ck_assert_msg(rig_stat_wait(&r, "result:-9,", 1, BUDGET_STAT_MS),
	    "the 431 left no stat.log line: %s", r.err);
	fprintf(stderr, "hostile: 20000 params (%zu bytes): answered %d in "
	    "%.0f ms\n", len, a.status, a.ms);
	crowd_check(&l, "thousands of params");
	target_serves(&r, "thousands of params");
	free(req);
	finish(&r);
}
END_TEST

/* ---- a stream that never ends ------------------------------------------- */

/* What an endless stream did. */
struct stream_run {
	size_t	 sent;		/* bytes the instance took */
	bool	 cut_off;	/* the instance closed or reset the link */
	double	 cut_ms;	/* when, from the first byte */
	double	 answer_ms;	/* when an answer began to come, or -1 */
	char	 answer[128];	/* its first bytes (STDOUT record) */
};

/* Take whatever answer bytes have come, without waiting. */
static void
stream_peek(int fd, struct stream_run *run, double t0)
{
	uint8_t	 buf[512];
	ssize_t	 n;

	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n > FCGI_HEADER_LEN && run->answer_ms < 0) {
		run->answer_ms = rig_now_ms() - t0;
		snprintf(run->answer, sizeof(run->answer), "%.*s",
		    (int)(n - FCGI_HEADER_LEN), buf + FCGI_HEADER_LEN);
	}
}

/*
 * Keep sending PARAMS records of new pairs (or, after a POST's params,
 * STDIN records) for ms, about 1 KiB a record and 64 records a
 * millisecond, watching for an answer and for the instance cutting off.
 */
static void
endless(struct rig *r, int type, unsigned int ms, struct stream_run *run)
{
	uint8_t		*buf, params[2048];
	char		 value[1024], name[32];
	size_t		 off = 0, p = 0;
	double		 t0 = rig_now_ms();
	unsigned int	 k = 0;
	int		 fd;

	memset(run, 0, sizeof(*run));
	run->answer_ms = -1;
	ck_assert((buf = malloc(REQ_MAX)) != NULL);
	ck_assert_msg((fd = rig_tcp_connect(r->inst[TARGET].port,
	    ANSWER_MS)) != -1, "connect: %s", strerror(errno));
	put_begin(buf, &off, false);
	if (type == FCGI_STDIN) {
		put_pair(params, &p, "REQUEST_METHOD", "POST");
		put_pair(params, &p, "DOCUMENT_URI", "/buy/ticket");
		put_pair(params, &p, "CONTENT_TYPE",
		    "application/x-www-form-urlencoded");
		put_record(buf, &off, FCGI_PARAMS, params, p);
		put_record(buf, &off, FCGI_PARAMS, NULL, 0);
	}
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	run->cut_off = !rig_send_all(fd, buf, off);
	while (!run->cut_off && rig_now_ms() < t0 + ms) {
		off = p = 0;
		snprintf(name, sizeof(name), "HTTP_X_%u", k++);
		put_pair(params, &p, name, value);
		put_record(buf, &off, type, params, p);
		if (!(run->cut_off = !rig_send_all(fd, buf, off)))
			run->sent += off;
		if (k % 64 == 0) {
			stream_peek(fd, run, t0);
			rig_sleep_ms(1);	/* a stream, not a flood */
		}
	}
	run->cut_ms = rig_now_ms() - t0;
	stream_peek(fd, run, t0);	/* an answer before the cut */
	close(fd);
	free(buf);
}

START_TEST(test_endless_stream)
{
	struct rig_options opt = { .request_timeout_ms = ENDLESS_LIMIT_MS };
	struct rig	 r;
	struct rig_load	 l;
	struct stream_run run;
	long		 rss0, rss1;

	rig_ck_start(&r, &opt, SALE_TOTAL);
	crowd_start(&r, &l);
	rss0 = rss_kib(r.inst[TARGET].pid);
	endless(&r, FCGI_PARAMS, ENDLESS_MS, &run);
	rss1 = rss_kib(r.inst[TARGET].pid);
	fprintf(stderr, "hostile: endless PARAMS: %zu bytes in %.0f ms, %s; "
	    "RSS %ld -> %ld KiB\n", run.sent, run.cut_ms, run.cut_off ?
	    "cut off by the instance" : "never cut off", rss0, rss1);
	target_serves(&r, "an endless PARAMS stream");
	/*
	 * An endless body: the instance answers 413 after 4 KiB, and then
	 * must let go of the connection, not read it for as long as the
	 * client sends.
	 */
	endless(&r, FCGI_STDIN, ENDLESS_MS, &run);
	fprintf(stderr, "hostile: endless STDIN: answer after %.0f ms "
	    "(%.40s...); %zu bytes taken in %.0f ms, %s\n", run.answer_ms,
	    run.answer, run.sent, run.cut_ms, run.cut_off ?
	    "then cut off" : "never cut off");
	ck_assert_msg(run.answer_ms >= 0 && strncmp(run.answer,
	    "Status: 413", 11) == 0, "an endless body: no 413 answer");
	ck_assert_msg(run.cut_off, "an endless body: the 413 came after "
	    "%.0f ms, but the instance kept reading the connection for all "
	    "of the %.0f ms the client sent (%zu bytes), holding a worker",
	    run.answer_ms, run.cut_ms, run.sent);
	crowd_check(&l, "an endless stream");
	target_serves(&r, "an endless STDIN stream");
	finish(&r);
}
END_TEST

/* ---- slow clients -------------------------------------------------------- */

struct slow_client {
	struct rig	*rig;
	pthread_t	 thread;
	int		 index;
	struct answer	 a;
	bool		 ok;
};

/* One good request, one byte every SLOW_BYTE_MS. */
static void *
slow_main(void *arg)
{
	struct slow_client *c = arg;
	uint8_t		 req[1024];
	char		 body[64];
	size_t		 len, i;
	int		 fd;

	memset(&c->a, 0, sizeof(c->a));
	snprintf(body, sizeof(body), "user=slow%d", c->index);
	len = build_request(req, "POST", "/buy/ticket", "", body);
	if ((fd = rig_tcp_connect(c->rig->inst[TARGET].port, ANSWER_MS)) ==
	    -1)
		return NULL;
	for (i = 0; i < len; i++) {
		if (!rig_send_all(fd, req + i, 1))
			break;
		rig_sleep_ms(SLOW_BYTE_MS);
	}
	if (i == len)
		read_answer(fd, &c->a);
	close(fd);
	c->ok = c->a.ended && c->a.status == 200 && c->a.code == 1;
	return NULL;
}

START_TEST(test_slow_clients)
{
	struct slow_client c[SLOW_CLIENTS];
	struct rig	 r;
	struct rig_load	 l;
	int		 i;

	start(&r, 0);
	crowd_start(&r, &l);
	for (i = 0; i < SLOW_CLIENTS; i++) {
		c[i].rig = &r;
		c[i].index = i;
		c[i].ok = false;
		ck_assert(pthread_create(&c[i].thread, NULL, slow_main,
		    &c[i]) == 0);
	}
	for (i = 0; i < SLOW_CLIENTS; i++)
		pthread_join(c[i].thread, NULL);
	for (i = 0; i < SLOW_CLIENTS; i++)
		ck_assert_msg(c[i].ok, "slow client %d: status %d code %d",
		    i, c[i].a.status, c[i].a.code);
	crowd_check(&l, "slow clients");
	target_serves(&r, "slow clients");
	finish(&r);
}
END_TEST

/* ---- many idle connections ----------------------------------------------- */

/* How many of fds the instance has closed (EOF or reset). */
static int
count_closed(const int *fds, int n)
{
	struct pollfd	 pfd;
	char		 c;
	int		 i, closed = 0;

	for (i = 0; i < n; i++) {
		if (fds[i] == -1)
			continue;
		pfd.fd = fds[i];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) == 1 && recv(fds[i], &c, 1,
		    MSG_DONTWAIT) <= 0)
			closed++;
	}
	return closed;
}

/*
 * An instance of IDLE_THREADS workers and IDLE_CONNS connections that
 * send nothing.  What the service must do: keep serving a newcomer (or
 * refuse it fast with a 503) and keep the crowd through nginx served;
 * and stop on SIGTERM in time with the connections still open.
 */
START_TEST(test_idle_connections)
{
	struct rig	 r;
	struct rig_load	 l;
	struct answer	 a;
	int		 fds[IDLE_CONNS], i, opened = 0, status = -1, closed;
	double		 term_ms = -1;
	char		 sum[1024];
	bool		 crowd_ok, stopped;

	start(&r, IDLE_THREADS);
	for (i = 0; i < IDLE_CONNS; i++)
		if ((fds[i] = rig_tcp_connect(r.inst[TARGET].port,
		    ANSWER_MS)) != -1)
			opened++;
	ck_assert_msg(opened == IDLE_CONNS, "opened %d of %d connections",
	    opened, IDLE_CONNS);
	crowd_start(&r, &l);
	(void)direct_buy(&r, TARGET, "idle-newcomer", IDLE_HOLD_MS, &a);
	if (a.ms < IDLE_HOLD_MS)
		rig_sleep_ms((unsigned int)(IDLE_HOLD_MS - a.ms));
	closed = count_closed(fds, IDLE_CONNS);
	crowd_ok = crowd_stop(&l, sum, sizeof(sum));
	ck_assert(rig_instance_kill(&r, TARGET, SIGTERM));
	stopped = rig_instance_wait(&r, TARGET, BUDGET_TERM_MS, &status,
	    &term_ms);
	fprintf(stderr, "hostile: %d idle connections to an instance of %d "
	    "threads: a direct buy got status %d code %d after %.0f ms "
	    "(ended %d); after %d ms the instance had closed %d of them; "
	    "crowd through nginx: %s; SIGTERM: %s %#x after %.0f ms\n",
	    IDLE_CONNS, IDLE_THREADS, a.status, a.code, a.ms, a.ended,
	    IDLE_HOLD_MS, closed, sum, stopped ? "wait status" :
	    "still running, status", status, term_ms);
	for (i = 0; i < IDLE_CONNS; i++)
		if (fds[i] != -1)
			close(fds[i]);
	ck_assert_msg(a.ended && a.ms <= ANSWER_MS && (a.status == 200 ||
	    a.status == 503), "%d idle connections to an instance of %d "
	    "threads: a direct buy got status %d after %.0f ms (limit %u ms, "
	    "ended %d); after %d ms the instance had closed %d of the idle "
	    "connections", IDLE_CONNS, IDLE_THREADS, a.status, a.ms,
	    ANSWER_MS, a.ended, IDLE_HOLD_MS, closed);
	ck_assert_msg(crowd_ok, "%d idle connections to one instance: buys "
	    "through nginx (limit %u ms): %s", IDLE_CONNS, LOAD_MAX_MS, sum);
	ck_assert_msg(stopped && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "SIGTERM with %d idle connections "
	    "open: %s (wait status %#x)", IDLE_CONNS, stopped ? "stopped" :
	    r.err, status);
	finish(&r);
}
END_TEST

/* One test case each, so that CK_RUN_CASE=NAME runs one alone. */
static void
add_case(Suite *s, const char *name, const TTest *test)
{
	TCase	*tc = tcase_create(name);

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

/* ---- what libfcgi itself cannot take ------------------------------------ */

/* A GET_VALUES record (section 4.1) of one pair with these lengths. */
static void
put_get_values(uint8_t *buf, size_t *off, uint32_t nlen, uint32_t vlen)
{
	uint8_t	 pair[16];
	size_t	 p = 0;

	put_length(pair, &p, nlen);
	put_length(pair, &p, vlen);
	memcpy(pair + p, "ABCD", 4);
	put_header(buf, off, FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID, p + 4, 4);
	memcpy(buf + *off, pair, p + 4);
	memset(buf + *off + p + 4, 0, 4);
	*off += p + 4 + 4;
}

/* spike_fastcgi_refused_total of the target instance, through nginx. */
static long long
refused_total(struct rig *r)
{
	struct rig_reply rep;
	const char	*p;
	char		 target[32];

	snprintf(target, sizeof(target), "/metrics/%d", TARGET + 1);
	if (!rig_get(r, target, &rep) || rep.status != 200 ||
	    (p = strstr(rep.body, "\nspike_fastcgi_refused_total ")) == NULL)
		return -1;
	return atoll(p + strlen("\nspike_fastcgi_refused_total "));
}

/* The stream must end with the connection closed and no answer. */
static void
refused_unanswered(struct rig *r, const uint8_t *req, size_t len,
    const char *what)
{
	struct answer	 a;

	(void)exchange(r->inst[TARGET].port, req, len, ANSWER_MS, &a);
	ck_assert_msg(!a.ended && a.closed && a.ms < ANSWER_MS,
	    "%s: ended %d closed %d after %.0f ms", what, a.ended, a.closed,
	    a.ms);
	ck_assert_msg(rig_instance_alive(r, TARGET), "%s: %s", what, r->err);
}

/*
 * libfcgi 2.4.2 adds a pair's name and value lengths in an int and aborts
 * when malloc fails; it does so for PARAMS and for GET_VALUES, which may
 * come before BEGIN_REQUEST or in the middle of a body, and it reads the
 * content of other management records as the request's.  conn.c keeps
 * all of these from libfcgi.
 */
START_TEST(test_libfcgi_overflow)
{
	struct rig	 r;
	struct rig_load	 l;
	struct answer	 a;
	uint8_t		*req, params[256];
	size_t		 off, p;
	long long	 before, after;
	double		 t0, secs;
	long		 logged;
	int		 k;

	start(&r, 0);
	ck_assert((req = malloc(REQ_MAX)) != NULL);
	crowd_start(&r, &l);
	before = refused_total(&r);
	ck_assert_msg(before >= 0, "no spike_fastcgi_refused_total");
	off = huge_pair_request(req, 0x40000000, 0x40000000, 8);
	ck_assert_msg(exchange(r.inst[TARGET].port, req, off, ANSWER_MS, &a) &&
	    a.status == 431 && a.code == -9, "PARAMS pair 0x40000000/"
	    "0x40000000: status %d code %d", a.status, a.code);
	off = 0;
	put_get_values(req, &off, 0x40000000, 0x40000000);
	put_begin(req, &off, false);
	t0 = rig_now_ms();
	refused_unanswered(&r, req, off, "GET_VALUES before BEGIN_REQUEST");
	off = p = 0;
	put_begin(req, &off, false);
	put_pair(params, &p, "REQUEST_METHOD", "POST");
	put_pair(params, &p, "DOCUMENT_URI", "/buy/ticket");
	put_pair(params, &p, "CONTENT_TYPE",
	    "application/x-www-form-urlencoded");
	put_pair(params, &p, "CONTENT_LENGTH", "10");
	put_record(req, &off, FCGI_PARAMS, params, p);
	put_record(req, &off, FCGI_PARAMS, NULL, 0);
	put_record(req, &off, FCGI_STDIN, "user=a", 6);
	put_get_values(req, &off, 0x7ffffffe, 0x10);
	put_record(req, &off, FCGI_STDIN, "bcde", 4);
	put_record(req, &off, FCGI_STDIN, NULL, 0);
	refused_unanswered(&r, req, off, "GET_VALUES inside the body");
	off = 0;
	put_header(req, &off, 99, FCGI_NULL_REQUEST_ID, 8, 0);
	memcpy(req + off, "\x84\x00\x00\x00\x84\x00\x00\x00", 8);
	off += 8;
	put_begin(req, &off, false);
	for (k = 0; k <= REFUSED_MORE; k++)
		refused_unanswered(&r, req, off, "unknown management record");
	secs = (rig_now_ms() - t0) / 1000;
	after = refused_total(&r);
	ck_assert_msg(after - before == 3 + REFUSED_MORE, "spike_fastcgi_"
	    "refused_total went from %lld to %lld, not by %d", before, after,
	    3 + REFUSED_MORE);
	/* Logged at most once a second, naming the peer. */
	logged = rig_instance_log_lines(&r, TARGET, REFUSED_LOGGED);
	ck_assert_msg(logged >= 1 && logged <= (long)secs + 2, "%d refused "
	    "streams in %.1f s logged %ld times", 3 + REFUSED_MORE, secs,
	    logged);
	crowd_check(&l, "streams libfcgi cannot take");
	target_serves(&r, "streams libfcgi cannot take");
	free(req);
	finish(&r);
}
END_TEST

/* ---- a request that never finishes arriving ------------------------------ */

/*
 * A good request sent a byte every TRICKLE_BYTE_MS, far slower than
 * request_timeout_ms allows: the instance closes it unanswered soon after
 * that limit, without waiting for the rest.
 */
START_TEST(test_trickle)
{
	struct rig_options opt = { .request_timeout_ms = TRICKLE_LIMIT_MS };
	struct rig	 r;
	struct answer	 a;
	uint8_t		 req[1024];
	size_t		 len, i;
	double		 t0, cut_ms;
	int		 fd;

	rig_ck_start(&r, &opt, SALE_TOTAL);
	len = build_request(req, "POST", "/buy/ticket", "", "user=trickle");
	ck_assert((fd = rig_tcp_connect(r.inst[TARGET].port, ANSWER_MS)) !=
	    -1);
	t0 = rig_now_ms();
	for (i = 0; i < len && rig_send_all(fd, req + i, 1); i++)
		rig_sleep_ms(TRICKLE_BYTE_MS);
	cut_ms = rig_now_ms() - t0;
	memset(&a, 0, sizeof(a));
	read_answer(fd, &a);
	close(fd);
	fprintf(stderr, "hostile: a request at a byte per %d ms: cut off "
	    "after %zu of %zu bytes, %.0f ms\n", TRICKLE_BYTE_MS, i, len,
	    cut_ms);
	ck_assert_msg(i < len && !a.ended, "a trickled request was taken "
	    "whole (%zu bytes in %.0f ms) or answered", i, cut_ms);
	ck_assert_msg(cut_ms >= TRICKLE_LIMIT_MS && cut_ms < TRICKLE_CUT_MS,
	    "cut off after %.0f ms, not soon after request_timeout_ms = %d "
	    "(limit %u ms)", cut_ms, TRICKLE_LIMIT_MS, TRICKLE_CUT_MS);
	target_serves(&r, "a trickled request");
	finish(&r);
}
END_TEST

/* ---- a peer that keeps sending after its answer -------------------------- */

#define LINGER_SEND_MS	30
/*
 * The instance must let go after CONN_LINGER_MS; the peer sees it a
 * byte or two later, and would go on twice as long.
 */
#define LINGER_MAX_MS	budget_ms(CONN_LINGER_MS + 2 * LINGER_SEND_MS + \
			    BUDGET_LATE_MS)
#define LINGER_HOLD_MS	(2 * LINGER_MAX_MS)

/*
 * A request without FCGI_KEEP_CONN, answered, then a byte every
 * LINGER_SEND_MS: the instance lingers a moment for the peer to take the
 * answer, then closes, so that sending fails.  libfcgi's own close reads
 * for as long as bytes keep coming 50 ms apart, holding the worker.
 */
START_TEST(test_linger_bounded)
{
	struct rig	 r;
	struct answer	 a;
	uint8_t		 req[4096];
	size_t		 len;
	double		 t0, held_ms;
	int		 fd;

	start(&r, 0);
	len = build_request(req, "GET", "/buy/ticket", "user=linger", NULL);
	ck_assert((fd = rig_tcp_connect(r.inst[TARGET].port, ANSWER_MS)) !=
	    -1);
	ck_assert(rig_send_all(fd, req, len));
	memset(&a, 0, sizeof(a));
	read_answer(fd, &a);
	ck_assert_msg(a.ended, "no answer");
	t0 = rig_now_ms();
	while (rig_now_ms() - t0 < LINGER_HOLD_MS && rig_send_all(fd, "x", 1))
		rig_sleep_ms(LINGER_SEND_MS);
	held_ms = rig_now_ms() - t0;
	close(fd);
	fprintf(stderr, "hostile: a peer sending after its answer was let go "
	    "after %.0f ms\n", held_ms);
	ck_assert_msg(held_ms < LINGER_MAX_MS, "the instance read the "
	    "connection for %.0f ms after answering (limit %u ms)", held_ms,
	    LINGER_MAX_MS);
	target_serves(&r, "a peer sending after its answer");
	finish(&r);
}
END_TEST

/* ---- a REQUEST_ID reused by another client ------------------------------ */

/*
 * Buy with query and request id straight at instance i; the answer's
 * order id, "" for none, into order.
 */
static void
buy_with_id(struct rig *r, int i, const char *query, const char *id,
    struct answer *a, char *order, size_t ordersz)
{
	uint8_t		 req[4096];
	const char	*p;

	ck_assert_msg(exchange(r->inst[i].port, req, build_buy_with_id(req,
	    query, id), ANSWER_MS, a), "%s with REQUEST_ID %s: %s", query, id,
	    a->fault);
	ck_assert_msg(a->status == 200 && a->code == 1, "%s with REQUEST_ID "
	    "%s: %d %.200s", query, id, a->status, a->out);
	order[0] = '\0';
	if ((p = strstr(a->out, "\"order\":\"")) != NULL)
		snprintf(order, ordersz, "%.*s", (int)strcspn(p + 9, "\""),
		    p + 9);
}

/* The user Redis holds for order id. */
static void
assert_owner(struct rig *r, const char *order, const char *user)
{
	struct redisContext *c = rig_ck_redis(r);
	char		 key[128], owner[80];

	snprintf(key, sizeof(key), RIG_STOCK_KEY ":order:%s", order);
	rig_redis_str_free(RIG_CK_CMD(c, "HGET", key, "user"), owner,
	    sizeof(owner));
	redisFree(c);
	ck_assert_msg(strcmp(owner, user) == 0, "order %s belongs to \"%s\", "
	    "not %s", order, owner, user);
}

/*
 * A client talking FastCGI straight to the instances reuses the REQUEST_ID
 * of alice's purchase with another user, or none: it is not told "bought"
 * for alice's ticket, but makes a purchase of its own.  alice's own retry
 * with that id, as nginx makes one on another instance, still gets her
 * order back and sells nothing.
 */
START_TEST(test_request_id_reused)
{
	static const char id[] = "0123456789abcdef0123456789abcdef";
	struct rig	 r;
	struct answer	 a;
	char		 mine[STORE_ORDER_ID_MAX], got[STORE_ORDER_ID_MAX];

	start(&r, 0);
	buy_with_id(&r, 0, "user=alice", id, &a, mine, sizeof(mine));
	ck_assert_msg(strlen(mine) == 32 && strstr(a.out, "\"repeat\"") ==
	    NULL, "alice: %.200s", a.out);
	assert_owner(&r, mine, "alice");

	buy_with_id(&r, 1, "user=mallory", id, &a, got, sizeof(got));
	ck_assert_msg(strcmp(got, mine) != 0 && strlen(got) == 32 &&
	    strstr(a.out, "\"repeat\"") == NULL, "mallory reusing alice's "
	    "REQUEST_ID: %.200s (alice's order %s)", a.out, mine);
	assert_owner(&r, got, "mallory");
	ck_assert_int_eq(rig_ck_sold(&r), 2);

	buy_with_id(&r, 2, "", id, &a, got, sizeof(got));
	ck_assert_msg(got[0] == '\0' && strstr(a.out, "\"repeat\"") ==
	    NULL, "anonymous reusing alice's REQUEST_ID: %.200s", a.out);
	ck_assert_int_eq(rig_ck_sold(&r), 3);

	/* nginx's retry of alice's request, on another instance. */
	buy_with_id(&r, 3, "user=alice", id, &a, got, sizeof(got));
	ck_assert_msg(strcmp(got, mine) == 0 && strstr(a.out,
	    "\"repeat\":true") != NULL, "alice's retry: %.200s (her order "
	    "%s)", a.out, mine);
	ck_assert_int_eq(rig_ck_sold(&r), 3);
	finish(&r);
}
END_TEST

static Suite *
hostile_suite(void)
{
	Suite		*s = suite_create("hostile");

	add_case(s, "truncated", test_truncated);
	add_case(s, "huge_lengths", test_huge_lengths);
	add_case(s, "many_params", test_many_params);
	add_case(s, "endless_stream", test_endless_stream);
	add_case(s, "slow_clients", test_slow_clients);
	add_case(s, "idle_connections", test_idle_connections);
	add_case(s, "libfcgi_overflow", test_libfcgi_overflow);
	add_case(s, "trickle", test_trickle);
	add_case(s, "linger_bounded", test_linger_bounded);
	add_case(s, "request_id_reused", test_request_id_reused);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(hostile_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
