/*
 * Unit tests of agent/producer against librdkafka's mock cluster, run in
 * this process on a throwaway handle as test/support/devbroker.c does: every
 * message acknowledged once and in order per key, the max_buffer and size
 * limits, configuration errors and overrides, a broker outage with its log
 * lines and metrics, the wake-up fd, fatal errors, and freeing with
 * messages in flight. Every wait is bounded and driven by the producer's
 * fd, never by sleeping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "buf.h"
#include "config.h"
#include "logging.h"
#include "metrics.h"
#include "agent/producer.h"

#define TOPIC "weblogs"
#define PARTITIONS 4
#define KEYS 8
#define MANY 10000
#define WAIT_MS 15000
#define APIKEY_INIT_PRODUCER_ID 22	/* Kafka protocol InitProducerId */

/* One message sent by a test; its address is the message opaque. */
struct sent {
	int key;
	int seq;		/* order of sending within its key */
	int acks;
	int err;
};

struct fixture {
	rd_kafka_t *rk;		/* only hosts the mock cluster */
	rd_kafka_mock_cluster_t *mcluster;
	struct metrics *metrics;
	struct producer *p;
	struct sent *sent;
	size_t nsent;
	int next_seq[KEYS];	/* seq of the next message sent per key */
	int last_seq[KEYS];	/* last acknowledged seq per key */
	size_t acks, errors;
	int last_err;
	off_t log_start;	/* where this test's log lines begin */
};

static int log_fd = -1;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_ack(void *opaque, int err, const char *msg, void *arg)
{
	struct fixture *f = arg;
	struct sent *s = opaque;

	assert_non_null(msg);
	assert_true(s >= f->sent && s < f->sent + f->nsent);
	assert_int_equal(s->acks, 0);
	s->acks++;
	s->err = err;
	f->acks++;
	if (err) {
		f->errors++;
		f->last_err = err;
		return;
	}
	assert_true(s->seq > f->last_seq[s->key]);
	f->last_seq[s->key] = s->seq;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	int i;

	if (!f)
		return -1;
	rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr));
	f->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!f->rk)
		return -1;
	f->mcluster = rd_kafka_mock_cluster_new(f->rk, 1);
	if (!f->mcluster ||
	    rd_kafka_mock_topic_create(f->mcluster, TOPIC, PARTITIONS, 1))
		return -1;
	f->metrics = metrics_new();
	f->sent = calloc(MANY, sizeof(*f->sent));
	for (i = 0; i < KEYS; i++)
		f->last_seq[i] = -1;
	f->log_start = lseek(log_fd, 0, SEEK_END);
	*state = f;
	return f->sent ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	producer_free(f->p);
	rd_kafka_mock_cluster_destroy(f->mcluster);
	rd_kafka_destroy(f->rk);
	metrics_free(f->metrics);
	free(f->sent);
	free(f);
	return 0;
}

/* A producer on the mock cluster with these properties (NULL-ended pairs). */
static struct producer *open_producer(struct fixture *f, uint64_t max_buffer,
				      const char *const *props, char *err,
				      size_t errlen)
{
	struct config_pair pairs[8];
	struct config_map map = { 0, pairs };
	struct producer_config cfg = {
		.brokers = rd_kafka_mock_cluster_bootstraps(f->mcluster),
		.topic = TOPIC,
		.properties = &map,
		.max_buffer = max_buffer,
	};

	for (; props && props[0]; props += 2, map.n++) {
		pairs[map.n].key = (char *)props[0];
		pairs[map.n].value = (char *)props[1];
	}
	return producer_new(&cfg, on_ack, f, f->metrics, err, errlen);
}

static void start(struct fixture *f, uint64_t max_buffer)
{
	char err[512] = "";

	f->p = open_producer(f, max_buffer, NULL, err, sizeof(err));
	if (!f->p)
		fail_msg("producer_new: %s", err);
}

/* Send one message of len bytes with key k; returns producer_send()'s rc.
 * On failure the value is freed here, as the caller of the producer would. */
static int send_one(struct fixture *f, int k, size_t len)
{
	struct sent *s = &f->sent[f->nsent];
	char key[16], *value = malloc(len ? len : 1);
	int rc;

	assert_non_null(value);
	assert_true(f->nsent < MANY);
	memset(value, 'a' + k, len);
	snprintf(key, sizeof(key), "source-%d", k);
	s->key = k;
	s->seq = f->next_seq[k];
	rc = producer_send(f->p, key, strlen(key), value, len, s);
	if (rc) {
		free(value);
		return rc;
	}
	f->nsent++;
	f->next_seq[k]++;
	return 0;
}

