/*
 * The model-based rotation test (issue 10): a seeded random sequence of
 * what web servers, logrotate and operators do to log files (appends,
 * rename and copytruncate rotations, deletions, compression, tiny files)
 * interleaved with what the agent does (scan, tick, read, acknowledgements,
 * registry writes, kill -9, broker outages). The agent is the real one,
 * composed from its modules as agent.c composes them, in this process, on a
 * virtual clock, against librdkafka's mock cluster (the dev broker's
 * engine); the oracle then reads the topic and checks that every line is
 * counted at most once, and exactly once when it stayed in a followed file
 * until the agent had caught up.
 *
 * model_files.c: the files, in memory and mirrored on disk.
 * model_agent.c: the agent's modules, started, crashed and stepped.
 * model_process.c: the same with the real binary and a dev broker.
 * model_oracle.c: the topic read back and judged.
 * model_rotation.c: the sequences, the seeds and the report.
 */
#ifndef LOGTALLY_MODEL_H
#define LOGTALLY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MODEL_MAX_LINE 1024             /* the agent's max_line_bytes */
#define MODEL_SEQ_DIGITS 8              /* "L00000001:" opens every line */
#define MODEL_ROTATED_MAX 3             /* numbered and dated copies kept */

/* --- the random source --------------------------------------------------- */

struct model_rng {
	uint64_t state;
};

uint64_t model_rng_next(struct model_rng *rng);
/* Uniform in [0, n); n > 0. */
uint64_t model_rng_below(struct model_rng *rng, uint64_t n);
/* True with probability percent/100. */
bool model_rng_chance(struct model_rng *rng, unsigned percent);

/* --- lines and files ------------------------------------------------------ */

/* One line ever written, by its sequence number (its index). */
struct model_line {
	int64_t offset;         /* in the file it was written to, kept by copies */
	uint32_t len;           /* without the newline */
	bool complete;          /* its newline was written */
	bool must;              /* sat whole in a followed file when the agent
				 * had caught up: it must be counted */
	uint32_t counted;       /* times the oracle counted it */
	int file;               /* the file it was last seen in by a catch-up */
};

/* One inode. */
struct model_file {
	char name[64];          /* under the logs folder; "" once deleted */
	char *data;             /* its bytes */
	size_t len, cap;
};

struct model_files {
	char dir[256];          /* the logs folder */
	struct model_file *files;
	size_t nfiles;
	struct model_line *lines;       /* [0] unused: sequences start at 1 */
	size_t nlines, cap;
	int live;               /* the file named access.log, or -1 */
	int writer;             /* file the web server writes to, or -1 */
	int partial;            /* line written without its newline, or 0 */
	int rotated[MODEL_ROTATED_MAX];  /* access.log.1 .. .N: file or -1 */
	int dated[MODEL_ROTATED_MAX];    /* dateext copies, oldest first, or -1 */
	unsigned dated_next;
	unsigned tiny_next;
	int copying;            /* copytruncate's copy being written, or -1 */
	int copy_of;            /* the file it copies */
	bool copied;            /* the copy is whole; the truncation is next */
	char last[160];         /* the last operation, for the trace */
};

void model_files_init(struct model_files *m, const char *dir);
void model_files_fini(struct model_files *m);

/* The bytes of line seq (len bytes, no newline) into out. */
void model_line_text(uint64_t seq, uint32_t len, char *out);

/* The operations; each keeps disk and memory equal and sets m->last. */
void model_append(struct model_files *m, struct model_rng *rng);
void model_rotate_rename(struct model_files *m);
void model_reopen(struct model_files *m);
void model_copy_begin(struct model_files *m, bool dated);
void model_copy_some(struct model_files *m, struct model_rng *rng);
void model_copy_end(struct model_files *m);
void model_copy_truncate(struct model_files *m);
void model_truncate_live(struct model_files *m);
void model_delete_old(struct model_files *m, struct model_rng *rng);
void model_delete_live(struct model_files *m);
void model_compress(struct model_files *m, struct model_rng *rng);
void model_tiny(struct model_files *m, struct model_rng *rng);

/* The followed files now, "name#file:bytes" each, "<w" on the writer's. */
void model_files_describe(const struct model_files *m, char *out, size_t len);

/* Mark every complete line of every followed file as one that must be
 * counted (called when the agent has caught up with everything). */
void model_mark_must(struct model_files *m);

/* Call fn with the sequence number of every complete line of every
 * followed file, and the file's index. */
void model_each_followed(struct model_files *m, void (*fn)(void *arg, uint64_t seq, int file),
			 void *arg);

