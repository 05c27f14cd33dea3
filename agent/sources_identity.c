/*
 * sources_identity: which source a file is. A file is attached to a
 * registry entry by its fingerprint: the entry of (fingerprint,
 * generation) if one exists, unless another file reads it (then this file
 * is a copy, e.g. copytruncate's access.log.1, and is only watched), else a
 * new entry. An entry with no reader and an offset past the file's end is
 * an earlier generation of this very file (same inode: truncated while
 * nobody looked) or else the original of this copy, read past the copy's
 * end. The file an entry last read is identified before any copy of it. A
 * copy takes its entry over once nothing else reads it, and only when it
 * holds bytes past the entry's offset: a copy at or below that offset was
 * read whole from its original, so none of it is read again. Of two files
 * with the same content, the larger reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fingerprint.h"
#include "sources_identity.h"
#include "xalloc.h"

static void sources_attach(struct sources *s, struct slot *slot,
			   struct registry_entry *entry, int64_t offset, int64_t size,
			   int64_t now_ms)
{
	sources_slot_attach(s, slot, entry, offset);
	free(entry->path);
	entry->path = xstrdup(tail_path(slot->tail));
	entry->dev = tail_dev(slot->tail);
	entry->ino = tail_ino(slot->tail);
	entry->seen = time(NULL);
	registry_touch(s->env->registry);
	if (s->frozen)
		tail_set_limit(slot->tail, size);
	sources_slot_set(s, slot, SLOT_ACTIVE, NULL, now_ms);
}

/* A file with a fingerprint and no entry of it: a new source. */
static void sources_new_source(struct sources *s, struct slot *slot, uint64_t fp,
			       uint32_t gen, int64_t size, int64_t now_ms)
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
	sources_attach(s, slot, entry, offset, size, now_ms);
}

/* The file holds entry's content but is not to be read: owner reads it, or
 * (owner NULL) every byte of it was read already. */
static void sources_make_copy(struct sources *s, struct slot *slot,
			      struct registry_entry *entry, const struct slot *owner,
			      int64_t size, int64_t now_ms)
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
	sources_slot_set(s, slot, SLOT_COPY, entry, now_ms);
}

/* Another slot, not yet identified, whose inode is the one entry last read:
 * that file is the entry's own and is identified first. */
static struct slot *sources_waiting_original(struct sources *s,
					     const struct registry_entry *entry,
					     const struct slot *self)
{
	struct slot *c = sources_slot_by_inode(s, entry->dev, entry->ino);

	return c && c != self && (c->state == SLOT_WAITING || c->state == SLOT_NO_FD) ? c : NULL;
}

/*
 * Attach the file to the entry of its fingerprint and generation, or make
 * it a copy of that entry, or a new source. An entry with no reader and an
 * offset past this file's end is an earlier generation of this very file
 * (same inode: it was truncated while nobody looked, so the next generation
 * is tried), or else the original of this copy, read past the copy's end.
 */
static void sources_place(struct sources *s, struct slot *slot, uint64_t fp,
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
			sources_identify(s, original, now_ms);
			continue;
		}
		if (owner) {
			sources_make_copy(s, slot, entry, owner, size, now_ms);
			return;
		}
		if (size >= entry->offset) {
			SOURCES_LOG("%s: known file (source %s), resuming at offset %lld",
				     tail_path(slot->tail), entry->id, (long long)entry->offset);
			sources_attach(s, slot, entry, entry->offset, size, now_ms);
			return;
		}
		if (tail_dev(slot->tail) != entry->dev || tail_ino(slot->tail) != entry->ino) {
			sources_make_copy(s, slot, entry, NULL, size, now_ms);
			return;
		}
		gen++;
	}
	sources_new_source(s, slot, fp, gen, size, now_ms);
}

