/*
 * Unit tests of aggregator/flush: the outcomes of a flush against a fake
 * store. The store's calls are replaced (ld --wrap) by ones that answer as
 * the test scripts them and record what they were asked: store_flush (on
 * the writer's thread, so it records into plain variables and asserts
 * nothing), store_open and store_load_offsets (the recovery's reads on the
 * loop's thread), store_expire (retention); the monotonic clock too, so
 * that backoffs and intervals pass when the test says.
 *
 * What must hold: a commit moves the stored offsets in the ledger and
 * reports it; a compare-and-set miss drops that partition's counts and
 * high marks, marks it lost and writes the rest; a database error keeps
 * the job whole, reports the database down, and retries it after the
 * backoff, unchanged; a COMMIT whose answer was lost is settled by reading
 * the offsets back; a fatal error stops; retention runs between flushes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregator/flush.h"
#include "logging.h"
#include "metrics.h"
#include "runtime.h"
#include "xalloc.h"

#define TEST_MAX_CALLS 8
#define TEST_MAX_PARTS 4

/* --- the fake store ---------------------------------------------------- */

/* What store_flush() was asked, call by call. */
struct test_flush_call {
	struct store_offset offsets[TEST_MAX_PARTS];
	size_t noffsets;
	uint64_t hits;                  /* of the base window's rows */
	size_t nsources;
};

static struct {
	int rc[TEST_MAX_CALLS];         /* store_flush's answers, in order */
	int32_t lost[TEST_MAX_CALLS];
	struct test_flush_call calls[TEST_MAX_CALLS];
	size_t ncalls;
	int open_rc;
	size_t opens;
	int64_t stored[TEST_MAX_PARTS]; /* what store_load_offsets reads */
	size_t loads;
	int64_t expire_gone[TEST_MAX_CALLS];
	int64_t expire_size[TEST_MAX_CALLS], expire_before[TEST_MAX_CALLS];
	size_t expires;
	int64_t now_ms;
	char order[TEST_MAX_CALLS * 2 + 1];     /* F: a flush, E: an expiry */
	size_t norder;
} fake;

static void fake_order(char what)
{
	if (fake.norder < sizeof(fake.order) - 1)
		fake.order[fake.norder++] = what;
}

int __wrap_store_flush(struct store *st, const struct store_flush *fl,
		       int32_t *lost, char *err, size_t errlen);
int __wrap_store_open(struct store *st, char *err, size_t errlen);
int __wrap_store_load_offsets(struct store *st, const char *topic,
			      const int32_t *parts, size_t n, int64_t *offsets,
			      char *err, size_t errlen);
int64_t __wrap_store_expire(struct store *st, int64_t size_s, int64_t before_s,
			    int64_t batch, char *err, size_t errlen);
int64_t __wrap_runtime_now_ms(void);

int __wrap_store_flush(struct store *st, const struct store_flush *fl,
		       int32_t *lost, char *err, size_t errlen)
{
	size_t i = fake.ncalls++;
	struct test_flush_call *c = &fake.calls[i < TEST_MAX_CALLS ? i : 0];

	(void)st;
	fake_order('F');
	c->noffsets = fl->noffsets;
	for (size_t k = 0; k < fl->noffsets && k < TEST_MAX_PARTS; k++)
		c->offsets[k] = fl->offsets[k];
	c->hits = 0;
	for (size_t k = 0; k < fl->nrows; k++)
		if (fl->rows[k].window_seconds == 5)
			c->hits += fl->rows[k].hits;
	c->nsources = fl->nsources;
	if (i >= TEST_MAX_CALLS)
		return STORE_FATAL;
	*lost = fake.lost[i];
	snprintf(err, errlen, "fake answer %d", fake.rc[i]);
	return fake.rc[i];
}

int __wrap_store_open(struct store *st, char *err, size_t errlen)
{
	(void)st;
	fake.opens++;
	snprintf(err, errlen, "fake open %d", fake.open_rc);
	return fake.open_rc;
}

int __wrap_store_load_offsets(struct store *st, const char *topic,
			      const int32_t *parts, size_t n, int64_t *offsets,
			      char *err, size_t errlen)
{
	(void)st;
	(void)topic;
	(void)err;
	(void)errlen;
	fake.loads++;
	for (size_t i = 0; i < n; i++)
		offsets[i] = fake.stored[parts[i]];
	return 0;
}

int64_t __wrap_store_expire(struct store *st, int64_t size_s, int64_t before_s,
			    int64_t batch, char *err, size_t errlen)
{
	size_t i = fake.expires++;

	(void)st;
	fake_order('E');
	(void)batch;
	(void)err;
	(void)errlen;
	if (i >= TEST_MAX_CALLS)
		return 0;
	fake.expire_size[i] = size_s;
	fake.expire_before[i] = before_s;
	return fake.expire_gone[i];
}

