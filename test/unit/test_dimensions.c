/*
 * Unit tests of dimensions: percent-decoding (against a reference decoder
 * built from a naive unescape and utf8_ref's WHATWG repair), lowercasing,
 * the default dimensions on the examples of DESIGN.md, values kept
 * verbatim, truncation to SCHEMA_VALUE_CHARS characters, and the errors
 * of dimensions_new(). Every emitted value is checked to be non-empty
 * valid UTF-8 of at most SCHEMA_VALUE_CHARS characters.
 *
 * Size: over 900 lines since when: and referer_host came; their tests
 * (test_when_*, test_referer_host*) should move to test_dimensions_when.c
 * with the extract helpers, the next time this file changes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/accesslog.h"
#include "aggregator/aggregator_config.h"
#include "aggregator/dimensions.h"
#include "utf8_ref.h"

#define MAX_VALUES 64
/* A dimension without conditions. */
#define NO_WHEN {0, NULL}

struct seen {
	size_t n;
	size_t dim[MAX_VALUES];
	size_t len[MAX_VALUES];
	char value[MAX_VALUES][SCHEMA_VALUE_BYTES + 1];
};

static size_t utf8_chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/* Whether s[0..len) is valid UTF-8: the reference repair leaves it alone. */
static int utf8_valid(const char *s, size_t len)
{
	unsigned char *out = malloc(3 * len + 1);
	size_t n = utf8_ref_repair((const unsigned char *)s, len, out);
	int ok = n == len && !memcmp(out, s, len);

	free(out);
	return ok;
}

static void seen_emit(void *arg, size_t dim, const char *value, size_t len)
{
	struct seen *seen = arg;

	assert_true(len > 0);
	assert_true(len <= SCHEMA_VALUE_BYTES);
	assert_true(utf8_valid(value, len));
	assert_true(utf8_chars(value, len) <= SCHEMA_VALUE_CHARS);
	assert_true(seen->n < MAX_VALUES);
	seen->dim[seen->n] = dim;
	seen->len[seen->n] = len;
	memcpy(seen->value[seen->n], value, len);
	seen->value[seen->n][len] = '\0';
	seen->n++;
}

/* Dimensions from n configured ones over a parser for format. */
static struct dimensions *dims_make(struct accesslog **lp, const char *format,
				    struct aggregator_dimension *cfg, size_t n)
{
	struct config_list list = {n, cfg};
	struct dimensions *dims;
	char err[256] = "";

	*lp = accesslog_new(format, err, sizeof(err));
	assert_non_null(*lp);
	dims = dimensions_new(&list, *lp, err, sizeof(err));
	if (!dims)
		fail_msg("dimensions_new: %s", err);
	return dims;
}

static struct aggregator_dimension defaults[] = {
	{"url", "path", "", false, NO_WHEN},
	{"status", "status", "", false, NO_WHEN},
	{"hashtag", "target", "#(\\w+)", true, NO_WHEN},
};

/* The values of a combined line whose request target is target. */
static size_t extract_target(struct dimensions *dims, struct accesslog *lp,
			     const char *target, struct seen *seen)
{
	struct accesslog_record rec;
	char line[8192];
	size_t n;

	snprintf(line, sizeof(line), "203.0.113.9 - - [24/Nov/2026:20:26:22 +0000] "
		 "\"GET %s HTTP/1.1\" 200 512 \"-\" \"curl/8.1\"", target);
	assert_int_equal(accesslog_parse(lp, line, strlen(line), &rec), 0);
	memset(seen, 0, sizeof(*seen));
	n = dimensions_extract(dims, &rec, seen_emit, seen);
	assert_int_equal(n, seen->n);
	return n;
}

/* The values of a record whose only field is field = text[0..len). */
static size_t extract_field(struct dimensions *dims, size_t field,
			    const char *text, size_t len, struct seen *seen)
{
	struct accesslog_span fields[ACCESSLOG_NFIELDS] = {{NULL, 0}};
	struct accesslog_record rec = {.fields = fields, .time_ms = -1, .duration_us = -1};
	size_t n;

	fields[field] = (struct accesslog_span){text, len};
	memset(seen, 0, sizeof(*seen));
	n = dimensions_extract(dims, &rec, seen_emit, seen);
	assert_int_equal(n, seen->n);
	return n;
}

/* The hashtags of target, in order, joined by ' '. */
static const char *hashtags(struct dimensions *dims, struct accesslog *lp,
			    const char *target, char *out, size_t outlen)
{
	struct seen *seen = malloc(sizeof(*seen));
	size_t i, o = 0;

	extract_target(dims, lp, target, seen);
	out[0] = '\0';
	for (i = 0; i < seen->n; i++) {
		if (seen->dim[i] != 2)
			continue;
		o += (size_t)snprintf(out + o, outlen - o, "%s%s", o ? " " : "",
				      seen->value[i]);
	}
	free(seen);
	return out;
}

/* --- percent-decoding ------------------------------------------------ */

