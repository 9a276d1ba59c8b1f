/* ws_conn.c — RFC 6455 on one connection: the opening handshake (§4.2),
 * frame-by-frame message assembly with fragmentation rules (§5.4),
 * incremental UTF-8 validation of text (§8.1), ping/pong (§5.5.2-3) and
 * the close handshake (§5.5.1, §7).
 *
 * Payload bytes are unmasked in place in the read buffer and handled as
 * they arrive, so an invalid byte fails the connection at once, even in
 * the middle of a frame. A whole single-frame message is delivered
 * straight from the read buffer; only a message that spans reads or
 * fragments is copied, into a buffer capped at --max-message. State that
 * must survive between reads lives in a struct ws_rx allocated only then.
 */
#include "ws_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "ctx.h"
#include "err.h"
#include "http1.h"
#include "integ.h"
#include "log.h"
#include "registry.h"
#include "strpool.h"
#include "utf8.h"
#include "ws.h"
#include "ws_handshake.h"

struct ws_rx {
	char *head; /* partial handshake request */
	size_t head_len;
	uint8_t hdr[WS_MAX_HEADER]; /* partial frame header */
	uint8_t hdr_len;
	bool in_frame;
	bool in_message; /* a data message has started and not finished */
	bool skip;       /* drop this frame's payload (closing) */
	uint8_t msg_opcode;
	struct ws_frame frame;
	uint64_t frame_got; /* payload bytes of the frame seen so far */
	struct utf8_state utf8;
	uint8_t *msg; /* assembled message when it spans reads or frames */
	size_t msg_len, msg_cap;
	uint8_t ctl[WS_MAX_CONTROL_PAYLOAD];
};

static bool rx_at_rest(const struct ws_rx *rx)
{
	return !rx->head && !rx->hdr_len && !rx->in_frame && !rx->in_message && !rx->msg;
}

void ws_conn_rx_free(struct ws_rx *rx)
{
	if (!rx)
		return;
	free(rx->head);
	free(rx->msg);
	free(rx);
}

