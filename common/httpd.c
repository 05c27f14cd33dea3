/*
 * httpd: binds the listening socket itself, so that a bad address or a port
 * in use is reported with its errno, then hands it to libmicrohttpd, whose
 * internal thread runs the handlers. Routes live in an array guarded by a
 * mutex that is held only to pick a route, never while a handler runs.
 * Every response is built in a bounded buf and handed to libmicrohttpd,
 * which frees it once sent.
 */
#include "httpd.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "logging.h"
#include "metrics.h"
#include "xalloc.h"

#define HTTPD_HOST_MAX 256
#define HTTPD_PORT_MAX 6		/* "65535" */
#define HTTPD_ALLOW_MAX 128		/* the Allow header of a 405 */
#define HTTPD_REASON_MAX 256		/* a /healthz failure */
#define HTTPD_BACKLOG 64
#define HTTPD_CONNECTIONS_MAX 64
#define HTTPD_TIMEOUT_SECONDS 10
#define HTTPD_PEM_MAX (64 * 1024)	/* a certificate chain or a key */
#define HTTPD_DEFAULT_TYPE "text/plain; charset=utf-8"
#define HTTPD_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct httpd_route {
	char *method;
	char *path;
	bool prefix;
	httpd_handler_fn handler;
	void *ctx;
};

struct httpd_health {
	int (*check)(void *ctx, char *reason, size_t reasonlen);
	void *ctx;
};

struct httpd {
	struct MHD_Daemon *daemon;
	unsigned int port;
	pthread_mutex_t lock;		/* guards routes and nroutes */
	struct httpd_route *routes;
	size_t nroutes;
	struct httpd_health *health;	/* ctx of the /healthz route */
	char *token;			/* Bearer token required; NULL: none */
	/* PEM text that libmicrohttpd borrows until stopped; NULL: plain HTTP */
	char *tls_cert;
	char *tls_key;
};

struct httpd_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
};

struct httpd_header {
	char *name;
	char *value;
};

struct httpd_response {
	unsigned int status;
	char *content_type;
	struct buf body;
	struct httpd_header headers[HTTPD_HEADERS_MAX];
	size_t nheaders;
};

static int httpd_bad_listen(const char *listen, const char *why, char *err,
			    size_t errlen)
{
	snprintf(err, errlen, "invalid listen address \"%s\": %s", listen, why);
	return -EINVAL;
}

/* Checks that port is a decimal number from 0 to 65535. */
static bool httpd_port_valid(const char *port)
{
	size_t len = strlen(port);

	if (len == 0 || len > 5 || strspn(port, "0123456789") != len)
		return false;
	return atol(port) <= 65535;
}

/*
 * Splits listen into host ("" for every address) and port. Returns 0, or
 * -EINVAL with the reason in err.
 */
static int httpd_parse_listen(const char *listen, char host[HTTPD_HOST_MAX],
			      char port[HTTPD_PORT_MAX], char *err, size_t errlen)
{
	const char *start = listen, *end, *colon;

	if (listen[0] == '[') {
		start = listen + 1;
		end = strchr(start, ']');
		colon = end ? end + 1 : NULL;
		if (!end || end == start || *colon != ':')
			colon = NULL;
	} else {
		end = colon = strrchr(listen, ':');
		if (colon && memchr(listen, ':', (size_t)(colon - listen)))
			return httpd_bad_listen(listen, "write an IPv6 address in "
						"brackets, as in [::1]:8080", err, errlen);
	}
	if (!colon)
		return httpd_bad_listen(listen, "expected host:port, [v6]:port "
					"or :port", err, errlen);
	if (!httpd_port_valid(colon + 1))
		return httpd_bad_listen(listen, "the port must be a number from "
					"0 to 65535", err, errlen);
	if ((size_t)(end - start) >= HTTPD_HOST_MAX)
		return httpd_bad_listen(listen, "the host name is too long", err, errlen);
	memcpy(host, start, (size_t)(end - start));
	host[end - start] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

/* A socket listening on one address, or -1 with errno set. */
static int httpd_socket(const struct addrinfo *ai, bool dual_stack)
{
	int fd, saved_errno, one = 1, zero = 0;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (dual_stack && ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
	    listen(fd, HTTPD_BACKLOG) == 0)
		return fd;
	saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return -1;
}

/*
 * The first address of res of the given family (AF_UNSPEC: any) that takes
 * a listening socket, or -1 with errno set.
 */
static int httpd_socket_of(const struct addrinfo *res, int family, bool dual_stack)
{
	int fd = -1;

	errno = EADDRNOTAVAIL;
	for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		if (family == AF_UNSPEC || ai->ai_family == family)
			fd = httpd_socket(ai, dual_stack);
	}
	return fd;
}

