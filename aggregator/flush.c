/*
 * flush: a small state machine on the loop's thread around one writer.
 *
 * A flush job takes the deltas of the partitions that moved (each gets a
 * fresh table to count into), copies their offsets and the dirty sources;
 * the writer's thread builds the rows and writes them. One job at a time,
 * and the writer runs either a flush or a retention batch. While the
 * database is away the job is kept whole and retried with backoff; the
 * first retry reconnects and settles an unknown COMMIT by reading the
 * stored offsets back through the loop's connection.
 *
 * Retention deletes expired rows in batches of FLUSH_EXPIRE_BATCH, up to
 * FLUSH_EXPIRE_BATCHES per window size a round, a round a minute: each
 * batch is a writer job of its own, started only when no flush is due, so
 * that a large deletion delays a flush by one batch at most and the loop
 * never waits for it.
 */
#include "flush.h"

#include <stdlib.h>
#include <string.h>

#include "logging.h"
#include "runtime.h"
#include "writer.h"
#include "xalloc.h"

#define FLUSH_BACKOFF_MIN_MS 200
#define FLUSH_BACKOFF_MAX_MS 10000
#define FLUSH_EXPIRE_EVERY_MS 60000
#define FLUSH_EXPIRE_BATCH 5000
#define FLUSH_EXPIRE_BATCHES 20

/*
 * A flush being written, or kept for a retry while the database is away:
 * the deltas of the partitions that moved (owned), their offsets, copies of
 * the dirty sources, and the rows built from them. What the writer's thread
 * reads of env (sizes, names, topic, the cap with its own lock) never
 * changes while it runs; the loop leaves the rest alone until the outcome.
 */
struct flush_job {
	const struct flush_env *env;
	bool active;
	struct store_offset *offsets;
	struct window_deltas **deltas;  /* by index of offsets */
	size_t n;
	struct store_source *sources;   /* keys owned */
	size_t nsources;
	struct window_rows rows;
	struct store_flush fl;
	int32_t lost;                   /* the writer's answers */
	size_t statements;
	int64_t started_ms;
};

/* A retention round: the window size it is at, and the batch. */
struct flush_expiry {
	int64_t due_ms;                 /* the next round */
	size_t key;                     /* index into env->retention, while on */
	int batch;
	bool on;
	int64_t size_s, before_s;       /* the batch the writer runs */
	int64_t gone;                   /* its answer */
};

enum flush_writing {
	FLUSH_IDLE_WRITER,
	FLUSH_WRITING_JOB,
	FLUSH_WRITING_EXPIRY,
};

struct flush {
	struct flush_env env;
	struct writer *writer;
	enum flush_writing writing;
	struct flush_job job;
	struct flush_expiry expiry;
	unsigned outcomes;
	int64_t next_ms;                /* the next flush, monotonic */
	bool db_down, fatal;
	int64_t down_since_ms;
	int64_t retry_ms, backoff_ms;
};

/* --- the job ----------------------------------------------------------- */

/* On the writer's thread: build the job's rows, then write them. */
static int flush_job_run(struct store *st, void *arg, char *err, size_t errlen)
{
	struct flush_job *job = arg;
	const struct flush_env *env = job->env;
	int rc;

	window_rows_build(&job->rows, job->deltas, job->n, env->sizes, env->nsizes,
			  env->names, env->cap);
	job->fl = (struct store_flush){env->topic, job->offsets, job->n,
		job->rows.rows, job->rows.n, env->names, job->sources, job->nsources};
	job->lost = -1;
	rc = store_flush(st, &job->fl, &job->lost, err, errlen);
	job->statements = store_last_statements(st);
	return rc;
}

static void flush_write(struct flush *f)
{
	f->writing = FLUSH_WRITING_JOB;
	writer_start(f->writer, flush_job_run, &f->job);
}

/* The deltas of p go to the job; p counts on into its spare table. */
static void flush_job_take(struct flush_job *job, struct ledger_partition *p)
{
	job->offsets[job->n] = (struct store_offset){p->id, p->stored, p->next};
	job->deltas[job->n++] = p->deltas;
	p->deltas = p->spare ? p->spare : window_deltas_new();
	p->spare = NULL;
}

/* Give a table back to its partition as the spare, or free it. */
static void flush_recycle(struct flush *f, int32_t id, struct window_deltas *deltas)
{
	struct ledger_partition *p = ledger_partition(f->env.ledger, id);

	if (p->spare || !p->assigned) {
		window_deltas_free(deltas);
		return;
	}
	window_deltas_clear(deltas);
	p->spare = deltas;
}

