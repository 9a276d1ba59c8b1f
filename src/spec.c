/* spec.c — the gateway's OpenAPI 3 specification: the rules of spec.h
 * applied to the YAML tree that spec_yaml.c builds, into a struct spec of
 * WebSocket routes and their connect / message / disconnect integrations
 * (http, dummy, echo). Templates and matching are in spec_match.c.
 *
 * Owns: every "NAME:LINE: what is wrong" message about a spec's meaning.
 * Must never: log, touch sockets, or leak on an error path (pure).
 * Beyond spec.h: two templates that differ only in parameter names are
 * refused (one could never match); `security` (authorizers) that would
 * apply to a WebSocket operation is refused rather than silently not
 * enforced; a spec with no WebSocket path is refused; header names must be
 * RFC 9110 tokens and header values one line; a {placeholder} that no
 * parameter or gateway header fills is warned about (integ_http.c fills
 * them at run time; spec_show.c states the rule once). Variables and
 * $ref are resolved by spec_ref.c before and while the tree is read.
 */
#include "spec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "spec_int.h"

#define OP_PREFIX "x-yc-apigateway-websocket-"
#define INTEG_KEY "x-yc-apigateway-integration"

#define MAX_WARNINGS 64
#define MAX_OP_PARAMS 64

struct ctx {
	const char *name;
	char *err;
	size_t errlen;
	bool failed; /* the first error wins: later ones are consequences */
	struct ytree t;
	uint32_t root;
	struct spec *sp; /* for warnings */
	const char *path;  /* quoted template being read, for messages */
	const char *op;    /* operation key being read */
	int security_line; /* non-empty top-level `security`, 0 if none */
	char pathq[96];
	char qbuf[3][96];
	unsigned qi;
};

/* Quotes user text for a message: printable, bounded, one line. */
static const char *q(struct ctx *c, const char *s, size_t len)
{
	return spec_quote(c->qbuf[c->qi++ % 3], sizeof(c->qbuf[0]), s, len);
}

static void put(struct ctx *c, size_t *o, const char *fmt, ...)
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
static int fail(struct ctx *c, int line, const char *fmt, ...)
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

static int nomem(struct ctx *c)
{
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s: out of memory", c->name);
	return ERR_NOMEM;
}

static const struct ynode *N(const struct ctx *c, uint32_t i)
{
	return &c->t.n[i];
}

static const char *S(const struct ctx *c, uint32_t i)
{
	return c->t.pool + c->t.n[i].off;
}

/* Node i, or what its {$ref: ...} names. A bad reference is reported (the
 * first error wins) and reads as node 0, an empty scalar. */
static uint32_t R(struct ctx *c, uint32_t i)
{
	char why[300];
	int rc, line = 1;
	uint32_t to = spec_ref_target(&c->t, c->root, i, &rc, &line, why, sizeof why);

	if (rc) {
		const char *path = c->path, *op = c->op;

		c->path = c->op = NULL; /* the chain's own line says where */
		fail(c, line, "%s", why);
		c->path = path, c->op = op;
	}
	return to;
}

/* "NAME:LINE: text" kept for the log and --check-spec; at most
 * MAX_WARNINGS, then one line saying more were left out. */
static void warn(struct ctx *c, int line, const char *fmt, ...)
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

static bool is_null(const struct ctx *c, uint32_t i)
{
	const struct ynode *n = N(c, i);
	const char *s = S(c, i);

	return n->kind == Y_SCALAR && n->plain &&
	       (n->len == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	        !strcmp(s, "NULL"));
}

static bool key_is(const struct ctx *c, uint32_t k, const char *want)
{
	return N(c, k)->kind == Y_SCALAR && N(c, k)->len == strlen(want) && !strcmp(S(c, k), want);
}

/* Value of key `want` in mapping m ($ref followed), or 0; *key gets the
 * key node. */
static uint32_t get(struct ctx *c, uint32_t m, const char *want, uint32_t *key)
{
	if (N(c, m)->kind != Y_MAP)
		return 0;
	for (uint32_t k = N(c, m)->first; k; k = N(c, N(c, k)->next)->next)
		if (key_is(c, k, want)) {
			if (key)
				*key = k;
			return R(c, N(c, k)->next);
		}
	return 0;
}

#define VAL(c, k) R(c, N(c, k)->next)
#define EACH_KEY(c, m, k) for (uint32_t k = N(c, m)->first; k; k = N(c, N(c, k)->next)->next)

