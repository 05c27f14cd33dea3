/*
 * window_test_util: what test_window.c and test_window_rows.c share: random
 * distinct keys to count into the delta table (struct tkey, tkeys_make),
 * admit() to ask the cap about a NUL-terminated value, and the default
 * dimensions' names. Header-only, static inline.
 */
#ifndef LOGTALLY_WINDOW_TEST_UTIL_H
#define LOGTALLY_WINDOW_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/window.h"

struct tkey {
	int64_t start;
	uint32_t dim;
	size_t len;
	char val[40];
	uint64_t hits;
	int seen;
};

static inline int tkey_same(const struct tkey *k, int64_t start, uint32_t dim,
			    const char *val, size_t len)
{
	return k->start == start && k->dim == dim && k->len == len &&
	       !memcmp(k->val, val, len);
}

/*
 * n distinct keys with few starts (negative too) and dimensions, values
 * of random bytes (NUL and high bytes included) that often share
 * prefixes with one another, and the empty value.
 */
static inline struct tkey *tkeys_make(size_t n, unsigned *seed)
{
	static const int64_t starts[] = {-10, -5, 0, 5, 1795552780};
	struct tkey *keys = calloc(n, sizeof(*keys));

	for (size_t i = 0; i < n; i++) {
		struct tkey *k = &keys[i];
		int dup;

		do {
			k->start = starts[rand_r(seed) % 5];
			k->dim = rand_r(seed) % 4;
			if (i && rand_r(seed) % 2) {
				const struct tkey *o = &keys[rand_r(seed) % i];

				k->len = rand_r(seed) % (o->len + 1);
				memcpy(k->val, o->val, k->len);
			} else {
				k->len = 0;
			}
			while (k->len < sizeof(k->val) && rand_r(seed) % 8)
				k->val[k->len++] = (char)(rand_r(seed) % 4 ?
							  'a' + rand_r(seed) % 3 :
							  rand_r(seed) % 256);
			dup = 0;
			for (size_t j = 0; j < i && !dup; j++)
				dup = tkey_same(&keys[j], k->start, k->dim, k->val, k->len);
		} while (dup);
	}
	return keys;
}

/* Whether the cap admits the NUL-terminated value. */
static inline bool admit(struct window_cap *cap, int64_t size_s,
			 int64_t start_s, uint32_t dim, const char *value)
{
	return window_cap_admit(cap, size_s, start_s, dim, value, strlen(value));
}

static const char *const names3[] = {"url", "status", "hashtag"};

#endif
