/*
 * hmap: open addressing with linear probing and backward-shift deletion
 * (no tombstones, so lookups stay short however many keys come and go).
 * The table doubles past 3/4 full; it never shrinks.
 */
#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "xalloc.h"

struct hmap_slot {
	char *key;              /* NULL: empty */
	void *value;
	uint64_t hash;
};

struct hmap {
	struct hmap_slot *slots;
	size_t cap;             /* a power of two */
	size_t count;
};

static uint64_t hmap_hash(const char *key)
{
	return XXH3_64bits(key, strlen(key));
}

struct hmap *hmap_new(void)
{
	struct hmap *map = xcalloc(1, sizeof(*map));

	map->cap = 16;
	map->slots = xcalloc(map->cap, sizeof(*map->slots));
	return map;
}

void hmap_free(struct hmap *map)
{
	if (!map)
		return;
	for (size_t i = 0; i < map->cap; i++)
		free(map->slots[i].key);
	free(map->slots);
	free(map);
}

/* The slot holding key, or the empty slot where it would go. */
static struct hmap_slot *hmap_find(const struct hmap *map, const char *key,
				   uint64_t hash)
{
	size_t i = hash & (map->cap - 1);

	while (map->slots[i].key &&
	       (map->slots[i].hash != hash || strcmp(map->slots[i].key, key)))
		i = (i + 1) & (map->cap - 1);
	return &map->slots[i];
}

static void hmap_grow(struct hmap *map)
{
	struct hmap_slot *old = map->slots;
	size_t cap = map->cap;

	map->cap *= 2;
	map->slots = xcalloc(map->cap, sizeof(*map->slots));
	for (size_t i = 0; i < cap; i++)
		if (old[i].key)
			*hmap_find(map, old[i].key, old[i].hash) = old[i];
	free(old);
}

void hmap_put(struct hmap *map, const char *key, void *value)
{
	uint64_t hash = hmap_hash(key);
	struct hmap_slot *slot;

	if ((map->count + 1) * 4 > map->cap * 3)
		hmap_grow(map);
	slot = hmap_find(map, key, hash);
	if (!slot->key) {
		slot->key = xstrdup(key);
		slot->hash = hash;
		map->count++;
	}
	slot->value = value;
}

void *hmap_get(const struct hmap *map, const char *key)
{
	return hmap_find(map, key, hmap_hash(key))->value;
}

void *hmap_remove(struct hmap *map, const char *key)
{
	struct hmap_slot *slot = hmap_find(map, key, hmap_hash(key));
	size_t mask = map->cap - 1, hole = (size_t)(slot - map->slots), i = hole;
	void *value = slot->value;

	if (!slot->key)
		return NULL;
	free(slot->key);
	map->count--;
	/* Shift back every later entry of the run that may fill the hole. */
	for (;;) {
		size_t home;

		i = (i + 1) & mask;
		if (!map->slots[i].key)
			break;
		home = map->slots[i].hash & mask;
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			map->slots[hole] = map->slots[i];
			hole = i;
		}
	}
	map->slots[hole] = (struct hmap_slot){0};
	return value;
}

size_t hmap_count(const struct hmap *map)
{
	return map->count;
}

void hmap_each(const struct hmap *map,
	       void (*fn)(void *arg, const char *key, void *value), void *arg)
{
	for (size_t i = 0; i < map->cap; i++)
		if (map->slots[i].key)
			fn(arg, map->slots[i].key, map->slots[i].value);
}
