/*
 * Unit tests of conn.c on real sockets: a Unix socket in a private
 * directory, TCP on 127.0.0.1 and a socket pair.  How the loop waits
 * for a request, cuts a slow one and drains a refused body is tested on
 * a real instance (check_hostile, check_conns).  Each test runs in its own process
 * (Check's fork mode), so the sockets die with it.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fastcgi.h>

#include "spike.h"
#include "unit.h"

#define IDLE_MS		100
#define REQUEST_MS	300

/* BEGIN_REQUEST, one PARAMS pair, empty PARAMS, empty STDIN (id 1). */
static const unsigned char get_request[] = {
	1, FCGI_BEGIN_REQUEST, 0, 1, 0, 8, 0, 0,
	0, FCGI_RESPONDER, FCGI_KEEP_CONN, 0, 0, 0, 0, 0,
	1, FCGI_PARAMS, 0, 1, 0, 16, 0, 0,
	14, 0, 'R', 'E', 'Q', 'U', 'E', 'S', 'T', '_', 'M', 'E', 'T', 'H',
	'O', 'D',
	1, FCGI_PARAMS, 0, 1, 0, 0, 0, 0,
	1, FCGI_STDIN, 0, 1, 0, 0, 0, 0,
};

static struct conn_limits limits = { IDLE_MS, REQUEST_MS };
static unsigned char	 peeked[FCGI_SCAN_WINDOW];
static char		 dir[64];

/*
 * Listen on lfd, bound to sa, connect *client to it and return the
 * connection conn_accept() takes; lfd is closed.
 */
