/*
 * JSON strings (RFC 8259), as spike-fcgi's answers and spikectl's --json
 * output write them.
 */
#include "config.h"

#include <stdio.h>

#include "spike.h"

/*
 * Copy s into dst as the inside of a JSON string (RFC 8259, 7): '"' and
 * '\' escaped, control characters as \u00XX; what does not fit in dstsz
 * (6 bytes for each character at most) is left out.  Returns the length.
 */
size_t
json_escape(char *dst, size_t dstsz, const char *s)
{
	size_t	 o = 0;
	unsigned char c;

	for (; (c = (unsigned char)*s) != '\0' && o + 7 < dstsz; s++) {
		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = c;
		} else if (c < 0x20)
			o += snprintf(dst + o, dstsz - o, "\\u%04x", c);
		else
			dst[o++] = c;
	}
	dst[o] = '\0';
	return o;
}

/*
 * Write s to stdout as a whole JSON string, quotes and all: escaped a
 * character at a time, so that no buffer bounds its length.
 */
void
json_print_string(const char *s)
{
	char	 one[2] = { '\0', '\0' }, escaped[8];

	putchar('"');
	for (; *s != '\0'; s++) {
		one[0] = *s;
		json_escape(escaped, sizeof(escaped), one);
		fputs(escaped, stdout);
	}
	putchar('"');
}
