/*
 * alert_rule: sums, conditions, states and the JSON of one rule. The states
 * are the instances firing now; a round's sums are the total of the
 * dimension, the sum of the matching values and, with each set, the hits
 * of every firing value (marked seen) and of a bounded list of candidates
 * that may start to fire. An instance whose value was not seen in a round
 * had no hits in the span: it is judged with 0.
 */
#include "alert_rule.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "confcheck.h"
#include "hmap.h"
#include "logging.h"
#include "units.h"
#include "utf8.h"
#include "xalloc.h"

/* The text line: the name, a value of SCHEMA_VALUE_CHARS (512) characters escaped, some words. */
#define ALERT_RULE_TEXT_MAX (16 * 1024)

struct alert_rule_instance {
	char *value;            /* NULL for the rule as a whole */
	size_t len;
	uint64_t hits;          /* this round's, when seen */
	bool seen;
};

struct alert_rule {
	const struct aggregator_alert *cfg;
	pcre2_code *re;                 /* NULL: every value matches */
	pcre2_match_data *md;
	bool share;                     /* share_above, else above */
	double threshold;               /* a share from 0 to 1, or hits */
	/* the round's sums */
	uint64_t total, matched;
	struct alert_rule_instance *cands[ALERT_RULE_INSTANCES_MAX];
	size_t ncands;
	/* the state: the instances firing, and each's by value */
	struct alert_rule_instance *firing[ALERT_RULE_INSTANCES_MAX];
	size_t nfiring;
	struct hmap *index;
};

static struct alert_rule_instance *alert_rule_instance_new(const char *value,
							   size_t len,
							   uint64_t hits)
{
	struct alert_rule_instance *inst = xcalloc(1, sizeof(*inst));

	if (value) {
		inst->value = xmalloc(len + 1);
		memcpy(inst->value, value, len + 1);
		inst->len = len;
	}
	inst->hits = hits;
	return inst;
}

static void alert_rule_instance_free(struct alert_rule_instance *inst)
{
	if (!inst)
		return;
	free(inst->value);
	free(inst);
}

struct alert_rule *alert_rule_new(const struct aggregator_alert *cfg,
				  char *err, size_t errlen)
{
	struct alert_rule *rule = xcalloc(1, sizeof(*rule));
	PCRE2_SIZE offset;
	int code;

	rule->cfg = cfg;
	rule->index = hmap_new();
	rule->share = *cfg->share_above != '\0';
	rule->threshold = (double)cfg->above;
	if (rule->share && aggregator_config_share(cfg->share_above,
						   &rule->threshold, err, errlen))
		goto fail;
	if (!*cfg->match)
		return rule;
	rule->re = pcre2_compile((PCRE2_SPTR)cfg->match, PCRE2_ZERO_TERMINATED,
				 confcheck_regex_options(), &code, &offset, NULL);
	if (!rule->re) {
		snprintf(err, errlen, "alert %s: match does not compile", cfg->name);
		goto fail;
	}
	rule->md = pcre2_match_data_create_from_pattern(rule->re, NULL);
	return rule;
fail:
	alert_rule_free(rule);
	return NULL;
}

static void alert_rule_clear_cands(struct alert_rule *rule)
{
	for (size_t i = 0; i < rule->ncands; i++)
		alert_rule_instance_free(rule->cands[i]);
	rule->ncands = 0;
}

void alert_rule_reset(struct alert_rule *rule)
{
	for (size_t i = 0; i < rule->nfiring; i++) {
		if (rule->firing[i]->value)
			hmap_remove(rule->index, rule->firing[i]->value);
		alert_rule_instance_free(rule->firing[i]);
	}
	rule->nfiring = 0;
}

void alert_rule_free(struct alert_rule *rule)
{
	if (!rule)
		return;
	alert_rule_clear_cands(rule);
	alert_rule_reset(rule);
	hmap_free(rule->index);
	pcre2_match_data_free(rule->md);
	pcre2_code_free(rule->re);
	free(rule);
}

const struct aggregator_alert *alert_rule_config(const struct alert_rule *rule)
{
	return rule->cfg;
}

size_t alert_rule_firing(const struct alert_rule *rule)
{
	return rule->nfiring;
}

const char *alert_rule_status_name(enum alert_rule_status status)
{
	return status == ALERT_RULE_FIRING ? "firing" : "resolved";
}

/* --- a round --------------------------------------------------------------- */

void alert_rule_begin(struct alert_rule *rule)
{
	rule->total = rule->matched = 0;
	alert_rule_clear_cands(rule);
	for (size_t i = 0; i < rule->nfiring; i++) {
		rule->firing[i]->seen = false;
		rule->firing[i]->hits = 0;
	}
}

