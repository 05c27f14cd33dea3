/*
 * Unit tests of aggregator/store_sql, without a server: string literals
 * (every escaped byte, hostile and non-ASCII values, the buffer's bound),
 * DATETIME text (leap years, negative and far times, checked against
 * gmtime_r over a sweep), and the cutting of upserts into statements: each
 * statement is parsed back, so every row must come out exactly once, in
 * order, with its bytes intact, and no statement may pass max_bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregator/store.h"
#include "aggregator/store_sql.h"

#define HEAD "INSERT INTO counts (window_seconds,window_start,dimension," \
	"value,hits,bytes,duration_count,duration_us_sum,duration_us_max) VALUES "
#define TAIL " ON DUPLICATE KEY UPDATE hits = hits + VALUES(hits), bytes =" \
	" bytes + VALUES(bytes), duration_count = duration_count +" \
	" VALUES(duration_count), duration_us_sum = duration_us_sum +" \
	" VALUES(duration_us_sum), duration_us_max = GREATEST(" \
	"duration_us_max, VALUES(duration_us_max))"
#define LATENCY_HEAD "INSERT INTO latency (window_seconds,window_start," \
	"dimension,value,bucket,hits) VALUES "
#define LATENCY_TAIL " ON DUPLICATE KEY UPDATE hits = hits + VALUES(hits)"

static const char *const names[] = {"url", "status", "it's \"odd\""};

static char *quoted(const char *s, size_t len)
{
	struct buf out;

	buf_init(&out, 1 << 20);
	assert_int_equal(store_sql_quote(&out, s, len), 0);
	return buf_take(&out, NULL);
}

static void expect_quote(const char *s, size_t len, const char *want)
{
	char *got = quoted(s, len);

	assert_string_equal(got, want);
	free(got);
}

static void test_quote_escapes(void **state)
{
	expect_quote("", 0, "''");
	expect_quote("plain", 5, "'plain'");
	expect_quote("it's", 4, "'it\\'s'");
	expect_quote("say \"hi\"", 8, "'say \\\"hi\\\"'");
	expect_quote("C:\\dir\\", 7, "'C:\\\\dir\\\\'");
	expect_quote("a\0b", 3, "'a\\0b'");
	expect_quote("l1\nl2\r", 6, "'l1\\nl2\\r'");
	expect_quote("\032", 1, "'\\Z'");
	expect_quote("\\'", 2, "'\\\\\\''");
	expect_quote("\t%_", 3, "'\t%_'");
}

static void test_quote_hostile_and_unicode(void **state)
{
	expect_quote("');--", 5, "'\\');--'");
	expect_quote("'; DROP TABLE counts; --", 24,
		     "'\\'; DROP TABLE counts; --'");
	expect_quote("<script>alert(1)</script>", 25,
		     "'<script>alert(1)</script>'");
	expect_quote("a\xc3\xb1oNuevo \xf0\x9f\x98\x80", 14,
		     "'a\xc3\xb1oNuevo \xf0\x9f\x98\x80'");
	/* bytes that are not UTF-8 pass as they are (the server judges) */
	expect_quote("\xff\x80'", 3, "'\xff\x80\\''");
}

/* The byte-by-byte escaping that store_sql_quote() must equal. */
static void quote_reference(struct buf *out, const unsigned char *s, size_t len)
{
	assert_int_equal(buf_addc(out, '\''), 0);
	for (size_t i = 0; i < len; i++) {
		const char *esc = s[i] == '\0' ? "\\0" : s[i] == '\n' ? "\\n" :
				  s[i] == '\r' ? "\\r" : s[i] == '\\' ? "\\\\" :
				  s[i] == '\'' ? "\\'" : s[i] == '"' ? "\\\"" :
				  s[i] == 032 ? "\\Z" : NULL;

		if (esc)
			assert_int_equal(buf_addstr(out, esc), 0);
		else
			assert_int_equal(buf_addc(out, (char)s[i]), 0);
	}
	assert_int_equal(buf_addc(out, '\''), 0);
}

/*
 * Quoting goes a word at a time: random strings of every length up to 70
 * at every alignment, their bytes drawn mostly from the escaped ones, their
 * neighbours (0x1f, 0x21, '&', '[', ']', 0x80, 0xff...) and plain text,
 * equal the byte-by-byte escaping.
 */
