/*
 * Integration: orders through the shipped nginx snippet, four real
 * spike-fcgi instances and a real Redis.  Users buying concurrently get
 * one order each; a storm of buys, payments and expiries keeps the
 * invariant sold == |pending| + |paid| + anonymous at every moment; a
 * payment racing its expiry ends one way only; the event stream has one
 * event per change; returned tickets are sold again; a killed instance
 * loses no order; the /order, /pay and /stock resources answer as
 * spike-fcgi(8) says.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "spike.h"
#include "rig_ck.h"

#define K		RIG_STOCK_KEY
#define EVENTS		K ":events"
#define PENDING		K ":pending"
#define FORM		"application/x-www-form-urlencoded"
#define ORDER_MAX	STORE_ORDER_ID_MAX
#define SYNC_MS		50	/* most tests' sync_ms */
#define PAY_TIMEOUT_MS	1000	/* the tests' pay_timeout_s = 1 */
#define PAY_LATE_MS	300	/* a late payment: this long after pay_by */
/*
 * Every order has expired: its pay_by passes, then an expiry run comes
 * (every SYNC_EXPIRE_MS, at an instance's sync); twice that, for a
 * loaded machine.
 */
#define EXPIRY_WAIT_MS	(budget_ms(2 * (PAY_TIMEOUT_MS + SYNC_EXPIRE_MS)) + \
			    BUDGET_SYNC_MS(CONF_DEFAULT_SYNC_MS, \
			    CONF_DEFAULT_REDIS_TIMEOUT_MS))

/* ---- small helpers ------------------------------------------------------- */

/* Wall clock in unix ms: the same clock as Redis TIME on this host. */
static long long
wall_ms(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/*
 * Put "key = value" lines into the rig's spike.conf, replacing a line of
 * the same key if the rig wrote one (a key given twice is an error).
 */
static bool
extra_has_key(const char *extra, const char *key, size_t klen)
{
	const char	*p = extra;

	while (*p != '\0') {
		if (strcspn(p, " \t=") == klen && strncmp(p, key, klen) == 0)
			return true;
		p += strcspn(p, "\n");
		if (*p == '\n')
			p++;
	}
	return false;
}

static void
conf_put(struct rig *r, const char *extra)
{
	static char	 out[16384];
	char		 line[1024];
	size_t		 n = 0, k;
	FILE		*f;

	ck_assert_msg((f = fopen(r->conf, "r")) != NULL, "%s", r->conf);
	while (fgets(line, sizeof(line), f) != NULL) {
		k = strcspn(line, " \t=\n");
		if (line[0] != '#' && k > 0 && extra_has_key(extra, line, k))
			continue;
		k = strlen(line);
		ck_assert_uint_lt(n + k, sizeof(out));
		memcpy(out + n, line, k);
		n += k;
	}
	fclose(f);
	k = strlen(extra);
	ck_assert_uint_lt(n + k, sizeof(out));
	memcpy(out + n, extra, k + 1);
	ck_assert_msg((f = fopen(r->conf, "w")) != NULL, "%s", r->conf);
	ck_assert_int_ge(fputs(out, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * Start Redis with a sale of total tickets, the four instances with
 * extra lines in their spike.conf, and nginx.  Every request must get
 * its answer here, so Redis calls get a patient timeout.
 */
static void
start(struct rig *r, unsigned int sync_ms, long long total, const char *extra)
{
	struct rig_options opt = { .sync_ms = sync_ms,
	    .redis_timeout_ms = BUDGET_PATIENT_REDIS_MS };

	ck_assert_msg(rig_init(r, &opt), "rig: %s", r->err);
	if (extra != NULL)
		conf_put(r, extra);
	ck_assert_msg(rig_redis_start(r) && rig_sale_set(r, total) &&
	    rig_instances_start(r) && rig_heartbeats_wait(r, BUDGET_UP_MS) &&
	    rig_nginx_start(r), "rig: %s", r->err);
}

/* ---- Redis --------------------------------------------------------------- */

#define CMD(c, ...)	RIG_CK_CMD(c, __VA_ARGS__)

static long long
as_int(const redisReply *e)
{
	return rig_redis_int(e, -1);
}

#define INT(c, ...)	rig_redis_int_free(CMD(c, __VA_ARGS__), -1)

static char *
order_field(redisContext *c, const char *order, const char *name, char *buf,
    size_t bufsz)
{
	char	 key[64];

	/* As much of order as fits, said so that gcc sees it fits. */
	snprintf(key, sizeof(key), K ":order:%.*s",
	    (int)(sizeof(key) - sizeof(K ":order:")), order);
	return rig_redis_str_free(CMD(c, "HGET", key, name), buf, bufsz);
}

static long long
sold_of(redisContext *c)
{
	return INT(c, "HGET", K, RIG_SOLD_FIELD);
}

/* Poll until no order is pending; fails the test after timeout_ms. */
static void
wait_no_pending(redisContext *c, unsigned int timeout_ms)
{
	double		 end = rig_now_ms() + timeout_ms;
	long long	 n;

	while ((n = INT(c, "ZCARD", PENDING)) > 0) {
		ck_assert_msg(rig_now_ms() < end, "%lld orders still pending "
		    "%u ms later: expiry does not run", n, timeout_ms);
		rig_sleep_ms(50);
	}
}

/*
 * The invariant in one script, so that it is read atomically: returns
 * {total, sold, |pending set|, orders pending, orders paid, anonymous,
 * orders in the users' sets, orders of another status}.
 */
static const char invariant_lua[] =
    "local p = ARGV[1]\n"
    "local v = redis.call('HMGET', p, ARGV[2], ARGV[3])\n"
    "local n = {pending = 0, paid = 0, expired = 0, other = 0}\n"
    "for _, k in ipairs(redis.call('KEYS', p .. ':order:*')) do\n"
    "  local s = redis.call('HGET', k, 'status')\n"
    "  if n[s] then n[s] = n[s] + 1 else n.other = n.other + 1 end\n"
    "end\n"
    "local active = 0\n"
    "for _, k in ipairs(redis.call('KEYS', p .. ':user:*')) do\n"
    "  active = active + redis.call('ZCARD', k)\n"
    "end\n"
    "return {tonumber(v[1]) or -1, tonumber(v[2]) or -1,\n"
    "  redis.call('ZCARD', p .. ':pending'), n.pending, n.paid,\n"
    "  tonumber(redis.call('GET', p .. ':anonymous') or '0'), active,\n"
    "  n.other}\n";

struct inv {
	long long	 total, sold, pending_set, pending, paid, anon, active,
			 other;
};

/* Read the invariant's figures; false with why on a Redis failure. */
static bool
inv_read(redisContext *c, struct inv *v, char *why, size_t whysz)
{
	redisReply	*rep;
	long long	 x[8];

	rep = redisCommand(c, "EVAL %s 0 %s %s %s", invariant_lua, K,
	    RIG_TOTAL_FIELD, RIG_SOLD_FIELD);
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 8) {
		snprintf(why, whysz, "invariant script: %.100s",
		    rep == NULL ? c->errstr : rep->type == REDIS_REPLY_ERROR ?
		    rep->str : "bad reply");
		if (rep != NULL)
			freeReplyObject(rep);
		return false;
	}
	for (size_t i = 0; i < 8; i++)
		x[i] = as_int(rep->element[i]);
	freeReplyObject(rep);
	*v = (struct inv){ x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7] };
	return true;
}

/* Does v hold?  If not, why says how not. */
static bool
inv_holds(const struct inv *v, char *why, size_t whysz)
{
	if (v->sold <= v->total && v->sold >= 0 &&
	    v->sold == v->pending + v->paid + v->anon &&
	    v->pending_set == v->pending &&
	    v->active == v->pending + v->paid && v->other == 0)
		return true;
	snprintf(why, whysz, "total %lld sold %lld: pending set %lld, "
	    "pending %lld, paid %lld, anonymous %lld, in users' sets %lld, "
	    "other status %lld", v->total, v->sold, v->pending_set,
	    v->pending, v->paid, v->anon, v->active, v->other);
	return false;
}

static void
assert_invariant(redisContext *c)
{
	struct inv	 v;
	char		 why[512];

	ck_assert_msg(inv_read(c, &v, why, sizeof(why)), "%s", why);
	ck_assert_msg(inv_holds(&v, why, sizeof(why)), "invariant: %s", why);
}

/* True for an order id as store.c makes them: 32 lowercase hex digits. */
static bool
order_id_ok(const char *id)
{
	return strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32;
}

/* The index of order in ids[0..n-1], or -1. */
static long long
order_index(char (*ids)[ORDER_MAX], long long n, const char *order)
{
	for (long long i = 0; i < n; i++)
		if (strcmp(ids[i], order) == 0)
			return i;
	return -1;
}

/* Events of the stream, by the index of their order in ids[0..n-1]. */
struct tally {
	int		*created, *paid, *expired;
	long long	 n, entries, other;
	char		 bad[256];
};

static void
tally_events(redisContext *c, struct tally *t, char (*ids)[ORDER_MAX],
    long long n)
{
	redisReply	*rep = CMD(c, "XRANGE", EVENTS, "-", "+");

	memset(t, 0, sizeof(*t));
	t->n = n;
	ck_assert_ptr_nonnull(t->created = calloc(n + 1, sizeof(int)));
	ck_assert_ptr_nonnull(t->paid = calloc(n + 1, sizeof(int)));
	ck_assert_ptr_nonnull(t->expired = calloc(n + 1, sizeof(int)));
	for (size_t i = 0; i < rep->elements; i++) {
		redisReply	*f = rep->element[i]->element[1];
		const char	*ev = "", *order = "";
		long long	 id;

		for (size_t j = 0; j + 1 < f->elements; j += 2) {
			if (strcmp(f->element[j]->str, "event") == 0)
				ev = f->element[j + 1]->str;
			else if (strcmp(f->element[j]->str, "order") == 0)
				order = f->element[j + 1]->str;
		}
		t->entries++;
		if ((id = order_index(ids, n, order)) < 0) {
			snprintf(t->bad, sizeof(t->bad), "event %s for order "
			    "\"%s\", not one of the %lld answered", ev, order,
			    n);
			continue;
		}
		if (strcmp(ev, "created") != 0 && t->created[id] == 0)
			snprintf(t->bad, sizeof(t->bad), "event %s for order "
			    "%s before its created event", ev, order);
		if (strcmp(ev, "created") == 0)
			t->created[id]++;
		else if (strcmp(ev, "paid") == 0)
			t->paid[id]++;
		else if (strcmp(ev, "expired") == 0)
			t->expired[id]++;
		else
			t->other++;
	}
	freeReplyObject(rep);
}

static void
tally_free(struct tally *t)
{
	free(t->created);
	free(t->paid);
	free(t->expired);
}

/* ---- HTTP ---------------------------------------------------------------- */

/* One answer, with the order members read out of its JSON body. */
struct ans {
	int		 status;
	int		 code;
	bool		 repeat;
	long long	 pay_by;		/* -1 when absent */
	char		 order[ORDER_MAX];	/* "" when absent */
	char		 ostatus[16];
	char		 allow[128];
	char		 body[512];
};

static void
json_str(const char *body, const char *key, char *out, size_t outsz)
{
	char		 pat[32];
	const char	*p;
	size_t		 n;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	out[0] = '\0';
	if ((p = strstr(body, pat)) == NULL)
		return;
	p += strlen(pat);
	n = strcspn(p, "\"");
	snprintf(out, outsz, "%.*s", (int)n, p);
}

static long long
json_ll(const char *body, const char *key)
{
	char		 pat[32];
	const char	*p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(body, pat)) == NULL)
		return -1;
	return strtoll(p + strlen(pat), NULL, 10);
}

