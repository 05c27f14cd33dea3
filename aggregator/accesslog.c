/*
 * accesslog: one compiled PCRE2 pattern (JIT when the platform has it) and
 * one match_data per parser, reused line after line. Named groups map to
 * field slots once, at compile time (group_field[]); a parse only copies
 * offsets. Fields are verbatim spans: "-" stays "-", "\"" and "\xHH" stay
 * escaped. Only what no group gives is derived: method, target and protocol
 * from a "request" group when it reads "METHOD TARGET[ PROTOCOL]" (else they
 * are absent and the line still parses, so that "-", "" or TLS bytes on a
 * plain port still count by status), and path from target.
 * The built-in patterns are ASCII and compiled byte-wise (no UTF), so that
 * a raw invalid byte in a line never stops it from matching; custom
 * patterns get UTF, UCP and MATCH_INVALID_UTF, so a bad byte is never an
 * error, but no pattern item matches it either (such a line rarely parses).
 * Times are parsed by hand; the parser caches the epoch of the last time's
 * prefix up to the minute, which consecutive lines nearly always share.
 * Sizes and durations are parsed by hand too, a few instructions a line
 * (strtod would also follow the locale's decimal point).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "accesslog.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Enough for a custom pattern's backtracking; the built-ins need little. */
#define ACCESSLOG_JIT_STACK_MIN (32 * 1024)
#define ACCESSLOG_JIT_STACK_MAX (1024 * 1024)
/* The longest time prefix up to the minute: "10/Oct/2000:13:55:". */
#define ACCESSLOG_TIME_KEY_MAX 24

/*
 * The client is everything before the last two words ahead of '[', which
 * takes "10.0.0.2, 10.0.0.1, 127.0.0.1 - - [" (lists written by proxies)
 * and IPv6. Quoted strings allow backslash escapes (an unrolled loop, a
 * little faster under JIT than an alternation). The optional tail
 * takes extra fields such as nginx's "$http_x_forwarded_for", and the '\r'
 * of a CRLF file (Apache on Windows).
 */
#define ACCESSLOG_QUOTED "[^\"\\\\]*+(?:\\\\.[^\"\\\\]*+)*+"
#define ACCESSLOG_COMMON_HEAD \
	"(?<remote_addr>.+?) \\S+ (?<remote_user>\\S+) " \
	"\\[(?<time>[^\\]]*+)\\] \"(?<request>" ACCESSLOG_QUOTED ")\" " \
	"(?<status>\\d++|-) (?<bytes>\\d++|-)"
#define ACCESSLOG_TAIL "(?:\\s.*+)?$"
#define ACCESSLOG_REFERER_AGENT \
	" \"(?<referer>" ACCESSLOG_QUOTED ")\" \"(?<user_agent>" ACCESSLOG_QUOTED ")\""
/*
 * The formats with times are combined plus one or two words. Each word is
 * optional and any non-space text, so that a line whose time is "-", odd
 * or missing (the format changed mid-file) still counts, without duration.
 * $upstream_response_time lists the upstreams a request tried: "0.004,
 * 0.002" within one upstream block, " : " across internal redirects, "-"
 * for one that gave no time.
 */
#define ACCESSLOG_TIMED(words) \
	ACCESSLOG_COMMON_HEAD "(?:" ACCESSLOG_REFERER_AGENT "(?: " words ")?)?" ACCESSLOG_TAIL
#define ACCESSLOG_UPSTREAM_TIME "(?:[\\d.]++|-)"

