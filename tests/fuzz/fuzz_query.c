/*
 * libFuzzer target: the request input parser, query.c.  The input is a
 * query string and a form body, split at the first NUL byte (a query
 * string reaches route.c as a C string, a body by its length), parsed
 * into one struct query as route.c does.  Each part is copied into a
 * buffer of exactly its size, so AddressSanitizer sees any read past it.
 * Also: query_is_form on the body as a Content-Type, the validators on
 * raw bytes, and log_escape, which escapes request text for log lines.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spike.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Stop the run with a libFuzzer crash report naming the broken rule. */
#define FUZZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_query: %s:%d: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

/* A malloc'd copy of n bytes; NUL-terminated only when nul is set. */
static char *
copy_bytes(const uint8_t *data, size_t n, int nul)
{
	char	*p;

	if ((p = malloc(nul ? n + 1 : n > 0 ? n : 1)) == NULL)
		abort();
	memcpy(p, data, n);
	if (nul)
		p[n] = '\0';
	return p;
}

/* What a struct query may hold after a successful parse. */
static void
check_parsed(const struct query *q)
{
	size_t	 ulen = strnlen(q->user, sizeof(q->user));
	size_t	 olen = strnlen(q->order, sizeof(q->order));

	FUZZ_ASSERT(ulen < sizeof(q->user));
	FUZZ_ASSERT(olen < sizeof(q->order));
	FUZZ_ASSERT(ulen == 0 || (q->user_given &&
	    query_user_valid(q->user, ulen)));
	FUZZ_ASSERT(olen == 0 || (q->order_given &&
	    query_order_valid(q->order, olen)));
	FUZZ_ASSERT(!q->user_given || ulen > 0);
	FUZZ_ASSERT(!q->order_given || olen > 0);
}

/* Parse one part; on refusal the reason must be there. */
static enum spike_err
parse_part(struct query *q, const char *text, size_t len)
{
	enum spike_err	 rc;

	q->error = NULL;
	rc = query_parse(q, text, len);
	FUZZ_ASSERT(rc == SPIKE_OK || rc == SPIKE_EINPUT);
	if (rc == SPIKE_OK)
		check_parsed(q);
	else
		FUZZ_ASSERT(q->error != NULL && q->error[0] != '\0');
	return rc;
}

/* log_escape into a buffer of every small size, then a roomy one. */
static void
check_escape(const char *s)
{
	char	 buf[256];
	size_t	 sz, i;

	for (sz = 1; sz <= 9; sz++) {
		log_escape(buf, sz, s);
		FUZZ_ASSERT(strlen(buf) < sz);
	}
	log_escape(buf, sizeof(buf), s);
	for (i = 0; buf[i] != '\0'; i++)
		FUZZ_ASSERT((unsigned char)buf[i] >= 0x20 &&
		    (unsigned char)buf[i] < 0x7f && buf[i] != '"');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct query	 q;
	const uint8_t	*nul = memchr(data, '\0', size);
	size_t		 qlen = nul != NULL ? (size_t)(nul - data) : size;
	size_t		 blen = nul != NULL ? size - qlen - 1 : 0;
	char		*qs, *body, *ctype;

	qs = copy_bytes(data, qlen, 1);
	body = copy_bytes(data + size - blen, blen, 0);
	ctype = copy_bytes(data + size - blen, blen, 1);

	memset(&q, 0, sizeof(q));
	if (parse_part(&q, qs, strlen(qs)) == SPIKE_OK && blen > 0)
		(void)parse_part(&q, body, blen);

	/* The second part as a Content-Type header. */
	if (query_is_form(ctype))
		FUZZ_ASSERT(strncasecmp(ctype,
		    "application/x-www-form-urlencoded", 33) == 0);
	(void)query_user_valid(body, blen);
	(void)query_order_valid(ctype, strlen(ctype));
	check_escape(qs);

	free(qs);
	free(body);
	free(ctype);
	return 0;
}
