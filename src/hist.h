/* hist.h — a latency histogram with fixed buckets, for the metrics: an
 * observation is a bucket search and two increments, nothing allocated.
 * Pure: no clock (callers pass durations), no I/O.
 */
#ifndef WSGW_HIST_H
#define WSGW_HIST_H

#include <stdint.h>

/* Upper bounds of the buckets, 100 µs to 30 s: from an inline API call to
 * an integration call that runs into its read timeout (default 30 s). */
#define HIST_NUM_BOUNDS 17

/* The bounds in ns, ascending; and as Prometheus writes them in `le`. */
extern const uint64_t hist_bounds_ns[HIST_NUM_BOUNDS];
extern const char *const hist_bounds_text[HIST_NUM_BOUNDS];

struct hist {
	/* Observations per bucket, not cumulative; the last is (30 s, +Inf). */
	uint64_t bucket[HIST_NUM_BOUNDS + 1];
	uint64_t sum_ns;
};

/* Counts one observation of ns nanoseconds: in the first bucket whose
 * bound is >= ns (Prometheus' `le`: less than or equal). */
void hist_observe(struct hist *h, uint64_t ns);

/* Observations in all buckets. */
uint64_t hist_count(const struct hist *h);

#endif
