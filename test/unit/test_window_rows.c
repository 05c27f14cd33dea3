/*
 * Unit tests of window_rows_build: rows merged from partitions' deltas
 * into the base window and its rollups, their order (unsigned bytes), the
 * cap turning refused rollup values into (other), a cost that does not
 * grow with the hits, and random deltas against a brute-force oracle. The
 * delta table and the cap themselves are tested in test_window.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/window.h"
#include "test/unit/window_test_util.h"

struct trow {
	uint32_t size;
	uint32_t dim;
	int64_t start;
	const char *value;
	size_t len;
	uint64_t hits;
};

#define TROW(size, dim, start, value, hits) \
	{size, dim, start, value, sizeof(value) - 1, hits}

static void rows_expect(const struct window_rows *rows, const struct trow *want,
			size_t n)
{
	for (size_t i = 0; i < rows->n && i < n; i++) {
		const struct window_row *row = &rows->rows[i];

		if (row->window_seconds != want[i].size || row->dim != want[i].dim ||
		    row->start_s != want[i].start || row->len != want[i].len ||
		    memcmp(row->value, want[i].value, row->len) ||
		    row->hits != want[i].hits)
			fail_msg("row %zu: got %u %u %lld '%.*s' %llu, want %u %u "
				 "%lld '%s' %llu", i, row->window_seconds, row->dim,
				 (long long)row->start_s, (int)row->len, row->value,
				 (unsigned long long)row->hits, want[i].size,
				 want[i].dim, (long long)want[i].start, want[i].value,
				 (unsigned long long)want[i].hits);
	}
	assert_int_equal(rows->n, n);
}

static void add(struct window_deltas *deltas, int64_t start, uint32_t dim,
		const char *value, uint64_t hits)
{
	window_deltas_add(deltas, start, dim, value, strlen(value), hits);
}


static void test_rows_merge_parts(void **state)
{
	static const int64_t sizes[] = {5};
	static const struct trow want[] = {
		TROW(5, 2, 0, "x", 1),
		TROW(5, 1, 0, "200", 5),
		TROW(5, 0, 0, "/a", 2),
		TROW(5, 0, 5, "/a", 4),
	};
	struct window_deltas *parts[4] = {window_deltas_new(), NULL,
					  window_deltas_new(), NULL};
	struct window_rows rows;

	add(parts[0], 0, 1, "200", 2);
	add(parts[0], 0, 0, "/a", 2);
	add(parts[2], 0, 1, "200", 3);
	add(parts[2], 5, 0, "/a", 4);
	add(parts[2], 0, 2, "x", 1);
	window_rows_init(&rows);
	window_rows_build(&rows, parts, 4, sizes, 1, names3, NULL);
	rows_expect(&rows, want, 4);
	/* The deltas are left as they were; a second build starts afresh. */
	assert_int_equal(window_deltas_count(parts[0]), 2);
	window_rows_build(&rows, parts, 4, sizes, 1, names3, NULL);
	rows_expect(&rows, want, 4);
	/* Rows borrow from rows, not from the deltas. */
	window_deltas_clear(parts[0]);
	add(parts[0], 0, 0, "/zzz", 1);
	rows_expect(&rows, want, 4);
	window_rows_build(&rows, parts + 1, 1, sizes, 1, names3, NULL);
	rows_expect(&rows, want, 0);
	window_rows_fini(&rows);
	window_deltas_free(parts[0]);
	window_deltas_free(parts[2]);
}

