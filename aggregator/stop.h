/*
 * stop: the signals that end a run, read from a signalfd that every wait of
 * the loop's thread watches. The first SIGTERM or SIGINT asks for a
 * graceful stop (flush, leave the group); a second, for stopping at once.
 */
#ifndef LOGTALLY_STOP_H
#define LOGTALLY_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stop;

/*
 * Block SIGTERM and SIGINT in the calling thread (and the threads it starts
 * after) and read them from now on. NULL with the reason in err.
 */
struct stop *stop_new(char *err, size_t errlen);
void stop_free(struct stop *st);

/* Read the signals that arrived (each is logged); how many there were. */
int stop_signals(struct stop *st);

/* Wait up to ms, or until a signal arrives (it is read). */
void stop_wait(struct stop *st, int64_t ms);

/*
 * Wait *backoff ms unless stopping, then double it (up to 5 s). Returns
 * false, at once or after the wait, when a signal asked to stop.
 */
bool stop_pause(struct stop *st, int64_t *backoff);

#endif
