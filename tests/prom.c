/*
 * A strict parser of the Prometheus text format, version 0.0.4; see
 * prom.h.  Every line is "# HELP name text", "# TYPE name type" or
 * "name{label="value",...} value"; every sample belongs to a family with
 * a TYPE given before it, and a family's samples form one group.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

static bool __attribute__((format(printf, 3, 4)))
fail(struct prom *p, int line, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	n = snprintf(p->err, sizeof(p->err), "line %d: ", line);
	va_start(ap, fmt);
	vsnprintf(p->err + n, sizeof(p->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* Copy a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) from *s; "" if none. */
static void
take_name(const char **s, char *name, bool colon)
{
	size_t	 n = 0;
	const char *q = *s;

	if (isalpha((unsigned char)*q) || *q == '_' || (colon && *q == ':'))
		while ((isalnum((unsigned char)q[n]) || q[n] == '_' ||
		    (colon && q[n] == ':')) && n < PROM_NAME_MAX - 1)
			n++;
	memcpy(name, q, n);
	name[n] = '\0';
	*s = q + n;
}

/* A value: a float as Go's ParseFloat reads it, +Inf, -Inf or NaN. */
static bool
take_value(const char *s, size_t len, double *v)
{
	char	 buf[64], *end;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "-Inf") == 0) {
		*v = buf[0] == '+' ? INFINITY : -INFINITY;
		return true;
	}
	if (strcmp(buf, "NaN") == 0) {
		*v = NAN;
		return true;
	}
	if (strspn(buf, "0123456789.eE+-") != len)
		return false;
	*v = strtod(buf, &end);
	return *end == '\0';
}

static struct prom_family *
find_family(const struct prom *p, const char *name)
{
	for (size_t i = 0; i < p->nfamilies; i++)
		if (strcmp(p->families[i].name, name) == 0)
			return &p->families[i];
	return NULL;
}

static struct prom_family *
add_family(struct prom *p, const char *name)
{
	struct prom_family *f;

	if ((f = find_family(p, name)) != NULL)
		return f;
	f = realloc(p->families, (p->nfamilies + 1) * sizeof(*f));
	if (f == NULL)
		return NULL;
	p->families = f;
	f = &p->families[p->nfamilies++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	return f;
}

/* HELP text escapes only \\ and \n. */
static bool
help_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\\' && (++i == len || (s[i] != '\\' &&
		    s[i] != 'n')))
			return false;
	return true;
}

/* The metric type named by the len bytes at s, or NULL. */
static const char *
known_type(const char *s, size_t len)
{
	static const char *const types[] = { "counter", "gauge", "histogram",
	    "summary", "untyped" };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == len && strncmp(s, types[i], len) == 0)
			return types[i];
	return NULL;
}

/* "# HELP name text" or "# TYPE name type". */
static bool
parse_comment(struct prom *p, int ln, const char *s, size_t len)
{
	const char	*end = s + len, *q, *type;
	char		 name[PROM_NAME_MAX];
	struct prom_family *f;
	bool		 help;

	if (len > 7 && strncmp(s, "# HELP ", 7) == 0)
		help = true;
	else if (len > 7 && strncmp(s, "# TYPE ", 7) == 0)
		help = false;
	else
		return fail(p, ln, "a comment other than HELP or TYPE");
	q = s + 7;
	take_name(&q, name, true);
	if (name[0] == '\0' || q >= end || *q != ' ')
		return fail(p, ln, "bad metric name after %.6s", s + 2);
	q++;
	if ((f = add_family(p, name)) == NULL)
		return fail(p, ln, "out of memory");
	if (help) {
		if (f->help)
			return fail(p, ln, "second HELP for %s", name);
		f->help = true;
		return help_ok(q, (size_t)(end - q)) ? true :
		    fail(p, ln, "bad escape in HELP text");
	}
	if (f->type[0] != '\0')
		return fail(p, ln, "second TYPE for %s", name);
	if (f->closed)
		return fail(p, ln, "TYPE for %s after its samples", name);
	if ((type = known_type(q, (size_t)(end - q))) == NULL)
		return fail(p, ln, "unknown type \"%.*s\"", (int)(end - q), q);
	snprintf(f->type, sizeof(f->type), "%s", type);
	return true;
}

