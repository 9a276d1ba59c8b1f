/* test_grpc_msg.c — unit tests for grpc_msg.c (gRPC PROTOCOL-HTTP2.md:
 * Length-Prefixed-Message, grpc-timeout, grpc-message, Content-Type).
 *
 * One stream of several messages (a 0-length one and a max_len one among
 * them) is fed whole, byte by byte and split in two at every point; each
 * way must yield the same messages in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "err.h"
#include "grpc_msg.h"

#define MAX_LEN 300
#define MAX_MSGS 16

struct msg {
	uint8_t *data;
	size_t len;
	bool compressed;
};

struct got {
	struct msg m[MAX_MSGS];
	size_t n;
};

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->m[i].data);
	g->n = 0;
}

/* Feeds one chunk, taking every message it completes. Returns the last
 * feed result that was negative, or 0. */
static int feed(struct grpc_deframer *d, const uint8_t *p, size_t n, struct got *g)
{
	while (1) {
		int ev = -1;
		int rc = grpc_deframer_feed(d, p, n, &ev);

		if (rc < 0)
			return rc;
		assert_true((size_t)rc <= n);
		p += rc;
		n -= (size_t)rc;
		if (ev == GRPC_DEFRAME_MESSAGE) {
			struct msg *m = &g->m[g->n];

			assert_true(g->n < MAX_MSGS);
			grpc_deframer_take(d, &m->data, &m->len, &m->compressed);
			assert_true(m->data != NULL || m->len == 0);
			assert_true(grpc_deframer_is_idle(d));
			g->n++;
		} else {
			assert_int_equal(ev, GRPC_DEFRAME_MORE);
			/* MORE means every byte was swallowed */
			assert_int_equal(n, 0);
			return 0;
		}
		if (n == 0)
			return 0;
	}
}

static uint8_t stream[1024];
static size_t stream_len;
static struct msg want[MAX_MSGS];
static size_t want_n;
static uint8_t bodies[MAX_MSGS][MAX_LEN];

/* Appends one message: prefix is the 5 literal bytes of its
 * Length-Prefixed-Message header (flag, 32-bit big-endian length), written
 * out by hand rather than by grpc_prefix_encode, the encoder under test;
 * len and compressed are what the deframer must make of them. */
static void add(const char *prefix, size_t len, bool compressed)
{
	uint8_t *b = bodies[want_n];

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(want_n * 31 + i * 7);
	memcpy(stream + stream_len, prefix, GRPC_PREFIX_LEN);
	memcpy(stream + stream_len + GRPC_PREFIX_LEN, b, len);
	stream_len += GRPC_PREFIX_LEN + len;
	want[want_n].data = b;
	want[want_n].len = len;
	want[want_n].compressed = compressed;
	want_n++;
}

static int setup_stream(void **state)
{
	(void)state;
	stream_len = 0;
	want_n = 0;
	add("\x00\x00\x00\x00\x03", 3, false);
	add("\x00\x00\x00\x00\x00", 0, false);
	add("\x00\x00\x00\x01\x2c", MAX_LEN, false); /* 300 */
	add("\x01\x00\x00\x00\x01", 1, true);
	add("\x00\x00\x00\x00\x00", 0, false);
	add("\x80\x00\x00\x00\x11", 17, true); /* undefined flag value: counts as compressed */
	add("\x00\x00\x00\x01\x04", 260, false); /* length needs two bytes */
	return 0;
}

static void check_got(struct got *g, struct grpc_deframer *d)
{
	assert_int_equal(g->n, want_n);
	for (size_t i = 0; i < want_n; i++) {
		assert_int_equal(g->m[i].len, want[i].len);
		assert_int_equal(g->m[i].compressed, want[i].compressed);
		if (want[i].len == 0)
			assert_null(g->m[i].data);
		else
			assert_memory_equal(g->m[i].data, want[i].data, want[i].len);
	}
	assert_true(grpc_deframer_is_idle(d));
	assert_int_equal(d->messages, want_n);
	got_free(g);
}

