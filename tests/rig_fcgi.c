/*
 * The rig's FastCGI client: a request straight to one instance, without
 * nginx, on a kept connection (FCGI_KEEP_CONN), with the parameters the
 * snippet passes.  rig_http_request() speaks it on a rig_http made with
 * rig_http_fcgi(), so that a load can hit each instance alone.  The
 * record layout follows the FastCGI specification (sections 3.3, 3.4 and
 * 5.1); the answer's CGI head gives the status ("Status: NNN", else 200).
 * Many such connections may also be driven together by one thread
 * (rig_fcgi_open() and the rest), each answer read as it comes.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fastcgi.h>

#include "rig_private.h"

#define FCGI_IO_MS	budget_ms(10000)

/* Append a record of content (zero-padded to 8 bytes), request id 1. */
static size_t
put_record(uint8_t *buf, size_t off, int type, const void *content,
    size_t clen)
{
	size_t	 plen = (8 - clen % 8) % 8;
	uint8_t	*h = buf + off;

	h[0] = FCGI_VERSION_1;
	h[1] = (uint8_t)type;
	h[2] = 0;
	h[3] = 1;
	h[4] = (uint8_t)(clen >> 8);
	h[5] = (uint8_t)clen;
	h[6] = (uint8_t)plen;
	h[7] = 0;
	off += FCGI_HEADER_LEN;
	if (clen > 0)
		memcpy(buf + off, content, clen);
	memset(buf + off + clen, 0, plen);
	return off + clen + plen;
}

/* Append a length of a name-value pair, in one byte or four. */
static size_t
put_length(uint8_t *buf, size_t off, size_t len)
{
	if (len < 0x80) {
		buf[off++] = (uint8_t)len;
		return off;
	}
	buf[off++] = (uint8_t)(0x80 | len >> 24);
	buf[off++] = (uint8_t)(len >> 16);
	buf[off++] = (uint8_t)(len >> 8);
	buf[off++] = (uint8_t)len;
	return off;
}

/* Append a name-value pair. */
static size_t
put_pair(uint8_t *buf, size_t off, const char *name, const char *value)
{
	size_t	 nlen = strlen(name), vlen = strlen(value);

	off = put_length(buf, off, nlen);
	off = put_length(buf, off, vlen);
	memcpy(buf + off, name, nlen);
	memcpy(buf + off + nlen, value, vlen);
	return off + nlen + vlen;
}

/*
 * GET target as the snippet passes it, with a REQUEST_ID of this
 * connection's own (as nginx's $request_id, unique per request).
 * Returns its length, 0 when it does not fit.
 */
static size_t
build_get(uint8_t *buf, const char *method, const char *target)
{
	static atomic_uint	 seq;
	uint8_t			 params[1024];
	uint8_t			 begin[8] = { 0, FCGI_RESPONDER, FCGI_KEEP_CONN };
	char			 uri[256], id[40];
	const char		*q = strchr(target, '?');
	size_t			 off, p = 0, ulen;

	ulen = q != NULL ? (size_t)(q - target) : strlen(target);
	if (ulen >= sizeof(uri) || strlen(q != NULL ? q + 1 : "") > 512)
		return 0;
	memcpy(uri, target, ulen);
	uri[ulen] = '\0';
	snprintf(id, sizeof(id), "rigfcgi%ld%u", (long)getpid(),
	    atomic_fetch_add(&seq, 1));
	off = put_record(buf, 0, FCGI_BEGIN_REQUEST, begin, sizeof(begin));
	p = put_pair(params, p, "REQUEST_METHOD", method);
	p = put_pair(params, p, "DOCUMENT_URI", uri);
	p = put_pair(params, p, "QUERY_STRING", q != NULL ? q + 1 : "");
	p = put_pair(params, p, "REMOTE_ADDR", "127.0.0.1");
	p = put_pair(params, p, "REQUEST_ID", id);
	off = put_record(buf, off, FCGI_PARAMS, params, p);
	off = put_record(buf, off, FCGI_PARAMS, NULL, 0);
	return put_record(buf, off, FCGI_STDIN, NULL, 0);
}

