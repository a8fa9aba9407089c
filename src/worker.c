/*
 * The workers: threads that answer what the event loop hands them
 * (loop.c), each with its own Redis link and stat buffer.  A worker only
 * ever holds a connection whose request has come whole, for the time of
 * its answer: purchases wait for the group commit here, never on the
 * loop.  A worker stops when the handoff gives it NULL, after every
 * connection handed before.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <fcgiapp.h>

#include "spike.h"

struct worker {
	pthread_t		 thread;
	struct route_ctx	*ctx;
	struct handoff		*handoff;
	struct loop		*loop;
};

/* Answer c's request, then give c back to the loop. */
static void
serve_conn(struct worker *w, struct conn *c)
{
	FCGX_Request	*req = loop_request(c);
	bool		 large = loop_answer_large(c), drop;
	enum conn_after	 after;

	if (large)
		serve_set_blocking(req->ipcFd, true);
	(void)serve_request(w->ctx, req, &drop, NULL);
	after = serve_finish(req, drop);
	if (large && after != CONN_AFTER_CLOSED)
		serve_set_blocking(req->ipcFd, false);
	loop_return(w->loop, c, after);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	struct conn	*c;

	metrics_bind(w->ctx->thread);
	while ((c = handoff_take(w->handoff)) != NULL)
		serve_conn(w, c);
	return NULL;
}

/* Start a worker thread; NULL with errno set on failure. */
struct worker *
worker_start(struct route_ctx *ctx, struct handoff *handoff,
    struct loop *loop)
{
	struct worker	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->ctx = ctx;
	w->handoff = handoff;
	w->loop = loop;
	if ((errno = pthread_create(&w->thread, NULL, worker_main, w)) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

void
worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
	free(w);
}
