/*
 * Diagnostics: one line per event on stderr.  Text that came from a
 * request is escaped first.
 *
 * When stderr is the journal (systemd.exec(5): JOURNAL_STREAM holds the
 * device and inode of the stream it gave as stdout or stderr), each line
 * starts with its priority as sd-daemon(3) prefixes it, "<3>" err to "<7>"
 * debug, and leaves out what journald records itself: the time, the
 * program and its pid.  Otherwise each line is "PROGRAM[PID]: LEVEL: ...",
 * so that the lines of several instances can be told apart in one file.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "spike.h"

static const char	*log_progname = "spike-fcgi";
static pthread_once_t	 journal_once = PTHREAD_ONCE_INIT;
static bool		 journal;

static void	log_vline(int, const char *, va_list, int)
		    __attribute__((format(printf, 2, 0)));

void
log_init(const char *progname)
{
	log_progname = progname;
}

/* Whether JOURNAL_STREAM names the file that stderr is. */
static void
detect_journal(void)
{
	const char	*env = getenv("JOURNAL_STREAM");
	struct stat	 st;
	uintmax_t	 dev, ino;
	int		 end = 0;

	if (env == NULL || sscanf(env, "%ju:%ju%n", &dev, &ino, &end) != 2 ||
	    env[end] != '\0' || fstat(STDERR_FILENO, &st) == -1)
		return;
	journal = (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

/* True when stderr is the journal: lines then carry "<N>" prefixes. */
bool
log_to_journal(void)
{
	pthread_once(&journal_once, detect_journal);
	return journal;
}

/*
 * The start of a line of priority (LOG_ERR, LOG_WARNING, LOG_INFO or
 * LOG_DEBUG of syslog(3), the numbers sd-daemon(3) uses): "<N>" for the
 * journal, or "" when stderr is something else.
 */
const char *
log_journal_prefix(int priority)
{
	static const char *const prefix[] = { "<0>", "<1>", "<2>", "<3>",
	    "<4>", "<5>", "<6>", "<7>" };

	if (!log_to_journal())
		return "";
	return prefix[priority >= 0 && priority <= LOG_DEBUG ? priority :
	    LOG_ERR];
}

static const char *
level_name(int priority)
{
	switch (priority) {
	case LOG_INFO:
		return "info";
	case LOG_DEBUG:
		return "debug";
	case LOG_WARNING:
		return "warning";
	default:
		return "error";
	}
}

/*
 * Format the whole line first and write it with one call, so that lines
 * from several threads never interleave.
 */
static void
log_vline(int priority, const char *fmt, va_list ap, int errnum)
{
	char	 line[1024];
	int	 n;

	if (log_to_journal())
		n = snprintf(line, sizeof(line), "%s",
		    log_journal_prefix(priority));
	else
		n = snprintf(line, sizeof(line), "%s[%ld]: %s: ",
		    log_progname, (long)getpid(), level_name(priority));
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = strlen(line);
	if (errnum != 0)
		n += snprintf(line + n, sizeof(line) - n, ": %s",
		    strerror(errnum));
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)write(STDERR_FILENO, line, n);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_INFO, fmt, ap, 0);
	va_end(ap);
}

/* Warn with the text of errno appended. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vline(LOG_WARNING, fmt, ap, saved);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_WARNING, fmt, ap, 0);
	va_end(ap);
}

/*
 * An error the instance lives through but the operator must see: what
 * buyers are refused for, or a change asked for that did not happen.
 * With the text of errno appended.
 */
void
log_error(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vline(LOG_ERR, fmt, ap, saved);
	va_end(ap);
}

/* As log_error, without errno. */
void
log_errorx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_ERR, fmt, ap, 0);
	va_end(ap);
}

/*
 * Start-up cannot go on: say why, with the text of errno appended, and
 * exit 1.  Only for start-up; a request's error is logged and answered.
 */
void
log_fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vline(LOG_ERR, fmt, ap, saved);
	va_end(ap);
	exit(1);
}

/* As log_fatal, without errno. */
void
log_fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_ERR, fmt, ap, 0);
	va_end(ap);
	exit(1);
}

/* Copy src into dst with control characters and quotes as \xNN. */
void
log_escape(char *dst, size_t dstsz, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t		  o = 0;
	unsigned char	  c;

	if (dstsz == 0)
		return;
	for (; (c = (unsigned char)*src) != '\0'; src++) {
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (o + 1 >= dstsz)
				break;
			dst[o++] = c;
			continue;
		}
		if (o + 4 >= dstsz)
			break;
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 0xf];
	}
	dst[o] = '\0';
}
