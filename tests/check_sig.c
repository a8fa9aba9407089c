/*
 * sig.c and keys.c: the signature parser, HMAC-SHA256 against RFC 4231,
 * minting and checking with the current and the previous key, a key
 * replaced under a checker, the key files spike-fcgi refuses (naming
 * spike.conf's line), and route.c refusing unsigned requests before it
 * reaches for the stock or Redis.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spike.h"
#include "unit.h"

#define DEFAULT_ITEM	"ticket_hash_key"	/* stock_key's default */

#define NOW	1800000000LL	/* a fixed "now" for sig_check */

static const char good_mac[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void
make_key(struct key *k, unsigned char fill, size_t len)
{
	memset(k, 0, sizeof(*k));
	memset(k->bytes, fill, len);
	k->len = len;
}

/* A keyring of the given buyer keys (and one pay key, fill 0x77). */
static struct keyring *
ring_of(const struct key *buyer, size_t n)
{
	static struct keyset	 sets[KEYS_KINDS];
	size_t			 i;

	memset(sets, 0, sizeof(sets));
	for (i = 0; i < n; i++)
		sets[KEYS_BUYER].keys[i] = buyer[i];
	sets[KEYS_BUYER].n = n;
	make_key(&sets[KEYS_PAY].keys[0], 0x77, 32);
	sets[KEYS_PAY].n = 1;
	return keyring_new(sets);
}

START_TEST(test_parse_good)
{
	char		 text[128];
	struct sig	 s;

	snprintf(text, sizeof(text), "1800000300.%s", good_mac);
	ck_assert(sig_parse(text, strlen(text), &s));
	ck_assert_int_eq(s.exp, 1800000300LL);
	ck_assert_str_eq(s.exp_text, "1800000300");
	ck_assert_int_eq(s.mac[0], 0x01);
	ck_assert_int_eq(s.mac[31], 0xef);
	snprintf(text, sizeof(text), "999999999999999999.%s", good_mac);
	ck_assert(sig_parse(text, strlen(text), &s));
}
END_TEST

/* Each of these is malformed: the parser must say so. */
START_TEST(test_parse_malformed)
{
	static const struct {
		const char	*before;
		int		 hex;		/* digits of good_mac */
		const char	*after;
	} bad[] = {
		{ "", 0, "" }, { ".", 0, "" }, { "1800000300", 0, "" },
		{ "1800000300.", 0, "" }, { ".", 64, "" }, { "x1800.", 64, "" },
		{ "18a0.", 64, "" }, { "-1800.", 64, "" }, { "+1800.", 64, "" },
		{ "1800..", 64, "" }, { "1800.", 64, "0" },
		{ "1800.", 64, "." },
		{ "1800 .", 64, "" }, { "1800.", 63, "" }, { "1800.", 64, "Z" },
		{ "9999999999999999999.", 64, "" },
	};
	char		 text[256];
	struct sig	 s;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%.*s%s", bad[i].before,
		    bad[i].hex, good_mac, bad[i].after);
		ck_assert_msg(!sig_parse(text, strlen(text), &s),
		    "\"%s\" parsed", text);
	}
	/* Uppercase hex is not what the spec says. */
	snprintf(text, sizeof(text), "1800.%s", good_mac);
	text[5 + 10] = 'A';
	ck_assert(!sig_parse(text, strlen(text), &s));
	/* A NUL inside is not skipped over. */
	snprintf(text, sizeof(text), "1800.%s", good_mac);
	text[8] = '\0';
	ck_assert(!sig_parse(text, 5 + 64, &s));
}
END_TEST

/* RFC 4231, test case 2: key "Jefe". */
START_TEST(test_hmac_rfc4231)
{
	static const char	 msg[] = "what do ya want for nothing?";
	static const unsigned char want[SIG_MAC_BYTES] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04,
		0x24, 0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08,
		0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec,
		0x38, 0x43,
	};
	struct key		 k;
	unsigned char		 mac[SIG_MAC_BYTES];

	memset(&k, 0, sizeof(k));
	memcpy(k.bytes, "Jefe", 4);
	k.len = 4;
	ck_assert(sig_hmac(&k, msg, strlen(msg), mac));
	ck_assert_mem_eq(mac, want, sizeof(want));
}
END_TEST