/*
 * A listening socket for host and port, or -1 with the reason in err.
 * Every address ("") means IPv6 with IPv4 mapped in when the kernel has
 * IPv6, IPv4 alone when not.
 */
static int httpd_listen(const char *listen, const char *host, const char *port,
			char *err, size_t errlen)
{
	struct addrinfo hints = {
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *res;
	int fd, rc;

	rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "cannot resolve \"%s\" in listen address "
			 "\"%s\": %s", host, listen, gai_strerror(rc));
		return -1;
	}
	if (*host) {
		fd = httpd_socket_of(res, AF_UNSPEC, false);
	} else {
		fd = httpd_socket_of(res, AF_INET6, true);
		if (fd < 0)
			fd = httpd_socket_of(res, AF_INET, false);
	}
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on \"%s\": %s", listen, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

static unsigned int httpd_bound_port(int fd)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);

	if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
		return 0;
	if (addr.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
	return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

/* libmicrohttpd's messages, which clients can provoke: rate limited. */
__attribute__((format(printf, 2, 0)))
static void httpd_log(void *cls, const char *fmt, va_list ap)
{
	static struct logging_limit limit;
	char msg[512];
	size_t len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	logging_limited(&limit, LOGGING_WARN, "http: %s", msg);
}

static void httpd_response_init(struct httpd_response *resp)
{
	resp->status = 200;
	resp->content_type = xstrdup(HTTPD_DEFAULT_TYPE);
	buf_init(&resp->body, HTTPD_BODY_MAX);
	resp->nheaders = 0;
}

static void httpd_response_fini(struct httpd_response *resp)
{
	free(resp->content_type);
	buf_fini(&resp->body);
	for (size_t i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	resp->nheaders = 0;
}

/* A plain text answer of the server's own: 404, 405, 500. */
static void httpd_reply(struct httpd_response *resp, unsigned int status,
			const char *text)
{
	httpd_response_fini(resp);
	httpd_response_init(resp);
	resp->status = status;
	buf_addstr(&resp->body, text);
}

/* How closely route matches path: 0 not at all, more is closer. */
static size_t httpd_route_score(const struct httpd_route *route, const char *path)
{
	if (!route->prefix)
		return strcmp(route->path, path) == 0 ? SIZE_MAX : 0;
	return strncmp(route->path, path, strlen(route->path)) == 0 ?
	       strlen(route->path) : 0;
}

static bool httpd_method_matches(const struct httpd_route *route, const char *method)
{
	return strcmp(route->method, method) == 0 ||
	       (strcmp(method, "HEAD") == 0 && strcmp(route->method, "GET") == 0);
}

/*
 * Picks the route for a request among those of the closest path. Returns
 * 200 with a copy in *found, 404, or 405 with that path's methods in allow.
 */
static unsigned int httpd_match(struct httpd *httpd, const char *method,
				const char *path, struct httpd_route *found,
				struct buf *allow)
{
	unsigned int status;
	size_t best = 0;

	pthread_mutex_lock(&httpd->lock);
	for (size_t i = 0; i < httpd->nroutes; i++) {
		size_t score = httpd_route_score(&httpd->routes[i], path);

		best = score > best ? score : best;
	}
	status = best ? 405 : 404;
	for (size_t i = 0; i < httpd->nroutes && status == 405; i++) {
		const struct httpd_route *route = &httpd->routes[i];

		if (httpd_route_score(route, path) != best)
			continue;
		if (httpd_method_matches(route, method)) {
			*found = *route;
			status = 200;
		} else {
			buf_printf(allow, "%s%s", buf_len(allow) ? ", " : "", route->method);
		}
	}
	pthread_mutex_unlock(&httpd->lock);
	return status;
}

static void httpd_call(const struct httpd_route *route,
		       const struct httpd_request *req, struct httpd_response *resp)
{
	static struct logging_limit limit;
	int rc;

	rc = route->handler(req, resp, route->ctx);
	if (rc < 0) {
		logging_limited(&limit, LOGGING_WARN, "http: %s %s failed: %s",
				req->method, req->path, strerror(-rc));
		httpd_reply(resp, 500, "internal error\n");
	}
}

/* Hands the response to libmicrohttpd, which frees the body once sent. */
static enum MHD_Result httpd_queue(struct MHD_Connection *conn,
				   struct httpd_response *resp)
{
	struct MHD_Response *response;
	enum MHD_Result ret;
	size_t len;
	char *body;

	body = buf_take(&resp->body, &len);
	response = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!response) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
				resp->content_type);
	for (size_t i = 0; i < resp->nheaders; i++)
		MHD_add_response_header(response, resp->headers[i].name,
					resp->headers[i].value);
	ret = MHD_queue_response(conn, resp->status, response);
	MHD_destroy_response(response);
	return ret;
}

