/*
 * rebalance: the partitions and sources this member holds, as the group
 * hands them out and takes them back. On assignment each partition starts
 * at the offset stored in MariaDB (the beginning when none is), never at
 * Kafka's committed offset, and the high marks of its sources are loaded;
 * a stored offset below the partition's log start means lines aged out of
 * Kafka before they were counted: that is logged loudly and counted. On
 * revocation the pending counts are flushed first; when the database is
 * away they are dropped, and the next owner recounts them from the stored
 * offsets. Both run inside consumer_poll(), on the loop's thread. When the
 * partitions held must be fetched again from where counting is, each is
 * sought to its next offset; one whose seek fails counts nothing (count.c)
 * until a seek, tried again with backoff, succeeds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator_private.h"
#include "logging.h"
#include "xalloc.h"

#define REBALANCE_WATERMARK_MS 10000
#define REBALANCE_SEEK_MIN_MS 100
#define REBALANCE_SEEK_MAX_MS 5000

static void rebalance_loaded_source(void *arg, const char *source,
				    int32_t partition, int64_t high)
{
	struct aggregator *ag = arg;

	ledger_source(ag->ledger, source, partition)->high = high;
}

/*
 * Wait for the database, retrying with backoff: a partition cannot start
 * before its stored offset is known. Returns 0, or -1 when stopped.
 */
static int rebalance_load(struct aggregator *ag, const int32_t *ids, size_t n,
			  int64_t *offsets)
{
	int64_t backoff = 100;
	char err[512];
	bool logged = false;
	int rc;

	for (;;) {
		rc = store_load_offsets(ag->store, ag->cfg->kafka.topic, ids, n,
					offsets, err, sizeof(err));
		if (!rc)
			rc = store_load_sources(ag->store, ag->cfg->kafka.topic, ids,
						n, rebalance_loaded_source, ag,
						err, sizeof(err));
		if (!rc)
			return 0;
		if (rc == STORE_FATAL) {
			logging_error("MariaDB: %s", err);
			ag->fatal = true;
			return -1;
		}
		if (!logged)
			logging_warn("MariaDB: %s; waiting for it to assign %zu partition%s",
				     err, n, n == 1 ? "" : "s");
		logged = true;
		if (!aggregator_pause(ag, &backoff))
			return -1;
	}
}