static void test_rows_rollups(void **state)
{
	static const int64_t sizes[] = {5, 60, 3600};
	static const struct trow want[] = {
		TROW(5, 0, -5, "/a", 1), TROW(5, 0, 0, "/a", 2),
		TROW(5, 0, 5, "/a", 4), TROW(5, 0, 5, "/b", 16),
		TROW(5, 0, 55, "/a", 8), TROW(5, 0, 60, "/a", 32),
		TROW(5, 0, 3600, "/a", 64),
		TROW(60, 0, -60, "/a", 1), TROW(60, 0, 0, "/a", 14),
		TROW(60, 0, 0, "/b", 16), TROW(60, 0, 60, "/a", 32),
		TROW(60, 0, 3600, "/a", 64),
		TROW(3600, 0, -3600, "/a", 1), TROW(3600, 0, 0, "/a", 46),
		TROW(3600, 0, 0, "/b", 16), TROW(3600, 0, 3600, "/a", 64),
	};
	struct window_deltas *parts[2] = {window_deltas_new(), window_deltas_new()};
	struct window_rows rows;

	add(parts[0], -5, 0, "/a", 1);
	add(parts[1], 0, 0, "/a", 2);
	add(parts[0], 5, 0, "/a", 4);
	add(parts[1], 55, 0, "/a", 8);
	add(parts[1], 5, 0, "/b", 16);
	add(parts[0], 60, 0, "/a", 32);
	add(parts[1], 3600, 0, "/a", 64);
	window_rows_init(&rows);
	window_rows_build(&rows, parts, 2, sizes, 3, names3, NULL);
	rows_expect(&rows, want, sizeof(want) / sizeof(want[0]));
	window_rows_fini(&rows);
	window_deltas_free(parts[0]);
	window_deltas_free(parts[1]);
}

/* Names and values compare as unsigned bytes, a shorter prefix first. */
static void test_rows_order(void **state)
{
	static const char *const names[] = {"url", "Zeta", "\xc3\xa9t\xc3\xa9", "a"};
	static const int64_t sizes[] = {5};
	static const struct trow want[] = {
		TROW(5, 1, 0, "x", 1),
		TROW(5, 3, 0, "x", 1),
		TROW(5, 0, -5, "z", 1),
		TROW(5, 0, 0, "", 1),
		TROW(5, 0, 0, "(other)", 1),
		TROW(5, 0, 0, "A", 1),
		TROW(5, 0, 0, "a", 1),
		TROW(5, 0, 0, "a\0", 1),
		TROW(5, 0, 0, "a\0b", 1),
		TROW(5, 0, 0, "ab", 1),
		TROW(5, 0, 0, "b", 1),
		TROW(5, 0, 0, "\x7f", 1),
		TROW(5, 0, 0, "\xc3\xa9", 1),
		TROW(5, 0, 0, "\xc3\xa9t", 1),
		TROW(5, 0, 0, "\xf0\x9f\x98\x80", 1),
		TROW(5, 0, 5, "a", 1),
		TROW(5, 2, 0, "x", 1),
	};
	struct window_deltas *deltas = window_deltas_new();
	struct window_rows rows;

	/* Added backwards, so that insertion order cannot pass for sorting. */
	for (size_t i = sizeof(want) / sizeof(want[0]); i-- > 0;)
		window_deltas_add(deltas, want[i].start, want[i].dim, want[i].value,
				  want[i].len, 1);
	window_rows_init(&rows);
	window_rows_build(&rows, &deltas, 1, sizes, 1, names, NULL);
	rows_expect(&rows, want, sizeof(want) / sizeof(want[0]));
	window_rows_fini(&rows);
	window_deltas_free(deltas);
}

/*
 * The cap turns refused rollup values into (other), which merges with the
 * (other) the base rows already hold; the most hits in a flush are
 * admitted first; the base rows are left alone.
 */
