/*
 * The agent of the model: registry, sources, producer and watch composed
 * as agent.c composes them, from a configuration file loaded by the
 * agent's own loader, but stepped by the sequence instead of a loop, on a
 * virtual monotonic clock. A crash frees everything without saving, as
 * kill -9 would: the registry on disk is whatever the last save wrote, and
 * lines still in the producer are purged (those the broker already has
 * stay in the topic, as they would).
 */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent_config.h"
#include "agent/producer.h"
#include "agent/registry.h"
#include "agent/sources.h"
#include "agent/tail.h"
#include "agent/watch.h"
#include "buf.h"
#include "logging.h"
#include "metrics.h"
#include "xalloc.h"

#define MODEL_READ_BUFFER (256u << 10)  /* as agent.c */
#define MODEL_SETTLE_ROUNDS 200
#define MODEL_ACK_WAIT_MS 5000

struct model_agent {
	char cfg_path[512];
	struct agent_config cfg;
	struct metrics *metrics;
	struct registry *reg;
	struct sources *src;
	struct producer *prod;
	struct watch *watch;
	struct watch_input *inputs;
	struct tail_env env;
	bool running;
	bool poll;              /* the polling backend, else inotify */
	bool scanned;           /* a scan since the start: not "initial" any more */
	int64_t now_ms;
};

/* For LOGTALLY_MODEL_VERBOSE: a monotonic clock an hour further at each
 * look, so that no rate limit hides a line of the agent's log. */
static int model_log_clock(clockid_t clock, struct timespec *ts)
{
	static time_t hours;

	if (clock != CLOCK_MONOTONIC)
		return clock_gettime(clock, ts);
	hours += 3600;
	*ts = (struct timespec){.tv_sec = hours};
	return 0;
}

int model_config_write(const char *path, const char *work_dir, const char *logs_dir,
		       const char *brokers, const char *topic, const char *level,
		       const char *extra)
{
	const char *verbose = getenv("LOGTALLY_MODEL_VERBOSE");
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "name: model-host\n"
		"data_dir: %s/data\n"
		"inputs:\n"
		"  - paths: ['%s/access.log*', '%s/tiny-*.log']\n"
		"    exclude: ['*.gz']\n"
		"kafka:\n"
		"  brokers: %s\n"
		"  topic: %s\n"
		"  properties: {linger.ms: '1', reconnect.backoff.ms: '10',\n"
		"               reconnect.backoff.max.ms: '100', retry.backoff.ms: '10'}\n"
		"max_open_files: 3\n"
		"max_line_bytes: %d\n"
		"max_buffer: 1MiB\n"
		"log_level: %s\n%s",
		work_dir, logs_dir, logs_dir, brokers, topic, MODEL_MAX_LINE,
		verbose && *verbose == '1' ? "debug" : level ? level : "warn", extra);
	return fclose(f) == 0 ? 0 : -1;
}

static int model_agent_config(struct model_agent *a, const char *work_dir,
			      const char *logs_dir, const char *brokers, const char *topic)
{
	struct config_errors errs = {0};
	const char *verbose = getenv("LOGTALLY_MODEL_VERBOSE");
	int rc;

	snprintf(a->cfg_path, sizeof(a->cfg_path), "%s/agent.yml", work_dir);
	if (model_config_write(a->cfg_path, work_dir, logs_dir, brokers, topic, NULL,
			       "close_inactive: 3s\n") < 0)
		return -1;
	rc = agent_config_load(&a->cfg, a->cfg_path, &errs);
	for (size_t i = 0; rc < 0 && i < errs.n; i++)
		fprintf(stderr, "model: %s\n", errs.items[i].text);
	config_errors_fini(&errs);
	if (rc == 0 && verbose && *verbose == '1') {
		logging_init("agent", (enum logging_level)a->cfg.log_level);
		logging_set_clock(model_log_clock);
	}
	return rc < 0 ? -1 : 0;
}

struct model_agent *model_agent_new(const char *work_dir, const char *logs_dir,
				    const char *brokers, const char *topic, bool poll)
{
	struct model_agent *a = xcalloc(1, sizeof(*a));

	a->poll = poll;
	if (model_agent_config(a, work_dir, logs_dir, brokers, topic) < 0) {
		model_agent_free(a);
		return NULL;
	}
	a->now_ms = 1000000;
	return a;
}

void model_agent_free(struct model_agent *a)
{
	if (!a)
		return;
	model_agent_crash(a);
	agent_config_free(&a->cfg);
	free(a);
}

