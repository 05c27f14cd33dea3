/*
 * Unit tests of common/metrics: the exact Prometheus text of a registry
 * (grouping, sorting, escaping, number spelling, histograms), registering
 * twice, the -ENOSPC contract, updates racing renders on several threads,
 * and that misuse aborts with a message (checked in a forked child).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "metrics.h"

#define RENDER_MAX (1 << 20)

/* Renders reg and compares with expected. */
static void expect_render(struct metrics *reg, const char *expected)
{
	struct buf out;

	buf_init(&out, RENDER_MAX);
	assert_int_equal(metrics_render(reg, &out), 0);
	assert_string_equal(buf_str(&out), expected);
	buf_fini(&out);
}

static void test_empty_registry(void **state)
{
	struct metrics *reg = metrics_new();

	expect_render(reg, "");
	metrics_free(reg);
	metrics_free(NULL);
}

static void test_render_exact(void **state)
{
	static const double bounds[] = { 0.125, 0.5, 1 };
	struct metrics *reg = metrics_new();
	struct metrics_histogram *flush;
	struct metrics_counter *timeout, *refused, *lines;
	struct metrics_gauge *files, *lag;

	flush = metrics_histogram(reg, "logtally_flush_seconds", "Time a flush takes.",
				  bounds, 3, "store", "main", NULL);
	timeout = metrics_counter(reg, "logtally_errors_total", "Errors by kind.",
				  "kind", "timeout", NULL);
	refused = metrics_counter(reg, "logtally_errors_total", "Errors by kind.",
				  "kind", "refused", NULL);
	lines = metrics_counter(reg, "logtally_lines_total", "Lines read.", NULL);
	files = metrics_gauge(reg, "logtally_files_open", "Files open now.", NULL);
	lag = metrics_gauge(reg, "logtally_lag_seconds", "Lag.",
			    "topic", "weblogs", "partition", "1", NULL);

	metrics_counter_add(timeout, 3);
	metrics_counter_add(refused, 1);
	metrics_counter_add(lines, 12345678901234ULL);
	metrics_gauge_set(files, 3);
	metrics_gauge_add(files, -1);
	metrics_gauge_set(lag, 0.25);
	metrics_histogram_observe(flush, 0.125);	/* bounds are inclusive */
	metrics_histogram_observe(flush, 0.25);
	metrics_histogram_observe(flush, 2);

	expect_render(reg,
		"# HELP logtally_errors_total Errors by kind.\n"
		"# TYPE logtally_errors_total counter\n"
		"logtally_errors_total{kind=\"refused\"} 1\n"
		"logtally_errors_total{kind=\"timeout\"} 3\n"
		"# HELP logtally_files_open Files open now.\n"
		"# TYPE logtally_files_open gauge\n"
		"logtally_files_open 2\n"
		"# HELP logtally_flush_seconds Time a flush takes.\n"
		"# TYPE logtally_flush_seconds histogram\n"
		"logtally_flush_seconds_bucket{store=\"main\",le=\"0.125\"} 1\n"
		"logtally_flush_seconds_bucket{store=\"main\",le=\"0.5\"} 2\n"
		"logtally_flush_seconds_bucket{store=\"main\",le=\"1\"} 2\n"
		"logtally_flush_seconds_bucket{store=\"main\",le=\"+Inf\"} 3\n"
		"logtally_flush_seconds_sum{store=\"main\"} 2.375\n"
		"logtally_flush_seconds_count{store=\"main\"} 3\n"
		"# HELP logtally_lag_seconds Lag.\n"
		"# TYPE logtally_lag_seconds gauge\n"
		"logtally_lag_seconds{partition=\"1\",topic=\"weblogs\"} 0.25\n"
		"# HELP logtally_lines_total Lines read.\n"
		"# TYPE logtally_lines_total counter\n"
		"logtally_lines_total 12345678901234\n");
	metrics_free(reg);
}

static void test_escaping(void **state)
{
	struct metrics *reg = metrics_new();

	metrics_counter(reg, "x_total", "Help with \\ and\nnewline \"quoted\".",
			"path", "C:\\dir\n\"q\"", NULL);
	expect_render(reg,
		"# HELP x_total Help with \\\\ and\\nnewline \"quoted\".\n"
		"# TYPE x_total counter\n"
		"x_total{path=\"C:\\\\dir\\n\\\"q\\\"\"} 0\n");
	metrics_free(reg);
}