/* A value that is not valid UTF-8 makes PCRE2 fail: no match. */
static bool alert_rule_matches(const struct alert_rule *rule,
			       const char *value, size_t len)
{
	if (!rule->re)
		return true;
	return pcre2_match(rule->re, (PCRE2_SPTR)value, len, 0, 0, rule->md,
			   NULL) >= 0;
}

void alert_rule_add(struct alert_rule *rule, const char *value, size_t len,
		    uint64_t hits)
{
	struct alert_rule_instance *inst;

	rule->total += hits;
	if (!alert_rule_matches(rule, value, len))
		return;
	rule->matched += hits;
	if (!rule->cfg->each)
		return;
	inst = hmap_get(rule->index, value);
	if (inst) {
		inst->seen = true;
		inst->hits += hits;
	} else if (rule->ncands < ALERT_RULE_INSTANCES_MAX) {
		rule->cands[rule->ncands++] = alert_rule_instance_new(value, len, hits);
	}
}

static double alert_rule_observed(const struct alert_rule *rule, uint64_t hits)
{
	if (!rule->share)
		return (double)hits;
	return rule->total ? (double)hits / (double)rule->total : 0;
}

static bool alert_rule_holds(const struct alert_rule *rule, uint64_t hits)
{
	if (!rule->share)
		return hits > (uint64_t)rule->cfg->above;
	if (rule->total < (uint64_t)rule->cfg->min_hits || !rule->total)
		return false;
	return alert_rule_observed(rule, hits) > rule->threshold;
}

static void alert_rule_event(const struct alert_rule *rule,
			     struct alert_rule_event *ev,
			     enum alert_rule_status status,
			     const struct alert_rule_instance *inst)
{
	ev->status = status;
	ev->value = NULL;
	ev->len = 0;
	if (inst->value) {
		ev->value = xmalloc(inst->len + 1);
		memcpy(ev->value, inst->value, inst->len + 1);
		ev->len = inst->len;
	}
	ev->hits = inst->hits;
	ev->total = rule->total;
	ev->observed = alert_rule_observed(rule, inst->hits);
}

/* Removes firing instance i that stopped holding; reports it in ev. */
static void alert_rule_resolve(struct alert_rule *rule, size_t i,
			       struct alert_rule_event *ev)
{
	struct alert_rule_instance *inst = rule->firing[i];

	alert_rule_event(rule, ev, ALERT_RULE_RESOLVED, inst);
	if (inst->value)
		hmap_remove(rule->index, inst->value);
	alert_rule_instance_free(inst);
	rule->firing[i] = rule->firing[--rule->nfiring];
}

/* Makes inst (taken) fire; reports it in ev. */
static void alert_rule_fire(struct alert_rule *rule,
			    struct alert_rule_instance *inst,
			    struct alert_rule_event *ev)
{
	alert_rule_event(rule, ev, ALERT_RULE_FIRING, inst);
	if (inst->value)
		hmap_put(rule->index, inst->value, inst);
	rule->firing[rule->nfiring++] = inst;
}

/* each: the firing values that stopped holding, then the new ones. */
static size_t alert_rule_end_each(struct alert_rule *rule,
				  struct alert_rule_event *events)
{
	static struct logging_limit limit;
	size_t n = 0, i = rule->nfiring, capped = 0;

	while (i-- > 0)
		if (!alert_rule_holds(rule, rule->firing[i]->hits))
			alert_rule_resolve(rule, i, &events[n++]);
	for (i = 0; i < rule->ncands; i++) {
		if (!alert_rule_holds(rule, rule->cands[i]->hits))
			continue;
		if (rule->nfiring == ALERT_RULE_INSTANCES_MAX) {
			capped++;
			continue;
		}
		alert_rule_fire(rule, rule->cands[i], &events[n++]);
		rule->cands[i] = NULL;
	}
	if (capped)
		logging_limited(&limit, LOGGING_WARN, "alerts: %s: %zu more values "
				"hold, past the %d that may fire at once",
				rule->cfg->name, capped, ALERT_RULE_INSTANCES_MAX);
	return n;
}

