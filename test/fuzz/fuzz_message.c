/*
 * libFuzzer target for common/message: any bytes as a log line and as a
 * Kafka value. Encoding must give JSON that jansson accepts, whose message
 * is exactly the reference UTF-8 repair (test/unit/utf8_ref.h), and that
 * message_decode() reads back whole; decoding any value must succeed or
 * fail cleanly, never crash, leak or read out of bounds. An envelope must
 * decode exactly as the jansson decoder that yajl's replaced did (kept
 * here as the reference): same verdict, same fields, byte for byte.
 * Seeds: test/data/message/. Built with --enable-fuzzers.
 */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "test/unit/utf8_ref.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int ok)
{
	if (!ok)
		abort();
}

/* The encoded event in out must carry the repair of line[0..len). */
static void fuzz_check_event(const struct buf *out, const uint8_t *line,
			     size_t len, int64_t offset)
{
	unsigned char *ref = xmalloc(3 * len + 1);
	size_t n = utf8_ref_repair(line, len, ref);
	json_t *root = json_loadb(buf_str(out), buf_len(out), JSON_ALLOW_NUL, NULL);
	json_t *msg = json_object_get(root, "message");
	struct message_event ev;

	fuzz_check(json_is_string(msg) && json_string_length(msg) == n &&
		   !memcmp(json_string_value(msg), ref, n));
	json_decref(root);
	fuzz_check(message_decode(buf_str(out), buf_len(out), &ev, NULL, 0) == 0);
	fuzz_check(ev.enveloped && ev.len == n && !memcmp(ev.line, ref, n) &&
		   ev.offset == offset && ev.timestamp_ms == 1795551982123LL);
	message_event_fini(&ev);
	free(ref);
}

static void fuzz_encode(const uint8_t *data, size_t size)
{
	struct message_encoder *enc;
	char ts[MESSAGE_TIMESTAMP_LEN + 1];
	int64_t offset = (int64_t)size * 7919;
	struct buf out;

	/* the input also serves as the host name, up to its first NUL */
	char *host = xstrndup((const char *)data, size);

	enc = message_encoder_new("/var/log/fuzz.log", host, NULL);
	message_timestamp(1795551982123LL, ts);
	buf_init(&out, 16 * size + 1024);
	fuzz_check(message_encode(enc, ts, (const char *)data, size, offset,
				  size % 2 ? MESSAGE_FLAG_TRUNCATED : 0, &out) == 0);
	fuzz_check_event(&out, data, size, offset);
	buf_fini(&out);
	message_encoder_free(enc);
	free(host);
}

/* Whether s is NULL and want is not a string, or both hold the same bytes. */
static int fuzz_same_string(const char *s, const json_t *want)
{
	size_t n = json_string_length(want);

	if (!json_is_string(want))
		return s == NULL;
	return s && !memcmp(s, json_string_value(want), n) && s[n] == '\0';
}

/* The @timestamp ts stands for, read through a minimal envelope. */
static int64_t fuzz_time_of(json_t *ts)
{
	struct message_event ev;
	json_t *env;
	int64_t ms;
	char *text;

	if (!json_is_string(ts))
		return -1;
	env = json_object();
	json_object_set_new(env, "message", json_string(""));
	json_object_set(env, "@timestamp", ts);
	text = json_dumps(env, JSON_COMPACT);
	fuzz_check(message_decode(text, strlen(text), &ev, NULL, 0) == 0);
	ms = ev.timestamp_ms;
	message_event_fini(&ev);
	free(text);
	json_decref(env);
	return ms;
}

static int fuzz_truncated(const json_t *flags)
{
	size_t i;
	json_t *v;

	json_array_foreach(flags, i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), "truncated"))
			return 1;
	}
	return 0;
}

/* ev, decoded from data with rc, against what jansson's tree holds. */
static void fuzz_check_reference(const uint8_t *data, size_t size, int rc,
				 const struct message_event *ev)
{
	json_t *root = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
	json_t *msg = json_object_get(root, "message");
	json_t *log = json_object_get(root, "log");
	json_t *offset = json_object_get(log, "offset");
	int ok = json_is_string(msg) && (!offset || (json_is_integer(offset) &&
						    json_integer_value(offset) >= 0));

	fuzz_check(ok == (rc == 0));
	if (ok) {
		fuzz_check(ev->enveloped && ev->len == json_string_length(msg));
		fuzz_check(fuzz_same_string(ev->line, msg));
		fuzz_check(ev->offset == (offset ? json_integer_value(offset) : -1));
		fuzz_check(ev->timestamp_ms ==
			   fuzz_time_of(json_object_get(root, "@timestamp")));
		fuzz_check(ev->flags == (fuzz_truncated(json_object_get(log, "flags")) ?
					 MESSAGE_FLAG_TRUNCATED : 0));
		fuzz_check(fuzz_same_string(ev->path, json_object_get(
			json_object_get(log, "file"), "path")));
		fuzz_check(fuzz_same_string(ev->host, json_object_get(
			json_object_get(root, "host"), "name")));
	}
	json_decref(root);
}

/* message_decode_line() says what message_decode() said, names aside. */
static void fuzz_check_line_only(const uint8_t *data, size_t size, int rc,
				 const char *err, const struct message_event *ev)
{
	struct message_event lean;
	char why[256];

	fuzz_check(message_decode_line(data, size, &lean, why, sizeof(why)) == rc);
	if (rc) {
		fuzz_check(!strcmp(why, err));
	} else {
		fuzz_check(lean.len == ev->len && !memcmp(lean.line, ev->line, ev->len));
		fuzz_check(lean.enveloped == ev->enveloped);
		fuzz_check(lean.offset == ev->offset && lean.flags == ev->flags);
		fuzz_check(lean.timestamp_ms == ev->timestamp_ms);
		fuzz_check(!lean.path && !lean.host);
	}
	message_event_fini(&lean);
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
	struct message_event ev;
	size_t i = 0;
	char err[256];
	int rc = message_decode(data, size, &ev, err, sizeof(err));

	fuzz_check_line_only(data, size, rc, err, &ev);
	if (rc == 0)
		fuzz_check(ev.line && ev.line[ev.len] == '\0');
	else
		fuzz_check(rc == -EINVAL && ev.line == NULL && err[0]);
	while (i < size && memchr(" \t\r\n", data[i], 4))
		i++;
	if (i < size && data[i] == '{')
		fuzz_check_reference(data, size, rc, &ev);
	message_event_fini(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_encode(data, size);
	fuzz_decode(data, size);
	return 0;
}