static size_t decode(const char *s, size_t len, char **out)
{
	*out = malloc(3 * len + 1);     /* exactly the room promised, for ASan */
	return dimensions_percent_decode(s, len, *out);
}

static void check_decode(const char *in, size_t inlen, const char *want,
			 size_t wantlen)
{
	char *out;
	size_t n = decode(in, inlen, &out);

	if (n != wantlen || memcmp(out, want, n))
		fail_msg("decoding '%.*s' gave %zu bytes, want %zu", (int)inlen, in,
			 n, wantlen);
	free(out);
}

#define DECODE(in, want) check_decode(in, sizeof(in) - 1, want, sizeof(want) - 1)

static void test_percent_decode(void **state)
{
	DECODE("", "");
	DECODE("/plain/path", "/plain/path");
	DECODE("%23goodVibes", "#goodVibes");
	DECODE("%23a%C3%B1oNuevo", "#a\xc3\xb1oNuevo");
	DECODE("%c3%b1%2f%2F", "\xc3\xb1//");
	DECODE("a+b%20c", "a+b c");
	DECODE("100%", "100%");
	DECODE("%", "%");
	DECODE("%2", "%2");
	DECODE("%zz%2g%%41", "%zz%2g%A");
	DECODE("%00", "\0");
	DECODE("a%00b", "a\0b");
	DECODE("%F0%9F%98%80", "\xf0\x9f\x98\x80");             /* 4 bytes: kept */
	DECODE("%C3\xb1", "\xc3\xb1");                  /* encoded lead, raw tail */
	/* Invalid after decoding: one U+FFFD per maximal subpart. */
	DECODE("%C3", "\xef\xbf\xbd");
	DECODE("%C3%28", "\xef\xbf\xbd(");
	DECODE("%FF", "\xef\xbf\xbd");
	DECODE("\xff", "\xef\xbf\xbd");
	DECODE("%C0%AF", "\xef\xbf\xbd\xef\xbf\xbd");           /* overlong '/' */
	DECODE("%E0%80%AF", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	DECODE("%ED%A0%80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
	DECODE("%F4%90%80%80",
	       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* > U+10FFFF */
	DECODE("%F0%9F%98", "\xef\xbf\xbd");                    /* cut short */
}

/* The value of hex digit c, or -1. */
static int hex_value(char c)
{
	static const char digits[] = "0123456789abcdef0123456789ABCDEF";
	const char *d = c ? strchr(digits, c) : NULL;

	return d ? (int)((d - digits) % 16) : -1;
}

/* The reference: unescape naively, then repair as WHATWG says. */
static size_t reference_decode(const char *s, size_t len, unsigned char *out)
{
	unsigned char *raw = malloc(len + 1);
	size_t i, n = 0, o;

	for (i = 0; i < len; i++) {
		if (s[i] == '%' && len - i >= 3 && hex_value(s[i + 1]) >= 0 &&
		    hex_value(s[i + 2]) >= 0) {
			raw[n++] = (unsigned char)(hex_value(s[i + 1]) * 16 +
						   hex_value(s[i + 2]));
			i += 2;
		} else {
			raw[n++] = (unsigned char)s[i];
		}
	}
	o = utf8_ref_repair(raw, n, out);
	free(raw);
	return o;
}

static void test_percent_decode_random(void **state)
{
	static const char alphabet[] = "%%%0123456789aAfFgC3E8DBe+/#\x80\xbf\xc3\xe0\xf0\xf4\xff";
	unsigned seed = 42;
	char in[64];
	unsigned char want[3 * sizeof(in)];
	char *out;
	size_t len, n, m;

	for (int round = 0; round < 200000; round++) {
		len = (size_t)rand_r(&seed) % sizeof(in);
		for (size_t i = 0; i < len; i++)
			in[i] = alphabet[(size_t)rand_r(&seed) % (sizeof(alphabet) - 1)];
		n = decode(in, len, &out);
		m = reference_decode(in, len, want);
		if (n != m || memcmp(out, want, n))
			fail_msg("round %d: '%.*s' decodes differently", round, (int)len, in);
		free(out);
	}
}

/* --- lowercasing ----------------------------------------------------- */

static void check_lower(const char *in, const char *want)
{
	size_t len = strlen(in);
	char out[256], same[256];

	assert_int_equal(strlen(want), len);
	assert_int_equal(dimensions_lowercase(in, len, out), len);
	out[len] = '\0';
	assert_string_equal(out, want);
	memcpy(same, in, len + 1);              /* in place */
	dimensions_lowercase(same, len, same);
	assert_string_equal(same, want);
}

static void test_lowercase(void **state)
{
	check_lower("", "");
	check_lower("GoodVibes 2026 AZ@[`{", "goodvibes 2026 az@[`{");
	check_lower("\xc3\x89t\xc3\xa9", "\xc3\xa9t\xc3\xa9");            /* Été */
	check_lower("A\xc3\x91O", "a\xc3\xb1o");                        /* AÑO */
	check_lower("\xc3\x80\xc3\x96\xc3\x98\xc3\x9e",                 /* ÀÖØÞ */
		    "\xc3\xa0\xc3\xb6\xc3\xb8\xc3\xbe");
	check_lower("\xc3\x97\xc3\x9f", "\xc3\x97\xc3\x9f");   /* × ß: no capitals */
	check_lower("\xc5\xb8", "\xc3\xbf");                            /* Ÿ -> ÿ */
	check_lower("\xc5\x81\xc3\xb3" "d\xc5\xba", "\xc5\x82\xc3\xb3" "d\xc5\xba"); /* Łódź */
	check_lower("\xc7\x84", "\xc7\x86");                            /* Ǆ -> ǆ */
	check_lower("\xc6\x81", "\xc9\x93");                /* Ɓ -> ɓ, past U+024F */
	check_lower("\xc9\x8e", "\xc9\x8f");                            /* Ɏ -> ɏ */
	check_lower("\xc4\xb0", "\xc4\xb0");                /* İ: 'i' is shorter */
	check_lower("\xc8\xba", "\xc8\xba");             /* Ⱥ: U+2C65 is longer */
	check_lower("\xce\xa3\xd0\x96", "\xce\xa3\xd0\x96");   /* Greek, Cyrillic */
	check_lower("\xf0\x9f\x98\x80X", "\xf0\x9f\x98\x80x");          /* emoji */
	check_lower("\xe2\x84\xaa", "\xe2\x84\xaa");        /* Kelvin sign stays */
}

/* --- the default dimensions ------------------------------------------ */

static void test_design_examples(void **state)
{
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "combined", defaults, 3);
	struct seen seen;
	char tags[1024];

	assert_int_equal(dimensions_count(dims), 3);
	assert_string_equal(dimensions_name(dims, 0), "url");
	assert_string_equal(dimensions_name(dims, 2), "hashtag");

	assert_int_equal(extract_target(dims, lp, "/search?q=%23goodVibes", &seen), 3);
	assert_int_equal(seen.dim[0], 0);
	assert_string_equal(seen.value[0], "/search");
	assert_int_equal(seen.dim[1], 1);
	assert_string_equal(seen.value[1], "200");
	assert_int_equal(seen.dim[2], 2);
	assert_string_equal(seen.value[2], "goodvibes");

	assert_string_equal(hashtags(dims, lp, "/t#goodVibes", tags, sizeof(tags)),
			    "goodvibes");
	assert_string_equal(hashtags(dims, lp, "/s?q=%23a%C3%B1oNuevo", tags,
				     sizeof(tags)), "a\xc3\xb1onuevo");
	assert_string_equal(hashtags(dims, lp, "/tag/goodVibes", tags, sizeof(tags)), "");
	dimensions_free(dims);
	accesslog_free(lp);
}

static void test_hashtags(void **state)
{
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "combined", defaults, 3);
	char tags[1024];

#define TAGS(target) hashtags(dims, lp, target, tags, sizeof(tags))
	assert_string_equal(TAGS("/p?t=%23One%20%23two#Three"), "one two three");
	assert_string_equal(TAGS("/p?a=%23x&b=%23X"), "x x");       /* counts twice */
	assert_string_equal(TAGS("/p#"), "");
	assert_string_equal(TAGS("/p?q=%23"), "");
	assert_string_equal(TAGS("/p##"), "");
	assert_string_equal(TAGS("/p##a"), "a");
	assert_string_equal(TAGS("/p?q=%23%23b"), "b");
	assert_string_equal(TAGS("/p?q=#a#b"), "a b");
	assert_string_equal(TAGS("/p?q=%23Caf%C3%A9_Ol%C3%A9!"), "caf\xc3\xa9_ol\xc3\xa9");
	assert_string_equal(TAGS("/p?q=%23\xc3\x89T\xc3\x89"), "\xc3\xa9t\xc3\xa9");
	assert_string_equal(TAGS("/p?q=%23%E6%97%A5%E6%9C%AC"),         /* #日本 */
			    "\xe6\x97\xa5\xe6\x9c\xac");
	assert_string_equal(TAGS("/p?q=%23%F0%9F%98%80"), "");  /* emoji is no \w */
	assert_string_equal(TAGS("/p?q=%23ab%FFcd"), "ab");     /* U+FFFD ends it */
	assert_string_equal(TAGS("/p?q=%2523x"), "");           /* decoded once */
	assert_string_equal(TAGS("/p?q=%2"), "");
#undef TAGS
	dimensions_free(dims);
	accesslog_free(lp);
}

static void test_raw_utf8_target(void **state)
{
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "combined", defaults, 3);
	struct seen seen;

	/* Raw non-ASCII in the line: matched without decoding, kept as is. */
	extract_field(dims, ACCESSLOG_TARGET, "/x#\xc3\x91" "and\xc3\xba", 10, &seen);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.value[0], "\xc3\xb1" "and\xc3\xba");
	/* Invalid raw bytes become U+FFFD before the match. */
	extract_field(dims, ACCESSLOG_TARGET, "/x#a\xff#b", 7, &seen);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.value[0], "a");
	assert_string_equal(seen.value[1], "b");
	dimensions_free(dims);
	accesslog_free(lp);
}

