/*
 * alert_message: the webhook's JSON body for an event of alert_rule.c,
 * apart from the decisions so that each reads on its own. Observed and
 * threshold are in the unit of the rule's condition: hits, a share from 0
 * to 1, microseconds (percentiles, averages) or bytes.
 */
#ifndef LOGTALLY_ALERT_MESSAGE_H
#define LOGTALLY_ALERT_MESSAGE_H

#include <stdint.h>

#include "alert_rule.h"

/*
 * The body for ev of rule at at_s (Unix seconds): a Slack "text" line and
 * the structured fields (see config/aggregator.yml). Values from the logs
 * reach it through jansson only, their invalid UTF-8 (if any) replaced by
 * U+FFFD. rule and ev are borrowed. Caller owns the result; free with
 * free().
 */
char *alert_message_body(const struct alert_rule *rule,
			 const struct alert_rule_event *ev, int64_t at_s);

#endif
