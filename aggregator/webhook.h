/*
 * webhook: POSTs JSON messages to HTTP endpoints from a thread of its own,
 * so that a slow or dead receiver never holds up whoever sends. Messages
 * wait in a bounded queue (when it is full, the oldest is dropped and
 * counted); each is tried until it is answered 2xx, retried with doubling
 * backoff after a connection error, a timeout, 429 or 5xx, and given up
 * after a few attempts or at once on any other answer (another 4xx: the
 * receiver refuses it). Messages of one key (an alert rule) are delivered
 * in the order they were sent; a message waiting for its retry holds back
 * the later ones of its key only. URLs are never logged (they may hold a
 * secret, as Slack's do); the name given with a message is.
 *
 * Metrics: logtally_aggregator_alert_failures_total (attempts that
 * failed) and logtally_aggregator_alert_dropped_total (messages given up
 * or pushed out of the queue).
 */
#ifndef LOGTALLY_WEBHOOK_H
#define LOGTALLY_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct webhook;
struct metrics;
struct metrics_counter;

/* Defaults of struct webhook_options, used where a field is 0. */
#define WEBHOOK_CONNECT_TIMEOUT_MS 5000
#define WEBHOOK_TIMEOUT_MS 10000
#define WEBHOOK_BACKOFF_MS 500
#define WEBHOOK_BACKOFF_MAX_MS 30000
#define WEBHOOK_ATTEMPTS 8
#define WEBHOOK_QUEUE_MAX 1024

/* Tunables for tests; the aggregator passes none. */
struct webhook_options {
	long connect_timeout_ms;        /* to connect */
	long timeout_ms;                /* the whole attempt */
	int64_t backoff_ms;             /* before the second attempt, then doubled */
	int64_t backoff_max_ms;
	int attempts;                   /* at most, the first included */
	size_t queue_max;               /* messages waiting, the one in flight included */
};

/* A message to send; webhook_send() copies all of it. */
struct webhook_message {
	unsigned int key;               /* one key: delivered in order */
	const char *name;               /* for log lines, e.g. "errors-5xx firing" */
	const char *url;                /* http:// or https:// */
	const struct config_map *headers;       /* "Name: value" each; may be NULL */
	const char *body;               /* JSON, sent as application/json */
	struct metrics_counter *sent;   /* counted once delivered; may be NULL */
};

/*
 * Starts the sender thread. opts may be NULL (every default); reg receives
 * the metrics and must outlive the webhook. Returns NULL with the reason
 * in err when libcurl cannot be set up. Caller owns the result; free with
 * webhook_free().
 */
struct webhook *webhook_new(struct metrics *reg,
			    const struct webhook_options *opts, char *err,
			    size_t errlen);

/*
 * Stops the thread promptly, an attempt in flight included (it is aborted,
 * not waited for), and drops what is still queued (logged and counted).
 * NULL is a no-op.
 */
void webhook_free(struct webhook *wh);

/* Queues a copy of msg. Never blocks on the network. Thread-safe. */
void webhook_send(struct webhook *wh, const struct webhook_message *msg);

#endif