int64_t __wrap_runtime_now_ms(void)
{
	return fake.now_ms;
}

/* --- the fixture ------------------------------------------------------- */

static const int64_t test_sizes[] = {5, 60};
static const char *const test_names[] = {"url"};
static const struct aggregator_mariadb test_mariadb;

struct fixture {
	struct metrics *reg;
	struct ledger *ledger;
	struct flush_env env;
	struct flush *flush;
	struct config_duration_pair keep[1];
	struct config_duration_map retention;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct flush_metrics *m = &f->env.m;

	memset(&fake, 0, sizeof(fake));
	fake.now_ms = 1000000;
	for (size_t i = 0; i < TEST_MAX_CALLS; i++)
		fake.lost[i] = -1;
	f->reg = metrics_new();
	f->ledger = ledger_new();
	m->flushes = metrics_counter(f->reg, "flushes_total", "-", NULL);
	m->rows = metrics_counter(f->reg, "rows_total", "-", NULL);
	m->statements = metrics_counter(f->reg, "statements_total", "-", NULL);
	m->conflicts = metrics_counter(f->reg, "conflicts_total", "-", NULL);
	m->expired = metrics_counter(f->reg, "expired_total", "-", NULL);
	m->db_retry = metrics_counter(f->reg, "db_retry_total", "-", NULL);
	m->db_fatal = metrics_counter(f->reg, "db_fatal_total", "-", NULL);
	m->pending = metrics_gauge(f->reg, "pending", "-", NULL);
	m->last_flush = metrics_gauge(f->reg, "last_flush", "-", NULL);
	m->seconds = metrics_histogram(f->reg, "seconds", "-", NULL, 0, NULL);
	m->size_rows = metrics_histogram(f->reg, "size_rows", "-", NULL, 0, NULL);
	f->env = (struct flush_env){
		.ledger = f->ledger, .sizes = test_sizes, .nsizes = 2,
		.names = test_names, .topic = "weblogs",
		.mariadb = &test_mariadb,
		.interval_ms = 1000, .max_pending = 1 << 30, .m = f->env.m,
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	flush_free(f->flush);
	ledger_free(f->ledger);
	metrics_free(f->reg);
	free(f);
	return 0;
}

static void test_start(struct fixture *f)
{
	f->flush = flush_new(&f->env);
}

/* Partition id held, stored at stored, with hits counted since (one
 * message each) and one source counted. */
static void test_hold(struct fixture *f, int32_t id, int64_t stored, uint64_t hits)
{
	struct ledger_partition *p = ledger_partition(f->ledger, id);
	char key[16];

	p->assigned = true;
	p->stored = stored;
	p->next = stored + (int64_t)hits;
	if (!p->deltas)
		p->deltas = window_deltas_new();
	window_deltas_add(p->deltas, 1700000000, 0, "/index.html", 11, hits);
	snprintf(key, sizeof(key), "source-%d", (int)id);
	assert_true(ledger_count_source(f->ledger, key, id, (int64_t)hits));
}

/* Tick until the writer has nothing (outcomes collected). */
static void test_settle(struct flush *f)
{
	for (int i = 0; i < 5000; i++) {
		flush_tick(f);
		if (!flush_writing(f))
			return;
		usleep(1000);
	}
	fail_msg("the writer never finished");
}

/* --- the tests --------------------------------------------------------- */

/* Committed: the stored offsets move to next, the counts leave the
 * partitions (which count on into fresh tables), Kafka's commit is due. */
static void test_commit(void **state)
{
	struct fixture *f = *state;

	test_start(f);
	test_hold(f, 0, 100, 10);
	test_hold(f, 1, 200, 5);
	assert_int_equal(flush_sync(f->flush), 0);
	assert_int_equal(fake.ncalls, 1);
	assert_int_equal(fake.calls[0].noffsets, 2);
	assert_int_equal(fake.calls[0].offsets[0].expected, 100);
	assert_int_equal(fake.calls[0].offsets[0].next, 110);
	assert_int_equal(fake.calls[0].offsets[1].expected, 200);
	assert_int_equal(fake.calls[0].offsets[1].next, 205);
	assert_int_equal(fake.calls[0].hits, 15);
	assert_int_equal(fake.calls[0].nsources, 2);
	assert_int_equal(ledger_partition(f->ledger, 0)->stored, 110);
	assert_int_equal(ledger_partition(f->ledger, 1)->stored, 205);
	assert_int_equal(window_deltas_count(ledger_partition(f->ledger, 0)->deltas), 0);
	assert_false(ledger_any_pending(f->ledger));
	assert_int_equal(flush_outcomes(f->flush), FLUSH_COMMITTED);
	assert_int_equal(flush_outcomes(f->flush), 0);  /* forgotten once said */
	assert_int_equal(metrics_counter_get(f->env.m.flushes), 1);
	assert_int_equal(flush_sync(f->flush), 0);      /* nothing left: no call */
	assert_int_equal(fake.ncalls, 1);
}

/* A compare-and-set miss on partition 1: its counts and high marks are
 * dropped and it is lost; partition 0 is written at once without it. */
static void test_cas_miss(void **state)
{
	struct fixture *f = *state;
	size_t n;
	struct store_source *left;

	test_start(f);
	test_hold(f, 0, 100, 10);
	test_hold(f, 1, 200, 5);
	fake.rc[0] = STORE_LOST;
	fake.lost[0] = 1;
	assert_int_equal(flush_sync(f->flush), 0);
	assert_int_equal(fake.ncalls, 2);
	assert_int_equal(fake.calls[1].noffsets, 1);
	assert_int_equal(fake.calls[1].offsets[0].partition, 0);
	assert_int_equal(fake.calls[1].hits, 10);
	assert_int_equal(fake.calls[1].nsources, 1);
	assert_true(ledger_partition(f->ledger, 1)->lost);
	assert_int_equal(ledger_partition(f->ledger, 1)->stored, 200);
	assert_int_equal(window_deltas_count(ledger_partition(f->ledger, 1)->deltas), 0);
	assert_int_equal(ledger_partition(f->ledger, 0)->stored, 110);
	assert_int_equal(flush_outcomes(f->flush), FLUSH_COMMITTED | FLUSH_LOST);
	assert_int_equal(metrics_counter_get(f->env.m.conflicts), 1);
	left = ledger_take_dirty(f->ledger, &n);
	assert_int_equal(n, 0);         /* partition 1's source is gone too */
	free(left);
}

/* The database away: the job is kept whole, nothing is retried before the
 * backoff, then the same job is written; what was counted meanwhile waits
 * for the next flush. */
static void test_down_keeps_and_retries(void **state)
{
	struct fixture *f = *state;

	test_start(f);
	test_hold(f, 0, 100, 10);
	fake.rc[0] = STORE_RETRY;
	assert_int_equal(flush_sync(f->flush), -1);
	assert_true(flush_db_down(f->flush));
	assert_int_equal(flush_outcomes(f->flush), FLUSH_DOWN);
	assert_int_equal(ledger_partition(f->ledger, 0)->stored, 100);
	ledger_partition(f->ledger, 0)->next = 113;     /* counted meanwhile */
	flush_tick(f->flush);
	assert_int_equal(fake.opens, 0);        /* the backoff is not over */
	assert_int_equal(flush_step(f->flush), -1);
	fake.now_ms += 200;
	fake.stored[0] = 100;                   /* rolled back */
	test_settle(f->flush);
	assert_int_equal(fake.opens, 1);
	assert_int_equal(fake.ncalls, 2);
	assert_int_equal(fake.calls[1].noffsets, 1);
	assert_int_equal(fake.calls[1].offsets[0].expected, 100);
	assert_int_equal(fake.calls[1].offsets[0].next, 110);
	assert_int_equal(fake.calls[1].hits, 10);
	assert_false(flush_db_down(f->flush));
	assert_int_equal(flush_outcomes(f->flush), FLUSH_COMMITTED | FLUSH_RESUMED);
	assert_int_equal(ledger_partition(f->ledger, 0)->stored, 110);
	assert_true(ledger_pending(ledger_partition(f->ledger, 0)));
	assert_int_equal(metrics_counter_get(f->env.m.db_retry), 1);
}

/* The backoff doubles while the database stays away. */
static void test_backoff_doubles(void **state)
{
	struct fixture *f = *state;
	int64_t waits[] = {200, 400, 800, 1600};

	test_start(f);
	test_hold(f, 0, 100, 10);
	fake.rc[0] = STORE_RETRY;
	fake.open_rc = STORE_RETRY;
	assert_int_equal(flush_sync(f->flush), -1);
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
		size_t opens = fake.opens;

		fake.now_ms += waits[i] - 1;
		flush_tick(f->flush);
		assert_int_equal(fake.opens, opens);
		fake.now_ms += 1;
		flush_tick(f->flush);
		assert_int_equal(fake.opens, opens + 1);
	}
	assert_int_equal(fake.ncalls, 1);
}

