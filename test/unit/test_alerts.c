/*
 * Unit tests of the alerts' parts that need neither MariaDB nor a real
 * receiver: alert_rule's decisions (sums, shares, min_hits, match, each;
 * firing once, silence while a state holds, resolving once, values that
 * come and go on their own, a round left unended; percentiles from
 * histograms, clamped to the largest duration, under min_timed; averages
 * and bytes), alert_message's JSON body (every field, what a percentile
 * rule says it saw, and values from the logs that round-trip through a
 * JSON parser),
 * and webhook's sender against a libmicrohttpd receiver in this process
 * that answers what each test scripts: retries on 5xx and 429, none on
 * 400, headers passed, a full queue dropping its oldest, a retrying rule
 * not holding back another, and a stop that does not wait for a silent
 * receiver. The end-to-end run against MariaDB is
 * test/integration/aggregator_alerts.sh.
 *
 * Size: over 1000 lines. The rule tests, the message tests and the
 * webhook tests share the fixtures at the top; the next change here
 * should move alert_message's tests into test_alert_message.c with them
 * in a shared header, as test_store did with store_fixture.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aggregator/alert_message.h"
#include "aggregator/alert_rule.h"
#include "aggregator/window.h"
#include "aggregator/webhook.h"
#include "buf.h"
#include "logging.h"
#include "metrics.h"

#define T_AT INT64_C(1795579800)        /* 2026-11-25T04:10:00Z */
#define WAIT_MAX_MS 30000               /* a wait that never ends is a failure */

/* --- rules ------------------------------------------------------------------ */

static struct aggregator_alert errors_5xx = {
	.name = "errors-5xx", .dimension = "status", .match = "^5",
	.over = 60000, .condition = AGGREGATOR_ALERT_SHARE_ABOVE,
	.share_above = "5%", .min_hits = 20,
	.webhook = "http://127.0.0.1:9/hook",
};

static struct aggregator_alert hot_tags = {
	.name = "hot-tags", .dimension = "hashtag", .match = "", .each = true,
	.over = 60000, .above = 3, .share_above = "", .min_hits = 1,
	.webhook = "http://127.0.0.1:9/hook",
};

struct sum {
	const char *value;
	uint64_t hits;
};

static struct alert_rule *rule_new(const struct aggregator_alert *cfg)
{
	char err[256];
	struct alert_rule *rule = alert_rule_new(cfg, err, sizeof(err));

	if (!rule)
		fail_msg("alert_rule_new: %s", err);
	return rule;
}

/* Adds value with hits and nothing else. */
static void add_hits(struct alert_rule *rule, const char *value, size_t len,
		     uint64_t hits)
{
	struct alert_rule_row row = {.hits = hits};

	alert_rule_add(rule, value, len, &row);
}

/* One round over sums[0..n); its events in *events. */
static size_t round_of(struct alert_rule *rule, const struct sum *sums, size_t n,
		       struct alert_rule_event **events)
{
	alert_rule_begin(rule);
	for (size_t i = 0; i < n; i++)
		add_hits(rule, sums[i].value, strlen(sums[i].value), sums[i].hits);
	return alert_rule_end(rule, events);
}

#define ROUND(rule, events, ...) round_of(rule, (const struct sum[]){__VA_ARGS__}, \
	sizeof((const struct sum[]){__VA_ARGS__}) / sizeof(struct sum), events)

/* The one event of a round, checked and freed. */
static void expect_one(size_t n, struct alert_rule_event *ev,
		       enum alert_rule_status status, uint64_t hits, uint64_t total)
{
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].status, status);
	assert_null(ev[0].value);
	assert_int_equal(ev[0].hits, hits);
	assert_int_equal(ev[0].total, total);
	alert_rule_events_free(ev, n);
}

static void test_share_fires_once_and_resolves_once(void **state)
{
	struct alert_rule *rule = rule_new(&errors_5xx);
	struct alert_rule_event *ev;
	size_t n;

	/* exactly 5% is not above 5% */
	n = ROUND(rule, &ev, {"200", 95}, {"500", 5});
	assert_int_equal(n, 0);
	assert_null(ev);
	n = ROUND(rule, &ev, {"200", 90}, {"503", 6}, {"404", 0}, {"500", 4});
	expect_one(n, ev, ALERT_RULE_FIRING, 10, 100);
	assert_int_equal(alert_rule_firing(rule), 1);
	/* still above: nothing more is said */
	assert_int_equal(ROUND(rule, &ev, {"200", 50}, {"502", 50}), 0);
	assert_int_equal(ROUND(rule, &ev, {"200", 80}, {"500", 20}), 0);
	n = ROUND(rule, &ev, {"200", 99}, {"500", 1});
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].status, ALERT_RULE_RESOLVED);
	assert_true(ev[0].observed > 0.0099 && ev[0].observed < 0.0101);
	alert_rule_events_free(ev, n);
	assert_int_equal(alert_rule_firing(rule), 0);
	assert_int_equal(ROUND(rule, &ev, {"200", 99}, {"500", 1}), 0);
	alert_rule_free(rule);
}

static void test_share_needs_min_hits(void **state)
{
	struct alert_rule *rule = rule_new(&errors_5xx);
	struct alert_rule_event *ev;
	size_t n;

	/* one 500 out of 2 requests pages nobody, nor 19 out of 19 */
	assert_int_equal(ROUND(rule, &ev, {"200", 1}, {"500", 1}), 0);
	assert_int_equal(ROUND(rule, &ev, {"500", 19}), 0);
	n = ROUND(rule, &ev, {"500", 20});
	expect_one(n, ev, ALERT_RULE_FIRING, 20, 20);
	/* no traffic at all: 0 hits hold no share */
	n = ROUND(rule, &ev, {"500", 0});
	expect_one(n, ev, ALERT_RULE_RESOLVED, 0, 0);
	alert_rule_free(rule);
}

