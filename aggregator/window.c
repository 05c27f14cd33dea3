/*
 * window: a delta table is open addressing with linear probing over small
 * slots (a 32-bit tag of the XXH3 hash and the entry's index + 1; 0 is
 * empty) that point into a dense array of entries, whose values live in
 * one byte arena. A hit costs one hash, one slot probe and one compare, and
 * allocates nothing; the table grows past 7/10 full and never shrinks, and
 * clearing keeps all four arrays. A key's histogram is a short run of
 * (bucket, count) pairs in a pool shared by the table's keys: a key sees
 * a few buckets of the 62, so a run is scanned, not indexed, and moves to
 * a run twice as long when it fills; past 16 buckets it becomes 62 counts
 * indexed by bucket. The pool is chunks of 64 KiB that never move (a
 * realloc's copy touched the pool twice: page faults were a tenth of the
 * aggregator's time), and a run left behind goes on a free list of its
 * size for the next key that grows. The cardinality cap reuses the same
 * table: one per (size, window, dimension) for its admitted values, plus
 * one index from (size, window, dimension) to those. The rows for the
 * store are window_rows.c's, over the same tables (window_internal.h).
 */
#include "window.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "window_internal.h"
#include "xalloc.h"

#define WINDOW_MIN_SLOTS 32

/* 10 a decade: R10 times 100 us, 1 ms, ..., 10 s; then 100 s. */
const uint64_t window_bucket_le_us[WINDOW_BUCKETS - 1] = {
#define WINDOW_DECADE(k) 100 * (k), 125 * (k), 160 * (k), 200 * (k), \
	250 * (k), 315 * (k), 400 * (k), 500 * (k), 630 * (k), 800 * (k)
	WINDOW_DECADE(1), WINDOW_DECADE(10), WINDOW_DECADE(100),
	WINDOW_DECADE(1000), WINDOW_DECADE(10000), WINDOW_DECADE(100000),
	100000000,
#undef WINDOW_DECADE
};

/*
 * The bucket of 2^o, the smallest duration of octave o: 0 up to 2^6 (64
 * us, under the first bound), then three buckets an octave (ten a decade
 * is 3.3), from bucket 2 for 2^7 = 128 us, up to the last for 2^27 us,
 * past 100 s. From there at most three steps reach any duration of the
 * octave: test_window_rows checks every bound and its neighbours.
 */
static unsigned int window_octave_bucket(unsigned int o)
{
	if (o < 7)
		return 0;
	if (o > 26)
		return WINDOW_BUCKETS - 1;
	return 3 * o - 19;
}

unsigned int window_bucket(uint64_t duration_us)
{
	unsigned int b;

	if (duration_us <= window_bucket_le_us[0])
		return 0;
	b = window_octave_bucket(63 - (unsigned int)__builtin_clzll(duration_us));
	while (b < WINDOW_BUCKETS - 1 && window_bucket_le_us[b] < duration_us)
		b++;
	return b;
}

int64_t window_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t window_start(int64_t t_ms, int64_t size_s)
{
	assert(size_s > 0);
	/* floor(floor(t / 1000) / size) == floor(t / (1000 * size)) */
	return window_floor_div(window_floor_div(t_ms, 1000), size_s) * size_s;
}

/* --- the delta table --------------------------------------------------- */

uint64_t window_hash(int64_t start_s, uint32_t dim, const char *value,
		     size_t len)
{
	uint64_t seed = (uint64_t)start_s * 0x9E3779B97F4A7C15ULL + dim;

	return XXH3_64bits_withSeed(value, len, seed);
}

struct window_deltas *window_deltas_new(void)
{
	struct window_deltas *deltas = xcalloc(1, sizeof(*deltas));

	deltas->nslots = WINDOW_MIN_SLOTS;
	deltas->slots = xcalloc(deltas->nslots, sizeof(*deltas->slots));
	deltas->entries_cap = deltas->nslots * 7 / 10;
	deltas->entries = xcalloc(deltas->entries_cap, sizeof(*deltas->entries));
	deltas->arena_cap = 1024;
	deltas->arena = xmalloc(deltas->arena_cap);
	return deltas;
}

void window_deltas_free(struct window_deltas *deltas)
{
	if (!deltas)
		return;
	free(deltas->slots);
	free(deltas->entries);
	free(deltas->arena);
	for (size_t i = 0; i < deltas->nchunks; i++)
		free(deltas->chunks[i]);
	free(deltas->chunks);
	free(deltas);
}

