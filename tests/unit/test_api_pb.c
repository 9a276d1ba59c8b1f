/* test_api_pb.c — unit tests for api_pb.c: requests packed by protobuf-c's
 * own generated code decode to the right views; garbage is ERR_PROTO;
 * responses unpack to what went in and match hand-computed bytes; the
 * hand-written google.rpc.Status (grpc-status-details-bin) byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "api_pb.h"
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
typedef Grpc__Health__V1__HealthCheckRequest pb_health_req;
typedef Grpc__Health__V1__HealthCheckResponse pb_health_resp;

#define GET_INIT YANDEX__CLOUD__SERVERLESS__APIGATEWAY__WEBSOCKET__V1__GET_CONNECTION_REQUEST__INIT
#define SEND_INIT                                                                                  \
	YANDEX__CLOUD__SERVERLESS__APIGATEWAY__WEBSOCKET__V1__SEND_TO_CONNECTION_REQUEST__INIT
#define DISC_INIT YANDEX__CLOUD__SERVERLESS__APIGATEWAY__WEBSOCKET__V1__DISCONNECT_REQUEST__INIT

static uint8_t buf[4096];

static void test_get_disconnect(void **state)
{
	static const char *ids[] = {"", "c", "conn-0123456789abcdef", "\xd0\xb8\xd0\xb4"};

	(void)state;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		pb_get g = GET_INIT;
		pb_disconnect d = DISC_INIT;
		struct api_pb_request r;
		size_t n;

		g.connection_id = (char *)ids[i];
		n = yandex__cloud__serverless__apigateway__websocket__v1__get_connection_request__pack(
		    &g, buf);
		assert_int_equal(api_pb_decode(API_PB_GET, buf, n, &r), 0);
		assert_int_equal(r.kind, API_PB_GET);
		assert_int_equal(r.id_len, strlen(ids[i]));
		assert_string_equal(r.id, ids[i]);
		assert_null(r.data);
		assert_int_equal(r.data_len, 0);
		api_pb_request_free(&r);
		assert_null(r.msg);

		d.connection_id = (char *)ids[i];
		n = yandex__cloud__serverless__apigateway__websocket__v1__disconnect_request__pack(
		    &d, buf);
		assert_int_equal(api_pb_decode(API_PB_DISCONNECT, buf, n, &r), 0);
		assert_int_equal(r.kind, API_PB_DISCONNECT);
		assert_int_equal(r.id_len, strlen(ids[i]));
		assert_string_equal(r.id, ids[i]);
		api_pb_request_free(&r);
	}
}

static void send_case(const char *id, const uint8_t *data, size_t len, int type)
{
	pb_send s = SEND_INIT;
	struct api_pb_request r;
	size_t n;

	s.connection_id = (char *)id;
	s.data.data = (uint8_t *)data;
	s.data.len = len;
	s.type = type;
	n = yandex__cloud__serverless__apigateway__websocket__v1__send_to_connection_request__pack(
	    &s, buf);
	assert_int_equal(api_pb_decode(API_PB_SEND, buf, n, &r), 0);
	assert_int_equal(r.kind, API_PB_SEND);
	assert_int_equal(r.id_len, strlen(id));
	assert_string_equal(r.id, id);
	assert_int_equal(r.data_len, len);
	if (len > 0)
		assert_memory_equal(r.data, data, len);
	assert_int_equal(r.type, type);
	api_pb_request_free(&r);
}

static void test_send(void **state)
{
	static uint8_t big[3000];

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13);
	send_case("abc", (const uint8_t *)"hello", 5, API_DATA_TEXT);
	send_case("abc", (const uint8_t *)"\x00\x01\xff", 3, API_DATA_BINARY);
	send_case("abc", (const uint8_t *)"x", 1, API_DATA_UNSPECIFIED);
	send_case("", NULL, 0, API_DATA_UNSPECIFIED);
	send_case("id", big, sizeof(big), API_DATA_BINARY);
	/* open enum: unknown numbers reach the api as sent, so it can refuse them */
	send_case("abc", (const uint8_t *)"x", 1, 7);
	send_case("abc", (const uint8_t *)"x", 1, -1);
	send_case("abc", (const uint8_t *)"x", 1, 0x7fffffff);
}