static void model_agent_env(struct model_agent *a)
{
	struct tail_env *env = &a->env;

	env->producer = a->prod;
	env->registry = a->reg;
	env->host = a->cfg.name;
	env->max_line_bytes = a->cfg.max_line_bytes;
	env->rbuf_size = MODEL_READ_BUFFER;
	env->rbuf = xmalloc(env->rbuf_size);
	buf_init(&env->scratch, producer_max_value(a->prod));
	env->lines_read = metrics_counter(a->metrics, "model_lines_total", "-", NULL);
	env->bytes_read = metrics_counter(a->metrics, "model_bytes_total", "-", NULL);
	env->lines_truncated = metrics_counter(a->metrics, "model_cut_total", "-", NULL);
}

int model_agent_start(struct model_agent *a)
{
	struct producer_config pc = {
		a->cfg.kafka.brokers, a->cfg.kafka.topic, &a->cfg.kafka.properties,
		a->cfg.max_buffer,
	};
	const struct agent_input *in = CONFIG_ITEM(a->cfg.inputs, struct agent_input, 0);
	char err[512];

	a->metrics = metrics_new();
	a->reg = registry_open(a->cfg.data_dir, false, err, sizeof(err));
	if (!a->reg)
		goto fail;
	a->src = sources_new(&a->cfg, &a->env, a->metrics);
	a->prod = producer_new(&pc, sources_ack, a->src, a->metrics, err, sizeof(err));
	if (!a->prod)
		goto fail;
	model_agent_env(a);
	a->inputs = xcalloc(1, sizeof(*a->inputs));
	a->inputs[0].paths = &in->paths;
	a->inputs[0].exclude = &in->exclude;
	a->watch = watch_new(a->inputs, 1, a->poll, err, sizeof(err));
	if (!a->watch)
		goto fail;
	a->running = true;
	a->scanned = false;
	return 0;
fail:
	fprintf(stderr, "model: the agent does not start: %s\n", err);
	a->running = true;
	model_agent_crash(a);
	return -1;
}

bool model_agent_running(const struct model_agent *a)
{
	return a->running;
}

void model_agent_crash(struct model_agent *a)
{
	if (!a->running)
		return;
	producer_free(a->prod);         /* purges; no report reaches the sources */
	sources_free(a->src);
	watch_free(a->watch);
	registry_free(a->reg);
	buf_fini(&a->env.scratch);
	free(a->env.rbuf);
	free(a->inputs);
	metrics_free(a->metrics);
	memset(&a->env, 0, sizeof(a->env));
	a->prod = NULL;
	a->src = NULL;
	a->watch = NULL;
	a->reg = NULL;
	a->inputs = NULL;
	a->metrics = NULL;
	a->running = false;
}

void model_agent_stop(struct model_agent *a, int wait_ms)
{
	if (!a->running)
		return;
	producer_flush(a->prod, wait_ms);
	registry_save(a->reg);
	model_agent_crash(a);
}

void model_agent_advance(struct model_agent *a, int64_t ms)
{
	a->now_ms += ms;
}

static void model_agent_found(const char *path, size_t input, void *arg)
{
	struct model_agent *a = arg;

	sources_found(a->src, path, input, !a->scanned, a->now_ms);
}

void model_agent_scan(struct model_agent *a)
{
	if (!a->running)
		return;
	sources_scan_begin(a->src);
	watch_scan(a->watch, model_agent_found, a);
	sources_scan_end(a->src, a->now_ms);
	a->scanned = true;
}

void model_agent_tick(struct model_agent *a)
{
	if (a->running)
		sources_tick(a->src, a->now_ms);
}

static void model_agent_event(enum watch_event event, const char *path, void *arg)
{
	struct model_agent *a = arg;

	if (event == WATCH_RESCAN)
		model_agent_scan(a);
	else
		sources_modified(a->src, path);
}

/* As the agent's loop: the watch's news first (inotify), then the reads. */
void model_agent_read(struct model_agent *a)
{
	if (a->running)
		while (watch_drain(a->watch, model_agent_event, a))
			;
	for (int i = 0; a->running && i < 10000 && sources_read(a->src, a->now_ms); i++)
		;
}

void model_agent_acks(struct model_agent *a, int wait_ms)
{
	if (!a->running)
		return;
	if (wait_ms > 0)
		producer_flush(a->prod, wait_ms);
	else
		producer_poll(a->prod, 0);
}

void model_agent_save(struct model_agent *a)
{
	if (a->running)
		registry_save(a->reg);
}

void model_agent_clean(struct model_agent *a)
{
	if (a->running)
		registry_clean(a->reg, (int64_t)time(NULL) + 2, 0, sources_holds, a->src);
}

bool model_agent_settle(struct model_agent *a)
{
	int calm = 0;

	for (int round = 0; a->running && round < MODEL_SETTLE_ROUNDS; round++) {
		model_agent_scan(a);
		model_agent_tick(a);
		model_agent_read(a);
		model_agent_acks(a, MODEL_ACK_WAIT_MS);
		model_agent_advance(a, 300);
		calm = sources_idle(a->src) && producer_in_flight(a->prod) == 0 ? calm + 1 : 0;
		if (calm == 3)
			return true;
	}
	return false;
}
