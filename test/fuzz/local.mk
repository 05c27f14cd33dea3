# test/fuzz/: libFuzzer targets over what reads untrusted input (the config
# loader, the topic's message decoder, the access-log parser), built only
# with --enable-fuzzers (CC=clang); scripts/fuzz runs them. Each is built from
# test/fuzz/<name>.c.
if FUZZERS
noinst_PROGRAMS += \
	test/fuzz/fuzz_accesslog \
	test/fuzz/fuzz_config \
	test/fuzz/fuzz_message

test_fuzz_fuzz_accesslog_CFLAGS = $(BASE_CFLAGS) $(PCRE2_CFLAGS)
test_fuzz_fuzz_accesslog_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
test_fuzz_fuzz_accesslog_LDADD = aggregator/libaggregator.a $(COMMON_LIBS)

test_fuzz_fuzz_config_CFLAGS = $(BASE_CFLAGS) $(YAML_CFLAGS)
test_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
test_fuzz_fuzz_config_LDADD = agent/libagent.a aggregator/libaggregator.a \
	$(COMMON_LIBS) $(CURL_LIBS)

test_fuzz_fuzz_message_SOURCES = test/fuzz/fuzz_message.c test/unit/utf8_ref.h
test_fuzz_fuzz_message_CFLAGS = $(BASE_CFLAGS) $(JANSSON_CFLAGS)
test_fuzz_fuzz_message_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
test_fuzz_fuzz_message_LDADD = $(COMMON_LIBS)
endif
