/*
 * Unit tests of aggregator/store against the dev MariaDB (LOGTALLY_DB_*;
 * without LOGTALLY_DB_HOST the program reports a TAP skip). Each test gets
 * a fresh database logtally_t_store_<pid>, dropped at the end; the test
 * reads it back through a connection of its own. Faults are real: a port
 * with nothing listening, the store's connection KILLed between calls or
 * around its COMMIT (mysql_commit is wrapped with -Wl,--wrap), and a
 * deadlock made with a second connection that the server resolves by
 * rolling back the store's transaction, which store_flush() replays.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "aggregator/store.h"
#include "aggregator/store_sql.h"
#include "logging.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

#define TOPIC "weblogs"
#define T0 INT64_C(1795551980)          /* 2026-11-24 20:26:20 UTC */

static const char *const names[] = {"url", "status", "hashtag"};

static struct {
	struct aggregator_mariadb cfg;  /* points at db */
	char db[64];                    /* this test's database */
	MYSQL *adm;                     /* the test's own view, no default db */
	int log_fd;                     /* the store's log lines */
} env;

/* --- the test's own connection ------------------------------------------- */

static MYSQL *connect_to(const char *db, unsigned long flags)
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

static void sql_on(MYSQL *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sql_on(MYSQL *m, const char *fmt, ...)
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

#define sql(...) sql_on(env.adm, __VA_ARGS__)

/* The first column of the first row, as a number (-1 for NULL). */
static long long sql_int(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static long long sql_int(const char *fmt, ...)
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

static long long stored_offset(int32_t partition)
{
	return sql_int("SELECT next_offset FROM %s.logtally_offsets WHERE "
		       "topic = '" TOPIC "' AND kafka_partition = %d", env.db,
		       partition);
}

static long long total_hits(void)
{
	return sql_int("SELECT COALESCE(SUM(hits), 0) FROM %s.counts", env.db);
}

/* --- fixtures ------------------------------------------------------------ */

static int group_setup(void **state)
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

static int group_teardown(void **state)
{
	sql("DROP DATABASE IF EXISTS %s", env.db);
	sql("DROP DATABASE IF EXISTS %s_sql", env.db);
	mysql_close(env.adm);
	close(env.log_fd);
	mysql_library_end();
	return 0;
}

/* A fresh database and an open store on it. */
static int setup(void **state)
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

static int teardown(void **state)
{
	store_free(*state);
	return 0;
}

/* Offsets of partitions 0..n-1 loaded, so that a flush can move them. */
static void load(struct store *st, size_t n, int64_t *offsets)
{
	int32_t parts[16];
	char err[512];
	size_t i;

	for (i = 0; i < n; i++)
		parts[i] = (int32_t)i;
	assert_int_equal(store_load_offsets(st, TOPIC, parts, n, offsets, err,
					    sizeof(err)), 0);
}

static int do_flush(struct store *st, const struct store_offset *offsets,
		    size_t noffsets, const struct window_row *rows, size_t nrows,
		    const struct store_source *sources, size_t nsources,
		    int32_t *lost, char *err, size_t errlen)
{
	struct store_flush fl = {TOPIC, offsets, noffsets, rows, nrows, names,
				 sources, nsources};

	*lost = -1;
	return store_flush(st, &fl, lost, err, errlen);
}

#define ROW(size, dim, start, value, hits) \
	{size, dim, start, value, sizeof(value) - 1, hits}

static const struct window_row basic_rows[] = {
	ROW(5, 0, T0, "/", 3),
	ROW(5, 0, T0, "/index.html", 2),
	ROW(5, 1, T0, "200", 5),
	ROW(60, 0, T0 - 20, "/", 3),
	ROW(60, 0, T0 - 20, "/index.html", 2),
	ROW(60, 1, T0 - 20, "200", 5),
};
#define NBASIC (sizeof(basic_rows) / sizeof(basic_rows[0]))

/* --- schema -------------------------------------------------------------- */

static void test_open_is_idempotent(void **state)
{
	struct store *st = *state, *again;
	char err[512];

	assert_int_equal(store_open(st, err, sizeof(err)), 0);
	again = store_new(&env.cfg);
	assert_int_equal(store_open(again, err, sizeof(err)), 0);
	store_free(again);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.logtally_schema",
				 env.db), 1);
	assert_int_equal(sql_int("SELECT version FROM %s.logtally_schema",
				 env.db), STORE_SCHEMA_VERSION);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM information_schema.TABLES"
				 " WHERE TABLE_SCHEMA = '%s'", env.db), 4);
	/* the counts key must stay within InnoDB's 3072 bytes */
	assert_true(sql_int("SELECT SUM(CASE DATA_TYPE WHEN 'varchar' THEN "
			    "CHARACTER_OCTET_LENGTH + 2 WHEN 'datetime' THEN 5 "
			    "ELSE 4 END) FROM information_schema.COLUMNS WHERE "
			    "TABLE_SCHEMA = '%s' AND TABLE_NAME = 'counts' AND "
			    "COLUMN_KEY = 'PRI'", env.db) <= 3072);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

