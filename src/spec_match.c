/* spec_match.c — path templates: parsing "/chat/{room}" into segments,
 * matching a request path against the routes, and the default spec.
 *
 * Owns: the precedence rule of spec.h (literal beats {param} beats
 * {greedy+}, segment by segment from the left) and what a segment is: the
 * bytes between two '/' as the client wrote them, percent-encoding and
 * all. A {param} needs a non-empty segment; a {greedy+} takes one or more
 * segments, slashes included, not empty: the rest of the path, or, mid-
 * template, all but the segments the rest of the template needs. One
 * trailing '/' is ignored unless the spec says ignoreTrailingSlashes: false.
 * The default spec's route is "/{path+}" with line 0 (no file line): only
 * such a built-in route also matches "/", capturing "" — a user's
 * "/{p+}" does not, as in the cloud.
 * Must never: allocate while matching, log (pure).
 */
#include "spec_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static bool is_name_char(char ch)
{
	return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
	       ch == '_' || ch == '.' || ch == '-';
}

static int why_is(char *why, size_t whylen, const char *msg)
{
	snprintf(why, whylen, "%s", msg);
	return ERR_INVAL;
}

/* A {param} or {greedy+} segment s[0..n), braces included. */
static int parse_param(struct route *r, struct route_seg *g, const char *s, size_t n, bool last,
                       char *why, size_t whylen)
{
	size_t params = 0;

	if (n < 3 || s[0] != '{' || s[n - 1] != '}' || memchr(s + 1, '{', n - 2) ||
	    memchr(s + 1, '}', n - 2))
		return why_is(why, whylen,
		              "a parameter must fill a whole segment, as in \"/{name}\"");
	s++, n -= 2;
	g->kind = s[n - 1] == '+' ? SEG_GREEDY : SEG_PARAM;
	n -= g->kind == SEG_GREEDY;
	if (!n)
		return why_is(why, whylen, "a parameter needs a name");
	for (size_t i = 0; i < n; i++)
		if (!is_name_char(s[i]))
			return why_is(why, whylen,
			              "parameter names may only use letters, digits, \"_\", \".\" "
			              "and \"-\"");
	(void)last; /* a greedy parameter may stand mid-path (greedy-parameters.md) */
	for (size_t i = 0; g->kind == SEG_GREEDY && i < r->num_segs; i++)
		if (r->segs[i].kind == SEG_GREEDY)
			return why_is(why, whylen, "only one greedy parameter per path");
	for (size_t i = 0; i < r->num_segs; i++) {
		if (r->segs[i].kind == SEG_LITERAL)
			continue;
		params++;
		if (strlen(r->segs[i].text) == n && !memcmp(r->segs[i].text, s, n)) {
			snprintf(why, whylen, "parameter \"%.*s\" appears twice", (int)n, s);
			return ERR_INVAL;
		}
	}
	if (params == SPEC_MAX_PARAMS) {
		snprintf(why, whylen, "more than %d parameters", SPEC_MAX_PARAMS);
		return ERR_INVAL;
	}
	if (!(g->text = strndup(s, n)))
		return ERR_NOMEM;
	return 0;
}

/* One segment s[0..n) of the template; last: it ends the template. */
static int parse_seg(struct route *r, const char *s, size_t n, bool last, char *why, size_t whylen)
{
	struct route_seg *g = &r->segs[r->num_segs];
	int rc;

	if (memchr(s, '{', n) || memchr(s, '}', n)) {
		if ((rc = parse_param(r, g, s, n, last, why, whylen)))
			return rc;
	} else {
		/* "/chat/" keeps its trailing empty segment; "//" is a typo */
		if (!n && !last)
			return why_is(why, whylen, "empty segment (\"//\")");
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '?' ||
			    s[i] == '#')
				return why_is(why, whylen,
				              "a path may not contain blanks, control characters, "
				              "\"?\" or \"#\"");
		g->kind = SEG_LITERAL;
		if (!(g->text = strndup(s, n)))
			return ERR_NOMEM;
	}
	r->num_segs++;
	return 0;
}

int spec_tmpl_parse(struct route *r, char *why, size_t whylen)
{
	const char *p = r->path, *end = p + strlen(p);
	size_t nseg = 1;
	int rc;

	if (p[0] != '/')
		return why_is(why, whylen, "a path must start with \"/\"");
	if (!p[1])
		return 0; /* "/": no segments */
	for (const char *s = p + 1; *s; s++)
		nseg += *s == '/';
	if (!(r->segs = calloc(nseg, sizeof(*r->segs))))
		return ERR_NOMEM;
	for (const char *s = p + 1; s <= end;) {
		const char *e = memchr(s, '/', (size_t)(end - s));
		e = e ? e : end;
		if ((rc = parse_seg(r, s, (size_t)(e - s), e == end, why, whylen)))
			return rc;
		s = e + 1;
	}
	return 0;
}

