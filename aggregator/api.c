/*
 * api: /api/top, /api/series and /api/trending (see api.h). Each handler
 * checks its parameters first (a 400 names the one at fault), then reads
 * with prepared statements on the store's reader connection and builds
 * the answer with jansson. The handlers run on the HTTP thread one at a
 * time; the lock only makes that assumption safe.
 */
#include "api.h"

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
#include "utf8.h"
#include "xalloc.h"

#define API_JSON "application/json; charset=utf-8"
#define API_MAX_PARAMS 64               /* the IN list of a series, and more */
#define API_MAX_COLS 4
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

/* A JSON string of s[0..len), invalid UTF-8 replaced by U+FFFD. */
static json_t *api_string(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	json_t *str = json_stringn(s, len);
	struct buf out;
	bool bad;

	if (str)
		return str;
	buf_init(&out, 4 * len + 4);
	while (p < end) {
		size_t k = utf8_seq(p, (size_t)(end - p), &bad);

		buf_add(&out, bad ? "\xef\xbf\xbd" : (const char *)p, bad ? 3 : k);
		p += k;
	}
	str = json_stringn(buf_str(&out), buf_len(&out));
	buf_fini(&out);
	return str;
}

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

/* What a handler was asked; a 400 was sent when a parse returns false. */
struct api_ask {
	const char *dimension;
	int64_t from, to, size, step, window;
	long limit;
};

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

enum api_type { API_INT, API_STR };

struct api_param {
	enum api_type type;
	long long i;
	const char *s;
	unsigned long len;
};

struct api_col {
	enum api_type type;
	long long i;
	char s[SCHEMA_VALUE_BYTES + 1];
	unsigned long len;
	my_bool null, error;
};

typedef void (*api_row_fn)(void *ctx, const struct api_col *cols);

static struct api_param api_int(long long i)
{
	return (struct api_param){.type = API_INT, .i = i};
}

static struct api_param api_str(const char *s, size_t len)
{
	return (struct api_param){.type = API_STR, .s = s, .len = (unsigned long)len};
}

static void api_bind_params(MYSQL_BIND *b, struct api_param *params, size_t n)
{
	memset(b, 0, n * sizeof(*b));
	for (size_t i = 0; i < n; i++) {
		if (params[i].type == API_INT) {
			b[i].buffer_type = MYSQL_TYPE_LONGLONG;
			b[i].buffer = &params[i].i;
		} else {
			b[i].buffer_type = MYSQL_TYPE_STRING;
			b[i].buffer = (void *)params[i].s;
			b[i].buffer_length = params[i].len;
			b[i].length = &params[i].len;
		}
	}
}

static void api_bind_cols(MYSQL_BIND *b, struct api_col *cols, size_t n)
{
	memset(b, 0, n * sizeof(*b));
	for (size_t i = 0; i < n; i++) {
		b[i].is_null = &cols[i].null;
		b[i].error = &cols[i].error;
		if (cols[i].type == API_INT) {
			b[i].buffer_type = MYSQL_TYPE_LONGLONG;
			b[i].buffer = &cols[i].i;
		} else {
			b[i].buffer_type = MYSQL_TYPE_STRING;
			b[i].buffer = cols[i].s;
			b[i].buffer_length = sizeof(cols[i].s);
			b[i].length = &cols[i].len;
		}
	}
}

