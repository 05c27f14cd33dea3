/*
 * aggregator: set-up, the loop, and the way out. The loop takes batches of
 * messages, has each prepared (prep.c) while it counts the one before
 * (count.c), flushes every flush_interval or when max_pending is passed
 * (flush.c), retries the database while it is away, and in --once mode
 * stops when every partition reached the end offset it had at start.
 * Rebalances run inside consumer_poll() (rebalance.c); a batch polled
 * before partitions were positioned anew is dropped, not counted.
 * Signals arrive on a signalfd, which every wait of the loop's thread
 * watches: the first stops the loop, which flushes (retrying up to
 * shutdown_timeout) and leaves the group; a second makes it give up
 * waiting at once, also for a flush the writer still holds.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "aggregator_private.h"
#include "httpd.h"
#include "logging.h"
#include "xalloc.h"

#define AGG_BATCH PREP_BATCH
#define AGG_POLL_MS 100
#define AGG_DRAIN_WAIT_MS 10    /* how often the last flush is looked at */

void aggregator_read_signals(struct aggregator *ag)
{
	struct signalfd_siginfo info;

	while (read(ag->sigfd, &info, sizeof(info)) == sizeof(info)) {
		ag->signals++;
		logging_info("%s: %s", strsignal((int)info.ssi_signo),
			     ag->signals == 1 ? "flushing and leaving the group" :
			     "stopping now");
	}
}

static void aggregator_counters(struct aggregator *ag)
{
	struct agg_metrics *m = &ag->m;
	struct metrics *reg = ag->metrics;

	m->messages = metrics_counter(reg, "logtally_aggregator_messages_total",
				      "Kafka messages consumed.", NULL);
	m->bad = metrics_counter(reg, "logtally_aggregator_bad_messages_total",
				 "Messages that are neither the agent's JSON nor a bare line.", NULL);
	m->parse_errors = metrics_counter(reg, "logtally_aggregator_parse_errors_total",
					  "Lines that do not match log_format.", NULL);
	m->duplicates = metrics_counter(reg, "logtally_aggregator_duplicates_total",
					"Lines an agent sent again, skipped.", NULL);
	m->late = metrics_counter(reg, "logtally_aggregator_late_events_total",
				  "Lines older than lateness behind the newest (still counted).", NULL);
	m->events = metrics_counter(reg, "logtally_aggregator_events_total",
				    "Lines counted.", NULL);
	m->flushes = metrics_counter(reg, "logtally_aggregator_flushes_total",
				     "Transactions committed.", NULL);
	m->rows = metrics_counter(reg, "logtally_aggregator_flush_rows_total",
				  "Rows of counts upserted.", NULL);
	m->statements = metrics_counter(reg, "logtally_aggregator_flush_statements_total",
					"Upsert statements sent.", NULL);
	m->conflicts = metrics_counter(reg, "logtally_aggregator_flush_conflicts_total",
				       "Partitions found owned by another member at flush.", NULL);
	m->aged_out = metrics_counter(reg, "logtally_aggregator_aged_out_messages_total",
				      "Messages removed by Kafka's retention before they were counted.", NULL);
	m->rebalances = metrics_counter(reg, "logtally_aggregator_rebalances_total",
					"Partition assignments and revocations.", NULL);
	m->expired = metrics_counter(reg, "logtally_aggregator_expired_rows_total",
				     "Rows deleted by retention.", NULL);
	m->db_retry = metrics_counter(reg, "logtally_aggregator_db_errors_total",
				      "Database failures.", "class", "retry", NULL);
	m->db_fatal = metrics_counter(reg, "logtally_aggregator_db_errors_total",
				      "Database failures.", "class", "fatal", NULL);
}

/* Rows per flush: from one key to a backlog's worth. */
static const double rows_bounds[] = {1, 10, 100, 1000, 10000, 100000, 1000000};