static void test_hits_over_the_matching_sum(void **state)
{
	struct aggregator_alert cfg = hot_tags;
	struct alert_rule *rule;
	struct alert_rule_event *ev;
	size_t n;

	cfg.each = false;
	cfg.match = "^go";
	cfg.above = 10;
	rule = rule_new(&cfg);
	/* 6 + 4 = 10 matching: not above; "other" does not match */
	assert_int_equal(ROUND(rule, &ev, {"good", 6}, {"other", 50}, {"gone", 4}), 0);
	n = ROUND(rule, &ev, {"good", 6}, {"other", 50}, {"gone", 5});
	expect_one(n, ev, ALERT_RULE_FIRING, 11, 61);
	n = ROUND(rule, &ev, {"other", 500});
	expect_one(n, ev, ALERT_RULE_RESOLVED, 0, 500);
	alert_rule_free(rule);
}

/* The events of a round as "F:value" or "R:value", sorted, joined by spaces. */
static void events_text(struct alert_rule_event *ev, size_t n, char *out, size_t len)
{
	char *items[2 * ALERT_RULE_INSTANCES_MAX];

	for (size_t i = 0; i < n; i++) {
		assert_non_null(ev[i].value);
		assert_int_equal(ev[i].len, strlen(ev[i].value));
		if (asprintf(&items[i], "%c:%s", ev[i].status == ALERT_RULE_FIRING ?
			     'F' : 'R', ev[i].value) < 0)
			fail();
	}
	for (size_t i = 0; i < n; i++)          /* few: a selection sort */
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(items[j], items[i]) < 0) {
				char *t = items[i];

				items[i] = items[j];
				items[j] = t;
			}
	*out = '\0';
	for (size_t i = 0; i < n; i++) {
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "",
			 items[i]);
		free(items[i]);
	}
	alert_rule_events_free(ev, n);
}

#define EXPECT_EVENTS(rule, want, ...) do { \
	struct alert_rule_event *ev_; \
	size_t n_ = ROUND(rule, &ev_, __VA_ARGS__); \
	char got_[1024]; \
	events_text(ev_, n_, got_, sizeof(got_)); \
	assert_string_equal(got_, want); \
} while (0)

static void test_each_value_on_its_own(void **state)
{
	struct alert_rule *rule = rule_new(&hot_tags);

	EXPECT_EVENTS(rule, "F:x F:z", {"x", 5}, {"y", 2}, {"z", 4});
	assert_int_equal(alert_rule_firing(rule), 2);
	EXPECT_EVENTS(rule, "", {"x", 9}, {"y", 3}, {"z", 4});
	EXPECT_EVENTS(rule, "F:y R:z", {"x", 5}, {"y", 6}, {"z", 1});
	/* x is not in the span any more: 0 hits */
	EXPECT_EVENTS(rule, "R:x", {"y", 6});
	EXPECT_EVENTS(rule, "R:y", {"w", 1});
	assert_int_equal(alert_rule_firing(rule), 0);
	alert_rule_free(rule);
}

static void test_each_share_with_match(void **state)
{
	struct aggregator_alert cfg = errors_5xx;
	struct alert_rule *rule;

	cfg.each = true;
	cfg.share_above = "0.25";
	cfg.min_hits = 1;
	rule = rule_new(&cfg);
	/* 200 is above 25% but does not match; 500 and 503 are apart */
	EXPECT_EVENTS(rule, "F:500", {"200", 50}, {"500", 30}, {"503", 20});
	EXPECT_EVENTS(rule, "F:503 R:500", {"200", 40}, {"503", 40}, {"500", 20});
	alert_rule_free(rule);
}

/* A round begun and never ended (a failed read) changes no state. */
static void test_unended_round_changes_nothing(void **state)
{
	struct alert_rule *rule = rule_new(&errors_5xx);
	struct alert_rule_event *ev;
	size_t n;

	n = ROUND(rule, &ev, {"500", 30});
	expect_one(n, ev, ALERT_RULE_FIRING, 30, 30);
	alert_rule_begin(rule);
	add_hits(rule, "200", 3, 1000);
	assert_int_equal(alert_rule_firing(rule), 1);
	assert_int_equal(ROUND(rule, &ev, {"500", 30}), 0);
	alert_rule_reset(rule);
	assert_int_equal(alert_rule_firing(rule), 0);
	n = ROUND(rule, &ev, {"500", 30});
	expect_one(n, ev, ALERT_RULE_FIRING, 30, 30);
	alert_rule_free(rule);
}

static void test_instances_are_bounded(void **state)
{
	struct aggregator_alert cfg = hot_tags;
	struct alert_rule *rule;
	struct alert_rule_event *ev;
	char value[32];
	size_t n;

	cfg.above = 0;
	rule = rule_new(&cfg);
	alert_rule_begin(rule);
	for (int i = 0; i < 3 * ALERT_RULE_INSTANCES_MAX; i++) {
		snprintf(value, sizeof(value), "tag%d", i);
		add_hits(rule, value, strlen(value), 1000 - (uint64_t)i);
	}
	n = alert_rule_end(rule, &ev);
	assert_int_equal(n, ALERT_RULE_INSTANCES_MAX);
	assert_string_equal(ev[0].value, "tag0");
	alert_rule_events_free(ev, n);
	assert_int_equal(alert_rule_firing(rule), ALERT_RULE_INSTANCES_MAX);
	alert_rule_free(rule);
}

