/*
 * sources_internal.h: what the files of the sources module share, and
 * nothing else includes. sources.c follows the files (scans, periodic
 * work, reading, acknowledgements); sources_identity.c decides which
 * source a file is (a new one, a known one, a copy of one) and when a copy
 * takes its source over; sources_slot.c holds the files open within
 * max_open_files and tells who reads an entry. Calls go down that list.
 */
#ifndef LOGTALLY_SOURCES_INTERNAL_H
#define LOGTALLY_SOURCES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

enum slot_state {
	SLOT_WAITING,           /* not identified yet, or no complete first line */
	SLOT_ACTIVE,            /* attached to a registry entry */
	SLOT_COPY,              /* a copy of copy_of's content: another slot reads
				 * it, or it was read past this file's end */
};

struct slot {
	struct tail *tail;
	enum slot_state state;
	struct registry_entry *copy_of;
	bool initial;           /* found by the first scan */
	bool in_scan;           /* found by the scan under way */
	bool ready;             /* may have lines to read */
	bool gone;              /* no path leads here any more */
	bool no_fd;             /* waiting for an fd under max_open_files */
	bool identifying;       /* in slot_identify(): not to be deferred to */
	bool stale;             /* deleted while closed, its inode reused: never
				 * to be opened again */
};

struct sources {
	const struct agent_config *cfg;
	struct tail_env *env;
	struct slot **slots;
	size_t n, cap;
	size_t open;
	size_t next;            /* where the next read round starts */
	bool frozen;            /* batch mode */
	struct hmap *by_path;   /* current path -> slot */
	struct metrics_gauge *files_open, *files_known, *files_attached;
};

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

/*
 * sources_identity.c: find which source the slot's file is, once it has a
 * fingerprint: attach it to its entry (new or known), or make it a copy.
 * A slot without a complete first line stays SLOT_WAITING, closed.
 */
void sources_identify(struct sources *s, struct slot *slot, int64_t now_ms);

/*
 * A copy's periodic look: take its entry over once nothing else reads it
 * and it holds bytes past the entry's offset; take it from the file that
 * reads it when the copy is the larger; look at it again when its first
 * line changed.
 */
void sources_copy_tick(struct sources *s, struct slot *slot, int64_t now_ms);

/*
 * Whether the file at path, whose inode is the slot's, is still the slot's
 * file. An open slot holds its inode, so it cannot have been reused; a
 * closed one may have been deleted and its inode given to a new file, which
 * then has another first line (or, for a file that had none, is found after
 * a scan that did not find the old one).
 */
bool sources_same_file(const struct slot *slot, const char *path);

#endif
