# test/unit/: one cmocka program per module, run by the TAP driver.
# Each block appends its program to check_PROGRAMS and TESTS.
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(YAML_CFLAGS) $(RDKAFKA_CFLAGS) \
	$(PCRE2_CFLAGS) $(MHD_CFLAGS) $(JANSSON_CFLAGS)
UNIT_LIBS = $(CMOCKA_LIBS) $(COMMON_LIBS) $(CURL_LIBS)

check_PROGRAMS += test/unit/test_logging
TESTS += test/unit/test_logging
test_unit_test_logging_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_logging_LDADD = $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_buf
TESTS += test/unit/test_buf
test_unit_test_buf_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_buf_LDADD = $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_units test/unit/test_config
TESTS += test/unit/test_units test/unit/test_config
test_unit_test_units_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_units_LDADD = $(UNIT_LIBS)
test_unit_test_config_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_config_LDADD = agent/libagent.a aggregator/libaggregator.a $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_metrics
TESTS += test/unit/test_metrics
test_unit_test_metrics_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_metrics_LDADD = $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_httpd
TESTS += test/unit/test_httpd
test_unit_test_httpd_CFLAGS = $(UNIT_CFLAGS) $(CURL_CFLAGS)
test_unit_test_httpd_LDADD = $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_hmap
TESTS += test/unit/test_hmap
test_unit_test_hmap_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_hmap_LDADD = $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_fingerprint test/unit/test_registry
TESTS += test/unit/test_fingerprint test/unit/test_registry
test_unit_test_fingerprint_CFLAGS = $(UNIT_CFLAGS) $(XXHASH_CFLAGS)
test_unit_test_fingerprint_LDADD = agent/libagent.a $(UNIT_LIBS)
test_unit_test_registry_CFLAGS = $(UNIT_CFLAGS) $(XXHASH_CFLAGS)
test_unit_test_registry_LDADD = agent/libagent.a $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_message
TESTS += test/unit/test_message
test_unit_test_message_SOURCES = test/unit/test_message.c test/unit/utf8_ref.h
test_unit_test_message_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_message_LDADD = $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_producer
TESTS += test/unit/test_producer
test_unit_test_producer_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_producer_LDADD = agent/libagent.a $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_watch
TESTS += test/unit/test_watch
test_unit_test_watch_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_watch_LDADD = agent/libagent.a $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_tail
TESTS += test/unit/test_tail
test_unit_test_tail_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_tail_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=producer_send,--wrap=pread
test_unit_test_tail_LDADD = agent/libagent.a $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_dimensions
TESTS += test/unit/test_dimensions
test_unit_test_dimensions_SOURCES = test/unit/test_dimensions.c test/unit/utf8_ref.h
test_unit_test_dimensions_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_dimensions_LDADD = aggregator/libaggregator.a $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_window
TESTS += test/unit/test_window
test_unit_test_window_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_window_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=xmalloc,--wrap=xcalloc,--wrap=xrealloc,--wrap=xreallocarray
test_unit_test_window_LDADD = aggregator/libaggregator.a $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_accesslog
TESTS += test/unit/test_accesslog
test_unit_test_accesslog_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_accesslog_LDADD = aggregator/libaggregator.a $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_store_sql
TESTS += test/unit/test_store_sql
test_unit_test_store_sql_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_store_sql_LDADD = aggregator/libaggregator.a $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_store
TESTS += test/unit/test_store
test_unit_test_store_CFLAGS = $(UNIT_CFLAGS) $(MARIADB_CFLAGS) \
	-DTOP_SRCDIR='"$(abs_top_srcdir)"'
test_unit_test_store_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=mysql_commit
test_unit_test_store_LDADD = aggregator/libaggregator.a $(UNIT_LIBS) $(MARIADB_LIBS)

# test_message, test_store and test_window split for the size budget; the
# parts of test_store share store_fixture.c, those of test_window a header.
check_PROGRAMS += test/unit/test_message_decode
TESTS += test/unit/test_message_decode
test_unit_test_message_decode_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_message_decode_LDADD = $(UNIT_LIBS)

test_unit_test_store_SOURCES = test/unit/test_store.c \
	test/unit/store_fixture.c test/unit/store_fixture.h
check_PROGRAMS += test/unit/test_store_faults
TESTS += test/unit/test_store_faults
test_unit_test_store_faults_SOURCES = test/unit/test_store_faults.c \
	test/unit/store_fixture.c test/unit/store_fixture.h
test_unit_test_store_faults_CFLAGS = $(UNIT_CFLAGS) $(MARIADB_CFLAGS)
test_unit_test_store_faults_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=mysql_commit
test_unit_test_store_faults_LDADD = aggregator/libaggregator.a $(UNIT_LIBS) $(MARIADB_LIBS)

test_unit_test_window_SOURCES = test/unit/test_window.c test/unit/window_test_util.h
check_PROGRAMS += test/unit/test_window_rows
TESTS += test/unit/test_window_rows
test_unit_test_window_rows_SOURCES = test/unit/test_window_rows.c \
	test/unit/window_test_util.h
test_unit_test_window_rows_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_window_rows_LDADD = aggregator/libaggregator.a $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_prep
TESTS += test/unit/test_prep
test_unit_test_prep_CFLAGS = $(UNIT_CFLAGS)
test_unit_test_prep_LDADD = aggregator/libaggregator.a $(UNIT_LIBS)

check_PROGRAMS += test/unit/test_api
TESTS += test/unit/test_api
test_unit_test_api_CFLAGS = $(UNIT_CFLAGS) $(MARIADB_CFLAGS)
test_unit_test_api_LDADD = aggregator/libaggregator.a $(UNIT_LIBS) $(MARIADB_LIBS) -lm
check_PROGRAMS += test/unit/test_alerts
TESTS += test/unit/test_alerts
test_unit_test_alerts_CFLAGS = $(UNIT_CFLAGS) $(CURL_CFLAGS)
test_unit_test_alerts_LDADD = aggregator/libaggregator.a $(UNIT_LIBS) -lm

# rebalance.c and count.c: a failed seek never lets a partition's next
# offset pass a message not counted (consumer_seek replaced by the test).
check_PROGRAMS += test/unit/test_rebalance
TESTS += test/unit/test_rebalance
test_unit_test_rebalance_CFLAGS = $(UNIT_CFLAGS) $(MARIADB_CFLAGS) $(CURL_CFLAGS)
test_unit_test_rebalance_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=consumer_seek
test_unit_test_rebalance_LDADD = aggregator/libaggregator.a $(UNIT_LIBS) \
	$(MARIADB_LIBS) -lm
