/* http1.h — push-fed HTTP/1.1 request-head parser (RFC 9112 §2-§5).
 *
 * Takes (buf, len), returns bytes consumed when the whole head (through the
 * empty line) is present, ERR_AGAIN when more bytes are needed, ERR_PROTO
 * when malformed. Output is views into buf: no allocation, no copies; valid
 * as long as buf is. The caller enforces the head-size cap.
 */
#ifndef WSGW_HTTP1_H
#define WSGW_HTTP1_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP1_MAX_HEADERS 64

struct http1_str {
	const char *p;
	size_t len;
};

struct http1_header {
	struct http1_str name;
	struct http1_str value; /* leading/trailing OWS stripped */
};

struct http1_request {
	struct http1_str method;
	struct http1_str target;
	int version_minor; /* HTTP/1.<minor>; only HTTP/1.x is accepted */
	size_t num_headers;
	struct http1_header headers[HTTP1_MAX_HEADERS];
};

/* Parses a request head. Returns:
 *  > 0        bytes consumed (request line + headers + final CRLF)
 *  ERR_AGAIN  incomplete: call again with more bytes (from the start)
 *  ERR_PROTO  malformed (bad token chars, bare CR, missing version, obs-fold,
 *             whitespace before a colon, control chars in values, ...)
 *  ERR_LIMIT  more than HTTP1_MAX_HEADERS header fields
 * Accepts bare LF as a line end, as RFC 9112 §2.2 allows. */
int http1_parse_request(const char *buf, size_t len, struct http1_request *req);

/* Case-insensitive name lookup; returns the first match or NULL. */
const struct http1_header *http1_find(const struct http1_request *req, const char *name);

/* Number of headers called `name` (case-insensitive). */
size_t http1_count(const struct http1_request *req, const char *name);

/* True when `value` is a comma-separated list (OWS around items) that
 * contains `token`, compared case-insensitively. */
bool http1_has_token(struct http1_str value, const char *token);

/* The value of a hex digit (0-9, a-f, A-F), or -1. Shared by the chunked
 * body decoder and percent-decoding. */
int http1_hex_digit(int c);

/* Case-insensitive equality of s with the NUL-terminated lit. */
bool http1_str_eq_ci(struct http1_str s, const char *lit);

#endif
