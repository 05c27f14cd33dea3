/*
 * sources_slot: what every part of the sources module does with a slot.
 * Its state changes here only (sources_slot_set(), which checks the
 * transition against the table of sources_slot.h and keeps the counts,
 * the maps and the flags that depend on the state in step); its file is
 * held open within max_open_files (closing the idlest file with nothing
 * pending to make room); and it answers who reads a registry entry, who
 * still waits for acknowledgements of it, and which copies of it may take
 * it over. It calls nothing else of the module.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources_slot.h"
#include "xalloc.h"

#define BIT(state) (1u << (state))

/* The states each state may move to (besides itself). */
static const unsigned sources_slot_next[SLOT_STATES] = {
	[SLOT_WAITING] = BIT(SLOT_IDENTIFYING) | BIT(SLOT_GONE) | BIT(SLOT_STALE),
	[SLOT_NO_FD] = BIT(SLOT_IDENTIFYING) | BIT(SLOT_GONE) | BIT(SLOT_STALE),
	[SLOT_IDENTIFYING] = BIT(SLOT_ACTIVE) | BIT(SLOT_COPY) | BIT(SLOT_WAITING) |
			     BIT(SLOT_NO_FD),
	[SLOT_ACTIVE] = BIT(SLOT_WAITING) | BIT(SLOT_COPY) | BIT(SLOT_DRAINING) |
			BIT(SLOT_STALE),
	[SLOT_COPY] = BIT(SLOT_ACTIVE) | BIT(SLOT_WAITING) | BIT(SLOT_GONE) | BIT(SLOT_STALE),
	[SLOT_DRAINING] = BIT(SLOT_ACTIVE) | BIT(SLOT_WAITING) | BIT(SLOT_COPY) |
			  BIT(SLOT_STALE),
	[SLOT_GONE] = BIT(SLOT_WAITING) | BIT(SLOT_STALE),
	[SLOT_STALE] = 0,
};

static void sources_inode_key(dev_t dev, ino_t ino, char key[48])
{
	snprintf(key, 48, "%" PRIxMAX ":%" PRIxMAX, (uintmax_t)dev, (uintmax_t)ino);
}

/* No path leads to the slot any more: forget it in the path map. */
static void sources_slot_unmap_path(struct sources *s, struct slot *slot)
{
	if (hmap_get(s->by_path, tail_path(slot->tail)) == slot)
		hmap_remove(s->by_path, tail_path(slot->tail));
}

static void sources_slot_unmap_inode(struct sources *s, struct slot *slot)
{
	char key[48];

	sources_inode_key(tail_dev(slot->tail), tail_ino(slot->tail), key);
	if (hmap_get(s->by_inode, key) == slot)
		hmap_remove(s->by_inode, key);
}

static void sources_slot_unmap_entry(struct sources *s, struct slot *slot)
{
	if (slot->mapped[0] && hmap_get(s->by_entry, slot->mapped) == slot)
		hmap_remove(s->by_entry, slot->mapped);
	slot->mapped[0] = '\0';
}

void sources_slot_set(struct sources *s, struct slot *slot, enum slot_state to,
		      struct registry_entry *copy_of, int64_t now_ms)
{
	enum slot_state from = slot->state;

	assert(from == to || (sources_slot_next[from] & BIT(to)));
	assert((to == SLOT_COPY) == (copy_of != NULL));
	s->count[from]--;
	s->count[to]++;
	slot->state = to;
	slot->copy_of = copy_of;
	switch (to) {
	case SLOT_ACTIVE:
		slot->ready = true;
		break;
	case SLOT_COPY:
		sources_slot_close(s, slot);    /* sources_copy_tick() reopens it */
		break;
	case SLOT_DRAINING:
		slot->ready = true;             /* read what is left */
		tail_touch(slot->tail, now_ms);
		sources_slot_unmap_path(s, slot);
		break;
	case SLOT_GONE:
		slot->ready = false;
		sources_slot_close(s, slot);
		sources_slot_unmap_path(s, slot);
		break;
	case SLOT_STALE:
		slot->ready = false;
		tail_touch(slot->tail, now_ms);
		sources_wake_copies(s, tail_entry(slot->tail));
		sources_slot_unmap_path(s, slot);
		sources_slot_unmap_inode(s, slot);
		break;
	default:
		break;
	}
}

