/* gw_json.c — wsgw.v1's REST face (gw_json.h), with jansson. Query values
 * are percent-decoded with '+' as a space (as HTML forms and gRPC
 * gateways read them); path pieces without ('+' is a literal in a path).
 * Unknown JSON fields are ignored, null means the default, as rest.c does
 * for ConnectionService.
 */
#include "gw_json.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "http1.h"
#include "utf8.h"

static int fail(char *err, size_t errlen, int status, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return status;
}

/* ---- RFC 3339 ---------------------------------------------------------------- */

static bool digits(const char *s, size_t n, size_t at, size_t k, int *v)
{
	*v = 0;
	if (at + k > n)
		return false;
	for (size_t i = at; i < at + k; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

int gw_json_parse_time(const char *s, size_t n, int64_t *ns)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0;
	int64_t frac = 0, scale = 100000000;
	size_t i = 19;
	struct tm tm = {0};
	time_t t;

	/* RFC 3339 §5.6: date-fullyear "-" month "-" mday "T" time */
	if (!digits(s, n, 0, 4, &y) || n < 20 || s[4] != '-' || !digits(s, n, 5, 2, &mo) ||
	    s[7] != '-' || !digits(s, n, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s, n, 11, 2, &h) || s[13] != ':' || !digits(s, n, 14, 2, &mi) || s[16] != ':' ||
	    !digits(s, n, 17, 2, &sec))
		return ERR_INVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return ERR_INVAL;
	if (i < n && s[i] == '.') {
		if (++i == n || !isdigit((unsigned char)s[i]))
			return ERR_INVAL;
		for (; i < n && isdigit((unsigned char)s[i]); i++) {
			frac += (s[i] - '0') * scale;
			scale /= 10; /* digits past nanoseconds are dropped */
		}
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
		/* UTC */
	} else if (i < n && (s[i] == '+' || s[i] == '-') && i + 6 == n &&
	           digits(s, n, i + 1, 2, &oh) && s[i + 3] == ':' && digits(s, n, i + 4, 2, &om) &&
	           oh < 24 && om < 60) {
		if (s[i] == '-') {
			oh = -oh;
			om = -om;
		}
	} else {
		return ERR_INVAL;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	t -= (time_t)oh * 3600 + (time_t)om * 60;
	*ns = (int64_t)t * 1000000000 + frac;
	return 0;
}

/* ---- request pieces ---------------------------------------------------------- */

/* Percent-decodes s[0..n) into a fresh slot of r->buf (sized by the
 * caller: decoding never grows). '+' becomes a space when plus. */
static int decode(const char *s, size_t n, bool plus, char *out, size_t *out_len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi = i + 2 < n ? http1_hex_digit(s[i + 1]) : -1;
			int lo = hi >= 0 ? http1_hex_digit(s[i + 2]) : -1;

			if (lo < 0)
				return ERR_INVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		}
		out[o++] = c;
	}
	out[o] = '\0';
	*out_len = o;
	return 0;
}

/* Takes the next piece of r->buf (at *used) for s decoded. */
static int take(struct gw_json_request *r, size_t *used, const char *s, size_t n, bool plus,
                struct gw_str *out)
{
	char *dst = r->buf + *used;
	size_t len;

	if (decode(s, n, plus, dst, &len) < 0)
		return ERR_INVAL;
	*out = (struct gw_str){dst, len};
	*used += len + 1;
	return 0;
}

static const char *query_of(const struct rest_request *req, size_t *n)
{
	const char *q = memchr(req->target, '?', req->target_len);

	if (!q)
		return *n = 0, "";
	*n = req->target_len - (size_t)(q + 1 - req->target);
	return q + 1;
}

