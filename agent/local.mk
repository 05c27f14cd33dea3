# agent/: logtally-agent, its main.c linked with agent/libagent.a, the
# agent's modules, kept in a library so that the unit tests link them too.
noinst_LIBRARIES += agent/libagent.a
agent_libagent_a_CFLAGS = $(BASE_CFLAGS) $(YAML_CFLAGS) $(RDKAFKA_CFLAGS) \
	$(JANSSON_CFLAGS) $(XXHASH_CFLAGS)
agent_libagent_a_SOURCES = \
	agent/agent.c agent/agent.h \
	agent/agent_config.c agent/agent_config.h \
	agent/fingerprint.c agent/fingerprint.h \
	agent/producer.c agent/producer.h \
	agent/registry.c agent/registry.h \
	agent/sources.c agent/sources.h \
	agent/sources_identity.c agent/sources_identity.h \
	agent/sources_slot.c agent/sources_slot.h \
	agent/tail.c agent/tail.h \
	agent/watch.c agent/watch.h \
	agent/watch_backend.h \
	agent/watch_inotify.c \
	agent/watch_poll.c

bin_PROGRAMS += logtally-agent
logtally_agent_SOURCES = agent/main.c
logtally_agent_CFLAGS = $(agent_libagent_a_CFLAGS)
logtally_agent_LDADD = agent/libagent.a $(COMMON_LIBS)
