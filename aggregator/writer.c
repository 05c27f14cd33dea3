/*
 * writer: one thread, one job slot, one mutex. The loop's thread sets the
 * job and signals; the writer runs it outside the lock, stores
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
	writer_job_fn job;              /* NULL: none */
	void *arg;
	bool busy;                      /* job set, outcome not collected */
	bool done;
	bool stop;
	struct writer_outcome outcome;
};

static void writer_run(struct writer *w, writer_job_fn job, void *arg)
{
	struct writer_outcome out = {0};

	out.rc = job(w->store, arg, out.err, sizeof(out.err));
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
		writer_job_fn job;
		void *job_arg;

		while (!w->job && !w->stop)
			pthread_cond_wait(&w->wake, &w->lock);
		if (!w->job)
			break;
		job = w->job;
		job_arg = w->arg;
		pthread_mutex_unlock(&w->lock);
		writer_run(w, job, job_arg);
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

void writer_start(struct writer *w, writer_job_fn job, void *arg)
{
	pthread_mutex_lock(&w->lock);
	w->job = job;
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
