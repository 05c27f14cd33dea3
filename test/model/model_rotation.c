/*
 * model_rotation: the model-based rotation test (see model.h). Each seed
 * draws a sequence of file operations and agent steps, runs it against a
 * fresh mock cluster and a fresh folder, lets the agent catch up, and asks
 * the oracle. Prints TAP: one result for all seeds, and for a failing seed
 * its number, the problems and the sequence, replayable with --seed.
 *
 *   model_rotation [--seeds N] [--first S] [--seed S] [--steps N] [--trace]
 *
 * LOGTALLY_MODEL_SEEDS sets the default number of seeds (200);
 * LOGTALLY_MODEL_VERBOSE=1 shows the agent's own log.
 */
#include "model.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "logging.h"
#include "xalloc.h"

#define MODEL_PARTITIONS 2
#define MODEL_TRACE_MAX 512
#define MODEL_FAILURES_MAX 5

struct model_opts {
	uint64_t seeds, first;
	unsigned steps;         /* most steps of a sequence */
	bool trace;             /* print every sequence */
	bool one;               /* --seed */
};

/* One seed's run. */
struct model_run {
	uint64_t seed;
	struct model_rng rng;
	struct model_files files;
	struct model_agent *agent;
	rd_kafka_mock_cluster_t *mcluster;      /* borrowed */
	const char *brokers;
	char topic[64];
	char work[256];
	bool broker_down;
	char *trace[MODEL_TRACE_MAX];
	unsigned steps;
};

/* --seed prints each step as it runs, so that a crash shows where. */
static bool model_live;

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
	if (model_cluster_get(c) < 0)
		return -1;
	r->mcluster = c->mcluster;
	r->brokers = rd_kafka_mock_cluster_bootstraps(r->mcluster);
	snprintf(r->topic, sizeof(r->topic), "model-%llu", (unsigned long long)r->seed);
	return rd_kafka_mock_topic_create(r->mcluster, r->topic, MODEL_PARTITIONS, 1) ? -1 : 0;
}

static int model_folders(struct model_run *r, const char *top)
{
	char logs[320];

	snprintf(r->work, sizeof(r->work), "%s/seed-%llu", top, (unsigned long long)r->seed);
	snprintf(logs, sizeof(logs), "%s/logs", r->work);
	if (mkdir(r->work, 0700) < 0 || mkdir(logs, 0700) < 0) {
		fprintf(stderr, "model: mkdir %s: %s\n", logs, strerror(errno));
		return -1;
	}
	model_files_init(&r->files, logs);
	r->agent = model_agent_new(r->work, logs, r->brokers, r->topic);
	return r->agent ? 0 : -1;
}