/* What sig_mint writes: "EXP." and the HMAC of "SUBJECT.EXP", in hex. */
START_TEST(test_mint_format)
{
	struct key	 k;
	unsigned char	 mac[SIG_MAC_BYTES];
	char		 out[SIG_TEXT_MAX + 1], hex[2 * SIG_MAC_BYTES + 1];
	size_t		 i;

	make_key(&k, 0x42, 32);
	ck_assert(sig_mint(&k, "alice", 1800000300LL, out, sizeof(out)));
	ck_assert(sig_hmac(&k, "alice.1800000300", 16, mac));
	for (i = 0; i < SIG_MAC_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	ck_assert_int_eq(strncmp(out, "1800000300.", 11), 0);
	ck_assert_str_eq(out + 11, hex);
	ck_assert(!sig_mint(&k, "alice", 1800000300LL, out, 11 + 64));
	ck_assert(!sig_mint(&k, "alice", -1, out, sizeof(out)));
}
END_TEST

START_TEST(test_check_verdicts)
{
	struct key		 keys[2];
	struct keyring		*ring;
	struct sig_checker	*c;
	char			 sig[SIG_TEXT_MAX + 1], other[SIG_TEXT_MAX + 1];

	make_key(&keys[0], 0x11, 32);
	make_key(&keys[1], 0x22, 40);
	ck_assert_ptr_nonnull(ring = ring_of(keys, 1));
	ck_assert_ptr_nonnull(c = sig_checker_new(ring,
	    CONF_DEFAULT_SIG_MAX_TTL_S));
	ck_assert(sig_mint(&keys[0], "alice", NOW + 60, sig, sizeof(sig)));
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "alice", sig, NOW),
	    SIG_GOOD);
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "alice", sig, NOW + 60),
	    SIG_GOOD);
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "alice", sig, NOW + 61),
	    SIG_EXPIRED);
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "alice", sig,
	    NOW + 60 - CONF_DEFAULT_SIG_MAX_TTL_S), SIG_GOOD);
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "alice", sig,
	    NOW + 59 - CONF_DEFAULT_SIG_MAX_TTL_S), SIG_TOO_FAR);
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "bob", sig, NOW), SIG_WRONG);
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "alice", "", NOW),
	    SIG_MISSING);
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "alice", NULL, NOW),
	    SIG_MISSING);
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "alice", "12.ab", NOW),
	    SIG_MALFORMED);
	/* A buyer's signature is no payment notice, nor the reverse. */
	ck_assert_int_eq(sig_check(c, KEYS_PAY, "alice", sig, NOW), SIG_WRONG);
	/* Another key, and a later EXP than the one signed. */
	ck_assert(sig_mint(&keys[1], "alice", NOW + 60, other, sizeof(other)));
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "alice", other, NOW),
	    SIG_WRONG);
	memcpy(other, sig, sizeof(other));
	other[9] = other[9] == '9' ? '8' : '9';
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "alice", other, NOW),
	    SIG_WRONG);
	/* One bit of the MAC. */
	memcpy(other, sig, sizeof(other));
	other[strlen(other) - 1] ^= 1;
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "alice", other, NOW),
	    SIG_WRONG);
	sig_checker_free(c);
	keyring_free(ring);
}
END_TEST

/*
 * Rotation: both keys verify while both are configured; once the ring
 * holds only the new one, a checker made before refuses the old key's
 * signatures at its next check.
 */
