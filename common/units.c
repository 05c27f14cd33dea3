/*
 * units: parsing and printing of durations and sizes. Hand-written because
 * the grammar is tiny and the errors must say exactly what is wrong; every
 * multiplication is checked so that "99999999999d" is refused, not wrapped.
 */
#include "units.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct units_unit {
	const char *name;
	uint64_t factor;
};

static const struct units_unit units_durations[] = {
	{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};

static const struct units_unit units_sizes[] = {
	{"B", 1},
	{"KB", 1000ULL}, {"MB", 1000000ULL}, {"GB", 1000000000ULL},
	{"TB", 1000000000000ULL},
	{"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30},
	{"TiB", 1ULL << 40},
};

#define UNITS_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Read decimal digits at *p into *value; -ERANGE past max, -EINVAL if none. */
static int units_number(const char **p, uint64_t max, uint64_t *value)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t digit = (uint64_t)(*s - '0');

		if (v > (max - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	*p = s;
	*value = v;
	return 0;
}

/* Find the unit spelled at *p (the longest match, case-sensitive first). */
static const struct units_unit *units_unit(const char **p,
					   const struct units_unit *table,
					   size_t n, int ignore_case)
{
	const struct units_unit *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(table[i].name);
		int same = ignore_case ? !strncasecmp(*p, table[i].name, len)
				       : !strncmp(*p, table[i].name, len);

		if (same && len > best_len) {
			best = &table[i];
			best_len = len;
		}
	}
	*p += best_len;
	return best;
}

static int units_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int units_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int units_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen)
{
	const char *p = s;
	uint64_t total = 0;

	if (!strcmp(s, "0")) {
		*ms = 0;
		return 0;
	}
	while (*p) {
		const struct units_unit *unit;
		uint64_t n;
		int rc = units_number(&p, INT64_MAX, &n);

		if (rc == -ERANGE)
			return units_fail(err, errlen, "duration '%s' is too large", s);
		if (rc < 0)
			return units_fail(err, errlen,
					  "invalid duration '%s' (expected a number and a unit: 500ms, 5s, 1m, 1h, 2d)", s);
		unit = units_unit(&p, units_durations, UNITS_COUNT(units_durations), 0);
		if (!unit)
			return units_fail(err, errlen,
					  "duration '%s' needs a unit after each number (ms, s, m, h, d)", s);
		if (n > (uint64_t)INT64_MAX / unit->factor ||
		    total > (uint64_t)INT64_MAX - n * unit->factor)
			return units_fail(err, errlen, "duration '%s' is too large", s);
		total += n * unit->factor;
	}
	if (p == s)
		return units_fail(err, errlen, "empty duration");
	*ms = (int64_t)total;
	return 0;
}

int units_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	const struct units_unit *unit = &units_sizes[0];
	const char *p = s;
	uint64_t n;
	int rc = units_number(&p, UINT64_MAX, &n);

	if (rc == -ERANGE)
		return units_fail(err, errlen, "size '%s' is too large", s);
	if (rc < 0)
		return units_fail(err, errlen,
				  "invalid size '%s' (expected a number and an optional unit: 512, 64KiB, 16MiB, 1GB)", s);
	if (*p) {
		unit = units_unit(&p, units_sizes, UNITS_COUNT(units_sizes), 1);
		if (!unit || *p)
			return units_fail(err, errlen,
					  "unknown unit in size '%s' (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s);
	}
	if (n > UINT64_MAX / unit->factor)
		return units_fail(err, errlen, "size '%s' is too large", s);
	*bytes = n * unit->factor;
	return 0;
}

void units_format_duration(int64_t ms, char *out, size_t outlen)
{
	size_t i = UNITS_COUNT(units_durations);

	if (ms == 0) {
		snprintf(out, outlen, "0");
		return;
	}
	while (--i > 0 && ms % (int64_t)units_durations[i].factor != 0)
		;
	snprintf(out, outlen, "%lld%s", (long long)(ms / (int64_t)units_durations[i].factor),
		 units_durations[i].name);
}

void units_format_size(uint64_t bytes, char *out, size_t outlen)
{
	static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t i = 0;

	while (i + 1 < UNITS_COUNT(names) && bytes && bytes % 1024 == 0) {
		bytes /= 1024;
		i++;
	}
	snprintf(out, outlen, "%llu%s", (unsigned long long)bytes, names[i]);
}
