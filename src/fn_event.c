/* fn_event.c — the function event JSON (fn_event.h).
 *
 * Shapes follow the cloud's own samples (yandex-cloud/function-ts-types
 * examples/data/websocket{Connect,Message,Disconnect}.json): only CONNECT
 * has a top-level httpMethod and the query maps, only MESSAGE a body;
 * requestContext.httpMethod is GET / POST / DELETE; map keys are sorted
 * (the cloud marshals Go maps). Format 0.1 renames the path fields as
 * extensions/cloud-functions.md says (inferred for WebSocket events: the
 * samples are 1.0). The samples carry no "version" key; neither do we.
 * Must never: trust a byte of the request (every string is checked as
 * UTF-8), or touch sockets.
 */
#include "fn_event.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "utf8.h"

#define GW "X-Yc-Apigateway-Websocket-"
#define MAX_HDRS 96

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t seq_len(const unsigned char *p, size_t n)
{
	size_t need = p[0] < 0x80             ? 1
	              : (p[0] & 0xe0) == 0xc0 ? 2
	              : (p[0] & 0xf0) == 0xe0 ? 3
	              : (p[0] & 0xf8) == 0xf0 ? 4
	                                      : 0;

	return need && need <= n && utf8_is_valid(p, need) ? need : 0;
}

char *fn_event_utf8_fix(const char *s, size_t n, size_t *outlen)
{
	char *fix = n <= (SIZE_MAX - 1) / 3 ? malloc(n * 3 + 1) : NULL, *o = fix;

	if (!fix)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t k = seq_len((const unsigned char *)s + i, n - i);

		if (k) {
			memcpy(o, s + i, k);
			o += k, i += k;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3, i++;
		}
	}
	*o = '\0';
	*outlen = (size_t)(o - fix);
	return fix;
}

/* A JSON string of s[0..n), each byte that is not UTF-8 as U+FFFD. */
static json_t *jstr(const char *s, size_t n)
{
	char *fix;
	size_t fl;
	json_t *j;

	if (!s)
		s = "", n = 0;
	if (utf8_is_valid((const uint8_t *)s, n))
		return json_stringn(s, n);
	if (!(fix = fn_event_utf8_fix(s, n, &fl)))
		return NULL;
	j = json_stringn(fix, fl);
	free(fix);
	return j;
}

static json_t *jcstr(const char *s)
{
	return jstr(s ? s : "", s ? strlen(s) : 0);
}

/* obj[key] = v, taking v; false on ENOMEM (v freed). */
static bool set(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_new(obj, key, v) == 0;
}

/* ---- maps of (name, values) -------------------------------------------- */

struct ent {
	const char *name; /* canonical, NUL-terminated */
	const char *value;
	size_t value_len;
	size_t pos; /* order of arrival: equal names keep it */
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->pos < y->pos ? -1 : x->pos > y->pos);
}

/* single[name] = the last value, multi[name] = every value, for entries
 * already sorted (equal names together). */
static bool put_maps(json_t *single, json_t *multi, const struct ent *e, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		json_t *arr = json_array(), *key = jcstr(e[i].name);
		bool ok = arr && key;

		for (; j < n && !strcmp(e[j].name, e[i].name); j++)
			ok =
			    ok && json_array_append_new(arr, jstr(e[j].value, e[j].value_len)) == 0;
		ok = ok &&
		     set(single, json_string_value(key), jstr(e[j - 1].value, e[j - 1].value_len));
		ok = ok && set(multi, json_string_value(key), json_incref(arr));
		json_decref(arr);
		json_decref(key);
		if (!ok)
			return false;
		i = j;
	}
	return true;
}

/* ---- headers ------------------------------------------------------------- */

static bool name_is(const char *name, size_t n, const char *lit)
{
	return n == strlen(lit) && !strncasecmp(name, lit, n);
}

/* Headers the gateway never passes on from the handshake: hop-by-hop,
 * the WebSocket key exchange, and the ones it sets itself. */
