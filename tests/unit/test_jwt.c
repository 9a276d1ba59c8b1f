/* test_jwt.c — unit tests for jwt.c and jwk.c: tokens signed in the test
 * with keys generated in the test (RSA 2048, P-256, P-384, P-521), served
 * as a JWKS string; good tokens of every alg, each claim check failing,
 * alg none / HS256 / PS256 / crit, alg-key confusion, unknown kid, bad
 * signatures, and every prefix and every one-character change of a good
 * token refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "err.h"
#include "jwk.h"
#include "jwt.h"

#define NOW 1700000000

static EVP_PKEY *rsa, *rsa_small, *ec256, *ec384, *ec521;
static char jwks[16384];
static struct jwk_set set;

static size_t b64url(const uint8_t *in, size_t len, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = a[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[o++] = a[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return o;
}

static size_t b64s(const char *s, char *out)
{
	return b64url((const uint8_t *)s, strlen(s), out);
}

static void bn_b64(EVP_PKEY *k, const char *param, size_t pad, char *out)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
	n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
	assert_true(n > 0);
	b64url(buf, (size_t)n, out);
	BN_free(bn);
}

static void add_rsa(char *o, EVP_PKEY *k, const char *kid)
{
	char n[1400], e[16];

	bn_b64(k, OSSL_PKEY_PARAM_RSA_N, 0, n);
	bn_b64(k, OSSL_PKEY_PARAM_RSA_E, 0, e);
	sprintf(o + strlen(o),
	        "%s{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"}",
	        strchr(o, '{') && o[strlen(o) - 1] != '[' ? "," : "", kid, n, e);
}

static void add_ec(char *o, EVP_PKEY *k, const char *kid, const char *crv, size_t len)
{
	char x[100], y[100];

	bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, len, x);
	bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, len, y);
	sprintf(o + strlen(o),
	        ",{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}", kid,
	        crv, x, y);
}

static int setup(void **state)
{
	(void)state;
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa_small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	ec521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	assert_non_null(rsa && rsa_small && ec256 && ec384 && ec521);
	strcpy(jwks, "{\"keys\":[");
	add_rsa(jwks, rsa, "rsa1");
	add_rsa(jwks, rsa_small, "small");
	add_ec(jwks, ec256, "ec256", "P-256", 32);
	add_ec(jwks, ec384, "ec384", "P-384", 48);
	add_ec(jwks, ec521, "ec521", "P-521", 66);
	strcat(
	    jwks,
	    ",{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"},{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQ\","
	    "\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"}]}");
	assert_int_equal(jwk_set_parse(jwks, strlen(jwks), &set, NULL, 0), 0);
	assert_int_equal(set.num_keys, 5);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	jwk_set_free(&set);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa_small);
	EVP_PKEY_free(ec256);
	EVP_PKEY_free(ec384);
	EVP_PKEY_free(ec521);
	return 0;
}

/* header.payload.signature, signed with k by alg ("RS256", "ES384", ...). */
static char *sign(EVP_PKEY *k, const char *alg, const char *header, const char *payload)
{
	static char tok[12000];
	const EVP_MD *md = strstr(alg, "256")   ? EVP_sha256()
	                   : strstr(alg, "384") ? EVP_sha384()
	                                        : EVP_sha512();
	uint8_t sig[1024], rs[132];
	size_t sl = sizeof sig, o;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	o = b64s(header, tok);
	tok[o++] = '.';
	o += b64s(payload, tok + o);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (uint8_t *)tok, o), 1);
	EVP_MD_CTX_free(ctx);
	tok[o++] = '.';
	if (alg[0] == 'E') { /* DER to JOSE r||s */
		const uint8_t *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
		size_t half = strstr(alg, "256") ? 32 : strstr(alg, "384") ? 48 : 66;

		BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, (int)half);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + half, (int)half);
		ECDSA_SIG_free(es);
		b64url(rs, 2 * half, tok + o);
	} else {
		b64url(sig, sl, tok + o);
	}
	return tok;
}

