/* connidx.h — connections in the order they opened, by a sequence number
 * that only grows: a sorted array of entries where a connection that
 * leaves becomes a hole until the next compaction. Listing pages and paced
 * sends walk it by seq, so a position survives connects and disconnects
 * (a new one gets a larger seq; a gone one is a hole or absent) and
 * compaction (positions are seqs, not indexes). Pure: no I/O.
 *
 * An entry is one word (8 B per connection, not 16): the element's
 * pointer, whose seq seq_of reads from the element itself, or for a hole
 * the seq shifted left with the low bit set (elements are aligned, so a
 * pointer's low bit is clear).
 */
#ifndef WSGW_CONNIDX_H
#define WSGW_CONNIDX_H

#include <stddef.h>
#include <stdint.h>

typedef uint64_t (*connidx_seq_fn)(const void *p);

struct connidx {
	uintptr_t *v;
	size_t len, cap;
	size_t live; /* entries that are not holes */
	connidx_seq_fn seq_of; /* the seq of a live element (set before use) */
};

/* Appends p (at least 2-byte aligned) with seq, which must equal
 * seq_of(p) and be above every seq appended before, and below 2^63.
 * Returns 0 or ERR_NOMEM (nothing appended). */
int connidx_append(struct connidx *x, uint64_t seq, void *p);

/* Makes the entry of seq a hole (no-op if absent); compacts when holes
 * outnumber live entries, so memory and walks stay O(live). */
void connidx_remove(struct connidx *x, uint64_t seq);

/* The index of the first entry with a seq >= seq (x->len when none). */
size_t connidx_lower_bound(const struct connidx *x, uint64_t seq);

/* Entry i (< x->len): its element, NULL for a hole. */
static inline void *connidx_at(const struct connidx *x, size_t i)
{
	return x->v[i] & 1 ? NULL : (void *)x->v[i];
}

/* Entry i's seq, a hole's too. */
static inline uint64_t connidx_seq(const struct connidx *x, size_t i)
{
	return x->v[i] & 1 ? (uint64_t)(x->v[i] >> 1) : x->seq_of((const void *)x->v[i]);
}

void connidx_fini(struct connidx *x);

#endif