/* --- values verbatim ------------------------------------------------- */

static struct aggregator_dimension verbatim[] = {
	{"ua", "user_agent", "", false, NO_WHEN},
	{"url", "path", "", false, NO_WHEN},
	{"target", "target", "", false, NO_WHEN},
};

static void check_verbatim(struct dimensions *dims, size_t field,
			   const char *text, size_t len)
{
	struct seen seen;

	assert_int_equal(extract_field(dims, field, text, len, &seen), 1);
	assert_int_equal(seen.len[0], len);
	assert_memory_equal(seen.value[0], text, len);
}

static void test_verbatim(void **state)
{
	static const char *const odd[] = {
		"Mozilla/5.0 \\\"quoted\\\" and \"raw\" quotes",
		"back\\slash\\\\es\\x41",
		"'); DROP TABLE counts;--",
		"<script>alert(1)</script>",
		"%23notDecoded%20+plus",
		"\xc3\xb1" "and\xc3\xba \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
		"Tab\there",
	};
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "combined", verbatim, 3);
	struct seen seen;
	size_t i;

	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		check_verbatim(dims, ACCESSLOG_USER_AGENT, odd[i], strlen(odd[i]));
	check_verbatim(dims, ACCESSLOG_USER_AGENT, "NUL\0in", 6);
	/* Through the parser: the user agent's escaped quotes stay escaped. */
	extract_target(dims, lp, "/a%20b?x=1", &seen);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.value[0], "curl/8.1");
	assert_string_equal(seen.value[1], "/a%20b");
	assert_string_equal(seen.value[2], "/a%20b?x=1");
	/* Not UTF-8: repaired, the rest kept. */
	extract_field(dims, ACCESSLOG_USER_AGENT, "a\xc0\xafz\xed\xa0\x80", 7, &seen);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.value[0], "a\xef\xbf\xbd\xef\xbf\xbdz"
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	dimensions_free(dims);
	accesslog_free(lp);
}

