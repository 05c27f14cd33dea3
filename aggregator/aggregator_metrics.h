/*
 * aggregator_metrics: every metric the aggregator exports, named and
 * described in one place (the names are an interface: dashboards and
 * alerts use them), handed to the modules that move them.
 */
#ifndef LOGTALLY_AGGREGATOR_METRICS_H
#define LOGTALLY_AGGREGATOR_METRICS_H

#include "count.h"
#include "dimensions.h"
#include "flush.h"
#include "metrics.h"
#include "rebalance.h"

struct aggregator_metrics {
	struct count_metrics count;
	struct flush_metrics flush;
	struct rebalance_metrics rebalance;
	struct metrics_gauge *db_up;            /* the loop's: 1 while flushes go in */
	struct metrics_gauge *lag;              /* all partitions held */
	struct metrics_gauge *flush_age;        /* seconds since the last commit */
};

/* Register them all in reg (the "other" counters by dimension of dims). */
void aggregator_metrics_register(struct aggregator_metrics *m, struct metrics *reg,
				 const struct dimensions *dims);
void aggregator_metrics_fini(struct aggregator_metrics *m);

#endif
