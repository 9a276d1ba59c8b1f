/* grpcreq.h — the bytes of one ConnectionService call
 * (yandex.cloud.serverless.apigateway.websocket.v1) as sendlat sends it:
 * the HPACK header block and the length-prefixed protobuf message.
 * Pure: no sockets, no logging.
 */
#ifndef BENCH_GRPCREQ_H
#define BENCH_GRPCREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes the request header block of a call to method ("Get", "Send",
 * "Disconnect"): :method POST, :scheme http, :path, :authority,
 * content-type application/grpc, te trailers and, with a token,
 * authorization: Bearer TOKEN (cut to 599 bytes). Literals without
 * indexing, so the same block serves every call. Returns its length; o
 * needs 220 + strlen(authority) + strlen(token) bytes. */
size_t grpcreq_headers(uint8_t *o, const char *method, const char *authority, const char *token);

/* Writes the gRPC message (5-byte prefix: flag 0, big-endian length) of a
 * request for the connection id: {1: id}, and for Send also {2: data}
 * {3: TEXT}. Returns its length; o needs strlen(id) + dlen + 30 bytes. */
size_t grpcreq_message(uint8_t *o, const char *id, const uint8_t *data, size_t dlen, bool send);

#endif
