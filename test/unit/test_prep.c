/*
 * Unit tests of aggregator/prep: the slots of a batch prepared on two
 * threads equal what message_decode, accesslog_parse and dimensions_extract
 * give for each message on the test's thread (the oracle), for batches of
 * every size around the split; the slots of a batch stay intact while the
 * next batch is prepared (the loop counts one while the worker prepares the
 * other), and until the prep_end() after next. Messages are agent
 * envelopes, bare lines, lines that do not parse and values that are not
 * JSON, with keys that are source ids and keys that cannot be (NUL inside,
 * too long, none), in a seeded random order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/accesslog.h"
#include "aggregator/aggregator_config.h"
#include "aggregator/dimensions.h"
#include "aggregator/prep.h"
#include "buf.h"
#include "message.h"
#include "xalloc.h"

#define NMSGS 3000
#define MAX_VALS 16

/* What the oracle found in one message. */
struct expect {
	int decode_rc;
	bool keyed;
	bool parsed;
	int64_t time_ms;
	size_t nvals;
	uint32_t dim[MAX_VALS];
	char *val[MAX_VALS];
	size_t len[MAX_VALS];
};

static struct {
	struct aggregator_config cfg;
	struct accesslog *parser;
	struct dimensions *dims;
	rd_kafka_message_t msgs[NMSGS];
	struct expect want[NMSGS];
} t;

static void expect_emit(void *arg, size_t dim, const char *value, size_t len)
{
	struct expect *e = arg;

	assert_true(e->nvals < MAX_VALS);
	e->dim[e->nvals] = (uint32_t)dim;
	e->val[e->nvals] = xmalloc(len + 1);
	memcpy(e->val[e->nvals], value, len);
	e->len[e->nvals++] = len;
}

static void oracle(const rd_kafka_message_t *msg, struct expect *e)
{
	struct message_event ev;
	struct accesslog_record rec;
	char why[160];

	memset(e, 0, sizeof(*e));
	e->time_ms = -1;
	e->decode_rc = message_decode(msg->payload, msg->len, &ev, why, sizeof(why));
	/* every envelope here names its file; prep asks for no names */
	assert_true(!ev.enveloped || ev.path);
	if (e->decode_rc)
		return;
	/* a source id: an envelope's key of 1 to 255 bytes without NUL */
	e->keyed = ev.enveloped && ev.offset >= 0 && msg->key_len >= 1 &&
		   msg->key_len <= 255 && !memchr(msg->key, 0, msg->key_len);
	if (!accesslog_parse(t.parser, ev.line, ev.len, &rec)) {
		e->parsed = true;
		e->time_ms = rec.time_ms;
		dimensions_extract(t.dims, &rec, expect_emit, e);
	}
	message_event_fini(&ev);
}

/* A combined line with a hashtag now and then; one in seven does not parse. */
static char *make_line(unsigned *seed, int i)
{
	static const char *const paths[] = {
		"/", "/index.html", "/search?q=%23Kafka", "/a/b#Rust", "/caf%C3%A9",
		"/x?tag=%23goodVibes&q=%23MariaDB", "/\"quoted\"", "/ünï",
	};
	static const char *const statuses[] = {"200", "304", "404", "500"};

	if (rand_r(seed) % 7 == 0)
		return xasprintf("garbage line %d", i);
	return xasprintf("10.0.%d.%d - - [24/Nov/2026:20:%02d:%02d +0100] "
			 "\"GET %s HTTP/1.1\" %s %d \"-\" \"agent %d\"",
			 i % 256, rand_r(seed) % 256, i / 60 % 60, i % 60,
			 paths[rand_r(seed) % 8], statuses[rand_r(seed) % 4], i, i);
}

static int group_setup(void **state)
{
	const char *top = getenv("top_srcdir");
	char *path = xasprintf("%s/test/data/config/good/aggregator-minimal.yml",
			       top ? top : ".");
	struct message_encoder *enc = message_encoder_new("/var/log/a.log", "web-1", NULL);
	struct config_errors errs = {0};
	char err[512], ts[MESSAGE_TIMESTAMP_LEN + 1];
	unsigned seed = 20261125;
	size_t bad = 0, unparsed = 0, hashtags = 0, keyed = 0;
	struct buf out;

	assert_int_equal(aggregator_config_load(&t.cfg, path, &errs), 0);
	free(path);
	t.parser = accesslog_new(t.cfg.log_format, err, sizeof(err));
	assert_non_null(t.parser);
	t.dims = dimensions_new(&t.cfg.dimensions, t.parser, err, sizeof(err));
	assert_non_null(t.dims);
	message_timestamp(INT64_C(1795551980000), ts);
	buf_init(&out, 1 << 20);
	for (int i = 0; i < NMSGS; i++) {
		rd_kafka_message_t *m = &t.msgs[i];
		char *line = make_line(&seed, i);
		int kind = rand_r(&seed) % 10;

		if (kind < 6) {         /* an envelope */
			buf_reset(&out);
			assert_int_equal(message_encode(enc, ts, line, strlen(line),
							i * 100, 0, &out), 0);
			m->payload = xmalloc(buf_len(&out));
			memcpy(m->payload, buf_str(&out), buf_len(&out));
			m->len = buf_len(&out);
		} else if (kind < 9) {  /* a bare line */
			m->payload = xstrdup(line);
			m->len = strlen(line);
		} else {                /* not JSON: starts with '{' */
			m->payload = xasprintf("{\"message\": %d", i);
			m->len = strlen(m->payload);
		}
		m->offset = i;
		switch (rand_r(&seed) % 10) {
		case 0:
			break;          /* no key */
		case 1:                 /* a NUL inside */
			m->key = xasprintf("src%cx", 0);
			m->key_len = 5;
			break;
		case 2:                 /* too long for the column */
			m->key = xcalloc(1, 257);
			memset(m->key, 'k', 256);
			m->key_len = 256;
			break;
		default:
			m->key = xasprintf("source-%d", i % 17);
			m->key_len = strlen(m->key);
		}
		free(line);
		oracle(m, &t.want[i]);
		bad += t.want[i].decode_rc != 0;
		unparsed += !t.want[i].decode_rc && !t.want[i].parsed;
		hashtags += t.want[i].nvals > 2;
		keyed += t.want[i].keyed;
	}
	/* every kind of message is there */
	assert_true(bad > 100 && unparsed > 100 && hashtags > 100 && keyed > 100);
	buf_fini(&out);
	message_encoder_free(enc);
	return 0;
}