static bool name_is(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* GET /wsgw/v1/connections?pageSize=&pageToken=&route=&pathPrefix=&group=
 * &connectedAfter=&connectedBefore= */
static int parse_list(const struct rest_request *req, struct gw_json_request *r, size_t *used,
                      char *err, size_t errlen)
{
	size_t qn, i = 0;
	const char *q = query_of(req, &qn);
	struct gw_req *g = &r->req;

	while (i < qn) {
		size_t end = i, eq;
		struct gw_str v;
		const char *k;
		size_t kn;

		while (end < qn && q[end] != '&')
			end++;
		for (eq = i; eq < end && q[eq] != '='; eq++)
			;
		k = q + i;
		kn = eq - i;
		if (take(r, used, q + (eq < end ? eq + 1 : end), eq < end ? end - eq - 1 : 0, true,
		         &v) < 0)
			return fail(err, errlen, 400, "query: bad percent-encoding");
		i = end + 1;
		if (name_is(k, kn, "pageSize") || name_is(k, kn, "page_size")) {
			char *e;
			long long ps = strtoll(v.p, &e, 10);

			if (!v.n || *e || ps < 0 || ps > GW_MAX_PAGE)
				return fail(err, errlen, 400, "pageSize must be 0..1000");
			g->page_size = ps;
		} else if (name_is(k, kn, "pageToken") || name_is(k, kn, "page_token")) {
			g->token = v;
		} else if (name_is(k, kn, "route")) {
			g->route = v;
		} else if (name_is(k, kn, "pathPrefix") || name_is(k, kn, "path_prefix")) {
			g->prefix = v;
		} else if (name_is(k, kn, "group")) {
			g->group = v;
		} else if (name_is(k, kn, "connectedAfter") || name_is(k, kn, "connected_after")) {
			if (gw_json_parse_time(v.p, v.n, &g->after_ns) < 0)
				return fail(err, errlen, 400,
				            "connectedAfter is not an RFC 3339 time");
			g->has_after = true;
		} else if (name_is(k, kn, "connectedBefore") ||
		           name_is(k, kn, "connected_before")) {
			if (gw_json_parse_time(v.p, v.n, &g->before_ns) < 0)
				return fail(err, errlen, 400,
				            "connectedBefore is not an RFC 3339 time");
			g->has_before = true;
		}
		/* other parameters are ignored, as unknown JSON fields are */
	}
	return 0;
}

/* A string field of the body, or "" when absent or null. */
static int jfield_str(json_t *root, const char *name, struct gw_str *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(root, name);

	*out = (struct gw_str){"", 0};
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s: must be a string", name);
		return 400;
	}
	*out = (struct gw_str){json_string_value(v), json_string_length(v)};
	return 0;
}

/* The body: {data, type} through rest.c's parser, then the rest. */
static int parse_body(const struct rest_request *req, struct gw_json_request *r, char *err,
                      size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	if (rest_parse_send(req->body, req->body_len, &r->data, &r->req.len, &r->req.type, err,
	                    errlen) < 0)
		return 400;
	r->req.data = r->data;
	root = json_loadb((const char *)req->body, req->body_len, 0, &jerr);
	if (!root)
		return fail(err, errlen, 400, "malformed JSON");
	r->json = root;
	return 0;
}

static int parse_ids(struct gw_json_request *r, const char *name, char *err, size_t errlen)
{
	json_t *a = json_object_get(r->json, name);
	size_t n;

	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return snprintf(err, errlen, "%s: must be an array of strings", name), 400;
	n = json_array_size(a);
	if (n > GW_MAX_IDS)
		return snprintf(err, errlen, "%s: at most %d ids per call", name, GW_MAX_IDS), 400;
	r->req.ids = malloc((n ? n : 1) * sizeof *r->req.ids);
	if (!r->req.ids)
		return fail(err, errlen, 500, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(a, i);

		if (!json_is_string(v))
			return snprintf(err, errlen, "%s: must be an array of strings", name), 400;
		r->req.ids[i] = (struct gw_str){json_string_value(v), json_string_length(v)};
	}
	r->req.nids = n;
	return 0;
}

/* CloseConnection's body: {code, reason}, both optional. */
static int parse_close(struct gw_json_request *r, const struct rest_request *req, char *err,
                       size_t errlen)
{
	json_error_t jerr;
	json_t *c, *root;

	if (req->body_len == 0)
		return 0;
	r->json = root = json_loadb((const char *)req->body, req->body_len, 0, &jerr);
	if (!root || !json_is_object(root))
		return fail(err, errlen, 400, "the body must be a JSON object");
	c = json_object_get(root, "code");
	if (c && json_is_integer(c))
		r->req.code = json_integer_value(c);
	else if (c && json_is_string(c)) { /* proto3 JSON accepts numbers as strings */
		const char *v = json_string_value(c);
		char *end;

		r->req.code = strtoll(v, &end, 10);
		if (!*v || *end || end - v > 6)
			return fail(err, errlen, 400, "code: must be a number");
	} else if (c && !json_is_null(c))
		return fail(err, errlen, 400, "code: must be a number");
	return jfield_str(r->json, "reason", &r->req.reason, err, errlen);
}

