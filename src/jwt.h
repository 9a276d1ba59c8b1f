/* jwt.h — JSON Web Tokens (RFC 7519) in the JWS compact form (RFC 7515),
 * checked the way the cloud's `type: jwt` authorizer does
 * (YANDEX-FIDELITY.md §1.1): RS256/384/512 and ES256/384/512 only, the
 * signature through libcrypto, then exp / nbf / iat, iss, aud, required
 * claims and scopes. Pure: bytes in, verdicts out; no sockets, no logging.
 */
#ifndef WSGW_JWT_H
#define WSGW_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct jwk_key;

#define JWT_MAX_TOKEN 8192 /* bytes of a compact token; more is refused */
#define JWT_MAX_KID 128
#define JWT_LEEWAY_S 30 /* clock skew allowed on exp, nbf and iat */

enum jwt_alg { JWT_RS256, JWT_RS384, JWT_RS512, JWT_ES256, JWT_ES384, JWT_ES512 };

/* A decoded token. Views into the token the caller passed (signing input)
 * stay valid while that token does. */
struct jwt {
	enum jwt_alg alg;
	char kid[JWT_MAX_KID + 1]; /* "" when the header has none */
	bool has_kid;
	json_t *header, *claims; /* objects, owned */
	const char *signed_part; /* "header.payload", a view into the token */
	size_t signed_len;
	uint8_t *sig; /* owned */
	size_t sig_len;
};

/* What a token must satisfy beyond its signature. Lists may be empty
 * (NULL, 0): then that check is skipped. */
struct jwt_policy {
	const char *const *issuers;
	size_t num_issuers;
	const char *const *audiences;
	size_t num_audiences;
	const char *const *required_claims;
	size_t num_required_claims;
	const char *const *scopes; /* all must be among the token's scopes */
	size_t num_scopes;
};

/* Decodes base64url without padding (RFC 7515 §2) from in[0..len) into
 * out[cap]. Returns the decoded length, or ERR_INVAL (a byte outside the
 * alphabet, '=', a length of 4k+1, non-zero trailing bits) or ERR_LIMIT
 * (more than cap bytes). */
int jwt_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* Splits and decodes a compact JWS: three non-empty base64url parts, a
 * header object with a supported "alg" (never "none", HS*, PS*), no "crit",
 * a string "kid" of at most JWT_MAX_KID bytes if any, a claims object
 * (duplicate keys refused). Returns 0 or ERR_INVAL with why, ERR_NOMEM.
 * On success call jwt_free; on error nothing is held. */
int jwt_decode(const char *tok, size_t len, struct jwt *out, char *why, size_t whylen);

/* Verifies t's signature with key: the key type and curve must suit the
 * alg (an RSA key of at least 2048 bits for RS*; P-256/384/521 for
 * ES256/384/512), a key's own "alg" must equal the token's, and ES*
 * signatures are JOSE r||s of exactly twice the curve's size. Returns 0 or
 * ERR_INVAL with why. */
int jwt_verify(const struct jwt *t, const struct jwk_key *key, char *why, size_t whylen);

/* The claim checks at time now (epoch seconds): exp > now, nbf <= now,
 * iat <= now (each within JWT_LEEWAY_S; each optional, but a number when
 * present), iss among issuers, aud (string or array) meeting audiences,
 * required claims present. Returns 0 or ERR_INVAL with why (the cloud's
 * 401). */
int jwt_check_claims(const struct jwt *t, const struct jwt_policy *p, int64_t now, char *why,
                     size_t whylen);

/* The scope check: every p->scopes entry among the token's scopes, read
 * from "scope" or "scp" (a space-separated string or an array of
 * strings). Returns 0 or ERR_INVAL with why (the cloud's 403). */
int jwt_check_scopes(const struct jwt *t, const struct jwt_policy *p, char *why, size_t whylen);

/* The authorizer context as the cloud hands it to functions
 * (requestContext.authorizer): {"jwt":{"claims":{...},"scopes":[...]}},
 * claims as map[string]string (the documented type: a string claim as
 * is, any other value as its compact JSON text), scopes the token's.
 * Compact JSON, heap, NUL-terminated; NULL on ENOMEM or when longer than
 * cap bytes (*too_long set). */
char *jwt_context(const struct jwt *t, size_t cap, bool *too_long);

void jwt_free(struct jwt *t);

#endif