/* Runs sql with params, calling row for each result row. 0 or -1 (err). */
static int api_query(MYSQL *db, const char *sql, struct api_param *params,
		     size_t nparams, struct api_col *cols, size_t ncols,
		     api_row_fn row, void *ctx, char *err, size_t errlen)
{
	MYSQL_BIND pb[API_MAX_PARAMS], rb[API_MAX_COLS];
	MYSQL_STMT *stmt = mysql_stmt_init(db);
	int rc = -1, f;

	if (!stmt) {
		snprintf(err, errlen, "%s", mysql_error(db));
		return -1;
	}
	api_bind_params(pb, params, nparams);
	api_bind_cols(rb, cols, ncols);
	if (mysql_stmt_prepare(stmt, sql, strlen(sql)) ||
	    mysql_stmt_bind_param(stmt, pb) || mysql_stmt_execute(stmt) ||
	    mysql_stmt_bind_result(stmt, rb))
		goto out;
	while ((f = mysql_stmt_fetch(stmt)) == 0 || f == MYSQL_DATA_TRUNCATED) {
		for (size_t c = 0; c < ncols; c++)
			if (cols[c].type == API_STR)
				cols[c].s[cols[c].len < sizeof(cols[c].s) ?
					  cols[c].len : sizeof(cols[c].s) - 1] = '\0';
		row(ctx, cols);
	}
	rc = f == MYSQL_NO_DATA ? 0 : -1;
out:
	if (rc)
		snprintf(err, errlen, "%s", mysql_stmt_error(stmt));
	mysql_stmt_close(stmt);
	return rc;
}

/* The top values of [from, to) at ask->size: {"value", "hits"} into items. */
static void api_top_row(void *ctx, const struct api_col *cols)
{
	json_t *item = json_object();

	json_object_set_new(item, "value", api_string(cols[0].s, cols[0].len));
	json_object_set_new(item, "hits", json_integer(cols[1].i));
	json_array_append_new(ctx, item);
}

static int api_read_top(MYSQL *db, const struct api_ask *ask, json_t *items,
			char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT value, CAST(SUM(hits) AS SIGNED) AS h FROM counts "
		"WHERE window_seconds = ? AND dimension = ? "
		"AND window_start >= FROM_UNIXTIME(?) AND window_start < FROM_UNIXTIME(?) "
		"GROUP BY value ORDER BY h DESC, value LIMIT ?";
	struct api_param params[] = {
		api_int(ask->size), api_str(ask->dimension, strlen(ask->dimension)),
		api_int(ask->from), api_int(ask->to), api_int(ask->limit),
	};
	struct api_col cols[2] = {{.type = API_STR}, {.type = API_INT}};

	return api_query(db, sql, params, 5, cols, 2, api_top_row, items, err, errlen);
}

/* A series' points, zero-filled, before the rows arrive. */
struct api_series {
	json_t *series;                 /* array of {"value", "total", "points"} */
	int64_t from, step;
	size_t npoints;
};

static void api_series_row(void *ctx, const struct api_col *cols)
{
	struct api_series *s = ctx;
	long long bucket = cols[1].i;

	for (size_t i = 0; i < json_array_size(s->series); i++) {
		json_t *one = json_array_get(s->series, i);
		const char *v = json_string_value(json_object_get(one, "value"));
		json_t *point;

		if (strlen(v) != cols[0].len || memcmp(v, cols[0].s, cols[0].len))
			continue;
		if (bucket < 0 || (size_t)bucket >= s->npoints)
			return;
		point = json_array_get(json_object_get(one, "points"), (size_t)bucket);
		json_array_set_new(point, 1, json_integer(cols[2].i));
		return;
	}
}

static int api_read_series(MYSQL *db, const struct api_ask *ask,
			   struct api_series *s, char *err, size_t errlen)
{
	struct api_param params[API_MAX_PARAMS];
	size_t n = 0, nvals = json_array_size(s->series);
	struct api_col cols[3] = {{.type = API_STR}, {.type = API_INT}, {.type = API_INT}};
	struct buf sql;
	int rc;

