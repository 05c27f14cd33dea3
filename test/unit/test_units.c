/*
 * Unit tests of units: durations and sizes as written in configuration
 * files, their errors, and printing them back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "units.h"

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		int64_t ms;
	} cases[] = {
		{"0", 0}, {"500ms", 500}, {"5s", 5000}, {"1m", 60000},
		{"1h", 3600000}, {"2d", 172800000}, {"1h30m", 5400000},
		{"1s500ms", 1500}, {"0s", 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = -1;

		assert_int_equal(units_parse_duration(cases[i].text, &ms, NULL, 0), 0);
		assert_int_equal(ms, cases[i].ms);
	}
}

static void test_bad_durations(void **state)
{
	static const char *const bad[] = {
		"", "5", "5 s", "-1s", "1.5s", "5x", "s", "1s2", "99999999999999999d",
		"9223372036854775807ms1ms",
	};
	char err[256];
	int64_t ms = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(units_parse_duration(bad[i], &ms, err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
		assert_int_equal(ms, 42);
	}
	units_parse_duration("5", &ms, err, sizeof(err));
	assert_non_null(strstr(err, "needs a unit"));
	units_parse_duration("99999999999999999d", &ms, err, sizeof(err));
	assert_non_null(strstr(err, "too large"));
}

static void test_sizes(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
		{"0", 0}, {"512", 512}, {"512B", 512}, {"64KiB", 65536},
		{"16MiB", 16777216}, {"1GB", 1000000000}, {"2KB", 2000},
		{"1gib", 1073741824}, {"3TiB", 3298534883328ULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t bytes = 1;

		assert_int_equal(units_parse_size(cases[i].text, &bytes, NULL, 0), 0);
		assert_int_equal(bytes, cases[i].bytes);
	}
}

static void test_bad_sizes(void **state)
{
	static const char *const bad[] = {
		"", "KiB", "1.5MiB", "-1", "12QB", "1 KiB", "99999999999999999999",
		"17179869184GiB",
	};
	char err[256];
	uint64_t bytes = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(units_parse_size(bad[i], &bytes, err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
		assert_int_equal(bytes, 7);
	}
}

static void test_format(void **state)
{
	char out[32];

	units_format_duration(0, out, sizeof(out));
	assert_string_equal(out, "0");
	units_format_duration(1500, out, sizeof(out));
	assert_string_equal(out, "1500ms");
	units_format_duration(90000, out, sizeof(out));
	assert_string_equal(out, "90s");
	units_format_duration(86400000, out, sizeof(out));
	assert_string_equal(out, "1d");
	units_format_size(16 << 20, out, sizeof(out));
	assert_string_equal(out, "16MiB");
	units_format_size(1000, out, sizeof(out));
	assert_string_equal(out, "1000B");
	units_format_size(0, out, sizeof(out));
	assert_string_equal(out, "0B");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_bad_durations),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests_name("units", tests, NULL, NULL);
}