/* A flush of partitions 0 (100 -> 110) and 1 (200 -> 205) whose answer is
 * lost; MariaDB then holds stored0 and stored1, and the backoff is over. */
static void test_answer_lost(struct fixture *f, int64_t stored0, int64_t stored1)
{
	test_start(f);
	test_hold(f, 0, 100, 10);
	test_hold(f, 1, 200, 5);
	fake.rc[0] = STORE_RETRY;
	assert_int_equal(flush_sync(f->flush), -1);
	fake.stored[0] = stored0;
	fake.stored[1] = stored1;
	fake.now_ms += 200;
}

/* The connection died during COMMIT, which went through: the offsets read
 * back are the job's; it is not written again. */
static void test_unknown_commit_committed(void **state)
{
	struct fixture *f = *state;

	test_answer_lost(f, 110, 205);
	flush_tick(f->flush);
	assert_int_equal(fake.loads, 1);
	assert_int_equal(fake.ncalls, 1);
	assert_false(flush_db_down(f->flush));
	assert_int_equal(flush_outcomes(f->flush),
			 FLUSH_DOWN | FLUSH_COMMITTED | FLUSH_RESUMED);
	assert_int_equal(ledger_partition(f->ledger, 0)->stored, 110);
	assert_int_equal(ledger_partition(f->ledger, 1)->stored, 205);
}

