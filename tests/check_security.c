/*
 * Integration: buyer and payment signatures through the real nginx, four
 * spike-fcgi instances and Redis.  Forged, expired, malformed, missing and
 * another user's signatures are refused 403 -12 and sell nothing, also
 * under load beside good buyers; the previous key verifies while it is
 * configured and stops after SIGHUP; /order and /pay for another user are
 * refused; /pay takes only the payment service's notice; bad key files
 * stop spike-fcgi and spikectl check naming spike.conf's line; and the
 * openssl recipe of spike-fcgi(8) mints what spikectl sign mints.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rig_ck.h"

#define SEC_STOCK	100000
#define SEC_LOAD	600
#define SEC_BAD		300
#define SEC_CONNS	16
#define SEC_DEADLINE_MS	budget_ms(60000)

/* The rig's keys: buyer_key twice (current, previous) and maybe pay_key. */
struct keys {
	struct key	 cur, prev, pay;
	char		 cur_path[RIG_PATH_MAX], prev_path[RIG_PATH_MAX];
	char		 pay_path[RIG_PATH_MAX];
	char		 extra[3 * RIG_PATH_MAX + 64];
};

static void
set_key_lines(struct rig *r, struct keys *k, bool prev, bool pay)
{
	snprintf(k->extra, sizeof(k->extra), "buyer_key = %s\n%s%s%s%s%s",
	    k->cur_path, prev ? "buyer_key = " : "", prev ? k->prev_path : "",
	    prev ? "\n" : "", pay ? "pay_key = " : "", pay ? k->pay_path : "");
	if (pay)
		strcat(k->extra, "\n");
	r->opt.conf_extra = k->extra;
	ck_assert_msg(rig_write_conf(r), "%s", r->err);
}

/* The whole rig with buyer keys (and pay_key when pay), sale on. */
static void
start_signed(struct rig *r, struct keys *k, bool pay)
{
	struct rig_options opt = {
		.redis_timeout_ms = BUDGET_PATIENT_REDIS_MS,
	};

	ck_assert_msg(rig_init(r, &opt), "%s", r->err);
	ck_assert_msg(rig_write_key(r, "buyer.key", 32, &k->cur, k->cur_path,
	    sizeof(k->cur_path)) && rig_write_key(r, "buyer-old.key", 48,
	    &k->prev, k->prev_path, sizeof(k->prev_path)) &&
	    rig_write_key(r, "pay.key", 64, &k->pay, k->pay_path,
	    sizeof(k->pay_path)), "%s", r->err);
	set_key_lines(r, k, true, pay);
	ck_assert_msg(rig_redis_start(r) && rig_sale_set(r, SEC_STOCK) &&
	    rig_instances_start(r) && rig_heartbeats_wait(r, BUDGET_UP_MS) &&
	    rig_nginx_start(r), "%s", r->err);
}

/* A signature of subject under key, good for ttl seconds from now. */
static const char *
sign(const struct key *key, const char *subject, long long ttl)
{
	static char	 out[4][SIG_TEXT_MAX + 1];
	static int	 next;
	char		*p = out[next++ % 4];

	ck_assert(sig_mint(key, subject, (long long)time(NULL) + ttl, p,
	    SIG_TEXT_MAX + 1));
	return p;
}

