/*
 * agent: set-up, the loop and shutdown. One thread runs the loop; besides
 * it only librdkafka's and the HTTP endpoint's threads exist. The loop
 * sleeps in poll(2) on a signalfd, the inotify fd and the producer's queue
 * fd, so that a line written, an acknowledgement or a signal wakes it at
 * once; timers (scan, tick, registry flush) bound the sleep.
 */
#include "agent.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"
#include "logging.h"
#include "metrics.h"
#include "producer.h"
#include "registry.h"
#include "runtime.h"
#include "sources.h"
#include "tail.h"
#include "watch.h"
#include "xalloc.h"

#define AGENT_TICK_MS 1000              /* fstat of open files, with inotify */
#define AGENT_POLL_TICK_MS 250          /* the same without inotify */
#define AGENT_CLEAN_EVERY_MS 600000     /* registry_clean */
#define AGENT_READ_BUFFER (256u << 10)

enum { AGENT_HEALTH_OK, AGENT_HEALTH_OUTAGE, AGENT_HEALTH_FATAL };

struct agent {
	const struct agent_config *cfg;
	struct agent_options opts;
	struct metrics *metrics;
	struct registry *registry;
	struct producer *producer;
	struct watch *watch;
	struct watch_input *inputs;
	struct sources *sources;
	struct httpd *httpd;
	struct tail_env env;
	_Atomic int health;     /* AGENT_HEALTH_*, for the HTTP thread */
	int sigfd;
	int signals;            /* SIGTERM/SIGINT received */
	int64_t next_scan, next_tick, next_flush, next_clean;
	bool rescan;
	struct metrics_counter *registry_writes;
	struct metrics_gauge *sources_known;
	uint64_t writes_seen;
};

/*
 * /healthz, on the HTTP thread: it reads only the state the loop publishes
 * (the producer's own state belongs to the loop's thread).
 */
static int agent_health(void *ctx, char *reason, size_t len)
{
	struct agent *a = ctx;

	switch (atomic_load(&a->health)) {
	case AGENT_HEALTH_FATAL:
		snprintf(reason, len, "Kafka producer failed; the agent is exiting");
		return -1;
	case AGENT_HEALTH_OUTAGE:
		snprintf(reason, len, "Kafka unreachable: reading paused");
		return -1;
	default:
		return 0;
	}
}

static void agent_publish_health(struct agent *a, bool fatal)
{
	atomic_store(&a->health, fatal ? AGENT_HEALTH_FATAL :
		     producer_outage(a->producer) ? AGENT_HEALTH_OUTAGE : AGENT_HEALTH_OK);
}

/* --- set-up ------------------------------------------------------------ */

static void agent_env_init(struct agent *a)
{
	struct tail_env *env = &a->env;

	env->producer = a->producer;
	env->registry = a->registry;
	env->host = a->cfg->name;
	env->max_line_bytes = a->cfg->max_line_bytes;
	env->rbuf_size = AGENT_READ_BUFFER;
	if (env->rbuf_size <= env->max_line_bytes)
		env->rbuf_size = (size_t)env->max_line_bytes + 1;
	env->rbuf = xmalloc(env->rbuf_size);
	buf_init(&env->scratch, producer_max_value(a->producer));
	env->lines_read = metrics_counter(a->metrics, "logtally_agent_lines_read_total",
					  "Lines read and queued for Kafka.", NULL);
	env->bytes_read = metrics_counter(a->metrics, "logtally_agent_bytes_read_total",
					  "Bytes of lines read, newlines included.", NULL);
	env->lines_truncated = metrics_counter(a->metrics, "logtally_agent_lines_truncated_total",
					       "Lines cut to max_line_bytes or to Kafka's message size.", NULL);
	a->registry_writes = metrics_counter(a->metrics, "logtally_agent_registry_writes_total",
					     "Registry files written.", NULL);
	a->sources_known = metrics_gauge(a->metrics, "logtally_agent_sources",
					 "Sources in the registry.", NULL);
}

static struct watch *agent_watch(struct agent *a, char *err, size_t errlen)
{
	const struct config_list *inputs = &a->cfg->inputs;

	a->inputs = xcalloc(inputs->n, sizeof(*a->inputs));
	for (size_t i = 0; i < inputs->n; i++) {
		const struct agent_input *in = CONFIG_ITEM(*inputs, struct agent_input, i);

		a->inputs[i].paths = &in->paths;
		a->inputs[i].exclude = &in->exclude;
	}
	return watch_new(a->inputs, inputs->n, a->opts.force_poll, err, errlen);
}

