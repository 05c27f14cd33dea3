/*
 * aggregator: the aggregator's context and lifecycle. It owns the consumer,
 * the parser, the dimensions, the pending counts and the store, and runs
 * the loop: take a batch of messages, count them, flush every
 * flush_interval in one transaction with the offsets, serve rebalances.
 * While the database is away it keeps what it counted, pauses consumption
 * and retries with backoff. On SIGTERM or SIGINT it flushes (up to
 * shutdown_timeout) and leaves the group; a second signal stops it at once,
 * which loses nothing: the database holds whole transactions only.
 */
#ifndef LOGTALLY_AGGREGATOR_H
#define LOGTALLY_AGGREGATOR_H

#include <stdbool.h>
#include <stddef.h>

#include "aggregator_config.h"

struct aggregator;

struct aggregator_options {
	bool once;              /* batch: up to the end offsets found at start */
};

/*
 * Set up everything for cfg (borrowed; must outlive the aggregator).
 * Returns NULL with the reason in err (a pattern that does not compile,
 * Kafka settings librdkafka refuses, an HTTP address that cannot be
 * bound). Does not wait for the database: the loop does. Blocks SIGTERM,
 * SIGINT and SIGPIPE in the calling thread.
 */
struct aggregator *aggregator_new(const struct aggregator_config *cfg,
				  const struct aggregator_options *opts,
				  char *err, size_t errlen);

void aggregator_free(struct aggregator *ag);

/* Run until done (batch) or stopped. Returns the exit status: 0, or 1. */
int aggregator_run(struct aggregator *ag);

#endif
