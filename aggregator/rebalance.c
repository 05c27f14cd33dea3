/*
 * rebalance: see rebalance.h. The ledger says what is held and where
 * counting is; this file tells the consumer, and loads from the store what
 * a partition needs before its first message is counted.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rebalance.h"

#include <librdkafka/rdkafka.h>

#include "logging.h"
#include "runtime.h"
#include "xalloc.h"

#define REBALANCE_WATERMARK_MS 10000
#define REBALANCE_SEEK_MIN_MS 100
#define REBALANCE_SEEK_MAX_MS 5000

struct rebalance {
	struct rebalance_env env;
	struct consumer *consumer;
	int64_t seek_retry_ms, seek_backoff_ms; /* while a partition is seek_due */
	bool failed;
	bool assigned_once;
};

struct rebalance *rebalance_new(const struct rebalance_env *env)
{
	struct rebalance *r = xcalloc(1, sizeof(*r));

	r->env = *env;
	return r;
}

void rebalance_free(struct rebalance *r)
{
	free(r);
}

void rebalance_set_consumer(struct rebalance *r, struct consumer *consumer)
{
	r->consumer = consumer;
}

bool rebalance_failed(const struct rebalance *r)
{
	return r->failed;
}

bool rebalance_assigned_once(const struct rebalance *r)
{
	return r->assigned_once;
}

/* The partitions held (assigned, not lost) into ids (ledger_count() + 1). */
static size_t rebalance_held(const struct rebalance *r, int32_t *ids)
{
	size_t n = 0;

	for (size_t i = 0; i < ledger_count(r->env.ledger); i++) {
		const struct ledger_partition *p = ledger_partition(r->env.ledger, (int32_t)i);

		if (p->assigned && !p->lost)
			ids[n++] = p->id;
	}
	return n;
}

static void rebalance_loaded_source(void *arg, const char *source,
				    int32_t partition, int64_t high)
{
	struct rebalance *r = arg;

	ledger_source(r->env.ledger, source, partition)->high = high;
}

/*
 * Wait for the database, retrying with backoff: a partition cannot start
 * before its stored offset is known. Returns 0, or -1 when stopped.
 */
static int rebalance_load(struct rebalance *r, const int32_t *ids, size_t n,
			  int64_t *offsets)
{
	int64_t backoff = 100;
	char err[512];
	bool logged = false;
	int rc;

	for (;;) {
		rc = store_load_offsets(r->env.store, r->env.topic, ids, n,
					offsets, err, sizeof(err));
		if (!rc)
			rc = store_load_sources(r->env.store, r->env.topic, ids,
						n, rebalance_loaded_source, r,
						err, sizeof(err));
		if (!rc)
			return 0;
		if (rc == STORE_FATAL) {
			logging_error("MariaDB: %s", err);
			r->failed = true;
			return -1;
		}
		if (!logged)
			logging_warn("MariaDB: %s; waiting for it to assign %zu partition%s",
				     err, n, n == 1 ? "" : "s");
		logged = true;
		if (!stop_pause(r->env.stop, &backoff))
			return -1;
	}
}

/* Where p starts: its stored offset, checked against the log's bounds. */
static int64_t rebalance_start(struct rebalance *r, struct ledger_partition *p)
{
	int64_t lo = -1, hi = -1, start;

	if (consumer_watermarks(r->consumer, p->id, &lo, &hi, REBALANCE_WATERMARK_MS))
		lo = hi = -1;
	start = p->stored >= 0 ? p->stored : lo;
	if (p->stored >= 0 && lo >= 0 && p->stored < lo) {
		logging_error("partition %d: stored offset %lld is below the log start "
			      "%lld: %lld messages aged out of Kafka before they were "
			      "counted", (int)p->id, (long long)p->stored,
			      (long long)lo, (long long)(lo - p->stored));
		metrics_counter_add(r->env.m.aged_out, (uint64_t)(lo - p->stored));
		start = lo;
	} else if (p->stored >= 0 && hi >= 0 && p->stored > hi) {
		logging_error("partition %d: stored offset %lld is past the log end "
			      "%lld (was the topic recreated?); nothing is counted "
			      "until the partition reaches it", (int)p->id,
			      (long long)p->stored, (long long)hi);
	}
	p->next = start >= 0 ? start : LEDGER_OFFSET_UNKNOWN;
	return start >= 0 ? start : RD_KAFKA_OFFSET_BEGINNING;
}

