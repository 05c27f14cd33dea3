/*
 * Unit tests of common/httpd, through libcurl against a server on
 * 127.0.0.1 and a port of its choosing: routes exact and by prefix, 404,
 * 405, query arguments and headers, handler failures, request bodies,
 * /metrics, /healthz, IPv6 and every-address listening, and the messages
 * of addresses that cannot be listened on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "httpd.h"
#include "logging.h"
#include "metrics.h"

struct reply {
	long status;
	struct buf body;
	struct buf headers;
	char content_type[128];
};

static size_t reply_write(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	return buf_add(b, data, size * n) ? 0 : size * n;
}

/* One request with libcurl; body NULL sends none. Fills reply. */
static void fetch_url(const char *url, const char *method, const char *body,
		      const char *header, struct reply *reply)
{
	struct curl_slist *headers = header ? curl_slist_append(NULL, header) : NULL;
	CURL *curl = curl_easy_init();
	char *type = NULL;

	buf_init(&reply->body, 1 << 20);
	buf_init(&reply->headers, 1 << 16);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply->body);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, reply_write);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply->headers);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	assert_int_equal(curl_easy_perform(curl), CURLE_OK);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
	curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
	snprintf(reply->content_type, sizeof(reply->content_type), "%s", type ? type : "");
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
}

static void reply_fini(struct reply *reply)
{
	buf_fini(&reply->body);
	buf_fini(&reply->headers);
}

static struct httpd *server;
static pthread_t main_thread;
static atomic_bool handler_on_main_thread;

static void fetch(const char *method, const char *path, const char *body,
		  struct reply *reply)
{
	char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", httpd_port(server), path);
	fetch_url(url, method, body, NULL, reply);
}

/* GET path and compare status and body. */
static void expect_get(const char *path, long status, const char *body)
{
	struct reply reply;

	fetch("GET", path, NULL, &reply);
	assert_int_equal(reply.status, status);
	assert_string_equal(buf_str(&reply.body), body);
	reply_fini(&reply);
}

/* Echoes what the request view shows. */
static int echo(const struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	const char *name = httpd_query(req, "name");
	const char *auth = httpd_header(req, "authorization");

	if (pthread_equal(pthread_self(), main_thread))
		handler_on_main_thread = true;
	httpd_set_content_type(resp, "text/x-echo");
	/* no cmocka asserts here: this is the HTTP thread; a 500 fails the test */
	if (httpd_set_header(resp, "X-Echo", "yes") != 0 ||
	    httpd_set_header(resp, "X-Bad", "a\r\nInjected: 1") != -EINVAL)
		return -EPROTO;
	return buf_printf(httpd_body(resp), "%s %s %s name=%s auth=%s", (const char *)ctx,
			  httpd_method(req), httpd_path(req), name ? name : "-",
			  auth ? auth : "-");
}

static int fails(const struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	buf_addstr(httpd_body(resp), "partial");
	return -EIO;
}

static int too_big(const struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	return buf_add(httpd_body(resp), "", HTTPD_BODY_MAX + (size_t)1);
}

static int teapot(const struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	httpd_set_status(resp, 418);
	return 0;
}

static int setup(void **state)
{
	char err[256];

	main_thread = pthread_self();
	server = httpd_new("127.0.0.1:0", err, sizeof(err));
	if (!server) {
		fprintf(stderr, "httpd_new: %s\n", err);
		return -1;
	}
	httpd_route(server, "GET", "/echo", echo, "exact");
	httpd_route(server, "POST", "/submit", echo, "submit");
	httpd_route(server, "GET", "/fail", fails, NULL);
	httpd_route(server, "GET", "/big", too_big, NULL);
	httpd_route(server, "DELETE", "/teapot", teapot, NULL);
	httpd_route_prefix(server, "GET", "/api/", echo, "api");
	httpd_route_prefix(server, "GET", "/api/v2/", echo, "v2");
	httpd_route(server, "GET", "/api/special", echo, "special");
	return 0;
}

static int teardown(void **state)
{
	httpd_free(server);
	server = NULL;
	return 0;
}

static void test_port_chosen(void **state)
{
	assert_true(httpd_port(server) > 0);
}

static void test_route(void **state)
{
	struct reply reply;

	fetch("GET", "/echo", NULL, &reply);
	assert_int_equal(reply.status, 200);
	assert_string_equal(reply.content_type, "text/x-echo");
	assert_string_equal(buf_str(&reply.body), "exact GET /echo name=- auth=-");
	assert_non_null(strstr(buf_str(&reply.headers), "\r\nX-Echo: yes\r\n"));
	assert_null(strstr(buf_str(&reply.headers), "Injected"));
	reply_fini(&reply);
	assert_false(handler_on_main_thread);
}

static void test_query_and_header(void **state)
{
	char url[256];
	struct reply reply;

	expect_get("/echo?name=a%20b%26c&other=1", 200,
		   "exact GET /echo name=a b&c auth=-");
	expect_get("/echo?other=1", 200, "exact GET /echo name=- auth=-");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", httpd_port(server));
	fetch_url(url, "GET", NULL, "Authorization: Bearer s3cret", &reply);
	assert_string_equal(buf_str(&reply.body),
			    "exact GET /echo name=- auth=Bearer s3cret");
	reply_fini(&reply);
}