static bool skipped(const char *name, size_t n)
{
	static const char *const skip[] = {"connection",
	                                   "upgrade",
	                                   "keep-alive",
	                                   "te",
	                                   "trailer",
	                                   "transfer-encoding",
	                                   "content-length",
	                                   "expect",
	                                   "proxy-connection",
	                                   "proxy-authorization",
	                                   "sec-websocket-key",
	                                   "sec-websocket-version",
	                                   "sec-websocket-extensions",
	                                   "x-forwarded-for",
	                                   "x-forwarded-proto",
	                                   "x-request-id",
	                                   "x-serverless-gateway-id",
	                                   "x-api-gateway-function-id",
	                                   "content-type"};

	for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
		if (name_is(name, n, skip[i]))
			return true;
	return n >= sizeof GW - 1 && !strncasecmp(name, GW, sizeof GW - 1);
}

/* Go's canonical form: upper case at the start and after '-', lower case
 * elsewhere (names are RFC 9110 tokens). */
static void canon(const char *in, size_t n, char *out)
{
	bool up = true;

	for (size_t i = 0; i < n; i++) {
		char ch = in[i];

		if (up && ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 32);
		else if (!up && ch >= 'A' && ch <= 'Z')
			ch = (char)(ch + 32);
		out[i] = ch;
		up = ch == '-';
	}
	out[n] = '\0';
}

static const char *const kinds[] = {"CONNECT", "MESSAGE", "DISCONNECT"};

/* authz: the authorizer request's headers: the client's and the
 * forwarding ones, no WebSocket event headers, no multiValueHeaders. */
static bool add_headers(json_t *root, const struct fn_event *ev, bool authz)
{
	struct ent e[MAX_HDRS];
	char num[3][24], *names, *np;
	size_t n = 0, total = 0;
	bool ok;
	const char *ctype = ev->binary ? "application/octet-stream" : "application/json";

	for (size_t i = 0; i < ev->num_headers; i++)
		total += ev->headers[i].name_len + 1;
	if (!(np = names = malloc(total + 1)))
		return false;
	for (size_t i = 0; i < ev->num_headers && n < MAX_HDRS - 16; i++) {
		const struct fn_kv *h = &ev->headers[i];

		if (skipped(h->name, h->name_len))
			continue;
		canon(h->name, h->name_len, np);
		e[n] = (struct ent){np, h->value, h->value_len, n};
		n++;
		np += h->name_len + 1;
	}
#define ADD(nm, v, l) (e[n] = (struct ent){(nm), (v), (l), n}, n++)
	snprintf(num[0], sizeof num[0], "%" PRId64, ev->connected_ms);
	snprintf(num[1], sizeof num[1], "%zu", ev->body_len);
	snprintf(num[2], sizeof num[2], "%u", ev->close_code);
	ADD("X-Forwarded-For", ev->source_ip, strlen(ev->source_ip));
	ADD("X-Forwarded-Proto", "http", 4);
	ADD("X-Request-Id", ev->request_id, strlen(ev->request_id));
	ADD("X-Serverless-Gateway-Id", ev->gateway_id, strlen(ev->gateway_id));
	ADD("X-Api-Gateway-Function-Id", ev->function_id, strlen(ev->function_id));
	if (authz)
		goto sort;
	ADD(GW "Connected-At", num[0], strlen(num[0]));
	ADD(GW "Connection-Id", ev->conn_id, strlen(ev->conn_id));
	ADD(GW "Event-Type", kinds[ev->kind], strlen(kinds[ev->kind]));
	if (ev->kind == FN_MESSAGE) {
		ADD(GW "Message-Id", ev->message_id, strlen(ev->message_id));
		ADD("Content-Type", ctype, strlen(ctype));
		ADD("Content-Length", num[1], strlen(num[1]));
	}
	if (ev->kind == FN_DISCONNECT) {
		ADD(GW "Disconnect-Reason", ev->reason ? ev->reason : "", ev->reason_len);
		ADD(GW "Disconnect-Status-Code", num[2], strlen(num[2]));
	}
#undef ADD
sort:
	qsort(e, n, sizeof *e, ent_cmp);
	json_t *single = json_object(), *multi = json_object();

	ok = single && multi && put_maps(single, multi, e, n);
	ok = set(root, "headers", single) && ok;
	if (authz)
		json_decref(multi);
	else
		ok = set(root, "multiValueHeaders", multi) && ok;
	free(names);
	return ok;
}

/* ---- query, parameters ------------------------------------------------- */

static int hexval(char ch)
{
	return ch >= '0' && ch <= '9'   ? ch - '0'
	       : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
	       : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
	                                : -1;
}

/* Percent-decodes s[0..n) ('+' is a space) into out; returns the length. */
static size_t pct_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0)
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])), i += 2;
		else
			out[o++] = s[i];
	}
	return o;
}

