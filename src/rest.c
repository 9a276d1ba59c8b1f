/* rest.c — the REST face of ConnectionService (shared/spec/API.md, REST):
 * routes, the bearer token, the protobuf JSON mapping (jansson) of the
 * requests and of Connection, and JSON error bodies.
 *
 * Every response gets a request id (rest_response_init); error bodies
 * carry it as a google.rpc.RequestInfo detail, as Yandex Cloud's do.
 *
 * Owns only the mapping: every rule about ids, data and connections is
 * api.c's, reached through api_get / api_send / api_disconnect, and its
 * gRPC codes are turned into HTTP statuses here. Transport-free: never
 * touches a socket or an HTTP framing detail (mgmt_h1.c and grpc.c do).
 * Implements the protobuf JSON mapping for bytes (RFC 4648 §4 and §5,
 * padding optional), enums and google.protobuf.Timestamp (RFC 3339).
 *
 * Lenient where protobuf parsers differ: unknown JSON fields are ignored
 * (some parsers reject them), null means "default", and a mix of standard
 * and URL-safe base64 characters is accepted.
 */
#include "rest.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cluster.h"
#include "ctx.h"
#include "err.h"
#include "http1.h"
#include "log.h"
#include "metrics_collect.h"
#include "gw_json.h"
#include "router.h"
#include "utf8.h"

enum rest_kind { RK_GET, RK_SEND, RK_DELETE }; /* the api call a request made */

/* ---- JSON helpers ------------------------------------------------------------ */

/* A JSON string from arbitrary bytes: jansson wants UTF-8, while ids and
 * user agents come from the network. Invalid input keeps its ASCII and
 * gets '?' for every other byte. */
static json_t *jstr(const char *p, size_t n)
{
	json_t *j;
	char *copy;

	if (utf8_is_valid((const uint8_t *)p, n))
		return json_stringn(p, n);
	copy = malloc(n ? n : 1);
	if (!copy)
		return NULL;
	for (size_t i = 0; i < n; i++)
		copy[i] = (unsigned char)p[i] < 0x80 ? p[i] : '?';
	j = json_stringn(copy, n);
	free(copy);
	return j;
}

/* Dumps and releases obj into resp (body NULL, length 0 if out of memory). */
static void take_body(struct rest_response *resp, json_t *obj)
{
	free(resp->body);
	resp->body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	resp->body_len = resp->body ? strlen(resp->body) : 0;
	json_decref(obj);
}

/* google.rpc.RequestInfo in the protobuf JSON mapping of Any; its empty
 * servingData is left out, as the mapping leaves out proto3 defaults (and
 * as Yandex Cloud's documented error bodies show it). */
static json_t *request_info(const char *request_id)
{
	json_t *d = json_object();

	if (d) {
		json_object_set_new(d, "@type", json_string("type.googleapis.com/google.rpc.RequestInfo"));
		json_object_set_new(d, "requestId", json_string(request_id));
	}
	return d;
}

void rest_error(struct rest_response *resp, int http_status, enum api_code code, const char *msg)
{
	json_t *o = json_object(), *details = json_array();

	if (details && resp->ids.request[0])
		json_array_append_new(details, request_info(resp->ids.request));
	if (o) {
		json_object_set_new(o, "code", json_integer(code));
		json_object_set_new(o, "message", jstr(msg, strlen(msg)));
		json_object_set(o, "details", details);
	}
	json_decref(details);
	resp->status = http_status;
	resp->code = code;
	take_body(resp, o);
}

void rest_response_init(struct server *srv, struct rest_response *resp)
{
	memset(resp, 0, sizeof *resp);
	resp->content_type = "application/json";
	api_request_ids(srv, &resp->ids);
}