static void test_not_found(void **state)
{
	struct reply reply;

	expect_get("/", 404, "not found\n");
	expect_get("/echo/more", 404, "not found\n");
	expect_get("/api", 404, "not found\n");
	fetch("POST", "/nowhere", "x=1", &reply);
	assert_int_equal(reply.status, 404);
	reply_fini(&reply);
}

static void test_wrong_method(void **state)
{
	struct reply reply;

	fetch("POST", "/echo", "x=1", &reply);
	assert_int_equal(reply.status, 405);
	assert_string_equal(buf_str(&reply.body), "method not allowed\n");
	assert_non_null(strstr(buf_str(&reply.headers), "\r\nAllow: GET\r\n"));
	reply_fini(&reply);
	fetch("GET", "/submit", NULL, &reply);
	assert_int_equal(reply.status, 405);
	assert_non_null(strstr(buf_str(&reply.headers), "\r\nAllow: POST\r\n"));
	reply_fini(&reply);
}

/* A body is read and dropped, large or not, and the server goes on. */
static void test_post_body(void **state)
{
	size_t size = 300 * 1000;
	char *big = malloc(size + 1);
	struct reply reply;

	memset(big, 'b', size);
	big[size] = '\0';
	fetch("POST", "/submit", big, &reply);
	assert_int_equal(reply.status, 200);
	assert_string_equal(buf_str(&reply.body), "submit POST /submit name=- auth=-");
	reply_fini(&reply);
	fetch("POST", "/echo", big, &reply);
	assert_int_equal(reply.status, 405);
	reply_fini(&reply);
	free(big);
	expect_get("/echo", 200, "exact GET /echo name=- auth=-");
}

static void test_prefix_routes(void **state)
{
	expect_get("/api/", 200, "api GET /api/ name=- auth=-");
	expect_get("/api/top?name=url", 200, "api GET /api/top name=url auth=-");
	expect_get("/api/v2/top", 200, "v2 GET /api/v2/top name=- auth=-");
	expect_get("/api/special", 200, "special GET /api/special name=- auth=-");
	expect_get("/api/specialist", 200, "api GET /api/specialist name=- auth=-");
}

static void test_head(void **state)
{
	struct reply reply;

	fetch("HEAD", "/echo", NULL, &reply);
	assert_int_equal(reply.status, 200);
	assert_string_equal(buf_str(&reply.body), "");
	reply_fini(&reply);
}

static void test_handler_status_and_errors(void **state)
{
	struct reply reply;

	expect_get("/fail", 500, "internal error\n");
	expect_get("/big", 500, "internal error\n");
	fetch("DELETE", "/teapot", NULL, &reply);
	assert_int_equal(reply.status, 418);
	assert_string_equal(buf_str(&reply.body), "");
	assert_string_equal(reply.content_type, "text/plain; charset=utf-8");
	reply_fini(&reply);
}

static void test_metrics(void **state)
{
	struct metrics *reg = metrics_new();
	struct metrics_counter *lines;
	struct reply reply;

	lines = metrics_counter(reg, "logtally_agent_lines_read_total", "Lines read.", NULL);
	metrics_counter_add(lines, 41);
	httpd_route_metrics(server, reg);
	fetch("GET", "/metrics", NULL, &reply);
	assert_int_equal(reply.status, 200);
	assert_string_equal(reply.content_type, "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(buf_str(&reply.body),
		"# HELP logtally_agent_lines_read_total Lines read.\n"
		"# TYPE logtally_agent_lines_read_total counter\n"
		"logtally_agent_lines_read_total 41\n");
	reply_fini(&reply);
	metrics_counter_add(lines, 1);
	fetch("GET", "/metrics", NULL, &reply);
	assert_non_null(strstr(buf_str(&reply.body), "logtally_agent_lines_read_total 42\n"));
	reply_fini(&reply);
	httpd_free(server);	/* stop serving reg before freeing it */
	server = NULL;
	metrics_free(reg);
}

static atomic_bool healthy = true;

static int check_health(void *ctx, char *reason, size_t reasonlen)
{
	if (healthy)
		return 0;
	snprintf(reason, reasonlen, "%s unreachable", (const char *)ctx);
	return -1;
}

static void test_health(void **state)
{
	httpd_route_health(server, check_health, "kafka");
	healthy = true;
	expect_get("/healthz", 200, "ok\n");
	healthy = false;
	expect_get("/healthz", 503, "kafka unreachable\n");
	healthy = true;
	expect_get("/healthz", 200, "ok\n");
}

static void expect_listen_error(const char *listen, const char *message)
{
	char err[256] = "";

	assert_null(httpd_new(listen, err, sizeof(err)));
	if (!strstr(err, message))
		fail_msg("listen \"%s\": expected \"%s\" in \"%s\"", listen, message, err);
}

/*
 * HTTPS that cannot be: a file that is not there, or text libmicrohttpd
 * refuses as a certificate, fails the start with the reason (https.sh
 * serves real HTTPS, checked with curl).
 */
