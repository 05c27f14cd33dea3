/*
 * store_internal: what store.c lends the store's other files: the store
 * object and the helpers that keep its invariant (every call starts
 * connected outside a transaction, or disconnected). A helper that fails
 * has already ended the transaction (rolled back, or the connection
 * dropped) and returns an internal class: a STORE_* of store.h or
 * STORE_CONFLICT, which a public function turns into STORE_RETRY with
 * store_outward() unless it replays. Only the store's files include this;
 * store.c includes none of theirs.
 */
#ifndef LOGTALLY_STORE_INTERNAL_H
#define LOGTALLY_STORE_INTERNAL_H

#include <mysql.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregator_config.h"
#include "buf.h"
#include "store.h"
#include "store_sql.h"

/* Internal class: a deadlock or lock wait, rolled back; replay at once. */
#define STORE_CONFLICT (-4)

struct store {
	struct aggregator_mariadb cfg;  /* strings owned */
	MYSQL *db;                      /* NULL while disconnected */
	size_t max_statement;           /* below max_allowed_packet */
	size_t statements;              /* upserts of the last flush */
	struct buf sql;                 /* the statement being built */
};

/* The arguments of store_send(). */
struct store_call {
	struct store *st;
	char *err;
	size_t errlen;
};

typedef void (*store_row_fn)(void *arg, MYSQL_ROW row);

/* Connect and set the session up, unless connected. */
int store_connect(struct store *st, char *err, size_t errlen);
void store_disconnect(struct store *st);
/* Ends the transaction in progress: rolled back, or the connection gone. */
void store_abort(struct store *st);

/* Describes st->db's last error, done by what, into err; its class. */
int store_fail(struct store *st, const char *what, char *err, size_t errlen);
/* A statement of the program's own that did not fit or could not be built. */
int store_toolong(struct store *st, const char *what, char *err,
		  size_t errlen);
/* The class of a store_sql error: -EMSGSIZE or -EINVAL is store_toolong(). */
int store_batch_rc(struct store *st, int rc, const char *what, char *err,
		   size_t errlen);
/* A deadlock outside store_flush() is for the caller to retry. */
int store_outward(int rc);

int store_exec(struct store *st, const char *sql, size_t len, char *err,
	       size_t errlen);
int store_execstr(struct store *st, const char *sql, char *err,
		  size_t errlen);
/* store_exec() as a store_sql_statement_fn; arg is a struct store_call. */
int store_send(void *arg, const char *sql, size_t len);
int store_commit_plain(struct store *st, char *err, size_t errlen);
/* Runs a SELECT and streams its rows to fn. */
int store_select(struct store *st, const char *sql, size_t len,
		 store_row_fn fn, void *arg, char *err, size_t errlen);
/* "head row,row,... tail" statements of rows 0..n (store_sql_batch()). */
int store_batch(struct store *st, const char *head, const char *tail,
		size_t n, store_sql_row_fn row, const void *row_arg, char *err,
		size_t errlen);
/* A SELECT of topic's partitions parts[0..n), a chunk at a time. */
int store_select_parts(struct store *st, const char *head, const char *topic,
		       const int32_t *parts, size_t n, const char *tail,
		       store_row_fn fn, void *arg, char *err, size_t errlen);

#endif
