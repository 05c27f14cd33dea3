/*
 * api_read: the SQL behind /api/top, /api/series and /api/latency. Values
 * reach MariaDB only as parameters of prepared statements; the dimension
 * was checked against the configured names before. Percentiles come from
 * the latency table's buckets through latency.h, clamped to the counts'
 * duration_us_max; each read is one to three statements whose size is
 * bounded by the limits of api.c (at most API_TOP_LIMIT_MAX or
 * API_PCT_CANDIDATES values, API_MAX_POINTS steps).
 */
#include "api_internal.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "latency.h"
#include "utf8.h"
#include "xalloc.h"

/* --- measures and strings (api.c parses and answers with them) --------- */

static const char *const api_measure_names[API_BY_COUNT] = {
	[API_BY_HITS] = "hits", [API_BY_BYTES] = "bytes",
	[API_BY_DURATION_AVG] = "duration_avg", [API_BY_DURATION_MAX] = "duration_max",
	[API_BY_P50] = "p50", [API_BY_P95] = "p95", [API_BY_P99] = "p99",
};

int api_parse_measure(const char *s)
{
	if (!s)
		return API_BY_HITS;
	for (int m = 0; m < API_BY_COUNT; m++)
		if (!strcmp(s, api_measure_names[m]))
			return m;
	return -1;
}

const char *api_measure_name(enum api_measure m)
{
	return m < API_BY_COUNT ? api_measure_names[m] : "?";
}

double api_measure_quantile(enum api_measure m)
{
	switch (m) {
	case API_BY_P50: return 0.5;
	case API_BY_P95: return 0.95;
	case API_BY_P99: return 0.99;
	default: return 0;
	}
}

json_t *api_string(const char *s, size_t len)
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

/* --- the query layer ---------------------------------------------------- */

struct api_param api_int(long long i)
{
	return (struct api_param){.type = API_INT, .i = i};
}

struct api_param api_str(const char *s, size_t len)
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

