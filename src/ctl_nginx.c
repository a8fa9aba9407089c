/*
 * spikectl nginx-conf: make nginx's http-context snippet for the
 * instances of spike.conf out of nginx/spike-fcgi.conf (compiled in as
 * ctl_nginx_snippet), so that the directives live in that one file and
 * the instances and their weights in spike.conf.
 *
 * The template names the seed's instances: the "seeds" are the addresses
 * of the server lines of its upstream block, numbered 1..S in order.
 * Going through the template's blocks (a line that opens "{" up to the
 * line that closes it) and lines:
 *  - a block or line that names no seed is copied;
 *  - one that names several seeds is copied with its children treated
 *    alike (the upstream, the server, a map);
 *  - among the children of one block, those naming exactly one seed are
 *    per-instance templates: the ones naming the lowest seed t are
 *    repeated for every instance, with t's address replaced by the
 *    instance's and the number t (standing alone, or after '/', '_' or
 *    '-') by the instance's place; the ones naming other seeds are
 *    dropped.  A server line gets the instance's weight;
 *  - a comment line that names a seed is dropped, and so is the comment
 *    block at the top, replaced by the caller's header;
 *  - the character class "[1-S]" (the seeds' places, as in a regular
 *    expression location) becomes one matching 1..N, and the text
 *    "1..S" becomes "1..N";
 *  - with a listen address given, "listen A" where A is the template's
 *    first listen address becomes "listen" the given one;
 *  - with server names given, a "server_name" line names them instead;
 *  - an option line, a comment "#@NAME TEXT" (NAME rate or pay-from), is
 *    written as TEXT only when that option was given, with its values in
 *    place of @RATE@ and @BURST@, and once per address in place of
 *    @ADDR@ (a pay-from line without @ADDR@ is written once).
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spike.h"

#define NGX_SEEDS_MAX	64
#define NGX_LINES_MAX	4096

enum ngx_option {
	NGX_OPTION_NONE,
	NGX_OPTION_RATE,	/* "#@rate": --rate, --burst */
	NGX_OPTION_PAY_FROM,	/* "#@pay-from": each --pay-from */
};

struct ngx_line {
	const char	*text;
	size_t		 len;
	int		 delta;		/* "{" minus "}" outside quotes, comments */
	bool		 comment;	/* nothing but a comment */
	uint64_t	 seeds;		/* bit s-1: names seed s */
	enum ngx_option	 option;	/* an option line */
	size_t		 marker;	/* option: where "#@" starts */
	size_t		 body;		/* option: where its text starts */
};

struct ngx_render {
	const struct conf	*conf;
	const struct ctl_nginx_opts *opts;
	const char		*listen;	/* NULL: keep the template's */
	FILE			*out;
	struct ngx_line		 lines[NGX_LINES_MAX];
	size_t			 nlines;
	char			 seeds[NGX_SEEDS_MAX][CONF_ADDR_MAX];
	size_t			 nseeds;
	char			 listen_from[CONF_ADDR_MAX];
	char			*err;
	size_t			 errsz;
};

static enum spike_err	ngx_fail(struct ngx_render *, const char *, ...)
			    __attribute__((format(printf, 2, 3)));

/* Say why in the caller's buffer; returns SPIKE_ECONFIG. */
static enum spike_err
ngx_fail(struct ngx_render *nr, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(nr->err, nr->errsz, fmt, ap);
	va_end(ap);
	return SPIKE_ECONFIG;
}

/* The net count of braces on a line, skipping quoted text and comments. */
static int
brace_delta(const char *s, size_t len, bool *comment)
{
	size_t	 i;
	char	 quote = 0;
	int	 delta = 0;
	bool	 blank = true;

	*comment = false;
	for (i = 0; i < len; i++) {
		if (quote != 0) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == quote)
				quote = 0;
			continue;
		}
		if (s[i] == '#') {
			*comment = blank;
			break;
		}
		if (!isspace((unsigned char)s[i]))
			blank = false;
		if (s[i] == '"' || s[i] == '\'')
			quote = s[i];
		else if (s[i] == '{')
			delta++;
		else if (s[i] == '}')
			delta--;
	}
	return delta;
}

/*
 * Is l an option line, "#@NAME TEXT" after blanks?  Sets its option and
 * where its marker and text start; SPIKE_ECONFIG for an unknown NAME or a
 * TEXT that opens or closes a block.
 */