/* Calls f(arg, name, nlen, value, vlen) for each pair of the query,
 * decoded into scratch (at least qlen bytes). */
static bool each_query(const struct fn_event *ev, char *scratch,
                       bool (*f)(void *, const char *, size_t, const char *, size_t), void *arg)
{
	const char *q = ev->query;
	size_t qlen = ev->query ? ev->query_len : 0;

	for (size_t i = 0; i < qlen;) {
		const char *item = q + i, *amp = memchr(item, '&', qlen - i), *eq;
		size_t ilen = amp ? (size_t)(amp - item) : qlen - i, kn, vn;
		char *k = scratch, *v;

		i += ilen + 1;
		if (!ilen)
			continue;
		eq = memchr(item, '=', ilen);
		kn = pct_decode(item, eq ? (size_t)(eq - item) : ilen, k);
		v = k + kn;
		vn = eq ? pct_decode(eq + 1, ilen - (size_t)(eq + 1 - item), v) : 0;
		if (!f(arg, k, kn, v, vn))
			return false;
	}
	return true;
}

struct qmaps {
	json_t *single, *multi;
	const char *want; /* with want: collect only that name into multi */
	size_t want_len;
};

static bool query_pair(void *arg, const char *k, size_t kn, const char *v, size_t vn)
{
	struct qmaps *m = arg;
	json_t *key, *arr;
	bool ok;

	if (m->want)
		return !(kn == m->want_len && !memcmp(k, m->want, kn)) ||
		       json_array_append_new(m->multi, jstr(v, vn)) == 0;
	if (!(key = jstr(k, kn)))
		return false;
	arr = json_object_get(m->multi, json_string_value(key));
	if (!arr && !set(m->multi, json_string_value(key), arr = json_array()))
		return json_decref(key), false;
	ok = json_array_append_new(arr, jstr(v, vn)) == 0 &&
	     set(m->single, json_string_value(key), jstr(v, vn));
	json_decref(key);
	return ok;
}

/* The value(s) of one declared parameter into arr. */
static bool param_values(const struct fn_event *ev, const struct spec_param *p, json_t *arr,
                         char *scratch)
{
	size_t n = strlen(p->name);

	for (size_t i = 0; p->in == PARAM_PATH && i < ev->num_path_params; i++)
		if (ev->path_params[i].name_len == n &&
		    !memcmp(ev->path_params[i].name, p->name, n))
			return json_array_append_new(arr, jstr(ev->path_params[i].value,
			                                       ev->path_params[i].value_len)) == 0;
	if (p->in == PARAM_QUERY) {
		struct qmaps m = {NULL, arr, p->name, n};

		return each_query(ev, scratch, query_pair, &m);
	}
	for (size_t i = 0; i < ev->num_headers; i++) {
		const struct fn_kv *h = &ev->headers[i];

		if (p->in == PARAM_HEADER && name_is(h->name, h->name_len, p->name) &&
		    json_array_append_new(arr, jstr(h->value, h->value_len)))
			return false;
		if (p->in != PARAM_COOKIE || !name_is(h->name, h->name_len, "cookie"))
			continue;
		for (size_t j = 0; j < h->value_len;) { /* "a=1; b=2" */
			const char *it = h->value + j, *semi = memchr(it, ';', h->value_len - j);
			size_t il = semi ? (size_t)(semi - it) : h->value_len - j;

			j += il + 1;
			while (il && *it == ' ')
				it++, il--;
			if (il > n && it[n] == '=' && !memcmp(it, p->name, n))
				return json_array_append_new(arr, jstr(it + n + 1, il - n - 1)) ==
				       0;
		}
	}
	return true;
}

static bool add_path_params(json_t *root, const struct fn_event *ev)
{
	json_t *pp = json_object();
	bool ok = pp != NULL;

	for (size_t i = 0; ok && i < ev->num_path_params; i++) {
		json_t *key = jstr(ev->path_params[i].name, ev->path_params[i].name_len);

		ok = key && set(pp, json_string_value(key),
		                jstr(ev->path_params[i].value, ev->path_params[i].value_len));
		json_decref(key);
	}
	return set(root, ev->v1 ? "pathParameters" : "pathParams", pp) && ok;
}

