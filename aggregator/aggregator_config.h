/*
 * aggregator_config: the aggregator's configuration, as typed structs
 * filled from YAML by the table in aggregator_config.c (see
 * common/config.h). Durations are milliseconds.
 */
#ifndef LOGTALLY_AGGREGATOR_CONFIG_H
#define LOGTALLY_AGGREGATOR_CONFIG_H

#include <stdbool.h>

#include "confcheck.h"
#include "config.h"

/*
 * Most rollups: the aggregator sums each flush into the base window and
 * these, all in one transaction. More are refused by the configuration.
 */
#define AGGREGATOR_ROLLUPS_MAX 15

/*
 * A condition of a dimension's when: on field, each of is, match and
 * not_match that is set must hold. The loader has checked that at least
 * one is set, that the patterns compile and, for status, that every item
 * of is is a code (100..599) or a class ("4xx").
 */
struct aggregator_condition {
	char *field;                      /* the when mapping's key (first) */
	struct config_strings is;         /* exact values; for status also classes */
	char *match;                      /* "" or a PCRE2 pattern it must match */
	char *not_match;                  /* "" or one it must not match */
};

struct aggregator_dimension {
	char *name;             /* the counts table's dimension column */
	char *from;             /* a field of the parsed line */
	char *match;            /* "" or a PCRE2 pattern; capture 1 if any */
	bool lowercase;
	struct config_list when;  /* of struct aggregator_condition: all must hold */
};

struct aggregator_kafka {
	char *brokers;
	char *topic;
	char *group;
	struct config_map properties;     /* passed to librdkafka as is */
};

/*
 * TLS to MariaDB: on when any of the three files is set, and then never
 * without (MYSQL_OPT_SSL_ENFORCE). The loader has checked that each file
 * set can be read, that cert and key come together, and it has settled
 * verify_server_cert (true when ca is set, unless the file says false).
 */
struct aggregator_mariadb_tls {
	char *ca;                         /* "" or a PEM file of CA certificates */
	char *cert;                       /* "" or the client's certificate */
	char *key;                        /* "" or the client's private key */
	/*
	 * The server's certificate names host. Connector/C checks the chain
	 * against ca whenever ca is set, whatever this says; without ca
	 * nothing is checked: encrypted, but anyone may answer.
	 */
	bool verify_server_cert;
};

struct aggregator_mariadb {
	char *host;
	char *socket;                     /* "" to use host and port */
	int64_t port;
	char *user;
	char *password;                   /* read from password_file if set */
	char *password_file;              /* "" or where password was read */
	char *database;
	struct aggregator_mariadb_tls tls;
};

/* An alert rule's one condition, settled by the loader from its key. */
enum aggregator_alert_condition {
	AGGREGATOR_ALERT_ABOVE,
	AGGREGATOR_ALERT_SHARE_ABOVE,
	AGGREGATOR_ALERT_P50_ABOVE,
	AGGREGATOR_ALERT_P90_ABOVE,
	AGGREGATOR_ALERT_P95_ABOVE,
	AGGREGATOR_ALERT_P99_ABOVE,
	AGGREGATOR_ALERT_AVG_ABOVE,
	AGGREGATOR_ALERT_BYTES_ABOVE,
};

extern const char *const aggregator_alert_conditions[];  /* "p95_above", ... */

/*
 * An alert rule (aggregator/alerts.c): one condition on a dimension's
 * values over a span; the other condition keys stay 0 or "".
 */
struct aggregator_alert {
	char *name;
	char *dimension;                  /* one of the configured dimensions */
	char *match;                      /* "" for every value */
	bool each;                        /* one alert per matching value */
	int64_t over;                     /* the span, whole seconds in ms */
	enum aggregator_alert_condition condition;
	int64_t above;                    /* hits */
	char *share_above;                /* "5%" or "0.05" */
	char *duration_above;             /* p50..avg: the one set below (borrowed) */
	uint64_t bytes_above;             /* bytes */
	int64_t min_hits;                 /* share rules: all hits at least */
	int64_t min_timed;                /* duration rules: timed hits at least */
	char *webhook;                    /* http:// or https:// URL */
	struct config_map headers;        /* sent with every POST */
	/* the file's duration keys: "500ms", "1.5s", "250us" or "" */
	char *p50_above, *p90_above, *p95_above, *p99_above, *avg_above;
};

struct aggregator_http {
	char *listen;                     /* "" when off */
	char *token;                      /* "" when none is required */
	char *token_file;                 /* "" or where token was read */
	struct confcheck_tls_files tls;   /* HTTPS when tls.cert is set */
};

struct aggregator_config {
	struct aggregator_kafka kafka;
	struct aggregator_mariadb mariadb;
	int64_t window;
	int64_t flush_interval;
	uint64_t max_pending;             /* bytes of counts waiting for a flush */
	int64_t lateness;
	char *log_format;                 /* common, combined or a pattern */
	struct config_list dimensions;    /* of struct aggregator_dimension */
	struct config_durations rollups;  /* at most AGGREGATOR_ROLLUPS_MAX */
	struct config_duration_map retention;
	int64_t max_values;
	struct aggregator_http http;
	struct config_list alerts;        /* of struct aggregator_alert */
	int64_t alerts_every;
	int64_t shutdown_timeout;
	int log_level;                    /* enum logging_level */
};

/* The key table, for --help-config and for tests. */
extern const struct config_section aggregator_config_section;

/*
 * Fields a dimension may take its value from, or have a condition on,
 * with the built-in formats: the parser's (accesslog.h) and referer_host,
 * which dimensions.c derives from referer.
 */
extern const char *const aggregator_config_fields[];

/*
 * The share of a share_above value: "5%" or "0.05" into *share (0 to
 * below 1). Returns 0, or -1 with the reason in err.
 */
int aggregator_config_share(const char *text, double *share, char *err,
			    size_t errlen);

/*
 * Load path into cfg (zeroed by this function). Returns 0, or a negative
 * errno class with every problem in errs. Call aggregator_config_free()
 * in both cases.
 */
int aggregator_config_load(struct aggregator_config *cfg, const char *path,
			   struct config_errors *errs);

void aggregator_config_free(struct aggregator_config *cfg);

#endif