void rest_response_fini(struct rest_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

int rest_status_of(enum api_code code)
{
	switch (code) {
	case API_OK: return 200;
	case API_CANCELLED: return 499;
	case API_UNKNOWN: return 500;
	case API_INVALID_ARGUMENT: return 400;
	case API_DEADLINE_EXCEEDED: return 504;
	case API_NOT_FOUND: return 404;
	case API_RESOURCE_EXHAUSTED: return 429;
	case API_UNIMPLEMENTED: return 501;
	case API_INTERNAL: return 500;
	case API_UNAVAILABLE: return 503;
	case API_UNAUTHENTICATED: return 401;
	}
	return 500;
}

/* ---- Timestamp and Connection ------------------------------------------------ */

void rest_timestamp(int64_t ns, char *out, size_t outlen)
{
	/* Floor division, so times before 1970 keep nanos in [0, 1e9). */
	int64_t secs = ns / 1000000000, nanos = ns % 1000000000;
	time_t t;
	struct tm tm;
	char frac[11] = "";

	if (nanos < 0) {
		nanos += 1000000000;
		secs--;
	}
	t = (time_t)secs;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, outlen, "1970-01-01T00:00:00Z");
		return;
	}
	/* protobuf JSON mapping: 0, 3, 6 or 9 fractional digits, as needed */
	if (nanos % 1000000 == 0 && nanos)
		snprintf(frac, sizeof frac, ".%03d", (int)(nanos / 1000000));
	else if (nanos % 1000 == 0 && nanos)
		snprintf(frac, sizeof frac, ".%06d", (int)(nanos / 1000));
	else if (nanos)
		snprintf(frac, sizeof frac, ".%09d", (int)nanos);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static json_t *jtime(int64_t ns)
{
	char buf[40];

	rest_timestamp(ns, buf, sizeof buf);
	return json_string(buf);
}

static json_t *jcstr(const char *s)
{
	return jstr(s, strlen(s));
}

char *rest_connection_json(const struct api_connection *c, size_t *len)
{
	json_t *o = json_object(), *id = json_object();
	char *s = NULL;

	if (o && id) {
		json_object_set_new(o, "id", jcstr(c->id));
		json_object_set_new(o, "gatewayId", jcstr(c->gateway_id));
		json_object_set_new(id, "sourceIp", jcstr(c->source_ip));
		json_object_set_new(id, "userAgent", jcstr(c->user_agent));
		json_object_set(o, "identity", id);
		json_object_set_new(o, "connectedAt", jtime(c->connected_at_ns));
		json_object_set_new(o, "lastActiveAt", jtime(c->last_active_at_ns));
		s = json_dumps(o, JSON_COMPACT);
	}
	json_decref(id);
	json_decref(o);
	*len = s ? strlen(s) : 0;
	return s;
}

/* ---- Send body --------------------------------------------------------------- */

static int fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return ERR_INVAL;
}

/* RFC 4648 §4 (standard) and §5 (URL-safe) alphabets; '=' only as the
 * padding that completes the last quantum, which may also be left out. */
static int base64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len, char *err,
			 size_t errlen)
{
	size_t pad = 0, full;
	unsigned char *tmp;
	uint8_t *dec;
	int got;

	while (pad < n && pad < 2 && s[n - 1 - pad] == '=')
		pad++;
	if (pad && n % 4)
		return fail(err, errlen, "data: base64 padding is misplaced");
	n -= pad; /* the padding is re-added below from the length alone */
	if (n % 4 == 1)
		return fail(err, errlen, "data: base64 length is impossible");
	if (n > INT_MAX - 4)
		return fail(err, errlen, "data: too long");
	full = (n + 3) / 4 * 4;
	tmp = malloc(full + 1);
	dec = malloc(full / 4 * 3 + 1);
	if (!tmp || !dec) {
		free(tmp);
		free(dec);
		return fail(err, errlen, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   (c >= '0' && c <= '9') || c == '+' || c == '/')) {
			free(tmp);
			free(dec);
			return fail(err, errlen, "data: not base64 (bad character)");
		}
		tmp[i] = (unsigned char)c;
	}
	memset(tmp + n, '=', full - n);
	got = full ? EVP_DecodeBlock(dec, tmp, (int)full) : 0;
	free(tmp);
	if (got < 0) {
		free(dec);
		return fail(err, errlen, "data: not base64");
	}
	/* EVP_DecodeBlock counts the bytes of the '=' positions as zeros. */
	*out = dec;
	*out_len = (size_t)got - (full - n);
	return 0;
}

static int parse_type(const json_t *t, int *type, char *err, size_t errlen)
{
	static const char *const names[] = {"DATA_TYPE_UNSPECIFIED", "BINARY", "TEXT"};

	if (!t || json_is_null(t)) {
		*type = API_DATA_UNSPECIFIED;
		return 0;
	}
	if (json_is_integer(t)) {
		json_int_t v = json_integer_value(t);

		if (v < API_DATA_UNSPECIFIED || v > API_DATA_TEXT)
			return fail(err, errlen, "type: unknown enum number");
		*type = (int)v;
		return 0;
	}
	if (json_is_string(t)) {
		for (int i = 0; i < 3; i++) {
			if (strcmp(json_string_value(t), names[i]) == 0) {
				*type = i;
				return 0;
			}
		}
		return fail(err, errlen,
			    "type: must be \"TEXT\", \"BINARY\" or \"DATA_TYPE_UNSPECIFIED\"");
	}
	return fail(err, errlen, "type: must be an enum name or number");
}