static void model_run_fini(struct model_run *r)
{
	char cmd[400];

	model_agent_free(r->agent);
	model_files_fini(&r->files);
	if (r->broker_down)
		rd_kafka_mock_broker_set_up(r->mcluster, 1);
	for (unsigned i = 0; i < r->steps && i < MODEL_TRACE_MAX; i++)
		free(r->trace[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->work);
	if (*r->work && system(cmd) != 0)
		fprintf(stderr, "model: cannot remove %s\n", r->work);
}

/* --- the steps ------------------------------------------------------------- */

static void model_broker(struct model_run *r, bool down)
{
	if (down)
		rd_kafka_mock_broker_set_down(r->mcluster, 1);
	else
		rd_kafka_mock_broker_set_up(r->mcluster, 1);
	r->broker_down = down;
	model_trace(r, down ? "broker down" : "broker up");
}

static void model_settle(struct model_run *r)
{
	if (r->broker_down)
		model_broker(r, false);
	if (!model_agent_running(r->agent))
		return;
	if (model_agent_settle(r->agent))
		model_mark_must(&r->files);
	model_trace(r, "agent catches up (scan, tick, read, acks until nothing moves)");
}

/* A step of logrotate's copytruncate, under way. */
static void model_copy_step(struct model_run *r)
{
	struct model_files *m = &r->files;

	if (m->copied)
		model_copy_truncate(m);
	else if (model_rng_chance(&r->rng, 50))
		model_copy_some(m, &r->rng);
	else
		model_copy_end(m);
	model_trace(r, m->last);
}

/* A file operation; false when none applies now. */
static bool model_file_step(struct model_run *r, unsigned pick)
{
	struct model_files *m = &r->files;
	bool idle = m->copying < 0;     /* logrotate is not running */

	if (pick < 40)
		model_append(m, &r->rng);
	else if (pick < 45 && idle)
		model_rotate_rename(m);
	else if (pick < 52 && m->writer != m->live)
		model_reopen(m);
	else if (pick < 60 && idle)
		model_copy_begin(m, model_rng_chance(&r->rng, 30));
	else if (pick < 62 && idle)
		model_truncate_live(m);
	else if (pick < 66 && idle)
		model_delete_old(m, &r->rng);
	else if (pick < 68 && idle)
		model_delete_live(m);
	else if (pick < 72 && idle)
		model_compress(m, &r->rng);
	else if (pick < 75)
		model_tiny(m, &r->rng);
	else
		return false;
	model_trace(r, m->last);
	return true;
}

static void model_agent_step(struct model_run *r, unsigned pick)
{
	struct model_agent *a = r->agent;
	char what[80];

	if (!model_agent_running(a)) {
		if (model_agent_start(a) == 0)
			model_trace(r, "agent starts");
		return;
	}
	if (pick < 14) {
		model_agent_scan(a);
		model_trace(r, "agent: scan");
	} else if (pick < 24) {
		model_agent_tick(a);
		model_trace(r, "agent: tick");
	} else if (pick < 40) {
		model_agent_read(a);
		model_trace(r, "agent: read");
	} else if (pick < 52) {
		model_agent_acks(a, r->broker_down ? 0 : 5000);
		model_trace(r, "agent: acknowledgements");
	} else if (pick < 58) {
		model_agent_save(a);
		model_trace(r, "agent: registry saved");
	} else if (pick < 70) {
		int64_t ms = (int64_t)model_rng_below(&r->rng, 7000);

		model_agent_advance(a, ms);
		snprintf(what, sizeof(what), "agent: %lld ms pass", (long long)ms);
		model_trace(r, what);
	} else if (pick < 76) {
		model_settle(r);
		if (model_rng_chance(&r->rng, 30)) {
			model_agent_clean(a);
			model_trace(r, "agent: registry cleaned of everything unheld");
		}
	} else if (pick < 82) {
		model_agent_crash(a);
		model_trace(r, "agent killed (-9)");
	} else if (pick < 85) {
		model_agent_stop(a, r->broker_down ? 50 : 5000);
		model_trace(r, "agent stopped (SIGTERM)");
	} else if (pick < 90) {
		model_broker(r, !r->broker_down);
	}
}

static void model_sequence(struct model_run *r, unsigned steps)
{
	while (r->steps < steps) {
		unsigned pick = (unsigned)model_rng_below(&r->rng, 100);

		if (r->files.copying >= 0 && model_rng_chance(&r->rng, 35))
			model_copy_step(r);
		else if (pick >= 50 || !model_file_step(r, (unsigned)model_rng_below(&r->rng, 75)))
			model_agent_step(r, (unsigned)model_rng_below(&r->rng, 90));
	}
	while (r->files.copying >= 0)
		model_copy_step(r);
	if (!model_agent_running(r->agent) && model_agent_start(r->agent) == 0)
		model_trace(r, "agent starts");
	model_settle(r);
}

/* --- seeds ---------------------------------------------------------------- */

static void model_print_trace(const struct model_run *r)
{
	for (unsigned i = 0; i < r->steps && i < MODEL_TRACE_MAX; i++)
		printf("#   %3u. %s\n", i + 1, r->trace[i]);
}

/* Returns the number of problems; -1 when the run could not be set up. */
static long model_seed(uint64_t seed, const struct model_opts *o, const char *top,
		       struct model_cluster *cluster, unsigned *steps, size_t *lines)
{
	struct model_run r = {.seed = seed, .rng = {seed * 0x2545f4914f6cdd1dull + 1}};
	size_t problems = 0, messages = 0;
	long rc = -1;

	if (model_topic(&r, cluster) < 0 || model_folders(&r, top) < 0)
		goto out;
	model_sequence(&r, 10 + (unsigned)model_rng_below(&r.rng, o->steps - 9));
	model_agent_crash(r.agent);
	problems = model_oracle_check(&r.files, r.brokers, r.topic, MODEL_PARTITIONS, &messages);
	*steps = r.steps;
	*lines = r.files.nlines - 1;
	if (problems || (o->trace && !model_live)) {
		printf("# seed %llu: %u steps, %zu lines written, %zu messages, %zu problems%s\n",
		       (unsigned long long)seed, r.steps, r.files.nlines - 1, messages, problems,
		       problems ? " (above); the sequence:" : "");
		if (!model_live)
			model_print_trace(&r);
	}
	rc = (long)problems;
out:
	model_run_fini(&r);
	return rc;
}

static void model_usage(void)
{
	fprintf(stderr, "usage: model_rotation [--seeds N] [--first S] [--seed S] [--steps N] [--trace]\n");
	exit(2);
}

static void model_parse(int argc, char **argv, struct model_opts *o)
{
	static const struct option longopts[] = {
		{"seeds", required_argument, NULL, 'n'}, {"first", required_argument, NULL, 'f'},
		{"seed", required_argument, NULL, 's'}, {"steps", required_argument, NULL, 'l'},
		{"trace", no_argument, NULL, 't'}, {NULL, 0, NULL, 0},
	};
	const char *env = getenv("LOGTALLY_MODEL_SEEDS");
	int c;

	*o = (struct model_opts){.seeds = env && *env ? strtoull(env, NULL, 10) : 200,
				 .first = 1, .steps = 120};
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'n')
			o->seeds = strtoull(optarg, NULL, 10);
		else if (c == 'f')
			o->first = strtoull(optarg, NULL, 10);
		else if (c == 's')
			o->first = strtoull(optarg, NULL, 10), o->seeds = 1, o->one = o->trace = true;
		else if (c == 'l')
			o->steps = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 't')
			o->trace = true;
		else
			model_usage();
	}
	if (optind != argc || o->seeds == 0 || o->steps < 10)
		model_usage();
}

