/*
 * consumer: the aggregator's side of Kafka. A librdkafka consumer in the
 * group kafka.group, subscribed to kafka.topic with the eager "range"
 * assignor. Kafka's committed offsets are never used to start from: on
 * every assignment the owner says where each partition starts (the offsets
 * stored in MariaDB) and the consumer assigns exactly those; Kafka's
 * commits are written after each database commit, for lag tools only.
 * Position in the pipeline: Kafka -> consumer -> message_decode -> ...
 */
#ifndef LOGTALLY_CONSUMER_H
#define LOGTALLY_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "aggregator_config.h"

/* What the owner does on a rebalance; both run inside consumer_poll(). */
struct consumer_events {
	/*
	 * parts[0..n) were assigned: fill start[i] with the offset to start
	 * partition parts[i] at (a real offset, or RD_KAFKA_OFFSET_BEGINNING).
	 */
	void (*assign)(void *arg, const int32_t *parts, size_t n, int64_t *start);
	/* parts[0..n) are being taken away: flush or drop their counts. */
	void (*revoke)(void *arg, const int32_t *parts, size_t n);
};

struct consumer;

/*
 * A consumer for cfg (borrowed: must outlive it) that calls events with
 * arg. kafka.properties are applied last and may override the defaults
 * (except the ones exactly-once depends on: enable.auto.commit,
 * enable.auto.offset.store, which are forced off). Subscribes at once.
 * Returns NULL with the reason in err.
 */
struct consumer *consumer_new(const struct aggregator_kafka *cfg,
			      const struct consumer_events *events, void *arg,
			      char *err, size_t errlen);

/* Leave the group (revoking what is held, through events) and free. */
void consumer_free(struct consumer *c);

/*
 * Wait up to timeout_ms for messages and take up to max of them into
 * msgs[]; serves rebalances on the way. Errors that are not messages
 * (broker down, end of partition) are logged with rate limiting and not
 * returned. Returns the number taken; the caller destroys each with
 * rd_kafka_message_destroy().
 */
size_t consumer_poll(struct consumer *c, int timeout_ms,
		     rd_kafka_message_t **msgs, size_t max);

/* Stop (pause != 0) or restart fetching parts[0..n). */
void consumer_pause(struct consumer *c, const int32_t *parts, size_t n,
		    int pause);

/*
 * Move the fetch position of parts[i] to next[i] (blocks until librdkafka
 * took it, at most a few seconds): messages fetched before are dropped by
 * librdkafka. failed (n entries, may be NULL) gets, for each partition,
 * whether its seek failed: its fetch position is then unknown (a seek that
 * timed out may still take effect later). Returns 0, or -1 when any seek
 * failed, with the reason logged (rate-limited).
 */
int consumer_seek(struct consumer *c, const int32_t *parts,
		  const int64_t *next, size_t n, bool *failed);

/*
 * The partition's high watermark as the last fetch response gave it (no
 * request: cheap, a little stale); -1 when none came yet.
 */
int64_t consumer_cached_high(struct consumer *c, int32_t part);

/*
 * The partition's low and high watermarks asked of the broker (blocks up
 * to timeout_ms). Returns 0, or -1 with the reason logged.
 */
int consumer_watermarks(struct consumer *c, int32_t part, int64_t *lo,
			int64_t *hi, int timeout_ms);

/*
 * Commit next[i] for parts[i] to Kafka, for lag tools: asynchronously, or
 * when wait is non-zero blocking until the broker answered (for the last
 * flush before leaving, whose commit would otherwise be lost).
 */
void consumer_commit(struct consumer *c, const int32_t *parts,
		     const int64_t *next, size_t n, int wait);

/*
 * The number of partitions of the topic, asked of the broker (blocks up to
 * timeout_ms). Returns it, or -1 with the reason logged.
 */
int consumer_partition_count(struct consumer *c, int timeout_ms);

#endif
