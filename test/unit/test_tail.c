/*
 * Unit tests of tail: line splitting across reads, CRLF, partial last
 * lines, long lines, backpressure, failed deliveries, read errors,
 * truncation and the batch limit. producer_send is replaced at link time
 * (--wrap) by a fake that decodes and records every value, so no Kafka is
 * needed, and pread by one that can fail on demand; the
 * registry is real, in a temporary folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logging.h"
#include "message.h"
#include "agent/registry.h"
#include "agent/tail.h"
#include "xalloc.h"

#define SENT_MAX 4096

/* What the fake producer saw. */
static struct message_event sent[SENT_MAX];
static size_t nsent;
static int send_rc;             /* what the fake returns: 0 or -ENOBUFS */
static size_t accept_left = SIZE_MAX;   /* accept this many, then -ENOBUFS */

int __wrap_producer_send(struct producer *p, const char *key, size_t keylen,
			 char *value, size_t len, void *opaque);

int __wrap_producer_send(struct producer *p, const char *key, size_t keylen,
			 char *value, size_t len, void *opaque)
{
	char err[128];

	if (send_rc)
		return send_rc;
	if (accept_left == 0)
		return -ENOBUFS;
	accept_left--;
	assert_int_equal(keylen, FINGERPRINT_ID_LEN);
	assert_true(nsent < SENT_MAX);
	assert_int_equal(message_decode(value, len, &sent[nsent], err, sizeof(err)), 0);
	nsent++;
	free(value);
	return 0;
}

/* pread fails with EIO at this offset (-1: never); everything else reads.
 * Before the read at pread_replace_at, the file at replace_path is truncated
 * and replace_with written to it, once: copytruncate between a look and a
 * read. */
static off_t pread_fail_at = -1;
static off_t pread_replace_at = -1;
static const char *replace_path, *replace_with;

