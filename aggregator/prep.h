/*
 * prep: the part of counting a message that needs nothing but the message:
 * decode the value, parse the line, extract the dimension values. It runs
 * for a batch on two threads at once (the loop's and a worker's, each with
 * its own parser and dimensions), the worker's part while the loop counts
 * the batch before, and leaves per-message results in slots; the loop
 * then counts the slots in order (count.c), where partitions,
 * de-duplication, windows and the cap are. Position in the pipeline:
 * consumer -> prep (message_decode, accesslog, dimensions) -> count -> window.
 */
#ifndef LOGTALLY_PREP_H
#define LOGTALLY_PREP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "aggregator_config.h"
#include "dimensions.h"
#include "message.h"
#include "window.h"

/* One dimension value of a message: arena[off..off+len) of its slot. */
struct prep_value {
	uint32_t dim;
	uint32_t len;
	size_t off;
};

/* Source ids are short hashes; a longer key (the column's size) is no id. */
#define PREP_KEY_MAX 255

/* What prep found in one message. */
struct prep_slot {
	int decode_rc;          /* message_decode(): 0, or bad (why says) */
	char why[160];
	struct message_event ev;        /* when decoded */
	/*
	 * An envelope with a log.offset and a key that can be a source id
	 * (1 to PREP_KEY_MAX bytes, no NUL): the key, NUL-terminated, for
	 * de-duplication. Otherwise false.
	 */
	bool keyed;
	char key[PREP_KEY_MAX + 1];
	bool parsed;            /* the line matched log_format */
	int64_t time_ms;        /* the line's own time; -1 none */
	struct window_line line;        /* its size and duration */
	struct prep_value *vals;
	size_t nvals, vals_cap;
	char *arena;
	size_t arena_len, arena_cap;
};

struct prep;

/*
 * Two workers' parsers and dimensions for cfg (borrowed), and the worker
 * thread. NULL with the reason in err (a pattern that does not compile).
 */
struct prep *prep_new(const struct aggregator_config *cfg, char *err,
		      size_t errlen);

/*
 * The dimensions of the loop's thread, for their names and count (which
 * never change). Borrowed from pp.
 */
const struct dimensions *prep_dimensions(const struct prep *pp);

/* Stops the worker thread; frees the slots. */
void prep_free(struct prep *pp);

/* CPU seconds used so far by the worker thread. */
double prep_cpu_s(const struct prep *pp);

/*
 * Start filling one slot per message of msgs[0..n) (n <= PREP_BATCH): the
 * worker takes its part at once. msgs must stay valid until prep_end().
 * Calls alternate: prep_begin(), then prep_end().
 */
void prep_begin(struct prep *pp, rd_kafka_message_t *const *msgs, size_t n);

/*
 * Prepare the rest of the batch begun on this thread, wait for the worker,
 * and return the batch's slots, in order. Borrowed until the prep_end()
 * after next: the batch before stays readable while the next one is begun.
 */
struct prep_slot *prep_end(struct prep *pp);

#define PREP_BATCH 1024

#endif
