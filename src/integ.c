/* integ.c — connect / message / disconnect events to the backend
 * (shared/spec/INTEGRATIONS.md), with the cloud's X-Yc-Apigateway-Websocket-*
 * headers.
 *
 * Per connection, one message call at a time, in order; the rest wait in
 * a queue bounded by --max-inbound-queue, and a full queue stops reading
 * from the client. The state outlives its connection: messages the client
 * sent before it closed still reach the backend, then the disconnect
 * event goes, after them (handed to integ_disc.c, which retries it, and
 * the state is freed). Everything later events need from the upgrade
 * request (URL, forwarded headers and query) is computed once at connect,
 * so no request head is kept.
 */
#include "integ.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "ctx.h"
#include "err.h"
#include "integ_disc.h"
#include "integ_fn.h"
#include "integ_http.h"
#include "log.h"
#include "registry.h"
#include "spec.h"
#include "upstream.h"
#include "utf8.h"
#include "ws.h"
#include "ws_conn.h"

#define MAX_CONNECT_BODY (1u << 20)

struct pending_msg {
	struct pending_msg *next;
	uint8_t opcode;
	size_t len;
	uint8_t data[];
};

/* What a queued message costs, counted against --max-inbound-queue: its
 * payload, its node, and the allocator's header and 16-byte rounding
 * (glibc malloc; 32 bytes at least). Counting payload alone let millions
 * of empty messages through a "full" queue. */
#define MALLOC_HEADER 8
static size_t msg_cost(size_t n)
{
	size_t sz = (sizeof(struct pending_msg) + n + MALLOC_HEADER + 15) & ~(size_t)15;

	return sz < 32 ? 32 : sz;
}

/* A prepared call: the URL and the headers every call of an event gets. */
struct prepared {
	char *url;
	struct integ_head headers;
};

struct integ_state {
	struct server *srv;
	struct conn *conn; /* NULL once the connection closed */
	const struct route *route;
	struct spec *spec; /* reference: route points into it */
	char id[CONN_ID_LEN + 1];
	char accept[WS_ACCEPT_LEN + 1];
	bool opened;
	int64_t connected_at_ms;
	struct upstream_req *inflight; /* the connect or message call */
	struct pending_msg *q_head, *q_tail;
	size_t q_bytes; /* msg_cost of the queued messages */
	uint8_t *first_msg; /* connect response body, sent after the 101 */
	size_t first_len;
	uint8_t first_opcode;
	char *dummy_msg; /* a dummy message's content, placeholders filled at connect */
	size_t dummy_len;
	struct prepared msg, disc;
	bool msg_late_id; /* the http message call's URL or headers hold {…-Message-Id} */
	struct integ_fn *fn; /* function / container operations: what they keep */
	uint16_t close_code;
	char reason[WS_MAX_CONTROL_PAYLOAD];
	size_t reason_len;
	bool busy; /* inside a callback: integ_closed must not free st */
	char *auth_ctx; /* the authorizer context (AUTH_CTX_MAX at most), or NULL */
	uint64_t call_t0_ns; /* the call in flight started (loop.now_ns): its latency */
};

