/*
 * count: the messages of a batch into the pending counts, in order. prep.c
 * has decoded each value (the agent's JSON or a bare line), parsed its line
 * and extracted its dimension values, on two threads; here, on the loop's
 * thread, each message is checked against its partition and its source's
 * high mark (a resend after an agent restart is skipped), placed in its
 * event-time window, and each of its values is added to its partition's
 * deltas, or to (other) past max_values. Whatever happens to the line, the
 * partition's next offset moves past it: a bad message is counted in a
 * metric, logged with rate limiting, and never stops the rest. A message
 * is refused, uncounted, when its partition's fetch position is not known
 * to follow what was counted (a seek failed): it is fetched again.
 */
#include "count.h"

#include <stdio.h>
#include <string.h>

#include "logging.h"
#include "runtime.h"

static void count_bad(struct count_env *env, const rd_kafka_message_t *msg,
		      const char *why)
{
	static struct logging_limit limit;

	metrics_counter_add(env->m.bad, 1);
	logging_limited(&limit, LOGGING_WARN,
			"skipping message %d/%lld: %s", (int)msg->partition,
			(long long)msg->offset, why);
}

static void count_unparsed(const rd_kafka_message_t *msg,
			   const struct message_event *ev)
{
	static struct logging_limit limit;
	int len = ev->len > 200 ? 200 : (int)ev->len;

	logging_limited(&limit, LOGGING_WARN,
			"line does not match log_format (message %d/%lld): %.*s%s",
			(int)msg->partition, (long long)msg->offset, len,
			ev->line, (size_t)len < ev->len ? "..." : "");
}

/*
 * Whether the message repeats a line already counted: an agent restarted
 * from its registry sends again what Kafka had acknowledged but its
 * registry had not recorded yet, with the same key and log.offset.
 */
static bool count_duplicate(struct count_env *env, const struct ledger_partition *p,
			    const struct prep_slot *slot)
{
	return slot->keyed && !ledger_count_source(env->ledger, slot->key, p->id,
						    slot->ev.offset);
}

/* The line's own time, else the envelope's, else Kafka's, else now. */
static int64_t count_event_time(const struct prep_slot *slot,
				const rd_kafka_message_t *msg)
{
	int64_t t = slot->time_ms;

	if (t < 0)
		t = slot->ev.timestamp_ms;
	if (t < 0)
		t = rd_kafka_message_timestamp(msg, NULL);
	if (t < 0)
		t = runtime_wall_ms();
	return t;
}

/*
 * A key the partition's deltas hold already was admitted by the cap when
 * it entered them (or is (other) itself): only new keys ask the cap, which
 * takes a lock and two more hash lookups.
 */
static void count_value(struct count_env *env, struct ledger_partition *p,
			int64_t start, uint32_t dim, const char *value,
			size_t len, const struct window_line *line)
{
	if (window_deltas_add_held(p->deltas, start, dim, value, len, line))
		return;
	if (!window_cap_admit(env->cap, env->window_s, start, dim, value, len)) {
		metrics_counter_add(env->m.other[dim], 1);
		value = WINDOW_OTHER;
		len = strlen(WINDOW_OTHER);
	}
	window_deltas_add_line(p->deltas, start, dim, value, len, line);
}

/* What a batch adds to the busiest counters, added to them once. */
struct count_tally {
	uint64_t messages, events;
};

static void count_line(struct count_env *env, struct ledger_partition *p,
		       const rd_kafka_message_t *msg,
		       const struct prep_slot *slot, struct count_tally *tally)
{
	int64_t t, start;

	if (!slot->parsed) {
		metrics_counter_add(env->m.parse_errors, 1);
		count_unparsed(msg, &slot->ev);
		return;
	}
	t = count_event_time(slot, msg);
	if (t > env->newest_ms)
		env->newest_ms = t;
	else if (env->newest_ms - t > env->lateness_ms)
		metrics_counter_add(env->m.late, 1);
	start = window_start(t, env->window_s);
	for (size_t i = 0; i < slot->nvals; i++)
		count_value(env, p, start, slot->vals[i].dim,
			    slot->arena + slot->vals[i].off, slot->vals[i].len,
			    &slot->line);
	tally->events++;
}

static void count_message(struct count_env *env, const rd_kafka_message_t *msg,
			  const struct prep_slot *slot, struct count_tally *tally)
{
	struct ledger_partition *p = ledger_partition(env->ledger, msg->partition);

	if (!p || !p->assigned || p->lost || p->seek_due || env->paused)
		return;         /* fetched again from p->next when it matters */
	if (p->next != LEDGER_OFFSET_UNKNOWN && msg->offset < p->next)
		return;         /* seen before a seek */
	p->next = msg->offset + 1;
	tally->messages++;
	if (slot->decode_rc)
		count_bad(env, msg, slot->why);
	else if (count_duplicate(env, p, slot))
		metrics_counter_add(env->m.duplicates, 1);
	else
		count_line(env, p, msg, slot, tally);
}

void count_batch(struct count_env *env, rd_kafka_message_t *const *msgs,
		 const struct prep_slot *slots, size_t n)
{
	struct count_tally tally = {0, 0};

	for (size_t i = 0; i < n; i++)
		count_message(env, msgs[i], &slots[i], &tally);
	metrics_counter_add(env->m.messages, tally.messages);
	metrics_counter_add(env->m.events, tally.events);
}

void count_expire_caps(const struct count_env *env, const int64_t *sizes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		window_cap_expire(env->cap, sizes[i],
				  window_start(env->newest_ms - env->lateness_ms, sizes[i]));
}
