/*
 * The connection to Redis, made the same way by spike-fcgi (store.c) and
 * spikectl (ctl_redis.c): the address as spike.conf writes it, and
 * redis_timeout_ms on the connect and on every command.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "spike.h"

/* Connect to "HOST:PORT" or "unix:PATH"; NULL when out of memory. */
static redisContext *
redis_connect(const char *addr, struct timeval tv)
{
	char		 host[CONF_ADDR_MAX];
	const char	*colon;

	if (strncmp(addr, "unix:", 5) == 0)
		return redisConnectUnixWithTimeout(addr + 5, tv);
	colon = strrchr(addr, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	return redisConnectWithTimeout(host, atoi(colon + 1), tv);
}

/*
 * Connect to conf's Redis.  redisConnectWithTimeout bounds only the
 * connect, so the timeout is set again for the commands.  Returns the
 * context, or NULL with why in err ("connect: ...", "set timeout: ...").
 */
struct redisContext *
redis_dial(const struct conf *conf, char *err, size_t errsz)
{
	struct timeval	 tv;
	redisContext	*ctx;
	const char	*what = "connect";

	tv.tv_sec = conf->redis_timeout_ms / 1000;
	tv.tv_usec = (conf->redis_timeout_ms % 1000) * 1000;
	if ((ctx = redis_connect(conf->redis, tv)) == NULL) {
		snprintf(err, errsz, "connect: out of memory");
		return NULL;
	}
	if (ctx->err != 0)
		goto fail;
	what = "set timeout";
	if (redisSetTimeout(ctx, tv) != REDIS_OK)
		goto fail;
	return ctx;
fail:
	if (ctx->err != 0)
		snprintf(err, errsz, "%s: %s", what, ctx->errstr);
	else
		snprintf(err, errsz, "%s", what);
	redisFree(ctx);
	return NULL;
}
