/*
 * The rig's load: threads sending bounded GETs through nginx, each on its
 * own keep-alive connection, counting the answers by status and code.
 * See rig.h.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rig_private.h"

/* Remember when 503s were answered: the first and the last. */
static void
load_note_503(struct rig_load *l)
{
	unsigned int	 at = (unsigned int)(rig_now_ms() - l->start_ms) + 1;
	unsigned int	 first = 0, last;

	atomic_compare_exchange_strong(&l->first_503_ms, &first, at);
	last = atomic_load(&l->last_503_ms);
	while (at > last && !atomic_compare_exchange_weak(&l->last_503_ms,
	    &last, at))
		;
}

/* Keep the earliest and latest wall-clock instants of a code-1 answer. */
static void
load_note_bought(struct rig_load *l)
{
	long long	 at = rig_wall_ms(), first = 0, last;

	atomic_compare_exchange_strong(&l->first_bought_wall_ms, &first, at);
	first = atomic_load(&l->first_bought_wall_ms);
	while (at < first && !atomic_compare_exchange_weak(
	    &l->first_bought_wall_ms, &first, at))
		;
	last = atomic_load(&l->last_bought_wall_ms);
	while (at > last && !atomic_compare_exchange_weak(
	    &l->last_bought_wall_ms, &last, at))
		;
}

/*
 * Count request k's answer by status and code; track the slowest, the
 * 503s, and which unique users were told they bought.
 */
static void
load_count(struct rig_load *l, unsigned int k, const struct rig_reply *rep)
{
	unsigned int	 ms = (unsigned int)rep->ms, prev;

	if (rep->code == 1 && l->spec.unique_users && k < RIG_LOAD_USERS_MAX)
		atomic_fetch_or(&l->bought[k / 8], (unsigned char)(1u << k % 8));
	else if (rep->code == 1 && l->spec.unique_users)
		atomic_fetch_add(&l->bought_forgotten, 1);
	if (rep->code == 1)
		load_note_bought(l);
	if (rep->status == 503)
		load_note_503(l);

	atomic_fetch_add(&l->answered, 1);
	if (rep->status >= 0 && rep->status < 600)
		atomic_fetch_add(&l->by_status[rep->status], 1);
	if (rep->code != RIG_CODE_NONE && rep->code >= RIG_CODE_MIN &&
	    rep->code < RIG_CODE_MIN + RIG_CODE_SLOTS)
		atomic_fetch_add(&l->by_code[rep->code - RIG_CODE_MIN], 1);
	else
		atomic_fetch_add(&l->code_other, 1);
	if (rep->status == 503 && l->spec.nginx_503 != NULL &&
	    strcmp(rep->body, l->spec.nginx_503) == 0)
		atomic_fetch_add(&l->nginx_own, 1);
	prev = atomic_load(&l->max_ms);
	while (ms > prev && !atomic_compare_exchange_weak(&l->max_ms, &prev,
	    ms))
		;
}

/*
 * Request k's target: a purchase of spec.item (none: the default item),
 * by <prefix><k> when users are unique, and then signed for ten minutes
 * with spec.sign_key when there is one: the subject is the user for the
 * default item, ITEM:USER for another (spike-fcgi(8)).
 */
static void
load_target(const struct rig_load *l, unsigned int k, char *target,
    size_t targetsz)
{
	char		 user[96], subject[200], sig[SIG_TEXT_MAX + 1];
	char		 item[96] = "";
	const char	*it = l->spec.item;
	int		 n;

	if (it != NULL)
		snprintf(item, sizeof(item), "item=%s", it);
	if (!l->spec.unique_users) {
		snprintf(target, targetsz, "/buy/ticket%s%s", *item ? "?" : "",
		    item);
		return;
	}
	snprintf(user, sizeof(user), "%s%u", l->spec.prefix ?
	    l->spec.prefix : "user", k);
	if (it == NULL || strcmp(it, RIG_STOCK_KEY) == 0)
		snprintf(subject, sizeof(subject), "%s", user);
	else
		snprintf(subject, sizeof(subject), "%s:%s", it, user);
	n = snprintf(target, targetsz, "/buy/ticket?%s%suser=%s", item,
	    *item ? "&" : "", user);
	if (l->spec.sign_key != NULL && n > 0 && (size_t)n < targetsz &&
	    sig_mint(l->spec.sign_key, subject, (long long)time(NULL) + 600,
	    sig, sizeof(sig)))
		snprintf(target + n, targetsz - (size_t)n, "&sig=%s", sig);
}