static int group_teardown(void **state)
{
	for (int i = 0; i < NMSGS; i++) {
		free(t.msgs[i].payload);
		free(t.msgs[i].key);
		for (size_t v = 0; v < t.want[i].nvals; v++)
			free(t.want[i].val[v]);
	}
	dimensions_free(t.dims);
	accesslog_free(t.parser);
	aggregator_config_free(&t.cfg);
	return 0;
}

static void check_slot(const struct prep_slot *slot, const struct expect *e)
{
	assert_int_equal(slot->decode_rc, e->decode_rc);
	if (e->decode_rc) {
		assert_true(slot->why[0] != '\0');
		assert_false(slot->keyed);
		return;
	}
	assert_int_equal(slot->keyed, e->keyed);
	assert_null(slot->ev.path);
	assert_int_equal(slot->parsed, e->parsed);
	assert_int_equal(slot->time_ms, e->time_ms);
	assert_int_equal(slot->nvals, e->nvals);
	for (size_t v = 0; v < e->nvals; v++) {
		assert_int_equal(slot->vals[v].dim, e->dim[v]);
		assert_int_equal(slot->vals[v].len, e->len[v]);
		assert_memory_equal(slot->arena + slot->vals[v].off, e->val[v],
				    e->len[v]);
	}
}

static void check_batch(const struct prep_slot *slots,
			rd_kafka_message_t *const *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		check_slot(&slots[i], &t.want[msgs[i]->offset]);
		if (slots[i].keyed) {
			assert_int_equal(strlen(slots[i].key), msgs[i]->key_len);
			assert_memory_equal(slots[i].key, msgs[i]->key,
					    msgs[i]->key_len);
		}
	}
}

/* Pointers to n messages from first on, wrapping around. */
static void pick(rd_kafka_message_t **msgs, size_t first, size_t n)
{
	for (size_t i = 0; i < n; i++)
		msgs[i] = &t.msgs[(first + i) % NMSGS];
}

/* Every batch size around the split, and whole batches, equal the oracle. */
static void test_slots_equal_oracle(void **state)
{
	static const size_t sizes[] = {0, 1, 2, 63, 64, 65, 100, 511, 1000,
				       PREP_BATCH, PREP_BATCH, PREP_BATCH, 7};
	rd_kafka_message_t *msgs[PREP_BATCH];
	char err[512];
	struct prep *pp = prep_new(&t.cfg, err, sizeof(err));
	size_t first = 0;

	assert_non_null(pp);
	/* enough rounds for the worker's share to move both ways */
	for (int round = 0; round < 20; round++)
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			pick(msgs, first, sizes[s]);
			prep_begin(pp, msgs, sizes[s]);
			check_batch(prep_end(pp), msgs, sizes[s]);
			first += sizes[s] + 1;
		}
	prep_free(pp);
}

/*
 * The loop counts batch i while batch i+1 is begun and ended: batch i's
 * slots stay as they were through both.
 */
static void test_slots_kept_while_next_prepared(void **state)
{
	rd_kafka_message_t *a[PREP_BATCH], *b[PREP_BATCH], *c[PREP_BATCH];
	const struct prep_slot *sa, *sb, *sc;
	char err[512];
	struct prep *pp = prep_new(&t.cfg, err, sizeof(err));

	assert_non_null(pp);
	pick(a, 0, PREP_BATCH);
	pick(b, PREP_BATCH, PREP_BATCH);
	pick(c, 2 * PREP_BATCH, 700);
	prep_begin(pp, a, PREP_BATCH);
	sa = prep_end(pp);
	prep_begin(pp, b, PREP_BATCH);
	check_batch(sa, a, PREP_BATCH);         /* while the worker fills b */
	sb = prep_end(pp);
	assert_ptr_not_equal(sa, sb);
	check_batch(sa, a, PREP_BATCH);
	check_batch(sb, b, PREP_BATCH);
	prep_begin(pp, c, 700);
	check_batch(sb, b, PREP_BATCH);
	sc = prep_end(pp);
	assert_ptr_equal(sc, sa);               /* a's slots, reused */
	check_batch(sc, c, 700);
	check_batch(sb, b, PREP_BATCH);
	prep_free(pp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots_equal_oracle),
		cmocka_unit_test(test_slots_kept_while_next_prepared),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
