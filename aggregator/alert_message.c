/*
 * alert_message: the JSON body that webhook.c posts for a change of state
 * of an alert rule: a Slack "text" line that says what was observed, in
 * the unit of the rule's condition, and the structured fields. Values from
 * the logs reach it through jansson only; the text is bounded.
 */
#include "alert_message.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "logging.h"
#include "units.h"
#include "utf8.h"

/* The text line: the name, a value of SCHEMA_VALUE_CHARS (512) characters escaped, some words. */
#define ALERT_MESSAGE_TEXT_MAX (16 * 1024)

/* s[0..len) with each ill-formed sequence replaced by U+FFFD, into out. */
static void alert_message_utf8(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	bool bad;

	while (i < len) {
		n = utf8_seq(p + i, len - i, &bad);
		buf_add(out, bad ? "\xef\xbf\xbd" : s + i, bad ? 3 : n);
		i += n;
	}
}

/* Slack reads &, < and > as markup: they are escaped in its text. */
static void alert_message_slack(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '&':
			buf_addstr(out, "&amp;");
			break;
		case '<':
			buf_addstr(out, "&lt;");
			break;
		case '>':
			buf_addstr(out, "&gt;");
			break;
		default:
			buf_addc(out, s[i]);
		}
	}
}

/* us as people read it: "250us", "620ms", "1.5s" (4 significant digits). */
static void alert_message_us(double us, char *out, size_t outlen)
{
	if (us < 999.5)
		snprintf(out, outlen, "%.0fus", us);
	else if (us < 999500)
		snprintf(out, outlen, "%.4gms", us / 1e3);
	else
		snprintf(out, outlen, "%.4gs", us / 1e6);
}

/* bytes in decimal units: "512B", "12.35MB" (4 significant digits). */
static void alert_message_bytes(double bytes, char *out, size_t outlen)
{
	static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
	size_t u = 0;

	while (bytes >= 999.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1000;
		u++;
	}
	snprintf(out, outlen, u ? "%.4g%s" : "%.0f%s", bytes, units[u]);
}

/*
 * What was observed, after the rule's name and value: " p95 620ms
 * (between 500ms and 630ms) of 1234 timed hits over 5m (threshold
 * 500ms)", " avg ...", " at 12.35MB over 1m (threshold 10MB)".
 */
static void alert_message_measure(const struct alert_rule *rule,
				  const struct alert_rule_event *ev,
				  const char *over, struct buf *out)
{
	enum aggregator_alert_condition cond = alert_rule_config(rule)->condition;
	const char *key = aggregator_alert_conditions[cond];
	char seen[32], lo[32], hi[32], threshold[32];

	if (cond == AGGREGATOR_ALERT_BYTES_ABOVE) {
		alert_message_bytes(ev->observed, seen, sizeof(seen));
		alert_message_bytes(alert_rule_threshold(rule), threshold,
				    sizeof(threshold));
		buf_printf(out, " at %s over %s (threshold %s)", seen, over, threshold);
		return;
	}
	/* "p95_above" -> "p95", "avg_above" -> "avg" */
	buf_printf(out, " %.*s", (int)(strchr(key, '_') - key), key);
	alert_message_us(alert_rule_threshold(rule), threshold, sizeof(threshold));
	if (!ev->timed) {
		buf_printf(out, " unknown: no timed hits over %s (threshold %s)",
			   over, threshold);
		return;
	}
	alert_message_us(ev->observed, seen, sizeof(seen));
	buf_printf(out, " %s", seen);
	if (alert_rule_uses_latency(rule)) {
		alert_message_us((double)ev->lo_us, lo, sizeof(lo));
		alert_message_us((double)ev->hi_us, hi, sizeof(hi));
		buf_printf(out, " (between %s and %s)", lo, hi);
	}
	buf_printf(out, " of %llu timed hits over %s (threshold %s)",
		   (unsigned long long)ev->timed, over, threshold);
}

/*
 * ":rotating_light: FIRING errors-5xx: status ~ ^5 at 7.3% of 1502 hits
 * over 1m (threshold 5%)", or with each "hashtag = goodvibes at 240 hits
 * over 1m (threshold 200)". value and match arrive repaired.
 */
static void alert_message_text(const struct alert_rule *rule,
			       const struct alert_rule_event *ev,
			       const struct buf *value, const struct buf *match,
			       struct buf *out)
{
	const struct aggregator_alert *cfg = alert_rule_config(rule);
	bool firing = ev->status == ALERT_RULE_FIRING;
	char over[32];

