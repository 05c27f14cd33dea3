/*
 * api: /api/top, /api/series, /api/latency and /api/trending (see api.h);
 * the SQL of the first three is in api_read.c. Each handler
 * checks its parameters first (a 400 names the one at fault), then reads
 * with prepared statements on the store's reader connection and builds
 * the answer with jansson. The handlers run on the HTTP thread one at a
 * time; the lock only makes that assumption safe.
 */
#include "api_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <mysql.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logging.h"
#include "message.h"
#include "runtime.h"
#include "schema.h"
#include "store.h"
#include "units.h"
#include "xalloc.h"

#define API_JSON "application/json; charset=utf-8"
#define API_TOP_LIMIT 10
#define API_TOP_LIMIT_MAX 1000
#define API_SERIES_LIMIT 5
#define API_SERIES_LIMIT_MAX 50
#define API_SERIES_POINTS 120           /* the default step aims at this many */
#define API_TRENDING_LIMIT 10
#define API_TRENDING_LIMIT_MAX 100
#define API_TRENDING_WINDOW_S 300
#define API_TRENDING_WINDOW_MAX_S (6 * 3600)

struct api {
	struct store *store;
	const char *const *names;
	size_t ndims;
	const int64_t *sizes;
	size_t nsizes;
	pthread_mutex_t lock;
};

/* --- parameters -------------------------------------------------------- */

int64_t api_parse_time(const char *s)
{
	int64_t t = 0, ms;
	size_t i = 0;

	if (!s || !*s)
		return -1;
	for (; s[i] >= '0' && s[i] <= '9' && i < 12; i++)
		t = t * 10 + (s[i] - '0');
	if (!s[i])
		return t;
	ms = message_parse_time(s, strlen(s));
	return ms < 0 ? -1 : ms / 1000;
}

static int64_t api_floor(int64_t t, int64_t size)
{
	return t / size * size;         /* times here are >= 0 */
}

static int64_t api_ceil(int64_t t, int64_t size)
{
	return (t + size - 1) / size * size;
}

int64_t api_choose_size(const int64_t *sizes, size_t nsizes, int64_t step,
			int64_t *from, int64_t *to)
{
	int64_t base = sizes[0], best = 0;

	*from = api_floor(*from, base);
	*to = api_ceil(*to, base);
	if (*to <= *from)
		*to = *from + base;
	/* the coarsest size that covers the range exactly */
	for (size_t i = 0; i < nsizes; i++)
		if (*from % sizes[i] == 0 && *to % sizes[i] == 0 &&
		    (!step || step % sizes[i] == 0) && sizes[i] > best)
			best = sizes[i];
	if (!best)
		return 0;
	if ((*to - *from) / best <= API_MAX_WINDOWS)
		return best;
	/* too many windows: the finest size that reads few enough, widened */
	best = 0;
	for (size_t i = 0; i < nsizes; i++)
		if ((!step || step % sizes[i] == 0) &&
		    (api_ceil(*to, sizes[i]) - api_floor(*from, sizes[i])) / sizes[i] <=
		    API_MAX_WINDOWS && (!best || sizes[i] < best))
			best = sizes[i];
	if (!best) {                    /* even the coarsest: take it */
		for (size_t i = 0; i < nsizes; i++)
			if ((!step || step % sizes[i] == 0) && sizes[i] > best)
				best = sizes[i];
	}
	*from = api_floor(*from, best);
	*to = api_ceil(*to, best);
	return best;
}

double api_trending_score(uint64_t n, uint64_t b, int64_t window_s)
{
	double e = (double)b * (double)window_s / API_BASELINE_S;

	return ((double)n - e) / sqrt(e + 1);
}

/* --- answers ----------------------------------------------------------- */

/* Sends obj (consumed) as the answer, with status. */
static int api_send(struct httpd_response *resp, unsigned int status, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
	int rc;

	json_decref(obj);
	if (!text)
		return -ENOMEM;
	httpd_set_status(resp, status);
	httpd_set_content_type(resp, API_JSON);
	httpd_set_header(resp, "Cache-Control", "no-store");
	rc = buf_add(httpd_body(resp), text, strlen(text));
	free(text);
	return rc;
}

