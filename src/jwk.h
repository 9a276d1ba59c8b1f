/* jwk.h — a JSON Web Key Set (RFC 7517) as an issuer publishes it at its
 * jwksUri: the RSA and EC (P-256, P-384, P-521) public keys, by kid, as
 * libcrypto keys. Pure: JSON in, keys out.
 */
#ifndef WSGW_JWK_H
#define WSGW_JWK_H

#include <stdbool.h>
#include <stddef.h>

#include "jwt.h"

#define JWK_MAX_KEYS 32
#define JWK_MAX_JSON (64u * 1024) /* bytes of a JWKS document */

enum jwk_kty { JWK_RSA, JWK_EC };

struct evp_pkey_st;

struct jwk_key {
	char kid[JWT_MAX_KID + 1]; /* "" when the key has none */
	bool has_kid;
	enum jwk_kty kty;
	int ec_bits;              /* 256, 384 or 521 for EC */
	bool has_alg;             /* the key names its algorithm ... */
	enum jwt_alg alg;         /* ... this one */
	struct evp_pkey_st *pkey; /* an EVP_PKEY, owned */
};

struct jwk_set {
	struct jwk_key *keys;
	size_t num_keys;
};

/* Parses {"keys":[...]}: each key with "kty" RSA (n, e) or EC (crv, x, y,
 * coordinates of the curve's exact size, the point checked to be on it).
 * Keys that are not for signatures ("use" other than "sig"), of another
 * kty or curve, or with an "alg" wsgw does not verify are skipped, as RFC
 * 7517 §5 allows; a malformed key of a supported type is an error. At most
 * JWK_MAX_KEYS keys are kept, len at most JWK_MAX_JSON. Returns 0,
 * ERR_INVAL with why, or ERR_NOMEM. On success call jwk_set_free. */
int jwk_set_parse(const char *json, size_t len, struct jwk_set *out, char *why, size_t whylen);

/* The key for token t: the one whose kid is t's kid; for a token without a
 * kid, the one key of the type its alg needs, if exactly one. NULL when
 * none fits. */
const struct jwk_key *jwk_set_find(const struct jwk_set *s, const struct jwt *t);

void jwk_set_free(struct jwk_set *s);

#endif
