/*
 * Unit tests of common/logging: the exact line format, level filtering,
 * escaping and truncation, and the rate limits, driven by a fake clock and
 * read back from a temporary file that stands in for stderr.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logging.h"

/* 2026-11-24T21:46:05.123Z */
#define FAKE_EPOCH 1795556765

static struct timespec fake_now;
static int log_fd = -1;

static int fake_gettime(clockid_t clock, struct timespec *ts)
{
	*ts = fake_now;
	return 0;
}

static void fake_advance_ms(long ms)
{
	long ns = fake_now.tv_nsec + (ms % 1000) * 1000000;

	fake_now.tv_sec += ms / 1000 + ns / 1000000000;
	fake_now.tv_nsec = ns % 1000000000;
}

static int setup(void **state)
{
	char path[] = "/tmp/test_logging.XXXXXX";

	log_fd = mkstemp(path);
	if (log_fd < 0)
		return -1;
	unlink(path);
	fake_now.tv_sec = FAKE_EPOCH;
	fake_now.tv_nsec = 123456789;
	logging_set_output(log_fd);
	logging_set_clock(fake_gettime);
	logging_init("logtally-agent", LOGGING_DEBUG);
	return 0;
}

static int teardown(void **state)
{
	logging_set_output(STDERR_FILENO);
	logging_set_clock(NULL);
	close(log_fd);
	return 0;
}

/* Everything written since the last call, as a string the caller frees. */
static char *output_take(void)
{
	off_t size = lseek(log_fd, 0, SEEK_CUR);
	char *text = malloc((size_t)size + 1);

	assert_non_null(text);
	assert_int_equal(pread(log_fd, text, (size_t)size, 0), size);
	text[size] = '\0';
	assert_int_equal(ftruncate(log_fd, 0), 0);
	assert_int_equal(lseek(log_fd, 0, SEEK_SET), 0);
	return text;
}

static void expect_output(const char *expected)
{
	char *text = output_take();

	assert_string_equal(text, expected);
	free(text);
}