/* The built-in formats; accesslog.h names the server lines that write them. */
static const struct accesslog_builtin {
	const char *name;
	const char *pattern;
} accesslog_builtins[] = {
	{"common", ACCESSLOG_COMMON_HEAD ACCESSLOG_TAIL},
	{"combined", ACCESSLOG_COMMON_HEAD "(?:" ACCESSLOG_REFERER_AGENT ")?" ACCESSLOG_TAIL},
	{"vhost_combined", "(?<host>\\S++) " ACCESSLOG_COMMON_HEAD
	 "(?:" ACCESSLOG_REFERER_AGENT ")?" ACCESSLOG_TAIL},
	{"nginx_request_time", ACCESSLOG_TIMED("(?<request_time>\\S++)")},
	{"nginx_upstream_time", ACCESSLOG_TIMED(
	 "(?<request_time>\\S++)(?: (?<upstream_time>" ACCESSLOG_UPSTREAM_TIME
	 "(?:(?:, | : )" ACCESSLOG_UPSTREAM_TIME ")*+))?")},
	{"apache_duration_us", ACCESSLOG_TIMED("(?<duration_us>\\S++)")},
	{"apache_duration_s", ACCESSLOG_TIMED("(?<request_time>\\S++)")},
};
#define ACCESSLOG_NBUILTINS (sizeof(accesslog_builtins) / sizeof(accesslog_builtins[0]))

static const char *const accesslog_names[ACCESSLOG_NFIELDS] = {
	[ACCESSLOG_REMOTE_ADDR] = "remote_addr",
	[ACCESSLOG_REMOTE_USER] = "remote_user",
	[ACCESSLOG_TIME] = "time",
	[ACCESSLOG_METHOD] = "method",
	[ACCESSLOG_TARGET] = "target",
	[ACCESSLOG_PROTOCOL] = "protocol",
	[ACCESSLOG_STATUS] = "status",
	[ACCESSLOG_BYTES] = "bytes",
	[ACCESSLOG_REFERER] = "referer",
	[ACCESSLOG_USER_AGENT] = "user_agent",
	[ACCESSLOG_HOST] = "host",
	[ACCESSLOG_REQUEST_TIME] = "request_time",
	[ACCESSLOG_DURATION_US] = "duration_us",
	[ACCESSLOG_PATH] = "path",
};

/* The last time prefix seen up to the minute, and its epoch seconds. */
struct accesslog_time_cache {
	char key[ACCESSLOG_TIME_KEY_MAX];
	size_t keylen;          /* 0: empty */
	int64_t minute_s;       /* local time, the zone not applied */
};

struct accesslog {
	pcre2_code *code;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit_stack;
	bool jit;
	uint32_t ngroups;
	int *group_field;       /* [ngroups + 1]: the field a group fills, or -1 */
	uint32_t request_group; /* the group called "request"; 0: none */
	bool split_request;     /* method/target/protocol come from request */
	bool derive_path;       /* no group called "path": cut it from target */
	bool has_duration;      /* a group fills request_time or duration_us */
	char **extra;           /* names of fields from ACCESSLOG_NFIELDS up */
	size_t nextra;
	struct accesslog_span *fields;
	struct accesslog_time_cache cache;
};

/* --- fields and names ------------------------------------------------ */

size_t accesslog_field_count(const struct accesslog *lp)
{
	return ACCESSLOG_NFIELDS + lp->nextra;
}

const char *accesslog_field_name(const struct accesslog *lp, size_t field)
{
	if (field < ACCESSLOG_NFIELDS)
		return accesslog_names[field];
	if (field - ACCESSLOG_NFIELDS < lp->nextra)
		return lp->extra[field - ACCESSLOG_NFIELDS];
	return NULL;
}

int accesslog_field_index(const struct accesslog *lp, const char *name)
{
	for (size_t i = 0; i < accesslog_field_count(lp); i++)
		if (!strcmp(accesslog_field_name(lp, i), name))
			return (int)i;
	return -1;
}

/* The field a named group fills, adding it past the enum when new. */
static int accesslog_field_for(struct accesslog *lp, const char *name)
{
	int field = accesslog_field_index(lp, name);

	if (field >= 0)
		return field;
	lp->extra = xreallocarray(lp->extra, lp->nextra + 1, sizeof(*lp->extra));
	lp->extra[lp->nextra++] = xstrdup(name);
	return (int)(ACCESSLOG_NFIELDS + lp->nextra - 1);
}

/*
 * Walk the name table (sorted by name; duplicate names under (?J) are
 * adjacent) and give each group its field. A built-in format's "request"
 * is internal: its fields are only those of the enum.
 */
