/*
 * sources: the files followed, by inode. Tails are found by path through a
 * hash map; a path that leads to another inode means a rotation, an inode
 * found under another path a rename (unless the inode was closed and now
 * holds other content: then it was reused). New files are identified at
 * the end of the scan that found them (sources_identity.c says how). Files
 * are opened within max_open_files, closed when inactive, read fairly, and
 * those that no path leads to any more (renamed out of the globs, deleted)
 * are read to their end, then dropped after a short grace so that a late
 * write through an open file is not lost.
 */
#include "sources.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"
#include "sources_identity.h"
#include "sources_slot.h"
#include "xalloc.h"

#define SOURCES_READ_SHARE (1u << 20)   /* bytes per file per round */
#define SOURCES_GONE_GRACE_MS 5000      /* idle time before a gone file is dropped */
#define SOURCES_SEEN_EVERY_S 60         /* how often an entry's "seen" is refreshed */

struct sources *sources_new(const struct agent_config *cfg, struct tail_env *env,
			    struct metrics *metrics)
{
	struct sources *s = xcalloc(1, sizeof(*s));

	s->cfg = cfg;
	s->env = env;
	s->by_path = hmap_new();
	s->by_inode = hmap_new();
	s->by_entry = hmap_new();
	if (metrics) {
		s->files_open = metrics_gauge(metrics, "logtally_agent_files_open",
					      "Files held open now.", NULL);
		s->files_known = metrics_gauge(metrics, "logtally_agent_files",
					       "Files followed now, open or not.", NULL);
		s->files_attached = metrics_gauge(metrics, "logtally_agent_files_attached",
						  "Files followed now whose source is known (not waiting for a first line, not copies).",
						  NULL);
	}
	return s;
}

void sources_free(struct sources *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		tail_free(s->slots[i]->tail);
		free(s->slots[i]);
	}
	free(s->slots);
	hmap_free(s->by_path);
	hmap_free(s->by_inode);
	hmap_free(s->by_entry);
	free(s);
}

static void sources_gauges(struct sources *s)
{
	if (s->files_attached)
		metrics_gauge_set(s->files_attached,
				  (double)(s->count[SLOT_ACTIVE] + s->count[SLOT_DRAINING]));
	if (s->files_open)
		metrics_gauge_set(s->files_open, (double)s->open);
	if (s->files_known)
		metrics_gauge_set(s->files_known, (double)s->n);
}

/* --- scans ---------------------------------------------------------- */

void sources_scan_begin(struct sources *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->slots[i]->in_scan = false;
}

/* The slot's file was deleted while closed and its inode now holds another
 * file: what was left unread of it is gone with it. */
static void sources_stale(struct sources *s, struct slot *slot, const char *path, int64_t now_ms)
{
	SOURCES_LOG("%s: deleted while closed; its inode now holds %s, a new file",
		     tail_path(slot->tail), path);
	sources_slot_set(s, slot, SLOT_STALE, NULL, now_ms);
}

/* The slot's file found under another path: renamed (back, maybe). */
static void sources_renamed(struct sources *s, struct slot *slot, const char *path,
			    int64_t now_ms)
{
	SOURCES_LOG("%s: renamed to %s", tail_path(slot->tail), path);
	if (hmap_get(s->by_path, tail_path(slot->tail)) == slot)
		hmap_remove(s->by_path, tail_path(slot->tail));
	tail_rename(slot->tail, path);
	hmap_put(s->by_path, path, slot);
	slot->in_scan = true;
	if (slot->state == SLOT_DRAINING)
		sources_slot_set(s, slot, SLOT_ACTIVE, NULL, now_ms);
	else if (slot->state == SLOT_GONE)
		sources_slot_set(s, slot, SLOT_WAITING, NULL, now_ms);
}

void sources_found(struct sources *s, const char *path, size_t input, bool initial,
		   int64_t now_ms)
{
	struct slot *slot = hmap_get(s->by_path, path);
	struct stat st;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	if (slot && tail_dev(slot->tail) == st.st_dev && tail_ino(slot->tail) == st.st_ino) {
		slot->in_scan = true;
		if (!tail_is_open(slot->tail) && st.st_size != tail_offset(slot->tail))
			slot->ready = true;     /* a closed file that grew: reopen */
		return;
	}
	if (slot)
		hmap_remove(s->by_path, path);  /* rotated: the old inode moved on */
	slot = sources_slot_by_inode(s, st.st_dev, st.st_ino);
	if (slot && !sources_same_file(slot, path)) {
		sources_stale(s, slot, path, now_ms);
		slot = NULL;
	}
	if (slot)
		sources_renamed(s, slot, path, now_ms);
	else
		sources_slot_add(s, path, st.st_dev, st.st_ino, input, initial, now_ms);
}

