/* test_utf8.c — unit tests for utf8.c (RFC 3629).
 *
 * Every case is fed whole, byte by byte, at every split point (two feeds),
 * at every pair of split points (three feeds) and behind ASCII padding that
 * exercises the 8-byte fast path. A case names the index of its first bad
 * byte (or -1): the feed holding that byte must return false, every earlier
 * feed true, every later feed false.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

#define MAX_CASE 64
#define MAX_PAD 17
#define MAX_PAIRS 40 /* longest input also fed at every pair of split points */

struct u8case {
	const char *s;
	size_t n;
	int fail_at;   /* index of the first invalid byte, or -1 */
	bool complete; /* when fail_at < 0: ends on a code point boundary */
};

#define OK(str)                                                                                    \
	{                                                                                          \
		str, sizeof(str) - 1, -1, true                                                     \
	}
#define PART(str)                                                                                  \
	{                                                                                          \
		str, sizeof(str) - 1, -1, false                                                    \
	}
#define BAD(str, at)                                                                               \
	{                                                                                          \
		str, sizeof(str) - 1, at, false                                                    \
	}

/* Feeds p[0..n) in the pieces cuts[0], cuts[1]-cuts[0], ..., n-cuts[k-1]
 * and checks each feed's result and the final completeness. */
static void feed_cuts(const uint8_t *p, size_t n, const size_t *cuts, size_t ncuts, int fail_at,
                      bool complete)
{
	struct utf8_state st;
	size_t from = 0;

	utf8_init(&st);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : n;
		bool want = fail_at < 0 || (size_t)fail_at >= to;

		assert_int_equal(utf8_feed(&st, p + from, to - from), want);
		from = to;
	}
	assert_int_equal(utf8_is_complete(&st), fail_at < 0 && complete);
}

static void check_bytes(const uint8_t *p, size_t n, int fail_at, bool complete)
{
	size_t cuts[2 * MAX_CASE];

	assert_true(n < MAX_CASE * 2);
	assert_int_equal(utf8_is_valid(p, n), fail_at < 0 && complete);
	feed_cuts(p, n, NULL, 0, fail_at, complete);
	for (size_t i = 0; i < n; i++)
		cuts[i] = i;
	feed_cuts(p, n, cuts, n, fail_at, complete); /* byte by byte */
	for (size_t i = 0; i <= n; i++) {
		cuts[0] = i;
		feed_cuts(p, n, cuts, 1, fail_at, complete);
		for (size_t j = i; n <= MAX_PAIRS && j <= n; j++) {
			cuts[1] = j;
			feed_cuts(p, n, cuts, 2, fail_at, complete);
		}
	}
}

/* The case as is, then behind 0..MAX_PAD ASCII bytes, then (when it is
 * valid) followed by ASCII: complete stays complete, a truncated sequence
 * fails on the first ASCII byte after it. */
static void check_case(const struct u8case *c)
{
	uint8_t buf[MAX_PAD + MAX_CASE + 9];

	assert_true(c->n <= MAX_CASE);
	for (size_t pad = 0; pad <= MAX_PAD; pad++) {
		int at = c->fail_at < 0 ? -1 : c->fail_at + (int)pad;

		memset(buf, 'a', pad);
		memcpy(buf + pad, c->s, c->n);
		check_bytes(buf, pad + c->n, at, c->complete);
		if (c->fail_at >= 0)
			continue;
		memset(buf + pad + c->n, 'z', 9);
		check_bytes(buf, pad + c->n + 9, c->complete ? -1 : (int)(pad + c->n), true);
	}
}

static void check_cases(const struct u8case *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_case(&c[i]);
}

