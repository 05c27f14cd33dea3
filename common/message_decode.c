/*
 * message_decode: the aggregator's side of the topic's value format. An
 * envelope goes through yajl's callback parser, which builds no tree: the
 * decoder keeps the role of each open container up to log.file and
 * log.flags (deeper ones are only counted) and the field the next value of
 * a known object belongs to, copies "message", log.file.path and host.name,
 * and reads "@timestamp", log.offset and log.flags as they pass; everything
 * else is skipped. A key seen twice counts by its last value (a repeated
 * "log" drops what the first one held), as jansson did before.
 *
 * Accepts and refuses exactly what jansson (JSON_ALLOW_NUL) did, so that
 * the switch changed no event. Where yajl is more lenient this file closes
 * the gap: a pass over the bytes refuses invalid UTF-8 (yajl's own check
 * lets overlongs and surrogates through, so it is off), \v and \f (yajl
 * whitespace) and \u escapes of unpaired UTF-16 surrogates (which yajl
 * decodes to '?' or a wrong character); the callbacks refuse keys with
 * NUL, nesting deeper than 2048, integers outside int64 and reals that
 * overflow a double; and the bytes after the root's '}' must be blanks.
 * A value that does not start with '{' is a bare line.
 */
#include "message.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "message_private.h"
#include "xalloc.h"

/*
 * jansson's JSON_PARSER_MAX_DEPTH: a value, scalar or not, may lie in at
 * most this many - 1 objects and arrays.
 */
#define MESSAGE_DEPTH_MAX 2048

/* Containers deeper than log.file and log.flags are never taken. */
#define MESSAGE_ROLES 4

/* "-9223372036854775808": no in-range integer token is longer. */
#define MESSAGE_INT_MAX_LEN 20

/* --- events ---------------------------------------------------------- */

/* The line with its NUL and MESSAGE_LINE_SLACK zero bytes after it. */
static char *message_line_dup(const char *s, size_t n)
{
	char *line = xmalloc(n + 1 + MESSAGE_LINE_SLACK);

	memcpy(line, s, n);
	memset(line + n, 0, 1 + MESSAGE_LINE_SLACK);
	return line;
}

static int message_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int message_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void message_event_clear(struct message_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->offset = -1;
	ev->timestamp_ms = -1;
}

void message_event_fini(struct message_event *ev)
{
	if (!ev)
		return;
	free(ev->line);
	free(ev->path);
	free(ev->host);
	message_event_clear(ev);
}

/* --- bytes yajl takes and jansson did not ------------------------------ */

/* Length of the run at p that holds no byte < 0x20, >= 0x80 or '\\'. */
static size_t message_quiet_run(const unsigned char *p, size_t n)
{
	size_t i = 0;

#ifdef __SSE2__
	const __m128i ctl = _mm_set1_epi8(0x20), bs = _mm_set1_epi8('\\');

	for (; n - i >= 16; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(p + i));
		/* signed: bytes >= 0x80 are negative, so below 0x20 too */
		unsigned mask = (unsigned)_mm_movemask_epi8(
			_mm_or_si128(_mm_cmplt_epi8(v, ctl), _mm_cmpeq_epi8(v, bs)));

		if (mask)
			return i + (size_t)__builtin_ctz(mask);
	}
#endif
	while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '\\')
		i++;
	return i;
}

/* The code unit of the \uXXXX escape at p (6 bytes), or -1. */
static long message_escape_unit(const unsigned char *p, size_t n)
{
	char hex[5];

	if (n < 6 || p[0] != '\\' || p[1] != 'u')
		return -1;
	for (int i = 2; i < 6; i++) {
		if (!isxdigit(p[i]))
			return -1;
	}
	memcpy(hex, p + 2, 4);
	hex[4] = '\0';
	return strtol(hex, NULL, 16);
}

/*
 * Length of the escape at p (n > 0 bytes from the backslash on), or 0 when
 * it is a \u escape of a surrogate that is not a high one followed by a low
 * one. In JSON that yajl accepts, backslashes occur only inside strings, so
 * reading them from the start of the value finds each escape whole.
 */
static size_t message_escape_len(const unsigned char *p, size_t n)
{
	long u = message_escape_unit(p, n), low;

	if (u < 0xd800 || u > 0xdfff)
		return n < 2 ? 1 : p[1] == 'u' && n >= 6 ? 6 : 2;
	low = message_escape_unit(p + 6, n - 6);
	if (u > 0xdbff || low < 0xdc00 || low > 0xdfff)
		return 0;
	return 12;
}

