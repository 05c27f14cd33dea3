/*
 * prep: a batch is cut in two; the worker thread prepares the first part
 * from prep_begin() on, while the loop's thread counts the batch before
 * and then prepares the rest in prep_end(), each with a parser and a
 * dimensions of its own (neither is thread-safe), into disjoint slots of
 * one of two slot sets (the other holds the batch being counted). The
 * mutex and condition variables only hand the range over and back; the
 * slots are the worker's between the two. The worker's share moves by a
 * sixteenth per batch toward the point where neither thread waits for the
 * other. Values are copied into their slot's arena: dimensions hands them
 * out from its own scratch.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "dimensions.h"
#include "logging.h"
#include "prep.h"
#include "runtime.h"
#include "xalloc.h"

/* Below this many messages the loop's thread does the batch alone. */
#define PREP_SPLIT_MIN 64

/* The worker's share of a batch, in sixteenths: first, least, most. */
#define PREP_SHARE_START 12
#define PREP_SHARE_MIN 4
#define PREP_SHARE_MAX 15

struct prep_worker {
	struct accesslog *parser;
	struct dimensions *dims;
};

struct prep {
	struct prep_worker mine, theirs;
	struct prep_slot sets[2][PREP_BATCH];
	int set;                        /* of the batch begun last */
	unsigned share;                 /* the worker's, in sixteenths */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	rd_kafka_message_t *const *msgs;        /* the batch begun last */
	size_t split, n;                /* worker [0, split), loop [split, n) */
	bool busy, stop;
};

static void prep_emit(void *arg, size_t dim, const char *value, size_t len)
{
	struct prep_slot *slot = arg;
	struct prep_value *v;

	if (slot->nvals == slot->vals_cap) {
		slot->vals_cap = slot->vals_cap ? 2 * slot->vals_cap : 8;
		slot->vals = xreallocarray(slot->vals, slot->vals_cap, sizeof(*slot->vals));
	}
	if (len > slot->arena_cap - slot->arena_len) {
		while (len > slot->arena_cap - slot->arena_len)
			slot->arena_cap = slot->arena_cap ? 2 * slot->arena_cap : 256;
		slot->arena = xrealloc(slot->arena, slot->arena_cap);
	}
	v = &slot->vals[slot->nvals++];
	v->dim = (uint32_t)dim;
	v->len = (uint32_t)len;
	v->off = slot->arena_len;
	memcpy(slot->arena + slot->arena_len, value, len);
	slot->arena_len += len;
}

static void prep_one(struct prep_worker *w, const rd_kafka_message_t *msg,
		     struct prep_slot *slot)
{
	struct accesslog_record rec;

	message_event_fini(&slot->ev);
	slot->nvals = slot->arena_len = 0;
	slot->parsed = false;
	slot->time_ms = -1;
	slot->decode_rc = message_decode_line(msg->payload, msg->len, &slot->ev,
					      slot->why, sizeof(slot->why));
	slot->keyed = !slot->decode_rc && slot->ev.enveloped &&
		      slot->ev.offset >= 0 && msg->key && msg->key_len &&
		      msg->key_len <= PREP_KEY_MAX &&
		      !memchr(msg->key, '\0', msg->key_len);
	if (slot->keyed) {
		memcpy(slot->key, msg->key, msg->key_len);
		slot->key[msg->key_len] = '\0';
	}
	if (slot->decode_rc ||
	    accesslog_parse(w->parser, slot->ev.line, slot->ev.len, &rec))
		return;
	slot->parsed = true;
	slot->time_ms = rec.time_ms;
	slot->line.bytes = rec.bytes;
	slot->line.duration_us = rec.duration_us;
	dimensions_extract(w->dims, &rec, prep_emit, slot);
}

static void prep_range(struct prep_worker *w, struct prep_slot *slots,
		       rd_kafka_message_t *const *msgs, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		prep_one(w, msgs[i], &slots[i]);
}

static void *prep_main(void *arg)
{
	struct prep *pp = arg;

	pthread_mutex_lock(&pp->lock);
	for (;;) {
		while (!pp->busy && !pp->stop)
			pthread_cond_wait(&pp->wake, &pp->lock);
		if (pp->stop)
			break;
		pthread_mutex_unlock(&pp->lock);
		prep_range(&pp->theirs, pp->sets[pp->set], pp->msgs, 0, pp->split);
		pthread_mutex_lock(&pp->lock);
		pp->busy = false;
		pthread_cond_signal(&pp->done);
	}
	pthread_mutex_unlock(&pp->lock);
	return NULL;
}