static void test_share_values(void **state)
{
	char err[256];
	double share = -1;

	assert_int_equal(aggregator_config_share("5%", &share, err, sizeof(err)), 0);
	assert_true(share == 0.05);
	assert_int_equal(aggregator_config_share("0.05", &share, err, sizeof(err)), 0);
	assert_true(share == 0.05);
	assert_int_equal(aggregator_config_share("0.5%", &share, err, sizeof(err)), 0);
	assert_true(share == 0.005);
	assert_int_equal(aggregator_config_share("5", &share, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "write 5% or 0.05"));
	assert_int_equal(aggregator_config_share("100%", &share, err, sizeof(err)), -1);
	assert_int_equal(aggregator_config_share("5 %", &share, err, sizeof(err)), -1);
	assert_int_equal(aggregator_config_share("1e-2", &share, err, sizeof(err)), -1);
	assert_int_equal(aggregator_config_share("", &share, err, sizeof(err)), -1);
}

/* --- percentiles, averages and bytes ------------------------------------- */

static struct aggregator_alert slow_checkout = {
	.name = "slow-checkout", .dimension = "url", .match = "^/checkout",
	.over = 300000, .condition = AGGREGATOR_ALERT_P95_ABOVE,
	.duration_above = "500ms", .share_above = "", .min_hits = 1, .min_timed = 20,
	.webhook = "http://127.0.0.1:9/hook",
};

/* A value's sums over the span: hits, bytes, and n timed hits at each us of d. */
struct timed {
	const char *value;
	uint64_t hits, bytes;
	struct {
		uint64_t n, us;
	} d[3];
};

static void add_timed(struct alert_rule *rule, const struct timed *t)
{
	struct alert_rule_row row = {.hits = t->hits, .bytes = t->bytes};

	for (size_t i = 0; i < 3; i++) {
		row.timed += t->d[i].n;
		row.duration_us_sum += t->d[i].n * t->d[i].us;
		if (t->d[i].n && t->d[i].us > row.duration_us_max)
			row.duration_us_max = t->d[i].us;
	}
	alert_rule_add(rule, t->value, strlen(t->value), &row);
}

/* A round over ts[0..n): their counts, then their histograms if the rule wants them. */
static size_t round_timed(struct alert_rule *rule, const struct timed *ts, size_t n,
			  struct alert_rule_event **events)
{
	alert_rule_begin(rule);
	for (size_t i = 0; i < n; i++)
		add_timed(rule, &ts[i]);
	if (alert_rule_wants_latency(rule))
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < 3; j++)
				if (ts[i].d[j].n)
					alert_rule_add_latency(rule, ts[i].value,
							       strlen(ts[i].value),
							       window_bucket(ts[i].d[j].us),
							       ts[i].d[j].n);
	return alert_rule_end(rule, events);
}

#define TROUND(rule, events, ...) round_timed(rule, (const struct timed[]){__VA_ARGS__}, \
	sizeof((const struct timed[]){__VA_ARGS__}) / sizeof(struct timed), events)

#define EXPECT_TIMED(rule, want, ...) do { \
	struct alert_rule_event *ev_; \
	size_t n_ = TROUND(rule, &ev_, __VA_ARGS__); \
	char got_[1024]; \
	events_text(ev_, n_, got_, sizeof(got_)); \
	assert_string_equal(got_, want); \
} while (0)

static void test_p95_fires_and_resolves(void **state)
{
	struct alert_rule *rule = rule_new(&slow_checkout);
	struct alert_rule_event *ev;
	size_t n;

	/* 5 slow of 100: the 95th is fast; /home's slow ones do not match */
	n = TROUND(rule, &ev, {"/checkout", 120, 0, {{95, 100000}, {5, 620000}}},
		   {"/home", 50, 0, {{50, 2000000}}});
	assert_int_equal(n, 0);
	/* 10 of 100 in (500ms, 630ms], the largest 620ms: p95 = 500 + 120 * 5/10 */
	n = TROUND(rule, &ev, {"/checkout/pay", 60, 0, {{45, 100000}, {5, 620000}}},
		   {"/checkout", 55, 0, {{45, 100000}, {5, 600000}}});
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].status, ALERT_RULE_FIRING);
	assert_int_equal(ev[0].hits, 115);
	assert_int_equal(ev[0].timed, 100);
	assert_true(fabs(ev[0].observed - 560000) < 1e-6);
	assert_int_equal(ev[0].lo_us, 500000);
	assert_int_equal(ev[0].hi_us, 620000);
	alert_rule_events_free(ev, n);
	/* still slow: nothing more is said */
	assert_int_equal(TROUND(rule, &ev, {"/checkout", 100, 0, {{100, 700000}}}), 0);
	n = TROUND(rule, &ev, {"/checkout", 100, 0, {{100, 90000}}});
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].status, ALERT_RULE_RESOLVED);
	assert_true(ev[0].observed <= 90000);
	alert_rule_events_free(ev, n);
	alert_rule_free(rule);
}

/*
 * The estimate stays at or below the largest duration: 100 requests of
 * 499ms, in (400ms, 500ms], are not above 500ms however they interpolate.
 */
static void test_p95_at_the_largest_duration(void **state)
{
	struct alert_rule *rule = rule_new(&slow_checkout);
	struct alert_rule_event *ev;

	assert_int_equal(TROUND(rule, &ev, {"/checkout", 100, 0, {{100, 499000}}}), 0);
	assert_int_equal(alert_rule_firing(rule), 0);
	alert_rule_free(rule);
}

