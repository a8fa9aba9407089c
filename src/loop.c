/*
 * The event loop: one thread per instance owns every FastCGI connection.
 *
 * A connection costs no thread while it is idle between requests, or
 * while a request is still arriving: the loop watches it with epoll,
 * edge-triggered, and at each arrival peeks at what has come so far
 * (conn.c) until fcgi_scan_request() finds the request whole and safe.
 * Only then does libfcgi read it, in one read.  What memory answers
 * (/stock, /healthz, refusals, a purchase refused before Redis) is
 * answered on the loop, in one write.  A purchase goes to the group
 * commit (batch.c), whose thread answers it; what else needs Redis or may
 * be large (route_place()) is handed to a worker through the handoff
 * ring.  Both give the connection back on the returned stack, which the
 * loop takes whole when its eventfd says something is there.  Only
 * the loop changes a connection's state, so a connection needs no lock.
 *
 * Time limits: a request has idle_ms of silence and request_ms in all
 * to arrive; an idle connection is closed after LOOP_IDLE_MS; after an
 * answer that ends a connection, what the peer still sends is thrown
 * away for a bounded time, so that closing does not reset it before the
 * peer has read the answer.  A sweep looks at the deadlines.
 *
 * Shutdown: the loop stops accepting, closes the connections that wait
 * for a request (a request still coming is given up), lets the workers
 * answer what they were handed, and ends when every connection has.
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "spike.h"

#define LOOP_EVENTS		256	/* events taken per epoll_wait */
#define LOOP_ACCEPTS		64	/* connections accepted per wake-up */
#define LOOP_IDLE_MS		60000	/* a kept connection with no request */
#define LOOP_SWEEP_MS		1000	/* deadlines looked at, at least */
#define LOOP_FD_PAUSE_MS	10	/* out of descriptors: accept after */
#define LOOP_STOP_TICK_MS	10
#define LINGER_MAX		(256 * 1024)
/* Twice nginx's default client_max_body_size: the most drained. */
#define DRAIN_MAX		(2 * 1024 * 1024)

enum conn_state {
	CONN_IDLE,		/* kept, waiting for its next request */
	CONN_ARRIVING,		/* part of a request has come */
	CONN_WITH_WORKER,	/* handed to a worker or the group commit */
	CONN_LINGERING,		/* answered and ending */
	CONN_DRAINING,		/* answered before its body had come */
	CONN_CLOSED,		/* freed once the events in hand are done */
};

struct conn {
	FCGX_Request	 req;			/* its ipcFd is the socket */
	struct serve_pending pending;		/* its purchase */
	struct loop	*loop;
	enum conn_state	 state;
	long long	 deadline_ms;		/* 0: none */
	long long	 quiet_until_ms;	/* arriving: idle_ms of silence */
	long long	 request_deadline_ms;	/* request_ms from its first byte */
	size_t		 seen;			/* bytes of the request peeked */
	size_t		 discarded;
	enum route_place place;
	enum conn_after	 after;			/* set by the worker */
	uint32_t	 missed;		/* events while with a worker */
	bool		 pipelined;		/* bytes came past the request */
	struct conn	*prev, *next;		/* every connection */
	struct conn	*returned_next;
};

struct loop {
	int			 epfd;
	int			 listen_fd;
	int			 wake_fd;
	struct route_ctx	*ctx;		/* for answers given here */
	struct route_ctx	*commit_ctx;	/* for the group commit's */
	struct handoff		*handoff;
	struct conn_limits	 limits;
	unsigned char		*peeked;	/* FCGI_SCAN_WINDOW bytes */
	struct conn		*conns;
	struct conn		*closed;	/* to free after the events */
	size_t			 nconns;
	size_t			 conns_max;
	bool			 accepting;
	long long		 accept_again_ms;	/* 0: below conns_max */
	long long		 next_sweep_ms;
	long long		 now;		/* ms, as of the last wake-up */
	_Atomic(struct conn *)	 returned;	/* back from the workers */
	atomic_bool		 stopping;
	pthread_t		 thread;
};

/*
 * Log a refused stream, at most once a second: a peer that sends
 * garbage in a loop must not flood the log.
 */
static void
log_refusal(const char *peer, const char *why)
{
	static long long		 next_ms;
	static unsigned long long	 unlogged;
	long long			 now = now_ms();

	if (now < next_ms) {
		unlogged++;
		return;
	}
	next_ms = now + 1000;
	log_warnx("closed the FastCGI connection of %s unread: %s (%llu more "
	    "not logged since the last such line)", peer, why, unlogged);
	unlogged = 0;
}

