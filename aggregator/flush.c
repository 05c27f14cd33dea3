/*
 * flush: the pending counts into MariaDB, in one transaction with the
 * partitions' next offsets (a compare-and-set) and the sources' high marks.
 *
 * Outcomes: committed (the partitions' stored offsets move, their deltas
 * are cleared, the same offsets are committed to Kafka for lag tools); a
 * partition taken over by another member (its deltas and sources are
 * dropped, the rest is flushed again at once); the database away (nothing
 * changes in memory, consumption pauses, flush_recover() retries with
 * backoff). A commit whose outcome is unknown (the connection died during
 * COMMIT) is settled on recovery by reading the stored offsets back: they
 * either still hold the expected values or the new ones.
 */
#include <stdlib.h>
#include <string.h>

#include "aggregator_private.h"
#include "logging.h"
#include "xalloc.h"

#define FLUSH_BACKOFF_MIN_MS 200
#define FLUSH_BACKOFF_MAX_MS 10000
#define FLUSH_EXPIRE_EVERY_MS 60000
#define FLUSH_EXPIRE_BATCH 5000
#define FLUSH_EXPIRE_BATCHES 20

/* The work of one attempt: what moves, and the deltas behind it. */
struct flush_batch {
	struct store_offset *offsets;
	struct window_deltas **deltas;
	struct store_source *sources;
	size_t n, nsources;
};

static bool flush_pending(const struct agg_partition *p)
{
	return p->assigned && !p->lost && p->next >= 0 && p->next != p->stored;
}

size_t flush_pending_keys(const struct aggregator *ag)
{
	size_t keys = 0;

	for (size_t i = 0; i < ag->nparts; i++)
		if (ag->parts[i].assigned && ag->parts[i].deltas)
			keys += window_deltas_count(ag->parts[i].deltas);
	return keys;
}

static int flush_source_cmp(const void *a, const void *b)
{
	const struct store_source *x = a, *y = b;

	return strcmp(x->source, y->source);
}

static void flush_collect(struct aggregator *ag, struct flush_batch *b)
{
	b->offsets = xcalloc(ag->nparts + 1, sizeof(*b->offsets));
	b->deltas = xcalloc(ag->nparts + 1, sizeof(*b->deltas));
	b->sources = xcalloc(ag->ndirty + 1, sizeof(*b->sources));
	b->n = 0;
	for (size_t i = 0; i < ag->nparts; i++) {
		struct agg_partition *p = &ag->parts[i];

		if (!flush_pending(p))
			continue;
		b->offsets[b->n] = (struct store_offset){p->id, p->stored, p->next};
		b->deltas[b->n++] = p->deltas;
	}
	for (size_t i = 0; i < ag->ndirty; i++)
		b->sources[i] = (struct store_source){ag->dirty[i]->key,
			ag->dirty[i]->partition, ag->dirty[i]->high};
	b->nsources = ag->ndirty;
	qsort(b->sources, b->nsources, sizeof(*b->sources), flush_source_cmp);
}

static void flush_batch_fini(struct flush_batch *b)
{
	free(b->offsets);
	free(b->deltas);
	free(b->sources);
}

/* Windows that no longer take on-time lines need no cap any more. */
void flush_expire_caps(struct aggregator *ag)
{
	for (size_t i = 0; i < ag->nsizes; i++)
		window_cap_expire(ag->cap, ag->sizes[i],
				  window_start(ag->newest_ms - ag->cfg->lateness,
					       ag->sizes[i]));
}

/* The partitions' offsets in b are now MariaDB's: settle memory and Kafka. */
static void flush_settle(struct aggregator *ag, const struct flush_batch *b)
{
	int32_t *ids = xcalloc(b->n + 1, sizeof(*ids));
	int64_t *next = xcalloc(b->n + 1, sizeof(*next));

	for (size_t i = 0; i < b->n; i++) {
		struct agg_partition *p = &ag->parts[b->offsets[i].partition];

		p->stored = b->offsets[i].next;
		window_deltas_clear(p->deltas);
		ids[i] = p->id;
		next[i] = p->stored;
	}
	for (size_t i = 0; i < ag->ndirty; i++)
		ag->dirty[i]->dirty = false;
	ag->ndirty = 0;
	consumer_commit(ag->consumer, ids, next, b->n, 0);
	flush_expire_caps(ag);
	free(ids);
	free(next);
}

