/*
 * Request input: the query string and the form body, both
 * application/x-www-form-urlencoded (HTML 4.01, 17.13.4.1).  Only "user"
 * is read; other names are ignored.  Parsing into the same struct query
 * twice (query string, then body) catches a user given in both.
 */
#include "config.h"

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

static enum spike_err
query_refuse(struct query *q, const char *why)
{
	q->error = why;
	return SPIKE_EINPUT;
}

/* One "name=value" pair. */
static enum spike_err
parse_pair(struct query *q, const char *pair, size_t len)
{
	const char	*eq;
	char		 name[8], value[QUERY_USER_MAX + 2];
	size_t		 nlen;
	long		 decoded, vlen;

	eq = memchr(pair, '=', len);
	nlen = eq != NULL ? (size_t)(eq - pair) : len;
	if ((decoded = url_decode(name, sizeof(name), pair, nlen)) < 0)
		return query_refuse(q, "malformed %-escape in query");
	vlen = eq != NULL ? url_decode(value, sizeof(value), eq + 1,
	    len - nlen - 1) : 0;
	if (vlen < 0)
		return query_refuse(q, "malformed %-escape in query");
	if (decoded != 4 || strcmp(name, "user") != 0)
		return SPIKE_OK;
	if (q->user_given)
		return query_refuse(q, "user given more than once");
	q->user_given = true;
	if (eq == NULL || !query_user_valid(value, (size_t)vlen) ||
	    strlen(value) != (size_t)vlen)
		return query_refuse(q, "user must be 1 to 64 characters of "
		    "A-Z a-z 0-9 _ . -");
	memcpy(q->user, value, (size_t)vlen + 1);
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
