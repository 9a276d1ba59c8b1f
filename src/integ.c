/* integ.c — connect / message / disconnect events to the backend
 * (shared/spec/INTEGRATIONS.md), with the cloud's X-Yc-Apigateway-Websocket-*
 * headers. Everything a later event needs from the upgrade request (URL
 * with path parameters, forwarded headers and query) is computed once at
 * connect, so no request head is kept per connection.
 */
#include "integ.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "err.h"
#include "log.h"
#include "server.h"
#include "spec.h"
#include "upstream.h"
#include "utf8.h"
#include "ws.h"
#include "ws_conn.h"

#define HDR "X-Yc-Apigateway-Websocket-"
#define CONNECT_TIMEOUT_MS 5000
#define READ_TIMEOUT_MS 30000
#define DISCONNECT_RETRIES 2
#define MAX_CONNECT_BODY (1u << 20)

struct pending_msg {
	struct pending_msg *next;
	uint8_t opcode;
	size_t len;
	uint8_t data[];
};

/* What one event's call needs beyond the per-call headers. */
struct prepared {
	char *url;
	struct curl_slist *headers; /* configured + forwarded + User-Agent */
};

struct integ_state {
	const struct route *route;
	char accept[WS_ACCEPT_LEN + 1];
	bool opened;
	int64_t connected_at_ms;
	struct upstream_req *inflight; /* connect or message call */
	struct pending_msg *q_head, *q_tail;
	size_t q_bytes;
	uint8_t *first_msg; /* connect response body, sent after the 101 */
	size_t first_len;
	uint8_t first_opcode;
	struct prepared msg, disc;
	char reason[WS_MAX_CONTROL_PAYLOAD];
	size_t reason_len;
};

/* A disconnect call outlives its connection: it owns its copies. */
struct disc_call {
	struct server *srv;
	const struct integration *in;
	char *url;
	struct curl_slist *base;
	char id[CONN_ID_LEN + 1];
	char extra[3][160];
	int tries;
};

static bool is_hop_header(struct http1_str name)
{
	static const char *const skip[] = {"host", "connection", "upgrade", "content-length",
					   "transfer-encoding", "keep-alive", "te", "trailer",
					   "proxy-authorization", "proxy-connection",
					   "sec-websocket-key", "sec-websocket-version",
					   "sec-websocket-extensions", "expect"};

	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (http1_str_eq_ci(name, skip[i]))
			return true;
	return false;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, size_t nlen,
				     const char *value, size_t vlen, bool omit_empty, bool *ok)
{
	char line[1024];
	struct curl_slist *n;

	if (!vlen && omit_empty)
		return l;
	/* "Name;" is curl's spelling of a header with an empty value */
	if (vlen)
		snprintf(line, sizeof line, "%.*s: %.*s", (int)nlen, name, (int)vlen, value);
	else
		snprintf(line, sizeof line, "%.*s;", (int)nlen, name);
	n = curl_slist_append(l, line);
	if (!n)
		*ok = false;
	return n ? n : l;
}

/* Configured headers, '*': '*' forwarding of the client's, the client's
 * User-Agent (sent by default, as in the cloud). */
static struct curl_slist *base_headers(const struct integration *in, const struct http1_request *req,
				       const struct conn *c, bool *ok)
{
	struct curl_slist *l = NULL;
	bool forward = false, has_ua = false;

	for (size_t i = 0; i < in->num_headers; i++) {
		const struct spec_kv *kv = &in->headers[i];

		if (!strcmp(kv->name, "*")) {
			forward = true;
			continue;
		}
		has_ua |= !strcasecmp(kv->name, "User-Agent");
		l = add_header(l, kv->name, strlen(kv->name), kv->value, strlen(kv->value),
			       in->omit_empty_headers, ok);
	}
	for (size_t i = 0; forward && req && i < req->num_headers; i++) {
		const struct http1_header *h = &req->headers[i];

		if (is_hop_header(h->name) || http1_str_eq_ci(h->name, "user-agent"))
			continue;
		l = add_header(l, h->name.p, h->name.len, h->value.p, h->value.len,
			       in->omit_empty_headers, ok);
	}
	if (!has_ua && c->user_agent)
		l = add_header(l, "User-Agent", 10, c->user_agent, strlen(c->user_agent), false, ok);
	return l;
}