static void test_health_request(void **state)
{
	pb_health_req h = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	struct api_pb_request r;
	size_t n;

	(void)state;
	n = grpc__health__v1__health_check_request__pack(&h, buf);
	assert_int_equal(n, 0);
	assert_int_equal(api_pb_decode(API_PB_HEALTH_CHECK, buf, n, &r), 0);
	assert_int_equal(r.kind, API_PB_HEALTH_CHECK);
	assert_string_equal(r.service, "");
	assert_int_equal(r.service_len, 0);
	api_pb_request_free(&r);

	h.service = "grpc.health.v1.Health";
	n = grpc__health__v1__health_check_request__pack(&h, buf);
	assert_int_equal(api_pb_decode(API_PB_HEALTH_CHECK, buf, n, &r), 0);
	assert_string_equal(r.service, "grpc.health.v1.Health");
	assert_int_equal(r.service_len, strlen(h.service));
	api_pb_request_free(&r);

	/* no bytes at all, and a NULL pointer with them */
	assert_int_equal(api_pb_decode(API_PB_HEALTH_CHECK, NULL, 0, &r), 0);
	assert_string_equal(r.service, "");
	api_pb_request_free(&r);
}

/* Hand-written wire bytes for what stock encoders may send but protobuf-c's
 * packer never produces. */
static void test_wire_edges(void **state)
{
	static const uint8_t nul_id[] = {0x0a, 0x03, 'a', 0x00, 'b'};
	static const uint8_t dup_id[] = {0x0a, 0x03, 'a', 'b', 'c', 0x0a, 0x01, 'z'};
	static const uint8_t unknown_fields[] = {0x0a, 0x01, 'a', 0x10, 0x05, 0x1a, 0x00,
	                                         0x25, 1,    2,   3,    4,    0x29, 1,
	                                         2,    3,    4,   5,    6,    7,    8};
	static const uint8_t nonminimal[] = {0x8a, 0x00, 0x01, 'q'};
	static const uint8_t type_neg[] = {0x18, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                   0xff, 0xff, 0xff, 0xff, 0x01};
	static const uint8_t type_wide[] = {0x18, 0x81, 0x80, 0x80, 0x80, 0x10}; /* 2^32+1 */
	static const uint8_t nul_service[] = {0x0a, 0x02, 0x00, 'x'};
	struct api_pb_request r;

	(void)state;
	/* a NUL inside an id must not shorten it to another connection's id */
	assert_int_equal(api_pb_decode(API_PB_GET, nul_id, sizeof(nul_id), &r), 0);
	assert_int_equal(r.id_len, 3);
	assert_memory_equal(r.id, "a\0b", 4);
	api_pb_request_free(&r);
	/* proto3: the last occurrence of a singular field wins */
	assert_int_equal(api_pb_decode(API_PB_DISCONNECT, dup_id, sizeof(dup_id), &r), 0);
	assert_int_equal(r.id_len, 1);
	assert_string_equal(r.id, "z");
	api_pb_request_free(&r);
	assert_int_equal(api_pb_decode(API_PB_GET, unknown_fields, sizeof(unknown_fields), &r), 0);
	assert_int_equal(r.id_len, 1);
	assert_string_equal(r.id, "a");
	api_pb_request_free(&r);
	assert_int_equal(api_pb_decode(API_PB_GET, nonminimal, sizeof(nonminimal), &r), 0);
	assert_int_equal(r.id_len, 1);
	assert_string_equal(r.id, "q");
	api_pb_request_free(&r);
	assert_int_equal(api_pb_decode(API_PB_SEND, type_neg, sizeof(type_neg), &r), 0);
	assert_int_equal(r.type, -1);
	api_pb_request_free(&r);
	assert_int_equal(api_pb_decode(API_PB_SEND, type_wide, sizeof(type_wide), &r), 0);
	assert_int_equal(r.type, 1); /* int32 truncation, as every protobuf runtime does */
	api_pb_request_free(&r);
	assert_int_equal(api_pb_decode(API_PB_HEALTH_CHECK, nul_service, sizeof(nul_service), &r),
	                 0);
	assert_int_equal(r.service_len, 2);
	assert_memory_equal(r.service, "\0x", 3);
	api_pb_request_free(&r);
}

