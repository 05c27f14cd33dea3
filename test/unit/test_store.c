/*
 * Unit tests of aggregator/store against the dev MariaDB (LOGTALLY_DB_*;
 * without LOGTALLY_DB_HOST the program reports a TAP skip): the schema
 * (config/schema.sql makes the same tables), offsets and flushes in one
 * transaction with compare-and-set, values and source keys stored byte for
 * byte, rows per flush, and expiry. Each test gets a fresh database
 * (store_fixture.c) and reads it back through a connection of its own.
 * The faults are in test_store_faults.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregator/store.h"
#include "aggregator/window.h"
#include "aggregator/store_sql.h"
#include "test/unit/store_fixture.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif


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
				 env.db), STORE_SCHEMA_VERSION);
	assert_int_equal(sql_int("SELECT MAX(version) FROM %s.logtally_schema",
				 env.db), STORE_SCHEMA_VERSION);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM information_schema.TABLES"
				 " WHERE TABLE_SCHEMA = '%s'", env.db), 6);
	/* the latency key too, and its buckets are window.c's */
	assert_true(sql_int("SELECT SUM(CASE DATA_TYPE WHEN 'varchar' THEN "
			    "CHARACTER_OCTET_LENGTH + 2 WHEN 'datetime' THEN 5 "
			    "ELSE 4 END) FROM information_schema.COLUMNS WHERE "
			    "TABLE_SCHEMA = '%s' AND TABLE_NAME = 'latency' AND "
			    "COLUMN_KEY = 'PRI'", env.db) <= 3072);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.latency_buckets",
				 env.db), WINDOW_BUCKETS);
	for (unsigned int b = 0; b + 1 < WINDOW_BUCKETS; b++)
		assert_int_equal(sql_int("SELECT le_us FROM %s.latency_buckets "
					 "WHERE bucket = %u AND le_us = le * "
					 "1000000", env.db, b),
				 window_bucket_le_us[b]);
	assert_int_equal(sql_int("SELECT le_us FROM %s.latency_buckets WHERE "
				 "bucket = %d AND le = '+Inf'", env.db,
				 WINDOW_BUCKETS - 1), -1);
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

/* config/schema.sql and store_sql.c make the same tables. */
static void test_schema_sql_agrees(void **state)
{
	static const char *const tables[] = {
		"counts", "logtally_schema", "logtally_offsets", "logtally_sources",
		"latency", "latency_buckets",
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
				 " WHERE TABLE_SCHEMA = '%s'", other), 6);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.latency_buckets a "
				 "JOIN %s.latency_buckets b USING (bucket) WHERE "
				 "a.le_us <=> b.le_us AND a.le = b.le", env.db,
				 other), WINDOW_BUCKETS);
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

/*
 * A database made by a version 1 aggregator (its DDL, by_time included,
 * and rows) is migrated to the current version: the index goes, the rows
 * stay and gain measures of 0, and a flush then adds to them.
 */
static void test_migrates_from_v1(void **state)
{
	struct store *st;
	char err[512];

	sql("DROP DATABASE %s", env.db);
	sql("CREATE DATABASE %s", env.db);
	sql("USE %s", env.db);
	sql("%s", store_sql_schema_table);
	assert_int_equal(store_sql_steps[0].version, 1);
	for (const char *const *ddl = store_sql_steps[0].ddl; *ddl; ddl++)
		sql("%s", *ddl);
	sql("INSERT INTO logtally_schema VALUES (1, NOW())");
	sql("INSERT INTO counts VALUES (5, FROM_UNIXTIME(%" PRId64 "), 'url', "
	    "'/a', 3), (60, FROM_UNIXTIME(%" PRId64 "), 'url', '/a', 3)", T0, T0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM information_schema."
				 "STATISTICS WHERE TABLE_SCHEMA = '%s' AND "
				 "TABLE_NAME = 'counts' AND INDEX_NAME = "
				 "'by_time'", env.db), 2);

	st = store_new(&env.cfg);
	assert_int_equal(store_open(st, err, sizeof(err)), 0);
	store_free(st);
	assert_int_equal(sql_int("SELECT MAX(version) FROM %s.logtally_schema",
				 env.db), STORE_SCHEMA_VERSION);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM information_schema."
				 "STATISTICS WHERE TABLE_SCHEMA = '%s' AND "
				 "TABLE_NAME = 'counts' AND INDEX_NAME <> "
				 "'PRIMARY'", env.db), 0);
	assert_int_equal(sql_int("SELECT SUM(hits) FROM %s.counts", env.db), 6);
	assert_int_equal(sql_int("SELECT SUM(bytes + duration_count + "
				 "duration_us_sum + duration_us_max) FROM "
				 "%s.counts", env.db), 0);
	{
		struct window_row row = ROW(5, 0, T0, "/a", 2);
		struct store_offset off[1] = {{0, STORE_OFFSET_NONE, 2}};
		int64_t offsets[1];
		int32_t lost;

		row.bytes = 300;
		row.duration_count = 1;
		row.duration_us_sum = row.duration_us_max = 700;
		st = store_new(&env.cfg);
		load(st, 1, offsets);
		assert_int_equal(do_flush(st, off, 1, &row, 1, NULL, 0, &lost,
					  err, sizeof(err)), 0);
		store_free(st);
	}
	assert_int_equal(sql_int("SELECT hits * 1000000 + bytes * 10 + "
				 "duration_count FROM %s.counts WHERE "
				 "window_seconds = 5", env.db), 5003001);
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

/*
 * Measures are added (the maximum kept), and histograms land in latency,
 * one row per bucket, added to by a second flush, in the same transaction:
 * a flush that loses its compare-and-set writes no latency row either.
 */
