/*
 * Unit tests of common/message_decode: envelopes, bare lines and bad values
 * written by hand; offsets, flags, timestamps and escapes; what the decoder
 * keeps from jansson, which it replaced (the same values bad, duplicate keys,
 * NULs after scalars, the depth limit); and a printed figure of its speed.
 * The round trip from the encoder is tested in test_message.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "message.h"
#include "xalloc.h"

#define TS "2026-11-24T20:26:22.123Z"   /* 1795551982123 ms */

static void test_decode_minimal_envelope(void **state)
{
	const char *v = " \n{\"message\":\"a\\u0000b\",\"log\":[1],\"host\":\"x\"}";
	struct message_event ev;

	assert_int_equal(message_decode(v, strlen(v), &ev, NULL, 0), 0);
	assert_true(ev.enveloped);
	assert_int_equal(ev.len, 3);
	assert_memory_equal(ev.line, "a\0b", 4);
	assert_int_equal(ev.offset, -1);
	assert_int_equal(ev.timestamp_ms, -1);
	assert_null(ev.path);
	assert_null(ev.host);
	message_event_fini(&ev);
}

/* message_decode_line: the same fields and verdicts, without the names. */
static void test_decode_line_only(void **state)
{
	const char *v = "{\"message\":\"GET /\",\"@timestamp\":\"2026-11-25T03:20:00.5Z\","
			"\"log\":{\"offset\":42,\"file\":{\"path\":\"/var/log/a.log\"},"
			"\"flags\":[\"truncated\"]},\"host\":{\"name\":\"web-1\"}}";
	struct message_event full, lean;
	char err[128] = "", why[128] = "";

	assert_int_equal(message_decode(v, strlen(v), &full, NULL, 0), 0);
	assert_int_equal(message_decode_line(v, strlen(v), &lean, NULL, 0), 0);
	assert_string_equal(full.path, "/var/log/a.log");
	assert_string_equal(full.host, "web-1");
	assert_null(lean.path);
	assert_null(lean.host);
	assert_string_equal(lean.line, full.line);
	assert_int_equal(lean.offset, 42);
	assert_int_equal(lean.timestamp_ms, full.timestamp_ms);
	assert_int_equal(lean.flags, full.flags);
	assert_true(lean.enveloped);
	message_event_fini(&full);
	message_event_fini(&lean);

	v = "{\"message\":\"a\",\"host\":{\"name\":\"x\"},\"log\":{\"offset\":-1}}";
	assert_int_equal(message_decode(v, strlen(v), &full, err, sizeof(err)), -EINVAL);
	assert_int_equal(message_decode_line(v, strlen(v), &lean, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, err);
	assert_null(lean.line);
}

/* Decodes v (NUL-terminated unless len is given) expecting a bare line. */
static void check_bare(const char *v, size_t len, const char *line)
{
	struct message_event ev;
	char err[128] = "";

	assert_int_equal(message_decode(v, len, &ev, err, sizeof(err)), 0);
	assert_false(ev.enveloped);
	assert_string_equal(ev.line, line);
	assert_int_equal(ev.len, strlen(line));
	assert_int_equal(ev.offset, -1);
	assert_int_equal(ev.timestamp_ms, -1);
	message_event_fini(&ev);
}

static void test_decode_bare(void **state)
{
	const char *line = "1.2.3.4 - - [x] \"GET / HTTP/1.1\" 200 5";

	check_bare(line, strlen(line), line);
	check_bare("abc\n", 4, "abc");
	check_bare("abc\r\n", 5, "abc");
	check_bare("abc\r", 4, "abc\r");
	check_bare("abc\n\n", 4, "abc");
	check_bare("[1,2]", 5, "[1,2]");
	check_bare("\"str\"", 5, "\"str\"");
	check_bare("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

static void check_bad(const char *v, size_t len, const char *reason)
{
	struct message_event ev;
	char err[256] = "";

	assert_int_equal(message_decode(v, len, &ev, err, sizeof(err)), -EINVAL);
	if (strncmp(err, reason, strlen(reason)))
		fail_msg("value %.*s: error \"%s\", expected \"%s\"", (int)len, v,
			 err, reason);
	assert_null(ev.line);
	assert_null(ev.path);
	assert_null(ev.host);
	message_event_fini(&ev);
}

static void test_decode_bad(void **state)
{
	check_bad("", 0, "empty value");
	check_bad("\n", 1, "empty value");
	check_bad("\r\n", 2, "empty value");
	check_bad("a\nb", 3, "newline inside a bare line");
	check_bad("a\nb\n", 4, "newline inside a bare line");
	check_bad("a\0b", 3, "NUL byte in a bare line");
	check_bad("caf\xe9", 4, "invalid UTF-8 in a bare line");
	check_bad("\xed\xa0\x80", 3, "invalid UTF-8 in a bare line");
	check_bad("\x89PNG\r\n\x1a\n\0\0", 10, "NUL byte in a bare line");
	check_bad("\xff\xfe\x01\x02", 4, "invalid UTF-8 in a bare line");
	check_bad("{\"message\":\"abc", 15, "not JSON: ");
	check_bad("{\"message\":\"a\"} x", 17, "not JSON: ");
	check_bad("{\"message\":\"\xff\"}", 15, "not JSON: ");
	check_bad("{not json}", 10, "not JSON: ");
	check_bad("  {}", 4, "no \"message\" string");
	check_bad("{\"msg\":\"a\"}", 11, "no \"message\" string");
	check_bad("{\"message\":5}", 13, "no \"message\" string");
	check_bad("{\"message\":null}", 16, "no \"message\" string");
}

/* Decodes an envelope with the given "log" object text; returns rc. */
static int decode_log(const char *log, int64_t *offset)
{
	char v[256];
	struct message_event ev;
	int rc;

	snprintf(v, sizeof(v), "{\"message\":\"m\",\"log\":%s}", log);
	rc = message_decode(v, strlen(v), &ev, NULL, 0);
	*offset = ev.offset;
	message_event_fini(&ev);
	return rc;
}

static void test_decode_offsets(void **state)
{
	int64_t offset;

	assert_int_equal(decode_log("{\"offset\":0}", &offset), 0);
	assert_int_equal(offset, 0);
	assert_int_equal(decode_log("{\"offset\":9007199254740993}", &offset), 0);
	assert_int_equal(offset, 9007199254740993LL);
	assert_int_equal(decode_log("{}", &offset), 0);
	assert_int_equal(offset, -1);
	assert_int_equal(decode_log("{\"offset\":-1}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":1.5}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":2.0}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":\"12\"}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":null}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":true}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":99999999999999999999}", &offset),
			 -EINVAL);
}

static void test_decode_flags(void **state)
{
	const char *v = "{\"message\":\"m\",\"log\":{\"flags\":[1,\"x\",\"truncated\"]}}";
	const char *w = "{\"message\":\"m\",\"log\":{\"flags\":\"truncated\"}}";
	struct message_event ev;

	assert_int_equal(message_decode(v, strlen(v), &ev, NULL, 0), 0);
	assert_int_equal(ev.flags, MESSAGE_FLAG_TRUNCATED);
	message_event_fini(&ev);
	assert_int_equal(message_decode(w, strlen(w), &ev, NULL, 0), 0);
	assert_int_equal(ev.flags, 0);
	message_event_fini(&ev);
}

static int64_t decode_time(const char *ts)
{
	char v[256];
	struct message_event ev;
	int64_t ms;

	snprintf(v, sizeof(v), "{\"message\":\"m\",\"@timestamp\":%s}", ts);
	assert_int_equal(message_decode(v, strlen(v), &ev, NULL, 0), 0);
	ms = ev.timestamp_ms;
	message_event_fini(&ev);
	return ms;
}

static void test_decode_timestamps(void **state)
{
	assert_int_equal(decode_time("\"1970-01-01T00:00:00Z\""), 0);
	assert_int_equal(decode_time("\"2026-11-24T20:26:22.123Z\""), 1795551982123LL);
	assert_int_equal(decode_time("\"2026-11-24t20:26:22.123z\""), 1795551982123LL);
	assert_int_equal(decode_time("\"2026-11-24 20:26:22.1234567Z\""), 1795551982123LL);
	assert_int_equal(decode_time("\"2026-11-24T20:26:22.1Z\""), 1795551982100LL);
	assert_int_equal(decode_time("\"2026-11-24T21:26:22.123+01:00\""), 1795551982123LL);
	assert_int_equal(decode_time("\"2026-11-24T15:56:22.123-04:30\""), 1795551982123LL);
	assert_int_equal(decode_time("\"2024-02-29T00:00:00Z\""), 1709164800000LL);
	assert_int_equal(decode_time("\"2023-02-29T00:00:00Z\""), -1);
	assert_int_equal(decode_time("\"2100-02-29T00:00:00Z\""), -1);
	assert_int_equal(decode_time("\"2000-02-29T00:00:00Z\""), 951782400000LL);
	assert_int_equal(decode_time("\"2026-11-24T20:26:22\""), -1);
	assert_int_equal(decode_time("\"2026-11-24T20:26:22.Z\""), -1);
	assert_int_equal(decode_time("\"2026-11-24T20:26:22Zx\""), -1);
	assert_int_equal(decode_time("\"2026-11-24T20:26:22+0100\""), -1);
	assert_int_equal(decode_time("\"2026-13-24T20:26:22Z\""), -1);
	assert_int_equal(decode_time("\"2026-11-24T24:00:00Z\""), -1);
	assert_int_equal(decode_time("\"2026-11-24T20:26:22\\u0000Z\""), -1);
	assert_int_equal(decode_time("\"1969-12-31T23:59:59Z\""), -1);
	assert_int_equal(decode_time("\"\""), -1);
	assert_int_equal(decode_time("12345"), -1);
}

/* Decodes the NUL-terminated v, which must succeed; caller finis ev. */
static void decode_ok(const char *v, struct message_event *ev)
{
	char err[256] = "";

	if (message_decode(v, strlen(v), ev, err, sizeof(err)))
		fail_msg("%s: %s", v, err);
}

static void test_decode_escapes(void **state)
{
	static const struct {
		const char *json, *bytes;
		size_t len;
	} cases[] = {
		{"a\\\"b\\\\c\\/d", "a\"b\\c/d", 7},
		{"\\b\\f\\n\\r\\t", "\b\f\n\r\t", 5},
		{"caf\\u00e9 caf\\u00E9", "caf\xc3\xa9 caf\xc3\xa9", 11},
		{"\\u20ac\\u0041\\u007f", "\xe2\x82\xac" "A\x7f", 5},
		{"\\ud83d\\ude00", "\xf0\x9f\x98\x80", 4},
		{"x\\uD83D\\uDE00y", "x\xf0\x9f\x98\x80y", 6},
		{"\\udbff\\udfff", "\xf4\x8f\xbf\xbf", 4},
		{"\\u0000", "\0", 1},
		{"\\u0000a\\u0000", "\0a\0", 3},
		{"\\\\ud83d", "\\ud83d", 6},
		{"raw \xc3\xa9 \xf0\x9f\x98\x80", "raw \xc3\xa9 \xf0\x9f\x98\x80", 11},
	};
	struct message_event ev;
	char v[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(v, sizeof(v), "{\"message\":\"%s\",\"log\":{\"offset\":1}}",
			 cases[i].json);
		decode_ok(v, &ev);
		assert_int_equal(ev.len, cases[i].len);
		assert_memory_equal(ev.line, cases[i].bytes, cases[i].len);
		assert_int_equal(ev.line[ev.len], '\0');
		assert_int_equal(ev.offset, 1);
		message_event_fini(&ev);
	}
}

/* A NUL inside the line keeps the line's length; path and host keep theirs too. */
static void test_decode_nul_in_strings(void **state)
{
	const char *v = "{\"message\":\"GET /\\u0000x\\u0000\","
			"\"log\":{\"file\":{\"path\":\"/a\\u0000b\"}},"
			"\"host\":{\"name\":\"h\\u0000\"}}";
	struct message_event ev;

	decode_ok(v, &ev);
	assert_int_equal(ev.len, 8);
	assert_memory_equal(ev.line, "GET /\0x\0", 9);
	assert_memory_equal(ev.path, "/a\0b", 5);
	assert_memory_equal(ev.host, "h\0", 3);
	message_event_fini(&ev);
}

static void test_decode_huge_offsets(void **state)
{
	int64_t offset;

	assert_int_equal(decode_log("{\"offset\":9007199254740992}", &offset), 0);
	assert_int_equal(offset, 9007199254740992LL);
	assert_int_equal(decode_log("{\"offset\":1234567890123456789}", &offset), 0);
	assert_int_equal(offset, 1234567890123456789LL);
	assert_int_equal(decode_log("{\"offset\":9223372036854775807}", &offset), 0);
	assert_int_equal(offset, INT64_MAX);
	assert_int_equal(decode_log("{\"offset\":-0}", &offset), 0);
	assert_int_equal(offset, 0);
	assert_int_equal(decode_log("{\"offset\":9223372036854775808}", &offset),
			 -EINVAL);
	assert_int_equal(decode_log("{\"offset\":-9223372036854775808}", &offset),
			 -EINVAL);
	assert_int_equal(decode_log("{\"offset\":-5}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":0.0}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":-0.5}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":1e2}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":1E+2}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":{}}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":[5]}", &offset), -EINVAL);
	assert_int_equal(decode_log("{\"offset\":false}", &offset), -EINVAL);
}