static void test_valid_samples(void **state)
{
	static const struct u8case c[] = {
	    OK(""),
	    OK("A"),
	    OK("\x00"),
	    OK("hello, world"),
	    OK("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"), /* Kuhn: "kosme" in Greek */
	    /* Kuhn 2.1: first code point of each length */
	    OK("\xC2\x80"),
	    OK("\xE0\xA0\x80"),
	    OK("\xF0\x90\x80\x80"),
	    /* Kuhn 2.2: last code point of each length */
	    OK("\x7F"),
	    OK("\xDF\xBF"),
	    OK("\xEF\xBF\xBF"),
	    OK("\xF4\x8F\xBF\xBF"),
	    /* Kuhn 2.3: other boundaries */
	    OK("\xED\x9F\xBF"),     /* U+D7FF, just below the surrogates */
	    OK("\xEE\x80\x80"),     /* U+E000, just above */
	    OK("\xEF\xBF\xBD"),     /* U+FFFD */
	    OK("\xEF\xBF\xBE"),     /* U+FFFE: a noncharacter, still valid */
	    OK("\xF0\x9F\x98\x80"), /* U+1F600 */
	    OK("\xF1\x80\x80\x80"),
	    OK("\xF3\xBF\xBF\xBF"),
	    OK("\xE1\x80\x80\xEC\xBF\xBF"),
	    OK("a\xC3\xA9z\xE2\x82\xAC\xF0\x9D\x84\x9E!"),
	};

	(void)state;
	check_cases(c, sizeof(c) / sizeof(c[0]));
}

static void test_overlong(void **state)
{
	static const struct u8case c[] = {
	    /* Kuhn 4.1-4.2: overlong '/' and the largest overlongs */
	    BAD("\xC0\xAF", 0),
	    BAD("\xC0\x80", 0),
	    BAD("\xC1\xBF", 0),
	    BAD("\xE0\x80\xAF", 1),
	    BAD("\xE0\x80\x80", 1),
	    BAD("\xE0\x9F\xBF", 1),
	    BAD("\xF0\x80\x80\xAF", 1),
	    BAD("\xF0\x80\x80\x80", 1),
	    BAD("\xF0\x8F\xBF\xBF", 1),
	    BAD("\xF8\x88\x80\x80\xAF", 0),
	    BAD("\xFC\x84\x80\x80\x80\xAF", 0),
	    BAD("abcdefgh\xC0\x80", 8),
	};

	(void)state;
	check_cases(c, sizeof(c) / sizeof(c[0]));
}

static void test_surrogates(void **state)
{
	static const struct u8case c[] = {
	    /* Kuhn 5.1-5.2: single and paired UTF-16 surrogates */
	    BAD("\xED\xA0\x80", 1),
	    BAD("\xED\xAD\xBF", 1),
	    BAD("\xED\xAE\x80", 1),
	    BAD("\xED\xAF\xBF", 1),
	    BAD("\xED\xB0\x80", 1),
	    BAD("\xED\xBE\x80", 1),
	    BAD("\xED\xBF\xBF", 1),
	    BAD("\xED\xA0\x80\xED\xB0\x80", 1),
	    BAD("\xED\xAF\xBF\xED\xBF\xBF", 1),
	    BAD("abcdefghijklmnop\xED\xA0\x80", 17),
	};

	(void)state;
	check_cases(c, sizeof(c) / sizeof(c[0]));
}

static void test_above_max(void **state)
{
	static const struct u8case c[] = {
	    OK("\xF4\x8F\xBF\xBF"),     /* U+10FFFF */
	    BAD("\xF4\x90\x80\x80", 1), /* U+110000 */
	    BAD("\xF4\xBF\xBF\xBF", 1),
	    BAD("\xF5\x80\x80\x80", 0),
	    BAD("\xF7\xBF\xBF\xBF", 0),
	    BAD("\xFE", 0),
	    BAD("\xFF", 0),
	    BAD("\xFE\xFE\xFF\xFF", 0),
	};

	(void)state;
	check_cases(c, sizeof(c) / sizeof(c[0]));
}

