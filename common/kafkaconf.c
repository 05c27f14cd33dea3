/*
 * kafkaconf: librdkafka configuration and logging, shared by both programs.
 */
#include "kafkaconf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "logging.h"

int kafkaconf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
		  char *err, size_t errlen)
{
	char reason[512];

	if (rd_kafka_conf_set(conf, name, value, reason, sizeof(reason)) ==
	    RD_KAFKA_CONF_OK)
		return 0;
	snprintf(err, errlen, "%s: %s", name, reason);
	return -EINVAL;
}

void kafkaconf_log(const rd_kafka_t *rk, int level, const char *fac,
		   const char *buf)
{
	static struct logging_limit limits[4];
	static const enum logging_level levels[8] = {
		LOGGING_ERROR, LOGGING_ERROR, LOGGING_ERROR, LOGGING_ERROR,
		LOGGING_WARN, LOGGING_INFO, LOGGING_INFO, LOGGING_DEBUG,
	};
	enum logging_level lvl = levels[level < 0 ? 0 : level > 7 ? 7 : level];

	(void)rk;
	if (!strcmp(fac, "FAIL") || !strcmp(fac, "FATAL") || !strcmp(fac, "ERROR"))
		return;
	logging_limited(&limits[lvl], lvl, "Kafka %s: %s", fac, buf);
}
