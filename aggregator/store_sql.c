/*
 * store_sql: statement text for the store. The DDL is the same as
 * config/schema.sql (test_store compares the tables that each one makes).
 * A batch is "head row,row,... tail": rows are appended to one bounded
 * buffer until the next would pass max_bytes (tail included), which ends
 * the statement; a row is never split and never dropped, so every row
 * appears in exactly one statement, in order. Escaping works byte by byte,
 * which is right for utf8mb4: no byte of a multibyte UTF-8 character is
 * below 0x80.
 */
#include "store_sql.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "schema.h"

/* DATETIME's range: 0000-01-01 00:00:00 .. 9999-12-31 23:59:59 UTC. */
#define STORE_SQL_EPOCH_MIN INT64_C(-62167219200)
#define STORE_SQL_EPOCH_MAX INT64_C(253402300799)

/*
 * The DDL, the same as config/schema.sql. Values are compared as bytes
 * (utf8mb4_nopad_bin): 'Foo', 'foo', 'a' and 'a ' are four keys. The
 * counts key is 4 + 128 + 5 + 2048 bytes plus lengths, under InnoDB's 3072.
 */
#define STORE_SQL_TABLE \
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin"

const char store_sql_schema_table[] =
	"CREATE TABLE IF NOT EXISTS logtally_schema ("
	" version INT UNSIGNED NOT NULL PRIMARY KEY,"
	" applied_at DATETIME NOT NULL"
	STORE_SQL_TABLE;

static const char *const store_sql_v1[] = {
	"CREATE TABLE IF NOT EXISTS counts ("
	" window_seconds INT UNSIGNED NOT NULL,"
	" window_start DATETIME NOT NULL,"
	" dimension VARCHAR(" SCHEMA_STR(SCHEMA_DIMENSION_CHARS) ") NOT NULL,"
	" value VARCHAR(" SCHEMA_STR(SCHEMA_VALUE_CHARS) ") NOT NULL,"
	" hits BIGINT UNSIGNED NOT NULL,"
	" PRIMARY KEY (window_seconds, dimension, window_start, value),"
	" KEY by_time (window_seconds, window_start)"
	STORE_SQL_TABLE " ROW_FORMAT=DYNAMIC",

	"CREATE TABLE IF NOT EXISTS logtally_offsets ("
	" topic VARCHAR(249) NOT NULL,"
	" kafka_partition INT NOT NULL,"
	" next_offset BIGINT NOT NULL,"
	" updated_at DATETIME(3) NOT NULL,"
	" PRIMARY KEY (topic, kafka_partition)"
	STORE_SQL_TABLE,

	"CREATE TABLE IF NOT EXISTS logtally_sources ("
	" topic VARCHAR(249) NOT NULL,"
	" source VARBINARY(255) NOT NULL,"
	" kafka_partition INT NOT NULL,"
	" high_offset BIGINT NOT NULL,"
	" updated_at DATETIME(3) NOT NULL,"
	" PRIMARY KEY (topic, source),"
	" KEY by_partition (topic, kafka_partition)"
	STORE_SQL_TABLE,
	NULL,
};

/*
 * Version 2: no index by time alone. Every read (dashboards, the API,
 * retention) names a dimension and takes a range of the primary key; the
 * index cost each new row a second B-tree insert (bench-aggregator: 13%
 * of MariaDB's CPU, 9% of the rate).
 */
static const char *const store_sql_v2[] = {
	"ALTER TABLE counts DROP INDEX IF EXISTS by_time",
	NULL,
};

/*
 * Version 3: measures. counts gains the bytes sent and the durations'
 * count, sum and maximum (MariaDB adds columns at the end in place, without
 * copying the table); latency holds each key's histogram, one row per
 * bucket with hits, keyed like counts plus the bucket; latency_buckets
 * says what each bucket holds (window_bucket_le_us; le in seconds as
 * Prometheus writes it, NULL le_us for "+Inf").
 */