static void test_whole(void **state)
{
	struct grpc_deframer d;
	struct got g = {0};

	(void)state;
	grpc_deframer_init(&d, MAX_LEN);
	assert_true(grpc_deframer_is_idle(&d));
	assert_int_equal(feed(&d, stream, stream_len, &g), 0);
	check_got(&g, &d);
	grpc_deframer_fini(&d);
}

static void test_byte_by_byte(void **state)
{
	struct grpc_deframer d;
	struct got g = {0};

	(void)state;
	grpc_deframer_init(&d, MAX_LEN);
	for (size_t i = 0; i < stream_len; i++) {
		assert_int_equal(feed(&d, stream + i, 1, &g), 0);
		assert_int_equal(feed(&d, stream + i + 1, 0, &g),
		                 0); /* empty chunks are harmless */
	}
	check_got(&g, &d);
	grpc_deframer_fini(&d);
}

static void test_every_split(void **state)
{
	(void)state;
	for (size_t cut = 0; cut <= stream_len; cut++) {
		struct grpc_deframer d;
		struct got g = {0};

		grpc_deframer_init(&d, MAX_LEN);
		assert_int_equal(feed(&d, stream, cut, &g), 0);
		assert_int_equal(feed(&d, stream + cut, stream_len - cut, &g), 0);
		check_got(&g, &d);
		grpc_deframer_fini(&d);
	}
}

/* Three pieces: every pair of cut points. */
static void test_every_double_split(void **state)
{
	(void)state;
	for (size_t a = 0; a <= stream_len; a += 3) {
		for (size_t b = a; b <= stream_len; b += 5) {
			struct grpc_deframer d;
			struct got g = {0};

			grpc_deframer_init(&d, MAX_LEN);
			assert_int_equal(feed(&d, stream, a, &g), 0);
			assert_int_equal(feed(&d, stream + a, b - a, &g), 0);
			assert_int_equal(feed(&d, stream + b, stream_len - b, &g), 0);
			check_got(&g, &d);
			grpc_deframer_fini(&d);
		}
	}
}

/* A partial message at the end: not idle; fini frees it (ASan checks). */
static void test_partial_then_fini(void **state)
{
	(void)state;
	for (size_t cut = 1; cut < 5 + 3; cut++) {
		struct grpc_deframer d;
		struct got g = {0};

		grpc_deframer_init(&d, MAX_LEN);
		assert_int_equal(feed(&d, stream, cut, &g), 0);
		assert_int_equal(g.n, 0);
		assert_false(grpc_deframer_is_idle(&d));
		grpc_deframer_fini(&d);
		assert_true(grpc_deframer_is_idle(&d));
	}
}

/* Feeding again before taking: the message stays put, nothing consumed. */
static void test_untaken_message(void **state)
{
	struct grpc_deframer d;
	uint8_t two[] = {0, 0, 0, 0, 1, 'x', 0, 0, 0, 0, 1, 'y'};
	uint8_t *m;
	size_t len;
	bool c;
	int ev;

	(void)state;
	grpc_deframer_init(&d, MAX_LEN);
	assert_int_equal(grpc_deframer_feed(&d, two, sizeof(two), &ev), 6);
	assert_int_equal(ev, GRPC_DEFRAME_MESSAGE);
	assert_int_equal(grpc_deframer_feed(&d, two + 6, 6, &ev), 0);
	assert_int_equal(ev, GRPC_DEFRAME_MESSAGE);
	assert_int_equal(d.messages, 1);
	grpc_deframer_take(&d, &m, &len, &c);
	assert_int_equal(len, 1);
	assert_int_equal(m[0], 'x');
	free(m);
	assert_int_equal(grpc_deframer_feed(&d, two + 6, 6, &ev), 6);
	assert_int_equal(ev, GRPC_DEFRAME_MESSAGE);
	grpc_deframer_take(&d, &m, &len, &c);
	assert_int_equal(m[0], 'y');
	free(m);
	grpc_deframer_fini(&d);
}

/* A prefix over max_len fails as soon as it is complete, at every split of
 * it, allocating nothing, and keeps failing. */
