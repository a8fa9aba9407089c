/*
 * One request, from its parameters to its answer: the router and the
 * handlers of the four resources, and of the two for operations.  A
 * purchase takes a ticket from the local stock first and only then asks
 * Redis, so that once the stock is gone a crowd is answered from memory.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spike.h"

typedef void (*route_handler)(struct route_ctx *, const struct route_request *,
    const struct query *, struct reply *);

struct route {
	const char	*path;
	const char	*allow;		/* methods, as the Allow header says */
	route_handler	 handle;
	bool		 ops;		/* for operations: not counted */
	enum route_place place;
};

static void
refuse(struct reply *r, enum reply_kind kind, const char *why)
{
	r->kind = kind;
	r->detail = why;
}

/*
 * Check CONTENT_LENGTH before the body is read: absent, empty or decimal
 * digits (RFC 3875, 4.1.2).  Returns true when the body may be read;
 * otherwise false with r set to a 400 for a value that is no length, or
 * to a 413 for a length over QUERY_BODY_MAX.
 */
bool
route_length_ok(const char *content_length, struct reply *r)
{
	if (content_length == NULL || *content_length == '\0')
		return true;
	if (strspn(content_length, "0123456789") != strlen(content_length)) {
		refuse(r, REPLY_BAD_REQUEST, "CONTENT_LENGTH is not a length");
		return false;
	}
	if (strtoull(content_length, NULL, 10) > QUERY_BODY_MAX) {
		refuse(r, REPLY_TOO_LARGE, NULL);
		return false;
	}
	return true;
}

/*
 * Refuse with kind, saying which check the signature failed ("missing",
 * "malformed", "expired" or "wrong"), which helps a client and tells a
 * forger nothing about the key.
 */
static void
refuse_signature(struct reply *r, enum reply_kind kind, enum sig_verdict v)
{
	refuse(r, kind, NULL);
	snprintf(r->extra, sizeof(r->extra), ",\"sig\":\"%s\"",
	    sig_verdict_name(v));
}

/*
 * The item a request names: its item parameter, else the default item
 * (named stock_key).  Returns NULL, with a 404, code -4, for an item this
 * instance does not know is on sale.
 */
static struct item *
find_item(struct route_ctx *ctx, const struct query *q, struct reply *r)
{
	const char	*name = q->item_given ? q->item : ctx->conf->stock_key;
	struct item	*it;

	if ((it = item_find(ctx->items, name, strlen(name))) == NULL)
		refuse(r, REPLY_NOT_FOUND, "item not on sale");
	return it;
}

/*
 * What a signature covers: "[ITEM:]WHAT", the item named only when it
 * is not the default one, so that the default item's signatures are the
 * single sale's.  Returns false if it does not fit in subject.
 */
static bool
make_subject(struct route_ctx *ctx, const struct query *q, const char *what,
    char *subject, size_t subjectsz)
{
	int	 n;

	if (!q->item_given || strcmp(q->item, ctx->conf->stock_key) == 0)
		n = snprintf(subject, subjectsz, "%s", what);
	else
		n = snprintf(subject, subjectsz, "%s:%s", q->item, what);
	return n >= 0 && (size_t)n < subjectsz;
}

/*
 * With buyer_key set, is the request signed for its user (and its item,
 * other than the default) by the shop's login service?  A request
 * without a user (anonymous) is not.  Returns true, or false with a 403,
 * code -12.  Checked before any stock or Redis is touched.
 */
static bool
buyer_verified(struct route_ctx *ctx, const struct query *q, struct reply *r)
{
	char			 subject[SIG_SUBJECT_MAX];
	enum sig_verdict	 v;

	if (ctx->conf->nbuyer_keys == 0)
		return true;
	if (q->user[0] == '\0')
		v = SIG_MISSING;
	else if (!make_subject(ctx, q, q->user, subject, sizeof(subject)))
		v = SIG_WRONG;
	else
		v = sig_check(ctx->sig, KEYS_BUYER, subject, q->sig,
		    (long long)time(NULL));
	if (v == SIG_GOOD)
		return true;
	refuse_signature(r, REPLY_NOT_VERIFIED, v);
	return false;
}

