/* jwk.c — a JWK Set (RFC 7517) to libcrypto public keys: RSA from n and e
 * (RFC 7518 §6.3.1), EC from crv, x and y (§6.2.1) on P-256, P-384 and
 * P-521, built with OpenSSL 3's EVP_PKEY_fromdata (Debian 12 ships 3.0).
 *
 * Must never: keep more than JWK_MAX_KEYS keys, accept an EC point that
 * is not on its curve, or fail a whole set over a key of a type it does
 * not use (RFC 7517 §5: ignore those). Pure: no sockets, no logging.
 */
#include "jwk.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define MAX_RSA_N 1024 /* bytes: 8192 bits */
#define MAX_RSA_E 8

static int fail(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
	return ERR_INVAL;
}

/* Base64url member name of key o into out[cap]; its exact length if
 * want_len, else any length up to cap. Returns the length or < 0. */
static int member(json_t *o, const char *name, uint8_t *out, size_t cap, size_t want_len)
{
	json_t *v = json_object_get(o, name);
	int n;

	if (!json_is_string(v))
		return ERR_INVAL;
	n = jwt_b64url_decode(json_string_value(v), json_string_length(v), out, cap);
	if (n <= 0 || (want_len && (size_t)n != want_len))
		return ERR_INVAL;
	return n;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *b, int selection)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pk = NULL;

	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, selection, params) != 1)
		pk = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

static EVP_PKEY *rsa_key(json_t *o)
{
	uint8_t n[MAX_RSA_N], e[MAX_RSA_E];
	int nl = member(o, "n", n, sizeof n, 0), el = member(o, "e", e, sizeof e, 0);
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *b = NULL;
	EVP_PKEY *pk = NULL;

	if (nl < 0 || el < 0)
		return NULL;
	bn = BN_bin2bn(n, nl, NULL);
	be = BN_bin2bn(e, el, NULL);
	if (bn && be && (b = OSSL_PARAM_BLD_new()) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be))
		pk = from_params("RSA", b, EVP_PKEY_PUBLIC_KEY);
	OSSL_PARAM_BLD_free(b);
	BN_free(bn);
	BN_free(be);
	return pk;
}

static const struct {
	const char *crv, *group;
	int bits;
	size_t len;
} curves[] = {{"P-256", "prime256v1", 256, 32},
              {"P-384", "secp384r1", 384, 48},
              {"P-521", "secp521r1", 521, 66}};

/* The EC key, or NULL; *skip when its curve is not one wsgw verifies. */
static EVP_PKEY *ec_key(json_t *o, int *bits, bool *skip)
{
	json_t *crv = json_object_get(o, "crv");
	uint8_t pt[1 + 2 * 66];
	OSSL_PARAM_BLD *b;
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *chk;
	size_t c, len;

	for (c = 0; c < 3; c++)
		if (json_is_string(crv) && !strcmp(json_string_value(crv), curves[c].crv))
			break;
	if (c == 3) {
		*skip = json_is_string(crv);
		return NULL;
	}
	len = curves[c].len;
	pt[0] = 0x04; /* SEC 1 §2.3.3: uncompressed point */
	if (member(o, "x", pt + 1, len, len) < 0 || member(o, "y", pt + 1 + len, len, len) < 0)
		return NULL;
	if ((b = OSSL_PARAM_BLD_new()) &&
	    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, curves[c].group, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * len))
		pk = from_params("EC", b, EVP_PKEY_PUBLIC_KEY);
	OSSL_PARAM_BLD_free(b);
	/* fromdata does not check that the point is on the curve */
	chk = pk ? EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL) : NULL;
	if (pk && (!chk || EVP_PKEY_public_check(chk) != 1)) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	EVP_PKEY_CTX_free(chk);
	*bits = curves[c].bits;
	return pk;
}

