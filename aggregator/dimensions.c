/*
 * dimensions: from a parsed record to the values counted. A dimension's
 * when conditions are checked first, on the spans as logged (exact bytes
 * for is, a JIT-compiled pattern for match), so that a line that does not
 * count costs no decoding. A value without
 * match is the field's span itself, handed out without a copy when it is
 * valid UTF-8, short enough and not lowercased; otherwise it is rewritten
 * into dims->value (4 bytes per character at most, so a fixed array). A
 * match runs over the percent-decoded, repaired field in dims->subject,
 * or over the span itself when it holds no '%' and is valid UTF-8, so the
 * pattern always sees valid UTF-8 and matches end on character boundaries.
 * Nothing is allocated per line once dims->subject has grown to the
 * largest field seen (at most 3 * DIMENSIONS_MATCH_INPUT_MAX bytes).
 */
#include "dimensions.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <locale.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "aggregator_config.h"
#include "confcheck.h"
#include "utf8.h"
#include "xalloc.h"

/*
 * Only this many leading bytes of a field are decoded and searched by a
 * match (the agent's lines go up to 64 MiB): the scratch buffer stays
 * under 3 times this, and a longer field's tail is not searched.
 */
#define DIMENSIONS_MATCH_INPUT_MAX ((size_t)4 << 20)
/* The Latin letters lowercased beside ASCII: U+00C0..U+024F. */
#define DIMENSIONS_LATIN_FIRST 0xc0
#define DIMENSIONS_LATIN_END 0x250

/* Where a value or a condition's text comes from. */
struct dimensions_source {
	size_t field;
	bool host;                      /* the host of field, the referer */
};

/* An item of a condition's is: bytes; when wild, an 'x' is any digit. */
struct dimensions_value {
	char *text;
	size_t len;
	bool wild;                      /* a status class such as 5xx */
};

struct dimensions_cond {
	struct dimensions_source src;
	size_t n_is;
	struct dimensions_value *is;    /* none: no is; else one must equal */
	pcre2_code *match;              /* NULL or must match */
	pcre2_code *not_match;          /* NULL or must not match */
};

struct dimensions_dim {
	char *name;
	struct dimensions_source src;
	pcre2_code *re;                 /* NULL: the field's text is the value */
	bool capture;                   /* re has a group: capture 1 is the value */
	bool lowercase;
	size_t n_when;
	struct dimensions_cond *when;   /* all must hold for the line to count */
};

struct dimensions {
	size_t n;
	struct dimensions_dim *dim;
	pcre2_match_data *md;           /* two pairs: the match and capture 1 */
	char *subject;                  /* the decoded field a match runs over */
	size_t subject_cap;
	char value[SCHEMA_VALUE_BYTES];         /* a value that was rewritten */
	char host[DIMENSIONS_HOST_MAX];         /* the last referer host derived */
};

/* --- UTF-8 ------------------------------------------------------------ */


/* Bytes of plain ASCII at the start of p[0..n), read a word at a time. */
static size_t dimensions_ascii_run(const unsigned char *p, size_t n)
{
	uint64_t w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		if (w & 0x8080808080808080u)
			break;
	}
	while (i < n && p[i] < 0x80)
		i++;
	return i;
}

/*
 * Bytes of the longest valid prefix of s[0..n) that holds at most max
 * characters; *chars gets their number.
 */
static size_t dimensions_utf8_prefix(const char *s, size_t n, size_t max,
				     size_t *chars)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, c = 0, k;
	bool bad;

	while (i < n && c < max) {
		k = dimensions_ascii_run(p + i, n - i < max - c ? n - i : max - c);
		if (k) {
			i += k;
			c += k;
			continue;
		}
		k = utf8_seq(p + i, n - i, &bad);
		if (bad)
			break;
		i += k;
		c++;
	}
	*chars = c;
	return i;
}

/*
 * Writes s[0..n), each maximal invalid subpart replaced by U+FFFD, to out,
 * up to max characters; returns the length written. Each step reads its
 * bytes before writing at most 3 per byte read, so out may start up to
 * 2 * n bytes before s in the same buffer (dimensions_percent_decode()).
 */
static size_t dimensions_utf8_repair(const char *s, size_t n, size_t max,
				     char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, c = 0, k;
	bool bad;

	while (i < n && c < max) {
		k = dimensions_ascii_run(p + i, n - i < max - c ? n - i : max - c);
		bad = false;
		if (k) {
			c += k;
		} else {
			k = utf8_seq(p + i, n - i, &bad);
			c++;
		}
		if (bad) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
		} else {
			memmove(out + o, p + i, k);
			o += k;
		}
		i += k;
	}
	return o;
}

