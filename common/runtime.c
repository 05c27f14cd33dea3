/*
 * runtime: clocks and stop signals, the same for the agent and the
 * aggregator.
 */
#include "runtime.h"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>

static int64_t runtime_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t runtime_now_ms(void)
{
	return runtime_ms(CLOCK_MONOTONIC);
}

int64_t runtime_wall_ms(void)
{
	return runtime_ms(CLOCK_REALTIME);
}

static double runtime_cpu_s(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts))
		return 0;
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double runtime_thread_cpu_s(pthread_t thread)
{
	clockid_t clock;

	if (pthread_getcpuclockid(thread, &clock))
		return 0;
	return runtime_cpu_s(clock);
}

double runtime_process_cpu_s(void)
{
	return runtime_cpu_s(CLOCK_PROCESS_CPUTIME_ID);
}

double runtime_self_cpu_s(void)
{
	return runtime_cpu_s(CLOCK_THREAD_CPUTIME_ID);
}

static void runtime_stop_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
}

int runtime_block_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	runtime_stop_set(&set);
	return pthread_sigmask(SIG_BLOCK, &set, NULL) ? -1 : 0;
}

int runtime_signals(void)
{
	sigset_t set;

	if (runtime_block_signals())
		return -1;
	runtime_stop_set(&set);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}