/* a and b equal, in a time that does not depend on where they differ. */
static bool httpd_same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;

	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i % (lb ? lb : 1)];
	return !diff;
}

/* Whether the request may go on: no token set, /healthz, or the right one. */
static bool httpd_authorized(struct httpd *httpd, const struct httpd_request *req)
{
	static const char bearer[] = "Bearer ";
	const char *auth;
	bool ok;

	pthread_mutex_lock(&httpd->lock);
	ok = !httpd->token || !strcmp(req->path, "/healthz");
	if (!ok) {
		auth = httpd_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
		ok = auth && !strncasecmp(auth, bearer, sizeof(bearer) - 1) &&
		     httpd_same_secret(auth + sizeof(bearer) - 1, httpd->token);
	}
	pthread_mutex_unlock(&httpd->lock);
	return ok;
}

static enum MHD_Result httpd_answer(struct httpd *httpd, struct MHD_Connection *conn,
				    const char *method, const char *path)
{
	struct httpd_request req = { conn, method, path };
	struct httpd_response resp;
	struct httpd_route route;
	enum MHD_Result ret;
	struct buf allow;

	httpd_response_init(&resp);
	buf_init(&allow, HTTPD_ALLOW_MAX);
	if (!httpd_authorized(httpd, &req)) {
		httpd_reply(&resp, 401, "unauthorized: send Authorization: Bearer <http.token>\n");
		httpd_set_header(&resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				 "Bearer realm=\"logtally\"");
		goto queue;
	}
	switch (httpd_match(httpd, method, path, &route, &allow)) {
	case 200:
		httpd_call(&route, &req, &resp);
		break;
	case 405:
		httpd_reply(&resp, 405, "method not allowed\n");
		httpd_set_header(&resp, MHD_HTTP_HEADER_ALLOW, buf_str(&allow));
		break;
	default:
		httpd_reply(&resp, 404, "not found\n");
	}
queue:
	logging_debug("http: %s %s: %u", method, path, resp.status);
	ret = httpd_queue(conn, &resp);
	httpd_response_fini(&resp);
	buf_fini(&allow);
	return ret;
}

/*
 * libmicrohttpd calls this first when the headers are in, then once per
 * piece of body, then once more with no body left: only that last call
 * answers, so a request body is read (and dropped) before the response.
 */