static void aggregator_gauges(struct aggregator *ag)
{
	struct agg_metrics *m = &ag->m;
	struct metrics *reg = ag->metrics;
	size_t n = dimensions_count(ag->dims);

	m->other = xcalloc(n, sizeof(*m->other));
	for (size_t i = 0; i < n; i++)
		m->other[i] = metrics_counter(reg, "logtally_aggregator_other_values_total",
					      "Values counted as (other) past max_values.",
					      "dimension", dimensions_name(ag->dims, i), NULL);
	m->db_up = metrics_gauge(reg, "logtally_aggregator_db_up",
				 "1 while MariaDB takes the flushes.", NULL);
	m->pending = metrics_gauge(reg, "logtally_aggregator_pending_keys",
				   "Keys counted and not flushed yet.", NULL);
	m->assigned = metrics_gauge(reg, "logtally_aggregator_partitions_assigned",
				    "Partitions this member consumes.", NULL);
	m->lag = metrics_gauge(reg, "logtally_aggregator_consumer_lag",
			       "Messages of the partitions held not counted yet, "
			       "by the high watermarks of the last fetches.", NULL);
	m->flush_age = metrics_gauge(reg, "logtally_aggregator_last_flush_age_seconds",
				     "Seconds since the last flush committed, to the "
				     "second (NaN before the first).", NULL);
	metrics_gauge_set(m->flush_age, NAN);
	m->last_flush = metrics_gauge(reg, "logtally_aggregator_last_flush_timestamp_seconds",
				      "When the last flush committed (Unix time).", NULL);
	m->flush_seconds = metrics_histogram(reg, "logtally_aggregator_flush_duration_seconds",
					     "Time of one flush transaction.", NULL, 0, NULL);
	m->flush_rows = metrics_histogram(reg, "logtally_aggregator_flush_size_rows",
					  "Rows upserted by one flush transaction.",
					  rows_bounds, sizeof(rows_bounds) / sizeof(rows_bounds[0]),
					  NULL);
	metrics_gauge_set(m->db_up, 1);
}


/* Window sizes in seconds, base first; dimension names by index. */
static void aggregator_layout(struct aggregator *ag)
{
	const struct aggregator_config *cfg = ag->cfg;
	size_t n = dimensions_count(ag->dims);

	assert(cfg->rollups.n <= AGGREGATOR_ROLLUPS_MAX);
	ag->sizes[ag->nsizes++] = cfg->window / 1000;
	for (size_t i = 0; i < cfg->rollups.n; i++)
		ag->sizes[ag->nsizes++] = cfg->rollups.items[i] / 1000;
	ag->names = xcalloc(n + 1, sizeof(*ag->names));
	for (size_t i = 0; i < n; i++)
		ag->names[i] = dimensions_name(ag->dims, i);
}

static int aggregator_http(struct aggregator *ag, char *err, size_t errlen)
{
	if (!*ag->cfg->http.listen)
		return 0;
	ag->httpd = httpd_new(ag->cfg->http.listen, err, errlen);
	if (!ag->httpd)
		return -1;
	httpd_require_token(ag->httpd, ag->cfg->http.token);
	httpd_route_metrics(ag->httpd, ag->metrics);
	ag->status = status_new(&(struct status_metrics){
		ag->m.db_up, ag->m.assigned, ag->m.lag, ag->m.last_flush,
		ag->m.messages, ag->m.parse_errors,
	});
	status_route(ag->status, ag->httpd);
	ag->api = api_new(ag->cfg, ag->names, dimensions_count(ag->dims),
			  ag->sizes, ag->nsizes);
	api_route(ag->api, ag->httpd);
	logging_info("http: the dashboard, /api/, /metrics and /healthz on port %u%s",
		     httpd_port(ag->httpd), *ag->cfg->http.token ? " (token required)" : "");
	return 0;
}

static int aggregator_parts(struct aggregator *ag, char *err, size_t errlen)
{
	const struct aggregator_config *cfg = ag->cfg;

	ag->prep = prep_new(cfg, err, errlen);
	if (!ag->prep)
		return -1;
	ag->dims = prep_dimensions(ag->prep);
	ag->cap = window_cap_new((uint64_t)cfg->max_values);
	ag->store = store_new(&cfg->mariadb);
	ag->writer = writer_new(&cfg->mariadb);
	ag->ledger = ledger_new();
	window_rows_init(&ag->job.rows);
	aggregator_layout(ag);
	aggregator_counters(ag);
	aggregator_gauges(ag);
	ag->count = (struct count_env){
		.ledger = ag->ledger, .cap = ag->cap, .window_s = ag->sizes[0],
		.lateness_ms = cfg->lateness,
		.m = {ag->m.messages, ag->m.events, ag->m.bad, ag->m.parse_errors,
		      ag->m.duplicates, ag->m.late, ag->m.other},
	};
	return 0;
}