static void test_quote_words(void **state)
{
	static const unsigned char pick[] = {
		'\0', '\n', '\r', '\\', '\'', '"', 032, '\t', 0x1f, 0x20, 0x21,
		'&', '(', '[', ']', '\\' + 1, '\\' - 1, 0x7f, 0x80, 0xa7, 0xdc,
		0xff, 'a', 'z', '/', '0',
	};
	unsigned char text[80];
	struct buf got, want;
	unsigned seed = 5;

	(void)state;
	buf_init(&got, 1024);
	buf_init(&want, 1024);
	for (int round = 0; round < 20000; round++) {
		size_t at = (size_t)rand_r(&seed) % 8, len = (size_t)rand_r(&seed) % 71;
		int plain = rand_r(&seed) % 4;   /* 0..3: how rare the odd bytes */

		for (size_t i = 0; i < len; i++)
			text[at + i] = rand_r(&seed) % 8 < plain ? 'a' + rand_r(&seed) % 26 :
				       pick[rand_r(&seed) % sizeof(pick)];
		buf_reset(&got);
		buf_reset(&want);
		assert_int_equal(store_sql_quote(&got, (const char *)text + at, len), 0);
		quote_reference(&want, text + at, len);
		assert_int_equal(buf_len(&got), buf_len(&want));
		assert_memory_equal(buf_str(&got), buf_str(&want), buf_len(&want));
	}
	buf_fini(&got);
	buf_fini(&want);
}

static void test_quote_respects_bound(void **state)
{
	struct buf out;

	buf_init(&out, 6);
	assert_int_equal(store_sql_quote(&out, "abcd", 4), 0);
	assert_string_equal(buf_str(&out), "'abcd'");
	buf_reset(&out);
	assert_int_equal(store_sql_quote(&out, "abcde", 5), -ENOSPC);
	buf_reset(&out);
	assert_int_equal(store_sql_quote(&out, "abc'", 4), -ENOSPC);
	assert_true(buf_len(&out) <= 6);
	buf_fini(&out);
}

static void expect_datetime(int64_t t, const char *want)
{
	char out[20];

	memset(out, 'x', sizeof(out));
	store_sql_datetime(t, out);
	assert_string_equal(out, want);
}

static void test_datetime_known(void **state)
{
	expect_datetime(0, "1970-01-01 00:00:00");
	expect_datetime(-1, "1969-12-31 23:59:59");
	expect_datetime(1795551982, "2026-11-24 20:26:22");
	expect_datetime(951782400, "2000-02-29 00:00:00");       /* 400-year leap */
	expect_datetime(1709164800, "2024-02-29 00:00:00");
	expect_datetime(4107542399, "2100-02-28 23:59:59");      /* not leap */
	expect_datetime(4107542400, "2100-03-01 00:00:00");
	expect_datetime(-2203891200, "1900-03-01 00:00:00");
	expect_datetime(-62135596800, "0001-01-01 00:00:00");
	expect_datetime(-62167219200, "0000-01-01 00:00:00");
	expect_datetime(253402300799, "9999-12-31 23:59:59");
}

static void test_datetime_clamps(void **state)
{
	expect_datetime(-62167219201, "0000-01-01 00:00:00");
	expect_datetime(INT64_MIN, "0000-01-01 00:00:00");
	expect_datetime(253402300800, "9999-12-31 23:59:59");
	expect_datetime(INT64_MAX, "9999-12-31 23:59:59");
}

