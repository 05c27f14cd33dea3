/*
 * Unit tests of aggregator/accesslog: the data-driven cases of
 * test/data/accesslog.cases (real odd lines of every format, times and
 * zones), field names and indexes, custom patterns with extra groups,
 * parser reuse and the time cache, the day arithmetic against timegm(),
 * long lines, and a measure of ns per line that prints and asserts only
 * that every line parsed (ACCESSLOG_BENCH_FILE names a log to time; by
 * default the combined lines of the cases file, repeated).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregator/accesslog.h"
#include "xalloc.h"

#define TEST_LINE_MAX (64 * 1024)

/* --- the cases file -------------------------------------------------- */

struct test_cases {
	const char *path;
	size_t lineno;
	struct accesslog *lp;
	char *text;             /* the current case's line, owned */
	size_t len;
	bool is_time;
	int rc;                 /* of accesslog_parse(); 0 for a time case */
	struct accesslog_record rec;
	size_t expectations;    /* of the current case */
	size_t cases, failures;
};

static void test_fail(struct test_cases *tc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void test_fail(struct test_cases *tc, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_error("%s:%zu: %s\n", tc->path, tc->lineno, msg);
	tc->failures++;
}

static int test_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* Decode \xHH and \\ of s in place; returns the new length. */
static size_t test_unescape(char *s)
{
	size_t n = 0;

	for (size_t i = 0; s[i]; i++) {
		if (s[i] == '\\' && s[i + 1] == '\\') {
			s[n++] = '\\';
			i++;
		} else if (s[i] == '\\' && s[i + 1] == 'x' && test_hex(s[i + 2]) >= 0 &&
			   test_hex(s[i + 3]) >= 0) {
			s[n++] = (char)(test_hex(s[i + 2]) << 4 | test_hex(s[i + 3]));
			i += 3;
		} else {
			s[n++] = s[i];
		}
	}
	s[n] = '\0';
	return n;
}

static void test_case_end(struct test_cases *tc)
{
	if (tc->text && tc->expectations == 0)
		test_fail(tc, "the case before this line checks nothing");
	free(tc->text);
	tc->text = NULL;
	tc->expectations = 0;
}

static void test_case_start(struct test_cases *tc, const char *arg, bool raw,
			    bool is_time)
{
	test_case_end(tc);
	tc->text = xstrdup(arg);
	tc->len = raw ? test_unescape(tc->text) : strlen(tc->text);
	tc->is_time = is_time;
	tc->cases++;
	if (is_time) {
		tc->rc = 0;
		tc->rec.time_ms = accesslog_parse_time(tc->text, tc->len);
		return;
	}
	if (!tc->lp) {
		test_fail(tc, "a line before any format");
		return;
	}
	tc->rc = accesslog_parse(tc->lp, tc->text, tc->len, &tc->rec);
}

static void test_format(struct test_cases *tc, const char *format)
{
	char err[256];

	test_case_end(tc);
	accesslog_free(tc->lp);
	tc->lp = accesslog_new(format, err, sizeof(err));
	if (!tc->lp)
		test_fail(tc, "format does not compile: %s", err);
}

/* "FIELD = VALUE", "FIELD empty" or "FIELD absent" against the record. */
static void test_expect_field(struct test_cases *tc, const char *name,
			      const char *op, const char *value)
{
	const struct accesslog_span *f;
	int field;

	if (!tc->lp || tc->is_time || tc->rc) {
		test_fail(tc, "'%s' expected of a line that did not parse", name);
		return;
	}
	field = accesslog_field_index(tc->lp, name);
	if (field < 0) {
		test_fail(tc, "no field '%s' in the format", name);
		return;
	}
	f = &tc->rec.fields[field];
	if (!strcmp(op, "absent") && f->p)
		test_fail(tc, "%s: want absent, got '%.*s'", name, (int)f->len, f->p);
	else if (!strcmp(op, "empty") && (!f->p || f->len))
		test_fail(tc, "%s: want empty, got %s'%.*s'", name, f->p ? "" : "absent ",
			  (int)f->len, f->p ? f->p : "");
	else if (!strcmp(op, "=") &&
		 (!f->p || f->len != strlen(value) || memcmp(f->p, value, f->len)))
		test_fail(tc, "%s: want '%s', got %s'%.*s'", name, value,
			  f->p ? "" : "absent ", (int)f->len, f->p ? f->p : "");
}

/* "time_ms = N", "rec.bytes = N" or "rec.duration_us = N": a record's number. */
static void test_expect_number(struct test_cases *tc, const char *name, long long want)
{
	long long got = tc->rec.time_ms;

	if (!strcmp(name, "rec.bytes"))
		got = (long long)tc->rec.bytes;
	else if (!strcmp(name, "rec.duration_us"))
		got = tc->rec.duration_us;
	if (tc->rc || (tc->is_time && strcmp(name, "time_ms")) || got != want)
		test_fail(tc, "%s: want %lld, got %lld (rc %d)", name, want, got, tc->rc);
}

static void test_expect(struct test_cases *tc, const char *text)
{
	char name[64], op[8];
	int used = 0;

	if (!tc->text) {
		test_fail(tc, "an expectation without a case");
		return;
	}
	tc->expectations++;
	if (!strcmp(text, "rejected")) {
		if (tc->is_time || tc->rc != -EINVAL)
			test_fail(tc, "want rejected, got rc %d", tc->rc);
		return;
	}
	if (sscanf(text, "%63s %7s%n", name, op, &used) < 2) {
		test_fail(tc, "cannot read the expectation '%s'", text);
		return;
	}
	if (!strcmp(name, "time_ms") || !strcmp(name, "rec.bytes") ||
	    !strcmp(name, "rec.duration_us")) {
		test_expect_number(tc, name, strtoll(text + used, NULL, 10));
		return;
	}
	test_expect_field(tc, name, op, text[used] ? text + used + 1 : "");
}

static void test_cases_line(struct test_cases *tc, char *s)
{
	if (s[0] == '#' || s[0] == '\0')
		return;
	if (!strncmp(s, "  ", 2))
		test_expect(tc, s + 2);
	else if (!strncmp(s, "format ", 7))
		test_format(tc, s + 7);
	else if (!strncmp(s, "line ", 5))
		test_case_start(tc, s + 5, false, false);
	else if (!strncmp(s, "xline ", 6))
		test_case_start(tc, s + 6, true, false);
	else if (!strncmp(s, "time ", 5))
		test_case_start(tc, s + 5, false, true);
	else
		test_fail(tc, "unknown directive");
}

static char *test_data_path(const char *rel)
{
	const char *top = getenv("top_srcdir");

	return xasprintf("%s/%s", top ? top : ".", rel);
}

/* Run the cases of the file rel (under top_srcdir); returns how many. */
static size_t test_run_cases(const char *rel)
{
	struct test_cases tc = {0};
	char *path = test_data_path(rel);
	char *line = xmalloc(TEST_LINE_MAX);
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	tc.path = path;
	while (fgets(line, TEST_LINE_MAX, f)) {
		tc.lineno++;
		line[strcspn(line, "\n")] = '\0';
		test_cases_line(&tc, line);
	}
	tc.lineno++;
	test_case_end(&tc);
	fclose(f);
	accesslog_free(tc.lp);
	free(line);
	free(path);
	print_message("# %s: %zu cases, %zu failed\n", rel, tc.cases, tc.failures);
	assert_int_equal(tc.failures, 0);
	return tc.cases;
}

static void test_cases_file(void **state)
{
	assert_true(test_run_cases("test/data/accesslog.cases") >= 100);
}

/* The lines Debian's nginx and apache2 wrote (test/data/formats/README). */
static void test_server_lines(void **state)
{
	assert_true(test_run_cases("test/data/formats/servers.cases") >= 80);
}

/* --- names, indexes, patterns ---------------------------------------- */

static void test_builtin_names(void **state)
{
	static const char *const names[ACCESSLOG_NFIELDS] = {
		"remote_addr", "remote_user", "time", "method", "target", "protocol",
		"status", "bytes", "referer", "user_agent", "host", "request_time",
		"duration_us", "path",
	};
	/* the built-ins, whether each has a duration, and its one extra field */
	static const struct {
		const char *name;
		bool timed;
		const char *extra;
	} formats[] = {
		{"common", false, NULL}, {"combined", false, NULL},
		{"vhost_combined", false, NULL}, {"nginx_request_time", true, NULL},
		{"nginx_upstream_time", true, "upstream_time"},
		{"apache_duration_us", true, NULL}, {"apache_duration_s", true, NULL},
	};
	char err[256];

	for (size_t k = 0; k < sizeof(formats) / sizeof(formats[0]); k++) {
		struct accesslog *lp = accesslog_new(formats[k].name, err, sizeof(err));
		size_t n = ACCESSLOG_NFIELDS + (formats[k].extra != NULL);

		assert_non_null(lp);
		assert_true(accesslog_is_builtin(formats[k].name));
		assert_int_equal(accesslog_has_duration(lp), formats[k].timed);
		assert_int_equal(accesslog_field_count(lp), n);
		for (size_t i = 0; i < ACCESSLOG_NFIELDS; i++) {
			assert_string_equal(accesslog_field_name(lp, i), names[i]);
			assert_int_equal(accesslog_field_index(lp, names[i]), (int)i);
		}
		if (formats[k].extra)
			assert_string_equal(accesslog_field_name(lp, ACCESSLOG_NFIELDS),
					    formats[k].extra);
		assert_null(accesslog_field_name(lp, n));
		assert_int_equal(accesslog_field_index(lp, "request"), -1);
		assert_int_equal(accesslog_field_index(lp, "nope"), -1);
		accesslog_free(lp);
	}
	assert_false(accesslog_is_builtin("Combined"));
	assert_false(accesslog_is_builtin("(?<status>\\d+)"));
	accesslog_free(NULL);
}

static void test_custom_extra_groups(void **state)
{
	static const char pattern[] =
		"(?<zeta>\\w+) (?<status>\\d+) (?<alpha>\\w+) (?<request>[^|]*)\\|(?<zeta2>.*)";
	static const char line[] = "z 200 a GET /p?q HTTP/1.1|rest";
	struct accesslog_record rec;
	char err[256];
	struct accesslog *lp = accesslog_new(pattern, err, sizeof(err));
	int alpha, zeta;

	assert_non_null(lp);
	/* the others in name order, after the enum */
	assert_int_equal(accesslog_field_count(lp), ACCESSLOG_NFIELDS + 4);
	assert_string_equal(accesslog_field_name(lp, ACCESSLOG_NFIELDS), "alpha");
	assert_string_equal(accesslog_field_name(lp, ACCESSLOG_NFIELDS + 1), "request");
	assert_string_equal(accesslog_field_name(lp, ACCESSLOG_NFIELDS + 2), "zeta");
	assert_string_equal(accesslog_field_name(lp, ACCESSLOG_NFIELDS + 3), "zeta2");
	assert_null(accesslog_field_name(lp, ACCESSLOG_NFIELDS + 4));
	alpha = accesslog_field_index(lp, "alpha");
	zeta = accesslog_field_index(lp, "zeta");
	assert_int_equal(alpha, ACCESSLOG_NFIELDS);
	assert_int_equal(accesslog_field_index(lp, "status"), ACCESSLOG_STATUS);
	assert_int_equal(accesslog_parse(lp, line, strlen(line), &rec), 0);
	assert_memory_equal(rec.fields[alpha].p, "a", rec.fields[alpha].len);
	assert_int_equal(rec.fields[zeta].len, 1);
	assert_ptr_equal(rec.fields[ACCESSLOG_STATUS].p, line + 2);
	assert_int_equal(rec.fields[ACCESSLOG_PATH].len, 2);
	assert_memory_equal(rec.fields[ACCESSLOG_PATH].p, "/p", 2);
	assert_null(rec.fields[ACCESSLOG_TIME].p);
	assert_int_equal(rec.time_ms, -1);
	accesslog_free(lp);
}

/* A group named path is taken as is, not cut from target. */
static void test_custom_path_group(void **state)
{
	static const char line[] = "/a/b?c /a";
	struct accesslog_record rec;
	char err[256];
	struct accesslog *lp = accesslog_new("(?<target>\\S+) (?<path>\\S+)", err,
					     sizeof(err));

	assert_non_null(lp);
	assert_int_equal(accesslog_parse(lp, line, strlen(line), &rec), 0);
	assert_int_equal(rec.fields[ACCESSLOG_PATH].len, 2);
	assert_ptr_equal(rec.fields[ACCESSLOG_PATH].p, line + 7);
	accesslog_free(lp);
}

/* (?J) allows a name twice: the group that took part fills the field. */
static void test_custom_duplicate_names(void **state)
{
	struct accesslog_record rec;
	char err[256];
	struct accesslog *lp = accesslog_new(
		"(?J)(?:A (?<status>\\d+)|B (?<status>\\d+) (?<x>\\w))", err, sizeof(err));

	assert_non_null(lp);
	assert_int_equal(accesslog_field_count(lp), ACCESSLOG_NFIELDS + 1);
	assert_int_equal(accesslog_parse(lp, "B 404 q", 7, &rec), 0);
	assert_int_equal(rec.fields[ACCESSLOG_STATUS].len, 3);
	assert_memory_equal(rec.fields[ACCESSLOG_STATUS].p, "404", 3);
	assert_int_equal(accesslog_parse(lp, "A 200", 5, &rec), 0);
	assert_memory_equal(rec.fields[ACCESSLOG_STATUS].p, "200", 3);
	assert_null(rec.fields[ACCESSLOG_NFIELDS].p);
	accesslog_free(lp);
}

static void test_bad_patterns(void **state)
{
	char err[256] = "";

	assert_null(accesslog_new("(?<status>\\d+", err, sizeof(err)));
	assert_non_null(strstr(err, "offset"));
	err[0] = '\0';
	assert_null(accesslog_new("\\d+ (\\w+)", err, sizeof(err)));
	assert_non_null(strstr(err, "no named group"));
	assert_null(accesslog_new("(?<1x>a)", err, sizeof(err)));
}

/* Custom patterns are UTF with UCP: \w takes "año"; bad bytes never error. */
static void test_custom_utf(void **state)
{
	static const char good[] = "a\xc3\xb1o 200";
	static const char bad[] = "a\xff\xfeo 200";
	struct accesslog_record rec;
	char err[256];
	struct accesslog *lp = accesslog_new("(?<host>\\w+) (?<status>\\d+)", err,
					     sizeof(err));

	assert_non_null(lp);
	assert_int_equal(accesslog_parse(lp, good, strlen(good), &rec), 0);
	assert_int_equal(rec.fields[ACCESSLOG_HOST].len, 4);
	assert_int_equal(accesslog_parse(lp, bad, strlen(bad), &rec), -EINVAL);
	assert_null(rec.fields[ACCESSLOG_HOST].p);
	accesslog_free(lp);
}

/* A custom pattern has durations when it names request_time or duration_us. */
static void test_custom_has_duration(void **state)
{
	static const struct {
		const char *pattern;
		bool timed;
	} cases[] = {
		{"(?<status>\\d+) (?<request_time>\\S+)", true},
		{"(?<status>\\d+) (?<duration_us>\\d+)", true},
		{"(?<status>\\d+)(?: (?<duration_us>\\d+))?", true},
		{"(?<status>\\d+) (?<duration>\\d+)", false},
		{"(?<status>\\d+) (?<upstream_time>\\S+)", false},
	};
	struct accesslog_record rec;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct accesslog *lp = accesslog_new(cases[i].pattern, err, sizeof(err));

		assert_non_null(lp);
		assert_int_equal(accesslog_has_duration(lp), cases[i].timed);
		assert_int_equal(accesslog_parse(lp, "200 15", 6, &rec), 0);
		assert_int_equal(rec.duration_us, !cases[i].timed ? -1 :
				 strstr(cases[i].pattern, "request_time") ? 15000000 : 15);
		accesslog_free(lp);
	}
}