struct bad {
	const char *what;
	uint8_t b[12];
	size_t n;
};

static void test_garbage(void **state)
{
	static const struct bad cases[] = {
	    {"truncated tag varint", {0x80}, 1},
	    {"truncated length varint", {0x0a, 0x80}, 2},
	    {"length past the end", {0x0a, 0x05, 'a', 'b'}, 4},
	    {"length past the end, huge", {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, 6},
	    {"field 1 as varint", {0x08, 0x01}, 2},
	    {"field 1 as fixed64", {0x09, 1, 2, 3, 4, 5, 6, 7, 8}, 9},
	    {"field 1 as fixed32", {0x0d, 1, 2, 3, 4}, 5},
	    {"truncated fixed32", {0x15, 1, 2}, 3},
	    {"field number 0", {0x02, 0x00}, 2},
	    /* protobuf-c lets these through; api_pb refuses them */
	    {"field number 0, 2-byte tag", {0x82, 0x00, 0x00}, 3},
	    {"field number 0, 2-byte tag, fixed64", {0x81, 0x00, 1, 2, 3, 4, 5, 6, 7, 8}, 10},
	    {"field number 0 after a valid field", {0x0a, 0x01, 'a', 0x80, 0x80, 0x00, 0x01}, 7},
	    {"group", {0x0b, 0x0c}, 2},
	    {"end group", {0x0c}, 1},
	    {"wire type 6", {0x0e}, 1},
	    {"wire type 7", {0x0f}, 1},
	    {"11-byte varint",
	     {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	     12},
	};
	static const enum api_pb_kind kinds[] = {API_PB_GET, API_PB_SEND, API_PB_DISCONNECT,
	                                         API_PB_HEALTH_CHECK};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t k = 0; k < 4; k++) {
			struct api_pb_request r;

			memset(&r, 0x5a, sizeof(r));
			if (api_pb_decode(kinds[k], cases[i].b, cases[i].n, &r) != ERR_PROTO)
				fail_msg("%s (kind %zu) decoded", cases[i].what, k);
			assert_null(r.msg);
			api_pb_request_free(&r); /* safe after failure */
		}
	}
	/* Send's own fields with the wrong wire type */
	static const uint8_t data_varint[] = {0x10, 0x01};
	static const uint8_t type_len[] = {0x18 | 2, 0x01, 0x00};
	struct api_pb_request r;

	assert_int_equal(api_pb_decode(API_PB_SEND, data_varint, 2, &r), ERR_PROTO);
	assert_int_equal(api_pb_decode(API_PB_SEND, type_len, 3, &r), ERR_PROTO);
	/* every truncation of a valid Send is either valid or ERR_PROTO, never
	 * anything else (and ASan sees no overread) */
	pb_send s = SEND_INIT;
	size_t n;

	s.connection_id = "abcdef";
	s.data.data = (uint8_t *)"0123456789";
	s.data.len = 10;
	s.type = 2;
	n = yandex__cloud__serverless__apigateway__websocket__v1__send_to_connection_request__pack(
	    &s, buf);
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		int rc;

		memcpy(copy, buf, cut);
		rc = api_pb_decode(API_PB_SEND, copy, cut, &r);
		/* cut after a whole field is valid: 0, 8 (after id), 20 (after data) */
		assert_int_equal(rc, cut == 0 || cut == 8 || cut == 20 ? 0 : ERR_PROTO);
		api_pb_request_free(&r);
		free(copy);
	}
}

