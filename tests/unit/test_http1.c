/* test_http1.c — unit tests for the HTTP/1.1 request-head parser.
 *
 * Every case is fed whole, as each growing prefix (byte by byte) and split in
 * two at every point; each parse sees an exact-size heap copy so ASan flags
 * any read past len.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "http1.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static int parse_copy(const char *buf, size_t len)
{
	struct http1_request req;
	char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	rc = http1_parse_request(copy, len, &req);
	free(copy);
	return rc;
}

/* Views compared as offsets, so two parses of different buffers match. */
static void assert_same_view(struct http1_str a, const char *abase, struct http1_str b,
                             const char *bbase)
{
	assert_int_equal(a.len, b.len);
	assert_int_equal(a.p - abase, b.p - bbase);
}

static void assert_same_req(const struct http1_request *a, const char *abase,
                            const struct http1_request *b, const char *bbase)
{
	assert_same_view(a->method, abase, b->method, bbase);
	assert_same_view(a->target, abase, b->target, bbase);
	assert_int_equal(a->version_minor, b->version_minor);
	assert_int_equal(a->num_headers, b->num_headers);
	for (size_t i = 0; i < a->num_headers; i++) {
		assert_same_view(a->headers[i].name, abase, b->headers[i].name, bbase);
		assert_same_view(a->headers[i].value, abase, b->headers[i].value, bbase);
	}
}

/* A good head of head_len bytes, maybe followed by other bytes: every strict
 * prefix of the head needs more, anything longer yields exactly head_len. */
static void expect_ok(const char *buf, size_t len, size_t head_len)
{
	struct http1_request whole, again;
	char *conn = malloc(len);

	assert_non_null(conn);
	assert_int_equal(http1_parse_request(buf, len, &whole), (int)head_len);
	for (size_t k = 0; k <= len; k++)
		assert_int_equal(parse_copy(buf, k), k < head_len ? ERR_AGAIN : (int)head_len);
	/* Two reads into one connection buffer, re-parsed from the start. */
	for (size_t k = 1; k < len; k++) {
		memcpy(conn, buf, k);
		assert_int_equal(http1_parse_request(conn, k, &again),
		                 k < head_len ? ERR_AGAIN : (int)head_len);
		memcpy(conn + k, buf + k, len - k);
		assert_int_equal(http1_parse_request(conn, len, &again), (int)head_len);
		assert_same_req(&whole, buf, &again, conn);
	}
	free(conn);
}

/* A bad head whose byte at index `at` is the first to prove err. */
static void expect_err(const char *buf, size_t len, size_t at, int err)
{
	struct http1_request req;

	assert_true(at < len);
	assert_int_equal(http1_parse_request(buf, len, &req), err);
	for (size_t k = 0; k <= len; k++)
		assert_int_equal(parse_copy(buf, k), k <= at ? ERR_AGAIN : err);
}

static void assert_str(struct http1_str s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
}

/* ---- good requests ------------------------------------------------------ */

static void test_simple(void **state)
{
	static const char buf[] = "GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
	struct http1_request req;

	(void)state;
	assert_int_equal(http1_parse_request(S(buf), &req), (int)sizeof(buf) - 1);
	assert_ptr_equal(req.method.p, buf);
	assert_str(req.method, "GET");
	assert_ptr_equal(req.target.p, buf + 4);
	assert_str(req.target, "/chat?x=1");
	assert_int_equal(req.version_minor, 1);
	assert_int_equal(req.num_headers, 1);
	assert_ptr_equal(req.headers[0].name.p, buf + 24);
	assert_str(req.headers[0].name, "Host");
	assert_str(req.headers[0].value, "example.com");
	expect_ok(S(buf), sizeof(buf) - 1);
}

static void test_no_headers(void **state)
{
	static const char buf[] = "OPTIONS * HTTP/1.1\r\n\r\n";
	struct http1_request req;

	(void)state;
	assert_int_equal(http1_parse_request(S(buf), &req), 22);
	assert_str(req.method, "OPTIONS");
	assert_str(req.target, "*");
	assert_int_equal(req.num_headers, 0);
	expect_ok(S(buf), 22);
}

