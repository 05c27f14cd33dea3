/*
 * confcheck: value checks that the configuration tables attach to keys
 * (see config_check_fn in config.h): PCRE2 patterns, listen addresses,
 * readable files and librdkafka properties. Each returns 0 when the value
 * is valid, or -1 with the library's own message in err and, where known,
 * the offset of the fault inside the value in *at. Also the reading of
 * secret files, and the http.tls section both programs share.
 */
#ifndef LOGTALLY_CONFCHECK_H
#define LOGTALLY_CONFCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The PCRE2 options every configured pattern is compiled with (UTF, UCP). */
uint32_t confcheck_regex_options(void);

/* A pattern that PCRE2 compiles with confcheck_regex_options(). */
int confcheck_regex(const char *key, const char *value, char *err,
		    size_t errlen, size_t *at);

/* "host:port", "[v6addr]:port" or ":port", port 0..65535. */
int confcheck_listen(const char *key, const char *value, char *err,
		     size_t errlen, size_t *at);

/*
 * Split a listen address into host (NUL-terminated, "" for any) and port.
 * Returns 0, or -1 with a message in err.
 */
int confcheck_listen_split(const char *value, char *host, size_t hostlen,
			   unsigned *port, char *err, size_t errlen);

/*
 * A path this process can open for reading now, or "" (not set). Checked
 * at load so that a wrong path stops the program at start, at its line,
 * rather than at the first use, which may be much later.
 */
int confcheck_readable_file(const char *key, const char *value, char *err,
			    size_t errlen, size_t *at);

/* The most a secret file may hold: a password or a token, not a document. */
#define CONFCHECK_SECRET_MAX 4096

/*
 * Read the secret in the file at path into *out (caller frees), without
 * its trailing newline. Refused, with the reason in err, when the file is
 * missing or unreadable, readable or writable by others (mode & 007: a
 * secret the whole machine can read is no secret), empty, or longer than
 * CONFCHECK_SECRET_MAX. Returns 0, or -1 with *out NULL. Blocks on file I/O.
 */
int confcheck_read_secret(const char *path, char **out, char *err, size_t errlen);

/*
 * http.tls of both programs: HTTPS on their endpoint when cert is set.
 * The section checks at load that each file set can be read and that cert
 * and key come together, so that both programs say the same about it.
 */
struct confcheck_tls_files {
	char *cert;             /* "" or a PEM certificate (chain) */
	char *key;              /* "" or its PEM private key */
};

extern const struct config_section confcheck_tls_files_section;

/* A librdkafka property key = value accepted by rd_kafka_conf_set(). */
int confcheck_kafka_property(const char *key, const char *value, char *err,
			     size_t errlen, size_t *at);

#endif