static void test_timestamp(void **state)
{
	static const struct {
		int64_t ns, s;
		int32_t nanos;
	} cases[] = {
	    {0, 0, 0},
	    {1, 0, 1},
	    {-1, -1, 999999999},
	    {999999999, 0, 999999999},
	    {1000000000, 1, 0},
	    {-1000000000, -1, 0},
	    {-1000000001, -2, 999999999},
	    {-999999999, -1, 1},
	    {1700000000123456789LL, 1700000000, 123456789},
	    {INT64_MAX, 9223372036LL, 854775807},
	    {INT64_MIN, -9223372037LL, 145224192},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t s;
		int32_t nanos;

		api_pb_timestamp(cases[i].ns, &s, &nanos);
		if (s != cases[i].s || nanos != cases[i].nanos)
			fail_msg("ns %lld -> %lld.%09d", (long long)cases[i].ns, (long long)s,
			         (int)nanos);
	}
}

static void check_ts(const Google__Protobuf__Timestamp *t, int64_t ns)
{
	int64_t s;
	int32_t nanos;

	api_pb_timestamp(ns, &s, &nanos);
	assert_non_null(t);
	assert_true(t->seconds == s);
	assert_int_equal(t->nanos, nanos);
	assert_true((__int128)t->seconds * 1000000000 + t->nanos == ns);
}

static void roundtrip(const struct api_connection *c)
{
	pb_connection *m;
	size_t n, n2;

	n = api_pb_encode_connection(c, NULL, 0);
	assert_true(n <= sizeof(buf));
	memset(buf, 0xee, sizeof(buf));
	if (n > 0) /* too small: nothing written */
		assert_int_equal(api_pb_encode_connection(c, buf, n - 1), n);
	assert_int_equal(buf[0], 0xee);
	n2 = api_pb_encode_connection(c, buf, n);
	assert_int_equal(n2, n);
	assert_int_equal(buf[n], 0xee); /* nothing past the size */
	m = yandex__cloud__serverless__apigateway__websocket__v1__connection__unpack(NULL, n, buf);
	assert_non_null(m);
	assert_string_equal(m->id, c->id);
	assert_string_equal(m->gateway_id, c->gateway_id);
	assert_non_null(m->identity);
	assert_string_equal(m->identity->source_ip, c->source_ip);
	assert_string_equal(m->identity->user_agent, c->user_agent);
	check_ts(m->connected_at, c->connected_at_ns);
	check_ts(m->last_active_at, c->last_active_at_ns);
	yandex__cloud__serverless__apigateway__websocket__v1__connection__free_unpacked(m, NULL);
}

static void test_connection_roundtrip(void **state)
{
	struct api_connection c = {
	    .id = "conn-1",
	    .gateway_id = "d5dm1lba80md********",
	    .source_ip = "2001:db8::1",
	    .user_agent = "Mozilla/5.0 (X11; Linux x86_64)",
	    .connected_at_ns = 1763805600123456789LL,
	    .last_active_at_ns = 1763805601000000000LL,
	};

	(void)state;
	roundtrip(&c);
	c.connected_at_ns = -1;
	c.last_active_at_ns = -1000000001;
	roundtrip(&c);
	c.connected_at_ns = INT64_MIN;
	c.last_active_at_ns = INT64_MAX;
	roundtrip(&c);
	c.user_agent = "";
	c.id = "";
	c.gateway_id = "";
	c.source_ip[0] = '\0';
	c.connected_at_ns = 0;
	c.last_active_at_ns = 0;
	roundtrip(&c);
}