int main(int argc, char **argv)
{
	char top[] = "/tmp/logtally-model.XXXXXX";
	unsigned longest = 0, failures = 0;
	size_t lines = 0;
	struct model_cluster cluster = {0};
	struct model_opts o;
	time_t start = time(NULL);

	model_parse(argc, argv, &o);
	model_live = o.one;
	logging_init("model", LOGGING_ERROR);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!mkdtemp(top)) {
		perror("model: mkdtemp");
		return 99;
	}
	printf("1..1\n");
	for (uint64_t seed = o.first; seed < o.first + o.seeds && failures < MODEL_FAILURES_MAX; seed++) {
		unsigned steps = 0;
		size_t n = 0;
		long rc = model_seed(seed, &o, top, &cluster, &steps, &n);

		if (rc < 0) {
			printf("Bail out! seed %llu: the run could not be set up\n", (unsigned long long)seed);
			return 99;
		}
		failures += rc > 0;
		if (rc > 0)
			printf("# replay: %s --seed %llu\n", argv[0], (unsigned long long)seed);
		longest = steps > longest ? steps : longest;
		lines += n;
	}
	model_cluster_fini(&cluster);
	rmdir(top);
	printf("%s 1 - %llu seeds from %llu: %u failed; longest sequence %u steps, %zu lines written, %llds\n",
	       failures ? "not ok" : "ok", (unsigned long long)o.seeds, (unsigned long long)o.first,
	       failures, longest, lines, (long long)(time(NULL) - start));
	return 0;
}
