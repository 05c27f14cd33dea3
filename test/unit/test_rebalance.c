/*
 * Unit tests of aggregator/rebalance.c, with count.c where a partition's
 * next offset may move after its fetch position was set anew, against a
 * fake consumer and store (ld --wrap): the calls are answered as the test
 * scripts them and recorded.
 *
 * Seeks: one that fails leaves the fetch position unknown (the fetcher may
 * be past messages dropped while the database was away): nothing of the
 * partition may be counted until a seek to p->next succeeds, tried again
 * with a backoff that doubles. Assignment: a partition starts at its stored
 * offset, or its log start when none is stored or what is stored aged out
 * (counted); a database away is waited for; a fatal error is reported.
 * Revocation: the pending counts are flushed and the offsets committed to
 * Kafka first, or dropped when the database is away.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "aggregator/count.h"
#include "aggregator/rebalance.h"
#include "logging.h"
#include "metrics.h"
#include "runtime.h"
#include "xalloc.h"

/* --- the fake consumer and store --------------------------------------- */

static struct {
	int64_t now_ms;
	int64_t lo, hi;                 /* every partition's watermarks */
	int load_rc[4];                 /* store_load_offsets' answers in turn */
	size_t loads;
	int64_t stored[4];              /* by partition */
	int flush_rc;                   /* store_flush's answer */
	size_t flushes;
	int32_t committed[4];           /* the last commit */
	int64_t committed_at[4];
	size_t ncommitted, commits;
	size_t pauses;
} fake;

int __wrap_consumer_seek(struct consumer *c, const int32_t *parts,
			 const int64_t *next, size_t n, bool *failed);
int __real_consumer_seek(struct consumer *c, const int32_t *parts,
			 const int64_t *next, size_t n, bool *failed);
int __wrap_consumer_watermarks(struct consumer *c, int32_t partition,
			       int64_t *lo, int64_t *hi, int timeout_ms);
void __wrap_consumer_commit(struct consumer *c, const int32_t *parts,
			    const int64_t *next, size_t n, int wait);
void __wrap_consumer_pause(struct consumer *c, const int32_t *parts, size_t n,
			   int pause);
int __wrap_store_load_offsets(struct store *st, const char *topic,
			      const int32_t *parts, size_t n, int64_t *offsets,
			      char *err, size_t errlen);
int __wrap_store_load_sources(struct store *st, const char *topic,
			      const int32_t *parts, size_t n, store_source_fn fn,
			      void *arg, char *err, size_t errlen);
int __wrap_store_flush(struct store *st, const struct store_flush *fl,
		       int32_t *lost, char *err, size_t errlen);
int64_t __wrap_runtime_now_ms(void);

/*
 * The seek, as the test asks: the mocked value is a mask of the indexes
 * into parts[] whose seek fails.
 */
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

int __wrap_consumer_watermarks(struct consumer *c, int32_t partition,
			       int64_t *lo, int64_t *hi, int timeout_ms)
{
	(void)c;
	(void)partition;
	(void)timeout_ms;
	*lo = fake.lo;
	*hi = fake.hi;
	return 0;
}

void __wrap_consumer_commit(struct consumer *c, const int32_t *parts,
			    const int64_t *next, size_t n, int wait)
{
	(void)c;
	(void)wait;
	fake.commits++;
	fake.ncommitted = n;
	for (size_t i = 0; i < n && i < 4; i++) {
		fake.committed[i] = parts[i];
		fake.committed_at[i] = next[i];
	}
}

void __wrap_consumer_pause(struct consumer *c, const int32_t *parts, size_t n,
			   int pause)
{
	(void)c;
	(void)parts;
	(void)n;
	(void)pause;
	fake.pauses++;
}

int __wrap_store_load_offsets(struct store *st, const char *topic,
			      const int32_t *parts, size_t n, int64_t *offsets,
			      char *err, size_t errlen)
{
	int rc = fake.load_rc[fake.loads < 4 ? fake.loads : 3];

	(void)st;
	(void)topic;
	fake.loads++;
	snprintf(err, errlen, "fake load %d", rc);
	for (size_t i = 0; !rc && i < n; i++)
		offsets[i] = fake.stored[parts[i]];
	return rc;
}