static enum spike_err
find_option(struct ngx_render *nr, struct ngx_line *l, size_t lineno)
{
	static const char *const names[] = { "#@rate ", "#@pay-from " };
	size_t		 i = 0, k, n;
	bool		 comment;

	while (i < l->len && isspace((unsigned char)l->text[i]))
		i++;
	if (l->len - i < 2 || strncmp(l->text + i, "#@", 2) != 0)
		return SPIKE_OK;
	for (k = 0; k < 2; k++) {
		n = strlen(names[k]);
		if (l->len - i >= n && strncmp(l->text + i, names[k], n) == 0)
			break;
	}
	if (k == 2)
		return ngx_fail(nr, "template line %zu: unknown option line "
		    "\"%.*s\"", lineno, (int)(l->len - i), l->text + i);
	if (brace_delta(l->text + i + n, l->len - i - n, &comment) != 0)
		return ngx_fail(nr, "template line %zu: an option line cannot "
		    "open or close a block", lineno);
	l->option = k == 0 ? NGX_OPTION_RATE : NGX_OPTION_PAY_FROM;
	l->marker = i;
	l->body = i + n;
	return SPIKE_OK;
}

/* Cut the template into lines. */
static enum spike_err
split_lines(struct ngx_render *nr, const char *tmpl)
{
	const char	*p = tmpl, *eol;
	struct ngx_line	*l;

	while (*p != '\0') {
		if (nr->nlines == NGX_LINES_MAX)
			return ngx_fail(nr, "template: more than %d lines",
			    NGX_LINES_MAX);
		eol = strchr(p, '\n');
		l = &nr->lines[nr->nlines++];
		l->text = p;
		l->len = eol != NULL ? (size_t)(eol - p) : strlen(p);
		l->delta = brace_delta(p, l->len, &l->comment);
		if (find_option(nr, l, nr->nlines) != SPIKE_OK)
			return SPIKE_ECONFIG;
		p += l->len + (eol != NULL);
	}
	return SPIKE_OK;
}

/* Copy the n-th blank-separated word of a line (0-based) into buf. */
static bool
line_word(const struct ngx_line *l, int n, char *buf, size_t bufsz)
{
	size_t	 i = 0, start;

	for (;;) {
		while (i < l->len && isspace((unsigned char)l->text[i]))
			i++;
		start = i;
		while (i < l->len && !isspace((unsigned char)l->text[i]) &&
		    l->text[i] != ';')
			i++;
		if (start == i)
			return false;
		if (n-- == 0)
			break;
	}
	if (i - start >= bufsz)
		return false;
	memcpy(buf, l->text + start, i - start);
	buf[i - start] = '\0';
	return true;
}

static bool
word_is(const struct ngx_line *l, int n, const char *want)
{
	char	 w[CONF_ADDR_MAX];

	return line_word(l, n, w, sizeof(w)) && strcmp(w, want) == 0;
}

/* The last line of the block opened at line i (i itself if none). */
static size_t
block_end(const struct ngx_render *nr, size_t i)
{
	size_t	 j;
	int	 depth = nr->lines[i].delta;

	if (depth <= 0)
		return i;
	for (j = i + 1; j < nr->nlines; j++)
		if ((depth += nr->lines[j].delta) <= 0)
			return j;
	return nr->nlines;	/* unbalanced */
}

/* The seeds: the server lines' addresses in the upstream block. */
static enum spike_err
find_seeds(struct ngx_render *nr)
{
	size_t	 i, j, end;

	for (i = 0; i < nr->nlines; i++)
		if (word_is(&nr->lines[i], 0, "upstream") &&
		    nr->lines[i].delta > 0)
			break;
	if (i == nr->nlines)
		return ngx_fail(nr, "template: no upstream block");
	end = block_end(nr, i);
	for (j = i + 1; j < end && nr->nseeds < NGX_SEEDS_MAX; j++)
		if (nr->lines[j].delta == 0 && !nr->lines[j].comment &&
		    word_is(&nr->lines[j], 0, "server") &&
		    line_word(&nr->lines[j], 1, nr->seeds[nr->nseeds],
		    sizeof(nr->seeds[0])))
			nr->nseeds++;
	if (nr->nseeds == 0)
		return ngx_fail(nr, "template: no server line in its upstream");
	return SPIKE_OK;
}

static bool
addr_char(char c)
{
	return isalnum((unsigned char)c) || strchr("._-/:", c) != NULL;
}

