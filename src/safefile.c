/*
 * The files an instance writes, stat.log and the sold-out flag, are
 * opened only as regular files and never through a symbolic link: a link
 * placed at the path must not make the instance append to, or create, the
 * file it points to.  O_NOFOLLOW guards the last component of the path
 * only; the directories above it must be trusted (spike.conf(5)).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "spike.h"

/*
 * stat.log names every buyer: the owner writes, its group (an operator's
 * tools) reads, nobody else.  nginx only tests the flag's existence
 * (-f), which needs no right on the file itself.
 */
#define SAFEFILE_MODE		0640
#define SAFEFILE_SYMLINK	"a symbolic link, not followed: it must be " \
				"a regular file"
#define SAFEFILE_NOT_REGULAR	"not a regular file"

/*
 * Why path, which open(2) refused with errnum, cannot be written: a
 * link or another type of file where a regular file belongs, or errnum.
 */
static const char *
refusal(const char *path, int errnum)
{
	struct stat	 st;

	if (errnum == ELOOP || (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)))
		return SAFEFILE_SYMLINK;
	if (errnum != ENOENT && lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return SAFEFILE_NOT_REGULAR;
	return strerror(errnum);
}

/*
 * Returns NULL when path is a regular file or does not exist, otherwise
 * why it cannot be one of ours.
 */
const char *
safefile_check(const char *path)
{
	struct stat	 st;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? NULL : strerror(errno);
	if (S_ISLNK(st.st_mode))
		return SAFEFILE_SYMLINK;
	return S_ISREG(st.st_mode) ? NULL : SAFEFILE_NOT_REGULAR;
}

/*
 * Open path for appending, made SAFEFILE_MODE when missing.  O_NONBLOCK
 * keeps a FIFO placed at the path from blocking the open; it is cleared
 * once the file is known to be regular.  Returns the descriptor, or -1
 * with *why saying what is wrong.
 */
int
safefile_append(const char *path, const char **why)
{
	struct stat	 st;
	int		 fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NONBLOCK, SAFEFILE_MODE);
	if (fd == -1) {
		*why = refusal(path, errno);
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    fcntl(fd, F_SETFL, O_APPEND) == -1) {
		*why = SAFEFILE_NOT_REGULAR;
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Make path exist as a regular file without following a link: O_EXCL
 * never creates through one, and what is there already must be regular.
 * Returns NULL when it is there now, or why not.
 */
const char *
safefile_create(const char *path)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK, SAFEFILE_MODE);
	if (fd != -1) {
		close(fd);
		return NULL;
	}
	if (errno == EEXIST)
		return safefile_check(path);
	return refusal(path, errno);
}

/*
 * Why the file open on fd cannot hold a secret (a key, a password): it
 * must be a regular file that only its owner may read or write.  NULL,
 * with *st filled, if it can.
 */
const char *
safefile_secret_problem(int fd, struct stat *st, char *why, size_t whysz)
{
	if (fstat(fd, st) == -1)
		return strerror(errno);
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if ((st->st_mode & 077) != 0) {
		snprintf(why, whysz, "mode %04o lets group or others read or "
		    "write it: chmod 600 it",
		    (unsigned int)(st->st_mode & 07777));
		return why;
	}
	return NULL;
}
