/* test_jsonesc.c — unit tests for jsonesc.c: quotes, backslashes,
 * control bytes, invalid UTF-8 and truncation at an escape's boundary;
 * and every single byte gives output that jansson decodes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jsonesc.h"
#include "utf8.h"

struct ecase {
	const char *in;
	size_t n;
	const char *want;
};

#define C(s, w)                                                                                    \
	{                                                                                          \
		s, sizeof(s) - 1, w                                                                \
	}

static const struct ecase cases[] = {
    C("plain", "plain"),
    C("a\"b", "a\\\"b"),
    C("a\\b", "a\\\\b"),
    C("l1\nl2\r\t\b\f", "l1\\nl2\\r\\t\\b\\f"),
    C("\x01\x1f\x7f", "\\u0001\\u001f\\u007f"),
    C("nul\0x", "nul\\u0000x"),
    C("\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"),           /* é: copied */
    C("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"),             /* U+1F600 */
    C("\xff", "\\ufffd"),                                  /* never valid */
    C("\xc0\xaf", "\\ufffd\\ufffd"),                       /* overlong '/' */
    C("\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd"),            /* overlong */
    C("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"),            /* surrogate */
    C("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"), /* > U+10FFFF */
    C("x\xe2\x82", "x\\ufffd\\ufffd"),                     /* cut short */
    C("\xe2\x82\xac", "\xe2\x82\xac"),                     /* € */
};

static void test_cases(void **state)
{
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = jsonesc_encode(cases[i].in, cases[i].n, out, sizeof out);

		if (n != strlen(cases[i].want) || strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, out, cases[i].want);
	}
}

/* A full buffer cuts before an escape or character, never inside one. */
static void test_truncation(void **state)
{
	char out[16];

	(void)state;
	/* "ab" + \u0001 (6) fits in 8 + NUL; the next \" (2) would not */
	assert_int_equal(jsonesc_encode("ab\x01\"", 4, out, 9), 8);
	assert_string_equal(out, "ab\\u0001");
	assert_int_equal(jsonesc_encode("ab\x01", 3, out, 8), 2);
	assert_string_equal(out, "ab");
	assert_int_equal(jsonesc_encode("a\xe2\x82\xac", 4, out, 4), 1); /* € needs 3 */
	assert_string_equal(out, "a");
	assert_int_equal(jsonesc_encode("abc", 3, out, 1), 0);
	assert_string_equal(out, "");
}

/* Every byte alone and in a pair gives a string jansson accepts, and the
 * output is valid UTF-8 with no raw control byte. */
static void test_every_byte(void **state)
{
	char in[2], out[32], doc[40];

	(void)state;
	for (int a = 0; a < 256; a++) {
		for (int b = 0; b < 256; b += 17) {
			json_error_t err;
			json_t *j;
			size_t n;

			in[0] = (char)a;
			in[1] = (char)b;
			n = jsonesc_encode(in, 2, out, sizeof out);
			assert_true(utf8_is_valid((const uint8_t *)out, n));
			for (size_t k = 0; k < n; k++)
				assert_true((unsigned char)out[k] >= 0x20 && out[k] != 0x7f);
			snprintf(doc, sizeof doc, "\"%s\"", out);
			j = json_loads(doc, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
			if (!j)
				fail_msg("bytes %02x %02x: %s: %s", a, b, doc, err.text);
			json_decref(j);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_every_byte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
