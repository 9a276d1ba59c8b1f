/* spec_read.c — the reading context of spec.c and spec_integ.c: one-line
 * "NAME:LINE: [path "P": ][OP: ]what is wrong" errors (the first one wins:
 * later ones are its consequences), warnings kept for the log, quoting of
 * user text, and the YAML tree accessors, each following a $ref
 * (spec_ref.c) where a value is read.
 * Must never: log, or touch sockets (pure).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "spec_int.h"

#define MAX_WARNINGS 64

/* Quotes user text for a message: printable, bounded, one line. */
/* Quotes user text for a message: printable, bounded, one line. */
const char *spec_q(struct spec_ctx *c, const char *s, size_t len)
{
	return spec_quote(c->qbuf[c->qi++ % 3], sizeof(c->qbuf[0]), s, len);
}

static void put(struct spec_ctx *c, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*o >= c->errlen)
		return;
	va_start(ap, fmt);
	k = vsnprintf(c->err + *o, c->errlen - *o, fmt, ap);
	va_end(ap);
	if (k > 0)
		*o += (size_t)k;
}

/* Writes "NAME:LINE: [path "P": ][OP: ]message"; returns ERR_INVAL. */
int spec_fail(struct spec_ctx *c, int line, const char *fmt, ...)
{
	va_list ap;
	size_t o = 0;

	if (c->failed || !c->err || !c->errlen)
		return c->failed = true, ERR_INVAL;
	c->failed = true;
	put(c, &o, "%s:%d: ", c->name, line);
	if (c->path)
		put(c, &o, "path %s: ", c->path);
	if (c->op)
		put(c, &o, "%s: ", c->op);
	if (o < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + o, c->errlen - o, fmt, ap);
		va_end(ap);
	}
	return ERR_INVAL;
}

int spec_nomem(struct spec_ctx *c)
{
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s: out of memory", c->name);
	return ERR_NOMEM;
}

/* Node i, or what its {$ref: ...} names. A bad reference is reported (the
 * first error wins) and reads as node 0, an empty scalar. */
uint32_t spec_deref(struct spec_ctx *c, uint32_t i)
{
	char why[300];
	int rc, line = 1;
	uint32_t to = spec_ref_target(&c->t, c->root, i, &rc, &line, why, sizeof why);

	if (rc) {
		const char *path = c->path, *op = c->op;

		c->path = c->op = NULL; /* the chain's own line says where */
		spec_fail(c, line, "%s", why);
		c->path = path, c->op = op;
	}
	return to;
}

/* "NAME:LINE: text" kept for the log and --check-spec; at most
 * MAX_WARNINGS, then one line saying more were left out. */
void spec_warn(struct spec_ctx *c, int line, const char *fmt, ...)
{
	char buf[400], **w;
	size_t o;
	va_list ap;

	if (c->sp->num_warnings > MAX_WARNINGS)
		return;
	o = (size_t)snprintf(buf, sizeof buf, "%s:%d: ", c->name, line);
	if (c->sp->num_warnings == MAX_WARNINGS)
		snprintf(buf + o, sizeof buf - o, "more warnings left out");
	else {
		va_start(ap, fmt);
		vsnprintf(buf + o, sizeof buf - o, fmt, ap);
		va_end(ap);
	}
	if (!(w = realloc(c->sp->warnings, (c->sp->num_warnings + 1) * sizeof(*w))))
		return; /* a warning lost to ENOMEM is not worth failing for */
	c->sp->warnings = w;
	if ((w[c->sp->num_warnings] = strdup(buf)))
		c->sp->num_warnings++;
}

/* ---- tree helpers --------------------------------------------------------- */

bool spec_is_null(const struct spec_ctx *c, uint32_t i)
{
	const struct ynode *n = N(c, i);
	const char *s = S(c, i);

	return n->kind == Y_SCALAR && n->plain &&
	       (n->len == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	        !strcmp(s, "NULL"));
}

bool spec_key_is(const struct spec_ctx *c, uint32_t k, const char *want)
{
	return N(c, k)->kind == Y_SCALAR && N(c, k)->len == strlen(want) && !strcmp(S(c, k), want);
}

/* Value of key `want` in mapping m ($ref followed), or 0; *key gets the
 * key node. */
uint32_t spec_get(struct spec_ctx *c, uint32_t m, const char *want, uint32_t *key)
{
	if (N(c, m)->kind != Y_MAP)
		return 0;
	for (uint32_t k = N(c, m)->first; k; k = N(c, N(c, k)->next)->next)
		if (spec_key_is(c, k, want)) {
			if (key)
				*key = k;
			return spec_deref(c, N(c, k)->next);
		}
	return 0;
}

const char *spec_kname(const struct spec_ctx *c, uint32_t k)
{
	return N(c, k)->kind == Y_SCALAR ? S(c, k) : "?";
}

/* A copy of scalar i; refuses non-scalars and embedded NUL bytes. */
int spec_dup_scalar(struct spec_ctx *c, uint32_t i, const char *what, char **out)
{
	const struct ynode *n = N(c, i);

	if (n->kind != Y_SCALAR)
		return spec_fail(c, n->line, "%s must be a string, not a %s", what,
		                 n->kind == Y_MAP ? "mapping" : "sequence");
	if (memchr(S(c, i), '\0', n->len))
		return spec_fail(c, n->line, "%s contains a NUL byte", what);
	if (!(*out = strdup(spec_is_null(c, i) ? "" : S(c, i))))
		return spec_nomem(c);
	return 0;
}
