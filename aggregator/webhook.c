/*
 * webhook: one sender thread, one queue (an array, oldest first), one
 * mutex. The thread picks the oldest message that is due and first of its
 * key, sends it without the lock through a libcurl multi handle (so that
 * webhook_free() can wake curl_multi_poll() and abort an attempt at once),
 * then settles it under the lock: delivered, scheduled again, or given up.
 * A message stays in the queue while it is tried (marked busy), so that
 * the queue's bound covers it and an overflow drops another one.
 */
#include "webhook.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "logging.h"
#include "metrics.h"
#include "runtime.h"
#include "xalloc.h"

#define WEBHOOK_POLL_MS 1000    /* curl_multi_poll(); a wakeup ends it sooner */

struct webhook_item {
	unsigned int key;
	char *name;
	char *url;
	struct curl_slist *headers;
	char *body;
	struct metrics_counter *sent;
	int attempts;           /* made so far */
	int64_t due_ms;         /* monotonic: not before */
	bool busy;              /* being tried now, outside the lock */
};

struct webhook {
	struct webhook_options opts;
	CURLM *multi;                   /* the thread's; woken by webhook_free() */
	pthread_t thread;
	pthread_mutex_t lock;           /* guards items, n and the items' fields */
	pthread_cond_t wake;            /* a message arrived, or stop */
	atomic_bool stop;
	struct webhook_item **items;    /* oldest first, opts.queue_max of them */
	size_t n;
	struct metrics_counter *failures, *dropped;
};

enum webhook_outcome {
	WEBHOOK_DELIVERED,
	WEBHOOK_RETRY,          /* the receiver may take it later */
	WEBHOOK_REFUSED,        /* it never will */
	WEBHOOK_ABORTED,        /* stopping */
};

/* --- messages ------------------------------------------------------------ */

static struct curl_slist *webhook_append(struct curl_slist *list, const char *line)
{
	struct curl_slist *next = curl_slist_append(list, line);

	if (!next) {
		logging_error("webhook: out of memory");
		abort();
	}
	return next;
}

/* The rule's headers, then ours unless it set them. */
static struct curl_slist *webhook_headers(const struct config_map *headers)
{
	struct curl_slist *list = NULL;
	bool typed = false;

	for (size_t i = 0; headers && i < headers->n; i++) {
		char *line = xasprintf("%s: %s", headers->items[i].key,
				       headers->items[i].value);

		list = webhook_append(list, line);
		typed |= !strcasecmp(headers->items[i].key, "Content-Type");
		free(line);
	}
	if (!typed)
		list = webhook_append(list, "Content-Type: application/json");
	/* no "Expect: 100-continue": a small body goes at once */
	return webhook_append(list, "Expect:");
}

static struct webhook_item *webhook_item_new(const struct webhook_message *msg)
{
	struct webhook_item *item = xcalloc(1, sizeof(*item));

	item->key = msg->key;
	item->name = xstrdup(msg->name);
	item->url = xstrdup(msg->url);
	item->headers = webhook_headers(msg->headers);
	item->body = xstrdup(msg->body);
	item->sent = msg->sent;
	item->due_ms = runtime_now_ms();
	return item;
}

static void webhook_item_free(struct webhook_item *item)
{
	free(item->name);
	free(item->url);
	curl_slist_free_all(item->headers);
	free(item->body);
	free(item);
}

/* Takes item out of the queue (under the lock) and frees it. */
static void webhook_remove(struct webhook *wh, struct webhook_item *item)
{
	for (size_t i = 0; i < wh->n; i++) {
		if (wh->items[i] != item)
			continue;
		memmove(&wh->items[i], &wh->items[i + 1],
			(wh->n - i - 1) * sizeof(*wh->items));
		wh->n--;
		break;
	}
	webhook_item_free(item);
}

/* --- one attempt ----------------------------------------------------------- */

static size_t webhook_discard(char *data, size_t size, size_t n, void *arg)
{
	return size * n;
}

static void webhook_setup(struct webhook *wh, CURL *curl,
			  const struct webhook_item *item, char *errbuf)
{
	curl_easy_setopt(curl, CURLOPT_URL, item->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, item->body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(item->body));
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, item->headers);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "logtally-aggregator/" PACKAGE_VERSION);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, wh->opts.connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, wh->opts.timeout_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, webhook_discard);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
}

