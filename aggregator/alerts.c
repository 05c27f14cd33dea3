/*
 * alerts: a thread that wakes every alerts_every and runs a round: connect
 * if needed, take the lead if no other member has it, then for each rule
 * one prepared SELECT that streams the sums of its dimension's values over
 * the span, largest first, into alert_rule_add(), and for a percentile
 * rule a second over the latency table's rows of the same range into
 * alert_rule_add_latency(), both in one read-only transaction so that
 * they see the same flushes. The connection and its statements are
 * dropped after any error and made again next round; the lock goes with
 * the connection, so a member that lost it asks again.
 */
#include "alerts.h"

#include <mysql.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert_message.h"
#include "alert_rule.h"
#include "db.h"
#include "logging.h"
#include "metrics.h"
#include "runtime.h"
#include "schema.h"
#include "units.h"
#include "webhook.h"
#include "xalloc.h"

#define ALERTS_IO_TIMEOUT_S 10

/*
 * Rows of the base window only: the rollups hold the same hits again. Both
 * read one range of the primary key (window_seconds, dimension,
 * window_start, ...), as the dashboards do; the latency one returns at
 * most WINDOW_BUCKETS rows a value, or a row a bucket when the rule takes
 * every value together.
 */
static const char alerts_sql[] =
	"SELECT value, SUM(hits) AS h, SUM(bytes), SUM(duration_count), "
	"SUM(duration_us_sum), MAX(duration_us_max) FROM counts "
	"WHERE window_seconds = ? AND dimension = ? AND window_start >= ? "
	"GROUP BY value ORDER BY h DESC";
static const char alerts_latency_sql[] =
	"SELECT value, bucket, SUM(hits) FROM latency WHERE window_seconds = ? "
	"AND dimension = ? AND window_start >= ? GROUP BY value, bucket";
static const char alerts_latency_all_sql[] =
	"SELECT '', bucket, SUM(hits) FROM latency WHERE window_seconds = ? "
	"AND dimension = ? AND window_start >= ? GROUP BY bucket";

/* The statements, by what they read. */
enum alerts_stmt {
	ALERTS_COUNTS,
	ALERTS_LATENCY,         /* by value and bucket */
	ALERTS_LATENCY_ALL,     /* by bucket: a rule on every value, summed */
	ALERTS_STMTS,
};

static const struct {
	const char *sql;
	size_t len;
} alerts_stmts[ALERTS_STMTS] = {
	{alerts_sql, sizeof(alerts_sql) - 1},
	{alerts_latency_sql, sizeof(alerts_latency_sql) - 1},
	{alerts_latency_all_sql, sizeof(alerts_latency_all_sql) - 1},
};

/*
 * The server's session defaults, autocommit on: each round's SELECTs read
 * what is committed by then, and no transaction stays open between rounds.
 */
static const struct db_session alerts_session = {
	ALERTS_IO_TIMEOUT_S, 0, NULL, false,
};

static const char alerts_lock_sql[] =
	"SELECT GET_LOCK(LEFT(CONCAT('logtally_alerts:', DATABASE()), 64), 0)";

struct alerts_rule {
	struct alert_rule *rule;
	struct metrics_gauge *firing;
	struct metrics_counter *sent[2];        /* by enum alert_rule_status */
};

struct alerts {
	const struct aggregator_config *cfg;
	struct alerts_rule *rules;
	size_t n;
	struct webhook *webhook;
	struct metrics_counter *rounds;  /* rounds that evaluated every rule */
	MYSQL *db;                      /* NULL while disconnected */
	MYSQL_STMT *stmts[ALERTS_STMTS]; /* prepared on db */
	bool leader;                    /* db holds the lock: we evaluate */
	bool follower;                  /* logged that another member does */
	bool failed;                    /* the last round could not read */
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t wake;            /* stop */
	bool stop;
};

/* --- MariaDB ------------------------------------------------------------- */

static void alerts_disconnect(struct alerts *al)
{
	for (size_t i = 0; i < ALERTS_STMTS; i++) {
		if (al->stmts[i])
			mysql_stmt_close(al->stmts[i]);
		al->stmts[i] = NULL;
	}
	if (al->db)
		mysql_close(al->db);
	al->db = NULL;
	al->leader = false;
}

