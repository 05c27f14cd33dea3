/*
 * Unit tests of agent/registry: a save/open round trip of every field, the
 * atomic save (failures injected by making registry.json.tmp a directory,
 * which makes its open fail, and by RLIMIT_FSIZE, which makes its write fail
 * half way; a read-only folder stops nobody when the tests run as root),
 * dirty tracking and the write count, corrupt files refused and then moved
 * aside by a reset, the lock, cleaning by age, and the pointers and lookups
 * that the tail holds on to.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/registry.h"
#include "logging.h"

struct fixture {
	char dir[64];          /* a fresh folder per test */
	char data_dir[96];     /* dir/data, created by registry_open */
};

static int fixture_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_registry.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->data_dir, sizeof(fx->data_dir), "%s/data", fx->dir);
	*state = fx;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];
	int rc;

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	rc = system(cmd);
	free(fx);
	return rc == 0 ? 0 : -1;
}

static const char *in_data(const struct fixture *fx, const char *name)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", fx->data_dir, name);
	return path;
}

/* The whole content of path (NUL-terminated), or NULL if it is missing. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long n;

	if (!f)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	data[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return data;
}

static void spew(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static struct registry *open_ok(const struct fixture *fx)
{
	char err[512] = "";
	struct registry *reg = registry_open(fx->data_dir, false, err,
					     sizeof(err));

	if (!reg)
		fail_msg("registry_open: %s", err);
	return reg;
}

/* A registry of n entries with distinct fingerprints, saved. */
static struct registry *open_with(const struct fixture *fx, size_t n)
{
	struct registry *reg = open_ok(fx);

	for (size_t i = 0; i < n; i++)
		registry_add(reg, "web-01", 1000 + i, 0, (int64_t)i * 10,
			     "/var/log/access.log");
	assert_int_equal(registry_save(reg), 0);
	return reg;
}

static void test_missing_is_empty(void **state)
{
	struct fixture *fx = *state;
	struct registry *reg = open_ok(fx);
	struct stat st;

	assert_int_equal(stat(fx->data_dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0750);
	assert_int_equal(registry_count(reg), 0);
	assert_false(registry_dirty(reg));
	assert_int_equal(registry_save(reg), 0);
	assert_int_equal(registry_writes(reg), 0);
	assert_false(exists(in_data(fx, "registry.json")));
	assert_null(registry_find(reg, "0000000000000000"));
	assert_null(registry_find_fingerprint(reg, 1, 0));
	registry_free(reg);
	registry_free(NULL);
}

/* Values at every edge: 64-bit dev and ino past 2^53, the largest
 * generation, a non-UTF-8 path, negative and huge times. */
static void fill_entry(struct registry_entry *e, size_t i)
{
	e->offset = (int64_t)i * 1000003;
	e->dev = (dev_t)(i % 3 == 0 ? UINT64_MAX - i : i);
	e->ino = (ino_t)(i % 2 ? (UINT64_C(1) << 53) + i : (UINT64_C(1) << 53) - 1);
	e->seen = i % 5 == 0 ? -(int64_t)i : INT64_MAX - (int64_t)i;
	if (i == 7) {
		free(e->path);
		e->path = strdup("/var/log/caf\xc3\xa9/\"quoted\"\\.log");
	}
}

static void check_entry(const struct registry_entry *e, size_t i)
{
	struct registry_entry want = { .path = NULL };

	fill_entry(&want, i);
	assert_true(e->fingerprint == (UINT64_C(0xfedcba9876543210) ^ i));
	assert_int_equal(e->generation, i == 0 ? UINT32_MAX : (uint32_t)i % 4);
	assert_true(e->offset == want.offset);
	assert_true(e->dev == want.dev);
	assert_true(e->ino == want.ino);
	assert_true(e->seen == want.seen);
	if (i == 7)
		assert_string_equal(e->path, "/var/log/caf\xc3\xa9/\"quoted\"\\.log");
	else if (i == 8)
		assert_string_equal(e->path, "/var/log/?\x01.log");
	else
		assert_string_equal(e->path, "/var/log/access.log");
	free(want.path);
}

static void test_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct registry *reg = open_ok(fx);
	struct registry_entry *e;
	char id[FINGERPRINT_ID_LEN + 1];
	size_t n = 3000;

	for (size_t i = 0; i < n; i++) {
		e = registry_add(reg, "web-01", UINT64_C(0xfedcba9876543210) ^ i,
				 i == 0 ? UINT32_MAX : (uint32_t)i % 4, 0,
				 i == 8 ? "/var/log/\xff\x01.log" : "/var/log/access.log");
		fill_entry(e, i);
	}
	assert_int_equal(registry_save(reg), 0);
	registry_free(reg);
	reg = open_ok(fx);
	assert_int_equal(registry_count(reg), n);
	for (size_t i = 0; i < n; i++) {
		fingerprint_source_id("web-01", UINT64_C(0xfedcba9876543210) ^ i,
				      i == 0 ? UINT32_MAX : (uint32_t)i % 4, id);
		e = registry_find(reg, id);
		assert_non_null(e);
		assert_string_equal(e->id, id);
		check_entry(e, i);
	}
	assert_false(registry_dirty(reg));
	registry_free(reg);
}

