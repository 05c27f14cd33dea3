/*
 * rebalance: the partitions this member holds and where Kafka fetches
 * them from, between the ledger and the consumer. On assignment each
 * partition starts at the offset stored in MariaDB (the beginning when none
 * is), never at Kafka's committed offset, and the high marks of its sources
 * are loaded; a stored offset below the partition's log start means lines
 * aged out of Kafka before they were counted: that is logged loudly and
 * counted. On revocation the pending counts are flushed first; when the
 * database is away they are dropped, and the next owner recounts them from
 * the stored offsets. Both run inside consumer_poll(), on the loop's thread.
 *
 * It also moves the partitions held as the loop decides: seek them back to
 * where counting is (after an outage, or a poll that ran a callback between
 * its messages), pause and resume them, commit their stored offsets to
 * Kafka (for lag tools; MariaDB's are the ones that count). A partition
 * whose seek failed counts nothing (count.c) until a seek, tried again with
 * backoff, succeeds.
 */
#ifndef LOGTALLY_REBALANCE_H
#define LOGTALLY_REBALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consumer.h"
#include "flush.h"
#include "ledger.h"
#include "metrics.h"
#include "stop.h"
#include "store.h"

struct rebalance_metrics {
	struct metrics *registry;               /* for each partition's lag gauge */
	struct metrics_counter *rebalances;     /* assignments and revocations */
	struct metrics_counter *aged_out;       /* messages gone before counted */
	struct metrics_gauge *assigned;         /* partitions held */
};

/* What rebalances need; the caller owns everything it points to. */
struct rebalance_env {
	struct ledger *ledger;
	struct flush *flush;            /* flushes before a revocation */
	struct store *store;            /* the loop's: offsets at assignment */
	struct stop *stop;              /* waits for the database end on a signal */
	const char *topic;
	struct rebalance_metrics m;
};

struct rebalance;

/* For env (copied); the consumer comes after, as it calls back into it. */
struct rebalance *rebalance_new(const struct rebalance_env *env);
void rebalance_free(struct rebalance *r);
void rebalance_set_consumer(struct rebalance *r, struct consumer *consumer);

/* The consumer's events, arg a struct rebalance. */
void rebalance_assign(void *arg, const int32_t *parts, size_t n, int64_t *start);
void rebalance_revoke(void *arg, const int32_t *parts, size_t n);

/* Whether a callback met an error retrying cannot fix (logged): stop. */
bool rebalance_failed(const struct rebalance *r);

/* Whether partitions were ever assigned to this member. */
bool rebalance_assigned_once(const struct rebalance *r);

/*
 * Seek every partition held to the next offset to count, and drop what was
 * fetched before (a new ledger generation). A partition whose seek failed
 * is marked seek_due; rebalance_retry_seek() tries again after a backoff.
 */
void rebalance_reposition(struct rebalance *r);
void rebalance_retry_seek(struct rebalance *r);

/* Pause or resume fetching the partitions held; pause those found lost. */
void rebalance_pause(struct rebalance *r, bool pause);
void rebalance_pause_lost(struct rebalance *r);

/*
 * Set each held partition's lag gauge from the high watermark librdkafka
 * has from its fetches (no request); returns their sum.
 */
int64_t rebalance_lags(struct rebalance *r);

/* Commit the stored offsets of the partitions held to Kafka; with wait,
 * wait for the answer (before the consumer closes). */
void rebalance_commit(struct rebalance *r, bool wait);

#endif
