/* api_pb.c — the protobuf mapping of ConnectionService and grpc.health.v1:
 * request bytes -> views for api.c, api structs -> response bytes, all
 * through the protobuf-c code generated from proto/ (vendor/pb).
 *
 * Pure: no sockets, no logging. Decoding allocates through protobuf-c's
 * default allocator (the request owns it); encoding builds the messages on
 * the stack and never allocates. Limits (id length, data size, type values)
 * are api.c's business: this file passes on what was sent, unknown enum
 * numbers included (proto3 enums are open).
 */
#include "api_pb.h"

#include <stdbool.h>
#include <string.h>

#include "err.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "yandex/cloud/serverless/apigateway/websocket/v1/connection.pb-c.h"
#include "yandex/cloud/serverless/apigateway/websocket/v1/connection_service.pb-c.h"

typedef Yandex__Cloud__Serverless__Apigateway__Websocket__V1__GetConnectionRequest pb_get;
typedef Yandex__Cloud__Serverless__Apigateway__Websocket__V1__SendToConnectionRequest pb_send;
typedef Yandex__Cloud__Serverless__Apigateway__Websocket__V1__DisconnectRequest pb_disconnect;
typedef Yandex__Cloud__Serverless__Apigateway__Websocket__V1__Connection pb_connection;
typedef Yandex__Cloud__Serverless__Apigateway__Websocket__V1__Identity pb_identity;
typedef Grpc__Health__V1__HealthCheckRequest pb_health_req;
typedef Grpc__Health__V1__HealthCheckResponse pb_health_resp;

#define NS_PER_SEC 1000000000LL

