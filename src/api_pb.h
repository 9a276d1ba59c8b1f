/* api_pb.h — the protobuf mapping of ConnectionService and the health
 * service: wire bytes <-> api structs through protobuf-c; and the
 * google.rpc.Status of a failed call. Pure.
 */
#ifndef WSGW_API_PB_H
#define WSGW_API_PB_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"

enum api_pb_kind { API_PB_GET, API_PB_SEND, API_PB_DISCONNECT, API_PB_HEALTH_CHECK };

/* A decoded request: views into a protobuf-c message owned by the struct.
 * id and service are NUL-terminated, but may hold NUL bytes inside (proto3
 * strings may): id_len / service_len count every byte sent. */
struct api_pb_request {
	void *msg;            /* the unpacked ProtobufCMessage; api_pb_request_free */
	const char *id;       /* connection_id ("" when absent) */
	size_t id_len;
	const uint8_t *data;  /* Send only */
	size_t data_len;
	int type;             /* Send only: enum api_data_type value as sent */
	const char *service;  /* Health/Check only ("" when absent) */
	size_t service_len;
	enum api_pb_kind kind; /* which message msg is */
};

/* Decodes buf as the request message of kind. Returns 0, or ERR_PROTO for
 * bytes that are not a valid encoding of that message (protobuf-c does not
 * tell an allocation failure apart; it comes back as ERR_PROTO too). On
 * failure *req is zeroed; api_pb_request_free is safe on it either way. */
int api_pb_decode(enum api_pb_kind kind, const uint8_t *buf, size_t len, struct api_pb_request *req);
void api_pb_request_free(struct api_pb_request *req);

/* Encodes a Connection. Returns the encoded size; writes into out when it
 * fits in outlen (call with out=NULL, outlen=0 to size it first). */
size_t api_pb_encode_connection(const struct api_connection *c, uint8_t *out, size_t outlen);

/* Encodes HealthCheckResponse{status} (1 SERVING, 2 NOT_SERVING,
 * 3 SERVICE_UNKNOWN) into out[outlen]. Returns its size. */
size_t api_pb_encode_health(int status, uint8_t *out, size_t outlen);

/* google.rpc.Status for a failed call, as Yandex Cloud sends it in the
 * grpc-status-details-bin trailer: {code, message, details: [Any{
 * google.rpc.RequestInfo{request_id}}]}. The message is cut to
 * API_PB_STATUS_MESSAGE_MAX bytes at a character boundary, and its
 * non-ASCII bytes become '?' if it is not valid UTF-8 (proto3 strings
 * must be). Returns the encoded size, never above API_PB_STATUS_MAX;
 * out[0..outlen) holds the encoding when that size fits, else unspecified
 * bytes (out=NULL, outlen=0 sizes it). */
#define API_PB_STATUS_MESSAGE_MAX 512
#define API_PB_STATUS_MAX (API_PB_STATUS_MESSAGE_MAX + 128) /* the largest encoding */
size_t api_pb_encode_status(enum api_code code, const char *message, const char *request_id,
			    uint8_t *out, size_t outlen);

/* The same Status as the value of a -bin header: unpadded base64 (gRPC
 * PROTOCOL-HTTP2.md, RFC 4648 §4) into out[outlen], NUL-terminated.
 * Returns its length, or 0 when outlen < API_PB_STATUS_BIN_MAX. */
#define API_PB_STATUS_BIN_MAX ((API_PB_STATUS_MAX + 2) / 3 * 4 + 1)
size_t api_pb_status_bin(enum api_code code, const char *message, const char *request_id,
			 char *out, size_t outlen);

/* Splits ns since the epoch into Timestamp seconds and nanos (nanos in
 * 0..999999999 also for times before 1970). */
void api_pb_timestamp(int64_t ns, int64_t *seconds, int32_t *nanos);

#endif
