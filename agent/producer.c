/*
 * producer: one librdkafka producer handle, one topic handle, and the
 * bookkeeping the agent's backpressure and registry rely on. Invariants:
 * in_flight and in_flight_bytes count exactly the messages librdkafka
 * accepted whose delivery report has not been served yet (producer_send()
 * adds, the report subtracts); the ack callback runs once per accepted
 * message, from producer_poll() or producer_flush(), and never once
 * producer_free() has begun. Every callback librdkafka makes here (delivery
 * reports, errors, statistics) is served by rd_kafka_poll() in the caller's
 * thread, except the log callback, which only writes log lines.
 *
 * Ordering: the key is the source id, and the default partitioner
 * (consistent_random) hashes it, so all lines of a source go to one
 * partition (a kafka.properties partitioner that ignores keys breaks
 * this); idempotence keeps them in order there through retries.
 *
 * Outages: "all brokers down" starts one; the next successful delivery, or
 * a statistics report (every PRODUCER_STATS_MS, parsed only during an
 * outage) showing a broker UP, ends it, so an idle agent's outage ends too
 * (unless kafka.properties set statistics.interval.ms to 0).
 * A transport error on one broker is not an outage: another broker may
 * still lead the partitions, and the queue bound covers the rest.
 */
#include "producer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "kafkaconf.h"
#include "logging.h"
#include "runtime.h"
#include "xalloc.h"

/*
 * Room kept below message.max.bytes: librdkafka refuses a message whose
 * key, value and record framing (at most 36 bytes in format v2) exceed it,
 * and the batch header adds 61 bytes. 512 covers a key of up to 256 bytes
 * (source ids are far shorter) and both framings, with room to spare.
 */
#define PRODUCER_MARGIN 512
/* Error kinds counted apart in delivery_errors_total; later ones are "other". */
#define PRODUCER_KINDS_MAX 16
#define PRODUCER_STATS_MS "1000"
/* How long producer_free() serves purged reports before destroying. */
#define PRODUCER_FREE_WAIT_MS 2000
#define PRODUCER_FATAL_MAX 512

struct producer_kind {
	rd_kafka_resp_err_t err;
	struct metrics_counter *errors;
};

/* All NULL without a registry; kinds are registered on first use. */
struct producer_metrics {
	struct metrics *reg;
	struct metrics_counter *acked, *bytes_acked, *outages;
	struct metrics_gauge *queue_messages, *queue_bytes, *outage;
	struct producer_kind kinds[PRODUCER_KINDS_MAX];
	size_t nkinds;
	struct metrics_counter *other;
};

struct producer {
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	rd_kafka_queue_t *mainq;
	int wake[2];                    /* pipe: librdkafka writes [1], caller polls [0] */
	producer_ack_fn ack;
	void *arg;
	uint64_t max_buffer;
	size_t max_value;
	size_t in_flight;
	uint64_t in_flight_bytes;
	bool closing;                   /* producer_free() began: no more acks */
	bool outage;
	int64_t outage_since_ms;        /* CLOCK_MONOTONIC */
	bool stats_stale;               /* the next statistics may predate the outage */
	bool fatal;
	char fatal_reason[PRODUCER_FATAL_MAX];
	struct producer_metrics m;
};

/* Settings applied before kafka.properties, which may override any. */
static const char *const producer_defaults[][2] = {
	{ "enable.idempotence", "true" },
	{ "acks", "all" },
	{ "compression.type", "lz4" },
	/* Never expire: the files are the buffer, a message waits for Kafka. */
	{ "message.timeout.ms", "0" },
	{ "linger.ms", "5" },
	/* Out of the way: producer_send() bounds the queue by max_buffer. */
	{ "queue.buffering.max.messages", "2147483647" },
	{ "queue.buffering.max.kbytes", "2147483647" },
	{ "reconnect.backoff.ms", "100" },
	{ "reconnect.backoff.max.ms", "2000" },
	{ "retry.backoff.ms", "100" },
	{ "statistics.interval.ms", PRODUCER_STATS_MS },
};

static void producer_count(struct metrics_counter *counter, uint64_t n)
{
	if (counter)
		metrics_counter_add(counter, n);
}

static void producer_set(struct metrics_gauge *gauge, double value)
{
	if (gauge)
		metrics_gauge_set(gauge, value);
}