static const char *const iss[] = {"https://issuer.example", "https://other.example"};
static const char *const aud[] = {"aud-1", "aud-2"};
static const char *const req[] = {"email"};
static const char *const scopes[] = {"profile:read", "profile:write"};
static const struct jwt_policy policy = {iss, 2, aud, 2, req, 1, scopes, 2};

/* The authorizer's verdict on tok: 0, 401 or 403. */
static int run(const char *tok, size_t len, const struct jwt_policy *p)
{
	struct jwt t;
	const struct jwk_key *k;
	char why[128];
	int st = 401;

	if (jwt_decode(tok, len, &t, why, sizeof why))
		return 401;
	if ((k = jwk_set_find(&set, &t)) && !jwt_verify(&t, k, why, sizeof why) &&
	    !jwt_check_claims(&t, p, NOW, why, sizeof why))
		st = jwt_check_scopes(&t, p, why, sizeof why) ? 403 : 0;
	jwt_free(&t);
	return st;
}

#define GOOD_CLAIMS                                                                                \
	"{\"iss\":\"https://issuer.example\",\"aud\":\"aud-2\",\"email\":\"a@b.c\",\"exp\":%d,"    \
	"\"nbf\":%d,\"iat\":%d,\"scope\":\"openid profile:read profile:write\",\"n\":7,"           \
	"\"o\":{\"a\":[1]}}"

static char *claims(int exp, int nbf, int iat)
{
	static char buf[512];

	snprintf(buf, sizeof buf, GOOD_CLAIMS, exp, nbf, iat);
	return buf;
}

static char *good(EVP_PKEY *k, const char *alg, const char *kid)
{
	char hdr[128];

	snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid);
	return sign(k, alg, hdr, claims(NOW + 600, NOW - 10, NOW - 10));
}

static void test_good_every_alg(void **state)
{
	(void)state;
	assert_int_equal(
	    run(good(rsa, "RS256", "rsa1"), strlen(good(rsa, "RS256", "rsa1")), &policy), 0);
	const struct {
		EVP_PKEY **k;
		const char *alg, *kid;
	} c[] = {{&rsa, "RS256", "rsa1"},    {&rsa, "RS384", "rsa1"},
	         {&rsa, "RS512", "rsa1"},    {&ec256, "ES256", "ec256"},
	         {&ec384, "ES384", "ec384"}, {&ec521, "ES512", "ec521"}};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char *tok = good(*c[i].k, c[i].alg, c[i].kid);
		assert_int_equal(run(tok, strlen(tok), &policy), 0);
	}
}

