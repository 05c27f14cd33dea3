/*
 * sources: which inode is which source. Tails are keyed by inode and found
 * by path through a hash map; a path that leads to another inode means a
 * rotation, an inode found under another path a rename (unless the inode
 * was closed, and now holds other content: then it was reused). New files
 * are identified at the end of the scan that found them, so that the file
 * an entry last read is attached before any copy of it. A file is attached
 * to a registry entry by its fingerprint: the entry of (fingerprint,
 * generation) if one exists, unless another live tail reads it (then this
 * file is a copy, e.g. copytruncate's access.log.1, and is only watched in
 * case its original goes away). A copy takes its entry over once nothing
 * else reads it, and only when it holds bytes past the entry's offset: a
 * copy at or below that offset was read whole from its original, so none
 * of it is read again. Files that no path leads to any more (renamed out of
 * the globs, deleted) are read to their end, then dropped after a short
 * grace so that a late write is not lost.
 */
#include "sources.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fingerprint.h"
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

static void slot_identify(struct sources *s, struct slot *slot, int64_t now_ms);

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

/* entry lost its reader (truncated, replaced, dropped, outgrown): a copy
 * of it may have lines to read, which keeps the sources from being idle
 * until the copy's next tick has looked. */
static void sources_wake_copies(struct sources *s, const struct registry_entry *entry)
{
	for (size_t i = 0; entry && i < s->n; i++) {
		struct slot *c = s->slots[i];

		if (c->state == SLOT_COPY && c->copy_of == entry && !c->stale && !c->gone)
			c->ready = true;
	}
}

bool sources_holds(const struct registry_entry *entry, void *arg)
{
	struct sources *s = arg;

	for (size_t i = 0; i < s->n; i++) {
		const struct slot *c = s->slots[i];

		if (c->copy_of == entry || tail_entry(c->tail) == entry ||
		    tail_references(c->tail, entry))
			return true;
	}
	return false;
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
	slot->copy_of = NULL;
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
		offset = tail_line_end(slot->tail, size);
	entry = registry_add(s->env->registry, s->env->host, fp, gen, offset,
			     tail_path(slot->tail));
	SOURCES_LOG("%s: new file (source %s), reading from offset %lld",
		     tail_path(slot->tail), entry->id, (long long)offset);
	slot_attach(s, slot, entry, offset, size);
}

/* The file holds entry's content but is not to be read: owner reads it, or
 * (owner NULL) every byte of it was read already. */
static void slot_copy(struct sources *s, struct slot *slot, struct registry_entry *entry,
		      const struct slot *owner, int64_t size)
{
	if (slot->state != SLOT_COPY || slot->copy_of != entry) {
		if (owner)
			SOURCES_LOG("%s: same content as %s (a copy): not read again",
				     tail_path(slot->tail), tail_path(owner->tail));
		else
			SOURCES_LOG("%s: a copy of source %s, which was read past this file's end (size %lld, offset %lld): not read again",
				     tail_path(slot->tail), entry->id, (long long)size,
				     (long long)entry->offset);
	}
	slot->state = SLOT_COPY;
	slot->copy_of = entry;
	slot_close(s, slot);    /* slot_copy_tick() reopens it if need be */
}

/* Another slot, not yet identified, whose inode is the one entry last read:
 * that file is the entry's own and is identified first. */
static struct slot *sources_waiting_original(struct sources *s,
					     const struct registry_entry *entry,
					     const struct slot *self)
{
	for (size_t i = 0; i < s->n; i++) {
		struct slot *c = s->slots[i];

		if (c != self && c->state == SLOT_WAITING && !c->identifying &&
		    tail_dev(c->tail) == entry->dev && tail_ino(c->tail) == entry->ino)
			return c;
	}
	return NULL;
}

/*
 * Attach the file to the entry of its fingerprint and generation, or make
 * it a copy of that entry, or a new source. An entry with no reader and an
 * offset past this file's end is an earlier generation of this very file
 * (same inode: it was truncated while nobody looked, so the next generation
 * is tried), or else the original of this copy, read past the copy's end.
 */
static void slot_place(struct sources *s, struct slot *slot, uint64_t fp,
		       int64_t size, int64_t now_ms)
{
	struct registry *reg = s->env->registry;
	uint32_t gen = tail_generation(slot->tail, fp);
	bool deferred = false;
	struct registry_entry *entry;
	struct slot *owner, *original;

	while ((entry = registry_find_fingerprint(reg, fp, gen))) {
		owner = sources_owner(s, entry, slot);
		original = owner || deferred ? NULL : sources_waiting_original(s, entry, slot);
		if (original) {
			deferred = true;
			slot_identify(s, original, now_ms);
			continue;
		}
		if (owner) {
			slot_copy(s, slot, entry, owner, size);
			return;
		}
		if (size >= entry->offset) {
			SOURCES_LOG("%s: known file (source %s), resuming at offset %lld",
				     tail_path(slot->tail), entry->id, (long long)entry->offset);
			slot_attach(s, slot, entry, entry->offset, size);
			return;
		}
		if (tail_dev(slot->tail) != entry->dev || tail_ino(slot->tail) != entry->ino) {
			slot_copy(s, slot, entry, NULL, size);
			return;
		}
		gen++;
	}
	slot_new_source(s, slot, fp, gen, size);
}

