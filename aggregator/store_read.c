/*
 * store_read: what the store reads rather than writes: the stored offsets
 * and sources' high marks of the partitions a member is assigned, and the
 * connection lent to the HTTP API for its reads of counts. Each read ends
 * its transaction before it returns (the reader's when it is handed
 * back), as store.c's rule wants. It sits on store.c's connection and
 * helpers (store_internal.h) and on nothing else of the store's.
 */
#include "store.h"

#include <inttypes.h>
#include <mysql.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "store_sql.h"

struct store_parts {
	const char *topic;
	const int32_t *parts;
	size_t n;
	int64_t *offsets;
};

static int store_offset_new_row(void *arg, size_t i, struct buf *out)
{
	const struct store_parts *sp = arg;
	int rc;

	rc = buf_addc(out, '(');
	if (!rc)
		rc = store_sql_quote(out, sp->topic, strlen(sp->topic));
	if (!rc)
		rc = buf_printf(out, ",%" PRId32 ",%d,NOW(3))", sp->parts[i],
				STORE_OFFSET_NONE);
	return rc;
}

static void store_offset_row(void *arg, MYSQL_ROW row)
{
	struct store_parts *sp = arg;
	int32_t partition = (int32_t)strtol(row[0], NULL, 10);
	size_t i;

	for (i = 0; i < sp->n; i++)
		if (sp->parts[i] == partition)
			sp->offsets[i] = strtoll(row[1], NULL, 10);
}

int store_load_offsets(struct store *st, const char *topic,
		       const int32_t *parts, size_t n, int64_t *offsets,
		       char *err, size_t errlen)
{
	struct store_parts sp = {topic, parts, n, offsets};
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		offsets[i] = STORE_OFFSET_NONE;
	rc = store_connect(st, err, errlen);
	if (!rc)
		rc = store_batch(st, "INSERT IGNORE INTO logtally_offsets (topic,"
				 "kafka_partition,next_offset,updated_at) VALUES ",
				 "", n, store_offset_new_row, &sp, err, errlen);
	/* a locking read: it waits for a flush still committing on them */
	if (!rc)
		rc = store_select_parts(st, "SELECT kafka_partition, next_offset"
					" FROM logtally_offsets WHERE topic = ",
					topic, parts, n, " LOCK IN SHARE MODE",
					store_offset_row, &sp, err, errlen);
	if (!rc)
		rc = store_commit_plain(st, err, errlen);
	return store_outward(rc);
}

struct store_sources {
	store_source_fn fn;
	void *arg;
};

static void store_source_row(void *arg, MYSQL_ROW row)
{
	struct store_sources *ss = arg;

	ss->fn(ss->arg, row[0], (int32_t)strtol(row[1], NULL, 10),
	       strtoll(row[2], NULL, 10));
}

int store_load_sources(struct store *st, const char *topic,
		       const int32_t *parts, size_t n, store_source_fn fn,
		       void *arg, char *err, size_t errlen)
{
	struct store_sources ss = {fn, arg};
	int rc;

	rc = store_connect(st, err, errlen);
	if (!rc)
		rc = store_select_parts(st, "SELECT source, kafka_partition, "
					"high_offset FROM logtally_sources "
					"WHERE topic = ", topic, parts, n, "",
					store_source_row, &ss, err, errlen);
	if (!rc)
		rc = store_commit_plain(st, err, errlen);
	return store_outward(rc);
}

MYSQL *store_reader(struct store *st, char *err, size_t errlen)
{
	return store_connect(st, err, errlen) ? NULL : st->db;
}

void store_reader_done(struct store *st, bool failed)
{
	if (failed || !st->db || mysql_rollback(st->db))
		store_disconnect(st);
}