/*
 * c's time is up once the clock, read in whole milliseconds, is past
 * at: so never before at, however the readings were truncated.
 */
static void
note_deadline(struct loop *l, struct conn *c, long long at)
{
	c->deadline_ms = at;
	if (at + 1 < l->next_sweep_ms)
		l->next_sweep_ms = at + 1;
}

static void
watch_listening(struct loop *l, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN,
	    .data.ptr = &l->listen_fd };

	if (on == l->accepting)
		return;
	if (epoll_ctl(l->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
	    l->listen_fd, &ev) == 0)
		l->accepting = on;
}

static void
conn_close(struct loop *l, struct conn *c)
{
	if (c->req.ipcFd >= 0)
		close(c->req.ipcFd);
	FCGX_Free(&c->req, 0);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->state = CONN_CLOSED;
	c->next = l->closed;
	l->closed = c;
	l->nconns--;
	if (!l->accepting && l->accept_again_ms == 0 &&
	    !atomic_load(&l->stopping))
		watch_listening(l, true);
}

/* A stream that is no request: counted, logged, closed unread. */
static void
refuse_stream(struct loop *l, struct conn *c, const char *why)
{
	char	 peer[64];

	conn_peer_name(c->req.ipcFd, peer, sizeof(peer));
	metrics_fastcgi_refused();
	log_refusal(peer, why);
	conn_close(l, c);
}

/*
 * End c after its answer: stop sending, then read and throw away what
 * the peer still sends, until it closes or the deadline.
 */
static void
keep_discarding(struct loop *l, struct conn *c)
{
	size_t	 max = c->state == CONN_LINGERING ? LINGER_MAX : DRAIN_MAX;
	ssize_t	 n;

	if ((n = conn_discard(c->req.ipcFd, max - c->discarded)) == -1 ||
	    (c->discarded += (size_t)n) >= max) {
		conn_close(l, c);
		return;
	}
	if (n > 0 && c->state == CONN_DRAINING)
		note_deadline(l, c, l->now + l->limits.idle_ms <
		    c->request_deadline_ms ? l->now + l->limits.idle_ms :
		    c->request_deadline_ms);
}

static void
start_discarding(struct loop *l, struct conn *c, enum conn_state state)
{
	shutdown(c->req.ipcFd, SHUT_WR);
	c->state = state;
	c->discarded = 0;
	if (state == CONN_LINGERING)
		note_deadline(l, c, l->now + CONN_LINGER_MS);
	else
		note_deadline(l, c, l->now + l->limits.idle_ms <
		    c->request_deadline_ms ? l->now + l->limits.idle_ms :
		    c->request_deadline_ms);
	keep_discarding(l, c);
}

/* What becomes of c once its request is answered. */
static void
after_answer(struct loop *l, struct conn *c, enum conn_after after)
{
	switch (after) {
	case CONN_AFTER_KEEP:
		c->state = CONN_IDLE;
		note_deadline(l, c, l->now + LOOP_IDLE_MS);
		break;
	case CONN_AFTER_CLOSED:
		conn_close(l, c);
		break;
	case CONN_AFTER_LINGER:
		start_discarding(l, c, CONN_LINGERING);
		break;
	case CONN_AFTER_DRAIN:
		start_discarding(l, c, CONN_DRAINING);
		break;
	}
}

/*
 * A request whose parameters are over the limit: answered 431 without
 * libfcgi and recorded like any other; then the rest of it, which the
 * peer may still be sending, is drained.
 */
static void
refuse_too_large(struct loop *l, struct conn *c, unsigned int request_id)
{
	struct route_answer	 ans;
	char			 buf[512];
	size_t			 len;
	long long		 start = now_us();
	bool			 sent;

	memset(&ans, 0, sizeof(ans));
	ans.reply.kind = REPLY_HEADERS_TOO_LARGE;
	len = reply_format(buf, sizeof(buf), &ans.reply);
	sent = conn_answer(c->req.ipcFd, request_id, buf, len);
	serve_record(l->ctx, &ans, now_us() - start);
	after_answer(l, c, sent ? CONN_AFTER_DRAIN : CONN_AFTER_CLOSED);
}

/*
 * The group commit sold c's purchase: answer it on the committer's
 * thread and give c back.
 */