/* Runs the transfer to its end, or until stop. */
static CURLcode webhook_perform(struct webhook *wh, CURL *curl)
{
	CURLcode code = CURLE_FAILED_INIT;
	int running = 1, left;
	CURLMsg *msg;

	if (curl_multi_add_handle(wh->multi, curl) != CURLM_OK)
		return code;
	while (running && !atomic_load(&wh->stop)) {
		if (curl_multi_perform(wh->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(wh->multi, NULL, 0, WEBHOOK_POLL_MS, NULL);
	}
	while ((msg = curl_multi_info_read(wh->multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			code = msg->data.result;
	curl_multi_remove_handle(wh->multi, curl);
	return code;
}

/* Failures that another attempt may not meet. */
static bool webhook_transient(CURLcode code)
{
	switch (code) {
	case CURLE_FAILED_INIT: case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT:
	case CURLE_WEIRD_SERVER_REPLY: case CURLE_HTTP2: case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT: case CURLE_SSL_CONNECT_ERROR:
	case CURLE_GOT_NOTHING: case CURLE_SEND_ERROR: case CURLE_RECV_ERROR:
	case CURLE_HTTP2_STREAM: case CURLE_OUT_OF_MEMORY:
		return true;
	default:
		return false;
	}
}

static enum webhook_outcome webhook_attempt(struct webhook *wh,
					    const struct webhook_item *item,
					    char *why, size_t whylen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *curl = curl_easy_init();
	long status = 0;
	CURLcode code = CURLE_FAILED_INIT;

	if (curl) {
		webhook_setup(wh, curl, item, errbuf);
		code = webhook_perform(wh, curl);
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(curl);
	}
	if (atomic_load(&wh->stop))
		return WEBHOOK_ABORTED;
	if (code != CURLE_OK) {
		snprintf(why, whylen, "%s", *errbuf ? errbuf : curl_easy_strerror(code));
		return webhook_transient(code) ? WEBHOOK_RETRY : WEBHOOK_REFUSED;
	}
	if (status >= 200 && status < 300)
		return WEBHOOK_DELIVERED;
	snprintf(why, whylen, "HTTP %ld", status);
	return status == 429 || status >= 500 ? WEBHOOK_RETRY : WEBHOOK_REFUSED;
}

/* --- the thread ------------------------------------------------------------- */

/* Delay after failed attempt n (1, 2, ...): backoff doubled n - 1 times. */
static int64_t webhook_backoff(const struct webhook *wh, int attempts)
{
	int64_t delay = wh->opts.backoff_ms;

	for (int i = 1; i < attempts && delay < wh->opts.backoff_max_ms; i++)
		delay *= 2;
	return delay < wh->opts.backoff_max_ms ? delay : wh->opts.backoff_max_ms;
}

/* Under the lock: what becomes of item after an attempt. */
static void webhook_settle(struct webhook *wh, struct webhook_item *item,
			   enum webhook_outcome outcome, const char *why)
{
	static struct logging_limit limit;
	int64_t delay;

	if (outcome == WEBHOOK_ABORTED)
		return;         /* webhook_free() drops what is left */
	item->attempts++;
	if (outcome == WEBHOOK_DELIVERED) {
		logging_debug("webhook: %s delivered at attempt %d", item->name,
			      item->attempts);
		if (item->sent)
			metrics_counter_add(item->sent, 1);
		webhook_remove(wh, item);
		return;
	}
	metrics_counter_add(wh->failures, 1);
	if (outcome == WEBHOOK_RETRY && item->attempts < wh->opts.attempts) {
		delay = webhook_backoff(wh, item->attempts);
		item->due_ms = runtime_now_ms() + delay;
		logging_limited(&limit, LOGGING_WARN, "webhook: %s: attempt %d of "
				"%d failed: %s; again in %.1f s", item->name,
				item->attempts, wh->opts.attempts, why, delay / 1000.0);
		return;
	}
	logging_warn("webhook: %s: %s: %s", item->name, why,
		     outcome == WEBHOOK_RETRY ? "giving up after the last attempt" :
		     "refused, not retried");
	metrics_counter_add(wh->dropped, 1);
	webhook_remove(wh, item);
}

/* Whether no message before item i has its key: it may go. */
static bool webhook_first_of_key(const struct webhook *wh, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (wh->items[j]->key == wh->items[i]->key)
			return false;
	return true;
}

/*
 * The message to try now, or NULL with the wait until the next is due in
 * *wait_ms (-1: none is waiting).
 */
static struct webhook_item *webhook_next(struct webhook *wh, int64_t now,
					 int64_t *wait_ms)
{
	*wait_ms = -1;
	for (size_t i = 0; i < wh->n; i++) {
		struct webhook_item *item = wh->items[i];

		if (!webhook_first_of_key(wh, i))
			continue;
		if (item->due_ms <= now)
			return item;
		if (*wait_ms < 0 || item->due_ms - now < *wait_ms)
			*wait_ms = item->due_ms - now;
	}
	return NULL;
}

/* Under the lock: sleep until woken, or wait_ms (>= 0) passed. */
static void webhook_wait(struct webhook *wh, int64_t wait_ms)
{
	struct timespec until;

	if (wait_ms < 0) {
		pthread_cond_wait(&wh->wake, &wh->lock);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (wait_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&wh->wake, &wh->lock, &until);
}

static void *webhook_main(void *arg)
{
	struct webhook *wh = arg;
	enum webhook_outcome outcome;
	struct webhook_item *item;
	char why[CURL_ERROR_SIZE + 64];
	int64_t wait_ms;

	pthread_mutex_lock(&wh->lock);
	while (!atomic_load(&wh->stop)) {
		item = webhook_next(wh, runtime_now_ms(), &wait_ms);
		if (!item) {
			webhook_wait(wh, wait_ms);
			continue;
		}
		item->busy = true;
		pthread_mutex_unlock(&wh->lock);
		outcome = webhook_attempt(wh, item, why, sizeof(why));
		pthread_mutex_lock(&wh->lock);
		item->busy = false;
		webhook_settle(wh, item, outcome, why);
	}
	pthread_mutex_unlock(&wh->lock);
	return NULL;
}

/* --- the API --------------------------------------------------------------- */

static void webhook_defaults(struct webhook_options *o)
{
	o->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms :
				WEBHOOK_CONNECT_TIMEOUT_MS;
	o->timeout_ms = o->timeout_ms ? o->timeout_ms : WEBHOOK_TIMEOUT_MS;
	o->backoff_ms = o->backoff_ms ? o->backoff_ms : WEBHOOK_BACKOFF_MS;
	o->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms :
			    WEBHOOK_BACKOFF_MAX_MS;
	o->attempts = o->attempts ? o->attempts : WEBHOOK_ATTEMPTS;
	o->queue_max = o->queue_max ? o->queue_max : WEBHOOK_QUEUE_MAX;
}

static void webhook_metrics(struct webhook *wh, struct metrics *reg)
{
	wh->failures = metrics_counter(reg, "logtally_aggregator_alert_failures_total",
				       "Webhook attempts that failed.", NULL);
	wh->dropped = metrics_counter(reg, "logtally_aggregator_alert_dropped_total",
				      "Alert messages given up, or pushed out of a full queue.",
				      NULL);
}

struct webhook *webhook_new(struct metrics *reg,
			    const struct webhook_options *opts, char *err,
			    size_t errlen)
{
	struct webhook *wh;
	pthread_condattr_t attr;
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(err, errlen, "webhook: libcurl cannot be initialised");
		return NULL;
	}
	wh = xcalloc(1, sizeof(*wh));
	if (opts)
		wh->opts = *opts;
	webhook_defaults(&wh->opts);
	wh->items = xcalloc(wh->opts.queue_max, sizeof(*wh->items));
	wh->multi = curl_multi_init();
	webhook_metrics(wh, reg);
	atomic_init(&wh->stop, false);
	pthread_mutex_init(&wh->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&wh->wake, &attr);
	pthread_condattr_destroy(&attr);
	rc = wh->multi ? pthread_create(&wh->thread, NULL, webhook_main, wh) : -1;
	if (rc) {
		logging_error("webhook: cannot start: %s", rc > 0 ? strerror(rc) :
			      "curl_multi_init failed");
		abort();
	}
	pthread_setname_np(wh->thread, "logtally:webhook");
	return wh;
}

void webhook_free(struct webhook *wh)
{
	if (!wh)
		return;
	pthread_mutex_lock(&wh->lock);
	atomic_store(&wh->stop, true);
	pthread_cond_signal(&wh->wake);
	pthread_mutex_unlock(&wh->lock);
	curl_multi_wakeup(wh->multi);
	pthread_join(wh->thread, NULL);
	if (wh->n)
		logging_warn("webhook: stopping with %zu alert message%s not delivered",
			     wh->n, wh->n == 1 ? "" : "s");
	metrics_counter_add(wh->dropped, wh->n);
	for (size_t i = 0; i < wh->n; i++)
		webhook_item_free(wh->items[i]);
	free(wh->items);
	curl_multi_cleanup(wh->multi);
	pthread_cond_destroy(&wh->wake);
	pthread_mutex_destroy(&wh->lock);
	free(wh);
	curl_global_cleanup();
}

/* Under the lock, the queue full: drop its oldest message not in flight. */
static bool webhook_drop_oldest(struct webhook *wh)
{
	static struct logging_limit limit;

	for (size_t i = 0; i < wh->n; i++) {
		if (wh->items[i]->busy)
			continue;
		logging_limited(&limit, LOGGING_WARN, "webhook: the queue is full "
				"(%zu): dropping %s", wh->opts.queue_max,
				wh->items[i]->name);
		metrics_counter_add(wh->dropped, 1);
		webhook_remove(wh, wh->items[i]);
		return true;
	}
	return false;
}

void webhook_send(struct webhook *wh, const struct webhook_message *msg)
{
	struct webhook_item *item = webhook_item_new(msg);

	pthread_mutex_lock(&wh->lock);
	if (wh->n < wh->opts.queue_max || webhook_drop_oldest(wh)) {
		wh->items[wh->n++] = item;
		item = NULL;
		pthread_cond_signal(&wh->wake);
	}
	pthread_mutex_unlock(&wh->lock);
	if (item) {     /* a queue of one, busy */
		metrics_counter_add(wh->dropped, 1);
		webhook_item_free(item);
	}
}