static int api_error(struct httpd_response *resp, unsigned int status,
		     const char *parameter, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int api_error(struct httpd_response *resp, unsigned int status,
		     const char *parameter, const char *fmt, ...)
{
	json_t *obj = json_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_set_new(obj, "error", api_string(msg, strlen(msg)));
	if (parameter)
		json_object_set_new(obj, "parameter", json_string(parameter));
	return api_send(resp, status, obj);
}

/* --- parameters of a request -------------------------------------------- */

static bool api_dimension(const struct api *api, const struct httpd_request *req,
			  const char *def, struct api_ask *ask,
			  struct httpd_response *resp)
{
	const char *name = httpd_query(req, "dimension");

	if (!name)
		name = def;
	if (!name) {
		api_error(resp, 400, "dimension", "dimension is required");
		return false;
	}
	for (size_t i = 0; i < api->ndims; i++)
		if (!strcmp(api->names[i], name)) {
			ask->dimension = api->names[i];
			return true;
		}
	api_error(resp, 400, "dimension", "unknown dimension '%.64s'", name);
	return false;
}

static bool api_limit(const struct httpd_request *req, long def, long max,
		      struct api_ask *ask, struct httpd_response *resp)
{
	const char *s = httpd_query(req, "limit");
	char *end;
	long v;

	ask->limit = def;
	if (!s)
		return true;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max) {
		api_error(resp, 400, "limit", "limit must be an integer from 1 to %ld", max);
		return false;
	}
	ask->limit = v;
	return true;
}

/* by or measure: one of api_measure_names, hits when absent. */
static bool api_measure(const struct httpd_request *req, const char *name,
			struct api_ask *ask, struct httpd_response *resp)
{
	int m = api_parse_measure(httpd_query(req, name));

	if (m < 0) {
		api_error(resp, 400, name, "%s must be one of hits, bytes, duration_avg, "
			  "duration_max, p50, p95 or p99", name);
		return false;
	}
	ask->by = (enum api_measure)m;
	return true;
}

/* value: one value of the dimension, required or not. */
static bool api_value(const struct httpd_request *req, bool required,
		      struct api_ask *ask, struct httpd_response *resp)
{
	const char *s = httpd_query(req, "value");

	if ((!s && required) || (s && !*s) || (s && strlen(s) > SCHEMA_VALUE_BYTES)) {
		api_error(resp, 400, "value", "value must be a value of the dimension "
			  "(1 to %d bytes)", SCHEMA_VALUE_BYTES);
		return false;
	}
	ask->value = s;
	return true;
}

/* from and to: given, or the last API_DEFAULT_RANGE_S. */
static bool api_range(const struct httpd_request *req, struct api_ask *ask,
		      struct httpd_response *resp)
{
	static const char *const names[] = {"from", "to"};
	int64_t *t[] = {&ask->from, &ask->to};
	int64_t now = runtime_wall_ms() / 1000;

	ask->to = now;
	ask->from = now - API_DEFAULT_RANGE_S;
	for (int i = 0; i < 2; i++) {
		const char *s = httpd_query(req, names[i]);

		if (!s)
			continue;
		*t[i] = api_parse_time(s);
		if (*t[i] < 0) {
			api_error(resp, 400, names[i], "%s must be epoch seconds or "
				  "an RFC 3339 time such as 2026-11-25T04:00:00Z", names[i]);
			return false;
		}
	}
	if (!httpd_query(req, "from") && httpd_query(req, "to"))
		ask->from = ask->to - API_DEFAULT_RANGE_S;
	if (ask->from < 0)
		ask->from = 0;
	if (ask->from >= ask->to) {
		api_error(resp, 400, "from", "from must be before to");
		return false;
	}
	if (ask->to - ask->from > API_MAX_RANGE_S) {
		api_error(resp, 400, "from", "the range may span at most %" PRId64
			  " days", API_MAX_RANGE_S / 86400);
		return false;
	}
	return true;
}