static void test_limit_every_split(void **state)
{
	/* MAX_LEN + 1 (301), 0x10000, 0xFFFFFFFF */
	static const char *const prefixes[] = {"\x00\x00\x00\x01\x2d", "\x00\x00\x01\x00\x00",
					       "\x00\xff\xff\xff\xff"};

	(void)state;
	for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
		uint8_t p[GRPC_PREFIX_LEN + 4];

		memcpy(p, prefixes[k], GRPC_PREFIX_LEN);
		memset(p + GRPC_PREFIX_LEN, 'z', 4);
		for (size_t cut = 0; cut <= GRPC_PREFIX_LEN; cut++) {
			struct grpc_deframer d;
			struct got g = {0};

			grpc_deframer_init(&d, MAX_LEN);
			if (cut < GRPC_PREFIX_LEN) {
				assert_int_equal(feed(&d, p, cut, &g), 0);
				assert_int_equal(feed(&d, p + cut, sizeof(p) - cut, &g), ERR_LIMIT);
			} else {
				assert_int_equal(feed(&d, p, cut, &g), ERR_LIMIT);
			}
			assert_null(d.msg);
			assert_int_equal(feed(&d, p, 1, &g), ERR_LIMIT); /* sticky */
			assert_null(d.msg);
			assert_int_equal(g.n, 0);
			grpc_deframer_fini(&d);
		}
	}
}

/* Messages before an oversized prefix in the same chunk come out first. */
static void test_limit_after_messages(void **state)
{
	struct grpc_deframer d;
	struct got g = {0};
	/* "ok", then a prefix of MAX_LEN + 1 (301) */
	static const uint8_t buf[] = {0, 0, 0, 0, 2, 'o', 'k', 0, 0, 0, 0x01, 0x2d};

	(void)state;
	grpc_deframer_init(&d, MAX_LEN);
	assert_int_equal(feed(&d, buf, sizeof(buf), &g), ERR_LIMIT);
	assert_int_equal(g.n, 1);
	assert_memory_equal(g.m[0].data, "ok", 2);
	got_free(&g);
	grpc_deframer_fini(&d);
}

/* max_len 0 admits only empty messages. */
static void test_zero_max(void **state)
{
	struct grpc_deframer d;
	struct got g = {0};
	static const uint8_t buf[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1}; /* lengths 0 and 1 */

	(void)state;
	grpc_deframer_init(&d, 0);
	assert_int_equal(feed(&d, buf, sizeof(buf), &g), ERR_LIMIT);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.m[0].len, 0);
	got_free(&g);
	grpc_deframer_fini(&d);
}

static void test_compressed_flag(void **state)
{
	static const uint8_t flags[] = {0, 1, 2, 0x80, 0xFF};

	(void)state;
	for (size_t i = 0; i < sizeof(flags); i++) {
		struct grpc_deframer d;
		struct got g = {0};
		uint8_t buf[GRPC_PREFIX_LEN + 1] = {flags[i], 0, 0, 0, 1, 'q'};

		grpc_deframer_init(&d, MAX_LEN);
		assert_int_equal(feed(&d, buf, sizeof(buf), &g), 0);
		assert_int_equal(g.n, 1);
		assert_int_equal(g.m[0].compressed, flags[i] != 0);
		got_free(&g);
		grpc_deframer_fini(&d);
	}
}

/* The buffer follows the bytes that arrived, not the prefix's promise. */
static void test_buffer_grows_with_arrival(void **state)
{
	struct grpc_deframer d;
	uint8_t pre[GRPC_PREFIX_LEN], body[100] = {0};
	int ev;

	(void)state;
	grpc_deframer_init(&d, 64u << 20);
	grpc_prefix_encode(pre, 64u << 20);
	assert_int_equal(grpc_deframer_feed(&d, pre, sizeof pre, &ev), GRPC_PREFIX_LEN);
	assert_true(d.msg_cap == 0); /* 64 MiB announced, nothing allocated */
	assert_int_equal(grpc_deframer_feed(&d, body, sizeof body, &ev), (int)sizeof body);
	assert_true(d.msg_cap == GRPC_DEFRAME_START);
	for (int i = 0; i < 100; i++)
		assert_int_equal(grpc_deframer_feed(&d, body, sizeof body, &ev), (int)sizeof body);
	assert_true(d.msg_cap >= 101 * sizeof body && d.msg_cap <= 2 * 101 * sizeof body);
	assert_int_equal(ev, GRPC_DEFRAME_MORE);
	grpc_deframer_fini(&d);
}

