/*
 * fingerprint: a file's identity comes from its first bytes, never from its
 * name or inode. Only the first line (or first FINGERPRINT_MAX bytes) is
 * read, so the result is fixed from the moment it exists: appends do not
 * change it, a rename or a copy keeps it. The source id hashes a byte
 * encoding documented in fingerprint.h, so that any implementation can
 * reproduce the Kafka key.
 */
#include "fingerprint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "xalloc.h"

int fingerprint_bytes(const void *data, size_t len, uint64_t *fp)
{
	size_t n = len < FINGERPRINT_MAX ? len : FINGERPRINT_MAX;
	const char *nl = n ? memchr(data, '\n', n) : NULL;

	if (nl)
		n = (size_t)(nl - (const char *)data) + 1;
	else if (n < FINGERPRINT_MAX)
		return -EAGAIN;
	*fp = XXH3_64bits(data, n);
	return 0;
}

int fingerprint_read(int fd, uint64_t *fp)
{
	char head[FINGERPRINT_MAX];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(head)) {
		n = pread(fd, head + got, sizeof(head) - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
		if (memchr(head + got - (size_t)n, '\n', (size_t)n))
			break;
	}
	return fingerprint_bytes(head, got, fp);
}

static void fingerprint_put_be(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

void fingerprint_source_id(const char *host, uint64_t fp, uint32_t generation,
			   char out[FINGERPRINT_ID_LEN + 1])
{
	unsigned char stack[256], *p = stack;
	size_t hlen = strlen(host), len = hlen + 1 + 8 + 4;

	if (len > sizeof(stack))
		p = xmalloc(len);
	memcpy(p, host, hlen);
	p[hlen] = '\0';
	fingerprint_put_be(p + hlen + 1, fp, 8);
	fingerprint_put_be(p + hlen + 9, generation, 4);
	snprintf(out, FINGERPRINT_ID_LEN + 1, "%016" PRIx64, XXH3_64bits(p, len));
	if (p != stack)
		free(p);
}
