/*
 * A strict parser of the Prometheus text exposition format, version 0.0.4
 * (Prometheus docs, "Exposition formats"), for the tests: it refuses what
 * the format allows but spike-fcgi never writes (other comments, empty
 * lines, timestamps), so that anything it accepts any scraper accepts.
 */
#ifndef PROM_H
#define PROM_H

#include <stdbool.h>
#include <stddef.h>

#define PROM_NAME_MAX		128
#define PROM_LABELS_MAX		256
#define PROM_ERR_MAX		512

struct prom_sample {
	char		 name[PROM_NAME_MAX];
	char		 labels[PROM_LABELS_MAX];	/* inside {}, or "" */
	double		 value;
	size_t		 family;	/* index in families */
};

struct prom_family {
	char		 name[PROM_NAME_MAX];
	char		 type[16];	/* counter, gauge, histogram... */
	bool		 help;
	bool		 closed;	/* its samples have ended */
};

struct prom {
	struct prom_sample *samples;
	size_t		 nsamples;
	struct prom_family *families;
	size_t		 nfamilies;
	char		 err[PROM_ERR_MAX];
};

bool		 prom_parse(struct prom *, const char *text);
void		 prom_free(struct prom *);
bool		 prom_value(const struct prom *, const char *name,
		    const char *labels, double *value);
const char	*prom_type(const struct prom *, const char *name);
bool		 prom_histogram_check(struct prom *, const char *name);

#endif /* PROM_H */