/* The file's shape, as another reader sees it. */
static void test_file_format(void **state)
{
	struct fixture *fx = *state;
	struct registry *reg = open_ok(fx);
	struct registry_entry *e;
	json_t *root, *item;
	struct stat st;

	e = registry_add(reg, "web-01", UINT64_C(0x8000000000000001), 2, 123,
			 "/var/log/a.log");
	e->dev = 2049;
	e->ino = (ino_t)UINT64_C(0x0020000000000000);
	e->seen = 1764016000;
	assert_int_equal(registry_save(reg), 0);
	root = json_load_file(in_data(fx, "registry.json"), 0, NULL);
	assert_non_null(root);
	assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
	item = json_array_get(json_object_get(root, "entries"), 0);
	assert_string_equal(json_string_value(json_object_get(item, "id")), e->id);
	assert_string_equal(json_string_value(json_object_get(item, "fingerprint")),
			    "8000000000000001");
	assert_int_equal(json_integer_value(json_object_get(item, "generation")), 2);
	assert_int_equal(json_integer_value(json_object_get(item, "offset")), 123);
	assert_string_equal(json_string_value(json_object_get(item, "path")),
			    "/var/log/a.log");
	assert_int_equal(json_integer_value(json_object_get(item, "dev")), 2049);
	assert_string_equal(json_string_value(json_object_get(item, "ino")),
			    "0020000000000000");
	assert_int_equal(json_integer_value(json_object_get(item, "seen")),
			 1764016000);
	json_decref(root);
	assert_int_equal(stat(in_data(fx, "registry.json"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	registry_free(reg);
}

static ino_t inode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

/* Every save renames a new file in, so a new inode means a write. */
static void test_dirty_tracking(void **state)
{
	struct fixture *fx = *state;
	struct registry *reg = open_ok(fx);
	struct registry_entry *e, *again;
	ino_t ino;

	assert_int_equal(registry_save(reg), 0);
	assert_int_equal(registry_writes(reg), 0);
	e = registry_add(reg, "web-01", 5, 0, 0, "/a");
	assert_true(registry_dirty(reg));
	assert_int_equal(registry_save(reg), 0);
	assert_int_equal(registry_writes(reg), 1);
	assert_false(registry_dirty(reg));
	ino = inode_of(in_data(fx, "registry.json"));
	assert_int_equal(registry_save(reg), 0);
	assert_int_equal(registry_writes(reg), 1);
	assert_true(inode_of(in_data(fx, "registry.json")) == ino);
	/* Adding a known source changes nothing. */
	again = registry_add(reg, "web-01", 5, 0, 999, "/b");
	assert_ptr_equal(again, e);
	assert_true(again->offset == 0);
	assert_false(registry_dirty(reg));
	e->offset = 4096;
	registry_touch(reg);
	assert_true(registry_dirty(reg));
	assert_int_equal(registry_save(reg), 0);
	assert_int_equal(registry_writes(reg), 2);
	assert_true(inode_of(in_data(fx, "registry.json")) != ino);
	registry_free(reg);
	reg = open_ok(fx);
	assert_true(registry_find_fingerprint(reg, 5, 0)->offset == 4096);
	assert_int_equal(registry_writes(reg), 0);
	registry_free(reg);
}

/* Failure injection 1: registry.json.tmp is a directory, so its open fails. */
static void test_save_failure_on_open(void **state)
{
	struct fixture *fx = *state;
	struct registry *reg = open_with(fx, 50);
	char *before, *after;
	int rc;

	before = slurp(in_data(fx, "registry.json"), NULL);
	assert_non_null(before);
	assert_int_equal(mkdir(in_data(fx, "registry.json.tmp"), 0700), 0);
	registry_at(reg, 3)->offset = 777777;
	registry_touch(reg);
	rc = registry_save(reg);
	assert_int_equal(rc, -EISDIR);
	assert_true(registry_dirty(reg));
	assert_int_equal(registry_writes(reg), 1);
	after = slurp(in_data(fx, "registry.json"), NULL);
	assert_string_equal(after, before);
	free(after);
	/* Once the obstacle is gone, the next save writes the change. */
	assert_int_equal(rmdir(in_data(fx, "registry.json.tmp")), 0);
	assert_int_equal(registry_save(reg), 0);
	assert_int_equal(registry_writes(reg), 2);
	after = slurp(in_data(fx, "registry.json"), NULL);
	assert_non_null(strstr(after, "\"offset\":777777"));
	assert_false(exists(in_data(fx, "registry.json.tmp")));
	free(after);
	free(before);
	registry_free(reg);
}

/* Failure injection 2: a file size limit below the registry's size makes
 * write() fail with EFBIG after a partial write (SIGXFSZ ignored). */
static void test_save_failure_mid_write(void **state)
{
	struct fixture *fx = *state;
	struct registry *reg = open_with(fx, 200);
	struct rlimit old, small;
	void (*old_handler)(int);
	char *before, *after;
	size_t len;
	int rc;

	before = slurp(in_data(fx, "registry.json"), &len);
	assert_true(len > 4096);
	registry_at(reg, 0)->offset = 123456789;
	registry_touch(reg);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 1000;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	rc = registry_save(reg);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);
	assert_int_equal(rc, -EFBIG);
	assert_true(registry_dirty(reg));
	after = slurp(in_data(fx, "registry.json"), NULL);
	assert_string_equal(after, before);
	free(after);
	assert_false(exists(in_data(fx, "registry.json.tmp")));
	assert_int_equal(registry_save(reg), 0);
	registry_free(reg);
	reg = open_ok(fx);
	assert_int_equal(registry_count(reg), 200);
	assert_non_null(registry_find_fingerprint(reg, 1000, 0));
	assert_true(registry_find_fingerprint(reg, 1000, 0)->offset == 123456789);
	free(before);
	registry_free(reg);
}

/* A file that must be refused, and the reason its message must give. */
struct corrupt_case {
	const char *name;
	const char *text;
	size_t len;            /* 0: strlen(text) */
	const char *reason;
};

#define ENTRY(extra) "{\"id\":\"00000000000000aa\",\"fingerprint\":" \
	"\"0000000000000001\",\"generation\":0,\"offset\":5,\"path\":\"/a\"," \
	"\"dev\":1,\"ino\":2,\"seen\":3" extra "}"

static const struct corrupt_case corrupt_cases[] = {
	{ "empty", "", 0, "line 1 column 0" },
	{ "truncated", "{\"version\":1,\"entries\":[" ENTRY(""), 0, "line 1" },
	{ "garbage", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 16, "line 1" },
	{ "not an object", "[1,2]", 0, "not a JSON object" },
	{ "version 2", "{\"version\":2,\"entries\":[]}", 0,
	  "version 2 is not supported; this agent reads version 1" },
	{ "version as string", "{\"version\":\"1\",\"entries\":[]}", 0,
	  "\"version\" is missing or not an integer" },
	{ "no version", "{\"entries\":[]}", 0,
	  "\"version\" is missing or not an integer" },
	{ "no entries", "{\"version\":1}", 0, "\"entries\" is missing" },
	{ "entries object", "{\"version\":1,\"entries\":{}}", 0,
	  "\"entries\" is missing or not an array" },
	{ "entry not object", "{\"version\":1,\"entries\":[" ENTRY("") ",7]}", 0,
	  "entry 1: not an object" },
	{ "offset string", "{\"version\":1,\"entries\":[{\"id\":\"00000000000000aa\","
	  "\"fingerprint\":\"0000000000000001\",\"generation\":0,\"offset\":\"5\","
	  "\"path\":\"/a\",\"dev\":1,\"ino\":2,\"seen\":3}]}", 0,
	  "entry 0: \"offset\" is not a non-negative integer" },
	{ "offset negative", "{\"version\":1,\"entries\":[{\"id\":\"00000000000000aa\","
	  "\"fingerprint\":\"0000000000000001\",\"generation\":0,\"offset\":-1,"
	  "\"path\":\"/a\",\"dev\":1,\"ino\":2,\"seen\":3}]}", 0,
	  "\"offset\" is not a non-negative integer" },
	{ "fingerprint number", "{\"version\":1,\"entries\":[{\"id\":\"00000000000000aa\","
	  "\"fingerprint\":1,\"generation\":0,\"offset\":5,"
	  "\"path\":\"/a\",\"dev\":1,\"ino\":2,\"seen\":3}]}", 0,
	  "\"fingerprint\" is not a string of 16 lowercase hex digits" },
	{ "id short", "{\"version\":1,\"entries\":[{\"id\":\"aa\","
	  "\"fingerprint\":\"0000000000000001\",\"generation\":0,\"offset\":5,"
	  "\"path\":\"/a\",\"dev\":1,\"ino\":2,\"seen\":3}]}", 0,
	  "\"id\" is not a string of 16 lowercase hex digits" },
	{ "generation too big", "{\"version\":1,\"entries\":[{\"id\":\"00000000000000aa\","
	  "\"fingerprint\":\"0000000000000001\",\"generation\":4294967296,"
	  "\"offset\":5,\"path\":\"/a\",\"dev\":1,\"ino\":2,\"seen\":3}]}", 0,
	  "\"generation\" is not an integer from 0 to 4294967295" },
	{ "path missing", "{\"version\":1,\"entries\":[{\"id\":\"00000000000000aa\","
	  "\"fingerprint\":\"0000000000000001\",\"generation\":0,\"offset\":5,"
	  "\"dev\":1,\"ino\":2,\"seen\":3}]}", 0, "\"path\" is not a string" },
	{ "ino real", "{\"version\":1,\"entries\":[" ENTRY(",\"x\":0") ","
	  "{\"id\":\"00000000000000ab\",\"fingerprint\":\"0000000000000001\","
	  "\"generation\":0,\"offset\":5,\"path\":\"/a\",\"dev\":1,\"ino\":2.5,"
	  "\"seen\":3}]}", 0, "entry 1: \"dev\" or \"ino\"" },
	{ "seen missing", "{\"version\":1,\"entries\":[{\"id\":\"00000000000000aa\","
	  "\"fingerprint\":\"0000000000000001\",\"generation\":0,\"offset\":5,"
	  "\"path\":\"/a\",\"dev\":1,\"ino\":2}]}", 0, "\"seen\" is not an integer" },
	{ "duplicate ids", "{\"version\":1,\"entries\":[" ENTRY("") "," ENTRY("")
	  "]}", 0, "entry 1: duplicate id 00000000000000aa" },
	{ "duplicate keys", "{\"version\":1,\"version\":1,\"entries\":[]}", 0,
	  "duplicate object key" },
};

static void check_refused(const struct fixture *fx,
			  const struct corrupt_case *c)
{
	char err[1024] = "", want[256];
	struct registry *reg;

	reg = registry_open(fx->data_dir, false, err, sizeof(err));
	if (reg)
		fail_msg("case \"%s\" was accepted", c->name);
	snprintf(want, sizeof(want), "%s/registry.json: corrupt registry (",
		 fx->data_dir);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, c->reason) ||
	    !strstr(err, "); refusing to start at offset 0 \xe2\x80\x94 move it "
			 "away or run with --reset-registry"))
		fail_msg("case \"%s\": unexpected message: %s", c->name, err);
}