/* A duration parameter in whole seconds, a multiple of the base window. */
static bool api_seconds(const struct api *api, const struct httpd_request *req,
			const char *name, int64_t def, int64_t max, int64_t *out,
			struct httpd_response *resp)
{
	const char *s = httpd_query(req, name);
	int64_t ms, base = api->sizes[0];
	char *end;

	*out = def;
	if (!s)
		return true;
	ms = strtoll(s, &end, 10) * 1000;
	if (end == s || *end) {
		char why[128];

		if (units_parse_duration(s, &ms, why, sizeof(why)))
			ms = -1;
	}
	if (ms <= 0 || ms % (base * 1000) || ms / 1000 > max) {
		api_error(resp, 400, name, "%s must be a duration of whole %" PRId64
			  "-second windows (such as 5m or 300), at most %" PRId64 " s",
			  name, base, max);
		return false;
	}
	*out = ms / 1000;
	return true;
}

/* --- reading --------------------------------------------------------- */

/* Hits now and in the baseline hour, per value, for trending. */
struct api_trend {
	char *value;
	size_t len;
	uint64_t n, b;
	double score;
};

struct api_trends {
	struct api_trend *items;
	size_t count, cap;
	int64_t window;
};

static void api_trend_row(void *ctx, const struct api_col *cols)
{
	struct api_trends *t = ctx;
	struct api_trend *one;
	uint64_t n = cols[1].null ? 0 : (uint64_t)cols[1].i;
	uint64_t b = cols[2].null ? 0 : (uint64_t)cols[2].i;
	double score = api_trending_score(n, b, t->window);

	if (score <= 0)
		return;
	if (t->count == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->items = xreallocarray(t->items, t->cap, sizeof(*t->items));
	}
	one = &t->items[t->count++];
	one->len = cols[0].len;
	one->value = xmalloc(one->len + 1);
	memcpy(one->value, cols[0].s, one->len + 1);
	one->n = n;
	one->b = b;
	one->score = score;
}

static int api_trend_cmp(const void *pa, const void *pb)
{
	const struct api_trend *a = pa, *b = pb;
	int rc;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	rc = memcmp(a->value, b->value, a->len < b->len ? a->len : b->len);
	return rc ? rc : (a->len > b->len) - (a->len < b->len);
}

static int api_read_trends(MYSQL *db, const struct api_ask *ask, int64_t base,
			   struct api_trends *t, char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT value, CAST(SUM(IF(window_start >= FROM_UNIXTIME(?), hits, 0)) AS SIGNED), "
		"CAST(SUM(IF(window_start < FROM_UNIXTIME(?), hits, 0)) AS SIGNED) "
		"FROM counts WHERE window_seconds = ? AND dimension = ? "
		"AND window_start >= FROM_UNIXTIME(?) AND window_start < FROM_UNIXTIME(?) "
		"GROUP BY value";
	struct api_param params[] = {
		api_int(ask->from), api_int(ask->from), api_int(base),
		api_str(ask->dimension, strlen(ask->dimension)),
		api_int(ask->from - API_BASELINE_S), api_int(ask->to),
	};
	struct api_col cols[3] = {{.type = API_STR}, {.type = API_INT}, {.type = API_INT}};

	return api_query(db, sql, params, 6, cols, 3, api_trend_row, t, err, errlen);
}

/* --- handlers ------------------------------------------------------------ */

/* Runs read on the reader connection; a 503 was sent when it returns false. */
static bool api_read(struct api *api, struct httpd_response *resp,
		     int (*read)(MYSQL *db, void *arg, char *err, size_t errlen),
		     void *arg)
{
	static struct logging_limit limit;
	char err[512] = "";
	MYSQL *db;
	int rc = -1;

	pthread_mutex_lock(&api->lock);
	db = store_reader(api->store, err, sizeof(err));
	if (db)
		rc = read(db, arg, err, sizeof(err));
	if (db)
		store_reader_done(api->store, rc != 0);
	pthread_mutex_unlock(&api->lock);
	if (!rc)
		return true;
	logging_limited(&limit, LOGGING_WARN, "api: MariaDB: %s", err);
	api_error(resp, 503, NULL, "MariaDB unavailable: %s", err);
	return false;
}