struct aggregator *aggregator_new(const struct aggregator_config *cfg,
				  const struct aggregator_options *opts,
				  char *err, size_t errlen)
{
	static const struct consumer_events events = {
		rebalance_assign, rebalance_revoke,
	};
	struct aggregator *ag = xcalloc(1, sizeof(*ag));

	ag->cfg = cfg;
	ag->opts = *opts;
	ag->metrics = metrics_new();
	ag->sigfd = runtime_signals();
	if (ag->sigfd < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		goto fail;
	}
	if (aggregator_parts(ag, err, errlen) || aggregator_http(ag, err, errlen))
		goto fail;
	ag->consumer = consumer_new(&cfg->kafka, &events, ag, err, errlen);
	if (!ag->consumer)
		goto fail;
	if (!opts->once && !(ag->alerts = alerts_start(cfg, ag->metrics, err, errlen)))
		goto fail;
	return ag;
fail:
	aggregator_free(ag);
	return NULL;
}

void aggregator_free(struct aggregator *ag)
{
	if (!ag)
		return;
	alerts_stop(ag->alerts);
	consumer_free(ag->consumer);    /* revokes: may still flush */
	httpd_free(ag->httpd);
	api_free(ag->api);
	status_free(ag->status);
	if (ag->writer)
		flush_drop(ag);
	writer_free(ag->writer);
	store_free(ag->store);
	ledger_free(ag->ledger);
	window_rows_fini(&ag->job.rows);
	window_cap_free(ag->cap);
	prep_free(ag->prep);
	free(ag->names);
	free(ag->once_lo);
	free(ag->once_end);
	free(ag->m.other);
	metrics_free(ag->metrics);
	if (ag->sigfd >= 0)
		close(ag->sigfd);
	free(ag);
}

void aggregator_health(struct aggregator *ag, enum status_health health)
{
	if (ag->status)
		status_set(ag->status, health);
}

/* --- the loop ------------------------------------------------------------ */

/* A signal ends the wait at once (as may EINTR: callers wait in loops). */
void aggregator_wait(struct aggregator *ag, int64_t ms)
{
	struct pollfd pfd = {.fd = ag->sigfd, .events = POLLIN};

	poll(&pfd, 1, ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms);
	aggregator_read_signals(ag);
}

bool aggregator_pause(struct aggregator *ag, int64_t *backoff)
{
	aggregator_read_signals(ag);
	if (ag->signals || ag->fatal)
		return false;
	aggregator_wait(ag, *backoff);
	*backoff = *backoff * 2 > 5000 ? 5000 : *backoff * 2;
	return !ag->signals && !ag->fatal;
}

/* Connect and set up the schema before anything is consumed. */
static int aggregator_open_store(struct aggregator *ag)
{
	int64_t backoff = 200;
	bool logged = false;
	char err[1024];
	int rc;

	while ((rc = store_open(ag->store, err, sizeof(err))) == STORE_RETRY) {
		if (!logged)
			logging_warn("MariaDB: %s; waiting for it", err);
		logged = true;
		if (!aggregator_pause(ag, &backoff))
			return -1;
	}
	if (rc) {
		logging_error("MariaDB: %s", err);
		return -1;
	}
	if (logged)
		logging_info("MariaDB is reachable");
	return 0;
}


/* --once: where each partition of the topic ends now, and starts. */
static int aggregator_once_bounds(struct aggregator *ag)
{
	int64_t backoff = 200;
	int n;

	while ((n = consumer_partition_count(ag->consumer, 10000)) < 0)
		if (!aggregator_pause(ag, &backoff))
			return -1;
	ag->once_n = (size_t)n;
	ag->once_lo = xcalloc(ag->once_n + 1, sizeof(*ag->once_lo));
	ag->once_end = xcalloc(ag->once_n + 1, sizeof(*ag->once_end));
	for (int32_t i = 0; i < n; i++)
		while (consumer_watermarks(ag->consumer, i, &ag->once_lo[i],
					   &ag->once_end[i], 10000))
			if (!aggregator_pause(ag, &backoff))
				return -1;
	logging_info("--once: counting %d partitions up to their ends at start", n);
	return 0;
}

/*
 * Whether partitions that are not ours are done: another member stored
 * their end, or they held nothing. Asked of MariaDB once a second.
 */
static bool aggregator_others_done(struct aggregator *ag, const int32_t *ids,
				   size_t n)
{
	int64_t *stored = xcalloc(n + 1, sizeof(*stored));
	bool done = true;
	char err[512];

	if (runtime_now_ms() < ag->once_check_ms) {
		free(stored);
		return false;
	}
	ag->once_check_ms = runtime_now_ms() + 1000;
	if (store_load_offsets(ag->store, ag->cfg->kafka.topic, ids, n, stored,
			       err, sizeof(err)))
		done = false;
	for (size_t i = 0; done && i < n; i++)
		done = stored[i] >= ag->once_end[ids[i]];
	free(stored);
	return done;
}

