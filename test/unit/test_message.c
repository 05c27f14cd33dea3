/*
 * Unit tests of common/message's encoder and of the round trip through the
 * decoder: the exact JSON layout of an event, escaping of every byte class,
 * UTF-8 repair against a table and against an independent reference
 * (utf8_ref.h) on random bytes, the -ENOSPC contract, and timestamps against
 * gmtime_r(). Every encoder output is checked with jansson and decoded back
 * (the escapes, the truncated flag, a whole envelope, every proper prefix of
 * one). The decoder's own cases are in test_message_decode.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "message.h"
#include "test/unit/utf8_ref.h"
#include "xalloc.h"

#define TS "2026-11-24T20:26:22.123Z"
#define REST_NO_FIELDS \
	"\"host\":{\"name\":\"web-01\"},\"agent\":{\"type\":\"logtally-agent\"," \
	"\"version\":\"" PACKAGE_VERSION "\"},\"input\":{\"type\":\"filestream\"}"

struct fixture {
	struct message_encoder *enc;
	struct buf out;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->enc = message_encoder_new("/var/log/nginx/access.log", "web-01", NULL);
	buf_init(&f->out, 64 << 20);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	message_encoder_free(f->enc);
	buf_fini(&f->out);
	free(f);
	return 0;
}

/* Encodes line with enc and checks the result with jansson; returns the JSON. */
static const char *encode(struct fixture *f, const char *line, size_t len,
			  int64_t offset, unsigned flags)
{
	json_error_t jerr;
	json_t *root;

	buf_reset(&f->out);
	assert_int_equal(message_encode(f->enc, TS, line, len, offset, flags,
					&f->out), 0);
	root = json_loadb(buf_str(&f->out), buf_len(&f->out), JSON_ALLOW_NUL,
			  &jerr);
	if (!root)
		fail_msg("jansson rejects %s: %s", buf_str(&f->out), jerr.text);
	json_decref(root);
	return buf_str(&f->out);
}

/* The "message" of the event in f->out, as jansson reads it. */
static char *message_of(struct fixture *f, size_t *len)
{
	json_t *root = json_loadb(buf_str(&f->out), buf_len(&f->out),
				  JSON_ALLOW_NUL, NULL);
	json_t *msg = json_object_get(root, "message");
	char *s;

	assert_non_null(msg);
	*len = json_string_length(msg);
	s = xmalloc(*len + 1);
	memcpy(s, json_string_value(msg), *len + 1);
	json_decref(root);
	return s;
}

/* Encodes line and checks the exact "message" text and the decoded bytes. */
static void check_escape(struct fixture *f, const char *line, size_t len,
			 const char *json_text, const char *decoded,
			 size_t decoded_len)
{
	char want[4096];
	struct message_event ev;
	const char *json;
	char err[128];

	snprintf(want, sizeof(want), "\"message\":\"%s\",\"log\"", json_text);
	json = encode(f, line, len, 7, 0);
	if (!strstr(json, want))
		fail_msg("%s lacks %s", json, want);
	assert_int_equal(message_decode(json, strlen(json), &ev, err,
					sizeof(err)), 0);
	assert_true(ev.enveloped);
	assert_int_equal(ev.len, decoded_len);
	assert_memory_equal(ev.line, decoded, decoded_len);
	assert_int_equal(ev.line[ev.len], '\0');
	message_event_fini(&ev);
}

static void test_layout_exact(void **state)
{
	struct config_pair pairs[] = {{"service", "shop"}, {"team", "web"}};
	struct config_map fields = {2, pairs};
	struct message_encoder *enc;
	struct buf out;

	enc = message_encoder_new("/var/log/nginx/access.log", "web-01", &fields);
	buf_init(&out, 4096);
	assert_int_equal(message_encode(enc, TS, "GET / 200", 9, 12345, 0, &out), 0);
	assert_string_equal(buf_str(&out),
		"{\"@timestamp\":\"" TS "\",\"message\":\"GET / 200\","
		"\"log\":{\"file\":{\"path\":\"/var/log/nginx/access.log\"},"
		"\"offset\":12345}," REST_NO_FIELDS ","
		"\"fields\":{\"service\":\"shop\",\"team\":\"web\"}}");
	buf_reset(&out);
	assert_int_equal(message_encode(enc, TS, "x", 1, 0, MESSAGE_FLAG_TRUNCATED,
					&out), 0);
	assert_string_equal(buf_str(&out),
		"{\"@timestamp\":\"" TS "\",\"message\":\"x\","
		"\"log\":{\"file\":{\"path\":\"/var/log/nginx/access.log\"},"
		"\"offset\":0,\"flags\":[\"truncated\"]}," REST_NO_FIELDS ","
		"\"fields\":{\"service\":\"shop\",\"team\":\"web\"}}");
	buf_fini(&out);
	message_encoder_free(enc);
}

