/*
 * devbroker: the Kafka cluster of development and tests. It runs librdkafka's
 * mock cluster (rdkafka_mock.h), which speaks the real Kafka protocol on
 * 127.0.0.1 with consumer groups, prints the bootstrap list on stdout as one
 * line, and takes brokers down and up on command through a unix socket: one
 * request line per connection, answered by one "ok ..." or "error ..." line.
 * The same binary is that socket's client (--send) and finds free loopback
 * ports for scripts/dev-services (--free-port).
 *
 * What "down" does on librdkafka 2.0.2 (checked by test/integration/devbroker.sh):
 * the broker's open connections are closed and its listening socket is
 * replaced by one bound to the same port but not listening, so a new
 * connection is refused at once (ECONNREFUSED); versions before 1.9.0
 * accepted and then dropped it instead. "up" listens on the same port again.
 * Leadership never moves: the partitions a down broker leads stay unavailable
 * until it is up, as in a cluster with replication factor 1.
 *
 * Topics the clients create implicitly (a producer asking for an unknown
 * topic) get the mock's built-in 4 partitions; 2.0.2 has no API to change
 * that, so create topics explicitly with --topic or "topic NAME P".
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define DEVBROKER_MAX_BROKERS 16
#define DEVBROKER_MAX_PARTITIONS 1024
#define DEVBROKER_MAX_TOPICS 64
#define DEVBROKER_ANSWER_MAX 1024
#define DEVBROKER_IDLE_MS 2000
#define DEVBROKER_LINE_MAX 512
#define DEVBROKER_SEND_TIMEOUT_S 30

struct devbroker_opts {
	int brokers;
	const char *control;		/* unix socket path, or NULL */
	const char *send;		/* client mode: the command to send */
	bool free_port;
	const char *topics[DEVBROKER_MAX_TOPICS];	/* NAME:P, borrowed from argv */
	int ntopics;
};

struct devbroker {
	rd_kafka_t *rk;			/* only hosts the mock cluster */
	rd_kafka_mock_cluster_t *mcluster;
	int brokers;
	bool down[DEVBROKER_MAX_BROKERS + 1];	/* indexed by broker id */
	const char *control;
	int listen_fd;
	int signal_fd;
};

static const char devbroker_usage[] =
	"usage: logtally-devbroker [--brokers N] [--topic NAME:P]... [--control PATH]\n"
	"       logtally-devbroker --control PATH --send 'COMMAND'\n"
	"       logtally-devbroker --free-port\n"
	"commands: down ID|all, up ID|all, topic NAME P, bootstraps, status\n";

static int devbroker_parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static int devbroker_parse_opt(struct devbroker_opts *opts, int c)
{
	switch (c) {
	case 'b':
		return devbroker_parse_int(optarg, 1, DEVBROKER_MAX_BROKERS,
					   &opts->brokers);
	case 't':
		if (opts->ntopics == DEVBROKER_MAX_TOPICS)
			return -1;
		opts->topics[opts->ntopics++] = optarg;
		return 0;
	case 'c':
		opts->control = optarg;
		return 0;
	case 's':
		opts->send = optarg;
		return 0;
	case 'p':
		opts->free_port = true;
		return 0;
	case 'h':
		fputs(devbroker_usage, stdout);
		exit(0);
	}
	return -1;
}

/* Fill opts from the command line; -1 on a usage error (already reported). */
static int devbroker_parse_args(struct devbroker_opts *opts, int argc,
				char **argv)
{
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "topic", required_argument, NULL, 't' },
		{ "control", required_argument, NULL, 'c' },
		{ "send", required_argument, NULL, 's' },
		{ "free-port", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(opts, 0, sizeof(*opts));
	opts->brokers = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		if (devbroker_parse_opt(opts, c))
			goto usage;
	if (optind == argc && (!opts->send || opts->control))
		return 0;
usage:
	fprintf(stderr, "logtally-devbroker: bad arguments near '%s'\n%s",
		argv[optind - 1], devbroker_usage);
	return -1;
}

static int devbroker_unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		fprintf(stderr, "logtally-devbroker: control socket path longer than %zu bytes: %s\n",
			sizeof(sun->sun_path) - 1, path);
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

/* A socket connected to the control socket at path, or -1. */
static int devbroker_connect(const char *path, bool quiet)
{
	struct sockaddr_un sun;
	int fd = -1;

	if (!devbroker_unix_addr(path, &sun))
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		if (!quiet)
			fprintf(stderr, "logtally-devbroker: %s: %s\n", path, strerror(errno));
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Remove a control socket left by a killed devbroker; refuse a live one. */
static int devbroker_control_clear(const char *path)
{
	struct stat st;
	int fd = -1;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -1;
	if (S_ISSOCK(st.st_mode) && (fd = devbroker_connect(path, true)) < 0)
		return unlink(path);
	if (fd >= 0)
		close(fd);
	fprintf(stderr, "logtally-devbroker: %s is a live devbroker's socket, or no socket\n", path);
	return -1;
}

static int devbroker_control_open(struct devbroker *db, const char *path)
{
	struct sockaddr_un sun;
	int rc;

	if (devbroker_unix_addr(path, &sun) || devbroker_control_clear(path))
		return -1;
	db->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (db->listen_fd < 0)
		return -1;
	rc = bind(db->listen_fd, (struct sockaddr *)&sun, sizeof(sun));
	if (rc == 0)
		db->control = path;
	if (rc == 0)
		rc = listen(db->listen_fd, 16);
	if (rc)
		fprintf(stderr, "logtally-devbroker: %s: %s\n", path, strerror(errno));
	return rc;
}

/* Block the stop signals before librdkafka starts threads, so they inherit the mask. */
static int devbroker_signals_open(struct devbroker *db)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Shells start background jobs with SIGINT ignored: stop on it anyway. */
	signal(SIGINT, SIG_DFL);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	db->signal_fd = signalfd(-1, &set, SFD_CLOEXEC);
	return db->signal_fd < 0 ? -1 : 0;
}