/* Against the C library, every 7777777 s (about 90 days) from year 1 on. */
static void test_datetime_sweep(void **state)
{
	char want[64], got[20];
	struct tm tm;
	time_t tt;
	int64_t t;

	for (t = -62135596800; t <= 253402300799; t += 7777777) {
		tt = (time_t)t;
		assert_non_null(gmtime_r(&tt, &tm));
		snprintf(want, sizeof(want), "%04d-%02d-%02d %02d:%02d:%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
		store_sql_datetime(t, got);
		assert_string_equal(got, want);
	}
}

/* --- statements, parsed back -------------------------------------------- */

struct parsed_row {
	uint32_t window_seconds;
	char when[20];
	char *dim;
	char *value;
	size_t len;
	/* counts: hits, bytes, duration_count, _sum, _max; latency: bucket, hits */
	uint64_t num[5];
};

struct collect {
	bool latency;           /* statements of the latency table */
	size_t max_bytes;
	size_t statements;
	struct parsed_row *rows;
	size_t n, cap;
	int stop_at;            /* return 7 from this statement on (1-based) */
};

/* Reads a literal written by store_sql_quote() at *p; returns its bytes. */
static char *parse_literal(const char **p, size_t *len)
{
	const char *s = *p;
	char *out = malloc(strlen(s) + 1);
	size_t n = 0;

	assert_non_null(out);
	assert_int_equal(*s++, '\'');
	while (*s != '\'') {
		assert_int_not_equal(*s, '\0');
		if (*s != '\\') {
			out[n++] = *s++;
			continue;
		}
		s++;
		out[n++] = *s == '0' ? '\0' : *s == 'n' ? '\n' : *s == 'r' ?
			   '\r' : *s == 'Z' ? '\032' : *s;
		s++;
	}
	out[n] = '\0';
	*len = n;
	*p = s + 1;
	return out;
}

static const char *parse_row(const char *s, struct parsed_row *r, int nums)
{
	char *end;
	size_t len;

	assert_int_equal(*s++, '(');
	r->window_seconds = (uint32_t)strtoul(s, &end, 10);
	s = end;
	assert_memory_equal(s, ",'", 2);
	memcpy(r->when, s + 2, 19);
	r->when[19] = '\0';
	s += 21;
	assert_memory_equal(s, "',", 2);
	s += 2;
	r->dim = parse_literal(&s, &len);
	assert_int_equal(*s++, ',');
	r->value = parse_literal(&s, &r->len);
	for (int k = 0; k < nums; k++) {
		assert_int_equal(*s++, ',');
		r->num[k] = strtoull(s, &end, 10);
		assert_true(end > s);
		s = end;
	}
	assert_int_equal(*s++, ')');
	return s;
}

static int collect_statement(void *arg, const char *sql, size_t len)
{
	struct collect *c = arg;
	const char *head = c->latency ? LATENCY_HEAD : HEAD;
	const char *tail = c->latency ? LATENCY_TAIL : TAIL;
	const char *s = sql, *end = sql + len - strlen(tail);

	c->statements++;
	if (c->stop_at && (int)c->statements >= c->stop_at)
		return 7;
	assert_int_equal(strlen(sql), len);
	assert_true(len <= c->max_bytes);
	assert_memory_equal(s, head, strlen(head));
	assert_string_equal(end, tail);
	s += strlen(head);
	do {
		if (c->n == c->cap) {
			c->cap = c->cap ? 2 * c->cap : 64;
			c->rows = realloc(c->rows, c->cap * sizeof(*c->rows));
			assert_non_null(c->rows);
		}
		s = parse_row(s, &c->rows[c->n++], c->latency ? 2 : 5);
	} while (s < end && *s++ == ',');
	assert_ptr_equal(s, end);
	return 0;
}

static void collect_free(struct collect *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->rows[i].dim);
		free(c->rows[i].value);
	}
	free(c->rows);
}

/* n rows of every kind of value: short, escaped, 512 multibyte chars. */
static struct window_row *make_rows(size_t n, char **arena)
{
	static const char *const odd[] = {
		"/", "');--", "<script>", "a\\b", "q\"q", "nl\nnl", "\032",
		"Foo", "foo", "a ", "a", "a\xc3\xb1o",
	};
	struct window_row *rows = calloc(n, sizeof(*rows));
	char *p;
	size_t i, j;

	assert_non_null(rows);
	*arena = p = malloc(n * 2100);
	assert_non_null(p);
	for (i = 0; i < n; i++) {
		/*
		 * Runs of rows share their size, dimension and start, as sorted
		 * rows do, and each of the three changes on its own.
		 */
		rows[i].window_seconds = (i / 16) % 3 ? 5 : 3600;
		rows[i].dim = (uint32_t)((i / 8) % 3);
		rows[i].start_s = 1795551980 + (int64_t)(i / 4) * 5;
		rows[i].value = p;
		if (i % 97 == 0) {        /* 512 four-byte characters */
			for (j = 0; j < 512; j++)
				memcpy(p + 4 * j, "\xf0\x9f\x98\x80", 4);
			rows[i].len = 2048;
		} else if (i % 89 == 0) { /* 512 quotes: the longest escaping */
			memset(p, '\'', 512);
			rows[i].len = 512;
		} else {
			rows[i].len = (size_t)sprintf(p, "%s/%zu",
						      odd[i % 12], i);
		}
		p += rows[i].len + 1;
		rows[i].hits = (uint64_t)i * 1000003 + 1;
		rows[i].bytes = (uint64_t)i * 7919;
		rows[i].duration_count = i % 5 ? rows[i].hits : 0;
		rows[i].duration_us_sum = rows[i].duration_count * 1234;
		rows[i].duration_us_max = rows[i].duration_count ? 99999 + i : 0;
	}
	return rows;
}

