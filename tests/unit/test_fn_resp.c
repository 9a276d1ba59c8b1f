/* test_fn_resp.c — unit tests for fn_resp.c: a function's answer read
 * into status, content type, header lines and body; every malformed
 * answer refused with a reason, never guessed at; base64 strictness; the
 * answer fed at every length (each prefix of a good answer is refused, the
 * whole one accepted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "fn_resp.h"

static char why[256];

static int parse(const char *json, size_t max_body, struct fn_resp *r)
{
	why[0] = '\0';
	return fn_resp_parse((const uint8_t *)json, strlen(json), max_body, r, why, sizeof why);
}

static void test_good(void **state)
{
	struct fn_resp r;

	(void)state;
	assert_int_equal(parse("{\"statusCode\":201,\"headers\":{\"Content-Type\":\"text/plain\","
	                       "\"X-A\":\"1\"},\"body\":\"hi\"}",
	                       100, &r),
	                 0);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.content_type, "text/plain");
	assert_int_equal(r.body_len, 2);
	assert_memory_equal(r.body, "hi", 2);
	assert_string_equal(r.headers, "Content-Type: text/plain\r\nX-A: 1\r\n");
	fn_resp_free(&r);

	/* a text body may hold U+0000 */
	assert_int_equal(parse("{\"body\":\"a\\u0000b\"}", 10, &r), 0);
	assert_int_equal(r.body_len, 3);
	assert_memory_equal(r.body, "a\0b", 3);
	fn_resp_free(&r);

	/* no statusCode: 200; no body; nulls are absent */
	assert_int_equal(parse("{\"headers\":null,\"body\":null,\"isBase64Encoded\":null}", 10, &r),
	                 0);
	assert_int_equal(r.status, 200);
	assert_null(r.body);
	assert_null(r.content_type);
	assert_null(r.headers);
	fn_resp_free(&r);

	/* base64 body; multiValueHeaders win over headers of the same name */
	assert_int_equal(parse("{\"statusCode\":200,\"body\":\"AP8=\",\"isBase64Encoded\":true,"
	                       "\"headers\":{\"x-a\":\"single\",\"X-B\":\"b\"},"
	                       "\"multiValueHeaders\":{\"X-A\":[\"m1\",\"m2\"]}}",
	                       2, &r),
	                 0);
	assert_int_equal(r.body_len, 2);
	assert_memory_equal(r.body, "\x00\xff", 2);
	assert_string_equal(r.headers, "X-A: m1\r\nX-A: m2\r\nX-B: b\r\n");
	fn_resp_free(&r);
}

static void test_broken(void **state)
{
	static const struct {
		const char *json;
		const char *why;
	} cases[] = {
	    {"", "not JSON"},
	    {"[1]", "not a JSON object"},
	    {"\"s\"", "not JSON"},
	    {"null", "not JSON"},
	    {"{\"statusCode\":\"200\"}", "statusCode is not an integer"},
	    {"{\"statusCode\":99}", "statusCode is not an integer"},
	    {"{\"statusCode\":600}", "statusCode is not an integer"},
	    {"{\"statusCode\":200.5}", "statusCode is not an integer"},
	    {"{\"statusCode\":1e400}", "not JSON"},
	    {"{\"headers\":[]}", "headers is not an object"},
	    {"{\"headers\":{\"A\":1}}", "a value is not a string"},
	    {"{\"headers\":{\"A\":\"x\\r\\nB: y\"}}", "a control character"},
	    {"{\"headers\":{\"A\":\"x\\u0000y\"}}", "a control character"},
	    {"{\"headers\":{\"A B\":\"x\"}}", "is not a token"},
	    {"{\"headers\":{\"\":\"x\"}}", "an empty header name"},
	    {"{\"multiValueHeaders\":{\"A\":\"x\"}}", "is not an array"},
	    {"{\"multiValueHeaders\":{\"A\":[1]}}", "a value is not a string"},
	    {"{\"multiValueHeaders\":7}", "multiValueHeaders is not an object"},
	    {"{\"body\":{\"a\":1}}", "body is not a string"},
	    {"{\"body\":5}", "body is not a string"},
	    {"{\"body\":\"x\",\"isBase64Encoded\":\"true\"}", "isBase64Encoded is not a boolean"},
	    {"{\"body\":\"!!!!\",\"isBase64Encoded\":true}", "not base64"},
	    {"{\"body\":\"AAAAA\",\"isBase64Encoded\":true}", "not base64"},
	    {"{\"body\":\"AB==\",\"isBase64Encoded\":true}", "not base64"}, /* non-zero pad bits */
	    {"{\"body\":\"0123456789A\"}", "over the limit"},
	    {"{\"body\":\"AAAAAAAAAAAAAAAA\",\"isBase64Encoded\":true}", "over the limit"},
	    {"{\"a\":1}x", "not JSON"},
	};
	struct fn_resp r;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		if (parse(cases[i].json, 10, &r) != ERR_PROTO || !strstr(why, cases[i].why))
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].json, why, cases[i].why);
		assert_null(r.body);
		assert_null(r.headers);
		fn_resp_free(&r);
	}
}

