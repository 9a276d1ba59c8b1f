/* integ_http.h — builds the pieces of a backend call from an http
 * integration's settings and the client's upgrade request: the URL (path
 * parameters substituted, query forwarded or configured), the headers
 * (configured, '*' forwarding, User-Agent) and the event headers. Pure:
 * strings and curl_slists in, strings and curl_slists out.
 */
#ifndef WSGW_INTEG_HTTP_H
#define WSGW_INTEG_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http1.h"
#include "spec.h"

struct curl_slist;

#define INTEG_HDR "X-Yc-Apigateway-Websocket-"

/* An http integration's timeouts when its spec gives none (README). */
#define INTEG_CONNECT_TIMEOUT_MS 5000
#define INTEG_READ_TIMEOUT_MS 30000

/* Appends "name: value" (or "name;" for an empty value, curl's spelling;
 * nothing when empty and omit_empty). Clears *ok on ENOMEM. */
struct curl_slist *integ_http_add(struct curl_slist *l, const char *name, size_t nlen,
				  const char *value, size_t vlen, bool omit_empty, bool *ok);

/* Copies tmpl into out[outlen] with each {name} of a matched path
 * parameter replaced by its value; other text is kept. Returns the length
 * (truncated to fit, NUL-terminated). */
size_t integ_http_substitute(const char *tmpl, const struct route_match *m, char *out,
			     size_t outlen);

/* The configured headers (values with path parameters substituted), the
 * client's own headers when '*': '*' is configured (hop-by-hop and
 * handshake headers left out), and User-Agent (the client's, unless
 * configured). req may be NULL. */
struct curl_slist *integ_http_headers(const struct integration *in, const struct http1_request *req,
				      const struct route_match *m, const char *user_agent, bool *ok);

/* The URL: in->url with path parameters, then the configured query
 * (values substituted and escaped) and, with '*': '*', the client's own
 * query string. Heap, NULL on ENOMEM. */
char *integ_http_url(const struct integration *in, const struct route_match *m,
		     const struct http1_request *req);

/* The header lines of a backend's refusal of a connect that go on to the
 * client: everything but framing and connection headers (Content-Length,
 * Content-Type, Transfer-Encoding, Connection, Keep-Alive, Upgrade, TE,
 * Trailer, Proxy-*, Sec-WebSocket-*), which the gateway's own answer
 * sets. raw is curl's header lines ("Name: value\r\n" each); lines that are
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

/* Adds "name: value", or "name;" for an empty value (curl's spelling). */
void integ_lines_add(struct integ_lines *l, const char *name, const char *value, size_t vlen);

/* Adds the …-Connection-Id, …-Event-Type and …-Connected-At headers. */
void integ_lines_event(struct integ_lines *l, const char *id, const char *event,
		       int64_t connected_ms);

#endif