static void check_split(size_t n, size_t max_bytes)
{
	struct collect c = {.max_bytes = max_bytes};
	struct window_row *rows;
	char *arena, when[20];
	size_t i;

	rows = make_rows(n, &arena);
	assert_int_equal(store_sql_upserts("counts", rows, n, names, max_bytes,
					   collect_statement, &c), 0);
	assert_int_equal(c.n, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(c.rows[i].window_seconds, rows[i].window_seconds);
		store_sql_datetime(rows[i].start_s, when);
		assert_string_equal(c.rows[i].when, when);
		assert_string_equal(c.rows[i].dim, names[rows[i].dim]);
		assert_int_equal(c.rows[i].len, rows[i].len);
		assert_memory_equal(c.rows[i].value, rows[i].value, rows[i].len);
		assert_int_equal(c.rows[i].num[0], rows[i].hits);
		assert_int_equal(c.rows[i].num[1], rows[i].bytes);
		assert_int_equal(c.rows[i].num[2], rows[i].duration_count);
		assert_int_equal(c.rows[i].num[3], rows[i].duration_us_sum);
		assert_int_equal(c.rows[i].num[4], rows[i].duration_us_max);
	}
	if (n > 0)
		assert_true(c.statements >= 1 + (n * 30) / max_bytes);
	else
		assert_int_equal(c.statements, 0);
	collect_free(&c);
	free(rows);
	free(arena);
}

static void test_split_many_rows(void **state)
{
	check_split(0, STORE_SQL_MIN_BYTES);
	check_split(1, STORE_SQL_MIN_BYTES);
	check_split(5000, STORE_SQL_MIN_BYTES);
	check_split(5000, 65536);
	check_split(20000, 1 << 20);
}

/* The worst row allowed fits in the smallest statement. */
static void test_split_worst_row_fits(void **state)
{
	static const char *const long_name[] = {"''''''''''''''''''''''''''''''''"};
	struct collect c = {.max_bytes = STORE_SQL_MIN_BYTES};
	struct window_row row = {.window_seconds = 4294967295u,
				 .start_s = 253402300799, .hits = UINT64_MAX};
	char value[2048];
	size_t i;

	for (i = 0; i < 512; i++)
		memcpy(value + 4 * i, "\xf0\x9f\x98\x80", 4);
	row.value = value;
	row.len = sizeof(value);
	assert_int_equal(store_sql_upserts("counts", &row, 1, long_name,
					   STORE_SQL_MIN_BYTES,
					   collect_statement, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.rows[0].num[0], UINT64_MAX);
	assert_int_equal(c.rows[0].window_seconds, 4294967295u);
	collect_free(&c);
}

static void test_split_errors(void **state)
{
	struct collect c = {.max_bytes = 1 << 20};
	struct window_row *rows;
	char *arena, *big;

	rows = make_rows(3000, &arena);
	c.stop_at = 2;
	assert_int_equal(store_sql_upserts("counts", rows, 3000, names, 8192,
					   collect_statement, &c), 7);
	assert_int_equal(c.statements, 2);     /* nothing after the stop */
	collect_free(&c);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_sql_upserts("counts", rows, 1, names,
					   STORE_SQL_MIN_BYTES - 1,
					   collect_statement, &c), -EINVAL);
	big = malloc(5000);
	assert_non_null(big);
	memset(big, 'x', 5000);
	rows[1].value = big;
	rows[1].len = 5000;
	memset(&c, 0, sizeof(c));
	c.max_bytes = STORE_SQL_MIN_BYTES;
	assert_int_equal(store_sql_upserts("counts", rows, 3, names,
					   STORE_SQL_MIN_BYTES,
					   collect_statement, &c), -EMSGSIZE);
	collect_free(&c);
	free(big);
	free(rows);
	free(arena);
}

/*
 * The latency rows: one per histogram pair, rows in order and each row's
 * pairs as given (window_rows_build sorts them), cut into statements
 * anywhere, a row's pairs across two statements included; rows without
 * pairs write nothing, and no pairs at all no statement.
 */