static json_t *api_head(const struct api_ask *ask)
{
	json_t *obj = json_object();

	json_object_set_new(obj, "dimension", json_string(ask->dimension));
	json_object_set_new(obj, "from", json_integer(ask->from));
	json_object_set_new(obj, "to", json_integer(ask->to));
	return obj;
}

struct api_top_call {
	const struct api_ask *ask;
	json_t *items;
};

static int api_top_read(MYSQL *db, void *arg, char *err, size_t errlen)
{
	struct api_top_call *call = arg;

	return api_read_top(db, call->ask, call->items, err, errlen);
}

static int api_top(const struct httpd_request *req, struct httpd_response *resp,
		   void *ctx)
{
	struct api *api = ctx;
	struct api_ask ask = {0};
	struct api_top_call call = {&ask, NULL};
	json_t *obj;

	if (!api_dimension(api, req, NULL, &ask, resp) || !api_range(req, &ask, resp) ||
	    !api_limit(req, API_TOP_LIMIT, API_TOP_LIMIT_MAX, &ask, resp) ||
	    !api_measure(req, "by", &ask, resp))
		return 0;
	ask.size = api_choose_size(api->sizes, api->nsizes, 0, &ask.from, &ask.to);
	call.items = json_array();
	if (!api_read(api, resp, api_top_read, &call)) {
		json_decref(call.items);
		return 0;
	}
	obj = api_head(&ask);
	json_object_set_new(obj, "window_seconds", json_integer(ask.size));
	json_object_set_new(obj, "by", json_string(api_measure_name(ask.by)));
	if (api_measure_quantile(ask.by) > 0) {
		json_object_set_new(obj, "candidates", json_integer(
			ask.limit > API_PCT_CANDIDATES ? ask.limit : API_PCT_CANDIDATES));
		json_object_set_new(obj, "error", json_string(API_ERROR_BOUND));
	}
	json_object_set_new(obj, "items", call.items);
	return api_send(resp, 200, obj);
}

/* A series' points before the rows arrive: 0 for sums, null otherwise. */
struct api_series_call {
	struct api_ask *ask;
	json_t *series;
	size_t npoints;
};

/* The series of each top value (or of the one asked for), points empty. */
static void api_series_start(struct api_series_call *call, json_t *top)
{
	const struct api_ask *ask = call->ask;
	bool sum = ask->by == API_BY_HITS || ask->by == API_BY_BYTES;

	if (ask->value && !json_array_size(top))        /* no rows: zeros */
		json_array_append_new(top, json_pack("{s:o,s:i}", "value",
			api_string(ask->value, strlen(ask->value)), "hits", 0));
	for (size_t i = 0; i < json_array_size(top); i++) {
		json_t *one = json_array_get(top, i), *points = json_array();

		for (size_t p = 0; p < call->npoints; p++)
			json_array_append_new(points, json_pack("[I,o]",
				(json_int_t)(ask->from + (int64_t)p * ask->step),
				sum ? json_integer(0) : json_null()));
		json_object_set(one, "total", json_object_get(one, "hits"));
		json_object_del(one, "hits");
		json_object_set_new(one, "points", points);
		json_array_append(call->series, one);
	}
}

static int api_series_read(MYSQL *db, void *arg, char *err, size_t errlen)
{
	struct api_series_call *call = arg;
	json_t *top = json_array();
	int rc = api_read_top(db, call->ask, top, err, errlen);

	if (!rc)
		api_series_start(call, top);
	json_decref(top);
	if (!rc)
		rc = api_read_series(db, call->ask, call->series, err, errlen);
	return rc;
}

