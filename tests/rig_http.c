/*
 * The rig's sockets and HTTP/1.1 client: free loopback ports, raw
 * connections, and keep-alive requests with their answers parsed.
 * See rig.h.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "rig_private.h"

#define IO_TIMEOUT_MS		budget_ms(20000)
#define PORT_MIN		10000	/* ports the rig picks start here */

/* ---- sockets ----------------------------------------------------------- */

static void
loopback(struct sockaddr_in *sin, int port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* The lowest port the kernel picks for connect(2); 32768 if unknown. */
static int
ephemeral_low(void)
{
	FILE	*f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	int	 low = 32768;

	if (f != NULL) {
		if (fscanf(f, "%d", &low) != 1)
			low = 32768;
		fclose(f);
	}
	return low;
}

/*
 * Claim port for this process against the other test processes on the
 * machine: an abstract Unix socket named after it, which the kernel
 * frees when the process ends.  Between two starts of an instance (a
 * kill, a restart) its port is free, and another test running at the
 * same time would otherwise pick it and take it.
 */
static bool
claim_port(int port)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;
	int			 fd, n;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
	    "spike-fcgi-test-port-%d", port);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	if (bind(fd, (struct sockaddr *)&sun, len) == 0)
		return true;	/* held, on purpose, until the process ends */
	close(fd);
	return false;
}

/*
 * A free loopback port below the kernel's ephemeral range, tried at
 * random, bound and closed, and claimed (claim_port).  A port from
 * bind(0) is in that range: once closed, any connection on the machine
 * (a load test makes thousands a second) may take it as its source port
 * before the part meant to listen there binds it, and spawn-fcgi then
 * fails with EADDRINUSE.
 */
int
rig_free_port(void)
{
	static atomic_uint	 seq;
	struct sockaddr_in	 sin;
	unsigned int		 pick;
	int			 fd, tries, port = -1, low = ephemeral_low();

	if (low < PORT_MIN + 1000)
		low = 65536;	/* no room below: above is all there is */
	for (tries = 0; tries < 100 && port == -1; tries++) {
		pick = ((unsigned int)getpid() * 2654435761u) ^
		    (atomic_fetch_add(&seq, 1) * 40503u) ^
		    (unsigned int)(unsigned long long)(rig_now_ms() * 1000);
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return -1;
		loopback(&sin, PORT_MIN + (int)(pick % (unsigned int)
		    (low - PORT_MIN)));
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    claim_port(ntohs(sin.sin_port)))
			port = ntohs(sin.sin_port);
		close(fd);
	}
	if (port == -1)
		errno = EADDRINUSE;
	return port;
}

