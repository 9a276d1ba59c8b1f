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

/* ---- the reading context (spec.c, spec_integ.c; helpers in spec_read.c) --- */

/* One spec being read. */
struct spec_ctx {
	const char *name;
	char *err;
	size_t errlen;
	bool failed; /* the first error wins: later ones are consequences */
	struct ytree t;
	uint32_t root;
	struct spec *sp;   /* for warnings */
	const char *path;  /* quoted template being read, for messages */
	const char *op;    /* operation key being read */
	int security_line; /* non-empty top-level `security`, 0 if none */
	uint32_t top_security; /* the top-level `security` value, 0 if none */
	char pathq[96];
	char qbuf[3][96];
	unsigned qi;
};

static inline const struct ynode *N(const struct spec_ctx *c, uint32_t i)
{
	return &c->t.n[i];
}

static inline const char *S(const struct spec_ctx *c, uint32_t i)
{
	return c->t.pool + c->t.n[i].off;
}

/* The value of key k, $ref followed; the keys of mapping m. */
#define VAL(c, k) spec_deref(c, N(c, k)->next)
#define EACH_KEY(c, m, k) for (uint32_t k = N(c, m)->first; k; k = N(c, N(c, k)->next)->next)

/* Writes "NAME:LINE: [path "P": ][OP: ]message" into c->err unless an
 * error was written already; returns ERR_INVAL. */
int spec_fail(struct spec_ctx *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "NAME: out of memory"; returns ERR_NOMEM. */
int spec_nomem(struct spec_ctx *c);

/* Keeps "NAME:LINE: text" in c->sp->warnings (at most 64, then one line
 * saying more were left out; a warning lost to ENOMEM is dropped). */
void spec_warn(struct spec_ctx *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* s[0..len) quoted for a message; valid until the third call after. */
const char *spec_q(struct spec_ctx *c, const char *s, size_t len);

/* Node i, or what its {$ref: ...} names; a bad reference is reported
 * (spec_fail) and reads as node 0, an empty scalar. */
uint32_t spec_deref(struct spec_ctx *c, uint32_t i);

/* Value of key want in mapping m ($ref followed), or 0; *key gets the key. */
uint32_t spec_get(struct spec_ctx *c, uint32_t m, const char *want, uint32_t *key);

bool spec_is_null(const struct spec_ctx *c, uint32_t i);
bool spec_key_is(const struct spec_ctx *c, uint32_t k, const char *want);
const char *spec_kname(const struct spec_ctx *c, uint32_t k); /* "?" for a collection */

/* A copy of scalar i (null: ""); refuses collections and NUL bytes. */
int spec_dup_scalar(struct spec_ctx *c, uint32_t i, const char *what, char **out);

/* true/false (any YAML 1.1 case) into *out, else an error naming what. */
int spec_parse_bool(struct spec_ctx *c, uint32_t v, const char *what, bool *out);

/* The integration whose key is ik and mapping m, of an operation of r. */
int spec_integ_parse(struct spec_ctx *c, uint32_t ik, uint32_t m, const struct route *r,
                     struct integration *in);

/* cloud_functions / serverless_containers (spec_fn.c): one key k of
 * the integration; the required keys once all are read; the operation's
 * operationId (op: the operation's mapping), or a stable stand-in. */
int spec_fn_field(struct spec_ctx *c, uint32_t k, struct integration *in);
int spec_fn_finish(struct spec_ctx *c, struct integration *in);
int spec_fn_opid(struct spec_ctx *c, uint32_t op, struct integration *in);

/* ---- authorizers (spec_auth.c) ---- */

/* The security of one WebSocket operation of r (its mapping v; its own
 * `security`, else the top level's) merged into r->security: the
 * authorizer it names is read from components.securitySchemes (once) into
 * c->sp->authorizers. The disconnect operation (connect_or_message false)
 * is checked but not kept: there is no client request to authorize. */
int spec_auth_op(struct spec_ctx *c, uint32_t v, struct route *r, bool connect_or_message);

/* Frees s->authorizers and each route's security. */
void spec_auth_free(struct spec *s);

/* One warning for each placeholder of in that nothing can fill. */
void spec_integ_check(struct spec_ctx *c, const struct route *r, const struct integration *in);

#endif
