/*
 * Unit tests of conn.c on real sockets: a Unix socket in a private
 * directory and a socket pair.  Each test runs in its own process
 * (Check's fork mode), so the sockets die with it.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fastcgi.h>

#include "spike.h"
#include "budget.h"
#include "unit.h"

#define IDLE_MS		100
#define REQUEST_MS	300
#define PATIENT		50	/* limits times this: never reached */

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

static atomic_bool	 stopping;
static struct conn_limits limits = { IDLE_MS, REQUEST_MS, &stopping };
static unsigned char	 peeked[FCGI_SCAN_WINDOW];
static long long	 deadline;	/* what conn_await_request says */
static char		 dir[64];

/*
 * The budget for something conn.c promises within promised_ms: a loaded
 * machine may wake it up to one more REQUEST_MS late, and slow builds
 * scale the whole (budget.h).
 */
static long long
within(unsigned int promised_ms)
{
	return budget_ms(promised_ms + REQUEST_MS);
}

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

/* A Unix socket does not inherit the receive timeout: it must be set. */
START_TEST(test_unix_idle)
{
	struct fcgi_scan scan;
	long long	 t0;
	int		 client, fd = unix_connection(&client);

	t0 = now_ms();
	ck_assert_int_eq(conn_await_request(fd, peeked, &limits, &scan,
	    &deadline),
	    CONN_GONE);
	ck_assert_int_ge(now_ms() - t0, IDLE_MS - 10);
	ck_assert_int_lt(now_ms() - t0, within(IDLE_MS));
}
END_TEST

START_TEST(test_whole_request)
{
	struct fcgi_scan scan;
	int		 client, fd = unix_connection(&client);

	ck_assert_int_eq(write(client, get_request, sizeof(get_request)),
	    (ssize_t)sizeof(get_request));
	ck_assert_int_eq(conn_await_request(fd, peeked, &limits, &scan,
	    &deadline),
	    CONN_REQUEST);
	ck_assert_uint_eq(scan.request_id, 1);
	ck_assert_uint_eq(scan.end, sizeof(get_request));
}
END_TEST

/* What a trickling sender does: a byte every ms_per_byte, then stop. */
struct trickle {
	int		 fd;
	unsigned int	 ms_per_byte;
	size_t		 bytes;
};