static void flush_committed(struct aggregator *ag, const struct flush_batch *b,
			    int64_t started_ms)
{
	double seconds = (double)(aggregator_now_ms() - started_ms) / 1000.0;

	flush_settle(ag, b);
	metrics_counter_add(ag->m.flushes, 1);
	metrics_counter_add(ag->m.rows, ag->rows.n);
	metrics_counter_add(ag->m.statements, store_last_statements(ag->store));
	metrics_histogram_observe(ag->m.flush_seconds, seconds);
	metrics_gauge_set(ag->m.last_flush, (double)aggregator_wall_ms() / 1000.0);
	metrics_gauge_set(ag->m.pending, 0);
	logging_debug("flushed %zu rows of %zu partitions in %.3f s", ag->rows.n,
		      b->n, seconds);
}

/*
 * Commit the stored offsets of every partition held to Kafka and wait for
 * the answer: the asynchronous commits of the last flushes may not have
 * left before the consumer closes.
 */
void flush_commit_stored(struct aggregator *ag)
{
	int32_t *ids = xcalloc(ag->nparts + 1, sizeof(*ids));
	int64_t *next = xcalloc(ag->nparts + 1, sizeof(*next));
	size_t n = 0;

	for (size_t i = 0; i < ag->nparts; i++) {
		const struct agg_partition *p = &ag->parts[i];

		if (p->assigned && !p->lost && p->stored >= 0) {
			ids[n] = p->id;
			next[n++] = p->stored;
		}
	}
	consumer_commit(ag->consumer, ids, next, n, 1);
	free(ids);
	free(next);
}

/* Another member owns the partition now: what we counted of it is void. */
static void flush_lost(struct aggregator *ag, int32_t id)
{
	struct agg_partition *p = &ag->parts[id];

	logging_warn("partition %d: its stored offset moved under us: another "
		     "member owns it now; dropping its pending counts", (int)id);
	metrics_counter_add(ag->m.conflicts, 1);
	p->lost = true;
	window_deltas_clear(p->deltas);
	rebalance_drop_sources(ag, id);
	consumer_pause(ag->consumer, &id, 1, 1);
}

static void flush_paused(struct aggregator *ag, int pause)
{
	int32_t *ids = xcalloc(ag->nparts + 1, sizeof(*ids));
	size_t n = 0;

	for (size_t i = 0; i < ag->nparts; i++)
		if (ag->parts[i].assigned && !ag->parts[i].lost)
			ids[n++] = ag->parts[i].id;
	consumer_pause(ag->consumer, ids, n, pause);
	free(ids);
}

static void flush_failed(struct aggregator *ag, int rc, const char *err)
{
	int64_t now = aggregator_now_ms();

	if (rc == STORE_FATAL) {
		logging_error("MariaDB: %s; stopping (what was counted since the "
			      "last commit is counted again at the next start)", err);
		metrics_counter_add(ag->m.db_fatal, 1);
		ag->fatal = true;
		return;
	}
	metrics_counter_add(ag->m.db_retry, 1);
	if (!ag->db_down) {
		logging_warn("MariaDB unavailable: %s; keeping %zu pending keys, "
			     "pausing consumption until it is back", err,
			     flush_pending_keys(ag));
		ag->db_down = true;
		ag->db_down_since_ms = now;
		ag->backoff_ms = FLUSH_BACKOFF_MIN_MS;
		flush_paused(ag, 1);
		metrics_gauge_set(ag->m.db_up, 0);
		atomic_store(&ag->health, AGG_HEALTH_DB_DOWN);
	}
	ag->retry_ms = now + ag->backoff_ms;
	ag->backoff_ms = ag->backoff_ms * 2 > FLUSH_BACKOFF_MAX_MS ?
			 FLUSH_BACKOFF_MAX_MS : ag->backoff_ms * 2;
}

