/*
 * Unit tests of aggregator/store's faults against the dev MariaDB
 * (LOGTALLY_DB_*; without LOGTALLY_DB_HOST the program reports a TAP skip).
 * Faults are real: a port with nothing listening, a refused login, the
 * store's connection KILLed between calls or around its COMMIT
 * (mysql_commit is wrapped with -Wl,--wrap, in store_fixture.c), and a
 * deadlock made with a second connection that the server resolves by
 * rolling back the store's transaction, which store_flush() replays.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
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
#include "test/unit/store_fixture.h"


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

static int log_contains(const char *needle)
{
	char text[65536];
	ssize_t n;

	n = pread(env.log_fd, text, sizeof(text) - 1, 0);
	assert_true(n >= 0);
	text[n] = '\0';
	return strstr(text, needle) != NULL;
}

/*
 * Around COMMIT: inject makes store_fixture.c's wrap of mysql_commit kill
 * the connection just before or after it.
 */
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
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_unreachable_is_retry),
		cmocka_unit_test(test_refused_login_is_fatal),
		cmocka_unit_test_setup_teardown(test_socket_connects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnects_after_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_answer_lost_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_answer_lost_before_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadlock_is_replayed, setup, teardown),
	};

	if (store_fixture_skipped())
		return 0;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
