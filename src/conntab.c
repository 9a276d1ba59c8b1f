/* conntab.c — intrusive hash table of connections keyed by connection id.
 *
 * Owns: the bucket arrays and their incremental growth. Never allocates per
 * entry, never touches the nodes' containers (they belong to the caller),
 * never logs. Each bucket is one pointer to the first node; each node keeps
 * next and pprev (the address of whatever points at it: a bucket slot or the
 * previous node's next), so unlinking needs neither the bucket nor a walk.
 *
 * Growth: once count exceeds twice the bucket count, a second array of twice the
 * size is allocated and buckets of the old array are moved a few at a time by
 * every insert/find/remove (and by conntab_rehash_step). Old buckets below
 * rehash_pos are empty; inserts go to the new array; find looks in the old
 * bucket only while it has not been moved. The hash is SipHash-1-3 keyed from
 * the seed, so clients cannot pick ids that pile into one bucket.
 */
#include "conntab.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

enum {
	STEP_PER_OP = 4, /* old buckets moved by each insert/find/remove */
	MIN_BUCKETS = 8, /* smallest array, whatever the caller asks for */
	/* Nodes per bucket before the array doubles: 2 keeps the buckets at
	 * 4-8 B per node (10 000 connections: 8 192 buckets, 6.6 B each)
	 * for chains of 1-2 nodes on average. */
	LOAD_MAX = 2,
};

/* ---- SipHash-1-3 (Aumasson & Bernstein), 128-bit key from the seed -------- */

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#define SIPROUND(v0, v1, v2, v3)                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = rotl(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = rotl(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = rotl(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = rotl(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = rotl(v2, 32);                                                                 \
	} while (0)

/* splitmix64 finaliser: spreads the one 64-bit seed into the second key word. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t hash_key(uint64_t seed, const char *key, size_t len)
{
	const unsigned char *p = (const unsigned char *)key;
	uint64_t k0 = seed, k1 = mix64(seed);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	size_t words = len / 8;

	for (size_t i = 0; i < words; i++, p += 8) {
		uint64_t m = load_le64(p);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < len % 8; i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- lists ---------------------------------------------------------------- */

static void push_head(struct conntab_node **slot, struct conntab_node *n)
{
	n->next = *slot;
	if (n->next)
		n->next->pprev = &n->next;
	*slot = n;
	n->pprev = slot;
}

static inline bool is_growing(const struct conntab *t)
{
	return t->buckets[1] != NULL;
}

/* Moves one old bucket, whole, into the new array. */
static void move_bucket(struct conntab *t, size_t i)
{
	struct conntab_node *n = t->buckets[0][i];
	size_t mask = t->size[1] - 1;

	t->buckets[0][i] = NULL;
	while (n) {
		struct conntab_node *next = n->next;
		push_head(&t->buckets[1][conntab_hash(t, n) & mask], n);
		n = next;
	}
}

/* The new array becomes the only one. Nodes pointing into it stay valid. */
static void finish_growth(struct conntab *t)
{
	free(t->buckets[0]);
	t->buckets[0] = t->buckets[1];
	t->size[0] = t->size[1];
	t->buckets[1] = NULL;
	t->size[1] = 0;
	t->rehash_pos = 0;
}

void conntab_rehash_step(struct conntab *t, size_t n)
{
	if (!is_growing(t))
		return;
	while (n-- > 0 && t->rehash_pos < t->size[0])
		move_bucket(t, t->rehash_pos++);
	if (t->rehash_pos == t->size[0])
		finish_growth(t);
}

static int start_growth(struct conntab *t)
{
	size_t size = t->size[0] * 2;

	if (size < t->size[0] || size > SIZE_MAX / sizeof(*t->buckets[1]))
		return ERR_NOMEM;
	t->buckets[1] = calloc(size, sizeof(*t->buckets[1]));
	if (!t->buckets[1])
		return ERR_NOMEM;
	t->size[1] = size;
	t->rehash_pos = 0;
	return 0;
}

/* ---- public --------------------------------------------------------------- */

int conntab_init(struct conntab *t, size_t initial_buckets, uint64_t seed, conntab_key_fn key_of)
{
	size_t size = MIN_BUCKETS;

	assert(key_of);
	memset(t, 0, sizeof(*t));
	while (size < initial_buckets && size <= SIZE_MAX / 4 / sizeof(*t->buckets[0]))
		size *= 2;
	t->buckets[0] = calloc(size, sizeof(*t->buckets[0]));
	if (!t->buckets[0])
		return ERR_NOMEM;
	t->size[0] = size;
	t->seed = seed;
	t->key_of = key_of;
	return 0;
}

void conntab_fini(struct conntab *t)
{
	free(t->buckets[0]);
	free(t->buckets[1]);
	memset(t, 0, sizeof(*t));
}

uint64_t conntab_hash(const struct conntab *t, const struct conntab_node *node)
{
	struct conntab_key k = t->key_of(node);

	return hash_key(t->seed, k.p, k.len);
}

int conntab_insert(struct conntab *t, struct conntab_node *node)
{
	uint64_t h;

	conntab_rehash_step(t, STEP_PER_OP);
	h = conntab_hash(t, node);
	if (is_growing(t))
		push_head(&t->buckets[1][h & (t->size[1] - 1)], node);
	else
		push_head(&t->buckets[0][h & (t->size[0] - 1)], node);
	t->count++;
	/* A failed growth leaves the node linked; the table only gets denser. */
	if (!is_growing(t) && t->count > LOAD_MAX * t->size[0])
		return start_growth(t);
	return 0;
}

/* Keys are compared whole: nodes keep no hash (8 B less in every
 * connection); a chain averages at most LOAD_MAX nodes, and keys that
 * share a bucket mostly differ in their first bytes. */
static struct conntab_node *scan(const struct conntab *t, struct conntab_node *n, const char *key,
                                 size_t len)
{
	for (; n; n = n->next) {
		struct conntab_key k = t->key_of(n);
		if (k.len == len && memcmp(k.p, key, len) == 0)
			return n;
	}
	return NULL;
}

struct conntab_node *conntab_find(struct conntab *t, const char *key, size_t len)
{
	uint64_t h = hash_key(t->seed, key, len);
	struct conntab_node *n;

	conntab_rehash_step(t, STEP_PER_OP);
	if (is_growing(t)) {
		size_t i = h & (t->size[0] - 1);
		/* Old buckets below rehash_pos are already moved and empty. */
		if (i >= t->rehash_pos) {
			n = scan(t, t->buckets[0][i], key, len);
			if (n)
				return n;
		}
		return scan(t, t->buckets[1][h & (t->size[1] - 1)], key, len);
	}
	return scan(t, t->buckets[0][h & (t->size[0] - 1)], key, len);
}

void conntab_remove(struct conntab *t, struct conntab_node *node)
{
	assert(node->pprev && t->count > 0);
	*node->pprev = node->next;
	if (node->next)
		node->next->pprev = node->pprev;
	node->next = NULL;
	node->pprev = NULL;
	t->count--;
	conntab_rehash_step(t, STEP_PER_OP);
}
