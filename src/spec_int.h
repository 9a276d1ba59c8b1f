/* spec_int.h — private to spec.c, spec_yaml.c and spec_match.c: the
 * bounded YAML tree the spec is read from, and path-template parsing.
 * Nothing else includes this; the contract is spec.h.
 */
#ifndef WSGW_SPEC_INT_H
#define WSGW_SPEC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

#define SPEC_MAX_SIZE (1u << 20) /* bytes of YAML */
#define SPEC_MAX_NODES 200000
#define SPEC_MAX_DEPTH 64

enum ykind { Y_SCALAR, Y_SEQ, Y_MAP };

/* Nodes live in one array; index 0 means "none" and is an empty scalar. A
 * mapping's children alternate key, value. Scalar text lives in one pool,
 * NUL-terminated; a collection's text is the empty string at offset 0. */
struct ynode {
	enum ykind kind;
	bool plain;                        /* unquoted, not a block scalar: may mean null */
	int line;                          /* 1-based */
	uint32_t next, first, last, count; /* sibling; children */
	size_t off, len;                   /* scalar text in the pool */
};

struct ytree {
	struct ynode *n;
	size_t num, cap;
	char *pool;
	size_t pool_len, pool_cap;
};

/* Builds the tree of the single YAML document in text[0..len), refusing
 * aliases, more than SPEC_MAX_NODES nodes, nesting deeper than
 * SPEC_MAX_DEPTH, a second document and duplicate mapping keys. *root is 0
 * for an empty document. Returns 0; ERR_INVAL with *line (1-based) and why
 * (one line, no "NAME:LINE:"); ERR_NOMEM. Call spec_yaml_free in every case. */
int spec_yaml_load(struct ytree *t, const char *text, size_t len, uint32_t *root, int *line,
                   char *why, size_t whylen);

void spec_yaml_free(struct ytree *t);

/* Substitutes ${var.NAME} in every scalar of t by the rules of spec.h,
 * the declarations read from root's x-yc-apigateway.variables and values
 * from ext (which beat defaults). Returns 0; ERR_INVAL with *line and why;
 * ERR_NOMEM. Node indices and lines do not change. */
int spec_vars_apply(struct ytree *t, uint32_t root, const struct spec_var *ext, size_t next,
                    int *line, char *why, size_t whylen);

/* node itself, or, when node is a mapping {$ref: "#/pointer"}, the node
 * the chain of references ends at. On error returns 0 with *rc ERR_INVAL,
 * *line and why (non-local reference, nothing at the pointer, a cycle). */
uint32_t spec_ref_target(const struct ytree *t, uint32_t root, uint32_t node, int *rc, int *line,
                         char *why, size_t whylen);

/* Writes s[0..len) into buf as a double-quoted, printable, one-line string,
 * shortened with "..." to fit cap (>= 16). Returns buf. */
const char *spec_quote(char *buf, size_t cap, const char *s, size_t len);

/* Splits r->path into r->segs by the template rules of spec.h (r->segs
 * must be NULL). Returns 0; ERR_INVAL with why (no path, no line);
 * ERR_NOMEM. On error r->segs holds what was built: spec_free frees it. */
int spec_tmpl_parse(struct route *r, char *why, size_t whylen);

/* True when a and b have the same segments but for parameter names, so
 * no path could prefer the later one. */
bool spec_tmpl_same(const struct route *a, const struct route *b);

#endif