static uint64_t timeout_or(uint64_t v, uint64_t dflt)
{
	return v ? v : dflt;
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

static void prepared_fini(struct prepared *pr)
{
	free(pr->url);
	integ_head_free(&pr->headers);
	pr->url = NULL;
}

static void state_free(struct integ_state *st)
{
	while (st->q_head) {
		struct pending_msg *m = st->q_head;

		st->q_head = m->next;
		free(m);
	}
	prepared_fini(&st->msg);
	prepared_fini(&st->disc);
	free(st->first_msg);
	free(st->dummy_msg);
	integ_fn_free(st->fn);
	free(st->auth_ctx);
	spec_drop(st->spec);
	free(st);
}

static void integration_failed(struct integ_state *st, const char *what, const char *why)
{
	struct conn *c = st->conn;

	st->srv->stats.integration_errors++;
	log_warn_f(LOG_FIELDS(LF_STR("conn", st->id), LF_STR("route", st->route->path),
			      LF_ORIGIN("backend", st->msg.url)),
		   "%s integration failed: %s (%" PRIu64 " integration failures so far)", what, why,
		   st->srv->stats.integration_errors);
	if (!c || c->state != CONN_ST_OPEN)
		return;
	if (st->srv->cfg->integration_error_message) {
		char msg[96];
		int n = snprintf(msg, sizeof msg, "{\"error\":\"%s integration failed\"}", what);

		ws_conn_send(c, WS_OP_TEXT, (const uint8_t *)msg, (size_t)n, false);
		return;
	}
	ws_conn_close(c, WS_CLOSE_INTERNAL, "integration failed");
}

/* The connection is gone and nothing waits: report it, then free. */
static void finish(struct integ_state *st)
{
	if (st->opened && st->route->disconnect.type == INTEG_HTTP) {
		struct integ_disc_event ev = {
			.in = &st->route->disconnect,
			.spec = st->spec,
			.url = st->disc.url,
			.headers = st->disc.headers,
			.id = st->id,
			.connected_at_ms = st->connected_at_ms,
			.close_code = st->close_code,
			.reason = st->reason,
			.reason_len = st->reason_len,
		};

		st->disc.url = NULL; /* integ_disc_send owns them now */
		st->disc.headers = (struct integ_head){0};
		integ_disc_send(st->srv, &ev);
	} else if (st->opened && st->fn &&
		   (st->route->disconnect.type == INTEG_FUNCTION ||
		    st->route->disconnect.type == INTEG_CONTAINER)) {
		integ_fn_disconnect(st->fn, &st->route->disconnect, st->close_code, st->reason,
				    st->reason_len);
	}
	state_free(st);
}

/* ---- messages -------------------------------------------------------- */

/* Message ids: 16 hex digits of a strictly increasing wall-clock ns count,
 * then 8 random hex digits: unique, and they sort in time order. */
#define MESSAGE_ID_LEN 24

static void put_hex(char *out, uint64_t v, int digits)
{
	static const char hex[] = "0123456789abcdef";

	while (digits-- > 0) {
		out[digits] = hex[v & 15];
		v >>= 4;
	}
}

static void message_id(struct server *srv, char out[MESSAGE_ID_LEN + 1])
{
	uint64_t ns = (uint64_t)srv->loop.now_wall_ns;
	uint32_t r = 0;

	if (ns <= srv->last_msg_ns)
		ns = srv->last_msg_ns + 1;
	srv->last_msg_ns = ns;
	server_random(srv, (uint8_t *)&r, sizeof r);
	put_hex(out, ns, 16);
	put_hex(out + 16, r, 8);
	out[MESSAGE_ID_LEN] = '\0';
}

static void on_message_done(void *arg, const struct upstream_result *res);

/* The event header lines of a message call into h. */
static void message_lines(struct integ_state *st, struct integ_lines *h, const char *id, bool text)
{
	integ_lines_init(h);
	integ_lines_event(h, st->id, "MESSAGE", st->connected_at_ms);
	integ_lines_add(h, INTEG_HDR "Message-Id", id, MESSAGE_ID_LEN);
	integ_lines_add(h, "Content-Type", text ? "application/json" : "application/octet-stream",
			text ? 16 : 24);
}

/* A query value's placeholder was percent-encoded with the value at
 * connect: "%7BX-Yc-Apigateway-Websocket-Message-Id%7D" becomes the id in
 * place (the id, 24 bytes, is shorter). */
static void escaped_id(char *url, const char *id)
{
	static const char pat[] = "%7B" INTEG_HDR "Message-Id%7D";
	char *p;

	while ((p = strcasestr(url, pat))) {
		memcpy(p, id, MESSAGE_ID_LEN);
		memmove(p + MESSAGE_ID_LEN, p + sizeof pat - 1, strlen(p + sizeof pat - 1) + 1);
	}
}

/* A message call whose URL or headers name {X-Yc-Apigateway-Websocket-
 * Message-Id}: prepared at connect with the placeholder kept, filled now
 * with this message's id. Returns false (and reports) if it cannot start. */
static bool start_message_late(struct integ_state *st, struct upstream_call *call, const char *id,
			       bool text)
{
	struct integ_subst s = {.message_id = id};
	struct integ_lines h;
	size_t n = integ_subst(st->msg.url, &s, SUBST_URL, NULL, 0), k = 0;
	char *url = malloc(n + 1), *tmpl = NULL, *lines = NULL;
	bool ok = url != NULL;

	if (url) {
		integ_subst(st->msg.url, &s, SUBST_URL, url, n + 1);
		escaped_id(url, id);
	}
	/* the header block, "Name: value\r\n" lines, filled as one template */
	if (ok && st->msg.headers.len) {
		ok = (tmpl = malloc(st->msg.headers.len + 1)) != NULL;
		if (ok) {
			memcpy(tmpl, st->msg.headers.p, st->msg.headers.len);
			tmpl[st->msg.headers.len] = '\0';
			k = integ_subst(tmpl, &s, SUBST_HEADER, NULL, 0);
			ok = k <= INTEG_SUBST_MAX && (lines = malloc(k + 1)) != NULL;
		}
		if (ok)
			integ_subst(tmpl, &s, SUBST_HEADER, lines, k + 1);
	}
	message_lines(st, &h, id, text);
	call->url = url;
	call->lines = lines;
	call->lines_len = lines ? k : 0;
	call->extra = h.line;
	call->num_extra = h.n;
	if (ok && h.ok)
		st->inflight = upstream_start(st->srv->up, call, on_message_done, st);
	free(url);
	free(tmpl);
	free(lines);
	if (!st->inflight)
		integration_failed(st, "message", "cannot start the call");
	return st->inflight != NULL;
}

/* Starts the message call. Returns false (and reports) if it cannot. */
static bool start_message(struct integ_state *st, uint8_t opcode, const uint8_t *p, size_t n)
{
	const struct integration *in = &st->route->message;
	char id[MESSAGE_ID_LEN + 1];
	bool text = opcode == WS_OP_TEXT;
	struct integ_lines h;
	struct upstream_call call = {
		.url = st->msg.url,
		.lines = st->msg.headers.p,
		.lines_len = st->msg.headers.len,
		.method = method_of(in, "POST"),
		.body = p,
		.body_len = n,
		.connect_timeout_ms = timeout_or(in->connect_timeout_ms, INTEG_CONNECT_TIMEOUT_MS),
		.timeout_ms = timeout_or(in->read_timeout_ms, INTEG_READ_TIMEOUT_MS),
		.max_response = st->srv->cfg->max_message,
	};

	message_id(st->srv, id);
	if (in->type == INTEG_FUNCTION || in->type == INTEG_CONTAINER) {
		st->inflight = integ_fn_start(st->fn, in, FN_MESSAGE, p, n, !text, id,
					      on_message_done, st);
		if (!st->inflight)
			integration_failed(st, "message", "cannot start the call");
		return st->inflight != NULL;
	}
	if (st->msg_late_id)
		return start_message_late(st, &call, id, text);
	message_lines(st, &h, id, text);
	call.extra = h.line;
	call.num_extra = h.n;
	if (!h.ok) { /* cannot happen: the lines are short and fixed */
		integration_failed(st, "message", "headers do not fit");
		return false;
	}
	st->inflight = upstream_start(st->srv->up, &call, on_message_done, st);
	st->call_t0_ns = st->srv->loop.now_ns;
	if (!st->inflight)
		integration_failed(st, "message", "cannot start the call");
	return st->inflight != NULL;
}

static void update_backlog(struct integ_state *st)
{
	struct conn *c = st->conn;
	size_t limit = st->srv->cfg->max_inbound_queue;
	uint16_t before;

	if (!c)
		return;
	before = c->flags;
	/* Full queue: stop reading, so TCP pushes back on the client. */
	if (st->q_bytes >= limit)
		c->flags |= CONN_F_BACKLOG_FULL;
	else if (st->q_bytes <= limit / 2)
		c->flags &= (uint16_t)~CONN_F_BACKLOG_FULL;
	if (before != c->flags)
		conn_update_events(c);
}

/* Starts the next queued message; once the connection is gone and the
 * queue is empty, finishes the state. */
static void next_message(struct integ_state *st)
{
	while (!st->inflight && st->q_head) {
		struct pending_msg *m = st->q_head;

		st->q_head = m->next;
		if (!st->q_head)
			st->q_tail = NULL;
		st->q_bytes -= msg_cost(m->len);
		if (!st->srv->stopping)
			start_message(st, m->opcode, m->data, m->len);
		else /* the loop has ended: counted in the exit totals */
			st->srv->stats.msgs_abandoned++;
		free(m);
	}
	if (st->conn)
		update_backlog(st);
	else if (!st->inflight)
		finish(st);
}

static void on_message_done(void *arg, const struct upstream_result *res)
{
	struct integ_state *st = arg;
	char why[64], fwhy[256];
	struct upstream_result fres;
	struct fn_resp keep;

	res = integ_fn_result(&st->route->message, res, st->srv->cfg->max_message, &fres, &keep,
			      fwhy, sizeof fwhy);
	st->inflight = NULL;
	st->busy = true; /* sending the reply may close the connection */
	if (!st->srv->stopping)
		metrics_integ_done(&st->srv->metrics, METRICS_EV_MESSAGE, res->status,
				   st->srv->loop.now_ns - st->call_t0_ns);
	if (st->srv->stopping) {
		/* upstream_free at exit ends the call: one count in the exit
		 * totals rather than a warning per call */
		st->srv->stats.msgs_abandoned++;
	} else if (res->status == 0 || res->status >= 500) {
		if (res->status)
			snprintf(why, sizeof why, "the backend answered %ld", res->status);
		integration_failed(st, "message", res->status ? why : res->error);
	} else if (res->body_len && st->conn) {
		ws_conn_send(st->conn, opcode_for(res->content_type, res->body, res->body_len),
			     res->body, res->body_len, false);
	}
	fn_resp_free(&keep);
	st->busy = false;
	next_message(st);
}

static const struct spec_kv *dummy_content(const struct integration *in)
{
	for (size_t i = 0; i < in->num_content; i++)
		if (!strcmp(in->content[i].name, "*"))
			return &in->content[i];
	return in->num_content ? &in->content[0] : NULL;
}

static void enqueue(struct integ_state *st, uint8_t opcode, const uint8_t *p, size_t n)
{
	struct pending_msg *m = malloc(sizeof *m + n);

	if (!m) {
		integration_failed(st, "message", "out of memory queueing a message");
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
	st->q_bytes += msg_cost(n);
	update_backlog(st);
}

/* A dummy message's reply: the content filled at connect, and the
 * message id, which only a message has, filled now. */
static void dummy_message(struct integ_state *st, struct conn *c)
{
	const struct spec_kv *kv = dummy_content(&st->route->message);
	static const char mid[] = "{" INTEG_HDR "Message-Id}";
	char id[MESSAGE_ID_LEN + 1], *buf = NULL;
	const char *body = st->dummy_msg;
	size_t len = st->dummy_len;

	if (!len)
		return;
	if (strcasestr(kv->value, mid)) {
		struct integ_subst s = {.message_id = id};

		message_id(st->srv, id);
		len = integ_subst(st->dummy_msg, &s, SUBST_TEXT, NULL, 0);
		if ((buf = malloc(len + 1)))
			integ_subst(st->dummy_msg, &s, SUBST_TEXT, buf, len + 1);
		body = buf ? buf : st->dummy_msg;
		len = buf ? len : st->dummy_len;
	}
	ws_conn_send(c, opcode_for(kv->name, (const uint8_t *)body, len), (const uint8_t *)body,
		     len, false);
	free(buf);
}

void integ_message(struct conn *c, uint8_t opcode, const uint8_t *p, size_t n)
{
	struct integ_state *st = c->integ;
	const struct integration *in = st ? &st->route->message : NULL;

	if (!st || in->type == INTEG_ECHO) {
		ws_conn_send(c, opcode, p, n, false);
	} else if (in->type == INTEG_NONE) {
		/* A server-push path (no message operation): the cloud's docs call
		 * the operation mandatory, so a message here is refused, loudly. */
		log_info_f(LOG_FIELDS(LF_STR("conn", st->id), LF_STR("route", st->route->path),
				      LF_INT("code", WS_CLOSE_UNSUPPORTED)),
			   "message on %s, which has no message operation: close 1003",
			   st->route->path);
		ws_conn_close(c, WS_CLOSE_UNSUPPORTED, "no message operation on this path");
	} else if (in->type == INTEG_DUMMY) {
		dummy_message(st, c);
	} else if (st->inflight || st->q_head) {
		enqueue(st, opcode, p, n);
	} else {
		start_message(st, opcode, p, n);
	}
}

/* ---- connect --------------------------------------------------------- */

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

static void refuse_text(struct conn *c, int status, const char *text)
{
	ws_conn_refuse(c, status, NULL, NULL, (const uint8_t *)text, strlen(text));
}

static void on_connect_done(void *arg, const struct upstream_result *res)
{
	struct integ_state *st = arg;
	struct conn *c = st->conn;
	struct upstream_result fres;
	struct fn_resp keep;
	char fwhy[256];

	st->inflight = NULL;
	if (!st->srv->stopping)
		metrics_integ_done(&st->srv->metrics, METRICS_EV_CONNECT, res->status,
				   st->srv->loop.now_ns - st->call_t0_ns);
	if (!c) { /* closed while waiting (handshake timeout): never opened */
		state_free(st);
		return;
	}
	if (!(c->flags & CONN_F_WAIT_CONNECT)) {
		/* answered meanwhile (the handshake timeout's 408, a drain) and
		 * lingering: the late answer must not upgrade it, and it never
		 * opened, so no event follows */
		c->integ = NULL;
		state_free(st);
		return;
	}
	res = integ_fn_result(&st->route->connect, res, MAX_CONNECT_BODY, &fres, &keep, fwhy,
			      sizeof fwhy);
	st->busy = true;
	if (res->status == 0) {
		st->srv->stats.integration_errors++;
		log_warn_f(LOG_FIELDS(LF_STR("conn", st->id), LF_STR("route", st->route->path),
				      LF_ORIGIN("backend", st->route->connect.url)),
			   "connect integration failed: %s", res->error);
		refuse_text(c, 502, "connect integration failed\n");
	} else if (res->status < 200 || res->status > 599) {
		log_warn_f(LOG_FIELDS(LF_STR("conn", st->id), LF_STR("route", st->route->path),
				      LF_ORIGIN("backend", st->route->connect.url),
				      LF_INT("status", res->status)),
			   "connect integration answered status %ld", res->status);
		refuse_text(c, 502, "connect integration failed\n");
	} else if (res->status > 299) {
		char extra[2048]; /* the backend's own headers, e.g. WWW-Authenticate, Location */

		integ_http_refusal_headers(res->headers, res->headers ? res->headers_len : 0, extra,
					   sizeof extra);
		ws_conn_refuse(c, (int)res->status, res->content_type, extra, res->body,
			       res->body_len);
	} else if (!keep_first(st, res->content_type, res->body, res->body_len)) {
		refuse_text(c, 500, "out of memory\n");
	} else {
		ws_conn_upgrade(c, st->accept);
		/* README: X-Wsgw-Groups in the answer puts the connection in groups */
		if (c->state == CONN_ST_OPEN)
			registry_join_listed(c, res->headers, res->headers ? res->headers_len : 0);
	}
	fn_resp_free(&keep);
	st->busy = false;
	if (!st->conn) /* closed while answering */
		next_message(st);
}

static int connect_http(struct conn *c, const struct integration *in, const struct route_match *m,
			const struct http1_request *req)
{
	struct integ_state *st = c->integ;
	bool ok = true;
	struct integ_subst s = {st->route, in, m, req, c->id, "CONNECT", st->connected_at_ms, NULL,
				st->auth_ctx, conn_tls(c) ? "https" : "http"};
	char *url = integ_http_url(in, &s);
	struct integ_head h = {0};
	struct upstream_call call = {
		.url = url,
		.method = method_of(in, "GET"),
		.connect_timeout_ms = timeout_or(in->connect_timeout_ms, INTEG_CONNECT_TIMEOUT_MS),
		.timeout_ms = timeout_or(in->read_timeout_ms, INTEG_READ_TIMEOUT_MS),
		.max_response = MAX_CONNECT_BODY,
		.want_headers = true,
	};

	struct integ_lines lines;

	integ_http_headers(in, &s, c->user_agent, &h, &ok);
	integ_lines_init(&lines);
	integ_lines_event(&lines, c->id, "CONNECT", st->connected_at_ms);
	/* The client's Sec-WebSocket-Protocol is passed on, as in the cloud. */
	for (size_t i = 0; i < req->num_headers; i++)
		if (http1_str_eq_ci(req->headers[i].name, "sec-websocket-protocol"))
			integ_http_add(&h, "Sec-WebSocket-Protocol", 22, req->headers[i].value.p,
				       req->headers[i].value.len, false, &ok);
	call.lines = h.p;
	call.lines_len = h.len;
	call.extra = lines.line;
	call.num_extra = lines.n;
	if (ok && lines.ok && url)
		st->inflight = upstream_start(c->srv->up, &call, on_connect_done, st);
	st->call_t0_ns = c->srv->loop.now_ns;
	integ_head_free(&h);
	free(url);
	if (!st->inflight) {
		refuse_text(c, 500, "cannot start the connect integration\n");
		return ERR_CLOSED;
	}
	return INTEG_CONNECT_PENDING;
}

/* Content with placeholders filled, on the heap (NULL: too large or
 * ENOMEM). The cap keeps a spec's many placeholders times long handshake
 * headers from costing unbounded memory. */
static char *fill_content(const char *tmpl, const struct integ_subst *s, size_t *len)
{
	char *out;

	*len = integ_subst(tmpl, s, SUBST_TEXT, NULL, 0);
	if (*len > INTEG_SUBST_MAX || !(out = malloc(*len + 1)))
		return NULL;
	integ_subst(tmpl, s, SUBST_TEXT, out, *len + 1);
	return out;
}

static int connect_dummy(struct conn *c, const struct integration *in, const struct integ_subst *s)
{
	const struct spec_kv *kv = dummy_content(in);
	size_t len = 0;
	char *filled = kv ? fill_content(kv->value, s, &len) : NULL;
	const uint8_t *body = filled ? (const uint8_t *)filled : (const uint8_t *)"";
	int code = in->http_code ? in->http_code : 200;
	char extra[2048];
	size_t o = 0;

	if (kv && !filled) {
		refuse_text(c, 500, "dummy content too large after substitution\n");
		return ERR_CLOSED;
	}
	if (code >= 200 && code <= 299) {
		bool kept = keep_first(c->integ, kv ? kv->name : NULL, body, len);

		free(filled);
		if (kept)
			return INTEG_CONNECT_NOW;
		refuse_text(c, 500, "out of memory\n");
		return ERR_CLOSED;
	}
	extra[0] = '\0';
	for (size_t i = 0; i < in->num_http_headers && o < sizeof extra; i++)
		o += (size_t)snprintf(extra + o, sizeof extra - o, "%s: %s\r\n",
				      in->http_headers[i].name, in->http_headers[i].value);
	if (o >= sizeof extra)
		extra[0] = '\0'; /* too many to fit: send none rather than half */
	ws_conn_refuse(c, code, kv && strcmp(kv->name, "*") ? kv->name : NULL, extra, body, len);
	free(filled);
	return ERR_CLOSED;
}

static bool echo_only(const struct route *r)
{
	return (r->connect.type == INTEG_NONE || r->connect.type == INTEG_ECHO) &&
	       r->message.type == INTEG_ECHO &&
	       (r->disconnect.type == INTEG_NONE || r->disconnect.type == INTEG_ECHO);
}

/* Does an http integration's URL, a header or a query value name the
 * message id placeholder (filled per message, not at connect)? */
static bool mentions_message_id(const struct integration *in)
{
	static const char mid[] = "{" INTEG_HDR "Message-Id}";
	bool yes = in->url && strcasestr(in->url, mid);

	for (size_t i = 0; i < in->num_headers; i++)
		yes |= strcasestr(in->headers[i].value, mid) != NULL;
	for (size_t i = 0; i < in->num_query; i++)
		yes |= strcasestr(in->query[i].value, mid) != NULL;
	return yes;
}

static bool prepare(struct prepared *pr, const struct integ_subst *s, const struct conn *c)
{
	bool ok = true;

	if (s->in->type != INTEG_HTTP)
		return true;
	pr->url = integ_http_url(s->in, s);
	integ_http_headers(s->in, s, c->user_agent, &pr->headers, &ok);
	return pr->url && ok;
}

int integ_connect(struct conn *c, const struct route *route, const struct route_match *m,
		  const struct http1_request *req, const char *accept, const char *auth_ctx)
{
	struct integ_state *st;

	if (echo_only(route))
		return INTEG_CONNECT_NOW; /* no state at all: the lean path */
	st = calloc(1, sizeof *st);
	if (!st) {
		refuse_text(c, 500, "out of memory\n");
		return ERR_CLOSED;
	}
	c->integ = st;
	st->srv = c->srv;
	st->conn = c;
	st->route = route;
	st->spec = spec_hold(conn_spec(c));
	memcpy(st->id, c->id, sizeof st->id);
	memcpy(st->accept, accept, sizeof st->accept);
	st->connected_at_ms = c->srv->loop.now_wall_ns / 1000000;
	if (auth_ctx && !(st->auth_ctx = strdup(auth_ctx))) {
		refuse_text(c, 500, "out of memory\n");
		return ERR_CLOSED;
	}
	/* Everything later events need from the request, filled in now. */
	struct integ_subst sm = {route, &route->message, m, req, c->id, "MESSAGE",
				 st->connected_at_ms, NULL, st->auth_ctx,
				 conn_tls(c) ? "https" : "http"};
	struct integ_subst sd = {route, &route->disconnect, m, req, c->id, "DISCONNECT",
				 st->connected_at_ms, NULL, st->auth_ctx,
				 conn_tls(c) ? "https" : "http"};
	struct integ_subst sc = {route, &route->connect, m, req, c->id, "CONNECT",
				 st->connected_at_ms, NULL, st->auth_ctx,
				 conn_tls(c) ? "https" : "http"};
	const struct spec_kv *dm = route->message.type == INTEG_DUMMY
					   ? dummy_content(&route->message)
					   : NULL;

	if (integ_fn_used(route)) {
		char why[160];

		if (!(st->fn = integ_fn_new(c, route, m, req, why, sizeof why))) {
			log_warn("conn %s: cannot prepare the integrations of %s: %s", c->id,
				 route->path, why);
			refuse_text(c, 502, "cannot prepare the integrations\n");
			return ERR_CLOSED;
		}
	}
	st->msg_late_id = route->message.type == INTEG_HTTP && mentions_message_id(&route->message);
	if (!prepare(&st->msg, &sm, c) || !prepare(&st->disc, &sd, c) ||
	    (dm && !(st->dummy_msg = fill_content(dm->value, &sm, &st->dummy_len)))) {
		refuse_text(c, 500, "cannot prepare the integrations (out of memory, or dummy "
				    "content too large after substitution)\n");
		return ERR_CLOSED;
	}
	if (route->connect.type == INTEG_HTTP)
		return connect_http(c, &route->connect, m, req);
	if (route->connect.type == INTEG_DUMMY)
		return connect_dummy(c, &route->connect, &sc);
	if (route->connect.type == INTEG_FUNCTION || route->connect.type == INTEG_CONTAINER) {
		st->inflight = integ_fn_start(st->fn, &route->connect, FN_CONNECT, NULL, 0, false, NULL,
					      on_connect_done, st);
		if (!st->inflight) {
			refuse_text(c, 500, "cannot start the connect integration\n");
			return ERR_CLOSED;
		}
		return INTEG_CONNECT_PENDING;
	}
	return INTEG_CONNECT_NOW;
}

const char *integ_authorizer_context(const struct conn *c)
{
	return c->integ ? c->integ->auth_ctx : NULL;
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
	if (len > sizeof st->reason)
		len = sizeof st->reason;
	/* It travels as a header value: no control characters. */
	for (size_t i = 0; i < len; i++)
		st->reason[i] = reason[i] < 0x20 || reason[i] == 0x7f ? ' ' : (char)reason[i];
	st->reason_len = len;
}

void integ_closed(struct conn *c)
{
	struct integ_state *st = c->integ;

	if (!st)
		return;
	c->integ = NULL;
	st->conn = NULL;
	st->close_code = c->close_code ? c->close_code : WS_CLOSE_ABNORMAL;
	if (!st->opened && st->inflight) {
		/* the connect call: on_connect_done frees st when it ends */
		return;
	}
	if (!st->inflight && !st->busy) /* else the callback goes on with the queue */
		next_message(st);
}
