/* test_ws_handshake.c — unit tests for the RFC 6455 §4.2 server handshake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "ws_handshake.h"

/* RFC 6455 §1.3 example key and its Sec-WebSocket-Accept. */
#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static const char *const protos[] = {"superchat", "chat", "v1.json"};

/* Kept static: the views in hs point into it. */
static char buf[4096];
static struct http1_request req;

/* Parses a request line plus the field lines in fields (each "Name: value",
 * NULL-terminated list) and checks it. */
static int check_n(const char *line, const char *const *fields, const char *const *p, size_t n,
                   struct ws_handshake *hs)
{
	size_t len = (size_t)snprintf(buf, sizeof(buf), "%s\r\n", line);

	for (; *fields; fields++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s\r\n", *fields);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\r\n");
	assert_true(len < sizeof(buf));
	assert_int_equal(http1_parse_request(buf, len, &req), (int)len);
	return ws_handshake_check(&req, p, n, hs);
}

static int check(const char *line, const char *const *fields, struct ws_handshake *hs)
{
	return check_n(line, fields, protos, 3, hs);
}

#define F(...) ((const char *const[]){__VA_ARGS__, NULL})
#define GOOD_LINE "GET /chat?room=1 HTTP/1.1"
#define HOST "Host: server.example.com"
#define UPG "Upgrade: websocket"
#define CONN "Connection: Upgrade"
#define VER "Sec-WebSocket-Version: 13"
#define KEYH "Sec-WebSocket-Key: " KEY

static void assert_str(struct http1_str s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
}

static void expect_status(int status, const char *reason, const char *line,
                          const char *const *fields)
{
	struct ws_handshake hs;

	assert_int_equal(check(line, fields, &hs), status);
	assert_int_equal(hs.status, status);
	assert_string_equal(hs.reason, reason);
	if (status != 101) {
		assert_int_equal(hs.protocol, -1);
		assert_int_equal(hs.key.len, 0);
	}
}

static void test_accept_rfc_example(void **state)
{
	char out[WS_ACCEPT_LEN + 1];

	(void)state;
	memset(out, 'x', sizeof(out));
	ws_handshake_accept((struct http1_str){KEY, 24}, out);
	assert_string_equal(out, ACCEPT);
}

static void test_valid(void **state)
{
	struct ws_handshake hs;
	char accept[WS_ACCEPT_LEN + 1];

	(void)state;
	assert_int_equal(check(GOOD_LINE,
	                       F(HOST, UPG, CONN, KEYH, "Origin: http://example.com",
	                         "Sec-WebSocket-Protocol: chat, superchat", VER,
	                         "User-Agent: test-client/1.0 (x)"),
	                       &hs),
	                 101);
	assert_int_equal(hs.status, 101);
	assert_string_equal(hs.reason, "switching protocols");
	assert_str(hs.key, KEY);
	assert_true(hs.key.p > buf && hs.key.p < buf + sizeof(buf));
	assert_str(hs.path, "/chat");
	assert_ptr_equal(hs.path.p, buf + 4);
	assert_str(hs.user_agent, "test-client/1.0 (x)");
	assert_int_equal(hs.forwarded_for.len, 0);
	assert_int_equal(hs.protocol, 1); /* "chat": the client's first choice */
	ws_handshake_accept(hs.key, accept);
	assert_string_equal(accept, ACCEPT);
}

static void test_valid_variants(void **state)
{
	struct ws_handshake hs;

	(void)state;
	/* Case-insensitive tokens, lists, split lists, OWS around "13". */
	assert_int_equal(check("GET / HTTP/1.1",
	                       F("host: h", "Upgrade: h2c", "UPGRADE: WebSocket",
	                         "connection: keep-alive, UPGRADE", "sec-websocket-version:  13 ",
	                         "sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA=="),
	                       &hs),
	                 101);
	assert_str(hs.path, "/");
	assert_str(hs.key, "AAAAAAAAAAAAAAAAAAAAAA==");
	assert_int_equal(hs.user_agent.len, 0);
	assert_int_equal(hs.protocol, -1);
}

static void test_method(void **state)
{
	(void)state;
	expect_status(405, "method not allowed", "POST /chat HTTP/1.1",
	              F(HOST, UPG, CONN, VER, KEYH));
	expect_status(405, "method not allowed", "get /chat HTTP/1.1",
	              F(HOST, UPG, CONN, VER, KEYH));
	expect_status(405, "method not allowed", "GETS /chat HTTP/1.1",
	              F(HOST, UPG, CONN, VER, KEYH));
	/* The method comes first: 405 even when everything else is wrong. */
	expect_status(405, "method not allowed", "HEAD /chat HTTP/1.0", F("X: y"));
}

