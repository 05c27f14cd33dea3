/*
 * registry: the agent's on-disk memory of where each source stands. For
 * every source (one generation of one file, see fingerprint.h) it keeps
 * the offset of the first byte Kafka has not acknowledged yet, so that a
 * restart resumes exactly there. The file, <data_dir>/registry.json, is
 * versioned JSON written atomically: a temporary file, fsync, rename, fsync
 * of the folder. A registry that cannot be read, does not parse, or has an
 * unknown version is refused with a clear message: the agent never restarts
 * silently at offset 0. A lock file keeps a second agent off the folder.
 */
#ifndef LOGTALLY_REGISTRY_H
#define LOGTALLY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fingerprint.h"

#define REGISTRY_VERSION 1

/* Plain data; owned by the registry. Fields may be changed in place by the
 * caller; call registry_touch() after changing offset so it is saved. path
 * is malloc'd and freed by the registry: to change it, free() it and store
 * another malloc'd string. */
struct registry_entry {
	char id[FINGERPRINT_ID_LEN + 1];   /* source id, the Kafka key */
	uint64_t fingerprint;
	uint32_t generation;               /* truncations seen */
	int64_t offset;                    /* first byte not acknowledged */
	char *path;                        /* last path seen (informational) */
	dev_t dev;                         /* last device and inode seen: */
	ino_t ino;                         /*   a tie breaker only */
	int64_t seen;                      /* epoch seconds the file last existed */
};

struct registry;

/*
 * Open the registry in data_dir (created if missing, mode 0750; not its
 * parents), taking its lock (<data_dir>/lock, flock, held until
 * registry_free); with reset, any existing registry.json is set aside as
 * registry.json.reset-<epoch> (kept for forensics; the fact logged) and the
 * registry starts empty. Returns NULL with the reason in err when the
 * folder cannot be used, another registry (in any process) holds the lock,
 * or the file is corrupt or of an unknown version (the message says to use
 * --reset-registry).
 * Free with registry_free(). Blocks on file I/O.
 */
struct registry *registry_open(const char *data_dir, bool reset, char *err,
			       size_t errlen);

/* Release the lock and the memory; does not save. reg may be NULL. */
void registry_free(struct registry *reg);

/*
 * Entries are allocated one by one: a pointer stays valid, whatever is
 * added, until registry_clean() removes that entry or registry_free().
 */

/* The entry of source id, or NULL. */
struct registry_entry *registry_find(struct registry *reg, const char *id);

/* An entry with this fingerprint and generation, or NULL. */
struct registry_entry *registry_find_fingerprint(struct registry *reg,
						 uint64_t fingerprint,
						 uint32_t generation);

/*
 * Add the source (host, fingerprint, generation) at offset, or return the
 * existing entry of that id unchanged. path is copied (NULL: ""); a new
 * entry has seen = time(NULL), dev = ino = 0, and marks the registry
 * dirty. Never NULL.
 */
struct registry_entry *registry_add(struct registry *reg, const char *host,
				    uint64_t fingerprint, uint32_t generation,
				    int64_t offset, const char *path);

/* Mark the registry changed, so that the next registry_save() writes. */
void registry_touch(struct registry *reg);

/* Whether something changed since the last successful save. */
bool registry_dirty(const struct registry *reg);

/*
 * Write the registry atomically if it changed. Returns 0 or -errno (the
 * file on disk is then the previous one, intact, except when only the
 * final fsync of the folder failed: the new file is then in place but
 * perhaps not durable). On error the registry stays dirty, so the next
 * call tries again. Blocks on fsync.
 */
int registry_save(struct registry *reg);

/* Whether something still points to entry (arg: the caller's). */
typedef bool (*registry_held_fn)(const struct registry_entry *entry, void *arg);

/*
 * Remove entries with seen < now - max_age (epoch seconds; a negative
 * max_age removes nothing) unless held(entry, arg) says that something
 * still points to them (held may be NULL: nothing is); marks the registry
 * dirty if any went; returns how many. Pointers to the removed entries
 * become invalid: the agent's sources hold every entry a file, a copy or
 * a line in flight refers to, so those are never removed.
 */
size_t registry_clean(struct registry *reg, int64_t now, int64_t max_age,
		      registry_held_fn held, void *arg);

/* Number of entries, and entry i (0 <= i < count) for iteration. */
size_t registry_count(const struct registry *reg);
struct registry_entry *registry_at(struct registry *reg, size_t i);

/* Number of successful writes since registry_open(), for metrics. */
uint64_t registry_writes(const struct registry *reg);

#endif
