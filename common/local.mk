# common/: the library both programs link. Fragments below only append.
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS) $(RDKAFKA_CFLAGS) \
	$(PCRE2_CFLAGS) $(MHD_CFLAGS) $(JANSSON_CFLAGS) $(XXHASH_CFLAGS)
common_libcommon_a_SOURCES = \
	common/xalloc.c common/xalloc.h

# What a program or test linking common/libcommon.a needs after it.
COMMON_LIBS = common/libcommon.a $(YAML_LIBS) $(RDKAFKA_LIBS) $(PCRE2_LIBS) \
	$(MHD_LIBS) $(JANSSON_LIBS) $(XXHASH_LIBS)

common_libcommon_a_SOURCES += common/logging.c common/logging.h
common_libcommon_a_SOURCES += \
	common/config.c common/config.h \
	common/config_env.c common/config_env.h \
	common/config_help.c common/config_value.c common/config_private.h \
	common/confcheck.c common/confcheck.h \
	common/units.c common/units.h

common_libcommon_a_SOURCES += common/buf.c common/buf.h
common_libcommon_a_SOURCES += common/cli.c common/cli.h

common_libcommon_a_SOURCES += common/metrics.c common/metrics.h

common_libcommon_a_SOURCES += common/httpd.c common/httpd.h
common_libcommon_a_SOURCES += common/hmap.c common/hmap.h

common_libcommon_a_SOURCES += common/message.c common/message.h
common_libcommon_a_SOURCES += common/message_decode.c common/message_private.h
common_libcommon_a_CFLAGS += $(YAJL_CFLAGS)
COMMON_LIBS += $(YAJL_LIBS)
common_libcommon_a_SOURCES += common/utf8.h
common_libcommon_a_SOURCES += common/runtime.c common/runtime.h
common_libcommon_a_SOURCES += common/kafkaconf.c common/kafkaconf.h
