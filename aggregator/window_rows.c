/*
 * window_rows: the rows a flush writes, built from the partitions' delta
 * tables: their keys summed into one table per window size (the base
 * window, then each rollup from the base), the cap applied to the
 * rollups, each histogram made pairs in bucket order, and everything
 * sorted in the counts table's key order. The sums keep their memory from
 * one flush to the next.
 */
#include "window.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "window_internal.h"
#include "xalloc.h"

void window_rows_init(struct window_rows *rows)
{
	memset(rows, 0, sizeof(*rows));
}

void window_rows_fini(struct window_rows *rows)
{
	free(rows->rows);
	for (size_t s = 0; s < rows->nsums; s++)
		window_deltas_free(rows->sums[s]);
	free(rows->sums);
	window_deltas_free(rows->spare);
	window_rows_init(rows);
}

/* Makes rows->sums hold nsizes empty tables, keeping their memory. */
static void window_rows_sums(struct window_rows *rows, size_t nsizes)
{
	if (nsizes > rows->nsums) {
		rows->sums = xreallocarray(rows->sums, nsizes, sizeof(*rows->sums));
		for (size_t s = rows->nsums; s < nsizes; s++)
			rows->sums[s] = window_deltas_new();
		rows->nsums = nsizes;
	}
	for (size_t s = 0; s < nsizes; s++)
		window_deltas_clear(rows->sums[s]);
}

/* Adds all of e (an entry of from) to the key (start_s, e's dim, value). */
static void window_sum_add(struct window_deltas *sum, int64_t start_s,
			   const char *value, size_t len,
			   const struct window_deltas *from,
			   const struct window_entry *e)
{
	uint64_t hash = start_s == e->start_s && value == from->arena + e->off ?
			e->hash : window_hash(start_s, e->dim, value, len);

	window_entry_merge(sum, window_deltas_entry(sum, hash, start_s, e->dim,
						    value, len), from, e);
}

/* Sorts a histogram run by bucket: a few pairs, hence insertion. */
static void window_hist_sort(uint64_t *run, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t pair = run[i];
		size_t j = i;

		for (; j > 0 && run[j - 1] > pair; j--)
			run[j] = run[j - 1];
		run[j] = pair;
	}
}

/*
 * Makes e's histogram pairs in bucket order, in place: a dense run's
 * counts become pairs (the k-th pair is written over a count at or after
 * k, already read), a sparse run is sorted.
 */
static uint64_t *window_hist_pairs(struct window_deltas *deltas,
				   struct window_entry *e)
{
	uint64_t *run = e->hist_cap ? window_run(deltas, e->hist_off) : NULL;
	unsigned int k = 0;

	if (e->hist_cap != WINDOW_HIST_DENSE) {
		window_hist_sort(run, e->hist_n);
		return run;
	}
	for (unsigned int b = 0; b < WINDOW_BUCKETS; b++)
		if (run[b]) {
			assert(run[b] < (UINT64_C(1) << 56));
			run[k++] = (uint64_t)b << 56 | run[b];
		}
	assert(k == e->hist_n);
	e->hist_cap = (uint8_t)WINDOW_BUCKETS;
	return run;
}

/*
 * Appends one row per key of sum, in the windows of size_s, its histogram
 * in bucket order (the latency table's key order).
 */
static void window_rows_add_sum(struct window_rows *rows,
				struct window_deltas *sum, uint32_t size_s)
{
	for (size_t i = 0; i < sum->count; i++) {
		struct window_entry *e = &sum->entries[i];
		const uint64_t *run = window_hist_pairs(sum, e);

		rows->rows[rows->n++] = (struct window_row){
			.window_seconds = size_s, .dim = e->dim,
			.start_s = e->start_s, .value = sum->arena + e->off,
			.len = e->len, .hits = e->hits, .bytes = e->bytes,
			.duration_count = e->duration_count,
			.duration_us_sum = e->duration_us_sum,
			.duration_us_max = e->duration_us_max,
			.hist = run, .nhist = e->hist_n};
		rows->nhist += e->hist_n;
	}
}

/* Byte order of values, a shorter prefix first. */
static int window_value_cmp(const char *a, size_t alen, const char *b,
			    size_t blen)
{
	int rc = memcmp(a, b, alen < blen ? alen : blen);

	if (rc)
		return rc;
	return alen < blen ? -1 : alen > blen;
}

/* While rows are sorted, their dim holds the rank of the dimension's name. */
static int window_rows_cmp(const void *pa, const void *pb)
{
	const struct window_row *a = pa, *b = pb;

	if (a->window_seconds != b->window_seconds)
		return a->window_seconds < b->window_seconds ? -1 : 1;
	if (a->dim != b->dim)
		return a->dim < b->dim ? -1 : 1;
	if (a->start_s != b->start_s)
		return a->start_s < b->start_s ? -1 : 1;
	return window_value_cmp(a->value, a->len, b->value, b->len);
}

/*
 * order[r] = the dimension whose name ranks r-th in byte order (strcmp
 * compares as unsigned char), ties by index; rank is its inverse. There
 * are a handful of dimensions, hence the insertion sort.
 */
static void window_rows_rank(const char *const *names, uint32_t ndims,
			     uint32_t *order, uint32_t *rank)
{
	for (uint32_t d = 0; d < ndims; d++) {
		uint32_t j = d;

		for (; j > 0 && strcmp(names[order[j - 1]], names[d]) > 0; j--)
			order[j] = order[j - 1];
		order[j] = d;
	}
	for (uint32_t r = 0; r < ndims; r++)
		rank[order[r]] = r;
}