static void test_bare_lf(void **state)
{
	static const char buf[] = "GET / HTTP/1.1\nHost: a\nX: b\n\n";
	static const char mixed[] = "GET / HTTP/1.1\nHost: a\r\nX: b\n\r\n";
	struct http1_request req;

	(void)state;
	assert_int_equal(http1_parse_request(S(buf), &req), (int)sizeof(buf) - 1);
	assert_int_equal(req.num_headers, 2);
	assert_str(req.headers[0].value, "a");
	assert_str(req.headers[1].name, "X");
	assert_str(req.headers[1].value, "b");
	expect_ok(S(buf), sizeof(buf) - 1);
	assert_int_equal(http1_parse_request(S(mixed), &req), (int)sizeof(mixed) - 1);
	assert_str(req.headers[1].value, "b");
	expect_ok(S(mixed), sizeof(mixed) - 1);
}

static void test_ows(void **state)
{
	static const char buf[] = "GET / HTTP/1.1\r\n"
	                          "A:  \t x  y \t \r\n"
	                          "B:\r\n"
	                          "C: \t \r\n"
	                          "D:v\r\n"
	                          "Host: example.com:8080\r\n\r\n";
	struct http1_request req;

	(void)state;
	assert_int_equal(http1_parse_request(S(buf), &req), (int)sizeof(buf) - 1);
	assert_int_equal(req.num_headers, 5);
	assert_str(req.headers[0].value, "x  y");
	assert_str(req.headers[1].value, "");
	assert_str(req.headers[2].value, "");
	assert_str(req.headers[3].value, "v");
	assert_str(req.headers[4].value, "example.com:8080");
	expect_ok(S(buf), sizeof(buf) - 1);
}

static void test_obs_text_and_vchars(void **state)
{
	static const char buf[] =
	    "M-SEARCH http://h/x HTTP/1.1\r\n"
	    "X-Name: caf\xc3\xa9 \x80\xff\r\n"
	    "!#$%&'*+-.^_`|~09azAZ: !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~\r\n"
	    "\r\n";
	struct http1_request req;

	(void)state;
	assert_int_equal(http1_parse_request(S(buf), &req), (int)sizeof(buf) - 1);
	assert_str(req.method, "M-SEARCH");
	assert_str(req.target, "http://h/x");
	assert_str(req.headers[0].value, "caf\xc3\xa9 \x80\xff");
	assert_str(req.headers[1].name, "!#$%&'*+-.^_`|~09azAZ");
	assert_str(req.headers[1].value, "!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~");
	expect_ok(S(buf), sizeof(buf) - 1);
}

static void test_versions(void **state)
{
	static const char v10[] = "GET / HTTP/1.0\r\n\r\n";
	static const char v19[] = "GET / HTTP/1.9\r\n\r\n";
	struct http1_request req;

	(void)state;
	assert_int_equal(http1_parse_request(S(v10), &req), 18);
	assert_int_equal(req.version_minor, 0);
	expect_ok(S(v10), 18);
	assert_int_equal(http1_parse_request(S(v19), &req), 18);
	assert_int_equal(req.version_minor, 9);
}

static void test_leading_empty_lines(void **state)
{
	static const char buf[] = "\r\n\n\r\nGET / HTTP/1.1\r\n\r\n";
	struct http1_request req;

	(void)state;
	assert_int_equal(http1_parse_request(S(buf), &req), (int)sizeof(buf) - 1);
	assert_ptr_equal(req.method.p, buf + 5);
	expect_ok(S(buf), sizeof(buf) - 1);
}

static void test_trailing_bytes_not_consumed(void **state)
{
	static const char body[] = "POST /api HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd";
	static const char next[] = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
	static const char junk[] = "GET /a HTTP/1.1\n\n\r\x01 \x7f";

	(void)state;
	expect_ok(S(body), sizeof(body) - 1 - 4);
	expect_ok(S(next), 19);
	expect_ok(S(junk), 17);
}

