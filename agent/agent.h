/*
 * agent: the agent's context and lifecycle. It owns everything the run
 * needs (registry, producer, watch, sources, metrics, HTTP endpoint) and
 * runs the loop: wait on signals, inotify and the producer's queue; scan,
 * read, serve acknowledgements, write the registry. On SIGTERM or SIGINT it
 * stops reading, waits up to shutdown_timeout for acknowledgements and
 * saves the registry; a second signal stops it at once, state intact.
 */
#ifndef LOGTALLY_AGENT_H
#define LOGTALLY_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent_config.h"

struct agent;

struct agent_options {
	bool once;              /* batch: ship what is there now, then exit */
	bool reset_registry;    /* start over, keeping the old file aside */
	bool force_poll;        /* no inotify (LOGTALLY_AGENT_POLL=1 sets it) */
};

/*
 * Set up everything for cfg (borrowed; must outlive the agent). Returns
 * NULL with the reason in err (a registry that cannot be used, Kafka
 * settings librdkafka refuses, an HTTP address that cannot be bound).
 * Blocks SIGTERM, SIGINT and SIGPIPE in the calling thread.
 */
struct agent *agent_new(const struct agent_config *cfg,
			const struct agent_options *opts, char *err, size_t errlen);
void agent_free(struct agent *a);

/* Run until done (batch) or stopped. Returns the exit status: 0, or 1. */
int agent_run(struct agent *a);

#endif
