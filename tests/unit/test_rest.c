/* test_rest.c — the REST mapping: statuses, timestamps, the Send body
 * (base64 in both alphabets, padding optional, enum names and numbers),
 * percent-decoding, the Connection JSON, and rest_handle's routing, auth
 * and error bodies (with their google.rpc.RequestInfo) against a server
 * whose registry is empty; the request ids' format and uniqueness.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "config.h"
#include "conntab.h"
#include "ctx.h"
#include "err.h"
#include "rest.h"

#define P REST_PREFIX
#define ID33 "abcdefghijklmnopqrstuvwxyz0123456" /* CONN_ID_LEN: reaches the table */

static struct conntab_key no_key(const struct conntab_node *n)
{
	(void)n;
	return (struct conntab_key){"", 0};
}

/* A server with an empty registry and the given extra flags. */
static void server_setup(struct server *srv, struct config *cfg, const char *token)
{
	char *argv[] = {"wsgw", "--auth-token", (char *)token, NULL};
	char *env[] = {NULL};
	char err[256];

	memset(srv, 0, sizeof *srv);
	assert_int_equal(config_load(cfg, token ? 3 : 1, argv, env, err, sizeof err), CONFIG_OK);
	srv->cfg = cfg;
	memcpy(srv->auth_token, cfg->auth_token, sizeof srv->auth_token); /* as reload_start */
	assert_int_equal(conntab_init(&srv->table, 8, 1, no_key), 0);
}

static void test_status_of(void **state)
{
	static const struct {
		enum api_code code;
		int http;
	} cases[] = {
	    {API_OK, 200},
	    {API_CANCELLED, 499},
	    {API_UNKNOWN, 500},
	    {API_INVALID_ARGUMENT, 400},
	    {API_DEADLINE_EXCEEDED, 504},
	    {API_NOT_FOUND, 404},
	    {API_RESOURCE_EXHAUSTED, 429},
	    {API_UNIMPLEMENTED, 501},
	    {API_INTERNAL, 500},
	    {API_UNAVAILABLE, 503},
	    {API_UNAUTHENTICATED, 401},
	    {(enum api_code)99, 500},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (rest_status_of(cases[i].code) != cases[i].http)
			fail_msg("code %d -> %d, want %d", cases[i].code,
				 rest_status_of(cases[i].code), cases[i].http);
}

static void test_timestamp(void **state)
{
	static const struct {
		int64_t ns;
		const char *want;
	} cases[] = {
	    {0, "1970-01-01T00:00:00Z"},
	    {INT64_C(1795341600000000000), "2026-11-22T10:00:00Z"},
	    {INT64_C(1795341600123000000), "2026-11-22T10:00:00.123Z"},
	    {INT64_C(1795341600100000000), "2026-11-22T10:00:00.100Z"},
	    {INT64_C(1795341600123456000), "2026-11-22T10:00:00.123456Z"},
	    {INT64_C(1795341600000001000), "2026-11-22T10:00:00.000001Z"},
	    {INT64_C(1795341600123456789), "2026-11-22T10:00:00.123456789Z"},
	    {INT64_C(1795341600000000001), "2026-11-22T10:00:00.000000001Z"},
	    {-1, "1969-12-31T23:59:59.999999999Z"},
	    {INT64_C(-1000000000), "1969-12-31T23:59:59Z"},
	    {INT64_C(-1500000000), "1969-12-31T23:59:58.500Z"},
	    {INT64_C(-2208988800000000000), "1900-01-01T00:00:00Z"},
	    {INT64_MIN, "1677-09-21T00:12:43.145224192Z"},
	    {INT64_MAX, "2262-04-11T23:47:16.854775807Z"},
	};
	char buf[40];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rest_timestamp(cases[i].ns, buf, sizeof buf);
		assert_string_equal(buf, cases[i].want);
	}
}

/* ---- rest_parse_send ----------------------------------------------------------- */

struct send_case {
	const char *body;
	int rc;
	const char *data; /* expected bytes (with data_len) when rc == 0 */
	size_t data_len;
	int type;
};

