/*
 * aggregator_config: the table of every aggregator key with its type,
 * bounds, default and help, and the checks across keys (window sizes that
 * fit each other, dimensions that name real fields, alert rules on real
 * dimensions). config/aggregator.yml documents the same keys; a unit test
 * keeps the two in step.
 */
#include "aggregator_config.h"

#include <curl/curl.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "confcheck.h"
#include "latency.h"
#include "schema.h"
#include "units.h"

#define MS(n) ((int64_t)(n))
#define SECONDS(n) ((int64_t)(n) * 1000)
#define DAYS(n) ((int64_t)(n) * 86400000)
#define KEY(s, f) .offset = offsetof(struct s, f)

static const char *const aggregator_log_levels[] = {"error", "warn", "info", "debug", NULL};

const char *const aggregator_config_fields[] = {
	"path", "target", "method", "protocol", "status", "bytes", "referer",
	"referer_host", "user_agent", "remote_addr", "remote_user", "host", NULL,
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

	if (accesslog_is_builtin(value))
		return 0;
	rc = confcheck_regex(key, value, err, errlen, at);
	if (rc || aggregator_named_groups(value))
		return rc;
	*at = 0;
	snprintf(err, errlen, "a pattern needs named groups for the fields, "
		 "such as (?<status>\\d{3})");
	return -1;
}

/* --- dimensions ------------------------------------------------------- */

static const struct config_key aggregator_condition_keys[] = {
	{"is", CONFIG_STRINGS, KEY(aggregator_condition, is), .def = "[]",
	 .flags = CONFIG_SHORTHAND,
	 .help = "a value or a list, compared exactly; status takes codes and classes "
		 "(404, 5xx); written alone: {status: [401, 5xx]}"},
	{"match", CONFIG_STRING, KEY(aggregator_condition, match), .def = "''",
	 .check = confcheck_regex,
	 .help = "PCRE2 pattern the field, as logged, must match"},
	{"not_match", CONFIG_STRING, KEY(aggregator_condition, not_match), .def = "''",
	 .check = confcheck_regex,
	 .help = "PCRE2 pattern the field must not match (an absent field matches none)"},
	{NULL},
};

/* A status condition's item: a code 100..599 or a class 1xx..5xx. */
static bool aggregator_status_item(const char *s)
{
	if (strlen(s) != 3 || s[0] < '1' || s[0] > '5')
		return false;
	if (s[1] == 'x' && s[2] == 'x')
		return true;
	return strspn(s + 1, "0123456789") == 2;
}

static void aggregator_condition_validate(void *obj, struct config_ctx *ctx)
{
	struct aggregator_condition *cond = obj;

	if (!config_ok(ctx, "is") || !config_ok(ctx, "match") ||
	    !config_ok(ctx, "not_match"))
		return;
	if (!cond->is.n && !*cond->match && !*cond->not_match) {
		config_report(ctx, NULL, "needs a value, a list, match or not_match");
		return;
	}
	for (size_t i = 0; i < cond->is.n; i++) {
		if (!strcmp(cond->field, "status") && !aggregator_status_item(cond->is.items[i]))
			config_report_item(ctx, "is", i, NULL, "'%s' is not a status: "
					   "write a code (404) or a class (4xx)",
					   cond->is.items[i]);
		else if (!*cond->is.items[i])
			config_report_item(ctx, "is", i, NULL, "an empty value never holds");
	}
}

static const struct config_section aggregator_condition_section = {
	aggregator_condition_keys, sizeof(struct aggregator_condition),
	aggregator_condition_validate,
};