/*
 * Is a payment notice signed by the payment service, with pay_key, over
 * "[ITEM:]ORDER.USER"?  Returns true, or false with a 403, code -14.  Without
 * pay_key, a sale whose buyers are verified takes no payment at all (a
 * buyer could mark their own order paid); one without keys as before.
 */
static bool
payment_verified(struct route_ctx *ctx, const struct query *q,
    struct reply *r)
{
	char			 subject[SIG_SUBJECT_MAX];
	char			 what[QUERY_ORDER_MAX + 1 + QUERY_USER_MAX + 1];
	enum sig_verdict	 v;

	if (ctx->conf->npay_keys == 0 && ctx->conf->nbuyer_keys == 0)
		return true;
	if (ctx->conf->npay_keys == 0) {
		refuse(r, REPLY_PAY_NOT_VERIFIED, NULL);
		snprintf(r->extra, sizeof(r->extra), ",\"why\":\"no pay_key: "
		    "buyers are verified, so payments must be\"");
		return false;
	}
	snprintf(what, sizeof(what), "%s.%s", q->order, q->user);
	if (!make_subject(ctx, q, what, subject, sizeof(subject)))
		v = SIG_WRONG;
	else
		v = sig_check(ctx->sig, KEYS_PAY, subject, q->sig,
		    (long long)time(NULL));
	if (v == SIG_GOOD)
		return true;
	refuse_signature(r, REPLY_PAY_NOT_VERIFIED, v);
	return false;
}

/* Answer 503 at once while Redis is known to be down. */
static bool
store_usable(struct route_ctx *ctx, struct reply *r)
{
	if (sync_store_up(ctx->sync))
		return true;
	refuse(r, REPLY_UNAVAILABLE, "redis unavailable");
	return false;
}

static void
store_failed(struct route_ctx *ctx, struct reply *r)
{
	sync_report_down(ctx->sync, store_error(ctx->store));
	refuse(r, REPLY_UNAVAILABLE, "redis unavailable");
}

/* nginx's $request_id is 32 hex digits; accept any short token. */
#define ROUTE_NGINX_ID_MAX	64

_Static_assert(ROUTE_NGINX_ID_MAX < STORE_REQUEST_ID_MAX,
    "an nginx request id must fit in a request key");

static bool
request_id_usable(const char *id)
{
	size_t	 len;

	if (id == NULL || (len = strlen(id)) == 0 || len > ROUTE_NGINX_ID_MAX)
		return false;
	return strspn(id, "0123456789abcdefABCDEF-_") == len;
}

/*
 * The purchase's request id into id: nginx's, or one unique to this
 * instance, thread and purchase.  Returns false if it does not fit,
 * which STORE_REQUEST_ID_MAX rules out for the addresses spike.conf takes.
 */
static bool
make_request_id(struct route_ctx *ctx, const struct route_request *req,
    char *id, size_t idsz)
{
	int	 n;

	if (request_id_usable(req->request_id))
		n = snprintf(id, idsz, "%s", req->request_id);
	else
		n = snprintf(id, idsz, "%s/%ld/%u/%llu", ctx->self_id,
		    (long)getpid(), ctx->thread, ++ctx->purchases);
	return n >= 0 && (size_t)n < idsz;
}

static void
describe_order(struct reply *r, const struct store_order *o, bool repeat)
{
	if (o->id[0] == '\0') {
		snprintf(r->extra, sizeof(r->extra), "%s",
		    repeat ? ",\"repeat\":true" : "");
		return;
	}
	snprintf(r->extra, sizeof(r->extra), ",\"order\":\"%s\","
	    "\"status\":\"%s\",\"pay_by\":%lld%s", o->id, o->status,
	    o->pay_by, repeat ? ",\"repeat\":true" : "");
}

static void
refuse_not_started(struct reply *r, long long opens_at)
{
	refuse(r, REPLY_NOT_STARTED, NULL);
	snprintf(r->extra, sizeof(r->extra), ",\"opens_at\":%lld", opens_at);
}

/*
 * Settle the local ticket taken for a purchase by what Redis said: an
 * item Redis found not yet open or closed is not sold out, its instance
 * only a moment behind Redis's clock or the operator.
 */