/* The reset keeps the refused file under registry.json.reset-<epoch>. */
static void check_reset_keeps(const struct fixture *fx,
			      const struct corrupt_case *c, size_t len)
{
	char err[1024] = "", *kept = NULL, path[PATH_MAX];
	int devnull = open("/dev/null", O_WRONLY);
	struct registry *reg;
	struct dirent *d;
	DIR *dir;
	size_t kept_len = 0;

	logging_set_output(devnull);  /* the reset's warning, tested elsewhere */
	reg = registry_open(fx->data_dir, true, err, sizeof(err));
	logging_set_output(2);
	close(devnull);
	if (!reg)
		fail_msg("case \"%s\": reset refused: %s", c->name, err);
	assert_int_equal(registry_count(reg), 0);
	assert_false(exists(in_data(fx, "registry.json")));
	dir = opendir(fx->data_dir);
	assert_non_null(dir);
	while ((d = readdir(dir)))
		if (strncmp(d->d_name, "registry.json.reset-", 20) == 0) {
			snprintf(path, sizeof(path), "%s/%s", fx->data_dir,
				 d->d_name);
			kept = slurp(path, &kept_len);
			assert_int_equal(unlink(path), 0);
		}
	closedir(dir);
	assert_non_null(kept);
	assert_int_equal(kept_len, len);
	assert_memory_equal(kept, c->text, len);
	free(kept);
	registry_free(reg);
}

