/*
 * window: event-time windows and the counts that wait to be flushed.
 *
 * A line at time t counts into the tumbling window floor(t / size) * size
 * of every window size (the base window and each rollup). Counts wait in a
 * struct window_deltas, one per Kafka partition, keyed by (base window
 * start, dimension, value), so that the deltas of one partition can be
 * dropped when another aggregator took it over. At flush time
 * window_rows_build() merges the partitions' deltas, derives the rollup
 * rows from the base rows, and sorts everything in the counts table's
 * primary-key order (window_seconds, dimension, window_start, value), so
 * that concurrent flushes lock rows in one order and cannot deadlock.
 *
 * Each key carries measures besides its hits (struct window_measures): the
 * bytes sent, and for the lines with a time the number of them, the sum
 * and the maximum of their durations, and a latency histogram over
 * WINDOW_BUCKETS fixed log-spaced buckets (window_bucket_le_us). All sum
 * over partitions and rollups (the maximum by taking the larger).
 *
 * Cardinality is bounded by struct window_cap: past max_values distinct
 * values of one dimension in one window of one size, further values count
 * as WINDOW_OTHER; the cap may be used from two threads (the loop counts,
 * the writer builds rows). The deltas and rows serve one thread at a time.
 * Position in the pipeline: dimensions -> window -> store.
 */
#ifndef LOGTALLY_WINDOW_H
#define LOGTALLY_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WINDOW_OTHER "(other)"

/* floor(t_ms / size_s) * size_s, in seconds, right for negative times too. */
int64_t window_start(int64_t t_ms, int64_t size_s);

/* --- the latency buckets ------------------------------------------------ */

/*
 * Bucket b holds the durations d with le[b - 1] < d <= le[b] (le[-1] = 0,
 * so bucket 0 holds 0..100 us), like a Prometheus histogram's "le"; the
 * last bucket, WINDOW_BUCKETS - 1, holds everything above le[WINDOW_BUCKETS
 * - 2] = 100 s ("+Inf"). The bounds are the R10 preferred numbers (1, 1.25,
 * 1.6, 2, 2.5, 3.15, 4, 5, 6.3, 8 times a power of ten) from 100 us to
 * 100 s: ten a decade, a bucket's upper bound at most 1.28 times its lower.
 * They are part of the schema (the latency_buckets table): never change
 * them, only add a new table.
 */
#define WINDOW_BUCKETS 62
extern const uint64_t window_bucket_le_us[WINDOW_BUCKETS - 1];

/* The bucket of a duration in microseconds. */
unsigned int window_bucket(uint64_t duration_us);

/* What one line adds to its keys besides a hit. */
struct window_line {
	uint64_t bytes;         /* the response's size; 0 when unknown */
	int64_t duration_us;    /* -1: the line has no time */
};

/*
 * A histogram as the deltas keep it: n pairs, each a bucket in the top 8
 * bits and its count in the low 56, in no particular order, no bucket
 * twice, no count 0.
 */
#define WINDOW_HIST_BUCKET(pair) ((unsigned int)((pair) >> 56))
#define WINDOW_HIST_COUNT(pair) ((pair) & ((UINT64_C(1) << 56) - 1))

/* --- the deltas of one partition -------------------------------------- */

struct window_deltas;

/* An empty table. Free with window_deltas_free(). */
struct window_deltas *window_deltas_new(void);

void window_deltas_free(struct window_deltas *deltas);

/*
 * Add hits to (start_s, dim, value[0..len)), with no other measure. value
 * is copied. Amortised O(1); grows as needed (the caller bounds it by
 * flushing when window_deltas_bytes() gets large).
 */
void window_deltas_add(struct window_deltas *deltas, int64_t start_s,
		       uint32_t dim, const char *value, size_t len,
		       uint64_t hits);

/* Add one line (a hit and its measures) to (start_s, dim, value[0..len)). */
void window_deltas_add_line(struct window_deltas *deltas, int64_t start_s,
			    uint32_t dim, const char *value, size_t len,
			    const struct window_line *line);

