# test/unit/: one cmocka program per module, run by the TAP driver.
#
# Every test in unit_tests is built from test/unit/<name>.c with automake's
# defaults, which Makefile.am points here: AM_CFLAGS is UNIT_CFLAGS and LDADD
# is UNIT_LIBS (cmocka, common/, and libm: the aggregator's configuration
# checks durations with latency.c). The lines after the list are only for
# the tests that differ from that. A new test is one more name in the list,
# and a line below for each way it differs.
UNIT_CFLAGS = $(BASE_CFLAGS) $(CMOCKA_CFLAGS) $(YAML_CFLAGS) $(RDKAFKA_CFLAGS) \
	$(PCRE2_CFLAGS) $(MHD_CFLAGS) $(JANSSON_CFLAGS)
UNIT_LIBS = $(CMOCKA_LIBS) $(COMMON_LIBS) $(CURL_LIBS) -lm

unit_tests = \
	test/unit/test_accesslog \
	test/unit/test_alerts \
	test/unit/test_api \
	test/unit/test_buf \
	test/unit/test_config \
	test/unit/test_count \
	test/unit/test_dimensions \
	test/unit/test_fingerprint \
	test/unit/test_flush \
	test/unit/test_hmap \
	test/unit/test_httpd \
	test/unit/test_latency \
	test/unit/test_ledger \
	test/unit/test_logging \
	test/unit/test_message \
	test/unit/test_message_decode \
	test/unit/test_metrics \
	test/unit/test_prep \
	test/unit/test_producer \
	test/unit/test_rebalance \
	test/unit/test_registry \
	test/unit/test_status \
	test/unit/test_store \
	test/unit/test_store_faults \
	test/unit/test_store_sql \
	test/unit/test_tail \
	test/unit/test_units \
	test/unit/test_watch \
	test/unit/test_window \
	test/unit/test_window_rows
check_PROGRAMS += $(unit_tests)
TESTS += $(unit_tests)

# The module library a test links before common/ (and what else it needs).
test_unit_test_accesslog_LDADD = aggregator/libaggregator.a $(LDADD)
test_unit_test_alerts_LDADD = aggregator/libaggregator.a $(LDADD) -lm
test_unit_test_api_LDADD = aggregator/libaggregator.a $(LDADD) $(MARIADB_LIBS) -lm
test_unit_test_config_LDADD = agent/libagent.a aggregator/libaggregator.a $(LDADD)
test_unit_test_count_LDADD = aggregator/libaggregator.a $(LDADD)
test_unit_test_dimensions_LDADD = aggregator/libaggregator.a $(LDADD)
test_unit_test_fingerprint_LDADD = agent/libagent.a $(LDADD)
test_unit_test_flush_LDADD = aggregator/libaggregator.a $(LDADD) $(MARIADB_LIBS)
test_unit_test_ledger_LDADD = aggregator/libaggregator.a $(LDADD)
test_unit_test_prep_LDADD = aggregator/libaggregator.a $(LDADD)
test_unit_test_producer_LDADD = agent/libagent.a $(LDADD)
test_unit_test_rebalance_LDADD = aggregator/libaggregator.a $(LDADD) \
	$(MARIADB_LIBS) -lm
test_unit_test_registry_LDADD = agent/libagent.a $(LDADD)
test_unit_test_status_LDADD = aggregator/libaggregator.a $(LDADD)
test_unit_test_store_LDADD = aggregator/libaggregator.a $(LDADD) $(MARIADB_LIBS)
test_unit_test_store_faults_LDADD = aggregator/libaggregator.a $(LDADD) $(MARIADB_LIBS)
test_unit_test_store_sql_LDADD = aggregator/libaggregator.a $(LDADD)
test_unit_test_tail_LDADD = agent/libagent.a $(LDADD)
test_unit_test_watch_LDADD = agent/libagent.a $(LDADD)
test_unit_test_window_LDADD = aggregator/libaggregator.a $(LDADD)
test_unit_test_window_rows_LDADD = aggregator/libaggregator.a $(LDADD)
test_unit_test_latency_LDADD = aggregator/libaggregator.a $(LDADD) -lm

# Headers or code a test shares with another: a test split for the size
# budget shares its fixture (store_fixture.c, window_test_util.h) with the
# other part; utf8_ref.h is a reference UTF-8 repair for the message tests.
test_unit_test_dimensions_SOURCES = test/unit/test_dimensions.c test/unit/utf8_ref.h
test_unit_test_message_SOURCES = test/unit/test_message.c test/unit/utf8_ref.h
test_unit_test_store_SOURCES = test/unit/test_store.c \
	test/unit/store_fixture.c test/unit/store_fixture.h
test_unit_test_store_faults_SOURCES = test/unit/test_store_faults.c \
	test/unit/store_fixture.c test/unit/store_fixture.h
test_unit_test_window_SOURCES = test/unit/test_window.c test/unit/window_test_util.h
test_unit_test_window_rows_SOURCES = test/unit/test_window_rows.c \
	test/unit/window_test_util.h

# Headers of libraries beyond UNIT_CFLAGS; test_store is also told where the
# source tree is, for config/schema.sql when top_srcdir is not set.
test_unit_test_alerts_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
test_unit_test_api_CFLAGS = $(AM_CFLAGS) $(MARIADB_CFLAGS)
test_unit_test_fingerprint_CFLAGS = $(AM_CFLAGS) $(XXHASH_CFLAGS)
test_unit_test_httpd_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
test_unit_test_registry_CFLAGS = $(AM_CFLAGS) $(XXHASH_CFLAGS)
test_unit_test_status_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
test_unit_test_store_CFLAGS = $(AM_CFLAGS) $(MARIADB_CFLAGS) \
	-DTOP_SRCDIR='"$(abs_top_srcdir)"'
test_unit_test_store_faults_CFLAGS = $(AM_CFLAGS) $(MARIADB_CFLAGS)

# Functions a test replaces: -Wl,--wrap=NAME sends calls of NAME to the
# test's __wrap_NAME (a failed commit, seek or allocation, a short read).
test_unit_test_flush_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=store_flush,--wrap=store_open \
	-Wl,--wrap=store_load_offsets,--wrap=store_expire,--wrap=runtime_now_ms
test_unit_test_rebalance_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=consumer_seek \
	-Wl,--wrap=consumer_watermarks,--wrap=consumer_commit,--wrap=consumer_pause \
	-Wl,--wrap=store_load_offsets,--wrap=store_load_sources,--wrap=store_flush \
	-Wl,--wrap=runtime_now_ms
test_unit_test_store_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=mysql_commit
test_unit_test_store_faults_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=mysql_commit
test_unit_test_tail_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=producer_send,--wrap=pread
test_unit_test_window_LDFLAGS = $(AM_LDFLAGS) \
	-Wl,--wrap=xmalloc,--wrap=xcalloc,--wrap=xrealloc,--wrap=xreallocarray
