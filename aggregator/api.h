/*
 * api: the counts as JSON, read from MariaDB on the HTTP thread, so that
 * any member of the group answers alike (issue 5):
 *
 *   GET /api/top?dimension=D&from=T&to=T&limit=N&by=M
 *   GET /api/series?dimension=D&from=T&to=T&step=S&limit=N&measure=M&value=V
 *   GET /api/latency?dimension=D&value=V&from=T&to=T
 *   GET /api/trending?dimension=hashtag&window=5m&limit=N
 *   GET /api/dimensions             (the names, window sizes and measures)
 *
 * T is epoch seconds or an RFC 3339 time ("2026-11-25T04:00:00Z"); from
 * and to default to the last 15 minutes. Each answer reads one window size:
 * the coarsest one that covers [from, to) exactly once from and to are
 * aligned to the base window (rollups for long ranges), or, when that
 * would read more than API_MAX_WINDOWS windows, the finest one that reads
 * fewer, with from and to widened to it; the answer says which range and
 * size it read. Dimension names reach SQL only after a whitelist check
 * (and then as parameters); values only through prepared statements.
 * Bad parameters get 400 and {"error": ..., "parameter": NAME}; MariaDB
 * away, 503.
 *
 * M, a measure (issue 13): hits, bytes, duration_avg, duration_max, p50,
 * p95 or p99. Percentiles come from the latency histogram (latency.h):
 * each is given with the bounds of its bucket, where the true value lies,
 * and answers that carry them say so in "error" (API_ERROR_BOUND).
 * Ranking by a percentile considers only the API_PCT_CANDIDATES values
 * with the most timed hits in the range (see api_internal.h).
 *
 * Trending: n = hits of the value in the last `window` (ending with the
 * newest base window), e = its hits in the hour before that, scaled to
 * the window (hits * window / 3600), score = (n - e) / sqrt(e + 1): how
 * many standard deviations n lies above what the hour predicts, under a
 * Poisson model with one pseudo-count, so a value with a tiny baseline
 * needs many hits to outrank a large value that grew. Values with a score
 * above 0, highest first. config/grafana/logtally.json uses the same.
 */
#ifndef LOGTALLY_API_H
#define LOGTALLY_API_H

#include <stddef.h>
#include <stdint.h>

#include "aggregator_config.h"
#include "httpd.h"

/* Most windows of one size an answer reads per value. */
#define API_MAX_WINDOWS 20000
/* The default range, and the longest. */
#define API_DEFAULT_RANGE_S (15 * 60)
#define API_MAX_RANGE_S (int64_t)(400 * 86400)
/* Most points of a series. */
#define API_MAX_POINTS 1000
/* The baseline of /api/trending. */
#define API_BASELINE_S 3600

/* What /api/top orders by and /api/series plots; API_BY_HITS is 0. */
enum api_measure {
	API_BY_HITS,
	API_BY_BYTES,
	API_BY_DURATION_AVG,
	API_BY_DURATION_MAX,
	API_BY_P50,
	API_BY_P95,
	API_BY_P99,
	API_BY_COUNT
};

/* The error bound of a percentile, as answers state it. */
#define API_ERROR_BOUND "each percentile lies in [lo_us, hi_us], the bounds of " \
	"its histogram bucket (hi_us at most the largest duration seen); " \
	"above 100 us a bucket's upper bound is at most 1.28 times its lower, " \
	"so value_us is within 28% of the true percentile, and below 100 us " \
	"within 100 us"

struct api;

/*
 * The API over cfg's database, for the dimensions names[0..ndims) and the
 * window sizes sizes[0..nsizes) in seconds (base first, then rollups; all
 * borrowed, they must outlive the api). It connects on the first request.
 */
struct api *api_new(const struct aggregator_config *cfg,
		    const char *const *names, size_t ndims,
		    const int64_t *sizes, size_t nsizes);

void api_free(struct api *api);

/* Serves /api/... on httpd (unknown endpoints: 404 in JSON). */
void api_route(struct api *api, struct httpd *httpd);

/* --- the parts that need no database (for tests) ------------------------ */

/* Epoch seconds of s (digits, or RFC 3339); -1 when it is neither. */
int64_t api_parse_time(const char *s);

/*
 * The window size to read [*from, *to) with, *from and *to aligned to it
 * (see the top): sizes are seconds, base first, each rollup a multiple of
 * it; step, when not 0, must be a multiple of the size chosen (a series'
 * step). Returns the size, or 0 when no size divides step.
 */
int64_t api_choose_size(const int64_t *sizes, size_t nsizes, int64_t step,
			int64_t *from, int64_t *to);

/* The measure named s (NULL: hits); -1 when s names none. */
int api_parse_measure(const char *s);

/* The name of m ("p95"); static storage. */
const char *api_measure_name(enum api_measure m);

/* The quantile of m (0.95 for p95), 0 when m is not a percentile. */
double api_measure_quantile(enum api_measure m);

/* The trending score of n hits now against b hits in the baseline hour. */
double api_trending_score(uint64_t n, uint64_t b, int64_t window_s);

#endif
