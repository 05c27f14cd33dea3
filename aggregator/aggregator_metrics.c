/*
 * aggregator_metrics: registration only; each module moves its own.
 */
#include "aggregator_metrics.h"

#include <math.h>
#include <stdlib.h>

#include "xalloc.h"

static void aggregator_metrics_counters(struct aggregator_metrics *m, struct metrics *reg)
{
	m->count.messages = metrics_counter(reg, "logtally_aggregator_messages_total",
					    "Kafka messages consumed.", NULL);
	m->count.bad = metrics_counter(reg, "logtally_aggregator_bad_messages_total",
				       "Messages that are neither the agent's JSON nor a bare line.", NULL);
	m->count.parse_errors = metrics_counter(reg, "logtally_aggregator_parse_errors_total",
						"Lines that do not match log_format.", NULL);
	m->count.duplicates = metrics_counter(reg, "logtally_aggregator_duplicates_total",
					      "Lines an agent sent again, skipped.", NULL);
	m->count.late = metrics_counter(reg, "logtally_aggregator_late_events_total",
					"Lines older than lateness behind the newest (still counted).", NULL);
	m->count.events = metrics_counter(reg, "logtally_aggregator_events_total",
					  "Lines counted.", NULL);
	m->flush.flushes = metrics_counter(reg, "logtally_aggregator_flushes_total",
					   "Transactions committed.", NULL);
	m->flush.rows = metrics_counter(reg, "logtally_aggregator_flush_rows_total",
					"Rows of counts upserted.", NULL);
	m->flush.statements = metrics_counter(reg, "logtally_aggregator_flush_statements_total",
					      "Upsert statements sent.", NULL);
	m->flush.conflicts = metrics_counter(reg, "logtally_aggregator_flush_conflicts_total",
					     "Partitions found owned by another member at flush.", NULL);
	m->rebalance.aged_out = metrics_counter(reg, "logtally_aggregator_aged_out_messages_total",
						"Messages removed by Kafka's retention before they were counted.", NULL);
	m->rebalance.rebalances = metrics_counter(reg, "logtally_aggregator_rebalances_total",
						  "Partition assignments and revocations.", NULL);
	m->flush.expired = metrics_counter(reg, "logtally_aggregator_expired_rows_total",
					   "Rows deleted by retention.", NULL);
	m->flush.db_retry = metrics_counter(reg, "logtally_aggregator_db_errors_total",
					    "Database failures.", "class", "retry", NULL);
	m->flush.db_fatal = metrics_counter(reg, "logtally_aggregator_db_errors_total",
					    "Database failures.", "class", "fatal", NULL);
}

/* Rows per flush: from one key to a backlog's worth. */
static const double aggregator_metrics_rows[] = {1, 10, 100, 1000, 10000, 100000, 1000000};

static void aggregator_metrics_gauges(struct aggregator_metrics *m, struct metrics *reg,
				      const struct dimensions *dims)
				      {
	
	size_t n = dimensions_count(dims);

	m->count.other = xcalloc(n, sizeof(*m->count.other));
	for (size_t i = 0; i < n; i++)
		m->count.other[i] = metrics_counter(reg, "logtally_aggregator_other_values_total",
						    "Values counted as (other) past max_values.",
						    "dimension", dimensions_name(dims, i), NULL);
	m->db_up = metrics_gauge(reg, "logtally_aggregator_db_up",
				 "1 while MariaDB takes the flushes.", NULL);
	m->flush.pending = metrics_gauge(reg, "logtally_aggregator_pending_keys",
					 "Keys counted and not flushed yet.", NULL);
	m->rebalance.assigned = metrics_gauge(reg, "logtally_aggregator_partitions_assigned",
					      "Partitions this member consumes.", NULL);
	m->lag = metrics_gauge(reg, "logtally_aggregator_consumer_lag",
			       "Messages of the partitions held not counted yet, "
			       "by the high watermarks of the last fetches.", NULL);
	m->flush_age = metrics_gauge(reg, "logtally_aggregator_last_flush_age_seconds",
				     "Seconds since the last flush committed, to the "
				     "second (NaN before the first).", NULL);
	metrics_gauge_set(m->flush_age, NAN);
	m->flush.last_flush = metrics_gauge(reg, "logtally_aggregator_last_flush_timestamp_seconds",
					    "When the last flush committed (Unix time).", NULL);
	m->flush.seconds = metrics_histogram(reg, "logtally_aggregator_flush_duration_seconds",
					     "Time of one flush transaction.", NULL, 0, NULL);
	m->flush.size_rows = metrics_histogram(reg, "logtally_aggregator_flush_size_rows",
					       "Rows upserted by one flush transaction.",
					       aggregator_metrics_rows, sizeof(aggregator_metrics_rows) / sizeof(aggregator_metrics_rows[0]),
					       NULL);
	metrics_gauge_set(m->db_up, 1);
}

void aggregator_metrics_register(struct aggregator_metrics *m, struct metrics *reg,
				 const struct dimensions *dims)
				 {
	aggregator_metrics_counters(m, reg);
	aggregator_metrics_gauges(m, reg, dims);
	m->rebalance.registry = reg;
}

void aggregator_metrics_fini(struct aggregator_metrics *m)
{
	free(m->count.other);
}
