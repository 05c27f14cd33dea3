/*
 * aggregator: set-up, the loop, and the way out. The loop takes batches of
 * messages, has each prepared (prep.c) while it counts the one before
 * (count.c), and ticks: flush.c writes what was counted when it is time,
 * and reports outcomes; the loop decides what they mean for Kafka (through
 * rebalance.c: commit offsets, pause a partition taken over, pause all
 * while the database is away and seek back when it returns) and for the
 * run (stop on a fatal error). In --once mode it stops when once.c says
 * every partition reached its end at start. Rebalances run inside
 * consumer_poll() (rebalance.c); a batch polled before partitions were
 * positioned anew is dropped, not counted. Signals (stop.c) stop the loop,
 * which flushes, retrying up to shutdown_timeout, and leaves the group; a
 * second makes it give up waiting at once, also for a flush the writer
 * still holds.
 *
 * A line travels consumer -> prep -> count -> (ledger) -> flush -> writer
 * -> store; offsets come back through the ledger only.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregator.h"
#include "aggregator_metrics.h"
#include "alerts.h"
#include "api.h"
#include "consumer.h"
#include "count.h"
#include "flush.h"
#include "httpd.h"
#include "ledger.h"
#include "logging.h"
#include "once.h"
#include "prep.h"
#include "rebalance.h"
#include "runtime.h"
#include "status.h"
#include "stop.h"
#include "store.h"
#include "window.h"
#include "xalloc.h"

#define AGG_BATCH PREP_BATCH
#define AGG_POLL_MS 100
#define AGG_DRAIN_WAIT_MS 10    /* how often the last flush is looked at */
#define AGG_LAG_EVERY_MS 1000

struct aggregator {
	const struct aggregator_config *cfg;
	struct aggregator_options opts;
	struct stop *stop;
	struct metrics *metrics;
	struct aggregator_metrics m;
	struct prep *prep;              /* decode, parse, values on two threads */
	const struct dimensions *dims;  /* prep's: names and count only */
	struct window_cap *cap;
	struct ledger *ledger;          /* partitions, sources, generation */
	struct count_env count;
	struct store *store;            /* the loop's connection */
	struct flush *flush;            /* the writer and its jobs */
	struct rebalance *rebalance;
	struct consumer *consumer;
	struct once *once;              /* --once: the ends to reach */
	struct httpd *httpd;
	struct status *status;          /* /healthz, /api/status, / */
	struct api *api;                /* /api/..., on the HTTP thread */
	struct alerts *alerts;          /* its own threads; NULL with --once */

	/* window seconds: base, then rollups (the configuration bounds them) */
	int64_t sizes[1 + AGGREGATOR_ROLLUPS_MAX];
	size_t nsizes;
	const char **names;             /* dimension names by index */

	bool fatal;                     /* stop with status 1 */
	bool paused;                    /* for the database: consumption paused */
	bool once_counted;              /* --once: logged that all was counted */
	double kafka_cpu_s;             /* the loop's, in consumer_poll() and freeing */
	int64_t lag_ms;                 /* when the lags are due again */
};

/* --- set-up -------------------------------------------------------------- */

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
	ag->httpd = httpd_new_tls(ag->cfg->http.listen, ag->cfg->http.tls.cert,
				  ag->cfg->http.tls.key, err, errlen);
	if (!ag->httpd)
		return -1;
	httpd_require_token(ag->httpd, ag->cfg->http.token);
	httpd_route_metrics(ag->httpd, ag->metrics);
	ag->status = status_new(&(struct status_metrics){
		ag->m.db_up, ag->m.rebalance.assigned, ag->m.lag, ag->m.flush.last_flush,
		ag->m.count.messages, ag->m.count.parse_errors,
	});
	status_route(ag->status, ag->httpd);
	ag->api = api_new(ag->cfg, ag->names, dimensions_count(ag->dims),
			  ag->sizes, ag->nsizes);
	api_route(ag->api, ag->httpd);
	logging_info("http: the dashboard, /api/, /metrics and /healthz on port %u%s%s",
		     httpd_port(ag->httpd), *ag->cfg->http.tls.cert ? " (HTTPS)" : "",
		     *ag->cfg->http.token ? " (token required)" : "");
	return 0;
}

