/*
 * flush: the pending counts into MariaDB, in one transaction with the
 * partitions' next offsets (a compare-and-set) and the sources' high marks,
 * written by the writer thread while the loop goes on counting.
 *
 * A flush job takes the deltas of the partitions that moved (each gets a
 * fresh table to count into), copies their offsets and the dirty sources,
 * and builds the rows. One job at a time. Outcomes, on the loop's thread:
 * committed (stored offsets move, the job's tables are recycled, the
 * offsets are committed to Kafka for lag tools); a partition taken over by
 * another member (its part of the job and its current counts are dropped,
 * the rest is written again at once); the database away (the job is kept
 * whole, nothing more is counted, consumption pauses, and flush_tick()
 * retries with backoff). A commit whose outcome is unknown (the connection
 * died during COMMIT) is settled before the retry by reading the stored
 * offsets back: they hold either the expected values or the job's.
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

size_t flush_pending_keys(const struct aggregator *ag)
{
	return ledger_pending_keys(ag->ledger);
}

/* --- the job ----------------------------------------------------------- */

/*
 * Build the job's rows and its store_flush. Runs on the writer's thread
 * (writer_start's prepare): the loop leaves the job alone meanwhile, the
 * sizes and names never change, and the cap has a lock of its own.
 */
static void flush_job_rows(void *arg)
{
	struct aggregator *ag = arg;
	struct flush_job *job = &ag->job;

	window_rows_build(&job->rows, job->deltas, job->n, ag->sizes, ag->nsizes,
			  ag->names, ag->cap);
	job->fl = (struct store_flush){ag->cfg->kafka.topic, job->offsets, job->n,
		job->rows.rows, job->rows.n, ag->names, job->sources, job->nsources};
}

/* The deltas of p go to the job; p counts on into its spare table. */
static void flush_job_take(struct flush_job *job, struct ledger_partition *p)
{
	job->offsets[job->n] = (struct store_offset){p->id, p->stored, p->next};
	job->deltas[job->n++] = p->deltas;
	p->deltas = p->spare ? p->spare : window_deltas_new();
	p->spare = NULL;
}

static void flush_job_sources(struct aggregator *ag)
{
	ag->job.sources = ledger_take_dirty(ag->ledger, &ag->job.nsources);
}

/* Give a table back to its partition as the spare, or free it. */
static void flush_recycle(struct aggregator *ag, int32_t id,
			  struct window_deltas *deltas)
{
	struct ledger_partition *p = ledger_partition(ag->ledger, (int32_t)(id));

	if (p->spare || !p->assigned) {
		window_deltas_free(deltas);
		return;
	}
	window_deltas_clear(deltas);
	p->spare = deltas;
}

static void flush_job_clear(struct aggregator *ag)
{
	struct flush_job *job = &ag->job;

	for (size_t i = 0; i < job->n; i++)
		flush_recycle(ag, job->offsets[i].partition, job->deltas[i]);
	for (size_t i = 0; i < job->nsources; i++)
		free((char *)job->sources[i].source);
	free(job->offsets);
	free(job->deltas);
	free(job->sources);
	job->offsets = NULL;
	job->deltas = NULL;
	job->sources = NULL;
	job->n = job->nsources = 0;
	job->active = false;
}

/* Take partition id out of the job (another member owns it). */
static void flush_job_drop(struct aggregator *ag, int32_t id)
{
	struct flush_job *job = &ag->job;
	size_t kept = 0;

	for (size_t i = 0; i < job->n; i++) {
		if (job->offsets[i].partition == id) {
			window_deltas_free(job->deltas[i]);
			continue;
		}
		job->offsets[kept] = job->offsets[i];
		job->deltas[kept++] = job->deltas[i];
	}
	job->n = kept;
	kept = 0;
	for (size_t i = 0; i < job->nsources; i++) {
		if (job->sources[i].partition == id)
			free((char *)job->sources[i].source);
		else
			job->sources[kept++] = job->sources[i];
	}
	job->nsources = kept;
}

