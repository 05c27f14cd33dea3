/*
 * alert_rule: sums, conditions and states of one rule (its messages are
 * alert_message.c's). The states are the instances firing now; a round's
 * sums are the total hits of the dimension, the sums of the matching
 * values and, with each set, the sums of every firing value (marked seen)
 * and of a bounded list of candidates that may start to fire. An instance
 * whose value was not seen in a round had no hits in the span: it is
 * judged with 0. Percentile rules sum latency histograms too, of the
 * matching values or of each instance.
 */
#include "alert_rule.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confcheck.h"
#include "hmap.h"
#include "latency.h"
#include "logging.h"
#include "xalloc.h"

/* What the condition is judged on: one value's sums, or several's. */
struct alert_rule_sums {
	uint64_t hits, bytes, timed, us_sum;
	struct latency_hist hist;       /* percentile rules; max_us from counts */
};

struct alert_rule_instance {
	char *value;            /* NULL for the rule as a whole */
	size_t len;
	struct alert_rule_sums sums;    /* this round's, when seen */
	bool seen;
};

/* An instance's condition judged on its sums. */
struct alert_rule_judgement {
	bool holds;
	double observed;                /* as in struct alert_rule_event */
	uint64_t lo_us, hi_us;          /* a percentile's bounds; else 0 */
	uint64_t timed;                 /* the timed hits the observed is of */
};

struct alert_rule {
	const struct aggregator_alert *cfg;
	pcre2_code *re;                 /* NULL: every value matches */
	pcre2_match_data *md;
	enum aggregator_alert_condition cond;
	double threshold;               /* hits, a share from 0 to 1, microseconds or bytes */
	double q;                       /* percentile rules: 0.5 to 0.99; else 0 */
	/* the round's sums */
	uint64_t total;
	struct alert_rule_sums matched;
	struct alert_rule_instance *cands[ALERT_RULE_INSTANCES_MAX];
	size_t ncands;
	struct hmap *cindex;            /* the candidates by value */
	/* alert_rule_add_latency()'s last value, and where its rows go */
	char *last;
	size_t last_len, last_cap;
	bool last_valid;
	struct latency_hist *last_hist; /* NULL: passed over */
	/* the state: the instances firing, and each's by value */
	struct alert_rule_instance *firing[ALERT_RULE_INSTANCES_MAX];
	size_t nfiring;
	struct hmap *index;
};

static struct alert_rule_instance *alert_rule_instance_new(const char *value,
							   size_t len)
{
	struct alert_rule_instance *inst = xcalloc(1, sizeof(*inst));

	if (value) {
		inst->value = xmalloc(len + 1);
		memcpy(inst->value, value, len + 1);
		inst->len = len;
	}
	return inst;
}

static void alert_rule_instance_free(struct alert_rule_instance *inst)
{
	if (!inst)
		return;
	free(inst->value);
	free(inst);
}

static bool alert_rule_percentile(enum aggregator_alert_condition cond)
{
	return cond >= AGGREGATOR_ALERT_P50_ABOVE && cond <= AGGREGATOR_ALERT_P99_ABOVE;
}

/* Sets the threshold of cfg's condition; -1 with the reason in err when it does not parse. */
static int alert_rule_parse_threshold(struct alert_rule *rule, char *err,
				      size_t errlen)
{
	static const double quantiles[] = {0.5, 0.9, 0.95, 0.99};
	const struct aggregator_alert *cfg = rule->cfg;
	int64_t us;

	switch (rule->cond) {
	case AGGREGATOR_ALERT_SHARE_ABOVE:
		return aggregator_config_share(cfg->share_above, &rule->threshold,
					       err, errlen);
	case AGGREGATOR_ALERT_P50_ABOVE:
	case AGGREGATOR_ALERT_P90_ABOVE:
	case AGGREGATOR_ALERT_P95_ABOVE:
	case AGGREGATOR_ALERT_P99_ABOVE:
	case AGGREGATOR_ALERT_AVG_ABOVE:
		us = cfg->duration_above ? latency_parse_us(cfg->duration_above) : -1;
		if (us < 0) {
			snprintf(err, errlen, "alert %s: %s is not a duration", cfg->name,
				 aggregator_alert_conditions[rule->cond]);
			return -1;
		}
		rule->threshold = (double)us;
		if (alert_rule_percentile(rule->cond))
			rule->q = quantiles[rule->cond - AGGREGATOR_ALERT_P50_ABOVE];
		return 0;
	case AGGREGATOR_ALERT_BYTES_ABOVE:
		rule->threshold = (double)cfg->bytes_above;
		return 0;
	default:
		rule->threshold = (double)cfg->above;
		return 0;
	}
}

