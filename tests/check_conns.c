/*
 * Integration: the FastCGI connections an instance holds cost it no
 * worker thread.  Hundreds of idle kept connections, clients sending
 * their requests a byte at a time, a peer that never reads its answers,
 * a thousand connections at once, all straight to one instance: what it
 * answers from memory is answered at once all the while, purchases go
 * on, and the instance lives.
 *
 * The connections are the rig's FastCGI client (rig_fcgi.c), many of
 * them driven by the test's one thread, each request with FCGI_KEEP_CONN
 * as nginx sends it.
 */
#include "config.h"

#include <check.h>

#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rig_ck.h"

#define SALE_TOTAL	1000000		/* never sold out here */
#define STOCK_SEEN	"\"total\":1000000,"	/* in /stock's answer */
#define TARGET		0		/* the instance every test attacks */
#define FDS_SPARE	256		/* descriptors besides the connections */

/*
 * Time budgets, scaled by SPIKE_TEST_SLOWDOWN (budget.h).  What an
 * instance answers from memory (/stock, /healthz) waits for no worker and
 * no Redis: a loaded machine makes it late by BUDGET_LATE_MS at most.  A
 * purchase also waits for Redis, within the default redis_timeout_ms.
 * Both are below what a connection held a worker for when each had one:
 * read_timeout_ms idle, request_timeout_ms arriving, the write timeout
 * not reading; times the connections past the thread count.
 */
#define MEMORY_MS	budget_ms(BUDGET_LATE_MS)
#define BUY_MS		budget_ms(BUDGET_LATE_MS + \
			    CONF_DEFAULT_REDIS_TIMEOUT_MS)

/* What one request on each of many connections came to. */
struct round {
	size_t		 sent;
	size_t		 answered;
	size_t		 right;		/* 200 with what was looked for */
	size_t		 gone;		/* closed by the instance */
	double		 max_ms;
	char		 wrong[200];	/* the first wrong answer */
};

/*
 * Let this process, and the instances it starts (they inherit it), have
 * want descriptors open: the soft limit goes up to the hard one.
 */
static void
fds_allow(rlim_t want)
{
	struct rlimit	 rl;

	ck_assert_msg(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit: %s",
	    strerror(errno));
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max;
		ck_assert_msg(setrlimit(RLIMIT_NOFILE, &rl) == 0,
		    "setrlimit RLIMIT_NOFILE to %ju: %s",
		    (uintmax_t)rl.rlim_cur, strerror(errno));
	}
	ck_assert_msg(rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want,
	    "this test needs %ju descriptors; RLIMIT_NOFILE's hard limit is "
	    "%ju (raise it: ulimit -Hn)", (uintmax_t)want,
	    (uintmax_t)rl.rlim_max);
}

/* n connections to the target instance, each open. */
static struct rig_fcgi_conn *
conns_open(struct rig *r, size_t n)
{
	struct rig_fcgi_conn *c;
	size_t		 i;

	ck_assert((c = calloc(n, sizeof(*c))) != NULL);
	for (i = 0; i < n; i++)
		ck_assert_msg(rig_fcgi_open(&c[i], r->inst[TARGET].port),
		    "connection %zu of %zu to :%d: %s", i, n,
		    r->inst[TARGET].port, strerror(errno));
	return c;
}

static void
conns_close(struct rig_fcgi_conn *c, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		rig_fcgi_close(&c[i]);
	free(c);
}

/* Is c's last answer a 200 with want (NULL: anything) in its body? */
static bool
answer_right(const struct rig_fcgi_conn *c, const char *want, int code)
{
	return c->rep.status == 200 && c->rep.code == code &&
	    (want == NULL || strstr(c->rep.body, want) != NULL);
}

static void
note_wrong(char *wrong, size_t wrongsz, size_t i,
    const struct rig_fcgi_conn *c)
{
	if (wrong[0] != '\0')
		return;
	if (c->gone)
		snprintf(wrong, wrongsz, "connection %zu: closed after %.0f "
		    "ms", i, c->gone_ms - c->wrote_ms);
	else
		snprintf(wrong, wrongsz, "connection %zu: status %d: %.120s",
		    i, c->rep.status, c->rep.body);
}

