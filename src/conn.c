/*
 * FastCGI connections at the level of the socket, for the event loop
 * (loop.c): accepting one, peeking at what has come of its next request
 * so that fcgi_scan_request() can find it whole and safe before libfcgi
 * reads it, answering without libfcgi (431), and throwing away what a
 * peer sends after its answer.  Nothing here waits: every socket is
 * non-blocking.
 *
 * The bytes are only peeked (MSG_PEEK), so libfcgi reads them as if
 * nobody had looked.  A request from nginx comes in one write, so the
 * first peek usually sees all of it.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fastcgi.h>

#include "spike.h"

#define CONN_ADDRS_MAX		64
#define ANSWER_MAX		1024

/* FCGI_WEB_SERVER_ADDRS, as libfcgi's own accept honours it. */
static in_addr_t	allowed_addrs[CONN_ADDRS_MAX];
static size_t		nallowed_addrs;

/*
 * Read FCGI_WEB_SERVER_ADDRS, a comma-separated list of IPv4 addresses
 * that alone may connect over TCP.  Returns false, with the bad entry in
 * err, when the list cannot be used.
 */
bool
conn_init(char *err, size_t errsz)
{
	const char	*list = getenv("FCGI_WEB_SERVER_ADDRS");
	char		 copy[1024], *entry, *next;
	struct in_addr	 a;

	nallowed_addrs = 0;
	if (list == NULL || *list == '\0')
		return true;
	if (strlen(list) >= sizeof(copy)) {
		snprintf(err, errsz, "FCGI_WEB_SERVER_ADDRS is too long");
		return false;
	}
	strcpy(copy, list);
	for (entry = copy; entry != NULL; entry = next) {
		if ((next = strchr(entry, ',')) != NULL)
			*next++ = '\0';
		if (inet_pton(AF_INET, entry, &a) != 1 ||
		    nallowed_addrs == CONN_ADDRS_MAX) {
			snprintf(err, errsz, "FCGI_WEB_SERVER_ADDRS: %.64s: "
			    "not an IPv4 address, or past the %d allowed",
			    entry, CONN_ADDRS_MAX);
			return false;
		}
		allowed_addrs[nallowed_addrs++] = a.s_addr;
	}
	return true;
}

static bool
peer_allowed(const struct sockaddr_in *sin)
{
	size_t	 i;

	if (nallowed_addrs == 0)
		return true;
	for (i = 0; i < nallowed_addrs; i++)
		if (allowed_addrs[i] == sin->sin_addr.s_addr)
			return true;
	return false;
}

/*
 * Bound every blocking write on fd (the large answers, serve.c) by
 * idle_ms.  A Unix socket does not inherit this from the listening
 * socket, so each accepted one is set.
 */
static void
set_io_timeouts(int fd, unsigned int idle_ms)
{
	struct timeval	 tv;

	tv.tv_sec = idle_ms / 1000;
	tv.tv_usec = (suseconds_t)(idle_ms % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/*
 * Accept a connection on listen_fd.  Returns its descriptor, or -1 with
 * errno set (EINTR when a signal came; ECONNREFUSED for a peer not in
 * FCGI_WEB_SERVER_ADDRS, whose connection is closed).
 */
int
conn_accept(int listen_fd, const struct conn_limits *lim)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	int			 fd, on = 1;

	if ((fd = accept4(listen_fd, (struct sockaddr *)&ss, &len,
	    SOCK_CLOEXEC | SOCK_NONBLOCK)) == -1)
		return -1;
	set_io_timeouts(fd, lim->idle_ms);
	if (ss.ss_family != AF_INET)
		return fd;
	/* An answer is never followed by more data to wait for. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (!peer_allowed((const struct sockaddr_in *)&ss)) {
		close(fd);
		errno = ECONNREFUSED;
		return -1;
	}
	return fd;
}

/* The peer of fd as "ADDRESS:PORT", or what else it is, for the log. */
void
conn_peer_name(int fd, char *buf, size_t bufsz)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	socklen_t		 len = sizeof(ss);
	char			 addr[INET_ADDRSTRLEN];

	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		snprintf(buf, bufsz, "a peer gone");
	else if (ss.ss_family != AF_INET)
		snprintf(buf, bufsz, "a local socket");
	else if (inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr)))
		snprintf(buf, bufsz, "%s:%u", addr, ntohs(sin->sin_port));
	else
		snprintf(buf, bufsz, "an IPv4 peer");
}

/*
 * Peek at what has come of the next request on fd (FCGI_SCAN_WINDOW
 * bytes at most) without waiting.  Returns the bytes seen, 0 when the
 * peer has closed, -1 with errno set (EAGAIN: nothing yet).
 */
ssize_t
conn_peek(int fd, unsigned char *buf)
{
	return recv(fd, buf, FCGI_SCAN_WINDOW, MSG_PEEK | MSG_DONTWAIT);
}

static void
put_header(unsigned char *h, int type, unsigned int id, size_t clen)
{
	h[0] = FCGI_VERSION_1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)clen;
	h[6] = 0;
	h[7] = 0;
}

/*
 * Answer request id with the CGI response in resp (1 to ANSWER_MAX
 * bytes) without libfcgi: STDOUT, its end, and END_REQUEST (sections
 * 5.3, 5.5).  Returns false if the peer could not take it.
 */
bool
conn_answer(int fd, unsigned int id, const char *resp, size_t len)
{
	unsigned char	 out[ANSWER_MAX + 4 * FCGI_HEADER_LEN], *p = out;
	size_t		 left;
	ssize_t		 n;

	if (len == 0 || len > ANSWER_MAX)
		return false;
	put_header(p, FCGI_STDOUT, id, len);
	memcpy(p += FCGI_HEADER_LEN, resp, len);
	put_header(p += len, FCGI_STDOUT, id, 0);
	put_header(p += FCGI_HEADER_LEN, FCGI_END_REQUEST, id,
	    sizeof(FCGI_EndRequestBody));
	memset(p += FCGI_HEADER_LEN, 0, FCGI_HEADER_LEN);	/* complete */
	left = (size_t)(p + FCGI_HEADER_LEN - out);
	for (p = out; left > 0; ) {
		n = send(fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		left -= (size_t)n;
	}
	return true;
}

/*
 * Read and throw away what the peer has sent on fd, at most max bytes,
 * without waiting.  Returns the bytes thrown away, or -1 once the peer
 * has closed its side or the connection failed.
 */
ssize_t
conn_discard(int fd, size_t max)
{
	char	 trash[16384];
	size_t	 drained = 0;
	ssize_t	 n;

	while (drained < max) {
		n = recv(fd, trash, sizeof(trash), MSG_DONTWAIT);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			return -1;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n > 0)
			drained += (size_t)n;
	}
	return (ssize_t)drained;
}