int rest_parse_send(const uint8_t *body, size_t len, uint8_t **data, size_t *data_len, int *type,
		    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *d;
	int rc;

	*data = NULL;
	*data_len = 0;
	root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "malformed JSON: %s (line %d, column %d)", jerr.text,
			 jerr.line, jerr.column);
		return ERR_INVAL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return fail(err, errlen, "the body must be a JSON object");
	}
	rc = parse_type(json_object_get(root, "type"), type, err, errlen);
	d = json_object_get(root, "data");
	if (rc == 0 && d && !json_is_null(d) && !json_is_string(d))
		rc = fail(err, errlen, "data: must be a base64 string");
	if (rc == 0 && d && json_is_string(d))
		rc = base64_decode(json_string_value(d), json_string_length(d), data, data_len, err,
				   errlen);
	if (rc == 0 && !*data) {
		/* absent or null: empty bytes; api.c decides whether that is allowed */
		*data = malloc(1);
		if (!*data)
			rc = fail(err, errlen, "out of memory");
	}
	json_decref(root);
	return rc;
}

/* ---- routing ----------------------------------------------------------------- */

int rest_percent_decode(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	/* RFC 3986 §2.1: "%" HEXDIG HEXDIG; '+' is a literal in a path */
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			int hi = i + 2 < len ? http1_hex_digit(s[i + 1]) : -1;
			int lo = hi >= 0 ? http1_hex_digit(s[i + 2]) : -1;

			if (lo < 0)
				return ERR_INVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o == outlen || o == INT_MAX)
			return ERR_INVAL;
		out[o++] = c;
	}
	return (int)o;
}

static bool method_is(const struct rest_request *req, const char *m)
{
	return req->method_len == strlen(m) && memcmp(req->method, m, req->method_len) == 0;
}

/* Fills resp from an api status: the mapped error, or 200 with body. */
static void finish(struct rest_response *resp, const struct api_status *st, char *ok_body,
		   size_t ok_len)
{
	if (st->code != API_OK) {
		free(ok_body);
		rest_error(resp, rest_status_of(st->code), st->code, st->message);
		return;
	}
	if (!ok_body) {
		rest_error(resp, 500, API_INTERNAL, "out of memory");
		return;
	}
	resp->status = 200;
	resp->body = ok_body;
	resp->body_len = ok_len;
}

/* The response is ready: log a failure, hand it to the transport. */
static void complete(struct rest_call *rc)
{
	struct rest_response *resp = &rc->resp;

	rc->pending = false;
	/* The request id a client quotes finds this line. The body is JSON
	 * (escaped, so safe in a log line) and short: only errors are logged. */
	if (resp->status != 200)
		log_debug_f(LOG_FIELDS(LF_STR("request_id", resp->ids.request),
				       LF_INT("status", resp->status)),
			    "rest %s: %d: %.*s", rc->method, resp->status,
			    (int)(resp->body_len > 400 ? 400 : resp->body_len),
			    resp->body ? resp->body : "");
	metrics_api_done(&rc->srv->metrics, METRICS_REST, rc->mmethod, resp->code,
			 metrics_clock_ns() - rc->t0_ns);
	rc->done(rc);
}

static void on_api_done(struct api_call *call)
{
	struct rest_call *rc = (struct rest_call *)((char *)call - offsetof(struct rest_call, api));
	char *body = NULL;
	size_t len = 2;

	if (call->st.code == API_OK)
		body = rc->kind == RK_GET ? rest_connection_json(&call->conn, &len) : strdup("{}");
	finish(&rc->resp, &call->st, body, len);
	complete(rc);
}

static void do_send(struct server *srv, const struct rest_request *req, const char *id,
		    size_t id_len, struct rest_call *rc)
{
	char err[192];
	uint8_t *data;
	size_t len;
	int type;

	if (rest_parse_send(req->body, req->body_len, &data, &len, &type, err, sizeof err) < 0) {
		free(data);
		rest_error(&rc->resp, 400, API_INVALID_ARGUMENT, err);
		complete(rc);
		return;
	}
	api_send(srv, id, id_len, data, len, type, &rc->api); /* copies what it keeps */
	free(data);
}

static void dispatch(struct server *srv, const struct rest_request *req,
		     enum router_handler r, const char *id, size_t id_len, struct rest_call *rc)
{
	rc->api.done = on_api_done;
	if (r == ROUTER_REST_SEND) {
		rc->kind = RK_SEND;
		do_send(srv, req, id, id_len, rc);
	} else if (method_is(req, "DELETE")) {
		rc->kind = RK_DELETE;
		api_disconnect(srv, id, id_len, &rc->api);
	} else {
		rc->kind = RK_GET;
		api_get(srv, id, id_len, &rc->api);
	}
}