static const char *kname(const struct ctx *c, uint32_t k)
{
	return N(c, k)->kind == Y_SCALAR ? S(c, k) : "?";
}

/* A copy of scalar i; refuses non-scalars and embedded NUL bytes. */
static int dup_scalar(struct ctx *c, uint32_t i, const char *what, char **out)
{
	const struct ynode *n = N(c, i);

	if (n->kind != Y_SCALAR)
		return fail(c, n->line, "%s must be a string, not a %s", what,
		            n->kind == Y_MAP ? "mapping" : "sequence");
	if (memchr(S(c, i), '\0', n->len))
		return fail(c, n->line, "%s contains a NUL byte", what);
	if (!(*out = strdup(is_null(c, i) ? "" : S(c, i))))
		return nomem(c);
	return 0;
}

/* ---- integrations ----------------------------------------------------------- */

static bool is_tchar(unsigned char ch)
{
	/* RFC 9110 §5.6.2 token characters */
	return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* One map value: a scalar, or a sequence of scalars joined with sep. */
static int kv_value(struct ctx *c, uint32_t v, const char *what, const char *sep, char **out)
{
	size_t total = 0, o = 0;

	if (N(c, v)->kind != Y_SEQ)
		return dup_scalar(c, v, what, out);
	for (uint32_t i = N(c, v)->first; i; i = N(c, i)->next) {
		if (N(c, i)->kind != Y_SCALAR || memchr(S(c, i), '\0', N(c, i)->len))
			return fail(c, N(c, i)->line, "%s: list items must be strings", what);
		total += (is_null(c, i) ? 0 : N(c, i)->len) + strlen(sep);
	}
	if (!(*out = malloc(total + 1)))
		return nomem(c);
	for (uint32_t i = N(c, v)->first; i; i = N(c, i)->next) {
		size_t l = is_null(c, i) ? 0 : N(c, i)->len;
		if (o)
			memcpy(*out + o, sep, strlen(sep)), o += strlen(sep);
		memcpy(*out + o, S(c, i), l);
		o += l;
	}
	(*out)[o] = '\0';
	return 0;
}

enum { KV_HEADER = 1, KV_MEDIA = 2 };

/* headers / query / http_headers / content: a mapping of names to values. */
static int parse_kvs(struct ctx *c, uint32_t m, const char *what, const char *sep, int kind,
                     struct spec_kv **out, size_t *num)
{
	char w[128];
	int rc;

	if (is_null(c, m))
		return 0;
	if (N(c, m)->kind != Y_MAP)
		return fail(c, N(c, m)->line, "%s must be a mapping of names to values", what);
	if (!(*out = calloc(N(c, m)->count / 2 + 1, sizeof(**out))))
		return nomem(c);
	EACH_KEY(c, m, k)
	{
		struct spec_kv *kv = &(*out)[(*num)++];
		const char *name;

		if ((rc = dup_scalar(c, k, what, &kv->name)))
			return rc;
		name = kv->name;
		snprintf(w, sizeof(w), "%s.%s", what, name);
		if ((rc = kind == KV_MEDIA ? dup_scalar(c, VAL(c, k), w, &kv->value)
		                           : kv_value(c, VAL(c, k), w, sep, &kv->value)))
			return rc;
		if (!*name)
			return fail(c, N(c, k)->line, "%s: an empty name", what);
		if (!strcmp(name, "*")) {
			if (kind != KV_MEDIA && strcmp(kv->value, "*"))
				return fail(c, N(c, k)->line,
				            "%s: only '*': '*' (forward the client's) may use the "
				            "name '*'",
				            what);
			continue;
		}
		for (const char *p = name; kind == KV_HEADER && *p; p++)
			if (!is_tchar((unsigned char)*p))
				return fail(c, N(c, k)->line, "%s: %s is not a valid header name",
				            what, q(c, name, strlen(name)));
		if (kind == KV_HEADER && strpbrk(kv->value, "\r\n"))
			return fail(c, N(c, VAL(c, k))->line,
			            "%s: a header value may not contain line breaks", w);
		if (kind == KV_MEDIA && !strchr(name, '/'))
			return fail(c, N(c, k)->line,
			            "%s: %s is not a media type (use type/subtype or '*')", what,
			            q(c, name, strlen(name)));
	}
	return 0;
}

/* Seconds (> 0, <= 3600, fractions ok) to milliseconds, rounded up. */
static int parse_seconds(struct ctx *c, uint32_t v, const char *what, uint64_t *ms)
{
	const char *s = S(c, v);
	uint64_t ip = 0, frac = 0, scale = 100;
	bool digits = false, rest = false;

	if (N(c, v)->kind != Y_SCALAR)
		return fail(c, N(c, v)->line, "%s must be a number of seconds", what);
	for (; *s >= '0' && *s <= '9'; s++, digits = true)
		ip = ip > 100000 ? ip : ip * 10 + (uint64_t)(*s - '0');
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, digits = true, scale /= 10) {
			if (scale)
				frac += (uint64_t)(*s - '0') * scale;
			else
				rest |= *s != '0';
		}
	}
	if (!digits || *s || s != S(c, v) + N(c, v)->len)
		return fail(c, N(c, v)->line, "%s: %s is not a number of seconds", what,
		            q(c, S(c, v), N(c, v)->len));
	*ms = ip * 1000 + frac + rest;
	if (*ms == 0 || *ms > 3600 * 1000)
		return fail(c, N(c, v)->line,
		            "%s: %s is out of range (more than 0, at most 3600 seconds)", what,
		            q(c, S(c, v), N(c, v)->len));
	return 0;
}

