/* spec_ref.c — the two things the cloud resolves before it reads a spec:
 * `${var.NAME}` variables (x-yc-apigateway: variables:, parametrization.md)
 * substituted in every scalar of the YAML tree, and local `$ref` JSON
 * pointers ("#/components/x-yc-apigateway-integrations/NAME") followed to
 * the node they name.
 *
 * Owns: the variable rules (a value from outside beats the default; no
 * value at all, a value outside `enum`, an undeclared ${var.X} or an
 * outside value naming no variable are errors) and the $ref rules (local
 * pointers only, RFC 6901 escapes and percent-encoding decoded, chains
 * followed, a cycle refused naming its links). Substituting scalar by
 * scalar, after YAML is parsed, keeps a value from changing the document's
 * structure; the pool it grows is capped.
 * Must never: log, or know what a spec means beyond these two (pure).
 */
#include "spec_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define VAR_OPEN "${var."
#define MAX_VARS 256
#define MAX_POOL (4u * SPEC_MAX_SIZE) /* scalar text after substitution */
#define MAX_HOPS 32                   /* $ref -> $ref -> ... */

static int why_is(int *line, int at, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	*line = at;
	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return ERR_INVAL;
}

static const char *text(const struct ytree *t, uint32_t i)
{
	return t->pool + t->n[i].off;
}

static uint32_t map_get(const struct ytree *t, uint32_t m, const char *key, size_t klen)
{
	if (t->n[m].kind != Y_MAP)
		return 0;
	for (uint32_t k = t->n[m].first; k; k = t->n[t->n[k].next].next)
		if (t->n[k].kind == Y_SCALAR && t->n[k].len == klen &&
		    !memcmp(text(t, k), key, klen))
			return t->n[k].next;
	return 0;
}

/* ---- variables ---------------------------------------------------------- */

struct var {
	const char *name;
	size_t nlen;
	const char *value; /* NUL-terminated */
	int line;
};

static bool is_var_char(char ch)
{
	return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
	       ch == '_' || ch == '-' || ch == '.';
}

/* Picks each declared variable's value; checks enum. */
static int collect(const struct ytree *t, uint32_t decl, const struct spec_var *ext, size_t next,
                   struct var *vars, size_t *nvars, int *line, char *why, size_t whylen)
{
	char qb[2][80];

	if (t->n[decl].kind != Y_MAP)
		return why_is(line, t->n[decl].line, why, whylen,
		              "x-yc-apigateway.variables must be a mapping of variable names");
	for (uint32_t k = t->n[decl].first; k; k = t->n[t->n[k].next].next) {
		uint32_t v = t->n[k].next, def, en;
		struct var *x;

		if (*nvars == MAX_VARS)
			return why_is(line, t->n[k].line, why, whylen, "more than %d variables",
			              MAX_VARS);
		x = &vars[(*nvars)++];
		x->name = text(t, k);
		x->nlen = t->n[k].len;
		x->line = t->n[k].line;
		x->value = NULL;
		if (t->n[k].kind != Y_SCALAR || !x->nlen)
			return why_is(line, t->n[k].line, why, whylen, "a variable needs a name");
		for (size_t i = 0; i < x->nlen; i++)
			if (!is_var_char(x->name[i]))
				return why_is(line, x->line, why, whylen,
				              "variable %s: names use letters, digits, _ - .",
				              spec_quote(qb[0], sizeof qb[0], x->name, x->nlen));
		def = map_get(t, v, "default", 7);
		if (def && t->n[def].kind == Y_SCALAR)
			x->value = text(t, def);
		for (size_t i = 0; i < next; i++) /* the last one given wins */
			if (strlen(ext[i].name) == x->nlen &&
			    !memcmp(ext[i].name, x->name, x->nlen))
				x->value = ext[i].value;
		if (!x->value)
			return why_is(line, x->line, why, whylen,
			              "variable %s has no default; give it a value with --var "
			              "%.*s=VALUE",
			              spec_quote(qb[0], sizeof qb[0], x->name, x->nlen),
			              (int)x->nlen, x->name);
		en = map_get(t, v, "enum", 4);
		if (en && t->n[en].kind == Y_SEQ && t->n[en].count) {
			bool ok = false;

			for (uint32_t i = t->n[en].first; i && !ok; i = t->n[i].next)
				ok = t->n[i].kind == Y_SCALAR && !strcmp(text(t, i), x->value);
			if (!ok)
				return why_is(
				    line, en ? t->n[en].line : x->line, why, whylen,
				    "variable %s: value %s is not one of its enum",
				    spec_quote(qb[0], sizeof qb[0], x->name, x->nlen),
				    spec_quote(qb[1], sizeof qb[1], x->value, strlen(x->value)));
		}
	}
	return 0;
}