START_TEST(test_check_rotation)
{
	struct key		 keys[2];
	struct keyset		 sets[KEYS_KINDS];
	struct keyring		*ring;
	struct sig_checker	*c;
	char			 old[SIG_TEXT_MAX + 1], cur[SIG_TEXT_MAX + 1];
	unsigned int		 gen;

	make_key(&keys[0], 0x33, 32);	/* current */
	make_key(&keys[1], 0x44, 32);	/* previous */
	ck_assert_ptr_nonnull(ring = ring_of(keys, 2));
	ck_assert_ptr_nonnull(c = sig_checker_new(ring,
	    CONF_DEFAULT_SIG_MAX_TTL_S));
	ck_assert(sig_mint(&keys[0], "carol", NOW + 5, cur, sizeof(cur)));
	ck_assert(sig_mint(&keys[1], "carol", NOW + 5, old, sizeof(old)));
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "carol", cur, NOW), SIG_GOOD);
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "carol", old, NOW), SIG_GOOD);

	gen = keyring_generation(ring);
	memset(sets, 0, sizeof(sets));
	sets[KEYS_BUYER].keys[0] = keys[0];
	sets[KEYS_BUYER].n = 1;
	keyring_replace(ring, sets);
	ck_assert_uint_ne(keyring_generation(ring), gen);
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "carol", cur, NOW), SIG_GOOD);
	ck_assert_int_eq(sig_check(c, KEYS_BUYER, "carol", old, NOW),
	    SIG_WRONG);
	sig_checker_free(c);
	keyring_free(ring);
}
END_TEST

/* ---- key files ---------------------------------------------------------- */

static char	 dir[256];

static void
keydir_setup(void)
{
	unit_tmpdir_make(dir, sizeof(dir), "check_sig");
}

static void
keydir_teardown(void)
{
	unit_tmpdir_remove(dir);
}

/* Write len bytes of fill to dir/name with mode; returns its path. */
static const char *
write_key(const char *name, size_t len, mode_t mode)
{
	static char	 path[512];
	unsigned char	 buf[KEYS_MAX_BYTES + 8];
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_ne(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
	    -1);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* Parse a spike.conf with "buyer_key = path" on line 3 and load it. */
static enum spike_err
load_buyer_key(const char *path, struct keyset *set, char *err, size_t errsz)
{
	struct conf	 conf;
	char		 text[1024];

	conf_defaults(&conf);
	snprintf(text, sizeof(text), "instance = 127.0.0.1:3001\n\n"
	    "buyer_key = %s\n", path);
	ck_assert_int_eq(conf_parse(&conf, "spike.conf", text, err, errsz),
	    SPIKE_OK);
	ck_assert_uint_eq(conf.nbuyer_keys, 1);
	return keys_load(&conf, KEYS_BUYER, set, err, errsz);
}

START_TEST(test_key_file_good)
{
	struct keyset	 set;
	char		 err[CONF_ERR_MAX] = "";

	ck_assert_int_eq(load_buyer_key(write_key("k", 32, 0600), &set, err,
	    sizeof(err)), SPIKE_OK);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_uint_eq(set.keys[0].len, 32);
	ck_assert_int_eq(load_buyer_key(write_key("k4", 1024, 0400), &set, err,
	    sizeof(err)), SPIKE_OK);
	ck_assert_uint_eq(set.keys[0].len, 1024);
}
END_TEST

/* Each bad key file is refused with spike.conf:3, the path and why. */
START_TEST(test_key_file_refused)
{
	static const struct {
		const char	*name;
		size_t		 len;
		mode_t		 mode;
		const char	*why;
	} bad[] = {
		{ "short", 31, 0600, "31 bytes" },
		{ "empty", 0, 0600, "0 bytes" },
		{ "long", 1025, 0600, "1025 bytes" },
		{ "group", 32, 0640, "mode 0640" },
		{ "other", 32, 0604, "mode 0604" },
		{ "gwrite", 32, 0620, "mode 0620" },
	};
	struct keyset	 set;
	char		 err[CONF_ERR_MAX], want[600], path[512];
	const char	*p;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = write_key(bad[i].name, bad[i].len, bad[i].mode);
		ck_assert_int_eq(load_buyer_key(p, &set, err, sizeof(err)),
		    SPIKE_ECONFIG);
		snprintf(want, sizeof(want), "spike.conf:3: buyer_key %s: ", p);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0 &&
		    strstr(err, bad[i].why) != NULL, "%s: %s", bad[i].name,
		    err);
		ck_assert_uint_eq(set.n, 0);
	}
	snprintf(path, sizeof(path), "%s/missing", dir);
	ck_assert_int_eq(load_buyer_key(path, &set, err, sizeof(err)),
	    SPIKE_ECONFIG);
	ck_assert_msg(strstr(err, "spike.conf:3: ") == err &&
	    strstr(err, "No such file") != NULL, "%s", err);
	ck_assert_int_eq(load_buyer_key(dir, &set, err, sizeof(err)),
	    SPIKE_ECONFIG);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);
}
END_TEST