static const struct send_case send_cases[] = {
    {"{\"data\":\"aGVsbG8=\",\"type\":\"TEXT\"}", 0, "hello", 5, API_DATA_TEXT},
    {"{\"data\":\"aGVsbG8\"}", 0, "hello", 5, API_DATA_UNSPECIFIED},
    {"{\"type\":\"BINARY\",\"data\":\"aGk=\"}", 0, "hi", 2, API_DATA_BINARY},
    {"{\"data\":\"aGk\"}", 0, "hi", 2, 0},
    {"{\"data\":\"aA==\"}", 0, "h", 1, 0},
    {"{\"data\":\"aA\"}", 0, "h", 1, 0},
    {"{\"data\":\"aGVs\"}", 0, "hel", 3, 0},
    {"{\"data\":\"/+8=\"}", 0, "\xff\xef", 2, 0},
    {"{\"data\":\"_-8=\"}", 0, "\xff\xef", 2, 0},
    {"{\"data\":\"_-8\"}", 0, "\xff\xef", 2, 0},
    {"{\"data\":\"AAAA\"}", 0, "\0\0\0", 3, 0},
    {"{\"data\":\"AA==\"}", 0, "\0", 1, 0},
    {"{\"data\":\"\"}", 0, "", 0, 0},
    {"{}", 0, "", 0, 0},
    {"{\"type\":\"TEXT\"}", 0, "", 0, API_DATA_TEXT},
    {"{\"data\":null,\"type\":null}", 0, "", 0, 0},
    {"{\"type\":\"DATA_TYPE_UNSPECIFIED\",\"data\":\"aGk=\"}", 0, "hi", 2, 0},
    {"{\"type\":0}", 0, "", 0, 0},
    {"{\"type\":1}", 0, "", 0, 1},
    {"{\"type\":2}", 0, "", 0, 2},
    /* unknown fields are ignored (the id rides in the path) */
    {"{\"connectionId\":\"x\",\"data\":\"aGk=\",\"extra\":{\"a\":[1,2]}}", 0, "hi", 2, 0},
    {" \n{ \"data\" : \"aGk=\" }\n", 0, "hi", 2, 0},
    /* wrong types and values */
    {"{\"type\":3}", ERR_INVAL, NULL, 0, 0},
    {"{\"type\":-1}", ERR_INVAL, NULL, 0, 0},
    {"{\"type\":1.0}", ERR_INVAL, NULL, 0, 0},
    {"{\"type\":\"2\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"type\":\"text\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"type\":true}", ERR_INVAL, NULL, 0, 0},
    {"{\"type\":[\"TEXT\"]}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":5}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":[\"aGk=\"]}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":{}}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":true}", ERR_INVAL, NULL, 0, 0},
    /* invalid base64 */
    {"{\"data\":\"aGk*\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"aG k\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"aGk=\\n\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"aGk=x\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"a===\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"aGk==\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"aG=k\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"a\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"aGVsb\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"=\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"====\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"aGk.\"}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"\\u00e9AAA\"}", ERR_INVAL, NULL, 0, 0},
    /* malformed JSON, not an object, duplicates */
    {"", ERR_INVAL, NULL, 0, 0},
    {"{", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"aGk=\",}", ERR_INVAL, NULL, 0, 0},
    {"[]", ERR_INVAL, NULL, 0, 0},
    {"\"aGk=\"", ERR_INVAL, NULL, 0, 0},
    {"null", ERR_INVAL, NULL, 0, 0},
    {"{} {}", ERR_INVAL, NULL, 0, 0},
    {"{\"data\":\"aGk=\",\"data\":\"aGk=\"}", ERR_INVAL, NULL, 0, 0},
};

static void test_parse_send(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof send_cases / sizeof send_cases[0]; i++) {
		const struct send_case *c = &send_cases[i];
		uint8_t *data = (uint8_t *)"unchanged";
		size_t len = 99;
		int type = 77, rc;
		char err[192] = "";

		rc = rest_parse_send((const uint8_t *)c->body, strlen(c->body), &data, &len, &type,
				     err, sizeof err);
		if (rc != c->rc)
			fail_msg("case %zu %s: rc %d (%s)", i, c->body, rc, err);
		if (rc == 0) {
			assert_non_null(data);
			if (len != c->data_len || memcmp(data, c->data, len) != 0 || type != c->type)
				fail_msg("case %zu %s: len %zu type %d", i, c->body, len, type);
		} else if (!err[0]) {
			fail_msg("case %zu %s: no message", i, c->body);
		}
		free(data);
	}
}

