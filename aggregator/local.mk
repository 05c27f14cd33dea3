# aggregator/: logtally-aggregator, its main.c linked with
# aggregator/libaggregator.a, the aggregator's modules, kept in a library so
# that the unit tests link them too. The dashboard, aggregator/dashboard.html,
# is compiled in as aggregator/dashboard_html.c by scripts/embed-file.
noinst_LIBRARIES += aggregator/libaggregator.a
aggregator_libaggregator_a_CFLAGS = $(BASE_CFLAGS) $(YAML_CFLAGS) $(RDKAFKA_CFLAGS) \
	$(PCRE2_CFLAGS) $(MARIADB_CFLAGS) $(JANSSON_CFLAGS) $(MHD_CFLAGS) $(CURL_CFLAGS)
aggregator_libaggregator_a_SOURCES = \
	aggregator/accesslog.c aggregator/accesslog.h \
	aggregator/aggregator.c aggregator/aggregator.h \
	aggregator/aggregator_config.c aggregator/aggregator_config.h \
	aggregator/aggregator_metrics.c aggregator/aggregator_metrics.h \
	aggregator/alert_message.c aggregator/alert_message.h \
	aggregator/alert_rule.c aggregator/alert_rule.h \
	aggregator/alerts.c aggregator/alerts.h \
	aggregator/api.c aggregator/api.h aggregator/api_internal.h \
	aggregator/api_read.c \
	aggregator/consumer.c aggregator/consumer.h \
	aggregator/count.c aggregator/count.h \
	aggregator/db.c aggregator/db.h \
	aggregator/dimensions.c aggregator/dimensions.h \
	aggregator/flush.c aggregator/flush.h \
	aggregator/latency.c aggregator/latency.h \
	aggregator/ledger.c aggregator/ledger.h \
	aggregator/once.c aggregator/once.h \
	aggregator/prep.c aggregator/prep.h \
	aggregator/rebalance.c aggregator/rebalance.h \
	aggregator/schema.h \
	aggregator/status.c aggregator/status.h \
	aggregator/stop.c aggregator/stop.h \
	aggregator/store.c aggregator/store.h \
	aggregator/store_flush.c \
	aggregator/store_internal.h \
	aggregator/store_read.c \
	aggregator/store_retention.c \
	aggregator/store_sql.c aggregator/store_sql.h \
	aggregator/webhook.c aggregator/webhook.h \
	aggregator/window.c aggregator/window.h \
	aggregator/window_internal.h aggregator/window_rows.c \
	aggregator/writer.c aggregator/writer.h
nodist_aggregator_libaggregator_a_SOURCES = aggregator/dashboard_html.c

bin_PROGRAMS += logtally-aggregator
logtally_aggregator_SOURCES = aggregator/main.c
logtally_aggregator_CFLAGS = $(aggregator_libaggregator_a_CFLAGS)
logtally_aggregator_LDADD = aggregator/libaggregator.a $(COMMON_LIBS) \
	$(MARIADB_LIBS) $(CURL_LIBS) -lm

aggregator/dashboard_html.c: $(srcdir)/aggregator/dashboard.html $(srcdir)/scripts/embed-file
	$(AM_V_GEN)$(MKDIR_P) aggregator && \
	$(SHELL) $(srcdir)/scripts/embed-file dashboard_html \
		$(srcdir)/aggregator/dashboard.html >$@.tmp && mv $@.tmp $@
CLEANFILES += aggregator/dashboard_html.c
EXTRA_DIST += aggregator/dashboard.html scripts/embed-file