static void test_absent_and_empty(void **state)
{
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "common", verbatim, 3);
	struct seen seen;
	struct accesslog_record rec;
	const char *line = "198.51.100.2 - - [24/Nov/2026:20:26:22 +0000] "
			   "\"GET /x HTTP/1.0\" 304 -";

	/* The common format has no user agent: nothing for "ua". */
	assert_int_equal(accesslog_parse(lp, line, strlen(line), &rec), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(dimensions_extract(dims, &rec, seen_emit, &seen), 2);
	assert_int_equal(seen.dim[0], 1);
	assert_string_equal(seen.value[0], "/x");
	assert_int_equal(seen.dim[1], 2);
	/* A present but empty field yields nothing either. */
	assert_int_equal(extract_field(dims, ACCESSLOG_USER_AGENT, "", 0, &seen), 0);
	dimensions_free(dims);
	accesslog_free(lp);
}

/* --- truncation ------------------------------------------------------ */

/* n copies of the character c into a new string. */
static char *repeat(const char *c, size_t n, const char *prefix)
{
	size_t clen = strlen(c), plen = strlen(prefix);
	char *s = malloc(plen + n * clen + 1);

	memcpy(s, prefix, plen);
	for (size_t i = 0; i < n; i++)
		memcpy(s + plen + i * clen, c, clen);
	s[plen + n * clen] = '\0';
	return s;
}

static void check_cut(struct dimensions *dims, size_t field, const char *c,
		      size_t n, const char *prefix, const char *want_char)
{
	char *text = repeat(c, n, prefix);
	char *want = repeat(want_char, SCHEMA_VALUE_CHARS, "");
	struct seen seen;

	assert_int_equal(extract_field(dims, field, text, strlen(text), &seen), 1);
	assert_int_equal(utf8_chars(seen.value[0], seen.len[0]), SCHEMA_VALUE_CHARS);
	assert_string_equal(seen.value[0], want);
	free(text);
	free(want);
}