/*
 * GET target on every open connection of c[0..n), then read the answers
 * for up to within_ms: each must be a 200 of code 1 with want in its
 * body.
 */
static void
round_run(struct rig_fcgi_conn *c, size_t n, const char *target,
    const char *want, unsigned int within_ms, struct round *rd)
{
	unsigned int	*before;
	size_t		 i;

	memset(rd, 0, sizeof(*rd));
	ck_assert((before = calloc(n, sizeof(*before))) != NULL);
	for (i = 0; i < n; i++) {
		before[i] = c[i].answers;
		if (rig_fcgi_send(&c[i], "GET", target))
			rd->sent++;
	}
	(void)rig_fcgi_poll(c, n, rig_now_ms() + within_ms);
	for (i = 0; i < n; i++) {
		rd->gone += c[i].gone;
		if (c[i].answers == before[i]) {
			if (rd->wrong[0] == '\0')
				snprintf(rd->wrong, sizeof(rd->wrong),
				    "connection %zu: %s", i, c[i].gone ?
				    "closed, unanswered" : "no answer");
			continue;
		}
		rd->answered++;
		if (c[i].rep.ms > rd->max_ms)
			rd->max_ms = c[i].rep.ms;
		if (answer_right(&c[i], want, 1))
			rd->right++;
		else
			note_wrong(rd->wrong, sizeof(rd->wrong), i, &c[i]);
	}
	free(before);
}

/* A round on all n connections must have been answered, right, in time. */
static void
round_check(const struct round *rd, size_t n, unsigned int within_ms,
    const char *what)
{
	fprintf(stderr, "conns: %s: %zu connections, sent %zu answered %zu "
	    "right %zu closed %zu, slowest %.0f ms (limit %u ms)%s%s\n", what,
	    n, rd->sent, rd->answered, rd->right, rd->gone, rd->max_ms,
	    within_ms, rd->wrong[0] ? "; " : "", rd->wrong);
	ck_assert_msg(rd->sent == n && rd->right == n &&
	    rd->max_ms <= within_ms, "%s: of %zu connections, %zu sent, %zu "
	    "answered within %u ms, %zu right, %zu closed by the instance; "
	    "slowest %.0f ms; %s", what, n, rd->sent, rd->answered, within_ms,
	    rd->right, rd->gone, rd->max_ms, rd->wrong);
}

/*
 * GET target on a new connection to the target instance; true when it
 * was answered within within_ms, c then holding the answer.
 */
static bool
fresh_request(struct rig *r, const char *target, unsigned int within_ms,
    struct rig_fcgi_conn *c)
{
	bool	 answered;

	if (!rig_fcgi_open(c, r->inst[TARGET].port) ||
	    !rig_fcgi_send(c, "GET", target))
		return false;
	(void)rig_fcgi_poll(c, 1, rig_now_ms() + within_ms);
	answered = c->answers == 1;
	rig_fcgi_close(c);
	return answered;
}

/* The target instance lives and answers /stock at once. */
static void
target_serves(struct rig *r, const char *after)
{
	struct rig_fcgi_conn c;

	ck_assert_msg(rig_instance_alive(r, TARGET), "after %s: %s", after,
	    r->err);
	ck_assert_msg(fresh_request(r, "/stock", MEMORY_MS, &c) &&
	    answer_right(&c, STOCK_SEEN, 1), "after %s: /stock on a new "
	    "connection: answered %u, status %d, %.0f ms (limit %u ms)",
	    after, c.answers, c.rep.status, c.rep.ms, MEMORY_MS);
}

/* ---- idle kept connections ---------------------------------------------- */

#define IDLE_THREADS	4
#define IDLE_CONNS	200
/*
 * Idle longer than read_timeout_ms, after which an idle connection gave
 * its worker back when it had one; nginx keeps them far longer.
 */
#define IDLE_HOLD_MS	(2 * CONF_DEFAULT_READ_TIMEOUT_MS)

/*
 * IDLE_CONNS kept connections to an instance of IDLE_THREADS workers,
 * each answered once and then idle: a newcomer's /healthz is answered
 * at once, and so is a second request on every one of them.
 */
