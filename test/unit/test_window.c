/*
 * Unit tests of window: window math at the edges and for negative times;
 * the delta table against a plain array as the oracle, through growth and
 * clearing, with allocations counted (xmalloc & co are wrapped at link
 * time) to show that hits and reuse after clear allocate nothing; and the
 * cap. A last case prints the cost of window_deltas_add for a realistic
 * mix of keys (a figure, not an assertion). window_rows_build is tested in
 * test_window_rows.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregator/window.h"
#include "test/unit/window_test_util.h"
#include "xalloc.h"

/* --- allocation counting ---------------------------------------------- */

static unsigned long allocs;

void *__real_xmalloc(size_t n);
void *__real_xcalloc(size_t count, size_t size);
void *__real_xrealloc(void *p, size_t n);
void *__real_xreallocarray(void *p, size_t count, size_t size);
void *__wrap_xmalloc(size_t n);
void *__wrap_xcalloc(size_t count, size_t size);
void *__wrap_xrealloc(void *p, size_t n);
void *__wrap_xreallocarray(void *p, size_t count, size_t size);

void *__wrap_xmalloc(size_t n)
{
	allocs++;
	return __real_xmalloc(n);
}

void *__wrap_xcalloc(size_t count, size_t size)
{
	allocs++;
	return __real_xcalloc(count, size);
}

void *__wrap_xrealloc(void *p, size_t n)
{
	allocs++;
	return __real_xrealloc(p, n);
}

void *__wrap_xreallocarray(void *p, size_t count, size_t size)
{
	allocs++;
	return __real_xreallocarray(p, count, size);
}

/* --- window math ------------------------------------------------------- */