/*
 * A pay_key that is also a buyer_key is refused, naming the pay_key's
 * line and the buyer_key's: a buyer's signature for the user "ORDER.U"
 * would otherwise pass as ORDER's payment notice for U.
 */
START_TEST(test_key_shared_refused)
{
	struct keyset	 sets[KEYS_KINDS];
	struct conf	 conf;
	char		 text[2048], err[CONF_ERR_MAX] = "";
	char		 same[512], other[512];

	snprintf(same, sizeof(same), "%s", write_key("same", 32, 0600));
	snprintf(other, sizeof(other), "%s", write_key("other", 33, 0600));
	conf_defaults(&conf);
	snprintf(text, sizeof(text), "instance = 127.0.0.1:3001\n"
	    "buyer_key = %s\nbuyer_key = %s\npay_key = %s\n", other, same,
	    same);
	ck_assert_int_eq(conf_parse(&conf, "spike.conf", text, err,
	    sizeof(err)), SPIKE_OK);
	ck_assert_int_eq(keys_load_all(&conf, sets, err, sizeof(err)),
	    SPIKE_ECONFIG);
	ck_assert_msg(strncmp(err, "spike.conf:4: pay_key ", 22) == 0 &&
	    strstr(err, "buyer_key on line 3") != NULL, "%s", err);
	ck_assert_uint_eq(sets[KEYS_BUYER].n, 0);

	conf_defaults(&conf);
	snprintf(text, sizeof(text), "instance = 127.0.0.1:3001\n"
	    "buyer_key = %s\npay_key = %s\n", same, other);
	ck_assert_int_eq(conf_parse(&conf, "spike.conf", text, err,
	    sizeof(err)), SPIKE_OK);
	ck_assert_int_eq(keys_load_all(&conf, sets, err, sizeof(err)),
	    SPIKE_OK);
	ck_assert_uint_eq(sets[KEYS_PAY].n, 1);
}
END_TEST

/* Given twice: current and previous; a third time, or relative, refused. */
START_TEST(test_conf_key_lines)
{
	struct conf	 conf;
	char		 err[CONF_ERR_MAX];

	conf_defaults(&conf);
	ck_assert_int_eq(conf_parse(&conf, "s.conf", "instance = 127.0.0.1:1\n"
	    "buyer_key = /a\nbuyer_key = /b\npay_key = /c\n", err,
	    sizeof(err)), SPIKE_OK);
	ck_assert_uint_eq(conf.nbuyer_keys, 2);
	ck_assert_str_eq(conf.buyer_keys[0].path, "/a");
	ck_assert_uint_eq(conf.buyer_keys[1].line, 3);
	ck_assert_uint_eq(conf.npay_keys, 1);
	ck_assert_str_eq(conf.source, "s.conf");

	conf_defaults(&conf);
	ck_assert_int_eq(conf_parse(&conf, "s.conf", "instance = 127.0.0.1:1\n"
	    "pay_key = /a\npay_key = /b\npay_key = /c\n", err, sizeof(err)),
	    SPIKE_ECONFIG);
	ck_assert_msg(strncmp(err, "s.conf:4: pay_key given more", 28) == 0,
	    "%s", err);
	conf_defaults(&conf);
	ck_assert_int_eq(conf_parse(&conf, "s.conf", "instance = 127.0.0.1:1\n"
	    "buyer_key = key\n", err, sizeof(err)), SPIKE_ECONFIG);
	ck_assert_msg(strstr(err, "s.conf:2: ") == err &&
	    strstr(err, "absolute") != NULL, "%s", err);
}
END_TEST

