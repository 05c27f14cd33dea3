/*
 * store_sql: the text of the store's statements, the schema's DDL and the
 * upserts a flush sends, built without a connection so that it can be
 * tested alone. Values are escaped for a
 * session whose sql_mode lacks NO_BACKSLASH_ESCAPES (store sets it) in
 * utf8mb4: the escaping of mysql_real_escape_string() for that charset.
 * Rows arrive sorted (window_rows_build) and leave in the same order, cut
 * into statements of at most max_bytes each.
 */
#ifndef LOGTALLY_STORE_SQL_H
#define LOGTALLY_STORE_SQL_H

#include <stddef.h>

#include "buf.h"
#include "window.h"

/*
 * The schema: store_sql_schema_table (logtally_schema, which records the
 * versions applied) first, then each step newer than the stored version,
 * in order. A step's DDL is idempotent (IF NOT EXISTS, IF EXISTS), since
 * DDL commits on its own. store_sql_steps ends with {0, NULL}.
 */
struct store_sql_step {
	unsigned int version;
	const char *const *ddl;         /* NULL-terminated statements */
};
extern const char store_sql_schema_table[];
extern const struct store_sql_step store_sql_steps[];

/* The smallest statement size store_sql_upserts() accepts. */
#define STORE_SQL_MIN_BYTES 4096

/*
 * Append s[0..len) to out as a quoted SQL string literal: '...' with NUL,
 * \n, \r, \\, ', " and Ctrl-Z escaped by a backslash. Returns 0 or -ENOSPC
 * when out's maximum would be passed (out then holds a partial literal:
 * truncate it back).
 */
int store_sql_quote(struct buf *out, const char *s, size_t len);

/*
 * "YYYY-MM-DD HH:MM:SS" of epoch seconds (UTC) into out[20]. Times outside
 * what DATETIME holds are clamped to 0000-01-01 00:00:00 and
 * 9999-12-31 23:59:59.
 */
void store_sql_datetime(int64_t epoch_s, char out[20]);

/*
 * Called with each finished statement (NUL-terminated, len bytes, borrowed
 * until the call returns). A non-zero return stops store_sql_upserts(),
 * which returns it.
 */
typedef int (*store_sql_statement_fn)(void *arg, const char *sql, size_t len);

/*
 * Append row i of a batch to out (without separators). Returns 0 or
 * -ENOSPC (out may then hold part of the row: the batch cuts it back).
 */
typedef int (*store_sql_row_fn)(void *arg, size_t i, struct buf *out);

/*
 * The general form of store_sql_upserts(): statements "head row,row,...
 * tail" of rows 0..n in order, each at most max_bytes (>=
 * STORE_SQL_MIN_BYTES), passed to fn. Returns 0, the first non-zero
 * return of fn or row (other than -ENOSPC), -EMSGSIZE when one row alone
 * does not fit, or -EINVAL when max_bytes is too small.
 */
int store_sql_batch(const char *head, const char *tail, size_t n,
		    store_sql_row_fn row, void *row_arg, size_t max_bytes,
		    store_sql_statement_fn fn, void *arg);

/*
 * Build the upserts of rows[0..n) into table:
 *   INSERT INTO table (window_seconds,window_start,dimension,value,hits,
 *   bytes,duration_count,duration_us_sum,duration_us_max) VALUES (...),
 *   (...) ON DUPLICATE KEY UPDATE hits = hits + VALUES(hits), ... (sums
 *   added, duration_us_max = GREATEST(...))
 * in row order, each statement at most max_bytes (>= STORE_SQL_MIN_BYTES;
 * one row always fits since values are at most SCHEMA_VALUE_CHARS
 * characters), and pass each to fn. names[row.dim] is the dimension's
 * name. Returns 0, or the first non-zero return of fn (or an error of
 * store_sql_batch()).
 */
int store_sql_upserts(const char *table, const struct window_row *rows,
		      size_t n, const char *const *names, size_t max_bytes,
		      store_sql_statement_fn fn, void *arg);

/*
 * Build the upserts of the latency rows of rows[0..n) (one per histogram
 * pair of each row; none at all when they have none) into the latency
 * table, in row order and each row's pairs in bucket order (the primary
 * key's), adding hits to hits; the rest as store_sql_upserts().
 */
int store_sql_latency_upserts(const struct window_row *rows, size_t n,
			      const char *const *names, size_t max_bytes,
			      store_sql_statement_fn fn, void *arg);

/*
 * Append head, topic quoted, " AND kafka_partition IN (p,p,...)" of
 * parts[0..n), and tail to out: the WHERE of a read of some partitions.
 * Returns 0 or -ENOSPC (out then holds part of it).
 */
int store_sql_partitions(struct buf *out, const char *head, const char *topic,
			 const int32_t *parts, size_t n, const char *tail);

/*
 * Append the compare-and-set of a partition's offset to out: an UPDATE of
 * logtally_offsets to next where it holds expected. Returns 0 or -ENOSPC.
 */
int store_sql_offset_cas(struct buf *out, const char *topic, int32_t partition,
			 int64_t expected, int64_t next);

#endif
