/* spec_fn.c — the fields of `cloud_functions` (function_id, tag,
 * payload_format_version, context, service_account_id) and
 * `serverless_containers` (container_id, context, service_account_id)
 * integrations (YANDEX-FIDELITY.md §3.1), the operation's operationId, and
 * `context` turned into compact JSON text once, at load.
 *
 * The context keeps its {placeholders} inside JSON strings; integ_fn.c
 * fills them per connection with JSON-escaped values, so a filled value can
 * never change the object's structure.
 * Must never: log, or touch sockets (pure).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "spec_int.h"

struct jbuf {
	char *p;
	size_t len, cap;
	bool nomem;
};

static void put(struct jbuf *b, const char *s, size_t n)
{
	if (b->nomem)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->nomem = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* RFC 8259 §7; libyaml hands out valid UTF-8 only. */
static void put_string(struct jbuf *b, const char *s, size_t n)
{
	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[8];

		if (ch == '"' || ch == '\\') {
			esc[0] = '\\', esc[1] = (char)ch;
			put(b, esc, 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", ch);
			put(b, esc, 6);
		} else {
			put(b, s + i, 1);
		}
	}
	put(b, "\"", 1);
}

/* A plain scalar that is a JSON number as written (YAML's ints and
 * floats in their common spellings). */
static bool is_json_number(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return false;
	if (i < n && s[i] == '.') {
		for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return false;
	}
	return i == n;
}

static bool is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

/* Node i as JSON: plain null / booleans / numbers as JSON literals,
 * every other scalar (and every key) as a string. */
static void to_json(struct spec_ctx *c, uint32_t i, struct jbuf *b)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const bools[] = {"true",  "True",  "TRUE", "false",
	                                    "False", "FALSE", NULL};
	const struct ynode *n;
	bool first = true;

	i = spec_deref(c, i);
	n = N(c, i);
	if (n->kind == Y_SEQ) {
		put(b, "[", 1);
		for (uint32_t k = n->first; k; k = N(c, k)->next, first = false) {
			if (!first)
				put(b, ",", 1);
			to_json(c, k, b);
		}
		put(b, "]", 1);
	} else if (n->kind == Y_MAP) {
		put(b, "{", 1);
		EACH_KEY(c, i, k)
		{
			if (!first)
				put(b, ",", 1);
			first = false;
			put_string(b, S(c, k), N(c, k)->len);
			put(b, ":", 1);
			to_json(c, N(c, k)->next, b);
		}
		put(b, "}", 1);
	} else if (n->plain && is_one_of(S(c, i), nulls)) {
		put(b, "null", 4);
	} else if (n->plain && is_one_of(S(c, i), bools)) {
		put(b, (S(c, i)[0] | 0x20) == 't' ? "true" : "false",
		    (S(c, i)[0] | 0x20) == 't' ? 4 : 5);
	} else if (n->plain && is_json_number(S(c, i), n->len)) {
		put(b, S(c, i), n->len);
	} else {
		put_string(b, S(c, i), n->len);
	}
}

static int parse_context(struct spec_ctx *c, uint32_t v, struct integration *in)
{
	struct jbuf b = {0};

	to_json(c, v, &b);
	if (b.nomem) {
		free(b.p);
		return spec_nomem(c);
	}
	in->context = b.p;
	return c->failed ? ERR_INVAL : 0;
}

static int parse_format(struct spec_ctx *c, uint32_t v, struct integration *in)
{
	const char *s = S(c, v);

	if (N(c, v)->kind == Y_SCALAR && (!strcmp(s, "0.1") || !strcmp(s, "1.0"))) {
		in->payload_v1 = s[0] == '1';
		return 0;
	}
	return spec_fail(c, N(c, v)->line,
	                 "payload_format_version: %s is not supported (use '0.1' or '1.0')",
	                 N(c, v)->kind == Y_SCALAR ? spec_q(c, s, N(c, v)->len) : "a collection");
}

/* An id: [A-Za-z0-9_.-]+, as the cloud's ids and --function / --container
 * names are. */
static int parse_id(struct spec_ctx *c, uint32_t v, const char *what, struct integration *in)
{
	int rc = spec_dup_scalar(c, v, what, &in->target_id);

	if (rc)
		return rc;
	in->target_line = N(c, v)->line;
	if (!in->target_id[0] ||
	    strspn(in->target_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	                          "qrstuvwxyz0123456789_.-") != strlen(in->target_id))
		return spec_fail(c, N(c, v)->line, "%s: %s is not an id ([A-Za-z0-9_.-])", what,
		                 spec_q(c, in->target_id, strlen(in->target_id)));
	return 0;
}

int spec_fn_field(struct spec_ctx *c, uint32_t k, struct integration *in)
{
	uint32_t v = VAL(c, k);
	bool fn = in->type == INTEG_FUNCTION;

	if (spec_key_is(c, k, fn ? "function_id" : "container_id"))
		return parse_id(c, v, fn ? "function_id" : "container_id", in);
	if (spec_key_is(c, k, "context"))
		return parse_context(c, v, in);
	if (spec_key_is(c, k, "service_account_id") || spec_key_is(c, k, "serviceAccountId"))
		return 0; /* the cloud's identity for the call: meaningless locally */
	if (fn && spec_key_is(c, k, "tag"))
		return spec_dup_scalar(c, v, "tag", &in->tag);
	if (fn && spec_key_is(c, k, "payload_format_version"))
		return parse_format(c, v, in);
	return spec_fail(c, N(c, k)->line, "unknown key %s in a %s integration (known: %s)",
	                 spec_q(c, spec_kname(c, k), strlen(spec_kname(c, k))),
	                 fn ? "cloud_functions" : "serverless_containers",
	                 fn ? "function_id, tag, payload_format_version, context, "
	                      "service_account_id"
	                    : "container_id, context, service_account_id");
}

int spec_fn_finish(struct spec_ctx *c, struct integration *in)
{
	if (!in->target_id)
		return spec_fail(c, in->line, "a %s integration needs \"%s\"",
		                 in->type == INTEG_FUNCTION ? "cloud_functions"
		                                            : "serverless_containers",
		                 in->type == INTEG_FUNCTION ? "function_id" : "container_id");
	return 0;
}

int spec_fn_opid(struct spec_ctx *c, uint32_t op, struct integration *in)
{
	static const char hex[] = "0123456789abcdef";
	uint32_t v = spec_get(c, op, "operationId", NULL);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char key[512];
	int n;

	if (in->type != INTEG_FUNCTION)
		return 0;
	if (v && N(c, v)->kind == Y_SCALAR && !spec_is_null(c, v))
		return spec_dup_scalar(c, v, "operationId", &in->operation_id);
	/* The cloud sends a 64-hex id when the spec names none; a hash of
	 * the path and operation is as stable as its. */
	n = snprintf(key, sizeof key, "%s %s", c->path ? c->path : "", c->op ? c->op : "");
	if (!EVP_Digest(key, (size_t)(n < (int)sizeof key ? n : (int)sizeof key - 1), md, &mdlen,
	                EVP_sha256(), NULL) ||
	    !(in->operation_id = malloc(mdlen * 2 + 1)))
		return spec_nomem(c);
	for (unsigned i = 0; i < mdlen; i++) {
		in->operation_id[2 * i] = hex[md[i] >> 4];
		in->operation_id[2 * i + 1] = hex[md[i] & 15];
	}
	in->operation_id[mdlen * 2] = '\0';
	return 0;
}