/* Describes the last error (of stmt if not NULL) and disconnects. */
static int alerts_fail(struct alerts *al, const char *what, MYSQL_STMT *stmt,
		       char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s (error %u)", what,
		 stmt ? mysql_stmt_error(stmt) : mysql_error(al->db),
		 stmt ? mysql_stmt_errno(stmt) : mysql_errno(al->db));
	alerts_disconnect(al);
	return -1;
}

static int alerts_connect(struct alerts *al, char *err, size_t errlen)
{
	if (al->db)
		return 0;
	al->db = db_connect(&al->cfg->mariadb, &alerts_session, NULL, err,
			    errlen);
	if (!al->db)
		return -1;
	for (size_t i = 0; i < ALERTS_STMTS; i++) {
		al->stmts[i] = mysql_stmt_init(al->db);
		if (!al->stmts[i])
			return alerts_fail(al, "statement", NULL, err, errlen);
		if (mysql_stmt_prepare(al->stmts[i], alerts_stmts[i].sql,
				       alerts_stmts[i].len))
			return alerts_fail(al, "prepare", al->stmts[i], err, errlen);
	}
	return 0;
}

/*
 * Takes the lead when no other member holds it. A member that finds it
 * held forgets its states: the holder alerts now, and if this member
 * takes over later, what holds then fires anew.
 */
static int alerts_lead(struct alerts *al, char *err, size_t errlen)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	bool got;

	if (al->leader)
		return 0;
	if (mysql_query(al->db, alerts_lock_sql) || !(res = mysql_store_result(al->db)))
		return alerts_fail(al, "GET_LOCK", NULL, err, errlen);
	row = mysql_fetch_row(res);
	got = row && row[0] && !strcmp(row[0], "1");
	mysql_free_result(res);
	if (got) {
		logging_info("alerts: this aggregator evaluates the %zu rule%s",
			     al->n, al->n == 1 ? "" : "s");
		al->leader = true;
		al->follower = false;
		return 0;
	}
	if (!al->follower)
		logging_info("alerts: another aggregator on this database "
			     "evaluates the rules");
	al->follower = true;
	for (size_t i = 0; i < al->n; i++) {
		alert_rule_reset(al->rules[i].rule);
		metrics_gauge_set(al->rules[i].firing, 0);
	}
	return 0;
}

static MYSQL_TIME alerts_datetime(int64_t epoch_s)
{
	time_t t = (time_t)epoch_s;
	MYSQL_TIME mt;
	struct tm tm;

	memset(&mt, 0, sizeof(mt));
	gmtime_r(&t, &tm);
	mt.year = (unsigned int)tm.tm_year + 1900;
	mt.month = (unsigned int)tm.tm_mon + 1;
	mt.day = (unsigned int)tm.tm_mday;
	mt.hour = (unsigned int)tm.tm_hour;
	mt.minute = (unsigned int)tm.tm_min;
	mt.second = (unsigned int)tm.tm_sec;
	mt.time_type = MYSQL_TIMESTAMP_DATETIME;
	return mt;
}

/* The parameters of every statement; they point into the caller's variables. */
struct alerts_params {
	long long window_s;
	const char *dimension;
	unsigned long dimension_len;
	MYSQL_TIME from;
	MYSQL_BIND bind[3];
};

static void alerts_bind_params(struct alerts_params *p)
{
	memset(p->bind, 0, sizeof(p->bind));
	p->bind[0].buffer_type = MYSQL_TYPE_LONGLONG;
	p->bind[0].buffer = &p->window_s;
	p->bind[1].buffer_type = MYSQL_TYPE_STRING;
	p->bind[1].buffer = (char *)p->dimension;
	p->bind[1].buffer_length = p->dimension_len;
	p->bind[1].length = &p->dimension_len;
	p->bind[2].buffer_type = MYSQL_TYPE_DATETIME;
	p->bind[2].buffer = &p->from;
}

