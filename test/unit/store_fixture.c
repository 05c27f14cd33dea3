/*
 * store_fixture: the database, connection and rows that test_store.c and
 * test_store_faults.c share (see store_fixture.h). Each program gets a
 * database logtally_t_store_<pid> of its own, so that the two may run at
 * the same time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logging.h"
#include "test/unit/store_fixture.h"

const char *const names[3] = {"url", "status", "hashtag"};

struct store_fixture env;

/* --- the test's own connection ------------------------------------------- */

MYSQL *connect_to(const char *db, unsigned long flags)
{
	MYSQL *m = mysql_init(NULL);

	assert_non_null(m);
	mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (!mysql_real_connect(m, env.cfg.host, env.cfg.user, env.cfg.password,
				db, (unsigned int)env.cfg.port, NULL, flags)) {
		print_error("connect: %s\n", mysql_error(m));
		fail();
	}
	return m;
}

void sql_on(MYSQL *m, const char *fmt, ...)
{
	char q[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	if (mysql_query(m, q)) {
		print_error("%s: %s\n", q, mysql_error(m));
		fail();
	}
}

/* The first column of the first row, as a number (-1 for NULL). */
long long sql_int(const char *fmt, ...)
{
	char q[4096];
	MYSQL_RES *res;
	MYSQL_ROW row;
	long long v;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	sql("%s", q);
	res = mysql_store_result(env.adm);
	assert_non_null(res);
	row = mysql_fetch_row(res);
	assert_non_null(row);
	v = row[0] ? strtoll(row[0], NULL, 10) : -1;
	mysql_free_result(res);
	return v;
}

long long stored_offset(int32_t partition)
{
	return sql_int("SELECT next_offset FROM %s.logtally_offsets WHERE "
		       "topic = '" TOPIC "' AND kafka_partition = %d", env.db,
		       partition);
}

long long total_hits(void)
{
	return sql_int("SELECT COALESCE(SUM(hits), 0) FROM %s.counts", env.db);
}

/* --- fixtures ------------------------------------------------------------ */

int group_setup(void **state)
{
	static char log_path[] = "/tmp/test_store.log.XXXXXX";

	env.cfg.host = getenv("LOGTALLY_DB_HOST");
	env.cfg.port = strtol(getenv("LOGTALLY_DB_PORT") ?: "3306", NULL, 10);
	env.cfg.user = getenv("LOGTALLY_DB_USER") ?: "logtally";
	env.cfg.password = getenv("LOGTALLY_DB_PASSWORD") ?: "";
	env.cfg.socket = "";
	snprintf(env.db, sizeof(env.db), "logtally_t_store_%ld", (long)getpid());
	env.cfg.database = env.db;
	env.adm = connect_to(NULL, 0);
	env.log_fd = mkstemp(log_path);
	assert_true(env.log_fd >= 0);
	unlink(log_path);
	logging_set_output(env.log_fd);
	logging_init("test_store", LOGGING_DEBUG);
	return 0;
}

int group_teardown(void **state)
{
	sql("DROP DATABASE IF EXISTS %s", env.db);
	sql("DROP DATABASE IF EXISTS %s_sql", env.db);
	mysql_close(env.adm);
	close(env.log_fd);
	mysql_library_end();
	return 0;
}

/* A fresh database and an open store on it. */
int setup(void **state)
{
	char err[512];
	struct store *st;

	sql("DROP DATABASE IF EXISTS %s", env.db);
	sql("CREATE DATABASE %s", env.db);
	st = store_new(&env.cfg);
	if (store_open(st, err, sizeof(err))) {
		print_error("store_open: %s\n", err);
		return -1;
	}
	*state = st;
	return 0;
}

int teardown(void **state)
{
	store_free(*state);
	return 0;
}

/* Offsets of partitions 0..n-1 loaded, so that a flush can move them. */
void load(struct store *st, size_t n, int64_t *offsets)
{
	int32_t parts[16];
	char err[512];
	size_t i;

	for (i = 0; i < n; i++)
		parts[i] = (int32_t)i;
	assert_int_equal(store_load_offsets(st, TOPIC, parts, n, offsets, err,
					    sizeof(err)), 0);
}

int do_flush(struct store *st, const struct store_offset *offsets,
	     size_t noffsets, const struct window_row *rows, size_t nrows,
	     const struct store_source *sources, size_t nsources,
	     int32_t *lost, char *err, size_t errlen)
{
	struct store_flush fl = {TOPIC, offsets, noffsets, rows, nrows, names,
				 sources, nsources};

	*lost = -1;
	return store_flush(st, &fl, lost, err, errlen);
}

const struct window_row basic_rows[] = {
	ROW(5, 0, T0, "/", 3),
	ROW(5, 0, T0, "/index.html", 2),
	ROW(5, 1, T0, "200", 5),
	ROW(60, 0, T0 - 20, "/", 3),
	ROW(60, 0, T0 - 20, "/index.html", 2),
	ROW(60, 1, T0 - 20, "200", 5),
};

int store_fixture_skipped(void)
{
	if (getenv("LOGTALLY_DB_HOST"))
		return 0;
	printf("1..0 # SKIP LOGTALLY_DB_HOST is unset: eval \"$(scripts/"
	       "dev-services env)\"\n");
	return 1;
}

/* --- mysql_commit, wrapped: the connection dies just before or after it -- */

enum inject inject;
int inject_answered;

my_bool __real_mysql_commit(MYSQL *m);
my_bool __wrap_mysql_commit(MYSQL *m);
my_bool __wrap_mysql_commit(MYSQL *m)
{
	enum inject what = inject;

	inject = INJECT_NONE;
	if (what == INJECT_NONE)
		return __real_mysql_commit(m);
	if (what == INJECT_KILL_AFTER && __real_mysql_commit(m))
		return 1;
	sql("KILL CONNECTION %lu", mysql_thread_id(m));
	if (what == INJECT_KILL_BEFORE)
		return __real_mysql_commit(m);
	inject_answered = !mysql_query(m, "COMMIT");
	return 1;
}
