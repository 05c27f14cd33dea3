/*
 * store_flush: store_flush(), the one transaction that moves a flush into
 * MariaDB: the partitions' offsets by compare-and-set first (so that a
 * member that lost a partition writes nothing of it), then the counts and
 * their latency histograms as sorted multi-row upserts (sorted, so that concurrent flushes lock rows
 * in one order), then the sources' high marks. A deadlock or lock wait
 * replays the whole transaction; a COMMIT that went unanswered is settled
 * by reading the offsets back. It sits on store.c's connection and helpers
 * (store_internal.h) and on nothing else of the store's.
 */
#include "store.h"

#include <inttypes.h>
#include <mysql.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logging.h"
#include "store_internal.h"
#include "store_sql.h"
#include "xalloc.h"

#define STORE_REPLAYS 5

size_t store_last_statements(const struct store *st)
{
	return st->statements;
}

static int store_lost(struct store *st, const char *topic,
		      const struct store_offset *o, int32_t *lost, char *err,
		      size_t errlen)
{
	*lost = o->partition;
	snprintf(err, errlen, "partition %" PRId32 " of %s no longer holds "
		 "offset %" PRId64 ": another member owns it", o->partition,
		 topic, o->expected);
	store_abort(st);
	return STORE_LOST;
}

static int store_cas(struct store *st, const struct store_flush *fl,
		     int32_t *lost, char *err, size_t errlen)
{
	const struct store_offset *o;
	size_t i;
	int rc = 0;

	for (i = 0; i < fl->noffsets && !rc; i++) {
		o = &fl->offsets[i];
		buf_reset(&st->sql);
		if (store_sql_offset_cas(&st->sql, fl->topic, o->partition,
					 o->expected, o->next))
			return store_toolong(st, "offset update", err, errlen);
		rc = store_exec(st, buf_str(&st->sql), buf_len(&st->sql), err,
				errlen);
		if (!rc && mysql_affected_rows(st->db) != 1)
			rc = store_lost(st, fl->topic, o, lost, err, errlen);
	}
	return rc;
}

static int store_upsert_send(void *arg, const char *sql, size_t len)
{
	struct store_call *call = arg;

	call->st->statements++;
	return store_send(arg, sql, len);
}

static int store_counts(struct store *st, const struct store_flush *fl,
			char *err, size_t errlen)
{
	struct store_call call = {st, err, errlen};
	int rc;

	rc = store_sql_upserts("counts", fl->rows, fl->nrows, fl->names,
			       st->max_statement, store_upsert_send, &call);
	rc = store_batch_rc(st, rc, "counts upsert", err, errlen);
	if (rc)
		return rc;
	rc = store_sql_latency_upserts(fl->rows, fl->nrows, fl->names,
				       st->max_statement, store_upsert_send,
				       &call);
	return store_batch_rc(st, rc, "latency upsert", err, errlen);
}

static int store_source_new_row(void *arg, size_t i, struct buf *out)
{
	const struct store_flush *fl = arg;
	const struct store_source *src = &fl->sources[i];
	int rc;

	rc = buf_addc(out, '(');
	if (!rc)
		rc = store_sql_quote(out, fl->topic, strlen(fl->topic));
	if (!rc)     /* a key is bytes, maybe not UTF-8: a binary literal */
		rc = buf_addstr(out, ",_binary");
	if (!rc)
		rc = store_sql_quote(out, src->source, strlen(src->source));
	if (!rc)
		rc = buf_printf(out, ",%" PRId32 ",%" PRId64 ",NOW(3))",
				src->partition, src->high);
	return rc;
}

static int store_sources(struct store *st, const struct store_flush *fl,
			 char *err, size_t errlen)
{
	return store_batch(st, "INSERT INTO logtally_sources (topic,source,"
			   "kafka_partition,high_offset,updated_at) VALUES ",
			   " ON DUPLICATE KEY UPDATE high_offset = GREATEST("
			   "high_offset, VALUES(high_offset)), kafka_partition"
			   " = VALUES(kafka_partition), updated_at = "
			   "VALUES(updated_at)", fl->nsources,
			   store_source_new_row, fl, err, errlen);
}