static const char *query_of(const struct http1_request *req, size_t *len)
{
	const char *q = req ? memchr(req->target.p, '?', req->target.len) : NULL;

	*len = q ? req->target.len - (size_t)(q + 1 - req->target.p) : 0;
	return q ? q + 1 : "";
}

/* url with {param} replaced by the matched values, plus the query. Heap. */
static char *build_url(const struct integration *in, const struct route_match *m,
		       const struct http1_request *req)
{
	char buf[4096];
	size_t o = 0, qlen;
	const char *q = query_of(req, &qlen);
	char sep = strchr(in->url, '?') ? '&' : '?';

	for (const char *p = in->url; *p && o < sizeof buf - 1;) {
		const char *end = *p == '{' ? strchr(p, '}') : NULL;
		size_t i;

		for (i = 0; end && m && i < m->num_params; i++)
			if (strlen(m->params[i].name) == (size_t)(end - p - 1) &&
			    !memcmp(m->params[i].name, p + 1, (size_t)(end - p - 1)))
				break;
		if (end && m && i < m->num_params) {
			o += (size_t)snprintf(buf + o, sizeof buf - o, "%.*s",
					      (int)m->params[i].value_len, m->params[i].value);
			p = end + 1;
		} else {
			buf[o++] = *p++;
		}
	}
	for (size_t i = 0; i < in->num_query && o < sizeof buf - 1; i++) {
		const struct spec_kv *kv = &in->query[i];
		char *ev;

		if (!strcmp(kv->name, "*")) {
			if (qlen)
				o += (size_t)snprintf(buf + o, sizeof buf - o, "%c%.*s", sep, (int)qlen, q);
			sep = '&';
			continue;
		}
		if (!kv->value[0] && in->omit_empty_query)
			continue;
		ev = curl_easy_escape(NULL, kv->value, 0);
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%c%s=%s", sep, kv->name, ev ? ev : "");
		curl_free(ev);
		sep = '&';
	}
	if (o >= sizeof buf)
		o = sizeof buf - 1;
	buf[o] = '\0';
	return strdup(buf);
}

static bool prepare(struct prepared *pr, const struct integration *in, const struct route_match *m,
		    const struct http1_request *req, const struct conn *c)
{
	bool ok = true;

	if (in->type != INTEG_HTTP)
		return true;
	pr->url = build_url(in, m, req);
	pr->headers = base_headers(in, req, c, &ok);
	return pr->url && ok;
}

static void prepared_fini(struct prepared *pr)
{
	free(pr->url);
	curl_slist_free_all(pr->headers);
	pr->url = NULL;
	pr->headers = NULL;
}

static struct curl_slist *copy_list(const struct curl_slist *l, bool *ok)
{
	struct curl_slist *out = NULL, *n;

	for (; l; l = l->next) {
		n = curl_slist_append(out, l->data);
		if (!n) {
			*ok = false;
			break;
		}
		out = n;
	}
	return out;
}

static struct curl_slist *event_headers(struct curl_slist *l, const char *id, const char *event,
					int64_t connected_ms, bool *ok)
{
	char v[64];

	l = add_header(l, HDR "Connection-Id", sizeof HDR + 12, id, strlen(id), false, ok);
	l = add_header(l, HDR "Event-Type", sizeof HDR + 9, event, strlen(event), false, ok);
	snprintf(v, sizeof v, "%" PRId64, connected_ms);
	return add_header(l, HDR "Connected-At", sizeof HDR + 11, v, strlen(v), false, ok);
}

static const char *method_of(const struct integration *in, const char *dflt)
{
	return in->method ? in->method : dflt;
}

