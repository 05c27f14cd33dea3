/*
 * writer: a thread that runs the database's slow work (flushes, retention)
 * so that consumption goes on while a transaction runs (a flush that
 * blocked the loop for a few hundred milliseconds let librdkafka's prefetch
 * queue fill, and fetching then stalled for up to a second). It owns a
 * store connection of its own and runs one job at a time; the loop hands a
 * job over with writer_start() and collects the outcome with writer_poll().
 * A job is a function of the writer's store and its argument: the writer
 * knows nothing of what it writes.
 */
#ifndef LOGTALLY_WRITER_H
#define LOGTALLY_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregator_config.h"
#include "store.h"

struct writer;

/* A writer with its own connection for cfg (copied). Never NULL. */
struct writer *writer_new(const struct aggregator_mariadb *cfg);

/* Wait for a job in progress, stop the thread, close the connection. */
void writer_free(struct writer *w);

/* CPU seconds used so far by the writer's thread. */
double writer_cpu_s(const struct writer *w);

/*
 * A job: runs on the writer's thread with its store; returns 0 or a
 * STORE_* class, with the reason in err. What else it finds goes to arg.
 */
typedef int (*writer_job_fn)(struct store *st, void *arg, char *err, size_t errlen);

/*
 * Run job(store, arg) on the writer's thread. arg and everything it points
 * to are borrowed until writer_poll() reports the job done. The writer must
 * be idle (no job, or its outcome collected).
 */
void writer_start(struct writer *w, writer_job_fn job, void *arg);

/* The outcome of a job: its return and its reason. */
struct writer_outcome {
	int rc;
	char err[1024];
};

/*
 * Whether the job handed over last is done; if so its outcome goes to out
 * and the writer is idle again. With wait, blocks until it is done.
 * Returns false when there is no job, or (without wait) it still runs.
 */
bool writer_poll(struct writer *w, bool wait, struct writer_outcome *out);

/* Whether a job was handed over and its outcome not collected yet. */
bool writer_busy(const struct writer *w);

#endif
