/*
 * buf: the content lives in data[0..len) followed by a NUL, in an allocation
 * of cap bytes that doubles as it fills, up to max + 1. Growth is decided
 * before anything is written, which is how a failed add leaves the content
 * untouched.
 */
#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define BUF_MIN_CAP 64

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max < SIZE_MAX ? max : SIZE_MAX - 1;	/* max + 1 must not wrap */
}

void buf_fini(struct buf *b)
{
	free(b->data);
	buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Makes room for n more bytes plus the NUL, or fails with -ENOSPC. */
static int buf_grow(struct buf *b, size_t n)
{
	size_t need, cap;

	if (n > b->max - b->len)
		return -ENOSPC;
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	return 0;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
	int rc;

	/*
	 * Room for n and the NUL (cap <= max + 1 makes that within max): the
	 * common case of the store's rows, a few bytes at a time, without a
	 * call.
	 */
	if (n < b->cap - b->len) {
		if (n)          /* p may be NULL then: memcpy must not see it */
			memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	rc = buf_grow(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
	if (b->cap - b->len > 1) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_add(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n, rc;

	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n < 0) {
		rc = -EINVAL;
		goto out;
	}
	rc = buf_grow(b, (size_t)n);
	if (rc)
		goto out;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
	b->len += (size_t)n;
out:
	va_end(again);
	return rc;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void buf_truncate(struct buf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	b->data[len] = '\0';
}

size_t buf_len(const struct buf *b)
{
	return b->len;
}

const char *buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}

char *buf_take(struct buf *b, size_t *len)
{
	char *data = b->data ? b->data : xstrdup("");

	if (len)
		*len = b->len;
	buf_init(b, b->max);
	return data;
}
