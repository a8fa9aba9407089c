/*
 * The rig's view of the stat lines (the instances' stat.log and nginx's
 * edge log) and of the instances' own logs: lines counted, and waited
 * for.  See rig.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rig_private.h"

/* Lines of the file at path holding needle and also (NULL: any); 0 if none. */
static long
file_lines(const char *path, const char *needle, const char *also)
{
	FILE	*f;
	char	*line = NULL;
	size_t	 cap = 0;
	long	 n = 0;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (getline(&line, &cap, f) != -1)
		if ((needle == NULL || strstr(line, needle) != NULL) &&
		    (also == NULL || strstr(line, also) != NULL))
			n++;
	free(line);
	fclose(f);
	return n;
}

/* Lines of instance i's stdout and stderr log containing needle. */
long
rig_instance_log_lines(struct rig *r, int i, const char *needle)
{
	char	 log[RIG_PATH_MAX + 32];

	rig_instance_log(r, i, log, sizeof(log));
	return file_lines(log, needle, NULL);
}

/* Stat lines containing needle (all lines when NULL); 0 if none. */
long
rig_stat_lines(struct rig *r, const char *needle)
{
	return rig_stat_lines_both(r, needle, NULL);
}

/* Stat lines, of the instances' and of nginx, with needle and also. */
long
rig_stat_lines_both(struct rig *r, const char *needle, const char *also)
{
	return file_lines(r->stat_log, needle, also) +
	    file_lines(r->edge_log, needle, also);
}

/* Lines written by instance i ("port:P" field). */
long
rig_stat_port_lines(struct rig *r, int i)
{
	char	 needle[32];

	snprintf(needle, sizeof(needle), ",port:%d,", r->inst[i].port);
	return rig_stat_lines(r, needle);
}

/* Poll the stat lines until at least want contain needle. */
bool
rig_stat_wait(struct rig *r, const char *needle, long want,
    unsigned int timeout_ms)
{
	double	 end = rig_now_ms() + timeout_ms;
	long	 n;

	while ((n = rig_stat_lines(r, needle)) < want) {
		if (rig_now_ms() > end)
			return rig_fail(r, "stat lines: %ld with \"%s\" after "
			    "%u ms, want %ld", n, needle ? needle : "",
			    timeout_ms, want);
		rig_sleep_ms(20);
	}
	return true;
}