/* /wsgw/v1/groups/{group}:send, /{group}/connections/{id}:join, :leave */
static int parse_groups(const struct router_match *m, struct gw_json_request *r, size_t *used,
                        char *err, size_t errlen)
{
	const char *p = m->id, *slash = memchr(p, '/', m->id_len);
	static const char conns[] = "/connections/";
	size_t n = m->id_len, gl;
	const char *id;
	size_t idl;

	if (!slash) {
		if (n < 5 || memcmp(p + n - 5, ":send", 5) != 0)
			return fail(err, errlen, 404, "no such path");
		r->req.kind = GW_SEND_GROUP;
		if (take(r, used, p, n - 5, false, &r->req.group) < 0)
			return fail(err, errlen, 400, "group: bad percent-encoding");
		return 0;
	}
	gl = (size_t)(slash - p);
	if (n - gl < sizeof conns - 1 || memcmp(slash, conns, sizeof conns - 1) != 0)
		return fail(err, errlen, 404, "no such path");
	id = slash + sizeof conns - 1;
	idl = n - gl - (sizeof conns - 1);
	if (idl > 5 && memcmp(id + idl - 5, ":join", 5) == 0)
		r->req.kind = GW_JOIN;
	else if (idl > 6 && memcmp(id + idl - 6, ":leave", 6) == 0)
		r->req.kind = GW_LEAVE;
	else
		return fail(err, errlen, 404, "no such path");
	idl -= r->req.kind == GW_JOIN ? 5 : 6;
	if (memchr(id, '/', idl))
		return fail(err, errlen, 404, "no such path");
	if (take(r, used, p, gl, false, &r->req.group) < 0 ||
	    take(r, used, id, idl, false, &r->req.id) < 0)
		return fail(err, errlen, 400, "bad percent-encoding in the path");
	return 0;
}

int gw_json_parse(const struct rest_request *req, enum router_handler h,
                  const struct router_match *m, struct gw_json_request *r, char *err, size_t errlen)
{
	size_t used = 0;
	int rc = 0;

	memset(r, 0, sizeof *r);
	/* Decoded pieces never outgrow the target they come from. */
	r->buf = malloc(req->target_len * 2 + 16);
	if (!r->buf)
		return fail(err, errlen, 500, "out of memory");
	r->req.kind = (enum gw_kind)(h - ROUTER_GW_LIST + GW_LIST);
	switch (h) {
	case ROUTER_GW_LIST:
		return parse_list(req, r, &used, err, errlen);
	case ROUTER_GW_COUNT:
		return 0;
	case ROUTER_GW_SEND_MANY:
		if ((rc = parse_body(req, r, err, errlen)) != 0)
			return rc;
		return parse_ids(r, "connectionIds", err, errlen);
	case ROUTER_GW_CLOSE:
		if (take(r, &used, m->id, m->id_len, false, &r->req.id) < 0)
			return fail(err, errlen, 400, "connection id: bad percent-encoding");
		return parse_close(r, req, err, errlen);
	case ROUTER_GW_BROADCAST:
		if ((rc = parse_body(req, r, err, errlen)) != 0 ||
		    (rc = jfield_str(r->json, "path", &r->req.route, err, errlen)) != 0 ||
		    (rc = jfield_str(r->json, "pathPrefix", &r->req.prefix, err, errlen)) != 0)
			return rc;
		return parse_ids(r, "excludeIds", err, errlen);
	case ROUTER_GW_GROUPS:
		if ((rc = parse_groups(m, r, &used, err, errlen)) != 0)
			return rc;
		if (r->req.kind == GW_SEND_GROUP)
			return parse_body(req, r, err, errlen);
		return 0;
	default:
		return fail(err, errlen, 404, "no such path");
	}
}