static size_t count_lines(const char *text)
{
	size_t n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

static void test_line_format(void **state)
{
	logging_warn("disk %s is %d%% full", "/var", 93);
	logging_error("x");
	logging_info("i");
	logging_debug("d");
	expect_output("2026-11-24T21:46:05.123Z WARN logtally-agent: disk /var is 93% full\n"
		      "2026-11-24T21:46:05.123Z ERROR logtally-agent: x\n"
		      "2026-11-24T21:46:05.123Z INFO logtally-agent: i\n"
		      "2026-11-24T21:46:05.123Z DEBUG logtally-agent: d\n");
}

static void test_level_filter(void **state)
{
	logging_init("logtally-aggregator", LOGGING_WARN);
	logging_error("e");
	logging_warn("w");
	logging_info("i");
	logging_debug("d");
	logging_init("logtally-agent", LOGGING_DEBUG);
	expect_output("2026-11-24T21:46:05.123Z ERROR logtally-aggregator: e\n"
		      "2026-11-24T21:46:05.123Z WARN logtally-aggregator: w\n");
}

static void test_level_parse(void **state)
{
	enum logging_level level = LOGGING_INFO;

	assert_int_equal(logging_level_parse("error", &level), 0);
	assert_int_equal(level, LOGGING_ERROR);
	assert_int_equal(logging_level_parse("warn", &level), 0);
	assert_int_equal(level, LOGGING_WARN);
	assert_int_equal(logging_level_parse("DEBUG", &level), 0);
	assert_int_equal(level, LOGGING_DEBUG);
	assert_int_equal(logging_level_parse("info", &level), 0);
	assert_int_equal(level, LOGGING_INFO);
	assert_int_equal(logging_level_parse("verbose", &level), -EINVAL);
	assert_int_equal(logging_level_parse("", &level), -EINVAL);
	assert_int_equal(level, LOGGING_INFO);
	assert_string_equal(logging_level_name(LOGGING_WARN), "WARN");
}

static void test_control_characters_escaped(void **state)
{
	logging_info("bad line: %s", "a\nb\r\x1b[31m\tc\x7f");
	expect_output("2026-11-24T21:46:05.123Z INFO logtally-agent: "
		      "bad line: a\\x0ab\\x0d\\x1b[31m\tc\\x7f\n");
}

static void test_errno_preserved(void **state)
{
	errno = ENOENT;
	logging_error("open: %m");
	assert_int_equal(errno, ENOENT);
	expect_output("2026-11-24T21:46:05.123Z ERROR logtally-agent: "
		      "open: No such file or directory\n");
}

static void test_long_message_truncated(void **state)
{
	char *big = malloc(3 * LOGGING_LINE_MAX);
	char *text;
	size_t len;

	memset(big, 'x', 3 * LOGGING_LINE_MAX - 1);
	big[3 * LOGGING_LINE_MAX - 1] = '\0';
	logging_info("%s", big);
	text = output_take();
	len = strlen(text);
	assert_int_equal(len, LOGGING_LINE_MAX);
	assert_string_equal(text + len - 6, "xx...\n");
	assert_int_equal(count_lines(text), 1);
	free(text);
	free(big);
}

static void log_limited(struct logging_limit *limit, int i)
{
	logging_limited(limit, LOGGING_WARN, "bad line %d", i);
}

static void test_limit_burst_then_suppress(void **state)
{
	static struct logging_limit limit;
	char *text;
	int i;

	for (i = 0; i < 25; i++)
		log_limited(&limit, i);
	text = output_take();
	assert_int_equal(count_lines(text), LOGGING_LIMIT_BURST);
	assert_non_null(strstr(text, "WARN logtally-agent: bad line 0\n"));
	assert_non_null(strstr(text, "WARN logtally-agent: bad line 9\n"));
	assert_null(strstr(text, "bad line 10"));
	free(text);

	fake_advance_ms(LOGGING_LIMIT_INTERVAL_MS - 1);
	log_limited(&limit, 25);
	expect_output("");

	fake_advance_ms(1);
	log_limited(&limit, 26);
	expect_output("2026-11-24T21:46:15.123Z WARN logtally-agent: "
		      "bad line 26 (16 similar messages suppressed)\n");
	log_limited(&limit, 27);
	expect_output("2026-11-24T21:46:15.123Z WARN logtally-agent: bad line 27\n");
}

static void test_limit_singular_and_per_site(void **state)
{
	static struct logging_limit limit, other;
	int i;

	for (i = 0; i <= LOGGING_LIMIT_BURST; i++)
		log_limited(&limit, i);
	free(output_take());
	logging_limited(&other, LOGGING_ERROR, "other site");
	expect_output("2026-11-24T21:46:05.123Z ERROR logtally-agent: other site\n");

	fake_advance_ms(LOGGING_LIMIT_INTERVAL_MS);
	log_limited(&limit, 99);
	expect_output("2026-11-24T21:46:15.123Z WARN logtally-agent: "
		      "bad line 99 (1 similar message suppressed)\n");
}

static void test_limit_ignores_filtered_levels(void **state)
{
	static struct logging_limit limit;
	int i;

	logging_init("logtally-agent", LOGGING_INFO);
	for (i = 0; i < 3 * LOGGING_LIMIT_BURST; i++)
		logging_limited(&limit, LOGGING_DEBUG, "noise %d", i);
	logging_init("logtally-agent", LOGGING_DEBUG);
	logging_limited(&limit, LOGGING_DEBUG, "first");
	expect_output("2026-11-24T21:46:05.123Z DEBUG logtally-agent: first\n");
}

static void test_suffix_survives_truncation(void **state)
{
	static struct logging_limit limit;
	char *big = malloc(LOGGING_LINE_MAX);
	const char *expected;
	char *text;
	size_t len;
	int i;

	memset(big, 'y', LOGGING_LINE_MAX - 1);
	big[LOGGING_LINE_MAX - 1] = '\0';
	for (i = 0; i <= LOGGING_LIMIT_BURST + 1; i++)
		logging_limited(&limit, LOGGING_WARN, "%s", big);
	free(output_take());
	fake_advance_ms(LOGGING_LIMIT_INTERVAL_MS);
	logging_limited(&limit, LOGGING_WARN, "%s", big);
	text = output_take();
	len = strlen(text);
	assert_int_equal(len, LOGGING_LINE_MAX);
	expected = "yy... (2 similar messages suppressed)\n";
	assert_string_equal(text + len - strlen(expected), expected);
	free(text);
	free(big);
}

#define THREADS 4
#define PER_THREAD 200

static struct logging_limit shared_limit;

static void *thread_main(void *arg)
{
	for (int i = 0; i < PER_THREAD; i++) {
		logging_info("thread %ld line %d padding-padding-padding", (long)(intptr_t)arg, i);
		logging_limited(&shared_limit, LOGGING_WARN, "shared limit");
	}
	return NULL;
}

/* Lines of concurrent threads stay whole, and the shared limit lets exactly
 * one burst through while the clock stands still. */
static void test_threads(void **state)
{
	pthread_t threads[THREADS];
	size_t infos = 0, warns = 0;
	char *text, *line, *save;

	for (intptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, thread_main, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	text = output_take();
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "Z INFO logtally-agent: thread ") == line + 23 &&
		    strstr(line, " padding-padding-padding") == line + strlen(line) - 24)
			infos++;
		else if (strcmp(line + 25, "WARN logtally-agent: shared limit") == 0)
			warns++;
		else
			fail_msg("mangled line: %s", line);
	}
	assert_int_equal(infos, THREADS * PER_THREAD);
	assert_int_equal(warns, LOGGING_LIMIT_BURST);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_line_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_filter, setup, teardown),
		cmocka_unit_test(test_level_parse),
		cmocka_unit_test_setup_teardown(test_control_characters_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errno_preserved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_message_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_burst_then_suppress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_singular_and_per_site, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_ignores_filtered_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suffix_survives_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests_name("logging", tests, NULL, NULL);
}
