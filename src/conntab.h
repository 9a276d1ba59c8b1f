/* conntab.h — intrusive hash table of connections keyed by connection id.
 *
 * Each bucket is one pointer; each node is next + pprev + hash, embedded in
 * the connection struct, so insert/find/unlink are O(1) and the table never
 * allocates per entry. Growth is incremental (two arrays while moving, a
 * few buckets moved per operation), so no single call pauses the loop for
 * long. Keys are read through the key_of callback given at init.
 */
#ifndef WSGW_CONNTAB_H
#define WSGW_CONNTAB_H

#include <stddef.h>
#include <stdint.h>

/* No hash is kept in the node (it is recomputed from the key when the
 * array grows): 16 B, the size of the loop's deferred-free node that a
 * connection's node shares storage with. */
struct conntab_node {
	struct conntab_node *next;
	struct conntab_node **pprev;
};

struct conntab_key {
	const char *p;
	size_t len;
};

typedef struct conntab_key (*conntab_key_fn)(const struct conntab_node *node);

struct conntab {
	struct conntab_node **buckets[2]; /* [0] current; [1] new during growth */
	size_t size[2];                   /* bucket counts (powers of two) */
	size_t rehash_pos;                /* next bucket of [0] to move; growing iff buckets[1] */
	size_t count;
	uint64_t seed;
	conntab_key_fn key_of;
};

/* Initialises an empty table. seed randomises the hash. Returns 0 or ERR_NOMEM. */
int conntab_init(struct conntab *t, size_t initial_buckets, uint64_t seed, conntab_key_fn key_of);
void conntab_fini(struct conntab *t);

/* Links node (whose key must already be readable through key_of). The caller
 * guarantees the key is not present. Returns 0, or ERR_NOMEM when growth is
 * needed and fails (the node is still inserted; the table just stays denser). */
int conntab_insert(struct conntab *t, struct conntab_node *node);

/* Returns the node with this key, or NULL. */
struct conntab_node *conntab_find(struct conntab *t, const char *key, size_t len);

/* The node's hash under t's seed (from its key). */
uint64_t conntab_hash(const struct conntab *t, const struct conntab_node *node);

/* Unlinks a node that is in the table. O(1). */
void conntab_remove(struct conntab *t, struct conntab_node *node);

/* Moves up to n buckets of a pending growth; the loop calls it when idle. */
void conntab_rehash_step(struct conntab *t, size_t n);

static inline size_t conntab_count(const struct conntab *t)
{
	return t->count;
}

#endif
