/*
 * Unit tests of aggregator/rebalance.c and count.c together: where a
 * partition's next offset may move after its fetch position was set anew.
 * A seek that fails leaves the fetch position unknown (the fetcher may be
 * past messages dropped while the database was away): nothing of the
 * partition may be counted until a seek to p->next succeeds. consumer_seek
 * is replaced (ld --wrap) by one that fails on demand; the aggregator is a
 * bare context with only what rebalance.c and count.c use, which is why
 * this test reads aggregator_private.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "aggregator/aggregator_private.h"
#include "logging.h"
#include "metrics.h"
#include "xalloc.h"

/*
 * The seek, as the test asks: the mocked value is a mask of the indexes
 * into parts[] whose seek fails.
 */
int __wrap_consumer_seek(struct consumer *c, const int32_t *parts,
			 const int64_t *next, size_t n, bool *failed);
int __real_consumer_seek(struct consumer *c, const int32_t *parts,
			 const int64_t *next, size_t n, bool *failed);

int __wrap_consumer_seek(struct consumer *c, const int32_t *parts,
			 const int64_t *next, size_t n, bool *failed)
{
	unsigned mask = (unsigned)mock();
	int rc = 0;

	(void)c;
	(void)parts;
	(void)next;
	for (size_t i = 0; i < n; i++) {
		failed[i] = mask >> i & 1;
		rc = failed[i] ? -1 : rc;
	}
	return rc;
}

#define TEST_FAIL_ALL (~0u)
#define TEST_FAIL_NONE 0u

struct fixture {
	struct aggregator_config cfg;
	struct aggregator ag;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct agg_metrics *m = &f->ag.m;
	struct metrics *reg = metrics_new();

	f->ag.cfg = &f->cfg;
	f->ag.metrics = reg;
	f->ag.ledger = ledger_new();
	m->messages = metrics_counter(reg, "messages_total", "-", NULL);
	m->events = metrics_counter(reg, "events_total", "-", NULL);
	m->bad = metrics_counter(reg, "bad_total", "-", NULL);
	f->ag.count = (struct count_env){.ledger = f->ag.ledger,
		.m = {.messages = m->messages, .events = m->events, .bad = m->bad}};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ledger_free(f->ag.ledger);
	metrics_free(f->ag.metrics);
	free(f);
	return 0;
}

/*
 * Partition id, held, with offset next stored and next to count. The
 * result is valid until a partition of a larger id is added.
 */
static struct ledger_partition *test_hold(struct aggregator *ag, int32_t id,
					  int64_t next)
{
	struct ledger_partition *p = ledger_partition(ag->ledger, id);

	p->assigned = true;
	p->stored = p->next = next;
	return p;
}

/*
 * Count the message at offset of partition id as the loop would. Its value
 * is not the agent's JSON (a bad message): counting it still moves the
 * partition's next offset, which is all this test looks at.
 */
static void test_count(struct aggregator *ag, int32_t id, int64_t offset)
{
	rd_kafka_message_t msg = {.partition = id, .offset = offset};
	rd_kafka_message_t *msgs[] = {&msg};
	struct prep_slot *slot = xcalloc(1, sizeof(*slot));

	slot->decode_rc = -1;
	snprintf(slot->why, sizeof(slot->why), "a test message");
	count_batch(&ag->count, msgs, slot, 1);
	free(slot);
}

/*
 * The database was away while the fetcher read on to 150; it is back and
 * the seek to 100 fails: nothing may be counted, not even 100 (the next
 * message after it could come from anywhere).
 */
static void test_failed_seek_counts_nothing(void **state)
{
	struct fixture *f = *state;
	struct ledger_partition *p = test_hold(&f->ag, 0, 100);

	will_return(__wrap_consumer_seek, TEST_FAIL_ALL);
	rebalance_reposition(&f->ag);
	assert_true(p->seek_due);
	test_count(&f->ag, 0, 150);
	test_count(&f->ag, 0, 100);
	assert_int_equal(p->next, 100);
	assert_int_equal(metrics_counter_get(f->ag.m.messages), 0);
}

/*
 * The seek is tried again once its backoff is over, not before (a call to
 * the seek the test did not expect fails it); when it succeeds, what was
 * polled before is dropped (the generation moves) and counting goes on
 * from 100.
 */
