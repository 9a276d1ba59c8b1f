/* api.h — ConnectionService semantics (Get / Send / Disconnect), shared by
 * the gRPC and REST transports: one set of rules, two transports. Knows
 * nothing of HTTP/2, JSON or protobuf.
 */
#ifndef WSGW_API_H
#define WSGW_API_H

#include <stdbool.h>
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

struct api_call;
typedef void (*api_done_fn)(struct api_call *call);

/* One call in flight, embedded by its caller (a gRPC stream, a REST
 * request). The caller sets done; api_get / api_send / api_disconnect fill
 * st (and conn for Get) and call done exactly once: inline, before they
 * return, for a connection this node holds; later, from the loop, when
 * the answer comes from elsewhere (cluster mode, or a test double). conn's
 * strings are views valid only during done. A caller that goes away while
 * the call is pending calls api_call_cancel: done is then never called.
 * The id and data passed in need only live during the api_* call: a
 * registry that answers later copies what it needs. */
struct api_call {
	api_done_fn done;
	bool pending; /* started and done not yet called */
	/* Set by a registry that will complete later: drops the call (and
	 * what it holds) so done is never called. NULL when inline. */
	void (*cancel)(struct api_call *call);
	void *reg_data; /* the registry's, while pending */
	struct api_status st;
	struct api_connection conn; /* Get's result */
};

/* Start a call; see struct api_call for how it completes. */
void api_get(struct server *srv, const char *id, size_t id_len, struct api_call *call);
void api_send(struct server *srv, const char *id, size_t id_len, const uint8_t *data, size_t len,
	      int type, struct api_call *call);
void api_disconnect(struct server *srv, const char *id, size_t id_len, struct api_call *call);

/* Completes call with its st and conn as filled (registries call this). */
void api_call_complete(struct api_call *call);

/* Drops a pending call: its done is never called. Harmless when it is not
 * pending. */
void api_call_cancel(struct api_call *call);

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
