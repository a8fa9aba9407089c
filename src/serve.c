/*
 * One request read by libfcgi, from its parameters to its answer and
 * stat line, on whichever thread holds its connection: the event loop
 * for what memory answers, a worker for what needs Redis (loop.c).
 *
 * An answer is put in libfcgi's output buffer and goes out with its end
 * records in the one write of FCGX_Finish_r, on a socket that does not
 * block: a peer that has no room for a small answer is not reading its
 * answers, and loses the connection.  Only the answers that may be
 * larger than a socket buffer (/items, /metrics) are written blocking,
 * bounded by the socket's send timeout (conn.c).
 */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#include "spike.h"

/*
 * Read the body into buf (at most QUERY_BODY_MAX bytes).  Returns false
 * when it is larger, without reading it to the end.
 */
static bool
read_body(FCGX_Request *req, char *buf, size_t *len)
{
	int	 n;

	n = FCGX_GetStr(buf, QUERY_BODY_MAX + 1, req->in);
	*len = n > 0 ? (size_t)n : 0;
	return *len <= QUERY_BODY_MAX;
}

/* GET /metrics: the exposition, not JSON; its buffer only lives here. */
static void
send_metrics(struct route_ctx *ctx, FCGX_Request *req)
{
	char	 buf[METRICS_TEXT_MAX];
	size_t	 len;

	len = metrics_format(buf, sizeof(buf), ctx->stock,
	    sync_store_up(ctx->sync));
	FCGX_PutStr(buf, (int)len, req->out);
}

/*
 * GET /items: the listing, which may be larger than an answer's buffer;
 * a 503 when memory is short.
 */
static bool
send_listing(struct route_ctx *ctx, FCGX_Request *req, unsigned int limit)
{
	char	*text;
	size_t	 len;

	if ((text = listing_answer(sync_listing(ctx->sync), limit,
	    item_redis_now_ms(ctx->items), &len)) == NULL)
		return false;
	FCGX_PutStr(text, (int)len, req->out);
	free(text);
	return true;
}

static void
send_answer(struct route_ctx *ctx, FCGX_Request *req,
    const struct route_answer *ans)
{
	char	 buf[1024];
	size_t	 len;
	struct reply short_of_memory = { .kind = REPLY_UNAVAILABLE };

	if (ans->exposition) {
		send_metrics(ctx, req);
		return;
	}
	if (ans->listing) {
		if (!send_listing(ctx, req, ans->limit)) {
			len = reply_format(buf, sizeof(buf), &short_of_memory);
			FCGX_PutStr(buf, (int)len, req->out);
		}
		return;
	}
	len = reply_format(buf, sizeof(buf), &ans->reply);
	FCGX_PutStr(buf, (int)len, req->out);
}

/* The stat line of an answer that took us microseconds, and its count. */
void
serve_record(struct route_ctx *ctx, const struct route_answer *ans,
    long long us)
{
	char	 line[256];
	int	 len;

	len = statlog_format(line, sizeof(line), reply_code(ans->reply.kind),
	    atomic_load_explicit(&ctx->stock->sold, memory_order_relaxed),
	    ctx->where, ans->user, us);
	statlog_append(ctx->statlog, line, (size_t)len);
	if (!ans->ops)
		metrics_count_request(reply_code(ans->reply.kind), us);
}

/*
 * Read the body CONTENT_LENGTH announces into body.  Returns false, with
 * the answer set and *drop set (the rest of the body unread), when it is
 * refused.
 */
static bool
take_body(FCGX_Request *req, struct route_request *rr, char *body,
    struct route_answer *ans, bool *drop)
{
	memset(ans, 0, sizeof(*ans));
	rr->body = body;
	if (route_length_ok(FCGX_GetParam("CONTENT_LENGTH", req->envp),
	    &ans->reply)) {
		if (read_body(req, body, &rr->body_len))
			return true;
		ans->reply.kind = REPLY_TOO_LARGE;
	}
	*drop = true;
	return false;
}

/* The resource a request asks for: nginx's DOCUMENT_URI, or SCRIPT_NAME. */
const char *
serve_path(FCGX_Request *req)
{
	const char	*path = FCGX_GetParam("DOCUMENT_URI", req->envp);

	return path != NULL ? path : FCGX_GetParam("SCRIPT_NAME", req->envp);
}

/*
 * Answer the request libfcgi read on req, record its stat line and count
 * it.  *drop is set when the connection must end after the answer.
 * Returns false when a purchase is left in pending for the group commit
 * instead (pending NULL: none may be): serve_settle() answers it then.
 */
bool
serve_request(struct route_ctx *ctx, FCGX_Request *req, bool *drop,
    struct serve_pending *pending)
{
	char			 body[QUERY_BODY_MAX + 1];
	char			**envp = req->envp;
	struct route_request	 rr;
	struct route_answer	 ans;
	long long		 start = now_us();

	*drop = false;
	memset(&rr, 0, sizeof(rr));
	rr.method = FCGX_GetParam("REQUEST_METHOD", envp);
	rr.path = serve_path(req);
	rr.query = FCGX_GetParam("QUERY_STRING", envp);
	rr.content_type = FCGX_GetParam("CONTENT_TYPE", envp);
	rr.request_id = FCGX_GetParam("REQUEST_ID", envp);
	if (pending != NULL) {
		pending->purchase.pending = false;
		rr.purchase = &pending->purchase;
	}
	if (take_body(req, &rr, body, &ans, drop))
		route_handle(ctx, &rr, &ans);
	if (pending != NULL && pending->purchase.pending) {
		pending->ans = ans;
		pending->start_us = start;
		pending->drop = *drop;
		pending->item.purchase = &pending->purchase.p;
		return false;
	}
	send_answer(ctx, req, &ans);
	serve_record(ctx, &ans, now_us() - start);
	return true;
}

/*
 * Answer the purchase pending on req now that the group commit sold it
 * (rc), record its stat line and end the answer: serve_finish()'s
 * outcome.
 */
enum conn_after
serve_settle(struct route_ctx *ctx, FCGX_Request *req,
    struct serve_pending *pending, enum spike_err rc)
{
	route_settle(&pending->purchase, rc, &pending->ans.reply);
	send_answer(ctx, req, &pending->ans);
	serve_record(ctx, &pending->ans, now_us() - pending->start_us);
	return serve_finish(req, pending->drop);
}

/*
 * Send the end of the answer and let libfcgi forget the request.  Says
 * what becomes of the connection: kept for the next request, ended
 * (lingering, or draining a body left unread; libfcgi must not close it
 * then, as its close would wait for the peer), or already closed by
 * libfcgi after a write failed.
 */
enum conn_after
serve_finish(FCGX_Request *req, bool drop)
{
	if (drop || !req->keepConnection) {
		FCGX_FClose(req->err);
		FCGX_FClose(req->out);
		req->keepConnection = 1;
		FCGX_Finish_r(req);
		if (req->ipcFd < 0)
			return CONN_AFTER_CLOSED;
		return drop ? CONN_AFTER_DRAIN : CONN_AFTER_LINGER;
	}
	FCGX_Finish_r(req);
	return req->ipcFd < 0 ? CONN_AFTER_CLOSED : CONN_AFTER_KEEP;
}

/* Make writes on fd block (bounded by its send timeout), or not. */
void
serve_set_blocking(int fd, bool blocking)
{
	int	 flags = fcntl(fd, F_GETFL);

	if (flags != -1)
		(void)fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK :
		    flags | O_NONBLOCK);
}