static void test_corrupt_refused_then_reset(void **state)
{
	struct fixture *fx = *state;
	size_t n = sizeof(corrupt_cases) / sizeof(corrupt_cases[0]);
	char *still;

	registry_free(open_ok(fx));  /* creates the folder */
	for (size_t i = 0; i < n; i++) {
		const struct corrupt_case *c = &corrupt_cases[i];
		size_t len = c->len ? c->len : strlen(c->text), got;

		spew(in_data(fx, "registry.json"), c->text, len);
		check_refused(fx, c);
		still = slurp(in_data(fx, "registry.json"), &got);
		assert_int_equal(got, len);
		assert_memory_equal(still, c->text, len);
		free(still);
		check_reset_keeps(fx, c, len);
	}
}

/* Unknown keys are tolerated, so that a field can be added later. */
static void test_extra_keys_accepted(void **state)
{
	struct fixture *fx = *state;
	const char text[] = "{\"version\":1,\"note\":\"x\",\"entries\":["
			    ENTRY(",\"extra\":[1]") "]}";
	struct registry *reg;

	registry_free(open_ok(fx));
	spew(in_data(fx, "registry.json"), text, strlen(text));
	reg = open_ok(fx);
	assert_int_equal(registry_count(reg), 1);
	assert_true(registry_find(reg, "00000000000000aa")->offset == 5);
	registry_free(reg);
}

