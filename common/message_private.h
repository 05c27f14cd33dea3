/*
 * message_private: what the two halves of the message module share and
 * nothing else includes. message.c encodes (the agent's side) and
 * message_decode.c decodes (the aggregator's side); both need the same
 * reading of UTF-8 (repair on one side, validation on the other), and
 * message.c, which writes @timestamp, also reads it.
 */
#ifndef LOGTALLY_MESSAGE_PRIVATE_H
#define LOGTALLY_MESSAGE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The well-formed UTF-8 sequence at p, n > 0 bytes (Unicode Table 3-7):
 * returns its length with *bad false; or, with *bad true, the length of the
 * maximal subpart that one U+FFFD replaces (at least 1).
 */
static inline size_t message_utf8_seq(const unsigned char *p, size_t n,
				      bool *bad)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	*bad = true;
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

/*
 * Epoch ms of an RFC 3339 date-time ("2026-11-24T20:26:22.123Z",
 * "…22+01:00", any number of fraction digits, 't' or ' ' for 'T'), or -1
 * when it is not one or lies before 1970. p[0..len) need not end in NUL.
 */
int64_t message_parse_time(const char *p, size_t len);

#endif