/* Serve the producer through its fd until done(f) or timeout_ms pass. */
static bool wait_for(struct fixture *f, bool (*done)(struct fixture *f),
		     int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = producer_fd(f->p), .events = POLLIN };

	while (!done(f)) {
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return false;
		if (poll(&pfd, 1, left < 100 ? (int)left : 100) > 0)
			producer_poll(f->p, 0);
	}
	return true;
}

static bool all_acked(struct fixture *f)
{
	return f->acks == f->nsent;
}

static bool some_acked(struct fixture *f)
{
	return f->acks > 0;
}

static bool in_outage(struct fixture *f)
{
	return producer_outage(f->p);
}

static bool not_in_outage(struct fixture *f)
{
	return !producer_outage(f->p);
}

static bool is_fatal(struct fixture *f)
{
	return producer_fatal(f->p, NULL, 0);
}

/* The value of one sample line of the rendered metrics, or -1 if absent. */
static double metric(struct fixture *f, const char *series)
{
	struct buf out;
	const char *at;
	double value = -1;
	size_t n = strlen(series);

	buf_init(&out, 1 << 20);
	assert_int_equal(metrics_render(f->metrics, &out), 0);
	for (at = buf_str(&out); (at = strstr(at, series)); at += n)
		if ((at == buf_str(&out) || at[-1] == '\n') && at[n] == ' ')
			value = strtod(at + n + 1, NULL);
	buf_fini(&out);
	return value;
}

/* How many of this test's log lines contain needle. */
static int log_count(struct fixture *f, const char *needle)
{
	off_t end = lseek(log_fd, 0, SEEK_END);
	size_t size = (size_t)(end - f->log_start);
	char *text = malloc(size + 1);
	const char *at;
	int n = 0;

	assert_non_null(text);
	assert_int_equal(pread(log_fd, text, size, f->log_start), (ssize_t)size);
	text[size] = '\0';
	for (at = text; (at = strstr(at, needle)); at++)
		n++;
	free(text);
	return n;
}

static void test_free_null(void **state)
{
	producer_free(NULL);
}

/* 10,000 messages over 8 keys: each acked once, in send order per key,
 * served only when the fd said so, and counted in the metrics. */
static void test_many_acked_in_order(void **state)
{
	struct fixture *f = *state;
	int i;

	start(f, 16 << 20);
	for (i = 0; i < MANY; i++)
		assert_int_equal(send_one(f, i % KEYS, 100 + i % 50), 0);
	assert_int_equal(producer_in_flight(f->p), MANY);
	assert_true(wait_for(f, all_acked, WAIT_MS));
	assert_int_equal(f->errors, 0);
	for (i = 0; i < MANY; i++)
		assert_int_equal(f->sent[i].acks, 1);
	assert_int_equal(producer_in_flight(f->p), 0);
	assert_int_equal(producer_in_flight_bytes(f->p), 0);
	assert_int_equal(producer_flush(f->p, 0), 0);
	assert_true(metric(f, "logtally_agent_lines_acked_total") == MANY);
	assert_true(metric(f, "logtally_agent_bytes_acked_total") ==
		    100.0 * MANY + 24.5 * MANY);
	assert_true(metric(f, "logtally_agent_queue_messages") == 0);
	assert_true(metric(f, "logtally_agent_queue_bytes") == 0);
	assert_false(producer_outage(f->p));
}

/* The fd becomes readable once a delivery report is waiting. */
static void test_fd_readable(void **state)
{
	struct fixture *f = *state;
	struct pollfd pfd;

	start(f, 1 << 20);
	pfd.fd = producer_fd(f->p);
	pfd.events = POLLIN;
	assert_int_equal(send_one(f, 0, 10), 0);
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_true(pfd.revents & POLLIN);
	assert_true(wait_for(f, all_acked, WAIT_MS));
	assert_int_equal(f->errors, 0);
}

/* Past max_buffer bytes in flight, sends fail with -ENOBUFS and leave the
 * value to the caller; an ack makes room again. */
static void test_max_buffer(void **state)
{
	struct fixture *f = *state;
	int i;

	start(f, 10 * (100 + PRODUCER_MSG_OVERHEAD));
	for (i = 0; i < 10; i++)
		assert_int_equal(send_one(f, i % KEYS, 100), 0);
	assert_int_equal(producer_in_flight_bytes(f->p), 1000);
	assert_int_equal(send_one(f, 0, 100), -ENOBUFS);
	assert_int_equal(send_one(f, 0, 1), -ENOBUFS);
	assert_int_equal(producer_in_flight(f->p), 10);
	assert_true(wait_for(f, some_acked, WAIT_MS));
	assert_int_equal(send_one(f, 0, 100), 0);
	assert_int_equal(producer_flush(f->p, WAIT_MS), 0);
	assert_int_equal(f->acks, 11);
	assert_int_equal(f->errors, 0);
}

