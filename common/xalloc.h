/*
 * xalloc: allocation that cannot fail. A log pipeline has no sensible way to
 * recover from running out of memory, so these wrappers print a message and
 * abort instead of returning NULL. Every other module allocates through them.
 */
#ifndef LOGTALLY_XALLOC_H
#define LOGTALLY_XALLOC_H

#include <stddef.h>

/* malloc(n); never returns NULL (n == 0 allocates one byte). */
void *xmalloc(size_t n);

/* calloc(count, size) with overflow check; never returns NULL. */
void *xcalloc(size_t count, size_t size);

/* realloc(p, n); p may be NULL. Never returns NULL. */
void *xrealloc(void *p, size_t n);

/* realloc(p, count * size) with overflow check, like reallocarray(3). */
void *xreallocarray(void *p, size_t count, size_t size);

/* A copy of s (which must not be NULL). Caller owns it; free with free(). */
char *xstrdup(const char *s);

/* A NUL-terminated copy of the first n bytes of s. Caller owns it. */
char *xstrndup(const char *s, size_t n);

/* printf into a new string. Caller owns it; free with free(). */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
