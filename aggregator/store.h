/*
 * store: the aggregator's MariaDB. It creates and migrates the schema
 * (versioned in logtally_schema; the same DDL as config/schema.sql), reads
 * the stored partition offsets and source high marks, and writes a flush:
 * the offsets with a compare-and-set, the counts as sorted multi-row
 * upserts, and the high marks, in ONE transaction.
 *
 * Every failure is classified by what the caller does next:
 *   STORE_RETRY   the server is gone or refused (connection lost, server
 *                 restarting, too many connections...): nothing was
 *                 committed; keep the data, wait, call again (store
 *                 reconnects by itself on the next call);
 *   STORE_LOST    a partition's stored offset was not the expected one:
 *                 another member owns it; rolled back;
 *   STORE_FATAL   a problem retrying cannot fix (access denied, a schema
 *                 newer than this program, a bad statement): stop.
 * A deadlock or lock wait timeout inside store_flush() replays the whole
 * transaction at once, a few times, before it returns STORE_RETRY.
 * The call that finds the connection dead returns STORE_RETRY; the next
 * call reconnects.
 * Session settings: utf8mb4, time_zone '+00:00', READ COMMITTED,
 * sql_mode STRICT_ALL_TABLES without NO_BACKSLASH_ESCAPES.
 * All calls block; one thread uses a store.
 */
#ifndef LOGTALLY_STORE_H
#define LOGTALLY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregator_config.h"
#include "window.h"

#define STORE_RETRY (-1)
#define STORE_LOST (-2)
#define STORE_FATAL (-3)

/* No offset stored yet: start at the beginning of the partition. */
#define STORE_OFFSET_NONE (-2)

/* The schema version this program writes (logtally_schema.version). */
#define STORE_SCHEMA_VERSION 3

struct store;

/*
 * A store for cfg (copied). Does not connect yet: the first call that
 * needs the server connects. Never NULL.
 */
struct store *store_new(const struct aggregator_mariadb *cfg);

/* Close the connection (a transaction in progress rolls back). */
void store_free(struct store *st);

/*
 * Connect if needed and create or migrate the schema (under GET_LOCK, so
 * that members starting together migrate once). Returns 0 or a STORE_*
 * class, with the server's message in err.
 */
int store_open(struct store *st, char *err, size_t errlen);

/*
 * The stored next offset of each of topic's partitions parts[0..n) into
 * offsets[]; a partition without a row gets one holding STORE_OFFSET_NONE
 * (INSERT IGNORE), which is also what offsets[] then says.
 */
int store_load_offsets(struct store *st, const char *topic,
		       const int32_t *parts, size_t n, int64_t *offsets,
		       char *err, size_t errlen);

/*
 * Called for each stored source of the partitions asked for (source is
 * borrowed for the call). It must not call store functions.
 */
typedef void (*store_source_fn)(void *arg, const char *source,
				int32_t partition, int64_t high);

/* The high marks of topic's sources kept in partitions parts[0..n). */
int store_load_sources(struct store *st, const char *topic,
		       const int32_t *parts, size_t n, store_source_fn fn,
		       void *arg, char *err, size_t errlen);

/* A partition's move in a flush: from the stored offset to the next one. */
struct store_offset {
	int32_t partition;
	int64_t expected;       /* what the row holds now (may be _NONE) */
	int64_t next;           /* the offset of the next message to count */
};

/* A source's new high mark: the largest log.offset counted. */
struct store_source {
	const char *source;     /* the message key: <= 255 bytes, any but NUL */
	int32_t partition;
	int64_t high;
};

struct store_flush {
	const char *topic;
	const struct store_offset *offsets;     /* sorted by partition */
	size_t noffsets;
	const struct window_row *rows;          /* window_rows_build() order */
	size_t nrows;
	const char *const *names;               /* dimension names by index */
	const struct store_source *sources;
	size_t nsources;
};

/*
 * Write fl in one transaction: offsets first (UPDATE ... WHERE
 * next_offset = expected, in partition order), then the counts, then the
 * sources. Returns 0 when committed; STORE_LOST with *lost set to the first
 * partition whose offset did not match (rolled back; drop its data and
 * call again without it); STORE_RETRY or STORE_FATAL as above.
 *
 * The rows must count the messages between the offsets' expected and
 * next, so that a flush with rows moves an offset: the offsets make a
 * flush happen at most once. When the connection dies during COMMIT, the
 * COMMIT may or may not have happened; store_flush() then reconnects at
 * once and reads the offsets back with a locking read (which waits for a
 * COMMIT still running on the server): all at next means it committed
 * (0), else STORE_RETRY. If even that fails it returns STORE_RETRY
 * although the flush may have committed; calling again with the same data
 * is still safe, as the compare-and-set then fails with STORE_LOST for the
 * partitions that moved. So STORE_LOST means "drop this partition's
 * pending data; its position is what store_load_offsets() says".
 */
int store_flush(struct store *st, const struct store_flush *fl,
		int32_t *lost, char *err, size_t errlen);

/*
 * The store's connection, for a reader of the counts table (the HTTP API):
 * connected as for flushes (UTC, READ COMMITTED, autocommit off). NULL
 * with the reason in err when MariaDB cannot be reached. Hand it back with
 * store_reader_done() after each request: failed (an error on it) drops
 * the connection, so that the next request connects anew; otherwise the
 * read's transaction ends.
 */
struct st_mysql;         /* MYSQL of <mysql.h> */
struct st_mysql *store_reader(struct store *st, char *err, size_t errlen);
void store_reader_done(struct store *st, bool failed);

/*
 * Delete up to batch rows of counts and latency with window_seconds =
 * size_s that start before before_s, in their own transaction. Returns the number of
 * rows deleted (>= 0) or a STORE_* class. Call again while it returns
 * batch.
 */
int64_t store_expire(struct store *st, int64_t size_s, int64_t before_s,
		     int64_t batch, char *err, size_t errlen);

/* Statements sent (for tests and metrics): upserts of the last flush. */
size_t store_last_statements(const struct store *st);

/*
 * The class of a MariaDB client or server error number (mysql_errno()):
 * STORE_RETRY for a lost or refused connection, a server shutting down or
 * out of resources, a deadlock or lock wait; STORE_FATAL for the rest
 * (access denied, unknown database, bad statement, bad data).
 */
int store_classify(unsigned int code);

#endif