static void test_flush_measures(void **state)
{
	struct store *st = *state;
	uint64_t hist_a[2] = {(uint64_t)3 << 56 | 2, (uint64_t)40 << 56 | 1};
	uint64_t hist_b[1] = {(uint64_t)3 << 56 | 5};
	struct window_row rows[2] = {ROW(5, 0, T0, "/", 3), ROW(60, 0, T0 - 20, "/", 3)};
	struct store_offset off[1] = {{0, STORE_OFFSET_NONE, 3}};
	int64_t offsets[1];
	char err[512];
	int32_t lost;

	for (int i = 0; i < 2; i++) {
		rows[i].bytes = 1000;
		rows[i].duration_count = 3;
		rows[i].duration_us_sum = 500 + 500 + 200000;
		rows[i].duration_us_max = 200000;
		rows[i].hist = hist_a;
		rows[i].nhist = 2;
	}
	load(st, 1, offsets);
	assert_int_equal(do_flush(st, off, 1, rows, 2, NULL, 0, &lost, err,
				  sizeof(err)), 0);
	for (int i = 0; i < 2; i++) {
		rows[i].duration_count = 5;
		rows[i].duration_us_sum = 2500;
		rows[i].duration_us_max = 500;
		rows[i].hist = hist_b;
		rows[i].nhist = 1;
	}
	off[0] = (struct store_offset){0, 3, 6};
	assert_int_equal(do_flush(st, off, 1, rows, 2, NULL, 0, &lost, err,
				  sizeof(err)), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.counts WHERE hits = 6"
				 " AND bytes = 2000 AND duration_count = 8 AND "
				 "duration_us_sum = 203500 AND duration_us_max ="
				 " 200000", env.db), 2);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.latency", env.db), 4);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.latency WHERE "
				 "bucket = 3 AND hits = 7", env.db), 2);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.latency WHERE "
				 "bucket = 40 AND hits = 1 AND dimension = 'url'"
				 " AND value = '/'", env.db), 2);
	/* a stale flush: nothing of it, latency included */
	assert_int_equal(do_flush(st, off, 1, rows, 2, NULL, 0, &lost, err,
				  sizeof(err)), STORE_LOST);
	assert_int_equal(sql_int("SELECT SUM(hits) FROM %s.latency", env.db), 16);
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
		rows[i] = (struct window_row){.window_seconds = 5, .start_s = T0,
					      .value = cases[i].bytes,
					      .len = cases[i].len, .hits = i + 1};
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
		sql("INSERT INTO %s.counts (window_seconds, window_start, "
		    "dimension, value, hits) VALUES (5, FROM_UNIXTIME(%" PRId64
		    "), 'url', '/', 1), (5, FROM_UNIXTIME(%" PRId64 "), "
		    "'status', '200', 1), (60, FROM_UNIXTIME(%" PRId64 "), "
		    "'url', '/', 1)", env.db, T0 + 5 * i, T0 + 5 * i,
		    T0 - 60 * i);
	/* a dimension that sorts first, two old rows and a new one */
	sql("INSERT INTO %s.counts (window_seconds, window_start, dimension, "
	    "value, hits) VALUES (5, FROM_UNIXTIME(%" PRId64 "), "
	    "'hashtag', 'a', 1), (5, FROM_UNIXTIME(%" PRId64 "), 'hashtag', "
	    "'b', 1), (5, FROM_UNIXTIME(%" PRId64 "), 'hashtag', 'a', 1)",
	    env.db, T0, T0 + 20, T0 + 25);
	/* the latency rows of two old windows and a new one */
	sql("INSERT INTO %s.latency VALUES (5, FROM_UNIXTIME(%" PRId64 "), "
	    "'url', '/', 3, 1), (5, FROM_UNIXTIME(%" PRId64 "), 'url', '/', 9,"
	    " 1), (5, FROM_UNIXTIME(%" PRId64 "), 'url', '/', 3, 1)", env.db,
	    T0, T0 + 5, T0 + 25);
	/* starts before T0 + 25: five windows of two rows, and two; batches
	 * run on from one dimension into the next */
	assert_int_equal(store_expire(st, 5, T0 + 25, 3, err, sizeof(err)), 3);
	assert_int_equal(store_expire(st, 5, T0 + 25, 3, err, sizeof(err)), 3);
	assert_int_equal(store_expire(st, 5, T0 + 25, 3, err, sizeof(err)), 3);
	assert_int_equal(store_expire(st, 5, T0 + 25, 5, err, sizeof(err)), 5);
	assert_int_equal(store_expire(st, 5, T0 + 25, 3, err, sizeof(err)), 0);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.latency WHERE "
				 "window_start = FROM_UNIXTIME(%" PRId64 ")",
				 env.db, T0 + 25), 1);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.latency", env.db), 1);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.counts WHERE "
				 "window_seconds = 5", env.db), 11);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.counts WHERE "
				 "dimension = 'hashtag'", env.db), 1);
	assert_int_equal(sql_int("SELECT MIN(window_start) = FROM_UNIXTIME(%"
				 PRId64 ") FROM %s.counts WHERE window_seconds"
				 " = 5", T0 + 25, env.db), 1);
	assert_int_equal(sql_int("SELECT COUNT(*) FROM %s.counts WHERE "
				 "window_seconds = 60", env.db), 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_is_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_sql_agrees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_is_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_from_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_offsets_creates_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_commits_and_adds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_measures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cas_miss_commits_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fatal_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values_stored_verbatim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sources_verbatim_and_by_partition, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rows_per_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire_in_batches, setup, teardown),
	};

	if (store_fixture_skipped())
		return 0;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
