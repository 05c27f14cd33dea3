/*
 * model_rotation: the model-based rotation test (see model.h). Each seed
 * draws a sequence of file operations and agent steps, runs it against a
 * fresh mock cluster and a fresh folder, lets the agent catch up, and asks
 * the oracle. Prints TAP: one result for all seeds, and for a failing seed
 * its number, the problems and the sequence, replayable with --seed.
 *
 *   model_rotation [--seeds N] [--first S] [--seed S] [--steps N] [--jobs N] [--trace]
 *                  [--agent LOGTALLY-AGENT --devbroker LOGTALLY-DEVBROKER]
 *
 * With --agent, the sequences run the real binary (killed with SIGKILL,
 * stopped with SIGTERM) against a logtally-devbroker per job: its steps are
 * its own, so a seed replays the operations, not the interleaving; a
 * catch-up waits until every whole line of a followed file is in the topic.
 *
 * LOGTALLY_MODEL_SEEDS, _FIRST and _JOBS set the defaults of --seeds (2000),
 * --first (1) and --jobs (24); LOGTALLY_MODEL_VERBOSE=1 shows the agent's
 * own log.
 */
/*
 * Size: about 930 lines, over the 800 of CONVENTIONS. Two halves live here:
 * one seed's run (the steps, the scenarios, the checks) and the driver
 * around it (options, jobs forked over seeds, their reports). They share
 * struct model_run, model_opts and the cluster; the driver is the part to
 * move out (model_main.c, with those in model.h) when either grows again.
 */
#include "model.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "logging.h"
#include "xalloc.h"

#define MODEL_PARTITIONS 2
#define MODEL_TRACE_MAX 512
#define MODEL_FAILURES_MAX 5
#define MODEL_SCENARIO_SEED 1000000000ull     /* the scenarios' seeds (and topics) */

struct model_opts {
	unsigned scenario;      /* --scenario N: only that one (from 1) */
	bool no_scenarios;      /* --seed: only that seed */
	const char *agent_bin;  /* --agent: the real binary, not the modules */
	const char *broker_bin; /* --devbroker: its broker */
	uint64_t seeds, first;
	unsigned steps;         /* most steps of a sequence */
	unsigned jobs;          /* processes sharing the seeds */
	bool trace;             /* print every sequence */
	bool one;               /* --seed */
};

/* One seed's run. */
struct model_run {
	uint64_t seed;
	struct model_rng rng;
	struct model_files files;
	struct model_agent *agent;              /* the modules, or: */
	struct model_process *proc;             /* the binary */
	rd_kafka_mock_cluster_t *mcluster;      /* borrowed; or: */
	struct model_broker *broker;            /* borrowed */
	size_t problems;                        /* besides the oracle's */
	bool poll;                              /* the agent polls, or uses inotify */
	const char *brokers;
	char topic[64];
	char work[256];
	bool broker_down;
	char *trace[MODEL_TRACE_MAX];
	unsigned steps;
};

/* --seed prints each step as it runs, so that a crash shows where. */
static bool model_live;
/* Jobs: the seed each job runs, in memory the forks share, so that a job
 * that dies says where (NULL with one job). */
static uint64_t *model_job_seed;

static int64_t model_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void model_trace(struct model_run *r, const char *what)
{
	static int64_t last;
	int64_t now = model_clock_ms();

	if (model_live)
		printf("#   %3u. %s (%lld ms)\n", r->steps + 1, what, (long long)(last ? now - last : 0));
	last = now;
	if (r->steps < MODEL_TRACE_MAX)
		r->trace[r->steps] = xstrdup(what);
	r->steps++;
}

/* The last file operation, and the files it left. */
static void model_trace_files(struct model_run *r)
{
	char files[400], what[600];

	model_files_describe(&r->files, files, sizeof(files));
	snprintf(what, sizeof(what), "%s  [%s]", r->files.last, files);
	model_trace(r, what);
}

/* --- the cluster and the folders ----------------------------------------- */

#define MODEL_SEEDS_PER_CLUSTER 50      /* a cluster keeps every topic: bound it */

/* The mock cluster, shared by a few seeds (each has a topic of its own). */
struct model_cluster {
	rd_kafka_t *rk;                         /* hosts the mock cluster */
	rd_kafka_mock_cluster_t *mcluster;
	unsigned used;
};

static void model_cluster_fini(struct model_cluster *c)
{
	if (c->mcluster)
		rd_kafka_mock_cluster_destroy(c->mcluster);
	if (c->rk)
		rd_kafka_destroy(c->rk);
	memset(c, 0, sizeof(*c));
}