	if (!nvals)
		return 0;
	buf_init(&sql, 8192);
	buf_printf(&sql, "SELECT value, (UNIX_TIMESTAMP(window_start) - ?) DIV ?, "
		   "CAST(SUM(hits) AS SIGNED) FROM counts WHERE window_seconds = ? "
		   "AND dimension = ? AND window_start >= FROM_UNIXTIME(?) "
		   "AND window_start < FROM_UNIXTIME(?) AND value IN (");
	params[n++] = api_int(ask->from);
	params[n++] = api_int(ask->step);
	params[n++] = api_int(ask->size);
	params[n++] = api_str(ask->dimension, strlen(ask->dimension));
	params[n++] = api_int(ask->from);
	params[n++] = api_int(ask->to);
	for (size_t i = 0; i < nvals; i++) {
		json_t *v = json_object_get(json_array_get(s->series, i), "value");

		buf_printf(&sql, "%s?", i ? ", " : "");
		params[n++] = api_str(json_string_value(v), json_string_length(v));
	}
	buf_printf(&sql, ") GROUP BY 1, 2");
	rc = api_query(db, buf_str(&sql), params, n, cols, 3, api_series_row, s,
		       err, errlen);
	buf_fini(&sql);
	return rc;
}

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
	    !api_limit(req, API_TOP_LIMIT, API_TOP_LIMIT_MAX, &ask, resp))
		return 0;
	ask.size = api_choose_size(api->sizes, api->nsizes, 0, &ask.from, &ask.to);
	call.items = json_array();
	if (!api_read(api, resp, api_top_read, &call)) {
		json_decref(call.items);
		return 0;
	}
	obj = api_head(&ask);
	json_object_set_new(obj, "window_seconds", json_integer(ask.size));
	json_object_set_new(obj, "items", call.items);
	return api_send(resp, 200, obj);
}

struct api_series_call {
	struct api_ask *ask;
	struct api_series *s;
};

static int api_series_read(MYSQL *db, void *arg, char *err, size_t errlen)
{
	struct api_series_call *call = arg;
	json_t *top = json_array();
	int rc = api_read_top(db, call->ask, top, err, errlen);

	for (size_t i = 0; !rc && i < json_array_size(top); i++) {
		json_t *one = json_array_get(top, i), *points = json_array();

		for (size_t p = 0; p < call->s->npoints; p++)
			json_array_append_new(points, json_pack("[I,i]",
				(json_int_t)(call->s->from + (int64_t)p * call->s->step), 0));
		json_object_set(one, "total", json_object_get(one, "hits"));
		json_object_del(one, "hits");
		json_object_set_new(one, "points", points);
		json_array_append(call->s->series, one);
	}
	json_decref(top);
	if (!rc)
		rc = api_read_series(db, call->ask, call->s, err, errlen);
	return rc;
}

static int api_series(const struct httpd_request *req, struct httpd_response *resp,
		      void *ctx)
{
	struct api *api = ctx;
	struct api_ask ask = {0};
	struct api_series s = {0};
	struct api_series_call call = {&ask, &s};
	int64_t span;
	json_t *obj;

	if (!api_dimension(api, req, NULL, &ask, resp) || !api_range(req, &ask, resp) ||
	    !api_limit(req, API_SERIES_LIMIT, API_SERIES_LIMIT_MAX, &ask, resp) ||
	    !api_seconds(api, req, "step", 0, API_MAX_RANGE_S, &ask.step, resp))
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
	s.series = json_array();
	s.from = ask.from;
	s.step = ask.step;
	s.npoints = (size_t)((ask.to - ask.from) / ask.step);
	if (!api_read(api, resp, api_series_read, &call)) {
		json_decref(s.series);
		return 0;
	}
	obj = api_head(&ask);
	json_object_set_new(obj, "window_seconds", json_integer(ask.size));
	json_object_set_new(obj, "step", json_integer(ask.step));
	json_object_set_new(obj, "series", s.series);
	return api_send(resp, 200, obj);
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

static int api_unknown(const struct httpd_request *req,
		       struct httpd_response *resp, void *ctx)
{
	(void)ctx;
	return api_error(resp, 404, NULL, "no such endpoint: %.64s (there are "
			 "/api/top, /api/series and /api/trending)", httpd_path(req));
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
	httpd_route(httpd, "GET", "/api/trending", api_trending, api);
	httpd_route_prefix(httpd, "GET", "/api/", api_unknown, api);
}