static const struct config_key aggregator_dimension_keys[] = {
	{"name", CONFIG_STRING, KEY(aggregator_dimension, name), .flags = CONFIG_REQUIRED,
	 .help = "the dimension column of the counts table (letters, digits, _; at most "
	 SCHEMA_STR(SCHEMA_DIMENSION_CHARS) ")"},
	{"from", CONFIG_STRING, KEY(aggregator_dimension, from), .flags = CONFIG_REQUIRED,
	 .help = "field of the line: path, target, method, status, referer, referer_host, "
		 "user_agent, remote_addr, ..."},
	{"match", CONFIG_STRING, KEY(aggregator_dimension, match), .def = "''",
	 .check = confcheck_regex,
	 .help = "pattern applied to the percent-decoded field; each match counts (capture 1 if any)"},
	{"lowercase", CONFIG_BOOL, KEY(aggregator_dimension, lowercase), .def = "false",
	 .help = "lowercase the value before counting"},
	{"when", CONFIG_SECTION_MAP, KEY(aggregator_dimension, when), .def = "{}",
	 .section = &aggregator_condition_section,
	 .help = "field: condition, all of which must hold for a line to count here: "
		 "{status: 404}, {status: [401, 5xx]}, {method: POST}, "
		 "{user_agent: {match: '(?i)bot'}}"},
	{NULL},
};

