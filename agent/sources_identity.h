/*
 * sources_identity.h: the middle layer of the sources module (see
 * sources_slot.h), which only sources.c includes.
 */
#ifndef LOGTALLY_SOURCES_IDENTITY_H
#define LOGTALLY_SOURCES_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

#include "sources_slot.h"

/*
 * sources_identity.c: find which source the slot's file is, once it has a
 * fingerprint: attach it to its entry (new or known), or make it a copy.
 * A slot without a complete first line stays SLOT_WAITING, closed.
 */
void sources_identify(struct sources *s, struct slot *slot, int64_t now_ms);

/*
 * A copy's periodic look: take its entry over once nothing else reads it
 * and it holds bytes past the entry's offset; take it from the file that
 * reads it when the copy is the larger; look at it again when its first
 * line changed.
 */
void sources_copy_tick(struct sources *s, struct slot *slot, int64_t now_ms);

/*
 * Whether the file at path, whose inode is the slot's, is still the slot's
 * file. An open slot holds its inode, so it cannot have been reused; a
 * closed one may have been deleted and its inode given to a new file, which
 * then has another first line (or, for a file that had none, is found after
 * a scan that did not find the old one).
 */
bool sources_same_file(const struct slot *slot, const char *path);

#endif
