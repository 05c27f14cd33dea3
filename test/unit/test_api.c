/*
 * Unit tests of the parts of aggregator/api that need no database: times
 * given as epoch seconds or RFC 3339, the choice of the window size (the
 * coarsest that covers the range exactly, widened when too many windows
 * would be read, and a multiple for a series' step) against a brute-force
 * oracle, the trending score's shape, and the measures of `by` and
 * `measure` (names, round trip, quantiles, what is refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "aggregator/api.h"

static const int64_t sizes[] = {5, 60, 3600};

static void test_parse_time(void **state)
{
	(void)state;
	assert_int_equal(api_parse_time("0"), 0);
	assert_int_equal(api_parse_time("1795575600"), 1795575600);
	assert_int_equal(api_parse_time("2026-11-25T03:00:00Z"), 1795575600);
	assert_int_equal(api_parse_time("2026-11-25T04:00:00+01:00"), 1795575600);
	assert_int_equal(api_parse_time("2026-11-25T03:00:00.999Z"), 1795575600);
	assert_int_equal(api_parse_time(""), -1);
	assert_int_equal(api_parse_time(NULL), -1);
	assert_int_equal(api_parse_time("-5"), -1);
	assert_int_equal(api_parse_time("12x"), -1);
	assert_int_equal(api_parse_time("2026-11-25"), -1);
	assert_int_equal(api_parse_time("2026-13-25T03:00:00Z"), -1);
	assert_int_equal(api_parse_time("2026-11-25T03:00:00"), -1);     /* no zone */
	assert_int_equal(api_parse_time("99999999999999"), -1);          /* > 12 digits */
}

static void expect_size(int64_t from, int64_t to, int64_t step, int64_t size,
			int64_t want_from, int64_t want_to)
{
	int64_t f = from, t = to;

	assert_int_equal(api_choose_size(sizes, 3, step, &f, &t), size);
	assert_int_equal(f, want_from);
	assert_int_equal(t, want_to);
}

static void test_choose_size_cases(void **state)
{
	const int64_t h = 1795575600;   /* 2026-11-25T03:00:00Z, a whole hour */

	(void)state;
	expect_size(h, h + 3600, 0, 3600, h, h + 3600);
	expect_size(h, h + 7200, 0, 3600, h, h + 7200);
	expect_size(h + 60, h + 3600, 0, 60, h + 60, h + 3600);
	expect_size(h + 5, h + 3600, 0, 5, h + 5, h + 3600);
	/* aligned to the base window first: out to whole windows */
	expect_size(h + 3, h + 58, 0, 60, h, h + 60);
	expect_size(h + 3, h + 53, 0, 5, h, h + 55);
	expect_size(h + 7, h + 7, 0, 5, h + 5, h + 10);
	/* a step that is not a multiple of the coarsest size bounds it */
	expect_size(h, h + 7200, 300, 60, h, h + 7200);
	expect_size(h, h + 7200, 10, 5, h, h + 7200);
	/* too many 5 s windows: the finest size reading few enough, widened */
	expect_size(h + 5, h + 5 + 30 * 86400, 0, 3600, h, h + 30 * 86400 + 3600);
	expect_size(h + 5, h + 5 + 86400, 0, 5, h + 5, h + 5 + 86400);
	expect_size(h + 5, h + 5 + 2 * 86400, 0, 60, h, h + 2 * 86400 + 60);
	/* no size divides the step */
	{
		int64_t f = h, t = h + 60;

		assert_int_equal(api_choose_size(sizes, 3, 7, &f, &t), 0);
	}
}

/* The oracle: the coarsest size dividing both ends and the step. */
static int64_t oracle(int64_t from, int64_t to, int64_t step)
{
	int64_t best = 0;

	for (size_t i = 0; i < 3; i++)
		if (from % sizes[i] == 0 && to % sizes[i] == 0 &&
		    (!step || step % sizes[i] == 0))
			best = sizes[i];
	return best;
}

static void test_choose_size_random(void **state)
{
	unsigned seed = 25;

	(void)state;
	for (int round = 0; round < 100000; round++) {
		int64_t from = 1795575600 + rand_r(&seed) % 100000;
		int64_t len = 1 + rand_r(&seed) % (round % 2 ? 8000 : 200000);
		int64_t step = (int64_t[]){0, 5, 10, 60, 120, 3600}[rand_r(&seed) % 6];
		int64_t f = from, t = from + len, size, want;

		size = api_choose_size(sizes, 3, step, &f, &t);
		assert_true(size > 0);
		/* aligned, covering what was asked, never more than needed */
		assert_true(f % size == 0 && t % size == 0);
		assert_true(f <= from && t >= from + len);
		assert_true(!step || step % size == 0);
		want = oracle(from / 5 * 5, (from + len + 4) / 5 * 5, step);
		if ((t - f) / size <= API_MAX_WINDOWS &&
		    f == from / 5 * 5 && t == (from + len + 4) / 5 * 5)
			assert_int_equal(size, want);   /* exact: the coarsest */
		else
			assert_true((t - f) / want > API_MAX_WINDOWS ||
				    size > want);       /* widened for a reason */
	}
}

static void test_trending_score(void **state)
{
	(void)state;
	/* no baseline: the hits themselves */
	assert_true(fabs(api_trending_score(50, 0, 300) - 50) < 1e-9);
	/* as many as the hour predicts: 0; fewer: negative */
	assert_true(fabs(api_trending_score(100, 1200, 300)) < 1e-9);
	assert_true(api_trending_score(10, 1200, 300) < 0);
	/* a tiny baseline does not dominate: 0 -> 3 ranks below 1000 -> 1300 */
	assert_true(api_trending_score(3, 0, 300) <
		    api_trending_score(1300, 12000, 300));
	/* more hits now, higher score; more baseline, lower */
	assert_true(api_trending_score(20, 120, 300) > api_trending_score(15, 120, 300));
	assert_true(api_trending_score(20, 240, 300) < api_trending_score(20, 120, 300));
}

static void test_measures(void **state)
{
	static const char *const names[] = {
		"hits", "bytes", "duration_avg", "duration_max", "p50", "p95", "p99",
	};

	(void)state;
	assert_int_equal(api_parse_measure(NULL), API_BY_HITS);
	for (int m = 0; m < API_BY_COUNT; m++) {
		assert_int_equal(api_parse_measure(names[m]), m);
		assert_string_equal(api_measure_name((enum api_measure)m), names[m]);
	}
	/* near misses and empty strings are refused, not read as hits */
	assert_int_equal(api_parse_measure(""), -1);
	assert_int_equal(api_parse_measure("P95"), -1);
	assert_int_equal(api_parse_measure("p90"), -1);
	assert_int_equal(api_parse_measure("p95 "), -1);
	assert_int_equal(api_parse_measure("duration"), -1);
	assert_int_equal(api_parse_measure("hits;DROP TABLE counts"), -1);
	/* only the percentiles have a quantile */
	assert_true(api_measure_quantile(API_BY_P50) == 0.5);
	assert_true(api_measure_quantile(API_BY_P95) == 0.95);
	assert_true(api_measure_quantile(API_BY_P99) == 0.99);
	assert_true(api_measure_quantile(API_BY_HITS) == 0);
	assert_true(api_measure_quantile(API_BY_BYTES) == 0);
	assert_true(api_measure_quantile(API_BY_DURATION_AVG) == 0);
	assert_true(api_measure_quantile(API_BY_DURATION_MAX) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_choose_size_cases),
		cmocka_unit_test(test_choose_size_random),
		cmocka_unit_test(test_trending_score),
		cmocka_unit_test(test_measures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
