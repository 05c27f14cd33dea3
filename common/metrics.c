/*
 * metrics: families (one name, help, type) sorted by name, each holding its
 * series sorted by their rendered labels, in arrays that only grow, under the
 * registry lock. Every series is an allocation of its own, so the pointers
 * handed out stay valid while the arrays move, and updates touch nothing but
 * the series' atomics. A gauge or a histogram's sum is a double kept as its
 * bit pattern in an _Atomic uint64_t and added to by compare-and-swap, since
 * C11 has no atomic floating-point add.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logging.h"
#include "xalloc.h"

/* Longest rendered label set of one series, e.g. kind="timeout". */
#define METRICS_LABELS_TEXT_MAX 1024
/* Room for a number as rendered: "%.17g" of a double, or a uint64. */
#define METRICS_NUMBER_MAX 32

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

static const char *const metrics_type_names[] = {
	[METRICS_COUNTER] = "counter",
	[METRICS_GAUGE] = "gauge",
	[METRICS_HISTOGRAM] = "histogram",
};

static const double metrics_default_bounds[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

struct metrics_counter {
	_Atomic uint64_t value;
};

struct metrics_gauge {
	_Atomic uint64_t bits;	/* of the double */
};

struct metrics_histogram {
	const double *bounds;		/* the family's */
	size_t nbounds;
	_Atomic uint64_t *buckets;	/* nbounds + 1, not cumulative; last: +Inf */
	_Atomic uint64_t sum_bits;	/* of the double */
};

struct metrics_series {
	char *labels;	/* rendered: kind="timeout",topic="weblogs"; "" if none */
	union {
		struct metrics_counter counter;
		struct metrics_gauge gauge;
		struct metrics_histogram histogram;
	} u;
};

struct metrics_family {
	char *name;
	char *help;
	enum metrics_type type;
	double *bounds;			/* histograms only */
	size_t nbounds;
	struct metrics_series **series;	/* sorted by labels */
	size_t nseries;
};

struct metrics {
	pthread_mutex_t lock;
	struct metrics_family **families;	/* sorted by name */
	size_t nfamilies;
};

/* What one registration asks for, apart from its labels. */
struct metrics_desc {
	const char *name;
	const char *help;
	enum metrics_type type;
	const double *bounds;
	size_t nbounds;
};

struct metrics_label {
	const char *name;
	const char *value;
};

static void metrics_die(const char *metric, const char *why)
{
	logging_error("metrics: %s: %s", metric, why);
	abort();
}

static uint64_t metrics_bits(double value)
{
	uint64_t bits;

	memcpy(&bits, &value, sizeof(bits));
	return bits;
}

static double metrics_double(uint64_t bits)
{
	double value;

	memcpy(&value, &bits, sizeof(value));
	return value;
}

static void metrics_double_add(_Atomic uint64_t *bits, double delta)
{
	uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(bits, &old,
			metrics_bits(metrics_double(old) + delta),
			memory_order_relaxed, memory_order_relaxed))
		;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metrics; labels have no ':'. */
static bool metrics_name_valid(const char *s, bool colon)
{
	if (*s >= '0' && *s <= '9')
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || (colon && c == ':')))
			return false;
	}
	return *s != '\0';
}

static void metrics_desc_check(const struct metrics_desc *d)
{
	size_t len = strlen(d->name);

	if (!metrics_name_valid(d->name, true))
		metrics_die(d->name, "invalid metric name");
	if (d->type == METRICS_COUNTER &&
	    (len < 6 || strcmp(d->name + len - 6, "_total") != 0))
		metrics_die(d->name, "a counter's name must end in _total");
	for (size_t i = 0; i < d->nbounds; i++) {
		if (!isfinite(d->bounds[i]) ||
		    (i > 0 && d->bounds[i] <= d->bounds[i - 1]))
			metrics_die(d->name, "histogram bounds must be finite and ascending");
	}
}

static int metrics_label_cmp(const void *a, const void *b)
{
	const struct metrics_label *la = a, *lb = b;

	return strcmp(la->name, lb->name);
}

/*
 * Reads the name/value pairs of a registration up to its NULL into labels,
 * checks them and sorts them by name. Returns how many there were.
 */
static size_t metrics_labels_read(const struct metrics_desc *d, va_list ap,
				  struct metrics_label *labels)
{
	const char *name;
	size_t n = 0;