static void test_claims(void **state)
{
	char *tok;
	(void)state;
	tok = sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
	           claims(NOW - 100, NOW - 200, NOW - 200));
	assert_int_equal(run(tok, strlen(tok), &policy), 401); /* expired */
	tok = sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
	           claims(NOW - 10, NOW - 200, NOW - 200));
	assert_int_equal(run(tok, strlen(tok), &policy), 0); /* within the leeway */
	tok = sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
	           claims(NOW + 900, NOW + 300, NOW));
	assert_int_equal(run(tok, strlen(tok), &policy), 401); /* nbf in the future */
	tok = sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
	           claims(NOW + 900, NOW, NOW + 300));
	assert_int_equal(run(tok, strlen(tok), &policy), 401); /* iat in the future */
	const char *bad[] = {
	    "{\"iss\":\"https://"
	    "evil.example\",\"aud\":\"aud-1\",\"email\":1,\"scope\":\"profile:read "
	    "profile:write\"}",
	    "{\"iss\":\"https://"
	    "issuer.example\",\"aud\":\"aud-3\",\"email\":1,\"scope\":\"profile:read "
	    "profile:write\"}",
	    "{\"iss\":\"https://"
	    "issuer.example\",\"aud\":[\"x\",\"y\"],\"email\":1,\"scope\":\"profile:read "
	    "profile:write\"}",
	    "{\"iss\":\"https://issuer.example\",\"aud\":\"aud-1\",\"scope\":\"profile:read "
	    "profile:write\"}",
	    "{\"iss\":\"https://issuer.example\",\"aud\":\"aud-1\",\"email\":1,\"exp\":\"soon\"}",
	    "{\"aud\":\"aud-1\",\"email\":1,\"scope\":\"profile:read profile:write\"}",
	    "{\"iss\":\"https://issuer.example\",\"aud\":\"aud-1\",\"email\":1,\"nbf\":null}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		tok = sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", bad[i]);
		assert_int_equal(run(tok, strlen(tok), &policy), 401);
	}
	/* scopes: 403; from scope or scp, string or array */
	const struct {
		const char *claims;
		int want;
	} sc[] = {
	    {"{\"iss\":\"https://"
	     "other.example\",\"aud\":[\"x\",\"aud-1\"],\"email\":1,\"scope\":\"profile:read\"}",
	     403},
	    {"{\"iss\":\"https://other.example\",\"aud\":\"aud-1\",\"email\":1}", 403},
	    {"{\"iss\":\"https://"
	     "other.example\",\"aud\":\"aud-1\",\"email\":1,\"scope\":\"profile:readx "
	     "profile:write\"}",
	     403},
	    {"{\"iss\":\"https://"
	     "other.example\",\"aud\":\"aud-1\",\"email\":1,\"scp\":\"profile:write "
	     "profile:read\"}",
	     0},
	    {"{\"iss\":\"https://"
	     "other.example\",\"aud\":\"aud-1\",\"email\":1,\"scp\":[\"profile:write\",\"profile:"
	     "read\"]}",
	     0},
	    {"{\"iss\":\"https://"
	     "other.example\",\"aud\":\"aud-1\",\"email\":1,\"scope\":[\"profile:write\",\"profile:"
	     "read\"]}",
	     0},
	    {"{\"iss\":\"https://"
	     "other.example\",\"aud\":\"aud-1\",\"email\":null,\"scp\":[\"profile:write\",1]}",
	     403},
	};
	for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
		tok = sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", sc[i].claims);
		assert_int_equal(run(tok, strlen(tok), &policy), sc[i].want);
	}
	/* no lists in the policy: only the signature and times count */
	const struct jwt_policy open = {0};
	tok = sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", "{}");
	assert_int_equal(run(tok, strlen(tok), &open), 0);
}

static void test_algs_and_keys(void **state)
{
	char *tok, why[128];
	struct jwt t;
	(void)state;
	/* alg none, HMAC and PSS are never accepted, nor crit */
	const char *hdrs[] = {"{\"alg\":\"none\"}",
	                      "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}",
	                      "{\"alg\":\"PS256\",\"kid\":\"rsa1\"}",
	                      "{\"kid\":\"rsa1\"}",
	                      "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"b64\"]}",
	                      "{\"alg\":\"RS256\",\"kid\":7}",
	                      "[\"alg\"]",
	                      "{\"alg\":\"RS256\",\"alg\":\"RS256\"}"};
	for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
		tok = sign(rsa, "RS256", hdrs[i], "{}");
		assert_int_equal(jwt_decode(tok, strlen(tok), &t, why, sizeof why), ERR_INVAL);
	}
	/* "none" with an empty signature: refused at the split too */
	assert_int_equal(jwt_decode("eyJhbGciOiJub25lIn0.e30.", 24, &t, why, sizeof why),
	                 ERR_INVAL);
	/* an RS token whose kid names an EC key, and the reverse */
	tok = sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"ec256\"}", "{}");
	assert_int_equal(run(tok, strlen(tok), &(struct jwt_policy){0}), 401);
	tok = sign(ec256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", "{}");
	assert_int_equal(run(tok, strlen(tok), &(struct jwt_policy){0}), 401);
	/* ES384 signed on P-384 but naming the P-256 key */
	tok = sign(ec384, "ES384", "{\"alg\":\"ES384\",\"kid\":\"ec256\"}", "{}");
	assert_int_equal(run(tok, strlen(tok), &(struct jwt_policy){0}), 401);
	/* a 1024-bit RSA key: too short */
	tok = sign(rsa_small, "RS256", "{\"alg\":\"RS256\",\"kid\":\"small\"}", "{}");
	assert_int_equal(run(tok, strlen(tok), &(struct jwt_policy){0}), 401);
	/* unknown kid; no kid: the one key of the type (EC: three, so none) */
	tok = sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"nope\"}", "{}");
	assert_int_equal(jwt_decode(tok, strlen(tok), &t, why, sizeof why), 0);
	assert_null(jwk_set_find(&set, &t));
	jwt_free(&t);
	tok = sign(ec256, "ES256", "{\"alg\":\"ES256\"}", "{}");
	assert_int_equal(run(tok, strlen(tok), &(struct jwt_policy){0}), 401);
	/* signed by another key of the same type */
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	tok = sign(other, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", "{}");
	assert_int_equal(run(tok, strlen(tok), &(struct jwt_policy){0}), 401);
	EVP_PKEY_free(other);
}

