/*
 * aggregator_config: the table of every aggregator key with its type,
 * bounds, default and help, and the checks across keys (window sizes that
 * fit each other, dimensions that name real fields). config/aggregator.yml
 * documents the same keys; a unit test keeps the two in step.
 */
#include "aggregator_config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <string.h>

#include "confcheck.h"
#include "units.h"

#define MS(n) ((int64_t)(n))
#define SECONDS(n) ((int64_t)(n) * 1000)
#define DAYS(n) ((int64_t)(n) * 86400000)
#define KEY(s, f) .offset = offsetof(struct s, f)
#define DIMENSION_NAME_MAX 32

static const char *const aggregator_log_levels[] = {"error", "warn", "info", "debug", NULL};

const char *const aggregator_config_fields[] = {
	"path", "target", "method", "protocol", "status", "bytes", "referer",
	"user_agent", "remote_addr", "remote_user", "host", NULL,
};

static uint32_t aggregator_named_groups(const char *pattern)
{
	uint32_t count = 0;
	PCRE2_SIZE offset;
	pcre2_code *re;
	int code;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
			   confcheck_regex_options(), &code, &offset, NULL);
	if (re)
		pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_code_free(re);
	return count;
}

/*
 * log_format: one of the built-in names, or a pattern PCRE2 compiles whose
 * named groups name the fields.
 */
static int aggregator_check_log_format(const char *key, const char *value,
				       char *err, size_t errlen, size_t *at)
{
	int rc;

	if (!strcmp(value, "common") || !strcmp(value, "combined"))
		return 0;
	rc = confcheck_regex(key, value, err, errlen, at);
	if (rc || aggregator_named_groups(value))
		return rc;
	*at = 0;
	snprintf(err, errlen, "a pattern needs named groups for the fields, "
		 "such as (?<status>\\d{3})");
	return -1;
}

static const struct config_key aggregator_dimension_keys[] = {
	{"name", CONFIG_STRING, KEY(aggregator_dimension, name), .flags = CONFIG_REQUIRED,
	 .help = "the dimension column of the counts table (letters, digits, _; at most 32)"},
	{"from", CONFIG_STRING, KEY(aggregator_dimension, from), .flags = CONFIG_REQUIRED,
	 .help = "field of the line: path, target, method, status, referer, user_agent, ..."},
	{"match", CONFIG_STRING, KEY(aggregator_dimension, match), .def = "''",
	 .check = confcheck_regex,
	 .help = "pattern applied to the percent-decoded field; each match counts (capture 1 if any)"},
	{"lowercase", CONFIG_BOOL, KEY(aggregator_dimension, lowercase), .def = "false",
	 .help = "lowercase the value before counting"},
	{NULL},
};