/* Reads a base-128 varint at p[*i..n). */
static bool varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 70 && *i < n; shift += 7) {
		uint8_t b = p[(*i)++];

		if (shift < 64)
			*v |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* Walks a message protobuf-c has accepted, for two things it does not do:
 * - field number 0 is invalid (protobuf encoding guide), but protobuf-c
 *   takes it when the tag is written in more than one byte ("81 00");
 * - strings come back NUL-terminated without a length, so a NUL inside
 *   would shorten an id ("a\0b" would name connection "a"): *len1 gets the
 *   byte length of the last field 1 (the occurrence protobuf-c keeps), or
 *   stays 0 when there is none.
 * Returns false for bytes to refuse. */
static bool walk(const uint8_t *p, size_t n, size_t *len1)
{
	size_t i = 0;
	uint64_t tag, v;

	while (i < n) {
		if (!varint(p, n, &i, &tag) || tag >> 3 == 0)
			return false;
		switch (tag & 7) {
		case PROTOBUF_C_WIRE_TYPE_VARINT:
			if (!varint(p, n, &i, &v))
				return false;
			break;
		case PROTOBUF_C_WIRE_TYPE_64BIT:
			if (n - i < 8)
				return false;
			i += 8;
			break;
		case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
			if (!varint(p, n, &i, &v) || v > n - i)
				return false;
			if (tag >> 3 == 1)
				*len1 = (size_t)v;
			i += (size_t)v;
			break;
		case PROTOBUF_C_WIRE_TYPE_32BIT:
			if (n - i < 4)
				return false;
			i += 4;
			break;
		default: /* groups: protobuf-c refuses them already */
			return false;
		}
	}
	return true;
}

/* protobuf-c allocates only through ProtobufCAllocator; NULL selects its
 * default (malloc/free), which the matching *__free_unpacked undoes. */
static void *unpack(enum api_pb_kind kind, const uint8_t *buf, size_t len)
{
	switch (kind) {
	case API_PB_GET:
		return yandex__cloud__serverless__apigateway__websocket__v1__get_connection_request__unpack(
		    NULL, len, buf);
	case API_PB_SEND:
		return yandex__cloud__serverless__apigateway__websocket__v1__send_to_connection_request__unpack(
		    NULL, len, buf);
	case API_PB_DISCONNECT:
		return yandex__cloud__serverless__apigateway__websocket__v1__disconnect_request__unpack(
		    NULL, len, buf);
	case API_PB_HEALTH_CHECK:
		return grpc__health__v1__health_check_request__unpack(NULL, len, buf);
	}
	return NULL;
}

int api_pb_decode(enum api_pb_kind kind, const uint8_t *buf, size_t len, struct api_pb_request *req)
{
	static const uint8_t empty[1];
	size_t len1 = 0;

	memset(req, 0, sizeof(*req));
	if (len == 0)
		buf = empty; /* protobuf-c reads nothing, but keep the pointer valid */
	req->msg = unpack(kind, buf, len);
	if (req->msg == NULL)
		return ERR_PROTO;
	req->kind = kind;
	if (!walk(buf, len, &len1)) {
		api_pb_request_free(req);
		return ERR_PROTO;
	}
	/* field 1 is the string in all four messages; protobuf-c copied all
	 * len1 bytes of it and a NUL */
	switch (kind) {
	case API_PB_GET:
		req->id = ((pb_get *)req->msg)->connection_id;
		break;
	case API_PB_SEND: {
		pb_send *m = req->msg;

		req->id = m->connection_id;
		req->data = m->data.data;
		req->data_len = m->data.len;
		/* proto3 open enum: protobuf-c stores unknown numbers as they came */
		req->type = (int)m->type;
		break;
	}
	case API_PB_DISCONNECT:
		req->id = ((pb_disconnect *)req->msg)->connection_id;
		break;
	case API_PB_HEALTH_CHECK:
		req->service = ((pb_health_req *)req->msg)->service;
		req->service_len = len1;
		req->id = "";
		return 0;
	}
	req->id_len = len1;
	return 0;
}

void api_pb_request_free(struct api_pb_request *req)
{
	if (req->msg == NULL)
		return;
	switch (req->kind) {
	case API_PB_GET:
		yandex__cloud__serverless__apigateway__websocket__v1__get_connection_request__free_unpacked(
		    req->msg, NULL);
		break;
	case API_PB_SEND:
		yandex__cloud__serverless__apigateway__websocket__v1__send_to_connection_request__free_unpacked(
		    req->msg, NULL);
		break;
	case API_PB_DISCONNECT:
		yandex__cloud__serverless__apigateway__websocket__v1__disconnect_request__free_unpacked(
		    req->msg, NULL);
		break;
	case API_PB_HEALTH_CHECK:
		grpc__health__v1__health_check_request__free_unpacked(req->msg, NULL);
		break;
	}
	memset(req, 0, sizeof(*req));
}

void api_pb_timestamp(int64_t ns, int64_t *seconds, int32_t *nanos)
{
	int64_t s = ns / NS_PER_SEC, r = ns % NS_PER_SEC;

	/* google/protobuf/timestamp.proto: nanos count forward, 0..999999999,
	 * also before 1970 — floor division, not C's truncation. */
	if (r < 0) {
		s -= 1;
		r += NS_PER_SEC;
	}
	*seconds = s;
	*nanos = (int32_t)r;
}

/* protobuf-c's structs hold char *, but pack only reads them. */
static char *str(const char *s)
{
	return (char *)(s ? s : "");
}

size_t api_pb_encode_connection(const struct api_connection *c, uint8_t *out, size_t outlen)
{
	pb_connection m = YANDEX__CLOUD__SERVERLESS__APIGATEWAY__WEBSOCKET__V1__CONNECTION__INIT;
	pb_identity ident = YANDEX__CLOUD__SERVERLESS__APIGATEWAY__WEBSOCKET__V1__IDENTITY__INIT;
	Google__Protobuf__Timestamp connected = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Timestamp active = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	size_t n;

	m.id = str(c->id);
	m.gateway_id = str(c->gateway_id);
	ident.source_ip = str(c->source_ip);
	ident.user_agent = str(c->user_agent);
	m.identity = &ident;
	api_pb_timestamp(c->connected_at_ns, &connected.seconds, &connected.nanos);
	api_pb_timestamp(c->last_active_at_ns, &active.seconds, &active.nanos);
	m.connected_at = &connected;
	m.last_active_at = &active;
	n = yandex__cloud__serverless__apigateway__websocket__v1__connection__get_packed_size(&m);
	if (out != NULL && n <= outlen)
		yandex__cloud__serverless__apigateway__websocket__v1__connection__pack(&m, out);
	return n;
}

size_t api_pb_encode_health(int status, uint8_t *out, size_t outlen)
{
	pb_health_resp m = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	size_t n;

	m.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
	n = grpc__health__v1__health_check_response__get_packed_size(&m);
	if (out != NULL && n <= outlen)
		grpc__health__v1__health_check_response__pack(&m, out);
	return n;
}