/*
 * NULL when the value holds nothing that jansson refused and yajl
 * accepts; or the reason, with *at set to the offset of the culprit.
 * *nul tells whether the value holds a NUL byte, *escaped_nul whether it
 * holds a \u0000 escape.
 */
static const char *message_strict_bytes(const char *value, size_t len,
					size_t *at, bool *nul,
					bool *escaped_nul)
{
	const unsigned char *s = (const unsigned char *)value, *p = s;
	const unsigned char *end = s + len;
	size_t k;
	bool bad = false;

	while ((p += message_quiet_run(p, (size_t)(end - p))) < end) {
		*at = (size_t)(p - s);
		if (*p == '\\') {
			k = message_escape_len(p, (size_t)(end - p));
			if (!k)
				return "\\u escape of an unpaired UTF-16 surrogate";
			*escaped_nul |= k == 6 &&
					message_escape_unit(p, (size_t)(end - p)) == 0;
		} else if (*p >= 0x80) {
			k = utf8_seq(p, (size_t)(end - p), &bad);
			if (bad)
				return "invalid UTF-8";
		} else if (*p == '\v' || *p == '\f') {
			return "\\v or \\f";
		} else {
			*nul |= *p == '\0';
			k = 1;
		}
		p += k;
	}
	return NULL;
}

/* Whether v[0..i) ends with a digit, "true", "false" or "null". */
static bool message_ends_scalar(const char *v, size_t i)
{
	static const char *const words[] = {"true", "false", "null"};

	if (i && v[i - 1] >= '0' && v[i - 1] <= '9')
		return true;
	for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
		size_t n = strlen(words[k]);

		if (i >= n && !memcmp(v + i - n, words[k], n))
			return true;
	}
	return false;
}

/*
 * jansson reads one byte past a number or true/false/null; when that byte
 * is NUL, its one-byte push-back buffer then looks empty and the NUL is
 * never read again. To take what it took, this returns a copy of value in
 * which each such NUL (outside strings, right after such a token) is a
 * blank, or NULL when there is none. Strings are followed by their quotes
 * and escapes, exactly as far as the JSON is valid, and past that point
 * yajl refuses the value whatever the copy holds.
 */
static char *message_nul_blanks(const char *value, size_t len)
{
	bool in_string = false;
	char *copy = NULL;

	for (size_t i = 0; i < len; i++) {
		if (in_string) {
			if (value[i] == '\\')
				i++;
			else if (value[i] == '"')
				in_string = false;
		} else if (value[i] == '"') {
			in_string = true;
		} else if (!value[i] && message_ends_scalar(value, i)) {
			if (!copy)
				copy = memcpy(xmalloc(len), value, len);
			copy[i] = ' ';
		}
	}
	return copy;
}

/* --- envelopes ------------------------------------------------------- */

/* What a container is to the decoder. */
enum message_role {
	MESSAGE_IN_OTHER,	/* content skipped */
	MESSAGE_IN_ROOT,
	MESSAGE_IN_LOG,
	MESSAGE_IN_FILE,	/* log.file */
	MESSAGE_IN_HOST,
	MESSAGE_IN_FLAGS,	/* the array log.flags */
};

/* What the value after a key of a known object is. */
enum message_field {
	MESSAGE_F_OTHER,
	MESSAGE_F_MESSAGE,
	MESSAGE_F_TIMESTAMP,
	MESSAGE_F_LOG,
	MESSAGE_F_HOST,
	MESSAGE_F_OFFSET,
	MESSAGE_F_FLAGS,
	MESSAGE_F_FILE,
	MESSAGE_F_PATH,
	MESSAGE_F_NAME,
};

#define MESSAGE_KEY(in, name, field) {in, name, sizeof(name) - 1, field}