struct alert_rule *alert_rule_new(const struct aggregator_alert *cfg,
				  char *err, size_t errlen)
{
	struct alert_rule *rule = xcalloc(1, sizeof(*rule));
	PCRE2_SIZE offset;
	int code;

	rule->cfg = cfg;
	rule->cond = cfg->condition;
	rule->index = hmap_new();
	rule->cindex = hmap_new();
	if (alert_rule_parse_threshold(rule, err, errlen))
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
	for (size_t i = 0; i < rule->ncands; i++) {
		if (rule->cands[i])
			hmap_remove(rule->cindex, rule->cands[i]->value);
		alert_rule_instance_free(rule->cands[i]);
	}
	rule->ncands = 0;
	rule->last_valid = false;
	rule->last_hist = NULL;
}

void alert_rule_reset(struct alert_rule *rule)
{
	for (size_t i = 0; i < rule->nfiring; i++) {
		if (rule->firing[i]->value)
			hmap_remove(rule->index, rule->firing[i]->value);
		alert_rule_instance_free(rule->firing[i]);
	}
	rule->nfiring = 0;
	rule->last_valid = false;
	rule->last_hist = NULL;
}

void alert_rule_free(struct alert_rule *rule)
{
	if (!rule)
		return;
	alert_rule_clear_cands(rule);
	alert_rule_reset(rule);
	hmap_free(rule->index);
	hmap_free(rule->cindex);
	free(rule->last);
	pcre2_match_data_free(rule->md);
	pcre2_code_free(rule->re);
	free(rule);
}

const struct aggregator_alert *alert_rule_config(const struct alert_rule *rule)
{
	return rule->cfg;
}

double alert_rule_threshold(const struct alert_rule *rule)
{
	return rule->threshold;
}