static void test_rows_cap(void **state)
{
	static const int64_t sizes[] = {5, 60};
	static const struct trow want1[] = {
		TROW(5, 1, 0, "z", 1),
		TROW(5, 0, 0, "(other)", 7), TROW(5, 0, 0, "a", 1),
		TROW(5, 0, 0, "b", 10), TROW(5, 0, 5, "a", 1),
		TROW(5, 0, 5, "c", 5),
		TROW(60, 1, 0, "z", 1),
		TROW(60, 0, 0, "(other)", 9), TROW(60, 0, 0, "b", 10),
		TROW(60, 0, 0, "c", 5),
	};
	static const struct trow want2[] = {
		TROW(5, 0, 10, "a", 100), TROW(5, 0, 10, "c", 1),
		TROW(5, 0, 60, "a", 1),
		TROW(60, 0, 0, "(other)", 100), TROW(60, 0, 0, "c", 1),
		TROW(60, 0, 60, "a", 1),
	};
	struct window_cap *cap = window_cap_new(2);
	struct window_deltas *deltas = window_deltas_new();
	struct window_rows rows;

	/* The caller's cap on the base window is full; base rows pass anyway. */
	assert_true(admit(cap, 5, 0, 0, "x"));
	assert_true(admit(cap, 5, 0, 0, "y"));
	add(deltas, 0, 0, "a", 1);
	add(deltas, 5, 0, "a", 1);
	add(deltas, 0, 0, "b", 10);
	add(deltas, 5, 0, "c", 5);
	add(deltas, 0, 0, WINDOW_OTHER, 7);
	add(deltas, 0, 1, "z", 1);
	window_rows_init(&rows);
	window_rows_build(&rows, &deltas, 1, sizes, 2, names3, cap);
	rows_expect(&rows, want1, sizeof(want1) / sizeof(want1[0]));

	/* The next flush: b and c stay admitted, a stays out, however many hits. */
	window_deltas_clear(deltas);
	add(deltas, 10, 0, "a", 100);
	add(deltas, 10, 0, "c", 1);
	add(deltas, 60, 0, "a", 1);
	window_rows_build(&rows, &deltas, 1, sizes, 2, names3, cap);
	rows_expect(&rows, want2, sizeof(want2) / sizeof(want2[0]));

	/* Without a cap nothing turns into (other). */
	window_rows_build(&rows, &deltas, 1, sizes, 2, names3, NULL);
	assert_int_equal(rows.n, 6);
	assert_int_equal(rows.rows[3].len, 1);
	assert_memory_equal(rows.rows[3].value, "a", 1);
	window_rows_fini(&rows);
	window_deltas_free(deltas);
	window_cap_free(cap);
}

/* A value admitted before this flush keeps its row even with few hits. */
static void test_rows_cap_admitted_before(void **state)
{
	static const int64_t sizes[] = {5, 60};
	static const struct trow want[] = {
		TROW(5, 0, 0, "a", 1), TROW(5, 0, 0, "b", 10),
		TROW(5, 0, 0, "c", 5),
		TROW(60, 0, 0, "(other)", 5), TROW(60, 0, 0, "a", 1),
		TROW(60, 0, 0, "b", 10),
	};
	struct window_cap *cap = window_cap_new(2);
	struct window_deltas *deltas = window_deltas_new();
	struct window_rows rows;

	assert_true(admit(cap, 60, 0, 0, "a"));
	add(deltas, 0, 0, "a", 1);
	add(deltas, 0, 0, "b", 10);
	add(deltas, 0, 0, "c", 5);
	window_rows_init(&rows);
	window_rows_build(&rows, &deltas, 1, sizes, 2, names3, cap);
	rows_expect(&rows, want, sizeof(want) / sizeof(want[0]));
	window_rows_fini(&rows);
	window_deltas_free(deltas);
	window_cap_free(cap);
}

/* Hits of 2^40 per key: a cost that grew with the hits would never end. */
static void test_rows_hits_independent(void **state)
{
	enum { N = 20000 };
	static const int64_t sizes[] = {5, 60, 3600};
	struct window_deltas *parts[2] = {window_deltas_new(), window_deltas_new()};
	uint64_t big = (uint64_t)1 << 40, sum[3] = {0};
	struct window_rows rows;
	char val[32];

	for (int i = 0; i < N; i++) {
		int len = snprintf(val, sizeof(val), "/p/%d", i / 4);

		/* 5000 values in 4 windows of one minute and one hour */
		window_deltas_add(parts[i % 2], 1795552780 + 5 * (i % 4), 0, val,
				  (size_t)len, big);
	}
	window_rows_init(&rows);
	window_rows_build(&rows, parts, 2, sizes, 3, names3, NULL);
	assert_int_equal(rows.n, N + N / 4 + N / 4);
	for (size_t i = 0; i < rows.n; i++)
		sum[rows.rows[i].window_seconds == 5 ? 0 :
		    rows.rows[i].window_seconds == 60 ? 1 : 2] += rows.rows[i].hits;
	for (int s = 0; s < 3; s++)
		assert_true(sum[s] == N * big);
	assert_true(rows.rows[N].hits == 4 * big);
	window_rows_fini(&rows);
	window_deltas_free(parts[0]);
	window_deltas_free(parts[1]);
}