/* Bound every send and recv on fd; no Nagle delay for small requests. */
static void
set_timeouts(int fd, unsigned int ms)
{
	struct timeval	 tv = { ms / 1000, (long)(ms % 1000) * 1000 };
	int		 one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Connect to 127.0.0.1:port; returns the fd or -1 (errno set). */
int
rig_tcp_connect(int port, unsigned int io_timeout_ms)
{
	return rig_tcp_connect_from(NULL, port, io_timeout_ms);
}

/*
 * The same from the IPv4 address source (e.g. "127.0.0.2", any loopback
 * address: a second client as nginx sees it), bound before connect(2);
 * NULL: the kernel's choice.
 */
int
rig_tcp_connect_from(const char *source, int port, unsigned int io_timeout_ms)
{
	return rig_tcp_connect_to(source, NULL, port, io_timeout_ms);
}

/*
 * Connect to the IPv4 address addr (NULL: 127.0.0.1), e.g. a test host's,
 * from source as rig_tcp_connect_from does.
 */
int
rig_tcp_connect_to(const char *source, const char *addr, int port,
    unsigned int io_timeout_ms)
{
	struct sockaddr_in sin, src;
	int		 fd, saved;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	set_timeouts(fd, io_timeout_ms);
	loopback(&sin, port);
	if (addr != NULL && inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (source != NULL) {
		loopback(&src, 0);
		if (inet_pton(AF_INET, source, &src.sin_addr) != 1) {
			close(fd);
			errno = EINVAL;
			return -1;
		}
	}
	if ((source != NULL && bind(fd, (struct sockaddr *)&src,
	    sizeof(src)) == -1) ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Send all of data; MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE. */
bool
rig_send_all(int fd, const void *data, size_t len)
{
	const char	*p = data;
	ssize_t		 n;

	while (len > 0) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* ---- HTTP client ------------------------------------------------------- */

void
rig_http_init(struct rig_http *h, int port)
{
	h->addr = NULL;
	h->port = port;
	h->source = NULL;
	h->fcgi = false;
	h->fd = -1;
	h->inlen = 0;
}

/* A connection to the rig's nginx, wherever it runs. */
void
rig_http_nginx(struct rig_http *h, const struct rig *r)
{
	rig_http_init(h, r->http_port);
	h->addr = r->nginx_master.host != NULL ? r->nginx_master.host->addr :
	    NULL;
}

/* Connect from source (an IPv4 address) from the next request on. */
void
rig_http_from(struct rig_http *h, const char *source)
{
	rig_http_close(h);
	h->source = source;
}

void
rig_http_close(struct rig_http *h)
{
	if (h->fd != -1)
		close(h->fd);
	h->fd = -1;
	h->inlen = 0;
}

/* Read more bytes into h->in; false on EOF, error or a full buffer. */
static bool
http_fill(struct rig_http *h)
{
	ssize_t	 n;

	if (h->inlen >= sizeof(h->in))
		return false;
	do
		n = recv(h->fd, h->in + h->inlen, sizeof(h->in) - h->inlen, 0);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return false;
	h->inlen += (size_t)n;
	return true;
}

static void
http_consume(struct rig_http *h, size_t n)
{
	memmove(h->in, h->in + n, h->inlen - n);
	h->inlen -= n;
}

/* Move n body bytes from the connection into rep->body (truncating). */
static bool
http_take(struct rig_http *h, size_t n, struct rig_reply *rep)
{
	while (n > 0) {
		size_t	 k, room;

		if (h->inlen == 0 && !http_fill(h))
			return false;
		k = h->inlen < n ? h->inlen : n;
		room = sizeof(rep->body) - 1 - rep->body_len;
		memcpy(rep->body + rep->body_len, h->in, k < room ? k : room);
		rep->body_len += k < room ? k : room;
		http_consume(h, k);
		n -= k;
	}
	rep->body[rep->body_len] = '\0';
	return true;
}

/* Take one CRLF-terminated line off the connection into buf. */
static bool
http_line(struct rig_http *h, char *buf, size_t bufsz)
{
	char	*eol;
	size_t	 len;

	while ((eol = memchr(h->in, '\n', h->inlen)) == NULL)
		if (!http_fill(h))
			return false;
	len = (size_t)(eol - h->in) + 1;
	snprintf(buf, bufsz, "%.*s", (int)(len > 1 && eol[-1] == '\r' ?
	    len - 2 : len - 1), h->in);
	http_consume(h, len);
	return true;
}

/* Decode a chunked body (RFC 9112 section 7.1). */
static bool
http_chunked(struct rig_http *h, struct rig_reply *rep)
{
	char	 line[256];
	long	 size;

	for (;;) {
		if (!http_line(h, line, sizeof(line)))
			return false;
		size = strtol(line, NULL, 16);
		if (size < 0)
			return false;
		if (size == 0)
			break;
		if (!http_take(h, (size_t)size, rep) ||
		    !http_line(h, line, sizeof(line)))
			return false;
	}
	do
		if (!http_line(h, line, sizeof(line)))
			return false;
	while (line[0] != '\0');
	return true;
}

/* Note one header of interest; sets *close for "Connection: close". */
static void
http_header(char *line, struct rig_reply *rep, bool *close_after)
{
	char	*v = strchr(line, ':');

	if (v == NULL)
		return;
	*v++ = '\0';
	while (*v == ' ' || *v == '\t')
		v++;
	if (strcasecmp(line, "Content-Length") == 0)
		rep->content_length = atol(v);
	else if (strcasecmp(line, "Transfer-Encoding") == 0)
		rep->chunked = strcasestr(v, "chunked") != NULL;
	else if (strcasecmp(line, "Retry-After") == 0)
		rep->retry_after = atoi(v);
	else if (strcasecmp(line, "Content-Type") == 0)
		snprintf(rep->content_type, sizeof(rep->content_type), "%s", v);
	else if (strcasecmp(line, "Allow") == 0)
		snprintf(rep->allow, sizeof(rep->allow), "%s", v);
	else if (strcasecmp(line, "Connection") == 0)
		*close_after = strcasestr(v, "close") != NULL;
}

/* The integer after "code": in a JSON body, or RIG_CODE_NONE. */
int
rig_json_code(const char *body)
{
	const char	*p = strstr(body, "\"code\"");
	char		*end;
	long		 v;

	if (p == NULL)
		return RIG_CODE_NONE;
	p += 6;
	while (isspace((unsigned char)*p))
		p++;
	if (*p++ != ':')
		return RIG_CODE_NONE;
	v = strtol(p, &end, 10);
	return end == p ? RIG_CODE_NONE : (int)v;
}

/* Read status line, headers and body of one answer. */
static bool
http_read(struct rig_http *h, const char *method, struct rig_reply *rep,
    bool *close_after)
{
	char	 line[1024];

	if (!http_line(h, line, sizeof(line)) ||
	    sscanf(line, "HTTP/1.%*d %d", &rep->status) != 1)
		return false;
	while (http_line(h, line, sizeof(line)) && line[0] != '\0')
		http_header(line, rep, close_after);
	if (line[0] != '\0')
		return false;
	if (strcmp(method, "HEAD") == 0 || rep->status == 204 ||
	    rep->status == 304)
		return true;
	if (rep->chunked)
		return http_chunked(h, rep);
	if (rep->content_length >= 0)
		return http_take(h, (size_t)rep->content_length, rep);
	*close_after = true;
	while (http_fill(h) || h->inlen > 0)
		if (!http_take(h, h->inlen, rep))
			break;
	return true;
}

/* Empty an answer: no status, no code, headers absent. */
static void
reply_reset(struct rig_reply *rep)
{
	rep->status = 0;
	rep->code = RIG_CODE_NONE;
	rep->content_length = -1;
	rep->retry_after = -1;
	rep->chunked = false;
	rep->content_type[0] = rep->allow[0] = rep->body[0] = '\0';
	rep->body_len = 0;
	rep->ms = 0;
}

/*
 * Send one request on the keep-alive connection (connecting if needed)
 * and read its answer into *rep.  On failure the connection is closed and
 * err says why.
 */
bool
rig_http_request(struct rig_http *h, const char *method, const char *target,
    const char *content_type, const char *body, size_t body_len,
    struct rig_reply *rep, char *err, size_t errsz)
{
	char	 head[1024];
	int	 n;
	bool	 close_after = false;
	double	 t0 = rig_now_ms();

	reply_reset(rep);
	if (h->fcgi) {
		if (!rig_fcgi_request(h, method, target, rep, err, errsz))
			return false;
		rep->ms = rig_now_ms() - t0;
		rep->code = rig_json_code(rep->body);
		return true;
	}
	errno = 0;
	if (h->fd == -1 && (h->fd = rig_tcp_connect_to(h->source, h->addr,
	    h->port, IO_TIMEOUT_MS)) == -1) {
		snprintf(err, errsz, "connect %s:%d from %s: %s",
		    h->addr ? h->addr : "127.0.0.1", h->port,
		    h->source ? h->source : "any", strerror(errno));
		return false;
	}
	n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: 127.0.0.1"
	    "\r\n%s%s%s", method, target, content_type ? "Content-Type: " : "",
	    content_type ? content_type : "", content_type ? "\r\n" : "");
	if (body != NULL || strcmp(method, "POST") == 0)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
		    "Content-Length: %zu\r\n", body ? body_len : 0);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
	if (!rig_send_all(h->fd, head, (size_t)n) ||
	    (body != NULL && !rig_send_all(h->fd, body, body_len)) ||
	    !http_read(h, method, rep, &close_after)) {
		snprintf(err, errsz, "%s %.80s: %s", method, target,
		    errno ? strerror(errno) : "bad or truncated answer");
		rig_http_close(h);
		return false;
	}
	rep->ms = rig_now_ms() - t0;
	rep->code = rig_json_code(rep->body);
	if (close_after)
		rig_http_close(h);
	return true;
}

/* One GET through nginx on a fresh connection. */
bool
rig_get(struct rig *r, const char *target, struct rig_reply *rep)
{
	struct rig_http	 h;
	bool		 ok;

	rig_http_nginx(&h, r);
	ok = rig_http_request(&h, "GET", target, NULL, NULL, 0, rep, r->err,
	    sizeof(r->err));
	rig_http_close(&h);
	return ok;
}

/* Connect to 127.0.0.1:port, send the bytes and close at once. */
bool
rig_send_raw(struct rig *r, int port, const void *data, size_t len)
{
	int	 fd;

	if ((fd = rig_tcp_connect(port, RIG_STOP_TIMEOUT_MS)) == -1)
		return rig_fail(r, "connect 127.0.0.1:%d: %s", port,
		    strerror(errno));
	if (!rig_send_all(fd, data, len) && errno != ECONNRESET &&
	    errno != EPIPE) {
		close(fd);
		return rig_fail(r, "send to 127.0.0.1:%d: %s", port,
		    strerror(errno));
	}
	close(fd);
	return true;
}
