/*
 * Unit tests of agent/fingerprint: what part of a file is hashed (the first
 * line with its "\n", else the first FINGERPRINT_MAX bytes, else nothing
 * yet), that renames, copies and appends keep the fingerprint while another
 * first line changes it, and that source ids follow the recipe documented
 * in fingerprint.h, pinned to one value so that a change cannot slip by.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "agent/fingerprint.h"

static char tmpdir[] = "/tmp/test_fingerprint.XXXXXX";

static int group_setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static void file_write(const char *name, const void *data, size_t len, int flags)
{
	int fd = open(tmp_path(name), O_WRONLY | O_CREAT | flags, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* fingerprint_read() of the named file, and the same through _bytes(). */
static int file_fingerprint(const char *name, uint64_t *fp)
{
	int fd = open(tmp_path(name), O_RDONLY);
	int rc;

	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 0, SEEK_END) >= 0, 1);  /* position unused */
	rc = fingerprint_read(fd, fp);
	close(fd);
	return rc;
}

static void test_first_line(void **state)
{
	const char text[] = "GET /a HTTP/1.1\nGET /b HTTP/1.1\n";
	uint64_t fp = 0, mem = 1;

	file_write("first", text, strlen(text), O_TRUNC);
	assert_int_equal(file_fingerprint("first", &fp), 0);
	assert_true(fp == XXH3_64bits("GET /a HTTP/1.1\n", 16));
	assert_int_equal(fingerprint_bytes(text, strlen(text), &mem), 0);
	assert_true(mem == fp);
	/* Appending lines does not change it. */
	file_write("first", "more\n", 5, O_APPEND);
	assert_int_equal(file_fingerprint("first", &mem), 0);
	assert_true(mem == fp);
}

static void test_partial_line_waits(void **state)
{
	uint64_t fp = 42, full;

	file_write("partial", "", 0, O_TRUNC);
	assert_int_equal(file_fingerprint("partial", &fp), -EAGAIN);
	file_write("partial", "GET /half", 9, O_APPEND);
	assert_int_equal(file_fingerprint("partial", &fp), -EAGAIN);
	assert_true(fp == 42);
	assert_int_equal(fingerprint_bytes("", 0, &fp), -EAGAIN);
	file_write("partial", " done\nnext", 10, O_APPEND);
	assert_int_equal(file_fingerprint("partial", &full), 0);
	assert_true(full == XXH3_64bits("GET /half done\n", 15));
}

static void test_long_line_first_kib(void **state)
{
	char line[5000];
	uint64_t fp, other;

	for (size_t i = 0; i < sizeof(line); i++)
		line[i] = (char)('a' + i % 26);
	file_write("long", line, sizeof(line), O_TRUNC);
	assert_int_equal(file_fingerprint("long", &fp), 0);
	assert_true(fp == XXH3_64bits(line, FINGERPRINT_MAX));
	/* What follows the first KiB does not matter, newline or not. */
	line[2000] = '\n';
	line[3000] = 'Z';
	assert_int_equal(fingerprint_bytes(line, sizeof(line), &other), 0);
	assert_true(other == fp);
	/* One byte short of a KiB without a newline: not yet. */
	assert_int_equal(fingerprint_bytes(line, FINGERPRINT_MAX - 1, &other),
			 -EAGAIN);
	assert_int_equal(fingerprint_bytes(line, FINGERPRINT_MAX, &other), 0);
	assert_true(other == fp);
}

/* A newline as the 1024th byte ends the line inside the window; as the
 * 1025th it is outside and the first KiB alone is hashed. */
static void test_newline_at_the_edge(void **state)
{
	char data[FINGERPRINT_MAX + 10];
	uint64_t fp;

	memset(data, 'x', sizeof(data));
	data[FINGERPRINT_MAX - 1] = '\n';
	assert_int_equal(fingerprint_bytes(data, FINGERPRINT_MAX, &fp), 0);
	assert_true(fp == XXH3_64bits(data, FINGERPRINT_MAX));
	data[FINGERPRINT_MAX - 1] = 'x';
	data[FINGERPRINT_MAX] = '\n';
	assert_int_equal(fingerprint_bytes(data, sizeof(data), &fp), 0);
	assert_true(fp == XXH3_64bits(data, FINGERPRINT_MAX));
	data[0] = '\n';
	assert_int_equal(fingerprint_bytes(data, 1, &fp), 0);
	assert_true(fp == XXH3_64bits("\n", 1));
}