/* The family a sample name belongs to, by its TYPE line; NULL if none. */
static struct prom_family *
sample_family(struct prom *p, const char *name)
{
	static const char *const suffix[] = { "_bucket", "_sum", "_count" };
	struct prom_family *f;
	char		 base[PROM_NAME_MAX];
	size_t		 len = strlen(name), k, n;

	if ((f = find_family(p, name)) != NULL && f->type[0] != '\0' &&
	    strcmp(f->type, "histogram") != 0)
		return f;
	for (k = 0; k < 3; k++) {
		n = strlen(suffix[k]);
		if (len <= n || strcmp(name + len - n, suffix[k]) != 0)
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(len - n), name);
		if ((f = find_family(p, base)) == NULL)
			continue;
		if (strcmp(f->type, "histogram") == 0 ||
		    (k > 0 && strcmp(f->type, "summary") == 0))
			return f;
	}
	return NULL;
}

/* {name="value",...}: copy what is inside the braces to out. */
static bool
parse_labels(struct prom *p, int ln, const char **s, const char *end,
    char *out)
{
	const char	*q = *s + 1, *start = q;
	char		 lname[PROM_NAME_MAX], needle[PROM_NAME_MAX + 2];
	char		 seen[PROM_LABELS_MAX * 2] = ",";

	for (;;) {
		take_name(&q, lname, false);
		if (lname[0] == '\0' || strncmp(lname, "__", 2) == 0)
			return fail(p, ln, "bad label name");
		snprintf(needle, sizeof(needle), ",%s,", lname);
		if (strstr(seen, needle) != NULL)
			return fail(p, ln, "label %s twice", lname);
		if (strlen(seen) + strlen(lname) + 2 > sizeof(seen))
			return fail(p, ln, "too many labels");
		strcat(seen, needle + 1);
		if (q + 1 >= end || q[0] != '=' || q[1] != '"')
			return fail(p, ln, "label %s: want =\"", lname);
		for (q += 2; q < end && *q != '"'; q++)
			if (*q == '\\' && (++q == end || (*q != '\\' &&
			    *q != '"' && *q != 'n')))
				return fail(p, ln, "bad escape in a value");
		if (q >= end)
			return fail(p, ln, "unterminated label value");
		q++;
		if (q < end && *q == '}')
			break;
		if (q >= end || *q != ',')
			return fail(p, ln, "want , or } after a label");
		q++;
	}
	if ((size_t)(q - start) >= PROM_LABELS_MAX)
		return fail(p, ln, "labels too long");
	snprintf(out, PROM_LABELS_MAX, "%.*s", (int)(q - start), start);
	*s = q + 1;
	return true;
}

static bool
add_sample(struct prom *p, int ln, const struct prom_sample *smp)
{
	struct prom_sample *n;
	size_t		 i;

	for (i = 0; i < p->nsamples; i++)
		if (strcmp(p->samples[i].name, smp->name) == 0 &&
		    strcmp(p->samples[i].labels, smp->labels) == 0)
			return fail(p, ln, "%s{%s} twice", smp->name,
			    smp->labels);
	if ((n = realloc(p->samples, (p->nsamples + 1) * sizeof(*n))) == NULL)
		return fail(p, ln, "out of memory");
	p->samples = n;
	p->samples[p->nsamples++] = *smp;
	return true;
}

/* name{labels} value: one space, no timestamp. */
static bool
parse_sample(struct prom *p, int ln, const char *s, size_t len)
{
	const char	*end = s + len, *q = s;
	struct prom_sample smp;
	struct prom_family *f;
	size_t		 prev;

	memset(&smp, 0, sizeof(smp));
	take_name(&q, smp.name, true);
	if (smp.name[0] == '\0')
		return fail(p, ln, "no metric name");
	if (q < end && *q == '{' && !parse_labels(p, ln, &q, end, smp.labels))
		return false;
	if (q >= end || *q != ' ')
		return fail(p, ln, "want one space before the value");
	q++;
	if (!take_value(q, (size_t)(end - q), &smp.value))
		return fail(p, ln, "bad value \"%.*s\" (or a timestamp)",
		    (int)(end - q), q);
	if ((f = sample_family(p, smp.name)) == NULL)
		return fail(p, ln, "%s has no TYPE line", smp.name);
	if (f->closed)
		return fail(p, ln, "%s: its family's samples are not one "
		    "group", smp.name);
	smp.family = (size_t)(f - p->families);
	if (p->nsamples > 0 && (prev = p->samples[p->nsamples - 1].family) !=
	    smp.family)
		p->families[prev].closed = true;
	return add_sample(p, ln, &smp);
}

