/*
 * devbroker: the Kafka cluster of development and tests. It runs librdkafka's
 * mock cluster (rdkafka_mock.h), which speaks the real Kafka protocol on
 * 127.0.0.1 with consumer groups, prints the bootstrap list on stdout as one
 * line, and takes brokers down and up on command through a unix socket that
 * speaks one line per request and one "ok ..." or "error ..." line per answer.
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
#include <stdarg.h>
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

#include "xalloc.h"

#define DEVBROKER_MAX_BROKERS 16
#define DEVBROKER_MAX_PARTITIONS 1024
#define DEVBROKER_MAX_TOPICS 64
#define DEVBROKER_MAX_CLIENTS 8
#define DEVBROKER_LINE_MAX 512
#define DEVBROKER_SEND_TIMEOUT_S 30

struct devbroker_topic {
	char *name;
	int partitions;
};

struct devbroker_opts {
	int brokers;
	const char *control;		/* unix socket path, or NULL */
	const char *send;		/* client mode: the command to send */
	bool free_port;
	struct devbroker_topic topics[DEVBROKER_MAX_TOPICS];
	int ntopics;
};

struct devbroker_client {
	int fd;				/* -1 when the slot is free */
	size_t len;			/* bytes of an unfinished line in buf */
	char buf[DEVBROKER_LINE_MAX];
};

struct devbroker {
	rd_kafka_t *rk;			/* only hosts the mock cluster */
	rd_kafka_mock_cluster_t *mcluster;
	int brokers;
	bool down[DEVBROKER_MAX_BROKERS + 1];	/* indexed by broker id */
	struct devbroker_topic topics[DEVBROKER_MAX_TOPICS];	/* created ones */
	int ntopics;
	const char *control;
	int listen_fd;
	int signal_fd;
	struct devbroker_client clients[DEVBROKER_MAX_CLIENTS];
};

static void devbroker_usage(FILE *fp)
{
	fputs("usage: logtally-devbroker [--brokers N] [--topic NAME:P]... [--control PATH]\n"
	      "       logtally-devbroker --control PATH --send 'COMMAND'\n"
	      "       logtally-devbroker --free-port\n"
	      "commands: down ID|all, up ID|all, topic NAME P, bootstraps, status\n",
	      fp);
}

static int devbroker_parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static bool devbroker_topic_name_ok(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= 249 &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-") == len;
}

/* Parse --topic NAME:P into opts; the name stays borrowed from argv. */
static int devbroker_parse_topic(struct devbroker_opts *opts, char *spec)
{
	char *colon = strrchr(spec, ':');
	struct devbroker_topic *topic;

	if (!colon || opts->ntopics == DEVBROKER_MAX_TOPICS)
		return -1;
	*colon = '\0';
	topic = &opts->topics[opts->ntopics];
	topic->name = spec;
	if (!devbroker_topic_name_ok(spec) ||
	    devbroker_parse_int(colon + 1, 1, DEVBROKER_MAX_PARTITIONS,
				&topic->partitions))
		return -1;
	opts->ntopics++;
	return 0;
}

static int devbroker_parse_opt(struct devbroker_opts *opts, int c)
{
	switch (c) {
	case 'b':
		return devbroker_parse_int(optarg, 1, DEVBROKER_MAX_BROKERS,
					   &opts->brokers);
	case 't':
		return devbroker_parse_topic(opts, optarg);
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
		devbroker_usage(stdout);
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
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (devbroker_parse_opt(opts, c)) {
			fprintf(stderr, "logtally-devbroker: bad option %s\n",
				argv[optind - 1]);
			goto usage;
		}
	}
	if (optind == argc && (!opts->send || opts->control))
		return 0;
usage:
	devbroker_usage(stderr);
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

/* A connected control socket, or -1 with errno set (ENAMETOOLONG if too long). */
static int devbroker_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd, saved;

	if (devbroker_unix_addr(path, &sun)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Remove a control socket left by a killed devbroker; refuse a live one. */
static int devbroker_control_clear(const char *path)
{
	struct stat st;
	int fd;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "logtally-devbroker: %s exists and is not a socket\n", path);
		return -1;
	}
	fd = devbroker_connect(path);
	if (fd >= 0) {
		close(fd);
		fprintf(stderr, "logtally-devbroker: %s is in use by a running devbroker\n", path);
		return -1;
	}
	return unlink(path);
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
		rc = listen(db->listen_fd, DEVBROKER_MAX_CLIENTS);
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
	sigaddset(&set, SIGHUP);
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
	db->mcluster = rd_kafka_mock_cluster_new(db->rk, brokers);
	if (!db->mcluster) {
		fprintf(stderr, "logtally-devbroker: cannot create the mock cluster\n");
		return -1;
	}
	db->brokers = brokers;
	return 0;
}

