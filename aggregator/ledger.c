/*
 * ledger: the partitions in an array indexed by id (Kafka numbers them
 * from 0, and a topic has few), the sources in a hash map by key with a
 * list of the dirty ones in the order they became dirty, and the
 * generation. See ledger.h for what they mean and the invariants.
 */
#include "ledger.h"

#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "xalloc.h"

struct ledger {
	struct ledger_partition *parts; /* indexed by id */
	size_t nparts;
	struct hmap *sources;           /* key -> struct ledger_source */
	struct ledger_source **dirty;   /* sources whose high is not written */
	size_t ndirty, dirty_cap;
	uint64_t generation;
};

struct ledger *ledger_new(void)
{
	struct ledger *l = xcalloc(1, sizeof(*l));

	l->sources = hmap_new();
	return l;
}

static void ledger_free_source(void *arg, const char *key, void *value)
{
	(void)arg;
	(void)key;
	free(value);
}

void ledger_free(struct ledger *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nparts; i++) {
		window_deltas_free(l->parts[i].deltas);
		window_deltas_free(l->parts[i].spare);
	}
	free(l->parts);
	hmap_each(l->sources, ledger_free_source, NULL);
	hmap_free(l->sources);
	free(l->dirty);
	free(l);
}

/* --- partitions ---------------------------------------------------------- */

struct ledger_partition *ledger_partition(struct ledger *l, int32_t id)
{
	if (id < 0)
		return NULL;
	if ((size_t)id >= l->nparts) {
		size_t n = (size_t)id + 1;

		l->parts = xreallocarray(l->parts, n, sizeof(*l->parts));
		for (size_t i = l->nparts; i < n; i++)
			l->parts[i] = (struct ledger_partition){.id = (int32_t)i};
		l->nparts = n;
	}
	return &l->parts[id];
}

size_t ledger_count(const struct ledger *l)
{
	return l->nparts;
}

bool ledger_pending(const struct ledger_partition *p)
{
	return p->assigned && !p->lost && p->next >= 0 && p->next != p->stored;
}

bool ledger_any_pending(const struct ledger *l)
{
	for (size_t i = 0; i < l->nparts; i++)
		if (ledger_pending(&l->parts[i]))
			return true;
	return false;
}

/* measure() summed over the deltas of the partitions held. */
static size_t ledger_sum(const struct ledger *l,
			 size_t (*measure)(const struct window_deltas *))
{
	size_t sum = 0;

	for (size_t i = 0; i < l->nparts; i++)
		if (l->parts[i].assigned && l->parts[i].deltas)
			sum += measure(l->parts[i].deltas);
	return sum;
}

size_t ledger_pending_keys(const struct ledger *l)
{
	return ledger_sum(l, window_deltas_count);
}

size_t ledger_pending_bytes(const struct ledger *l)
{
	return ledger_sum(l, window_deltas_bytes);
}

/* --- sources ------------------------------------------------------------ */

struct ledger_source *ledger_source(struct ledger *l, const char *key, int32_t partition)
{
	struct ledger_source *src = hmap_get(l->sources, key);
	size_t len;

	if (src) {
		src->partition = partition;
		return src;
	}
	len = strlen(key);
	src = xmalloc(sizeof(*src) + len + 1);
	memcpy(src->key, key, len + 1);
	src->partition = partition;
	src->high = -1;
	src->dirty = false;
	hmap_put(l->sources, src->key, src);
	return src;
}

static void ledger_mark_dirty(struct ledger *l, struct ledger_source *src)
{
	if (src->dirty)
		return;
	if (l->ndirty == l->dirty_cap) {
		l->dirty_cap = l->dirty_cap ? 2 * l->dirty_cap : 64;
		l->dirty = xreallocarray(l->dirty, l->dirty_cap, sizeof(*l->dirty));
	}
	l->dirty[l->ndirty++] = src;
	src->dirty = true;
}

bool ledger_count_source(struct ledger *l, const char *key, int32_t partition,
			 int64_t offset)
{
	struct ledger_source *src = ledger_source(l, key, partition);

	if (offset <= src->high)
		return false;
	src->high = offset;
	ledger_mark_dirty(l, src);
	return true;
}

static int ledger_source_cmp(const void *a, const void *b)
{
	const struct store_source *x = a, *y = b;

	return strcmp(x->source, y->source);
}

struct store_source *ledger_take_dirty(struct ledger *l, size_t *n)
{
	struct store_source *rows = xcalloc(l->ndirty + 1, sizeof(*rows));

	for (size_t i = 0; i < l->ndirty; i++) {
		struct ledger_source *src = l->dirty[i];

		rows[i] = (struct store_source){xstrdup(src->key), src->partition, src->high};
		src->dirty = false;
	}
	*n = l->ndirty;
	l->ndirty = 0;
	qsort(rows, *n, sizeof(*rows), ledger_source_cmp);
	return rows;
}

struct ledger_doomed {
	int32_t partition;
	struct ledger_source **list;
	size_t n, cap;
};

static void ledger_doom(void *arg, const char *key, void *value)
{
	struct ledger_doomed *d = arg;
	struct ledger_source *src = value;

	(void)key;
	if (src->partition != d->partition)
		return;
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 16;
		d->list = xreallocarray(d->list, d->cap, sizeof(*d->list));
	}
	d->list[d->n++] = src;
}

void ledger_drop_sources(struct ledger *l, int32_t partition)
{
	struct ledger_doomed d = {.partition = partition};
	size_t kept = 0;

	for (size_t i = 0; i < l->ndirty; i++)
		if (l->dirty[i]->partition != partition)
			l->dirty[kept++] = l->dirty[i];
	l->ndirty = kept;
	hmap_each(l->sources, ledger_doom, &d);
	for (size_t i = 0; i < d.n; i++) {
		hmap_remove(l->sources, d.list[i]->key);
		free(d.list[i]);
	}
	free(d.list);
}

/* --- generations --------------------------------------------------------- */

uint64_t ledger_generation(const struct ledger *l)
{
	return l->generation;
}

void ledger_bump(struct ledger *l)
{
	l->generation++;
}