static void aggregator_dimension_validate(void *obj, struct config_ctx *ctx)
{
	struct aggregator_dimension *dim = obj;
	size_t len = dim->name ? strlen(dim->name) : 0;

	if (!dim->name)
		return;
	if (len == 0 || len > DIMENSION_NAME_MAX ||
	    strspn(dim->name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
		config_report(ctx, "name",
			      "'%s' must be 1 to %d lowercase letters, digits or '_'",
			      dim->name, DIMENSION_NAME_MAX);
}

static const struct config_section aggregator_dimension_section = {
	aggregator_dimension_keys, sizeof(struct aggregator_dimension),
	aggregator_dimension_validate,
};

static const struct config_key aggregator_kafka_keys[] = {
	{"brokers", CONFIG_STRING, KEY(aggregator_kafka, brokers), .flags = CONFIG_REQUIRED,
	 .help = "bootstrap servers, host:port[,host:port...]"},
	{"topic", CONFIG_STRING, KEY(aggregator_kafka, topic), .def = "weblogs",
	 .help = "topic the agents publish to"},
	{"group", CONFIG_STRING, KEY(aggregator_kafka, group), .def = "logtally",
	 .help = "consumer group shared by the aggregators"},
	{"properties", CONFIG_MAP, KEY(aggregator_kafka, properties), .def = "{}",
	 .check = confcheck_kafka_property,
	 .help = "librdkafka consumer properties, passed as is (checked at start)"},
	{NULL},
};

static const struct config_section aggregator_kafka_section = {
	aggregator_kafka_keys, sizeof(struct aggregator_kafka), NULL,
};

static const struct config_key aggregator_mariadb_keys[] = {
	{"host", CONFIG_STRING, KEY(aggregator_mariadb, host), .def = "127.0.0.1",
	 .help = "database server host"},
	{"socket", CONFIG_STRING, KEY(aggregator_mariadb, socket), .def = "''",
	 .help = "unix socket of the server; when set, host and port are not used"},
	{"port", CONFIG_INT, KEY(aggregator_mariadb, port), .def = "3306",
	 .min = 1, .max = 65535, .help = "database server TCP port"},
	{"user", CONFIG_STRING, KEY(aggregator_mariadb, user), .def = "logtally",
	 .help = "database user"},
	{"password", CONFIG_STRING, KEY(aggregator_mariadb, password), .def = "''",
	 .help = "database password; write ${VAR} to take it from the environment"},
	{"database", CONFIG_STRING, KEY(aggregator_mariadb, database), .def = "logtally",
	 .help = "database holding the counts and logtally_ tables"},
	{NULL},
};

static const struct config_section aggregator_mariadb_section = {
	aggregator_mariadb_keys, sizeof(struct aggregator_mariadb), NULL,
};

static const struct config_key aggregator_http_keys[] = {
	{"listen", CONFIG_STRING, KEY(aggregator_http, listen), .def = "127.0.0.1:8080",
	 .check = confcheck_listen,
	 .help = "host:port of the dashboard, /api/, /metrics, /healthz (port 0: any); empty: off"},
	{"token", CONFIG_STRING, KEY(aggregator_http, token), .def = "''",
	 .help = "when set, every request but /healthz needs Authorization: Bearer <token>"},
	{NULL},
};

static const struct config_section aggregator_http_section = {
	aggregator_http_keys, sizeof(struct aggregator_http), NULL,
};

static void aggregator_validate(void *obj, struct config_ctx *ctx);

static const struct config_key aggregator_keys[] = {
	{"kafka", CONFIG_SECTION, KEY(aggregator_config, kafka),
	 .section = &aggregator_kafka_section, .help = "where the lines come from"},
	{"mariadb", CONFIG_SECTION, KEY(aggregator_config, mariadb),
	 .section = &aggregator_mariadb_section, .help = "where the counts go"},
	{"window", CONFIG_DURATION, KEY(aggregator_config, window), .def = "5s",
	 .min = SECONDS(1), .max = DAYS(1),
	 .help = "size of the base tumbling window (whole seconds)"},
	{"flush_interval", CONFIG_DURATION, KEY(aggregator_config, flush_interval), .def = "1s",
	 .min = MS(10), .max = SECONDS(3600),
	 .help = "how often accumulated counts are written in one transaction"},
	{"max_pending", CONFIG_SIZE, KEY(aggregator_config, max_pending), .def = "64MiB",
	 .min = 64 << 10, .max = (int64_t)16 << 30,
	 .help = "memory of counts waiting to be written: past it they are written "
		 "before flush_interval, and at 4 times it counting waits for the writer"},
	{"lateness", CONFIG_DURATION, KEY(aggregator_config, lateness), .def = "1m",
	 .min = MS(0), .max = DAYS(365),
	 .help = "events older than this behind the newest are reported late (still counted)"},
	{"log_format", CONFIG_STRING, KEY(aggregator_config, log_format), .def = "combined",
	 .check = aggregator_check_log_format,
	 .help = "common, combined (also nginx's default) or a PCRE2 pattern with named groups"},
	{"dimensions", CONFIG_SECTIONS, KEY(aggregator_config, dimensions),
	 .def = "[{name: url, from: path}, {name: status, from: status},"
		" {name: hashtag, from: target, match: '#(\\w+)', lowercase: true}]",
	 .section = &aggregator_dimension_section, .help = "what is counted"},
	{"rollups", CONFIG_DURATIONS, KEY(aggregator_config, rollups), .def = "[1m, 1h]",
	 .min = SECONDS(1), .max = DAYS(366),
	 .help = "coarser windows updated in the same transaction (multiples of window)"},
	{"retention", CONFIG_DURATION_MAP, KEY(aggregator_config, retention),
	 .def = "{5s: 2d, 1m: 30d, 1h: 400d}", .min = SECONDS(1), .max = DAYS(36600),
	 .help = "window size: how long its rows are kept; sizes not listed are kept forever"},
	{"max_values", CONFIG_INT, KEY(aggregator_config, max_values), .def = "10000",
	 .min = 1, .max = 10000000,
	 .help = "distinct values per dimension and window; further values count as (other)"},
	{"http", CONFIG_SECTION, KEY(aggregator_config, http),
	 .section = &aggregator_http_section, .help = "the dashboard and API endpoint"},
	{"shutdown_timeout", CONFIG_DURATION, KEY(aggregator_config, shutdown_timeout),
	 .def = "10s", .min = MS(0), .max = SECONDS(3600),
	 .help = "at exit, most time to wait for the last flush"},
	{"log_level", CONFIG_ENUM, KEY(aggregator_config, log_level), .def = "info",
	 .choices = aggregator_log_levels, .help = "messages on stderr at or above this level"},
	{NULL},
};

const struct config_section aggregator_config_section = {
	aggregator_keys, sizeof(struct aggregator_config), aggregator_validate,
};

static void aggregator_validate_windows(struct aggregator_config *cfg,
				       struct config_ctx *ctx)
{
	int64_t prev = cfg->window;
	char size[32];

	if (cfg->window % 1000)
		config_report(ctx, "window", "must be a whole number of seconds");
	for (size_t i = 0; i < cfg->rollups.n; i++) {
		int64_t r = cfg->rollups.items[i];

		if (r <= prev || r % cfg->window)
			config_report_item(ctx, "rollups", i, NULL,
					   "each rollup must be a multiple of window and larger than the one before");
		prev = r;
	}
	if (!config_has(ctx, "retention") || !config_ok(ctx, "retention"))
		return;
	for (size_t i = 0; i < cfg->retention.n; i++) {
		int64_t w = cfg->retention.items[i].key;
		bool known = w == cfg->window;

		for (size_t j = 0; j < cfg->rollups.n; j++)
			known |= w == cfg->rollups.items[j];
		units_format_duration(w, size, sizeof(size));
		if (!known)
			config_report_item(ctx, "retention", i, NULL,
					   "%s is neither the window nor one of the rollups", size);
	}
}

/* Whether name is a named group of the custom log_format pattern. */
static bool aggregator_named_group(const char *pattern, const char *name)
{
	uint32_t count = 0, entry = 0;
	PCRE2_SPTR table;
	PCRE2_SIZE offset;
	pcre2_code *re;
	bool found = false;
	int code;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
			   confcheck_regex_options(), &code, &offset, NULL);
	if (!re)
		return true;    /* reported already by the pattern's own check */
	pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_pattern_info(re, PCRE2_INFO_NAMEENTRYSIZE, &entry);
	pcre2_pattern_info(re, PCRE2_INFO_NAMETABLE, &table);
	for (uint32_t i = 0; i < count && !found; i++)
		found = !strcmp((const char *)table + i * entry + 2, name);
	pcre2_code_free(re);
	return found;
}

static bool aggregator_known_field(const struct aggregator_config *cfg,
				   const char *from)
{
	bool builtin = !strcmp(cfg->log_format, "common") ||
		       !strcmp(cfg->log_format, "combined");

	for (size_t i = 0; aggregator_config_fields[i]; i++)
		if (!strcmp(from, aggregator_config_fields[i]))
			return true;
	return !builtin && aggregator_named_group(cfg->log_format, from);
}

static void aggregator_validate_dimensions(struct aggregator_config *cfg,
					   struct config_ctx *ctx)
{
	for (size_t i = 0; i < cfg->dimensions.n; i++) {
		struct aggregator_dimension *dim =
			CONFIG_ITEM(cfg->dimensions, struct aggregator_dimension, i);

		if (!dim->name || !dim->from)
			continue;
		if (config_ok(ctx, "log_format") && !aggregator_known_field(cfg, dim->from))
			config_report_item(ctx, "dimensions", i, "from",
					   "'%s' is not a field of the log format", dim->from);
		for (size_t j = 0; j < i; j++) {
			struct aggregator_dimension *other =
				CONFIG_ITEM(cfg->dimensions, struct aggregator_dimension, j);

			if (other->name && !strcmp(other->name, dim->name))
				config_report_item(ctx, "dimensions", i, "name",
						   "'%s' is used twice", dim->name);
		}
	}
	if (cfg->dimensions.n == 0 && config_ok(ctx, "dimensions"))
		config_report(ctx, "dimensions", "needs at least one dimension");
}

static void aggregator_validate(void *obj, struct config_ctx *ctx)
{
	struct aggregator_config *cfg = obj;

	if (config_ok(ctx, "window") && config_ok(ctx, "rollups"))
		aggregator_validate_windows(cfg, ctx);
	aggregator_validate_dimensions(cfg, ctx);
}

int aggregator_config_load(struct aggregator_config *cfg, const char *path,
			   struct config_errors *errs)
{
	memset(cfg, 0, sizeof(*cfg));
	return config_load_file(&aggregator_config_section, cfg, path, errs);
}

void aggregator_config_free(struct aggregator_config *cfg)
{
	config_free(&aggregator_config_section, cfg);
}
