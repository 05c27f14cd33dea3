/*
 * buf: a growable byte buffer with a hard maximum, after curl's dynbuf.
 *
 * Every text that logtally builds from input (HTTP bodies, metrics pages,
 * messages) goes through a buf, so that no buffer grows without bound: an
 * append that would pass the maximum fails with -ENOSPC and leaves the
 * content exactly as it was. The content is always NUL-terminated, and may
 * hold NUL bytes of its own. Allocation failure aborts (xalloc).
 */
#ifndef LOGTALLY_BUF_H
#define LOGTALLY_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Plain data, meant to be embedded; use only the functions below on it.
 * Zero-initialised it is an empty buffer with maximum 0 (every add fails);
 * buf_init() gives it a real maximum.
 */
struct buf {
	char *data;	/* NULL until the first add */
	size_t len;	/* bytes of content, not counting the NUL */
	size_t cap;	/* bytes allocated at data */
	size_t max;	/* len never exceeds this */
};

/* Makes b empty with room for at most max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Frees the content; b is then empty (and may be reused, with its max). */
void buf_fini(struct buf *b);

/* Empties b but keeps its allocation for reuse. */
void buf_reset(struct buf *b);

/*
 * Appends n bytes at p (p may be NULL when n is 0). Returns 0, or -ENOSPC
 * when the content would pass the maximum, in which case b is unchanged.
 */
int buf_add(struct buf *b, const void *p, size_t n);

/* buf_add() of a NUL-terminated string, without its NUL. */
int buf_addstr(struct buf *b, const char *s);

/* buf_add() of one byte. */
int buf_addc(struct buf *b, char c);

/*
 * Appends printf output. Returns 0, -ENOSPC (b unchanged) when it does not
 * fit, or -EINVAL (b unchanged) when the format cannot be printed.
 */
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Cuts the content to its first len bytes; len must not exceed buf_len(). */
void buf_truncate(struct buf *b, size_t len);

/* Bytes of content, not counting the terminating NUL. */
size_t buf_len(const struct buf *b);

/*
 * The content, NUL-terminated; "" when empty, never NULL. Borrowed: valid
 * until the next call that changes b.
 */
const char *buf_str(const struct buf *b);

/*
 * Moves the content out: returns it NUL-terminated (never NULL; an empty
 * buffer gives a fresh ""), stores its length in *len unless len is NULL,
 * and leaves b empty with the same max. Caller owns the result; free().
 */
char *buf_take(struct buf *b, size_t *len);

#endif
