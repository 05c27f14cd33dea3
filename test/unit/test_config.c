/*
 * Unit tests of the configuration loader and of both programs' key tables:
 * every bad file in test/data/config/bad must produce exactly the
 * errors of its .err file, every good file none; defaults, environment
 * expansion, --help-config and the sample files of config/ are checked
 * against the tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_config.h"
#include "aggregator/aggregator_config.h"
#include "config.h"
#include "config_env.h"
#include "xalloc.h"

static char *test_path(const char *rel)
{
	const char *top = getenv("top_srcdir");

	return xasprintf("%s/%s", top ? top : ".", rel);
}

static char *test_read(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text = xcalloc(1, 1 << 16);

	assert_non_null(f);
	fread(text, 1, (1 << 16) - 1, f);
	fclose(f);
	return text;
}

/* The table for a data file, chosen by its name's prefix. */
static const struct config_section *test_table(const char *name)
{
	if (!strncmp(name, "agent-", 6))
		return &agent_config_section;
	if (!strncmp(name, "aggregator-", 11))
		return &aggregator_config_section;
	fail_msg("%s: name must start with agent- or aggregator-", name);
	return NULL;
}

static void test_env(void)
{
	setenv("LOGTALLY_TEST_VALUE", "from-env", 1);
	unsetenv("LOGTALLY_TEST_UNSET");
}

/* Load dir/name and return its errors as text, without the file prefix. */
static char *test_load(const char *dir, const char *name)
{
	const struct config_section *table = test_table(name);
	char *path = xasprintf("%s/%s", dir, name);
	struct config_errors errs = {0};
	void *obj = xcalloc(1, table->size);
	size_t prefix = strlen(path) + 1;
	char *out = xstrdup("");

	config_load_file(table, obj, path, &errs);
	for (size_t i = 0; i < errs.n; i++) {
		char *next;

		assert_memory_equal(errs.items[i].text, path, prefix - 1);
		next = xasprintf("%s%s\n", out, errs.items[i].text + prefix);
		free(out);
		out = next;
	}
	config_free(table, obj);
	config_errors_fini(&errs);
	free(obj);
	free(path);
	return out;
}

static int test_is_yml(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 4 && !strcmp(d->d_name + n - 4, ".yml");
}

static void test_bad_files(void **state)
{
	char *dir = test_path("test/data/config/bad");
	struct dirent **names;
	int n = scandir(dir, &names, test_is_yml, alphasort);

	assert_true(n >= 15);
	test_env();
	for (int i = 0; i < n; i++) {
		char *err_path = xasprintf("%s/%.*s.err", dir,
					   (int)strlen(names[i]->d_name) - 4,
					   names[i]->d_name);
		char *want = test_read(err_path);
		char *got = test_load(dir, names[i]->d_name);

		if (strcmp(want, got))
			fail_msg("%s:\nexpected:\n%sgot:\n%s", names[i]->d_name, want, got);
		assert_true(strlen(got) > 0);
		free(want);
		free(got);
		free(err_path);
		free(names[i]);
	}
	free(names);
	free(dir);
}

static void test_good_files(void **state)
{
	char *dir = test_path("test/data/config/good");
	struct dirent **names;
	int n = scandir(dir, &names, test_is_yml, alphasort);

	assert_true(n >= 4);
	test_env();
	for (int i = 0; i < n; i++) {
		char *got = test_load(dir, names[i]->d_name);

		if (*got)
			fail_msg("%s: unexpected errors:\n%s", names[i]->d_name, got);
		free(got);
		free(names[i]);
	}
	free(names);
	free(dir);
}