/* Reads key o into k. Returns 0, 1 (skip it) or ERR_INVAL. */
static int one_key(json_t *o, struct jwk_key *k)
{
	static const char *const alg_names[] = {"RS256", "RS384", "RS512",
	                                        "ES256", "ES384", "ES512"};
	json_t *kty = json_object_get(o, "kty"), *use = json_object_get(o, "use"),
	       *kid = json_object_get(o, "kid"), *alg = json_object_get(o, "alg");
	bool skip = false;

	if (!json_is_object(o) || !json_is_string(kty))
		return ERR_INVAL;
	if (use && !(json_is_string(use) && !strcmp(json_string_value(use), "sig")))
		return 1;
	if (alg) {
		size_t a;

		for (a = 0; a < 6; a++)
			if (json_is_string(alg) && !strcmp(json_string_value(alg), alg_names[a]))
				break;
		if (a == 6)
			return 1; /* PS256, HS256, ...: not ours to verify with */
		k->has_alg = true;
		k->alg = (enum jwt_alg)a;
	}
	if (kid) {
		if (!json_is_string(kid) || json_string_length(kid) > JWT_MAX_KID ||
		    strlen(json_string_value(kid)) != json_string_length(kid))
			return ERR_INVAL;
		memcpy(k->kid, json_string_value(kid), json_string_length(kid) + 1);
		k->has_kid = true;
	}
	if (!strcmp(json_string_value(kty), "RSA")) {
		k->kty = JWK_RSA;
		k->pkey = rsa_key(o);
	} else if (!strcmp(json_string_value(kty), "EC")) {
		k->kty = JWK_EC;
		k->pkey = ec_key(o, &k->ec_bits, &skip);
	} else {
		return 1; /* "oct", "OKP", ...: not used by the supported algs */
	}
	if (skip)
		return 1;
	return k->pkey ? 0 : ERR_INVAL;
}

int jwk_set_parse(const char *json, size_t len, struct jwk_set *out, char *why, size_t whylen)
{
	json_error_t e;
	json_t *root, *keys, *o;
	struct jwk_set s = {NULL, 0};
	size_t i;
	int rc = ERR_INVAL;

	if (len > JWK_MAX_JSON)
		return fail(why, whylen, "the JWKS is larger than 64 KiB");
	if (!(root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e)))
		return fail(why, whylen, "the JWKS is not JSON");
	keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		fail(why, whylen, "the JWKS has no \"keys\" array");
		goto out;
	}
	if (!(s.keys = calloc(JWK_MAX_KEYS, sizeof *s.keys))) {
		rc = ERR_NOMEM;
		goto out;
	}
	json_array_foreach(keys, i, o)
	{
		int r;

		if (s.num_keys == JWK_MAX_KEYS)
			break; /* the rest are not read: a bounded set */
		memset(&s.keys[s.num_keys], 0, sizeof s.keys[0]);
		r = one_key(o, &s.keys[s.num_keys]);
		if (r < 0) {
			if (why && whylen)
				snprintf(why, whylen, "key %zu of the JWKS is malformed", i);
			goto out;
		}
		if (r == 0)
			s.num_keys++;
	}
	*out = s;
	s.keys = NULL;
	s.num_keys = 0;
	rc = 0;
out:
	jwk_set_free(&s);
	json_decref(root);
	return rc;
}

const struct jwk_key *jwk_set_find(const struct jwk_set *s, const struct jwt *t)
{
	const struct jwk_key *only = NULL;
	enum jwk_kty want = t->alg <= JWT_RS512 ? JWK_RSA : JWK_EC;
	size_t n = 0;

	for (size_t i = 0; i < s->num_keys; i++) {
		const struct jwk_key *k = &s->keys[i];

		if (t->has_kid) {
			if (k->has_kid && !strcmp(k->kid, t->kid))
				return k;
		} else if (k->kty == want) {
			only = k;
			n++;
		}
	}
	return n == 1 ? only : NULL;
}

void jwk_set_free(struct jwk_set *s)
{
	if (!s->keys)
		return;
	for (size_t i = 0; i < JWK_MAX_KEYS; i++)
		EVP_PKEY_free(s->keys[i].pkey);
	free(s->keys);
	s->keys = NULL;
	s->num_keys = 0;
}