/* Numbers out of range anywhere make the value bad, as jansson did. */
static void test_decode_numbers_anywhere(void **state)
{
	int64_t offset;

	assert_int_equal(decode_log("{\"x\":-9223372036854775808,\"offset\":3}",
				    &offset), 0);
	assert_int_equal(offset, 3);
	assert_int_equal(decode_log("{\"x\":[1e-400,-1.5e300,0,-0.0]}", &offset), 0);
	check_bad("{\"message\":\"m\",\"x\":9223372036854775808}", 38,
		  "not JSON: too big integer");
	check_bad("{\"message\":\"m\",\"x\":[-9223372036854775809]}", 41,
		  "not JSON: too big negative integer");
	check_bad("{\"message\":\"m\",\"x\":123456789012345678901234567890}", 49,
		  "not JSON: too big integer");
	check_bad("{\"message\":\"m\",\"x\":{\"y\":1e400}}", 31,
		  "not JSON: real number overflow");
	check_bad("{\"message\":\"m\",\"x\":-1e400}", 26,
		  "not JSON: real number overflow");
	check_bad("{\"message\":\"m\",\"x\":01}", 22, "not JSON: ");
	check_bad("{\"message\":\"m\",\"x\":1.}", 22, "not JSON: ");
	check_bad("{\"message\":\"m\",\"x\":+1}", 22, "not JSON: ");
}