/* --- the agent ---------------------------------------------------------- */

struct model_agent;

/* Write the agent's configuration for logs_dir and data_dir, pointing at
 * brokers and topic, and start nothing yet; poll: the polling backend, else
 * inotify (whose news a read takes first). NULL on error (printed). */
struct model_agent *model_agent_new(const char *work_dir, const char *logs_dir,
				    const char *brokers, const char *topic, bool poll);
void model_agent_free(struct model_agent *a);

/* Start (open the registry, the producer, the watch); 0 or -1 (printed). */
int model_agent_start(struct model_agent *a);
bool model_agent_running(const struct model_agent *a);
/* kill -9: free everything, saving nothing; in-flight lines are purged
 * (those the broker already has stay in the topic). */
void model_agent_crash(struct model_agent *a);
/* SIGTERM: wait up to wait_ms for acknowledgements, save, free. */
void model_agent_stop(struct model_agent *a, int wait_ms);

void model_agent_advance(struct model_agent *a, int64_t ms);
void model_agent_scan(struct model_agent *a);
void model_agent_tick(struct model_agent *a);
void model_agent_read(struct model_agent *a);
/* Serve delivery reports; wait up to wait_ms for all of them. */
void model_agent_acks(struct model_agent *a, int wait_ms);
void model_agent_save(struct model_agent *a);
/* Forget every source not seen for a second, as clean_removed would after
 * a day (the agent has just caught up: only gone files are unheld). */
void model_agent_clean(struct model_agent *a);
/* Scan, tick, read and wait for acks until nothing moves; the broker must
 * be up. Returns true when the agent caught up. */
bool model_agent_settle(struct model_agent *a);

/*
 * Write the agent's configuration to path: logs_dir's access.log* and
 * tiny-*.log, *.gz excluded, registry in work_dir/data, brokers and topic;
 * level: the log level, or NULL for debug under LOGTALLY_MODEL_VERBOSE=1
 * and warn otherwise; extra: more top-level YAML lines (may be ""). 0 or -1.
 */
int model_config_write(const char *path, const char *work_dir, const char *logs_dir,
		       const char *brokers, const char *topic, const char *level,
		       const char *extra);

/* --- the real programs (model_process.c) ------------------------------------ */

struct model_process;

void model_sleep_ms(int64_t ms);

/* The logtally-agent binary at bin for this seed's folders, polling for
 * changes (LOGTALLY_AGENT_POLL) or not; nothing started yet. */
struct model_process *model_process_new(const char *bin, const char *work_dir,
					const char *logs_dir, const char *brokers,
					const char *topic, bool poll);
void model_process_free(struct model_process *p);
/* Starts the agent and waits until its main() blocks SIGTERM. */
int model_process_start(struct model_process *p);
bool model_process_running(const struct model_process *p);
void model_process_kill(struct model_process *p);
/* SIGTERM: the exit status; -SIGNAL when a signal ended it; -1000 hung. */
int model_process_stop(struct model_process *p);
bool model_process_died(struct model_process *p, int *status);
/* A sanitizer's report in the agent's stderr: true, with its line. */
bool model_process_report(const struct model_process *p, char *line, size_t len);
/* Print the last lines of the agent's log (info and above), as comments. */
void model_process_print_log(const struct model_process *p, unsigned lines);

/* A logtally-devbroker of one broker, its control socket in dir. */
struct model_broker {
	int pid;
	char control[300];
	char bootstraps[256];
};

int model_broker_start(struct model_broker *b, const char *bin, const char *dir);
void model_broker_stop(struct model_broker *b);
/* A control request ("down 1", "topic NAME 2"); 0, or -1 (printed). */
int model_broker_send(struct model_broker *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* --- the oracle --------------------------------------------------------- */

/*
 * How many complete lines of followed files are not in topic yet (each
 * counted whatever its source and offset). For the real agent, which the
 * model cannot step: it has caught up when this is 0.
 */
size_t model_oracle_missing(struct model_files *m, const char *brokers,
			    const char *topic, int32_t partitions);


/*
 * Read topic (of partitions partitions) from the start to its end through brokers, count each message
 * as the aggregator would (a source's line counts only past the highest
 * log.offset counted of that source), and check it against m: the
 * content, the offset, at most one count per line, exactly one for lines
 * marked must. Returns the number of problems, each printed to stdout as
 * a TAP comment ("# ...").
 */
size_t model_oracle_check(struct model_files *m, const char *brokers,
			  const char *topic, int32_t partitions, size_t *messages);

#endif
