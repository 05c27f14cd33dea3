/*
 * Unit tests of aggregator/count: which messages are counted (partition
 * held, not lost, no seek due, not paused, not below next), resends skipped
 * by their source's high mark, bad and unparsed messages counted in their
 * metrics yet moving next, late events, the event time's fallbacks, and
 * the cap turning values past max_values into (other). Messages are built
 * by hand as prep.c would leave them; the ledger is real.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/count.h"
#include "xalloc.h"

#define T0 1764000000000        /* an event time, ms */
#define MAX 8

struct fixture {
	struct metrics *reg;
	struct metrics_counter *other[1];
	struct count_env env;
	rd_kafka_message_t msgs[MAX];
	rd_kafka_message_t *ptrs[MAX];
	struct prep_slot slots[MAX];
	size_t n;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct metrics *reg = metrics_new();

	f->reg = reg;
	f->other[0] = metrics_counter(reg, "other_total", "-", NULL);
	f->env = (struct count_env){
		.ledger = ledger_new(), .cap = window_cap_new(2), .window_s = 5,
		.lateness_ms = 60000,
		.m = {
			metrics_counter(reg, "messages_total", "-", NULL),
			metrics_counter(reg, "events_total", "-", NULL),
			metrics_counter(reg, "bad_total", "-", NULL),
			metrics_counter(reg, "parse_errors_total", "-", NULL),
			metrics_counter(reg, "duplicates_total", "-", NULL),
			metrics_counter(reg, "late_total", "-", NULL),
			f->other,
		},
	};
	*state = f;
	return 0;
}

static void batch_clear(struct fixture *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->slots[i].vals);
		free(f->slots[i].arena);
	}
	memset(f->slots, 0, sizeof(f->slots));
	f->n = 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	batch_clear(f);
	ledger_free(f->env.ledger);
	window_cap_free(f->env.cap);
	metrics_free(f->reg);
	free(f);
	return 0;
}

/* Partition id held, its next offset next. */
static void hold(struct fixture *f, int32_t id, int64_t next)
{
	struct ledger_partition *p = ledger_partition(f->env.ledger, id);

	p->assigned = true;
	p->stored = p->next = next;
	if (!p->deltas)
		p->deltas = window_deltas_new();
}

/* A message of partition id at offset; key NULL: not keyed; time_ms -1:
 * the line has no time of its own; value NULL: a line that did not parse. */
static struct prep_slot *add(struct fixture *f, int32_t id, int64_t offset, const char *key,
			     int64_t log_offset, int64_t time_ms, const char *value)
{
	struct prep_slot *slot = &f->slots[f->n];

	assert_true(f->n < MAX);
	f->msgs[f->n] = (rd_kafka_message_t){.partition = id, .offset = offset};
	f->ptrs[f->n] = &f->msgs[f->n];
	f->n++;
	slot->ev.offset = log_offset;
	slot->ev.timestamp_ms = -1;
	slot->time_ms = time_ms;
	if (key) {
		slot->keyed = true;
		snprintf(slot->key, sizeof(slot->key), "%s", key);
	}
	if (!value) {
		slot->ev.line = (char *)"not in log_format";
		slot->ev.len = strlen(slot->ev.line);
		return slot;
	}
	slot->parsed = true;
	slot->arena = xstrdup(value);
	slot->vals = xcalloc(1, sizeof(*slot->vals));
	slot->vals[0] = (struct prep_value){0, (uint32_t)strlen(value), 0};
	slot->nvals = 1;
	return slot;
}

static void run(struct fixture *f)
{
	count_batch(&f->env, f->ptrs, f->slots, f->n);
	batch_clear(f);
}

static uint64_t get(struct metrics_counter *c)
{
	return metrics_counter_get(c);
}

static uint64_t hits(struct fixture *f, int32_t id)
{
	return window_deltas_hits(ledger_partition(f->env.ledger, id)->deltas);
}

/* Counted: next moves past each message, its value into the deltas. */
static void test_counts_and_moves_next(void **state)
{
	struct fixture *f = *state;

	hold(f, 0, 10);
	add(f, 0, 10, "s", 0, T0, "/a");
	add(f, 0, 11, "s", 100, T0, "/b");
	run(f);
	assert_int_equal(ledger_partition(f->env.ledger, 0)->next, 12);
	assert_int_equal(hits(f, 0), 2);
	assert_int_equal(get(f->env.m.messages), 2);
	assert_int_equal(get(f->env.m.events), 2);
}