static void test_max_headers(void **state)
{
	char buf[2048];
	struct http1_request req;
	size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
	size_t limit_at;

	(void)state;
	for (int i = 0; i < HTTP1_MAX_HEADERS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-H%02d: v%d\r\n", i, i);
	limit_at = n;
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	assert_int_equal(http1_parse_request(buf, n, &req), (int)n);
	assert_int_equal(req.num_headers, HTTP1_MAX_HEADERS);
	assert_str(req.headers[HTTP1_MAX_HEADERS - 1].name, "X-H63");
	assert_str(req.headers[HTTP1_MAX_HEADERS - 1].value, "v63");
	expect_ok(buf, n, n);

	/* One more field line: ERR_LIMIT from its first byte. */
	n = limit_at + (size_t)snprintf(buf + limit_at, sizeof(buf) - limit_at, "X: y\r\n\r\n");
	expect_err(buf, n, limit_at, ERR_LIMIT);
}

/* ---- malformed requests ------------------------------------------------- */

/* head is fine so far; the first byte of tail proves the request bad. */
struct bad {
	const char *what;
	const char *head;
	const char *tail;
	size_t tail_len;
};

#define RL "GET / HTTP/1.1\r\n"
#define BAD(what, head, tail)                                                                      \
	{                                                                                          \
		what, head, tail, sizeof(tail) - 1                                                 \
	}

static const struct bad bad_cases[] = {
    BAD("empty method", "", " / HTTP/1.1\r\n\r\n"),
    BAD("bad method char", "GE", "(T / HTTP/1.1\r\n\r\n"),
    BAD("NUL in method", "G", "\0ET / HTTP/1.1\r\n\r\n"),
    BAD("HTAB after method", "GET", "\t/ HTTP/1.1\r\n\r\n"),
    BAD("LF after method", "GET", "\n\r\n"),
    BAD("two SP after method", "GET ", " / HTTP/1.1\r\n\r\n"),
    BAD("control in target", "GET /", "\x01 HTTP/1.1\r\n\r\n"),
    BAD("DEL in target", "GET /a", "\x7f HTTP/1.1\r\n\r\n"),
    BAD("obs-text in target", "GET /", "\x80 HTTP/1.1\r\n\r\n"),
    BAD("missing version", "GET /", "\r\n\r\n"),
    BAD("missing version, LF", "GET /", "\n\n"),
    BAD("empty version", "GET / ", "\r\n\r\n"),
    BAD("two SP after target", "GET / ", " HTTP/1.1\r\n\r\n"),
    BAD("lowercase http", "GET / ", "http/1.1\r\n\r\n"),
    BAD("HTTX", "GET / HTT", "X/1.1\r\n\r\n"),
    BAD("HTTP/2.0", "GET / HTTP/", "2.0\r\n\r\n"),
    BAD("HTTP/1.10", "GET / HTTP/1.1", "0\r\n\r\n"),
    BAD("HTTP/1.x", "GET / HTTP/1.", "x\r\n\r\n"),
    BAD("HTTP/1.", "GET / HTTP/1.", "\r\n\r\n"),
    BAD("SP after version", "GET / HTTP/1.1", " \r\n\r\n"),
    BAD("bare CR after version", "GET / HTTP/1.1\r", "Host: a\r\n\r\n"),
    BAD("bare CR, leading line", "\r", "GET / HTTP/1.1\r\n\r\n"),
    BAD("bare CR, second leading line", "\r\n\r", "\rGET / HTTP/1.1\r\n\r\n"),
    BAD("SP before colon", RL "Host", " : a\r\n\r\n"),
    BAD("HTAB before colon", RL "Host", "\t: a\r\n\r\n"),
    BAD("empty name", RL, ": a\r\n\r\n"),
    BAD("bad name char", RL "Ho", "(st: a\r\n\r\n"),
    BAD("obs-text in name", RL "Ho", "\x80st: a\r\n\r\n"),
    BAD("no colon", RL "Host", "\r\n\r\n"),
    BAD("no colon, LF", RL "Host", "\n\n"),
    BAD("SP before first field", RL, " Host: a\r\n\r\n"),
    BAD("obs-fold SP", RL "Host: a\r\n", " b\r\n\r\n"),
    BAD("obs-fold HTAB", RL "Host: a\n", "\tb\n\n"),
    BAD("NUL in value", RL "X: a", "\0b\r\n\r\n"),
    BAD("DEL in value", RL "X: a", "\x7f\r\n\r\n"),
    BAD("SOH in value", RL "X: ", "\x01\r\n\r\n"),
    BAD("VT in value", RL "X: a", "\x0b\r\n\r\n"),
    BAD("FF in value", RL "X:", "\x0c\r\n\r\n"),
    BAD("ESC in value", RL "X: a b", "\x1b\r\n\r\n"),
    BAD("bare CR in value", RL "X: a\r", "b\r\n\r\n"),
    BAD("CR CR LF", RL "X: a\r", "\r\n\r\n"),
    BAD("bare CR, last line", RL "Host: a\r\n\r", "X"),
    BAD("bare CR, last line after LF", RL "Host: a\n\r", "X"),
};

static void test_malformed(void **state)
{
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad *b = &bad_cases[i];
		size_t at = strlen(b->head);

		print_message("malformed: %s\n", b->what);
		assert_true(at + b->tail_len <= sizeof(buf));
		memcpy(buf, b->head, at);
		memcpy(buf + at, b->tail, b->tail_len);
		expect_err(buf, at + b->tail_len, at, ERR_PROTO);
	}
}