static int api_series(const struct httpd_request *req, struct httpd_response *resp,
		      void *ctx)
{
	struct api *api = ctx;
	struct api_ask ask = {0};
	struct api_series_call call = {&ask, NULL, 0};
	int64_t span;
	json_t *obj;

	if (!api_dimension(api, req, NULL, &ask, resp) || !api_range(req, &ask, resp) ||
	    !api_limit(req, API_SERIES_LIMIT, API_SERIES_LIMIT_MAX, &ask, resp) ||
	    !api_seconds(api, req, "step", 0, API_MAX_RANGE_S, &ask.step, resp) ||
	    !api_measure(req, "measure", &ask, resp) ||
	    !api_value(req, false, &ask, resp))
		return 0;
	ask.size = api_choose_size(api->sizes, api->nsizes, ask.step, &ask.from, &ask.to);
	span = ask.to - ask.from;
	if (!ask.step) {                /* about API_SERIES_POINTS points */
		ask.step = api_ceil(span / API_SERIES_POINTS + 1, ask.size);
	}
	ask.to = ask.from + api_ceil(span, ask.step);
	if ((ask.to - ask.from) / ask.step > API_MAX_POINTS)
		return api_error(resp, 400, "step", "step is too small: more than %d "
				 "points", API_MAX_POINTS);
	call.series = json_array();
	call.npoints = (size_t)((ask.to - ask.from) / ask.step);
	if (!api_read(api, resp, api_series_read, &call)) {
		json_decref(call.series);
		return 0;
	}
	obj = api_head(&ask);
	json_object_set_new(obj, "window_seconds", json_integer(ask.size));
	json_object_set_new(obj, "step", json_integer(ask.step));
	json_object_set_new(obj, "measure", json_string(api_measure_name(ask.by)));
	if (api_measure_quantile(ask.by) > 0)
		json_object_set_new(obj, "error", json_string(API_ERROR_BOUND));
	json_object_set_new(obj, "series", call.series);
	return api_send(resp, 200, obj);
}

struct api_latency_call {
	const struct api_ask *ask;
	json_t *obj;
};

static int api_latency_read(MYSQL *db, void *arg, char *err, size_t errlen)
{
	struct api_latency_call *call = arg;

	return api_read_latency(db, call->ask, call->obj, err, errlen);
}

static int api_latency(const struct httpd_request *req,
		       struct httpd_response *resp, void *ctx)
{
	struct api *api = ctx;
	struct api_ask ask = {0};
	struct api_latency_call call = {&ask, NULL};

	if (!api_dimension(api, req, NULL, &ask, resp) || !api_range(req, &ask, resp) ||
	    !api_value(req, true, &ask, resp))
		return 0;
	ask.size = api_choose_size(api->sizes, api->nsizes, 0, &ask.from, &ask.to);
	call.obj = api_head(&ask);
	json_object_set_new(call.obj, "value", api_string(ask.value, strlen(ask.value)));
	json_object_set_new(call.obj, "window_seconds", json_integer(ask.size));
	if (!api_read(api, resp, api_latency_read, &call)) {
		json_decref(call.obj);
		return 0;
	}
	json_object_set_new(call.obj, "error", json_string(API_ERROR_BOUND));
	return api_send(resp, 200, call.obj);
}

struct api_trending_call {
	const struct api_ask *ask;
	int64_t base;
	struct api_trends *t;
};

static int api_trending_read(MYSQL *db, void *arg, char *err, size_t errlen)
{
	struct api_trending_call *call = arg;

	return api_read_trends(db, call->ask, call->base, call->t, err, errlen);
}

static int api_trending(const struct httpd_request *req,
			struct httpd_response *resp, void *ctx)
{
	struct api *api = ctx;
	struct api_ask ask = {0};
	struct api_trends t = {0};
	struct api_trending_call call = {&ask, api->sizes[0], &t};
	int64_t now = runtime_wall_ms() / 1000;
	json_t *obj, *items;

