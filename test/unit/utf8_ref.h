/*
 * utf8_ref: a reference UTF-8 repair for the tests of common/message, kept
 * apart from message.c's so that the two check each other. It follows the
 * WHATWG decoder step by step (https://encoding.spec.whatwg.org/#utf-8-decoder):
 * each maximal invalid subpart becomes one U+FFFD. Header-only, static.
 */
#ifndef LOGTALLY_UTF8_REF_H
#define LOGTALLY_UTF8_REF_H

#include <stddef.h>
#include <string.h>

static size_t utf8_ref_put(unsigned char *d, unsigned long cp)
{
	if (cp < 0x80) {
		d[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (unsigned char)(0xc0 | cp >> 6);
		d[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (unsigned char)(0xe0 | cp >> 12);
		d[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		d[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (unsigned char)(0xf0 | cp >> 18);
	d[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	d[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	d[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Writes the repair of s[0..n) to out, which needs room for 3 * n bytes;
 * returns the length written.
 */
static size_t utf8_ref_repair(const unsigned char *s, size_t n,
			      unsigned char *out)
{
	unsigned long cp = 0;
	unsigned lower = 0x80, upper = 0xbf, needed = 0, seen = 0;
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned b = s[i];

		if (needed == 0) {
			i++;
			if (b < 0x80) {
				out[o++] = (unsigned char)b;
			} else if (b >= 0xc2 && b <= 0xdf) {
				needed = 1;
				cp = b & 0x1f;
			} else if (b >= 0xe0 && b <= 0xef) {
				lower = b == 0xe0 ? 0xa0 : 0x80;
				upper = b == 0xed ? 0x9f : 0xbf;
				needed = 2;
				cp = b & 0xf;
			} else if (b >= 0xf0 && b <= 0xf4) {
				lower = b == 0xf0 ? 0x90 : 0x80;
				upper = b == 0xf4 ? 0x8f : 0xbf;
				needed = 3;
				cp = b & 0x7;
			} else {
				o += utf8_ref_put(out + o, 0xfffd);
			}
			continue;
		}
		if (b < lower || b > upper) {
			/* error: emit U+FFFD and process b again as a lead */
			cp = needed = seen = 0;
			lower = 0x80;
			upper = 0xbf;
			o += utf8_ref_put(out + o, 0xfffd);
			continue;
		}
		i++;
		lower = 0x80;
		upper = 0xbf;
		cp = cp << 6 | (b & 0x3f);
		if (++seen == needed) {
			o += utf8_ref_put(out + o, cp);
			cp = needed = seen = 0;
		}
	}
	if (needed)
		o += utf8_ref_put(out + o, 0xfffd);
	return o;
}

#endif
