/*
 * The oracle of the model: the topic read back from its first offset to its
 * end, every message judged against the lines the model wrote. It counts as
 * the aggregator does (a source's message counts only when its log.offset
 * is past the highest one counted for that source), so that a line sent
 * twice under one source and offset is a resend, and anything else counted
 * twice is a double count. A message must carry its line's bytes (cut to
 * max_line_bytes and flagged when longer) and the offset the line had in
 * the file it was written to; one source and offset must always carry the
 * same line.
 */
#include "model.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "message.h"
#include "xalloc.h"

#define MODEL_ORACLE_TIMEOUT_MS 10000
#define MODEL_PROBLEMS_SHOWN 12

struct model_oracle {
	struct model_files *m;
	struct hmap *high;      /* source id -> highest log.offset counted + 1 */
	struct hmap *at;        /* "id@offset" -> line */
	size_t problems;
	size_t messages;
	bool dump;              /* LOGTALLY_MODEL_DUMP=1: print every message */
	bool *seen;             /* only mark lines seen (model_oracle_missing) */
};

static void model_problem(struct model_oracle *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void model_problem(struct model_oracle *o, const char *fmt, ...)
{
	va_list ap;

	if (o->problems++ >= MODEL_PROBLEMS_SHOWN)
		return;
	va_start(ap, fmt);
	printf("#   ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

/* The line a message carries, checked byte for byte; 0 when none. */
static uint64_t model_oracle_line(struct model_oracle *o, const struct message_event *ev)
{
	struct model_files *m = o->m;
	unsigned long long seq;
	struct model_line *line;
	char *text;
	uint32_t want;
	bool cut;

	if (ev->len < 2 + MODEL_SEQ_DIGITS || ev->line[0] != 'L' ||
	    sscanf(ev->line + 1, "%llu", &seq) != 1 || seq == 0 || seq >= m->nlines) {
		model_problem(o, "a message that is no line of the model: \"%.40s\"", ev->line);
		return 0;
	}
	line = &m->lines[seq];
	cut = line->len > MODEL_MAX_LINE;
	want = cut ? MODEL_MAX_LINE : line->len;
	text = xmalloc(line->len);
	model_line_text(seq, line->len, text);
	if (ev->len != want || memcmp(ev->line, text, want) || cut != !!(ev->flags & MESSAGE_FLAG_TRUNCATED))
		model_problem(o, "line %llu: %zu bytes sent (flags %u), %u written", seq, ev->len,
			      ev->flags, line->len);
	if (ev->offset != line->offset)
		model_problem(o, "line %llu: log.offset %" PRId64 ", written at %" PRId64, seq,
			      ev->offset, line->offset);
	free(text);
	return seq;
}

static void model_oracle_message(struct model_oracle *o, const rd_kafka_message_t *msg)
{
	struct message_event ev = {0};
	char id[32], at[64], err[128];
	uintptr_t high, before;
	uint64_t seq;

	o->messages++;
	if (msg->key_len == 0 || msg->key_len >= sizeof(id) ||
	    message_decode(msg->payload, msg->len, &ev, err, sizeof(err)) < 0) {
		model_problem(o, "a message without a key or that does not decode");
		message_event_fini(&ev);
		return;
	}
	memcpy(id, msg->key, msg->key_len);
	id[msg->key_len] = '\0';
	if (o->seen) {
		unsigned long long n = strtoull(ev.line + (ev.len > 0), NULL, 10);

		if (n > 0 && n < o->m->nlines)
			o->seen[n] = true;
		message_event_fini(&ev);
		return;
	}
	seq = model_oracle_line(o, &ev);
	snprintf(at, sizeof(at), "%s@%" PRId64, id, ev.offset);
	before = (uintptr_t)hmap_get(o->at, at);
	if (seq && before && before != seq)
		model_problem(o, "source %s offset %" PRId64 " carries line %" PRIuPTR " and line %" PRIu64,
			      id, ev.offset, before, seq);
	if (seq && !before)
		hmap_put(o->at, at, (void *)(uintptr_t)seq);
	high = (uintptr_t)hmap_get(o->high, id);
	if (seq && ev.offset >= 0 && (!high || (uintptr_t)ev.offset + 1 > high)) {
		hmap_put(o->high, id, (void *)((uintptr_t)ev.offset + 1));
		o->m->lines[seq].counted++;
	}
	if (o->dump)
		printf("#   message: partition %d offset %lld: source %s log.offset %lld line %llu%s\n",
		       (int)msg->partition, (long long)msg->offset, id, (long long)ev.offset,
		       (unsigned long long)seq, o->m->lines[seq].counted && high <= (uintptr_t)ev.offset ?
		       "" : " (not counted)");
	message_event_fini(&ev);
}

/* Read every partition from its start to its high watermark. */
static int model_oracle_read(struct model_oracle *o, rd_kafka_t *rk,
			     const char *topic, int32_t partitions)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
	int64_t *hi = xcalloc((size_t)partitions, sizeof(*hi)), lo;
	int32_t left = 0;
	int rc = 0;

	for (int32_t p = 0; p < partitions && rc == 0; p++) {
		if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi[p],
						     MODEL_ORACLE_TIMEOUT_MS))
			rc = -1;
		rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
		left += hi[p] > 0;
	}
	if (rc == 0 && left)
		rd_kafka_assign(rk, list);
	while (rc == 0 && left) {
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, MODEL_ORACLE_TIMEOUT_MS);

		if (!msg || (msg->err && msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)) {
			rc = -1;
		} else if (!msg->err) {
			model_oracle_message(o, msg);
			left -= msg->offset + 1 == hi[msg->partition];
		}
		if (msg)
			rd_kafka_message_destroy(msg);
	}
	rd_kafka_topic_partition_list_destroy(list);
	free(hi);
	return rc;
}

