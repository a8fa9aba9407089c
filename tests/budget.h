/*
 * Time budgets of the tests: how long a test waits for something the
 * code promises, derived from the configured timeouts and scaled by one
 * slowdown factor, SPIKE_TEST_SLOWDOWN (default 1), which slow builds
 * (sanitizers) and loaded machines raise.  Shared by the unit tests and
 * the integration rig.
 */
#ifndef BUDGET_H
#define BUDGET_H

#include "spike.h"

#define BUDGET_ENV		"SPIKE_TEST_SLOWDOWN"
#define BUDGET_SLOWDOWN_MAX	100

/*
 * On top of what the responder promises, a loaded machine may be as late
 * as the one Redis round trip the responder itself allows.
 */
#define BUDGET_LATE_MS		CONF_DEFAULT_REDIS_TIMEOUT_MS

/*
 * redis_timeout_ms where every request must succeed: what a sanitizer
 * build on a loaded machine may need for a Redis call.  Timeouts have
 * tests of their own (check_faults).
 */
#define BUDGET_PATIENT_REDIS_MS	3000

/* A sync with Redis: due every sync_ms, bounded by redis_timeout_ms. */
#define BUDGET_SYNC_MS(sync_ms, redis_ms) \
	budget_ms((sync_ms) + (redis_ms) + BUDGET_LATE_MS)

/* Every instance has written its heartbeat: ten syncs at the defaults. */
#define BUDGET_UP_MS		(10 * BUDGET_SYNC_MS(CONF_DEFAULT_SYNC_MS, \
				    CONF_DEFAULT_REDIS_TIMEOUT_MS))

/*
 * An instance exits after SIGTERM: the workers' grace, then the
 * committer's last call and the sync's leave, each within a Redis
 * timeout.
 */
#define BUDGET_TERM_MS		budget_ms(SPIKE_SHUTDOWN_GRACE_MS + \
				    2 * CONF_DEFAULT_REDIS_TIMEOUT_MS + \
				    BUDGET_LATE_MS)

/* A line answered is in stat.log: one flush period. */
#define BUDGET_STAT_MS		budget_ms(STATLOG_FLUSH_MS + BUDGET_LATE_MS)

/*
 * A line nginx answered itself is in its edge log: the snippet's access_log
 * flushes a period (flush=1s) after its first line, on a timer that a
 * busy worker may serve late.
 */
#define BUDGET_NGINX_FLUSH_MS	1000
#define BUDGET_NGINX_STAT_MS	budget_ms(2 * BUDGET_NGINX_FLUSH_MS + \
				    BUDGET_LATE_MS)

double		 budget_slowdown(void);
unsigned int	 budget_ms(unsigned int ms);

#endif /* BUDGET_H */
