/*
 * aggregator_private: the aggregator's context, shared by the files that
 * make up its loop and nothing else: aggregator.c (lifecycle, loop,
 * signals, HTTP), rebalance.c (partitions and sources as they come and
 * go) and flush.c (the pending counts into MariaDB, retries, retention).
 * count.c and ledger.c have headers of their own.
 *
 * The partitions and sources counted, and their invariants, are the
 * ledger's (ledger.h). While the database is away (db_down) nothing more
 * is counted: the partitions are paused, late arrivals are dropped, and on
 * recovery each partition is sought back to p->next.
 */
#ifndef LOGTALLY_AGGREGATOR_PRIVATE_H
#define LOGTALLY_AGGREGATOR_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "accesslog.h"
#include "aggregator.h"
#include "alerts.h"
#include "api.h"
#include "consumer.h"
#include "count.h"
#include "dimensions.h"
#include "hmap.h"
#include "ledger.h"
#include "message.h"
#include "metrics.h"
#include "runtime.h"
#include "status.h"
#include "prep.h"
#include "store.h"
#include "window.h"
#include "writer.h"

struct agg_metrics {
	struct metrics_counter *messages, *bad, *parse_errors, *duplicates;
	struct metrics_counter *late, *events, *flushes, *rows, *statements;
	struct metrics_counter *conflicts, *aged_out, *rebalances, *expired;
	struct metrics_counter *db_retry, *db_fatal, **other;
	struct metrics_gauge *db_up, *pending, *assigned, *last_flush, *lag;
	struct metrics_gauge *flush_age;
	struct metrics_histogram *flush_seconds, *flush_rows;
};

/*
 * A flush being written, or kept for a retry while the database is away:
 * the deltas of the partitions that moved (owned), their offsets, copies
 * of the dirty sources, and the rows built from them.
 */
struct flush_job {
	bool active;
	struct store_offset *offsets;
	struct window_deltas **deltas;  /* by index of offsets */
	size_t n;
	struct store_source *sources;   /* keys owned */
	size_t nsources;
	struct window_rows rows;
	struct store_flush fl;
	int64_t started_ms;
};

struct aggregator {
	const struct aggregator_config *cfg;
	struct aggregator_options opts;
	struct consumer *consumer;
	const struct dimensions *dims;  /* prep's: names and count only */
	struct window_cap *cap;
	struct store *store;            /* the loop's connection */
	struct writer *writer;          /* the flushes' thread and connection */
	struct flush_job job;
	struct metrics *metrics;
	struct agg_metrics m;
	struct httpd *httpd;
	struct alerts *alerts;          /* its own threads; NULL with --once */
	int sigfd;
	int signals;            /* SIGTERM/SIGINT received */
	bool fatal;             /* stop with status 1 */

	struct ledger *ledger;          /* partitions, sources, generation */
	struct count_env count;         /* count_batch()'s: ledger, cap, metrics */
	int64_t seek_retry_ms, seek_backoff_ms; /* while a partition is seek_due */
	double kafka_cpu_s;     /* the loop's, in consumer_poll() and freeing */
	int64_t lag_ms;         /* when the lags are due again */
	bool assigned_once;
	bool once_counted;      /* --once: logged that all was counted */
	/* --once: each partition's bounds when the run started */
	int64_t *once_lo, *once_end;
	size_t once_n;
	int64_t once_check_ms;          /* next look at others' partitions */

	/* window seconds: base, then rollups (the configuration bounds them) */
	int64_t sizes[1 + AGGREGATOR_ROLLUPS_MAX];
	size_t nsizes;
	const char **names;             /* dimension names by index */

	int64_t next_flush_ms;          /* monotonic */
	int64_t next_expire_ms;
	bool db_down;
	int64_t db_down_since_ms;
	int64_t retry_ms, backoff_ms;

	struct prep *prep;              /* decode, parse, values on two threads */
	struct api *api;                /* /api/..., on the HTTP thread */
	struct status *status;          /* /healthz, /api/status, / */
};

/*
 * aggregator.c: read pending stop signals; wait up to ms on the signal fd
 * (a signal ends the wait, and is read); pause *backoff ms that way and
 * double it (up to 5 s): false, at once, when stopping.
 */
void aggregator_read_signals(struct aggregator *ag);
/* Publish the health /healthz and /api/status report (no HTTP: nothing). */
void aggregator_health(struct aggregator *ag, enum status_health health);
void aggregator_wait(struct aggregator *ag, int64_t ms);
bool aggregator_pause(struct aggregator *ag, int64_t *backoff);

/* rebalance.c */
void rebalance_assign(void *arg, const int32_t *parts, size_t n, int64_t *start);
void rebalance_revoke(void *arg, const int32_t *parts, size_t n);
void rebalance_reposition(struct aggregator *ag);
void rebalance_retry_seek(struct aggregator *ag);

/* flush.c */
void flush_tick(struct aggregator *ag);
void flush_throttle(struct aggregator *ag);
int flush_step(struct aggregator *ag);
int flush_sync(struct aggregator *ag);
void flush_drop(struct aggregator *ag);
void flush_expire(struct aggregator *ag);
void flush_expire_caps(struct aggregator *ag);
void flush_commit_stored(struct aggregator *ag);
size_t flush_pending_keys(const struct aggregator *ag);

#endif
