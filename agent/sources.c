/*
 * sources: which inode is which source. Tails are keyed by inode and found
 * by path through a hash map; a path that leads to another inode means a
 * rotation, an inode found under another path a rename. A file is attached
 * to a registry entry by its fingerprint: the entry of (fingerprint,
 * generation) if one exists, unless another live tail reads it (then this
 * file is a copy, e.g. copytruncate's access.log.1, and is only watched in
 * case its original goes away), else a new entry. Files that no path leads
 * to any more (renamed out of the globs, deleted) are read to their end,
 * then dropped after a short grace so that a late write is not lost.
 */
#include "sources.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hmap.h"
#include "logging.h"
#include "xalloc.h"

#define SOURCES_READ_SHARE (1u << 20)   /* bytes per file per round */
#define SOURCES_GONE_GRACE_MS 5000      /* idle time before a gone file is dropped */
#define SOURCES_SEEN_EVERY_S 60         /* how often an entry's "seen" is refreshed */

/* File events are logged at info level, rate limited per call site, so that
 * thousands of files found at once do not flood the log. */
#define SOURCES_LOG(...) do { \
		static struct logging_limit sources_limit_; \
		logging_limited(&sources_limit_, LOGGING_INFO, __VA_ARGS__); \
	} while (0)

enum slot_state {
	SLOT_WAITING,           /* no fingerprint yet (no complete first line) */
	SLOT_ACTIVE,            /* attached to a registry entry */
	SLOT_COPY,              /* same content as a file another slot reads */
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

struct sources *sources_new(const struct agent_config *cfg, struct tail_env *env,
			    struct metrics *metrics)
{
	struct sources *s = xcalloc(1, sizeof(*s));