START_TEST(test_idle_kept)
{
	struct rig_options opt = { .threads = IDLE_THREADS };
	struct rig	 r;
	struct rig_fcgi_conn *c, fresh;
	struct round	 rd;
	size_t		 i, gone = 0;
	bool		 healthy;

	fds_allow(IDLE_CONNS + FDS_SPARE);
	rig_ck_start(&r, &opt, SALE_TOTAL);
	c = conns_open(&r, IDLE_CONNS);
	round_run(c, IDLE_CONNS, "/stock", STOCK_SEEN, MEMORY_MS, &rd);
	round_check(&rd, IDLE_CONNS, MEMORY_MS, "first request on each kept "
	    "connection");

	rig_sleep_ms(IDLE_HOLD_MS);
	healthy = fresh_request(&r, "/healthz", MEMORY_MS, &fresh) &&
	    fresh.rep.status == 200;
	fprintf(stderr, "conns: /healthz on a new connection beside %d idle "
	    "ones: answered %u, status %d after %.0f ms (limit %u ms)\n",
	    IDLE_CONNS, fresh.answers, fresh.rep.status, fresh.rep.ms,
	    MEMORY_MS);
	ck_assert_msg(healthy, "%d idle kept connections to an instance of "
	    "%d workers: /healthz on a new one: answered %u, status %d, "
	    "%.0f ms (limit %u ms)", IDLE_CONNS, IDLE_THREADS, fresh.answers,
	    fresh.rep.status, fresh.rep.ms, MEMORY_MS);

	(void)rig_fcgi_poll(c, IDLE_CONNS, rig_now_ms());
	for (i = 0; i < IDLE_CONNS; i++)
		gone += c[i].gone;
	ck_assert_msg(gone == 0, "the instance closed %zu of %d kept "
	    "connections idle for %d ms", gone, IDLE_CONNS, IDLE_HOLD_MS);
	round_run(c, IDLE_CONNS, "/stock", STOCK_SEEN, MEMORY_MS, &rd);
	round_check(&rd, IDLE_CONNS, MEMORY_MS, "second request on each "
	    "after an idle while");
	conns_close(c, IDLE_CONNS);
	target_serves(&r, "idle kept connections");
	rig_stop(&r);
}
END_TEST

/* ---- requests arriving a byte at a time ---------------------------------- */

#define SLOW_THREADS	16
#define SLOW_CONNS	80
#define SLOW_BYTE_MS	300
#define SLOW_LIMIT_MS	2000	/* request_timeout_ms of that test */
/*
 * Every other slow client sends all of its purchase at once but for
 * SLOW_TAIL bytes, which it trickles: the request comes whole well within
 * SLOW_LIMIT_MS and must be answered.  The others trickle all of it.
 */
#define SLOW_TAIL	3
/*
 * A trickle is cut request_timeout_ms after its first byte; its client,
 * reading between bytes, sees it a byte or two later.
 */
#define SLOW_CUT_MS	budget_ms(SLOW_LIMIT_MS + 2 * SLOW_BYTE_MS + \
			    BUDGET_LATE_MS)
#define PROBE_PAUSE_MS	50
#define LOAD_CONNS	4

/* Asks the instance for /healthz and a purchase, again and again. */
struct probe {
	struct rig	*rig;
	pthread_t	 thread;
	atomic_bool	 stop;
	unsigned int	 asked;
	unsigned int	 right;
	double		 max_health_ms;
	double		 max_buy_ms;
	char		 wrong[256];
};

static void
probe_note(struct probe *p, const char *target, const struct rig_fcgi_conn *c,
    bool answered, bool right)
{
	p->asked++;
	if (answered && right) {
		p->right++;
		return;
	}
	if (p->wrong[0] == '\0')
		snprintf(p->wrong, sizeof(p->wrong), "%s: %s, status %d, "
		    "after %.0f ms: %.80s", target, answered ? "answered" :
		    "no answer in time", c->rep.status, answered ? c->rep.ms :
		    rig_now_ms() - c->wrote_ms, c->rep.body);
}