static void flush_job_clear(struct flush *f)
{
	struct flush_job *job = &f->job;

	for (size_t i = 0; i < job->n; i++)
		flush_recycle(f, job->offsets[i].partition, job->deltas[i]);
	for (size_t i = 0; i < job->nsources; i++)
		free((char *)job->sources[i].source);
	free(job->offsets);
	free(job->deltas);
	free(job->sources);
	job->offsets = NULL;
	job->deltas = NULL;
	job->sources = NULL;
	job->n = job->nsources = 0;
	job->active = false;
}

/* Take partition id out of the job (another member owns it). */
static void flush_job_drop(struct flush_job *job, int32_t id)
{
	size_t kept = 0;

	for (size_t i = 0; i < job->n; i++) {
		if (job->offsets[i].partition == id) {
			window_deltas_free(job->deltas[i]);
			continue;
		}
		job->offsets[kept] = job->offsets[i];
		job->deltas[kept++] = job->deltas[i];
	}
	job->n = kept;
	kept = 0;
	for (size_t i = 0; i < job->nsources; i++) {
		if (job->sources[i].partition == id)
			free((char *)job->sources[i].source);
		else
			job->sources[kept++] = job->sources[i];
	}
	job->nsources = kept;
}

/* Start writing what the partitions counted since their last flush. */
static void flush_start(struct flush *f)
{
	struct flush_job *job = &f->job;
	struct ledger *l = f->env.ledger;
	size_t count = ledger_count(l);

	job->offsets = xcalloc(count + 1, sizeof(*job->offsets));
	job->deltas = xcalloc(count + 1, sizeof(*job->deltas));
	job->n = 0;
	for (size_t i = 0; i < count; i++)
		if (ledger_pending(ledger_partition(l, (int32_t)i)))
			flush_job_take(job, ledger_partition(l, (int32_t)i));
	job->active = true;
	if (!job->n) {
		flush_job_clear(f);
		return;
	}
	job->sources = ledger_take_dirty(l, &job->nsources);
	job->started_ms = runtime_now_ms();
	flush_write(f);
}

/* --- outcomes ---------------------------------------------------------- */

/* The job's offsets are MariaDB's now, and so the ledger's. */
static void flush_committed(struct flush *f)
{
	struct flush_job *job = &f->job;
	const struct flush_metrics *m = &f->env.m;
	double seconds = (double)(runtime_now_ms() - job->started_ms) / 1000.0;

	metrics_counter_add(m->flushes, 1);
	metrics_counter_add(m->rows, job->rows.n);
	metrics_counter_add(m->statements, job->statements);
	metrics_histogram_observe(m->seconds, seconds);
	metrics_histogram_observe(m->size_rows, (double)job->rows.n);
	metrics_gauge_set(m->last_flush, (double)runtime_wall_ms() / 1000.0);
	logging_debug("flushed %zu rows of %zu partitions in %.3f s",
		      job->rows.n, job->n, seconds);
	for (size_t i = 0; i < job->n; i++)
		ledger_partition(f->env.ledger, job->offsets[i].partition)->stored =
			job->offsets[i].next;
	flush_job_clear(f);
	f->outcomes |= FLUSH_COMMITTED;
}

/* Another member owns the partition now: what we counted of it is void. */
static void flush_lost(struct flush *f, int32_t id)
{
	struct ledger_partition *p = ledger_partition(f->env.ledger, id);

	logging_warn("partition %d: its stored offset moved under us: another "
		     "member owns it now; dropping its pending counts", (int)id);
	metrics_counter_add(f->env.m.conflicts, 1);
	p->lost = true;
	window_deltas_clear(p->deltas);
	ledger_drop_sources(f->env.ledger, id);
	flush_job_drop(&f->job, id);
	f->outcomes |= FLUSH_LOST;
}