static int devbroker_cluster_open(struct devbroker *db, int brokers)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	/* This handle never connects anywhere: hide its notice about having no
	 * bootstrap.servers, keep warnings and errors. */
	rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr));
	db->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!db->rk) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "logtally-devbroker: %s\n", errstr);
		return -1;
	}
	db->brokers = brokers;
	db->mcluster = rd_kafka_mock_cluster_new(db->rk, brokers);
	return db->mcluster ? 0 : -1;	/* librdkafka has logged why */
}

static void devbroker_fini(struct devbroker *db)
{
	if (db->listen_fd >= 0)
		close(db->listen_fd);
	if (db->control)
		unlink(db->control);
	if (db->mcluster)
		rd_kafka_mock_cluster_destroy(db->mcluster);
	if (db->rk)
		rd_kafka_destroy(db->rk);
	if (db->signal_fd >= 0)
		close(db->signal_fd);
}

/* Take broker arg (an id from 1, or "all") down or up. */
static void devbroker_cmd_updown(struct devbroker *db, bool up, const char *arg,
				 char *answer, size_t size)
{
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	int id, first = 1, last = db->brokers;

	if (!arg || (strcmp(arg, "all") &&
		     devbroker_parse_int(arg, 1, db->brokers, &first))) {
		snprintf(answer, size, "error broker id must be 1..%d or all", db->brokers);
		return;
	}
	if (strcmp(arg, "all"))
		last = first;
	for (id = first; id <= last && !err; id++) {
		err = up ? rd_kafka_mock_broker_set_up(db->mcluster, id) :
			   rd_kafka_mock_broker_set_down(db->mcluster, id);
		if (!err)
			db->down[id] = !up;
	}
	if (err)
		snprintf(answer, size, "error %s", rd_kafka_err2str(err));
	else
		snprintf(answer, size, "ok %s %s", up ? "up" : "down", arg);
}

static void devbroker_cmd_topic(struct devbroker *db, const char *name,
				const char *count, char *answer, size_t size)
{
	rd_kafka_resp_err_t err;
	int partitions;

	if (!name || !count ||
	    devbroker_parse_int(count, 1, DEVBROKER_MAX_PARTITIONS, &partitions)) {
		snprintf(answer, size, "error usage: topic NAME PARTITIONS (1..%d)",
			 DEVBROKER_MAX_PARTITIONS);
		return;
	}
	err = rd_kafka_mock_topic_create(db->mcluster, name, partitions, 1);
	if (err)
		snprintf(answer, size, "error %s", rd_kafka_err2str(err));
	else
		snprintf(answer, size, "ok topic %s %d", name, partitions);
}

static void devbroker_cmd_status(struct devbroker *db, char *answer, size_t size)
{
	char down[4 * DEVBROKER_MAX_BROKERS] = "";
	size_t len = 0;
	int id;

	for (id = 1; id <= db->brokers; id++)
		if (db->down[id])
			len += (size_t)snprintf(down + len, sizeof(down) - len, "%s%d",
						len ? "," : "", id);
	snprintf(answer, size, "ok brokers=%d down=%s bootstraps=%s", db->brokers,
		 len ? down : "none", rd_kafka_mock_cluster_bootstraps(db->mcluster));
}

/* Run one request line; the answer is one line without its newline. */
static void devbroker_execute(struct devbroker *db, char *line, char *answer,
			      size_t size)
{
	char *save = NULL;
	char *verb = strtok_r(line, " \t\r", &save);
	char *arg1 = strtok_r(NULL, " \t\r", &save);
	char *arg2 = strtok_r(NULL, " \t\r", &save);
	bool extra = strtok_r(NULL, " \t\r", &save) != NULL;

	if (!verb)
		snprintf(answer, size, "error empty command");
	else if (!strcmp(verb, "down") && !arg2)
		devbroker_cmd_updown(db, false, arg1, answer, size);
	else if (!strcmp(verb, "up") && !arg2)
		devbroker_cmd_updown(db, true, arg1, answer, size);
	else if (!strcmp(verb, "topic") && !extra)
		devbroker_cmd_topic(db, arg1, arg2, answer, size);
	else if (!strcmp(verb, "bootstraps") && !arg1)
		snprintf(answer, size, "ok %s",
			 rd_kafka_mock_cluster_bootstraps(db->mcluster));
	else if (!strcmp(verb, "status") && !arg1)
		devbroker_cmd_status(db, answer, size);
	else
		snprintf(answer, size, "error unknown command or wrong arguments: %s"
			 " (try down ID|all, up ID|all, topic NAME P, bootstraps, status)",
			 verb);
}