/* Only the paths the event keeps count; the same keys elsewhere do not. */
static void test_decode_nested_unknown(void **state)
{
	const char *v =
		"{\"a\":{\"message\":\"no\",\"log\":{\"offset\":1}},\"message\":\"yes\","
		"\"x\":[{\"log\":{\"offset\":3}},[[\"truncated\"]],{}],"
		"\"log\":{\"offset\":2,\"y\":{\"offset\":9,\"flags\":[\"truncated\"],"
		"\"path\":\"no\"},\"path\":\"no\",\"name\":\"no\","
		"\"file\":{\"name\":\"no\",\"path\":\"/p\",\"x\":{\"path\":\"no\"}},"
		"\"flags\":[[\"truncated\"],{\"a\":\"truncated\"},\"truncatedx\"]},"
		"\"host\":{\"x\":{\"name\":\"no\"},\"name\":\"h\",\"y\":[\"no\"]},"
		"\"path\":\"no\",\"name\":\"no\",\"offset\":7,\"flags\":[\"truncated\"],"
		"\"fields\":{\"message\":\"no\",\"@timestamp\":\"2001-01-01T00:00:00Z\"}}";
	struct message_event ev;

	decode_ok(v, &ev);
	assert_string_equal(ev.line, "yes");
	assert_int_equal(ev.offset, 2);
	assert_int_equal(ev.flags, 0);
	assert_int_equal(ev.timestamp_ms, -1);
	assert_string_equal(ev.path, "/p");
	assert_string_equal(ev.host, "h");
	message_event_fini(&ev);

	decode_ok("{\"message\":\"m\",\"host\":[{\"name\":\"h\"}],"
		  "\"log\":{\"file\":[{\"path\":\"p\"}],\"flags\":{\"f\":\"truncated\"}}}",
		  &ev);
	assert_null(ev.host);
	assert_null(ev.path);
	assert_int_equal(ev.flags, 0);
	message_event_fini(&ev);
}