/* --- percent-decoding and lowercasing ---------------------------------- */

static int dimensions_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "%HH" of s[0..len) into bytes at out; returns the length written. */
static size_t dimensions_unescape(const char *s, size_t len, char *out)
{
	const char *pct;
	size_t i = 0, o = 0, run;
	int hi, lo;

	while (i < len) {
		pct = memchr(s + i, '%', len - i);
		run = pct ? (size_t)(pct - (s + i)) : len - i;
		memcpy(out + o, s + i, run);
		o += run;
		i += run;
		if (i == len)
			break;
		hi = len - i >= 3 ? dimensions_hex((unsigned char)s[i + 1]) : -1;
		lo = hi >= 0 ? dimensions_hex((unsigned char)s[i + 2]) : -1;
		if (lo >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 3;
		} else {
			out[o++] = s[i++];
		}
	}
	return o;
}

size_t dimensions_percent_decode(const char *s, size_t len, char *out)
{
	/* Decode to the last third, then repair forward into the first. */
	char *tail = out + 2 * len;
	size_t n = dimensions_unescape(s, len, tail);

	return dimensions_utf8_repair(tail, n, SIZE_MAX, out);
}

/*
 * The lowercase of U+00C0..U+024F, from the C library's Unicode tables,
 * kept only when it is a lowercase letter of two UTF-8 bytes like its
 * capital (U+0130 'İ' -> 'i' and U+023A -> U+2C65 are not). Built once.
 */
static uint16_t dimensions_latin_lower[DIMENSIONS_LATIN_END - DIMENSIONS_LATIN_FIRST];
static bool dimensions_latin_ready;
static pthread_once_t dimensions_latin_once = PTHREAD_ONCE_INIT;

static void dimensions_latin_init(void)
{
	locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	wint_t cp, lo;

	for (cp = DIMENSIONS_LATIN_FIRST; cp < DIMENSIONS_LATIN_END; cp++) {
		lo = loc ? towlower_l(cp, loc) : cp;
		if (!loc || lo < 0x80 || lo >= 0x800 || !iswlower_l(lo, loc))
			lo = cp;
		dimensions_latin_lower[cp - DIMENSIONS_LATIN_FIRST] = (uint16_t)lo;
	}
	dimensions_latin_ready = loc != (locale_t)0;
	if (loc)
		freelocale(loc);
}

size_t dimensions_lowercase(const char *s, size_t len, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned cp;
	size_t i;

	pthread_once(&dimensions_latin_once, dimensions_latin_init);
	for (i = 0; i < len; i++) {
		if (p[i] >= 'A' && p[i] <= 'Z') {
			out[i] = (char)(p[i] | 0x20);
		} else if (p[i] >= 0xc3 && p[i] <= 0xc9 && i + 1 < len &&
			   (p[i + 1] & 0xc0) == 0x80) {
			cp = (unsigned)(p[i] & 0x1f) << 6 | (p[i + 1] & 0x3f);
			if (cp >= DIMENSIONS_LATIN_FIRST && cp < DIMENSIONS_LATIN_END)
				cp = dimensions_latin_lower[cp - DIMENSIONS_LATIN_FIRST];
			out[i] = (char)(0xc0 | cp >> 6);
			out[++i] = (char)(0x80 | (cp & 0x3f));
		} else {
			out[i] = (char)p[i];
		}
	}
	return len;
}

/* --- the referring site ------------------------------------------------ */