static int
accept_pair(int lfd, const struct sockaddr *sa, socklen_t salen,
    int *client)
{
	int	 fd;

	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_ne(*client = socket(sa->sa_family, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(connect(*client, sa, salen), 0);
	ck_assert_int_ne(fd = conn_accept(lfd, &limits), -1);
	close(lfd);
	return fd;
}

/*
 * A connection accepted by conn_accept() on a Unix socket; *client gets
 * the other end.
 */
static int
unix_connection(int *client)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	const char		*base = getenv("TMPDIR");
	int			 lfd, fd;

	if (base == NULL || strlen(base) > sizeof(dir) - 32)
		base = "/tmp";		/* sun_path is short */
	snprintf(dir, sizeof(dir), "%s/check_conn.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/sock", dir);
	ck_assert_int_ne(lfd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	fd = accept_pair(lfd, (struct sockaddr *)&sun, sizeof(sun), client);
	unlink(sun.sun_path);
	rmdir(dir);
	return fd;
}

/*
 * A connection accepted by conn_accept() over TCP on 127.0.0.1, where
 * closing with bytes unread sends a reset; *client gets the other end.
 */
static int
tcp_connection(int *client)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 len = sizeof(sin);
	int			 lfd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(lfd = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	return accept_pair(lfd, (struct sockaddr *)&sin, len, client);
}

START_TEST(test_answer_records)
{
	static const char resp[] = "Status: 431 X\r\n\r\n{}";
	unsigned char	 got[256];
	size_t		 rlen = sizeof(resp) - 1, off = 0;
	ssize_t		 n;
	int		 sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert(conn_answer(sv[0], 0x1234, resp, rlen));
	close(sv[0]);
	while ((n = read(sv[1], got + off, sizeof(got) - off)) > 0)
		off += (size_t)n;
	ck_assert_uint_eq(off, 8 + rlen + 8 + 16);
	ck_assert_int_eq(got[0], FCGI_VERSION_1);
	ck_assert_int_eq(got[1], FCGI_STDOUT);
	ck_assert_int_eq(got[2] << 8 | got[3], 0x1234);
	ck_assert_uint_eq((size_t)(got[4] << 8 | got[5]), rlen);
	ck_assert_int_eq(memcmp(got + 8, resp, rlen), 0);
	ck_assert_int_eq(got[8 + rlen + 1], FCGI_STDOUT);
	ck_assert_int_eq(got[8 + rlen + 4] | got[8 + rlen + 5], 0);
	ck_assert_int_eq(got[8 + rlen + 9], FCGI_END_REQUEST);
	ck_assert_int_eq(got[8 + rlen + 13], 8);
	ck_assert_int_eq(got[8 + rlen + 16 + 4], FCGI_REQUEST_COMPLETE);
	ck_assert(!conn_answer(sv[1], 1, resp, 0));
}
END_TEST

/* Nothing yet: the peek does not wait. */
START_TEST(test_peek_nothing)
{
	int	 client, fd = unix_connection(&client);

	ck_assert_int_eq(conn_peek(fd, peeked), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(client);
	ck_assert_int_eq(conn_peek(fd, peeked), 0);
}
END_TEST

/* A request peeked at stays for libfcgi to read, on both families. */
static void
assert_peek_whole(int fd, int client)
{
	struct fcgi_scan scan;
	unsigned char	 got[sizeof(get_request)];
	ssize_t		 n;

	ck_assert_int_eq(write(client, get_request, 9), 9);
	ck_assert_int_eq(conn_peek(fd, peeked), 9);
	fcgi_scan_request(peeked, 9, QUERY_BODY_MAX, &scan);
	ck_assert_int_eq(scan.verdict, FCGI_SCAN_MORE);
	ck_assert_int_eq(write(client, get_request + 9,
	    sizeof(get_request) - 9), (ssize_t)sizeof(get_request) - 9);
	ck_assert_int_eq((n = conn_peek(fd, peeked)),
	    (ssize_t)sizeof(get_request));
	fcgi_scan_request(peeked, (size_t)n, QUERY_BODY_MAX, &scan);
	ck_assert_int_eq(scan.verdict, FCGI_SCAN_READY);
	ck_assert_uint_eq(scan.request_id, 1);
	ck_assert_uint_eq(scan.end, sizeof(get_request));
	ck_assert_int_eq(read(fd, got, sizeof(got)), (ssize_t)sizeof(got));
	ck_assert_int_eq(memcmp(got, get_request, sizeof(got)), 0);
}

START_TEST(test_peek_unix)
{
	int	 client, fd = unix_connection(&client);

	assert_peek_whole(fd, client);
}
END_TEST

START_TEST(test_peek_tcp)
{
	int	 client, fd = tcp_connection(&client);

	assert_peek_whole(fd, client);
}
END_TEST

/*
 * What is thrown away: all that has come, at most max, without waiting;
 * -1 once the peer has closed.
 */
START_TEST(test_discard)
{
	static const unsigned char junk[40000];
	int	 client, fd = unix_connection(&client);

	ck_assert_int_eq(conn_discard(fd, 1000), 0);
	ck_assert_int_eq(write(client, junk, sizeof(junk)),
	    (ssize_t)sizeof(junk));
	ck_assert_int_ge(conn_discard(fd, 1000), 1000);
	ck_assert_int_eq(conn_discard(fd, sizeof(junk)),
	    (ssize_t)sizeof(junk) - 16384);
	ck_assert_int_eq(conn_discard(fd, 1000), 0);
	close(client);
	ck_assert_int_eq(conn_discard(fd, 1000), -1);
}
END_TEST

/* The socket conn_accept() gives never blocks. */
START_TEST(test_accept_nonblocking)
{
	int	 client, fd = tcp_connection(&client);

	ck_assert_int_eq(conn_peek(fd, peeked), -1);
	ck_assert_int_eq(errno, EAGAIN);
}
END_TEST

Suite *
make_conn_suite(void)
{
	Suite	*s = suite_create("conn");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_peek_nothing);
	tcase_add_test(tc, test_peek_unix);
	tcase_add_test(tc, test_peek_tcp);
	tcase_add_test(tc, test_answer_records);
	tcase_add_test(tc, test_discard);
	tcase_add_test(tc, test_accept_nonblocking);
	suite_add_tcase(s, tc);
	return s;
}
