/* rest.h — the REST face of ConnectionService (shared/spec/API.md, REST):
 * routes, protobuf-JSON mapping (jansson) and error bodies, on top of api.c.
 * Transport-free: HTTP/1.1 (mgmt_h1.c) and HTTP/2 (grpc.c) both call
 * rest_handle with a complete request and write the response it fills.
 */
#ifndef WSGW_REST_H
#define WSGW_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

#define REST_PREFIX "/apigateways/websocket/v1/connections/"

struct server;

struct rest_request {
	const char *method; /* "GET", "POST", "DELETE", "HEAD", ... */
	size_t method_len;
	const char *target; /* raw request target, query string included */
	size_t target_len;
	const char *authorization; /* NULL when absent */
	size_t authorization_len;
	const uint8_t *body;
	size_t body_len;
	unsigned transport; /* enum router_transport; 0: HTTP/1.1 */
};

struct rest_response {
	int status;           /* HTTP status */
	const char *content_type; /* static; "application/json" */
	const char *allow;    /* "GET, HEAD, DELETE" etc. for 405, else NULL */
	bool www_authenticate; /* 401: add "WWW-Authenticate: Bearer" */
	char *body;           /* JSON, heap (rest_response_fini frees) */
	size_t body_len;      /* for HEAD the transport sends headers only */
	/* x-server-request-id / x-server-trace-id of this response ("" when
	 * unset: no header, and error bodies carry no RequestInfo). */
	struct api_request_ids ids;
	enum api_code code;   /* the gRPC code of the answer (rest_error's; OK for 200) */
};

/* Zeroes resp and gives it a fresh request id: every response a
 * transport sends starts here (rest_handle calls it itself). */
void rest_response_init(struct server *srv, struct rest_response *resp);

struct rest_call;
struct rest_gw;
typedef void (*rest_done_fn)(struct rest_call *rc);

/* One REST request in flight, embedded by the transport. rest_start fills
 * resp and calls done exactly once: inline before it returns (errors, and
 * connections this node holds), or later from the loop (api_call). The
 * transport writes resp in done, then rest_response_fini. A transport that
 * goes away first calls rest_cancel: done is then never called. */
struct rest_call {
	rest_done_fn done;
	struct server *srv;
	struct rest_response resp;
	bool pending;
	uint8_t kind;    /* rest.c's: which api call is under way */
	char method[17]; /* for the log line */
	uint8_t mmethod; /* enum metrics_api_method the answer is counted under */
	uint64_t t0_ns;  /* started (loop.now_ns): the latency metric */
	struct api_call api;
	struct rest_gw *gw; /* a wsgw.v1 call under way (rest.c, heap) */
};

/* Starts one request (see rest_handle for what it does); req and its
 * buffers need only live during the call. */
void rest_start(struct server *srv, const struct rest_request *req, struct rest_call *rc);
void rest_cancel(struct rest_call *rc);

/* Runs one request: routes it (GET/HEAD/DELETE .../connections/{id},
 * POST .../connections/{id}:send and .../{id}/:send), checks the bearer
 * token, decodes the percent-encoded id, parses the JSON body, calls api.c
 * and maps the result to the HTTP status and JSON body of API.md. Never
 * fails: errors become JSON {"code","message","details"} bodies. A failed
 * call is logged (debug) with its request id. */
void rest_handle(struct server *srv, const struct rest_request *req, struct rest_response *resp);
/* rest_handle is rest_start for callers that need the answer at once
 * (unit tests, fuzzing): a call its registry would finish later is
 * cancelled and answered 503 UNAVAILABLE. */
void rest_response_fini(struct rest_response *resp);

/* Pure pieces, exposed for unit tests and fuzzing. */

/* HTTP status for a gRPC code (API.md: 400, 401, 404, 429, 501, 503, ...). */
int rest_status_of(enum api_code code);

/* Fills resp with {"code": code, "message": msg, "details": [...]}, the
 * details holding a google.rpc.RequestInfo {"@type", "requestId"} when
 * resp->ids.request is set, else empty. */
void rest_error(struct rest_response *resp, int http_status, enum api_code code, const char *msg);

/* Connection → JSON per the protobuf JSON mapping (lowerCamelCase,
 * RFC 3339 UTC timestamps with 0, 3, 6 or 9 fractional digits). Heap. */
char *rest_connection_json(const struct api_connection *c, size_t *len);

/* Formats ns since the epoch as RFC 3339 UTC into out[40]. */
void rest_timestamp(int64_t ns, char *out, size_t outlen);

/* Parses a Send body {"data": base64 (standard or URL-safe, padding
 * optional), "type": "TEXT"|"BINARY"|"DATA_TYPE_UNSPECIFIED" or its
 * number}. On success returns 0 with *data heap-allocated (caller frees).
 * Otherwise ERR_INVAL and a message in err. */
int rest_parse_send(const uint8_t *body, size_t len, uint8_t **data, size_t *data_len, int *type,
		    char *err, size_t errlen);

/* Percent-decodes s into out[outlen] (no '+' → space: this is a path).
 * Returns the decoded length, or ERR_INVAL for a bad escape or when it
 * does not fit. */
int rest_percent_decode(const char *s, size_t len, char *out, size_t outlen);

#endif