/* Sorts the rows (distinct keys) in key order. */
static void window_rows_sort(struct window_rows *rows, const uint32_t *order,
			     const uint32_t *rank)
{
	for (size_t i = 0; i < rows->n; i++)
		rows->rows[i].dim = rank[rows->rows[i].dim];
	if (rows->n > 1)         /* rows->rows may still be NULL */
		qsort(rows->rows, rows->n, sizeof(*rows->rows), window_rows_cmp);
	for (size_t i = 0; i < rows->n; i++)
		rows->rows[i].dim = order[rows->rows[i].dim];
}

/* A key of a rollup sum as the cap sees it. */
struct window_cand {
	uint64_t hits;
	int64_t start_s;
	uint32_t rank;          /* of the dimension's name */
	uint32_t idx;           /* in the sum's entries */
	const char *value;
	size_t len;
};

/* Most hits first, then key order, for the cap. */
static int window_cand_cmp(const void *pa, const void *pb)
{
	const struct window_cand *a = pa, *b = pb;

	if (a->hits != b->hits)
		return a->hits > b->hits ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	if (a->start_s != b->start_s)
		return a->start_s < b->start_s ? -1 : 1;
	return window_value_cmp(a->value, a->len, b->value, b->len);
}

/*
 * Passes the keys of rollup sum s (of size_s) through the cap, most hits
 * first so that the values that matter most in this flush keep their own
 * rows. When some are refused, the sum is rebuilt in rows->spare with
 * those summed into WINDOW_OTHER, and the two swap.
 */
static void window_rows_cap(struct window_rows *rows, size_t s, int64_t size_s,
			    const uint32_t *rank, struct window_cap *cap)
{
	struct window_deltas *sum = rows->sums[s], *spare;
	struct window_cand *cands = xcalloc(sum->count ? sum->count : 1,
					    sizeof(*cands));
	bool *refused = xcalloc(sum->count ? sum->count : 1, sizeof(*refused));
	bool any = false;

	for (size_t i = 0; i < sum->count; i++) {
		const struct window_entry *e = &sum->entries[i];

		cands[i] = (struct window_cand){e->hits, e->start_s, rank[e->dim],
						(uint32_t)i, sum->arena + e->off,
						e->len};
	}
	qsort(cands, sum->count, sizeof(*cands), window_cand_cmp);
	for (size_t i = 0; i < sum->count; i++) {
		const struct window_entry *e = &sum->entries[cands[i].idx];

		if (!window_cap_admit(cap, size_s, e->start_s, e->dim,
				      cands[i].value, cands[i].len))
			any = refused[cands[i].idx] = true;
	}
	if (any) {
		if (!rows->spare)
			rows->spare = window_deltas_new();
		spare = rows->spare;
		window_deltas_clear(spare);
		for (size_t i = 0; i < sum->count; i++) {
			const struct window_entry *e = &sum->entries[i];

			if (refused[i])
				window_sum_add(spare, e->start_s, WINDOW_OTHER,
					       WINDOW_OTHER_LEN, sum, e);
			else
				window_sum_add(spare, e->start_s, sum->arena + e->off,
					       e->len, sum, e);
		}
		rows->spare = sum;
		rows->sums[s] = spare;
	}
	free(refused);
	free(cands);
}

void window_rows_build(struct window_rows *rows,
		       struct window_deltas *const *parts, size_t nparts,
		       const int64_t *sizes, size_t nsizes,
		       const char *const *names, struct window_cap *cap)
{
	struct window_deltas *base;
	uint32_t ndims = 0, *order, *rank;
	size_t nrows = 0;

	assert(nsizes >= 1);
	for (size_t s = 0; s < nsizes; s++)
		assert(sizes[s] > 0 && sizes[s] <= UINT32_MAX);
	window_rows_sums(rows, nsizes);
	base = rows->sums[0];
	for (size_t p = 0; p < nparts; p++) {
		const struct window_deltas *part = parts[p];

		for (size_t i = 0; part && i < part->count; i++) {
			const struct window_entry *e = &part->entries[i];

			window_sum_add(base, e->start_s, part->arena + e->off,
				       e->len, part, e);
			if (e->dim >= ndims)
				ndims = e->dim + 1;
		}
	}
	order = xcalloc(ndims ? ndims : 1, 2 * sizeof(*order));
	rank = order + ndims;
	window_rows_rank(names, ndims, order, rank);
	for (size_t s = 1; s < nsizes; s++) {
		for (size_t i = 0; i < base->count; i++) {
			const struct window_entry *e = &base->entries[i];

			window_sum_add(rows->sums[s],
				       window_floor_div(e->start_s, sizes[s]) * sizes[s],
				       base->arena + e->off, e->len, base, e);
		}
		if (cap)
			window_rows_cap(rows, s, sizes[s], rank, cap);
	}
	for (size_t s = 0; s < nsizes; s++)
		nrows += rows->sums[s]->count;
	if (nrows > rows->cap) {
		rows->cap = nrows;
		rows->rows = xreallocarray(rows->rows, nrows, sizeof(*rows->rows));
	}
	rows->n = rows->nhist = 0;
	for (size_t s = 0; s < nsizes; s++)
		window_rows_add_sum(rows, rows->sums[s], (uint32_t)sizes[s]);
	window_rows_sort(rows, order, rank);
	free(order);
}
