/*
 * logtally-agent: follows access logs and publishes every line to Kafka.
 * main() parses the command line, loads the configuration and hands over
 * to the agent (agent.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"
#include "agent_config.h"
#include "cli.h"
#include "logging.h"
#include "runtime.h"

static const struct cli_program agent_program = {
	.name = "logtally-agent",
	.summary = "Follow access logs (globs, rotation, an on-disk registry of offsets)\n"
		   "and publish every line to Kafka, losing nothing.",
	.config = &agent_config_section,
	.reset_registry = true,
};

/* The one line --check-config prints for a valid file. */
static void agent_summary(const struct agent_config *cfg, const char *path)
{
	size_t patterns = 0;

	for (size_t i = 0; i < cfg->inputs.n; i++)
		patterns += CONFIG_ITEM(cfg->inputs, struct agent_input, i)->paths.n;
	printf("%s: OK: host %s, %zu input%s (%zu pattern%s), kafka %s topic %s, data_dir %s\n",
	       path, cfg->name, cfg->inputs.n, cfg->inputs.n == 1 ? "" : "s",
	       patterns, patterns == 1 ? "" : "s", cfg->kafka.brokers,
	       cfg->kafka.topic, cfg->data_dir);
}

static int agent_main(const struct agent_config *cfg, const struct cli_options *opts)
{
	const char *poll = getenv("LOGTALLY_AGENT_POLL");
	struct agent_options aopts = {
		.once = opts->once,
		.reset_registry = opts->reset_registry,
		.force_poll = poll && *poll && *poll != '0',
	};
	char err[1024];
	struct agent *a = agent_new(cfg, &aopts, err, sizeof(err));
	int rc;

	if (!a) {
		logging_error("%s", err);
		return CLI_EXIT_FAILURE;
	}
	rc = agent_run(a);
	agent_free(a);
	return rc;
}

int main(int argc, char **argv)
{
	struct config_errors errs = {0};
	struct agent_config cfg;
	struct cli_options opts;
	int rc;

	/*
	 * First of all: a SIGTERM while the configuration loads waits for
	 * the loop's signalfd, which stops cleanly, instead of killing the
	 * process before it has saved anything.
	 */
	runtime_block_signals();
	rc = cli_parse(&agent_program, argc, argv, &opts);

	if (rc >= 0)
		return rc;
	if (agent_config_load(&cfg, opts.config, &errs) < 0) {
		rc = cli_config_failed(&errs);
		goto out;
	}
	logging_init(agent_program.name, (enum logging_level)cfg.log_level);
	if (opts.check_config) {
		agent_summary(&cfg, opts.config);
		rc = CLI_EXIT_OK;
	} else {
		rc = agent_main(&cfg, &opts);
	}
out:
	agent_config_free(&cfg);
	config_errors_fini(&errs);
	return rc;
}
