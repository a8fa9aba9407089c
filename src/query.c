/*
 * Request input: the query string and the form body, both
 * application/x-www-form-urlencoded (HTML 4.01, 17.13.4.1).  Only the
 * names of query_fields are read, as written and in lowercase; other
 * names are ignored, but none may be escaped, since nginx's $arg_NAME
 * would not see what a decoder sees.  Parsing into the same struct
 * query twice (query string, then body) catches a name given in both.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spike.h"

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* True when each '%' in len bytes of src starts two hex digits. */
static bool
escapes_well_formed(const char *src, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (src[i] == '%') {
			if (len - i < 3 || !is_hex(src[i + 1]) ||
			    !is_hex(src[i + 2]))
				return false;
			i += 2;
		}
	return true;
}

/*
 * True when a parameter name is written as itself: no %-escape, no '+'
 * and no NUL.  nginx's $arg_NAME matches names as written, so "us%65r"
 * or "user%00" would be a user to a decoder and none to nginx.
 */
static bool
name_literal(const char *name, size_t len)
{
	return memchr(name, '%', len) == NULL &&
	    memchr(name, '+', len) == NULL &&
	    memchr(name, '\0', len) == NULL;
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

/*
 * An order id: 1 to 32 of [0-9a-f], the 32 hex digits store.c makes or
 * an older decimal id.  Reads len bytes, whatever follows them.
 */
bool
query_order_valid(const char *order, size_t len)
{
	size_t	 i;
	char	 c;

	if (len == 0 || len > QUERY_ORDER_MAX)
		return false;
	for (i = 0; i < len; i++) {
		c = order[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
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

/* A listing's length: 1 to LISTING_MAX, in decimal, no leading zero. */
static bool
query_limit_valid(const char *limit, size_t len)
{
	size_t	 i;

	if (len == 0 || len > 4 || limit[0] == '0')
		return false;
	for (i = 0; i < len; i++)
		if (limit[i] < '0' || limit[i] > '9')
			return false;
	return strtoul(limit, NULL, 10) <= LISTING_MAX;
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
	  "order must be 1 to 32 of 0-9 a-f" },
	{ "sig", offsetof(struct query, sig),
	  offsetof(struct query, sig_given), QUERY_SIG_MAX + 1,
	  query_sig_valid, "sig given more than once",
	  "sig must be 1 to 128 printable characters" },
	{ "item", offsetof(struct query, item),
	  offsetof(struct query, item_given), QUERY_ITEM_MAX + 1,
	  item_name_valid, "item given more than once",
	  "item must be 1 to 64 of A-Z a-z 0-9 _ . -" },
	{ "limit", offsetof(struct query, limit),
	  offsetof(struct query, limit_given), QUERY_LIMIT_MAX + 1,
	  query_limit_valid, "limit given more than once",
	  "limit must be 1 to 1000" },
};

_Static_assert(QUERY_ITEM_MAX == ITEM_NAME_MAX,
    "the item parameter takes every item name");

/*
 * The field named by len bytes of name, or NULL.  *cased is set when
 * the name is a field's in another case: nginx's $arg_user matches
 * "USER" too, so such a name would be a user to nginx and none here.
 */
static const struct query_field *
find_field(const char *name, size_t len, bool *cased)
{
	const struct query_field *f;
	size_t	 i;

	*cased = false;
	for (i = 0; i < sizeof(query_fields) / sizeof(query_fields[0]); i++) {
		f = &query_fields[i];
		if (strlen(f->name) != len || strncasecmp(f->name, name, len))
			continue;
		if (memcmp(f->name, name, len) == 0)
			return f;
		*cased = true;
	}
	return NULL;
}

/*
 * One "name=value" pair.  A field's value is taken as written: every
 * character a field accepts is unreserved (RFC 3986, 2.3), so an escape
 * could only make nginx's $arg_ see another value than this parser.
 */
static enum spike_err
parse_pair(struct query *q, const char *pair, size_t len)
{
	const struct query_field *f;
	const char	*eq, *value;
	char		*dst;
	size_t		 nlen, vlen;
	bool		*given, cased;

	eq = memchr(pair, '=', len);
	nlen = eq != NULL ? (size_t)(eq - pair) : len;
	value = eq != NULL ? eq + 1 : pair + len;
	vlen = eq != NULL ? len - nlen - 1 : 0;
	if (!name_literal(pair, nlen))
		return query_refuse(q, "parameter names may not hold "
		    "%-escapes, + or NUL");
	if (!escapes_well_formed(value, vlen))
		return query_refuse(q, "malformed %-escape in query");
	if ((f = find_field(pair, nlen, &cased)) == NULL)
		return cased ? query_refuse(q, "parameter names must be "
		    "lowercase") : SPIKE_OK;
	given = (bool *)((char *)q + f->given_off);
	if (*given)
		return query_refuse(q, f->twice);
	*given = true;
	if (eq == NULL || vlen >= f->size || memchr(value, '\0', vlen))
		return query_refuse(q, f->invalid);
	dst = (char *)q + f->value_off;
	memcpy(dst, value, vlen);
	dst[vlen] = '\0';
	if (f->valid(dst, vlen))
		return SPIKE_OK;
	dst[0] = '\0';
	return query_refuse(q, f->invalid);
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