/*
 * --once: every partition of the topic was counted up to its end at start,
 * by this member (assigned ones) or by another (stored offsets). A member
 * given no partitions, or only some, waits for the rest: a member that died
 * may hold them until its session times out.
 */
static bool aggregator_done(struct aggregator *ag)
{
	int32_t *others;
	size_t n = 0;
	bool done;

	if (!ag->opts.once || !ag->assigned_once || ag->db_down)
		return false;
	others = xcalloc(ag->once_n + 1, sizeof(*others));
	for (size_t i = 0; i < ag->once_n; i++) {
		struct ledger_partition *p = i < ledger_count(ag->ledger) ? ledger_partition(ag->ledger, (int32_t)(i)) : NULL;

		if (ag->once_end[i] <= ag->once_lo[i])
			continue;       /* nothing to count */
		if (p && p->assigned && !p->lost) {
			if (p->next < ag->once_end[i]) {
				free(others);
				return false;
			}
		} else {
			others[n++] = (int32_t)i;
		}
	}
	done = !n || aggregator_others_done(ag, others, n);
	free(others);
	return done;
}

/*
 * The lag of each partition held, once a second, from the high watermarks
 * librdkafka has from its fetches (no request); and the last flush's age.
 */
static void aggregator_lags(struct aggregator *ag)
{
	int64_t now = runtime_now_ms();
	double total = 0, last;

	if (now < ag->lag_ms)
		return;
	ag->lag_ms = now + 1000;
	last = metrics_gauge_get(ag->m.last_flush);
	if (last > 0)
		metrics_gauge_set(ag->m.flush_age,
				  (double)runtime_wall_ms() / 1000.0 - last);
	for (size_t i = 0; i < ledger_count(ag->ledger); i++) {
		struct ledger_partition *p = ledger_partition(ag->ledger, (int32_t)(i));
		int64_t hi, lag;

		if (!p->assigned || p->lost || !p->lag)
			continue;
		hi = consumer_cached_high(ag->consumer, p->id);
		if (hi < 0)
			continue;
		lag = p->next >= 0 ? hi - p->next : hi;
		lag = lag < 0 ? 0 : lag;
		metrics_gauge_set(p->lag, (double)lag);
		total += (double)lag;
	}
	metrics_gauge_set(ag->m.lag, total);
}

static void aggregator_tick(struct aggregator *ag)
{
	aggregator_lags(ag);
	flush_tick(ag);
	flush_throttle(ag);
	flush_expire_caps(ag);  /* often: a replay of old lines opens many windows */
	if (ag->db_down)
		return;         /* its recovery seeks every partition anyway */
	rebalance_retry_seek(ag);
	flush_expire(ag);
	if (ag->assigned_once)
		aggregator_health(ag, STATUS_OK);
}

static int aggregator_poll_ms(const struct aggregator *ag)
{
	int64_t wait = ag->next_flush_ms - runtime_now_ms();

	if (ag->db_down)
		wait = ag->retry_ms - runtime_now_ms();
	return wait < 0 ? 0 : wait > AGG_POLL_MS ? AGG_POLL_MS : (int)wait;
}

/*
 * A second signal while the writer still holds a flush, in a database call
 * that may last up to the client's timeouts: end the process now. MariaDB
 * commits that transaction whole or not at all; the stored offsets say
 * which at the next start, and what is not written is counted again.
 */
static _Noreturn void aggregator_abandon(void)
{
	logging_warn("stopping now, without waiting for the flush in progress: "
		     "MariaDB commits it whole or not at all, and what is not "
		     "written is counted again at the next start");
	_exit(1);
}

/*
 * The last flush, retried while the database is away, up to the timeout
 * (a flush the writer holds is waited for, as the timeout only bounds the
 * retries). It never blocks on the writer: a second signal ends it at once.
 */
static void aggregator_drain(struct aggregator *ag)
{
	int64_t deadline = runtime_now_ms() + ag->cfg->shutdown_timeout;

	while (ag->signals < 2 && flush_step(ag) && !ag->fatal &&
	       (writer_busy(ag->writer) || runtime_now_ms() < deadline)) {
		aggregator_wait(ag, AGG_DRAIN_WAIT_MS);
		if (ag->signals < 2)
			flush_tick(ag);         /* retries when the backoff is over */
	}
	if (ag->signals >= 2 && writer_busy(ag->writer))
		aggregator_abandon();
	if (!ag->db_down)
		flush_commit_stored(ag);
	if (ag->db_down)
		logging_warn("stopping with %zu keys not flushed: they are counted "
			     "again from the stored offsets at the next start",
			     flush_pending_keys(ag));
}

