/*
 * The times an operator gives spikectl init (--start, --end) and reads
 * in spikectl items: ISO 8601 with a zone, to and from Unix
 * milliseconds, without the process's time zone (no mktime, no TZ).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "spike.h"

/* Read exactly n digits at *s into *out, stepping past them. */
static bool
take_digits(const char **s, int n, int *out)
{
	int	 i;

	*out = 0;
	for (i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return false;
		*out = *out * 10 + ((*s)[i] - '0');
	}
	*s += n;
	return true;
}

/* Step past the character c at *s; false when it is not there. */
static bool
take_char(const char **s, char c)
{
	if (**s != c)
		return false;
	(*s)++;
	return true;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static long long
days_from_civil(long long y, int m, int d)
{
	long long	 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
month_days(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	bool	 leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* The fraction of a second after '.', to milliseconds (digits beyond cut). */
static bool
take_fraction(const char **s, int *ms)
{
	int	 n = 0, scale = 100;

	*ms = 0;
	if (!take_char(s, '.'))
		return true;
	for (; **s >= '0' && **s <= '9'; (*s)++, n++) {
		*ms += (**s - '0') * scale;
		scale /= 10;
	}
	return n > 0 && n <= 9;
}

/* The zone: "Z", or +HH:MM / -HH:MM; its offset east of UTC in seconds. */
static bool
take_zone(const char **s, long long *offset_s)
{
	int	 sign, hh, mm;

	*offset_s = 0;
	if (take_char(s, 'Z'))
		return true;
	if (**s != '+' && **s != '-')
		return false;
	sign = **s == '-' ? -1 : 1;
	(*s)++;
	if (!take_digits(s, 2, &hh) || !take_char(s, ':') ||
	    !take_digits(s, 2, &mm) || hh > 23 || mm > 59)
		return false;
	*offset_s = sign * (hh * 3600LL + mm * 60);
	return true;
}

/*
 * Parse "YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]" (the zone is not
 * optional) into Unix milliseconds.  Years 1970 to 9999.
 */
bool
ctl_time_parse(const char *text, long long *ms)
{
	const char	*s = text;
	int		 y, mo, d, h, mi, sec, frac;
	long long	 zone;

	if (!take_digits(&s, 4, &y) || !take_char(&s, '-') ||
	    !take_digits(&s, 2, &mo) || !take_char(&s, '-') ||
	    !take_digits(&s, 2, &d) || !take_char(&s, 'T') ||
	    !take_digits(&s, 2, &h) || !take_char(&s, ':') ||
	    !take_digits(&s, 2, &mi) || !take_char(&s, ':') ||
	    !take_digits(&s, 2, &sec) || !take_fraction(&s, &frac) ||
	    !take_zone(&s, &zone) || *s != '\0')
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > month_days(y, mo) || h > 23 || mi > 59 || sec > 59)
		return false;
	*ms = ((days_from_civil(y, mo, d) * 86400 + h * 3600LL + mi * 60 +
	    sec) - zone) * 1000 + frac;
	return *ms >= 0;
}

/* Write Unix ms as "YYYY-MM-DDTHH:MM:SS.fffZ" (UTC) into buf. */
void
ctl_time_format(long long ms, char *buf, size_t bufsz)
{
	long long	 days = ms / 86400000, rest = ms % 86400000;
	long long	 z, era, doe, yoe, doy, mp, y;
	int		 m, d;

	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (int)(doy - (153 * mp + 2) / 5 + 1);
	m = (int)(mp < 10 ? mp + 3 : mp - 9);
	y += m <= 2;
	snprintf(buf, bufsz, "%04lld-%02d-%02dT%02lld:%02lld:%02lld.%03lldZ",
	    y, m, d, rest / 3600000, rest / 60000 % 60, rest / 1000 % 60,
	    rest % 1000);
}
