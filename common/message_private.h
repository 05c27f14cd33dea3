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



#endif
