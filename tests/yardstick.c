/*
 * yardstick: the cheapest FastCGI responder, the bench's measure of what
 * the FastCGI hop behind nginx can carry.  One thread, one epoll (level
 * triggered), the listening socket on fd 0 from spawn-fcgi; it reads each
 * record's header only (FastCGI 1.0, section 3.3), skips every body but
 * BEGIN_REQUEST's flags, and answers each request's empty STDIN with a
 * constant JSON: STDOUT, an empty STDOUT and END_REQUEST in one send.
 * The connection is closed after the answer unless FCGI_KEEP_CONN is set.
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FCGI_BEGIN_REQUEST	1
#define FCGI_END_REQUEST	3
#define FCGI_STDIN		5
#define FCGI_STDOUT		6
#define FCGI_KEEP_CONN		1
#define YARD_HEAD		8	/* a record's header */
#define YARD_BEGIN		16	/* header and BEGIN_REQUEST's body */
#define YARD_EVENTS		256

static const char yard_body[] = "Status: 200 OK\r\n"
    "Content-Type: application/json\r\n\r\n"
    "{\"code\":1,\"msg\":\"ok\",\"total\":10000000,\"sold\":0,"
    "\"remaining\":10000000,\"state\":\"open\",\"opens_at\":0,"
    "\"closes_at\":0}";

struct yard_conn {
	int		 fd;
	unsigned char	 head[YARD_BEGIN];
	size_t		 hlen;		/* bytes of head held */
	size_t		 want;		/* bytes of head wanted */
	size_t		 skip;		/* body bytes still to skip */
	int		 keep;
	int		 done;		/* not kept: close once answered */
	int		 pollout;	/* EPOLLOUT asked for */
	unsigned char	 out[8192];
	size_t		 olen;
};

static unsigned char	 answer[YARD_HEAD * 4 + sizeof(yard_body)];
static size_t		 answer_len;

/* Write a record header for request id 1 (patched per request). */
static void
put_head(unsigned char *p, int type, size_t len)
{
	p[0] = 1;
	p[1] = type;
	p[2] = 0;
	p[3] = 1;
	p[4] = len >> 8;
	p[5] = len & 0xff;
	p[6] = 0;
	p[7] = 0;
}

static void
build_answer(void)
{
	size_t	 n = sizeof(yard_body) - 1;

	put_head(answer, FCGI_STDOUT, n);
	memcpy(answer + YARD_HEAD, yard_body, n);
	put_head(answer + YARD_HEAD + n, FCGI_STDOUT, 0);
	put_head(answer + 2 * YARD_HEAD + n, FCGI_END_REQUEST, 8);
	memset(answer + 3 * YARD_HEAD + n, 0, 8);
	answer_len = 4 * YARD_HEAD + n;
}

/* Queue the answer for the request of this header; returns -1 if full. */
static int
queue_answer(struct yard_conn *c)
{
	unsigned char	*p = c->out + c->olen;
	size_t		 n = sizeof(yard_body) - 1;

	if (c->olen + answer_len > sizeof(c->out))
		return -1;
	memcpy(p, answer, answer_len);
	p[2] = p[YARD_HEAD + n + 2] = p[2 * YARD_HEAD + n + 2] = c->head[2];
	p[3] = p[YARD_HEAD + n + 3] = p[2 * YARD_HEAD + n + 3] = c->head[3];
	c->olen += answer_len;
	if (!c->keep)
		c->done = 1;
	return 0;
}

/* A whole header (and BEGIN_REQUEST's body) is in: act on it. */
static int
on_head(struct yard_conn *c)
{
	size_t	 len = (size_t)c->head[4] << 8 | c->head[5];
	size_t	 pad = c->head[6];

	if (c->head[1] == FCGI_BEGIN_REQUEST && c->want == YARD_HEAD &&
	    len >= 8) {
		c->want = YARD_BEGIN;
		return 0;
	}
	if (c->want == YARD_BEGIN) {
		c->keep = c->head[YARD_HEAD + 2] & FCGI_KEEP_CONN;
		len -= 8;
	} else if (c->head[1] == FCGI_STDIN && len == 0 &&
	    queue_answer(c) == -1)
		return -1;
	c->skip = len + pad;
	c->hlen = 0;
	c->want = YARD_HEAD;
	return 0;
}

/* Feed received bytes through the record parser; -1 on overflow. */
static int
feed(struct yard_conn *c, const unsigned char *p, size_t n)
{
	size_t	 k;

	while (n > 0) {
		if (c->skip > 0) {
			k = c->skip < n ? c->skip : n;
			c->skip -= k;
		} else {
			k = c->want - c->hlen < n ? c->want - c->hlen : n;
			memcpy(c->head + c->hlen, p, k);
			c->hlen += k;
			if (c->hlen == c->want && on_head(c) == -1)
				return -1;
		}
		p += k;
		n -= k;
	}
	return 0;
}

/* Send what is queued; returns -1 when the connection is to be closed. */
static int
flush_out(int ep, struct yard_conn *c)
{
	struct epoll_event	 ev = { .data.ptr = c };
	ssize_t			 n;

	n = send(c->fd, c->out, c->olen, MSG_NOSIGNAL);
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		return -1;
	if (n > 0) {
		memmove(c->out, c->out + n, c->olen - (size_t)n);
		c->olen -= (size_t)n;
	}
	if (c->olen == 0 && c->done)
		return -1;
	if (c->pollout == (c->olen > 0))
		return 0;
	c->pollout = c->olen > 0;
	ev.events = c->pollout ? EPOLLIN | EPOLLOUT : EPOLLIN;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
on_event(int ep, struct yard_conn *c, unsigned int events)
{
	unsigned char	 buf[16384];
	ssize_t		 n;

	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR) ||
		    (n > 0 && feed(c, buf, (size_t)n) == -1))
			goto fail;
	}
	if ((c->olen > 0 || c->pollout) && flush_out(ep, c) == -1)
		goto fail;
	return;
fail:
	close(c->fd);
	free(c);
}

static void
on_accept(int ep)
{
	struct epoll_event	 ev = { .events = EPOLLIN };
	struct yard_conn	*c;
	int			 fd;

	while ((fd = accept4(0, NULL, NULL, SOCK_NONBLOCK)) != -1) {
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->want = YARD_HEAD;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
			close(fd);
			free(c);
		}
	}
}

int
main(void)
{
	struct epoll_event	 ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct epoll_event	 evs[YARD_EVENTS];
	int			 ep, i, n;

	build_answer();
	if (fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK) == -1 ||
	    (ep = epoll_create1(0)) == -1 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) == -1)
		return 1;
	for (;;) {
		n = epoll_wait(ep, evs, YARD_EVENTS, -1);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL)
				on_accept(ep);
			else
				on_event(ep, evs[i].data.ptr, evs[i].events);
		}
	}
}