/* Create a topic and remember it for "status"; an error message on failure. */
static const char *devbroker_topic_add(struct devbroker *db, const char *name,
				       int partitions)
{
	rd_kafka_resp_err_t err;
	struct devbroker_topic *topic;

	if (db->ntopics == DEVBROKER_MAX_TOPICS)
		return "too many topics";
	err = rd_kafka_mock_topic_create(db->mcluster, name, partitions,
					 db->brokers < 3 ? db->brokers : 3);
	if (err)
		return rd_kafka_err2str(err);
	topic = &db->topics[db->ntopics++];
	topic->name = xstrdup(name);
	topic->partitions = partitions;
	return NULL;
}

static void devbroker_init(struct devbroker *db)
{
	int i;

	memset(db, 0, sizeof(*db));
	db->listen_fd = -1;
	db->signal_fd = -1;
	for (i = 0; i < DEVBROKER_MAX_CLIENTS; i++)
		db->clients[i].fd = -1;
}

static void devbroker_fini(struct devbroker *db)
{
	int i;

	for (i = 0; i < DEVBROKER_MAX_CLIENTS; i++)
		if (db->clients[i].fd >= 0)
			close(db->clients[i].fd);
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
	for (i = 0; i < db->ntopics; i++)
		free(db->topics[i].name);
}

static int devbroker_start(struct devbroker *db, const struct devbroker_opts *opts)
{
	const char *errmsg;
	int i;

	if (devbroker_signals_open(db) || devbroker_cluster_open(db, opts->brokers))
		return -1;
	for (i = 0; i < opts->ntopics; i++) {
		errmsg = devbroker_topic_add(db, opts->topics[i].name,
					     opts->topics[i].partitions);
		if (errmsg) {
			fprintf(stderr, "logtally-devbroker: topic %s: %s\n",
				opts->topics[i].name, errmsg);
			return -1;
		}
	}
	if (opts->control && devbroker_control_open(db, opts->control))
		return -1;
	return 0;
}

/* "all" is -1, otherwise a broker id of this cluster (they start at 1). */
static int devbroker_parse_broker(const struct devbroker *db, const char *arg,
				  int *id)
{
	if (arg && strcmp(arg, "all") == 0) {
		*id = -1;
		return 0;
	}
	return arg ? devbroker_parse_int(arg, 1, db->brokers, id) : -1;
}

static void devbroker_cmd_updown(struct devbroker *db, bool up, const char *arg,
				 char *answer, size_t size)
{
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	int id, first, last;

	if (devbroker_parse_broker(db, arg, &id)) {
		snprintf(answer, size, "error broker id must be 1..%d or all", db->brokers);
		return;
	}
	first = id < 0 ? 1 : id;
	last = id < 0 ? db->brokers : id;
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
	const char *errmsg;
	int partitions;

	if (!name || !devbroker_topic_name_ok(name) || !count ||
	    devbroker_parse_int(count, 1, DEVBROKER_MAX_PARTITIONS, &partitions)) {
		snprintf(answer, size, "error usage: topic NAME PARTITIONS (1..%d)",
			 DEVBROKER_MAX_PARTITIONS);
		return;
	}
	errmsg = devbroker_topic_add(db, name, partitions);
	if (errmsg)
		snprintf(answer, size, "error %s", errmsg);
	else
		snprintf(answer, size, "ok topic %s %d", name, partitions);
}

