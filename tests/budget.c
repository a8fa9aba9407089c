/*
 * The tests' slowdown factor (budget.h).
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "budget.h"

/*
 * SPIKE_TEST_SLOWDOWN as a number from 1 to BUDGET_SLOWDOWN_MAX; 1 when
 * unset or empty.  Any other value ends the process: a mistyped factor
 * must not quietly run the tests with the wrong budgets.
 */
double
budget_slowdown(void)
{
	const char	*s = getenv(BUDGET_ENV);
	char		*end;
	double		 f;

	if (s == NULL || *s == '\0')
		return 1;
	f = strtod(s, &end);
	if (*end != '\0' || !isfinite(f) || f < 1 || f > BUDGET_SLOWDOWN_MAX) {
		fprintf(stderr, "%s=\"%s\": not a number from 1 to %d\n",
		    BUDGET_ENV, s, BUDGET_SLOWDOWN_MAX);
		exit(EXIT_FAILURE);
	}
	return f;
}

/* ms scaled by the slowdown factor, rounded up. */
unsigned int
budget_ms(unsigned int ms)
{
	double		 scaled = ms * budget_slowdown();
	unsigned int	 out;

	if (scaled >= UINT_MAX)
		return UINT_MAX;
	out = (unsigned int)scaled;
	return out < scaled ? out + 1 : out;
}
