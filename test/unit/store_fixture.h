/*
 * store_fixture: what test_store.c and test_store_faults.c share: the dev
 * MariaDB read from LOGTALLY_DB_*, a database of the program's own made
 * fresh for every test and dropped at the end, the test's own connection to
 * read it back, the rows most flushes write, and the wrap of mysql_commit
 * (both programs link with -Wl,--wrap=mysql_commit; only the faults set
 * inject). The names are the short ones they had when all of this was
 * static in test_store.c, so that the tests read as they did.
 */
#ifndef LOGTALLY_STORE_FIXTURE_H
#define LOGTALLY_STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <mysql.h>

#include "aggregator/store.h"

#define TOPIC "weblogs"
#define T0 INT64_C(1795551980)          /* 2026-11-24 20:26:20 UTC */

struct store_fixture {
	struct aggregator_mariadb cfg;  /* points at db */
	char db[64];                    /* this test's database */
	MYSQL *adm;                     /* the test's own view, no default db */
	int log_fd;                     /* the store's log lines */
};

extern struct store_fixture env;
extern const char *const names[3];      /* url, status, hashtag */

/* The test's own connection to db (NULL: none); fails the test if refused. */
MYSQL *connect_to(const char *db, unsigned long flags);
/* Runs a statement on m; fails the test on an error. */
void sql_on(MYSQL *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define sql(...) sql_on(env.adm, __VA_ARGS__)
/* The first column of the first row, as a number (-1 for NULL). */
long long sql_int(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
long long stored_offset(int32_t partition);
long long total_hits(void);

/*
 * cmocka fixtures: the group's reads the environment, connects and sends
 * the store's log to env.log_fd; setup makes the database afresh and opens
 * a store on it (*state), teardown frees that store.
 */
int group_setup(void **state);
int group_teardown(void **state);
int setup(void **state);
int teardown(void **state);
/* Prints TAP's skip and returns 1 when LOGTALLY_DB_HOST is unset. */
int store_fixture_skipped(void);

/* Offsets of partitions 0..n-1 loaded, so that a flush can move them. */
void load(struct store *st, size_t n, int64_t *offsets);
/* store_flush() of TOPIC with names; *lost is -1 unless the store sets it. */
int do_flush(struct store *st, const struct store_offset *offsets,
	     size_t noffsets, const struct window_row *rows, size_t nrows,
	     const struct store_source *sources, size_t nsources,
	     int32_t *lost, char *err, size_t errlen);

#define ROW(size_, dim_, start_, value_, hits_) \
	{.window_seconds = size_, .dim = dim_, .start_s = start_, \
	 .value = value_, .len = sizeof(value_) - 1, .hits = hits_}

/* 20 hits: "/", "/index.html" and status 200 at T0, base and 1 min. */
#define NBASIC 6
extern const struct window_row basic_rows[NBASIC];

/* mysql_commit, wrapped: the connection dies just before or after it. */
enum inject { INJECT_NONE, INJECT_KILL_BEFORE, INJECT_KILL_AFTER };
extern enum inject inject;      /* the next commit's; reset by it */
extern int inject_answered;     /* the killed connection still answered */

#endif