/* Not held, lost, a seek due, paused, below next: not counted, next stays. */
static void test_partition_checks(void **state)
{
	struct fixture *f = *state;
	struct ledger_partition *p;

	add(f, 3, 0, NULL, 0, T0, "/never-held");
	run(f);
	hold(f, 0, 10);
	hold(f, 1, 10);
	hold(f, 2, 10);
	hold(f, 3, 10);
	ledger_partition(f->env.ledger, 0)->lost = true;
	ledger_partition(f->env.ledger, 1)->seek_due = true;
	add(f, 0, 10, NULL, 0, T0, "/lost");
	add(f, 1, 10, NULL, 0, T0, "/seek");
	add(f, 2, 9, NULL, 0, T0, "/below");
	run(f);
	f->env.paused = true;
	add(f, 3, 10, NULL, 0, T0, "/paused");
	run(f);
	for (int32_t id = 0; id < 4; id++) {
		p = ledger_partition(f->env.ledger, id);
		assert_int_equal(p->next, 10);
		assert_int_equal(window_deltas_hits(p->deltas), 0);
	}
	assert_int_equal(get(f->env.m.messages), 0);
	f->env.paused = false;
	ledger_partition(f->env.ledger, 2)->next = LEDGER_OFFSET_UNKNOWN;
	add(f, 2, 3, NULL, 0, T0, "/from-the-beginning");
	run(f);
	assert_int_equal(ledger_partition(f->env.ledger, 2)->next, 4);
}

/* A resend (log.offset at or below its source's mark) is skipped; another
 * source, or an unkeyed line, is not. */
static void test_duplicates(void **state)
{
	struct fixture *f = *state;

	hold(f, 0, 0);
	add(f, 0, 0, "s1", 100, T0, "/a");
	add(f, 0, 1, "s1", 200, T0, "/b");
	add(f, 0, 2, "s1", 200, T0, "/b");      /* resent */
	add(f, 0, 3, "s1", 100, T0, "/a");      /* resent */
	add(f, 0, 4, "s2", 100, T0, "/c");
	add(f, 0, 5, NULL, 100, T0, "/d");
	add(f, 0, 6, NULL, 100, T0, "/d");      /* no key: no de-duplication */
	run(f);
	assert_int_equal(get(f->env.m.duplicates), 2);
	assert_int_equal(get(f->env.m.events), 5);
	assert_int_equal(get(f->env.m.messages), 7);
	assert_int_equal(ledger_partition(f->env.ledger, 0)->next, 7);
	assert_int_equal(ledger_source(f->env.ledger, "s1", 0)->high, 200);
}

/* Bad and unparsed messages: counted in metrics, next moves, no event. */
static void test_bad_and_unparsed(void **state)
{
	struct fixture *f = *state;
	struct prep_slot *slot;

	hold(f, 0, 0);
	slot = add(f, 0, 0, NULL, 0, T0, NULL);
	slot->decode_rc = -1;
	snprintf(slot->why, sizeof(slot->why), "not JSON");
	add(f, 0, 1, NULL, 0, T0, NULL);        /* decoded, did not parse */
	run(f);
	assert_int_equal(get(f->env.m.bad), 1);
	assert_int_equal(get(f->env.m.parse_errors), 1);
	assert_int_equal(get(f->env.m.events), 0);
	assert_int_equal(get(f->env.m.messages), 2);
	assert_int_equal(ledger_partition(f->env.ledger, 0)->next, 2);
}

/* Late: older than the newest event seen by more than lateness; still
 * counted (the upsert adds to its window). */
static void test_late_events(void **state)
{
	struct fixture *f = *state;

	hold(f, 0, 0);
	add(f, 0, 0, NULL, 0, T0, "/now");
	add(f, 0, 1, NULL, 0, T0 - 59000, "/recent");
	add(f, 0, 2, NULL, 0, T0 - 61000, "/late");
	add(f, 0, 3, NULL, 0, T0 + 1000, "/newer");
	run(f);
	assert_int_equal(get(f->env.m.late), 1);
	assert_int_equal(get(f->env.m.events), 4);
	assert_int_equal(f->env.newest_ms, T0 + 1000);
}

/* No time of its own: the envelope's @timestamp, which places the line in
 * its own window (two windows: two keys for one value). */
static void test_event_time_fallback(void **state)
{
	struct fixture *f = *state;
	struct prep_slot *slot;

	hold(f, 0, 0);
	add(f, 0, 0, NULL, 0, T0, "/x");
	slot = add(f, 0, 1, NULL, 0, -1, "/x");
	slot->ev.timestamp_ms = T0 + 10000;
	run(f);
	assert_int_equal(window_deltas_count(ledger_partition(f->env.ledger, 0)->deltas), 2);
	assert_int_equal(f->env.newest_ms, T0 + 10000);
}

/* max_values 2: a third and fourth value of one window count as (other). */
static void test_cap(void **state)
{
	struct fixture *f = *state;

	hold(f, 0, 0);
	add(f, 0, 0, NULL, 0, T0, "/a");
	add(f, 0, 1, NULL, 0, T0, "/b");
	add(f, 0, 2, NULL, 0, T0, "/c");
	add(f, 0, 3, NULL, 0, T0, "/d");
	add(f, 0, 4, NULL, 0, T0, "/a");        /* admitted before: not other */
	run(f);
	assert_int_equal(get(f->other[0]), 2);
	assert_int_equal(window_deltas_count(ledger_partition(f->env.ledger, 0)->deltas), 3);
	assert_int_equal(hits(f, 0), 5);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_counts_and_moves_next),
		T(test_partition_checks),
		T(test_duplicates),
		T(test_bad_and_unparsed),
		T(test_late_events),
		T(test_event_time_fallback),
		T(test_cap),
	};

	return cmocka_run_group_tests_name("count", tests, NULL, NULL);
}