static void
purchase_done(struct batch_item *item, enum spike_err rc)
{
	struct conn	*c = (struct conn *)(void *)((char *)item -
	    offsetof(struct conn, pending.item));
	struct loop	*l = c->loop;

	metrics_bind(l->commit_ctx->thread);
	loop_return(l, c, serve_settle(l->commit_ctx, &c->req, &c->pending,
	    rc));
}

/* c is another thread's until loop_return(): a worker's, or the commit's. */
static void
hand_over(struct loop *l, struct conn *c, bool to_worker)
{
	c->state = CONN_WITH_WORKER;
	c->deadline_ms = 0;
	c->missed = 0;
	if (to_worker)
		handoff_put(l->handoff, c);
	else {
		c->pending.item.done = purchase_done;
		batcher_submit(l->ctx->batcher, &c->pending.item);
	}
}

/*
 * Let libfcgi read the request the scan passed, and answer it here or
 * hand it to a worker; a purchase goes on to the group commit.
 * keepConnection keeps FCGX_Accept_r's own
 * FCGX_Finish_r from closing the connection before it reads
 * BEGIN_REQUEST, which sets the flag again; detached makes every close
 * of libfcgi's immediate.  libfcgi refusing what the scan passed would
 * be a bug of fcgi_scan.c; it has closed the socket then.
 */
static void
take_request(struct loop *l, struct conn *c)
{
	bool	 drop;

	c->req.keepConnection = 1;
	c->req.detached = 1;
	if (FCGX_Accept_r(&c->req) != 0) {
		metrics_fastcgi_refused();
		log_refusal("a peer", "libfcgi refused a request the scan "
		    "passed");
		conn_close(l, c);
		return;
	}
	c->place = route_place(serve_path(&c->req));
	if (c->place == ROUTE_ON_LOOP || c->place == ROUTE_ON_LOOP_COMMIT) {
		if (serve_request(l->ctx, &c->req, &drop, c->place ==
		    ROUTE_ON_LOOP_COMMIT ? &c->pending : NULL))
			after_answer(l, c, serve_finish(&c->req, drop));
		else
			hand_over(l, c, false);
		return;
	}
	hand_over(l, c, true);
}

/* Until when the request arriving on c may take to come. */
static long long
arrival_deadline(const struct conn *c)
{
	return c->quiet_until_ms < c->request_deadline_ms ?
	    c->quiet_until_ms : c->request_deadline_ms;
}

/*
 * Look at what has come of c's next request, and act on it once it is
 * whole.  Returns true when c was answered here, is kept, and more bytes
 * had come after the request: they are to be looked at too.
 */
static bool
look_at_request(struct loop *l, struct conn *c, uint32_t events)
{
	struct fcgi_scan	 scan;
	ssize_t			 n;

	if ((n = conn_peek(c->req.ipcFd, l->peeked)) == -1 &&
	    (errno == EAGAIN || errno == EINTR))
		return false;
	if (n <= 0) {
		conn_close(l, c);
		return false;
	}
	if (c->state == CONN_IDLE) {
		c->state = CONN_ARRIVING;
		c->request_deadline_ms = l->now + l->limits.request_ms;
		c->seen = 0;
	}
	fcgi_scan_request(l->peeked, (size_t)n, QUERY_BODY_MAX, &scan);
	switch (scan.verdict) {
	case FCGI_SCAN_READY:
		/* Best effort: libfcgi's read may take some of the next. */
		c->pipelined = (size_t)n > scan.end;
		take_request(l, c);
		return c->pipelined && c->state == CONN_IDLE;
	case FCGI_SCAN_TOO_LARGE:
		refuse_too_large(l, c, scan.request_id);
		return false;
	case FCGI_SCAN_BAD:
		refuse_stream(l, c, scan.why);
		return false;
	case FCGI_SCAN_MORE:
		break;
	}
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		conn_close(l, c);	/* the rest will not come */
		return false;
	}
	if ((size_t)n > c->seen) {
		c->seen = (size_t)n;
		c->quiet_until_ms = l->now + l->limits.idle_ms;
	}
	note_deadline(l, c, arrival_deadline(c));
	return false;
}

static void
conn_event(struct loop *l, struct conn *c, uint32_t events)
{
	switch (c->state) {
	case CONN_IDLE:
	case CONN_ARRIVING:
		while (look_at_request(l, c, events))
			;
		break;
	case CONN_WITH_WORKER:
		c->missed |= events | EPOLLIN;
		break;
	case CONN_LINGERING:
	case CONN_DRAINING:
		keep_discarding(l, c);
		break;
	case CONN_CLOSED:
		break;
	}
}

