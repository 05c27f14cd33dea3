# test/fuzz/: libFuzzer targets, built only with --enable-fuzzers (clang).
if FUZZERS
noinst_PROGRAMS += test/fuzz/fuzz_config
test_fuzz_fuzz_config_SOURCES = test/fuzz/fuzz_config.c
test_fuzz_fuzz_config_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS)
test_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
test_fuzz_fuzz_config_LDADD = agent/libagent.a aggregator/libaggregator.a $(COMMON_LIBS)
endif
EXTRA_DIST += test/fuzz/fuzz_config.c