static void test_http10(void **state)
{
	(void)state;
	expect_status(400, "HTTP/1.1 or later required", "GET /chat HTTP/1.0",
	              F(HOST, UPG, CONN, VER, KEYH));
}

static void test_host(void **state)
{
	static const char *r = "missing or invalid Host";

	(void)state;
	expect_status(400, r, GOOD_LINE, F(UPG, CONN, VER, KEYH));
	expect_status(400, r, GOOD_LINE, F(HOST, UPG, CONN, VER, KEYH, "host: other"));
	expect_status(400, r, GOOD_LINE, F("Host:  ", UPG, CONN, VER, KEYH));
}

static void test_upgrade(void **state)
{
	static const char *r = "missing websocket in Upgrade";

	(void)state;
	expect_status(400, r, GOOD_LINE, F(HOST, CONN, VER, KEYH));
	expect_status(400, r, GOOD_LINE, F(HOST, "Upgrade: h2c", CONN, VER, KEYH));
	expect_status(400, r, GOOD_LINE, F(HOST, "Upgrade: websockets", CONN, VER, KEYH));
	/* Upgrade is checked before the version. */
	expect_status(400, r, GOOD_LINE, F(HOST, CONN, "Sec-WebSocket-Version: 8"));
}

static void test_connection(void **state)
{
	static const char *r = "missing upgrade in Connection";

	(void)state;
	expect_status(400, r, GOOD_LINE, F(HOST, UPG, VER, KEYH));
	expect_status(400, r, GOOD_LINE, F(HOST, UPG, "Connection: keep-alive", VER, KEYH));
	expect_status(400, r, GOOD_LINE, F(HOST, UPG, "Connection: close", VER));
}

static void test_version(void **state)
{
	static const char *r = "unsupported Sec-WebSocket-Version";

	(void)state;
	expect_status(426, r, GOOD_LINE, F(HOST, UPG, CONN, KEYH));
	expect_status(426, r, GOOD_LINE, F(HOST, UPG, CONN, "Sec-WebSocket-Version: 8", KEYH));
	expect_status(426, r, GOOD_LINE, F(HOST, UPG, CONN, "Sec-WebSocket-Version: 13, 8", KEYH));
	expect_status(426, r, GOOD_LINE, F(HOST, UPG, CONN, "Sec-WebSocket-Version: 130", KEYH));
	expect_status(426, r, GOOD_LINE, F(HOST, UPG, CONN, VER, VER, KEYH));
	/* The version is checked before the key. */
	expect_status(426, r, GOOD_LINE, F(HOST, UPG, CONN, "Sec-WebSocket-Version: 7"));
	expect_status(426, r, GOOD_LINE,
	              F(HOST, UPG, CONN, "Sec-WebSocket-Version: 7", "Sec-WebSocket-Key: x"));
}

static void test_key(void **state)
{
	static const char *r = "missing or invalid Sec-WebSocket-Key";
	static const char *const bad[] = {
	    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA",      /* 15 bytes */
	    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=",  /* 17 bytes */
	    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA",  /* 18 bytes */
	    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA==", /* 25 chars */
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!==",  /* bad alphabet */
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ-==",  /* base64url */
	    "Sec-WebSocket-Key: dGhlIHNhbXBs ZSBub25jZQ==", /* inner SP */
	    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAA===",  /* '=' inside */
	    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=A",  /* bad padding */
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==",  /* non-zero pad bits */
	    "Sec-WebSocket-Key: ",
	};

	(void)state;
	expect_status(400, r, GOOD_LINE, F(HOST, UPG, CONN, VER));
	expect_status(400, r, GOOD_LINE, F(HOST, UPG, CONN, VER, KEYH, KEYH));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("key: %s\n", bad[i]);
		expect_status(400, r, GOOD_LINE, F(HOST, UPG, CONN, VER, bad[i]));
	}
}