/* Bytes of a URI scheme and its "://" at the start of s[0..len), or 0. */
static size_t dimensions_scheme(const char *s, size_t len)
{
	size_t i = 1;

	if (!len || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
		return 0;
	while (i < len && (((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z') ||
			   (s[i] >= '0' && s[i] <= '9') || strchr("+-.", s[i])))
		i++;
	return len - i >= 3 && !memcmp(s + i, "://", 3) ? i + 3 : 0;
}

size_t dimensions_referer_host(const char *s, size_t len, char *out)
{
	const char *end = s + len, *p, *stop, *q;
	size_t n;

	if (len >= 2 && s[0] == '/' && s[1] == '/')
		p = s + 2;
	else if ((n = dimensions_scheme(s, len)))
		p = s + n;
	else
		return 0;
	for (stop = p; stop < end && !strchr("/?#", *stop); stop++)
		;
	for (q = stop; q > p; q--) {
		if (q[-1] == '@') {             /* user:password@ */
			p = q;
			break;
		}
	}
	if (p < stop && *p == '[') {
		q = memchr(p, ']', (size_t)(stop - p));
		q = q ? q + 1 : p;              /* no ']': no host */
	} else {
		q = memchr(p, ':', (size_t)(stop - p));
		if (!q)
			q = stop;
	}
	n = (size_t)(q - p);
	if (n == 0 || n > DIMENSIONS_HOST_MAX || (*p == '[' && n < 3))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
			return 0;
	return dimensions_lowercase(p, n, out);
}

/*
 * The text of src in rec: a span of the line, or the referer's host in
 * dims->host. NULL when the field is absent or empty, or has no host.
 */
static const char *dimensions_source_text(struct dimensions *dims,
					  const struct dimensions_source *src,
					  const struct accesslog_record *rec,
					  size_t *len)
{
	const struct accesslog_span *f = &rec->fields[src->field];

	if (!f->p || !f->len)
		return NULL;
	if (!src->host) {
		*len = f->len;
		return f->p;
	}
	*len = dimensions_referer_host(f->p, f->len, dims->host);
	return *len ? dims->host : NULL;
}

/* --- lifecycle -------------------------------------------------------- */

/* Compile pattern for dimension name into *re, with JIT when it can. */
static int dimensions_compile(const char *name, const char *what,
			      const char *pattern, pcre2_code **re,
			      char *err, size_t errlen)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE offset;
	int code;

	*re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
			    confcheck_regex_options() | PCRE2_MATCH_INVALID_UTF,
			    &code, &offset, NULL);
	if (!*re) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(err, errlen, "dimension '%s': %s pattern at offset %zu: %s",
			 name, what, (size_t)offset, (const char *)msg);
		return -EINVAL;
	}
	/* Without JIT (unsupported CPU) pcre2_match() interprets: same results. */
	pcre2_jit_compile(*re, PCRE2_JIT_COMPLETE);
	return 0;
}

/*
 * src for the field called name: one of lp's, else referer_host, the
 * host of lp's referer (a custom pattern's own referer_host group wins).
 */
static int dimensions_source_init(struct dimensions_source *src,
				  const struct accesslog *lp, const char *dim,
				  const char *name, char *err, size_t errlen)
{
	int field = accesslog_field_index(lp, name);

	src->host = false;
	if (field < 0 && !strcmp(name, "referer_host")) {
		field = accesslog_field_index(lp, "referer");
		src->host = true;
	}
	if (field < 0) {
		snprintf(err, errlen, "dimension '%s': no field '%s' in the log format",
			 dim, name);
		return -EINVAL;
	}
	src->field = (size_t)field;
	return 0;
}

static int dimensions_cond_init(struct dimensions_cond *c, const char *dim,
				const struct aggregator_condition *cfg,
				const struct accesslog *lp, char *err, size_t errlen)
{
	bool status = !strcmp(cfg->field, "status");
	int rc;

	rc = dimensions_source_init(&c->src, lp, dim, cfg->field, err, errlen);
	if (rc)
		return rc;
	c->n_is = cfg->is.n;
	c->is = xcalloc(cfg->is.n ? cfg->is.n : 1, sizeof(*c->is));
	for (size_t i = 0; i < cfg->is.n; i++) {
		c->is[i].text = xstrdup(cfg->is.items[i]);
		c->is[i].len = strlen(c->is[i].text);
		c->is[i].wild = status && strchr(c->is[i].text, 'x');
	}
	if (cfg->match && *cfg->match &&
	    (rc = dimensions_compile(dim, "when match", cfg->match, &c->match, err, errlen)))
		return rc;
	if (cfg->not_match && *cfg->not_match)
		rc = dimensions_compile(dim, "when not_match", cfg->not_match,
					&c->not_match, err, errlen);
	return rc;
}

static int dimensions_when_init(struct dimensions_dim *d,
				const struct aggregator_dimension *cfg,
				const struct accesslog *lp, char *err, size_t errlen)
{
	int rc = 0;

	d->when = xcalloc(cfg->when.n ? cfg->when.n : 1, sizeof(*d->when));
	for (size_t i = 0; i < cfg->when.n && !rc; i++, d->n_when++)
		rc = dimensions_cond_init(&d->when[i], d->name,
					  CONFIG_ITEM(cfg->when, struct aggregator_condition, i),
					  lp, err, errlen);
	return rc;
}