static void test_empty_input(void **state)
{
	struct http1_request req;

	(void)state;
	assert_int_equal(http1_parse_request("", 0, &req), ERR_AGAIN);
	assert_int_equal(http1_parse_request(S("\r\n\r\n\n"), &req), ERR_AGAIN);
}

/* Every byte value in every position, against an independent oracle. */
static bool oracle_tchar(int b)
{
	return b > 0 && b < 0x80 &&
	       (strchr("!#$%&'*+-.^_`|~", b) || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') ||
	        (b >= 'A' && b <= 'Z'));
}

static void expect_byte(const char *fmt, int b, bool ok)
{
	char buf[64];
	struct http1_request req;
	int n = snprintf(buf, sizeof(buf), fmt, 'x');
	char *at = memchr(buf, 'x', (size_t)n);
	int rc;

	*at = (char)b;
	rc = http1_parse_request(buf, (size_t)n, &req);
	if (rc != (ok ? n : ERR_PROTO))
		fail_msg("byte 0x%02x in \"%s\": got %d", b, fmt, rc);
}

static void test_every_byte(void **state)
{
	(void)state;
	for (int b = 0; b < 256; b++) {
		bool vchar = b >= 0x21 && b <= 0x7e;
		bool field = b == '\t' || b == ' ' || vchar || b >= 0x80;

		expect_byte("G%cT / HTTP/1.1\r\n\r\n", b, oracle_tchar(b));
		expect_byte("GET /%c HTTP/1.1\r\n\r\n", b, vchar);
		expect_byte("GET / HTTP/1.1\r\nH%c: v\r\n\r\n", b, oracle_tchar(b) || b == ':');
		expect_byte("GET / HTTP/1.1\r\nH: a%cb\r\n\r\n", b, field);
	}
}

/* ---- helpers ------------------------------------------------------------ */

static struct http1_str str(const char *s)
{
	return (struct http1_str){s, strlen(s)};
}

