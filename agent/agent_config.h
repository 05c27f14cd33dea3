/*
 * agent_config: the agent's configuration, as typed structs filled from
 * YAML by the table in agent_config.c (see common/config.h). Durations are
 * milliseconds, sizes bytes.
 */
#ifndef LOGTALLY_AGENT_CONFIG_H
#define LOGTALLY_AGENT_CONFIG_H

#include "confcheck.h"
#include "config.h"

enum agent_read_from { AGENT_READ_BEGINNING, AGENT_READ_END };

struct agent_input {
	struct config_strings paths;      /* glob patterns */
	struct config_strings exclude;    /* glob patterns on the full path */
	int read_from;                    /* enum agent_read_from */
	struct config_map fields;         /* copied into each event */
};

struct agent_kafka {
	char *brokers;
	char *topic;
	struct config_map properties;     /* passed to librdkafka as is */
};

struct agent_http {
	char *listen;                     /* "" when off */
	struct confcheck_tls_files tls;   /* HTTPS when tls.cert is set */
};

struct agent_config {
	char *name;                       /* host.name; the hostname by default */
	char *data_dir;
	struct config_list inputs;        /* of struct agent_input */
	struct agent_kafka kafka;
	struct agent_http http;
	int64_t scan_interval;
	int64_t close_inactive;
	int64_t max_open_files;
	uint64_t max_line_bytes;
	uint64_t max_buffer;
	int64_t registry_flush;
	int64_t clean_removed;
	int64_t shutdown_timeout;
	int log_level;                    /* enum logging_level */
};

/* The key table, for --help-config and for tests. */
extern const struct config_section agent_config_section;

/*
 * Load path into cfg (zeroed by this function) and fill what depends on
 * the machine (the hostname). Returns 0, or a negative errno class with
 * every problem in errs. Call agent_config_free() in both cases.
 */
int agent_config_load(struct agent_config *cfg, const char *path,
		      struct config_errors *errs);

void agent_config_free(struct agent_config *cfg);

#endif
