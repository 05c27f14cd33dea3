/*
 * dimensions: what is counted of a parsed line. A dimension counts a line
 * only when all its when conditions hold (is: exact values or, for status,
 * classes such as 5xx; match, not_match: patterns on the field as logged).
 * Each configured dimension takes one field of the record (accesslog), or
 * referer_host, the referring site, optionally runs its match
 * pattern over the percent-decoded value (every match counts; capture 1
 * when the pattern has one, else the whole match) and optionally lowercases
 * the result (ASCII and the Latin letters of U+00C0..U+024F). Without match
 * the field's text is the value, verbatim. Every value handed out is valid
 * UTF-8 of at most SCHEMA_VALUE_CHARS characters, the counts table's value
 * column (longer ones are cut at a character boundary), and never empty.
 * Position in the pipeline: accesslog -> dimensions -> window.
 */
#ifndef LOGTALLY_DIMENSIONS_H
#define LOGTALLY_DIMENSIONS_H

#include <stddef.h>

#include "accesslog.h"
#include "config.h"
#include "schema.h"

/* Most bytes of a referer host: a longer one is no DNS name and yields nothing. */
#define DIMENSIONS_HOST_MAX 255

struct dimensions;

/*
 * Dimensions from list, a config_list of struct aggregator_dimension
 * (aggregator_config.h), resolved against the fields of lp (and
 * referer_host, when lp has a referer). Returns NULL with the reason in
 * err ("dimension 'x': no field 'y' in the log format", for from or a
 * condition; a pattern that does not compile). Patterns are compiled once,
 * with JIT. Copies what it needs from list;
 * lp must outlive the result. Free with dimensions_free(). One thread.
 * A match sees only the first 4 MiB of a field; the scratch memory held
 * stays under 12 MiB.
 */
struct dimensions *dimensions_new(const struct config_list *list,
				  const struct accesslog *lp,
				  char *err, size_t errlen);

void dimensions_free(struct dimensions *dims);

size_t dimensions_count(const struct dimensions *dims);

/* The name of dimension i; borrowed. */
const char *dimensions_name(const struct dimensions *dims, size_t i);

/*
 * Called once per value: dimension index, the value (not NUL-terminated,
 * borrowed until the callback returns), its length in bytes.
 */
typedef void (*dimensions_emit_fn)(void *arg, size_t dim, const char *value,
				   size_t len);

/*
 * Hand every value of rec to emit, dimension by dimension in configuration
 * order, skipping the dimensions whose when conditions do not all hold. A
 * field that is absent or empty yields nothing for its dimension.
 * Returns the number of values emitted.
 */
size_t dimensions_extract(struct dimensions *dims,
			  const struct accesslog_record *rec,
			  dimensions_emit_fn emit, void *arg);

/*
 * Percent-decode s[0..len) into out, which needs room for 3 * len bytes:
 * "%HH" (either case) becomes the byte, '+' stays '+', a malformed '%'
 * stays as is. Bytes that do not form valid UTF-8 afterwards become U+FFFD,
 * one per maximal invalid subpart (as common/message does), so the result
 * is valid UTF-8. Returns the length written. Exposed for tests.
 */
size_t dimensions_percent_decode(const char *s, size_t len, char *out);

/*
 * The referring site of a referer, s[0..len): the host of
 * "scheme://[user@]host[:port][/...]" or "//host...", without port or
 * user, lowercased into out (DIMENSIONS_HOST_MAX bytes). An IPv6 literal
 * keeps its brackets ("[::1]"), as a URL writes it. Returns its length, or
 * 0 when there is none: "-", empty, no scheme ("example.com/x" may be a
 * path), an empty or bracket-less host, whitespace or a control byte in
 * it, or one longer than DIMENSIONS_HOST_MAX. Exposed for tests.
 */
size_t dimensions_referer_host(const char *s, size_t len, char *out);

/*
 * Lowercase valid UTF-8 s[0..len) into out, which may be s (same length:
 * the letters covered map to letters of the same encoded length; others,
 * such as U+0130, stay as they are). Returns len.
 */
size_t dimensions_lowercase(const char *s, size_t len, char *out);

#endif