/* The oracle's order, written out from the table's definition. */
static int trow_cmp(const struct trow *a, const struct trow *b,
		    const char *const *names)
{
	int rc;

	if (a->size != b->size)
		return a->size < b->size ? -1 : 1;
	rc = strcmp(names[a->dim], names[b->dim]);
	if (rc)
		return rc;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	for (size_t i = 0; i < a->len && i < b->len; i++)
		if (a->value[i] != b->value[i])
			return (unsigned char)a->value[i] < (unsigned char)b->value[i] ?
			       -1 : 1;
	return (a->len > b->len) - (a->len < b->len);
}

static int64_t floor_to(int64_t t, int64_t size)
{
	int64_t q = t / size;

	if (t % size && t < 0)
		q--;
	return q * size;
}

/* Random deltas in three partitions; rows against a brute-force oracle. */
static void test_rows_random(void **state)
{
	enum { N = 1500, NSIZES = 3 };
	static const char *const names[] = {"url", "status", "hashtag", "referer"};
	static const int64_t sizes[NSIZES] = {5, 60, 3600};
	unsigned seed = 5;
	struct tkey *keys = tkeys_make(N, &seed);
	struct window_deltas *parts[4] = {window_deltas_new(), NULL,
					  window_deltas_new(), window_deltas_new()};
	struct trow *oracle = calloc(N * 3 * NSIZES, sizeof(*oracle));
	size_t noracle = 0;
	struct window_rows rows;

	for (int a = 0; a < N * 3; a++) {
		const struct tkey *k = &keys[rand_r(&seed) % N];
		uint64_t hits = 1 + rand_r(&seed) % 1000;

		window_deltas_add(parts[(size_t[]){0, 2, 3}[a % 3]], k->start, k->dim,
				  k->val, k->len, hits);
		for (int s = 0; s < NSIZES; s++) {
			struct trow t = {(uint32_t)sizes[s], k->dim,
					 floor_to(k->start, sizes[s]), k->val, k->len, hits};
			size_t i = 0;

			while (i < noracle && trow_cmp(&oracle[i], &t, names))
				i++;
			if (i == noracle)
				oracle[noracle++] = t;
			else
				oracle[i].hits += hits;
		}
	}
	window_rows_init(&rows);
	window_rows_build(&rows, parts, 4, sizes, NSIZES, names, NULL);
	assert_int_equal(rows.n, noracle);
	for (size_t r = 0; r < rows.n; r++) {
		const struct window_row *row = &rows.rows[r];
		struct trow t = {row->window_seconds, row->dim, row->start_s,
				 row->value, row->len, row->hits};
		size_t i = 0;

		if (r) {
			const struct window_row *p = &rows.rows[r - 1];
			struct trow prev = {p->window_seconds, p->dim, p->start_s,
					    p->value, p->len, p->hits};

			assert_true(trow_cmp(&prev, &t, names) < 0);
		}
		while (i < noracle && trow_cmp(&oracle[i], &t, names))
			i++;
		assert_true(i < noracle);
		assert_int_equal(oracle[i].hits, row->hits);
	}
	window_rows_fini(&rows);
	for (int p = 0; p < 4; p++)
		window_deltas_free(parts[p]);
	free(oracle);
	free(keys);
}