/*
 * Where the CPU went, for benchmarks and capacity planning: the loop
 * (counting, part of the decoding, and librdkafka's work on its thread:
 * handing messages over in consumer_poll() and freeing them), the prep
 * worker (the rest of the decoding), the writer (rows and SQL) and the
 * rest (librdkafka's threads: fetch, decompression).
 */
static void aggregator_log_cpu(const struct aggregator *ag)
{
	double loop = runtime_self_cpu_s();
	double prep = prep_cpu_s(ag->prep), writer = writer_cpu_s(ag->writer);
	double all = runtime_process_cpu_s();
	double rest = all - loop - prep - writer;

	logging_debug("cpu: %.3f s: loop %.3f s (in librdkafka %.3f s), prep "
		      "%.3f s, writer %.3f s, librdkafka and the rest %.3f s", all,
		      loop, ag->kafka_cpu_s, prep, writer, rest > 0 ? rest : 0);
}

/* A batch polled and prepared, waiting to be counted. */
struct agg_batch {
	rd_kafka_message_t *msgs[AGG_BATCH];
	const struct prep_slot *slots;
	size_t n;
	uint64_t generation;    /* ledger_generation(ag->ledger) when it was polled */
};

static void aggregator_forget(struct agg_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		rd_kafka_message_destroy(b->msgs[i]);
	b->n = 0;
}

/*
 * Counts the batch, unless partitions were positioned anew since it was
 * polled (its messages are then fetched again), and lets it go.
 */
static void aggregator_count(struct aggregator *ag, struct agg_batch *b)
{
	double cpu;

	ag->count.paused = ag->db_down;
	if (b->n && b->generation == ledger_generation(ag->ledger))
		count_batch(&ag->count, b->msgs, b->slots, b->n);
	cpu = runtime_self_cpu_s();
	aggregator_forget(b);
	ag->kafka_cpu_s += runtime_self_cpu_s() - cpu;
}

/*
 * The loop polls batch i+1 and hands most of its preparation to the prep
 * worker before it counts batch i, so that decoding and parsing overlap
 * counting; a batch waiting to be counted makes the next poll not wait.
 */
int aggregator_run(struct aggregator *ag)
{
	struct agg_batch *batches = xcalloc(2, sizeof(*batches)), *b, *prev;
	int next = 0;

	if (aggregator_open_store(ag) || (ag->opts.once && aggregator_once_bounds(ag))) {
		free(batches);
		return ag->signals ? 0 : 1;
	}
	ag->next_flush_ms = runtime_now_ms() + ag->cfg->flush_interval;
	while (!ag->signals && !ag->fatal) {
		double cpu = runtime_self_cpu_s();
		uint64_t generation = ledger_generation(ag->ledger);

		b = &batches[next];
		prev = &batches[!next];
		b->n = consumer_poll(ag->consumer, prev->n ? 0 : aggregator_poll_ms(ag),
				     b->msgs, AGG_BATCH);
		if (ledger_generation(ag->ledger) != generation && b->n) {
			/*
			 * A rebalance callback ran inside this poll: librdkafka
			 * 2.0.2 may have put messages fetched before it ahead
			 * of those after. Fetch them all again.
			 */
			logging_debug("a rebalance ran inside the poll: fetching "
				      "its %zu messages again", b->n);
			aggregator_forget(b);
			rebalance_reposition(ag);
		}
		b->generation = ledger_generation(ag->ledger);
		ag->kafka_cpu_s += runtime_self_cpu_s() - cpu;
		prep_begin(ag->prep, b->msgs, b->n);
		aggregator_count(ag, prev);
		b->slots = prep_end(ag->prep);
		next = !next;
		aggregator_tick(ag);
		aggregator_read_signals(ag);
		if (!aggregator_done(ag))
			continue;
		if (!ag->once_counted)
			logging_debug("--once: every partition counted to its end, "
				      "%zu keys to write", flush_pending_keys(ag));
		ag->once_counted = true;
		if (!flush_sync(ag))
			break;
	}
	aggregator_forget(&batches[0]);
	aggregator_forget(&batches[1]);
	free(batches);
	if (!ag->fatal)
		aggregator_drain(ag);
	aggregator_log_cpu(ag);
	if (ag->fatal)
		aggregator_health(ag, STATUS_FATAL);
	return ag->fatal || ag->db_down ? 1 : 0;
}