/* The slot holding the key, or the empty slot where it would go. */
static struct window_slot *window_deltas_find(const struct window_deltas *deltas,
					      uint64_t hash, int64_t start_s,
					      uint32_t dim, const char *value,
					      size_t len)
{
	size_t mask = deltas->nslots - 1, i = hash & mask;
	uint32_t tag = (uint32_t)(hash >> 32);

	for (;; i = (i + 1) & mask) {
		struct window_slot *slot = &deltas->slots[i];
		const struct window_entry *e;

		if (!slot->idx)
			return slot;
		if (slot->tag != tag)
			continue;
		e = &deltas->entries[slot->idx - 1];
		if (e->hash == hash && e->start_s == start_s && e->dim == dim &&
		    e->len == len &&
		    (!len || !memcmp(deltas->arena + e->off, value, len)))
			return slot;
	}
}

/* Doubles the slots and rehashes from the entries, which keep their hash. */
static void window_deltas_grow(struct window_deltas *deltas)
{
	size_t mask;

	free(deltas->slots);
	deltas->nslots *= 2;
	mask = deltas->nslots - 1;
	deltas->slots = xcalloc(deltas->nslots, sizeof(*deltas->slots));
	for (size_t n = 0; n < deltas->count; n++) {
		uint64_t hash = deltas->entries[n].hash;
		size_t i = hash & mask;

		while (deltas->slots[i].idx)
			i = (i + 1) & mask;
		deltas->slots[i] = (struct window_slot){(uint32_t)(hash >> 32),
							(uint32_t)(n + 1)};
	}
	deltas->entries_cap = deltas->nslots * 7 / 10;
	deltas->entries = xreallocarray(deltas->entries, deltas->entries_cap,
					sizeof(*deltas->entries));
}

static size_t window_deltas_copy(struct window_deltas *deltas,
				 const char *value, size_t len)
{
	size_t off = deltas->arena_len;

	if (len > deltas->arena_cap - off) {
		size_t cap = deltas->arena_cap;

		while (len > cap - off)
			cap *= 2;
		deltas->arena = xrealloc(deltas->arena, cap);
		deltas->arena_cap = cap;
	}
	if (len)
		memcpy(deltas->arena + off, value, len);
	deltas->arena_len += len;
	return off;
}

/* Adds a key with no hits (slot: where window_deltas_find() put it). */
static struct window_entry *window_deltas_insert(struct window_deltas *deltas,
						 struct window_slot *slot,
						 uint64_t hash, int64_t start_s,
						 uint32_t dim, const char *value,
						 size_t len)
{
	struct window_entry *e;

	assert(len <= UINT32_MAX && deltas->count < UINT32_MAX - 1);
	if ((deltas->count + 1) * 10 > deltas->nslots * 7) {
		window_deltas_grow(deltas);
		slot = window_deltas_find(deltas, hash, start_s, dim, value, len);
	}
	e = &deltas->entries[deltas->count++];
	*e = (struct window_entry){.hash = hash, .start_s = start_s, .dim = dim,
				   .len = (uint32_t)len};
	e->off = window_deltas_copy(deltas, value, len);
	*slot = (struct window_slot){(uint32_t)(hash >> 32), (uint32_t)deltas->count};
	return e;
}

/* The entry of a key whose hash is known, added with nothing when new. */
struct window_entry *window_deltas_entry(struct window_deltas *deltas,
					 uint64_t hash, int64_t start_s,
					 uint32_t dim, const char *value,
					 size_t len)
{
	struct window_slot *slot;

	slot = window_deltas_find(deltas, hash, start_s, dim, value, len);
	if (slot->idx)
		return &deltas->entries[slot->idx - 1];
	return window_deltas_insert(deltas, slot, hash, start_s, dim, value, len);
}

/* The free list of runs of cap (a hist_cap: 1, 2, ... 16 or WINDOW_HIST_DENSE). */
static uint32_t *window_run_class(struct window_deltas *deltas, unsigned int cap)
{
	return &deltas->free_runs[cap == WINDOW_HIST_DENSE ? WINDOW_RUN_CLASSES - 1 :
				  (unsigned int)__builtin_ctz(cap)];
}

