/*
 * Unit tests of aggregator/status: /healthz follows the health the loop
 * publishes (200, or 503 with the reason), /api/status reports it with the
 * metrics, and / serves the dashboard with its security headers. A real
 * HTTP endpoint on a free port, asked with libcurl.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "aggregator/status.h"
#include "buf.h"

struct fixture {
	struct metrics *reg;
	struct status_metrics m;
	struct status *st;
	struct httpd *h;
};

static size_t reply_write(char *data, size_t size, size_t n, void *arg)
{
	return buf_add(arg, data, size * n) == 0 ? size * n : 0;
}

/* GET path; the status code, and the body in body (initialised here). */
static long get(struct fixture *f, const char *path, struct buf *body, struct buf *headers)
{
	CURL *curl = curl_easy_init();
	char url[128];
	long code = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", httpd_port(f->h), path);
	buf_init(body, 1 << 20);
	buf_init(headers, 1 << 16);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, reply_write);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, headers);
	assert_int_equal(curl_easy_perform(curl), CURLE_OK);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(curl);
	return code;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	f->reg = metrics_new();
	f->m = (struct status_metrics){
		metrics_gauge(f->reg, "db_up", "-", NULL),
		metrics_gauge(f->reg, "assigned", "-", NULL),
		metrics_gauge(f->reg, "lag", "-", NULL),
		metrics_gauge(f->reg, "last_flush", "-", NULL),
		metrics_counter(f->reg, "messages_total", "-", NULL),
		metrics_counter(f->reg, "parse_errors_total", "-", NULL),
	};
	f->st = status_new(&f->m);
	f->h = httpd_new("127.0.0.1:0", err, sizeof(err));
	assert_non_null(f->h);
	status_route(f->st, f->h);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	httpd_free(f->h);
	status_free(f->st);
	metrics_free(f->reg);
	free(f);
	return 0;
}

/* Each health: /healthz's code and reason, and /api/status's "health". */
static void test_health(void **state)
{
	static const struct {
		enum status_health health;
		long code;
		const char *reason;
	} cases[] = {
		{STATUS_STARTING, 503, "starting"},
		{STATUS_OK, 200, "ok"},
		{STATUS_DB_DOWN, 503, "MariaDB unavailable"},
		{STATUS_FATAL, 503, "fatal error"},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf body, headers;
		json_t *obj;

		status_set(f->st, cases[i].health);
		assert_int_equal(get(f, "/healthz", &body, &headers), cases[i].code);
		assert_non_null(strstr(buf_str(&body), cases[i].reason));
		buf_fini(&body);
		buf_fini(&headers);
		assert_int_equal(get(f, "/api/status", &body, &headers), 200);
		obj = json_loads(buf_str(&body), 0, NULL);
		assert_non_null(obj);
		assert_non_null(strstr(json_string_value(json_object_get(obj, "health")),
				       cases[i].reason));
		json_decref(obj);
		buf_fini(&body);
		buf_fini(&headers);
	}
}

/* /api/status reports the metrics, and null before the first flush. */
static void test_api_status(void **state)
{
	struct fixture *f = *state;
	struct buf body, headers;
	json_t *obj;

	metrics_gauge_set(f->m.db_up, 1);
	metrics_gauge_set(f->m.assigned, 4);
	metrics_gauge_set(f->m.lag, 17);
	metrics_counter_add(f->m.messages, 1234);
	metrics_counter_add(f->m.parse_errors, 5);
	assert_int_equal(get(f, "/api/status", &body, &headers), 200);
	assert_non_null(strstr(buf_str(&headers), "application/json"));
	obj = json_loads(buf_str(&body), 0, NULL);
	assert_non_null(obj);
	assert_true(json_is_true(json_object_get(obj, "db_up")));
	assert_int_equal(json_integer_value(json_object_get(obj, "partitions")), 4);
	assert_int_equal(json_integer_value(json_object_get(obj, "lag")), 17);
	assert_int_equal(json_integer_value(json_object_get(obj, "messages")), 1234);
	assert_int_equal(json_integer_value(json_object_get(obj, "parse_errors")), 5);
	assert_true(json_is_null(json_object_get(obj, "last_flush")));
	assert_true(json_is_null(json_object_get(obj, "last_flush_age_seconds")));
	json_decref(obj);
	buf_fini(&body);
	buf_fini(&headers);
}

/* /: the page, with a policy that loads nothing from elsewhere. */
static void test_dashboard(void **state)
{
	struct fixture *f = *state;
	struct buf body, headers;

	assert_int_equal(get(f, "/", &body, &headers), 200);
	assert_non_null(strstr(buf_str(&body), "<html"));
	assert_non_null(strstr(buf_str(&headers), "default-src 'none'"));
	assert_non_null(strstr(buf_str(&headers), "text/html"));
	buf_fini(&body);
	buf_fini(&headers);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_health),
		T(test_api_status),
		T(test_dashboard),
	};

	return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