void gw_json_request_free(struct gw_json_request *r)
{
	free(r->buf);
	free(r->data);
	free(r->req.ids);
	json_decref(r->json);
	memset(r, 0, sizeof *r);
}

/* ---- responses --------------------------------------------------------------- */

/* Strings from the registry are UTF-8 already (ids, interned paths are
 * checked where they enter); an invalid one is masked rather than lost. */
static json_t *js(const char *s, size_t n)
{
	char *copy;
	json_t *j;

	if (utf8_is_valid((const uint8_t *)s, n))
		return json_stringn(s, n);
	if (!(copy = malloc(n + 1)))
		return NULL;
	for (size_t i = 0; i < n; i++)
		copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	j = json_stringn(copy, n);
	free(copy);
	return j;
}

static json_t *jc(const char *s)
{
	return js(s, strlen(s));
}

static json_t *jtime(int64_t ns)
{
	char buf[40];

	rest_timestamp(ns, buf, sizeof buf);
	return json_string(buf);
}

static json_t *conn_json(const struct gw_conn_info *c)
{
	json_t *o = json_object(), *id = json_object(), *g = json_array();

	json_object_set_new(o, "id", jc(c->base.id));
	json_object_set_new(o, "gatewayId", jc(c->base.gateway_id));
	json_object_set_new(id, "sourceIp", jc(c->base.source_ip));
	json_object_set_new(id, "userAgent", jc(c->base.user_agent));
	json_object_set_new(o, "identity", id);
	json_object_set_new(o, "connectedAt", jtime(c->base.connected_at_ns));
	json_object_set_new(o, "lastActiveAt", jtime(c->base.last_active_at_ns));
	json_object_set_new(o, "path", jc(c->path));
	json_object_set_new(o, "route", jc(c->route));
	json_object_set_new(o, "subprotocol", jc(c->subprotocol));
	for (unsigned i = 0; i < c->ngroups; i++)
		json_array_append_new(g, jc(c->groups[i]));
	json_object_set_new(o, "groups", g);
	return o;
}

/* Cluster mode: the nodes that did not answer, only when there are some
 * (a single node's answers keep their shape). */
static void missing_json(json_t *o, const struct gw_call *call)
{
	json_t *a;

	if (!call->nmissing)
		return;
	a = json_array();
	for (size_t i = 0; i < call->nmissing; i++)
		json_array_append_new(a, jc(call->missing[i]));
	json_object_set_new(o, "missingNodes", a);
}

char *gw_json_encode(const struct gw_call *call, size_t *len)
{
	json_t *o = json_object(), *a;
	char *s;

	switch (call->kind) {
	case GW_LIST:
		a = json_array();
		for (size_t i = 0; i < call->nconns; i++)
			json_array_append_new(a, conn_json(&call->conns[i]));
		json_object_set_new(o, "connections", a);
		json_object_set_new(o, "nextPageToken", json_string(call->next_token));
		break;
	case GW_COUNT:
		a = json_array();
		for (size_t i = 0; i < call->nroutes; i++) {
			json_t *r = json_object();

			json_object_set_new(r, "route", jc(call->routes[i].route));
			json_object_set_new(r, "count", json_integer(call->routes[i].count));
			json_array_append_new(a, r);
		}
		json_object_set_new(o, "total", json_integer(call->total));
		json_object_set_new(o, "byRoute", a);
		missing_json(o, call);
		break;
	case GW_SEND_MANY:
		a = json_array();
		for (size_t i = 0; i < call->nresults; i++) {
			const struct gw_send_result *r = &call->results[i];
			json_t *e = json_object();

			json_object_set_new(e, "connectionId", js(r->id.p, r->id.n));
			json_object_set_new(e, "code", json_integer(r->code));
			json_object_set_new(e, "message", jc(r->message));
			json_array_append_new(a, e);
		}
		json_object_set_new(o, "results", a);
		break;
	case GW_SEND_GROUP:
	case GW_BROADCAST:
		json_object_set_new(o, "delivered", json_integer(call->delivered));
		json_object_set_new(o, "skipped", json_integer(call->skipped));
		json_object_set_new(o, "total",
		                    json_integer((json_int_t)call->delivered + call->skipped));
		missing_json(o, call);
		break;
	default:
		break;
	}
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	*len = s ? strlen(s) : 0;
	return s;
}
