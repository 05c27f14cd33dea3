/*
 * ledger: what the aggregator has counted and not written yet, partition by
 * partition and source by source. For each partition it knows whether this
 * member holds it, where counting is (next), what MariaDB holds (stored)
 * and the pending counts (deltas); for each source (a message key) the
 * highest log.offset counted, and whether that is written. Counting moves
 * next and the high marks forward; a flush takes the deltas and the dirty
 * high marks and, once committed, moves stored; a rebalance hands
 * partitions in and out. The generation says when partitions were
 * positioned anew, so that a batch fetched before is not counted.
 *
 * Invariants. For an assigned partition p: p->stored is what MariaDB holds
 * for it (the compare-and-set's expected value); every message below
 * p->next was counted into p->deltas or committed; p->deltas holds exactly
 * the counts of the messages from p->stored to p->next. A source's high
 * mark covers the pending messages; its row in MariaDB, the committed
 * ones. A partition whose seek failed (p->seek_due) has a fetch position
 * nobody knows, maybe past messages not counted: nothing of it is counted,
 * so p->next stays where counting is, until a seek to p->next succeeds.
 *
 * Everything here belongs to the loop's thread.
 */
#ifndef LOGTALLY_LEDGER_H
#define LOGTALLY_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "store.h"
#include "window.h"

/* p->next before the first message of a partition started at BEGINNING. */
#define LEDGER_OFFSET_UNKNOWN (-1)

/* Plain data, owned by the ledger; the fields are the callers' to change. */
struct ledger_partition {
	int32_t id;
	bool assigned;
	bool lost;              /* taken over by another member: skip until revoked */
	bool seek_due;          /* the last seek to next failed: count nothing */
	int64_t stored;         /* next_offset in MariaDB, or STORE_OFFSET_NONE */
	int64_t next;           /* offset of the next message to count */
	struct window_deltas *deltas;   /* owned; NULL until first assigned */
	struct window_deltas *spare;    /* an empty table to swap in at flush */
	struct metrics_gauge *lag;      /* NULL until first assigned */
};

struct ledger_source {
	int32_t partition;
	int64_t high;           /* largest log.offset counted, pending included */
	bool dirty;             /* high not written yet */
	char key[];             /* the message key */
};

struct ledger;

/* An empty ledger. Free with ledger_free() (NULL is fine). */
struct ledger *ledger_new(void);
void ledger_free(struct ledger *l);

/*
 * Partition id, created (all fields 0 but id: not assigned) the first
 * time it is asked for; NULL for a negative id. Assignment sets the rest. The pointer stays
 * valid until the next call that creates a partition: keep ids, not
 * pointers, across calls.
 */
struct ledger_partition *ledger_partition(struct ledger *l, int32_t id);

/* How many partitions the ledger knows: ids 0 .. count - 1. */
size_t ledger_count(const struct ledger *l);

/* Whether p has counts or offsets that MariaDB does not hold yet. */
bool ledger_pending(const struct ledger_partition *p);
bool ledger_any_pending(const struct ledger *l);

/* Distinct keys and bytes of the pending counts of the partitions held. */
size_t ledger_pending_keys(const struct ledger *l);
size_t ledger_pending_bytes(const struct ledger *l);

/*
 * The source of message key key, now in partition (a key may move when an
 * agent's partition count changes), created with high -1 when new. Owned
 * by the ledger; valid until ledger_drop_sources() of its partition or
 * ledger_free().
 */
struct ledger_source *ledger_source(struct ledger *l, const char *key, int32_t partition);

/*
 * Record that key's line at offset was counted: its high mark moves there
 * and is to be written. Returns false, changing nothing, when offset is at
 * or below the high mark (a resend, to be skipped).
 */
bool ledger_count_source(struct ledger *l, const char *key, int32_t partition,
			 int64_t offset);

/*
 * The high marks not written yet, for a flush: a new array of *n rows
 * (never NULL) sorted by source; the caller owns it and each row's source
 * string (free() both). The ledger forgets they were dirty.
 */
struct store_source *ledger_take_dirty(struct ledger *l, size_t *n);

/* Forget the sources of a partition (their next owner has their rows). */
void ledger_drop_sources(struct ledger *l, int32_t partition);

/* The generation, and a new one: every partition is positioned anew. */
uint64_t ledger_generation(const struct ledger *l);
void ledger_bump(struct ledger *l);

#endif
