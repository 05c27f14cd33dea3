/*
 * libFuzzer target for common/message: any bytes as a log line and as a
 * Kafka value. Encoding must give JSON that jansson accepts, whose message
 * is exactly the reference UTF-8 repair (test/unit/utf8_ref.h), and that
 * message_decode() reads back whole; decoding any value must succeed or
 * fail cleanly, never crash, leak or read out of bounds.
 * Seeds: test/data/message/. Built with --enable-fuzzers.
 */
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

static void fuzz_decode(const uint8_t *data, size_t size)
{
	struct message_event ev;
	char err[256];

	if (message_decode(data, size, &ev, err, sizeof(err)) == 0)
		fuzz_check(ev.line && ev.line[ev.len] == '\0');
	else
		fuzz_check(ev.line == NULL && err[0]);
	message_event_fini(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_encode(data, size);
	fuzz_decode(data, size);
	return 0;
}