/* Every length 0..66 and every byte value: standard with and without
 * padding, URL-safe with and without padding. */
static void test_base64_lengths(void **state)
{
	uint8_t raw[67], enc[100];
	char body[160];

	(void)state;
	for (size_t i = 0; i < sizeof raw; i++)
		raw[i] = (uint8_t)(i * 73 + 250);
	for (size_t n = 0; n <= sizeof raw; n++) {
		int elen = EVP_EncodeBlock(enc, raw, (int)n);

		for (int form = 0; form < 4; form++) {
			char e[100];
			int m = elen;
			uint8_t *data;
			size_t len;
			int type;
			char err[192];

			memcpy(e, enc, (size_t)elen + 1);
			if (form & 1)
				while (m && e[m - 1] == '=')
					e[--m] = '\0';
			for (int k = 0; (form & 2) && k < m; k++)
				e[k] = e[k] == '+' ? '-' : e[k] == '/' ? '_' : e[k];
			snprintf(body, sizeof body, "{\"data\":\"%s\"}", e);
			assert_int_equal(rest_parse_send((const uint8_t *)body, strlen(body), &data,
							 &len, &type, err, sizeof err),
					 0);
			assert_int_equal(len, n);
			assert_memory_equal(data, raw, n);
			free(data);
		}
	}
}

static void test_percent_decode(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(rest_percent_decode("abc", 3, out, sizeof out), 3);
	assert_memory_equal(out, "abc", 3);
	assert_int_equal(rest_percent_decode("a%20b+c", 7, out, sizeof out), 5);
	assert_memory_equal(out, "a b+c", 5);
	assert_int_equal(rest_percent_decode("%41%4a%4A%2f", 12, out, sizeof out), 4);
	assert_memory_equal(out, "AJJ/", 4);
	assert_int_equal(rest_percent_decode("%00%ff", 6, out, sizeof out), 2);
	assert_memory_equal(out, "\0\xff", 2);
	assert_int_equal(rest_percent_decode("", 0, out, sizeof out), 0);
	assert_int_equal(rest_percent_decode("%", 1, out, sizeof out), ERR_INVAL);
	assert_int_equal(rest_percent_decode("%4", 2, out, sizeof out), ERR_INVAL);
	assert_int_equal(rest_percent_decode("a%4", 3, out, sizeof out), ERR_INVAL);
	assert_int_equal(rest_percent_decode("%zz", 3, out, sizeof out), ERR_INVAL);
	assert_int_equal(rest_percent_decode("%g0", 3, out, sizeof out), ERR_INVAL);
	assert_int_equal(rest_percent_decode("%%41", 4, out, sizeof out), ERR_INVAL);
	assert_int_equal(rest_percent_decode("% 41", 4, out, sizeof out), ERR_INVAL);
	/* the length given, not the NUL, ends the input */
	assert_int_equal(rest_percent_decode("%41%", 3, out, sizeof out), 1);
	/* does not fit */
	assert_int_equal(rest_percent_decode("abcd", 4, out, 3), ERR_INVAL);
	assert_int_equal(rest_percent_decode("%41%42%43", 9, out, 3), 3);
	assert_int_equal(rest_percent_decode("abc", 3, out, 0), ERR_INVAL);
}

static void test_connection_json(void **state)
{
	struct api_connection c = {
	    .id = "q3gfultnvzva3gk4bbdqrm5kusvtvai3n",
	    .gateway_id = "d5dwsgw0000000000001",
	    .source_ip = "2001:db8::1",
	    .user_agent = "curl/8 \"q\" \xc3\xa9",
	    .connected_at_ns = INT64_C(1795341600000000000),
	    .last_active_at_ns = INT64_C(1795341601500000000),
	};
	size_t len = 0;
	char *s = rest_connection_json(&c, &len);

	(void)state;
	assert_non_null(s);
	assert_string_equal(s, "{\"id\":\"q3gfultnvzva3gk4bbdqrm5kusvtvai3n\","
			       "\"gatewayId\":\"d5dwsgw0000000000001\","
			       "\"identity\":{\"sourceIp\":\"2001:db8::1\","
			       "\"userAgent\":\"curl/8 \\\"q\\\" \xc3\xa9\"},"
			       "\"connectedAt\":\"2026-11-22T10:00:00Z\","
			       "\"lastActiveAt\":\"2026-11-22T10:00:01.500Z\"}");
	assert_int_equal(len, strlen(s));
	free(s);

	/* no User-Agent; a user agent that is not UTF-8 still makes JSON */
	c.user_agent = "";
	s = rest_connection_json(&c, &len);
	assert_non_null(strstr(s, "\"userAgent\":\"\""));
	free(s);
	c.user_agent = "bad \xff\xfe ua";
	s = rest_connection_json(&c, &len);
	assert_non_null(strstr(s, "\"userAgent\":\"bad ?? ua\""));
	free(s);
}