static void test_tls_refused(void **state)
{
	char err[256] = "";

	assert_null(httpd_new_tls("127.0.0.1:0", "/nonexistent/cert.pem",
				  "/nonexistent/key.pem", err, sizeof(err)));
	assert_non_null(strstr(err, "cannot read '/nonexistent/cert.pem'"));
	assert_null(httpd_new_tls("127.0.0.1:0", "/etc/passwd", "/etc/passwd",
				  err, sizeof(err)));
	if (!strstr(err, "cannot start the HTTPS server") &&
	    !strstr(err, "no TLS"))
		fail_msg("not a PEM certificate: \"%s\"", err);
}

/* A token guards every path but /healthz, before routing. */
static void test_token(void **state)
{
	static const char *const wrong[] = {
		NULL, "Authorization: Bearer s3cret!", "Authorization: Bearer s3cre",
		"Authorization: Basic s3cret", "Authorization: s3cret",
		"Authorization: Bearer ",
	};
	struct reply reply;
	char url[256];

	httpd_route_health(server, check_health, "kafka");
	healthy = true;
	httpd_require_token(server, "s3cret");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", httpd_port(server));
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		fetch_url(url, "GET", NULL, wrong[i], &reply);
		assert_int_equal(reply.status, 401);
		assert_non_null(strstr(buf_str(&reply.headers), "WWW-Authenticate: Bearer"));
		assert_null(strstr(buf_str(&reply.body), "exact"));
		reply_fini(&reply);
	}
	/* an unknown path is no 404 to a stranger either */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/nowhere", httpd_port(server));
	fetch_url(url, "GET", NULL, NULL, &reply);
	assert_int_equal(reply.status, 401);
	reply_fini(&reply);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", httpd_port(server));
	fetch_url(url, "GET", NULL, "Authorization: Bearer s3cret", &reply);
	assert_int_equal(reply.status, 200);
	reply_fini(&reply);
	fetch_url(url, "GET", NULL, "authorization: bearer s3cret", &reply);
	assert_int_equal(reply.status, 200);
	reply_fini(&reply);
	expect_get("/healthz", 200, "ok\n");
	httpd_require_token(server, "");
	fetch("GET", "/echo", NULL, &reply);
	assert_int_equal(reply.status, 200);
	reply_fini(&reply);
}

static void test_bad_listen(void **state)
{
	char listen[64], expected[128];

	expect_listen_error("nonsense", "invalid listen address \"nonsense\": "
			    "expected host:port, [v6]:port or :port");
	expect_listen_error("127.0.0.1", "expected host:port");
	expect_listen_error("[::1]", "expected host:port");
	expect_listen_error("[::1:80", "expected host:port");
	expect_listen_error("[]:80", "expected host:port");
	expect_listen_error("::1:80", "write an IPv6 address in brackets");
	expect_listen_error("127.0.0.1:", "the port must be a number from 0 to 65535");
	expect_listen_error("127.0.0.1:65536", "the port must be a number from 0 to 65535");
	expect_listen_error("127.0.0.1:http", "the port must be a number from 0 to 65535");
	expect_listen_error("127.0.0.1:-1", "the port must be a number from 0 to 65535");
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", httpd_port(server));
	snprintf(expected, sizeof(expected), "cannot listen on \"%s\": Address already in use",
		 listen);
	expect_listen_error(listen, expected);
}

/* After httpd_free() the port is free again. */
static void test_free_releases_port(void **state)
{
	char listen[64], err[256];
	struct httpd *again;

	snprintf(listen, sizeof(listen), "127.0.0.1:%u", httpd_port(server));
	httpd_free(server);
	server = NULL;
	again = httpd_new(listen, err, sizeof(err));
	if (!again)
		fail_msg("%s", err);
	httpd_free(again);
	httpd_free(NULL);
}

static bool have_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void expect_reachable(struct httpd *httpd, const char *host)
{
	struct reply reply;
	char url[256];

	snprintf(url, sizeof(url), "http://%s:%u/x", host, httpd_port(httpd));
	fetch_url(url, "GET", NULL, NULL, &reply);
	assert_int_equal(reply.status, 404);
	reply_fini(&reply);
}

static void test_ipv6_and_every_address(void **state)
{
	struct httpd *httpd;
	char err[256];

	httpd = httpd_new(":0", err, sizeof(err));
	assert_non_null(httpd);
	expect_reachable(httpd, "127.0.0.1");
	if (have_ipv6())
		expect_reachable(httpd, "[::1]");
	httpd_free(httpd);
	if (!have_ipv6())
		skip();
	httpd = httpd_new("[::1]:0", err, sizeof(err));
	assert_non_null(httpd);
	expect_reachable(httpd, "[::1]");
	httpd_free(httpd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_port_chosen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_and_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handler_status_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_listen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_releases_port, setup, teardown),
		cmocka_unit_test(test_ipv6_and_every_address),
		cmocka_unit_test(test_tls_refused),
	};
	int rc;

	logging_init("test_httpd", LOGGING_ERROR);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests_name("httpd", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
