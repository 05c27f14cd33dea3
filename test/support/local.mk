# test/support/: logtally-devbroker, the development Kafka broker (librdkafka's
# mock cluster with a control socket) that scripts/dev-services and the
# integration tests run.
noinst_PROGRAMS += logtally-devbroker
logtally_devbroker_SOURCES = test/support/devbroker.c
logtally_devbroker_CFLAGS = $(BASE_CFLAGS) $(RDKAFKA_CFLAGS)
logtally_devbroker_LDADD = $(RDKAFKA_LIBS)
