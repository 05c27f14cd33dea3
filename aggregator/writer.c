/*
 * writer: one thread, one job slot, one mutex. The loop's thread sets the
 * job and signals; the writer runs store_flush() outside the lock, stores
 * the outcome and marks it done; the loop's thread collects it. The store
 * is touched by the writer's thread only (store_free too happens after the
 * thread was joined).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "logging.h"
#include "runtime.h"
#include "writer.h"
#include "xalloc.h"

struct writer {
	struct store *store;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;            /* a job arrived, or stop */
	pthread_cond_t finished;        /* the job is done */
	const struct store_flush *job;  /* NULL: none */
	void (*prepare)(void *arg);
	void *arg;
	bool busy;                      /* job set, outcome not collected */
	bool done;
	bool stop;
	struct writer_outcome outcome;
};

static void writer_run(struct writer *w, const struct store_flush *fl)
{
	struct writer_outcome out = {.lost = -1};

	if (w->prepare)
		w->prepare(w->arg);
	out.rc = store_flush(w->store, fl, &out.lost, out.err, sizeof(out.err));
	out.statements = store_last_statements(w->store);
	pthread_mutex_lock(&w->lock);
	w->outcome = out;
	w->done = true;
	w->job = NULL;
	pthread_cond_signal(&w->finished);
	pthread_mutex_unlock(&w->lock);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		const struct store_flush *fl;

		while (!w->job && !w->stop)
			pthread_cond_wait(&w->wake, &w->lock);
		if (!w->job)
			break;
		fl = w->job;
		pthread_mutex_unlock(&w->lock);
		writer_run(w, fl);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct writer *writer_new(const struct aggregator_mariadb *cfg)
{
	struct writer *w = xcalloc(1, sizeof(*w));
	int rc;

	w->store = store_new(cfg);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	pthread_cond_init(&w->finished, NULL);
	rc = pthread_create(&w->thread, NULL, writer_main, w);
	if (rc) {
		logging_error("writer: pthread_create: %s", strerror(rc));
		abort();
	}
	pthread_setname_np(w->thread, "logtally:writer");
	return w;
}

double writer_cpu_s(const struct writer *w)
{
	return runtime_thread_cpu_s(w->thread);
}

void writer_free(struct writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	store_free(w->store);
	pthread_cond_destroy(&w->finished);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

void writer_start(struct writer *w, const struct store_flush *fl,
		  void (*prepare)(void *arg), void *arg)
{
	pthread_mutex_lock(&w->lock);
	w->job = fl;
	w->prepare = prepare;
	w->arg = arg;
	w->busy = true;
	w->done = false;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

bool writer_poll(struct writer *w, bool wait, struct writer_outcome *out)
{
	bool done;

	pthread_mutex_lock(&w->lock);
	while (wait && w->busy && !w->done)
		pthread_cond_wait(&w->finished, &w->lock);
	done = w->busy && w->done;
	if (done) {
		*out = w->outcome;
		w->busy = false;
	}
	pthread_mutex_unlock(&w->lock);
	return done;
}

bool writer_busy(const struct writer *w)
{
	return w->busy;         /* written by the loop's thread only */
}
