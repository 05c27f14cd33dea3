/*
 * once: bounds taken from the consumer's metadata and watermarks, progress
 * from the ledger and, for the partitions of others, from the store (the
 * loop's connection, on the loop's thread).
 */
#include "once.h"

#include <stdlib.h>

#include "logging.h"
#include "runtime.h"
#include "xalloc.h"

#define ONCE_KAFKA_TIMEOUT_MS 10000
#define ONCE_CHECK_EVERY_MS 1000

struct once {
	struct store *store;
	const char *topic;
	int64_t *lo, *end;              /* each partition's bounds at start */
	size_t n;
	int64_t check_ms;               /* next look at others' partitions */
};

struct once *once_new(struct consumer *consumer, struct store *store,
		      const char *topic, struct stop *stop)
{
	struct once *o = xcalloc(1, sizeof(*o));
	int64_t backoff = 200;
	int n;

	o->store = store;
	o->topic = topic;
	while ((n = consumer_partition_count(consumer, ONCE_KAFKA_TIMEOUT_MS)) < 0)
		if (!stop_pause(stop, &backoff))
			goto stopped;
	o->n = (size_t)n;
	o->lo = xcalloc(o->n + 1, sizeof(*o->lo));
	o->end = xcalloc(o->n + 1, sizeof(*o->end));
	for (int32_t i = 0; i < n; i++)
		while (consumer_watermarks(consumer, i, &o->lo[i], &o->end[i],
					   ONCE_KAFKA_TIMEOUT_MS))
			if (!stop_pause(stop, &backoff))
				goto stopped;
	logging_info("--once: counting %d partitions up to their ends at start", n);
	return o;
stopped:
	once_free(o);
	return NULL;
}

void once_free(struct once *o)
{
	if (!o)
		return;
	free(o->lo);
	free(o->end);
	free(o);
}

/* Whether partitions that are not ours are done: another member stored
 * their end. */
static bool once_others_done(struct once *o, const int32_t *ids, size_t n)
{
	int64_t *stored;
	bool done = true;
	char err[512];

	if (runtime_now_ms() < o->check_ms)
		return false;
	o->check_ms = runtime_now_ms() + ONCE_CHECK_EVERY_MS;
	stored = xcalloc(n + 1, sizeof(*stored));
	if (store_load_offsets(o->store, o->topic, ids, n, stored, err, sizeof(err)))
		done = false;
	for (size_t i = 0; done && i < n; i++)
		done = stored[i] >= o->end[ids[i]];
	free(stored);
	return done;
}

bool once_done(struct once *o, struct ledger *ledger)
{
	int32_t *others = xcalloc(o->n + 1, sizeof(*others));
	size_t n = 0;
	bool done;

	for (size_t i = 0; i < o->n; i++) {
		struct ledger_partition *p = i < ledger_count(ledger) ?
					     ledger_partition(ledger, (int32_t)i) : NULL;

		if (o->end[i] <= o->lo[i])
			continue;       /* nothing to count */
		if (p && p->assigned && !p->lost) {
			if (p->next < o->end[i]) {
				free(others);
				return false;
			}
		} else {
			others[n++] = (int32_t)i;
		}
	}
	done = !n || once_others_done(o, others, n);
	free(others);
	return done;
}
