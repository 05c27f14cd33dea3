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
 * one index from (size, window, dimension) to those.
 *
 * Size: 857 lines, over the 800 where a split is planned. The delta table,
 * the cap and the rows all reach into struct window_entry and the pool, so
 * a split needs a private header first; the next change to this file
 * should move "rows for the store" into window_rows.c over a
 * window_internal.h (issue 13's note says so).
 */
#include "window.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "xalloc.h"

#define WINDOW_MIN_SLOTS 32
#define WINDOW_OTHER_LEN (sizeof(WINDOW_OTHER) - 1)

struct window_slot {
	uint32_t tag;           /* the hash's high half */
	uint32_t idx;           /* entries index + 1; 0: empty */
};

struct window_entry {
	uint64_t hash;
	int64_t start_s;
	uint64_t hits, bytes;
	uint64_t duration_count, duration_us_sum, duration_us_max;
	size_t off;             /* of the value in the arena */
	uint32_t dim;
	uint32_t len;
	uint32_t hist_off;      /* of the histogram's run in the pool */
	uint8_t hist_n;         /* buckets with hits */
	uint8_t hist_cap;       /* pairs the run holds, or WINDOW_HIST_DENSE */
};

/*
 * A run past WINDOW_HIST_SPARSE_MAX pairs becomes WINDOW_BUCKETS counts
 * indexed by bucket: a key with a wide spread of durations (a busy URL)
 * would otherwise scan dozens of pairs a hit.
 */
#define WINDOW_HIST_SPARSE_MAX 16
#define WINDOW_HIST_DENSE 0xff

/*
 * Runs hold 1, 2, 4, 8 or 16 pairs or WINDOW_BUCKETS counts: six sizes,
 * each with its free list. Most keys of a partition's table see one
 * bucket, and a busy one a dozen (log-normal times, bench-aggregator
 * --durations): 16 pairs take a quarter of the 62 counts. A pool offset
 * is chunk * WINDOW_CHUNK + index; a run never crosses a chunk's end.
 */
#define WINDOW_RUN_CLASSES 6
#define WINDOW_CHUNK 8192

struct window_deltas {
	struct window_slot *slots;
	size_t nslots;          /* a power of two */
	struct window_entry *entries;
	size_t count, entries_cap;
	char *arena;
	size_t arena_len, arena_cap;
	uint64_t **chunks;      /* the pool: histogram runs */
	size_t nchunks;
	size_t pool_len;        /* pool offset of the next new run */
	uint32_t free_runs[WINDOW_RUN_CLASSES];    /* offset + 1; 0: none */
	uint64_t hits;
};

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

static int64_t window_floor_div(int64_t a, int64_t b)
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

static uint64_t window_hash(int64_t start_s, uint32_t dim, const char *value,
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
static struct window_entry *window_deltas_entry(struct window_deltas *deltas,
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

/* The run at pool offset off. */
static uint64_t *window_run(const struct window_deltas *deltas, uint32_t off)
{
	return deltas->chunks[off / WINDOW_CHUNK] + off % WINDOW_CHUNK;
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

/* Adds everything src (an entry of from) holds to dst (one of deltas). */
static void window_entry_merge(struct window_deltas *deltas,
			       struct window_entry *dst,
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

/* --- rows for the store ------------------------------------------------ */

void window_rows_init(struct window_rows *rows)
{
	memset(rows, 0, sizeof(*rows));
}

void window_rows_fini(struct window_rows *rows)
{
	free(rows->rows);
	for (size_t s = 0; s < rows->nsums; s++)
		window_deltas_free(rows->sums[s]);
	free(rows->sums);
	window_deltas_free(rows->spare);
	window_rows_init(rows);
}

/* Makes rows->sums hold nsizes empty tables, keeping their memory. */
static void window_rows_sums(struct window_rows *rows, size_t nsizes)
{
	if (nsizes > rows->nsums) {
		rows->sums = xreallocarray(rows->sums, nsizes, sizeof(*rows->sums));
		for (size_t s = rows->nsums; s < nsizes; s++)
			rows->sums[s] = window_deltas_new();
		rows->nsums = nsizes;
	}
	for (size_t s = 0; s < nsizes; s++)
		window_deltas_clear(rows->sums[s]);
}

/* Adds all of e (an entry of from) to the key (start_s, e's dim, value). */
static void window_sum_add(struct window_deltas *sum, int64_t start_s,
			   const char *value, size_t len,
			   const struct window_deltas *from,
			   const struct window_entry *e)
{
	uint64_t hash = start_s == e->start_s && value == from->arena + e->off ?
			e->hash : window_hash(start_s, e->dim, value, len);

	window_entry_merge(sum, window_deltas_entry(sum, hash, start_s, e->dim,
						    value, len), from, e);
}

/* Sorts a histogram run by bucket: a few pairs, hence insertion. */
static void window_hist_sort(uint64_t *run, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t pair = run[i];
		size_t j = i;

		for (; j > 0 && run[j - 1] > pair; j--)
			run[j] = run[j - 1];
		run[j] = pair;
	}
}

/*
 * Makes e's histogram pairs in bucket order, in place: a dense run's
 * counts become pairs (the k-th pair is written over a count at or after
 * k, already read), a sparse run is sorted.
 */
static uint64_t *window_hist_pairs(struct window_deltas *deltas,
				   struct window_entry *e)
{
	uint64_t *run = e->hist_cap ? window_run(deltas, e->hist_off) : NULL;
	unsigned int k = 0;

	if (e->hist_cap != WINDOW_HIST_DENSE) {
		window_hist_sort(run, e->hist_n);
		return run;
	}
	for (unsigned int b = 0; b < WINDOW_BUCKETS; b++)
		if (run[b]) {
			assert(run[b] < (UINT64_C(1) << 56));
			run[k++] = (uint64_t)b << 56 | run[b];
		}
	assert(k == e->hist_n);
	e->hist_cap = (uint8_t)WINDOW_BUCKETS;
	return run;
}

/*
 * Appends one row per key of sum, in the windows of size_s, its histogram
 * in bucket order (the latency table's key order).
 */
static void window_rows_add_sum(struct window_rows *rows,
				struct window_deltas *sum, uint32_t size_s)
{
	for (size_t i = 0; i < sum->count; i++) {
		struct window_entry *e = &sum->entries[i];
		const uint64_t *run = window_hist_pairs(sum, e);

		rows->rows[rows->n++] = (struct window_row){
			.window_seconds = size_s, .dim = e->dim,
			.start_s = e->start_s, .value = sum->arena + e->off,
			.len = e->len, .hits = e->hits, .bytes = e->bytes,
			.duration_count = e->duration_count,
			.duration_us_sum = e->duration_us_sum,
			.duration_us_max = e->duration_us_max,
			.hist = run, .nhist = e->hist_n};
		rows->nhist += e->hist_n;
	}
}

/* Byte order of values, a shorter prefix first. */
static int window_value_cmp(const char *a, size_t alen, const char *b,
			    size_t blen)
{
	int rc = memcmp(a, b, alen < blen ? alen : blen);

	if (rc)
		return rc;
	return alen < blen ? -1 : alen > blen;
}

/* While rows are sorted, their dim holds the rank of the dimension's name. */
static int window_rows_cmp(const void *pa, const void *pb)
{
	const struct window_row *a = pa, *b = pb;

	if (a->window_seconds != b->window_seconds)
		return a->window_seconds < b->window_seconds ? -1 : 1;
	if (a->dim != b->dim)
		return a->dim < b->dim ? -1 : 1;
	if (a->start_s != b->start_s)
		return a->start_s < b->start_s ? -1 : 1;
	return window_value_cmp(a->value, a->len, b->value, b->len);
}

/*
 * order[r] = the dimension whose name ranks r-th in byte order (strcmp
 * compares as unsigned char), ties by index; rank is its inverse. There
 * are a handful of dimensions, hence the insertion sort.
 */
static void window_rows_rank(const char *const *names, uint32_t ndims,
			     uint32_t *order, uint32_t *rank)
{
	for (uint32_t d = 0; d < ndims; d++) {
		uint32_t j = d;

		for (; j > 0 && strcmp(names[order[j - 1]], names[d]) > 0; j--)
			order[j] = order[j - 1];
		order[j] = d;
	}
	for (uint32_t r = 0; r < ndims; r++)
		rank[order[r]] = r;
}

/* Sorts the rows (distinct keys) in key order. */
static void window_rows_sort(struct window_rows *rows, const uint32_t *order,
			     const uint32_t *rank)
{
	for (size_t i = 0; i < rows->n; i++)
		rows->rows[i].dim = rank[rows->rows[i].dim];
	if (rows->n > 1)         /* rows->rows may still be NULL */
		qsort(rows->rows, rows->n, sizeof(*rows->rows), window_rows_cmp);
	for (size_t i = 0; i < rows->n; i++)
		rows->rows[i].dim = order[rows->rows[i].dim];
}

/* A key of a rollup sum as the cap sees it. */
struct window_cand {
	uint64_t hits;
	int64_t start_s;
	uint32_t rank;          /* of the dimension's name */
	uint32_t idx;           /* in the sum's entries */
	const char *value;
	size_t len;
};

/* Most hits first, then key order, for the cap. */
static int window_cand_cmp(const void *pa, const void *pb)
{
	const struct window_cand *a = pa, *b = pb;

	if (a->hits != b->hits)
		return a->hits > b->hits ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	if (a->start_s != b->start_s)
		return a->start_s < b->start_s ? -1 : 1;
	return window_value_cmp(a->value, a->len, b->value, b->len);
}

/*
 * Passes the keys of rollup sum s (of size_s) through the cap, most hits
 * first so that the values that matter most in this flush keep their own
 * rows. When some are refused, the sum is rebuilt in rows->spare with
 * those summed into WINDOW_OTHER, and the two swap.
 */
static void window_rows_cap(struct window_rows *rows, size_t s, int64_t size_s,
			    const uint32_t *rank, struct window_cap *cap)
{
	struct window_deltas *sum = rows->sums[s], *spare;
	struct window_cand *cands = xcalloc(sum->count ? sum->count : 1,
					    sizeof(*cands));
	bool *refused = xcalloc(sum->count ? sum->count : 1, sizeof(*refused));
	bool any = false;

	for (size_t i = 0; i < sum->count; i++) {
		const struct window_entry *e = &sum->entries[i];

		cands[i] = (struct window_cand){e->hits, e->start_s, rank[e->dim],
						(uint32_t)i, sum->arena + e->off,
						e->len};
	}
	qsort(cands, sum->count, sizeof(*cands), window_cand_cmp);
	for (size_t i = 0; i < sum->count; i++) {
		const struct window_entry *e = &sum->entries[cands[i].idx];

		if (!window_cap_admit(cap, size_s, e->start_s, e->dim,
				      cands[i].value, cands[i].len))
			any = refused[cands[i].idx] = true;
	}
	if (any) {
		if (!rows->spare)
			rows->spare = window_deltas_new();
		spare = rows->spare;
		window_deltas_clear(spare);
		for (size_t i = 0; i < sum->count; i++) {
			const struct window_entry *e = &sum->entries[i];

			if (refused[i])
				window_sum_add(spare, e->start_s, WINDOW_OTHER,
					       WINDOW_OTHER_LEN, sum, e);
			else
				window_sum_add(spare, e->start_s, sum->arena + e->off,
					       e->len, sum, e);
		}
		rows->spare = sum;
		rows->sums[s] = spare;
	}
	free(refused);
	free(cands);
}

void window_rows_build(struct window_rows *rows,
		       struct window_deltas *const *parts, size_t nparts,
		       const int64_t *sizes, size_t nsizes,
		       const char *const *names, struct window_cap *cap)
{
	struct window_deltas *base;
	uint32_t ndims = 0, *order, *rank;
	size_t nrows = 0;

	assert(nsizes >= 1);
	for (size_t s = 0; s < nsizes; s++)
		assert(sizes[s] > 0 && sizes[s] <= UINT32_MAX);
	window_rows_sums(rows, nsizes);
	base = rows->sums[0];
	for (size_t p = 0; p < nparts; p++) {
		const struct window_deltas *part = parts[p];

		for (size_t i = 0; part && i < part->count; i++) {
			const struct window_entry *e = &part->entries[i];

			window_sum_add(base, e->start_s, part->arena + e->off,
				       e->len, part, e);
			if (e->dim >= ndims)
				ndims = e->dim + 1;
		}
	}
	order = xcalloc(ndims ? ndims : 1, 2 * sizeof(*order));
	rank = order + ndims;
	window_rows_rank(names, ndims, order, rank);
	for (size_t s = 1; s < nsizes; s++) {
		for (size_t i = 0; i < base->count; i++) {
			const struct window_entry *e = &base->entries[i];

			window_sum_add(rows->sums[s],
				       window_floor_div(e->start_s, sizes[s]) * sizes[s],
				       base->arena + e->off, e->len, base, e);
		}
		if (cap)
			window_rows_cap(rows, s, sizes[s], rank, cap);
	}
	for (size_t s = 0; s < nsizes; s++)
		nrows += rows->sums[s]->count;
	if (nrows > rows->cap) {
		rows->cap = nrows;
		rows->rows = xreallocarray(rows->rows, nrows, sizeof(*rows->rows));
	}
	rows->n = rows->nhist = 0;
	for (size_t s = 0; s < nsizes; s++)
		window_rows_add_sum(rows, rows->sums[s], (uint32_t)sizes[s]);
	window_rows_sort(rows, order, rank);
	free(order);
}
