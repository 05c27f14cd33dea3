/*
 * count: one Kafka message into the pending counts. The message is decoded
 * (the agent's JSON or a bare line), checked against its source's high
 * mark (a resend after an agent restart is skipped), parsed, placed in its
 * event-time window, and each of its dimension values is added to its
 * partition's deltas, or to (other) past max_values. Whatever happens to
 * the line, the partition's next offset moves past it: a bad message is
 * counted in a metric, logged with rate limiting, and never stops the rest.
 */
#include <stdio.h>
#include <string.h>

#include "aggregator_private.h"
#include "logging.h"

/* Source ids are short hashes; anything longer than the column is no id. */
#define COUNT_KEY_MAX 255

static void count_bad(struct aggregator *ag, const rd_kafka_message_t *msg,
		      const char *why)
{
	static struct logging_limit limit;

	metrics_counter_add(ag->m.bad, 1);
	logging_limited(&limit, LOGGING_WARN,
			"skipping message %d/%lld: %s", (int)msg->partition,
			(long long)msg->offset, why);
}

static void count_unparsed(struct aggregator *ag, const rd_kafka_message_t *msg)
{
	static struct logging_limit limit;
	int len = ag->ev.len > 200 ? 200 : (int)ag->ev.len;

	metrics_counter_add(ag->m.parse_errors, 1);
	logging_limited(&limit, LOGGING_WARN,
			"line does not match log_format (message %d/%lld): %.*s%s",
			(int)msg->partition, (long long)msg->offset, len,
			ag->ev.line, (size_t)len < ag->ev.len ? "..." : "");
}

/*
 * Whether the message repeats a line already counted: an agent restarted
 * from its registry sends again what Kafka had acknowledged but its
 * registry had not recorded yet, with the same key and log.offset.
 */
static bool count_duplicate(struct aggregator *ag, struct agg_partition *p,
			    const rd_kafka_message_t *msg)
{
	char key[COUNT_KEY_MAX + 1];
	struct agg_source *src;

	if (!ag->ev.enveloped || ag->ev.offset < 0 || !msg->key ||
	    !msg->key_len || msg->key_len > COUNT_KEY_MAX ||
	    memchr(msg->key, '\0', msg->key_len))
		return false;
	memcpy(key, msg->key, msg->key_len);
	key[msg->key_len] = '\0';
	src = rebalance_source(ag, key, p->id);
	if (ag->ev.offset <= src->high)
		return true;
	src->high = ag->ev.offset;
	rebalance_mark_dirty(ag, src);
	return false;
}

/* The line's own time, else the envelope's, else Kafka's, else now. */
static int64_t count_event_time(const struct aggregator *ag,
				const struct accesslog_record *rec,
				const rd_kafka_message_t *msg)
{
	int64_t t = rec->time_ms;

	if (t < 0)
		t = ag->ev.timestamp_ms;
	if (t < 0)
		t = rd_kafka_message_timestamp(msg, NULL);
	if (t < 0)
		t = runtime_wall_ms();
	return t;
}

static void count_emit(void *arg, size_t dim, const char *value, size_t len)
{
	struct aggregator *ag = arg;

	if (!window_cap_admit(ag->cap, ag->sizes[0], ag->cur_start, (uint32_t)dim,
			      value, len)) {
		metrics_counter_add(ag->m.other[dim], 1);
		value = WINDOW_OTHER;
		len = strlen(WINDOW_OTHER);
	}
	window_deltas_add(ag->cur->deltas, ag->cur_start, (uint32_t)dim, value,
			  len, 1);
}

static void count_line(struct aggregator *ag, struct agg_partition *p,
		       const rd_kafka_message_t *msg)
{
	struct accesslog_record rec;
	int64_t t;

	if (accesslog_parse(ag->parser, ag->ev.line, ag->ev.len, &rec)) {
		count_unparsed(ag, msg);
		return;
	}
	t = count_event_time(ag, &rec, msg);
	if (t > ag->newest_ms)
		ag->newest_ms = t;
	else if (ag->newest_ms - t > ag->cfg->lateness)
		metrics_counter_add(ag->m.late, 1);
	ag->cur = p;
	ag->cur_start = window_start(t, ag->sizes[0]);
	dimensions_extract(ag->dims, &rec, count_emit, ag);
	metrics_counter_add(ag->m.events, 1);
}

void count_message(struct aggregator *ag, const rd_kafka_message_t *msg)
{
	struct agg_partition *p = rebalance_partition(ag, msg->partition);
	char why[256];

	if (!p || !p->assigned || p->lost || ag->db_down)
		return;         /* fetched again from p->next when it matters */
	if (p->next != AGG_OFFSET_UNKNOWN && msg->offset < p->next)
		return;         /* seen before a seek */
	p->next = msg->offset + 1;
	metrics_counter_add(ag->m.messages, 1);
	if (message_decode(msg->payload, msg->len, &ag->ev, why, sizeof(why))) {
		count_bad(ag, msg, why);
		return;
	}
	if (count_duplicate(ag, p, msg))
		metrics_counter_add(ag->m.duplicates, 1);
	else
		count_line(ag, p, msg);
	message_event_fini(&ag->ev);
}
