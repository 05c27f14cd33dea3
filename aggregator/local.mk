# aggregator/: fragment of the top Makefile.am; appends only.
# The aggregator's modules go into a library so that unit tests link them too.
noinst_LIBRARIES += aggregator/libaggregator.a
aggregator_libaggregator_a_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS) $(RDKAFKA_CFLAGS) \
	$(PCRE2_CFLAGS) $(MARIADB_CFLAGS) $(JANSSON_CFLAGS) $(MHD_CFLAGS)
aggregator_libaggregator_a_SOURCES = \
	aggregator/aggregator_config.c aggregator/aggregator_config.h

bin_PROGRAMS += logtally-aggregator
logtally_aggregator_SOURCES = aggregator/main.c
logtally_aggregator_CFLAGS = $(aggregator_libaggregator_a_CFLAGS)
logtally_aggregator_LDADD = aggregator/libaggregator.a $(COMMON_LIBS) \
	$(MARIADB_LIBS) $(CURL_LIBS)
aggregator_libaggregator_a_SOURCES += aggregator/accesslog.c aggregator/accesslog.h
aggregator_libaggregator_a_SOURCES += aggregator/dimensions.c aggregator/dimensions.h
aggregator_libaggregator_a_SOURCES += aggregator/window.c aggregator/window.h
aggregator_libaggregator_a_SOURCES += aggregator/aggregator.c aggregator/aggregator.h \
	aggregator/aggregator_private.h aggregator/consumer.c aggregator/consumer.h \
	aggregator/count.c aggregator/flush.c aggregator/rebalance.c \
	aggregator/writer.c aggregator/writer.h aggregator/prep.c aggregator/prep.h
aggregator_libaggregator_a_SOURCES += aggregator/store.c aggregator/store.h \
	aggregator/store_sql.c aggregator/store_sql.h
# The HTTP API (issue 5): /api/top, /api/series, /api/trending.
aggregator_libaggregator_a_SOURCES += aggregator/api.c aggregator/api.h
logtally_aggregator_LDADD += -lm
# The dashboard (issue 5): aggregator/dashboard.html compiled in, served at /.
nodist_aggregator_libaggregator_a_SOURCES = aggregator/dashboard_html.c
aggregator/dashboard_html.c: $(srcdir)/aggregator/dashboard.html $(srcdir)/scripts/embed-file
	$(AM_V_GEN)$(MKDIR_P) aggregator && \
	$(SHELL) $(srcdir)/scripts/embed-file dashboard_html \
		$(srcdir)/aggregator/dashboard.html >$@.tmp && mv $@.tmp $@
CLEANFILES += aggregator/dashboard_html.c
EXTRA_DIST += aggregator/dashboard.html scripts/embed-file
aggregator_libaggregator_a_CFLAGS += $(CURL_CFLAGS)
aggregator_libaggregator_a_SOURCES += aggregator/alert_rule.c aggregator/alert_rule.h \
	aggregator/webhook.c aggregator/webhook.h
aggregator_libaggregator_a_SOURCES += aggregator/alerts.c aggregator/alerts.h
