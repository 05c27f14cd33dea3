/*
 * sources: the set of files the agent follows and which source each one
 * is. Scans report paths; sources tracks each inode as a tail, follows it
 * through renames, tells a copy (copytruncate) from a new file by its
 * fingerprint, attaches each tail to its registry entry, reads the tails
 * that have news, closes idle ones past close_inactive or max_open_files,
 * and drops files that are gone once they are drained.
 */
#ifndef LOGTALLY_SOURCES_H
#define LOGTALLY_SOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_config.h"
#include "registry.h"
#include "tail.h"

struct sources;

/*
 * Follow the files of cfg's inputs, reading through env (borrowed; the
 * agent owns it). Metrics go to metrics (may be NULL). Free with
 * sources_free() after the producer has been freed (no acks may follow).
 */
struct sources *sources_new(const struct agent_config *cfg, struct tail_env *env,
			    struct metrics *metrics);
void sources_free(struct sources *s);

/* A scan: begin, then found() per matching path, then end(). initial:
 * the first scan at start, where read_from: end applies to new files. */
void sources_scan_begin(struct sources *s);
void sources_found(struct sources *s, const char *path, size_t input, bool initial,
		   int64_t now_ms);
void sources_scan_end(struct sources *s, int64_t now_ms);

/* The file at path was written to: read it soon. */
void sources_modified(struct sources *s, const char *path);

/*
 * Periodic work: fstat open files (growth, truncation, deletion), retry
 * files without a fingerprint, re-check copies, close idle files, drop
 * drained ones, and mark entries of existing files as seen.
 */
void sources_tick(struct sources *s, int64_t now_ms);

/*
 * Read the files that have news, each up to a fair share. Returns true
 * when more is waiting (call again without sleeping), false when all are
 * at their end or the producer is full (wait for acks).
 */
bool sources_read(struct sources *s, int64_t now_ms);

/*
 * registry_held_fn for registry_clean() (arg: the sources): whether a file
 * followed, a copy or a line in flight refers to entry. Such an entry is
 * in use whatever its "seen" says and must not be removed.
 */
bool sources_holds(const struct registry_entry *entry, void *arg);

/* The producer's ack callback (arg: the sources). */
void sources_ack(void *opaque, int err, const char *msg, void *arg);

/* Batch mode: read each file only up to the size it has now. */
void sources_freeze(struct sources *s);

/* Whether every file has been read to its end (its frozen end in batch
 * mode), apart from partial last lines, and no copy is about to take over
 * the source of a file that was truncated or went away. */
bool sources_idle(const struct sources *s);

#endif