/* A version 4 UUID in lowercase text (RFC 9562 §4, §5.4). */
static bool is_uuid4(const char *s)
{
	if (strlen(s) != API_REQUEST_ID_LEN)
		return false;
	for (int i = 0; i < API_REQUEST_ID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]) || !s[i])
			return false;
	}
	return s[14] == '4' && strchr("89ab", s[19]);
}

static void test_uuid_format(void **state)
{
	uint8_t zeros[16] = {0}, ones[16];
	char out[API_REQUEST_ID_LEN + 1];

	(void)state;
	memset(ones, 0xFF, sizeof ones);
	api_uuid_format(zeros, out);
	assert_string_equal(out, "00000000-0000-4000-8000-000000000000");
	api_uuid_format(ones, out);
	assert_string_equal(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");
	assert_true(is_uuid4(out));
	assert_int_equal(ones[6], 0xFF); /* the input is not touched */
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Fresh ids on every response: request and trace ids differ, none repeats. */
static void test_request_ids_unique(void **state)
{
	enum { N = 2000 };
	static char seen[2 * N][API_REQUEST_ID_LEN + 1];
	struct config cfg;
	struct server srv;
	struct rest_response r;

	(void)state;
	server_setup(&srv, &cfg, NULL);
	for (int i = 0; i < N; i++) {
		rest_response_init(&srv, &r);
		assert_true(is_uuid4(r.ids.request));
		assert_true(is_uuid4(r.ids.trace));
		memcpy(seen[2 * i], r.ids.request, sizeof seen[0]);
		memcpy(seen[2 * i + 1], r.ids.trace, sizeof seen[0]);
	}
	qsort(seen, 2 * N, sizeof seen[0], cmp_id);
	for (int i = 1; i < 2 * N; i++)
		assert_string_not_equal(seen[i - 1], seen[i]);
	conntab_fini(&srv.table);
}

static void test_error_body(void **state)
{
	struct rest_response r = {0};
	char want[256];

	(void)state;
	rest_error(&r, 404, API_NOT_FOUND, "connection x not found");
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "{\"code\":5,\"message\":\"connection x not found\",\"details\":[]}");
	assert_int_equal(r.body_len, strlen(r.body));
	rest_error(&r, 400, API_INVALID_ARGUMENT, "bad \xff \"id\"");
	assert_string_equal(r.body, "{\"code\":3,\"message\":\"bad ? \\\"id\\\"\",\"details\":[]}");
	rest_response_fini(&r);
	assert_null(r.body);
	rest_response_fini(&r);
	/* with a request id: Yandex Cloud's RequestInfo detail */
	snprintf(r.ids.request, sizeof r.ids.request, "%s", "e38e71c3-adc6-4584-98a4-b0f103d55f61");
	rest_error(&r, 401, API_UNAUTHENTICATED, "Token is invalid or has expired.");
	snprintf(want, sizeof want,
		 "{\"code\":16,\"message\":\"Token is invalid or has expired.\",\"details\":"
		 "[{\"@type\":\"type.googleapis.com/google.rpc.RequestInfo\","
		 "\"requestId\":\"%s\"}]}",
		 r.ids.request);
	assert_string_equal(r.body, want);
	rest_response_fini(&r);
}

/* ---- rest_handle ------------------------------------------------------------------ */

struct call {
	const char *method, *target, *auth, *body;
	int status;
	int code;          /* "code" in the JSON error body; 0 for a success body */
	const char *allow; /* expected Allow, or NULL */
	const char *msg;   /* substring of "message", or NULL */
};

static void check_call(struct server *srv, const struct call *c, size_t i)
{
	struct rest_request req = {
	    .method = c->method,
	    .method_len = strlen(c->method),
	    .target = c->target,
	    .target_len = strlen(c->target),
	    .authorization = c->auth,
	    .authorization_len = c->auth ? strlen(c->auth) : 0,
	    .body = (const uint8_t *)(c->body ? c->body : ""),
	    .body_len = c->body ? strlen(c->body) : 0,
	};
	struct rest_response r;
	json_error_t jerr;
	json_t *j;

	rest_handle(srv, &req, &r);
	assert_true(is_uuid4(r.ids.request) && is_uuid4(r.ids.trace)); /* on every response */
	if (r.status != c->status)
		fail_msg("call %zu %s %s: status %d, want %d: %.*s", i, c->method, c->target,
			 r.status, c->status, (int)r.body_len, r.body);
	if ((c->allow == NULL) != (r.allow == NULL) || (c->allow && strcmp(c->allow, r.allow)))
		fail_msg("call %zu: Allow %s", i, r.allow ? r.allow : "(none)");
	assert_int_equal(r.www_authenticate, c->status == 401);
	assert_non_null(r.body);
	assert_int_equal(r.body_len, strlen(r.body));
	j = json_loadb(r.body, r.body_len, 0, &jerr);
	if (!j)
		fail_msg("call %zu: body is not JSON: %s", i, r.body);
	if (c->code) {
		json_t *details = json_object_get(j, "details");
		const char *msg = json_string_value(json_object_get(j, "message"));

		json_t *info = json_array_get(details, 0);

		assert_int_equal(json_integer_value(json_object_get(j, "code")), c->code);
		assert_true(json_is_array(details) && json_array_size(details) == 1);
		assert_int_equal(json_object_size(info), 2);
		assert_string_equal(json_string_value(json_object_get(info, "@type")),
				    "type.googleapis.com/google.rpc.RequestInfo");
		assert_string_equal(json_string_value(json_object_get(info, "requestId")),
				    r.ids.request);
		assert_true(msg && *msg);
		if (c->msg && !strstr(msg, c->msg))
			fail_msg("call %zu: message \"%s\" lacks \"%s\"", i, msg, c->msg);
		assert_int_equal(json_object_size(j), 3);
	}
	json_decref(j);
	rest_response_fini(&r);
}

static const char send_body[] = "{\"data\":\"aGk=\",\"type\":\"TEXT\"}";

static const struct call open_calls[] = {
    {"GET", P "abc", NULL, NULL, 404, 5, NULL, "connection abc not found"},
    {"HEAD", P "abc", NULL, NULL, 404, 5, NULL, "not found"},
    {"DELETE", P "abc", NULL, NULL, 404, 5, NULL, "not found"},
    {"GET", P ID33, NULL, NULL, 404, 5, NULL, ID33},
    {"DELETE", P ID33 "?force=1", NULL, NULL, 404, 5, NULL, ID33},
    {"GET", P "abc?x=/y:send", NULL, NULL, 404, 5, NULL, "connection abc not found"},
    {"GET", "http://gw.example" P "abc", NULL, NULL, 404, 5, NULL, "connection abc not found"},
    {"GET", "HTTPS://gw.example:443" P "abc?q", NULL, NULL, 404, 5, NULL, "abc"},
    {"GET", P "a%62c", NULL, NULL, 404, 5, NULL, "connection abc not found"},
    {"GET", P "a%C3%A9c", NULL, NULL, 404, 5, NULL, "connection a\xc3\xa9" "c not found"},
    {"GET", P "a%FFc", NULL, NULL, 400, 3, NULL, "UTF-8"}, /* decoded first, then api.c */
    {"GET", P "a%2Fc", NULL, NULL, 404, 5, NULL, "connection a/c not found"},
    {"POST", P "abc:send", NULL, send_body, 404, 5, NULL, "connection abc not found"},
    {"POST", P "abc/:send", NULL, send_body, 404, 5, NULL, "connection abc not found"},
    {"POST", P ID33 ":send?x", NULL, send_body, 404, 5, NULL, NULL},
    /* api.c's rules, not ours: the id, then data before the lookup */
    {"GET", P, NULL, NULL, 400, 3, NULL, "connection_id is required"},
    {"POST", P ":send", NULL, send_body, 400, 3, NULL, "connection_id is required"},
    {"GET", P "123456789012345678901234567890123456789012345678901", NULL, NULL, 400, 3, NULL,
     "51 characters"},
    {"POST", P "abc:send", NULL, "{\"data\":\"/w==\",\"type\":\"TEXT\"}", 400, 3, NULL,
     "UTF-8"},
    {"POST", P "abc:send", NULL, "{\"data\":\"/w==\",\"type\":\"BINARY\"}", 404, 5, NULL, NULL},
    /* data is required (API.md), whatever the type, whether empty, null or absent */
    {"POST", P "abc:send", NULL, "{\"data\":\"\"}", 400, 3, NULL, "data is required"},
    {"POST", P "abc:send", NULL, "{\"data\":\"\",\"type\":\"TEXT\"}", 400, 3, NULL,
     "data is required"},
    {"POST", P "abc:send", NULL, "{\"data\":null,\"type\":\"BINARY\"}", 400, 3, NULL,
     "data is required"},
    {"POST", P "abc:send", NULL, "{}", 400, 3, NULL, "data is required"},
    {"POST", P ID33 ":send", NULL, "{\"data\":\"\"}", 400, 3, NULL, "data is required"},
    /* our own 400s: the escape, the body */
    {"GET", P "ab%zz", NULL, NULL, 400, 3, NULL, "percent"},
    {"GET", P "ab%4", NULL, NULL, 400, 3, NULL, "percent"},
    {"POST", P "abc:send", NULL, "{\"data\":", 400, 3, NULL, "malformed JSON"},
    {"POST", P "abc:send", NULL, NULL, 400, 3, NULL, "malformed JSON"},
    {"POST", P "abc:send", NULL, "[1]", 400, 3, NULL, "object"},
    {"POST", P "abc:send", NULL, "{\"data\":1}", 400, 3, NULL, "data"},
    {"POST", P "abc:send", NULL, "{\"type\":\"TXT\"}", 400, 3, NULL, "type"},
    {"POST", P "abc:send", NULL, "{\"data\":\"a*==\"}", 400, 3, NULL, "base64"},
    /* routes */
    {"GET", "/", NULL, NULL, 404, 5, NULL, "no such path"},
    {"GET", "/apigateways/websocket/v1/connections", NULL, NULL, 404, 5, NULL, NULL},
    {"GET", P "abc/def", NULL, NULL, 404, 5, NULL, "no such path"},
    {"GET", P "abc/", NULL, NULL, 404, 5, NULL, "no such path"},
    {"POST", P "a/b:send", NULL, send_body, 404, 5, NULL, "no such path"},
    {"GET", "http://gw.example", NULL, NULL, 404, 5, NULL, NULL},
    {"GET", "*", NULL, NULL, 404, 5, NULL, NULL},
    {"POST", P "abc", NULL, send_body, 405, 12, "GET, HEAD, DELETE", "POST"},
    {"PUT", P "abc", NULL, NULL, 405, 12, "GET, HEAD, DELETE", NULL},
    {"get", P "abc", NULL, NULL, 405, 12, "GET, HEAD, DELETE", NULL},
    {"OPTIONS", P "abc", NULL, NULL, 405, 12, "GET, HEAD, DELETE", NULL},
    {"GET", P "abc:send", NULL, NULL, 405, 12, "POST", NULL},
    {"DELETE", P "abc/:send", NULL, NULL, 405, 12, "POST", NULL},
    {"PATCH", P "abc:send", NULL, send_body, 405, 12, "POST", NULL},
    /* no token configured: Authorization is ignored */
    {"GET", P "abc", "Bearer whatever", NULL, 404, 5, NULL, NULL},
};

static void test_handle_routes(void **state)
{
	struct config cfg;
	struct server srv;

	(void)state;
	server_setup(&srv, &cfg, NULL);
	for (size_t i = 0; i < sizeof open_calls / sizeof open_calls[0]; i++)
		check_call(&srv, &open_calls[i], i);
	conntab_fini(&srv.table);
}

static const struct call auth_calls[] = {
    {"GET", P "abc", NULL, NULL, 401, 16, NULL, "bearer"},
    {"GET", P "abc", "Bearer s3cret", NULL, 404, 5, NULL, NULL},
    {"GET", P "abc", "bearer s3cret", NULL, 404, 5, NULL, NULL},
    {"DELETE", P "abc", "BEARER s3cret", NULL, 404, 5, NULL, NULL},
    {"POST", P "abc:send", "Bearer s3cret", send_body, 404, 5, NULL, NULL},
    {"POST", P "abc:send", NULL, "{", 401, 16, NULL, NULL},
    {"GET", P "abc", "Bearer s3cre", NULL, 401, 16, NULL, NULL},
    {"GET", P "abc", "Bearer s3cret2", NULL, 401, 16, NULL, NULL},
    {"GET", P "abc", "Bearer S3CRET", NULL, 401, 16, NULL, NULL},
    {"GET", P "abc", "Bearer  s3cret", NULL, 401, 16, NULL, NULL},
    {"GET", P "abc", "Bearer s3cret ", NULL, 401, 16, NULL, NULL},
    {"GET", P "abc", "Basic s3cret", NULL, 401, 16, NULL, NULL},
    {"GET", P "abc", "s3cret", NULL, 401, 16, NULL, NULL},
    {"GET", P "abc", "Bearer", NULL, 401, 16, NULL, NULL},
    {"GET", P "abc", "", NULL, 401, 16, NULL, NULL},
    /* the route is checked first, as grpc.c does: no token needed to learn 404/405 */
    {"GET", "/nope", NULL, NULL, 404, 5, NULL, NULL},
    {"PUT", P "abc", NULL, NULL, 405, 12, "GET, HEAD, DELETE", NULL},
};

static void test_handle_auth(void **state)
{
	struct config cfg;
	struct server srv;

	(void)state;
	server_setup(&srv, &cfg, "s3cret");
	for (size_t i = 0; i < sizeof auth_calls / sizeof auth_calls[0]; i++)
		check_call(&srv, &auth_calls[i], i);
	conntab_fini(&srv.table);
}

static void test_handle_draining(void **state)
{
	static const struct call calls[] = {
	    {"GET", P "abc", NULL, NULL, 503, 14, NULL, "shutting down"},
	    {"DELETE", P "abc", NULL, NULL, 503, 14, NULL, NULL},
	    {"POST", P "abc:send", NULL, send_body, 503, 14, NULL, NULL},
	};
	struct config cfg;
	struct server srv;

	(void)state;
	server_setup(&srv, &cfg, NULL);
	srv.draining = 1;
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
		check_call(&srv, &calls[i], i);
	conntab_fini(&srv.table);
}

/* The exact bytes of the common errors, as a client sees them. */
static void test_handle_exact(void **state)
{
	struct config cfg;
	struct server srv;
	struct rest_request req = {.method = "PUT", .method_len = 3, .target = P "abc",
				   .target_len = sizeof P "abc" - 1, .body = (const uint8_t *)""};
	struct rest_response r;
	char want[320];

	(void)state;
	server_setup(&srv, &cfg, NULL);
	rest_handle(&srv, &req, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "GET, HEAD, DELETE");
	snprintf(want, sizeof want,
		 "{\"code\":12,\"message\":\"method PUT is not allowed here; allowed: GET, HEAD, "
		 "DELETE\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.RequestInfo\","
		 "\"requestId\":\"%s\"}]}",
		 r.ids.request);
	assert_string_equal(r.body, want);
	rest_response_fini(&r);
	req.method = "GET";
	rest_handle(&srv, &req, &r);
	assert_int_equal(r.status, 404);
	assert_null(r.allow);
	snprintf(want, sizeof want,
		 "{\"code\":5,\"message\":\"connection abc not found\",\"details\":[{\"@type\":"
		 "\"type.googleapis.com/google.rpc.RequestInfo\",\"requestId\":\"%s\"}]}",
		 r.ids.request);
	assert_string_equal(r.body, want);
	rest_response_fini(&r);
	conntab_fini(&srv.table);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_of),       cmocka_unit_test(test_timestamp),
	    cmocka_unit_test(test_parse_send),      cmocka_unit_test(test_base64_lengths),
	    cmocka_unit_test(test_percent_decode),  cmocka_unit_test(test_connection_json),
	    cmocka_unit_test(test_error_body),      cmocka_unit_test(test_handle_routes),
	    cmocka_unit_test(test_handle_auth),     cmocka_unit_test(test_handle_draining),
	    cmocka_unit_test(test_handle_exact),    cmocka_unit_test(test_uuid_format),
	    cmocka_unit_test(test_request_ids_unique),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