static const char *status_text(int status)
{
	switch (status) {
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

/* Answers the upgrade request with status instead of 101, counted under
 * reason, and lingers until the client has it. */
static void refuse(struct conn *c, int status, const char *content_type, const char *extra,
		   const uint8_t *body, size_t len, enum metrics_refusal reason)
{
	char head[4096];
	int n;

	for (const char *p = content_type; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			content_type = NULL; /* never a control character in our head */
	n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n%s%s%s\r\n",
			 status, status_text(status),
			 content_type ? content_type : "text/plain; charset=utf-8", len,
			 status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "",
			 status == 405 ? "Allow: GET\r\n" : "", extra ? extra : "");

	if (n < 0 || (size_t)n >= sizeof head) {
		/* An outsized Content-Type or header set from a backend: the
		 * status and body still go, with nothing else. */
		n = snprintf(head, sizeof head,
			     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			     status, status_text(status), len);
	}
	c->srv->stats.handshakes_failed++;
	c->srv->metrics.refused[reason]++;
	c->flags &= (uint16_t)~CONN_F_WAIT_CONNECT;
	auth_forget(c); /* answered (a timeout, a drain): no longer waits for keys */
	if (conn_write_frame(c, (const uint8_t *)head, (size_t)n, body, len, false) == 0)
		conn_linger(c);
}

/* Every refusal that does not come through ws_conn_http_error is the
 * connect integration's (integ.c). */
void ws_conn_refuse(struct conn *c, int status, const char *content_type, const char *extra,
		    const uint8_t *body, size_t len)
{
	refuse(c, status, content_type, extra, body, len, METRICS_REFUSED_CONNECT);
}

static enum metrics_refusal refusal_of(const struct conn *c, int status)
{
	switch (status) {
	case 503:
		return c->srv->draining ? METRICS_REFUSED_DRAINING : METRICS_REFUSED_MAX_CONNECTIONS;
	case 404: return METRICS_REFUSED_NO_ROUTE;
	case 408: return METRICS_REFUSED_TIMEOUT;
	default: return status >= 500 ? METRICS_REFUSED_INTERNAL : METRICS_REFUSED_BAD_REQUEST;
	}
}

void ws_conn_http_error(struct conn *c, int status, const char *reason)
{
	char body[256];
	int n = snprintf(body, sizeof body, "%s\n", reason);

	log_debug_f(LOG_FIELDS(LF_STR("conn", c->id[0] ? c->id : NULL), LF_INT("status", status)),
		    "handshake refused: %s", reason);
	refuse(c, status, NULL, NULL, (const uint8_t *)body,
	       n > 0 && (size_t)n < sizeof body ? (size_t)n : 0, refusal_of(c, status));
}

/* 33 lowercase base32 characters from 168 random bits, like the cloud's ids. */
static int make_id(struct server *srv, char *out)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint8_t r[21];
	uint32_t acc = 0;
	int bits = 0, o = 0;

	if (server_random(srv, r, sizeof r) < 0)
		return ERR_SYS;
	/* --cluster: the node's tag first (cluster.c routes by it); the
	 * 27 characters after it still carry 135 random bits. */
	while (srv->node_tag[o])
		out[o] = srv->node_tag[o], o++;
	for (size_t i = 0; i < sizeof r && o < CONN_ID_LEN; i++) {
		acc = (acc << 8) | r[i];
		bits += 8;
		while (bits >= 5 && o < CONN_ID_LEN) {
			out[o++] = alphabet[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	out[o] = '\0';
	return 0;
}

static void set_identity(struct conn *c, const struct ws_handshake *hs)
{
	const struct config *cfg = c->srv->cfg;
	struct net_ip fwd;

	if (cfg->trust_proxy && hs->forwarded_for.len &&
	    net_ip_parse(hs->forwarded_for.p, hs->forwarded_for.len, &fwd) == 0)
		c->ip = fwd;
	if (hs->user_agent.len) {
		const char *ua = hs->user_agent.p;
		size_t n = hs->user_agent.len < cfg->max_user_agent ? hs->user_agent.len
								   : cfg->max_user_agent;
		char *masked = NULL;

		/* Cut on a code point boundary: back off continuation bytes. */
		if (n < hs->user_agent.len)
			while (n > 0 && ((uint8_t)ua[n] & 0xC0) == 0x80)
				n--;
		/* Get returns it as a proto3 string, which must be UTF-8; HTTP
		 * allows any obs-text, so mask what is not. */
		if (!utf8_is_valid((const uint8_t *)ua, n) && (masked = malloc(n))) {
			for (size_t i = 0; i < n; i++)
				masked[i] = (uint8_t)ua[i] >= 0x80 ? '?' : ua[i];
			ua = masked;
		}
		/* Shared: most clients of one deployment send the same few. */
		c->user_agent = strpool_get(&c->srv->user_agents, ua, n);
		free(masked);
	}
}

static int send_101(struct conn *c, const char *accept)
{
	const struct config *cfg = c->srv->cfg;
	char resp[512], proto[96] = "";
	int n;

	if (c->protocol >= 0)
		snprintf(proto, sizeof proto, "Sec-WebSocket-Protocol: %s\r\n",
			 cfg->protocols[c->protocol]);
	n = snprintf(resp, sizeof resp,
		     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s"
		     "X-Yc-Apigateway-Websocket-Connection-Id: %s\r\n\r\n",
		     accept, proto, c->id);
	if (conn_write_frame(c, (const uint8_t *)resp, (size_t)n, NULL, 0, false) < 0)
		return ERR_CLOSED;
	conn_set_open(c);
	c->close_by = METRICS_BY_CLIENT; /* until the gateway closes first */
	c->srv->stats.handshakes_ok++;
	log_debug_f(LOG_FIELDS(LF_STR("conn", c->id)), "open");
	integ_after_upgrade(c);
	return 0;
}

void ws_conn_upgrade(struct conn *c, const char *accept)
{
	uint8_t *early = NULL;
	size_t early_len = 0;

	c->flags &= (uint16_t)~CONN_F_WAIT_CONNECT;
	if (c->rx) { /* bytes the client sent before it saw the 101 */
		early = (uint8_t *)c->rx->head;
		early_len = c->rx->head_len;
		c->rx->head = NULL;
		c->rx->head_len = 0;
	}
	if (send_101(c, accept) == 0) {
		conn_update_events(c);
		if (early_len)
			ws_conn_on_data(c, early, early_len);
	}
	free(early);
}

/* After the authorizer: runs the connect integration, which completes the
 * upgrade now or later. Returns 0 when c is OPEN or waiting for the
 * integration. */
static int finish_upgrade(struct conn *c, const struct route *route, const struct route_match *m,
			  const struct http1_request *req, const char *accept, const char *auth_ctx)
{
	int rc = integ_connect(c, route, m, req, accept, auth_ctx);

	if (rc == INTEG_CONNECT_PENDING) {
		c->flags |= CONN_F_WAIT_CONNECT;
		conn_update_events(c);
		return 0;
	}
	if (rc < 0)
		return ERR_CLOSED;
	return send_101(c, accept);
}

/* Completes the upgrade, or hands it to the authorizer and the connect
 * integration; head[0..head_len) is the raw request, kept by an
 * authorizer that must wait for keys. Returns 0 when c is OPEN or
 * waiting. */
static int accept_upgrade(struct conn *c, const struct http1_request *req,
			  const struct ws_handshake *hs, const char *head, size_t head_len)
{
	struct route_match m;
	const struct route *route = spec_match(c->srv->spec, hs->path.p, hs->path.len, &m);
	char accept[WS_ACCEPT_LEN + 1], *auth_ctx = NULL;
	int rc;

	if (!route) {
		ws_conn_http_error(c, 404, "no WebSocket route for this path");
		return ERR_CLOSED;
	}
	/* The route stays valid while c lives, whatever a reload does: c's
	 * origin holds the spec. */
	if (registry_on_upgrade(c, hs->path.p, hs->path.len, route->path, c->srv->spec) < 0) {
		ws_conn_http_error(c, 503, "out of memory");
		return ERR_NOMEM;
	}
	if (make_id(c->srv, c->id) < 0) {
		ws_conn_http_error(c, 500, "no randomness for a connection id");
		return ERR_SYS;
	}
	set_identity(c, hs);
	c->protocol = (int8_t)hs->protocol;
	log_debug_f(LOG_FIELDS(LF_STR("conn", c->id), LF_STR("route", route->path)), "upgrading");
	ws_handshake_accept(hs->key, accept);
	rc = auth_check(c, route, req, head, head_len, accept, &auth_ctx);
	if (rc == AUTH_WAIT) { /* ws_conn_auth_done goes on */
		c->flags |= CONN_F_WAIT_CONNECT;
		conn_update_events(c);
		return 0;
	}
	if (rc < 0)
		return ERR_CLOSED;
	rc = finish_upgrade(c, route, &m, req, accept, auth_ctx);
	free(auth_ctx);
	return rc;
}

/* The upgrade request checked against the configured subprotocols. */
static int check_request(struct conn *c, const struct http1_request *req, struct ws_handshake *hs)
{
	const struct config *cfg = c->srv->cfg;
	const char *plist[CONFIG_MAX_PROTOCOLS];

	for (size_t i = 0; i < cfg->num_protocols; i++)
		plist[i] = cfg->protocols[i];
	return ws_handshake_check(req, cfg->num_protocols ? plist : NULL, cfg->num_protocols, hs);
}

void ws_conn_auth_done(struct conn *c, int status, char *auth_ctx, const char *head,
		       size_t head_len, const char *accept)
{
	struct http1_request req;
	struct ws_handshake hs;
	struct route_match m;
	const struct route *route;

	c->flags &= (uint16_t)~CONN_F_WAIT_CONNECT;
	if (status) {
		ws_conn_http_error(c, status,
				   status == 401   ? "Unauthorized"
				   : status == 403 ? "Forbidden"
						   : "authorizer failed");
	} else if (http1_parse_request(head, head_len, &req) != (int)head_len ||
		   check_request(c, &req, &hs) != 101 ||
		   !(route = spec_match(conn_spec(c), hs.path.p, hs.path.len, &m))) {
		ws_conn_http_error(c, 500, "the request changed while authorizing"); /* cannot */
	} else {
		int rc = integ_connect(c, route, &m, &req, accept, auth_ctx);

		if (rc == INTEG_CONNECT_PENDING)
			c->flags |= CONN_F_WAIT_CONNECT; /* reading stays paused */
		else if (rc == INTEG_CONNECT_NOW)
			ws_conn_upgrade(c, accept); /* with the frames sent early */
	}
	free(auth_ctx);
}

/* Parses the request head in buf. Returns bytes consumed once c is OPEN,
 * ERR_AGAIN for more, or ERR_CLOSED after an error response. */
static int handshake(struct conn *c, const char *buf, size_t len)
{
	const struct config *cfg = c->srv->cfg;
	struct http1_request req;
	struct ws_handshake hs;
	int consumed = http1_parse_request(buf, len, &req);

	if (consumed == ERR_AGAIN && len <= cfg->max_head)
		return ERR_AGAIN;
	if (consumed == ERR_AGAIN || consumed == ERR_LIMIT ||
	    (consumed > 0 && (size_t)consumed > cfg->max_head)) {
		ws_conn_http_error(c, 431, "request header too large");
		return ERR_CLOSED;
	}
	if (consumed < 0) {
		ws_conn_http_error(c, 400, "malformed HTTP request");
		return ERR_CLOSED;
	}
	if (check_request(c, &req, &hs) != 101) {
		ws_conn_http_error(c, hs.status, hs.reason);
		return ERR_CLOSED;
	}
	if ((c->flags & CONN_F_REJECT_FULL) || c->srv->draining) {
		if (!c->srv->draining) {
			c->srv->stats.rejected_full++; /* "over the connection cap" at exit */
			c->srv->ws_refusals.over_cap++;
			conn_report_refusals(c->srv);
		}
		ws_conn_http_error(c, 503, c->srv->draining ? "server is shutting down"
							     : "too many connections");
		return ERR_CLOSED;
	}
	if (accept_upgrade(c, &req, &hs, buf, (size_t)consumed) < 0)
		return ERR_CLOSED;
	return consumed;
}

static void fail(struct conn *c, uint16_t code, const char *why, bool stream_broken)
{
	log_debug_f(LOG_FIELDS(LF_STR("conn", c->id), LF_INT("code", code)), "failing with %u: %s",
		    code, why);
	c->srv->stats.closed_protocol++;
	ws_conn_close(c, code, why);
	if (stream_broken) /* frame boundaries are lost: drain and drop */
		conn_linger(c);
}

int ws_conn_send(struct conn *c, uint8_t opcode, const uint8_t *p, size_t n, bool enforce_limit)
{
	uint8_t hdr[WS_MAX_HEADER];
	size_t hl = ws_encode_header(hdr, true, opcode, n);
	int rc;

	if (c->state != CONN_ST_OPEN)
		return ERR_CLOSED;
	rc = conn_write_frame(c, hdr, hl, p, n, enforce_limit);
	if (rc == 0) {
		c->last_active_ns = c->srv->loop.now_wall_ns;
		c->srv->stats.msgs_out++;
	}
	return rc;
}

int ws_conn_send_frame(struct conn *c, struct obuf_shared *frame)
{
	int rc;

	if (c->state != CONN_ST_OPEN)
		return ERR_CLOSED;
	rc = conn_write_shared(c, frame);
	if (rc == 0) {
		c->last_active_ns = c->srv->loop.now_wall_ns;
		c->srv->stats.msgs_out++;
	}
	return rc;
}

static void send_control(struct conn *c, uint8_t opcode, const uint8_t *p, size_t n)
{
	uint8_t hdr[WS_MAX_HEADER];
	size_t hl = ws_encode_header(hdr, true, opcode, n);

	conn_write_frame(c, hdr, hl, p, n, false);
}

void ws_conn_close(struct conn *c, uint16_t code, const char *reason)
{
	uint8_t payload[WS_MAX_CONTROL_PAYLOAD];
	size_t n;

	if (c->state == CONN_ST_HANDSHAKE) {
		conn_finish(c, false);
		return;
	}
	if (c->state != CONN_ST_OPEN)
		return;
	n = ws_close_encode(payload, code, reason, strlen(reason));
	c->close_code = code;
	if (c->close_by == METRICS_BY_CLIENT) /* TIMEOUT stays: the sweep set it */
		c->close_by = METRICS_BY_SERVER;
	integ_set_close_reason(c, payload + 2, n - 2);
	send_control(c, WS_OP_CLOSE, payload, n);
	conn_set_closing(c);
}

void ws_conn_ping(struct conn *c)
{
	if (c->state != CONN_ST_OPEN)
		return;
	c->flags |= CONN_F_PING_OUT;
	send_control(c, WS_OP_PING, NULL, 0);
}

static void deliver(struct conn *c, uint8_t opcode, uint8_t *p, size_t n)
{
	c->srv->stats.msgs_in++;
	/* No integration state: an echo-only route (conn.h), which is
	 * integ_message's first case; taken here so the echo skips a call. */
	if (!c->integ)
		ws_conn_send(c, opcode, p, n, false);
	else
		integ_message(c, opcode, p, n);
}

static void on_close_frame(struct conn *c, const uint8_t *p, size_t n)
{
	uint16_t code, err;
	const uint8_t *reason;
	size_t reason_len;

	c->flags |= CONN_F_CLOSE_RECEIVED;
	if (ws_close_parse(p, n, &code, &reason, &reason_len, &err) < 0) {
		fail(c, err, err == WS_CLOSE_BAD_DATA ? "close reason is not UTF-8"
						      : "invalid close frame",
		     false);
		conn_finish(c, true);
		return;
	}
	if (c->state == CONN_ST_OPEN) {
		uint8_t echo[2] = {(uint8_t)(code >> 8), (uint8_t)code};

		/* RFC 6455 §5.5.1: answer with a close, echoing the status code. */
		c->close_code = code;
		integ_set_close_reason(c, reason, reason_len);
		send_control(c, WS_OP_CLOSE, echo, code == WS_CLOSE_NO_STATUS ? 0 : 2);
		conn_set_closing(c);
	}
	conn_finish(c, true); /* §7.1.1: the server closes TCP first */
}

static void on_control(struct conn *c, struct ws_rx *rx)
{
	size_t n = (size_t)rx->frame.payload_len;

	switch (rx->frame.opcode) {
	case WS_OP_PING:
		if (c->state == CONN_ST_OPEN) /* §5.5.3: pong with the same payload */
			send_control(c, WS_OP_PONG, rx->ctl, n);
		break;
	case WS_OP_PONG: /* unsolicited pongs are allowed and ignored */
		c->flags &= ~CONN_F_PING_OUT;
		break;
	case WS_OP_CLOSE:
		on_close_frame(c, rx->ctl, n);
		break;
	}
}

/* Checks a new frame against the message state (§5.4). Returns 0 or
 * ERR_PROTO after failing c. */
static int frame_start(struct conn *c, struct ws_rx *rx)
{
	const struct ws_frame *f = &rx->frame;
	const struct config *cfg = c->srv->cfg;

	rx->in_frame = true;
	rx->frame_got = 0;
	rx->skip = c->state != CONN_ST_OPEN && f->opcode < WS_OP_CLOSE;
	if (f->opcode >= WS_OP_CLOSE)
		return 0;
	if (f->opcode == WS_OP_CONT) {
		if (!rx->in_message) {
			fail(c, WS_CLOSE_PROTOCOL, "continuation frame without a message", true);
			return ERR_PROTO;
		}
	} else {
		if (rx->in_message) {
			fail(c, WS_CLOSE_PROTOCOL, "new message inside a fragmented message",
			     true);
			return ERR_PROTO;
		}
		rx->in_message = true;
		rx->msg_opcode = f->opcode;
		rx->msg_len = 0;
		utf8_init(&rx->utf8);
	}
	if (!rx->skip && rx->msg_len + f->payload_len > cfg->max_message) {
		fail(c, WS_CLOSE_TOO_BIG, "message too big", false);
		rx->skip = true;
	}
	return 0;
}

/* Handles p[0..n), the next payload bytes of the current frame, already
 * unmasked. */
static void payload(struct conn *c, struct ws_rx *rx, uint8_t *p, size_t n)
{
	const struct ws_frame *f = &rx->frame;
	bool whole = rx->frame_got == 0 && n == f->payload_len;

	if (f->opcode >= WS_OP_CLOSE) {
		memcpy(rx->ctl + rx->frame_got, p, n);
		return;
	}
	if (rx->skip)
		return;
	if (rx->msg_opcode == WS_OP_TEXT && !utf8_feed(&rx->utf8, p, n)) {
		fail(c, WS_CLOSE_BAD_DATA, "invalid UTF-8 in text message", false);
		rx->skip = true;
		return;
	}
	if (whole && f->fin && !rx->msg)
		return; /* delivered from the read buffer at frame end */
	if (rx->msg_len + n > rx->msg_cap) {
		/* frame_start bounded msg_len + payload by --max-message */
		size_t cap = rx->msg_cap ? rx->msg_cap : 4096;
		uint8_t *m;

		while (cap < rx->msg_len + n)
			cap *= 2;
		if (cap > c->srv->cfg->max_message)
			cap = c->srv->cfg->max_message;
		m = realloc(rx->msg, cap);
		if (!m) {
			fail(c, WS_CLOSE_INTERNAL, "out of memory", false);
			rx->skip = true;
			return;
		}
		rx->msg = m;
		rx->msg_cap = cap;
	}
	memcpy(rx->msg + rx->msg_len, p, n);
	rx->msg_len += n;
}

static void frame_end(struct conn *c, struct ws_rx *rx, uint8_t *whole_payload)
{
	const struct ws_frame *f = &rx->frame;

	rx->in_frame = false;
	if (f->opcode >= WS_OP_CLOSE) {
		on_control(c, rx);
		return;
	}
	if (!f->fin)
		return;
	rx->in_message = false;
	if (!rx->skip && rx->msg_opcode == WS_OP_TEXT && !utf8_is_complete(&rx->utf8)) {
		fail(c, WS_CLOSE_BAD_DATA, "text message ends inside a UTF-8 sequence", false);
		rx->skip = true;
	}
	if (!rx->skip) {
		if (rx->msg)
			deliver(c, rx->msg_opcode, rx->msg, rx->msg_len);
		else
			deliver(c, rx->msg_opcode, whole_payload, (size_t)f->payload_len);
	}
	free(rx->msg);
	rx->msg = NULL;
	rx->msg_len = rx->msg_cap = 0;
}

/* Parses the next header from the saved partial bytes plus p. Returns the
 * bytes of p consumed, ERR_AGAIN (all of p saved), or ERR_PROTO. */
static int next_header(struct conn *c, struct ws_rx *rx, const uint8_t *p, size_t n)
{
	uint64_t max = c->srv->cfg->max_frame;
	size_t old = rx->hdr_len, take;
	uint16_t code = 0;
	int h;

	if (old == 0) {
		h = ws_parse_header(p, n, max, &rx->frame, &code);
		if (h == ERR_AGAIN) {
			memcpy(rx->hdr, p, n);
			rx->hdr_len = (uint8_t)n;
		}
	} else {
		take = n < WS_MAX_HEADER - old ? n : WS_MAX_HEADER - old;
		memcpy(rx->hdr + old, p, take);
		h = ws_parse_header(rx->hdr, old + take, max, &rx->frame, &code);
		if (h == ERR_AGAIN)
			rx->hdr_len = (uint8_t)(old + take);
		else if (h > 0) {
			h -= (int)old;
			rx->hdr_len = 0;
		}
	}
	if (h == ERR_AGAIN || h >= 0)
		return h;
	/* Either way the frame's end is unknown (1009 may be decided before
	 * the length is complete), so the rest of the stream is dropped. */
	fail(c, code, code == WS_CLOSE_TOO_BIG ? "frame too big" : "protocol error in frame header",
	     true);
	return ERR_PROTO;
}

/* Is the frame just parsed a whole message whose payload is all in the
 * n bytes at hand? Then frame_start, payload and frame_end would only
 * check it, and whole_message does the same in one go. */
static bool is_whole_message(const struct conn *c, const struct ws_rx *rx, size_t n)
{
	const struct ws_frame *f = &rx->frame;

	return f->fin && (f->opcode == WS_OP_TEXT || f->opcode == WS_OP_BINARY) &&
	       f->payload_len <= n && c->state == CONN_ST_OPEN && !rx->in_message && !rx->msg &&
	       f->payload_len <= c->srv->cfg->max_message;
}

/* The common case: a single-frame message read whole, delivered from the
 * read buffer. The checks and failures are frame_start's, payload's and
 * frame_end's for this shape (§5.4: a new message outside any other;
 * §8.1: text is UTF-8 and ends on a code point), in the same order and
 * with the same close reasons; only no state is kept between them. */
static void whole_message(struct conn *c, const struct ws_frame *f, uint8_t *p)
{
	size_t len = (size_t)f->payload_len;
	struct utf8_state u;

	/* All ASCII: valid UTF-8 ending on a code point, nothing to check. */
	if (!ws_unmask(p, len, f->mask, 0) && f->opcode == WS_OP_TEXT) {
		utf8_init(&u);
		if (!utf8_feed(&u, p, len)) {
			fail(c, WS_CLOSE_BAD_DATA, "invalid UTF-8 in text message", false);
			return;
		}
		if (!utf8_is_complete(&u)) {
			fail(c, WS_CLOSE_BAD_DATA, "text message ends inside a UTF-8 sequence",
			     false);
			return;
		}
	}
	deliver(c, f->opcode, p, len);
}

/* Runs frames over p[0..n) while c stays open or closing. */
static void frames(struct conn *c, struct ws_rx *rx, uint8_t *p, size_t n)
{
	while (n > 0 && (c->state == CONN_ST_OPEN || c->state == CONN_ST_CLOSING) &&
	       !(c->flags & (CONN_F_DISCARD | CONN_F_CLOSE_AFTER_FLUSH))) {
		size_t take;
		uint8_t *start;

		if (!rx->in_frame) {
			int h = next_header(c, rx, p, n);

			if (h < 0)
				return; /* ERR_AGAIN: saved; ERR_PROTO: failed */
			p += h;
			n -= (size_t)h;
			if (is_whole_message(c, rx, n)) {
				take = (size_t)rx->frame.payload_len;
				whole_message(c, &rx->frame, p);
				p += take;
				n -= take;
				continue;
			}
			if (frame_start(c, rx) < 0)
				return;
		}
		start = p;
		take = rx->frame.payload_len - rx->frame_got < n
			       ? (size_t)(rx->frame.payload_len - rx->frame_got)
			       : n;
		if (take) {
			ws_unmask(p, take, rx->frame.mask, rx->frame_got);
			payload(c, rx, p, take);
			rx->frame_got += take;
			p += take;
			n -= take;
		}
		if (rx->frame_got == rx->frame.payload_len)
			frame_end(c, rx, start);
	}
}

/* Handshake bytes: the saved head plus data. Sets *used to the bytes of
 * data that belonged to the head; returns bytes consumed, ERR_AGAIN (all
 * kept) or ERR_CLOSED. */
static int head_bytes(struct conn *c, struct ws_rx *rx, uint8_t *data, size_t n, size_t *used)
{
	size_t old = rx->head_len, cap = c->srv->cfg->max_head + 1, copy;
	int consumed;
	char *grown;

	*used = 0;
	if (!old) {
		consumed = handshake(c, (const char *)data, n);
		if (consumed > 0)
			*used = (size_t)consumed;
		if (consumed != ERR_AGAIN)
			return consumed;
	}
	/* Keep at most the head cap plus one byte, enough to answer 431. */
	copy = n < cap - old ? n : cap - old;
	grown = realloc(rx->head, old + copy);
	if (!grown) {
		conn_finish(c, false);
		return ERR_CLOSED;
	}
	rx->head = grown;
	memcpy(rx->head + old, data, copy);
	rx->head_len = old + copy;
	if (!old)
		return ERR_AGAIN;
	consumed = handshake(c, rx->head, rx->head_len);
	if (consumed > 0)
		*used = (size_t)consumed - old;
	if (consumed != ERR_AGAIN) {
		free(rx->head);
		rx->head = NULL;
		rx->head_len = 0;
	}
	return consumed;
}

void ws_conn_on_data(struct conn *c, uint8_t *data, size_t n)
{
	struct ws_rx local, *rx = c->rx;

	if (!rx) {
		/* Common case: nothing pending; keep state on the stack and
		 * allocate only if something is left partial. */
		memset(&local, 0, offsetof(struct ws_rx, ctl));
		rx = &local;
	}
	if (c->state == CONN_ST_HANDSHAKE) {
		size_t used;

		if (head_bytes(c, rx, data, n, &used) < 0)
			n = used = 0;
		data += used;
		n -= used;
		if (n && (c->flags & CONN_F_WAIT_CONNECT)) {
			/* Frames before the 101: keep them for ws_conn_upgrade. */
			rx->head = malloc(n);
			if (!rx->head) {
				conn_finish(c, false);
				return;
			}
			memcpy(rx->head, data, n);
			rx->head_len = n;
			n = 0;
		}
	} else {
		c->last_rx_ms = c->srv->loop.now_ms;
		c->last_active_ns = c->srv->loop.now_wall_ns;
	}
	frames(c, rx, data, n);
	if (c->state == CONN_ST_DEAD) {
		if (rx == &local) {
			free(local.head);
			free(local.msg);
		}
		return;
	}
	if (rx == &local && !rx_at_rest(rx)) {
		c->rx = malloc(sizeof *rx);
		if (!c->rx) {
			free(local.head);
			free(local.msg);
			conn_finish(c, false);
			return;
		}
		memcpy(c->rx, &local, sizeof local);
	} else if (rx != &local && rx_at_rest(rx)) {
		ws_conn_rx_free(rx);
		c->rx = NULL;
	}
}

void ws_conn_on_closed(struct conn *c)
{
	auth_forget(c);
	integ_closed(c);
	if (!c->id[0])
		return;
	/* Refused upgrades (an id, but never a 101) are counted as refusals. */
	if (c->close_by != METRICS_BY_NONE) {
		uint16_t code = c->close_code ? c->close_code : WS_CLOSE_ABNORMAL;

		c->srv->metrics.closed[c->close_by][metrics_code_class(code)]++;
		/* RFC 6455 §7.1.5: no close frame exchanged (peer vanished,
		 * reset, close deadline) is the abnormal closure the totals
		 * count. */
		if (code == WS_CLOSE_ABNORMAL)
			c->srv->stats.closed_abnormal++;
	}
	log_debug_f(LOG_FIELDS(LF_STR("conn", c->id),
			       LF_INT("code", c->close_code ? c->close_code : WS_CLOSE_ABNORMAL)),
		    "closed with %u", c->close_code ? c->close_code : WS_CLOSE_ABNORMAL);
}
