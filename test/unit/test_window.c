/*
 * Unit tests of window: window math at the edges and for negative times;
 * the delta table against a plain array as the oracle, through growth and
 * clearing, with allocations counted (xmalloc & co are wrapped at link
 * time) to show that hits and reuse after clear allocate nothing; the cap;
 * and window_rows_build against hand-written rows and a brute-force
 * oracle. A last case prints the cost of window_deltas_add for a realistic
 * mix of keys (a figure, not an assertion).
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

struct tkey {
	int64_t start;
	uint32_t dim;
	size_t len;
	char val[40];
	uint64_t hits;
	int seen;
};

static int tkey_same(const struct tkey *k, int64_t start, uint32_t dim,
		     const char *val, size_t len)
{
	return k->start == start && k->dim == dim && k->len == len &&
	       !memcmp(k->val, val, len);
}

/*
 * n distinct keys with few starts (negative too) and dimensions, values
 * of random bytes (NUL and high bytes included) that often share
 * prefixes with one another, and the empty value.
 */
static struct tkey *tkeys_make(size_t n, unsigned *seed)
{
	static const int64_t starts[] = {-10, -5, 0, 5, 1795552780};
	struct tkey *keys = calloc(n, sizeof(*keys));

	for (size_t i = 0; i < n; i++) {
		struct tkey *k = &keys[i];
		int dup;

		do {
			k->start = starts[rand_r(seed) % 5];
			k->dim = rand_r(seed) % 4;
			if (i && rand_r(seed) % 2) {
				const struct tkey *o = &keys[rand_r(seed) % i];

				k->len = rand_r(seed) % (o->len + 1);
				memcpy(k->val, o->val, k->len);
			} else {
				k->len = 0;
			}
			while (k->len < sizeof(k->val) && rand_r(seed) % 8)
				k->val[k->len++] = (char)(rand_r(seed) % 4 ?
							  'a' + rand_r(seed) % 3 :
							  rand_r(seed) % 256);
			dup = 0;
			for (size_t j = 0; j < i && !dup; j++)
				dup = tkey_same(&keys[j], k->start, k->dim, k->val, k->len);
		} while (dup);
	}
	return keys;
}

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

static bool admit(struct window_cap *cap, int64_t size_s, int64_t start_s,
		  uint32_t dim, const char *value)
{
	return window_cap_admit(cap, size_s, start_s, dim, value, strlen(value));
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

/* --- rows -------------------------------------------------------------- */

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

static const char *const names3[] = {"url", "status", "hashtag"};

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
		cmocka_unit_test(test_deltas_distinct),
		cmocka_unit_test(test_deltas_no_alloc),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_cap_zero_and_many),
		cmocka_unit_test(test_rows_merge_parts),
		cmocka_unit_test(test_rows_rollups),
		cmocka_unit_test(test_rows_order),
		cmocka_unit_test(test_rows_cap),
		cmocka_unit_test(test_rows_cap_admitted_before),
		cmocka_unit_test(test_rows_hits_independent),
		cmocka_unit_test(test_rows_random),
		cmocka_unit_test(test_bench_add),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
