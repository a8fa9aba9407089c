/*
 * libFuzzer target: fcgi_scan.c against the real libfcgi.  The input is
 * the bytes of one FastCGI connection, at most FCGI_SCAN_WINDOW of them.
 * Whenever fcgi_scan_request() says READY, libfcgi is given the bytes
 * up to the scan's end on a socket: FCGX_Accept_r must return 0 without
 * aborting, with one parameter more (FCGI_ROLE) than the scan counted,
 * and the body is then read as serve.c reads it (QUERY_BODY_MAX + 1
 * bytes at most) without running out of bytes: libfcgi needs nothing
 * the scan has not seen.  A prefix of the input must scan as MORE, or as
 * the whole.
 *
 * The socket is a socketpair whose far end is written at once and shut
 * for writing, so libfcgi never waits for bytes that are not there; a
 * thread drains what libfcgi writes back (GET_VALUES_RESULT,
 * UNKNOWN_TYPE).  The listening socket is -1: when libfcgi rejects the
 * stream it cannot accept another connection and fails instead.
 */
#include "config.h"

#include <sys/socket.h>

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "spike.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_fcgi: %s:%d: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define SOCKET_BUF	(1024 * 1024)

static const char *
verdict_name(enum fcgi_scan_verdict v)
{
	switch (v) {
	case FCGI_SCAN_MORE:
		return "MORE";
	case FCGI_SCAN_READY:
		return "READY";
	case FCGI_SCAN_BAD:
		return "BAD";
	case FCGI_SCAN_TOO_LARGE:
		return "TOO_LARGE";
	}
	return "?";
}

/* A prefix of n bytes scans as MORE (needing more than n) or as all. */
static void
check_prefix(const uint8_t *data, size_t n, size_t size,
    const struct fcgi_scan *all)
{
	struct fcgi_scan	 part;

	fcgi_scan_request(data, n, QUERY_BODY_MAX, &part);
	if (part.verdict == FCGI_SCAN_MORE) {
		FUZZ_ASSERT(part.need > n);
		FUZZ_ASSERT(all->verdict != FCGI_SCAN_MORE ||
		    part.need <= all->need);
		FUZZ_ASSERT(all->verdict == FCGI_SCAN_MORE ||
		    part.need <= size);
		return;
	}
	if (part.verdict != all->verdict)
		fprintf(stderr, "fuzz_fcgi: prefix %zu of %zu: %s, all: %s\n",
		    n, size, verdict_name(part.verdict),
		    verdict_name(all->verdict));
	FUZZ_ASSERT(part.verdict == all->verdict);
	FUZZ_ASSERT(part.request_id == all->request_id);
}

/* Reads and drops everything libfcgi writes, until it closes. */
static void *
drain(void *arg)
{
	char	 buf[4096];
	int	 fd = *(int *)arg;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static void
write_all(int fd, const uint8_t *data, size_t size)
{
	ssize_t	 n;

	while (size > 0) {
		n = write(fd, data, size);
		FUZZ_ASSERT(n > 0);
		data += n;
		size -= (size_t)n;
	}
}

static void
socket_pair(int sv[2])
{
	int	 sz = SOCKET_BUF;

	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

/* libfcgi reads the bytes the scan found READY: it must accept them. */
static void
run_libfcgi(const uint8_t *data, const struct fcgi_scan *scan)
{
	size_t		 size = scan->end;
	static char	 body[QUERY_BODY_MAX + 1];
	FCGX_Request	 req;
	pthread_t	 drainer;
	size_t		 n;
	int		 sv[2], rc;

	socket_pair(sv);
	write_all(sv[1], data, size);
	FUZZ_ASSERT(shutdown(sv[1], SHUT_WR) == 0);
	FUZZ_ASSERT(pthread_create(&drainer, NULL, drain, &sv[1]) == 0);

	FUZZ_ASSERT(FCGX_InitRequest(&req, -1, 0) == 0);
	req.ipcFd = sv[0];
	req.keepConnection = 1;		/* or Accept_r closes it first */
	req.detached = 1;		/* close without lingering */
	rc = FCGX_Accept_r(&req);
	if (rc != 0)
		fprintf(stderr, "fuzz_fcgi: READY but FCGX_Accept_r: %d\n",
		    rc);
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(FCGX_GetParam("FCGI_ROLE", req.envp) != NULL);
	/* libfcgi is not instrumented: this loop's count tells inputs apart. */
	for (n = 0; req.envp[n] != NULL; n++)
		;
	FUZZ_ASSERT(n == scan->params + 1);
	(void)FCGX_GetStr(body, (int)sizeof(body), req.in);
	FUZZ_ASSERT(FCGX_GetError(req.in) == 0);
	FCGX_Free(&req, 1);

	FUZZ_ASSERT(pthread_join(drainer, NULL) == 0);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool		 ready;
	struct fcgi_scan	 all;
	size_t			 i;

	if (!ready) {
		(void)setenv("LIBFCGI_OS_CLOSE_POLL_TIMEOUT", "0", 1);
		(void)signal(SIGPIPE, SIG_IGN);
		FUZZ_ASSERT(FCGX_Init() == 0);
		ready = true;
	}
	if (size > FCGI_SCAN_WINDOW)
		size = FCGI_SCAN_WINDOW;
	fcgi_scan_request(data, size, QUERY_BODY_MAX, &all);
	FUZZ_ASSERT(all.verdict != FCGI_SCAN_MORE || all.need > size);
	FUZZ_ASSERT(all.verdict == FCGI_SCAN_MORE || all.verdict ==
	    FCGI_SCAN_READY || all.why != NULL);
	for (i = 0; i < 4 && size > 0; i++)
		check_prefix(data, size * i / 4, size, &all);
	check_prefix(data, size - (size > 0), size, &all);
	if (all.verdict == FCGI_SCAN_READY) {
		FUZZ_ASSERT(all.end > 0 && all.end <= size);
		run_libfcgi(data, &all);
	}
	return 0;
}