	while ((name = va_arg(ap, const char *))) {
		if (n == METRICS_LABELS_MAX)
			metrics_die(d->name, "too many labels");
		if (!metrics_name_valid(name, false) || strncmp(name, "__", 2) == 0)
			metrics_die(d->name, "invalid label name");
		if (d->type == METRICS_HISTOGRAM && strcmp(name, "le") == 0)
			metrics_die(d->name, "\"le\" is reserved in histograms");
		labels[n].name = name;
		labels[n].value = va_arg(ap, const char *);
		if (!labels[n].value)
			metrics_die(d->name, "a label has no value");
		n++;
	}
	qsort(labels, n, sizeof(*labels), metrics_label_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(labels[i - 1].name, labels[i].name) == 0)
			metrics_die(d->name, "a label is given twice");
	}
	return n;
}

/* Help text escapes \ and newline; label values also escape ". */
static int metrics_escape(struct buf *out, const char *s, bool label)
{
	int rc = 0;

	for (; *s && !rc; s++) {
		if (*s == '\\')
			rc = buf_addstr(out, "\\\\");
		else if (*s == '\n')
			rc = buf_addstr(out, "\\n");
		else if (*s == '"' && label)
			rc = buf_addstr(out, "\\\"");
		else
			rc = buf_addc(out, *s);
	}
	return rc;
}

/* The labels as they appear between the braces. Caller owns the result. */
static char *metrics_labels_text(const char *metric,
				 const struct metrics_label *labels, size_t n)
{
	struct buf text;
	int rc = 0;

	buf_init(&text, METRICS_LABELS_TEXT_MAX);
	for (size_t i = 0; i < n && !rc; i++) {
		rc = buf_printf(&text, "%s%s=\"", i ? "," : "", labels[i].name);
		if (!rc)
			rc = metrics_escape(&text, labels[i].value, true);
		if (!rc)
			rc = buf_addc(&text, '"');
	}
	if (rc)
		metrics_die(metric, "labels too long");
	return buf_take(&text, NULL);
}

static struct metrics_family *metrics_family_new(const struct metrics_desc *d)
{
	struct metrics_family *family = xcalloc(1, sizeof(*family));

	family->name = xstrdup(d->name);
	family->help = xstrdup(d->help);
	family->type = d->type;
	if (d->nbounds) {
		family->bounds = xreallocarray(NULL, d->nbounds, sizeof(double));
		memcpy(family->bounds, d->bounds, d->nbounds * sizeof(double));
		family->nbounds = d->nbounds;
	}
	return family;
}

static void metrics_family_check(const struct metrics_family *family,
				 const struct metrics_desc *d)
{
	if (family->type != d->type)
		metrics_die(d->name, "registered again with another type");
	if (strcmp(family->help, d->help) != 0)
		metrics_die(d->name, "registered again with another help text");
	if (family->nbounds != d->nbounds ||
	    (d->nbounds && memcmp(family->bounds, d->bounds,
				  d->nbounds * sizeof(double)) != 0))
		metrics_die(d->name, "registered again with other buckets");
}

/* The family named d->name, created if new. Called with the lock held. */
static struct metrics_family *metrics_family_get(struct metrics *reg,
						 const struct metrics_desc *d)
{
	struct metrics_family *family;
	size_t i;

	for (i = 0; i < reg->nfamilies &&
	     strcmp(reg->families[i]->name, d->name) < 0; i++)
		;
	if (i < reg->nfamilies && strcmp(reg->families[i]->name, d->name) == 0) {
		metrics_family_check(reg->families[i], d);
		return reg->families[i];
	}
	family = metrics_family_new(d);
	reg->families = xreallocarray(reg->families, reg->nfamilies + 1,
				      sizeof(*reg->families));
	memmove(&reg->families[i + 1], &reg->families[i],
		(reg->nfamilies - i) * sizeof(*reg->families));
	reg->families[i] = family;
	reg->nfamilies++;
	return family;
}

static struct metrics_series *metrics_series_new(const struct metrics_family *family,
						 char *labels)
{
	struct metrics_series *series = xcalloc(1, sizeof(*series));
	struct metrics_histogram *histogram = &series->u.histogram;

	series->labels = labels;
	if (family->type == METRICS_HISTOGRAM) {
		histogram->bounds = family->bounds;
		histogram->nbounds = family->nbounds;
		histogram->buckets = xcalloc(family->nbounds + 1,
					     sizeof(*histogram->buckets));
	}
	return series;
}