static uint8_t opcode_for(const char *content_type, const uint8_t *body, size_t len)
{
	bool text = content_type && (!strncasecmp(content_type, "application/json", 16) ||
				     !strncasecmp(content_type, "text/", 5));

	/* A text frame must be UTF-8; anything else goes as binary. */
	return text && utf8_is_valid(body, len) ? WS_OP_TEXT : WS_OP_BINARY;
}

static void integration_failed(struct conn *c, const char *what, const char *why)
{
	struct server *srv = c->srv;

	srv->stats.integration_errors++;
	log_warn("conn %s: %s integration failed: %s", c->id, what, why);
	if (srv->cfg->integration_error_message) {
		char msg[256];
		int n = snprintf(msg, sizeof msg, "{\"error\":\"%s integration failed\"}", what);

		ws_conn_send(c, WS_OP_TEXT, (const uint8_t *)msg, (size_t)n, false);
		return;
	}
	ws_conn_close(c, WS_CLOSE_INTERNAL, "integration failed");
}

static uint64_t timeout_or(uint64_t v, uint64_t dflt)
{
	return v ? v : dflt;
}

/* Message ids: 16 hex digits of a strictly increasing wall-clock ns count,
 * then 8 random hex digits, so they are unique and sort in time order. */
static void message_id(struct server *srv, char *out, size_t outlen)
{
	uint64_t ns = (uint64_t)srv->loop.now_wall_ns;
	uint32_t r = 0;

	if (ns <= srv->last_msg_ns)
		ns = srv->last_msg_ns + 1;
	srv->last_msg_ns = ns;
	server_random(srv, (uint8_t *)&r, sizeof r);
	snprintf(out, outlen, "%016" PRIx64 "%08" PRIx32, ns, r);
}

static void on_message_done(void *arg, const struct upstream_result *res);

static void start_message(struct conn *c, uint8_t opcode, const uint8_t *p, size_t n)
{
	struct integ_state *st = c->integ;
	const struct integration *in = &st->route->message;
	struct server *srv = c->srv;
	char id[32];
	bool ok = true;
	struct curl_slist *h = copy_list(st->msg.headers, &ok);
	struct upstream_call call = {
		.url = st->msg.url,
		.method = method_of(in, "POST"),
		.body = p,
		.body_len = n,
		.connect_timeout_ms = timeout_or(in->connect_timeout_ms, CONNECT_TIMEOUT_MS),
		.timeout_ms = timeout_or(in->read_timeout_ms, READ_TIMEOUT_MS),
		.max_response = srv->cfg->max_message,
	};

	message_id(srv, id, sizeof id);
	h = event_headers(h, c->id, "MESSAGE", st->connected_at_ms, &ok);
	h = add_header(h, HDR "Message-Id", sizeof HDR + 9, id, strlen(id), false, &ok);
	h = add_header(h, "Content-Type", 12,
		       opcode == WS_OP_TEXT ? "application/json" : "application/octet-stream",
		       opcode == WS_OP_TEXT ? 16 : 24, false, &ok);
	call.headers = h;
	if (!ok) {
		curl_slist_free_all(h);
		integration_failed(c, "message", "out of memory");
		return;
	}
	st->inflight = upstream_start(srv->up, &call, on_message_done, c);
	if (!st->inflight)
		integration_failed(c, "message", "cannot start the call");
}

static void update_backlog(struct conn *c)
{
	struct integ_state *st = c->integ;
	size_t limit = c->srv->cfg->max_inbound_queue;
	uint16_t before = c->flags;

	/* Full queue: stop reading, so TCP pushes back on the client. */
	if (st->q_bytes >= limit)
		c->flags |= CONN_F_BACKLOG_FULL;
	else if (st->q_bytes <= limit / 2)
		c->flags &= (uint16_t)~CONN_F_BACKLOG_FULL;
	if (before != c->flags)
		conn_update_events(c);
}

static void next_message(struct conn *c)
{
	struct integ_state *st = c->integ;
	struct pending_msg *m = st->q_head;

	if (!m || c->state != CONN_ST_OPEN)
		return;
	st->q_head = m->next;
	if (!st->q_head)
		st->q_tail = NULL;
	st->q_bytes -= m->len;
	start_message(c, m->opcode, m->data, m->len);
	free(m);
	update_backlog(c);
}

