/*
 * confcheck: checks of single configuration values against the libraries
 * that will use them, so that a bad pattern or Kafka property is refused at
 * start with its position rather than failing later at run time; and the
 * files a configuration names (TLS certificates, secrets), judged at load
 * for the same reason.
 */
#include "confcheck.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xalloc.h"

uint32_t confcheck_regex_options(void)
{
	return PCRE2_UTF | PCRE2_UCP;
}

int confcheck_regex(const char *key, const char *value, char *err,
		    size_t errlen, size_t *at)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE offset;
	pcre2_code *re;
	int code;

	re = pcre2_compile((PCRE2_SPTR)value, PCRE2_ZERO_TERMINATED,
			   confcheck_regex_options(), &code, &offset, NULL);
	if (re) {
		pcre2_code_free(re);
		return 0;
	}
	pcre2_get_error_message(code, msg, sizeof(msg));
	snprintf(err, errlen, "invalid regular expression at offset %zu: %s",
		 (size_t)offset, (const char *)msg);
	*at = offset;
	return -1;
}

static int confcheck_port(const char *s, unsigned *port)
{
	char *end;
	unsigned long n;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (*end || errno || n > 65535)
		return -1;
	*port = (unsigned)n;
	return 0;
}

int confcheck_listen_split(const char *value, char *host, size_t hostlen,
			   unsigned *port, char *err, size_t errlen)
{
	const char *colon = strrchr(value, ':');
	const char *h = value;
	size_t n;

	if (!colon) {
		snprintf(err, errlen, "'%s' is not host:port (write 127.0.0.1:8080, [::1]:8080 or :8080)", value);
		return -1;
	}
	n = (size_t)(colon - value);
	if (value[0] == '[') {
		if (n < 2 || value[n - 1] != ']') {
			snprintf(err, errlen, "'%s': an IPv6 address must be written [addr]:port", value);
			return -1;
		}
		h = value + 1;
		n -= 2;
	}
	if (n >= hostlen || confcheck_port(colon + 1, port) < 0) {
		snprintf(err, errlen, "'%s': invalid %s", value,
			 n >= hostlen ? "host" : "port (0..65535)");
		return -1;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	return 0;
}

int confcheck_listen(const char *key, const char *value, char *err,
		     size_t errlen, size_t *at)
{
	char host[256];
	unsigned port;

	if (!*value)
		return 0;       /* empty: the endpoint is off */
	return confcheck_listen_split(value, host, sizeof(host), &port, err, errlen);
}

int confcheck_readable_file(const char *key, const char *value, char *err,
			    size_t errlen, size_t *at)
{
	struct stat st;
	int fd, rc = 0;

	if (!*value)
		return 0;
	fd = open(value, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", value, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "'%s' is not a file", value);
		rc = -1;
	}
	close(fd);
	return rc;
}

/* Whether the file fd, named path, may hold a secret: -1 with err if not. */
static int confcheck_secret_mode(int fd, const char *path, char *err,
				 size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "'%s' is not a file", path);
		return -1;
	}
	if (st.st_mode & 007) {
		snprintf(err, errlen, "'%s' is open to others (mode %04o): "
			 "chmod o-rwx it", path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* The secret in the open file fd named path, as the header says. */
static int confcheck_secret_fd(int fd, const char *path, char **out,
			       char *err, size_t errlen)
{
	char *text;
	ssize_t n;

	if (confcheck_secret_mode(fd, path, err, errlen))
		return -1;
	text = xmalloc(CONFCHECK_SECRET_MAX + 1);
	n = read(fd, text, CONFCHECK_SECRET_MAX + 1);
	if (n > 0 && n <= CONFCHECK_SECRET_MAX && text[n - 1] == '\n')
		n -= 1 + (n > 1 && text[n - 2] == '\r');
	if (n < 0)
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
	else if (n > CONFCHECK_SECRET_MAX)
		snprintf(err, errlen, "'%s' is longer than %d bytes", path,
			 CONFCHECK_SECRET_MAX);
	else if (n == 0)
		snprintf(err, errlen, "'%s' is empty", path);
	if (n <= 0 || n > CONFCHECK_SECRET_MAX) {
		free(text);
		return -1;
	}
	text[n] = '\0';
	*out = text;
	return 0;
}

int confcheck_read_secret(const char *path, char **out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	*out = NULL;
	if (fd < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		return -1;
	}
	rc = confcheck_secret_fd(fd, path, out, err, errlen);
	close(fd);
	return rc;
}

static const struct config_key confcheck_tls_files_keys[] = {
	{"cert", CONFIG_STRING, offsetof(struct confcheck_tls_files, cert), .def = "''",
	 .check = confcheck_readable_file,
	 .help = "PEM certificate (chain) of the endpoint: set it and key to serve HTTPS"},
	{"key", CONFIG_STRING, offsetof(struct confcheck_tls_files, key), .def = "''",
	 .check = confcheck_readable_file,
	 .help = "PEM private key of cert (keep it closed to others)"},
	{NULL},
};

static void confcheck_tls_files_validate(void *obj, struct config_ctx *ctx)
{
	struct confcheck_tls_files *tls = obj;

	if (tls->cert && tls->key && !*tls->cert != !*tls->key &&
	    config_ok(ctx, "cert") && config_ok(ctx, "key"))
		config_report(ctx, *tls->cert ? "cert" : "key",
			      "cert and key go together: set both or neither");
}

const struct config_section confcheck_tls_files_section = {
	confcheck_tls_files_keys, sizeof(struct confcheck_tls_files),
	confcheck_tls_files_validate,
};

int confcheck_kafka_property(const char *key, const char *value, char *err,
			     size_t errlen, size_t *at)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char msg[512];
	rd_kafka_conf_res_t res;

	res = rd_kafka_conf_set(conf, key, value, msg, sizeof(msg));
	rd_kafka_conf_destroy(conf);
	if (res == RD_KAFKA_CONF_OK)
		return 0;
	msg[strcspn(msg, "\n")] = '\0';
	snprintf(err, errlen, "%s", msg);
	return -1;
}