static void test_truncation(void **state)
{
	struct aggregator_dimension cfg[] = {
		{"ua", "user_agent", "", true, NO_WHEN},
		{"hashtag", "target", "#(\\w+)", true, NO_WHEN},
	};
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "combined", cfg, 2);
	struct seen seen;

	check_cut(dims, ACCESSLOG_USER_AGENT, "\xc3\x89", 600, "", "\xc3\xa9");
	check_cut(dims, ACCESSLOG_USER_AGENT, "\xf0\x9f\x98\x80", 513, "",
		  "\xf0\x9f\x98\x80");
	check_cut(dims, ACCESSLOG_USER_AGENT, "\xe6\x97\xa5", 2000, "", "\xe6\x97\xa5");
	check_cut(dims, ACCESSLOG_USER_AGENT, "\xff", 600, "", "\xef\xbf\xbd");
	check_cut(dims, ACCESSLOG_TARGET, "%C3%91", 700, "/#", "\xc3\xb1");
	check_cut(dims, ACCESSLOG_TARGET, "\xc3\x91", 700, "/#", "\xc3\xb1");
	/* Exactly 512 characters stay whole. */
	check_cut(dims, ACCESSLOG_USER_AGENT, "\xc3\xb1", 512, "", "\xc3\xb1");
	/* Mixed widths: the cut falls after the 512th character, never inside. */
	{
		char *text = repeat("a\xc3\xb1\xe2\x82\xac\xf0\x9f\x98\x80", 200, "");

		assert_int_equal(extract_field(dims, ACCESSLOG_USER_AGENT, text,
					       strlen(text), &seen), 1);
		assert_int_equal(seen.len[0], 128 * 10);
		assert_memory_equal(seen.value[0], text, 128 * 10);
		free(text);
	}
	dimensions_free(dims);
	accesslog_free(lp);
}

/* A match searches the first 4 MiB of a field (the header's bound). */
static void test_long_field(void **state)
{
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "combined", defaults, 3);
	size_t len = (size_t)5 << 20;
	char *target = malloc(len);
	struct seen *seen = malloc(sizeof(*seen));

	memset(target, '-', len);
	memcpy(target, "/?q=%23first ", 13);
	memcpy(target + ((size_t)4 << 20) - 20, "#%C3%89dge", 10);
	memcpy(target + len - 10, "#beyond", 7);
	assert_int_equal(extract_field(dims, ACCESSLOG_TARGET, target, len, seen), 2);
	assert_string_equal(seen->value[0], "first");
	assert_string_equal(seen->value[1], "\xc3\xa9" "dge");
	free(seen);
	free(target);
	dimensions_free(dims);
	accesslog_free(lp);
}

/* --- configured patterns and errors ---------------------------------- */

static void test_patterns(void **state)
{
	struct aggregator_dimension cfg[] = {
		{"digits", "target", "\\d+", false, NO_WHEN},          /* no group */
		{"xs", "target", "x*", false, NO_WHEN},                 /* matches empty */
		{"ahead", "target", "(?=(\\w\\w))", false, NO_WHEN},     /* empty match, group */
		{"opt", "target", "k(\\d)?", false, NO_WHEN},           /* group unset */
		{"upper", "method", "", true, NO_WHEN},
	};
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "combined", cfg, 5);
	struct seen seen;
	size_t i;
	const char *want[][2] = {
		{"0", "1"}, {"0", "22"}, {"0", "1"}, {"1", "xx"}, {"1", "x"},
		{"2", "a1"}, {"2", "1x"}, {"2", "xx"}, {"2", "x2"}, {"2", "22"},
		{"2", "2x"}, {"2", "k1"}, {"2", "1k"}, {"3", "1"}, {"4", "get"},
	};

	extract_target(dims, lp, "/a1xx22x!k1k", &seen);
	assert_int_equal(seen.n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < seen.n; i++) {
		assert_int_equal(seen.dim[i], (size_t)atoi(want[i][0]));
		assert_string_equal(seen.value[i], want[i][1]);
	}
	dimensions_free(dims);
	accesslog_free(lp);
}

static void test_errors(void **state)
{
	struct aggregator_dimension unknown[] = {
		{"url", "path", "", false, NO_WHEN}, {"who", "nope", "", false, NO_WHEN},
	};
	struct aggregator_dimension bad_re[] = {{"tag", "target", "#(\\w+", false, NO_WHEN}};
	struct aggregator_dimension long_name[] = {
		{"a_name_of_thirty_three_characters", "path", "", false, NO_WHEN},
	};
	struct config_list list = {2, unknown};
	char err[256];
	struct accesslog *lp = accesslog_new("combined", err, sizeof(err));

	assert_non_null(lp);
	assert_null(dimensions_new(&list, lp, err, sizeof(err)));
	assert_string_equal(err, "dimension 'who': no field 'nope' in the log format");
	list = (struct config_list){1, bad_re};
	assert_null(dimensions_new(&list, lp, err, sizeof(err)));
	assert_non_null(strstr(err, "dimension 'tag': match pattern at offset 5"));
	assert_non_null(strstr(err, "missing closing parenthesis"));
	list = (struct config_list){1, long_name};
	assert_null(dimensions_new(&list, lp, err, sizeof(err)));
	assert_non_null(strstr(err, "1 to 32 bytes"));
	list = (struct config_list){0, NULL};
	{
		struct dimensions *dims = dimensions_new(&list, lp, err, sizeof(err));

		assert_non_null(dims);
		assert_int_equal(dimensions_count(dims), 0);
		dimensions_free(dims);
	}
	dimensions_free(NULL);
	accesslog_free(lp);
}

/* --- when conditions and referer_host -------------------------------- */