/* Where p starts: its stored offset, checked against the log's bounds. */
static int64_t rebalance_start(struct aggregator *ag, struct ledger_partition *p)
{
	int64_t lo = -1, hi = -1, start;

	if (consumer_watermarks(ag->consumer, p->id, &lo, &hi, REBALANCE_WATERMARK_MS))
		lo = hi = -1;
	p->end = !ag->opts.once ? -1 : (size_t)p->id < ag->once_n ?
		 ag->once_end[p->id] : hi;
	start = p->stored >= 0 ? p->stored : lo;
	if (p->stored >= 0 && lo >= 0 && p->stored < lo) {
		logging_error("partition %d: stored offset %lld is below the log start "
			      "%lld: %lld messages aged out of Kafka before they were "
			      "counted", (int)p->id, (long long)p->stored,
			      (long long)lo, (long long)(lo - p->stored));
		metrics_counter_add(ag->m.aged_out, (uint64_t)(lo - p->stored));
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
static bool rebalance_seek_pending(const struct aggregator *ag)
{
	for (size_t i = 0; i < ledger_count(ag->ledger); i++) {
		const struct ledger_partition *p = ledger_partition(ag->ledger, (int32_t)(i));

		if (p->assigned && !p->lost && p->seek_due)
			return true;
	}
	return false;
}

/* After a reposition: schedule the next attempt while a seek is due. */
static void rebalance_seek_backoff(struct aggregator *ag, size_t nfailed)
{
	static struct logging_limit limit;

	if (!nfailed) {
		if (ag->seek_backoff_ms)
			logging_info("seek succeeded: counting again from the next "
				     "offsets to count");
		ag->seek_backoff_ms = 0;
		return;
	}
	ag->seek_backoff_ms = !ag->seek_backoff_ms ? REBALANCE_SEEK_MIN_MS :
			      ag->seek_backoff_ms * 2 > REBALANCE_SEEK_MAX_MS ?
			      REBALANCE_SEEK_MAX_MS : ag->seek_backoff_ms * 2;
	ag->seek_retry_ms = runtime_now_ms() + ag->seek_backoff_ms;
	logging_limited(&limit, LOGGING_WARN, "%zu partition%s could not be sought "
			"back to the next offset to count: nothing of %s is counted "
			"until a seek succeeds; trying again in %lld ms", nfailed,
			nfailed == 1 ? "" : "s", nfailed == 1 ? "it" : "them",
			(long long)ag->seek_backoff_ms);
}

/*
 * Seek every partition held to the next offset to count, and drop what was
 * fetched before (ledger_generation(ag->ledger)): after an outage, after a poll that ran a
 * rebalance callback between the messages it returned, and again while a
 * seek failed. A partition whose seek failed is marked seek_due: count.c
 * refuses its messages until rebalance_retry_seek() repositions it.
 */
void rebalance_reposition(struct aggregator *ag)
{
	int32_t *ids = xcalloc(ledger_count(ag->ledger) + 1, sizeof(*ids));
	int64_t *next = xcalloc(ledger_count(ag->ledger) + 1, sizeof(*next));
	bool *failed = xcalloc(ledger_count(ag->ledger) + 1, sizeof(*failed));
	size_t n = 0, nfailed = 0;

	ledger_bump(ag->ledger);
	for (size_t i = 0; i < ledger_count(ag->ledger); i++) {
		struct ledger_partition *p = ledger_partition(ag->ledger, (int32_t)(i));

		if (!p->assigned || p->lost)
			continue;
		ids[n] = p->id;
		next[n++] = p->next >= 0 ? p->next : RD_KAFKA_OFFSET_BEGINNING;
	}
	consumer_seek(ag->consumer, ids, next, n, failed);
	for (size_t i = 0; i < n; i++) {
		ledger_partition(ag->ledger, ids[i])->seek_due = failed[i];
		nfailed += failed[i];
	}
	rebalance_seek_backoff(ag, nfailed);
	free(ids);
	free(next);
	free(failed);
}

/*
 * From the loop: seek again when a partition waits for it and its backoff
 * is over. Every partition held is sought (the batches polled before are
 * dropped, and each must be fetched again from where counting is).
 */
void rebalance_retry_seek(struct aggregator *ag)
{
	if (!ag->seek_backoff_ms)
		return;         /* the last reposition failed for none */
	if (!rebalance_seek_pending(ag)) {
		ag->seek_backoff_ms = 0;
		return;
	}
	if (runtime_now_ms() >= ag->seek_retry_ms)
		rebalance_reposition(ag);
}

void rebalance_assign(void *arg, const int32_t *ids, size_t n, int64_t *start)
{
	struct aggregator *ag = arg;
	int64_t *stored = xcalloc(n + 1, sizeof(*stored));
	bool ok = rebalance_load(ag, ids, n, stored) == 0;

	ledger_bump(ag->ledger);

	metrics_counter_add(ag->m.rebalances, 1);
	for (size_t i = 0; i < n; i++) {
		struct ledger_partition *p = ledger_partition(ag->ledger, ids[i]);

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
		start[i] = rebalance_start(ag, p);
		if (start[i] >= 0)
			logging_info("partition %d assigned, starting at offset %lld%s",
				     (int)p->id, (long long)start[i],
				     p->stored < 0 ? " (its log start: none stored)" : "");
		else
			logging_info("partition %d assigned, starting at its beginning",
				     (int)p->id);
		metrics_gauge_add(ag->m.assigned, 1);
		if (!p->lag) {
			char id[16];

			snprintf(id, sizeof(id), "%d", (int)p->id);
			p->lag = metrics_gauge(ag->metrics, "logtally_aggregator_partition_lag",
					       "Messages of the partition not counted yet "
					       "(NaN: not held by this member).",
					       "partition", id, NULL);
		}
	}
	ag->assigned_once = true;
	free(stored);
}

void rebalance_revoke(void *arg, const int32_t *ids, size_t n)
{
	struct aggregator *ag = arg;

	ledger_bump(ag->ledger);

	metrics_counter_add(ag->m.rebalances, 1);
	/* after a second signal, nothing more is written: leaving must not wait */
	if (ag->db_down || ag->signals >= 2 || flush_sync(ag)) {
		flush_drop(ag);
		logging_warn("dropping the pending counts of %zu revoked partition%s: "
			     "their next owner counts them again from the stored "
			     "offsets", n, n == 1 ? "" : "s");
	}
	for (size_t i = 0; i < n; i++) {
		struct ledger_partition *p = ledger_partition(ag->ledger, ids[i]);

		if (!p || !p->assigned)
			continue;
		p->assigned = false;
		p->lost = false;
		p->seek_due = false;
		window_deltas_clear(p->deltas);
		ledger_drop_sources(ag->ledger, p->id);
		metrics_gauge_add(ag->m.assigned, -1);
		if (p->lag)
			metrics_gauge_set(p->lag, NAN);
		logging_info("partition %d revoked", (int)p->id);
	}
}
