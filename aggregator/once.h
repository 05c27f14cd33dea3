/*
 * once: the end of a batch run (--once). At start it notes where each
 * partition of the topic begins and ends; the run is done when every
 * partition that held messages was counted up to that end, by this member
 * (the partitions it holds, in the ledger) or by another (their offsets
 * stored in MariaDB, asked once a second). A member given no partitions, or
 * only some, waits for the rest: a member that died may hold them until
 * its session times out.
 */
#ifndef LOGTALLY_ONCE_H
#define LOGTALLY_ONCE_H

#include <stdbool.h>

#include "consumer.h"
#include "ledger.h"
#include "stop.h"
#include "store.h"

struct once;

/*
 * The bounds of topic's partitions now, asked of Kafka until it answers.
 * NULL when a signal stopped the wait.
 */
struct once *once_new(struct consumer *consumer, struct store *store,
		      const char *topic, struct stop *stop);
void once_free(struct once *o);

/* Whether every partition was counted up to its end at start. */
bool once_done(struct once *o, struct ledger *ledger);

#endif