/* The values of a combined line with these fields. */
static size_t extract_line(struct dimensions *dims, struct accesslog *lp,
			   const char *method, const char *status,
			   const char *referer, const char *ua, struct seen *seen)
{
	struct accesslog_record rec;
	char line[1024];
	size_t n;

	snprintf(line, sizeof(line), "2001:db8::7 - - [24/Nov/2026:20:26:22 +0000] "
		 "\"%s /p?q=1 HTTP/1.1\" %s 512 \"%s\" \"%s\"", method, status,
		 referer, ua);
	assert_int_equal(accesslog_parse(lp, line, strlen(line), &rec), 0);
	memset(seen, 0, sizeof(*seen));
	n = dimensions_extract(dims, &rec, seen_emit, seen);
	assert_int_equal(n, seen->n);
	return n;
}

/* The names of the dimensions seen, with their values: "a=/p b=/p". */
static const char *seen_text(const struct dimensions *dims,
			     const struct seen *seen, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < seen->n && o < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%s=%s", o ? " " : "",
				      dimensions_name(dims, seen->dim[i]), seen->value[i]);
	return out;
}

/* Which dimensions count the line, as seen_text() says. */
#define CHECK_LINE(dims, lp, method, status, referer, ua, want) do {		\
		struct seen seen_;						\
		char text_[1024];						\
		extract_line(dims, lp, method, status, referer, ua, &seen_);	\
		assert_string_equal(seen_text(dims, &seen_, text_, sizeof(text_)), \
				    want);					\
	} while (0)

static char *is_404[] = {"404"};
static char *is_5xx[] = {"5xx"};
static char *is_list[] = {"401", "403", "5xx"};
static char *is_post[] = {"POST"};
static char *is_get_head[] = {"GET", "HEAD"};

static void test_when_status(void **state)
{
	struct aggregator_condition c404[] = {{"status", {1, is_404}, "", ""}};
	struct aggregator_condition c5xx[] = {{"status", {1, is_5xx}, "", ""}};
	struct aggregator_condition clist[] = {{"status", {3, is_list}, "", ""}};
	struct aggregator_dimension cfg[] = {
		{"url", "path", "", false, NO_WHEN},
		{"url_404", "path", "", false, {1, c404}},
		{"url_5xx", "path", "", false, {1, c5xx}},
		{"denied", "path", "", false, {1, clist}},
	};
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "combined", cfg, 4);

	CHECK_LINE(dims, lp, "GET", "200", "-", "curl", "url=/p");
	CHECK_LINE(dims, lp, "GET", "404", "-", "curl", "url=/p url_404=/p");
	CHECK_LINE(dims, lp, "GET", "4040", "-", "curl", "url=/p");
	CHECK_LINE(dims, lp, "GET", "500", "-", "curl", "url=/p url_5xx=/p denied=/p");
	CHECK_LINE(dims, lp, "GET", "599", "-", "curl", "url=/p url_5xx=/p denied=/p");
	CHECK_LINE(dims, lp, "GET", "403", "-", "curl", "url=/p denied=/p");
	CHECK_LINE(dims, lp, "GET", "401", "-", "curl", "url=/p denied=/p");
	CHECK_LINE(dims, lp, "GET", "402", "-", "curl", "url=/p");
	CHECK_LINE(dims, lp, "GET", "-", "-", "curl", "url=/p");
	CHECK_LINE(dims, lp, "GET", "400", "-", "curl", "url=/p");
	dimensions_free(dims);
	accesslog_free(lp);
}

/* A status class matches digits only: a custom status field "5ab" is not 5xx. */
static void test_when_class_digits(void **state)
{
	struct aggregator_condition c5xx[] = {{"status", {1, is_5xx}, "", ""}};
	struct aggregator_dimension cfg[] = {{"e", "status", "", false, {1, c5xx}}};
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "^(?<status>\\S+)$", cfg, 1);
	struct accesslog_record rec;
	struct seen seen;
	const char *lines[] = {"5ab", "5x0", "5xx", "50", "503"};
	size_t i, want[] = {0, 0, 0, 0, 1};

	for (i = 0; i < 5; i++) {
		assert_int_equal(accesslog_parse(lp, lines[i], strlen(lines[i]), &rec), 0);
		memset(&seen, 0, sizeof(seen));
		assert_int_equal(dimensions_extract(dims, &rec, seen_emit, &seen), want[i]);
	}
	dimensions_free(dims);
	accesslog_free(lp);
}

static void test_when_method(void **state)
{
	struct aggregator_condition post[] = {{"method", {1, is_post}, "", ""}};
	struct aggregator_condition reads[] = {{"method", {2, is_get_head}, "", ""}};
	struct aggregator_dimension cfg[] = {
		{"post_target", "target", "", false, {1, post}},
		{"reads", "method", "", false, {1, reads}},
	};
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "combined", cfg, 2);

	CHECK_LINE(dims, lp, "POST", "200", "-", "curl", "post_target=/p?q=1");
	CHECK_LINE(dims, lp, "post", "200", "-", "curl", "");
	CHECK_LINE(dims, lp, "POSTS", "200", "-", "curl", "");
	CHECK_LINE(dims, lp, "GET", "200", "-", "curl", "reads=GET");
	CHECK_LINE(dims, lp, "HEAD", "200", "-", "curl", "reads=HEAD");
	CHECK_LINE(dims, lp, "PUT", "200", "-", "curl", "");
	dimensions_free(dims);
	accesslog_free(lp);
}