static int agent_http(struct agent *a, char *err, size_t errlen)
{
	if (!*a->cfg->http.listen)
		return 0;
	a->httpd = httpd_new_tls(a->cfg->http.listen, a->cfg->http.tls.cert,
				 a->cfg->http.tls.key, err, errlen);
	if (!a->httpd)
		return -1;
	httpd_route_metrics(a->httpd, a->metrics);
	httpd_route_health(a->httpd, agent_health, a);
	logging_info("http: /metrics and /healthz on port %u%s", httpd_port(a->httpd),
		     *a->cfg->http.tls.cert ? " (HTTPS)" : "");
	return 0;
}

struct agent *agent_new(const struct agent_config *cfg,
			const struct agent_options *opts, char *err, size_t errlen)
{
	struct agent *a = xcalloc(1, sizeof(*a));
	struct producer_config pc = {
		cfg->kafka.brokers, cfg->kafka.topic, &cfg->kafka.properties,
		cfg->max_buffer,
	};

	a->cfg = cfg;
	a->opts = *opts;
	a->sigfd = runtime_signals();
	a->metrics = metrics_new();
	if (a->sigfd < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		goto fail;
	}
	a->registry = registry_open(cfg->data_dir, opts->reset_registry, err, errlen);
	if (!a->registry)
		goto fail;
	/* The sources only borrow env, filled once the producer exists. */
	a->sources = sources_new(cfg, &a->env, a->metrics);
	a->producer = producer_new(&pc, sources_ack, a->sources, a->metrics, err, errlen);
	if (!a->producer)
		goto fail;
	agent_env_init(a);
	a->watch = agent_watch(a, err, errlen);
	if (!a->watch || agent_http(a, err, errlen) < 0)
		goto fail;
	return a;
fail:
	agent_free(a);
	return NULL;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	httpd_free(a->httpd);           /* no handler may run past here */
	producer_free(a->producer);     /* no ack may reach the sources past here */
	sources_free(a->sources);
	watch_free(a->watch);
	registry_free(a->registry);
	buf_fini(&a->env.scratch);
	free(a->env.rbuf);
	free(a->inputs);
	metrics_free(a->metrics);
	if (a->sigfd >= 0)
		close(a->sigfd);
	free(a);
}

/* --- the loop ------------------------------------------------------------ */

static void agent_found(const char *path, size_t input, void *arg)
{
	struct agent *a = arg;

	sources_found(a->sources, path, input, a->next_scan == 0, runtime_now_ms());
}

static void agent_scan(struct agent *a, int64_t now)
{
	sources_scan_begin(a->sources);
	watch_scan(a->watch, agent_found, a);
	sources_scan_end(a->sources, now);
	a->next_scan = now + a->cfg->scan_interval;
	a->rescan = false;
}

static void agent_event(enum watch_event event, const char *path, void *arg)
{
	struct agent *a = arg;

	if (event == WATCH_RESCAN)
		a->rescan = true;
	else
		sources_modified(a->sources, path);
}

/* Write the registry when due; a failure is logged and retried. */
static void agent_flush(struct agent *a, int64_t now, bool force)
{
	static struct logging_limit limit;
	uint64_t writes;
	int rc;

	if (!force && now < a->next_flush)
		return;
	a->next_flush = now + a->cfg->registry_flush;
	rc = registry_save(a->registry);
	if (rc < 0)
		logging_limited(&limit, LOGGING_ERROR, "cannot write the registry in %s: %s; will retry",
				a->cfg->data_dir, strerror(-rc));
	writes = registry_writes(a->registry);
	metrics_counter_add(a->registry_writes, writes - a->writes_seen);
	a->writes_seen = writes;
}

static void agent_timers(struct agent *a, int64_t now)
{
	if (a->rescan || now >= a->next_scan)
		agent_scan(a, now);
	if (now >= a->next_tick) {
		sources_tick(a->sources, now);
		a->next_tick = now + (watch_polling(a->watch) ? AGENT_POLL_TICK_MS : AGENT_TICK_MS);
		metrics_gauge_set(a->sources_known, (double)registry_count(a->registry));
	}
	if (now >= a->next_clean) {
		size_t n = registry_clean(a->registry, time(NULL), a->cfg->clean_removed / 1000,
					  sources_holds, a->sources);

		if (n)
			logging_info("registry: forgot %zu sources gone for over %llds", n,
				     (long long)(a->cfg->clean_removed / 1000));
		a->next_clean = now + AGENT_CLEAN_EVERY_MS;
	}
	agent_flush(a, now, false);
}