/* Slots no path led to in this scan are gone; new files are identified. */
void sources_scan_end(struct sources *s, int64_t now_ms)
{
	for (size_t i = 0; i < s->n; i++) {
		struct slot *slot = s->slots[i];

		if (slot->in_scan || slot->state >= SLOT_DRAINING)
			continue;
		if (slot->state == SLOT_ACTIVE) {
			SOURCES_LOG("%s: renamed away or deleted; reading it to its end",
				     tail_path(slot->tail));
			sources_slot_set(s, slot, SLOT_DRAINING, NULL, now_ms);
		} else {
			SOURCES_LOG("%s: renamed away or deleted", tail_path(slot->tail));
			sources_slot_set(s, slot, SLOT_GONE, NULL, now_ms);
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		struct slot *slot = s->slots[i];

		if (slot->in_scan && (slot->state == SLOT_WAITING || slot->state == SLOT_NO_FD))
			sources_identify(s, slot, now_ms);
	}
	sources_gauges(s);
}

void sources_modified(struct sources *s, const char *path)
{
	struct slot *slot = hmap_get(s->by_path, path);

	if (slot)
		slot->ready = true;
}

/* --- periodic work ------------------------------------------------------- */

/* Whether slot i is done with: then it is dropped. The grace is for late
 * writes through an open file: a closed one that is gone has nothing more
 * to give. */
static bool sources_done(struct sources *s, size_t i, int64_t now_ms)
{
	const struct slot *slot = s->slots[i];

	if (tail_in_flight(slot->tail))
		return false;
	switch (slot->state) {
	case SLOT_GONE:
	case SLOT_STALE:
		break;
	case SLOT_DRAINING:
		if (slot->ready || (tail_is_open(slot->tail) &&
				    tail_idle_ms(slot->tail, now_ms) < SOURCES_GONE_GRACE_MS))
			return false;
		break;
	default:
		return false;
	}
	SOURCES_LOG("%s: %s, closed", tail_path(slot->tail),
		     slot->state == SLOT_DRAINING ? "read to its end" : "gone");
	sources_slot_drop(s, i);
	return true;
}

/* fstat an open file: growth or shrinking means news, no link means deleted. */
static void sources_check(struct sources *s, struct slot *slot, int64_t now_ms)
{
	nlink_t links;
	int64_t size;

	if (tail_stat(slot->tail, &size, &links) < 0)
		return;
	if (size != tail_offset(slot->tail))
		slot->ready = true;
	if (links == 0 && slot->state == SLOT_ACTIVE) {
		SOURCES_LOG("%s: deleted; reading it to its end", tail_path(slot->tail));
		sources_slot_set(s, slot, SLOT_DRAINING, NULL, now_ms);
	}
}

/* An entry's "seen" says when its file last existed, for registry_clean(). */
static void sources_seen(struct sources *s, const struct slot *slot)
{
	struct registry_entry *entry = tail_entry(slot->tail);

	if (slot->state == SLOT_ACTIVE && entry &&
	    time(NULL) - entry->seen >= SOURCES_SEEN_EVERY_S) {
		entry->seen = time(NULL);
		registry_touch(s->env->registry);
	}
}

/* Returns true when the slot was dropped. */
static bool sources_tick_slot(struct sources *s, size_t i, int64_t now_ms)
{
	struct slot *slot = s->slots[i];
	int64_t idle_ms = tail_idle_ms(slot->tail, now_ms);

	if (sources_done(s, i, now_ms))
		return true;
	switch (slot->state) {
	case SLOT_WAITING:
	case SLOT_NO_FD:
		sources_identify(s, slot, now_ms);
		break;
	case SLOT_COPY:
		sources_copy_tick(s, slot, now_ms);
		break;
	case SLOT_ACTIVE:
	case SLOT_DRAINING:
		if (tail_is_open(slot->tail))
			sources_check(s, slot, now_ms);
		break;
	default:
		break;          /* GONE and STALE wait for their acks */
	}
	if (slot->state == SLOT_ACTIVE && tail_is_open(slot->tail) && !slot->ready &&
	    !tail_in_flight(slot->tail) && idle_ms >= s->cfg->close_inactive) {
		SOURCES_LOG("%s: inactive for %llds, closed until it grows",
			     tail_path(slot->tail), (long long)(idle_ms / 1000));
		sources_slot_close(s, slot);
	}
	sources_seen(s, slot);
	return false;
}

void sources_tick(struct sources *s, int64_t now_ms)
{
	for (size_t i = 0; i < s->n;)
		if (!sources_tick_slot(s, i, now_ms))
			i++;
	sources_gauges(s);
}

/* --- reading ------------------------------------------------------------ */

/* Reopen a closed file; a different fingerprint means a reused inode. */
static bool sources_reopen(struct sources *s, struct slot *slot, int64_t now_ms)
{
	struct registry_entry *entry = tail_entry(slot->tail);
	uint64_t fp;
	int rc = sources_slot_open(s, slot, now_ms);

	if (rc == -ENOENT || rc == -ESTALE) {
		if (slot->state == SLOT_ACTIVE)         /* the path leads elsewhere now */
			sources_slot_set(s, slot, SLOT_DRAINING, NULL, now_ms);
		slot->ready = false;                    /* nothing to read through it */
	}
	if (rc < 0)
		return false;
	if (tail_fingerprint(slot->tail, &fp) == 0 && fp == entry->fingerprint)
		return true;
	SOURCES_LOG("%s: content replaced while closed: a new source", tail_path(slot->tail));
	sources_wake_copies(s, entry);
	sources_slot_attach(s, slot, NULL, 0);
	sources_slot_set(s, slot, SLOT_WAITING, NULL, now_ms);
	sources_identify(s, slot, now_ms);
	return false;
}

/* Read one slot; returns false when the producer is full. */
static bool sources_read_slot(struct sources *s, struct slot *slot, int64_t now_ms,
			      int64_t wall_ms, bool *more)
{
	struct registry_entry *entry = tail_entry(slot->tail);
	int64_t before = tail_offset(slot->tail);
	enum tail_status status;

	if (!tail_is_open(slot->tail) && !sources_reopen(s, slot, now_ms))
		return true;
	status = tail_read(slot->tail, s->env, SOURCES_READ_SHARE, wall_ms);
	if (tail_offset(slot->tail) != before)
		tail_touch(slot->tail, now_ms);
	switch (status) {
	case TAIL_MORE:
		*more = true;
		return true;
	case TAIL_PAUSED:
		return false;
	case TAIL_TRUNCATED:            /* the tail has let go of entry */
		sources_wake_copies(s, entry);
		sources_slot_attach(s, slot, NULL, 0);
		sources_slot_set(s, slot, SLOT_WAITING, NULL, now_ms);
		sources_identify(s, slot, now_ms);
		*more = true;
		return true;
	case TAIL_ERROR:
		s->open--;      /* the tail closed its file */
		slot->ready = false;
		return true;
	default:                /* TAIL_EOF */
		slot->ready = false;
		return true;
	}
}

/* Files waiting for an fd are tried as soon as acks may have freed one,
 * not only on the next tick; one that finds no room ends the round. */
static void sources_retry_waiting(struct sources *s, int64_t now_ms)
{
	for (size_t i = 0; s->count[SLOT_NO_FD] && i < s->n; i++) {
		struct slot *slot = s->slots[i];

		if (slot->state != SLOT_NO_FD)
			continue;
		sources_identify(s, slot, now_ms);
		if (slot->state == SLOT_NO_FD)
			return;
	}
}

/* now_ms is CLOCK_MONOTONIC, as everywhere in sources; events are stamped
 * with the wall clock. */
bool sources_read(struct sources *s, int64_t now_ms)
{
	int64_t wall_ms = runtime_wall_ms();
	bool more = false, full = false;
	size_t n = s->n;

	sources_retry_waiting(s, now_ms);
	for (size_t k = 0; k < n && k < s->n; k++) {
		struct slot *slot = s->slots[(s->next + k) % s->n];

		if (!sources_slot_reads(slot) || !slot->ready)
			continue;
		if (!sources_read_slot(s, slot, now_ms, wall_ms, &more))
			full = true;
	}
	if (s->n)
		s->next = (s->next + 1) % s->n;
	sources_gauges(s);
	return more && !full;
}

void sources_ack(void *opaque, int err, const char *msg, void *arg)
{
	static struct logging_limit limit;
	struct sources *s = arg;
	struct tail *t = opaque;

	tail_ack(t, s->env->registry, err);
	if (!err)
		return;
	logging_limited(&limit, LOGGING_WARN, "%s: Kafka did not take a line (%s); sending it again",
			tail_path(t), msg);
	for (size_t i = 0; i < s->n; i++)
		if (s->slots[i]->tail == t && sources_slot_reads(s->slots[i]))
			s->slots[i]->ready = true;
}

void sources_freeze(struct sources *s)
{
	s->frozen = true;
	for (size_t i = 0; i < s->n; i++) {
		struct slot *slot = s->slots[i];
		nlink_t links;
		int64_t size;

		if (sources_slot_reads(slot) && tail_stat(slot->tail, &size, &links) == 0)
			tail_set_limit(slot->tail, size);
	}
}

/* A file still waiting for an fd has not been read at all; a copy woken by
 * its reader's going may have lines to read. */
bool sources_idle(const struct sources *s)
{
	if (s->count[SLOT_NO_FD])
		return false;
	for (size_t i = 0; i < s->n; i++) {
		const struct slot *slot = s->slots[i];

		if ((sources_slot_reads(slot) || slot->state == SLOT_COPY) && slot->ready)
			return false;
	}
	return true;
}
