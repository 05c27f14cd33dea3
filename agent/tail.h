/*
 * tail: reading one file handle (one inode) and turning its complete lines
 * into Kafka messages. A tail waits until the file has a fingerprint, is
 * then attached to a registry entry (its source) by the caller, and reads
 * from its offset: only whole lines are sent, "\r\n" loses its "\r", a line
 * longer than max_line_bytes is sent cut and flagged once its end is found,
 * and a value is never larger than the producer accepts. Each message sent
 * is remembered in a FIFO of (entry, next offset); its delivery report pops
 * it, and only then does the entry's offset, the registry's promise, move.
 * Reports come back in send order because all lines of a source share a
 * key, hence a partition, and the producer is idempotent.
 */
#ifndef LOGTALLY_TAIL_H
#define LOGTALLY_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "config.h"
#include "metrics.h"
#include "registry.h"

struct producer;
struct tail;

/* What every tail shares: owned by the agent, borrowed by the tails. */
struct tail_env {
	struct producer *producer;
	struct registry *registry;
	const char *host;
	uint64_t max_line_bytes;
	char *rbuf;                     /* read buffer, rbuf_size bytes */
	size_t rbuf_size;               /* > max_line_bytes */
	struct buf scratch;             /* one encoded value */
	struct metrics_counter *lines_read, *bytes_read, *lines_truncated;
};

enum tail_status {
	TAIL_EOF,               /* read all complete lines there are */
	TAIL_MORE,              /* stopped at max_bytes: more may be there */
	TAIL_PAUSED,            /* the producer is full: try again after acks */
	TAIL_TRUNCATED,         /* the file shrank below the offset: detached */
	TAIL_NO_SOURCE,         /* not attached to an entry: nothing read */
	TAIL_ERROR,             /* a read failed, logged; the tail is closed,
				 * to be opened again when the file is found */
};

/*
 * A tail for the regular file at path with device dev and inode ino, of
 * input (index), whose events carry fields (borrowed; must outlive it).
 * Opens nothing yet. Free with tail_free() once tail_in_flight() is 0.
 */
struct tail *tail_new(const char *path, dev_t dev, ino_t ino, size_t input,
		      const struct config_map *fields);
void tail_free(struct tail *t);

/* Open the file (O_RDONLY|O_CLOEXEC) if closed and check it is still the
 * same inode. Returns 0, or -errno (ENOENT: gone; ESTALE: another inode). */
int tail_open(struct tail *t);
void tail_close(struct tail *t);
bool tail_is_open(const struct tail *t);

/* The file's fingerprint (see fingerprint.h): 0, -EAGAIN, or -errno. */
int tail_fingerprint(struct tail *t, uint64_t *fp);

/*
 * The offset just past the last "\n" before size, read through the open
 * file (never by path: a rotation may have put another inode there), for
 * read_from: end. 0 when there is none, the tail is closed or a read fails.
 */
int64_t tail_line_end(struct tail *t, int64_t size);

/* Attach to entry, reading from offset (the entry's acknowledged offset,
 * or the file's end for read_from: end). Messages in flight keep their
 * own entry. */
void tail_attach(struct tail *t, struct registry_entry *entry, int64_t offset,
		 const char *host);
/* Detach from the entry, if any; the next attach starts a new source. */
void tail_detach(struct tail *t);
struct registry_entry *tail_entry(const struct tail *t);

/*
 * Read and send complete lines until the end of the file, the producer's
 * limit, or max_bytes read (so that one busy file cannot starve others).
 * now_ms stamps the events.
 */
enum tail_status tail_read(struct tail *t, struct tail_env *env,
			   size_t max_bytes, int64_t now_ms);

/*
 * A delivery report for the oldest message in flight: on success the
 * entry's offset moves to the line's end and the registry is touched;
 * on failure the tail rewinds to the entry's offset once nothing of it is
 * in flight any more (the lines will be sent again).
 */
void tail_ack(struct tail *t, struct registry *registry, int err);

size_t tail_in_flight(const struct tail *t);

/* Current name (changes on rename), device and inode, input index. */
const char *tail_path(const struct tail *t);
void tail_rename(struct tail *t, const char *path);
dev_t tail_dev(const struct tail *t);
ino_t tail_ino(const struct tail *t);
size_t tail_input(const struct tail *t);

/* Offset of the next byte to read, and the size seen at the last fstat. */
int64_t tail_offset(const struct tail *t);

/* fstat the open file: size, link count (0: deleted). Returns 0 or -errno. */
int tail_stat(struct tail *t, int64_t *size, nlink_t *links);

/* Milliseconds since the last tail_touch(), at now_ms: the caller touches
 * the tail when it is found and whenever a read consumed bytes, on its own
 * monotonic clock. */
int64_t tail_idle_ms(const struct tail *t, int64_t now_ms);
void tail_touch(struct tail *t, int64_t now_ms);

/* Batch mode: never read at or past limit (the size the file had). */
void tail_set_limit(struct tail *t, int64_t limit);

/* Whether a message in flight still moves entry's offset. */
bool tail_references(const struct tail *t, const struct registry_entry *entry);

/* Generation hint for the next source after a truncation (see fingerprint.h). */
uint32_t tail_generation(const struct tail *t, uint64_t fp);

#endif