/* Sleep until an fd has news or the next timer is due (0: do not sleep). */
static void agent_wait(struct agent *a, int timeout_ms)
{
	struct pollfd fds[3] = {
		{a->sigfd, POLLIN, 0},
		{producer_fd(a->producer), POLLIN, 0},
		{watch_fd(a->watch), POLLIN, 0},
	};
	struct signalfd_siginfo info;
	int64_t now = runtime_now_ms(), due = a->next_tick;

	if (a->next_flush < due && registry_dirty(a->registry))
		due = a->next_flush;
	if (a->next_scan < due)
		due = a->next_scan;
	if (timeout_ms < 0)
		timeout_ms = due > now ? (int)(due - now) : 0;
	poll(fds, fds[2].fd >= 0 ? 3 : 2, timeout_ms);
	while (read(a->sigfd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
		a->signals++;
		logging_info("%s received: %s", strsignal((int)info.ssi_signo),
			     a->signals == 1 ? "stopping" : "stopping now");
	}
	producer_poll(a->producer, 0);
	watch_drain(a->watch, agent_event, a);
}

/* Stop reading; wait for acknowledgements, then save. */
static int agent_shutdown(struct agent *a)
{
	int64_t deadline = runtime_now_ms() + a->cfg->shutdown_timeout, now;
	size_t left;

	while ((left = producer_in_flight(a->producer)) && a->signals < 2 &&
	       (now = runtime_now_ms()) < deadline)
		agent_wait(a, deadline - now < 100 ? (int)(deadline - now) : 100);
	agent_flush(a, runtime_now_ms(), true);
	if (left)
		logging_warn("%zu lines were not acknowledged in time: they will be sent again at the next start",
			     left);
	logging_info("stopped; registry saved");
	return 0;
}

/* Batch mode's clock: when a line was last read, and the lines in flight
 * at the last look (more now means more were read). */
struct agent_once_clock {
	int64_t since;
	size_t left;
};

/*
 * Batch mode: done once every file is read to its frozen end and acked.
 * Failed when Kafka takes nothing for shutdown_timeout after the last line
 * read: the last of all, or the last max_buffer let through while Kafka is
 * down (reading cannot go on then, so waiting for the end would be for
 * ever).
 */
static int agent_once_state(struct agent *a, int64_t now, struct agent_once_clock *clock)
{
	size_t left = producer_in_flight(a->producer);
	bool idle = sources_idle(a->sources);

	if (idle && left == 0)
		return 0;
	if (left == 0 || left > clock->left)
		clock->since = now;
	clock->left = left;
	if (now - clock->since <= a->cfg->shutdown_timeout)
		return -1;
	logging_error("Kafka did not acknowledge %zu lines within shutdown_timeout after the last line was read%s",
		      left, idle ? "" : " (reading paused at max_buffer)");
	return 1;
}

int agent_run(struct agent *a)
{
	int64_t now = runtime_now_ms();
	struct agent_once_clock clock = {now, 0};
	char reason[512];
	int rc = -1;

	agent_scan(a, now);
	a->next_tick = now;
	a->next_clean = now;
	if (a->opts.once) {
		sources_freeze(a->sources);
		a->next_scan = INT64_MAX;       /* no file is added in batch mode */
	}
	while (!a->signals && rc < 0) {
		bool more;

		bool fatal = producer_fatal(a->producer, reason, sizeof(reason));

		agent_publish_health(a, fatal);
		if (fatal) {
			logging_error("Kafka producer failed for good: %s; exiting so that a restart resumes from the registry",
				      reason);
			rc = 1;
			break;
		}
		now = runtime_now_ms();
		agent_timers(a, now);
		more = sources_read(a->sources, now);
		if (a->opts.once)
			rc = agent_once_state(a, now, &clock);
		if (rc < 0)
			agent_wait(a, more ? 0 : -1);
	}
	if (rc < 0)
		return agent_shutdown(a);
	agent_flush(a, runtime_now_ms(), true);
	return rc;
}
