/* fn_resp.h — a cloud function's answer (functions/concepts/
 * function-invoke.md: {statusCode, headers, multiValueHeaders, body,
 * isBase64Encoded}) read into status, content type, header lines and the
 * decoded body. Pure: bytes in, heap strings out; everything that does not
 * fit the format is refused with a reason (the caller treats the function
 * as broken), never guessed at.
 */
#ifndef WSGW_FN_RESP_H
#define WSGW_FN_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FN_RESP_MAX_HEADERS 4096 /* bytes of header lines kept */

struct fn_resp {
	int status;    /* statusCode, 200 when absent */
	uint8_t *body; /* decoded body (heap, may be NULL when empty) */
	size_t body_len;
	char *content_type; /* the Content-Type header's value (heap), or NULL */
	char *headers;      /* "Name: value\r\n" lines (heap, NUL-terminated), or NULL */
	size_t headers_len;
};

/* Parses json[0..len): an object; statusCode an integer 100..599 (absent:
 * 200); headers an object of strings, multiValueHeaders an object of arrays
 * of strings (it wins over headers for the same name, compared
 * case-insensitively); names RFC 9110 tokens, values without control
 * characters; body a string or null; isBase64Encoded a boolean (true: body
 * is standard base64, padding optional). The decoded body may be at most
 * max_body bytes, the header lines FN_RESP_MAX_HEADERS. Returns 0, or
 * ERR_PROTO with why (one line); ERR_NOMEM. *out is zeroed first and, on
 * error, holds nothing to free (fn_resp_free is safe anyway). */
int fn_resp_parse(const uint8_t *json, size_t len, size_t max_body, struct fn_resp *out, char *why,
                  size_t whylen);

void fn_resp_free(struct fn_resp *r);

/* A function authorizer's answer (function-authorizer.md, "Response
 * structure"): json[0..len) an object with isAuthorized a boolean and
 * context, when present and not null, an object; other keys are ignored.
 * *authorized gets isAuthorized; *ctx the context as compact JSON text
 * (heap; NULL when absent, null or not authorized), at most ctx_max
 * bytes. Returns 0, ERR_PROTO with why (not JSON, wrong types, a context
 * over ctx_max: the authorizer is broken), or ERR_NOMEM. */
int fn_resp_authorizer(const uint8_t *json, size_t len, size_t ctx_max, bool *authorized,
                       char **ctx, char *why, size_t whylen);

/* Standard base64 (RFC 4648 §4), '=' padding optional, no blanks: into out
 * (room for n / 4 * 3 + 3 bytes). Returns the length, or -1 when s is not
 * base64. */
long fn_resp_b64_decode(const char *s, size_t n, uint8_t *out);

#endif