static void apply_schema_sql(const char *db)
{
	const char *top = getenv("top_srcdir") ?: TOP_SRCDIR;
	char path[1024];
	char *text;
	MYSQL *m;
	int more;

	snprintf(path, sizeof(path), "%s/config/schema.sql", top);
	text = read_file(path);
	m = connect_to(db, CLIENT_MULTI_STATEMENTS);
	sql_on(m, "%s", text);
	do {
		mysql_free_result(mysql_store_result(m));
		more = mysql_next_result(m);
		if (more > 0)
			print_error("schema.sql: %s\n", mysql_error(m));
		assert_true(more <= 0);
	} while (more == 0);
	mysql_close(m);
	free(text);
}

static char *show_create(const char *db, const char *table)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	char *s;

	sql("SHOW CREATE TABLE %s.%s", db, table);
	res = mysql_store_result(env.adm);
	assert_non_null(res);
	row = mysql_fetch_row(res);
	assert_non_null(row);
	s = strdup(row[1]);
	mysql_free_result(res);
	return s;
}

/* config/schema.sql and store.c make the same tables. */
static void test_schema_sql_agrees(void **state)
{
	static const char *const tables[] = {
		"counts", "logtally_schema", "logtally_offsets", "logtally_sources",
	};
	struct aggregator_mariadb cfg = env.cfg;
	char other[80], err[512];
	struct store *st;
	char *a, *b;
	size_t i;

	snprintf(other, sizeof(other), "%s_sql", env.db);
	sql("DROP DATABASE IF EXISTS %s", other);
	sql("CREATE DATABASE %s", other);
	apply_schema_sql(other);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		a = show_create(env.db, tables[i]);
		b = show_create(other, tables[i]);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	assert_int_equal(sql_int("SELECT COUNT(*) FROM information_schema.TABLES"
				 " WHERE TABLE_SCHEMA = '%s'", other), 4);
	/* the store takes the hand-made schema as its own */
	cfg.database = other;
	st = store_new(&cfg);
	assert_int_equal(store_open(st, err, sizeof(err)), 0);
	store_free(st);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.logtally_schema "
				 "WHERE version = %d", other,
				 STORE_SCHEMA_VERSION), 1);
	sql("DROP DATABASE %s", other);
}

static void test_newer_schema_is_fatal(void **state)
{
	struct store *st;
	char err[512];
	int64_t offsets[1];

	sql("INSERT INTO %s.logtally_schema VALUES (%d, NOW())", env.db,
	    STORE_SCHEMA_VERSION + 1);
	st = store_new(&env.cfg);
	assert_int_equal(store_open(st, err, sizeof(err)), STORE_FATAL);
	assert_non_null(strstr(err, "newer than this program"));
	/* nothing was left open: the lock is free and the store still works */
	assert_int_equal(sql_int("SELECT IS_FREE_LOCK('logtally_schema:%s')",
				 env.db), 1);
	load(st, 1, offsets);
	store_free(st);
}

/* --- offsets, flush ------------------------------------------------------ */