/*
 * match and not_match see the field as logged (not percent-decoded); an
 * absent field matches nothing, so only not_match holds for it.
 */
static void test_when_regex(void **state)
{
	struct aggregator_condition bot[] = {{"user_agent", {0, NULL}, "(?i)bot", ""}};
	struct aggregator_condition human[] = {{"user_agent", {0, NULL}, "", "(?i)bot|spider"}};
	struct aggregator_condition st[] = {{"status", {0, NULL}, "^40[13]$", ""}};
	struct aggregator_condition enc[] = {{"referer", {0, NULL}, "%41", ""}};
	struct aggregator_dimension cfg[] = {
		{"bot", "path", "", false, {1, bot}},
		{"human", "path", "", false, {1, human}},
		{"st", "status", "", false, {1, st}},
		{"enc", "path", "", false, {1, enc}},
	};
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "combined", cfg, 4);
	struct seen seen;
	char text[256];

	CHECK_LINE(dims, lp, "GET", "200", "-", "Googlebot/2.1", "bot=/p");
	CHECK_LINE(dims, lp, "GET", "200", "-", "BOT", "bot=/p");
	CHECK_LINE(dims, lp, "GET", "200", "-", "a Spider", "");
	CHECK_LINE(dims, lp, "GET", "200", "-", "Mozilla/5.0", "human=/p");
	CHECK_LINE(dims, lp, "GET", "403", "-", "Mozilla/5.0", "human=/p st=403");
	CHECK_LINE(dims, lp, "GET", "4031", "-", "Mozilla/5.0", "human=/p");
	CHECK_LINE(dims, lp, "GET", "200", "http://x/%41", "bot", "bot=/p enc=/p");
	CHECK_LINE(dims, lp, "GET", "200", "http://x/A", "bot", "bot=/p");
	/* Invalid UTF-8 in the field: no error, still searched. */
	CHECK_LINE(dims, lp, "GET", "200", "-", "\xff\xfe" "bot", "bot=/p");
	extract_field(dims, ACCESSLOG_PATH, "/q", 2, &seen);
	assert_string_equal(seen_text(dims, &seen, text, sizeof(text)), "human=/q");
	dimensions_free(dims);
	accesslog_free(lp);
}

/* All conditions of a dimension must hold; each dimension has its own. */
static void test_when_combined(void **state)
{
	struct aggregator_condition both[] = {
		{"method", {1, is_post}, "", ""},
		{"status", {1, is_5xx}, "", ""},
		{"user_agent", {0, NULL}, "^curl", "curl/7"},
	};
	struct aggregator_condition c404[] = {{"status", {1, is_404}, "", ""}};
	struct aggregator_dimension cfg[] = {
		{"failed_posts", "path", "", false, {3, both}},
		{"referer_404", "referer_host", "", false, {1, c404}},
		{"status", "status", "", false, NO_WHEN},
	};
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "combined", cfg, 3);

	CHECK_LINE(dims, lp, "POST", "502", "-", "curl/8.1", "failed_posts=/p status=502");
	CHECK_LINE(dims, lp, "POST", "502", "-", "curl/7.1", "status=502");
	CHECK_LINE(dims, lp, "POST", "502", "-", "wget", "status=502");
	CHECK_LINE(dims, lp, "GET", "502", "-", "curl/8.1", "status=502");
	CHECK_LINE(dims, lp, "POST", "404", "-", "curl/8.1", "status=404");
	CHECK_LINE(dims, lp, "GET", "404", "https://Example.COM:8443/x", "curl/8.1",
		   "referer_404=example.com status=404");
	CHECK_LINE(dims, lp, "GET", "404", "-", "curl/8.1", "status=404");
	CHECK_LINE(dims, lp, "GET", "200", "https://example.com/", "curl/8.1", "status=200");
	dimensions_free(dims);
	accesslog_free(lp);
}

static void check_host(const char *referer, const char *want)
{
	char out[DIMENSIONS_HOST_MAX + 1];
	size_t n = dimensions_referer_host(referer, strlen(referer), out);

	out[n] = '\0';
	if (strcmp(out, want))
		fail_msg("referer '%s': host '%s', expected '%s'", referer, out, want);
}

