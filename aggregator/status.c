/*
 * status: /healthz, /api/status and the dashboard (see status.h). The
 * dashboard's page is aggregator/dashboard.html, compiled in by
 * scripts/embed-file as dashboard_html.
 */
#include "status.h"

#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "runtime.h"
#include "xalloc.h"

struct status {
	_Atomic int health;             /* enum status_health */
	struct status_metrics m;
};

struct status *status_new(const struct status_metrics *m)
{
	struct status *st = xcalloc(1, sizeof(*st));

	atomic_init(&st->health, STATUS_STARTING);
	st->m = *m;
	return st;
}

void status_free(struct status *st)
{
	free(st);
}

void status_set(struct status *st, enum status_health health)
{
	atomic_store(&st->health, health);
}

/* /healthz: 0, or -1 with the reason. */
static int status_health(void *ctx, char *reason, size_t len)
{
	struct status *st = ctx;

	switch (atomic_load(&st->health)) {
	case STATUS_OK:
		return 0;
	case STATUS_DB_DOWN:
		snprintf(reason, len, "MariaDB unavailable: consumption paused");
		return -1;
	case STATUS_FATAL:
		snprintf(reason, len, "stopping after a fatal error");
		return -1;
	default:
		snprintf(reason, len, "starting: waiting for MariaDB and partitions");
		return -1;
	}
}

static json_t *status_json(struct status *st)
{
	const struct status_metrics *m = &st->m;
	double last = metrics_gauge_get(m->last_flush);
	double now = (double)runtime_wall_ms() / 1000;
	char reason[256] = "ok";
	json_t *obj = json_object();

	status_health(st, reason, sizeof(reason));
	json_object_set_new(obj, "health", json_string(reason));
	json_object_set_new(obj, "db_up", json_boolean(metrics_gauge_get(m->db_up) > 0));
	json_object_set_new(obj, "partitions", json_integer((json_int_t)metrics_gauge_get(m->assigned)));
	json_object_set_new(obj, "lag", json_integer((json_int_t)metrics_gauge_get(m->lag)));
	json_object_set_new(obj, "messages", json_integer((json_int_t)metrics_counter_get(m->messages)));
	json_object_set_new(obj, "parse_errors", json_integer((json_int_t)metrics_counter_get(m->parse_errors)));
	json_object_set_new(obj, "last_flush", last > 0 ? json_integer((json_int_t)last) : json_null());
	json_object_set_new(obj, "last_flush_age_seconds",
			    last > 0 ? json_real(now - last) : json_null());
	json_object_set_new(obj, "now", json_integer((json_int_t)now));
	return obj;
}

/* /api/status: the health and the metrics the dashboard's panels show. */
static int status_api(const struct httpd_request *req, struct httpd_response *resp,
		      void *ctx)
{
	json_t *obj = status_json(ctx);
	char *text = json_dumps(obj, JSON_COMPACT);
	int rc;

	(void)req;
	json_decref(obj);
	if (!text)
		return -ENOMEM;
	httpd_set_content_type(resp, "application/json; charset=utf-8");
	httpd_set_header(resp, "Cache-Control", "no-store");
	rc = buf_add(httpd_body(resp), text, strlen(text));
	free(text);
	return rc;
}

extern const unsigned char dashboard_html[];
extern const size_t dashboard_html_len;

/* /: the dashboard, one page that loads nothing from elsewhere. */
static int status_dashboard(const struct httpd_request *req,
			    struct httpd_response *resp, void *ctx)
{
	static const char *const headers[][2] = {
		{"Content-Security-Policy", "default-src 'none'; script-src "
		 "'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
		 "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
		{"X-Content-Type-Options", "nosniff"},
		{"Referrer-Policy", "no-referrer"},
		{"Cache-Control", "no-cache"},
	};

	(void)req;
	(void)ctx;
	httpd_set_content_type(resp, "text/html; charset=utf-8");
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
		httpd_set_header(resp, headers[i][0], headers[i][1]);
	return buf_add(httpd_body(resp), (const char *)dashboard_html,
		       dashboard_html_len);
}

void status_route(struct status *st, struct httpd *h)
{
	httpd_route_health(h, status_health, st);
	httpd_route(h, "GET", "/api/status", status_api, st);
	httpd_route(h, "GET", "/", status_dashboard, NULL);
}