/*
 * Checks the event decoded from v: the one test_decode_envelope (in
 * test_message.c) gets, with the truncated flag.
 */
static void check_full_event(const char *v)
{
	struct message_event ev;

	decode_ok(v, &ev);
	assert_true(ev.enveloped);
	assert_string_equal(ev.line, "GET /x");
	assert_int_equal(ev.offset, 77);
	assert_int_equal(ev.timestamp_ms, 1795551982123LL);
	assert_int_equal(ev.flags, MESSAGE_FLAG_TRUNCATED);
	assert_string_equal(ev.path, "/p/a.log");
	assert_string_equal(ev.host, "h1");
	message_event_fini(&ev);
}

static void test_decode_key_order(void **state)
{
	check_full_event("{\"@timestamp\":\"" TS "\",\"message\":\"GET /x\","
			 "\"log\":{\"file\":{\"path\":\"/p/a.log\"},\"offset\":77,"
			 "\"flags\":[\"truncated\"]},\"host\":{\"name\":\"h1\"}}");
	check_full_event("{\"host\":{\"name\":\"h1\"},\"log\":{\"flags\":[\"truncated\"],"
			 "\"offset\":77,\"file\":{\"path\":\"/p/a.log\"}},"
			 "\"message\":\"GET /x\",\"@timestamp\":\"" TS "\"}");
	check_full_event("{\"log\":{\"offset\":77,\"file\":{\"x\":1,\"path\":\"/p/a.log\"},"
			 "\"flags\":[\"x\",\"truncated\"]},\"agent\":{\"type\":\"a\"},"
			 "\"@timestamp\":\"" TS "\",\"host\":{\"name\":\"h1\",\"id\":2},"
			 "\"message\":\"GET /x\"}");
	check_full_event(" \r\n\t{ \"message\" : \"GET /x\" ,\n\t\"log\" : { \"offset\""
			 " : 77 , \"flags\" : [ \"truncated\" ] , \"file\" : {"
			 " \"path\" : \"/p/a.log\" } } , \"host\" : { \"name\" :"
			 " \"h1\" } , \"@timestamp\" : \"" TS "\" } \r\n\t ");
}