/* Does an address start at s[i] as a whole word? */
static bool
addr_at(const char *s, size_t len, size_t i, const char *addr)
{
	size_t	 n = strlen(addr);

	return i + n <= len && memcmp(s + i, addr, n) == 0 &&
	    (i == 0 || !addr_char(s[i - 1])) &&
	    (i + n == len || !addr_char(s[i + n]));
}

/* Which seeds a line names, as a bit set. */
static uint64_t
line_seeds(const struct ngx_render *nr, const struct ngx_line *l)
{
	uint64_t	 mask = 0;
	size_t		 i, s;

	for (i = 0; i < l->len; i++)
		for (s = 0; s < nr->nseeds; s++)
			if (addr_at(l->text, l->len, i, nr->seeds[s]))
				mask |= (uint64_t)1 << s;
	return mask;
}

/* The first listen address of the template, "" if none. */
static void
find_listen(struct ngx_render *nr)
{
	size_t	 i;

	for (i = 0; i < nr->nlines; i++)
		if (!nr->lines[i].comment &&
		    word_is(&nr->lines[i], 0, "listen") &&
		    line_word(&nr->lines[i], 1, nr->listen_from,
		    sizeof(nr->listen_from)))
			return;
	nr->listen_from[0] = '\0';
}

/* The seeds named by lines first..last, as a bit set. */
static uint64_t
range_seeds(const struct ngx_render *nr, size_t first, size_t last)
{
	uint64_t	 mask = 0;

	for (; first <= last; first++)
		mask |= nr->lines[first].seeds;
	return mask;
}

static bool
single_seed(uint64_t mask)
{
	return mask != 0 && (mask & (mask - 1)) == 0;
}

/* Does the number n stand alone at s[i] (after a word break or / _ -)? */
static bool
index_at(const char *s, size_t len, size_t i, unsigned int n)
{
	char	 num[16];
	size_t	 k;

	k = (size_t)snprintf(num, sizeof(num), "%u", n);
	if (i + k > len || memcmp(s + i, num, k) != 0)
		return false;
	if (i > 0 && !isspace((unsigned char)s[i - 1]) &&
	    strchr("/_-", s[i - 1]) == NULL)
		return false;
	return i + k == len || (!isalnum((unsigned char)s[i + k]) &&
	    strchr(".=:", s[i + k]) == NULL);
}

/* A regular expression matching exactly the numbers 1..n. */
static void
index_class(char *buf, size_t bufsz, unsigned int n)
{
	size_t		 o;
	unsigned int	 tens;

	if (n <= 9) {
		snprintf(buf, bufsz, "[1-%u]", n);
		return;
	}
	o = (size_t)snprintf(buf, bufsz, "(?:[1-9]");
	for (tens = 1; tens <= n / 10 && o < bufsz; tens++)
		o += (size_t)snprintf(buf + o, bufsz - o, "|%u[0-%u]", tens,
		    tens < n / 10 ? 9 : n % 10);
	if (o < bufsz)
		snprintf(buf + o, bufsz - o, ")");
}

/*
 * Write l with the listen address asked for if it is "listen A", A the
 * template's first listen address; returns whether it was.
 */
static bool
put_listen(struct ngx_render *nr, const struct ngx_line *l)
{
	size_t	 i, n = strlen(nr->listen_from);

	if (nr->listen == NULL || n == 0 || !word_is(l, 0, "listen") ||
	    !word_is(l, 1, nr->listen_from))
		return false;
	i = (size_t)(strstr(l->text, nr->listen_from) - l->text);
	fprintf(nr->out, "%.*s%s%.*s\n", (int)i, l->text, nr->listen,
	    (int)(l->len - i - n), l->text + i + n);
	return true;
}

/*
 * Write l with the server names asked for, and this machine's, if it is
 * a "server_name" line; returns whether it was.
 */
static bool
put_server_name(struct ngx_render *nr, const struct ngx_line *l)
{
	const struct ctl_nginx_opts *o = nr->opts;
	size_t	 i, k;

	if (o->nserver_names == 0 || l->comment ||
	    !word_is(l, 0, "server_name"))
		return false;
	i = strspn(l->text, " \t");
	fprintf(nr->out, "%.*sserver_name", (int)i, l->text);
	for (k = 0; k < o->nserver_names; k++)
		fprintf(nr->out, " %s", o->server_names[k]);
	/* This machine's own requests: /metrics/N, /healthz/N, Prometheus. */
	fputs(" localhost 127.0.0.1;\n", nr->out);
	return true;
}