static void test_rename_and_copy_keep_it(void **state)
{
	const char text[] = "10.0.0.1 - - [24/Nov/2026:20:26:22 +0000] \"GET /\"\n"
			    "10.0.0.2 - - [24/Nov/2026:20:26:23 +0000] \"GET /x\"\n";
	char rotated[PATH_MAX];
	uint64_t before, after, copy, fresh;

	file_write("access.log", text, strlen(text), O_TRUNC);
	assert_int_equal(file_fingerprint("access.log", &before), 0);
	snprintf(rotated, sizeof(rotated), "%s", tmp_path("access.log.1"));
	assert_int_equal(rename(tmp_path("access.log"), rotated), 0);
	assert_int_equal(file_fingerprint("access.log.1", &after), 0);
	assert_true(after == before);
	/* copytruncate: a copy holds what the original held, plus more. */
	file_write("access.log.2", text, strlen(text), O_TRUNC);
	file_write("access.log.2", "tail\n", 5, O_APPEND);
	assert_int_equal(file_fingerprint("access.log.2", &copy), 0);
	assert_true(copy == before);
	/* rename + create: the new file under the old name is another file. */
	file_write("access.log", "10.0.0.9 other first line\n", 26, O_TRUNC);
	assert_int_equal(file_fingerprint("access.log", &fresh), 0);
	assert_true(fresh != before);
}

static void test_other_first_line_changes_it(void **state)
{
	uint64_t a, b, c;

	assert_int_equal(fingerprint_bytes("line one\nsame\n", 14, &a), 0);
	assert_int_equal(fingerprint_bytes("line two\nsame\n", 14, &b), 0);
	assert_int_equal(fingerprint_bytes("line one\nother\n", 15, &c), 0);
	assert_true(a != b);
	assert_true(a == c);
}

static void test_read_errors(void **state)
{
	int pipefd[2];
	uint64_t fp;

	assert_int_equal(fingerprint_read(-1, &fp), -EBADF);
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(fingerprint_read(pipefd[0], &fp), -ESPIPE);
	close(pipefd[0]);
	close(pipefd[1]);
}

/* The recipe of fingerprint.h, written out independently. */
static uint64_t recipe(const char *host, uint64_t fp, uint32_t generation)
{
	size_t hlen = strlen(host);
	unsigned char *p = malloc(hlen + 13);
	uint64_t h;

	assert_non_null(p);
	memcpy(p, host, hlen + 1);
	for (int i = 0; i < 8; i++)
		p[hlen + 1 + i] = (unsigned char)(fp >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		p[hlen + 9 + i] = (unsigned char)(generation >> (24 - 8 * i));
	h = XXH3_64bits(p, hlen + 13);
	free(p);
	return h;
}

static void test_source_id_recipe(void **state)
{
	char id[FINGERPRINT_ID_LEN + 1], want[FINGERPRINT_ID_LEN + 1];
	char host[1000];

	fingerprint_source_id("web-01", UINT64_C(0x0123456789abcdef), 0, id);
	/* Pinned: the Kafka key of existing topics depends on it. */
	assert_string_equal(id, "24cad29de591f64a");
	assert_int_equal(strlen(id), FINGERPRINT_ID_LEN);
	assert_int_equal(strspn(id, "0123456789abcdef"), FINGERPRINT_ID_LEN);
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)
		 recipe("web-01", UINT64_C(0x0123456789abcdef), 0));
	assert_string_equal(id, want);
	/* A host name longer than any stack buffer. */
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	fingerprint_source_id(host, 7, 3, id);
	snprintf(want, sizeof(want), "%016llx",
		 (unsigned long long)recipe(host, 7, 3));
	assert_string_equal(id, want);
}

static void test_source_id_varies_and_is_stable(void **state)
{
	char a[FINGERPRINT_ID_LEN + 1], b[FINGERPRINT_ID_LEN + 1];

	fingerprint_source_id("web-01", 1, 0, a);
	fingerprint_source_id("web-01", 1, 0, b);
	assert_string_equal(a, b);
	fingerprint_source_id("web-02", 1, 0, b);
	assert_string_not_equal(a, b);
	fingerprint_source_id("web-01", 2, 0, b);
	assert_string_not_equal(a, b);
	fingerprint_source_id("web-01", 1, 1, b);
	assert_string_not_equal(a, b);
	/* The NUL delimiter keeps host and fingerprint apart. */
	fingerprint_source_id("", 1, 0, a);
	fingerprint_source_id("\x01", 1, 0, b);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_line),
		cmocka_unit_test(test_partial_line_waits),
		cmocka_unit_test(test_long_line_first_kib),
		cmocka_unit_test(test_newline_at_the_edge),
		cmocka_unit_test(test_rename_and_copy_keep_it),
		cmocka_unit_test(test_other_first_line_changes_it),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_source_id_recipe),
		cmocka_unit_test(test_source_id_varies_and_is_stable),
	};

	return cmocka_run_group_tests_name("fingerprint", tests, group_setup,
					   group_teardown);
}
