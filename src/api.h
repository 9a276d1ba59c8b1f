/* api.h — ConnectionService semantics (Get / Send / Disconnect), shared by
 * the gRPC and REST transports: one set of rules, two transports. Knows
 * nothing of HTTP/2, JSON or protobuf.
 */
#ifndef WSGW_API_H
#define WSGW_API_H

#include <stddef.h>
#include <stdint.h>

struct server;

/* gRPC status codes (the REST transport maps them to HTTP statuses). */
enum api_code {
	API_OK = 0,
	API_CANCELLED = 1,
	API_UNKNOWN = 2,
	API_INVALID_ARGUMENT = 3,
	API_DEADLINE_EXCEEDED = 4,
	API_NOT_FOUND = 5,
	API_RESOURCE_EXHAUSTED = 8,
	API_UNIMPLEMENTED = 12,
	API_INTERNAL = 13,
	API_UNAVAILABLE = 14,
	API_UNAUTHENTICATED = 16,
};

#define API_MAX_ID_LEN 50
#define API_MAX_DATA 131072
#define API_REQUEST_ID_LEN 36 /* a UUID's text: 8-4-4-4-12 lowercase hex */

enum api_data_type { API_DATA_UNSPECIFIED = 0, API_DATA_BINARY = 1, API_DATA_TEXT = 2 };

/* A status and its human-readable message (static or in msg_buf). */
struct api_status {
	enum api_code code;
	const char *message;
	char msg_buf[160];
};

/* Connection as the API shows it; strings are views valid until the next
 * call into the loop. */
struct api_connection {
	const char *id;
	const char *gateway_id;
	char source_ip[48];
	const char *user_agent; /* "" when the client sent none */
	int64_t connected_at_ns;
	int64_t last_active_at_ns;
};

/* Each returns st->code (API_OK on success) and fills *st. */
enum api_code api_get(struct server *srv, const char *id, size_t id_len, struct api_connection *out,
		      struct api_status *st);
enum api_code api_send(struct server *srv, const char *id, size_t id_len, const uint8_t *data,
		       size_t len, int type, struct api_status *st);
enum api_code api_disconnect(struct server *srv, const char *id, size_t id_len,
			     struct api_status *st);

/* Sets *st to code with a printf-style message. Returns code. */
enum api_code api_fail(struct api_status *st, enum api_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

const char *api_code_name(enum api_code code);

/* One call's ids for x-server-request-id and x-server-trace-id (and the
 * REST RequestInfo detail): two fresh random UUIDs (RFC 9562 version 4)
 * as NUL-terminated text, from the server's pooled OS randomness. */
struct api_request_ids {
	char request[API_REQUEST_ID_LEN + 1];
	char trace[API_REQUEST_ID_LEN + 1];
};
void api_request_ids(struct server *srv, struct api_request_ids *out);

/* Formats 16 bytes as a version 4 UUID into out[API_REQUEST_ID_LEN + 1]
 * (sets the version and variant bits of a copy). Pure. */
void api_uuid_format(const uint8_t raw[16], char *out);

#endif
