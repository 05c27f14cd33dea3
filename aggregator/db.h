/*
 * db: opening a connection to the aggregator's MariaDB, the one place that
 * sets the client options (utf8mb4, the connect, read and write timeouts,
 * the socket protocol when a socket is configured, TLS) and a session's
 * settings. The store (flushes, and the HTTP API through store_reader())
 * and the alerts each keep a connection of their own and say here what
 * their session needs; what they do once connected is theirs.
 */
#ifndef LOGTALLY_DB_H
#define LOGTALLY_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "aggregator_config.h"

/* What a connection's user asks of it beyond the common options. */
struct db_session {
	unsigned int io_timeout_s;      /* read and write timeouts */
	unsigned long client_flags;     /* CLIENT_* of mysql_real_connect() */
	const char *const *sql;         /* run in order: NULL-ended, or NULL */
	bool autocommit_off;            /* mysql_autocommit(db, 0) after sql */
};

/*
 * Connect to cfg's database (borrowed for the call) and set session up.
 * Returns the connection, which the caller owns (close it with
 * mysql_close()), or NULL with the reason in err and mysql_errno() of the
 * step that failed in *code unless code is NULL (0 when the client could
 * not even start: a problem retrying cannot fix). Blocks for up to the
 * connect timeout, then for each statement of session->sql up to the
 * read timeout. Call mysql_library_init() first when threads are about.
 */
struct st_mysql;         /* MYSQL of <mysql.h> */
struct st_mysql *db_connect(const struct aggregator_mariadb *cfg,
			    const struct db_session *session,
			    unsigned int *code, char *err, size_t errlen);

#endif
