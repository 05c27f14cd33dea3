# agent/: fragment of the top Makefile.am; appends only.
# The agent's modules go into a library so that unit tests link them too.
noinst_LIBRARIES += agent/libagent.a
agent_libagent_a_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS) $(RDKAFKA_CFLAGS) \
	$(JANSSON_CFLAGS) $(XXHASH_CFLAGS)
agent_libagent_a_SOURCES = \
	agent/agent_config.c agent/agent_config.h

bin_PROGRAMS += logtally-agent
logtally_agent_SOURCES = agent/main.c
logtally_agent_CFLAGS = $(agent_libagent_a_CFLAGS)
logtally_agent_LDADD = agent/libagent.a $(COMMON_LIBS)
agent_libagent_a_SOURCES += agent/fingerprint.c agent/fingerprint.h \
	agent/registry.c agent/registry.h
agent_libagent_a_SOURCES += agent/producer.c agent/producer.h
agent_libagent_a_SOURCES += agent/tail.c agent/tail.h agent/sources.c agent/sources.h \
	agent/sources_identity.c agent/sources_slot.c agent/sources_internal.h \
	agent/agent.c agent/agent.h
agent_libagent_a_SOURCES += agent/watch.c agent/watch.h agent/watch_backend.h \
	agent/watch_inotify.c agent/watch_poll.c