static void test_headers_cap(void **state)
{
	size_t n = FN_RESP_MAX_HEADERS + 100;
	char *json = malloc(n + 64);
	struct fn_resp r;

	(void)state;
	strcpy(json, "{\"headers\":{\"A\":\"");
	memset(json + strlen(json), 'v', n);
	strcpy(json + 17 + n, "\"}}");
	assert_int_equal(parse(json, 10, &r), ERR_PROTO);
	assert_non_null(strstr(why, "headers larger than"));
	free(json);
}

static void test_base64(void **state)
{
	static const struct {
		const char *in;
		const char *out;
		long len;
	} cases[] = {
	    {"", "", 0},        {"QQ==", "A", 1},   {"QQ", "A", 1},     {"QUI=", "AB", 2},
	    {"QUI", "AB", 2},   {"QUJD", "ABC", 3}, {"Q", NULL, -1},    {"QQ=", NULL, -1},
	    {"Q===", NULL, -1}, {"QR==", NULL, -1}, {"QU J", NULL, -1}, {"QUJD\n", NULL, -1},
	    {"_-8=", NULL, -1}, {"=QQ=", NULL, -1},
	};
	uint8_t out[16];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		long got = fn_resp_b64_decode(cases[i].in, strlen(cases[i].in), out);

		if (got != cases[i].len)
			fail_msg("\"%s\": got %ld, want %ld", cases[i].in, got, cases[i].len);
		if (got > 0)
			assert_memory_equal(out, cases[i].out, (size_t)got);
	}
}

/* Every proper prefix of a good answer is refused; the whole is read. */
/* A function authorizer's answer: isAuthorized a boolean, context an
 * object (or absent / null); anything else is a broken authorizer; the
 * answer fed at every length: only the whole one is accepted. */
static void test_authorizer_answer(void **state)
{
	static const char good[] = "{\"isAuthorized\":true,\"context\":{\"userId\":\"u1\",\"n\":1}}";
	static const char *const bad[] = {
	    "", "null", "[]", "{}", "{\"isAuthorized\":\"true\"}", "{\"isAuthorized\":1}",
	    "{\"isAuthorized\":true,\"context\":[1]}", "{\"isAuthorized\":true,\"context\":\"x\"}",
	    "{\"isAuthorized\":true,\"isAuthorized\":false}", "{\"isAuthorized\":true", "true",
	};
	bool yes;
	char *ctx;

	(void)state;
	assert_int_equal(fn_resp_authorizer((const uint8_t *)good, strlen(good), 4096, &yes, &ctx,
	                                    why, sizeof why),
	                 0);
	assert_true(yes);
	assert_string_equal(ctx, "{\"userId\":\"u1\",\"n\":1}");
	free(ctx);
	for (size_t n = 0; n < strlen(good); n++) {
		assert_int_equal(fn_resp_authorizer((const uint8_t *)good, n, 4096, &yes, &ctx, why,
		                                    sizeof why),
		                 ERR_PROTO);
		assert_false(yes);
		assert_null(ctx);
	}
	/* over the context cap: broken, not authorized */
	assert_int_equal(fn_resp_authorizer((const uint8_t *)good, strlen(good), 10, &yes, &ctx,
	                                    why, sizeof why),
	                 ERR_PROTO);
	assert_false(yes);
	assert_null(ctx);
	assert_int_equal(fn_resp_authorizer((const uint8_t *)"{\"isAuthorized\":false,\"context\":{}}",
	                                    35, 4096, &yes, &ctx, why, sizeof why),
	                 0);
	assert_false(yes);
	assert_null(ctx);
	assert_int_equal(fn_resp_authorizer((const uint8_t *)"{\"isAuthorized\":true,\"context\":null}",
	                                    36, 4096, &yes, &ctx, why, sizeof why),
	                 0);
	assert_true(yes);
	assert_null(ctx);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = fn_resp_authorizer((const uint8_t *)bad[i], strlen(bad[i]), 4096, &yes, &ctx,
		                            why, sizeof why);

		if (rc != ERR_PROTO)
			fail_msg("accepted: %s", bad[i]);
		assert_false(yes);
		assert_null(ctx);
		assert_true(why[0] != '\0');
	}
}

static void test_every_length(void **state)
{
	static const char json[] = "{\"statusCode\":200,\"headers\":{\"Content-Type\":\"a/b\"},"
	                           "\"body\":\"aGk=\",\"isBase64Encoded\":true}";
	struct fn_resp r;

	(void)state;
	for (size_t n = 0; n < sizeof json - 1; n++) {
		char *copy = malloc(n + 1); /* exact size: ASan sees an over-read */

		memcpy(copy, json, n);
		assert_int_equal(fn_resp_parse((uint8_t *)copy, n, 10, &r, why, sizeof why),
		                 ERR_PROTO);
		free(copy);
	}
	assert_int_equal(parse(json, 10, &r), 0);
	assert_memory_equal(r.body, "hi", 2);
	fn_resp_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),         cmocka_unit_test(test_broken),
	    cmocka_unit_test(test_headers_cap),  cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_every_length), cmocka_unit_test(test_authorizer_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
