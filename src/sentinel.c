/*
 * The primary, as Redis Sentinel names it.  hiredis 0.14 knows nothing
 * of Sentinel: these are the two commands its client guidelines ask of a
 * client ("Sentinel clients implementation guidelines", Redis docs):
 * ask the Sentinels in turn for the primary's address with SENTINEL
 * get-master-addr-by-name, the first that answers wins; then make sure
 * the address reached is a primary with ROLE, since a Sentinel may still
 * name a demoted one during a switch.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "spike.h"

#define SENTINEL_MIN_TIMEOUT_MS	50

/*
 * Each Sentinel gets an equal part of redis_timeout_ms, so that asking
 * them all, the dead ones included, takes about one Redis timeout.
 */
static struct timeval
sentinel_timeout(const struct conf *conf)
{
	unsigned int	 ms = conf->redis_timeout_ms;
	struct timeval	 tv;

	if (conf->nsentinels > 1)
		ms /= (unsigned int)conf->nsentinels;
	if (ms < SENTINEL_MIN_TIMEOUT_MS)
		ms = SENTINEL_MIN_TIMEOUT_MS;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

/* Append "; " and a formatted reason to err (truncated if need be). */
static void
note_why(char *err, size_t errsz, const char *sentinel, const char *why)
{
	size_t	 used = strlen(err);

	if (used < errsz)
		snprintf(err + used, errsz - used, "%s%s: %s",
		    used > 0 ? "; " : "", sentinel, why);
}

/*
 * Ask one Sentinel.  Returns true with "HOST:PORT" in addr, or false
 * with why in why.
 */
static bool
ask_one(const char *sentinel, const char *name, struct timeval tv,
    char *addr, size_t addrsz, char *why, size_t whysz)
{
	redisContext	*ctx;
	redisReply	*r = NULL;
	bool		 ok = false;

	ctx = redis_dial_addr(sentinel, tv);
	if (ctx == NULL || ctx->err != 0) {
		snprintf(why, whysz, "connect: %s", ctx ? ctx->errstr :
		    "out of memory");
		goto out;
	}
	if (redisSetTimeout(ctx, tv) != REDIS_OK) {
		snprintf(why, whysz, "set timeout: %s", ctx->errstr);
		goto out;
	}
	r = redisCommand(ctx, "SENTINEL get-master-addr-by-name %s", name);
	if (r == NULL)
		snprintf(why, whysz, "%s", ctx->errstr);
	else if (r->type == REDIS_REPLY_NIL)
		snprintf(why, whysz, "does not know %s", name);
	else if (r->type == REDIS_REPLY_ERROR)
		snprintf(why, whysz, "%s", r->str);
	else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING)
		snprintf(why, whysz, "unexpected answer");
	else if ((size_t)snprintf(addr, addrsz, "%s:%s", r->element[0]->str,
	    r->element[1]->str) >= addrsz)
		snprintf(why, whysz, "address too long");
	else
		ok = true;
out:
	if (r != NULL)
		freeReplyObject(r);
	if (ctx != NULL)
		redisFree(ctx);
	return ok;
}

/*
 * Ask the configured Sentinels in turn for the address of the primary
 * named sentinel_master.  Returns SPIKE_OK with "HOST:PORT" in addr and
 * the Sentinel that answered in via, or SPIKE_EREDIS with err naming
 * every Sentinel tried and why it gave no address.
 */
enum spike_err
sentinel_primary(const struct conf *conf, char *addr, size_t addrsz,
    char *via, size_t viasz, char *err, size_t errsz)
{
	struct timeval	 tv = sentinel_timeout(conf);
	char		 why[160], tried[CONF_ERR_MAX];
	size_t		 i;

	tried[0] = '\0';
	for (i = 0; i < conf->nsentinels; i++) {
		if (ask_one(conf->sentinels[i], conf->sentinel_master, tv,
		    addr, addrsz, why, sizeof(why))) {
			snprintf(via, viasz, "%s", conf->sentinels[i]);
			return SPIKE_OK;
		}
		note_why(tried, sizeof(tried), conf->sentinels[i], why);
	}
	snprintf(err, errsz, "no sentinel named primary %s (%s)",
	    conf->sentinel_master, tried);
	return SPIKE_EREDIS;
}

/*
 * Is ctx connected to a primary?  ROLE answers an array whose first
 * element is "master" on a primary.  Returns true, or false with why in
 * err.
 */
bool
sentinel_check_role(struct redisContext *ctx, char *err, size_t errsz)
{
	redisReply	*r;
	bool		 ok = false;

	if ((r = redisCommand(ctx, "ROLE")) == NULL) {
		snprintf(err, errsz, "ROLE: %s", ctx->errstr);
		return false;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		ok = strcmp(r->element[0]->str, "master") == 0;
		if (!ok)
			snprintf(err, errsz, "not a primary: ROLE says %s",
			    r->element[0]->str);
	} else
		snprintf(err, errsz, "ROLE: %s", r->type == REDIS_REPLY_ERROR ?
		    r->str : "unexpected answer");
	freeReplyObject(r);
	return ok;
}