/* Compresses in with zlib: gzip (windowBits 31) or zlib format (15). */
static size_t zcompress(bool gzip, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	z_stream z = {0};

	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, gzip ? 31 : 15, 9, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	n = z.total_out;
	deflateEnd(&z);
	return n;
}

static void test_inflate(void **state)
{
	static uint8_t plain[100000], packed[120000];
	uint8_t *out;
	size_t out_len, n;

	(void)state;
	for (size_t i = 0; i < sizeof plain; i++)
		plain[i] = (uint8_t)(i % 251 < 200 ? 'a' : i);
	for (int gz = 0; gz < 2; gz++) {
		enum grpc_encoding enc = gz ? GRPC_ENC_GZIP : GRPC_ENC_DEFLATE;

		n = zcompress(gz, plain, sizeof plain, packed, sizeof packed);
		/* exactly at the cap, and with room to spare */
		for (size_t max = sizeof plain; max <= sizeof plain + 1; max++) {
			assert_int_equal(grpc_inflate(enc, packed, n, max, &out, &out_len), 0);
			assert_int_equal(out_len, sizeof plain);
			assert_memory_equal(out, plain, sizeof plain);
			free(out);
		}
		/* one byte over the cap: a bomb, nothing handed out */
		assert_int_equal(grpc_inflate(enc, packed, n, sizeof plain - 1, &out, &out_len),
				 ERR_LIMIT);
		assert_null(out);
		assert_int_equal(grpc_inflate(enc, packed, n, 0, &out, &out_len), ERR_LIMIT);
		/* truncated at every length, and a trailing byte */
		for (size_t k = 0; k < n; k += 1 + k / 8)
			assert_int_equal(grpc_inflate(enc, packed, k, sizeof plain, &out, &out_len),
					 ERR_PROTO);
		packed[n] = 0;
		assert_int_equal(grpc_inflate(enc, packed, n + 1, sizeof plain, &out, &out_len),
				 ERR_PROTO);
		/* the other wrapper is not accepted */
		assert_int_equal(grpc_inflate(gz ? GRPC_ENC_DEFLATE : GRPC_ENC_GZIP, packed, n,
					      sizeof plain, &out, &out_len),
				 ERR_PROTO);
		/* an empty message */
		n = zcompress(gz, plain, 0, packed, sizeof packed);
		assert_int_equal(grpc_inflate(enc, packed, n, 0, &out, &out_len), 0);
		assert_int_equal(out_len, 0);
		assert_null(out);
	}
	assert_int_equal(grpc_inflate(GRPC_ENC_IDENTITY, plain, 10, 10, &out, &out_len), ERR_INVAL);
	assert_int_equal(grpc_inflate(GRPC_ENC_GZIP, (const uint8_t *)"garbage!", 8, 100, &out,
				      &out_len),
			 ERR_PROTO);
}

/* A bomb: 64 MiB of zeros in ~64 KiB, against a 1 MiB cap. */
static void test_inflate_bomb(void **state)
{
	static uint8_t packed[128 << 10];
	uint8_t *zeros = calloc(64u << 20, 1), *out;
	size_t n, out_len;

	(void)state;
	assert_non_null(zeros);
	n = zcompress(true, zeros, 64u << 20, packed, sizeof packed);
	free(zeros);
	assert_int_equal(grpc_inflate(GRPC_ENC_GZIP, packed, n, 1u << 20, &out, &out_len), ERR_LIMIT);
	assert_null(out);
}

