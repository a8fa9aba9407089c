/*
 * The FastCGI accept loop: one thread per worker, each with its own
 * FCGX_Request and its own Redis link.
 *
 * The worker accepts connections itself and hands libfcgi a request only
 * once conn.c has seen all of it and found it safe; libfcgi's request has
 * no listening socket (-1), so libfcgi can neither accept nor read a
 * connection behind the worker's back.
 *
 * Shutdown: a worker blocked in accept(2), or waiting for the next
 * request on a connection nginx keeps alive, does not wake up by itself.
 * worker_kick() sends it SIGUSR1, whose handler is installed without
 * SA_RESTART, so the call fails with EINTR and the worker sees
 * worker_stopping.  A request that has come whole is always answered;
 * one still coming in pieces is given up.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "spike.h"

struct worker {
	pthread_t		 thread;
	struct route_ctx	*ctx;
	FCGX_Request		 req;
	int			 listen_fd;
	struct conn_limits	 limits;
	unsigned char		*peeked;	/* FCGI_SCAN_WINDOW bytes */
	atomic_bool		 waiting;	/* idle: accepting or waiting */
	atomic_bool		 done;
	bool			 drop_after_answer;	/* body left unread */
	long long		 request_deadline;	/* its request_ms ends */
};

static atomic_bool	worker_stopping;

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
send_metrics(struct worker *w)
{
	char	 buf[METRICS_TEXT_MAX];
	size_t	 len;

	len = metrics_format(buf, sizeof(buf), w->ctx->stock,
	    sync_store_up(w->ctx->sync));
	FCGX_PutStr(buf, (int)len, w->req.out);
}

/*
 * GET /items: the listing, which may be larger than an answer's buffer;
 * a 503 when memory is short.
 */
static bool
send_listing(struct worker *w, unsigned int limit)
{
	char	*text;
	size_t	 len;

	if ((text = listing_answer(sync_listing(w->ctx->sync), limit,
	    item_redis_now_ms(w->ctx->items), &len)) == NULL)
		return false;
	FCGX_PutStr(text, (int)len, w->req.out);
	free(text);
	return true;
}

static void
send_answer(struct worker *w, const struct route_answer *ans)
{
	char	 buf[1024];
	size_t	 len;
	struct reply short_of_memory = { .kind = REPLY_UNAVAILABLE };

	if (ans->exposition) {
		send_metrics(w);
		return;
	}
	if (ans->listing) {
		if (!send_listing(w, ans->limit)) {
			len = reply_format(buf, sizeof(buf), &short_of_memory);
			FCGX_PutStr(buf, (int)len, w->req.out);
		}
		return;
	}
	len = reply_format(buf, sizeof(buf), &ans->reply);
	FCGX_PutStr(buf, (int)len, w->req.out);
}

static void
write_stat(struct worker *w, const struct route_answer *ans, long long us)
{
	char	 line[256];
	int	 len;

	len = statlog_format(line, sizeof(line), reply_code(ans->reply.kind),
	    atomic_load_explicit(&w->ctx->stock->sold, memory_order_relaxed),
	    w->ctx->where, ans->user, us);
	statlog_append(w->ctx->statlog, line, (size_t)len);
}

/*
 * Read the body CONTENT_LENGTH announces into body.  Returns false, with
 * the answer set and the connection to be dropped, when it is refused.
 */
static bool
take_body(struct worker *w, struct route_request *rr, char *body,
    struct route_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	rr->body = body;
	if (route_length_ok(FCGX_GetParam("CONTENT_LENGTH", w->req.envp),
	    &ans->reply)) {
		if (read_body(&w->req, body, &rr->body_len))
			return true;
		ans->reply.kind = REPLY_TOO_LARGE;
	}
	w->drop_after_answer = true;
	return false;
}