static void test_layout_no_fields(void **state)
{
	struct fixture *f = *state;
	struct config_map empty = {0, NULL};
	struct message_encoder *enc;

	assert_string_equal(encode(f, "", 0, 9000000000LL, 0),
		"{\"@timestamp\":\"" TS "\",\"message\":\"\","
		"\"log\":{\"file\":{\"path\":\"/var/log/nginx/access.log\"},"
		"\"offset\":9000000000}," REST_NO_FIELDS "}");
	enc = message_encoder_new("/a", "web-01", &empty);
	buf_reset(&f->out);
	assert_int_equal(message_encode(enc, TS, "l", 1, 1, 0, &f->out), 0);
	assert_null(strstr(buf_str(&f->out), "fields"));
	message_encoder_free(enc);
}

static void test_fields_escaped(void **state)
{
	struct config_pair pairs[] = {{"a\"b", "c\\d\n\x01"}, {"\xff", "\xc3\xa9"}};
	struct config_map fields = {2, pairs};
	struct message_encoder *enc;
	struct buf out;
	json_t *root;

	enc = message_encoder_new("/logs/\"q\"\\x", "h\tost", &fields);
	buf_init(&out, 4096);
	assert_int_equal(message_encode(enc, TS, "x", 1, 1, 0, &out), 0);
	assert_non_null(strstr(buf_str(&out),
		"\"fields\":{\"a\\\"b\":\"c\\\\d\\n\\u0001\","
		"\"\xef\xbf\xbd\":\"\xc3\xa9\"}}"));
	root = json_loads(buf_str(&out), 0, NULL);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(root, "fields"), "a\"b")), "c\\d\n\x01");
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(json_object_get(root, "log"), "file"), "path")),
		"/logs/\"q\"\\x");
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(root, "host"), "name")), "h\tost");
	json_decref(root);
	buf_fini(&out);
	message_encoder_free(enc);
}

static void test_quotes_backslashes(void **state)
{
	const char *line = "say \"hi\" \\o/ \\\"";

	check_escape(*state, line, strlen(line),
		     "say \\\"hi\\\" \\\\o/ \\\\\\\"", line, strlen(line));
}

static void test_every_control_byte(void **state)
{
	static const char *const esc[0x20] = {
		[0x08] = "\\b", [0x09] = "\\t", [0x0a] = "\\n",
		[0x0c] = "\\f", [0x0d] = "\\r",
	};
	char line[3], text[16];

	for (int c = 0; c <= 0x7f; c++) {
		if (c >= 0x20 && c != 0x7f)
			continue;
		line[0] = 'a', line[1] = (char)c, line[2] = 'z';
		if (c < 0x20 && esc[c])
			snprintf(text, sizeof(text), "a%sz", esc[c]);
		else
			snprintf(text, sizeof(text), "a\\u00%02xz", c);
		check_escape(*state, line, 3, text, line, 3);
	}
}

static void test_nul_and_crlf(void **state)
{
	check_escape(*state, "a\0b\0", 4, "a\\u0000b\\u0000", "a\0b\0", 4);
	check_escape(*state, "GET /\r", 6, "GET /\\r", "GET /\r", 6);
	check_escape(*state, "\r\n", 2, "\\r\\n", "\r\n", 2);
}

static void test_multibyte_utf8(void **state)
{
	const char *line = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xed\x9f\xbf "
			   "\xee\x80\x80 \xf4\x8f\xbf\xbf \xc2\x80";

	check_escape(*state, line, strlen(line), line, line, strlen(line));
}

static void test_invalid_utf8_table(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
#define R "\xef\xbf\xbd"
		{"\x80", R}, {"\xbf", R}, {"\xc0\x80", R R}, {"\xc1\xbf", R R},
		{"\xc2", R}, {"\xc2x", R "x"}, {"\xc2\xc2\xa9", R "\xc2\xa9"},
		{"\xe0\x80\x80", R R R}, {"\xe0\x9f\xbf", R R R},
		{"\xe0\xa0", R}, {"\xe0\xa0x", R "x"}, {"\xe1\x80", R},
		{"\xed\xa0\x80", R R R}, {"\xed\xbf\xbf", R R R},
		{"\xf0\x80\x80\x80", R R R R}, {"\xf0\x8f\xbf\xbf", R R R R},
		{"\xf0\x9f\x98", R}, {"\xf0\x9f\x98x", R "x"}, {"\xf0\x9f", R},
		{"\xf4\x90\x80\x80", R R R R}, {"\xf5\x80", R R},
		{"\xf8\x88\x80\x80\x80", R R R R R}, {"\xfe\xff", R R},
		{"\xf1\x80\x80\xe1\x80\xc2", R R R},
		{"a\xf1\x80\x80\xe1\x80\xc2" "b\x80" "c\x80\xbf" "d",
		 "a" R R R "b" R "c" R R "d"},
		{"\xe2\x82\xac\x80\xe2\x82\xac", "\xe2\x82\xac" R "\xe2\x82\xac"},
#undef R
	};
	unsigned char ref[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in), m = strlen(cases[i].out);

		check_escape(*state, cases[i].in, n, cases[i].out, cases[i].out, m);
		assert_int_equal(utf8_ref_repair((const unsigned char *)cases[i].in,
						 n, ref), m);
		assert_memory_equal(ref, cases[i].out, m);
	}
}

