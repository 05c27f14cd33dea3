/*
 * alert_rule: what an alert rule decides, apart from where its numbers come
 * from (alerts.c reads them from MariaDB) and where its messages go
 * (alert_message.c writes them, webhook.c posts them), so that it can be
 * tested alone.
 *
 * A rule has instances: the rule as a whole, or with each set, one per
 * matching value. A round is alert_rule_begin(), alert_rule_add() for every
 * value of the dimension with its sums over the span, for a percentile
 * rule that wants them (alert_rule_wants_latency()) the latency histogram
 * rows through alert_rule_add_latency(), and alert_rule_end(), which
 * compares each instance's condition with its state after the round
 * before: one that starts to hold fires, one that stops holding resolves,
 * one that keeps either state says nothing. A round that is begun and not
 * ended changes no state, so a failed read neither fires nor resolves.
 * At most ALERT_RULE_INSTANCES_MAX instances of a rule fire at once.
 * A rule is used by one thread at a time.
 */
#ifndef LOGTALLY_ALERT_RULE_H
#define LOGTALLY_ALERT_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregator_config.h"

#define ALERT_RULE_INSTANCES_MAX 100

struct alert_rule;

enum alert_rule_status {
	ALERT_RULE_FIRING,
	ALERT_RULE_RESOLVED,
};

/* One value's sums over the span, as the counts table holds them. */
struct alert_rule_row {
	uint64_t hits;
	uint64_t bytes;
	uint64_t timed;                 /* hits with a duration */
	uint64_t duration_us_sum;       /* of the timed hits */
	uint64_t duration_us_max;       /* 0 when none is known */
};

/* A change of state of one instance, as alert_rule_end() reports it. */
struct alert_rule_event {
	enum alert_rule_status status;
	char *value;            /* each: the value (owned, NUL after len); else NULL */
	size_t len;
	uint64_t hits;          /* of the matching values (each: of this one) */
	uint64_t total;         /* of every value of the dimension */
	uint64_t timed;         /* of hits, those with a duration */
	uint64_t bytes;         /* of the matching values (each: of this one) */
	/*
	 * What the threshold is compared with: hits, a share from 0 to 1,
	 * microseconds (a percentile's estimate, an average) or bytes.
	 */
	double observed;
	uint64_t lo_us, hi_us;  /* a percentile: where the true value lies */
};

/*
 * A rule for cfg (borrowed: it must outlive the rule), with no instance
 * firing. Returns NULL with the reason in err when its pattern does not
 * compile or its threshold does not parse (both were checked when the
 * configuration loaded).
 */
struct alert_rule *alert_rule_new(const struct aggregator_alert *cfg,
				  char *err, size_t errlen);

/* Frees the rule and its states. NULL is a no-op. */
void alert_rule_free(struct alert_rule *rule);

/* The configuration the rule was made from. */
const struct aggregator_alert *alert_rule_config(const struct alert_rule *rule);

/* Starts a round: forgets the sums of any round that was not ended. */
void alert_rule_begin(struct alert_rule *rule);

/*
 * Adds one value of the dimension and its sums over the span (value[len]
 * must be NUL; a value is compared up to its first NUL byte). Each value
 * once per round. With each set, the first ALERT_RULE_INSTANCES_MAX
 * matching values that are not firing and may hold are kept as
 * candidates: add values in descending order of hits (as alerts.c reads
 * them) so that they are the largest. row is borrowed for the call.
 */
void alert_rule_add(struct alert_rule *rule, const char *value, size_t len,
		    const struct alert_rule_row *row);

/*
 * The threshold the rule compares with: hits, a share from 0 to 1,
 * microseconds or bytes, by its condition.
 */
double alert_rule_threshold(const struct alert_rule *rule);

/* Whether the rule watches a percentile, which needs latency histograms. */
bool alert_rule_uses_latency(const struct alert_rule *rule);

/*
 * After the last alert_rule_add() of a round: whether the rule is a
 * percentile rule with an instance to judge, which needs the histograms.
 */
bool alert_rule_wants_latency(const struct alert_rule *rule);

/*
 * Adds hits in latency bucket b (0 to WINDOW_BUCKETS - 1) to value's
 * histogram over the span: to the matching values' sum, or with each set
 * to the value's instance if it has one this round; other values are
 * passed over. Rows of one value are best added one after another (as
 * GROUP BY value, bucket returns them): the match is made once for them.
 */
void alert_rule_add_latency(struct alert_rule *rule, const char *value,
			    size_t len, unsigned int b, uint64_t hits);

/*
 * Ends the round: the new states, and their changes in *events (resolved
 * ones first). Returns their number; the caller owns *events (NULL when
 * none) and frees it with alert_rule_events_free().
 */
size_t alert_rule_end(struct alert_rule *rule, struct alert_rule_event **events);

void alert_rule_events_free(struct alert_rule_event *events, size_t n);

/* The number of instances firing now. */
size_t alert_rule_firing(const struct alert_rule *rule);

/* Forgets every state without a message: nothing fires any more. */
void alert_rule_reset(struct alert_rule *rule);

/* "firing" or "resolved". */
const char *alert_rule_status_name(enum alert_rule_status status);

#endif