static void test_latency_upserts(void **state)
{
	enum { N = 500 };
	struct window_row *rows;
	uint64_t *pairs = calloc(N * WINDOW_BUCKETS, sizeof(*pairs));
	struct collect c = {.latency = true, .max_bytes = STORE_SQL_MIN_BYTES};
	char *arena, when[20];
	size_t k = 0;

	(void)state;
	assert_non_null(pairs);
	rows = make_rows(N, &arena);
	assert_int_equal(store_sql_latency_upserts(rows, N, names,
						   STORE_SQL_MIN_BYTES,
						   collect_statement, &c), 0);
	assert_int_equal(c.statements, 0);
	for (size_t i = 0; i < N; i++) {
		rows[i].hist = pairs + i * WINDOW_BUCKETS;
		rows[i].nhist = i % 4 ? i % WINDOW_BUCKETS : 0;
		for (size_t j = 0; j < rows[i].nhist; j++)
			pairs[i * WINDOW_BUCKETS + j] = (uint64_t)j << 56 | (i + j + 1);
	}
	assert_int_equal(store_sql_latency_upserts(rows, N, names,
						   STORE_SQL_MIN_BYTES,
						   collect_statement, &c), 0);
	assert_true(c.statements > 10);
	for (size_t i = 0; i < N; i++)
		for (size_t j = 0; j < rows[i].nhist; j++, k++) {
			assert_true(k < c.n);
			assert_int_equal(c.rows[k].window_seconds,
					 rows[i].window_seconds);
			store_sql_datetime(rows[i].start_s, when);
			assert_string_equal(c.rows[k].when, when);
			assert_string_equal(c.rows[k].dim, names[rows[i].dim]);
			assert_int_equal(c.rows[k].len, rows[i].len);
			assert_memory_equal(c.rows[k].value, rows[i].value,
					    rows[i].len);
			assert_int_equal(c.rows[k].num[0], j);
			assert_int_equal(c.rows[k].num[1], i + j + 1);
		}
	assert_int_equal(c.n, k);
	collect_free(&c);
	free(rows);
	free(arena);
	free(pairs);
}

/* Counts the latency statements, checks their shape; stops at stop_at. */
struct shapes {
	size_t max_bytes;
	size_t statements;
	size_t stop_at;         /* return 7 from this statement on (1-based) */
};

static int shapes_statement(void *arg, const char *sql, size_t len)
{
	static const char head[] = "INSERT INTO latency (";
	static const char tail[] = " ON DUPLICATE KEY UPDATE hits = hits + VALUES(hits)";
	struct shapes *t = arg;

	t->statements++;
	if (t->stop_at && t->statements >= t->stop_at)
		return 7;
	assert_true(len <= t->max_bytes);
	assert_int_equal(strlen(sql), len);
	assert_memory_equal(sql, head, sizeof(head) - 1);
	assert_true(len > sizeof(tail));
	assert_string_equal(sql + len - (sizeof(tail) - 1), tail);
	return 0;
}

/*
 * The latency rows' own loop: at every statement size each statement is
 * whole and within the size; a statement callback that fails stops the
 * rows at once and its return comes back; a size under the minimum is
 * refused, and so is a key too long for any statement.
 */
static void test_latency_limits(void **state)
{
	enum { N = 400 };
	static const size_t sizes[] = {STORE_SQL_MIN_BYTES, 10000, 1 << 20};
	uint64_t *pairs = calloc(N * WINDOW_BUCKETS, sizeof(*pairs));
	struct window_row *rows;
	struct shapes t;
	char *arena, *big;

	(void)state;
	assert_non_null(pairs);
	rows = make_rows(N, &arena);
	for (size_t i = 0; i < N; i++) {
		rows[i].hist = pairs + i * WINDOW_BUCKETS;
		rows[i].nhist = i % 3 ? i % 7 : 0;
		for (size_t j = 0; j < rows[i].nhist; j++)
			pairs[i * WINDOW_BUCKETS + j] = (uint64_t)(3 * j) << 56 | (i * j + 1);
	}
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		t = (struct shapes){.max_bytes = sizes[s]};
		assert_int_equal(store_sql_latency_upserts(rows, N, names, sizes[s],
							   shapes_statement, &t), 0);
		assert_true(t.statements >= 1);
	}
	t = (struct shapes){.max_bytes = STORE_SQL_MIN_BYTES, .stop_at = 2};
	assert_int_equal(store_sql_latency_upserts(rows, N, names,
						   STORE_SQL_MIN_BYTES, shapes_statement, &t), 7);
	assert_int_equal(t.statements, 2);
	assert_int_equal(store_sql_latency_upserts(rows, N, names,
						   STORE_SQL_MIN_BYTES - 1, shapes_statement, &t),
			 -EINVAL);

	big = malloc(5000);
	assert_non_null(big);
	memset(big, 'x', 5000);
	rows[1].value = big;
	rows[1].len = 5000;
	t = (struct shapes){.max_bytes = STORE_SQL_MIN_BYTES};
	assert_int_equal(store_sql_latency_upserts(rows, 3, names,
						   STORE_SQL_MIN_BYTES, shapes_statement, &t),
			 -EMSGSIZE);
	assert_int_equal(t.statements, 0);
	free(big);
	free(rows);
	free(arena);
	free(pairs);
}

