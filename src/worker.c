/*
 * The FastCGI accept loop: one thread per worker, each with its own
 * FCGX_Request on the shared listening socket (libfcgi takes no accept
 * lock on Linux) and its own Redis link.
 *
 * Shutdown: a worker blocked in accept(2), or in read(2) on a connection
 * nginx keeps alive, does not wake up by itself.  worker_kick() sends it
 * SIGUSR1, whose handler is installed without SA_RESTART, so the call
 * fails with EINTR; with FCGX_ShutdownPending() set, FCGX_Accept_r then
 * returns instead of accepting again.  A request already accepted is
 * always answered.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "spike.h"

#define DROP_DRAIN_MS	100
#define DROP_DRAIN_MAX	(256 * 1024)

struct worker {
	pthread_t		 thread;
	struct route_ctx	*ctx;
	FCGX_Request		 req;
	int			 listen_fd;
	atomic_bool		 waiting;	/* in FCGX_Accept_r */
	atomic_bool		 done;
	bool			 drop_after_answer;	/* body left unread */
};

static atomic_bool	worker_stopping;

static long long
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

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

static void
send_answer(struct worker *w, const struct route_answer *ans)
{
	char	 buf[1024];
	size_t	 len;

	if (ans->exposition) {
		send_metrics(w);
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
	rr.body = body;
	if (route_body_too_large(FCGX_GetParam("CONTENT_LENGTH", envp)) ||
	    !read_body(&w->req, body, &rr.body_len)) {
		memset(&ans, 0, sizeof(ans));
		ans.reply.kind = REPLY_TOO_LARGE;
		w->drop_after_answer = true;
	} else
		route_handle(w->ctx, &rr, &ans);
	send_answer(w, &ans);
	us = now_us() - start;
	write_stat(w, &ans, us);
	if (!ans.ops)
		metrics_count_request(reply_code(ans.reply.kind), us);
}

/*
 * End a connection whose request body was left unread: send the end of
 * the answer, then read what the peer still sends for at most
 * DROP_DRAIN_MS, so that closing does not reset the connection before the
 * peer has the answer, yet a peer that never stops sending cannot hold
 * the worker.  libfcgi's own close would drain until the peer is quiet.
 */
static void
drop_connection(struct worker *w)
{
	char		 trash[4096];
	struct pollfd	 pfd = { w->req.ipcFd, POLLIN, 0 };
	long long	 deadline = now_us() + DROP_DRAIN_MS * 1000;
	size_t		 drained = 0;

	w->drop_after_answer = false;
	FCGX_FClose(w->req.err);
	FCGX_FClose(w->req.out);
	shutdown(w->req.ipcFd, SHUT_WR);
	while (now_us() < deadline && drained < DROP_DRAIN_MAX &&
	    poll(&pfd, 1, DROP_DRAIN_MS) == 1) {
		ssize_t n = read(w->req.ipcFd, trash, sizeof(trash));

		if (n <= 0)
			break;
		drained += (size_t)n;
	}
	w->req.keepConnection = 0;
	w->req.detached = 1;		/* close(2) it without draining */
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	int		 rc;

	FCGX_InitRequest(&w->req, w->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
	metrics_bind(w->ctx->thread);
	for (;;) {
		atomic_store(&w->waiting, true);
		if (atomic_load(&worker_stopping))
			break;
		rc = FCGX_Accept_r(&w->req);
		atomic_store(&w->waiting, false);
		if (rc < 0) {
			if (atomic_load(&worker_stopping))
				break;
			if (rc != -EINTR)
				usleep(10000);	/* e.g. EMFILE: do not spin */
			continue;
		}
		serve(w);
		if (w->drop_after_answer)
			drop_connection(w);
		FCGX_Finish_r(&w->req);
	}
	FCGX_Free(&w->req, 1);
	atomic_store(&w->done, true);
	return NULL;
}

/* Start a worker thread serving listen_fd; returns NULL on failure. */
struct worker *
worker_start(struct route_ctx *ctx, int listen_fd)
{
	struct worker	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->ctx = ctx;
	w->listen_fd = listen_fd;
	atomic_init(&w->waiting, false);
	atomic_init(&w->done, false);
	if ((errno = pthread_create(&w->thread, NULL, worker_main, w)) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

/* From now on, no worker accepts another request. */
void
worker_stop_all(void)
{
	atomic_store(&worker_stopping, true);
	FCGX_ShutdownPending();
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
	free(w);
}