/*
 * The template's file paths, to be replaced by spike.conf's own: the edge
 * log nginx appends its own answers to (never the instances' stat.log),
 * the sold-out flag it tests and the directory of the items' edge files.
 * And the default item's name, quoted: stock_key.
 */
#define NGX_EDGE_LOG	CONF_DEFAULT_EDGE_LOG
#define NGX_SOLD_OUT	"/run/spike-fcgi/sold-out"
#define NGX_EDGE_DIR	CONF_DEFAULT_EDGE_DIR
#define NGX_DEFAULT_ITEM	"\"ticket_hash_key\""

/*
 * Write stock_key quoted, as the default item's name in nginx's maps.
 * One nginx would read otherwise than as a file name in edge_dir (a
 * quote, "$", "/", a blank, a leading "~", or what ends a URI's path:
 * "?", "#", "%") is written as a name no request can
 * carry (it has a blank), so the default item gets no edge answer.
 */
static void
put_default_item(struct ngx_render *nr)
{
	const char	*k = nr->conf->stock_key;
	size_t		 i;
	bool		 plain = strcmp(k, ".") != 0 && strcmp(k, "..") != 0;

	for (i = 0; k[i] != '\0'; i++)
		if ((unsigned char)k[i] <= ' ' || k[i] == 0x7f ||
		    strchr("\"'\\$/{};?#%", k[i]) != NULL)
			plain = false;
	if (k[0] == '~')
		plain = false;	/* a regular expression to nginx's map */
	fprintf(nr->out, "\"%s\"", plain ? k : "no edge answer");
}

/* Write the path of spike.conf that replaces a template path at s, if any;
 * returns the length of the template path replaced, or 0. */
static size_t
put_path(struct ngx_render *nr, const char *s, size_t len)
{
	const char	*from[] = { NGX_EDGE_LOG, NGX_SOLD_OUT, NGX_EDGE_DIR };
	const char	*to[] = { nr->conf->edge_log, nr->conf->sold_out_flag,
			    nr->conf->edge_dir };
	size_t		 k, n;

	n = strlen(NGX_DEFAULT_ITEM);
	if (n <= len && strncmp(s, NGX_DEFAULT_ITEM, n) == 0) {
		put_default_item(nr);
		return n;
	}
	for (k = 0; k < 3; k++) {
		n = strlen(from[k]);
		if (n <= len && strncmp(s, from[k], n) == 0 && *to[k] != '\0') {
			fputs(to[k], nr->out);
			return n;
		}
	}
	return 0;
}

/* Write an option line's text with addr (or NULL) and the numbers in. */
static void
put_option_text(struct ngx_render *nr, const struct ngx_line *l,
    const char *addr)
{
	const char	*holder[] = { "@RATE@", "@BURST@", "@ADDR@" };
	char		 value[3][64];
	size_t		 i, k, n;

	snprintf(value[0], sizeof(value[0]), "%u", nr->opts->rate);
	snprintf(value[1], sizeof(value[1]), "%u", nr->opts->burst);
	fprintf(nr->out, "%.*s", (int)l->marker, l->text);
	for (i = l->body; i < l->len; i++) {
		for (k = 0; k < 3; k++) {
			n = strlen(holder[k]);
			if (l->len - i >= n &&
			    strncmp(l->text + i, holder[k], n) == 0 &&
			    (k < 2 || addr != NULL))
				break;
		}
		if (k == 3) {
			fputc(l->text[i], nr->out);
			continue;
		}
		fputs(k < 2 ? value[k] : addr, nr->out);
		i += n - 1;
	}
	fputc('\n', nr->out);
}

/* Write an option line as the options given ask (maybe not at all). */
static void
put_option(struct ngx_render *nr, const struct ngx_line *l)
{
	const struct ctl_nginx_opts *o = nr->opts;
	size_t		 k;

	if (l->option == NGX_OPTION_RATE) {
		if (o->rate > 0)
			put_option_text(nr, l, NULL);
		return;
	}
	if (o->npay_from == 0)
		return;
	if (memmem(l->text + l->body, l->len - l->body, "@ADDR@", 6) == NULL)
		put_option_text(nr, l, NULL);
	else
		for (k = 0; k < o->npay_from; k++)
			put_option_text(nr, l, o->pay_from[k]);
}

/*
 * Write a line: a seed's address and place replaced by an instance's
 * (seed 0: none), "[1-S]" by the instances' places, and the template's
 * listen address by the one asked for.
 */