static void test_unreadable_refused(void **state)
{
	struct fixture *fx = *state;
	char err[1024] = "";

	registry_free(open_ok(fx));
	assert_int_equal(mkdir(in_data(fx, "registry.json"), 0700), 0);
	assert_null(registry_open(fx->data_dir, false, err, sizeof(err)));
	assert_non_null(strstr(err, "registry.json: cannot read the registry "
				    "(Is a directory); refusing to start"));
	assert_non_null(strstr(err, "--reset-registry"));
}

static void test_reset_is_logged(void **state)
{
	struct fixture *fx = *state;
	struct registry *reg = open_with(fx, 3);
	char log[2048] = "";
	int pipefd[2];
	ssize_t n;

	registry_free(reg);
	assert_int_equal(pipe(pipefd), 0);
	logging_set_output(pipefd[1]);
	reg = registry_open(fx->data_dir, true, log, sizeof(log));
	logging_set_output(2);
	assert_non_null(reg);
	close(pipefd[1]);
	n = read(pipefd[0], log, sizeof(log) - 1);
	close(pipefd[0]);
	assert_true(n > 0);
	log[n] = '\0';
	assert_non_null(strstr(log, "WARN"));
	assert_non_null(strstr(log, "registry.json.reset-"));
	assert_non_null(strstr(log, fx->data_dir));
	assert_int_equal(registry_count(reg), 0);
	registry_free(reg);
}