static int accesslog_map_groups(struct accesslog *lp, bool builtin)
{
	uint32_t count = 0, entry = 0;
	PCRE2_SPTR table = NULL;
	bool has_request_fields = false;

	pcre2_pattern_info(lp->code, PCRE2_INFO_CAPTURECOUNT, &lp->ngroups);
	pcre2_pattern_info(lp->code, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_pattern_info(lp->code, PCRE2_INFO_NAMEENTRYSIZE, &entry);
	pcre2_pattern_info(lp->code, PCRE2_INFO_NAMETABLE, &table);
	lp->group_field = xmalloc((lp->ngroups + 1) * sizeof(*lp->group_field));
	for (uint32_t g = 0; g <= lp->ngroups; g++)
		lp->group_field[g] = -1;
	lp->derive_path = true;
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *e = table + (size_t)i * entry;
		uint32_t group = (uint32_t)e[0] << 8 | e[1];
		const char *name = (const char *)e + 2;

		if (!strcmp(name, "request")) {
			if (!lp->request_group)
				lp->request_group = group;
			if (builtin)
				continue;
		}
		lp->group_field[group] = accesslog_field_for(lp, name);
		has_request_fields |= lp->group_field[group] == ACCESSLOG_METHOD ||
				      lp->group_field[group] == ACCESSLOG_TARGET ||
				      lp->group_field[group] == ACCESSLOG_PROTOCOL;
		lp->derive_path &= lp->group_field[group] != ACCESSLOG_PATH;
		lp->has_duration |= lp->group_field[group] == ACCESSLOG_REQUEST_TIME ||
				    lp->group_field[group] == ACCESSLOG_DURATION_US;
	}
	lp->split_request = lp->request_group && !has_request_fields;
	return count ? 0 : -EINVAL;
}

/* --- lifecycle ------------------------------------------------------- */

/* The pattern of the built-in format called name, or NULL. */
static const char *accesslog_builtin_pattern(const char *name)
{
	for (size_t i = 0; i < ACCESSLOG_NBUILTINS; i++)
		if (!strcmp(accesslog_builtins[i].name, name))
			return accesslog_builtins[i].pattern;
	return NULL;
}

bool accesslog_is_builtin(const char *format)
{
	return accesslog_builtin_pattern(format) != NULL;
}

static int accesslog_compile(struct accesslog *lp, const char *format,
			     char *err, size_t errlen)
{
	const char *pattern = accesslog_builtin_pattern(format);
	bool builtin = pattern != NULL;
	uint32_t options = PCRE2_ANCHORED;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE offset;
	int code;

	if (!builtin) {
		pattern = format;
		options |= PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
	}
	lp->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
				 options, &code, &offset, NULL);
	if (!lp->code) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(err, errlen, "invalid regular expression at offset %zu: %s",
			 (size_t)offset, (const char *)msg);
		return -EINVAL;
	}
	if (accesslog_map_groups(lp, builtin)) {
		snprintf(err, errlen, "the pattern has no named group, so no field");
		return -EINVAL;
	}
	lp->jit = pcre2_jit_compile(lp->code, PCRE2_JIT_COMPLETE) == 0;
	return 0;
}

struct accesslog *accesslog_new(const char *format, char *err, size_t errlen)
{
	struct accesslog *lp = xcalloc(1, sizeof(*lp));

	if (accesslog_compile(lp, format, err, errlen)) {
		accesslog_free(lp);
		return NULL;
	}
	lp->md = pcre2_match_data_create_from_pattern(lp->code, NULL);
	lp->mctx = pcre2_match_context_create(NULL);
	if (lp->jit)
		lp->jit_stack = pcre2_jit_stack_create(ACCESSLOG_JIT_STACK_MIN,
						       ACCESSLOG_JIT_STACK_MAX, NULL);
	if (!lp->md || !lp->mctx || (lp->jit && !lp->jit_stack)) {
		fprintf(stderr, "accesslog: out of memory\n");
		abort();
	}
	if (lp->jit)
		pcre2_jit_stack_assign(lp->mctx, NULL, lp->jit_stack);
	lp->fields = xcalloc(accesslog_field_count(lp), sizeof(*lp->fields));
	return lp;
}