static enum MHD_Result httpd_access(void *cls, struct MHD_Connection *conn,
				    const char *url, const char *method,
				    const char *version, const char *upload_data,
				    size_t *upload_data_size, void **con_cls)
{
	static int started;

	if (!*con_cls) {
		*con_cls = &started;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	return httpd_answer(cls, conn, method, url);
}

/* The PEM file at path into *out (caller frees). Returns 0, or -1 with err. */
static int httpd_read_pem(const char *path, char **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *text;
	size_t n;

	*out = NULL;
	if (!f) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		return -1;
	}
	text = xmalloc(HTTPD_PEM_MAX + 1);
	n = fread(text, 1, HTTPD_PEM_MAX + 1, f);
	fclose(f);
	if (n == 0 || n > HTTPD_PEM_MAX) {
		snprintf(err, errlen, "'%s' is %s", path, n ? "over 64 KiB" : "empty");
		free(text);
		return -1;
	}
	text[n] = '\0';
	*out = text;
	return 0;
}

static struct MHD_Daemon *httpd_start(struct httpd *httpd, int fd)
{
	struct MHD_OptionItem tls[] = {     /* from its end: none, for HTTP */
		{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)httpd->tls_cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)httpd->tls_key},
		{MHD_OPTION_END, 0, NULL},
	};
	unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

	if (httpd->tls_cert)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(flags, 0, NULL, NULL, httpd_access, httpd,
				MHD_OPTION_EXTERNAL_LOGGER, httpd_log, NULL,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT,
				(unsigned int)HTTPD_CONNECTIONS_MAX,
				MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned int)HTTPD_TIMEOUT_SECONDS,
				MHD_OPTION_ARRAY, httpd->tls_cert ? tls : tls + 2,
				MHD_OPTION_END);
}

struct httpd *httpd_new(const char *listen, char *err, size_t errlen)
{
	return httpd_new_tls(listen, NULL, NULL, err, errlen);
}

/* The certificate and key files into httpd, when HTTPS is asked for. */
static int httpd_tls_load(struct httpd *httpd, const char *cert_file,
			  const char *key_file, char *err, size_t errlen)
{
	if (!cert_file || !*cert_file)
		return 0;
	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		snprintf(err, errlen, "this libmicrohttpd has no TLS: HTTPS is not available");
		return -1;
	}
	if (httpd_read_pem(cert_file, &httpd->tls_cert, err, errlen) ||
	    httpd_read_pem(key_file, &httpd->tls_key, err, errlen))
		return -1;
	return 0;
}

struct httpd *httpd_new_tls(const char *listen, const char *cert_file,
			    const char *key_file, char *err, size_t errlen)
{
	char host[HTTPD_HOST_MAX], port[HTTPD_PORT_MAX];
	struct httpd *httpd;
	int fd;

	if (httpd_parse_listen(listen, host, port, err, errlen))
		return NULL;
	httpd = xcalloc(1, sizeof(*httpd));
	pthread_mutex_init(&httpd->lock, NULL);
	if (httpd_tls_load(httpd, cert_file, key_file, err, errlen)) {
		httpd_free(httpd);
		return NULL;
	}
	fd = httpd_listen(listen, host, port, err, errlen);
	if (fd < 0) {
		httpd_free(httpd);
		return NULL;
	}
	httpd->port = httpd_bound_port(fd);
	httpd->daemon = httpd_start(httpd, fd);
	if (!httpd->daemon) {
		/* libmicrohttpd closes the socket only once it has started */
		snprintf(err, errlen, httpd->tls_cert ?
			 "cannot start the HTTPS server on \"%s\" (are http.tls.cert "
			 "and http.tls.key a PEM certificate and its key?)" :
			 "cannot start the HTTP server on \"%s\"", listen);
		close(fd);
		httpd_free(httpd);
		return NULL;
	}
	return httpd;
}

void httpd_free(struct httpd *httpd)
{
	if (!httpd)
		return;
	if (httpd->daemon)
		MHD_stop_daemon(httpd->daemon);
	for (size_t i = 0; i < httpd->nroutes; i++) {
		free(httpd->routes[i].method);
		free(httpd->routes[i].path);
	}
	free(httpd->routes);
	free(httpd->health);
	free(httpd->token);
	free(httpd->tls_cert);
	free(httpd->tls_key);
	pthread_mutex_destroy(&httpd->lock);
	free(httpd);
}