static void
settle(struct stock *stock, const struct store_purchase *p, struct reply *r)
{
	if (p->result == STORE_SOLD) {
		stock_confirm(stock);
		r->kind = REPLY_BOUGHT;
		describe_order(r, &p->order, false);
		return;
	}
	stock_give_back(stock);
	switch (p->result) {
	case STORE_SOLD_BEFORE:
		r->kind = REPLY_BOUGHT;
		describe_order(r, &p->order, true);
		break;
	case STORE_NOT_STARTED:
		refuse_not_started(r, p->opens_at);
		break;
	case STORE_CLOSED:
		refuse(r, REPLY_CLOSED, NULL);
		break;
	default:
		stock_mark_sold_out(stock);
		r->kind = REPLY_SOLD_OUT;
		break;
	}
}

/*
 * Too few replicas acknowledged the group the purchase was in: the buyer
 * is not told "bought", but the primary made the sale, and keeps it if
 * it survives.  Its local ticket stays taken then, as Redis counts it
 * sold; any other outcome gives it back.  The buyer's retry finds the
 * order by the per-user repeat, or buys afresh if a failover lost it.
 */
static void
unconfirmed(struct stock *stock, enum store_buy_result result,
    struct reply *r)
{
	if (result != STORE_SOLD)
		stock_give_back(stock);
	refuse(r, REPLY_UNAVAILABLE, "not confirmed by replicas");
}

/*
 * Sell the ticket taken from item's local stock through Redis: the
 * purchase is left in req->purchase for the group commit, which calls
 * route_settle() with its outcome.
 */
static void
sell(struct route_ctx *ctx, const struct route_request *req,
    const struct query *q, struct item *item, struct reply *r)
{
	struct route_purchase	*rp = req->purchase;

	if (rp == NULL || !make_request_id(ctx, req, rp->request_id,
	    sizeof(rp->request_id))) {
		stock_give_back(&item->stock);
		refuse(r, REPLY_UNAVAILABLE, "request id too long");
		return;
	}
	memcpy(rp->user, q->user, sizeof(rp->user));
	rp->item = item;
	rp->p.item = item;
	rp->p.request_id = rp->request_id;
	rp->p.user = rp->user;
	rp->pending = true;
}

/* The answer to a purchase once the group commit (rc) has sold it. */
void
route_settle(struct route_purchase *rp, enum spike_err rc, struct reply *r)
{
	rp->pending = false;
	switch (rc) {
	case SPIKE_OK:
		settle(&rp->item->stock, &rp->p, r);
		break;
	case SPIKE_EUNCONFIRMED:
		unconfirmed(&rp->item->stock, rp->p.result, r);
		break;
	default:
		stock_give_back(&rp->item->stock);
		refuse(r, REPLY_UNAVAILABLE, "redis unavailable");
		break;
	}
}

/*
 * Is item open by this instance's estimate of Redis's clock?  Returns
 * true, or false with a 403: code -10 with opens_at before its start,
 * -11 while paused or from its end.  buy.lua checks again by Redis's
 * own clock.
 */
static bool
sale_open(struct route_ctx *ctx, const struct item *item, struct reply *r)
{
	switch (item_state_at(item, item_redis_now_ms(ctx->items))) {
	case ITEM_OPEN:
		return true;
	case ITEM_COMING:
		refuse_not_started(r, atomic_load_explicit(&item->start_ms,
		    memory_order_relaxed));
		return false;
	default:
		refuse(r, REPLY_CLOSED, NULL);
		return false;
	}
}

/* Answer 503 until the sync has read item from Redis once. */
static bool
sale_synced(const struct item *item, struct reply *r)
{
	if (atomic_load_explicit(&item->stock.synced, memory_order_acquire))
		return true;
	refuse(r, REPLY_UNAVAILABLE, "stock not read from redis yet");
	return false;
}

static void
handle_buy(struct route_ctx *ctx, const struct route_request *req,
    const struct query *q, struct reply *r)
{
	struct item	*item;

	if (!buyer_verified(ctx, q, r) || (item = find_item(ctx, q, r)) == NULL)
		return;
	if (q->user[0] == '\0' && !ctx->conf->allow_anonymous) {
		refuse(r, REPLY_BAD_REQUEST, "user required");
		return;
	}
	if (!store_usable(ctx, r) || !sale_synced(item, r) ||
	    !sale_open(ctx, item, r))
		return;
	if (atomic_load_explicit(&item->stock.sold_out, memory_order_acquire) ||
	    !stock_take(&item->stock)) {
		refuse(r, REPLY_SOLD_OUT, NULL);
		return;
	}
	sell(ctx, req, q, item, r);
}

