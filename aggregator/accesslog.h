/*
 * accesslog: turns one access-log line into fields. The pattern is compiled
 * once with PCRE2 and JIT: the built-in "common" (Apache/NCSA) and
 * "combined" formats (combined also matches nginx's default "main" format
 * and tolerates extra trailing fields), or a custom pattern whose named
 * groups name the fields. Fields are spans of the caller's line: nothing is
 * copied, nothing is unescaped, "-" stays "-". The time field becomes epoch
 * milliseconds (UTC) with its zone offset applied, parsed by hand (no
 * strptime).
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
	uint64_t bytes;         /* the bytes field; 0 when "-", absent or bad */
	int64_t duration_us;    /* the request's duration; -1 when none */
};

struct accesslog;

/*
 * A parser for format: "common", "combined" or a PCRE2 pattern (compiled
 * with UTF and UCP, anchored at the line's start). Method, target and
 * protocol come from a "request" field when it reads "METHOD TARGET[
 * PROTOCOL]" (else they are absent and the line still parses) unless the
 * pattern names them; path comes from target unless the pattern names it.
 * Returns NULL with the reason in err when the pattern does not compile or
 * has no named group. Free with accesslog_free(). One parser serves one
 * thread.
 */
struct accesslog *accesslog_new(const char *format, char *err, size_t errlen);

void accesslog_free(struct accesslog *lp);

/* Number of fields (ACCESSLOG_NFIELDS plus a custom pattern's others). */
size_t accesslog_field_count(const struct accesslog *lp);

/* The field's name ("remote_addr", "path", ...); borrowed from lp. */
const char *accesslog_field_name(const struct accesslog *lp, size_t field);

/* The index of the field called name, or -1 when lp has no such field. */
int accesslog_field_index(const struct accesslog *lp, const char *name);

/*
 * Parse line[0..len) (no newline, valid UTF-8 expected but not required).
 * Returns 0 with rec filled, or -EINVAL when the line does not match the
 * format (the caller counts a parse error). A time field that is present
 * but unreadable leaves rec->time_ms at -1 and is not an error.
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