/* --- measures ------------------------------------------------------------ */

/* The bounds are R10 times powers of ten, and window_bucket follows them. */
static void test_bucket_bounds(void **state)
{
	static const unsigned int r10[10] = {100, 125, 160, 200, 250, 315, 400,
					     500, 630, 800};
	uint64_t scale = 1;

	(void)state;
	for (unsigned int b = 0; b + 1 < WINDOW_BUCKETS; b++) {
		uint64_t le = b == 60 ? 100000000 : r10[b % 10] * scale;

		assert_int_equal(window_bucket_le_us[b], le);
		if (b % 10 == 9)
			scale *= 10;
		assert_int_equal(window_bucket(le), b);
		assert_int_equal(window_bucket(le + 1), b + 1);
		if (b)
			assert_int_equal(window_bucket(window_bucket_le_us[b - 1] + 1), b);
		/* a bucket's upper bound is at most 1.28 times its lower */
		if (b)
			assert_true(le * 100 <= window_bucket_le_us[b - 1] * 128);
	}
	assert_int_equal(window_bucket(0), 0);
	assert_int_equal(window_bucket(1), 0);
	assert_int_equal(window_bucket(UINT64_MAX), WINDOW_BUCKETS - 1);
	/* every power of two and its neighbours, against a linear search */
	for (unsigned int o = 0; o < 64; o++)
		for (int delta = -1; delta <= 1; delta++) {
			uint64_t d = ((uint64_t)1 << o) + (uint64_t)delta;
			unsigned int want = 0;

			while (want + 1 < WINDOW_BUCKETS && window_bucket_le_us[want] < d)
				want++;
			assert_int_equal(window_bucket(d), want);
		}
}

static const char *const names4[] = {"url", "status", "hashtag", "referer"};

struct mrow {
	struct trow key;
	uint64_t bytes, dcount, dsum, dmax;
	uint64_t hist[WINDOW_BUCKETS];
};

/* A duration spread over every bucket: log-uniform up to ~300 s, or none. */
static int64_t random_duration(unsigned *seed)
{
	int r = rand_r(seed) % 10;

	if (r == 0)
		return -1;
	if (r == 1)
		return rand_r(seed) % 3 ? 0 : 100;      /* nginx's "0.000" */
	r = rand_r(seed) % 29;          /* 2^28 us: about 270 s */
	return ((int64_t)1 << r) + rand_r(seed) % ((int64_t)1 << r);
}

static void mrow_check(const struct mrow *m, const struct window_row *row)
{
	uint64_t hist[WINDOW_BUCKETS] = {0}, sum = 0;

	assert_int_equal(row->hits, m->key.hits);
	assert_int_equal(row->bytes, m->bytes);
	assert_int_equal(row->duration_count, m->dcount);
	assert_int_equal(row->duration_us_sum, m->dsum);
	assert_int_equal(row->duration_us_max, m->dmax);
	for (size_t j = 0; j < row->nhist; j++) {
		unsigned int b = WINDOW_HIST_BUCKET(row->hist[j]);

		if (j)          /* bucket order, each bucket once */
			assert_true(WINDOW_HIST_BUCKET(row->hist[j - 1]) < b);
		assert_true(WINDOW_HIST_COUNT(row->hist[j]) > 0);
		hist[b] = WINDOW_HIST_COUNT(row->hist[j]);
		sum += hist[b];
	}
	assert_memory_equal(hist, m->hist, sizeof(hist));
	assert_int_equal(sum, m->dcount);
}

/*
 * Lines with sizes and durations in three partitions, added as count.c
 * does (add_held, else add_line): every row's bytes, duration count, sum,
 * maximum and histogram against a brute-force oracle, in the base window
 * and its rollups. Twice, over the same tables and rows cleared: the
 * second round reuses the pool's chunks and free runs (several chunks of
 * runs of every size, each key's run moving as it grows).
 */