static const struct message_key {
	enum message_role in;
	const char *name;
	size_t len;
	enum message_field field;
} message_keys[] = {
	MESSAGE_KEY(MESSAGE_IN_ROOT, "message", MESSAGE_F_MESSAGE),
	MESSAGE_KEY(MESSAGE_IN_ROOT, "@timestamp", MESSAGE_F_TIMESTAMP),
	MESSAGE_KEY(MESSAGE_IN_ROOT, "log", MESSAGE_F_LOG),
	MESSAGE_KEY(MESSAGE_IN_ROOT, "host", MESSAGE_F_HOST),
	MESSAGE_KEY(MESSAGE_IN_LOG, "offset", MESSAGE_F_OFFSET),
	MESSAGE_KEY(MESSAGE_IN_LOG, "flags", MESSAGE_F_FLAGS),
	MESSAGE_KEY(MESSAGE_IN_LOG, "file", MESSAGE_F_FILE),
	MESSAGE_KEY(MESSAGE_IN_FILE, "path", MESSAGE_F_PATH),
	MESSAGE_KEY(MESSAGE_IN_HOST, "name", MESSAGE_F_NAME),
};

/* The state of one parse: yajl's callback context. */
struct message_decoder {
	yajl_handle h;
	struct message_event *ev;	/* filled as values pass */
	const char *why;		/* why a callback stopped the parse */
	int depth;			/* containers open; the root is 1 */
	unsigned char role[MESSAGE_ROLES];	/* enum message_role by depth */
	enum message_field field;	/* of the last key in a known object */
	bool offset_bad;		/* log.offset is there, not an integer >= 0 */
	bool names;			/* keep log.file.path and host.name */
	bool nul;			/* a NUL may be in a key: raw or \u0000 */
	size_t end;			/* offset just past the root's '}' */
};

static enum message_role message_role_now(const struct message_decoder *d)
{
	return d->depth < MESSAGE_ROLES ? d->role[d->depth] : MESSAGE_IN_OTHER;
}

/* The field the next value is, when it is in an object we read. */
static enum message_field message_field_now(const struct message_decoder *d)
{
	enum message_role in = message_role_now(d);

	if (in == MESSAGE_IN_OTHER || in == MESSAGE_IN_FLAGS)
		return MESSAGE_F_OTHER;
	return d->field;
}

static int message_stop(struct message_decoder *d, const char *why)
{
	d->why = why;
	return 0;
}

/* Whether a value here would pass jansson's depth limit. */
static bool message_too_deep(struct message_decoder *d)
{
	if (d->depth < MESSAGE_DEPTH_MAX)
		return false;
	d->why = "maximum parsing depth reached";
	return true;
}

/* A key of f arrived: what an earlier f held no longer counts. */
static void message_forget(struct message_decoder *d, enum message_field f)
{
	struct message_event *ev = d->ev;

	switch (f) {
	case MESSAGE_F_MESSAGE:
		free(ev->line);
		ev->line = NULL;
		ev->len = 0;
		break;
	case MESSAGE_F_TIMESTAMP:
		ev->timestamp_ms = -1;
		break;
	case MESSAGE_F_LOG:
		message_forget(d, MESSAGE_F_OFFSET);
		message_forget(d, MESSAGE_F_FLAGS);
		message_forget(d, MESSAGE_F_FILE);
		break;
	case MESSAGE_F_OFFSET:
		ev->offset = -1;
		d->offset_bad = false;
		break;
	case MESSAGE_F_FLAGS:
		ev->flags &= ~(unsigned)MESSAGE_FLAG_TRUNCATED;
		break;
	case MESSAGE_F_FILE:
	case MESSAGE_F_PATH:
		free(ev->path);
		ev->path = NULL;
		break;
	case MESSAGE_F_HOST:
	case MESSAGE_F_NAME:
		free(ev->host);
		ev->host = NULL;
		break;
	case MESSAGE_F_OTHER:
		break;
	}
}

/* A value that is not a string or a number: only log.offset minds. */
static void message_other_value(struct message_decoder *d)
{
	if (message_field_now(d) == MESSAGE_F_OFFSET)
		d->offset_bad = true;
}

static enum message_role message_child_role(const struct message_decoder *d,
					    bool array)
{
	if (!d->depth)
		return MESSAGE_IN_ROOT;
	switch (message_field_now(d)) {
	case MESSAGE_F_LOG:
		return array ? MESSAGE_IN_OTHER : MESSAGE_IN_LOG;
	case MESSAGE_F_FILE:
		return array ? MESSAGE_IN_OTHER : MESSAGE_IN_FILE;
	case MESSAGE_F_HOST:
		return array ? MESSAGE_IN_OTHER : MESSAGE_IN_HOST;
	case MESSAGE_F_FLAGS:
		return array ? MESSAGE_IN_FLAGS : MESSAGE_IN_OTHER;
	default:
		return MESSAGE_IN_OTHER;
	}
}