int __wrap_store_load_sources(struct store *st, const char *topic,
			      const int32_t *parts, size_t n, store_source_fn fn,
			      void *arg, char *err, size_t errlen)
{
	(void)st;
	(void)topic;
	(void)err;
	(void)errlen;
	for (size_t i = 0; i < n; i++)
		fn(arg, "agent-source", parts[i], 77);
	return 0;
}

/* On the writer's thread: records, asserts nothing. */
int __wrap_store_flush(struct store *st, const struct store_flush *fl,
		       int32_t *lost, char *err, size_t errlen)
{
	(void)st;
	(void)fl;
	*lost = -1;
	fake.flushes++;
	snprintf(err, errlen, "fake flush %d", fake.flush_rc);
	return fake.flush_rc;
}

int64_t __wrap_runtime_now_ms(void)
{
	return fake.now_ms;
}

#define TEST_FAIL_ALL (~0u)
#define TEST_FAIL_NONE 0u

/* --- the fixture ------------------------------------------------------- */

static const int64_t test_sizes[] = {5};
static const char *const test_names[] = {"url"};
static const struct aggregator_mariadb test_mariadb;

struct fixture {
	struct metrics *reg;
	struct ledger *ledger;
	struct stop *stop;
	struct flush *flush;
	struct rebalance *r;
	struct rebalance_env env;
	struct count_env count;
	struct flush_env flush_env;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char err[256];

	memset(&fake, 0, sizeof(fake));
	fake.now_ms = 1000000;
	fake.lo = 0;
	fake.hi = 1000;
	f->reg = metrics_new();
	f->ledger = ledger_new();
	f->stop = stop_new(err, sizeof(err));
	assert_non_null(f->stop);
	f->flush_env = (struct flush_env){
		.ledger = f->ledger, .sizes = test_sizes, .nsizes = 1,
		.names = test_names, .topic = "weblogs",
		.mariadb = &test_mariadb, .interval_ms = 1000,
		.max_pending = 1 << 30,
		.m = {.flushes = metrics_counter(f->reg, "flushes_total", "-", NULL),
		      .rows = metrics_counter(f->reg, "rows_total", "-", NULL),
		      .statements = metrics_counter(f->reg, "statements_total", "-", NULL),
		      .db_retry = metrics_counter(f->reg, "db_retry_total", "-", NULL),
		      .pending = metrics_gauge(f->reg, "pending", "-", NULL),
		      .last_flush = metrics_gauge(f->reg, "last_flush", "-", NULL),
		      .seconds = metrics_histogram(f->reg, "seconds", "-", NULL, 0, NULL),
		      .size_rows = metrics_histogram(f->reg, "size_rows", "-", NULL, 0, NULL)},
	};
	f->flush = flush_new(&f->flush_env);
	f->env = (struct rebalance_env){
		.ledger = f->ledger, .flush = f->flush, .stop = f->stop,
		.topic = "weblogs",
		.m = {.registry = f->reg,
		      .rebalances = metrics_counter(f->reg, "rebalances_total", "-", NULL),
		      .aged_out = metrics_counter(f->reg, "aged_out_total", "-", NULL),
		      .assigned = metrics_gauge(f->reg, "assigned", "-", NULL)},
	};
	f->r = rebalance_new(&f->env);
	f->count = (struct count_env){.ledger = f->ledger,
		.m = {.messages = metrics_counter(f->reg, "messages_total", "-", NULL),
		      .events = metrics_counter(f->reg, "events_total", "-", NULL),
		      .bad = metrics_counter(f->reg, "bad_total", "-", NULL)}};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rebalance_free(f->r);
	flush_free(f->flush);
	stop_free(f->stop);
	ledger_free(f->ledger);
	metrics_free(f->reg);
	free(f);
	return 0;
}

/*
 * Partition id, held, with offset next stored and next to count. The
 * result is valid until a partition of a larger id is added.
 */
static struct ledger_partition *test_hold(struct fixture *f, int32_t id, int64_t next)
{
	struct ledger_partition *p = ledger_partition(f->ledger, id);

	p->assigned = true;
	p->stored = p->next = next;
	return p;
}

/*
 * Count the message at offset of partition id as the loop would. Its value
 * is not the agent's JSON (a bad message): counting it still moves the
 * partition's next offset, which is all this test looks at.
 */