/*
 * Free the connections closed meanwhile: an event taken in the same
 * epoll_wait may still have named one.
 */
static void
free_closed(struct loop *l)
{
	struct conn	*c, *next;

	for (c = l->closed; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	l->closed = NULL;
}

/* Back from its worker: a connection kept looks for its next request. */
static void
conn_returned(struct loop *l, struct conn *c)
{
	uint32_t	 missed = c->missed;
	enum conn_after	 after = c->after;

	after_answer(l, c, after);
	if (after == CONN_AFTER_KEEP && atomic_load(&l->stopping))
		conn_close(l, c);
	else if (after == CONN_AFTER_KEEP && (missed != 0 || c->pipelined))
		conn_event(l, c, missed);
}

static void
take_returned(struct loop *l)
{
	struct conn	*c, *next;
	uint64_t	 n;

	(void)read(l->wake_fd, &n, sizeof(n));
	for (c = atomic_exchange(&l->returned, NULL); c != NULL; c = next) {
		next = c->returned_next;
		conn_returned(l, c);
	}
}

static void
new_conn(struct loop *l, int fd)
{
	struct epoll_event	 ev = { .events = EPOLLIN | EPOLLRDHUP |
	    EPOLLET };
	struct conn		*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	FCGX_InitRequest(&c->req, -1, 0);
	c->req.ipcFd = fd;
	c->loop = l;
	c->state = CONN_IDLE;
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	note_deadline(l, c, l->now + LOOP_IDLE_MS);
	ev.data.ptr = c;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		conn_close(l, c);
}

static void
accept_some(struct loop *l)
{
	int	 fd, i;

	for (i = 0; i < LOOP_ACCEPTS; i++) {
		if (l->nconns >= l->conns_max) {
			l->accept_again_ms = 0;
			watch_listening(l, false);
			return;
		}
		if ((fd = conn_accept(l->listen_fd, &l->limits)) >= 0) {
			new_conn(l, fd);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			l->accept_again_ms = l->now + LOOP_FD_PAUSE_MS;
			if (l->accept_again_ms < l->next_sweep_ms)
				l->next_sweep_ms = l->accept_again_ms;
			watch_listening(l, false);
			return;
		}
		if (errno != ECONNREFUSED && errno != ECONNABORTED &&
		    errno != EINTR)
			return;
	}
}

/* A deadline passed: close c, saying why when a request was coming. */
static void
expire(struct loop *l, struct conn *c)
{
	if (c->state == CONN_ARRIVING)
		refuse_stream(l, c, "request did not come in time");
	else
		conn_close(l, c);
}

static void
sweep(struct loop *l)
{
	struct conn	*c, *next;

	l->next_sweep_ms = l->now + LOOP_SWEEP_MS;
	for (c = l->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_WITH_WORKER)
			continue;
		if (c->deadline_ms < l->now)
			expire(l, c);
		else if (c->deadline_ms + 1 < l->next_sweep_ms)
			l->next_sweep_ms = c->deadline_ms + 1;
	}
	if (l->accept_again_ms != 0 && l->accept_again_ms <= l->now &&
	    !atomic_load(&l->stopping)) {
		l->accept_again_ms = 0;
		watch_listening(l, true);
	} else if (l->accept_again_ms != 0 &&
	    l->accept_again_ms < l->next_sweep_ms)
		l->next_sweep_ms = l->accept_again_ms;
}

/* Stopping: every connection that no worker holds ends now. */
static void
close_waiting(struct loop *l)
{
	struct conn	*c, *next;

	watch_listening(l, false);
	for (c = l->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state != CONN_WITH_WORKER && c->state != CONN_LINGERING)
			conn_close(l, c);
	}
}

static int
wait_ms(const struct loop *l)
{
	long long	 left;

	if (atomic_load(&l->stopping))
		return LOOP_STOP_TICK_MS;
	if (l->nconns == 0 && l->accept_again_ms == 0)
		return -1;
	left = l->next_sweep_ms - now_ms();
	return left < 0 ? 0 : (int)left;
}

static void
dispatch(struct loop *l, const struct epoll_event *ev)
{
	if (ev->data.ptr == &l->listen_fd)
		accept_some(l);
	else if (ev->data.ptr == &l->wake_fd)
		take_returned(l);
	else
		conn_event(l, ev->data.ptr, ev->events);
}