/* 19 slow requests page nobody; 20 do; too few resolve. */
static void test_percentile_needs_min_timed(void **state)
{
	struct aggregator_alert cfg = slow_checkout;
	struct alert_rule *rule;
	struct alert_rule_event *ev;
	size_t n;

	cfg.condition = AGGREGATOR_ALERT_P50_ABOVE;
	cfg.duration_above = "1s";
	rule = rule_new(&cfg);
	/* hits without a duration do not count towards min_timed */
	assert_int_equal(TROUND(rule, &ev, {"/checkout", 500, 0, {{19, 3000000}}}), 0);
	n = TROUND(rule, &ev, {"/checkout", 20, 0, {{20, 3000000}}});
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].status, ALERT_RULE_FIRING);
	alert_rule_events_free(ev, n);
	n = TROUND(rule, &ev, {"/checkout", 19, 0, {{19, 3000000}}});
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].status, ALERT_RULE_RESOLVED);
	alert_rule_events_free(ev, n);
	/* no traffic: nothing is known, nothing fires */
	assert_int_equal(TROUND(rule, &ev, {"/home", 5, 0, {{5, 10}}}), 0);
	alert_rule_free(rule);
}

static void test_percentile_each_value(void **state)
{
	struct aggregator_alert cfg = slow_checkout;
	struct alert_rule *rule;

	cfg.each = true;
	cfg.condition = AGGREGATOR_ALERT_P99_ABOVE;
	cfg.duration_above = "250ms";
	cfg.min_timed = 10;
	rule = rule_new(&cfg);
	/* /checkout/a: 2 of 10 slow; /checkout/b fast; /checkout/c slow but 5 */
	EXPECT_TIMED(rule, "F:/checkout/a",
		     {"/checkout/b", 900, 0, {{900, 1000}}},
		     {"/checkout/a", 10, 0, {{8, 1000}, {2, 400000}}},
		     {"/checkout/c", 5, 0, {{5, 900000}}},
		     {"/home", 10, 0, {{10, 900000}}});
	assert_int_equal(alert_rule_firing(rule), 1);
	EXPECT_TIMED(rule, "F:/checkout/b",
		     {"/checkout/b", 900, 0, {{800, 1000}, {100, 300000}}},
		     {"/checkout/a", 10, 0, {{8, 1000}, {2, 400000}}});
	/* /checkout/a is gone from the span: nothing timed, it resolves */
	EXPECT_TIMED(rule, "R:/checkout/a R:/checkout/b",
		     {"/checkout/b", 900, 0, {{900, 1000}}});
	assert_int_equal(alert_rule_firing(rule), 0);
	alert_rule_free(rule);
}

static void test_avg_above(void **state)
{
	struct aggregator_alert cfg = slow_checkout;
	struct alert_rule *rule;
	struct alert_rule_event *ev;
	size_t n;

	cfg.condition = AGGREGATOR_ALERT_AVG_ABOVE;
	cfg.duration_above = "300ms";
	rule = rule_new(&cfg);
	/* (10 * 100ms + 10 * 500ms) / 20 = 300ms: not above */
	assert_int_equal(TROUND(rule, &ev, {"/checkout", 20, 0, {{10, 100000}, {10, 500000}}}), 0);
	n = TROUND(rule, &ev, {"/checkout", 20, 0, {{10, 100000}, {10, 500020}}});
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].status, ALERT_RULE_FIRING);
	assert_true(fabs(ev[0].observed - 300010) < 1e-6);
	assert_false(alert_rule_wants_latency(rule));
	alert_rule_events_free(ev, n);
	alert_rule_free(rule);
}

static void test_bytes_above(void **state)
{
	struct aggregator_alert cfg = slow_checkout;
	struct alert_rule *rule;
	struct alert_rule_event *ev;
	size_t n;

	cfg.match = "^/downloads/";
	cfg.condition = AGGREGATOR_ALERT_BYTES_ABOVE;
	cfg.bytes_above = 10000000;
	rule = rule_new(&cfg);
	/* 4MB + 6MB is not above 10MB; / does not match */
	assert_int_equal(TROUND(rule, &ev, {"/downloads/a", 2, 4000000, {{0, 0}}},
				{"/", 9, 90000000, {{0, 0}}}, {"/downloads/b", 3, 6000000, {{0, 0}}}), 0);
	n = TROUND(rule, &ev, {"/downloads/a", 2, 4000000, {{0, 0}}},
		   {"/downloads/b", 3, 6000001, {{0, 0}}});
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].status, ALERT_RULE_FIRING);
	assert_int_equal(ev[0].bytes, 10000001);
	assert_int_equal(ev[0].hits, 5);
	alert_rule_events_free(ev, n);
	n = TROUND(rule, &ev, {"/downloads/a", 2, 4000000, {{0, 0}}});
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].status, ALERT_RULE_RESOLVED);
	assert_int_equal(ev[0].bytes, 4000000);
	alert_rule_events_free(ev, n);
	alert_rule_free(rule);
}

/*
 * each: only values that are above already take a candidate's place, so
 * that many small values before them do not crowd out a large one.
 */
static void test_bytes_each_past_many_values(void **state)
{
	struct aggregator_alert cfg = slow_checkout;
	struct alert_rule *rule;
	struct alert_rule_event *ev;
	struct timed t = {0};
	char value[32];
	size_t n;

	cfg.match = "";
	cfg.each = true;
	cfg.condition = AGGREGATOR_ALERT_BYTES_ABOVE;
	cfg.bytes_above = 1000;
	rule = rule_new(&cfg);
	alert_rule_begin(rule);
	for (int i = 0; i < 3 * ALERT_RULE_INSTANCES_MAX; i++) {
		snprintf(value, sizeof(value), "/small%d", i);
		t.value = value;
		t.hits = 1000;
		t.bytes = 10;
		add_timed(rule, &t);
	}
	t.value = "/big";
	t.hits = 1;
	t.bytes = 1001;
	add_timed(rule, &t);
	n = alert_rule_end(rule, &ev);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].value, "/big");
	alert_rule_events_free(ev, n);
	alert_rule_free(rule);
}