static const char *const store_sql_v3[] = {
	"ALTER TABLE counts"
	" ADD COLUMN IF NOT EXISTS bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,"
	" ADD COLUMN IF NOT EXISTS duration_count BIGINT UNSIGNED NOT NULL"
	" DEFAULT 0,"
	" ADD COLUMN IF NOT EXISTS duration_us_sum BIGINT UNSIGNED NOT NULL"
	" DEFAULT 0,"
	" ADD COLUMN IF NOT EXISTS duration_us_max BIGINT UNSIGNED NOT NULL"
	" DEFAULT 0",

	"CREATE TABLE IF NOT EXISTS latency ("
	" window_seconds INT UNSIGNED NOT NULL,"
	" window_start DATETIME NOT NULL,"
	" dimension VARCHAR(" SCHEMA_STR(SCHEMA_DIMENSION_CHARS) ") NOT NULL,"
	" value VARCHAR(" SCHEMA_STR(SCHEMA_VALUE_CHARS) ") NOT NULL,"
	" bucket TINYINT UNSIGNED NOT NULL,"
	" hits BIGINT UNSIGNED NOT NULL,"
	" PRIMARY KEY (window_seconds, dimension, window_start, value, bucket)"
	STORE_SQL_TABLE " ROW_FORMAT=DYNAMIC",

	"CREATE TABLE IF NOT EXISTS latency_buckets ("
	" bucket TINYINT UNSIGNED NOT NULL PRIMARY KEY,"
	" le_us BIGINT UNSIGNED NULL,"
	" le VARCHAR(16) NOT NULL"
	STORE_SQL_TABLE,

	"INSERT IGNORE INTO latency_buckets (bucket, le_us, le) VALUES "
	"(0,100,'0.0001'),(1,125,'0.000125'),(2,160,'0.00016'),(3,200,'0.0002'),(4,250,'0.00025'),"
	"(5,315,'0.000315'),(6,400,'0.0004'),(7,500,'0.0005'),(8,630,'0.00063'),(9,800,'0.0008'),"
	"(10,1000,'0.001'),(11,1250,'0.00125'),(12,1600,'0.0016'),(13,2000,'0.002'),(14,2500,'0.0025'),"
	"(15,3150,'0.00315'),(16,4000,'0.004'),(17,5000,'0.005'),(18,6300,'0.0063'),(19,8000,'0.008'),"
	"(20,10000,'0.01'),(21,12500,'0.0125'),(22,16000,'0.016'),(23,20000,'0.02'),(24,25000,'0.025'),"
	"(25,31500,'0.0315'),(26,40000,'0.04'),(27,50000,'0.05'),(28,63000,'0.063'),(29,80000,'0.08'),"
	"(30,100000,'0.1'),(31,125000,'0.125'),(32,160000,'0.16'),(33,200000,'0.2'),(34,250000,'0.25'),"
	"(35,315000,'0.315'),(36,400000,'0.4'),(37,500000,'0.5'),(38,630000,'0.63'),(39,800000,'0.8'),"
	"(40,1000000,'1'),(41,1250000,'1.25'),(42,1600000,'1.6'),(43,2000000,'2'),(44,2500000,'2.5'),"
	"(45,3150000,'3.15'),(46,4000000,'4'),(47,5000000,'5'),(48,6300000,'6.3'),(49,8000000,'8'),"
	"(50,10000000,'10'),(51,12500000,'12.5'),(52,16000000,'16'),(53,20000000,'20'),(54,25000000,'25'),"
	"(55,31500000,'31.5'),(56,40000000,'40'),(57,50000000,'50'),(58,63000000,'63'),(59,80000000,'80'),"
	"(60,100000000,'100'),(61,NULL,'+Inf')",
	NULL,
};

const struct store_sql_step store_sql_steps[] = {
	{1, store_sql_v1},
	{2, store_sql_v2},
	{3, store_sql_v3},
	{0, NULL},
};

