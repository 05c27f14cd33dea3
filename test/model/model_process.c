/*
 * The model's real programs: the logtally-agent binary, started, killed
 * with SIGKILL and stopped with SIGTERM as an operator would, and a
 * logtally-devbroker of the job's own, taken down and up through its
 * control socket. Their steps are not the model's to choose: between two
 * operations the agent runs on its own timers for a few milliseconds, so a
 * seed replays the same operations, not the same interleaving.
 */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "xalloc.h"

#define MODEL_STOP_TIMEOUT_MS 30000
#define MODEL_BROKER_START_MS 30000
#define MODEL_START_MS 10000    /* for the agent to reach main() */

struct model_process {
	char bin[512];
	char cfg[512];
	char err[512];          /* the agent's stderr, appended at each start */
	pid_t pid;              /* 0 while not running */
};

static int64_t model_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void model_sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait up to timeout_ms for pid; its wait status, or -1 when it runs on. */
static int model_reap(pid_t pid, int64_t timeout_ms)
{
	int64_t deadline = model_now_ms() + timeout_ms;
	int status;

	for (;;) {
		pid_t rc = waitpid(pid, &status, WNOHANG);

		if (rc == pid)
			return status;
		if (rc < 0 || model_now_ms() >= deadline)
			return -1;
		model_sleep_ms(5);
	}
}

/* --- the agent ------------------------------------------------------------ */

struct model_process *model_process_new(const char *bin, const char *work_dir,
					const char *logs_dir, const char *brokers,
					const char *topic, bool poll)
{
	struct model_process *p = xcalloc(1, sizeof(*p));

	snprintf(p->bin, sizeof(p->bin), "%s", bin);
	snprintf(p->cfg, sizeof(p->cfg), "%s/agent.yml", work_dir);
	snprintf(p->err, sizeof(p->err), "%s/agent.err", work_dir);
	if (model_config_write(p->cfg, work_dir, logs_dir, brokers, topic, "info",
			       "scan_interval: 100ms\nregistry_flush: 50ms\n"
			       "shutdown_timeout: 2s\nclose_inactive: 1s\n") < 0) {
		free(p);
		return NULL;
	}
	if (poll)
		setenv("LOGTALLY_AGENT_POLL", "1", 1);
	else
		unsetenv("LOGTALLY_AGENT_POLL");
	return p;
}

/*
 * Whether process pid blocks SIGTERM (its main() has run its first line,
 * runtime_block_signals()): the SigBlk mask in /proc/PID/status. A SIGTERM
 * before that, while the loader and ASan's runtime start, would kill it
 * before any of its code ran, which no program can prevent.
 */
static bool model_blocks_sigterm(pid_t pid)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line, "SigBlk: %llx", &mask) == 1;
	if (f)
		fclose(f);
	return found && (mask & (1ULL << (SIGTERM - 1)));
}

/* Waits up to MODEL_START_MS for the agent to block SIGTERM. */
static void model_wait_started(pid_t pid)
{
	struct timespec pause = {0, 1000000};

	for (int waited = 0; waited < MODEL_START_MS; waited++) {
		siginfo_t info = {0};

		if (model_blocks_sigterm(pid))
			return;
		/* it exited already: left for model_process_died() to reap */
		if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    info.si_pid == pid)
			return;
		nanosleep(&pause, NULL);
	}
}

int model_process_start(struct model_process *p)
{
	pid_t pid;
	int fd;

	if (p->pid)
		return 0;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		fd = open(p->err, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		execl(p->bin, p->bin, "--config", p->cfg, (char *)NULL);
		_exit(127);
	}
	p->pid = pid;
	model_wait_started(pid);
	return 0;
}

bool model_process_running(const struct model_process *p)
{
	return p->pid != 0;
}

void model_process_kill(struct model_process *p)
{
	if (!p->pid)
		return;
	kill(p->pid, SIGKILL);
	model_reap(p->pid, MODEL_STOP_TIMEOUT_MS);
	p->pid = 0;
}

/*
 * SIGTERM; returns the exit status, minus the signal that ended it, or
 * -1000 when it had to be killed after MODEL_STOP_TIMEOUT_MS.
 */