	if (!api_dimension(api, req, "hashtag", &ask, resp) ||
	    !api_seconds(api, req, "window", API_TRENDING_WINDOW_S,
			 API_TRENDING_WINDOW_MAX_S, &ask.window, resp) ||
	    !api_limit(req, API_TRENDING_LIMIT, API_TRENDING_LIMIT_MAX, &ask, resp))
		return 0;
	ask.to = api_ceil(now + 1, api->sizes[0]);     /* the newest window, whole */
	ask.from = ask.to - ask.window;
	t.window = ask.window;
	if (!api_read(api, resp, api_trending_read, &call)) {
		free(t.items);
		return 0;
	}
	if (t.count > 1)         /* items is NULL when there are none */
		qsort(t.items, t.count, sizeof(*t.items), api_trend_cmp);
	items = json_array();
	for (size_t i = 0; i < t.count; i++) {
		const struct api_trend *one = &t.items[i];

		if ((long)i < ask.limit) {
			json_t *item = json_object();

			json_object_set_new(item, "value", api_string(one->value, one->len));
			json_object_set_new(item, "score", json_real(round(one->score * 1000) / 1000));
			json_object_set_new(item, "hits", json_integer((json_int_t)one->n));
			json_object_set_new(item, "baseline_hits", json_integer((json_int_t)one->b));
			json_object_set_new(item, "rate", json_real((double)one->n / (double)ask.window));
			json_object_set_new(item, "baseline_rate",
					    json_real((double)one->b / API_BASELINE_S));
			json_array_append_new(items, item);
		}
		free(one->value);
	}
	free(t.items);
	obj = api_head(&ask);
	json_object_set_new(obj, "window_seconds", json_integer(ask.window));
	json_object_set_new(obj, "baseline_seconds", json_integer(API_BASELINE_S));
	json_object_set_new(obj, "formula", json_string(
		"score = (n - e) / sqrt(e + 1), n = hits in the window, "
		"e = hits in the hour before it * window / 3600"));
	json_object_set_new(obj, "items", items);
	return api_send(resp, 200, obj);
}

/* The configured dimensions and window sizes, for the dashboard's switcher. */
static int api_dimensions(const struct httpd_request *req,
			  struct httpd_response *resp, void *ctx)
{
	struct api *api = ctx;
	json_t *obj = json_object(), *names = json_array(), *sizes = json_array();
	json_t *measures = json_array();

	(void)req;
	for (int m = 0; m < API_BY_COUNT; m++)
		json_array_append_new(measures, json_string(api_measure_name((enum api_measure)m)));
	for (size_t i = 0; i < api->ndims; i++)
		json_array_append_new(names, json_string(api->names[i]));
	for (size_t i = 0; i < api->nsizes; i++)
		json_array_append_new(sizes, json_integer(api->sizes[i]));
	json_object_set_new(obj, "dimensions", names);
	json_object_set_new(obj, "window_seconds", sizes);
	json_object_set_new(obj, "measures", measures);
	return api_send(resp, 200, obj);
}

static int api_unknown(const struct httpd_request *req,
		       struct httpd_response *resp, void *ctx)
{
	(void)ctx;
	return api_error(resp, 404, NULL, "no such endpoint: %.64s (there are "
			 "/api/top, /api/series, /api/latency, /api/trending and /api/dimensions)", httpd_path(req));
}

/* --- the whole ------------------------------------------------------------ */

struct api *api_new(const struct aggregator_config *cfg,
		    const char *const *names, size_t ndims,
		    const int64_t *sizes, size_t nsizes)
{
	struct api *api = xcalloc(1, sizeof(*api));

	api->store = store_new(&cfg->mariadb);
	api->names = names;
	api->ndims = ndims;
	api->sizes = sizes;
	api->nsizes = nsizes;
	pthread_mutex_init(&api->lock, NULL);
	return api;
}

void api_free(struct api *api)
{
	if (!api)
		return;
	store_free(api->store);
	pthread_mutex_destroy(&api->lock);
	free(api);
}

void api_route(struct api *api, struct httpd *httpd)
{
	httpd_route(httpd, "GET", "/api/top", api_top, api);
	httpd_route(httpd, "GET", "/api/series", api_series, api);
	httpd_route(httpd, "GET", "/api/latency", api_latency, api);
	httpd_route(httpd, "GET", "/api/dimensions", api_dimensions, api);
	httpd_route(httpd, "GET", "/api/trending", api_trending, api);
	httpd_route_prefix(httpd, "GET", "/api/", api_unknown, api);
}