static void *
probe_main(void *arg)
{
	struct probe	*p = arg;
	struct rig_fcgi_conn c;
	char		 target[64];
	unsigned int	 k = 0;
	bool		 answered;

	while (!atomic_load(&p->stop)) {
		answered = fresh_request(p->rig, "/healthz", MEMORY_MS, &c);
		probe_note(p, "/healthz", &c, answered, c.rep.status == 200);
		if (answered && c.rep.ms > p->max_health_ms)
			p->max_health_ms = c.rep.ms;
		snprintf(target, sizeof(target), "/buy/ticket?user=probe%u",
		    k++);
		answered = fresh_request(p->rig, target, BUY_MS, &c);
		probe_note(p, target, &c, answered, answer_right(&c, NULL, 1));
		if (answered && c.rep.ms > p->max_buy_ms)
			p->max_buy_ms = c.rep.ms;
		rig_sleep_ms(PROBE_PAUSE_MS);
	}
	return NULL;
}

/* One slow client's request and how much of it is out. */
struct trickle {
	unsigned char	 req[RIG_FCGI_REQ_MAX];
	size_t		 len;
	size_t		 off;
	double		 first_ms;	/* its first byte went */
};

/* Start slow client i: all of its request but the tail, or one byte. */
static void
trickle_start(struct rig *r, struct rig_fcgi_conn *c, struct trickle *t,
    size_t i)
{
	char	 target[64];

	snprintf(target, sizeof(target), "/buy/ticket?user=slow%zu", i);
	ck_assert((t->len = rig_fcgi_build(t->req, "GET", target)) > 0);
	ck_assert_msg(rig_fcgi_open(c, r->inst[TARGET].port), "slow client "
	    "%zu: %s", i, strerror(errno));
	t->off = i % 2 == 0 ? t->len - SLOW_TAIL : 1;
	t->first_ms = rig_now_ms();
	ck_assert_msg(rig_fcgi_write(c, t->req, t->off), "slow client %zu: "
	    "%s", i, strerror(errno));
}

/*
 * Trickle: a byte of each request every SLOW_BYTE_MS, reading what comes
 * in between, until every whole trickle is cut off or SLOW_CUT_MS.
 */
static void
trickle_run(struct rig_fcgi_conn *c, struct trickle *t, size_t n)
{
	double	 tick = rig_now_ms();
	size_t	 i, left;

	do {
		tick += SLOW_BYTE_MS;
		(void)rig_fcgi_poll(c, n, tick);
		for (i = left = 0; i < n; i++) {
			if (c[i].fd == -1 || t[i].off == t[i].len)
				continue;
			if (rig_fcgi_write(&c[i], t[i].req + t[i].off, 1))
				t[i].off++;
			left += c[i].fd != -1;
		}
	} while ((left > 0 || rig_fcgi_poll(c, n, rig_now_ms()) > 0) &&
	    rig_now_ms() - t[0].first_ms < SLOW_CUT_MS);
}

/*
 * Slow client i's end: a whole trickle is cut, unanswered, at
 * request_timeout_ms; a request that came whole is answered right at once.
 */
static bool
trickle_ended(const struct rig_fcgi_conn *c, const struct trickle *t,
    size_t i, char *why, size_t whysz)
{
	double	 cut = c->gone_ms - t->first_ms;

	if (i % 2 == 0 && t->off == t->len) {
		snprintf(why, whysz, "completed slow client %zu: answered %u, "
		    "status %d code %d after %.0f ms (limit %u ms)", i,
		    c->answers, c->rep.status, c->rep.code, c->rep.ms, BUY_MS);
		return c->answers == 1 && answer_right(c, NULL, 1) &&
		    c->rep.ms <= BUY_MS;
	}
	snprintf(why, whysz, "slow client %zu: %zu of %zu bytes sent, %s "
	    "after %.0f ms (limit %d-%u ms), answered %u", i, t->off, t->len,
	    c->gone ? "cut off" : "still open", c->gone ? cut :
	    rig_now_ms() - t->first_ms, SLOW_LIMIT_MS, SLOW_CUT_MS,
	    c->answers);
	return i % 2 == 1 && c->gone && c->answers == 0 &&
	    cut >= SLOW_LIMIT_MS && cut <= SLOW_CUT_MS;
}

/*
 * Stop the load through nginx; true when every purchase was answered by
 * an instance within BUY_MS: bought, or the instance's own 503 when Redis
 * was slow on a loaded machine, never nginx's 503 (no instance answered).
 */