/* The counting path: prep, ledger, count, flush, rebalance. */
static int aggregator_parts(struct aggregator *ag, char *err, size_t errlen)
{
	const struct aggregator_config *cfg = ag->cfg;

	ag->prep = prep_new(cfg, err, errlen);
	if (!ag->prep)
		return -1;
	ag->dims = prep_dimensions(ag->prep);
	ag->cap = window_cap_new((uint64_t)cfg->max_values);
	ag->store = store_new(&cfg->mariadb);
	ag->ledger = ledger_new();
	aggregator_layout(ag);
	aggregator_metrics_register(&ag->m, ag->metrics, ag->dims);
	ag->count = (struct count_env){
		.ledger = ag->ledger, .cap = ag->cap, .window_s = ag->sizes[0],
		.lateness_ms = cfg->lateness, .m = ag->m.count,
	};
	ag->flush = flush_new(&(struct flush_env){
		.ledger = ag->ledger, .cap = ag->cap, .sizes = ag->sizes,
		.nsizes = ag->nsizes, .names = ag->names, .topic = cfg->kafka.topic,
		.mariadb = &cfg->mariadb, .store = ag->store,
		.interval_ms = cfg->flush_interval, .max_pending = cfg->max_pending,
		.retention = &cfg->retention, .m = ag->m.flush,
	});
	ag->rebalance = rebalance_new(&(struct rebalance_env){
		.ledger = ag->ledger, .flush = ag->flush, .store = ag->store,
		.stop = ag->stop, .topic = cfg->kafka.topic, .m = ag->m.rebalance,
	});
	metrics_gauge_set(ag->m.db_up, 1);
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
	ag->stop = stop_new(err, errlen);
	if (!ag->stop || aggregator_parts(ag, err, errlen) ||
	    aggregator_http(ag, err, errlen))
		goto fail;
	ag->consumer = consumer_new(&cfg->kafka, &events, ag->rebalance, err, errlen);
	if (!ag->consumer)
		goto fail;
	rebalance_set_consumer(ag->rebalance, ag->consumer);
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
	once_free(ag->once);
	rebalance_free(ag->rebalance);
	flush_free(ag->flush);
	store_free(ag->store);
	ledger_free(ag->ledger);
	window_cap_free(ag->cap);
	prep_free(ag->prep);
	free(ag->names);
	aggregator_metrics_fini(&ag->m);
	metrics_free(ag->metrics);
	stop_free(ag->stop);
	free(ag);
}

/* --- the loop ------------------------------------------------------------ */