	units_format_duration(cfg->over, over, sizeof(over));
	buf_printf(out, "%s %s %s: %s", firing ? ":rotating_light:" :
		   ":white_check_mark:", firing ? "FIRING" : "RESOLVED",
		   cfg->name, cfg->dimension);
	if (ev->value) {
		buf_addstr(out, " = ");
		alert_message_slack(out, buf_str(value), buf_len(value));
	} else if (buf_len(match)) {
		buf_addstr(out, " ~ ");
		alert_message_slack(out, buf_str(match), buf_len(match));
	}
	if (cfg->condition == AGGREGATOR_ALERT_SHARE_ABOVE)
		buf_printf(out, " at %.1f%% of %llu hits over %s (threshold %g%%)",
			   ev->observed * 100, (unsigned long long)ev->total, over,
			   alert_rule_threshold(rule) * 100);
	else if (cfg->condition == AGGREGATOR_ALERT_ABOVE)
		buf_printf(out, " at %llu hits over %s (threshold %lld)",
			   (unsigned long long)ev->hits, over,
			   (long long)cfg->above);
	else
		alert_message_measure(rule, ev, over, out);
}

/*
 * The kind of a rule in the body: "hits" and "share" as before the other
 * conditions came, then their keys ("p95_above", "bytes_above").
 */
static const char *alert_message_kind(enum aggregator_alert_condition cond)
{
	if (cond == AGGREGATOR_ALERT_ABOVE)
		return "hits";
	if (cond == AGGREGATOR_ALERT_SHARE_ABOVE)
		return "share";
	return aggregator_alert_conditions[cond];
}

/*
 * observed and threshold: a share as a real from 0 to 1, anything else as
 * an integer (hits, bytes, microseconds rounded).
 */
static void alert_message_numbers(const struct alert_rule *rule,
				  const struct alert_rule_event *ev, json_t *body)
{
	const struct aggregator_alert *cfg = alert_rule_config(rule);
	json_t *observed, *threshold;

	switch (cfg->condition) {
	case AGGREGATOR_ALERT_SHARE_ABOVE:
		observed = json_real(ev->observed);
		threshold = json_real(alert_rule_threshold(rule));
		break;
	case AGGREGATOR_ALERT_ABOVE:
		observed = json_integer((json_int_t)ev->hits);
		threshold = json_integer((json_int_t)cfg->above);
		break;
	case AGGREGATOR_ALERT_BYTES_ABOVE:
		observed = json_integer((json_int_t)ev->bytes);
		threshold = json_integer((json_int_t)cfg->bytes_above);
		break;
	default:
		observed = json_integer((json_int_t)llround(ev->observed));
		threshold = json_integer((json_int_t)llround(alert_rule_threshold(rule)));
		json_object_set_new(body, "timed", json_integer((json_int_t)ev->timed));
	}
	json_object_set_new(body, "observed", observed);
	json_object_set_new(body, "threshold", threshold);
	if (alert_rule_uses_latency(rule) && ev->timed)
		json_object_set_new(body, "observed_between",
				    json_pack("[II]", (json_int_t)ev->lo_us,
					      (json_int_t)ev->hi_us));
}

static void alert_message_fields(const struct alert_rule *rule,
				 const struct alert_rule_event *ev, json_t *body,
				 int64_t at_s)
{
	const struct aggregator_alert *cfg = alert_rule_config(rule);
	time_t t = (time_t)at_s;
	char at[32] = "";
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(body, "status", json_string(alert_rule_status_name(ev->status)));
	json_object_set_new(body, "rule", json_string(cfg->name));
	json_object_set_new(body, "dimension", json_string(cfg->dimension));
	json_object_set_new(body, "kind", json_string(alert_message_kind(cfg->condition)));
	alert_message_numbers(rule, ev, body);
	json_object_set_new(body, "hits", json_integer((json_int_t)ev->hits));
	json_object_set_new(body, "total", json_integer((json_int_t)ev->total));
	json_object_set_new(body, "over_seconds", json_integer(cfg->over / 1000));
	json_object_set_new(body, "at", json_string(at));
}

char *alert_message_body(const struct alert_rule *rule,
			 const struct alert_rule_event *ev, int64_t at_s)
{
	const char *pattern = alert_rule_config(rule)->match;
	struct buf value, match, text;
	json_t *body = json_object();
	char *json;

	buf_init(&value, ALERT_MESSAGE_TEXT_MAX);
	buf_init(&match, ALERT_MESSAGE_TEXT_MAX);
	buf_init(&text, ALERT_MESSAGE_TEXT_MAX);
	alert_message_utf8(&value, ev->value ? ev->value : "", ev->len);
	alert_message_utf8(&match, pattern, strlen(pattern));
	alert_message_text(rule, ev, &value, &match, &text);
	json_object_set_new(body, "text", json_stringn(buf_str(&text), buf_len(&text)));
	alert_message_fields(rule, ev, body, at_s);
	if (buf_len(&match))
		json_object_set_new(body, "match",
				    json_stringn(buf_str(&match), buf_len(&match)));
	if (ev->value)
		json_object_set_new(body, "value",
				    json_stringn(buf_str(&value), buf_len(&value)));
	json = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10));
	json_decref(body);
	buf_fini(&value);
	buf_fini(&match);
	buf_fini(&text);
	if (!json) {
		logging_error("alerts: out of memory building a message");
		abort();
	}
	return json;
}