/* --- the body ------------------------------------------------------------ */

static json_t *body_of(const struct alert_rule *rule, const struct alert_rule_event *ev)
{
	char *text = alert_message_body(rule, ev, T_AT);
	json_error_t error;
	json_t *body = json_loads(text, JSON_REJECT_DUPLICATES, &error);

	if (!body)
		fail_msg("%s: %s", text, error.text);
	free(text);
	return body;
}

static const char *field(json_t *body, const char *name)
{
	json_t *v = json_object_get(body, name);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

static void test_body_of_a_share(void **state)
{
	struct alert_rule *rule = rule_new(&errors_5xx);
	struct alert_rule_event *ev;
	json_t *body;
	size_t n = ROUND(rule, &ev, {"200", 1390}, {"500", 110}, {"503", 2});

	assert_int_equal(n, 1);
	body = body_of(rule, &ev[0]);
	assert_string_equal(field(body, "text"), ":rotating_light: FIRING errors-5xx: "
			    "status ~ ^5 at 7.5% of 1502 hits over 1m (threshold 5%)");
	assert_string_equal(field(body, "status"), "firing");
	assert_string_equal(field(body, "rule"), "errors-5xx");
	assert_string_equal(field(body, "dimension"), "status");
	assert_string_equal(field(body, "match"), "^5");
	assert_string_equal(field(body, "kind"), "share");
	assert_string_equal(field(body, "at"), "2026-11-25T04:10:00Z");
	assert_null(json_object_get(body, "value"));
	/* 10 significant digits are written */
	assert_true(fabs(json_real_value(json_object_get(body, "observed")) -
			 112.0 / 1502) < 1e-10);
	assert_true(json_real_value(json_object_get(body, "threshold")) == 0.05);
	assert_int_equal(json_integer_value(json_object_get(body, "hits")), 112);
	assert_int_equal(json_integer_value(json_object_get(body, "total")), 1502);
	assert_int_equal(json_integer_value(json_object_get(body, "over_seconds")), 60);
	json_decref(body);
	alert_rule_events_free(ev, n);
	n = ROUND(rule, &ev, {"200", 10});
	body = body_of(rule, &ev[0]);
	assert_string_equal(field(body, "text"), ":white_check_mark: RESOLVED "
			    "errors-5xx: status ~ ^5 at 0.0% of 10 hits over 1m (threshold 5%)");
	assert_string_equal(field(body, "status"), "resolved");
	json_decref(body);
	alert_rule_events_free(ev, n);
	alert_rule_free(rule);
}

/* Values from the logs reach the JSON through jansson, whatever they hold. */
static void test_body_values_round_trip(void **state)
{
	static const char odd[] = "q\"uote \\back\\slash </b><script>alert(1)</script> "
		"& caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89";
	struct alert_rule *rule = rule_new(&hot_tags);
	struct alert_rule_event *ev;
	json_t *body;
	size_t n;

	alert_rule_begin(rule);
	add_hits(rule, odd, strlen(odd), 7);
	add_hits(rule, "bad\xff\xfe" "end", 8, 9);
	n = alert_rule_end(rule, &ev);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		bool is_odd = ev[i].len == strlen(odd);

		body = body_of(rule, &ev[i]);
		assert_string_equal(field(body, "value"), is_odd ? odd :
				    "bad\xef\xbf\xbd\xef\xbf\xbd" "end");
		assert_string_equal(field(body, "kind"), "hits");
		assert_int_equal(json_integer_value(json_object_get(body, "observed")),
				 is_odd ? 7 : 9);
		assert_int_equal(json_integer_value(json_object_get(body, "threshold")), 3);
		if (is_odd) {
			/* Slack's text: its markup characters escaped */
			assert_null(strstr(field(body, "text"), "<script>"));
			assert_non_null(strstr(field(body, "text"),
					       "hashtag = q\"uote \\back\\slash &lt;/b&gt;&lt;script&gt;"
					       "alert(1)&lt;/script&gt; &amp; caf\xc3\xa9"));
			assert_non_null(strstr(field(body, "text"), " at 7 hits over 1m (threshold 3)"));
		}
		json_decref(body);
	}
	alert_rule_events_free(ev, n);
	alert_rule_free(rule);
}