static bool
load_stop(struct rig_load *l, char *sum, size_t sumsz)
{
	unsigned int	 bought, redis_503;

	rig_load_stop(l);
	rig_load_wait(l);
	rig_load_summary(l, sum, sumsz);
	bought = rig_load_code(l, 1);
	redis_503 = rig_load_status(l, 503) - l->nginx_own;
	return bought > 0 && l->failed == 0 && l->nginx_own == 0 &&
	    bought + redis_503 == l->answered &&
	    rig_load_code(l, -2) == redis_503 && l->max_ms <= BUY_MS;
}

/*
 * SLOW_CONNS clients send their purchases to an instance of SLOW_THREADS
 * workers a byte every SLOW_BYTE_MS.  Meanwhile /healthz and purchases
 * straight to it, and purchases through nginx, are answered at once; the
 * trickles are cut at request_timeout_ms, those that came whole answered.
 */
START_TEST(test_slow_clients)
{
	struct rig_options opt = { .threads = SLOW_THREADS,
	    .request_timeout_ms = SLOW_LIMIT_MS };
	struct rig_load_spec spec;
	struct rig	 r;
	struct rig_load	 l;
	struct probe	 p;
	struct rig_fcgi_conn *c;
	struct trickle	*t;
	char		 sum[1024], why[256];
	size_t		 i, ended = 0;
	bool		 load_ok;

	fds_allow(SLOW_CONNS + FDS_SPARE);
	rig_ck_start(&r, &opt, SALE_TOTAL);
	ck_assert((c = calloc(SLOW_CONNS, sizeof(*c))) != NULL);
	ck_assert((t = calloc(SLOW_CONNS, sizeof(*t))) != NULL);
	for (i = 0; i < SLOW_CONNS; i++)
		trickle_start(&r, &c[i], &t[i], i);
	spec = rig_load_plan(&r, LOAD_CONNS, 1000000, true, 60000);
	spec.pause_ms = PROBE_PAUSE_MS;
	ck_assert_msg(rig_load_start(&l, &spec), "cannot start the load");
	memset(&p, 0, sizeof(p));
	p.rig = &r;
	ck_assert(pthread_create(&p.thread, NULL, probe_main, &p) == 0);

	trickle_run(c, t, SLOW_CONNS);

	atomic_store(&p.stop, true);
	pthread_join(p.thread, NULL);
	load_ok = load_stop(&l, sum, sizeof(sum));
	fprintf(stderr, "conns: %d slow clients: probes %u, right %u, "
	    "slowest /healthz %.0f ms, buy %.0f ms%s%s; through nginx: %s\n",
	    SLOW_CONNS, p.asked, p.right, p.max_health_ms, p.max_buy_ms,
	    p.wrong[0] ? "; " : "", p.wrong, sum);
	ck_assert_msg(p.asked > 0 && p.right == p.asked, "%d slow clients "
	    "to an instance of %d workers: %u of %u requests straight to it "
	    "answered right in time (/healthz within %u ms, buys within %u "
	    "ms): %s", SLOW_CONNS, SLOW_THREADS, p.right, p.asked, MEMORY_MS,
	    BUY_MS, p.wrong);
	ck_assert_msg(load_ok, "%d slow clients: buys through nginx (limit "
	    "%u ms): %s", SLOW_CONNS, BUY_MS, sum);
	for (i = 0; i < SLOW_CONNS; i++) {
		ck_assert_msg(trickle_ended(&c[i], &t[i], i, why, sizeof(why)),
		    "%s", why);
		ended += t[i].off == t[i].len;
	}
	ck_assert_msg(ended == SLOW_CONNS / 2, "%zu slow requests came "
	    "whole, not the %d sent with a short tail", ended,
	    SLOW_CONNS / 2);
	conns_close(c, SLOW_CONNS);
	free(t);
	target_serves(&r, "slow clients");
	rig_stop(&r);
}
END_TEST

/* ---- a peer that never reads ------------------------------------------- */

