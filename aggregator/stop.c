/*
 * stop: a signalfd and the count of what it delivered. Nothing here acts
 * on a signal: the loop and the waits it makes (the database at start, a
 * rebalance waiting for stored offsets) ask, and decide.
 */
#include "stop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "logging.h"
#include "runtime.h"
#include "xalloc.h"

#define STOP_BACKOFF_MAX_MS 5000

struct stop {
	int fd;
	int signals;
};

struct stop *stop_new(char *err, size_t errlen)
{
	struct stop *st = xcalloc(1, sizeof(*st));

	st->fd = runtime_signals();
	if (st->fd < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		free(st);
		return NULL;
	}
	return st;
}

void stop_free(struct stop *st)
{
	if (!st)
		return;
	close(st->fd);
	free(st);
}

int stop_signals(struct stop *st)
{
	struct signalfd_siginfo info;

	while (read(st->fd, &info, sizeof(info)) == sizeof(info)) {
		st->signals++;
		logging_info("%s: %s", strsignal((int)info.ssi_signo),
			     st->signals == 1 ? "flushing and leaving the group" :
			     "stopping now");
	}
	return st->signals;
}

/* A signal ends the wait at once (as may EINTR: callers wait in loops). */
void stop_wait(struct stop *st, int64_t ms)
{
	struct pollfd pfd = {.fd = st->fd, .events = POLLIN};

	poll(&pfd, 1, ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms);
	stop_signals(st);
}

bool stop_pause(struct stop *st, int64_t *backoff)
{
	if (stop_signals(st))
		return false;
	stop_wait(st, *backoff);
	*backoff = *backoff * 2 > STOP_BACKOFF_MAX_MS ? STOP_BACKOFF_MAX_MS : *backoff * 2;
	return !st->signals;
}