static void test_truncated_flag_round_trip(void **state)
{
	struct fixture *f = *state;
	struct message_event ev;
	const char *json;

	json = encode(f, "cut", 3, 42, MESSAGE_FLAG_TRUNCATED);
	assert_int_equal(message_decode(json, strlen(json), &ev, NULL, 0), 0);
	assert_int_equal(ev.flags, MESSAGE_FLAG_TRUNCATED);
	assert_int_equal(ev.offset, 42);
	message_event_fini(&ev);
	json = encode(f, "whole", 5, 43, 0);
	assert_int_equal(message_decode(json, strlen(json), &ev, NULL, 0), 0);
	assert_int_equal(ev.flags, 0);
	message_event_fini(&ev);
}

/* Encodes into a buffer that already holds "xyz" with the given maximum. */
static int encode_bounded(struct fixture *f, size_t max, const char *line,
			  size_t len, struct buf *out)
{
	buf_init(out, max);
	assert_int_equal(buf_addstr(out, "xyz"), 0);
	return message_encode(f->enc, TS, line, len, 1, 0, out);
}

static void test_enospc_leaves_buffer(void **state)
{
	struct fixture *f = *state;
	size_t sizes[] = {10, 100, 10000, 100000};
	char *line = xmalloc(100000);
	struct buf out;
	size_t need;

	for (size_t i = 0; i < 100000; i++)
		line[i] = "ab\"\xc3\xa9\x01"[i % 6];
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];

		need = strlen(encode(f, line, n, 1, 0));
		assert_int_equal(encode_bounded(f, 3 + need - 1, line, n, &out),
				 -ENOSPC);
		assert_int_equal(buf_len(&out), 3);
		assert_string_equal(buf_str(&out), "xyz");
		buf_fini(&out);
		assert_int_equal(encode_bounded(f, 3 + need, line, n, &out), 0);
		assert_int_equal(buf_len(&out), 3 + need);
		assert_memory_equal(buf_str(&out) + 3, buf_str(&f->out), need);
		buf_fini(&out);
	}
	free(line);
}

static void test_long_lines(void **state)
{
	struct fixture *f = *state;
	size_t n = 3 << 20, len;
	char *line = xmalloc(n), *got;

	for (size_t i = 0; i < n; i++)
		line[i] = (char)('a' + i % 26);
	line[n / 2] = '"';
	line[n - 1] = '\xff';
	encode(f, line, n, 0, 0);
	got = message_of(f, &len);
	assert_int_equal(len, n + 2);
	assert_memory_equal(got, line, n - 1);
	assert_memory_equal(got + n - 1, "\xef\xbf\xbd", 3);
	free(got);
	free(line);
}

/* Every output on random bytes is JSON whose message is the reference repair. */
static void test_random_bytes(void **state)
{
	struct fixture *f = *state;
	unsigned char line[300], ref[900];
	unsigned seed = 12345;
	size_t len, n, got_len;
	char *got;

	for (int iter = 0; iter < 20000; iter++) {
		len = (size_t)(rand_r(&seed) % sizeof(line));
		for (size_t i = 0; i < len; i++) {
			int r = rand_r(&seed);
			/* mostly ASCII, some high bytes, some lead/continuation mixes */
			line[i] = (unsigned char)(r % 4 ? r >> 8 & 0x7f : r >> 8);
		}
		encode(f, (const char *)line, len, iter, 0);
		got = message_of(f, &got_len);
		n = utf8_ref_repair(line, len, ref);
		assert_int_equal(got_len, n);
		assert_memory_equal(got, ref, n);
		free(got);
	}
}