/* --- reuse, cache, limits -------------------------------------------- */

/* A field of the previous line never leaks into the next. */
static void test_reuse_clears(void **state)
{
	static const char full[] =
		"1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] \"GET /x HTTP/1.1\" 200 1 \"r\" \"u\"";
	static const char bare[] = "1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] \"-\" 408 -";
	struct accesslog_record rec;
	char err[256];
	struct accesslog *lp = accesslog_new("combined", err, sizeof(err));

	assert_int_equal(accesslog_parse(lp, full, strlen(full), &rec), 0);
	assert_non_null(rec.fields[ACCESSLOG_USER_AGENT].p);
	assert_non_null(rec.fields[ACCESSLOG_PATH].p);
	assert_int_equal(accesslog_parse(lp, bare, strlen(bare), &rec), 0);
	assert_null(rec.fields[ACCESSLOG_USER_AGENT].p);
	assert_null(rec.fields[ACCESSLOG_METHOD].p);
	assert_null(rec.fields[ACCESSLOG_PATH].p);
	assert_int_equal(rec.bytes, 0);
	assert_int_equal(accesslog_parse(lp, full, strlen(full), &rec), 0);
	assert_int_equal(rec.bytes, 1);
	assert_int_equal(accesslog_parse(lp, "junk", 4, &rec), -EINVAL);
	for (size_t i = 0; i < accesslog_field_count(lp); i++)
		assert_null(rec.fields[i].p);
	assert_int_equal(rec.time_ms, -1);
	assert_int_equal(rec.bytes, 0);
	assert_int_equal(rec.duration_us, -1);
	assert_int_equal(accesslog_parse(lp, NULL, 0, &rec), -EINVAL);
	accesslog_free(lp);
}

