/* integ_http.h — builds the pieces of a backend call from an http
 * integration's settings and the client's upgrade request: the URL (path
 * parameters substituted, query forwarded or configured), the headers
 * (configured, '*' forwarding, User-Agent) and the event headers. Pure:
 * strings in, strings and header blocks out.
 */
#ifndef WSGW_INTEG_HTTP_H
#define WSGW_INTEG_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http1.h"
#include "spec.h"

#define INTEG_HDR "X-Yc-Apigateway-Websocket-"

/* An http integration's timeouts when its spec gives none (README). */
#define INTEG_CONNECT_TIMEOUT_MS 5000
#define INTEG_READ_TIMEOUT_MS 30000

/* Header lines ready for the wire, "Name: value\r\n" each ("Name:\r\n"
 * for an empty value): prepared once per connection and event, copied
 * into each call's request by upstream_start as they are. */
struct integ_head {
	char *p; /* heap, NULL while empty */
	size_t len, cap;
};

void integ_head_free(struct integ_head *h);

/* Appends "name: value" (nothing when the value is empty and omit_empty).
 * Clears *ok on ENOMEM. */
void integ_http_add(struct integ_head *h, const char *name, size_t nlen, const char *value,
		    size_t vlen, bool omit_empty, bool *ok);

/* Everything a {placeholder} of one operation can be filled from. Any
 * pointer may be NULL (nothing of that kind). */
struct integ_subst {
	const struct route *route;       /* with in: declared parameters */
	const struct integration *in;
	const struct route_match *m;     /* path parameters */
	const struct http1_request *req; /* the upgrade request */
	const char *conn_id;
	const char *event;               /* "CONNECT", "MESSAGE" or "DISCONNECT" */
	int64_t connected_ms;
	const char *message_id;          /* a message's call or reply, a dummy message's content */
	const char *authorizer_ctx;      /* the route's authorizer context (JSON) */
	const char *scheme;              /* "https" (wss://) or "http": X-Forwarded-Proto; NULL: none */
};

/* The header that carries the authorizer context to http integrations
 * (wsgw's name: the cloud's is not public). Never taken from the client. */
#define INTEG_AUTH_CTX_HDR "X-Yc-Apigateway-Authorizer-Context"

/* The most a filled-in header value or dummy content may grow to; more
 * fails the connect (500) rather than sending a cut-short value. */
#define INTEG_SUBST_MAX (1u << 20)

/* How a value is written where it lands. */
enum integ_subst_mode {
	SUBST_TEXT,   /* as it is (dummy content, query values before escaping) */
	SUBST_HEADER, /* control characters left out */
	SUBST_URL,    /* percent-encoded, but path parameters go as captured */
	SUBST_JSON,   /* the inside of a JSON string: '"', '\\' and control
		       * characters escaped (bytes that are not UTF-8 are the
		       * caller's to replace) */
};

/* Writes tmpl into out[outlen] (NUL-terminated, cut short to fit) with
 * each {name} replaced, in this order of precedence, by: a path
 * parameter; the gateway's X-Yc-Apigateway-Websocket-Connection-Id,
 * -Event-Type, -Connected-At (and -Message-Id when s->message_id); a
 * declared query, header or cookie parameter (percent-decoded; "" when
 * the request lacks it); undeclared, a handshake header of that name
 * (never one of the gateway's X-Yc-Apigateway-Websocket-* names). Any
 * other {name} and text that is no placeholder is kept. Returns the length
 * the whole result needs, like snprintf; out may be NULL when outlen is 0. */
size_t integ_subst(const char *tmpl, const struct integ_subst *s, enum integ_subst_mode mode,
		   char *out, size_t outlen);

/* Path parameters only, as text: integ_subst with {.m = m}. Returns the
 * length written. */
size_t integ_http_substitute(const char *tmpl, const struct route_match *m, char *out,
			     size_t outlen);

/* Is name one of the headers the gateway itself adds to an event's call
 * (so a spec header of that name is replaced, not doubled)? */
bool integ_http_is_event_header(const char *event, const char *name, size_t len);

/* The configured headers (values substituted), the client's own headers
 * when '*': '*' is configured (hop-by-hop, handshake and the gateway's
 * X-Yc-Apigateway-Websocket-* and INTEG_AUTH_CTX_HDR headers left out),
 * User-Agent (the client's, unless configured), and INTEG_AUTH_CTX_HDR
 * with s->authorizer_ctx when set (replacing a configured one). A configured header that the gateway adds
 * itself for s->event is left out: the gateway's value replaces it. A
 * filled-in value longer than INTEG_SUBST_MAX clears *ok. */
void integ_http_headers(const struct integration *in, const struct integ_subst *s,
			const char *user_agent, struct integ_head *out, bool *ok);

/* The URL: in->url substituted (SUBST_URL), then the configured query
 * (values substituted and escaped) and, with '*': '*', the client's own
 * query string (from s->req). Heap, NULL on ENOMEM. */
char *integ_http_url(const struct integration *in, const struct integ_subst *s);

/* The header lines of a backend's refusal of a connect that go on to the
 * client: everything but framing and connection headers (Content-Length,
 * Content-Type, Transfer-Encoding, Connection, Keep-Alive, Upgrade, TE,
 * Trailer, Proxy-*, Sec-WebSocket-*), which the gateway's own answer
 * sets. raw is the response's header lines ("Name: value\r\n" each); lines that are
 * malformed (no name, a control character, an obs-fold continuation) are
 * left out, and only whole lines that fit out[outlen] are kept. Returns
 * the length written; out is NUL-terminated. */
size_t integ_http_refusal_headers(const char *raw, size_t len, char *out, size_t outlen);

/* Per-call header lines, formatted into a fixed buffer (no allocation):
 * the event headers and the few that differ between calls. */
#define INTEG_LINES_MAX 8
struct integ_lines {
	const char *line[INTEG_LINES_MAX];
	size_t n, used;
	bool ok; /* false once a line did not fit */
	char buf[1024];
};

void integ_lines_init(struct integ_lines *l);

/* Adds "name: value", or "name;" for an empty value (the spelling
 * upstream_call.extra takes for it). */
void integ_lines_add(struct integ_lines *l, const char *name, const char *value, size_t vlen);

/* Adds the …-Connection-Id, …-Event-Type and …-Connected-At headers. */
void integ_lines_event(struct integ_lines *l, const char *id, const char *event,
		       int64_t connected_ms);

#endif