/* Answer one accepted request, record its stat line and count it. */
static void
serve(struct worker *w)
{
	char			 body[QUERY_BODY_MAX + 1];
	char			**envp = w->req.envp;
	struct route_request	 rr;
	struct route_answer	 ans;
	long long		 start = now_us(), us;

	memset(&rr, 0, sizeof(rr));
	rr.method = FCGX_GetParam("REQUEST_METHOD", envp);
	rr.path = FCGX_GetParam("DOCUMENT_URI", envp);
	if (rr.path == NULL)
		rr.path = FCGX_GetParam("SCRIPT_NAME", envp);
	rr.query = FCGX_GetParam("QUERY_STRING", envp);
	rr.content_type = FCGX_GetParam("CONTENT_TYPE", envp);
	rr.request_id = FCGX_GetParam("REQUEST_ID", envp);
	if (take_body(w, &rr, body, &ans))
		route_handle(w->ctx, &rr, &ans);
	send_answer(w, &ans);
	us = now_us() - start;
	write_stat(w, &ans, us);
	if (!ans.ops)
		metrics_count_request(reply_code(ans.reply.kind), us);
}

/*
 * End the connection after its answer: send the end of the answer, then
 * linger for a bounded time, longer when the peer may still be sending
 * a body left unread (conn.c).  libfcgi's own close, skipped since the
 * request is detached, would read until the peer is quiet: a peer
 * sending a byte every 40 ms would hold the worker for ever.
 */
static void
end_connection(struct worker *w)
{
	FCGX_FClose(w->req.err);
	FCGX_FClose(w->req.out);
	if (w->drop_after_answer)
		conn_drain(w->req.ipcFd, &w->limits, w->request_deadline);
	else
		conn_linger(w->req.ipcFd);
	w->drop_after_answer = false;
	w->req.keepConnection = 0;
}

/* Close the connection libfcgi has not read from. */
static void
close_connection(struct worker *w)
{
	close(w->req.ipcFd);
	w->req.ipcFd = -1;
}

/*
 * A request whose parameters are over the limit: answered 431 without
 * libfcgi and recorded like any other; then the rest of the request,
 * which the peer may still be sending, is drained before the connection
 * is closed.
 */
static void
refuse_too_large(struct worker *w, unsigned int request_id)
{
	struct route_answer	 ans;
	char			 buf[512];
	size_t			 len;
	long long		 start = now_us(), us;
	bool			 sent;

	memset(&ans, 0, sizeof(ans));
	ans.reply.kind = REPLY_HEADERS_TOO_LARGE;
	len = reply_format(buf, sizeof(buf), &ans.reply);
	sent = conn_answer(w->req.ipcFd, request_id, buf, len);
	us = now_us() - start;
	write_stat(w, &ans, us);
	metrics_count_request(reply_code(ans.reply.kind), us);
	if (sent)
		conn_drain(w->req.ipcFd, &w->limits, w->request_deadline);
	close_connection(w);
}

/*
 * Log a refused stream, at most once a second: a peer that sends
 * garbage in a loop must not flood the log.
 */
static void
log_refusal(const char *peer, const char *why)
{
	static atomic_llong	 next_ms;
	static atomic_ullong	 unlogged;
	long long		 now = now_us() / 1000;
	long long		 due = atomic_load(&next_ms);

	if (now < due || !atomic_compare_exchange_strong(&next_ms, &due,
	    now + 1000)) {
		atomic_fetch_add(&unlogged, 1);
		return;
	}
	log_warnx("closed the FastCGI connection of %s unread: %s (%llu more "
	    "not logged since the last such line)", peer, why,
	    atomic_exchange(&unlogged, 0));
}

/*
 * A stream that is no request: counted, logged, closed unread.  Counted
 * first, so that whoever has seen the close finds it in /metrics.
 */
static void
refuse_stream(struct worker *w, const char *why)
{
	char	 peer[64];

	conn_peer_name(w->req.ipcFd, peer, sizeof(peer));
	metrics_fastcgi_refused();
	log_refusal(peer, why);
	close_connection(w);
}

/*
 * Accept a connection if the worker has none.  Returns false when there
 * is none to serve now (a signal, a refused peer, out of descriptors).
 */