static void test_load_offsets_creates_rows(void **state)
{
	struct store *st = *state;
	int64_t offsets[3];

	load(st, 3, offsets);
	assert_int_equal(offsets[0], STORE_OFFSET_NONE);
	assert_int_equal(offsets[2], STORE_OFFSET_NONE);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.logtally_offsets "
				 "WHERE next_offset = %d", env.db,
				 STORE_OFFSET_NONE), 3);
	sql("UPDATE %s.logtally_offsets SET next_offset = 42 WHERE "
	    "kafka_partition = 1", env.db);
	load(st, 3, offsets);
	assert_int_equal(offsets[0], STORE_OFFSET_NONE);
	assert_int_equal(offsets[1], 42);
	assert_int_equal(offsets[2], STORE_OFFSET_NONE);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.logtally_offsets",
				 env.db), 3);
}

static void test_flush_commits_and_adds(void **state)
{
	struct store *st = *state;
	struct store_offset off[2] = {{0, STORE_OFFSET_NONE, 10},
				      {1, STORE_OFFSET_NONE, 7}};
	struct store_source src[2] = {{"host-a", 0, 900}, {"host-b", 1, 50}};
	int64_t offsets[2];
	char err[512];
	int32_t lost;

	load(st, 2, offsets);
	assert_int_equal(do_flush(st, off, 2, basic_rows, NBASIC, src, 2, &lost,
				  err, sizeof(err)), 0);
	assert_int_equal(stored_offset(0), 10);
	assert_int_equal(stored_offset(1), 7);
	assert_int_equal(total_hits(), 20);
	/* a second flush adds to the same rows; a lower high mark stays */
	off[0] = (struct store_offset){0, 10, 25};
	off[1] = (struct store_offset){1, 7, 7};
	src[0].high = 100;
	src[1] = (struct store_source){"host-b", 2, 60};
	assert_int_equal(do_flush(st, off, 2, basic_rows, NBASIC, src, 2, &lost,
				  err, sizeof(err)), 0);
	assert_int_equal(stored_offset(0), 25);
	assert_int_equal(stored_offset(1), 7);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.counts", env.db), NBASIC);
	assert_int_equal(sql_int("SELECT hits FROM %s.counts WHERE window_seconds"
				 " = 60 AND dimension = 'status' AND window_start"
				 " = '2026-11-24 20:26:00'", env.db), 10);
	assert_int_equal(total_hits(), 40);
	assert_int_equal(sql_int("SELECT high_offset FROM %s.logtally_sources "
				 "WHERE source = 'host-a'", env.db), 900);
	assert_int_equal(sql_int("SELECT high_offset * 10 + kafka_partition FROM "
				 "%s.logtally_sources WHERE source = 'host-b'",
				 env.db), 602);
}

static void test_cas_miss_commits_nothing(void **state)
{
	struct store *st = *state;
	struct store_offset off[2] = {{0, STORE_OFFSET_NONE, 10},
				      {1, STORE_OFFSET_NONE, 7}};
	struct store_source src[1] = {{"host-a", 0, 900}};
	int64_t offsets[2];
	char err[512];
	int32_t lost;

	load(st, 2, offsets);
	sql("UPDATE %s.logtally_offsets SET next_offset = 99 WHERE "
	    "kafka_partition = 1", env.db);
	assert_int_equal(do_flush(st, off, 2, basic_rows, NBASIC, src, 1, &lost,
				  err, sizeof(err)), STORE_LOST);
	assert_int_equal(lost, 1);
	assert_int_equal(stored_offset(0), STORE_OFFSET_NONE);
	assert_int_equal(stored_offset(1), 99);
	assert_int_equal(total_hits(), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.logtally_sources",
				 env.db), 0);
	/* without the lost partition it goes through */
	assert_int_equal(do_flush(st, off, 1, basic_rows, NBASIC, src, 1, &lost,
				  err, sizeof(err)), 0);
	assert_int_equal(stored_offset(0), 10);
	assert_int_equal(total_hits(), 20);
}