/* A repeated key counts by its last value, as jansson's objects did. */
static void test_decode_duplicate_keys(void **state)
{
	struct message_event ev;
	int64_t offset;

	decode_ok("{\"message\":\"a\",\"message\":\"bb\",\"@timestamp\":\"" TS "\","
		  "\"@timestamp\":5,\"host\":{\"name\":\"h\"},\"host\":{}}", &ev);
	assert_string_equal(ev.line, "bb");
	assert_int_equal(ev.len, 2);
	assert_int_equal(ev.timestamp_ms, -1);
	assert_null(ev.host);
	message_event_fini(&ev);
	decode_ok("{\"message\":\"m\",\"log\":{\"offset\":5,\"flags\":[\"truncated\"],"
		  "\"file\":{\"path\":\"p\"}},\"log\":{\"file\":{\"path\":\"q\","
		  "\"path\":7}}}", &ev);
	assert_int_equal(ev.offset, -1);
	assert_int_equal(ev.flags, 0);
	assert_null(ev.path);
	message_event_fini(&ev);
	assert_int_equal(decode_log("{\"offset\":-1,\"offset\":6}", &offset), 0);
	assert_int_equal(offset, 6);
	assert_int_equal(decode_log("{\"offset\":6,\"offset\":null}", &offset),
			 -EINVAL);
	assert_int_equal(decode_log("{\"flags\":[\"truncated\"],\"flags\":[]}",
				    &offset), 0);
	check_bad("{\"message\":\"a\",\"message\":1}", 27, "no \"message\" string");
	check_bad("{\"message\":\"a\",\"message\":{\"message\":\"b\"}}", 41,
		  "no \"message\" string");
}