static void flush_failed(struct flush *f, int rc, const char *err)
{
	int64_t now = runtime_now_ms();

	if (rc == STORE_FATAL) {
		logging_error("MariaDB: %s; stopping (what was counted since the "
			      "last commit is counted again at the next start)", err);
		metrics_counter_add(f->env.m.db_fatal, 1);
		f->fatal = true;
		f->outcomes |= FLUSH_FATAL;
		return;
	}
	metrics_counter_add(f->env.m.db_retry, 1);
	if (!f->db_down) {
		logging_warn("MariaDB unavailable: %s; keeping %zu rows to write, "
			     "pausing consumption until it is back", err,
			     f->job.rows.n);
		f->db_down = true;
		f->down_since_ms = now;
		f->backoff_ms = FLUSH_BACKOFF_MIN_MS;
		f->outcomes |= FLUSH_DOWN;
	}
	f->retry_ms = now + f->backoff_ms;
	f->backoff_ms = f->backoff_ms * 2 > FLUSH_BACKOFF_MAX_MS ?
			FLUSH_BACKOFF_MAX_MS : f->backoff_ms * 2;
}

static void flush_back(struct flush *f)
{
	logging_info("MariaDB is back after %.1f s; resuming consumption",
		     (double)(runtime_now_ms() - f->down_since_ms) / 1000.0);
	f->db_down = false;
	f->outcomes |= FLUSH_RESUMED;
}

/* What the writer said of the job, acted upon. */
static void flush_job_outcome(struct flush *f, const struct writer_outcome *out)
{
	struct flush_job *job = &f->job;

	if (!out->rc) {
		flush_committed(f);
		if (f->db_down)
			flush_back(f);
		return;
	}
	if (out->rc == STORE_LOST && job->lost >= 0 &&
	    (size_t)job->lost < ledger_count(f->env.ledger)) {
		flush_lost(f, job->lost);
		if (!job->n) {
			flush_job_clear(f);
			return;
		}
		flush_write(f);
		return;
	}
	flush_failed(f, out->rc, out->err);
}

/* --- retention --------------------------------------------------------- */

/* On the writer's thread: one batch of deletions. */
static int flush_expiry_run(struct store *st, void *arg, char *err, size_t errlen)
{
	struct flush_expiry *e = arg;

	e->gone = store_expire(st, e->size_s, e->before_s, FLUSH_EXPIRE_BATCH,
			       err, errlen);
	return e->gone < 0 ? (int)e->gone : 0;
}

/* Start the next batch of the round, or begin a round when one is due. */
static bool flush_expiry_start(struct flush *f, int64_t now)
{
	struct flush_expiry *e = &f->expiry;
	const struct config_duration_map *keep = f->env.retention;

	if (!e->on && now >= e->due_ms && keep && keep->n) {
		e->on = true;
		e->key = 0;
		e->batch = 0;
		e->due_ms = now + FLUSH_EXPIRE_EVERY_MS;
	}
	if (!e->on)
		return false;
	e->size_s = keep->items[e->key].key / 1000;
	e->before_s = runtime_wall_ms() / 1000 - keep->items[e->key].value / 1000;
	f->writing = FLUSH_WRITING_EXPIRY;
	writer_start(f->writer, flush_expiry_run, e);
	return true;
}

static void flush_expiry_outcome(struct flush *f, const struct writer_outcome *out)
{
	struct flush_expiry *e = &f->expiry;

	if (out->rc) {
		logging_warn("MariaDB: retention: %s", out->err);
		e->on = false;          /* the next round tries again */
		return;
	}
	metrics_counter_add(f->env.m.expired, (uint64_t)e->gone);
	if (e->gone == FLUSH_EXPIRE_BATCH && ++e->batch < FLUSH_EXPIRE_BATCHES)
		return;                 /* more of this size */
	e->batch = 0;
	e->on = ++e->key < f->env.retention->n;
}

/* --- driving it -------------------------------------------------------- */

/* Collect the writer's outcome, if any (waiting for it with wait). */
static void flush_collect(struct flush *f, bool wait)
{
	struct writer_outcome out;
	enum flush_writing was = f->writing;

	if (!writer_poll(f->writer, wait, &out))
		return;
	f->writing = FLUSH_IDLE_WRITER;
	if (was == FLUSH_WRITING_EXPIRY)
		flush_expiry_outcome(f, &out);
	else
		flush_job_outcome(f, &out);
}

/*
 * After a failed attempt, a partition's stored offset tells what became of
 * the job: still the expected value (rolled back), the job's next one (the
 * COMMIT went through although its answer was lost), or anything else
 * (another member). Returns 0 or a STORE_* class.
 */
