/*
 * api_internal: what api.c (parameters, handlers) and api_read.c (the SQL
 * behind them) share. Nothing outside the API includes it. The reads run
 * on the HTTP thread with the store's reader connection; each one is a
 * bounded number of prepared statements.
 */
#ifndef LOGTALLY_API_INTERNAL_H
#define LOGTALLY_API_INTERNAL_H

#include <jansson.h>
#include <mysql.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "schema.h"

#define API_MAX_COLS 6
/*
 * Ranking by a percentile reads the histograms of this many candidates
 * (or of `limit`, when larger): the values with the most timed hits in
 * the range. A value outside them is not ranked however slow it is.
 */
#define API_PCT_CANDIDATES 200

/* What a handler was asked; a 400 was sent when a parse returns false. */
struct api_ask {
	const char *dimension;
	const char *value;              /* one value (latency, series); or NULL */
	int64_t from, to, size, step, window;
	long limit;
	enum api_measure by;            /* the order of top, the measure of series */
};

/* --- the query layer -------------------------------------------------- */

enum api_type { API_INT, API_STR };

/* A statement's parameter: strings are borrowed for the call. */
struct api_param {
	enum api_type type;
	long long i;
	const char *s;
	unsigned long len;
};

/* A result column, overwritten by each row (s NUL-terminated). */
struct api_col {
	enum api_type type;
	long long i;
	char s[SCHEMA_VALUE_BYTES + 1];
	unsigned long len;
	my_bool null, error;
};

typedef void (*api_row_fn)(void *ctx, const struct api_col *cols);

struct api_param api_int(long long i);
struct api_param api_str(const char *s, size_t len);

/*
 * Runs sql with params[0..nparams), calling row(ctx, cols) for each result
 * row. Returns 0, or -1 with the reason in err. Blocks on MariaDB.
 */
int api_query(MYSQL *db, const char *sql, struct api_param *params,
	      size_t nparams, struct api_col *cols, size_t ncols,
	      api_row_fn row, void *ctx, char *err, size_t errlen);

/* A JSON string of s[0..len), invalid UTF-8 replaced by U+FFFD. */
json_t *api_string(const char *s, size_t len);

/* --- the reads ---------------------------------------------------------- */

/*
 * The top ask->limit values of [from, to) at ask->size ordered by ask->by
 * (only ask->value when it is set), appended to items as {"value", "hits",
 * "bytes", "duration_count", "duration_avg_us", "duration_max_us"} and,
 * ordered by a percentile, "pNN": {"value_us", "lo_us", "hi_us"}.
 * Returns 0 or -1 (err).
 */
int api_read_top(MYSQL *db, const struct api_ask *ask, json_t *items,
		 char *err, size_t errlen);

/*
 * Fills the points of series (an array of {"value", "points"}, each points
 * an array of [t, v] from ask->from by ask->step) with ask->by per step;
 * a percentile's point becomes [t, value_us, lo_us, hi_us]. Steps without
 * rows keep the v they came with. Returns 0 or -1 (err).
 */
int api_read_series(MYSQL *db, const struct api_ask *ask, json_t *series,
		    char *err, size_t errlen);

/*
 * Sets into obj the measures of ask->value over [from, to): hits, bytes,
 * count, duration_avg_us, duration_max_us, p50/p90/p95/p99 and the
 * histogram. Returns 0 or -1 (err).
 */
int api_read_latency(MYSQL *db, const struct api_ask *ask, json_t *obj,
		     char *err, size_t errlen);

#endif