static int model_cluster_get(struct model_cluster *c)
{
	rd_kafka_conf_t *conf;
	char err[256];

	if (c->mcluster && c->used++ < MODEL_SEEDS_PER_CLUSTER)
		return 0;
	model_cluster_fini(c);
	conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
	c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!c->rk) {
		fprintf(stderr, "model: %s\n", err);
		return -1;
	}
	c->mcluster = rd_kafka_mock_cluster_new(c->rk, 1);
	c->used = 1;
	return c->mcluster ? 0 : -1;
}

static int model_topic(struct model_run *r, struct model_cluster *c)
{
	if (r->broker) {
		r->brokers = r->broker->bootstraps;
		snprintf(r->topic, sizeof(r->topic), "model-%llu", (unsigned long long)r->seed);
		return model_broker_send(r->broker, "topic %s %d", r->topic, MODEL_PARTITIONS);
	}
	if (model_cluster_get(c) < 0)
		return -1;
	r->mcluster = c->mcluster;
	r->brokers = rd_kafka_mock_cluster_bootstraps(r->mcluster);
	snprintf(r->topic, sizeof(r->topic), "model-%llu", (unsigned long long)r->seed);
	return rd_kafka_mock_topic_create(r->mcluster, r->topic, MODEL_PARTITIONS, 1) ? -1 : 0;
}

static int model_folders(struct model_run *r, const char *top, const struct model_opts *o)
{
	char logs[320];

	snprintf(r->work, sizeof(r->work), "%s/seed-%llu", top, (unsigned long long)r->seed);
	snprintf(logs, sizeof(logs), "%s/logs", r->work);
	if (mkdir(r->work, 0700) < 0 || mkdir(logs, 0700) < 0) {
		fprintf(stderr, "model: mkdir %s: %s\n", logs, strerror(errno));
		return -1;
	}
	model_files_init(&r->files, logs);
	if (o->agent_bin) {
		r->proc = model_process_new(o->agent_bin, r->work, logs, r->brokers, r->topic,
					    r->poll);
		return r->proc ? 0 : -1;
	}
	r->agent = model_agent_new(r->work, logs, r->brokers, r->topic, r->poll);
	return r->agent ? 0 : -1;
}