static void test_aggregator_defaults(void **state)
{
	char *path = test_path("test/data/config/good/aggregator-minimal.yml");
	struct config_errors errs = {0};
	struct aggregator_config cfg;
	struct aggregator_dimension *tag;

	assert_int_equal(aggregator_config_load(&cfg, path, &errs), 0);
	assert_string_equal(cfg.kafka.topic, "weblogs");
	assert_string_equal(cfg.kafka.group, "logtally");
	assert_int_equal(cfg.kafka.properties.n, 0);
	assert_string_equal(cfg.mariadb.host, "127.0.0.1");
	assert_string_equal(cfg.mariadb.socket, "");
	assert_int_equal(cfg.mariadb.port, 3306);
	assert_string_equal(cfg.mariadb.password, "");
	assert_int_equal(cfg.window, 5000);
	assert_int_equal(cfg.flush_interval, 1000);
	assert_int_equal(cfg.max_pending, 64 << 20);
	assert_int_equal(cfg.lateness, 60000);
	assert_string_equal(cfg.log_format, "combined");
	assert_int_equal(cfg.dimensions.n, 3);
	assert_string_equal(CONFIG_ITEM(cfg.dimensions, struct aggregator_dimension, 0)->from, "path");
	tag = CONFIG_ITEM(cfg.dimensions, struct aggregator_dimension, 2);
	assert_string_equal(tag->name, "hashtag");
	assert_string_equal(tag->match, "#(\\w+)");
	assert_true(tag->lowercase);
	assert_int_equal(cfg.rollups.n, 2);
	assert_int_equal(cfg.rollups.items[1], 3600000);
	assert_int_equal(cfg.retention.n, 3);
	assert_int_equal(cfg.retention.items[2].key, 3600000);
	assert_int_equal(cfg.retention.items[2].value, 400LL * 86400000);
	assert_int_equal(cfg.max_values, 10000);
	assert_string_equal(cfg.http.listen, "127.0.0.1:8080");
	assert_string_equal(cfg.http.token, "");
	aggregator_config_free(&cfg);
	free(path);
}

static void test_agent_values(void **state)
{
	char *path = test_path("test/data/config/good/agent-full.yml");
	struct config_errors errs = {0};
	struct agent_config cfg;
	struct agent_input *in;

	test_env();
	assert_int_equal(agent_config_load(&cfg, path, &errs), 0);
	assert_string_equal(cfg.name, "web-01");
	assert_int_equal(cfg.inputs.n, 2);
	in = CONFIG_ITEM(cfg.inputs, struct agent_input, 0);
	assert_int_equal(in->paths.n, 2);
	assert_string_equal(in->paths.items[1], "/srv/*/logs/access.log");
	assert_int_equal(in->read_from, AGENT_READ_END);
	assert_int_equal(in->fields.n, 2);
	assert_string_equal(in->fields.items[1].key, "env");
	assert_string_equal(in->fields.items[1].value, "from-env");
	assert_int_equal(CONFIG_ITEM(cfg.inputs, struct agent_input, 1)->read_from,
			 AGENT_READ_BEGINNING);
	assert_int_equal(cfg.kafka.properties.n, 3);
	assert_string_equal(cfg.http.listen, "[::1]:0");
	assert_int_equal(cfg.scan_interval, 500);
	assert_int_equal(cfg.close_inactive, 5400000);
	assert_int_equal(cfg.max_buffer, 1000000000);
	assert_int_equal(cfg.max_line_bytes, 65536);
	assert_int_equal(cfg.shutdown_timeout, 0);
	agent_config_free(&cfg);
	free(path);
}

static void test_agent_defaults(void **state)
{
	char *path = test_path("test/data/config/good/agent-minimal.yml");
	struct config_errors errs = {0};
	struct agent_config cfg;
	struct agent_input *in;
	char host[256] = "";

	assert_int_equal(agent_config_load(&cfg, path, &errs), 0);
	gethostname(host, sizeof(host) - 1);
	assert_string_equal(cfg.name, host);
	in = CONFIG_ITEM(cfg.inputs, struct agent_input, 0);
	assert_int_equal(in->paths.n, 1);     /* a lone scalar is a list of one */
	assert_int_equal(in->exclude.n, 0);
	assert_int_equal(in->read_from, AGENT_READ_BEGINNING);
	assert_string_equal(cfg.data_dir, "/var/lib/logtally");
	assert_string_equal(cfg.kafka.topic, "weblogs");
	assert_string_equal(cfg.http.listen, "");
	assert_int_equal(cfg.scan_interval, 10000);
	assert_int_equal(cfg.close_inactive, 300000);
	assert_int_equal(cfg.max_open_files, 1024);
	assert_int_equal(cfg.max_line_bytes, 1 << 20);
	assert_int_equal(cfg.max_buffer, 16 << 20);
	assert_int_equal(cfg.registry_flush, 1000);
	assert_int_equal(cfg.clean_removed, 86400000);
	assert_int_equal(cfg.shutdown_timeout, 10000);
	agent_config_free(&cfg);
	free(path);
}