static void on_message_done(void *arg, const struct upstream_result *res)
{
	struct conn *c = arg;
	struct integ_state *st = c->integ;
	char why[96];

	st->inflight = NULL;
	if (res->status == 0 || res->status >= 500) {
		if (res->status)
			snprintf(why, sizeof why, "backend answered %ld", res->status);
		integration_failed(c, "message", res->status ? why : res->error);
	} else if (res->body_len) {
		ws_conn_send(c, opcode_for(res->content_type, res->body, res->body_len), res->body,
			     res->body_len, false);
	}
	next_message(c);
}

static const struct spec_kv *dummy_content(const struct integration *in, const char *type)
{
	const struct spec_kv *star = NULL;

	for (size_t i = 0; i < in->num_content; i++) {
		if (type && !strcasecmp(in->content[i].name, type))
			return &in->content[i];
		if (!strcmp(in->content[i].name, "*"))
			star = &in->content[i];
	}
	return star ? star : (in->num_content ? &in->content[0] : NULL);
}

void integ_message(struct conn *c, uint8_t opcode, const uint8_t *p, size_t n)
{
	struct integ_state *st = c->integ;
	const struct integration *in;
	struct pending_msg *m;

	if (!st || st->route->message.type == INTEG_ECHO) {
		ws_conn_send(c, opcode, p, n, false);
		return;
	}
	in = &st->route->message;
	if (in->type == INTEG_DUMMY) {
		const struct spec_kv *kv = dummy_content(in, NULL);

		if (kv && kv->value[0])
			ws_conn_send(c, opcode_for(kv->name, (const uint8_t *)kv->value,
						   strlen(kv->value)),
				     (const uint8_t *)kv->value, strlen(kv->value), false);
		return;
	}
	if (!st->inflight) {
		start_message(c, opcode, p, n);
		return;
	}
	m = malloc(sizeof *m + n);
	if (!m) {
		integration_failed(c, "message", "out of memory queueing a message");
		return;
	}
	m->next = NULL;
	m->opcode = opcode;
	m->len = n;
	memcpy(m->data, p, n);
	if (st->q_tail)
		st->q_tail->next = m;
	else
		st->q_head = m;
	st->q_tail = m;
	st->q_bytes += n;
	update_backlog(c);
}

static bool keep_first(struct integ_state *st, const char *type, const uint8_t *body, size_t len)
{
	if (!len)
		return true;
	st->first_msg = malloc(len);
	if (!st->first_msg)
		return false;
	memcpy(st->first_msg, body, len);
	st->first_len = len;
	st->first_opcode = opcode_for(type, body, len);
	return true;
}

static void on_connect_done(void *arg, const struct upstream_result *res)
{
	struct conn *c = arg;
	struct integ_state *st = c->integ;

	st->inflight = NULL;
	if (res->status == 0) {
		c->srv->stats.integration_errors++;
		log_warn("conn %s: connect integration failed: %s", c->id, res->error);
		ws_conn_refuse(c, 502, "text/plain; charset=utf-8",
			       (const uint8_t *)"connect integration failed\n", 27);
	} else if (res->status < 200 || res->status > 299) {
		ws_conn_refuse(c, (int)res->status, res->content_type, res->body, res->body_len);
	} else if (!keep_first(st, res->content_type, res->body, res->body_len)) {
		ws_conn_refuse(c, 500, "text/plain; charset=utf-8", (const uint8_t *)"out of memory\n",
			       14);
	} else {
		ws_conn_upgrade(c, st->accept);
	}
}

