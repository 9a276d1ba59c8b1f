/* spec_integ.c — one x-yc-apigateway-integration of a WebSocket
 * operation: `http` (url, method, headers, query, timeouts, omitEmpty*,
 * serviceAccountId), `dummy` (http_code, http_headers, content) and
 * wsgw's `echo`; any other type is refused naming it. Unknown keys are
 * errors (typos must not pass). Also the warning for a {placeholder} that
 * nothing fills (spec_show.c states what fills one).
 * Must never: log, or touch sockets (pure).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "spec_int.h"

#define INTEG_KEY "x-yc-apigateway-integration"

static bool is_tchar(unsigned char ch)
{
	/* RFC 9110 §5.6.2 token characters */
	return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* One map value: a scalar, or a sequence of scalars joined with sep. */
static int kv_value(struct spec_ctx *c, uint32_t v, const char *what, const char *sep, char **out)
{
	size_t total = 0, o = 0;

	if (N(c, v)->kind != Y_SEQ)
		return spec_dup_scalar(c, v, what, out);
	for (uint32_t i = N(c, v)->first; i; i = N(c, i)->next) {
		if (N(c, i)->kind != Y_SCALAR || memchr(S(c, i), '\0', N(c, i)->len))
			return spec_fail(c, N(c, i)->line, "%s: list items must be strings", what);
		total += (spec_is_null(c, i) ? 0 : N(c, i)->len) + strlen(sep);
	}
	if (!(*out = malloc(total + 1)))
		return spec_nomem(c);
	for (uint32_t i = N(c, v)->first; i; i = N(c, i)->next) {
		size_t l = spec_is_null(c, i) ? 0 : N(c, i)->len;
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
static int parse_kvs(struct spec_ctx *c, uint32_t m, const char *what, const char *sep, int kind,
                     struct spec_kv **out, size_t *num)
{
	char w[128];
	int rc;

	if (spec_is_null(c, m))
		return 0;
	if (N(c, m)->kind != Y_MAP)
		return spec_fail(c, N(c, m)->line, "%s must be a mapping of names to values", what);
	if (!(*out = calloc(N(c, m)->count / 2 + 1, sizeof(**out))))
		return spec_nomem(c);
	EACH_KEY(c, m, k)
	{
		struct spec_kv *kv = &(*out)[(*num)++];
		const char *name;

		if ((rc = spec_dup_scalar(c, k, what, &kv->name)))
			return rc;
		name = kv->name;
		snprintf(w, sizeof(w), "%s.%s", what, name);
		if ((rc = kind == KV_MEDIA ? spec_dup_scalar(c, VAL(c, k), w, &kv->value)
		                           : kv_value(c, VAL(c, k), w, sep, &kv->value)))
			return rc;
		if (!*name)
			return spec_fail(c, N(c, k)->line, "%s: an empty name", what);
		if (!strcmp(name, "*")) {
			if (kind != KV_MEDIA && strcmp(kv->value, "*"))
				return spec_fail(
				    c, N(c, k)->line,
				    "%s: only '*': '*' (forward the client's) may use the "
				    "name '*'",
				    what);
			continue;
		}
		for (const char *p = name; kind == KV_HEADER && *p; p++)
			if (!is_tchar((unsigned char)*p))
				return spec_fail(c, N(c, k)->line,
				                 "%s: %s is not a valid header name", what,
				                 spec_q(c, name, strlen(name)));
		if (kind == KV_HEADER && strpbrk(kv->value, "\r\n"))
			return spec_fail(c, N(c, VAL(c, k))->line,
			                 "%s: a header value may not contain line breaks", w);
		if (kind == KV_MEDIA && !strchr(name, '/'))
			return spec_fail(c, N(c, k)->line,
			                 "%s: %s is not a media type (use type/subtype or '*')",
			                 what, spec_q(c, name, strlen(name)));
	}
	return 0;
}

/* Seconds (> 0, <= 3600, fractions ok) to milliseconds, rounded up. */
static int parse_seconds(struct spec_ctx *c, uint32_t v, const char *what, uint64_t *ms)
{
	const char *s = S(c, v);
	uint64_t ip = 0, frac = 0, scale = 100;
	bool digits = false, rest = false;

	if (N(c, v)->kind != Y_SCALAR)
		return spec_fail(c, N(c, v)->line, "%s must be a number of seconds", what);
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
		return spec_fail(c, N(c, v)->line, "%s: %s is not a number of seconds", what,
		                 spec_q(c, S(c, v), N(c, v)->len));
	*ms = ip * 1000 + frac + rest;
	if (*ms == 0 || *ms > 3600 * 1000)
		return spec_fail(c, N(c, v)->line,
		                 "%s: %s is out of range (more than 0, at most 3600 seconds)", what,
		                 spec_q(c, S(c, v), N(c, v)->len));
	return 0;
}

int spec_parse_bool(struct spec_ctx *c, uint32_t v, const char *what, bool *out)
{
	const char *s = S(c, v);

	if (N(c, v)->kind == Y_SCALAR &&
	    (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") ||
	     !strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) {
		*out = (s[0] | 0x20) == 't';
		return 0;
	}
	return spec_fail(c, N(c, v)->line, "%s: %s is not a boolean (use true or false)", what,
	                 N(c, v)->kind == Y_SCALAR ? spec_q(c, s, N(c, v)->len) : "a collection");
}

static int parse_timeouts(struct spec_ctx *c, uint32_t m, struct integration *in)
{
	int rc = 0;

	if (N(c, m)->kind != Y_MAP)
		return spec_fail(c, N(c, m)->line,
		                 "timeouts must be a mapping {connect: N, read: N}");
	EACH_KEY(c, m, k)
	{
		if (spec_key_is(c, k, "connect"))
			rc = parse_seconds(c, VAL(c, k), "timeouts.connect",
			                   &in->connect_timeout_ms);
		else if (spec_key_is(c, k, "read"))
			rc = parse_seconds(c, VAL(c, k), "timeouts.read", &in->read_timeout_ms);
		else
			rc = spec_fail(c, N(c, k)->line,
			               "timeouts: unknown key %s (known: connect, read)",
			               spec_q(c, spec_kname(c, k), strlen(spec_kname(c, k))));
		if (rc)
			return rc;
	}
	return 0;
}

/* The url: http:// or https://, a host, no blanks, {placeholders} closed
 * and not in the "{name+}" spelling. What fills each is checked (and
 * warned about) once the operation's parameters are known. */
static int check_url(struct spec_ctx *c, uint32_t v, const struct route *r, const char *url)
{
	size_t skip = !strncasecmp(url, "http://", 7)    ? 7
	              : !strncasecmp(url, "https://", 8) ? 8
	                                                 : 0;
	int line = N(c, v)->line;

	if (!skip)
		return spec_fail(c, line, "url: %s must start with http:// or https://",
		                 spec_q(c, url, strlen(url)));
	if (!url[skip] || strchr("/?#", url[skip]))
		return spec_fail(c, line, "url: %s has no host", spec_q(c, url, strlen(url)));
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return spec_fail(c, line, "url: %s contains a blank or a control character",
			                 spec_q(c, url, strlen(url)));
	for (const char *p = strchr(url, '{'); p; p = strchr(p + 1, '{')) {
		const char *e = strchr(p, '}');
		size_t n;
		bool ok = false;
		if (!e)
			return spec_fail(c, line, "url: \"{\" without a closing \"}\"");
		n = (size_t)(e - p - 1);
		for (size_t i = 0; i < r->num_segs && !ok; i++)
			ok = r->segs[i].kind != SEG_LITERAL && strlen(r->segs[i].text) == n &&
			     !memcmp(r->segs[i].text, p + 1, n);
		if (!ok && n > 1 && p[n] == '+') /* {path+} names the parameter "path" */
			return spec_fail(c, line, "url: write %s as \"{%.*s}\"",
			                 spec_q(c, p, (size_t)(e - p + 1)), (int)(n - 1), p + 1);
	}
	return 0;
}

static int http_field(struct spec_ctx *c, uint32_t k, const struct route *r, struct integration *in)
{
	static const char *const methods[] = {"GET",    "POST", "PUT",    "PATCH",
	                                      "DELETE", "HEAD", "OPTIONS"};
	uint32_t v = VAL(c, k);
	int rc;

	if (spec_key_is(c, k, "url")) {
		if ((rc = spec_dup_scalar(c, v, "url", &in->url)))
			return rc;
		return check_url(c, v, r, in->url);
	}
	if (spec_key_is(c, k, "method")) {
		if ((rc = spec_dup_scalar(c, v, "method", &in->method)))
			return rc;
		for (size_t i = 0; i < sizeof(methods) / sizeof(*methods); i++)
			if (!strcasecmp(in->method, methods[i]))
				return strcpy(in->method, methods[i]), 0;
		return spec_fail(
		    c, N(c, v)->line,
		    "method: %s is not supported (use GET, POST, PUT, PATCH, DELETE, HEAD "
		    "or OPTIONS)",
		    spec_q(c, in->method, strlen(in->method)));
	}
	if (spec_key_is(c, k, "headers"))
		return parse_kvs(c, v, "headers", ", ", KV_HEADER, &in->headers, &in->num_headers);
	if (spec_key_is(c, k, "query"))
		return parse_kvs(c, v, "query", ",", 0, &in->query, &in->num_query);
	if (spec_key_is(c, k, "timeouts"))
		return parse_timeouts(c, v, in);
	if (spec_key_is(c, k, "omitEmptyHeaders"))
		return spec_parse_bool(c, v, "omitEmptyHeaders", &in->omit_empty_headers);
	if (spec_key_is(c, k, "omitEmptyQueryParameters"))
		return spec_parse_bool(c, v, "omitEmptyQueryParameters", &in->omit_empty_query);
	if (spec_key_is(c, k, "service_account_id") || spec_key_is(c, k, "serviceAccountId"))
		return 0; /* the cloud's identity for the call: meaningless locally */
	return spec_fail(
	    c, N(c, k)->line,
	    "unknown key %s in an http integration (known: url, method, headers, query, "
	    "timeouts, omitEmptyHeaders, omitEmptyQueryParameters, serviceAccountId)",
	    spec_q(c, spec_kname(c, k), strlen(spec_kname(c, k))));
}

static int dummy_field(struct spec_ctx *c, uint32_t k, struct integration *in)
{
	uint32_t v = VAL(c, k);
	const char *s = S(c, v);

	if (spec_key_is(c, k, "http_code")) {
		if (N(c, v)->kind != Y_SCALAR || N(c, v)->len != 3 || s[0] < '1' || s[0] > '5' ||
		    s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
			return spec_fail(c, N(c, v)->line,
			                 "http_code: %s is not an HTTP status code (100..599)",
			                 N(c, v)->kind == Y_SCALAR ? spec_q(c, s, N(c, v)->len)
			                                           : "a collection");
		in->http_code = atoi(s);
		return 0;
	}
	if (spec_key_is(c, k, "http_headers"))
		return parse_kvs(c, v, "http_headers", ", ", KV_HEADER, &in->http_headers,
		                 &in->num_http_headers);
	if (spec_key_is(c, k, "content"))
		return parse_kvs(c, v, "content", "", KV_MEDIA, &in->content, &in->num_content);
	if (spec_key_is(c, k, "service_account_id") || spec_key_is(c, k, "serviceAccountId"))
		return 0;
	return spec_fail(c, N(c, k)->line,
	                 "unknown key %s in a dummy integration (known: http_code, http_headers, "
	                 "content)",
	                 spec_q(c, spec_kname(c, k), strlen(spec_kname(c, k))));
}

/* ik: the x-yc-apigateway-integration key; m: its value. */
int spec_integ_parse(struct spec_ctx *c, uint32_t ik, uint32_t m, const struct route *r,
                     struct integration *in)
{
	uint32_t t;
	const char *ts;
	int rc = 0;

	in->line = N(c, ik)->line;
	if (N(c, m)->kind != Y_MAP)
		return spec_fail(c, N(c, m)->line, INTEG_KEY " must be a mapping with a \"type\"");
	if (!(t = spec_get(c, m, "type", NULL)))
		return spec_fail(c, in->line,
		                 INTEG_KEY ": missing \"type\" (use http, dummy or echo)");
	ts = S(c, t);
	if (N(c, t)->kind != Y_SCALAR)
		return spec_fail(c, N(c, t)->line, "integration type must be a string");
	if (!strcmp(ts, "http"))
		in->type = INTEG_HTTP;
	else if (!strcmp(ts, "dummy"))
		in->type = INTEG_DUMMY, in->http_code = 200;
	else if (!strcmp(ts, "echo"))
		in->type = INTEG_ECHO;
	else if (!strcmp(ts, "cloud_functions"))
		in->type = INTEG_FUNCTION;
	else if (!strcmp(ts, "serverless_containers"))
		in->type = INTEG_CONTAINER;
	else
		return spec_fail(
		    c, N(c, t)->line,
		    "integration type %s is not supported by wsgw (it runs http, dummy, "
		    "cloud_functions, serverless_containers and echo integrations)",
		    spec_q(c, ts, N(c, t)->len));
	EACH_KEY(c, m, k)
	{
		if (spec_key_is(c, k, "type"))
			continue;
		if (in->type == INTEG_HTTP)
			rc = http_field(c, k, r, in);
		else if (in->type == INTEG_DUMMY)
			rc = dummy_field(c, k, in);
		else if (in->type == INTEG_FUNCTION || in->type == INTEG_CONTAINER)
			rc = spec_fn_field(c, k, in);
		else
			rc = spec_fail(
			    c, N(c, k)->line,
			    "unknown key %s in an echo integration (it takes only \"type\")",
			    spec_q(c, spec_kname(c, k), strlen(spec_kname(c, k))));
		if (rc)
			return rc;
	}
	if (in->type == INTEG_HTTP && !in->url)
		return spec_fail(c, in->line, "an http integration needs \"url\"");
	if (in->type == INTEG_FUNCTION || in->type == INTEG_CONTAINER)
		return spec_fn_finish(c, in);
	return 0;
}

/* Calls f for each {name} placeholder (name: [A-Za-z0-9_.-]+) in the
 * integration's url, headers, query and content values. */
void spec_integ_check(struct spec_ctx *c, const struct route *r, const struct integration *in)
{
	const char *seen[16];
	size_t seen_len[16], nseen = 0;
	const struct spec_kv *lists[3] = {in->headers, in->query, in->content};
	size_t counts[3] = {in->num_headers, in->num_query, in->num_content};
	const char *singles[3] = {in->url, in->tag, in->context};

	for (int l = -3; l < 3; l++) {
		for (size_t i = 0; i < (l < 0 ? 1 : counts[l]); i++) {
			const char *str = l < 0 ? singles[l + 3] : lists[l][i].value;

			for (const char *p = str ? strchr(str, '{') : NULL; p;
			     p = strchr(p + 1, '{')) {
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
					spec_warn(
					    c, in->line,
					    "path %s: %s: placeholder {%.*s} is never filled here "
					    "and "
					    "goes out as written (wsgw fills -Connection-Id, "
					    "-Event-Type "
					    "and -Connected-At, and -Message-Id only in message "
					    "operations)",
					    c->path, c->op, (int)n, p + 1);
				else
					spec_warn(c, in->line,
					          "path %s: %s: placeholder {%.*s} is not a "
					          "parameter of this "
					          "operation: filled only when the client's "
					          "handshake has a "
					          "header of that name, else sent as written",
					          c->path, c->op, (int)n, p + 1);
			}
		}
	}
}
