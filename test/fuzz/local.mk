# test/fuzz/: libFuzzer targets, built only with --enable-fuzzers (clang).
if FUZZERS
noinst_PROGRAMS += test/fuzz/fuzz_config
test_fuzz_fuzz_config_SOURCES = test/fuzz/fuzz_config.c
test_fuzz_fuzz_config_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS)
test_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
test_fuzz_fuzz_config_LDADD = agent/libagent.a aggregator/libaggregator.a $(COMMON_LIBS) \
	$(CURL_LIBS)
endif
EXTRA_DIST += test/fuzz/fuzz_config.c

if FUZZERS
noinst_PROGRAMS += test/fuzz/fuzz_message
test_fuzz_fuzz_message_SOURCES = test/fuzz/fuzz_message.c test/unit/utf8_ref.h
test_fuzz_fuzz_message_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
test_fuzz_fuzz_message_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
test_fuzz_fuzz_message_LDADD = $(COMMON_LIBS)
endif
EXTRA_DIST += test/fuzz/fuzz_message.c

if FUZZERS
noinst_PROGRAMS += test/fuzz/fuzz_accesslog
test_fuzz_fuzz_accesslog_SOURCES = test/fuzz/fuzz_accesslog.c
test_fuzz_fuzz_accesslog_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS)
test_fuzz_fuzz_accesslog_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
test_fuzz_fuzz_accesslog_LDADD = aggregator/libaggregator.a $(COMMON_LIBS)
endif
EXTRA_DIST += test/fuzz/fuzz_accesslog.c