int api_query(MYSQL *db, const char *sql, struct api_param *params,
	      size_t nparams, struct api_col *cols, size_t ncols,
	      api_row_fn row, void *ctx, char *err, size_t errlen)
{
	MYSQL_BIND *pb = xcalloc(nparams + 1, sizeof(*pb)), rb[API_MAX_COLS];
	MYSQL_STMT *stmt = mysql_stmt_init(db);
	int rc = -1, f;

	if (!stmt) {
		snprintf(err, errlen, "%s", mysql_error(db));
		free(pb);
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
	free(pb);
	return rc;
}

/* --- measures of a value ------------------------------------------------ */

/* One value's sums over the range, and its histogram when one was read. */
struct api_item {
	char *value;
	size_t len;
	long long hits, bytes, count, sum_us, max_us;
	struct latency_hist *hist;
	struct latency_estimate est;
	bool has_est;
};

struct api_items {
	struct api_item *v;
	size_t n, cap;
	size_t last;                    /* where the last histogram row went */
};

static void api_items_free(struct api_items *items)
{
	for (size_t i = 0; i < items->n; i++) {
		free(items->v[i].value);
		free(items->v[i].hist);
	}
	free(items->v);
}

/* The average duration rounded to the microsecond (as SQL's ROUND does). */
static json_t *api_avg_json(long long sum_us, long long count)
{
	if (count <= 0)
		return json_null();
	return json_integer((sum_us + count / 2) / count);
}

/* {"value_us", "lo_us", "hi_us"}: the estimate and where the truth lies. */
static json_t *api_estimate_json(const struct latency_estimate *est)
{
	return json_pack("{s:I,s:I,s:I}",
			 "value_us", (json_int_t)llround(est->value_us),
			 "lo_us", (json_int_t)est->lo_us, "hi_us", (json_int_t)est->hi_us);
}

/* The quantile q of h with max_us as its largest duration, or null. */
static json_t *api_percentile_json(struct latency_hist *h, long long max_us,
				   double q)
{
	struct latency_estimate est;

	h->max_us = max_us > 0 ? (uint64_t)max_us : 0;
	if (!latency_percentile(h, q, &est))
		return json_null();
	return api_estimate_json(&est);
}

static void api_item_row(void *ctx, const struct api_col *cols)
{
	struct api_items *items = ctx;
	struct api_item *one;

	if (items->n == items->cap) {
		items->cap = items->cap ? 2 * items->cap : 16;
		items->v = xreallocarray(items->v, items->cap, sizeof(*items->v));
	}
	one = &items->v[items->n++];
	memset(one, 0, sizeof(*one));
	one->len = cols[0].len;
	one->value = xmalloc(one->len + 1);
	memcpy(one->value, cols[0].s, one->len + 1);
	one->hits = cols[1].i;
	one->bytes = cols[2].i;
	one->count = cols[3].i;
	one->sum_us = cols[4].i;
	one->max_us = cols[5].null ? 0 : cols[5].i;
}

/*
 * The sums per value, in the order of ask->by. A percentile order reads
 * candidates here, by timed hits; api_rank_percentile orders them.
 * Duration orders leave out values without timed hits: "slowest" means
 * nothing for them.
 */
static int api_read_items(MYSQL *db, const struct api_ask *ask, long limit,
			  struct api_items *items, char *err, size_t errlen)
{
	static const char *const order[] = {
		[API_BY_HITS] = "h", [API_BY_BYTES] = "b",
		[API_BY_DURATION_AVG] = "SUM(duration_us_sum) / SUM(duration_count)", [API_BY_DURATION_MAX] = "m",
		[API_BY_P50] = "c", [API_BY_P95] = "c", [API_BY_P99] = "c",
	};
	struct api_param params[6];
	struct api_col cols[6] = {{.type = API_STR}, {.type = API_INT}, {.type = API_INT},
				  {.type = API_INT}, {.type = API_INT}, {.type = API_INT}};
	size_t n = 0;
	char sql[1024];

	snprintf(sql, sizeof(sql),
		 "SELECT value, CAST(SUM(hits) AS SIGNED) AS h, CAST(SUM(bytes) AS SIGNED) AS b, "
		 "CAST(SUM(duration_count) AS SIGNED) AS c, "
		 "CAST(SUM(duration_us_sum) AS SIGNED) AS s, "
		 "CAST(MAX(duration_us_max) AS SIGNED) AS m FROM counts "
		 "WHERE window_seconds = ? AND dimension = ? "
		 "AND window_start >= FROM_UNIXTIME(?) AND window_start < FROM_UNIXTIME(?)%s "
		 "GROUP BY value%s ORDER BY %s DESC, value LIMIT ?",
		 ask->value ? " AND value = ?" : "",
		 ask->by != API_BY_HITS && ask->by != API_BY_BYTES && !ask->value ?
		 " HAVING c > 0" : "", order[ask->by]);
	params[n++] = api_int(ask->size);
	params[n++] = api_str(ask->dimension, strlen(ask->dimension));
	params[n++] = api_int(ask->from);
	params[n++] = api_int(ask->to);
	if (ask->value)
		params[n++] = api_str(ask->value, strlen(ask->value));
	params[n++] = api_int(limit);
	return api_query(db, sql, params, n, cols, 6, api_item_row, items, err, errlen);
}

/* A histogram row (value, bucket, hits) into its item's histogram. */
static void api_hist_row(void *ctx, const struct api_col *cols)
{
	struct api_items *items = ctx;

	for (size_t k = 0; k < items->n; k++) {
		size_t i = (items->last + k) % items->n;
		struct api_item *one = &items->v[i];

		if (one->len != cols[0].len || memcmp(one->value, cols[0].s, one->len))
			continue;
		if (!one->hist)
			one->hist = xcalloc(1, sizeof(*one->hist));
		latency_hist_add(one->hist, (unsigned int)cols[1].i, (uint64_t)cols[2].i);
		items->last = i;        /* rows come grouped by value */
		return;
	}
}

/* The histograms of all items over the range, in one statement. */
static int api_read_hists(MYSQL *db, const struct api_ask *ask,
			  struct api_items *items, char *err, size_t errlen)
{
	struct api_param *params = xcalloc(items->n + 4, sizeof(*params));
	struct api_col cols[3] = {{.type = API_STR}, {.type = API_INT}, {.type = API_INT}};
	struct buf sql;
	size_t n = 0;
	int rc;

	buf_init(&sql, 1024 + 4 * items->n);
	buf_printf(&sql, "SELECT value, bucket, CAST(SUM(hits) AS SIGNED) FROM latency "
		   "WHERE window_seconds = ? AND dimension = ? "
		   "AND window_start >= FROM_UNIXTIME(?) AND window_start < FROM_UNIXTIME(?) "
		   "AND value IN (");
	params[n++] = api_int(ask->size);
	params[n++] = api_str(ask->dimension, strlen(ask->dimension));
	params[n++] = api_int(ask->from);
	params[n++] = api_int(ask->to);
	for (size_t i = 0; i < items->n; i++) {
		buf_printf(&sql, "%s?", i ? ", " : "");
		params[n++] = api_str(items->v[i].value, items->v[i].len);
	}
	buf_printf(&sql, ") GROUP BY value, bucket");
	rc = api_query(db, buf_str(&sql), params, n, cols, 3, api_hist_row, items,
		       err, errlen);
	buf_fini(&sql);
	free(params);
	return rc;
}

/* Slowest first; ties (and values without an estimate, last) by value. */
static int api_item_cmp(const void *pa, const void *pb)
{
	const struct api_item *a = pa, *b = pb;
	int rc;

	if (a->has_est != b->has_est)
		return a->has_est ? -1 : 1;
	if (a->has_est && a->est.value_us != b->est.value_us)
		return a->est.value_us > b->est.value_us ? -1 : 1;
	rc = memcmp(a->value, b->value, a->len < b->len ? a->len : b->len);
	return rc ? rc : (a->len > b->len) - (a->len < b->len);
}

/* Estimates the percentile of ask->by for every item, slowest first. */
static void api_rank_percentile(const struct api_ask *ask, struct api_items *items)
{
	double q = api_measure_quantile(ask->by);

	for (size_t i = 0; i < items->n; i++) {
		struct api_item *one = &items->v[i];

		if (!one->hist)
			continue;
		one->hist->max_us = one->max_us > 0 ? (uint64_t)one->max_us : 0;
		one->has_est = latency_percentile(one->hist, q, &one->est);
	}
	if (items->n > 1)
		qsort(items->v, items->n, sizeof(*items->v), api_item_cmp);
}

static json_t *api_item_json(const struct api_ask *ask, const struct api_item *one)
{
	json_t *item = json_object();

	json_object_set_new(item, "value", api_string(one->value, one->len));
	json_object_set_new(item, "hits", json_integer(one->hits));
	json_object_set_new(item, "bytes", json_integer(one->bytes));
	json_object_set_new(item, "duration_count", json_integer(one->count));
	json_object_set_new(item, "duration_avg_us", api_avg_json(one->sum_us, one->count));
	json_object_set_new(item, "duration_max_us",
			    one->count ? json_integer(one->max_us) : json_null());
	if (api_measure_quantile(ask->by) > 0)
		json_object_set_new(item, api_measure_name(ask->by), one->has_est ?
				    api_estimate_json(&one->est) : json_null());
	return item;
}

int api_read_top(MYSQL *db, const struct api_ask *ask, json_t *items_out,
		 char *err, size_t errlen)
{
	bool pct = api_measure_quantile(ask->by) > 0;
	long limit = ask->limit;
	struct api_items items = {0};
	int rc;

	if (pct && !ask->value && limit < API_PCT_CANDIDATES)
		limit = API_PCT_CANDIDATES;
	rc = api_read_items(db, ask, limit, &items, err, errlen);
	if (!rc && pct && items.n) {
		rc = api_read_hists(db, ask, &items, err, errlen);
		api_rank_percentile(ask, &items);
	}
	for (size_t i = 0; !rc && i < items.n && (long)i < ask->limit; i++)
		json_array_append_new(items_out, api_item_json(ask, &items.v[i]));
	api_items_free(&items);
	return rc;
}

/* --- series ---------------------------------------------------------- */

/* The series of a value, found as rows arrive (there are at most 50). */
static json_t *api_series_of(json_t *series, const struct api_col *col)
{
	for (size_t i = 0; i < json_array_size(series); i++) {
		json_t *one = json_array_get(series, i);
		json_t *v = json_object_get(one, "value");

		if (json_string_length(v) == col->len &&
		    !memcmp(json_string_value(v), col->s, col->len))
			return one;
	}
	return NULL;
}

/* A (value, step, measure) row into its point; a NULL measure stays null. */
static void api_point_row(void *ctx, const struct api_col *cols)
{
	json_t *one = api_series_of(ctx, &cols[0]), *point;

	if (!one || cols[2].null)
		return;
	point = json_array_get(json_object_get(one, "points"), (size_t)cols[1].i);
	if (point)
		json_array_set_new(point, 1, json_integer(cols[2].i));
}

/* The IN list of the series' values after params[*n], into sql. */
static void api_series_values(json_t *series, struct buf *sql,
			      struct api_param *params, size_t *n)
{
	for (size_t i = 0; i < json_array_size(series); i++) {
		json_t *v = json_object_get(json_array_get(series, i), "value");

		buf_printf(sql, "%s?", i ? ", " : "");
		params[(*n)++] = api_str(json_string_value(v), json_string_length(v));
	}
}

/* The six parameters every per-step statement starts with. */
static size_t api_step_params(const struct api_ask *ask, struct api_param *params)
{
	params[0] = api_int(ask->from);
	params[1] = api_int(ask->step);
	params[2] = api_int(ask->size);
	params[3] = api_str(ask->dimension, strlen(ask->dimension));
	params[4] = api_int(ask->from);
	params[5] = api_int(ask->to);
	return 6;
}

#define API_STEP_WHERE \
	"WHERE window_seconds = ? AND dimension = ? " \
	"AND window_start >= FROM_UNIXTIME(?) AND window_start < FROM_UNIXTIME(?) " \
	"AND value IN ("

/* Hits, bytes, the average or the maximum per step: one statement. */
static int api_read_sums(MYSQL *db, const struct api_ask *ask, json_t *series,
			 char *err, size_t errlen)
{
	static const char *const expr[] = {
		[API_BY_HITS] = "CAST(SUM(hits) AS SIGNED)",
		[API_BY_BYTES] = "CAST(SUM(bytes) AS SIGNED)",
		[API_BY_DURATION_AVG] = "CAST(ROUND(SUM(duration_us_sum) / "
					"NULLIF(SUM(duration_count), 0)) AS SIGNED)",
		[API_BY_DURATION_MAX] = "CAST(IF(SUM(duration_count) > 0, "
					"MAX(duration_us_max), NULL) AS SIGNED)",
	};
	size_t nvals = json_array_size(series), n;
	struct api_param *params = xcalloc(nvals + 6, sizeof(*params));
	struct api_col cols[3] = {{.type = API_STR}, {.type = API_INT}, {.type = API_INT}};
	struct buf sql;
	int rc;

	buf_init(&sql, 1024 + 4 * nvals);
	buf_printf(&sql, "SELECT value, (UNIX_TIMESTAMP(window_start) - ?) DIV ?, %s "
		   "FROM counts " API_STEP_WHERE, expr[ask->by]);
	n = api_step_params(ask, params);
	api_series_values(series, &sql, params, &n);
	buf_printf(&sql, ") GROUP BY 1, 2");
	rc = api_query(db, buf_str(&sql), params, n, cols, 3, api_point_row, series,
		       err, errlen);
	buf_fini(&sql);
	free(params);
	return rc;
}

/* The histogram of one (value, step) being summed as its rows arrive. */
struct api_step_hist {
	json_t *series;
	double q;
	json_t *one;                    /* the series of the value, or NULL */
	long long step;
	struct latency_hist hist;
};

static void api_step_flush(struct api_step_hist *sh)
{
	struct latency_estimate est;
	json_t *point;

	if (sh->one && latency_percentile(&sh->hist, sh->q, &est)) {
		point = json_array_get(json_object_get(sh->one, "points"), (size_t)sh->step);
		if (point) {
			json_array_set_new(point, 1, json_integer(llround(est.value_us)));
			json_array_append_new(point, json_integer((json_int_t)est.lo_us));
			json_array_append_new(point, json_integer((json_int_t)est.hi_us));
		}
	}
	memset(&sh->hist, 0, sizeof(sh->hist));
}

/*
 * Rows (value, step, bucket, hits), ordered; bucket 255 carries the step's
 * duration_us_max instead of hits, after the buckets. A new (value, step)
 * closes the one before.
 */
static void api_step_row(void *ctx, const struct api_col *cols)
{
	struct api_step_hist *sh = ctx;
	json_t *one = api_series_of(sh->series, &cols[0]);

	if (one != sh->one || cols[1].i != sh->step) {
		api_step_flush(sh);
		sh->one = one;
		sh->step = cols[1].i;
	}
	if (cols[2].i == 255)
		sh->hist.max_us = cols[3].null ? 0 : (uint64_t)cols[3].i;
	else
		latency_hist_add(&sh->hist, (unsigned int)cols[2].i, (uint64_t)cols[3].i);
}

/*
 * A percentile per step: the latency rows summed per (value, step, bucket)
 * and, in the same statement, each step's maximum from counts, which the
 * estimate is clamped to. At most values * steps * 63 rows, streamed.
 */
static int api_read_step_percentiles(MYSQL *db, const struct api_ask *ask,
				     json_t *series, char *err, size_t errlen)
{
	size_t nvals = json_array_size(series), n;
	struct api_param *params = xcalloc(2 * (nvals + 6), sizeof(*params));
	struct api_col cols[4] = {{.type = API_STR}, {.type = API_INT},
				  {.type = API_INT}, {.type = API_INT}};
	struct api_step_hist *sh = xcalloc(1, sizeof(*sh));
	struct buf sql;
	int rc;

	sh->series = series;
	sh->q = api_measure_quantile(ask->by);
	buf_init(&sql, 2048 + 8 * nvals);
	buf_printf(&sql, "SELECT value, (UNIX_TIMESTAMP(window_start) - ?) DIV ? AS s, "
		   "bucket AS b, CAST(SUM(hits) AS SIGNED) FROM latency " API_STEP_WHERE);
	n = api_step_params(ask, params);
	api_series_values(series, &sql, params, &n);
	buf_printf(&sql, ") GROUP BY 1, 2, 3 UNION ALL "
		   "SELECT value, (UNIX_TIMESTAMP(window_start) - ?) DIV ?, 255, "
		   "CAST(MAX(duration_us_max) AS SIGNED) FROM counts " API_STEP_WHERE);
	n += api_step_params(ask, params + n);
	api_series_values(series, &sql, params, &n);
	buf_printf(&sql, ") GROUP BY 1, 2 ORDER BY 1, 2, 3");
	rc = api_query(db, buf_str(&sql), params, n, cols, 4, api_step_row, sh,
		       err, errlen);
	if (!rc)
		api_step_flush(sh);
	buf_fini(&sql);
	free(params);
	free(sh);
	return rc;
}

int api_read_series(MYSQL *db, const struct api_ask *ask, json_t *series,
		    char *err, size_t errlen)
{
	if (!json_array_size(series))
		return 0;
	if (api_measure_quantile(ask->by) > 0)
		return api_read_step_percentiles(db, ask, series, err, errlen);
	return api_read_sums(db, ask, series, err, errlen);
}

/* --- one value's latency ----------------------------------------------- */

static void api_bucket_row(void *ctx, const struct api_col *cols)
{
	json_t *obj = ctx;

	json_array_append_new(json_object_get(obj, "histogram"),
			      json_pack("{s:I,s:s,s:I}", "bucket", (json_int_t)cols[0].i,
					"le", cols[1].s, "hits", (json_int_t)cols[2].i));
}

/* The value's histogram, with each bucket's le as latency_buckets has it. */
static int api_read_buckets(MYSQL *db, const struct api_ask *ask, json_t *obj,
			    char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT l.bucket, b.le, CAST(SUM(l.hits) AS SIGNED) FROM latency l "
		"JOIN latency_buckets b ON b.bucket = l.bucket "
		"WHERE l.window_seconds = ? AND l.dimension = ? AND l.value = ? "
		"AND l.window_start >= FROM_UNIXTIME(?) AND l.window_start < FROM_UNIXTIME(?) "
		"GROUP BY l.bucket, b.le ORDER BY l.bucket";
	struct api_param params[] = {
		api_int(ask->size), api_str(ask->dimension, strlen(ask->dimension)),
		api_str(ask->value, strlen(ask->value)),
		api_int(ask->from), api_int(ask->to),
	};
	struct api_col cols[3] = {{.type = API_INT}, {.type = API_STR}, {.type = API_INT}};

	json_object_set_new(obj, "histogram", json_array());
	return api_query(db, sql, params, 5, cols, 3, api_bucket_row, obj, err, errlen);
}

int api_read_latency(MYSQL *db, const struct api_ask *ask, json_t *obj,
		     char *err, size_t errlen)
{
	static const struct {
		const char *name;
		double q;
	} pcts[] = {{"p50", 0.5}, {"p90", 0.9}, {"p95", 0.95}, {"p99", 0.99}};
	struct api_items items = {0};
	struct api_item none = {0}, *one = &none;
	struct latency_hist hist = {0};
	json_t *h;
	int rc = api_read_items(db, ask, 1, &items, err, errlen);

	if (!rc)
		rc = api_read_buckets(db, ask, obj, err, errlen);
	if (rc)
		goto out;
	if (items.n)
		one = &items.v[0];
	h = json_object_get(obj, "histogram");
	for (size_t i = 0; i < json_array_size(h); i++)
		latency_hist_add(&hist, (unsigned int)json_integer_value(
			json_object_get(json_array_get(h, i), "bucket")),
			(uint64_t)json_integer_value(json_object_get(json_array_get(h, i), "hits")));
	json_object_set_new(obj, "hits", json_integer(one->hits));
	json_object_set_new(obj, "bytes", json_integer(one->bytes));
	json_object_set_new(obj, "count", json_integer(one->count));
	json_object_set_new(obj, "duration_avg_us", api_avg_json(one->sum_us, one->count));
	json_object_set_new(obj, "duration_max_us",
			    one->count ? json_integer(one->max_us) : json_null());
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		json_object_set_new(obj, pcts[i].name,
				    api_percentile_json(&hist, one->max_us, pcts[i].q));
out:
	api_items_free(&items);
	return rc;
}