static int message_open(struct message_decoder *d, bool array)
{
	enum message_role role = message_child_role(d, array);

	if (message_too_deep(d))
		return 0;
	message_other_value(d);
	d->depth++;
	if (d->depth < MESSAGE_ROLES)
		d->role[d->depth] = (unsigned char)role;
	return 1;
}

static int message_on_start_map(void *ctx)
{
	return message_open(ctx, false);
}

static int message_on_start_array(void *ctx)
{
	return message_open(ctx, true);
}

static int message_on_end(void *ctx)
{
	struct message_decoder *d = ctx;

	if (--d->depth == 0)
		d->end = yajl_get_bytes_consumed(d->h);
	return 1;
}

static int message_on_key(void *ctx, const unsigned char *key, size_t n)
{
	struct message_decoder *d = ctx;
	enum message_role in = message_role_now(d);
	const struct message_key *k;

	if (d->nul && memchr(key, '\0', n))
		return message_stop(d, "NUL byte in an object key");
	d->field = MESSAGE_F_OTHER;
	if (in == MESSAGE_IN_OTHER)
		return 1;
	for (k = message_keys; k < message_keys + sizeof(message_keys) /
		     sizeof(message_keys[0]); k++) {
		if (k->in == in && k->len == n && !memcmp(k->name, key, n)) {
			d->field = k->field;
			message_forget(d, k->field);
			break;
		}
	}
	return 1;
}

/* An element of log.flags: it counts when strcmp() finds it equal. */
static void message_flag(struct message_event *ev, const char *s, size_t n)
{
	if (strnlen(s, n) == 9 && !memcmp(s, "truncated", 9))
		ev->flags |= MESSAGE_FLAG_TRUNCATED;
}

static int message_on_string(void *ctx, const unsigned char *str, size_t n)
{
	struct message_decoder *d = ctx;
	struct message_event *ev = d->ev;
	const char *s = (const char *)str;

	if (message_too_deep(d))
		return 0;
	if (message_role_now(d) == MESSAGE_IN_FLAGS)
		message_flag(ev, s, n);
	switch (message_field_now(d)) {
	case MESSAGE_F_MESSAGE:
		ev->line = message_line_dup(s, n);
		ev->len = n;
		break;
	case MESSAGE_F_TIMESTAMP:
		ev->timestamp_ms = message_parse_time(s, n);
		break;
	case MESSAGE_F_PATH:
		if (d->names)
			ev->path = xstrndup(s, n);
		break;
	case MESSAGE_F_NAME:
		if (d->names)
			ev->host = xstrndup(s, n);
		break;
	default:
		message_other_value(d);
		break;
	}
	return 1;
}

/*
 * Converts the number token s[0..n) as jansson did: an integer (no '.',
 * 'e' or 'E') into *v, returning 1; a real, returning 0; either out of
 * range, returning -1 with the reason in *why.
 */
static int message_number(const char *s, size_t n, int64_t *v,
			  const char **why)
{
	char small[64], *copy = n < sizeof(small) ? small : xmalloc(n + 1);
	int kind;
	double x;

	memcpy(copy, s, n);
	copy[n] = '\0';
	errno = 0;
	kind = copy[strcspn(copy, ".eE")] == '\0';
	if (kind && (n > MESSAGE_INT_MAX_LEN ||
		     (*v = strtoll(copy, NULL, 10), errno == ERANGE))) {
		*why = s[0] == '-' ? "too big negative integer" : "too big integer";
		kind = -1;
	} else if (!kind && (x = strtod(copy, NULL), isinf(x)) &&
		   errno == ERANGE) {
		*why = "real number overflow";
		kind = -1;
	}
	if (copy != small)
		free(copy);
	return kind;
}

static int message_on_number(void *ctx, const char *s, size_t n)
{
	struct message_decoder *d = ctx;
	int64_t v = -1;
	int kind;

	if (message_too_deep(d) || (kind = message_number(s, n, &v, &d->why)) < 0)
		return 0;
	if (message_field_now(d) != MESSAGE_F_OFFSET)
		return 1;
	if (kind == 1 && v >= 0)
		d->ev->offset = v;
	else
		d->offset_bad = true;
	return 1;
}

static int message_on_null(void *ctx)
{
	if (message_too_deep(ctx))
		return 0;
	message_other_value(ctx);
	return 1;
}