static int parse_bool(struct ctx *c, uint32_t v, const char *what, bool *out)
{
	const char *s = S(c, v);

	if (N(c, v)->kind == Y_SCALAR &&
	    (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") ||
	     !strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) {
		*out = (s[0] | 0x20) == 't';
		return 0;
	}
	return fail(c, N(c, v)->line, "%s: %s is not a boolean (use true or false)", what,
	            N(c, v)->kind == Y_SCALAR ? q(c, s, N(c, v)->len) : "a collection");
}

static int parse_timeouts(struct ctx *c, uint32_t m, struct integration *in)
{
	int rc = 0;

	if (N(c, m)->kind != Y_MAP)
		return fail(c, N(c, m)->line, "timeouts must be a mapping {connect: N, read: N}");
	EACH_KEY(c, m, k)
	{
		if (key_is(c, k, "connect"))
			rc = parse_seconds(c, VAL(c, k), "timeouts.connect",
			                   &in->connect_timeout_ms);
		else if (key_is(c, k, "read"))
			rc = parse_seconds(c, VAL(c, k), "timeouts.read", &in->read_timeout_ms);
		else
			rc = fail(c, N(c, k)->line,
			          "timeouts: unknown key %s (known: connect, read)",
			          q(c, kname(c, k), strlen(kname(c, k))));
		if (rc)
			return rc;
	}
	return 0;
}

/* The url: http:// or https://, a host, no blanks, {placeholders} closed
 * and not in the "{name+}" spelling. What fills each is checked (and
 * warned about) once the operation's parameters are known. */
static int check_url(struct ctx *c, uint32_t v, const struct route *r, const char *url)
{
	size_t skip = !strncasecmp(url, "http://", 7)    ? 7
	              : !strncasecmp(url, "https://", 8) ? 8
	                                                 : 0;
	int line = N(c, v)->line;

	if (!skip)
		return fail(c, line, "url: %s must start with http:// or https://",
		            q(c, url, strlen(url)));
	if (!url[skip] || strchr("/?#", url[skip]))
		return fail(c, line, "url: %s has no host", q(c, url, strlen(url)));
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return fail(c, line, "url: %s contains a blank or a control character",
			            q(c, url, strlen(url)));
	for (const char *p = strchr(url, '{'); p; p = strchr(p + 1, '{')) {
		const char *e = strchr(p, '}');
		size_t n;
		bool ok = false;
		if (!e)
			return fail(c, line, "url: \"{\" without a closing \"}\"");
		n = (size_t)(e - p - 1);
		for (size_t i = 0; i < r->num_segs && !ok; i++)
			ok = r->segs[i].kind != SEG_LITERAL && strlen(r->segs[i].text) == n &&
			     !memcmp(r->segs[i].text, p + 1, n);
		if (!ok && n > 1 && p[n] == '+') /* {path+} names the parameter "path" */
			return fail(c, line, "url: write %s as \"{%.*s}\"",
			            q(c, p, (size_t)(e - p + 1)), (int)(n - 1), p + 1);
	}
	return 0;
}

static int http_field(struct ctx *c, uint32_t k, const struct route *r, struct integration *in)
{
	static const char *const methods[] = {"GET",    "POST", "PUT",    "PATCH",
	                                      "DELETE", "HEAD", "OPTIONS"};
	uint32_t v = VAL(c, k);
	int rc;

	if (key_is(c, k, "url")) {
		if ((rc = dup_scalar(c, v, "url", &in->url)))
			return rc;
		return check_url(c, v, r, in->url);
	}
	if (key_is(c, k, "method")) {
		if ((rc = dup_scalar(c, v, "method", &in->method)))
			return rc;
		for (size_t i = 0; i < sizeof(methods) / sizeof(*methods); i++)
			if (!strcasecmp(in->method, methods[i]))
				return strcpy(in->method, methods[i]), 0;
		return fail(c, N(c, v)->line,
		            "method: %s is not supported (use GET, POST, PUT, PATCH, DELETE, HEAD "
		            "or OPTIONS)",
		            q(c, in->method, strlen(in->method)));
	}
	if (key_is(c, k, "headers"))
		return parse_kvs(c, v, "headers", ", ", KV_HEADER, &in->headers, &in->num_headers);
	if (key_is(c, k, "query"))
		return parse_kvs(c, v, "query", ",", 0, &in->query, &in->num_query);
	if (key_is(c, k, "timeouts"))
		return parse_timeouts(c, v, in);
	if (key_is(c, k, "omitEmptyHeaders"))
		return parse_bool(c, v, "omitEmptyHeaders", &in->omit_empty_headers);
	if (key_is(c, k, "omitEmptyQueryParameters"))
		return parse_bool(c, v, "omitEmptyQueryParameters", &in->omit_empty_query);
	if (key_is(c, k, "service_account_id") || key_is(c, k, "serviceAccountId"))
		return 0; /* the cloud's identity for the call: meaningless locally */
	return fail(c, N(c, k)->line,
	            "unknown key %s in an http integration (known: url, method, headers, query, "
	            "timeouts, omitEmptyHeaders, omitEmptyQueryParameters, serviceAccountId)",
	            q(c, kname(c, k), strlen(kname(c, k))));
}

static int dummy_field(struct ctx *c, uint32_t k, struct integration *in)
{
	uint32_t v = VAL(c, k);
	const char *s = S(c, v);

	if (key_is(c, k, "http_code")) {
		if (N(c, v)->kind != Y_SCALAR || N(c, v)->len != 3 || s[0] < '1' || s[0] > '5' ||
		    s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
			return fail(
			    c, N(c, v)->line, "http_code: %s is not an HTTP status code (100..599)",
			    N(c, v)->kind == Y_SCALAR ? q(c, s, N(c, v)->len) : "a collection");
		in->http_code = atoi(s);
		return 0;
	}
	if (key_is(c, k, "http_headers"))
		return parse_kvs(c, v, "http_headers", ", ", KV_HEADER, &in->http_headers,
		                 &in->num_http_headers);
	if (key_is(c, k, "content"))
		return parse_kvs(c, v, "content", "", KV_MEDIA, &in->content, &in->num_content);
	if (key_is(c, k, "service_account_id") || key_is(c, k, "serviceAccountId"))
		return 0;
	return fail(c, N(c, k)->line,
	            "unknown key %s in a dummy integration (known: http_code, http_headers, "
	            "content)",
	            q(c, kname(c, k), strlen(kname(c, k))));
}

/* ik: the x-yc-apigateway-integration key; m: its value. */
static int parse_integ(struct ctx *c, uint32_t ik, uint32_t m, const struct route *r,
                       struct integration *in)
{
	uint32_t t;
	const char *ts;
	int rc = 0;

	in->line = N(c, ik)->line;
	if (N(c, m)->kind != Y_MAP)
		return fail(c, N(c, m)->line, INTEG_KEY " must be a mapping with a \"type\"");
	if (!(t = get(c, m, "type", NULL)))
		return fail(c, in->line, INTEG_KEY ": missing \"type\" (use http, dummy or echo)");
	ts = S(c, t);
	if (N(c, t)->kind != Y_SCALAR)
		return fail(c, N(c, t)->line, "integration type must be a string");
	if (!strcmp(ts, "http"))
		in->type = INTEG_HTTP;
	else if (!strcmp(ts, "dummy"))
		in->type = INTEG_DUMMY, in->http_code = 200;
	else if (!strcmp(ts, "echo"))
		in->type = INTEG_ECHO;
	else
		return fail(c, N(c, t)->line,
		            "integration type %s is not supported by wsgw (it runs http, dummy "
		            "and echo integrations)",
		            q(c, ts, N(c, t)->len));
	EACH_KEY(c, m, k)
	{
		if (key_is(c, k, "type"))
			continue;
		if (in->type == INTEG_HTTP)
			rc = http_field(c, k, r, in);
		else if (in->type == INTEG_DUMMY)
			rc = dummy_field(c, k, in);
		else
			rc = fail(c, N(c, k)->line,
			          "unknown key %s in an echo integration (it takes only \"type\")",
			          q(c, kname(c, k), strlen(kname(c, k))));
		if (rc)
			return rc;
	}
	if (in->type == INTEG_HTTP && !in->url)
		return fail(c, in->line, "an http integration needs \"url\"");
	return 0;
}

/* Calls f for each {name} placeholder (name: [A-Za-z0-9_.-]+) in the
 * integration's url, headers, query and content values. */
static void check_placeholders(struct ctx *c, const struct route *r, const struct integration *in)
{
	const char *seen[16];
	size_t seen_len[16], nseen = 0;
	const struct spec_kv *lists[3] = {in->headers, in->query, in->content};
	size_t counts[3] = {in->num_headers, in->num_query, in->num_content};

	for (int l = -1; l < 3; l++) {
		for (size_t i = 0; i < (l < 0 ? 1 : counts[l]); i++) {
			const char *str = l < 0 ? in->url : lists[l][i].value;

			for (const char *p = str ? strchr(str, '{') : NULL; p; p = strchr(p + 1, '{')) {
				size_t n = spec_placeholder_len(p);
				bool dup = false;

				if (!n)
					continue;
				for (size_t j = 0; j < nseen && !dup; j++)
					dup = seen_len[j] == n && !memcmp(seen[j], p + 1, n);
				if (dup || spec_placeholder_source(r, in, p + 1, n))
					continue;
				if (nseen < 16)
					seen[nseen] = p + 1, seen_len[nseen++] = n;
				if (n > 26 && !strncasecmp(p + 1, "X-Yc-Apigateway-Websocket-", 26))
					warn(c, in->line,
					     "path %s: %s: placeholder {%.*s} is never filled here and "
					     "goes out as written (wsgw fills -Connection-Id, -Event-Type "
					     "and -Connected-At, and -Message-Id only in a dummy "
					     "message's content)",
					     c->path, c->op, (int)n, p + 1);
				else
					warn(c, in->line,
					     "path %s: %s: placeholder {%.*s} is not a parameter of this "
					     "operation: filled only when the client's handshake has a "
					     "header of that name, else sent as written",
					     c->path, c->op, (int)n, p + 1);
			}
		}
	}
}

/* One `parameters` list (OpenAPI: items {name, in, ...}, or $refs to
 * them) merged into in->params; a later (name, in) replaces an earlier. */
static int parse_params(struct ctx *c, uint32_t seq, struct integration *in)
{
	static const char *const ins[] = {"path", "query", "header", "cookie"};

	if (!seq || is_null(c, seq))
		return 0;
	if (N(c, seq)->kind != Y_SEQ)
		return fail(c, N(c, seq)->line, "parameters must be a list");
	for (uint32_t i = N(c, seq)->first; i; i = N(c, i)->next) {
		uint32_t it = R(c, i), nm = get(c, it, "name", NULL), wh = get(c, it, "in", NULL);
		int w = -1, rc;
		size_t j;
		char *name = NULL;

		if (c->failed)
			return ERR_INVAL;
		if (N(c, it)->kind != Y_MAP || !nm || !wh)
			return fail(c, N(c, it)->line, "a parameter needs \"name\" and \"in\"");
		for (int x = 0; x < 4; x++)
			if (key_is(c, wh, ins[x]))
				w = x;
		if (w < 0)
			return fail(c, N(c, wh)->line,
			            "parameter in: %s is not path, query, header or cookie",
			            q(c, S(c, wh), N(c, wh)->len));
		if ((rc = dup_scalar(c, nm, "parameter name", &name)))
			return rc;
		for (j = 0; j < in->num_params; j++)
			if (in->params[j].in == (enum param_in)w && !strcmp(in->params[j].name, name))
				break;
		if (j == MAX_OP_PARAMS) {
			free(name);
			return fail(c, N(c, it)->line, "more than %d parameters", MAX_OP_PARAMS);
		}
		if (j == in->num_params) {
			void *p = realloc(in->params, (j + 1) * sizeof(*in->params));
			if (!p) {
				free(name);
				return nomem(c);
			}
			in->params = p;
			in->num_params++;
		} else {
			free(in->params[j].name);
		}
		in->params[j] = (struct spec_param){name, (enum param_in)w};
	}
	return 0;
}

/* x-yc-* keys of a mapping that wsgw does not read: one warning each. */
static void warn_extensions(struct ctx *c, uint32_t m, const char *where)
{
	EACH_KEY(c, m, k)
	{
		if (N(c, k)->kind != Y_SCALAR || strncmp(S(c, k), "x-yc-", 5) ||
		    !strncmp(S(c, k), OP_PREFIX, sizeof(OP_PREFIX) - 1) || key_is(c, k, INTEG_KEY) ||
		    key_is(c, k, "x-yc-apigateway") || key_is(c, k, "x-yc-apigateway-integrations"))
			continue;
		warn(c, N(c, k)->line, "%s%s is ignored by wsgw (it implements only the WebSocket "
		                       "operations and their integrations)",
		     where, q(c, S(c, k), N(c, k)->len));
	}
}

/* One x-yc-apigateway-websocket-* operation: k its key, v its value,
 * pparams the path item's `parameters` (0: none). */
static int parse_op(struct ctx *c, uint32_t k, uint32_t v, const struct route *r,
                    struct integration *in, uint32_t pparams)
{
	uint32_t ik = 0, m, sec;
	int rc;

	c->op = S(c, k);
	if (N(c, v)->kind != Y_MAP)
		return fail(c, N(c, v)->line, "must be a mapping holding " INTEG_KEY);
	if ((rc = parse_params(c, pparams, in)) ||
	    (rc = parse_params(c, get(c, v, "parameters", NULL), in)))
		return rc;
	warn_extensions(c, v, "");
	sec = get(c, v, "security", NULL);
	if (sec && !is_null(c, sec) && !(N(c, sec)->kind == Y_SEQ && N(c, sec)->count == 0))
		return fail(c, N(c, sec)->line,
		            "security (authorizers) is not supported by wsgw; remove it or use "
		            "\"security: []\"");
	if (!sec && c->security_line)
		return fail(c, N(c, k)->line,
		            "the top-level \"security\" (line %d) applies here, and wsgw does not "
		            "support authorizers; add \"security: []\" to this operation or remove "
		            "it",
		            c->security_line);
	if (!(m = get(c, v, INTEG_KEY, &ik)))
		return fail(c, N(c, k)->line, "missing \"" INTEG_KEY "\"");
	if ((rc = parse_integ(c, ik, m, r, in)))
		return rc;
	check_placeholders(c, r, in);
	c->op = NULL;
	return 0;
}

/* ---- paths and the document ------------------------------------------------------- */

/* Appends the route for template key pk to sp, its segments parsed. */
static int add_route(struct ctx *c, struct spec *sp, uint32_t pk, struct route **out)
{
	int rc, line = N(c, pk)->line;
	char why[128];
	struct route *r;

	if (memchr(S(c, pk), '\0', N(c, pk)->len))
		return fail(c, line, "a path may not contain a NUL byte");
	if (!(sp->num_routes & (sp->num_routes + 1))) { /* 0, 1, 3, 7, ...: grow */
		void *p = realloc(sp->routes, (sp->num_routes * 2 + 1) * sizeof(*sp->routes));
		if (!p)
			return nomem(c);
		sp->routes = p;
	}
	r = *out = &sp->routes[sp->num_routes++];
	memset(r, 0, sizeof(*r));
	r->line = line;
	if (!(r->path = strdup(S(c, pk))))
		return nomem(c);
	if ((rc = spec_tmpl_parse(r, why, sizeof(why))))
		return rc == ERR_NOMEM ? nomem(c) : fail(c, line, "%s", why);
	for (size_t i = 0; i + 1 < sp->num_routes; i++)
		if (spec_tmpl_same(&sp->routes[i], r))
			return fail(c, line,
			            "same as %s (line %d) but for parameter names; one of them "
			            "could never match",
			            q(c, sp->routes[i].path, strlen(sp->routes[i].path)),
			            sp->routes[i].line);
	return 0;
}

/* One entry of `paths`: pk the template key, pv the path item. */
static int parse_path(struct ctx *c, struct spec *sp, uint32_t pk, uint32_t pv)
{
	static const char *const names[3] = {OP_PREFIX "connect", OP_PREFIX "message",
	                                     OP_PREFIX "disconnect"};
	uint32_t ops[3] = {0, 0, 0}, keys[3] = {0, 0, 0}, pparams;
	struct route *r = NULL;
	int rc;

	if (N(c, pk)->kind != Y_SCALAR)
		return fail(c, N(c, pk)->line, "path templates must be strings");
	snprintf(c->pathq, sizeof(c->pathq), "%s", q(c, S(c, pk), N(c, pk)->len));
	c->path = c->pathq;
	if (is_null(c, pv))
		goto out; /* an empty path item: nothing for wsgw */
	if (N(c, pv)->kind != Y_MAP)
		return fail(c, N(c, pv)->line, "a path item must be a mapping");
	EACH_KEY(c, pv, k)
	{
		bool known = false;
		for (int i = 0; i < 3; i++)
			if (key_is(c, k, names[i]))
				ops[i] = VAL(c, k), keys[i] = k, known = true;
		if (c->failed)
			return ERR_INVAL;
		if (!known && N(c, k)->kind == Y_SCALAR &&
		    !strncmp(S(c, k), OP_PREFIX, sizeof(OP_PREFIX) - 1))
			return fail(c, N(c, k)->line,
			            "unknown WebSocket operation %s (use " OP_PREFIX
			            "connect, -message or -disconnect)",
			            q(c, S(c, k), N(c, k)->len));
	}
	warn_extensions(c, pv, "");
	if (!ops[0] && !ops[1] && !ops[2])
		goto out; /* plain HTTP operations: not wsgw's */
	/* No message operation: a server-push path (the cloud's own live-debug
	 * tool deploys such); integ.c answers a client message with close 1003. */
	pparams = get(c, pv, "parameters", NULL);
	if ((rc = add_route(c, sp, pk, &r)) ||
	    (ops[0] && (rc = parse_op(c, keys[0], ops[0], r, &r->connect, pparams))) ||
	    (ops[1] && (rc = parse_op(c, keys[1], ops[1], r, &r->message, pparams))) ||
	    (ops[2] && (rc = parse_op(c, keys[2], ops[2], r, &r->disconnect, pparams))))
		return rc;
out:
	c->path = NULL;
	return 0;
}

/* The top-level x-yc-apigateway: variables were applied already;
 * ignoreTrailingSlashes is honoured; the rest is the cloud's business. */
static int parse_xyc(struct ctx *c, uint32_t m, struct spec *sp)
{
	if (is_null(c, m))
		return 0;
	if (N(c, m)->kind != Y_MAP)
		return fail(c, N(c, m)->line, "x-yc-apigateway must be a mapping");
	EACH_KEY(c, m, k)
	{
		if (key_is(c, k, "ignoreTrailingSlashes")) {
			bool ignore = true;
			int rc = parse_bool(c, VAL(c, k), "ignoreTrailingSlashes", &ignore);

			if (rc)
				return rc;
			sp->keep_trailing_slash = !ignore;
		} else if (!key_is(c, k, "variables") && !key_is(c, k, "service_account_id") &&
		           !key_is(c, k, "serviceAccountId")) {
			warn(c, N(c, k)->line,
			     "x-yc-apigateway: %s is ignored by wsgw (it implements only the "
			     "WebSocket operations and their integrations)",
			     q(c, kname(c, k), strlen(kname(c, k))));
		}
	}
	return 0;
}

static int parse_doc(struct ctx *c, uint32_t root, struct spec *sp)
{
	uint32_t v, k = 0;
	int rc;

	if (!root || is_null(c, root))
		return fail(c, 1, "empty document (expected an OpenAPI 3 mapping)");
	if (N(c, root)->kind != Y_MAP)
		return fail(c, N(c, root)->line,
		            "the document must be a mapping with \"openapi\" and \"paths\"");
	if (get(c, root, "swagger", &k))
		return fail(
		    c, N(c, k)->line,
		    "this is a Swagger 2.0 document; wsgw reads OpenAPI 3 (openapi: 3.0.0)");
	if (!(v = get(c, root, "openapi", NULL)))
		return fail(c, N(c, root)->line, "missing \"openapi\" (e.g. openapi: 3.0.0)");
	if (N(c, v)->kind != Y_SCALAR || strncmp(S(c, v), "3.", 2))
		return fail(c, N(c, v)->line, "openapi: %s is not supported (wsgw reads 3.x)",
		            N(c, v)->kind == Y_SCALAR ? q(c, S(c, v), N(c, v)->len)
		                                      : "a collection");
	v = get(c, root, "security", &k);
	if (v && N(c, v)->kind == Y_SEQ && N(c, v)->count)
		c->security_line = N(c, k)->line;
	warn_extensions(c, root, "top-level ");
	if ((v = get(c, root, "x-yc-apigateway", NULL)) && (rc = parse_xyc(c, v, sp)))
		return rc;
	if (!(v = get(c, root, "paths", &k)))
		return fail(c, N(c, root)->line, "missing \"paths\"");
	if (N(c, v)->kind != Y_MAP && !is_null(c, v))
		return fail(c, N(c, v)->line, "\"paths\" must be a mapping of path templates");
	if (!is_null(c, v))
		EACH_KEY(c, v, pk)
		{
			if ((rc = parse_path(c, sp, pk, VAL(c, pk))))
				return rc;
		}
	if (!sp->num_routes)
		return fail(c, N(c, k)->line,
		            "no path has an " OP_PREFIX "* operation, so wsgw would accept no "
		            "WebSocket connection");
	return c->failed ? ERR_INVAL : 0;
}

int spec_parse(const char *name, const char *text, size_t len, struct spec *out, char *err,
               size_t errlen)
{
	return spec_parse_vars(name, text, len, NULL, 0, out, err, errlen);
}

int spec_parse_vars(const char *name, const char *text, size_t len, const struct spec_var *vars,
                    size_t num_vars, struct spec *out, char *err, size_t errlen)
{
	struct spec sp = {0};
	struct ctx c = {.name = name ? name : "spec", .err = err, .errlen = errlen, .sp = &sp};
	char why[300];
	uint32_t root;
	int rc, line = 1;

	if (err && errlen)
		err[0] = '\0';
	if (len > SPEC_MAX_SIZE)
		return fail(&c, 1, "larger than %u bytes", SPEC_MAX_SIZE);
	rc = spec_yaml_load(&c.t, text ? text : "", text ? len : 0, &root, &line, why, sizeof(why));
	if (rc == 0 && root)
		rc = spec_vars_apply(&c.t, root, vars, num_vars, &line, why, sizeof why);
	c.root = root;
	if (rc == ERR_INVAL)
		rc = fail(&c, line, "%s", why);
	else if (rc == 0)
		rc = parse_doc(&c, root, &sp);
	if (rc == 0 && c.failed)
		rc = ERR_INVAL;
	if (rc == ERR_NOMEM)
		nomem(&c);
	if (rc == 0) {
		*out = sp;
		sp = (struct spec){0};
	}
	spec_free(&sp);
	spec_yaml_free(&c.t);
	return rc;
}

int spec_load_file(const char *path, const struct spec_var *vars, size_t num_vars,
                   struct spec *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t len;
	int rc;

	if (!f) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return ERR_INVAL;
	}
	if (!(buf = malloc(SPEC_MAX_SIZE + 1))) {
		fclose(f);
		return ERR_NOMEM;
	}
	len = fread(buf, 1, SPEC_MAX_SIZE + 1, f);
	if (ferror(f)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		rc = ERR_INVAL;
	} else if (len > SPEC_MAX_SIZE) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than 1 MiB; not a spec?", path);
		rc = ERR_INVAL;
	} else {
		rc = spec_parse_vars(path, buf, len, vars, num_vars, out, err, errlen);
	}
	free(buf);
	fclose(f);
	return rc;
}

static void kvs_free(struct spec_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].name);
		free(kv[i].value);
	}
	free(kv);
}

static void integ_free(struct integration *in)
{
	free(in->url);
	free(in->method);
	kvs_free(in->headers, in->num_headers);
	kvs_free(in->query, in->num_query);
	kvs_free(in->http_headers, in->num_http_headers);
	kvs_free(in->content, in->num_content);
	for (size_t i = 0; i < in->num_params; i++)
		free(in->params[i].name);
	free(in->params);
}

void spec_free(struct spec *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->num_routes; i++) {
		struct route *r = &s->routes[i];
		for (size_t j = 0; j < r->num_segs; j++)
			free(r->segs[j].text);
		free(r->segs);
		free(r->path);
		integ_free(&r->connect);
		integ_free(&r->message);
		integ_free(&r->disconnect);
	}
	free(s->routes);
	s->routes = NULL;
	s->num_routes = 0;
	for (size_t i = 0; i < s->num_warnings; i++)
		free(s->warnings[i]);
	free(s->warnings);
	s->warnings = NULL;
	s->num_warnings = 0;
}