static int prep_worker_init(struct prep_worker *w,
			    const struct aggregator_config *cfg, char *err,
			    size_t errlen)
{
	char why[512];

	w->parser = accesslog_new(cfg->log_format, why, sizeof(why));
	if (!w->parser) {
		snprintf(err, errlen, "log_format: %s", why);
		return -1;
	}
	w->dims = dimensions_new(&cfg->dimensions, w->parser, why, sizeof(why));
	if (!w->dims) {
		snprintf(err, errlen, "dimensions: %s", why);
		return -1;
	}
	return 0;
}

static void prep_worker_fini(struct prep_worker *w)
{
	dimensions_free(w->dims);
	accesslog_free(w->parser);
}

struct prep *prep_new(const struct aggregator_config *cfg, char *err,
		      size_t errlen)
{
	struct prep *pp = xcalloc(1, sizeof(*pp));
	int rc;

	if (prep_worker_init(&pp->mine, cfg, err, errlen) ||
	    prep_worker_init(&pp->theirs, cfg, err, errlen)) {
		prep_worker_fini(&pp->mine);
		prep_worker_fini(&pp->theirs);
		free(pp);
		return NULL;
	}
	pp->share = PREP_SHARE_START;
	pthread_mutex_init(&pp->lock, NULL);
	pthread_cond_init(&pp->wake, NULL);
	pthread_cond_init(&pp->done, NULL);
	rc = pthread_create(&pp->thread, NULL, prep_main, pp);
	if (rc) {
		logging_error("prep: pthread_create: %s", strerror(rc));
		abort();
	}
	pthread_setname_np(pp->thread, "logtally:prep");
	return pp;
}

double prep_cpu_s(const struct prep *pp)
{
	return runtime_thread_cpu_s(pp->thread);
}

const struct dimensions *prep_dimensions(const struct prep *pp)
{
	return pp->mine.dims;
}

void prep_free(struct prep *pp)
{
	if (!pp)
		return;
	pthread_mutex_lock(&pp->lock);
	pp->stop = true;
	pthread_cond_signal(&pp->wake);
	pthread_mutex_unlock(&pp->lock);
	pthread_join(pp->thread, NULL);
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < PREP_BATCH; i++) {
			message_event_fini(&pp->sets[s][i].ev);
			free(pp->sets[s][i].vals);
			free(pp->sets[s][i].arena);
		}
	prep_worker_fini(&pp->mine);
	prep_worker_fini(&pp->theirs);
	pthread_cond_destroy(&pp->done);
	pthread_cond_destroy(&pp->wake);
	pthread_mutex_destroy(&pp->lock);
	free(pp);
}

void prep_begin(struct prep *pp, rd_kafka_message_t *const *msgs, size_t n)
{
	assert(!pp->busy && n <= PREP_BATCH);
	pp->set = !pp->set;
	pp->msgs = msgs;
	pp->n = n;
	pp->split = n >= PREP_SPLIT_MIN ? n * pp->share / 16 : 0;
	if (!pp->split)
		return;
	pthread_mutex_lock(&pp->lock);
	pp->busy = true;
	pthread_cond_signal(&pp->wake);
	pthread_mutex_unlock(&pp->lock);
}

struct prep_slot *prep_end(struct prep *pp)
{
	struct prep_slot *slots = pp->sets[pp->set];
	bool waited;

	prep_range(&pp->mine, slots, pp->msgs, pp->split, pp->n);
	if (!pp->split)
		return slots;
	pthread_mutex_lock(&pp->lock);
	waited = pp->busy;
	while (pp->busy)
		pthread_cond_wait(&pp->done, &pp->lock);
	pthread_mutex_unlock(&pp->lock);
	/* the thread that finished first takes a sixteenth more next time */
	if (waited && pp->share > PREP_SHARE_MIN)
		pp->share--;
	else if (!waited && pp->share < PREP_SHARE_MAX)
		pp->share++;
	return slots;
}