/* Start writing what the partitions counted since their last flush. */
static void flush_start(struct aggregator *ag)
{
	struct flush_job *job = &ag->job;

	job->offsets = xcalloc(ledger_count(ag->ledger) + 1, sizeof(*job->offsets));
	job->deltas = xcalloc(ledger_count(ag->ledger) + 1, sizeof(*job->deltas));
	job->n = 0;
	for (size_t i = 0; i < ledger_count(ag->ledger); i++)
		if (ledger_pending(ledger_partition(ag->ledger, (int32_t)(i))))
			flush_job_take(job, ledger_partition(ag->ledger, (int32_t)(i)));
	job->active = true;
	if (!job->n) {
		flush_job_clear(ag);
		return;
	}
	flush_job_sources(ag);
	job->started_ms = runtime_now_ms();
	writer_start(ag->writer, &job->fl, flush_job_rows, ag);
}

/* --- outcomes ---------------------------------------------------------- */

/* Windows that no longer take on-time lines need no cap any more. */
void flush_expire_caps(struct aggregator *ag)
{
	for (size_t i = 0; i < ag->nsizes; i++)
		window_cap_expire(ag->cap, ag->sizes[i],
				  window_start(ag->count.newest_ms - ag->cfg->lateness,
					       ag->sizes[i]));
}

/* The job's offsets are now MariaDB's: settle memory and Kafka. */
static void flush_settle(struct aggregator *ag)
{
	struct flush_job *job = &ag->job;
	int32_t *ids = xcalloc(job->n + 1, sizeof(*ids));
	int64_t *next = xcalloc(job->n + 1, sizeof(*next));

	for (size_t i = 0; i < job->n; i++) {
		ids[i] = job->offsets[i].partition;
		next[i] = job->offsets[i].next;
		ledger_partition(ag->ledger, ids[i])->stored = next[i];
	}
	consumer_commit(ag->consumer, ids, next, job->n, 0);
	free(ids);
	free(next);
	flush_job_clear(ag);
}

static void flush_committed(struct aggregator *ag, size_t statements)
{
	struct flush_job *job = &ag->job;
	double seconds = (double)(runtime_now_ms() - job->started_ms) / 1000.0;

	metrics_counter_add(ag->m.flushes, 1);
	metrics_counter_add(ag->m.rows, job->rows.n);
	metrics_counter_add(ag->m.statements, statements);
	metrics_histogram_observe(ag->m.flush_seconds, seconds);
	metrics_histogram_observe(ag->m.flush_rows, (double)job->rows.n);
	metrics_gauge_set(ag->m.last_flush, (double)runtime_wall_ms() / 1000.0);
	logging_debug("flushed %zu rows of %zu partitions in %.3f s",
		      job->rows.n, job->n, seconds);
	flush_settle(ag);
}

/* Another member owns the partition now: what we counted of it is void. */
static void flush_lost(struct aggregator *ag, int32_t id)
{
	struct ledger_partition *p = ledger_partition(ag->ledger, (int32_t)(id));

	logging_warn("partition %d: its stored offset moved under us: another "
		     "member owns it now; dropping its pending counts", (int)id);
	metrics_counter_add(ag->m.conflicts, 1);
	p->lost = true;
	window_deltas_clear(p->deltas);
	ledger_drop_sources(ag->ledger, id);
	flush_job_drop(ag, id);
	consumer_pause(ag->consumer, &id, 1, 1);
}

static void flush_paused(struct aggregator *ag, int pause)
{
	int32_t *ids = xcalloc(ledger_count(ag->ledger) + 1, sizeof(*ids));
	size_t n = 0;

	for (size_t i = 0; i < ledger_count(ag->ledger); i++)
		if (ledger_partition(ag->ledger, (int32_t)(i))->assigned && !ledger_partition(ag->ledger, (int32_t)(i))->lost)
			ids[n++] = ledger_partition(ag->ledger, (int32_t)(i))->id;
	consumer_pause(ag->consumer, ids, n, pause);
	free(ids);
}

