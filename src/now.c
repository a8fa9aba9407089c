/*
 * The clock of timeouts and durations: CLOCK_MONOTONIC (POSIX
 * clock_gettime), which nothing sets back or forward.
 */
#include "config.h"

#include <time.h>

#include "spike.h"

/* Microseconds on the monotonic clock. */
long long
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Milliseconds on the monotonic clock. */
long long
now_ms(void)
{
	return now_us() / 1000;
}