static void model_run_fini(struct model_run *r)
{
	char cmd[400];

	model_agent_free(r->agent);
	model_process_free(r->proc);
	model_files_fini(&r->files);
	if (r->broker_down && r->broker)
		model_broker_send(r->broker, "up 1");
	else if (r->broker_down)
		rd_kafka_mock_broker_set_up(r->mcluster, 1);
	for (unsigned i = 0; i < r->steps && i < MODEL_TRACE_MAX; i++)
		free(r->trace[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->work);
	if (*r->work && system(cmd) != 0)
		fprintf(stderr, "model: cannot remove %s\n", r->work);
}

/* --- the steps ------------------------------------------------------------- */

static void model_problem(struct model_run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void model_problem(struct model_run *r, const char *fmt, ...)
{
	va_list ap;

	r->problems++;
	va_start(ap, fmt);
	printf("#   ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static void model_broker(struct model_run *r, bool down)
{
	if (r->broker)
		model_broker_send(r->broker, down ? "down 1" : "up 1");
	else if (down)
		rd_kafka_mock_broker_set_down(r->mcluster, 1);
	else
		rd_kafka_mock_broker_set_up(r->mcluster, 1);
	r->broker_down = down;
	model_trace(r, down ? "broker down" : "broker up");
}

/* --- the agent, whichever it is ------------------------------------------ */

/* A signal sent to the real agent before it blocks signals kills it: an
 * operator sends none so soon after a start. */
#define MODEL_PROCESS_SETUP_MS 150

static bool model_running(const struct model_run *r)
{
	return r->proc ? model_process_running(r->proc) : model_agent_running(r->agent);
}

static void model_start(struct model_run *r)
{
	if (model_running(r))
		return;
	if ((r->proc ? model_process_start(r->proc) : model_agent_start(r->agent)) < 0)
		return;
	if (r->proc)
		model_sleep_ms(MODEL_PROCESS_SETUP_MS);
	model_trace(r, "agent starts");
}

/* The real agent settles by itself: wait until every complete line of a
 * followed file is in the topic (at most MODEL_SETTLE_MS), then judge. */
#define MODEL_SETTLE_MS 20000

static void model_process_settle(struct model_run *r)
{
	int64_t start = model_clock_ms();
	size_t missing;
	char what[120];

	while ((missing = model_oracle_missing(&r->files, r->brokers, r->topic,
					       MODEL_PARTITIONS)) &&
	       model_clock_ms() - start < MODEL_SETTLE_MS)
		model_sleep_ms(50);
	model_mark_must(&r->files);
	snprintf(what, sizeof(what), "agent catches up (%lld ms until every whole line was in the topic%s)",
		 (long long)(model_clock_ms() - start), missing ? ": it never was" : "");
	model_trace(r, what);
}

static void model_settle(struct model_run *r)
{
	if (r->broker_down)
		model_broker(r, false);
	if (!model_running(r))
		return;
	if (r->proc) {
		model_process_settle(r);
		return;
	}
	if (model_agent_settle(r->agent))
		model_mark_must(&r->files);
	model_trace(r, "agent catches up (scan, tick, read, acks until nothing moves)");
}

/* --- the operations --------------------------------------------------------- */

enum model_op {
	/* the web server, logrotate and the operator's files */
	MODEL_APPEND, MODEL_ROTATE, MODEL_REOPEN, MODEL_COPY, MODEL_COPY_DATED,
	MODEL_COPY_SOME, MODEL_COPY_END, MODEL_COPY_TRUNCATE, MODEL_TRUNCATE,
	MODEL_DELETE_OLD, MODEL_DELETE_LIVE, MODEL_COMPRESS, MODEL_TINY,
	/* the agent's own steps (the real agent takes them by itself) */
	MODEL_SCAN, MODEL_TICK, MODEL_READ, MODEL_ACKS, MODEL_SAVE, MODEL_PASS,
	/* the operator and the broker */
	MODEL_START, MODEL_SETTLE, MODEL_CLEAN, MODEL_KILL, MODEL_STOP,
	MODEL_BROKER_DOWN, MODEL_BROKER_UP,
	MODEL_END,              /* ends a scenario */
};

/* A file operation; false when it does not apply now (logrotate runs one
 * rotation at a time). */
static bool model_file_op(struct model_run *r, enum model_op op)
{
	struct model_files *m = &r->files;
	bool idle = m->copying < 0, copying = !idle && !m->copied;

	switch (op) {
	case MODEL_APPEND: model_append(m, &r->rng); break;
	case MODEL_ROTATE: if (!idle) return false; model_rotate_rename(m); break;
	case MODEL_REOPEN: if (m->writer == m->live && m->live >= 0) return false; model_reopen(m); break;
	case MODEL_COPY: if (!idle) return false; model_copy_begin(m, false); break;
	case MODEL_COPY_DATED: if (!idle) return false; model_copy_begin(m, true); break;
	case MODEL_COPY_SOME: if (!copying) return false; model_copy_some(m, &r->rng); break;
	case MODEL_COPY_END: if (!copying) return false; model_copy_end(m); break;
	case MODEL_COPY_TRUNCATE: if (idle || !m->copied) return false; model_copy_truncate(m); break;
	case MODEL_TRUNCATE: if (!idle) return false; model_truncate_live(m); break;
	case MODEL_DELETE_OLD: if (!idle) return false; model_delete_old(m, &r->rng); break;
	case MODEL_DELETE_LIVE: if (!idle) return false; model_delete_live(m); break;
	case MODEL_COMPRESS: if (!idle) return false; model_compress(m, &r->rng); break;
	case MODEL_TINY: model_tiny(m, &r->rng); break;
	default: return false;
	}
	model_trace_files(r);
	return true;
}

/* One of the agent's own steps. The real agent takes them by itself: it
 * runs on for a few milliseconds instead. */
static void model_agent_op(struct model_run *r, enum model_op op)
{
	struct model_agent *a = r->agent;
	int64_t ms = (int64_t)model_rng_below(&r->rng, op == MODEL_PASS ? 7000 : 40);
	char what[80];

	if (r->proc) {
		ms = 5 + (op == MODEL_PASS ? ms / 20 : ms);
		model_sleep_ms(ms);
		snprintf(what, sizeof(what), "agent: runs for %lld ms", (long long)ms);
		model_trace(r, what);
		return;
	}
	switch (op) {
	case MODEL_SCAN: model_agent_scan(a); model_trace(r, "agent: scan"); break;
	case MODEL_TICK: model_agent_tick(a); model_trace(r, "agent: tick"); break;
	case MODEL_READ: model_agent_read(a); model_trace(r, "agent: read"); break;
	case MODEL_ACKS:
		model_agent_acks(a, r->broker_down ? 0 : 5000);
		model_trace(r, "agent: acknowledgements");
		break;
	case MODEL_SAVE: model_agent_save(a); model_trace(r, "agent: registry saved"); break;
	default:
		model_agent_advance(a, ms);
		snprintf(what, sizeof(what), "agent: %lld ms pass", (long long)ms);
		model_trace(r, what);
	}
}

static void model_kill(struct model_run *r)
{
	if (r->proc)
		model_process_kill(r->proc);
	else
		model_agent_crash(r->agent);
	model_trace(r, "agent killed (-9)");
}

static void model_stop(struct model_run *r)
{
	int status = 0;

	if (r->proc)
		status = model_process_stop(r->proc);
	else
		model_agent_stop(r->agent, r->broker_down ? 50 : 5000);
	if (status != 0)
		model_problem(r, "the agent's exit status after SIGTERM: %d", status);
	model_trace(r, "agent stopped (SIGTERM)");
}

/* Carry out op; an agent step while the agent is not running starts it. */
static void model_do(struct model_run *r, enum model_op op)
{
	int status;

	if (op < MODEL_SCAN) {
		model_file_op(r, op);
		return;
	}
	if (op == MODEL_BROKER_DOWN || op == MODEL_BROKER_UP) {
		if (r->broker_down != (op == MODEL_BROKER_DOWN))
			model_broker(r, op == MODEL_BROKER_DOWN);
		return;
	}
	if (!model_running(r)) {
		model_start(r);
		return;
	}
	if (op < MODEL_START)
		model_agent_op(r, op);
	else if (op == MODEL_SETTLE || op == MODEL_CLEAN)
		model_settle(r);
	else if (op == MODEL_KILL)
		model_kill(r);
	else if (op == MODEL_STOP)
		model_stop(r);
	if (op == MODEL_CLEAN && r->agent) {
		model_agent_clean(r->agent);
		model_trace(r, "agent: registry cleaned of everything unheld");
	}
	if (r->proc && model_process_died(r->proc, &status))
		model_problem(r, "the agent died by itself (wait status %d)", status);
}

/* --- random sequences ---------------------------------------------------------- */

/* A weighted choice: op where the draw falls below `below` first. */
struct model_weight {
	unsigned below;
	enum model_op op;
};

static enum model_op model_pick(struct model_run *r, const struct model_weight *table, size_t n)
{
	unsigned pick = (unsigned)model_rng_below(&r->rng, table[n - 1].below);
	size_t i = 0;

	while (pick >= table[i].below)
		i++;
	return table[i].op;
}

static enum model_op model_pick_file(struct model_run *r)
{
	static const struct model_weight table[] = {
		{40, MODEL_APPEND}, {45, MODEL_ROTATE}, {52, MODEL_REOPEN}, {60, MODEL_COPY},
		{62, MODEL_TRUNCATE}, {66, MODEL_DELETE_OLD}, {68, MODEL_DELETE_LIVE},
		{72, MODEL_COMPRESS}, {75, MODEL_TINY},
	};
	enum model_op op = model_pick(r, table, sizeof(table) / sizeof(table[0]));

	return op == MODEL_COPY && model_rng_chance(&r->rng, 30) ? MODEL_COPY_DATED : op;
}

static enum model_op model_pick_agent(struct model_run *r)
{
	static const struct model_weight table[] = {
		{14, MODEL_SCAN}, {24, MODEL_TICK}, {40, MODEL_READ}, {52, MODEL_ACKS},
		{58, MODEL_SAVE}, {70, MODEL_PASS}, {76, MODEL_SETTLE}, {82, MODEL_KILL},
		{85, MODEL_STOP}, {90, MODEL_BROKER_DOWN},
	};
	enum model_op op = model_pick(r, table, sizeof(table) / sizeof(table[0]));

	if (op == MODEL_SETTLE && model_rng_chance(&r->rng, 30) && !r->proc)
		return MODEL_CLEAN;
	if (op == MODEL_BROKER_DOWN && r->broker_down)
		return MODEL_BROKER_UP;
	return op;
}

/* A random sequence: logrotate, once started, goes on with some priority;
 * a file operation that does not apply now gives way to an agent step. */
static void model_sequence(struct model_run *r, unsigned steps)
{
	while (r->steps < steps) {
		struct model_files *m = &r->files;
		unsigned pick = (unsigned)model_rng_below(&r->rng, 100);

		if (m->copying >= 0 && model_rng_chance(&r->rng, 35))
			model_file_op(r, m->copied ? MODEL_COPY_TRUNCATE :
				      model_rng_chance(&r->rng, 50) ? MODEL_COPY_SOME : MODEL_COPY_END);
		else if (pick >= 50 || !model_file_op(r, model_pick_file(r)))
			model_do(r, model_pick_agent(r));
	}
}

/* The end of every sequence: logrotate finishes, the agent runs, catches
 * up, and is judged. */
static void model_finish(struct model_run *r)
{
	while (r->files.copying >= 0)
		model_file_op(r, r->files.copied ? MODEL_COPY_TRUNCATE : MODEL_COPY_END);
	model_start(r);
	model_settle(r);
}

/* --- scenarios -------------------------------------------------------------- */

/* Interleavings named by issue 10 (and found by the random sequences),
 * pinned: each is a fixed sequence, then the common end. */
struct model_scenario {
	const char *name;
	enum model_op ops[40];
	bool poll;              /* the polling backend: no scan unless asked */
};

#define S_(...) {__VA_ARGS__, MODEL_END}

static const struct model_scenario model_scenarios[] = {
	{"copytruncate: the copy is smaller than what was read from the original",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_COPY, MODEL_COPY_END, MODEL_SCAN,
	    MODEL_APPEND, MODEL_READ, MODEL_ACKS, MODEL_COPY_TRUNCATE, MODEL_APPEND), false},
	{"copytruncate with dateext: the copy is smaller than what was read",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_COPY_DATED, MODEL_COPY_END, MODEL_SCAN,
	    MODEL_APPEND, MODEL_READ, MODEL_ACKS, MODEL_COPY_TRUNCATE, MODEL_APPEND), false},
	{"copytruncate: the copy holds lines the agent had not read (read on from the offset)",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_APPEND, MODEL_COPY, MODEL_COPY_END,
	    MODEL_SCAN, MODEL_COPY_TRUNCATE, MODEL_APPEND), false},
	{"copytruncate: writes between copy and truncate, read from the original",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_COPY, MODEL_COPY_SOME, MODEL_APPEND,
	    MODEL_SCAN, MODEL_READ, MODEL_COPY_END, MODEL_APPEND, MODEL_READ, MODEL_ACKS,
	    MODEL_COPY_TRUNCATE, MODEL_APPEND), false},
	{"copytruncate: the truncation seen before the copy, which is smaller than what was read",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_COPY, MODEL_COPY_END, MODEL_APPEND,
	    MODEL_TICK, MODEL_READ, MODEL_ACKS, MODEL_COPY_TRUNCATE, MODEL_APPEND, MODEL_TICK,
	    MODEL_READ, MODEL_ACKS, MODEL_SCAN), true},
	{"copytruncate: the truncation seen before the copy, which holds lines not read yet",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_APPEND, MODEL_COPY, MODEL_COPY_END,
	    MODEL_COPY_TRUNCATE, MODEL_APPEND, MODEL_TICK, MODEL_READ, MODEL_ACKS, MODEL_SCAN), true},
	{"copytruncate: the copy renamed again (.1 to .2) by the next rotation",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_COPY, MODEL_COPY_END, MODEL_COPY_TRUNCATE,
	    MODEL_APPEND, MODEL_SETTLE, MODEL_APPEND, MODEL_COPY, MODEL_COPY_END, MODEL_SCAN,
	    MODEL_COPY_TRUNCATE, MODEL_APPEND), false},
	{"copytruncate with delaycompress: the copy compressed into an excluded name",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_APPEND, MODEL_COPY, MODEL_COPY_END,
	    MODEL_COPY_TRUNCATE, MODEL_APPEND, MODEL_SETTLE, MODEL_COMPRESS, MODEL_APPEND), false},
	{"copytruncate: several rotations between two scans",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_APPEND, MODEL_COPY, MODEL_COPY_END,
	    MODEL_COPY_TRUNCATE, MODEL_APPEND, MODEL_COPY, MODEL_COPY_END, MODEL_COPY_TRUNCATE,
	    MODEL_APPEND, MODEL_ROTATE, MODEL_APPEND, MODEL_REOPEN, MODEL_APPEND), false},
	{"copytruncate: the agent killed (-9) between copy and truncate",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_APPEND, MODEL_READ, MODEL_KILL,
	    MODEL_COPY, MODEL_COPY_END, MODEL_START, MODEL_SCAN, MODEL_COPY_TRUNCATE, MODEL_APPEND), false},
	{"copytruncate: the agent killed (-9) with lines in flight, restarted after the truncation",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_APPEND, MODEL_SCAN, MODEL_READ,
	    MODEL_ACKS, MODEL_SAVE, MODEL_APPEND, MODEL_READ, MODEL_KILL, MODEL_COPY,
	    MODEL_COPY_END, MODEL_COPY_TRUNCATE, MODEL_APPEND, MODEL_START), false},
	{"copytruncate of a closed file, then a copy of its new content (the copy of a copy)",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_PASS, MODEL_PASS, MODEL_PASS, MODEL_TICK,
	    MODEL_COPY, MODEL_COPY_END, MODEL_COPY_TRUNCATE, MODEL_APPEND, MODEL_COPY,
	    MODEL_COPY_SOME, MODEL_SETTLE, MODEL_APPEND, MODEL_COPY_END, MODEL_COPY_TRUNCATE), false},
	{"copytruncate while Kafka is down",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_BROKER_DOWN, MODEL_APPEND, MODEL_READ,
	    MODEL_COPY, MODEL_COPY_END, MODEL_SCAN, MODEL_COPY_TRUNCATE, MODEL_APPEND, MODEL_READ,
	    MODEL_BROKER_UP), false},
	{"the registry cleaned while a copy waits for its original",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_COPY, MODEL_COPY_END, MODEL_CLEAN,
	    MODEL_COPY_TRUNCATE, MODEL_APPEND), false},
	{"rename rotation, the server writing to the renamed file until it reopens",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_ROTATE, MODEL_APPEND, MODEL_SCAN,
	    MODEL_READ, MODEL_APPEND, MODEL_REOPEN, MODEL_APPEND, MODEL_ROTATE, MODEL_ROTATE,
	    MODEL_APPEND, MODEL_REOPEN, MODEL_APPEND), false},
	{"the live file deleted and created again (its inode may be reused)",
	 S_(MODEL_START, MODEL_APPEND, MODEL_SETTLE, MODEL_PASS, MODEL_PASS, MODEL_TICK,
	    MODEL_DELETE_LIVE, MODEL_APPEND, MODEL_SCAN, MODEL_DELETE_LIVE, MODEL_APPEND), false},
	{"tiny files of one line, the agent killed and restarted",
	 S_(MODEL_START, MODEL_TINY, MODEL_SETTLE, MODEL_TINY, MODEL_SCAN, MODEL_READ, MODEL_KILL,
	    MODEL_TINY, MODEL_START, MODEL_DELETE_OLD), false},
};