/* Read exactly len bytes; false on EOF, error or timeout. */
static bool
recv_exact(int fd, uint8_t *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = recv(fd, buf, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return false;
		}
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* Read records up to END_REQUEST; STDOUT's content into out. */
static bool
read_stdout(int fd, char *out, size_t outsz, size_t *outlen)
{
	uint8_t	 h[FCGI_HEADER_LEN], content[65535 + 255];
	size_t	 clen, k;

	*outlen = 0;
	for (;;) {
		if (!recv_exact(fd, h, sizeof(h)))
			return false;
		clen = (size_t)h[4] << 8 | h[5];
		if (!recv_exact(fd, content, clen + h[6]))
			return false;
		if (h[1] == FCGI_END_REQUEST)
			break;
		if (h[1] != FCGI_STDOUT)
			continue;
		k = clen < outsz - 1 - *outlen ? clen : outsz - 1 - *outlen;
		memcpy(out + *outlen, content, k);
		*outlen += k;
	}
	out[*outlen] = '\0';
	return true;
}

/* Status, Content-Type and body of a CGI answer into rep. */
static void
parse_cgi(const char *out, struct rig_reply *rep)
{
	const char	*body = strstr(out, "\r\n\r\n"), *ct;

	rep->status = strncmp(out, "Status: ", 8) == 0 ? atoi(out + 8) : 200;
	if ((ct = strstr(out, "Content-Type: ")) != NULL && (body == NULL ||
	    ct < body))
		snprintf(rep->content_type, sizeof(rep->content_type), "%.*s",
		    (int)strcspn(ct + 14, "\r\n"), ct + 14);
	if (body == NULL)
		return;
	rep->body_len = strlen(body + 4);
	if (rep->body_len >= sizeof(rep->body))
		rep->body_len = sizeof(rep->body) - 1;
	memcpy(rep->body, body + 4, rep->body_len);
	rep->body[rep->body_len] = '\0';
}

/* Speak FastCGI to 127.0.0.1:h->port from the next request on. */
void
rig_http_fcgi(struct rig_http *h, int port)
{
	rig_http_init(h, port);
	h->fcgi = true;
}

/*
 * One request on h's kept FastCGI connection (connecting if needed):
 * rig_http_request() for an instance.  Bodies are not sent.
 */
bool
rig_fcgi_request(struct rig_http *h, const char *method, const char *target,
    struct rig_reply *rep, char *err, size_t errsz)
{
	uint8_t	 req[RIG_FCGI_REQ_MAX];
	char	 out[RIG_BODY_MAX + 1024];
	size_t	 len, outlen;

	if ((len = build_get(req, method, target)) == 0) {
		snprintf(err, errsz, "%.80s: too long for the rig's FastCGI",
		    target);
		return false;
	}
	errno = 0;
	if (h->fd == -1 && (h->fd = rig_tcp_connect_to(h->source, h->addr,
	    h->port, FCGI_IO_MS)) == -1) {
		snprintf(err, errsz, "FastCGI connect :%d: %s", h->port,
		    strerror(errno));
		return false;
	}
	if (!rig_send_all(h->fd, req, len) ||
	    !read_stdout(h->fd, out, sizeof(out), &outlen)) {
		snprintf(err, errsz, "FastCGI %s %.80s on :%d: %s", method,
		    target, h->port, errno ? strerror(errno) : "bad answer");
		rig_http_close(h);
		return false;
	}
	parse_cgi(out, rep);
	return true;
}

/* ---- many connections, one thread --------------------------------------- */

/* A request as rig_fcgi_request() sends it; 0 when it does not fit. */
size_t
rig_fcgi_build(unsigned char buf[RIG_FCGI_REQ_MAX], const char *method,
    const char *target)
{
	return build_get(buf, method, target);
}

/* Connect c to 127.0.0.1:port; false with errno set. */
bool
rig_fcgi_open(struct rig_fcgi_conn *c, int port)
{
	memset(c, 0, sizeof(*c));
	c->rep.code = RIG_CODE_NONE;
	return (c->fd = rig_tcp_connect(port, FCGI_IO_MS)) != -1;
}

void
rig_fcgi_close(struct rig_fcgi_conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

static void
conn_gone(struct rig_fcgi_conn *c)
{
	rig_fcgi_close(c);
	c->gone = true;
	c->gone_ms = rig_now_ms();
}

/*
 * Write data, all of it (a blocking send, bounded by the socket's
 * timeout); an answer is then awaited.  False, c gone, if it failed.
 */
bool
rig_fcgi_write(struct rig_fcgi_conn *c, const void *data, size_t len)
{
	if (c->fd == -1)
		return false;
	if (!rig_send_all(c->fd, data, len)) {
		conn_gone(c);
		return false;
	}
	c->waiting = true;
	c->wrote_ms = rig_now_ms();
	return true;
}

bool
rig_fcgi_send(struct rig_fcgi_conn *c, const char *method, const char *target)
{
	uint8_t	 req[RIG_FCGI_REQ_MAX];
	size_t	 len;

	if ((len = build_get(req, method, target)) == 0) {
		errno = EINVAL;
		return false;
	}
	return rig_fcgi_write(c, req, len);
}

/* A record has all come: END_REQUEST ends the answer (section 5.5). */
static void
record_end(struct rig_fcgi_conn *c)
{
	c->headlen = 0;
	if (c->head[1] != FCGI_END_REQUEST)
		return;
	c->out[c->outlen] = '\0';
	memset(&c->rep, 0, sizeof(c->rep));
	c->rep.content_length = -1;
	c->rep.retry_after = -1;
	parse_cgi(c->out, &c->rep);
	c->rep.code = rig_json_code(c->rep.body);
	c->rep.ms = rig_now_ms() - c->wrote_ms;
	c->outlen = 0;
	c->waiting = false;
	c->answers++;
}

/* Take n bytes of the stream, record by record as they come. */
static void
conn_feed(struct rig_fcgi_conn *c, const uint8_t *p, size_t n)
{
	size_t	 k, room;

	while (n > 0) {
		if (c->headlen < FCGI_HEADER_LEN) {
			k = FCGI_HEADER_LEN - c->headlen < n ?
			    FCGI_HEADER_LEN - c->headlen : n;
			memcpy(c->head + c->headlen, p, k);
			c->headlen += k;
			p += k;
			n -= k;
			if (c->headlen < FCGI_HEADER_LEN)
				break;
			c->content_left = (size_t)c->head[4] << 8 | c->head[5];
			c->padding_left = c->head[6];
		} else if (c->content_left > 0) {
			k = c->content_left < n ? c->content_left : n;
			room = sizeof(c->out) - 1 - c->outlen;
			if (c->head[1] == FCGI_STDOUT) {
				memcpy(c->out + c->outlen, p, k < room ? k :
				    room);
				c->outlen += k < room ? k : room;
			}
			c->content_left -= k;
			p += k;
			n -= k;
		} else {
			k = c->padding_left < n ? c->padding_left : n;
			c->padding_left -= k;
			p += k;
			n -= k;
		}
		if (c->headlen == FCGI_HEADER_LEN && c->content_left == 0 &&
		    c->padding_left == 0)
			record_end(c);
	}
}

/* Read what waits on c; false when the instance closed or reset it. */
static bool
conn_read(struct rig_fcgi_conn *c)
{
	uint8_t	 buf[16384];
	ssize_t	 n;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			conn_feed(c, buf, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		conn_gone(c);
		return false;
	}
}

/* Of c[0..n), how many are open and still wait for an answer. */
static size_t
count_waiting(const struct rig_fcgi_conn *c, size_t n)
{
	size_t	 i, waiting = 0;

	for (i = 0; i < n; i++)
		if (c[i].fd != -1 && c[i].waiting)
			waiting++;
	return waiting;
}

/*
 * Read answers on every open connection of c[0..n) until none waits for
 * one or until_ms (rig_now_ms()) has come; a connection the instance
 * closes is marked gone.  Looks once at least, so an until_ms past
 * reads what has come.  Returns how many still wait.
 */
size_t
rig_fcgi_poll(struct rig_fcgi_conn *c, size_t n, double until_ms)
{
	struct pollfd	*pfd;
	size_t		 i, k, *which;
	double		 left;

	if ((pfd = calloc(n + 1, sizeof(*pfd))) == NULL ||
	    (which = calloc(n + 1, sizeof(*which))) == NULL) {
		free(pfd);
		return count_waiting(c, n);
	}
	do {
		for (i = k = 0; i < n; i++)
			if (c[i].fd != -1) {
				pfd[k].fd = c[i].fd;
				pfd[k].events = POLLIN;
				which[k++] = i;
			}
		left = count_waiting(c, n) > 0 ? until_ms - rig_now_ms() : 0;
		if (poll(pfd, k, left > 0 ? (int)left + 1 : 0) == -1 &&
		    errno != EINTR)
			break;
		for (i = 0; i < k; i++)
			if (pfd[i].revents != 0)
				(void)conn_read(&c[which[i]]);
	} while (count_waiting(c, n) > 0 && rig_now_ms() < until_ms);
	free(which);
	free(pfd);
	return count_waiting(c, n);
}