static int connect_http(struct conn *c, const struct integration *in, const struct route_match *m,
			const struct http1_request *req)
{
	struct integ_state *st = c->integ;
	bool ok = true;
	char *url = build_url(in, m, req);
	struct curl_slist *h = base_headers(in, req, c, &ok);
	struct upstream_call call = {
		.url = url,
		.method = method_of(in, "GET"),
		.connect_timeout_ms = timeout_or(in->connect_timeout_ms, CONNECT_TIMEOUT_MS),
		.timeout_ms = timeout_or(in->read_timeout_ms, READ_TIMEOUT_MS),
		.max_response = MAX_CONNECT_BODY,
	};

	h = event_headers(h, c->id, "CONNECT", st->connected_at_ms, &ok);
	/* The client's Sec-WebSocket-Protocol is passed on, as in the cloud. */
	for (size_t i = 0; i < req->num_headers; i++)
		if (http1_str_eq_ci(req->headers[i].name, "sec-websocket-protocol"))
			h = add_header(h, "Sec-WebSocket-Protocol", 22, req->headers[i].value.p,
				       req->headers[i].value.len, false, &ok);
	call.headers = h;
	if (ok && url)
		st->inflight = upstream_start(c->srv->up, &call, on_connect_done, c);
	else
		curl_slist_free_all(h);
	free(url);
	if (!st->inflight) {
		ws_conn_refuse(c, 500, "text/plain; charset=utf-8",
			       (const uint8_t *)"cannot start the connect integration\n", 37);
		return ERR_CLOSED;
	}
	return INTEG_CONNECT_PENDING;
}

static int connect_dummy(struct conn *c, const struct integration *in)
{
	const struct spec_kv *kv = dummy_content(in, NULL);
	const uint8_t *body = kv ? (const uint8_t *)kv->value : (const uint8_t *)"";
	size_t len = kv ? strlen(kv->value) : 0;
	int code = in->http_code ? in->http_code : 200;

	if (code < 200 || code > 299) {
		ws_conn_refuse(c, code, kv ? kv->name : NULL, body, len);
		return ERR_CLOSED;
	}
	if (!keep_first(c->integ, kv ? kv->name : NULL, body, len)) {
		ws_conn_refuse(c, 500, "text/plain", (const uint8_t *)"out of memory\n", 14);
		return ERR_CLOSED;
	}
	return INTEG_CONNECT_NOW;
}

static bool echo_only(const struct route *r)
{
	return (r->connect.type == INTEG_NONE || r->connect.type == INTEG_ECHO) &&
	       r->message.type == INTEG_ECHO &&
	       (r->disconnect.type == INTEG_NONE || r->disconnect.type == INTEG_ECHO);
}

int integ_connect(struct conn *c, const struct route *route, const struct route_match *m,
		  const struct http1_request *req, const char *accept)
{
	struct integ_state *st;

	if (echo_only(route))
		return INTEG_CONNECT_NOW; /* no state at all: the lean path */
	st = calloc(1, sizeof *st);
	if (!st) {
		ws_conn_refuse(c, 500, "text/plain", (const uint8_t *)"out of memory\n", 14);
		return ERR_CLOSED;
	}
	c->integ = st;
	st->route = route;
	memcpy(st->accept, accept, sizeof st->accept);
	st->connected_at_ms = c->srv->loop.now_wall_ns / 1000000;
	if (!prepare(&st->msg, &route->message, m, req, c) ||
	    !prepare(&st->disc, &route->disconnect, m, req, c)) {
		ws_conn_refuse(c, 500, "text/plain", (const uint8_t *)"out of memory\n", 14);
		return ERR_CLOSED;
	}
	if (route->connect.type == INTEG_HTTP)
		return connect_http(c, &route->connect, m, req);
	if (route->connect.type == INTEG_DUMMY)
		return connect_dummy(c, &route->connect);
	return INTEG_CONNECT_NOW;
}

void integ_after_upgrade(struct conn *c)
{
	struct integ_state *st = c->integ;

	if (!st)
		return;
	st->opened = true;
	if (st->first_msg) {
		ws_conn_send(c, st->first_opcode, st->first_msg, st->first_len, false);
		free(st->first_msg);
		st->first_msg = NULL;
	}
}

void integ_set_close_reason(struct conn *c, const uint8_t *reason, size_t len)
{
	struct integ_state *st = c->integ;

	if (!st)
		return;
	if (len > sizeof st->reason - 1)
		len = sizeof st->reason - 1;
	/* It travels as a header value: no control characters. */
	for (size_t i = 0; i < len; i++)
		st->reason[i] = reason[i] < 0x20 || reason[i] == 0x7f ? ' ' : (char)reason[i];
	st->reason_len = len;
}