#define MODEL_SCENARIOS (sizeof(model_scenarios) / sizeof(model_scenarios[0]))

static void model_script(struct model_run *r, const struct model_scenario *sc)
{
	for (size_t i = 0; sc->ops[i] != MODEL_END; i++)
		model_do(r, sc->ops[i]);
}

/* The real agent's end: SIGTERM, and nothing in its stderr from a sanitizer. */
static void model_process_end(struct model_run *r)
{
	char line[512];
	int status;

	if (!r->proc)
		return;
	status = model_process_stop(r->proc);
	if (status != 0)
		model_problem(r, "the agent's exit status after SIGTERM: %d", status);
	if (model_process_report(r->proc, line, sizeof(line)))
		model_problem(r, "the agent's stderr: %s", line);
}

/* --- seeds ---------------------------------------------------------------- */

static void model_print_trace(const struct model_run *r)
{
	for (unsigned i = 0; i < r->steps && i < MODEL_TRACE_MAX; i++)
		printf("#   %3u. %s\n", i + 1, r->trace[i]);
}

/* Returns the number of problems; -1 when the run could not be set up. */
static long model_seed(uint64_t seed, const struct model_scenario *sc,
		       const struct model_opts *o, const char *top,
		       struct model_cluster *cluster, struct model_broker *broker,
		       unsigned *steps, size_t *lines)
{
	struct model_run r = {.seed = seed, .rng = {seed * 0x2545f4914f6cdd1dull + 1},
			      .broker = broker, .poll = sc ? sc->poll : seed % 2};
	size_t problems = 0, messages = 0;
	long rc = -1;

	if (model_topic(&r, cluster) < 0 || model_folders(&r, top, o) < 0)
		goto out;
	if (sc)
		model_script(&r, sc);
	else
		model_sequence(&r, 10 + (unsigned)model_rng_below(&r.rng, o->steps - 9));
	model_finish(&r);
	if (r.agent)
		model_agent_crash(r.agent);
	model_process_end(&r);
	problems = r.problems +
		   model_oracle_check(&r.files, r.brokers, r.topic, MODEL_PARTITIONS, &messages);
	*steps = r.steps;
	*lines = r.files.nlines - 1;
	if (problems || (o->trace && !model_live)) {
		if (sc)
			printf("# scenario %llu (%s)", (unsigned long long)(seed - MODEL_SCENARIO_SEED + 1),
			       sc->name);
		else
			printf("# seed %llu", (unsigned long long)seed);
		printf(": %u steps, %zu lines written, %zu messages, %zu problems%s\n",
		       r.steps, r.files.nlines - 1, messages, problems,
		       problems ? " (above); the sequence:" : "");
		if (!model_live)
			model_print_trace(&r);
		if (problems && r.proc)
			model_process_print_log(r.proc, 60);
	}
	rc = (long)problems;
out:
	model_run_fini(&r);
	return rc;
}

