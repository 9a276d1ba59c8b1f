/* jwt.c — compact JWS tokens (RFC 7515 §7.1) with the checks of the
 * cloud's jwt authorizer (jwt-authorizer.md): split, base64url-decode
 * with caps, parse header and claims with jansson, verify RS* / ES*
 * through libcrypto's EVP, then the claims and scopes.
 *
 * Must never: accept "none", an HMAC alg (the public key would serve as a
 * shared secret), a header with "crit" (RFC 7515 §4.1.11: extensions we
 * do not understand), or trust the token's alg to choose the key type:
 * the key must suit the alg. Pure: no sockets, no logging.
 */
#include "jwt.h"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "jwk.h"

#define MAX_HEADER 1024 /* decoded header bytes */
#define MAX_SIG 1024    /* an RSA-8192 signature */

static int fail(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
	return ERR_INVAL;
}

static int b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	return -1;
}

int jwt_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	if (len % 4 == 1)
		return ERR_INVAL;
	if (len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > cap)
		return ERR_LIMIT;
	for (size_t i = 0; i < len; i++) {
		int v = b64val((unsigned char)in[i]);

		if (v < 0)
			return ERR_INVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* RFC 4648 §3.5: the leftover bits must be zero (one encoding only) */
	if (bits && (acc & ((1u << bits) - 1)))
		return ERR_INVAL;
	return (int)o;
}

static const struct {
	const char *name;
	enum jwt_alg alg;
} algs[] = {{"RS256", JWT_RS256}, {"RS384", JWT_RS384}, {"RS512", JWT_RS512},
            {"ES256", JWT_ES256}, {"ES384", JWT_ES384}, {"ES512", JWT_ES512}};

/* A base64url part decoded and parsed as a JSON object. */
static json_t *part_object(const char *p, size_t len, size_t cap, const char *what, char *why,
                           size_t whylen)
{
	uint8_t *buf = malloc(cap ? cap : 1);
	json_error_t e;
	json_t *j = NULL;
	int n;

	if (!buf) {
		fail(why, whylen, "out of memory");
		return NULL;
	}
	n = jwt_b64url_decode(p, len, buf, cap);
	if (n < 0) {
		snprintf(why, whylen, "%s is not base64url%s", what,
		         n == ERR_LIMIT ? " (too long)" : "");
	} else if (!(j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, &e))) {
		snprintf(why, whylen, "%s is not JSON (or has a duplicate key)", what);
	} else if (!json_is_object(j)) {
		snprintf(why, whylen, "%s is not a JSON object", what);
		json_decref(j);
		j = NULL;
	}
	free(buf);
	return j;
}

static int read_header(struct jwt *t, char *why, size_t whylen)
{
	json_t *a = json_object_get(t->header, "alg"), *k = json_object_get(t->header, "kid");
	const char *name;

	if (!json_is_string(a))
		return fail(why, whylen, "the header has no \"alg\"");
	name = json_string_value(a);
	if (json_object_get(t->header, "crit"))
		return fail(why, whylen, "the header has \"crit\" extensions");
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
		if (!strcmp(name, algs[i].name) && strlen(name) == json_string_length(a)) {
			t->alg = algs[i].alg;
			goto kid;
		}
	return fail(why, whylen, "alg is not RS256/384/512 or ES256/384/512");
kid:
	if (!k)
		return 0;
	if (!json_is_string(k) || json_string_length(k) > JWT_MAX_KID ||
	    strlen(json_string_value(k)) != json_string_length(k))
		return fail(why, whylen, "kid is not a short string");
	memcpy(t->kid, json_string_value(k), json_string_length(k) + 1);
	t->has_kid = true;
	return 0;
}

int jwt_decode(const char *tok, size_t len, struct jwt *out, char *why, size_t whylen)
{
	const char *d1, *d2, *end = tok + len;
	struct jwt t;
	int n, rc = ERR_INVAL;

	memset(&t, 0, sizeof t);
	if (len > JWT_MAX_TOKEN)
		return fail(why, whylen, "token too long");
	if (!(d1 = memchr(tok, '.', len)) || !(d2 = memchr(d1 + 1, '.', (size_t)(end - d1 - 1))))
		return fail(why, whylen, "not a compact JWS (three dot-separated parts)");
	if (memchr(d2 + 1, '.', (size_t)(end - d2 - 1)))
		return fail(why, whylen, "more than three parts (an encrypted JWE?)");
	if (d1 == tok || d2 == d1 + 1 || d2 + 1 == end)
		return fail(why, whylen, "an empty part");
	if (!(t.header =
	          part_object(tok, (size_t)(d1 - tok), MAX_HEADER, "the header", why, whylen)))
		return ERR_INVAL;
	if ((rc = read_header(&t, why, whylen)))
		goto out;
	rc = ERR_INVAL;
	if (!(t.claims = part_object(d1 + 1, (size_t)(d2 - d1 - 1), JWT_MAX_TOKEN, "the payload",
	                             why, whylen)))
		goto out;
	if (!(t.sig = malloc(MAX_SIG))) {
		rc = fail(why, whylen, "out of memory");
		goto out;
	}
	n = jwt_b64url_decode(d2 + 1, (size_t)(end - d2 - 1), t.sig, MAX_SIG);
	if (n <= 0) {
		fail(why, whylen, "the signature is not base64url");
		goto out;
	}
	t.sig_len = (size_t)n;
	t.signed_part = tok;
	t.signed_len = (size_t)(d2 - tok);
	*out = t;
	return 0;
out:
	jwt_free(&t);
	return rc;
}