static void test_no_kid_single_key(void **state)
{
	struct jwk_set one;
	char j[4096] = "{\"keys\":[", *tok;
	struct jwt t;
	(void)state;
	add_rsa(j, rsa, "k");
	strcat(j, "]}");
	assert_int_equal(jwk_set_parse(j, strlen(j), &one, NULL, 0), 0);
	tok = sign(rsa, "RS256", "{\"alg\":\"RS256\"}", "{}");
	assert_int_equal(jwt_decode(tok, strlen(tok), &t, NULL, 0), 0);
	assert_non_null(jwk_set_find(&one, &t));
	assert_int_equal(jwt_verify(&t, jwk_set_find(&one, &t), NULL, 0), 0);
	jwt_free(&t);
	jwk_set_free(&one);
}

/* Every prefix and every one-character change of a good token fails. */
static void test_every_split_and_change(void **state)
{
	char *tok = good(ec256, "ES256", "ec256"), copy[12000];
	size_t len = strlen(tok);
	(void)state;
	memcpy(copy, tok, len + 1);
	assert_int_equal(run(copy, len, &policy), 0);
	for (size_t i = 0; i < len; i++)
		assert_int_not_equal(run(copy, i, &policy), 0);
	for (size_t i = 0; i < len; i++) {
		char was = copy[i];

		for (const char *r = "A_.=-\x80"; *r; r++) {
			if (*r == was)
				continue;
			copy[i] = *r;
			assert_int_not_equal(run(copy, len, &policy), 0);
		}
		copy[i] = was;
	}
	/* and the RSA one, mutations only (fewer: it is long) */
	tok = good(rsa, "RS256", "rsa1");
	len = strlen(tok);
	memcpy(copy, tok, len + 1);
	for (size_t i = 0; i < len; i += 3) {
		char was = copy[i];
		copy[i] = was == 'B' ? 'C' : 'B';
		assert_int_not_equal(run(copy, len, &policy), 0);
		copy[i] = was;
	}
}

static void test_b64url(void **state)
{
	uint8_t out[16];
	(void)state;
	assert_int_equal(jwt_b64url_decode("", 0, out, sizeof out), 0);
	assert_int_equal(jwt_b64url_decode("YQ", 2, out, sizeof out), 1);
	assert_int_equal(out[0], 'a');
	assert_int_equal(jwt_b64url_decode("YR", 2, out, sizeof out),
	                 ERR_INVAL); /* trailing bits */
	assert_int_equal(jwt_b64url_decode("YQ==", 4, out, sizeof out), ERR_INVAL);
	assert_int_equal(jwt_b64url_decode("Y", 1, out, sizeof out), ERR_INVAL);
	assert_int_equal(jwt_b64url_decode("a+b/", 4, out, sizeof out), ERR_INVAL);
	assert_int_equal(jwt_b64url_decode("-_-_", 4, out, sizeof out), 3);
	assert_int_equal(jwt_b64url_decode("AAAAAAAA", 8, out, 5), ERR_LIMIT);
	assert_int_equal(jwt_b64url_decode("AAAAAAA", 7, out, 5), 5);
}

