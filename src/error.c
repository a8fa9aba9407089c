/*
 * The one way to fail: enum spike_err, and its text.
 */
#include "config.h"

#include "spike.h"

const char *
spike_strerror(enum spike_err err)
{
	switch (err) {
	case SPIKE_OK:
		return "success";
	case SPIKE_ENOMEM:
		return "out of memory";
	case SPIKE_ESYSTEM:
		return "system error";
	case SPIKE_ECONFIG:
		return "invalid configuration";
	case SPIKE_EINPUT:
		return "invalid request";
	case SPIKE_EREDIS:
		return "redis unavailable";
	case SPIKE_EUNCONFIRMED:
		return "not confirmed by enough replicas";
	}
	return "unknown error";
}