	s->cfg = cfg;
	s->env = env;
	s->by_path = hmap_new();
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
	free(s);
}

static void sources_gauges(struct sources *s)
{
	size_t attached = 0;

	for (size_t i = 0; i < s->n && s->files_attached; i++)
		attached += s->slots[i]->state == SLOT_ACTIVE;
	if (s->files_attached)
		metrics_gauge_set(s->files_attached, (double)attached);
	if (s->files_open)
		metrics_gauge_set(s->files_open, (double)s->open);
	if (s->files_known)
		metrics_gauge_set(s->files_known, (double)s->n);
}

/* --- opening within max_open_files ------------------------------------ */

static void slot_close(struct sources *s, struct slot *slot)
{
	if (!tail_is_open(slot->tail))
		return;
	tail_close(slot->tail);
	s->open--;
}

/* Close the idlest open file with nothing pending, to make room. */
static bool sources_make_room(struct sources *s, int64_t now_ms)
{
	struct slot *victim = NULL;

	for (size_t i = 0; i < s->n; i++) {
		struct slot *c = s->slots[i];

		if (!tail_is_open(c->tail) || c->ready || tail_in_flight(c->tail) ||
		    c->state != SLOT_ACTIVE)
			continue;
		if (!victim || tail_idle_ms(c->tail, now_ms) > tail_idle_ms(victim->tail, now_ms))
			victim = c;
	}
	if (victim)
		slot_close(s, victim);
	return victim != NULL;
}

static int slot_open(struct sources *s, struct slot *slot, int64_t now_ms)
{
	int rc;

	if (tail_is_open(slot->tail))
		return 0;
	if (s->open >= (size_t)s->cfg->max_open_files && !sources_make_room(s, now_ms))
		return -EMFILE;
	rc = tail_open(slot->tail);
	if (rc == 0)
		s->open++;
	return rc;
}

/* --- identity ---------------------------------------------------------- */

/* The slot other than self that reads entry, or whose acks still move it. */
static struct slot *sources_owner(struct sources *s, struct registry_entry *entry,
				  const struct slot *self)
{
	for (size_t i = 0; i < s->n; i++) {
		struct slot *c = s->slots[i];

		if (c != self && (tail_entry(c->tail) == entry ||
				  tail_references(c->tail, entry)))
			return c;
	}
	return NULL;
}

/* The offset just past the last "\n" before size: read_from: end. */
static int64_t sources_line_end(struct tail *t, int64_t size)
{
	char chunk[4096];
	int64_t end = size;

	while (end > 0) {
		int64_t start = end > (int64_t)sizeof(chunk) ? end - (int64_t)sizeof(chunk) : 0;
		int fd = open(tail_path(t), O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : pread(fd, chunk, (size_t)(end - start), start);

		if (fd >= 0)
			close(fd);
		if (n <= 0)
			return 0;
		for (ssize_t i = n - 1; i >= 0; i--)
			if (chunk[i] == '\n')
				return start + i + 1;
		end = start;
	}
	return 0;
}

static void slot_attach(struct sources *s, struct slot *slot,
			struct registry_entry *entry, int64_t offset, int64_t size)
{
	tail_attach(slot->tail, entry, offset, s->env->host);
	free(entry->path);
	entry->path = xstrdup(tail_path(slot->tail));
	entry->dev = tail_dev(slot->tail);
	entry->ino = tail_ino(slot->tail);
	entry->seen = time(NULL);
	registry_touch(s->env->registry);
	if (s->frozen)
		tail_set_limit(slot->tail, size);
	slot->state = SLOT_ACTIVE;
	slot->ready = true;
}

/* A file with a fingerprint and no entry of it: a new source. */
static void slot_new_source(struct sources *s, struct slot *slot, uint64_t fp,
			    uint32_t gen, int64_t size)
{
	const struct agent_input *input =
		CONFIG_ITEM(s->cfg->inputs, struct agent_input, tail_input(slot->tail));
	int64_t offset = 0;
	struct registry_entry *entry;

	if (slot->initial && input->read_from == AGENT_READ_END)
		offset = sources_line_end(slot->tail, size);
	entry = registry_add(s->env->registry, s->env->host, fp, gen, offset,
			     tail_path(slot->tail));
	SOURCES_LOG("%s: new file (source %s), reading from offset %lld",
		     tail_path(slot->tail), entry->id, (long long)offset);
	slot_attach(s, slot, entry, offset, size);
}

/* Find which source the slot's file is, once it has a fingerprint. */
static void slot_identify(struct sources *s, struct slot *slot, int64_t now_ms)
{
	struct registry *reg = s->env->registry;
	struct registry_entry *entry;
	struct slot *owner;
	nlink_t links;
	int64_t size;
	uint64_t fp;
	uint32_t gen;
	int rc = slot_open(s, slot, now_ms);

	slot->no_fd = rc == -EMFILE;
	if (rc < 0)
		return;         /* no fd to spare, or gone */
	if (tail_fingerprint(slot->tail, &fp) < 0 || tail_stat(slot->tail, &size, &links) < 0) {
		slot_close(s, slot);    /* no complete line yet: no fd until the next try */
		return;
	}
	gen = tail_generation(slot->tail, fp);
	/* An entry past this file's end was a truncated earlier generation,
	 * unless another file still reads it: then this is a copy still being
	 * written (copytruncate's cp of a big file). */
	while ((entry = registry_find_fingerprint(reg, fp, gen)) && size < entry->offset &&
	       !sources_owner(s, entry, slot))
		gen++;
	if (!entry) {
		slot_new_source(s, slot, fp, gen, size);
		return;
	}
	owner = sources_owner(s, entry, slot);
	if (owner) {
		if (slot->state != SLOT_COPY)
			SOURCES_LOG("%s: same content as %s (a copy): not read again",
				     tail_path(slot->tail), tail_path(owner->tail));
		slot->state = SLOT_COPY;
		slot->copy_of = entry;
		slot_close(s, slot);    /* slot_take_over() reopens it if need be */
		return;
	}
	SOURCES_LOG("%s: known file (source %s), resuming at offset %lld",
		     tail_path(slot->tail), entry->id, (long long)entry->offset);
	slot_attach(s, slot, entry, entry->offset, size);
}

/* --- scans ---------------------------------------------------------- */

void sources_scan_begin(struct sources *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->slots[i]->in_scan = false;
}

static struct slot *sources_by_inode(struct sources *s, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < s->n; i++)
		if (tail_dev(s->slots[i]->tail) == dev && tail_ino(s->slots[i]->tail) == ino)
			return s->slots[i];
	return NULL;
}

static void sources_add(struct sources *s, const char *path, const struct stat *st,
			size_t input, bool initial, int64_t now_ms)
{
	const struct agent_input *in = CONFIG_ITEM(s->cfg->inputs, struct agent_input, input);
	struct slot *slot = xcalloc(1, sizeof(*slot));

	slot->tail = tail_new(path, st->st_dev, st->st_ino, input, &in->fields);
	slot->initial = initial;
	slot->in_scan = true;
	tail_touch(slot->tail, now_ms);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->slots = xreallocarray(s->slots, s->cap, sizeof(*s->slots));
	}
	s->slots[s->n++] = slot;
	hmap_put(s->by_path, path, slot);
	slot_identify(s, slot, now_ms);
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
	slot = sources_by_inode(s, st.st_dev, st.st_ino);
	if (!slot) {
		sources_add(s, path, &st, input, initial, now_ms);
		return;
	}
	SOURCES_LOG("%s: renamed to %s", tail_path(slot->tail), path);
	if (hmap_get(s->by_path, tail_path(slot->tail)) == slot)
		hmap_remove(s->by_path, tail_path(slot->tail));
	tail_rename(slot->tail, path);
	hmap_put(s->by_path, path, slot);
	slot->in_scan = true;
	slot->gone = false;
}