bool alert_rule_uses_latency(const struct alert_rule *rule)
{
	return alert_rule_percentile(rule->cond);
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
	rule->total = 0;
	memset(&rule->matched, 0, sizeof(rule->matched));
	alert_rule_clear_cands(rule);
	for (size_t i = 0; i < rule->nfiring; i++) {
		rule->firing[i]->seen = false;
		memset(&rule->firing[i]->sums, 0, sizeof(rule->firing[i]->sums));
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

static void alert_rule_sums_add(struct alert_rule_sums *s,
				const struct alert_rule_row *row)
{
	s->hits += row->hits;
	s->bytes += row->bytes;
	s->timed += row->timed;
	s->us_sum += row->duration_us_sum;
	if (row->duration_us_max > s->hist.max_us)
		s->hist.max_us = row->duration_us_max;
}

/* The condition of s: whether it holds, and what was observed. */
static void alert_rule_judge(const struct alert_rule *rule,
			     const struct alert_rule_sums *s,
			     struct alert_rule_judgement *j)
{
	const struct aggregator_alert *cfg = rule->cfg;
	struct latency_estimate est;

	memset(j, 0, sizeof(*j));
	j->timed = s->timed;
	switch (rule->cond) {
	case AGGREGATOR_ALERT_ABOVE:
		j->observed = (double)s->hits;
		j->holds = s->hits > (uint64_t)cfg->above;
		break;
	case AGGREGATOR_ALERT_SHARE_ABOVE:
		j->observed = rule->total ? (double)s->hits / (double)rule->total : 0;
		j->holds = rule->total && rule->total >= (uint64_t)cfg->min_hits &&
			   j->observed > rule->threshold;
		break;
	case AGGREGATOR_ALERT_BYTES_ABOVE:
		j->observed = (double)s->bytes;
		j->holds = s->bytes > cfg->bytes_above;
		break;
	case AGGREGATOR_ALERT_AVG_ABOVE:
		j->observed = s->timed ? (double)s->us_sum / (double)s->timed : 0;
		j->holds = s->timed >= (uint64_t)cfg->min_timed &&
			   j->observed > rule->threshold;
		break;
	default:        /* a percentile, of the histogram's hits */
		j->timed = s->hist.total;
		if (!latency_percentile(&s->hist, rule->q, &est))
			break;
		j->observed = est.value_us;
		j->lo_us = est.lo_us;
		j->hi_us = est.hi_us;
		j->holds = s->hist.total >= (uint64_t)cfg->min_timed &&
			   j->observed > rule->threshold;
	}
}

/*
 * With each: whether a value that is not firing may start to, from its
 * counts alone, so that the bounded candidates are not spent on values
 * that cannot. A percentile estimate is at most the largest duration.
 */
static bool alert_rule_may_hold(const struct alert_rule *rule,
				const struct alert_rule_sums *s)
{
	struct alert_rule_judgement j;

	if (alert_rule_percentile(rule->cond))
		return s->timed >= (uint64_t)rule->cfg->min_timed &&
		       (!s->hist.max_us || (double)s->hist.max_us > rule->threshold);
	if (rule->cond == AGGREGATOR_ALERT_BYTES_ABOVE ||
	    rule->cond == AGGREGATOR_ALERT_AVG_ABOVE) {
		alert_rule_judge(rule, s, &j);
		return j.holds;
	}
	return true;    /* hits and shares: as many as fit, largest first */
}

void alert_rule_add(struct alert_rule *rule, const char *value, size_t len,
		    const struct alert_rule_row *row)
{
	struct alert_rule_instance *inst;
	struct alert_rule_sums sums = {0};

	rule->total += row->hits;
	if (!alert_rule_matches(rule, value, len))
		return;
	alert_rule_sums_add(&rule->matched, row);
	if (!rule->cfg->each)
		return;
	inst = hmap_get(rule->index, value);
	if (inst) {
		inst->seen = true;
		alert_rule_sums_add(&inst->sums, row);
		return;
	}
	alert_rule_sums_add(&sums, row);
	if (rule->ncands == ALERT_RULE_INSTANCES_MAX || !alert_rule_may_hold(rule, &sums))
		return;
	inst = alert_rule_instance_new(value, len);
	inst->sums = sums;
	rule->cands[rule->ncands++] = inst;
	hmap_put(rule->cindex, inst->value, inst);
}

bool alert_rule_wants_latency(const struct alert_rule *rule)
{
	if (!alert_rule_percentile(rule->cond))
		return false;
	if (rule->cfg->each)
		return rule->ncands || rule->nfiring;
	return rule->matched.timed > 0;
}

/* Where the latency rows of value go: remembered for its next rows. */
static void alert_rule_latency_target(struct alert_rule *rule,
				      const char *value, size_t len)
{
	struct alert_rule_instance *inst;

	if (len + 1 > rule->last_cap) {
		rule->last = xrealloc(rule->last, len + 1);
		rule->last_cap = len + 1;
	}
	memcpy(rule->last, value, len);
	rule->last[len] = '\0';
	rule->last_len = len;
	rule->last_valid = true;
	rule->last_hist = NULL;
	if (!alert_rule_matches(rule, value, len))
		return;
	if (!rule->cfg->each) {
		rule->last_hist = &rule->matched.hist;
		return;
	}
	inst = hmap_get(rule->index, value);
	if (!inst)
		inst = hmap_get(rule->cindex, value);
	if (inst)
		rule->last_hist = &inst->sums.hist;
}

void alert_rule_add_latency(struct alert_rule *rule, const char *value,
			    size_t len, unsigned int b, uint64_t hits)
{
	if (!rule->last_valid || len != rule->last_len ||
	    memcmp(rule->last, value, len))
		alert_rule_latency_target(rule, value, len);
	if (rule->last_hist)
		latency_hist_add(rule->last_hist, b, hits);
}

static void alert_rule_event(const struct alert_rule *rule,
			     struct alert_rule_event *ev,
			     enum alert_rule_status status,
			     const struct alert_rule_instance *inst)
{
	struct alert_rule_judgement j;

	alert_rule_judge(rule, &inst->sums, &j);
	ev->status = status;
	ev->value = NULL;
	ev->len = 0;
	if (inst->value) {
		ev->value = xmalloc(inst->len + 1);
		memcpy(ev->value, inst->value, inst->len + 1);
		ev->len = inst->len;
	}
	ev->hits = inst->sums.hits;
	ev->total = rule->total;
	ev->timed = j.timed;
	ev->bytes = inst->sums.bytes;
	ev->observed = j.observed;
	ev->lo_us = j.lo_us;
	ev->hi_us = j.hi_us;
}

static bool alert_rule_holds(const struct alert_rule *rule,
			     const struct alert_rule_sums *s)
{
	struct alert_rule_judgement j;

	alert_rule_judge(rule, s, &j);
	return j.holds;
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
		if (!alert_rule_holds(rule, &rule->firing[i]->sums))
			alert_rule_resolve(rule, i, &events[n++]);
	for (i = 0; i < rule->ncands; i++) {
		if (!alert_rule_holds(rule, &rule->cands[i]->sums))
			continue;
		if (rule->nfiring == ALERT_RULE_INSTANCES_MAX) {
			capped++;
			continue;
		}
		hmap_remove(rule->cindex, rule->cands[i]->value);
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
	bool holds = alert_rule_holds(rule, &rule->matched);
	struct alert_rule_instance *whole;
	size_t n = 0;

	if (rule->cfg->each) {
		n = alert_rule_end_each(rule, ev);
	} else if (holds && !rule->nfiring) {
		whole = alert_rule_instance_new(NULL, 0);
		whole->sums = rule->matched;
		alert_rule_fire(rule, whole, &ev[n++]);
	} else if (!holds && rule->nfiring) {
		rule->firing[0]->sums = rule->matched;
		alert_rule_resolve(rule, 0, &ev[n++]);
	} else if (rule->nfiring) {
		rule->firing[0]->sums = rule->matched;
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