static void test_rows_measures_random(void **state)
{
	enum { N = 600, LINES = 20000, NSIZES = 3 };
	static const int64_t sizes[NSIZES] = {5, 60, 3600};
	unsigned seed = 17;
	struct tkey *keys = tkeys_make(N, &seed);
	struct window_deltas *parts[3] = {window_deltas_new(), window_deltas_new(),
					  window_deltas_new()};
	struct mrow *oracle = calloc(N * NSIZES, sizeof(*oracle));
	size_t noracle = 0, nhist = 0, wide = 0;
	struct window_rows rows;

	(void)state;
	window_rows_init(&rows);
	for (int round = 0; round < 2; round++) {
		noracle = nhist = wide = 0;
		memset(oracle, 0, N * NSIZES * sizeof(*oracle));
		for (int p = 0; p < 3; p++)
			window_deltas_clear(parts[p]);
		for (int a = 0; a < LINES; a++) {
			const struct tkey *k = &keys[rand_r(&seed) % N];
			struct window_line line = {(uint64_t)(rand_r(&seed) % 5 ?
							      rand_r(&seed) % 100000 : 0),
						   random_duration(&seed)};
			struct window_deltas *part = parts[rand_r(&seed) % 3];

			if (!window_deltas_add_held(part, k->start, k->dim, k->val,
						    k->len, &line))
				window_deltas_add_line(part, k->start, k->dim, k->val,
						       k->len, &line);
			for (int s = 0; s < NSIZES; s++) {
				struct trow t = {(uint32_t)sizes[s], k->dim,
						 floor_to(k->start, sizes[s]), k->val,
						 k->len, 0};
				size_t i = 0;

				while (i < noracle && trow_cmp(&oracle[i].key, &t, names4))
					i++;
				if (i == noracle)
					oracle[noracle++].key = t;
				oracle[i].key.hits++;
				oracle[i].bytes += line.bytes;
				if (line.duration_us < 0)
					continue;
				oracle[i].dcount++;
				oracle[i].dsum += (uint64_t)line.duration_us;
				if ((uint64_t)line.duration_us > oracle[i].dmax)
					oracle[i].dmax = (uint64_t)line.duration_us;
				oracle[i].hist[window_bucket((uint64_t)line.duration_us)]++;
			}
		}
		window_rows_build(&rows, parts, 3, sizes, NSIZES, names4, NULL);
		assert_int_equal(rows.n, noracle);
		for (size_t r = 0; r < rows.n; r++) {
			const struct window_row *row = &rows.rows[r];
			struct trow t = {row->window_seconds, row->dim, row->start_s,
					 row->value, row->len, row->hits};
			size_t i = 0;

			while (i < noracle && trow_cmp(&oracle[i].key, &t, names4))
				i++;
			assert_true(i < noracle);
			mrow_check(&oracle[i], row);
			nhist += row->nhist;
			wide += row->nhist > 16;
		}
		assert_int_equal(rows.nhist, nhist);
		assert_true(wide > 0);  /* dense histograms were made and merged */
		assert_true(window_deltas_bytes(parts[0]) > 8192 * sizeof(uint64_t));
	}
	window_rows_fini(&rows);
	for (int p = 0; p < 3; p++)
		window_deltas_free(parts[p]);
	free(oracle);
	free(keys);
}

/*
 * Under the cap, refused rollup values are summed into (other) with all
 * their measures: per (size, dimension, window) the totals, the maximum
 * and the histogram are those of the base rows, and no key repeats.
 */