static void test_referer_host(void **state)
{
	char *long_host = repeat("a", 256, "");
	char *url = malloc(300);

	check_host("https://Example.COM:8443/x", "example.com");
	check_host("http://example.com", "example.com");
	check_host("http://example.com/", "example.com");
	check_host("http://example.com?q=1", "example.com");
	check_host("http://example.com#top", "example.com");
	check_host("http://user:pw@Host.example:80/a@b", "host.example");
	check_host("http://user@host/", "host");
	check_host("http://[::1]:80/x", "[::1]");
	check_host("http://[2001:DB8::1]/", "[2001:db8::1]");
	check_host("android-app://com.Google.android.gm/", "com.google.android.gm");
	check_host("//cdn.example.net/x.js", "cdn.example.net");
	check_host("http://\xc3\x89" "COLE.fr/", "\xc3\xa9" "cole.fr");
	check_host("HTTPS://EXAMPLE.ORG", "example.org");
	/* Nothing. */
	check_host("-", "");
	check_host("", "");
	check_host("example.com/x", "");
	check_host("example.com:80", "");
	check_host("/local/path", "");
	check_host("http://", "");
	check_host("http:///x", "");
	check_host("http://:80/", "");
	check_host("http://user@/", "");
	check_host("http://[::1", "");
	check_host("http://[]/", "");
	check_host("://example.com", "");
	check_host("1http://example.com", "");
	check_host("http://exa mple.com/", "");
	check_host("not a url at all", "");
	snprintf(url, 300, "http://%s/", long_host);
	check_host(url, "");
	url[7 + 255] = '\0';
	check_host(url, long_host + 1);
	free(url);
	free(long_host);
}

/* remote_addr of the built-in formats, and referer_host through a dimension. */
static void test_referer_host_dimension(void **state)
{
	struct aggregator_dimension cfg[] = {
		{"site", "referer_host", "", false, NO_WHEN},
		{"client", "remote_addr", "", false, NO_WHEN},
	};
	struct accesslog *lp;
	struct dimensions *dims = dims_make(&lp, "combined", cfg, 2);

	CHECK_LINE(dims, lp, "GET", "200", "https://WWW.Example.com:443/a?b",
		   "curl", "site=www.example.com client=2001:db8::7");
	CHECK_LINE(dims, lp, "GET", "200", "-", "curl", "client=2001:db8::7");
	CHECK_LINE(dims, lp, "GET", "200", "", "curl", "client=2001:db8::7");
	CHECK_LINE(dims, lp, "GET", "200", "garbage", "curl", "client=2001:db8::7");
	dimensions_free(dims);
	accesslog_free(lp);
	/* The common format has no referer: referer_host yields nothing. */
	dims = dims_make(&lp, "common", cfg, 2);
	{
		const char *line = "10.1.2.3 - - [24/Nov/2026:20:26:22 +0000] \"GET / HTTP/1.0\" 200 1";
		struct accesslog_record rec;
		struct seen seen = {0};
		char text[256];

		assert_int_equal(accesslog_parse(lp, line, strlen(line), &rec), 0);
		dimensions_extract(dims, &rec, seen_emit, &seen);
		assert_string_equal(seen_text(dims, &seen, text, sizeof(text)), "client=10.1.2.3");
	}
	dimensions_free(dims);
	accesslog_free(lp);
}

static void test_when_errors(void **state)
{
	struct aggregator_condition nofield[] = {{"agent", {1, is_post}, "", ""}};
	struct aggregator_condition bad_match[] = {{"user_agent", {0, NULL}, "a(", ""}};
	struct aggregator_condition bad_not[] = {{"user_agent", {0, NULL}, "", "[b"}};
	struct aggregator_dimension cfg[] = {{"d", "path", "", false, {1, nofield}}};
	struct config_list list = {1, cfg};
	char err[256];
	struct accesslog *lp = accesslog_new("combined", err, sizeof(err));

	assert_null(dimensions_new(&list, lp, err, sizeof(err)));
	assert_string_equal(err, "dimension 'd': no field 'agent' in the log format");
	cfg[0].when = (struct config_list){1, bad_match};
	assert_null(dimensions_new(&list, lp, err, sizeof(err)));
	assert_non_null(strstr(err, "dimension 'd': when match pattern at offset 2"));
	cfg[0].when = (struct config_list){1, bad_not};
	assert_null(dimensions_new(&list, lp, err, sizeof(err)));
	assert_non_null(strstr(err, "dimension 'd': when not_match pattern at offset 2"));
	accesslog_free(lp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percent_decode),
		cmocka_unit_test(test_percent_decode_random),
		cmocka_unit_test(test_lowercase),
		cmocka_unit_test(test_design_examples),
		cmocka_unit_test(test_hashtags),
		cmocka_unit_test(test_raw_utf8_target),
		cmocka_unit_test(test_verbatim),
		cmocka_unit_test(test_absent_and_empty),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_long_field),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_when_status),
		cmocka_unit_test(test_when_class_digits),
		cmocka_unit_test(test_when_method),
		cmocka_unit_test(test_when_regex),
		cmocka_unit_test(test_when_combined),
		cmocka_unit_test(test_referer_host),
		cmocka_unit_test(test_referer_host_dimension),
		cmocka_unit_test(test_when_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