static void aggregator_health(struct aggregator *ag, enum status_health health)
{
	if (ag->status)
		status_set(ag->status, health);
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
		if (!stop_pause(ag->stop, &backoff))
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

/*
 * What flushing and rebalancing reported, decided: offsets to Kafka after a
 * commit, a partition taken over paused, everything paused while the
 * database is away (what was fetched meanwhile is not counted) and sought
 * back to where counting is when it returns.
 */
static void aggregator_decide(struct aggregator *ag)
{
	unsigned outcomes = flush_outcomes(ag->flush);
	bool down = flush_db_down(ag->flush);

	if (flush_fatal(ag->flush) || rebalance_failed(ag->rebalance))
		ag->fatal = true;
	if (outcomes & FLUSH_COMMITTED)
		rebalance_commit(ag->rebalance, false);
	if (outcomes & FLUSH_LOST)
		rebalance_pause_lost(ag->rebalance);
	if (down == ag->paused)
		return;
	ag->paused = down;
	if (!down)
		rebalance_reposition(ag->rebalance);
	rebalance_pause(ag->rebalance, down);
	metrics_gauge_set(ag->m.db_up, down ? 0 : 1);
	aggregator_health(ag, down ? STATUS_DB_DOWN : STATUS_OK);
}

/*
 * --once: every partition of the topic was counted up to its end at start,
 * by this member or another (once.c).
 */
static bool aggregator_done(struct aggregator *ag)
{
	return ag->once && rebalance_assigned_once(ag->rebalance) && !ag->paused &&
	       once_done(ag->once, ag->ledger);
}

/* Once a second: the partitions' lags, and the last flush's age. */
static void aggregator_lags(struct aggregator *ag)
{
	int64_t now = runtime_now_ms();
	double last;

	if (now < ag->lag_ms)
		return;
	ag->lag_ms = now + AGG_LAG_EVERY_MS;
	last = metrics_gauge_get(ag->m.flush.last_flush);
	if (last > 0)
		metrics_gauge_set(ag->m.flush_age,
				  (double)runtime_wall_ms() / 1000.0 - last);
	metrics_gauge_set(ag->m.lag, (double)rebalance_lags(ag->rebalance));
}

static void aggregator_tick(struct aggregator *ag)
{
	aggregator_lags(ag);
	flush_tick(ag->flush);
	flush_throttle(ag->flush);
	aggregator_decide(ag);
	count_expire_caps(&ag->count, ag->sizes, ag->nsizes);
	if (ag->paused)
		return;         /* its recovery seeks every partition anyway */
	rebalance_retry_seek(ag->rebalance);
	if (rebalance_assigned_once(ag->rebalance))
		aggregator_health(ag, STATUS_OK);
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

	while (stop_signals(ag->stop) < 2 && flush_step(ag->flush) && !ag->fatal &&
	       (flush_writing(ag->flush) || runtime_now_ms() < deadline)) {
		stop_wait(ag->stop, AGG_DRAIN_WAIT_MS);
		if (stop_signals(ag->stop) < 2)
			flush_tick(ag->flush);  /* retries when the backoff is over */
		aggregator_decide(ag);
	}
	aggregator_decide(ag);
	if (stop_signals(ag->stop) >= 2 && flush_writing(ag->flush))
		aggregator_abandon();
	if (!ag->paused)
		rebalance_commit(ag->rebalance, true);
	else
		logging_warn("stopping with %zu keys not flushed: they are counted "
			     "again from the stored offsets at the next start",
			     ledger_pending_keys(ag->ledger));
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
	double prep = prep_cpu_s(ag->prep), writer = flush_writer_cpu_s(ag->flush);
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
	uint64_t generation;    /* the ledger's when it was polled */
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

	ag->count.paused = ag->paused;
	if (b->n && b->generation == ledger_generation(ag->ledger))
		count_batch(&ag->count, b->msgs, b->slots, b->n);
	cpu = runtime_self_cpu_s();
	aggregator_forget(b);
	ag->kafka_cpu_s += runtime_self_cpu_s() - cpu;
}

/* Poll the next batch; a rebalance inside the poll voids what it returned. */
static void aggregator_poll(struct aggregator *ag, struct agg_batch *b, bool wait)
{
	double cpu = runtime_self_cpu_s();
	uint64_t generation = ledger_generation(ag->ledger);
	int64_t wait_ms = wait ? flush_wait_ms(ag->flush, AGG_POLL_MS) : 0;

	b->n = consumer_poll(ag->consumer, (int)wait_ms, b->msgs, AGG_BATCH);
	if (ledger_generation(ag->ledger) != generation && b->n) {
		/*
		 * A rebalance callback ran inside this poll: librdkafka 2.0.2
		 * may have put messages fetched before it ahead of those
		 * after. Fetch them all again.
		 */
		logging_debug("a rebalance ran inside the poll: fetching its %zu "
			      "messages again", b->n);
		aggregator_forget(b);
		rebalance_reposition(ag->rebalance);
	}
	b->generation = ledger_generation(ag->ledger);
	ag->kafka_cpu_s += runtime_self_cpu_s() - cpu;
	aggregator_decide(ag);          /* a revocation may have flushed */
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

	if (aggregator_open_store(ag) || (ag->opts.once &&
	    !(ag->once = once_new(ag->consumer, ag->store, ag->cfg->kafka.topic, ag->stop)))) {
		free(batches);
		return stop_signals(ag->stop) ? 0 : 1;
	}
	while (!stop_signals(ag->stop) && !ag->fatal) {
		b = &batches[next];
		prev = &batches[!next];
		aggregator_poll(ag, b, !prev->n);
		prep_begin(ag->prep, b->msgs, b->n);
		aggregator_count(ag, prev);
		b->slots = prep_end(ag->prep);
		next = !next;
		aggregator_tick(ag);
		if (!aggregator_done(ag))
			continue;
		if (!ag->once_counted)
			logging_debug("--once: every partition counted to its end, "
				      "%zu keys to write", ledger_pending_keys(ag->ledger));
		ag->once_counted = true;
		if (!flush_sync(ag->flush))
			break;
		aggregator_decide(ag);
	}
	aggregator_forget(&batches[0]);
	aggregator_forget(&batches[1]);
	free(batches);
	if (!ag->fatal)
		aggregator_drain(ag);
	aggregator_log_cpu(ag);
	if (ag->fatal)
		aggregator_health(ag, STATUS_FATAL);
	return ag->fatal || ag->paused ? 1 : 0;
}