/* What a job (a share of the seeds) found. */
struct model_tally {
	unsigned failures, longest;
	uint64_t seeds;
	size_t lines;
	unsigned scenarios;
};

/* Show a job's output, less its tally line, and add the tally to t. */
static void model_job_report(const char *top, unsigned job, struct model_tally *t)
{
	char path[320], line[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/job-%u.out", top, job);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned failures, longest;
		unsigned long long seeds;
		size_t lines;

		if (sscanf(line, "tally %u %u %llu %zu", &failures, &longest, &seeds, &lines) == 4) {
			t->failures += failures;
			t->longest = longest > t->longest ? longest : t->longest;
			t->seeds += seeds;
			t->lines += lines;
		} else {
			fputs(line, stdout);
		}
	}
	fclose(f);
	unlink(path);
}

static void model_rmdir(const char *top)
{
	char cmd[320];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "model: cannot remove %s\n", top);
}

static void model_usage(void)
{
	fprintf(stderr, "usage: model_rotation [--seeds N] [--first S] [--seed S | --scenario N] [--steps N] [--jobs N] [--trace]\n"
		"                      [--agent LOGTALLY-AGENT --devbroker LOGTALLY-DEVBROKER]\n");
	exit(2);
}

static uint64_t model_env(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 10) : def;
}