static void flush_failed(struct aggregator *ag, int rc, const char *err)
{
	int64_t now = runtime_now_ms();

	if (rc == STORE_FATAL) {
		logging_error("MariaDB: %s; stopping (what was counted since the "
			      "last commit is counted again at the next start)", err);
		metrics_counter_add(ag->m.db_fatal, 1);
		ag->fatal = true;
		return;
	}
	metrics_counter_add(ag->m.db_retry, 1);
	if (!ag->db_down) {
		logging_warn("MariaDB unavailable: %s; keeping %zu rows to write, "
			     "pausing consumption until it is back", err,
			     ag->job.rows.n);
		ag->db_down = true;
		ag->db_down_since_ms = now;
		ag->backoff_ms = FLUSH_BACKOFF_MIN_MS;
		flush_paused(ag, 1);
		metrics_gauge_set(ag->m.db_up, 0);
		aggregator_health(ag, STATUS_DB_DOWN);
	}
	ag->retry_ms = now + ag->backoff_ms;
	ag->backoff_ms = ag->backoff_ms * 2 > FLUSH_BACKOFF_MAX_MS ?
			 FLUSH_BACKOFF_MAX_MS : ag->backoff_ms * 2;
}

/* Seek every partition back to what was counted, and fetch again. */
static void flush_resume(struct aggregator *ag)
{
	int32_t *ids = xcalloc(ledger_count(ag->ledger) + 1, sizeof(*ids));
	size_t n = 0;

	logging_info("MariaDB is back after %.1f s; resuming consumption",
		     (double)(runtime_now_ms() - ag->db_down_since_ms) / 1000.0);
	ag->db_down = false;
	rebalance_reposition(ag);
	for (size_t i = 0; i < ledger_count(ag->ledger); i++)
		if (ledger_partition(ag->ledger, (int32_t)(i))->assigned && !ledger_partition(ag->ledger, (int32_t)(i))->lost)
			ids[n++] = ledger_partition(ag->ledger, (int32_t)(i))->id;
	consumer_pause(ag->consumer, ids, n, 0);
	free(ids);
	metrics_gauge_set(ag->m.db_up, 1);
	aggregator_health(ag, STATUS_OK);
}

/* What the writer said of the job, acted upon. */
static void flush_outcome(struct aggregator *ag, const struct writer_outcome *out)
{
	struct flush_job *job = &ag->job;

	if (!out->rc) {
		flush_committed(ag, out->statements);
		if (ag->db_down)
			flush_resume(ag);
		return;
	}
	if (out->rc == STORE_LOST && out->lost >= 0 && (size_t)out->lost < ledger_count(ag->ledger)) {
		flush_lost(ag, out->lost);
		if (!job->n) {
			flush_job_clear(ag);
			return;
		}
		writer_start(ag->writer, &job->fl, flush_job_rows, ag);
		return;
	}
	flush_failed(ag, out->rc, out->err);
}

/* --- driving it -------------------------------------------------------- */

/*
 * After a failed attempt, a partition's stored offset tells what became of
 * the job: still the expected value (rolled back), the job's next one (the
 * COMMIT went through although its answer was lost), or anything else
 * (another member). Returns 0 or a STORE_* class.
 */
static int flush_settle_unknown(struct aggregator *ag, char *err, size_t errlen)
{
	struct flush_job *job = &ag->job;
	int32_t *ids = xcalloc(job->n + 1, sizeof(*ids));
	int64_t *now = xcalloc(job->n + 1, sizeof(*now));
	size_t nlost = 0;
	int rc = 0;

	for (size_t i = 0; i < job->n; i++)
		ids[i] = job->offsets[i].partition;
	if (job->n)
		rc = store_load_offsets(ag->store, ag->cfg->kafka.topic, ids, job->n,
					now, err, errlen);
	for (size_t i = 0; !rc && i < job->n; i++) {
		if (now[i] == job->offsets[i].next) {
			logging_info("the last flush was committed after all");
			flush_committed(ag, 0);
			break;
		}
	}
	for (size_t i = 0, n = job->n; !rc && job->active && i < n; i++)
		if (now[i] != job->offsets[i].expected)
			ids[nlost++] = ids[i];
	for (size_t i = 0; i < nlost; i++)
		flush_lost(ag, ids[i]);
	free(ids);
	free(now);
	return rc;
}