static int64_t test_line_time(struct accesslog *lp, const char *time)
{
	char line[256];
	struct accesslog_record rec;

	snprintf(line, sizeof(line), "h - - [%s] \"GET / HTTP/1.1\" 200 1", time);
	assert_int_equal(accesslog_parse(lp, line, strlen(line), &rec), 0);
	return rec.time_ms;
}

/* Lines sharing a minute prefix still differ in seconds, fraction and zone. */
static void test_time_cache(void **state)
{
	static const char *const times[] = {
		"10/Oct/2000:13:55:36 -0700", "10/Oct/2000:13:55:37 -0700",
		"10/Oct/2000:13:55:37 +0000", "10/Oct/2000:13:55:99 +0000",
		"10/Oct/2000:13:55:", "10/Oct/2000:13:55:01.5 +0100",
		"10/Oct/2000:13:56:00 -0700", "10/Oct/2000:13:55:36 -0700",
		"2000-10-10T13:55:36Z", "2000-10-10T13:55:37+01:00",
		"2000-10-10T13:55:37", "31/Feb/2000:13:55:36 +0000",
		"31/Feb/2000:13:55:37 +0000", "10/Oct/2000:13:55:36 -0700",
	};
	char err[256];
	struct accesslog *lp = accesslog_new("common", err, sizeof(err));
	size_t hits = 0;

	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
			int64_t want = accesslog_parse_time(times[i], strlen(times[i]));

			assert_int_equal(test_line_time(lp, times[i]), want);
			hits += want >= 0;
		}
	assert_int_equal(hits, 2 * 9);
	accesslog_free(lp);
}