/* Parse text; false with p->err naming the first offending line. */
bool
prom_parse(struct prom *p, const char *text)
{
	const char	*s = text, *eol;
	int		 ln = 0;
	bool		 ok = true;

	memset(p, 0, sizeof(*p));
	if (*text == '\0')
		return fail(p, 0, "empty exposition");
	while (ok && *s != '\0') {
		ln++;
		if ((eol = strchr(s, '\n')) == NULL)
			return fail(p, ln, "no newline at the end");
		if (eol == s)
			ok = fail(p, ln, "empty line");
		else if (memchr(s, '\r', (size_t)(eol - s)) != NULL)
			ok = fail(p, ln, "carriage return");
		else if (*s == '#')
			ok = parse_comment(p, ln, s, (size_t)(eol - s));
		else
			ok = parse_sample(p, ln, s, (size_t)(eol - s));
		s = eol + 1;
	}
	for (size_t i = 0; ok && i < p->nfamilies; i++)
		if (p->families[i].type[0] == '\0')
			ok = fail(p, ln, "HELP without TYPE for %s",
			    p->families[i].name);
	return ok;
}

void
prom_free(struct prom *p)
{
	free(p->samples);
	free(p->families);
	p->samples = NULL;
	p->families = NULL;
	p->nsamples = p->nfamilies = 0;
}

/* The value of name{labels} (labels as written inside the braces). */
bool
prom_value(const struct prom *p, const char *name, const char *labels,
    double *value)
{
	for (size_t i = 0; i < p->nsamples; i++)
		if (strcmp(p->samples[i].name, name) == 0 &&
		    strcmp(p->samples[i].labels, labels) == 0) {
			*value = p->samples[i].value;
			return true;
		}
	return false;
}

/* The TYPE of family name, or NULL. */
const char *
prom_type(const struct prom *p, const char *name)
{
	struct prom_family *f = find_family(p, name);

	return f != NULL ? f->type : NULL;
}

/*
 * Histogram name (without labels other than le): buckets in increasing
 * le with non-decreasing counts, the last le="+Inf" and equal to
 * name_count, and a name_sum.
 */
bool
prom_histogram_check(struct prom *p, const char *name)
{
	char	 bucket[PROM_NAME_MAX + 16], other[PROM_NAME_MAX + 16];
	double	 le = -INFINITY, count = -1, v, sum;
	size_t	 i, n = 0;
	const struct prom_sample *s;

	if (prom_type(p, name) == NULL || strcmp(prom_type(p, name),
	    "histogram") != 0)
		return fail(p, 0, "%s is not a histogram", name);
	snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	for (i = 0; i < p->nsamples; i++) {
		s = &p->samples[i];
		if (strcmp(s->name, bucket) != 0)
			continue;
		if (strncmp(s->labels, "le=\"", 4) != 0 ||
		    !take_value(s->labels + 4, strlen(s->labels) - 5, &v) ||
		    s->labels[strlen(s->labels) - 1] != '"')
			return fail(p, 0, "%s{%s}: want only le", bucket,
			    s->labels);
		if (v <= le || s->value < count)
			return fail(p, 0, "%s{%s}: le or count not increasing",
			    bucket, s->labels);
		le = v;
		count = s->value;
		n++;
	}
	if (n == 0 || le != INFINITY)
		return fail(p, 0, "%s: %zu buckets, the last not +Inf", name, n);
	snprintf(other, sizeof(other), "%s_count", name);
	if (!prom_value(p, other, "", &v) || v != count)
		return fail(p, 0, "%s is not the +Inf bucket %.0f", other,
		    count);
	snprintf(other, sizeof(other), "%s_sum", name);
	if (!prom_value(p, other, "", &sum) || sum < 0)
		return fail(p, 0, "%s missing or negative", other);
	return true;
}