static bool add_params(json_t *root, const struct fn_event *ev, char *scratch)
{
	json_t *single = json_object(), *multi = json_object();
	bool ok = single && multi;

	for (size_t i = 0; ok && i < ev->num_params; i++) {
		json_t *arr = json_array();

		ok = arr && param_values(ev, &ev->params[i], arr, scratch);
		if (ok && json_array_size(arr)) {
			ok = set(single, ev->params[i].name,
			         json_incref(json_array_get(arr, json_array_size(arr) - 1))) &&
			     set(multi, ev->params[i].name, json_incref(arr));
		}
		json_decref(arr);
	}
	ok = set(root, ev->v1 ? "parameters" : "params", single) && ok;
	ok = set(root, ev->v1 ? "multiValueParameters" : "multiValueParams", multi) && ok;
	return ok;
}

/* ---- requestContext ------------------------------------------------------ */

void fn_event_clf_time(int64_t t, char *out, size_t outlen)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	snprintf(out, outlen, "%d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday, mon[tm.tm_mon % 12],
	         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static json_t *parse_json(const char *text)
{
	return text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
}

/* authz: only the HTTP request's fields (function-ts-types Http.Event's
 * requestContext): the connection does not exist yet. */
static json_t *request_context(const struct fn_event *ev, bool authz, bool *bad)
{
	static const char *const methods[] = {"GET", "POST", "DELETE"};
	json_t *rc = json_object(), *id = json_object();
	const char *ua = "";
	size_t ualen = 0;
	char when[40];
	bool ok = rc && id;

	for (size_t i = 0; i < ev->num_headers; i++)
		if (name_is(ev->headers[i].name, ev->headers[i].name_len, "user-agent"))
			ua = ev->headers[i].value, ualen = ev->headers[i].value_len;
	fn_event_clf_time(ev->now_ms / 1000, when, sizeof when);
	ok = ok && set(id, "sourceIp", jcstr(ev->source_ip)) &&
	     set(id, "userAgent", jstr(ua, ualen));
	ok = set(rc, "identity", id) && ok;
	ok = ok && set(rc, "httpMethod", json_string(methods[ev->kind])) &&
	     set(rc, "requestId", jcstr(ev->request_id)) && set(rc, "requestTime", jcstr(when)) &&
	     set(rc, "requestTimeEpoch", json_integer(ev->now_ms / 1000));
	if (authz)
		return ok ? rc : (json_decref(rc), NULL);
	if (ok && ev->authorizer) {
		json_t *a = parse_json(ev->authorizer);

		*bad |= !a;
		ok = a && set(rc, "authorizer", a);
	}
	if (ok && ev->context) {
		json_t *c = parse_json(ev->context), *gw = json_object();

		*bad |= !c;
		ok = c && gw && set(gw, "operationContext", c) && set(rc, "apiGateway", gw);
		if (!ok && !c)
			json_decref(gw);
	}
	ok = ok && set(rc, "connectionId", jcstr(ev->conn_id)) &&
	     set(rc, "connectedAt", json_integer(ev->connected_ms)) &&
	     set(rc, "eventType", json_string(kinds[ev->kind]));
	if (ok && ev->kind == FN_MESSAGE)
		ok = set(rc, "messageId", jcstr(ev->message_id));
	if (ok && ev->kind == FN_DISCONNECT) {
		ok = set(rc, "disconnectStatusCode", json_integer(ev->close_code));
		/* the cloud's sample leaves an empty reason out */
		if (ok && ev->reason_len)
			ok = set(rc, "disconnectReason", jstr(ev->reason, ev->reason_len));
	}
	if (!ok) {
		json_decref(rc);
		return NULL;
	}
	return rc;
}

/* ---- the event ------------------------------------------------------------- */

static bool add_body(json_t *root, const struct fn_event *ev)
{
	char *b64;
	bool ok;

	if (!ev->binary)
		return set(root, "body", jstr((const char *)ev->body, ev->body_len)) &&
		       set(root, "isBase64Encoded", json_false());
	if (ev->body_len > (SIZE_MAX - 8) / 4 * 3 || !(b64 = malloc(ev->body_len / 3 * 4 + 8)))
		return false;
	int n = EVP_EncodeBlock((unsigned char *)b64, ev->body ? ev->body : (const uint8_t *)"",
	                        (int)ev->body_len);
	ok = set(root, "body", json_stringn(b64, (size_t)n)) &&
	     set(root, "isBase64Encoded", json_true());
	free(b64);
	return ok;
}

char *fn_event_json(const struct fn_event *ev, size_t *len)
{
	json_t *root = json_object(), *qs = NULL, *mqs = NULL;
	char *scratch = malloc(ev->query_len + 1), *out = NULL;
	bool ok = root && scratch, bad = false;

	if (ok && ev->kind == FN_CONNECT)
		ok = set(root, "httpMethod", json_string("GET"));
	if (ok && ev->v1)
		ok = set(root, "resource", jcstr(ev->resource)) &&
		     set(root, "path", jstr(ev->path, ev->path_len)) && add_path_params(root, ev);
	else if (ok)
		ok = set(root, "url", jstr(ev->path, ev->path_len)) &&
		     set(root, "path", jcstr(ev->resource));
	ok = ok && add_headers(root, ev, false);
	if (ok && ev->kind == FN_CONNECT) {
		struct qmaps m = {qs = json_object(), mqs = json_object(), NULL, 0};

		ok = qs && mqs && each_query(ev, scratch, query_pair, &m);
		ok = set(root, "queryStringParameters", qs) && ok;
		ok = set(root, "multiValueQueryStringParameters", mqs) && ok;
	}
	if (ok && ev->kind == FN_MESSAGE && ev->v1)
		ok = add_body(root, ev);
	ok = ok && set(root, "requestContext", request_context(ev, false, &bad));
	if (ok && ev->kind == FN_MESSAGE && !ev->v1)
		ok = add_body(root, ev);
	if (ok && !ev->v1)
		ok = add_path_params(root, ev);
	ok = ok && add_params(root, ev, scratch);
	if (ok && ev->v1)
		ok = set(root, "operationId", jcstr(ev->operation_id));
	if (ok && (out = json_dumps(root, JSON_COMPACT)))
		*len = strlen(out);
	json_decref(root);
	free(scratch);
	return out;
}

/* ---- the function authorizer's request ---------------------------------- */

/* cookies: every "name=value" of the Cookie header(s), the last of a name
 * winning, values as sent. */
static bool add_cookies(json_t *root, const struct fn_event *ev)
{
	json_t *jar = json_object();
	bool ok = jar != NULL;

	for (size_t i = 0; ok && i < ev->num_headers; i++) {
		const struct fn_kv *h = &ev->headers[i];

		if (!name_is(h->name, h->name_len, "cookie"))
			continue;
		for (size_t j = 0; ok && j < h->value_len;) { /* "a=1; b=2" */
			const char *it = h->value + j, *semi = memchr(it, ';', h->value_len - j);
			size_t il = semi ? (size_t)(semi - it) : h->value_len - j;
			const char *eq;
			json_t *key;

			j += il + 1;
			while (il && *it == ' ')
				it++, il--;
			if (!il || !(eq = memchr(it, '=', il)) || eq == it)
				continue;
			key = jstr(it, (size_t)(eq - it));
			ok = key && set(jar, json_string_value(key),
			                jstr(eq + 1, il - (size_t)(eq + 1 - it)));
			json_decref(key);
		}
	}
	return set(root, "cookies", jar) && ok;
}

char *fn_event_authorizer_json(const struct fn_event *ev, size_t *len)
{
	json_t *root = json_object(), *qs = NULL, *mqs = NULL;
	char *scratch = malloc(ev->query_len + 1), *out = NULL;
	bool ok = root && scratch, bad = false;
	struct fn_event v1 = *ev;

	v1.v1 = true;         /* pathParameters, as the doc names it */
	v1.kind = FN_CONNECT; /* requestContext.httpMethod GET */
	ok = ok && set(root, "resource", jcstr(ev->resource)) &&
	     set(root, "path", jstr(ev->path, ev->path_len)) &&
	     set(root, "httpMethod", json_string("GET")) && add_headers(root, &v1, true);
	if (ok) {
		struct qmaps m = {qs = json_object(), mqs = json_object(), NULL, 0};

		ok = qs && mqs && each_query(ev, scratch, query_pair, &m);
		ok = set(root, "queryStringParameters", qs) && ok;
		json_decref(mqs);
	}
	ok = ok && add_path_params(root, &v1) &&
	     set(root, "requestContext", request_context(&v1, true, &bad)) && add_cookies(root, ev);
	if (ok && (out = json_dumps(root, JSON_COMPACT)))
		*len = strlen(out);
	json_decref(root);
	free(scratch);
	return out;
}
