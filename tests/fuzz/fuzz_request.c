/*
 * libFuzzer target: a request's path without the network, route.c with
 * query.c, stock.c and reply.c, fed parameters as serve.c takes them
 * from FastCGI.  The input is a flags byte, then REQUEST_METHOD,
 * DOCUMENT_URI, QUERY_STRING, CONTENT_TYPE, REQUEST_ID and CONTENT_LENGTH
 * separated by NUL bytes, then the body (any bytes).
 *
 * sync.c and store.c are not linked: this file defines the sync state and
 * the store route.c talks to.  The flags say whether Redis is up and what
 * the store answers; while Redis is down any store call aborts, so the
 * fuzzer proves that no request reaches for the network then.  Checked
 * for every request: the answer is a well-formed CGI response (a Status
 * line, headers, a blank line) whose body is a JSON object starting with
 * {"code":, status and code agree with the kind, and no local ticket is
 * left taken but unsettled.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spike.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_request: %s:%d: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define FLAG_REDIS_UP		0x01
#define FLAG_SYNCED		0x02
#define FLAG_SOLD_OUT		0x04
#define FLAG_ANONYMOUS		0x08
#define FLAG_RESULT_SHIFT	4	/* two bits: what the store answers */
#define FLAG_NO_ORDER_ID	0x40
#define FLAG_QUOTA		0x80

#define NPARAMS			6	/* NUL-separated, before the body */

/* ---- what sync.c and store.c would be: no network ---------------------- */

struct sync_state {
	bool	 up;
};

struct store {
	bool		 up;		/* calls abort when false */
	unsigned int	 result;	/* 0 sold, 1 before, 2 sold out, 3 error */
	bool		 anonymous;	/* answer with no order id */
	unsigned int	 calls;
};

bool
sync_store_up(const struct sync_state *ss)
{
	return ss->up;
}

void
sync_report_down(struct sync_state *ss, const char *why)
{
	FUZZ_ASSERT(why != NULL);
	ss->up = false;
}

const char *
store_error(const struct store *st)
{
	(void)st;
	return "fuzz: store error";
}

/* Every store call: Redis must be up, and the answer follows the flags. */
static enum spike_err
store_call(struct store *st, struct store_order *o)
{
	FUZZ_ASSERT(st->up);
	st->calls++;
	if (st->result == 3)
		return SPIKE_EREDIS;
	memset(o, 0, sizeof(*o));
	if (!st->anonymous)
		snprintf(o->id, sizeof(o->id), "%u", 1234567u + st->calls);
	snprintf(o->status, sizeof(o->status), "pending");
	o->pay_by = 1700000000000LL;
	return SPIKE_OK;
}

/*
 * The group commit of batch.c, reduced to the store it sells through:
 * what the event loop's committer does with a purchase route_handle()
 * left pending.
 */
static void
fuzz_commit(const struct sync_state *ss, struct store *st,
    struct route_purchase *rp, struct reply *r)
{
	static const enum store_buy_result results[] = { STORE_SOLD,
	    STORE_SOLD_BEFORE, STORE_SOLD_OUT, STORE_NO_SALE };
	struct store_purchase *p = &rp->p;

	FUZZ_ASSERT(p->item != NULL && rp->item != NULL);
	FUZZ_ASSERT(p->request_id != NULL && p->request_id[0] != '\0');
	FUZZ_ASSERT(p->user[0] == '\0' ||
	    query_user_valid(p->user, strlen(p->user)));
	p->result = results[st->result];
	route_settle(rp, sync_store_up(ss) ? store_call(st, &p->order) :
	    SPIKE_EREDIS, r);
	FUZZ_ASSERT(!rp->pending);
}

enum spike_err
store_pay(struct store *st, const struct item *item, const char *user,
    const char *order, enum store_pay_result *result, struct store_order *o)
{
	FUZZ_ASSERT(item != NULL);
	FUZZ_ASSERT(query_user_valid(user, strlen(user)));
	static const enum store_pay_result results[2][3] = {
	    { STORE_PAID, STORE_PAID_BEFORE, STORE_NO_ORDER },
	    { STORE_NO_ORDER, STORE_TOO_LATE, STORE_NO_ORDER } };

	FUZZ_ASSERT(query_order_valid(order, strlen(order)));
	*result = results[st->anonymous][st->result % 3];
	return store_call(st, o);
}

enum spike_err
store_find_order(struct store *st, const struct item *item, const char *user,
    bool *found, struct store_order *o)
{
	FUZZ_ASSERT(item != NULL);
	FUZZ_ASSERT(query_user_valid(user, strlen(user)));
	*found = st->result != 2;
	return store_call(st, o);
}

/* ---- checking the answer ---------------------------------------------- */