/* Every day from 1970 to 9999 at a few times of day, against timegm(). */
static void test_time_against_timegm(void **state)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char s[64];
	size_t checked = 0;

	for (int y = 1970; y <= 9999; y += (y < 2200 ? 1 : 7))
		for (int m = 1; m <= 12; m++)
			for (int d = 1; d <= 31; d++) {
				struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d,
						.tm_hour = (d * 7) % 24, .tm_min = d % 60,
						.tm_sec = (y + d) % 60};
				time_t t = timegm(&tm);
				bool valid = tm.tm_mday == d;

				snprintf(s, sizeof(s), "%02d/%.3s/%04d:%02d:%02d:%02d +0130", d,
					 months + 3 * (m - 1), y, (d * 7) % 24, d % 60, (y + d) % 60);
				assert_int_equal(accesslog_parse_time(s, strlen(s)),
						 valid ? ((int64_t)t - 5400) * 1000 : -1);
				checked++;
			}
	assert_true(checked > 100000);
}

/* A megabyte of user agent, and of escapes, parse without JIT stack trouble. */
static void test_long_lines(void **state)
{
	size_t n = 1 << 20;
	char *line = xmalloc(n + 256);
	int head = snprintf(line, 256, "h - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"");
	struct accesslog_record rec;
	char err[256];
	struct accesslog *lp = accesslog_new("combined", err, sizeof(err));

	for (size_t i = 0; i < n; i++)
		line[head + i] = i % 2 ? '"' : '\\';
	line[head + n] = '"';
	assert_int_equal(accesslog_parse(lp, line, head + n + 1, &rec), 0);
	assert_int_equal(rec.fields[ACCESSLOG_USER_AGENT].len, n);
	memset(line + head, 'a', n);
	assert_int_equal(accesslog_parse(lp, line, head + n + 1, &rec), 0);
	assert_int_equal(rec.fields[ACCESSLOG_USER_AGENT].len, n);
	/* no closing quote: the rest is a trailing field, found in linear time */
	assert_int_equal(accesslog_parse(lp, line, head + n, &rec), 0);
	assert_null(rec.fields[ACCESSLOG_USER_AGENT].p);
	memset(line, 'x', n);
	assert_int_equal(accesslog_parse(lp, line, n, &rec), -EINVAL);
	accesslog_free(lp);
	free(line);
}

/* --- measure --------------------------------------------------------- */

/* The lines to time: ACCESSLOG_BENCH_FILE, or the lines of the cases. */
static char **test_bench_lines(size_t *n)
{
	const char *env = getenv("ACCESSLOG_BENCH_FILE");
	char *path = env ? xstrdup(env) : test_data_path("test/data/accesslog.cases");
	FILE *f = fopen(path, "r");
	char *buf = xmalloc(TEST_LINE_MAX);
	char **lines = NULL;

	assert_non_null(f);
	*n = 0;
	while (fgets(buf, TEST_LINE_MAX, f)) {
		buf[strcspn(buf, "\n")] = '\0';
		if (!env && strncmp(buf, "line ", 5))
			continue;
		lines = xreallocarray(lines, *n + 1, sizeof(*lines));
		lines[(*n)++] = xstrdup(env ? buf : buf + 5);
	}
	fclose(f);
	free(buf);
	free(path);
	return lines;
}

static double test_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Drop the lines that combined rejects, so that only parses are timed. */
static void test_bench_keep_parsed(struct accesslog *lp, char **lines, size_t *n)
{
	struct accesslog_record rec;
	size_t kept = 0;

	for (size_t i = 0; i < *n; i++) {
		if (accesslog_parse(lp, lines[i], strlen(lines[i]), &rec) == 0)
			lines[kept++] = lines[i];
		else
			free(lines[i]);
	}
	*n = kept;
}

static void test_measure(void **state)
{
	size_t n, total = 0, parsed = 0, timed = 0, rounds;
	char **lines = test_bench_lines(&n);
	struct accesslog_record rec;
	char err[256];
	struct accesslog *lp = accesslog_new("combined", err, sizeof(err));
	double t0, ns;

	if (!getenv("ACCESSLOG_BENCH_FILE"))
		test_bench_keep_parsed(lp, lines, &n);
	assert_true(n > 0);
	rounds = n >= 200000 ? 1 : 200000 / n;
	t0 = test_now();
	for (size_t r = 0; r < rounds; r++)
		for (size_t i = 0; i < n; i++, total++)
			parsed += accesslog_parse(lp, lines[i], strlen(lines[i]), &rec) == 0;
	ns = (test_now() - t0) / (double)total;
	print_message("# combined: %.0f ns per line over %zu lines (%zu distinct), "
		      "%zu did not parse\n", ns, total, n, total - parsed);
	t0 = test_now();
	for (size_t i = 0; i < total; i++)
		timed += accesslog_parse_time("10/Oct/2000:13:55:36 -0700", 26) > 0;
	print_message("# accesslog_parse_time, uncached: %.1f ns\n",
		      (test_now() - t0) / (double)total);
	assert_int_equal(timed, total);
	if (!getenv("ACCESSLOG_BENCH_FILE"))
		assert_int_equal(parsed, total);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	accesslog_free(lp);
}

/* ns per line of format over lines[0..n), repeated to about 200000 parses. */
static double test_time_format(const char *format, char **lines, size_t n)
{
	size_t rounds = 200000 / n + 1, parsed = 0;
	struct accesslog_record rec;
	char err[256];
	struct accesslog *lp = accesslog_new(format, err, sizeof(err));
	double t0 = test_now(), ns;

	for (size_t r = 0; r < rounds; r++)
		for (size_t i = 0; i < n; i++)
			parsed += accesslog_parse(lp, lines[i], strlen(lines[i]), &rec) == 0;
	ns = (test_now() - t0) / (double)(rounds * n);
	assert_int_equal(parsed, rounds * n);
	accesslog_free(lp);
	return ns;
}

/*
 * The cost of sizes and durations: nginx's real upstream-time lines read
 * as nginx_upstream_time, and as combined (which skips the times).
 */
static void test_measure_timed(void **state)
{
	char *path = test_data_path("test/data/formats/nginx_upstream_time.log");
	FILE *f = fopen(path, "r");
	char buf[4096], *lines[64];
	size_t n = 0;

	assert_non_null(f);
	while (n < 64 && fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = '\0';
		lines[n++] = xstrdup(buf);
	}
	fclose(f);
	assert_true(n > 0);
	print_message("# nginx_upstream_time: %.0f ns per line; the same lines as "
		      "combined: %.0f ns\n", test_time_format("nginx_upstream_time", lines, n),
		      test_time_format("combined", lines, n));
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases_file),
		cmocka_unit_test(test_server_lines),
		cmocka_unit_test(test_builtin_names),
		cmocka_unit_test(test_custom_extra_groups),
		cmocka_unit_test(test_custom_path_group),
		cmocka_unit_test(test_custom_duplicate_names),
		cmocka_unit_test(test_bad_patterns),
		cmocka_unit_test(test_custom_utf),
		cmocka_unit_test(test_custom_has_duration),
		cmocka_unit_test(test_reuse_clears),
		cmocka_unit_test(test_time_cache),
		cmocka_unit_test(test_time_against_timegm),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_measure),
		cmocka_unit_test(test_measure_timed),
	};

	return cmocka_run_group_tests_name("accesslog", tests, NULL, NULL);
}
