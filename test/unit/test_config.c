/*
 * Unit tests of the configuration loader and of both programs' key tables:
 * every bad file in test/data/config/bad must produce exactly the
 * errors of its .err file, every good file none; defaults, environment
 * expansion, --help-config and the sample files of config/ are checked
 * against the tables.
 *
 * Size: over 900 lines, one section per key family (files, when:, alert
 * conditions, samples). The next change here should move the aggregator's
 * conditional dimensions and alert conditions into test_config_aggregator.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

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
	assert_string_equal(cfg.mariadb.tls.ca, "");
	assert_false(cfg.mariadb.tls.verify_server_cert);
	aggregator_config_free(&cfg);
	free(path);
}

/*
 * Each rule's one condition is settled from the key the file sets, the
 * duration keys' text is handed on, and min_timed has its default: the
 * sample rules of good/aggregator-alerts.yml, one of each kind.
 */
static void test_alert_conditions(void **state)
{
	static const struct {
		const char *name;
		enum aggregator_alert_condition condition;
		const char *duration;           /* NULL: none */
		int64_t min_timed;
	} want[] = {
		{"errors-5xx", AGGREGATOR_ALERT_SHARE_ABOVE, NULL, 20},
		{"not_found", AGGREGATOR_ALERT_SHARE_ABOVE, NULL, 20},
		{"hot-tag", AGGREGATOR_ALERT_ABOVE, NULL, 20},
		{"slow-checkout", AGGREGATOR_ALERT_P95_ABOVE, "500ms", 50},
		{"slow-median", AGGREGATOR_ALERT_P50_ABOVE, "1.5s", 20},
		{"slow-p90", AGGREGATOR_ALERT_P90_ABOVE, "250us", 20},
		{"slow-p99", AGGREGATOR_ALERT_P99_ABOVE, "2s", 20},
		{"slow-avg", AGGREGATOR_ALERT_AVG_ABOVE, "0.3s", 20},
		{"big-downloads", AGGREGATOR_ALERT_BYTES_ABOVE, NULL, 20},
		{"any-bytes", AGGREGATOR_ALERT_BYTES_ABOVE, NULL, 20},
	};
	char *path = test_path("test/data/config/good/aggregator-alerts.yml");
	struct config_errors errs = {0};
	struct aggregator_config cfg;

	test_env();
	assert_int_equal(aggregator_config_load(&cfg, path, &errs), 0);
	assert_int_equal(cfg.alerts.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < cfg.alerts.n; i++) {
		struct aggregator_alert *rule = CONFIG_ITEM(cfg.alerts, struct aggregator_alert, i);

		assert_string_equal(rule->name, want[i].name);
		assert_int_equal(rule->condition, want[i].condition);
		if (want[i].duration)
			assert_string_equal(rule->duration_above, want[i].duration);
		else
			assert_null(rule->duration_above);
		assert_int_equal(rule->min_timed, want[i].min_timed);
	}
	assert_string_equal(aggregator_alert_conditions[AGGREGATOR_ALERT_P95_ABOVE],
			    "p95_above");
	assert_string_equal(aggregator_alert_conditions[AGGREGATOR_ALERT_BYTES_ABOVE],
			    "bytes_above");
	assert_int_equal(CONFIG_ITEM(cfg.alerts, struct aggregator_alert, 8)->bytes_above,
			 (uint64_t)1 << 30);
	assert_int_equal(CONFIG_ITEM(cfg.alerts, struct aggregator_alert, 9)->bytes_above, 0);
	aggregator_config_free(&cfg);
	free(path);
}