/* Skip one JSON string at p (RFC 8259, 7); NULL when malformed. */
static const char *
json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p != '\\')
			continue;
		p++;
		if (*p == 'u') {
			if (strspn(p + 1, "0123456789abcdefABCDEF") < 4)
				return NULL;
			p += 4;
		} else if (strchr("\"\\/bfnrt", *p) == NULL || *p == '\0')
			return NULL;
	}
	return p + 1;
}

/* Skip one member value: a string, an integer, true or false. */
static const char *
json_value(const char *p)
{
	size_t	 n;

	if (*p == '"')
		return json_string(p);
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0)
		return p + (*p == 't' ? 4 : 5);
	if (*p == '-')
		p++;
	n = strspn(p, "0123456789");
	return n > 0 ? p + n : NULL;
}

/* The body must be exactly one flat JSON object and a newline. */
static void
check_json(const char *p)
{
	FUZZ_ASSERT(*p++ == '{');
	for (;;) {
		FUZZ_ASSERT((p = json_string(p)) != NULL);
		FUZZ_ASSERT(*p++ == ':');
		FUZZ_ASSERT((p = json_value(p)) != NULL);
		if (*p != ',')
			break;
		p++;
	}
	FUZZ_ASSERT(strcmp(p, "}\n") == 0);
}