static void test_connection_bytes(void **state)
{
	/* Hand-computed (protobuf encoding guide):
	 *   1700000000 = 0x6553F100 -> 80 E2 CF AA 06
	 *   123456789  = 0x075BCD15 -> 95 9A EF 3A
	 *   -1 (int64)              -> FF x9 01
	 *   999999999  = 0x3B9AC9FF -> FF 93 EB DC 03 */
	static const uint8_t want[] = {
	    0x0a, 0x02, 'c',  '1',                                     /* id */
	    0x12, 0x02, 'g',  'w',                                     /* gateway_id */
	    0x1a, 0x0e,                                                /* identity, 14 */
	    0x0a, 0x08, '1',  '0',  '.',  '0',  '.',  '0',  '.',  '1', /* source_ip */
	    0x12, 0x02, 'u',  'a',                                     /* user_agent */
	    0x22, 0x0b,                                                /* connected_at, 11 */
	    0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06,                        /* seconds */
	    0x10, 0x95, 0x9a, 0xef, 0x3a,                              /* nanos */
	    0x2a, 0x11,                                                /* last_active_at, 17 */
	    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, /* seconds -1 */
	    0x10, 0xff, 0x93, 0xeb, 0xdc, 0x03,                               /* nanos */
	};
	/* Empty strings and zero times: proto3 omits defaults, but the message
	 * fields are present (empty). */
	static const uint8_t want_empty[] = {0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00};
	struct api_connection c = {
	    .id = "c1",
	    .gateway_id = "gw",
	    .source_ip = "10.0.0.1",
	    .user_agent = "ua",
	    .connected_at_ns = 1700000000123456789LL,
	    .last_active_at_ns = -1,
	};
	struct api_connection e = {.id = "", .gateway_id = "", .user_agent = ""};
	struct api_connection z = {0}; /* NULL strings are empty too */
	uint8_t out[128];

	(void)state;
	assert_int_equal(api_pb_encode_connection(&c, out, sizeof(out)), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(api_pb_encode_connection(&e, out, sizeof(out)), sizeof(want_empty));
	assert_memory_equal(out, want_empty, sizeof(want_empty));
	assert_int_equal(api_pb_encode_connection(&z, out, sizeof(out)), sizeof(want_empty));
	assert_memory_equal(out, want_empty, sizeof(want_empty));
}

static void test_health_encode(void **state)
{
	uint8_t out[8];

	(void)state;
	for (int st = 1; st <= 3; st++) {
		pb_health_resp *m;

		memset(out, 0xee, sizeof(out));
		assert_int_equal(api_pb_encode_health(st, out, sizeof(out)), 2);
		assert_int_equal(out[0], 0x08);
		assert_int_equal(out[1], st);
		assert_int_equal(out[2], 0xee);
		m = grpc__health__v1__health_check_response__unpack(NULL, 2, out);
		assert_non_null(m);
		assert_int_equal(m->status, st);
		grpc__health__v1__health_check_response__free_unpacked(m, NULL);
	}
	/* sizing only, and too small: nothing written */
	memset(out, 0xee, sizeof(out));
	assert_int_equal(api_pb_encode_health(1, NULL, 0), 2);
	assert_int_equal(api_pb_encode_health(1, out, 1), 2);
	assert_int_equal(out[0], 0xee);
	/* UNKNOWN (0) is the default: an empty message */
	assert_int_equal(api_pb_encode_health(0, out, sizeof(out)), 0);
}

#define RID "e38e71c3-adc6-4584-98a4-b0f103d55f61"
#define INFO_URL "type.googleapis.com/google.rpc.RequestInfo"

static void test_status_bytes(void **state)
{
	/* Status{code 5, message "x", details [Any{url, RequestInfo{RID}}]} */
	static const uint8_t want[] = "\x08\x05"                 /* code = 5 */
				      "\x12\x01x"                /* message = "x" */
				      "\x1a\x54"                 /* details: Any, 84 bytes */
				      "\x0a\x2a" INFO_URL        /* type_url, 42 bytes */
				      "\x12\x26"                 /* value: RequestInfo, 38 bytes */
				      "\x0a\x24" RID;            /* request_id, 36 bytes */
	size_t n;

	(void)state;
	n = api_pb_encode_status(API_NOT_FOUND, "x", RID, NULL, 0);
	assert_int_equal(n, sizeof want - 1);
	memset(buf, 0xEE, sizeof buf);
	assert_int_equal(api_pb_encode_status(API_NOT_FOUND, "x", RID, buf, sizeof buf), n);
	assert_memory_equal(buf, want, n);
	/* code 0 and an empty message are proto3 defaults: left out */
	n = api_pb_encode_status(API_OK, "", RID, buf, sizeof buf);
	assert_int_equal(n, sizeof want - 1 - 5);
	assert_memory_equal(buf, want + 5, n);
	/* too small: the size is still right, nothing past outlen is written */
	memset(buf, 0xEE, sizeof buf);
	assert_int_equal(api_pb_encode_status(API_NOT_FOUND, "x", RID, buf, 10), sizeof want - 1);
	assert_int_equal(buf[10], 0xEE);
}

/* Finds the message field of an encoded Status: its bytes and length. */
static const uint8_t *status_message(const uint8_t *p, size_t n, size_t *len)
{
	size_t i = 0;

	if (n > 2 && p[0] == 0x08)
		i = 2; /* a one-byte code */
	assert_true(i + 3 < n && p[i] == 0x12);
	/* lengths over 127 take two varint bytes */
	if (p[i + 1] & 0x80) {
		*len = (size_t)(p[i + 1] & 0x7F) | (size_t)p[i + 2] << 7;
		return p + i + 3;
	}
	*len = p[i + 1];
	return p + i + 2;
}

static void test_status_message_limits(void **state)
{
	char long_msg[2000], bad[] = "bad \xff\xfe id";
	const uint8_t *m;
	size_t n, len;

	(void)state;
	/* 'a' then 2-byte characters: a cut at 512 would split one */
	long_msg[0] = 'a';
	for (size_t i = 1; i + 2 < sizeof long_msg; i += 2)
		memcpy(long_msg + i, "\xc3\xa9", 2);
	long_msg[sizeof long_msg - 1] = '\0';
	n = api_pb_encode_status(API_INVALID_ARGUMENT, long_msg, RID, buf, sizeof buf);
	assert_true(n <= API_PB_STATUS_MAX);
	m = status_message(buf, n, &len);
	assert_int_equal(len, 511);
	assert_true(utf8_is_valid(m, len));
	assert_memory_equal(m, long_msg, len);
	/* not UTF-8: ASCII kept, the rest '?' */
	n = api_pb_encode_status(API_NOT_FOUND, bad, RID, buf, sizeof buf);
	m = status_message(buf, n, &len);
	assert_int_equal(len, strlen(bad));
	assert_memory_equal(m, "bad ?? id", len);
	/* the largest: a long invalid message, an id of full length */
	memset(long_msg, 0xff, sizeof long_msg - 1);
	assert_true(api_pb_encode_status(API_UNAUTHENTICATED, long_msg, RID, NULL, 0) <=
		    API_PB_STATUS_MAX);
}

static void test_status_bin(void **state)
{
	char text[API_PB_STATUS_BIN_MAX], padded[API_PB_STATUS_BIN_MAX + 4];
	uint8_t raw[API_PB_STATUS_MAX], dec[API_PB_STATUS_BIN_MAX];
	size_t n, len;
	int got;

	(void)state;
	n = api_pb_encode_status(API_NOT_FOUND, "connection abc not found", RID, raw, sizeof raw);
	len = api_pb_status_bin(API_NOT_FOUND, "connection abc not found", RID, text, sizeof text);
	assert_int_equal(len, strlen(text));
	assert_null(strchr(text, '=')); /* gRPC: unpadded */
	assert_int_equal(len, (n * 4 + 2) / 3);
	/* decodes back to the same bytes once the padding is restored */
	memcpy(padded, text, len);
	while (len % 4)
		padded[len++] = '=';
	got = EVP_DecodeBlock(dec, (const unsigned char *)padded, (int)len);
	assert_true(got >= (int)n);
	assert_memory_equal(dec, raw, n);
	/* a buffer below the documented maximum is refused, not overrun */
	assert_int_equal(api_pb_status_bin(API_NOT_FOUND, "x", RID, text, API_PB_STATUS_BIN_MAX - 1),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_disconnect),
	    cmocka_unit_test(test_send),
	    cmocka_unit_test(test_health_request),
	    cmocka_unit_test(test_wire_edges),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_timestamp),
	    cmocka_unit_test(test_connection_roundtrip),
	    cmocka_unit_test(test_connection_bytes),
	    cmocka_unit_test(test_health_encode),
	    cmocka_unit_test(test_status_bytes),
	    cmocka_unit_test(test_status_message_limits),
	    cmocka_unit_test(test_status_bin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