/* A wsgw.v1 call (gw_json.c parses, gw_api.c runs): held on the heap, as
 * its results are larger than the Yandex calls' one Connection. */
struct rest_gw {
	struct gw_call call; /* first: the api_call's address is this one's */
	struct rest_call *rc;
};

static void on_gw_done(struct api_call *call)
{
	struct rest_gw *g = (struct rest_gw *)call;
	struct rest_call *rc = g->rc;
	char *body = NULL;
	size_t len = 0;

	if (call->st.code == API_OK)
		body = gw_json_encode(&g->call, &len);
	finish(&rc->resp, &call->st, body, len);
	gw_call_fini(&g->call);
	free(g);
	rc->gw = NULL;
	complete(rc);
}

static void gw_dispatch(struct server *srv, const struct rest_request *req,
			const struct router_route *r, const struct router_match *m,
			struct rest_call *rc)
{
	struct gw_json_request jr;
	char err[192];
	int status = gw_json_parse(req, r->handler, m, &jr, err, sizeof err);
	struct rest_gw *g = NULL;

	if (r->handler == ROUTER_GW_GROUPS) /* join, leave or send, from the path */
		rc->mmethod = (uint8_t)metrics_api_gw(jr.req.kind);
	if (status == 0 && !(g = calloc(1, sizeof *g))) {
		status = 500;
		snprintf(err, sizeof err, "out of memory");
	}
	if (status) {
		gw_json_request_free(&jr);
		rest_error(&rc->resp, status,
			   status == 404   ? API_NOT_FOUND
			   : status == 500 ? API_INTERNAL
					   : API_INVALID_ARGUMENT,
			   err);
		complete(rc);
		return;
	}
	g->rc = rc;
	g->call.api.done = on_gw_done;
	rc->gw = g;
	gw_start(srv, &jr.req, &g->call); /* may complete (and free g) inline */
	gw_json_request_free(&jr);
}

/* /healthz: the loop answers, so the process is alive. /readyz: 503 from
 * the moment a drain starts (the WebSocket listener is closed then), so a
 * load balancer stops sending new clients before connections close. */
static void probe(struct server *srv, enum router_handler h, struct rest_response *resp)
{
	bool ready = h == ROUTER_HEALTHZ || !srv->draining;
	char body[512], cl[400];

	free(resp->body);
	resp->status = ready ? 200 : 503;
	resp->content_type = "application/json";
	/* --cluster: the link state is shown, not judged: a node whose Redis
	 * is down still serves its own clients, and taking every node out of
	 * the load balancer at once when Redis fails would be an outage. */
	if (h == ROUTER_READYZ && srv->cluster) {
		cluster_state_json(srv, cl, sizeof cl);
		snprintf(body, sizeof body, "{\"status\":\"%s\",\"cluster\":%s}",
			 ready ? "ok" : "draining", cl);
		resp->body = strdup(body);
	} else {
		resp->body =
		    strdup(ready ? "{\"status\":\"ok\"}" : "{\"status\":\"draining\"}");
	}
	resp->body_len = resp->body ? strlen(resp->body) : 0;
}

/* GET /metrics: the text exposition format, behind --metrics-token when
 * set (scrapers are given that token, not the API's). */
static void metrics(struct server *srv, const struct rest_request *req, struct rest_response *resp)
{
	size_t len;
	char *body;

	if (!router_token_ok(srv->cfg->metrics_token, req->authorization,
			      req->authorization_len)) {
		resp->www_authenticate = true;
		rest_error(resp, 401, API_UNAUTHENTICATED,
			   "missing or invalid bearer token (--metrics-token) in authorization");
		return;
	}
	if (metrics_collect_render(srv, &body, &len) < 0) {
		rest_error(resp, 500, API_INTERNAL, "out of memory");
		return;
	}
	free(resp->body);
	resp->status = 200;
	resp->content_type = METRICS_CONTENT_TYPE;
	resp->body = body;
	resp->body_len = len;
}

/* Which method a request's answer is counted under (never /healthz,
 * /readyz or /metrics). */
