/*
 * logging: formats each message into one bounded line on the stack and hands
 * it to a single write(2), which is what keeps concurrent lines whole; there
 * is no lock on that path. Only the rate limits share state between threads,
 * guarded by one mutex held for a few comparisons. The settings are plain
 * statics, written once before threads start.
 */
#include "logging.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *logging_program = "logtally";
static enum logging_level logging_max = LOGGING_INFO;
static int logging_fd = STDERR_FILENO;
static int (*logging_gettime)(clockid_t, struct timespec *) = clock_gettime;
static pthread_mutex_t logging_limit_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const logging_names[] = {
	[LOGGING_ERROR] = "ERROR",
	[LOGGING_WARN] = "WARN",
	[LOGGING_INFO] = "INFO",
	[LOGGING_DEBUG] = "DEBUG",
};

void logging_init(const char *program, enum logging_level level)
{
	logging_program = program;
	logging_max = level;
}

int logging_level_parse(const char *s, enum logging_level *level)
{
	for (size_t i = 0; i < sizeof(logging_names) / sizeof(*logging_names); i++) {
		if (strcasecmp(s, logging_names[i]) == 0) {
			*level = (enum logging_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *logging_level_name(enum logging_level level)
{
	if ((unsigned int)level > LOGGING_DEBUG)
		return "?";
	return logging_names[level];
}

void logging_set_output(int fd)
{
	logging_fd = fd;
}

void logging_set_clock(int (*gettime)(clockid_t clock, struct timespec *ts))
{
	logging_gettime = gettime ? gettime : clock_gettime;
}

/* "2026-11-24T21:46:05.123Z WARN logtally-agent: " into line; its length. */
static size_t logging_prefix(char *line, size_t size, enum logging_level level)
{
	struct timespec ts = { 0, 0 };
	struct tm tm;
	time_t sec;
	int n;

	logging_gettime(CLOCK_REALTIME, &ts);
	sec = ts.tv_sec;
	gmtime_r(&sec, &tm);
	n = snprintf(line, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     logging_level_name(level), logging_program);
	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

/*
 * Appends s to line, which holds len bytes, without going past cap; control
 * characters become \xHH. Returns the new length; sets *full when s did not
 * fit.
 */
static size_t logging_append(char *line, size_t len, size_t cap, const char *s,
			     bool *full)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool control = (c < 0x20 && c != '\t') || c == 0x7f;

		if (len + (control ? 4 : 1) > cap) {
			*full = true;
			break;
		}
		if (control)
			len += (size_t)sprintf(line + len, "\\x%02x", c);
		else
			line[len++] = (char)c;
	}
	return len;
}

static void logging_write(const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(logging_fd, line, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* the log is where we would report it */
		line += n;
		len -= (size_t)n;
	}
}

/*
 * Formats and writes one line. suffix is kept whole when the message is cut
 * short, since it carries the count of suppressed messages. errno survives,
 * so callers may log before looking at it (and %m works).
 */
static void logging_emit(enum logging_level level, const char *suffix,
			 const char *fmt, va_list ap)
{
	const size_t cap = LOGGING_LINE_MAX - 1;	/* room for the '\n' */
	char msg[LOGGING_LINE_MAX];
	char line[LOGGING_LINE_MAX];
	int saved_errno = errno;
	bool full = false;
	size_t len;
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(unprintable message: %s)", fmt);
	full = n >= (int)sizeof(msg);
	len = logging_prefix(line, cap, level);
	len = logging_append(line, len, cap - strlen(suffix), msg, &full);
	if (full)
		memcpy(line + len - 3, "...", 3);
	len = logging_append(line, len, cap, suffix, &full);
	line[len++] = '\n';
	logging_write(line, len);
	errno = saved_errno;
}

void logging_vmsg(enum logging_level level, const char *fmt, va_list ap)
{
	if (level > logging_max)
		return;
	logging_emit(level, "", fmt, ap);
}

void logging_msg(enum logging_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > logging_max)
		return;
	va_start(ap, fmt);
	logging_emit(level, "", fmt, ap);
	va_end(ap);
}

static int64_t logging_now_ms(void)
{
	struct timespec ts = { 0, 0 };

	logging_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Whether the next message of limit may pass now. When it may, *suppressed
 * gets the number dropped before it, which the message then reports.
 */
static bool logging_limit_pass(struct logging_limit *limit, uint64_t *suppressed)
{
	int64_t now = logging_now_ms();
	bool pass;

	pthread_mutex_lock(&logging_limit_lock);
	if (limit->passed == 0 ||
	    now - limit->start_ms >= LOGGING_LIMIT_INTERVAL_MS) {
		limit->start_ms = now;
		limit->passed = 0;
	}
	pass = limit->passed < LOGGING_LIMIT_BURST;
	if (pass) {
		limit->passed++;
		*suppressed = limit->suppressed;
		limit->suppressed = 0;
	} else {
		limit->suppressed++;
	}
	pthread_mutex_unlock(&logging_limit_lock);
	return pass;
}

void logging_limited(struct logging_limit *limit, enum logging_level level,
		     const char *fmt, ...)
{
	char suffix[64] = "";
	uint64_t suppressed = 0;
	va_list ap;

	if (level > logging_max || !logging_limit_pass(limit, &suppressed))
		return;
	if (suppressed > 0)
		snprintf(suffix, sizeof(suffix),
			 " (%" PRIu64 " similar message%s suppressed)",
			 suppressed, suppressed == 1 ? "" : "s");
	va_start(ap, fmt);
	logging_emit(level, suffix, fmt, ap);
	va_end(ap);
}
