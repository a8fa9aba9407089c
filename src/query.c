/*
 * Request input: the query string and the form body, both
 * application/x-www-form-urlencoded (HTML 4.01, 17.13.4.1).  Only "user"
 * and "order" are read; other names are ignored.  Parsing into the same struct query
 * twice (query string, then body) catches a name given in both.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "spike.h"

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode len bytes of src into dst (NUL-terminated, at most dstsz - 1
 * bytes kept).  Returns the decoded length, which may exceed what was
 * kept, or -1 on a malformed %-escape.
 */
static long
url_decode(char *dst, size_t dstsz, const char *src, size_t len)
{
	size_t	 i, o = 0;
	int	 hi, lo;
	char	 c;

	for (i = 0; i < len; i++, o++) {
		c = src[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if (len - i < 3)
				return -1;
			if ((hi = hex_value(src[i + 1])) < 0 ||
			    (lo = hex_value(src[i + 2])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 < dstsz)
			dst[o] = c;
	}
	if (dstsz > 0)
		dst[o + 1 < dstsz ? o : dstsz - 1] = '\0';
	return (long)o;
}

/* A user name: 1 to 64 of [A-Za-z0-9_.-]. */
bool
query_user_valid(const char *user, size_t len)
{
	size_t	 i;
	char	 c;

	if (len == 0 || len > QUERY_USER_MAX)
		return false;
	for (i = 0; i < len; i++) {
		c = user[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		    c == '-'))
			return false;
	}
	return true;
}

/* An order id: 1 to 20 decimal digits. */
bool
query_order_valid(const char *order, size_t len)
{
	return len > 0 && len <= QUERY_ORDER_MAX &&
	    strspn(order, "0123456789") == len;
}

/*
 * A signature as query.c takes it: 1 to QUERY_SIG_MAX printable ASCII
 * characters.  Whether it is well formed is sig.c's to say, so that a
 * malformed one is answered as unverified, not as bad input.
 */
bool
query_sig_valid(const char *sig, size_t len)
{
	size_t	 i;

	if (len == 0 || len > QUERY_SIG_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (sig[i] <= ' ' || sig[i] > '~')
			return false;
	return true;
}

static enum spike_err
query_refuse(struct query *q, const char *why)
{
	q->error = why;
	return SPIKE_EINPUT;
}

/* The parameters read, with where each goes and what it accepts. */
struct query_field {
	const char	*name;
	size_t		 value_off;
	size_t		 given_off;
	size_t		 size;
	bool		(*valid)(const char *, size_t);
	const char	*twice;
	const char	*invalid;
};

static const struct query_field query_fields[] = {
	{ "user", offsetof(struct query, user),
	  offsetof(struct query, user_given), QUERY_USER_MAX + 1,
	  query_user_valid, "user given more than once",
	  "user must be 1 to 64 characters of A-Z a-z 0-9 _ . -" },
	{ "order", offsetof(struct query, order),
	  offsetof(struct query, order_given), QUERY_ORDER_MAX + 1,
	  query_order_valid, "order given more than once",
	  "order must be 1 to 20 digits" },
	{ "sig", offsetof(struct query, sig),
	  offsetof(struct query, sig_given), QUERY_SIG_MAX + 1,
	  query_sig_valid, "sig given more than once",
	  "sig must be 1 to 128 printable characters" },
};

static const struct query_field *
find_field(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(query_fields) / sizeof(query_fields[0]); i++)
		if (strcmp(query_fields[i].name, name) == 0)
			return &query_fields[i];
	return NULL;
}

_Static_assert(QUERY_SIG_MAX >= QUERY_USER_MAX &&
    QUERY_SIG_MAX >= QUERY_ORDER_MAX, "parse_pair's value holds any field");

/* One "name=value" pair. */
static enum spike_err
parse_pair(struct query *q, const char *pair, size_t len)
{
	const struct query_field *f;
	const char	*eq;
	char		 name[8], value[QUERY_SIG_MAX + 2];
	size_t		 nlen;
	long		 decoded, vlen;
	bool		*given;

	eq = memchr(pair, '=', len);
	nlen = eq != NULL ? (size_t)(eq - pair) : len;
	if ((decoded = url_decode(name, sizeof(name), pair, nlen)) < 0)
		return query_refuse(q, "malformed %-escape in query");
	vlen = eq != NULL ? url_decode(value, sizeof(value), eq + 1,
	    len - nlen - 1) : 0;
	if (vlen < 0)
		return query_refuse(q, "malformed %-escape in query");
	if ((size_t)decoded >= sizeof(name) || (f = find_field(name)) == NULL)
		return SPIKE_OK;
	given = (bool *)((char *)q + f->given_off);
	if (*given)
		return query_refuse(q, f->twice);
	*given = true;
	if (eq == NULL || (size_t)vlen >= f->size ||
	    strlen(value) != (size_t)vlen || !f->valid(value, (size_t)vlen))
		return query_refuse(q, f->invalid);
	memcpy((char *)q + f->value_off, value, (size_t)vlen + 1);
	return SPIKE_OK;
}

/*
 * Parse len bytes of urlencoded text into q.  Returns SPIKE_OK, or
 * SPIKE_EINPUT with the reason in q->error.
 */
enum spike_err
query_parse(struct query *q, const char *text, size_t len)
{
	const char	*end = text + len, *amp;
	enum spike_err	 rc;

	while (text < end) {
		amp = memchr(text, '&', end - text);
		if (amp == NULL)
			amp = end;
		if (amp > text && (rc = parse_pair(q, text, amp - text)))
			return rc;
		text = amp + 1;
	}
	return SPIKE_OK;
}

/* True for application/x-www-form-urlencoded, parameters allowed. */
bool
query_is_form(const char *content_type)
{
	static const char form[] = "application/x-www-form-urlencoded";
	size_t		  n = sizeof(form) - 1;

	if (content_type == NULL || strncasecmp(content_type, form, n) != 0)
		return false;
	return content_type[n] == '\0' || content_type[n] == ';' ||
	    content_type[n] == ' ';
}
