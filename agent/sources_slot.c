/*
 * sources_slot: what every part of the sources module does with a slot:
 * hold its file open within max_open_files (closing the idlest file with
 * nothing pending to make room), and tell who reads a registry entry, who
 * still waits for its acknowledgements, and which copies of it may take it
 * over. It calls nothing else of the module.
 */
#include <errno.h>

#include "sources_internal.h"

void sources_slot_close(struct sources *s, struct slot *slot)
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
		sources_slot_close(s, victim);
	return victim != NULL;
}

int sources_slot_open(struct sources *s, struct slot *slot, int64_t now_ms)
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

struct slot *sources_owner(struct sources *s, struct registry_entry *entry,
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

void sources_wake_copies(struct sources *s, const struct registry_entry *entry)
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
