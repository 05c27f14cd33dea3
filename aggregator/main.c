/*
 * logtally-aggregator: consumes the topic in a consumer group and keeps
 * exact windowed counts in MariaDB. main() parses the command line, loads
 * the configuration and hands over to aggregator.c.
 */
#include <stdio.h>
#include <string.h>

#include "accesslog.h"
#include "aggregator.h"
#include "aggregator_config.h"
#include "cli.h"
#include "logging.h"
#include "runtime.h"
#include "units.h"

static const struct cli_program aggregator_program = {
	.name = "logtally-aggregator",
	.summary = "Consume web access lines from Kafka and keep exact windowed counts\n"
		   "of URLs, status codes and hashtags in MariaDB.",
	.config = &aggregator_config_section,
};

/* The one line --check-config prints for a valid file. */
static void aggregator_summary(const struct aggregator_config *cfg,
			       const char *path)
{
	const struct aggregator_mariadb *db = &cfg->mariadb;
	char window[32], server[300];

	if (*db->socket)
		snprintf(server, sizeof(server), "unix:%s", db->socket);
	else
		snprintf(server, sizeof(server), "%s:%lld", db->host, (long long)db->port);
	units_format_duration(cfg->window, window, sizeof(window));
	printf("%s: OK: kafka %s topic %s group %s, mariadb %s@%s/%s, "
	       "window %s, %zu rollup%s, %zu dimension%s, format %s\n",
	       path, cfg->kafka.brokers, cfg->kafka.topic, cfg->kafka.group,
	       db->user, server, db->database, window,
	       cfg->rollups.n, cfg->rollups.n == 1 ? "" : "s",
	       cfg->dimensions.n, cfg->dimensions.n == 1 ? "" : "s",
	       accesslog_is_builtin(cfg->log_format) ? cfg->log_format : "custom");
}

static int aggregator_main(const struct aggregator_config *cfg,
			   const struct cli_options *opts)
{
	struct aggregator_options aopts = {.once = opts->once};
	struct aggregator *ag;
	char err[1024];
	int rc;

	ag = aggregator_new(cfg, &aopts, err, sizeof(err));
	if (!ag) {
		logging_error("%s", err);
		return CLI_EXIT_FAILURE;
	}
	rc = aggregator_run(ag);
	aggregator_free(ag);
	return rc;
}

int main(int argc, char **argv)
{
	struct config_errors errs = {0};
	struct aggregator_config cfg;
	struct cli_options opts;
	int rc;

	/*
	 * First of all: a SIGTERM while the configuration loads waits for
	 * the loop's signalfd, which stops cleanly, instead of killing the
	 * process before it has saved anything.
	 */
	runtime_block_signals();
	rc = cli_parse(&aggregator_program, argc, argv, &opts);

	if (rc >= 0)
		return rc;
	if (aggregator_config_load(&cfg, opts.config, &errs) < 0) {
		rc = cli_config_failed(&errs);
		goto out;
	}
	logging_init(aggregator_program.name, (enum logging_level)cfg.log_level);
	if (opts.check_config) {
		aggregator_summary(&cfg, opts.config);
		rc = CLI_EXIT_OK;
		goto out;
	}
	rc = aggregator_main(&cfg, &opts);
out:
	aggregator_config_free(&cfg);
	config_errors_fini(&errs);
	return rc;
}