static void
put_line(struct ngx_render *nr, const struct ngx_line *l, size_t seed,
    const struct conf_instance *inst, unsigned int place)
{
	char	 cls[16], to[CONF_INSTANCES_MAX * 8], dots[16], dots_to[16];
	size_t	 i, n;

	snprintf(cls, sizeof(cls), "[1-%zu]", nr->nseeds);
	index_class(to, sizeof(to), (unsigned int)nr->conf->ninstances);
	snprintf(dots, sizeof(dots), "1..%zu", nr->nseeds);
	snprintf(dots_to, sizeof(dots_to), "1..%zu", nr->conf->ninstances);
	if (l->option != NGX_OPTION_NONE) {
		put_option(nr, l);
		return;
	}
	if (put_listen(nr, l) || put_server_name(nr, l))
		return;
	for (i = 0; i < l->len; i++) {
		if ((n = put_path(nr, l->text + i, l->len - i)) > 0) {
			i += n - 1;
		} else if (seed > 0 && addr_at(l->text, l->len, i,
		    nr->seeds[seed - 1])) {
			fputs(inst->addr, nr->out);
			i += strlen(nr->seeds[seed - 1]) - 1;
		} else if (seed > 0 && index_at(l->text, l->len, i,
		    (unsigned int)seed)) {
			fprintf(nr->out, "%u", place);
			while (i + 1 < l->len &&
			    isdigit((unsigned char)l->text[i + 1]))
				i++;
		} else if (i + strlen(cls) <= l->len &&
		    strncmp(l->text + i, cls, strlen(cls)) == 0) {
			fputs(to, nr->out);
			i += strlen(cls) - 1;
		} else if (i + strlen(dots) <= l->len &&
		    strncmp(l->text + i, dots, strlen(dots)) == 0 &&
		    (i + strlen(dots) == l->len ||
		    !isdigit((unsigned char)l->text[i + strlen(dots)]))) {
			fputs(dots_to, nr->out);
			i += strlen(dots) - 1;
		} else
			fputc(l->text[i], nr->out);
	}
	fputc('\n', nr->out);
}

/* Put a server line of the upstream for inst, with its weight. */
static void
put_server(struct ngx_render *nr, const struct ngx_line *l, size_t seed,
    const struct conf_instance *inst, unsigned int place)
{
	char		*buf = NULL, *w, *addr, *rest;
	size_t		 len = 0;
	FILE		*saved = nr->out;

	if ((nr->out = open_memstream(&buf, &len)) == NULL) {
		nr->out = saved;
		put_line(nr, l, seed, inst, place);
		return;
	}
	put_line(nr, l, seed, inst, place);
	fclose(nr->out);
	nr->out = saved;
	if ((w = strstr(buf, " weight=")) != NULL ||
	    (w = strstr(buf, "\tweight=")) != NULL) {
		rest = w + 8 + strspn(w + 8, "0123456789");
		fprintf(nr->out, "%.*s%u%s", (int)(w + 8 - buf), buf,
		    inst->weight, rest);
	} else if ((addr = strstr(buf, inst->addr)) != NULL) {
		rest = addr + strlen(inst->addr);
		fprintf(nr->out, "%.*s weight=%u%s", (int)(rest - buf), buf,
		    inst->weight, rest);
	} else
		fputs(buf, nr->out);
	free(buf);
}

/* Write lines first..last once for every instance, for seed. */
static void
put_per_instance(struct ngx_render *nr, size_t first, size_t last,
    size_t seed)
{
	const struct ngx_line *l;
	size_t		 k, i;

	for (k = 0; k < nr->conf->ninstances; k++)
		for (i = first; i <= last; i++) {
			l = &nr->lines[i];
			if (l->delta == 0 && !l->comment &&
			    word_is(l, 0, "server"))
				put_server(nr, l, seed,
				    &nr->conf->instances[k], k + 1);
			else
				put_line(nr, l, seed,
				    &nr->conf->instances[k], k + 1);
		}
}

/* The lowest seed named alone by a child of lines first..last. */
static size_t
template_seed(const struct ngx_render *nr, size_t first, size_t last)
{
	size_t		 i, end, best = 0, s;
	uint64_t	 mask;

	for (i = first; i <= last && i < nr->nlines; i = end + 1) {
		end = block_end(nr, i);
		mask = range_seeds(nr, i, end < last ? end : last);
		if (!nr->lines[i].comment && single_seed(mask)) {
			for (s = 1; (mask & ((uint64_t)1 << (s - 1))) == 0;
			    s++)
				;
			if (best == 0 || s < best)
				best = s;
		}
	}
	return best;
}