static void *
loop_main(void *arg)
{
	struct loop		*l = arg;
	struct epoll_event	 ev[LOOP_EVENTS];
	long long		 grace_ends = 0;
	int			 n, i;

	metrics_bind(l->ctx->thread);
	for (;;) {
		n = epoll_wait(l->epfd, ev, LOOP_EVENTS, wait_ms(l));
		l->now = now_ms();
		for (i = 0; i < n; i++)
			dispatch(l, &ev[i]);
		free_closed(l);
		if (atomic_load(&l->stopping)) {
			if (grace_ends == 0)
				grace_ends = l->now + SPIKE_SHUTDOWN_GRACE_MS;
			close_waiting(l);
			if (l->nconns == 0 || l->now >= grace_ends)
				break;
		}
		if (l->now >= l->next_sweep_ms)
			sweep(l);
		free_closed(l);
	}
	return NULL;
}

/*
 * The loop of listen_fd, answering on ctx's thread what memory answers,
 * sending purchases to ctx's group commit (whose answers commit_ctx
 * records) and handing the rest to the workers through handoff, for at
 * most conns_max connections.  Started by loop_start().
 */
struct loop *
loop_new(struct route_ctx *ctx, struct route_ctx *commit_ctx, int listen_fd,
    struct handoff *handoff, size_t conns_max)
{
	struct epoll_event	 ev = { .events = EPOLLIN };
	struct loop		*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->peeked = malloc(FCGI_SCAN_WINDOW);
	if (l->epfd == -1 || l->wake_fd == -1 || l->peeked == NULL)
		goto fail;
	ev.data.ptr = &l->wake_fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) == -1)
		goto fail;
	l->ctx = ctx;
	l->commit_ctx = commit_ctx;
	l->listen_fd = listen_fd;
	serve_set_blocking(listen_fd, false);	/* accept until EAGAIN */
	l->handoff = handoff;
	l->conns_max = conns_max;
	l->limits.idle_ms = ctx->conf->read_timeout_ms;
	l->limits.request_ms = ctx->conf->request_timeout_ms;
	atomic_init(&l->returned, NULL);
	atomic_init(&l->stopping, false);
	l->now = now_ms();
	l->next_sweep_ms = l->now + LOOP_SWEEP_MS;
	watch_listening(l, true);
	if (l->accepting)
		return l;
fail:
	loop_free(l);
	return NULL;
}

/* Run l on a thread of its own; false with errno set on failure. */
bool
loop_start(struct loop *l)
{
	return (errno = pthread_create(&l->thread, NULL, loop_main, l)) == 0;
}

/*
 * Stop accepting, close the connections waiting for a request, and wait
 * until the workers have answered what they hold, at most
 * SPIKE_SHUTDOWN_GRACE_MS.  Returns how many connections a worker still
 * holds then.
 */
size_t
loop_stop(struct loop *l)
{
	struct conn	*c;
	uint64_t	 one = 1;
	size_t		 held = 0;

	atomic_store(&l->stopping, true);
	(void)write(l->wake_fd, &one, sizeof(one));
	pthread_join(l->thread, NULL);
	take_returned(l);
	free_closed(l);
	for (c = l->conns; c != NULL; c = c->next)
		if (c->state == CONN_WITH_WORKER)
			held++;
	return held;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	if (l->epfd != -1)
		close(l->epfd);
	if (l->wake_fd != -1)
		close(l->wake_fd);
	free(l->peeked);
	free(l);
}

/* The request a worker is to answer on c. */
FCGX_Request *
loop_request(struct conn *c)
{
	return &c->req;
}

/* Whether c's answer may be larger than a socket buffer holds. */
bool
loop_answer_large(const struct conn *c)
{
	return c->place == ROUTE_ON_WORKER_LARGE;
}

/*
 * A worker is done with c: after says what becomes of it.  The loop
 * takes it back on its own thread; the eventfd wakes it when the
 * returned stack was empty.
 */
void
loop_return(struct loop *l, struct conn *c, enum conn_after after)
{
	struct conn	*top = atomic_load(&l->returned);
	uint64_t	 one = 1;

	c->after = after;
	do
		c->returned_next = top;
	while (!atomic_compare_exchange_weak(&l->returned, &top, c));
	if (top == NULL)
		(void)write(l->wake_fd, &one, sizeof(one));
}