static void file_replace(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

ssize_t __real_pread(int fd, void *buf, size_t count, off_t offset);
ssize_t __wrap_pread(int fd, void *buf, size_t count, off_t offset);

ssize_t __wrap_pread(int fd, void *buf, size_t count, off_t offset)
{
	if (offset == pread_fail_at) {
		errno = EIO;
		return -1;
	}
	if (offset == pread_replace_at) {
		pread_replace_at = -1;
		file_replace(replace_path, replace_with);
	}
	return __real_pread(fd, buf, count, offset);
}

struct fixture {
	char dir[64];
	char path[96];
	struct registry *reg;
	struct registry_entry *entry;
	struct tail_env env;
	struct tail *tail;
	struct metrics *metrics;
};

static int fixture_setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char err[256];

	strcpy(f->dir, "/tmp/test_tail.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/access.log", f->dir);
	f->reg = registry_open(f->dir, false, err, sizeof(err));
	assert_non_null(f->reg);
	f->env.registry = f->reg;
	f->metrics = metrics_new();
	f->env.lines_read = metrics_counter(f->metrics, "t_lines_total", "t", NULL);
	f->env.bytes_read = metrics_counter(f->metrics, "t_bytes_total", "t", NULL);
	f->env.lines_truncated = metrics_counter(f->metrics, "t_cut_total", "t", NULL);
	f->env.host = "test-host";
	f->env.max_line_bytes = 100;
	f->env.rbuf_size = 128;
	f->env.rbuf = xmalloc(f->env.rbuf_size);
	buf_init(&f->env.scratch, 1 << 16);
	nsent = 0;
	send_rc = 0;
	pread_fail_at = -1;
	pread_replace_at = -1;
	accept_left = SIZE_MAX;
	*state = f;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	for (size_t i = 0; i < nsent; i++)
		message_event_fini(&sent[i]);
	tail_free(f->tail);
	registry_free(f->reg);
	metrics_free(f->metrics);
	buf_fini(&f->env.scratch);
	free(f->env.rbuf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void file_append(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Create the tail on the file, attached to a new entry of its first line
 * at offset 0. */
static void fixture_open(struct fixture *f)
{
	struct stat st;
	uint64_t fp;

	assert_int_equal(stat(f->path, &st), 0);
	f->tail = tail_new(f->path, st.st_dev, st.st_ino, 0, NULL);
	assert_int_equal(tail_open(f->tail), 0);
	assert_int_equal(tail_fingerprint(f->tail, &fp), 0);
	f->entry = registry_add(f->reg, "test-host", fp, 0, 0, f->path);
	tail_attach(f->tail, f->entry, 0, "test-host");
}

/* Acknowledge every message in flight, successfully or not. */
static void ack_all(struct fixture *f, int err)
{
	while (tail_in_flight(f->tail))
		tail_ack(f->tail, f->reg, err);
}

/* Lines of many lengths, read through a 128-byte buffer: each arrives
 * once, whole, with its offset; the entry ends at the file's end. */
static void test_lines_across_reads(void **state)
{
	struct fixture *f = *state;
	char line[128];
	int64_t offsets[60], off = 0;

	for (int i = 0; i < 60; i++) {
		int n = snprintf(line, sizeof(line), "line %d %.*s\n", i, i % 90,
				 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		file_append(f->path, line, (size_t)n);
		offsets[i] = off;
		off += n;
	}
	fixture_open(f);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(nsent, 60);
	for (int i = 0; i < 60; i++) {
		snprintf(line, sizeof(line), "line %d %.*s", i, i % 90,
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		assert_string_equal(sent[i].line, line);
		assert_int_equal(sent[i].offset, offsets[i]);
		assert_int_equal(sent[i].flags, 0);
		assert_string_equal(sent[i].path, f->path);
		assert_string_equal(sent[i].host, "test-host");
	}
	assert_int_equal(f->entry->offset, 0);  /* nothing acknowledged yet */
	ack_all(f, 0);
	assert_int_equal(f->entry->offset, off);
	assert_true(registry_dirty(f->reg));
	assert_int_equal(metrics_counter_get(f->env.lines_read), 60);
	assert_int_equal(metrics_counter_get(f->env.bytes_read), off);
}

static void test_partial_line_waits(void **state)
{
	struct fixture *f = *state;

	file_append(f->path, "one\r\ntwo\r\nthr", 13);
	fixture_open(f);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(nsent, 2);
	assert_string_equal(sent[0].line, "one");       /* \r\n loses the \r */
	assert_string_equal(sent[1].line, "two");
	assert_int_equal(tail_offset(f->tail), 10);
	file_append(f->path, "ee\n\n", 4);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(nsent, 4);
	assert_string_equal(sent[2].line, "three");
	assert_int_equal(sent[2].offset, 10);
	assert_string_equal(sent[3].line, "");          /* an empty line is a line */
	ack_all(f, 0);
	assert_int_equal(f->entry->offset, 17);
}

/* A line longer than the read buffer and max_line_bytes: sent once its end
 * is there, cut and flagged; the next line is intact. */
static void test_long_line(void **state)
{
	struct fixture *f = *state;
	char *big = xmalloc(1000);

	memset(big, 'a', 1000);
	file_append(f->path, "before\n", 7);
	file_append(f->path, big, 1000);
	fixture_open(f);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(nsent, 1);                     /* its end is not there yet */
	file_append(f->path, "bbb\nafter\n", 10);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(nsent, 3);
	assert_int_equal(sent[1].len, 100);
	assert_int_equal(sent[1].flags, MESSAGE_FLAG_TRUNCATED);
	assert_int_equal(sent[1].offset, 7);
	assert_int_equal(metrics_counter_get(f->env.lines_truncated), 1);
	assert_string_equal(sent[2].line, "after");
	assert_int_equal(sent[2].offset, 7 + 1004);
	ack_all(f, 0);
	assert_int_equal(f->entry->offset, 7 + 1004 + 6);
	free(big);
}

/* A read error when the long line's head is read again: logged, the file
 * closed (an error, never "paused", which would retry it for ever without
 * a word); reopened, the line is sent once, cut, and the next one intact. */
static void test_long_line_read_error(void **state)
{
	struct fixture *f = *state;
	char *big = xmalloc(1000), log[256] = "";
	FILE *out = tmpfile();

	memset(big, 'a', 1000);
	file_append(f->path, "before\n", 7);
	file_append(f->path, big, 1000);
	file_append(f->path, "\nafter\n", 7);
	fixture_open(f);
	logging_set_output(fileno(out));
	pread_fail_at = 7;
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_ERROR);
	logging_set_output(STDERR_FILENO);
	assert_false(tail_is_open(f->tail));
	assert_int_equal(nsent, 1);
	rewind(out);
	assert_non_null(fgets(log, sizeof(log), out));
	assert_non_null(strstr(log, "read error"));
	fclose(out);
	pread_fail_at = -1;
	assert_int_equal(tail_open(f->tail), 0);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(nsent, 3);
	assert_int_equal(sent[1].len, 100);
	assert_int_equal(sent[1].flags, MESSAGE_FLAG_TRUNCATED);
	assert_int_equal(sent[1].offset, 7);
	assert_string_equal(sent[2].line, "after");
	assert_int_equal(sent[2].offset, 7 + 1001);
	ack_all(f, 0);
	assert_int_equal(f->entry->offset, 7 + 1001 + 6);
	free(big);
}

/* A complete line over max_line_bytes within one read is cut too. */
static void test_cut_within_buffer(void **state)
{
	struct fixture *f = *state;
	char line[121];

	memset(line, 'z', 120);
	line[120] = '\n';
	f->env.rbuf_size = 128;
	f->env.max_line_bytes = 50;
	file_append(f->path, line, sizeof(line));
	fixture_open(f);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(nsent, 1);
	assert_int_equal(sent[0].len, 50);
	assert_int_equal(sent[0].flags, MESSAGE_FLAG_TRUNCATED);
	ack_all(f, 0);
	assert_int_equal(f->entry->offset, 121);
}

/* A value larger than the producer accepts is cut until it fits. */
static void test_value_limit(void **state)
{
	struct fixture *f = *state;
	char line[91];

	memset(line, '"', 90);          /* each escapes to two bytes */
	line[90] = '\n';
	file_append(f->path, line, sizeof(line));
	buf_fini(&f->env.scratch);
	buf_init(&f->env.scratch, 300);
	fixture_open(f);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(nsent, 1);
	assert_true(sent[0].len < 90 && sent[0].len > 10);
	assert_int_equal(sent[0].flags, MESSAGE_FLAG_TRUNCATED);
}

/* The producer full after two lines: paused, then resumed with no line
 * lost or sent twice. */
static void test_backpressure(void **state)
{
	struct fixture *f = *state;

	file_append(f->path, "a\nb\nc\nd\n", 8);
	fixture_open(f);
	accept_left = 2;
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_PAUSED);
	assert_int_equal(nsent, 2);
	assert_int_equal(tail_offset(f->tail), 4);
	accept_left = SIZE_MAX;
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(nsent, 4);
	assert_string_equal(sent[2].line, "c");
	assert_string_equal(sent[3].line, "d");
}

/* A failed delivery: the entry does not move past it, and once nothing is
 * in flight the tail goes back and sends from there again. */
static void test_failed_delivery(void **state)
{
	struct fixture *f = *state;

	file_append(f->path, "a\nb\nc\n", 6);
	fixture_open(f);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	tail_ack(f->tail, f->reg, 0);           /* a: delivered */
	tail_ack(f->tail, f->reg, -1);          /* b: failed */
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_PAUSED);
	tail_ack(f->tail, f->reg, 0);           /* c: delivered, but after a gap */
	assert_int_equal(f->entry->offset, 2);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(nsent, 5);
	assert_string_equal(sent[3].line, "b");
	assert_string_equal(sent[4].line, "c");
	ack_all(f, 0);
	assert_int_equal(f->entry->offset, 6);
}

/* read_from: end looks for the last line end through the open file, never
 * by path: a rotation may have put another file there (it used to reopen
 * the path for each 4 KiB it looked at). The last "\n" lies 6000 bytes
 * before the end, so the look takes two chunks. */
static void test_line_end_through_the_fd(void **state)
{
	struct fixture *f = *state;
	char moved[128], *tail_bytes = xmalloc(6000);

	memset(tail_bytes, 'x', 6000);
	file_append(f->path, "first\nsecond\n", 13);
	file_append(f->path, tail_bytes, 6000);
	fixture_open(f);
	snprintf(moved, sizeof(moved), "%s.1", f->path);
	assert_int_equal(rename(f->path, moved), 0);
	file_append(f->path, "a new file\n", 11);    /* another inode at the path */
	assert_int_equal(tail_line_end(f->tail, 13 + 6000), 13);
	assert_int_equal(tail_line_end(f->tail, 5), 0);  /* no end within 5 bytes */
	tail_close(f->tail);
	assert_int_equal(tail_line_end(f->tail, 13 + 6000), 0);
	free(tail_bytes);
}

static void test_truncated(void **state)
{
	struct fixture *f = *state;

	file_append(f->path, "first line\nsecond\n", 18);
	fixture_open(f);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(truncate(f->path, 0), 0);
	file_append(f->path, "new\n", 4);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_TRUNCATED);
	assert_null(tail_entry(f->tail));
	assert_int_equal(tail_generation(f->tail, f->entry->fingerprint), 1);   /* same content: next generation */
	assert_int_equal(tail_generation(f->tail, 7), 0);
	ack_all(f, 0);                          /* in-flight acks still move the old entry */
	assert_int_equal(f->entry->offset, 18);
}

/* Truncated and written past the offset between the look at the file and
 * the read (the agent and copytruncate race): nothing of the new content is
 * sent at the old source's offset. It used to be, from the middle of a line. */
static void test_replaced_before_the_read(void **state)
{
	struct fixture *f = *state;

	file_append(f->path, "first line\nsecond\n", 18);
	fixture_open(f);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	file_append(f->path, "third\n", 6);
	replace_path = f->path;
	replace_with = "a new first line\nand a second one\n";
	pread_replace_at = 18;
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_TRUNCATED);
	assert_int_equal(pread_replace_at, -1);         /* it did happen */
	assert_int_equal(nsent, 2);
	assert_null(tail_entry(f->tail));
}

