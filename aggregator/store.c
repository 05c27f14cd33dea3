/*
 * store: one MariaDB connection, made on demand and dropped after any
 * error that may have broken it, so that every call starts either
 * connected outside a transaction or disconnected. A call that fails rolls
 * back (or drops the connection) before it returns: no transaction
 * outlives a call. The schema is store_sql's list of migration steps of
 * idempotent DDL, applied in order under a named lock; logtally_schema
 * records the versions applied.
 *
 * The store is split by concern over files that all stand on this one
 * through store_internal.h (the object and the helpers that keep the
 * rule above): store_flush.c writes a flush, store_read.c reads offsets
 * and sources and lends the API its connection, store_retention.c deletes
 * expired counts. This file knows none of them.
 */
#include "store.h"

#include <errmsg.h>
#include <errno.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "logging.h"
#include "store_internal.h"
#include "store_sql.h"
#include "xalloc.h"

#define STORE_IO_TIMEOUT_S 30
#define STORE_STATEMENT_MAX (1024 * 1024)
#define STORE_PACKET_SLACK 1024
#define STORE_PART_CHUNK 1000

/* The session: lock waits end well before the client's read timeout. */
static const char *const store_session_sql[] = {
	"SET time_zone = '+00:00'",
	"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
	"SET sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
	"SET innodb_lock_wait_timeout = 10",
	NULL,
};

/*
 * Found rows: an offset's compare-and-set that matches counts as 1 row even
 * when it changes nothing (the same offset within the same millisecond).
 */
static const struct db_session store_db_session = {
	STORE_IO_TIMEOUT_S, CLIENT_FOUND_ROWS, store_session_sql, true,
};

int store_classify(unsigned int code)
{
	switch (code) {
	case CR_SOCKET_CREATE_ERROR: case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR: case CR_IPSOCK_ERROR: case CR_UNKNOWN_HOST:
	case CR_SERVER_GONE_ERROR: case CR_SERVER_HANDSHAKE_ERR:
	case CR_SERVER_LOST: case CR_SERVER_LOST_EXTENDED:
	case CR_ERR_NET_READ: case CR_ERR_NET_WRITE:
	case ER_CON_COUNT_ERROR: case ER_OUT_OF_RESOURCES:
	case ER_SERVER_SHUTDOWN: case ER_NORMAL_SHUTDOWN:
	case ER_SHUTDOWN_COMPLETE: case ER_ABORTING_CONNECTION:
	case ER_NEW_ABORTING_CONNECTION: case ER_NET_READ_ERROR:
	case ER_NET_READ_INTERRUPTED: case ER_NET_ERROR_ON_WRITE:
	case ER_NET_WRITE_INTERRUPTED: case ER_TOO_MANY_USER_CONNECTIONS:
	case ER_LOCK_WAIT_TIMEOUT: case ER_LOCK_DEADLOCK:
	case ER_LOCK_TABLE_FULL: case ER_QUERY_INTERRUPTED:
	case ER_CONNECTION_KILLED: case ER_STATEMENT_TIMEOUT:
	case ER_DISK_FULL: case ER_RECORD_FILE_FULL: case ER_READ_ONLY_MODE:
	case ER_OPTION_PREVENTS_STATEMENT: case ER_UNKNOWN_COM_ERROR:
	case ER_HOST_IS_BLOCKED:
		return STORE_RETRY;
	default:
		return STORE_FATAL;
	}
}

static char *store_strdup(const char *s)
{
	return xstrdup(s ? s : "");
}

struct store *store_new(const struct aggregator_mariadb *cfg)
{
	struct store *st = xcalloc(1, sizeof(*st));

	st->cfg.host = store_strdup(cfg->host);
	st->cfg.socket = store_strdup(cfg->socket);
	st->cfg.port = cfg->port;
	st->cfg.user = store_strdup(cfg->user);
	st->cfg.password = store_strdup(cfg->password);
	st->cfg.database = store_strdup(cfg->database);
	st->cfg.tls.ca = store_strdup(cfg->tls.ca);
	st->cfg.tls.cert = store_strdup(cfg->tls.cert);
	st->cfg.tls.key = store_strdup(cfg->tls.key);
	st->cfg.tls.verify_server_cert = cfg->tls.verify_server_cert;
	buf_init(&st->sql, STORE_STATEMENT_MAX);
	return st;
}