static void model_parse(int argc, char **argv, struct model_opts *o)
{
	static const struct option longopts[] = {
		{"seeds", required_argument, NULL, 'n'}, {"first", required_argument, NULL, 'f'},
		{"seed", required_argument, NULL, 's'}, {"steps", required_argument, NULL, 'l'},
		{"jobs", required_argument, NULL, 'j'}, {"trace", no_argument, NULL, 't'},
		{"agent", required_argument, NULL, 'a'}, {"devbroker", required_argument, NULL, 'b'},
		{"scenario", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct model_opts){.seeds = model_env("LOGTALLY_MODEL_SEEDS", 2000),
				 .first = model_env("LOGTALLY_MODEL_FIRST", 1), .steps = 120,
				 .jobs = (unsigned)model_env("LOGTALLY_MODEL_JOBS", 24)};
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'n')
			o->seeds = strtoull(optarg, NULL, 10);
		else if (c == 'f')
			o->first = strtoull(optarg, NULL, 10);
		else if (c == 's')
			o->first = strtoull(optarg, NULL, 10), o->seeds = 1, o->one = o->trace = true,
			o->no_scenarios = true;
		else if (c == 'c')
			o->scenario = (unsigned)strtoul(optarg, NULL, 10), o->one = o->trace = true;
		else if (c == 'l')
			o->steps = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'j')
			o->jobs = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 't')
			o->trace = true;
		else if (c == 'a')
			o->agent_bin = optarg;
		else if (c == 'b')
			o->broker_bin = optarg;
		else
			model_usage();
	}
	if (optind != argc || o->seeds == 0 || o->steps < 10 || o->jobs == 0 ||
	    !o->agent_bin != !o->broker_bin || o->scenario > MODEL_SCENARIOS)
		model_usage();
	if (o->one || o->jobs > o->seeds)
		o->jobs = o->one ? 1 : (unsigned)o->seeds;
}