/* A bad statement is fatal and rolls back; the store goes on working. */
static void test_fatal_rolls_back(void **state)
{
	static const char *const bad_names[] = {
		"a_dimension_name_longer_than_32_characters",
	};
	struct store *st = *state;
	struct store_offset off[1] = {{0, STORE_OFFSET_NONE, 10}};
	struct window_row row = ROW(5, 0, T0, "/", 1);
	struct store_flush fl = {TOPIC, off, 1, &row, 1, bad_names, NULL, 0};
	int64_t offsets[1];
	char err[512];
	int32_t lost;

	load(st, 1, offsets);
	assert_int_equal(store_flush(st, &fl, &lost, err, sizeof(err)),
			 STORE_FATAL);
	assert_non_null(strstr(err, "1406"));   /* ER_DATA_TOO_LONG */
	assert_int_equal(stored_offset(0), STORE_OFFSET_NONE);
	assert_int_equal(do_flush(st, off, 1, &row, 1, NULL, 0, &lost, err,
				  sizeof(err)), 0);
	assert_int_equal(stored_offset(0), 10);
	assert_int_equal(total_hits(), 1);
}

struct value_case {
	const char *bytes;
	size_t len;
};

#define CASE(s) {s, sizeof(s) - 1}

static void check_stored_values(const struct value_case *cases, size_t n)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	unsigned long *lens;
	size_t i, seen = 0;

	sql("SELECT value, hits FROM %s.counts", env.db);
	res = mysql_store_result(env.adm);
	assert_non_null(res);
	while ((row = mysql_fetch_row(res))) {
		lens = mysql_fetch_lengths(res);
		i = strtoull(row[1], NULL, 10) - 1;     /* hits name the case */
		assert_true(i < n);
		assert_int_equal(lens[0], cases[i].len);
		assert_memory_equal(row[0], cases[i].bytes, cases[i].len);
		seen++;
	}
	mysql_free_result(res);
	assert_int_equal(seen, n);
}

static void test_values_stored_verbatim(void **state)
{
	static char e512[1025], smile512[2049];
	struct value_case cases[] = {
		CASE("Foo"), CASE("foo"), CASE("FOO"), CASE("a"), CASE("a "),
		CASE("a  "), CASE(" a"), CASE("');--"), CASE("'; DROP TABLE counts; --"),
		CASE("<script>alert(\"x\")</script>"), CASE("back\\slash\\"),
		CASE("\\'"), CASE("nl\ncr\rz\032"), CASE("nul\0inside"),
		CASE("a\xc3\xb1oNuevo"), CASE("ano\xcc\x83Nuevo"), CASE("%23tag"),
		{e512, 1024}, {smile512, 2048},
	};
	size_t n = sizeof(cases) / sizeof(cases[0]), i;
	struct window_row rows[sizeof(cases) / sizeof(cases[0])];
	struct store *st = *state;
	struct store_offset off[1] = {{0, STORE_OFFSET_NONE, 1}};
	int64_t offsets[1];
	char err[512];
	int32_t lost;

	for (i = 0; i < 512; i++) {
		memcpy(e512 + 2 * i, "\xc3\xa9", 2);
		memcpy(smile512 + 4 * i, "\xf0\x9f\x98\x80", 4);
	}
	for (i = 0; i < n; i++)
		rows[i] = (struct window_row){5, 0, T0, cases[i].bytes,
					      cases[i].len, i + 1};
	load(st, 1, offsets);
	assert_int_equal(do_flush(st, off, 1, rows, n, NULL, 0, &lost, err,
				  sizeof(err)), 0);
	check_stored_values(cases, n);
}

struct seen_sources {
	char keys[8][32];
	int64_t marks[8];       /* high * 10 + partition */
	size_t n;
};

static void seen_source(void *arg, const char *source, int32_t partition,
			int64_t high)
{
	struct seen_sources *seen = arg;

	assert_true(seen->n < 8);
	snprintf(seen->keys[seen->n], sizeof(seen->keys[0]), "%s", source);
	seen->marks[seen->n++] = high * 10 + partition;
}

static int64_t seen_mark(const struct seen_sources *seen, const char *key)
{
	size_t i;

	for (i = 0; i < seen->n; i++)
		if (!strcmp(seen->keys[i], key))
			return seen->marks[i];
	return -1;
}