void sources_identify(struct sources *s, struct slot *slot, int64_t now_ms)
{
	nlink_t links;
	int64_t size;
	uint64_t fp;
	int rc = sources_slot_open(s, slot, now_ms);

	sources_slot_set(s, slot, SLOT_IDENTIFYING, NULL, now_ms);
	if (rc < 0) {           /* no fd to spare, or gone */
		sources_slot_set(s, slot, rc == -EMFILE ? SLOT_NO_FD : SLOT_WAITING, NULL, now_ms);
		return;
	}
	if (tail_fingerprint(slot->tail, &fp) < 0 || tail_stat(slot->tail, &size, &links) < 0) {
		sources_slot_close(s, slot);    /* no complete line yet: no fd until the next try */
		sources_slot_set(s, slot, SLOT_WAITING, NULL, now_ms);
		return;
	}
	sources_place(s, slot, fp, size, now_ms);
}

bool sources_same_file(const struct slot *slot, const char *path)
{
	const struct registry_entry *entry = slot->copy_of ? slot->copy_of : tail_entry(slot->tail);
	uint64_t fp;
	int fd, rc;

	if (tail_is_open(slot->tail))
		return true;
	if (!entry)     /* nothing to compare: a file gone at the last scan is */
		return slot->state != SLOT_GONE;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return true;    /* gone again: the scan after next tells */
	rc = fingerprint_read(fd, &fp);
	close(fd);
	if (rc < 0 && rc != -EAGAIN)
		return true;    /* cannot tell */
	return rc == 0 && fp == entry->fingerprint;
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
static void sources_outgrown(struct sources *s, struct slot *owner, struct slot *copy,
			     int64_t size, int64_t now_ms)
{
	struct registry_entry *entry = tail_entry(owner->tail);
	nlink_t links;
	int64_t osize;
	int rc;

	if (size <= tail_offset(owner->tail))
		return;
	rc = sources_slot_open(s, owner, now_ms);
	if (rc < 0 || tail_stat(owner->tail, &osize, &links) < 0 ||
	    osize < tail_offset(owner->tail)) {
		owner->ready = true;    /* shrank, or cannot tell: a read tells */
		copy->ready = rc == -EMFILE;    /* no fd to spare yet: not idle */
		return;
	}
	if (size <= osize)
		return;         /* as a copy is: no larger than its original */
	SOURCES_LOG("%s: holds %lld bytes, more than %s (%lld), which reads source %s: the larger one reads on",
		     tail_path(copy->tail), (long long)size, tail_path(owner->tail),
		     (long long)osize, entry->id);
	sources_slot_attach(s, owner, NULL, 0);
	sources_slot_set(s, owner, SLOT_COPY, entry, now_ms);
	owner->ready = false;
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

		if (c != self && c->state == SLOT_COPY && c->copy_of == entry &&
		    stat(tail_path(c->tail), &st) == 0 && st.st_ino == tail_ino(c->tail) &&
		    st.st_dev == tail_dev(c->tail) && st.st_size > size)
			return true;
	}
	return false;
}

void sources_copy_tick(struct sources *s, struct slot *slot, int64_t now_ms)
{
	struct registry_entry *entry = slot->copy_of;
	struct slot *owner = sources_owner(s, entry, slot);
	int64_t size = -1;
	nlink_t links;
	uint64_t fp;
	int rc;

	slot->ready = owner && tail_entry(owner->tail) != entry;
	if (slot->ready)
		return;         /* lines of a former reader in flight: wait for acks */
	rc = sources_slot_open(s, slot, now_ms);
	if (rc < 0) {
		slot->ready = rc == -EMFILE;    /* no fd to spare yet: not idle */
		return;
	}
	if (tail_fingerprint(slot->tail, &fp) < 0 || fp != entry->fingerprint) {
		SOURCES_LOG("%s: no longer a copy of source %s: looking at it again",
			     tail_path(slot->tail), entry->id);
		sources_slot_set(s, slot, SLOT_WAITING, NULL, now_ms);
		sources_identify(s, slot, now_ms);
		return;
	}
	if (tail_stat(slot->tail, &size, &links) < 0 || owner || size <= entry->offset ||
	    sources_larger_copy(s, entry, slot, size)) {
		if (owner && size >= 0)
			sources_outgrown(s, owner, slot, size, now_ms);
		sources_slot_close(s, slot);    /* read from the original, or to be */
		return;
	}
	SOURCES_LOG("%s: the original of this copy is gone; reading on from offset %lld",
		     tail_path(slot->tail), (long long)entry->offset);
	sources_attach(s, slot, entry, entry->offset, size, now_ms);
}
