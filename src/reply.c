/*
 * The JSON answers: a CGI response (RFC 3875, 6.2) with a Status header,
 * a JSON content type and {"code":N,"msg":"..."}.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "spike.h"

struct reply_spec {
	int		 status;
	const char	*reason;
	int		 code;
	const char	*msg;		/* default message */
	const char	*retry_after;	/* Retry-After header, or "" */
};

static const struct reply_spec reply_specs[REPLY_KINDS] = {
	[REPLY_BOUGHT] =	{ 200, "OK", 1, "抢票成功", "" },
	[REPLY_SOLD_OUT] =	{ 200, "OK", -1, "已售罄", "" },
	[REPLY_UNAVAILABLE] =	{ 503, "Service Unavailable", -2,
				  "service unavailable", "Retry-After: 1\r\n" },
	[REPLY_BAD_REQUEST] =	{ 400, "Bad Request", -3, "bad request", "" },
	[REPLY_NOT_FOUND] =	{ 404, "Not Found", -4, "not found", "" },
	[REPLY_BAD_METHOD] =	{ 405, "Method Not Allowed", -5,
				  "method not allowed", "" },
	[REPLY_TOO_LARGE] =	{ 413, "Payload Too Large", -6,
				  "request body too large", "" },
	[REPLY_NO_ORDER] =	{ 404, "Not Found", -7, "no such order", "" },
	[REPLY_CONFLICT] =	{ 409, "Conflict", -8, "refused", "" },
	[REPLY_HEADERS_TOO_LARGE] = { 431, "Request Header Fields Too Large", -9,
				  "request header fields too large", "" },
	[REPLY_NOT_VERIFIED] =	{ 403, "Forbidden", -12,
				  "buyer not verified", "" },
	[REPLY_PAY_NOT_VERIFIED] = { 403, "Forbidden", -14,
				  "payment not verified", "" },
	[REPLY_NOT_STARTED] =	{ 403, "Forbidden", -10,
				  "sale not started", "" },
	[REPLY_CLOSED] =	{ 403, "Forbidden", -11, "sale closed", "" },
	[REPLY_PAID] =		{ 200, "OK", 1, "支付成功", "" },
	[REPLY_OK] =		{ 200, "OK", 1, "ok", "" },
};

int
reply_code(enum reply_kind kind)
{
	return reply_specs[kind].code;
}

int
reply_status(enum reply_kind kind)
{
	return reply_specs[kind].status;
}

/*
 * Write the whole response for r into buf.  Returns the length, or 0
 * if buf is too small.
 */
size_t
reply_format(char *buf, size_t bufsz, const struct reply *r)
{
	const struct reply_spec	*spec = &reply_specs[r->kind];
	char			 msg[256], allow[64] = "";
	int			 n;

	json_escape(msg, sizeof(msg), r->detail != NULL ? r->detail :
	    spec->msg);
	if (r->kind == REPLY_BAD_METHOD)
		snprintf(allow, sizeof(allow), "Allow: %s\r\n",
		    r->allow != NULL ? r->allow : "GET, POST");
	n = snprintf(buf, bufsz, "Status: %d %s\r\n"
	    "Content-Type: application/json; charset=utf-8\r\n"
	    "%s%s\r\n{\"code\":%d,\"msg\":\"%s\"%s}\n", spec->status,
	    spec->reason, spec->retry_after, allow, spec->code, msg, r->extra);
	if (n < 0 || (size_t)n >= bufsz)
		return 0;
	return (size_t)n;
}
