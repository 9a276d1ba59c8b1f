/* integ_fn.c — function and container calls (integ_fn.h).
 *
 * A function's events need the handshake on every call (the cloud's
 * events carry its headers), so its headers, path and query are copied
 * once at connect (bounded by --max-head) and each event's JSON is built
 * from them. A container gets the same request lines on every call, so
 * they are laid out once. Placeholders of `tag` and `context` are filled
 * at connect from the handshake, once per operation; a message's
 * {X-Yc-Apigateway-Websocket-Message-Id} is filled per message.
 * Must never: block, or send a function a JSON text that jansson did not
 * build or check.
 */
#include "integ_fn.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "ctx.h"
#include "err.h"
#include "fnmap.h"
#include "integ_disc.h"
#include "integ.h"
#include "integ_http.h"
#include "log.h"
#include "spec.h"

#define MSG_ID_PLACEHOLDER "{" INTEG_HDR "Message-Id}"

struct fn_op {
	const char *url;  /* function: where its tag is served (the config's) */
	char *tag;        /* function: the tag, placeholders filled */
	char *context;    /* the context as JSON text, placeholders filled; or NULL */
	bool late_msg_id; /* context still holds the Message-Id placeholder */
};

struct integ_fn {
	struct server *srv;
	const struct route *route;
	char id[CONN_ID_LEN + 1];
	int64_t connected_ms;
	char source_ip[64];
	bool https; /* came over wss:// */
	struct fn_op op[3]; /* connect, message, disconnect */
	struct fn_kv *headers;
	size_t num_headers;
	struct fn_kv *pparams;
	size_t num_pparams;
	char *path, *query;
	size_t path_len, query_len;
	char *container_url; /* base + the client's path and query */
	char *lines;         /* a container's forwarded header lines, each NUL-terminated */
	size_t lines_len, num_lines;
	char *copy; /* the handshake bytes the views above point into */
	const char *auth_ctx; /* requestContext.authorizer: integ_state's copy, which outlives f */
};

bool integ_fn_used(const struct route *r)
{
	const struct integration *ops[3] = {&r->connect, &r->message, &r->disconnect};

	for (int i = 0; i < 3; i++)
		if (ops[i]->type == INTEG_FUNCTION || ops[i]->type == INTEG_CONTAINER)
			return true;
	return false;
}

static int op_index(const struct route *r, const struct integration *in)
{
	return in == &r->connect ? 0 : in == &r->message ? 1 : 2;
}

/* Headers a container never gets from the handshake: hop-by-hop, the key
 * exchange, the gateway's own. */
static bool not_forwarded(struct http1_str name)
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
	                                   "content-type",
	                                   "x-yc-apigateway-operation-context"};

	for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
		if (http1_str_eq_ci(name, skip[i]))
			return true;
	return name.len >= sizeof INTEG_HDR - 1 &&
	       !strncasecmp(name.p, INTEG_HDR, sizeof INTEG_HDR - 1);
}

/* Copies the handshake's headers, path, query and path parameters. */
static bool snapshot(struct integ_fn *f, const struct route_match *m,
                     const struct http1_request *req)
{
	size_t total = req->target.len + 2, o = 0;
	const char *q;

	for (size_t i = 0; i < req->num_headers; i++)
		total += req->headers[i].name.len + req->headers[i].value.len + 2;
	for (size_t i = 0; i < m->num_params; i++)
		total += strlen(m->params[i].name) + m->params[i].value_len + 2;
	f->copy = malloc(total);
	f->headers = calloc(req->num_headers + 1, sizeof *f->headers);
	f->pparams = calloc(m->num_params + 1, sizeof *f->pparams);
	if (!f->copy || !f->headers || !f->pparams)
		return false;
#define COPY(dst, src, n) (memcpy(f->copy + o, (src), (n)), (dst) = f->copy + o, o += (n) + 1)
	for (size_t i = 0; i < req->num_headers; i++) {
		const struct http1_header *h = &req->headers[i];
		struct fn_kv *kv = &f->headers[f->num_headers++];

		COPY(kv->name, h->name.p, h->name.len);
		COPY(kv->value, h->value.p, h->value.len);
		kv->name_len = h->name.len;
		kv->value_len = h->value.len;
	}
	for (size_t i = 0; i < m->num_params; i++) {
		struct fn_kv *kv = &f->pparams[f->num_pparams++];

		kv->name_len = strlen(m->params[i].name);
		COPY(kv->name, m->params[i].name, kv->name_len);
		COPY(kv->value, m->params[i].value, m->params[i].value_len);
		kv->value_len = m->params[i].value_len;
	}
	q = memchr(req->target.p, '?', req->target.len);
	f->path_len = q ? (size_t)(q - req->target.p) : req->target.len;
	f->query_len = q ? req->target.len - f->path_len - 1 : 0;
	COPY(f->path, req->target.p, f->path_len);
	f->query = f->path + f->path_len; /* "" unless there is a query */
	if (q)
		f->query = f->path + f->path_len + 1, memcpy(f->query, q + 1, f->query_len);
#undef COPY
	return true;
}