static void test_truncated(void **state)
{
	static const struct u8case c[] = {
	    /* Kuhn 3.3: sequences with the last byte missing, at message end */
	    PART("\xC2"),
	    PART("\xDF"),
	    PART("\xE0\xA0"),
	    PART("\xE1"),
	    PART("\xED\x9F"),
	    PART("\xEF\xBF"),
	    PART("\xF0\x90\x80"),
	    PART("\xF1"),
	    PART("\xF4\x8F\xBF"),
	    PART("A\xF0\x90"),
	    PART("\xCE\xBA\xE1\xBD\xB9\xCF"),
	    /* Kuhn 3.4: concatenated truncated sequences */
	    BAD("\xC0\xE0\x80\xF0\x80\x80", 0),
	    BAD("\xDF\xEF\xBF", 1),
	    BAD("\xE1\x80\xF1\x80\x80", 2),
	};

	(void)state;
	check_cases(c, sizeof(c) / sizeof(c[0]));
}

static void test_bad_continuation(void **state)
{
	static const struct u8case c[] = {
	    /* Kuhn 3.1: unexpected continuation bytes */
	    BAD("\x80", 0),
	    BAD("\xBF", 0),
	    BAD("\x80\xBF", 0),
	    BAD("A\x80", 1),
	    BAD("\xC2\x80\x80", 2),
	    BAD("\xEF\xBF\xBF\xBF", 3),
	    /* a lead byte followed by a non-continuation byte */
	    BAD("\xC2"
	        "A",
	        1),
	    BAD("\xE1\x80"
	        "A",
	        2),
	    BAD("\xF1\x80\x80"
	        "A",
	        3),
	    BAD("\xC2\xC2\x80", 1),
	    BAD("\xE1\xC0\x80", 1),
	    BAD("\xF0\x90\x80\xC0", 3),
	    BAD("\xDF\xC0", 1),
	    BAD("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xFF", 11),
	};

	(void)state;
	check_cases(c, sizeof(c) / sizeof(c[0]));
}

static void test_all_single_bytes(void **state)
{
	(void)state;
	for (unsigned b = 0; b < 256; b++) {
		uint8_t p = (uint8_t)b;
		bool lead = b >= 0xC2 && b <= 0xF4;

		if (b < 0x80)
			check_bytes(&p, 1, -1, true);
		else if (lead)
			check_bytes(&p, 1, -1, false);
		else
			check_bytes(&p, 1, 0, false);
	}
}

/* Encodes cp in exactly len bytes, overlong or not. */
static void enc(uint32_t cp, size_t len, uint8_t *out)
{
	static const uint8_t lead_bits[5] = {0, 0x00, 0xC0, 0xE0, 0xF0};

	for (size_t i = len - 1; i > 0; i--) {
		out[i] = (uint8_t)(0x80 | (cp & 0x3F));
		cp >>= 6;
	}
	out[0] = (uint8_t)(lead_bits[len] | cp);
}

static void check_seq(const uint8_t *p, size_t n, int fail_at)
{
	size_t cuts[4] = {1, 2, 3, 4};

	assert_int_equal(utf8_is_valid(p, n), fail_at < 0);
	feed_cuts(p, n, cuts, n - 1, fail_at, true);
	cuts[0] = n / 2;
	feed_cuts(p, n, cuts, 1, fail_at, true);
}

/* Every code point, minimally encoded, then in every longer (overlong) form,
 * then everything a 4-byte form can hold above U+10FFFF. */
static void test_every_code_point(void **state)
{
	static const uint32_t min_len_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
	uint8_t b[4];

	(void)state;
	for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
		size_t len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;

		enc(cp, len, b);
		check_seq(b, len, cp >= 0xD800 && cp <= 0xDFFF ? 1 : -1);
		for (size_t l = len + 1; l <= 4; l++) {
			assert_true(cp < min_len_cp[l]);
			enc(cp, l, b);
			check_seq(b, l, l == 2 ? 0 : 1);
		}
	}
	for (uint32_t cp = 0x110000; cp <= 0x1FFFFF; cp++) {
		enc(cp, 4, b);
		check_seq(b, 4, b[0] == 0xF4 ? 1 : 0);
	}
}