size_t alert_rule_end(struct alert_rule *rule, struct alert_rule_event **events)
{
	struct alert_rule_event *ev = xcalloc(2 * ALERT_RULE_INSTANCES_MAX,
					      sizeof(*ev));
	bool holds = alert_rule_holds(rule, rule->matched);
	size_t n = 0;

	if (rule->cfg->each) {
		n = alert_rule_end_each(rule, ev);
	} else if (holds && !rule->nfiring) {
		alert_rule_fire(rule, alert_rule_instance_new(NULL, 0, rule->matched),
				&ev[n++]);
	} else if (!holds && rule->nfiring) {
		rule->firing[0]->hits = rule->matched;
		alert_rule_resolve(rule, 0, &ev[n++]);
	} else if (rule->nfiring) {
		rule->firing[0]->hits = rule->matched;
	}
	alert_rule_clear_cands(rule);
	if (!n) {
		free(ev);
		ev = NULL;
	}
	*events = ev;
	return n;
}

void alert_rule_events_free(struct alert_rule_event *events, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(events[i].value);
	free(events);
}

/* --- the message ------------------------------------------------------------ */

/* s[0..len) with each ill-formed sequence replaced by U+FFFD, into out. */
static void alert_rule_utf8(struct buf *out, const char *s, size_t len)
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
static void alert_rule_slack(struct buf *out, const char *s, size_t len)
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

/*
 * ":rotating_light: FIRING errors-5xx: status ~ ^5 at 7.3% of 1502 hits
 * over 1m (threshold 5%)", or with each "hashtag = goodvibes at 240 hits
 * over 1m (threshold 200)". value and match arrive repaired.
 */
static void alert_rule_text(const struct alert_rule *rule,
			    const struct alert_rule_event *ev,
			    const struct buf *value, const struct buf *match,
			    struct buf *out)
{
	const struct aggregator_alert *cfg = rule->cfg;
	bool firing = ev->status == ALERT_RULE_FIRING;
	char over[32];

	units_format_duration(cfg->over, over, sizeof(over));
	buf_printf(out, "%s %s %s: %s", firing ? ":rotating_light:" :
		   ":white_check_mark:", firing ? "FIRING" : "RESOLVED",
		   cfg->name, cfg->dimension);
	if (ev->value) {
		buf_addstr(out, " = ");
		alert_rule_slack(out, buf_str(value), buf_len(value));
	} else if (buf_len(match)) {
		buf_addstr(out, " ~ ");
		alert_rule_slack(out, buf_str(match), buf_len(match));
	}
	if (rule->share)
		buf_printf(out, " at %.1f%% of %llu hits over %s (threshold %g%%)",
			   ev->observed * 100, (unsigned long long)ev->total, over,
			   rule->threshold * 100);
	else
		buf_printf(out, " at %llu hits over %s (threshold %lld)",
			   (unsigned long long)ev->hits, over,
			   (long long)cfg->above);
}

static json_t *alert_rule_number(const struct alert_rule *rule, double share,
				 uint64_t hits)
{
	return rule->share ? json_real(share) : json_integer((json_int_t)hits);
}

static void alert_rule_fields(const struct alert_rule *rule,
			      const struct alert_rule_event *ev, json_t *body,
			      int64_t at_s)
{
	const struct aggregator_alert *cfg = rule->cfg;
	time_t t = (time_t)at_s;
	char at[32] = "";
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(body, "status", json_string(alert_rule_status_name(ev->status)));
	json_object_set_new(body, "rule", json_string(cfg->name));
	json_object_set_new(body, "dimension", json_string(cfg->dimension));
	json_object_set_new(body, "kind", json_string(rule->share ? "share" : "hits"));
	json_object_set_new(body, "observed", alert_rule_number(rule, ev->observed, ev->hits));
	json_object_set_new(body, "threshold",
			    alert_rule_number(rule, rule->threshold, (uint64_t)cfg->above));
	json_object_set_new(body, "hits", json_integer((json_int_t)ev->hits));
	json_object_set_new(body, "total", json_integer((json_int_t)ev->total));
	json_object_set_new(body, "over_seconds", json_integer(cfg->over / 1000));
	json_object_set_new(body, "at", json_string(at));
}

char *alert_rule_body(const struct alert_rule *rule,
		      const struct alert_rule_event *ev, int64_t at_s)
{
	struct buf value, match, text;
	json_t *body = json_object();
	char *json;

	buf_init(&value, ALERT_RULE_TEXT_MAX);
	buf_init(&match, ALERT_RULE_TEXT_MAX);
	buf_init(&text, ALERT_RULE_TEXT_MAX);
	alert_rule_utf8(&value, ev->value ? ev->value : "", ev->len);
	alert_rule_utf8(&match, rule->cfg->match, strlen(rule->cfg->match));
	alert_rule_text(rule, ev, &value, &match, &text);
	json_object_set_new(body, "text", json_stringn(buf_str(&text), buf_len(&text)));
	alert_rule_fields(rule, ev, body, at_s);
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
