/* connidx.c — the seq-ordered connection array (connidx.h). Appends are
 * amortised O(1), removal O(log n) plus an O(n) compaction at most once
 * per n/2 removals. Never frees what p points to.
 */
#include "connidx.h"

#include <stdlib.h>

#include "err.h"

#define CONNIDX_MIN_CAP 256

int connidx_append(struct connidx *x, uint64_t seq, void *p)
{
	if (x->len == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : CONNIDX_MIN_CAP;
		struct connidx_ent *v = realloc(x->v, cap * sizeof *v);

		if (!v)
			return ERR_NOMEM;
		x->v = v;
		x->cap = cap;
	}
	x->v[x->len++] = (struct connidx_ent){seq, p};
	x->live++;
	return 0;
}

size_t connidx_lower_bound(const struct connidx *x, uint64_t seq)
{
	size_t lo = 0, hi = x->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->v[mid].seq < seq)
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
		if (x->v[i].p)
			x->v[o++] = x->v[i];
	x->len = o;
	/* Give memory back after a mass disconnect. */
	if (x->cap > CONNIDX_MIN_CAP && x->len < x->cap / 4) {
		size_t cap = x->cap / 2;
		struct connidx_ent *v = realloc(x->v, cap * sizeof *v);

		if (v) {
			x->v = v;
			x->cap = cap;
		}
	}
}

void connidx_remove(struct connidx *x, uint64_t seq)
{
	size_t i = connidx_lower_bound(x, seq);

	if (i == x->len || x->v[i].seq != seq || !x->v[i].p)
		return;
	x->v[i].p = NULL;
	x->live--;
	if (i == x->len - 1) /* the newest left: shrink without a hole */
		x->len--;
	if (x->len > 64 && x->live < x->len / 2)
		compact(x);
}

void connidx_fini(struct connidx *x)
{
	free(x->v);
	*x = (struct connidx){0};
}
