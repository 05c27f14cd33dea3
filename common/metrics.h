/*
 * metrics: a registry of counters, gauges and histograms, rendered as
 * Prometheus text (exposition format 0.0.4) for /metrics.
 *
 * Series are registered once, usually at start, and then updated from any
 * thread without a lock (C11 atomics), while the HTTP thread renders.
 * Registration and rendering share one mutex. A series may carry up to
 * METRICS_LABELS_MAX constant labels, given as name/value pairs ending in
 * NULL:
 *
 *	errors = metrics_counter(reg, "logtally_agent_delivery_errors_total",
 *				 "Messages Kafka refused.", "kind", "timeout", NULL);
 *	metrics_counter_add(errors, 1);
 *
 * Misuse is a programming error and aborts with a message naming the metric:
 * an invalid metric or label name, a counter whose name does not end in
 * "_total", more than METRICS_LABELS_MAX labels, a label without a value, a
 * label name given twice, "le" on a histogram, histogram bounds that do not
 * ascend, or a name registered again with another type, help or bounds.
 * Label values may be any string; they are escaped when rendered.
 */
#ifndef LOGTALLY_METRICS_H
#define LOGTALLY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define METRICS_LABELS_MAX 2

struct metrics;
struct metrics_counter;
struct metrics_gauge;
struct metrics_histogram;

/* A new, empty registry. Caller owns it; free with metrics_free(). */
struct metrics *metrics_new(void);

/*
 * Frees the registry and every series in it; the series pointers it handed
 * out become invalid. No thread may update or render any more. NULL is a
 * no-op.
 */
void metrics_free(struct metrics *reg);

/*
 * Registers the counter name{labels} and returns it, or returns the one
 * registered before under the same name and labels. The trailing arguments
 * are label name/value pairs ended by NULL. All strings are copied. The
 * series is owned by reg and lives as long as it. Takes the registry lock.
 */
struct metrics_counter *metrics_counter(struct metrics *reg, const char *name,
					const char *help, ...)
	__attribute__((sentinel));

/* Adds n to the counter. Lock-free; safe from any thread. */
void metrics_counter_add(struct metrics_counter *counter, uint64_t n);

/* The counter's current value. */
uint64_t metrics_counter_get(const struct metrics_counter *counter);

/*
 * Registers (or finds) a gauge, as metrics_counter() does. A gauge holds a
 * double, so integers are exact up to 2^53. Starts at 0.
 */
struct metrics_gauge *metrics_gauge(struct metrics *reg, const char *name,
				    const char *help, ...)
	__attribute__((sentinel));

/* Sets, adds to (delta may be negative), or reads a gauge. Lock-free. */
void metrics_gauge_set(struct metrics_gauge *gauge, double value);
void metrics_gauge_add(struct metrics_gauge *gauge, double delta);
double metrics_gauge_get(const struct metrics_gauge *gauge);

/*
 * Registers (or finds) a histogram with the given bucket upper bounds,
 * strictly ascending and finite; "+Inf" is implied. bounds is copied.
 * bounds NULL (with nbounds 0) gives the default buckets for durations in
 * seconds: 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10. Then label pairs
 * and NULL, as for metrics_counter().
 */
struct metrics_histogram *metrics_histogram(struct metrics *reg,
					    const char *name, const char *help,
					    const double *bounds, size_t nbounds,
					    ...)
	__attribute__((sentinel));

/*
 * Counts one observation into the first bucket whose bound is >= value.
 * Lock-free. A render running at the same time may show _sum without the
 * latest observation; the buckets and _count always agree.
 */
void metrics_histogram_observe(struct metrics_histogram *histogram, double value);

/*
 * Appends the whole registry to out as Prometheus text: families sorted by
 * name, each under one # HELP and # TYPE, its series sorted by their labels.
 * Returns 0, or -ENOSPC when it does not fit in out's maximum, in which case
 * out is left as it was. Takes the registry lock; never blocks otherwise.
 */
int metrics_render(struct metrics *reg, struct buf *out);

#endif