/* ---- route.c: refused before the stock or Redis ------------------------ */

/*
 * With keys set, a buy, order or pay request that is not signed is
 * refused 403 before any stock or store: the context has neither a
 * synced stock nor a store nor a sync state, which a handler that went
 * on would reach for.
 */
START_TEST(test_route_refuses_unsigned)
{
	static const struct {
		const char	*method, *path, *query;
		int		 code;
	} cases[] = {
		{ "GET", "/buy/ticket", "user=alice", -12 },
		{ "GET", "/buy/ticket", "", -12 },
		{ "GET", "/buy/ticket", "user=alice&sig=1.2", -12 },
		{ "POST", "/buy/ticket", "user=alice&sig=x", -12 },
		{ "GET", "/order", "user=alice", -12 },
		{ "POST", "/pay", "user=alice&order=1", -14 },
	};
	struct key		 keys[1];
	struct keyring		*ring;
	struct conf		 conf;
	struct stock		 stock;
	struct route_ctx	 ctx;
	struct route_request	 req;
	struct route_answer	 ans;
	char			 q[256], sig[SIG_TEXT_MAX + 1];
	size_t			 i;

	make_key(&keys[0], 0x11, 32);
	ck_assert_ptr_nonnull(ring = ring_of(keys, 1));
	conf_defaults(&conf);
	conf.nbuyer_keys = conf.npay_keys = 1;
	stock_init(&stock);
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ctx.stock = &stock;
	ck_assert_ptr_nonnull(ctx.sig = sig_checker_new(ring,
	    CONF_DEFAULT_SIG_MAX_TTL_S));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&req, 0, sizeof(req));
		req.method = cases[i].method;
		req.path = cases[i].path;
		req.query = cases[i].query;
		route_handle(&ctx, &req, &ans);
		ck_assert_msg(reply_code(ans.reply.kind) == cases[i].code &&
		    reply_status(ans.reply.kind) == 403, "%s %s?%s: %d",
		    req.method, req.path, req.query,
		    reply_code(ans.reply.kind));
	}
	/* A buyer's good signature does not pay when pay_key is set. */
	ck_assert(sig_mint(&keys[0], "alice", (long long)time(NULL) + 60, sig,
	    sizeof(sig)));
	snprintf(q, sizeof(q), "user=alice&order=1&sig=%s", sig);
	req.method = "POST";
	req.path = "/pay";
	req.query = q;
	route_handle(&ctx, &req, &ans);
	ck_assert_int_eq(reply_code(ans.reply.kind), -14);
	/* Nor does alice's signature buy as bob. */
	snprintf(q, sizeof(q), "user=bob&sig=%s", sig);
	req.method = "GET";
	req.path = "/buy/ticket";
	route_handle(&ctx, &req, &ans);
	ck_assert_int_eq(reply_code(ans.reply.kind), -12);
	ck_assert_ptr_nonnull(strstr(ans.reply.extra, "\"sig\":\"wrong\""));
	sig_checker_free(ctx.sig);
	keyring_free(ring);
}
END_TEST

/*
 * The subjects route.c checks: "USER" and "ORDER.USER" for the default
 * item, whether named or not, "ITEM:USER" and "ITEM:ORDER.USER" for any
 * other.  The item table is empty, so a request whose signature passes
 * is answered 404 (item not on sale) and one whose signature fails 403.
 */