static void producer_metrics_init(struct producer_metrics *m, struct metrics *reg)
{
	memset(m, 0, sizeof(*m));
	if (!reg)
		return;
	m->reg = reg;
	m->acked = metrics_counter(reg, "logtally_agent_lines_acked_total",
				   "Lines Kafka acknowledged.", NULL);
	m->bytes_acked = metrics_counter(reg, "logtally_agent_bytes_acked_total",
					 "Bytes of message values Kafka acknowledged.", NULL);
	m->outages = metrics_counter(reg, "logtally_agent_kafka_outages_total",
				     "Times Kafka became unreachable.", NULL);
	m->queue_messages = metrics_gauge(reg, "logtally_agent_queue_messages",
					  "Messages sent to Kafka and not yet acknowledged.", NULL);
	m->queue_bytes = metrics_gauge(reg, "logtally_agent_queue_bytes",
				       "Bytes of values sent to Kafka and not yet acknowledged.", NULL);
	m->outage = metrics_gauge(reg, "logtally_agent_kafka_outage",
				  "1 while Kafka is unreachable, else 0.", NULL);
}

/* "_MSG_TIMED_OUT" -> "msg_timed_out": a label value per error kind. */
static void producer_kind_name(rd_kafka_resp_err_t err, char *name, size_t size)
{
	const char *s = rd_kafka_err2name(err);
	size_t i;

	while (*s == '_')
		s++;
	for (i = 0; s[i] && i + 1 < size; i++)
		name[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
	name[i] = '\0';
}

static struct metrics_counter *producer_kind_counter(const struct producer_metrics *m,
						     const char *kind)
{
	return metrics_counter(m->reg, "logtally_agent_delivery_errors_total",
			       "Messages Kafka did not take, by error.",
			       "kind", kind, NULL);
}

/* The counter of err's kind, registered on first use; NULL without metrics. */
static struct metrics_counter *producer_kind(struct producer_metrics *m,
					     rd_kafka_resp_err_t err)
{
	char name[64];
	size_t i;

	if (!m->reg)
		return NULL;
	for (i = 0; i < m->nkinds; i++)
		if (m->kinds[i].err == err)
			return m->kinds[i].errors;
	if (m->nkinds == PRODUCER_KINDS_MAX) {
		if (!m->other)
			m->other = producer_kind_counter(m, "other");
		return m->other;
	}
	producer_kind_name(err, name, sizeof(name));
	m->kinds[m->nkinds].err = err;
	m->kinds[m->nkinds].errors = producer_kind_counter(m, name);
	return m->kinds[m->nkinds++].errors;
}

static void producer_outage_start(struct producer *p, const char *reason)
{
	if (p->outage)
		return;
	p->outage = true;
	p->outage_since_ms = runtime_now_ms();
	p->stats_stale = true;
	logging_warn("Kafka unreachable: %s; reading paused, retrying", reason);
	producer_set(p->m.outage, 1);
	producer_count(p->m.outages, 1);
}

static void producer_outage_end(struct producer *p)
{
	int64_t ms;

	if (!p->outage)
		return;
	p->outage = false;
	ms = runtime_now_ms() - p->outage_since_ms;
	logging_warn("Kafka reachable again after %" PRId64 ".%" PRId64 " s",
		     ms / 1000, ms % 1000 / 100);
	producer_set(p->m.outage, 0);
}

static void producer_queue_changed(struct producer *p)
{
	producer_set(p->m.queue_messages, (double)p->in_flight);
	producer_set(p->m.queue_bytes, (double)p->in_flight_bytes);
}

static void producer_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg,
				 void *opaque)
{
	static struct logging_limit limit;
	struct producer *p = opaque;

	p->in_flight--;
	p->in_flight_bytes -= msg->len;
	producer_queue_changed(p);
	if (p->closing)
		return;
	if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		producer_count(p->m.acked, 1);
		producer_count(p->m.bytes_acked, msg->len);
		producer_outage_end(p);
	} else {
		producer_count(producer_kind(&p->m, msg->err), 1);
		logging_limited(&limit, LOGGING_WARN, "Kafka did not take a message for %s: %s",
				rd_kafka_topic_name(msg->rkt), rd_kafka_err2str(msg->err));
	}
	p->ack(msg->_private, msg->err, rd_kafka_err2str(msg->err), p->arg);
}

static void producer_on_fatal(struct producer *p)
{
	rd_kafka_resp_err_t err;

	if (p->fatal)
		return;
	err = rd_kafka_fatal_error(p->rk, p->fatal_reason, sizeof(p->fatal_reason));
	p->fatal = true;
	logging_error("Kafka producer failed for good (%s): %s",
		      rd_kafka_err2name(err), p->fatal_reason);
}