/* A run for cap, from its free list or the pool's end; its offset. */
static uint32_t window_run_take(struct window_deltas *deltas, unsigned int cap)
{
	uint32_t *list = window_run_class(deltas, cap);
	size_t n = cap == WINDOW_HIST_DENSE ? WINDOW_BUCKETS : cap;
	size_t off = deltas->pool_len;

	if (*list) {
		off = *list - 1;
		*list = (uint32_t)*window_run(deltas, (uint32_t)off);
		return (uint32_t)off;
	}
	if (off % WINDOW_CHUNK + n > WINDOW_CHUNK)
		off += WINDOW_CHUNK - off % WINDOW_CHUNK;
	assert(off + n < UINT32_MAX);
	if (off / WINDOW_CHUNK == deltas->nchunks) {
		deltas->chunks = xreallocarray(deltas->chunks, deltas->nchunks + 1,
					       sizeof(*deltas->chunks));
		deltas->chunks[deltas->nchunks++] =
			xmalloc(WINDOW_CHUNK * sizeof(**deltas->chunks));
	}
	deltas->pool_len = off + n;
	return (uint32_t)off;
}

/* Puts e's run on its free list (its first slot links the list). */
static void window_run_give(struct window_deltas *deltas, uint32_t off,
			    unsigned int cap)
{
	uint32_t *list = window_run_class(deltas, cap);

	*window_run(deltas, off) = *list;
	*list = off + 1;
}

/*
 * Moves e's full run to a run twice as long, or past
 * WINDOW_HIST_SPARSE_MAX to the dense counts, and frees the old one.
 */
static void window_hist_grow(struct window_deltas *deltas, struct window_entry *e)
{
	const uint64_t *old = e->hist_cap ? window_run(deltas, e->hist_off) : NULL;
	uint32_t off;
	uint64_t *run;

	if (e->hist_cap < WINDOW_HIST_SPARSE_MAX) {
		unsigned int cap = e->hist_cap ? 2u * e->hist_cap : 1;

		off = window_run_take(deltas, cap);
		if (e->hist_n)
			memcpy(window_run(deltas, off), old,
			       e->hist_n * sizeof(*old));
		if (e->hist_cap)
			window_run_give(deltas, e->hist_off, e->hist_cap);
		e->hist_cap = (uint8_t)cap;
	} else {
		off = window_run_take(deltas, WINDOW_HIST_DENSE);
		run = window_run(deltas, off);
		memset(run, 0, WINDOW_BUCKETS * sizeof(*run));
		for (unsigned int i = 0; i < e->hist_n; i++)
			run[WINDOW_HIST_BUCKET(old[i])] = WINDOW_HIST_COUNT(old[i]);
		window_run_give(deltas, e->hist_off, e->hist_cap);
		e->hist_cap = WINDOW_HIST_DENSE;
	}
	e->hist_off = off;
}

/* Adds n to bucket b of e's histogram. */
static void window_hist_add(struct window_deltas *deltas, struct window_entry *e,
			    unsigned int b, uint64_t n)
{
	uint64_t *run;

	if (!e->hist_cap) {
		window_hist_grow(deltas, e);
		run = window_run(deltas, e->hist_off);
		run[e->hist_n++] = (uint64_t)b << 56 | n;
		return;
	}
	run = window_run(deltas, e->hist_off);
	if (e->hist_cap == WINDOW_HIST_DENSE) {
		e->hist_n += !run[b];
		run[b] += n;
		return;
	}
	for (unsigned int i = 0; i < e->hist_n; i++)
		if (WINDOW_HIST_BUCKET(run[i]) == b) {
			assert(WINDOW_HIST_COUNT(run[i]) + n < (UINT64_C(1) << 56));
			run[i] += n;
			return;
		}
	if (e->hist_n == e->hist_cap) {
		window_hist_grow(deltas, e);
		if (e->hist_cap == WINDOW_HIST_DENSE) {
			window_hist_add(deltas, e, b, n);
			return;
		}
		run = window_run(deltas, e->hist_off);
	}
	run[e->hist_n++] = (uint64_t)b << 56 | n;
}

static void window_entry_add_line(struct window_deltas *deltas,
				  struct window_entry *e,
				  const struct window_line *line)
{
	uint64_t d;

	e->hits++;
	deltas->hits++;
	e->bytes += line->bytes;
	if (line->duration_us < 0)
		return;
	d = (uint64_t)line->duration_us;
	e->duration_count++;
	e->duration_us_sum += d;
	if (d > e->duration_us_max)
		e->duration_us_max = d;
	window_hist_add(deltas, e, window_bucket(d), 1);
}