static const char *store_sql_escape(char c)
{
	switch (c) {
	case '\0': return "\\0";
	case '\n': return "\\n";
	case '\r': return "\\r";
	case '\\': return "\\\\";
	case '\'': return "\\'";
	case '"': return "\\\"";
	case '\032': return "\\Z";
	default: return NULL;
	}
}

/* The bytes store_sql_escape() escapes, to skip the others fast. */
static const unsigned char store_sql_special[256] = {
	['\0'] = 1, ['\n'] = 1, ['\r'] = 1, ['\\'] = 1, ['\''] = 1, ['"'] = 1,
	['\032'] = 1,
};

/*
 * Whether one of the 8 bytes of w may need escaping: a quote, a double
 * quote, a backslash or any byte under 0x20 (which covers NUL, \n, \r and
 * Ctrl-Z; the others pass the byte-by-byte check unescaped). Each test is
 * the "has a zero byte" word trick: exact for "any", which is all that is
 * asked. Values are mostly long runs of plain text (URLs), and a word at a
 * time made quoting four times cheaper (bench-aggregator --profile).
 */
static bool store_sql_word_special(uint64_t w)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const uint64_t highs = UINT64_C(0x8080808080808080);
	uint64_t q = w ^ (ones * '\''), d = w ^ (ones * '"'), b = w ^ (ones * '\\');

	return (((q - ones) & ~q) | ((d - ones) & ~d) | ((b - ones) & ~b) |
		((w - ones * 0x20) & ~w)) & highs;
}

int store_sql_quote(struct buf *out, const char *s, size_t len)
{
	size_t i = 0, end, run = 0;
	uint64_t w;
	int rc;

	rc = buf_addc(out, '\'');
	while (i < len && !rc) {
		if (len - i >= 8) {
			memcpy(&w, s + i, 8);
			if (!store_sql_word_special(w)) {
				i += 8;
				continue;
			}
		}
		for (end = len - i >= 8 ? i + 8 : len; i < end && !rc; i++) {
			if (!store_sql_special[(unsigned char)s[i]])
				continue;
			rc = buf_add(out, s + run, i - run);
			if (!rc)
				rc = buf_add(out, store_sql_escape(s[i]), 2);
			run = i + 1;
		}
	}
	if (!rc && len > run)
		rc = buf_add(out, s + run, len - run);
	if (!rc)
		rc = buf_addc(out, '\'');
	return rc;
}