/* Substitutes scalar i in place (its new text appended to the pool). */
static int subst_one(struct ytree *t, uint32_t i, const struct var *vars, size_t nvars, int *line,
                     char *why, size_t whylen)
{
	const char *s = text(t, i), *p;
	size_t need = 0, off;
	char qb[80];

	/* pass 1: size and check; pass 2: write */
	for (int pass = 0; pass < 2; pass++) {
		size_t o = 0;

		if (pass == 1) {
			if (t->pool_len + need + 1 > MAX_POOL)
				return why_is(line, t->n[i].line, why, whylen,
				              "variables make the spec larger than %u bytes",
				              MAX_POOL);
			if (t->pool_cap - t->pool_len < need + 1) {
				size_t cap = t->pool_cap;
				char *np;

				while (cap - t->pool_len < need + 1)
					cap *= 2;
				if (!(np = realloc(t->pool, cap)))
					return ERR_NOMEM;
				t->pool = np;
				t->pool_cap = cap;
				s = text(t, i);
			}
		}
		off = t->pool_len;
		for (p = s; *p;) {
			const char *e, *v = NULL;
			size_t vl = 0;

			if (strncmp(p, VAR_OPEN, sizeof VAR_OPEN - 1)) {
				if (pass)
					t->pool[off + o] = *p;
				o++, p++;
				continue;
			}
			e = p + sizeof VAR_OPEN - 1;
			while (is_var_char(*e))
				e++;
			if (*e != '}')
				return why_is(line, t->n[i].line, why, whylen,
				              "%s: \"${var.\" without a closing \"}\"",
				              spec_quote(qb, sizeof qb, s, strlen(s)));
			for (size_t k = 0; k < nvars && !v; k++)
				if (vars[k].nlen == (size_t)(e - p - 6) &&
				    !memcmp(vars[k].name, p + 6, vars[k].nlen))
					v = vars[k].value, vl = strlen(v);
			if (!v)
				return why_is(line, t->n[i].line, why, whylen,
				              "%s is not declared in x-yc-apigateway.variables",
				              spec_quote(qb, sizeof qb, p, (size_t)(e + 1 - p)));
			if (pass)
				memcpy(t->pool + off + o, v, vl);
			o += vl;
			p = e + 1;
		}
		need = o;
	}
	t->pool[off + need] = '\0';
	t->pool_len += need + 1;
	t->n[i].off = off;
	t->n[i].len = need;
	return 0;
}

int spec_vars_apply(struct ytree *t, uint32_t root, const struct spec_var *ext, size_t next,
                    int *line, char *why, size_t whylen)
{
	struct var *vars = NULL;
	size_t nvars = 0;
	uint32_t x = map_get(t, root, "x-yc-apigateway", 15);
	uint32_t decl = x ? map_get(t, x, "variables", 9) : 0;
	int rc = 0;

	if (!(vars = calloc(MAX_VARS, sizeof *vars)))
		return ERR_NOMEM;
	if (decl && !(t->n[decl].kind == Y_SCALAR && t->n[decl].plain && !t->n[decl].len))
		rc = collect(t, decl, ext, next, vars, &nvars, line, why, whylen);
	for (size_t i = 0; rc == 0 && i < next; i++) {
		bool found = false;

		for (size_t k = 0; k < nvars && !found; k++)
			found = strlen(ext[i].name) == vars[k].nlen &&
			        !memcmp(ext[i].name, vars[k].name, vars[k].nlen);
		if (!found)
			rc = why_is(line, decl ? t->n[decl].line : 1, why, whylen,
			            "%.80s: the spec declares no variable %.64s "
			            "(x-yc-apigateway: variables:)",
			            ext[i].origin ? ext[i].origin : "--var", ext[i].name);
	}
	/* t->num does not change: substitution only rewrites scalar text */
	for (uint32_t i = 1; rc == 0 && i < t->num; i++)
		if (t->n[i].kind == Y_SCALAR && memmem(text(t, i), t->n[i].len, VAR_OPEN, 6))
			rc = subst_one(t, i, vars, nvars, line, why, whylen);
	free(vars);
	return rc;
}

