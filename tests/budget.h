/*
 * Time budgets of the tests: how long a test waits for something the
 * code promises, derived from the configured timeouts and scaled by one
 * slowdown factor, SPIKE_TEST_SLOWDOWN (default 1), which slow builds
 * (sanitizers) and loaded machines raise.  Shared by the unit tests and
 * the integration rig.
 */
#ifndef BUDGET_H
#define BUDGET_H

#define BUDGET_ENV		"SPIKE_TEST_SLOWDOWN"
#define BUDGET_SLOWDOWN_MAX	100

double		 budget_slowdown(void);
unsigned int	 budget_ms(unsigned int ms);

#endif /* BUDGET_H */