void accesslog_free(struct accesslog *lp)
{
	if (!lp)
		return;
	pcre2_match_data_free(lp->md);
	pcre2_match_context_free(lp->mctx);
	pcre2_jit_stack_free(lp->jit_stack);
	pcre2_code_free(lp->code);
	for (size_t i = 0; i < lp->nextra; i++)
		free(lp->extra[i]);
	free(lp->extra);
	free(lp->group_field);
	free(lp->fields);
	free(lp);
}

bool accesslog_has_duration(const struct accesslog *lp)
{
	return lp->has_duration;
}

/* --- time ------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (y >= 0). */
static int64_t accesslog_days_from_civil(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int64_t)era * 146097 + doe - 719468;
}

static int accesslog_days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return days[m - 1] + (m == 2 && leap);
}

/* n decimal digits at s, or -1. */
static int accesslog_digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* 1..12 for "Jan".."Dec" in any case, else -1. */
static int accesslog_month(const char *s)
{
	static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	char low[3];

	for (int i = 0; i < 3; i++)
		low[i] = (char)(s[i] | 0x20);
	for (int m = 0; m < 12; m++)
		if (!memcmp(names + 3 * m, low, 3))
			return m + 1;
	return -1;
}

/* Epoch seconds of a date and hour:minute, or -1 when out of range. */
static int64_t accesslog_minute(int y, int mon, int d, int h, int min)
{
	if (y < 1970 || mon < 1 || mon > 12 || d < 1 ||
	    d > accesslog_days_in_month(y, mon) || h < 0 || h > 23 ||
	    min < 0 || min > 59)
		return -1;
	return accesslog_days_from_civil(y, mon, d) * 86400 + h * 3600 + min * 60;
}

/*
 * The prefix of s up to the minute and its separator: CLF
 * "10/Oct/2000:13:55:" (18 bytes) or ISO "2000-10-10T13:55:" (17, 'T' or
 * ' '). Returns the local epoch seconds and its length in *used, or -1.
 */
static int64_t accesslog_time_head(const char *s, size_t len, size_t *used)
{
	if (len >= 18 && s[2] == '/' && s[6] == '/' && s[11] == ':' &&
	    s[14] == ':' && s[17] == ':') {
		*used = 18;
		return accesslog_minute(accesslog_digits(s + 7, 4), accesslog_month(s + 3),
					accesslog_digits(s, 2), accesslog_digits(s + 12, 2),
					accesslog_digits(s + 15, 2));
	}
	if (len >= 17 && s[4] == '-' && s[7] == '-' &&
	    (s[10] == 'T' || s[10] == 't' || s[10] == ' ') && s[13] == ':' &&
	    s[16] == ':') {
		*used = 17;
		return accesslog_minute(accesslog_digits(s, 4), accesslog_digits(s + 5, 2),
					accesslog_digits(s + 8, 2), accesslog_digits(s + 11, 2),
					accesslog_digits(s + 14, 2));
	}
	return -1;
}

/* Seconds east of UTC of "Z", "+hh", "+hhmm" or "+hh:mm" filling s[0..len). */
static int accesslog_zone(const char *s, size_t len, int *offset)
{
	int sign, h, m = 0;

	if (len == 1 && (s[0] == 'Z' || s[0] == 'z')) {
		*offset = 0;
		return 0;
	}
	if (len < 3 || (s[0] != '+' && s[0] != '-'))
		return -1;
	sign = s[0] == '-' ? -1 : 1;
	h = accesslog_digits(s + 1, 2);
	if (len == 5)
		m = accesslog_digits(s + 3, 2);
	else if (len == 6 && s[3] == ':')
		m = accesslog_digits(s + 4, 2);
	else if (len != 3)
		return -1;
	if (h < 0 || h > 23 || m < 0 || m > 59)
		return -1;
	*offset = sign * (h * 3600 + m * 60);
	return 0;
}

/*
 * "SS[.fff][ ]ZONE" after the minute: the epoch milliseconds, or -1. The
 * fraction takes ',' too and any number of digits (truncated to ms).
 */
