/*
 * window_internal: what window.c lends window_rows.c: the delta table's
 * layout (slots, entries, the arena, the pool of histogram runs) and the
 * calls that find a key and add one entry into another. Only the window's
 * two files include this.
 */
#ifndef LOGTALLY_WINDOW_INTERNAL_H
#define LOGTALLY_WINDOW_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "window.h"

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

/* floor(a / b), right for negative a. */
int64_t window_floor_div(int64_t a, int64_t b);

/* The hash a key is found by. */
uint64_t window_hash(int64_t start_s, uint32_t dim, const char *value,
		     size_t len);

/* The entry of a key whose hash is known, added with nothing when new. */
struct window_entry *window_deltas_entry(struct window_deltas *deltas,
					 uint64_t hash, int64_t start_s,
					 uint32_t dim, const char *value,
					 size_t len);

/* Adds everything src (an entry of from) holds to dst (one of deltas). */
void window_entry_merge(struct window_deltas *deltas, struct window_entry *dst,
			const struct window_deltas *from,
			const struct window_entry *src);

/* The run at pool offset off. */
static inline uint64_t *window_run(const struct window_deltas *deltas,
				   uint32_t off)
{
	return deltas->chunks[off / WINDOW_CHUNK] + off % WINDOW_CHUNK;
}

#endif