/* The database was away: is it back? Then write the job kept for it. */
static void flush_recover(struct aggregator *ag)
{
	struct writer_outcome out = {0};
	int rc = store_open(ag->store, out.err, sizeof(out.err));

	if (!rc && ag->job.active)
		rc = flush_settle_unknown(ag, out.err, sizeof(out.err));
	if (rc) {
		flush_failed(ag, rc, out.err);
		return;
	}
	if (ag->job.active && ag->job.n) {
		writer_start(ag->writer, &ag->job.fl, flush_job_rows, ag);
	} else {
		if (ag->job.active)
			flush_job_clear(ag);
		flush_resume(ag);
	}
}

void flush_tick(struct aggregator *ag)
{
	struct writer_outcome out;
	int64_t now = runtime_now_ms();
	size_t keys;

	if (writer_poll(ag->writer, false, &out))
		flush_outcome(ag, &out);
	if (writer_busy(ag->writer) || ag->fatal)
		return;
	if (ag->db_down) {
		if (now >= ag->retry_ms)
			flush_recover(ag);
		return;
	}
	keys = flush_pending_keys(ag);
	metrics_gauge_set(ag->m.pending, (double)keys);
	if (now >= ag->next_flush_ms ||
	    ledger_pending_bytes(ag->ledger) >= ag->cfg->max_pending) {
		ag->next_flush_ms = now + ag->cfg->flush_interval;
		flush_start(ag);
	}
}

/*
 * Counting outran the writer by far: wait for it, so that memory stays
 * bounded by max_pending a few times over.
 */
void flush_throttle(struct aggregator *ag)
{
	struct writer_outcome out;

	if (writer_busy(ag->writer) &&
	    ledger_pending_bytes(ag->ledger) / 4 >= ag->cfg->max_pending &&
	    writer_poll(ag->writer, true, &out))
		flush_outcome(ag, &out);
}

/*
 * One step towards writing everything counted, without blocking: act on
 * the writer's outcome, start the next flush when the writer is free.
 * Returns 0 when nothing is left to write, -1 while something is (the
 * writer is busy, or the database is away, or stopping on a fatal error).
 */
int flush_step(struct aggregator *ag)
{
	struct writer_outcome out;

	if (writer_poll(ag->writer, false, &out))
		flush_outcome(ag, &out);
	if (writer_busy(ag->writer) || ag->db_down || ag->fatal || ag->job.active)
		return -1;
	if (!ledger_any_pending(ag->ledger))
		return 0;
	flush_start(ag);
	return -1;
}

/* Write everything counted, waiting for the writer; 0, or -1 as flush_step(). */
int flush_sync(struct aggregator *ag)
{
	struct writer_outcome out;

	while (flush_step(ag)) {
		if (!writer_busy(ag->writer))
			return -1;      /* the database is away, or fatal */
		if (writer_poll(ag->writer, true, &out))
			flush_outcome(ag, &out);
	}
	return 0;
}

void flush_drop(struct aggregator *ag)
{
	struct writer_outcome out;

	writer_poll(ag->writer, true, &out);
	if (ag->job.active)
		flush_job_clear(ag);
}

/*
 * Commit the stored offsets of every partition held to Kafka and wait for
 * the answer: the asynchronous commits of the last flushes may not have
 * left before the consumer closes.
 */
void flush_commit_stored(struct aggregator *ag)
{
	int32_t *ids = xcalloc(ledger_count(ag->ledger) + 1, sizeof(*ids));
	int64_t *next = xcalloc(ledger_count(ag->ledger) + 1, sizeof(*next));
	size_t n = 0;

	for (size_t i = 0; i < ledger_count(ag->ledger); i++) {
		const struct ledger_partition *p = ledger_partition(ag->ledger, (int32_t)(i));

		if (p->assigned && !p->lost && p->stored >= 0) {
			ids[n] = p->id;
			next[n++] = p->stored;
		}
	}
	consumer_commit(ag->consumer, ids, next, n, 1);
	free(ids);
	free(next);
}

/* Retention: delete expired rows in small batches, now and then. */
void flush_expire(struct aggregator *ag)
{
	const struct config_duration_map *keep = &ag->cfg->retention;
	int64_t now = runtime_now_ms(), wall_s = runtime_wall_ms() / 1000;
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