/*
 * The series of family with these labels, created if new; takes ownership
 * of labels. Called with the lock held.
 */
static struct metrics_series *metrics_series_get(struct metrics_family *family,
						 char *labels)
{
	struct metrics_series *series;
	size_t i;

	for (i = 0; i < family->nseries &&
	     strcmp(family->series[i]->labels, labels) < 0; i++)
		;
	if (i < family->nseries && strcmp(family->series[i]->labels, labels) == 0) {
		free(labels);
		return family->series[i];
	}
	series = metrics_series_new(family, labels);
	family->series = xreallocarray(family->series, family->nseries + 1,
				       sizeof(*family->series));
	memmove(&family->series[i + 1], &family->series[i],
		(family->nseries - i) * sizeof(*family->series));
	family->series[i] = series;
	family->nseries++;
	return series;
}

static struct metrics_series *metrics_register(struct metrics *reg,
					       const struct metrics_desc *d,
					       va_list ap)
{
	struct metrics_label labels[METRICS_LABELS_MAX];
	struct metrics_family *family;
	struct metrics_series *series;
	char *text;
	size_t n;

	metrics_desc_check(d);
	n = metrics_labels_read(d, ap, labels);
	text = metrics_labels_text(d->name, labels, n);
	pthread_mutex_lock(&reg->lock);
	family = metrics_family_get(reg, d);
	series = metrics_series_get(family, text);
	pthread_mutex_unlock(&reg->lock);
	return series;
}

struct metrics *metrics_new(void)
{
	struct metrics *reg = xcalloc(1, sizeof(*reg));

	pthread_mutex_init(&reg->lock, NULL);
	return reg;
}

static void metrics_family_free(struct metrics_family *family)
{
	for (size_t i = 0; i < family->nseries; i++) {
		free(family->series[i]->labels);
		if (family->type == METRICS_HISTOGRAM)
			free(family->series[i]->u.histogram.buckets);
		free(family->series[i]);
	}
	free(family->series);
	free(family->bounds);
	free(family->help);
	free(family->name);
	free(family);
}

void metrics_free(struct metrics *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->nfamilies; i++)
		metrics_family_free(reg->families[i]);
	free(reg->families);
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

struct metrics_counter *metrics_counter(struct metrics *reg, const char *name,
					const char *help, ...)
{
	struct metrics_desc d = { name, help, METRICS_COUNTER, NULL, 0 };
	struct metrics_series *series;
	va_list ap;

	va_start(ap, help);
	series = metrics_register(reg, &d, ap);
	va_end(ap);
	return &series->u.counter;
}

void metrics_counter_add(struct metrics_counter *counter, uint64_t n)
{
	atomic_fetch_add_explicit(&counter->value, n, memory_order_relaxed);
}

uint64_t metrics_counter_get(const struct metrics_counter *counter)
{
	return atomic_load_explicit(&counter->value, memory_order_relaxed);
}

struct metrics_gauge *metrics_gauge(struct metrics *reg, const char *name,
				    const char *help, ...)
{
	struct metrics_desc d = { name, help, METRICS_GAUGE, NULL, 0 };
	struct metrics_series *series;
	va_list ap;

	va_start(ap, help);
	series = metrics_register(reg, &d, ap);
	va_end(ap);
	return &series->u.gauge;
}

void metrics_gauge_set(struct metrics_gauge *gauge, double value)
{
	atomic_store_explicit(&gauge->bits, metrics_bits(value), memory_order_relaxed);
}

void metrics_gauge_add(struct metrics_gauge *gauge, double delta)
{
	metrics_double_add(&gauge->bits, delta);
}

double metrics_gauge_get(const struct metrics_gauge *gauge)
{
	return metrics_double(atomic_load_explicit(&gauge->bits, memory_order_relaxed));
}

struct metrics_histogram *metrics_histogram(struct metrics *reg,
					    const char *name, const char *help,
					    const double *bounds, size_t nbounds,
					    ...)
{
	struct metrics_desc d = { name, help, METRICS_HISTOGRAM, bounds, nbounds };
	struct metrics_series *series;
	va_list ap;

	if (!bounds) {
		d.bounds = metrics_default_bounds;
		d.nbounds = sizeof(metrics_default_bounds) / sizeof(double);
	}
	va_start(ap, nbounds);
	series = metrics_register(reg, &d, ap);
	va_end(ap);
	return &series->u.histogram;
}