/* jansson compared flags with strcmp(): what follows a NUL does not count. */
static void test_decode_flag_with_nul(void **state)
{
	struct message_event ev;

	decode_ok("{\"message\":\"m\",\"log\":{\"flags\":[\"truncated\\u0000x\"]}}", &ev);
	assert_int_equal(ev.flags, MESSAGE_FLAG_TRUNCATED);
	message_event_fini(&ev);
	decode_ok("{\"message\":\"m\",\"log\":{\"flags\":[\"truncate\",\"TRUNCATED\","
		  "\"truncated \",\"\\u0000truncated\"]}}", &ev);
	assert_int_equal(ev.flags, 0);
	message_event_fini(&ev);
}

static void test_decode_trailing_garbage(void **state)
{
	check_bad("{\"message\":\"a\"} x", 17, "not JSON: ");
	check_bad("{\"message\":\"a\"}{}", 17, "not JSON: ");
	check_bad("{\"message\":\"a\"} {\"message\":\"b\"}", 31, "not JSON: ");
	check_bad("{\"message\":\"a\"}]", 16, "not JSON: ");
	check_bad("{\"message\":\"a\"}}", 16, "not JSON: ");
	check_bad("{\"message\":\"a\"},", 16, "not JSON: ");
	check_bad("{\"message\":\"a\"} 5", 17, "not JSON: ");
	check_bad("{\"message\":\"a\"} \"abc", 20, "not JSON: ");
	check_bad("{\"message\":\"a\"} tru", 19, "not JSON: ");
	check_bad("{\"message\":\"a\"}\0", 16, "not JSON: ");
	check_bad("{\"message\":\"a\"} \0 ", 18, "not JSON: ");
	check_bad("{\"message\":\"a\"}\v", 16, "not JSON: ");
	check_bad("{\"message\":\"a\"} // c", 20, "not JSON: ");
}

/* Only an object is an envelope: any other JSON is a bare line (or bad as one). */
static void test_decode_non_object_json(void **state)
{
	check_bare("[{\"message\":\"x\"}]", 17, "[{\"message\":\"x\"}]");
	check_bare("5", 1, "5");
	check_bare("null", 4, "null");
	check_bare(" true", 5, " true");
	check_bare("\"{\\\"message\\\":1}\"", 17, "\"{\\\"message\\\":1}\"");
	check_bad("\"a\\u0000\"\n\n", 11, "newline inside a bare line");
}

