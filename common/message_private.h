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

#include "utf8.h"


/*
 * Epoch ms of an RFC 3339 date-time ("2026-11-24T20:26:22.123Z",
 * "…22+01:00", any number of fraction digits, 't' or ' ' for 'T'), or -1
 * when it is not one or lies before 1970. p[0..len) need not end in NUL.
 */
int64_t message_parse_time(const char *p, size_t len);

#endif