/* Header lines up to end: "Name: value" each, ended by CRLF, no bare CR or LF. */
static void
check_headers(const char *p, const char *end)
{
	const char	*eol;

	while (p < end) {
		FUZZ_ASSERT((eol = strstr(p, "\r\n")) != NULL && eol < end);
		FUZZ_ASSERT(memchr(p, '\n', (size_t)(eol - p)) == NULL);
		FUZZ_ASSERT(memchr(p, '\r', (size_t)(eol - p)) == NULL);
		FUZZ_ASSERT(strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz-") > 0);
		FUZZ_ASSERT(strstr(p, ": ") != NULL && strstr(p, ": ") < eol);
		p = eol + 2;
	}
}

/* A CGI response (RFC 3875, 6.2) for r, as serve.c sends it. */
static void
check_answer(const struct reply *r)
{
	char		 buf[1024], want[64];
	const char	*body;
	size_t		 len;
	int		 n;

	FUZZ_ASSERT(r->kind >= 0 && r->kind < REPLY_KINDS);
	len = reply_format(buf, sizeof(buf), r);
	FUZZ_ASSERT(len > 0 && len < sizeof(buf) && strlen(buf) == len);
	n = snprintf(want, sizeof(want), "Status: %d ", reply_status(r->kind));
	FUZZ_ASSERT(strncmp(buf, want, (size_t)n) == 0);
	FUZZ_ASSERT((body = strstr(buf, "\r\n\r\n")) != NULL);
	check_headers(buf, body + 2);
	FUZZ_ASSERT(strstr(buf, "\r\nContent-Type: application/json; "
	    "charset=utf-8\r\n") != NULL);
	if (r->kind == REPLY_BAD_METHOD)
		FUZZ_ASSERT(strstr(buf, "\r\nAllow: ") != NULL);
	if (r->kind == REPLY_UNAVAILABLE)
		FUZZ_ASSERT(strstr(buf, "\r\nRetry-After: 1\r\n") != NULL);
	body += 4;
	n = snprintf(want, sizeof(want), "{\"code\":%d,", reply_code(r->kind));
	FUZZ_ASSERT(strncmp(body, want, (size_t)n) == 0);
	check_json(body);
}

/* ---- the request -------------------------------------------------------- */

/* Split the input into NPARAMS C strings and the body. */
static void
split(const uint8_t *data, size_t size, char *params[NPARAMS], char **body,
    size_t *body_len)
{
	const uint8_t	*p = data, *end = data + size, *nul;
	size_t		 i, n;

	for (i = 0; i < NPARAMS; i++) {
		nul = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
		n = nul != NULL ? (size_t)(nul - p) : (size_t)(end - p);
		if ((params[i] = malloc(n + 1)) == NULL)
			abort();
		memcpy(params[i], p, n);
		params[i][n] = '\0';
		p = nul != NULL ? nul + 1 : end;
	}
	*body_len = (size_t)(end - p);
	if ((*body = malloc(*body_len > 0 ? *body_len : 1)) == NULL)
		abort();
	memcpy(*body, p, *body_len);
}

/* What serve.c does between reading the params and the answer. */
static void
serve(struct route_ctx *ctx, const struct route_request *rr,
    const char *content_length, struct route_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	if (!route_length_ok(content_length, &ans->reply))
		return;
	if (rr->body_len > QUERY_BODY_MAX) {
		ans->reply.kind = REPLY_TOO_LARGE;
		return;
	}
	route_handle(ctx, rr, ans);
}

/* What the answer may say, given that Redis is down. */
static void
check_down(const struct route_answer *ans, const struct store *st)
{
	enum reply_kind	 k = ans->reply.kind;

	FUZZ_ASSERT(st->calls == 0);
	FUZZ_ASSERT(k != REPLY_BOUGHT && k != REPLY_PAID &&
	    k != REPLY_NO_ORDER && k != REPLY_CONFLICT && k != REPLY_SOLD_OUT);
}

/*
 * The items: the default, "open" and "soon" (whose start is far ahead),
 * each stock set up by the flags as the default's always was.
 */
static const char *const fuzz_items[] = { NULL, "open", "soon" };
#define NITEMS	(sizeof(fuzz_items) / sizeof(fuzz_items[0]))

static struct item_table *
fuzz_table(const struct conf *conf)
{
	static struct item_table *t;
	struct item	*it;
	char		 key[ITEM_KEY_MAX];
	size_t		 i;

	if (t != NULL)
		return t;
	FUZZ_ASSERT((t = item_table_new(NITEMS)) != NULL);
	for (i = 0; i < NITEMS; i++) {
		const char *name = fuzz_items[i] ? fuzz_items[i] :
		    conf->stock_key;

		FUZZ_ASSERT(item_key(conf, name, key, sizeof(key)));
		FUZZ_ASSERT((it = item_add(t, name, key)) != NULL);
	}
	atomic_store(&item_at(t, 2)->start_ms, 1LL << 62);
	return t;
}

static void
fuzz_stock(struct stock *stock, uint8_t flags)
{
	stock_init(stock);
	if (flags & FLAG_QUOTA)
		stock_refill(stock, 3, 1, 1, 0);
	atomic_store(&stock->synced, (flags & FLAG_SYNCED) != 0);
	atomic_store(&stock->sold_out, (flags & FLAG_SOLD_OUT) != 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf	 conf;
	struct item_table	*items;
	struct stock		*stock;
	struct sync_state	 ss;
	struct store		 st;
	struct route_ctx	 ctx;
	struct route_purchase	 purchase;
	struct route_request	 rr;
	struct route_answer	 ans;
	char			*params[NPARAMS], *body;
	uint8_t			 flags = size > 0 ? data[0] : 0;
	size_t			 ulen;

	if (conf.threads == 0)
		conf_defaults(&conf);
	conf.allow_anonymous = (flags & FLAG_ANONYMOUS) != 0;
	items = fuzz_table(&conf);
	for (size_t i = 0; i < NITEMS; i++)
		fuzz_stock(&item_at(items, i)->stock, flags);
	ss.up = (flags & FLAG_REDIS_UP) != 0;
	memset(&st, 0, sizeof(st));
	st.up = ss.up;
	st.result = (flags >> FLAG_RESULT_SHIFT) & 3;
	st.anonymous = (flags & FLAG_NO_ORDER_ID) != 0;
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ctx.items = items;
	ctx.stock = &item_at(items, 0)->stock;
	ctx.store = &st;
	ctx.sync = &ss;
	ctx.where = "3001";
	ctx.self_id = "127.0.0.1:3001";

	memset(&purchase, 0, sizeof(purchase));
	memset(&rr, 0, sizeof(rr));
	rr.purchase = &purchase;
	split(size > 0 ? data + 1 : data, size > 0 ? size - 1 : 0, params,
	    &body, &rr.body_len);
	rr.method = params[0];
	rr.path = params[1];
	rr.query = params[2];
	rr.content_type = params[3];
	rr.request_id = params[4];
	rr.body = body;
	serve(&ctx, &rr, params[5], &ans);
	if (purchase.pending)
		fuzz_commit(&ss, &st, &purchase, &ans.reply);

	if (!(flags & FLAG_REDIS_UP))
		check_down(&ans, &st);
	for (size_t i = 0; i < NITEMS; i++) {
		stock = &item_at(items, i)->stock;
		FUZZ_ASSERT(atomic_load(&stock->taken) ==
		    atomic_load(&stock->sold));
		FUZZ_ASSERT(atomic_load(&stock->sold) <=
		    atomic_load(&stock->quota));
	}
	FUZZ_ASSERT(atomic_load(&item_at(items, 2)->stock.sold) == 0);
	ulen = strnlen(ans.user, sizeof(ans.user));
	FUZZ_ASSERT(ulen < sizeof(ans.user));
	FUZZ_ASSERT(ulen == 0 || query_user_valid(ans.user, ulen));
	if (!ans.exposition)
		check_answer(&ans.reply);

	for (size_t i = 0; i < NPARAMS; i++)
		free(params[i]);
	free(body);
	return 0;
}
