/* auth_cache.c — authorizer results by hashed (path, method, credential),
 * a bounded direct-mapped table (auth_cache.h). The slot is chosen by the
 * key's first bytes: SHA-256 output is uniform, and a client cannot aim at
 * a slot without finding preimages. Must never: keep a credential in
 * clear, or grow past AUTH_CACHE_SLOTS entries. Pure.
 */
#include "auth_cache.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	struct auth_cache_key key;
	uint64_t expires_ms; /* 0: empty */
	int status;
	char *ctx;
};

struct auth_cache {
	struct slot slot[AUTH_CACHE_SLOTS];
};

void auth_cache_key(struct auth_cache_key *k, const char *where, size_t wlen, const char *method,
                    const char *cred, size_t clen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t nul = 0;
	unsigned n = 0;

	/* NUL separators: ("/a", "b") and ("/ab", "") are different keys */
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, where, wlen) != 1 || EVP_DigestUpdate(ctx, &nul, 1) != 1 ||
	    EVP_DigestUpdate(ctx, method, strlen(method)) != 1 ||
	    EVP_DigestUpdate(ctx, &nul, 1) != 1 || EVP_DigestUpdate(ctx, cred, clen) != 1 ||
	    EVP_DigestFinal_ex(ctx, k->b, &n) != 1)
		memset(k->b, 0, sizeof k->b); /* all-zero: never stored, never found */
	EVP_MD_CTX_free(ctx);
}

static bool is_null_key(const struct auth_cache_key *k)
{
	static const struct auth_cache_key zero;

	return !memcmp(k, &zero, sizeof zero);
}

static struct slot *slot_of(struct auth_cache *c, const struct auth_cache_key *k)
{
	uint32_t h;

	memcpy(&h, k->b, sizeof h);
	return &c->slot[h % AUTH_CACHE_SLOTS];
}

struct auth_cache *auth_cache_new(void)
{
	return calloc(1, sizeof(struct auth_cache));
}

void auth_cache_free(struct auth_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < AUTH_CACHE_SLOTS; i++)
		free(c->slot[i].ctx);
	free(c);
}

bool auth_cache_get(struct auth_cache *c, const struct auth_cache_key *k, uint64_t now_ms,
                    int *status, char **ctx)
{
	struct slot *s = slot_of(c, k);

	*ctx = NULL;
	if (is_null_key(k) || !s->expires_ms || memcmp(&s->key, k, sizeof *k))
		return false;
	if (now_ms >= s->expires_ms) {
		free(s->ctx);
		memset(s, 0, sizeof *s);
		return false;
	}
	if (s->ctx && !(*ctx = strdup(s->ctx)))
		return false;
	*status = s->status;
	return true;
}

void auth_cache_put(struct auth_cache *c, const struct auth_cache_key *k, uint64_t expires_ms,
                    int status, const char *ctx)
{
	struct slot *s = slot_of(c, k);
	char *copy = NULL;

	if (is_null_key(k) || !expires_ms || (ctx && !(copy = strdup(ctx))))
		return;
	free(s->ctx);
	s->key = *k;
	s->expires_ms = expires_ms;
	s->status = status;
	s->ctx = copy;
}