/* Find which source the slot's file is, once it has a fingerprint. */
static void slot_identify(struct sources *s, struct slot *slot, int64_t now_ms)
{
	nlink_t links;
	int64_t size;
	uint64_t fp;
	int rc = slot_open(s, slot, now_ms);

	slot->no_fd = rc == -EMFILE;
	if (rc < 0)
		return;         /* no fd to spare, or gone */
	if (tail_fingerprint(slot->tail, &fp) < 0 || tail_stat(slot->tail, &size, &links) < 0) {
		slot_close(s, slot);    /* no complete line yet: no fd until the next try */
		return;
	}
	slot->identifying = true;
	slot_place(s, slot, fp, size, now_ms);
	slot->identifying = false;
}

/* --- scans ---------------------------------------------------------- */

void sources_scan_begin(struct sources *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->slots[i]->in_scan = false;
}

/* The slot reading this inode; never a stale one (its inode is reused). */
static struct slot *sources_by_inode(struct sources *s, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < s->n; i++) {
		struct slot *c = s->slots[i];

		if (!c->stale && tail_dev(c->tail) == dev && tail_ino(c->tail) == ino)
			return c;
	}
	return NULL;
}

/* A new slot, identified at the end of the scan. */
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
}

/*
 * Whether the file at path, whose inode is the slot's, is still the slot's
 * file. An open slot holds its inode, so it cannot have been reused; a
 * closed one may have been deleted and its inode given to a new file, which
 * then has another first line (or, for a file that had none, is found after
 * a scan that did not find the old one).
 */
static bool slot_same_file(const struct slot *slot, const char *path)
{
	const struct registry_entry *entry = slot->copy_of ? slot->copy_of : tail_entry(slot->tail);
	uint64_t fp;
	int fd, rc;

	if (tail_is_open(slot->tail))
		return true;
	if (!entry)     /* nothing to compare: a file gone at the last scan is */
		return !slot->gone;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return true;    /* gone again: the scan after next tells */
	rc = fingerprint_read(fd, &fp);
	close(fd);
	if (rc < 0 && rc != -EAGAIN)
		return true;    /* cannot tell */
	return rc == 0 && fp == entry->fingerprint;
}

/* The slot's file was deleted while closed and its inode now holds another
 * file: what was left unread of it is gone with it. */