/* Read back, partition 1 holds neither value: another member took it. It
 * is dropped and lost; partition 0 (rolled back) is written again. */
static void test_unknown_commit_taken(void **state)
{
	struct fixture *f = *state;

	test_answer_lost(f, 100, 250);
	test_settle(f->flush);
	assert_int_equal(fake.ncalls, 2);
	assert_int_equal(fake.calls[1].noffsets, 1);
	assert_int_equal(fake.calls[1].offsets[0].partition, 0);
	assert_true(ledger_partition(f->ledger, 1)->lost);
	assert_int_equal(ledger_partition(f->ledger, 0)->stored, 110);
	assert_int_equal(flush_outcomes(f->flush),
			 FLUSH_DOWN | FLUSH_LOST | FLUSH_COMMITTED | FLUSH_RESUMED);
}

/* A fatal error: reported, and nothing more is written. */
static void test_fatal(void **state)
{
	struct fixture *f = *state;

	test_start(f);
	test_hold(f, 0, 100, 10);
	fake.rc[0] = STORE_FATAL;
	assert_int_equal(flush_sync(f->flush), -1);
	assert_true(flush_fatal(f->flush));
	assert_int_equal(flush_outcomes(f->flush), FLUSH_FATAL);
	fake.now_ms += 60000;
	flush_tick(f->flush);
	assert_int_equal(flush_step(f->flush), -1);
	assert_int_equal(fake.ncalls, 1);
	assert_int_equal(metrics_counter_get(f->env.m.db_fatal), 1);
}

/* Retention: batches while a batch comes back full (one writer job each),
 * the round over after a short one, no round before a minute; a flush due
 * goes before the next batch. */
static void test_retention(void **state)
{
	struct fixture *f = *state;
	int64_t wall_s = runtime_wall_ms() / 1000;

	f->keep[0] = (struct config_duration_pair){5000, 3600000};
	f->retention = (struct config_duration_map){1, f->keep};
	f->env.retention = &f->retention;
	fake.expire_gone[0] = fake.expire_gone[1] = 5000;
	fake.expire_gone[2] = 17;
	test_start(f);
	flush_tick(f->flush);                   /* the first batch starts */
	assert_true(flush_writing(f->flush));
	test_hold(f, 0, 100, 10);
	fake.now_ms += 1000;                    /* and a flush is due */
	while (fake.ncalls == 0) {
		flush_tick(f->flush);
		usleep(1000);
	}
	test_settle(f->flush);
	assert_string_equal(fake.order, "EFEE");
	assert_int_equal(fake.expire_size[0], 5);
	assert_true(fake.expire_before[0] >= wall_s - 3600 &&
		    fake.expire_before[0] <= wall_s - 3600 + 5);
	assert_int_equal(metrics_counter_get(f->env.m.expired), 10017);
	fake.now_ms += 30000;
	test_settle(f->flush);
	assert_string_equal(fake.order, "EFEE");        /* the round is over */
	fake.now_ms += 30000;
	test_settle(f->flush);
	assert_string_equal(fake.order, "EFEEE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cas_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_down_keeps_and_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backoff_doubles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_commit_committed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_commit_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
	};

	logging_init("test_flush", LOGGING_ERROR);
	return cmocka_run_group_tests_name("flush", tests, NULL, NULL);
}
