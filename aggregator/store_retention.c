/*
 * store_retention: store_expire(), the deletion of expired counts and
 * their latency rows, in
 * batches the caller repeats so that no transaction holds many row locks
 * while flushes go on. counts has no index by time alone (schema version
 * 2 dropped it), so the rows are found dimension by dimension along the
 * primary key. It sits on store.c's connection and helpers
 * (store_internal.h) and on nothing else of the store's.
 */
#include "store.h"

#include <inttypes.h>
#include <mysql.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "schema.h"
#include "store_internal.h"
#include "store_sql.h"

/* The dimension after the one asked for, read by store_expire(). */
struct store_next_dim {
	char name[SCHEMA_DIMENSION_BYTES + 1];
	bool found;
};

static void store_next_dim_row(void *arg, MYSQL_ROW row)
{
	struct store_next_dim *next = arg;

	next->found = row[0] != NULL;
	if (row[0])
		snprintf(next->name, sizeof(next->name), "%s", row[0]);
}

/*
 * Moves dim to the smallest dimension of size_s's rows after dim's (the
 * smallest of all while !dim->found): one seek along the primary key.
 * dim->found is false when there is none, and when the same name comes
 * back: a name with a NUL would come back cut short, again and again.
 */
static int store_expire_next(struct store *st, const char *table,
			     int64_t size_s, struct store_next_dim *dim,
			     char *err, size_t errlen)
{
	bool first = !dim->found;
	char last[sizeof(dim->name)];
	int rc;

	memcpy(last, dim->name, sizeof(last));
	buf_reset(&st->sql);
	if (buf_printf(&st->sql, "SELECT MIN(dimension) FROM %s WHERE "
		       "window_seconds = %" PRId64, table, size_s) ||
	    (!first && (buf_printf(&st->sql, " AND dimension > ") ||
			store_sql_quote(&st->sql, last, strlen(last)))))
		return store_toolong(st, "expire", err, errlen);
	rc = store_select(st, buf_str(&st->sql), buf_len(&st->sql),
			  store_next_dim_row, dim, err, errlen);
	if (!rc && !first && dim->found && !strcmp(last, dim->name))
		dim->found = false;
	return rc;
}

/*
 * Deletes up to limit of dimension name's rows of size_s that start
 * before when, oldest first, and adds how many to *deleted.
 */
static int store_expire_dim(struct store *st, const char *table,
			    int64_t size_s, const char *name, const char *when,
			    int64_t limit, my_ulonglong *deleted, char *err,
			    size_t errlen)
{
	int rc;

	buf_reset(&st->sql);
	if (buf_printf(&st->sql, "DELETE FROM %s WHERE window_seconds"
		       " = %" PRId64 " AND dimension = ", table, size_s) ||
	    store_sql_quote(&st->sql, name, strlen(name)) ||
	    buf_printf(&st->sql, " AND window_start < '%s' ORDER BY "
		       "window_start LIMIT %" PRId64, when, limit))
		return store_toolong(st, "expire", err, errlen);
	rc = store_exec(st, buf_str(&st->sql), buf_len(&st->sql), err, errlen);
	if (!rc)
		*deleted += mysql_affected_rows(st->db);
	return rc;
}

/*
 * Dimension by dimension, so that each DELETE reads a range of the
 * primary key (window_seconds, dimension, window_start, ...) from its
 * oldest row: counts has no index by time alone (schema version 2 dropped
 * it, to spare every upsert its upkeep), and latency has none either.
 * counts goes first, then latency; a batch that ends in counts leaves
 * latency for the next call, which finds counts done.
 */
int64_t store_expire(struct store *st, int64_t size_s, int64_t before_s,
		     int64_t batch, char *err, size_t errlen)
{
	static const char *const tables[] = {"counts", "latency"};
	my_ulonglong deleted = 0;
	char when[20];
	int rc;

	if (batch <= 0)
		return 0;
	store_sql_datetime(before_s, when);
	rc = store_connect(st, err, errlen);
	for (size_t t = 0; t < 2 && !rc && (int64_t)deleted < batch; t++) {
		struct store_next_dim dim = {"", false};

		while (!rc && (int64_t)deleted < batch) {
			rc = store_expire_next(st, tables[t], size_s, &dim, err,
					       errlen);
			if (rc || !dim.found)
				break;
			rc = store_expire_dim(st, tables[t], size_s, dim.name,
					      when, batch - (int64_t)deleted,
					      &deleted, err, errlen);
		}
	}
	if (!rc)
		rc = store_commit_plain(st, err, errlen);
	return rc ? store_outward(rc) : (int64_t)deleted;
}