void store_disconnect(struct store *st)
{
	if (st->db)
		mysql_close(st->db);
	st->db = NULL;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	store_disconnect(st);
	free(st->cfg.host);
	free(st->cfg.socket);
	free(st->cfg.user);
	free(st->cfg.password);
	free(st->cfg.database);
	free(st->cfg.tls.ca);
	free(st->cfg.tls.cert);
	free(st->cfg.tls.key);
	buf_fini(&st->sql);
	free(st);
}

/* Describes the last error of st->db into err; returns its number. */
static unsigned int store_describe(struct store *st, const char *what,
				   char *err, size_t errlen)
{
	unsigned int code = mysql_errno(st->db);

	snprintf(err, errlen, "%.60s: %s (error %u)", what,
		 mysql_error(st->db), code);
	return code;
}

void store_abort(struct store *st)
{
	if (st->db && mysql_rollback(st->db))
		store_disconnect(st);
}

/* The class of error code; leaves no transaction open. */
static int store_settle(struct store *st, unsigned int code)
{
	int rc = store_classify(code);

	if (code == ER_LOCK_DEADLOCK || code == ER_LOCK_WAIT_TIMEOUT)
		rc = STORE_CONFLICT;
	if (rc == STORE_RETRY)
		store_disconnect(st);
	else
		store_abort(st);
	return rc;
}

int store_outward(int rc)
{
	return rc == STORE_CONFLICT ? STORE_RETRY : rc;
}

int store_fail(struct store *st, const char *what, char *err, size_t errlen)
{
	return store_settle(st, store_describe(st, what, err, errlen));
}

int store_exec(struct store *st, const char *sql, size_t len,
	       char *err, size_t errlen)
{
	if (mysql_real_query(st->db, sql, len) == 0)
		return 0;
	return store_fail(st, sql, err, errlen);
}

int store_execstr(struct store *st, const char *sql, char *err,
		  size_t errlen)
{
	return store_exec(st, sql, strlen(sql), err, errlen);
}

int store_toolong(struct store *st, const char *what, char *err,
		  size_t errlen)
{
	snprintf(err, errlen, "%s: statement too long", what);
	store_abort(st);
	return STORE_FATAL;
}

int store_select(struct store *st, const char *sql, size_t len,
		 store_row_fn fn, void *arg, char *err, size_t errlen)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	unsigned int code = 0;
	int rc;

	rc = store_exec(st, sql, len, err, errlen);
	if (rc)
		return rc;
	res = mysql_use_result(st->db);
	if (!res)
		return store_fail(st, sql, err, errlen);
	while ((row = mysql_fetch_row(res)))
		fn(arg, row);
	if (mysql_errno(st->db))
		code = store_describe(st, sql, err, errlen);
	mysql_free_result(res);
	return code ? store_settle(st, code) : 0;
}

static void store_first_int(void *arg, MYSQL_ROW row)
{
	long long *v = arg;

	*v = row[0] ? strtoll(row[0], NULL, 10) : -1;
}

/* The first column of sql's last row as a number; -1 when NULL or none. */
static int store_select_int(struct store *st, const char *sql, long long *v,
			    char *err, size_t errlen)
{
	*v = -1;
	return store_select(st, sql, strlen(sql), store_first_int, v, err,
			    errlen);
}

int store_commit_plain(struct store *st, char *err, size_t errlen)
{
	if (mysql_commit(st->db) == 0)
		return 0;
	return store_fail(st, "COMMIT", err, errlen);
}

/* The statement size, on a fresh connection. */
static int store_statement_size(struct store *st, char *err, size_t errlen)
{
	long long packet;
	int rc;

	rc = store_select_int(st, "SELECT @@max_allowed_packet", &packet, err,
			      errlen);
	if (!rc)
		rc = store_commit_plain(st, err, errlen);
	if (rc)
		return rc;
	packet -= STORE_PACKET_SLACK;
	st->max_statement = packet > STORE_STATEMENT_MAX ? STORE_STATEMENT_MAX :
			    packet > STORE_SQL_MIN_BYTES ? (size_t)packet :
			    STORE_SQL_MIN_BYTES;
	return 0;
}

int store_connect(struct store *st, char *err, size_t errlen)
{
	unsigned int code;
	int rc;

	if (st->db)
		return 0;
	st->db = db_connect(&st->cfg, &store_db_session, &code, err, errlen);
	if (!st->db)
		return store_classify(code);
	rc = store_statement_size(st, err, errlen);
	if (rc)
		store_disconnect(st);
	return rc;
}

