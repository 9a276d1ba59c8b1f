/* http1.h — push-fed HTTP/1.1 head parsers (RFC 9112 §2-§5) and the
 * framing-field helpers shared by requests and responses (§6, §9.3).
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
#include <stdint.h>

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

struct http1_response {
	int version_minor;       /* HTTP/1.<minor>; only HTTP/1.x is accepted */
	int status;              /* 100..599 */
	struct http1_str reason; /* may be empty; carries no meaning */
	size_t num_headers;
	struct http1_header headers[HTTP1_MAX_HEADERS];
};

/* Parses a response head (status line, RFC 9112 §4, and field lines) with
 * the same contract and rules as http1_parse_request, at most max_headers
 * fields (clamped to HTTP1_MAX_HEADERS; ERR_LIMIT beyond). Also ERR_PROTO
 * for a status code outside 100..599. A missing SP and reason after the
 * code ("HTTP/1.1 200\r\n") is accepted. */
int http1_parse_response(const char *buf, size_t len, size_t max_headers,
                         struct http1_response *resp);

/* Parses field lines through the empty line that ends them (a trailer
 * section, RFC 9112 §7.1.2): returns bytes consumed, ERR_AGAIN, ERR_PROTO,
 * or ERR_LIMIT past max fields. h[0..*num) are views into buf. */
int http1_parse_fields(const char *buf, size_t len, struct http1_header *h, size_t max,
                       size_t *num);

/* Content-Length over the fields h[0..n) (RFC 9110 §8.6, RFC 9112 §6.3):
 * 1*DIGIT; several fields or a list only when every value is the same.
 * Returns 0 with *present, and *cl (saturated at UINT64_MAX) when present;
 * ERR_PROTO for an invalid or disagreeing value. */
int http1_content_length(const struct http1_header *h, size_t n, uint64_t *cl, bool *present);

/* Transfer-Encoding over h[0..n) (RFC 9112 §6.1): 1 for exactly "chunked",
 * 0 when absent, ERR_PROTO when chunked is not the final coding or is
 * repeated, ERR_LIMIT for another coding before chunked. */
int http1_transfer_encoding(const struct http1_header *h, size_t n);

/* Persistence (RFC 9112 §9.3): HTTP/1.1 unless Connection has "close";
 * HTTP/1.0 only with "keep-alive" and no "close". */
bool http1_keep_alive(const struct http1_header *h, size_t n, int version_minor);

/* Number of fields in h[0..n) called `name` (case-insensitive). */
size_t http1_fields_count(const struct http1_header *h, size_t n, const char *name);

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