struct plain {
	size_t statements, bytes;
};

static int plain_row(void *arg, size_t i, struct buf *out)
{
	return buf_printf(out, "(%zu)", i);
}

static int plain_statement(void *arg, const char *sql, size_t len)
{
	struct plain *p = arg;

	p->statements++;
	p->bytes += len;
	assert_true(len <= STORE_SQL_MIN_BYTES);
	assert_memory_equal(sql, "H ", 2);
	assert_string_equal(sql + len - 2, " T");
	return 0;
}

/* The general batch: statements as full as they can be. */
static void test_batch_fills_statements(void **state)
{
	struct plain p = {0, 0};

	assert_int_equal(store_sql_batch("H ", " T", 3000, plain_row, NULL,
					 STORE_SQL_MIN_BYTES, plain_statement,
					 &p), 0);
	/* rows of 3 to 6 bytes plus a comma: each statement within 8 of full */
	assert_true(p.bytes > (STORE_SQL_MIN_BYTES - 8) * (p.statements - 1));
	assert_true(p.statements >= 5);
}

static void test_partitions_and_cas(void **state)
{
	static const int32_t parts[] = {0, 7, 2147483647};
	struct buf out;

	buf_init(&out, 4096);
	assert_int_equal(store_sql_partitions(&out, "SELECT x FROM t WHERE "
					      "topic = ", "it's", parts, 3,
					      " LOCK IN SHARE MODE"), 0);
	assert_string_equal(buf_str(&out), "SELECT x FROM t WHERE topic = "
			    "'it\\'s' AND kafka_partition IN (0,7,2147483647) "
			    "LOCK IN SHARE MODE");
	buf_reset(&out);
	assert_int_equal(store_sql_offset_cas(&out, "web\\logs", 3, -2,
					      INT64_MAX), 0);
	assert_string_equal(buf_str(&out), "UPDATE logtally_offsets SET "
			    "next_offset = 9223372036854775807, updated_at = "
			    "NOW(3) WHERE topic = 'web\\\\logs' AND "
			    "kafka_partition = 3 AND next_offset = -2");
	buf_fini(&out);
	buf_init(&out, 40);
	assert_int_equal(store_sql_offset_cas(&out, "t", 1, 1, 2), -ENOSPC);
	buf_fini(&out);
}

/* Steps in version order, idempotent, the last one the program's. */
static void test_schema_steps(void **state)
{
	const struct store_sql_step *step;
	unsigned int last = 0;
	size_t i;

	assert_non_null(strstr(store_sql_schema_table, "IF NOT EXISTS"));
	for (step = store_sql_steps; step->ddl; step++) {
		assert_true(step->version > last);
		last = step->version;
		for (i = 0; step->ddl[i]; i++)
			assert_true(strstr(step->ddl[i], "IF NOT EXISTS") ||
				    strstr(step->ddl[i], "IF EXISTS") ||
				    !strncmp(step->ddl[i], "INSERT IGNORE ", 14));
	}
	assert_int_equal(last, STORE_SCHEMA_VERSION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_escapes),
		cmocka_unit_test(test_quote_hostile_and_unicode),
		cmocka_unit_test(test_quote_respects_bound),
		cmocka_unit_test(test_quote_words),
		cmocka_unit_test(test_datetime_known),
		cmocka_unit_test(test_datetime_clamps),
		cmocka_unit_test(test_datetime_sweep),
		cmocka_unit_test(test_split_many_rows),
		cmocka_unit_test(test_split_worst_row_fits),
		cmocka_unit_test(test_split_errors),
		cmocka_unit_test(test_latency_upserts),
		cmocka_unit_test(test_latency_limits),
		cmocka_unit_test(test_batch_fills_statements),
		cmocka_unit_test(test_partitions_and_cas),
		cmocka_unit_test(test_schema_steps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
