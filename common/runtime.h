/*
 * runtime: what both programs' loops need of the system: clocks in
 * milliseconds and the stop signals read from a signalfd.
 */
#ifndef LOGTALLY_RUNTIME_H
#define LOGTALLY_RUNTIME_H

#include <pthread.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds: for timeouts and intervals. */
int64_t runtime_now_ms(void);

/* CLOCK_REALTIME in milliseconds since the epoch: for event times. */
int64_t runtime_wall_ms(void);

/*
 * CPU seconds used so far by thread (0 when the clock cannot be read),
 * and by the whole process.
 */
double runtime_thread_cpu_s(pthread_t thread);
double runtime_process_cpu_s(void);

/* CPU seconds used so far by the calling thread. */
double runtime_self_cpu_s(void);

/*
 * Ignore SIGPIPE and block SIGTERM and SIGINT in the calling thread (and
 * so in every thread it starts after). main() calls it first: a stop asked
 * while the program still loads its configuration then waits, pending,
 * for the signalfd instead of killing it unsaved. 0, or -1 with errno.
 */
int runtime_block_signals(void);

/*
 * runtime_block_signals(), and a non-blocking signalfd that reads SIGTERM
 * and SIGINT (those pending already included); -1 with errno set on
 * failure.
 */
int runtime_signals(void);

#endif