static void test_numbers(void **state)
{
	struct metrics *reg = metrics_new();

	metrics_gauge_set(metrics_gauge(reg, "g", "", "v", "a", NULL), NAN);
	metrics_gauge_set(metrics_gauge(reg, "g", "", "v", "b", NULL), INFINITY);
	metrics_gauge_set(metrics_gauge(reg, "g", "", "v", "c", NULL), -INFINITY);
	metrics_gauge_set(metrics_gauge(reg, "g", "", "v", "d", NULL), 0.1);
	metrics_gauge_set(metrics_gauge(reg, "g", "", "v", "e", NULL), -3);
	metrics_gauge_set(metrics_gauge(reg, "g", "", "v", "f", NULL), 1.5e-7);
	metrics_gauge_set(metrics_gauge(reg, "g", "", "v", "g", NULL), 9007199254740993.0);
	metrics_gauge_set(metrics_gauge(reg, "g", "", "v", "h", NULL), 1.0 / 3);
	expect_render(reg,
		"# HELP g \n"
		"# TYPE g gauge\n"
		"g{v=\"a\"} NaN\n"
		"g{v=\"b\"} +Inf\n"
		"g{v=\"c\"} -Inf\n"
		"g{v=\"d\"} 0.1\n"
		"g{v=\"e\"} -3\n"
		"g{v=\"f\"} 1.5e-07\n"
		"g{v=\"g\"} 9007199254740992\n"
		"g{v=\"h\"} 0.3333333333333333\n");
	metrics_free(reg);
}

static void test_register_twice(void **state)
{
	struct metrics *reg = metrics_new();
	struct metrics_counter *c;
	struct metrics_gauge *g;

	c = metrics_counter(reg, "a_total", "A.", NULL);
	assert_ptr_equal(metrics_counter(reg, "a_total", "A.", NULL), c);
	assert_ptr_not_equal(metrics_counter(reg, "a_total", "A.", "k", "v", NULL), c);
	g = metrics_gauge(reg, "g", "G.", "x", "1", "y", "2", NULL);
	assert_ptr_equal(metrics_gauge(reg, "g", "G.", "y", "2", "x", "1", NULL), g);
	metrics_counter_add(c, 2);
	metrics_counter_add(metrics_counter(reg, "a_total", "A.", NULL), 3);
	assert_int_equal(metrics_counter_get(c), 5);
	metrics_gauge_add(g, 1.5);
	assert_true(metrics_gauge_get(g) == 1.5);
	metrics_free(reg);
}

static void test_default_buckets(void **state)
{
	struct metrics *reg = metrics_new();
	struct metrics_histogram *h;
	struct buf out;
	size_t buckets = 0;
	const char *p;

	h = metrics_histogram(reg, "d_seconds", "D.", NULL, 0, NULL);
	assert_ptr_equal(metrics_histogram(reg, "d_seconds", "D.", NULL, 0, NULL), h);
	metrics_histogram_observe(h, 0.007);
	buf_init(&out, RENDER_MAX);
	assert_int_equal(metrics_render(reg, &out), 0);
	for (p = buf_str(&out); (p = strstr(p, "d_seconds_bucket{")); p++)
		buckets++;
	assert_int_equal(buckets, 12);
	assert_non_null(strstr(buf_str(&out), "d_seconds_bucket{le=\"0.005\"} 0\n"
					      "d_seconds_bucket{le=\"0.01\"} 1\n"));
	assert_non_null(strstr(buf_str(&out), "d_seconds_bucket{le=\"10\"} 1\n"
					      "d_seconds_bucket{le=\"+Inf\"} 1\n"
					      "d_seconds_sum 0.007\n"
					      "d_seconds_count 1\n"));
	buf_fini(&out);
	metrics_free(reg);
}