/*
 * A row of either statement, as mysql_stmt_fetch() fills it: the value,
 * then numbers (counts: hits, bytes, duration count, sum and max;
 * latency: bucket, hits).
 */
#define ALERTS_NUMBERS 5
struct alerts_row {
	char value[SCHEMA_VALUE_BYTES + 1];
	unsigned long len;
	unsigned long long n[ALERTS_NUMBERS];
	MYSQL_BIND bind[1 + ALERTS_NUMBERS];
};

static void alerts_bind_row(struct alerts_row *row, size_t numbers)
{
	memset(row->bind, 0, sizeof(row->bind));
	memset(row->n, 0, sizeof(row->n));
	row->bind[0].buffer_type = MYSQL_TYPE_STRING;
	row->bind[0].buffer = row->value;
	row->bind[0].buffer_length = SCHEMA_VALUE_BYTES;
	row->bind[0].length = &row->len;
	for (size_t i = 0; i < numbers; i++) {
		row->bind[1 + i].buffer_type = MYSQL_TYPE_LONGLONG;
		row->bind[1 + i].buffer = &row->n[i];
		row->bind[1 + i].is_unsigned = 1;
	}
}

/* Passes a fetched row to rule: its sums, or a bucket of its histogram. */
static void alerts_pass(struct alert_rule *rule, enum alerts_stmt which,
			const struct alerts_row *row, size_t len)
{
	struct alert_rule_row sums;

	if (which != ALERTS_COUNTS) {
		alert_rule_add_latency(rule, row->value, len, (unsigned int)row->n[0],
				       row->n[1]);
		return;
	}
	sums.hits = row->n[0];
	sums.bytes = row->n[1];
	sums.timed = row->n[2];
	sums.duration_us_sum = row->n[3];
	sums.duration_us_max = row->n[4];
	alert_rule_add(rule, row->value, len, &sums);
}

/*
 * Streams the rows of statement which for rule's dimension in base
 * windows that start at or after from_s into rule. On failure the round
 * is left unended.
 */