/* One load thread: its own connection, requests until done or told. */
static void *
load_thread(void *arg)
{
	struct rig_load	*l = arg;
	struct rig_http	 h;
	struct rig_reply rep;
	char		 target[512], err[256];
	unsigned int	 k;
	double		 end = l->start_ms + l->spec.deadline_ms;

	if (l->spec.fcgi_port > 0)
		rig_http_fcgi(&h, l->spec.fcgi_port);
	else {
		rig_http_init(&h, l->spec.port);
		h.addr = l->spec.addr;
	}
	while (!atomic_load(&l->stop) && rig_now_ms() < end) {
		if ((k = atomic_fetch_add(&l->next, 1)) >= l->spec.total)
			break;
		load_target(l, k, target, sizeof(target));
		atomic_fetch_add(&l->sent, 1);
		if (rig_http_request(&h, "GET", target, NULL, NULL, 0, &rep,
		    err, sizeof(err))) {
			load_count(l, k, &rep);
			if (rep.status == 503 && l->spec.pause_503_ms > 0)
				rig_sleep_ms(l->spec.pause_503_ms);
			if (l->spec.pause_ms > 0)
				rig_sleep_ms(l->spec.pause_ms);
		} else {
			atomic_fetch_add(&l->failed, 1);
			if (!atomic_flag_test_and_set(&l->error_taken))
				snprintf(l->first_error,
				    sizeof(l->first_error), "%s", err);
		}
	}
	rig_http_close(&h);
	return NULL;
}

/* A load through the rig's nginx. */
struct rig_load_spec
rig_load_plan(const struct rig *r, unsigned int conns, unsigned int total,
    bool unique_users, unsigned int deadline_ms)
{
	struct rig_load_spec spec = { r->http_port, NULL, r->nginx_503, conns,
	    total, unique_users, deadline_ms, NULL, 0, 0, NULL, NULL, 0 };

	if (r->nginx_master.host != NULL)
		spec.addr = r->nginx_master.host->addr;

	return spec;
}

/* Start spec->conns threads sending spec->total GETs in all. */
bool
rig_load_start(struct rig_load *l, const struct rig_load_spec *spec)
{
	memset(l, 0, sizeof(*l));
	atomic_flag_clear(&l->error_taken);
	l->spec = *spec;
	if (l->spec.conns > RIG_LOAD_THREADS_MAX)
		l->spec.conns = RIG_LOAD_THREADS_MAX;
	l->start_ms = rig_now_ms();
	for (l->nthreads = 0; l->nthreads < l->spec.conns; l->nthreads++)
		if (pthread_create(&l->threads[l->nthreads], NULL, load_thread,
		    l) != 0) {
			rig_load_stop(l);
			rig_load_wait(l);
			return false;
		}
	return true;
}

void
rig_load_stop(struct rig_load *l)
{
	atomic_store(&l->stop, true);
}

void
rig_load_wait(struct rig_load *l)
{
	for (unsigned int i = 0; i < l->nthreads; i++)
		pthread_join(l->threads[i], NULL);
	l->nthreads = 0;
}

unsigned int
rig_load_code(struct rig_load *l, int code)
{
	if (code < RIG_CODE_MIN || code >= RIG_CODE_MIN + RIG_CODE_SLOTS)
		return 0;
	return atomic_load(&l->by_code[code - RIG_CODE_MIN]);
}

unsigned int
rig_load_status(struct rig_load *l, int status)
{
	return status >= 0 && status < 600 ?
	    atomic_load(&l->by_status[status]) : 0;
}

unsigned int
rig_load_5xx(struct rig_load *l)
{
	unsigned int	 n = 0;

	for (int s = 500; s < 600; s++)
		n += atomic_load(&l->by_status[s]);
	return n;
}

/* Whether user<k> was answered code 1 (unique users only). */
bool
rig_load_bought(struct rig_load *l, unsigned int k)
{
	return k < RIG_LOAD_USERS_MAX &&
	    (atomic_load(&l->bought[k / 8]) & 1u << k % 8) != 0;
}

/* From the first 503 answered to the last; 0 when there was none. */
double
rig_load_503_span_ms(struct rig_load *l)
{
	unsigned int	 first = atomic_load(&l->first_503_ms);

	return first == 0 ? 0 : atomic_load(&l->last_503_ms) - first;
}

/* What a load run counted, for failure messages. */
const char *
rig_load_summary(struct rig_load *l, char *buf, size_t bufsz)
{
	size_t	 n;
	int	 code, s;

	n = (size_t)snprintf(buf, bufsz, "sent %u answered %u failed %u "
	    "nginx-503 %u max %u ms; codes:", atomic_load(&l->sent),
	    atomic_load(&l->answered), atomic_load(&l->failed),
	    atomic_load(&l->nginx_own), atomic_load(&l->max_ms));
	for (code = RIG_CODE_MIN; code < RIG_CODE_MIN + RIG_CODE_SLOTS &&
	    n < bufsz; code++)
		if (rig_load_code(l, code) > 0)
			n += (size_t)snprintf(buf + n, bufsz - n, " %d:%u", code,
			    rig_load_code(l, code));
	for (s = 100; s < 600 && n < bufsz; s++)
		if (rig_load_status(l, s) > 0)
			n += (size_t)snprintf(buf + n, bufsz - n, " http%d:%u",
			    s, rig_load_status(l, s));
	if (l->first_error[0] != '\0' && n < bufsz)
		snprintf(buf + n, bufsz - n, "; first error: %s",
		    l->first_error);
	return buf;
}
