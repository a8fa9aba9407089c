/*
 * The Redis password, read from redis_password_file (spike.conf(5)) by
 * redis_dial.c on every new connection, so that a password changed in
 * the file is used from the next reconnection on, without a restart.
 * Like a key file (keys.c), the file must be a regular file that group
 * and others may neither read nor write; it holds only the password, a
 * trailing newline ignored.  Under systemd, a credential named
 * AUTH_CREDENTIAL (LoadCredential=redis-password:PATH) is read instead
 * when the unit has one: a dynamic user cannot be given the file itself.
 * No message here holds the password.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "spike.h"

#define AUTH_CREDENTIAL		"redis-password"

/* Why the file open on fd cannot hold the password; NULL if it can. */
static const char *
file_problem(int fd, char *why, size_t whysz)
{
	struct stat	 st;
	const char	*problem;

	if ((problem = safefile_secret_problem(fd, &st, why, whysz)) != NULL)
		return problem;
	if (st.st_size > AUTH_PASSWORD_MAX + 2)
		return "longer than a password may be";
	return NULL;
}

/*
 * Read fd whole into pw, dropping one trailing newline (LF or CRLF).
 * Returns NULL, or why the contents are not one password.
 */
static const char *
read_text(int fd, struct auth_password *pw)
{
	char		 buf[AUTH_PASSWORD_MAX + 3];
	const char	*problem = NULL;
	size_t		 len = 0;
	ssize_t		 n = 1;

	while (len < sizeof(buf) && (n = read(fd, buf + len,
	    sizeof(buf) - len)) > 0)
		len += (size_t)n;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (n == -1)
		problem = strerror(errno);
	else if (len > AUTH_PASSWORD_MAX)
		problem = "longer than a password may be";
	else if (len == 0)
		problem = "empty";
	else if (memchr(buf, '\0', len) != NULL ||
	    memchr(buf, '\n', len) != NULL)
		problem = "more than one line";
	else {
		memcpy(pw->text, buf, len);
		pw->text[len] = '\0';
		pw->len = len;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return problem;
}

/*
 * Open the credential when systemd passed one, else the file spike.conf
 * names; the path opened goes into pw->source.  Returns the descriptor,
 * or -1 with errno set.
 */
static int
open_source(const struct conf *conf, struct auth_password *pw)
{
	const char	*dir = getenv("CREDENTIALS_DIRECTORY");
	int		 fd, flags = O_RDONLY | O_CLOEXEC | O_NOCTTY |
			    O_NONBLOCK;

	if (dir != NULL && *dir == '/' &&
	    (size_t)snprintf(pw->source, sizeof(pw->source), "%s/%s", dir,
	    AUTH_CREDENTIAL) < sizeof(pw->source)) {
		if ((fd = open(pw->source, flags)) != -1 || errno != ENOENT)
			return fd;
	}
	snprintf(pw->source, sizeof(pw->source), "%s",
	    conf->redis_password_file.path);
	return open(pw->source, flags);
}

/*
 * Read the password of conf's redis_password_file into pw.  Returns
 * SPIKE_OK, or SPIKE_ECONFIG with "CONF:LINE: redis_password_file PATH:
 * why" in err.
 */
enum spike_err
auth_read_password(const struct conf *conf, struct auth_password *pw,
    char *err, size_t errsz)
{
	char		 why[128];
	const char	*problem;
	int		 fd;

	memset(pw, 0, sizeof(*pw));
	if ((fd = open_source(conf, pw)) == -1)
		problem = strerror(errno);
	else if ((problem = file_problem(fd, why, sizeof(why))) == NULL)
		problem = read_text(fd, pw);
	if (fd != -1)
		close(fd);
	if (problem == NULL)
		return SPIKE_OK;
	snprintf(err, errsz, "%s:%u: redis_password_file %s: %s",
	    conf->source, conf->redis_password_file.line, pw->source, problem);
	OPENSSL_cleanse(pw->text, sizeof(pw->text));
	return SPIKE_ECONFIG;
}

/*
 * Can the password be read now?  For start-up and spikectl check, which
 * refuse a file that will not do before any connection.  Returns
 * SPIKE_OK without a password file too.
 */
enum spike_err
auth_check(const struct conf *conf, char *err, size_t errsz)
{
	struct auth_password pw;
	enum spike_err	 rc;

	if (conf->redis_password_file.path[0] == '\0')
		return SPIKE_OK;
	rc = auth_read_password(conf, &pw, err, errsz);
	OPENSSL_cleanse(&pw, sizeof(pw));
	return rc;
}
