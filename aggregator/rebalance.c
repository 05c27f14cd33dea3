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

struct agg_partition *rebalance_partition(struct aggregator *ag, int32_t id)
{
	if (id < 0)
		return NULL;
	if ((size_t)id >= ag->nparts) {
		size_t n = (size_t)id + 1;

		ag->parts = xrealloc(ag->parts, n * sizeof(*ag->parts));
		memset(ag->parts + ag->nparts, 0,
		       (n - ag->nparts) * sizeof(*ag->parts));
		for (size_t i = ag->nparts; i < n; i++)
			ag->parts[i].id = (int32_t)i;
		ag->nparts = n;
	}
	return &ag->parts[id];
}

struct agg_source *rebalance_source(struct aggregator *ag, const char *key,
				    int32_t partition)
{
	struct agg_source *src = hmap_get(ag->sources, key);
	size_t len;

	if (src) {
		src->partition = partition;
		return src;
	}
	len = strlen(key);
	src = xmalloc(sizeof(*src) + len + 1);
	memcpy(src->key, key, len + 1);
	src->partition = partition;
	src->high = -1;
	src->dirty = false;
	hmap_put(ag->sources, src->key, src);
	return src;
}

void rebalance_mark_dirty(struct aggregator *ag, struct agg_source *src)
{
	if (src->dirty)
		return;
	if (ag->ndirty == ag->dirty_cap) {
		ag->dirty_cap = ag->dirty_cap ? 2 * ag->dirty_cap : 64;
		ag->dirty = xrealloc(ag->dirty, ag->dirty_cap * sizeof(*ag->dirty));
	}
	ag->dirty[ag->ndirty++] = src;
	src->dirty = true;
}

struct rebalance_doomed {
	int32_t partition;
	struct agg_source **list;
	size_t n, cap;
};

static void rebalance_doom(void *arg, const char *key, void *value)
{
	struct rebalance_doomed *d = arg;
	struct agg_source *src = value;

	(void)key;
	if (src->partition != d->partition)
		return;
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 16;
		d->list = xrealloc(d->list, d->cap * sizeof(*d->list));
	}
	d->list[d->n++] = src;
}

/* Forget the sources of a partition: its next owner has their rows. */
void rebalance_drop_sources(struct aggregator *ag, int32_t partition)
{
	struct rebalance_doomed d = {.partition = partition};
	size_t kept = 0;

	for (size_t i = 0; i < ag->ndirty; i++)
		if (ag->dirty[i]->partition != partition)
			ag->dirty[kept++] = ag->dirty[i];
	ag->ndirty = kept;
	hmap_each(ag->sources, rebalance_doom, &d);
	for (size_t i = 0; i < d.n; i++) {
		hmap_remove(ag->sources, d.list[i]->key);
		free(d.list[i]);
	}
	free(d.list);
}

static void rebalance_free_source(void *arg, const char *key, void *value)
{
	(void)arg;
	(void)key;
	free(value);
}

void rebalance_free(struct aggregator *ag)
{
	for (size_t i = 0; i < ag->nparts; i++) {
		window_deltas_free(ag->parts[i].deltas);
		window_deltas_free(ag->parts[i].spare);
	}
	free(ag->parts);
	if (ag->sources)
		hmap_each(ag->sources, rebalance_free_source, NULL);
	hmap_free(ag->sources);
	free(ag->dirty);
}

static void rebalance_loaded_source(void *arg, const char *source,
				    int32_t partition, int64_t high)
{
	struct agg_source *src = rebalance_source(arg, source, partition);

	src->high = high;
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
static int64_t rebalance_start(struct aggregator *ag, struct agg_partition *p)
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
	p->next = start >= 0 ? start : AGG_OFFSET_UNKNOWN;
	return start >= 0 ? start : RD_KAFKA_OFFSET_BEGINNING;
}

/* Whether a partition held waits for a seek that failed. */
static bool rebalance_seek_pending(const struct aggregator *ag)
{
	for (size_t i = 0; i < ag->nparts; i++) {
		const struct agg_partition *p = &ag->parts[i];

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
 * fetched before (ag->generation): after an outage, after a poll that ran a
 * rebalance callback between the messages it returned, and again while a
 * seek failed. A partition whose seek failed is marked seek_due: count.c
 * refuses its messages until rebalance_retry_seek() repositions it.
 */
void rebalance_reposition(struct aggregator *ag)
{
	int32_t *ids = xcalloc(ag->nparts + 1, sizeof(*ids));
	int64_t *next = xcalloc(ag->nparts + 1, sizeof(*next));
	bool *failed = xcalloc(ag->nparts + 1, sizeof(*failed));
	size_t n = 0, nfailed = 0;

	ag->generation++;
	for (size_t i = 0; i < ag->nparts; i++) {
		struct agg_partition *p = &ag->parts[i];

		if (!p->assigned || p->lost)
			continue;
		ids[n] = p->id;
		next[n++] = p->next >= 0 ? p->next : RD_KAFKA_OFFSET_BEGINNING;
	}
	consumer_seek(ag->consumer, ids, next, n, failed);
	for (size_t i = 0; i < n; i++) {
		ag->parts[ids[i]].seek_due = failed[i];
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

	ag->generation++;

	metrics_counter_add(ag->m.rebalances, 1);
	for (size_t i = 0; i < n; i++) {
		struct agg_partition *p = rebalance_partition(ag, ids[i]);

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

	ag->generation++;

	metrics_counter_add(ag->m.rebalances, 1);
	/* after a second signal, nothing more is written: leaving must not wait */
	if (ag->db_down || ag->signals >= 2 || flush_sync(ag)) {
		flush_drop(ag);
		logging_warn("dropping the pending counts of %zu revoked partition%s: "
			     "their next owner counts them again from the stored "
			     "offsets", n, n == 1 ? "" : "s");
	}
	for (size_t i = 0; i < n; i++) {
		struct agg_partition *p = rebalance_partition(ag, ids[i]);

		if (!p || !p->assigned)
			continue;
		p->assigned = false;
		p->lost = false;
		p->seek_due = false;
		window_deltas_clear(p->deltas);
		rebalance_drop_sources(ag, p->id);
		metrics_gauge_add(ag->m.assigned, -1);
		if (p->lag)
			metrics_gauge_set(p->lag, NAN);
		logging_info("partition %d revoked", (int)p->id);
	}
}
