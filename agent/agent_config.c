/*
 * agent_config: the table of every agent key with its type, bounds,
 * default and help. config/agent.yml documents the same keys; a unit test
 * keeps the two in step.
 */
#include "agent_config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confcheck.h"
#include "xalloc.h"

#define MS(n) ((int64_t)(n))
#define SECONDS(n) ((int64_t)(n) * 1000)
#define DAYS(n) ((int64_t)(n) * 86400000)

static const char *const agent_read_from_names[] = {"beginning", "end", NULL};
static const char *const agent_log_levels[] = {"error", "warn", "info", "debug", NULL};

#define KEY(s, f) .offset = offsetof(struct s, f)

static const struct config_key agent_input_keys[] = {
	{"paths", CONFIG_STRINGS, KEY(agent_input, paths), .flags = CONFIG_REQUIRED,
	 .help = "glob patterns of the files to follow"},
	{"exclude", CONFIG_STRINGS, KEY(agent_input, exclude), .def = "[]",
	 .help = "glob patterns, matched on the full path, of files to skip"},
	{"read_from", CONFIG_ENUM, KEY(agent_input, read_from), .def = "beginning",
	 .choices = agent_read_from_names,
	 .help = "where to start a file seen for the first time"},
	{"fields", CONFIG_MAP, KEY(agent_input, fields), .def = "{}",
	 .help = "extra fields copied into every event under \"fields\""},
	{NULL},
};

static void agent_input_validate(void *obj, struct config_ctx *ctx)
{
	struct agent_input *input = obj;

	if (input->paths.n == 0 && config_ok(ctx, "paths"))
		config_report(ctx, "paths", "needs at least one glob pattern");
}

static const struct config_section agent_input_section = {
	agent_input_keys, sizeof(struct agent_input), agent_input_validate,
};

static const struct config_key agent_kafka_keys[] = {
	{"brokers", CONFIG_STRING, KEY(agent_kafka, brokers), .flags = CONFIG_REQUIRED,
	 .help = "bootstrap servers, host:port[,host:port...]"},
	{"topic", CONFIG_STRING, KEY(agent_kafka, topic), .def = "weblogs",
	 .help = "topic every line is published to"},
	{"properties", CONFIG_MAP, KEY(agent_kafka, properties), .def = "{}",
	 .check = confcheck_kafka_property,
	 .help = "librdkafka producer properties, passed as is (checked at start)"},
	{NULL},
};

static const struct config_section agent_kafka_section = {
	agent_kafka_keys, sizeof(struct agent_kafka), NULL,
};

static const struct config_key agent_http_keys[] = {
	{"listen", CONFIG_STRING, KEY(agent_http, listen), .def = "''",
	 .check = confcheck_listen,
	 .help = "host:port of /metrics and /healthz (port 0: any free port); empty: off"},
	{"tls", CONFIG_SECTION, KEY(agent_http, tls), .section = &confcheck_tls_files_section,
	 .help = "HTTPS instead of HTTP: a certificate and its key"},
	{NULL},
};

static const struct config_section agent_http_section = {
	agent_http_keys, sizeof(struct agent_http), NULL,
};

static const struct config_key agent_keys[] = {
	{"name", CONFIG_STRING, KEY(agent_config, name),
	 .help = "host.name of every event; empty or absent: the machine's hostname"},
	{"data_dir", CONFIG_STRING, KEY(agent_config, data_dir), .def = "/var/lib/logtally",
	 .help = "folder of the registry of file offsets"},
	{"inputs", CONFIG_SECTIONS, KEY(agent_config, inputs), .flags = CONFIG_REQUIRED,
	 .section = &agent_input_section, .help = "the files to follow"},
	{"kafka", CONFIG_SECTION, KEY(agent_config, kafka),
	 .section = &agent_kafka_section, .help = "where lines are published"},
	{"http", CONFIG_SECTION, KEY(agent_config, http),
	 .section = &agent_http_section, .help = "the metrics and health endpoint"},
	{"scan_interval", CONFIG_DURATION, KEY(agent_config, scan_interval), .def = "10s",
	 .min = MS(100), .max = DAYS(1),
	 .help = "how often globs are expanded again (inotify notices most changes sooner)"},
	{"close_inactive", CONFIG_DURATION, KEY(agent_config, close_inactive), .def = "5m",
	 .min = SECONDS(1), .max = DAYS(30),
	 .help = "close a file that has not grown for this long; reopened when it grows"},
	{"max_open_files", CONFIG_INT, KEY(agent_config, max_open_files), .def = "1024",
	 .min = 1, .max = 1000000, .help = "most files held open at once"},
	{"max_line_bytes", CONFIG_SIZE, KEY(agent_config, max_line_bytes), .def = "1MiB",
	 .min = 1024, .max = 64 << 20,
	 .help = "longer lines are cut to this size, flagged \"truncated\" and counted"},
	{"max_buffer", CONFIG_SIZE, KEY(agent_config, max_buffer), .def = "16MiB",
	 .min = 1 << 20, .max = 1 << 30,
	 .help = "most bytes of lines waiting for Kafka; reading pauses beyond it"},
	{"registry_flush", CONFIG_DURATION, KEY(agent_config, registry_flush), .def = "1s",
	 .min = MS(10), .max = SECONDS(3600),
	 .help = "most time between writes of the registry"},
	{"clean_removed", CONFIG_DURATION, KEY(agent_config, clean_removed), .def = "24h",
	 .min = SECONDS(1), .max = DAYS(3650),
	 .help = "forget the offsets of files gone for this long"},
	{"shutdown_timeout", CONFIG_DURATION, KEY(agent_config, shutdown_timeout), .def = "10s",
	 .min = MS(0), .max = SECONDS(3600),
	 .help = "at exit, most time to wait for Kafka's acknowledgements"},
	{"log_level", CONFIG_ENUM, KEY(agent_config, log_level), .def = "info",
	 .choices = agent_log_levels, .help = "messages on stderr at or above this level"},
	{NULL},
};

const struct config_section agent_config_section = {
	agent_keys, sizeof(struct agent_config), NULL,
};

int agent_config_load(struct agent_config *cfg, const char *path,
		      struct config_errors *errs)
{
	char host[256];
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	rc = config_load_file(&agent_config_section, cfg, path, errs);
	if (rc == 0 && cfg->name && !*cfg->name &&
	    gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		free(cfg->name);
		cfg->name = xstrdup(host);
	}
	return rc;
}

void agent_config_free(struct agent_config *cfg)
{
	config_free(&agent_config_section, cfg);
}