static void
handle_order(struct route_ctx *ctx, const struct route_request *req,
    const struct query *q, struct reply *r)
{
	struct store_order	 order;
	struct item		*item;
	bool			 found;

	(void)req;
	if (q->user[0] == '\0') {
		refuse(r, REPLY_BAD_REQUEST, "user required");
		return;
	}
	if (!buyer_verified(ctx, q, r) ||
	    (item = find_item(ctx, q, r)) == NULL || !store_usable(ctx, r))
		return;
	if (store_find_order(ctx->store, item, q->user, &found, &order) !=
	    SPIKE_OK) {
		store_failed(ctx, r);
		return;
	}
	if (!found) {
		refuse(r, REPLY_NO_ORDER, "no order for this user");
		return;
	}
	r->kind = REPLY_OK;
	describe_order(r, &order, false);
}

static void
handle_pay(struct route_ctx *ctx, const struct route_request *req,
    const struct query *q, struct reply *r)
{
	struct store_order	 order;
	enum store_pay_result	 result;
	struct item		*item;

	(void)req;
	if (q->user[0] == '\0' || q->order[0] == '\0') {
		refuse(r, REPLY_BAD_REQUEST, "user and order required");
		return;
	}
	if (!payment_verified(ctx, q, r) ||
	    (item = find_item(ctx, q, r)) == NULL || !store_usable(ctx, r))
		return;
	switch (store_pay(ctx->store, item, q->user, q->order, &result,
	    &order)) {
	case SPIKE_OK:
		break;
	case SPIKE_EUNCONFIRMED:	/* Redis is up: not reported down */
		refuse(r, REPLY_UNAVAILABLE, "not confirmed by replicas");
		return;
	default:
		store_failed(ctx, r);
		return;
	}
	switch (result) {
	case STORE_PAID:
	case STORE_PAID_BEFORE:
		r->kind = REPLY_PAID;
		describe_order(r, &order, result == STORE_PAID_BEFORE);
		break;
	case STORE_NO_ORDER:	/* another user's order is answered alike */
		refuse(r, REPLY_NO_ORDER, "no such order");
		break;
	case STORE_TOO_LATE:
		refuse(r, REPLY_CONFLICT, "order expired: not paid in time");
		break;
	}
}

/*
 * An item's sale as the last sync saw it, and its state now by this
 * instance's estimate of Redis's clock: no Redis call.
 */
static void
handle_stock(struct route_ctx *ctx, const struct route_request *req,
    const struct query *q, struct reply *r)
{
	struct item	*item;
	long long	 total, sold;

	(void)req;
	if ((item = find_item(ctx, q, r)) == NULL || !sale_synced(item, r))
		return;
	total = atomic_load_explicit(&item->stock.view_total,
	    memory_order_relaxed);
	sold = atomic_load_explicit(&item->stock.view_sold,
	    memory_order_relaxed);
	r->kind = REPLY_OK;
	snprintf(r->extra, sizeof(r->extra), ",\"total\":%lld,\"sold\":%lld,"
	    "\"remaining\":%lld,\"state\":\"%s\",\"opens_at\":%lld,"
	    "\"closes_at\":%lld", total, sold, total > sold ? total - sold : 0,
	    item_state_name(item_state_at(item,
	    item_redis_now_ms(ctx->items))),
	    atomic_load_explicit(&item->start_ms, memory_order_relaxed),
	    atomic_load_explicit(&item->end_ms, memory_order_relaxed));
}

/* GET /healthz: 200 while this instance can sell, else 503 saying why. */
static void
handle_healthz(struct route_ctx *ctx, const struct route_request *req,
    const struct query *q, struct reply *r)
{
	(void)req;
	(void)q;
	if (!store_usable(ctx, r))
		return;
	if (!atomic_load_explicit(&ctx->stock->synced, memory_order_acquire)) {
		refuse(r, REPLY_UNAVAILABLE,
		    "stock not read from redis yet");
		return;
	}
	r->kind = REPLY_OK;
}

/* GET /metrics: the worker sends metrics_format()'s text for it. */
static void
handle_metrics(struct route_ctx *ctx, const struct route_request *req,
    const struct query *q, struct reply *r)
{
	(void)ctx;
	(void)req;
	(void)q;
	r->kind = REPLY_OK;
}