static void test_target(void **state)
{
	static const char *const fields[] = {HOST, UPG, CONN, VER, KEYH, NULL};
	static const char *r = "invalid request target";
	struct ws_handshake hs;

	(void)state;
	assert_int_equal(check("GET ws://h:80/a/b?c=/d HTTP/1.1", fields, &hs), 101);
	assert_str(hs.path, "/a/b");
	assert_ptr_equal(hs.path.p, buf + 13);
	assert_int_equal(check("GET HTTP://h HTTP/1.1", fields, &hs), 101);
	assert_str(hs.path, "/");
	assert_int_equal(check("GET ws://h?x=1 HTTP/1.1", fields, &hs), 101);
	assert_str(hs.path, "/");
	assert_int_equal(check("GET /?x HTTP/1.1", fields, &hs), 101);
	assert_str(hs.path, "/");
	assert_int_equal(check("GET //x HTTP/1.1", fields, &hs), 101);
	assert_str(hs.path, "//x");
	expect_status(400, r, "GET * HTTP/1.1", fields);
	expect_status(400, r, "GET chat HTTP/1.1", fields);
	expect_status(400, r, "GET ?x HTTP/1.1", fields);
	expect_status(400, r, "GET ws:///chat HTTP/1.1", fields);
	expect_status(400, r, "GET https://h/chat HTTP/1.1", fields);
	expect_status(400, r, "GET wss://h/chat HTTP/1.1", fields);
	expect_status(400, r, "GET ws:/chat HTTP/1.1", fields);
}

static void test_protocols(void **state)
{
	struct ws_handshake hs;

	(void)state;
	/* Several headers: the client's order across all of them decides. */
	assert_int_equal(check(GOOD_LINE,
	                       F(HOST, UPG, CONN, VER, KEYH, "Sec-WebSocket-Protocol: a, ,b",
	                         "Sec-WebSocket-Protocol: ,v1.json , superchat"),
	                       &hs),
	                 101);
	assert_int_equal(hs.protocol, 2);
	/* Names are compared exactly. */
	assert_int_equal(check(GOOD_LINE,
	                       F(HOST, UPG, CONN, VER, KEYH, "Sec-WebSocket-Protocol: Chat, chat2"),
	                       &hs),
	                 101);
	assert_int_equal(hs.protocol, -1);
	/* None offered. */
	assert_int_equal(check(GOOD_LINE, F(HOST, UPG, CONN, VER, KEYH), &hs), 101);
	assert_int_equal(hs.protocol, -1);
	/* None configured. */
	assert_int_equal(check_n(GOOD_LINE,
	                         F(HOST, UPG, CONN, VER, KEYH, "Sec-WebSocket-Protocol: chat"),
	                         NULL, 0, &hs),
	                 101);
	assert_int_equal(hs.protocol, -1);
	assert_int_equal(check_n(GOOD_LINE,
	                         F(HOST, UPG, CONN, VER, KEYH, "Sec-WebSocket-Protocol: x, chat"),
	                         protos + 1, 1, &hs),
	                 101);
	assert_int_equal(hs.protocol, 0);
}

static void test_forwarded_for(void **state)
{
	struct ws_handshake hs;

	(void)state;
	assert_int_equal(
	    check(GOOD_LINE,
	          F(HOST, UPG, CONN, VER, KEYH, "X-Forwarded-For: \t 203.0.113.7 , 10.0.0.1",
	            "X-Forwarded-For: 198.51.100.1"),
	          &hs),
	    101);
	assert_str(hs.forwarded_for, "203.0.113.7");
	assert_int_equal(
	    check(GOOD_LINE, F(HOST, UPG, CONN, VER, KEYH, "x-forwarded-for: 2001:db8::1"), &hs),
	    101);
	assert_str(hs.forwarded_for, "2001:db8::1");
	assert_int_equal(check(GOOD_LINE, F(HOST, UPG, CONN, VER, KEYH, "X-Forwarded-For: "), &hs),
	                 101);
	assert_int_equal(hs.forwarded_for.len, 0);
	/* Filled even when the request is refused, for the caller's log. */
	assert_int_equal(
	    check("POST / HTTP/1.1", F("User-Agent: curl/8", "X-Forwarded-For: 192.0.2.1"), &hs),
	    405);
	assert_str(hs.forwarded_for, "192.0.2.1");
	assert_str(hs.user_agent, "curl/8");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accept_rfc_example),
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_valid_variants),
	    cmocka_unit_test(test_method),
	    cmocka_unit_test(test_http10),
	    cmocka_unit_test(test_host),
	    cmocka_unit_test(test_upgrade),
	    cmocka_unit_test(test_connection),
	    cmocka_unit_test(test_version),
	    cmocka_unit_test(test_key),
	    cmocka_unit_test(test_target),
	    cmocka_unit_test(test_protocols),
	    cmocka_unit_test(test_forwarded_for),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