static void aggregator_dimension_validate(void *obj, struct config_ctx *ctx)
{
	struct aggregator_dimension *dim = obj;
	size_t len = dim->name ? strlen(dim->name) : 0;

	if (!dim->name)
		return;
	if (len == 0 || len > SCHEMA_DIMENSION_CHARS ||
	    strspn(dim->name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
		config_report(ctx, "name",
			      "'%s' must be 1 to %d lowercase letters, digits or '_'",
			      dim->name, SCHEMA_DIMENSION_CHARS);
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

static const struct config_key aggregator_tls_keys[] = {
	{"ca", CONFIG_STRING, KEY(aggregator_mariadb_tls, ca), .def = "''",
	 .check = confcheck_readable_file,
	 .help = "PEM file of the CA(s) that signed the server's certificate; empty: none"},
	{"cert", CONFIG_STRING, KEY(aggregator_mariadb_tls, cert), .def = "''",
	 .check = confcheck_readable_file,
	 .help = "PEM file of the client certificate (with key), for REQUIRE X509 users"},
	{"key", CONFIG_STRING, KEY(aggregator_mariadb_tls, key), .def = "''",
	 .check = confcheck_readable_file,
	 .help = "PEM file of the client certificate's private key"},
	{"verify_server_cert", CONFIG_BOOL, KEY(aggregator_mariadb_tls, verify_server_cert),
	 .help = "check that the server's certificate names host (ca always checks who "
		 "signed it); default: true when ca is set"},
	{NULL},
};

/*
 * The default of verify_server_cert depends on ca, which a table default
 * cannot say. Without a CA nothing can be verified, so an explicit true
 * there is refused rather than silently meaning nothing.
 */
static void aggregator_tls_validate(void *obj, struct config_ctx *ctx)
{
	struct aggregator_mariadb_tls *tls = obj;
	bool ca = tls->ca && *tls->ca;

	if (!config_has(ctx, "verify_server_cert"))
		tls->verify_server_cert = ca;
	else if (tls->verify_server_cert && !ca && config_ok(ctx, "ca"))
		config_report(ctx, "verify_server_cert",
			      "needs ca, the CA that signed the server's certificate");
	if (tls->cert && tls->key && !*tls->cert != !*tls->key &&
	    config_ok(ctx, "cert") && config_ok(ctx, "key"))
		config_report(ctx, *tls->cert ? "cert" : "key",
			      "cert and key go together: set both or neither");
}

static const struct config_section aggregator_tls_section = {
	aggregator_tls_keys, sizeof(struct aggregator_mariadb_tls),
	aggregator_tls_validate,
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
	{"password_file", CONFIG_STRING, KEY(aggregator_mariadb, password_file), .def = "''",
	 .help = "instead of password: a file holding it (trailing newline dropped), "
		 "closed to others (chmod o-rwx)"},
	{"database", CONFIG_STRING, KEY(aggregator_mariadb, database), .def = "logtally",
	 .help = "database holding the counts and logtally_ tables"},
	{"tls", CONFIG_SECTION, KEY(aggregator_mariadb, tls),
	 .section = &aggregator_tls_section,
	 .help = "TLS to the server: on when ca, cert or key is set, and then required"},
	{NULL},
};

/*
 * A secret given as file_key instead of inline as key: read now, into
 * *secret (the inline key's field), so that the rest of the program knows
 * one field only and a bad file stops the start at its line. An empty
 * inline value (the sample's ${VAR:-} with VAR unset) counts as not given.
 */
static void aggregator_secret_file(struct config_ctx *ctx, const char *key,
				   const char *file_key, const char *path,
				   char **secret)
{
	char err[512], *text;

	if (!path || !*path || !config_ok(ctx, file_key))
		return;
	if (*secret && **secret) {
		config_report(ctx, file_key, "set %s or %s, not both", key, file_key);
		return;
	}
	if (confcheck_read_secret(path, &text, err, sizeof(err))) {
		config_report(ctx, file_key, "%s", err);
		return;
	}
	free(*secret);
	*secret = text;
}

static void aggregator_mariadb_validate(void *obj, struct config_ctx *ctx)
{
	struct aggregator_mariadb *db = obj;

	aggregator_secret_file(ctx, "password", "password_file", db->password_file,
			       &db->password);
}

static const struct config_section aggregator_mariadb_section = {
	aggregator_mariadb_keys, sizeof(struct aggregator_mariadb),
	aggregator_mariadb_validate,
};

static const struct config_key aggregator_http_keys[] = {
	{"listen", CONFIG_STRING, KEY(aggregator_http, listen), .def = "127.0.0.1:8080",
	 .check = confcheck_listen,
	 .help = "host:port of the dashboard, /api/, /metrics, /healthz (port 0: any); empty: off"},
	{"token", CONFIG_STRING, KEY(aggregator_http, token), .def = "''",
	 .help = "when set, every request but /healthz needs Authorization: Bearer <token>"},
	{"token_file", CONFIG_STRING, KEY(aggregator_http, token_file), .def = "''",
	 .help = "instead of token: a file holding it (trailing newline dropped), "
		 "closed to others (chmod o-rwx)"},
	{"tls", CONFIG_SECTION, KEY(aggregator_http, tls), .section = &confcheck_tls_files_section,
	 .help = "HTTPS instead of HTTP: a certificate and its key"},
	{NULL},
};

static void aggregator_http_validate(void *obj, struct config_ctx *ctx)
{
	struct aggregator_http *http = obj;

	aggregator_secret_file(ctx, "token", "token_file", http->token_file,
			       &http->token);
}

static const struct config_section aggregator_http_section = {
	aggregator_http_keys, sizeof(struct aggregator_http),
	aggregator_http_validate,
};

/* --- alerts -------------------------------------------------------------- */

#define ALERT_NAME_MAX 64

int aggregator_config_share(const char *text, double *share, char *err,
			    size_t errlen)
{
	size_t digits = strspn(text, "0123456789.");
	bool percent = text[digits] == '%' && !text[digits + 1];
	char *end;
	double v = strtod(text, &end);

	if (!digits || end != text + digits || (text[digits] && !percent)) {
		snprintf(err, errlen, "'%s' is not a share: write 5%% or 0.05", text);
		return -1;
	}
	if (!percent && v >= 1) {
		snprintf(err, errlen, "'%s' without %% is a fraction of 1: "
			 "write %s%% or %g", text, text, v / 100);
		return -1;
	}
	if (percent)
		v /= 100;
	if (v >= 1) {
		snprintf(err, errlen, "'%s' can never be passed: a share is "
			 "below 100%%", text);
		return -1;
	}
	*share = v;
	return 0;
}

static int aggregator_check_share(const char *key, const char *value,
				  char *err, size_t errlen, size_t *at)
{
	double share;

	return aggregator_config_share(value, &share, err, errlen);
}

/* A duration threshold as latency_parse_us() reads it. */
static int aggregator_check_duration_us(const char *key, const char *value,
					char *err, size_t errlen, size_t *at)
{
	if (latency_parse_us(value) >= 0)
		return 0;
	snprintf(err, errlen, "'%s' is not a duration: write 500ms, 1.5s or 250us",
		 value);
	return -1;
}

/* An http:// or https:// URL with a host, as libcurl reads it. */
static int aggregator_check_webhook(const char *key, const char *value,
				    char *err, size_t errlen, size_t *at)
{
	CURLU *url = curl_url();
	char *scheme = NULL, *host = NULL;
	CURLUcode code;
	int rc = -1;

	code = curl_url_set(url, CURLUPART_URL, value, 0);
	if (!code)
		code = curl_url_get(url, CURLUPART_SCHEME, &scheme, 0);
	if (!code)
		code = curl_url_get(url, CURLUPART_HOST, &host, 0);
	if (code)
		snprintf(err, errlen, "'%s' is not a URL: %s", value,
			 curl_url_strerror(code));
	else if (strcmp(scheme, "http") && strcmp(scheme, "https"))
		snprintf(err, errlen, "'%s' is not an http:// or https:// URL", value);
	else
		rc = 0;
	if (rc && !code)
		*at = 0;
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(url);
	return rc;
}

/* A header name is an HTTP token; a value is one line. */
static int aggregator_check_header(const char *key, const char *value,
				   char *err, size_t errlen, size_t *at)
{
	static const char token[] = "!#$%&'*+-.^_`|~0123456789"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	size_t len = strlen(key);

	if (!len || strspn(key, token) != len) {
		snprintf(err, errlen, "'%s' is not a header name", key);
		return -1;
	}
	*at = strcspn(value, "\r\n");
	if (!value[*at])
		return 0;
	snprintf(err, errlen, "a header value must be one line");
	return -1;
}

static const struct config_key aggregator_alert_keys[] = {
	{"name", CONFIG_STRING, KEY(aggregator_alert, name), .flags = CONFIG_REQUIRED,
	 .help = "the rule's name in messages and metrics (a-z, 0-9, _ and -; at most 64)"},
	{"dimension", CONFIG_STRING, KEY(aggregator_alert, dimension),
	 .flags = CONFIG_REQUIRED, .help = "the dimension whose hits are watched"},
	{"match", CONFIG_STRING, KEY(aggregator_alert, match), .def = "''",
	 .check = confcheck_regex,
	 .help = "pattern on the stored value; empty: every value"},
	{"each", CONFIG_BOOL, KEY(aggregator_alert, each), .def = "false",
	 .help = "one alert per matching value instead of one over their sum"},
	{"over", CONFIG_DURATION, KEY(aggregator_alert, over), .def = "1m",
	 .min = SECONDS(1), .max = DAYS(1),
	 .help = "the span the hits are summed over (whole seconds, at least window)"},
	{"above", CONFIG_INT, KEY(aggregator_alert, above), .min = 0, .max = INT64_MAX,
	 .help = "fires while the matching hits in the span are above this number"},
	{"share_above", CONFIG_STRING, KEY(aggregator_alert, share_above),
	 .check = aggregator_check_share,
	 .help = "fires while matching hits / all hits of the dimension are above this (5% or 0.05)"},
	{"p50_above", CONFIG_STRING, KEY(aggregator_alert, p50_above),
	 .check = aggregator_check_duration_us,
	 .help = "fires while the median duration of the matching hits is above this (500ms, 1.5s, 250us)"},
	{"p90_above", CONFIG_STRING, KEY(aggregator_alert, p90_above),
	 .check = aggregator_check_duration_us,
	 .help = "fires while the 90th percentile of the matching hits' durations is above this"},
	{"p95_above", CONFIG_STRING, KEY(aggregator_alert, p95_above),
	 .check = aggregator_check_duration_us,
	 .help = "fires while the 95th percentile of the matching hits' durations is above this"},
	{"p99_above", CONFIG_STRING, KEY(aggregator_alert, p99_above),
	 .check = aggregator_check_duration_us,
	 .help = "fires while the 99th percentile of the matching hits' durations is above this"},
	{"avg_above", CONFIG_STRING, KEY(aggregator_alert, avg_above),
	 .check = aggregator_check_duration_us,
	 .help = "fires while the average duration of the matching hits is above this"},
	{"bytes_above", CONFIG_SIZE, KEY(aggregator_alert, bytes_above), .min = 0,
	 .max = INT64_MAX,
	 .help = "fires while the bytes sent for the matching hits in the span are above this (10MB, 1GiB)"},
	{"min_hits", CONFIG_INT, KEY(aggregator_alert, min_hits), .def = "1",
	 .min = 1, .max = INT64_MAX,
	 .help = "share_above: the dimension needs at least this many hits in the span"},
	{"min_timed", CONFIG_INT, KEY(aggregator_alert, min_timed), .def = "20",
	 .min = 1, .max = INT64_MAX,
	 .help = "p50_above to avg_above: the matching hits (each: the value's) need at "
		 "least this many with a duration in the span"},
	{"webhook", CONFIG_STRING, KEY(aggregator_alert, webhook), .flags = CONFIG_REQUIRED,
	 .check = aggregator_check_webhook,
	 .help = "http:// or https:// URL that gets a JSON POST when the rule fires or resolves"},
	{"headers", CONFIG_MAP, KEY(aggregator_alert, headers), .def = "{}",
	 .check = aggregator_check_header,
	 .help = "extra request headers, such as Authorization: \"Bearer ${TOKEN}\""},
	{NULL},
};

const char *const aggregator_alert_conditions[] = {
	"above", "share_above", "p50_above", "p90_above", "p95_above",
	"p99_above", "avg_above", "bytes_above", NULL,
};

static bool aggregator_alert_timed(enum aggregator_alert_condition c)
{
	return c >= AGGREGATOR_ALERT_P50_ABOVE && c <= AGGREGATOR_ALERT_AVG_ABOVE;
}

/*
 * Settles rule->condition from the one condition key the file sets (the
 * first, when it sets more: each further one is an error), and points
 * duration_above at its text for the duration conditions. Returns whether
 * one is set.
 */
static bool aggregator_alert_condition(struct aggregator_alert *rule,
				       struct config_ctx *ctx)
{
	char *const durations[] = {rule->p50_above, rule->p90_above,
				   rule->p95_above, rule->p99_above, rule->avg_above};
	const char *first = NULL;

	for (size_t i = 0; aggregator_alert_conditions[i]; i++) {
		const char *key = aggregator_alert_conditions[i];

		if (!config_has(ctx, key))
			continue;
		if (!first) {
			first = key;
			rule->condition = (enum aggregator_alert_condition)i;
		} else if (config_ok(ctx, first) && config_ok(ctx, key)) {
			config_report(ctx, key, "set %s or %s, not both", first, key);
		}
	}
	if (!first) {
		config_report(ctx, NULL, "needs a condition: above (hits), share_above "
			      "(a share of all hits), p50_above, p90_above, p95_above, "
			      "p99_above, avg_above (durations) or bytes_above");
		return false;
	}
	if (aggregator_alert_timed(rule->condition))
		rule->duration_above = durations[rule->condition - AGGREGATOR_ALERT_P50_ABOVE];
	return true;
}

static void aggregator_alert_validate(void *obj, struct config_ctx *ctx)
{
	struct aggregator_alert *rule = obj;
	size_t len = rule->name ? strlen(rule->name) : 0;

	if (rule->name && (len == 0 || len > ALERT_NAME_MAX ||
	    strspn(rule->name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != len))
		config_report(ctx, "name", "'%s' must be 1 to %d lowercase letters, "
			      "digits, '_' or '-'", rule->name, ALERT_NAME_MAX);
	if (aggregator_alert_condition(rule, ctx)) {
		if (rule->condition != AGGREGATOR_ALERT_SHARE_ABOVE &&
		    config_has(ctx, "min_hits") && config_ok(ctx, "min_hits"))
			config_report(ctx, "min_hits", "applies to share_above only");
		if (!aggregator_alert_timed(rule->condition) &&
		    config_has(ctx, "min_timed") && config_ok(ctx, "min_timed"))
			config_report(ctx, "min_timed", "applies to p50_above, p90_above, "
				      "p95_above, p99_above and avg_above only");
	}
	if (config_ok(ctx, "over") && rule->over % 1000)
		config_report(ctx, "over", "must be a whole number of seconds");
}

static const struct config_section aggregator_alert_section = {
	aggregator_alert_keys, sizeof(struct aggregator_alert),
	aggregator_alert_validate,
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
	 .help = "common, combined (also nginx's default), vhost_combined, nginx_request_time, "
		 "nginx_upstream_time, apache_duration_us, apache_duration_s, or a PCRE2 "
		 "pattern with named groups (request_time in seconds or duration_us give durations)"},
	{"dimensions", CONFIG_SECTIONS, KEY(aggregator_config, dimensions),
	 .def = "[{name: url, from: path}, {name: status, from: status},"
		" {name: hashtag, from: target, match: '#(\\w+)', lowercase: true}]",
	 .section = &aggregator_dimension_section, .help = "what is counted"},
	{"rollups", CONFIG_DURATIONS, KEY(aggregator_config, rollups), .def = "[1m, 1h]",
	 .min = SECONDS(1), .max = DAYS(366),
	 .help = "coarser windows updated in the same transaction (multiples of window; at most 15)"},
	{"retention", CONFIG_DURATION_MAP, KEY(aggregator_config, retention),
	 .def = "{5s: 2d, 1m: 30d, 1h: 400d}", .min = SECONDS(1), .max = DAYS(36600),
	 .help = "window size: how long its rows are kept; sizes not listed are kept forever"},
	{"max_values", CONFIG_INT, KEY(aggregator_config, max_values), .def = "10000",
	 .min = 1, .max = 10000000,
	 .help = "distinct values per dimension and window; further values count as (other)"},
	{"http", CONFIG_SECTION, KEY(aggregator_config, http),
	 .section = &aggregator_http_section, .help = "the dashboard and API endpoint"},
	{"alerts", CONFIG_SECTIONS, KEY(aggregator_config, alerts), .def = "[]",
	 .section = &aggregator_alert_section,
	 .help = "rules that POST to a webhook when they start and stop holding"},
	{"alerts_every", CONFIG_DURATION, KEY(aggregator_config, alerts_every), .def = "10s",
	 .min = SECONDS(1), .max = SECONDS(3600), .help = "how often the alert rules are evaluated"},
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
	if (cfg->rollups.n > AGGREGATOR_ROLLUPS_MAX)
		config_report_item(ctx, "rollups", AGGREGATOR_ROLLUPS_MAX, NULL,
				   "at most %d rollups (%zu given)",
				   AGGREGATOR_ROLLUPS_MAX, cfg->rollups.n);
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

/* Whether log_format names a built-in format rather than a pattern. */
static bool aggregator_builtin_format(const struct aggregator_config *cfg)
{
	return accesslog_is_builtin(cfg->log_format);
}

static bool aggregator_known_field(const struct aggregator_config *cfg,
				   const char *from)
{
	bool builtin = aggregator_builtin_format(cfg);

	for (size_t i = 0; aggregator_config_fields[i]; i++)
		if (!strcmp(from, aggregator_config_fields[i]))
			return true;
	return !builtin && aggregator_named_group(cfg->log_format, from);
}

/* The fields to name in an error: the built-in ones, and what else may be. */
static const char *aggregator_fields_text(const struct aggregator_config *cfg,
					  char *out, size_t outlen)
{
	size_t used = 0;

	for (size_t i = 0; aggregator_config_fields[i] && used < outlen; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%s%s",
					 i ? ", " : "", aggregator_config_fields[i]);
	if (!aggregator_builtin_format(cfg) && used < outlen)
		snprintf(out + used, outlen - used, " or a named group of log_format");
	return out;
}

/* The fields of dimension i's conditions, which the section could not check. */
static void aggregator_validate_when(struct aggregator_config *cfg,
				     struct config_ctx *ctx, size_t i)
{
	struct aggregator_dimension *dim =
		CONFIG_ITEM(cfg->dimensions, struct aggregator_dimension, i);
	char fields[512], at[128];

	for (size_t j = 0; j < dim->when.n; j++) {
		struct aggregator_condition *cond =
			CONFIG_ITEM(dim->when, struct aggregator_condition, j);

		if (aggregator_known_field(cfg, cond->field))
			continue;
		snprintf(at, sizeof(at), "when.%s", cond->field);
		config_report_item(ctx, "dimensions", i, at,
				   "'%s' is not a field of the log format (fields: %s)",
				   cond->field, aggregator_fields_text(cfg, fields, sizeof(fields)));
	}
}

static void aggregator_validate_dimensions(struct aggregator_config *cfg,
					   struct config_ctx *ctx)
{
	char fields[512];

	for (size_t i = 0; i < cfg->dimensions.n; i++) {
		struct aggregator_dimension *dim =
			CONFIG_ITEM(cfg->dimensions, struct aggregator_dimension, i);

		if (!dim->name || !dim->from)
			continue;
		if (config_ok(ctx, "log_format") && !aggregator_known_field(cfg, dim->from))
			config_report_item(ctx, "dimensions", i, "from",
					   "'%s' is not a field of the log format (fields: %s)",
					   dim->from, aggregator_fields_text(cfg, fields, sizeof(fields)));
		if (config_ok(ctx, "log_format"))
			aggregator_validate_when(cfg, ctx, i);
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

static bool aggregator_has_dimension(const struct aggregator_config *cfg,
				     const char *name)
{
	for (size_t i = 0; i < cfg->dimensions.n; i++) {
		struct aggregator_dimension *dim =
			CONFIG_ITEM(cfg->dimensions, struct aggregator_dimension, i);

		if (dim->name && !strcmp(dim->name, name))
			return true;
	}
	return false;
}

/* What a rule's own section cannot see: the dimensions, the window, the other rules. */
static void aggregator_validate_alert(struct aggregator_config *cfg,
				      struct config_ctx *ctx, size_t i)
{
	struct aggregator_alert *rule = CONFIG_ITEM(cfg->alerts, struct aggregator_alert, i);
	char over[32], window[32];

	if (rule->dimension && config_ok(ctx, "dimensions") &&
	    !aggregator_has_dimension(cfg, rule->dimension))
		config_report_item(ctx, "alerts", i, "dimension",
				   "'%s' is not one of the dimensions", rule->dimension);
	if (config_ok(ctx, "window") && rule->over % 1000 == 0 &&
	    rule->over > 0 && rule->over < cfg->window) {
		units_format_duration(rule->over, over, sizeof(over));
		units_format_duration(cfg->window, window, sizeof(window));
		config_report_item(ctx, "alerts", i, "over",
				   "%s is shorter than window (%s)", over, window);
	}
	for (size_t j = 0; j < i && rule->name; j++) {
		struct aggregator_alert *other =
			CONFIG_ITEM(cfg->alerts, struct aggregator_alert, j);

		if (other->name && !strcmp(other->name, rule->name))
			config_report_item(ctx, "alerts", i, "name",
					   "'%s' is used twice", rule->name);
	}
}

static void aggregator_validate(void *obj, struct config_ctx *ctx)
{
	struct aggregator_config *cfg = obj;

	if (config_ok(ctx, "window") && config_ok(ctx, "rollups"))
		aggregator_validate_windows(cfg, ctx);
	aggregator_validate_dimensions(cfg, ctx);
	for (size_t i = 0; i < cfg->alerts.n; i++)
		aggregator_validate_alert(cfg, ctx, i);
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
