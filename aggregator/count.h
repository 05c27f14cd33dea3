/*
 * count: the messages of a batch into the pending counts, in order, on the
 * loop's thread. prep.c has decoded each value and parsed its line; count
 * checks each message against its partition in the ledger (held, not lost,
 * its fetch position known, not seen before) and its source's high mark
 * (an agent's resend is skipped), places it in its event-time window and
 * adds each of its values to the partition's deltas, or (other) past the
 * cap. It knows the ledger, the cap, the window and its metrics, nothing
 * of the loop.
 */
#ifndef LOGTALLY_COUNT_H
#define LOGTALLY_COUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "ledger.h"
#include "metrics.h"
#include "prep.h"
#include "window.h"

struct count_metrics {
	struct metrics_counter *messages;       /* counted, whatever they held */
	struct metrics_counter *events;         /* lines counted into windows */
	struct metrics_counter *bad;            /* values that do not decode */
	struct metrics_counter *parse_errors;   /* lines log_format does not match */
	struct metrics_counter *duplicates;     /* resends skipped */
	struct metrics_counter *late;           /* older than newest - lateness */
	struct metrics_counter **other;         /* by dimension: counted as (other) */
};

/* What counting needs; the caller owns everything it points to. */
struct count_env {
	struct ledger *ledger;
	struct window_cap *cap;
	int64_t window_s;       /* the base window */
	int64_t lateness_ms;
	bool paused;            /* the database is away: nothing is counted (the
				 * partitions are fetched again from p->next) */
	int64_t newest_ms;      /* newest event time seen; moved by count_batch() */
	struct count_metrics m;
};

/*
 * Count msgs[0..n), whose prepared forms are slots[0..n), in order. A
 * message of a partition not held, lost, waiting for a seek, or below its
 * next offset, or any while paused, is left uncounted: it will be fetched
 * again. Every other moves its partition's next offset past it, whatever
 * it holds: a bad one is counted in a metric and logged (rate limited).
 */
void count_batch(struct count_env *env, rd_kafka_message_t *const *msgs,
		 const struct prep_slot *slots, size_t n);

/*
 * Forget the caps of the windows of sizes[0..n) (seconds) that no longer
 * take on-time lines (older than the newest event - lateness): a replay of
 * old lines opens many windows, so call it often.
 */
void count_expire_caps(const struct count_env *env, const int64_t *sizes, size_t n);

#endif