/* A bad byte at every position of a long ASCII run, so that it lands in
 * every lane of the 8-byte fast path and in the byte tail. */
static void test_ascii_fast_path(void **state)
{
	uint8_t buf[80];

	(void)state;
	for (size_t n = 0; n <= sizeof(buf); n++) {
		memset(buf, 'x', n);
		check_bytes(buf, n, -1, true);
		for (size_t at = 0; at < n; at++) {
			buf[at] = 0x80;
			check_bytes(buf, n, (int)at, false);
			buf[at] = 0xC3; /* a lead byte followed by ASCII */
			check_bytes(buf, n, at + 1 < n ? (int)at + 1 : -1, false);
			buf[at] = 'x';
		}
	}
}

/* The fast path's 16-byte steps and overlapping tail words at every
 * start alignment 0..15 and length 0..64: a bad byte, a lead byte and a
 * valid 2-byte sequence at every position, fed whole and split at every
 * point. */
static void test_ascii_fast_path_offsets(void **state)
{
	uint8_t raw[64 + 16 + 2];

	(void)state;
	for (size_t al = 0; al < 16; al++) {
		uint8_t *buf = raw + al;

		for (size_t n = 0; n <= 64; n++) {
			memset(buf, 'q', n + 2);
			for (size_t at = 0; at <= n; at++) {
				size_t cuts[1];
				int fail = -1;
				bool complete = true;

				if (at < n) {
					buf[at] = 0x80 | (uint8_t)at; /* a stray continuation byte */
					fail = (int)at;
					complete = false;
				}
				assert_int_equal(utf8_is_valid(buf, n), fail < 0);
				feed_cuts(buf, n, NULL, 0, fail, complete);
				for (size_t i = 0; i <= n; i++) {
					cuts[0] = i;
					feed_cuts(buf, n, cuts, 1, fail, complete);
				}
				if (at + 1 < n) { /* U+00E9 at [at, at+1] */
					buf[at] = 0xC3;
					buf[at + 1] = 0xA9;
					feed_cuts(buf, n, NULL, 0, -1, true);
					for (size_t i = 0; i <= n; i++) {
						cuts[0] = i;
						feed_cuts(buf, n, cuts, 1, -1, true);
					}
					buf[at + 1] = 'q';
				}
				if (at < n)
					buf[at] = 'q';
			}
		}
	}
}

static void test_reject_is_sticky(void **state)
{
	struct utf8_state st;
	const uint8_t bad = 0xFF;
	const uint8_t ascii[] = "0123456789abcdef";

	(void)state;
	utf8_init(&st);
	assert_true(utf8_feed(&st, ascii, sizeof(ascii) - 1));
	assert_true(utf8_is_complete(&st));
	assert_false(utf8_feed(&st, &bad, 1));
	assert_false(utf8_feed(&st, ascii, sizeof(ascii) - 1));
	assert_false(utf8_feed(&st, ascii, 0));
	assert_false(utf8_is_complete(&st));
	utf8_init(&st);
	assert_true(utf8_feed(&st, ascii, sizeof(ascii) - 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_samples),    cmocka_unit_test(test_overlong),
	    cmocka_unit_test(test_surrogates),       cmocka_unit_test(test_above_max),
	    cmocka_unit_test(test_truncated),        cmocka_unit_test(test_bad_continuation),
	    cmocka_unit_test(test_all_single_bytes), cmocka_unit_test(test_every_code_point),
	    cmocka_unit_test(test_ascii_fast_path),  cmocka_unit_test(test_reject_is_sticky),
	    cmocka_unit_test(test_ascii_fast_path_offsets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
