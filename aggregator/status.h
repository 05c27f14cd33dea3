/*
 * status: what the aggregator says about itself over HTTP: /healthz, from
 * the health the loop publishes; /api/status, for the dashboard's own
 * panels, from that and the metrics; and / itself, the dashboard, one page
 * that loads nothing from elsewhere. The handlers run on the HTTP thread
 * and read only the published health (an atomic) and the metrics, which
 * are thread-safe.
 */
#ifndef LOGTALLY_STATUS_H
#define LOGTALLY_STATUS_H

#include "httpd.h"
#include "metrics.h"

enum status_health {
	STATUS_STARTING,        /* waiting for MariaDB and partitions */
	STATUS_OK,
	STATUS_DB_DOWN,         /* MariaDB away: consumption paused */
	STATUS_FATAL,           /* stopping after a fatal error */
};

/* The metrics /api/status reports, borrowed (they outlive the status). */
struct status_metrics {
	struct metrics_gauge *db_up, *assigned, *lag, *last_flush;
	struct metrics_counter *messages, *parse_errors;
};

struct status;

/* A status STARTING over m (copied). Free with status_free() (NULL is fine)
 * once the HTTP endpoint that routes to it is freed. */
struct status *status_new(const struct status_metrics *m);
void status_free(struct status *st);

/* The loop publishes its health (any thread may). */
void status_set(struct status *st, enum status_health health);

/* Route /healthz, GET /api/status and GET / of h to st. */
void status_route(struct status *st, struct httpd *h);

#endif