static enum spike_err	put_range(struct ngx_render *, size_t, size_t);

/* Write the child lines first..end-of-its-block, by the rules above. */
static enum spike_err
put_node(struct ngx_render *nr, size_t i, size_t end, size_t tseed)
{
	const struct ngx_line *l = &nr->lines[i];
	uint64_t	 mask = range_seeds(nr, i, end);
	enum spike_err	 rc;

	if (mask == 0) {
		for (; i <= end; i++)
			put_line(nr, &nr->lines[i], 0, NULL, 0);
		return SPIKE_OK;
	}
	if (l->comment)
		return SPIKE_OK;
	if (single_seed(mask)) {
		if (mask == (uint64_t)1 << (tseed - 1))
			put_per_instance(nr, i, end, tseed);
		return SPIKE_OK;
	}
	if (i == end || l->seeds != 0 || nr->lines[end].seeds != 0)
		return ngx_fail(nr, "template line %zu names several instance "
		    "addresses: it cannot be made per instance", i + 1);
	put_line(nr, l, 0, NULL, 0);
	if ((rc = put_range(nr, i + 1, end - 1)) != SPIKE_OK)
		return rc;
	put_line(nr, &nr->lines[end], 0, NULL, 0);
	return SPIKE_OK;
}

/* Write lines first..last, children of one block (or the top level). */
static enum spike_err
put_range(struct ngx_render *nr, size_t first, size_t last)
{
	size_t		 i, end, tseed;
	enum spike_err	 rc;

	if (first > last)
		return SPIKE_OK;
	tseed = template_seed(nr, first, last);
	for (i = first; i <= last; i = end + 1) {
		end = block_end(nr, i);
		if (end > last)
			return ngx_fail(nr, "template line %zu: unbalanced "
			    "braces", i + 1);
		if ((rc = put_node(nr, i, end, tseed)) != SPIKE_OK)
			return rc;
	}
	return SPIKE_OK;
}

/* Prepare: lines, their seeds, the listen address to replace. */
static enum spike_err
ngx_prepare(struct ngx_render *nr, const char *tmpl)
{
	enum spike_err	 rc;
	size_t		 i;

	if ((rc = split_lines(nr, tmpl)) != SPIKE_OK ||
	    (rc = find_seeds(nr)) != SPIKE_OK)
		return rc;
	for (i = 0; i < nr->nlines; i++)
		nr->lines[i].seeds = line_seeds(nr, &nr->lines[i]);
	find_listen(nr);
	if (nr->listen != NULL && nr->listen_from[0] == '\0')
		return ngx_fail(nr, "template: no listen line to replace");
	return SPIKE_OK;
}

/*
 * Render tmpl for conf's instances into a new string *out, beginning
 * with header (comment lines).  Returns SPIKE_OK, SPIKE_ENOMEM, or
 * SPIKE_ECONFIG with why in err.
 */
enum spike_err
ctl_nginx_render(const char *tmpl, const struct conf *conf,
    const char *header, const char *listen, char **out, char *err,
    size_t errsz)
{
	struct ctl_nginx_opts	 opts = { .listen = listen };

	return ctl_nginx_render_opts(tmpl, conf, header, &opts, out, err,
	    errsz);
}

/* The same, with the options of opts: listen, rate limit, pay-from. */
enum spike_err
ctl_nginx_render_opts(const char *tmpl, const struct conf *conf,
    const char *header, const struct ctl_nginx_opts *opts, char **out,
    char *err, size_t errsz)
{
	struct ngx_render *nr;
	size_t		 len = 0, first = 0;
	enum spike_err	 rc;

	*out = NULL;
	if ((nr = calloc(1, sizeof(*nr))) == NULL)
		return SPIKE_ENOMEM;
	nr->conf = conf;
	nr->opts = opts;
	nr->listen = opts->listen;
	nr->err = err;
	nr->errsz = errsz;
	if ((rc = ngx_prepare(nr, tmpl)) == SPIKE_OK) {
		if ((nr->out = open_memstream(out, &len)) == NULL)
			rc = SPIKE_ENOMEM;
	}
	if (rc == SPIKE_OK) {
		fputs(header, nr->out);
		while (first < nr->nlines && nr->lines[first].comment)
			first++;
		rc = put_range(nr, first, nr->nlines - 1);
		fclose(nr->out);
	}
	free(nr);
	if (rc != SPIKE_OK) {
		free(*out);
		*out = NULL;
	}
	return rc;
}
