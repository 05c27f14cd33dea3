/*
 * cli: the command line both programs share (DESIGN.md, "Command line"):
 * --config FILE, --once, --check-config, --help, --help-config, --version,
 * and the agent's --reset-registry. Exit statuses: 0 done, 1 runtime
 * failure, 2 usage or configuration error.
 */
#ifndef LOGTALLY_CLI_H
#define LOGTALLY_CLI_H

#include <stdbool.h>

#include "config.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2

struct cli_program {
	const char *name;                       /* "logtally-agent" */
	const char *summary;                    /* one line for --help */
	const struct config_section *config;    /* for --help-config */
	bool reset_registry;                    /* accepts --reset-registry */
};

struct cli_options {
	const char *config;                     /* borrowed from argv */
	bool once;
	bool check_config;
	bool reset_registry;
};

/*
 * Parse argv into opts. Returns -1 when the program should go on, or the
 * exit status when it is done (--help, --version, --help-config: 0, after
 * printing to stdout; a usage error: 2, after a message on stderr).
 */
int cli_parse(const struct cli_program *prog, int argc, char **argv,
	      struct cli_options *opts);

/* Print a load's errors to stderr and return CLI_EXIT_USAGE. */
int cli_config_failed(const struct config_errors *errs);

#endif