static void test_sources_verbatim_and_by_partition(void **state)
{
	struct store_source src[5] = {
		{"key'one", 0, 10}, {"key\\two", 1, 20}, {"Key", 2, 30},
		{"key", 2, 40}, {"\xff\xfe not UTF-8 \xc3", 0, 50},
	};
	struct store_offset off[1] = {{0, STORE_OFFSET_NONE, 1}};
	struct seen_sources seen = {.n = 0};
	struct store *st = *state;
	int32_t parts[2] = {0, 2}, lost;
	int64_t offsets[1];
	char err[512];

	load(st, 1, offsets);
	assert_int_equal(do_flush(st, off, 1, NULL, 0, src, 5, &lost, err,
				  sizeof(err)), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.logtally_sources",
				 env.db), 5);
	assert_int_equal(store_load_sources(st, TOPIC, parts, 2, seen_source,
					    &seen, err, sizeof(err)), 0);
	assert_int_equal(seen.n, 4);
	assert_int_equal(seen_mark(&seen, "\xff\xfe not UTF-8 \xc3"), 500);
	assert_int_equal(seen_mark(&seen, "key'one"), 100);
	assert_int_equal(seen_mark(&seen, "Key"), 302);
	assert_int_equal(seen_mark(&seen, "key"), 402);
	assert_int_equal(seen_mark(&seen, "key\\two"), -1);
}

/* --- statements and speed ------------------------------------------------ */

static int count_statement(void *arg, const char *sql_text, size_t len)
{
	(*(size_t *)arg)++;
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * 10000 distinct keys of 1000 hits each: 10000 rows written, in the
 * statements store_sql cuts them into, whatever the number of hits.
 */
static void test_rows_per_flush(void **state)
{
	enum { N = 10000 };
	struct store *st = *state;
	struct window_row *rows = calloc(N, sizeof(*rows));
	char (*values)[32] = calloc(N, sizeof(*values));
	struct store_offset off[1] = {{0, STORE_OFFSET_NONE, N}};
	size_t i, want = 0;
	long long packet;
	int64_t offsets[1];
	double t, insert_ms, update_ms;
	char err[512];
	int32_t lost;

	assert_non_null(rows);
	assert_non_null(values);
	for (i = 0; i < N; i++) {
		rows[i].window_seconds = 5;
		rows[i].dim = 0;
		rows[i].start_s = T0;
		rows[i].len = (size_t)sprintf(values[i], "/page/%05zu", i);
		rows[i].value = values[i];
		rows[i].hits = 1000;
	}
	packet = sql_int("SELECT @@max_allowed_packet") - 1024;
	assert_int_equal(store_sql_upserts("counts", rows, N, names,
					   packet < 1048576 ? (size_t)packet : 1048576,
					   count_statement, &want), 0);
	load(st, 1, offsets);
	t = now_ms();
	assert_int_equal(do_flush(st, off, 1, rows, N, NULL, 0, &lost, err,
				  sizeof(err)), 0);
	insert_ms = now_ms() - t;
	assert_int_equal(store_last_statements(st), want);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.counts", env.db), N);
	assert_int_equal(total_hits(), N * 1000LL);
	off[0] = (struct store_offset){0, N, 2 * N};
	t = now_ms();
	assert_int_equal(do_flush(st, off, 1, rows, N, NULL, 0, &lost, err,
				  sizeof(err)), 0);
	update_ms = now_ms() - t;
	assert_int_equal(total_hits(), 2 * N * 1000LL);
	for (i = 0; i < N; i++)
		rows[i].start_s = T0 + 5;
	off[0] = (struct store_offset){0, 2 * N, 3 * N};
	t = now_ms();
	assert_int_equal(do_flush(st, off, 1, rows, N, NULL, 0, &lost, err,
				  sizeof(err)), 0);
	print_message("# flush of %d rows in %zu statement(s): %.1f ms new keys"
		      " (fresh table), %.1f ms existing keys, %.1f ms new keys\n",
		      N, want, insert_ms, update_ms, now_ms() - t);
	free(rows);
	free(values);
}

/* --- retention ------------------------------------------------------------ */

static void test_expire_in_batches(void **state)
{
	struct store *st = *state;
	char err[512];
	int i;

	for (i = 0; i < 10; i++)
		sql("INSERT INTO %s.counts VALUES (5, FROM_UNIXTIME(%" PRId64
		    "), 'url', '/', 1), (5, FROM_UNIXTIME(%" PRId64 "), "
		    "'status', '200', 1), (60, FROM_UNIXTIME(%" PRId64 "), "
		    "'url', '/', 1)", env.db, T0 + 5 * i, T0 + 5 * i,
		    T0 - 60 * i);
	/* starts before T0 + 25: five windows of two rows */
	assert_int_equal(store_expire(st, 5, T0 + 25, 3, err, sizeof(err)), 3);
	assert_int_equal(store_expire(st, 5, T0 + 25, 3, err, sizeof(err)), 3);
	assert_int_equal(store_expire(st, 5, T0 + 25, 3, err, sizeof(err)), 3);
	assert_int_equal(store_expire(st, 5, T0 + 25, 3, err, sizeof(err)), 1);
	assert_int_equal(store_expire(st, 5, T0 + 25, 3, err, sizeof(err)), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.counts WHERE "
				 "window_seconds = 5", env.db), 10);
	assert_int_equal(sql_int("SELECT MIN(window_start) = FROM_UNIXTIME(%"
				 PRId64 ") FROM %s.counts WHERE window_seconds"
				 " = 5", T0 + 25, env.db), 1);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.counts WHERE "
				 "window_seconds = 60", env.db), 10);
}