/* Whether a partition held waits for a seek that failed. */
static bool rebalance_seek_pending(const struct rebalance *r)
{
	for (size_t i = 0; i < ledger_count(r->env.ledger); i++) {
		const struct ledger_partition *p = ledger_partition(r->env.ledger, (int32_t)i);

		if (p->assigned && !p->lost && p->seek_due)
			return true;
	}
	return false;
}

/* After a reposition: schedule the next attempt while a seek is due. */
static void rebalance_seek_backoff(struct rebalance *r, size_t nfailed)
{
	static struct logging_limit limit;

	if (!nfailed) {
		if (r->seek_backoff_ms)
			logging_info("seek succeeded: counting again from the next "
				     "offsets to count");
		r->seek_backoff_ms = 0;
		return;
	}
	r->seek_backoff_ms = !r->seek_backoff_ms ? REBALANCE_SEEK_MIN_MS :
			      r->seek_backoff_ms * 2 > REBALANCE_SEEK_MAX_MS ?
			      REBALANCE_SEEK_MAX_MS : r->seek_backoff_ms * 2;
	r->seek_retry_ms = runtime_now_ms() + r->seek_backoff_ms;
	logging_limited(&limit, LOGGING_WARN, "%zu partition%s could not be sought "
			"back to the next offset to count: nothing of %s is counted "
			"until a seek succeeds; trying again in %lld ms", nfailed,
			nfailed == 1 ? "" : "s", nfailed == 1 ? "it" : "them",
			(long long)r->seek_backoff_ms);
}

/*
 * After an outage, after a poll that ran a rebalance callback between the
 * messages it returned, and again while a seek failed. count.c refuses the
 * messages of a partition seek_due until rebalance_retry_seek() has
 * repositioned it.
 */
void rebalance_reposition(struct rebalance *r)
{
	struct ledger *l = r->env.ledger;
	int32_t *ids = xcalloc(ledger_count(l) + 1, sizeof(*ids));
	int64_t *next = xcalloc(ledger_count(l) + 1, sizeof(*next));
	bool *failed = xcalloc(ledger_count(l) + 1, sizeof(*failed));
	size_t n, nfailed = 0;

	ledger_bump(l);
	n = rebalance_held(r, ids);
	for (size_t i = 0; i < n; i++) {
		int64_t at = ledger_partition(l, ids[i])->next;

		next[i] = at >= 0 ? at : RD_KAFKA_OFFSET_BEGINNING;
	}
	consumer_seek(r->consumer, ids, next, n, failed);
	for (size_t i = 0; i < n; i++) {
		ledger_partition(l, ids[i])->seek_due = failed[i];
		nfailed += failed[i];
	}
	rebalance_seek_backoff(r, nfailed);
	free(ids);
	free(next);
	free(failed);
}

/*
 * From the loop: seek again when a partition waits for it and its backoff
 * is over. Every partition held is sought (the batches polled before are
 * dropped, and each must be fetched again from where counting is).
 */
void rebalance_retry_seek(struct rebalance *r)
{
	if (!r->seek_backoff_ms)
		return;         /* the last reposition failed for none */
	if (!rebalance_seek_pending(r)) {
		r->seek_backoff_ms = 0;
		return;
	}
	if (runtime_now_ms() >= r->seek_retry_ms)
		rebalance_reposition(r);
}

/* The first time a partition is held: its lag gauge. */
static void rebalance_lag_gauge(struct rebalance *r, struct ledger_partition *p)
{
	char id[16];

	if (p->lag)
		return;
	snprintf(id, sizeof(id), "%d", (int)p->id);
	p->lag = metrics_gauge(r->env.m.registry, "logtally_aggregator_partition_lag",
			       "Messages of the partition not counted yet "
			       "(NaN: not held by this member).", "partition", id, NULL);
}