static void test_body_of_a_percentile(void **state)
{
	struct alert_rule *rule = rule_new(&slow_checkout);
	struct alert_rule_event *ev;
	json_t *body, *between;
	size_t n = TROUND(rule, &ev, {"/checkout", 120, 0, {{90, 100000}, {10, 620000}}});

	assert_int_equal(n, 1);
	body = body_of(rule, &ev[0]);
	assert_string_equal(field(body, "text"), ":rotating_light: FIRING slow-checkout: "
			    "url ~ ^/checkout p95 560ms (between 500ms and 620ms) of 100 "
			    "timed hits over 5m (threshold 500ms)");
	assert_string_equal(field(body, "kind"), "p95_above");
	assert_int_equal(json_integer_value(json_object_get(body, "observed")), 560000);
	assert_int_equal(json_integer_value(json_object_get(body, "threshold")), 500000);
	between = json_object_get(body, "observed_between");
	assert_int_equal(json_array_size(between), 2);
	assert_int_equal(json_integer_value(json_array_get(between, 0)), 500000);
	assert_int_equal(json_integer_value(json_array_get(between, 1)), 620000);
	assert_int_equal(json_integer_value(json_object_get(body, "timed")), 100);
	assert_int_equal(json_integer_value(json_object_get(body, "hits")), 120);
	assert_int_equal(json_integer_value(json_object_get(body, "over_seconds")), 300);
	json_decref(body);
	alert_rule_events_free(ev, n);
	/* the traffic stops: it resolves, and says nothing was timed */
	n = TROUND(rule, &ev, {"/home", 1, 0, {{0, 0}}});
	assert_int_equal(n, 1);
	body = body_of(rule, &ev[0]);
	assert_string_equal(field(body, "text"), ":white_check_mark: RESOLVED "
			    "slow-checkout: url ~ ^/checkout p95 unknown: no timed hits "
			    "over 5m (threshold 500ms)");
	assert_null(json_object_get(body, "observed_between"));
	assert_int_equal(json_integer_value(json_object_get(body, "timed")), 0);
	json_decref(body);
	alert_rule_events_free(ev, n);
	alert_rule_free(rule);
}

static void test_body_of_avg_and_bytes(void **state)
{
	struct aggregator_alert avg = slow_checkout, bytes = slow_checkout;
	struct alert_rule *rule;
	struct alert_rule_event *ev;
	json_t *body;
	size_t n;

	avg.condition = AGGREGATOR_ALERT_AVG_ABOVE;
	avg.duration_above = "1.5s";
	avg.each = true;
	rule = rule_new(&avg);
	n = TROUND(rule, &ev, {"/checkout", 30, 0, {{30, 2345678}}});
	assert_int_equal(n, 1);
	body = body_of(rule, &ev[0]);
	assert_string_equal(field(body, "text"), ":rotating_light: FIRING slow-checkout: "
			    "url = /checkout avg 2.346s of 30 timed hits over 5m (threshold 1.5s)");
	assert_string_equal(field(body, "kind"), "avg_above");
	assert_int_equal(json_integer_value(json_object_get(body, "observed")), 2345678);
	assert_int_equal(json_integer_value(json_object_get(body, "threshold")), 1500000);
	assert_null(json_object_get(body, "observed_between"));
	json_decref(body);
	alert_rule_events_free(ev, n);
	alert_rule_free(rule);

	bytes.condition = AGGREGATOR_ALERT_BYTES_ABOVE;
	bytes.bytes_above = (uint64_t)10 << 20;
	rule = rule_new(&bytes);
	n = TROUND(rule, &ev, {"/checkout", 3, 12345678, {{0, 0}}});
	assert_int_equal(n, 1);
	body = body_of(rule, &ev[0]);
	assert_string_equal(field(body, "text"), ":rotating_light: FIRING slow-checkout: "
			    "url ~ ^/checkout at 12.35MB over 5m (threshold 10.49MB)");
	assert_string_equal(field(body, "kind"), "bytes_above");
	assert_int_equal(json_integer_value(json_object_get(body, "observed")), 12345678);
	assert_int_equal(json_integer_value(json_object_get(body, "threshold")), 10485760);
	assert_null(json_object_get(body, "timed"));
	json_decref(body);
	alert_rule_events_free(ev, n);
	alert_rule_free(rule);
}

/* --- a receiver --------------------------------------------------------------- */

#define RECEIVED_MAX 64

struct received {
	char path[64];
	char *body;
	char auth[128];
	char team[64];
	char type[64];
};

/* What the receiver answers and saw; guarded by lock. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t opened;
	struct MHD_Daemon *daemon;
	unsigned int port;
	unsigned int statuses[RECEIVED_MAX];    /* by request; 0: 200 */
	size_t nstatuses;
	bool gate_closed;       /* hold every request until opened */
	size_t arrived;         /* requests whose headers came in */
	struct received got[RECEIVED_MAX];
	size_t n;
} rx = {.lock = PTHREAD_MUTEX_INITIALIZER, .opened = PTHREAD_COND_INITIALIZER};

static void copy_header(struct MHD_Connection *conn, const char *name, char *out,
			size_t len)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

	snprintf(out, len, "%s", v ? v : "");
}

/* Records the request and picks its status: /fail always gets 503. */
static unsigned int rx_record(struct MHD_Connection *conn, const char *url,
			      struct buf *body)
{
	struct received *r;
	unsigned int status;

	pthread_mutex_lock(&rx.lock);
	while (rx.gate_closed)
		pthread_cond_wait(&rx.opened, &rx.lock);
	status = rx.n < rx.nstatuses && rx.statuses[rx.n] ? rx.statuses[rx.n] : 200;
	if (!strcmp(url, "/fail"))
		status = 503;
	if (rx.n < RECEIVED_MAX) {
		r = &rx.got[rx.n++];
		snprintf(r->path, sizeof(r->path), "%s", url);
		r->body = buf_take(body, NULL);
		copy_header(conn, "Authorization", r->auth, sizeof(r->auth));
		copy_header(conn, "X-Team", r->team, sizeof(r->team));
		copy_header(conn, "Content-Type", r->type, sizeof(r->type));
	}
	pthread_mutex_unlock(&rx.lock);
	return status;
}

