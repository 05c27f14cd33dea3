/*
 * flush: the pending counts into MariaDB, in one transaction with the
 * partitions' next offsets (a compare-and-set) and the sources' high marks,
 * written by a writer thread of its own while the loop goes on counting;
 * and retention, run between flushes on the same thread.
 *
 * flush knows the ledger (what was counted, what is stored), the store and
 * the writer, nothing of Kafka or of the loop: what the loop must do about
 * an outcome (commit offsets to Kafka, pause a partition taken over, pause
 * everything while the database is away, seek back when it returns, stop)
 * is reported by flush_outcomes(), and the loop decides.
 *
 * Outcomes of a flush: committed (the partitions' stored offsets move in
 * the ledger); a partition taken over by another member (marked lost in the
 * ledger, its part of the job and its current counts dropped, the rest
 * written again at once); the database away (the job is kept whole and
 * retried with backoff; flush_db_down() says so until a retry commits);
 * fatal (stop). A commit whose outcome is unknown (the connection died
 * during COMMIT) is settled before the retry by reading the stored offsets
 * back: they hold either the expected values or the job's.
 *
 * Everything here runs on the loop's thread, except the jobs on the writer's.
 */
#ifndef LOGTALLY_FLUSH_H
#define LOGTALLY_FLUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregator_config.h"
#include "ledger.h"
#include "metrics.h"
#include "store.h"
#include "window.h"

struct flush_metrics {
	struct metrics_counter *flushes;        /* transactions committed */
	struct metrics_counter *rows;           /* rows upserted */
	struct metrics_counter *statements;     /* upsert statements sent */
	struct metrics_counter *conflicts;      /* partitions found taken over */
	struct metrics_counter *expired;        /* rows deleted by retention */
	struct metrics_counter *db_retry, *db_fatal;    /* failures by class */
	struct metrics_gauge *pending;          /* keys counted, not flushed */
	struct metrics_gauge *last_flush;       /* wall time of the last commit */
	struct metrics_histogram *seconds, *size_rows;  /* of each flush */
};

/* What flushes need; the caller owns everything it points to. */
struct flush_env {
	struct ledger *ledger;
	struct window_cap *cap;
	const int64_t *sizes;           /* window seconds, base first */
	size_t nsizes;
	const char *const *names;       /* dimension names by index */
	const char *topic;
	const struct aggregator_mariadb *mariadb;       /* the writer's connection */
	struct store *store;            /* the loop's: reads at recovery */
	int64_t interval_ms;            /* flush_interval */
	int64_t max_pending;            /* bytes of pending counts that flush now */
	const struct config_duration_map *retention;    /* window ms -> keep ms */
	struct flush_metrics m;
};

/* What happened since flush_outcomes() was last asked (bits). */
enum flush_outcome {
	FLUSH_COMMITTED = 1 << 0,       /* stored offsets moved in the ledger */
	FLUSH_LOST = 1 << 1,            /* partitions marked lost in the ledger */
	FLUSH_DOWN = 1 << 2,            /* the database went away */
	FLUSH_RESUMED = 1 << 3,         /* it is back, everything kept written */
	FLUSH_FATAL = 1 << 4,           /* an error retrying cannot fix: stop */
};

struct flush;

/* Flushes for env (copied), with a writer thread and connection. */
struct flush *flush_new(const struct flush_env *env);

/* Wait for a job in progress, drop what is not written, stop the writer. */
void flush_free(struct flush *f);

/* The outcomes since the last call (0: none), forgotten once returned. */
unsigned flush_outcomes(struct flush *f);

/* Whether the database is away (a job kept for it, retried). */
bool flush_db_down(const struct flush *f);

/* Whether a fatal error stopped flushing. */
bool flush_fatal(const struct flush *f);

/*
 * The loop's periodic call: collect the writer's outcome, retry the
 * database when its backoff is over, start a flush when flush_interval
 * passed or max_pending is reached, else a retention batch when one is due.
 */
void flush_tick(struct flush *f);

/* Milliseconds until flush_tick() has something to do (at most max_ms). */
int64_t flush_wait_ms(const struct flush *f, int64_t max_ms);

/*
 * Counting outran the writer by far: wait for it, so that memory stays
 * bounded by max_pending a few times over.
 */
void flush_throttle(struct flush *f);

/*
 * One step towards writing everything counted, without blocking: act on
 * the writer's outcome, start the next flush when the writer is free.
 * Returns 0 when nothing is left to write, -1 while something is (the
 * writer is busy, the database is away, or flushing stopped on a fatal
 * error).
 */
int flush_step(struct flush *f);

/* Write everything counted, waiting for the writer; 0, or -1 as flush_step(). */
int flush_sync(struct flush *f);

/* Whether the writer holds a job (a database call may be in progress). */
bool flush_writing(const struct flush *f);

/* Wait for the writer, then forget the job kept (its partitions are
 * counted again by whoever holds them next). */
void flush_drop(struct flush *f);

/* CPU seconds used so far by the writer's thread. */
double flush_writer_cpu_s(const struct flush *f);

#endif
