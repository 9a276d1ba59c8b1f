/* connidx.h — connections in the order they opened, by a sequence number
 * that only grows: a sorted array of (seq, pointer) where a connection that
 * leaves becomes a hole until the next compaction. Listing pages and paced
 * sends walk it by seq, so a position survives connects and disconnects
 * (a new one gets a larger seq; a gone one is a hole or absent) and
 * compaction (positions are seqs, not indexes). Pure: no I/O.
 */
#ifndef WSGW_CONNIDX_H
#define WSGW_CONNIDX_H

#include <stddef.h>
#include <stdint.h>

struct connidx_ent {
	uint64_t seq;
	void *p; /* NULL: a hole (the entry left) */
};

struct connidx {
	struct connidx_ent *v;
	size_t len, cap;
	size_t live; /* entries that are not holes */
};

/* Appends p with seq, which must be above every seq appended before.
 * Returns 0 or ERR_NOMEM (nothing appended). */
int connidx_append(struct connidx *x, uint64_t seq, void *p);

/* Makes the entry of seq a hole (no-op if absent); compacts when holes
 * outnumber live entries, so memory and walks stay O(live). */
void connidx_remove(struct connidx *x, uint64_t seq);

/* The index of the first entry with a seq >= seq (x->len when none). */
size_t connidx_lower_bound(const struct connidx *x, uint64_t seq);

void connidx_fini(struct connidx *x);

#endif