void sources_scan_end(struct sources *s, int64_t now_ms)
{
	for (size_t i = 0; i < s->n; i++) {
		struct slot *slot = s->slots[i];

		if (slot->in_scan || slot->gone)
			continue;
		slot->gone = true;
		slot->ready = true;     /* read what is left */
		tail_touch(slot->tail, now_ms);
		if (hmap_get(s->by_path, tail_path(slot->tail)) == slot)
			hmap_remove(s->by_path, tail_path(slot->tail));
		SOURCES_LOG("%s: renamed away or deleted; reading it to its end",
			     tail_path(slot->tail));
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

static void slot_drop(struct sources *s, size_t i)
{
	struct slot *slot = s->slots[i];

	SOURCES_LOG("%s: %s, closed", tail_path(slot->tail),
		     slot->state == SLOT_ACTIVE ? "read to its end" : "gone");
	if (hmap_get(s->by_path, tail_path(slot->tail)) == slot)
		hmap_remove(s->by_path, tail_path(slot->tail));
	slot_close(s, slot);
	tail_free(slot->tail);
	free(slot);
	s->slots[i] = s->slots[--s->n];
}

/* fstat an open file: growth or shrinking means news, no link means deleted. */
static void slot_check(struct sources *s, struct slot *slot, int64_t now_ms)
{
	nlink_t links;
	int64_t size;

	if (tail_stat(slot->tail, &size, &links) < 0)
		return;
	if (size != tail_offset(slot->tail))
		slot->ready = true;
	if (links == 0 && !slot->gone) {
		slot->gone = true;
		tail_touch(slot->tail, now_ms);
		SOURCES_LOG("%s: deleted; reading it to its end", tail_path(slot->tail));
	}
}

/* A copy whose original is gone and drained takes over its entry. */
static void slot_take_over(struct sources *s, struct slot *slot, int64_t now_ms)
{
	nlink_t links;
	int64_t size;

	if (sources_owner(s, slot->copy_of, slot) || slot_open(s, slot, now_ms) < 0 ||
	    tail_stat(slot->tail, &size, &links) < 0)
		return;
	SOURCES_LOG("%s: the original of this copy is gone; reading on from offset %lld",
		     tail_path(slot->tail), (long long)slot->copy_of->offset);
	slot_attach(s, slot, slot->copy_of, slot->copy_of->offset, size);
	slot->copy_of = NULL;
}

/* Returns true when the slot was dropped. */
static bool slot_tick(struct sources *s, size_t i, int64_t now_ms)
{
	struct slot *slot = s->slots[i];
	bool idle = !slot->ready && tail_in_flight(slot->tail) == 0;
	struct registry_entry *entry = tail_entry(slot->tail);
	int64_t idle_ms = tail_idle_ms(slot->tail, now_ms);

	if (slot->gone && idle && (slot->state != SLOT_ACTIVE || idle_ms >= SOURCES_GONE_GRACE_MS)) {
		slot_drop(s, i);
		return true;
	}
	if (slot->state == SLOT_WAITING)
		slot_identify(s, slot, now_ms);
	else if (slot->state == SLOT_COPY)
		slot_take_over(s, slot, now_ms);
	else if (tail_is_open(slot->tail))
		slot_check(s, slot, now_ms);
	if (slot->state == SLOT_ACTIVE && tail_is_open(slot->tail) && idle && !slot->gone &&
	    idle_ms >= s->cfg->close_inactive) {
		SOURCES_LOG("%s: inactive for %llds, closed until it grows",
			     tail_path(slot->tail), (long long)(idle_ms / 1000));
		slot_close(s, slot);
	}
	if (entry && !slot->gone && time(NULL) - entry->seen >= SOURCES_SEEN_EVERY_S) {
		entry->seen = time(NULL);
		registry_touch(s->env->registry);
	}
	return false;
}

void sources_tick(struct sources *s, int64_t now_ms)
{
	for (size_t i = 0; i < s->n;)
		if (!slot_tick(s, i, now_ms))
			i++;
	sources_gauges(s);
}

/* --- reading ------------------------------------------------------------ */

/* Reopen a closed file; a different fingerprint means a reused inode. */
static bool slot_reopen(struct sources *s, struct slot *slot, int64_t now_ms)
{
	struct registry_entry *entry = tail_entry(slot->tail);
	uint64_t fp;
	int rc = slot_open(s, slot, now_ms);

	if (rc == -ENOENT || rc == -ESTALE) {
		slot->gone = true;      /* the path leads elsewhere now */
		slot->ready = false;
	}
	if (rc < 0)
		return false;
	if (tail_fingerprint(slot->tail, &fp) == 0 && fp == entry->fingerprint)
		return true;
	SOURCES_LOG("%s: content replaced while closed: a new source", tail_path(slot->tail));
	tail_detach(slot->tail);
	slot->state = SLOT_WAITING;
	slot_identify(s, slot, now_ms);
	return false;
}

/* Read one slot; returns false when the producer is full. */
static bool slot_read(struct sources *s, struct slot *slot, int64_t now_ms,
		      int64_t wall_ms, bool *more)
{
	if (!tail_is_open(slot->tail) && !slot_reopen(s, slot, now_ms))
		return true;
	switch (tail_read(slot->tail, s->env, SOURCES_READ_SHARE, wall_ms)) {
	case TAIL_EOF:
		slot->ready = false;
		return true;
	case TAIL_MORE:
		*more = true;
		return true;
	case TAIL_PAUSED:
		return false;
	case TAIL_TRUNCATED:
		slot->state = SLOT_WAITING;
		slot_identify(s, slot, now_ms);
		*more = true;
		return true;
	case TAIL_ERROR:
		s->open--;      /* the tail closed its file */
		slot->ready = false;
		return true;
	default:
		slot->ready = false;
		return true;
	}
}

/* Files waiting for an fd are tried as soon as acks may have freed one,
 * not only on the next tick; one that finds no room ends the round. */
static void sources_retry_waiting(struct sources *s, int64_t now_ms)
{
	for (size_t i = 0; i < s->n; i++) {
		struct slot *slot = s->slots[i];

		if (slot->state != SLOT_WAITING || !slot->no_fd)
			continue;
		slot_identify(s, slot, now_ms);
		if (slot->no_fd)
			return;
	}
}

/* now_ms is CLOCK_MONOTONIC, as everywhere in sources; events are stamped
 * with the wall clock. */
bool sources_read(struct sources *s, int64_t now_ms)
{
	bool more = false, full = false;
	size_t n = s->n;
	struct timespec ts;
	int64_t wall_ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	wall_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	sources_retry_waiting(s, now_ms);

	for (size_t k = 0; k < n && k < s->n; k++) {
		struct slot *slot = s->slots[(s->next + k) % s->n];

		if (slot->state != SLOT_ACTIVE || !slot->ready)
			continue;
		if (!slot_read(s, slot, now_ms, wall_ms, &more))
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
		if (s->slots[i]->tail == t)
			s->slots[i]->ready = true;
}

void sources_freeze(struct sources *s)
{
	s->frozen = true;
	for (size_t i = 0; i < s->n; i++) {
		struct slot *slot = s->slots[i];
		nlink_t links;
		int64_t size;

		if (slot->state == SLOT_ACTIVE && tail_stat(slot->tail, &size, &links) == 0)
			tail_set_limit(slot->tail, size);
	}
}

/* A file still waiting for an fd has not been read at all. */
bool sources_idle(const struct sources *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct slot *slot = s->slots[i];

		if ((slot->state == SLOT_ACTIVE && slot->ready) ||
		    (slot->state == SLOT_WAITING && slot->no_fd))
			return false;
	}
	return true;
}