/* Run seeds first + job, first + job + jobs, ... Returns -1 when a run
 * could not be set up (printed as a bail out). */
static int model_job(const struct model_opts *o, unsigned job, const char *top,
		     const char *self, struct model_tally *t)
{
	struct model_cluster cluster = {0};
	struct model_broker broker = {0};
	char dir[320];
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s/job-%u", top, job);
	if (o->agent_bin && (mkdir(dir, 0700) < 0 || model_broker_start(&broker, o->broker_bin, dir) < 0)) {
		printf("Bail out! the dev broker %s does not start in %s\n", o->broker_bin, dir);
		model_broker_stop(&broker);
		return -1;
	}

	for (uint64_t seed = o->first + job; seed < o->first + o->seeds &&
	     t->failures < MODEL_FAILURES_MAX; seed += o->jobs) {
		unsigned steps = 0;
		size_t n = 0;
		long problems;

		if (model_job_seed)
			model_job_seed[job] = seed;
		problems = model_seed(seed, NULL, o, top, &cluster,
				      o->agent_bin ? &broker : NULL, &steps, &n);

		if (problems < 0) {
			printf("Bail out! seed %llu: the run could not be set up\n", (unsigned long long)seed);
			rc = -1;
			break;
		}
		if (problems > 0 && o->agent_bin)
			printf("# replay (the operations, not their timing): %s --agent %s --devbroker %s --seed %llu\n",
			       self, o->agent_bin, o->broker_bin, (unsigned long long)seed);
		else if (problems > 0)
			printf("# replay: %s --seed %llu\n", self, (unsigned long long)seed);
		t->failures += problems > 0;
		t->longest = steps > t->longest ? steps : t->longest;
		t->lines += n;
		t->seeds++;
	}
	model_cluster_fini(&cluster);
	model_broker_stop(&broker);
	return rc;
}

