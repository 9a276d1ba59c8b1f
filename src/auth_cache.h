/* auth_cache.h — authorizer results kept for authorizer_result_ttl_in_seconds
 * (jwt-authorizer.md, "Caching authorization results"): keyed by the path
 * template (or the URI in `uri` mode), the operation's method and the
 * credential, hashed (SHA-256) so a key never holds the token. A
 * direct-mapped table of AUTH_CACHE_SLOTS entries: a collision replaces
 * the older entry, so memory stays bounded whatever the clients send.
 * Pure: time is passed in.
 */
#ifndef WSGW_AUTH_CACHE_H
#define WSGW_AUTH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_CACHE_SLOTS 1024

struct auth_cache;

struct auth_cache_key {
	uint8_t b[32];
};

/* The key of (where, method, credential). */
void auth_cache_key(struct auth_cache_key *k, const char *where, size_t wlen, const char *method,
                    const char *cred, size_t clen);

struct auth_cache *auth_cache_new(void);
void auth_cache_free(struct auth_cache *c);

/* The result kept for k, if it has not expired at now_ms: true with
 * *status and *ctx (a heap copy of the context, or NULL when none was
 * kept). False on a miss, or when the copy cannot be made. */
bool auth_cache_get(struct auth_cache *c, const struct auth_cache_key *k, uint64_t now_ms,
                    int *status, char **ctx);

/* Keeps status and ctx (copied; may be NULL) for k until expires_ms. An
 * entry that cannot be copied is simply not kept. */
void auth_cache_put(struct auth_cache *c, const struct auth_cache_key *k, uint64_t expires_ms,
                    int status, const char *ctx);

#endif
