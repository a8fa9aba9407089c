/*
 * Diagnostics: one line per event on stderr, prefixed with the program
 * name and pid so that the lines of several instances can be told apart
 * in one journal.  Text that came from a request is escaped first.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spike.h"

static const char	*log_progname = "spike-fcgi";

static void	log_vline(const char *, const char *, va_list, int)
		    __attribute__((format(printf, 2, 0)));

void
log_init(const char *progname)
{
	log_progname = progname;
}

/*
 * Format the whole line first and write it with one call, so that lines
 * from several threads never interleave.
 */
static void
log_vline(const char *level, const char *fmt, va_list ap, int errnum)
{
	char	 line[1024];
	int	 n;

	n = snprintf(line, sizeof(line), "%s[%ld]: %s: ", log_progname,
	    (long)getpid(), level);
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
	log_vline("info", fmt, ap, 0);
	va_end(ap);
}

/* Warn with the text of errno appended. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vline("warning", fmt, ap, saved);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline("warning", fmt, ap, 0);
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
	log_vline("warning", fmt, ap, saved);
	va_end(ap);
	exit(1);
}

/* As log_fatal, without errno. */
void
log_fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline("warning", fmt, ap, 0);
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