static enum MHD_Result rx_access(void *cls, struct MHD_Connection *conn,
				 const char *url, const char *method,
				 const char *version, const char *upload,
				 size_t *upload_size, void **con_cls)
{
	struct buf *body = *con_cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!body) {
		body = calloc(1, sizeof(*body));
		buf_init(body, 1 << 20);
		*con_cls = body;
		pthread_mutex_lock(&rx.lock);
		rx.arrived++;
		pthread_mutex_unlock(&rx.lock);
		return MHD_YES;
	}
	if (*upload_size) {
		buf_add(body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	resp = MHD_create_response_from_buffer(2, "ok", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(conn, rx_record(conn, url, body), resp);
	MHD_destroy_response(resp);
	return ret;
}

static void rx_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct buf *body = *con_cls;

	if (body) {
		buf_fini(body);
		free(body);
	}
	*con_cls = NULL;
}

static int rx_setup(void **state)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(rx.statuses, 0, sizeof(rx.statuses));
	rx.nstatuses = rx.arrived = rx.n = 0;
	rx.gate_closed = false;
	rx.daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
				     rx_access, NULL, MHD_OPTION_SOCK_ADDR, &addr,
				     MHD_OPTION_NOTIFY_COMPLETED, rx_completed, NULL,
				     MHD_OPTION_END);
	if (!rx.daemon)
		return -1;
	rx.port = MHD_get_daemon_info(rx.daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
	*state = metrics_new();
	return 0;
}

static int rx_teardown(void **state)
{
	pthread_mutex_lock(&rx.lock);
	rx.gate_closed = false;
	pthread_cond_broadcast(&rx.opened);
	pthread_mutex_unlock(&rx.lock);
	MHD_stop_daemon(rx.daemon);
	for (size_t i = 0; i < rx.n; i++)
		free(rx.got[i].body);
	metrics_free(*state);
	return 0;
}

static size_t rx_count(size_t *which)
{
	size_t n;

	pthread_mutex_lock(&rx.lock);
	n = *which;
	pthread_mutex_unlock(&rx.lock);
	return n;
}

static void rx_gate(bool closed)
{
	pthread_mutex_lock(&rx.lock);
	rx.gate_closed = closed;
	pthread_cond_broadcast(&rx.opened);
	pthread_mutex_unlock(&rx.lock);
}

/* --- the sender --------------------------------------------------------------- */

/* The value of a series ("name" or "name{labels}") in reg's text; -1: absent. */
static long long metric(struct metrics *reg, const char *series)
{
	struct buf out;
	const char *p;
	char *needle;
	long long v = -1;

	buf_init(&out, 1 << 20);
	assert_int_equal(metrics_render(reg, &out), 0);
	if (asprintf(&needle, "\n%s ", series) < 0)
		fail();
	p = strstr(buf_str(&out), needle);
	if (p)
		v = strtoll(p + strlen(needle), NULL, 10);
	free(needle);
	buf_fini(&out);
	return v;
}

/* Polls cond until it holds; a wait past WAIT_MAX_MS fails the test. */
#define WAIT_FOR(cond) do { \
	int waited_ = 0; \
	while (!(cond)) { \
		if (waited_ >= WAIT_MAX_MS) \
			fail_msg("still waiting for: %s", #cond); \
		usleep(10 * 1000); \
		waited_ += 10; \
	} \
} while (0)

static struct webhook *sender(struct metrics *reg, const struct webhook_options *opts)
{
	char err[256];
	struct webhook *wh = webhook_new(reg, opts, err, sizeof(err));

	if (!wh)
		fail_msg("webhook_new: %s", err);
	return wh;
}

static void send_to(struct webhook *wh, const char *path, unsigned int key,
		    const char *body, const struct config_map *headers,
		    struct metrics_counter *sent)
{
	char url[128];
	struct webhook_message msg = {key, "test", url, headers, body, sent};

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", rx.port, path);
	webhook_send(wh, &msg);
}

static void test_retries_then_delivers_once(void **state)
{
	struct metrics *reg = *state;
	struct webhook_options opts = {.backoff_ms = 20, .attempts = 5};
	struct config_pair pairs[] = {{"Authorization", "Bearer s3cret"},
				      {"X-Team", "web"}};
	struct config_map headers = {2, pairs};
	struct metrics_counter *sent = metrics_counter(reg, "t_sent_total", "t", NULL);
	struct webhook *wh;

	rx.statuses[0] = 500;
	rx.statuses[1] = 429;
	rx.nstatuses = 2;
	wh = sender(reg, &opts);
	send_to(wh, "/hook", 1, "{\"text\":\"hello\"}", &headers, sent);
	WAIT_FOR(metrics_counter_get(sent) == 1);
	webhook_free(wh);
	assert_int_equal(rx_count(&rx.n), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(rx.got[i].body, "{\"text\":\"hello\"}");
		assert_string_equal(rx.got[i].auth, "Bearer s3cret");
		assert_string_equal(rx.got[i].team, "web");
		assert_string_equal(rx.got[i].type, "application/json");
	}
	assert_int_equal(metric(reg, "logtally_aggregator_alert_failures_total"), 2);
	assert_int_equal(metric(reg, "logtally_aggregator_alert_dropped_total"), 0);
}

static void test_client_error_is_not_retried(void **state)
{
	struct metrics *reg = *state;
	struct webhook_options opts = {.backoff_ms = 20};
	struct metrics_counter *sent = metrics_counter(reg, "t_sent_total", "t", NULL);
	struct webhook *wh = sender(reg, &opts);

	rx.statuses[0] = 400;
	rx.nstatuses = 1;
	send_to(wh, "/hook", 1, "{}", NULL, sent);
	WAIT_FOR(metric(reg, "logtally_aggregator_alert_dropped_total") == 1);
	/* a later message of the same key still goes */
	send_to(wh, "/hook", 1, "{\"n\":2}", NULL, sent);
	WAIT_FOR(metrics_counter_get(sent) == 1);
	webhook_free(wh);
	assert_int_equal(rx_count(&rx.n), 2);
	assert_string_equal(rx.got[1].body, "{\"n\":2}");
	assert_int_equal(metric(reg, "logtally_aggregator_alert_failures_total"), 1);
}