/* --- faults ---------------------------------------------------------------- */

static void test_classify(void **state)
{
	static const unsigned int retry[] = {
		CR_SERVER_GONE_ERROR, CR_SERVER_LOST, CR_CONNECTION_ERROR,
		CR_CONN_HOST_ERROR, ER_SERVER_SHUTDOWN, ER_CON_COUNT_ERROR,
		ER_QUERY_INTERRUPTED, ER_CONNECTION_KILLED, ER_LOCK_DEADLOCK,
		ER_LOCK_WAIT_TIMEOUT, ER_READ_ONLY_MODE,
	};
	static const unsigned int fatal[] = {
		0, ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR,
		ER_BAD_DB_ERROR, ER_PARSE_ERROR, ER_DATA_TOO_LONG,
		ER_TRUNCATED_WRONG_VALUE_FOR_FIELD, ER_NO_SUCH_TABLE,
		CR_COMMANDS_OUT_OF_SYNC, CR_NET_PACKET_TOO_LARGE,
	};
	size_t i;

	for (i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
		assert_int_equal(store_classify(retry[i]), STORE_RETRY);
	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		assert_int_equal(store_classify(fatal[i]), STORE_FATAL);
}

/* Every call on a server that refuses is STORE_RETRY, and quick. */
static void test_unreachable_is_retry(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	struct aggregator_mariadb cfg = env.cfg;
	struct store_offset off[1] = {{0, STORE_OFFSET_NONE, 1}};
	int32_t part = 0, lost;
	int64_t offset;
	char err[512];
	struct store *st;
	int fd;

	/* bound, not listening: connections are refused, and nobody else
	 * can take the port while we hold it */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	cfg.host = "127.0.0.1";
	cfg.port = ntohs(sa.sin_port);
	st = store_new(&cfg);
	assert_int_equal(store_open(st, err, sizeof(err)), STORE_RETRY);
	assert_non_null(strstr(err, "connect"));
	assert_int_equal(store_load_offsets(st, TOPIC, &part, 1, &offset, err,
					    sizeof(err)), STORE_RETRY);
	assert_int_equal(do_flush(st, off, 1, basic_rows, NBASIC, NULL, 0, &lost,
				  err, sizeof(err)), STORE_RETRY);
	assert_int_equal(store_expire(st, 5, T0, 10, err, sizeof(err)),
			 STORE_RETRY);
	store_free(st);
	close(fd);
}

static void test_refused_login_is_fatal(void **state)
{
	struct aggregator_mariadb cfg = env.cfg;
	char err[512], db[96];
	struct store *st;

	cfg.password = "not the password";
	st = store_new(&cfg);
	assert_int_equal(store_open(st, err, sizeof(err)), STORE_FATAL);
	assert_non_null(strstr(err, "1045"));
	store_free(st);
	cfg = env.cfg;
	snprintf(db, sizeof(db), "%s_missing", env.db);
	cfg.database = db;
	st = store_new(&cfg);
	assert_int_equal(store_open(st, err, sizeof(err)), STORE_FATAL);
	assert_non_null(strstr(err, "1049"));
	store_free(st);
}

/* With a socket, host and port are not used. */
static void test_socket_connects(void **state)
{
	struct aggregator_mariadb cfg = env.cfg;
	const char *socket_path = getenv("LOGTALLY_DB_SOCKET");
	char err[512];
	struct store *st;

	if (!socket_path || !socket_path[0])
		skip();
	cfg.socket = (char *)socket_path;
	cfg.host = "host.invalid";
	cfg.port = 1;
	st = store_new(&cfg);
	if (store_open(st, err, sizeof(err)))
		print_error("store_open: %s\n", err);
	assert_int_equal(store_open(st, err, sizeof(err)), 0);
	store_free(st);
}

/* The id of the one connection using our database, other than ours. */
static long long store_connection_id(void)
{
	assert_int_equal(sql_int("SELECT COUNT(*) FROM information_schema."
				 "PROCESSLIST WHERE DB = '%s' AND ID <> "
				 "CONNECTION_ID()", env.db), 1);
	return sql_int("SELECT ID FROM information_schema.PROCESSLIST WHERE "
		       "DB = '%s' AND ID <> CONNECTION_ID()", env.db);
}

/*
 * The call that finds its connection killed returns STORE_RETRY, having
 * committed nothing; the next call reconnects.
 */
static void test_reconnects_after_kill(void **state)
{
	struct store *st = *state;
	struct store_offset off[1] = {{0, STORE_OFFSET_NONE, 10}};
	long long id;
	int64_t offsets[1];
	char err[512];
	int32_t lost;

	load(st, 1, offsets);
	id = store_connection_id();
	sql("KILL CONNECTION %lld", id);
	assert_int_equal(do_flush(st, off, 1, basic_rows, NBASIC, NULL, 0, &lost,
				  err, sizeof(err)), STORE_RETRY);
	assert_int_equal(stored_offset(0), STORE_OFFSET_NONE);
	assert_int_equal(total_hits(), 0);
	assert_int_equal(do_flush(st, off, 1, basic_rows, NBASIC, NULL, 0, &lost,
				  err, sizeof(err)), 0);
	assert_true(store_connection_id() != id);
	assert_int_equal(stored_offset(0), 10);
	assert_int_equal(total_hits(), 20);
	sql("KILL CONNECTION %lld", store_connection_id());
	assert_int_equal(store_expire(st, 5, T0 + 5, 100, err, sizeof(err)),
			 STORE_RETRY);
	assert_int_equal(store_expire(st, 5, T0 + 5, 100, err, sizeof(err)), 3);
}

/* mysql_commit, wrapped: the connection dies just before or after it. */
enum inject { INJECT_NONE, INJECT_KILL_BEFORE, INJECT_KILL_AFTER };
static enum inject inject;
static int inject_answered;     /* the killed connection still answered */

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

static int log_contains(const char *needle)
{
	char text[65536];
	ssize_t n;

	n = pread(env.log_fd, text, sizeof(text) - 1, 0);
	assert_true(n >= 0);
	text[n] = '\0';
	return strstr(text, needle) != NULL;
}

static void test_commit_answer_lost_after_commit(void **state)
{
	struct store *st = *state;
	struct store_offset off[1] = {{0, STORE_OFFSET_NONE, 10}};
	int64_t offsets[1];
	char err[512];
	int32_t lost;

	load(st, 1, offsets);
	inject = INJECT_KILL_AFTER;
	inject_answered = 0;
	assert_int_equal(do_flush(st, off, 1, basic_rows, NBASIC, NULL, 0, &lost,
				  err, sizeof(err)), 0);
	assert_int_equal(inject_answered, 0);
	assert_true(log_contains("but the flush had committed"));
	assert_int_equal(stored_offset(0), 10);
	assert_int_equal(total_hits(), 20);
	off[0] = (struct store_offset){0, 10, 20};
	assert_int_equal(do_flush(st, off, 1, basic_rows, NBASIC, NULL, 0, &lost,
				  err, sizeof(err)), 0);
	assert_int_equal(total_hits(), 40);
}

static void test_commit_answer_lost_before_commit(void **state)
{
	struct store *st = *state;
	struct store_offset off[1] = {{0, STORE_OFFSET_NONE, 10}};
	int64_t offsets[1];
	char err[512];
	int32_t lost;

	load(st, 1, offsets);
	inject = INJECT_KILL_BEFORE;
	assert_int_equal(do_flush(st, off, 1, basic_rows, NBASIC, NULL, 0, &lost,
				  err, sizeof(err)), STORE_RETRY);
	assert_non_null(strstr(err, "nothing was committed"));
	assert_int_equal(stored_offset(0), STORE_OFFSET_NONE);
	assert_int_equal(total_hits(), 0);
	assert_int_equal(do_flush(st, off, 1, basic_rows, NBASIC, NULL, 0, &lost,
				  err, sizeof(err)), 0);
	assert_int_equal(stored_offset(0), 10);
	assert_int_equal(total_hits(), 20);
}

struct flusher {
	struct store *st;
	const struct store_offset *off;
	size_t n;
	int rc;
	char err[512];
};

static void *flusher_run(void *arg)
{
	struct flusher *f = arg;
	int32_t lost;

	f->rc = do_flush(f->st, f->off, f->n, basic_rows, NBASIC, NULL, 0, &lost,
			 f->err, sizeof(f->err));
	return NULL;
}

/* Whether the store's UPDATE of partition 1 is running (so: waiting). */
static int store_waits_for_partition_1(void)
{
	return sql_int("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
		       "WHERE DB = '%s' AND INFO LIKE 'UPDATE logtally_offsets"
		       "%%kafka_partition = 1 AND%%'", env.db) == 1;
}

/*
 * A second transaction, heavier (so that the server rolls back the store's
 * rather than its own), holds partition 1 while the store holds 0, then
 * asks for 0: a deadlock. That the second one's UPDATE returns at all
 * means the store's transaction was rolled back; store_flush() must replay
 * it and succeed, with the counts written once.
 */
static void test_deadlock_is_replayed(void **state)
{
	struct store_offset off[2] = {{0, STORE_OFFSET_NONE, 10},
				      {1, STORE_OFFSET_NONE, 7}};
	struct flusher f = {*state, off, 2, 1, ""};
	struct timespec pause = {0, 5000000};
	int64_t offsets[2];
	pthread_t thread;
	MYSQL *other;
	int i;

	load(f.st, 2, offsets);
	sql("CREATE TABLE %s.heavy (id INT PRIMARY KEY)", env.db);
	other = connect_to(env.db, 0);
	sql_on(other, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
	sql_on(other, "START TRANSACTION");
	sql_on(other, "INSERT INTO heavy SELECT seq FROM seq_1_to_5000");
	sql_on(other, "UPDATE logtally_offsets SET updated_at = NOW(3) WHERE "
	       "topic = '" TOPIC "' AND kafka_partition = 1");
	assert_int_equal(pthread_create(&thread, NULL, flusher_run, &f), 0);
	for (i = 0; i < 4000 && !store_waits_for_partition_1(); i++)
		nanosleep(&pause, NULL);
	assert_true(i < 4000);
	sql_on(other, "UPDATE logtally_offsets SET updated_at = NOW(3) WHERE "
	       "topic = '" TOPIC "' AND kafka_partition = 0");
	sql_on(other, "COMMIT");
	assert_int_equal(pthread_join(thread, NULL), 0);
	mysql_close(other);
	if (f.rc)
		print_error("store_flush: %s\n", f.err);
	assert_int_equal(f.rc, 0);
	assert_true(log_contains("replaying a flush"));
	assert_true(log_contains("(error 1213)"));      /* ER_LOCK_DEADLOCK */
	assert_int_equal(stored_offset(0), 10);
	assert_int_equal(stored_offset(1), 7);
	assert_int_equal(total_hits(), 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_is_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_sql_agrees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_is_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_offsets_creates_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_commits_and_adds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cas_miss_commits_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fatal_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values_stored_verbatim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sources_verbatim_and_by_partition, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rows_per_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire_in_batches, setup, teardown),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_unreachable_is_retry),
		cmocka_unit_test(test_refused_login_is_fatal),
		cmocka_unit_test_setup_teardown(test_socket_connects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnects_after_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_answer_lost_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_answer_lost_before_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadlock_is_replayed, setup, teardown),
	};

	if (!getenv("LOGTALLY_DB_HOST")) {
		printf("1..0 # SKIP LOGTALLY_DB_HOST is unset: eval \"$(scripts/"
		       "dev-services env)\"\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
