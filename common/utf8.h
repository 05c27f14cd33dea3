/*
 * utf8: the one reading of UTF-8 that the agent's repair, the decoder's
 * validation and the aggregator's value repair share, so that a value is
 * repaired the same way wherever it passes (Unicode Table 3-7: no
 * overlongs, no surrogates, nothing past U+10FFFF; one U+FFFD per maximal
 * subpart of an ill-formed sequence).
 */
#ifndef LOGTALLY_UTF8_H
#define LOGTALLY_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The well-formed UTF-8 sequence at p, n > 0 bytes: returns its length with
 * *bad false (1 for ASCII); or, with *bad true, the length of the maximal
 * subpart that one U+FFFD replaces (at least 1).
 */
static inline size_t utf8_seq(const unsigned char *p, size_t n, bool *bad)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	*bad = c >= 0x80;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef)
		need = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 1;
	for (i = 1; i < need; i++) {
		if (i == n || p[i] < lo || p[i] > hi)
			return i;
		lo = 0x80;
		hi = 0xbf;
	}
	*bad = false;
	return need;
}

#endif