bool spec_tmpl_same(const struct route *a, const struct route *b)
{
	if (a->num_segs != b->num_segs)
		return false;
	for (size_t i = 0; i < a->num_segs; i++)
		if (a->segs[i].kind != b->segs[i].kind ||
		    (a->segs[i].kind == SEG_LITERAL && strcmp(a->segs[i].text, b->segs[i].text)))
			return false;
	return true;
}

static void capture(struct route_match *m, const char *name, const char *v, size_t len)
{
	m->params[m->num_params++] = (struct route_param){name, v, len};
}

/* Where a greedy parameter at pos ends when k segments must follow it:
 * before the k-th '/' from the end. Returns false if it would be empty. */
static bool greedy_end(const char *p, size_t pos, size_t len, size_t k, size_t *end)
{
	size_t e = len;

	while (k--) {
		while (e > pos && p[e - 1] != '/')
			e--;
		if (e <= pos)
			return false;
		e--; /* the '/' */
	}
	*end = e;
	return e > pos;
}

/* Does r match p[0..len) (p[0] == '/')? Fills m when it does. With
 * ignore_slash, a trailing empty segment of the template is no segment. */
static bool try_route(const struct route *r, const char *p, size_t len, struct route_match *m,
                      bool ignore_slash)
{
	size_t pos = 1; /* start of the current segment; len + 1 once none is left */
	size_t nseg = r->num_segs;

	m->num_params = 0;
	if (ignore_slash && nseg && r->segs[nseg - 1].kind == SEG_LITERAL &&
	    !r->segs[nseg - 1].text[0])
		nseg--;
	if (len == 1) {
		if (r->line == 0 && nseg == 1 && r->segs[0].kind == SEG_GREEDY) {
			capture(m, r->segs[0].text, p + 1, 0);
			return true; /* the default route: "/" too */
		}
		return nseg == 0;
	}
	if (nseg == 0)
		return false;
	for (size_t i = 0; i < nseg; i++) {
		const struct route_seg *g = &r->segs[i];
		const char *e;
		size_t n, end;
		if (pos > len)
			return false; /* the path has fewer segments */
		if (g->kind == SEG_GREEDY) {
			if (pos == len || !greedy_end(p, pos, len, nseg - i - 1, &end))
				return false;
			capture(m, g->text, p + pos, end - pos);
			pos = end + 1;
			continue;
		}
		e = memchr(p + pos, '/', len - pos);
		n = e ? (size_t)(e - (p + pos)) : len - pos;
		if (g->kind == SEG_LITERAL) {
			if (strlen(g->text) != n || memcmp(g->text, p + pos, n))
				return false;
		} else {
			if (!n)
				return false; /* an empty segment fills no {param} */
			capture(m, g->text, p + pos, n);
		}
		pos += n + 1;
	}
	return pos == len + 1;
}

/* Is a more specific than b? Both match the same path, so they can only
 * differ in segment kinds; the leftmost difference decides. */
static bool beats(const struct route *a, const struct route *b)
{
	size_t n = a->num_segs < b->num_segs ? a->num_segs : b->num_segs;

	for (size_t i = 0; i < n; i++)
		if (a->segs[i].kind != b->segs[i].kind)
			return a->segs[i].kind < b->segs[i].kind;
	return false;
}

const struct route *spec_match(const struct spec *s, const char *path, size_t len,
                               struct route_match *m)
{
	const struct route *best = NULL;
	struct route_match tmp;

	if (!s || !path || !len || path[0] != '/')
		return NULL;
	if (!s->keep_trailing_slash && len > 1 && path[len - 1] == '/')
		len--; /* the cloud's ignoreTrailingSlashes, true by default */
	for (size_t i = 0; i < s->num_routes; i++) {
		const struct route *r = &s->routes[i];
		if (try_route(r, path, len, &tmp, !s->keep_trailing_slash) &&
		    (!best || beats(r, best))) {
			best = r;
			if (m)
				*m = tmp;
		}
	}
	return best;
}

int spec_default(struct spec *out)
{
	struct spec s = {0};
	struct route *r;

	if (!(s.routes = calloc(1, sizeof(*s.routes))))
		return ERR_NOMEM;
	s.num_routes = 1;
	r = &s.routes[0];
	r->line = 0; /* built in: see the top of this file */
	r->message.type = INTEG_ECHO;
	if (!(r->path = strdup("/{path+}")) || !(r->segs = calloc(1, sizeof(*r->segs))) ||
	    !(r->segs[0].text = strdup("path"))) {
		spec_free(&s);
		return ERR_NOMEM;
	}
	r->segs[0].kind = SEG_GREEDY;
	r->num_segs = 1;
	s.keep_trailing_slash = true; /* echo everywhere: the path as sent */
	*out = s;
	return 0;
}