/*
 * Gives dst, which has no histogram yet, a copy of src's (run, of another
 * table) in a run of the same kind: one copy instead of an add per bucket
 * through runs that grow one size at a time. Most keys of the writer's
 * sums come from one partition's key, or start from one.
 */
static void window_hist_copy(struct window_deltas *deltas, struct window_entry *dst,
			     const struct window_entry *src, const uint64_t *run)
{
	unsigned int cap = src->hist_cap == WINDOW_HIST_DENSE ? WINDOW_HIST_DENSE : 1;

	while (cap != WINDOW_HIST_DENSE && cap < src->hist_n)
		cap *= 2;
	dst->hist_off = window_run_take(deltas, cap);
	dst->hist_cap = (uint8_t)cap;
	dst->hist_n = src->hist_n;
	memcpy(window_run(deltas, dst->hist_off), run,
	       (cap == WINDOW_HIST_DENSE ? WINDOW_BUCKETS : src->hist_n) * sizeof(*run));
}

/* Adds everything src (an entry of from) holds to dst (one of deltas). */
void window_entry_merge(struct window_deltas *deltas, struct window_entry *dst,
			const struct window_deltas *from,
			const struct window_entry *src)
{
	const uint64_t *run = src->hist_cap ? window_run(from, src->hist_off) : NULL;

	dst->hits += src->hits;
	deltas->hits += src->hits;
	dst->bytes += src->bytes;
	dst->duration_count += src->duration_count;
	dst->duration_us_sum += src->duration_us_sum;
	if (src->duration_us_max > dst->duration_us_max)
		dst->duration_us_max = src->duration_us_max;
	if (!dst->hist_cap && src->hist_n &&
	    (src->hist_cap == WINDOW_HIST_DENSE || src->hist_n <= WINDOW_HIST_SPARSE_MAX)) {
		window_hist_copy(deltas, dst, src, run);
		return;
	}
	if (src->hist_cap == WINDOW_HIST_DENSE) {
		for (unsigned int b = 0; b < WINDOW_BUCKETS; b++)
			if (run[b])
				window_hist_add(deltas, dst, b, run[b]);
		return;
	}
	for (unsigned int i = 0; i < src->hist_n; i++)
		window_hist_add(deltas, dst, WINDOW_HIST_BUCKET(run[i]),
				WINDOW_HIST_COUNT(run[i]));
}

void window_deltas_add(struct window_deltas *deltas, int64_t start_s,
		       uint32_t dim, const char *value, size_t len,
		       uint64_t hits)
{
	struct window_entry *e;

	e = window_deltas_entry(deltas, window_hash(start_s, dim, value, len),
				start_s, dim, value, len);
	e->hits += hits;
	deltas->hits += hits;
}

void window_deltas_add_line(struct window_deltas *deltas, int64_t start_s,
			    uint32_t dim, const char *value, size_t len,
			    const struct window_line *line)
{
	window_entry_add_line(deltas,
			      window_deltas_entry(deltas,
						  window_hash(start_s, dim, value, len),
						  start_s, dim, value, len),
			      line);
}

bool window_deltas_add_held(struct window_deltas *deltas, int64_t start_s,
			    uint32_t dim, const char *value, size_t len,
			    const struct window_line *line)
{
	uint64_t hash = window_hash(start_s, dim, value, len);
	struct window_slot *slot;

	slot = window_deltas_find(deltas, hash, start_s, dim, value, len);
	if (!slot->idx)
		return false;
	window_entry_add_line(deltas, &deltas->entries[slot->idx - 1], line);
	return true;
}

size_t window_deltas_count(const struct window_deltas *deltas)
{
	return deltas->count;
}

size_t window_deltas_bytes(const struct window_deltas *deltas)
{
	/* slots stay between 35% and 70% full: about two per entry */
	return deltas->count * (sizeof(struct window_entry) +
				2 * sizeof(struct window_slot)) + deltas->arena_len +
	       deltas->pool_len * sizeof(**deltas->chunks);
}

uint64_t window_deltas_hits(const struct window_deltas *deltas)
{
	return deltas->hits;
}

void window_deltas_clear(struct window_deltas *deltas)
{
	memset(deltas->slots, 0, deltas->nslots * sizeof(*deltas->slots));
	deltas->count = 0;
	deltas->arena_len = 0;
	deltas->pool_len = 0;
	memset(deltas->free_runs, 0, sizeof(deltas->free_runs));
	deltas->hits = 0;
}

/* --- the cardinality cap ----------------------------------------------- */