static uint8_t metrics_method(const struct router_route *r, const struct rest_request *req)
{
	if (!r || r->handler == ROUTER_REST_UNKNOWN)
		return METRICS_API_OTHER;
	if (r->handler == ROUTER_REST_SEND)
		return METRICS_API_SEND;
	if (r->handler >= ROUTER_GW_LIST && r->handler <= ROUTER_GW_BROADCAST)
		return (uint8_t)metrics_api_gw(r->handler - ROUTER_GW_LIST + GW_LIST);
	if (r->handler == ROUTER_GW_GROUPS) /* its path says which: gw_dispatch */
		return METRICS_API_OTHER;
	if (r->handler != ROUTER_REST_CONN)
		return r->public ? METRICS_API_NONE : METRICS_API_OTHER;
	if (method_is(req, "GET") || method_is(req, "HEAD"))
		return METRICS_API_GET;
	return method_is(req, "DELETE") ? METRICS_API_DISCONNECT : METRICS_API_OTHER;
}

static void handle(struct server *srv, const struct rest_request *req, struct rest_call *rc)
{
	struct rest_response *resp = &rc->resp;
	struct router_match m;
	const struct router_route *r;
	char msg[160], *id;
	int id_len;

	r = router_find(req->transport ? req->transport : ROUTER_HTTP1, req->method,
			req->method_len, req->target, req->target_len, &m);
	rc->mmethod = metrics_method(r, req);
	if (!r || !r->rest || r->handler == ROUTER_REST_UNKNOWN) {
		rest_error(resp, 404, API_NOT_FOUND, "no such path (see " REST_PREFIX "{id})");
		complete(rc);
		return;
	}
	if (!m.method_ok) {
		resp->allow = r->allow;
		snprintf(msg, sizeof msg, "method %.*s is not allowed here; allowed: %s",
			 (int)(req->method_len > 16 ? 16 : req->method_len), req->method,
			 resp->allow);
		rest_error(resp, 405, API_UNIMPLEMENTED, msg);
		complete(rc);
		return;
	}
	if (!r->public && !router_token_ok(srv->auth_token, req->authorization, req->authorization_len)) {
		resp->www_authenticate = true;
		rest_error(resp, 401, API_UNAUTHENTICATED,
			   "missing or invalid bearer token in authorization");
		complete(rc);
		return;
	}
	if (r->handler == ROUTER_HEALTHZ || r->handler == ROUTER_READYZ) {
		probe(srv, r->handler, resp);
		complete(rc);
		return;
	}
	if (r->handler == ROUTER_METRICS) {
		metrics(srv, req, resp);
		complete(rc);
		return;
	}
	if (r->handler >= ROUTER_GW_LIST) {
		gw_dispatch(srv, req, r, &m, rc);
		return;
	}
	id = malloc(m.id_len + 1);
	if (!id) {
		rest_error(resp, 500, API_INTERNAL, "out of memory");
		complete(rc);
		return;
	}
	id_len = rest_percent_decode(m.id, m.id_len, id, m.id_len);
	if (id_len < 0) {
		rest_error(resp, 400, API_INVALID_ARGUMENT,
			   "connection id: bad percent-encoding (RFC 3986 §2.1)");
		complete(rc);
	} else {
		dispatch(srv, req, r->handler, id, (size_t)id_len, rc);
	}
	free(id);
}

void rest_start(struct server *srv, const struct rest_request *req, struct rest_call *rc)
{
	size_t ml = req->method_len < sizeof rc->method - 1 ? req->method_len : sizeof rc->method - 1;

	rest_response_init(srv, &rc->resp);
	rc->srv = srv;
	rc->pending = true;
	rc->t0_ns = srv->loop.now_ns;
	rc->mmethod = METRICS_API_OTHER;
	rc->gw = NULL;
	memcpy(rc->method, req->method, ml);
	rc->method[ml] = '\0';
	handle(srv, req, rc);
}

void rest_cancel(struct rest_call *rc)
{
	if (!rc->pending)
		return;
	rc->pending = false;
	api_call_cancel(&rc->api);
	if (rc->gw) {
		gw_call_cancel(&rc->gw->call);
		gw_call_fini(&rc->gw->call);
		free(rc->gw);
		rc->gw = NULL;
	}
	rest_response_fini(&rc->resp);
}

struct inline_call {
	struct rest_call rc;
	bool done;
};

static void inline_done(struct rest_call *rc)
{
	((struct inline_call *)rc)->done = true;
}

void rest_handle(struct server *srv, const struct rest_request *req, struct rest_response *resp)
{
	struct inline_call ic = {.rc.done = inline_done};

	rest_start(srv, req, &ic.rc);
	if (!ic.done) {
		rest_cancel(&ic.rc);
		rest_response_init(srv, &ic.rc.resp);
		rest_error(&ic.rc.resp, 503, API_UNAVAILABLE, "the call did not complete at once");
	}
	*resp = ic.rc.resp;
}