static int dimensions_dim_init(struct dimensions_dim *d,
			       const struct aggregator_dimension *cfg,
			       const struct accesslog *lp, char *err, size_t errlen)
{
	uint32_t groups = 0;
	int rc;

	d->name = xstrdup(cfg->name ? cfg->name : "");
	if (!d->name[0] || strlen(d->name) > SCHEMA_DIMENSION_CHARS) {
		snprintf(err, errlen, "dimension '%s': a name of 1 to %d bytes is needed",
			 d->name, SCHEMA_DIMENSION_CHARS);
		return -EINVAL;
	}
	rc = dimensions_source_init(&d->src, lp, d->name, cfg->from ? cfg->from : "",
				    err, errlen);
	if (rc)
		return rc;
	d->lowercase = cfg->lowercase;
	if (d->lowercase && !dimensions_latin_ready) {
		snprintf(err, errlen, "dimension '%s': lowercase needs the C.UTF-8 locale",
			 d->name);
		return -ENOENT;
	}
	rc = dimensions_when_init(d, cfg, lp, err, errlen);
	if (rc || !cfg->match || !cfg->match[0])
		return rc;
	rc = dimensions_compile(d->name, "match", cfg->match, &d->re, err, errlen);
	if (!rc)
		pcre2_pattern_info(d->re, PCRE2_INFO_CAPTURECOUNT, &groups);
	d->capture = groups > 0;
	return rc;
}

static void dimensions_dim_fini(struct dimensions_dim *d)
{
	for (size_t i = 0; i < d->n_when; i++) {
		for (size_t j = 0; j < d->when[i].n_is; j++)
			free(d->when[i].is[j].text);
		free(d->when[i].is);
		pcre2_code_free(d->when[i].match);
		pcre2_code_free(d->when[i].not_match);
	}
	free(d->when);
	free(d->name);
	pcre2_code_free(d->re);
}

struct dimensions *dimensions_new(const struct config_list *list,
				  const struct accesslog *lp,
				  char *err, size_t errlen)
{
	struct dimensions *dims = xcalloc(1, sizeof(*dims));
	size_t i;

	pthread_once(&dimensions_latin_once, dimensions_latin_init);
	dims->n = list->n;
	dims->dim = xcalloc(list->n ? list->n : 1, sizeof(*dims->dim));
	dims->md = pcre2_match_data_create(2, NULL);
	if (!dims->md) {
		fprintf(stderr, "out of memory for a pcre2 match block\n");
		abort();
	}
	for (i = 0; i < list->n; i++) {
		if (dimensions_dim_init(&dims->dim[i],
					CONFIG_ITEM(*list, struct aggregator_dimension, i),
					lp, err, errlen)) {
			dimensions_free(dims);
			return NULL;
		}
	}
	return dims;
}

void dimensions_free(struct dimensions *dims)
{
	size_t i;

	if (!dims)
		return;
	for (i = 0; i < dims->n; i++)
		dimensions_dim_fini(&dims->dim[i]);
	free(dims->dim);
	pcre2_match_data_free(dims->md);
	free(dims->subject);
	free(dims);
}

size_t dimensions_count(const struct dimensions *dims)
{
	return dims->n;
}

const char *dimensions_name(const struct dimensions *dims, size_t i)
{
	return dims->dim[i].name;
}

/* --- extraction ------------------------------------------------------- */

/*
 * Emits s[0..len) as a value of dimension i: repaired if it is not valid
 * UTF-8, cut to SCHEMA_VALUE_CHARS characters, lowercased if asked.
 * Returns the number of values emitted (0 for an empty one).
 */
static size_t dimensions_emit_value(struct dimensions *dims, size_t i,
				    const char *s, size_t len,
				    dimensions_emit_fn emit, void *arg)
{
	const char *v = s;
	size_t chars, n;

	n = dimensions_utf8_prefix(s, len, SCHEMA_VALUE_CHARS, &chars);
	if (n < len && chars < SCHEMA_VALUE_CHARS) {
		n = dimensions_utf8_repair(s, len, SCHEMA_VALUE_CHARS, dims->value);
		v = dims->value;
	}
	if (n == 0)
		return 0;
	if (dims->dim[i].lowercase) {
		dimensions_lowercase(v, n, dims->value);
		v = dims->value;
	}
	emit(arg, i, v, n);
	return 1;
}

/* Room for n bytes in dims->subject; its content is not kept. */
static void dimensions_reserve(struct dimensions *dims, size_t n)
{
	size_t cap = dims->subject_cap ? dims->subject_cap : 4096;

	if (n <= dims->subject_cap)
		return;
	while (cap < n)
		cap *= 2;
	free(dims->subject);
	dims->subject = xcalloc(1, cap);   /* JIT may read past a subject's end */
	dims->subject_cap = cap;
}