static int message_on_boolean(void *ctx, int b)
{
	return message_on_null(ctx);
}

static const yajl_callbacks message_callbacks = {
	.yajl_null = message_on_null,
	.yajl_boolean = message_on_boolean,
	.yajl_number = message_on_number,
	.yajl_string = message_on_string,
	.yajl_start_map = message_on_start_map,
	.yajl_map_key = message_on_key,
	.yajl_end_map = message_on_end,
	.yajl_start_array = message_on_start_array,
	.yajl_end_array = message_on_end,
};

/*
 * yajl allocates its handle, lexer, stack and string buffer anew for each
 * value (four to six blocks, a string with escapes takes 2 KiB): they come
 * from an arena on message_parse()'s stack, which vanishes with it, and
 * only what does not fit from the heap. Each block is preceded by its size,
 * for realloc; the last block grows in place.
 */
#define MESSAGE_ARENA_SIZE 8192
#define MESSAGE_ARENA_ALIGN 16

struct message_arena {
	size_t used, last;      /* last: offset of the newest block's header */
	_Alignas(MESSAGE_ARENA_ALIGN) unsigned char bytes[MESSAGE_ARENA_SIZE];
};

static size_t message_arena_round(size_t n)
{
	return (n + MESSAGE_ARENA_ALIGN - 1) & ~(size_t)(MESSAGE_ARENA_ALIGN - 1);
}

static bool message_in_arena(const struct message_arena *a, const void *p)
{
	uintptr_t at = (uintptr_t)p, base = (uintptr_t)a->bytes;

	return at >= base && at < base + sizeof(a->bytes);
}

static void *message_yajl_malloc(void *ctx, size_t n)
{
	struct message_arena *a = ctx;
	unsigned char *block;

	if (n > sizeof(a->bytes) - MESSAGE_ARENA_ALIGN ||
	    MESSAGE_ARENA_ALIGN + message_arena_round(n) > sizeof(a->bytes) - a->used)
		return xmalloc(n);
	block = a->bytes + a->used;
	memcpy(block, &n, sizeof(n));
	a->last = a->used;
	a->used += MESSAGE_ARENA_ALIGN + message_arena_round(n);
	return block + MESSAGE_ARENA_ALIGN;
}

static void *message_yajl_realloc(void *ctx, void *p, size_t n)
{
	struct message_arena *a = ctx;
	unsigned char *block;
	size_t old, room;
	void *q;

	if (!p)
		return message_yajl_malloc(ctx, n);
	if (!message_in_arena(a, p))
		return xrealloc(p, n);
	block = (unsigned char *)p - MESSAGE_ARENA_ALIGN;
	memcpy(&old, block, sizeof(old));
	room = sizeof(a->bytes) - a->last - MESSAGE_ARENA_ALIGN;
	if ((size_t)(block - a->bytes) == a->last && n <= room &&
	    message_arena_round(n) <= room) {
		memcpy(block, &n, sizeof(n));
		a->used = a->last + MESSAGE_ARENA_ALIGN + message_arena_round(n);
		return p;
	}
	q = message_yajl_malloc(ctx, n);
	memcpy(q, p, old < n ? old : n);
	return q;
}

static void message_yajl_free(void *ctx, void *p)
{
	if (!message_in_arena(ctx, p))
		free(p);
}

/* The reason yajl (or a callback) gave for stopping at byte at, in err. */
static int message_yajl_fail(yajl_handle h, yajl_status st, size_t at,
			     const struct message_decoder *d, char *err,
			     size_t errlen)
{
	unsigned char *text;
	int rc;

	if (st == yajl_status_client_canceled)
		return message_fail(err, errlen, "not JSON: %s at byte %zu",
				    d->why, at);
	text = yajl_get_error(h, 0, NULL, 0);
	rc = message_fail(err, errlen, "not JSON: %.*s at byte %zu",
			  (int)strcspn((const char *)text, "\n"),
			  (const char *)text, at);
	yajl_free_error(h, text);
	return rc;
}

/*
 * What the envelope must hold, once yajl has read all of value. yajl
 * lets an unfinished token after the root pass ('{…} "abc'), so the bytes
 * after the root's '}' are checked here.
 */