static void test_render_too_big(void **state)
{
	struct metrics *reg = metrics_new();
	struct buf out;
	size_t need;

	metrics_counter_add(metrics_counter(reg, "a_total", "A.", NULL), 7);
	metrics_gauge_set(metrics_gauge(reg, "b", "B.", NULL), 1);
	buf_init(&out, RENDER_MAX);
	assert_int_equal(metrics_render(reg, &out), 0);
	need = buf_len(&out);
	buf_fini(&out);

	buf_init(&out, need);	/* one byte short, with the "x" */
	assert_int_equal(buf_addc(&out, 'x'), 0);
	assert_int_equal(metrics_render(reg, &out), -ENOSPC);
	assert_string_equal(buf_str(&out), "x");
	buf_fini(&out);

	buf_init(&out, need + 1);
	assert_int_equal(buf_addc(&out, 'x'), 0);
	assert_int_equal(metrics_render(reg, &out), 0);
	assert_int_equal(buf_len(&out), need + 1);
	buf_fini(&out);
	metrics_free(reg);
}

#define THREADS 4
#define ROUNDS 20000

struct race {
	struct metrics *reg;
	struct metrics_counter *shared[THREADS];
	atomic_int running;
};

static void *race_thread(void *arg)
{
	struct race *race = arg;
	struct metrics_counter *mine, *shared;
	struct metrics_histogram *h;
	struct metrics_gauge *g;
	char id[2] = { 0 };
	int self = atomic_fetch_add(&race->running, 1);

	id[0] = (char)('0' + self);
	shared = metrics_counter(race->reg, "hits_total", "Hits.", "t", "shared", NULL);
	mine = metrics_counter(race->reg, "hits_total", "Hits.", "t", id, NULL);
	g = metrics_gauge(race->reg, "level", "Level.", NULL);
	h = metrics_histogram(race->reg, "took_seconds", "Took.", NULL, 0, NULL);
	race->shared[self] = shared;
	for (int i = 0; i < ROUNDS; i++) {
		metrics_counter_add(shared, 1);
		metrics_counter_add(mine, 1);
		metrics_gauge_add(g, 1);
		metrics_histogram_observe(h, i % 2 ? 0.25 : 2);
	}
	return NULL;
}

/* Within one render, a histogram's +Inf bucket equals its _count. */
static void check_histogram_consistent(const char *text)
{
	const char *inf = strstr(text, "took_seconds_bucket{le=\"+Inf\"} ");
	const char *count = strstr(text, "took_seconds_count ");

	if (!inf)
		return;
	assert_non_null(count);
	assert_int_equal(strtoull(inf + strlen("took_seconds_bucket{le=\"+Inf\"} "), NULL, 10),
			 strtoull(count + strlen("took_seconds_count "), NULL, 10));
}

static void test_threads(void **state)
{
	struct race race = { .reg = metrics_new() };
	pthread_t threads[THREADS];
	struct buf out;
	bool done = false;
	int renders = 0;

	buf_init(&out, RENDER_MAX);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, race_thread, &race), 0);
	while (!done || renders < 10) {
		buf_reset(&out);
		assert_int_equal(metrics_render(race.reg, &out), 0);
		check_histogram_consistent(buf_str(&out));
		renders++;
		done = metrics_gauge_get(metrics_gauge(race.reg, "level", "Level.", NULL)) ==
		       THREADS * ROUNDS;
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	for (int i = 1; i < THREADS; i++)
		assert_ptr_equal(race.shared[i], race.shared[0]);
	buf_reset(&out);
	assert_int_equal(metrics_render(race.reg, &out), 0);
	assert_non_null(strstr(buf_str(&out),
		"hits_total{t=\"0\"} 20000\nhits_total{t=\"1\"} 20000\n"
		"hits_total{t=\"2\"} 20000\nhits_total{t=\"3\"} 20000\n"
		"hits_total{t=\"shared\"} 80000\n"));
	assert_non_null(strstr(buf_str(&out), "\nlevel 80000\n"));
	assert_non_null(strstr(buf_str(&out), "took_seconds_bucket{le=\"0.25\"} 40000\n"));
	assert_non_null(strstr(buf_str(&out), "took_seconds_sum 90000\ntook_seconds_count 80000\n"));
	buf_fini(&out);
	metrics_free(race.reg);
}

/* Misuse: each case must abort the process with its message. */
static void misuse_no_total(struct metrics *reg)
{
	metrics_counter(reg, "lines", "", NULL);
}

