/* api_pb.c — the protobuf mapping of ConnectionService, grpc.health.v1 and
 * google.rpc.Status: request bytes -> views for api.c, api structs ->
 * response bytes, through the protobuf-c code generated from proto/
 * (vendor/pb).
 *
 * Pure: no sockets, no logging. Decoding allocates through protobuf-c's
 * default allocator (the request owns it); encoding builds the messages on
 * the stack and never allocates. google.rpc.Status (for the
 * grpc-status-details-bin trailer) has no generated code here: three
 * fields and one nesting, it is written by hand. Limits (id length, data
 * size, type values) are api.c's business: this file passes on what was
 * sent, unknown enum numbers included (proto3 enums are open).
 */
#include "api_pb.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

#include "err.h"
#include "utf8.h"
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

/* ---- google.rpc.Status, by hand ----------------------------------------------- */

#define REQUEST_INFO_URL "type.googleapis.com/google.rpc.RequestInfo"

/* Appends a varint at out[*n] when it fits; always advances *n. */
static void put_varint(uint8_t *out, size_t outlen, size_t *n, uint64_t v)
{
	do {
		uint8_t b = (uint8_t)(v & 0x7F);

		v >>= 7;
		if (v)
			b |= 0x80;
		if (out && *n < outlen)
			out[*n] = b;
		(*n)++;
	} while (v);
}

/* A length-delimited field (wire type 2): tag, length, then len bytes
 * from p (p NULL: the caller writes the bytes itself, as for a nested
 * message). */
static void put_bytes(uint8_t *out, size_t outlen, size_t *n, unsigned field, const void *p,
		      size_t len)
{
	put_varint(out, outlen, n, (uint64_t)field << 3 | 2);
	put_varint(out, outlen, n, len);
	if (p && out && *n + len <= outlen)
		memcpy(out + *n, p, len);
	if (p)
		*n += len;
}

/* The message as a proto3 string: valid UTF-8, at most max bytes. */
static size_t clean_message(const char *m, char *buf, size_t max)
{
	size_t len = strlen(m);

	if (!utf8_is_valid((const uint8_t *)m, len)) {
		len = len > max ? max : len;
		for (size_t i = 0; i < len; i++)
			buf[i] = (unsigned char)m[i] < 0x80 ? m[i] : '?';
		return len;
	}
	if (len > max) {
		len = max;
		/* back to the start of the character the cut falls in */
		while (len && ((unsigned char)m[len] & 0xC0) == 0x80)
			len--;
	}
	memcpy(buf, m, len);
	return len;
}

size_t api_pb_encode_status(enum api_code code, const char *message, const char *request_id,
			    uint8_t *out, size_t outlen)
{
	char msg[API_PB_STATUS_MESSAGE_MAX];
	size_t mlen = clean_message(message, msg, sizeof msg);
	size_t rid = strnlen(request_id, API_REQUEST_ID_LEN);
	size_t info = rid ? 1 + 1 + rid : 0; /* RequestInfo{request_id = 1} */
	size_t any = 1 + 1 + (sizeof REQUEST_INFO_URL - 1) + 1 + 1 + info;
	size_t n = 0;

	if (code) {
		put_varint(out, outlen, &n, 1 << 3 | 0); /* code = 1, a varint */
		put_varint(out, outlen, &n, (uint32_t)code);
	}
	if (mlen)
		put_bytes(out, outlen, &n, 2, msg, mlen);
	put_bytes(out, outlen, &n, 3, NULL, any); /* details[0]: google.protobuf.Any */
	put_bytes(out, outlen, &n, 1, REQUEST_INFO_URL, sizeof REQUEST_INFO_URL - 1);
	put_bytes(out, outlen, &n, 2, NULL, info);
	if (rid)
		put_bytes(out, outlen, &n, 1, request_id, rid);
	return n;
}

size_t api_pb_status_bin(enum api_code code, const char *message, const char *request_id,
			 char *out, size_t outlen)
{
	uint8_t pb[API_PB_STATUS_MAX];
	size_t n = api_pb_encode_status(code, message, request_id, pb, sizeof pb);
	int len;

	if (outlen < API_PB_STATUS_BIN_MAX || n > sizeof pb)
		return 0;
	len = EVP_EncodeBlock((unsigned char *)out, pb, (int)n);
	while (len > 0 && out[len - 1] == '=') /* gRPC: emit unpadded */
		len--;
	out[len] = '\0';
	return (size_t)len;
}
