/*
 * The connection to Redis, made the same way by spike-fcgi (store.c) and
 * spikectl (ctl_redis.c): the address as spike.conf writes it, or, with
 * sentinel lines, the primary that a Sentinel names (sentinel.c),
 * redis_timeout_ms on the connect and on every command, and AUTH first
 * when spike.conf names a redis_password_file (auth.c).
 *
 * A process follows a switch of primary through a generation number:
 * whoever sees the primary move (the sync thread, polling the Sentinels)
 * bumps it, and every connection made under an older one is dropped
 * before its next command and made again.  An atomic, no lock: every
 * Redis call of the request path reads it.  The address it follows is
 * kept too, under a lock taken only to make a connection: a Sentinel
 * that has not yet heard of the switch, asked by a worker reconnecting
 * after it, would otherwise send that link back to the old primary.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>

#include "spike.h"

static atomic_uint	 primary_generation;
static pthread_mutex_t	 primary_lock = PTHREAD_MUTEX_INITIALIZER;
static char		 primary_followed[CONF_ADDR_MAX];	/* "": none */

/*
 * Connect to "HOST:PORT" or "unix:PATH" within tv; what hiredis gave:
 * NULL when out of memory, or a context with err set on failure.
 */
struct redisContext *
redis_dial_addr(const char *addr, struct timeval tv)
{
	char		 host[CONF_ADDR_MAX];
	const char	*colon;

	if (strncmp(addr, "unix:", 5) == 0)
		return redisConnectUnixWithTimeout(addr + 5, tv);
	if ((colon = strrchr(addr, ':')) == NULL)
		colon = addr + strlen(addr);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	return redisConnectWithTimeout(host, *colon ? atoi(colon + 1) : 0,
	    tv);
}

/* The generation of the primary: it changes when the primary moves. */
unsigned int
redis_dial_generation(void)
{
	return atomic_load_explicit(&primary_generation, memory_order_acquire);
}

/*
 * Follow the primary at addr from now on; when it is not the one
 * followed so far, every connection is to be made again.
 */
void
redis_dial_follow(const char *addr)
{
	bool	 moved;

	pthread_mutex_lock(&primary_lock);
	moved = primary_followed[0] != '\0' &&
	    strcmp(primary_followed, addr) != 0;
	snprintf(primary_followed, sizeof(primary_followed), "%s", addr);
	pthread_mutex_unlock(&primary_lock);
	if (moved)
		atomic_fetch_add_explicit(&primary_generation, 1,
		    memory_order_acq_rel);
}

/* Is addr the primary followed, or none followed yet?  Else say why. */
static bool
is_followed(const struct redis_where *at, char *err, size_t errsz)
{
	bool	 ok;

	pthread_mutex_lock(&primary_lock);
	ok = primary_followed[0] == '\0' ||
	    strcmp(primary_followed, at->addr) == 0;
	if (!ok)
		snprintf(err, errsz, "sentinel %s names %s, but the primary "
		    "is now %s", at->sentinel, at->addr, primary_followed);
	pthread_mutex_unlock(&primary_lock);
	return ok;
}

/*
 * Where to connect: conf->redis, or the primary a Sentinel names.
 * Returns false with why in err.
 */
static bool
find_primary(const struct conf *conf, struct redis_where *at, char *err,
    size_t errsz)
{
	at->addr[0] = '\0';
	at->sentinel[0] = '\0';
	if (conf->nsentinels == 0) {
		snprintf(at->addr, sizeof(at->addr), "%s", conf->redis);
		return true;
	}
	return sentinel_primary(conf, at->addr, sizeof(at->addr),
	    at->sentinel, sizeof(at->sentinel), err, errsz) == SPIKE_OK &&
	    is_followed(at, err, errsz);
}

/*
 * AUTH [redis_user] password, the password read from its file now
 * (auth.c), before any other command.  Returns true without a password
 * file, or when Redis accepted it; else false with why in err, which
 * names the user and the file, never the password.
 */