static void test_env_expansion(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"plain", "plain"},
		{"${LOGTALLY_TEST_VALUE}", "from-env"},
		{"a-${LOGTALLY_TEST_VALUE}-b", "a-from-env-b"},
		{"${LOGTALLY_TEST_UNSET:-fallback}", "fallback"},
		{"${LOGTALLY_TEST_VALUE:-fallback}", "from-env"},
		{"${LOGTALLY_TEST_UNSET:-}", ""},
		{"$${LOGTALLY_TEST_VALUE}", "${LOGTALLY_TEST_VALUE}"},
		{"cost: $5", "cost: $5"},
		{"${LOGTALLY_TEST_UNSET:-a b:c}", "a b:c"},
	};
	char err[256], *out;
	size_t at;

	test_env();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(config_env_expand(cases[i].in, &out, err, sizeof(err), &at), 0);
		assert_string_equal(out, cases[i].out);
		free(out);
	}
	assert_int_equal(config_env_expand("ab${LOGTALLY_TEST_UNSET}", &out, err,
					   sizeof(err), &at), -1);
	assert_null(out);
	assert_int_equal(at, 2);
	assert_non_null(strstr(err, "LOGTALLY_TEST_UNSET is not set"));
	assert_int_equal(config_env_expand("${LOGTALLY_TEST_VALUE", &out, err,
					   sizeof(err), &at), -1);
	assert_int_equal(config_env_expand("x${}", &out, err, sizeof(err), &at), -1);
	assert_int_equal(at, 1);
}

static void test_help_key(const char *name, const struct config_key *key, void *arg)
{
	char *help = arg, *line = xasprintf("\n%s\n", name);

	if (!strstr(help, line))
		fail_msg("--help-config does not list %s", name);
	assert_non_null(key->help);
	free(line);
}

static void test_help_lists_every_key(void **state)
{
	const struct config_section *tables[] = {&agent_config_section,
						 &aggregator_config_section};

	for (size_t i = 0; i < 2; i++) {
		char *text = NULL, *help;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);

		fputc('\n', out);
		config_help(tables[i], out);
		fclose(out);
		help = text;
		config_each_key(tables[i], test_help_key, help);
		free(text);
	}
}

/* The files under config/ must load and mention every key of the table as "key:". */
static void test_sample_key(const char *name, const struct config_key *key, void *arg)
{
	const char *leaf = strrchr(name, '.');
	char *needle = xasprintf("%s:", leaf ? leaf + 1 : name);

	if (!strstr(arg, needle))
		fail_msg("the sample configuration does not mention %s", name);
	free(needle);
}

static void test_sample_files(void **state)
{
	static const char *const files[] = {"config/agent.yml", "config/aggregator.yml"};
	const struct config_section *tables[] = {&agent_config_section,
						 &aggregator_config_section};

	for (size_t i = 0; i < 2; i++) {
		char *path = test_path(files[i]), *text = test_read(path);
		struct config_errors errs = {0};
		void *obj = xcalloc(1, tables[i]->size);

		if (config_load_file(tables[i], obj, path, &errs) != 0) {
			config_errors_print(&errs, stderr);
			fail_msg("%s does not load", files[i]);
		}
		config_each_key(tables[i], test_sample_key, text);
		config_free(tables[i], obj);
		free(obj);
		free(text);
		free(path);
	}
}

static void test_error_cap(void **state)
{
	struct config_errors errs = {0};
	struct agent_config cfg = {0};
	char *text = xstrdup("");

	for (int i = 0; i < 150; i++) {
		char *next = xasprintf("%sunknown_%d: 1\n", text, i);

		free(text);
		text = next;
	}
	assert_int_equal(config_load_string(&agent_config_section, &cfg, "cap.yml",
					    text, &errs), -EINVAL);
	assert_int_equal(errs.n, 100);
	assert_true(errs.dropped > 50);
	agent_config_free(&cfg);
	config_errors_fini(&errs);
	free(text);
}

static void test_missing_file(void **state)
{
	struct config_errors errs = {0};
	struct agent_config cfg;

	assert_int_equal(agent_config_load(&cfg, "/nonexistent/agent.yml", &errs), -ENOENT);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.items[0].text, "/nonexistent/agent.yml: cannot open"));
	agent_config_free(&cfg);
	config_errors_fini(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_good_files),
		cmocka_unit_test(test_aggregator_defaults),
		cmocka_unit_test(test_agent_values),
		cmocka_unit_test(test_agent_defaults),
		cmocka_unit_test(test_env_expansion),
		cmocka_unit_test(test_help_lists_every_key),
		cmocka_unit_test(test_sample_files),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
