/*
 * fingerprint: how the agent knows a file whatever its name or inode. The
 * fingerprint is a 64-bit XXH3 hash of the file's first line including its
 * "\n", or of its first FINGERPRINT_MAX bytes when the first line is longer,
 * so a renamed file or a copy (copytruncate) keeps it, and a file with no
 * complete line yet has none. The source id, the Kafka key of every line,
 * names one generation of one file on one host: a hash of the host name,
 * the fingerprint and the number of truncations seen.
 */
#ifndef LOGTALLY_FINGERPRINT_H
#define LOGTALLY_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#define FINGERPRINT_MAX 1024
#define FINGERPRINT_ID_LEN 16          /* hex digits of a source id */

/*
 * Fingerprint the open file fd (read with pread from offset 0; the file
 * position is not used). Returns 0 with *fp set; -EAGAIN when the file has
 * no complete first line and fewer than FINGERPRINT_MAX bytes yet; or
 * -errno from pread. Blocks on file I/O.
 */
int fingerprint_read(int fd, uint64_t *fp);

/* The same over bytes in memory: data[0..len) being the start of a file. */
int fingerprint_bytes(const void *data, size_t len, uint64_t *fp);

/*
 * Write the source id of (host, fp, generation) as 16 hex digits + NUL.
 * It is part of the topic's contract (the Kafka key), so the recipe is
 * fixed: the id is XXH3_64bits (seed 0, no secret) of the bytes
 *     host (its bytes, no NUL) || 0x00 || fp (8 bytes, big-endian)
 *     || generation (4 bytes, big-endian)
 * printed as 16 lowercase hex digits ("%016" PRIx64). host must not be
 * NULL. Example: host "web-01", fp 0x0123456789abcdef, generation 0 gives
 * "24cad29de591f64a" (pinned in test/unit/test_fingerprint.c).
 */
void fingerprint_source_id(const char *host, uint64_t fp, uint32_t generation,
			   char out[FINGERPRINT_ID_LEN + 1]);

#endif
