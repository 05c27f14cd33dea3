# test/model/: test/model/model_rotation, the model-based rotation test
# (issue 10): the agent's own modules driven by seeded random sequences of
# rotations and faults, checked by an oracle that reads the topic back.
# LOGTALLY_MODEL_SEEDS sets how many seeds a run draws;
# test/integration/agent_model.sh runs it with the real agent binary.
check_PROGRAMS += test/model/model_rotation
TESTS += test/model/model_rotation
test_model_model_rotation_SOURCES = \
	test/model/model.h \
	test/model/model_agent.c \
	test/model/model_files.c \
	test/model/model_oracle.c \
	test/model/model_process.c \
	test/model/model_rotation.c
test_model_model_rotation_CFLAGS = $(BASE_CFLAGS) $(YAML_CFLAGS) $(RDKAFKA_CFLAGS) \
	$(JANSSON_CFLAGS)
test_model_model_rotation_LDADD = agent/libagent.a $(COMMON_LIBS)
