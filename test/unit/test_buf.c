/*
 * Unit tests of common/buf: appends of every kind, the hard maximum (a failed
 * add leaves the content unchanged and NUL-terminated), reuse, and moving
 * the content out with buf_take().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "buf.h"

static void test_empty(void **state)
{
	struct buf b;
	char *s;
	size_t len = 99;

	buf_init(&b, 10);
	assert_int_equal(buf_len(&b), 0);
	assert_string_equal(buf_str(&b), "");
	s = buf_take(&b, &len);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	buf_fini(&b);
}

static void test_appends(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_int_equal(buf_add(&b, "ab", 2), 0);
	assert_int_equal(buf_addstr(&b, "cd"), 0);
	assert_int_equal(buf_addc(&b, 'e'), 0);
	assert_int_equal(buf_printf(&b, "-%d-%s", 42, "x"), 0);
	assert_int_equal(buf_add(&b, NULL, 0), 0);
	assert_string_equal(buf_str(&b), "abcde-42-x");
	assert_int_equal(buf_len(&b), 10);
	buf_fini(&b);
}

static void test_binary_content(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_int_equal(buf_add(&b, "a\0b", 3), 0);
	assert_int_equal(buf_len(&b), 3);
	assert_memory_equal(buf_str(&b), "a\0b\0", 4);
	buf_fini(&b);
}

static void test_maximum_exact(void **state)
{
	struct buf b;

	buf_init(&b, 5);
	assert_int_equal(buf_addstr(&b, "abcde"), 0);
	assert_int_equal(buf_addc(&b, 'x'), -ENOSPC);
	assert_int_equal(buf_add(&b, "", 0), 0);
	assert_string_equal(buf_str(&b), "abcde");
	assert_int_equal(buf_len(&b), 5);
	buf_fini(&b);
}

static void test_failed_add_leaves_content(void **state)
{
	struct buf b;

	buf_init(&b, 5);
	assert_int_equal(buf_addstr(&b, "ab"), 0);
	assert_int_equal(buf_addstr(&b, "cdef"), -ENOSPC);
	assert_string_equal(buf_str(&b), "ab");
	assert_int_equal(buf_printf(&b, "%s", "cdef"), -ENOSPC);
	assert_string_equal(buf_str(&b), "ab");
	assert_int_equal(buf_len(&b), 2);
	assert_int_equal(buf_printf(&b, "%s", "cde"), 0);
	assert_string_equal(buf_str(&b), "abcde");
	buf_fini(&b);
}

/* A printf that cannot be printed (a wide character the C locale cannot
 * encode) is refused whole. */
static void test_printf_error(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_int_equal(buf_addstr(&b, "ab"), 0);
	assert_int_equal(buf_printf(&b, "x%lsy", L"\x20ac"), -EINVAL);
	assert_string_equal(buf_str(&b), "ab");
	buf_fini(&b);
}

static void test_growth_bounded(void **state)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1000);
	for (i = 0; i < 1000; i++)
		assert_int_equal(buf_addc(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(buf_addc(&b, 'x'), -ENOSPC);
	assert_int_equal(buf_len(&b), 1000);
	assert_true(b.cap <= 1001);
	for (i = 0; i < 1000; i++)
		assert_int_equal(buf_str(&b)[i], 'a' + i % 26);
	assert_int_equal(buf_str(&b)[1000], '\0');
	buf_fini(&b);
}

static void test_zero_initialised_refuses(void **state)
{
	struct buf b = { 0 };

	assert_int_equal(buf_addc(&b, 'x'), -ENOSPC);
	assert_string_equal(buf_str(&b), "");
	buf_fini(&b);
}

static void test_reset_truncate_reuse(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(buf_addstr(&b, "abcdefgh"), 0);
	buf_truncate(&b, 3);
	assert_string_equal(buf_str(&b), "abc");
	assert_int_equal(buf_addstr(&b, "12345"), 0);
	assert_string_equal(buf_str(&b), "abc12345");
	buf_reset(&b);
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(buf_addstr(&b, "abcdefgh"), 0);
	assert_int_equal(buf_addc(&b, 'i'), -ENOSPC);
	buf_fini(&b);
	assert_int_equal(buf_addstr(&b, "abcdefgh"), 0);
	assert_int_equal(buf_addc(&b, 'i'), -ENOSPC);
	buf_fini(&b);
}

static void test_take(void **state)
{
	struct buf b;
	size_t len;
	char *s;

	buf_init(&b, 16);
	assert_int_equal(buf_addstr(&b, "hello"), 0);
	s = buf_take(&b, &len);
	assert_string_equal(s, "hello");
	assert_int_equal(len, 5);
	assert_int_equal(buf_len(&b), 0);
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(buf_addstr(&b, "0123456789abcdef"), 0);
	assert_int_equal(buf_addc(&b, 'x'), -ENOSPC);
	free(s);
	s = buf_take(&b, NULL);
	assert_string_equal(s, "0123456789abcdef");
	free(s);
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_appends),
		cmocka_unit_test(test_binary_content),
		cmocka_unit_test(test_maximum_exact),
		cmocka_unit_test(test_failed_add_leaves_content),
		cmocka_unit_test(test_printf_error),
		cmocka_unit_test(test_growth_bounded),
		cmocka_unit_test(test_zero_initialised_refuses),
		cmocka_unit_test(test_reset_truncate_reuse),
		cmocka_unit_test(test_take),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