/* Append printf output to answer, silently truncating at size. */
static void devbroker_append(char *answer, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void devbroker_append(char *answer, size_t size, const char *fmt, ...)
{
	size_t len = strlen(answer);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(answer + len, size - len, fmt, ap);
	va_end(ap);
}

static void devbroker_cmd_status(struct devbroker *db, char *answer, size_t size)
{
	int id, i, ndown = 0;

	snprintf(answer, size, "ok brokers=%d down=", db->brokers);
	for (id = 1; id <= db->brokers; id++)
		if (db->down[id])
			devbroker_append(answer, size, "%s%d", ndown++ ? "," : "", id);
	devbroker_append(answer, size, "%s topics=", ndown ? "" : "none");
	for (i = 0; i < db->ntopics; i++)
		devbroker_append(answer, size, "%s%s:%d", i ? "," : "",
				 db->topics[i].name, db->topics[i].partitions);
	devbroker_append(answer, size, "%s bootstraps=%s", db->ntopics ? "" : "none",
			 rd_kafka_mock_cluster_bootstraps(db->mcluster));
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

static void devbroker_client_close(struct devbroker_client *client)
{
	close(client->fd);
	client->fd = -1;
	client->len = 0;
}

/* Answer every complete line in the client's buffer; -1 drops the client. */
static int devbroker_client_lines(struct devbroker *db, struct devbroker_client *client)
{
	char answer[2 * DEVBROKER_LINE_MAX];
	char *nl;
	size_t used;

	while ((nl = memchr(client->buf, '\n', client->len))) {
		*nl = '\0';
		devbroker_execute(db, client->buf, answer, sizeof(answer) - 1);
		strcat(answer, "\n");
		if (send(client->fd, answer, strlen(answer), MSG_NOSIGNAL) < 0)
			return -1;
		used = (size_t)(nl + 1 - client->buf);
		memmove(client->buf, nl + 1, client->len - used);
		client->len -= used;
	}
	if (client->len < sizeof(client->buf))
		return 0;
	send(client->fd, "error line too long\n", 20, MSG_NOSIGNAL);
	return -1;
}

static void devbroker_client_read(struct devbroker *db, struct devbroker_client *client)
{
	ssize_t n;

	n = read(client->fd, client->buf + client->len, sizeof(client->buf) - client->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		devbroker_client_close(client);
		return;
	}
	client->len += (size_t)n;
	if (devbroker_client_lines(db, client))
		devbroker_client_close(client);
}

static void devbroker_accept(struct devbroker *db)
{
	int fd, i;

	fd = accept4(db->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (i = 0; i < DEVBROKER_MAX_CLIENTS; i++) {
		if (db->clients[i].fd < 0) {
			db->clients[i].fd = fd;
			return;
		}
	}
	send(fd, "error too many control clients\n", 31, MSG_NOSIGNAL);
	close(fd);
}

/* Serve control clients until SIGTERM, SIGINT or SIGHUP arrives. */
static int devbroker_loop(struct devbroker *db)
{
	struct pollfd pfd[2 + DEVBROKER_MAX_CLIENTS];
	int i;

	pfd[0] = (struct pollfd){ .fd = db->signal_fd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = db->listen_fd, .events = POLLIN };
	for (;;) {
		for (i = 0; i < DEVBROKER_MAX_CLIENTS; i++)
			pfd[2 + i] = (struct pollfd){ .fd = db->clients[i].fd, .events = POLLIN };
		if (poll(pfd, 2 + DEVBROKER_MAX_CLIENTS, -1) < 0 && errno != EINTR)
			return -1;
		if (pfd[0].revents)
			return 0;
		if (pfd[1].revents)
			devbroker_accept(db);
		for (i = 0; i < DEVBROKER_MAX_CLIENTS; i++)
			if (pfd[2 + i].revents && db->clients[i].fd >= 0)
				devbroker_client_read(db, &db->clients[i]);
	}
}

static int devbroker_serve(const struct devbroker_opts *opts)
{
	struct devbroker db;
	int rc;

	devbroker_init(&db);
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
	char answer[2 * DEVBROKER_LINE_MAX];
	ssize_t n;
	size_t len = 0;
	int fd;

	fd = devbroker_connect(path);
	if (fd < 0) {
		fprintf(stderr, "logtally-devbroker: %s: %s\n", path, strerror(errno));
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (dprintf(fd, "%s\n", command) < 0 || shutdown(fd, SHUT_WR))
		len = 0;
	else
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
