/*
 * logging: one line per message on stderr, for both programs.
 *
 * A line reads "2026-11-24T21:46:05.123Z WARN logtally-agent: message" (UTC,
 * milliseconds) and reaches the file descriptor in a single write(2), so lines
 * of different threads never interleave. Messages about bad input go through
 * logging_limited(), which lets a burst through per interval and per call
 * site and then counts what it suppressed, so a flood of bad lines cannot
 * flood the log.
 */
#ifndef LOGTALLY_LOGGING_H
#define LOGTALLY_LOGGING_H

#include <stdarg.h>
#include <stdint.h>
#include <time.h>

enum logging_level { LOGGING_ERROR, LOGGING_WARN, LOGGING_INFO, LOGGING_DEBUG };

/* Longest line written, newline included; longer messages end in "...". */
#define LOGGING_LINE_MAX 4096
/* logging_limited() lets LOGGING_LIMIT_BURST messages of one call site
 * through per LOGGING_LIMIT_INTERVAL_MS, then suppresses until it ends. */
#define LOGGING_LIMIT_BURST 10
#define LOGGING_LIMIT_INTERVAL_MS 10000

/*
 * Sets the program name that every line carries and the most verbose level
 * written. program is borrowed and must outlive all logging. Call it before
 * starting threads. Until it is called, the name is "logtally" and the level
 * LOGGING_INFO.
 */
void logging_init(const char *program, enum logging_level level);

/*
 * Parses "error", "warn", "info" or "debug" (any case) into *level.
 * Returns 0, or -EINVAL and leaves *level alone.
 */
int logging_level_parse(const char *s, enum logging_level *level);

/* "ERROR", "WARN", "INFO" or "DEBUG": a static string. */
const char *logging_level_name(enum logging_level level);

/*
 * Writes a line at the given level, unless the level is more verbose than
 * the one set by logging_init(). Control characters in the message are
 * written as \xHH so that one message stays one line. Thread-safe; blocks
 * only as long as write(2) on the output does.
 */
void logging_msg(enum logging_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* logging_msg() with a va_list, for wrappers such as library log hooks. */
void logging_vmsg(enum logging_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define logging_error(...) logging_msg(LOGGING_ERROR, __VA_ARGS__)
#define logging_warn(...) logging_msg(LOGGING_WARN, __VA_ARGS__)
#define logging_info(...) logging_msg(LOGGING_INFO, __VA_ARGS__)
#define logging_debug(...) logging_msg(LOGGING_DEBUG, __VA_ARGS__)

/*
 * The rate-limiting state of one call site. Declare it static next to the
 * call, zero-initialised ("static struct logging_limit limit;"); its fields
 * are private to logging.c.
 */
struct logging_limit {
	int64_t start_ms;	/* monotonic start of the current interval */
	unsigned int passed;	/* messages let through in it; 0: none yet */
	uint64_t suppressed;	/* messages dropped since the last one passed */
};

/*
 * logging_msg() through a rate limit: at most LOGGING_LIMIT_BURST lines per
 * LOGGING_LIMIT_INTERVAL_MS for this limit, the rest are counted and dropped.
 * The first line to pass after some were dropped ends in
 * " (N similar messages suppressed)" ("message" when N is 1). Messages
 * filtered out by the level neither pass nor count. Thread-safe.
 */
void logging_limited(struct logging_limit *limit, enum logging_level level,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Testing hooks. logging_set_output() sends lines to fd instead of 2 (the fd
 * stays the caller's). logging_set_clock() replaces clock_gettime(2) for
 * both the timestamps (CLOCK_REALTIME) and the rate limits
 * (CLOCK_MONOTONIC); NULL restores it. Call them before starting threads.
 */
void logging_set_output(int fd);
void logging_set_clock(int (*gettime)(clockid_t clock, struct timespec *ts));

#endif
