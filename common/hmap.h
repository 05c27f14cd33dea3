/*
 * hmap: a small hash map from strings to pointers (open addressing, linear
 * probing, XXH3 of the key). Keys are copied; values are borrowed. Used
 * where a linear search would cost too much per event, e.g. finding the
 * file of an inotify event among thousands.
 */
#ifndef LOGTALLY_HMAP_H
#define LOGTALLY_HMAP_H

#include <stddef.h>

struct hmap;

/* An empty map. Free with hmap_free() (which does not free the values). */
struct hmap *hmap_new(void);
void hmap_free(struct hmap *map);

/* Set key's value (replacing any). value must not be NULL. */
void hmap_put(struct hmap *map, const char *key, void *value);

/* key's value, or NULL. */
void *hmap_get(const struct hmap *map, const char *key);

/* Remove key if present; returns its value or NULL. */
void *hmap_remove(struct hmap *map, const char *key);

size_t hmap_count(const struct hmap *map);

/*
 * Call fn with every key and value, in no particular order. fn must not
 * put into or remove from map; collect what to remove and do it after.
 */
void hmap_each(const struct hmap *map,
	       void (*fn)(void *arg, const char *key, void *value), void *arg);

#endif
