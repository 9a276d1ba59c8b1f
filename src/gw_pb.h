/* gw_pb.h — the protobuf mapping of wsgw.v1.GatewayService
 * (proto/wsgw/v1/gateway_service.proto): request bytes -> gw_req, gw_call
 * results -> response bytes, through the protobuf-c code in vendor/pb.
 * Pure: no sockets, no logging.
 */
#ifndef WSGW_GW_PB_H
#define WSGW_GW_PB_H

#include <stddef.h>
#include <stdint.h>

#include "gw_api.h"

/* A decoded request: req's views point into msg (and ids into a heap
 * array); gw_pb_request_free releases both. */
struct gw_pb_request {
	void *msg;
	struct gw_req req;
};

/* Decodes buf as kind's request message. Returns 0, or ERR_PROTO for
 * bytes that are not its valid encoding (or hold a NUL inside a string
 * field, which protobuf-c's NUL-terminated strings would silently cut). */
int gw_pb_decode(enum gw_kind kind, const uint8_t *buf, size_t len, struct gw_pb_request *out);
void gw_pb_request_free(struct gw_pb_request *r);

/* Encodes call's result (kind's response message) into a heap buffer of
 * prefix zero bytes followed by the message. Returns it (caller frees)
 * with *len = prefix + message size, or NULL when out of memory. */
uint8_t *gw_pb_encode(const struct gw_call *call, size_t prefix, size_t *len);

#endif