/* The admitted values of one dimension in one window of one size. */
struct window_cap_set {
	int64_t size_s, start_s;
	uint32_t dim;
	struct window_deltas *values;   /* keyed by (0, 0, value) */
};

struct window_cap {
	pthread_mutex_t lock;           /* the loop admits, the writer caps rollups */
	uint64_t max_values;
	/* (start_s, dim, the 8 bytes of size_s) -> hits = position in sets */
	struct window_deltas *index;
	struct window_cap_set *sets;
	size_t nsets, sets_cap;
};

struct window_cap *window_cap_new(uint64_t max_values)
{
	struct window_cap *cap = xcalloc(1, sizeof(*cap));

	pthread_mutex_init(&cap->lock, NULL);
	cap->max_values = max_values;
	cap->index = window_deltas_new();
	return cap;
}

void window_cap_free(struct window_cap *cap)
{
	if (!cap)
		return;
	for (size_t i = 0; i < cap->nsets; i++)
		window_deltas_free(cap->sets[i].values);
	free(cap->sets);
	window_deltas_free(cap->index);
	pthread_mutex_destroy(&cap->lock);
	free(cap);
}

static void window_cap_index_put(struct window_cap *cap, size_t pos)
{
	const struct window_cap_set *set = &cap->sets[pos];

	window_deltas_add(cap->index, set->start_s, set->dim,
			  (const char *)&set->size_s, sizeof(set->size_s), pos);
}

/* The set of (size_s, start_s, dim), made empty when there is none yet. */
static struct window_deltas *window_cap_set(struct window_cap *cap,
					    int64_t size_s, int64_t start_s,
					    uint32_t dim)
{
	const char *key = (const char *)&size_s;
	uint64_t hash = window_hash(start_s, dim, key, sizeof(size_s));
	struct window_slot *slot;

	slot = window_deltas_find(cap->index, hash, start_s, dim, key, sizeof(size_s));
	if (slot->idx)
		return cap->sets[cap->index->entries[slot->idx - 1].hits].values;
	if (cap->nsets == cap->sets_cap) {
		cap->sets_cap = cap->sets_cap ? cap->sets_cap * 2 : 16;
		cap->sets = xreallocarray(cap->sets, cap->sets_cap, sizeof(*cap->sets));
	}
	cap->sets[cap->nsets] = (struct window_cap_set){size_s, start_s, dim,
							 window_deltas_new()};
	window_cap_index_put(cap, cap->nsets);
	return cap->sets[cap->nsets++].values;
}

static bool window_cap_admit_locked(struct window_cap *cap, int64_t size_s,
				    int64_t start_s, uint32_t dim,
				    const char *value, size_t len)
{
	struct window_deltas *values;
	struct window_slot *slot;
	uint64_t hash;

	values = window_cap_set(cap, size_s, start_s, dim);
	hash = window_hash(0, 0, value, len);
	slot = window_deltas_find(values, hash, 0, 0, value, len);
	if (slot->idx)
		return true;
	if (values->count >= cap->max_values)
		return false;
	window_deltas_insert(values, slot, hash, 0, 0, value, len);
	return true;
}

bool window_cap_admit(struct window_cap *cap, int64_t size_s, int64_t start_s,
		      uint32_t dim, const char *value, size_t len)
{
	bool admitted;

	if (len == WINDOW_OTHER_LEN && !memcmp(value, WINDOW_OTHER, len))
		return true;
	pthread_mutex_lock(&cap->lock);
	admitted = window_cap_admit_locked(cap, size_s, start_s, dim, value, len);
	pthread_mutex_unlock(&cap->lock);
	return admitted;
}

static void window_cap_expire_locked(struct window_cap *cap, int64_t size_s,
				     int64_t start_s)
{
	size_t kept = 0;

	for (size_t i = 0; i < cap->nsets; i++) {
		struct window_cap_set *set = &cap->sets[i];

		if (set->size_s == size_s && set->start_s < start_s)
			window_deltas_free(set->values);
		else
			cap->sets[kept++] = *set;
	}
	if (kept == cap->nsets)
		return;
	cap->nsets = kept;
	window_deltas_clear(cap->index);
	for (size_t i = 0; i < cap->nsets; i++)
		window_cap_index_put(cap, i);
}

void window_cap_expire(struct window_cap *cap, int64_t size_s, int64_t start_s)
{
	pthread_mutex_lock(&cap->lock);
	window_cap_expire_locked(cap, size_s, start_s);
	pthread_mutex_unlock(&cap->lock);
}