static void test_count(struct fixture *f, int32_t id, int64_t offset)
{
	rd_kafka_message_t msg = {.partition = id, .offset = offset};
	rd_kafka_message_t *msgs[] = {&msg};
	struct prep_slot *slot = xcalloc(1, sizeof(*slot));

	slot->decode_rc = -1;
	snprintf(slot->why, sizeof(slot->why), "a test message");
	count_batch(&f->count, msgs, slot, 1);
	free(slot);
}

/* --- seeks ------------------------------------------------------------- */

/*
 * The database was away while the fetcher read on to 150; it is back and
 * the seek to 100 fails: nothing may be counted, not even 100 (the next
 * message after it could come from anywhere).
 */
static void test_failed_seek_counts_nothing(void **state)
{
	struct fixture *f = *state;
	struct ledger_partition *p = test_hold(f, 0, 100);

	will_return(__wrap_consumer_seek, TEST_FAIL_ALL);
	rebalance_reposition(f->r);
	assert_true(p->seek_due);
	test_count(f, 0, 150);
	test_count(f, 0, 100);
	assert_int_equal(p->next, 100);
	assert_int_equal(metrics_counter_get(f->count.m.messages), 0);
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
	struct ledger_partition *p = test_hold(f, 0, 100);
	uint64_t generation;

	will_return(__wrap_consumer_seek, TEST_FAIL_ALL);
	rebalance_reposition(f->r);
	rebalance_retry_seek(f->r);             /* too early: no seek */
	assert_true(p->seek_due);
	fake.now_ms += 100;
	generation = ledger_generation(f->ledger);
	will_return(__wrap_consumer_seek, TEST_FAIL_NONE);
	rebalance_retry_seek(f->r);
	assert_false(p->seek_due);
	assert_true(ledger_generation(f->ledger) != generation);
	test_count(f, 0, 100);
	test_count(f, 0, 101);
	assert_int_equal(p->next, 102);
	fake.now_ms += 10000;
	rebalance_retry_seek(f->r);             /* nothing due: no seek */
}

/* The backoff doubles from 100 ms up to 5 s while the seek keeps failing:
 * no seek a millisecond before it is over, one when it is. */
static void test_seek_backoff(void **state)
{
	struct fixture *f = *state;
	int64_t want[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};

	test_hold(f, 0, 100);
	will_return(__wrap_consumer_seek, TEST_FAIL_ALL);
	rebalance_reposition(f->r);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		fake.now_ms += want[i] - 1;
		rebalance_retry_seek(f->r);     /* an unexpected seek fails the test */
		fake.now_ms += 1;
		will_return(__wrap_consumer_seek, TEST_FAIL_ALL);
		rebalance_retry_seek(f->r);
	}
}

/* Only the partition whose seek failed waits; the other counts on. */
static void test_seek_fails_for_one(void **state)
{
	struct fixture *f = *state;
	struct ledger_partition *p0, *p1;

	test_hold(f, 1, 20);                    /* parts[] grows to hold 1 */
	p0 = test_hold(f, 0, 10);
	p1 = ledger_partition(f->ledger, 1);
	will_return(__wrap_consumer_seek, 1u << 1);
	rebalance_reposition(f->r);
	test_count(f, 0, 10);
	test_count(f, 1, 25);
	assert_int_equal(p0->next, 11);
	assert_int_equal(p1->next, 20);
	fake.now_ms += 100;
	will_return(__wrap_consumer_seek, TEST_FAIL_NONE);
	rebalance_retry_seek(f->r);
	test_count(f, 1, 20);
	assert_int_equal(p1->next, 21);
	assert_int_equal(metrics_counter_get(f->count.m.messages), 2);
}

/* --- assignment -------------------------------------------------------- */

/* A partition starts at its stored offset; one with none stored at its
 * log start; the sources' high marks are loaded. */
static void test_assign_starts_at_stored(void **state)
{
	struct fixture *f = *state;
	int32_t ids[] = {0, 1};
	int64_t start[2];

	fake.lo = 50;
	fake.stored[0] = 100;
	fake.stored[1] = STORE_OFFSET_NONE;
	rebalance_assign(f->r, ids, 2, start);
	assert_int_equal(start[0], 100);
	assert_int_equal(start[1], 50);
	assert_true(ledger_partition(f->ledger, 0)->assigned);
	assert_int_equal(ledger_partition(f->ledger, 0)->next, 100);
	assert_int_equal(ledger_partition(f->ledger, 1)->next, 50);
	assert_int_equal(ledger_partition(f->ledger, 1)->stored, STORE_OFFSET_NONE);
	assert_int_equal(ledger_source(f->ledger, "agent-source", 1)->high, 77);
	assert_non_null(ledger_partition(f->ledger, 1)->lag);
	assert_true(rebalance_assigned_once(f->r));
	assert_false(rebalance_failed(f->r));
	assert_int_equal(metrics_gauge_get(f->env.m.assigned), 2);
	assert_int_equal(metrics_counter_get(f->env.m.aged_out), 0);
}