/* GET /items: the worker sends the listing the sync thread built. */
static void
handle_items(struct route_ctx *ctx, const struct route_request *req,
    const struct query *q, struct reply *r)
{
	(void)ctx;
	(void)req;
	(void)q;
	r->kind = REPLY_OK;
}

static const struct route routes[] = {
	{ "/buy/ticket", "GET, POST", handle_buy, false, ROUTE_ON_LOOP_COMMIT },
	{ "/order", "GET", handle_order, false, ROUTE_ON_WORKER },
	{ "/pay", "POST", handle_pay, false, ROUTE_ON_WORKER },
	{ "/stock", "GET", handle_stock, false, ROUTE_ON_LOOP },
	{ "/healthz", "GET", handle_healthz, true, ROUTE_ON_LOOP },
	{ "/metrics", "GET", handle_metrics, true, ROUTE_ON_WORKER_LARGE },
	{ "/items", "GET", handle_items, false, ROUTE_ON_WORKER_LARGE },
};

static const struct route *
find_route(const char *path)
{
	size_t	 i;

	for (i = 0; path != NULL && i < sizeof(routes) / sizeof(routes[0]);
	    i++)
		if (strcmp(routes[i].path, path) == 0)
			return &routes[i];
	return NULL;
}

/* Which thread answers a request for path: see enum route_place. */
enum route_place
route_place(const char *path)
{
	const struct route	*route = find_route(path);

	return route != NULL ? route->place : ROUTE_ON_LOOP;
}

/*
 * True when method is, whole and in the same case (RFC 9110, 9.1), one
 * of the names in allow, a list as the Allow header writes it.
 */
static bool
method_allowed(const char *allow, const char *method)
{
	size_t	 len, n;

	if (method == NULL || (len = strlen(method)) == 0)
		return false;
	for (; *allow != '\0'; allow += strspn(allow, ", ")) {
		n = strcspn(allow, ", ");
		if (n == len && strncmp(allow, method, len) == 0)
			return true;
		allow += n;
	}
	return false;
}

/*
 * Read the parameters from the query string and, for POST, the form
 * body; a body with any other method is refused, not ignored.  Returns
 * false, with the answer set to a 400, when they are bad.
 */
static bool
read_input(const struct route_request *req, struct query *q, struct reply *r)
{
	memset(q, 0, sizeof(*q));
	if (req->query != NULL &&
	    query_parse(q, req->query, strlen(req->query)) != SPIKE_OK)
		goto bad;
	if (req->body_len > 0 && strcmp(req->method, "POST") != 0) {
		refuse(r, REPLY_BAD_REQUEST, "only a POST may have a body");
		return false;
	}
	if (req->body_len > 0) {
		if (!query_is_form(req->content_type)) {
			refuse(r, REPLY_BAD_REQUEST, "body must be "
			    "application/x-www-form-urlencoded");
			return false;
		}
		if (query_parse(q, req->body, req->body_len) != SPIKE_OK)
			goto bad;
	}
	return true;
bad:
	refuse(r, REPLY_BAD_REQUEST, q->error);
	return false;
}

/* Route a request and fill in its answer. */
void
route_handle(struct route_ctx *ctx, const struct route_request *req,
    struct route_answer *ans)
{
	const struct route	*route;
	struct query		 q;

	memset(ans, 0, sizeof(*ans));
	if ((route = find_route(req->path)) == NULL) {
		refuse(&ans->reply, REPLY_NOT_FOUND, NULL);
		return;
	}
	ans->ops = route->ops;
	if (!method_allowed(route->allow, req->method)) {
		ans->reply.allow = route->allow;
		refuse(&ans->reply, REPLY_BAD_METHOD, NULL);
		return;
	}
	if (!read_input(req, &q, &ans->reply))
		return;
	memcpy(ans->user, q.user, sizeof(ans->user));
	route->handle(ctx, req, &q, &ans->reply);
	ans->exposition = route->handle == handle_metrics;
	ans->listing = route->handle == handle_items;
	ans->limit = q.limit_given ? (unsigned int)strtoul(q.limit, NULL, 10) :
	    LISTING_DEFAULT_LIMIT;
}
