/*
 * A FastCGI request checked before libfcgi reads it.
 *
 * libfcgi 2.4.2 trusts the stream.  ReadParams adds a pair's name and
 * value lengths in an int and aborts when malloc fails; the padding of
 * BEGIN_REQUEST and of the empty PARAMS record is read as the next
 * header; its GET_VALUES answer overflows a 64-byte buffer past three
 * names; every other management record leaks memory, and one with
 * content has it read as the request's; a PARAMS stream is kept in
 * memory however long it is.  The worker peeks at the bytes of each
 * request and lets libfcgi read them only when this file finds them
 * safe: version 1 records (FastCGI Specification 1.0, section 3.3) of
 * one Responder request (section 5), name-value pairs (section 3.4)
 * within the limits, no management record (section 4) but GET_VALUES of
 * at most three pairs.
 *
 * The scan starts over on every call, on everything peeked so far; it
 * looks as far as libfcgi will read: the end of STDIN, or body_max + 1
 * bytes of body, which must all have come.
 */
#include "config.h"

#include <string.h>

#include <fastcgi.h>

#include "spike.h"

#define GET_VALUES_NAMES_MAX	3	/* names libfcgi's answer has room for */
#define GET_VALUES_MAX		1	/* records in a request */

/* Where the request is, as far as it was scanned. */
enum scan_phase {
	PHASE_BEGIN,		/* waiting for BEGIN_REQUEST */
	PHASE_PARAMS,
	PHASE_STDIN,
};

/* A run of name-value pairs, fed in pieces (section 3.4). */
struct pairs {
	uint32_t	 len[2];	/* name, value */
	unsigned int	 nlen;		/* lengths complete in len[] */
	unsigned int	 len_bytes;	/* bytes still to come of a long one */
	uint64_t	 body_left;	/* name and value bytes to skip */
	uint32_t	 partial;	/* a four-byte length so far */
	unsigned int	 count;		/* pairs whose lengths are read */
};

/* One scan's progress; what it finds goes to out. */
struct scanner {
	const unsigned char	*buf;
	size_t			 len;
	size_t			 body_max;
	struct fcgi_scan	*out;
	enum scan_phase		 phase;
	struct pairs		 params;
	size_t			 params_len;
	size_t			 stdin_len;
	unsigned int		 get_values;
};

/* Ends the scan with verdict v; returns false so callers can stop. */
static bool
conclude(struct scanner *s, enum fcgi_scan_verdict v, const char *why)
{
	s->out->verdict = v;
	s->out->why = why;
	return false;
}

/* READY: libfcgi will need no byte past end. */
static bool
ready(struct scanner *s, size_t end)
{
	s->out->end = end;
	s->out->params = s->params.count;
	return conclude(s, FCGI_SCAN_READY, NULL);
}

static bool
need_bytes(struct scanner *s, size_t need)
{
	if (need > FCGI_SCAN_WINDOW)
		return conclude(s, FCGI_SCAN_BAD, "request is larger than the "
		    "scan window");
	s->out->need = need;
	return conclude(s, FCGI_SCAN_MORE, NULL);
}

static bool
pairs_idle(const struct pairs *p)
{
	return p->nlen == 0 && p->len_bytes == 0 && p->body_left == 0;
}

/* A length is complete; after a value's, the pair's body follows. */
static void
pairs_length_done(struct pairs *p, uint32_t len)
{
	p->len[p->nlen++] = len;
	if (p->nlen == 2) {
		p->nlen = 0;
		p->count++;
		p->body_left = (uint64_t)p->len[0] + p->len[1];
	}
}

/*
 * Feed n content bytes.  Returns false once a pair claims more than
 * budget bytes for its name and value together.
 */
static bool
pairs_feed(struct pairs *p, const unsigned char *c, size_t n, size_t budget)
{
	size_t	 i = 0, take;

	while (i < n) {
		if (p->body_left > 0) {
			take = n - i < p->body_left ? n - i :
			    (size_t)p->body_left;
			p->body_left -= take;
			i += take;
			continue;
		}
		if (p->len_bytes > 0) {
			p->partial = p->partial << 8 | c[i++];
			if (--p->len_bytes == 0)
				pairs_length_done(p, p->partial);
		} else if (c[i] & 0x80) {
			p->partial = c[i++] & 0x7f;
			p->len_bytes = 3;
		} else
			pairs_length_done(p, c[i++]);
		if (p->body_left > budget)
			return false;
	}
	return true;
}

/* BEGIN_REQUEST: one per request, a Responder's (sections 5.1, 6.2). */
static bool
scan_begin(struct scanner *s, const FCGI_Header *h, size_t pos)
{
	const FCGI_BeginRequestBody	*b;
	unsigned int			 id, clen;

	id = (unsigned int)h->requestIdB1 << 8 | h->requestIdB0;
	clen = (unsigned int)h->contentLengthB1 << 8 | h->contentLengthB0;
	if (s->phase != PHASE_BEGIN)
		return conclude(s, FCGI_SCAN_BAD, "second BEGIN_REQUEST");
	if (id == FCGI_NULL_REQUEST_ID || clen != sizeof(*b) ||
	    h->paddingLength != 0)
		return conclude(s, FCGI_SCAN_BAD, "malformed BEGIN_REQUEST");
	if (pos + FCGI_HEADER_LEN + clen > s->len)
		return need_bytes(s, pos + FCGI_HEADER_LEN + clen);
	b = (const FCGI_BeginRequestBody *)(s->buf + pos + FCGI_HEADER_LEN);
	if (((unsigned int)b->roleB1 << 8 | b->roleB0) != FCGI_RESPONDER)
		return conclude(s, FCGI_SCAN_BAD, "role is not Responder");
	s->out->request_id = id;
	s->phase = PHASE_PARAMS;
	return true;
}