static bool producer_err_transport(int err)
{
	return err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE;
}

/*
 * One broker's connection failing is routine (a restart, a moved leader) and
 * logged as info; when it is the last one, the outage says so, once.
 */
static void producer_on_error(rd_kafka_t *rk, int err, const char *reason,
			      void *opaque)
{
	static struct logging_limit limits[2];
	struct producer *p = opaque;

	if (err == RD_KAFKA_RESP_ERR__FATAL)
		producer_on_fatal(p);
	else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		producer_outage_start(p, reason);
	else if (producer_err_transport(err))
		logging_limited(&limits[0], p->outage ? LOGGING_DEBUG : LOGGING_INFO,
				"Kafka: %s", reason);
	else
		logging_limited(&limits[1], LOGGING_WARN, "Kafka: %s", reason);
}

/* Whether a statistics report shows a real broker connected. */
static bool producer_stats_up(const char *json, size_t len)
{
	json_t *root = json_loadb(json, len, 0, NULL), *broker;
	const char *name, *state, *source;
	bool up = false;

	json_object_foreach(json_object_get(root, "brokers"), name, broker) {
		state = json_string_value(json_object_get(broker, "state"));
		source = json_string_value(json_object_get(broker, "source"));
		if (state && source && !strcmp(state, "UP") &&
		    strcmp(source, "internal") && strcmp(source, "logical"))
			up = true;
	}
	json_decref(root);
	return up;
}

/*
 * librdkafka reads the broker states, then queues the report: one report
 * being built when the last broker went down can be served after the
 * outage began and still show it UP. Only that one, so the first report
 * of an outage is skipped.
 */
static int producer_on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct producer *p = opaque;

	if (!p->outage || p->closing)
		return 0;
	if (p->stats_stale)
		p->stats_stale = false;
	else if (producer_stats_up(json, len))
		producer_outage_end(p);
	return 0;	/* librdkafka frees json */
}

/* Brokers, our defaults, then the user's properties, then the callbacks. */
static int producer_conf_fill(struct producer *p, rd_kafka_conf_t *conf,
			      const struct producer_config *cfg, char *err,
			      size_t errlen)
{
	const struct config_pair *pair;
	size_t i;
	int rc;

	rc = kafkaconf_set(conf, "bootstrap.servers", cfg->brokers, err, errlen);
	for (i = 0; !rc && i < sizeof(producer_defaults) / sizeof(producer_defaults[0]); i++)
		rc = kafkaconf_set(conf, producer_defaults[i][0],
				   producer_defaults[i][1], err, errlen);
	for (i = 0; !rc && cfg->properties && i < cfg->properties->n; i++) {
		pair = &cfg->properties->items[i];
		rc = kafkaconf_set(conf, pair->key, pair->value, err, errlen);
	}
	rd_kafka_conf_set_opaque(conf, p);
	rd_kafka_conf_set_dr_msg_cb(conf, producer_on_delivery);
	rd_kafka_conf_set_error_cb(conf, producer_on_error);
	rd_kafka_conf_set_stats_cb(conf, producer_on_stats);
	rd_kafka_conf_set_log_cb(conf, kafkaconf_log);
	return rc;
}

/* message.max.bytes as the handle has it, less PRODUCER_MARGIN. */
static size_t producer_value_limit(rd_kafka_t *rk)
{
	char value[32];
	size_t size = sizeof(value);
	unsigned long long max = 1000000;	/* librdkafka's default */

	if (rd_kafka_conf_get(rd_kafka_conf(rk), "message.max.bytes", value,
			      &size) == RD_KAFKA_CONF_OK)
		max = strtoull(value, NULL, 10);
	/* librdkafka's minimum is 1000, so this stays positive. */
	return max > 2 * PRODUCER_MARGIN ? (size_t)max - PRODUCER_MARGIN : (size_t)max / 2;
}

/* The handle, the topic, and the main queue waking the caller's pipe. */
static int producer_open(struct producer *p, rd_kafka_conf_t *conf,
			 const char *topic, char *err, size_t errlen)
{
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
	if (!p->rk) {
		rd_kafka_conf_destroy(conf);
		return -EINVAL;
	}
	p->rkt = rd_kafka_topic_new(p->rk, topic, NULL);
	if (!p->rkt) {
		snprintf(err, errlen, "topic %s: %s", topic,
			 rd_kafka_err2str(rd_kafka_last_error()));
		return -EINVAL;
	}
	p->max_value = producer_value_limit(p->rk);
	p->mainq = rd_kafka_queue_get_main(p->rk);
	rd_kafka_queue_io_event_enable(p->mainq, p->wake[1], "1", 1);
	return 0;
}

