/*
 * The edge files: one small file per item under edge_dir that nginx
 * answers from by itself (nginx/spike-fcgi.conf), in three directories,
 * sold-out, not-started and closed.  A file's content is the answer's
 * body.  Each is written to a temporary name in its directory and
 * renamed over the item's, so nginx reads a whole file or none; the
 * temporary name holds a '~', which no item name has.  Files are made
 * 0644 whatever the umask (nginx's worker is another user), opened with
 * O_NOFOLLOW and O_EXCL so no link someone placed is written through;
 * rename(2) and unlink(2) replace or remove a link, not its target.
 */
#include "config.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "spike.h"

#define EDGE_MODE	0644
#define EDGE_DIR_MODE	0755

static const char *const edge_dirs[EDGE_KINDS] = {
	[EDGE_SOLD_OUT] = "sold-out",
	[EDGE_NOT_STARTED] = "not-started",
	[EDGE_CLOSED] = "closed",
};

const char *
edge_kind_dir(enum edge_kind kind)
{
	return edge_dirs[kind];
}

/* Make path a directory of mode 0755, not following a link there. */
static const char *
make_dir(const char *path)
{
	int	 fd;

	if (mkdir(path, EDGE_DIR_MODE) == -1 && errno != EEXIST)
		return strerror(errno);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return strerror(errno);
	if (fchmod(fd, EDGE_DIR_MODE) == -1) {
		close(fd);
		return strerror(errno);
	}
	close(fd);
	return NULL;
}

/*
 * Create edge_dir and its three directories, mode 0755.  Returns NULL,
 * or why not (the path that failed in path, pathsz).
 */
const char *
edge_prepare(const char *dir, char *path, size_t pathsz)
{
	const char	*why;
	int		 k;

	snprintf(path, pathsz, "%s", dir);
	if ((why = make_dir(path)) != NULL)
		return why;
	for (k = 0; k < EDGE_KINDS; k++) {
		snprintf(path, pathsz, "%s/%s", dir, edge_dirs[k]);
		if ((why = make_dir(path)) != NULL)
			return why;
	}
	return NULL;
}

/* Write len bytes of body to fd, whole. */
static bool
write_all(int fd, const char *body, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, body, len)) == -1) {
			if (errno == EINTR)
				continue;
			return false;
		}
		body += n;
		len -= (size_t)n;
	}
	return true;
}

#define EDGE_PATH_MAX	(CONF_PATH_MAX + CONF_KEY_MAX + 32)

/* dir/KIND/name into path; false when it does not fit. */
static bool
edge_path(char *path, const char *dir, enum edge_kind kind, const char *name)
{
	int	 n = snprintf(path, EDGE_PATH_MAX, "%s/%s/%s", dir,
		    edge_dirs[kind], name);

	return n >= 0 && n < EDGE_PATH_MAX;
}

/*
 * Make dir/KIND/name hold body, through a temporary file renamed over
 * it; the temporary's name is random, as instances in containers that
 * share edge_dir may have the same pid.  Returns NULL, or why not.
 */
const char *
edge_write(const char *dir, enum edge_kind kind, const char *name,
    const char *body)
{
	char		 path[EDGE_PATH_MAX], tmp[EDGE_PATH_MAX + 24];
	const char	*why = NULL;
	unsigned long long r;
	int		 fd;

	if (!edge_path(path, dir, kind, name))
		return "path too long";
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return "no random bytes for a temporary name";
	snprintf(tmp, sizeof(tmp), "%s~%016llx", path, r);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, EDGE_MODE)) == -1)
		return strerror(errno);
	if (fchmod(fd, EDGE_MODE) == -1 ||
	    !write_all(fd, body, strlen(body)))
		why = strerror(errno);
	if (close(fd) == -1 && why == NULL)
		why = strerror(errno);
	if (why == NULL && rename(tmp, path) == -1)
		why = strerror(errno);
	if (why != NULL)
		(void)unlink(tmp);
	return why;
}

/* Remove dir/KIND/name; returns NULL (also when it was not there). */
const char *
edge_remove(const char *dir, enum edge_kind kind, const char *name)
{
	char	 path[EDGE_PATH_MAX];

	if (!edge_path(path, dir, kind, name))
		return "path too long";
	if (unlink(path) == -1 && errno != ENOENT)
		return strerror(errno);
	return NULL;
}