/* The text a match runs over: s itself, or its decoded and repaired copy. */
static const char *dimensions_subject(struct dimensions *dims, const char *s,
				      size_t len, size_t *outlen)
{
	size_t chars;

	if (len > DIMENSIONS_MATCH_INPUT_MAX)
		len = DIMENSIONS_MATCH_INPUT_MAX;
	if (!memchr(s, '%', len) &&
	    dimensions_utf8_prefix(s, len, SIZE_MAX, &chars) == len) {
		*outlen = len;
		return s;
	}
	dimensions_reserve(dims, 3 * len);
	*outlen = dimensions_percent_decode(s, len, dims->subject);
	return dims->subject;
}

/* Bytes of the character at s[at], s being valid UTF-8. */
static size_t dimensions_char_len(const char *s, size_t at)
{
	unsigned char c = (unsigned char)s[at];

	return c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/*
 * Every match of dimension i's pattern in s[0..len), valid UTF-8. After an
 * empty match the search goes on one character further, so that a pattern
 * that can match nothing still ends.
 */
static size_t dimensions_match(struct dimensions *dims, size_t i,
			       const char *s, size_t len,
			       dimensions_emit_fn emit, void *arg)
{
	const struct dimensions_dim *d = &dims->dim[i];
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(dims->md);
	size_t start = 0, count = 0, a, b;

	while (start <= len) {
		/* rc 0 means more groups than pairs: the first two are set. */
		if (pcre2_match(d->re, (PCRE2_SPTR)s, len, start, 0, dims->md,
				NULL) < 0)
			break;
		a = ov[d->capture ? 2 : 0];
		b = ov[d->capture ? 3 : 1];
		if (a != PCRE2_UNSET && b > a)
			count += dimensions_emit_value(dims, i, s + a, b - a, emit, arg);
		if (ov[1] > ov[0])
			start = ov[1];
		else
			start = ov[0] + (ov[0] < len ? dimensions_char_len(s, ov[0]) : 1);
	}
	return count;
}

/* --- conditions -------------------------------------------------------- */

/* Whether s[0..len) is v: the same bytes, an 'x' of a wild v any digit. */
static bool dimensions_value_is(const struct dimensions_value *v,
				const char *s, size_t len)
{
	if (len != v->len)
		return false;
	if (!v->wild)
		return !memcmp(s, v->text, len);
	for (size_t i = 0; i < len; i++) {
		if (v->text[i] == 'x' ? s[i] < '0' || s[i] > '9' : s[i] != v->text[i])
			return false;
	}
	return true;
}

/* Whether re matches somewhere in the first DIMENSIONS_MATCH_INPUT_MAX bytes. */
static bool dimensions_found(struct dimensions *dims, const pcre2_code *re,
			     const char *s, size_t len)
{
	if (len > DIMENSIONS_MATCH_INPUT_MAX)
		len = DIMENSIONS_MATCH_INPUT_MAX;
	return pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, dims->md, NULL) >= 0;
}

/*
 * Whether c holds for rec. An absent field (or a referer without a host)
 * is no value and matches no pattern: is and match fail, not_match holds.
 */
static bool dimensions_cond_holds(struct dimensions *dims,
				  const struct dimensions_cond *c,
				  const struct accesslog_record *rec)
{
	size_t len = 0, i;
	const char *s = dimensions_source_text(dims, &c->src, rec, &len);

	if (c->n_is) {
		for (i = 0; s && i < c->n_is && !dimensions_value_is(&c->is[i], s, len); i++)
			;
		if (!s || i == c->n_is)
			return false;
	}
	if (c->match && (!s || !dimensions_found(dims, c->match, s, len)))
		return false;
	return !c->not_match || !s || !dimensions_found(dims, c->not_match, s, len);
}

/* --- extraction, continued ---------------------------------------------- */

size_t dimensions_extract(struct dimensions *dims,
			  const struct accesslog_record *rec,
			  dimensions_emit_fn emit, void *arg)
{
	const struct dimensions_dim *d;
	const char *s;
	size_t i, j, count = 0, len;

	for (i = 0; i < dims->n; i++) {
		d = &dims->dim[i];
		for (j = 0; j < d->n_when && dimensions_cond_holds(dims, &d->when[j], rec); j++)
			;
		if (j < d->n_when)
			continue;
		s = dimensions_source_text(dims, &d->src, rec, &len);
		if (!s)
			continue;
		if (!d->re) {
			count += dimensions_emit_value(dims, i, s, len, emit, arg);
			continue;
		}
		s = dimensions_subject(dims, s, len, &len);
		count += dimensions_match(dims, i, s, len, emit, arg);
	}
	return count;
}