/* One value larger than max_buffer still goes when nothing is in flight. */
static void test_max_buffer_single_large(void **state)
{
	struct fixture *f = *state;

	start(f, 100);
	assert_int_equal(send_one(f, 0, 5000), 0);
	assert_int_equal(send_one(f, 0, 1), -ENOBUFS);
	assert_int_equal(producer_flush(f->p, WAIT_MS), 0);
	assert_int_equal(f->acks, 1);
}

/* A value over producer_max_value() is refused, one at it is delivered,
 * and librdkafka's own size check maps to -EMSGSIZE too. */
static void test_message_size(void **state)
{
	struct fixture *f = *state;
	size_t max;
	char *key, *value;

	start(f, 16 << 20);
	max = producer_max_value(f->p);
	assert_true(max >= 1000000 - 1024 && max < 1000000);
	assert_int_equal(send_one(f, 0, max + 1), -EMSGSIZE);
	assert_int_equal(producer_in_flight(f->p), 0);
	assert_int_equal(send_one(f, 0, max), 0);
	assert_int_equal(producer_flush(f->p, WAIT_MS), 0);
	assert_int_equal(f->errors, 0);

	key = calloc(1, 4096);
	value = calloc(1, max);
	memset(key, 'k', 4095);
	assert_int_equal(producer_send(f->p, key, 4095, value, max, NULL), -EMSGSIZE);
	free(key);
	free(value);
}

static void test_bad_property(void **state)
{
	static const char *const unknown[] = { "no.such.property", "1", NULL };
	static const char *const invalid[] = { "compression.type", "zip", NULL };
	struct fixture *f = *state;
	char err[512] = "";

	assert_null(open_producer(f, 1000, unknown, err, sizeof(err)));
	assert_non_null(strstr(err, "No such configuration property"));
	assert_non_null(strstr(err, "no.such.property"));
	assert_null(open_producer(f, 1000, invalid, err, sizeof(err)));
	assert_non_null(strstr(err, "compression.type"));
	assert_non_null(strstr(err, "zip"));
}

/* Properties come after the defaults: a smaller librdkafka queue than ours
 * shows up as -ENOBUFS, and another compression is accepted. */
static void test_properties_override(void **state)
{
	static const char *const props[] = {
		"compression.type", "none",
		"queue.buffering.max.messages", "5",
		"message.max.bytes", "20000",
		NULL,
	};
	struct fixture *f = *state;
	char err[512] = "";
	int i;

	f->p = open_producer(f, 16 << 20, props, err, sizeof(err));
	if (!f->p)
		fail_msg("producer_new: %s", err);
	assert_int_equal(producer_max_value(f->p), 20000 - 512);
	for (i = 0; i < 5; i++)
		assert_int_equal(send_one(f, 0, 10), 0);
	assert_int_equal(send_one(f, 0, 10), -ENOBUFS);
	assert_int_equal(producer_flush(f->p, WAIT_MS), 0);
	assert_int_equal(f->acks, 5);
	assert_int_equal(f->errors, 0);
}

/* The broker goes down with messages in flight: the outage is logged once,
 * shown in metrics, the messages wait; back up, all are acknowledged. */
static void test_outage(void **state)
{
	struct fixture *f = *state;
	int64_t until;
	int i;

	start(f, 16 << 20);
	assert_int_equal(send_one(f, 0, 10), 0);
	assert_int_equal(producer_flush(f->p, WAIT_MS), 0);
	assert_true(metric(f, "logtally_agent_kafka_outage") == 0);

	assert_int_equal(rd_kafka_mock_broker_set_down(f->mcluster, 1), 0);
	for (i = 1; i < 101; i++)
		assert_int_equal(send_one(f, i % KEYS, 10), 0);
	assert_true(wait_for(f, in_outage, WAIT_MS));
	assert_true(metric(f, "logtally_agent_kafka_outage") == 1);
	assert_true(metric(f, "logtally_agent_kafka_outages_total") == 1);
	/* A while later nothing has failed and nothing was acknowledged. */
	until = now_ms() + 1500;
	while (now_ms() < until)
		producer_poll(f->p, 100);
	assert_int_equal(f->acks, 1);
	assert_int_equal(producer_in_flight(f->p), 100);
	assert_true(metric(f, "logtally_agent_queue_messages") == 100);
	assert_true(producer_outage(f->p));

	assert_int_equal(rd_kafka_mock_broker_set_up(f->mcluster, 1), 0);
	assert_int_equal(producer_flush(f->p, WAIT_MS), 0);
	assert_int_equal(f->errors, 0);
	assert_int_equal(f->acks, 101);
	assert_false(producer_outage(f->p));
	assert_true(metric(f, "logtally_agent_kafka_outage") == 0);
	assert_true(metric(f, "logtally_agent_kafka_outages_total") == 1);
	assert_int_equal(log_count(f, "Kafka unreachable: "), 1);
	assert_int_equal(log_count(f, "; reading paused, retrying"), 1);
	assert_int_equal(log_count(f, "Kafka reachable again after "), 1);
}

