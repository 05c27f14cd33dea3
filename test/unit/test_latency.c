/*
 * Unit tests of aggregator/latency: nearest-rank percentiles of a bucketed
 * histogram against the exact percentiles of the durations it was made
 * from (the true value must lie in the bounds the estimate states), the
 * clamp to the maximum, the +Inf bucket, and duration thresholds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/latency.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Random durations: the exact nearest-rank percentile lies in the bounds. */
static void test_bounds_hold(void **state)
{
	static const double qs[] = {0.01, 0.5, 0.9, 0.95, 0.99, 1.0};
	unsigned seed = 3;

	(void)state;
	for (int round = 0; round < 200; round++) {
		size_t n = 1 + (size_t)rand_r(&seed) % 500;
		uint64_t *d = calloc(n, sizeof(*d));
		struct latency_hist h = {{0}, 0, 0};

		assert_non_null(d);
		for (size_t i = 0; i < n; i++) {
			int e = rand_r(&seed) % (round % 2 ? 28 : 12);

			d[i] = ((uint64_t)1 << e) + (uint64_t)rand_r(&seed) % ((uint64_t)1 << e);
			latency_hist_add(&h, window_bucket(d[i]), 1);
			if (d[i] > h.max_us)
				h.max_us = d[i];
		}
		qsort(d, n, sizeof(*d), cmp_u64);
		for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
			struct latency_estimate est;
			size_t rank = (size_t)(qs[k] * (double)n + 0.999999999);
			uint64_t truth = d[(rank ? rank : 1) - 1];

			assert_true(latency_percentile(&h, qs[k], &est));
			assert_true(truth >= est.lo_us && truth <= est.hi_us);
			assert_true(est.value_us >= (double)est.lo_us &&
				    est.value_us <= (double)est.hi_us);
			assert_true(est.value_us <= (double)h.max_us);
		}
		free(d);
	}
}

static void test_edges(void **state)
{
	struct latency_hist h = {{0}, 0, 0};
	struct latency_estimate est;

	(void)state;
	assert_false(latency_percentile(&h, 0.5, &est));
	/* everything above 100 s: +Inf, bounded by the maximum */
	latency_hist_add(&h, WINDOW_BUCKETS - 1, 4);
	h.max_us = 150000000;
	assert_true(latency_percentile(&h, 0.99, &est));
	assert_int_equal(est.bucket, WINDOW_BUCKETS - 1);
	assert_int_equal(est.lo_us, 100000000);
	assert_int_equal(est.hi_us, 150000000);
	/* without a maximum the estimate is the last finite bound */
	h.max_us = 0;
	assert_true(latency_percentile(&h, 0.5, &est));
	assert_int_equal(est.hi_us, 100000000);
	assert_true(est.value_us == 100000000.0);
	/* all in bucket 0: between 0 and 100 us, clamped to the maximum */
	memset(&h, 0, sizeof(h));
	latency_hist_add(&h, 0, 10);
	latency_hist_add(&h, WINDOW_BUCKETS + 3, 10);       /* ignored */
	assert_int_equal(h.total, 10);
	h.max_us = 40;
	assert_true(latency_percentile(&h, 0.5, &est));
	assert_int_equal(est.lo_us, 0);
	assert_int_equal(est.hi_us, 40);
	assert_true(est.value_us == 20.0);
	assert_int_equal(latency_bucket_lo_us(0), 0);
	assert_int_equal(latency_bucket_hi_us(0), 100);
	assert_int_equal(latency_bucket_lo_us(1), 100);
	assert_int_equal(latency_bucket_hi_us(WINDOW_BUCKETS - 1), UINT64_MAX);
}

static void test_parse_us(void **state)
{
	(void)state;
	assert_int_equal(latency_parse_us("500ms"), 500000);
	assert_int_equal(latency_parse_us("1.5s"), 1500000);
	assert_int_equal(latency_parse_us("250us"), 250);
	assert_int_equal(latency_parse_us("2s"), 2000000);
	assert_int_equal(latency_parse_us("0.0005s"), 500);
	assert_int_equal(latency_parse_us("500"), -1);
	assert_int_equal(latency_parse_us("ms"), -1);
	assert_int_equal(latency_parse_us("5m"), -1);
	assert_int_equal(latency_parse_us("-5ms"), -1);
	assert_int_equal(latency_parse_us("1.2.3s"), -1);
	assert_int_equal(latency_parse_us(""), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds_hold),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_parse_us),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