int model_process_stop(struct model_process *p)
{
	int status;

	if (!p->pid)
		return 0;
	kill(p->pid, SIGTERM);
	status = model_reap(p->pid, MODEL_STOP_TIMEOUT_MS);
	if (status < 0)
		model_process_kill(p);
	p->pid = 0;
	if (status < 0)
		return -1000;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/* Whether the agent died on its own (a crash, an exit). */
bool model_process_died(struct model_process *p, int *status)
{
	if (!p->pid || waitpid(p->pid, status, WNOHANG) != p->pid)
		return false;
	p->pid = 0;
	return true;
}

/* Sanitizer reports or a crash in what the agent wrote to stderr. */
bool model_process_report(const struct model_process *p, char *line, size_t len)
{
	FILE *f = fopen(p->err, "r");
	bool found = false;

	while (f && !found && fgets(line, (int)len, f))
		found = strstr(line, "ERROR: AddressSanitizer") || strstr(line, "runtime error:") ||
			strstr(line, "ERROR: LeakSanitizer");
	if (f)
		fclose(f);
	return found;
}

void model_process_print_log(const struct model_process *p, unsigned lines)
{
	FILE *f = fopen(p->err, "r");
	char line[512];
	unsigned total = 0, n = 0;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		total += strchr(line, '\n') != NULL;
	rewind(f);
	printf("#   the agent's log%s:\n", total > lines ? ", its end" : "");
	while (fgets(line, sizeof(line), f)) {
		bool whole = strchr(line, '\n') != NULL;

		if (n + lines >= total)
			printf("#     %s%s", line, whole ? "" : "\n");
		n += whole;
	}
	fclose(f);
}

void model_process_free(struct model_process *p)
{
	if (!p)
		return;
	model_process_kill(p);
	free(p);
}

/* --- the broker ----------------------------------------------------------- */

int model_broker_send(struct model_broker *b, const char *fmt, ...)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char request[256], answer[256] = "";
	ssize_t n = -1;
	va_list ap;
	int fd, len;

	va_start(ap, fmt);
	len = vsnprintf(request, sizeof(request) - 1, fmt, ap);
	va_end(ap);
	request[len++] = '\n';
	if (strlen(b->control) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "model: devbroker: %s: too long for a socket\n", b->control);
		return -1;
	}
	memcpy(addr.sun_path, b->control, strlen(b->control) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
	    write(fd, request, (size_t)len) == len)
		n = read(fd, answer, sizeof(answer) - 1);
	if (fd >= 0)
		close(fd);
	if (n < 2 || strncmp(answer, "ok", 2)) {
		fprintf(stderr, "model: devbroker: %.*s: %s\n", len - 1, request, n > 0 ? answer : "no answer");
		return -1;
	}
	return 0;
}

int model_broker_start(struct model_broker *b, const char *bin, const char *dir)
{
	char out[300];
	int64_t deadline = model_now_ms() + MODEL_BROKER_START_MS;
	FILE *f;
	pid_t pid;

	memset(b, 0, sizeof(*b));
	snprintf(b->control, sizeof(b->control), "%s/broker.ctl", dir);
	snprintf(out, sizeof(out), "%s/broker.out", dir);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		execl(bin, bin, "--brokers", "1", "--control", b->control, (char *)NULL);
		_exit(127);
	}
	b->pid = pid;
	while (model_now_ms() < deadline && !b->bootstraps[0]) {
		model_sleep_ms(20);
		f = fopen(out, "r");
		if (f && fgets(b->bootstraps, sizeof(b->bootstraps), f))
			b->bootstraps[strcspn(b->bootstraps, "\n")] = '\0';
		if (f)
			fclose(f);
	}
	return b->bootstraps[0] ? 0 : -1;
}

void model_broker_stop(struct model_broker *b)
{
	if (!b->pid)
		return;
	kill(b->pid, SIGTERM);
	if (model_reap(b->pid, MODEL_STOP_TIMEOUT_MS) < 0) {
		kill(b->pid, SIGKILL);
		model_reap(b->pid, MODEL_STOP_TIMEOUT_MS);
	}
	b->pid = 0;
}