static void test_context(void **state)
{
	char *tok = good(rsa, "RS256", "rsa1"), *ctx;
	struct jwt t;
	bool too_long;
	(void)state;
	assert_int_equal(jwt_decode(tok, strlen(tok), &t, NULL, 0), 0);
	ctx = jwt_context(&t, 4096, &too_long);
	assert_non_null(ctx);
	assert_non_null(strstr(ctx, "{\"jwt\":{\"claims\":{"));
	assert_non_null(strstr(ctx, "\"email\":\"a@b.c\""));
	assert_non_null(strstr(ctx, "\"n\":\"7\""));
	assert_non_null(strstr(ctx, "\"o\":\"{\\\"a\\\":[1]}\""));
	assert_non_null(strstr(ctx, "\"scopes\":[\"openid\",\"profile:read\",\"profile:write\"]"));
	free(ctx);
	assert_null(jwt_context(&t, 40, &too_long));
	assert_true(too_long);
	jwt_free(&t);
	/* ASCII only, one line: it travels as a header value */
	tok = sign(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
	           "{\"name\":\"J\u00f6rg\\r\\nX: y\",\"scp\":[\"\u00e9\"]}");
	assert_int_equal(jwt_decode(tok, strlen(tok), &t, NULL, 0), 0);
	ctx = jwt_context(&t, 4096, &too_long);
	assert_non_null(ctx);
	for (const char *p = ctx; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	assert_non_null(strstr(ctx, "\"name\":\"J\\u00F6rg\\r\\nX: y\""));
	assert_non_null(strstr(ctx, "\"scopes\":[\"\\u00E9\"]"));
	free(ctx);
	jwt_free(&t);
	/* a token too long is refused before any decoding */
	static char big[JWT_MAX_TOKEN + 2];
	memset(big, 'A', sizeof big - 1);
	big[10] = big[20] = '.';
	assert_int_equal(jwt_decode(big, sizeof big - 1, &t, NULL, 0), ERR_INVAL);
}

static void test_jwks_malformed(void **state)
{
	struct jwk_set s;
	char why[128], big[64];
	(void)state;
	const char *bad[] = {
	    "",
	    "[]",
	    "{}",
	    "{\"keys\":{}}",
	    "{\"keys\":[1]}",
	    "{\"keys\":[{\"kty\":\"RSA\"}]}",
	    "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!!\",\"e\":\"AQAB\"}]}",
	    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}",
	    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
	    "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}", /* (0,0): not on the curve
	                                                                 */
	    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":3,\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
	    "{\"keys\":[],\"keys\":[]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(jwk_set_parse(bad[i], strlen(bad[i]), &s, why, sizeof why),
		                 ERR_INVAL);
	/* unknown types, other uses and algs are skipped, not errors */
	const char *skip = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"},"
	                   "{\"kty\":\"RSA\",\"alg\":\"PS256\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}";
	assert_int_equal(jwk_set_parse(skip, strlen(skip), &s, why, sizeof why), 0);
	assert_int_equal(s.num_keys, 0);
	jwk_set_free(&s);
	/* more than JWK_MAX_KEYS: the first 32 are kept */
	char *many = malloc(JWK_MAX_JSON);
	char n[1400], e[16];
	bn_b64(rsa, OSSL_PKEY_PARAM_RSA_N, 0, n);
	bn_b64(rsa, OSSL_PKEY_PARAM_RSA_E, 0, e);
	strcpy(many, "{\"keys\":[");
	for (int i = 0; i < 40; i++) {
		snprintf(big, sizeof big, "%s{\"kty\":\"RSA\",\"kid\":\"k%d\",", i ? "," : "", i);
		strcat(many, big);
		strcat(many, "\"n\":\"");
		strcat(many, n);
		strcat(many, "\",\"e\":\"");
		strcat(many, e);
		strcat(many, "\"}");
	}
	strcat(many, "]}");
	assert_int_equal(jwk_set_parse(many, strlen(many), &s, why, sizeof why), 0);
	assert_int_equal(s.num_keys, JWK_MAX_KEYS);
	jwk_set_free(&s);
	assert_int_equal(jwk_set_parse(many, JWK_MAX_JSON + 1, &s, why, sizeof why), ERR_INVAL);
	free(many);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_every_alg),
	    cmocka_unit_test(test_claims),
	    cmocka_unit_test(test_algs_and_keys),
	    cmocka_unit_test(test_no_kid_single_key),
	    cmocka_unit_test(test_every_split_and_change),
	    cmocka_unit_test(test_b64url),
	    cmocka_unit_test(test_context),
	    cmocka_unit_test(test_jwks_malformed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