static int64_t accesslog_time_tail(const char *s, size_t len, int64_t minute_s)
{
	int sec, ms = 0, offset, scale = 100;
	size_t i = 2;

	if (len < 3 || (sec = accesslog_digits(s, 2)) < 0 || sec > 60)
		return -1;
	if (s[i] == '.' || s[i] == ',') {
		if (++i >= len || s[i] < '0' || s[i] > '9')
			return -1;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
			ms += (s[i] - '0') * scale;
	}
	if (i < len && s[i] == ' ')
		i++;
	if (accesslog_zone(s + i, len - i, &offset))
		return -1;
	minute_s += sec - offset;
	return minute_s < 0 ? -1 : minute_s * 1000 + ms;
}

/* s without the brackets of the common format, when it has both. */
static void accesslog_time_unbracket(const char **s, size_t *len)
{
	if (*len >= 2 && (*s)[0] == '[' && (*s)[*len - 1] == ']') {
		(*s)++;
		*len -= 2;
	}
}

int64_t accesslog_parse_time(const char *s, size_t len)
{
	int64_t minute_s;
	size_t used;

	accesslog_time_unbracket(&s, &len);
	minute_s = accesslog_time_head(s, len, &used);
	if (minute_s < 0)
		return -1;
	return accesslog_time_tail(s + used, len - used, minute_s);
}

/* accesslog_parse_time() through the parser's cache of the last minute. */
static int64_t accesslog_time_cached(struct accesslog *lp, const char *s, size_t len)
{
	struct accesslog_time_cache *c = &lp->cache;
	int64_t minute_s;
	size_t used;

	accesslog_time_unbracket(&s, &len);
	if (c->keylen && len > c->keylen && !memcmp(s, c->key, c->keylen))
		return accesslog_time_tail(s + c->keylen, len - c->keylen, c->minute_s);
	minute_s = accesslog_time_head(s, len, &used);
	if (minute_s < 0)
		return -1;
	memcpy(c->key, s, used);
	c->keylen = used;
	c->minute_s = minute_s;
	return accesslog_time_tail(s + used, len - used, minute_s);
}

/* --- sizes and durations -------------------------------------------- */

/* The decimal integer filling s[0..len), saturated at max; -1 if not one. */
static int64_t accesslog_decimal(const char *s, size_t len, int64_t max)
{
	int64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int d = s[i] - '0';

		if (d < 0 || d > 9)
			return -1;
		v = v > (max - d) / 10 ? max : v * 10 + d;
	}
	return v;
}

/*
 * Microseconds of "S[.F]" seconds filling s[0..len), rounded half up on
 * the seventh decimal (which alone decides it), saturated at
 * ACCESSLOG_DURATION_US_MAX; -1 if not such a number.
 */
static int64_t accesslog_seconds_us(const char *s, size_t len)
{
	const char *dot = memchr(s, '.', len);
	size_t whole = dot ? (size_t)(dot - s) : len;
	int64_t us = accesslog_decimal(s, whole, ACCESSLOG_DURATION_US_MAX / 1000000 + 1);
	int64_t scale = 100000;

	if (us < 0 || (dot && whole + 1 == len))
		return -1;
	us *= 1000000;
	for (size_t i = whole + 1; i < len; i++) {
		int d = s[i] - '0';

		if (d < 0 || d > 9)
			return -1;
		if (scale)
			us += d * scale;
		else if (i == whole + 7 && d >= 5)
			us++;
		scale /= 10;
	}
	return us > ACCESSLOG_DURATION_US_MAX ? ACCESSLOG_DURATION_US_MAX : us;
}

static uint64_t accesslog_bytes(const struct accesslog_span *f)
{
	int64_t v = f->p ? accesslog_decimal(f->p, f->len, (int64_t)ACCESSLOG_BYTES_MAX) : -1;

	return v < 0 ? 0 : (uint64_t)v;
}

static int64_t accesslog_duration(const struct accesslog_span *f)
{
	const struct accesslog_span *us = &f[ACCESSLOG_DURATION_US];
	const struct accesslog_span *s = &f[ACCESSLOG_REQUEST_TIME];

	if (us->p)
		return accesslog_decimal(us->p, us->len, ACCESSLOG_DURATION_US_MAX);
	if (s->p)
		return accesslog_seconds_us(s->p, s->len);
	return -1;
}

