/*
 * FastCGI connections before libfcgi sees them: accepting one, and
 * waiting until the next request on it has arrived whole and
 * fcgi_scan_request() has found it safe.
 *
 * The bytes are only peeked (MSG_PEEK), so libfcgi reads them as if
 * nobody had looked.  A request from nginx comes in one write, so the
 * first peek usually sees all of it: one more system call per request.
 * Waiting for the rest of a request that comes in pieces is bounded
 * twice: by idle_ms of silence and by request_ms in all.  A peer that
 * takes no part of an answer for idle_ms fails the write.
 *
 * Closing a TCP connection with bytes unread resets it, and a reset can
 * reach the peer before it has read the answer.  So the instance never
 * closes while a peer may still be sending what it owes: after an
 * answer given before the request had all come (413, 431, or 400 from
 * CONTENT_LENGTH) it reads the rest and throws it away, as HTTP servers
 * do, within bounds.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fastcgi.h>

#include "spike.h"

#define CONN_ADDRS_MAX		64
#define LINGER_MAX		(256 * 1024)
/* Twice nginx's default client_max_body_size: the most drained. */
#define DRAIN_MAX		(2 * 1024 * 1024)
#define TRICKLE_PAUSE_MS	1	/* first pause for a Unix socket, */
#define TRICKLE_PAUSE_MAX_MS	16	/* doubled up to this */
#define ANSWER_MAX		1024

/* How waiting for more of a request ended. */
enum wait_end {
	WAIT_CAME,
	WAIT_TIMED_OUT,
	WAIT_PEER_LEFT,
	WAIT_STOPPED,
};

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
 * Bound every blocking read and write on fd by idle_ms.  A Unix socket
 * does not inherit these from the listening socket, so each accepted
 * one is set.
 */
static void
set_io_timeouts(int fd, unsigned int idle_ms)
{
	struct timeval	 tv;

	tv.tv_sec = idle_ms / 1000;
	tv.tv_usec = (suseconds_t)(idle_ms % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
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
	    SOCK_CLOEXEC)) == -1)
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

/* How many bytes wait unread on fd; -1 on error. */
static ssize_t
bytes_waiting(int fd)
{
	int	 n;

	return ioctl(fd, FIONREAD, &n) == -1 ? -1 : n;
}

/*
 * Wait until at least want bytes (of which have_now came already) wait
 * on fd, as long as the peer sends something new every idle_ms,
 * request_deadline has not passed and the instance is not stopping.
 * SO_RCVLOWAT makes poll(2) on a TCP socket wake only then; a Unix
 * socket ignores it, so a peer that sends in small pieces is looked at
 * after pauses of 1, 2, 4 ... 16 ms.
 */
static enum wait_end
wait_for_bytes(int fd, size_t have_now, size_t want,
    const struct conn_limits *lim, long long request_deadline)
{
	struct pollfd	 pfd = { fd, POLLIN | POLLRDHUP, 0 };
	long long	 quiet_since = now_ms(), left;
	ssize_t		 have = (ssize_t)have_now, had;
	int		 lowat = (int)want, one = 1;
	int		 pause_ms = TRICKLE_PAUSE_MS;
	enum wait_end	 end = WAIT_TIMED_OUT;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
	for (;;) {
		if (atomic_load(lim->stopping)) {
			end = WAIT_STOPPED;
			break;
		}
		left = quiet_since + lim->idle_ms;
		if (left > request_deadline)
			left = request_deadline;
		if ((left -= now_ms()) <= 0)
			break;
		if (poll(&pfd, 1, (int)left) == -1) {
			if (errno != EINTR)
				break;
			continue;
		}
		had = have;
		if ((have = bytes_waiting(fd)) < 0)
			break;
		if ((size_t)have >= want) {
			end = WAIT_CAME;
			break;
		}
		if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) {
			end = WAIT_PEER_LEFT;
			break;
		}
		if (have > had)
			quiet_since = now_ms();
		if (pfd.revents & POLLIN) {
			poll(NULL, 0, pause_ms);
			if (pause_ms < TRICKLE_PAUSE_MAX_MS)
				pause_ms *= 2;
		}
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	return end;
}

/*
 * Wait for the first byte of the next request: blocks for as long as
 * the socket's receive timeout, idle_ms (set_io_timeouts).  Returns the
 * bytes peeked into buf, 0 when the peer closed or stayed idle, -1 on
 * EINTR.
 */
