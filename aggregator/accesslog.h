/*
 * accesslog: turns one access-log line into fields. The pattern is compiled
 * once with PCRE2 and JIT: a built-in format (see accesslog_new()), or a
 * custom pattern whose named groups name the fields. Fields are spans of
 * the caller's line: nothing is copied, nothing is unescaped, "-" stays "-".
 * Three values are computed by hand (no strptime, no strtod): the time in
 * epoch milliseconds (UTC) with its zone offset applied, the response size
 * and the request's duration in microseconds.
 * Position in the pipeline: consumer -> message_decode -> accesslog ->
 * dimensions -> window.
 */
#ifndef LOGTALLY_ACCESSLOG_H
#define LOGTALLY_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The fields every format may fill. A custom pattern's named groups with
 * these names fill them; its other named groups get indexes from
 * ACCESSLOG_NFIELDS up, in the order of accesslog_field_name().
 */
enum accesslog_field {
	ACCESSLOG_REMOTE_ADDR,
	ACCESSLOG_REMOTE_USER,
	ACCESSLOG_TIME,
	ACCESSLOG_METHOD,
	ACCESSLOG_TARGET,
	ACCESSLOG_PROTOCOL,
	ACCESSLOG_STATUS,
	ACCESSLOG_BYTES,
	ACCESSLOG_REFERER,
	ACCESSLOG_USER_AGENT,
	ACCESSLOG_HOST,
	ACCESSLOG_REQUEST_TIME, /* seconds with an optional fraction: "0.123" */
	ACCESSLOG_DURATION_US,  /* whole microseconds: "123456" */
	ACCESSLOG_PATH,         /* derived: target up to the first '?' or '#' */
	ACCESSLOG_NFIELDS
};

/* One field of a parsed line: a span of the line, p == NULL when absent. */
struct accesslog_span {
	const char *p;
	size_t len;
};

/*
 * A parsed line. fields[] has accesslog_field_count() entries and is owned
 * by the parser; the spans borrow the line given to accesslog_parse().
 * Both are valid until the next accesslog_parse() on the same parser.
 */
struct accesslog_record {
	const struct accesslog_span *fields;
	int64_t time_ms;        /* from the time field; -1 when absent or bad */
	/*
	 * The bytes field as a decimal integer; 0 when absent, "-" or not
	 * digits only. Saturates at ACCESSLOG_BYTES_MAX, so that sums of
	 * absurd values stay far from overflowing.
	 */
	uint64_t bytes;
	/*
	 * The request's duration: from duration_us when the line has that
	 * field, else from request_time rounded to the nearest microsecond
	 * (halves up). -1 when the line has neither or its value is "-" or
	 * unreadable. Saturates at ACCESSLOG_DURATION_US_MAX.
	 */
	int64_t duration_us;
};

/* 1 PB: no single response is larger; 18000 of them still sum in 64 bits. */
#define ACCESSLOG_BYTES_MAX 1000000000000000ULL
/* About 116 days (a websocket may stay that long); 900000 sum in 63 bits. */
#define ACCESSLOG_DURATION_US_MAX 10000000000000LL

struct accesslog;

/*
 * A parser for format: a built-in name or a PCRE2 pattern (compiled with
 * UTF and UCP, anchored at the line's start). The built-in names, and the
 * server configuration that writes each (a line may carry more fields after
 * the last one named, separated by white space; they are ignored):
 *   common               Apache: LogFormat "%h %l %u %t \"%r\" %>s %O" common
 *   combined             Apache: LogFormat "%h %l %u %t \"%r\" %>s %O
 *                        \"%{Referer}i\" \"%{User-Agent}i\"" combined;
 *                        nginx's built-in combined: log_format combined
 *                        '$remote_addr - $remote_user [$time_local] '
 *                        '"$request" $status $body_bytes_sent '
 *                        '"$http_referer" "$http_user_agent"';
 *                        referer and user agent may be missing (common lines)
 *   vhost_combined       Debian's apache2.conf: LogFormat "%v:%p %h %l %u %t
 *                        \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\""
 *                        vhost_combined; host is "%v:%p"
 *   nginx_request_time   nginx: combined followed by ' $request_time'
 *   nginx_upstream_time  nginx: combined followed by ' $request_time
 *                        $upstream_response_time'; the duration is
 *                        $request_time, the other is the field upstream_time,
 *                        verbatim ("-", "0.004, 0.002", "0.004 : 0.010")
 *   apache_duration_us   Apache: combined followed by " %D" (microseconds)
 *   apache_duration_s    Apache: combined followed by " %T" (whole seconds)
 * In the formats with times, a time that is "-" or unreadable, or missing
 * altogether, leaves duration_us at -1; the line still parses. Method, target and
 * protocol come from a "request" field when it reads "METHOD TARGET[
 * PROTOCOL]" (else they are absent and the line still parses) unless the
 * pattern names them; path comes from target unless the pattern names it.
 * Returns NULL with the reason in err when the pattern does not compile or
 * has no named group. Free with accesslog_free(). One parser serves one
 * thread.
 */
struct accesslog *accesslog_new(const char *format, char *err, size_t errlen);

void accesslog_free(struct accesslog *lp);

/* Whether format is the name of a built-in format rather than a pattern. */
bool accesslog_is_builtin(const char *format);

/* Whether lp's format has request_time or duration_us (durations may be set). */
bool accesslog_has_duration(const struct accesslog *lp);

/* Number of fields (ACCESSLOG_NFIELDS plus a custom pattern's others). */
size_t accesslog_field_count(const struct accesslog *lp);

/* The field's name ("remote_addr", "path", ...); borrowed from lp. */
const char *accesslog_field_name(const struct accesslog *lp, size_t field);

/* The index of the field called name, or -1 when lp has no such field. */
int accesslog_field_index(const struct accesslog *lp, const char *name);

/*
 * Parse line[0..len) (no newline, valid UTF-8 expected but not required).
 * Returns 0 with rec filled, or -EINVAL when the line does not match the
 * format (the caller counts a parse error). A time, size or duration that
 * is present but unreadable is not an error: see accesslog_record.
 */
int accesslog_parse(struct accesslog *lp, const char *line, size_t len,
		    struct accesslog_record *rec);

/*
 * Epoch milliseconds of a log time: "10/Oct/2000:13:55:36 -0700" (the
 * brackets of the common format may be included), or ISO 8601
 * "2000-10-10T13:55:36-07:00" / "...Z" / "+0000", with optional fraction
 * of a second. Any offset from -2359 to +2359. Returns -1 when s is not
 * such a time or falls outside the years 1970..9999.
 */
int64_t accesslog_parse_time(const char *s, size_t len);

#endif
