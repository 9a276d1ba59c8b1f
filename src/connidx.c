/* connidx.c — the seq-ordered connection array (connidx.h). Appends are
 * amortised O(1), removal O(log n) plus an O(n) compaction at most once
 * per n/2 removals. Never frees what an entry points to.
 */
#include "connidx.h"

#include <assert.h>
#include <stdlib.h>

#include "err.h"

#define CONNIDX_MIN_CAP 256

_Static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "a hole holds a 63-bit seq in one word");

int connidx_append(struct connidx *x, uint64_t seq, void *p)
{
	assert(((uintptr_t)p & 1) == 0 && seq < (UINT64_C(1) << 63));
	if (x->len == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : CONNIDX_MIN_CAP;
		uintptr_t *v = realloc(x->v, cap * sizeof *v);

		if (!v)
			return ERR_NOMEM;
		x->v = v;
		x->cap = cap;
	}
	x->v[x->len++] = (uintptr_t)p;
	x->live++;
	return 0;
}

size_t connidx_lower_bound(const struct connidx *x, uint64_t seq)
{
	size_t lo = 0, hi = x->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (connidx_seq(x, mid) < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void compact(struct connidx *x)
{
	size_t o = 0;

	for (size_t i = 0; i < x->len; i++)
		if (!(x->v[i] & 1))
			x->v[o++] = x->v[i];
	x->len = o;
	/* Give memory back after a mass disconnect. */
	if (x->cap > CONNIDX_MIN_CAP && x->len < x->cap / 4) {
		size_t cap = x->cap / 2;
		uintptr_t *v = realloc(x->v, cap * sizeof *v);

		if (v) {
			x->v = v;
			x->cap = cap;
		}
	}
}

void connidx_remove(struct connidx *x, uint64_t seq)
{
	size_t i = connidx_lower_bound(x, seq);

	if (i == x->len || (x->v[i] & 1) || connidx_seq(x, i) != seq)
		return;
	/* A hole keeps the seq, so the array stays sorted for the search. */
	x->v[i] = (uintptr_t)(seq << 1) | 1;
	x->live--;
	if (i == x->len - 1) /* the newest left: shrink without a hole */
		x->len--;
	if (x->len > 64 && x->live < x->len / 2)
		compact(x);
}

void connidx_fini(struct connidx *x)
{
	connidx_seq_fn seq_of = x->seq_of;

	free(x->v);
	*x = (struct connidx){.seq_of = seq_of};
}