static void test_timestamps(void **state)
{
	static const struct {
		int64_t ms;
		const char *text;
	} cases[] = {
		{0, "1970-01-01T00:00:00.000Z"},
		{1, "1970-01-01T00:00:00.001Z"},
		{-1, "1969-12-31T23:59:59.999Z"},
		{951782400000LL, "2000-02-29T00:00:00.000Z"},
		{1709164800000LL + 123, "2024-02-29T00:00:00.123Z"},
		{4107542399999LL, "2100-02-28T23:59:59.999Z"},
		{4107542400000LL, "2100-03-01T00:00:00.000Z"},
		{1795551982123LL, "2026-11-24T20:26:22.123Z"},
		{INT64_MAX, "9999-12-31T23:59:59.999Z"},
		{INT64_MIN, "0000-01-01T00:00:00.000Z"},
	};
	char ts[MESSAGE_TIMESTAMP_LEN + 1], want[64];
	unsigned seed = 99;
	struct tm tm;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		message_timestamp(cases[i].ms, ts);
		assert_string_equal(ts, cases[i].text);
	}
	for (int i = 0; i < 100000; i++) {
		int64_t ms = ((int64_t)rand_r(&seed) << 16 ^ rand_r(&seed)) %
			     253402300800000LL;
		time_t secs = (time_t)(ms / 1000);

		gmtime_r(&secs, &tm);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
		message_timestamp(ms, ts);
		assert_string_equal(ts, want);
	}
}

/* The per-second cache must follow any order of calls, same second or not. */
static void test_timestamp_cache(void **state)
{
	static const struct {
		int64_t ms;
		const char *text;
	} seq[] = {
		{1000, "1970-01-01T00:00:01.000Z"},
		{1999, "1970-01-01T00:00:01.999Z"},
		{2000, "1970-01-01T00:00:02.000Z"},
		{1001, "1970-01-01T00:00:01.001Z"},
		{86401001, "1970-01-02T00:00:01.001Z"},
		{1001, "1970-01-01T00:00:01.001Z"},
		{-999, "1969-12-31T23:59:59.001Z"},
		{-1000, "1969-12-31T23:59:59.000Z"},
		{-1001, "1969-12-31T23:59:58.999Z"},
	};
	char ts[MESSAGE_TIMESTAMP_LEN + 1];

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		message_timestamp(seq[i].ms, ts);
		assert_string_equal(ts, seq[i].text);
	}
}

static void test_decode_envelope(void **state)
{
	struct config_pair pairs[] = {{"service", "shop"}};
	struct config_map fields = {1, pairs};
	struct message_encoder *enc = message_encoder_new("/p/a.log", "h1", &fields);
	struct message_event ev;
	struct buf out;

	buf_init(&out, 4096);
	assert_int_equal(message_encode(enc, TS, "GET /x", 6, 77, 0, &out), 0);
	assert_int_equal(message_decode(buf_str(&out), buf_len(&out), &ev, NULL, 0), 0);
	assert_true(ev.enveloped);
	assert_string_equal(ev.line, "GET /x");
	assert_int_equal(ev.len, 6);
	assert_int_equal(ev.offset, 77);
	assert_int_equal(ev.timestamp_ms, 1795551982123LL);
	assert_int_equal(ev.flags, 0);
	assert_string_equal(ev.path, "/p/a.log");
	assert_string_equal(ev.host, "h1");
	message_event_fini(&ev);
	assert_null(ev.line);
	message_event_fini(&ev);
	message_event_fini(NULL);
	buf_fini(&out);
	message_encoder_free(enc);
}


/* Every proper prefix of an event is bad, whichever token it cuts. */
static void test_decode_truncated(void **state)
{
	struct fixture *f = *state;
	const char *json = encode(f, "GET /\"x\" \xc3\xa9\xf0\x9f\x98\x80", 16,
				  123456789, MESSAGE_FLAG_TRUNCATED);
	size_t n = strlen(json);
	struct message_event ev;
	char err[256];

	for (size_t len = 1; len < n; len++) {
		err[0] = '\0';
		assert_int_equal(message_decode(json, len, &ev, err, sizeof(err)),
				 -EINVAL);
		if (strncmp(err, "not JSON: ", 10))
			fail_msg("prefix of %zu bytes: %s", len, err);
		assert_null(ev.line);
	}
	assert_int_equal(message_decode(json, n, &ev, NULL, 0), 0);
	message_event_fini(&ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_exact),
		cmocka_unit_test_setup_teardown(test_layout_no_fields, setup, teardown),
		cmocka_unit_test(test_fields_escaped),
		cmocka_unit_test_setup_teardown(test_quotes_backslashes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_control_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_and_crlf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multibyte_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_utf8_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_flag_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_leaves_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_bytes, setup, teardown),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_timestamp_cache),
		cmocka_unit_test(test_decode_envelope),
		cmocka_unit_test_setup_teardown(test_decode_truncated, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