static void *
trickle_main(void *arg)
{
	struct trickle	*t = arg;
	struct timespec	 ts = { 0, (long)t->ms_per_byte * 1000000L };
	size_t		 i;

	for (i = 0; i < t->bytes; i++) {
		if (send(t->fd, get_request + i, 1, MSG_NOSIGNAL) != 1)
			break;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Bytes keep coming, but the whole request not within request_ms. */
START_TEST(test_trickle_cut)
{
	struct trickle	 t = { .ms_per_byte = 20,
	    .bytes = sizeof(get_request) };
	struct fcgi_scan scan;
	pthread_t	 thread;
	long long	 t0;
	int		 fd = unix_connection(&t.fd);

	ck_assert_int_eq(pthread_create(&thread, NULL, trickle_main, &t), 0);
	t0 = now_ms();
	ck_assert_int_eq(conn_await_request(fd, peeked, &limits, &scan,
	    &deadline),
	    CONN_REFUSED);
	ck_assert_int_ge(now_ms() - t0, REQUEST_MS - 30);
	ck_assert_int_lt(now_ms() - t0, within(REQUEST_MS));
	ck_assert_str_eq(scan.why, "request did not come in time");
	close(fd);
	pthread_join(thread, NULL);
}
END_TEST

/* A peer that sends half a request and falls silent: idle_ms ends it. */
START_TEST(test_silent_mid_request)
{
	struct fcgi_scan scan;
	long long	 t0;
	int		 client, fd = unix_connection(&client);

	ck_assert_int_eq(write(client, get_request, 20), 20);
	t0 = now_ms();
	ck_assert_int_eq(conn_await_request(fd, peeked, &limits, &scan,
	    &deadline),
	    CONN_REFUSED);
	ck_assert_int_lt(now_ms() - t0, within(2 * IDLE_MS));
}
END_TEST

static void
wake(int sig)
{
	(void)sig;
}

struct awaiting {
	int		 fd;
	enum conn_next	 next;
	long long	 done_ms;
};

static void *
await_main(void *arg)
{
	struct awaiting	*a = arg;
	struct fcgi_scan scan;
	struct conn_limits patient = { IDLE_MS * PATIENT,
	    REQUEST_MS * PATIENT, &stopping };

	a->next = conn_await_request(a->fd, peeked, &patient, &scan,
	    &deadline);
	a->done_ms = now_ms();
	return NULL;
}

/* A request still coming is given up once the instance stops. */
START_TEST(test_stop_mid_request)
{
	struct sigaction sa;
	struct awaiting	 a;
	pthread_t	 thread;
	long long	 kicked;
	int		 client, k;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wake;		/* no SA_RESTART, as main.c */
	sigaction(SIGUSR1, &sa, NULL);
	a.fd = unix_connection(&client);
	ck_assert_int_eq(write(client, get_request, 20), 20);
	ck_assert_int_eq(pthread_create(&thread, NULL, await_main, &a), 0);
	usleep(50000);
	atomic_store(&stopping, true);
	kicked = now_ms();
	for (k = 0; k < 10; k++) {	/* a kick may come before the poll */
		pthread_kill(thread, SIGUSR1);
		usleep(20000);
	}
	pthread_join(thread, NULL);
	ck_assert_int_eq(a.next, CONN_INTERRUPTED);
	ck_assert_int_lt(a.done_ms - kicked, within(0));
}
END_TEST

/* The 431 path's records, as a FastCGI client reads them. */
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

/*
 * A peer answered before it has sent all of its request: it sends
 * total bytes (0: until it cannot), chunk bytes every pause_ms, and
 * then, once the answer is there and tail_ms later, tail bytes more;
 * then it reads its answer to the end, holds the connection for hold_ms
 * and closes it.
 */
struct sender {
	int		 fd;
	size_t		 total, chunk, tail;
	unsigned int	 pause_ms, tail_ms, hold_ms;
	size_t		 sent;
	bool		 cut_off;	/* a send failed */
	unsigned char	 got[256];
	size_t		 got_len;
	int		 end_errno;	/* how reading ended: 0 for EOF */
};

/* Send len junk bytes; false, the sender cut off, when that fails. */
static bool
sender_send(struct sender *p, size_t len)
{
	static const unsigned char junk[65536];

	if (send(p->fd, junk, len, MSG_NOSIGNAL) == -1) {
		p->cut_off = true;
		return false;
	}
	p->sent += len;
	return true;
}

static void *
sender_main(void *arg)
{
	struct sender	*p = arg;
	struct timespec	 pause = { 0, (long)p->pause_ms * 1000000L };
	struct pollfd	 pfd = { p->fd, POLLIN, 0 };
	ssize_t		 n;

	while (p->total == 0 || p->sent < p->total) {
		if (!sender_send(p, p->chunk))
			goto out;
		nanosleep(&pause, NULL);
	}
	if (p->tail > 0) {
		(void)poll(&pfd, 1, -1);	/* the answer, or the end */
		usleep(p->tail_ms * 1000);
		if (!sender_send(p, p->tail))
			goto out;
	}
	while ((n = recv(p->fd, p->got + p->got_len,
	    sizeof(p->got) - p->got_len, 0)) > 0)
		p->got_len += (size_t)n;
	p->end_errno = n == 0 ? 0 : errno;
	usleep(p->hold_ms * 1000);
out:
	close(p->fd);
	return NULL;
}

/*
 * Answer on fd at once, drain as conn.c does with lim, close, and wait
 * for the sender; returns how long conn_drain() took.
 */
static long long
answer_early(int fd, struct sender *p, const struct conn_limits *lim)
{
	static const char resp[] = "Status: 431 X\r\n\r\n{}";
	pthread_t	 thread;
	long long	 t0;

	ck_assert_int_eq(pthread_create(&thread, NULL, sender_main, p), 0);
	ck_assert(conn_answer(fd, 1, resp, sizeof(resp) - 1));
	t0 = now_ms();
	conn_drain(fd, lim, t0 + lim->request_ms);
	t0 = now_ms() - t0;
	close(fd);
	pthread_join(thread, NULL);
	return t0;
}

/* The answer's records whole, then the end of the stream (not a reset). */
static void
assert_answer_whole(const struct sender *p)
{
	ck_assert_msg(!p->cut_off, "the sender was cut off after %zu bytes",
	    p->sent);
	ck_assert_msg(p->end_errno == 0, "reading the answer ended with %s",
	    strerror(p->end_errno));
	ck_assert_uint_eq(p->got_len, 8 + 19 + 8 + 16);
	ck_assert_int_eq(p->got[8 + 19 + 9], FCGI_END_REQUEST);
}

/*
 * A MiB still coming after the answer, and more well after it (past
 * conn_linger()'s bound): all read, the answer then whole.
 */
START_TEST(test_drain_rest)
{
	struct sender	 p = { .total = 1024 * 1024, .chunk = 65536,
	    .tail = 16384, .tail_ms = 2 * CONN_LINGER_MS };
	struct conn_limits patient = { IDLE_MS * PATIENT,
	    REQUEST_MS * PATIENT, &stopping };

	answer_early(tcp_connection(&p.fd), &p, &patient);
	assert_answer_whole(&p);
}
END_TEST

/*
 * A peer that falls silent without closing is let go after idle_ms.  It
 * has sent the rest of its request before the answer, so that a loaded
 * machine's pause in sending cannot pass for that silence.
 */
START_TEST(test_drain_quiet)
{
	static const unsigned char rest[16384];
	struct sender	 p = { .total = sizeof(rest), .sent = sizeof(rest),
	    .hold_ms = 3 * IDLE_MS };
	long long	 ms;
	int		 fd = tcp_connection(&p.fd);

	ck_assert_int_eq(send(p.fd, rest, sizeof(rest), 0),
	    (ssize_t)sizeof(rest));
	ms = answer_early(fd, &p, &limits);
	assert_answer_whole(&p);
	ck_assert_int_ge(ms, IDLE_MS - 10);
	ck_assert_int_lt(ms, within(IDLE_MS));
}
END_TEST

/*
 * A peer that never stops, a byte every IDLE_MS / 2: cut off after
 * request_ms.  Silence is allowed longer here, so that a loaded machine's
 * pause in sending does not end the drain first.
 */
START_TEST(test_drain_request_ms)
{
	struct sender	 p = { .chunk = 1, .pause_ms = IDLE_MS / 2 };
	struct conn_limits slow = { IDLE_MS * PATIENT, REQUEST_MS,
	    &stopping };
	long long	 ms;

	ms = answer_early(tcp_connection(&p.fd), &p, &slow);
	ck_assert(p.cut_off);
	ck_assert_int_ge(ms, REQUEST_MS - 10);
	ck_assert_int_lt(ms, within(REQUEST_MS));
}
END_TEST

/* ... and, sending fast, after a bounded number of bytes, long before. */
START_TEST(test_drain_bytes)
{
	struct sender	 p = { .chunk = 65536 };
	struct conn_limits patient = { IDLE_MS * PATIENT,
	    REQUEST_MS * PATIENT, &stopping };
	long long	 ms;

	ms = answer_early(tcp_connection(&p.fd), &p, &patient);
	ck_assert(p.cut_off);
	ck_assert_msg(ms < within(REQUEST_MS), "drained %zu bytes for %lld ms",
	    p.sent, ms);
}
END_TEST

/* The instance stopping ends the drain: SIGTERM must not wait for it. */
START_TEST(test_drain_stopping)
{
	struct sender	 p = { .chunk = 1, .pause_ms = IDLE_MS / 2 };
	struct conn_limits patient = { IDLE_MS * PATIENT,
	    REQUEST_MS * PATIENT, &stopping };

	atomic_store(&stopping, true);
	ck_assert_int_lt(answer_early(tcp_connection(&p.fd), &p, &patient),
	    within(0));
	ck_assert(p.cut_off);
}
END_TEST

static void *
stop_after_idle_ms(void *arg)
{
	(void)arg;
	usleep(IDLE_MS * 1000);
	atomic_store(&stopping, true);
	return NULL;
}

/*
 * ... and so does a stop that comes while it drains a silent peer: no
 * signal wakes the drain, so it must look by itself, and soon.
 */
START_TEST(test_drain_stopped_midway)
{
	static const unsigned char rest[16384];
	struct sender	 p = { .total = sizeof(rest), .sent = sizeof(rest),
	    .hold_ms = 2 * within(IDLE_MS + CONN_LINGER_MS) };
	struct conn_limits patient = { IDLE_MS * PATIENT,
	    REQUEST_MS * PATIENT, &stopping };
	pthread_t	 thread;
	long long	 ms;
	int		 fd = tcp_connection(&p.fd);

	ck_assert_int_eq(send(p.fd, rest, sizeof(rest), 0),
	    (ssize_t)sizeof(rest));
	ck_assert_int_eq(pthread_create(&thread, NULL, stop_after_idle_ms,
	    NULL), 0);
	ms = answer_early(fd, &p, &patient);
	pthread_join(thread, NULL);
	ck_assert_msg(ms < within(IDLE_MS + CONN_LINGER_MS),
	    "the drain went on %lld ms after a stop at %d ms", ms, IDLE_MS);
}
END_TEST

/* Each test starts with the instance running. */
static void
not_stopping(void)
{
	atomic_store(&stopping, false);
}

Suite *
make_conn_suite(void)
{
	Suite	*s = suite_create("conn");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_unix_idle);
	tcase_add_test(tc, test_whole_request);
	tcase_add_test(tc, test_trickle_cut);
	tcase_add_test(tc, test_silent_mid_request);
	tcase_add_test(tc, test_stop_mid_request);
	tcase_add_test(tc, test_answer_records);
	tcase_add_test(tc, test_drain_rest);
	tcase_add_test(tc, test_drain_quiet);
	tcase_add_test(tc, test_drain_request_ms);
	tcase_add_test(tc, test_drain_bytes);
	tcase_add_test(tc, test_drain_stopping);
	tcase_add_test(tc, test_drain_stopped_midway);
	tcase_add_checked_fixture(tc, not_stopping, NULL);
	suite_add_tcase(s, tc);
	return s;
}