static void misuse_bad_name(struct metrics *reg)
{
	metrics_counter(reg, "bad-name_total", "", NULL);
}

static void misuse_digit_name(struct metrics *reg)
{
	metrics_gauge(reg, "9lives", "", NULL);
}

static void misuse_reserved_label(struct metrics *reg)
{
	metrics_gauge(reg, "g", "", "__name", "x", NULL);
}

static void misuse_bad_label(struct metrics *reg)
{
	metrics_gauge(reg, "g", "", "a:b", "x", NULL);
}

static void misuse_le(struct metrics *reg)
{
	metrics_histogram(reg, "h", "", NULL, 0, "le", "1", NULL);
}

static void misuse_too_many(struct metrics *reg)
{
	metrics_gauge(reg, "g", "", "a", "1", "b", "2", "c", "3", NULL);
}

static void misuse_no_value(struct metrics *reg)
{
	metrics_gauge(reg, "g", "", "a", NULL);
}

static void misuse_twice(struct metrics *reg)
{
	metrics_gauge(reg, "g", "", "a", "1", "a", "2", NULL);
}

static void misuse_type(struct metrics *reg)
{
	metrics_gauge(reg, "g", "", NULL);
	metrics_histogram(reg, "g", "", NULL, 0, NULL);
}

static void misuse_help(struct metrics *reg)
{
	metrics_gauge(reg, "g", "One.", NULL);
	metrics_gauge(reg, "g", "Other.", NULL);
}

static void misuse_buckets(struct metrics *reg)
{
	static const double one[] = { 1 }, two[] = { 1, 2 };

	metrics_histogram(reg, "h", "", one, 1, NULL);
	metrics_histogram(reg, "h", "", two, 2, NULL);
}

static void misuse_descending(struct metrics *reg)
{
	static const double bounds[] = { 1, 0.5 };

	metrics_histogram(reg, "h", "", bounds, 2, NULL);
}

static void misuse_infinite(struct metrics *reg)
{
	const double bounds[] = { 1, INFINITY };

	metrics_histogram(reg, "h", "", bounds, 2, NULL);
}

static void misuse_long_labels(struct metrics *reg)
{
	char value[2000];

	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	metrics_gauge(reg, "g", "", "a", value, NULL);
}

static void expect_abort(void (*misuse)(struct metrics *), const char *message)
{
	char text[4096] = "";
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		misuse(metrics_new());
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	n = read(pipefd[0], text, sizeof(text) - 1);
	close(pipefd[0]);
	text[n > 0 ? n : 0] = '\0';
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	if (!strstr(text, message))
		fail_msg("expected \"%s\" in: %s", message, text);
}

static void test_misuse_aborts(void **state)
{
	expect_abort(misuse_no_total, "metrics: lines: a counter's name must end in _total");
	expect_abort(misuse_bad_name, "metrics: bad-name_total: invalid metric name");
	expect_abort(misuse_digit_name, "metrics: 9lives: invalid metric name");
	expect_abort(misuse_reserved_label, "metrics: g: invalid label name");
	expect_abort(misuse_bad_label, "metrics: g: invalid label name");
	expect_abort(misuse_le, "metrics: h: \"le\" is reserved in histograms");
	expect_abort(misuse_too_many, "metrics: g: too many labels");
	expect_abort(misuse_no_value, "metrics: g: a label has no value");
	expect_abort(misuse_twice, "metrics: g: a label is given twice");
	expect_abort(misuse_type, "metrics: g: registered again with another type");
	expect_abort(misuse_help, "metrics: g: registered again with another help text");
	expect_abort(misuse_buckets, "metrics: h: registered again with other buckets");
	expect_abort(misuse_descending, "metrics: h: histogram bounds must be finite and ascending");
	expect_abort(misuse_infinite, "metrics: h: histogram bounds must be finite and ascending");
	expect_abort(misuse_long_labels, "metrics: g: labels too long");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_registry),
		cmocka_unit_test(test_render_exact),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_register_twice),
		cmocka_unit_test(test_default_buckets),
		cmocka_unit_test(test_render_too_big),
		/* before the threads: a forked child inherits their cached stacks */
		cmocka_unit_test(test_misuse_aborts),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