static void store_sql_digits(char *p, unsigned int v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* Howard Hinnant's civil_from_days: days since 1970-01-01 to y-m-d. */
static void store_sql_civil(int64_t z, int64_t *y, unsigned int *m,
			    unsigned int *d)
{
	int64_t era;
	unsigned int doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned int)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void store_sql_datetime(int64_t epoch_s, char out[20])
{
	int64_t days, secs, y;
	unsigned int m, d;

	if (epoch_s < STORE_SQL_EPOCH_MIN)
		epoch_s = STORE_SQL_EPOCH_MIN;
	if (epoch_s > STORE_SQL_EPOCH_MAX)
		epoch_s = STORE_SQL_EPOCH_MAX;
	days = epoch_s / 86400;
	secs = epoch_s % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	store_sql_civil(days, &y, &m, &d);
	memcpy(out, "0000-00-00 00:00:00", 20);
	store_sql_digits(out, (unsigned int)y, 4);
	store_sql_digits(out + 5, m, 2);
	store_sql_digits(out + 8, d, 2);
	store_sql_digits(out + 11, (unsigned int)(secs / 3600), 2);
	store_sql_digits(out + 14, (unsigned int)(secs / 60 % 60), 2);
	store_sql_digits(out + 17, (unsigned int)(secs % 60), 2);
}

struct store_sql_batch {
	const char *head;
	size_t tail_len;
	size_t max_bytes;
	store_sql_row_fn row;
	void *row_arg;
};

/* Appends row i (with head or a comma) so that the tail still fits. */
static int store_sql_batch_add(const struct store_sql_batch *bt,
			       struct buf *stmt, size_t i)
{
	size_t mark = buf_len(stmt);
	int rc;

	rc = buf_addstr(stmt, mark ? "," : bt->head);
	if (!rc)
		rc = bt->row(bt->row_arg, i, stmt);
	if (!rc && buf_len(stmt) + bt->tail_len > bt->max_bytes)
		rc = -ENOSPC;
	if (rc)
		buf_truncate(stmt, mark);
	return rc;
}

static int store_sql_batch_send(struct buf *stmt, const char *tail,
				store_sql_statement_fn fn, void *arg)
{
	int rc;

	rc = buf_addstr(stmt, tail);
	if (!rc)
		rc = fn(arg, buf_str(stmt), buf_len(stmt));
	buf_reset(stmt);
	return rc;
}

int store_sql_batch(const char *head, const char *tail, size_t n,
		    store_sql_row_fn row, void *row_arg, size_t max_bytes,
		    store_sql_statement_fn fn, void *arg)
{
	struct store_sql_batch bt = {head, strlen(tail), max_bytes, row, row_arg};
	struct buf stmt;
	size_t i;
	int rc = 0;

	if (max_bytes < STORE_SQL_MIN_BYTES)
		return -EINVAL;
	buf_init(&stmt, max_bytes);
	for (i = 0; i < n && !rc; i++) {
		rc = store_sql_batch_add(&bt, &stmt, i);
		if (rc == -ENOSPC && buf_len(&stmt) > 0) {
			rc = store_sql_batch_send(&stmt, tail, fn, arg);
			if (!rc)
				rc = store_sql_batch_add(&bt, &stmt, i);
		}
		if (rc == -ENOSPC)
			rc = -EMSGSIZE;
	}
	if (!rc && buf_len(&stmt) > 0)
		rc = store_sql_batch_send(&stmt, tail, fn, arg);
	buf_fini(&stmt);
	return rc;
}

/*
 * Appends sep (a character, or none when '\0') and v in decimal: rows
 * are mostly numbers, and vfprintf cost more than all the rest of a row
 * (bench-aggregator --profile: half the writer thread).
 */
static int store_sql_u64(struct buf *out, char sep, uint64_t v)
{
	char text[21];
	size_t at = sizeof(text);

	do {
		text[--at] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (sep)
		text[--at] = sep;
	return buf_add(out, text + at, sizeof(text) - at);
}

/*
 * ",v0,v1,...)" of v[0..n) (n <= 5), written backwards to end at
 * text + STORE_SQL_NUMBERS; returns its start. The end of a row.
 */
#define STORE_SQL_NUMBERS (5 * 21 + 1)
static char *store_sql_numbers_text(char text[STORE_SQL_NUMBERS],
				    const uint64_t *v, size_t n)
{
	char *at = text + STORE_SQL_NUMBERS;

	assert(n <= 5);
	*--at = ')';
	while (n-- > 0) {
		uint64_t x = v[n];

		do {
			*--at = (char)('0' + x % 10);
			x /= 10;
		} while (x);
		*--at = ',';
	}
	return at;
}

static int store_sql_numbers(struct buf *out, const uint64_t *v, size_t n)
{
	char text[STORE_SQL_NUMBERS];
	char *at = store_sql_numbers_text(text, v, n);

	return buf_add(out, at, (size_t)(text + sizeof(text) - at));
}

/*
 * "(window_seconds,'window_start','dimension'," of a key, which the rows,
 * sorted by size, dimension and start, mostly share with the row before:
 * made once a run of them, the rest of a key is its quoted value.
 */
struct store_sql_prefix {
	uint32_t window_seconds;
	int64_t start_s;
	const char *name;
	struct buf text;        /* empty: not made yet */
};

static void store_sql_prefix_init(struct store_sql_prefix *pre, size_t max_bytes)
{
	*pre = (struct store_sql_prefix){0};
	buf_init(&pre->text, max_bytes);
}

static int store_sql_prefix_make(struct store_sql_prefix *pre,
				 const struct window_row *r, const char *name)
{
	char when[20];
	int rc;

	buf_reset(&pre->text);
	store_sql_datetime(r->start_s, when);
	rc = store_sql_u64(&pre->text, '(', r->window_seconds);
	if (!rc)
		rc = buf_add(&pre->text, ",'", 2);
	if (!rc)
		rc = buf_add(&pre->text, when, 19);
	if (!rc)
		rc = buf_add(&pre->text, "',", 2);
	if (!rc)
		rc = store_sql_quote(&pre->text, name, strlen(name));
	if (!rc)
		rc = buf_addc(&pre->text, ',');
	if (rc) {
		buf_reset(&pre->text);
		return rc;
	}
	pre->window_seconds = r->window_seconds;
	pre->start_s = r->start_s;
	pre->name = name;
	return 0;
}

/* (window_seconds,'window_start','dimension','value' */
static int store_sql_key(struct store_sql_prefix *pre, struct buf *out,
			 const struct window_row *r, const char *name)
{
	int rc = 0;

	if (!buf_len(&pre->text) || r->window_seconds != pre->window_seconds ||
	    r->start_s != pre->start_s || name != pre->name)
		rc = store_sql_prefix_make(pre, r, name);
	if (!rc)
		rc = buf_add(out, buf_str(&pre->text), buf_len(&pre->text));
	if (!rc)
		rc = store_sql_quote(out, r->value, r->len);
	return rc;
}

struct store_sql_upsert {
	const struct window_row *rows;
	const char *const *names;
	struct store_sql_prefix prefix;
};

static int store_sql_upsert_row(void *arg, size_t i, struct buf *out)
{
	struct store_sql_upsert *up = arg;
	const struct window_row *r = &up->rows[i];
	int rc;

	rc = store_sql_key(&up->prefix, out, r, up->names[r->dim]);
	if (!rc)
		rc = store_sql_numbers(out, (const uint64_t[]){r->hits, r->bytes,
				       r->duration_count, r->duration_us_sum,
				       r->duration_us_max}, 5);
	return rc;
}

int store_sql_upserts(const char *table, const struct window_row *rows,
		      size_t n, const char *const *names, size_t max_bytes,
		      store_sql_statement_fn fn, void *arg)
{
	struct store_sql_upsert up = {.rows = rows, .names = names};
	char head[200];
	int len, rc;

	len = snprintf(head, sizeof(head), "INSERT INTO %s (window_seconds,"
		       "window_start,dimension,value,hits,bytes,duration_count,"
		       "duration_us_sum,duration_us_max) VALUES ", table);
	if (len < 0 || (size_t)len >= sizeof(head))
		return -EINVAL;
	store_sql_prefix_init(&up.prefix, max_bytes);
	rc = store_sql_batch(head, " ON DUPLICATE KEY UPDATE hits = hits"
			     " + VALUES(hits), bytes = bytes + VALUES(bytes),"
			     " duration_count = duration_count +"
			     " VALUES(duration_count), duration_us_sum ="
			     " duration_us_sum + VALUES(duration_us_sum),"
			     " duration_us_max = GREATEST(duration_us_max,"
			     " VALUES(duration_us_max))", n,
			     store_sql_upsert_row, &up, max_bytes, fn, arg);
	buf_fini(&up.prefix.text);
	return rc;
}

#define STORE_SQL_LATENCY_HEAD "INSERT INTO latency (window_seconds," \
	"window_start,dimension,value,bucket,hits) VALUES "
#define STORE_SQL_LATENCY_TAIL " ON DUPLICATE KEY UPDATE hits = hits +" \
	" VALUES(hits)"

/*
 * The latency rows of one key: its text, then ",bucket,hits)" for each
 * pair, into statements of at most max_bytes. A loop of its own rather
 * than store_sql_batch(): there are four latency rows to a row of counts,
 * each the key again and two numbers, and a call per row and per part of
 * it cost more than the writing (bench-aggregator --profile --durations).
 */
static int store_sql_latency_key(struct buf *stmt, const char *key,
				 size_t klen, const struct window_row *r,
				 size_t max_bytes, store_sql_statement_fn fn,
				 void *arg)
{
	static const size_t head = sizeof(STORE_SQL_LATENCY_HEAD) - 1;
	static const size_t tail = sizeof(STORE_SQL_LATENCY_TAIL) - 1;
	char text[STORE_SQL_NUMBERS];
	int rc;

	for (size_t i = 0; i < r->nhist; i++) {
		char *nums = store_sql_numbers_text(text, (const uint64_t[]){
			WINDOW_HIST_BUCKET(r->hist[i]), WINDOW_HIST_COUNT(r->hist[i])}, 2);
		size_t nlen = (size_t)(text + sizeof(text) - nums);
		size_t len = buf_len(stmt);

		if (len && len + 1 + klen + nlen + tail > max_bytes) {
			rc = store_sql_batch_send(stmt, STORE_SQL_LATENCY_TAIL, fn, arg);
			if (rc)
				return rc;
			len = 0;
		}
		if (!len && head + klen + nlen + tail > max_bytes)
			return -EMSGSIZE;
		rc = len ? buf_addc(stmt, ',') : buf_add(stmt, STORE_SQL_LATENCY_HEAD, head);
		if (!rc)
			rc = buf_add(stmt, key, klen);
		if (!rc)
			rc = buf_add(stmt, nums, nlen);
		if (rc)
			return rc;
	}
	return 0;
}

int store_sql_latency_upserts(const struct window_row *rows, size_t n,
			      const char *const *names, size_t max_bytes,
			      store_sql_statement_fn fn, void *arg)
{
	struct store_sql_prefix prefix;
	struct buf stmt, key;
	int rc = 0;

	if (max_bytes < STORE_SQL_MIN_BYTES)
		return -EINVAL;
	store_sql_prefix_init(&prefix, max_bytes);
	buf_init(&stmt, max_bytes);
	buf_init(&key, max_bytes);
	for (size_t i = 0; i < n && !rc; i++) {
		if (!rows[i].nhist)
			continue;
		buf_reset(&key);
		rc = store_sql_key(&prefix, &key, &rows[i], names[rows[i].dim]);
		if (rc == -ENOSPC)
			rc = -EMSGSIZE;
		if (!rc)
			rc = store_sql_latency_key(&stmt, buf_str(&key), buf_len(&key),
						   &rows[i], max_bytes, fn, arg);
	}
	if (!rc && buf_len(&stmt) > 0)
		rc = store_sql_batch_send(&stmt, STORE_SQL_LATENCY_TAIL, fn, arg);
	buf_fini(&key);
	buf_fini(&stmt);
	buf_fini(&prefix.text);
	return rc;
}

int store_sql_partitions(struct buf *out, const char *head, const char *topic,
			 const int32_t *parts, size_t n, const char *tail)
{
	size_t i;
	int rc;

	rc = buf_addstr(out, head);
	if (!rc)
		rc = store_sql_quote(out, topic, strlen(topic));
	if (!rc)
		rc = buf_addstr(out, " AND kafka_partition IN (");
	for (i = 0; i < n && !rc; i++)
		rc = buf_printf(out, "%s%" PRId32, i ? "," : "", parts[i]);
	if (!rc)
		rc = buf_printf(out, ")%s", tail);
	return rc;
}

int store_sql_offset_cas(struct buf *out, const char *topic, int32_t partition,
			 int64_t expected, int64_t next)
{
	int rc;

	rc = buf_printf(out, "UPDATE logtally_offsets SET next_offset = %"
			PRId64 ", updated_at = NOW(3) WHERE topic = ", next);
	if (!rc)
		rc = store_sql_quote(out, topic, strlen(topic));
	if (!rc)
		rc = buf_printf(out, " AND kafka_partition = %" PRId32
				" AND next_offset = %" PRId64, partition,
				expected);
	return rc;
}
