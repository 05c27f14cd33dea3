/*
 * producer: the agent's side of Kafka, a librdkafka producer with the
 * settings that make "nothing lost" hold: enable.idempotence=true,
 * acks=all, message.timeout.ms=0 (retry forever), lz4 by default, and a
 * queue bounded by max_buffer in producer_send() (librdkafka's own limits
 * are set out of the way); kafka.properties are applied last, as is.
 * Every message carries an opaque pointer that comes back, in order per
 * partition, in a delivery report served by producer_poll() in the
 * caller's thread: that is the only way the registry learns a line is safe.
 * The producer also tracks outages (all brokers down) for logs and metrics.
 * All functions are for the one thread that polls: callbacks run in it.
 */
#ifndef LOGTALLY_PRODUCER_H
#define LOGTALLY_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"

struct producer;

/*
 * Bytes charged against max_buffer for each message in flight besides its
 * value: what librdkafka holds per message (its struct, the key, the
 * allocator's rounding), so that max_buffer bounds memory.
 */
#define PRODUCER_MSG_OVERHEAD 256

struct producer_config {
	const char *brokers;
	const char *topic;
	const struct config_map *properties;    /* may be NULL */
	uint64_t max_buffer;                    /* memory of messages in flight */
};

/*
 * Called from producer_poll() once per message: err is 0 when Kafka
 * acknowledged it, otherwise librdkafka's error code (the message was not
 * delivered and will not be retried by the producer); msg is rd_kafka's
 * error string for it.
 */
typedef void (*producer_ack_fn)(void *opaque, int err, const char *msg, void *arg);

/*
 * Create the producer and connect in the background. Metrics are registered
 * in metrics (may be NULL). Returns NULL with librdkafka's reason in err.
 * Free with producer_free().
 */
struct producer *producer_new(const struct producer_config *cfg,
			      producer_ack_fn ack, void *arg,
			      struct metrics *metrics, char *err, size_t errlen);

/*
 * Destroy the producer without waiting: messages still in flight are
 * purged, their delivery reports are not called. p may be NULL.
 */
void producer_free(struct producer *p);

/*
 * Largest value the producer accepts (message.max.bytes less the room for
 * key and protocol overhead). The caller cuts lines so that values fit.
 */
size_t producer_max_value(const struct producer *p);

/*
 * Queue one message. On success the producer owns value (malloc'd; freed
 * after its delivery report) and opaque comes back through the ack
 * callback. Returns 0; -ENOBUFS when max_buffer bytes are in flight (value
 * and opaque stay the caller's: pause and retry after acks); -EMSGSIZE
 * when len > producer_max_value(); -EIO for other errors. Does not block.
 */
int producer_send(struct producer *p, const char *key, size_t keylen,
		  char *value, size_t len, void *opaque);

/* Serve delivery reports and errors, waiting up to timeout_ms (0: none). */
void producer_poll(struct producer *p, int timeout_ms);

/*
 * An fd that becomes readable when producer_poll() has work (librdkafka's
 * queue IO event); the caller polls it and calls producer_poll(p, 0).
 */
int producer_fd(const struct producer *p);

/* Messages and value bytes queued or in flight, not yet reported. */
size_t producer_in_flight(const struct producer *p);
uint64_t producer_in_flight_bytes(const struct producer *p);

/* Whether Kafka is unreachable now (from the first "all brokers down"
 * error until the next successful delivery or broker connection). */
bool producer_outage(const struct producer *p);

/*
 * Whether librdkafka raised a fatal error (the producer cannot go on, e.g.
 * fenced or not authorised): then err holds its reason, and the caller
 * should save what was acknowledged and exit so that it restarts cleanly.
 * err may be NULL.
 */
bool producer_fatal(const struct producer *p, char *err, size_t errlen);

/*
 * Wait up to timeout_ms for every message in flight to be reported,
 * serving acks meanwhile. Returns 0 when none is left, -ETIMEDOUT otherwise.
 */
int producer_flush(struct producer *p, int timeout_ms);

#endif