static void test_seek_retried(void **state)
{
	struct fixture *f = *state;
	struct ledger_partition *p = test_hold(&f->ag, 0, 100);
	uint64_t generation;

	will_return(__wrap_consumer_seek, TEST_FAIL_ALL);
	rebalance_reposition(&f->ag);
	rebalance_retry_seek(&f->ag);           /* too early: no seek */
	assert_true(p->seek_due);
	f->ag.seek_retry_ms = runtime_now_ms();
	generation = ledger_generation(f->ag.ledger);
	will_return(__wrap_consumer_seek, TEST_FAIL_NONE);
	rebalance_retry_seek(&f->ag);
	assert_false(p->seek_due);
	assert_true(ledger_generation(f->ag.ledger) != generation);
	test_count(&f->ag, 0, 100);
	test_count(&f->ag, 0, 101);
	assert_int_equal(p->next, 102);
	rebalance_retry_seek(&f->ag);           /* nothing due: no seek */
}

/* The backoff doubles from 100 ms up to 5 s while the seek keeps failing. */
static void test_seek_backoff(void **state)
{
	struct fixture *f = *state;
	int64_t want[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};

	test_hold(&f->ag, 0, 100);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		f->ag.seek_retry_ms = 0;
		will_return(__wrap_consumer_seek, TEST_FAIL_ALL);
		if (i == 0)
			rebalance_reposition(&f->ag);
		else
			rebalance_retry_seek(&f->ag);
		assert_int_equal(f->ag.seek_backoff_ms, want[i]);
	}
}

/* Only the partition whose seek failed waits; the other counts on. */
static void test_seek_fails_for_one(void **state)
{
	struct fixture *f = *state;
	struct ledger_partition *p0, *p1;

	test_hold(&f->ag, 1, 20);               /* parts[] grows to hold 1 */
	p0 = test_hold(&f->ag, 0, 10);
	p1 = ledger_partition(f->ag.ledger, 1);
	will_return(__wrap_consumer_seek, 1u << 1);
	rebalance_reposition(&f->ag);
	test_count(&f->ag, 0, 10);
	test_count(&f->ag, 1, 25);
	assert_int_equal(p0->next, 11);
	assert_int_equal(p1->next, 20);
	f->ag.seek_retry_ms = 0;
	will_return(__wrap_consumer_seek, TEST_FAIL_NONE);
	rebalance_retry_seek(&f->ag);
	test_count(&f->ag, 1, 20);
	assert_int_equal(p1->next, 21);
	assert_int_equal(metrics_counter_get(f->ag.m.messages), 2);
}

/*
 * The real consumer_seek() reports which partitions did not move: here,
 * against librdkafka's mock cluster, a consumer that holds no partition
 * yet cannot seek any.
 */
static void test_consumer_seek_reports(void **state)
{
	static const struct consumer_events events = {NULL, NULL};
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	rd_kafka_mock_cluster_t *mcluster;
	struct aggregator_kafka cfg = {.topic = "weblogs", .group = "test"};
	struct consumer *c;
	int32_t parts[] = {0, 1};
	int64_t next[] = {5, 7};
	bool failed[] = {false, false};

	(void)state;
	assert_non_null(rk);
	mcluster = rd_kafka_mock_cluster_new(rk, 1);
	assert_non_null(mcluster);
	assert_int_equal(rd_kafka_mock_topic_create(mcluster, "weblogs", 2, 1), 0);
	cfg.brokers = (char *)rd_kafka_mock_cluster_bootstraps(mcluster);
	c = consumer_new(&cfg, &events, NULL, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(__real_consumer_seek(c, parts, next, 2, failed), -1);
	assert_true(failed[0]);
	assert_true(failed[1]);
	consumer_free(c);
	rd_kafka_mock_cluster_destroy(mcluster);
	rd_kafka_destroy(rk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_failed_seek_counts_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_seek_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seek_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seek_fails_for_one, setup,
						teardown),
		cmocka_unit_test(test_consumer_seek_reports),
	};

	logging_init("test_rebalance", LOGGING_INFO);
	return cmocka_run_group_tests_name("rebalance", tests, NULL, NULL);
}