/* Queue of 4, the first message held by the receiver: 7 of 10 more dropped. */
static void test_full_queue_drops_the_oldest(void **state)
{
	struct metrics *reg = *state;
	struct webhook_options opts = {.queue_max = 4};
	struct metrics_counter *sent = metrics_counter(reg, "t_sent_total", "t", NULL);
	struct webhook *wh = sender(reg, &opts);
	char body[32];

	rx_gate(true);
	send_to(wh, "/hook", 1, "{\"n\":0}", NULL, sent);
	WAIT_FOR(rx_count(&rx.arrived) == 1);
	for (int i = 1; i <= 10; i++) {
		snprintf(body, sizeof(body), "{\"n\":%d}", i);
		send_to(wh, "/hook", 1, body, NULL, sent);
	}
	assert_int_equal(metric(reg, "logtally_aggregator_alert_dropped_total"), 7);
	rx_gate(false);
	WAIT_FOR(metrics_counter_get(sent) == 4);
	webhook_free(wh);
	assert_int_equal(rx_count(&rx.n), 4);
	assert_string_equal(rx.got[0].body, "{\"n\":0}");
	assert_string_equal(rx.got[1].body, "{\"n\":8}");
	assert_string_equal(rx.got[2].body, "{\"n\":9}");
	assert_string_equal(rx.got[3].body, "{\"n\":10}");
}

/* A rule waiting for its retry does not hold back another rule. */
static void test_retry_holds_back_its_key_only(void **state)
{
	struct metrics *reg = *state;
	struct webhook_options opts = {.backoff_ms = 60000};
	struct metrics_counter *sent = metrics_counter(reg, "t_sent_total", "t", NULL);
	struct webhook *wh = sender(reg, &opts);

	send_to(wh, "/fail", 1, "{\"rule\":1,\"n\":1}", NULL, sent);
	send_to(wh, "/hook", 1, "{\"rule\":1,\"n\":2}", NULL, sent);
	send_to(wh, "/hook", 2, "{\"rule\":2}", NULL, sent);
	WAIT_FOR(metrics_counter_get(sent) == 1);
	assert_int_equal(rx_count(&rx.n), 2);
	assert_string_equal(rx.got[0].path, "/fail");
	assert_string_equal(rx.got[1].body, "{\"rule\":2}");
	webhook_free(wh);
	/* rule 1's second message waited behind its first, and was dropped with it */
	assert_int_equal(rx_count(&rx.n), 2);
	assert_int_equal(metric(reg, "logtally_aggregator_alert_dropped_total"), 2);
}

/* A receiver that takes the connection and never answers does not hold up a stop. */
static void test_stop_does_not_wait_for_a_silent_receiver(void **state)
{
	struct metrics *reg = *state;
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct pollfd pfd = {fd, POLLIN, 0};
	struct webhook_options opts = {.timeout_ms = 3600 * 1000};
	struct webhook_message msg = {1, "test", NULL, NULL, "{}", NULL};
	struct webhook *wh;
	char url[64];

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", ntohs(addr.sin_port));
	msg.url = url;
	wh = sender(reg, &opts);
	webhook_send(wh, &msg);
	/* the connection is made (the kernel accepted it): the attempt waits */
	assert_int_equal(poll(&pfd, 1, WAIT_MAX_MS), 1);
	webhook_free(wh);
	assert_int_equal(metric(reg, "logtally_aggregator_alert_dropped_total"), 1);
	assert_int_equal(metric(reg, "logtally_aggregator_alert_failures_total"), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_share_fires_once_and_resolves_once),
		cmocka_unit_test(test_share_needs_min_hits),
		cmocka_unit_test(test_hits_over_the_matching_sum),
		cmocka_unit_test(test_each_value_on_its_own),
		cmocka_unit_test(test_each_share_with_match),
		cmocka_unit_test(test_unended_round_changes_nothing),
		cmocka_unit_test(test_instances_are_bounded),
		cmocka_unit_test(test_share_values),
		cmocka_unit_test(test_p95_fires_and_resolves),
		cmocka_unit_test(test_p95_at_the_largest_duration),
		cmocka_unit_test(test_percentile_needs_min_timed),
		cmocka_unit_test(test_percentile_each_value),
		cmocka_unit_test(test_avg_above),
		cmocka_unit_test(test_bytes_above),
		cmocka_unit_test(test_bytes_each_past_many_values),
		cmocka_unit_test(test_body_of_a_share),
		cmocka_unit_test(test_body_values_round_trip),
		cmocka_unit_test(test_body_of_a_percentile),
		cmocka_unit_test(test_body_of_avg_and_bytes),
		cmocka_unit_test_setup_teardown(test_retries_then_delivers_once,
						rx_setup, rx_teardown),
		cmocka_unit_test_setup_teardown(test_client_error_is_not_retried,
						rx_setup, rx_teardown),
		cmocka_unit_test_setup_teardown(test_full_queue_drops_the_oldest,
						rx_setup, rx_teardown),
		cmocka_unit_test_setup_teardown(test_retry_holds_back_its_key_only,
						rx_setup, rx_teardown),
		cmocka_unit_test_setup_teardown(test_stop_does_not_wait_for_a_silent_receiver,
						rx_setup, rx_teardown),
	};

	logging_init("test_alerts", LOGGING_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