static void
get(struct rig *r, struct rig_reply *rep, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
get(struct rig *r, struct rig_reply *rep, const char *fmt, ...)
{
	char	 target[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(target, sizeof(target), fmt, ap);
	va_end(ap);
	ck_assert_msg(rig_get(r, target, rep), "GET %s: %s", target, r->err);
}

static void
pay(struct rig *r, struct rig_reply *rep, const char *user,
    const char *order, const char *sig)
{
	struct rig_http	 h;
	char		 form[512], err[256];
	bool		 ok;

	snprintf(form, sizeof(form), "user=%s&order=%s%s%s", user, order,
	    sig ? "&sig=" : "", sig ? sig : "");
	rig_http_init(&h, r->http_port);
	ok = rig_http_request(&h, "POST", "/pay",
	    "application/x-www-form-urlencoded", form, strlen(form), rep, err,
	    sizeof(err));
	rig_http_close(&h);
	ck_assert_msg(ok, "POST /pay %s: %s", form, err);
}

#define expect(rep, st, c, what) \
	ck_assert_msg((rep)->status == (st) && (rep)->code == (c), \
	    "%s: %d code %d, want %d code %d: %s", (what), (rep)->status, \
	    (rep)->code, (st), (c), (rep)->body)

/* The "order" of an answer into id. */
static void
order_of(const struct rig_reply *rep, char *id, size_t idsz)
{
	const char	*p = strstr(rep->body, "\"order\":\"");
	size_t		 n;

	ck_assert_msg(p != NULL, "no order in %s", rep->body);
	p += 9;
	n = strcspn(p, "\"");
	ck_assert(n > 0 && n < idsz);
	memcpy(id, p, n);
	id[n] = '\0';
}

/* Run a shell command, its first line of output into out; its status. */
static int
shell(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
shell(char *out, size_t outsz, const char *fmt, ...)
{
	char	 cmd[4096];
	va_list	 ap;
	FILE	*f;
	int	 status;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_ptr_nonnull(f = popen(cmd, "r"));
	out[0] = '\0';
	if (fgets(out, (int)outsz, f) != NULL)
		out[strcspn(out, "\n")] = '\0';
	while (fgetc(f) != EOF)
		;
	status = pclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Every bad signature is 403 -12 and sells nothing; the current and the
 * previous key both buy; spikectl sign's signature buys; /order answers
 * only its own user.
 */
START_TEST(test_buyer_signatures)
{
	struct rig	 r;
	struct keys	 k;
	struct rig_reply rep;
	struct key	 forger;
	char		 target[512], out[256];
	const char	*bad[8];
	size_t		 i;

	start_signed(&r, &k, false);
	memset(&forger, 0x5a, sizeof(forger));
	forger.len = 32;
	bad[0] = "/buy/ticket?user=alice";
	bad[1] = "/buy/ticket";
	bad[2] = "/buy/ticket?user=alice&sig=1.abc";
	for (i = 3; i < 8; i++)
		bad[i] = NULL;
	for (i = 0; i < 3; i++) {
		get(&r, &rep, "%s", bad[i]);
		expect(&rep, 403, -12, bad[i]);
	}
	get(&r, &rep, "/buy/ticket?user=alice&sig=%s",
	    sign(&forger, "alice", 60));
	expect(&rep, 403, -12, "forged");
	ck_assert_ptr_nonnull(strstr(rep.body, "\"sig\":\"wrong\""));
	get(&r, &rep, "/buy/ticket?user=alice&sig=%s",
	    sign(&k.cur, "alice", -2));
	expect(&rep, 403, -12, "expired");
	ck_assert_ptr_nonnull(strstr(rep.body, "\"sig\":\"expired\""));
	get(&r, &rep, "/buy/ticket?user=alice&sig=%s",
	    sign(&k.cur, "bob", 60));
	expect(&rep, 403, -12, "bob's signature");
	get(&r, &rep, "/buy/ticket?user=alice&sig=%s",
	    sign(&k.pay, "alice", 60));
	expect(&rep, 403, -12, "a key not configured");
	ck_assert_int_eq(rig_ck_sold(&r), 0);

	get(&r, &rep, "/buy/ticket?user=alice&sig=%s",
	    sign(&k.cur, "alice", 60));
	expect(&rep, 200, 1, "current key");
	get(&r, &rep, "/buy/ticket?user=bob&sig=%s", sign(&k.prev, "bob", 60));
	expect(&rep, 200, 1, "previous key");
	ck_assert_int_eq(shell(out, sizeof(out), "'%s' -c '%s' sign dave "
	    "--ttl 60", r.spikectl, r.conf), 0);
	snprintf(target, sizeof(target), "/buy/ticket?user=dave&sig=%s", out);
	get(&r, &rep, "%s", target);
	expect(&rep, 200, 1, "spikectl sign");
	ck_assert_int_eq(rig_ck_sold(&r), 3);

	get(&r, &rep, "/order?user=alice&sig=%s", sign(&k.cur, "alice", 60));
	expect(&rep, 200, 1, "own order");
	get(&r, &rep, "/order?user=alice&sig=%s", sign(&k.cur, "bob", 60));
	expect(&rep, 403, -12, "alice's order with bob's signature");
	get(&r, &rep, "/order?user=alice");
	expect(&rep, 403, -12, "alice's order unsigned");
	ck_assert_int_eq(rig_ck_sold(&r), 3);
	rig_stop(&r);
}
END_TEST

/*
 * With pay_key, /pay takes only the payment service's notice over
 * ORDER.USER.EXP: the buyer's own signature, a forged one, one for
 * another order or an expired one pay nothing; spikectl sign --order
 * pays.
 */
START_TEST(test_payment_notices)
{
	struct rig	 r;
	struct keys	 k;
	struct rig_reply rep;
	char		 id[64], subject[160], other[160], out[256];

	start_signed(&r, &k, true);
	get(&r, &rep, "/buy/ticket?user=alice&sig=%s",
	    sign(&k.cur, "alice", 60));
	expect(&rep, 200, 1, "buy");
	order_of(&rep, id, sizeof(id));
	snprintf(subject, sizeof(subject), "%s.alice", id);
	snprintf(other, sizeof(other), "%s0.alice", id);

	pay(&r, &rep, "alice", id, NULL);
	expect(&rep, 403, -14, "unsigned notice");
	pay(&r, &rep, "alice", id, sign(&k.cur, "alice", 60));
	expect(&rep, 403, -14, "the buyer's signature");
	pay(&r, &rep, "alice", id, sign(&k.cur, subject, 60));
	expect(&rep, 403, -14, "buyer_key over the notice");
	pay(&r, &rep, "alice", id, sign(&k.pay, other, 60));
	expect(&rep, 403, -14, "another order's notice");
	pay(&r, &rep, "alice", id, sign(&k.pay, subject, -2));
	expect(&rep, 403, -14, "expired notice");
	get(&r, &rep, "/order?user=alice&sig=%s", sign(&k.cur, "alice", 60));
	ck_assert_msg(strstr(rep.body, "\"status\":\"pending\"") != NULL,
	    "paid by a refused notice: %s", rep.body);

	ck_assert_int_eq(shell(out, sizeof(out), "'%s' -c '%s' sign alice "
	    "--order %s", r.spikectl, r.conf, id), 0);
	pay(&r, &rep, "alice", id, out);
	expect(&rep, 200, 1, "spikectl sign --order");
	get(&r, &rep, "/order?user=alice&sig=%s", sign(&k.cur, "alice", 60));
	ck_assert_msg(strstr(rep.body, "\"status\":\"paid\"") != NULL,
	    "not paid: %s", rep.body);
	rig_stop(&r);
}
END_TEST

/*
 * buyer_key without pay_key: no one may pay, not even the buyer with
 * their own signature (who would hold the ticket without paying): every
 * /pay is 403 -14 and the order stays pending.
 */
START_TEST(test_buyer_pays)
{
	struct rig	 r;
	struct keys	 k;
	struct rig_reply rep;
	char		 id[64], nobody[80];

	start_signed(&r, &k, false);
	get(&r, &rep, "/buy/ticket?user=alice&sig=%s",
	    sign(&k.cur, "alice", 60));
	expect(&rep, 200, 1, "buy");
	order_of(&rep, id, sizeof(id));
	pay(&r, &rep, "alice", id, NULL);
	expect(&rep, 403, -14, "unsigned pay");
	pay(&r, &rep, "alice", id, sign(&k.cur, "alice", 60));
	expect(&rep, 403, -14, "alice pays her own order with her signature");
	pay(&r, &rep, "bob", id, sign(&k.cur, "bob", 60));
	expect(&rep, 403, -14, "bob pays alice's order");
	snprintf(nobody, sizeof(nobody), "99999999");
	pay(&r, &rep, "bob", nobody, sign(&k.cur, "bob", 60));
	expect(&rep, 403, -14, "no such order");
	get(&r, &rep, "/order?user=alice&sig=%s", sign(&k.cur, "alice", 60));
	expect(&rep, 200, 1, "alice's order");
	ck_assert_msg(strstr(rep.body, "\"status\":\"pending\"") != NULL,
	    "refused payments left the order pending: %s", rep.body);
	rig_stop(&r);
}
END_TEST

static void
hup_all(struct rig *r)
{
	for (int i = 0; i < RIG_INSTANCES; i++)
		ck_assert_msg(rig_instance_kill(r, i, SIGHUP), "%s", r->err);
}

/*
 * Twice as many rounds as instances, so that each is asked: a buyer
 * signed with the removed previous key (users P1, P2...) is refused and
 * buys nothing, one signed with the current key (C1...) buys.
 */
static void
only_current_buys(struct rig *r, struct keys *k, char p, char c)
{
	struct rig_reply rep;
	char		 user[32];

	for (int i = 1; i <= 2 * RIG_INSTANCES; i++) {
		snprintf(user, sizeof(user), "%c%d", p, i);
		get(r, &rep, "/buy/ticket?user=%s&sig=%s", user,
		    sign(&k->prev, user, 60));
		expect(&rep, 403, -12, "previous key, removed");
		snprintf(user, sizeof(user), "%c%d", c, i);
		get(r, &rep, "/buy/ticket?user=%s&sig=%s", user,
		    sign(&k->cur, user, 60));
		expect(&rep, 200, 1, "current key");
	}
}

/*
 * Rotation: the previous key verifies while configured; once its line
 * is gone and SIGHUP has been read, it is refused by every instance while
 * the current key still buys.  A key file gone bad on SIGHUP keeps the
 * keys the instance had: the current one, and not the removed one it
 * started with.
 */
START_TEST(test_rotation_sighup)
{
	struct rig	 r;
	struct keys	 k;
	struct rig_reply rep;

	start_signed(&r, &k, false);
	get(&r, &rep, "/buy/ticket?user=p0&sig=%s", sign(&k.prev, "p0", 60));
	expect(&rep, 200, 1, "previous key, configured");

	set_key_lines(&r, &k, false, false);
	hup_all(&r);
	rig_ck_logs_wait(&r, "SIGHUP: 1 buyer and 0 payment keys read", 1,
	    BUDGET_STAT_MS);
	only_current_buys(&r, &k, 'p', 'c');
	ck_assert_int_eq(rig_ck_sold(&r), 1 + 2 * RIG_INSTANCES);

	ck_assert_int_eq(chmod(k.cur_path, 0640), 0);
	hup_all(&r);
	rig_ck_logs_wait(&r, "SIGHUP: keys kept", 1,
	    BUDGET_STAT_MS);
	only_current_buys(&r, &k, 'q', 'k');
	/* p0, the c and the k buyers; the q ones bought nothing. */
	ck_assert_int_eq(rig_ck_sold(&r), 1 + 2 * RIG_INSTANCES +
	    2 * RIG_INSTANCES);
	rig_stop(&r);
}
END_TEST

/*
 * SIGHUP does not turn verification on: an instance started without keys
 * logs that a restart is needed and goes on selling to unsigned buyers,
 * so that an operator who expected otherwise is told.
 */
START_TEST(test_sighup_cannot_turn_on)
{
	struct rig_options opt = {
		.redis_timeout_ms = BUDGET_PATIENT_REDIS_MS,
	};
	struct rig	 r;
	struct key	 key;
	struct rig_reply rep;
	char		 path[RIG_PATH_MAX], extra[RIG_PATH_MAX + 32];

	ck_assert_msg(rig_init(&r, &opt) && rig_redis_start(&r) &&
	    rig_sale_set(&r, SEC_STOCK) && rig_instances_start(&r) &&
	    rig_heartbeats_wait(&r, BUDGET_UP_MS) && rig_nginx_start(&r),
	    "%s", r.err);
	get(&r, &rep, "/buy/ticket?user=before");
	expect(&rep, 200, 1, "unsigned buyer, no keys");
	ck_assert_msg(rig_write_key(&r, "buyer.key", 32, &key, path,
	    sizeof(path)), "%s", r.err);
	snprintf(extra, sizeof(extra), "buyer_key = %s\n", path);
	r.opt.conf_extra = extra;
	ck_assert_msg(rig_write_conf(&r), "%s", r.err);
	hup_all(&r);
	rig_ck_logs_wait(&r, "restart to turn verification on or off", 1,
	    BUDGET_STAT_MS);
	get(&r, &rep, "/buy/ticket?user=after");
	expect(&rep, 200, 1, "unsigned buyer after SIGHUP");
	rig_stop(&r);
}
END_TEST

/* A thread sending bad signatures while good buyers buy. */
struct forger {
	struct rig	*r;
	const struct key *key;
	atomic_uint	 refused, other;
	char		 first[1024];
};

static void *
forge(void *arg)
{
	struct forger	*f = arg;
	struct rig_http	 h;
	struct rig_reply rep;
	char		 target[256], err[256], user[32], sig[SIG_TEXT_MAX + 1];
	struct key	 forged;
	unsigned int	 i;

	memset(&forged, 0x66, sizeof(forged));
	forged.len = 32;
	rig_http_init(&h, f->r->http_port);
	for (i = 0; i < SEC_BAD; i++) {
		snprintf(user, sizeof(user), "mallory%u", i);
		switch (i % 4) {
		case 0:		/* forged */
			sig_mint(&forged, user, time(NULL) + 60, sig,
			    sizeof(sig));
			break;
		case 1:		/* expired */
			sig_mint(f->key, user, time(NULL) - 5, sig,
			    sizeof(sig));
			break;
		case 2:		/* a good buyer's signature */
			sig_mint(f->key, "user1", time(NULL) + 60, sig,
			    sizeof(sig));
			break;
		default:	/* malformed */
			snprintf(sig, sizeof(sig), "%u.%u", i, i);
		}
		snprintf(target, sizeof(target), "/buy/ticket?user=%s&sig=%s",
		    user, sig);
		if (rig_http_request(&h, "GET", target, NULL, NULL, 0, &rep,
		    err, sizeof(err)) && rep.status == 403 && rep.code == -12)
			atomic_fetch_add(&f->refused, 1);
		else if (atomic_fetch_add(&f->other, 1) == 0)
			snprintf(f->first, sizeof(f->first), "%s: %d %s",
			    target, rep.status, err);
	}
	rig_http_close(&h);
	return NULL;
}

START_TEST(test_refusals_under_load)
{
	struct rig		 r;
	struct keys		 k;
	struct rig_load		 l;
	struct rig_load_spec	 spec;
	struct forger		 f;
	pthread_t		 t;
	char			 sum[1024];

	start_signed(&r, &k, false);
	memset(&f, 0, sizeof(f));
	f.r = &r;
	f.key = &k.cur;
	spec = rig_load_plan(&r, SEC_CONNS, SEC_LOAD, true, SEC_DEADLINE_MS);
	spec.sign_key = &k.cur;
	ck_assert(rig_load_start(&l, &spec));
	ck_assert_int_eq(pthread_create(&t, NULL, forge, &f), 0);
	pthread_join(t, NULL);
	rig_load_wait(&l);
	rig_load_summary(&l, sum, sizeof(sum));
	ck_assert_msg(rig_load_code(&l, 1) == SEC_LOAD,
	    "every good buyer must buy: %s", sum);
	ck_assert_msg(atomic_load(&f.refused) == SEC_BAD,
	    "%u bad signatures not refused, first: %s", atomic_load(&f.other),
	    f.first);
	ck_assert_int_eq(rig_ck_sold(&r), SEC_LOAD);
	rig_stop(&r);
}
END_TEST

/* The number of the first line of file that begins with prefix. */
static int
line_of(const char *file, const char *prefix)
{
	char	 line[1024];
	int	 n = 0;
	FILE	*f;

	ck_assert_msg((f = fopen(file, "r")) != NULL, "%s", file);
	while (fgets(line, sizeof(line), f) != NULL) {
		n++;
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			fclose(f);
			return n;
		}
	}
	fclose(f);
	ck_abort_msg("%s: no line begins \"%s\"", file, prefix);
	return -1;
}

/*
 * A short key file, or one group may read, stops spike-fcgi -t and
 * spikectl check with spike.conf's file and line; so does a missing one.
 */
START_TEST(test_bad_key_files)
{
	static const struct {
		size_t		 len;
		mode_t		 mode;
		bool		 missing;
		const char	*why;	/* NULL: strerror(ENOENT) */
	} bad[] = {
		{ 31, 0600, false, "31 bytes" },
		{ 32, 0640, false, "mode 0640" },
		{ 32, 0604, false, "mode 0604" },
		{ 32, 0600, true, NULL },
	};
	struct rig	 r;
	struct key	 key;
	char		 path[RIG_PATH_MAX], extra[RIG_PATH_MAX + 64];
	char		 want[RIG_PATH_MAX * 3], out[2048];
	const char	*why;
	size_t		 i;

	ck_assert_msg(rig_init(&r, NULL), "%s", r.err);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert(rig_write_key(&r, "k", bad[i].len, &key, path,
		    sizeof(path)));
		ck_assert_int_eq(chmod(path, bad[i].mode), 0);
		if (bad[i].missing)
			ck_assert_int_eq(unlink(path), 0);
		why = bad[i].why != NULL ? bad[i].why : strerror(ENOENT);
		snprintf(extra, sizeof(extra), "buyer_key = %s\n", path);
		r.opt.conf_extra = extra;
		ck_assert(rig_write_conf(&r));
		snprintf(want, sizeof(want), "%s:%d: buyer_key %s: ", r.conf,
		    line_of(r.conf, "buyer_key = "), path);
		ck_assert_int_ne(shell(out, sizeof(out), "'%s' -t -c '%s' 2>&1",
		    r.spike_fcgi, r.conf), 0);
		ck_assert_msg(strstr(out, want) != NULL &&
		    strstr(out, why) != NULL, "spike-fcgi -t: %s", out);
		ck_assert_int_eq(shell(out, sizeof(out), "'%s' -c '%s' check "
		    "2>&1 | grep buyer_key", r.spikectl, r.conf), 0);
		ck_assert_msg(strstr(out, want) != NULL &&
		    strstr(out, why) != NULL, "spikectl check: %s", out);
	}
	rig_stop(&r);
}
END_TEST

/* spike-fcgi(8)'s openssl command line mints what spikectl sign does. */
START_TEST(test_openssl_recipe)
{
	struct rig	 r;
	struct key	 key;
	char		 path[RIG_PATH_MAX], extra[RIG_PATH_MAX + 64];
	char		 ours[256], theirs[256], exp[32];

	ck_assert_msg(rig_init(&r, NULL), "%s", r.err);
	ck_assert(rig_write_key(&r, "k", 32, &key, path, sizeof(path)));
	snprintf(extra, sizeof(extra), "buyer_key = %s\n", path);
	r.opt.conf_extra = extra;
	ck_assert(rig_write_conf(&r));
	ck_assert_int_eq(shell(ours, sizeof(ours), "'%s' -c '%s' sign alice",
	    r.spikectl, r.conf), 0);
	snprintf(exp, sizeof(exp), "%.*s", (int)strcspn(ours, "."), ours);
	ck_assert_int_eq(shell(theirs, sizeof(theirs), "printf %%s "
	    "'alice.%s' | openssl dgst -sha256 -mac HMAC -macopt "
	    "hexkey:$(od -An -vtx1 '%s' | tr -d ' \\n') | sed 's/^.*= //'",
	    exp, path), 0);
	ck_assert_msg(strcmp(ours + strlen(exp) + 1, theirs) == 0,
	    "spikectl sign %s, openssl %s", ours, theirs);
	rig_stop(&r);
}
END_TEST

static Suite *
security_suite(void)
{
	Suite	*s = suite_create("security");
	TCase	*tc = tcase_create("signatures");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_buyer_signatures);
	tcase_add_test(tc, test_payment_notices);
	tcase_add_test(tc, test_buyer_pays);
	tcase_add_test(tc, test_rotation_sighup);
	tcase_add_test(tc, test_sighup_cannot_turn_on);
	tcase_add_test(tc, test_refusals_under_load);
	tcase_add_test(tc, test_bad_key_files);
	tcase_add_test(tc, test_openssl_recipe);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(security_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
