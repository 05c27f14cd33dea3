/*
 * kafkaconf: what the agent's producer and the aggregator's consumer do
 * alike with librdkafka: set a configuration property with a readable
 * error, and send librdkafka's log lines to our log.
 */
#ifndef LOGTALLY_KAFKACONF_H
#define LOGTALLY_KAFKACONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

/*
 * rd_kafka_conf_set(conf, name, value). Returns 0, or -EINVAL with
 * "name: librdkafka's reason" in err.
 */
int kafkaconf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
		  char *err, size_t errlen);

/*
 * A log callback (rd_kafka_conf_set_log_cb): librdkafka's syslog levels
 * mapped to ours, rate-limited per level. Lines of the FAIL, FATAL and
 * ERROR facilities are dropped: the error callback reports those once.
 * Runs in librdkafka's threads.
 */
void kafkaconf_log(const rd_kafka_t *rk, int level, const char *fac,
		   const char *buf);

#endif