static void test_lock_refuses_second(void **state)
{
	struct fixture *fx = *state;
	struct registry *first = open_with(fx, 1), *second;
	char err[1024] = "";

	second = registry_open(fx->data_dir, false, err, sizeof(err));
	assert_null(second);
	assert_non_null(strstr(err, fx->data_dir));
	assert_non_null(strstr(err, "another logtally-agent"));
	/* Nor may a reset run under a live agent. */
	second = registry_open(fx->data_dir, true, err, sizeof(err));
	assert_null(second);
	assert_true(exists(in_data(fx, "registry.json")));
	registry_free(first);
	second = open_ok(fx);
	assert_int_equal(registry_count(second), 1);
	registry_free(second);
}

static void test_folder_errors(void **state)
{
	struct fixture *fx = *state;
	char err[1024] = "", path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/missing/parent", fx->dir);
	assert_null(registry_open(path, false, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "cannot create"));
	snprintf(path, sizeof(path), "%s/file", fx->dir);
	spew(path, "x", 1);
	assert_null(registry_open(path, false, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open the data folder"));
}

static void test_clean_by_age(void **state)
{
	struct fixture *fx = *state;
	struct registry *reg = open_ok(fx);
	struct registry_entry *e, *keep[100];
	size_t kept = 0;

	for (size_t i = 0; i < 200; i++) {
		e = registry_add(reg, "web-01", i, 0, 0, "/a");
		e->seen = 1000 + (int64_t)i;   /* 1000 .. 1199 */
		if (i >= 100)
			keep[kept++] = e;
	}
	assert_int_equal(registry_save(reg), 0);
	assert_int_equal(registry_clean(reg, 1200, -1, NULL, NULL), 0);
	assert_int_equal(registry_clean(reg, 1200, 100, NULL, NULL), 100);  /* seen < 1100 */
	assert_true(registry_dirty(reg));
	assert_int_equal(registry_count(reg), 100);
	for (size_t i = 0; i < 100; i++) {
		assert_null(registry_find_fingerprint(reg, i, 0));
		assert_ptr_equal(registry_find_fingerprint(reg, 100 + i, 0), keep[i]);
		assert_ptr_equal(registry_find(reg, keep[i]->id), keep[i]);
	}
	assert_int_equal(registry_clean(reg, 1200, 100, NULL, NULL), 0);
	assert_int_equal(registry_clean(reg, INT64_MIN, INT64_MAX, NULL, NULL), 0);
	assert_int_equal(registry_clean(reg, 2000, 0, NULL, NULL), 100);
	assert_int_equal(registry_count(reg), 0);
	registry_free(reg);
}

/* Held: what the sources still point to (a tail, a copy, a line in flight). */
static bool held_if_odd(const struct registry_entry *e, void *arg)
{
	size_t *asked = arg;

	(*asked)++;
	return e->fingerprint % 2 == 1;
}

static void test_clean_keeps_held(void **state)
{
	struct fixture *fx = *state;
	struct registry *reg = open_ok(fx);
	struct registry_entry *odd[50];
	size_t asked = 0;

	for (size_t i = 0; i < 100; i++) {
		struct registry_entry *e = registry_add(reg, "web-01", i, 0, 0, "/a");

		e->seen = 1000;
		if (i % 2)
			odd[i / 2] = e;
	}
	assert_int_equal(registry_save(reg), 0);
	assert_int_equal(registry_clean(reg, 5000, 10, held_if_odd, &asked), 50);
	assert_int_equal(asked, 100);
	assert_int_equal(registry_count(reg), 50);
	for (size_t i = 0; i < 50; i++) {
		assert_ptr_equal(registry_find_fingerprint(reg, 2 * i + 1, 0), odd[i]);
		assert_int_equal(odd[i]->fingerprint, 2 * i + 1);     /* still valid */
		assert_null(registry_find_fingerprint(reg, 2 * i, 0));
	}
	asked = 0;
	assert_int_equal(registry_clean(reg, 1005, 10, held_if_odd, &asked), 0);
	assert_int_equal(asked, 0);     /* not asked about entries seen lately */
	registry_free(reg);
}

static void test_pointers_stable(void **state)
{
	struct fixture *fx = *state;
	struct registry *reg = open_ok(fx);
	size_t n = 10000;
	struct registry_entry **held = calloc(n, sizeof(*held));
	bool *visited = calloc(n, sizeof(*visited));

	assert_non_null(held);
	assert_non_null(visited);
	for (size_t i = 0; i < n; i++) {
		held[i] = registry_add(reg, "web-01", UINT64_C(0xabc0000000) + i,
				       (uint32_t)i % 3, (int64_t)i, "/p");
		held[i]->seen = (int64_t)i;
	}
	assert_int_equal(registry_count(reg), n);
	for (size_t i = 0; i < n; i++) {
		assert_true(held[i]->offset == (int64_t)i);
		assert_ptr_equal(registry_find(reg, held[i]->id), held[i]);
		assert_ptr_equal(registry_find_fingerprint(reg,
			UINT64_C(0xabc0000000) + i, (uint32_t)i % 3), held[i]);
	}
	for (size_t i = 0; i < registry_count(reg); i++) {
		size_t k = (size_t)registry_at(reg, i)->offset;

		assert_false(visited[k]);
		visited[k] = true;
	}
	/* Half go; the other half keep their addresses. */
	assert_int_equal(registry_clean(reg, (int64_t)n, (int64_t)n / 2, NULL, NULL), n / 2);
	for (size_t i = n / 2; i < n; i++)
		assert_ptr_equal(registry_find(reg, held[i]->id), held[i]);
	free(visited);
	free(held);
	registry_free(reg);
}

static void test_find_by_fingerprint(void **state)
{
	struct fixture *fx = *state;
	struct registry *reg = open_ok(fx);
	struct registry_entry *g0, *g1, *other;

	g0 = registry_add(reg, "web-01", 77, 0, 10, "/a");
	g1 = registry_add(reg, "web-01", 77, 1, 0, "/a");
	other = registry_add(reg, "web-01", 78, 0, 0, "/b");
	assert_ptr_not_equal(g0, g1);
	assert_string_not_equal(g0->id, g1->id);
	assert_ptr_equal(registry_find_fingerprint(reg, 77, 0), g0);
	assert_ptr_equal(registry_find_fingerprint(reg, 77, 1), g1);
	assert_ptr_equal(registry_find_fingerprint(reg, 78, 0), other);
	assert_null(registry_find_fingerprint(reg, 77, 2));
	assert_null(registry_find_fingerprint(reg, 79, 0));
	assert_null(registry_find(reg, "0123456789abcdef"));
	registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)
		T(test_missing_is_empty),
		T(test_round_trip),
		T(test_file_format),
		T(test_dirty_tracking),
		T(test_save_failure_on_open),
		T(test_save_failure_mid_write),
		T(test_corrupt_refused_then_reset),
		T(test_extra_keys_accepted),
		T(test_unreadable_refused),
		T(test_reset_is_logged),
		T(test_lock_refuses_second),
		T(test_folder_errors),
		T(test_clean_by_age),
		T(test_clean_keeps_held),
		T(test_pointers_stable),
		T(test_find_by_fingerprint),
#undef T
	};

	umask(022);
	return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