/* A container's URL (base, then the client's path and query) and the
 * header lines every call of the connection carries. */
static bool container_lines(struct integ_fn *f, const char *base, const struct http1_request *req)
{
	size_t blen = strlen(base), total = 0;

	while (blen && base[blen - 1] == '/')
		blen--;
	if (!(f->container_url = malloc(blen + req->target.len + 1)))
		return false;
	memcpy(f->container_url, base, blen);
	memcpy(f->container_url + blen, req->target.p, req->target.len);
	f->container_url[blen + req->target.len] = '\0';
	for (size_t i = 0; i < req->num_headers; i++)
		total += req->headers[i].name.len + req->headers[i].value.len + 3;
	if (!(f->lines = malloc(total + 1)))
		return false;
	for (size_t i = 0; i < req->num_headers; i++) {
		const struct http1_header *h = &req->headers[i];

		if (not_forwarded(h->name))
			continue;
		/* "Name: value", or "Name;" for an empty value (curl's spelling);
		 * Host goes as the client sent it, as the cloud keeps it */
		f->lines_len +=
		    (size_t)sprintf(f->lines + f->lines_len, "%.*s%s%.*s", (int)h->name.len,
		                    h->name.p, h->value.len ? ": " : ";", (int)h->value.len,
		                    h->value.p) +
		    1;
		f->num_lines++;
	}
	return true;
}

/* Fills tmpl's placeholders for operation in as JSON text (NULL: none). */
static bool fill_context(struct fn_op *op, const char *tmpl, const struct integ_subst *s)
{
	size_t n = integ_subst(tmpl, s, SUBST_JSON, NULL, 0), fl;
	char *raw;

	if (n > INTEG_SUBST_MAX || !(raw = malloc(n + 1)))
		return false;
	integ_subst(tmpl, s, SUBST_JSON, raw, n + 1);
	op->context = fn_event_utf8_fix(raw, n, &fl);
	free(raw);
	op->late_msg_id = op->context && strcasestr(op->context, MSG_ID_PLACEHOLDER);
	return op->context != NULL;
}

static bool prepare_op(struct integ_fn *f, struct conn *c, const struct integration *in,
                       const struct route_match *m, const struct http1_request *req,
                       const char *event, char *why, size_t whylen)
{
	struct fn_op *op = &f->op[op_index(f->route, in)];
	struct integ_subst s = {f->route, in, m, req, c->id, event, f->connected_ms, NULL, f->auth_ctx,
				NULL /* the event carries X-Forwarded-Proto itself */};
	char tag[256];

	if (in->context && !fill_context(op, in->context, &s)) {
		snprintf(why, whylen, "context too large after substitution, or out of memory");
		return false;
	}
	if (in->type == INTEG_CONTAINER) {
		const char *base = fnmap_container(c->srv->cfg, in->target_id);

		if (!base) { /* refused at start; kept for safety */
			snprintf(why, whylen, "container %s has no --container mapping",
			         in->target_id);
			return false;
		}
		if (!f->container_url && !container_lines(f, base, req)) {
			snprintf(why, whylen, "out of memory");
			return false;
		}
		return true;
	}
	integ_subst(in->tag ? in->tag : "$latest", &s, SUBST_TEXT, tag, sizeof tag);
	op->url = fnmap_find(c->srv->cfg, in->target_id, tag);
	if (!op->url || !(op->tag = strdup(tag))) {
		snprintf(why, whylen, "function %s tag \"%.64s\" has no --function mapping",
		         in->target_id, tag);
		return false;
	}
	return true;
}

