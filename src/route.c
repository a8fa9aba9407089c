/*
 * One request, from its parameters to its answer: the router and the
 * purchase.  The purchase takes a ticket from the local stock first and
 * only then asks Redis, so that once the stock is gone a crowd is
 * answered from memory.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spike.h"

/* True when CONTENT_LENGTH announces a body over QUERY_BODY_MAX. */
bool
route_body_too_large(const char *content_length)
{
	char		*end;
	unsigned long long v;

	if (content_length == NULL || *content_length == '\0')
		return false;
	v = strtoull(content_length, &end, 10);
	return *end != '\0' || v > QUERY_BODY_MAX;
}

/* nginx's $request_id is 32 hex digits; accept any short token. */
static bool
request_id_usable(const char *id)
{
	size_t	 len;

	if (id == NULL || (len = strlen(id)) == 0 || len > 64)
		return false;
	return strspn(id, "0123456789abcdefABCDEF-_") == len;
}

/* Answer kind for a purchase Redis could not make; gives the ticket back. */
static enum reply_kind
buy_failed(struct route_ctx *ctx, struct route_answer *ans)
{
	stock_give_back(ctx->stock);
	sync_report_down(ctx->sync, store_error(ctx->store));
	ans->detail = "redis unavailable";
	return REPLY_UNAVAILABLE;
}

static enum reply_kind
buy_ticket(struct route_ctx *ctx, const struct route_request *req,
    struct route_answer *ans)
{
	enum store_buy_result	 result;
	char			 id[160];

	if (!sync_store_up(ctx->sync)) {
		ans->detail = "redis unavailable";
		return REPLY_UNAVAILABLE;
	}
	if (!atomic_load_explicit(&ctx->stock->synced, memory_order_acquire)) {
		ans->detail = "stock not read from redis yet";
		return REPLY_UNAVAILABLE;
	}
	if (atomic_load_explicit(&ctx->stock->sold_out, memory_order_acquire) ||
	    !stock_take(ctx->stock))
		return REPLY_SOLD_OUT;
	if (request_id_usable(req->request_id))
		snprintf(id, sizeof(id), "%s", req->request_id);
	else
		snprintf(id, sizeof(id), "%s/%ld/%u/%llu", ctx->self_id,
		    (long)getpid(), ctx->thread, ++ctx->purchases);
	if (store_buy(ctx->store, id, &result) != SPIKE_OK)
		return buy_failed(ctx, ans);
	switch (result) {
	case STORE_SOLD:
		stock_confirm(ctx->stock);
		return REPLY_BOUGHT;
	case STORE_SOLD_BEFORE:
		stock_give_back(ctx->stock);
		return REPLY_BOUGHT;
	case STORE_SOLD_OUT:
	case STORE_NO_SALE:
		break;
	}
	stock_give_back(ctx->stock);
	stock_mark_sold_out(ctx->stock);
	return REPLY_SOLD_OUT;
}

/*
 * Read the user from the query string and, for POST, the form body.
 * Returns false, with the answer set to a 400, when the input is bad.
 */
static bool
read_input(const struct route_request *req, struct route_answer *ans)
{
	struct query	 q;

	memset(&q, 0, sizeof(q));
	if (req->query != NULL &&
	    query_parse(&q, req->query, strlen(req->query)) != SPIKE_OK)
		goto refuse;
	if (req->body_len > 0 && strcmp(req->method, "POST") == 0) {
		if (!query_is_form(req->content_type)) {
			ans->kind = REPLY_BAD_REQUEST;
			ans->detail = "body must be "
			    "application/x-www-form-urlencoded";
			return false;
		}
		if (query_parse(&q, req->body, req->body_len) != SPIKE_OK)
			goto refuse;
	}
	memcpy(ans->user, q.user, sizeof(ans->user));
	return true;
refuse:
	ans->kind = REPLY_BAD_REQUEST;
	ans->detail = q.error;
	return false;
}

/* Route a request and fill in its answer. */
void
route_handle(struct route_ctx *ctx, const struct route_request *req,
    struct route_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	if (req->path == NULL || strcmp(req->path, "/buy/ticket") != 0) {
		ans->kind = REPLY_NOT_FOUND;
		return;
	}
	if (req->method == NULL || (strcmp(req->method, "GET") != 0 &&
	    strcmp(req->method, "POST") != 0)) {
		ans->kind = REPLY_BAD_METHOD;
		return;
	}
	if (read_input(req, ans))
		ans->kind = buy_ticket(ctx, req, ans);
}
