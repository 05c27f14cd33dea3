/*
 * latency: percentiles of a latency histogram (the buckets of window.h,
 * as the latency table stores them), for the API and the alerts. Like
 * Prometheus's histogram_quantile(), the rank's bucket is found by
 * counting, and the value is interpolated linearly inside it; unlike it,
 * the estimate is also kept at or below the largest duration seen (the
 * counts table's duration_us_max), so that one slow request does not read
 * as 100 s. The true percentile lies in [lo_us, hi_us], the bounds of the
 * bucket (hi_us clamped to the maximum): that is the error bound the
 * answer states, at most 28% of lo_us above 100 us.
 */
#ifndef LOGTALLY_LATENCY_H
#define LOGTALLY_LATENCY_H

#include <stdbool.h>
#include <stdint.h>

#include "window.h"

struct latency_estimate {
	double value_us;        /* the interpolated estimate */
	uint64_t lo_us, hi_us;  /* where the true value lies */
	unsigned int bucket;
};

/* A histogram summed over windows: counts[b] hits in bucket b. */
struct latency_hist {
	uint64_t counts[WINDOW_BUCKETS];
	uint64_t total;         /* sum of counts */
	uint64_t max_us;        /* the largest duration; 0 when unknown */
};

/* Add n hits to bucket b (ignored when b is out of range). */
void latency_hist_add(struct latency_hist *h, unsigned int b, uint64_t n);

/*
 * The q-quantile (0 < q <= 1; 0.95 for p95) of h into *out. Returns false
 * when h holds no hits. Rank: the smallest r with r >= q * total, counted
 * from 1, as nearest-rank percentiles are.
 */
bool latency_percentile(const struct latency_hist *h, double q,
			struct latency_estimate *out);

/* The lower bound of bucket b (0 for bucket 0), in microseconds. */
uint64_t latency_bucket_lo_us(unsigned int b);

/* The upper bound of bucket b; UINT64_MAX for the last ("+Inf"). */
uint64_t latency_bucket_hi_us(unsigned int b);

/*
 * Parse a duration threshold for a config or a query: "500ms", "1.5s",
 * "250us", "2s" (a unit is required). Returns the microseconds, or -1.
 */
int64_t latency_parse_us(const char *s);

#endif