int flush_run(struct aggregator *ag)
{
	char err[1024];
	int rc;

	for (;;) {
		struct flush_batch b;
		struct store_flush fl;
		int64_t started = aggregator_now_ms();
		int32_t lost = -1;

		flush_collect(ag, &b);
		if (!b.n) {
			flush_batch_fini(&b);
			return 0;
		}
		window_rows_build(&ag->rows, b.deltas, b.n, ag->sizes, ag->nsizes,
				  ag->names, ag->cap);
		fl = (struct store_flush){ag->cfg->kafka.topic, b.offsets, b.n,
			ag->rows.rows, ag->rows.n, ag->names, b.sources, b.nsources};
		rc = store_flush(ag->store, &fl, &lost, err, sizeof(err));
		if (!rc)
			flush_committed(ag, &b, started);
		else if (rc == STORE_LOST && lost >= 0 && (size_t)lost < ag->nparts)
			flush_lost(ag, lost);
		else
			flush_failed(ag, rc, err);
		flush_batch_fini(&b);
		if (rc != STORE_LOST)
			return rc;
	}
}

/*
 * After a failed attempt, a partition's stored offset tells what became of
 * it: still p->stored (rolled back), p->next (the COMMIT went through
 * although its answer was lost), or anything else (another member).
 */
static int flush_settle_unknown(struct aggregator *ag, char *err, size_t errlen)
{
	struct flush_batch b;
	int32_t *ids;
	int64_t *now;
	int rc = 0;

	flush_collect(ag, &b);
	ids = xcalloc(b.n + 1, sizeof(*ids));
	now = xcalloc(b.n + 1, sizeof(*now));
	for (size_t i = 0; i < b.n; i++)
		ids[i] = b.offsets[i].partition;
	if (b.n)
		rc = store_load_offsets(ag->store, ag->cfg->kafka.topic, ids, b.n,
					now, err, errlen);
	for (size_t i = 0; !rc && i < b.n; i++) {
		if (now[i] == b.offsets[i].next) {
			logging_info("the last flush was committed after all");
			flush_settle(ag, &b);
			break;
		}
		if (now[i] != b.offsets[i].expected)
			flush_lost(ag, ids[i]);
	}
	free(ids);
	free(now);
	flush_batch_fini(&b);
	return rc;
}

/* Seek every partition back to what was counted, and fetch again. */
static void flush_resume(struct aggregator *ag)
{
	int32_t *ids = xcalloc(ag->nparts + 1, sizeof(*ids));
	int64_t *next = xcalloc(ag->nparts + 1, sizeof(*next));
	size_t n = 0;

	for (size_t i = 0; i < ag->nparts; i++) {
		struct agg_partition *p = &ag->parts[i];

		if (!p->assigned || p->lost)
			continue;
		ids[n] = p->id;
		next[n++] = p->next >= 0 ? p->next : RD_KAFKA_OFFSET_BEGINNING;
	}
	consumer_seek(ag->consumer, ids, next, n);
	consumer_pause(ag->consumer, ids, n, 0);
	free(ids);
	free(next);
}

void flush_recover(struct aggregator *ag)
{
	char err[1024];
	int rc = store_open(ag->store, err, sizeof(err));

	if (!rc)
		rc = flush_settle_unknown(ag, err, sizeof(err));
	if (rc) {
		flush_failed(ag, rc, err);
		return;
	}
	if (flush_run(ag))
		return;
	logging_info("MariaDB is back after %.1f s; resuming consumption",
		     (double)(aggregator_now_ms() - ag->db_down_since_ms) / 1000.0);
	ag->db_down = false;
	flush_resume(ag);
	metrics_gauge_set(ag->m.db_up, 1);
	atomic_store(&ag->health, AGG_HEALTH_OK);
}

/* Retention: delete expired rows in small batches, now and then. */
void flush_expire(struct aggregator *ag)
{
	const struct config_duration_map *keep = &ag->cfg->retention;
	int64_t now = aggregator_now_ms(), wall_s = aggregator_wall_ms() / 1000;
	char err[1024];

	if (ag->db_down || now < ag->next_expire_ms)
		return;
	ag->next_expire_ms = now + FLUSH_EXPIRE_EVERY_MS;
	for (size_t i = 0; i < keep->n; i++) {
		int64_t size_s = keep->items[i].key / 1000;
		int64_t before = wall_s - keep->items[i].value / 1000;

		for (int batch = 0; batch < FLUSH_EXPIRE_BATCHES; batch++) {
			int64_t gone = store_expire(ag->store, size_s, before,
						    FLUSH_EXPIRE_BATCH, err, sizeof(err));

			if (gone < 0) {
				logging_warn("MariaDB: retention: %s", err);
				return;
			}
			metrics_counter_add(ag->m.expired, (uint64_t)gone);
			if (gone < FLUSH_EXPIRE_BATCH)
				break;
		}
	}
}