struct producer *producer_new(const struct producer_config *cfg,
			      producer_ack_fn ack, void *arg,
			      struct metrics *metrics, char *err, size_t errlen)
{
	struct producer *p = xcalloc(1, sizeof(*p));
	rd_kafka_conf_t *conf;

	p->ack = ack;
	p->arg = arg;
	p->max_buffer = cfg->max_buffer;
	p->wake[0] = p->wake[1] = -1;
	producer_metrics_init(&p->m, metrics);
	if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	conf = rd_kafka_conf_new();
	if (producer_conf_fill(p, conf, cfg, err, errlen)) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	if (producer_open(p, conf, cfg->topic, err, errlen))
		goto fail;
	return p;
fail:
	producer_free(p);
	return NULL;
}

/* Serve the reports of purged messages, without passing them on, so that
 * librdkafka has nothing left in flight when it is destroyed. Bounded. */
static void producer_drain(struct producer *p)
{
	int64_t deadline = runtime_now_ms() + PRODUCER_FREE_WAIT_MS;

	rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	while (p->in_flight > 0 && runtime_now_ms() < deadline)
		rd_kafka_poll(p->rk, 10);
}

void producer_free(struct producer *p)
{
	if (!p)
		return;
	p->closing = true;
	if (p->rk)
		producer_drain(p);
	if (p->mainq) {
		rd_kafka_queue_io_event_enable(p->mainq, -1, NULL, 0);
		rd_kafka_queue_destroy(p->mainq);
	}
	if (p->rkt)
		rd_kafka_topic_destroy(p->rkt);
	if (p->rk)
		rd_kafka_destroy(p->rk);	/* frees what is left, values too */
	if (p->wake[0] >= 0) {
		close(p->wake[0]);
		close(p->wake[1]);
	}
	free(p);
}

size_t producer_max_value(const struct producer *p)
{
	return p->max_value;
}

/*
 * Memory that the messages in flight hold: their values, plus what
 * librdkafka keeps for each (its message struct, the key, the allocator's
 * rounding), so that max_buffer bounds the agent's memory, not only the
 * bytes of lines. Measured: peak RSS ~ 12 MiB + max_buffer with this.
 */
static uint64_t producer_cost(const struct producer *p)
{
	return p->in_flight_bytes + (uint64_t)p->in_flight * PRODUCER_MSG_OVERHEAD;
}

int producer_send(struct producer *p, const char *key, size_t keylen,
		  char *value, size_t len, void *opaque)
{
	rd_kafka_resp_err_t err;

	if (len > p->max_value)
		return -EMSGSIZE;
	/* One message always goes, so a value above max_buffer cannot stall. */
	if (p->in_flight && producer_cost(p) + len + PRODUCER_MSG_OVERHEAD > p->max_buffer)
		return -ENOBUFS;
	if (rd_kafka_produce(p->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_FREE,
			     value, len, key, keylen, opaque) == 0) {
		p->in_flight++;
		p->in_flight_bytes += len;
		producer_queue_changed(p);
		return 0;
	}
	err = rd_kafka_last_error();
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return -ENOBUFS;
	if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
		return -EMSGSIZE;
	return -EIO;
}

void producer_poll(struct producer *p, int timeout_ms)
{
	char drain[64];

	/* Empty the pipe first: librdkafka writes to it only when its queue
	 * goes from empty to not, which rd_kafka_poll() below then empties. */
	while (read(p->wake[0], drain, sizeof(drain)) > 0)
		continue;
	rd_kafka_poll(p->rk, timeout_ms);
}

int producer_fd(const struct producer *p)
{
	return p->wake[0];
}

size_t producer_in_flight(const struct producer *p)
{
	return p->in_flight;
}

uint64_t producer_in_flight_bytes(const struct producer *p)
{
	return p->in_flight_bytes;
}

bool producer_outage(const struct producer *p)
{
	return p->outage;
}

bool producer_fatal(const struct producer *p, char *err, size_t errlen)
{
	if (p->fatal && err && errlen)
		snprintf(err, errlen, "%s", p->fatal_reason);
	return p->fatal;
}

int producer_flush(struct producer *p, int timeout_ms)
{
	int64_t deadline = runtime_now_ms() + timeout_ms;
	int64_t left;

	while (p->in_flight > 0) {
		left = deadline - runtime_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		producer_poll(p, left < 100 ? (int)left : 100);
	}
	return 0;
}