/* mariadb.tls.verify_server_cert follows ca unless the file sets it. */
static void test_tls_verify_default(void **state)
{
	static const struct {
		const char *tls;
		bool verify;
	} cases[] = {
		{"{ca: /etc/passwd}", true},
		{"{ca: /etc/passwd, verify_server_cert: false}", false},
		{"{cert: /etc/passwd, key: /etc/passwd}", false},
		{"{}", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = xasprintf("kafka: {brokers: k:9092}\nmariadb: {tls: %s}\n",
				       cases[i].tls);
		struct config_errors errs = {0};
		struct aggregator_config cfg = {0};

		assert_int_equal(config_load_string(&aggregator_config_section, &cfg,
						    "tls.yml", text, &errs), 0);
		if (cfg.mariadb.tls.verify_server_cert != cases[i].verify)
			fail_msg("%s: verify_server_cert is %d", cases[i].tls,
				 cfg.mariadb.tls.verify_server_cert);
		aggregator_config_free(&cfg);
		config_errors_fini(&errs);
		free(text);
	}
}

/* A file holding text with mode, made for the test; caller frees the name. */
static char *test_secret_file(const char *text, mode_t mode)
{
	char *path = xstrdup("/tmp/logtally-test-secret-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* text with its first "@" replaced by path (not printf: -Wformat-nonliteral). */
static char *test_subst(const char *text, const char *path)
{
	const char *at = strchr(text, '@');

	assert_non_null(at);
	return xasprintf("%.*s%s%s", (int)(at - text), text, path, at + 1);
}

/* Load an aggregator file of yaml; its errors without "secret.yml:", or "". */
static char *test_load_aggregator(const char *yaml, struct aggregator_config *cfg)
{
	char *text = xasprintf("kafka: {brokers: k:9092}\n%s", yaml);
	struct config_errors errs = {0};
	char *out = xstrdup("");

	memset(cfg, 0, sizeof(*cfg));
	config_load_string(&aggregator_config_section, cfg, "secret.yml", text, &errs);
	for (size_t i = 0; i < errs.n; i++) {
		char *next = xasprintf("%s%s\n", out, errs.items[i].text +
				       strlen("secret.yml:"));

		free(out);
		out = next;
	}
	config_errors_fini(&errs);
	free(text);
	return out;
}

/*
 * password_file and token_file: read at load without the trailing newline,
 * refused at their own line when open to others, missing, empty, or given
 * beside a non-empty inline value.
 */
static void test_secret_files(void **state)
{
	char *ok = test_secret_file("s3cret\r\n", 0600);
	char *open = test_secret_file("s3cret\n", 0644);
	char *empty = test_secret_file("\n", 0600);
	struct {
		const char *yaml, *path, *want;
	} bad[] = {
		{"mariadb:\n  password_file: @\n", open,
		 "3:18: mariadb.password_file: '@' is open to others (mode 0644): chmod o-rwx it\n"},
		{"mariadb:\n  password_file: @\n", empty,
		 "3:18: mariadb.password_file: '@' is empty\n"},
		{"mariadb:\n  password_file: @\n", "/nonexistent/pw",
		 "3:18: mariadb.password_file: cannot read '@': No such file or directory\n"},
		{"mariadb: {password: x,\n  password_file: @}\n", ok,
		 "3:18: mariadb.password_file: set password or password_file, not both\n"},
		{"http:\n  token_file: @\n", open,
		 "3:15: http.token_file: '@' is open to others (mode 0644): chmod o-rwx it\n"},
	};
	struct aggregator_config cfg;
	char *yaml, *got, *want;

	yaml = xasprintf("mariadb: {password: '', password_file: %s}\nhttp: {token_file: %s}\n",
			 ok, ok);
	got = test_load_aggregator(yaml, &cfg);
	assert_string_equal(got, "");
	assert_string_equal(cfg.mariadb.password, "s3cret");
	assert_string_equal(cfg.http.token, "s3cret");
	aggregator_config_free(&cfg);
	free(got);
	free(yaml);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		yaml = test_subst(bad[i].yaml, bad[i].path);
		want = strchr(bad[i].want, '@') ? test_subst(bad[i].want, bad[i].path) :
		       xstrdup(bad[i].want);
		got = test_load_aggregator(yaml, &cfg);
		assert_string_equal(got, want);
		aggregator_config_free(&cfg);
		free(got);
		free(want);
		free(yaml);
	}
	unlink(ok);
	unlink(open);
	unlink(empty);
	free(ok);
	free(open);
	free(empty);
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

/*
 * --- the sample files document every key --------------------------------
 *
 * A key of the table is documented when the sample has it as a key at its
 * place: "alerts[].name" is a key "name" of a mapping in the list under the
 * top-level key "alerts", never the "name" of a dimension. Optional keys may
 * be documented in a commented-out example: a run of comment lines whose
 * text is indented by two spaces or more after the '#' (such as
 * "#   alerts:"), parsed with the '#' taken away as a YAML document of its
 * own, from the top level.
 */
struct test_keys {
	char **paths;           /* owned */
	size_t n, cap;
};

static void test_keys_add(struct test_keys *keys, const char *path)
{
	if (keys->n == keys->cap) {
		keys->cap = keys->cap ? 2 * keys->cap : 64;
		keys->paths = xrealloc(keys->paths, keys->cap * sizeof(*keys->paths));
	}
	keys->paths[keys->n++] = xstrdup(path);
}

/*
 * Whether path is a key named by pattern, whose "*" segments (the keys of
 * a CONFIG_SECTION_MAP, such as dimensions[].when.*.match) match any one.
 */
static bool test_path_matches(const char *pattern, const char *path)
{
	while (*pattern && *path) {
		size_t pl = strcspn(pattern, "."), l = strcspn(path, ".");

		if ((pl != 1 || *pattern != '*') && (pl != l || strncmp(pattern, path, l)))
			return false;
		pattern += pl + (pattern[pl] == '.');
		path += l + (path[l] == '.');
	}
	return !*pattern && !*path;
}

static bool test_keys_has(const struct test_keys *keys, const char *path)
{
	for (size_t i = 0; i < keys->n; i++)
		if (test_path_matches(path, keys->paths[i]))
			return true;
	return false;
}

static void test_keys_fini(struct test_keys *keys)
{
	for (size_t i = 0; i < keys->n; i++)
		free(keys->paths[i]);
	free(keys->paths);
}

/* The key paths under node, named the way config_each_key() names keys. */
static void test_keys_walk(yaml_document_t *doc, yaml_node_t *node,
			   const char *prefix, struct test_keys *keys)
{
	if (node && node->type == YAML_SEQUENCE_NODE) {
		char *list = xasprintf("%s[]", prefix);

		for (yaml_node_item_t *item = node->data.sequence.items.start;
		     item < node->data.sequence.items.top; item++)
			test_keys_walk(doc, yaml_document_get_node(doc, *item), list, keys);
		free(list);
		return;
	}
	if (!node || node->type != YAML_MAPPING_NODE)
		return;
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(doc, pair->key);
		char *path;

		if (!key || key->type != YAML_SCALAR_NODE)
			continue;
		path = xasprintf("%s%s%.*s", prefix, *prefix ? "." : "",
				 (int)key->data.scalar.length,
				 (const char *)key->data.scalar.value);
		test_keys_add(keys, path);
		test_keys_walk(doc, yaml_document_get_node(doc, pair->value), path, keys);
		free(path);
	}
}

/* Add the key paths of the YAML document text. Returns 0, or -1 when it is not YAML. */
static int test_keys_parse(const char *text, struct test_keys *keys)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc = -1;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	if (yaml_parser_load(&parser, &doc)) {
		test_keys_walk(&doc, yaml_document_get_root_node(&doc), "", keys);
		yaml_document_delete(&doc);
		rc = 0;
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* A line of a commented-out example: '#' at the start, then two spaces. */
static bool test_example_line(const char *line, size_t len)
{
	return len >= 3 && !strncmp(line, "#  ", 3);
}

/*
 * Add the key paths of the commented-out examples of text. Returns 0, or
 * -1 when one of them is not YAML.
 */
static int test_keys_examples(const char *text, struct test_keys *keys)
{
	char *example = xcalloc(1, strlen(text) + 1);
	size_t used = 0;
	int rc = 0;

	for (const char *line = text; *line && !rc; ) {
		size_t len = strcspn(line, "\n");
		bool in = test_example_line(line, len);

		if (in) {
			example[used++] = ' ';  /* the '#' */
			memcpy(example + used, line + 1, len - 1);
			used += len - 1;
			example[used++] = '\n';
		}
		line += len + (line[len] == '\n');
		if (used && (!in || !*line)) {
			example[used] = '\0';
			rc = test_keys_parse(example, keys);
			used = 0;
		}
	}
	free(example);
	return rc;
}

struct test_missing {
	const struct test_keys *keys;
	struct test_keys missing;
};

/*
 * A shorthand key (CONFIG_SHORTHAND) is documented by its section written
 * in short: dimensions[].when.*.is by "when: {status: 404}".
 */
static void test_missing_key(const char *name, const struct config_key *key, void *arg)
{
	struct test_missing *m = arg;
	char *section = xstrdup(name), *dot = strrchr(section, '.');
	bool in_short = false;

	if (dot && (key->flags & CONFIG_SHORTHAND)) {
		*dot = '\0';
		in_short = test_keys_has(m->keys, section);
	}
	if (!test_keys_has(m->keys, name) && !in_short)
		test_keys_add(&m->missing, name);
	free(section);
}

/*
 * The keys of table that text does not document, one per line ("" when
 * none), or NULL when text or one of its examples is not YAML. Caller
 * frees the result.
 */
static char *test_undocumented(const struct config_section *table, const char *text)
{
	struct test_keys keys = {0};
	struct test_missing m = {&keys, {0}};
	char *out = NULL;

	if (!test_keys_parse(text, &keys) && !test_keys_examples(text, &keys)) {
		config_each_key(table, test_missing_key, &m);
		out = xstrdup("");
		for (size_t i = 0; i < m.missing.n; i++) {
			char *next = xasprintf("%s%s\n", out, m.missing.paths[i]);

			free(out);
			out = next;
		}
	}
	test_keys_fini(&m.missing);
	test_keys_fini(&keys);
	return out;
}

/* The files under config/ load and document every key of their table. */
static void test_sample_files(void **state)
{
	static const char *const files[] = {"config/agent.yml", "config/aggregator.yml"};
	const struct config_section *tables[] = {&agent_config_section,
						 &aggregator_config_section};

	for (size_t i = 0; i < 2; i++) {
		char *path = test_path(files[i]), *text = test_read(path), *missing;
		struct config_errors errs = {0};
		void *obj = xcalloc(1, tables[i]->size);

		if (config_load_file(tables[i], obj, path, &errs) != 0) {
			config_errors_print(&errs, stderr);
			fail_msg("%s does not load", files[i]);
		}
		missing = test_undocumented(tables[i], text);
		if (!missing)
			fail_msg("%s: a commented-out example is not YAML", files[i]);
		if (*missing)
			fail_msg("%s does not document these keys:\n%s", files[i], missing);
		free(missing);
		config_free(tables[i], obj);
		free(obj);
		free(text);
		free(path);
	}
}

/*
 * A key counts only at its own place: alerts[].name is not documented by
 * the name of a dimension, nor by a "name:" in prose or in an example
 * that belongs to another section.
 */
static void test_sample_keys_in_place(void **state)
{
	static const char text[] =
		"dimensions:\n"
		"  - {name: url, from: path}   # the alert's name: below\n"
		"# An example (name: is required):\n"
		"#\n"
		"#   alerts:\n"
		"#     - dimension: status\n"
		"#   kafka:\n"
		"#     over: 1m\n";
	char *missing = test_undocumented(&aggregator_config_section, text);
	char *lines;

	assert_non_null(missing);
	lines = xasprintf("\n%s", missing);
	assert_non_null(strstr(lines, "\nalerts[].name\n"));
	assert_non_null(strstr(lines, "\nalerts[].over\n"));
	assert_null(strstr(lines, "\nalerts[].dimension\n"));
	assert_null(strstr(lines, "\ndimensions[].name\n"));
	assert_null(strstr(lines, "\ndimensions[].from\n"));
	assert_null(strstr(lines, "\nkafka\n"));
	free(lines);
	free(missing);
	missing = test_undocumented(&aggregator_config_section,
				    "window: 5s\n#   alerts: [unclosed\n");
	assert_null(missing);
}

/* The dimension called name in cfg, or NULL. */
static struct aggregator_dimension *test_dimension(struct aggregator_config *cfg,
						   const char *name)
{
	for (size_t i = 0; i < cfg->dimensions.n; i++) {
		struct aggregator_dimension *dim =
			CONFIG_ITEM(cfg->dimensions, struct aggregator_dimension, i);

		if (!strcmp(dim->name, name))
			return dim;
	}
	return NULL;
}

/* Condition i of dimension name, whose when has n conditions. */
static struct aggregator_condition *test_condition(struct aggregator_config *cfg,
						   const char *name, size_t n, size_t i)
{
	struct aggregator_dimension *dim = test_dimension(cfg, name);

	assert_non_null(dim);
	assert_int_equal(dim->when.n, n);
	return CONFIG_ITEM(dim->when, struct aggregator_condition, i);
}

/* cond is on field with is = the items of want joined by ' ', and patterns. */
static void test_condition_is(const struct aggregator_condition *cond,
			      const char *field, const char *want,
			      const char *match, const char *not_match)
{
	char got[256] = "";

	for (size_t i = 0; i < cond->is.n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
			 i ? " " : "", cond->is.items[i]);
	assert_string_equal(cond->field, field);
	assert_string_equal(got, want);
	assert_string_equal(cond->match, match);
	assert_string_equal(cond->not_match, not_match);
}

/*
 * when: a value, a list, the long form with patterns, several conditions
 * in file order; the sample's four conditional dimensions load as written.
 */
static void test_when_values(void **state)
{
	static const char text[] =
		"kafka: {brokers: 'k:9092'}\n"
		"dimensions:\n"
		"  - {name: a, from: path, when: {status: 404}}\n"
		"  - {name: b, from: path, when: {status: [401, 403, 5xx]}}\n"
		"  - {name: c, from: referer_host, when: {method: POST, status: 2xx,\n"
		"      user_agent: {match: '(?i)bot', not_match: Google},\n"
		"      remote_addr: {is: [10.0.0.1, '::1']}}}\n"
		"  - {name: d, from: remote_addr, when: ~}\n";
	struct aggregator_config cfg = {0};
	struct config_errors errs = {0};
	char *path = test_path("config/aggregator.yml");

	if (config_load_string(&aggregator_config_section, &cfg, "when.yml", text, &errs)) {
		config_errors_print(&errs, stderr);
		fail_msg("when.yml does not load");
	}
	test_condition_is(test_condition(&cfg, "a", 1, 0), "status", "404", "", "");
	test_condition_is(test_condition(&cfg, "b", 1, 0), "status", "401 403 5xx", "", "");
	test_condition_is(test_condition(&cfg, "c", 4, 0), "method", "POST", "", "");
	test_condition_is(test_condition(&cfg, "c", 4, 1), "status", "2xx", "", "");
	test_condition_is(test_condition(&cfg, "c", 4, 2), "user_agent", "", "(?i)bot", "Google");
	test_condition_is(test_condition(&cfg, "c", 4, 3), "remote_addr", "10.0.0.1 ::1", "", "");
	assert_int_equal(test_dimension(&cfg, "d")->when.n, 0);
	aggregator_config_free(&cfg);

	assert_int_equal(aggregator_config_load(&cfg, path, &errs), 0);
	test_condition_is(test_condition(&cfg, "url_404", 1, 0), "status", "404", "", "");
	test_condition_is(test_condition(&cfg, "url_5xx", 1, 0), "status", "5xx", "", "");
	test_condition_is(test_condition(&cfg, "post_target", 1, 0), "method", "POST", "", "");
	test_condition_is(test_condition(&cfg, "referer_404", 1, 0), "status", "404", "", "");
	assert_string_equal(test_dimension(&cfg, "url_404")->from, "path");
	assert_string_equal(test_dimension(&cfg, "url_5xx")->from, "path");
	assert_string_equal(test_dimension(&cfg, "post_target")->from, "target");
	assert_string_equal(test_dimension(&cfg, "referer_404")->from, "referer_host");
	aggregator_config_free(&cfg);
	config_errors_fini(&errs);
	free(path);
}

/*
 * A refused when stops the load with -EINVAL, the class the aggregator's
 * main turns into exit status 2 (test/integration/aggregator_when.sh runs
 * it), with the error at the condition's line and column.
 */
static void test_when_refused(void **state)
{
	static const char *const cases[][2] = {
		{"  - {name: a, from: path, when: {status: 6xx}}\n",
		 "w.yml:3:42: dimensions[0].when.status.is[0]: '6xx' is not a status"},
		{"  - {name: a, from: path, when: {status: [404, abc]}}\n",
		 "w.yml:3:48: dimensions[0].when.status.is[1]: 'abc' is not a status"},
		{"  - {name: a, from: path, when: {agent: {match: x}}}\n",
		 "w.yml:3:41: dimensions[0].when.agent: 'agent' is not a field of the log format "
		 "(fields: path, target, method, protocol, status, bytes, referer, referer_host,"},
		{"  - {name: a, from: path, when: {user_agent: {match: 'a(b'}}}\n",
		 "w.yml:3:58: dimensions[0].when.user_agent.match: invalid regular expression at offset 3"},
		{"  - {name: a, from: path, when: {user_agent: {not_match: '[z'}}}\n",
		 "w.yml:3:61: dimensions[0].when.user_agent.not_match: invalid regular expression at offset 2"},
		{"  - {name: a, from: path, when: status}\n",
		 "w.yml:3:33: dimensions[0].when: expected a mapping, found a scalar"},
		{"  - {name: a, from: path, when: {status: {}}}\n",
		 "w.yml:3:42: dimensions[0].when.status: needs a value, a list, match or not_match"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = xasprintf("kafka: {brokers: 'k:9092'}\ndimensions:\n%s", cases[i][0]);
		struct aggregator_config cfg = {0};
		struct config_errors errs = {0};

		assert_int_equal(config_load_string(&aggregator_config_section, &cfg, "w.yml",
						    text, &errs), -EINVAL);
		assert_int_equal(errs.n, 1);
		if (strncmp(errs.items[0].text, cases[i][1], strlen(cases[i][1])))
			fail_msg("%s:\nexpected: %s\ngot:      %s", cases[i][0], cases[i][1],
				 errs.items[0].text);
		aggregator_config_free(&cfg);
		config_errors_fini(&errs);
		free(text);
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
		cmocka_unit_test(test_alert_conditions),
		cmocka_unit_test(test_aggregator_defaults),
		cmocka_unit_test(test_tls_verify_default),
		cmocka_unit_test(test_secret_files),
		cmocka_unit_test(test_agent_values),
		cmocka_unit_test(test_agent_defaults),
		cmocka_unit_test(test_env_expansion),
		cmocka_unit_test(test_help_lists_every_key),
		cmocka_unit_test(test_sample_files),
		cmocka_unit_test(test_sample_keys_in_place),
		cmocka_unit_test(test_when_values),
		cmocka_unit_test(test_when_refused),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