static bool
have_connection(struct worker *w)
{
	if (w->req.ipcFd >= 0)
		return true;
	if ((w->req.ipcFd = conn_accept(w->listen_fd, &w->limits)) >= 0)
		return true;
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
	    errno == ENOMEM)
		usleep(10000);		/* do not spin */
	return false;
}

/*
 * Wait for the next request on the worker's connection until it has all
 * come.  Returns true when libfcgi may read it; otherwise the connection
 * has been dealt with (closed, or answered and closed).
 */
static bool
next_request(struct worker *w)
{
	struct fcgi_scan	 scan;

	switch (conn_await_request(w->req.ipcFd, w->peeked, &w->limits,
	    &scan, &w->request_deadline)) {
	case CONN_REQUEST:
		return true;
	case CONN_TOO_LARGE:
		refuse_too_large(w, scan.request_id);
		break;
	case CONN_REFUSED:
		refuse_stream(w, scan.why);
		break;
	case CONN_GONE:
		close_connection(w);
		break;
	case CONN_INTERRUPTED:
		if (atomic_load(&worker_stopping))
			close_connection(w);
		break;
	}
	return false;
}

/*
 * Let libfcgi read the request conn.c has checked.  keepConnection keeps
 * FCGX_Accept_r's own FCGX_Finish_r from closing the connection before
 * it reads BEGIN_REQUEST, which sets the flag again; detached makes
 * every close of libfcgi's immediate (end_connection lingers instead).
 * libfcgi refusing what the scan passed would be a bug of fcgi_scan.c.
 */
static bool
accept_request(struct worker *w)
{
	w->req.keepConnection = 1;
	w->req.detached = 1;
	if (FCGX_Accept_r(&w->req) == 0)
		return true;
	metrics_fastcgi_refused();
	log_refusal("a peer", "libfcgi refused a request the scan passed");
	return false;
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;

	FCGX_InitRequest(&w->req, -1, FCGI_FAIL_ACCEPT_ON_INTR);
	metrics_bind(w->ctx->thread);
	for (;;) {
		atomic_store(&w->waiting, true);
		if (atomic_load(&worker_stopping))
			break;
		if (!have_connection(w) || !next_request(w)) {
			atomic_store(&w->waiting, false);
			continue;
		}
		atomic_store(&w->waiting, false);
		if (!accept_request(w))
			continue;
		serve(w);
		if (w->drop_after_answer || !w->req.keepConnection)
			end_connection(w);
		FCGX_Finish_r(&w->req);
	}
	if (w->req.ipcFd >= 0)
		close_connection(w);
	FCGX_Free(&w->req, 0);
	atomic_store(&w->done, true);
	return NULL;
}

/* Start a worker thread serving listen_fd; NULL with errno set on failure. */
struct worker *
worker_start(struct route_ctx *ctx, int listen_fd)
{
	struct worker	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if ((w->peeked = malloc(FCGI_SCAN_WINDOW)) == NULL)
		goto fail;
	w->ctx = ctx;
	w->listen_fd = listen_fd;
	w->limits.idle_ms = ctx->conf->read_timeout_ms;
	w->limits.request_ms = ctx->conf->request_timeout_ms;
	w->limits.stopping = &worker_stopping;
	atomic_init(&w->waiting, false);
	atomic_init(&w->done, false);
	if ((errno = pthread_create(&w->thread, NULL, worker_main, w)) != 0)
		goto fail;
	return w;
fail:
	free(w->peeked);
	free(w);
	return NULL;
}

/* From now on, no worker waits for another request. */
void
worker_stop_all(void)
{
	atomic_store(&worker_stopping, true);
}

/*
 * Wake w if it waits for a request; call repeatedly, since a signal sent
 * just before the worker enters accept(2) is lost.  Returns true once
 * the worker has finished.
 */
bool
worker_kick(struct worker *w)
{
	if (atomic_load(&w->done))
		return true;
	if (atomic_load(&w->waiting))
		pthread_kill(w->thread, SIGUSR1);
	return false;
}

void
worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
	free(w->peeked);
	free(w);
}