static void on_disconnect_done(void *arg, const struct upstream_result *res);

static void start_disconnect(struct disc_call *dc)
{
	bool ok = true;
	struct curl_slist *h = copy_list(dc->base, &ok);
	struct upstream_call call = {
		.url = dc->url,
		.method = method_of(dc->in, "POST"),
		.connect_timeout_ms = timeout_or(dc->in->connect_timeout_ms, CONNECT_TIMEOUT_MS),
		.timeout_ms = timeout_or(dc->in->read_timeout_ms, READ_TIMEOUT_MS),
		.max_response = 64 * 1024,
	};

	for (int i = 0; i < 3; i++)
		if (dc->extra[i][0] && ok) {
			struct curl_slist *n = curl_slist_append(h, dc->extra[i]);

			ok = n != NULL;
			h = n ? n : h;
		}
	call.headers = h;
	if (ok && upstream_start(dc->srv->up, &call, on_disconnect_done, dc))
		return;
	if (!ok)
		curl_slist_free_all(h);
	log_warn("conn %s: cannot start the disconnect call", dc->id);
	on_disconnect_done(dc, &(struct upstream_result){.error = "cannot start"});
}

static void on_disconnect_done(void *arg, const struct upstream_result *res)
{
	struct disc_call *dc = arg;

	if (res->status == 0 && res->error && strcmp(res->error, "cannot start") &&
	    ++dc->tries <= DISCONNECT_RETRIES) {
		log_debug("conn %s: disconnect call failed (%s); retrying", dc->id, res->error);
		start_disconnect(dc);
		return;
	}
	if (res->status == 0 || res->status >= 500) {
		dc->srv->stats.integration_errors++;
		log_warn("conn %s: disconnect integration failed: %s", dc->id,
			 res->status ? "backend error status" : res->error);
	}
	free(dc->url);
	curl_slist_free_all(dc->base);
	free(dc);
}

static void send_disconnect(struct conn *c, struct integ_state *st)
{
	struct disc_call *dc = calloc(1, sizeof *dc);
	uint16_t code = c->close_code ? c->close_code : WS_CLOSE_ABNORMAL;
	bool ok = true;

	if (!dc) {
		log_warn("conn %s: out of memory for the disconnect call", c->id);
		return;
	}
	dc->srv = c->srv;
	dc->in = &st->route->disconnect;
	dc->url = st->disc.url;
	dc->base = event_headers(st->disc.headers, c->id, "DISCONNECT", st->connected_at_ms, &ok);
	st->disc.url = NULL; /* handed over */
	st->disc.headers = NULL;
	memcpy(dc->id, c->id, sizeof dc->id);
	snprintf(dc->extra[0], sizeof dc->extra[0], HDR "Disconnect-Status-Code: %u", code);
	if (st->reason_len)
		snprintf(dc->extra[1], sizeof dc->extra[1], HDR "Disconnect-Reason: %.*s",
			 (int)st->reason_len, st->reason);
	else
		snprintf(dc->extra[1], sizeof dc->extra[1], HDR "Disconnect-Reason;");
	start_disconnect(dc);
}

void integ_closed(struct conn *c)
{
	struct integ_state *st = c->integ;
	unsigned dropped = 0;

	if (!st)
		return;
	if (st->inflight) /* its result has no one to go to */
		upstream_detach(st->inflight);
	while (st->q_head) {
		struct pending_msg *m = st->q_head;

		st->q_head = m->next;
		free(m);
		dropped++;
	}
	if (dropped)
		log_info("conn %s: closed with %u message(s) not yet sent to the backend", c->id,
			 dropped);
	if (st->opened && st->route->disconnect.type == INTEG_HTTP)
		send_disconnect(c, st);
	prepared_fini(&st->msg);
	prepared_fini(&st->disc);
	free(st->first_msg);
	free(st);
	c->integ = NULL;
}
