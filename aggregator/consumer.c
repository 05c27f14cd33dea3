/*
 * consumer: a librdkafka consumer in a group, with the rebalance in the
 * owner's hands. librdkafka's own offset management is switched off
 * (enable.auto.commit and enable.auto.offset.store are false, whatever the
 * properties say): where a partition starts is what the owner's assign
 * event returns, read from MariaDB, and Kafka's commits only mirror the
 * database for lag tools. The main queue is forwarded to the consumer
 * queue, so one consumer_poll() serves messages, rebalances and errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"
#include "kafkaconf.h"
#include "logging.h"
#include "runtime.h"
#include "xalloc.h"

struct consumer {
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue;        /* the consumer queue */
	const struct aggregator_kafka *cfg;
	struct consumer_events events;
	void *arg;
	int64_t nudged_ms;
	int nudge_next;                 /* round robin over the assignment */
	bool was_full;                  /* the last poll took a whole batch */
};

/* Wake a fetcher at most this often when the queue ran dry. */
#define CONSUMER_NUDGE_MS 5

/* Our defaults; kafka.properties may override them. */
static const char *const consumer_defaults[][2] = {
	{"partition.assignment.strategy", "range"},
	{"auto.offset.reset", "earliest"},
	{"enable.partition.eof", "false"},
	{"client.id", "logtally-aggregator"},
	{"fetch.wait.max.ms", "100"},
};

/*
 * librdkafka's prefetch limits (queued.min.messages, queued.max.messages.
 * kbytes: 100000 messages, 64 MiB) stay at their defaults. In 2.0.2 a
 * partition stops fetching while the consumer queue is over either, and
 * its broker thread looks again only up to a second later: a consumer
 * slower than the fetch idles for part of each second. Raising both
 * (properties) trades memory for rate: see bench/README.md.
 */

/* Exactly-once rests on these: applied after the user's properties. */
static const char *const consumer_forced[][2] = {
	{"enable.auto.commit", "false"},
	{"enable.auto.offset.store", "false"},
};

/* The partitions of list, all of our one topic, as an array. */
static int32_t *consumer_ids(const rd_kafka_topic_partition_list_t *list)
{
	int32_t *ids = xcalloc((size_t)list->cnt + 1, sizeof(*ids));

	for (int i = 0; i < list->cnt; i++)
		ids[i] = list->elems[i].partition;
	return ids;
}

static void consumer_assign(struct consumer *c,
			    rd_kafka_topic_partition_list_t *list)
{
	int32_t *ids = consumer_ids(list);
	int64_t *start = xcalloc((size_t)list->cnt + 1, sizeof(*start));
	rd_kafka_resp_err_t err;

	c->events.assign(c->arg, ids, (size_t)list->cnt, start);
	for (int i = 0; i < list->cnt; i++)
		list->elems[i].offset = start[i];
	err = rd_kafka_assign(c->rk, list);
	if (err)
		logging_error("Kafka: assigning %d partitions failed: %s",
			      list->cnt, rd_kafka_err2str(err));
	free(start);
	free(ids);
}

static void consumer_revoke(struct consumer *c,
			    rd_kafka_topic_partition_list_t *list)
{
	int32_t *ids = consumer_ids(list);

	c->events.revoke(c->arg, ids, (size_t)list->cnt);
	rd_kafka_assign(c->rk, NULL);
	free(ids);
}

static void consumer_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
				  rd_kafka_topic_partition_list_t *list,
				  void *opaque)
{
	struct consumer *c = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		consumer_assign(c, list);
	} else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
		consumer_revoke(c, list);
	} else {
		logging_error("Kafka: rebalance failed: %s", rd_kafka_err2str(err));
		rd_kafka_assign(rk, NULL);
	}
}

