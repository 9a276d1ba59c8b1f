/* grpcreq.c — ConnectionService request bytes for sendlat: the header
 * block (hpack.c's literals) and the message, protobuf written by hand
 * (the three fields need no library) behind gRPC's 5-byte prefix.
 */
#include <stdio.h>
#include <string.h>

#include "grpcreq.h"
#include "hpack.h"

#define SERVICE "/yandex.cloud.serverless.apigateway.websocket.v1.ConnectionService/"

size_t grpcreq_headers(uint8_t *o, const char *method, const char *authority, const char *token)
{
	char path[160], auth[600];
	size_t n = 0;

	snprintf(path, sizeof path, SERVICE "%s", method);
	o[n++] = 0x83;                                           /* :method POST (static 3) */
	o[n++] = 0x86;                                           /* :scheme http (static 6) */
	n += hpack_put_lit(o + n, 4, NULL, path);                /* :path */
	n += hpack_put_lit(o + n, 1, NULL, authority);           /* :authority */
	n += hpack_put_lit(o + n, 31, NULL, "application/grpc"); /* content-type */
	n += hpack_put_lit(o + n, 0, "te", "trailers");
	if (token) {
		snprintf(auth, sizeof auth, "Bearer %s", token);
		n += hpack_put_lit(o + n, 23, NULL, auth); /* authorization */
	}
	return n;
}

static size_t pb_varint(uint8_t *o, uint64_t v)
{
	size_t n = 0;

	while (v >= 128) {
		o[n++] = (uint8_t)(0x80 | (v & 0x7f));
		v >>= 7;
	}
	o[n++] = (uint8_t)v;
	return n;
}

/* gRPC message: 5-byte prefix, then {1: id} [+ {2: data} {3: TEXT}]. */
size_t grpcreq_message(uint8_t *o, const char *id, const uint8_t *data, size_t dlen, bool send)
{
	size_t n = 5, idl = strlen(id);

	o[n++] = 0x0a;
	n += pb_varint(o + n, idl);
	memcpy(o + n, id, idl);
	n += idl;
	if (send) {
		o[n++] = 0x12;
		n += pb_varint(o + n, dlen);
		memcpy(o + n, data, dlen);
		n += dlen;
		o[n++] = 0x18; /* type = TEXT (2) */
		o[n++] = 0x02;
	}
	o[0] = 0;
	o[1] = (uint8_t)((n - 5) >> 24);
	o[2] = (uint8_t)((n - 5) >> 16);
	o[3] = (uint8_t)((n - 5) >> 8);
	o[4] = (uint8_t)(n - 5);
	return n;
}