static int message_decode_check(const struct message_decoder *d,
				const char *value, size_t len, char *err,
				size_t errlen)
{
	size_t end = d->end;

	while (end < len && memchr(" \t\n\r", value[end], 4))
		end++;
	if (end < len)
		return message_fail(err, errlen,
				    "not JSON: trailing garbage at byte %zu", end);
	if (!d->ev->line)
		return message_fail(err, errlen, "no \"message\" string");
	if (d->offset_bad)
		return message_fail(err, errlen,
				    "log.offset is not a non-negative integer");
	d->ev->enveloped = true;
	return 0;
}

/*
 * Parses the envelope value with a yajl handle of its own, allocated in a
 * struct message_arena on this stack: yajl has no reset, and keeping one
 * handle per thread would take yajl_allow_multiple_values and trusting its
 * state across values, which the pipeline's exact counts do not need to
 * risk; with the arena a fresh handle costs no malloc.
 */
static int message_parse(const char *value, size_t len, bool names, bool nul,
			 struct message_event *ev, char *err, size_t errlen)
{
	struct message_arena arena;
	yajl_alloc_funcs afs = {message_yajl_malloc, message_yajl_realloc,
				message_yajl_free, &arena};
	struct message_decoder d = {.ev = ev, .names = names, .nul = nul};
	yajl_handle h;
	yajl_status st;
	size_t at;
	int rc;

	arena.used = arena.last = 0;
	h = d.h = yajl_alloc(&message_callbacks, &afs, &d);
	yajl_config(h, yajl_dont_validate_strings, 1);
	st = yajl_parse(h, (const unsigned char *)value, len);
	at = yajl_get_bytes_consumed(h);
	if (st == yajl_status_ok) {
		st = yajl_complete_parse(h);
		at = len;
	}
	if (st == yajl_status_ok)
		rc = message_decode_check(&d, value, len, err, errlen);
	else
		rc = message_yajl_fail(h, st, at, &d, err, errlen);
	yajl_free(h);
	return rc;
}

/* Fills ev from an envelope: value starts with '{' after blanks. */
static int message_decode_json(const char *value, size_t len, bool names,
			       struct message_event *ev, char *err,
			       size_t errlen)
{
	const char *why;
	bool nul = false, escaped_nul = false;
	char *copy;
	size_t at;
	int rc;

	if ((why = message_strict_bytes(value, len, &at, &nul, &escaped_nul)))
		return message_fail(err, errlen, "not JSON: %s at byte %zu", why, at);
	copy = nul ? message_nul_blanks(value, len) : NULL;
	rc = message_parse(copy ? copy : value, len, names, nul || escaped_nul,
			   ev, err, errlen);
	free(copy);
	return rc;
}

/* --- bare lines ------------------------------------------------------ */

static bool message_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	bool bad = false;

	while (p < end && !bad) {
		if (*p < 0x80)
			p++;
		else
			p += utf8_seq(p, (size_t)(end - p), &bad);
	}
	return !bad;
}

static int message_decode_bare(const char *value, size_t len,
			       struct message_event *ev, char *err,
			       size_t errlen)
{
	if (len && value[len - 1] == '\n')
		len -= 1 + (len >= 2 && value[len - 2] == '\r');
	if (!len)
		return message_fail(err, errlen, "empty value");
	if (memchr(value, '\0', len))
		return message_fail(err, errlen, "NUL byte in a bare line");
	if (memchr(value, '\n', len))
		return message_fail(err, errlen, "newline inside a bare line");
	if (!message_utf8_valid(value, len))
		return message_fail(err, errlen, "invalid UTF-8 in a bare line");
	ev->line = message_line_dup(value, len);
	ev->len = len;
	return 0;
}

static int message_decode_as(const void *value, size_t len, bool names,
			     struct message_event *ev, char *err, size_t errlen)
{
	const char *s = value;
	size_t i = 0;
	int rc;

	message_event_clear(ev);
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
			   s[i] == '\n'))
		i++;
	if (i < len && s[i] == '{')
		rc = message_decode_json(s, len, names, ev, err, errlen);
	else
		rc = message_decode_bare(s, len, ev, err, errlen);
	if (rc)
		message_event_fini(ev);
	return rc;
}

int message_decode(const void *value, size_t len, struct message_event *ev,
		   char *err, size_t errlen)
{
	return message_decode_as(value, len, true, ev, err, errlen);
}

int message_decode_line(const void *value, size_t len,
			struct message_event *ev, char *err, size_t errlen)
{
	return message_decode_as(value, len, false, ev, err, errlen);
}