static void slot_stale(struct sources *s, struct slot *slot, const char *path, int64_t now_ms)
{
	SOURCES_LOG("%s: deleted while closed; its inode now holds %s, a new file",
		     tail_path(slot->tail), path);
	sources_wake_copies(s, tail_entry(slot->tail));
	slot->stale = slot->gone = true;
	slot->ready = false;
	tail_touch(slot->tail, now_ms);
	if (hmap_get(s->by_path, tail_path(slot->tail)) == slot)
		hmap_remove(s->by_path, tail_path(slot->tail));
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
	if (slot && !slot_same_file(slot, path)) {
		slot_stale(s, slot, path, now_ms);
		slot = NULL;
	}
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
	for (size_t i = 0; i < s->n; i++) {
		struct slot *slot = s->slots[i];

		if (slot->in_scan && slot->state == SLOT_WAITING && !slot->stale)
			slot_identify(s, slot, now_ms);
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
	sources_wake_copies(s, tail_entry(slot->tail));
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

/*
 * A copy holds size bytes, more than owner, the file that reads its entry,
 * has read. Either owner was truncated (its next read finds out), or owner
 * is itself the copy: the original grew on under the other name (owner was
 * identified first, e.g. a copy made while the original was closed and
 * rewritten), so that it is larger than owner and holds all of it. Then
 * the larger file reads on from the entry's offset, once owner's lines in
 * flight are acknowledged (what owner had not read yet is in it too).
 */
static void slot_outgrown(struct sources *s, struct slot *owner, struct slot *copy,
			  int64_t size, int64_t now_ms)
{
	struct registry_entry *entry = tail_entry(owner->tail);
	nlink_t links;
	int64_t osize;

	if (size <= tail_offset(owner->tail))
		return;
	if (slot_open(s, owner, now_ms) < 0 || tail_stat(owner->tail, &osize, &links) < 0 ||
	    osize < tail_offset(owner->tail)) {
		owner->ready = true;    /* shrank, or cannot tell: a read tells */
		return;
	}
	if (size <= osize)
		return;         /* as a copy is: no larger than its original */
	SOURCES_LOG("%s: holds %lld bytes, more than %s (%lld), which reads source %s: the larger one reads on",
		     tail_path(copy->tail), (long long)size, tail_path(owner->tail),
		     (long long)osize, entry->id);
	tail_detach(owner->tail);
	owner->state = SLOT_COPY;
	owner->copy_of = entry;
	owner->ready = false;
	slot_close(s, owner);
	copy->ready = true;
}

/* Whether another copy of entry is larger than size bytes: the largest one
 * takes the entry over (it holds what the others hold, and more). */
static bool sources_larger_copy(struct sources *s, const struct registry_entry *entry,
				const struct slot *self, int64_t size)
{
	struct stat st;

	for (size_t i = 0; i < s->n; i++) {
		const struct slot *c = s->slots[i];

		if (c != self && c->state == SLOT_COPY && c->copy_of == entry && !c->gone &&
		    stat(tail_path(c->tail), &st) == 0 && st.st_ino == tail_ino(c->tail) &&
		    st.st_dev == tail_dev(c->tail) && st.st_size > size)
			return true;
	}
	return false;
}

/*
 * A copy takes its entry over once no other file reads it, and only when it
 * holds bytes past the entry's offset: those were never read from the
 * original. A copy whose first line changed is a file of its own now.
 */
static void slot_copy_tick(struct sources *s, struct slot *slot, int64_t now_ms)
{
	struct registry_entry *entry = slot->copy_of;
	struct slot *owner = sources_owner(s, entry, slot);
	int64_t size = -1;
	nlink_t links;
	uint64_t fp;

	slot->ready = owner && tail_entry(owner->tail) != entry;
	if (slot->ready || slot_open(s, slot, now_ms) < 0)
		return;         /* lines of a former reader in flight: wait for acks */
	if (tail_fingerprint(slot->tail, &fp) < 0 || fp != entry->fingerprint) {
		SOURCES_LOG("%s: no longer a copy of source %s: looking at it again",
			     tail_path(slot->tail), entry->id);
		slot->state = SLOT_WAITING;
		slot->copy_of = NULL;
		slot_identify(s, slot, now_ms);
		return;
	}
	if (tail_stat(slot->tail, &size, &links) < 0 || owner || size <= entry->offset ||
	    sources_larger_copy(s, entry, slot, size)) {
		if (owner && size >= 0)
			slot_outgrown(s, owner, slot, size, now_ms);
		slot_close(s, slot);    /* read from the original, or to be */
		return;
	}
	SOURCES_LOG("%s: the original of this copy is gone; reading on from offset %lld",
		     tail_path(slot->tail), (long long)entry->offset);
	slot_attach(s, slot, entry, entry->offset, size);
}

/* Returns true when the slot was dropped. */
static bool slot_tick(struct sources *s, size_t i, int64_t now_ms)
{
	struct slot *slot = s->slots[i];
	bool idle = !slot->ready && tail_in_flight(slot->tail) == 0;
	struct registry_entry *entry = tail_entry(slot->tail);
	int64_t idle_ms = tail_idle_ms(slot->tail, now_ms);

	/* The grace is for late writes through an open file: a closed one that
	 * is gone has nothing more to give. */
	if (slot->gone && idle && (slot->state != SLOT_ACTIVE || slot->stale ||
				   !tail_is_open(slot->tail) || idle_ms >= SOURCES_GONE_GRACE_MS)) {
		slot_drop(s, i);
		return true;
	}
	if (slot->stale)
		return false;   /* waits for its acks, never opened again */
	if (slot->state == SLOT_WAITING)
		slot_identify(s, slot, now_ms);
	else if (slot->state == SLOT_COPY)
		slot_copy_tick(s, slot, now_ms);
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
	sources_wake_copies(s, entry);
	tail_detach(slot->tail);
	slot->state = SLOT_WAITING;
	slot_identify(s, slot, now_ms);
	return false;
}

/* Read one slot; returns false when the producer is full. */
static bool slot_read(struct sources *s, struct slot *slot, int64_t now_ms,
		      int64_t wall_ms, bool *more)
{
	struct registry_entry *entry = tail_entry(slot->tail);
	int64_t before = tail_offset(slot->tail);
	enum tail_status status;

	if (!tail_is_open(slot->tail) && !slot_reopen(s, slot, now_ms))
		return true;
	status = tail_read(slot->tail, s->env, SOURCES_READ_SHARE, wall_ms);
	if (tail_offset(slot->tail) != before)
		tail_touch(slot->tail, now_ms);
	switch (status) {
	case TAIL_EOF:
		slot->ready = false;
		return true;
	case TAIL_MORE:
		*more = true;
		return true;
	case TAIL_PAUSED:
		return false;
	case TAIL_TRUNCATED:
		sources_wake_copies(s, entry);
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

		if (slot->state != SLOT_WAITING || !slot->no_fd || slot->stale)
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

		if (slot->state != SLOT_ACTIVE || !slot->ready || slot->stale)
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

/* A file still waiting for an fd has not been read at all; a copy woken by
 * its reader's going may have lines to read. */
bool sources_idle(const struct sources *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct slot *slot = s->slots[i];

		if ((slot->state != SLOT_WAITING && slot->ready) ||
		    (slot->state == SLOT_WAITING && slot->no_fd))
			return false;
	}
	return true;
}