START_TEST(test_route_item_subjects)
{
	static const struct {
		const char	*path, *subject, *query;
		int		 code;
	} cases[] = {
		{ "/buy/ticket", "A:alice", "item=A&user=alice", -4 },
		{ "/buy/ticket", "alice", "item=A&user=alice", -12 },
		{ "/buy/ticket", "A:alice", "item=B&user=alice", -12 },
		{ "/buy/ticket", "A:alice", "user=alice", -12 },
		{ "/buy/ticket", "alice", "user=alice", -4 },
		{ "/buy/ticket", "alice", "item=" DEFAULT_ITEM "&user=alice",
		  -4 },
		{ "/order", "A:alice", "item=A&user=alice", -4 },
		{ "/order", "alice", "item=A&user=alice", -12 },
		{ "/pay", "A:0a.alice", "item=A&order=0a&user=alice", -4 },
		{ "/pay", "0a.alice", "item=A&order=0a&user=alice", -14 },
		{ "/pay", "0a.alice", "order=0a&user=alice", -4 },
		{ "/pay", "A:0a.alice", "order=0a&user=alice", -14 },
	};
	struct key		 keys[1], pay;
	struct keyring		*ring;
	struct conf		 conf;
	struct route_ctx	 ctx;
	struct route_request	 req;
	struct route_answer	 ans;
	char			 q[256], sig[SIG_TEXT_MAX + 1];
	size_t			 i;

	make_key(&keys[0], 0x11, 32);
	make_key(&pay, 0x77, 32);
	ck_assert_ptr_nonnull(ring = ring_of(keys, 1));
	conf_defaults(&conf);
	ck_assert_str_eq(conf.stock_key, DEFAULT_ITEM);
	conf.nbuyer_keys = conf.npay_keys = 1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ck_assert_ptr_nonnull(ctx.items = item_table_new(4));
	ck_assert_ptr_nonnull(ctx.sig = sig_checker_new(ring,
	    CONF_DEFAULT_SIG_MAX_TTL_S));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool	 paying = strcmp(cases[i].path, "/pay") == 0;

		ck_assert(sig_mint(paying ? &pay : &keys[0], cases[i].subject,
		    (long long)time(NULL) + 60, sig, sizeof(sig)));
		snprintf(q, sizeof(q), "%s&sig=%s", cases[i].query, sig);
		memset(&req, 0, sizeof(req));
		req.method = paying ? "POST" : "GET";
		req.path = cases[i].path;
		req.query = q;
		route_handle(&ctx, &req, &ans);
		ck_assert_msg(reply_code(ans.reply.kind) == cases[i].code,
		    "%s?%s signed over \"%s\": code %d, want %d", req.path,
		    cases[i].query, cases[i].subject,
		    reply_code(ans.reply.kind), cases[i].code);
	}
	/* The longest subject there is fits: 64 + 1 + 32 + 1 + 64. */
	ck_assert_int_eq(SIG_SUBJECT_MAX, QUERY_ITEM_MAX + 1 +
	    QUERY_ORDER_MAX + 1 + QUERY_USER_MAX + 1);
	item_table_free(ctx.items);
	sig_checker_free(ctx.sig);
	keyring_free(ring);
}
END_TEST

Suite *
make_sig_suite(void)
{
	Suite	*s = suite_create("sig");
	TCase	*tc = tcase_create("signatures");
	TCase	*files = tcase_create("key files");

	tcase_add_test(tc, test_parse_good);
	tcase_add_test(tc, test_parse_malformed);
	tcase_add_test(tc, test_hmac_rfc4231);
	tcase_add_test(tc, test_mint_format);
	tcase_add_test(tc, test_check_verdicts);
	tcase_add_test(tc, test_check_rotation);
	tcase_add_test(tc, test_conf_key_lines);
	tcase_add_test(tc, test_route_refuses_unsigned);
	tcase_add_test(tc, test_route_item_subjects);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(files, keydir_setup, keydir_teardown);
	tcase_add_test(files, test_key_file_good);
	tcase_add_test(files, test_key_file_refused);
	tcase_add_test(files, test_key_shared_refused);
	suite_add_tcase(s, files);
	return s;
}
