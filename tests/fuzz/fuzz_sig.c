/*
 * libFuzzer target: the signature parser and checker, sig.c.  The input
 * is a sig parameter as a request sends it (any bytes).  Checked: a
 * parse that succeeds read exactly "DIGITS.HEX" and gives back the same
 * text when written out again; sig_check never calls a text good that no
 * key made, and says malformed exactly when the parser refused it.  The
 * input is copied into a buffer of exactly its size, so AddressSanitizer
 * sees any read past it.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spike.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_sig: %s:%d: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define FUZZ_NOW	1800000000LL

static struct sig_checker *
checker(void)
{
	static struct sig_checker	*c;
	static struct keyset		 sets[KEYS_KINDS];

	if (c != NULL)
		return c;
	sets[KEYS_BUYER].n = 2;
	sets[KEYS_BUYER].keys[0].len = 32;
	memset(sets[KEYS_BUYER].keys[0].bytes, 0x11, 32);
	sets[KEYS_BUYER].keys[1].len = 64;
	memset(sets[KEYS_BUYER].keys[1].bytes, 0x22, 64);
	if ((c = sig_checker_new(keyring_new(sets),
	    CONF_SIG_MAX_TTL_S_MAX)) == NULL)
		abort();
	return c;
}

/* Written out again, a parsed signature is the text it came from. */
static void
check_round_trip(const char *text, size_t len, const struct sig *s)
{
	char	 again[SIG_TEXT_MAX + 1];
	size_t	 n, i;

	n = (size_t)snprintf(again, sizeof(again), "%s.", s->exp_text);
	for (i = 0; i < SIG_MAC_BYTES; i++)
		n += (size_t)snprintf(again + n, sizeof(again) - n, "%02x",
		    s->mac[i]);
	FUZZ_ASSERT(n == len && memcmp(again, text, len) == 0);
	FUZZ_ASSERT(s->exp >= 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sig		 s;
	char			*text, *cstr;
	bool			 parsed;
	enum sig_verdict	 v;

	if ((text = malloc(size > 0 ? size : 1)) == NULL ||
	    (cstr = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	parsed = sig_parse(text, size, &s);
	if (parsed)
		check_round_trip(text, size, &s);

	memcpy(cstr, data, size);
	cstr[size] = '\0';
	v = sig_check(checker(), KEYS_BUYER, "alice", cstr, FUZZ_NOW);
	FUZZ_ASSERT(v != SIG_GOOD);
	if (strlen(cstr) == size && size > 0)
		FUZZ_ASSERT((v == SIG_MALFORMED) == !parsed);
	free(text);
	free(cstr);
	return 0;
}