/* The same before a long line's head is read again at its end. */
static void test_replaced_before_a_long_head(void **state)
{
	struct fixture *f = *state;
	char big[300], repl[400];

	memset(big, 'a', sizeof(big));
	file_append(f->path, "before\n", 7);
	file_append(f->path, big, sizeof(big));
	fixture_open(f);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(nsent, 1);
	file_append(f->path, "\n", 1);
	memset(repl, 'n', sizeof(repl) - 1);
	repl[sizeof(repl) - 1] = '\0';
	repl[3] = '\n';
	replace_path = f->path;
	replace_with = repl;
	pread_replace_at = 7;                   /* the head, at the long line's end */
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_TRUNCATED);
	assert_int_equal(pread_replace_at, -1);
	assert_int_equal(nsent, 1);
}

/* The entry's first line is the file's identity, not what the file holds
 * when the tail attaches: a file rewritten in between is not read on. */
static void test_attach_checks_the_entry(void **state)
{
	struct fixture *f = *state;
	struct registry_entry *other;

	file_append(f->path, "first line\nsecond\n", 18);
	fixture_open(f);
	other = registry_add(f->reg, "test-host", f->entry->fingerprint ^ 1, 0, 5, f->path);
	tail_attach(f->tail, other, 5, "test-host");
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_TRUNCATED);
	assert_int_equal(nsent, 0);
}

static void test_limit(void **state)
{
	struct fixture *f = *state;

	file_append(f->path, "a\nb\n", 4);
	fixture_open(f);
	tail_set_limit(f->tail, 4);
	file_append(f->path, "c\n", 2);
	assert_int_equal(tail_read(f->tail, &f->env, 1 << 20, 0), TAIL_EOF);
	assert_int_equal(nsent, 2);
	assert_int_equal(tail_offset(f->tail), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lines_across_reads, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_partial_line_waits, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_long_line, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_long_line_read_error, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cut_within_buffer, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_value_limit, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_failed_delivery, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_line_end_through_the_fd, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_truncated, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_replaced_before_the_read, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_replaced_before_a_long_head, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_checks_the_entry, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_limit, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests_name("tail", tests, NULL, NULL);
}