/*
 * One request on h; form, if given, is sent as a urlencoded POST body.
 * Thread-safe (no Check assertions); false with err on transport errors.
 */
static bool
call(struct rig_http *h, const char *method, const char *target,
    const char *form, struct ans *a, char *err, size_t errsz)
{
	struct rig_reply rep;

	memset(a, 0, sizeof(*a));
	if (!rig_http_request(h, method, target, form ? FORM : NULL, form,
	    form ? strlen(form) : 0, &rep, err, errsz))
		return false;
	a->status = rep.status;
	a->code = rep.code;
	snprintf(a->body, sizeof(a->body), "%.500s", rep.body);
	snprintf(a->allow, sizeof(a->allow), "%s", rep.allow);
	json_str(rep.body, "order", a->order, sizeof(a->order));
	json_str(rep.body, "status", a->ostatus, sizeof(a->ostatus));
	a->pay_by = json_ll(rep.body, "pay_by");
	a->repeat = strstr(rep.body, "\"repeat\":true") != NULL;
	return true;
}

/* POST /pay for user and order in a form body. */
static bool
pay(struct rig_http *h, const char *user, const char *order, struct ans *a,
    char *err, size_t errsz)
{
	char	 form[128];

	snprintf(form, sizeof(form), "user=%s&order=%s", user, order);
	return call(h, "POST", "/pay", form, a, err, errsz);
}

/* call() in the test's own thread: fails the test on transport errors. */
static void
must(struct rig_http *h, const char *method, const char *target,
    const char *form, struct ans *a)
{
	char	 err[256];

	ck_assert_msg(call(h, method, target, form, a, err, sizeof(err)),
	    "%s", err);
}

static void
must_buy(struct rig_http *h, const char *user, struct ans *a)
{
	char	 target[96];

	snprintf(target, sizeof(target), "/buy/ticket?user=%.64s", user);
	must(h, "GET", target, NULL, a);
}

static void
must_pay(struct rig_http *h, const char *user, const char *order,
    struct ans *a)
{
	char	 err[256];

	ck_assert_msg(pay(h, user, order, a, err, sizeof(err)), "%s", err);
}

/* A thread's first error, kept for the failure message. */
struct first_error {
	pthread_mutex_t	 lock;
	char		 text[512];
	atomic_uint	 count;
};

