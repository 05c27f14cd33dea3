/*
 * alerts: the alert rules of the configuration, evaluated on a thread of
 * their own every alerts_every against the counts in MariaDB, on a
 * connection of their own: for each rule, the sums of its dimension's
 * values (hits, bytes, durations) in the base windows of the last `over`
 * (wall clock, UTC), and for a percentile rule their latency histograms,
 * go to alert_rule.c, and every firing and resolving it reports becomes a
 * JSON message (alert_message.c) for webhook.c. Nothing here touches the
 * consuming loop: a slow database or receiver delays alerts, never
 * counting.
 *
 * While MariaDB cannot be read, rounds are skipped (logged once): states
 * are kept and nothing fires or resolves on missing data. With several
 * aggregators on one database, one of them evaluates (the holder of a
 * MariaDB named lock, held by its alerts connection); another takes over,
 * with fresh states, when that connection ends.
 *
 * Metrics: logtally_aggregator_alerts_firing{rule},
 * logtally_aggregator_alert_notifications_total{rule,status} and
 * logtally_aggregator_alert_rounds_total, plus the webhook's.
 */
#ifndef LOGTALLY_ALERTS_H
#define LOGTALLY_ALERTS_H

#include <stddef.h>

#include "aggregator_config.h"

struct alerts;
struct metrics;

/*
 * Registers the metrics in reg and starts the evaluating and sending
 * threads for cfg's rules (none when there are no rules). cfg and reg are
 * borrowed and must outlive the result. The first round runs
 * alerts_every after the start. Returns NULL with the reason in err (a
 * rule that cannot be set up, libcurl that cannot start). Caller owns the
 * result; stop and free it with alerts_stop().
 */
struct alerts *alerts_start(const struct aggregator_config *cfg,
			    struct metrics *reg, char *err, size_t errlen);

/*
 * Stops both threads (a round in progress ends first; a webhook attempt
 * in flight is aborted) and frees everything. Messages not delivered yet
 * are dropped and counted. NULL is a no-op.
 */
void alerts_stop(struct alerts *al);

#endif