/*
 * Add one line to the key when the table holds it already, and say whether
 * it did: one hash and one probe, so that a caller with a cap to consult
 * for new keys only (count.c) pays for it once per key, not once per hit.
 */
bool window_deltas_add_held(struct window_deltas *deltas, int64_t start_s,
			    uint32_t dim, const char *value, size_t len,
			    const struct window_line *line);

/* Number of distinct keys held. */
size_t window_deltas_count(const struct window_deltas *deltas);

/*
 * Bytes the keys held take (entries, their share of the slots, values),
 * whatever memory the table keeps for reuse: what a flush would free.
 */
size_t window_deltas_bytes(const struct window_deltas *deltas);

/* Sum of the hits held (for tests and metrics). */
uint64_t window_deltas_hits(const struct window_deltas *deltas);

/* Forget everything; keeps the memory for reuse. */
void window_deltas_clear(struct window_deltas *deltas);

/* --- the cardinality cap ---------------------------------------------- */

struct window_cap;

/* A cap of max_values values per (size, dimension, window). */
struct window_cap *window_cap_new(uint64_t max_values);

void window_cap_free(struct window_cap *cap);

/*
 * Whether value may count as itself in the window (size_s, start_s) of
 * dimension dim: true when it was admitted before or fewer than max_values
 * values were; it is then remembered. false: count it as WINDOW_OTHER.
 * WINDOW_OTHER itself is always admitted.
 */
bool window_cap_admit(struct window_cap *cap, int64_t size_s, int64_t start_s,
		      uint32_t dim, const char *value, size_t len);

/*
 * Forget the windows of size size_s that start before start_s (they are
 * closed: a late value there starts a fresh tally).
 */
void window_cap_expire(struct window_cap *cap, int64_t size_s, int64_t start_s);

/* --- rows for the store ----------------------------------------------- */

/*
 * One row of the counts table's upsert, with its latency histogram: the
 * rows of the latency table for the same key.
 */
struct window_row {
	uint32_t window_seconds;
	uint32_t dim;           /* index into the dimension names */
	int64_t start_s;        /* epoch seconds, UTC */
	const char *value;      /* borrowed from the struct window_rows */
	size_t len;
	uint64_t hits;
	uint64_t bytes;
	uint64_t duration_count;        /* hits with a time */
	uint64_t duration_us_sum;
	uint64_t duration_us_max;       /* 0 when duration_count is */
	const uint64_t *hist;   /* nhist pairs (WINDOW_HIST_*) in bucket
				 * order; borrowed */
	size_t nhist;
};

struct window_rows {
	struct window_row *rows;
	size_t n;
	size_t nhist;           /* the rows' histogram pairs, summed */
	/* private: storage for rows; values live in the per-size sums */
	size_t cap;
	struct window_deltas **sums;
	size_t nsums;
	struct window_deltas *spare;    /* a sum rebuilt with (other) */
};

void window_rows_init(struct window_rows *rows);

void window_rows_fini(struct window_rows *rows);

/*
 * Fill rows (emptied first) from the deltas of nparts partitions (NULL
 * entries are skipped): one row per distinct (size, dim, start, value),
 * measures summed over the partitions (maxima: the largest), for sizes[0] (the base window, which
 * the deltas are keyed by) and for each rollup size sizes[1..nsizes);
 * rollup starts are floor(start / size) * size. Each rollup row passes
 * window_cap_admit() for its size (cap may be NULL for no cap), most hits
 * first, and is summed into WINDOW_OTHER when refused. Rows come out sorted by window_seconds,
 * then dimension name (names[dim], compared as bytes), then start, then
 * value (bytes, a shorter prefix first): the counts table's key order.
 * The partitions' keys are summed in one hash table per size first, so
 * only distinct keys are sorted. Cost: O(n) for n keys in the parts plus
 * O(k log k) for k distinct rows; independent of the hits.
 */
void window_rows_build(struct window_rows *rows,
		       struct window_deltas *const *parts, size_t nparts,
		       const int64_t *sizes, size_t nsizes,
		       const char *const *names, struct window_cap *cap);

#endif