/* What jansson refused and yajl alone would take. */
static void test_decode_strict_as_jansson(void **state)
{
	check_bad("{\"message\":\"\\ud83d\"}", 20, "not JSON: ");
	check_bad("{\"message\":\"\\ud83dx\"}", 21, "not JSON: ");
	check_bad("{\"message\":\"\\ud83d\\u0041\"}", 26, "not JSON: ");
	check_bad("{\"message\":\"\\ud83d\\ud83d\"}", 26, "not JSON: ");
	check_bad("{\"message\":\"\\ude00\\ud83d\"}", 26, "not JSON: ");
	check_bad("{\"message\":\"m\",\"x\":[\"\\udfff\"]}", 30, "not JSON: ");
	check_bad("{\"message\":\"m\",\"\\udc00\":1}", 26, "not JSON: ");
	check_bad("{\"message\":\"\xc0\x80\"}", 16, "not JSON: ");
	check_bad("{\"message\":\"\xe0\x80\x80\"}", 17, "not JSON: ");
	check_bad("{\"message\":\"\xed\xa0\x80\"}", 17, "not JSON: ");
	check_bad("{\"message\":\"\xf4\x90\x80\x80\"}", 18, "not JSON: ");
	check_bad("{\"message\":\"\xf5\x80\x80\x80\"}", 18, "not JSON: ");
	check_bad("{\"message\":\"m\",\"\xc3\"}", 18, "not JSON: ");
	check_bad("{\"message\":\"m\",\v\"x\":1}", 22, "not JSON: ");
	check_bad("{\"message\":\"m\"\f}", 16, "not JSON: ");
	check_bad("{\"message\":\"m\",\"a\\u0000b\":1}", 28, "not JSON: ");
	check_bad("{\"message\":\"m\",\"x\":{\"\\u0000\":1}}", 32, "not JSON: ");
	check_bad("{\"message\":\"a\tb\"}", 17, "not JSON: ");
	check_bad("{\"message\":\"m\",/*c*/\"x\":1}", 26, "not JSON: ");
	check_bad("{\"message\":\"m\",\"x\":[1,]}", 24, "not JSON: ");
	check_bad("{\"message\":\"m\",}", 16, "not JSON: ");
	check_bad("{\"message\":'m'}", 15, "not JSON: ");
	check_bad("{\"message\":\"\\x41\"}", 18, "not JSON: ");
	check_bad("{\"message\":\"\\u12g4\"}", 20, "not JSON: ");
}

/*
 * jansson never read again a NUL byte right after a number or a literal
 * (its one-byte push-back buffer then looked empty): such values passed,
 * and still do. Anywhere else a NUL outside a string is bad, as is any
 * NUL inside one.
 */
static void test_decode_nul_after_scalar(void **state)
{
#define V(text) {text, sizeof(text) - 1}
	static const char ok[] = "{\"message\":\"m\",\"log\":{\"offset\":5\0},"
				 "\"x\":[true\0,false\0,null\0,-0\0,1.5e+7\0]}";
	static const struct {
		const char *v;
		size_t len;
	} bad[] = {
		V("{\"message\":\"m\",\"x\":1\0002}"),
		V("{\"message\":\"m\",\"x\":1\0\0}"),
		V("{\"message\":\"m\",\"x\":\"a\"\0}"),
		V("{\"message\":\"m\",\"x\":1.\0}"),
		V("{\"message\":\"m\",\"x\":1e\0005}"),
		V("{\"message\":\"m\",\"x\":[]\0}"),
		V("{\"message\":\"m\"\0}"),
		V("{\"message\":\"a\\\"1\0\",\"x\":1}"),
		V("{\"message\":\"a\\\\\",\"x\":\"1\0\"}"),
		V("{\0\"message\":\"m\"}"),
	};
#undef V
	struct message_event ev;

	assert_int_equal(message_decode(ok, sizeof(ok) - 1, &ev, NULL, 0), 0);
	assert_int_equal(ev.offset, 5);
	message_event_fini(&ev);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_bad(bad[i].v, bad[i].len, "not JSON: ");
}

/*
 * Decodes an envelope holding depth containers, root included, one in the
 * other (arrays and objects in turn), with inner as the deepest one's
 * content.
 */
