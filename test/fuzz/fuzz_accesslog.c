/*
 * libFuzzer target for aggregator/accesslog: any bytes as a line for the
 * built-in formats and a custom (UTF) one, and as a time. A parse must
 * return 0 or -EINVAL; every field must lie inside the line, path must be a
 * prefix of target, method and target hold no space, and the parser's
 * cached time must equal accesslog_parse_time() of the time field; size and
 * duration stay within their maxima, the duration -1 without a time. A time
 * that parses must print back (ISO 8601, UTC) to the same milliseconds.
 * Seeds: lines of test/data/accesslog.cases. Built with --enable-fuzzers.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregator/accesslog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TIME_MAX 253402300800000LL  /* 10000-01-01T00:00:00Z */

static const char *const fuzz_formats[] = {
	"common", "combined", "vhost_combined", "nginx_upstream_time",
	"apache_duration_us",
	("(?<time>\\S+) (?<remote_addr>\\S+) \"(?<request>[^\"]*)\" (?<status>\\d+) "
	 "(?<word>\\w+)(?: (?<path>\\S+))?(?: (?<request_time>\\S+))?"),
};
#define FUZZ_NFORMATS (sizeof(fuzz_formats) / sizeof(fuzz_formats[0]))

static void fuzz_check(bool ok)
{
	if (!ok)
		abort();
}

static bool fuzz_inside(const struct accesslog_span *f, const char *line, size_t len)
{
	return !f->p || (f->p >= line && f->len <= len && f->p + f->len <= line + len);
}

static void fuzz_check_record(const struct accesslog *lp, const struct accesslog_record *rec,
			      const char *line, size_t len)
{
	const struct accesslog_span *f = rec->fields;
	const struct accesslog_span *t = &f[ACCESSLOG_TIME];

	for (size_t i = 0; i < accesslog_field_count(lp); i++)
		fuzz_check(fuzz_inside(&f[i], line, len));
	fuzz_check(!f[ACCESSLOG_METHOD].p || !memchr(f[ACCESSLOG_METHOD].p, ' ', f[ACCESSLOG_METHOD].len));
	fuzz_check(!f[ACCESSLOG_TARGET].p || !memchr(f[ACCESSLOG_TARGET].p, ' ', f[ACCESSLOG_TARGET].len));
	if (accesslog_field_index(lp, "word") < 0 && f[ACCESSLOG_TARGET].p)
		fuzz_check(f[ACCESSLOG_PATH].p == f[ACCESSLOG_TARGET].p &&
			   f[ACCESSLOG_PATH].len <= f[ACCESSLOG_TARGET].len &&
			   !memchr(f[ACCESSLOG_PATH].p, '?', f[ACCESSLOG_PATH].len) &&
			   !memchr(f[ACCESSLOG_PATH].p, '#', f[ACCESSLOG_PATH].len));
	fuzz_check(rec->time_ms == (t->p ? accesslog_parse_time(t->p, t->len) : -1));
	fuzz_check(rec->bytes <= ACCESSLOG_BYTES_MAX);
	fuzz_check(rec->bytes == 0 || f[ACCESSLOG_BYTES].p);
	fuzz_check(rec->duration_us >= -1 && rec->duration_us <= ACCESSLOG_DURATION_US_MAX);
	fuzz_check(rec->duration_us == -1 || accesslog_has_duration(lp));
}

static void fuzz_parse(const char *line, size_t len)
{
	static struct accesslog *lps[FUZZ_NFORMATS];
	struct accesslog_record rec;
	char err[256];
	int rc;

	for (size_t k = 0; k < FUZZ_NFORMATS; k++) {
		if (!lps[k])
			lps[k] = accesslog_new(fuzz_formats[k], err, sizeof(err));
		fuzz_check(lps[k] != NULL);
		rc = accesslog_parse(lps[k], line, len, &rec);
		fuzz_check(rc == 0 || rc == -EINVAL);
		if (rc == 0)
			fuzz_check_record(lps[k], &rec, line, len);
		else
			for (size_t i = 0; i < accesslog_field_count(lps[k]); i++)
				fuzz_check(rec.fields[i].p == NULL && rec.time_ms == -1 &&
					   rec.bytes == 0 && rec.duration_us == -1);
	}
}

/* A time that parses prints back to the same milliseconds. */
static void fuzz_time(const char *s, size_t len)
{
	int64_t ms = accesslog_parse_time(s, len);
	char iso[64];
	struct tm tm;
	time_t secs;

	fuzz_check(ms >= -1 && ms < FUZZ_TIME_MAX);
	if (ms < 0)
		return;
	secs = (time_t)(ms / 1000);
	fuzz_check(gmtime_r(&secs, &tm) != NULL);
	snprintf(iso, sizeof(iso), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	fuzz_check(accesslog_parse_time(iso, strlen(iso)) == ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse((const char *)data, size);
	fuzz_time((const char *)data, size);
	return 0;
}