/* What is stored lies below the log start: those messages aged out of
 * Kafka before they were counted; start at the log start, and count them. */
static void test_assign_aged_out(void **state)
{
	struct fixture *f = *state;
	int32_t id = 0;
	int64_t start;

	fake.lo = 50;
	fake.stored[0] = 10;
	rebalance_assign(f->r, &id, 1, &start);
	assert_int_equal(start, 50);
	assert_int_equal(metrics_counter_get(f->env.m.aged_out), 40);
}

/* The database away at assignment is waited for (a partition cannot start
 * before its stored offset is known); a fatal error is reported and
 * nothing is held. */
static void test_assign_waits_or_fails(void **state)
{
	struct fixture *f = *state;
	int32_t id = 0;
	int64_t start;

	fake.load_rc[0] = STORE_RETRY;
	fake.stored[0] = 100;
	rebalance_assign(f->r, &id, 1, &start);
	assert_int_equal(fake.loads, 2);
	assert_int_equal(start, 100);
	assert_false(rebalance_failed(f->r));
	ledger_partition(f->ledger, 0)->assigned = false;
	fake.load_rc[2] = STORE_FATAL;
	rebalance_assign(f->r, &id, 1, &start);
	assert_true(rebalance_failed(f->r));
	assert_int_equal(start, RD_KAFKA_OFFSET_END);
	assert_false(ledger_partition(f->ledger, 0)->assigned);
}

/* --- revocation -------------------------------------------------------- */

/* Partition id held, stored at stored, with n messages counted since. */
static struct ledger_partition *test_hold_pending(struct fixture *f, int32_t id,
						  int64_t stored, uint64_t n)
{
	struct ledger_partition *p = test_hold(f, id, stored);

	p->deltas = window_deltas_new();
	window_deltas_add(p->deltas, 1700000000, 0, "/", 1, n);
	p->next = stored + (int64_t)n;
	return p;
}

/* Revoked with counts pending: flushed first, the stored offsets committed
 * to Kafka while the partition is still held, then let go. */
static void test_revoke_flushes_first(void **state)
{
	struct fixture *f = *state;
	struct ledger_partition *p = test_hold_pending(f, 0, 100, 3);
	int32_t id = 0;

	rebalance_revoke(f->r, &id, 1);
	assert_int_equal(fake.flushes, 1);
	assert_int_equal(fake.commits, 1);
	assert_int_equal(fake.ncommitted, 1);
	assert_int_equal(fake.committed_at[0], 103);
	p = ledger_partition(f->ledger, 0);
	assert_false(p->assigned);
	assert_int_equal(window_deltas_count(p->deltas), 0);
}

/* Revoked while the database is away: the counts are dropped (the next
 * owner counts them again from the stored offsets), nothing committed. */
static void test_revoke_database_down(void **state)
{
	struct fixture *f = *state;
	struct ledger_partition *p = test_hold_pending(f, 0, 100, 3);
	int32_t id = 0;

	fake.flush_rc = STORE_RETRY;
	assert_int_equal(flush_sync(f->flush), -1);
	assert_true(flush_db_down(f->flush));
	rebalance_revoke(f->r, &id, 1);
	assert_int_equal(fake.flushes, 1);
	assert_int_equal(fake.commits, 0);
	p = ledger_partition(f->ledger, 0);
	assert_false(p->assigned);
	assert_int_equal(window_deltas_count(p->deltas), 0);
	assert_false(ledger_any_pending(f->ledger));
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
		cmocka_unit_test_setup_teardown(test_assign_starts_at_stored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_assign_aged_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_assign_waits_or_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_revoke_flushes_first, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_revoke_database_down, setup,
						teardown),
		cmocka_unit_test(test_consumer_seek_reports),
	};

	logging_init("test_rebalance", LOGGING_INFO);
	return cmocka_run_group_tests_name("rebalance", tests, NULL, NULL);
}
