/*
 * Unit tests of hmap: puts, gets and removals checked against a plain
 * array as the oracle, through growth and backward-shift deletion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "hmap.h"

#define N 5000

static void test_basic(void **state)
{
	struct hmap *map = hmap_new();
	int a = 1, b = 2;

	assert_null(hmap_get(map, "x"));
	hmap_put(map, "x", &a);
	hmap_put(map, "y", &b);
	assert_ptr_equal(hmap_get(map, "x"), &a);
	hmap_put(map, "x", &b);
	assert_ptr_equal(hmap_get(map, "x"), &b);
	assert_int_equal(hmap_count(map), 2);
	assert_ptr_equal(hmap_remove(map, "x"), &b);
	assert_null(hmap_remove(map, "x"));
	assert_null(hmap_get(map, "x"));
	assert_int_equal(hmap_count(map), 1);
	hmap_free(map);
	hmap_free(NULL);
}

static void test_against_oracle(void **state)
{
	static int values[N];
	static int present[N];
	struct hmap *map = hmap_new();
	char key[32];
	unsigned seed = 7;

	for (int round = 0; round < 20 * N; round++) {
		int i = (int)(rand_r(&seed) % N);

		snprintf(key, sizeof(key), "/var/log/app-%d.log", i);
		if (rand_r(&seed) % 3) {
			hmap_put(map, key, &values[i]);
			present[i] = 1;
		} else {
			assert_ptr_equal(hmap_remove(map, key), present[i] ? &values[i] : NULL);
			present[i] = 0;
		}
	}
	for (int i = 0, count = 0; i < N; i++) {
		snprintf(key, sizeof(key), "/var/log/app-%d.log", i);
		assert_ptr_equal(hmap_get(map, key), present[i] ? &values[i] : NULL);
		count += present[i];
		if (i == N - 1)
			assert_int_equal(hmap_count(map), count);
	}
	hmap_free(map);
}

static void each_sum(void *arg, const char *key, void *value)
{
	int *sum = arg;

	*sum += *(int *)value * (key[0] == 'a' ? 1 : 100);
}

/* hmap_each visits every entry once, and nothing removed. */
static void test_each(void **state)
{
	struct hmap *map = hmap_new();
	int one = 1, two = 2, three = 3, sum = 0;

	hmap_put(map, "a1", &one);
	hmap_put(map, "a2", &two);
	hmap_put(map, "b", &three);
	hmap_put(map, "gone", &three);
	hmap_remove(map, "gone");
	hmap_each(map, each_sum, &sum);
	assert_int_equal(sum, 1 + 2 + 300);
	hmap_free(map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_against_oracle),
		cmocka_unit_test(test_each),
	};

	return cmocka_run_group_tests_name("hmap", tests, NULL, NULL);
}
