/* fn_resp.c — a function's answer (fn_resp.h), read with jansson.
 *
 * The answer comes from a process the user runs (a runner serving their
 * handler), so it is checked like network input: wrong types, a status out
 * of range, a header that would split a line, bad base64 or a body over
 * the cap all make the function "broken" (the caller answers 502 or fails
 * the message as a backend error), with the reason for the log.
 * Must never: touch sockets, or keep anything past fn_resp_free.
 */
#include "fn_resp.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t whylen, const char *fmt,
                                                      ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return ERR_PROTO;
}

static int b64val(unsigned char ch)
{
	return ch >= 'A' && ch <= 'Z'   ? ch - 'A'
	       : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
	       : ch >= '0' && ch <= '9' ? ch - '0' + 52
	       : ch == '+'              ? 62
	       : ch == '/'              ? 63
	                                : -1;
}

long fn_resp_b64_decode(const char *s, size_t n, uint8_t *out)
{
	size_t o = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0;

	while (n && s[n - 1] == '=' && pad < 2)
		n--, pad++;
	if (n % 4 == 1 || (pad && (n + pad) % 4))
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* RFC 4648 §3.5: the bits left over must be zero */
	if (bits && (acc & ((1u << bits) - 1)))
		return -1;
	return (long)o;
}

static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

struct lines {
	char buf[FN_RESP_MAX_HEADERS];
	size_t len;
	const char *ctype; /* into a json value */
};

