/*
 * message: the topic's message format (DESIGN.md, "Kafka message"), encoded
 * by the agent and decoded by the aggregator in this one module so that the
 * two cannot drift apart. A value is a Filebeat-style JSON object:
 *
 *   {"@timestamp":"2026-11-24T20:26:22.123Z","message":"<line>",
 *    "log":{"file":{"path":"/var/log/nginx/access.log"},"offset":12345},
 *    "host":{"name":"web-01"},"agent":{"type":"logtally-agent","version":"0.1.0"},
 *    "input":{"type":"filestream"},"fields":{"service":"shop"}}
 *
 * with "flags":["truncated"] inside "log" for a line cut at max_line_bytes.
 * Encoding always yields valid UTF-8 JSON whatever the line's bytes: invalid
 * sequences become U+FFFD, control bytes are escaped. The aggregator also
 * accepts a value that is a bare log line. message.c encodes;
 * message_decode.c decodes, with yajl's callback parser.
 */
#ifndef LOGTALLY_MESSAGE_H
#define LOGTALLY_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

#define MESSAGE_FLAG_TRUNCATED 0x1

/* Zero bytes after a decoded line's NUL. */
#define MESSAGE_LINE_SLACK 64

/* "2026-11-24T20:26:22.123Z" */
#define MESSAGE_TIMESTAMP_LEN 24

/* The parts of every event of one source, encoded once. */
struct message_encoder;

/*
 * An encoder for the lines of the file at path, read on host, with the
 * input's extra fields (may be NULL or empty). Copies what it needs;
 * nothing is borrowed. Free with message_encoder_free().
 */
struct message_encoder *message_encoder_new(const char *path, const char *host,
					    const struct config_map *fields);

void message_encoder_free(struct message_encoder *enc);

/* Format epoch milliseconds as an @timestamp into out (NUL-terminated). */
void message_timestamp(int64_t ms, char out[MESSAGE_TIMESTAMP_LEN + 1]);

/*
 * Append the JSON of one line to out: line[0..len) (no newline; any bytes),
 * offset = byte offset of its first byte in the source, flags of
 * MESSAGE_FLAG_*, timestamp from message_timestamp(). Returns 0, or
 * -ENOSPC when out's maximum would be passed (out is then unchanged).
 * Does not block; safe to call from one thread per encoder.
 */
int message_encode(const struct message_encoder *enc, const char *timestamp,
		   const char *line, size_t len, int64_t offset, unsigned flags,
		   struct buf *out);

/* A decoded value. Strings are owned; release with message_event_fini(). */
struct message_event {
	char *line;             /* the log line, NUL-terminated, then
				 * MESSAGE_LINE_SLACK zero bytes that
				 * readers working in blocks (PCRE2's JIT)
				 * may touch */
	size_t len;
	bool enveloped;         /* false: the value was a bare line */
	int64_t offset;         /* log.offset, -1 when absent */
	int64_t timestamp_ms;   /* @timestamp, -1 when absent or unparsable */
	unsigned flags;         /* MESSAGE_FLAG_* */
	char *path;             /* log.file.path, NULL when absent */
	char *host;             /* host.name, NULL when absent */
};

/*
 * Decode one Kafka value. A value whose first non-blank byte is '{' must be
 * an envelope with a string "message"; any other value is taken as a bare
 * line if it is non-empty valid UTF-8 without NUL or newline bytes (a
 * trailing "\n" or "\r\n" is removed). Returns 0, or -EINVAL with the reason
 * in err (the value is bad: count it and skip it); ev is then empty.
 * An envelope is read as jansson read it (NUL allowed in strings, not in
 * keys; strict UTF-8; at most 2048 levels); a key given twice counts by
 * its last value. Only "message", "@timestamp", log.offset, log.flags,
 * log.file.path and host.name are kept. err may be NULL. Does not block;
 * keeps no state between calls, so any number of threads may call it.
 */
int message_decode(const void *value, size_t len, struct message_event *ev,
		   char *err, size_t errlen);

/*
 * message_decode() for readers that need no names: the same verdicts and
 * fields, but ev->path and ev->host stay NULL (two allocations a line
 * fewer).
 */
int message_decode_line(const void *value, size_t len,
			struct message_event *ev, char *err, size_t errlen);

void message_event_fini(struct message_event *ev);

/*
 * Epoch ms of an RFC 3339 date-time ("2026-11-24T20:26:22.123Z",
 * "…22+01:00", any number of fraction digits, 't' or ' ' for 'T'), or -1
 * when it is not one or lies before 1970. p[0..len) need not end in NUL.
 */
int64_t message_parse_time(const char *p, size_t len);

#endif
