/* fuzz_jwt.c — libFuzzer target for jwt.c and jwk.c.
 *
 * The input is read three ways: as a compact token (decoded; when it
 * decodes, every claim check runs, the context stays within its cap and is
 * JSON, and verifying it against a fixed key set never succeeds: the
 * fuzzer holds no private key), as a JWKS document (every kept key has a
 * libcrypto key, at most JWK_MAX_KEYS of them), and as base64url (the
 * output never passes its cap). Leaks show under LeakSanitizer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "err.h"
#include "fuzz.h"
#include "jwk.h"
#include "jwt.h"

/* An RSA (kid "r") and a P-256 (kid "e") public key, generated once for
 * this file; their private halves were thrown away. */
static const char jwks[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\",\"e\":\"AQAB\",\"n\":"
    "\"umOEPwK3Yt1109ItqRwB9Zwe6CneVjUXsRzNXxeCZFFYNHJRXW-gb8LTwJEHBO2_"
    "4KA9hK5xRLmQ9P4zMeEQJfOAm0ruvHiiAj4pAL95wlTv-u_"
    "ualAiooA4J6buD17MgNoQgEgoOBp277GIFKLGNeF9VAZixItYpSB4ghw6sHui3KDLMOX0xZqyHntfeX0KwuJB_"
    "hgQQskhJK3V3UUyCkzxk1zByDJHpQ3qmNXBdchzbkTY6afESJbyuNieVJdeOEZGbDUNU28rqTHlI07VXEMA6rDuS1wpJpU"
    "XmtHocvsvumAT6wwt5uIybC9EWMflTQ2gt1LBLX6zphk7oZ2Xaw\"},"
    "{\"kty\":\"EC\",\"kid\":\"e\",\"crv\":\"P-256\",\"x\":\"zTePKVSPv6Lw1iF12frdlarX4VCIv_"
    "47GzVr1WxZBog\",\"y\":\"P6l-9JMwf_W8gFsa-sYdAN7hxiNQWdFoGp7_BVWJs_c\"}]}";

static const char *const iss[] = {"https://issuer.example"};
static const char *const aud[] = {"a"};
static const char *const req[] = {"sub"};
static const char *const scopes[] = {"read"};
static const struct jwt_policy policy = {iss, 1, aud, 1, req, 1, scopes, 1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jwk_set set;
	static int ready;
	struct jwk_set ks;
	struct jwt t;
	uint8_t out[64];
	char why[160];
	int n;

	if (!ready) {
		CHECK(jwk_set_parse(jwks, strlen(jwks), &set, why, sizeof why) == 0);
		CHECK(set.num_keys == 2);
		ready = 1;
	}
	if (jwt_decode((const char *)data, size, &t, why, sizeof why) == 0) {
		const struct jwk_key *k = jwk_set_find(&set, &t);
		bool too_long;
		char *ctx;

		CHECK(t.signed_len < size && t.sig_len > 0);
		if (k)
			CHECK(jwt_verify(&t, k, why, sizeof why) == ERR_INVAL);
		jwt_check_claims(&t, &policy, 1700000000, why, sizeof why);
		jwt_check_scopes(&t, &policy, why, sizeof why);
		ctx = jwt_context(&t, 4096, &too_long);
		if (ctx) {
			json_t *j = json_loads(ctx, 0, NULL);

			CHECK(strlen(ctx) <= 4096 && j &&
			      json_is_object(json_object_get(j, "jwt")));
			json_decref(j);
		}
		free(ctx);
		jwt_free(&t);
	}
	if (jwk_set_parse((const char *)data, size, &ks, why, sizeof why) == 0) {
		CHECK(ks.num_keys <= JWK_MAX_KEYS);
		for (size_t i = 0; i < ks.num_keys; i++)
			CHECK(ks.keys[i].pkey != NULL);
		jwk_set_free(&ks);
	}
	n = jwt_b64url_decode((const char *)data, size, out, sizeof out);
	CHECK(n <= (int)sizeof out && (n >= 0 || n == ERR_INVAL || n == ERR_LIMIT));
	return 0;
}