/* Appends "name: value\r\n" after checking both. */
static int add_line(struct lines *l, const char *name, json_t *v, char *why, size_t whylen)
{
	const char *s;
	size_t nl = strlen(name), vl;

	if (!json_is_string(v))
		return fail(why, whylen, "header %.64s: a value is not a string", name);
	s = json_string_value(v);
	vl = json_string_length(v);
	for (size_t i = 0; i < nl; i++)
		if (!is_tchar((unsigned char)name[i]))
			return fail(why, whylen, "header name %.64s is not a token", name);
	for (size_t i = 0; i < vl; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return fail(why, whylen, "header %.64s: a control character in the value",
			            name);
	if (!nl)
		return fail(why, whylen, "an empty header name");
	if (l->len + nl + vl + 5 > sizeof l->buf)
		return fail(why, whylen, "headers larger than %d bytes", FN_RESP_MAX_HEADERS);
	if (!strcasecmp(name, "content-type") && !l->ctype)
		l->ctype = s;
	l->len += (size_t)snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s: %s\r\n", name, s);
	return 0;
}

static int read_headers(json_t *root, struct lines *l, char *why, size_t whylen)
{
	json_t *h = json_object_get(root, "headers"),
	       *mh = json_object_get(root, "multiValueHeaders");
	const char *name;
	json_t *v;
	int rc;

	if (h && !json_is_null(h) && !json_is_object(h))
		return fail(why, whylen, "headers is not an object");
	if (mh && !json_is_null(mh) && !json_is_object(mh))
		return fail(why, whylen, "multiValueHeaders is not an object");
	json_object_foreach(mh, name, v)
	{
		size_t i;
		json_t *item;

		if (!json_is_array(v))
			return fail(why, whylen, "multiValueHeaders.%.64s is not an array", name);
		json_array_foreach(v, i,
		                   item) if ((rc = add_line(l, name, item, why, whylen))) return rc;
	}
	json_object_foreach(h, name, v)
	{
		const char *n2;
		json_t *v2;
		bool shadowed = false;

		json_object_foreach(mh, n2, v2) shadowed |= !strcasecmp(n2, name);
		if (!shadowed && (rc = add_line(l, name, v, why, whylen)))
			return rc;
	}
	return 0;
}

static int read_body(json_t *root, size_t max_body, struct fn_resp *out, char *why, size_t whylen)
{
	json_t *b = json_object_get(root, "body"), *enc = json_object_get(root, "isBase64Encoded");
	const char *s;
	size_t n;

	if (enc && !json_is_null(enc) && !json_is_boolean(enc))
		return fail(why, whylen, "isBase64Encoded is not a boolean");
	if (!b || json_is_null(b))
		return 0;
	if (!json_is_string(b))
		return fail(why, whylen, "body is not a string (JSON.stringify it)");
	s = json_string_value(b);
	n = json_string_length(b);
	if (!n)
		return 0;
	if (!json_is_true(enc)) {
		if (n > max_body)
			return fail(why, whylen, "body of %zu bytes is over the limit of %zu", n,
			            max_body);
		if (!(out->body = malloc(n)))
			return ERR_NOMEM;
		memcpy(out->body, s, n);
		out->body_len = n;
		return 0;
	}
	if (n / 4 * 3 > max_body + 3)
		return fail(why, whylen, "body of about %zu bytes is over the limit of %zu",
		            n / 4 * 3, max_body);
	if (!(out->body = malloc(n / 4 * 3 + 3)))
		return ERR_NOMEM;
	long got = fn_resp_b64_decode(s, n, out->body);
	if (got < 0)
		return fail(why, whylen, "isBase64Encoded, but the body is not base64");
	if ((size_t)got > max_body)
		return fail(why, whylen, "body of %ld bytes is over the limit of %zu", got,
		            max_body);
	out->body_len = (size_t)got;
	return 0;
}

int fn_resp_parse(const uint8_t *json, size_t len, size_t max_body, struct fn_resp *out, char *why,
                  size_t whylen)
{
	json_error_t jerr;
	json_t *root, *st;
	struct lines *l = NULL;
	int rc = 0;

	memset(out, 0, sizeof *out);
	out->status = 200;
	root = json_loadb((const char *)json, len, JSON_ALLOW_NUL, &jerr);
	if (!root)
		return fail(why, whylen, "not JSON: %s (at byte %d)", jerr.text, jerr.position);
	if (!json_is_object(root)) {
		rc = fail(why, whylen, "not a JSON object");
		goto out;
	}
	st = json_object_get(root, "statusCode");
	if (st && !json_is_null(st)) {
		if (!json_is_integer(st) || json_integer_value(st) < 100 ||
		    json_integer_value(st) > 599) {
			rc = fail(why, whylen, "statusCode is not an integer from 100 to 599");
			goto out;
		}
		out->status = (int)json_integer_value(st);
	}
	if (!(l = malloc(sizeof *l))) {
		rc = ERR_NOMEM;
		goto out;
	}
	l->len = 0;
	l->ctype = NULL;
	l->buf[0] = '\0';
	if ((rc = read_headers(root, l, why, whylen)) ||
	    (rc = read_body(root, max_body, out, why, whylen)))
		goto out;
	if ((l->ctype && !(out->content_type = strdup(l->ctype))) ||
	    (l->len && !(out->headers = strdup(l->buf)))) {
		rc = ERR_NOMEM;
		goto out;
	}
	out->headers_len = l->len;
out:
	free(l);
	json_decref(root);
	if (rc)
		fn_resp_free(out);
	return rc;
}

void fn_resp_free(struct fn_resp *r)
{
	free(r->body);
	free(r->content_type);
	free(r->headers);
	r->body = NULL;
	r->content_type = r->headers = NULL;
	r->body_len = r->headers_len = 0;
}

int fn_resp_authorizer(const uint8_t *json, size_t len, size_t ctx_max, bool *authorized,
                       char **ctx, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &jerr), *a, *c;
	int rc = 0;

	*authorized = false;
	*ctx = NULL;
	if (!root)
		return fail(why, whylen, "the answer is not JSON: %s", jerr.text);
	a = json_object_get(root, "isAuthorized");
	c = json_object_get(root, "context");
	if (!json_is_object(root))
		rc = fail(why, whylen, "the answer is not a JSON object");
	else if (!json_is_boolean(a))
		rc = fail(why, whylen, "isAuthorized is %s, not a boolean",
		          a ? "of another type" : "missing");
	else if (c && !json_is_null(c) && !json_is_object(c))
		rc = fail(why, whylen, "context is not an object");
	else if ((*authorized = json_is_true(a)) && json_is_object(c)) {
		if (!(*ctx = json_dumps(c, JSON_COMPACT)))
			rc = ERR_NOMEM;
		else if (strlen(*ctx) > ctx_max) {
			free(*ctx);
			*ctx = NULL;
			*authorized = false;
			rc = fail(why, whylen, "context over %zu bytes", ctx_max);
		}
	}
	if (rc)
		*authorized = false;
	json_decref(root);
	return rc;
}
