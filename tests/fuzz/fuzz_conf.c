/*
 * libFuzzer target: the configuration parser, conf.c.  Arbitrary text
 * (cut at a NUL byte, as conf_load refuses files holding one) is parsed
 * over the defaults.  On success every value must be in its documented
 * range (spike.conf(5)); on failure the message must start with the
 * file name and a colon.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spike.h"

#define FUZZ_NAME	"fuzz.conf"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_conf: %s:%d: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

/* A NUL-terminated string field that is not empty. */
#define FUZZ_STRING(field) do {						\
	size_t	 len_ = strnlen((field), sizeof(field));		\
	FUZZ_ASSERT(len_ > 0 && len_ < sizeof(field));			\
} while (0)

static void
check_instances(const struct conf *c)
{
	size_t	 i, j;

	FUZZ_ASSERT(c->ninstances >= 1 && c->ninstances <= CONF_INSTANCES_MAX);
	for (i = 0; i < c->ninstances; i++) {
		const struct conf_instance *ci = &c->instances[i];

		FUZZ_STRING(ci->addr);
		FUZZ_ASSERT(ci->weight >= 1 && ci->weight <= 1000);
		FUZZ_ASSERT(strncmp(ci->addr, "unix:/", 6) == 0 ||
		    strrchr(ci->addr, ':') != NULL);
		FUZZ_ASSERT(conf_find_instance(c, ci->addr) == ci);
		for (j = 0; j < i; j++)
			FUZZ_ASSERT(strcmp(c->instances[j].addr,
			    ci->addr) != 0);
	}
	FUZZ_ASSERT(conf_total_weight(c) >= c->ninstances &&
	    conf_total_weight(c) <= 1000 * c->ninstances);
}

static void
check_ok(const struct conf *c)
{
	FUZZ_STRING(c->redis);
	FUZZ_STRING(c->stock_key);
	FUZZ_STRING(c->total_field);
	FUZZ_STRING(c->sold_field);
	FUZZ_STRING(c->stat_log);
	FUZZ_STRING(c->events_key);
	FUZZ_ASSERT(c->redis_timeout_ms >= 1 && c->redis_timeout_ms <= 60000);
	FUZZ_ASSERT(c->threads >= 1 && c->threads <= 256);
	FUZZ_ASSERT(c->buffer_percent <= 1000);
	FUZZ_ASSERT(c->sync_ms >= 10 && c->sync_ms <= 10000);
	FUZZ_ASSERT(c->per_user_limit >= 1 && c->per_user_limit <= 1000);
	FUZZ_ASSERT(c->pay_timeout_s >= 1 && c->pay_timeout_s <= 86400);
	check_instances(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf	*c;
	char		*text, err[CONF_ERR_MAX];
	enum spike_err	 rc;

	if ((c = malloc(sizeof(*c))) == NULL ||
	    (text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	conf_defaults(c);
	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	rc = conf_parse(c, FUZZ_NAME, text, err, sizeof(err));
	FUZZ_ASSERT(rc == SPIKE_OK || rc == SPIKE_ECONFIG);
	if (rc == SPIKE_OK)
		check_ok(c);
	else {
		FUZZ_ASSERT(strncmp(err, FUZZ_NAME ":",
		    sizeof(FUZZ_NAME)) == 0);
		FUZZ_ASSERT(strlen(err) > sizeof(FUZZ_NAME));
		FUZZ_ASSERT(strchr(err, '\n') == NULL);
	}
	free(text);
	free(c);
	return 0;
}