/* ---- $ref ------------------------------------------------------------- */

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

/* The $ref string of node i, or NULL when i is not {$ref: "..."}. */
static const char *ref_of(const struct ytree *t, uint32_t i)
{
	uint32_t v = map_get(t, i, "$ref", 4);

	return v && t->n[v].kind == Y_SCALAR ? text(t, v) : NULL;
}

/* One pointer token ref[0..n), RFC 6901 ~0 ~1 and %XX decoded, into tok. */
static size_t decode_token(const char *ref, size_t n, char *tok, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		char ch = ref[i];
		int h1, h2;

		if (ch == '~' && i + 1 < n && (ref[i + 1] == '0' || ref[i + 1] == '1'))
			ch = ref[++i] == '0' ? '~' : '/';
		else if (ch == '%' && i + 2 < n && (h1 = hexval(ref[i + 1])) >= 0 &&
		         (h2 = hexval(ref[i + 2])) >= 0)
			ch = (char)(h1 * 16 + h2), i += 2;
		tok[o++] = ch;
	}
	tok[o] = '\0';
	return o;
}

/* The node "#/a/b/0" names, or 0. */
static uint32_t walk(const struct ytree *t, uint32_t root, const char *ref)
{
	uint32_t cur = root;
	char tok[512];

	for (const char *p = ref + 1; *p == '/' && cur;) {
		const char *e = strchr(p + 1, '/');
		size_t n = e ? (size_t)(e - p - 1) : strlen(p + 1);
		size_t tl = decode_token(p + 1, n, tok, sizeof tok);

		if (t->n[cur].kind == Y_MAP) {
			cur = map_get(t, cur, tok, tl);
		} else if (t->n[cur].kind == Y_SEQ) {
			char *end;
			unsigned long idx = strtoul(tok, &end, 10);
			uint32_t i = t->n[cur].first;

			if (!tl || *end || tok[0] < '0' || tok[0] > '9')
				return 0;
			while (i && idx--)
				i = t->n[i].next;
			cur = i;
		} else {
			return 0;
		}
		p += n + 1;
	}
	return cur;
}

uint32_t spec_ref_target(const struct ytree *t, uint32_t root, uint32_t node, int *rc, int *line,
                         char *why, size_t whylen)
{
	uint32_t seen[MAX_HOPS];
	char qb[96], chain[256];
	size_t hops = 0, o = 0;
	const char *ref;

	*rc = 0;
	while ((ref = ref_of(t, node))) {
		uint32_t next;

		for (size_t i = 0; i < hops; i++)
			if (seen[i] == node) {
				*rc = why_is(line, t->n[seen[0]].line, why, whylen,
				             "$ref cycle: %s", chain);
				return 0;
			}
		if (hops == MAX_HOPS) {
			*rc = why_is(line, t->n[seen[0]].line, why, whylen,
			             "$ref: more than %d references in a chain", MAX_HOPS);
			return 0;
		}
		seen[hops++] = node;
		if (o < sizeof chain)
			o += (size_t)snprintf(chain + o, sizeof chain - o, "%s%s", o ? " -> " : "",
			                      spec_quote(qb, 64, ref, strlen(ref)));
		if (ref[0] != '#' || (ref[1] && ref[1] != '/')) {
			*rc = why_is(line, t->n[node].line, why, whylen,
			             "$ref %s: only local references (\"#/...\") are supported",
			             spec_quote(qb, sizeof qb, ref, strlen(ref)));
			return 0;
		}
		if (!(next = walk(t, root, ref))) {
			*rc = why_is(line, t->n[node].line, why, whylen,
			             "$ref %s: the spec has nothing at that pointer",
			             spec_quote(qb, sizeof qb, ref, strlen(ref)));
			return 0;
		}
		node = next;
	}
	return node;
}