/* --- schema ------------------------------------------------------------ */

static int store_lock(struct store *st, char *err, size_t errlen)
{
	long long got;
	int rc;

	rc = store_select_int(st, "SELECT GET_LOCK(LEFT(CONCAT("
			      "'logtally_schema:', DATABASE()), 64), 30)",
			      &got, err, errlen);
	if (rc)
		return rc;
	if (got == 1)
		return 0;
	snprintf(err, errlen, "the schema lock is held by another session "
		 "(an aggregator migrating?) for over 30 s");
	return STORE_RETRY;
}

static void store_unlock(struct store *st)
{
	if (st->db && mysql_query(st->db, "DO RELEASE_ALL_LOCKS()"))
		store_disconnect(st);
}

static int store_apply(struct store *st, const struct store_sql_step *step,
		       char *err, size_t errlen)
{
	size_t i;
	int rc = 0;

	logging_info("store: migrating %s to schema version %u",
		     st->cfg.database, step->version);
	for (i = 0; step->ddl[i] && !rc; i++)
		rc = store_execstr(st, step->ddl[i], err, errlen);
	buf_reset(&st->sql);
	if (!rc && buf_printf(&st->sql, "INSERT INTO logtally_schema "
			      "(version, applied_at) VALUES (%u, NOW())",
			      step->version))
		return store_toolong(st, "schema version", err, errlen);
	if (!rc)
		rc = store_exec(st, buf_str(&st->sql), buf_len(&st->sql), err,
				errlen);
	if (!rc)
		rc = store_commit_plain(st, err, errlen);
	return rc;
}

static int store_migrate(struct store *st, char *err, size_t errlen)
{
	const struct store_sql_step *step;
	long long version;
	int rc;

	rc = store_execstr(st, store_sql_schema_table, err, errlen);
	if (!rc)
		rc = store_select_int(st, "SELECT COALESCE(MAX(version), 0) "
				      "FROM logtally_schema", &version, err,
				      errlen);
	if (rc)
		return rc;
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "database %s has schema version %lld, "
			 "newer than this program's %d: upgrade logtally",
			 st->cfg.database, version, STORE_SCHEMA_VERSION);
		store_abort(st);
		return STORE_FATAL;
	}
	for (step = store_sql_steps; step->ddl && !rc; step++)
		if (step->version > version)
			rc = store_apply(st, step, err, errlen);
	if (!rc)
		rc = store_commit_plain(st, err, errlen);
	return rc;
}

int store_open(struct store *st, char *err, size_t errlen)
{
	int rc;

	rc = store_connect(st, err, errlen);
	if (!rc)
		rc = store_lock(st, err, errlen);
	if (rc)
		return store_outward(rc);
	rc = store_migrate(st, err, errlen);
	store_unlock(st);
	return store_outward(rc);
}

/* --- statements of many rows ------------------------------------------ */

int store_send(void *arg, const char *sql, size_t len)
{
	struct store_call *call = arg;

	return store_exec(call->st, sql, len, call->err, call->errlen);
}

int store_batch_rc(struct store *st, int rc, const char *what, char *err,
		   size_t errlen)
{
	if (rc == -EMSGSIZE || rc == -EINVAL)
		return store_toolong(st, what, err, errlen);
	return rc;
}

int store_batch(struct store *st, const char *head, const char *tail,
		size_t n, store_sql_row_fn row, const void *row_arg, char *err,
		size_t errlen)
{
	struct store_call call = {st, err, errlen};
	int rc;

	rc = store_sql_batch(head, tail, n, row, (void *)row_arg,
			     st->max_statement, store_send, &call);
	return store_batch_rc(st, rc, head, err, errlen);
}

int store_select_parts(struct store *st, const char *head, const char *topic,
		       const int32_t *parts, size_t n, const char *tail,
		       store_row_fn fn, void *arg, char *err, size_t errlen)
{
	size_t from, to;
	int rc = 0;

	for (from = 0; from < n && !rc; from = to) {
		to = n - from > STORE_PART_CHUNK ? from + STORE_PART_CHUNK : n;
		buf_reset(&st->sql);
		if (store_sql_partitions(&st->sql, head, topic, parts + from,
					 to - from, tail))
			return store_toolong(st, head, err, errlen);
		rc = store_select(st, buf_str(&st->sql), buf_len(&st->sql), fn,
				  arg, err, errlen);
	}
	return rc;
}
