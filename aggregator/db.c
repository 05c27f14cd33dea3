/*
 * db: one way to open a MariaDB connection, so that the store and the
 * alerts cannot drift apart on the charset, the timeouts or how a socket
 * is chosen. A connection is handed out fully set up or not at all: any
 * step that fails closes it, and the caller sees only the error number
 * and message, to classify as it sees fit (store_classify() for the
 * store, "try again next round" for the alerts).
 *
 * TLS is all or nothing: when mariadb.tls names any file, the client is
 * told to refuse a server that does not speak TLS (MYSQL_OPT_SSL_ENFORCE)
 * instead of falling back to plain text, and a handshake that fails (a
 * certificate the CA did not sign, a name that is not host) fails the
 * connect with the library's reason.
 */
#include "db.h"

#include <mysql.h>
#include <stdio.h>

/* A dead server is found out quickly; a slow one gets io_timeout_s. */
#define DB_CONNECT_TIMEOUT_S 5

static bool db_tls_wanted(const struct aggregator_mariadb_tls *tls)
{
	return (tls->ca && *tls->ca) || (tls->cert && *tls->cert) ||
	       (tls->key && *tls->key);
}

/* An empty path is no path: NULL, as the client library expects. */
static const char *db_path(const char *path)
{
	return path && *path ? path : NULL;
}

static void db_tls_options(const struct aggregator_mariadb_tls *tls, MYSQL *db)
{
	my_bool enforce = 1, verify = tls->verify_server_cert;

	if (!db_tls_wanted(tls))
		return;
	mysql_options(db, MYSQL_OPT_SSL_ENFORCE, &enforce);
	mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
	mysql_options(db, MYSQL_OPT_SSL_CA, db_path(tls->ca));
	mysql_options(db, MYSQL_OPT_SSL_CERT, db_path(tls->cert));
	mysql_options(db, MYSQL_OPT_SSL_KEY, db_path(tls->key));
}

static void db_options(const struct aggregator_mariadb *cfg,
		       const struct db_session *session, MYSQL *db)
{
	unsigned int connect_s = DB_CONNECT_TIMEOUT_S;
	unsigned int io_s = session->io_timeout_s;
	unsigned int protocol = MYSQL_PROTOCOL_SOCKET;

	mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
	mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &io_s);
	mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &io_s);
	if (cfg->socket && cfg->socket[0])
		mysql_options(db, MYSQL_OPT_PROTOCOL, &protocol);
	db_tls_options(&cfg->tls, db);
}

/* Describes db's last error as done by what, and closes db. */
static MYSQL *db_fail(MYSQL *db, const char *what, unsigned int *code,
		      char *err, size_t errlen)
{
	unsigned int errnum = mysql_errno(db);

	snprintf(err, errlen, "%.60s: %s (error %u)", what, mysql_error(db),
		 errnum);
	if (code)
		*code = errnum;
	mysql_close(db);
	return NULL;
}

static MYSQL *db_session_set(MYSQL *db, const struct db_session *session,
			     unsigned int *code, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; session->sql && session->sql[i]; i++)
		if (mysql_query(db, session->sql[i]))
			return db_fail(db, session->sql[i], code, err, errlen);
	if (session->autocommit_off && mysql_autocommit(db, 0))
		return db_fail(db, "autocommit off", code, err, errlen);
	return db;
}

MYSQL *db_connect(const struct aggregator_mariadb *cfg,
		  const struct db_session *session, unsigned int *code,
		  char *err, size_t errlen)
{
	const char *socket = cfg->socket && cfg->socket[0] ? cfg->socket : NULL;
	MYSQL *db = mysql_init(NULL);

	if (code)
		*code = 0;
	if (!db) {
		snprintf(err, errlen, "mysql_init: out of memory");
		return NULL;
	}
	db_options(cfg, session, db);
	if (!mysql_real_connect(db, socket ? NULL : cfg->host, cfg->user,
				cfg->password, cfg->database,
				(unsigned int)cfg->port, socket,
				session->client_flags))
		return db_fail(db, db_tls_wanted(&cfg->tls) ? "connect (TLS)" :
			       "connect", code, err, errlen);
	return db_session_set(db, session, code, err, errlen);
}
