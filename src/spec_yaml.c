/* spec_yaml.c — the one YAML document of a spec, read with libyaml's event
 * API into a flat, bounded tree (spec_int.h) that spec.c walks.
 *
 * Owns: the limits that keep hostile YAML cheap. Aliases are refused, not
 * expanded (so "billion laughs" costs nothing), and so are more than
 * SPEC_MAX_NODES nodes, nesting deeper than SPEC_MAX_DEPTH, a second
 * document, and duplicate mapping keys (YAML 1.2 §3.2.1.1). Tags and
 * anchors are ignored.
 * Must never: log, or know what a spec means (pure).
 */
#include "spec_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "err.h"

struct yctx {
	struct ytree *t;
	int *line;
	char *why;
	size_t whylen;
};

static int yfail(struct yctx *y, int line, const char *fmt, ...)
{
	va_list ap;

	*y->line = line;
	if (y->why && y->whylen) {
		va_start(ap, fmt);
		vsnprintf(y->why, y->whylen, fmt, ap);
		va_end(ap);
	}
	return ERR_INVAL;
}

const char *spec_quote(char *buf, size_t cap, const char *s, size_t len)
{
	size_t o = 0;

	buf[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (o + 8 >= cap) {
			while (o > 1 && ((unsigned char)buf[o - 1] & 0xC0) == 0x80)
				o--; /* do not cut a UTF-8 sequence */
			if (o > 1 && (unsigned char)buf[o - 1] >= 0xC0)
				o--;
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
		} else {
			if (ch == '"' || ch == '\\')
				buf[o++] = '\\';
			buf[o++] = (char)ch;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static int grow_pool(struct yctx *y, size_t need)
{
	struct ytree *t = y->t;
	size_t cap = t->pool_cap;
	char *p;

	while (cap - t->pool_len < need)
		cap *= 2;
	if (!(p = realloc(t->pool, cap)))
		return ERR_NOMEM;
	t->pool = p;
	t->pool_cap = cap;
	return 0;
}

/* Appends a node for ev under parent (0: it is the root). */
static int add(struct yctx *y, uint32_t parent, enum ykind kind, const yaml_event_t *ev,
               uint32_t *idx)
{
	struct ytree *t = y->t;
	struct ynode *nd;

	if (t->num >= SPEC_MAX_NODES)
		return yfail(y, (int)ev->start_mark.line + 1, "more than %d YAML nodes",
		             SPEC_MAX_NODES);
	if (t->num == t->cap) {
		void *p = realloc(t->n, t->cap * 2 * sizeof(*t->n));
		if (!p)
			return ERR_NOMEM;
		t->n = p;
		t->cap *= 2;
	}
	*idx = (uint32_t)t->num++;
	nd = &t->n[*idx];
	memset(nd, 0, sizeof(*nd));
	nd->kind = kind;
	nd->line = (int)ev->start_mark.line + 1;
	if (kind == Y_SCALAR) {
		size_t len = ev->data.scalar.length;
		if (t->pool_cap - t->pool_len < len + 1 && grow_pool(y, len + 1))
			return ERR_NOMEM;
		nd->off = t->pool_len;
		nd->len = len;
		nd->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		memcpy(t->pool + t->pool_len, ev->data.scalar.value, len);
		t->pool[t->pool_len + len] = '\0';
		t->pool_len += len + 1;
	}
	if (parent) {
		struct ynode *pn = &t->n[parent];
		if (pn->last)
			t->n[pn->last].next = *idx;
		else
			pn->first = *idx;
		pn->last = *idx;
		pn->count++;
	}
	return 0;
}

/* libyaml's own problem text, at its line; a tab gets a hint. */
static int syntax_error(struct yctx *y, const yaml_parser_t *p, const char *text, size_t len)
{
	size_t at = p->problem_mark.index;
	int line = (int)p->problem_mark.line + 1;
	const char *problem = p->problem ? p->problem : "malformed YAML";

	if (p->error == YAML_MEMORY_ERROR)
		return ERR_NOMEM;
	if (p->error == YAML_READER_ERROR) { /* encoding: only an offset is known */
		line = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++)
			line += text[i] == '\n';
		if (p->problem_value != -1)
			return yfail(y, line, "YAML: %s (byte 0x%02x)", problem,
			             (unsigned)p->problem_value & 0xff);
		return yfail(y, line, "YAML: %s", problem);
	}
	if (at < len && text[at] == '\t')
		return yfail(y, line, "YAML: %s (a tab; indent with spaces)", problem);
	if (p->context)
		return yfail(y, line, "YAML: %s (%s that starts at line %d)", problem, p->context,
		             (int)p->context_mark.line + 1);
	return yfail(y, line, "YAML: %s", problem);
}

static int on_event(struct yctx *y, const yaml_event_t *ev, uint32_t *stack, size_t *depth,
                    int *docs, uint32_t *root)
{
	int line = (int)ev->start_mark.line + 1, rc = 0;
	uint32_t idx = 0, parent = *depth ? stack[*depth - 1] : 0;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1)
			return yfail(y, line, "a second YAML document (a spec is one document)");
		return 0;
	case YAML_ALIAS_EVENT:
		return yfail(y, line,
		             "YAML aliases (*%.40s) are not supported; write the value out",
		             (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		rc = add(y, parent, Y_SCALAR, ev, &idx);
		break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (*depth == SPEC_MAX_DEPTH)
			return yfail(y, line, "YAML nested deeper than %d levels", SPEC_MAX_DEPTH);
		rc = add(y, parent, ev->type == YAML_MAPPING_START_EVENT ? Y_MAP : Y_SEQ, ev, &idx);
		if (rc == 0)
			stack[(*depth)++] = idx;
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		(*depth)--;
		return 0;
	default:
		return 0;
	}
	if (rc == 0 && !parent)
		*root = idx;
	return rc;
}

struct keyref {
	const char *s;
	size_t len;
	int line;
	uint32_t order;
};

static int keycmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int d;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	d = memcmp(x->s, y->s, x->len);
	if (d)
		return d;
	return x->order < y->order ? -1 : 1;
}

/* Sorting keeps a mapping with many keys O(n log n). */
static int check_dup_keys(struct yctx *y)
{
	const struct ytree *t = y->t;
	struct keyref *keys = NULL;
	size_t cap = 0;
	char qb[80];
	int rc = 0;

	for (uint32_t m = 1; m < t->num && rc == 0; m++) {
		size_t nk = 0;
		if (t->n[m].kind != Y_MAP || t->n[m].count < 4)
			continue;
		if (cap < t->n[m].count / 2) {
			free(keys);
			cap = t->n[m].count / 2;
			if (!(keys = malloc(cap * sizeof(*keys))))
				return ERR_NOMEM;
		}
		for (uint32_t k = t->n[m].first; k; k = t->n[t->n[k].next].next)
			if (t->n[k].kind == Y_SCALAR)
				keys[nk] = (struct keyref){t->pool + t->n[k].off, t->n[k].len,
				                           t->n[k].line, (uint32_t)nk},
				nk++;
		qsort(keys, nk, sizeof(*keys), keycmp);
		for (size_t i = 1; i < nk && rc == 0; i++)
			if (keys[i].len == keys[i - 1].len &&
			    !memcmp(keys[i].s, keys[i - 1].s, keys[i].len))
				rc = yfail(y, keys[i].line, "duplicate key %s (first at line %d)",
				           spec_quote(qb, sizeof(qb), keys[i].s, keys[i].len),
				           keys[i - 1].line);
	}
	free(keys);
	return rc;
}

int spec_yaml_load(struct ytree *t, const char *text, size_t len, uint32_t *root, int *line,
                   char *why, size_t whylen)
{
	struct yctx y = {t, line, why, whylen};
	uint32_t stack[SPEC_MAX_DEPTH];
	size_t depth = 0;
	int rc = 0, docs = 0;
	yaml_parser_t p;
	yaml_event_t ev;

	*root = 0;
	memset(t, 0, sizeof(*t));
	t->n = calloc(t->cap = 256, sizeof(*t->n));
	t->pool = malloc(t->pool_cap = 4096);
	if (!t->n || !t->pool)
		return ERR_NOMEM;
	t->num = t->pool_len = 1; /* node 0: "none", an empty scalar */
	t->pool[0] = '\0';
	if (!yaml_parser_initialize(&p))
		return ERR_NOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = syntax_error(&y, &p, text, len);
			break;
		}
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		rc = on_event(&y, &ev, stack, &depth, &docs, root);
		yaml_event_delete(&ev);
		if (rc)
			break;
	}
	yaml_parser_delete(&p);
	return rc ? rc : check_dup_keys(&y);
}

void spec_yaml_free(struct ytree *t)
{
	free(t->n);
	free(t->pool);
	memset(t, 0, sizeof(*t));
}
