# common/: common/libcommon.a, what both programs and every test link: the
# config loader, logging, buffers, units, metrics, the HTTP endpoint and the
# topic's message format.
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_CFLAGS = $(BASE_CFLAGS) $(YAML_CFLAGS) $(RDKAFKA_CFLAGS) \
	$(PCRE2_CFLAGS) $(MHD_CFLAGS) $(JANSSON_CFLAGS) $(XXHASH_CFLAGS) $(YAJL_CFLAGS)
common_libcommon_a_SOURCES = \
	common/buf.c common/buf.h \
	common/cli.c common/cli.h \
	common/confcheck.c common/confcheck.h \
	common/config.c common/config.h \
	common/config_env.c common/config_env.h \
	common/config_help.c \
	common/config_private.h \
	common/config_value.c \
	common/hmap.c common/hmap.h \
	common/httpd.c common/httpd.h \
	common/kafkaconf.c common/kafkaconf.h \
	common/logging.c common/logging.h \
	common/message.c common/message.h \
	common/message_decode.c \
	common/message_private.h \
	common/metrics.c common/metrics.h \
	common/runtime.c common/runtime.h \
	common/units.c common/units.h \
	common/utf8.h \
	common/xalloc.c common/xalloc.h

# What a program or test linking common/libcommon.a puts on its link line.
COMMON_LIBS = common/libcommon.a $(YAML_LIBS) $(RDKAFKA_LIBS) $(PCRE2_LIBS) \
	$(MHD_LIBS) $(JANSSON_LIBS) $(XXHASH_LIBS) $(YAJL_LIBS)