/*
 * Serve one control connection: one request line, one answer line. Clients
 * are served one at a time (requests are rare and quick); DEVBROKER_IDLE_MS
 * bounds how long a silent one can stall the others.
 */
static void devbroker_serve_client(struct devbroker *db, int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char line[DEVBROKER_LINE_MAX], answer[DEVBROKER_ANSWER_MAX];
	size_t len = 0;
	ssize_t n = 1;

	while (n > 0 && !memchr(line, '\n', len) && len < sizeof(line) - 1 &&
	       poll(&pfd, 1, DEVBROKER_IDLE_MS) == 1) {
		n = read(fd, line + len, sizeof(line) - 1 - len);
		len += n > 0 ? (size_t)n : 0;
	}
	line[len] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (len == sizeof(line) - 1)
		snprintf(answer, sizeof(answer), "error line too long");
	else
		devbroker_execute(db, line, answer, sizeof(answer));
	dprintf(fd, "%s\n", answer);
	close(fd);
}

/* Serve control clients until SIGTERM or SIGINT arrives. */
static int devbroker_loop(struct devbroker *db)
{
	struct pollfd pfd[2] = {
		{ .fd = db->signal_fd, .events = POLLIN },
		{ .fd = db->listen_fd, .events = POLLIN },
	};
	int fd;

	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return -1;
		if (pfd[0].revents)
			return 0;
		if (!pfd[1].revents)
			continue;
		fd = accept4(db->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			devbroker_serve_client(db, fd);
	}
}

/* Create the --topic NAME:P topics through the control command "topic NAME P". */
static int devbroker_create_topics(struct devbroker *db,
				   const struct devbroker_opts *opts)
{
	char line[DEVBROKER_LINE_MAX], answer[DEVBROKER_ANSWER_MAX];
	char *colon;
	int i;

	for (i = 0; i < opts->ntopics; i++) {
		snprintf(line, sizeof(line), "topic %s", opts->topics[i]);
		colon = strrchr(line, ':');
		if (colon)
			*colon = ' ';
		devbroker_execute(db, line, answer, sizeof(answer));
		if (strncmp(answer, "ok", 2)) {
			fprintf(stderr, "logtally-devbroker: --topic %s: %s\n",
				opts->topics[i], answer);
			return -1;
		}
	}
	return 0;
}

static int devbroker_start(struct devbroker *db, const struct devbroker_opts *opts)
{
	if (devbroker_signals_open(db) || devbroker_cluster_open(db, opts->brokers) ||
	    devbroker_create_topics(db, opts))
		return -1;
	if (opts->control && devbroker_control_open(db, opts->control))
		return -1;
	return 0;
}

static int devbroker_serve(const struct devbroker_opts *opts)
{
	struct devbroker db = { .listen_fd = -1, .signal_fd = -1 };
	int rc;

	rc = devbroker_start(&db, opts);
	if (rc == 0) {
		printf("%s\n", rd_kafka_mock_cluster_bootstraps(db.mcluster));
		rc = fflush(stdout) ? -1 : devbroker_loop(&db);
	}
	devbroker_fini(&db);
	return rc ? 1 : 0;
}

/* Client mode: send one command, print the answer; 0 only for "ok". */
static int devbroker_send(const char *path, const char *command)
{
	struct timeval tv = { .tv_sec = DEVBROKER_SEND_TIMEOUT_S };
	char answer[DEVBROKER_ANSWER_MAX];
	ssize_t n;
	size_t len = 0;
	int fd = devbroker_connect(path, false);

	if (fd < 0)
		return 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (dprintf(fd, "%s\n", command) > 0)
		while (len < sizeof(answer) - 1 &&
		       (n = read(fd, answer + len, sizeof(answer) - 1 - len)) > 0)
			len += (size_t)n;
	close(fd);
	answer[len] = '\0';
	if (!len)
		fprintf(stderr, "logtally-devbroker: no answer from %s\n", path);
	fputs(answer, stdout);
	return strncmp(answer, "ok", 2) == 0 ? 0 : 1;
}

/* Print a TCP port that was free on 127.0.0.1 a moment ago. */
static int devbroker_free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd, rc;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	if (rc == 0)
		rc = getsockname(fd, (struct sockaddr *)&sin, &len);
	if (rc == 0)
		printf("%u\n", ntohs(sin.sin_port));
	else
		fprintf(stderr, "logtally-devbroker: no free port: %s\n", strerror(errno));
	close(fd);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct devbroker_opts opts;

	if (devbroker_parse_args(&opts, argc, argv))
		return 2;
	if (opts.free_port)
		return devbroker_free_port();
	if (opts.send)
		return devbroker_send(opts.control, opts.send);
	return devbroker_serve(&opts);
}
