/*
 * libFuzzer target: any bytes as a configuration file of either program.
 * The loader must report errors, never crash, leak or read out of bounds.
 * Seeds: test/data/config/{good,bad}/*.yml. Built with --enable-fuzzers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_config.h"
#include "aggregator/aggregator_config.h"
#include "config.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_load(const struct config_section *table, const char *text)
{
	struct config_errors errs = {0};
	void *obj = xcalloc(1, table->size);

	config_load_string(table, obj, "fuzz.yml", text, &errs);
	config_free(table, obj);
	config_errors_fini(&errs);
	free(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);

	fuzz_load(&agent_config_section, text);
	fuzz_load(&aggregator_config_section, text);
	free(text);
	return 0;
}