static void test_encoding_parse(void **state)
{
	(void)state;
	assert_int_equal(grpc_encoding_parse("identity", 8), GRPC_ENC_IDENTITY);
	assert_int_equal(grpc_encoding_parse("gzip", 4), GRPC_ENC_GZIP);
	assert_int_equal(grpc_encoding_parse("deflate", 7), GRPC_ENC_DEFLATE);
	assert_int_equal(grpc_encoding_parse("GZIP", 4), GRPC_ENC_UNKNOWN);
	assert_int_equal(grpc_encoding_parse("gzip ", 5), GRPC_ENC_UNKNOWN);
	assert_int_equal(grpc_encoding_parse("br", 2), GRPC_ENC_UNKNOWN);
	assert_int_equal(grpc_encoding_parse("", 0), GRPC_ENC_UNKNOWN);
}

static void test_prefix_encode(void **state)
{
	uint8_t p[GRPC_PREFIX_LEN];

	(void)state;
	grpc_prefix_encode(p, 0x01020304);
	assert_memory_equal(p, "\x00\x01\x02\x03\x04", 5);
	grpc_prefix_encode(p, 0);
	assert_memory_equal(p, "\x00\x00\x00\x00\x00", 5);
	grpc_prefix_encode(p, 0xFFFFFFFFu);
	assert_memory_equal(p, "\x00\xFF\xFF\xFF\xFF", 5);
}

static void pct(const char *in, size_t in_len, size_t outlen, const char *want_out)
{
	char out[256];
	size_t n;

	memset(out, '#', sizeof(out));
	n = grpc_percent_encode(in, in_len, out, outlen);
	assert_int_equal(n, strlen(want_out));
	assert_string_equal(out, want_out);
	assert_int_equal(out[n + 1], '#'); /* nothing past the NUL */
}

static void test_percent_encode(void **state)
{
	char out[4] = "###";
	char all[95];

	(void)state;
	for (int c = 0x20; c <= 0x7E; c++) /* printable ASCII minus '%': as is */
		all[c - 0x20] = c == '%' ? '!' : (char)c;
	all[94] = '\0';
	pct(all, 94, 200, all);
	pct("", 0, 10, "");
	pct("a%b", 3, 10, "a%25b");
	pct("100%", 4, 10, "100%25");
	pct("\xd0\x9f\xd1\x80\xd0\xb8", 6, 64, "%D0%9F%D1%80%D0%B8"); /* "При" */
	pct("a\nb\tc\x7f\x00z", 8, 64, "a%0Ab%09c%7F%00z");
	pct("\xff", 1, 64, "%FF");
	/* truncation: outlen-1 bytes at most, never half an escape */
	pct("abc", 3, 3, "ab");
	pct("abc", 3, 4, "abc");
	pct("a%", 2, 4, "a"); /* "a%2" would be half an escape */
	pct("a%", 2, 5, "a%25");
	pct("%%", 2, 3, "");
	pct("%%", 2, 4, "%25");
	pct("%%", 2, 6, "%25");
	pct("%%", 2, 7, "%25%25");
	pct("%%", 2, 1, "");
	pct("x", 1, 1, "");
	pct("\xd0\x9f!", 3, 3, "");
	pct("\xd0\x9f!", 3, 4, "%D0");
	pct("\xd0\x9f!", 3, 6, "%D0");
	pct("\xd0\x9f!", 3, 7, "%D0%9F");
	pct("\xd0\x9f!", 3, 8, "%D0%9F!");
	pct("ab%cd", 5, 5, "ab"); /* an escape that does not fit ends the output */
	assert_int_equal(grpc_percent_encode("abc", 3, out, 0), 0);
	assert_memory_equal(out, "###", 4); /* outlen 0: untouched */
}

struct tcase {
	const char *v;
	int rc;
	uint64_t ns;
};

