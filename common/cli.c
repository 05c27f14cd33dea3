/*
 * cli: getopt_long over the options both programs share. Kept apart from
 * the mains so that they stay a page long and agree on every flag.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

enum {
	CLI_OPT_HELP_CONFIG = 256,
	CLI_OPT_CHECK_CONFIG,
	CLI_OPT_RESET_REGISTRY,
	CLI_OPT_VERSION,
};

static void cli_usage(const struct cli_program *prog, FILE *out)
{
	fprintf(out,
		"Usage: %s --config FILE [--once] [--check-config]%s\n"
		"       %s --help | --help-config | --version\n\n"
		"%s\n\n"
		"  -c, --config FILE    the YAML configuration (see --help-config)\n"
		"      --once           process what is there now, then exit (batch mode)\n"
		"      --check-config   validate the configuration and exit\n"
		"%s"
		"  -h, --help           this text\n"
		"      --help-config    every configuration key, its type, default and meaning\n"
		"      --version        the version\n\n"
		"Exit status: 0 done, 1 runtime failure, 2 usage or configuration error.\n",
		prog->name, prog->reset_registry ? " [--reset-registry]" : "",
		prog->name, prog->summary,
		prog->reset_registry ?
		"      --reset-registry forget every stored file offset, then go on\n" : "");
}

static int cli_option(const struct cli_program *prog, int c,
		      struct cli_options *opts)
{
	switch (c) {
	case 'c':
		opts->config = optarg;
		return -1;
	case 'o':
		opts->once = true;
		return -1;
	case CLI_OPT_CHECK_CONFIG:
		opts->check_config = true;
		return -1;
	case CLI_OPT_RESET_REGISTRY:
		opts->reset_registry = true;
		return -1;
	case 'h':
		cli_usage(prog, stdout);
		return CLI_EXIT_OK;
	case CLI_OPT_HELP_CONFIG:
		config_help(prog->config, stdout);
		return CLI_EXIT_OK;
	case CLI_OPT_VERSION:
		printf("%s %s\n", prog->name, PACKAGE_VERSION);
		return CLI_EXIT_OK;
	default:
		fprintf(stderr, "Try '%s --help'.\n", prog->name);
		return CLI_EXIT_USAGE;
	}
}

int cli_parse(const struct cli_program *prog, int argc, char **argv,
	      struct cli_options *opts)
{
	const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"once", no_argument, NULL, 'o'},
		{"check-config", no_argument, NULL, CLI_OPT_CHECK_CONFIG},
		{"reset-registry", no_argument, NULL,
		 prog->reset_registry ? CLI_OPT_RESET_REGISTRY : '?'},
		{"help", no_argument, NULL, 'h'},
		{"help-config", no_argument, NULL, CLI_OPT_HELP_CONFIG},
		{"version", no_argument, NULL, CLI_OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	int c, rc;

	memset(opts, 0, sizeof(*opts));
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1)
		if ((rc = cli_option(prog, c, opts)) >= 0)
			return rc;
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\nTry '%s --help'.\n",
			prog->name, argv[optind], prog->name);
		return CLI_EXIT_USAGE;
	}
	if (!opts->config) {
		fprintf(stderr, "%s: --config FILE is required\nTry '%s --help'.\n",
			prog->name, prog->name);
		return CLI_EXIT_USAGE;
	}
	return -1;
}

int cli_config_failed(const struct config_errors *errs)
{
	config_errors_print(errs, stderr);
	return CLI_EXIT_USAGE;
}