void metrics_histogram_observe(struct metrics_histogram *histogram, double value)
{
	size_t i = 0;

	while (i < histogram->nbounds && value > histogram->bounds[i])
		i++;
	atomic_fetch_add_explicit(&histogram->buckets[i], 1, memory_order_relaxed);
	metrics_double_add(&histogram->sum_bits, value);
}

/*
 * The shortest text that reads back as value, with the exposition format's
 * spelling of the special values. Assumes the "C" locale's decimal point,
 * which logtally never changes.
 */
static void metrics_format(double value, char text[METRICS_NUMBER_MAX])
{
	if (isnan(value)) {
		strcpy(text, "NaN");
		return;
	}
	if (isinf(value)) {
		strcpy(text, value > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int precision = 15; precision <= 17; precision++) {
		snprintf(text, METRICS_NUMBER_MAX, "%.*g", precision, value);
		if (strtod(text, NULL) == value)
			break;
	}
}

/* One line: name+suffix{labels,le="le"} value; le may be NULL. */
static int metrics_sample(struct buf *out, const char *name, const char *suffix,
			  const char *labels, const char *le, const char *value)
{
	int rc;

	rc = buf_printf(out, "%s%s", name, suffix);
	if (!rc && *labels)
		rc = buf_printf(out, "{%s", labels);
	if (!rc && le)
		rc = buf_printf(out, "%sle=\"%s\"", *labels ? "," : "{", le);
	if (!rc && (*labels || le))
		rc = buf_addc(out, '}');
	if (!rc)
		rc = buf_printf(out, " %s\n", value);
	return rc;
}

/*
 * Buckets are stored apart and summed here, so _count is the +Inf bucket
 * even while observations arrive.
 */
static int metrics_render_histogram(const struct metrics_family *family,
				    const struct metrics_series *series,
				    struct buf *out)
{
	const struct metrics_histogram *histogram = &series->u.histogram;
	char le[METRICS_NUMBER_MAX], value[METRICS_NUMBER_MAX];
	uint64_t total = 0;
	int rc = 0;

	for (size_t i = 0; i <= histogram->nbounds && !rc; i++) {
		total += atomic_load_explicit(&histogram->buckets[i],
					      memory_order_relaxed);
		if (i < histogram->nbounds)
			metrics_format(histogram->bounds[i], le);
		else
			strcpy(le, "+Inf");
		snprintf(value, sizeof(value), "%" PRIu64, total);
		rc = metrics_sample(out, family->name, "_bucket", series->labels, le, value);
	}
	metrics_format(metrics_double(atomic_load_explicit(&histogram->sum_bits,
							   memory_order_relaxed)), value);
	if (!rc)
		rc = metrics_sample(out, family->name, "_sum", series->labels, NULL, value);
	snprintf(value, sizeof(value), "%" PRIu64, total);
	if (!rc)
		rc = metrics_sample(out, family->name, "_count", series->labels, NULL, value);
	return rc;
}

static int metrics_render_series(const struct metrics_family *family,
				 const struct metrics_series *series,
				 struct buf *out)
{
	char value[METRICS_NUMBER_MAX];

	switch (family->type) {
	case METRICS_COUNTER:
		snprintf(value, sizeof(value), "%" PRIu64,
			 metrics_counter_get(&series->u.counter));
		break;
	case METRICS_GAUGE:
		metrics_format(metrics_gauge_get(&series->u.gauge), value);
		break;
	case METRICS_HISTOGRAM:
		return metrics_render_histogram(family, series, out);
	}
	return metrics_sample(out, family->name, "", series->labels, NULL, value);
}

static int metrics_render_family(const struct metrics_family *family,
				 struct buf *out)
{
	int rc;

	rc = buf_printf(out, "# HELP %s ", family->name);
	if (!rc)
		rc = metrics_escape(out, family->help, false);
	if (!rc)
		rc = buf_printf(out, "\n# TYPE %s %s\n", family->name,
				metrics_type_names[family->type]);
	for (size_t i = 0; i < family->nseries && !rc; i++)
		rc = metrics_render_series(family, family->series[i], out);
	return rc;
}

int metrics_render(struct metrics *reg, struct buf *out)
{
	size_t start = buf_len(out);
	int rc = 0;

	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->nfamilies && !rc; i++)
		rc = metrics_render_family(reg->families[i], out);
	pthread_mutex_unlock(&reg->lock);
	if (rc)
		buf_truncate(out, start);
	return rc;
}
