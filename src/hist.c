/* hist.c — fixed-bucket latency histograms (hist.h). Observing is on hot
 * paths (every management call, every backend call), so it is a short
 * binary search over a constant table and two increments.
 */
#include "hist.h"

#include <stddef.h>

#define US 1000ull
#define MS 1000000ull
#define S 1000000000ull

const uint64_t hist_bounds_ns[HIST_NUM_BOUNDS] = {
    100 * US, 250 * US, 500 * US, 1 * MS, 2500 * US, 5 * MS, 10 * MS, 25 * MS, 50 * MS,
    100 * MS, 250 * MS, 500 * MS, 1 * S,  2500 * MS, 5 * S,  10 * S,  30 * S,
};

const char *const hist_bounds_text[HIST_NUM_BOUNDS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",    "0.5",    "1",     "2.5",    "5",     "10",   "30",
};

void hist_observe(struct hist *h, uint64_t ns)
{
	size_t lo = 0, hi = HIST_NUM_BOUNDS; /* the answer is in [lo, hi] */

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ns <= hist_bounds_ns[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	h->bucket[lo]++;
	h->sum_ns += ns;
}

uint64_t hist_count(const struct hist *h)
{
	uint64_t n = 0;

	for (size_t i = 0; i <= HIST_NUM_BOUNDS; i++)
		n += h->bucket[i];
	return n;
}