static void test_timeout_parse(void **state)
{
	static const struct tcase cases[] = {
	    {"1S", 0, 1000000000ULL},
	    {"100m", 0, 100000000ULL},
	    {"1H", 0, 3600000000000ULL},
	    {"2M", 0, 120000000000ULL},
	    {"7u", 0, 7000ULL},
	    {"9n", 0, 9ULL},
	    {"0S", 0, 0},
	    {"00000001m", 0, 1000000ULL},
	    {"99999999n", 0, 99999999ULL},
	    {"99999999S", 0, 99999999000000000ULL},
	    {"99999999H", 0, UINT64_MAX}, /* 3.6e20 ns saturates */
	    {"99999999M", 0, 5999999940000000000ULL},
	    {"999999999S", ERR_INVAL, 0}, /* 9 digits */
	    {"123456789n", ERR_INVAL, 0},
	    {"", ERR_INVAL, 0},
	    {"S", ERR_INVAL, 0},
	    {"10", ERR_INVAL, 0},
	    {"10s", ERR_INVAL, 0},
	    {"10h", ERR_INVAL, 0},
	    {"10x", ERR_INVAL, 0},
	    {"1 S", ERR_INVAL, 0},
	    {" 1S", ERR_INVAL, 0},
	    {"-1S", ERR_INVAL, 0},
	    {"+1S", ERR_INVAL, 0},
	    {"1SS", ERR_INVAL, 0},
	    {"0x1S", ERR_INVAL, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ns = 12345;
		int rc = grpc_timeout_parse(cases[i].v, strlen(cases[i].v), &ns);

		if (rc != cases[i].rc || (rc == 0 && ns != cases[i].ns))
			fail_msg("\"%s\": rc %d ns %llu", cases[i].v, rc, (unsigned long long)ns);
		if (rc != 0)
			assert_true(ns == 12345); /* untouched on error */
	}
	/* the length is what counts, not a NUL */
	uint64_t ns = 0;
	assert_int_equal(grpc_timeout_parse("5Sxyz", 2, &ns), 0);
	assert_true(ns == 5000000000ULL);
}

struct ccase {
	const char *v;
	bool ok;
};

static void test_content_type(void **state)
{
	static const struct ccase cases[] = {
	    {"application/grpc", true},
	    {"application/grpc+proto", true},
	    {"application/grpc;charset=utf-8", true},
	    {"application/grpc+proto;x=y", true},
	    {"application/grpc;", true},
	    {"APPLICATION/GRPC", true},
	    {"Application/Grpc+Proto", true},
	    {"application/grpc+json", false},
	    {"application/grpc+protobuf", false},
	    {"application/grpc+", false},
	    {"application/grpc+proto+x", false},
	    {"application/grpcx", false},
	    {"application/grp", false},
	    {"application/json", false},
	    {"text/plain", false},
	    {"", false},
	    {"application/grpc-web", false},
	    {" application/grpc", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (grpc_content_type_ok(cases[i].v, strlen(cases[i].v)) != cases[i].ok)
			fail_msg("\"%s\": want %d", cases[i].v, cases[i].ok);
	/* length-bounded: bytes past len do not count */
	assert_true(grpc_content_type_ok("application/grpcXYZ", 16));
	assert_false(grpc_content_type_ok("application/grpc", 15));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_whole, setup_stream),
	    cmocka_unit_test_setup(test_byte_by_byte, setup_stream),
	    cmocka_unit_test_setup(test_every_split, setup_stream),
	    cmocka_unit_test_setup(test_every_double_split, setup_stream),
	    cmocka_unit_test_setup(test_partial_then_fini, setup_stream),
	    cmocka_unit_test(test_untaken_message),
	    cmocka_unit_test(test_limit_every_split),
	    cmocka_unit_test(test_limit_after_messages),
	    cmocka_unit_test(test_zero_max),
	    cmocka_unit_test(test_compressed_flag),
	    cmocka_unit_test(test_buffer_grows_with_arrival),
	    cmocka_unit_test(test_inflate),
	    cmocka_unit_test(test_inflate_bomb),
	    cmocka_unit_test(test_encoding_parse),
	    cmocka_unit_test(test_prefix_encode),
	    cmocka_unit_test(test_percent_encode),
	    cmocka_unit_test(test_timeout_parse),
	    cmocka_unit_test(test_content_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