static void __attribute__((format(printf, 2, 3)))
note_error(struct first_error *e, const char *fmt, ...)
{
	va_list	 ap;

	atomic_fetch_add(&e->count, 1);
	pthread_mutex_lock(&e->lock);
	if (e->text[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(e->text, sizeof(e->text), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&e->lock);
}

/* ---- one user, five requests at once ------------------------------------- */

#define CC_STOCK	200
#define CC_USERS	400
#define CC_EACH		5
#define CC_GROUPS	8	/* 8 groups of CC_EACH: 40 connections */

struct cc_result {
	int		 status;	/* 0: no answer */
	int		 code;
	bool		 repeat;
	char		 order[ORDER_MAX];
};

struct cc_shared {
	int			 port;
	struct cc_result	 res[CC_USERS][CC_EACH];
	struct first_error	 err;
};

struct cc_thread {
	pthread_t		 thread;
	struct cc_shared	*sh;
	pthread_barrier_t	*go;	/* the group's */
	int			 group, slot;
};

/* A group's CC_EACH threads send one user's requests at the same time. */
static void *
cc_main(void *arg)
{
	struct cc_thread	*t = arg;
	struct rig_http		 h;
	struct ans		 a;
	char			 target[64], err[256];

	rig_http_init(&h, t->sh->port);
	for (int u = t->group; u < CC_USERS; u += CC_GROUPS) {
		struct cc_result *res = &t->sh->res[u][t->slot];

		snprintf(target, sizeof(target), "/buy/ticket?user=cc%d", u);
		pthread_barrier_wait(t->go);
		if (!call(&h, "GET", target, NULL, &a, err, sizeof(err))) {
			note_error(&t->sh->err, "%s", err);
			continue;
		}
		res->status = a.status;
		res->code = a.code;
		res->repeat = a.repeat;
		snprintf(res->order, sizeof(res->order), "%s", a.order);
	}
	rig_http_close(&h);
	return NULL;
}

START_TEST(test_same_user_concurrent)
{
	static struct cc_shared	 sh;
	struct cc_thread	 th[CC_GROUPS * CC_EACH];
	pthread_barrier_t	 go[CC_GROUPS];
	struct rig		 r;
	redisContext		*c;
	int			 winners = 0, codes[3] = { 0 };
	long long		 sold;
	char			 key[64], buf[64];

	start(&r, SYNC_MS, CC_STOCK, NULL);
	memset(&sh, 0, sizeof(sh));
	pthread_mutex_init(&sh.err.lock, NULL);
	sh.port = r.http_port;
	for (int g = 0; g < CC_GROUPS; g++)
		pthread_barrier_init(&go[g], NULL, CC_EACH);
	for (int i = 0; i < CC_GROUPS * CC_EACH; i++) {
		th[i] = (struct cc_thread){ .sh = &sh, .go = &go[i / CC_EACH],
		    .group = i / CC_EACH, .slot = i % CC_EACH };
		ck_assert(pthread_create(&th[i].thread, NULL, cc_main,
		    &th[i]) == 0);
	}
	for (int i = 0; i < CC_GROUPS * CC_EACH; i++)
		pthread_join(th[i].thread, NULL);
	for (int g = 0; g < CC_GROUPS; g++)
		pthread_barrier_destroy(&go[g]);
	ck_assert_msg(sh.err.count == 0, "%u transport errors, first: %s",
	    sh.err.count, sh.err.text);

	c = rig_ck_redis(&r);
	for (int u = 0; u < CC_USERS; u++) {
		const char	*order = NULL;
		int		 fresh = 0, won = 0;

		for (int k = 0; k < CC_EACH; k++) {
			struct cc_result *res = &sh.res[u][k];

			ck_assert_msg(res->status == 200 && (res->code == 1 ||
			    res->code == -1), "user cc%d request %d: HTTP %d "
			    "code %d", u, k, res->status, res->code);
			codes[res->code == 1]++;
			if (res->code != 1)
				continue;
			won++;
			ck_assert_msg(res->order[0] != '\0', "user cc%d: code "
			    "1 without an order", u);
			if (order == NULL)
				order = res->order;
			ck_assert_msg(strcmp(order, res->order) == 0, "user "
			    "cc%d got orders %s and %s", u, order, res->order);
			fresh += !res->repeat;
		}
		snprintf(key, sizeof(key), K ":user:cc%d", u);
		if (won == 0) {
			ck_assert_int_eq(INT(c, "ZCARD", key), 0);
			continue;
		}
		winners++;
		ck_assert_msg(fresh == 1, "user cc%d: %d code 1 answers "
		    "without \"repeat\", want exactly 1", u, fresh);
		ck_assert_int_eq(INT(c, "ZCARD", key), 1);
		ck_assert_int_ne(INT(c, "ZSCORE", key, order), -1);
		snprintf(buf, sizeof(buf), "cc%d", u);
		{
			char	 owner[64];

			ck_assert_str_eq(order_field(c, order, "user", owner,
			    sizeof(owner)), buf);
		}
	}
	sold = sold_of(c);	/* not in the message: see rig.h */
	ck_assert_msg(winners == CC_STOCK && sold == CC_STOCK,
	    "%d users won, Redis sold %lld, stock %d (code 1: %d, "
	    "code -1: %d)", winners, sold, CC_STOCK, codes[1], codes[0]);
	ck_assert_int_eq(rig_ck_orders_made(c), CC_STOCK);
	ck_assert_int_eq(INT(c, "ZCARD", PENDING), CC_STOCK);
	assert_invariant(c);
	redisFree(c);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* ---- the storm ------------------------------------------------------------ */

#define ST_STOCK	150
#define ST_POOL		600	/* users */
#define ST_CONNS	16
#define ST_MS		4000	/* of buying */
#define ST_ANON_EVERY	25	/* every 25th buy is anonymous */
#define ST_ORDERS_MAX	20000
#define ST_LATE_MAX	8192
#define ST_SAMPLE_MS	100
#define ST_SOLD_OUT_NAP_MS 8	/* bounds the load once sold out */

struct late_pay {
	char		 user[24];
	char		 order[ORDER_MAX];
	long		 index;		/* in struct storm's ids */
	long long	 due;		/* unix ms: PAY_LATE_MS after pay_by */
};

struct storm {
	int		 http_port, redis_port;
	atomic_bool	 stop_buying, stop_sampling;
	atomic_uint	 next;
	atomic_uint	 requests, orders, anon, repeats, sold_out;
	atomic_uint	 paid, paid_repeat, paid_refused_in_time;
	atomic_uint	 late_refused, others_refused;
	/* the orders answered as new, by the index of their answer */
	char		 ids[ST_ORDERS_MAX][ORDER_MAX];
	unsigned char	 paid_ok[ST_ORDERS_MAX];	/* 200 to a pay */
	unsigned char	 late[ST_ORDERS_MAX];	/* paid too late */
	struct first_error err;
	/* the late payer's queue */
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct late_pay	 queue[ST_LATE_MAX];
	size_t		 head, tail;
	bool		 queue_closed;
	/* the sampler's figures */
	unsigned int	 samples;
	long long	 max_sold;
	unsigned int	 violations;
	char		 violation[512];
};

/*
 * What to do with a new order: by the index of its answer, so every kind
 * occurs.  A
 * payment at once may still come after pay_by on a loaded machine: then
 * it must be refused, and its answer comes after pay_by (Redis's clock
 * is this host's).
 */
static void
storm_settle(struct storm *s, struct rig_http *h, const char *user,
    const char *order, long id, long long pay_by)
{
	struct ans	 a;
	char		 err[256], other[32];

	switch (id % 10) {
	case 0: case 1: case 2: case 3:		/* pay at once */
		if (!pay(h, user, order, &a, err, sizeof(err))) {
			note_error(&s->err, "pay: %s", err);
			return;
		}
		if (a.status == 200 && a.code == 1 && !a.repeat &&
		    strcmp(a.order, order) == 0 &&
		    strcmp(a.ostatus, "paid") == 0) {
			atomic_fetch_add(&s->paid, 1);
			s->paid_ok[id] = 1;
		} else if (a.status == 409 && strstr(a.body, "expired") &&
		    wall_ms() >= pay_by)
			atomic_fetch_add(&s->paid_refused_in_time, 1);
		else {
			note_error(&s->err, "pay in time of %s by %s: %d %s",
			    order, user, a.status, a.body);
			return;
		}
		if (id % 10 == 3 && s->paid_ok[id]) {	/* and again */
			if (!pay(h, user, order, &a, err, sizeof(err)))
				note_error(&s->err, "pay: %s", err);
			else if (a.status == 200 && a.code == 1 && a.repeat)
				atomic_fetch_add(&s->paid_repeat, 1);
			else
				note_error(&s->err, "second pay of %s: %d %s",
				    order, a.status, a.body);
		}
		break;
	case 4: case 5:				/* pay too late */
		pthread_mutex_lock(&s->lock);
		if (s->tail - s->head < ST_LATE_MAX) {
			struct late_pay	*l = &s->queue[s->tail++ %
					    ST_LATE_MAX];

			snprintf(l->user, sizeof(l->user), "%s", user);
			snprintf(l->order, sizeof(l->order), "%s", order);
			l->index = id;
			l->due = pay_by + PAY_LATE_MS;
			pthread_cond_signal(&s->cond);
		}
		pthread_mutex_unlock(&s->lock);
		break;
	case 6:					/* another user pays it */
		snprintf(other, sizeof(other), "x%s", user);
		if (!pay(h, other, order, &a, err, sizeof(err)))
			note_error(&s->err, "pay: %s", err);
		else if (a.status == 404 && a.code == -7 &&
		    strstr(a.body, "no such order"))	/* as if none */
			atomic_fetch_add(&s->others_refused, 1);
		else
			note_error(&s->err, "%s paid %s's order %s: %d %s",
			    other, user, order, a.status, a.body);
		break;
	default:				/* left to expire */
		break;
	}
}

static void *
storm_buyer(void *arg)
{
	struct storm	*s = arg;
	struct rig_http	 h;
	struct ans	 a;
	char		 target[64], user[24], err[256];
	unsigned int	 k;
	long		 id;

	rig_http_init(&h, s->http_port);
	while (!atomic_load(&s->stop_buying)) {
		k = atomic_fetch_add(&s->next, 1);
		bool anon = k % ST_ANON_EVERY == ST_ANON_EVERY - 1;

		snprintf(user, sizeof(user), "st%u", k % ST_POOL);
		snprintf(target, sizeof(target), "/buy/ticket%s%s",
		    anon ? "" : "?user=", anon ? "" : user);
		atomic_fetch_add(&s->requests, 1);
		if (!call(&h, "GET", target, NULL, &a, err, sizeof(err))) {
			note_error(&s->err, "buy: %s", err);
			rig_sleep_ms(10);
			continue;
		}
		if (a.status == 200 && a.code == -1) {
			atomic_fetch_add(&s->sold_out, 1);
			rig_sleep_ms(ST_SOLD_OUT_NAP_MS);
			continue;
		}
		if (a.status != 200 || a.code != 1) {
			note_error(&s->err, "buy by %s: %d %s", anon ? "-" :
			    user, a.status, a.body);
			continue;
		}
		if (anon) {
			if (a.order[0] != '\0')
				note_error(&s->err, "anonymous buy got order "
				    "%s", a.order);
			atomic_fetch_add(&s->anon, 1);
			continue;
		}
		if (a.repeat) {
			atomic_fetch_add(&s->repeats, 1);
			continue;
		}
		if (!order_id_ok(a.order) || a.pay_by <= 0) {
			note_error(&s->err, "order \"%s\" for %s: %s", a.order,
			    user, a.body);
			continue;
		}
		/* A duplicate id shows as an index without its event. */
		id = (long)atomic_fetch_add(&s->orders, 1);
		if (id >= ST_ORDERS_MAX) {
			note_error(&s->err, "over %d orders", ST_ORDERS_MAX);
			continue;
		}
		snprintf(s->ids[id], ORDER_MAX, "%s", a.order);
		storm_settle(s, &h, user, a.order, id, a.pay_by);
	}
	rig_http_close(&h);
	return NULL;
}

/* Pays the queued orders after their time: each must be refused. */
static void *
storm_late_payer(void *arg)
{
	struct storm	*s = arg;
	struct rig_http	 h;
	struct late_pay	 l;
	struct ans	 a;
	char		 err[256];
	long long	 now;

	rig_http_init(&h, s->http_port);
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (s->head == s->tail && !s->queue_closed)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->head == s->tail) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		l = s->queue[s->head++ % ST_LATE_MAX];
		pthread_mutex_unlock(&s->lock);
		if ((now = wall_ms()) < l.due)
			rig_sleep_ms((unsigned int)(l.due - now) + 1);
		if (!pay(&h, l.user, l.order, &a, err, sizeof(err)))
			note_error(&s->err, "late pay: %s", err);
		else if (a.status == 409 && a.code == -8 &&
		    strstr(a.body, "expired")) {
			atomic_fetch_add(&s->late_refused, 1);
			s->late[l.index] = 1;
		} else
			note_error(&s->err, "late pay of %s by %s, %d ms "
			    "after its pay_by, answered %d %s", l.order,
			    l.user, PAY_LATE_MS, a.status, a.body);
	}
	rig_http_close(&h);
	return NULL;
}

/* Reads the invariant atomically every ST_SAMPLE_MS while the storm runs. */
static void *
storm_sampler(void *arg)
{
	struct storm	*s = arg;
	redisContext	*c = rig_redis_open(s->redis_port);
	struct inv	 v;
	char		 why[512];

	if (c == NULL || c->err) {
		note_error(&s->err, "sampler: cannot connect to Redis");
		redisFree(c);
		return NULL;
	}
	while (!atomic_load(&s->stop_sampling)) {
		if (!inv_read(c, &v, why, sizeof(why))) {
			note_error(&s->err, "sampler: %s", why);
			break;
		}
		s->samples++;
		if (v.sold > s->max_sold)
			s->max_sold = v.sold;
		if (!inv_holds(&v, why, sizeof(why)) && s->violations++ == 0)
			snprintf(s->violation, sizeof(s->violation), "%s",
			    why);
		rig_sleep_ms(ST_SAMPLE_MS);
	}
	redisFree(c);
	return NULL;
}

START_TEST(test_storm)
{
	static struct storm	 s;
	pthread_t		 buyers[ST_CONNS], late_payer, sampler;
	struct rig		 r;
	redisContext		*c;
	struct tally		 t;
	long long		 created, sold, expired = 0, paid = 0;
	long long		 returned, resold;
	double			 t0;

	start(&r, SYNC_MS, ST_STOCK, "pay_timeout_s = 1\n");
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.err.lock, NULL);
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	s.http_port = r.http_port;
	s.redis_port = r.redis.port;
	ck_assert(pthread_create(&sampler, NULL, storm_sampler, &s) == 0);
	ck_assert(pthread_create(&late_payer, NULL, storm_late_payer, &s) ==
	    0);
	for (int i = 0; i < ST_CONNS; i++)
		ck_assert(pthread_create(&buyers[i], NULL, storm_buyer, &s) ==
		    0);
	t0 = rig_now_ms();
	while (rig_now_ms() - t0 < ST_MS && s.err.count == 0)
		rig_sleep_ms(50);
	atomic_store(&s.stop_buying, true);
	for (int i = 0; i < ST_CONNS; i++)
		pthread_join(buyers[i], NULL);
	pthread_mutex_lock(&s.lock);
	s.queue_closed = true;
	pthread_cond_signal(&s.cond);
	pthread_mutex_unlock(&s.lock);
	pthread_join(late_payer, NULL);

	/* Let every unpaid order expire, sampling all along. */
	c = rig_ck_redis(&r);
	wait_no_pending(c, EXPIRY_WAIT_MS);
	rig_sleep_ms(2 * ST_SAMPLE_MS);
	atomic_store(&s.stop_sampling, true);
	pthread_join(sampler, NULL);
	ck_assert_msg(s.err.count == 0, "%u errors, first: %s", s.err.count,
	    s.err.text);

	created = rig_ck_orders_made(c);
	sold = sold_of(c);
	ck_assert_int_eq(created, s.orders);
	tally_events(c, &t, s.ids, created);
	ck_assert_msg(t.bad[0] == '\0' && t.other == 0, "events: %s, %lld "
	    "of unknown kinds", t.bad, t.other);
	for (long long id = 0; id < created; id++) {
		const char	*buf = s.ids[id];

		ck_assert_msg(t.created[id] == 1, "order %s: %d created "
		    "events (answered as new twice?)", buf, t.created[id]);
		ck_assert_msg(t.paid[id] + t.expired[id] == 1, "order %s "
		    "ended with %d paid and %d expired events", buf,
		    t.paid[id], t.expired[id]);
		ck_assert_msg(t.paid[id] == s.paid_ok[id], "order %s: %d "
		    "paid events, payment answered %s", buf, t.paid[id],
		    s.paid_ok[id] ? "200" : "no 200");
		ck_assert_msg(!s.late[id] || t.expired[id] == 1, "order %s "
		    "was refused late but did not expire", buf);
		{
			char	 st[32];

			ck_assert_str_eq(order_field(c, buf, "status", st,
			    sizeof(st)), t.paid[id] ? "paid" : "expired");
		}
		paid += t.paid[id];
		expired += t.expired[id];
	}
	ck_assert_int_eq(created, s.orders);
	ck_assert_int_eq(paid, s.paid);
	ck_assert_int_eq(INT(c, "GET", K ":anonymous"), s.anon);
	/*
	 * Every sale added one to sold, every return took one away: what was
	 * returned is what was sold minus what is sold now, and each return
	 * is one "expired" event, so no ticket came back twice.
	 */
	returned = created + (long long)s.anon - sold;
	resold = created + (long long)s.anon - ST_STOCK;
	ck_assert_msg(returned == expired, "sold %lld of %lld + %u "
	    "anonymous sales: %lld returned, but %lld expired events", sold,
	    created, s.anon, returned, expired);
	ck_assert_int_eq(sold, paid + s.anon);
	ck_assert_msg(s.max_sold <= ST_STOCK && sold <= ST_STOCK,
	    "sold %lld (max seen %lld) of %d", sold, s.max_sold, ST_STOCK);
	ck_assert_msg(s.violations == 0, "invariant broken in %u of %u "
	    "samples, first: %s", s.violations, s.samples, s.violation);
	ck_assert_msg(s.samples >= ST_MS / budget_ms(2 * ST_SAMPLE_MS),
	    "only %u samples", s.samples);
	assert_invariant(c);
	printf("storm: %u requests, %lld orders created, %u anonymous, "
	    "%lld paid (%u paid twice), %lld expired, %lld tickets returned, "
	    "%lld resold; refused: %u late pays, %u pays of others' orders, "
	    "%u pays near the deadline; %u repeats, %u sold-out answers; "
	    "invariant held in %u samples, max sold %lld of %d, final sold "
	    "%lld\n", s.requests, created, s.anon, paid, s.paid_repeat,
	    expired, returned, resold, s.late_refused, s.others_refused,
	    s.paid_refused_in_time, s.repeats, s.sold_out, s.samples,
	    s.max_sold, ST_STOCK, sold);
	fflush(stdout);
	/* The storm must have exercised what it is about. */
	ck_assert_msg(resold > 0 && s.late_refused > 0 &&
	    s.others_refused > 0 && paid > 0 && expired > 0,
	    "the storm did not sell returned tickets, pay late, pay others' "
	    "orders, pay and expire");
	tally_free(&t);
	redisFree(c);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* ---- a payment racing its own expiry ------------------------------------ */

#define RACE_ORDERS	40
#define RACE_THREADS	8
#define RACE_SPREAD_MS	300	/* pay from pay_by - 300 to pay_by + 300 */
#define RACE_NEAR_MS	20	/* half of them within 20 ms of pay_by */

struct race_order {
	char		 user[16];
	char		 order[ORDER_MAX];
	long long	 pay_by;	/* unix ms */
	long long	 at;		/* when to pay, unix ms */
	long long	 sent;		/* when it was sent */
	long long	 answered;	/* when its answer came */
	int		 status, code;
	char		 body[256];
};

struct race {
	int		 port;
	int		 index;
	struct race_order *orders;
	struct first_error *err;
};

static void *
race_payer(void *arg)
{
	struct race	*rc = arg;
	struct rig_http	 h;
	struct ans	 a;
	char		 err[256];
	long long	 now;

	rig_http_init(&h, rc->port);
	for (int i = rc->index; i < RACE_ORDERS; i += RACE_THREADS) {
		struct race_order *o = &rc->orders[i];

		if ((now = wall_ms()) < o->at)
			rig_sleep_ms((unsigned int)(o->at - now));
		o->sent = wall_ms();
		if (!pay(&h, o->user, o->order, &a, err, sizeof(err))) {
			note_error(rc->err, "pay: %s", err);
			continue;
		}
		o->answered = wall_ms();
		o->status = a.status;
		o->code = a.code;
		snprintf(o->body, sizeof(o->body), "%.250s", a.body);
	}
	rig_http_close(&h);
	return NULL;
}

static int
race_by_time(const void *a, const void *b)
{
	const struct race_order	*x = a, *y = b;

	return (x->at > y->at) - (x->at < y->at);
}

START_TEST(test_pay_races_expiry)
{
	static struct race_order orders[RACE_ORDERS];
	struct first_error	 err = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct race		 rc[RACE_THREADS];
	pthread_t		 th[RACE_THREADS];
	struct rig		 r;
	struct rig_http		 h;
	struct ans		 a;
	redisContext		*c;
	int			 paid = 0, refused = 0, near = 0, near_paid = 0;
	char			 st[32];

	start(&r, SYNC_MS, 1000, "pay_timeout_s = 1\n");
	rig_http_init(&h, r.http_port);
	for (int i = 0; i < RACE_ORDERS; i++) {
		struct race_order *o = &orders[i];

		snprintf(o->user, sizeof(o->user), "race%d", i);
		must_buy(&h, o->user, &a);
		ck_assert_msg(a.status == 200 && a.code == 1 && a.order[0],
		    "buy: %d %s", a.status, a.body);
		snprintf(o->order, sizeof(o->order), "%s", a.order);
		o->pay_by = a.pay_by;
		if (i % 2 == 0)
			o->at = o->pay_by - RACE_SPREAD_MS +
			    2 * RACE_SPREAD_MS * i / (RACE_ORDERS - 2);
		else
			o->at = o->pay_by - RACE_NEAR_MS +
			    2 * RACE_NEAR_MS * i / (RACE_ORDERS - 1);
	}
	rig_http_close(&h);
	/* Each payer thread takes every RACE_THREADS-th, in time order. */
	qsort(orders, RACE_ORDERS, sizeof(orders[0]), race_by_time);
	for (int i = 0; i < RACE_THREADS; i++) {
		rc[i] = (struct race){ r.http_port, i, orders, &err };
		ck_assert(pthread_create(&th[i], NULL, race_payer, &rc[i]) ==
		    0);
	}
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	ck_assert_msg(err.count == 0, "%s", err.text);

	c = rig_ck_redis(&r);
	wait_no_pending(c, EXPIRY_WAIT_MS);
	for (int i = 0; i < RACE_ORDERS; i++) {
		struct race_order *o = &orders[i];
		char		   paid_ev[64], user_key[64];
		struct tally	   t;
		long long	   id = 0;	/* the one order tallied */

		order_field(c, o->order, "status", st, sizeof(st));
		snprintf(user_key, sizeof(user_key), K ":user:%.15s", o->user);
		tally_events(c, &t, &o->order, 1);
		snprintf(paid_ev, sizeof(paid_ev), "order %s (sent %+lld ms "
		    "from pay_by)", o->order, o->sent - o->pay_by);
		if (llabs(o->sent - o->pay_by) <= RACE_NEAR_MS) {
			near++;
			near_paid += o->status == 200;
		}
		if (o->status == 200 && o->code == 1) {
			paid++;
			ck_assert_msg(strcmp(st, "paid") == 0 &&
			    t.paid[id] == 1 && t.expired[id] == 0, "%s: paid, "
			    "but status %s, %d paid / %d expired events",
			    paid_ev, st, t.paid[id], t.expired[id]);
			ck_assert_int_eq(INT(c, "ZCARD", user_key), 1);
			ck_assert_msg(o->sent <= o->pay_by, "%s: paid after "
			    "its pay_by", paid_ev);
		} else {
			refused++;
			ck_assert_msg(o->status == 409 && o->code == -8 &&
			    strstr(o->body, "expired"), "%s: %d %s", paid_ev,
			    o->status, o->body);
			ck_assert_msg(strcmp(st, "expired") == 0 &&
			    t.paid[id] == 0 && t.expired[id] == 1, "%s: "
			    "refused, but status %s, %d paid / %d expired "
			    "events", paid_ev, st, t.paid[id], t.expired[id]);
			ck_assert_int_eq(INT(c, "ZCARD", user_key), 0);
		}
		/*
		 * Redis's clock is this host's: a payment made before pay_by
		 * was sent before it, a refusal came after it, however long
		 * the trip took.
		 */
		ck_assert_msg(o->answered >= o->pay_by ||
		    strcmp(st, "paid") == 0, "%s: refused %lld ms before its "
		    "pay_by: %s", paid_ev, o->pay_by - o->answered, o->body);
		tally_free(&t);
	}
	/* The stock: paid tickets stay sold, the others came back once. */
	ck_assert_int_eq(sold_of(c), paid);
	ck_assert_int_eq(rig_ck_orders_made(c), RACE_ORDERS);
	ck_assert_msg(paid > 0 && refused > 0, "paid %d, refused %d: no "
	    "race around the deadline", paid, refused);
	printf("pay vs expiry: %d orders paid, %d refused and expired; of "
	    "the %d payments sent within %d ms of pay_by, %d paid, %d "
	    "refused\n", paid, refused, near, RACE_NEAR_MS, near_paid,
	    near - near_paid);
	assert_invariant(c);
	redisFree(c);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* ---- the event stream ----------------------------------------------------- */

#define EV_USERS	10
#define EV_PAYING	4

START_TEST(test_event_stream)
{
	struct rig	 r;
	struct rig_http	 h;
	struct ans	 a;
	redisContext	*c;
	redisReply	*rep;
	struct tally	 t;
	char		 user[16], orders[EV_USERS][ORDER_MAX];
	char		 inst[RIG_INSTANCES][32];
	size_t		 got = 0;

	start(&r, SYNC_MS, 100, "pay_timeout_s = 1\n");
	for (int i = 0; i < RIG_INSTANCES; i++)
		snprintf(inst[i], sizeof(inst[i]), "127.0.0.1:%d",
		    r.inst[i].port);
	rig_http_init(&h, r.http_port);
	for (int i = 0; i < EV_USERS; i++) {
		snprintf(user, sizeof(user), "ev%d", i);
		must_buy(&h, user, &a);
		ck_assert_msg(a.code == 1 && a.order[0], "%d %s", a.status,
		    a.body);
		snprintf(orders[i], sizeof(orders[i]), "%s", a.order);
		must_buy(&h, user, &a);			/* a repeat: no event */
		ck_assert(a.code == 1 && a.repeat);
	}
	for (int i = 0; i < EV_PAYING; i++) {
		snprintf(user, sizeof(user), "ev%d", i);
		must_pay(&h, user, orders[i], &a);
		ck_assert_msg(a.status == 200 && a.code == 1, "%s", a.body);
		must_pay(&h, user, orders[i], &a);	/* repeat: no event */
		ck_assert(a.status == 200 && a.repeat);
	}
	must_pay(&h, "nobody", orders[EV_PAYING], &a);	/* refused: none */
	ck_assert_int_eq(a.status, 404);
	rig_http_close(&h);
	c = rig_ck_redis(&r);
	wait_no_pending(c, EXPIRY_WAIT_MS);

	/* XRANGE: one created per order, one paid or expired per order. */
	tally_events(c, &t, orders, EV_USERS);
	ck_assert_msg(t.bad[0] == '\0', "%s", t.bad);
	ck_assert_int_eq(t.entries, 2 * EV_USERS);
	for (int id = 0; id < EV_USERS; id++) {
		int	 i = id;

		ck_assert_int_eq(t.created[id], 1);
		ck_assert_int_eq(t.paid[id], i < EV_PAYING);
		ck_assert_int_eq(t.expired[id], i >= EV_PAYING);
	}
	tally_free(&t);
	/* The created events name the user, a configured instance, pay_by. */
	rep = CMD(c, "XRANGE", EVENTS, "-", "+");
	for (size_t i = 0; i < rep->elements; i++) {
		redisReply	*f = rep->element[i]->element[1];
		bool		 known = false;

		if (strcmp(f->element[1]->str, "created") != 0)
			continue;
		ck_assert_int_eq(f->elements, 12);
		ck_assert_str_eq(f->element[4]->str, "user");
		snprintf(user, sizeof(user), "ev%lld",
		    order_index(orders, EV_USERS, f->element[3]->str));
		ck_assert_str_eq(f->element[5]->str, user);
		ck_assert_str_eq(f->element[6]->str, "instance");
		for (int k = 0; k < RIG_INSTANCES; k++)
			known = known || strcmp(f->element[7]->str,
			    inst[k]) == 0;
		ck_assert_msg(known, "instance %s", f->element[7]->str);
		ck_assert_str_eq(f->element[8]->str, "pay_by");
		ck_assert_int_gt(atoll(f->element[9]->str), 0);
		ck_assert_str_eq(f->element[10]->str, "item");
		ck_assert_str_eq(f->element[11]->str, RIG_STOCK_KEY);
	}
	freeReplyObject(rep);

	/* A consumer group reads them all; acknowledged, none pending. */
	freeReplyObject(CMD(c, "XGROUP", "CREATE", EVENTS, "billing", "0"));
	rep = CMD(c, "XREADGROUP", "GROUP", "billing", "c1", "COUNT", "1000",
	    "STREAMS", EVENTS, ">");
	ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
	{
		redisReply	*entries = rep->element[0]->element[1];

		for (size_t i = 0; i < entries->elements; i++) {
			ck_assert_int_eq(INT(c, "XACK", EVENTS, "billing",
			    entries->element[i]->element[0]->str), 1);
			got++;
		}
	}
	freeReplyObject(rep);
	ck_assert_int_eq(got, 2 * EV_USERS);
	rep = CMD(c, "XPENDING", EVENTS, "billing");
	ck_assert_int_eq(as_int(rep->element[0]), 0);
	freeReplyObject(rep);
	rep = CMD(c, "XREADGROUP", "GROUP", "billing", "c1", "COUNT", "1000",
	    "STREAMS", EVENTS, ">");
	ck_assert_int_eq(rep->type, REDIS_REPLY_NIL);
	freeReplyObject(rep);
	/* A new purchase is the group's next message. */
	rig_http_init(&h, r.http_port);
	must_buy(&h, "ev-late", &a);
	rig_http_close(&h);
	ck_assert_int_eq(a.code, 1);
	rep = CMD(c, "XREADGROUP", "GROUP", "billing", "c1", "COUNT", "1000",
	    "STREAMS", EVENTS, ">");
	ck_assert_int_eq(rep->element[0]->element[1]->elements, 1);
	{
		redisReply *f = rep->element[0]->element[1]->element[0]->
		    element[1];

		ck_assert_str_eq(f->element[1]->str, "created");
		ck_assert_str_eq(f->element[3]->str, a.order);
		ck_assert_int_eq(INT(c, "XACK", EVENTS, "billing",
		    rep->element[0]->element[1]->element[0]->element[0]->str),
		    1);
	}
	freeReplyObject(rep);
	rep = CMD(c, "XPENDING", EVENTS, "billing");
	ck_assert_int_eq(as_int(rep->element[0]), 0);
	freeReplyObject(rep);
	redisFree(c);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* ---- returned tickets are sold again ------------------------------------ */

#define RS_STOCK	20
#define RS_PAYING	5
#define RS_USERS_MAX	300
#define RS_WAIT_MS	EXPIRY_WAIT_MS	/* returned tickets reach a sync */

/*
 * Buy with new users named prefix<k> until Redis says sold == want;
 * returns the code 1 answers (all new orders, checked), *users the
 * buyers tried.  Fails the test after RS_WAIT_MS.
 */
static int
buy_until_sold(struct rig *r, redisContext *c, const char *prefix,
    long long want, char orders[][ORDER_MAX], int *users)
{
	struct rig_http	 h;
	struct ans	 a;
	char		 user[32];
	double		 end = rig_now_ms() + RS_WAIT_MS;
	int		 bought = 0;
	long long	 sold;

	rig_http_init(&h, r->http_port);
	for (*users = 0; (sold = sold_of(c)) < want; (*users)++) {
		ck_assert_msg(rig_now_ms() < end && *users < RS_USERS_MAX,
		    "sold %lld, want %lld, after %d buyers", sold, want,
		    *users);
		snprintf(user, sizeof(user), "%s%d", prefix, *users);
		must_buy(&h, user, &a);
		ck_assert_msg(a.status == 200 && (a.code == 1 ||
		    a.code == -1), "%s: %d %s", user, a.status, a.body);
		if (a.code == -1) {
			rig_sleep_ms(20);
			continue;
		}
		ck_assert_msg(!a.repeat && a.order[0] != '\0', "%s: %s", user,
		    a.body);
		ck_assert_int_lt(bought, RS_STOCK);
		snprintf(orders[bought++], ORDER_MAX, "%s", a.order);
	}
	rig_http_close(&h);
	return bought;
}

START_TEST(test_returned_tickets_resold)
{
	struct rig	 r;
	struct rig_http	 h;
	struct ans	 a;
	redisContext	*c;
	char		 first[RS_STOCK][ORDER_MAX], again[RS_STOCK][ORDER_MAX];
	char		 user[32], owner[32];
	int		 n, users, sold_to;
	long long	 returned;

	start(&r, SYNC_MS, RS_STOCK, "pay_timeout_s = 1\n");
	c = rig_ck_redis(&r);
	n = buy_until_sold(&r, c, "a", RS_STOCK, first, &users);
	ck_assert_int_eq(n, RS_STOCK);
	/* Pay for some; the others will expire. */
	rig_http_init(&h, r.http_port);
	for (int i = 0; i < RS_PAYING; i++) {
		must(&h, "GET", "/buy/ticket?user=zz", NULL, &a);
		ck_assert_msg(a.code == -1, "sold out, yet: %s", a.body);
		order_field(c, first[i], "user", owner, sizeof(owner));
		must_pay(&h, owner, first[i], &a);
		ck_assert_msg(a.status == 200 && a.code == 1, "%s", a.body);
	}
	rig_http_close(&h);
	wait_no_pending(c, EXPIRY_WAIT_MS);
	returned = RS_STOCK - sold_of(c);
	ck_assert_int_eq(returned, RS_STOCK - RS_PAYING);
	/* New users buy the returned tickets, no more. */
	sold_to = buy_until_sold(&r, c, "b", RS_STOCK, again, &users);
	ck_assert_int_eq(sold_to, returned);
	ck_assert_int_eq(sold_of(c), RS_STOCK);
	for (int i = 0; i < sold_to; i++) {
		order_field(c, again[i], "user", owner, sizeof(owner));
		ck_assert_msg(owner[0] == 'b', "order %s went to %s", again[i],
		    owner);
		for (int j = 0; j < RS_STOCK; j++)
			ck_assert_str_ne(again[i], first[j]);
	}
	/* And sold out again. */
	rig_http_init(&h, r.http_port);
	snprintf(user, sizeof(user), "b%d", users + 1);
	must_buy(&h, user, &a);
	rig_http_close(&h);
	ck_assert_msg(a.code == -1, "after the resale: %s", a.body);
	printf("resale: %d sold, %d paid, %lld returned by expiry and sold "
	    "again to %d new users (of %d tried)\n", RS_STOCK, RS_PAYING,
	    returned, sold_to, users);
	assert_invariant(c);
	redisFree(c);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* ---- another user's expired order --------------------------------------- */

/*
 * To anyone but its user an expired order is no order at all: paying it
 * is 404 -7, the very answer an id that does not exist gets, not the 409
 * -8 "expired" its own user is told, which would tell a prober the id
 * was once sold.  Neither pays anything.
 */
START_TEST(test_pay_others_expired_order)
{
	struct rig	 r;
	struct rig_http	 h;
	struct ans	 a, other, none;
	redisContext	*c;
	char		 order[ORDER_MAX], st[32];

	start(&r, SYNC_MS, 10, "pay_timeout_s = 1\n");
	c = rig_ck_redis(&r);
	rig_http_init(&h, r.http_port);
	must_buy(&h, "exp1", &a);
	ck_assert_msg(a.status == 200 && a.code == 1 && order_id_ok(a.order),
	    "%d %s", a.status, a.body);
	snprintf(order, sizeof(order), "%s", a.order);
	wait_no_pending(c, EXPIRY_WAIT_MS);
	ck_assert_str_eq(order_field(c, order, "status", st, sizeof(st)),
	    "expired");

	must_pay(&h, "exp2", order, &other);
	must_pay(&h, "exp2", "0123456789abcdef0123456789abcdef", &none);
	ck_assert_msg(none.status == 404 && none.code == -7, "no such order: "
	    "%d %s", none.status, none.body);
	ck_assert_msg(other.status == 404 && other.code == -7 &&
	    strcmp(other.body, none.body) == 0, "another user's expired "
	    "order: %d %s; no such order: %d %s", other.status, other.body,
	    none.status, none.body);
	must_pay(&h, "exp1", order, &a);
	ck_assert_msg(a.status == 409 && a.code == -8 &&
	    strstr(a.body, "expired") != NULL, "its own user: %d %s",
	    a.status, a.body);

	ck_assert_str_eq(order_field(c, order, "status", st, sizeof(st)),
	    "expired");
	ck_assert_int_eq(sold_of(c), 0);
	rig_http_close(&h);
	assert_invariant(c);
	redisFree(c);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* ---- an instance killed mid-sale ------------------------------------------ */

#define KILL_STOCK	600
#define KILL_AFTER	200
#define KILL_CONNS	16
#define KILL_USERS	3000
#define KILL_MS		budget_ms(30000)	/* bound by no timeout */

struct kill_load {
	int		 port;
	atomic_bool	 stop;
	atomic_uint	 next;
	atomic_uint	 answered;
	struct first_error err;
	struct {
		int	 code, status;
		bool	 repeat;
		char	 order[ORDER_MAX];
	} res[KILL_USERS];
};

static void *
kill_buyer(void *arg)
{
	struct kill_load *l = arg;
	struct rig_http	 h;
	struct ans	 a;
	char		 target[64], err[256];
	unsigned int	 k;

	rig_http_init(&h, l->port);
	while (!atomic_load(&l->stop) &&
	    (k = atomic_fetch_add(&l->next, 1)) < KILL_USERS) {
		snprintf(target, sizeof(target), "/buy/ticket?user=k%u", k);
		if (!call(&h, "GET", target, NULL, &a, err, sizeof(err))) {
			note_error(&l->err, "%s", err);
			continue;
		}
		l->res[k].status = a.status;
		l->res[k].code = a.code;
		l->res[k].repeat = a.repeat;
		snprintf(l->res[k].order, ORDER_MAX, "%s", a.order);
		atomic_fetch_add(&l->answered, 1);
		if (a.code == -1)
			rig_sleep_ms(5);
	}
	rig_http_close(&h);
	return NULL;
}

START_TEST(test_kill_loses_no_order)
{
	static struct kill_load	 l;
	pthread_t		 th[KILL_CONNS];
	struct rig		 r;
	redisContext		*c;
	double			 end;
	int			 bought = 0, repeats = 0, unavailable = 0;
	long long		 sold, orders;
	char			 user[32], owner[32], st[32];

	start(&r, 100, KILL_STOCK, NULL);
	c = rig_ck_redis(&r);
	memset(&l, 0, sizeof(l));
	pthread_mutex_init(&l.err.lock, NULL);
	l.port = r.http_port;
	for (int i = 0; i < KILL_CONNS; i++)
		ck_assert(pthread_create(&th[i], NULL, kill_buyer, &l) == 0);
	end = rig_now_ms() + KILL_MS;
	while (sold_of(c) < KILL_AFTER && rig_now_ms() < end)
		rig_sleep_ms(10);
	ck_assert_msg(rig_instance_kill(&r, 3, SIGKILL) &&
	    rig_instance_wait(&r, 3, BUDGET_TERM_MS, NULL, NULL), "%s", r.err);
	while (sold_of(c) < KILL_STOCK && rig_now_ms() < end &&
	    atomic_load(&l.next) < KILL_USERS)
		rig_sleep_ms(20);
	atomic_store(&l.stop, true);
	for (int i = 0; i < KILL_CONNS; i++)
		pthread_join(th[i], NULL);
	ck_assert_msg(l.err.count == 0, "%u transport errors, first: %s",
	    l.err.count, l.err.text);

	sold = sold_of(c);
	orders = rig_ck_orders_made(c);
	for (int k = 0; k < KILL_USERS; k++) {
		if (l.res[k].status == 0)
			continue;
		if (l.res[k].status == 503) {
			unavailable++;
			continue;
		}
		ck_assert_msg(l.res[k].status == 200 && (l.res[k].code == 1 ||
		    l.res[k].code == -1), "k%d: %d %d", k, l.res[k].status,
		    l.res[k].code);
		if (l.res[k].code != 1)
			continue;
		bought++;
		repeats += l.res[k].repeat;
		snprintf(user, sizeof(user), "k%d", k);
		/* Each user's own: no order is answered to two users. */
		ck_assert_msg(order_id_ok(l.res[k].order), "k%d: order \"%s\"",
		    k, l.res[k].order);
		ck_assert_str_eq(order_field(c, l.res[k].order, "user", owner,
		    sizeof(owner)), user);
		ck_assert_str_eq(order_field(c, l.res[k].order, "status", st,
		    sizeof(st)), "pending");
	}
	/* Every ticket sold was answered; every answer is an order. */
	ck_assert_msg(bought == sold && orders == sold, "%d code 1 answers, "
	    "%lld orders, sold %lld", bought, orders, sold);
	ck_assert_msg(sold == KILL_STOCK, "sold %lld of %d after the kill",
	    sold, KILL_STOCK);
	printf("kill: %d orders answered (%d as nginx retries), %d "
	    "answered 503, all %lld in Redis with their users\n", bought,
	    repeats, unavailable, sold);
	assert_invariant(c);
	redisFree(c);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* ---- /stock, /order, /pay and their refusals ----------------------------- */

#define STOCK_SYNC_MS	100

START_TEST(test_resources)
{
	struct rig	 r;
	struct rig_http	 h;
	struct ans	 a;
	redisContext	*c;
	char		 order[ORDER_MAX], target[96], form[96];
	long long	 pay_by, total, sold, sent;

	start(&r, STOCK_SYNC_MS, 50, NULL);
	c = rig_ck_redis(&r);
	rig_http_init(&h, r.http_port);

	/* /order: none yet, then pending, then paid. */
	must(&h, "GET", "/order?user=ord1", NULL, &a);
	ck_assert_msg(a.status == 404 && a.code == -7, "%d %s", a.status,
	    a.body);
	sent = wall_ms();
	must_buy(&h, "ord1", &a);
	ck_assert_msg(a.status == 200 && a.code == 1 &&
	    strcmp(a.ostatus, "pending") == 0 && a.pay_by > 0 && !a.repeat,
	    "%s", a.body);
	snprintf(order, sizeof(order), "%s", a.order);
	pay_by = a.pay_by;
	/* pay_timeout_s defaults to 300, from Redis's clock (this host's) */
	ck_assert_msg(pay_by >= sent + 300000 && pay_by <= wall_ms() +
	    300000, "pay_by %lld, sent %lld, now %lld", pay_by, sent,
	    wall_ms());
	must(&h, "GET", "/order?user=ord1", NULL, &a);
	ck_assert_msg(a.status == 200 && a.code == 1 &&
	    strcmp(a.order, order) == 0 && strcmp(a.ostatus, "pending") == 0 &&
	    a.pay_by == pay_by, "%s", a.body);
	must_pay(&h, "ord1", order, &a);
	ck_assert_msg(a.status == 200 && a.code == 1 &&
	    strcmp(a.order, order) == 0 && strcmp(a.ostatus, "paid") == 0 &&
	    a.pay_by == pay_by && !a.repeat, "%s", a.body);
	/* Pay again, this time with the parameters in the query string. */
	snprintf(target, sizeof(target), "/pay?user=ord1&order=%s", order);
	must(&h, "POST", target, NULL, &a);
	ck_assert_msg(a.status == 200 && a.code == 1 && a.repeat &&
	    strcmp(a.ostatus, "paid") == 0, "%s", a.body);
	must(&h, "GET", "/order?user=ord1", NULL, &a);
	ck_assert_msg(a.status == 200 && strcmp(a.order, order) == 0 &&
	    strcmp(a.ostatus, "paid") == 0, "%s", a.body);
	must(&h, "GET", "/order?user=nobody", NULL, &a);
	ck_assert_msg(a.status == 404 && a.code == -7, "%s", a.body);
	must(&h, "GET", "/order", NULL, &a);
	ck_assert_msg(a.status == 400 && a.code == -3, "%s", a.body);

	/* /pay refusals. */
	must(&h, "GET", "/pay?user=ord1&order=1", NULL, &a);
	ck_assert_msg(a.status == 405 && a.code == -5 &&
	    strcmp(a.allow, "POST") == 0, "GET /pay: %d Allow \"%s\" %s",
	    a.status, a.allow, a.body);
	must(&h, "POST", "/pay", "user=ord1", &a);
	ck_assert_msg(a.status == 400 && a.code == -3, "%s", a.body);
	snprintf(form, sizeof(form), "order=%s", order);
	must(&h, "POST", "/pay", form, &a);
	ck_assert_msg(a.status == 400 && a.code == -3, "%s", a.body);
	must(&h, "POST", "/pay", "user=ord1&order=12g", &a);
	ck_assert_msg(a.status == 400 && a.code == -3, "%s", a.body);
	must(&h, "POST", "/pay", "user=ord1&order=12A", &a);
	ck_assert_msg(a.status == 400 && a.code == -3, "%s", a.body);
	must_pay(&h, "ord1", "99999", &a);
	ck_assert_msg(a.status == 404 && a.code == -7, "%s", a.body);
	/*
	 * Another user's order is answered exactly as an order that does
	 * not exist, so /pay tells nobody which ids are taken.
	 */
	{
		struct ans	 none;

		must_pay(&h, "ord2", order, &a);
		must_pay(&h, "ord2", "0123456789abcdef0123456789abcdef", &none);
		ck_assert_msg(a.status == 404 && a.code == -7 &&
		    strcmp(a.body, none.body) == 0, "another's order: %d %s; "
		    "no order: %d %s", a.status, a.body, none.status,
		    none.body);
	}
	must(&h, "POST", "/order?user=ord1", "", &a);
	ck_assert_msg(a.status == 405 && strcmp(a.allow, "GET") == 0, "%s",
	    a.body);
	must(&h, "POST", "/stock", "", &a);
	ck_assert_msg(a.status == 405 && strcmp(a.allow, "GET") == 0, "%s",
	    a.body);

	/* Anonymous purchases are allowed by default: no order. */
	must(&h, "GET", "/buy/ticket", NULL, &a);
	ck_assert_msg(a.status == 200 && a.code == 1 && a.order[0] == '\0',
	    "%s", a.body);
	for (int i = 0; i < 5; i++) {
		snprintf(target, sizeof(target), "/buy/ticket?user=stk%d", i);
		must(&h, "GET", target, NULL, &a);
		ck_assert_int_eq(a.code, 1);
	}

	/* /stock: quiet now; after a sync every instance shows Redis's. */
	rig_sleep_ms(BUDGET_SYNC_MS(STOCK_SYNC_MS,
	    CONF_DEFAULT_REDIS_TIMEOUT_MS));
	ck_assert_msg(rig_sale_get(&r, &total, &sold), "%s", r.err);
	ck_assert_int_eq(sold, 7);
	for (int i = 0; i < 20; i++) {
		struct rig_http	 fresh;

		rig_http_init(&fresh, r.http_port);
		must(&fresh, "GET", "/stock", NULL, &a);
		rig_http_close(&fresh);
		ck_assert_msg(a.status == 200 && a.code == 1 &&
		    json_ll(a.body, "total") == total &&
		    json_ll(a.body, "sold") == sold &&
		    json_ll(a.body, "remaining") == total - sold,
		    "GET /stock %s, Redis total %lld sold %lld", a.body, total,
		    sold);
	}
	rig_http_close(&h);
	assert_invariant(c);
	redisFree(c);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

START_TEST(test_anonymous_refused)
{
	struct rig	 r;
	struct rig_http	 h;
	struct ans	 a;
	redisContext	*c;

	start(&r, SYNC_MS, 10, "allow_anonymous = no\n");
	c = rig_ck_redis(&r);
	rig_http_init(&h, r.http_port);
	must(&h, "GET", "/buy/ticket", NULL, &a);
	ck_assert_msg(a.status == 400 && a.code == -3 &&
	    strstr(a.body, "user required"), "%d %s", a.status, a.body);
	must(&h, "POST", "/buy/ticket", "note=1", &a);
	ck_assert_msg(a.status == 400 && a.code == -3, "%s", a.body);
	ck_assert_int_eq(sold_of(c), 0);
	must(&h, "POST", "/buy/ticket", "user=named", &a);
	ck_assert_msg(a.status == 200 && a.code == 1 && a.order[0] != '\0',
	    "%s", a.body);
	ck_assert_int_eq(sold_of(c), 1);
	ck_assert_int_eq(INT(c, "EXISTS", K ":anonymous"), 0);
	rig_http_close(&h);
	redisFree(c);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/*
 * A user who holds an order and asks again is answered with that order
 * as it stands, "repeat":true, and nothing sold: pending before the
 * payment, paid after it, from every instance.
 */
START_TEST(test_repeat_after_pay)
{
	struct rig	 r;
	struct rig_http	 h;
	struct ans	 a, first;
	redisContext	*c;

	start(&r, 50, 10, NULL);
	c = rig_ck_redis(&r);
	rig_http_init(&h, r.http_port);
	must_buy(&h, "payer", &first);
	ck_assert_msg(first.code == 1 && !first.repeat &&
	    strcmp(first.ostatus, "pending") == 0, "%s", first.body);
	must_buy(&h, "payer", &a);
	ck_assert_msg(a.code == 1 && a.repeat && strcmp(a.ostatus,
	    "pending") == 0, "repeat before paying: %s", a.body);
	must_pay(&h, "payer", first.order, &a);
	ck_assert_msg(a.code == 1 && strcmp(a.ostatus, "paid") == 0, "%s",
	    a.body);
	for (int i = 0; i < 10; i++) {	/* over all four instances */
		struct rig_http	 fresh;

		rig_http_init(&fresh, r.http_port);
		must_buy(&fresh, "payer", &a);
		rig_http_close(&fresh);
		ck_assert_msg(a.status == 200 && a.code == 1 && a.repeat &&
		    strcmp(a.order, first.order) == 0 &&
		    a.pay_by == first.pay_by &&
		    strcmp(a.ostatus, "paid") == 0,
		    "repeat %d after paying order %s: %d %s", i, first.order,
		    a.status, a.body);
	}
	ck_assert_int_eq(sold_of(c), 1);
	assert_invariant(c);
	redisFree(c);
	rig_http_close(&h);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/*
 * Once the sale is sold out, instances (and nginx at the edge) answer
 * sold out from memory without asking Redis, so a repeat by a ticket
 * holder may be told sold out (spike-fcgi(8), "Orders and their
 * expiry"); it never sells again, and the holder's order stays theirs,
 * shown by GET /order.
 */
START_TEST(test_repeat_when_sold_out)
{
	struct rig	 r;
	struct rig_http	 h;
	struct ans	 a;
	char		 order[ORDER_MAX], target[96];
	redisContext	*c;

	start(&r, SYNC_MS, 1, NULL);
	c = rig_ck_redis(&r);
	rig_http_init(&h, r.http_port);
	must_buy(&h, "holder", &a);
	ck_assert_msg(a.status == 200 && a.code == 1 && !a.repeat, "%s",
	    a.body);
	snprintf(order, sizeof(order), "%s", a.order);
	/* every instance has synced: sold out */
	rig_sleep_ms(BUDGET_SYNC_MS(SYNC_MS, CONF_DEFAULT_REDIS_TIMEOUT_MS));
	must_buy(&h, "latecomer", &a);
	ck_assert_msg(a.code == -1, "%s", a.body);
	for (int i = 0; i < 10; i++) {	/* over all four instances */
		struct rig_http	 fresh;

		rig_http_init(&fresh, r.http_port);
		must_buy(&fresh, "holder", &a);
		rig_http_close(&fresh);
		ck_assert_msg(a.status == 200 && (a.code == -1 ||
		    (a.code == 1 && a.repeat && strcmp(a.order, order) == 0)),
		    "repeat %d by the holder of order %s after the sale sold "
		    "out: %d %s", i, order, a.status, a.body);
	}
	ck_assert_int_eq(sold_of(c), 1);
	snprintf(target, sizeof(target), "/order?user=holder");
	must(&h, "GET", target, NULL, &a);
	ck_assert_msg(a.status == 200 && strcmp(a.order, order) == 0 &&
	    strstr(a.body, "\"status\":\"pending\"") != NULL,
	    "holder's order after the repeats: %d %s", a.status, a.body);
	redisFree(c);
	rig_http_close(&h);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* ---- order ids are unguessable ------------------------------------------ */

#define ID_BUYS		64	/* orders bought one after another */
#define ID_BITS		128	/* in an id's 32 hex digits */
/*
 * Two ids of 128 random bits share 8 leading (or trailing) hex digits
 * with odds of 2^-32, differ in fewer than 24 bits with odds under
 * 10^-11: over the 2016 pairs of 64 ids, about one run in a million.  A
 * counter or a timestamp shares more digits than that.
 */
#define ID_SHARED_MAX	8
#define ID_PAIR_BITS_MIN 24
/*
 * Consecutive ids differ in 64 bits on average, with a deviation of 5.7
 * bits a pair and under 1 bit over 63 pairs; a counter, a few.
 */
#define ID_MEAN_MIN	40
#define ID_MEAN_MAX	88

static unsigned int
hex_digit(char c)
{
	return c <= '9' ? (unsigned int)(c - '0') : (unsigned int)(c - 'a' + 10);
}

/* In how many of their 128 bits ids a and b differ. */
static unsigned int
id_distance(const char *a, const char *b)
{
	unsigned int	 d = 0;

	for (int i = 0; i < ID_BITS / 4; i++)
		d += (unsigned int)__builtin_popcount(hex_digit(a[i]) ^
		    hex_digit(b[i]));
	return d;
}

/* How many leading (step 1) or trailing (step -1) digits a and b share. */
static int
id_shared(const char *a, const char *b, int step)
{
	int	 n = 0, i = step > 0 ? 0 : ID_BITS / 4 - 1;

	while (n < ID_BITS / 4 && a[i] == b[i]) {
		n++;
		i += step;
	}
	return n;
}

/*
 * Fail unless ids[0..n-1] look like 128 random bits each: 32 lowercase hex
 * digits, no two alike or sharing a long prefix or suffix or most of
 * their bits, every bit both 0 and 1 somewhere, and consecutive ids
 * differing in about half their bits.
 */
static void
assert_ids_random(char (*ids)[ORDER_MAX], int n)
{
	unsigned int	 ones[ID_BITS] = { 0 }, total = 0, d;
	double		 mean;

	ck_assert_int_ge(n, 40);	/* a fixed bit shows: 2^-39 a bit */
	for (int i = 0; i < n; i++) {
		ck_assert_msg(order_id_ok(ids[i]), "order %d: \"%s\" is not 32 "
		    "lowercase hex digits", i, ids[i]);
		for (int b = 0; b < ID_BITS; b++)
			ones[b] += (hex_digit(ids[i][b / 4]) >> (3 - b % 4)) & 1;
		for (int j = 0; j < i; j++) {
			ck_assert_msg(id_shared(ids[i], ids[j], 1) <
			    ID_SHARED_MAX && id_shared(ids[i], ids[j], -1) <
			    ID_SHARED_MAX, "orders %d and %d, %s and %s, share "
			    "%d leading and %d trailing digits", j, i, ids[j],
			    ids[i], id_shared(ids[i], ids[j], 1),
			    id_shared(ids[i], ids[j], -1));
			ck_assert_msg((d = id_distance(ids[i], ids[j])) >=
			    ID_PAIR_BITS_MIN, "orders %d and %d, %s and %s, "
			    "differ in %u bits only", j, i, ids[j], ids[i], d);
		}
		if (i > 0)
			total += id_distance(ids[i - 1], ids[i]);
	}
	for (int b = 0; b < ID_BITS; b++)
		ck_assert_msg(ones[b] > 0 && ones[b] < (unsigned int)n, "bit %d "
		    "is %d in all %d order ids", b, ones[b] > 0, n);
	mean = (double)total / (n - 1);
	ck_assert_msg(mean >= ID_MEAN_MIN && mean <= ID_MEAN_MAX, "consecutive "
	    "order ids differ in %.1f of %d bits on average, want %d to %d",
	    mean, ID_BITS, ID_MEAN_MIN, ID_MEAN_MAX);
}

/*
 * Order ids are unguessable (spike-fcgi(8)): dozens of purchases one
 * after another, over the four instances, get ids that a counter or a
 * clock could not have made.
 */
START_TEST(test_order_ids_unguessable)
{
	static char	 ids[ID_BUYS][ORDER_MAX];
	struct rig	 r;
	struct rig_http	 h;
	struct ans	 a;
	char		 user[32];

	start(&r, SYNC_MS, 10 * ID_BUYS, NULL);
	rig_http_init(&h, r.http_port);
	for (int i = 0; i < ID_BUYS; i++) {
		snprintf(user, sizeof(user), "id%d", i);
		must_buy(&h, user, &a);
		ck_assert_msg(a.status == 200 && a.code == 1 && !a.repeat,
		    "%s: %d %s", user, a.status, a.body);
		snprintf(ids[i], sizeof(ids[i]), "%s", a.order);
	}
	rig_http_close(&h);
	assert_ids_random(ids, ID_BUYS);
	rig_ck_audit(&r);
	rig_stop(&r);
}
END_TEST

/* ---- the longest stock key and instance address spike.conf takes -------- */

#define LONGEST_START_MS	15000	/* what the rig gives its own */
#define LONGEST_TOTAL		10
#define LONGEST_BUYS		3

/* One spike-fcgi on a Unix socket, outside the rig's four. */
struct unix_instance {
	char		 path[CONF_ADDR_MAX];	/* the socket */
	char		 conf[RIG_PATH_MAX];
	char		 log[RIG_PATH_MAX];
	pid_t		 pid;
};

/* A socket path in r's directory making "unix:PATH" CONF_ADDR_MAX - 1 long. */
static void
longest_socket_path(struct rig *r, char *path)
{
	size_t	 want = CONF_ADDR_MAX - 1 - strlen("unix:"), n;

	n = (size_t)snprintf(path, CONF_ADDR_MAX, "%s/", r->dir);
	ck_assert_msg(n + 1 < want, "%s: too long a directory for the test",
	    r->dir);
	memset(path + n, 's', want - n);
	path[want] = '\0';
}

/* Write u's spike.conf: r's Redis, the stock hash under key. */
static void
write_unix_conf(struct rig *r, struct unix_instance *u, const char *key)
{
	FILE	*f;

	snprintf(u->conf, sizeof(u->conf), "%s/longest.conf", r->dir);
	snprintf(u->log, sizeof(u->log), "%s/longest.log", r->dir);
	ck_assert_msg((f = fopen(u->conf, "w")) != NULL, "%s", u->conf);
	fprintf(f, "redis = 127.0.0.1:%d\nstock_key = %s\nstat_log = "
	    "%s/longest-stat.log\ninstance = unix:%s\n", r->redis.port, key,
	    r->dir, u->path);
	ck_assert_int_eq(fclose(f), 0);
}

/* Can a client connect to the socket at path? */
static bool
unix_accepts(const char *path)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	int			 fd;
	bool			 ok;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return false;
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return ok;
}

/*
 * Put the sale on and start the instance as an operator does, with
 * spikectl init and spikectl spawn; the instance dies with the test
 * (PR_SET_PDEATHSIG) and is stopped by its pid.
 */
static void
start_unix_instance(struct rig *r, struct unix_instance *u)
{
	pid_t	 parent = getpid();
	double	 end = rig_now_ms() + LONGEST_START_MS;
	char	 addr[sizeof("unix:") + CONF_ADDR_MAX], cmd[4 * RIG_PATH_MAX];
	int	 fd;

	snprintf(cmd, sizeof(cmd), "'%s' -c '%s' init %d >>'%s' 2>&1",
	    r->spikectl, u->conf, LONGEST_TOTAL, u->log);
	ck_assert_msg(system(cmd) == 0, "spikectl init: see %s", u->log);
	snprintf(addr, sizeof(addr), "unix:%s", u->path);
	ck_assert_int_ne(u->pid = fork(), -1);
	if (u->pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
		    getppid() != parent)
			_exit(126);
		if ((fd = open(u->log, O_WRONLY | O_APPEND)) != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		for (fd = 3; fd < 1024; fd++)
			close(fd);
		execl(r->spikectl, r->spikectl, "-c", u->conf, "spawn", addr,
		    "--program", r->spike_fcgi, rig_instance_user() ? "--user" :
		    (char *)NULL, rig_instance_user(), (char *)NULL);
		_exit(127);
	}
	while (!unix_accepts(u->path)) {
		ck_assert_msg(waitpid(u->pid, NULL, WNOHANG) == 0,
		    "spike-fcgi on unix:%s exited: see %s", u->path, u->log);
		ck_assert_msg(rig_now_ms() < end, "unix:%s: not listening "
		    "after %d ms", u->path, LONGEST_START_MS);
		rig_sleep_ms(20);
	}
}

/* SIGTERM u and wait for its exit status 0. */
static void
stop_unix_instance(struct unix_instance *u)
{
	double	 end = rig_now_ms() + LONGEST_START_MS;
	int	 status = 0;
	pid_t	 got;

	kill(u->pid, SIGTERM);
	while ((got = waitpid(u->pid, &status, WNOHANG)) == 0 &&
	    rig_now_ms() < end)
		rig_sleep_ms(20);
	if (got == 0)
		kill(u->pid, SIGKILL);
	ck_assert_msg(got == u->pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "unix:%s did not exit 0 on SIGTERM: "
	    "wait status 0x%x", u->path, status);
}

/*
 * GET /buy/ticket?user=U over FastCGI straight to the socket, with
 * cgi-fcgi as tests/check_install.sh uses it; no REQUEST_ID, so the
 * instance makes the request id from its address.
 */
static void
unix_buy(const struct unix_instance *u, const char *user, struct ans *a)
{
	const char	*cgi = getenv("CGI_FCGI");
	char		 cmd[1024], out[1024];
	size_t		 n;
	FILE		*p;

	snprintf(cmd, sizeof(cmd), "env -i REQUEST_METHOD=GET "
	    "DOCUMENT_URI=/buy/ticket QUERY_STRING=user=%s '%s' -bind "
	    "-connect '%s' </dev/null 2>&1", user, cgi ? cgi : "cgi-fcgi",
	    u->path);
	ck_assert_msg((p = popen(cmd, "r")) != NULL, "%s", strerror(errno));
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	memset(a, 0, sizeof(*a));
	a->code = (int)json_ll(out, "code");
	a->repeat = strstr(out, "\"repeat\":true") != NULL;
	json_str(out, "order", a->order, sizeof(a->order));
	snprintf(a->body, sizeof(a->body), "%.500s", out);
}

/*
 * With the longest stock_key, the longest Unix-socket instance address
 * spike.conf accepts and the longest user, every purchase keeps a
 * request key (KEY:req:USER:ID) of its own: each user gets an order of
 * their own, and each one sells.
 */
START_TEST(test_longest_keys)
{
	struct unix_instance u;
	struct rig	 r;
	struct ans	 a[LONGEST_BUYS];
	redisContext	*c;
	char		 key[CONF_KEY_MAX], user[QUERY_USER_MAX + 1];
	char		 pattern[CONF_KEY_MAX + 8];
	redisReply	*rep;

	memset(key, 'k', CONF_KEY_MAX - 1);
	key[CONF_KEY_MAX - 1] = '\0';
	ck_assert_msg(rig_init(&r, NULL) && rig_redis_start(&r), "rig: %s",
	    r.err);
	c = rig_ck_redis(&r);
	longest_socket_path(&r, u.path);
	write_unix_conf(&r, &u, key);
	start_unix_instance(&r, &u);
	for (int i = 0; i < LONGEST_BUYS; i++) {
		memset(user, 'u', QUERY_USER_MAX);
		user[QUERY_USER_MAX] = '\0';
		user[0] = (char)('0' + i);
		unix_buy(&u, user, &a[i]);
		ck_assert_msg(a[i].code == 1 && !a[i].repeat &&
		    a[i].order[0] != '\0', "purchase %d by %s: %s", i, user,
		    a[i].body);
		for (int j = 0; j < i; j++)
			ck_assert_msg(strcmp(a[i].order, a[j].order) != 0,
			    "%s got order %s of buyer %d: %s", user, a[j].order,
			    j, a[i].body);
	}
	ck_assert_int_eq(INT(c, "HGET", key, RIG_SOLD_FIELD), LONGEST_BUYS);
	snprintf(pattern, sizeof(pattern), "%s:req:*", key);
	rep = CMD(c, "KEYS", pattern);
	ck_assert_uint_eq(rep->elements, LONGEST_BUYS);
	freeReplyObject(rep);
	stop_unix_instance(&u);
	redisFree(c);
	rig_stop(&r);
}
END_TEST

static Suite *
orders_suite(void)
{
	Suite	*s = suite_create("orders");
	TCase	*tc;

	tc = tcase_create("concurrency");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_same_user_concurrent);
	tcase_add_test(tc, test_storm);
	tcase_add_test(tc, test_pay_races_expiry);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_event_stream);
	tcase_add_test(tc, test_returned_tickets_resold);
	tcase_add_test(tc, test_kill_loses_no_order);
	tcase_add_test(tc, test_pay_others_expired_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("resources");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_resources);
	tcase_add_test(tc, test_anonymous_refused);
	tcase_add_test(tc, test_repeat_after_pay);
	tcase_add_test(tc, test_repeat_when_sold_out);
	tcase_add_test(tc, test_order_ids_unguessable);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_longest_keys);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(orders_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
