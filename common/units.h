/*
 * units: durations and sizes as people write them in configuration files.
 * Durations are one or more <integer><unit> terms ("500ms", "5s", "1h30m",
 * "2d"); sizes are an integer with an optional unit, decimal (KB, MB, GB, TB)
 * or binary (KiB, MiB, GiB, TiB). Both reject overflow, signs and fractions.
 */
#ifndef LOGTALLY_UNITS_H
#define LOGTALLY_UNITS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse a duration into milliseconds. "0" alone is allowed without a unit.
 * Returns 0, or -EINVAL with a reason in err (which may be NULL).
 */
int units_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen);

/*
 * Parse a size into bytes: "512", "512B", "64KiB", "1GB".
 * Returns 0, or -EINVAL with a reason in err (which may be NULL).
 */
int units_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen);

/* Write ms in the largest exact unit ("90s", "1m", "500ms") into out. */
void units_format_duration(int64_t ms, char *out, size_t outlen);

/* Write bytes in the largest exact binary unit ("16MiB", "1000B") into out. */
void units_format_size(uint64_t bytes, char *out, size_t outlen);

#endif