struct integ_fn *integ_fn_new(struct conn *c, const struct route *r, const struct route_match *m,
                              const struct http1_request *req, char *why, size_t whylen)
{
	struct integ_fn *f = calloc(1, sizeof *f);
	const struct integration *ops[3] = {&r->connect, &r->message, &r->disconnect};
	static const char *const events[3] = {"CONNECT", "MESSAGE", "DISCONNECT"};

	if (!f) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	f->srv = c->srv;
	f->route = r;
	memcpy(f->id, c->id, sizeof f->id);
	f->auth_ctx = integ_authorizer_context(c);
	f->connected_ms = c->srv->loop.now_wall_ns / 1000000;
	net_ip_format(&c->ip, f->source_ip, sizeof f->source_ip);
	f->https = conn_tls(c) != NULL;
	if (!snapshot(f, m, req)) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	for (int i = 0; i < 3; i++)
		if ((ops[i]->type == INTEG_FUNCTION || ops[i]->type == INTEG_CONTAINER) &&
		    !prepare_op(f, c, ops[i], m, req, events[i], why, whylen))
			goto fail;
	return f;
fail:
	integ_fn_free(f);
	return NULL;
}

void integ_fn_free(struct integ_fn *f)
{
	if (!f)
		return;
	for (int i = 0; i < 3; i++) {
		free(f->op[i].tag);
		free(f->op[i].context);
	}
	free(f->headers);
	free(f->pparams);
	free(f->copy);
	free(f->container_url);
	free(f->lines);
	free(f);
}

/* ---- calls ----------------------------------------------------------------- */