static int decode_depth(int depth, const char *inner, char *err, size_t errlen)
{
	size_t cap = 6 * (size_t)depth + 64, n;
	char *v = xmalloc(cap), *p = v;
	struct message_event ev;
	int rc;

	p += sprintf(p, "{\"message\":\"m\",\"x\":");
	for (int i = 1; i < depth; i++)
		p += sprintf(p, i % 2 ? "[" : "{\"k\":");
	p += sprintf(p, "%s", inner);
	for (int i = depth - 1; i >= 1; i--)
		*p++ = i % 2 ? ']' : '}';
	*p++ = '}';
	n = (size_t)(p - v);
	assert_true(n < cap);
	rc = message_decode(v, n, &ev, err, errlen);
	message_event_fini(&ev);
	free(v);
	return rc;
}

/*
 * jansson's limit stays: a value, scalar or not, may lie in at most 2047
 * containers, so 2048 may be open only when the deepest is empty.
 * (Odd depths end in an object, even ones in an array.)
 */
static void test_decode_depth(void **state)
{
	static const char *const scalars[] = {"0", "\"s\"", "null", "true", "1.5"};
	char err[256];

	assert_int_equal(decode_depth(2, "0", err, sizeof(err)), 0);
	assert_int_equal(decode_depth(2047, "0", err, sizeof(err)), 0);
	assert_int_equal(decode_depth(2047, "[]", err, sizeof(err)), 0);
	assert_int_equal(decode_depth(2048, "", err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		err[0] = '\0';
		assert_int_equal(decode_depth(2048, scalars[i], err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "depth"));
	}
	assert_int_equal(decode_depth(2048, "[]", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "depth"));
	assert_int_equal(decode_depth(2050, "", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "depth"));
	assert_int_equal(decode_depth(100000, "", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "depth"));
}

/*
 * Not a test but a figure: ns per message_decode() of a typical agent event
 * (~300 bytes, as message_encode() writes it), printed for the record. The
 * loop runs for about 0.2 s, so it stays short under valgrind.
 */
static void test_decode_speed(void **state)
{
	const char *line = "203.0.113.7 - - [24/Nov/2026:20:26:22 +0000] \"GET "
			   "/t?q=%23goodVibes HTTP/1.1\" 200 5123 \"-\" \"curl/8.0\"";
	struct message_encoder *enc;
	struct message_event ev;
	struct timespec t0, t1;
	struct buf out;
	long n = 0;
	double ns;

	enc = message_encoder_new("/var/log/nginx/access.log", "web-01", NULL);
	buf_init(&out, 4096);
	assert_int_equal(message_encode(enc, TS, line, strlen(line), 123456789,
					0, &out), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 1000; i++, n++) {
			assert_int_equal(message_decode(buf_str(&out), buf_len(&out),
							&ev, NULL, 0), 0);
			message_event_fini(&ev);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 +
		     (double)(t1.tv_nsec - t0.tv_nsec);
	} while (ns < 2e8);
	print_message("# message_decode: %.0f ns per %zu-byte event (%ld runs)\n",
		      ns / (double)n, buf_len(&out), n);
	buf_fini(&out);
	message_encoder_free(enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_minimal_envelope),
		cmocka_unit_test(test_decode_line_only),
		cmocka_unit_test(test_decode_bare),
		cmocka_unit_test(test_decode_bad),
		cmocka_unit_test(test_decode_offsets),
		cmocka_unit_test(test_decode_flags),
		cmocka_unit_test(test_decode_timestamps),
		cmocka_unit_test(test_decode_escapes),
		cmocka_unit_test(test_decode_nul_in_strings),
		cmocka_unit_test(test_decode_huge_offsets),
		cmocka_unit_test(test_decode_numbers_anywhere),
		cmocka_unit_test(test_decode_nested_unknown),
		cmocka_unit_test(test_decode_key_order),
		cmocka_unit_test(test_decode_duplicate_keys),
		cmocka_unit_test(test_decode_flag_with_nul),
		cmocka_unit_test(test_decode_trailing_garbage),
		cmocka_unit_test(test_decode_non_object_json),
		cmocka_unit_test(test_decode_strict_as_jansson),
		cmocka_unit_test(test_decode_nul_after_scalar),
		cmocka_unit_test(test_decode_depth),
		cmocka_unit_test(test_decode_speed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