static void consumer_on_error(rd_kafka_t *rk, int err, const char *reason,
			      void *opaque)
{
	static struct logging_limit limit;

	(void)rk;
	(void)opaque;
	logging_limited(&limit, LOGGING_WARN, "Kafka: %s: %s",
			rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static int consumer_conf_fill(struct consumer *c, rd_kafka_conf_t *conf,
			      char *err, size_t errlen)
{
	const struct aggregator_kafka *cfg = c->cfg;
	size_t i, ndef = sizeof(consumer_defaults) / sizeof(consumer_defaults[0]);
	size_t nforced = sizeof(consumer_forced) / sizeof(consumer_forced[0]);
	int rc;

	rc = kafkaconf_set(conf, "bootstrap.servers", cfg->brokers, err, errlen);
	if (!rc)
		rc = kafkaconf_set(conf, "group.id", cfg->group, err, errlen);
	for (i = 0; !rc && i < ndef; i++)
		rc = kafkaconf_set(conf, consumer_defaults[i][0],
				   consumer_defaults[i][1], err, errlen);
	for (i = 0; !rc && i < cfg->properties.n; i++)
		rc = kafkaconf_set(conf, cfg->properties.items[i].key,
				   cfg->properties.items[i].value, err, errlen);
	for (i = 0; !rc && i < nforced; i++)
		rc = kafkaconf_set(conf, consumer_forced[i][0],
				   consumer_forced[i][1], err, errlen);
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_rebalance_cb(conf, consumer_on_rebalance);
	rd_kafka_conf_set_error_cb(conf, consumer_on_error);
	rd_kafka_conf_set_log_cb(conf, kafkaconf_log);
	return rc;
}

static int consumer_subscribe(struct consumer *c, char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t rc;

	rd_kafka_topic_partition_list_add(topics, c->cfg->topic, RD_KAFKA_PARTITION_UA);
	rc = rd_kafka_subscribe(c->rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (rc) {
		snprintf(err, errlen, "Kafka: subscribing to %s: %s", c->cfg->topic,
			 rd_kafka_err2str(rc));
		return -EINVAL;
	}
	return 0;
}

struct consumer *consumer_new(const struct aggregator_kafka *cfg,
			      const struct consumer_events *events, void *arg,
			      char *err, size_t errlen)
{
	struct consumer *c = xcalloc(1, sizeof(*c));
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	c->cfg = cfg;
	c->events = *events;
	c->arg = arg;
	if (consumer_conf_fill(c, conf, err, errlen)) {
		rd_kafka_conf_destroy(conf);
		free(c);
		return NULL;
	}
	c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
	if (!c->rk) {
		rd_kafka_conf_destroy(conf);
		free(c);
		return NULL;
	}
	rd_kafka_poll_set_consumer(c->rk);
	c->queue = rd_kafka_queue_get_consumer(c->rk);
	if (consumer_subscribe(c, err, errlen)) {
		consumer_free(c);
		return NULL;
	}
	return c;
}

void consumer_free(struct consumer *c)
{
	if (!c)
		return;
	rd_kafka_consumer_close(c->rk);         /* revokes through the callback */
	rd_kafka_queue_destroy(c->queue);
	rd_kafka_destroy(c->rk);
	free(c);
}

static void consumer_report(const rd_kafka_message_t *msg)
{
	static struct logging_limit limit;

	if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		return;
	logging_limited(&limit, LOGGING_WARN, "Kafka: %s%s%s",
			rd_kafka_message_errstr(msg),
			msg->rkt ? " on " : "",
			msg->rkt ? rd_kafka_topic_name(msg->rkt) : "");
}

/*
 * librdkafka 2.0.2 stops fetching a partition while the consumer queue is
 * over queued.min.messages or queued.max.messages.kbytes, and its broker
 * thread looks again only when something wakes it, or after a second: a
 * consumer slower than the fetch drains the queue and then idles for most
 * of that second. A request to the broker wakes its thread, which then
 * fetches at once; a watermark query is the cheapest (2.1 added
 * fetch.queue.backoff.ms for this). Resuming the partitions would wake it
 * too, but a resume is a version barrier that drops what was prefetched.
 * Only when a backlog was being drained (the poll before took a whole
 * batch): an idle consumer sends nothing.
 */
static void consumer_nudge(struct consumer *c)
{
	rd_kafka_topic_partition_list_t *list = NULL;
	int64_t now = runtime_now_ms(), lo, hi;

	if (now - c->nudged_ms < CONSUMER_NUDGE_MS ||
	    rd_kafka_assignment(c->rk, &list) || !list)
		return;
	c->nudged_ms = now;
	if (list->cnt > 0) {
		int i = c->nudge_next++ % list->cnt;

		rd_kafka_query_watermark_offsets(c->rk, list->elems[i].topic,
						 list->elems[i].partition, &lo, &hi, 1000);
	}
	rd_kafka_topic_partition_list_destroy(list);
}

/*
 * rd_kafka_consume_batch_queue() returns early only with a whole batch:
 * with fewer messages queued it waits out its timeout. So take what is
 * queued without waiting, and only when nothing is, wait for one message
 * and take what came with it: the last messages of a backlog no longer
 * wait out the poll timeout.
 */
static ssize_t consumer_take(struct consumer *c, int timeout_ms,
			     rd_kafka_message_t **msgs, size_t max)
{
	ssize_t got = rd_kafka_consume_batch_queue(c->queue, 0, msgs, max), more;

	if (got || !timeout_ms || !max)
		return got;
	got = rd_kafka_consume_batch_queue(c->queue, timeout_ms, msgs, 1);
	if (got != 1 || max == 1)
		return got;
	more = rd_kafka_consume_batch_queue(c->queue, 0, msgs + 1, max - 1);
	return more > 0 ? got + more : got;
}

size_t consumer_poll(struct consumer *c, int timeout_ms,
		     rd_kafka_message_t **msgs, size_t max)
{
	ssize_t got = consumer_take(c, timeout_ms, msgs, max);
	size_t n = 0;

	for (ssize_t i = 0; i < got; i++) {
		if (msgs[i]->err) {
			consumer_report(msgs[i]);
			rd_kafka_message_destroy(msgs[i]);
		} else {
			msgs[n++] = msgs[i];
		}
	}
	if ((size_t)got < max && c->was_full)
		consumer_nudge(c);
	c->was_full = (size_t)got == max;
	return n;
}

static rd_kafka_topic_partition_list_t *
consumer_list(const struct consumer *c, const int32_t *parts, size_t n)
{
	rd_kafka_topic_partition_list_t *list =
		rd_kafka_topic_partition_list_new((int)n);

	for (size_t i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(list, c->cfg->topic, parts[i]);
	return list;
}

void consumer_pause(struct consumer *c, const int32_t *parts, size_t n,
		    int pause)
{
	rd_kafka_topic_partition_list_t *list;

	if (!n)
		return;
	list = consumer_list(c, parts, n);
	if (pause)
		rd_kafka_pause_partitions(c->rk, list);
	else
		rd_kafka_resume_partitions(c->rk, list);
	rd_kafka_topic_partition_list_destroy(list);
}

int consumer_seek(struct consumer *c, const int32_t *parts,
		  const int64_t *next, size_t n, bool *failed)
{
	static struct logging_limit limit;
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_error_t *error;
	int rc = 0;

	if (!n)
		return 0;
	list = consumer_list(c, parts, n);
	for (size_t i = 0; i < n; i++)
		list->elems[i].offset = next[i];
	error = rd_kafka_seek_partitions(c->rk, list, 5000);
	if (error)
		logging_limited(&limit, LOGGING_WARN, "Kafka: seek of %zu partition%s "
				"of %s: %s", n, n == 1 ? "" : "s", c->cfg->topic,
				rd_kafka_error_string(error));
	for (int i = 0; i < list->cnt; i++) {
		const rd_kafka_topic_partition_t *elem = &list->elems[i];

		if (!error && elem->err)
			logging_limited(&limit, LOGGING_WARN, "Kafka: seek of %s [%d] "
					"to %lld: %s", c->cfg->topic, (int)elem->partition,
					(long long)next[i], rd_kafka_err2str(elem->err));
		if (failed)
			failed[i] = error || elem->err;
		if (error || elem->err)
			rc = -1;
	}
	if (error)
		rd_kafka_error_destroy(error);
	rd_kafka_topic_partition_list_destroy(list);
	return rc;
}

int64_t consumer_cached_high(struct consumer *c, int32_t part)
{
	int64_t lo = -1, hi = -1;

	if (rd_kafka_get_watermark_offsets(c->rk, c->cfg->topic, part, &lo, &hi))
		return -1;
	return hi;
}

int consumer_watermarks(struct consumer *c, int32_t part, int64_t *lo,
			int64_t *hi, int timeout_ms)
{
	rd_kafka_resp_err_t err;

	err = rd_kafka_query_watermark_offsets(c->rk, c->cfg->topic, part, lo, hi,
					       timeout_ms);
	if (err) {
		logging_warn("Kafka: watermarks of %s [%d]: %s", c->cfg->topic,
			     (int)part, rd_kafka_err2str(err));
		return -1;
	}
	return 0;
}

void consumer_commit(struct consumer *c, const int32_t *parts,
		     const int64_t *next, size_t n, int wait)
{
	static struct logging_limit limit;
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_resp_err_t err;

	if (!n)
		return;
	list = consumer_list(c, parts, n);
	for (size_t i = 0; i < n; i++)
		list->elems[i].offset = next[i];
	err = rd_kafka_commit(c->rk, list, !wait);
	if (err)
		logging_limited(&limit, LOGGING_DEBUG, "Kafka: commit for lag tools: %s",
				rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(list);
}

int consumer_partition_count(struct consumer *c, int timeout_ms)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, c->cfg->topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;
	int n = -1;

	err = rd_kafka_metadata(c->rk, 0, rkt, &md, timeout_ms);
	if (!err && md->topic_cnt == 1 && !md->topics[0].err)
		n = md->topics[0].partition_cnt;
	else
		logging_warn("Kafka: partitions of %s: %s", c->cfg->topic,
			     rd_kafka_err2str(err ? err : md->topic_cnt == 1 ?
					      md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return n;
}
