/*
 * Helpers shared by the unit suites (unit.h).
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

/* Make a private directory $TMPDIR/NAME.XXXXXX into dir. */
void
unit_tmpdir_make(char *dir, size_t dirsz, const char *name)
{
	const char	*base;

	if ((base = getenv("TMPDIR")) == NULL || *base == '\0')
		base = "/tmp";
	ck_assert_int_lt(snprintf(dir, dirsz, "%s/%s.XXXXXX", base, name),
	    (int)dirsz);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Remove dir and the files in it. */
void
unit_tmpdir_remove(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	char		 path[PATH_MAX + 256];

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}