#define DEAF_THREADS	1
/* read_timeout_ms there: a worker writing to a deaf peer was held so long. */
#define DEAF_READ_MS	5000
#define DEAF_REQUESTS	20000
#define DEAF_NEXT_MS	2	/* the next request, if no answer came */
#define DEAF_RCVBUF	4096	/* the deaf peer's receive buffer */
/* The deaf peer keeps sending this long; the probe asks meanwhile. */
#define DEAF_RUN_MS	(4 * CONF_DEFAULT_READ_TIMEOUT_MS)
#define DEAF_HEALTH_EVERY 5	/* a new connection's /healthz per probes */

/*
 * A peer sending keep-alive requests one after another, each as soon as
 * the answer to the last has come (seen by FIONREAD, never read), or
 * DEAF_NEXT_MS later: its window fills, then the instance's buffer.
 */
struct deaf {
	int		 fd;
	pthread_t	 thread;
	atomic_bool	 stop;
	atomic_uint	 sent;
	atomic_int	 unread;	/* answer bytes waiting, last seen */
	unsigned char	 req[RIG_FCGI_REQ_MAX];
	size_t		 len;
};

/* A connection to port that takes little at a time: a small window. */
static int
deaf_connect(int port)
{
	struct sockaddr_in sin;
	int		 fd, size = DEAF_RCVBUF;

	ck_assert((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) !=
	    -1);
	ck_assert(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
	    sizeof(size)) == 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
	    "connect :%d: %s", port, strerror(errno));
	return fd;
}

static void *
deaf_main(void *arg)
{
	struct deaf	*d = arg;
	double		 last = 0;
	int		 unread = -1, now;

	while (!atomic_load(&d->stop) && atomic_load(&d->sent) <
	    DEAF_REQUESTS) {
		if (ioctl(d->fd, FIONREAD, &now) == -1)
			break;
		atomic_store(&d->unread, now);
		if (now == unread && rig_now_ms() - last < DEAF_NEXT_MS) {
			rig_sleep_ms(1);
			continue;
		}
		if (send(d->fd, d->req, d->len, MSG_NOSIGNAL | MSG_DONTWAIT) !=
		    (ssize_t)d->len)
			break;	/* it takes no more, or a part: enough */
		atomic_fetch_add(&d->sent, 1);
		unread = now;
		last = rig_now_ms();
	}
	return NULL;
}

