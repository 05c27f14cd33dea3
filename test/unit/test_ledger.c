/*
 * Unit tests of aggregator/ledger: partitions created on demand and what
 * is pending in them, the sources' high marks (a resend is refused, a
 * moved key follows its partition), the dirty high marks a flush takes
 * (sorted, once), dropping a partition's sources, and the generation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/ledger.h"

static void test_partitions_on_demand(void **state)
{
	struct ledger *l = ledger_new();
	struct ledger_partition *p;

	(void)state;
	assert_int_equal(ledger_count(l), 0);
	assert_null(ledger_partition(l, -1));
	p = ledger_partition(l, 3);
	assert_non_null(p);
	assert_int_equal(ledger_count(l), 4);
	for (int32_t id = 0; id < 4; id++) {
		p = ledger_partition(l, id);
		assert_int_equal(p->id, id);
		assert_false(p->assigned);
		assert_null(p->deltas);
	}
	assert_ptr_equal(ledger_partition(l, 2), ledger_partition(l, 2));
	assert_int_equal(ledger_count(l), 4);
	ledger_free(l);
	ledger_free(NULL);
}

/* Pending: held, not lost, started, and next not what MariaDB holds. */
static void test_pending(void **state)
{
	struct ledger *l = ledger_new();
	struct ledger_partition *p = ledger_partition(l, 0);

	(void)state;
	p->assigned = true;
	p->stored = p->next = 10;
	assert_false(ledger_pending(p));
	assert_false(ledger_any_pending(l));
	p->next = 12;
	assert_true(ledger_pending(p));
	assert_true(ledger_any_pending(l));
	p->lost = true;
	assert_false(ledger_pending(p));
	p->lost = false;
	p->next = LEDGER_OFFSET_UNKNOWN;
	assert_false(ledger_pending(p));
	p->next = 12;
	p->assigned = false;
	assert_false(ledger_any_pending(l));
	ledger_free(l);
}

/* The pending keys and bytes are those of the partitions held. */
static void test_pending_keys(void **state)
{
	struct ledger *l = ledger_new();
	struct ledger_partition *p0, *p1;

	(void)state;
	ledger_partition(l, 1);
	p0 = ledger_partition(l, 0);
	p1 = ledger_partition(l, 1);
	p0->deltas = window_deltas_new();
	p1->deltas = window_deltas_new();
	window_deltas_add(p0->deltas, 0, 0, "/a", 2, 1);
	window_deltas_add(p0->deltas, 0, 0, "/b", 2, 1);
	window_deltas_add(p1->deltas, 0, 0, "/c", 2, 1);
	assert_int_equal(ledger_pending_keys(l), 0);
	assert_int_equal(ledger_pending_bytes(l), 0);
	p0->assigned = true;
	assert_int_equal(ledger_pending_keys(l), 2);
	assert_true(ledger_pending_bytes(l) > 0);
	p1->assigned = true;
	assert_int_equal(ledger_pending_keys(l), 3);
	ledger_free(l);         /* frees the deltas too */
}

/* A resend (at or below the high mark) is refused and changes nothing. */
static void test_high_marks(void **state)
{
	struct ledger *l = ledger_new();
	struct store_source *rows;
	size_t n;

	(void)state;
	assert_true(ledger_count_source(l, "k1", 0, 100));
	assert_false(ledger_count_source(l, "k1", 0, 100));
	assert_false(ledger_count_source(l, "k1", 0, 50));
	assert_true(ledger_count_source(l, "k1", 0, 101));
	assert_int_equal(ledger_source(l, "k1", 0)->high, 101);
	assert_int_equal(ledger_source(l, "new", 0)->high, -1);
	rows = ledger_take_dirty(l, &n);
	assert_int_equal(n, 1);         /* once, however often it moved */
	assert_string_equal(rows[0].source, "k1");
	assert_int_equal(rows[0].high, 101);
	free((char *)rows[0].source);
	free(rows);
	rows = ledger_take_dirty(l, &n);
	assert_int_equal(n, 0);
	free(rows);
	assert_false(ledger_count_source(l, "k1", 0, 101));     /* still known */
	ledger_free(l);
}

/* The dirty high marks come sorted by source, with their partitions. */
static void test_take_dirty_sorted(void **state)
{
	static const char *keys[] = {"m", "c", "x", "a", "k"};
	struct ledger *l = ledger_new();
	struct store_source *rows;
	size_t n;

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_true(ledger_count_source(l, keys[i], i % 2, 10 * i));
	assert_true(ledger_count_source(l, "m", 3, 7));         /* moved to partition 3 */
	rows = ledger_take_dirty(l, &n);
	assert_int_equal(n, 5);
	for (size_t i = 0; i + 1 < n; i++)
		assert_true(strcmp(rows[i].source, rows[i + 1].source) < 0);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(rows[i].source, "m")) {
			assert_int_equal(rows[i].partition, 3);
			assert_int_equal(rows[i].high, 7);
		}
		free((char *)rows[i].source);
	}
	free(rows);
	ledger_free(l);
}

/* Dropping a partition's sources forgets their marks and dirtiness. */
static void test_drop_sources(void **state)
{
	struct ledger *l = ledger_new();
	struct store_source *rows;
	size_t n;

	(void)state;
	assert_true(ledger_count_source(l, "a0", 0, 5));
	assert_true(ledger_count_source(l, "b1", 1, 5));
	assert_true(ledger_count_source(l, "c0", 0, 5));
	ledger_drop_sources(l, 0);
	rows = ledger_take_dirty(l, &n);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].source, "b1");
	free((char *)rows[0].source);
	free(rows);
	assert_true(ledger_count_source(l, "a0", 0, 5));        /* known no more */
	assert_false(ledger_count_source(l, "b1", 1, 5));
	ledger_free(l);
}

static void test_generation(void **state)
{
	struct ledger *l = ledger_new();
	uint64_t g = ledger_generation(l);

	(void)state;
	ledger_bump(l);
	assert_true(ledger_generation(l) != g);
	g = ledger_generation(l);
	assert_int_equal(ledger_generation(l), g);
	ledger_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partitions_on_demand),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_pending_keys),
		cmocka_unit_test(test_high_marks),
		cmocka_unit_test(test_take_dirty_sorted),
		cmocka_unit_test(test_drop_sources),
		cmocka_unit_test(test_generation),
	};

	return cmocka_run_group_tests_name("ledger", tests, NULL, NULL);
}