void rebalance_assign(void *arg, const int32_t *ids, size_t n, int64_t *start)
{
	struct rebalance *r = arg;
	int64_t *stored = xcalloc(n + 1, sizeof(*stored));
	bool ok = rebalance_load(r, ids, n, stored) == 0;

	ledger_bump(r->env.ledger);
	metrics_counter_add(r->env.m.rebalances, 1);
	for (size_t i = 0; i < n; i++) {
		struct ledger_partition *p = ledger_partition(r->env.ledger, ids[i]);

		start[i] = RD_KAFKA_OFFSET_END;
		if (!ok)
			continue;       /* stopping: nothing will be counted */
		p->assigned = true;
		p->lost = false;
		p->seek_due = false;    /* rd_kafka_assign() positions it */
		p->stored = stored[i];
		if (!p->deltas)
			p->deltas = window_deltas_new();
		window_deltas_clear(p->deltas);
		start[i] = rebalance_start(r, p);
		if (start[i] >= 0)
			logging_info("partition %d assigned, starting at offset %lld%s",
				     (int)p->id, (long long)start[i],
				     p->stored < 0 ? " (its log start: none stored)" : "");
		else
			logging_info("partition %d assigned, starting at its beginning",
				     (int)p->id);
		metrics_gauge_add(r->env.m.assigned, 1);
		rebalance_lag_gauge(r, p);
	}
	r->assigned_once = true;
	free(stored);
}

void rebalance_revoke(void *arg, const int32_t *ids, size_t n)
{
	struct rebalance *r = arg;

	ledger_bump(r->env.ledger);
	metrics_counter_add(r->env.m.rebalances, 1);
	/* after a second signal, nothing more is written: leaving must not wait */
	if (flush_db_down(r->env.flush) || stop_signals(r->env.stop) >= 2 ||
	    flush_sync(r->env.flush)) {
		flush_drop(r->env.flush);
		logging_warn("dropping the pending counts of %zu revoked partition%s: "
			     "their next owner counts them again from the stored "
			     "offsets", n, n == 1 ? "" : "s");
	} else {
		rebalance_commit(r, false);     /* while they are still ours */
	}
	for (size_t i = 0; i < n; i++) {
		struct ledger_partition *p = ledger_partition(r->env.ledger, ids[i]);

		if (!p || !p->assigned)
			continue;
		p->assigned = false;
		p->lost = false;
		p->seek_due = false;
		window_deltas_clear(p->deltas);
		ledger_drop_sources(r->env.ledger, p->id);
		metrics_gauge_add(r->env.m.assigned, -1);
		if (p->lag)
			metrics_gauge_set(p->lag, NAN);
		logging_info("partition %d revoked", (int)p->id);
	}
}

void rebalance_pause(struct rebalance *r, bool pause)
{
	int32_t *ids = xcalloc(ledger_count(r->env.ledger) + 1, sizeof(*ids));

	consumer_pause(r->consumer, ids, rebalance_held(r, ids), pause);
	free(ids);
}

void rebalance_pause_lost(struct rebalance *r)
{
	struct ledger *l = r->env.ledger;
	int32_t *ids = xcalloc(ledger_count(l) + 1, sizeof(*ids));
	size_t n = 0;

	for (size_t i = 0; i < ledger_count(l); i++) {
		const struct ledger_partition *p = ledger_partition(l, (int32_t)i);

		if (p->assigned && p->lost)
			ids[n++] = p->id;
	}
	consumer_pause(r->consumer, ids, n, 1);
	free(ids);
}

void rebalance_commit(struct rebalance *r, bool wait)
{
	struct ledger *l = r->env.ledger;
	int32_t *ids = xcalloc(ledger_count(l) + 1, sizeof(*ids));
	int64_t *next = xcalloc(ledger_count(l) + 1, sizeof(*next));
	size_t held = rebalance_held(r, ids), n = 0;

	for (size_t i = 0; i < held; i++) {
		int64_t stored = ledger_partition(l, ids[i])->stored;

		if (stored >= 0) {
			ids[n] = ids[i];
			next[n++] = stored;
		}
	}
	consumer_commit(r->consumer, ids, next, n, wait);
	free(ids);
	free(next);
}

int64_t rebalance_lags(struct rebalance *r)
{
	struct ledger *l = r->env.ledger;
	int64_t total = 0;

	for (size_t i = 0; i < ledger_count(l); i++) {
		struct ledger_partition *p = ledger_partition(l, (int32_t)i);
		int64_t hi, lag;

		if (!p->assigned || p->lost || !p->lag)
			continue;
		hi = consumer_cached_high(r->consumer, p->id);
		if (hi < 0)
			continue;
		lag = p->next >= 0 ? hi - p->next : hi;
		lag = lag < 0 ? 0 : lag;
		metrics_gauge_set(p->lag, (double)lag);
		total += lag;
	}
	return total;
}