static ssize_t
peek_first(int fd, unsigned char *buf)
{
	ssize_t	 n;

	n = recv(fd, buf, FCGI_SCAN_WINDOW, MSG_PEEK);
	if (n == -1 && errno == EINTR)
		return -1;
	return n > 0 ? n : 0;
}

/*
 * Wait until the next request on fd has arrived and scan it, peeking
 * into buf (FCGI_SCAN_WINDOW bytes).  scan says what was found; *deadline
 * is when the request's time (request_ms from its first byte) runs out.
 */
enum conn_next
conn_await_request(int fd, unsigned char *buf, const struct conn_limits *lim,
    struct fcgi_scan *scan, long long *deadline)
{
	ssize_t		 n;

	if ((n = peek_first(fd, buf)) <= 0)
		return n < 0 ? CONN_INTERRUPTED : CONN_GONE;
	*deadline = now_ms() + lim->request_ms;
	for (;;) {
		fcgi_scan_request(buf, (size_t)n, QUERY_BODY_MAX, scan);
		switch (scan->verdict) {
		case FCGI_SCAN_READY:
			return CONN_REQUEST;
		case FCGI_SCAN_TOO_LARGE:
			return CONN_TOO_LARGE;
		case FCGI_SCAN_BAD:
			return CONN_REFUSED;
		case FCGI_SCAN_MORE:
			break;
		}
		switch (wait_for_bytes(fd, (size_t)n, scan->need, lim,
		    *deadline)) {
		case WAIT_CAME:
			break;
		case WAIT_TIMED_OUT:
			scan->why = "request did not come in time";
			return CONN_REFUSED;
		case WAIT_PEER_LEFT:
			return CONN_GONE;
		case WAIT_STOPPED:
			return CONN_INTERRUPTED;
		}
		if ((n = recv(fd, buf, FCGI_SCAN_WINDOW, MSG_PEEK |
		    MSG_DONTWAIT)) <= 0)
			return CONN_GONE;
	}
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
		n = send(fd, p, left, MSG_NOSIGNAL);
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
 * Stop sending on fd, then read and throw away what the peer sends until
 * it closes its side or falls silent for quiet_ms, at most max bytes and
 * until deadline, and no longer once *stopping (when not NULL) is set:
 * it is looked at every CONN_LINGER_MS, since no signal wakes the poll.
 */
static void
discard_input(int fd, long long deadline, unsigned int quiet_ms, size_t max,
    const atomic_bool *stopping)
{
	char		 trash[16384];
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	long long	 quiet_until = now_ms() + quiet_ms, wait;
	size_t		 drained = 0;
	ssize_t		 n;
	int		 ready;

	shutdown(fd, SHUT_WR);
	while (drained < max) {
		if (stopping != NULL && atomic_load(stopping))
			break;
		wait = (deadline < quiet_until ? deadline : quiet_until) -
		    now_ms();
		if (wait <= 0)
			break;
		if (stopping != NULL && wait > CONN_LINGER_MS)
			wait = CONN_LINGER_MS;
		ready = poll(&pfd, 1, (int)wait);
		if (ready == 0 || (ready == -1 && errno == EINTR))
			continue;
		if (ready != 1 || (n = read(fd, trash, sizeof(trash))) <= 0)
			break;
		drained += (size_t)n;
		quiet_until = now_ms() + quiet_ms;
	}
}

/*
 * End fd after the answer to a request that had come whole: what the
 * peer sends now is no part of it.  Linger at most CONN_LINGER_MS, so
 * that closing does not reset the connection before the peer has the
 * answer, yet a peer that never stops sending cannot hold the worker.
 */
void
conn_linger(int fd)
{
	discard_input(fd, now_ms() + CONN_LINGER_MS, CONN_LINGER_MS,
	    LINGER_MAX, NULL);
}

/*
 * End fd after an answer given before the request had all come (its
 * parameters over the limit, or its body refused unread): the peer may
 * still be sending the rest, and must then read the answer whole, not a
 * reset.  Read and throw away until the peer stops: bounded as the
 * request is, by idle_ms of silence and by its deadline (request_ms from
 * its first byte), and by DRAIN_MAX bytes; a peer sending past these is
 * cut off.  The instance stopping cuts it too.
 */
void
conn_drain(int fd, const struct conn_limits *lim, long long deadline)
{
	discard_input(fd, deadline, lim->idle_ms, DRAIN_MAX, lim->stopping);
}