/* What the stored offsets say of a flush whose COMMIT went unanswered. */
struct store_moved {
	const struct store_flush *fl;
	size_t at_next;         /* moved partitions that hold next */
	size_t at_expected;     /* moved partitions that still hold expected */
};

static void store_moved_row(void *arg, MYSQL_ROW row)
{
	struct store_moved *mv = arg;
	int32_t partition = (int32_t)strtol(row[0], NULL, 10);
	int64_t offset = strtoll(row[1], NULL, 10);
	const struct store_offset *o;
	size_t i;

	for (i = 0; i < mv->fl->noffsets; i++) {
		o = &mv->fl->offsets[i];
		if (o->partition != partition || o->next == o->expected)
			continue;
		mv->at_next += offset == o->next;
		mv->at_expected += offset == o->expected;
	}
}

/* Reads the flush's offsets back on a new connection into mv. */
static int store_read_moved(struct store *st, struct store_moved *mv,
			    char *err, size_t errlen)
{
	const struct store_flush *fl = mv->fl;
	int32_t *parts = xcalloc(fl->noffsets + 1, sizeof(*parts));
	size_t i;
	int rc;

	for (i = 0; i < fl->noffsets; i++)
		parts[i] = fl->offsets[i].partition;
	rc = store_connect(st, err, errlen);
	if (!rc)
		rc = store_select_parts(st, "SELECT kafka_partition, next_offset"
					" FROM logtally_offsets WHERE topic = ",
					fl->topic, parts, fl->noffsets,
					" LOCK IN SHARE MODE", store_moved_row,
					mv, err, errlen);
	if (!rc)
		rc = store_commit_plain(st, err, errlen);
	free(parts);
	return rc;
}

/*
 * The connection died during COMMIT: find out whether it happened. The
 * locking read waits for a COMMIT the server may still be running.
 */
static int store_outcome(struct store *st, const struct store_flush *fl,
			 char *err, size_t errlen)
{
	struct store_moved mv = {fl, 0, 0};
	char first[512], why[512];
	size_t i, moved = 0;
	int rc;

	snprintf(first, sizeof(first), "%s", err);
	for (i = 0; i < fl->noffsets; i++)
		moved += fl->offsets[i].next != fl->offsets[i].expected;
	rc = store_read_moved(st, &mv, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "%s; whether it committed is unknown: %s",
			 first, why);
		return store_outward(rc);
	}
	if (moved > 0 && mv.at_next == moved) {
		logging_warn("store: %s, but the flush had committed", first);
		return 0;
	}
	snprintf(err, errlen, "%s; %s", first, mv.at_expected == moved ?
		 "nothing was committed" : "another member moved the offsets");
	return STORE_RETRY;
}

static int store_commit_flush(struct store *st, const struct store_flush *fl,
			      char *err, size_t errlen)
{
	int rc;

	if (mysql_commit(st->db) == 0)
		return 0;
	rc = store_fail(st, "COMMIT", err, errlen);
	if (rc != STORE_RETRY || st->db)
		return rc;      /* the server answered: rolled back */
	return store_outcome(st, fl, err, errlen);
}

static int store_flush_once(struct store *st, const struct store_flush *fl,
			    int32_t *lost, char *err, size_t errlen)
{
	int rc;

	st->statements = 0;
	rc = store_connect(st, err, errlen);
	if (!rc)
		rc = store_execstr(st, "START TRANSACTION", err, errlen);
	if (!rc)
		rc = store_cas(st, fl, lost, err, errlen);
	if (!rc)
		rc = store_counts(st, fl, err, errlen);
	if (!rc)
		rc = store_sources(st, fl, err, errlen);
	if (!rc)
		rc = store_commit_flush(st, fl, err, errlen);
	return rc;
}

int store_flush(struct store *st, const struct store_flush *fl,
		int32_t *lost, char *err, size_t errlen)
{
	int attempt, rc = STORE_CONFLICT;

	for (attempt = 0; attempt < STORE_REPLAYS && rc == STORE_CONFLICT;
	     attempt++) {
		rc = store_flush_once(st, fl, lost, err, errlen);
		if (rc == STORE_CONFLICT)
			logging_debug("store: replaying a flush: %s", err);
	}
	return store_outward(rc);
}