/* A version-4 UUID from the server's randomness (X-Request-Id). */
static void request_id(struct server *srv, char out[37])
{
	uint8_t b[16];
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	server_random(srv, b, sizeof b);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

/* The operation's context with a message's id filled in (heap), or the
 * context itself (*owned false). */
static char *context_for(const struct fn_op *op, const char *message_id, bool *owned)
{
	struct integ_subst s = {.message_id = message_id};
	size_t n;
	char *out;

	*owned = false;
	if (!op->context || !op->late_msg_id || !message_id)
		return op->context;
	n = integ_subst(op->context, &s, SUBST_JSON, NULL, 0);
	if (!(out = malloc(n + 1)))
		return NULL;
	integ_subst(op->context, &s, SUBST_JSON, out, n + 1);
	*owned = true;
	return out;
}

/* The event JSON for a function call (heap). */
static char *event_json(struct integ_fn *f, const struct integration *in, enum fn_event_kind kind,
                        const uint8_t *data, size_t len, bool binary, const char *message_id,
                        const char *rid, uint16_t code, const char *reason, size_t reason_len,
                        size_t *out_len)
{
	const struct fn_op *op = &f->op[op_index(f->route, in)];
	bool owned;
	char *ctx = context_for(op, message_id, &owned), *json;
	struct fn_event ev = {
	    .kind = kind,
	    .v1 = in->payload_v1,
	    .resource = f->route->path,
	    .path = f->path,
	    .path_len = f->path_len,
	    .query = f->query,
	    .query_len = f->query_len,
	    .headers = f->headers,
	    .num_headers = f->num_headers,
	    .path_params = f->pparams,
	    .num_path_params = f->num_pparams,
	    .params = in->params,
	    .num_params = in->num_params,
	    .operation_id = in->operation_id,
	    .function_id = in->target_id,
	    .gateway_id = f->srv->cfg->gateway_id,
	    .conn_id = f->id,
	    .connected_ms = f->connected_ms,
	    .now_ms = f->srv->loop.now_wall_ns / 1000000,
	    .request_id = rid,
	    .source_ip = f->source_ip,
	    .https = f->https,
	    .message_id = message_id,
	    .body = data,
	    .body_len = len,
	    .binary = binary,
	    .close_code = code,
	    .reason = reason,
	    .reason_len = reason_len,
	    .context = ctx,
	    .authorizer = f->auth_ctx,
	};

	if (op->context && !ctx)
		return NULL;
	json = fn_event_json(&ev, out_len);
	if (owned)
		free(ctx);
	return json;
}

/* The function POST's own header lines into l. */
static void function_lines(struct integ_fn *f, const struct integration *in, const char *rid,
                           struct integ_lines *l)
{
	const char *tag = f->op[op_index(f->route, in)].tag;

	integ_lines_init(l);
	integ_lines_add(l, "Content-Type", "application/json", 16);
	integ_lines_add(l, "X-Request-Id", rid, strlen(rid));
	integ_lines_add(l, "X-Serverless-Gateway-Id", f->srv->cfg->gateway_id,
	                strlen(f->srv->cfg->gateway_id));
	integ_lines_add(l, "X-Function-Id", in->target_id, strlen(in->target_id));
	integ_lines_add(l, "X-Function-Tag", tag, strlen(tag));
}

/* "X-Yc-ApiGateway-Operation-Context: <base64>" for a container (heap),
 * or NULL (none, or ENOMEM: *ok cleared). */
static char *context_line(const struct fn_op *op, const char *message_id, bool *ok)
{
	static const char name[] = "X-Yc-ApiGateway-Operation-Context: ";
	bool owned;
	char *ctx = context_for(op, message_id, &owned), *line;
	size_t n;

	if (!op->context)
		return NULL;
	if (!ctx || !(line = malloc(sizeof name + strlen(ctx) / 3 * 4 + 8))) {
		*ok = false;
		if (owned)
			free(ctx);
		return NULL;
	}
	memcpy(line, name, sizeof name - 1);
	n = strlen(ctx);
	EVP_EncodeBlock((unsigned char *)line + sizeof name - 1, (const unsigned char *)ctx,
	                (int)n);
	if (owned)
		free(ctx);
	return line;
}

static struct upstream_req *start_container(struct integ_fn *f, const struct integration *in,
                                            enum fn_event_kind kind, const uint8_t *data,
                                            size_t len, bool binary, const char *message_id,
                                            upstream_done_fn done, void *arg)
{
	const struct fn_op *op = &f->op[op_index(f->route, in)];
	const char *extra[HTTP1_MAX_HEADERS + INTEG_LINES_MAX + 2], *p = f->lines;
	struct integ_lines h;
	bool ok = true;
	char *ctx = context_line(op, message_id, &ok);
	size_t n = 0;
	struct upstream_req *r = NULL;
	struct upstream_call call = {
	    .url = f->container_url,
	    .method = kind == FN_CONNECT ? "GET" : "POST",
	    .body = data,
	    .body_len = len,
	    .connect_timeout_ms = INTEG_CONNECT_TIMEOUT_MS,
	    .timeout_ms = INTEG_READ_TIMEOUT_MS,
	    .max_response = kind == FN_CONNECT ? (1u << 20) : f->srv->cfg->max_message,
	    .want_headers = kind == FN_CONNECT,
	};

	integ_lines_init(&h);
	integ_lines_event(&h, f->id, kind == FN_CONNECT ? "CONNECT" : "MESSAGE", f->connected_ms);
	if (kind == FN_MESSAGE) {
		integ_lines_add(&h, INTEG_HDR "Message-Id", message_id, strlen(message_id));
		integ_lines_add(&h, "Content-Type",
		                binary ? "application/octet-stream" : "application/json",
		                binary ? 24 : 16);
	}
	for (size_t i = 0; i < f->num_lines; i++, p += strlen(p) + 1)
		extra[n++] = p;
	for (size_t i = 0; i < h.n; i++)
		extra[n++] = h.line[i];
	if (ctx)
		extra[n++] = ctx;
	call.extra = extra;
	call.num_extra = n;
	if (ok && h.ok)
		r = upstream_start(f->srv->up, &call, done, arg);
	free(ctx);
	return r;
}

struct upstream_req *integ_fn_start(struct integ_fn *f, const struct integration *in,
                                    enum fn_event_kind kind, const uint8_t *data, size_t len,
                                    bool binary, const char *message_id, upstream_done_fn done,
                                    void *arg)
{
	char rid[37];
	size_t jlen = 0;
	char *json;
	struct integ_lines h;
	struct upstream_req *r = NULL;
	size_t maxmsg = f->srv->cfg->max_message;

	if (in->type == INTEG_CONTAINER)
		return start_container(f, in, kind, data, len, binary, message_id, done, arg);
	request_id(f->srv, rid);
	if (!(json =
	          event_json(f, in, kind, data, len, binary, message_id, rid, 0, NULL, 0, &jlen)))
		return NULL;
	function_lines(f, in, rid, &h);
	struct upstream_call call = {
	    .url = f->op[op_index(f->route, in)].url,
	    .method = "POST",
	    .extra = h.line,
	    .num_extra = h.n,
	    .body = (const uint8_t *)json,
	    .body_len = jlen,
	    .connect_timeout_ms = INTEG_CONNECT_TIMEOUT_MS,
	    .timeout_ms = INTEG_READ_TIMEOUT_MS,
	    /* the answer is JSON around the body: base64 and escapes make it
	     * larger than the message it carries */
	    .max_response = (kind == FN_CONNECT ? (1u << 20) : maxmsg) * 2 + 65536,
	};
	if (h.ok)
		r = upstream_start(f->srv->up, &call, done, arg);
	free(json);
	return r;
}

const struct upstream_result *integ_fn_result(const struct integration *in,
                                              const struct upstream_result *res, size_t max_body,
                                              struct upstream_result *out, struct fn_resp *keep,
                                              char *why, size_t whylen)
{
	char reason[200];
	int rc;

	memset(keep, 0, sizeof *keep);
	if (in->type != INTEG_FUNCTION || res->status < 200 || res->status > 299)
		return res; /* a transport failure, or the runner's own error answer */
	rc = fn_resp_parse(res->body, res->body_len, max_body, keep, reason, sizeof reason);
	*out = (struct upstream_result){0};
	if (rc) {
		snprintf(why, whylen, "function %s answered %s", in->target_id,
		         rc == ERR_NOMEM ? "(out of memory)" : reason);
		out->error = why;
		return out;
	}
	out->status = keep->status;
	out->body = keep->body;
	out->body_len = keep->body_len;
	out->content_type = keep->content_type;
	out->headers = keep->headers;
	out->headers_len = keep->headers_len;
	return out;
}

void integ_fn_disconnect(struct integ_fn *f, const struct integration *in, uint16_t code,
                         const char *reason, size_t reason_len)
{
	struct integ_disc_event ev = {
	    .in = in,
	    .id = f->id,
	    .connected_at_ms = f->connected_ms,
	    .close_code = code,
	    .reason = reason,
	    .reason_len = reason_len,
	};
	const struct fn_op *op = &f->op[op_index(f->route, in)];
	char rid[37];
	struct integ_lines h;
	bool ok = true;
	char *ctx = NULL;

	if (in->type == INTEG_CONTAINER) {
		ev.url = strdup(f->container_url);
		ctx = context_line(op, NULL, &ok);
		ev.lines = malloc(f->lines_len + (ctx ? strlen(ctx) + 1 : 0) + 1);
		if (ev.lines) {
			memcpy(ev.lines, f->lines, f->lines_len);
			ev.num_lines = f->num_lines;
			if (ctx)
				strcpy(ev.lines + f->lines_len, ctx), ev.num_lines++;
		}
		free(ctx);
	} else {
		request_id(f->srv, rid);
		ev.url = strdup(op->url);
		ev.body = (uint8_t *)event_json(f, in, FN_DISCONNECT, NULL, 0, false, NULL, rid,
		                                code, reason, reason_len, &ev.body_len);
		ev.no_event_headers = true;
		function_lines(f, in, rid, &h);
		ok = ok && h.ok && ev.body;
		size_t total = 0;

		for (size_t i = 0; i < h.n; i++)
			total += strlen(h.line[i]) + 1;
		if ((ev.lines = malloc(total + 1))) {
			for (size_t i = 0, o = 0; i < h.n; i++)
				o += (size_t)sprintf(ev.lines + o, "%s", h.line[i]) + 1;
			ev.num_lines = h.n;
		}
	}
	if (!ok || !ev.url || !ev.lines) {
		log_warn("conn %s: disconnect event dropped: out of memory", f->id);
		f->srv->stats.integration_errors++;
		free(ev.url);
		free(ev.body);
		free(ev.lines);
		return;
	}
	integ_disc_send(f->srv, &ev);
}