/* --- parsing --------------------------------------------------------- */

/* An RFC 9110 tchar, the bytes of a method. */
static bool accesslog_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

/* The word at *p (up to a space or end); *p moves past it and its spaces. */
static struct accesslog_span accesslog_word(const char **p, const char *end)
{
	const char *sp = memchr(*p, ' ', (size_t)(end - *p));
	struct accesslog_span w = {*p, (size_t)((sp ? sp : end) - *p)};

	*p += w.len;
	while (*p < end && **p == ' ')
		(*p)++;
	return w;
}

/*
 * Fill method, target and protocol when request is "M T[ P]": a method of
 * tchars, then one or two words. Runs of spaces count as one (old servers
 * logged "GET /x   HTTP/1.0").
 */
static void accesslog_split_request(struct accesslog_span *f, const char *p,
				    size_t len)
{
	const char *end = p + len, *q = p;
	struct accesslog_span method, target, protocol;

	method = accesslog_word(&q, end);
	if (method.len == 0 || q == method.p + method.len)
		return;
	for (size_t i = 0; i < method.len; i++)
		if (!accesslog_tchar((unsigned char)method.p[i]))
			return;
	target = accesslog_word(&q, end);
	protocol = accesslog_word(&q, end);
	if (target.len == 0 || q < end)
		return;
	f[ACCESSLOG_METHOD] = method;
	f[ACCESSLOG_TARGET] = target;
	if (protocol.len)
		f[ACCESSLOG_PROTOCOL] = protocol;
}

static void accesslog_derive_path(struct accesslog_span *f)
{
	const struct accesslog_span *t = &f[ACCESSLOG_TARGET];
	const char *q, *hash;
	size_t n;

	if (!t->p)
		return;
	q = memchr(t->p, '?', t->len);
	n = q ? (size_t)(q - t->p) : t->len;
	hash = memchr(t->p, '#', n);
	f[ACCESSLOG_PATH] = (struct accesslog_span){t->p, hash ? (size_t)(hash - t->p) : n};
}

static int accesslog_match(struct accesslog *lp, const char *line, size_t len)
{
	if (lp->jit)
		return pcre2_jit_match(lp->code, (PCRE2_SPTR)line, len, 0, 0,
				       lp->md, lp->mctx);
	return pcre2_match(lp->code, (PCRE2_SPTR)line, len, 0, 0, lp->md, lp->mctx);
}

int accesslog_parse(struct accesslog *lp, const char *line, size_t len,
		    struct accesslog_record *rec)
{
	struct accesslog_span *f = lp->fields;
	const struct accesslog_span *time;
	PCRE2_SIZE *ov;
	int n;

	memset(f, 0, accesslog_field_count(lp) * sizeof(*f));
	rec->fields = f;
	rec->time_ms = -1;
	rec->bytes = 0;
	rec->duration_us = -1;
	n = accesslog_match(lp, line ? line : "", line ? len : 0);
	if (n <= 0)
		return -EINVAL;
	ov = pcre2_get_ovector_pointer(lp->md);
	for (int g = 1; g < n; g++) {
		int field = lp->group_field[g];

		if (field >= 0 && ov[2 * g] != PCRE2_UNSET && !f[field].p)
			f[field] = (struct accesslog_span){line + ov[2 * g],
							   ov[2 * g + 1] - ov[2 * g]};
	}
	if (lp->split_request && (int)lp->request_group < n &&
	    ov[2 * lp->request_group] != PCRE2_UNSET)
		accesslog_split_request(f, line + ov[2 * lp->request_group],
					ov[2 * lp->request_group + 1] - ov[2 * lp->request_group]);
	if (lp->derive_path)
		accesslog_derive_path(f);
	time = &f[ACCESSLOG_TIME];
	if (time->p)
		rec->time_ms = accesslog_time_cached(lp, time->p, time->len);
	rec->bytes = accesslog_bytes(&f[ACCESSLOG_BYTES]);
	if (lp->has_duration)
		rec->duration_us = accesslog_duration(f);
	return 0;
}