void jwt_free(struct jwt *t)
{
	json_decref(t->header);
	json_decref(t->claims);
	free(t->sig);
	t->header = t->claims = NULL;
	t->sig = NULL;
}

/* ---- the signature ------------------------------------------------------ */

static const EVP_MD *md_of(enum jwt_alg a)
{
	switch (a) {
	case JWT_RS256:
	case JWT_ES256:
		return EVP_sha256();
	case JWT_RS384:
	case JWT_ES384:
		return EVP_sha384();
	default:
		return EVP_sha512();
	}
}

/* JOSE r||s (RFC 7518 §3.4) to the DER form libcrypto verifies. */
static int ecdsa_der(const uint8_t *sig, size_t len, size_t half, uint8_t **der, int *der_len)
{
	ECDSA_SIG *s;
	BIGNUM *r, *ss;

	if (len != 2 * half)
		return ERR_INVAL;
	r = BN_bin2bn(sig, (int)half, NULL);
	ss = BN_bin2bn(sig + half, (int)half, NULL);
	if (!r || !ss || !(s = ECDSA_SIG_new())) {
		BN_free(r);
		BN_free(ss);
		return ERR_NOMEM;
	}
	ECDSA_SIG_set0(s, r, ss);
	*der = NULL;
	*der_len = i2d_ECDSA_SIG(s, der);
	ECDSA_SIG_free(s);
	return *der_len > 0 ? 0 : ERR_NOMEM;
}

static int key_suits(const struct jwt *t, const struct jwk_key *k, char *why, size_t whylen)
{
	static const int bits[] = {256, 384, 521};

	if (k->has_alg && k->alg != t->alg)
		return fail(why, whylen, "the key is for another alg");
	if (t->alg <= JWT_RS512) {
		if (k->kty != JWK_RSA)
			return fail(why, whylen, "an RS* token and a key that is not RSA");
		/* RFC 7518 §3.3: 2048 bits or more */
		if (EVP_PKEY_get_bits(k->pkey) < 2048)
			return fail(why, whylen, "the RSA key is shorter than 2048 bits");
		return 0;
	}
	if (k->kty != JWK_EC || k->ec_bits != bits[t->alg - JWT_ES256])
		return fail(why, whylen, "an ES* token and a key not on its curve");
	return 0;
}

int jwt_verify(const struct jwt *t, const struct jwk_key *key, char *why, size_t whylen)
{
	EVP_MD_CTX *ctx;
	uint8_t *der = NULL;
	const uint8_t *sig = t->sig;
	size_t sig_len = t->sig_len;
	int rc, der_len = 0, ok;

	if ((rc = key_suits(t, key, why, whylen)))
		return rc;
	if (t->alg >= JWT_ES256) {
		static const size_t half[] = {32, 48, 66};

		rc = ecdsa_der(t->sig, t->sig_len, half[t->alg - JWT_ES256], &der, &der_len);
		if (rc)
			return fail(why, whylen,
			            rc == ERR_NOMEM ? "out of memory"
			                            : "bad ECDSA signature length");
		sig = der;
		sig_len = (size_t)der_len;
	}
	if (!(ctx = EVP_MD_CTX_new())) {
		OPENSSL_free(der);
		return fail(why, whylen, "out of memory");
	}
	ok = EVP_DigestVerifyInit(ctx, NULL, md_of(t->alg), NULL, key->pkey) == 1 &&
	     EVP_DigestVerify(ctx, sig, sig_len, (const uint8_t *)t->signed_part, t->signed_len) ==
	         1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok ? 0 : fail(why, whylen, "bad signature");
}

/* ---- claims ----------------------------------------------------------------- */

static bool in_list(const char *s, size_t len, const char *const *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(l[i]) == len && !memcmp(l[i], s, len))
			return true;
	return false;
}

/* A NumericDate claim (RFC 7519 §2) as seconds; absent: *present false. */
static int num_claim(const struct jwt *t, const char *name, double *v, bool *present)
{
	json_t *j = json_object_get(t->claims, name);

	*present = j != NULL;
	if (!j)
		return 0;
	if (!json_is_number(j))
		return ERR_INVAL;
	*v = json_number_value(j);
	return 0;
}