static bool
authenticate(const struct conf *conf, redisContext *ctx, char *err,
    size_t errsz)
{
	struct auth_password pw;
	const char	*argv[3] = { "AUTH" };
	size_t		 lens[3] = { 4 };
	int		 argc = 1;
	redisReply	*r;
	bool		 ok;

	if (conf->redis_password_file.path[0] == '\0')
		return true;
	if (auth_read_password(conf, &pw, err, errsz) != SPIKE_OK)
		return false;
	if (conf->redis_user[0] != '\0') {
		argv[argc] = conf->redis_user;
		lens[argc++] = strlen(conf->redis_user);
	}
	argv[argc] = pw.text;
	lens[argc++] = pw.len;
	r = redisCommandArgv(ctx, argc, argv, lens);
	OPENSSL_cleanse(pw.text, sizeof(pw.text));
	ok = r != NULL && r->type == REDIS_REPLY_STATUS;
	if (!ok)
		snprintf(err, errsz, "AUTH as %s, password from %s: %s",
		    conf->redis_user[0] != '\0' ? conf->redis_user : "default",
		    pw.source, r == NULL ? ctx->errstr :
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	if (r != NULL)
		freeReplyObject(r);
	return ok;
}

/*
 * Connect to conf's Redis, or to the primary the Sentinels name, which
 * must say it is one (ROLE), and authenticate (AUTH) first when spike.conf
 * names a password file.  redisConnectWithTimeout bounds only the
 * connect, so the timeout is set again for the commands.  Returns the
 * context with where it is in *at, or NULL with why in err ("connect:
 * ...", "set timeout: ...", "AUTH ...", or why no primary was found).
 */
struct redisContext *
redis_dial_where(const struct conf *conf, struct redis_where *at, char *err,
    size_t errsz)
{
	struct timeval	 tv;
	redisContext	*ctx;
	const char	*what = "connect";
	char		 why[2 * CONF_ERR_MAX];

	at->generation = redis_dial_generation();
	if (!find_primary(conf, at, err, errsz))
		return NULL;
	tv.tv_sec = conf->redis_timeout_ms / 1000;
	tv.tv_usec = (conf->redis_timeout_ms % 1000) * 1000;
	if ((ctx = redis_dial_addr(at->addr, tv)) == NULL) {
		snprintf(err, errsz, "connect: out of memory");
		return NULL;
	}
	if (ctx->err != 0)
		goto fail;
	what = "set timeout";
	if (redisSetTimeout(ctx, tv) != REDIS_OK)
		goto fail;
	if (!authenticate(conf, ctx, why, sizeof(why))) {
		if (conf->nsentinels == 0)
			snprintf(err, errsz, "%s", why);
		else
			snprintf(err, errsz, "%s, named by sentinel %s: %s",
			    at->addr, at->sentinel, why);
		redisFree(ctx);
		return NULL;
	}
	if (conf->nsentinels > 0 && !sentinel_check_role(ctx, why,
	    sizeof(why))) {
		snprintf(err, errsz, "%s, named by sentinel %s: %s", at->addr,
		    at->sentinel, why);
		redisFree(ctx);
		return NULL;
	}
	return ctx;
fail:
	if (conf->nsentinels == 0)
		snprintf(err, errsz, "%s: %s", what, ctx->err != 0 ?
		    ctx->errstr : "failed");
	else
		snprintf(err, errsz, "%s %s, named by sentinel %s: %s", what,
		    at->addr, at->sentinel, ctx->err != 0 ? ctx->errstr :
		    "failed");
	redisFree(ctx);
	return NULL;
}

/* redis_dial_where(), for callers that need not know where. */
struct redisContext *
redis_dial(const struct conf *conf, char *err, size_t errsz)
{
	struct redis_where at;

	return redis_dial_where(conf, &at, err, errsz);
}

/*
 * Is this error reply one of a Redis that cannot take the sale now, so
 * that the link is to be dropped and made again (to the primary, which
 * may have moved)?  READONLY: a demoted primary; MASTERDOWN: a replica
 * that lost its primary; LOADING: a Redis reading its data; NOREPLICAS:
 * a primary short of replicas (min-replicas-to-write); NOAUTH and
 * WRONGPASS: a link whose authentication no longer holds, made again
 * with the password file read anew.
 */
bool
redis_dial_error_is_unavailable(const char *msg)
{
	static const char *const codes[] = { "READONLY", "MASTERDOWN",
	    "LOADING", "NOREPLICAS", "TRYAGAIN", "NOAUTH", "WRONGPASS" };
	size_t	 i, n;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		n = strlen(codes[i]);
		if (strncmp(msg, codes[i], n) == 0 &&
		    (msg[n] == ' ' || msg[n] == '\0'))
			return true;
	}
	return false;
}