struct slot *sources_slot_add(struct sources *s, const char *path, dev_t dev, ino_t ino,
			      size_t input, bool initial, int64_t now_ms)
{
	const struct agent_input *in = CONFIG_ITEM(s->cfg->inputs, struct agent_input, input);
	struct slot *slot = xcalloc(1, sizeof(*slot));
	char key[48];

	slot->tail = tail_new(path, dev, ino, input, &in->fields);
	slot->state = SLOT_WAITING;
	slot->initial = initial;
	slot->in_scan = true;
	tail_touch(slot->tail, now_ms);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->slots = xreallocarray(s->slots, s->cap, sizeof(*s->slots));
	}
	s->slots[s->n++] = slot;
	s->count[SLOT_WAITING]++;
	hmap_put(s->by_path, path, slot);
	sources_inode_key(dev, ino, key);
	hmap_put(s->by_inode, key, slot);
	return slot;
}

void sources_slot_drop(struct sources *s, size_t i)
{
	struct slot *slot = s->slots[i];
	struct registry_entry *entry = tail_entry(slot->tail);

	assert(tail_in_flight(slot->tail) == 0);
	sources_wake_copies(s, entry);
	sources_slot_unmap_entry(s, slot);
	sources_slot_unmap_path(s, slot);
	sources_slot_unmap_inode(s, slot);
	sources_slot_close(s, slot);
	s->count[slot->state]--;
	tail_free(slot->tail);
	free(slot);
	s->slots[i] = s->slots[--s->n];
}

struct slot *sources_slot_by_inode(struct sources *s, dev_t dev, ino_t ino)
{
	char key[48];

	sources_inode_key(dev, ino, key);
	return hmap_get(s->by_inode, key);
}

void sources_slot_attach(struct sources *s, struct slot *slot, struct registry_entry *entry,
			 int64_t offset)
{
	sources_slot_unmap_entry(s, slot);
	if (!entry) {
		tail_detach(slot->tail);
		return;
	}
	tail_attach(slot->tail, entry, offset, s->env->host);
	hmap_put(s->by_entry, entry->id, slot);
	memcpy(slot->mapped, entry->id, sizeof(slot->mapped));
}

/* --- opening within max_open_files ------------------------------------ */

void sources_slot_close(struct sources *s, struct slot *slot)
{
	if (!tail_is_open(slot->tail))
		return;
	tail_close(slot->tail);
	s->open--;
}

/* Close the idlest file read with nothing pending, to make room. */
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
		sources_slot_close(s, victim);
	return victim != NULL;
}

int sources_slot_open(struct sources *s, struct slot *slot, int64_t now_ms)
{
	int rc;

	assert(slot->state != SLOT_STALE);
	if (tail_is_open(slot->tail))
		return 0;
	if (s->open >= (size_t)s->cfg->max_open_files && !sources_make_room(s, now_ms))
		return -EMFILE;
	rc = tail_open(slot->tail);
	if (rc == 0)
		s->open++;
	return rc;
}

/* --- who holds an entry --------------------------------------------------- */

/* The slot attached to entry (a tail may have detached itself on
 * truncation since the map was written: the tail says). */
static struct slot *sources_reader(struct sources *s, const struct registry_entry *entry)
{
	struct slot *c = hmap_get(s->by_entry, entry->id);

	return c && tail_entry(c->tail) == entry ? c : NULL;
}

struct slot *sources_owner(struct sources *s, struct registry_entry *entry,
			   const struct slot *self)
{
	struct slot *reader = sources_reader(s, entry);

	if (reader && reader != self)
		return reader;
	for (size_t i = 0; i < s->n; i++) {
		struct slot *c = s->slots[i];

		if (c != self && tail_in_flight(c->tail) && tail_references(c->tail, entry))
			return c;
	}
	return NULL;
}

void sources_wake_copies(struct sources *s, const struct registry_entry *entry)
{
	for (size_t i = 0; entry && s->count[SLOT_COPY] && i < s->n; i++) {
		struct slot *c = s->slots[i];

		if (c->state == SLOT_COPY && c->copy_of == entry)
			c->ready = true;
	}
}

bool sources_holds(const struct registry_entry *entry, void *arg)
{
	struct sources *s = arg;

	if (sources_reader(s, entry))
		return true;
	for (size_t i = 0; i < s->n; i++) {
		const struct slot *c = s->slots[i];

		if (c->copy_of == entry || tail_entry(c->tail) == entry ||
		    (tail_in_flight(c->tail) && tail_references(c->tail, entry)))
			return true;
	}
	return false;
}