/* An idle producer's outage ends when the broker is back, with no
 * delivery to tell: from librdkafka's statistics. */
static void test_outage_idle(void **state)
{
	struct fixture *f = *state;

	start(f, 16 << 20);
	assert_int_equal(send_one(f, 0, 10), 0);
	assert_int_equal(producer_flush(f->p, WAIT_MS), 0);
	assert_int_equal(rd_kafka_mock_broker_set_down(f->mcluster, 1), 0);
	assert_true(wait_for(f, in_outage, WAIT_MS));
	assert_int_equal(rd_kafka_mock_broker_set_up(f->mcluster, 1), 0);
	assert_true(wait_for(f, not_in_outage, WAIT_MS));
	assert_int_equal(f->acks, 1);
	assert_true(metric(f, "logtally_agent_kafka_outage") == 0);
	assert_int_equal(log_count(f, "Kafka unreachable: "), 1);
	assert_int_equal(log_count(f, "Kafka reachable again after "), 1);
}

/* A fatal error (here: not authorised to get a producer id) is logged,
 * reported by producer_fatal(), and fails the messages in flight. The
 * answer comes 500 ms late, so that a message is in flight when it does
 * (under the sanitizers it once came before the first send). */
static void test_fatal(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";

	rd_kafka_mock_broker_push_request_error_rtts(f->mcluster, 1, APIKEY_INIT_PRODUCER_ID, 1,
						     RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
						     500);
	start(f, 16 << 20);
	assert_false(producer_fatal(f->p, err, sizeof(err)));
	assert_int_equal(send_one(f, 0, 10), 0);
	assert_true(wait_for(f, is_fatal, WAIT_MS));
	assert_true(producer_fatal(f->p, err, sizeof(err)));
	assert_non_null(strstr(err, "authorization failed"));
	assert_true(wait_for(f, all_acked, WAIT_MS));
	assert_int_equal(f->errors, 1);
	assert_int_not_equal(f->last_err, 0);
	assert_true(metric(f, "logtally_agent_delivery_errors_total{kind=\"purge_queue\"}") == 1);
	assert_int_equal(log_count(f, " ERROR "), 1);
	assert_int_equal(send_one(f, 0, 10), -EIO);
}

/* Freeing with messages queued and in flight calls no ack, leaks nothing
 * (the sanitizer and valgrind runs check the values are freed). */
static void test_free_in_flight(void **state)
{
	struct fixture *f = *state;
	int i;

	start(f, 16 << 20);
	assert_int_equal(send_one(f, 0, 10), 0);
	assert_int_equal(producer_flush(f->p, WAIT_MS), 0);
	for (i = 0; i < 500; i++)
		assert_int_equal(send_one(f, i % KEYS, 1000), 0);
	/* Let some reach the broker so that both purges have work. */
	poll(&(struct pollfd){ .fd = producer_fd(f->p), .events = POLLIN }, 1, 20);
	producer_free(f->p);
	f->p = NULL;
	assert_int_equal(f->acks, 1);
}

/* The same with the broker down: nothing can be delivered. */
static void test_free_during_outage(void **state)
{
	struct fixture *f = *state;
	int i;

	start(f, 16 << 20);
	assert_int_equal(send_one(f, 0, 10), 0);
	assert_int_equal(producer_flush(f->p, WAIT_MS), 0);
	assert_int_equal(rd_kafka_mock_broker_set_down(f->mcluster, 1), 0);
	for (i = 0; i < 50; i++)
		assert_int_equal(send_one(f, i % KEYS, 100), 0);
	assert_true(wait_for(f, in_outage, WAIT_MS));
	assert_int_equal(producer_flush(f->p, 200), -ETIMEDOUT);
	producer_free(f->p);
	f->p = NULL;
	assert_int_equal(f->acks, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_null),
		cmocka_unit_test_setup_teardown(test_many_acked_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_readable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_buffer_single_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_property, setup, teardown),
		cmocka_unit_test_setup_teardown(test_properties_override, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outage_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_during_outage, setup, teardown),
	};
	char path[] = "/tmp/test_producer.XXXXXX";
	int rc;

	log_fd = mkstemp(path);
	if (log_fd < 0)
		return 1;
	unlink(path);
	logging_init("logtally-agent", LOGGING_INFO);
	logging_set_output(log_fd);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	logging_set_output(STDERR_FILENO);
	close(log_fd);
	return rc;
}
