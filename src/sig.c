/*
 * Buyer and payment signatures: "EXP.MAC", EXP a Unix time in seconds
 * and MAC the lowercase hex HMAC-SHA256 (RFC 2104, FIPS 180-4) of
 * "SUBJECT.EXP" under a key, SUBJECT the user ("USER") for a buyer and
 * "ORDER.USER" for a payment notice.  The HMAC is OpenSSL's libcrypto.
 *
 * Each worker thread verifies with a checker of its own: its copy of the
 * keys and a MAC context, refreshed from the shared keyring only when the
 * keyring's generation changes (keys.c), so that verifying takes no lock.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "spike.h"

struct sig_checker {
	struct keyring	*ring;
	unsigned int	 generation;	/* of the keys copied below */
	unsigned int	 max_ttl_s;	/* sig_max_ttl_s */
	struct keyset	 sets[KEYS_KINDS];
	EVP_MAC		*mac;
	EVP_MAC_CTX	*ctx;
};

static int
lower_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Parse len bytes of "EXP.MAC": 1 to SIG_EXP_DIGITS_MAX decimal digits,
 * a dot, and exactly 64 lowercase hex digits.  Returns false otherwise.
 */
bool
sig_parse(const char *text, size_t len, struct sig *s)
{
	const char	*dot;
	size_t		 ndigits, i;
	int		 hi, lo;

	if ((dot = memchr(text, '.', len)) == NULL)
		return false;
	ndigits = (size_t)(dot - text);
	if (ndigits == 0 || ndigits > SIG_EXP_DIGITS_MAX ||
	    len - ndigits - 1 != 2 * SIG_MAC_BYTES)
		return false;
	s->exp = 0;
	for (i = 0; i < ndigits; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		s->exp = s->exp * 10 + (text[i] - '0');
		s->exp_text[i] = text[i];
	}
	s->exp_text[ndigits] = '\0';
	for (i = 0; i < SIG_MAC_BYTES; i++) {
		if ((hi = lower_hex_value(dot[1 + 2 * i])) < 0 ||
		    (lo = lower_hex_value(dot[2 + 2 * i])) < 0)
			return false;
		s->mac[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* HMAC-SHA256 of len bytes of msg under key, in one call (for minting). */
bool
sig_hmac(const struct key *key, const char *msg, size_t len,
    unsigned char mac[SIG_MAC_BYTES])
{
	unsigned int	 maclen = 0;

	if (HMAC(EVP_sha256(), key->bytes, (int)key->len,
	    (const unsigned char *)msg, len, mac, &maclen) == NULL)
		return false;
	return maclen == SIG_MAC_BYTES;
}

/* "SUBJECT.EXP" into buf; returns its length, or 0 if it does not fit. */
static size_t
signed_text(char *buf, size_t bufsz, const char *subject,
    const char *exp_text)
{
	int	 n;

	n = snprintf(buf, bufsz, "%s.%s", subject, exp_text);
	if (n < 0 || (size_t)n >= bufsz)
		return 0;
	return (size_t)n;
}

/*
 * Write "EXP.MAC" for subject, valid until exp, into out.  Returns false
 * if it does not fit or libcrypto fails.
 */
bool
sig_mint(const struct key *key, const char *subject, long long exp,
    char *out, size_t outsz)
{
	char		 exp_text[SIG_EXP_DIGITS_MAX + 2];
	char		 msg[SIG_SUBJECT_MAX + SIG_EXP_DIGITS_MAX + 2];
	unsigned char	 mac[SIG_MAC_BYTES];
	size_t		 len, i;
	int		 n;

	n = snprintf(exp_text, sizeof(exp_text), "%lld", exp);
	if (exp < 0 || n < 0 || (size_t)n > SIG_EXP_DIGITS_MAX ||
	    (len = signed_text(msg, sizeof(msg), subject, exp_text)) == 0 ||
	    !sig_hmac(key, msg, len, mac) || outsz < (size_t)n + 2 +
	    2 * SIG_MAC_BYTES)
		return false;
	n = snprintf(out, outsz, "%s.", exp_text);
	for (i = 0; i < SIG_MAC_BYTES; i++)
		n += snprintf(out + n, outsz - n, "%02x", mac[i]);
	return true;
}

/* A checker for one thread; NULL when libcrypto cannot make one. */
struct sig_checker *
sig_checker_new(struct keyring *ring, unsigned int max_ttl_s)
{
	struct sig_checker	*c;
	OSSL_PARAM		 params[2];

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->ring = ring;
	c->max_ttl_s = max_ttl_s;
	c->generation = keyring_copy(ring, c->sets);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((c->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (c->ctx = EVP_MAC_CTX_new(c->mac)) == NULL ||
	    !EVP_MAC_CTX_set_params(c->ctx, params)) {
		sig_checker_free(c);
		return NULL;
	}
	return c;
}

void
sig_checker_free(struct sig_checker *c)
{
	if (c == NULL)
		return;
	EVP_MAC_CTX_free(c->ctx);
	EVP_MAC_free(c->mac);
	OPENSSL_cleanse(c->sets, sizeof(c->sets));
	free(c);
}

/* Does key make mac for msg?  Compared in constant time. */
static bool
mac_matches(struct sig_checker *c, const struct key *key, const char *msg,
    size_t len, const unsigned char *mac)
{
	unsigned char	 want[SIG_MAC_BYTES];
	size_t		 wantlen = 0;

	if (!EVP_MAC_init(c->ctx, key->bytes, key->len, NULL) ||
	    !EVP_MAC_update(c->ctx, (const unsigned char *)msg, len) ||
	    !EVP_MAC_final(c->ctx, want, &wantlen, sizeof(want)) ||
	    wantlen != SIG_MAC_BYTES)
		return false;
	return CRYPTO_memcmp(want, mac, SIG_MAC_BYTES) == 0;
}

/*
 * Verify text, a signature of subject, against the keys of kind as the
 * keyring holds them now, at now_s (Unix seconds).  An EXP before now_s
 * is expired; one more than the checker's max_ttl_s after it is refused
 * too, so that a leaked signature cannot be a pass for good.  Every key
 * is tried, so the time taken does not say which one matched.
 */
enum sig_verdict
sig_check(struct sig_checker *c, enum keys_kind kind, const char *subject,
    const char *text, long long now_s)
{
	struct sig	 s;
	char		 msg[SIG_SUBJECT_MAX + SIG_EXP_DIGITS_MAX + 2];
	size_t		 len, i;
	bool		 good = false;

	if (text == NULL || *text == '\0')
		return SIG_MISSING;
	if (!sig_parse(text, strlen(text), &s))
		return SIG_MALFORMED;
	if (s.exp < now_s)
		return SIG_EXPIRED;
	if (s.exp - now_s > c->max_ttl_s)
		return SIG_TOO_FAR;
	if ((len = signed_text(msg, sizeof(msg), subject, s.exp_text)) == 0)
		return SIG_WRONG;
	if (keyring_generation(c->ring) != c->generation)
		c->generation = keyring_copy(c->ring, c->sets);
	for (i = 0; i < c->sets[kind].n; i++)
		if (mac_matches(c, &c->sets[kind].keys[i], msg, len, s.mac))
			good = true;
	return good ? SIG_GOOD : SIG_WRONG;
}

const char *
sig_verdict_name(enum sig_verdict v)
{
	switch (v) {
	case SIG_GOOD:
		return "good";
	case SIG_MISSING:
		return "missing";
	case SIG_MALFORMED:
		return "malformed";
	case SIG_EXPIRED:
		return "expired";
	case SIG_TOO_FAR:
		return "too_far";
	case SIG_WRONG:
		break;
	}
	return "wrong";
}