/* Has the instance closed or reset fd?  (Its answers stay unread.) */
static bool
deaf_dropped(int fd)
{
	struct pollfd	 pfd = { fd, POLLRDHUP, 0 };

	return poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/*
 * Ask the target instance on the kept probe, and on a new connection
 * every DEAF_HEALTH_EVERY, for DEAF_RUN_MS; *right of *asked answered
 * right within MEMORY_MS, the first other in wrong.
 */
static void
deaf_probe(struct rig *r, struct rig_fcgi_conn *probe, size_t *asked,
    size_t *right, double *max_ms, char *wrong, size_t wrongsz)
{
	struct rig_fcgi_conn fresh;
	struct round	 rd;
	double		 t0;

	for (t0 = rig_now_ms(); rig_now_ms() - t0 < DEAF_RUN_MS; ) {
		round_run(probe, 1, "/stock", STOCK_SEEN, MEMORY_MS, &rd);
		(*asked)++;
		if (rd.max_ms > *max_ms)
			*max_ms = rd.max_ms;
		*right += rd.right == 1 && rd.max_ms <= MEMORY_MS;
		if (rd.right != 1 && wrong[0] == '\0')
			snprintf(wrong, wrongsz, "kept connection, request "
			    "%zu: %.150s", *asked, rd.wrong);
		if (*asked % DEAF_HEALTH_EVERY != 0)
			continue;
		(*asked)++;
		if (fresh_request(r, "/healthz", MEMORY_MS, &fresh) &&
		    fresh.rep.status == 200)
			(*right)++;
		else if (wrong[0] == '\0')
			snprintf(wrong, wrongsz, "/healthz on a new connection "
			    "(request %zu): answered %u, status %d", *asked,
			    fresh.answers, fresh.rep.status);
	}
}

/*
 * A peer sends up to DEAF_REQUESTS GET /stock, one after another, and
 * never reads the answers; an instance of DEAF_THREADS worker meanwhile
 * answers another kept connection, and new ones, at once.
 */
START_TEST(test_deaf_peer)
{
	struct rig_options opt = { .threads = DEAF_THREADS };
	struct rig	 r;
	struct rig_fcgi_conn probe;
	struct deaf	 d;
	size_t		 asked = 0, right = 0;
	double		 max_ms = 0;
	char		 wrong[200] = "", extra[64];
	unsigned int	 before;

	ck_assert(DEAF_READ_MS > MEMORY_MS);
	snprintf(extra, sizeof(extra), "read_timeout_ms = %d\n", DEAF_READ_MS);
	opt.conf_extra = extra;
	rig_ck_start(&r, &opt, SALE_TOTAL);
	memset(&d, 0, sizeof(d));
	ck_assert((d.len = rig_fcgi_build(d.req, "GET", "/stock")) > 0);
	d.fd = deaf_connect(r.inst[TARGET].port);
	ck_assert(pthread_create(&d.thread, NULL, deaf_main, &d) == 0);
	/* The deaf peer has filled what it can: it sends no faster. */
	do {
		before = atomic_load(&d.sent);
		rig_sleep_ms(100 * DEAF_NEXT_MS);
	} while (atomic_load(&d.sent) > before + 100 &&
	    atomic_load(&d.sent) < DEAF_REQUESTS);
	ck_assert_msg(rig_fcgi_open(&probe, r.inst[TARGET].port), "probe: %s",
	    strerror(errno));
	deaf_probe(&r, &probe, &asked, &right, &max_ms, wrong, sizeof(wrong));
	atomic_store(&d.stop, true);
	pthread_join(d.thread, NULL);
	fprintf(stderr, "conns: a deaf peer sent %u of %d requests, %d bytes "
	    "of answers unread; meanwhile %zu of %zu requests answered right "
	    "within %u ms, slowest %.0f ms%s%s; the deaf peer was %s\n",
	    atomic_load(&d.sent), DEAF_REQUESTS, atomic_load(&d.unread), right,
	    asked, MEMORY_MS, max_ms, wrong[0] ? "; " : "", wrong,
	    deaf_dropped(d.fd) ? "dropped" : "still connected");
	ck_assert_msg(right == asked, "a peer not reading its answers: "
	    "%zu of %zu requests on other connections answered right within "
	    "%u ms: %s", right, asked, MEMORY_MS, wrong);
	close(d.fd);
	rig_fcgi_close(&probe);
	target_serves(&r, "a deaf peer");
	rig_stop(&r);
}
END_TEST

/* ---- a thousand connections at once ------------------------------------- */

#define CROWD_CONNS	1000
#define CROWD_ROUNDS	3

/*
 * CROWD_CONNS kept connections to one instance of the default threads,
 * CROWD_ROUNDS /stock on each, all at once: every one answered at once.
 */
START_TEST(test_thousand)
{
	struct rig	 r;
	struct rig_fcgi_conn *c;
	struct round	 rd;
	char		 what[64];
	int		 k;

	fds_allow(CROWD_CONNS + FDS_SPARE);
	rig_ck_start(&r, NULL, SALE_TOTAL);
	c = conns_open(&r, CROWD_CONNS);
	for (k = 1; k <= CROWD_ROUNDS; k++) {
		round_run(c, CROWD_CONNS, "/stock", STOCK_SEEN, MEMORY_MS, &rd);
		snprintf(what, sizeof(what), "/stock %d of %d at once", k,
		    CROWD_ROUNDS);
		round_check(&rd, CROWD_CONNS, MEMORY_MS, what);
	}
	conns_close(c, CROWD_CONNS);
	target_serves(&r, "a thousand connections");
	rig_stop(&r);
}
END_TEST

/* One test case each, so that CK_RUN_CASE=NAME runs one alone. */
static void
add_case(Suite *s, const char *name, const TTest *test)
{
	TCase	*tc = tcase_create(name);

	tcase_set_timeout(tc, budget_ms(60000) / 1000.0);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

static Suite *
conns_suite(void)
{
	Suite	*s = suite_create("conns");

	add_case(s, "idle_kept", test_idle_kept);
	add_case(s, "slow_clients", test_slow_clients);
	add_case(s, "deaf_peer", test_deaf_peer);
	add_case(s, "thousand", test_thousand);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(conns_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