static void test_start_edges(void **state)
{
	static const struct {
		int64_t t_ms, size_s, want;
	} cases[] = {
		{0, 5, 0}, {1, 5, 0}, {4999, 5, 0}, {5000, 5, 5}, {5001, 5, 5},
		{-1, 5, -5}, {-4999, 5, -5}, {-5000, 5, -5}, {-5001, 5, -10},
		{-1, 1, -1}, {-1000, 1, -1}, {-1001, 1, -2}, {999, 1, 0},
		{1000, 1, 1}, {3599999, 3600, 0}, {3600000, 3600, 3600},
		{-3600000, 3600, -3600}, {-3600001, 3600, -7200},
		{1795552782123, 5, 1795552780}, {1795552782123, 60, 1795552740},
		{1795552782123, 3600, 1795550400},
		{INT64_MAX, 1, INT64_MAX / 1000},
		{INT64_MIN, 1, INT64_MIN / 1000 - 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(window_start(cases[i].t_ms, cases[i].size_s),
				 cases[i].want);
}

/* start is a multiple of size and start * 1000 <= t < (start + size) * 1000 */
static void test_start_property(void **state)
{
	static const int64_t sizes[] = {1, 5, 7, 60, 3600, 86400};
	unsigned seed = 11;

	for (int i = 0; i < 200000; i++) {
		int64_t t = ((int64_t)rand_r(&seed) << 20 ^ rand_r(&seed)) -
			    ((int64_t)1 << 50);
		int64_t size = sizes[i % 6], start = window_start(t, size);

		assert_int_equal(start % size, 0);
		assert_true(start * 1000 <= t);
		assert_true(t < (start + size) * 1000);
	}
}

/* --- the delta table against an oracle --------------------------------- */

/* Reads deltas back through window_rows_build and checks them against keys. */
static void tkeys_check(struct window_deltas *deltas, struct tkey *keys, size_t n)
{
	static const char *const names[] = {"d0", "d1", "d2", "d3"};
	static const int64_t sizes[] = {5};
	struct window_rows rows;
	size_t used = 0;
	uint64_t hits = 0;

	for (size_t i = 0; i < n; i++) {
		keys[i].seen = 0;
		used += keys[i].hits > 0;
		hits += keys[i].hits;
	}
	assert_int_equal(window_deltas_count(deltas), used);
	assert_int_equal(window_deltas_hits(deltas), hits);
	window_rows_init(&rows);
	window_rows_build(&rows, &deltas, 1, sizes, 1, names, NULL);
	assert_int_equal(rows.n, used);
	for (size_t r = 0; r < rows.n; r++) {
		const struct window_row *row = &rows.rows[r];
		size_t i = 0;

		while (i < n && !tkey_same(&keys[i], row->start_s, row->dim,
					   row->value, row->len))
			i++;
		assert_true(i < n);
		assert_false(keys[i].seen);
		keys[i].seen = 1;
		assert_int_equal(row->window_seconds, 5);
		assert_int_equal(row->hits, keys[i].hits);
	}
	window_rows_fini(&rows);
}

static void tkeys_add_random(struct window_deltas *deltas, struct tkey *keys,
			     size_t n, int adds, unsigned *seed)
{
	for (int a = 0; a < adds; a++) {
		struct tkey *k = &keys[rand_r(seed) % n];
		uint64_t hits = 1 + rand_r(seed) % 5;

		window_deltas_add(deltas, k->start, k->dim, k->val, k->len, hits);
		k->hits += hits;
	}
}

static void test_deltas_oracle(void **state)
{
	enum { N = 3000 };
	unsigned seed = 3;
	struct tkey *keys = tkeys_make(N, &seed);
	struct window_deltas *deltas = window_deltas_new();

	assert_int_equal(window_deltas_count(deltas), 0);
	/* Grows from its first size to thousands of keys. */
	tkeys_add_random(deltas, keys, N, 60000, &seed);
	tkeys_check(deltas, keys, N);

	/* Clear forgets every key; a second round starts from nothing. */
	window_deltas_clear(deltas);
	assert_int_equal(window_deltas_count(deltas), 0);
	assert_int_equal(window_deltas_hits(deltas), 0);
	for (size_t i = 0; i < N; i++)
		keys[i].hits = 0;
	tkeys_add_random(deltas, keys, N / 3, 5000, &seed);
	tkeys_check(deltas, keys, N);

	window_deltas_free(deltas);
	window_deltas_free(NULL);
	free(keys);
}

/*
 * window_deltas_add_held adds to held keys only and says which it held,
 * so add_held-else-add (count.c's order) counts like add alone.
 */
static void test_deltas_add_held(void **state)
{
	enum { N = 2000 };
	unsigned seed = 11;
	struct tkey *keys = tkeys_make(N, &seed);
	struct window_deltas *deltas = window_deltas_new();
	size_t misses = 0;

	const struct window_line line = {100, 2500};

	assert_false(window_deltas_add_held(deltas, 0, 0, "a", 1, &line));
	assert_int_equal(window_deltas_count(deltas), 0);
	assert_int_equal(window_deltas_hits(deltas), 0);
	for (int a = 0; a < 30000; a++) {
		struct tkey *k = &keys[rand_r(&seed) % N];
		bool held = window_deltas_add_held(deltas, k->start, k->dim,
						   k->val, k->len, &line);

		assert_int_equal(held, k->hits > 0);
		if (!held) {
			window_deltas_add_line(deltas, k->start, k->dim, k->val,
					       k->len, &line);
			misses++;
		}
		k->hits++;
	}
	assert_int_equal(misses, window_deltas_count(deltas));
	tkeys_check(deltas, keys, N);
	window_deltas_free(deltas);
	free(keys);
}

/* Equal bytes in other windows or dimensions, or prefixes, are other keys. */
static void test_deltas_distinct(void **state)
{
	struct window_deltas *deltas = window_deltas_new();

	window_deltas_add(deltas, 0, 0, "a", 1, 1);
	window_deltas_add(deltas, 5, 0, "a", 1, 1);
	window_deltas_add(deltas, -5, 0, "a", 1, 1);
	window_deltas_add(deltas, 0, 1, "a", 1, 1);
	window_deltas_add(deltas, 0, 0, "a\0", 2, 1);
	window_deltas_add(deltas, 0, 0, "ab", 2, 1);
	window_deltas_add(deltas, 0, 0, "", 0, 1);
	window_deltas_add(deltas, 0, 0, NULL, 0, 1);
	window_deltas_add(deltas, 0, 0, "ab", 2, 0);
	assert_int_equal(window_deltas_count(deltas), 7);
	assert_int_equal(window_deltas_hits(deltas), 8);
	window_deltas_free(deltas);
}

/* Counting into keys that exist, or refilling a cleared table, allocates nothing. */
static void test_deltas_no_alloc(void **state)
{
	enum { N = 5000 };
	struct window_deltas *deltas = window_deltas_new();
	char val[32];

	for (int i = 0; i < N; i++) {
		int len = snprintf(val, sizeof(val), "/product/%d", i);

		window_deltas_add(deltas, 1795552780, (uint32_t)i % 3, val, (size_t)len, 1);
	}
	allocs = 0;
	for (int round = 0; round < 20; round++) {
		if (round == 10)
			window_deltas_clear(deltas);
		for (int i = 0; i < N; i++) {
			int len = snprintf(val, sizeof(val), "/product/%d", i);

			window_deltas_add(deltas, 1795552780, (uint32_t)i % 3, val,
					  (size_t)len, 1);
		}
	}
	assert_int_equal(allocs, 0);
	assert_int_equal(window_deltas_count(deltas), N);
	assert_int_equal(window_deltas_hits(deltas), 10 * N);
	window_deltas_free(deltas);
}

/* --- the cap ----------------------------------------------------------- */

/* A line of duration bucket b's upper bound, which falls in bucket b. */
static void add_in_bucket(struct window_deltas *d, const char *value, unsigned int b)
{
	struct window_line line = {0, (int64_t)window_bucket_le_us[b]};

	assert_int_equal(window_bucket(window_bucket_le_us[b]), b);
	window_deltas_add_line(d, 0, 0, value, strlen(value), &line);
}

/*
 * A histogram's run moves as it grows (1, 2, 4, 8, 16 pairs, then the
 * dense counts) and the run it leaves goes on a free list: a second key
 * growing to 16 pairs takes the first key's old runs, so the pool does
 * not grow at all; without the lists it would grow by 31 slots.
 */
static void test_hist_runs_reused(void **state)
{
	struct window_deltas *d = window_deltas_new();
	size_t before, after, key;

	(void)state;
	for (unsigned int b = 0; b < 17; b++)
		add_in_bucket(d, "a", b);
	before = window_deltas_bytes(d);
	add_in_bucket(d, "b", 0);
	key = window_deltas_bytes(d) - before;  /* the key, and its 1-pair run */
	for (unsigned int b = 1; b < 16; b++)
		add_in_bucket(d, "b", b);
	after = window_deltas_bytes(d);
	assert_int_equal(after - before, key);
	window_deltas_free(d);
}

static void test_cap(void **state)
{
	struct window_cap *cap = window_cap_new(3);

	assert_true(admit(cap, 5, 0, 0, "a"));
	assert_true(admit(cap, 5, 0, 0, "b"));
	assert_true(admit(cap, 5, 0, 0, "b"));
	assert_true(admit(cap, 5, 0, 0, "c"));
	assert_false(admit(cap, 5, 0, 0, "d"));
	assert_false(admit(cap, 5, 0, 0, "d"));
	assert_false(window_cap_admit(cap, 5, 0, 0, "a\0", 2));
	assert_true(admit(cap, 5, 0, 0, "a"));
	assert_true(admit(cap, 5, 0, 0, "c"));
	assert_true(admit(cap, 5, 0, 0, WINDOW_OTHER));
	/* Each (size, start, dim) has its own tally. */
	assert_true(admit(cap, 5, 0, 1, "d"));
	assert_true(admit(cap, 5, 5, 0, "d"));
	assert_true(admit(cap, 5, 5, 0, "e"));
	assert_true(admit(cap, 5, 5, 0, "f"));
	assert_false(admit(cap, 5, 5, 0, "g"));
	assert_true(admit(cap, 5, -5, 0, "d"));
	assert_true(admit(cap, 60, 0, 0, "d"));
	for (int i = 0; i < 2; i++) {
		assert_true(admit(cap, 60, 0, 0, "e"));
		assert_true(admit(cap, 60, 0, 0, "f"));
		assert_false(admit(cap, 60, 0, 0, "g"));
	}

	/* Closes the 5 s windows before 5: -5 and 0, not 5 nor the 60 s ones. */
	window_cap_expire(cap, 5, 5);
	assert_true(admit(cap, 5, 0, 0, "d"));          /* a fresh tally */
	assert_true(admit(cap, 5, 0, 0, "e"));
	assert_true(admit(cap, 5, 0, 0, "f"));
	assert_false(admit(cap, 5, 0, 0, "a"));
	assert_true(admit(cap, 5, 5, 0, "d"));
	assert_false(admit(cap, 5, 5, 0, "g"));          /* still open, still full */
	assert_false(admit(cap, 60, 0, 0, "g"));
	assert_true(admit(cap, 60, 0, 0, "f"));
	window_cap_expire(cap, 60, 60);
	assert_true(admit(cap, 60, 0, 0, "g"));
	window_cap_free(cap);
	window_cap_free(NULL);
}

static void test_cap_zero_and_many(void **state)
{
	struct window_cap *cap = window_cap_new(0);
	char val[32];

	assert_false(admit(cap, 5, 0, 0, "a"));
	assert_true(admit(cap, 5, 0, 0, WINDOW_OTHER));
	window_cap_free(cap);

	/* Many windows and values, some expired along the way. */
	cap = window_cap_new(1000);
	for (int w = 0; w < 200; w++) {
		for (int i = 0; i < 1200; i += 7) {
			snprintf(val, sizeof(val), "v%d", i);
			assert_int_equal(admit(cap, 5, w * 5, (uint32_t)w % 3, val),
					 i / 7 < 1000);
		}
		if (w % 10 == 9)
			window_cap_expire(cap, 5, (w - 4) * 5);
	}
	for (int w = 196; w < 200; w++)
		assert_true(admit(cap, 5, w * 5, (uint32_t)w % 3, "v0"));
	assert_true(admit(cap, 5, 0, 0, "new"));
	window_cap_free(cap);
}

/* --- a benchmark: prints, asserts nothing about time --------------------- */

struct bench_add {
	int64_t start;
	uint32_t dim;
	uint32_t len;
	const char *value;
};

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A skewed pick in [0, n): a few values take most of the hits. */
static unsigned bench_skewed(unsigned n, unsigned *seed)
{
	double u = (double)rand_r(seed) / ((double)RAND_MAX + 1);

	return (unsigned)(n * u * u * u);
}

/*
 * One flush interval's lines at 500k lines/s: each line adds its URL (of
 * 8k, skewed), its status (of 8) and, one line in two, a hashtag (of
 * 2k), in the window of its time, which crosses one window boundary.
 */
static struct bench_add *bench_make(size_t nadds, char *pool, size_t poolsz)
{
	struct bench_add *adds = calloc(nadds, sizeof(*adds));
	static const char *const status[] = {"200", "304", "404", "301", "500",
					     "302", "403", "206"};
	unsigned seed = 17;
	size_t i = 0, used = 0;

	for (size_t line = 0; i < nadds; line++) {
		int64_t start = window_start(1795552784700 + (int64_t)line / 500, 5);
		unsigned u = bench_skewed(8000, &seed), h = bench_skewed(2000, &seed);
		int len = snprintf(pool + used, poolsz - used, "/shop/item/%u/view", u);

		adds[i++] = (struct bench_add){start, 0, (uint32_t)len, pool + used};
		used += (size_t)len;
		if (i < nadds) {
			const char *s = status[bench_skewed(8, &seed)];

			adds[i++] = (struct bench_add){start, 1, 3, s};
		}
		if (i < nadds && line % 2) {
			len = snprintf(pool + used, poolsz - used, "tag%u", h);
			adds[i++] = (struct bench_add){start, 2, (uint32_t)len, pool + used};
			used += (size_t)len;
		}
	}
	return adds;
}

static void test_bench_add(void **state)
{
	enum { NADDS = 1000000 };
	static const int64_t sizes[] = {5, 60, 3600};
	char *pool = malloc(NADDS * 24);
	struct bench_add *adds = bench_make(NADDS, pool, NADDS * 24);
	struct window_deltas *deltas = window_deltas_new();
	struct window_rows rows;
	double t0, t1, t2, t3;

	t0 = bench_now();
	for (size_t i = 0; i < NADDS; i++)
		window_deltas_add(deltas, adds[i].start, adds[i].dim, adds[i].value,
				  adds[i].len, 1);
	t1 = bench_now();
	window_rows_init(&rows);
	window_rows_build(&rows, &deltas, 1, sizes, 3, names3, NULL);
	t2 = bench_now();
	window_deltas_clear(deltas);
	for (size_t i = 0; i < NADDS; i++)
		window_deltas_add(deltas, adds[i].start, adds[i].dim, adds[i].value,
				  adds[i].len, 1);
	t3 = bench_now();
	printf("# window_deltas_add: %.1f ns/add from empty, %.1f ns/add after "
	       "clear (%d adds, %zu keys); window_rows_build: %.1f ms for %zu rows\n",
	       (t1 - t0) * 1e9 / NADDS, (t3 - t2) * 1e9 / NADDS, NADDS,
	       window_deltas_count(deltas), (t2 - t1) * 1e3, rows.n);
	assert_int_equal(window_deltas_hits(deltas), NADDS);
	window_rows_fini(&rows);
	window_deltas_free(deltas);
	free(adds);
	free(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_edges),
		cmocka_unit_test(test_start_property),
		cmocka_unit_test(test_deltas_oracle),
		cmocka_unit_test(test_deltas_add_held),
		cmocka_unit_test(test_deltas_distinct),
		cmocka_unit_test(test_deltas_no_alloc),
		cmocka_unit_test(test_hist_runs_reused),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_cap_zero_and_many),
		cmocka_unit_test(test_bench_add),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
