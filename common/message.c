/*
 * message: the topic's value format. Encoding is the agent's hot path, so an
 * encoder escapes everything that is the same for every line of a source
 * once (path, host, agent, input, fields) into two strings, and an event
 * costs a prefix, the timestamp, the escaped line, the offset and a suffix.
 * Output gathers in a chunk on the stack that reaches the caller's buf in
 * one buf_add() for a typical line; escaping scans 16 bytes at a time (SSE2;
 * a 64-bit word elsewhere) for bytes that need work and copies the runs
 * between them. Invalid UTF-8 becomes U+FFFD, one per maximal subpart
 * (Unicode section 3.9, as the WHATWG decoder does). An event without extra
 * fields has no "fields" key, as Filebeat's. @timestamp is written and read
 * here without gmtime() or strptime(); decoding is message_decode.c's.
 */
#include "message.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "message_private.h"
#include "xalloc.h"

#define MESSAGE_CHUNK 4096
#define MESSAGE_FLAGS_JSON ",\"flags\":[\"truncated\"]"
#define MESSAGE_HEAD "{\"@timestamp\":\""
#define MESSAGE_LINE_KEY "\",\"message\":\""

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z */
#define MESSAGE_MS_MIN (-62167219200000LL)
#define MESSAGE_MS_MAX 253402300799999LL

struct message_encoder {
	char *mid;		/* ","log":{"file":{"path":"…"},"offset": */
	size_t mid_len;
	/*
	 * What follows the offset: MESSAGE_FLAGS_JSON, then "},"host":… }".
	 * A line without flags starts at tail + strlen(MESSAGE_FLAGS_JSON).
	 */
	char *tail;
	size_t tail_len;
};

/*
 * Output under construction: bytes gather in chunk and move to buf when it
 * fills. The first failed buf_add() sets rc; later output is dropped.
 */
struct message_out {
	struct buf *buf;
	int rc;
	size_t n;
	char chunk[MESSAGE_CHUNK];
};

/* --- output ---------------------------------------------------------- */

static void message_out_flush(struct message_out *o)
{
	if (!o->rc && o->n)
		o->rc = buf_add(o->buf, o->chunk, o->n);
	o->n = 0;
}

/* Room for n (at most MESSAGE_CHUNK) bytes at chunk + n. */
static inline char *message_out_room(struct message_out *o, size_t n)
{
	if (n > MESSAGE_CHUNK - o->n)
		message_out_flush(o);
	return o->chunk + o->n;
}

static inline void message_out_add(struct message_out *o, const void *p,
				   size_t n)
{
	if (n > MESSAGE_CHUNK - o->n) {
		message_out_flush(o);
		if (n > MESSAGE_CHUNK) {
			if (!o->rc)
				o->rc = buf_add(o->buf, p, n);
			return;
		}
	}
	memcpy(o->chunk + o->n, p, n);
	o->n += n;
}

static void message_out_int(struct message_out *o, int64_t v)
{
	char digits[24], *d = digits + sizeof(digits);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--d = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--d = '-';
	message_out_add(o, d, (size_t)(digits + sizeof(digits) - d));
}

/* --- escaping -------------------------------------------------------- */

static inline bool message_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Whether any byte of w is < 0x20, '"', '\\', 0x7f or >= 0x80. */
static inline uint64_t message_word_special(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL, high = ones << 7;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
	uint64_t del = w ^ (ones * 0x7f);

	q = (q - ones) & ~q;
	b = (b - ones) & ~b;
	del = (del - ones) & ~del;
	return ((w - ones * 0x20) | q | b | del | w) & high;
}

/* Length of the run of bytes at p that JSON takes as they are. */
static size_t message_plain_run(const unsigned char *p, size_t n)
{
	size_t i = 0;
	uint64_t w;

#ifdef __SSE2__
	const __m128i ctl = _mm_set1_epi8(0x20), q = _mm_set1_epi8('"');
	const __m128i bs = _mm_set1_epi8('\\'), del = _mm_set1_epi8(0x7f);

	for (; n - i >= 16; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(p + i));
		/* signed: bytes >= 0x80 are negative, so below 0x20 too */
		__m128i hit = _mm_or_si128(
			_mm_or_si128(_mm_cmplt_epi8(v, ctl), _mm_cmpeq_epi8(v, q)),
			_mm_or_si128(_mm_cmpeq_epi8(v, bs), _mm_cmpeq_epi8(v, del)));
		unsigned mask = (unsigned)_mm_movemask_epi8(hit);

		if (mask)
			return i + (size_t)__builtin_ctz(mask);
	}
#endif
	for (; n - i >= 8; i += 8) {
		memcpy(&w, p + i, 8);
		if (message_word_special(w))
			break;
	}
	while (i < n && message_plain(p[i]))
		i++;
	return i;
}