static int check_times(const struct jwt *t, int64_t now, char *why, size_t whylen)
{
	double v = 0;
	bool has;

	if (num_claim(t, "exp", &v, &has))
		return fail(why, whylen, "exp is not a number");
	if (has && !(v + JWT_LEEWAY_S > (double)now))
		return fail(why, whylen, "the token has expired (exp)");
	if (num_claim(t, "nbf", &v, &has))
		return fail(why, whylen, "nbf is not a number");
	if (has && !(v <= (double)(now + JWT_LEEWAY_S)))
		return fail(why, whylen, "the token is not valid yet (nbf)");
	if (num_claim(t, "iat", &v, &has))
		return fail(why, whylen, "iat is not a number");
	if (has && !(v <= (double)(now + JWT_LEEWAY_S)))
		return fail(why, whylen, "the token was issued in the future (iat)");
	return 0;
}

static bool aud_ok(json_t *aud, const struct jwt_policy *p)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return in_list(json_string_value(aud), json_string_length(aud), p->audiences,
		               p->num_audiences);
	if (!json_is_array(aud))
		return false;
	json_array_foreach(aud, i, v)
	{
		if (json_is_string(v) && in_list(json_string_value(v), json_string_length(v),
		                                 p->audiences, p->num_audiences))
			return true;
	}
	return false;
}

int jwt_check_claims(const struct jwt *t, const struct jwt_policy *p, int64_t now, char *why,
                     size_t whylen)
{
	json_t *iss = json_object_get(t->claims, "iss");
	int rc;

	if ((rc = check_times(t, now, why, whylen)))
		return rc;
	if (p->num_issuers &&
	    !(json_is_string(iss) &&
	      in_list(json_string_value(iss), json_string_length(iss), p->issuers, p->num_issuers)))
		return fail(why, whylen, "iss is not one of the issuers");
	if (p->num_audiences && !aud_ok(json_object_get(t->claims, "aud"), p))
		return fail(why, whylen, "aud is not one of the audiences");
	for (size_t i = 0; i < p->num_required_claims; i++)
		if (!json_object_get(t->claims, p->required_claims[i]))
			return fail(why, whylen, "a required claim is missing");
	return 0;
}

/* Is scope want[0..wlen) among the token's: the words of a "scope" / "scp"
 * string, or the strings of such an array. */
static bool has_scope(json_t *sc, const char *want)
{
	size_t wl = strlen(want), i;
	json_t *v;

	if (json_is_string(sc)) {
		const char *s = json_string_value(sc), *e = s + json_string_length(sc);

		while (s < e) {
			const char *w = memchr(s, ' ', (size_t)(e - s));
			size_t l = w ? (size_t)(w - s) : (size_t)(e - s);

			if (l == wl && !memcmp(s, want, wl))
				return true;
			s += l + 1;
		}
		return false;
	}
	json_array_foreach(sc, i, v)
	{
		if (json_is_string(v) && json_string_length(v) == wl &&
		    !memcmp(json_string_value(v), want, wl))
			return true;
	}
	return false;
}

static json_t *scope_claim(const struct jwt *t)
{
	json_t *sc = json_object_get(t->claims, "scope");

	if (!json_is_string(sc) && !json_is_array(sc))
		sc = json_object_get(t->claims, "scp");
	return json_is_string(sc) || json_is_array(sc) ? sc : NULL;
}

int jwt_check_scopes(const struct jwt *t, const struct jwt_policy *p, char *why, size_t whylen)
{
	json_t *sc = scope_claim(t);

	for (size_t i = 0; i < p->num_scopes; i++)
		if (!sc || !has_scope(sc, p->scopes[i]))
			return fail(why, whylen, "a required scope is missing");
	return 0;
}

/* ---- the context --------------------------------------------------------------- */

static json_t *scopes_array(const struct jwt *t)
{
	json_t *sc = scope_claim(t), *a = json_array(), *v;
	size_t i;

	if (!a || !sc)
		return a;
	if (json_is_array(sc)) {
		json_array_foreach(sc, i, v)
		{
			if (json_is_string(v))
				json_array_append(a, v);
		}
		return a;
	}
	for (const char *s = json_string_value(sc), *e = s + json_string_length(sc); s < e;) {
		const char *w = memchr(s, ' ', (size_t)(e - s));
		size_t l = w ? (size_t)(w - s) : (size_t)(e - s);

		if (l)
			json_array_append_new(a, json_stringn(s, l));
		s += l + 1;
	}
	return a;
}

char *jwt_context(const struct jwt *t, size_t cap, bool *too_long)
{
	json_t *claims = json_object(), *root, *v;
	const char *k;
	char *out = NULL;

	*too_long = false;
	if (!claims)
		return NULL;
	json_object_foreach(t->claims, k, v)
	{
		if (json_is_string(v)) {
			json_object_set(claims, k, v);
		} else {
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			if (s)
				json_object_set_new(claims, k, json_string(s));
			free(s);
		}
	}
	root = json_pack("{s:{s:o,s:o}}", "jwt", "claims", claims, "scopes", scopes_array(t));
	if (root)
		out = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII); /* a header value */
	json_decref(root);
	if (out && strlen(out) > cap) {
		*too_long = true;
		free(out);
		out = NULL;
	}
	return out;
}
