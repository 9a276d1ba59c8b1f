/* test_sha1 — SHA-1 against the FIPS 180 examples and against OpenSSL's for
 * every length 0..300 (every padding case: under, at and over 55, 56 and 64
 * bytes mod 64), fed whole, byte by byte and split at every point, and the
 * RFC 6455 §1.3 handshake example. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "sha1.h"

static void hex(const uint8_t *md, char *out)
{
	for (int i = 0; i < SHA1_LEN; i++)
		out[2 * i] = "0123456789abcdef"[md[i] >> 4],
		        out[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
	out[2 * SHA1_LEN] = 0;
}

static void expect(const char *msg, size_t n, const char *want)
{
	uint8_t md[SHA1_LEN];
	char got[2 * SHA1_LEN + 1];

	sha1(msg, n, md);
	hex(md, got);
	assert_string_equal(got, want);
}

static void test_fips_vectors(void **state)
{
	(void)state;
	expect("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	expect("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
	expect("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	       "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void test_million_a(void **state)
{
	static char a[1000000];
	struct sha1 s;
	uint8_t md[SHA1_LEN];
	char got[2 * SHA1_LEN + 1];

	(void)state;
	memset(a, 'a', sizeof a);
	expect(a, sizeof a, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
	sha1_init(&s);
	for (int i = 0; i < 1000; i++)
		sha1_update(&s, a, 1000);
	sha1_final(&s, md);
	hex(md, got);
	assert_string_equal(got, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void test_against_openssl(void **state)
{
	uint8_t data[300], want[SHA1_LEN], got[SHA1_LEN];
	unsigned int wlen;
	struct sha1 s;

	(void)state;
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 131 + 7);
	for (size_t n = 0; n <= sizeof data; n++) {
		assert_int_equal(EVP_Digest(data, n, want, &wlen, EVP_sha1(), NULL), 1);
		assert_int_equal(wlen, SHA1_LEN);
		sha1(data, n, got);
		assert_memory_equal(got, want, SHA1_LEN);
		sha1_init(&s);
		for (size_t i = 0; i < n; i++)
			sha1_update(&s, data + i, 1);
		sha1_final(&s, got);
		assert_memory_equal(got, want, SHA1_LEN);
		for (size_t cut = 0; cut <= n; cut++) {
			sha1_init(&s);
			sha1_update(&s, data, cut);
			sha1_update(&s, data + cut, n - cut);
			sha1_final(&s, got);
			assert_memory_equal(got, want, SHA1_LEN);
		}
	}
}

/* RFC 6455 §1.3: the key "dGhlIHNhbXBsZSBub25jZQ==" answers
 * "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=". */
static void test_rfc6455_example(void **state)
{
	const char *in = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	uint8_t md[SHA1_LEN];
	unsigned char b64[32];

	(void)state;
	sha1(in, strlen(in), md);
	EVP_EncodeBlock(b64, md, SHA1_LEN);
	assert_string_equal((char *)b64, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fips_vectors),
	    cmocka_unit_test(test_million_a),
	    cmocka_unit_test(test_against_openssl),
	    cmocka_unit_test(test_rfc6455_example),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