/*
 * A management record (section 4): GET_VALUES alone, once, of few
 * pairs, since libfcgi answers each at once and a peer that does not
 * read the answers could fill the connection.
 */
static bool
scan_management(struct scanner *s, const FCGI_Header *h, size_t pos)
{
	struct pairs	 p;
	size_t		 clen;

	clen = (size_t)h->contentLengthB1 << 8 | h->contentLengthB0;
	if (h->type != FCGI_GET_VALUES)
		return conclude(s, FCGI_SCAN_BAD, "management record");
	if (++s->get_values > GET_VALUES_MAX)
		return conclude(s, FCGI_SCAN_BAD, "GET_VALUES repeated");
	if (pos + FCGI_HEADER_LEN + clen > s->len)
		return need_bytes(s, pos + FCGI_HEADER_LEN + clen);
	memset(&p, 0, sizeof(p));
	if (!pairs_feed(&p, s->buf + pos + FCGI_HEADER_LEN, clen, clen) ||
	    !pairs_idle(&p) || p.count > GET_VALUES_NAMES_MAX)
		return conclude(s, FCGI_SCAN_BAD, "malformed GET_VALUES");
	return true;
}

static bool
scan_params(struct scanner *s, const FCGI_Header *h, size_t pos)
{
	size_t	 clen;

	clen = (size_t)h->contentLengthB1 << 8 | h->contentLengthB0;
	if (h->type != FCGI_PARAMS)
		return conclude(s, FCGI_SCAN_BAD, "record out of order");
	if (clen == 0) {
		if (h->paddingLength != 0)
			return conclude(s, FCGI_SCAN_BAD, "padded end of "
			    "PARAMS");
		if (!pairs_idle(&s->params))
			return conclude(s, FCGI_SCAN_BAD, "PARAMS end inside "
			    "a pair");
		s->phase = PHASE_STDIN;
		return true;
	}
	if ((s->params_len += clen) > FCGI_SCAN_PARAMS_MAX)
		return conclude(s, FCGI_SCAN_TOO_LARGE, "PARAMS too large");
	if (pos + FCGI_HEADER_LEN + clen > s->len)
		return need_bytes(s, pos + FCGI_HEADER_LEN + clen);
	if (!pairs_feed(&s->params, s->buf + pos + FCGI_HEADER_LEN, clen,
	    FCGI_SCAN_PARAMS_MAX))
		return conclude(s, FCGI_SCAN_TOO_LARGE, "parameter too large");
	return true;
}

/*
 * STDIN: libfcgi reads the body up to its end or up to body_max + 1
 * bytes (worker.c), and never a header past that.  Those bytes must have
 * come, or a peer that stops sending would hold the worker in read(2).
 */
static bool
scan_stdin(struct scanner *s, const FCGI_Header *h, size_t pos)
{
	size_t	 clen, read_here;

	clen = (size_t)h->contentLengthB1 << 8 | h->contentLengthB0;
	if (h->type != FCGI_STDIN)
		return conclude(s, FCGI_SCAN_BAD, "record out of order");
	if (clen == 0)
		return ready(s, pos + FCGI_HEADER_LEN);
	if (s->stdin_len + clen <= s->body_max) {
		s->stdin_len += clen;
		return true;
	}
	read_here = s->body_max + 1 - s->stdin_len;
	if (pos + FCGI_HEADER_LEN + read_here > s->len)
		return need_bytes(s, pos + FCGI_HEADER_LEN + read_here);
	return ready(s, pos + FCGI_HEADER_LEN + read_here);
}

/* One record at pos, whose header is in the buffer. */
static bool
scan_record(struct scanner *s, size_t pos)
{
	FCGI_Header	 h;
	unsigned int	 id;

	memcpy(&h, s->buf + pos, sizeof(h));
	id = (unsigned int)h.requestIdB1 << 8 | h.requestIdB0;
	if (h.version != FCGI_VERSION_1)
		return conclude(s, FCGI_SCAN_BAD, "not FastCGI version 1");
	if (h.type == FCGI_BEGIN_REQUEST)
		return scan_begin(s, &h, pos);
	if (id == FCGI_NULL_REQUEST_ID)
		return scan_management(s, &h, pos);
	if (s->phase == PHASE_BEGIN || id != s->out->request_id)
		return conclude(s, FCGI_SCAN_BAD, "record of no request");
	if (s->phase == PHASE_PARAMS)
		return scan_params(s, &h, pos);
	return scan_stdin(s, &h, pos);
}

/*
 * Scan the len bytes at buf, the start of a request.  The verdict says
 * whether libfcgi may read it, must not, or whether more bytes are
 * needed first (at least out->need in all).
 */
void
fcgi_scan_request(const unsigned char *buf, size_t len, size_t body_max,
    struct fcgi_scan *out)
{
	struct scanner	 s;
	size_t		 pos = 0;
	const unsigned char *h;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	s.buf = buf;
	s.len = len;
	s.body_max = body_max;
	s.out = out;
	for (;;) {
		if (pos + FCGI_HEADER_LEN > len) {
			(void)need_bytes(&s, pos + FCGI_HEADER_LEN);
			return;
		}
		if (!scan_record(&s, pos))
			return;
		h = buf + pos;
		pos += FCGI_HEADER_LEN + ((size_t)h[4] << 8 | h[5]) + h[6];
	}
}
