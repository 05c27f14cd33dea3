/*
 * sources_slot.h: the bottom layer of the sources module, which nothing
 * outside it includes. The module is three files, and calls go down this
 * list: sources.c follows the files (scans, periodic work, reading,
 * acknowledgements); sources_identity.c decides which source a file is (a
 * new one, a known one, a copy of one) and when a copy takes its source
 * over; sources_slot.c holds the module's state, the slots, the files open
 * within max_open_files, and tells who reads an entry.
 */
#ifndef LOGTALLY_SOURCES_SLOT_H
#define LOGTALLY_SOURCES_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fingerprint.h"
#include "hmap.h"
#include "logging.h"
#include "metrics.h"
#include "sources.h"

/* File events are logged at info level, rate limited per call site, so that
 * thousands of files found at once do not flood the log. */
#define SOURCES_LOG(...) do { \
		static struct logging_limit sources_limit_; \
		logging_limited(&sources_limit_, LOGGING_INFO, __VA_ARGS__); \
	} while (0)

/*
 * A slot's life. Only sources_slot_set() changes it, and it asserts that
 * the change is one of these:
 *
 *   WAITING, NO_FD -> IDENTIFYING -> ACTIVE | COPY | WAITING | NO_FD
 *   ACTIVE -> WAITING                  truncated or replaced: identified again
 *   ACTIVE -> COPY                     outgrown by a larger file of its content
 *   COPY   -> ACTIVE                   takes its entry over
 *   COPY   -> WAITING                  its first line changed
 *   ACTIVE -> DRAINING -> ACTIVE       no path leads here / found again
 *   WAITING, NO_FD, COPY -> GONE -> WAITING   the same, for a file not read
 *   any but IDENTIFYING -> STALE       deleted while closed, its inode reused
 *
 * GONE and STALE slots are dropped once no line of theirs is in flight,
 * DRAINING ones once read to their end (after a grace while open).
 */
enum slot_state {
	SLOT_WAITING,           /* to identify: found, or no complete first line */
	SLOT_NO_FD,             /* to identify once max_open_files leaves an fd */
	SLOT_IDENTIFYING,       /* in sources_identify(): never deferred to */
	SLOT_ACTIVE,            /* attached to its registry entry and read */
	SLOT_COPY,              /* holds copy_of's content: another file reads it,
				 * or all of it was read already */
	SLOT_DRAINING,          /* was ACTIVE; no path leads here: read to its end */
	SLOT_GONE,              /* was not ACTIVE; no path leads here */
	SLOT_STALE,             /* deleted while closed, its inode reused: never
				 * opened again */
	SLOT_STATES
};

struct slot {
	struct tail *tail;
	enum slot_state state;
	struct registry_entry *copy_of; /* SLOT_COPY only */
	bool initial;           /* found by the first scan (read_from applies) */
	bool in_scan;           /* found by the scan under way */
	bool ready;             /* may have work: lines to read, a copy to look at */
	char mapped[FINGERPRINT_ID_LEN + 1];    /* its key in by_entry, or "" (an id,
						 * not the entry: a tail lets go of its
						 * entry by itself on truncation) */
};

struct sources {
	const struct agent_config *cfg;
	struct tail_env *env;
	struct slot **slots;
	size_t n, cap;
	size_t open;
	size_t count[SLOT_STATES];      /* slots in each state */
	size_t next;            /* where the next read round starts */
	bool frozen;            /* batch mode */
	struct hmap *by_path;   /* current path -> slot */
	struct hmap *by_inode;  /* "dev:ino" -> its slot (never a stale one) */
	struct hmap *by_entry;  /* source id -> the slot attached to it */
	struct metrics_gauge *files_open, *files_known, *files_attached;
};

/* Whether the slot's file is read: its lines go to Kafka. */
static inline bool sources_slot_reads(const struct slot *slot)
{
	return slot->state == SLOT_ACTIVE || slot->state == SLOT_DRAINING;
}

/*
 * sources_slot.c: move slot to state `to` (copy_of: the entry it copies,
 * for SLOT_COPY only) and keep what depends on the state in step: the
 * counts, the path and inode maps, the copy's entry, the fd (a copy is
 * closed), the ready flag and the idle clock. Asserts the transition.
 */
void sources_slot_set(struct sources *s, struct slot *slot, enum slot_state to,
		      struct registry_entry *copy_of, int64_t now_ms);

/* A new slot for the file at path (WAITING), and the slot's end (it must
 * be GONE, STALE or DRAINING, with nothing in flight). */
struct slot *sources_slot_add(struct sources *s, const char *path, dev_t dev, ino_t ino,
			      size_t input, bool initial, int64_t now_ms);
void sources_slot_drop(struct sources *s, size_t i);

/* The slot of this inode, or NULL; never a stale one. */
struct slot *sources_slot_by_inode(struct sources *s, dev_t dev, ino_t ino);

/* Attach slot to entry (reading from offset), or detach it (entry NULL):
 * the tail's and the entry map's sides at once. */
void sources_slot_attach(struct sources *s, struct slot *slot, struct registry_entry *entry,
			 int64_t offset);

/* sources_slot.c: an fd within max_open_files (closing the idlest file with
 * nothing pending if need be): 0, -EMFILE, or tail_open()'s error. */
int sources_slot_open(struct sources *s, struct slot *slot, int64_t now_ms);
void sources_slot_close(struct sources *s, struct slot *slot);

/* The slot other than self that reads entry, or whose acks still move it. */
struct slot *sources_owner(struct sources *s, struct registry_entry *entry,
			   const struct slot *self);

/* entry lost its reader (truncated, replaced, dropped, outgrown): a copy
 * of it may have lines to read, which keeps the sources from being idle
 * until the copy's next tick has looked. */
void sources_wake_copies(struct sources *s, const struct registry_entry *entry);

#endif