static int alerts_read(struct alerts *al, struct alert_rule *rule,
		       enum alerts_stmt which, int64_t from_s,
		       char *err, size_t errlen)
{
	const char *dimension = alert_rule_config(rule)->dimension;
	MYSQL_STMT *stmt = al->stmts[which];
	struct alerts_params p;
	struct alerts_row *row = xcalloc(1, sizeof(*row));
	int rc;

	p.window_s = al->cfg->window / 1000;
	p.dimension = dimension;
	p.dimension_len = strlen(dimension);
	p.from = alerts_datetime(from_s);
	alerts_bind_params(&p);
	alerts_bind_row(row, which == ALERTS_COUNTS ? ALERTS_NUMBERS : 2);
	if (mysql_stmt_bind_param(stmt, p.bind) || mysql_stmt_execute(stmt) ||
	    mysql_stmt_bind_result(stmt, row->bind)) {
		free(row);
		return alerts_fail(al, "SELECT", stmt, err, errlen);
	}
	while ((rc = mysql_stmt_fetch(stmt)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
		size_t len = row->len < SCHEMA_VALUE_BYTES ? row->len : SCHEMA_VALUE_BYTES;

		row->value[len] = '\0';
		alerts_pass(rule, which, row, len);
	}
	free(row);
	if (rc != MYSQL_NO_DATA)
		return alerts_fail(al, "SELECT", stmt, err, errlen);
	mysql_stmt_free_result(stmt);
	return 0;
}

/*
 * A percentile rule's histograms, after its counts and in the same
 * transaction: by bucket alone when the rule sums every value.
 */
static int alerts_read_latency(struct alerts *al, struct alert_rule *rule,
			       int64_t from_s, char *err, size_t errlen)
{
	const struct aggregator_alert *cfg = alert_rule_config(rule);
	bool all = !cfg->each && !*cfg->match;

	if (!alert_rule_wants_latency(rule))
		return 0;
	return alerts_read(al, rule, all ? ALERTS_LATENCY_ALL : ALERTS_LATENCY,
			   from_s, err, errlen);
}

/*
 * One rule's reads. A percentile rule's two run in one read-only
 * transaction: at REPEATABLE READ (the server's default) they see the
 * same flushes, so the histogram and the largest duration agree.
 */
static int alerts_read_rule(struct alerts *al, struct alert_rule *rule,
			    int64_t from_s, char *err, size_t errlen)
{
	bool latency = alert_rule_uses_latency(rule);

	if (latency && mysql_query(al->db, "START TRANSACTION READ ONLY"))
		return alerts_fail(al, "START TRANSACTION", NULL, err, errlen);
	if (alerts_read(al, rule, ALERTS_COUNTS, from_s, err, errlen))
		return -1;
	if (!latency)
		return 0;
	if (alerts_read_latency(al, rule, from_s, err, errlen))
		return -1;
	if (mysql_query(al->db, "COMMIT"))
		return alerts_fail(al, "COMMIT", NULL, err, errlen);
	return 0;
}

/* --- a round ---------------------------------------------------------------- */

static void alerts_notify(struct alerts *al, size_t i,
			  const struct alert_rule_event *ev, int64_t now_s)
{
	struct alerts_rule *ar = &al->rules[i];
	const struct aggregator_alert *cfg = alert_rule_config(ar->rule);
	const char *status = alert_rule_status_name(ev->status);
	char *body = alert_message_body(ar->rule, ev, now_s);
	char *name = xasprintf("%s %s%s%s", cfg->name, status,
			       ev->value ? " " : "", ev->value ? ev->value : "");
	struct webhook_message msg = {
		(unsigned int)i, name, cfg->webhook, &cfg->headers, body,
		ar->sent[ev->status],
	};

	logging_info("alerts: %s", name);
	webhook_send(al->webhook, &msg);
	free(name);
	free(body);
}

static int alerts_evaluate(struct alerts *al, size_t i, int64_t now_s,
			   char *err, size_t errlen)
{
	struct alerts_rule *ar = &al->rules[i];
	int64_t window_s = al->cfg->window / 1000;
	int64_t from_s = now_s - alert_rule_config(ar->rule)->over / 1000;
	struct alert_rule_event *events;
	size_t n;

	from_s -= from_s % window_s;
	alert_rule_begin(ar->rule);
	if (alerts_read_rule(al, ar->rule, from_s, err, errlen))
		return -1;
	n = alert_rule_end(ar->rule, &events);
	for (size_t j = 0; j < n; j++)
		alerts_notify(al, i, &events[j], now_s);
	alert_rule_events_free(events, n);
	metrics_gauge_set(ar->firing, (double)alert_rule_firing(ar->rule));
	return 0;
}

static void alerts_round(struct alerts *al)
{
	int64_t now_s = runtime_wall_ms() / 1000;
	char err[1024];
	int rc;

	rc = alerts_connect(al, err, sizeof(err));
	if (!rc)
		rc = alerts_lead(al, err, sizeof(err));
	for (size_t i = 0; !rc && al->leader && i < al->n; i++)
		rc = alerts_evaluate(al, i, now_s, err, sizeof(err));
	if (rc && !al->failed)
		logging_warn("alerts: MariaDB: %s; no alert fires or resolves "
			     "until the counts can be read again", err);
	else if (!rc && al->failed)
		logging_info("alerts: MariaDB can be read again");
	if (!rc && al->leader)
		metrics_counter_add(al->rounds, 1);
	al->failed = rc != 0;
}

/* --- the thread ------------------------------------------------------------- */

/* Under the lock: waits until deadline_ms (monotonic) or stop. */
static void alerts_sleep(struct alerts *al, int64_t deadline_ms)
{
	struct timespec until = {deadline_ms / 1000, (deadline_ms % 1000) * 1000000};

	while (!al->stop && runtime_now_ms() < deadline_ms)
		pthread_cond_timedwait(&al->wake, &al->lock, &until);
}

static void *alerts_main(void *arg)
{
	struct alerts *al = arg;
	int64_t next_ms = runtime_now_ms();

	pthread_mutex_lock(&al->lock);
	for (;;) {
		next_ms += al->cfg->alerts_every;
		if (next_ms < runtime_now_ms())
			next_ms = runtime_now_ms() + al->cfg->alerts_every;
		alerts_sleep(al, next_ms);
		if (al->stop)
			break;
		pthread_mutex_unlock(&al->lock);
		alerts_round(al);
		pthread_mutex_lock(&al->lock);
	}
	pthread_mutex_unlock(&al->lock);
	alerts_disconnect(al);
	return NULL;
}

/* --- start and stop ----------------------------------------------------------- */

static int alerts_rule_init(struct alerts_rule *ar, const struct aggregator_alert *cfg,
			    struct metrics *reg, char *err, size_t errlen)
{
	ar->rule = alert_rule_new(cfg, err, errlen);
	if (!ar->rule)
		return -1;
	ar->firing = metrics_gauge(reg, "logtally_aggregator_alerts_firing",
				   "Alert instances firing now (on the member that evaluates).",
				   "rule", cfg->name, NULL);
	ar->sent[ALERT_RULE_FIRING] =
		metrics_counter(reg, "logtally_aggregator_alert_notifications_total",
				"Alert messages delivered to the webhook.",
				"rule", cfg->name, "status", "firing", NULL);
	ar->sent[ALERT_RULE_RESOLVED] =
		metrics_counter(reg, "logtally_aggregator_alert_notifications_total",
				"Alert messages delivered to the webhook.",
				"rule", cfg->name, "status", "resolved", NULL);
	return 0;
}

static int alerts_thread(struct alerts *al, char *err, size_t errlen)
{
	pthread_condattr_t attr;
	int rc;

	/* before a second thread may call mysql_init(): it is not thread-safe */
	if (mysql_library_init(0, NULL, NULL)) {
		snprintf(err, errlen, "alerts: the MariaDB client cannot start");
		return -1;
	}
	pthread_mutex_init(&al->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&al->wake, &attr);
	pthread_condattr_destroy(&attr);
	rc = pthread_create(&al->thread, NULL, alerts_main, al);
	if (rc) {
		snprintf(err, errlen, "alerts: pthread_create: %s", strerror(rc));
		pthread_cond_destroy(&al->wake);
		pthread_mutex_destroy(&al->lock);
		return -1;
	}
	pthread_setname_np(al->thread, "logtally:alerts");
	al->running = true;
	return 0;
}

struct alerts *alerts_start(const struct aggregator_config *cfg,
			    struct metrics *reg, char *err, size_t errlen)
{
	struct alerts *al = xcalloc(1, sizeof(*al));
	char every[32];

	al->cfg = cfg;
	if (!cfg->alerts.n)
		return al;
	al->rules = xcalloc(cfg->alerts.n, sizeof(*al->rules));
	al->rounds = metrics_counter(reg, "logtally_aggregator_alert_rounds_total",
				     "Rounds in which this member evaluated every alert rule.", NULL);
	for (; al->n < cfg->alerts.n; al->n++)
		if (alerts_rule_init(&al->rules[al->n], CONFIG_ITEM(cfg->alerts,
				     struct aggregator_alert, al->n), reg, err, errlen))
			goto fail;
	al->webhook = webhook_new(reg, NULL, err, errlen);
	if (!al->webhook || alerts_thread(al, err, errlen))
		goto fail;
	units_format_duration(cfg->alerts_every, every, sizeof(every));
	logging_info("alerts: %zu rule%s, evaluated every %s", al->n,
		     al->n == 1 ? "" : "s", every);
	return al;
fail:
	alerts_stop(al);
	return NULL;
}

void alerts_stop(struct alerts *al)
{
	if (!al)
		return;
	if (al->running) {
		pthread_mutex_lock(&al->lock);
		al->stop = true;
		pthread_cond_signal(&al->wake);
		pthread_mutex_unlock(&al->lock);
		pthread_join(al->thread, NULL);
		pthread_cond_destroy(&al->wake);
		pthread_mutex_destroy(&al->lock);
	}
	webhook_free(al->webhook);
	for (size_t i = 0; i < al->n; i++)
		alert_rule_free(al->rules[i].rule);
	free(al->rules);
	free(al);
}
