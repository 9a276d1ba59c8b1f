/* fn_event.h — the JSON event a cloud function receives for a WebSocket
 * connect, message or disconnect, in payload format 0.1 or 1.0, shaped as
 * the cloud builds it (shared/spec/YANDEX-FIDELITY.md §3.2: the official
 * samples of yandex-cloud/function-ts-types for the key set per event,
 * extensions/cloud-functions.md for the two formats). Pure: plain data in,
 * JSON text out (jansson); no sockets, no clock, no randomness.
 */
#ifndef WSGW_FN_EVENT_H
#define WSGW_FN_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

enum fn_event_kind { FN_CONNECT, FN_MESSAGE, FN_DISCONNECT };

struct fn_kv {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct fn_event {
	enum fn_event_kind kind;
	bool v1;              /* payload format 1.0, else 0.1 */
	const char *resource; /* the spec's path template */
	const char *path;     /* the request's path, no query */
	size_t path_len;
	const char *query; /* the raw query string, no '?' */
	size_t query_len;
	const struct fn_kv *headers; /* the handshake's, in order */
	size_t num_headers;
	const struct fn_kv *path_params; /* captured, as the client wrote them */
	size_t num_path_params;
	const struct spec_param *params; /* the operation's declared parameters */
	size_t num_params;
	const char *operation_id; /* 1.0 only */
	const char *function_id;
	const char *gateway_id;
	const char *conn_id;
	int64_t connected_ms; /* epoch ms */
	int64_t now_ms;       /* the event's time, epoch ms */
	const char *request_id;
	const char *source_ip;
	const char *message_id; /* MESSAGE */
	const uint8_t *body;    /* MESSAGE */
	size_t body_len;
	bool binary;         /* MESSAGE: base64 body, isBase64Encoded */
	unsigned close_code; /* DISCONNECT */
	const char *reason;  /* DISCONNECT */
	size_t reason_len;
	const char *context;    /* operationContext as JSON text, or NULL */
	const char *authorizer; /* requestContext.authorizer as JSON text, or NULL */
};

/* The event as JSON text, heap, NUL-terminated, length in *len. Keys per
 * event (both formats): headers, multiValueHeaders and requestContext
 * always; CONNECT adds httpMethod "GET", queryStringParameters and
 * multiValueQueryStringParameters; MESSAGE adds body and isBase64Encoded.
 * 0.1 adds url (the actual path), path (the template), pathParams,
 * params, multiValueParams; 1.0 adds resource (the template), path (the
 * actual), pathParameters, parameters, multiValueParameters, operationId.
 * Header names are canonical (Accept-Encoding), sorted; the gateway's own
 * headers replace the client's of the same name; bytes that are not UTF-8
 * become U+FFFD. NULL on ENOMEM or when context / authorizer is not JSON. */
char *fn_event_json(const struct fn_event *ev, size_t *len);

/* The request a function authorizer receives (function-authorizer.md,
 * "Request structure"; function-ts-types api-gateway/authorizer.ts):
 * {resource, path, httpMethod "GET", headers (the client's, canonical,
 * plus X-Forwarded-For / -Proto, X-Request-Id, X-Serverless-Gateway-Id,
 * X-Api-Gateway-Function-Id), queryStringParameters, pathParameters,
 * requestContext {identity, httpMethod, requestId, requestTime,
 * requestTimeEpoch}, cookies (name -> value)}. ev->kind, v1, body,
 * conn_id, context and authorizer are not used. NULL on ENOMEM. */
char *fn_event_authorizer_json(const struct fn_event *ev, size_t *len);

/* s[0..n) with each byte that is not UTF-8 replaced by U+FFFD: heap,
 * NUL-terminated, length in *outlen; NULL on ENOMEM. */
char *fn_event_utf8_fix(const char *s, size_t n, size_t *outlen);

/* "4/Jan/2023:23:47:03 +0000" (CLF, UTC) for epoch seconds t into out
 * (at least 32 bytes). */
void fn_event_clf_time(int64_t t, char *out, size_t outlen);

#endif