static rd_kafka_t *model_oracle_consumer(const char *brokers)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[256];
	rd_kafka_t *rk;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "group.id", "model-oracle", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof(err))) {
		fprintf(stderr, "model: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "model: %s\n", err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

size_t model_oracle_check(struct model_files *m, const char *brokers,
			  const char *topic, int32_t partitions, size_t *messages)
{
	const char *dump = getenv("LOGTALLY_MODEL_DUMP");
	struct model_oracle o = {m, hmap_new(), hmap_new(), 0, 0, dump && *dump == '1', NULL};
	rd_kafka_t *rk = model_oracle_consumer(brokers);

	if (!rk || model_oracle_read(&o, rk, topic, partitions) < 0)
		model_problem(&o, "the topic cannot be read to its end");
	for (size_t seq = 1; seq < m->nlines; seq++) {
		const struct model_line *line = &m->lines[seq];

		if (line->counted > 1)
			model_problem(&o, "line %zu counted %u times", seq, line->counted);
		else if (line->must && !line->counted)
			model_problem(&o, "line %zu (offset %" PRId64 ") lost: it sat in %s (file #%d) when the agent had caught up",
				      seq, line->offset, m->files[line->file].name[0] ?
				      m->files[line->file].name : "a file deleted since", line->file);
	}
	if (rk)
		rd_kafka_destroy(rk);
	hmap_free(o.high);
	hmap_free(o.at);
	*messages = o.messages;
	return o.problems;
}

struct model_want {
	bool *want;
	size_t n;
};

static void model_want_line(void *arg, uint64_t seq, int file)
{
	struct model_want *w = arg;

	(void)file;
	w->n += !w->want[seq];
	w->want[seq] = true;
}

size_t model_oracle_missing(struct model_files *m, const char *brokers,
			    const char *topic, int32_t partitions)
{
	struct model_want w = {xcalloc(m->nlines, sizeof(bool)), 0};
	struct model_oracle o = {m, NULL, NULL, 0, 0, false, xcalloc(m->nlines, sizeof(bool))};
	rd_kafka_t *rk = model_oracle_consumer(brokers);
	size_t missing = 0;

	model_each_followed(m, model_want_line, &w);
	if (!rk || model_oracle_read(&o, rk, topic, partitions) < 0)
		missing = w.n;          /* cannot tell: nothing seen */
	else
		for (size_t seq = 1; seq < m->nlines; seq++)
			missing += w.want[seq] && !o.seen[seq];
	if (rk)
		rd_kafka_destroy(rk);
	free(w.want);
	free(o.seen);
	return missing;
}