/* Writes the JSON escape of ASCII byte c at d; returns its length. */
static size_t message_escape_ascii(char *d, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	static const char letter[0x20] = {
		['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
	};

	d[0] = '\\';
	if (c == '"' || c == '\\' || (c < 0x20 && letter[c])) {
		d[1] = c < 0x20 ? letter[c] : (char)c;
		return 2;
	}
	memcpy(d + 1, "u00", 3);
	d[4] = hex[c >> 4];
	d[5] = hex[c & 0xf];
	return 6;
}

/* Writes the byte or UTF-8 sequence at p that is not plain; returns its length. */
static size_t message_escape_special(struct message_out *o,
				     const unsigned char *p, size_t n)
{
	char *d = message_out_room(o, 6);
	size_t k;
	bool bad;

	if (p[0] < 0x80) {
		o->n += message_escape_ascii(d, p[0]);
		return 1;
	}
	k = utf8_seq(p, n, &bad);
	if (bad)
		memcpy(d, "\xef\xbf\xbd", 3);
	else
		memcpy(d, p, k);
	o->n += bad ? 3 : k;
	return k;
}

/* Writes the bytes s[0..n) as the inside of a JSON string. */
static void message_escape(struct message_out *o, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	size_t run;

	while (p < end && !o->rc) {
		run = message_plain_run(p, (size_t)(end - p));
		message_out_add(o, p, run);
		p += run;
		if (p < end)
			p += message_escape_special(o, p, (size_t)(end - p));
	}
}

/* --- encoding -------------------------------------------------------- */

static void message_out_init(struct message_out *o, struct buf *b)
{
	o->buf = b;
	o->rc = 0;
	o->n = 0;
}

static void message_out_str(struct message_out *o, const char *s)
{
	message_out_add(o, s, strlen(s));
}

static void message_out_quoted(struct message_out *o, const char *s)
{
	message_out_add(o, "\"", 1);
	message_escape(o, s, strlen(s));
	message_out_add(o, "\"", 1);
}

static void message_out_fields(struct message_out *o,
			       const struct config_map *fields)
{
	if (!fields || !fields->n)
		return;
	message_out_str(o, ",\"fields\":{");
	for (size_t i = 0; i < fields->n; i++) {
		if (i)
			message_out_add(o, ",", 1);
		message_out_quoted(o, fields->items[i].key);
		message_out_add(o, ":", 1);
		message_out_quoted(o, fields->items[i].value);
	}
	message_out_add(o, "}", 1);
}

/* Moves what o wrote to its (unbounded) buffer out as a string. */
static char *message_out_take(struct message_out *o, size_t *len)
{
	message_out_flush(o);
	assert(o->rc == 0);
	return buf_take(o->buf, len);
}

struct message_encoder *message_encoder_new(const char *path, const char *host,
					    const struct config_map *fields)
{
	struct message_encoder *enc = xcalloc(1, sizeof(*enc));
	struct message_out *o = xmalloc(sizeof(*o));
	struct buf b;

	assert(path && host);
	buf_init(&b, SIZE_MAX);
	message_out_init(o, &b);
	message_out_str(o, "\",\"log\":{\"file\":{\"path\":\"");
	message_escape(o, path, strlen(path));
	message_out_str(o, "\"},\"offset\":");
	enc->mid = message_out_take(o, &enc->mid_len);

	message_out_str(o, MESSAGE_FLAGS_JSON "},\"host\":{\"name\":\"");
	message_escape(o, host, strlen(host));
	message_out_str(o, "\"},\"agent\":{\"type\":\"logtally-agent\",\"version\":\""
			PACKAGE_VERSION "\"},\"input\":{\"type\":\"filestream\"}");
	message_out_fields(o, fields);
	message_out_add(o, "}", 1);
	enc->tail = message_out_take(o, &enc->tail_len);
	free(o);
	return enc;
}

void message_encoder_free(struct message_encoder *enc)
{
	if (!enc)
		return;
	free(enc->mid);
	free(enc->tail);
	free(enc);
}

int message_encode(const struct message_encoder *enc, const char *timestamp,
		   const char *line, size_t len, int64_t offset, unsigned flags,
		   struct buf *out)
{
	struct message_out o;
	size_t start = buf_len(out), skip = 0;

	message_out_init(&o, out);
	message_out_add(&o, MESSAGE_HEAD, sizeof(MESSAGE_HEAD) - 1);
	message_out_str(&o, timestamp);
	message_out_add(&o, MESSAGE_LINE_KEY, sizeof(MESSAGE_LINE_KEY) - 1);
	message_escape(&o, line, len);
	message_out_add(&o, enc->mid, enc->mid_len);
	message_out_int(&o, offset);
	if (!(flags & MESSAGE_FLAG_TRUNCATED))
		skip = sizeof(MESSAGE_FLAGS_JSON) - 1;
	message_out_add(&o, enc->tail + skip, enc->tail_len - skip);
	message_out_flush(&o);
	if (o.rc)
		buf_truncate(out, start);
	return o.rc;
}

/* --- time ------------------------------------------------------------ */

static int64_t message_floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's). */
static int64_t message_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = message_floordiv(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void message_civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = message_floordiv(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static void message_digits(char *d, int v, int width)
{
	while (width--) {
		d[width] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* "YYYY-MM-DDTHH:MM:SS.000Z" of secs since the epoch, without gmtime(). */
static void message_timestamp_secs(int64_t secs, char out[MESSAGE_TIMESTAMP_LEN + 1])
{
	int64_t days = message_floordiv(secs, 86400), sod = secs - days * 86400;
	int y, m, d;

	message_civil_from_days(days, &y, &m, &d);
	memcpy(out, "0000-00-00T00:00:00.000Z", MESSAGE_TIMESTAMP_LEN + 1);
	message_digits(out, y, 4);
	message_digits(out + 5, m, 2);
	message_digits(out + 8, d, 2);
	message_digits(out + 11, (int)(sod / 3600), 2);
	message_digits(out + 14, (int)(sod / 60 % 60), 2);
	message_digits(out + 17, (int)(sod % 60), 2);
}

/*
 * Years outside 0000..9999 are clamped. Each thread keeps the text of the
 * last second it formatted, so that lines of one second cost a copy and
 * three digits.
 */
void message_timestamp(int64_t ms, char out[MESSAGE_TIMESTAMP_LEN + 1])
{
	static _Thread_local int64_t cached_secs = INT64_MIN;
	static _Thread_local char cached[MESSAGE_TIMESTAMP_LEN + 1];
	int64_t secs;

	ms = ms < MESSAGE_MS_MIN ? MESSAGE_MS_MIN : ms;
	ms = ms > MESSAGE_MS_MAX ? MESSAGE_MS_MAX : ms;
	secs = message_floordiv(ms, 1000);
	if (secs != cached_secs) {
		message_timestamp_secs(secs, cached);
		cached_secs = secs;
	}
	memcpy(out, cached, MESSAGE_TIMESTAMP_LEN + 1);
	message_digits(out + 20, (int)(ms - secs * 1000), 3);
}

/* Reads n digits at *p into *v; false unless all are digits. */
static bool message_scan(const char **p, const char *end, int n, int *v)
{
	for (*v = 0; n--; (*p)++) {
		if (*p == end || **p < '0' || **p > '9')
			return false;
		*v = *v * 10 + (**p - '0');
	}
	return true;
}

static bool message_expect(const char **p, const char *end, const char *any)
{
	if (*p == end || !**p || !strchr(any, **p))
		return false;
	(*p)++;
	return true;
}

static bool message_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Seconds of the UTC offset at p: "Z", "z" or "+hh:mm"/"-hh:mm"; -1 if bad. */
static int message_zone(const char *p, const char *end, int *secs)
{
	int hh, mm, sign = p < end && *p == '-' ? -1 : 1;

	if (message_expect(&p, end, "Zz")) {
		*secs = 0;
		return p == end ? 0 : -1;
	}
	if (!message_expect(&p, end, "+-") || !message_scan(&p, end, 2, &hh) ||
	    !message_expect(&p, end, ":") || !message_scan(&p, end, 2, &mm) ||
	    p != end || hh > 23 || mm > 59)
		return -1;
	*secs = sign * (hh * 3600 + mm * 60);
	return 0;
}

int64_t message_parse_time(const char *p, size_t len)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *end = p + len;
	int y, mo, d, h, mi, s, ms = 0, zone, digit;
	int64_t t;

	if (!message_scan(&p, end, 4, &y) || !message_expect(&p, end, "-") ||
	    !message_scan(&p, end, 2, &mo) || !message_expect(&p, end, "-") ||
	    !message_scan(&p, end, 2, &d) || !message_expect(&p, end, "Tt ") ||
	    !message_scan(&p, end, 2, &h) || !message_expect(&p, end, ":") ||
	    !message_scan(&p, end, 2, &mi) || !message_expect(&p, end, ":") ||
	    !message_scan(&p, end, 2, &s))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 60 ||
	    d > mdays[mo - 1] + (mo == 2 && message_leap(y)))
		return -1;
	if (message_expect(&p, end, ".")) {
		if (!message_scan(&p, end, 1, &digit))
			return -1;
		for (int scale = 100; ; scale /= 10) {
			ms += digit * scale;
			if (!message_scan(&p, end, 1, &digit))
				break;
		}
	}
	if (message_zone(p, end, &zone))
		return -1;
	t = (message_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s -
	     zone) * 1000 + ms;
	return t < 0 ? -1 : t;
}