static void test_rows_measures_cap(void **state)
{
	enum { N = 400, LINES = 8000, NSIZES = 2 };
	static const int64_t sizes[NSIZES] = {5, 60};
	unsigned seed = 23;
	struct tkey *keys = tkeys_make(N, &seed);
	struct window_deltas *part = window_deltas_new();
	struct window_cap *cap = window_cap_new(3);
	struct window_rows rows;
	struct mrow tot[2][4][6];       /* size, dim, window start: -60..1795552740 */
	static const int64_t starts60[] = {-60, 0, 1795552740};

	(void)state;
	memset(tot, 0, sizeof(tot));
	for (int a = 0; a < LINES; a++) {
		const struct tkey *k = &keys[rand_r(&seed) % N];
		struct window_line line = {(uint64_t)(rand_r(&seed) % 1000),
					   random_duration(&seed)};

		window_deltas_add_line(part, k->start, k->dim, k->val, k->len, &line);
	}
	window_rows_init(&rows);
	window_rows_build(&rows, &part, 1, sizes, NSIZES, names4, cap);
	for (size_t r = 0; r < rows.n; r++) {
		const struct window_row *row = &rows.rows[r];
		int s = row->window_seconds == 60, w = 0;
		struct mrow *m;

		if (r) {
			const struct window_row *p = &rows.rows[r - 1];
			struct trow a = {p->window_seconds, p->dim, p->start_s,
					 p->value, p->len, 0};
			struct trow b = {row->window_seconds, row->dim, row->start_s,
					 row->value, row->len, 0};

			assert_true(trow_cmp(&a, &b, names4) < 0);
		}
		if (s)
			while (starts60[w] != row->start_s)
				w++;
		else
			w = row->start_s == -10 ? 0 : row->start_s == -5 ? 1 :
			    row->start_s == 0 ? 2 : row->start_s == 5 ? 3 : 4;
		m = &tot[s][row->dim][w];
		m->key.hits += row->hits;
		m->bytes += row->bytes;
		m->dcount += row->duration_count;
		m->dsum += row->duration_us_sum;
		if (row->duration_us_max > m->dmax)
			m->dmax = row->duration_us_max;
		for (size_t j = 0; j < row->nhist; j++)
			m->hist[WINDOW_HIST_BUCKET(row->hist[j])] +=
				WINDOW_HIST_COUNT(row->hist[j]);
		if (s)
			m->key.len++;   /* rows of the window */
	}
	/* each 1 min window: at most 3 values and (other) */
	for (int d = 0; d < 4; d++)
		for (int w = 0; w < 3; w++)
			assert_true(tot[1][d][w].key.len <= 4);
	/* the rollups' totals are the base's: -10 and -5 in -60, 0 and 5 in 0 */
	for (int d = 0; d < 4; d++) {
		const struct mrow *base[3][2] = {
			{&tot[0][d][0], &tot[0][d][1]}, {&tot[0][d][2], &tot[0][d][3]},
			{&tot[0][d][4], NULL}};

		for (int w = 0; w < 3; w++) {
			const struct mrow *m = &tot[1][d][w];
			struct mrow want;

			memset(&want, 0, sizeof(want));
			for (int k = 0; k < 2 && base[w][k]; k++) {
				const struct mrow *b = base[w][k];

				want.key.hits += b->key.hits;
				want.bytes += b->bytes;
				want.dcount += b->dcount;
				want.dsum += b->dsum;
				if (b->dmax > want.dmax)
					want.dmax = b->dmax;
				for (int h = 0; h < WINDOW_BUCKETS; h++)
					want.hist[h] += b->hist[h];
			}
			assert_int_equal(m->key.hits, want.key.hits);
			assert_int_equal(m->bytes, want.bytes);
			assert_int_equal(m->dcount, want.dcount);
			assert_int_equal(m->dsum, want.dsum);
			assert_int_equal(m->dmax, want.dmax);
			assert_memory_equal(m->hist, want.hist, sizeof(want.hist));
		}
	}
	window_rows_fini(&rows);
	window_cap_free(cap);
	window_deltas_free(part);
	free(keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_merge_parts),
		cmocka_unit_test(test_rows_rollups),
		cmocka_unit_test(test_rows_order),
		cmocka_unit_test(test_rows_cap),
		cmocka_unit_test(test_rows_cap_admitted_before),
		cmocka_unit_test(test_rows_hits_independent),
		cmocka_unit_test(test_rows_random),
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_rows_measures_random),
		cmocka_unit_test(test_rows_measures_cap),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