static int flush_settle_unknown(struct flush *f, char *err, size_t errlen)
{
	struct flush_job *job = &f->job;
	int32_t *ids = xcalloc(job->n + 1, sizeof(*ids));
	int64_t *now = xcalloc(job->n + 1, sizeof(*now));
	size_t nlost = 0;
	int rc = 0;

	for (size_t i = 0; i < job->n; i++)
		ids[i] = job->offsets[i].partition;
	if (job->n)
		rc = store_load_offsets(f->env.store, f->env.topic, ids, job->n,
					now, err, errlen);
	for (size_t i = 0; !rc && i < job->n; i++) {
		if (now[i] == job->offsets[i].next) {
			logging_info("the last flush was committed after all");
			job->statements = 0;
			flush_committed(f);
			break;
		}
	}
	for (size_t i = 0, n = job->n; !rc && job->active && i < n; i++)
		if (now[i] != job->offsets[i].expected)
			ids[nlost++] = ids[i];
	for (size_t i = 0; i < nlost; i++)
		flush_lost(f, ids[i]);
	free(ids);
	free(now);
	return rc;
}

/* The database was away: is it back? Then write the job kept for it. */
static void flush_recover(struct flush *f)
{
	char err[1024] = "";
	int rc = store_open(f->env.store, err, sizeof(err));

	if (!rc && f->job.active)
		rc = flush_settle_unknown(f, err, sizeof(err));
	if (rc) {
		flush_failed(f, rc, err);
		return;
	}
	if (f->job.active && f->job.n) {
		flush_write(f);
		return;
	}
	if (f->job.active)
		flush_job_clear(f);
	flush_back(f);
}

void flush_tick(struct flush *f)
{
	int64_t now = runtime_now_ms();

	flush_collect(f, false);
	if (f->writing || f->fatal)
		return;
	if (f->db_down) {
		if (now >= f->retry_ms)
			flush_recover(f);
		return;
	}
	metrics_gauge_set(f->env.m.pending, (double)ledger_pending_keys(f->env.ledger));
	if (now >= f->next_ms ||
	    ledger_pending_bytes(f->env.ledger) >= (size_t)f->env.max_pending) {
		f->next_ms = now + f->env.interval_ms;
		flush_start(f);
	}
	if (!f->writing)
		flush_expiry_start(f, now);
}

int64_t flush_wait_ms(const struct flush *f, int64_t max_ms)
{
	int64_t wait = (f->db_down ? f->retry_ms : f->next_ms) - runtime_now_ms();

	return wait < 0 ? 0 : wait > max_ms ? max_ms : wait;
}

void flush_throttle(struct flush *f)
{
	if (f->writing && ledger_pending_bytes(f->env.ledger) / 4 >= (size_t)f->env.max_pending)
		flush_collect(f, true);
}

int flush_step(struct flush *f)
{
	flush_collect(f, false);
	if (f->writing || f->db_down || f->fatal || f->job.active)
		return -1;
	if (!ledger_any_pending(f->env.ledger))
		return 0;
	flush_start(f);
	return -1;
}

int flush_sync(struct flush *f)
{
	while (flush_step(f)) {
		if (!f->writing)
			return -1;      /* the database is away, or fatal */
		flush_collect(f, true);
	}
	return 0;
}

bool flush_writing(const struct flush *f)
{
	return f->writing != FLUSH_IDLE_WRITER;
}

void flush_drop(struct flush *f)
{
	struct writer_outcome out;

	writer_poll(f->writer, true, &out);
	f->writing = FLUSH_IDLE_WRITER;
	if (f->job.active)
		flush_job_clear(f);
}

unsigned flush_outcomes(struct flush *f)
{
	unsigned o = f->outcomes;

	f->outcomes = 0;
	return o;
}

bool flush_db_down(const struct flush *f)
{
	return f->db_down;
}

bool flush_fatal(const struct flush *f)
{
	return f->fatal;
}

double flush_writer_cpu_s(const struct flush *f)
{
	return writer_cpu_s(f->writer);
}

struct flush *flush_new(const struct flush_env *env)
{
	struct flush *f = xcalloc(1, sizeof(*f));

	f->env = *env;
	f->job.env = &f->env;
	window_rows_init(&f->job.rows);
	f->writer = writer_new(env->mariadb);
	f->next_ms = runtime_now_ms() + env->interval_ms;
	return f;
}

void flush_free(struct flush *f)
{
	if (!f)
		return;
	flush_drop(f);
	writer_free(f->writer);
	window_rows_fini(&f->job.rows);
	free(f);
}
