/*
 * httpd: a small HTTP endpoint on libmicrohttpd, for /metrics, /healthz and
 * the aggregator's dashboard and API.
 *
 * The server answers on a thread of its own, started by httpd_new(); every
 * handler runs on that thread, one request at a time, so a handler must only
 * read state that is safe to read from another thread (metrics, atomics, or
 * data behind the caller's own lock) and must not block for long. Routes
 * match the path exactly, or by prefix (for /api/...); an unknown path gets
 * 404, a known path with another method 405. Request bodies are read and
 * ignored. Every response body has a maximum, HTTPD_BODY_MAX.
 */
#ifndef LOGTALLY_HTTPD_H
#define LOGTALLY_HTTPD_H

#include <stddef.h>

#include "buf.h"

/* Largest response body a handler can build. */
#define HTTPD_BODY_MAX (16 * 1024 * 1024)
/* Extra response headers a handler may set. */
#define HTTPD_HEADERS_MAX 8

struct httpd;
struct httpd_request;
struct httpd_response;
struct metrics;

/*
 * Starts a server listening on listen: "host:port", "[v6]:port" or ":port"
 * (every IPv6 and IPv4 address); host may be a name. Port 0 picks a free
 * port (see httpd_port()). Returns the server, or NULL with the reason in
 * err (e.g. 'cannot listen on "127.0.0.1:80": Permission denied'). It
 * answers 404 to everything until routes are added. Caller owns the result;
 * free with httpd_free().
 */
struct httpd *httpd_new(const char *listen, char *err, size_t errlen);

/*
 * Like httpd_new(), serving HTTPS with the PEM certificate (chain) in
 * cert_file and its private key in key_file, read now; cert_file NULL or
 * "" serves plain HTTP. Fails with the reason in err when a file cannot be
 * read, or libmicrohttpd has no TLS or refuses them.
 */
struct httpd *httpd_new_tls(const char *listen, const char *cert_file,
			    const char *key_file, char *err, size_t errlen);

/*
 * Stops the server: waits for the handler running now, if any, to return,
 * then closes every connection and the listening socket. NULL is a no-op.
 */
void httpd_free(struct httpd *httpd);

/*
 * Requires "Authorization: Bearer <token>" on every request but /healthz
 * from now on; others get 401 with a WWW-Authenticate header, before any
 * route is looked at. An empty or NULL token removes the requirement.
 * token is copied; compared in a time that does not depend on where a
 * wrong one differs.
 */
void httpd_require_token(struct httpd *httpd, const char *token);

/* The TCP port the server listens on. */
unsigned int httpd_port(const struct httpd *httpd);

/*
 * A handler reads the request and fills the response: by default status
 * 200, type "text/plain; charset=utf-8", empty body. It returns 0 to send
 * that response, or a negative errno (such as the -ENOSPC of a body past
 * HTTPD_BODY_MAX) to have the server send 500 instead. Runs on the HTTP
 * thread; ctx is the pointer given at registration.
 */
typedef int (*httpd_handler_fn)(const struct httpd_request *req,
				struct httpd_response *resp, void *ctx);

/*
 * Routes requests for exactly path (e.g. "/metrics") with method (e.g.
 * "GET"; a GET route also answers HEAD) to handler. method and path are
 * copied; ctx is borrowed and must stay valid until httpd_free(). Routes
 * may be added while the server runs (under a lock). Adding the same
 * method and path twice is a programming error and aborts.
 */
void httpd_route(struct httpd *httpd, const char *method, const char *path,
		 httpd_handler_fn handler, void *ctx);

/*
 * Like httpd_route(), for every path that starts with prefix (e.g.
 * "/api/"). An exact route wins over a prefix route, a longer prefix over
 * a shorter one.
 */
void httpd_route_prefix(struct httpd *httpd, const char *method,
			const char *prefix, httpd_handler_fn handler, void *ctx);

/*
 * Serves reg at GET /metrics as Prometheus text, type "text/plain;
 * version=0.0.4; charset=utf-8". reg is borrowed; it must outlive httpd.
 */
void httpd_route_metrics(struct httpd *httpd, struct metrics *reg);

/*
 * Serves GET /healthz: calls check on the HTTP thread; when it returns 0
 * the answer is 200 "ok", otherwise 503 with the reason check wrote into
 * reason (at most reasonlen bytes, NUL included). ctx is borrowed.
 */
void httpd_route_health(struct httpd *httpd,
			int (*check)(void *ctx, char *reason, size_t reasonlen),
			void *ctx);

/*
 * The request, valid during the handler's call. Strings are borrowed from
 * the server and die with the request. httpd_query() gives the decoded
 * value of a query argument, httpd_header() a request header (any case);
 * both return NULL when it is absent (or, for a query argument, has no "=").
 */
const char *httpd_method(const struct httpd_request *req);
const char *httpd_path(const struct httpd_request *req);
const char *httpd_query(const struct httpd_request *req, const char *name);
const char *httpd_header(const struct httpd_request *req, const char *name);

/* Sets the status code (100..599) of the response. */
void httpd_set_status(struct httpd_response *resp, unsigned int status);

/* Sets the Content-Type; type is copied. */
void httpd_set_content_type(struct httpd_response *resp, const char *type);

/*
 * Adds a response header; name and value are copied. Returns 0, -EINVAL
 * when either holds a CR or LF, or -ENOSPC past HTTPD_HEADERS_MAX.
 */
int httpd_set_header(struct httpd_response *resp, const char *name, const char *value);

/* The response body to append to (max HTTPD_BODY_MAX). Borrowed. */
struct buf *httpd_body(struct httpd_response *resp);

#endif