static void test_has_token(void **state)
{
	(void)state;
	assert_true(http1_has_token(str("keep-alive, Upgrade"), "upgrade"));
	assert_true(http1_has_token(str("Upgrade"), "upgrade"));
	assert_true(http1_has_token(str("UPGRADE"), "Upgrade"));
	assert_true(http1_has_token(str("a,upgrade"), "upgrade"));
	assert_true(http1_has_token(str(",, \t upgrade \t,,"), "upgrade"));
	assert_true(http1_has_token(str("websocket"), "websocket"));
	assert_true(http1_has_token(str("x ,WebSocket"), "websocket"));
	assert_false(http1_has_token(str("upgraded"), "upgrade"));
	assert_false(http1_has_token(str("upgrad"), "upgrade"));
	assert_false(http1_has_token(str("up grade"), "upgrade"));
	assert_false(http1_has_token(str("keep-alive"), "upgrade"));
	assert_false(http1_has_token(str("Upgrade2, x"), "upgrade"));
	assert_false(http1_has_token(str(""), "upgrade"));
	assert_false(http1_has_token(str(" \t, ,"), "upgrade"));
	assert_false(http1_has_token(str("a,,b"), ""));
	assert_false(http1_has_token((struct http1_str){NULL, 0}, "upgrade"));
	/* The view's length bounds the search, not a NUL. */
	assert_false(http1_has_token((struct http1_str){"a, upgrade", 3}, "upgrade"));
	assert_true(http1_has_token((struct http1_str){"upgrade, a", 7}, "upgrade"));
}

static void test_str_eq_ci(void **state)
{
	(void)state;
	assert_true(http1_str_eq_ci(str("Host"), "host"));
	assert_true(http1_str_eq_ci(str("SEC-websocket-KEY"), "Sec-WebSocket-Key"));
	assert_true(http1_str_eq_ci(str(""), ""));
	assert_false(http1_str_eq_ci(str("Hos"), "host"));
	assert_false(http1_str_eq_ci(str("Hostx"), "host"));
	assert_false(http1_str_eq_ci(str(""), "host"));
	assert_false(http1_str_eq_ci(str("host"), ""));
	/* Only ASCII letters fold: '@' (0x40) and '`' (0x60) differ. */
	assert_false(http1_str_eq_ci(str("@"), "`"));
	assert_false(http1_str_eq_ci(str("["), "{"));
	assert_true(http1_str_eq_ci((struct http1_str){"hostname", 4}, "HOST"));
}

static void test_find_count(void **state)
{
	static const char buf[] = "GET / HTTP/1.1\r\n"
	                          "Host: a\r\n"
	                          "X-Forwarded-For: 1\r\n"
	                          "x-forwarded-for: 2\r\n"
	                          "Hostname: b\r\n\r\n";
	struct http1_request req;
	const struct http1_header *h;

	(void)state;
	assert_int_equal(http1_parse_request(S(buf), &req), (int)sizeof(buf) - 1);
	h = http1_find(&req, "X-FORWARDED-FOR");
	assert_ptr_equal(h, &req.headers[1]);
	assert_str(h->value, "1");
	assert_int_equal(http1_count(&req, "x-forwarded-for"), 2);
	assert_int_equal(http1_count(&req, "host"), 1);
	assert_ptr_equal(http1_find(&req, "HOST"), &req.headers[0]);
	assert_null(http1_find(&req, "Upgrade"));
	assert_int_equal(http1_count(&req, "Upgrade"), 0);
	assert_null(http1_find(&req, "Hos"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple),
	    cmocka_unit_test(test_no_headers),
	    cmocka_unit_test(test_bare_lf),
	    cmocka_unit_test(test_ows),
	    cmocka_unit_test(test_obs_text_and_vchars),
	    cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_leading_empty_lines),
	    cmocka_unit_test(test_trailing_bytes_not_consumed),
	    cmocka_unit_test(test_max_headers),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_empty_input),
	    cmocka_unit_test(test_every_byte),
	    cmocka_unit_test(test_has_token),
	    cmocka_unit_test(test_str_eq_ci),
	    cmocka_unit_test(test_find_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