void httpd_require_token(struct httpd *httpd, const char *token)
{
	pthread_mutex_lock(&httpd->lock);
	free(httpd->token);
	httpd->token = token && *token ? xstrdup(token) : NULL;
	pthread_mutex_unlock(&httpd->lock);
}

unsigned int httpd_port(const struct httpd *httpd)
{
	return httpd->port;
}

static void httpd_add(struct httpd *httpd, const char *method, const char *path,
		      bool prefix, httpd_handler_fn handler, void *ctx)
{
	struct httpd_route *route;

	pthread_mutex_lock(&httpd->lock);
	for (size_t i = 0; i < httpd->nroutes; i++) {
		route = &httpd->routes[i];
		if (route->prefix == prefix && strcmp(route->method, method) == 0 &&
		    strcmp(route->path, path) == 0) {
			logging_error("httpd: route %s %s added twice", method, path);
			abort();
		}
	}
	httpd->routes = xreallocarray(httpd->routes, httpd->nroutes + 1,
				      sizeof(*httpd->routes));
	route = &httpd->routes[httpd->nroutes++];
	route->method = xstrdup(method);
	route->path = xstrdup(path);
	route->prefix = prefix;
	route->handler = handler;
	route->ctx = ctx;
	pthread_mutex_unlock(&httpd->lock);
}

void httpd_route(struct httpd *httpd, const char *method, const char *path,
		 httpd_handler_fn handler, void *ctx)
{
	httpd_add(httpd, method, path, false, handler, ctx);
}

void httpd_route_prefix(struct httpd *httpd, const char *method,
			const char *prefix, httpd_handler_fn handler, void *ctx)
{
	httpd_add(httpd, method, prefix, true, handler, ctx);
}

static int httpd_metrics(const struct httpd_request *req,
			 struct httpd_response *resp, void *ctx)
{
	httpd_set_content_type(resp, HTTPD_METRICS_TYPE);
	return metrics_render(ctx, httpd_body(resp));
}

void httpd_route_metrics(struct httpd *httpd, struct metrics *reg)
{
	httpd_route(httpd, "GET", "/metrics", httpd_metrics, reg);
}

static int httpd_healthz(const struct httpd_request *req,
			 struct httpd_response *resp, void *ctx)
{
	const struct httpd_health *health = ctx;
	char reason[HTTPD_REASON_MAX] = "";

	if (health->check(health->ctx, reason, sizeof(reason)) == 0)
		return buf_addstr(httpd_body(resp), "ok\n");
	reason[sizeof(reason) - 1] = '\0';
	httpd_set_status(resp, 503);
	return buf_printf(httpd_body(resp), "%s\n", reason[0] ? reason : "unhealthy");
}

void httpd_route_health(struct httpd *httpd,
			int (*check)(void *ctx, char *reason, size_t reasonlen),
			void *ctx)
{
	struct httpd_health *health = xmalloc(sizeof(*health));

	health->check = check;
	health->ctx = ctx;
	httpd_route(httpd, "GET", "/healthz", httpd_healthz, health);
	httpd->health = health;
}

const char *httpd_method(const struct httpd_request *req)
{
	return req->method;
}

const char *httpd_path(const struct httpd_request *req)
{
	return req->path;
}

const char *httpd_query(const struct httpd_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *httpd_header(const struct httpd_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

void httpd_set_status(struct httpd_response *resp, unsigned int status)
{
	resp->status = status;
}

void httpd_set_content_type(struct httpd_response *resp, const char *type)
{
	free(resp->content_type);
	resp->content_type = xstrdup(type);
}

int httpd_set_header(struct httpd_response *resp, const char *name, const char *value)
{
	struct httpd_header *header;

	if (strpbrk(name, "\r\n") || strpbrk(value, "\r\n"))
		return -EINVAL;
	if (resp->nheaders == HTTPD_HEADERS_MAX)
		return -ENOSPC;
	header = &resp->headers[resp->nheaders++];
	header->name = xstrdup(name);
	header->value = xstrdup(value);
	return 0;
}

struct buf *httpd_body(struct httpd_response *resp)
{
	return &resp->body;
}