/* The scenarios, one after the other (or only o->scenario). */
static int model_scenarios_run(const struct model_opts *o, const char *top, const char *self,
			       struct model_tally *t)
{
	struct model_cluster cluster = {0};
	struct model_broker broker = {0};
	char dir[320];
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s/scenarios", top);
	if (o->agent_bin && (mkdir(dir, 0700) < 0 || model_broker_start(&broker, o->broker_bin, dir) < 0)) {
		printf("Bail out! the dev broker %s does not start in %s\n", o->broker_bin, dir);
		model_broker_stop(&broker);
		return -1;
	}
	for (unsigned i = 0; i < MODEL_SCENARIOS && rc == 0; i++) {
		unsigned steps = 0;
		size_t n = 0;
		long problems;

		if (o->scenario && o->scenario != i + 1)
			continue;
		problems = model_seed(MODEL_SCENARIO_SEED + i, &model_scenarios[i], o, top, &cluster,
				      o->agent_bin ? &broker : NULL, &steps, &n);
		if (problems < 0) {
			printf("Bail out! scenario %u: the run could not be set up\n", i + 1);
			rc = -1;
		} else if (problems > 0) {
			printf("# replay: %s%s%s%s%s --scenario %u\n", self,
			       o->agent_bin ? " --agent " : "", o->agent_bin ? o->agent_bin : "",
			       o->agent_bin ? " --devbroker " : "", o->agent_bin ? o->broker_bin : "", i + 1);
		}
		t->failures += problems > 0;
		t->scenarios++;
		t->lines += n;
		t->longest = steps > t->longest ? steps : t->longest;
	}
	model_cluster_fini(&cluster);
	model_broker_stop(&broker);
	return rc;
}

/*
 * The seeds are shared among o->jobs processes: a seed spends most of its
 * time waiting on the broker, not on a core. Each job prints into a file
 * of its own, shown whole once every job is done, so that traces do not
 * mix; its tally comes back in its last line.
 */
static int model_jobs(const struct model_opts *o, const char *top, const char *self,
		      struct model_tally *t)
{
	pid_t *pids = xcalloc(o->jobs, sizeof(*pids));
	int rc = 0;

	model_job_seed = mmap(NULL, o->jobs * sizeof(*model_job_seed),
			      PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (model_job_seed == MAP_FAILED)
		model_job_seed = NULL;
	for (unsigned job = 0; job < o->jobs; job++) {
		char path[320];
		pid_t pid;

		snprintf(path, sizeof(path), "%s/job-%u.out", top, job);
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			struct model_tally mine = {0};

			if (!freopen(path, "w", stdout))
				exit(99);
			rc = model_job(o, job, top, self, &mine);
			printf("tally %u %u %llu %zu\n", mine.failures, mine.longest,
			       (unsigned long long)mine.seeds, mine.lines);
			fflush(stdout);
			exit(rc < 0 ? 99 : 0);
		}
		pids[job] = pid;
	}
	for (unsigned job = 0; job < o->jobs; job++) {
		int status;

		if (waitpid(pids[job], &status, 0) < 0)
			status = -1;
		if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			continue;
		rc = -1;
		printf("# job %u %s %d during seed %llu; replay: %s --seed %llu\n", job,
		       status != -1 && WIFSIGNALED(status) ? "was killed by signal" : "exited with",
		       status == -1 ? -1 : WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
		       model_job_seed ? (unsigned long long)model_job_seed[job] : 0ull, self,
		       model_job_seed ? (unsigned long long)model_job_seed[job] : 0ull);
	}
	for (unsigned job = 0; job < o->jobs; job++)
		model_job_report(top, job, t);
	if (model_job_seed)
		munmap(model_job_seed, o->jobs * sizeof(*model_job_seed));
	model_job_seed = NULL;
	free(pids);
	return rc;
}

int main(int argc, char **argv)
{
	char top[] = "/tmp/logtally-model.XXXXXX";
	struct model_tally t = {0};
	struct model_opts o;
	time_t start = time(NULL);
	int rc;

	model_parse(argc, argv, &o);
	model_live = o.one;
	logging_init("model", LOGGING_ERROR);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!mkdtemp(top)) {
		perror("model: mkdtemp");
		return 99;
	}
	printf("1..1\n");
	rc = o.no_scenarios ? 0 : model_scenarios_run(&o, top, argv[0], &t);
	if (rc == 0 && !o.scenario)
		rc = o.jobs == 1 ? model_job(&o, 0, top, argv[0], &t) : model_jobs(&o, top, argv[0], &t);
	model_rmdir(top);
	if (rc < 0) {
		printf("Bail out! a job of seeds did not finish\n");
		return 99;
	}
	printf("%s 1 - %u scenarios and %llu seeds from %llu in %u jobs: %u failed; longest sequence %u steps, %zu lines written, %llds\n",
	       t.failures ? "not ok" : "ok", t.scenarios, (unsigned long long)t.seeds,
	       (unsigned long long)o.first, o.jobs, t.failures, t.longest, t.lines,
	       (long long)(time(NULL) - start));
	return 0;
}
